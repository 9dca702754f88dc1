/* clustersim search (study/search.h): its best is the best of an exhaustive
 * replay of every candidate that is valid and fits; pruning drops exactly
 * what the layout rules and the memory estimate refuse, each with its
 * reason; the output does not depend on the number of workers; and the
 * command's outputs and errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/diag.h"
#include "model/memory.h"
#include "replay/replay.h"
#include "report/search_report.h"
#include "study/search.h"
#include "testutil.h"

/* A small dense model and a small MoE model on one 8-GPU node. */
static const char *const scenarios[] = {
    "model: { name: d, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
    "ffn_hidden_size: 4096, vocab_size: 32000, max_position_embeddings: 1024 }\n"
    "cluster: { base: dgx-h100, nodes: 1 }\n"
    "training: { seq_length: 1024, global_batch_size: 16, micro_batch_size: 1 }\n"
    "layouts:\n  - { name: typed, tp: 2, pp: 2 }\n",
    "model: { name: m, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
    "ffn_hidden_size: 2816, vocab_size: 32000, max_position_embeddings: 1024, swiglu: true, "
    "normalization: rmsnorm, position_embedding_type: rope, "
    "moe: { num_experts: 8, router_topk: 2, ffn_hidden_size: 704, layer_freq: 1 } }\n"
    "cluster: { base: dgx-h100, nodes: 1 }\n"
    "training: { seq_length: 1024, global_batch_size: 16, micro_batch_size: 1, "
    "sequence_parallel: true, moe_token_dispatcher_type: alltoall }\n"
    "layouts:\n  - { name: typed, tp: 1, pp: 2, ep: 4 }\n",
};

static void load(int i, cs_scenario *s)
{
    cs_diags d;
    cs_diags_init(&d);
    int rc = tu_load_scenario(scenarios[i], s, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert_int_eq(rc, 0);
}

/* With every evaluated candidate replayed again (top larger than the
 * space), the best is the least iteration time of a replay of every valid
 * candidate that fits, under either model. */
START_TEST(best_is_the_exhaustive_best)
{
    cs_scenario s;
    load(_i / 2, &s);
    cs_network_model model = _i % 2 ? CS_NET_FLOW : CS_NET_ANALYTIC;
    cs_search r;
    cs_search_options o = {2, 1000000, model};
    ck_assert_int_eq(cs_search_run(&s, &o, &r), 0);
    ck_assert(r.evaluated > 3);
    double best = -1;
    long best_i = -1, fitting = 0;
    for (long i = 0; i < r.count; i++) {
        cs_layout_sizes z;
        cs_diags d;
        cs_diags_init(&d);
        int rc = cs_layout_check(&s, &r.c[i].layout, &z, &d);
        cs_diags_free(&d);
        if (rc != 0)
            continue;
        cs_memory_breakdown b;
        cs_memory_peak(&s, &z, &b);
        if (b.total > s.cluster.gpu.memory)
            continue;
        fitting++;
        cs_replay_result res;
        ck_assert_int_eq(cs_replay(&s, &r.c[i].layout, &z, model, s.seed, &res), 0);
        if (best < 0 || res.iteration_time_s < best) {
            best = res.iteration_time_s;
            best_i = i;
        }
        cs_replay_result_free(&res);
    }
    ck_assert_int_eq(fitting, r.evaluated);
    const cs_search_candidate *top = &r.c[r.ranked[0]];
    ck_assert_msg(top->iteration_time_s == best, "search %.17g (%s), exhaustive %.17g (%s)",
                  top->iteration_time_s, top->layout.name, best, r.c[best_i].layout.name);
    ck_assert_int_eq(top->rank, 1);
    ck_assert_int_eq(top->stage, model);
    /* Ranks ascend with time. */
    for (long k = 1; k < r.evaluated; k++)
        ck_assert(r.c[r.ranked[k - 1]].iteration_time_s <= r.c[r.ranked[k]].iteration_time_s);
    cs_search_free(&r);
    cs_scenario_free(&s);
}
END_TEST

/* Pruned exactly when check refuses (the rule's message kept) or the
 * estimate exceeds the GPU; kept otherwise. */
START_TEST(pruning_is_what_check_refuses)
{
    cs_scenario s;
    load(_i, &s);
    s.cluster.gpu.memory = 1.5e9; /* so that some fit and some do not */
    cs_search r;
    cs_search_options o = {2, 3, CS_NET_ANALYTIC};
    ck_assert_int_eq(cs_search_run(&s, &o, &r), 0);
    long seen[4] = {0, 0, 0, 0};
    for (long i = 0; i < r.count; i++) {
        const cs_search_candidate *c = &r.c[i];
        cs_layout_sizes z;
        cs_diags d;
        cs_diags_init(&d);
        int valid = cs_layout_check(&s, &c->layout, &z, &d) == 0;
        const char *first = NULL;
        for (size_t k = 0; k < d.count && !first; k++)
            if (d.items[k].severity == CS_ERROR)
                first = d.items[k].message;
        int fits = 0;
        if (valid) {
            cs_memory_breakdown b;
            cs_memory_peak(&s, &z, &b);
            fits = b.total <= s.cluster.gpu.memory;
        }
        cs_search_fate want = !valid ? CS_FATE_INVALID : !fits ? CS_FATE_NO_FIT
                                                               : CS_FATE_EVALUATED;
        ck_assert_msg(c->fate == want || (want == CS_FATE_EVALUATED && c->fate == CS_FATE_REPLAYED),
                      "%s: fate %d, check says %d", c->layout.name, c->fate, want);
        if (!valid)
            ck_assert_str_eq(c->why, first);
        if (want == CS_FATE_NO_FIT)
            ck_assert_ptr_nonnull(strstr(c->why, "GB of memory"));
        seen[c->fate]++;
        cs_diags_free(&d);
    }
    ck_assert(seen[CS_FATE_INVALID] > 0 && seen[CS_FATE_NO_FIT] > 0);
    ck_assert_int_eq(seen[CS_FATE_EVALUATED] + seen[CS_FATE_REPLAYED], r.evaluated);
    ck_assert_int_eq(r.invalid + r.no_fit + r.evaluated, r.count);
    cs_search_free(&r);
    cs_scenario_free(&s);
}
END_TEST

static char *csv_of(const cs_scenario *s, int jobs)
{
    cs_search r;
    cs_search_options o = {jobs, 5, CS_NET_FLOW};
    ck_assert_int_eq(cs_search_run(s, &o, &r), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    cs_report_search_csv(f, &r);
    cs_report_search(f, CS_FORMAT_JSON, s, &r, -1);
    fclose(f);
    cs_search_free(&r);
    return buf;
}

START_TEST(same_output_for_any_jobs)
{
    cs_scenario s;
    load(1, &s);
    char *a = csv_of(&s, 1), *b = csv_of(&s, 2), *c = csv_of(&s, 3);
    ck_assert_str_eq(a, b);
    ck_assert_str_eq(a, c);
    free(a);
    free(b);
    free(c);
    cs_scenario_free(&s);
}
END_TEST

/* The command on the seed: the ranking, the scenario's layouts placed in it,
 * the best as a layouts: entry and as Megatron arguments, search.csv and
 * search.json; --format json prints the contract's fields; bad input. */
START_TEST(command_on_the_seed)
{
    char cmd[8192], *out = NULL, *err = NULL;
    const char *dir = tu_temp_dir();
    snprintf(cmd, sizeof cmd,
             "'%s' search '%s/scenarios/seed-options.yaml' --network-model analytic --top 3 "
             "--jobs 2 --out '%s/s'",
             CS_BINARY, CS_SOURCE_DIR, dir);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "pruned, by rule:"));
    ck_assert_ptr_nonnull(strstr(out, "the scenario's option1: rank "));
    ck_assert_ptr_nonnull(strstr(out, "the scenario's original: invalid, or outside the space"));
    ck_assert_ptr_nonnull(strstr(out, "the best, as a layouts: entry:\n  - { name: tp"));
    ck_assert_ptr_nonnull(strstr(out, "--tensor-model-parallel-size "));
    free(out);
    free(err);
    char path[4096];
    snprintf(path, sizeof path, "%s/s/search.csv", dir);
    char *csv = tu_read(path);
    ck_assert_ptr_nonnull(csv);
    const char *header = "name,tp,pp,ep,etp,vpp,micro_batch_size,schedule,recompute,fate,";
    ck_assert(!strncmp(csv, header, strlen(header)));
    ck_assert_ptr_nonnull(strstr(csv, ",invalid,\""));
    ck_assert_ptr_nonnull(strstr(csv, ",evaluated,\""));
    free(csv);
    snprintf(cmd, sizeof cmd,
             "'%s' search '%s/scenarios/seed-options.yaml' --network-model analytic --top 2 "
             "--format json --out '%s/j'",
             CS_BINARY, CS_SOURCE_DIR, dir);
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
    static const char *const keys[] = {
        "\"candidates\": [", "\"name\":", "\"tp\":", "\"pp\":", "\"ep\":", "\"etp\":", "\"dp\":",
        "\"vpp\":", "\"micro_batch_size\":", "\"schedule\":", "\"recompute\":",
        "\"iteration_time_s\":", "\"throughput_seq_per_s\":", "\"memory_peak_bytes\":",
        "\"memory_fits\":", "\"stage\": \"analytic\""};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        ck_assert_msg(strstr(out, keys[k]) != NULL, "no %s in %s", keys[k], out);
    ck_assert_ptr_null(strstr(strstr(out, "\"rank\": 2") + 1, "\"rank\": 3"));
    free(out);
    static const char *const bad[][2] = {
        {"--top 0 x.yaml", "--top wants a positive number"},
        {"--jobs 65 x.yaml", "--jobs wants 1 to 64"},
        {"--format yaml x.yaml", "unknown format 'yaml'"},
        {"--network-model wire x.yaml", "unknown network model 'wire'"},
        {"--frobnicate x.yaml", "unknown option '--frobnicate'"},
        {"x.yaml a.yaml", "one scenario file at a time"},
        {"", "which scenario file?"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        snprintf(cmd, sizeof cmd, "'%s' search %s", CS_BINARY, bad[k][0]);
        ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
        ck_assert_msg(strstr(err, bad[k][1]) != NULL, "'%s': %s", bad[k][0], err);
        free(err);
    }
    snprintf(cmd, sizeof cmd, "'%s' search '%s/missing.yaml' --out '%s/m'", CS_BINARY, dir, dir);
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("search");
    TCase *tc = tcase_create("search");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, best_is_the_exhaustive_best, 0, 4);
    tcase_add_loop_test(tc, pruning_is_what_check_refuses, 0, 2);
    tcase_add_test(tc, same_output_for_any_jobs);
    tcase_add_test(tc, command_on_the_seed);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
