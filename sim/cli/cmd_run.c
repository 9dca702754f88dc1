/* clustersim run: replay every valid layout of a scenario and report them side by side. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/units.h"
#include "replay/runner.h"
#include "report/plot.h"
#include "report/timeline.h"

static const char help[] =
    "usage: clustersim run FILE [options]\n"
    "\n"
    "Replays one training iteration of every valid layout of the scenario FILE, event\n"
    "by event, and prints them side by side: iteration time, throughput, model\n"
    "TFLOP/s per GPU, MFU, bubble share, exposed TP/EP/PP/DP communication, the\n"
    "memory peak with its breakdown, and each target met or not. Invalid layouts\n"
    "are listed with their reasons.\n"
    "\n"
    "  --out DIR            where results.json, results.csv and report.txt go\n"
    "                       (default out/<scenario name>/)\n"
    "  --format F           what to print: text (default), json, csv\n"
    "  --seed N             seed for MoE routing draws (default: the scenario's)\n"
    "  --network-model M    override the scenario's: ideal, analytic, flow\n"
    "  --timeline-ranks L   GPUs drawn in timelines and memory plots, e.g. 0,64,128\n"
    "                       (default: the first GPU of each pipeline stage, of at\n"
    "                       most 8 stages: the first, the last and evenly spaced);\n"
    "                       a GPU here or in --trace-ranks that is not the first\n"
    "                       of its stage turns the reduced replay off (slower)\n"
    "  --trace-ranks L      GPUs written to trace.json, whatever --trace-events;\n"
    "                       they are captured (and drawn) besides the timeline's\n"
    "                       (default: the timeline's GPUs taken spread out - the\n"
    "                       first listed, the last, then each the farthest from\n"
    "                       those taken - while their events fit in\n"
    "                       --trace-events; the first always)\n"
    "  --trace-events N     the default trace's bound, in events (default 100000,\n"
    "                       about 14 MB; 0: every GPU of the timeline)\n"
    "  --timeline-window W  draw only FROM:TO of the iteration in timelines, e.g.\n"
    "                       20ms:45ms (bars joined at that window's resolution)\n"
    "  --svg                also draw .svg pictures\n"
    "  --no-plots           no timelines, traces or pictures (faster)\n"
    "  --no-flow-check      under the analytic network model, do not replay each\n"
    "                       layout on a 2-micro-batch iteration with both models\n"
    "                       (a warning says where they part by more than 10%)\n"
    "  --no-symmetry        replay every GPU, even where the first GPU of each\n"
    "                       pipeline stage stands for its stage (same results,\n"
    "                       slower; docs/model.md, \"Symmetry\")\n"
    "\n"
    "Per replayed layout, DIR/<layout>/ gets timeline.dat, memory.dat, trace.json\n"
    "(open in Perfetto or chrome://tracing) and, with gnuplot installed,\n"
    "timeline.png and memory.png; DIR gets compare.dat and compare.png. Without\n"
    "gnuplot the data and scripts are written and 'clustersim plot DIR' draws\n"
    "them later.\n"
    "\n"
    "Exit status: 0 ran (even if targets are missed), 1 no layout valid, 2 bad input.\n";

typedef struct printed {
    cs_format format;
    const cs_scenario *s;
    const cs_run *r;
} printed;

static void print_run(FILE *out, const void *ctx)
{
    const printed *p = ctx;
    cs_report_run(out, p->format, p->s, p->r);
}

/* Writes DIR/NAME whole or not at all. */
static int write_report(const char *dir, const char *name, cs_format format, const cs_scenario *s,
                        const cs_run *r)
{
    printed p = {format, s, r};
    return cs_cli_write_whole("run", dir, name, print_run, &p);
}

#define MAX_RANKS 256

typedef struct run_args {
    const char *file, *out;
    cs_format format;
    int has_seed, has_model, no_plots, svg, no_symmetry, no_flow_check;
    unsigned long seed;
    cs_network_model model;
    long ranks[2 * MAX_RANKS]; /* timeline ranks, then trace ranks */
    long nranks, ntrace;
    int has_ranks, has_trace;
    long trace_events; /* the default trace's bound, 0 none */
    double window_start, window_end; /* s; end <= start: none */
} run_args;

/* "20ms:45ms" -> seconds; 0 or -1. */
static int parse_window(const char *text, double *from, double *to)
{
    const char *colon = strchr(text, ':');
    char first[64], err[128];
    cs_quantity a, b;
    if (!colon || (size_t)(colon - text) >= sizeof first)
        return -1;
    snprintf(first, sizeof first, "%.*s", (int)(colon - text), text);
    if (cs_units_parse(first, CS_UNIT_TIME, &a, err, sizeof err) != 0 ||
        cs_units_parse(colon + 1, CS_UNIT_TIME, &b, err, sizeof err) != 0 || !(a.value >= 0) ||
        !(b.value > a.value))
        return -1;
    *from = a.value;
    *to = b.value;
    return 0;
}

/* "0,8,16" -> ranks; returns the count or -1. */
static long parse_ranks(const char *text, long *out, long cap)
{
    long n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || n == cap || (*end && *end != ','))
            return -1;
        out[n++] = v;
        p = *end ? end + 1 : end;
    }
    return n;
}

static int parse_run_args(int argc, char **argv, run_args *a)
{
    memset(a, 0, sizeof *a);
    a->trace_events = CS_TRACE_EVENTS_DEFAULT;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = cs_cli_option(argc, argv, &i, "--out"))) {
            a->out = v;
        } else if ((v = cs_cli_option(argc, argv, &i, "--format"))) {
            if (cs_cli_format(v, &a->format) != 0) {
                fprintf(stderr, "clustersim run: unknown format '%s' (text, json or csv)\n", v);
                return -1;
            }
        } else if ((v = cs_cli_option(argc, argv, &i, "--seed"))) {
            char *end;
            errno = 0;
            a->seed = strtoul(v, &end, 10);
            if (*end || end == v || errno || v[0] == '-') {
                fprintf(stderr, "clustersim run: --seed wants a non-negative integer\n");
                return -1;
            }
            a->has_seed = 1;
        } else if ((v = cs_cli_option(argc, argv, &i, "--network-model"))) {
            if (cs_cli_network_model(v, &a->model) != 0) {
                fprintf(stderr, "clustersim run: unknown network model '%s'\n", v);
                return -1;
            }
            a->has_model = 1;
        } else if ((v = cs_cli_option(argc, argv, &i, "--timeline-ranks"))) {
            if ((a->nranks = parse_ranks(v, a->ranks, MAX_RANKS)) <= 0) {
                fprintf(stderr, "clustersim run: --timeline-ranks wants GPU numbers like 0,8,16\n");
                return -1;
            }
            a->has_ranks = 1;
        } else if ((v = cs_cli_option(argc, argv, &i, "--trace-ranks"))) {
            if ((a->ntrace = parse_ranks(v, a->ranks + MAX_RANKS, MAX_RANKS)) <= 0) {
                fprintf(stderr, "clustersim run: --trace-ranks wants GPU numbers like 0,8,16\n");
                return -1;
            }
            a->has_trace = 1;
        } else if ((v = cs_cli_option(argc, argv, &i, "--trace-events"))) {
            char *end;
            errno = 0;
            a->trace_events = strtol(v, &end, 10);
            if (*end || end == v || errno || a->trace_events < 0) {
                fprintf(stderr, "clustersim run: --trace-events wants a count of events, 0 for "
                                "no bound\n");
                return -1;
            }
        } else if ((v = cs_cli_option(argc, argv, &i, "--timeline-window"))) {
            if (parse_window(v, &a->window_start, &a->window_end) != 0) {
                fprintf(stderr, "clustersim run: --timeline-window wants FROM:TO, times like "
                                "20ms:45ms, FROM below TO, got '%s'\n",
                        v);
                return -1;
            }
        } else if (!strcmp(argv[i], "--no-plots")) {
            a->no_plots = 1;
        } else if (!strcmp(argv[i], "--svg")) {
            a->svg = 1;
        } else if (!strcmp(argv[i], "--no-symmetry")) {
            a->no_symmetry = 1;
        } else if (!strcmp(argv[i], "--no-flow-check")) {
            a->no_flow_check = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cs_cli_unknown_option("run", argv[i], help);
            return -1;
        } else if (!a->file) {
            a->file = argv[i];
        } else {
            fprintf(stderr, "clustersim run: one scenario file at a time\n");
            return -1;
        }
    }
    if (!a->file) {
        fprintf(stderr, "clustersim run: which scenario file?\n");
        return -1;
    }
    return 0;
}

/* Appends gpu to out[0..*n-1] unless it is there. */
static void add_gpu(long *out, long *n, long gpu)
{
    for (long k = 0; k < *n; k++)
        if (out[k] == gpu)
            return;
    out[(*n)++] = gpu;
}

/* Captured GPUs: the timeline's (each once), then the trace's not among
 * them; without --timeline-ranks, the trace's alone, captured besides each
 * layout's default (*added). Returns the count (0: the default alone), or -1
 * when one is not below `world`. */
static long captured_gpus(const run_args *a, long world, long *out, int *added)
{
    long n = 0;
    for (long i = 0; a->has_ranks && i < a->nranks; i++)
        add_gpu(out, &n, a->ranks[i]);
    for (long i = 0; a->has_trace && i < a->ntrace; i++)
        add_gpu(out, &n, a->ranks[MAX_RANKS + i]);
    *added = !a->has_ranks && a->has_trace;
    for (long i = 0; i < n; i++)
        if (out[i] >= world)
            return -1;
    return n;
}

/* Timelines, traces, comparison and pictures of a finished run. */
static int write_plots(const char *dir, const run_args *a, const cs_scenario *s, const cs_run *run,
                       const cs_paths *paths, cs_plot_pool **pool)
{
    char buf[4096];
    const char *scripts = cs_cli_scripts_dir(paths, buf, sizeof buf);
    if (!scripts) {
        fprintf(stderr, "clustersim run: no plots/timeline.gp in the preset directories\n");
        return -1;
    }
    cs_plot_options o = {a->svg,
                         scripts,
                         a->has_trace ? a->ranks + MAX_RANKS : NULL,
                         a->has_trace ? a->ntrace : 0,
                         a->trace_events,
                         a->window_start,
                         a->window_end};
    if (cs_plot_copy_scripts(dir, scripts))
        return -1;
    for (size_t i = 0; i < run->count; i++) {
        const cs_layout_run *lr = &run->layouts[i];
        if (lr->replayed && cs_timeline_write_layout(dir, lr->verdict->layout->name, s, &lr->result,
                                                     &lr->capture, &o))
            return -1;
    }
    if (run->valid && cs_timeline_write_compare(dir, s, run, &o))
        return -1;
    /* The traces are written while gnuplot draws the pictures. */
    cs_plot_drawing *drawing;
    int drawn = cs_plot_start(dir, stderr, *pool, &drawing), failed = 0;
    *pool = NULL; /* the drawing's now */
    for (size_t i = 0; i < run->count && !failed; i++) {
        const cs_layout_run *lr = &run->layouts[i];
        failed = lr->replayed &&
                 cs_timeline_write_trace(dir, lr->verdict->layout->name, &lr->capture, &o);
    }
    if (drawn == 0)
        drawn = cs_plot_wait(drawing);
    if (drawn == -2)
        fprintf(stderr, "clustersim run: gnuplot failed on some plots in %s\n", dir);
    return failed ? -1 : 0;
}

static int cmd_run(int argc, char **argv, const cs_paths *paths)
{
    if (cs_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return EXIT_OK;
    }
    run_args a;
    if (parse_run_args(argc, argv, &a) != 0) {
        fputs(help, stderr);
        return EXIT_BAD_INPUT;
    }
    cs_scenario scn;
    int rc = cs_cli_load_scenario(a.file, paths, &scn);
    if (rc != 0) {
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    cs_run run;
    cs_network_model model = a.has_model ? a.model : scn.network_model;
    scn.no_symmetry = a.no_symmetry;
    int status = EXIT_OK;
    cs_plot_pool *pool = NULL; /* gnuplots started ahead */
    long gpus[2 * MAX_RANKS];
    long world = scn.cluster.nodes * scn.cluster.gpus_per_node;
    int added = 0;
    long ngpus = captured_gpus(&a, world, gpus, &added);
    cs_run_options ro = {!a.no_plots, ngpus > 0 ? gpus : NULL, ngpus, added, !a.no_flow_check};
    if (ngpus < 0) {
        fprintf(stderr, "clustersim run: a timeline or trace rank is not below %ld GPUs\n", world);
        memset(&run, 0, sizeof run);
        status = EXIT_BAD_INPUT;
        goto done;
    }
    /* The gnuplots start while the layouts replay (a timeline and a memory
     * picture per layout, one comparison), so that drawing begins at once. */
    if (!a.no_plots && !a.svg)
        pool = cs_plot_warm((int)(scn.layout_count < 8 ? 2 * scn.layout_count + 1 : 17));
    if (cs_run_scenario(&scn, model, a.has_seed ? a.seed : scn.seed, &ro, &run) != 0) {
        fprintf(stderr, "clustersim run: out of memory or a replay could not finish\n");
        status = EXIT_BAD_INPUT;
        goto done;
    }
    char dir[4096];
    if (a.out)
        snprintf(dir, sizeof dir, "%s", a.out);
    else
        snprintf(dir, sizeof dir, "out/%s", scn.name);
    if (cs_cli_make_dirs(dir) != 0) {
        fprintf(stderr, "clustersim run: cannot create %s: %s\n", dir, strerror(errno));
        status = EXIT_BAD_INPUT;
        goto done;
    }
    if (write_report(dir, "results.json", CS_FORMAT_JSON, &scn, &run) ||
        write_report(dir, "results.csv", CS_FORMAT_CSV, &scn, &run) ||
        write_report(dir, "report.txt", CS_FORMAT_TEXT, &scn, &run))
        status = EXIT_BAD_INPUT;
    if (status == EXIT_OK && !a.no_plots && write_plots(dir, &a, &scn, &run, paths, &pool))
        status = EXIT_BAD_INPUT;
    cs_report_run(stdout, a.format, &scn, &run);
    if (status == EXIT_OK && run.valid == 0)
        status = EXIT_INVALID;
done:
    cs_plot_pool_free(pool);
    cs_run_free(&run);
    cs_scenario_free(&scn);
    return status;
}

const cs_command cs_cmd_run = {"run", help, cmd_run};
