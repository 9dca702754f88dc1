/* grads: data parallelism of a stage: gradients reduced in buckets over the
 * dense and expert data-parallel groups (overlapped with backward as
 * Megatron's DDP does when overlap_grad_reduce is on), the optimizer step,
 * and the parameter all-gather of the distributed optimizer. */
#include "replay/build.h"

#include <stdlib.h>

#include "model/model.h"

/* ---- gradients, optimizer, parameters -------------------------------------------- */

typedef struct bucket {
    double dense, expert;         /* parameters per GPU */
    long first_layer, last_layer; /* in-stage indices, backward order: first >= last */
} bucket;

/* Dense data-parallel group of a GPU: same tp and stage, every ep and dp. */
static long dense_dp_members(cs_builder *B, long tp, long *out)
{
    long n = 0;
    for (long dp = 0; dp < B->z->dp; dp++)
        for (long ep = 0; ep < B->z->ep; ep++)
            out[n++] = cs_build_rank(B, tp, ep, dp, B->stage);
    return n;
}

/* Expert data-parallel group: same stage, ep and expert-TP rank (tp % etp),
 * every dp and every tp / etp. */
static long expert_dp_members(cs_builder *B, long tp, long ep, long *out)
{
    long n = 0;
    for (long dp = 0; dp < B->z->dp; dp++)
        for (long r = tp % B->z->etp; r < B->z->tp; r += B->z->etp)
            out[n++] = cs_build_rank(B, r, ep, dp, B->stage);
    return n;
}

/* Parameters of in-stage layer li on one GPU of the stage. */
static void layer_params(const cs_builder *B, const cs_param_counts *pc, long li, double *dense,
                         double *expert)
{
    long chunk = li / B->layers_per_chunk;
    long layer = (chunk * B->z->pp + B->stage) * B->layers_per_chunk + li % B->layers_per_chunk;
    *dense = cs_model_layer_dense_params(B->m, pc, layer) / (double)B->z->tp;
    *expert = cs_model_layer_expert_params(B->m, pc, layer) / (double)(B->z->ep * B->z->etp);
}

/* Buckets of at least BUCKET_PARAMS (or 1M x dp) dense parameters, filled in
 * the order backward produces gradients. Returns the count. */
static long make_buckets(const cs_builder *B, bucket *out)
{
    cs_param_counts pc;
    cs_model_params(B->m, &pc);
    long Ls = B->layers_per_chunk * B->chunks, n = 0;
    double size =
        BUCKET_PARAMS > 1e6 * (double)B->z->dense_dp ? BUCKET_PARAMS : 1e6 * (double)B->z->dense_dp;
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

/* One gradient reduction of a bucket over members[0..n-1]: with overlap each
 * member waits for the last weight gradient of the bucket's layers, else for
 * the end of its backward. */
static void reduce_bucket(cs_builder *B, const bucket *bk, long n, double params)
{
    long Ls = B->layers_per_chunk * B->chunks;
    cs_coll_op op = B->t->distributed_optimizer ? CS_COLL_REDUCE_SCATTER : CS_COLL_ALL_REDUCE;
    for (long i = 0; i < n; i++)
        B->npending[B->members[i]] = 0; /* the DP stream does not wait on compute gates */
    long first = cs_build_collective(B, B->members, n, op, CS_STREAM_DP, CS_OP_DP, -1, -1,
                                     GRAD_BYTES * params, NULL);
    if (first < 0)
        return;
    for (long i = 0; i < n; i++) {
        long local = cs_build_local_of(B, B->members[i]);
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
static void reduce_gradients(cs_builder *B, const bucket *buckets, long nb)
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
static void optimizer_and_gather(cs_builder *B, const bucket *buckets, long nb)
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
    double seconds = cs_build_memory_op(B, OPTIMIZER_BYTES * owned);
    for (long local = 0; local < B->per_stage; local++)
        cs_build_compute(B, B->gpu_of[local], CS_OP_OPTIMIZER, -1, -1, seconds, 0, 0, 0);
    if (distributed)
        for (long k = 0; k < nb; k++) {
            for (long tp = 0; tp < z->tp && buckets[k].dense > 0; tp++) {
                long n = dense_dp_members(B, tp, B->members);
                if (n > 1)
                    cs_build_collective(B, B->members, n, CS_COLL_ALL_GATHER, CS_STREAM_DP,
                                        CS_OP_DP, -1, -1, PARAM_BYTES * buckets[k].dense, NULL);
            }
            for (long tp = 0; tp < z->etp && buckets[k].expert > 0; tp++)
                for (long ep = 0; ep < z->ep; ep++) {
                    long n = expert_dp_members(B, tp, ep, B->members);
                    if (n > 1)
                        cs_build_collective(B, B->members, n, CS_COLL_ALL_GATHER, CS_STREAM_DP,
                                            CS_OP_DP, -1, -1, PARAM_BYTES * buckets[k].expert,
                                            NULL);
                }
        }
}

/* Gradient buckets of the stage, reduced over their groups, then the
 * optimizer step (after the stage's compute and its last reduction) and the
 * parameter gather. */
void cs_grads_reduce_and_step(cs_builder *B)
{
    long Ls = B->layers_per_chunk * B->chunks;
    bucket *buckets = malloc((size_t)(Ls + 1) * sizeof *buckets);
    if (!buckets) {
        B->failed = 1;
        return;
    }
    long nb = make_buckets(B, buckets);
    reduce_gradients(B, buckets, nb);
    for (long local = 0; local < B->per_stage; local++) {
        long gpu = B->gpu_of[local];
        if (B->last[gpu] < 0)
            B->last[gpu] = B->last_op_of_stage[local];
    }
    optimizer_and_gather(B, buckets, nb);
    free(buckets);
}
