/* cli: what the commands share: exit statuses, the command table, option
 * parsing, scenario loading with printed diagnostics, output folders.
 *
 * One file per command (cmd_*.c), each defining its cs_command with its help
 * text; main.c dispatches on the table. Only this layer prints to the
 * terminal on its own account and maps results to exit statuses. */
#ifndef CS_CLI_H
#define CS_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "input/config.h"
#include "report/report.h"

enum { EXIT_OK = 0, EXIT_INVALID = 1, EXIT_BAD_INPUT = 2 };

typedef struct cs_command {
    const char *name;
    const char *help; /* the whole `clustersim help NAME` text */
    int (*run)(int argc, char **argv, const cs_paths *paths);
} cs_command;

extern const cs_command cs_cmd_check, cs_cmd_run, cs_cmd_plot, cs_cmd_sweep, cs_cmd_merge,
    cs_cmd_collective, cs_cmd_validate, cs_cmd_kernels, cs_cmd_search, cs_cmd_compare,
    cs_cmd_sensitivity, cs_cmd_presets, cs_cmd_import, cs_cmd_export;

/* Option value: "--name VALUE" or "--name=VALUE"; advances *i past it.
 * NULL when argv[*i] is not that option (or its value is missing). */
const char *cs_cli_option(int argc, char **argv, int *i, const char *name);

/* True when the arguments ask for help (-h or --help). */
int cs_cli_wants_help(int argc, char **argv);

/* Prints "clustersim CMD: unknown option 'ARG'" to stderr, with a "did you
 * mean" among the options its help text names (each "--word" in it). */
void cs_cli_unknown_option(const char *cmd, const char *arg, const char *help);

/* text | json | csv, ideal | analytic | flow. Return 0, or -1 when unknown. */
int cs_cli_format(const char *s, cs_format *out);
int cs_cli_network_model(const char *v, cs_network_model *out);

/* Loads a scenario, printing every problem found as FILE:LINE:COL; one
 * without layouts (which a search: block allows) is refused. */
int cs_cli_load_scenario(const char *file, const cs_paths *paths, cs_scenario *scn);

/* The layout of s named `name` (the first when NULL), checked: its index
 * with its sizes in z, or -EXIT_BAD_INPUT (no such layout) or -EXIT_INVALID
 * (not valid) after saying why on stderr, as command `cmd` of `file`. */
long cs_cli_pick_layout(const char *cmd, const char *file, const cs_scenario *s,
                        const char *name, cs_layout_sizes *z);

/* Same, for search: the layouts may be left out. */
int cs_cli_load_scenario_to_search(const char *file, const cs_paths *paths, cs_scenario *scn);

/* Writes DIR/NAME whole or not at all (into a temporary file, renamed into
 * place), fn printing it; "clustersim CMD: cannot write PATH" on failure.
 * Returns 0 or -1. */
typedef void (*cs_cli_print_fn)(FILE *out, const void *ctx);
int cs_cli_write_whole(const char *cmd, const char *dir, const char *name, cs_cli_print_fn fn,
                       const void *ctx);

/* The pictures of a command's DIR: the gnuplot scripts copied into it, the
 * lines `list` adds to DIR/plots.txt, then every one drawn (gnuplot's
 * failure is said, not fatal). Returns 0 or -1 with a message. */
typedef int (*cs_cli_list_fn)(const char *dir, const void *ctx);
int cs_cli_draw(const char *cmd, const char *dir, const cs_paths *paths, cs_cli_list_fn list,
                const void *ctx);

/* mkdir -p. Returns 0 or -1 with errno set. */
int cs_cli_make_dirs(const char *path);

/* The folder holding the gnuplot scripts: plots/ of the first preset
 * directory that has them, written into buf; NULL when none has. */
const char *cs_cli_scripts_dir(const cs_paths *paths, char *buf, size_t len);

#endif
