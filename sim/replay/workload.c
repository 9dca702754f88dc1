#include "replay/workload.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/cost.h"
#include "model/memory.h"
#include "model/model.h"
#include "model/routing.h"
#include "model/schedule.h"

#define DT 2.0 /* bytes per activation element (bf16/fp16) */
#define GRAD_BYTES 4.0  /* fp32 gradients are reduced (Megatron's default main_grad) */
#define PARAM_BYTES 2.0 /* parameters are all-gathered in bf16 */
#define OPTIMIZER_BYTES 30.0 /* Adam per owned parameter: read grad, master, m, v (16), write master, m, v (12), param (2) */
#define BUCKET_PARAMS 40e6   /* Megatron's default DDP bucket: max(40M, 1M x dp) parameters */

static const char *const class_names[CS_OP_CLASS_COUNT] = {
    "forward", "backward_input", "backward_weight", "recompute", "optimizer",
    "end",     "tp",             "ep",              "pp",        "dp"};

const char *cs_op_class_name(cs_op_class k) { return class_names[k]; }

/* ---- shapes of one micro-batch on one GPU -------------------------------- */

typedef struct shape {
    double s, b, h, T, Tl; /* T tokens; Tl the tokens a rank holds between TP regions */
    double t, etp;
    double q, kv;          /* query and key/value widths */
    double ffn, ffn_e, ffn_s, f; /* f: 2 matrices, or 3 with SwiGLU (fc1 is f-1 wide) */
    double experts, topk, V;
    int sp;
} shape;

static void make_shape(shape *sh, const cs_model *m, const cs_training *t, const cs_layout_sizes *z)
{
    memset(sh, 0, sizeof *sh);
    sh->s = (double)t->seq_length;
    sh->b = (double)z->micro_batch;
    sh->h = (double)m->hidden_size;
    sh->T = sh->s * sh->b;
    sh->t = (double)z->tp;
    sh->etp = (double)z->etp;
    sh->sp = t->sequence_parallel && z->tp > 1;
    sh->Tl = sh->sp ? sh->T / sh->t : sh->T;
    if (m->mla.enabled) {
        sh->q = (double)(m->num_attention_heads * (m->mla.qk_head_dim + m->mla.qk_pos_emb_head_dim));
        sh->kv = (double)(m->num_attention_heads * m->mla.v_head_dim);
    } else {
        sh->q = (double)(m->num_attention_heads * m->kv_channels);
        sh->kv = (double)(m->num_query_groups * m->kv_channels);
    }
    sh->ffn = (double)m->ffn_hidden_size;
    sh->ffn_e = (double)m->moe.ffn_hidden_size;
    sh->ffn_s = (double)m->moe.shared_expert_ffn_hidden_size;
    sh->f = m->swiglu ? 3.0 : 2.0;
    sh->experts = (double)m->moe.num_experts;
    sh->topk = (double)m->moe.router_topk;
    sh->V = (double)m->vocab_size;
}

double cs_workload_model_flops(const cs_model *m, const cs_training *t)
{
    cs_layout_sizes z = {0};
    shape sh;
    z.tp = z.etp = z.micro_batch = 1;
    make_shape(&sh, m, t, &z);
    double per_token = 0;
    for (long i = 0; i < m->num_layers; i++) {
        per_token += 2 * sh.h * (sh.q + 2 * sh.kv) + 2 * sh.q * sh.s + 2 * sh.q * sh.h;
        if (cs_model_is_moe_layer(m, i))
            per_token += 2 * sh.h * sh.f * (sh.ffn_e * sh.topk + sh.ffn_s);
        else
            per_token += 2 * sh.h * sh.f * sh.ffn;
    }
    per_token += 2 * sh.h * sh.V;
    return 3 * per_token * (double)t->global_batch_size * sh.s;
}

/* ---- the builder ----------------------------------------------------------- */

typedef struct builder {
    cs_workload *w;
    cs_exec *x;
    const cs_scenario *s;
    const cs_model *m;
    const cs_training *t;
    const cs_layout *l;
    const cs_layout_sizes *z;
    cs_cost cost;
    shape sh;
    gsl_rng *rng;
    gsl_rng *noise;      /* uncertainty draws, apart from routing so they do not shift it */
    double *slowdown;    /* per GPU: straggler factor (1 for most) */
    long per_stage;      /* GPUs per stage: tp x ep x dp */
    long *gpu_of;        /* local index in a stage -> rank, for the stage being built */
    long stage;
    long *last;          /* per GPU: last op of its sequence, -1 */
    long *capture;       /* per GPU: -1 armed to record the next op id, -2 idle */
    long (*pending)[CS_OP_GATES]; /* per GPU: gates for its next op */
    int *npending;
    long layers_per_chunk, chunks;
    /* First and last op of each pass: [(((stage * 2 + dir) * m + mb) * v + chunk) * per_stage + local]. */
    long *pass_first, *pass_last;
    /* Last weight-gradient op of each layer of the stage, per local GPU. */
    long *last_w; /* [local * layers_per_stage + layer_in_stage] */
    long *last_op_of_stage; /* per local GPU */
    /* MoE routing of the stage: expert tokens per GPU and pair tables per EP group. */
    double *expert_tokens;     /* [(local * Ls + li) * m + mb] */
    double **dispatch;         /* [(li * m + mb) * groups + g] (NULL: even) */
    double **combine;
    double *prob;              /* E popularity per layer, all layers: [layer * E + e] */
    double *counts;            /* scratch: ep x E */
    unsigned int *draws;
    long *members;             /* scratch */
    int failed;
} builder;

static long coord_rank(const builder *B, long tp, long ep, long dp, long pp)
{
    long c[CS_DIM_COUNT];
    c[CS_DIM_TP] = tp;
    c[CS_DIM_EP] = ep;
    c[CS_DIM_DP] = dp;
    c[CS_DIM_PP] = pp;
    return cs_layout_rank(B->l, B->z, c);
}

/* Local index in a stage: tp fastest, then ep, then dp. */
static long local_index(const builder *B, long tp, long ep, long dp)
{
    return tp + B->z->tp * (ep + B->z->ep * dp);
}

static cs_op_info *push_info(builder *B, long id, cs_op_class k, long mb, long layer)
{
    cs_workload *w = B->w;
    if (id < 0) {
        B->failed = 1;
        return NULL;
    }
    if (id >= w->cap) {
        long cap = w->cap ? 2 * w->cap : 1024;
        while (cap <= id)
            cap *= 2;
        cs_op_info *info = realloc(w->info, (size_t)cap * sizeof *info);
        if (!info) {
            B->failed = 1;
            return NULL;
        }
        w->info = info;
        w->cap = cap;
    }
    if (id >= w->count)
        w->count = id + 1;
    cs_op_info *o = &w->info[id];
    memset(o, 0, sizeof *o);
    o->klass = (uint8_t)k;
    o->stage = (int16_t)B->stage;
    o->mb = (int32_t)mb;
    o->layer = (int16_t)layer;
    return o;
}

/* The op just added on `gpu` takes over the gates pending there and follows
 * the GPU's previous op. */
static void chain(builder *B, long gpu, long id, cs_op_info *o)
{
    if (B->last[gpu] >= 0 && cs_exec_depend(B->x, B->last[gpu], id) != 0)
        B->failed = 1;
    /* The previous op is a gate too: a collective may wait on the one before
     * it on its stream, and the replay follows such chains back. */
    if (o && B->last[gpu] >= 0)
        o->gate[o->ngate++] = (int32_t)B->last[gpu];
    for (int i = 0; i < B->npending[gpu]; i++) {
        if (cs_exec_depend(B->x, B->pending[gpu][i], id) != 0)
            B->failed = 1;
        if (o && o->ngate < CS_OP_GATES)
            o->gate[o->ngate++] = (int32_t)B->pending[gpu][i];
    }
    B->npending[gpu] = 0;
    B->last[gpu] = id;
    if (B->capture[gpu] == -1)
        B->capture[gpu] = id;
}

static long compute(builder *B, long gpu, cs_op_class k, long mb, long layer, double seconds,
                    double flops, double mem_begin, double mem_end)
{
    double sigma = B->s->uncertainty.compute_jitter;
    if (sigma > 0 && seconds > 0) /* lognormal with mean 1 */
        seconds *= exp(sigma * gsl_ran_gaussian(B->noise, 1.0) - sigma * sigma / 2);
    seconds *= B->slowdown[gpu];
    long id = cs_exec_compute(B->x, gpu, CS_STREAM_COMPUTE, seconds, 0);
    cs_op_info *o = push_info(B, id, k, mb, layer);
    if (!o)
        return -1;
    o->work = flops;
    o->mem_begin = mem_begin;
    o->mem_end = mem_end;
    chain(B, gpu, id, o);
    return id;
}

/* A collective over members[0..n-1]; every member's next op waits for it. */
static long collective(builder *B, const long *members, long n, cs_coll_op op, int stream,
                       cs_op_class k, long mb, long layer, double bytes, const double *pairs)
{
    cs_coll_spec spec = {op, CS_ALGO_AUTO, n, members, bytes, pairs, 0};
    long first = cs_exec_collective(B->x, &spec, stream, 0);
    if (first < 0) {
        B->failed = 1;
        return -1;
    }
    for (long i = 0; i < n; i++) {
        cs_op_info *o = push_info(B, first + i, k, mb, layer);
        if (!o)
            return -1;
        o->work = bytes;
        chain(B, members[i], first + i, o);
        B->pending[members[i]][0] = first + i;
        B->npending[members[i]] = 1;
    }
    return first;
}

/* ---- kernel times ---------------------------------------------------------- */

static double gemm(builder *B, double M, double K, double N)
{
    return cs_cost_kernel(&B->cost, 2 * M * K * N, DT * (M * K + K * N + M * N));
}

static double memory_op(builder *B, double bytes) { return cs_cost_kernel(&B->cost, 0, bytes); }

/* Forward attention block of one layer: norm, QKV, core, projection, residual. */
static double attention_time(builder *B, int pass, int recompute_core_only)
{
    const shape *sh = &B->sh;
    double core_flops = 2 * sh->s * sh->s * sh->b * sh->q / sh->t; /* causal: half of 4 s^2 b q */
    double core_bytes = DT * sh->T * (2 * sh->q + 2 * sh->kv) / sh->t;
    double core = cs_cost_kernel(&B->cost, core_flops, core_bytes);
    if (recompute_core_only)
        return core;
    double qkv = gemm(B, sh->T, sh->h, (sh->q + 2 * sh->kv) / sh->t);
    double proj = gemm(B, sh->T, sh->q / sh->t, sh->h);
    double norm = memory_op(B, 2 * DT * sh->Tl * sh->h), residual = memory_op(B, 3 * DT * sh->Tl * sh->h);
    switch (pass) {
    case CS_PASS_F:
        return norm + qkv + core + proj + residual;
    case CS_PASS_B: /* dgrads, attention backward (twice the forward), elementwise */
        return qkv + proj + 2 * core + 2 * (norm + residual) -
               2 * B->cost.gpu->kernel_launch; /* the backward's elementwise ops fuse */
    default: /* wgrads */
        return qkv + proj;
    }
}

static double mlp_time(builder *B, int pass, double tokens, double width, double tp_split)
{
    const shape *sh = &B->sh;
    if (tokens <= 0 || width <= 0)
        return 0;
    double fc1 = gemm(B, tokens, sh->h, (sh->f - 1) * width / tp_split);
    double fc2 = gemm(B, tokens, width / tp_split, sh->h);
    double act = memory_op(B, DT * tokens * width / tp_split * (sh->f == 3 ? 3 : 2));
    switch (pass) {
    case CS_PASS_F:
        return fc1 + act + fc2;
    case CS_PASS_B:
        return fc1 + 2 * act + fc2;
    default:
        return fc1 + fc2;
    }
}

/* ---- group members ---------------------------------------------------------- */

static long tp_members(builder *B, long ep, long dp, long *out)
{
    for (long i = 0; i < B->z->tp; i++)
        out[i] = coord_rank(B, i, ep, dp, B->stage);
    return B->z->tp;
}

static long ep_members(builder *B, long tp, long dp, long *out)
{
    for (long i = 0; i < B->z->ep; i++)
        out[i] = coord_rank(B, tp, i, dp, B->stage);
    return B->z->ep;
}

/* ---- communication of a layer ------------------------------------------------ */

/* Tensor-parallel communication at the edge of a block, for every TP group of
 * the stage. Forward: all-gather before the block and reduce-scatter after it
 * with sequence parallelism, else nothing before and an all-reduce after.
 * Backward mirrors it: the gradient of an all-gather is a reduce-scatter, of
 * an all-reduce after the block an all-reduce before it. */
static void tp_comm(builder *B, int after, int backward, long mb, long layer)
{
    const shape *sh = &B->sh;
    int reduces = after != backward;
    if (B->z->tp <= 1 || (!sh->sp && !reduces))
        return;
    cs_coll_op op = !sh->sp ? CS_COLL_ALL_REDUCE
                            : reduces ? CS_COLL_REDUCE_SCATTER : CS_COLL_ALL_GATHER;
    for (long dp = 0; dp < B->z->dp; dp++)
        for (long ep = 0; ep < B->z->ep; ep++) {
            long n = tp_members(B, ep, dp, B->members);
            collective(B, B->members, n, op, CS_STREAM_TP, CS_OP_TP, mb, layer,
                       DT * sh->T * sh->h, NULL);
        }
}

static long layer_in_stage(const builder *B, long layer)
{
    long vs = layer / B->layers_per_chunk, chunk = vs / B->z->pp;
    return chunk * B->layers_per_chunk + layer % B->layers_per_chunk;
}

static double expert_tokens(const builder *B, long local, long layer, long mb)
{
    long Ls = B->layers_per_chunk * B->chunks;
    return B->expert_tokens[(local * Ls + layer_in_stage(B, layer)) * B->z->microbatches + mb];
}

/* Expert tensor parallelism: tokens dispatched to an EP rank are gathered
 * over its TP group before the experts (reduce-scattered after), or the
 * reverse in backward. */
static void etp_comm(builder *B, int gather, long mb, long layer)
{
    if (B->z->etp <= 1)
        return;
    for (long dp = 0; dp < B->z->dp; dp++)
        for (long ep = 0; ep < B->z->ep; ep++) {
            long n = tp_members(B, ep, dp, B->members);
            double tokens = expert_tokens(B, local_index(B, 0, ep, dp), layer, mb);
            collective(B, B->members, n, gather ? CS_COLL_ALL_GATHER : CS_COLL_REDUCE_SCATTER,
                       CS_STREAM_TP, CS_OP_TP, mb, layer, DT * tokens * B->sh.h, NULL);
        }
}

/* Dispatch (out = 1: tokens to their experts) or combine all-to-all in every
 * EP group of the stage. */
static void ep_comm(builder *B, int out, long mb, long layer)
{
    const cs_layout_sizes *z = B->z;
    if (z->ep <= 1)
        return;
    long groups = z->tp * z->dp, li = layer_in_stage(B, layer);
    for (long dp = 0; dp < z->dp; dp++)
        for (long tp = 0; tp < z->tp; tp++) {
            double **tables = out ? B->dispatch : B->combine;
            const double *pairs = tables[(li * z->microbatches + mb) * groups + dp * z->tp + tp];
            long n = ep_members(B, tp, dp, B->members);
            double even = DT * B->sh.Tl * B->sh.topk * B->sh.h;
            long first = collective(B, B->members, n, CS_COLL_ALLTOALL, CS_STREAM_EP, CS_OP_EP,
                                    mb, layer, even, pairs);
            /* The tokens a member receives sit in a buffer while the exchange runs. */
            for (long j = 0; first >= 0 && j < n; j++) {
                double received = even;
                if (pairs) {
                    received = 0;
                    for (long i = 0; i < n; i++)
                        received += i == j ? 0 : pairs[i * n + j];
                }
                B->w->info[first + j].mem_begin = received;
                B->w->info[first + j].mem_end = -received;
            }
        }
}

/* ---- compute blocks ------------------------------------------------------------ */

typedef enum { BLOCK_ATTENTION, BLOCK_MLP, BLOCK_ROUTER, BLOCK_EXPERTS, BLOCK_UNPERMUTE } block;

/* Seconds of one block's pass on the GPU with stage index `local`. */
static double block_time(builder *B, block which, int pass, long local, long layer, long mb,
                         int selective)
{
    const shape *sh = &B->sh;
    switch (which) {
    case BLOCK_ATTENTION:
        return attention_time(B, pass, 0) +
               (pass == CS_PASS_B && selective ? attention_time(B, CS_PASS_F, 1) : 0);
    case BLOCK_MLP:
        return mlp_time(B, pass, sh->T, sh->ffn, sh->t);
    case BLOCK_ROUTER:
        if (pass == CS_PASS_W)
            return gemm(B, sh->Tl, sh->h, sh->experts);
        return gemm(B, sh->Tl, sh->h, sh->experts) +
               memory_op(B, 8 * sh->Tl * sh->experts + 2 * DT * sh->Tl * sh->topk * sh->h);
    case BLOCK_EXPERTS:
        return mlp_time(B, pass, expert_tokens(B, local, layer, mb), sh->ffn_e, sh->etp) +
               mlp_time(B, pass, sh->T, sh->ffn_s, sh->t);
    default:
        return pass == CS_PASS_W ? 0
                                 : memory_op(B, 2 * DT * sh->Tl * sh->topk * sh->h +
                                                    3 * DT * sh->Tl * sh->h);
    }
}

/* One compute op per GPU of the stage for a block. mem gives the bytes each
 * op allocates at its start (> 0) or frees at its end (< 0). */
static void block_ops(builder *B, block which, int pass, cs_op_class k, long mb, long layer,
                      double mem)
{
    int selective = B->z->recompute == CS_RECOMPUTE_SELECTIVE;
    for (long local = 0; local < B->per_stage; local++) {
        long gpu = B->gpu_of[local];
        double seconds = block_time(B, which, pass, local, layer, mb, selective);
        long id = compute(B, gpu, k, mb, layer, seconds, 0, mem > 0 ? mem : 0, mem < 0 ? mem : 0);
        if (pass == CS_PASS_W && id >= 0)
            B->last_w[local * B->layers_per_chunk * B->chunks + layer_in_stage(B, layer)] = id;
    }
}

/* ---- one layer ------------------------------------------------------------------ */

static int is_moe(const builder *B, long layer) { return cs_model_is_moe_layer(B->m, layer); }

/* Activation bytes a layer keeps from its forward to its backward, and what
 * its forward holds in full (what a full recompute rebuilds). */
static double layer_keep(const builder *B, long layer)
{
    return cs_memory_layer_activations(B->m, B->t, B->z, layer);
}

static double layer_full(const builder *B, long layer)
{
    cs_layout_sizes z = *B->z;
    z.recompute = CS_RECOMPUTE_NONE;
    return cs_memory_layer_activations(B->m, B->t, &z, layer);
}

/* Forward of a layer (or its replay under full recompute). */
static void layer_forward(builder *B, long mb, long layer, cs_op_class k)
{
    double mem = k == CS_OP_RECOMPUTE ? layer_full(B, layer) - layer_keep(B, layer)
                                      : layer_keep(B, layer);
    tp_comm(B, 0, 0, mb, layer);
    block_ops(B, BLOCK_ATTENTION, CS_PASS_F, k, mb, layer, mem);
    tp_comm(B, 1, 0, mb, layer);
    if (!is_moe(B, layer)) {
        tp_comm(B, 0, 0, mb, layer);
        block_ops(B, BLOCK_MLP, CS_PASS_F, k, mb, layer, 0);
        tp_comm(B, 1, 0, mb, layer);
        return;
    }
    block_ops(B, BLOCK_ROUTER, CS_PASS_F, k, mb, layer, 0);
    ep_comm(B, 1, mb, layer);
    etp_comm(B, 1, mb, layer);
    block_ops(B, BLOCK_EXPERTS, CS_PASS_F, k, mb, layer, 0);
    etp_comm(B, 0, mb, layer);
    ep_comm(B, 0, mb, layer);
    block_ops(B, BLOCK_UNPERMUTE, CS_PASS_F, k, mb, layer, 0);
}

/* Bytes of a layer's activations that weight gradients still need after B:
 * the inputs of its GEMMs. */
static double layer_w_part(const builder *B, long layer)
{
    const shape *sh = &B->sh;
    double width = is_moe(B, layer) ? sh->ffn_e * sh->topk : sh->ffn;
    double part = DT * sh->T * (2 * sh->h + (sh->q + width) / sh->t);
    double keep = layer_keep(B, layer);
    return part < keep ? part : keep;
}

/* Input-gradient pass of a layer; with `with_w` each block's W follows its B
 * (one backward, as autograd runs it) and the layer's memory is freed at its
 * end, else B frees all but what W needs. */
static void layer_backward(builder *B, long mb, long layer, int with_w)
{
    int full = B->z->recompute == CS_RECOMPUTE_FULL;
    double total = full ? layer_full(B, layer) : layer_keep(B, layer);
    double free_at_b = with_w ? 0 : -(total - layer_w_part(B, layer));
    if (full)
        layer_forward(B, mb, layer, CS_OP_RECOMPUTE);
    if (!is_moe(B, layer)) {
        tp_comm(B, 1, 1, mb, layer);
        block_ops(B, BLOCK_MLP, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer, 0);
        if (with_w)
            block_ops(B, BLOCK_MLP, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer, 0);
        tp_comm(B, 0, 1, mb, layer);
    } else {
        block_ops(B, BLOCK_UNPERMUTE, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer, 0);
        ep_comm(B, 1, mb, layer);
        etp_comm(B, 1, mb, layer);
        block_ops(B, BLOCK_EXPERTS, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer, 0);
        if (with_w)
            block_ops(B, BLOCK_EXPERTS, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer, 0);
        etp_comm(B, 0, mb, layer);
        ep_comm(B, 0, mb, layer);
        block_ops(B, BLOCK_ROUTER, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer, 0);
        if (with_w)
            block_ops(B, BLOCK_ROUTER, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer, 0);
    }
    tp_comm(B, 1, 1, mb, layer);
    block_ops(B, BLOCK_ATTENTION, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer, free_at_b);
    if (with_w)
        block_ops(B, BLOCK_ATTENTION, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer, -total);
    tp_comm(B, 0, 1, mb, layer);
}

/* Weight-gradient pass of a layer (zb-h1): no communication. */
static void layer_weight(builder *B, long mb, long layer)
{
    if (!is_moe(B, layer)) {
        block_ops(B, BLOCK_MLP, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer, 0);
    } else {
        block_ops(B, BLOCK_EXPERTS, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer, 0);
        block_ops(B, BLOCK_ROUTER, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer, 0);
    }
    block_ops(B, BLOCK_ATTENTION, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer,
              -layer_w_part(B, layer));
}

/* ---- embedding and output layer ------------------------------------------------ */

static double embedding_bytes(const builder *B)
{
    const shape *sh = &B->sh;
    return (8 * sh->s * sh->b + sh->s * sh->b * sh->h) / (sh->sp ? sh->t : 1);
}

static double output_bytes(const builder *B)
{
    const shape *sh = &B->sh;
    return 4 * sh->T * sh->h * (1 + sh->V / sh->h) / sh->t;
}

static void embedding_op(builder *B, int pass, long mb)
{
    const shape *sh = &B->sh;
    if (sh->V <= 0)
        return;
    double seconds = memory_op(B, 2 * DT * sh->Tl * sh->h);
    cs_op_class k = pass == CS_PASS_F ? CS_OP_FORWARD : CS_OP_BACKWARD_WEIGHT;
    for (long local = 0; local < B->per_stage; local++) {
        if (pass == CS_PASS_F)
            compute(B, B->gpu_of[local], k, mb, -1, seconds, 0, embedding_bytes(B), 0);
        else
            compute(B, B->gpu_of[local], k, mb, -1, seconds, 0, 0, -embedding_bytes(B));
    }
}

static void output_ops(builder *B, int pass, long mb)
{
    const shape *sh = &B->sh;
    if (sh->V <= 0)
        return;
    double logits = gemm(B, sh->T, sh->h, sh->V / sh->t);
    double loss = memory_op(B, 3 * 4 * sh->T * sh->V / sh->t);
    double norm = memory_op(B, 2 * DT * sh->Tl * sh->h);
    if (pass == CS_PASS_F)
        tp_comm(B, 0, 0, mb, -1);
    for (long local = 0; local < B->per_stage; local++) {
        long gpu = B->gpu_of[local];
        if (pass == CS_PASS_F)
            compute(B, gpu, CS_OP_FORWARD, mb, -1, norm + logits + loss, 0, output_bytes(B), 0);
        else if (pass == CS_PASS_B)
            compute(B, gpu, CS_OP_BACKWARD_INPUT, mb, -1, loss + logits + norm, 0, 0,
                    -output_bytes(B));
        else
            compute(B, gpu, CS_OP_BACKWARD_WEIGHT, mb, -1, logits, 0, 0, 0);
    }
    if (pass == CS_PASS_B)
        tp_comm(B, 0, 1, mb, -1);
}

/* ---- passes ---------------------------------------------------------------------- */

static long pass_slot(const builder *B, long stage, int backward, long mb, long chunk, long local)
{
    return (((stage * 2 + backward) * B->z->microbatches + mb) * B->chunks + chunk) *
               B->per_stage + local;
}

static void run_pass(builder *B, const cs_pass *p)
{
    long p_ = B->z->pp, v = B->chunks;
    long vs = p->chunk * p_ + B->stage, first = vs * B->layers_per_chunk;
    int splits = cs_schedule_splits_w(B->z->schedule);
    if (p->kind == CS_PASS_W && !splits)
        return; /* its W ops were issued with B, block by block, as autograd runs them */
    for (long local = 0; local < B->per_stage; local++)
        B->capture[B->gpu_of[local]] = -1; /* chain() records the pass's first op */
    if (p->kind == CS_PASS_F) {
        if (vs == 0)
            embedding_op(B, CS_PASS_F, p->mb);
        for (long i = first; i < first + B->layers_per_chunk; i++)
            layer_forward(B, p->mb, i, CS_OP_FORWARD);
        if (vs == p_ * v - 1)
            output_ops(B, CS_PASS_F, p->mb);
    } else if (p->kind == CS_PASS_B) {
        if (vs == p_ * v - 1) {
            output_ops(B, CS_PASS_B, p->mb);
            if (!splits)
                output_ops(B, CS_PASS_W, p->mb);
        }
        for (long i = first + B->layers_per_chunk - 1; i >= first; i--)
            layer_backward(B, p->mb, i, !splits);
        if (vs == 0 && !splits)
            embedding_op(B, CS_PASS_W, p->mb);
    } else {
        if (vs == p_ * v - 1)
            output_ops(B, CS_PASS_W, p->mb);
        for (long i = first + B->layers_per_chunk - 1; i >= first; i--)
            layer_weight(B, p->mb, i);
        if (vs == 0)
            embedding_op(B, CS_PASS_W, p->mb);
    }
    for (long local = 0; local < B->per_stage; local++) {
        long gpu = B->gpu_of[local];
        if (p->kind != CS_PASS_W) {
            long slot = pass_slot(B, B->stage, p->kind == CS_PASS_B, p->mb, p->chunk, local);
            B->pass_first[slot] = B->capture[gpu];
            B->pass_last[slot] = B->last[gpu];
        }
        B->capture[gpu] = -2;
    }
}

/* ---- pipeline sends and receives --------------------------------------------------- */

/* Pairs the passes of neighbouring virtual stages: for every pass that hands
 * data on (F to the next virtual stage, B to the previous), one send/receive
 * per GPU of the sending stage to its peer (same tp, ep, dp) on the receiving
 * stage, created in the sender's pass order so that both stages' streams list
 * them in the same order. */
static void pipeline_links(builder *B, const cs_pass *passes, long count, long stage)
{
    const cs_layout_sizes *z = B->z;
    long p = z->pp, last_vs = p * B->chunks - 1;
    double bytes = DT * B->sh.T * B->sh.h / B->sh.t;
    for (long i = 0; i < count; i++) {
        const cs_pass *ps = &passes[i];
        if (ps->kind == CS_PASS_W)
            continue;
        int backward = ps->kind == CS_PASS_B;
        long vs = ps->chunk * p + stage;
        long to_vs = backward ? vs - 1 : vs + 1;
        if (to_vs < 0 || to_vs > last_vs)
            continue;
        long to_stage = to_vs % p, to_chunk = to_vs / p;
        for (long local = 0; local < B->per_stage; local++) {
            long tp = local % z->tp, ep = local / z->tp % z->ep, dp = local / (z->tp * z->ep);
            long pair[2] = {coord_rank(B, tp, ep, dp, stage), coord_rank(B, tp, ep, dp, to_stage)};
            cs_coll_spec spec = {CS_COLL_P2P, CS_ALGO_AUTO, 2, pair, bytes, NULL, 0};
            int streams[2] = {backward ? CS_STREAM_SEND_PREV : CS_STREAM_SEND_NEXT,
                              backward ? CS_STREAM_RECV_NEXT : CS_STREAM_RECV_PREV};
            long sender = cs_exec_collective_on(B->x, &spec, streams, 0);
            if (sender < 0) {
                B->failed = 1;
                return;
            }
            long receiver = sender + 1;
            long from_slot = pass_slot(B, stage, backward, ps->mb, ps->chunk, local);
            long to_slot = pass_slot(B, to_stage, backward, ps->mb, to_chunk, local);
            cs_op_info *o = push_info(B, sender, CS_OP_PP, ps->mb, -1);
            cs_op_info *r = push_info(B, receiver, CS_OP_PP, ps->mb, -1);
            if (!o || !r)
                return;
            o->stage = (int16_t)stage;
            r->stage = (int16_t)to_stage;
            o->work = r->work = bytes;
            if (cs_exec_depend(B->x, B->pass_last[from_slot], sender) ||
                cs_exec_depend(B->x, receiver, B->pass_first[to_slot]))
                B->failed = 1;
            cs_op_info *gated = &B->w->info[B->pass_first[to_slot]];
            if (gated->ngate < CS_OP_GATES)
                gated->gate[gated->ngate++] = (int32_t)receiver;
        }
    }
}

/* ---- gradients, optimizer, parameters -------------------------------------------- */

typedef struct bucket {
    double dense, expert;       /* parameters per GPU */
    long first_layer, last_layer; /* in-stage indices, backward order: first >= last */
} bucket;

/* Dense data-parallel group of a GPU: same tp and stage, every ep and dp. */
static long dense_dp_members(builder *B, long tp, long *out)
{
    long n = 0;
    for (long dp = 0; dp < B->z->dp; dp++)
        for (long ep = 0; ep < B->z->ep; ep++)
            out[n++] = coord_rank(B, tp, ep, dp, B->stage);
    return n;
}

/* Expert data-parallel group: same stage, ep and expert-TP rank (tp % etp),
 * every dp and every tp / etp. */
static long expert_dp_members(builder *B, long tp, long ep, long *out)
{
    long n = 0;
    for (long dp = 0; dp < B->z->dp; dp++)
        for (long r = tp % B->z->etp; r < B->z->tp; r += B->z->etp)
            out[n++] = coord_rank(B, r, ep, dp, B->stage);
    return n;
}

/* Parameters of in-stage layer li on one GPU of the stage. */
static void layer_params(const builder *B, const cs_param_counts *pc, long li, double *dense,
                         double *expert)
{
    long chunk = li / B->layers_per_chunk;
    long layer = (chunk * B->z->pp + B->stage) * B->layers_per_chunk + li % B->layers_per_chunk;
    *dense = cs_model_layer_dense_params(B->m, pc, layer) / (double)B->z->tp;
    *expert = cs_model_layer_expert_params(B->m, pc, layer) / (double)(B->z->ep * B->z->etp);
}

/* Buckets of at least BUCKET_PARAMS (or 1M x dp) dense parameters, filled in
 * the order backward produces gradients. Returns the count. */
static long make_buckets(const builder *B, bucket *out)
{
    cs_param_counts pc;
    cs_model_params(B->m, &pc);
    long Ls = B->layers_per_chunk * B->chunks, n = 0;
    double size = BUCKET_PARAMS > 1e6 * (double)B->z->dense_dp ? BUCKET_PARAMS
                                                                : 1e6 * (double)B->z->dense_dp;
    bucket cur = {0, 0, Ls - 1, Ls - 1};
    for (long li = Ls - 1; li >= 0; li--) {
        double d, e;
        layer_params(B, &pc, li, &d, &e);
        cur.dense += d;
        cur.expert += e;
        cur.last_layer = li;
        if (cur.dense + cur.expert >= size || li == 0) {
            out[n++] = cur;
            cur = (bucket){0, 0, li - 1, li - 1};
        }
    }
    /* Embedding and output layer: with the first and last buckets. */
    double extra = 0;
    if (B->stage == 0)
        extra += pc.embedding / (double)B->z->tp;
    if (B->stage == B->z->pp - 1) {
        extra += (pc.output_layer + pc.final_norm) / (double)B->z->tp;
        if (!B->m->untie_embeddings_and_output_weights && B->z->pp > 1)
            extra += (double)B->m->vocab_size * (double)B->m->hidden_size / (double)B->z->tp;
    }
    if (n > 0)
        out[n - 1].dense += extra;
    return n;
}

/* The local index of a GPU of the stage being built. */
static long local_of(const builder *B, long gpu)
{
    long coord[CS_DIM_COUNT];
    cs_layout_coords(B->l, B->z, gpu, coord);
    return local_index(B, coord[CS_DIM_TP], coord[CS_DIM_EP], coord[CS_DIM_DP]);
}

/* One gradient reduction of a bucket over members[0..n-1]: with overlap each
 * member waits for the last weight gradient of the bucket's layers, else for
 * the end of its backward. */
static void reduce_bucket(builder *B, const bucket *bk, long n, double params)
{
    long Ls = B->layers_per_chunk * B->chunks;
    cs_coll_op op = B->t->distributed_optimizer ? CS_COLL_REDUCE_SCATTER : CS_COLL_ALL_REDUCE;
    for (long i = 0; i < n; i++)
        B->npending[B->members[i]] = 0; /* the DP stream does not wait on compute gates */
    long first = collective(B, B->members, n, op, CS_STREAM_DP, CS_OP_DP, -1, -1,
                            GRAD_BYTES * params, NULL);
    if (first < 0)
        return;
    for (long i = 0; i < n; i++) {
        long local = local_of(B, B->members[i]);
        if (!B->t->overlap_grad_reduce) {
            if (cs_exec_depend(B->x, B->last_op_of_stage[local], first + i))
                B->failed = 1;
            continue;
        }
        for (long li = bk->last_layer; li <= bk->first_layer; li++) {
            long w = B->last_w[local * Ls + li];
            if (w >= 0 && cs_exec_depend(B->x, w, first + i))
                B->failed = 1;
        }
    }
}

/* Every bucket over the dense data-parallel groups, and the expert part over
 * the expert data-parallel groups. */
static void reduce_gradients(builder *B, const bucket *buckets, long nb)
{
    const cs_layout_sizes *z = B->z;
    /* The DP stream starts fresh: its first collective waits only on the
     * gradients it reduces. */
    for (long local = 0; local < B->per_stage; local++)
        B->last[B->gpu_of[local]] = -1;
    for (long k = 0; k < nb; k++) {
        for (long tp = 0; tp < z->tp && buckets[k].dense > 0; tp++) {
            long n = dense_dp_members(B, tp, B->members);
            if (n > 1)
                reduce_bucket(B, &buckets[k], n, buckets[k].dense);
        }
        for (long tp = 0; tp < z->etp && buckets[k].expert > 0; tp++)
            for (long ep = 0; ep < z->ep; ep++) {
                long n = expert_dp_members(B, tp, ep, B->members);
                if (n > 1)
                    reduce_bucket(B, &buckets[k], n, buckets[k].expert);
            }
    }
}

/* Optimizer step on every GPU of the stage (memory-bound: Adam reads and
 * writes about 30 bytes per parameter it owns), then, with the distributed
 * optimizer, the all-gather of the updated parameters, and the end marker. */
static void optimizer_and_gather(builder *B, const bucket *buckets, long nb)
{
    const cs_layout_sizes *z = B->z;
    int distributed = B->t->distributed_optimizer;
    double dense = 0, expert = 0;
    for (long k = 0; k < nb; k++) {
        dense += buckets[k].dense;
        expert += buckets[k].expert;
    }
    double owned = distributed ? dense / (double)z->dense_dp +
                                     expert / (double)(z->expert_dp > 0 ? z->expert_dp : 1)
                               : dense + expert;
    double seconds = memory_op(B, OPTIMIZER_BYTES * owned);
    for (long local = 0; local < B->per_stage; local++)
        compute(B, B->gpu_of[local], CS_OP_OPTIMIZER, -1, -1, seconds, 0, 0, 0);
    if (distributed)
        for (long k = 0; k < nb; k++) {
            for (long tp = 0; tp < z->tp && buckets[k].dense > 0; tp++) {
                long n = dense_dp_members(B, tp, B->members);
                if (n > 1)
                    collective(B, B->members, n, CS_COLL_ALL_GATHER, CS_STREAM_DP, CS_OP_DP, -1,
                               -1, PARAM_BYTES * buckets[k].dense, NULL);
            }
            for (long tp = 0; tp < z->etp && buckets[k].expert > 0; tp++)
                for (long ep = 0; ep < z->ep; ep++) {
                    long n = expert_dp_members(B, tp, ep, B->members);
                    if (n > 1)
                        collective(B, B->members, n, CS_COLL_ALL_GATHER, CS_STREAM_DP,
                                   CS_OP_DP, -1, -1, PARAM_BYTES * buckets[k].expert, NULL);
                }
        }
}

static void end_markers(builder *B)
{
    for (long local = 0; local < B->per_stage; local++)
        compute(B, B->gpu_of[local], CS_OP_END, -1, -1, 0, 0, 0, 0);
}

/* ---- MoE routing of a stage ---------------------------------------------------------- */

static double *table(builder *B, long n)
{
    cs_workload *w = B->w;
    if (w->tables == w->tables_cap) {
        long cap = w->tables_cap ? 2 * w->tables_cap : 64;
        double **t = realloc(w->pair_tables, (size_t)cap * sizeof *t);
        if (!t)
            return NULL;
        w->pair_tables = t;
        w->tables_cap = cap;
    }
    double *t = calloc((size_t)(n * n), sizeof *t);
    if (t)
        w->pair_tables[w->tables++] = t;
    return t;
}

/* Draws the routing of every (layer, micro-batch, EP group) of the stage and
 * derives the all-to-all byte tables and each GPU's expert tokens. */
static void route_stage(builder *B)
{
    const cs_layout_sizes *z = B->z;
    long E = B->m->moe.num_experts, Ls = B->layers_per_chunk * B->chunks, m = z->microbatches;
    long groups = z->tp * z->dp, per_rank = E / z->ep;
    const shape *sh = &B->sh;
    for (long li = 0; li < Ls; li++) {
        long chunk = li / B->layers_per_chunk;
        long layer = (chunk * z->pp + B->stage) * B->layers_per_chunk + li % B->layers_per_chunk;
        if (!is_moe(B, layer))
            continue;
        for (long mb = 0; mb < m; mb++)
            for (long g = 0; g < groups; g++) {
                long tp = g % z->tp, dp = g / z->tp;
                B->w->dropped_tokens += cs_routing_draw(
                    B->t, B->m->moe.capacity_factor, z->ep, E, B->m->moe.router_topk, sh->Tl,
                    B->prob + layer * E, B->rng, B->counts, B->draws);
                B->w->routed_tokens += sh->Tl * sh->topk * (double)z->ep;
                double *out = NULL, *back = NULL;
                if (B->t->moe_routing.mode != CS_ROUTING_BALANCED ||
                    B->m->moe.capacity_factor > 0) {
                    out = table(B, z->ep);
                    back = table(B, z->ep);
                    if (!out || !back) {
                        B->failed = 1;
                        return;
                    }
                }
                for (long j = 0; j < z->ep; j++) {
                    double received = 0;
                    for (long i = 0; i < z->ep; i++) {
                        double tokens = 0;
                        for (long e = j * per_rank; e < (j + 1) * per_rank; e++)
                            tokens += B->counts[i * E + e];
                        received += tokens;
                        if (out) {
                            out[i * z->ep + j] = DT * tokens * sh->h;
                            back[j * z->ep + i] = DT * tokens * sh->h;
                        }
                    }
                    /* With etp > 1 the experts see the tokens of their whole TP group. */
                    for (long r = 0; r < z->tp; r++) {
                        int shares = z->etp > 1 ? (r / z->etp == tp / z->etp) : (r == tp);
                        if (shares)
                            B->expert_tokens[(local_index(B, r, j, dp) * Ls + li) * m + mb] +=
                                received;
                    }
                }
                B->dispatch[(li * m + mb) * groups + g] = out;
                B->combine[(li * m + mb) * groups + g] = back;
            }
    }
}

/* ---- building everything ----------------------------------------------------------------- */

static void build_stage(builder *B, long stage, cs_pass *passes)
{
    const cs_layout_sizes *z = B->z;
    B->stage = stage;
    for (long local = 0; local < B->per_stage; local++) {
        long tp = local % z->tp, ep = local / z->tp % z->ep, dp = local / (z->tp * z->ep);
        B->gpu_of[local] = coord_rank(B, tp, ep, dp, stage);
    }
    long Ls = B->layers_per_chunk * B->chunks;
    size_t cells = (size_t)(Ls * z->microbatches * z->tp * z->dp);
    memset(B->expert_tokens, 0, (size_t)(B->per_stage * Ls * z->microbatches) * sizeof(double));
    memset(B->dispatch, 0, cells * sizeof *B->dispatch);
    memset(B->combine, 0, cells * sizeof *B->combine);
    if (B->m->moe.num_experts > 0)
        route_stage(B);
    for (long i = 0; i < B->per_stage * Ls; i++)
        B->last_w[i] = -1;
    long count = cs_schedule_passes(z->schedule, z->pp, B->chunks, z->microbatches, stage, passes);
    for (long i = 0; i < count && !B->failed; i++)
        run_pass(B, &passes[i]);
    for (long local = 0; local < B->per_stage; local++)
        B->last_op_of_stage[local] = B->last[B->gpu_of[local]];
    if (B->t->optimizer == CS_OPTIMIZER_ADAM) {
        bucket *buckets = malloc((size_t)(Ls + 1) * sizeof *buckets);
        if (!buckets) {
            B->failed = 1;
            return;
        }
        long nb = make_buckets(B, buckets);
        reduce_gradients(B, buckets, nb);
        /* The optimizer follows the stage's compute and the last reduction. */
        for (long local = 0; local < B->per_stage; local++) {
            long gpu = B->gpu_of[local];
            if (B->last[gpu] < 0)
                B->last[gpu] = B->last_op_of_stage[local];
        }
        optimizer_and_gather(B, buckets, nb);
        free(buckets);
    }
    end_markers(B);
}

static int alloc_builder(builder *B)
{
    const cs_layout_sizes *z = B->z;
    long world = z->world, Ls = B->layers_per_chunk * B->chunks, m = z->microbatches;
    long E = B->m->moe.num_experts > 0 ? B->m->moe.num_experts : 1;
    size_t slots = (size_t)(z->pp * 2 * m * B->chunks * B->per_stage);
    size_t cells = (size_t)(Ls * m * z->tp * z->dp);
    B->gpu_of = malloc((size_t)B->per_stage * sizeof *B->gpu_of);
    B->last = malloc((size_t)world * sizeof *B->last);
    B->capture = malloc((size_t)world * sizeof *B->capture);
    B->pending = malloc((size_t)world * sizeof *B->pending);
    B->npending = calloc((size_t)world, sizeof *B->npending);
    B->pass_first = malloc(slots * sizeof *B->pass_first);
    B->pass_last = malloc(slots * sizeof *B->pass_last);
    B->last_w = malloc((size_t)(B->per_stage * Ls) * sizeof *B->last_w);
    B->last_op_of_stage = malloc((size_t)B->per_stage * sizeof *B->last_op_of_stage);
    B->expert_tokens = malloc((size_t)(B->per_stage * Ls * m) * sizeof *B->expert_tokens);
    B->dispatch = malloc(cells * sizeof *B->dispatch);
    B->combine = malloc(cells * sizeof *B->combine);
    B->prob = malloc((size_t)(B->m->num_layers * E) * sizeof *B->prob);
    B->counts = malloc((size_t)(z->ep * E) * sizeof *B->counts);
    B->draws = malloc((size_t)E * sizeof *B->draws);
    long most = world > 2 * B->per_stage ? world : 2 * B->per_stage;
    B->members = malloc((size_t)most * sizeof *B->members);
    B->rng = gsl_rng_alloc(gsl_rng_mt19937);
    B->noise = gsl_rng_alloc(gsl_rng_mt19937);
    B->slowdown = malloc((size_t)world * sizeof *B->slowdown);
    if (!B->gpu_of || !B->last || !B->capture || !B->pending || !B->npending ||
        !B->pass_first || !B->pass_last || !B->last_w || !B->last_op_of_stage ||
        !B->expert_tokens || !B->dispatch || !B->combine || !B->prob || !B->counts ||
        !B->draws || !B->members || !B->rng || !B->noise || !B->slowdown)
        return -1;
    for (long g = 0; g < world; g++) {
        B->last[g] = -1;
        B->capture[g] = -2;
    }
    for (size_t i = 0; i < slots; i++)
        B->pass_first[i] = B->pass_last[i] = -1;
    return 0;
}

static void free_builder(builder *B)
{
    free(B->gpu_of);
    free(B->last);
    free(B->capture);
    free(B->pending);
    free(B->npending);
    free(B->pass_first);
    free(B->pass_last);
    free(B->last_w);
    free(B->last_op_of_stage);
    free(B->expert_tokens);
    free(B->dispatch);
    free(B->combine);
    free(B->prob);
    free(B->counts);
    free(B->draws);
    free(B->members);
    if (B->rng)
        gsl_rng_free(B->rng);
    if (B->noise)
        gsl_rng_free(B->noise);
    free(B->slowdown);
    cs_cost_free(&B->cost);
}

static void static_memory(cs_workload *w, const cs_scenario *s, const cs_layout_sizes *z)
{
    for (long stage = 0; stage < z->pp; stage++) {
        cs_memory_breakdown b;
        cs_memory_stage(s, z, stage, &b);
        w->static_mem[stage] = (cs_static_memory){b.weights, b.gradients, b.optimizer, b.reserved};
    }
}

int cs_workload_build(cs_workload *w, cs_exec *x, const cs_scenario *s, const cs_layout *l,
                      const cs_layout_sizes *z, unsigned long seed)
{
    memset(w, 0, sizeof *w);
    builder B = {0};
    B.w = w;
    B.x = x;
    B.s = s;
    B.m = &s->model;
    B.t = &s->training;
    B.l = l;
    B.z = z;
    B.per_stage = z->tp * z->ep * z->dp;
    B.chunks = z->schedule == CS_INTERLEAVED ? z->vpp : 1;
    B.layers_per_chunk = z->layers_per_virtual_stage;
    make_shape(&B.sh, B.m, B.t, z);
    w->stages = z->pp;
    w->static_mem = calloc((size_t)z->pp, sizeof *w->static_mem);
    w->model_flops = cs_workload_model_flops(B.m, B.t);
    cs_pass *passes = malloc((size_t)(3 * z->microbatches * B.chunks) * sizeof *passes);
    int rc = -1;
    if (!w->static_mem || !passes || cs_cost_init(&B.cost, &s->cluster.gpu, B.t->precision) ||
        alloc_builder(&B))
        goto done;
    gsl_rng_set(B.rng, seed);
    gsl_rng_set(B.noise, seed ^ 0x9e3779b97f4a7c15ul);
    /* Stragglers: each GPU, with the given probability, computes slower for
     * the whole iteration. */
    for (long g = 0; g < z->world; g++) {
        const cs_uncertainty *u = &s->uncertainty;
        B.slowdown[g] = u->stragglers.probability > 0 &&
                                gsl_rng_uniform(B.noise) < u->stragglers.probability
                            ? u->stragglers.slowdown
                            : 1.0;
    }
    static_memory(w, s, z);
    /* About 24 ops per layer and micro-batch on every GPU (fewer without TP
     * or EP): reserving once spares the copies of growing tables. */
    long hint = z->world * (z->microbatches * z->layers_per_stage * 24 + 64);
    if (cs_exec_reserve(x, hint, 2 * hint) != 0 ||
        !push_info(&B, hint - 1, CS_OP_END, -1, -1))
        goto done;
    w->count = 0;
    if (B.m->moe.num_experts > 0)
        for (long i = 0; i < B.m->num_layers; i++)
            cs_routing_popularity(B.t, B.m->moe.num_experts, B.rng, B.prob + i * B.m->moe.num_experts);
    for (long stage = 0; stage < z->pp && !B.failed; stage++)
        build_stage(&B, stage, passes);
    for (long stage = 0; stage < z->pp && !B.failed; stage++) {
        B.stage = stage;
        for (long local = 0; local < B.per_stage; local++) {
            long tp = local % z->tp, ep = local / z->tp % z->ep, dp = local / (z->tp * z->ep);
            B.gpu_of[local] = coord_rank(&B, tp, ep, dp, stage);
        }
        long count = cs_schedule_passes(z->schedule, z->pp, B.chunks, z->microbatches, stage, passes);
        pipeline_links(&B, passes, count, stage);
    }
    rc = B.failed ? -1 : 0;
done:
    free(passes);
    free_builder(&B);
    return rc;
}

void cs_workload_free(cs_workload *w)
{
    for (long i = 0; i < w->tables; i++)
        free(w->pair_tables[i]);
    free(w->pair_tables);
    free(w->info);
    free(w->static_mem);
    memset(w, 0, sizeof *w);
}
