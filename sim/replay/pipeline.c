/* pipeline: the passes of a stage in its schedule's order, and the
 * pipeline sends and receives that join neighbouring (virtual) stages. */
#include "replay/build.h"

/* ---- passes ---------------------------------------------------------------------- */

long cs_pipeline_slot(const cs_builder *B, long stage, int backward, long mb, long chunk,
                      long local)
{
    return (((stage * 2 + backward) * B->z->microbatches + mb) * B->chunks + chunk) * B->per_stage +
           local;
}

void cs_pipeline_run_pass(cs_builder *B, const cs_pass *p)
{
    long p_ = B->z->pp, v = B->chunks;
    long vs = p->chunk * p_ + B->stage, first = vs * B->layers_per_chunk;
    int splits = cs_schedule_splits_w(B->z->schedule);
    if (p->kind == CS_PASS_W && !splits)
        return; /* its W ops were issued with B, block by block, as autograd runs them */
    for (long local = 0; local < B->per_stage; local++)
        B->capture[B->gpu_of[local]] = -1; /* cs_build_chain() records the pass's first op */
    if (p->kind == CS_PASS_F) {
        if (vs == 0)
            cs_embedding_op(B, CS_PASS_F, p->mb);
        for (long i = first; i < first + B->layers_per_chunk; i++)
            cs_layer_forward(B, p->mb, i, CS_OP_FORWARD);
        if (vs == p_ * v - 1)
            cs_output_ops(B, CS_PASS_F, p->mb);
    } else if (p->kind == CS_PASS_B) {
        if (vs == p_ * v - 1) {
            cs_output_ops(B, CS_PASS_B, p->mb);
            if (!splits)
                cs_output_ops(B, CS_PASS_W, p->mb);
        }
        for (long i = first + B->layers_per_chunk - 1; i >= first; i--)
            cs_layer_backward(B, p->mb, i, !splits);
        if (vs == 0 && !splits)
            cs_embedding_op(B, CS_PASS_W, p->mb);
    } else {
        if (vs == p_ * v - 1)
            cs_output_ops(B, CS_PASS_W, p->mb);
        for (long i = first + B->layers_per_chunk - 1; i >= first; i--)
            cs_layer_weight(B, p->mb, i);
        if (vs == 0)
            cs_embedding_op(B, CS_PASS_W, p->mb);
    }
    for (long local = 0; local < B->per_stage; local++) {
        long gpu = B->gpu_of[local];
        if (p->kind != CS_PASS_W) {
            long slot = cs_pipeline_slot(B, B->stage, p->kind == CS_PASS_B, p->mb, p->chunk, local);
            B->pass_first[slot] = B->capture[gpu];
            B->pass_last[slot] = B->last[gpu];
        }
        B->capture[gpu] = -2;
    }
}

/* Pairs the passes of neighbouring virtual stages: for every pass that hands
 * data on (F to the next virtual stage, B to the previous), one send/receive
 * per GPU of the sending stage to its peer (same tp, ep, dp) on the receiving
 * stage, created in the sender's pass order so that both stages' streams list
 * them in the same order. */
void cs_pipeline_links(cs_builder *B, const cs_pass *passes, long count, long stage)
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
            long pair[2] = {cs_build_rank(B, tp, ep, dp, stage),
                            cs_build_rank(B, tp, ep, dp, to_stage)};
            cs_coll_spec spec = {CS_COLL_P2P, CS_ALGO_AUTO, 2, pair, bytes, NULL, 0, 0};
            int streams[2] = {backward ? CS_STREAM_SEND_PREV : CS_STREAM_SEND_NEXT,
                              backward ? CS_STREAM_RECV_NEXT : CS_STREAM_RECV_PREV};
            long sender = cs_exec_collective_on(B->x, &spec, streams, 0);
            if (sender < 0) {
                B->failed = 1;
                return;
            }
            long receiver = sender + 1;
            long from_slot = cs_pipeline_slot(B, stage, backward, ps->mb, ps->chunk, local);
            long to_slot = cs_pipeline_slot(B, to_stage, backward, ps->mb, to_chunk, local);
            cs_op_info *o = cs_build_info(B, sender, CS_OP_PP, ps->mb, -1);
            cs_op_info *r = cs_build_info(B, receiver, CS_OP_PP, ps->mb, -1);
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
