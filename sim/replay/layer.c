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
    }
}

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
}

static double span_s(const cs_block_cost *c, cs_kernel_slot first, cs_kernel_slot last)
{
    double sum = 0;
    for (int s = first; s <= (int)last; s++)
        sum += c->s[s];
    return sum;
}

static double span_flops(const cs_block_cost *c, cs_kernel_slot first, cs_kernel_slot last)
{
    double sum = 0;
    for (int s = first; s <= (int)last; s++)
        sum += c->flops[s];
    return sum;
}

/* One compute op on every GPU of the stage (its carry included), of slots
 * [first, last] of c; mem as cs_build_compute's. A layer's weight-gradient
 * ops are recorded for the gradient buckets (grads.c), and so are those of
 * the embedding and output layer in `edge` when not NULL. */
static void edge_ops(cs_builder *B, const cs_block_cost *c, cs_kernel_slot first,
                     cs_kernel_slot last, cs_op_class k, long mb, long layer, double mem_begin,
                     double mem_end, long *edge)
{
    double seconds = span_s(c, first, last), flops = span_flops(c, first, last);
    if (seconds <= 0 && mem_begin == 0 && mem_end == 0)
        return;
    for (long local = 0; local < B->per_stage; local++) {
        long id =
            cs_build_compute(B, B->gpu_of[local], k, mb, layer, seconds, flops, mem_begin, mem_end);
        if (k == CS_OP_BACKWARD_WEIGHT && layer >= 0 && id >= 0)
            B->last_w[local * B->layers_per_chunk * B->chunks + cs_build_layer_in_stage(B, layer)] =
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

static void carry(cs_builder *B, const cs_block_cost *c, cs_kernel_slot slot, cs_op_class k,
                  long mb, long layer)
{
    cs_build_carry(B, -1, k, mb, layer, c->s[slot], c->flops[slot]);
}

/* ---- tensor-parallel communication ----------------------------------------------- */

/* One collective per TP group of the stage, `bytes` each. */
static void tp_comm(cs_builder *B, cs_coll_op op, long mb, long layer, double bytes, int async)
{
    if (B->z->tp <= 1)
        return;
    for (long dp = 0; dp < B->z->dp; dp++)
        for (long ep = 0; ep < B->z->ep; ep++) {
            long n = cs_build_tp_members(B, ep, dp, B->members);
            if (async)
                cs_build_collective_async(B, B->members, n, op, CS_STREAM_TP, CS_OP_TP, mb, layer,
                                          bytes);
            else
                cs_build_collective(B, B->members, n, op, CS_STREAM_TP, CS_OP_TP, mb, layer, bytes,
                                    NULL);
        }
}

/* The reduction after a block: reduce-scatter with sequence parallelism,
 * else all-reduce. */
static cs_coll_op reduction(const cs_builder *B)
{
    return B->sh.sp ? CS_COLL_REDUCE_SCATTER : CS_COLL_ALL_REDUCE;
}

static int overlapped(const cs_builder *B) { return B->z->tp > 1 && B->t->tp_comm_overlap; }

/* ---- a block, forward and backward --------------------------------------------------- */

static void block_forward(cs_builder *B, const cs_block_cost *c, cs_op_class k, long mb, long layer,
                          double mem)
{
    double act = DT * B->sh.T * B->sh.h;
    carry(B, c, CS_SLOT_PRE, k, mb, layer);
    if (overlapped(B)) { /* userbuffers: AG beside the column GEMM, RS beside the row GEMM */
        tp_comm(B, CS_COLL_ALL_GATHER, mb, layer, act, 1);
        ops(B, c, CS_SLOT_IN, CS_SLOT_IN, k, mb, layer, mem, 0);
        cs_build_release(B, 0);
        ops(B, c, CS_SLOT_CORE, CS_SLOT_CORE, k, mb, layer, 0, 0);
        tp_comm(B, CS_COLL_REDUCE_SCATTER, mb, layer, act, 1);
        ops(B, c, CS_SLOT_OUT, CS_SLOT_OUT, k, mb, layer, 0, 0);
        cs_build_release(B, 0);
    } else {
        if (B->sh.sp)
            tp_comm(B, CS_COLL_ALL_GATHER, mb, layer, act, 0);
        ops(B, c, CS_SLOT_IN, CS_SLOT_OUT, k, mb, layer, mem, 0);
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
    int ov = overlapped(B), sp = B->sh.sp, tp = B->z->tp > 1;
    carry(B, c, CS_SLOT_POST_B, CS_OP_BACKWARD_INPUT, mb, layer);
    /* The gradient of the block's reduce-scatter is an all-gather (of an
     * all-reduce, nothing); userbuffers run it beside the row GEMM's dgrad. */
    if (sp)
        tp_comm(B, CS_COLL_ALL_GATHER, mb, layer, act, ov);
    ops(B, c, CS_SLOT_OUT_B, CS_SLOT_OUT_B, CS_OP_BACKWARD_INPUT, mb, layer, 0, 0);
    if (sp && ov)
        cs_build_release(B, 1);
    ops(B, c, CS_SLOT_RECOMPUTE, CS_SLOT_RECOMPUTE, CS_OP_RECOMPUTE, mb, layer, recomputed, 0);
    /* The column GEMM's backward: the saved input shard gathered again for
     * its wgrad, launched beside its dgrad (when the wgrads are deferred, as
     * ZB-H1 defers them, the gathered input is kept for them, as the
     * zero-bubble implementation's WeightGradStore does). */
    if (sp) {
        ops(B, c, CS_SLOT_CORE_B, CS_SLOT_CORE_B, CS_OP_BACKWARD_INPUT, mb, layer, 0, 0);
        tp_comm(B, CS_COLL_ALL_GATHER, mb, layer, act, 1);
        ops(B, c, CS_SLOT_IN_B, CS_SLOT_IN_B, CS_OP_BACKWARD_INPUT, mb, layer, 0,
            free_b - recomputed);
    } else {
        ops(B, c, CS_SLOT_CORE_B, CS_SLOT_IN_B, CS_OP_BACKWARD_INPUT, mb, layer, 0,
            free_b - recomputed);
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

void cs_layer_forward(cs_builder *B, long mb, long layer, cs_op_class k)
{
    double mem =
        k == CS_OP_RECOMPUTE ? layer_full(B, layer) - layer_keep(B, layer) : layer_keep(B, layer);
    block_forward(B, &B->attn_f, k, mb, layer, mem);
    if (!cs_build_is_moe(B, layer))
        block_forward(B, &B->mlp_f, k, mb, layer, 0);
    else
        cs_moe_forward(B, mb, layer, k);
}

/* Bytes of a layer's activations that deferred weight gradients still need
 * after B: the inputs of its GEMMs, at most what B held (all of the rebuilt
 * forward under full recompute); with sequence parallelism the gathered
 * inputs, kept for them whatever B held. */
static double layer_w_part(const cs_builder *B, long layer)
{
    const cs_shape *sh = &B->sh;
    double width = cs_build_is_moe(B, layer) ? sh->ffn_e * sh->topk : sh->ffn;
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
    double scores = B->z->recompute == CS_RECOMPUTE_SELECTIVE
                        ? cs_memory_attention_scores(B->m, B->t, B->z)
                        : 0;
    if (full)
        cs_layer_forward(B, mb, layer, CS_OP_RECOMPUTE);
    if (!cs_build_is_moe(B, layer))
        block_backward(B, &B->mlp_b, with_w, mb, layer, 0, 0, 0);
    else
        cs_moe_backward(B, mb, layer, with_w);
    block_backward(B, &B->attn_b, with_w, mb, layer, scores, free_b, with_w ? -total : 0);
}

/* The wgrads of one block in the weight-gradient pass (zb-h1), on inputs
 * gathered during the backward. */
static void block_weight(cs_builder *B, const cs_block_cost *c, long mb, long layer, double mem)
{
    ops(B, c, CS_SLOT_OUT_W, CS_SLOT_IN_W, CS_OP_BACKWARD_WEIGHT, mb, layer, 0, mem);
}

void cs_layer_weight(cs_builder *B, long mb, long layer)
{
    if (!cs_build_is_moe(B, layer))
        block_weight(B, &B->mlp_b, mb, layer, 0);
    else
        cs_moe_weight(B, mb, layer);
    block_weight(B, &B->attn_b, mb, layer, -layer_w_part(B, layer));
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
