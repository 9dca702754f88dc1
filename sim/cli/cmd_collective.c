/* clustersim collective: a simulated nccl-tests on an idle cluster. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "                       alltoall, sendrecv, broadcast\n"
    "  --gpus N             the first N GPUs (default: all of the cluster)\n"
    "  --sizes MIN:MAX      message sizes, e.g. 8B:16GiB (default 8B:1GiB); sizes\n"
    "                       count as nccl-tests does (per rank for all_reduce,\n"
    "                       total for all_gather, reduce_scatter and alltoall)\n"
    "  --algo A             auto (default: as NCCL would choose), ring, tree,\n"
    "                       hierarchical\n"
    "  --network-model M    flow (default), analytic, ideal\n"
    "  --format F           text (nccl-tests columns, default), csv, json\n";

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
    *a = (collective_args){NULL,         CS_COLL_ALL_REDUCE, 0,           8,
                           1073741824.0, CS_ALGO_AUTO,       CS_NET_FLOW, CS_FORMAT_TEXT};
    for (int i = 0; i < argc; i++) {
        const char *v;
        int k;
        if ((v = cs_cli_option(argc, argv, &i, "--cluster"))) {
            a->cluster = v;
        } else if ((v = cs_cli_option(argc, argv, &i, "--op"))) {
            if ((k = cs_coll_op_parse(v)) < 0) {
                fprintf(stderr, "clustersim collective: unknown op '%s'\n", v);
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
        } else if ((v = cs_cli_option(argc, argv, &i, "--algo"))) {
            if ((k = cs_coll_algo_parse(v)) < 0) {
                fprintf(stderr, "clustersim collective: unknown algo '%s'\n", v);
                return -1;
            }
            a->algo = (cs_coll_algo)k;
        } else if ((v = cs_cli_option(argc, argv, &i, "--network-model"))) {
            if (cs_cli_network_model(v, &a->model) != 0) {
                fprintf(stderr, "clustersim collective: unknown network model '%s'\n", v);
                return -1;
            }
        } else if ((v = cs_cli_option(argc, argv, &i, "--format"))) {
            if (cs_cli_format(v, &a->format) != 0) {
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
        rows[count++] = (cs_coll_row){size, t, algbw, algbw * cs_collective_bus_factor(a->op, n),
                                      cs_collective_choose(&fabric, &spec)};
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

static int cmd_collective(int argc, char **argv, const cs_paths *paths)
{
    if (cs_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return EXIT_OK;
    }
    collective_args a;
    if (parse_collective_args(argc, argv, &a) != 0) {
        fputs(help, stderr);
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

const cs_command cs_cmd_collective = {"collective", help, cmd_collective};
