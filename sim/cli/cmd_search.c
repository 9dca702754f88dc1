/* clustersim search: the best layouts of a scenario's model on its cluster. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "report/search_report.h"
#include "study/search.h"

static const char help[] =
    "usage: clustersim search FILE [--top N] [--jobs N] [--network-model M] [--out DIR]\n"
    "                         [--format text|json|csv]\n"
    "\n"
    "Finds the layouts the scenario's model could train with on its cluster and\n"
    "ranks them. Every combination of tensor parallelism inside a node (powers of\n"
    "two), a pipeline that divides the GPUs and the layers, expert parallelism over\n"
    "powers of two that divide the experts (MoE models), the experts' TP (1 or the\n"
    "dense TP), 1F1B or interleaved with two virtual stages, micro-batches of 1\n"
    "and 2 and every recompute, with the data-parallel size that fills the\n"
    "cluster and everything else as the scenario trains, is\n"
    "  1. checked by the layout rules and the analytic memory estimate (what\n"
    "     `check` does); what fails is pruned, counted by rule;\n"
    "  2. replayed with the analytic network model;\n"
    "  3. and the best N replayed again with the network model M.\n"
    "Prints the best N with the model that produced their numbers, where the\n"
    "scenario's own layouts rank, and the best as a layouts: entry and as\n"
    "Megatron-LM arguments. DIR gets search.csv (every candidate, its fate and\n"
    "the rule that pruned it) and search.json.\n"
    "\n"
    "  --top N              candidates shown and replayed again (default 10)\n"
    "  --jobs N             worker threads (default: every core); the output does\n"
    "                       not depend on it\n"
    "  --network-model M    of the last stage: ideal, analytic (one stage only),\n"
    "                       flow (default: the scenario's)\n"
    "  --out DIR            where search.csv and search.json go (default\n"
    "                       out/<scenario name>/)\n"
    "  --format F           what to print: text (default), json, csv\n"
    "\n"
    "Exit status: 0 ran, 1 no candidate is valid and fits, 2 bad input.\n";

typedef struct search_args {
    const char *file, *out;
    long top;
    int jobs, has_model;
    cs_network_model model;
    cs_format format;
} search_args;

static int parse_long(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (*end || end == v || errno || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

static int parse_args(int argc, char **argv, search_args *a)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN), n;
    *a = (search_args){NULL, NULL, 10, cores > 0 ? (int)(cores < 64 ? cores : 64) : 1, 0,
                       CS_NET_FLOW, CS_FORMAT_TEXT};
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = cs_cli_option(argc, argv, &i, "--top"))) {
            if (parse_long(v, 1, 1000000, &a->top) != 0) {
                fprintf(stderr, "clustersim search: --top wants a positive number\n");
                return -1;
            }
        } else if ((v = cs_cli_option(argc, argv, &i, "--jobs"))) {
            if (parse_long(v, 1, 64, &n) != 0) {
                fprintf(stderr, "clustersim search: --jobs wants 1 to 64\n");
                return -1;
            }
            a->jobs = (int)n;
        } else if ((v = cs_cli_option(argc, argv, &i, "--network-model"))) {
            if (cs_cli_network_model(v, &a->model) != 0) {
                fprintf(stderr, "clustersim search: unknown network model '%s'\n", v);
                return -1;
            }
            a->has_model = 1;
        } else if ((v = cs_cli_option(argc, argv, &i, "--out"))) {
            a->out = v;
        } else if ((v = cs_cli_option(argc, argv, &i, "--format"))) {
            if (cs_cli_format(v, &a->format) != 0) {
                fprintf(stderr, "clustersim search: unknown format '%s' (text, json or csv)\n", v);
                return -1;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "clustersim search: unknown option '%s'\n", argv[i]);
            return -1;
        } else if (!a->file) {
            a->file = argv[i];
        } else {
            fprintf(stderr, "clustersim search: one scenario file at a time\n");
            return -1;
        }
    }
    if (!a->file) {
        fprintf(stderr, "clustersim search: which scenario file?\n");
        return -1;
    }
    return 0;
}

/* Writes DIR/NAME whole or not at all. */
static int write_file(const char *dir, const char *name, const cs_scenario *s,
                      const cs_search *r, int csv)
{
    char path[4096], tmp[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = cs_file_temp(path, tmp, sizeof tmp);
    if (!f) {
        fprintf(stderr, "clustersim search: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (csv)
        cs_report_search_csv(f, r);
    else
        cs_report_search(f, CS_FORMAT_JSON, s, r, -1);
    if (cs_file_commit(f, tmp, path, 1) != 0) {
        fprintf(stderr, "clustersim search: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int cmd_search(int argc, char **argv, const cs_paths *paths)
{
    if (cs_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return EXIT_OK;
    }
    search_args a;
    if (parse_args(argc, argv, &a) != 0) {
        fputs(help, stderr);
        return EXIT_BAD_INPUT;
    }
    cs_scenario scn;
    if (cs_cli_load_scenario(a.file, paths, &scn) != 0) {
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s", a.out ? a.out : "out/", a.out ? "" : scn.name);
    int status = EXIT_OK;
    cs_search r;
    cs_search_options o = {a.jobs, a.top, a.has_model ? a.model : scn.network_model};
    if (cs_cli_make_dirs(dir) != 0) {
        fprintf(stderr, "clustersim search: cannot create %s: %s\n", dir, strerror(errno));
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    if (cs_search_run(&scn, &o, &r) != 0) {
        fprintf(stderr, "clustersim search: out of memory, or a replay could not finish\n");
        status = EXIT_BAD_INPUT;
    } else {
        cs_report_search(stdout, a.format, &scn, &r, a.top);
        if (write_file(dir, "search.csv", &scn, &r, 1) != 0 ||
            write_file(dir, "search.json", &scn, &r, 0) != 0)
            status = EXIT_BAD_INPUT;
        else if (r.evaluated == 0)
            status = EXIT_INVALID;
    }
    cs_search_free(&r);
    cs_scenario_free(&scn);
    return status;
}

const cs_command cs_cmd_search = {"search", help, cmd_search};
