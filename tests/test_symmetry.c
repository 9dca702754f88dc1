/* Reduced replays (one GPU per pipeline stage standing for its stage, as
 * replay/symmetry.h describes) against full ones: the same numbers to the
 * last bit, spans, trace ops and memory samples included, for dense and MoE
 * scenarios, every schedule, folded experts, uneven stages, every MoE
 * dispatcher and both network models that allow it; and the full replay
 * whenever the GPUs of a stage differ. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/check.h"
#include "model/placement.h"
#include "replay/replay.h"
#include "testutil.h"

#define SAME(a, b) (memcmp(&(a), &(b), sizeof(a)) == 0)

static void assert_same_double(double a, double b, const char *what, const char *where)
{
    ck_assert_msg(SAME(a, b), "%s: %s reduced %.17g, full %.17g", where, what, a, b);
}

/* Every number of the two results, bit for bit. */
static void assert_same_result(const cs_replay_result *a, const cs_replay_result *b, long world,
                               const char *where)
{
    assert_same_double(a->iteration_time_s, b->iteration_time_s, "iteration time", where);
    assert_same_double(a->throughput_tokens_per_s, b->throughput_tokens_per_s, "tokens/s", where);
    assert_same_double(a->mfu, b->mfu, "mfu", where);
    assert_same_double(a->bubble_fraction, b->bubble_fraction, "bubble fraction", where);
    for (int k = 0; k < CS_TIME_KINDS; k++)
        assert_same_double(a->time_s[k], b->time_s[k], "time kind", where);
    for (int k = 0; k < CS_OP_END; k++)
        assert_same_double(a->compute_s[k], b->compute_s[k], "compute class", where);
    assert_same_double(a->memory_peak_bytes, b->memory_peak_bytes, "memory peak", where);
    assert_same_double(a->memory_peak_time_s, b->memory_peak_time_s, "memory peak time", where);
    ck_assert_int_eq(a->memory_peak_stage, b->memory_peak_stage);
    ck_assert_int_eq(a->memory_peak_gpu, b->memory_peak_gpu);
    ck_assert_int_eq(a->memory_fits, b->memory_fits);
    ck_assert_msg(SAME(a->memory, b->memory), "%s: memory breakdown differs", where);
    assert_same_double(a->memory_left_bytes, b->memory_left_bytes, "memory left", where);
    assert_same_double(a->moe_routed_tokens, b->moe_routed_tokens, "routed tokens", where);
    assert_same_double(a->moe_dropped_tokens, b->moe_dropped_tokens, "dropped tokens", where);
    ck_assert_int_eq(a->stage_count, b->stage_count);
    for (long i = 0; i < a->stage_count; i++)
        ck_assert_msg(SAME(a->stages[i], b->stages[i]), "%s: stage %ld differs", where, i);
    for (long g = 0; g < world; g++)
        assert_same_double(a->gpu_busy_s[g], b->gpu_busy_s[g], "GPU busy", where);
}

static int same_span(const cs_span *a, const cs_span *b)
{
    return a->gpu == b->gpu && a->mb == b->mb && a->layer == b->layer && a->stage == b->stage &&
           a->kind == b->kind && SAME(a->start, b->start) && SAME(a->end, b->end);
}

static int same_op(const cs_trace_op *a, const cs_trace_op *b)
{
    return a->gpu == b->gpu && a->mb == b->mb && a->layer == b->layer && a->stream == b->stream &&
           a->klass == b->klass && SAME(a->ready, b->ready) && SAME(a->begin, b->begin) &&
           SAME(a->end, b->end) && SAME(a->work, b->work) && a->flow == b->flow;
}

static void assert_same_capture(const cs_capture *a, const cs_capture *b, const char *where)
{
    ck_assert_int_eq(a->span_count, b->span_count);
    ck_assert_int_eq(a->op_count, b->op_count);
    ck_assert_int_eq(a->memory_count, b->memory_count);
    for (long i = 0; i < a->span_count; i++)
        ck_assert_msg(same_span(&a->spans[i], &b->spans[i]), "%s: span %ld differs", where, i);
    for (long i = 0; i < a->op_count; i++)
        ck_assert_msg(same_op(&a->ops[i], &b->ops[i]), "%s: trace op %ld differs", where, i);
    for (long i = 0; i < a->memory_count; i++)
        ck_assert_msg(a->memory[i].gpu == b->memory[i].gpu &&
                          SAME(a->memory[i].time, b->memory[i].time) &&
                          SAME(a->memory[i].bytes, b->memory[i].bytes),
                      "%s: memory sample %ld differs", where, i);
}

/* Replays layout li of s reduced (when allowed) and whole; returns the GPUs
 * the first replay simulated. */
static long compare_layout(cs_scenario *s, long li, const cs_layout_sizes *z,
                           cs_network_model model, const char *where)
{
    cs_replay_result r[2];
    cs_capture c[2];
    for (int full = 0; full < 2; full++) {
        s->no_symmetry = full;
        ck_assert_int_eq(cs_capture_init(&c[full], &s->layouts[li], z, NULL, 0), 0);
        ck_assert_int_eq(
            cs_replay_capture(s, &s->layouts[li], z, model, s->seed, &r[full], &c[full]), 0);
    }
    s->no_symmetry = 0;
    ck_assert_int_eq(r[1].simulated_gpus, z->world);
    assert_same_result(&r[0], &r[1], z->world, where);
    assert_same_capture(&c[0], &c[1], where);
    long simulated = r[0].simulated_gpus;
    for (int i = 0; i < 2; i++) {
        cs_replay_result_free(&r[i]);
        cs_capture_free(&c[i]);
    }
    return simulated;
}

/* Every valid layout of a scenario under `model`; each must be reduced to
 * one GPU per stage when `reduces` is 1, replayed whole when 0 (either when
 * -1: the flow model's reduction depends on what the groups share). */
static void compare_scenario(cs_scenario *s, cs_network_model model, int reduces,
                             const char *name)
{
    cs_check chk;
    ck_assert_int_eq(cs_check_scenario(s, &chk), 0);
    long compared = 0;
    for (size_t i = 0; i < chk.count; i++) {
        const cs_layout_verdict *v = &chk.layouts[i];
        if (!v->valid)
            continue;
        char where[512];
        snprintf(where, sizeof where, "%s, layout %s, %s", name, s->layouts[i].name,
                 cs_network_model_name(model));
        long simulated = compare_layout(s, (long)i, &v->sizes, model, where);
        ck_assert_msg(reduces < 0 || simulated == (reduces ? v->sizes.pp : v->sizes.world),
                      "%s: %ld GPUs simulated of %ld (pp %ld)", where, simulated,
                      v->sizes.world, v->sizes.pp);
        compared++;
    }
    ck_assert_msg(compared > 0, "%s: no valid layout", name);
    cs_check_free(&chk);
}

static void compare_file(const char *rel, cs_network_model model, int reduces)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", CS_SOURCE_DIR, rel);
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_scenario_load(path, &tu_paths, &s, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert_int_eq(rc, 0);
    compare_scenario(&s, model, reduces, rel);
    cs_scenario_free(&s);
}

static void compare_text(const char *yaml, cs_network_model model, int reduces, const char *name)
{
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    int rc = tu_load_scenario(yaml, &s, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert_int_eq(rc, 0);
    compare_scenario(&s, model, reduces, name);
    cs_scenario_free(&s);
}

/* ---- shipped scenarios ------------------------------------------------------------------ */

static const char *const files[] = {
    "examples/schedules/1f1b.yaml",        /* dense, 1F1B */
    "examples/schedules/gpipe.yaml",       /* GPipe */
    "examples/schedules/interleaved.yaml", /* interleaved 1F1B */
    "examples/schedules/zb-h1.yaml",       /* zero-bubble H1 (B and W split) */
    "examples/moe-folding/scenario.yaml",  /* EP carved from DP, folded over TP */
    "examples/uneven-pipeline/deepseek-v3.yaml", /* uneven stages, MTP */
    "examples/hf-qwen-moe/scenario.yaml",  /* a model read from a HF config */
    "scenarios/seed-options.yaml",         /* the seed: MoE all-to-all, fat tree */
    "validation/megatron/k3.yaml",         /* full recompute, interleaved, A100 */
    "validation/megatron/b3.yaml",         /* host model, all-to-all, PP 4, H100 */
    "validation/megatron/b1.yaml",         /* flex (HybridEP) across two nodes */
};

START_TEST(shipped_scenarios_reduce_exactly)
{
    compare_file(files[_i], CS_NET_ANALYTIC, 1);
}
END_TEST

START_TEST(ideal_network_reduces_exactly)
{
    compare_file(files[_i], CS_NET_IDEAL, 1);
}
END_TEST

/* ---- settings the shipped scenarios do not reach -------------------------------------------- */

#define MOE_MODEL                                                                                  \
    "model: { name: m, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "                \
    "ffn_hidden_size: 2816, vocab_size: 32000, max_position_embeddings: 2048, swiglu: true, "      \
    "normalization: rmsnorm, position_embedding_type: rope, "                                      \
    "moe: { num_experts: 16, router_topk: 2, ffn_hidden_size: 704, layer_freq: 1%s } }\n"
#define DENSE_MODEL                                                                                \
    "model: { name: d, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "                \
    "ffn_hidden_size: 4096, vocab_size: 32000, max_position_embeddings: 2048 }\n"

static const struct variant {
    const char *name, *model, *moe, *training, *layouts;
} variants[] = {
    {"capacity factor with padding (byte tables)", MOE_MODEL, ", capacity_factor: 1.25",
     "moe_token_dispatcher_type: alltoall, moe_pad_expert_input_to_capacity: true, "
     "moe_routing: balanced, sequence_parallel: true",
     "{ name: a, tp: 2, pp: 2, ep: 4 }"},
    {"moe and layernorm recompute under zb-h1 (the MoE layer rerun, its rebuilt memory)",
     MOE_MODEL, "",
     "moe_token_dispatcher_type: alltoall, moe_routing: balanced, moe_grouped_gemm: true, "
     "sequence_parallel: true, recompute: selective, recompute_modules: [layernorm, moe], "
     "schedule: zb-h1",
     "{ name: a, tp: 2, pp: 2, ep: 2 }"},
    {"allgather dispatcher, expert TP", MOE_MODEL, "",
     "moe_token_dispatcher_type: allgather, moe_routing: balanced, sequence_parallel: true",
     "{ name: a, tp: 2, pp: 2, ep: 2 }"},
    {"FP8 delayed scaling (amax reduction), tied embedding", DENSE_MODEL, "",
     "precision: fp8, fp8_recipe: delayed", "{ name: a, tp: 2, pp: 2 }"},
    {"fp16 without the distributed optimizer (model-parallel norm)", DENSE_MODEL, "",
     "precision: fp16, distributed_optimizer: false", "{ name: a, tp: 2, pp: 2 }"},
    {"scatter-gather pipeline transfers, parameter gather overlapped", DENSE_MODEL, "",
     "sequence_parallel: false, scatter_gather_tensors_in_pipeline: true, "
     "distributed_optimizer: true, overlap_grad_reduce: true, overlap_param_gather: true",
     "{ name: a, tp: 4, pp: 2 }"},
    {"Megatron-FSDP ZeRO-3: layer gathers and reduce-scatters, interleaved", DENSE_MODEL, "",
     "use_megatron_fsdp: true, data_parallel_sharding_strategy: optim_grads_params, "
     "overlap_grad_reduce: true, schedule: interleaved, virtual_pipeline_stages: 2",
     "{ name: a, tp: 2, pp: 2 }"},
    {"Megatron-FSDP ZeRO-2 with MoE experts, full recompute", MOE_MODEL, "",
     "use_megatron_fsdp: true, data_parallel_sharding_strategy: optim_grads, "
     "moe_token_dispatcher_type: alltoall, moe_routing: balanced, sequence_parallel: true, "
     "recompute: full",
     "{ name: a, tp: 2, pp: 2, ep: 2 }"},
    {"context parallelism: p2p ring with TP and selective recompute", DENSE_MODEL, "",
     "cp_comm_type: p2p, sequence_parallel: true, recompute: selective, "
     "distributed_optimizer: true, overlap_grad_reduce: true",
     "{ name: a, tp: 2, cp: 2, pp: 2 }"},
    {"context parallelism: a2a, interleaved", DENSE_MODEL, "",
     "cp_comm_type: a2a, schedule: interleaved, virtual_pipeline_stages: 2",
     "{ name: a, tp: 1, cp: 4, pp: 2 }"},
    {"context parallelism: allgather, experts folded over tp and cp", MOE_MODEL, "",
     "cp_comm_type: all_gather, moe_token_dispatcher_type: alltoall, moe_routing: balanced, "
     "sequence_parallel: true",
     "{ name: a, tp: 2, cp: 2, pp: 2, ep: 4, etp: 1 }"},
};

START_TEST(variants_reduce_exactly)
{
    const struct variant *v = &variants[_i];
    char model[1024], yaml[4096];
    snprintf(model, sizeof model, v->model, v->moe);
    snprintf(yaml, sizeof yaml,
             "%scluster: { base: dgx-h100, nodes: 2 }\n"
             "training: { seq_length: 1024, global_batch_size: 32, micro_batch_size: 1, %s }\n"
             "network_model: analytic\nlayouts:\n  - %s\n",
             model, v->training, v->layouts);
    compare_text(yaml, CS_NET_ANALYTIC, 1, v->name);
}
END_TEST

/* ---- when it does not reduce ------------------------------------------------------------- */

static const struct whole {
    const char *name, *cluster, *extra, *training, *layout;
} wholes[] = {
    {"compute jitter", "{ base: dgx-h100, nodes: 1 }", "uncertainty: { compute_jitter: 0.05 }\n",
     "", "{ name: a, tp: 2, pp: 2 }"},
    {"stragglers", "{ base: dgx-h100, nodes: 1 }",
     "uncertainty: { stragglers: { probability: 0.5, slowdown: 1.5 } }\n", "",
     "{ name: a, tp: 2, pp: 2 }"},
    /* Six GPUs per stage on eight-GPU nodes: some pipeline pairs stay in a
     * node, others cross to the next. */
    {"stages that straddle nodes", "{ base: dgx-h100, nodes: 3 }", "", "",
     "{ name: a, tp: 2, pp: 4, dp: 3 }"},
};

START_TEST(whole_replay_when_gpus_differ)
{
    const struct whole *w = &wholes[_i];
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             DENSE_MODEL "cluster: %s\n%s"
             "training: { seq_length: 1024, global_batch_size: 24, micro_batch_size: 1 %s }\n"
             "network_model: analytic\nlayouts:\n  - %s\n",
             w->cluster, w->extra, w->training, w->layout);
    compare_text(yaml, CS_NET_ANALYTIC, 0, w->name);
}
END_TEST

START_TEST(whole_replay_with_random_routing)
{
    char model[1024], yaml[4096];
    snprintf(model, sizeof model, MOE_MODEL, "");
    snprintf(yaml, sizeof yaml,
             "%scluster: { base: dgx-h100, nodes: 1 }\n"
             "training: { seq_length: 1024, global_batch_size: 16, micro_batch_size: 1, "
             "moe_token_dispatcher_type: alltoall, moe_routing: random }\n"
             "network_model: analytic\nlayouts:\n  - { name: a, tp: 1, pp: 2, ep: 4 }\n",
             model);
    compare_text(yaml, CS_NET_ANALYTIC, 0, "random routing");
}
END_TEST

/* Under the flow model: reduced when no two groups (the simulated ones and
 * the copies they stand for) ever hold a link at once, as on one rail-optimized
 * DGX per stage; whole when they would (the seed's all-to-alls across a fat
 * tree); the same numbers either way. */
START_TEST(flow_model_reduces_when_no_link_is_shared)
{
    compare_file("examples/schedules/1f1b.yaml", CS_NET_FLOW, 1);
    compare_file("examples/schedules/interleaved.yaml", CS_NET_FLOW, 1);
}
END_TEST

START_TEST(flow_model_whole_when_groups_share_links)
{
    compare_file("scenarios/seed-options.yaml", CS_NET_FLOW, 0);
}
END_TEST

START_TEST(flow_model_reduced_or_whole_gives_the_same)
{
    compare_file(files[_i], CS_NET_FLOW, -1);
}
END_TEST

/* A captured GPU that is not the first of its stage has a program of its own. */
START_TEST(whole_replay_when_another_gpu_is_captured)
{
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             DENSE_MODEL "cluster: { base: dgx-h100, nodes: 1 }\n"
             "training: { seq_length: 1024, global_batch_size: 16, micro_batch_size: 1 }\n"
             "layouts:\n  - { name: a, tp: 2, pp: 2 }\n");
    ck_assert_int_eq(tu_load_scenario(yaml, &s, &d), 0);
    cs_layout_sizes z;
    ck_assert_int_eq(cs_layout_check(&s, &s.layouts[0], &z, &d), 0);
    cs_diags_free(&d);
    long ranks[2] = {0, 1};
    cs_capture c;
    cs_replay_result r;
    ck_assert_int_eq(cs_capture_init(&c, &s.layouts[0], &z, ranks, 2), 0);
    ck_assert_int_eq(cs_replay_capture(&s, &s.layouts[0], &z, CS_NET_ANALYTIC, 1, &r, &c), 0);
    ck_assert_int_eq(r.simulated_gpus, z.world);
    long seen[2] = {0, 0};
    for (long i = 0; i < c.span_count; i++)
        if (c.spans[i].gpu < 2)
            seen[c.spans[i].gpu]++;
    ck_assert(seen[0] > 0 && seen[0] == seen[1]);
    cs_replay_result_free(&r);
    cs_capture_free(&c);
    cs_scenario_free(&s);
}
END_TEST

/* ---- the command line -------------------------------------------------------------------- */

/* `run --no-symmetry` prints what `run` prints, but for simulated_gpus. */
START_TEST(cli_no_symmetry_gives_the_same_output)
{
    char *out[2] = {NULL, NULL};
    const char *dir = tu_temp_dir();
    for (int i = 0; i < 2; i++) {
        char cmd[8192];
        snprintf(cmd, sizeof cmd,
                 "'%s' run '%s/scenarios/seed-options.yaml' --network-model analytic "
                 "--no-plots --format json --out '%s/o%d'%s | grep -v simulated_gpus",
                 CS_BINARY, CS_SOURCE_DIR, dir, i, i ? " --no-symmetry" : "");
        ck_assert_int_eq(tu_run(cmd, &out[i], NULL), 0);
    }
    ck_assert_ptr_nonnull(strstr(out[0], "iteration_time_s"));
    ck_assert_str_eq(out[0], out[1]);
    free(out[0]);
    free(out[1]);
    char cmd[8192], *text = NULL;
    snprintf(cmd, sizeof cmd,
             "'%s' run '%s/scenarios/seed-options.yaml' --network-model analytic --no-plots "
             "--format json --out '%s/o2' | grep simulated_gpus",
             CS_BINARY, CS_SOURCE_DIR, dir);
    ck_assert_int_eq(tu_run(cmd, &text, NULL), 0);
    ck_assert_ptr_nonnull(strstr(text, "\"simulated_gpus\": 4"));
    ck_assert_ptr_nonnull(strstr(text, "\"simulated_gpus\": 8"));
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("symmetry");
    TCase *tc = tcase_create("symmetry");
    tcase_set_timeout(tc, 240);
    int nfiles = (int)(sizeof files / sizeof files[0]);
    tcase_add_loop_test(tc, shipped_scenarios_reduce_exactly, 0, nfiles);
    tcase_add_loop_test(tc, ideal_network_reduces_exactly, 0, 8);
    tcase_add_loop_test(tc, variants_reduce_exactly, 0,
                        (int)(sizeof variants / sizeof variants[0]));
    tcase_add_loop_test(tc, whole_replay_when_gpus_differ, 0,
                        (int)(sizeof wholes / sizeof wholes[0]));
    tcase_add_test(tc, whole_replay_with_random_routing);
    tcase_add_test(tc, flow_model_reduces_when_no_link_is_shared);
    tcase_add_test(tc, flow_model_whole_when_groups_share_links);
    tcase_add_loop_test(tc, flow_model_reduced_or_whole_gives_the_same, 0, 7);
    tcase_add_test(tc, whole_replay_when_another_gpu_is_captured);
    tcase_add_test(tc, cli_no_symmetry_gives_the_same_output);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
