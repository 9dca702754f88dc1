/* layer: a dense transformer layer as Megatron-LM runs it on one GPU of a
 * stage (attention block, MLP block, their tensor-parallel communication)
 * and the embedding and output layers; a MoE layer's MLP half is moe.c's. */
#include "replay/build.h"

#include "model/memory.h"

/* Forward attention block of one layer: norm, QKV, core, projection, residual. */
static double attention_time(cs_builder *B, int pass, int recompute_core_only)
{
    const cs_shape *sh = &B->sh;
    double core_flops = 2 * sh->s * sh->s * sh->b * sh->q / sh->t; /* causal: half of 4 s^2 b q */
    double core_bytes = DT * sh->T * (2 * sh->q + 2 * sh->kv) / sh->t;
    double core = cs_cost_kernel(&B->cost, core_flops, core_bytes);
    if (recompute_core_only)
        return core;
    double qkv = cs_build_gemm(B, sh->T, sh->h, (sh->q + 2 * sh->kv) / sh->t);
    double proj = cs_build_gemm(B, sh->T, sh->q / sh->t, sh->h);
    double norm = cs_build_memory_op(B, 2 * DT * sh->Tl * sh->h),
           residual = cs_build_memory_op(B, 3 * DT * sh->Tl * sh->h);
    switch (pass) {
    case CS_PASS_F:
        return norm + qkv + core + proj + residual;
    case CS_PASS_B: /* dgrads, attention backward (twice the forward), elementwise */
        return qkv + proj + 2 * core + 2 * (norm + residual) -
               2 * B->cost.gpu->kernel_launch; /* the backward's elementwise ops fuse */
    default:                                   /* wgrads */
        return qkv + proj;
    }
}

double cs_layer_mlp_time(cs_builder *B, int pass, double tokens, double width, double tp_split)
{
    const cs_shape *sh = &B->sh;
    if (tokens <= 0 || width <= 0)
        return 0;
    double fc1 = cs_build_gemm(B, tokens, sh->h, (sh->f - 1) * width / tp_split);
    double fc2 = cs_build_gemm(B, tokens, width / tp_split, sh->h);
    double act = cs_build_memory_op(B, DT * tokens * width / tp_split * (sh->f == 3 ? 3 : 2));
    switch (pass) {
    case CS_PASS_F:
        return fc1 + act + fc2;
    case CS_PASS_B:
        return fc1 + 2 * act + fc2;
    default:
        return fc1 + fc2;
    }
}

/* Tensor-parallel communication at the edge of a block, for every TP group of
 * the stage. Forward: all-gather before the block and reduce-scatter after it
 * with sequence parallelism, else nothing before and an all-reduce after.
 * Backward mirrors it: the gradient of an all-gather is a reduce-scatter, of
 * an all-reduce after the block an all-reduce before it. */
void cs_layer_tp_comm(cs_builder *B, int after, int backward, long mb, long layer)
{
    const cs_shape *sh = &B->sh;
    int reduces = after != backward;
    if (B->z->tp <= 1 || (!sh->sp && !reduces))
        return;
    cs_coll_op op = !sh->sp   ? CS_COLL_ALL_REDUCE
                    : reduces ? CS_COLL_REDUCE_SCATTER
                              : CS_COLL_ALL_GATHER;
    for (long dp = 0; dp < B->z->dp; dp++)
        for (long ep = 0; ep < B->z->ep; ep++) {
            long n = cs_build_tp_members(B, ep, dp, B->members);
            cs_build_collective(B, B->members, n, op, CS_STREAM_TP, CS_OP_TP, mb, layer,
                                DT * sh->T * sh->h, NULL);
        }
}

/* Seconds of one block's pass on the GPU with stage index `local`. */
static double block_time(cs_builder *B, cs_block which, int pass, long local, long layer, long mb,
                         int selective)
{
    const cs_shape *sh = &B->sh;
    switch (which) {
    case BLOCK_ATTENTION:
        return attention_time(B, pass, 0) +
               (pass == CS_PASS_B && selective ? attention_time(B, CS_PASS_F, 1) : 0);
    case BLOCK_MLP:
        return cs_layer_mlp_time(B, pass, sh->T, sh->ffn, sh->t);
    default:
        return cs_moe_block_time(B, which, pass, local, layer, mb);
    }
}

/* One compute op per GPU of the stage for a block. mem gives the bytes each
 * op allocates at its start (> 0) or frees at its end (< 0). */
void cs_block_ops(cs_builder *B, cs_block which, int pass, cs_op_class k, long mb, long layer,
                  double mem)
{
    int selective = B->z->recompute == CS_RECOMPUTE_SELECTIVE;
    for (long local = 0; local < B->per_stage; local++) {
        long gpu = B->gpu_of[local];
        double seconds = block_time(B, which, pass, local, layer, mb, selective);
        long id = cs_build_compute(B, gpu, k, mb, layer, seconds, 0, mem > 0 ? mem : 0,
                                   mem < 0 ? mem : 0);
        if (pass == CS_PASS_W && id >= 0)
            B->last_w[local * B->layers_per_chunk * B->chunks + cs_build_layer_in_stage(B, layer)] =
                id;
    }
}

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

/* Forward of a layer (or its replay under full recompute). */
void cs_layer_forward(cs_builder *B, long mb, long layer, cs_op_class k)
{
    double mem =
        k == CS_OP_RECOMPUTE ? layer_full(B, layer) - layer_keep(B, layer) : layer_keep(B, layer);
    cs_layer_tp_comm(B, 0, 0, mb, layer);
    cs_block_ops(B, BLOCK_ATTENTION, CS_PASS_F, k, mb, layer, mem);
    cs_layer_tp_comm(B, 1, 0, mb, layer);
    if (!cs_build_is_moe(B, layer)) {
        cs_layer_tp_comm(B, 0, 0, mb, layer);
        cs_block_ops(B, BLOCK_MLP, CS_PASS_F, k, mb, layer, 0);
        cs_layer_tp_comm(B, 1, 0, mb, layer);
        return;
    }
    cs_moe_forward(B, mb, layer, k);
}

/* Bytes of a layer's activations that weight gradients still need after B:
 * the inputs of its GEMMs. */
static double layer_w_part(const cs_builder *B, long layer)
{
    const cs_shape *sh = &B->sh;
    double width = cs_build_is_moe(B, layer) ? sh->ffn_e * sh->topk : sh->ffn;
    double part = DT * sh->T * (2 * sh->h + (sh->q + width) / sh->t);
    double keep = layer_keep(B, layer);
    return part < keep ? part : keep;
}

/* Input-gradient pass of a layer; with `with_w` each block's W follows its B
 * (one backward, as autograd runs it) and the layer's memory is freed at its
 * end, else B frees all but what W needs. */
void cs_layer_backward(cs_builder *B, long mb, long layer, int with_w)
{
    int full = B->z->recompute == CS_RECOMPUTE_FULL;
    double total = full ? layer_full(B, layer) : layer_keep(B, layer);
    double free_at_b = with_w ? 0 : -(total - layer_w_part(B, layer));
    if (full)
        cs_layer_forward(B, mb, layer, CS_OP_RECOMPUTE);
    if (!cs_build_is_moe(B, layer)) {
        cs_layer_tp_comm(B, 1, 1, mb, layer);
        cs_block_ops(B, BLOCK_MLP, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer, 0);
        if (with_w)
            cs_block_ops(B, BLOCK_MLP, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer, 0);
        cs_layer_tp_comm(B, 0, 1, mb, layer);
    } else {
        cs_moe_backward(B, mb, layer, with_w);
    }
    cs_layer_tp_comm(B, 1, 1, mb, layer);
    cs_block_ops(B, BLOCK_ATTENTION, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer, free_at_b);
    if (with_w)
        cs_block_ops(B, BLOCK_ATTENTION, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer, -total);
    cs_layer_tp_comm(B, 0, 1, mb, layer);
}

/* Weight-gradient pass of a layer (zb-h1): no communication. */
void cs_layer_weight(cs_builder *B, long mb, long layer)
{
    if (!cs_build_is_moe(B, layer)) {
        cs_block_ops(B, BLOCK_MLP, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer, 0);
    } else {
        cs_moe_weight(B, mb, layer);
    }
    cs_block_ops(B, BLOCK_ATTENTION, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer,
                 -layer_w_part(B, layer));
}

/* ---- embedding and output layer ------------------------------------------------ */

static double embedding_bytes(const cs_builder *B)
{
    const cs_shape *sh = &B->sh;
    return (8 * sh->s * sh->b + sh->s * sh->b * sh->h) / (sh->sp ? sh->t : 1);
}

static double output_bytes(const cs_builder *B)
{
    const cs_shape *sh = &B->sh;
    return 4 * sh->T * sh->h * (1 + sh->V / sh->h) / sh->t;
}

void cs_embedding_op(cs_builder *B, int pass, long mb)
{
    const cs_shape *sh = &B->sh;
    if (sh->V <= 0)
        return;
    double seconds = cs_build_memory_op(B, 2 * DT * sh->Tl * sh->h);
    cs_op_class k = pass == CS_PASS_F ? CS_OP_FORWARD : CS_OP_BACKWARD_WEIGHT;
    for (long local = 0; local < B->per_stage; local++) {
        if (pass == CS_PASS_F)
            cs_build_compute(B, B->gpu_of[local], k, mb, -1, seconds, 0, embedding_bytes(B), 0);
        else
            cs_build_compute(B, B->gpu_of[local], k, mb, -1, seconds, 0, 0, -embedding_bytes(B));
    }
}

void cs_output_ops(cs_builder *B, int pass, long mb)
{
    const cs_shape *sh = &B->sh;
    if (sh->V <= 0)
        return;
    double logits = cs_build_gemm(B, sh->T, sh->h, sh->V / sh->t);
    double loss = cs_build_memory_op(B, 3 * 4 * sh->T * sh->V / sh->t);
    double norm = cs_build_memory_op(B, 2 * DT * sh->Tl * sh->h);
    if (pass == CS_PASS_F)
        cs_layer_tp_comm(B, 0, 0, mb, -1);
    for (long local = 0; local < B->per_stage; local++) {
        long gpu = B->gpu_of[local];
        if (pass == CS_PASS_F)
            cs_build_compute(B, gpu, CS_OP_FORWARD, mb, -1, norm + logits + loss, 0,
                             output_bytes(B), 0);
        else if (pass == CS_PASS_B)
            cs_build_compute(B, gpu, CS_OP_BACKWARD_INPUT, mb, -1, loss + logits + norm, 0, 0,
                             -output_bytes(B));
        else
            cs_build_compute(B, gpu, CS_OP_BACKWARD_WEIGHT, mb, -1, logits, 0, 0, 0);
    }
    if (pass == CS_PASS_B)
        cs_layer_tp_comm(B, 0, 1, mb, -1);
}
