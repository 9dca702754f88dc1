/* grads: data parallelism of a stage: gradients reduced in buckets over the
 * dense and expert data-parallel groups (overlapped with backward as
 * Megatron's DDP does when overlap_grad_reduce is on), the optimizer step,
 * and the parameter all-gather of the distributed optimizer. */
#include "replay/build.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/memory.h"
#include "model/model.h"

/* ---- gradients, optimizer, parameters -------------------------------------------- */

typedef struct bucket {
    double dense, expert;         /* parameters per GPU */
    double fp8_dense, fp8_expert; /* of which FP8 weights (memory.h), gathered in FP8 */
    long first_layer, last_layer; /* in-stage indices, backward order: first >= last */
    int output, embedding;        /* holds the output layer's / embedding's gradients */
} bucket;

/* Dense data-parallel group g (the GPUs of tp rank g of the stage: every
 * dp and cp rank, Megatron's data-parallel group with context
 * parallelism). */
static long dense_dp_members(cs_builder *B, long g, long *out)
{
    return cs_place_dp_cp_group(B->l, B->z, g, B->stage, out);
}

/* Ranks of that group: dp x cp, what the distributed optimizer shards over. */
static double dense_share(const cs_layout_sizes *z)
{
    return (double)cs_place_groups(z, CS_DENSE, CS_DIM_TP);
}

/* Expert data-parallel group g (one etp rank of one EP rank of the stage). */
static long expert_dp_members(cs_builder *B, long g, long *out)
{
    return cs_build_group(B, CS_EXPERT, CS_DIM_DP, g, out);
}

/* The last stage holds a copy of the word embedding (tied to the output
 * layer, or embedding the shifted tokens of the MTP layers), whose gradient
 * is all-reduced with the first stage's. */
static int embedding_copy(const cs_builder *B)
{
    return B->z->pp > 1 && (!B->m->untie_embeddings_and_output_weights || B->m->mtp_num_layers > 0);
}

/* Its parameters: the word embedding, or the whole embedding (positions
 * included) that the MTP layers build there (gpt_model.py). */
static double embedding_copy_params(const cs_builder *B, const cs_param_counts *pc)
{
    if (B->m->mtp_num_layers > 0)
        return pc->embedding;
    return (double)B->m->vocab_size * (double)B->m->hidden_size;
}

/* Parameters of in-stage layer li on one GPU of the stage. */
static void layer_params(const cs_builder *B, const cs_param_counts *pc, long li, double *dense,
                         double *expert)
{
    long layer = B->stage_layer[li];
    double extra = layer >= B->m->num_layers ? pc->mtp_extra : 0; /* an MTP depth's */
    *dense = (cs_model_layer_dense_params(B->m, pc, layer) + extra) / (double)B->z->tp;
    *expert = cs_model_layer_expert_params(B->m, pc, layer) / (double)(B->z->ep * B->z->etp);
}

/* The FP8 weights of in-stage layer li on one GPU of the stage. */
static void layer_fp8_params(const cs_builder *B, long li, double *dense, double *expert)
{
    cs_memory_layer_fp8_params(B->m, B->t, B->stage_layer[li], dense, expert);
    *dense /= (double)B->z->tp;
    *expert /= (double)(B->z->ep * B->z->etp);
}

/* Buckets of at least BUCKET_PARAMS (or 1M x dp) dense parameters, filled in
 * the order backward produces gradients. Megatron's DDP keeps one bucket
 * for everything without overlap_grad_reduce, and on every pipeline stage
 * but the first ("data-parallel communication on these stages is not on
 * the critical path"). Returns the count. */
static long make_buckets(const cs_builder *B, bucket *out, int fsdp)
{
    /* Megatron-FSDP reduces (ZeRO-2, 3) and gathers (ZeRO-3) the layers'
     * parameters layer by layer itself: with `fsdp` their buckets hold the
     * embedding's and the output layer's alone. */
    int layers = !fsdp || cs_training_zero(B->t) < (fsdp == 2 ? 3 : 2);
    /* ZeRO-2 and 3 reduce the embedding's and output layer's gradients
     * every backward too (cs_grads_fsdp_reduce_edge): no bucket is left */
    if (fsdp == 1 && cs_training_zero(B->t) >= 2)
        return 0;
    cs_param_counts pc;
    cs_model_params(B->m, &pc);
    long Ls = B->Ls, n = 0;
    /* DDP's bucket: max(40M, 1M x the data-parallel size without cp)
     * (distributed_data_parallel.py). */
    double dp = (double)B->z->dense_dp;
    double size =
        BUCKET_PARAMS > 1e6 * dp ? BUCKET_PARAMS : 1e6 * dp;
    if (!B->t->overlap_grad_reduce || B->stage > 0)
        size = INFINITY;
    bucket cur = {0, 0, 0, 0, Ls - 1, Ls - 1, 0, 0};
    for (long li = Ls - 1; li >= 0; li--) {
        double d = 0, e = 0, fd = 0, fe = 0;
        if (layers) {
            layer_params(B, &pc, li, &d, &e);
            layer_fp8_params(B, li, &fd, &fe);
        }
        cur.dense += d;
        cur.expert += e;
        cur.fp8_dense += fd;
        cur.fp8_expert += fe;
        cur.last_layer = li;
        if ((layers && cur.dense + cur.expert >= size) || li == 0) {
            out[n++] = cur;
            cur = (bucket){0, 0, 0, 0, li - 1, li - 1, 0, 0};
        }
    }
    /* A stage without layers still holds the embedding or the output layer
     * (the embedding or loss counted in the split): one bucket of no layer. */
    int ends = B->stage == 0 || B->stage == B->z->pp - 1;
    if (n == 0 && !ends)
        return 0;
    if (n == 0)
        out[n++] = (bucket){0, 0, 0, 0, -1, 0, 0, 0}; /* first_layer < last_layer: none */
    /* The output layer's gradients come first in backward (first bucket),
     * the embedding's last (last bucket); a weight tied on one stage is done
     * only when the embedding's is. */
    double t = (double)B->z->tp;
    if (B->stage == 0) {
        out[n - 1].dense += pc.embedding / t;
        out[n - 1].embedding = 1;
    }
    if (B->stage == B->z->pp - 1) {
        int tied_here = !B->m->untie_embeddings_and_output_weights && B->z->pp == 1;
        bucket *bk = tied_here ? &out[n - 1] : &out[0];
        bk->dense += (pc.output_layer + pc.final_norm) / t;
        if (embedding_copy(B))
            bk->dense += embedding_copy_params(B, &pc) / t;
        bk->output = 1;
    }
    return n;
}

/* One gradient reduction of a bucket over members[0..n-1]: with overlap each
 * member waits for the last weight gradient of the bucket's layers, else for
 * the end of its backward. */
static void reduce_bucket(cs_builder *B, const bucket *bk, long n, double params)
{
    long Ls = B->Ls;
    cs_coll_op op = B->t->distributed_optimizer ? CS_COLL_REDUCE_SCATTER : CS_COLL_ALL_REDUCE;
    for (long i = 0; i < n; i++)
        B->npending[B->members[i]] = 0; /* the DP stream does not wait on compute gates */
    long first = cs_build_collective(B, B->members, n, op, CS_STREAM_DP, CS_OP_DP, -1, -1,
                                     GRAD_BYTES * params, NULL);
    if (first < 0)
        return;
    for (long j = 0, i = first - 1; j < n; j++) {
        if (!cs_build_live(B, B->members[j]))
            continue;
        long local = cs_build_local_of(B, B->members[j]);
        i++; /* the member's op */
        if (!B->t->overlap_grad_reduce) {
            if (cs_exec_depend(B->x, B->last_op_of_stage[local], i))
                B->failed = 1;
            continue;
        }
        for (long li = bk->last_layer; li <= bk->first_layer; li++) {
            long w = B->last_w[local * Ls + li];
            if (w >= 0 && cs_exec_depend(B->x, w, i))
                B->failed = 1;
        }
        long edges[2] = {bk->output ? B->output_w[local] : -1,
                         bk->embedding ? B->embedding_w[local] : -1};
        for (int e = 0; e < 2; e++)
            if (edges[e] >= 0 && cs_exec_depend(B->x, edges[e], i))
                B->failed = 1;
    }
}

/* Every bucket over the dense data-parallel groups, and the expert part over
 * the expert data-parallel groups. */
static void reduce_gradients(cs_builder *B, const bucket *buckets, long nb)
{
    const cs_layout_sizes *z = B->z;
    long expert_groups = cs_place_groups(z, CS_EXPERT, CS_DIM_DP);
    cs_coll_op op = B->t->distributed_optimizer ? CS_COLL_REDUCE_SCATTER : CS_COLL_ALL_REDUCE;
    /* The DP stream starts fresh: its first collective waits only on the
     * gradients it reduces. */
    for (long local = 0; local < B->locals; local++)
        B->last[B->gpu_of[local]] = -1;
    for (long k = 0; k < nb; k++) {
        long dense = buckets[k].dense > 0 ? cs_build_copies(B, dense_dp_members, z->tp,
                                                            CS_SITE_DENSE_DP, 0, op,
                                                            GRAD_BYTES * buckets[k].dense, NULL)
                                          : 0;
        for (long g = 0; g < dense; g++) {
            long n = dense_dp_members(B, g, B->members);
            if (n > 1)
                reduce_bucket(B, &buckets[k], n, buckets[k].dense);
        }
        long expert = buckets[k].expert > 0
                          ? cs_build_copies(B, expert_dp_members, expert_groups, CS_SITE_EXPERT_DP,
                                            0, op, GRAD_BYTES * buckets[k].expert, NULL)
                          : 0;
        for (long g = 0; g < expert; g++) {
            long n = expert_dp_members(B, g, B->members);
            if (n > 1)
                reduce_bucket(B, &buckets[k], n, buckets[k].expert);
        }
    }
}

/* Parameters of one GPU of the stage being built (dense and expert). */
static double stage_params(cs_builder *B, double *dense, double *expert)
{
    long Ls = B->Ls;
    bucket *buckets = malloc((size_t)(Ls + 1) * sizeof *buckets);
    *dense = *expert = 0;
    if (!buckets) {
        B->failed = 1;
        return 0;
    }
    long nb = make_buckets(B, buckets, 0);
    for (long k = 0; k < nb; k++) {
        *dense += buckets[k].dense;
        *expert += buckets[k].expert;
    }
    free(buckets);
    return *dense + *expert;
}

/* zero_grad_buffer at the start of the iteration: one memset of every
 * GPU's fp32 gradient buffer. */
void cs_grads_zero(cs_builder *B)
{
    if (B->t->optimizer != CS_OPTIMIZER_ADAM)
        return;
    double dense, expert, params = stage_params(B, &dense, &expert);
    cs_work w = {cs_build_memory_op(B, GRAD_BYTES * params), 1, 0, 0};
    for (long local = 0; local < B->locals; local++)
        cs_build_compute(B, B->gpu_of[local], CS_OP_OPTIMIZER, -1, -1, w, 0, 0);
}

/* Gradient buckets of the stage, reduced over their groups after the
 * stage's compute (or as their layers' weight gradients end). */
void cs_grads_reduce(cs_builder *B)
{
    long Ls = B->Ls;
    bucket *buckets = malloc((size_t)(Ls + 1) * sizeof *buckets);
    if (!buckets) {
        B->failed = 1;
        return;
    }
    long nb = make_buckets(B, buckets, 1);
    reduce_gradients(B, buckets, nb);
    for (long local = 0; local < B->locals; local++) {
        long gpu = B->gpu_of[local];
        if (B->last[gpu] < 0)
            B->last[gpu] = B->last_op_of_stage[local];
        /* The step waits for the layers' own reduce-scatters (ZeRO-2, 3). */
        if (B->fsdp_reduce[local] >= 0 && B->npending[gpu] < CS_OP_GATES)
            B->pending[gpu][B->npending[gpu]++] = B->fsdp_reduce[local];
    }
    free(buckets);
}

/* One all-reduce of `bytes` per group (cs_build_copies). */
static void all_reduce_groups(cs_builder *B, long groups, cs_group_fn fn, int site, double bytes)
{
    groups = cs_build_copies(B, fn, groups, site, 0, CS_COLL_ALL_REDUCE, bytes, NULL);
    for (long g = 0; g < groups; g++) {
        long n = fn(B, g, B->members);
        if (n > 1)
            cs_build_collective(B, B->members, n, CS_COLL_ALL_REDUCE, CS_STREAM_DP, CS_OP_DP, -1,
                                -1, bytes, NULL);
    }
}

/* Group g (a local index) of the embedding group: the first and last stages. */
static long embedding_group(cs_builder *B, long g, long *out)
{
    out[0] = cs_build_at(B, g, 0);
    out[1] = cs_build_at(B, g, B->z->pp - 1);
    return 2;
}

/* Group g (a dense dp x cp rank) of the model-parallel group: every tp and stage. */
static long model_parallel_group(cs_builder *B, long g, long *out)
{
    const cs_layout_sizes *z = B->z;
    long n = z->tp * z->pp;
    for (long i = 0; i < n; i++)
        out[i] = cs_build_at(B, i % z->tp + z->tp * g, i / z->tp);
    return n;
}

static long world_group(cs_builder *B, long g, long *out)
{
    (void)g;
    for (long i = 0; i < B->z->world; i++)
        out[i] = i;
    return B->z->world;
}

/* finalize_model_grads and the optimizer's gradient norm, once every
 * stage's gradients are reduced: the tied word-embedding gradient
 * all-reduced between the first and last stages (fp32, [V/t, h]), then the
 * squared norm's all-reduce (4 bytes; a second for fp16's found_inf) over
 * the model-parallel group, or every rank with the distributed optimizer.
 * Both hold every stage to the slowest before its optimizer step. */
void cs_grads_finalize(cs_builder *B)
{
    const cs_layout_sizes *z = B->z;
    if (B->t->optimizer != CS_OPTIMIZER_ADAM)
        return;
    if (embedding_copy(B) && B->sh.V > 0)
        all_reduce_groups(B, B->per_stage, embedding_group, CS_SITE_EMBEDDING,
                          GRAD_BYTES * B->sh.V / B->sh.t * B->sh.h);
    int reductions = (B->t->clip_grad > 0) + (B->t->precision == CS_FP16);
    for (int r = 0; r < reductions; r++) {
        if (B->t->distributed_optimizer)
            all_reduce_groups(B, 1, world_group, CS_SITE_MODEL, 4);
        else
            all_reduce_groups(B, cs_place_groups(z, CS_DENSE, CS_DIM_TP), model_parallel_group,
                              CS_SITE_MODEL, 4);
    }
}

/* Bytes of a bucket's parameters in the all-gather: PARAM_BYTES each, and
 * with fp8_param_gather (Megatron's --fp8-param-gather) 1 byte for the FP8
 * weights, which the distributed optimizer gathers as FP8 data. */
static double gather_bytes(const cs_builder *B, double params, double fp8)
{
    return PARAM_BYTES * params - (B->t->fp8_param_gather ? (PARAM_BYTES - 1) * fp8 : 0);
}

/* The parameter all-gather of `bytes` over every data-parallel group of a
 * decomposition, blocking (the next op waits) or not. */
static void gather_groups(cs_builder *B, cs_decomp which, double bytes, int async)
{
    cs_group_fn fn = which == CS_DENSE ? dense_dp_members : expert_dp_members;
    long count = which == CS_DENSE ? B->z->tp : cs_place_groups(B->z, which, CS_DIM_DP);
    long groups = cs_build_copies(B, fn, count,
                                  which == CS_DENSE ? CS_SITE_DENSE_DP : CS_SITE_EXPERT_DP, 0,
                                  CS_COLL_ALL_GATHER, bytes, NULL);
    for (long g = 0; g < groups; g++) {
        long n = fn(B, g, B->members);
        if (n > 1 && async)
            cs_build_collective_async(B, B->members, n, CS_COLL_ALL_GATHER, CS_STREAM_DP,
                                      CS_OP_DP, -1, -1, bytes);
        else if (n > 1)
            cs_build_collective(B, B->members, n, CS_COLL_ALL_GATHER, CS_STREAM_DP, CS_OP_DP, -1,
                                -1, bytes, NULL);
    }
}

/* The parameter all-gather of one bucket over the dense and expert
 * data-parallel groups. */
static void gather_bucket(cs_builder *B, const bucket *bk, int async)
{
    if (bk->dense > 0)
        gather_groups(B, CS_DENSE, gather_bytes(B, bk->dense, bk->fp8_dense), async);
    if (bk->expert > 0)
        gather_groups(B, CS_EXPERT, gather_bytes(B, bk->expert, bk->fp8_expert), async);
}

/* Optimizer step on every GPU of the stage (memory-bound: Adam reads and
 * writes about 30 bytes per parameter it owns), then, with the distributed
 * optimizer, the all-gather of the updated parameters. With
 * overlap_param_gather the gather belongs to the next iteration's forward:
 * in the steady state one iteration models, it runs at the start, beside
 * the forward, which waits only for the bucket of its first layers. */
void cs_grads_step(cs_builder *B)
{
    const cs_layout_sizes *z = B->z;
    if (B->t->optimizer != CS_OPTIMIZER_ADAM)
        return;
    long Ls = B->Ls;
    bucket *buckets = malloc((size_t)(Ls + 1) * sizeof *buckets);
    if (!buckets) {
        B->failed = 1;
        return;
    }
    long nb = make_buckets(B, buckets, 0);
    double dense = 0, expert = 0, fp8_dense = 0, fp8_expert = 0;
    for (long k = 0; k < nb; k++) {
        dense += buckets[k].dense;
        expert += buckets[k].expert;
        fp8_dense += buckets[k].fp8_dense;
        fp8_expert += buckets[k].fp8_expert;
    }
    int distributed = B->t->distributed_optimizer;
    double edp = (double)(z->expert_dp > 0 ? z->expert_dp : 1);
    double owned = distributed ? dense / dense_share(z) + expert / edp : dense + expert;
    /* fp8_param_gather: the step writes the FP8 weights it owns as FP8 (1 byte, not 2). */
    double owned_fp8 = B->t->fp8_param_gather ? fp8_dense / dense_share(z) + fp8_expert / edp
                                              : 0;
    /* Launches: the multi-tensor Adam's (left out: a few per iteration). */
    cs_work w = {cs_build_memory_op(B, OPTIMIZER_BYTES * owned - owned_fp8), 0, 0, 0};
    for (long local = 0; local < B->locals; local++)
        cs_build_compute(B, B->gpu_of[local], CS_OP_OPTIMIZER, -1, -1, w, 0, 0);
    /* ZeRO-3 gathers its layers itself, before each pass (cs_grads_fsdp_gather). */
    nb = make_buckets(B, buckets, 2);
    for (long k = 0; distributed && !B->t->overlap_param_gather && k < nb; k++)
        gather_bucket(B, &buckets[k], 0);
    free(buckets);
}

/* ---- Megatron-FSDP ---------------------------------------------------------------- */

/* The layer after (forward) or before (backward) `layer` in its model
 * chunk, -1 at the chunk's end: what the next pass step prefetches. */
static long fsdp_next(const cs_builder *B, long layer, int backward)
{
    for (long c = 0; c < B->chunks; c++) {
        long first = B->chunk_first[c], end = first + B->chunk_count[c];
        if (layer >= first && layer < end) {
            long n = backward ? layer - 1 : layer + 1;
            return n >= first && n < end ? n : -1;
        }
    }
    return -1;
}

/* One collective per data-parallel group of `params` (dense, expert: per
 * GPU, `per_param` bytes each), detached on `stream`; each live GPU's ops
 * in ids[part x per_stage + local] (-1: none). */
static void fsdp_collectives(cs_builder *B, const double params[2], cs_coll_op op, int stream,
                             double per_param, long *ids)
{
    for (long i = 0; i < 2 * B->per_stage; i++)
        ids[i] = -1;
    for (int part = 0; part < 2; part++) {
        if (params[part] <= 0)
            continue;
        cs_group_fn fn = part ? expert_dp_members : dense_dp_members;
        long count = part ? cs_place_groups(B->z, CS_EXPERT, CS_DIM_DP) : B->z->tp;
        double bytes = per_param * params[part];
        long groups = cs_build_copies(B, fn, count, part ? CS_SITE_EXPERT_DP : CS_SITE_DENSE_DP,
                                      0, op, bytes, NULL);
        for (long g = 0; g < groups; g++) {
            long n = fn(B, g, B->members);
            if (n > 1)
                cs_build_collective_detached(B, B->members, n, op, stream, CS_OP_DP, bytes,
                                             ids + part * B->per_stage);
        }
    }
}

/* A transformer layer's parameters on one GPU: Megatron-FSDP's unit (an
 * MTP depth's eh_proj and norms are not in it: they stay with the output
 * layer, cs_grads_fsdp_reduce_edge). */
static void fsdp_unit(const cs_builder *B, long layer, double params[2])
{
    cs_param_counts pc;
    cs_model_params(B->m, &pc);
    params[0] = cs_model_layer_dense_params(B->m, &pc, layer) / (double)B->z->tp;
    params[1] = cs_model_layer_expert_params(B->m, &pc, layer) / (double)(B->z->ep * B->z->etp);
}

/* The stream of the gathers: the reductions' (one communicator, launches
 * kept in order) unless create_all_gather_group gives them their own. */
static int fsdp_gather_stream(const cs_builder *B)
{
    return B->t->create_all_gather_group ? CS_STREAM_DP_GATHER : CS_STREAM_DP;
}

/* Megatron-FSDP's unshard hooks (megatron_fsdp.py): before a layer's
 * forward, and before its backward (its recompute included), its
 * parameters are all-gathered in 16 bits over its data-parallel groups,
 * and the next layer's gather is issued at once (prefetched: it runs beside
 * this layer's compute); the layer's first op waits for its own. Only the
 * first layer of a pass's chunk waits for a gather issued then. */
void cs_grads_fsdp_gather(cs_builder *B, long mb, long layer, int backward)
{
    if (cs_training_zero(B->t) < 3)
        return;
    long per = B->per_stage;
    double params[2];
    int stream = fsdp_gather_stream(B);
    if (B->fsdp_layer != layer || B->fsdp_mb != mb || B->fsdp_backward != backward) {
        fsdp_unit(B, layer, params);
        fsdp_collectives(B, params, CS_COLL_ALL_GATHER, stream, PARAM_BYTES, B->fsdp_gather);
    }
    memcpy(B->fsdp_now, B->fsdp_gather, (size_t)(2 * per) * sizeof *B->fsdp_now);
    long next = fsdp_next(B, layer, backward);
    B->fsdp_layer = next;
    B->fsdp_mb = mb;
    B->fsdp_backward = backward;
    if (next >= 0) {
        fsdp_unit(B, next, params);
        fsdp_collectives(B, params, CS_COLL_ALL_GATHER, stream, PARAM_BYTES, B->fsdp_gather);
    }
    /* What the layer before carries stays with it: the gates go to this
     * layer's first op. */
    cs_build_flush(B, -1);
    for (long local = 0; local < B->locals; local++) {
        long g = B->gpu_of[local];
        for (int part = 0; part < 2; part++) {
            long id = B->fsdp_now[part * per + local];
            if (id < 0)
                continue;
            if (B->npending[g] == CS_OP_GATES) {
                B->failed = 1; /* more gates than an op holds: a builder bug */
                return;
            }
            B->pending[g][B->npending[g]++] = id;
        }
    }
}

/* Reduce-scatters of `params` over the data-parallel groups on the DP
 * stream; each GPU's last kept in fsdp_reduce. */
static void fsdp_reduce(cs_builder *B, const double params[2])
{
    long per = B->per_stage;
    fsdp_collectives(B, params, CS_COLL_REDUCE_SCATTER, CS_STREAM_DP, GRAD_BYTES, B->fsdp_now);
    for (long local = 0; local < B->locals; local++)
        for (int part = 0; part < 2; part++)
            if (B->fsdp_now[part * per + local] >= 0)
                B->fsdp_reduce[local] = B->fsdp_now[part * per + local];
}

static int fsdp_reduces(const cs_builder *B)
{
    return cs_training_zero(B->t) >= 2 && B->t->optimizer == CS_OPTIMIZER_ADAM;
}

/* Megatron-FSDP with sharded gradients reduces them at every backward
 * (grad_reduce_every_bprop): each layer's, once its weight gradients exist,
 * reduce-scattered over its data-parallel groups on the DP stream (in the
 * parameters' dtype: cs_training_grad_bytes()). */
void cs_grads_fsdp_reduce(cs_builder *B, long mb, long layer)
{
    (void)mb;
    if (!fsdp_reduces(B))
        return;
    double params[2];
    fsdp_unit(B, layer, params);
    fsdp_reduce(B, params);
}

/* The same for the parameters outside the units: the embedding on the first
 * stage (after its backward), the output layer and final norm (with a
 * tied or MTP copy of the embedding and the MTP depths' extras) on the
 * last. */
void cs_grads_fsdp_reduce_edge(cs_builder *B, long mb, int output)
{
    (void)mb;
    if (!fsdp_reduces(B))
        return;
    cs_param_counts pc;
    cs_model_params(B->m, &pc);
    double p = 0;
    if (!output && B->stage == 0)
        p = pc.embedding;
    if (output && B->stage == B->z->pp - 1) {
        p = pc.output_layer + pc.final_norm + (double)B->m->mtp_num_layers * pc.mtp_extra;
        if (embedding_copy(B))
            p += embedding_copy_params(B, &pc);
    }
    double params[2] = {p / (double)B->z->tp, 0};
    fsdp_reduce(B, params);
}

/* The end of a model chunk's backward (_root_post_backward): the compute
 * stream waits for the reduce-scatters it issued. */
void cs_grads_fsdp_wait(cs_builder *B)
{
    if (!fsdp_reduces(B))
        return;
    cs_build_flush(B, -1);
    for (long local = 0; local < B->locals; local++) {
        long g = B->gpu_of[local], id = B->fsdp_reduce[local];
        if (id < 0)
            continue;
        if (B->npending[g] == CS_OP_GATES) {
            B->failed = 1;
            return;
        }
        B->pending[g][B->npending[g]++] = id;
    }
}

/* With overlap_param_gather, at the start of the stage's program: every
 * bucket's gather in forward order (the last bucket, the first layers,
 * first), the forward's first op waiting for the first one only. */
void cs_grads_prefetch(cs_builder *B)
{
    if (B->t->optimizer != CS_OPTIMIZER_ADAM || !B->t->distributed_optimizer ||
        !B->t->overlap_param_gather)
        return;
    long Ls = B->Ls;
    bucket *buckets = malloc((size_t)(Ls + 1) * sizeof *buckets);
    if (!buckets) {
        B->failed = 1;
        return;
    }
    int *keep = malloc((size_t)B->per_stage * sizeof *keep);
    if (!keep) {
        free(buckets);
        B->failed = 1;
        return;
    }
    long nb = make_buckets(B, buckets, 2);
    for (long k = nb - 1; k >= 0; k--) {
        gather_bucket(B, &buckets[k], 1);
        /* Later buckets gate nothing: only the first bucket's stay deferred. */
        for (long local = 0; local < B->locals; local++) {
            long g = B->gpu_of[local];
            if (k == nb - 1)
                keep[local] = B->ndeferred[g];
            B->ndeferred[g] = keep[local];
        }
    }
    cs_build_release(B, 0);
    free(keep);
    free(buckets);
}
