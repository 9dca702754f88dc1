#include "replay/build.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cs_build_shape(cs_shape *sh, const cs_model *m, const cs_training *t, const cs_layout_sizes *z)
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
        sh->q =
            (double)(m->num_attention_heads * (m->mla.qk_head_dim + m->mla.qk_pos_emb_head_dim));
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

long cs_build_rank(const cs_builder *B, long tp, long ep, long dp, long pp)
{
    long c[CS_DIM_COUNT];
    c[CS_DIM_TP] = tp;
    c[CS_DIM_EP] = ep;
    c[CS_DIM_DP] = dp;
    c[CS_DIM_PP] = pp;
    return cs_layout_rank(B->l, B->z, c);
}

/* Local index in a stage: tp fastest, then ep, then dp. */
long cs_build_local(const cs_builder *B, long tp, long ep, long dp)
{
    return tp + B->z->tp * (ep + B->z->ep * dp);
}

/* The local index of a GPU of the stage being built. */
long cs_build_local_of(const cs_builder *B, long gpu)
{
    long coord[CS_DIM_COUNT];
    cs_layout_coords(B->l, B->z, gpu, coord);
    return cs_build_local(B, coord[CS_DIM_TP], coord[CS_DIM_EP], coord[CS_DIM_DP]);
}

long cs_build_layer_in_stage(const cs_builder *B, long layer)
{
    long vs = layer / B->layers_per_chunk, chunk = vs / B->z->pp;
    return chunk * B->layers_per_chunk + layer % B->layers_per_chunk;
}

/* ---- one layer ------------------------------------------------------------------ */

int cs_build_is_moe(const cs_builder *B, long layer) { return cs_model_is_moe_layer(B->m, layer); }

/* ---- group members ---------------------------------------------------------- */

long cs_build_tp_members(cs_builder *B, long ep, long dp, long *out)
{
    for (long i = 0; i < B->z->tp; i++)
        out[i] = cs_build_rank(B, i, ep, dp, B->stage);
    return B->z->tp;
}

long cs_build_ep_members(cs_builder *B, long tp, long dp, long *out)
{
    for (long i = 0; i < B->z->ep; i++)
        out[i] = cs_build_rank(B, tp, i, dp, B->stage);
    return B->z->ep;
}

cs_op_info *cs_build_info(cs_builder *B, long id, cs_op_class k, long mb, long layer)
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
void cs_build_chain(cs_builder *B, long gpu, long id, cs_op_info *o)
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

long cs_build_compute(cs_builder *B, long gpu, cs_op_class k, long mb, long layer, double seconds,
                      double flops, double mem_begin, double mem_end)
{
    double sigma = B->s->uncertainty.compute_jitter;
    if (sigma > 0 && seconds > 0) /* lognormal with mean 1 */
        seconds *= exp(sigma * gsl_ran_gaussian(B->noise, 1.0) - sigma * sigma / 2);
    seconds *= B->slowdown[gpu];
    long id = cs_exec_compute(B->x, gpu, CS_STREAM_COMPUTE, seconds, 0);
    cs_op_info *o = cs_build_info(B, id, k, mb, layer);
    if (!o)
        return -1;
    o->work = flops;
    o->mem_begin = mem_begin;
    o->mem_end = mem_end;
    cs_build_chain(B, gpu, id, o);
    return id;
}

/* A collective over members[0..n-1]; every member's next op waits for it. */
long cs_build_collective(cs_builder *B, const long *members, long n, cs_coll_op op, int stream,
                         cs_op_class k, long mb, long layer, double bytes, const double *pairs)
{
    cs_coll_spec spec = {op, CS_ALGO_AUTO, n, members, bytes, pairs, 0, 0};
    long first = cs_exec_collective(B->x, &spec, stream, 0);
    if (first < 0) {
        B->failed = 1;
        return -1;
    }
    for (long i = 0; i < n; i++) {
        cs_op_info *o = cs_build_info(B, first + i, k, mb, layer);
        if (!o)
            return -1;
        o->work = bytes;
        cs_build_chain(B, members[i], first + i, o);
        B->pending[members[i]][0] = first + i;
        B->npending[members[i]] = 1;
    }
    return first;
}

/* ---- kernel times ---------------------------------------------------------- */

double cs_build_gemm(cs_builder *B, double M, double K, double N)
{
    return cs_cost_kernel(&B->cost, 2 * M * K * N, DT * (M * K + K * N + M * N));
}

double cs_build_memory_op(cs_builder *B, double bytes)
{
    return cs_cost_kernel(&B->cost, 0, bytes);
}

void cs_build_end_markers(cs_builder *B)
{
    for (long local = 0; local < B->per_stage; local++)
        cs_build_compute(B, B->gpu_of[local], CS_OP_END, -1, -1, 0, 0, 0, 0);
}
