/* The replay against closed forms: pipeline schedules with free
 * communication, Megatron's activation memory, gradient reduction exposed
 * with and without overlap, MoE routing balance and determinism. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "net/collective.h"
#include "net/fabric.h"
#include "model/memory.h"
#include "replay/replay.h"
#include "testutil.h"

/* Uniform dense layers, no embedding or output layer (vocab 0), on one
 * 8-GPU node. */
#define DENSE "{ name: d, num_layers: 8, hidden_size: 1024, num_attention_heads: 16, " \
              "ffn_hidden_size: 4096, vocab_size: 0 }"

typedef struct fixture {
    cs_scenario s;
    cs_layout_sizes z;
    cs_replay_result r;
} fixture;

static void load(fixture *fx, const char *model, const char *cluster, const char *training,
                 const char *network, const char *layout)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "model: %s\ncluster: %s\ntraining: { %s }\nnetwork_model: %s\nlayouts:\n  - %s\n",
             model, cluster, training, network, layout);
    cs_diags d;
    cs_diags_init(&d);
    int rc = tu_load_scenario(yaml, &fx->s, &d);
    if (rc == 0)
        rc = cs_layout_check(&fx->s, &fx->s.layouts[0], &fx->z, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert_int_eq(rc, 0);
}

static void replay(fixture *fx, unsigned long seed)
{
    ck_assert_int_eq(cs_replay(&fx->s, &fx->s.layouts[0], &fx->z, fx->s.network_model, seed, &fx->r),
                     0);
}

static void done(fixture *fx)
{
    cs_replay_result_free(&fx->r);
    cs_scenario_free(&fx->s);
}

static void assert_rel(double got, double want, double tol)
{
    ck_assert_msg(fabs(got - want) <= tol * fabs(want), "got %.12g want %.12g", got, want);
}

/* Per-stage F, B and W of one micro-batch, from the replay's own op times. */
static void fbw(const fixture *fx, double *F, double *B, double *W)
{
    double m = (double)fx->z.microbatches;
    *F = fx->r.compute_s[CS_OP_FORWARD] / m;
    *B = fx->r.compute_s[CS_OP_BACKWARD_INPUT] / m;
    *W = fx->r.compute_s[CS_OP_BACKWARD_WEIGHT] / m;
}

static void schedule_case(const char *schedule, const char *extra, double *T, double *F,
                          double *B, double *W, double *bubble, long *m)
{
    fixture fx;
    char training[256], layout[128];
    snprintf(training, sizeof training,
             "seq_length: 2048, global_batch_size: 16, schedule: %s, optimizer: none", schedule);
    snprintf(layout, sizeof layout, "{ tp: 1, pp: 4, dp: 2%s }", extra);
    /* No host: the closed forms are the schedule's alone (the host's first
     * launch would start every stage a few microseconds late). */
    load(&fx, DENSE,
         "{ base: dgx-h100, nodes: 1, host: { launch_overhead: 0 s, op_overhead: 0 s, "
         "collective_overhead: 0 s } }",
         training, "ideal", layout);
    replay(&fx, 1);
    fbw(&fx, F, B, W);
    *T = fx.r.iteration_time_s;
    *bubble = fx.r.bubble_fraction;
    *m = fx.z.microbatches;
    done(&fx);
}

/* 1F1B and GPipe: (m + p - 1)(F + B + W), bubble (p - 1)/(m + p - 1). */
START_TEST(one_f_one_b_and_gpipe)
{
    const char *names[] = {"1f1b", "gpipe"};
    for (int i = 0; i < 2; i++) {
        double T, F, B, W, bubble;
        long m;
        schedule_case(names[i], "", &T, &F, &B, &W, &bubble, &m);
        ck_assert_int_eq(m, 8);
        assert_rel(T, (double)(m + 3) * (F + B + W), 1e-9);
        assert_rel(bubble, 3.0 / (double)(m + 3), 1e-9);
    }
}
END_TEST

/* Interleaved with v chunks: bubble (p - 1)/(v m + p - 1). */
START_TEST(interleaved_bubble)
{
    double T, F, B, W, bubble;
    long m;
    schedule_case("interleaved", ", vpp: 2", &T, &F, &B, &W, &bubble, &m);
    assert_rel(bubble, 3.0 / (2.0 * (double)m + 3), 1e-9);
    /* F, B, W here are a whole stage's (both chunks): T = m(F+B+W) + (p-1)(F+B+W)/v. */
    assert_rel(T, (double)m * (F + B + W) + 3 * (F + B + W) / 2, 1e-9);
}
END_TEST

/* ZB-H1 (Qi et al.): the bubble shrinks to (p - 1)(F + B - W) (here W < F). */
START_TEST(zero_bubble_h1)
{
    double T, F, B, W, bubble;
    long m;
    schedule_case("zb-h1", "", &T, &F, &B, &W, &bubble, &m);
    ck_assert(W < F);
    assert_rel(T, (double)m * (F + B + W) + 3 * (F + B - W), 1e-9);
    assert_rel(bubble * T, 3 * (F + B - W), 1e-9);
}
END_TEST

/* Every GPU's time adds up: compute + exposed + bubble = iteration. */
START_TEST(time_breakdown_adds_up)
{
    fixture fx;
    load(&fx, "moe-30b", "cluster-512-64gb",
         "seq_length: 2048, global_batch_size: 128, sequence_parallel: true, "
         "distributed_optimizer: true, overlap_grad_reduce: true",
         "flow", "{ tp: 4, pp: 4, ep: 8, dp: 4 }");
    replay(&fx, 1);
    double sum = 0;
    for (int k = 0; k < CS_TIME_KINDS; k++) {
        ck_assert(fx.r.time_s[k] >= 0);
        sum += fx.r.time_s[k];
    }
    assert_rel(sum, fx.r.iteration_time_s, 1e-9);
    ck_assert(fx.r.time_s[CS_TIME_EP] > 0 && fx.r.time_s[CS_TIME_TP] > 0);
    ck_assert(fx.r.time_s[CS_TIME_PP] > 0 && fx.r.time_s[CS_TIME_DP] > 0);
    /* Stages have as many GPUs each: their mean busy time is the mean. */
    double busy = 0;
    for (long i = 0; i < fx.r.stage_count; i++)
        busy += fx.r.stages[i].busy_s / (double)fx.r.stage_count;
    assert_rel(busy, fx.r.time_s[CS_TIME_COMPUTE], 1e-9);
    ck_assert(fx.r.bubble_fraction > 0);
    done(&fx);
}
END_TEST

/* The replay's memory peak equals Megatron's / Korthikanti's formulas (the
 * analytic estimate of memory.h) with 1F1B and GPipe, for none and selective
 * recompute; with full recompute it adds the one layer being recomputed. */
static double memory_backend_case(const char *schedule, const char *recompute,
                                  const char *backend, double *analytic, double *layer_keep,
                                  double *layer_full, long *p, long *m)
{
    fixture fx;
    char training[256];
    snprintf(training, sizeof training,
             "seq_length: 2048, global_batch_size: 16, schedule: %s, recompute: %s, "
             "optimizer: adam, distributed_optimizer: true, overlap_grad_reduce: true, "
             "attention_backend: %s",
             schedule, recompute, backend);
    load(&fx, DENSE, "{ base: dgx-h100, nodes: 1 }", training, "analytic",
         "{ tp: 1, pp: 4, dp: 2 }");
    replay(&fx, 1);
    cs_memory_breakdown b;
    cs_memory_peak(&fx.s, &fx.z, &b);
    *analytic = b.total;
    *layer_keep = cs_memory_layer_activations(&fx.s.model, &fx.s.training, &fx.z, 0);
    cs_layout_sizes none = fx.z;
    none.recompute = CS_RECOMPUTE_NONE;
    *layer_full = cs_memory_layer_activations(&fx.s.model, &fx.s.training, &none, 0);
    *p = fx.z.pp;
    *m = fx.z.microbatches;
    double peak = fx.r.memory_peak_bytes;
    /* 1F1B peaks on the first stage; under GPipe every stage holds m
     * micro-batches and the last one's final norm tips it. */
    ck_assert_int_eq(fx.r.memory_peak_stage, strcmp(schedule, "1f1b") ? fx.z.pp - 1 : 0);
    done(&fx);
    return peak;
}

static double memory_case(const char *schedule, const char *recompute, double *analytic,
                          double *layer_keep, double *layer_full, long *p, long *m)
{
    return memory_backend_case(schedule, recompute, "local", analytic, layer_keep, layer_full, p,
                               m);
}

/* The ledger holds the s x s scores with the unfused backend and not with
 * FlashAttention: 1F1B's first stage holds p micro-batches of its 2 layers,
 * so the peaks differ by 2 p (5 a s^2 b) less flash's log-sum-exp
 * (4 a s b per layer); flash's peak is the estimate, recompute or not. */
START_TEST(ledger_holds_scores_only_unfused)
{
    double analytic, keep, full, flash_keep;
    long p, m;
    double local = memory_backend_case("1f1b", "none", "local", &analytic, &keep, &full, &p, &m);
    double flash = memory_backend_case("1f1b", "none", "flash", &analytic, &flash_keep, &full, &p,
                                       &m);
    assert_rel(flash, analytic, 1e-12);
    double scores = 5.0 * 16 * 2048 * 2048, lse = 4.0 * 16 * 2048;
    assert_rel(local - flash, 2.0 * (double)p * (scores - lse), 1e-12);
    assert_rel(keep - flash_keep, scores - lse, 1e-12);
    double selective =
        memory_backend_case("1f1b", "selective", "flash", &analytic, &keep, &full, &p, &m);
    assert_rel(selective, analytic, 1e-12); /* nothing to rebuild */
}
END_TEST

START_TEST(memory_peak_matches_megatron)
{
    double analytic, keep, full;
    long p, m;
    /* Selective recompute rebuilds one layer's s x s tensors during its
     * backward (5 a s^2 b, freed when its core backward ends): the peak is
     * the estimate plus that, as full recompute adds one layer. */
    double scores = 5.0 * 16 * 2048 * 2048;
    for (int i = 0; i < 2; i++) {
        const char *recompute = i ? "selective" : "none";
        double peak = memory_case("1f1b", recompute, &analytic, &keep, &full, &p, &m);
        assert_rel(peak, analytic + (i ? scores : 0), 1e-12);
        double gpipe = memory_case("gpipe", recompute, &analytic, &keep, &full, &p, &m);
        assert_rel(gpipe, analytic + (i ? scores : 0), 1e-12);
        /* GPipe holds m micro-batches of the stage's 2 layers, 1F1B p; GPipe's
         * peak is on the last stage, which adds the final LayerNorm's 2h
         * parameters at 6 + 12/d bytes (distributed optimizer, d = 2). */
        assert_rel(gpipe - peak, (double)(m - p) * 2 * keep + 2 * 1024 * (6 + 12.0 / 2), 1e-12);
    }
    /* Korthikanti, s = 2048, b = 1, h = 1024, a = 16, t = 1: 34 sbh + 5 a s^2 b. */
    memory_case("1f1b", "none", &analytic, &keep, &full, &p, &m);
    assert_rel(keep, 2048.0 * 1024 * (34 + 5.0 * 16 * 2048 / 1024), 1e-12);
    double peak = memory_case("1f1b", "full", &analytic, &keep, &full, &p, &m);
    assert_rel(keep, 2.0 * 2048 * 1024, 1e-12);
    assert_rel(peak, analytic + (full - keep), 1e-12);
}
END_TEST

/* A small model's gradients fit one bucket: without overlap the exposed DP
 * time is that all-reduce's time, exactly. */
START_TEST(exposed_dp_equals_all_reduce_without_overlap)
{
    fixture fx;
    load(&fx, "{ name: s, num_layers: 2, hidden_size: 512, num_attention_heads: 8, vocab_size: 0 }",
         "{ base: dgx-h100, nodes: 1 }",
         "seq_length: 1024, global_batch_size: 8, optimizer: adam, distributed_optimizer: false, "
         "overlap_grad_reduce: false",
         "analytic", "{ tp: 1, pp: 1, dp: 8 }");
    replay(&fx, 1);
    cs_fabric f;
    ck_assert_int_eq(cs_fabric_init(&f, &fx.s.cluster), 0);
    long gpus[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    double params = 2 * (12.0 * 512 * 512 + 4 * 512) + 2 * 512; /* + final LayerNorm */
    cs_coll_spec spec = {CS_COLL_ALL_REDUCE, CS_ALGO_AUTO, 8, gpus, 4 * params, NULL, 0, 0};
    assert_rel(fx.r.time_s[CS_TIME_DP], cs_collective_analytic_time(&f, &spec), 1e-9);
    cs_fabric_free(&f);
    done(&fx);
}
END_TEST

/* Layers of 50M parameters make one bucket each: with overlap most of them
 * reduce while backward goes on, and the exposed DP time shrinks. */
START_TEST(overlap_hides_gradient_reduction)
{
    double exposed[2];
    for (int overlap = 0; overlap < 2; overlap++) {
        fixture fx;
        char training[256];
        snprintf(training, sizeof training,
                 "seq_length: 2048, global_batch_size: 16, optimizer: adam, "
                 "distributed_optimizer: false, overlap_grad_reduce: %s",
                 overlap ? "true" : "false");
        load(&fx, "{ name: w, num_layers: 8, hidden_size: 2048, num_attention_heads: 16, "
                  "vocab_size: 0 }",
             "{ base: dgx-h100, nodes: 2 }", training, "flow", "{ tp: 1, pp: 1, dp: 16 }");
        replay(&fx, 1);
        exposed[overlap] = fx.r.time_s[CS_TIME_DP];
        done(&fx);
    }
    ck_assert_msg(exposed[1] < 0.75 * exposed[0], "overlap %g, none %g", exposed[1], exposed[0]);
}
END_TEST

#define MOE "{ name: e, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, " \
            "vocab_size: 0, moe: { num_experts: 16, router_topk: 2, ffn_hidden_size: 2048 } }"

static void moe_case(const char *routing, unsigned long seed, fixture *fx)
{
    char training[256];
    snprintf(training, sizeof training,
             "seq_length: 2048, global_batch_size: 16, optimizer: none, moe_routing: %s",
             routing);
    load(fx, MOE, "{ base: dgx-h100, nodes: 2 }", training, "flow", "{ tp: 1, pp: 1, ep: 8, dp: 2 }");
    replay(fx, seed);
}

START_TEST(balanced_routing_is_even)
{
    fixture fx;
    moe_case("balanced", 1, &fx);
    for (long g = 1; g < fx.z.world; g++)
        ck_assert(fx.r.gpu_busy_s[g] == fx.r.gpu_busy_s[0]);
    ck_assert(fx.r.moe_dropped_tokens == 0);
    done(&fx);
}
END_TEST

START_TEST(skewed_routing_is_slower_and_seeded)
{
    fixture a, b, c, d;
    moe_case("balanced", 1, &a);
    moe_case("{ mode: skewed, skew: 1.2 }", 7, &b);
    moe_case("{ mode: skewed, skew: 1.2 }", 7, &c);
    moe_case("{ mode: skewed, skew: 1.2 }", 8, &d);
    ck_assert(b.r.iteration_time_s > a.r.iteration_time_s);
    ck_assert(b.r.iteration_time_s == c.r.iteration_time_s); /* same seed, same result */
    ck_assert(d.r.iteration_time_s != b.r.iteration_time_s);
    /* Some GPU now hosts hot experts: compute is no longer even. */
    double lo = b.r.gpu_busy_s[0], hi = lo;
    for (long g = 1; g < b.z.world; g++) {
        lo = fmin(lo, b.r.gpu_busy_s[g]);
        hi = fmax(hi, b.r.gpu_busy_s[g]);
    }
    ck_assert(hi > 1.05 * lo);
    done(&a);
    done(&b);
    done(&c);
    done(&d);
}
END_TEST

/* A capacity factor drops what goes over it and counts it. */
START_TEST(capacity_factor_drops_tokens)
{
    fixture fx;
    load(&fx,
         "{ name: c, num_layers: 2, hidden_size: 1024, num_attention_heads: 16, vocab_size: 0, "
         "moe: { num_experts: 16, router_topk: 2, ffn_hidden_size: 2048, capacity_factor: 1.0 } }",
         "{ base: dgx-h100, nodes: 2 }",
         "seq_length: 2048, global_batch_size: 16, optimizer: none, "
         "moe_routing: { mode: skewed, skew: 1.5 }",
         "flow", "{ tp: 1, pp: 1, ep: 8, dp: 2 }");
    replay(&fx, 3);
    ck_assert(fx.r.moe_dropped_tokens > 0);
    ck_assert(fx.r.moe_dropped_tokens < fx.r.moe_routed_tokens);
    done(&fx);
}
END_TEST

/* Every byte allocated during the iteration is freed by its end, whatever the
 * schedule, recompute mode or routing. */
START_TEST(memory_ledger_balances)
{
    static const char *const cases[][3] = {
        {"1f1b", "none", "balanced"},        {"gpipe", "selective", "balanced"},
        {"zb-h1", "full", "balanced"},       {"interleaved", "selective", "random"},
        {"1f1b", "full", "{ mode: skewed, skew: 1.3 }"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fixture fx;
        char training[256];
        snprintf(training, sizeof training,
                 "seq_length: 2048, global_batch_size: 16, schedule: %s, recompute: %s, "
                 "moe_routing: %s, sequence_parallel: true",
                 cases[i][0], cases[i][1], cases[i][2]);
        /* Every other case with a multi-token-prediction depth. */
        char model[256];
        snprintf(model, sizeof model,
                 "{ name: e, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
                 "vocab_size: 32000, mtp_num_layers: %zu, moe: { num_experts: 8, "
                 "router_topk: 2, ffn_hidden_size: 2048 } }",
                 i % 2);
        load(&fx, model, "{ base: dgx-h100, nodes: 2 }", training, "flow",
             "{ tp: 2, pp: 2, ep: 2, dp: 2, vpp: 2 }");
        replay(&fx, 5);
        ck_assert_msg(fx.r.memory_left_bytes < 1e-3, "%s/%s/%s leaves %g bytes", cases[i][0],
                      cases[i][1], cases[i][2], fx.r.memory_left_bytes);
        ck_assert(fx.r.memory_peak_bytes > 0);
        done(&fx);
    }
    /* A dense model with Megatron's own attention (the rebuilt scores of
     * selective recompute), userbuffers, scatter-gather p2p, deferred wgrads. */
    static const char *const dense[] = {
        "schedule: zb-h1, recompute: selective, sequence_parallel: true",
        "schedule: zb-h1, recompute: full, sequence_parallel: true",
        "schedule: zb-h1, recompute: none, sequence_parallel: false",
        "schedule: 1f1b, recompute: selective, sequence_parallel: true, tp_comm_overlap: true",
        "schedule: interleaved, virtual_pipeline_stages: 2, recompute: none, "
        "scatter_gather_tensors_in_pipeline: true, overlap_p2p_comm: false",
        "schedule: gpipe, recompute: selective, distributed_optimizer: true, "
        "overlap_grad_reduce: true, overlap_param_gather: true"};
    for (size_t i = 0; i < sizeof dense / sizeof *dense; i++) {
        fixture fx;
        char training[512];
        snprintf(training, sizeof training,
                 "seq_length: 2048, global_batch_size: 16, attention_backend: local, %s",
                 dense[i]);
        load(&fx, DENSE, "{ base: dgx-h100, nodes: 2 }", training, "flow",
             "{ tp: 2, pp: 2, dp: 4 }");
        replay(&fx, 5);
        ck_assert_msg(fx.r.memory_left_bytes < 1e-3, "%s leaves %g bytes", dense[i],
                      fx.r.memory_left_bytes);
        done(&fx);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("replay");
    TCase *t = tcase_create("closed_forms");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, one_f_one_b_and_gpipe);
    tcase_add_test(t, interleaved_bubble);
    tcase_add_test(t, zero_bubble_h1);
    tcase_add_test(t, time_breakdown_adds_up);
    tcase_add_test(t, memory_peak_matches_megatron);
    tcase_add_test(t, ledger_holds_scores_only_unfused);
    tcase_add_test(t, exposed_dp_equals_all_reduce_without_overlap);
    tcase_add_test(t, overlap_hides_gradient_reduction);
    tcase_add_test(t, balanced_routing_is_even);
    tcase_add_test(t, skewed_routing_is_slower_and_seeded);
    tcase_add_test(t, capacity_factor_drops_tokens);
    tcase_add_test(t, memory_ledger_balances);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
