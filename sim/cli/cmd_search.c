/* clustersim search: the best layouts of a scenario's model on its cluster. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/progress.h"
#include "base/strutil.h"
#include "report/plot.h"
#include "replay/runner.h"
#include "report/search_report.h"
#include "study/search.h"
#include "study/sweep.h"

static const char help[] =
    "usage: clustersim search FILE [--top N] [--jobs N] [--network-model M] [--out DIR]\n"
    "                         [--format text|json|csv] [--budget SECONDS] [--quiet]\n"
    "                         [--no-plots] [--resume] [--shard K/N] [--merge FILE]...\n"
    "\n"
    "Finds the layouts the scenario's model could train with on its cluster and\n"
    "ranks them by the search: block's objective (default: iteration time). The\n"
    "space is the search: block's (docs/input.md, \"Search\"); without one, every\n"
    "combination of tensor parallelism inside a node (powers of two), a pipeline\n"
    "that divides the GPUs and the layers, expert parallelism over powers of two\n"
    "that divide the experts (MoE models), the experts' TP (1 or the dense TP),\n"
    "1F1B or interleaved with two virtual stages, micro-batches of 1 and 2 and\n"
    "every recompute, with the data-parallel size that fills the cluster and\n"
    "everything else as the scenario trains. Each candidate is\n"
    "  1. checked by the layout rules, the block's constraints and the analytic\n"
    "     memory estimate (what `check` does); what fails is pruned, by rule;\n"
    "  2. replayed with the analytic network model (with --network-model M,\n"
    "     with M);\n"
    "  3. and the best N replayed again with the scenario's network model\n"
    "     (with --network-model M, only for search.repeats).\n"
    "Prints the best N with the model that produced their numbers, the Pareto\n"
    "front of iteration time, memory per GPU and GPUs, where the scenario's own\n"
    "layouts rank, and the best as a layouts: entry and as Megatron-LM\n"
    "arguments. DIR gets search.csv (every candidate, its fate and the rule that\n"
    "pruned it), search.json and pareto.png.\n"
    "\n"
    "  --top N              candidates shown and replayed again (default: the\n"
    "                       search: block's top, else 10)\n"
    "  --jobs N             worker threads (default: every core); the output does\n"
    "                       not depend on it\n"
    "  --network-model M    every stage replays with M: ideal, analytic, flow\n"
    "                       (default: analytic, then the scenario's for the\n"
    "                       best N)\n"
    "  --out DIR            where search.csv, search.json and pareto.png go\n"
    "                       (default out/<scenario name>/, a shard's\n"
    "                       out/<scenario name>/shard-K-of-N/)\n"
    "  --format F           what to print: text (default), json, csv\n"
    "  --budget SECONDS     evaluate no new candidate after this long (the rest\n"
    "                       are marked skipped; the result then depends on the\n"
    "                       machine's speed)\n"
    "  --quiet              no progress bar (it shows only on a terminal anyway)\n"
    "  --no-plots           no pareto.png\n"
    "  --resume             take the candidates DIR/search.csv holds as evaluated\n"
    "                       (by this search's evaluation model, of this same\n"
    "                       search) instead of replaying them; evaluate the rest\n"
    "  --shard K/N          evaluate only every N-th candidate (K from 1 to N,\n"
    "                       N at most 1024), e.g. one Slurm array task each,\n"
    "                       with no last stage\n"
    "  --merge FILE         take FILE's evaluated candidates too (a shard's\n"
    "                       search.csv; repeatable): after the shards, one\n"
    "                       search with a --merge per shard ranks them all,\n"
    "                       evaluates what none held, and runs the last stage\n"
    "\n"
    "Exit status: 0 ran, 1 no candidate is valid and fits, 2 bad input.\n";

#define MAX_MERGE 1024

typedef struct search_args {
    const char *file, *out;
    const char *merge[MAX_MERGE];
    int merges;
    long top, shard, shards;
    double budget;
    int jobs, has_model, has_top, progress, plots, resume;
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
    *a = (search_args){.top = 10,
                       .shards = 1,
                       .jobs = cores > 0 ? (int)(cores < 64 ? cores : 64) : 1,
                       .progress = isatty(2),
                       .plots = 1,
                       .model = CS_NET_FLOW,
                       .format = CS_FORMAT_TEXT};
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = cs_cli_option(argc, argv, &i, "--top"))) {
            if (parse_long(v, 1, 1000000, &a->top) != 0) {
                fprintf(stderr, "clustersim search: --top wants a positive number\n");
                return -1;
            }
            a->has_top = 1;
        } else if ((v = cs_cli_option(argc, argv, &i, "--budget"))) {
            char *end;
            errno = 0;
            a->budget = strtod(v, &end);
            if (*end || end == v || errno || !(a->budget > 0) || a->budget > 1e9) {
                fprintf(stderr, "clustersim search: --budget wants a number of seconds\n");
                return -1;
            }
        } else if (!strcmp(argv[i], "--resume")) {
            a->resume = 1;
        } else if ((v = cs_cli_option(argc, argv, &i, "--shard"))) {
            if (cs_parse_shard(v, MAX_MERGE, &a->shard, &a->shards) != 0) {
                fprintf(stderr,
                        "clustersim search: --shard wants K/N, 1 <= K <= N <= %d (the shards "
                        "one search can --merge)\n",
                        MAX_MERGE);
                return -1;
            }
            a->shard--;
        } else if ((v = cs_cli_option(argc, argv, &i, "--merge"))) {
            if (a->merges == MAX_MERGE) {
                fprintf(stderr, "clustersim search: at most %d --merge files\n", MAX_MERGE);
                return -1;
            }
            a->merge[a->merges++] = v;
        } else if (!strcmp(argv[i], "--quiet")) {
            a->progress = 0;
        } else if (!strcmp(argv[i], "--no-plots")) {
            a->plots = 0;
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
            cs_cli_unknown_option("search", argv[i], help);
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

typedef struct bar {
    double started;
    int stage;
} bar;

static void show_progress(long done, long total, void *arg)
{
    bar *b = arg;
    cs_progress_show(stderr, b->stage ? "candidates replayed again" : "candidates", done, total,
                     b->started);
    if (done == total)
        b->stage++;
}

/* Whether candidates that passed the checks were left to other shards: a
 * shard without one of its own has still run well. */
static int others_left(const cs_search *r)
{
    for (long i = 0; i < r->count; i++)
        if (r->c[i].fate == CS_FATE_SKIPPED && r->c[i].why[0])
            return 1;
    return 0;
}

/* The numbers of earlier runs: DIR/search.csv with --resume (none yet is
 * no error: the search starts afresh), and every --merge file. */
static int read_prior(const search_args *a, const char *dir, const cs_scenario *s,
                      cs_search_prior *p)
{
    char id[17], path[4200];
    cs_sweep_fingerprint(s, id);
    snprintf(path, sizeof path, "%s/search.csv", dir);
    /* rows evaluated by the model this search evaluates with */
    cs_network_model first = a->has_model ? a->model : CS_NET_ANALYTIC;
    if (a->resume && access(path, F_OK) == 0 &&
        cs_search_prior_read(path, id, first, p, stderr) != 0)
        return -1;
    for (int i = 0; i < a->merges; i++)
        if (cs_search_prior_read(a->merge[i], id, first, p, stderr) != 0)
            return -1;
    return 0;
}

/* pareto.png with its script, when gnuplot is there to draw it. */
static void draw_pareto(const char *dir, const cs_paths *paths, const cs_scenario *s,
                        const cs_search *r)
{
    char buf[4096];
    const char *scripts = cs_cli_scripts_dir(paths, buf, sizeof buf);
    if (scripts && cs_plot_copy_scripts(dir, scripts) == 0 &&
        cs_report_search_pareto(dir, s, r) == 0)
        cs_plot_render(dir, stderr);
}

/* The best FLOW_CHECKED candidates under the analytic model checked against
 * the flow model (runner.h, cs_flow_check): a warning where they part. */
#define FLOW_CHECKED 3

static int flow_warnings(const cs_scenario *s, const cs_search *r)
{
    int header = 0;
    for (long rank = 1; rank <= FLOW_CHECKED; rank++)
        for (long i = 0; i < r->count; i++) {
            const cs_search_candidate *c = &r->c[i];
            if (c->rank != rank)
                continue;
            long m;
            double an, fl;
            int rc = cs_flow_check(&r->variants[c->variant], &c->layout, &c->sizes, s->seed, &m,
                                   &an, &fl);
            if (rc < 0) {
                fprintf(stderr, "clustersim search: a flow check's replay could not finish\n");
                return -1;
            }
            if (rc == 1 && fabs(fl / an - 1) > CS_FLOW_CHECK_GAP) {
                if (!header++)
                    putchar('\n');
                printf("warning: rank %ld (%s): replayed on %ld micro-batches, the flow network "
                       "model takes %+.0f%% against the analytic one: links are shared, so its "
                       "analytic time is %s; --network-model flow replays the best with it\n",
                       rank, c->layout.name, m, 100 * (fl / an - 1),
                       fl > an ? "optimistic" : "pessimistic");
            }
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
    if (cs_cli_load_scenario_to_search(a.file, paths, &scn) != 0) {
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    char dir[4096];
    if (a.out)
        snprintf(dir, sizeof dir, "%s", a.out);
    else if (a.shards > 1) /* each shard its own, so that they can run side by side */
        snprintf(dir, sizeof dir, "out/%s/shard-%ld-of-%ld", scn.name, a.shard + 1, a.shards);
    else
        snprintf(dir, sizeof dir, "out/%s", scn.name);
    int status = EXIT_OK;
    cs_search r;
    if (!a.has_top && scn.search.top > 0)
        a.top = scn.search.top;
    bar b = {cs_progress_clock(), 0};
    cs_search_options o = {.jobs = a.jobs,
                           .top = a.top,
                           .model = a.has_model ? a.model : scn.network_model,
                           .every_stage = a.has_model,
                           .budget_s = a.budget,
                           .progress = a.progress ? show_progress : NULL,
                           .progress_arg = &b};
    if (cs_cli_make_dirs(dir) != 0) {
        fprintf(stderr, "clustersim search: cannot create %s: %s\n", dir, strerror(errno));
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    cs_search_prior prior = {0};
    if (read_prior(&a, dir, &scn, &prior) != 0) {
        cs_search_prior_free(&prior);
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    o.shard = a.shard;
    o.shards = a.shards;
    o.prior = prior.count ? &prior : NULL;
    if (cs_search_run(&scn, &o, &r) != 0) {
        fprintf(stderr, "clustersim search: out of memory, or a replay could not finish\n");
        status = EXIT_BAD_INPUT;
    } else {
        cs_report_search(stdout, a.format, &scn, &r, a.top);
        if (o.model == CS_NET_ANALYTIC && a.format == CS_FORMAT_TEXT &&
            flow_warnings(&scn, &r) != 0)
            status = EXIT_BAD_INPUT;
        if (write_file(dir, "search.csv", &scn, &r, 1) != 0 ||
            write_file(dir, "search.json", &scn, &r, 0) != 0)
            status = EXIT_BAD_INPUT;
        else if (r.evaluated == 0 && !others_left(&r))
            status = EXIT_INVALID;
        else if (a.plots)
            draw_pareto(dir, paths, &scn, &r);
    }
    cs_search_free(&r);
    cs_search_prior_free(&prior);
    cs_scenario_free(&scn);
    return status;
}

const cs_command cs_cmd_search = {"search", help, cmd_search};
