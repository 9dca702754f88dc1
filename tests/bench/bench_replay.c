/* Replay benchmarks (issue 4), run by hand: `cmake --build build --target bench`.
 *
 *   1. the seed scenario's Option 1 (512 GPUs, full iteration), flow and analytic
 *   2. scenarios/deepseek-v3-16k.yaml: 16,384 GPUs, analytic (flow with
 *      `bench_replay --big-flow`, which takes minutes)
 *
 * Prints wall time, engine events, events per second and peak RSS. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "model/layout.h"
#include "replay/replay.h"

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double peak_rss_mib(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0;
}

static int bench(const char *path, const char *layout, cs_network_model model)
{
    const char *const dirs[] = {CS_SOURCE_DIR, NULL};
    cs_paths paths = {dirs};
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    if (cs_scenario_load(path, &paths, &s, &d) != 0) {
        cs_diags_print(&d, stderr);
        return -1;
    }
    int rc = -1;
    for (size_t i = 0; i < s.layout_count; i++) {
        if (strcmp(s.layouts[i].name, layout) != 0)
            continue;
        cs_layout_sizes z;
        cs_replay_result r;
        if (cs_layout_check(&s, &s.layouts[i], &z, &d) != 0)
            break;
        double t0 = wall();
        rc = cs_replay(&s, &s.layouts[i], &z, model, s.seed, &r);
        double t = wall() - t0;
        if (rc == 0)
            printf("%-16s %-10s %6ld GPUs %-8s wall %7.3f s  iteration %8.4f s  ops %9ld  "
                   "events %10llu (%5.2f M/s)  peak RSS %7.1f MiB\n",
                   s.name, layout, z.world, cs_network_model_name(model), t, r.iteration_time_s,
                   r.ops, (unsigned long long)r.events, (double)r.events / t / 1e6,
                   peak_rss_mib());
        cs_replay_result_free(&r);
    }
    cs_scenario_free(&s);
    cs_diags_free(&d);
    return rc;
}

int main(int argc, char **argv)
{
    int big_flow = argc > 1 && !strcmp(argv[1], "--big-flow");
    const char *seed = CS_SOURCE_DIR "/scenarios/seed-options.yaml";
    const char *big = CS_SOURCE_DIR "/scenarios/deepseek-v3-16k.yaml";
    int rc = bench(seed, "option1", CS_NET_FLOW) || bench(seed, "option1", CS_NET_ANALYTIC) ||
             bench(big, "pp16-ep64", big_flow ? CS_NET_FLOW : CS_NET_ANALYTIC);
    return rc ? 1 : 0;
}
