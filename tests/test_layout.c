/* Layout rules: world size, divisibility, expert and dense data parallelism,
 * schedules, group spans, placement. */
#include <stdio.h>
#include <string.h>

#include "model/layout.h"
#include "model/placement.h"
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
                   "global_batch_size 128 is not divisible by the dense data-parallel size 32 x "
                   "micro_batch_size 3 = 96",
                   14, 46);
    cs_diags_free(&d);
    ck_assert_int_eq(check(&s, 4, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR,
                   "etp 3 x ep 8 = 24 does not divide the 64 GPUs of a pipeline stage, so the "
                   "expert data-parallel size is not whole",
                   15, 36);
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
    /* etp may exceed tp (Megatron-Core has no rule against it): the experts
     * split each stage's 128 GPUs as etp 4 x ep 8 x edp 4. */
    ck_assert_int_eq(check(&s, 1, &z, &d), 0);
    ck_assert_int_eq(z.expert_dp, 4);
    ck_assert_int_eq(z.dense_dp, 64);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

/* MoE parallel folding: TP2 PP8 EP32 on 256 GPUs (the example). */
START_TEST(folded_layout_groups)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    load("moe-30b", 32, "",
         "  - { name: fold, tp: 2, pp: 8, ep: 32, etp: 1 }\n"   /* 11 */
         "  - { name: etp2, tp: 2, pp: 8, ep: 32 }\n"           /* 12 */
         "  - { name: dp, tp: 2, pp: 8, ep: 32, dp: 1, etp: 1 }\n", /* 13 */
         &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), 0);
    ck_assert_int_eq(z.world, 256);
    ck_assert_int_eq(z.dense_dp, 16); /* 256 / (tp 2 x pp 8) */
    ck_assert_int_eq(z.expert_dp, 1); /* 256 / (pp 8 x etp 1 x ep 32) */
    ck_assert_int_eq(z.dp, 0);        /* ep x tp exceeds a stage's 32 GPUs: folded */
    ck_assert_int_eq(z.microbatches, 8); /* 128 / (16 x 1) */
    ck_assert_int_eq(z.experts_per_gpu, 2);
    ck_assert_int_eq(z.ep_group_nodes, 4);
    const cs_layout *l = &s.layouts[0];
    long m[256];
    /* Rank 33 (stage 1): dense TP {32, 33}; dense DP 33, 35, ..., 63; EP
     * 32..63 (its TP peer 32 included); alone in its expert DP group. */
    ck_assert_int_eq(cs_place_stage(l, &z, 33), 1);
    ck_assert_int_eq(cs_place_group_of(l, &z, CS_DENSE, CS_DIM_TP, 33, m), 2);
    ck_assert(m[0] == 32 && m[1] == 33);
    ck_assert_int_eq(cs_place_group_of(l, &z, CS_DENSE, CS_DIM_DP, 33, m), 16);
    for (long i = 0; i < 16; i++)
        ck_assert_int_eq(m[i], 33 + 2 * i);
    ck_assert_int_eq(cs_place_group_of(l, &z, CS_EXPERT, CS_DIM_EP, 33, m), 32);
    for (long i = 0; i < 32; i++)
        ck_assert_int_eq(m[i], 32 + i);
    ck_assert_int_eq(cs_place_group_of(l, &z, CS_EXPERT, CS_DIM_DP, 33, m), 1);
    ck_assert_int_eq(m[0], 33);
    ck_assert_int_eq(cs_place_groups(&z, CS_EXPERT, CS_DIM_EP), 1);
    ck_assert_int_eq(cs_place_groups(&z, CS_DENSE, CS_DIM_TP), 16);
    cs_diags_free(&d);
    /* Megatron's default etp = tp: 2 x 32 = 64 does not fit a stage. */
    ck_assert_int_eq(check(&s, 1, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR,
                   "etp 2 x ep 32 = 64 does not divide the 32 GPUs of a pipeline stage, so the "
                   "expert data-parallel size is not whole",
                   12, 37);
    cs_diags_free(&d);
    /* dp written out keeps its meaning (tp x pp x ep x dp = world), and says
     * how to fold. */
    ck_assert_int_eq(check(&s, 2, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "needs 512 GPUs (tp 2 x pp 8 x ep 32 x dp 1); the cluster has 256",
                   13, 43);
    tu_assert_diag(&d, CS_NOTE, "to fold ep over tp (Megatron's MoE parallel folding), leave dp out",
                   13, 43);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

/* An order with pp inside splits the stages differently for the experts. */
START_TEST(order_must_keep_pipeline_groups)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    load("moe-30b", 8, "",
         "  - { name: a, tp: 2, pp: 2, ep: 4, etp: 1, order: tp-pp-ep-dp }\n" /* 11 */
         "  - { name: b, tp: 2, pp: 2, ep: 4, order: tp-pp-ep-dp }\n"         /* 12 */
         "  - { name: c, tp: 2, pp: 1, ep: 4, etp: 1, order: tp-pp-ep-dp }\n", /* 13 */
         &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR,
                   "this order gives the dense and the expert layers different pipeline groups "
                   "(stage stride 2 against 1), which Megatron-Core refuses; put pp outermost",
                   11, 52);
    cs_diags_free(&d);
    /* etp = tp keeps the stages, but the data-parallel sizes differ. */
    ck_assert_int_eq(check(&s, 1, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR,
                   "with pp not outermost, Megatron-Core needs the same data-parallel size for "
                   "the dense and the expert layers (here 16 and 4)",
                   12, 44);
    cs_diags_free(&d);
    /* With one stage every pipeline group is one rank: Megatron accepts it. */
    ck_assert_int_eq(check(&s, 2, &z, &d), 0);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

/* DeepSeek-V3's 61 layers on pp 16 as Megatron-Core splits them: one layer
 * with the embedding on the first stage, the other 60 four per stage. */
START_TEST(uneven_pipeline_split)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    long first;
    load("deepseek-v3", 64, "decoder_first_pipeline_num_layers: 1",
         "  - { name: ds, tp: 1, pp: 16, ep: 32, etp: 1 }\n"  /* 11 */
         "  - { name: ds8, tp: 1, pp: 8, ep: 32, etp: 1 }\n", /* 12 */
         &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), 0);
    ck_assert_int_eq(cs_layout_stage_layers(&z, 0), 1);
    ck_assert_int_eq(cs_layout_chunk_layers(&z, 0, 0, &first), 1);
    ck_assert_int_eq(first, 0);
    ck_assert_int_eq(cs_layout_chunk_layers(&z, 1, 0, &first), 4);
    ck_assert_int_eq(first, 1);
    ck_assert_int_eq(cs_layout_chunk_layers(&z, 15, 0, &first), 4);
    ck_assert_int_eq(first, 57);
    ck_assert_int_eq(z.layers_per_stage, 4);
    cs_diags_free(&d);
    /* On pp 8 the other 60 layers do not split over 7 stages. */
    ck_assert_int_eq(check(&s, 1, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR,
                   "num_layers 61 less the first and last stages' leaves 60 layers, which do not "
                   "split evenly over the other 7 stages",
                   5, 3);
    cs_diags_free(&d);
    cs_scenario_free(&s);
    /* The embedding and loss counted as layers: 61 + 2 = 63 slots fit
     * neither 16 stages nor 8; with vpp the first stage's layers must split
     * over its chunks; Megatron refuses both kinds of split at once. */
    load("moe-30b", 8,
         "account_for_embedding_in_pipeline_split: true\n"
         "  account_for_loss_in_pipeline_split: true\n"
         "  decoder_last_pipeline_num_layers: 2",
         "  - { name: both, tp: 1, pp: 2, ep: 8 }\n", &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR,
                   "decoder_first/last_pipeline_num_layers cannot be combined with "
                   "account_for_embedding/loss_in_pipeline_split (Megatron-Core refuses it)",
                   5, 3);
    cs_diags_free(&d);
    cs_scenario_free(&s);
    load("moe-30b", 8,
         "decoder_first_pipeline_num_layers: 3\n"
         "  schedule: interleaved\n"
         "  virtual_pipeline_stages: 2",
         "  - { name: vpp, tp: 1, pp: 2, ep: 8 }\n", &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "stage 0's 3 layers are not divisible by vpp 2", 13, 29);
    cs_diags_free(&d);
    cs_scenario_free(&s);
    /* Counts beyond the model are refused before anything subtracts them;
     * middle stages need middle layers. */
    load("moe-30b", 8, "decoder_first_pipeline_num_layers: 9223372036854775807",
         "  - { name: huge, tp: 1, pp: 4, ep: 8 }\n", &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR,
                   "decoder_first/last_pipeline_num_layers must each be at most num_layers 16", 5,
                   3);
    cs_diags_free(&d);
    cs_scenario_free(&s);
    load("moe-30b", 8,
         "decoder_first_pipeline_num_layers: 8\n"
         "  decoder_last_pipeline_num_layers: 8",
         "  - { name: empty, tp: 1, pp: 4, ep: 8 }\n", &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    ck_assert_ptr_nonnull(tu_find(&d, "leaves 0 layers, which do not split evenly over the "
                                      "other 2 stages"));
    cs_diags_free(&d);
    cs_scenario_free(&s);
    load("moe-30b", 8,
         "account_for_embedding_in_pipeline_split: true",
         "  - { name: e, tp: 1, pp: 2, ep: 8 }\n", &s);
    ck_assert_int_eq(check(&s, 0, &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR,
                   "num_layers 16 with the embedding and loss counted (17) is not divisible by "
                   "pp 2 x vpp 1",
                   11, 27);
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
            for (int w = CS_DENSE; w <= CS_EXPERT; w++) {
                cs_place_coords(&s.layouts[i], &z, (cs_decomp)w, r, c);
                ck_assert_int_eq(cs_place_rank(&s.layouts[i], &z, (cs_decomp)w, c), r);
            }
            long stage = cs_place_stage(&s.layouts[i], &z, r);
            ck_assert_int_eq(cs_place_at(&s.layouts[i], &z, cs_place_local(&s.layouts[i], &z, r),
                                         stage),
                             r);
        }
        cs_diags_free(&d);
    }
    long c[CS_DIM_COUNT];
    /* Default tp-ep-dp-pp: rank 5 = tp 1 and dense dp 1; as an expert, ep 1;
     * rank 32 = dense dp 8, expert dp 1, ep 0. */
    cs_place_coords(&s.layouts[0], &z, CS_DENSE, 5, c);
    ck_assert(c[CS_DIM_TP] == 1 && c[CS_DIM_EP] == 0 && c[CS_DIM_DP] == 1 && c[CS_DIM_PP] == 0);
    cs_place_coords(&s.layouts[0], &z, CS_EXPERT, 5, c);
    ck_assert(c[CS_DIM_TP] == 1 && c[CS_DIM_EP] == 1 && c[CS_DIM_DP] == 0 && c[CS_DIM_PP] == 0);
    cs_place_coords(&s.layouts[0], &z, CS_EXPERT, 32, c);
    ck_assert(c[CS_DIM_TP] == 0 && c[CS_DIM_EP] == 0 && c[CS_DIM_DP] == 1);
    /* ep innermost: the expert group fits in one node, and so does the dense
     * TP group (the dense decomposition has no ep), but the experts' TP
     * group of 4 strides by 8 over 4 nodes, as Megatron-Core places it. */
    ck_assert_int_eq(check(&s, 1, &z, &d), 0);
    ck_assert_int_eq(z.ep_group_nodes, 1);
    ck_assert_int_eq(z.tp_group_nodes, 1);
    ck_assert_int_eq(z.etp_group_nodes, 4);
    tu_assert_diag(&d, CS_WARNING, "an expert-tensor-parallel group of 4 GPUs spans 4 nodes", 12,
                   51);
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
    tcase_add_test(t, folded_layout_groups);
    tcase_add_test(t, order_must_keep_pipeline_groups);
    tcase_add_test(t, uneven_pipeline_split);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
