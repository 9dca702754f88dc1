/* Network benchmarks (issue 3), run by hand: `cmake --build build --target bench`.
 *
 *   1. a 1 GiB ring all-reduce over 512 GPUs (dgx-h100, 64 nodes), flow model
 *   2. 64 concurrent 8-GPU all-to-alls of 256 MiB, each over 8 nodes (one GPU
 *      per node, as expert-parallel groups strided across nodes), flow model
 *
 * Prints wall time, engine events per second, rate solves and peak RSS. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "net/collective.h"
#include "input/config.h"
#include "replay/exec.h"

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long peak_rss_kib(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

static void report(const char *name, double seconds, double sim, cs_engine *e, cs_net *n)
{
    uint64_t events = cs_engine_events(e);
    printf("%-44s wall %7.3f s  simulated %9.3f ms  events %9llu (%5.2f M/s)  solves %8llu"
           "  transfers %8llu\n",
           name, seconds, sim * 1e3, (unsigned long long)events, (double)events / seconds / 1e6,
           (unsigned long long)cs_net_solves(n), (unsigned long long)cs_net_transfers(n));
}

static void note_end(void *ctx, long arg)
{
    (void)arg;
    (void)ctx;
}

static int ring_allreduce(const cs_fabric *f, cs_coll_algo algo, const char *name)
{
    long n = f->gpus;
    long *gpus = malloc((size_t)n * sizeof *gpus);
    for (long i = 0; i < n; i++)
        gpus[i] = i;
    cs_engine *e = cs_engine_create();
    cs_net *net = cs_net_create(e, f, CS_NET_FLOW);
    cs_coll_spec spec = {CS_COLL_ALL_REDUCE, algo, n, gpus, 1073741824.0, NULL, 0, 0};
    double t0 = wall();
    if (cs_collective_start(net, &spec, note_end, NULL, 0) != 0)
        return -1;
    cs_engine_run(e);
    report(name, wall() - t0, cs_engine_now(e), e, net);
    cs_net_destroy(net);
    cs_engine_destroy(e);
    free(gpus);
    return 0;
}

static int concurrent_alltoalls(const cs_fabric *f)
{
    enum { GROUPS = 64, SIZE = 8 };
    long members[GROUPS][SIZE];
    cs_engine *e = cs_engine_create();
    cs_net *net = cs_net_create(e, f, CS_NET_FLOW);
    cs_exec *x = cs_exec_create(net, f->gpus, 1);
    /* Group g: GPU (g % 8) of nodes 8 (g / 8) .. 8 (g / 8) + 7. */
    for (long g = 0; g < GROUPS; g++) {
        for (long i = 0; i < SIZE; i++)
            members[g][i] = (g / 8 * 8 + i) * f->gpus_per_node + g % 8;
        cs_coll_spec spec = {CS_COLL_ALLTOALL, CS_ALGO_AUTO, SIZE, members[g], 268435456.0,
                             NULL, 0, 0};
        if (cs_exec_collective(x, &spec, 0, g) < 0)
            return -1;
    }
    double t0 = wall();
    if (cs_exec_run(x) != 0)
        return -1;
    report("64 concurrent 8-GPU all-to-alls, 256 MiB", wall() - t0, cs_exec_makespan(x), e, net);
    cs_exec_destroy(x);
    cs_net_destroy(net);
    cs_engine_destroy(e);
    return 0;
}

int main(int argc, char **argv)
{
    const char *const dirs[] = {CS_SOURCE_DIR, NULL};
    cs_paths paths = {dirs};
    cs_sources src = {0};
    cs_cluster cluster;
    cs_diags d;
    cs_fabric f;
    cs_diags_init(&d);
    if (cs_cluster_load(argc > 1 ? argv[1] : "dgx-h100", &paths, &src, &cluster, &d) != 0 ||
        cs_fabric_init(&f, &cluster) != 0) {
        cs_diags_print(&d, stderr);
        return 2;
    }
    printf("cluster %s: %ld GPUs\n", cluster.name, f.gpus);
    int rc = ring_allreduce(&f, CS_ALGO_RING, "1 GiB ring all-reduce, 512 GPUs") ||
             ring_allreduce(&f, CS_ALGO_TREE, "1 GiB tree all-reduce, 512 GPUs") ||
             concurrent_alltoalls(&f);
    printf("peak RSS %.1f MiB\n", (double)peak_rss_kib() / 1024.0);
    cs_fabric_free(&f);
    cs_sources_free(&src);
    cs_diags_free(&d);
    return rc ? 1 : 0;
}
