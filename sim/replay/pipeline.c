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

static int p2p_waits(const cs_builder *B);

/* Whether pass p of a stage sends to a neighbour (F to the next virtual
 * stage, B to the previous) or, with receiving, receives from one. */
static int pass_exchanges(const cs_builder *B, const cs_pass *p, int receiving)
{
    long vs = p->chunk * B->z->pp + B->stage, last_vs = B->z->pp * B->chunks - 1;
    if (p->kind == CS_PASS_W)
        return 0;
    return (p->kind == CS_PASS_F) == !receiving ? vs < last_vs : vs > 0;
}

/* Megatron's batched p2p ends with torch.cuda.synchronize() (batch_p2p_sync,
 * in p2p_communication.py, whenever batch_p2p_comm: every schedule but the
 * interleaved one with overlap_p2p_comm), so between two passes that
 * exchange anything with a neighbour the host waits until the GPU has
 * finished all it was given and the transfers have arrived; the next pass
 * then starts from an empty queue, at its first launch. Modelled as an
 * empty op opening the pass (the pass's transfers gate it, as they gate a
 * pass's first op) that the host waits for. Gradient reductions in flight
 * on their own stream are not waited for (unhosted, their ops come later). */
static void p2p_sync(cs_builder *B, const cs_pass *passes, long i)
{
    const cs_pass *p = &passes[i], *prev = NULL;
    for (long j = i - 1; j >= 0 && !prev; j--)
        if (passes[j].kind != CS_PASS_W)
            prev = &passes[j];
    if (!B->hosted || !p2p_waits(B) || p->kind == CS_PASS_W ||
        !(pass_exchanges(B, p, 1) || (prev && pass_exchanges(B, prev, 0))))
        return;
    cs_op_class k = p->kind == CS_PASS_F ? CS_OP_FORWARD : CS_OP_BACKWARD_INPUT;
    cs_work w = {0, 0, 0, 1}; /* the synchronize call */
    for (long local = 0; local < B->locals; local++)
        cs_build_compute(B, B->gpu_of[local], k, p->mb, -1, w, 0, 0);
    cs_build_host_mark(B);
    cs_build_host_sync(B);
}

void cs_pipeline_run_pass(cs_builder *B, const cs_pass *passes, long at)
{
    const cs_pass *p = &passes[at];
    long p_ = B->z->pp, v = B->chunks;
    long vs = p->chunk * p_ + B->stage, first = B->chunk_first[p->chunk];
    long last = first + B->chunk_count[p->chunk] - 1;
    int splits = cs_schedule_splits_w(B->z->schedule);
    if (p->kind == CS_PASS_W && !splits)
        return; /* its W ops were issued with B, block by block, as autograd runs them */
    for (long local = 0; local < B->locals; local++)
        B->capture[B->gpu_of[local]] = -1; /* cs_build_chain() records the pass's first op */
    p2p_sync(B, passes, at);
    if (p->kind == CS_PASS_F) {
        if (vs == 0)
            cs_embedding_forward(B, p->mb);
        for (long i = first; i <= last; i++)
            cs_layer_forward(B, p->mb, i, CS_OP_FORWARD);
        if (vs == p_ * v - 1)
            cs_output_forward(B, p->mb);
    } else if (p->kind == CS_PASS_B) {
        /* The output layer's gradients are whole after its backward, or
         * with MTP depths (which share it) after theirs, in the layers. */
        int mtp = B->m->mtp_num_layers > 0;
        if (vs == p_ * v - 1) {
            cs_output_backward(B, p->mb, !splits);
            if (!splits && !mtp)
                cs_grads_fsdp_reduce_edge(B, p->mb, 1);
        }
        for (long i = last; i >= first; i--)
            cs_layer_backward(B, p->mb, i, !splits);
        if (vs == p_ * v - 1 && !splits && mtp)
            cs_grads_fsdp_reduce_edge(B, p->mb, 1);
        if (vs == 0) {
            cs_embedding_backward(B, p->mb);
            cs_grads_fsdp_reduce_edge(B, p->mb, 0);
        }
        if (!splits)
            cs_grads_fsdp_wait(B);
    } else {
        if (vs == p_ * v - 1)
            cs_output_weight(B, p->mb);
        for (long i = last; i >= first; i--)
            cs_layer_weight(B, p->mb, i);
        if (vs == p_ * v - 1)
            cs_grads_fsdp_reduce_edge(B, p->mb, 1);
        cs_grads_fsdp_wait(B);
    }
    cs_build_flush(B, -1); /* the pass's last compute ends it */
    for (long local = 0; local < B->locals; local++) {
        long gpu = B->gpu_of[local];
        if (p->kind != CS_PASS_W) {
            long slot = cs_pipeline_slot(B, B->stage, p->kind == CS_PASS_B, p->mb, p->chunk, local);
            B->pass_first[slot] = B->capture[gpu];
            B->pass_last[slot] = B->last[gpu];
        }
        B->capture[gpu] = -2;
    }
}

/* Bytes of one pipeline transfer: the activation [s/t, b, h] with sequence
 * parallelism, else [s, b, h] whole, or its 1/t share with the legacy
 * scatter-gather optimisation (each TP rank sends a slice, the receivers
 * all-gather it). */
static double p2p_bytes(const cs_builder *B, int *gather)
{
    const cs_shape *sh = &B->sh;
    *gather = !sh->sp && B->z->tp > 1 && B->t->scatter_gather_tensors_in_pipeline;
    return DT * sh->T * sh->h / (sh->sp || *gather ? sh->t : 1);
}

/* Megatron's batched p2p (batch_isend_irecv, then a wait and a device
 * synchronize: every schedule but the interleaved one with
 * overlap_p2p_comm) holds the sender until its send is done: the sender's
 * next pass waits for it. */
static int p2p_waits(const cs_builder *B)
{
    return !(B->z->schedule == CS_INTERLEAVED && B->t->overlap_p2p_comm);
}

/* The first op of the sender's next F or B pass after passes[i], or -1. */
static long next_pass_first(const cs_builder *B, const cs_pass *passes, long count, long i,
                            long stage, long local)
{
    for (long j = i + 1; j < count; j++)
        if (passes[j].kind != CS_PASS_W)
            return B->pass_first[cs_pipeline_slot(B, stage, passes[j].kind == CS_PASS_B,
                                                  passes[j].mb, passes[j].chunk, local)];
    return -1;
}

static void gate(cs_builder *B, long op, long on)
{
    if (op < 0 || on < 0) { /* every pass has a first op: a builder bug */
        B->failed = 1;
        return;
    }
    if (cs_exec_depend(B->x, on, op))
        B->failed = 1;
    cs_op_info *o = &B->w->info[op];
    if (o->ngate < CS_OP_GATES)
        o->gate[o->ngate++] = (int32_t)on;
}

/* The TP group g (a dense dp x cp rank) on the stage in B->peer_stage. */
static long peer_tp_group(cs_builder *B, long g, long *out)
{
    for (long tp = 0; tp < B->z->tp; tp++)
        out[tp] = cs_build_at(B, tp + B->z->tp * g, B->peer_stage);
    return B->z->tp;
}

/* The send/receive pair of local GPU g, from the stage being built to the
 * one in B->peer_stage. */
static long p2p_pair(cs_builder *B, long g, long *out)
{
    out[0] = cs_build_at(B, g, B->stage);
    out[1] = cs_build_at(B, g, B->peer_stage);
    return 2;
}

/* The receivers' all-gather of the scatter-gather optimisation, on their
 * receive stream right after the receives, before the pass they feed. */
static void gather_received(cs_builder *B, long to_stage, long to_slot_base, const long *recv,
                            int stream, long mb, double bytes)
{
    const cs_layout_sizes *z = B->z;
    B->peer_stage = to_stage;
    long groups = cs_build_copies(B, peer_tp_group, cs_place_groups(z, CS_DENSE, CS_DIM_TP),
                                  CS_SITE_DENSE_TP, to_stage,
                                  CS_COLL_ALL_GATHER, bytes * (double)z->tp, NULL);
    for (long dp = 0; dp < groups; dp++) {
        long *members = B->members_last;
        peer_tp_group(B, dp, members);
        cs_coll_spec spec = {CS_COLL_ALL_GATHER, CS_ALGO_AUTO, z->tp, members,
                             bytes * (double)z->tp, NULL, 0, 0};
        long first = cs_exec_collective(B->x, &spec, stream, 0);
        if (first < 0) {
            B->failed = 1;
            return;
        }
        cs_build_take_shadow(B, first);
        for (long tp = 0, id = first; tp < z->tp; tp++) {
            long local = tp + z->tp * dp;
            if (!cs_build_live(B, members[tp]))
                continue;
            cs_op_info *o = cs_build_info(B, id, CS_OP_PP, mb, -1);
            if (!o)
                return;
            o->stage = (int16_t)to_stage;
            o->work = bytes * (double)z->tp;
            if (cs_exec_depend(B->x, recv[local], id))
                B->failed = 1;
            gate(B, B->pass_first[to_slot_base + local], id);
            id++;
        }
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
    int gather;
    double bytes = p2p_bytes(B, &gather);
    for (long i = 0; i < count && !B->failed; i++) {
        const cs_pass *ps = &passes[i];
        if (ps->kind == CS_PASS_W)
            continue;
        int backward = ps->kind == CS_PASS_B;
        long vs = ps->chunk * p + stage;
        long to_vs = backward ? vs - 1 : vs + 1;
        if (to_vs < 0 || to_vs > last_vs)
            continue;
        long to_stage = to_vs % p, to_chunk = to_vs / p;
        int streams[2] = {backward ? CS_STREAM_SEND_PREV : CS_STREAM_SEND_NEXT,
                          backward ? CS_STREAM_RECV_NEXT : CS_STREAM_RECV_PREV};
        B->peer_stage = to_stage;
        long pairs = cs_build_copies(B, p2p_pair, B->per_stage, CS_SITE_P2P, to_stage,
                                     CS_COLL_P2P, bytes, NULL);
        for (long local = 0; local < pairs; local++) {
            long pair[2];
            p2p_pair(B, local, pair);
            cs_coll_spec spec = {CS_COLL_P2P, CS_ALGO_AUTO, 2, pair, bytes, NULL, 0, 0};
            long sender = cs_exec_collective_on(B->x, &spec, streams, 0);
            if (sender < 0) {
                B->failed = 1;
                return;
            }
            cs_build_take_shadow(B, sender);
            long receiver = sender + 1;
            long from_slot = cs_pipeline_slot(B, stage, backward, ps->mb, ps->chunk, local);
            long to_slot = cs_pipeline_slot(B, to_stage, backward, ps->mb, to_chunk, local);
            /* The receiver's record first: the table may move to hold it,
             * and then already holds the sender's. */
            cs_op_info *r = cs_build_info(B, receiver, CS_OP_PP, ps->mb, -1);
            cs_op_info *o = r ? cs_build_info(B, sender, CS_OP_PP, ps->mb, -1) : NULL;
            if (!o || !r)
                return;
            o->stage = (int16_t)stage;
            r->stage = (int16_t)to_stage;
            o->work = r->work = bytes;
            if (cs_exec_depend(B->x, B->pass_last[from_slot], sender))
                B->failed = 1;
            B->members[local] = receiver;
            if (!gather)
                gate(B, B->pass_first[to_slot], receiver);
            long next = p2p_waits(B) ? next_pass_first(B, passes, count, i, stage, local) : -1;
            if (next >= 0)
                gate(B, next, sender);
        }
        if (gather)
            gather_received(B, to_stage,
                            cs_pipeline_slot(B, to_stage, backward, ps->mb, to_chunk, 0),
                            B->members, streams[1], ps->mb, bytes);
    }
}
