/* compare: the paired interval against a hand computation on fixed samples,
 * the attribution adding up to the difference, common random numbers (the
 * first replay is run's), the summary, and the command's output, files and
 * errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay/runner.h"
#include "study/compare.h"
#include "testutil.h"

/* d = 1..5: mean 3, sd sqrt(2.5), t(0.975, 4) = 2.7764451051977987 (the
 * Student-t table), half width t sd / sqrt(5). One sample, or equal ones,
 * give a point. */
START_TEST(paired_interval_by_hand)
{
    double d[5] = {1, 2, 3, 4, 5};
    cs_paired p;
    cs_paired_interval(d, 5, &p);
    double half = 2.7764451051977987 * sqrt(2.5) / sqrt(5.0);
    ck_assert(p.mean == 3);
    assert_close(p.lo, 3 - half, 1e-12);
    assert_close(p.hi, 3 + half, 1e-12);
    cs_paired_interval(d + 2, 1, &p);
    ck_assert(p.mean == 3 && p.lo == 3 && p.hi == 3);
    double same[3] = {0.25, 0.25, 0.25};
    cs_paired_interval(same, 3, &p);
    ck_assert(p.lo == 0.25 && p.hi == 0.25);
}
END_TEST

/* Two layouts of a small MoE model with random routing and kernel jitter on
 * two nodes; a third needs more GPUs than there are. */
static const char *scenario =
    "name: cmp\n"
    "model: { name: m, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
    "ffn_hidden_size: 4096, vocab_size: 32000, moe: { num_experts: 16, router_topk: 2, "
    "ffn_hidden_size: 1024 } }\n"
    "cluster: { base: dgx-h100, nodes: 2 }\n"
    "training: { seq_length: 1024, global_batch_size: 32, moe_routing: random, "
    "moe_token_dispatcher_type: alltoall, sequence_parallel: true }\n"
    "network_model: analytic\n"
    "uncertainty: { compute_jitter: 5% }\n"
    "layouts:\n"
    "  - { name: a, tp: 1, pp: 2, ep: 8 }\n"
    "  - { name: big, tp: 8, pp: 4, ep: 16 }\n"
    "  - { name: b, tp: 2, pp: 1, ep: 8 }\n";

static void load(cs_scenario *s)
{
    cs_diags d;
    cs_diags_init(&d);
    int rc = tu_load_scenario(scenario, s, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert_int_eq(rc, 0);
}

START_TEST(pairs_add_up)
{
    cs_scenario s;
    load(&s);
    cs_compare c;
    ck_assert_int_eq(cs_compare_run(&s, CS_NET_ANALYTIC, 7, 4, 2, &c), 0);
    ck_assert(c.draws && c.repeats == 4 && c.count == 3);
    ck_assert(c.layouts[0].valid && !c.layouts[1].valid && c.layouts[2].valid);
    ck_assert_ptr_nonnull(strstr(c.layouts[1].reason, "does not divide"));
    ck_assert_int_eq(c.npairs, 1);
    const cs_compare_pair *p = &c.pairs[0];
    const cs_compare_layout *A = &c.layouts[0], *B = &c.layouts[2];
    ck_assert(p->a == 0 && p->b == 2);
    /* the replays differ, so the interval is not a point */
    ck_assert(A->times[0] != A->times[1] && p->time_s.lo < p->time_s.hi);
    double sum = 0, mean = 0;
    for (int k = 0; k < CS_ATTR_KINDS; k++) {
        sum += p->attr_s[k];
        assert_close(p->attr_s[k] + 1, B->attr_s[k] - A->attr_s[k] + 1, 1e-12);
    }
    assert_close(sum, p->time_s.mean, 1e-9);
    for (int r = 0; r < 4; r++)
        mean += (B->times[r] - A->times[r]) / 4;
    assert_close(p->time_s.mean, mean, 1e-12);
    assert_close(p->time_s.mean, B->time_s - A->time_s, 1e-9);
    long fast = p->time_s.mean < 0 ? 2 : 0, slow = 2 - fast;
    ck_assert(p->faster == fast || (p->faster == -1 && p->time_s.lo <= 0 && p->time_s.hi >= 0));
    double ratio = 0;
    for (int r = 0; r < 4; r++)
        ratio += (c.layouts[slow].times[r] / c.layouts[fast].times[r] - 1) / 4;
    assert_close(p->speedup.mean, ratio, 1e-12);
    /* Common random numbers: replay 0 of every layout is run's with the seed. */
    cs_run run;
    ck_assert_int_eq(cs_run_scenario(&s, CS_NET_ANALYTIC, 7, NULL, &run), 0);
    ck_assert(run.layouts[0].result.iteration_time_s == A->times[0]);
    ck_assert(run.layouts[2].result.iteration_time_s == B->times[0]);
    cs_run_free(&run);
    /* the same numbers on one worker as on two */
    cs_compare one;
    ck_assert_int_eq(cs_compare_run(&s, CS_NET_ANALYTIC, 7, 4, 1, &one), 0);
    for (int k = 0; k < 4; k++)
        ck_assert(one.layouts[0].times[k] == A->times[k] && one.layouts[2].times[k] == B->times[k]);
    ck_assert(one.pairs[0].time_s.lo == p->time_s.lo && one.pairs[0].time_s.hi == p->time_s.hi);
    cs_compare_free(&one);
    char text[1024];
    cs_compare_summary(&s, &c, p, text, sizeof text);
    if (p->faster >= 0) {
        char want[CS_NAME_MAX + 8];
        snprintf(want, sizeof want, "%s is ", s.layouts[p->faster].name);
        ck_assert_msg(!strncmp(text, want, strlen(want)), "%s", text);
        ck_assert_ptr_nonnull(strstr(text, "95% CI"));
        /* memory: what each holds at its peak, of the GPU's */
        char mem[256];
        long fi = p->faster, si = fi == p->a ? p->b : p->a;
        snprintf(mem, sizeof mem, "holds %.1f GB per GPU and %s %.1f GB, of %.0f GB.",
                 c.layouts[fi].memory_peak_bytes / 1e9, s.layouts[c.layouts[si].index].name,
                 c.layouts[si].memory_peak_bytes / 1e9, s.cluster.gpu.memory / 1e9);
        ck_assert_msg(strstr(text, mem) != NULL, "%s", text);
    }
    cs_compare_free(&c);
    cs_scenario_free(&s);
}
END_TEST

/* Two copies of one layout: with the same seeds every paired difference is
 * 0, the interval is the point 0, and neither is faster. */
START_TEST(neither_is_faster)
{
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "%.*s  - { name: a2, tp: 1, pp: 2, ep: 8 }\n",
             (int)(strstr(scenario, "  - { name: big") - scenario), scenario);
    ck_assert_int_eq(tu_load_scenario(yaml, &s, &d), 0);
    cs_diags_free(&d);
    cs_compare c;
    ck_assert_int_eq(cs_compare_run(&s, CS_NET_ANALYTIC, 3, 3, 1, &c), 0);
    ck_assert_int_eq(c.npairs, 1);
    const cs_compare_pair *p = &c.pairs[0];
    ck_assert(p->time_s.mean == 0 && p->time_s.lo == 0 && p->time_s.hi == 0 && p->faster == -1);
    char text[1024];
    cs_compare_summary(&s, &c, p, text, sizeof text);
    ck_assert_msg(!strncmp(text, "Neither a nor a2 is faster at 95% confidence", 44), "%s", text);
    cs_compare_free(&c);
    cs_scenario_free(&s);
}
END_TEST

/* The command on the seed (nothing drawn at random: one exact replay), its
 * JSON, its files, and its errors. */
START_TEST(command)
{
    char cmd[8192], *out = NULL, *err = NULL;
    const char *dir = tu_temp_dir();
    snprintf(cmd, sizeof cmd,
             "'%s' compare '%s/scenarios/seed-options.yaml' --network-model analytic "
             "--format json --out '%s/c'",
             CS_BINARY, CS_SOURCE_DIR, dir);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"repeats\": 1,\n  \"random\": false"));
    ck_assert_ptr_nonnull(strstr(out, "\"a\": \"option1\",\n      \"b\": \"option2\",\n"
                                      "      \"faster\": \"option1\""));
    ck_assert_ptr_nonnull(strstr(out, "\"summary\": \"option1 is "));
    ck_assert_ptr_nonnull(strstr(out, "\"error\": \"needs 2048 GPUs"));
    char path[4096];
    snprintf(path, sizeof path, "%s/c/compare.json", dir);
    char *file = tu_read(path);
    ck_assert_ptr_nonnull(file);
    ck_assert_str_eq(file, out); /* the file is what was printed */
    free(file);
    free(out);
    free(err);
    snprintf(path, sizeof path, "%s/c/compare.txt", dir);
    file = tu_read(path);
    ck_assert_ptr_nonnull(file);
    ck_assert_ptr_nonnull(strstr(file, "option1 vs option2"));
    ck_assert_ptr_nonnull(strstr(file, "nothing is drawn at random"));
    free(file);
    /* pair1.dat: the kinds add up to the difference */
    snprintf(path, sizeof path, "%s/c/pair1.dat", dir);
    file = tu_read(path);
    ck_assert_ptr_nonnull(file);
    double sum = 0, mean = NAN, v, lo, hi;
    char name[64];
    for (char *line = strtok(file, "\n"); line; line = strtok(NULL, "\n")) {
        if (sscanf(line, "\"difference\"\t%lf\t%lf\t%lf", &mean, &lo, &hi) == 3)
            ck_assert(lo == mean && hi == mean); /* one exact replay */
        else if (sscanf(line, "\"%63[a-z]\"\t%lf", name, &v) == 2)
            sum += v;
    }
    assert_close(sum, mean, 1e-6);
    ck_assert(mean > 0); /* option2 is the slower */
    free(file);
    snprintf(cmd, sizeof cmd, "rm -rf '%s/c'", dir);
    ck_assert_int_eq(system(cmd), 0);
    /* More than one replay of a scenario that draws nothing: refused. */
    snprintf(cmd, sizeof cmd, "'%s' compare '%s/scenarios/seed-options.yaml' --repeats 5",
             CS_BINARY, CS_SOURCE_DIR);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "nothing in the scenario is drawn at random"));
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "'%s' compare '%s/scenarios/seed-options.yaml' --repeats 0",
             CS_BINARY, CS_SOURCE_DIR);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--repeats wants 1 to 1000, got '0'"));
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "'%s' compare '%s/scenarios/seed-options.yaml' --repeat 3",
             CS_BINARY, CS_SOURCE_DIR);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "did you mean '--repeats'"));
    free(out);
    free(err);
    /* One valid layout: nothing to compare, exit 1. */
    snprintf(cmd, sizeof cmd, "'%s' compare %s --out '%s/one'", CS_BINARY,
             tu_write("one.yaml", "model: moe-30b\ncluster: cluster-512-64gb\n"
                                  "training: { seq_length: 2048, global_batch_size: 128, "
                                  "sequence_parallel: true }\n"
                                  "layouts: [{ tp: 4, pp: 4, ep: 8, dp: 4 }]\n"),
             dir);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(out, "fewer than two valid layouts"));
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "rm -rf '%s/one' '%s/one.yaml'", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("compare");
    TCase *t = tcase_create("pairs");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, paired_interval_by_hand);
    tcase_add_test(t, pairs_add_up);
    tcase_add_test(t, neither_is_faster);
    tcase_add_test(t, command);
    suite_add_tcase(s, t);
    return tu_main(s);
}
