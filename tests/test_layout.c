/* Layout rules: world size, divisibility, expert and dense data parallelism,
 * schedules, group spans, placement. */
#include <stdio.h>
#include <string.h>

#include "model/layout.h"
#include "testutil.h"

/* A scenario on `nodes` x 8 GPUs with the seed's model; `layouts` is the YAML
 * list body (one "  - {...}" per line), starting on line 11. */
static void load(const char *model, int nodes, const char *training_extra, const char *layouts,
                 cs_scenario *s)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "name: t\n"                                     /* 1 */
             "model: %s\n"                                   /* 2 */
             "cluster: { base: cluster-512-64gb, nodes: %d }\n" /* 3 */
             "training:\n"                                   /* 4 */
             "  seq_length: 2048\n"                          /* 5 */
             "  global_batch_size: 128\n"                    /* 6 */
             "  %s\n"                                        /* 7 */
             "  distributed_optimizer: true\n"               /* 8 */
             "  %s\n"                                        /* 9 */
             "layouts:\n"                                    /* 10 */
             "%s",
             model, nodes,
             /* Sequence parallelism is on unless the test sets it itself. */
             strstr(training_extra, "sequence_parallel") ? "precision: bf16"
                                                         : "sequence_parallel: true",
             training_extra, layouts);
    cs_diags d;
    cs_diags_init(&d);
    int rc = tu_load_scenario(yaml, s, &d);
    cs_diags_print(&d, stderr);
    ck_assert_int_eq(rc, 0);
    cs_diags_free(&d);
}

static int check(const cs_scenario *s, size_t i, cs_layout_sizes *z, cs_diags *d)
{
    cs_diags_init(d);
    return cs_layout_check(s, &s->layouts[i], z, d);
}

START_TEST(seed_original_needs_2048_gpus)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    load("moe-30b", 64, "", "  - { name: original, tp: 8, pp: 4, ep: 16, dp: 4 }\n", &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    ck_assert_int_eq(z.world, 2048);
    tu_assert_diag(&d, CS_ERROR, "needs 2048 GPUs (tp 8 x pp 4 x ep 16 x dp 4); the cluster has 512",
                   11, 49);
    tu_assert_diag(&d, CS_NOTE, "the cluster fits dp 1", 11, 49);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

START_TEST(seed_options_are_valid_with_their_sizes)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    load("moe-30b", 64, "",
         "  - { name: option1, tp: 4, pp: 4, ep: 8, dp: 4 }\n"
         "  - { name: option2, tp: 2, pp: 8, ep: 8, dp: 4 }\n",
         &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), 0);
    ck_assert_int_eq(z.world, 512);
    ck_assert_int_eq(z.dense_dp, 32);
    ck_assert_int_eq(z.expert_dp, 4);
    ck_assert_int_eq(z.microbatches, 4);
    ck_assert_int_eq(z.layers_per_stage, 4);
    ck_assert_int_eq(z.experts_per_gpu, 8);
    /* tp 4 sits in a node; ep 8 at stride 4 spans 32 ranks = 4 nodes. */
    ck_assert_int_eq(z.tp_group_nodes, 1);
    ck_assert_int_eq(z.ep_group_nodes, 4);
    tu_assert_diag(&d, CS_WARNING, "expert-parallel group of 8 GPUs spans 4 nodes", 11, 40);
    cs_diags_free(&d);
    ck_assert_int_eq(check(&s, 1, &z, &d), 0);
    ck_assert_int_eq(z.layers_per_stage, 2);
    ck_assert_int_eq(z.ep_group_nodes, 2);
    /* m = 4 < p = 8: bubble at least 7/11. */
    tu_assert_diag(&d, CS_WARNING, "only 4 micro-batches for 8 pipeline stages", 12, 33);
    ck_assert_ptr_nonnull(tu_find(&d, "= 64% of the iteration"));
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

START_TEST(megatron_style_dp_is_recognised)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    /* Megatron's DP for option 1 would be 32 (= ep 8 x dp 4). */
    load("moe-30b", 64, "", "  - { name: m, tp: 4, pp: 4, ep: 8, dp: 32 }\n", &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "needs 4096 GPUs", 11, 41);
    tu_assert_diag(&d, CS_NOTE, "looks like Megatron's data-parallel size", 11, 41);
    ck_assert_ptr_nonnull(tu_find(&d, "use dp 4"));
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

START_TEST(dp_is_derived_when_left_out)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    load("moe-30b", 64, "", "  - { name: d, tp: 4, pp: 4, ep: 8 }\n", &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), 0);
    ck_assert_int_eq(z.dp, 4);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

/* 8 nodes = 64 GPUs; each layout breaks one rule, reported at its key. */
START_TEST(divisibility_rules)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    load("moe-30b", 8, "",
         "  - { name: heads, tp: 32, pp: 1, ep: 2, dp: 1 }\n"     /* 11 */
         "  - { name: layers, tp: 2, pp: 32, ep: 1, dp: 1 }\n"    /* 12 */
         "  - { name: experts, tp: 1, pp: 1, ep: 64, dp: 1 }\n"   /* 13 */
         "  - { name: batch, tp: 1, pp: 2, ep: 16, dp: 2, micro_batch_size: 3 }\n" /* 14 */
         "  - { name: etp, tp: 4, pp: 1, ep: 8, dp: 2, etp: 3 }\n", /* 15 */
         &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "num_attention_heads 16 is not divisible by tp 32", 11, 24);
    tu_assert_diag(&d, CS_ERROR, "num_query_groups 16 is not divisible by tp 32", 11, 24);
    cs_diags_free(&d);
    ck_assert_int_eq(check(&s, 1, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "num_layers 16 is not divisible by pp 32 x vpp 1", 12, 32);
    cs_diags_free(&d);
    /* 64 experts over ep 64 is fine; the batch 128 over 64 x 1 x 1 too. */
    ck_assert_int_eq(check(&s, 2, &z, &d), 0);
    ck_assert_int_eq(z.experts_per_gpu, 1);
    cs_diags_free(&d);
    ck_assert_int_eq(check(&s, 3, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR,
                   "global_batch_size 128 is not divisible by ep 16 x dp 2 x micro_batch_size 3 = 96",
                   14, 46);
    cs_diags_free(&d);
    ck_assert_int_eq(check(&s, 4, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "tp 4 x dp 2 is not divisible by etp 3", 15, 51);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

START_TEST(experts_not_divisible_by_ep)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    /* 6 nodes = 48 GPUs; ep 48 does not divide 64 experts. */
    load("moe-30b", 6, "", "  - { name: e, tp: 1, pp: 1, ep: 48, dp: 1 }\n", &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "moe.num_experts 64 is not divisible by ep 48", 11, 34);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

START_TEST(dense_model_needs_ep_1)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    load("llama3-70b", 8, "", "  - { name: e, tp: 8, pp: 4, ep: 2, dp: 1 }\n", &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "ep is 2 but model llama3-70b is dense", 11, 34);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

START_TEST(interleaved_needs_vpp)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    load("moe-30b", 64, "schedule: interleaved",
         "  - { name: novpp, tp: 4, pp: 4, ep: 8, dp: 4 }\n"
         "  - { name: vpp2, tp: 4, pp: 4, ep: 8, dp: 4, vpp: 2 }\n"
         "  - { name: vpp8, tp: 4, pp: 4, ep: 8, dp: 4, vpp: 8 }\n",
         &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    ck_assert_ptr_nonnull(tu_find(&d, "schedule interleaved needs virtual_pipeline_stages"));
    cs_diags_free(&d);
    ck_assert_int_eq(check(&s, 1, &z, &d), 0);
    ck_assert_int_eq(z.layers_per_virtual_stage, 2);
    cs_diags_free(&d);
    /* 16 layers over 4 x 8 virtual stages do not split. */
    ck_assert_int_eq(check(&s, 2, &z, &d), -1);
    ck_assert_ptr_nonnull(tu_find(&d, "num_layers 16 is not divisible by pp 4 x vpp 8"));
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

/* Megatron-Core refuses EP with TP unless sequence parallelism is on. */
START_TEST(expert_and_tensor_parallel_need_sequence_parallel)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    load("moe-30b", 64, "sequence_parallel: false",
         "  - { name: nosp, tp: 4, pp: 4, ep: 8, dp: 4 }\n"
         "  - { name: tp1, tp: 1, pp: 4, ep: 8, dp: 16 }\n",
         &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "expert parallelism with tensor parallelism needs "
                                 "sequence_parallel: true", 11, 23);
    cs_diags_free(&d);
    ck_assert_int_eq(check(&s, 1, &z, &d), 0);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

START_TEST(interleaved_needs_microbatches_multiple_of_pp)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    /* 128 / (ep 8 x dp 4) = 4 micro-batches over pp 8 stages. */
    load("moe-30b", 64, "schedule: interleaved",
         "  - { name: p8, tp: 2, pp: 8, ep: 8, dp: 4, vpp: 2 }\n", &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "4 micro-batches is not a multiple of pp 8", 11, 28);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

/* Counts too large to multiply are refused, not a crash. */
START_TEST(huge_counts_refused)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    load("moe-30b", 64, "",
         "  - { name: huge, tp: 4294967296, pp: 4294967296, ep: 1, dp: 1 }\n"
         "  - { name: etp, tp: 2, pp: 4, ep: 8, dp: 8, etp: 4 }\n",
         &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    ck_assert_ptr_nonnull(tu_find(&d, "must each be at most"));
    cs_diags_free(&d);
    ck_assert_int_eq(check(&s, 1, &z, &d), -1);
    ck_assert_ptr_nonnull(tu_find(&d, "etp 4 does not divide tp 2"));
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

START_TEST(tensor_group_across_nodes_warns)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    load("moe-30b", 8, "", "  - { name: wide, tp: 16, pp: 1, ep: 4, dp: 1 }\n", &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), 0);
    ck_assert_int_eq(z.tp_group_nodes, 2);
    tu_assert_diag(&d, CS_WARNING, "tensor-parallel group of 16 GPUs spans 2 nodes", 11, 23);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

START_TEST(placement_round_trips_and_respects_order)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    load("moe-30b", 64, "",
         "  - { name: a, tp: 4, pp: 4, ep: 8, dp: 4 }\n"
         "  - { name: b, tp: 4, pp: 4, ep: 8, dp: 4, order: ep-tp-dp-pp }\n",
         &s);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(check(&s, i, &z, &d), 0);
        for (long r = 0; r < z.world; r++) {
            long c[CS_DIM_COUNT];
            cs_layout_coords(&s.layouts[i], &z, r, c);
            ck_assert_int_eq(cs_layout_rank(&s.layouts[i], &z, c), r);
        }
        cs_diags_free(&d);
    }
    long c[CS_DIM_COUNT];
    /* Default tp-ep-dp-pp: rank 5 = tp 1, ep 1; rank 32 = dp 1. */
    cs_layout_coords(&s.layouts[0], &z, 5, c);
    ck_assert(c[CS_DIM_TP] == 1 && c[CS_DIM_EP] == 1 && c[CS_DIM_DP] == 0 && c[CS_DIM_PP] == 0);
    cs_layout_coords(&s.layouts[0], &z, 32, c);
    ck_assert(c[CS_DIM_TP] == 0 && c[CS_DIM_EP] == 0 && c[CS_DIM_DP] == 1);
    /* ep innermost: the expert group fits in one node, tp spans 4 of them. */
    ck_assert_int_eq(check(&s, 1, &z, &d), 0);
    ck_assert_int_eq(z.ep_group_nodes, 1);
    ck_assert_int_eq(z.tp_group_nodes, 4);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("layout");
    TCase *t = tcase_create("rules");
    tcase_add_test(t, seed_original_needs_2048_gpus);
    tcase_add_test(t, seed_options_are_valid_with_their_sizes);
    tcase_add_test(t, megatron_style_dp_is_recognised);
    tcase_add_test(t, dp_is_derived_when_left_out);
    tcase_add_test(t, divisibility_rules);
    tcase_add_test(t, experts_not_divisible_by_ep);
    tcase_add_test(t, dense_model_needs_ep_1);
    tcase_add_test(t, interleaved_needs_vpp);
    tcase_add_test(t, expert_and_tensor_parallel_need_sequence_parallel);
    tcase_add_test(t, interleaved_needs_microbatches_multiple_of_pp);
    tcase_add_test(t, huge_counts_refused);
    tcase_add_test(t, tensor_group_across_nodes_warns);
    tcase_add_test(t, placement_round_trips_and_respects_order);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
