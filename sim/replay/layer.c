/* layer: a transformer layer as Megatron-LM runs it on the GPUs of a stage:
 * the kernels of model/kernels.c gathered into ops between the points where
 * tensor-parallel communication sits, and that communication placed and
 * overlapped as Megatron does (docs/model.md, "Kernels" and "Overlap");
 * also the embedding and the output layer. A MoE layer's MLP half is moe.c's.
 *
 * Per block (attention, dense MLP), forward:
 *   norm | [TP all-gather] | column GEMM .. row GEMM | TP reduce-scatter or
 *   all-reduce | bias-dropout-add
 * with tp_comm_overlap (userbuffers) the gather runs alongside the column
 * GEMM and the reduce-scatter alongside the row GEMM. Backward:
 *   bda backward | [all-gather of the gradient] | dgrads (selective
 *   recompute's core-attention forward booked as recompute) | async
 *   reduce-scatter / all-reduce of the input gradient, overlapped with the
 *   wgrads | norm backward and residual-gradient add
 * and with sequence parallelism the saved input shard is all-gathered again,
 * asynchronously, for the wgrads (LinearWithGradAccumulationAndAsync-
 * Communication). */
#include "replay/build.h"

#include "model/memory.h"

static void block_cost(cs_builder *B, const cs_kernel_list *l, cs_block_cost *out)
{
    for (int s = 0; s < CS_SLOTS; s++) {
        out->s[s] = cs_cost_slot(&B->cost, l, (cs_kernel_slot)s);
        out->flops[s] = cs_kernels_flops(l, (cs_kernel_slot)s);
        out->n[s] = cs_kernels_launches(l, (cs_kernel_slot)s);
        out->ops[s] = cs_kernels_host_ops(l, (cs_kernel_slot)s);
    }
}

/* The BF16 layers' attention and dense-MLP blocks. (A MoE layer's experts
 * are priced by moe.c with the FP8 layers' options.) */
static void bf16_costs(cs_builder *B)
{
    cs_kernel_opts f = B->fwd, b = B->bwd;
    cs_kernel_list l;
    f.bf16 = b.bf16 = 1;
    cs_kernels_attention(&B->sh, &f, &l);
    block_cost(B, &l, &B->bf16_attn_f);
    cs_kernels_attention(&B->sh, &b, &l);
    block_cost(B, &l, &B->bf16_attn_b);
    cs_kernels_mlp(&B->sh, &f, B->sh.T, B->sh.ffn, B->sh.t, 1, 1, &l);
    block_cost(B, &l, &B->bf16_mlp_f);
    cs_kernels_mlp(&B->sh, &b, B->sh.T, B->sh.ffn, B->sh.t, 1, 1, &l);
    block_cost(B, &l, &B->bf16_mlp_b);
}

static void window_costs(cs_builder *B);

void cs_layer_costs(cs_builder *B)
{
    const cs_shape *sh = &B->sh;
    cs_kernel_list l;
    cs_kernels_attention(sh, &B->fwd, &l);
    block_cost(B, &l, &B->attn_f);
    cs_kernels_attention(sh, &B->bwd, &l);
    block_cost(B, &l, &B->attn_b);
    cs_kernels_mlp(sh, &B->fwd, sh->T, sh->ffn, sh->t, 1, 1, &l);
    block_cost(B, &l, &B->mlp_f);
    cs_kernels_mlp(sh, &B->bwd, sh->T, sh->ffn, sh->t, 1, 1, &l);
    block_cost(B, &l, &B->mlp_b);
    cs_kernels_moe_edges(sh, &B->fwd, &l);
    block_cost(B, &l, &B->edges_f);
    cs_kernels_moe_edges(sh, &B->bwd, &l);
    block_cost(B, &l, &B->edges_b);
    cs_kernels_output(sh, &B->fwd, &l);
    block_cost(B, &l, &B->out_f);
    cs_kernels_output(sh, &B->bwd, &l);
    block_cost(B, &l, &B->out_b);
    cs_kernels_embedding(sh, &B->fwd, B->m, &l);
    block_cost(B, &l, &B->emb_f);
    cs_kernels_embedding(sh, &B->bwd, B->m, &l);
    block_cost(B, &l, &B->emb_b);
    if (B->t->precision == CS_FP8 && B->t->first_last_layers_bf16)
        bf16_costs(B);
    window_costs(B);
}

/* Whether `layer` is one an FP8 run keeps in BF16. */
static int layer_bf16(const cs_builder *B, long layer)
{
    return B->t->precision == CS_FP8 && !cs_training_layer_fp8(B->t, B->m->num_layers, layer);
}

static const cs_block_cost *attn_cost(const cs_builder *B, long layer, int backward)
{
    int bf16 = layer_bf16(B, layer);
    if (cs_model_layer_window(B->m, layer) > 0)
        return backward ? &B->window_attn_b[bf16] : &B->window_attn_f[bf16];
    if (bf16)
        return backward ? &B->bf16_attn_b : &B->bf16_attn_f;
    return backward ? &B->attn_b : &B->attn_f;
}

/* The sliding-window layers' attention, each precision (window_size's
 * layers all have the same window). */
static void window_costs(cs_builder *B)
{
    if (B->m->window_size < 0)
        return;
    cs_kernel_list l;
    for (int bf16 = 0; bf16 < 2; bf16++) {
        cs_kernel_opts f = B->fwd, b = B->bwd;
        f.bf16 = b.bf16 = bf16;
        f.window = b.window = (double)(B->m->window_size + 1);
        cs_kernels_attention(&B->sh, &f, &l);
        block_cost(B, &l, &B->window_attn_f[bf16]);
        cs_kernels_attention(&B->sh, &b, &l);
        block_cost(B, &l, &B->window_attn_b[bf16]);
    }
}

static const cs_block_cost *mlp_cost(const cs_builder *B, long layer, int backward)
{
    if (layer_bf16(B, layer))
        return backward ? &B->bf16_mlp_b : &B->bf16_mlp_f;
    return backward ? &B->mlp_b : &B->mlp_f;
}

/* Slots [first, last] of c as one op's work. */
static cs_work span(const cs_block_cost *c, cs_kernel_slot first, cs_kernel_slot last)
{
    cs_work w = {0, 0, 0, 0};
    for (int s = first; s <= (int)last; s++) {
        w.seconds += c->s[s];
        w.launches += c->n[s];
        w.flops += c->flops[s];
        w.ops += c->ops[s];
    }
    return w;
}

/* One compute op on every GPU of the stage (its carry included), of slots
 * [first, last] of c; mem as cs_build_compute's. A layer's weight-gradient
 * ops are recorded for the gradient buckets (grads.c), and so are those of
 * the embedding and output layer in `edge` when not NULL. */
static void edge_ops(cs_builder *B, const cs_block_cost *c, cs_kernel_slot first,
                     cs_kernel_slot last, cs_op_class k, long mb, long layer, double mem_begin,
                     double mem_end, long *edge)
{
    cs_work w = span(c, first, last);
    if (w.seconds <= 0 && mem_begin == 0 && mem_end == 0)
        return;
    for (long local = 0; local < B->locals; local++) {
        long id = cs_build_compute(B, B->gpu_of[local], k, mb, layer, w, mem_begin, mem_end);
        if (k == CS_OP_BACKWARD_WEIGHT && layer >= 0 && id >= 0)
            B->last_w[local * B->Ls + cs_build_layer_in_stage(B, layer)] =
                id;
        if (edge && id >= 0)
            edge[local] = id;
    }
}

static void ops(cs_builder *B, const cs_block_cost *c, cs_kernel_slot first, cs_kernel_slot last,
                cs_op_class k, long mb, long layer, double mem_begin, double mem_end)
{
    edge_ops(B, c, first, last, k, mb, layer, mem_begin, mem_end, NULL);
}

/* One compute op per live GPU of the stage doing w, booking mem_begin and
 * mem_end as cs_build_compute's. */
static void work_ops(cs_builder *B, cs_work w, cs_op_class k, long mb, long layer,
                     double mem_begin, double mem_end)
{
    if (w.seconds <= 0 && mem_begin == 0 && mem_end == 0)
        return;
    for (long local = 0; local < B->locals; local++)
        cs_build_compute(B, B->gpu_of[local], k, mb, layer, w, mem_begin, mem_end);
}

static void carry(cs_builder *B, const cs_block_cost *c, cs_kernel_slot slot, cs_op_class k,
                  long mb, long layer)
{
    cs_build_carry(B, -1, k, mb, layer, span(c, slot, slot));
}

/* ---- tensor-parallel communication ----------------------------------------------- */

static long dense_tp_group(cs_builder *B, long g, long *out)
{
    return cs_build_group(B, CS_DENSE, CS_DIM_TP, g, out);
}

/* One collective per group along `dim` (TP, CP) of the stage's dense
 * decomposition, `bytes` each, on the TP stream (the attention's own), booked
 * as class k; the next op waits for it, or with `async` only after
 * cs_build_release(). */
static void dense_comm(cs_builder *B, cs_dim dim, cs_group_fn fn, int site, cs_op_class k,
                       cs_coll_op op, long mb, long layer, double bytes, int async)
{
    long groups = cs_build_copies(B, fn, cs_place_groups(B->z, CS_DENSE, dim), site, 0, op,
                                  bytes, NULL);
    for (long g = 0; g < groups; g++) {
        long n = cs_build_group(B, CS_DENSE, dim, g, B->members);
        if (async)
            cs_build_collective_async(B, B->members, n, op, CS_STREAM_TP, k, mb, layer, bytes);
        else
            cs_build_collective(B, B->members, n, op, CS_STREAM_TP, k, mb, layer, bytes, NULL);
    }
}

/* One collective per TP group of the stage, `bytes` each. */
static void tp_comm(cs_builder *B, cs_coll_op op, long mb, long layer, double bytes, int async)
{
    if (B->z->tp > 1)
        dense_comm(B, CS_DIM_TP, dense_tp_group, CS_SITE_DENSE_TP, CS_OP_TP, op, mb, layer, bytes,
                   async);
}

/* The reduction after a block: reduce-scatter with sequence parallelism,
 * else all-reduce. */
static cs_coll_op reduction(const cs_builder *B)
{
    return B->sh.sp ? CS_COLL_REDUCE_SCATTER : CS_COLL_ALL_REDUCE;
}

static int overlapped(const cs_builder *B) { return B->z->tp > 1 && B->t->tp_comm_overlap; }

/* ---- context parallelism ------------------------------------------------------------ */

static long dense_cp_group(cs_builder *B, long g, long *out)
{
    return cs_build_group(B, CS_DENSE, CS_DIM_CP, g, out);
}

/* One collective per CP group of the stage (booked as cp). */
static void cp_comm(cs_builder *B, cs_coll_op op, long mb, long layer, double bytes, int async)
{
    dense_comm(B, CS_DIM_CP, dense_cp_group, CS_SITE_DENSE_CP, CS_OP_CP, op, mb, layer, bytes,
               async);
}

/* Whether slot ATTN / ATTN_B of block c is core attention that context
 * parallelism runs between its exchanges. */
static int cp_block(const cs_builder *B, const cs_block_cost *c)
{
    return B->z->cp > 1 && (c->n[CS_SLOT_ATTN] > 0 || c->n[CS_SLOT_ATTN_B] > 0);
}

static cs_work work_part(cs_work w, double share)
{
    return (cs_work){w.seconds * share, w.launches * share, w.flops * share, w.ops * share};
}

/* The core attention of slot `slot` (forward, its recompute, or backward)
 * with its context-parallel exchange over each CP group, as Transformer
 * Engine's attention runs it (context_parallel.py):
 *   p2p        cp steps; each step's send/receive of a K/V block to the
 *              next rank of the ring is issued before the step's kernel
 *              and overlaps it, the next step waiting for it. Forward
 *              sends K/V at each step but the last; backward sends K/V at
 *              the first step, K/V and the dK/dV accumulated so far in
 *              between, dK/dV at the last (2 (cp - 1) blocks in all).
 *   a2a        an all-to-all of Q, K, V before the kernel and of the output
 *              after it, blocking (backward: the output's gradient, then
 *              dQ, dK, dV).
 *   allgather  the K/V all-gathered before the kernel (backward again,
 *              and the dK/dV reduce-scattered after it).
 * Sizes are nccl-tests': the rank's buffer for all-to-all, the total for
 * all-gather and reduce-scatter, the message for send/receive. */
static void cp_attention(cs_builder *B, const cs_block_cost *c, cs_kernel_slot slot, cs_op_class k,
                         long mb, long layer, int backward)
{
    const cs_shape *sh = &B->sh;
    cs_work w = span(c, slot, slot);
    double kv = cs_kernels_cp_kv_bytes(sh), cp = sh->cp;
    double q = DT * sh->T * sh->q / sh->t, o = DT * sh->T * (sh->mla ? sh->kv : sh->q) / sh->t;
    /* The exchange's buffers live from the first step to the last
     * (cs_memory_cp_buffers()). */
    if (sh->cp_comm == CS_CP_P2P) {
        long steps = B->z->cp;
        double held = backward ? 4 * kv : (cp - 1) * kv;
        for (long i = 0; i < steps; i++) {
            double bytes = !backward ? (i < steps - 1 ? kv : 0)
                                     : (i == 0 || i == steps - 1 ? kv : 2 * kv);
            if (bytes > 0)
                cp_comm(B, CS_COLL_SENDRECV, mb, layer, bytes, 1);
            work_ops(B, work_part(w, 1.0 / cp), k, mb, layer, i == 0 ? held : 0,
                     i == steps - 1 ? -held : 0);
            if (bytes > 0)
                cs_build_release(B, 0);
        }
        return;
    }
    if (sh->cp_comm == CS_CP_A2A) {
        cp_comm(B, CS_COLL_ALLTOALL, mb, layer, backward ? o : q + kv, 0);
        work_ops(B, w, k, mb, layer, 0, 0);
        cp_comm(B, CS_COLL_ALLTOALL, mb, layer, backward ? q + kv : o, 0);
        return;
    }
    double held = (backward ? 2 : 1) * cp * kv;
    cp_comm(B, CS_COLL_ALL_GATHER, mb, layer, cp * kv, 0);
    work_ops(B, w, k, mb, layer, held, -held);
    if (backward)
        cp_comm(B, CS_COLL_REDUCE_SCATTER, mb, layer, cp * kv, 0);
}

/* ---- a block, forward and backward --------------------------------------------------- */

/* Bytes of the sequence-parallel all-gather of a block's input (forward, and
 * again for the wgrads): FP8 data, 1 byte per element, in an FP8 layer with
 * a per-tensor recipe (Transformer Engine gathers the FP8 cast of the shard;
 * kernels.c), else 16-bit. */
static double input_gather_bytes(const cs_builder *B, long layer)
{
    int fp8 = cs_training_layer_fp8(B->t, B->m->num_layers, layer) &&
              (B->t->fp8_recipe == CS_FP8_DELAYED || B->t->fp8_recipe == CS_FP8_TENSORWISE);
    return (fp8 ? 1.0 : DT) * B->sh.T * B->sh.h;
}

static void block_forward(cs_builder *B, const cs_block_cost *c, cs_op_class k, long mb, long layer,
                          double mem)
{
    double act = DT * B->sh.T * B->sh.h, in = input_gather_bytes(B, layer);
    int cp = cp_block(B, c);
    carry(B, c, CS_SLOT_PRE, k, mb, layer);
    if (overlapped(B)) { /* userbuffers: AG beside the column GEMM, RS beside the row GEMM */
        tp_comm(B, CS_COLL_ALL_GATHER, mb, layer, in, 1);
        ops(B, c, CS_SLOT_IN, CS_SLOT_IN, k, mb, layer, mem, 0);
        cs_build_release(B, 0);
        if (cp) {
            ops(B, c, CS_SLOT_CORE, CS_SLOT_CORE, k, mb, layer, 0, 0);
            cp_attention(B, c, CS_SLOT_ATTN, k, mb, layer, 0);
        } else {
            ops(B, c, CS_SLOT_CORE, CS_SLOT_ATTN, k, mb, layer, 0, 0);
        }
        tp_comm(B, CS_COLL_REDUCE_SCATTER, mb, layer, act, 1);
        ops(B, c, CS_SLOT_OUT, CS_SLOT_OUT, k, mb, layer, 0, 0);
        cs_build_release(B, 0);
    } else {
        if (B->sh.sp)
            tp_comm(B, CS_COLL_ALL_GATHER, mb, layer, in, 0);
        if (cp) {
            ops(B, c, CS_SLOT_IN, CS_SLOT_CORE, k, mb, layer, mem, 0);
            cp_attention(B, c, CS_SLOT_ATTN, k, mb, layer, 0);
            ops(B, c, CS_SLOT_OUT, CS_SLOT_OUT, k, mb, layer, 0, 0);
        } else {
            ops(B, c, CS_SLOT_IN, CS_SLOT_OUT, k, mb, layer, mem, 0);
        }
        tp_comm(B, reduction(B), mb, layer, act, 0);
    }
    carry(B, c, CS_SLOT_POST, k, mb, layer);
}

/* `recomputed`: bytes the recompute slot allocates until the core backward
 * ends (the s x s scores selective recompute rebuilds); free_b and free_w:
 * what the input- and weight-gradient ops free at their end. */
static void block_backward(cs_builder *B, const cs_block_cost *c, int with_w, long mb, long layer,
                           double recomputed, double free_b, double free_w)
{
    double act = DT * B->sh.T * B->sh.h;
    int ov = overlapped(B), sp = B->sh.sp, tp = B->z->tp > 1, cp = cp_block(B, c);
    carry(B, c, CS_SLOT_POST_B, CS_OP_BACKWARD_INPUT, mb, layer);
    /* The gradient of the block's reduce-scatter is an all-gather (of an
     * all-reduce, nothing); userbuffers run it beside the row GEMM's dgrad. */
    if (sp)
        tp_comm(B, CS_COLL_ALL_GATHER, mb, layer, act, ov);
    ops(B, c, CS_SLOT_OUT_B, CS_SLOT_OUT_B, CS_OP_BACKWARD_INPUT, mb, layer, 0, 0);
    if (sp && ov)
        cs_build_release(B, 1);
    if (cp && cs_recomputes(B->z->recompute, B->t, CS_RC_CORE_ATTN))
        cp_attention(B, c, CS_SLOT_RECOMPUTE, CS_OP_RECOMPUTE, mb, layer, 0);
    else
        ops(B, c, CS_SLOT_RECOMPUTE, CS_SLOT_RECOMPUTE, CS_OP_RECOMPUTE, mb, layer, recomputed, 0);
    if (cp)
        cp_attention(B, c, CS_SLOT_ATTN_B, CS_OP_BACKWARD_INPUT, mb, layer, 1);
    cs_kernel_slot core = cp ? CS_SLOT_CORE_B : CS_SLOT_ATTN_B;
    /* The column GEMM's backward: the saved input shard gathered again for
     * its wgrad, launched beside its dgrad (when the wgrads are deferred, as
     * ZB-H1 defers them, the gathered input is kept for them, as the
     * zero-bubble implementation's WeightGradStore does). */
    if (sp) {
        ops(B, c, core, CS_SLOT_CORE_B, CS_OP_BACKWARD_INPUT, mb, layer, 0, 0);
        tp_comm(B, CS_COLL_ALL_GATHER, mb, layer, input_gather_bytes(B, layer), 1);
        ops(B, c, CS_SLOT_IN_B, CS_SLOT_IN_B, CS_OP_BACKWARD_INPUT, mb, layer, 0,
            free_b - recomputed);
    } else {
        ops(B, c, core, CS_SLOT_IN_B, CS_OP_BACKWARD_INPUT, mb, layer, 0, free_b - recomputed);
    }
    if (tp)
        tp_comm(B, reduction(B), mb, layer, act, 1);
    if (with_w) {
        if (sp)
            cs_build_release(B, 1); /* the wgrads wait for the gathered input */
        ops(B, c, CS_SLOT_OUT_W, CS_SLOT_IN_W, CS_OP_BACKWARD_WEIGHT, mb, layer, 0, free_w);
    }
    cs_build_release(B, 0); /* the norm backward waits for the input gradient */
    carry(B, c, CS_SLOT_PRE_B, CS_OP_BACKWARD_INPUT, mb, layer);
}

/* ---- FP8 delayed scaling ------------------------------------------------------------ */

/* Delayed scaling (Transformer Engine's DelayedScaling, the recipe Megatron
 * wraps around a whole chunk's layers: transformer_block.py's outer
 * quantization context) all-reduces the amaxes of every FP8 tensor of the
 * chunk when the autocast ends (forward: input, weight and output of each
 * GEMM) and when the backward of the chunk ends (the output and input
 * gradients), blocking, over Megatron's amax reduction group: TP x DP (x CP),
 * every GPU of the stage (parallel_state.get_amax_reduction_group; not
 * modelled: tp_only_amax_red). Bytes: 4 per amax, 4 linear GEMMs per layer
 * (a MoE layer's per-expert amaxes are left out: kilobytes either way). */
static void amax_reduction(cs_builder *B, long mb, long layer, long layers, int per_gemm)
{
    if (B->t->precision != CS_FP8 || B->t->fp8_recipe != CS_FP8_DELAYED || B->per_stage < 2)
        return;
    double bytes = 4.0 * per_gemm * 4.0 * (double)layers;
    cs_build_collective(B, B->gpu_of, B->per_stage, CS_COLL_ALL_REDUCE, CS_STREAM_TP, CS_OP_TP, mb,
                        layer, bytes, NULL);
}

/* The chunk of the stage holding global layer `layer` (chunks are runs of
 * consecutive layers). */
static long chunk_of(const cs_builder *B, long layer)
{
    for (long c = 0; c < B->chunks; c++)
        if (layer >= B->chunk_first[c] && layer < B->chunk_first[c] + B->chunk_count[c])
            return c;
    return 0;
}

/* A block's forward and backward for moe.c (its shared experts: a dense
 * MLP with the same TP communication), and the TP groups' collectives. */
void cs_layer_block_cost(cs_builder *B, const cs_kernel_list *l, cs_block_cost *out)
{
    block_cost(B, l, out);
}

void cs_layer_block_forward(cs_builder *B, const cs_block_cost *c, cs_op_class k, long mb,
                            long layer)
{
    block_forward(B, c, k, mb, layer, 0);
}

void cs_layer_block_backward(cs_builder *B, const cs_block_cost *c, int with_w, long mb, long layer)
{
    block_backward(B, c, with_w, mb, layer, 0, 0, 0);
}

void cs_layer_tp_comm(cs_builder *B, cs_coll_op op, long mb, long layer, double bytes, int async)
{
    tp_comm(B, op, mb, layer, bytes, async);
}

/* ---- whole layers ------------------------------------------------------------------ */

/* Activation bytes a layer keeps from its forward to its backward, and what
 * its forward holds in full (what a full recompute rebuilds). */
static double layer_keep(const cs_builder *B, long layer)
{
    return cs_memory_layer_activations(B->m, B->t, B->z, layer);
}

static double layer_full(const cs_builder *B, long layer)
{
    cs_layout_sizes z = *B->z;
    z.recompute = CS_RECOMPUTE_NONE;
    return cs_memory_layer_activations(B->m, B->t, &z, layer);
}

/* The quantization of a FP8 layer's weights to their FP8 copy and
 * transpose, in the first micro-batch's forward only: Megatron passes
 * is_first_microbatch to Transformer Engine, which caches the copies for
 * the other micro-batches (extensions/transformer_engine.py); bytes per
 * weight: cs_kernels_fp8_weight_bytes(). Run before the layer's first op. */
static void weight_casts(cs_builder *B, cs_op_class k, long mb, long layer)
{
    double dense, expert;
    cs_memory_layer_fp8_params(B->m, B->t, layer, &dense, &expert);
    double per_gpu = dense / (double)B->z->tp + expert / (double)(B->z->ep * B->z->etp);
    if (per_gpu <= 0)
        return;
    /* Launches: one cast per weight of a dense layer's four linears (the
     * experts' add one per local expert and linear). */
    double weights = 4 + (cs_build_is_moe(B, layer) ? 2.0 * (double)B->z->experts_per_gpu : 0);
    cs_work w = {cs_build_memory_op(B, cs_kernels_fp8_weight_bytes(B->t) * per_gpu), weights, 0, 0};
    cs_build_carry(B, -1, k, mb, layer, w);
}

/* ---- multi-token prediction --------------------------------------------------------- */

/* MTP depth d is global layer num_layers + d, on the last virtual stage
 * (cs_layout_chunk_layers()). As Megatron's MultiTokenPredictionLayer runs
 * it: the shifted tokens' embedding, enorm and hnorm over the rank's tokens,
 * eh_proj ([T, 2h] x [2h, h/t], column-parallel: with sequence parallelism
 * its input gathered first, its output gathered back over TP), the
 * transformer layer, then the shared output layer and its loss. */
static int is_mtp(const cs_builder *B, long layer) { return layer >= B->m->num_layers; }

/* Bytes the two norms move over the rank's tokens, forward or backward. */
static double mtp_norm_bytes(const cs_builder *B, int backward)
{
    const cs_shape *sh = &B->sh;
    double tokens = sh->sp ? sh->T / sh->t : sh->T;
    return (backward ? 6.0 : 4.0) * DT * tokens * sh->h;
}

/* What a depth keeps for its backward: the norms' inputs and eh_proj's
 * [T, 2h] input, the rank's shard with sequence parallelism (gathered
 * again for the wgrad, as Megatron's column-parallel linear does). */
static double mtp_saved(const cs_builder *B)
{
    const cs_shape *sh = &B->sh;
    return DT * (sh->sp ? sh->T / sh->t : sh->T) * 4 * sh->h;
}

/* One compute op per GPU of the stage, booking `mem` (> 0 at its start, < 0
 * freed at its end); a weight gradient is recorded for the buckets. */
static void mtp_op(cs_builder *B, cs_op_class k, long mb, long layer, double seconds,
                   double flops, double mem)
{
    cs_work w = {seconds, 1, flops, 0}; /* one GEMM */
    for (long local = 0; local < B->locals; local++) {
        long id = cs_build_compute(B, B->gpu_of[local], k, mb, layer, w, mem > 0 ? mem : 0,
                                   mem < 0 ? mem : 0);
        if (k == CS_OP_BACKWARD_WEIGHT && id >= 0)
            B->last_w[local * B->Ls + cs_build_layer_in_stage(B, layer)] = id;
    }
}

/* Forward, or its rerun under full recompute (Megatron checkpoints
 * _proj_and_transformer_layer: norms, eh_proj and the layer, not the
 * embedding). */
static void mtp_forward(cs_builder *B, long mb, long layer, cs_op_class k)
{
    const cs_shape *sh = &B->sh;
    if (k == CS_OP_FORWARD)
        cs_embedding_forward(B, mb);
    cs_build_carry(B, -1, k, mb, layer,
                   (cs_work){cs_build_memory_op(B, mtp_norm_bytes(B, 0)), 2, 0, 0}); /* 2 norms */
    if (sh->sp)
        tp_comm(B, CS_COLL_ALL_GATHER, mb, layer, DT * sh->T * 2 * sh->h, 0);
    double flops = 2 * sh->T * 2 * sh->h * sh->h / sh->t;
    mtp_op(B, k, mb, layer, cs_build_gemm(B, sh->T, 2 * sh->h, sh->h / sh->t), flops,
           k == CS_OP_FORWARD ? mtp_saved(B) : 0);
    tp_comm(B, CS_COLL_ALL_GATHER, mb, layer, DT * sh->T * sh->h, 0);
}

/* Backward: with sequence parallelism the gradient gathered over the
 * sequence (the backward of the scatter after eh_proj's gather) and the
 * input gathered again; eh_proj's dgrad and wgrad, its input gradient
 * reduced over TP, the norms', then the embedding's (into the last
 * stage's copy). */
static void mtp_backward(cs_builder *B, long mb, long layer)
{
    const cs_shape *sh = &B->sh;
    double flops = 2 * sh->T * 2 * sh->h * sh->h / sh->t;
    if (sh->sp) {
        tp_comm(B, CS_COLL_ALL_GATHER, mb, layer, DT * sh->T * sh->h, 0);
        tp_comm(B, CS_COLL_ALL_GATHER, mb, layer, DT * sh->T * 2 * sh->h, 0);
    }
    mtp_op(B, CS_OP_BACKWARD_INPUT, mb, layer, cs_build_gemm(B, sh->T, sh->h / sh->t, 2 * sh->h),
           flops, 0);
    mtp_op(B, CS_OP_BACKWARD_WEIGHT, mb, layer, cs_build_gemm(B, 2 * sh->h, sh->T, sh->h / sh->t),
           flops, -mtp_saved(B));
    tp_comm(B, reduction(B), mb, layer, DT * sh->T * 2 * sh->h, 0);
    cs_build_carry(B, -1, CS_OP_BACKWARD_INPUT, mb, layer,
                   (cs_work){cs_build_memory_op(B, mtp_norm_bytes(B, 1)), 2, 0, 0});
    cs_embedding_backward(B, mb);
}

void cs_layer_forward(cs_builder *B, long mb, long layer, cs_op_class k)
{
    if (k == CS_OP_FORWARD)
        cs_grads_fsdp_gather(B, mb, layer, 0);
    if (is_mtp(B, layer))
        mtp_forward(B, mb, layer, k);
    /* The FP8 weights are cast once an iteration and kept; under ZeRO-3
     * from every gather, forward and backward, as none is kept
     * (Megatron-FSDP with keep_fp8_transpose_cache off). */
    int zero3 = cs_training_zero(B->t) >= 3;
    if (k == CS_OP_FORWARD && (mb == 0 || zero3))
        weight_casts(B, CS_OP_FORWARD, mb, layer);
    double mem =
        k == CS_OP_RECOMPUTE ? layer_full(B, layer) - layer_keep(B, layer) : layer_keep(B, layer);
    block_forward(B, attn_cost(B, layer, 0), k, mb, layer, mem);
    if (!cs_build_is_moe(B, layer))
        block_forward(B, mlp_cost(B, layer, 0), k, mb, layer, 0);
    else
        cs_moe_forward(B, mb, layer, k);
    if (is_mtp(B, layer) && k == CS_OP_FORWARD)
        cs_output_forward(B, mb); /* the depth's logits and loss */
    /* The autocast around a chunk's layers ends after its last one. */
    long c = chunk_of(B, layer);
    if (k == CS_OP_FORWARD && layer == B->chunk_first[c] + B->chunk_count[c] - 1)
        amax_reduction(B, mb, layer, B->chunk_count[c], 3);
}

/* Bytes of a layer's activations that deferred weight gradients still need
 * after B: the inputs of its GEMMs, at most what B held (all of the rebuilt
 * forward under full recompute); with sequence parallelism the gathered
 * inputs, kept for them whatever B held. */
static double layer_w_part(const cs_builder *B, long layer)
{
    const cs_shape *sh = &B->sh;
    double width = cs_build_is_moe(B, layer) ? sh->ffn_e * sh->topk : sh->ffn;
    /* moe recompute: the experts' inputs are rebuilt, held apart (moe.c) */
    if (cs_build_is_moe(B, layer) && cs_recomputes(B->z->recompute, B->t, CS_RC_MOE))
        width = 0;
    double part = DT * sh->T * (2 * sh->h + (sh->q + width) / sh->t);
    double held =
        B->z->recompute == CS_RECOMPUTE_FULL ? layer_full(B, layer) : layer_keep(B, layer);
    return sh->sp || part < held ? part : held;
}

void cs_layer_backward(cs_builder *B, long mb, long layer, int with_w)
{
    int full = B->z->recompute == CS_RECOMPUTE_FULL;
    double total = full ? layer_full(B, layer) : layer_keep(B, layer);
    double free_b = with_w ? 0 : -(total - layer_w_part(B, layer));
    double scores = cs_recomputes(B->z->recompute, B->t, CS_RC_CORE_ATTN)
                        ? cs_memory_attention_scores(B->m, B->t, B->z)
                        : 0;
    if (is_mtp(B, layer))
        cs_output_backward(B, mb, with_w);
    cs_grads_fsdp_gather(B, mb, layer, 1);
    if (cs_training_zero(B->t) >= 3)
        weight_casts(B, CS_OP_BACKWARD_INPUT, mb, layer);
    if (full)
        cs_layer_forward(B, mb, layer, CS_OP_RECOMPUTE);
    if (!cs_build_is_moe(B, layer))
        block_backward(B, mlp_cost(B, layer, 1), with_w, mb, layer, 0, 0, 0);
    else
        cs_moe_backward(B, mb, layer, with_w);
    block_backward(B, attn_cost(B, layer, 1), with_w, mb, layer, scores, free_b,
                   with_w ? -total : 0);
    /* The chunk's backward ends with its first layer's. */
    if (is_mtp(B, layer))
        mtp_backward(B, mb, layer);
    long c = chunk_of(B, layer);
    if (layer == B->chunk_first[c])
        amax_reduction(B, mb, layer, B->chunk_count[c], 2);
    if (with_w)
        cs_grads_fsdp_reduce(B, mb, layer);
}

/* The wgrads of one block in the weight-gradient pass (zb-h1), on inputs
 * gathered during the backward. */
static void block_weight(cs_builder *B, const cs_block_cost *c, long mb, long layer, double mem)
{
    ops(B, c, CS_SLOT_OUT_W, CS_SLOT_IN_W, CS_OP_BACKWARD_WEIGHT, mb, layer, 0, mem);
}

void cs_layer_weight(cs_builder *B, long mb, long layer)
{
    if (is_mtp(B, layer))
        cs_output_weight(B, mb); /* eh_proj's wgrad stays in B */
    if (!cs_build_is_moe(B, layer))
        block_weight(B, mlp_cost(B, layer, 1), mb, layer, 0);
    else
        cs_moe_weight(B, mb, layer);
    block_weight(B, attn_cost(B, layer, 1), mb, layer, -layer_w_part(B, layer));
    cs_grads_fsdp_reduce(B, mb, layer);
}

/* ---- embedding and output layer ------------------------------------------------ */

/* The token ids (8 bytes each, every TP rank holds them all) and the
 * embedding dropout's 1-byte mask over the rank's tokens. */
static double embedding_bytes(const cs_builder *B)
{
    const cs_shape *sh = &B->sh;
    return 8 * sh->T + (B->t->hidden_dropout > 0 ? sh->Tl * sh->h : 0);
}

static double output_bytes(const cs_builder *B)
{
    const cs_shape *sh = &B->sh;
    return 4 * sh->T * sh->h * (1 + sh->V / sh->h) / sh->t;
}

/* The lookup, then its TP reduction (reduce-scatter into the sequence-
 * parallel region, else all-reduce), then positions and dropout (carried
 * into the first layer). */
void cs_embedding_forward(cs_builder *B, long mb)
{
    if (B->sh.V <= 0)
        return;
    const cs_block_cost *c = &B->emb_f;
    ops(B, c, CS_SLOT_IN, CS_SLOT_IN, CS_OP_FORWARD, mb, -1, embedding_bytes(B), 0);
    tp_comm(B, reduction(B), mb, -1, DT * B->sh.T * B->sh.h, 0);
    carry(B, c, CS_SLOT_POST, CS_OP_FORWARD, mb, -1);
}

/* Dropout backward, the gradient's all-gather out of the sequence-parallel
 * region, then the scatter-add into the embedding's gradient. */
void cs_embedding_backward(cs_builder *B, long mb)
{
    if (B->sh.V <= 0)
        return;
    const cs_block_cost *c = &B->emb_b;
    carry(B, c, CS_SLOT_POST_B, CS_OP_BACKWARD_INPUT, mb, -1);
    if (B->sh.sp)
        tp_comm(B, CS_COLL_ALL_GATHER, mb, -1, DT * B->sh.T * B->sh.h, 0);
    edge_ops(B, c, CS_SLOT_IN_B, CS_SLOT_IN_B, CS_OP_BACKWARD_WEIGHT, mb, -1, 0,
             -embedding_bytes(B), B->embedding_w);
}

/* Final norm, [all-gather], logits and cross entropy, and the loss's TP
 * all-reduces of 4 T bytes (max, predicted logit, sum of exponentials). */
void cs_output_forward(cs_builder *B, long mb)
{
    if (B->sh.V <= 0)
        return;
    const cs_block_cost *c = &B->out_f;
    carry(B, c, CS_SLOT_PRE, CS_OP_FORWARD, mb, -1);
    if (B->sh.sp)
        tp_comm(B, CS_COLL_ALL_GATHER, mb, -1, DT * B->sh.T * B->sh.h, 0);
    ops(B, c, CS_SLOT_IN, CS_SLOT_CORE, CS_OP_FORWARD, mb, -1, output_bytes(B), 0);
    for (int i = 0; i < cs_kernels_loss_reductions(B->t); i++)
        tp_comm(B, CS_COLL_ALL_REDUCE, mb, -1, 4 * B->sh.T, 0);
}

/* Cross-entropy backward and the logits' dgrad, the input gradient's async
 * reduction beside the wgrad (with_w), then the final norm's backward. */
void cs_output_backward(cs_builder *B, long mb, int with_w)
{
    if (B->sh.V <= 0)
        return;
    const cs_block_cost *c = &B->out_b;
    double act = DT * B->sh.T * B->sh.h;
    int sp = B->sh.sp;
    if (sp) { /* the input gathered again beside the logits' dgrad */
        ops(B, c, CS_SLOT_CORE_B, CS_SLOT_CORE_B, CS_OP_BACKWARD_INPUT, mb, -1, 0, 0);
        tp_comm(B, CS_COLL_ALL_GATHER, mb, -1, act, 1);
        ops(B, c, CS_SLOT_IN_B, CS_SLOT_IN_B, CS_OP_BACKWARD_INPUT, mb, -1, 0, -output_bytes(B));
    } else {
        ops(B, c, CS_SLOT_CORE_B, CS_SLOT_IN_B, CS_OP_BACKWARD_INPUT, mb, -1, 0, -output_bytes(B));
    }
    tp_comm(B, reduction(B), mb, -1, act, 1);
    if (with_w) {
        if (sp)
            cs_build_release(B, 1);
        edge_ops(B, c, CS_SLOT_IN_W, CS_SLOT_IN_W, CS_OP_BACKWARD_WEIGHT, mb, -1, 0, 0,
                 B->output_w);
    }
    cs_build_release(B, 0);
    carry(B, c, CS_SLOT_PRE_B, CS_OP_BACKWARD_INPUT, mb, -1);
}

void cs_output_weight(cs_builder *B, long mb)
{
    if (B->sh.V <= 0)
        return;
    edge_ops(B, &B->out_b, CS_SLOT_OUT_W, CS_SLOT_IN_W, CS_OP_BACKWARD_WEIGHT, mb, -1, 0, 0,
             B->output_w);
}
