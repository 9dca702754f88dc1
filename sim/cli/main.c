/* clustersim command line: parses arguments, calls the library, maps results
 * to exit statuses (0 ok, 1 some layout invalid, 2 bad input or usage). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/collective.h"
#include "input/config.h"
#include "net/fabric.h"
#include "report/report.h"
#include "replay/runner.h"
#include "study/sweep.h"
#include "report/timeline.h"
#include "input/units.h"
#include "model/validate.h"

#ifndef CS_VERSION
#define CS_VERSION "0.0.0"
#endif
#ifndef CS_SOURCE_DIR
#define CS_SOURCE_DIR "."
#endif
#ifndef CS_DATA_DIR
#define CS_DATA_DIR "/usr/local/share/clustersim"
#endif

enum { EXIT_OK = 0, EXIT_INVALID = 1, EXIT_BAD_INPUT = 2 };

static const char usage[] =
    "usage: clustersim COMMAND [ARGS]\n"
    "\n"
    "Predicts how a parallel layout of a model trains on a GPU cluster.\n"
    "\n"
    "commands:\n"
    "  check FILE [--format text|json]\n"
    "      load a scenario, validate every layout, print derived sizes and the\n"
    "      analytic memory per GPU; exit 0 all valid, 1 some invalid, 2 bad input\n"
    "  run FILE [--out DIR] [--format text|json|csv] [--seed N] [--network-model M]\n"
    "      replay one training iteration of every valid layout; side-by-side report;\n"
    "      results.json, results.csv and report.txt under DIR (default out/NAME/)\n"
    "  plot DIR          draw again the pictures of an earlier run\n"
    "  sweep FILE [--jobs N] [--shard K/N] [--out DIR] [--resume]\n"
    "      replay the scenario's sweep: one CSV row per point, layout and statistic\n"
    "  merge CSV... [-o FILE]   join the CSVs of a sharded sweep in point order\n"
    "  collective --cluster FILE --op OP [--gpus N] [--sizes 8B:1GiB] [--algo A]\n"
    "             [--network-model M] [--format text|csv|json]\n"
    "      a simulated nccl-tests: time, algbw and busbw per message size\n"
    "  help [COMMAND]    this text\n"
    "  --version         print the version\n"
    "\n"
    "Presets named by a bare name (model: moe-30b, cluster: dgx-h100) are looked up\n"
    "in models/ and topologies/ under $CLUSTERSIM_DATA, then " CS_DATA_DIR ",\n"
    "then the source tree " CS_SOURCE_DIR ".\n";

static const char check_help[] =
    "usage: clustersim check FILE [--format text|json]\n"
    "\n"
    "Loads the scenario FILE with its model and cluster, and for every layout\n"
    "prints whether it can run (with every reason when it cannot), the derived\n"
    "sizes (dense and expert data parallelism, micro-batches, layers per stage,\n"
    "experts per GPU) and an analytic per-GPU memory estimate per pipeline stage\n"
    "(weights, gradients, optimizer state, activations, reserved) against the\n"
    "GPU's memory.\n"
    "\n"
    "  --format text|json   output format (default text)\n"
    "\n"
    "Exit status: 0 every layout valid, 1 some layout invalid, 2 the input could\n"
    "not be read (its errors are printed as FILE:LINE:COL: error: MESSAGE).\n";

static const char collective_help[] =
    "usage: clustersim collective --cluster FILE --op OP [options]\n"
    "\n"
    "Simulates one collective on an idle cluster, for each message size from the\n"
    "smallest to the largest, doubling, and prints the time, algbw and busbw as\n"
    "nccl-tests defines them (busbw = algbw x 2(n-1)/n for all_reduce, x (n-1)/n\n"
    "for all_gather, reduce_scatter and alltoall, x 1 otherwise).\n"
    "\n"
    "  --cluster FILE       cluster file or preset name (dgx-h100, ...)\n"
    "  --op OP              all_reduce (default), all_gather, reduce_scatter,\n"
    "                       alltoall, sendrecv, broadcast\n"
    "  --gpus N             the first N GPUs (default: all of the cluster)\n"
    "  --sizes MIN:MAX      message sizes, e.g. 8B:16GiB (default 8B:1GiB); sizes\n"
    "                       count as nccl-tests does (per rank for all_reduce,\n"
    "                       total for all_gather, reduce_scatter and alltoall)\n"
    "  --algo A             auto (default: as NCCL would choose), ring, tree,\n"
    "                       hierarchical\n"
    "  --network-model M    flow (default), analytic, ideal\n"
    "  --format F           text (nccl-tests columns, default), csv, json\n";

static const char run_help[] =
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
    "                       (default: the first GPU of each pipeline stage)\n"
    "  --trace-ranks L      GPUs written to trace.json (default: the timeline's);\n"
    "                       they are added to the captured GPUs\n"
    "  --svg                also draw .svg pictures\n"
    "  --no-plots           no timelines, traces or pictures (faster)\n"
    "\n"
    "Per replayed layout, DIR/<layout>/ gets timeline.dat, memory.dat, trace.json\n"
    "(open in Perfetto or chrome://tracing) and, with gnuplot installed,\n"
    "timeline.png and memory.png; DIR gets compare.dat and compare.png. Without\n"
    "gnuplot the data and scripts are written and 'clustersim plot DIR' draws\n"
    "them later.\n"
    "\n"
    "Exit status: 0 ran (even if targets are missed), 1 no layout valid, 2 bad input.\n";

static int parse_format(const char *s, cs_format *out)
{
    if (!strcmp(s, "text"))
        *out = CS_FORMAT_TEXT;
    else if (!strcmp(s, "json"))
        *out = CS_FORMAT_JSON;
    else if (!strcmp(s, "csv"))
        *out = CS_FORMAT_CSV;
    else
        return -1;
    return 0;
}

static int parse_model_name(const char *v, cs_network_model *out);

/* Option value: "--name VALUE" or "--name=VALUE"; advances *i past it. */
static const char *option(int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0)
        return NULL;
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (argv[*i][len] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int parse_sizes(const char *text, double *lo, double *hi)
{
    char buf[128], err[256];
    const char *colon = strchr(text, ':');
    cs_quantity a, b;
    if (!colon || (size_t)(colon - text) >= sizeof buf) {
        fprintf(stderr, "clustersim collective: --sizes wants MIN:MAX, e.g. 8B:16GiB\n");
        return -1;
    }
    snprintf(buf, sizeof buf, "%.*s", (int)(colon - text), text);
    if (cs_units_parse(buf, CS_UNIT_SIZE, &a, err, sizeof err) != 0 ||
        cs_units_parse(colon + 1, CS_UNIT_SIZE, &b, err, sizeof err) != 0) {
        fprintf(stderr, "clustersim collective: --sizes: %s\n", err);
        return -1;
    }
    if (!(a.value >= 1) || !(b.value >= a.value)) {
        fprintf(stderr, "clustersim collective: --sizes wants 1 B <= MIN <= MAX\n");
        return -1;
    }
    *lo = a.value;
    *hi = b.value;
    return 0;
}

typedef struct collective_args {
    const char *cluster;
    cs_coll_op op;
    long gpus;
    double lo, hi;
    cs_coll_algo algo;
    cs_network_model model;
    cs_format format;
} collective_args;

static int parse_collective_args(int argc, char **argv, collective_args *a)
{
    *a = (collective_args){NULL, CS_COLL_ALL_REDUCE, 0, 8, 1073741824.0, CS_ALGO_AUTO,
                           CS_NET_FLOW, CS_FORMAT_TEXT};
    for (int i = 0; i < argc; i++) {
        const char *v;
        int k;
        if ((v = option(argc, argv, &i, "--cluster"))) {
            a->cluster = v;
        } else if ((v = option(argc, argv, &i, "--op"))) {
            if ((k = cs_coll_op_parse(v)) < 0) {
                fprintf(stderr, "clustersim collective: unknown op '%s'\n", v);
                return -1;
            }
            a->op = (cs_coll_op)k;
        } else if ((v = option(argc, argv, &i, "--gpus"))) {
            char *end;
            a->gpus = strtol(v, &end, 10);
            if (*end || a->gpus < 2) {
                fprintf(stderr, "clustersim collective: --gpus wants a count of 2 or more\n");
                return -1;
            }
        } else if ((v = option(argc, argv, &i, "--sizes"))) {
            if (parse_sizes(v, &a->lo, &a->hi) != 0)
                return -1;
        } else if ((v = option(argc, argv, &i, "--algo"))) {
            if ((k = cs_coll_algo_parse(v)) < 0) {
                fprintf(stderr, "clustersim collective: unknown algo '%s'\n", v);
                return -1;
            }
            a->algo = (cs_coll_algo)k;
        } else if ((v = option(argc, argv, &i, "--network-model"))) {
            if (parse_model_name(v, &a->model) != 0) {
                fprintf(stderr, "clustersim collective: unknown network model '%s'\n", v);
                return -1;
            }
        } else if ((v = option(argc, argv, &i, "--format"))) {
            if (parse_format(v, &a->format) != 0) {
                fprintf(stderr, "clustersim collective: unknown format '%s'\n", v);
                return -1;
            }
        } else {
            fprintf(stderr, "clustersim collective: unknown argument '%s'\n", argv[i]);
            return -1;
        }
    }
    if (!a->cluster) {
        fprintf(stderr, "clustersim collective: --cluster is required\n");
        return -1;
    }
    return 0;
}

/* Runs every size and prints the table. */
static int measure_collectives(const collective_args *a, const cs_cluster *cluster)
{
    cs_fabric fabric;
    if (cs_fabric_init(&fabric, cluster) != 0)
        return EXIT_BAD_INPUT;
    long n = a->gpus ? a->gpus : fabric.gpus;
    long *gpus = malloc((size_t)n * sizeof *gpus);
    size_t cap = 64, count = 0;
    cs_coll_row *rows = malloc(cap * sizeof *rows);
    int status = EXIT_OK;
    if (!gpus || !rows) {
        status = EXIT_BAD_INPUT;
        goto done;
    }
    for (long i = 0; i < n; i++)
        gpus[i] = i;
    for (double size = a->lo; size <= a->hi && count < cap; size *= 2) {
        cs_coll_spec spec = {a->op, a->algo, n, gpus, size, NULL, 0};
        double t;
        if (cs_collective_time(&fabric, a->model, &spec, &t, NULL) != 0) {
            fprintf(stderr, "clustersim collective: out of memory at %.0f bytes\n", size);
            status = EXIT_BAD_INPUT;
            goto done;
        }
        double algbw = t > 0 ? size / t : 0;
        rows[count++] = (cs_coll_row){size, t, algbw,
                                      algbw * cs_collective_bus_factor(a->op, n),
                                      cs_collective_choose(&fabric, &spec)};
    }
    cs_coll_report report = {a->op,    n,       (n + fabric.gpus_per_node - 1) / fabric.gpus_per_node,
                             cluster->name, a->algo, a->model, rows, count};
    cs_report_collective(stdout, a->format, &report);
done:
    free(gpus);
    free(rows);
    cs_fabric_free(&fabric);
    return status;
}

static int cmd_collective(int argc, char **argv, const cs_paths *paths)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(collective_help, stdout);
            return EXIT_OK;
        }
    collective_args a;
    if (parse_collective_args(argc, argv, &a) != 0) {
        fputs(collective_help, stderr);
        return EXIT_BAD_INPUT;
    }
    cs_sources src = {0};
    cs_cluster cluster;
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_cluster_load(a.cluster, paths, &src, &cluster, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    cs_sources_free(&src);
    if (rc != 0)
        return EXIT_BAD_INPUT;
    if (a.gpus > cluster.nodes * cluster.gpus_per_node) {
        fprintf(stderr, "clustersim collective: --gpus %ld but %s has %ld GPUs\n", a.gpus,
                cluster.name, cluster.nodes * cluster.gpus_per_node);
        return EXIT_BAD_INPUT;
    }
    return measure_collectives(&a, &cluster);
}

/* Loads a scenario, printing every problem found as FILE:LINE:COL. */
static int load_scenario(const char *file, const cs_paths *paths, cs_scenario *scn)
{
    cs_diags diags;
    cs_diags_init(&diags);
    int rc = cs_scenario_load(file, paths, scn, &diags);
    cs_diags_print(&diags, stderr);
    cs_diags_free(&diags);
    return rc;
}

static int cmd_check(int argc, char **argv, const cs_paths *paths)
{
    const char *file = NULL;
    cs_format format = CS_FORMAT_TEXT;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            if (parse_format(argv[++i], &format) != 0) {
                fprintf(stderr, "clustersim check: unknown format '%s' (text or json)\n",
                        argv[i]);
                return EXIT_BAD_INPUT;
            }
        } else if (!strncmp(argv[i], "--format=", 9)) {
            if (parse_format(argv[i] + 9, &format) != 0) {
                fprintf(stderr, "clustersim check: unknown format '%s' (text or json)\n",
                        argv[i] + 9);
                return EXIT_BAD_INPUT;
            }
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(check_help, stdout);
            return EXIT_OK;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "clustersim check: unknown option '%s'\n%s", argv[i], check_help);
            return EXIT_BAD_INPUT;
        } else if (!file) {
            file = argv[i];
        } else {
            fprintf(stderr, "clustersim check: one scenario file at a time\n");
            return EXIT_BAD_INPUT;
        }
    }
    if (!file) {
        fputs(check_help, stderr);
        return EXIT_BAD_INPUT;
    }
    cs_scenario scn;
    int rc = load_scenario(file, paths, &scn);
    if (rc != 0) {
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    cs_validation check;
    if (cs_validate(&scn, &check) != 0) {
        fprintf(stderr, "clustersim check: out of memory\n");
        cs_validation_free(&check);
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    cs_report_check(stdout, format, file, &check);
    int status = check.all_valid ? EXIT_OK : EXIT_INVALID;
    cs_validation_free(&check);
    cs_scenario_free(&scn);
    return status;
}

static int parse_model_name(const char *v, cs_network_model *out)
{
    if (!strcmp(v, "flow"))
        *out = CS_NET_FLOW;
    else if (!strcmp(v, "analytic"))
        *out = CS_NET_ANALYTIC;
    else if (!strcmp(v, "ideal"))
        *out = CS_NET_IDEAL;
    else
        return -1;
    return 0;
}

/* mkdir -p. Returns 0 or -1 with errno set. */
static int make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* Writes DIR/NAME whole or not at all: into a temporary file, then renamed. */
static int write_report(const char *dir, const char *name, cs_format format,
                        const cs_scenario *s, const cs_run *r)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "clustersim run: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    cs_report_run(f, format, s, r);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "clustersim run: cannot write %s: %s\n", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

#define MAX_RANKS 256

typedef struct run_args {
    const char *file, *out;
    cs_format format;
    int has_seed, has_model, no_plots, svg;
    unsigned long seed;
    cs_network_model model;
    long ranks[2 * MAX_RANKS]; /* timeline ranks, then trace ranks */
    long nranks, ntrace;
    int has_ranks, has_trace;
} run_args;

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
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = option(argc, argv, &i, "--out"))) {
            a->out = v;
        } else if ((v = option(argc, argv, &i, "--format"))) {
            if (parse_format(v, &a->format) != 0) {
                fprintf(stderr, "clustersim run: unknown format '%s' (text, json or csv)\n", v);
                return -1;
            }
        } else if ((v = option(argc, argv, &i, "--seed"))) {
            char *end;
            errno = 0;
            a->seed = strtoul(v, &end, 10);
            if (*end || end == v || errno || v[0] == '-') {
                fprintf(stderr, "clustersim run: --seed wants a non-negative integer\n");
                return -1;
            }
            a->has_seed = 1;
        } else if ((v = option(argc, argv, &i, "--network-model"))) {
            if (parse_model_name(v, &a->model) != 0) {
                fprintf(stderr, "clustersim run: unknown network model '%s'\n", v);
                return -1;
            }
            a->has_model = 1;
        } else if ((v = option(argc, argv, &i, "--timeline-ranks"))) {
            if ((a->nranks = parse_ranks(v, a->ranks, MAX_RANKS)) <= 0) {
                fprintf(stderr, "clustersim run: --timeline-ranks wants GPU numbers like 0,8,16\n");
                return -1;
            }
            a->has_ranks = 1;
        } else if ((v = option(argc, argv, &i, "--trace-ranks"))) {
            if ((a->ntrace = parse_ranks(v, a->ranks + MAX_RANKS, MAX_RANKS)) <= 0) {
                fprintf(stderr, "clustersim run: --trace-ranks wants GPU numbers like 0,8,16\n");
                return -1;
            }
            a->has_trace = 1;
        } else if (!strcmp(argv[i], "--no-plots")) {
            a->no_plots = 1;
        } else if (!strcmp(argv[i], "--svg")) {
            a->svg = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "clustersim run: unknown option '%s'\n", argv[i]);
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

/* The folder holding the gnuplot scripts: plots/ of the first preset
 * directory that has them. */
static const char *scripts_dir(const cs_paths *paths, char *buf, size_t len)
{
    for (int i = 0; paths->preset_dirs[i]; i++) {
        snprintf(buf, len, "%s/plots/timeline.gp", paths->preset_dirs[i]);
        FILE *f = fopen(buf, "r");
        if (f) {
            fclose(f);
            snprintf(buf, len, "%s/plots", paths->preset_dirs[i]);
            return buf;
        }
    }
    return NULL;
}

/* Captured GPUs: the timeline's (or the first of each stage) plus the trace's. */
static long captured_gpus(const run_args *a, long world, long *out)
{
    long n = 0;
    if (a->has_ranks)
        for (long i = 0; i < a->nranks; i++)
            out[n++] = a->ranks[i];
    for (long i = 0; a->has_trace && i < a->ntrace; i++) {
        int seen = 0;
        for (long k = 0; k < n; k++)
            seen |= out[k] == a->ranks[MAX_RANKS + i];
        if (!seen)
            out[n++] = a->ranks[MAX_RANKS + i];
    }
    for (long i = 0; i < n; i++)
        if (out[i] >= world)
            return -1;
    return n;
}

/* Timelines, traces, comparison and pictures of a finished run. */
static int write_plots(const char *dir, const run_args *a, const cs_scenario *s,
                       const cs_run *run, const cs_paths *paths)
{
    char buf[4096];
    const char *scripts = scripts_dir(paths, buf, sizeof buf);
    if (!scripts) {
        fprintf(stderr, "clustersim run: no plots/timeline.gp in the preset directories\n");
        return -1;
    }
    cs_plot_options o = {a->svg, scripts, a->has_trace ? a->ranks + MAX_RANKS : NULL,
                         a->has_trace ? a->ntrace : 0};
    if (cs_plot_copy_scripts(dir, scripts))
        return -1;
    for (size_t i = 0; i < run->count; i++) {
        const cs_layout_run *lr = &run->layouts[i];
        if (lr->replayed && cs_timeline_write_layout(dir, lr->verdict->layout->name, s,
                                                     &lr->result, &lr->capture, &o))
            return -1;
    }
    if (run->valid && cs_timeline_write_compare(dir, s, run, &o))
        return -1;
    if (cs_plot_render(dir, stderr) == -2)
        fprintf(stderr, "clustersim run: gnuplot failed on some plots in %s\n", dir);
    return 0;
}

static int cmd_run(int argc, char **argv, const cs_paths *paths)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(run_help, stdout);
            return EXIT_OK;
        }
    run_args a;
    if (parse_run_args(argc, argv, &a) != 0) {
        fputs(run_help, stderr);
        return EXIT_BAD_INPUT;
    }
    cs_scenario scn;
    int rc = load_scenario(a.file, paths, &scn);
    if (rc != 0) {
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    cs_run run;
    cs_network_model model = a.has_model ? a.model : scn.network_model;
    int status = EXIT_OK;
    long gpus[2 * MAX_RANKS];
    long world = scn.cluster.nodes * scn.cluster.gpus_per_node;
    long ngpus = captured_gpus(&a, world, gpus);
    cs_run_options ro = {!a.no_plots, ngpus > 0 ? gpus : NULL, ngpus};
    if (ngpus < 0) {
        fprintf(stderr, "clustersim run: a timeline or trace rank is not below %ld GPUs\n", world);
        memset(&run, 0, sizeof run);
        status = EXIT_BAD_INPUT;
        goto done;
    }
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
    if (make_dirs(dir) != 0) {
        fprintf(stderr, "clustersim run: cannot create %s: %s\n", dir, strerror(errno));
        status = EXIT_BAD_INPUT;
        goto done;
    }
    if (write_report(dir, "results.json", CS_FORMAT_JSON, &scn, &run) ||
        write_report(dir, "results.csv", CS_FORMAT_CSV, &scn, &run) ||
        write_report(dir, "report.txt", CS_FORMAT_TEXT, &scn, &run))
        status = EXIT_BAD_INPUT;
    if (status == EXIT_OK && !a.no_plots && write_plots(dir, &a, &scn, &run, paths))
        status = EXIT_BAD_INPUT;
    cs_report_run(stdout, a.format, &scn, &run);
    if (status == EXIT_OK && run.valid == 0)
        status = EXIT_INVALID;
done:
    cs_run_free(&run);
    cs_scenario_free(&scn);
    return status;
}

static const char plot_help[] =
    "usage: clustersim plot DIR\n"
    "\n"
    "Draws again the pictures of an earlier run from the data files in DIR (a run's\n"
    "output folder): every plot listed in DIR/plots.txt, with the gnuplot scripts\n"
    "copied into DIR/plots/. Needs gnuplot on PATH.\n"
    "\n"
    "Exit status: 0 drawn, 2 DIR holds no run or gnuplot failed.\n";

static int cmd_plot(int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        fputs(plot_help, argc == 1 && !strcmp(argv[0], "--help") ? stdout : stderr);
        return argc == 1 && !strcmp(argv[0], "--help") ? EXIT_OK : EXIT_BAD_INPUT;
    }
    int rc = cs_plot_render(argv[0], stderr);
    if (rc == -1) {
        fprintf(stderr, "clustersim plot: %s holds no run (no plots.txt)\n", argv[0]);
        return EXIT_BAD_INPUT;
    }
    if (rc == -2) {
        fprintf(stderr, "clustersim plot: gnuplot failed on some plots in %s\n", argv[0]);
        return EXIT_BAD_INPUT;
    }
    if (rc == 0) /* gnuplot missing: the note said so */
        return EXIT_BAD_INPUT;
    printf("drew %d plots in %s\n", rc, argv[0]);
    return EXIT_OK;
}

static const char sweep_help[] =
    "usage: clustersim sweep FILE [options]\n"
    "\n"
    "Replays every point of the scenario's sweep: block (a grid of its lists, or a\n"
    "zip) for the chosen layouts, repeats times each with seeds derived from the\n"
    "scenario's seed and the point, and writes DIR/sweep.csv: one row per point,\n"
    "layout and statistic (value, or mean, std, p5, p50, p95 with repeats), then\n"
    "prints the table. Points that do not load and invalid layouts are rows with\n"
    "their reason.\n"
    "\n"
    "  --jobs N         worker threads (default: every core); the CSV's order does\n"
    "                   not depend on it\n"
    "  --shard K/N      only the points p with p mod N = K - 1 (K from 1 to N), e.g.\n"
    "                   one Slurm array task each; join them with clustersim merge\n"
    "  --out DIR        where sweep.csv goes (default out/<scenario name>/)\n"
    "  --resume         keep the whole points already in DIR/sweep.csv, run the rest\n"
    "  --quiet          no progress bar (it shows only on a terminal anyway)\n"
    "  --metric NAME    what sweep.png shows (default iteration_time_s; any metric\n"
    "                   column of the CSV)\n"
    "  --no-plots       no sweep.dat or pictures\n"
    "\n"
    "Exit status: 0 ran, 2 bad input or the CSV could not be written.\n";

static const char merge_help[] =
    "usage: clustersim merge CSV... [-o FILE]\n"
    "\n"
    "Joins the sweep.csv files of one sweep's shards into one, rows in point order,\n"
    "as one unsharded run would have written them; to stdout unless -o FILE.\n"
    "\n"
    "Exit status: 0, or 2 when the CSVs do not belong to one sweep.\n";

static int cmd_sweep(int argc, char **argv, const cs_paths *paths)
{
    const char *file = NULL, *out = NULL, *metric = "iteration_time_s";
    int no_plots = 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cs_sweep_options o = {cores > 0 ? (int)cores : 1, 0, 1, 0, isatty(2)};
    for (int i = 0; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(sweep_help, stdout);
            return EXIT_OK;
        } else if ((v = option(argc, argv, &i, "--jobs"))) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 64) {
                fprintf(stderr, "clustersim sweep: --jobs wants 1 to 64\n");
                return EXIT_BAD_INPUT;
            }
            o.jobs = (int)n;
        } else if ((v = option(argc, argv, &i, "--shard"))) {
            long k, n;
            char tail;
            if (sscanf(v, "%ld/%ld%c", &k, &n, &tail) != 2 || n < 1 || k < 1 || k > n) {
                fprintf(stderr, "clustersim sweep: --shard wants K/N with 1 <= K <= N\n");
                return EXIT_BAD_INPUT;
            }
            o.shard = k - 1;
            o.shards = n;
        } else if ((v = option(argc, argv, &i, "--out"))) {
            out = v;
        } else if ((v = option(argc, argv, &i, "--metric"))) {
            metric = v;
        } else if (!strcmp(argv[i], "--no-plots")) {
            no_plots = 1;
        } else if (!strcmp(argv[i], "--resume")) {
            o.resume = 1;
        } else if (!strcmp(argv[i], "--quiet")) {
            o.progress = 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "clustersim sweep: unknown option '%s'\n%s", argv[i], sweep_help);
            return EXIT_BAD_INPUT;
        } else if (!file) {
            file = argv[i];
        } else {
            fprintf(stderr, "clustersim sweep: one scenario file at a time\n");
            return EXIT_BAD_INPUT;
        }
    }
    if (!file) {
        fputs(sweep_help, stderr);
        return EXIT_BAD_INPUT;
    }
    cs_scenario scn;
    int rc = load_scenario(file, paths, &scn);
    int status = EXIT_OK;
    char dir[4096], csv[4200];
    if (rc != 0) {
        status = EXIT_BAD_INPUT;
        goto done;
    }
    if (!scn.sweep.present) {
        fprintf(stderr, "%s: error: the scenario has no sweep: block\n", file);
        status = EXIT_BAD_INPUT;
        goto done;
    }
    if (out)
        snprintf(dir, sizeof dir, "%s", out);
    else
        snprintf(dir, sizeof dir, "out/%s", scn.name);
    if (make_dirs(dir) != 0) {
        fprintf(stderr, "clustersim sweep: cannot create %s: %s\n", dir, strerror(errno));
        status = EXIT_BAD_INPUT;
        goto done;
    }
    if (cs_sweep_run(file, paths, &scn, dir, &o) < 0) {
        status = EXIT_BAD_INPUT;
        goto done;
    }
    snprintf(csv, sizeof csv, "%s/sweep.csv", dir);
    if (o.shards == 1 && !no_plots) {
        char buf[4096];
        const char *scripts = scripts_dir(paths, buf, sizeof buf);
        if (scripts && cs_plot_copy_scripts(dir, scripts) == 0 &&
            cs_sweep_plot_data(dir, &scn, metric) == 0)
            cs_plot_render(dir, stderr);
    }
    cs_sweep_print(csv, stdout);
done:
    cs_scenario_free(&scn);
    return status;
}

static int cmd_merge(int argc, char **argv)
{
    const char *out = NULL;
    const char *files[1024];
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(merge_help, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "clustersim merge: unknown option '%s'\n%s", argv[i], merge_help);
            return EXIT_BAD_INPUT;
        } else if (n < 1024) {
            files[n++] = argv[i];
        }
    }
    if (n == 0) {
        fputs(merge_help, stderr);
        return EXIT_BAD_INPUT;
    }
    if (!out)
        return cs_sweep_merge(files, n, stdout) == 0 ? EXIT_OK : EXIT_BAD_INPUT;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "clustersim merge: cannot write %s: %s\n", tmp, strerror(errno));
        return EXIT_BAD_INPUT;
    }
    int rc = cs_sweep_merge(files, n, f);
    if (fclose(f) != 0 || rc != 0 || rename(tmp, out) != 0) {
        remove(tmp);
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

static int cmd_help(int argc, char **argv)
{
    if (argc > 0 && !strcmp(argv[0], "check"))
        fputs(check_help, stdout);
    else if (argc > 0 && !strcmp(argv[0], "run"))
        fputs(run_help, stdout);
    else if (argc > 0 && !strcmp(argv[0], "plot"))
        fputs(plot_help, stdout);
    else if (argc > 0 && !strcmp(argv[0], "sweep"))
        fputs(sweep_help, stdout);
    else if (argc > 0 && !strcmp(argv[0], "merge"))
        fputs(merge_help, stdout);
    else if (argc > 0 && !strcmp(argv[0], "collective"))
        fputs(collective_help, stdout);
    else
        fputs(usage, stdout);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    const char *dirs[4];
    int n = 0;
    const char *env = getenv("CLUSTERSIM_DATA");
    if (env && *env)
        dirs[n++] = env;
    dirs[n++] = CS_DATA_DIR;
    dirs[n++] = CS_SOURCE_DIR;
    dirs[n] = NULL;
    cs_paths paths = {dirs};

    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_BAD_INPUT;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("clustersim %s\n", CS_VERSION);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h"))
        return cmd_help(argc - 2, argv + 2);
    if (!strcmp(cmd, "check"))
        return cmd_check(argc - 2, argv + 2, &paths);
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 2, argv + 2, &paths);
    if (!strcmp(cmd, "plot"))
        return cmd_plot(argc - 2, argv + 2);
    if (!strcmp(cmd, "sweep"))
        return cmd_sweep(argc - 2, argv + 2, &paths);
    if (!strcmp(cmd, "merge"))
        return cmd_merge(argc - 2, argv + 2);
    if (!strcmp(cmd, "collective"))
        return cmd_collective(argc - 2, argv + 2, &paths);
    fprintf(stderr, "clustersim: unknown command '%s'\n\n%s", cmd, usage);
    return EXIT_BAD_INPUT;
}
