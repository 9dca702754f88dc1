/* Context parallelism (layouts' cp, training.cp_comm_type) against hand
 * computations: Megatron-Core's rank placement tp-cp-ep-dp-pp, a rank's
 * share of the tokens and of the causal attention, the bytes each exchange
 * moves per layer and micro-batch (p2p ring steps, a2a, allgather), the
 * p2p exchange hidden behind the attention steps, activations and the
 * optimizer's share per GPU, and the checks Megatron-Core and Transformer
 * Engine make. */
#include <string.h>

#include "model/kernels.h"
#include "model/memory.h"
#include "model/placement.h"
#include "net/engine.h"
#include "net/fabric.h"
#include "net/net.h"
#include "replay/replay.h"
#include "replay/workload.h"
#include "testutil.h"

/* 4 layers, h 1024, 16 heads (no GQA), seq 1024. */
#define MODEL                                                                                      \
    "model: { name: c, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "                \
    "ffn_hidden_size: 4096, vocab_size: 32000, max_position_embeddings: 1024%s }\n"

typedef struct fixture {
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    int rc;
} fixture;

static void load(fixture *f, const char *model_extra, int nodes, const char *training,
                 const char *layout)
{
    char yaml[2048], model[512];
    snprintf(model, sizeof model, MODEL, model_extra);
    snprintf(yaml, sizeof yaml,
             "%scluster: { base: dgx-h100, nodes: %d }\n"
             "training: { seq_length: 1024, global_batch_size: 16, %s }\n"
             "layouts:\n  - %s\n",
             model, nodes, training, layout);
    cs_diags_init(&f->d);
    f->rc = tu_load_scenario(yaml, &f->s, &f->d);
    ck_assert_int_eq(f->rc, 0);
    f->rc = cs_layout_check(&f->s, &f->s.layouts[0], &f->z, &f->d);
}

static void unload(fixture *f)
{
    cs_diags_free(&f->d);
    cs_scenario_free(&f->s);
}

static void assert_members(const long *got, long n, const long *want)
{
    for (long i = 0; i < n; i++)
        ck_assert_int_eq(got[i], want[i]);
}

/* 16 GPUs, tp 2 cp 2 pp 2: dp 2, and with the default order tp-cp-ep-dp-pp
 * rank = tp + 2 cp + 4 dp + 8 pp, as Megatron-Core's RankGenerator places
 * them. The gradient group is every cp and dp rank of a tp rank. */
START_TEST(ranks_placed_tp_cp_ep_dp_pp)
{
    fixture f;
    load(&f, "", 2, "sequence_parallel: true", "{ tp: 2, cp: 2, pp: 2 }");
    ck_assert_int_eq(f.rc, 0);
    ck_assert_int_eq(f.z.cp, 2);
    ck_assert_int_eq(f.z.dense_dp, 2);
    ck_assert_int_eq(f.z.microbatches, 8); /* 16 / (dp 2 x 1): cp takes no sequences */
    const cs_layout *l = &f.s.layouts[0];
    long m[16];
    ck_assert_int_eq(cs_place_group_of(l, &f.z, CS_DENSE, CS_DIM_TP, 0, m), 2);
    assert_members(m, 2, (long[]){0, 1});
    ck_assert_int_eq(cs_place_group_of(l, &f.z, CS_DENSE, CS_DIM_CP, 0, m), 2);
    assert_members(m, 2, (long[]){0, 2});
    ck_assert_int_eq(cs_place_group_of(l, &f.z, CS_DENSE, CS_DIM_DP, 0, m), 2);
    assert_members(m, 2, (long[]){0, 4});
    ck_assert_int_eq(cs_place_group_of(l, &f.z, CS_DENSE, CS_DIM_PP, 0, m), 2);
    assert_members(m, 2, (long[]){0, 8});
    ck_assert_int_eq(cs_place_dp_cp_group(l, &f.z, 1, 1, m), 4);
    assert_members(m, 4, (long[]){9, 11, 13, 15});
    /* local index tp + tp (cp + cp dp), and back */
    ck_assert_int_eq(cs_place_local(l, &f.z, 14), 6);
    ck_assert_int_eq(cs_place_at(l, &f.z, 6, 1), 14);
    ck_assert_int_eq(cs_place_groups(&f.z, CS_DENSE, CS_DIM_TP), 4);
    unload(&f);
}
END_TEST

/* MoE folded over tp and cp: etp 1, ep 4 on tp 2 cp 2 (8 GPUs): the expert
 * generator has no cp, so an EP group is 4 consecutive ranks and the
 * expert DP 2. */
START_TEST(experts_fold_over_tp_and_cp)
{
    fixture f;
    load(&f, ", moe: { num_experts: 8, router_topk: 2, ffn_hidden_size: 1024 }", 1,
         "sequence_parallel: true, moe_token_dispatcher_type: alltoall",
         "{ tp: 2, cp: 2, pp: 1, ep: 4, etp: 1 }");
    ck_assert_int_eq(f.rc, 0);
    ck_assert_int_eq(f.z.dense_dp, 2);
    ck_assert_int_eq(f.z.expert_dp, 2);
    long m[8];
    ck_assert_int_eq(cs_place_group_of(&f.s.layouts[0], &f.z, CS_EXPERT, CS_DIM_EP, 5, m), 4);
    assert_members(m, 4, (long[]){4, 5, 6, 7});
    ck_assert_int_eq(cs_place_group_of(&f.s.layouts[0], &f.z, CS_EXPERT, CS_DIM_DP, 5, m), 2);
    assert_members(m, 2, (long[]){1, 5});
    unload(&f);
}
END_TEST

/* A rank holds s b / cp tokens; its core attention is 1/cp of the causal
 * FLOPs, in cp kernels (p2p) priced at s / cp; its K/V block is 2 bytes x
 * T x (k + v) / t. */
START_TEST(kernels_take_a_cp_share)
{
    fixture f;
    load(&f, "", 1, "cp_comm_type: p2p", "{ tp: 1, cp: 4, pp: 1 }");
    ck_assert_int_eq(f.rc, 0);
    cs_shape sh;
    cs_shape_init(&sh, &f.s.model, &f.s.training, &f.z);
    ck_assert(sh.T == 256);
    ck_assert(cs_kernels_cp_kv_bytes(&sh) == 2.0 * 256 * (1024 + 1024));
    cs_kernel_opts o = {&f.s.training, CS_RECOMPUTE_NONE, CS_ATTN_FUSED, 0, 0, 0};
    cs_kernel_list l;
    cs_kernels_attention(&sh, &o, &l);
    const cs_kernel *a = NULL;
    for (int i = 0; i < l.n; i++)
        if (!strcmp(l.k[i].name, "core_attention.forward"))
            a = &l.k[i];
    ck_assert_ptr_nonnull(a);
    ck_assert(a->slot == CS_SLOT_ATTN);
    ck_assert(a->flops == 4.0 * 16 * 1024 * 1024 * 64 / 2 / 4);
    ck_assert(a->launches == 4 && a->seq == 256);
    /* the steps alone in the slot the ring splits; the output corrections of
     * the three later steps after it (Transformer Engine corrects once the
     * ring is done) */
    ck_assert(cs_kernels_launches(&l, CS_SLOT_ATTN) == 4);
    const cs_kernel *fix = NULL;
    for (int i = 0; i < l.n; i++)
        if (!strcmp(l.k[i].name, "core_attention.cp_out_correction"))
            fix = &l.k[i];
    ck_assert(fix && fix->slot == CS_SLOT_OUT && fix->launches == 3);
    f.s.training.cp_comm_type = CS_CP_A2A;
    cs_shape_init(&sh, &f.s.model, &f.s.training, &f.z);
    cs_kernels_attention(&sh, &o, &l);
    for (int i = 0; i < l.n; i++)
        if (!strcmp(l.k[i].name, "core_attention.forward"))
            ck_assert(l.k[i].seq == 1024 && l.k[i].launches == 1 &&
                      l.k[i].flops == 4.0 * 16 * 1024 * 1024 * 64 / 2 / 4);
    unload(&f);
}
END_TEST

/* A window of 128 keys (window_size 127) over s 1024 on cp 2, 16 heads of
 * 64: a2a takes half the band, (1024 x 128 - 128^2 / 2) / 2 = 61440 pairs;
 * all_gather the chunks of 256 queries: rank 0 holds chunks 0 and 3,
 * (256 x 128 - 8192) + 256 x 128 = 57344 pairs, rank 1 chunks 1 and 2,
 * 2 x 256 x 128 = 65536, the most, so the kernel's. Forward FLOPs 4 b heads
 * pairs d; the full causal kernel would be 4 x 16 x 1024^2 x 64 / 2 / 2. */
START_TEST(windows_split_over_cp_ranks)
{
    const char *comm[] = {"cp_comm_type: a2a", "cp_comm_type: all_gather"};
    const double pairs[] = {61440, 65536};
    for (int i = 0; i < 2; i++) {
        fixture f;
        load(&f, ", window_size: [127, 0]", 1, comm[i], "{ tp: 1, cp: 2, pp: 1 }");
        ck_assert_int_eq(f.rc, 0);
        cs_shape sh;
        cs_shape_init(&sh, &f.s.model, &f.s.training, &f.z);
        cs_kernel_opts o = {&f.s.training, CS_RECOMPUTE_NONE, CS_ATTN_FUSED, 0, 0, 128};
        cs_kernel_list l;
        cs_kernels_attention(&sh, &o, &l);
        const cs_kernel *a = NULL;
        for (int k = 0; k < l.n; k++)
            if (!strcmp(l.k[k].name, "core_attention.forward"))
                a = &l.k[k];
        ck_assert_ptr_nonnull(a);
        ck_assert(a->flops == 4.0 * 16 * pairs[i] * 64);
        ck_assert(a->window == 128);
        ck_assert(a->seq == (i == 0 ? 1024 : 512));
        /* a window as wide as the sequence is the full causal kernel */
        o.window = 1024;
        cs_kernels_attention(&sh, &o, &l);
        for (int k = 0; k < l.n; k++)
            if (!strcmp(l.k[k].name, "core_attention.forward"))
                ck_assert(l.k[k].flops == 4.0 * 16 * 1024 * 1024 * 64 / 2 / 2 &&
                          l.k[k].window == 0);
        unload(&f);
    }
}
END_TEST

/* ---- the exchanges, op by op ------------------------------------------------------------ */

typedef struct built {
    fixture f;
    tu_built t;
} built;

static void build(built *b, const char *training, const char *layout, int run)
{
    load(&b->f, "", 1, training, layout);
    ck_assert_int_eq(b->f.rc, 0);
    tu_build(&b->t, &b->f.s, &b->f.s.layouts[0], &b->f.z, CS_NET_ANALYTIC, run);
}

static void done(built *b)
{
    tu_unbuild(&b->t);
    unload(&b->f);
}

/* GPU 0's context-parallel exchanges moving `bytes`. */
static long count(const built *b, double bytes)
{
    long n = 0;
    for (long id = 0; id < b->t.w.count; id++)
        if (cs_exec_gpu(b->t.x, id) == 0 && b->t.w.info[id].klass == CS_OP_CP &&
            b->t.w.info[id].work == bytes)
            n++;
    return n;
}

static long count_all(const built *b)
{
    long n = 0;
    for (long id = 0; id < b->t.w.count; id++)
        n += cs_exec_gpu(b->t.x, id) == 0 && b->t.w.info[id].klass == CS_OP_CP;
    return n;
}

/* cp 4 (T = 256, K/V block kv = 2 x 256 x 2048 bytes): per layer and
 * micro-batch p2p sends kv at 3 forward steps; backward kv at the first and
 * last step and 2 kv at the 2 between. */
START_TEST(p2p_ring_bytes_per_layer)
{
    built b;
    build(&b, "cp_comm_type: p2p, recompute: none", "{ tp: 1, cp: 4, pp: 1 }", 0);
    double kv = 2.0 * 256 * 2048;
    long mL = b.f.z.microbatches * 4;
    ck_assert_int_eq(count(&b, kv), mL * (3 + 2));
    ck_assert_int_eq(count(&b, 2 * kv), mL * 2);
    ck_assert_int_eq(count_all(&b), mL * 7);
    done(&b);
    /* selective recompute of the core attention sends the forward's again */
    build(&b, "cp_comm_type: p2p, recompute: selective", "{ tp: 1, cp: 4, pp: 1 }", 0);
    ck_assert_int_eq(count(&b, kv), mL * (3 + 3 + 2));
    done(&b);
}
END_TEST

/* MLA's input-norm rerun (recompute_modules: [layernorm]) sits in the
 * recompute slot, but it is no attention: no exchange is run for it. */
START_TEST(norm_rerun_sends_nothing)
{
    for (int rerun = 0; rerun < 2; rerun++) {
        fixture f;
        load(&f, ", position_embedding_type: rope, mla: { q_lora_rank: 256, kv_lora_rank: 128, "
                 "qk_head_dim: 64, qk_pos_emb_head_dim: 32, v_head_dim: 64 }",
             1, rerun ? "recompute: selective, recompute_modules: [layernorm]" : "recompute: none",
             "{ tp: 1, cp: 4, pp: 1 }");
        ck_assert_int_eq(f.rc, 0);
        tu_built t;
        tu_build(&t, &f.s, &f.s.layouts[0], &f.z, CS_NET_ANALYTIC, 0);
        long n = 0;
        for (long id = 0; id < t.w.count; id++)
            n += cs_exec_gpu(t.x, id) == 0 && t.w.info[id].klass == CS_OP_CP;
        ck_assert_int_eq(n, f.z.microbatches * 4 * (3 + 4)); /* the forward's and backward's */
        tu_unbuild(&t);
        unload(&f);
    }
}
END_TEST

/* a2a: Q, K, V's all-to-all (2 T (q + k + v) bytes) and the output's (2 T
 * q) forward, the same two backward. allgather: cp x kv gathered forward,
 * gathered again and reduce-scattered backward. */
START_TEST(a2a_and_allgather_bytes_per_layer)
{
    built b;
    build(&b, "cp_comm_type: a2a", "{ tp: 1, cp: 4, pp: 1 }", 0);
    double q = 2.0 * 256 * 1024, kv = 2.0 * 256 * 2048;
    long mL = b.f.z.microbatches * 4;
    ck_assert_int_eq(count(&b, q + kv), 2 * mL);
    ck_assert_int_eq(count(&b, q), 2 * mL);
    ck_assert_int_eq(count_all(&b), 4 * mL);
    done(&b);
    build(&b, "cp_comm_type: allgather", "{ tp: 1, cp: 4, pp: 1 }", 0);
    ck_assert_int_eq(b.f.s.training.cp_comm_type, CS_CP_ALLGATHER); /* Megatron's spelling */
    ck_assert_int_eq(count(&b, 4 * kv), 3 * mL);
    ck_assert_int_eq(count_all(&b), 3 * mL);
    done(&b);
}
END_TEST

/* The p2p exchange hides behind the attention steps when each step outlasts
 * its send (a long sequence: 32k tokens on NVLink); the a2a one, blocking,
 * never does. */
START_TEST(p2p_exchange_hidden_a2a_exposed)
{
    double exposed[2];
    for (int a2a = 0; a2a < 2; a2a++) {
        char yaml[2048];
        snprintf(yaml, sizeof yaml,
                 "model: { name: c, num_layers: 2, hidden_size: 2048, num_attention_heads: 16, "
                 "ffn_hidden_size: 8192, vocab_size: 32000, max_position_embeddings: 32768 }\n"
                 "cluster: { base: dgx-h100, nodes: 1 }\n"
                 "training: { seq_length: 32768, global_batch_size: 2, cp_comm_type: %s }\n"
                 "layouts:\n  - { tp: 1, cp: 8, pp: 1 }\n",
                 a2a ? "a2a" : "p2p");
        cs_scenario s;
        cs_layout_sizes z;
        cs_diags d;
        cs_diags_init(&d);
        ck_assert_int_eq(tu_load_scenario(yaml, &s, &d), 0);
        ck_assert_int_eq(cs_layout_check(&s, &s.layouts[0], &z, &d), 0);
        cs_replay_result r;
        ck_assert_int_eq(cs_replay(&s, &s.layouts[0], &z, CS_NET_ANALYTIC, 1, &r), 0);
        exposed[a2a] = r.time_s[CS_TIME_CP];
        ck_assert(r.time_s[CS_TIME_TP] == 0); /* tp 1 */
        cs_replay_result_free(&r);
        cs_diags_free(&d);
        cs_scenario_free(&s);
    }
    ck_assert(exposed[0] == 0);
    ck_assert(exposed[1] > 0);
}
END_TEST

/* ---- memory ----------------------------------------------------------------------------- */

/* A layer's saved activations per GPU are exactly 1/cp of cp 1's (every term
 * is per token with flash attention); the distributed optimizer shards over
 * dp x cp. */
START_TEST(activations_and_optimizer_per_gpu)
{
    fixture a, c;
    load(&a, "", 1, "distributed_optimizer: true", "{ tp: 2, pp: 1 }");
    load(&c, "", 1, "distributed_optimizer: true", "{ tp: 2, cp: 4, pp: 1 }");
    ck_assert_int_eq(a.rc, 0);
    ck_assert_int_eq(c.rc, 0);
    double one = cs_memory_layer_activations(&a.s.model, &a.s.training, &a.z, 0);
    double four = cs_memory_layer_activations(&c.s.model, &c.s.training, &c.z, 0);
    assert_close(four, one / 4, 1e-15);
    ck_assert(cs_memory_cp_buffers(&a.s.model, &a.s.training, &a.z) == 0);
    cs_memory_breakdown ma, mc;
    cs_memory_stage(&a.s, &a.z, 0, &ma);
    cs_memory_stage(&c.s, &c.z, 0, &mc);
    ck_assert(ma.weights == mc.weights);
    /* dp 4 against dp 1 x cp 4: the same shard */
    ck_assert_int_eq(a.z.dense_dp, 4);
    ck_assert_int_eq(c.z.dense_dp, 1);
    assert_close(mc.optimizer, ma.optimizer, 1e-15);
    unload(&a);
    unload(&c);
}
END_TEST

/* The exchange's buffers while a layer's attention runs: p2p the larger of
 * forward's cp - 1 received blocks and backward's 4, all_gather 2 cp; the
 * replay books them and frees them, so nothing is left at the end. */
START_TEST(exchange_buffers)
{
    double kv = 2.0 * 256 * 2048; /* cp 4, T 256 */
    static const char *const types[] = {"p2p", "all_gather", "a2a"};
    double want[] = {4 * kv, 2 * 4 * kv, 0};
    for (int i = 0; i < 3; i++) {
        char training[64];
        snprintf(training, sizeof training, "cp_comm_type: %s", types[i]);
        fixture f;
        load(&f, "", 1, training, "{ tp: 1, cp: 4, pp: 1 }");
        ck_assert_int_eq(f.rc, 0);
        ck_assert(cs_memory_cp_buffers(&f.s.model, &f.s.training, &f.z) == want[i]);
        cs_replay_result r;
        ck_assert_int_eq(cs_replay(&f.s, &f.s.layouts[0], &f.z, CS_NET_ANALYTIC, 1, &r), 0);
        ck_assert(r.memory_left_bytes < 1);
        cs_replay_result_free(&r);
        unload(&f);
    }
    fixture f;
    load(&f, "", 1, "cp_comm_type: p2p", "{ tp: 1, cp: 8, pp: 1 }"); /* 7 received blocks */
    ck_assert(cs_memory_cp_buffers(&f.s.model, &f.s.training, &f.z) == 7 * 2.0 * 128 * 2048);
    unload(&f);
}
END_TEST

/* ---- checks ------------------------------------------------------------------------------ */

static void assert_refused(const char *model_extra, const char *training, const char *layout,
                           const char *needle)
{
    fixture f;
    load(&f, model_extra, 1, training, layout);
    ck_assert_int_eq(f.rc, -1);
    ck_assert_msg(tu_find(&f.d, needle) != NULL, "no error containing '%s'", needle);
    unload(&f);
}

START_TEST(checks_refuse_what_megatron_refuses)
{
    /* 1024 / (2 x 8) = 64: fine; 2 x 16 does not divide 1024 with 16 GPUs
     * on one node; use a sequence that 2 cp does not divide */
    fixture f;
    char yaml[1024];
    snprintf(yaml, sizeof yaml, MODEL "cluster: { base: dgx-h100, nodes: 1 }\n"
             "training: { seq_length: 1000, global_batch_size: 16 }\n"
             "layouts:\n  - { tp: 1, cp: 8, pp: 1 }\n", "");
    cs_diags_init(&f.d);
    ck_assert_int_eq(tu_load_scenario(yaml, &f.s, &f.d), 0);
    ck_assert_int_eq(cs_layout_check(&f.s, &f.s.layouts[0], &f.z, &f.d), -1);
    tu_assert_diag(&f.d, CS_ERROR, "seq_length 1000 is not divisible by 2 x cp = 16", 5, 18);
    unload(&f);
    assert_refused("", "attention_backend: unfused", "{ tp: 1, cp: 2, pp: 1 }",
                   "context parallelism runs only in Transformer Engine's attention");
    assert_refused(", num_query_groups: 2", "cp_comm_type: a2a", "{ tp: 1, cp: 4, pp: 1 }",
                   "cp_comm_type a2a splits each tensor-parallel rank's heads cp ways");
    assert_refused("", "cp_comm_type: a2a+p2p", "{ tp: 1, cp: 2, pp: 1 }",
                   "a2a+p2p (hierarchical) is not modelled yet");
    assert_refused("", "", "{ tp: 1, cp: 3, pp: 1 }", "tp 1 x cp 3 x pp 1 = 3 does not divide");
    assert_refused("", "", "{ tp: 2, cp: 2, pp: 1, dp: 4 }",
                   "needs 16 GPUs (tp 2 x cp 2 x pp 1 x ep 1 x dp 4)");
}
END_TEST

/* The same refusals at their FILE:LINE:COL: the backend's at the layout's
 * cp, the exchange's at its key. */
START_TEST(refusals_at_their_position)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(
        tu_load_scenario("model: { name: c, num_layers: 4, hidden_size: 1024, num_attention_heads: "
                         "16, ffn_hidden_size: 4096, vocab_size: 32000, max_position_embeddings: "
                         "1024 }\n"
                         "cluster: { base: dgx-h100, nodes: 1 }\n"
                         "training: { seq_length: 1024, global_batch_size: 16, cp_comm_type: "
                         "a2a+p2p, attention_backend: unfused }\n"
                         "layouts:\n  - { tp: 1, cp: 2, pp: 1 }\n",
                         &s, &d),
        0);
    ck_assert_int_eq(cs_layout_check(&s, &s.layouts[0], &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "context parallelism runs only in Transformer Engine's attention",
                   5, 18);
    tu_assert_diag(&d, CS_ERROR, "cp_comm_type a2a+p2p (hierarchical) is not modelled yet", 3, 68);
    cs_diags_free(&d);
    cs_scenario_free(&s);
    /* Sliding windows with context parallelism: Transformer Engine refuses
     * p2p (Megatron's default), at the layout's cp without cp_comm_type. */
    cs_diags_init(&d);
    ck_assert_int_eq(
        tu_load_scenario("model: { name: c, num_layers: 4, hidden_size: 1024, num_attention_heads: "
                         "16, ffn_hidden_size: 4096, vocab_size: 32000, window_size: [128, 0] }\n"
                         "cluster: { base: dgx-h100, nodes: 1 }\n"
                         "training: { seq_length: 1024, global_batch_size: 16 }\n"
                         "layouts:\n  - { tp: 1, cp: 2, pp: 1 }\n",
                         &s, &d),
        0);
    ck_assert_int_eq(cs_layout_check(&s, &s.layouts[0], &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR,
                   "sliding-window attention (model.window_size) with context parallelism needs "
                   "cp_comm_type a2a or all_gather: Transformer Engine refuses windows with p2p",
                   5, 18);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

/* An order written without cp keeps its meaning: cp right after tp. */
START_TEST(order_without_cp_places_it_after_tp)
{
    fixture f;
    char yaml[1024];
    snprintf(yaml, sizeof yaml, MODEL "cluster: { base: dgx-h100, nodes: 2 }\n"
             "training: { seq_length: 1024, global_batch_size: 16 }\n"
             "layouts:\n  - { tp: 2, cp: 2, pp: 2, order: tp-dp-pp }\n", "");
    cs_diags_init(&f.d);
    ck_assert_int_eq(tu_load_scenario(yaml, &f.s, &f.d), -1); /* ep missing */
    tu_assert_diag(&f.d, CS_ERROR, "'order' must name tp, cp, ep, dp and pp once each", 5, 35);
    unload(&f);
    load(&f, "", 2, "", "{ tp: 2, cp: 2, pp: 2, order: tp-ep-pp-dp }");
    ck_assert_int_eq(f.rc, 0);
    const cs_layout *l = &f.s.layouts[0];
    ck_assert_int_eq(l->order[1], CS_DIM_CP);
    long m[4];
    /* tp-cp-ep-pp-dp: rank = tp + 2 cp + 4 pp + 8 dp */
    ck_assert_int_eq(cs_place_group_of(l, &f.z, CS_DENSE, CS_DIM_DP, 0, m), 2);
    assert_members(m, 2, (long[]){0, 8});
    ck_assert_int_eq(cs_place_group_of(l, &f.z, CS_DENSE, CS_DIM_CP, 0, m), 2);
    assert_members(m, 2, (long[]){0, 2});
    unload(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cp");
    TCase *p = tcase_create("placement");
    tcase_add_test(p, ranks_placed_tp_cp_ep_dp_pp);
    tcase_add_test(p, experts_fold_over_tp_and_cp);
    tcase_add_test(p, order_without_cp_places_it_after_tp);
    suite_add_tcase(s, p);
    TCase *k = tcase_create("kernels");
    tcase_add_test(k, kernels_take_a_cp_share);
    tcase_add_test(k, windows_split_over_cp_ranks);
    tcase_add_test(k, activations_and_optimizer_per_gpu);
    tcase_add_test(k, exchange_buffers);
    suite_add_tcase(s, k);
    TCase *x = tcase_create("exchanges");
    tcase_set_timeout(x, 120);
    tcase_add_test(x, p2p_ring_bytes_per_layer);
    tcase_add_test(x, a2a_and_allgather_bytes_per_layer);
    tcase_add_test(x, norm_rerun_sends_nothing);
    tcase_add_test(x, p2p_exchange_hidden_a2a_exposed);
    suite_add_tcase(s, x);
    TCase *c = tcase_create("checks");
    tcase_add_test(c, checks_refuse_what_megatron_refuses);
    tcase_add_test(c, refusals_at_their_position);
    suite_add_tcase(s, c);
    return tu_main(s);
}
