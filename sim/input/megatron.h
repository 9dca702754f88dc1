/* megatron: a scenario's model, training and layout as Megatron-LM's
 * command-line arguments, and Megatron-LM arguments as a scenario.
 *
 * Both directions read one table of Megatron's flags and the keys of ours
 * they mean (docs/input.md names the flag of every key). Export writes one
 * flag per line, shell-continued, with the values the layout runs with;
 * import reads such a list (from a command line or a file, '#' comments
 * and '\' continuations allowed), keeps Megatron's meaning where its
 * defaults differ from ours (biases on unless --disable-bias-linear,
 * learned absolute positions unless --position-embedding-type), and writes a
 * complete scenario whose every converted key carries the flag it came from
 * as a comment. Flags it does not convert are listed in the scenario's
 * header, those that change neither time nor memory (learning rates, data,
 * logging, checkpoints) apart from the rest; none is dropped silently.
 * What Megatron cannot say (clustersim's routing draws, network model,
 * cluster figures) keeps our defaults. */
#ifndef CS_MEGATRON_H
#define CS_MEGATRON_H

#include <stdio.h>

#include "input/config.h"

/* Writes the Megatron-LM arguments of layout l (one of s's, or a candidate
 * of a search over s) on `world` GPUs (in the header comment) to out.
 * Settings Megatron has no flag for are said in comments. */
void cs_megatron_export(FILE *out, const cs_scenario *s, const cs_layout *l, long world);

/* One argument and where it was read: line and column of a file, or line 0
 * and its index among the Megatron-LM arguments (from 0) of a command line. */
typedef struct cs_arg {
    const char *text;
    long line, col;
} cs_arg;

/* What to import: the arguments, the cluster (preset name or file, as a
 * scenario's cluster.base), its GPU count, the scenario's name. */
typedef struct cs_import {
    const cs_arg *args;
    long count;
    const char *source; /* the argument file's name, or NULL: the command line */
    const char *cluster;
    long nodes;
    const char *name;
} cs_import;

/* Writes the scenario to out. Returns 0, or -1 after an error on err
 * ("FILE:LINE:COL: error: ..." for a file, "argument N (TEXT): ..." for
 * the command line, N counted from 1 after the "--"). "--flag=value" is
 * read as argparse reads it. */
int cs_megatron_import(FILE *out, const cs_import *in, FILE *err);

/* How the import reads Megatron-LM flag `flag` (without "--"): as a flag
 * with one value, a switch that sets a key, a switch that clears one
 * (--no-..., --disable-...), a flag with a list of values, or not at all. */
typedef enum {
    CS_MFLAG_UNKNOWN,
    CS_MFLAG_VALUE,
    CS_MFLAG_SWITCH,
    CS_MFLAG_CLEAR,
    CS_MFLAG_LIST
} cs_mflag;
cs_mflag cs_megatron_flag(const char *flag);

/* Splits text (an argument file) into arguments with their positions:
 * whitespace-separated words, '#' to the end of a line a comment, a '\' at
 * the end of a line a continuation, single and double quotes grouping.
 * Returns the count and *out (owned, its texts in *store), or -1 when out
 * of memory. */
long cs_megatron_split(const char *text, cs_arg **out, char **store);

#endif
