/* clustersim compare: a scenario's layouts against each other, paired
 * replay by replay, with intervals and where the differences come from. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/compare_report.h"

static const char help[] =
    "usage: clustersim compare FILE [options]\n"
    "\n"
    "Replays every valid layout of the scenario FILE, repeat r of each with the\n"
    "same seed (common random numbers), and compares every pair: the difference\n"
    "of iteration time and throughput (b minus a) with its 95% interval over the\n"
    "paired replays, how much faster the faster one is, where the difference comes\n"
    "from (compute, recompute, exposed TP, EP, PP and DP communication, bubble:\n"
    "the terms add up to it), and two or three sentences saying so. When nothing in\n"
    "the scenario is drawn at random (no uncertainty: block, balanced MoE routing)\n"
    "one replay is exact and the interval a point.\n"
    "\n"
    "  --jobs N             worker threads for the repeats (default: every core, at\n"
    "                       most 64); the result does not depend on it\n"
    "  --repeats N          paired replays per layout (default 10 when the scenario\n"
    "                       draws at random, else 1; at most 1000)\n"
    "  --format F           what to print: text (default) or json\n"
    "  --out DIR            where the files go (default out/<scenario name>/compare/)\n"
    "  --seed N             the first replay's seed (default: the scenario's)\n"
    "  --network-model M    override the scenario's: ideal, analytic, flow\n"
    "  --no-plots           no pair pictures\n"
    "  --svg                also draw .svg pictures\n"
    "  --no-symmetry        replay every GPU (see `clustersim run --help`)\n"
    "\n"
    "DIR (default out/<scenario name>/compare/) gets compare.json, compare.txt and,\n"
    "per pair N, pairN.dat and (with gnuplot) pairN.png: the difference's parts and\n"
    "the difference with its interval.\n"
    "\n"
    "Exit status: 0 compared, 1 fewer than two valid layouts, 2 bad input.\n";

#define MAX_REPEATS 1000

typedef struct compare_args {
    const char *file, *out;
    cs_format format;
    long repeats; /* 0: the default */
    long jobs;
    int has_seed, has_model, no_symmetry, no_plots, svg;
    unsigned long seed;
    cs_network_model model;
} compare_args;

static int parse_number(const char *v, long max, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < 1 || n > max)
        return -1;
    *out = n;
    return 0;
}

static int parse_args(int argc, char **argv, compare_args *a)
{
    memset(a, 0, sizeof *a);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    a->jobs = cores > 0 ? (cores < 64 ? cores : 64) : 1;
    for (int i = 0; i < argc; i++) {
        const char *v;
        long n;
        if ((v = cs_cli_option(argc, argv, &i, "--jobs"))) {
            if (parse_number(v, 64, &a->jobs) != 0) {
                fprintf(stderr, "clustersim compare: --jobs wants 1 to 64, got '%s'\n", v);
                return -1;
            }
        } else if ((v = cs_cli_option(argc, argv, &i, "--repeats"))) {
            if (parse_number(v, MAX_REPEATS, &a->repeats) != 0) {
                fprintf(stderr, "clustersim compare: --repeats wants 1 to %d, got '%s'\n",
                        MAX_REPEATS, v);
                return -1;
            }
        } else if ((v = cs_cli_option(argc, argv, &i, "--format"))) {
            if (cs_cli_format(v, &a->format) != 0 || a->format == CS_FORMAT_CSV) {
                fprintf(stderr, "clustersim compare: --format wants text or json, got '%s'\n", v);
                return -1;
            }
        } else if ((v = cs_cli_option(argc, argv, &i, "--out"))) {
            a->out = v;
        } else if ((v = cs_cli_option(argc, argv, &i, "--seed"))) {
            if (parse_number(v, 0x7fffffffL, &n) != 0) {
                fprintf(stderr, "clustersim compare: --seed wants a positive integer, got '%s'\n",
                        v);
                return -1;
            }
            a->seed = (unsigned long)n;
            a->has_seed = 1;
        } else if ((v = cs_cli_option(argc, argv, &i, "--network-model"))) {
            if (cs_cli_network_model(v, &a->model) != 0)
                return -1;
            a->has_model = 1;
        } else if (!strcmp(argv[i], "--no-symmetry")) {
            a->no_symmetry = 1;
        } else if (!strcmp(argv[i], "--no-plots")) {
            a->no_plots = 1;
        } else if (!strcmp(argv[i], "--svg")) {
            a->svg = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cs_cli_unknown_option("compare", argv[i], help);
            return -1;
        } else if (!a->file) {
            a->file = argv[i];
        } else {
            fprintf(stderr, "clustersim compare: one scenario file at a time\n");
            return -1;
        }
    }
    if (!a->file) {
        fprintf(stderr, "clustersim compare: which scenario file?\n");
        return -1;
    }
    return 0;
}

/* What the files print: the comparison in a format (svg: the pictures too
 * as .svg). */
typedef struct printed {
    cs_format format;
    int svg;
    const cs_scenario *s;
    const cs_compare *c;
} printed;

static void print_compare(FILE *out, const void *ctx)
{
    const printed *p = ctx;
    cs_report_compare(out, p->format, p->s, p->c);
}

static int list_pairs(const char *dir, const void *ctx)
{
    const printed *p = ctx;
    return cs_report_compare_plots(dir, p->s, p->c, p->svg);
}

/* compare.json, compare.txt and the pair pictures (svg too with `svg`). */
static int write_files(const char *dir, const compare_args *a, const cs_scenario *s,
                       const cs_compare *c, const cs_paths *paths)
{
    printed json = {CS_FORMAT_JSON, a->svg, s, c}, text = {CS_FORMAT_TEXT, a->svg, s, c};
    if (cs_cli_write_whole("compare", dir, "compare.json", print_compare, &json) ||
        cs_cli_write_whole("compare", dir, "compare.txt", print_compare, &text))
        return -1;
    if (a->no_plots || c->npairs == 0)
        return 0;
    return cs_cli_draw("compare", dir, paths, list_pairs, &json);
}

/* The replays per layout: as asked, else 10 when the scenario draws at
 * random; more than one of a scenario that draws nothing is refused. */
static long repeats_of(const compare_args *a, const cs_scenario *s)
{
    int draws = cs_scenario_draws(s);
    if (a->repeats > 1 && !draws) {
        fprintf(stderr,
                "clustersim compare: --repeats %ld would replay the same iteration %ld times: "
                "nothing in the scenario is drawn at random (uncertainty:, or MoE routing not "
                "balanced)\n",
                a->repeats, a->repeats);
        return -1;
    }
    return a->repeats ? a->repeats : draws ? 10 : 1;
}

static int cmd_compare(int argc, char **argv, const cs_paths *paths)
{
    if (cs_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return EXIT_OK;
    }
    compare_args a;
    if (parse_args(argc, argv, &a) != 0) {
        fputs(help, stderr);
        return EXIT_BAD_INPUT;
    }
    cs_scenario scn;
    if (cs_cli_load_scenario(a.file, paths, &scn) != 0) {
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    scn.no_symmetry = a.no_symmetry;
    long repeats = repeats_of(&a, &scn);
    int status = EXIT_OK;
    cs_compare c;
    memset(&c, 0, sizeof c);
    char dir[4096];
    if (a.out)
        snprintf(dir, sizeof dir, "%s", a.out);
    else
        snprintf(dir, sizeof dir, "out/%s/compare", scn.name);
    if (repeats < 0) {
        status = EXIT_BAD_INPUT;
    } else if (cs_compare_run(&scn, a.has_model ? a.model : scn.network_model,
                              a.has_seed ? a.seed : scn.seed, repeats, (int)a.jobs, &c) != 0) {
        fprintf(stderr, "clustersim compare: out of memory or a replay could not finish\n");
        status = EXIT_BAD_INPUT;
    } else if (cs_cli_make_dirs(dir) != 0) {
        fprintf(stderr, "clustersim compare: cannot create %s: %s\n", dir, strerror(errno));
        status = EXIT_BAD_INPUT;
    } else if (write_files(dir, &a, &scn, &c, paths) != 0) {
        status = EXIT_BAD_INPUT;
    } else {
        cs_report_compare(stdout, a.format, &scn, &c);
        if (c.npairs == 0)
            status = EXIT_INVALID;
    }
    cs_compare_free(&c);
    cs_scenario_free(&scn);
    return status;
}

const cs_command cs_cmd_compare = {"compare", help, cmd_compare};
