/* clustersim collective: a simulated nccl-tests on an idle cluster. */
#include "cli/cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/strutil.h"
#include "input/nccltests.h"
#include "input/units.h"
#include "net/collective.h"
#include "net/fabric.h"

static const char help[] =
    "usage: clustersim collective --cluster FILE --op OP [options]\n"
    "\n"
    "Simulates one collective on an idle cluster, for each message size from the\n"
    "smallest to the largest, doubling, and prints the time, algbw and busbw as\n"
    "nccl-tests defines them (busbw = algbw x 2(n-1)/n for all_reduce, x (n-1)/n\n"
    "for all_gather, reduce_scatter and alltoall, x 1 otherwise).\n"
    "\n"
    "  --cluster FILE       cluster file or preset name (dgx-h100, ...)\n"
    "  --op OP              all_reduce (default), all_gather, reduce_scatter,\n"
    "                       alltoall, sendrecv, broadcast, p2p\n"
    "  --gpus N             the first N GPUs (default: all of the cluster)\n"
    "  --sizes MIN:MAX      message sizes, e.g. 8B:16GiB (default 8B:1GiB); sizes\n"
    "                       count as nccl-tests does (per rank for all_reduce,\n"
    "                       total for all_gather, reduce_scatter and alltoall)\n"
    "  --algo A             auto (default: as NCCL's tuner would choose), ring,\n"
    "                       tree, nvls, nvls_tree, hierarchical, p2p\n"
    "  --proto P            auto (default), LL, LL128, Simple: the protocol\n"
    "  --network-model M    flow (default), analytic, ideal\n"
    "  --format F           text (nccl-tests columns, default), csv, json\n"
    "  --compare FILE       simulate a measurement instead: FILE holds nccl-tests\n"
    "                       output (or CSV of size_bytes,busbw_GBps); its line\n"
    "                       '# clustersim: OPTIONS' gives the options above\n"
    "                       (the command line's come after and win; --sizes and\n"
    "                       --format do not apply), its line '# tolerance:\n"
    "                       1GiB 10%, ...' the error allowed per size. Prints\n"
    "                       measured against simulated; exit 1 when a size is\n"
    "                       outside its tolerance, 2 when the file is bad\n";

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
    unsigned protocols; /* 0: the tuner's choice */
    cs_network_model model;
    cs_format format;
    const char *compare; /* a measurement file, or NULL */
    int sizes_given, format_given;
} collective_args;

static const collective_args defaults = {
    NULL, CS_COLL_ALL_REDUCE, 0, 8, 1073741824.0, CS_ALGO_AUTO, 0, CS_NET_FLOW, CS_FORMAT_TEXT,
    NULL, 0, 0};

/* Parses options over what *a holds already (the defaults, or a measurement
 * file's options). */
static const char *op_name(int i) { return cs_coll_op_name((cs_coll_op)i); }
static const char *algo_name(int i) { return cs_coll_algo_name((cs_coll_algo)i); }

/* "unknown WHAT 'V'", with a "did you mean" among the n names. */
static void unknown_name(const char *what, const char *v, int n, const char *(*name)(int))
{
    const char *names[32];
    int k = 0;
    for (; k < n && k < 31; k++)
        names[k] = name(k);
    names[k] = NULL;
    const char *near = cs_did_you_mean(v, names);
    fprintf(stderr, "clustersim collective: unknown %s '%s'", what, v);
    if (near)
        fprintf(stderr, "; did you mean '%s'?", near);
    fputc('\n', stderr);
}

static int parse_collective_args(int argc, char **argv, collective_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *v;
        int k;
        if ((v = cs_cli_option(argc, argv, &i, "--cluster"))) {
            a->cluster = v;
        } else if ((v = cs_cli_option(argc, argv, &i, "--op"))) {
            if ((k = cs_coll_op_parse(v)) < 0) {
                unknown_name("op", v, CS_COLL_OP_COUNT, op_name);
                return -1;
            }
            a->op = (cs_coll_op)k;
        } else if ((v = cs_cli_option(argc, argv, &i, "--gpus"))) {
            char *end;
            a->gpus = strtol(v, &end, 10);
            if (*end || a->gpus < 2) {
                fprintf(stderr, "clustersim collective: --gpus wants a count of 2 or more\n");
                return -1;
            }
        } else if ((v = cs_cli_option(argc, argv, &i, "--sizes"))) {
            if (parse_sizes(v, &a->lo, &a->hi) != 0)
                return -1;
            a->sizes_given = 1;
        } else if ((v = cs_cli_option(argc, argv, &i, "--algo"))) {
            if ((k = cs_coll_algo_parse(v)) < 0) {
                unknown_name("algo", v, CS_ALGO_COUNT, algo_name);
                return -1;
            }
            a->algo = (cs_coll_algo)k;
        } else if ((v = cs_cli_option(argc, argv, &i, "--proto"))) {
            if (strcasecmp(v, "auto") != 0 && (k = cs_coll_proto_parse(v)) < 0) {
                fprintf(stderr,
                        "clustersim collective: unknown protocol '%s' (auto, LL, "
                        "LL128 or Simple)\n",
                        v);
                return -1;
            }
            a->protocols = strcasecmp(v, "auto") ? 1u << k : 0;
        } else if ((v = cs_cli_option(argc, argv, &i, "--network-model"))) {
            if (cs_cli_network_model(v, &a->model) != 0) {
                fprintf(stderr, "clustersim collective: unknown network model '%s'\n", v);
                return -1;
            }
        } else if ((v = cs_cli_option(argc, argv, &i, "--compare"))) {
            a->compare = v;
        } else if ((v = cs_cli_option(argc, argv, &i, "--format"))) {
            if (cs_cli_format(v, &a->format) != 0) {
                fprintf(stderr, "clustersim collective: unknown format '%s'\n", v);
                return -1;
            }
            a->format_given = 1;
        } else {
            fprintf(stderr, "clustersim collective: unknown argument '%s'\n", argv[i]);
            return -1;
        }
    }
    return 0;
}

/* The collective of the arguments at one size: its plan and time. */
static int simulate(const collective_args *a, const cs_fabric *f, const long *gpus, long n,
                    double size, cs_coll_plan *plan, double *t)
{
    cs_coll_spec spec = {a->op, a->algo, n, gpus, size, NULL, 0, a->protocols};
    int rc = cs_collective_plan(f, &spec, plan);
    if (rc == 0 && cs_collective_time(f, a->model, &spec, t, NULL) != 0)
        rc = -1;
    return rc;
}

/* Why a size could not be simulated: the algorithm or protocol cannot run
 * on these GPUs (-2), or memory ran out. */
static void plan_failed(const collective_args *a, int rc, long n, const char *cluster,
                        double size)
{
    if (rc == -2)
        fprintf(stderr, "clustersim collective: %s cannot run %s on %ld GPUs of %s%s\n",
                cs_coll_algo_name(a->algo), cs_coll_op_name(a->op), n, cluster,
                a->protocols ? " with that protocol" : "");
    else
        fprintf(stderr, "clustersim collective: out of memory at %.0f bytes\n", size);
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
        cs_coll_plan plan;
        double t;
        int rc = simulate(a, &fabric, gpus, n, size, &plan, &t);
        if (rc != 0) {
            plan_failed(a, rc, n, cluster->name, size);
            status = EXIT_BAD_INPUT;
            goto done;
        }
        double algbw = t > 0 ? size / t : 0;
        rows[count++] = (cs_coll_row){
            size, t, algbw, algbw * cs_collective_bus_factor(a->op, n), plan.algo, plan.proto};
    }
    cs_coll_report report = {
        a->op,         n,       (n + fabric.gpus_per_node - 1) / fabric.gpus_per_node,
        cluster->name, a->algo, a->model,
        rows,          count};
    cs_report_collective(stdout, a->format, &report);
done:
    free(gpus);
    free(rows);
    cs_fabric_free(&fabric);
    return status;
}

static double tolerance_at(const cs_nccl_measure *m, double size)
{
    for (int i = 0; i < m->tolerances; i++)
        if (m->tol_size[i] == size)
            return m->tol[i];
    return NAN;
}

/* Measured against simulated, size by size; the error is the simulated
 * busbw over the measured one, less 1 (the measured time over the simulated
 * one, less 1, where the file has times). */
static int compare(const collective_args *a, const cs_fabric *f, const cs_nccl_measure *m,
                   const char *cluster)
{
    long n = a->gpus ? a->gpus : f->gpus;
    long *gpus = malloc((size_t)n * sizeof *gpus);
    if (!gpus)
        return EXIT_BAD_INPUT;
    for (long i = 0; i < n; i++)
        gpus[i] = i;
    double factor = cs_collective_bus_factor(a->op, n);
    int checked = 0, outside = 0, status = EXIT_OK;
    printf("# clustersim collective --compare %s: %s on %ld GPUs of %s, network model %s\n",
           a->compare, cs_coll_op_name(a->op), n, cluster, cs_network_model_name(a->model));
    printf("#%11s  %10s %10s  %9s %9s  %8s %9s  %-8s %-12s %s\n", "size", "measured", "simulated",
           "measured", "simulated", "error", "tolerance", "verdict", "algo", "proto");
    printf("#%11s  %10s %10s  %9s %9s\n", "(B)", "time (us)", "time (us)", "busbw", "busbw");
    for (int i = 0; i < m->count; i++) {
        const cs_nccl_row *r = &m->rows[i];
        cs_coll_plan plan;
        double t;
        int rc = simulate(a, f, gpus, n, r->size, &plan, &t);
        if (rc != 0) {
            plan_failed(a, rc, n, cluster, r->size);
            status = EXIT_BAD_INPUT;
            break;
        }
        double busbw = r->size / t * factor;
        double err = !isnan(r->time) ? r->time / t - 1 : busbw / r->busbw - 1;
        double tol = tolerance_at(m, r->size);
        /* An error that is not a number (a zero time) is outside any tolerance. */
        int ok = fabs(err) <= tol;
        const char *verdict = isnan(tol) ? "" : ok ? "ok" : "OUTSIDE";
        checked += !isnan(tol);
        outside += !isnan(tol) && !ok;
        char mt[32] = "-", mb[32] = "-", tl[32] = "";
        if (!isnan(r->time))
            snprintf(mt, sizeof mt, "%.2f", r->time * 1e6);
        double measured_bus = !isnan(r->busbw) ? r->busbw : r->size / r->time * factor;
        snprintf(mb, sizeof mb, "%.2f", measured_bus / 1e9);
        if (!isnan(tol))
            snprintf(tl, sizeof tl, "%.0f%%", tol * 100);
        printf("%12.0f  %10s %10.2f  %9s %9.2f  %+7.1f%% %9s  %-8s %-12s %s\n", r->size, mt,
               t * 1e6, mb, busbw / 1e9, err * 100, tl, verdict, cs_coll_algo_name(plan.algo),
               cs_coll_proto_name(plan.proto));
    }
    free(gpus);
    if (status != EXIT_OK)
        return status;
    if (m->tolerances)
        printf("# %d sizes checked against their tolerance, %d outside\n", checked, outside);
    else
        printf("# no '# tolerance:' line in %s: nothing checked\n", a->compare);
    return outside ? EXIT_INVALID : EXIT_OK;
}

/* The file's own options ("# clustersim: ..."), then the command line's
 * over them. A bad option of the file is reported at its line. */
static int compare_args(int argc, char **argv, cs_nccl_measure *m, collective_args *a)
{
    char *words[32];
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(m->args, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (n == 32) {
            fprintf(stderr, "%s:%d:1: error: more than 32 words of options\n", a->compare,
                    m->args_line);
            return -1;
        }
        words[n++] = w;
    }
    const char *file = a->compare;
    *a = defaults;
    if (parse_collective_args(n, words, a) != 0) {
        fprintf(stderr, "%s:%d:1: error: bad options on the '# clustersim:' line\n", file,
                m->args_line);
        return -1;
    }
    a->sizes_given = a->format_given = 0;
    if (parse_collective_args(argc, argv, a) != 0)
        return -1;
    a->compare = file;
    if (a->sizes_given || a->format_given) {
        fprintf(stderr, "clustersim collective: --compare takes its sizes from the file and "
                        "prints its own table: no %s\n",
                a->sizes_given ? "--sizes" : "--format");
        return -1;
    }
    if (a->model == CS_NET_IDEAL) {
        fprintf(stderr, "clustersim collective: --compare holds flow or analytic against a "
                        "measurement; ideal has no latency to compare\n");
        return -1;
    }
    return 0;
}

static int load_cluster(const char *ref, const cs_paths *paths, cs_cluster *cluster)
{
    cs_sources src = {0};
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_cluster_load(ref, paths, &src, cluster, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    cs_sources_free(&src);
    return rc;
}

/* Loads the cluster, then measures (m NULL) or compares against m. */
static int run_collective(const collective_args *a, const cs_paths *paths,
                          const cs_nccl_measure *m)
{
    if (!a->cluster) {
        fprintf(stderr, "clustersim collective: --cluster is required\n");
        return EXIT_BAD_INPUT;
    }
    cs_cluster cluster;
    if (load_cluster(a->cluster, paths, &cluster) != 0)
        return EXIT_BAD_INPUT;
    if (a->gpus > cluster.nodes * cluster.gpus_per_node) {
        fprintf(stderr, "clustersim collective: --gpus %ld but %s has %ld GPUs\n", a->gpus,
                cluster.name, cluster.nodes * cluster.gpus_per_node);
        return EXIT_BAD_INPUT;
    }
    if (!m)
        return measure_collectives(a, &cluster);
    cs_fabric fabric;
    if (cs_fabric_init(&fabric, &cluster) != 0)
        return EXIT_BAD_INPUT;
    int status = compare(a, &fabric, m, cluster.name);
    cs_fabric_free(&fabric);
    return status;
}

static int cmd_collective(int argc, char **argv, const cs_paths *paths)
{
    if (cs_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return EXIT_OK;
    }
    collective_args a = defaults;
    if (parse_collective_args(argc, argv, &a) != 0) {
        fputs(help, stderr);
        return EXIT_BAD_INPUT;
    }
    if (!a.compare)
        return run_collective(&a, paths, NULL);
    cs_nccl_measure *m = malloc(sizeof *m); /* 4 KiB of rows: off the stack */
    if (!m)
        return EXIT_BAD_INPUT;
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_nccltests_read(a.compare, m, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    int status = rc != 0 || compare_args(argc, argv, m, &a) != 0 ? EXIT_BAD_INPUT
                                                                 : run_collective(&a, paths, m);
    free(m);
    return status;
}

const cs_command cs_cmd_collective = {"collective", help, cmd_collective};
