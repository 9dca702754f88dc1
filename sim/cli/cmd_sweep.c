/* clustersim sweep: replay every point of a scenario's sweep into sweep.csv. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strutil.h"
#include "model/layout.h"
#include "replay/runner.h"
#include "report/timeline.h"
#include "study/sweep.h"

static const char help[] =
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
    "  --no-symmetry    replay every GPU (see `clustersim run --help`)\n"
    "\n"
    "Exit status: 0 ran, 2 bad input or the CSV could not be written.\n";

/* Under the analytic model, each swept layout at the scenario's own values
 * checked against the flow model (runner.h, cs_flow_check): a warning
 * where they part. The points are not checked one by one (that would cost
 * two more replays each). */
static int flow_warnings(const cs_scenario *s)
{
    long which[1024], n;
    if (cs_sweep_layouts(s, which, &n) != 0)
        return 0; /* cs_sweep_run said why */
    for (long k = 0; k < n; k++) {
        const cs_layout *l = &s->layouts[which[k]];
        cs_layout_sizes z;
        cs_diags d;
        cs_diags_init(&d);
        int valid = cs_layout_check(s, l, &z, &d) == 0;
        cs_diags_free(&d);
        long m;
        double an, fl;
        int rc = valid ? cs_flow_check(s, l, &z, s->seed, &m, &an, &fl) : 0;
        if (rc < 0) {
            fprintf(stderr, "clustersim sweep: a flow check's replay could not finish\n");
            return -1;
        }
        if (rc == 1 && fabs(fl / an - 1) > CS_FLOW_CHECK_GAP)
            printf("warning: %s at the scenario's own values: replayed on %ld micro-batches, the "
                   "flow network model takes %+.0f%% against the analytic one: links are shared, "
                   "so this sweep's analytic times are %s; set network_model: flow\n",
                   l->name, m, 100 * (fl / an - 1), fl > an ? "optimistic" : "pessimistic");
    }
    return 0;
}

static int cmd_sweep(int argc, char **argv, const cs_paths *paths)
{
    const char *file = NULL, *out = NULL, *metric = "iteration_time_s";
    int no_plots = 0, no_symmetry = 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cs_sweep_options o = {cores > 0 ? (int)cores : 1, 0, 1, 0, isatty(2)};
    for (int i = 0; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if ((v = cs_cli_option(argc, argv, &i, "--jobs"))) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 64) {
                fprintf(stderr, "clustersim sweep: --jobs wants 1 to 64\n");
                return EXIT_BAD_INPUT;
            }
            o.jobs = (int)n;
        } else if ((v = cs_cli_option(argc, argv, &i, "--shard"))) {
            long k, n;
            if (cs_parse_shard(v, CS_SWEEP_MAX_SHARDS, &k, &n) != 0) {
                fprintf(stderr, "clustersim sweep: --shard wants K/N with 1 <= K <= N <= %ld\n",
                        CS_SWEEP_MAX_SHARDS);
                return EXIT_BAD_INPUT;
            }
            o.shard = k - 1;
            o.shards = n;
        } else if ((v = cs_cli_option(argc, argv, &i, "--out"))) {
            out = v;
        } else if ((v = cs_cli_option(argc, argv, &i, "--metric"))) {
            metric = v;
        } else if (!strcmp(argv[i], "--no-plots")) {
            no_plots = 1;
        } else if (!strcmp(argv[i], "--resume")) {
            o.resume = 1;
        } else if (!strcmp(argv[i], "--quiet")) {
            o.progress = 0;
        } else if (!strcmp(argv[i], "--no-symmetry")) {
            no_symmetry = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cs_cli_unknown_option("sweep", argv[i], help);
            fputs(help, stderr);
            return EXIT_BAD_INPUT;
        } else if (!file) {
            file = argv[i];
        } else {
            fprintf(stderr, "clustersim sweep: one scenario file at a time\n");
            return EXIT_BAD_INPUT;
        }
    }
    if (!file) {
        fputs(help, stderr);
        return EXIT_BAD_INPUT;
    }
    cs_scenario scn;
    int rc = cs_cli_load_scenario(file, paths, &scn);
    scn.no_symmetry = no_symmetry;
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
    if (cs_cli_make_dirs(dir) != 0) {
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
        const char *scripts = cs_cli_scripts_dir(paths, buf, sizeof buf);
        if (scripts && cs_plot_copy_scripts(dir, scripts) == 0 &&
            cs_sweep_plot_data(dir, &scn, metric) == 0)
            cs_plot_render(dir, stderr);
    }
    cs_sweep_print(csv, stdout);
    /* once per sweep: the first shard says it */
    if (scn.network_model == CS_NET_ANALYTIC && o.shard == 0 && flow_warnings(&scn) != 0)
        status = EXIT_BAD_INPUT;
done:
    cs_scenario_free(&scn);
    return status;
}

const cs_command cs_cmd_sweep = {"sweep", help, cmd_sweep};
