/* The kernels of one Megatron layer against Megatron's formulas worked by
 * hand for GPT-3 175B on TP8 (s 2048, b 1, h 12288, 96 heads of 128,
 * ffn 4h): FLOPs of every GEMM and of core attention, forward, backward and
 * recompute, with sequence parallelism on and off and the unfused (local)
 * and flash backends; bytes of the elementwise kernels; the fusion switches. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/csv.h"
#include "model/cost.h"
#include "model/kernels.h"
#include "model/model.h"
#include "replay/replay.h"
#include "testutil.h"

typedef struct setup {
    cs_scenario s;
    cs_layout_sizes z;
    cs_shape sh;
} setup;

/* The A100 preset, granted FP8 (gpu.fp8) so that the FP8 cases' arithmetic
 * can be worked on its tables: the formulas, not the GPU, are under test. */
static void load(setup *u, const char *training)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "model: gpt3-175b\n"
             "cluster: { base: dgx-a100-80gb, nodes: 8, gpu: { fp8: true } }\n"
             "training: { seq_length: 2048, global_batch_size: 64, %s }\n"
             "layouts:\n  - { tp: 8, pp: 8, dp: 1 }\n",
             training);
    tu_load_checked(yaml, &u->s, &u->z);
    cs_shape_init(&u->sh, &u->s.model, &u->s.training, &u->z);
}

static cs_kernel_opts opts(const setup *u, int backward)
{
    return (cs_kernel_opts){&u->s.training, u->z.recompute, u->z.attention, backward, 0, 0};
}

static double total_flops(const cs_kernel_list *l)
{
    double sum = 0;
    for (int i = 0; i < l->n; i++)
        sum += l->k[i].flops;
    return sum;
}

static const cs_kernel *find(const cs_kernel_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->k[i].name, name))
            return &l->k[i];
    return NULL;
}

#define S 2048.0
#define H 12288.0
#define T 2048.0 /* tokens of one micro-batch: s x b */
#define TP 8.0

/* Forward: QKV 6Th^2, projection 2Th^2, fc1 and fc2 8Th^2 each: 24 T h^2
 * over tp. Core attention: QK^T and PV over the whole s x s, 2 s^2 h each
 * (unfused computes the masked half too); FlashAttention skips the masked
 * half: 2 s^2 h in all (Megatron's causal count since 2025). */
START_TEST(forward_flops_gpt3_tp8)
{
    const char *backends[] = {"attention_backend: local", "attention_backend: flash"};
    for (int sp = 0; sp < 2; sp++)
        for (int b = 0; b < 2; b++) {
            setup u;
            char training[256];
            snprintf(training, sizeof training, "%s, sequence_parallel: %s", backends[b],
                     sp ? "true" : "false");
            load(&u, training);
            ck_assert(u.sh.V == 51200); /* 50257 padded to a multiple of 128 x 8 */
            cs_kernel_opts o = opts(&u, 0);
            cs_kernel_list a, m;
            cs_kernels_attention(&u.sh, &o, &a);
            cs_kernels_mlp(&u.sh, &o, T, 4 * H, TP, 1, 1, &m);
            double core = (b ? 2.0 : 4.0) * S * S * H / TP;
            assert_close(total_flops(&a), 8 * T * H * H / TP + core, 1e-12);
            assert_close(total_flops(&m), 16 * T * H * H / TP, 1e-12);
            const cs_kernel *qkv = find(&a, "linear_qkv"), *fc1 = find(&m, "linear_fc1");
            ck_assert(qkv && qkv->m == T && qkv->k == H && qkv->n == 3 * H / TP);
            /* BF16 training: nothing runs in FP8 (fp8_layers_tp8 checks fp8). */
            ck_assert(!qkv->fp8 && !fc1->fp8);
            ck_assert(fc1 && fc1->m == T && fc1->k == H && fc1->n == 4 * H / TP);
            /* Norms and bias-dropout-adds run on the rank's tokens: all of
             * them, or 1/tp with sequence parallelism. */
            double tl = sp ? T / TP : T;
            ck_assert(find(&a, "input_layernorm")->bytes == 4 * tl * H);
            ck_assert(find(&a, "self_attn_bda")->bytes == 7 * tl * H);
            ck_assert(find(&m, "bias_gelu")->bytes == 4 * T * 4 * H / TP);
            cs_scenario_free(&u.s);
        }
}
END_TEST

/* Backward: every GEMM twice (dgrad and wgrad); core attention's four
 * batched GEMMs unfused (8 s^2 h), or FlashAttention's 2.5 x forward; the
 * wgrads sit in their own slots. */
START_TEST(backward_flops_gpt3_tp8)
{
    for (int b = 0; b < 2; b++) {
        setup u;
        load(&u, b ? "attention_backend: flash" : "attention_backend: local");
        cs_kernel_opts o = opts(&u, 1);
        cs_kernel_list a, m;
        cs_kernels_attention(&u.sh, &o, &a);
        cs_kernels_mlp(&u.sh, &o, T, 4 * H, TP, 1, 1, &m);
        double core = b ? 2.5 * 2 * S * S * H / TP : 8 * S * S * H / TP;
        assert_close(total_flops(&a), 16 * T * H * H / TP + core, 1e-12);
        assert_close(total_flops(&m), 32 * T * H * H / TP, 1e-12);
        assert_close(cs_kernels_flops(&a, CS_SLOT_OUT_W) + cs_kernels_flops(&a, CS_SLOT_IN_W),
                     8 * T * H * H / TP, 1e-12);
        assert_close(cs_kernels_flops(&m, CS_SLOT_OUT_W) + cs_kernels_flops(&m, CS_SLOT_IN_W),
                     16 * T * H * H / TP, 1e-12);
        ck_assert(cs_kernels_flops(&a, CS_SLOT_RECOMPUTE) == 0);
        const cs_kernel *w = find(&a, "linear_qkv.wgrad");
        ck_assert(w && w->m == 3 * H / TP && w->n == H && w->k == T);
        cs_scenario_free(&u.s);
    }
}
END_TEST

/* Selective recompute reruns exactly the core attention forward before its
 * backward; full recompute is the replay's (the whole forward again). */
START_TEST(selective_recompute_reruns_core_attention)
{
    for (int b = 0; b < 2; b++) {
        setup u;
        load(&u, b ? "attention_backend: flash, recompute: selective"
                   : "attention_backend: local, recompute: selective");
        cs_kernel_opts f = opts(&u, 0), bw = opts(&u, 1);
        cs_kernel_list fwd, back;
        cs_kernels_attention(&u.sh, &f, &fwd);
        cs_kernels_attention(&u.sh, &bw, &back);
        ck_assert(cs_kernels_flops(&back, CS_SLOT_RECOMPUTE) ==
                  cs_kernels_flops(&fwd, CS_SLOT_ATTN));
        ck_assert(cs_kernels_bytes(&back, CS_SLOT_RECOMPUTE) ==
                  cs_kernels_bytes(&fwd, CS_SLOT_ATTN));
        cs_scenario_free(&u.s);
    }
}
END_TEST

/* Unfused core attention moves the s x s scores: E = b (a/t) s^2 elements,
 * baddbmm writes them (2E), the fused softmax reads and writes (4E), the
 * dropout reads, writes and stores a 1-byte mask (5E), bmm reads (2E).
 * FlashAttention's one kernel touches only Q, K, V, O and the log-sum-exp. */
START_TEST(score_traffic_follows_the_backend)
{
    setup u;
    load(&u, "attention_backend: local");
    cs_kernel_opts o = opts(&u, 0);
    cs_kernel_list a;
    cs_kernels_attention(&u.sh, &o, &a);
    double E = 96.0 / TP * S * S, qt = T * H / TP;
    ck_assert(find(&a, "core_attention.baddbmm_qk")->bytes ==
              2 * (96.0 / TP) * (2 * S * 128) + 2 * E);
    ck_assert(find(&a, "core_attention.scale_mask_softmax")->bytes == 4 * E);
    ck_assert(find(&a, "core_attention.attention_dropout")->bytes == 5 * E);
    ck_assert(find(&a, "core_attention.bmm_pv")->bytes == 2 * E + 2 * 2 * qt);
    ck_assert(find(&a, "core_attention.context_permute")->bytes == 4 * qt);
    ck_assert_ptr_null(find(&a, "core_attention.repeat_interleave_kv")); /* no GQA */
    cs_scenario_free(&u.s);

    load(&u, "attention_backend: flash");
    o = opts(&u, 0);
    cs_kernels_attention(&u.sh, &o, &a);
    const cs_kernel *k = find(&a, "core_attention.forward");
    ck_assert(k && k->kind == CS_KERNEL_ATTENTION && k->backend == CS_ATTN_FLASH);
    ck_assert(k->seq == S && k->head_dim == 128);
    ck_assert(k->bytes == 2 * 3 * qt + 2 * qt + 4 * (96.0 / TP) * S);
    ck_assert_ptr_null(find(&a, "core_attention.scale_mask_softmax"));
    cs_scenario_free(&u.s);
}
END_TEST

/* The softmax falls back to torch's when the fused kernel cannot run: off,
 * or longer than Megatron-Core's local limit of 4096 (Transformer Engine's
 * unfused attention fuses up to 16384). */
START_TEST(softmax_fallback)
{
    const char *cases[] = {"attention_backend: local, masked_softmax_fusion: false",
                           "attention_backend: local, masked_softmax_fusion: false, "
                           "attention_softmax_in_fp32: true"};
    double E = 96.0 / TP * S * S;
    for (int i = 0; i < 2; i++) {
        setup u;
        load(&u, cases[i]);
        cs_kernel_opts o = opts(&u, 0);
        cs_kernel_list a;
        cs_kernels_attention(&u.sh, &o, &a);
        ck_assert_ptr_null(find(&a, "core_attention.scale_mask_softmax"));
        const cs_kernel *k =
            find(&a, i ? "core_attention.softmax (torch, fp32)" : "core_attention.softmax (torch)");
        ck_assert(k != NULL);
        ck_assert(k->bytes == (i ? 28 : 8) * E + S * S);
        cs_scenario_free(&u.s);
    }
    const char *backends[] = {"local", "unfused"};
    for (int i = 0; i < 2; i++) {
        setup u;
        char training[128];
        snprintf(training, sizeof training, "attention_backend: %s", backends[i]);
        load(&u, training);
        u.s.training.seq_length = 8192;
        cs_shape_init(&u.sh, &u.s.model, &u.s.training, &u.z);
        cs_kernel_opts o = opts(&u, 0);
        cs_kernel_list a;
        cs_kernels_attention(&u.sh, &o, &a);
        ck_assert((find(&a, "core_attention.scale_mask_softmax") != NULL) == (i == 1));
        ck_assert((find(&a, "core_attention.softmax (torch)") != NULL) == (i == 0));
        cs_scenario_free(&u.s);
    }
}
END_TEST

/* Unfused elementwise kernels: bias-dropout-add as three (x + bias 4,
 * dropout 5, + residual 6 bytes per element), bias add and GeLU as two. */
START_TEST(fusion_switches)
{
    setup u;
    load(&u, "bias_dropout_fusion: false, bias_gelu_fusion: false");
    cs_kernel_opts o = opts(&u, 0);
    cs_kernel_list a, m;
    cs_kernels_attention(&u.sh, &o, &a);
    cs_kernels_mlp(&u.sh, &o, T, 4 * H, TP, 1, 1, &m);
    const cs_kernel *bda = find(&a, "self_attn_bda");
    ck_assert(bda->bytes == 15 * T * H && bda->launches == 3);
    ck_assert(find(&m, "gelu (bias add, gelu)")->bytes == 8 * T * 4 * H / TP);
    cs_scenario_free(&u.s);
    /* No dropout: no mask, one kernel fewer. */
    load(&u, "hidden_dropout: 0, bias_dropout_fusion: false");
    o = opts(&u, 0);
    cs_kernels_attention(&u.sh, &o, &a);
    bda = find(&a, "self_attn_bda");
    ck_assert(bda->bytes == 10 * T * H && bda->launches == 2);
    cs_scenario_free(&u.s);
}
END_TEST

/* The loss: logits [T, V/t], the cross entropy's passes over them in fp32
 * (fewer when fused, by implementation), and three all-reduces (two with the
 * fused loss). */
START_TEST(output_layer_and_loss)
{
    setup u;
    load(&u, "sequence_parallel: true");
    cs_kernel_opts o = opts(&u, 0);
    cs_kernel_list l;
    cs_kernels_output(&u.sh, &o, &l);
    const cs_kernel *g = find(&l, "output_layer");
    ck_assert(g && g->m == T && g->k == H && g->n == 51200 / TP);
    ck_assert(cs_kernels_bytes(&l, CS_SLOT_CORE) == 38 * T * 51200 / TP);
    ck_assert_int_eq(cs_kernels_loss_reductions(&u.s.training), 3);
    cs_kernel_opts b = opts(&u, 1);
    cs_kernels_output(&u.sh, &b, &l);
    ck_assert(cs_kernels_bytes(&l, CS_SLOT_CORE_B) == 14 * T * 51200 / TP);
    u.s.training.cross_entropy_loss_fusion = 1;
    ck_assert_int_eq(cs_kernels_loss_reductions(&u.s.training), 2);
    /* Fused, native: 22 bytes per logit forward in 3 kernels, 6 backward in
     * one; te: 8 forward in 2, 14 backward in 2. */
    int impl[2] = {0, 1};
    double fwd[2] = {22, 8}, bwd[2] = {6, 14}, nf[2] = {3, 2}, nb[2] = {1, 2};
    for (int i = 0; i < 2; i++) {
        u.s.training.cross_entropy_fusion_impl = impl[i];
        cs_kernels_output(&u.sh, &o, &l);
        ck_assert(cs_kernels_bytes(&l, CS_SLOT_CORE) == fwd[i] * T * 51200 / TP);
        ck_assert(cs_kernels_launches(&l, CS_SLOT_CORE) == nf[i]);
        cs_kernels_output(&u.sh, &b, &l);
        ck_assert(cs_kernels_bytes(&l, CS_SLOT_CORE_B) == bwd[i] * T * 51200 / TP);
        ck_assert(cs_kernels_launches(&l, CS_SLOT_CORE_B) == nb[i]);
    }
    cs_scenario_free(&u.s);
}
END_TEST

/* auto is what Transformer Engine picks: cuDNN where the GPU has a fused
 * table (H100), else FlashAttention (A100); use_flash_attn means flash. */
START_TEST(auto_backend_by_gpu)
{
    setup u;
    load(&u, "attention_backend: auto");
    ck_assert_int_eq(u.z.attention, CS_ATTN_FLASH);
    cs_scenario_free(&u.s);
    load(&u, "use_flash_attn: true");
    ck_assert_int_eq(u.z.attention, CS_ATTN_FLASH);
    cs_scenario_free(&u.s);
    cs_training t;
    memset(&t, 0, sizeof t);
    t.attention_backend = -1;
    cs_gpu_config gpu = {0};
    ck_assert_int_eq(cs_kernels_backend(&t, &gpu), CS_ATTN_FLASH);
    gpu.attention_efficiency.fused.n = 1;
    ck_assert_int_eq(cs_kernels_backend(&t, &gpu), CS_ATTN_FUSED);
    t.attention_backend = CS_ATTN_LOCAL;
    ck_assert_int_eq(cs_kernels_backend(&t, &gpu), CS_ATTN_LOCAL);
}
END_TEST

/* QK-LayerNorm on GPT-3 TP8 (q = k = h / 8 wide per rank, T tokens): the
 * query norm reads and writes T h / 8 2-byte elements, the key norm copies
 * the strided keys first (twice that); backward 3 bytes' worth each way
 * (dy, x, dx) in three launches (the norm, its weight-gradient reduction,
 * the DDP hook's add). A TENorm's host ops each (20). The weights: two
 * LayerNorms of kv_channels (weight and bias) per layer. */
START_TEST(qk_layernorm_kernels)
{
    setup u;
    load(&u, "attention_backend: flash");
    cs_kernel_list f, b;
    cs_kernels_attention(&u.sh, &(cs_kernel_opts){&u.s.training, u.z.recompute, u.z.attention, 0, 0, 0},
                         &f);
    int plain = f.n;
    cs_param_counts before, after;
    cs_model_params(&u.s.model, &before);
    u.s.model.qk_layernorm = 1;
    cs_shape_init(&u.sh, &u.s.model, &u.s.training, &u.z);
    cs_kernel_opts fo = opts(&u, 0), bo = opts(&u, 1);
    cs_kernels_attention(&u.sh, &fo, &f);
    cs_kernels_attention(&u.sh, &bo, &b);
    ck_assert_int_eq(f.n, plain + 2);
    const cs_kernel *q = find(&f, "q_layernorm"), *k = find(&f, "k_layernorm (contiguous, norm)");
    ck_assert(q && k && q->bytes == 2 * 2 * T * H / TP && k->bytes == 4 * 2 * T * H / TP);
    ck_assert(q->launches == 1 && k->launches == 2 && q->host_ops == 20 && k->host_ops == 20);
    ck_assert_int_eq(q->slot, CS_SLOT_CORE);
    const cs_kernel *qb = find(&b, "q_layernorm.backward"), *kb = find(&b, "k_layernorm.backward");
    ck_assert(qb && kb && qb->bytes == 3 * 2 * T * H / TP && kb->bytes == qb->bytes);
    ck_assert(qb->launches == 3 && kb->launches == 3 && qb->slot == CS_SLOT_CORE_B);
    cs_model_params(&u.s.model, &after);
    ck_assert(after.attention - before.attention == 2 * 2 * 128);
    cs_scenario_free(&u.s);
}
END_TEST

/* Quick-GeGLU is gated like SwiGLU (fc1 twice as wide, the same fused
 * kernel's bytes) and fused by bias_gelu_fusion, as Megatron's arguments
 * map it; a clamp adds chunk, two clamps and a cat: 8 bytes per output
 * element forward (each half read and written, then both again), 6
 * backward, three launches each way. */
START_TEST(quick_geglu_and_clamp)
{
    setup u;
    load(&u, "bias_swiglu_fusion: false");
    u.s.model.quick_geglu = 1;
    u.s.model.activation_func_clamp_value = 7;
    cs_shape_init(&u.sh, &u.s.model, &u.s.training, &u.z);
    ck_assert(u.sh.f == 3);
    cs_kernel_opts f = opts(&u, 0), b = opts(&u, 1);
    cs_kernel_list l;
    double e = T * 4 * H / TP;
    cs_kernels_mlp(&u.sh, &f, T, 4 * H, TP, 1, 1, &l);
    ck_assert(find(&l, "bias_quick_geglu")->bytes == 3 * 2 * e); /* fused despite SwiGLU's off */
    const cs_kernel *c = find(&l, "glu_clamp (clamp, clamp, cat)");
    ck_assert(c->bytes == 8 * 2 * e && c->launches == 3);
    ck_assert(find(&l, "linear_fc1")->n == 2 * 4 * H / TP);
    cs_kernels_mlp(&u.sh, &b, T, 4 * H, TP, 1, 1, &l);
    ck_assert(find(&l, "glu_clamp.backward")->bytes == 6 * 2 * e);
    cs_param_counts p;
    cs_model_params(&u.s.model, &p);
    ck_assert(p.dense_mlp == 3 * H * 4 * H);
    cs_scenario_free(&u.s);
}
END_TEST

/* `clustersim kernels`: the table of one layer, its CSV (whose rows add up
 * to the text's totals), and its errors. */
static double bytes_of(const cs_kernel_list *l, const char *name)
{
    const cs_kernel *k = find(l, name);
    ck_assert_msg(k != NULL, "no kernel %s", name);
    return k->bytes;
}

/* FP8 on GPT-3 TP8 (T = 2048, h = 12288, QKV width 3h/8, fc1 4h/8): Transformer
 * Engine's casts by hand, per recipe. Delayed, no SP: cast_transpose reads 2
 * and writes 1 + 1 bytes per element of the GEMM input (T x h for QKV and
 * fc1, T x h/8 for the projection, T x 4h/8 for fc2) or output gradient
 * (T x h for the projection and fc2, T x 3h/8 for QKV, T x 4h/8 for fc1). */
START_TEST(fp8_layers_tp8)
{
    setup u;
    load(&u, "precision: fp8, attention_backend: flash");
    cs_kernel_opts f = opts(&u, 0), b = opts(&u, 1);
    cs_kernel_list a, m, ab, mb;
    cs_kernels_attention(&u.sh, &f, &a);
    cs_kernels_mlp(&u.sh, &f, T, 4 * H, TP, 1, 1, &m);
    cs_kernels_attention(&u.sh, &b, &ab);
    cs_kernels_mlp(&u.sh, &b, T, 4 * H, TP, 1, 1, &mb);
    ck_assert(bytes_of(&a, "linear_qkv.cast_transpose") == 4 * T * H);
    ck_assert(bytes_of(&a, "linear_proj.cast_transpose") == 4 * T * H / TP);
    ck_assert(bytes_of(&m, "linear_fc1.cast_transpose") == 4 * T * H);
    ck_assert(bytes_of(&m, "linear_fc2.cast_transpose") == 4 * T * 4 * H / TP);
    ck_assert(bytes_of(&ab, "linear_proj.grad_output_cast_transpose") == 4 * T * H);
    ck_assert(bytes_of(&ab, "linear_qkv.grad_output_cast_transpose") == 4 * T * 3 * H / TP);
    ck_assert(bytes_of(&mb, "linear_fc2.grad_output_cast_transpose") == 4 * T * H);
    ck_assert(bytes_of(&mb, "linear_fc1.grad_output_cast_transpose") == 4 * T * 4 * H / TP);
    /* Casts sit in their GEMM's slot; the GEMMs are FP8 with 1-byte inputs
     * and a 2-byte output: QKV T h + h 3h/8 + 2 T 3h/8. */
    ck_assert_int_eq(find(&a, "linear_qkv.cast_transpose")->slot, CS_SLOT_IN);
    ck_assert_int_eq(find(&ab, "linear_proj.grad_output_cast_transpose")->slot, CS_SLOT_OUT_B);
    const cs_kernel *qkv = find(&a, "linear_qkv");
    ck_assert(qkv->fp8 && find(&m, "linear_fc1")->fp8 && find(&mb, "linear_fc1.wgrad")->fp8);
    ck_assert(qkv->bytes == T * H + H * 3 * H / TP + 2 * T * 3 * H / TP);
    ck_assert(!find(&a, "core_attention.forward")->fp8);
    /* The wgrad: FP8 dY^T (3h/8 x T) and X (T x h), fp32 main_grad read and
     * written in the epilogue (8 bytes per weight). */
    ck_assert(bytes_of(&ab, "linear_qkv.wgrad") == 3 * H / TP * T + T * H + 8 * 3 * H / TP * H);
    /* Tensorwise: an amax pass (2 bytes per element) before each cast. */
    cs_scenario_free(&u.s);
    load(&u, "precision: fp8, fp8_recipe: tensorwise");
    f = opts(&u, 0);
    cs_kernels_attention(&u.sh, &f, &a);
    ck_assert(bytes_of(&a, "linear_qkv.amax") == 2 * T * H);
    ck_assert(bytes_of(&a, "linear_qkv.cast_transpose") == 4 * T * H);
    /* Blockwise: fp32 scales per 1x128 on both copies, 2 + 2 (1 + 4/128);
     * mxfp8: one byte per 32, 2 + 2 (1 + 1/32): both 4 + 1/16 per element. */
    cs_scenario_free(&u.s);
    load(&u, "precision: fp8, fp8_recipe: blockwise");
    f = opts(&u, 0);
    cs_kernels_attention(&u.sh, &f, &a);
    ck_assert(bytes_of(&a, "linear_qkv.quantize") == (4 + 1.0 / 16) * T * H);
    ck_assert(find(&a, "linear_qkv.cast_transpose") == NULL);
    /* Sequence parallelism, delayed: the shard (T/8 rows) cast to FP8 only
     * (2 + 1 bytes), the gathered input transposed before the wgrad (1 + 1
     * over T x h); the projection's input is not gathered. */
    cs_scenario_free(&u.s);
    load(&u, "precision: fp8, sequence_parallel: true");
    f = opts(&u, 0);
    b = opts(&u, 1);
    cs_kernels_attention(&u.sh, &f, &a);
    cs_kernels_attention(&u.sh, &b, &ab);
    ck_assert(bytes_of(&a, "linear_qkv.cast") == 3 * T / TP * H);
    ck_assert(bytes_of(&a, "linear_proj.cast_transpose") == 4 * T * H / TP);
    ck_assert(bytes_of(&ab, "linear_qkv.input_transpose") == 2 * T * H);
    ck_assert_int_eq(find(&ab, "linear_qkv.input_transpose")->slot, CS_SLOT_IN_W);
    ck_assert(find(&ab, "linear_proj.input_transpose") == NULL);
    /* A layer kept in BF16 runs the BF16 list: no casts, nothing FP8, the
     * BF16 run's bytes. */
    cs_kernel_opts f16 = f;
    f16.bf16 = 1;
    cs_kernels_attention(&u.sh, &f16, &a);
    setup v;
    load(&v, "sequence_parallel: true");
    cs_kernel_opts fv = opts(&v, 0);
    cs_kernels_attention(&v.sh, &fv, &m);
    ck_assert_int_eq(a.n, m.n);
    for (int i = 0; i < a.n; i++) {
        ck_assert_str_eq(a.k[i].name, m.k[i].name);
        ck_assert(!a.k[i].fp8 && a.k[i].bytes == m.k[i].bytes);
    }
    /* The weights' quantization once per iteration: 2 read + 2 written per
     * weight (delayed); with fp8_param_gather the FP8 weight read and its
     * transpose written, 1 + 1. */
    ck_assert(cs_kernels_fp8_weight_bytes(&u.s.training) == 4);
    u.s.training.fp8_param_gather = 1;
    ck_assert(cs_kernels_fp8_weight_bytes(&u.s.training) == 2);
    cs_scenario_free(&u.s);
    cs_scenario_free(&v.s);
}
END_TEST

START_TEST(kernels_command)
{
    const char *file = tu_write("k.yaml", "name: k\nmodel: gpt3-175b\n"
                                          "cluster: { base: dgx-a100-80gb, nodes: 8 }\n"
                                          "training: { seq_length: 2048, global_batch_size: 64, "
                                          "attention_backend: local }\n"
                                          "layouts: [{ name: a, tp: 8, pp: 8, dp: 1 }, "
                                          "{ name: bad, tp: 3, pp: 8 }]\n");
    char cmd[1024], *out, *err;
    snprintf(cmd, sizeof cmd, CS_BINARY " kernels %s", file);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "attention local"));
    ck_assert_ptr_nonnull(strstr(out, "linear_qkv.wgrad"));
    ck_assert_ptr_nonnull(strstr(out, "[2048x12288].[12288x4608]"));
    ck_assert_ptr_nonnull(strstr(out, "core_attention.scale_mask_softmax"));
    double f_us, f_gf, b_us, b_gf;
    const char *tot = strstr(out, "forward ");
    ck_assert_ptr_nonnull(tot);
    ck_assert_int_eq(sscanf(tot, "forward %lf us (%lf GFLOP), backward %lf us (%lf GFLOP)", &f_us,
                            &f_gf, &b_us, &b_gf),
                     4);
    /* 24 T h^2 / t + 4 s^2 h / t forward; twice the GEMMs and 8 s^2 h / t back. */
    assert_close(f_gf * 1e9, 24 * T * H * H / TP + 4 * S * S * H / TP, 1e-3);
    assert_close(b_gf * 1e9, 48 * T * H * H / TP + 8 * S * S * H / TP, 1e-3);
    double f_host, b_host;
    const char *host = strstr(out, "the host issues it in: ");
    ck_assert_ptr_nonnull(host);
    ck_assert_int_eq(sscanf(host, "the host issues it in: forward %lf us, backward %lf us",
                            &f_host, &b_host),
                     2);
    free(out);
    free(err);

    snprintf(cmd, sizeof cmd, CS_BINARY " kernels %s --format csv", file);
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
    ck_assert(!strncmp(out, "block,pass,kernel,slot,shape,flops,bytes,time_s,efficiency,host_s\n",
                       66));
    /* Every row has the header's 10 fields (names with commas are quoted). */
    double sum = 0, hf = 0, hb = 0;
    int rows = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), rows++) {
        char *f[16];
        ck_assert_int_eq(cs_csv_split(line, f, 16), 10);
        int layer = !strcmp(f[0], "attention") || !strcmp(f[0], "mlp");
        if (!strcmp(f[1], "forward") && layer)
            sum += atof(f[5]);
        if (layer)
            *(strcmp(f[1], "forward") ? &hb : &hf) += atof(f[9]);
    }
    ck_assert_int_gt(rows, 40);
    assert_close(sum, f_gf * 1e9, 1e-3);
    /* The host's time adds up too; on the A100 preset (7 us per launch, 2
     * per other op) the forward's launches alone take more than 7 us x 10. */
    assert_close(hf * 1e6, f_host, 1e-3);
    assert_close(hb * 1e6, b_host, 1e-3);
    ck_assert(f_host > 70 && b_host > f_host);
    free(out);

    snprintf(cmd, sizeof cmd, CS_BINARY " kernels %s --layout bad", file);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "does not divide the cluster's 64 GPUs"));
    free(err);
    snprintf(cmd, sizeof cmd, CS_BINARY " kernels %s --layout none", file);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "has no layout 'none'"));
    free(err);
    snprintf(cmd, sizeof cmd, CS_BINARY " kernels %s --format json", file);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    free(err);
}
END_TEST

/* A windowed GPT-3 175B (window_size [255, 0] on the odd layers, window
 * 256 keys a query) on TP8, under `cluster`. */
static void load_window_with(setup *u, const char *cluster, long layers, const char *training)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "model: { base: gpt3-175b, num_layers: %ld, window_size: [255, 0], "
             "window_attn_skip_freq: 2 }\n"
             "cluster: %s\n"
             "training: { seq_length: 2048, global_batch_size: 8, attention_backend: fused, "
             "optimizer: none%s }\n"
             "layouts:\n  - { tp: 8, pp: 1 }\n",
             layers, cluster, training);
    tu_load_checked(yaml, &u->s, &u->z);
    cs_shape_init(&u->sh, &u->s.model, &u->s.training, &u->z);
}

static void load_window(setup *u, const char *cluster, long layers)
{
    load_window_with(u, cluster, layers, "");
}

/* One attention kernel's seconds, the layer's window `span` (0: full). */
static double attention_seconds(setup *u, cs_cost *c, int backward, double span)
{
    cs_kernel_opts o = opts(u, backward);
    o.window = span;
    cs_kernel_list l;
    cs_kernels_attention(&u->sh, &o, &l);
    return cs_cost_of(c, find(&l, backward ? "core_attention.backward" : "core_attention.forward"));
}

/* Sliding-window attention (Megatron's window_size, window_attn_skip_freq):
 * which layers, the band's FLOPs by hand, the pricing rules, and the
 * replay's windowed layers. The band of 256 keys over s 2048 queries has
 * 2048 x 256 - 256^2 / 2 query-key pairs; 96 / 8 heads of 128 per rank:
 * forward 4 x 12 x 128 pairs, backward 2.5 times that. A made-up GPU table
 * (fused 0.5 forward; sliding_window at window 511: 0.3 at s 1024 and 0.4
 * at s 4096, backward 0.8 of those) checks the rules: interpolated in
 * log(seq), a narrower band at the table's time, a wider one towards the
 * full kernel's rate, a band as long as the sequence the full table's,
 * never slower than the full kernel, and without a table the full kernel's
 * time. */
START_TEST(sliding_window_attention)
{
    static const char *gpu =
        "{ base: dgx-h100, nodes: 1, gpu: { attention_efficiency: { "
        "fused: [[2048, 128, 0.5, 0.4]], "
        "sliding_window: [[1024, 511, 0.3, 0.24], [4096, 511, 0.4, 0.32]] } } }";
    setup u;
    load_window(&u, gpu, 96);
    ck_assert_int_eq(cs_model_layer_window(&u.s.model, 0), 256);
    ck_assert_int_eq(cs_model_layer_window(&u.s.model, 1), 0);
    ck_assert_int_eq(cs_model_layer_window(&u.s.model, 94), 256);
    ck_assert_int_eq(cs_model_layer_window(&u.s.model, 95), 0);
    cs_kernel_opts f = opts(&u, 0), b = opts(&u, 1);
    f.window = b.window = 256;
    cs_kernel_list l;
    cs_kernels_attention(&u.sh, &f, &l);
    double pairs = 2048.0 * 256 - 256.0 * 256 / 2, fwd = 4.0 * 12 * 128 * pairs;
    const cs_kernel *k = find(&l, "core_attention.forward");
    ck_assert(k->flops == fwd && k->window == 256);
    cs_kernels_attention(&u.sh, &b, &l);
    ck_assert(find(&l, "core_attention.backward")->flops == 2.5 * fwd);
    cs_cost c;
    ck_assert_int_eq(cs_cost_init(&c, &u.s.cluster.gpu, u.s.training.precision), 0);
    /* log(2048) is halfway between log(1024) and log(4096) */
    assert_close(cs_cost_window_efficiency(&c, CS_ATTN_FUSED, 128, 2048, 512, 0, 1), 0.35, 1e-12);
    assert_close(cs_cost_window_efficiency(&c, CS_ATTN_FUSED, 128, 2048, 512, 1, 1), 0.28, 1e-12);
    ck_assert(cs_cost_window_efficiency(&c, CS_ATTN_FUSED, 128, 2048, 2048, 0, 1) == 0.5);
    assert_close(attention_seconds(&u, &c, 0, 256), attention_seconds(&u, &c, 0, 512), 1e-12);
    assert_close(attention_seconds(&u, &c, 1, 256), attention_seconds(&u, &c, 1, 512), 1e-12);
    ck_assert(attention_seconds(&u, &c, 0, 512) < attention_seconds(&u, &c, 0, 1024));
    /* Past the table's largest window, log-linearly from its rate to the full
     * kernel's: a band of 1024 keys is halfway from 512 to 2048. */
    assert_close(cs_cost_window_efficiency(&c, CS_ATTN_FUSED, 128, 2048, 1024, 0, 1), 0.425,
                 1e-12);
    /* A band the table prices slower than the whole causal prefix is held at
     * the prefix's time: at s 1024 a band of 512 keys at the table's 0.3
     * would take longer than the full kernel at 0.5, which does the band's
     * 3/4 of the prefix's pairs at 0.375. */
    assert_close(cs_cost_window_efficiency(&c, CS_ATTN_FUSED, 128, 1024, 512, 0, 1), 0.375,
                 1e-12);
    cs_cost_free(&c);
    cs_scenario_free(&u.s);
    /* No sliding_window table (A100): a band takes the full kernel's time. */
    load_window(&u, "{ base: dgx-a100-80gb, nodes: 1 }", 96);
    ck_assert_int_eq(cs_cost_init(&c, &u.s.cluster.gpu, u.s.training.precision), 0);
    assert_close(attention_seconds(&u, &c, 0, 256), attention_seconds(&u, &c, 0, 0), 1e-12);
    cs_cost_free(&c);
    cs_scenario_free(&u.s);
    /* The replay: of 4 layers, layers 1 and 3 (1-based) windowed; no host
     * costs; 8 micro-batches (dp 1); what full recompute and core_attn's
     * rerun rerun is the windowed kernel too. */
    static const char *hostless =
        "{ base: dgx-h100, nodes: 1, host: { launch_overhead: 0 s, op_overhead: 0 s, "
        "collective_overhead: 0 s }, gpu: { attention_efficiency: { "
        "fused: [[2048, 128, 0.5, 0.4]], "
        "sliding_window: [[1024, 511, 0.3, 0.24], [4096, 511, 0.4, 0.32]] } } }";
    static const char *const recomputes[] = {"", ", recompute: full",
                                              ", recompute: selective"};
    for (int rc = 0; rc < 3; rc++) {
    double forward[2], backward[2], rerun[2], delta[2], mbs = 0;
    for (int w = 0; w < 2; w++) {
        load_window_with(&u, hostless, 4, recomputes[rc]);
        if (!w)
            u.s.model.window_size = -1;
        ck_assert_int_eq(cs_cost_init(&c, &u.s.cluster.gpu, u.s.training.precision), 0);
        for (int bw = 0; bw < 2; bw++)
            delta[bw] = attention_seconds(&u, &c, bw, 0) - attention_seconds(&u, &c, bw, 256);
        cs_cost_free(&c);
        mbs = (double)u.z.microbatches;
        cs_replay_result r;
        ck_assert_int_eq(cs_replay(&u.s, &u.s.layouts[0], &u.z, CS_NET_ANALYTIC, 1, &r), 0);
        forward[w] = r.compute_s[CS_OP_FORWARD];
        backward[w] = r.compute_s[CS_OP_BACKWARD_INPUT] + r.compute_s[CS_OP_BACKWARD_WEIGHT];
        rerun[w] = r.compute_s[CS_OP_RECOMPUTE];
        cs_replay_result_free(&r);
        cs_scenario_free(&u.s);
    }
    ck_assert(delta[0] > 0 && delta[1] > 0 && mbs == 8);
    assert_close(forward[0] - forward[1], 2 * mbs * delta[0], 1e-9);
    assert_close(backward[0] - backward[1], 2 * mbs * delta[1], 1e-9);
    if (rc)
        assert_close(rerun[0] - rerun[1], 2 * mbs * delta[0], 1e-9);
    else
        ck_assert(rerun[0] == 0 && rerun[1] == 0);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kernels");
    TCase *t = tcase_create("megatron");
    tcase_add_test(t, forward_flops_gpt3_tp8);
    tcase_add_test(t, backward_flops_gpt3_tp8);
    tcase_add_test(t, selective_recompute_reruns_core_attention);
    tcase_add_test(t, score_traffic_follows_the_backend);
    tcase_add_test(t, softmax_fallback);
    tcase_add_test(t, fusion_switches);
    tcase_add_test(t, output_layer_and_loss);
    tcase_add_test(t, auto_backend_by_gpu);
    tcase_add_test(t, kernels_command);
    tcase_add_test(t, fp8_layers_tp8);
    tcase_add_test(t, qk_layernorm_kernels);
    tcase_add_test(t, quick_geglu_and_clamp);
    tcase_add_test(t, sliding_window_attention);
    suite_add_tcase(s, t);
    return tu_main(s);
}
