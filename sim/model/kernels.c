#include "model/kernels.h"

#include <math.h>
#include <string.h>

#include "model/routing.h"

#define A CS_ACT_BYTES

void cs_shape_init(cs_shape *sh, const cs_model *m, const cs_training *t, const cs_layout_sizes *z)
{
    memset(sh, 0, sizeof *sh);
    sh->s = (double)t->seq_length;
    sh->b = (double)z->micro_batch;
    sh->h = (double)m->hidden_size;
    sh->cp = z->cp > 1 ? (double)z->cp : 1;
    sh->cp_comm = (int)t->cp_comm_type;
    sh->T = sh->s * sh->b / sh->cp;
    sh->t = (double)z->tp;
    sh->etp = (double)z->etp;
    sh->sp = t->sequence_parallel && z->tp > 1;
    sh->Tl = sh->sp ? sh->T / sh->t : sh->T;
    sh->heads = (double)m->num_attention_heads;
    if (m->mla.enabled) {
        sh->head_dim = (double)(m->mla.qk_head_dim + m->mla.qk_pos_emb_head_dim);
        sh->groups = sh->heads;
        sh->q = sh->heads * sh->head_dim;
        sh->kv = (double)(m->num_attention_heads * m->mla.v_head_dim);
    } else {
        sh->head_dim = (double)m->kv_channels;
        sh->groups = (double)m->num_query_groups;
        sh->q = sh->heads * sh->head_dim;
        sh->kv = sh->groups * sh->head_dim;
    }
    sh->ffn = (double)m->ffn_hidden_size;
    sh->ffn_e = (double)m->moe.ffn_hidden_size;
    sh->ffn_s = (double)m->moe.shared_expert_ffn_hidden_size;
    sh->f = cs_model_gated(m) ? 3.0 : 2.0;
    sh->quick_geglu = m->quick_geglu;
    sh->bias = m->add_bias_linear;
    sh->clamp = m->activation_func_clamp_value > 0 ? m->activation_func_clamp_value : 0;
    sh->experts = (double)m->moe.num_experts;
    sh->topk = (double)m->moe.router_topk;
    sh->router_groups = m->moe.router_num_groups > 0;
    /* Megatron pads the vocabulary to a multiple of
     * make_vocab_size_divisible_by (128) x tp (training/tokenizer). */
    double unit = 128.0 * (double)z->tp;
    sh->V = m->vocab_size > 0 ? ceil((double)m->vocab_size / unit) * unit : 0;
    sh->rope = m->position_embedding_type == CS_POS_ROPE;
    sh->qk_norm = m->qk_layernorm && !m->mla.enabled;
    sh->mla = m->mla.enabled;
}

cs_attention_backend cs_kernels_backend(const cs_training *t, const cs_gpu_config *gpu)
{
    cs_attention_backend b = cs_training_attention_backend(t);
    if (b != CS_ATTN_AUTO)
        return b;
    /* Transformer Engine: "give FusedAttention preference on Hopper+"
     * (attention/dot_product_attention/utils.py); the presets give a fused
     * table to Hopper and later GPUs only. */
    return gpu->attention_efficiency.fused.n > 0 ? CS_ATTN_FUSED : CS_ATTN_FLASH;
}

/* ---- building lists -------------------------------------------------------------- */

static cs_kernel *add(cs_kernel_list *l, const char *name, cs_kernel_kind kind, cs_kernel_slot slot)
{
    if (l->n == CS_KERNELS_MAX)
        return NULL; /* cannot happen: the longest list is about 30 kernels */
    cs_kernel *k = &l->k[l->n++];
    memset(k, 0, sizeof *k);
    k->name = name;
    k->kind = kind;
    k->slot = slot;
    k->launches = 1;
    return k;
}

/* batch x [m x kd] . [kd x n]: 2 m n kd FLOPs; A bytes per element read and
 * written, plus `extra` bytes. */
static void gemm(cs_kernel_list *l, const char *name, cs_kernel_slot slot, double batch, double m,
                 double n, double kd, double extra)
{
    cs_kernel *k = add(l, name, CS_KERNEL_GEMM, slot);
    if (!k)
        return;
    k->m = m;
    k->n = n;
    k->k = kd;
    k->batch = batch;
    k->flops = 2 * batch * m * n * kd;
    k->bytes = A * batch * (m * kd + kd * n + m * n) + extra;
}

static void fp8_gemm(cs_kernel_list *l, int fp8);

/* A weight-gradient GEMM [out x T] . [T x in]: with
 * gradient_accumulation_fusion it accumulates into main_grad (fp32, or
 * fp16 for fp16 runs without accumulate_allreduce_grads_in_fp32), read and
 * written in its epilogue; without, the 16-bit gradient is added to
 * main_grad by a separate kernel. */
static void wgrad(cs_kernel_list *l, const cs_kernel_opts *o, const char *name,
                  const char *accumulate, cs_kernel_slot slot, double batch, double out_dim,
                  double in_dim, double tokens)
{
    double weights = batch * out_dim * in_dim, g = cs_training_grad_bytes(o->t);
    int fused = o->t->gradient_accumulation_fusion;
    gemm(l, name, slot, batch, out_dim, in_dim, tokens, fused ? (2 * g - A) * weights : 0);
    fp8_gemm(l, !strncmp(name, "linear_", 7) && cs_kernels_fp8(o)); /* fp8_wgrad: on */
    if (!fused) {
        cs_kernel *k = add(l, accumulate, CS_KERNEL_MEMORY, slot);
        if (k)
            k->bytes = (A + 2 * g) * weights;
    }
}

static void memory(cs_kernel_list *l, const char *name, cs_kernel_slot slot, double bytes,
                   double launches)
{
    cs_kernel *k = add(l, name, CS_KERNEL_MEMORY, slot);
    if (k) {
        k->bytes = bytes;
        k->launches = launches;
    }
}

/* ---- the host's other work ------------------------------------------------------------ */

/* Framework ops the host runs per module call beyond its kernel launches
 * (cs_kernel.host_ops: autograd Function apply and save_for_backward,
 * views and splits, torch.empty, CUDA event calls, per-expert loop
 * bodies; a torch.compile'd function's guards count as HOST_COMPILED),
 * counted in Megatron-Core core_v0.16.0 (3bec9aa9) and Transformer Engine
 * v2.11 (c188b533), BF16 without CUDA graphs. Python statements that
 * dispatch nothing (attribute stores, asserts) are not counted. */
#define HOST_COMPILED 5   /* a jit_fuser (torch.compile) call: dynamo's guards, ~10 us */
#define HOST_LN_LINEAR 20 /* TE LayerNormLinear forward (layernorm_linear.py:92-480) */
#define HOST_LINEAR 12    /* TE Linear forward (linear.py:324) */
#define HOST_LINEAR_B 20  /* a TE linear backward: saved tensors, empties, hooks */
#define HOST_TENORM 20    /* TENorm, TE's op-fuser RMSNorm, each way (ops/basic/rmsnorm.py) */
#define HOST_QKV_SPLIT 5  /* get_query_key_value_tensors (attention.py:1371-1450) */
#define HOST_DPA 60       /* TE DotProductAttention: backend selection, layout checks */
#define HOST_DPA_B 30
/* TE GroupedLinear (grouped_linear.py:66-525) over L local experts: forward
 * 12 + 7 L (weights, splits, casts, saves) and 2 per GEMM (TensorWrapper
 * creations and ~20 cuBLASLt descriptor calls, cublaslt_gemm.cu:454-777);
 * each backward GEMM pass 5 + 6 L and the same 2 per GEMM. */
/* CheckpointWithoutOutput (tensor_parallel/random.py:579-760), the
 * output-discarding checkpoint of moe_act and layernorm recompute: forward
 * the RNG states taken, its autograd Function, the output's storage freed
 * and a hook registered; backward the hook, the RNG states set, the inputs
 * detached, the storage resized and copied back, and the nested
 * autograd.backward of its Function. */
#define HOST_CHECKPOINT_F 8
#define HOST_CHECKPOINT_B 12
#define HOST_GROUPED(L) (12 + 9 * (L))
#define HOST_GROUPED_B(L) (5 + 8 * (L))

/* Adds ops to the kernel added last. */
static void host(cs_kernel_list *l, double ops)
{
    if (l->n > 0)
        l->k[l->n - 1].host_ops += ops;
}

/* ---- FP8 (Transformer Engine) ------------------------------------------------------ */

int cs_kernels_fp8(const cs_kernel_opts *o) { return o->t->precision == CS_FP8 && !o->bf16; }

double cs_kernels_fp8_scale_bytes(cs_fp8_recipe r)
{
    return r == CS_FP8_BLOCKWISE ? 4.0 / 128 : r == CS_FP8_MXFP8 ? 1.0 / 32 : 0;
}

double cs_kernels_fp8_weight_scale_bytes(cs_fp8_recipe r)
{
    return r == CS_FP8_BLOCKWISE ? 4.0 / (128 * 128) : r == CS_FP8_MXFP8 ? 1.0 / 32 : 0;
}

double cs_kernels_fp8_weight_bytes(const cs_training *t)
{
    double sf = cs_kernels_fp8_weight_scale_bytes(t->fp8_recipe);
    return t->fp8_param_gather ? 2 * (1 + sf) : 2 + 2 * (1 + sf);
}

/* Transformer Engine's names for one linear layer's kernels. */
typedef struct te_names {
    const char *gemm, *dgrad, *wgrad, *acc;
    const char *cast_transpose, *cast, *quantize, *amax, *transpose; /* the input */
    const char *g_cast_transpose, *g_quantize, *g_amax;            /* the output gradient */
} te_names;

#define TE_NAMES(n)                                                                                \
    {                                                                                              \
        n, n ".dgrad", n ".wgrad", n ".main_grad_add", n ".cast_transpose", n ".cast",             \
            n ".quantize", n ".amax", n ".input_transpose", n ".grad_output_cast_transpose",       \
            n ".grad_output_quantize", n ".grad_output_amax"                                       \
    }
static const te_names te_qkv = TE_NAMES("linear_qkv"), te_proj = TE_NAMES("linear_proj");
static const te_names te_fc1 = TE_NAMES("linear_fc1"), te_fc2 = TE_NAMES("linear_fc2");

static int per_tensor(const cs_kernel_opts *o)
{
    return o->t->fp8_recipe == CS_FP8_DELAYED || o->t->fp8_recipe == CS_FP8_TENSORWISE;
}

/* The quantization of e BF16 elements for FP8 GEMMs: read (2 bytes), a
 * rowwise copy for this GEMM and a columnwise one (Hopper: the transpose)
 * for the wgrad written (1 byte each, plus the recipe's scaling factors);
 * with tensorwise scaling an amax pass reads the tensor first. `cast` (the
 * rowwise copy only, 2 + 1 bytes) when the columnwise one is made later. */
static void te_quantize(cs_kernel_list *l, const cs_kernel_opts *o, const char *cast_transpose,
                        const char *cast, const char *quantize, const char *amax,
                        cs_kernel_slot slot, double e, int rowwise_only)
{
    cs_fp8_recipe r = o->t->fp8_recipe;
    if (r == CS_FP8_TENSORWISE)
        memory(l, amax, slot, A * e, 1);
    if (per_tensor(o))
        memory(l, rowwise_only ? cast : cast_transpose, slot, (A + (rowwise_only ? 1 : 2)) * e, 1);
    else
        memory(l, quantize, slot, (A + 2 * (1 + cs_kernels_fp8_scale_bytes(r))) * e, 1);
}

/* A GEMM of FP8 inputs, BF16 output: the inputs' bytes halve. */
static void fp8_gemm(cs_kernel_list *l, int fp8)
{
    if (!fp8 || l->n < 1)
        return;
    cs_kernel *k = &l->k[l->n - 1];
    k->fp8 = 1;
    k->bytes -= (A - 1) * k->batch * (k->m * k->k + k->k * k->n);
}

/* Whether a linear layer's input reaches it through the sequence-parallel
 * all-gather in FP8: Transformer Engine casts the rank's shard to FP8 (no
 * transpose), gathers the FP8 data, and transposes the gathered input in
 * the backward for the wgrad (module/linear.py: cast_to_fp8 before
 * gather_along_first_dim under sequence_parallel, tex.fp8_transpose before
 * the wgrad). The per-tensor recipes only; the block-scaled ones are
 * quantized after a BF16 gather here. */
static int fp8_gathered(const cs_kernel_opts *o, int gathered)
{
    return gathered && cs_kernels_fp8(o) && per_tensor(o);
}

/* A linear layer's forward: [quantize X] then Y = X W^T, batch x [m x kd] .
 * [kd x n]; `gathered`: X is all-gathered over sequence parallelism from
 * shards of 1/`tp` of its rows. */
static void linear(cs_kernel_list *l, const cs_kernel_opts *o, const te_names *nm,
                   cs_kernel_slot slot, double batch, double m, double n, double kd,
                   int gathered, double tp)
{
    int fp8 = cs_kernels_fp8(o), shard = fp8_gathered(o, gathered);
    if (fp8)
        te_quantize(l, o, nm->cast_transpose, nm->cast, nm->quantize, nm->amax, slot,
                    batch * m * kd / (shard ? tp : 1), shard);
    gemm(l, nm->gemm, slot, batch, m, n, kd, 0);
    fp8_gemm(l, fp8);
}

/* A linear layer's dgrad: [quantize dY] then dX = dY W, batch x [m x kd] . [kd x n]. */
static void linear_dgrad(cs_kernel_list *l, const cs_kernel_opts *o, const te_names *nm,
                         cs_kernel_slot slot, double batch, double m, double n, double kd)
{
    int fp8 = cs_kernels_fp8(o);
    if (fp8)
        te_quantize(l, o, nm->g_cast_transpose, NULL, nm->g_quantize, nm->g_amax, slot,
                    batch * m * kd, 0);
    gemm(l, nm->dgrad, slot, batch, m, n, kd, 0);
    fp8_gemm(l, fp8);
    host(l, HOST_LINEAR_B);
}

static void wgrad(cs_kernel_list *l, const cs_kernel_opts *o, const char *name,
                  const char *accumulate, cs_kernel_slot slot, double batch, double out_dim,
                  double in_dim, double tokens);

/* A linear layer's wgrad; an input gathered in FP8 is transposed first
 * (tokens x in elements, 1 byte read and written). */
static void linear_wgrad(cs_kernel_list *l, const cs_kernel_opts *o, const te_names *nm,
                         cs_kernel_slot slot, double batch, double out_dim, double in_dim,
                         double tokens, int gathered)
{
    if (fp8_gathered(o, gathered))
        memory(l, nm->transpose, slot, 2 * batch * tokens * in_dim, 1);
    wgrad(l, o, nm->wgrad, nm->acc, slot, batch, out_dim, in_dim, tokens);
}

/* A norm over Tl x h: forward reads x, writes y; backward reads dy and x,
 * writes dx (and reduces the weight gradients: a second launch). */
static void norm(cs_kernel_list *l, const cs_shape *sh, const char *fwd, const char *bwd,
                 const cs_kernel_opts *o, cs_kernel_slot f_slot, cs_kernel_slot b_slot)
{
    double e = sh->Tl * sh->h;
    if (!o->backward)
        memory(l, fwd, f_slot, 2 * A * e, 1);
    else
        memory(l, bwd, b_slot, 3 * A * e, 2);
}

/* Bias-dropout-add over Tl x h (mlp_bda, self_attn_bda). Fused: one kernel
 * reading x and the residual, writing the sum and a 1-byte dropout mask;
 * unfused: x + bias, dropout, + residual. Backward: the mask applied to the
 * gradient (the residual branch takes the gradient as it is) and the bias
 * gradient's reduction. */
static void bda(cs_kernel_list *l, const cs_shape *sh, const cs_kernel_opts *o, const char *fwd,
                const char *bwd)
{
    double e = sh->Tl * sh->h;
    int drop = o->t->hidden_dropout > 0, fused = o->t->bias_dropout_fusion;
    if (!o->backward) {
        if (fused)
            memory(l, fwd, CS_SLOT_POST, (3 * A + drop) * e, 1);
        else
            memory(l, fwd, CS_SLOT_POST, (2 * A + (drop ? 2 * A + 1 : 0) + 3 * A) * e, 2 + drop);
        host(l, fused ? HOST_COMPILED : 3); /* fused: a jit_fuser function */
    } else {
        memory(l, bwd, CS_SLOT_POST_B, ((drop ? 2 * A + 1 : 0) + A) * e, drop ? 2 : 1);
        host(l, 2);
    }
}

/* The residual gradient: the block's input gradient added to the gradient
 * that skipped the block (autograd's accumulation at the residual fork). */
static void residual_add(cs_kernel_list *l, const cs_shape *sh)
{
    memory(l, "residual.grad_add", CS_SLOT_PRE_B, 3 * A * sh->Tl * sh->h, 1);
}

static int reruns(const cs_kernel_opts *o, cs_recompute_module module)
{
    return cs_recomputes(o->recompute, o->t, module);
}

/* What an output-discarding checkpoint does when its output's gradient
 * arrives: the kernels added since `from` moved to `slot`, then the
 * recomputed output copied into the freed storage (`bytes` read and
 * written). */
static void rerun_end(cs_kernel_list *l, int from, cs_kernel_slot slot, const char *restore,
                      double bytes)
{
    for (int i = from; i < l->n; i++)
        l->k[i].slot = slot;
    memory(l, restore, slot, 2 * bytes, 1);
    host(l, HOST_CHECKPOINT_B);
}

/* layernorm recompute: a norm that is a module of its own reruns before
 * the backward of the block it feeds (the hook on that block's output,
 * transformer_layer.py:611-614, 797-800), in the recompute slot, which the
 * replay runs after the block's OUT_B slot: MLA's input norm with the core
 * attention's rerun, after the projection's dgrad, a kernel later than
 * Megatron's. */
static void norm_rerun(cs_kernel_list *l, const cs_shape *sh, const cs_kernel_opts *o,
                       const char *name, const char *restore)
{
    cs_kernel_opts f = *o;
    f.backward = 0;
    int from = l->n;
    norm(l, sh, name, NULL, &f, CS_SLOT_RECOMPUTE, CS_SLOT_RECOMPUTE);
    host(l, HOST_TENORM);
    rerun_end(l, from, CS_SLOT_RECOMPUTE, restore, A * sh->Tl * sh->h);
}

/* ---- core attention ----------------------------------------------------------------- */

/* FlashAttention or cuDNN: one kernel each way, FLOPs as FlashAttention
 * counts them (causal: half of 4 b heads s^2 d); it reads Q, K, V and writes
 * O (and the fp32 log-sum-exp), backward reads them and dO, writes dQ, dK,
 * dV. With context parallelism (cs_kernels_attention()) each rank does 1/cp
 * of the causal work: p2p in cp kernels of s/cp queries each reading one K/V
 * block, allgather in two (the rank's chunks) reading the gathered K/V, a2a
 * in one over the whole sequence on heads / cp. */
double cs_kernels_band_pairs(double seq, double span)
{
    double w = span < seq ? span : seq;
    return seq * w - w * w / 2;
}

/* The band's query-key pairs of one context-parallel rank: with a2a its
 * heads / cp over the whole sequence (1/cp of the band); with all_gather
 * its two chunks of s / 2cp queries (chunks r and 2cp - 1 - r, as
 * Megatron's load balancing splits the sequence) against the gathered keys,
 * the most any rank holds (the ranks meet at the gathers; the first holds
 * the band's start, which has fewer keys per query). Transformer Engine
 * runs windows with CP over these two only. */
static double cp_band_pairs(const cs_shape *sh, double span)
{
    if (sh->cp <= 1)
        return cs_kernels_band_pairs(sh->s, span);
    if (sh->cp_comm != CS_CP_ALLGATHER)
        return cs_kernels_band_pairs(sh->s, span) / sh->cp;
    double chunk = sh->s / (2 * sh->cp), most = 0;
    for (long r = 0; r < (long)sh->cp; r++) {
        double a = (double)r * chunk, b = (2 * sh->cp - 1 - (double)r) * chunk;
        double pairs = cs_kernels_band_pairs(a + chunk, span) - cs_kernels_band_pairs(a, span) +
                       cs_kernels_band_pairs(b + chunk, span) - cs_kernels_band_pairs(b, span);
        most = pairs > most ? pairs : most;
    }
    return most;
}

static void flash(cs_kernel_list *l, const cs_shape *sh, const cs_kernel_opts *o,
                  cs_kernel_slot slot, int backward)
{
    double at = sh->heads / sh->t, q = sh->T * sh->q / sh->t, kv = cs_kernels_cp_kv_bytes(sh) / A;
    double fwd = 4 * sh->b * at * sh->s * sh->s * sh->head_dim / 2 / sh->cp;
    double full = fwd;
    if (o->window > 0 && o->window < sh->s) /* a causal band */
        fwd = 4 * sh->b * at * cp_band_pairs(sh, o->window) * sh->head_dim;
    cs_kernel *k = add(l, backward ? "core_attention.backward" : "core_attention.forward",
                       CS_KERNEL_ATTENTION, slot);
    if (!k)
        return;
    k->backend = o->backend;
    k->seq = sh->s / sh->cp;
    k->head_dim = sh->head_dim;
    k->backward = backward;
    k->flops = backward ? 2.5 * fwd : fwd;
    k->window = fwd < full ? o->window : 0;
    double reads = 1; /* K/V blocks each kernel reads */
    if (sh->cp > 1 && sh->cp_comm == CS_CP_P2P) {
        k->launches = sh->cp;
        reads = sh->cp;
    } else if (sh->cp > 1 && sh->cp_comm == CS_CP_ALLGATHER) {
        k->launches = 2;
        reads = sh->cp;
    } else if (sh->cp > 1) {
        k->seq = sh->s; /* a2a: the whole sequence, heads / cp */
    }
    double o_bytes = A * sh->T * sh->q / sh->t, lse = 4 * sh->b * at * sh->s / sh->cp;
    double qkv = A * (k->launches * q + reads * kv);
    k->bytes = backward ? 2 * qkv + 3 * o_bytes + lse : qkv + o_bytes + lse;
}

double cs_kernels_cp_kv_bytes(const cs_shape *sh)
{
    /* MLA's keys are as wide as its queries (nope + rope per head), its
     * values sh->kv; otherwise K and V are sh->kv each. */
    double k = sh->mla ? sh->q : sh->kv;
    return A * sh->T * (k + sh->kv) / sh->t;
}

/* What Transformer Engine's context-parallel attention adds around the
 * kernels (attention/dot_product_attention/context_parallel.py): p2p merges
 * each later step's output into the fp32 result by its log-sum-exp once the
 * ring is done (forward: read each step's O, read and write the fp32 sum;
 * in the OUT slot, before the projection, so that the replay runs it after
 * the last step; a rerun keeps it in RECOMPUTE) and accumulates dQ and
 * dK/dV per step (backward: read, add, write); a2a reorders Q, K, V
 * before its all-to-all and the output after (read and write each), and
 * the gradients the other way; allgather reorders the gathered K/V (and in
 * backward its gradient before the reduce-scatter). */
static void cp_kernels(cs_kernel_list *l, const cs_shape *sh, cs_kernel_slot slot, int backward)
{
    if (sh->cp <= 1)
        return;
    double q = A * sh->T * sh->q / sh->t, kv = cs_kernels_cp_kv_bytes(sh);
    if (sh->cp_comm == CS_CP_P2P && !backward) /* after the ring: the replay's OUT */
        memory(l, "core_attention.cp_out_correction", slot == CS_SLOT_ATTN ? CS_SLOT_OUT : slot,
               (sh->cp - 1) * (q + 8 * q / A), sh->cp - 1);
    else if (sh->cp_comm == CS_CP_P2P)
        memory(l, "core_attention.cp_grad_accumulate (dq, dkv)", slot, 3 * sh->cp * (q + kv),
               2 * sh->cp);
    else if (sh->cp_comm == CS_CP_A2A)
        memory(l, backward ? "core_attention.cp_a2a_reorder.backward" : "core_attention.cp_a2a_reorder",
               slot, 2 * (2 * q + kv), 4);
    else
        memory(l, backward ? "core_attention.cp_kv_reorder.backward" : "core_attention.cp_kv_reorder",
               slot, (backward ? 4 : 2) * sh->cp * kv, backward ? 2 : 1);
}

/* Softmax over the b x heads/t x s x s scores: Megatron's fused
 * scale-mask-softmax when masked_softmax_fusion allows it (16 < s <= 4096
 * for Megatron-Core's local attention, 16384 for Transformer Engine's
 * unfused one), else torch: a causal mask built anew, masked_fill_ and
 * softmax, in fp32 with casts around them if attention_softmax_in_fp32. */
static void softmax(cs_kernel_list *l, const cs_shape *sh, const cs_kernel_opts *o,
                    cs_kernel_slot slot, double E)
{
    double limit = o->backend == CS_ATTN_LOCAL ? 4096 : 16384;
    int fused = o->t->masked_softmax_fusion && sh->s > 16 && sh->s <= limit && fmod(sh->s, 4) == 0;
    int fp32 = o->t->attention_softmax_in_fp32;
    if (!o->backward || slot == CS_SLOT_RECOMPUTE) {
        if (fused)
            memory(l, "core_attention.scale_mask_softmax", slot, 2 * A * E, 1);
        else if (fp32) /* cast (2+4), masked_fill (4+4), softmax (4+4), cast (4+2) */
            memory(l, "core_attention.softmax (torch, fp32)", slot, 28 * E + sh->s * sh->s, 5);
        else /* masked_fill (2+2), softmax (2+2), plus the mask */
            memory(l, "core_attention.softmax (torch)", slot, 4 * A * E + sh->s * sh->s, 3);
        return;
    }
    if (fused) /* reads the gradient and the saved probabilities, writes the gradient */
        memory(l, "core_attention.scale_mask_softmax.backward", slot, 3 * A * E, 1);
    else if (fp32)
        memory(l, "core_attention.softmax.backward (torch, fp32)", slot, 32 * E, 4);
    else
        memory(l, "core_attention.softmax.backward (torch)", slot, 5 * A * E, 2);
}

/* Megatron-Core's DotProductAttention (and TE's unfused one): GQA expand of
 * K and V, baddbmm Q.K^T over the whole s x s (the causal mask is applied
 * after), softmax, dropout (1-byte mask), bmm with V, and the permute back. */
static void unfused_forward(cs_kernel_list *l, const cs_shape *sh, const cs_kernel_opts *o,
                            cs_kernel_slot slot)
{
    double at = sh->heads / sh->t, bh = sh->b * at, E = bh * sh->s * sh->s;
    double qt = sh->T * sh->q / sh->t, kvt = sh->T * sh->kv / sh->t;
    if (sh->groups < sh->heads)
        memory(l, "core_attention.repeat_interleave_kv", slot, 2 * A * (kvt + qt), 2);
    gemm(l, "core_attention.baddbmm_qk", slot, bh, sh->s, sh->s, sh->head_dim, 0);
    softmax(l, sh, o, slot, E);
    if (o->t->attention_dropout > 0)
        memory(l, "core_attention.attention_dropout", slot, (2 * A + 1) * E, 1);
    gemm(l, "core_attention.bmm_pv", slot, bh, sh->s, sh->head_dim, sh->s, 0);
    memory(l, "core_attention.context_permute", slot, 2 * A * qt, 1);
}

static void unfused_backward(cs_kernel_list *l, const cs_shape *sh, const cs_kernel_opts *o)
{
    double at = sh->heads / sh->t, bh = sh->b * at, E = bh * sh->s * sh->s;
    double qt = sh->T * sh->q / sh->t, kvt = sh->T * sh->kv / sh->t;
    cs_kernel_slot s = CS_SLOT_ATTN_B;
    memory(l, "core_attention.context_permute.backward", s, 2 * A * qt, 1);
    gemm(l, "core_attention.bmm_pv.dgrad_probs", s, bh, sh->s, sh->s, sh->head_dim, 0);
    gemm(l, "core_attention.bmm_pv.dgrad_v", s, bh, sh->s, sh->head_dim, sh->s, 0);
    if (o->t->attention_dropout > 0)
        memory(l, "core_attention.attention_dropout.backward", s, (2 * A + 1) * E, 1);
    softmax(l, sh, o, s, E);
    gemm(l, "core_attention.baddbmm_qk.dgrad_q", s, bh, sh->s, sh->head_dim, sh->s, 0);
    gemm(l, "core_attention.baddbmm_qk.dgrad_k", s, bh, sh->s, sh->head_dim, sh->s, 0);
    if (sh->groups < sh->heads) /* the expanded K and V gradients summed per group */
        memory(l, "core_attention.repeat_interleave_kv.backward", s, 2 * A * (qt + kvt), 2);
}

static int is_flash(cs_attention_backend b) { return b == CS_ATTN_FLASH || b == CS_ATTN_FUSED; }

/* Rotary embeddings on Q and K: one fused kernel each (apply_rope_fusion),
 * else about five passes each (cos/sin products, rotate_half, add, cat). */
static void rotary(cs_kernel_list *l, const cs_shape *sh, const cs_kernel_opts *o,
                   cs_kernel_slot slot)
{
    if (!sh->rope)
        return;
    double bytes = 2 * A * sh->T * (sh->q + sh->kv) / sh->t;
    int fused = o->t->apply_rope_fusion;
    memory(l, o->backward ? "rotary_pos_emb.backward" : "rotary_pos_emb", slot,
           fused ? bytes : 5 * bytes, fused ? 2 : 10);
    /* fused: TE's FusedRoPEFunc apply and save, for Q and K; unfused:
     * slices and chunks (rope_utils.py:92-126) */
    host(l, fused ? (o->backward ? 2 : 4) : (o->backward ? 6 : 12));
}

/* QK-LayerNorm (Megatron's q_layernorm and k_layernorm, TENorm over each
 * head): forward a norm over the queries (read, write) and one over the
 * keys, which TE first makes contiguous (a copy of the strided split);
 * backward each norm's backward (read dy and x, write dx), the reduction of
 * its weight gradient and the DDP hook's add. Each a TENorm call. */
static void qk_norms(cs_kernel_list *l, const cs_shape *sh, const cs_kernel_opts *o,
                     cs_kernel_slot slot)
{
    if (!sh->qk_norm)
        return;
    double q = sh->T * sh->q / sh->t, k = sh->T * sh->kv / sh->t;
    if (!o->backward) {
        memory(l, "q_layernorm", slot, 2 * A * q, 1);
        host(l, HOST_TENORM);
        memory(l, "k_layernorm (contiguous, norm)", slot, 4 * A * k, 2);
        host(l, HOST_TENORM);
    } else {
        memory(l, "k_layernorm.backward", slot, 3 * A * k, 3);
        host(l, HOST_TENORM);
        memory(l, "q_layernorm.backward", slot, 3 * A * q, 3);
        host(l, HOST_TENORM);
    }
}

/* ---- blocks ------------------------------------------------------------------------- */

void cs_kernels_attention(const cs_shape *sh, const cs_kernel_opts *o, cs_kernel_list *out)
{
    double w_qkv = (sh->q + 2 * sh->kv) / sh->t, w_o = sh->q / sh->t;
    out->n = 0;
    if (!o->backward) {
        norm(out, sh, "input_layernorm", NULL, o, CS_SLOT_PRE, CS_SLOT_PRE_B);
        if (sh->mla && reruns(o, CS_RC_LAYERNORM))
            host(out, HOST_CHECKPOINT_F);
        linear(out, o, &te_qkv, CS_SLOT_IN, 1, sh->T, w_qkv, sh->h, sh->sp, sh->t);
        host(out, HOST_LN_LINEAR + HOST_QKV_SPLIT); /* the norm is fused into it */
        qk_norms(out, sh, o, CS_SLOT_CORE);
        rotary(out, sh, o, CS_SLOT_CORE);
        if (is_flash(o->backend))
            flash(out, sh, o, CS_SLOT_ATTN, 0);
        else
            unfused_forward(out, sh, o, CS_SLOT_ATTN);
        cp_kernels(out, sh, CS_SLOT_ATTN, 0);
        host(out, HOST_DPA);
        linear(out, o, &te_proj, CS_SLOT_OUT, 1, sh->T, sh->h, w_o, 0, 1);
        host(out, HOST_LINEAR);
        bda(out, sh, o, "self_attn_bda", NULL);
        return;
    }
    bda(out, sh, o, NULL, "self_attn_bda.backward");
    if (sh->mla && reruns(o, CS_RC_LAYERNORM))
        norm_rerun(out, sh, o, "input_layernorm.recompute", "input_layernorm.restore");
    linear_dgrad(out, o, &te_proj, CS_SLOT_OUT_B, 1, sh->T, w_o, sh->h);
    linear_wgrad(out, o, &te_proj, CS_SLOT_OUT_W, 1, sh->h, w_o, sh->T, 0);
    /* Selective recompute of core_attn reruns the core attention forward
     * just before its backward. */
    if (reruns(o, CS_RC_CORE_ATTN)) {
        cs_kernel_opts f = *o;
        f.backward = 0;
        if (is_flash(o->backend))
            flash(out, sh, &f, CS_SLOT_RECOMPUTE, 0);
        else
            unfused_forward(out, sh, &f, CS_SLOT_RECOMPUTE);
        cp_kernels(out, sh, CS_SLOT_RECOMPUTE, 0);
    }
    if (is_flash(o->backend))
        flash(out, sh, o, CS_SLOT_ATTN_B, 1);
    else
        unfused_backward(out, sh, o);
    cp_kernels(out, sh, CS_SLOT_ATTN_B, 1);
    host(out, HOST_DPA_B);
    rotary(out, sh, o, CS_SLOT_CORE_B);
    qk_norms(out, sh, o, CS_SLOT_CORE_B);
    /* Autograd assembles the Q, K, V gradients into linear_qkv's output gradient. */
    memory(out, "qkv_split.backward", CS_SLOT_CORE_B, 2 * A * sh->T * w_qkv, 1);
    linear_dgrad(out, o, &te_qkv, CS_SLOT_IN_B, 1, sh->T, sh->h, w_qkv);
    linear_wgrad(out, o, &te_qkv, CS_SLOT_IN_W, 1, w_qkv, sh->h, sh->T, sh->sp);
    norm(out, sh, NULL, "input_layernorm.backward", o, CS_SLOT_PRE, CS_SLOT_PRE_B);
    residual_add(out, sh);
}

/* The activation between fc1 and fc2 over `e` elements of the hidden width:
 * bias-GeLU (tanh GeLU on bias + x) or SwiGLU (silu(x1) * x2 over the two
 * halves of fc1's output), fused when Megatron fuses them. */
/* Whether the activation is one fused kernel: Megatron's bias_activation_fusion
 * is bias_swiglu_fusion for SwiGLU, bias_gelu_fusion otherwise (quick-GeGLU
 * too: arguments.py). */
static int activation_fused(const cs_shape *sh, const cs_training *t)
{
    return sh->f == 3 && !sh->quick_geglu ? t->bias_swiglu_fusion : t->bias_gelu_fusion;
}

static void activation(cs_kernel_list *l, const cs_shape *sh, const cs_kernel_opts *o, double e)
{
    int swiglu = sh->f == 3;
    int fused = activation_fused(sh, o->t);
    if (sh->clamp > 0 && swiglu) { /* chunk, clamp each half, cat (fused_bias_geglu.py) */
        if (!o->backward)
            memory(l, "glu_clamp (clamp, clamp, cat)", CS_SLOT_CORE, 8 * A * e, 3);
        else
            memory(l, "glu_clamp.backward", CS_SLOT_CORE_B, 6 * A * e, 3);
        host(l, 4);
    }
    if (!o->backward) {
        if (swiglu && sh->quick_geglu)
            memory(l, fused ? "bias_quick_geglu" : "quick_geglu (quick_gelu, mul)", CS_SLOT_CORE,
                   fused ? 3 * A * e : 5 * A * e, fused ? 1 : 2);
        else if (swiglu)
            memory(l, fused ? "bias_swiglu" : "swiglu (silu, mul)", CS_SLOT_CORE,
                   fused ? 3 * A * e : 5 * A * e, fused ? 1 : 2);
        else
            memory(l, fused ? "bias_gelu" : "gelu (bias add, gelu)", CS_SLOT_CORE,
                   fused ? 2 * A * e : 4 * A * e, fused ? 1 : 2);
        host(l, HOST_COMPILED); /* a jit_fuser function under its autograd Function */
        return;
    }
    /* Backward reads the gradient and the saved input, writes the input
     * gradient; the fc1 bias gradient is a reduction over the tokens. */
    if (swiglu)
        memory(l,
               sh->quick_geglu ? (fused ? "bias_quick_geglu.backward" : "quick_geglu.backward")
                               : (fused ? "bias_swiglu.backward" : "swiglu.backward"),
               CS_SLOT_CORE_B, fused ? 5 * A * e : 8 * A * e, fused ? 1 : 3);
    else
        memory(l, fused ? "bias_gelu.backward" : "gelu.backward", CS_SLOT_CORE_B,
               fused ? 4 * A * e : 5 * A * e, fused ? 1 : 2);
    host(l, 3);
}

void cs_kernels_mlp(const cs_shape *sh, const cs_kernel_opts *o, double tokens, double width,
                    double split, double groups, int norms, cs_kernel_list *out)
{
    out->n = 0;
    if (tokens <= 0 || width <= 0)
        return;
    double wt = width / split, w1 = (sh->f - 1) * wt, per = tokens / groups;
    /* A dense or shared-expert MLP takes the block's gathered tokens (all T,
     * split over tp); routed experts take dispatched ones. */
    int gathered = sh->sp && tokens == sh->T && split == sh->t && groups == 1;
    if (!o->backward) {
        if (norms)
            norm(out, sh, "pre_mlp_layernorm", NULL, o, CS_SLOT_PRE, CS_SLOT_PRE_B);
        linear(out, o, &te_fc1, CS_SLOT_IN, groups, per, w1, sh->h, gathered, sh->t);
        host(out, norms ? HOST_LN_LINEAR : HOST_LINEAR); /* a dense MLP's norm is fused into fc1 */
        activation(out, sh, o, tokens * wt);
        linear(out, o, &te_fc2, CS_SLOT_OUT, groups, per, sh->h, wt, 0, 1);
        host(out, HOST_LINEAR);
        if (norms)
            bda(out, sh, o, "mlp_bda", NULL);
        return;
    }
    if (norms)
        bda(out, sh, o, NULL, "mlp_bda.backward");
    linear_dgrad(out, o, &te_fc2, CS_SLOT_OUT_B, groups, per, wt, sh->h);
    linear_wgrad(out, o, &te_fc2, CS_SLOT_OUT_W, groups, sh->h, wt, per, 0);
    activation(out, sh, o, tokens * wt);
    linear_dgrad(out, o, &te_fc1, CS_SLOT_IN_B, groups, per, sh->h, w1);
    linear_wgrad(out, o, &te_fc1, CS_SLOT_IN_W, groups, w1, sh->h, per, gathered);
    if (norms) {
        norm(out, sh, NULL, "pre_mlp_layernorm.backward", o, CS_SLOT_PRE, CS_SLOT_PRE_B);
        residual_add(out, sh);
    }
}

void cs_kernels_moe_edges(const cs_shape *sh, const cs_kernel_opts *o, cs_kernel_list *out)
{
    out->n = 0;
    /* A MoE layer's pre-MLP norm is a TENorm of its own
     * (transformer_layer.py:666-681), with MoELayer's wrappers around it. */
    if (!o->backward) {
        norm(out, sh, "pre_mlp_layernorm", NULL, o, CS_SLOT_PRE, CS_SLOT_PRE_B);
        host(out, HOST_TENORM + 6 + (reruns(o, CS_RC_LAYERNORM) ? HOST_CHECKPOINT_F : 0));
        bda(out, sh, o, "mlp_bda", NULL);
    } else {
        bda(out, sh, o, NULL, "mlp_bda.backward");
        if (reruns(o, CS_RC_LAYERNORM))
            norm_rerun(out, sh, o, "pre_mlp_layernorm.recompute", "pre_mlp_layernorm.restore");
        norm(out, sh, NULL, "pre_mlp_layernorm.backward", o, CS_SLOT_PRE, CS_SLOT_PRE_B);
        host(out, HOST_TENORM);
        residual_add(out, sh);
    }
}

/* ---- MoE: router, dispatcher, experts ------------------------------------------------- */

/* Scores over the e = Tl x E logits (softmax in fp32, or sigmoid), top-k
 * (fp32 values and int64 indices of the c = Tl x k choices) and their
 * scatter into the fp32 probs and the bool routing map
 * (moe_utils.py topk_routing_with_score_function). */
static void router_scores(cs_kernel_list *l, const cs_kernel_opts *o, cs_kernel_slot slot, double e,
                          double c)
{
    int sigmoid = o->t->moe_router_score_function == CS_SCORE_SIGMOID;
    memory(l, sigmoid ? "router.sigmoid" : "router.softmax", slot, (A + 4) * e, 1);
    memory(l, "router.topk", slot, 4 * e + 12 * c, 1);
    if (sigmoid) /* DeepSeek: the top-k scores divided by their sum */
        memory(l, "router.topk_normalize", slot, 8 * c, 2);
    /* the probs: zeros_like, then an out-of-place scatter (a copy and
     * scatter_); the map: zeros_like, int, scatter, bool (moe_utils.py:744-745) */
    memory(l, "router.scatter (probs, routing_map)", slot, 12 * c + 5 * e, 8);
}

/* The load-balancing loss is computed only with a positive coefficient
 * (router.py is_aux_loss_enabled). */
static int aux_loss(const cs_training *t)
{
    return t->moe_aux_loss_coeff > 0 && t->moe_router_load_balancing_type != CS_BALANCE_NONE;
}

void cs_kernels_router(const cs_shape *sh, const cs_kernel_opts *o, cs_kernel_list *out)
{
    double e = sh->Tl * sh->experts, c = sh->Tl * sh->topk;
    out->n = 0;
    if (sh->experts <= 0)
        return;
    if (!o->backward) {
        gemm(out, "router.gemm", CS_SLOT_IN, 1, sh->Tl, sh->experts, sh->h, 0);
        /* RouterGatingLinearFunction (apply, save, views), the routing's
         * views, and _apply_expert_bias, a jit_fuser function called even
         * without an expert bias (router.py:531-543, 639-661); with moe
         * recompute the MoELayer's checkpoint around them (CheckpointFunction,
         * random.py: the RNG states taken, the inputs saved, taken as
         * CheckpointWithoutOutput's; its rerun repeats them, a few us) */
        host(out, 8 + HOST_COMPILED + (reruns(o, CS_RC_MOE) ? HOST_CHECKPOINT_F : 0));
        if (sh->router_groups) {
            /* moe_utils.py group_limited_topk: the groups' top scores and
             * sums, their top-k, a zeroed mask and its scatter, the mask
             * expanded to every expert (reshape of an expanded view: a
             * copy), .bool(), ~, and masked_fill of the scores, fp32; the
             * top-k below then ranks the masked scores */
            memory(out, "router.group_limited_topk (group scores, mask, masked_fill)",
                   CS_SLOT_CORE, 24 * e, 9);
            host(out, 5); /* view, the two topk outputs' indexing, unsqueeze, expand */
        }
        router_scores(out, o, CS_SLOT_CORE, e, c);
        /* compute_routing_scores_for_aux_loss scores and ranks the logits
         * again, then the loss sums the routing map and the scores over
         * the tokens (per sequence for seq_aux_loss: the same bytes). */
        /* scores, top-k and map again (7 kernels, moe_utils.py:750-797), the
         * tokens per expert (214-233), the unfused loss (129-133) and its
         * tracker and scaler (866-900, 236-253) */
        if (aux_loss(o->t)) {
            memory(out, "router.aux_loss (scores, top-k, map, sums)", CS_SLOT_CORE,
                   (A + 4 + 4 + 1 + 1 + 4) * e + 24 * c, 15);
            host(out, 4);
        }
        return;
    }
    if (aux_loss(o->t)) { /* the loss's gradient over the scores, through their backward */
        memory(out, "router.aux_loss.backward", CS_SLOT_CORE_B, 16 * e, 6);
        host(out, 6);
    }
    if (sh->router_groups) { /* MaskedFillBackward: the gradient's masked_fill */
        memory(out, "router.group_limited_topk.backward (masked_fill)", CS_SLOT_CORE_B, 9 * e, 1);
        host(out, 2);
    }
    /* ScatterBackward's gather, SoftmaxBackward, TopkBackward's zeros and
     * scatter_; the autograd nodes and the gating's views */
    memory(out, "router.scores.backward (top-k gather, score backward)", CS_SLOT_CORE_B,
           (8 + A) * e + 12 * c, 4);
    host(out, 8 + (reruns(o, CS_RC_MOE) ? HOST_CHECKPOINT_B : 0)); /* with the checkpoint's end */
    gemm(out, "router.gemm.dgrad", CS_SLOT_IN_B, 1, sh->Tl, sh->h, sh->experts, 0);
    host(out, 4); /* RouterGatingLinearFunction.backward and the weight's DDP hook */
    wgrad(out, o, "router.gemm.wgrad", "router.main_grad_add", CS_SLOT_IN_W, 1, sh->experts, sh->h,
          sh->Tl);
}

/* permute(): the indices of the rows each expert takes out of a routing map
 * of `map` entries (unfused: the map transposed, masked_select over an
 * expanded int64 arange; fused: Transformer Engine's row-id map), then the
 * rows gathered (read and written) with their probabilities. */
static void permute(cs_kernel_list *l, const cs_kernel_opts *o, const char *name,
                    cs_kernel_slot slot, double map, double rows, double h)
{
    int fused = o->t->moe_permute_fusion;
    memory(l, fused ? "permute.row_id_map (fused)" : "permute.indices (transpose, masked_select)",
           slot, fused ? 5 * map : 11 * map, 3); /* fused: make_row_id_map's three Triton passes */
    memory(l, name, slot, 2 * A * rows * h + 4 * map + 4 * rows, fused ? 1 : 2);
    host(l, 7); /* its autograd Function: apply, save, four empties */
}

/* unpermute(): `rows` expert rows summed back into `into` token rows
 * (unfused: a zeroed output and a scatter-add, read-modify-write of every
 * row; fused: one gather-reduce), or its backward, a gather. */
static void unpermute(cs_kernel_list *l, const cs_kernel_opts *o, const char *name,
                      cs_kernel_slot slot, double rows, double into, double h)
{
    if (o->t->moe_permute_fusion)
        memory(l, name, slot, A * (rows + into) * h, 1);
    else
        memory(l, name, slot, A * (into + 3 * rows) * h, 2);
    host(l, 4);
}

/* sort_chunks_by_idxs: the alltoall dispatcher's second permutation, the
 * received rows regrouped by local expert (and back in combine). */
static void sort_chunks(cs_kernel_list *l, const cs_kernel_opts *o, const char *name,
                        cs_kernel_slot slot, double rows, double h)
{
    /* fused: make_chunk_sort_map and sort_chunks_by_map (permutation.py:623-681) */
    memory(l, name, slot, 2 * A * rows * h + 8 * rows, 2);
    host(l, 6);
}

static void dispatch_forward(const cs_shape *sh, const cs_kernel_opts *o, const cs_dispatch_rows *r,
                             cs_kernel_list *out)
{
    double h = sh->h, le = r->local_experts;
    switch (o->t->moe_token_dispatcher_type) {
    case CS_DISPATCH_ALLGATHER: /* gather everything, keep the local experts' columns */
        memory(out, "dispatch.local_map (routing map and probs of the local experts)", CS_SLOT_IN,
               10 * r->arrived * le, 2);
        permute(out, o, "dispatch.permute", CS_SLOT_IN, r->arrived * le, r->expert, h);
        unpermute(out, o, "combine.unpermute", CS_SLOT_OUT, r->expert, r->arrived, h);
        break;
    case CS_DISPATCH_FLEX: /* DeepEP takes the routing as top-k indices; it permutes on arrival */
        /* dispatch_preprocess (a jit_fuser function: the top-k), then
         * DeepEP's get_dispatch_layout and notify_dispatch kernels with
         * their empties, record_streams and events, and the counter
         * reset over the local experts (deep_ep.cpp:400-455, 560-650) */
        memory(out, "dispatch.routing_to_topk (deepep)", CS_SLOT_PRE,
               5 * sh->Tl * sh->experts + 12 * sh->Tl * sh->topk, 3);
        host(out, HOST_COMPILED + 45 + le);
        permute(out, o, "dispatch.permute", CS_SLOT_IN, r->arrived * le, r->expert, h);
        /* the fused indices-to-multihot before it (fused_indices_converter.py) */
        out->k[out->n - 2].launches += 1;
        host(out, 5);
        unpermute(out, o, "combine.unpermute", CS_SLOT_OUT, r->expert, r->arrived, h);
        /* DeepEP's combine: cached_notify_combine, events, get_buffer
         * (fused_a2a.py:163-188, deep_ep.cpp:805-905) */
        out->k[out->n - 1].launches += 1;
        host(out, 25);
        break;
    default:
        /* preprocess: the tokens per expert and the split sizes (six
         * reductions and a copy) and their four device-to-host copies,
         * with the pinned buffers, events and record_streams of each
         * (token_dispatcher.py:469-590, 862-895) */
        memory(out, "dispatch.preprocess (splits, copies to the host)", CS_SLOT_PRE,
               sh->Tl * sh->experts, 10);
        host(out, 30);
        permute(out, o, "dispatch.permute", CS_SLOT_PRE, sh->Tl * sh->experts, r->sent, h);
        if (le > 1) {
            sort_chunks(out, o, "dispatch.sort_chunks_by_expert", CS_SLOT_IN, r->expert, h);
            sort_chunks(out, o, "combine.sort_chunks_back", CS_SLOT_OUT, r->expert, h);
            out->k[out->n - 1].launches += 1; /* the transposed counts raveled: a copy */
        }
        unpermute(out, o, "combine.unpermute", CS_SLOT_POST, r->sent, sh->Tl, h);
        break;
    }
}

static void dispatch_backward(const cs_shape *sh, const cs_kernel_opts *o,
                              const cs_dispatch_rows *r, cs_kernel_list *out)
{
    double h = sh->h, le = r->local_experts;
    if (o->t->moe_token_dispatcher_type != CS_DISPATCH_ALLTOALL) {
        /* flex: DeepEP's cached dispatch and combine in the backward of
         * FusedCombine and FusedDispatch, a notify kernel and ~25 ops each
         * (fused_a2a.py:140-207) */
        int flex = o->t->moe_token_dispatcher_type == CS_DISPATCH_FLEX;
        memory(out, "combine.unpermute.backward (gather)", CS_SLOT_OUT_B, 2 * A * r->expert * h,
               1 + flex);
        host(out, flex ? 25 : 4);
        unpermute(out, o, "dispatch.permute.backward (scatter-add)", CS_SLOT_IN_B, r->expert,
                  r->arrived, h);
        out->k[out->n - 1].launches += flex;
        host(out, flex ? 21 : 0);
        memory(out, "dispatch.permute.backward (probs)", CS_SLOT_IN_B,
               4 * r->arrived * le + 4 * r->expert, 1);
        host(out, 4);
        return;
    }
    memory(out, "combine.unpermute.backward (gather)", CS_SLOT_POST_B, 2 * A * r->sent * h, 1);
    host(out, 4);
    if (le > 1) {
        sort_chunks(out, o, "combine.sort_chunks_back.backward", CS_SLOT_OUT_B, r->expert, h);
        sort_chunks(out, o, "dispatch.sort_chunks_by_expert.backward", CS_SLOT_IN_B, r->expert, h);
    }
    unpermute(out, o, "dispatch.permute.backward (scatter-add)", CS_SLOT_PRE_B, r->sent, sh->Tl, h);
    memory(out, "dispatch.permute.backward (probs)", CS_SLOT_PRE_B,
           4 * sh->Tl * sh->experts + 4 * r->sent, 1);
    host(out, 4);
}

double cs_kernels_flex_share(const cs_moe_config *moe, long ep)
{
    if (moe->num_experts <= 0 || moe->router_topk <= 0 || ep <= 0)
        return 1;
    long m = moe->num_experts / ep;
    double per_token = (double)moe->router_topk * (double)m / (double)moe->num_experts;
    return cs_routing_hit(moe, 0, m) / per_token;
}

void cs_kernels_dispatch(const cs_shape *sh, const cs_kernel_opts *o, const cs_dispatch_rows *r,
                         cs_kernel_list *out)
{
    out->n = 0;
    if (sh->experts <= 0)
        return;
    if (!o->backward)
        dispatch_forward(sh, o, r, out);
    else
        dispatch_backward(sh, o, r, out);
}

void cs_kernels_experts(const cs_shape *sh, const cs_kernel_opts *o, double tokens,
                        double local_experts, cs_kernel_list *out)
{
    double groups = local_experts > 0 ? local_experts : 1;
    cs_kernels_mlp(sh, o, tokens, sh->ffn_e, sh->etp, groups, 0, out);
    if (out->n == 0)
        return;
    /* Megatron multiplies the probabilities into the activation's output;
     * the weighted bias-SwiGLU kernel fuses it, otherwise it is a pass of
     * its own (and two backward: the input's and the probabilities'
     * gradients). */
    double e = tokens * sh->ffn_e / sh->etp;
    int probs_apart = !(sh->f == 3 && activation_fused(sh, o->t));
    if (probs_apart) {
        if (!o->backward)
            memory(out, "experts.probs_mul", CS_SLOT_CORE, 2 * A * e + 4 * tokens, 1);
        else
            memory(out, "experts.probs_mul.backward", CS_SLOT_CORE_B, 4 * A * e + 4 * tokens, 2);
    }
    /* moe_act recompute: the activation (with its clamp and the
     * probabilities' product, experts.py bias_act_func) runs under an
     * output-discarding checkpoint whose hook is on fc2's output: it reruns
     * before fc2's backward. */
    if (reruns(o, CS_RC_MOE_ACT)) {
        if (!o->backward) {
            host(out, HOST_CHECKPOINT_F);
        } else {
            cs_kernel_opts f = *o;
            f.backward = 0;
            int from = out->n;
            activation(out, sh, &f, e);
            if (probs_apart)
                memory(out, "experts.probs_mul", CS_SLOT_CORE, 2 * A * e + 4 * tokens, 1);
            rerun_end(out, from, CS_SLOT_RECOMPUTE, "experts.act_restore", A * e);
        }
    }
    /* TEGroupedMLP with biases adds fc2's itself, per local expert in a
     * Python loop (experts.py _apply_bias): the bias times the
     * probabilities, added to the expert's rows, then the rows concatenated
     * (6 bytes per output element: written, read twice, written, read and
     * written), 2 L + 1 launches; backward each expert's two products and
     * two reductions, the split's concatenation, the bias gradient's add
     * (5 L + 3). fc1's bias is in its GEMM's epilogue, as the dense layers'. */
    if (sh->bias && o->t->moe_grouped_gemm) {
        double rows = tokens * sh->h;
        if (!o->backward)
            memory(out, "experts.fc2_bias (bias x probs, add, cat)", CS_SLOT_OUT, 6 * A * rows,
                   2 * groups + 1);
        else
            memory(out, "experts.fc2_bias.backward", CS_SLOT_OUT_B, 8 * A * rows,
                   5 * groups + 3);
        host(out, o->backward ? 2 * groups + 8 : 3 * groups + 4);
    }
    /* SequentialMLP: every local expert runs its own fc1, activation and
     * fc2, each a launch at that expert's tokens. TEGroupedMLP: fc1 and
     * fc2 (forward, dgrad, wgrad) are each one grouped GEMM over the local
     * experts, priced by its tokens per expert. */
    for (int i = 0; i < out->n && groups > 1; i++) {
        cs_kernel *k = &out->k[i];
        if (!o->t->moe_grouped_gemm) {
            k->launches *= groups;
            k->host_ops *= groups;
        } else if (k->kind == CS_KERNEL_GEMM) {
            k->group_tokens = tokens / groups;
            int fwd = k->slot == CS_SLOT_IN || k->slot == CS_SLOT_OUT;
            k->host_ops = fwd ? HOST_GROUPED(groups) : HOST_GROUPED_B(groups);
        }
    }
}

/* ---- output layer, loss, embedding -------------------------------------------------- */

/* _VocabParallelCrossEntropy over T x V/t logits (bytes per logit): the
 * fp32 copy (2 read, 4 written), max, subtract, exp, sum, and the division
 * into the softmax it keeps (4 + 4 each but max and sum, which only read);
 * backward subtracts the one-hot target in place and casts the gradient to
 * bf16. With cross_entropy_loss_fusion, native (fused_cross_entropy.py: its
 * three jit-fused functions, then calculate_gradients): the float copy with
 * its max (2 + 4), subtract-exp-sum in place (4 + 4), the division (4 + 4);
 * backward one pass (4 + 2). te (Transformer Engine's Triton
 * parallel_cross_entropy): online_softmax_kernel reads the logits, then
 * cross_entropy_kernel reads them again and writes the fp32 gradient (2 + 2
 * + 4); backward element_mul scales it in place (4 + 4) and autograd casts
 * it to bf16 (4 + 2). */
void cs_kernels_output(const cs_shape *sh, const cs_kernel_opts *o, cs_kernel_list *out)
{
    double v = sh->V / sh->t, e = sh->T * v;
    out->n = 0;
    int fused = o->t->cross_entropy_loss_fusion, te = fused && o->t->cross_entropy_fusion_impl;
    if (!o->backward) {
        norm(out, sh, "final_layernorm", NULL, o, CS_SLOT_PRE, CS_SLOT_PRE_B);
        gemm(out, "output_layer", CS_SLOT_IN, 1, sh->T, v, sh->h, 0);
        if (te) /* online softmax (reads the logits), then loss and fp32 gradient */
            memory(out, "cross_entropy (te: online_softmax, cross_entropy_kernel)", CS_SLOT_CORE,
                   (2 + 2 + 4) * e, 2);
        else if (fused) /* float + max; subtract, exp, sum; divide */
            memory(out, "cross_entropy (fused: max, exp and sum, divide)", CS_SLOT_CORE,
                   (2 + 4 + 4 + 4 + 4 + 4) * e, 3);
        else
            memory(out, "cross_entropy (float, max, subtract, exp, sum, divide)", CS_SLOT_CORE,
                   (6 + 4 + 8 + 8 + 4 + 8) * e, 8);
        return;
    }
    if (te) /* element_mul by the loss gradient, then autograd's cast to the logits' bf16 */
        memory(out, "cross_entropy.backward (te: element_mul, cast)", CS_SLOT_CORE_B,
               (4 + 4 + 4 + 2) * e, 2);
    else if (fused) /* calculate_gradients: scale and cast in one pass */
        memory(out, "cross_entropy.backward (fused)", CS_SLOT_CORE_B, (4 + 2) * e, 1);
    else
        memory(out, "cross_entropy.backward", CS_SLOT_CORE_B, (8 + 6) * e, 2);
    gemm(out, "output_layer.dgrad", CS_SLOT_IN_B, 1, sh->T, sh->h, v, 0);
    wgrad(out, o, "output_layer.wgrad", "output_layer.main_grad_add", CS_SLOT_IN_W, 1, v, sh->h,
          sh->T);
    norm(out, sh, NULL, "final_layernorm.backward", o, CS_SLOT_PRE, CS_SLOT_PRE_B);
}

int cs_kernels_loss_reductions(const cs_training *t)
{
    return t->cross_entropy_loss_fusion ? 2 : 3;
}

/* VocabParallelEmbedding: ids masked to this rank's vocabulary range, rows
 * gathered (read and written T x h), learned positions added, then the
 * embedding dropout over the rank's Tl tokens. Backward: the dropout's
 * backward and the rows' gradients scattered into the fp32 main_grad. */
void cs_kernels_embedding(const cs_shape *sh, const cs_kernel_opts *o, const cs_model *m,
                          cs_kernel_list *out)
{
    double e = sh->T * sh->h, el = sh->Tl * sh->h;
    int drop = o->t->hidden_dropout > 0;
    int learned = m->position_embedding_type == CS_POS_LEARNED_ABSOLUTE;
    out->n = 0;
    if (!o->backward) {
        memory(out, "word_embeddings", CS_SLOT_IN, 2 * A * e + 3 * 8 * sh->T, 4);
        if (learned)
            memory(out, "position_embeddings (add)", CS_SLOT_POST, 3 * A * el, 1);
        if (drop)
            memory(out, "embedding_dropout", CS_SLOT_POST, (2 * A + 1) * el, 1);
        return;
    }
    if (drop)
        memory(out, "embedding_dropout.backward", CS_SLOT_POST_B, (2 * A + 1) * el, 1);
    memory(out, "word_embeddings.backward (scatter-add into main_grad)", CS_SLOT_IN_B,
           A * e + 8 * e, 2);
    if (learned)
        memory(out, "position_embeddings.backward", CS_SLOT_IN_B, A * el + 8 * sh->s / sh->cp * sh->h, 1);
}

double cs_kernel_launches(const cs_kernel *k)
{
    return k->group_tokens > 0 ? k->batch : k->launches;
}

static double flops_of(const cs_kernel *k) { return k->flops; }
static double bytes_of(const cs_kernel *k) { return k->bytes; }
static double host_ops_of(const cs_kernel *k) { return k->host_ops; }

/* The sum of `of` over the kernels of one slot. */
static double slot_sum(const cs_kernel_list *l, cs_kernel_slot slot,
                       double (*of)(const cs_kernel *))
{
    double sum = 0;
    for (int i = 0; i < l->n; i++)
        if (l->k[i].slot == slot)
            sum += of(&l->k[i]);
    return sum;
}

double cs_kernels_flops(const cs_kernel_list *l, cs_kernel_slot slot)
{
    return slot_sum(l, slot, flops_of);
}

double cs_kernels_launches(const cs_kernel_list *l, cs_kernel_slot slot)
{
    return slot_sum(l, slot, cs_kernel_launches);
}

double cs_kernels_host_ops(const cs_kernel_list *l, cs_kernel_slot slot)
{
    return slot_sum(l, slot, host_ops_of);
}

double cs_kernels_bytes(const cs_kernel_list *l, cs_kernel_slot slot)
{
    return slot_sum(l, slot, bytes_of);
}
