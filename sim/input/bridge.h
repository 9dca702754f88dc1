/* bridge: a Megatron-Bridge (NeMo) ConfigContainer, as its training logs and
 * `--config-file` YAML write it, read as the Megatron-LM arguments it stands
 * for, so that `import megatron` turns it into a scenario (megatron.h).
 *
 * The model, train and ddp sections hold Megatron-Core's TransformerConfig
 * and Megatron-LM's names, read as the flags of the same names ('-' for
 * '_'); the names that differ, and dataset's, optimizer's and
 * mixed_precision's (or a precision recipe's name) are renamed. What
 * changes time or memory but is not read (switches on, FSDP, listed
 * settings, a comm_overlap section) is passed on as arguments, which the
 * import then lists as not converted. Objects (_target_: ...) are skipped,
 * but for the attention backend's enum and the activation's name. The
 * config a run prints comes before Bridge's run-time updates (comm_overlap's
 * overlaps), which are not applied here. docs/input.md, "Megatron-LM
 * arguments", lists the renames. */
#ifndef CS_BRIDGE_H
#define CS_BRIDGE_H

#include "input/megatron.h"

/* Reads the ConfigContainer YAML at path into Megatron-LM arguments, each at
 * its value's line and column (*args and their texts in *store, owned).
 * Returns the count, or -1 with positioned errors in d. */
long cs_bridge_args(const char *path, cs_arg **args, char **store, cs_diags *d);

/* The same from text in memory (`name` for messages). */
long cs_bridge_args_text(const char *name, const char *text, size_t len, cs_arg **args,
                         char **store, cs_diags *d);

#endif
