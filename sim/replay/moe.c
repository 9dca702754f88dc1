/* moe: the MoE half of a layer as Megatron-Core runs it: router, dispatch
 * all-to-all over the EP group, expert-TP gather, the local experts' GEMMs on
 * the tokens routed to them, and back; and the routing draws of a stage that
 * decide how many tokens each expert gets. */
#include "replay/build.h"

#include <stdlib.h>

#include "model/routing.h"

double cs_moe_expert_tokens(const cs_builder *B, long local, long layer, long mb)
{
    long Ls = B->Ls;
    return B
        ->expert_tokens[(local * Ls + cs_build_layer_in_stage(B, layer)) * B->z->microbatches + mb];
}

/* Expert tensor parallelism: tokens dispatched to an EP rank are gathered
 * over its expert-TP group before the experts (reduce-scattered after), or
 * the reverse in backward. */
static void etp_comm(cs_builder *B, int gather, long mb, long layer)
{
    if (B->z->etp <= 1)
        return;
    long groups = cs_place_groups(B->z, CS_EXPERT, CS_DIM_TP);
    for (long g = 0; g < groups; g++) {
        long n = cs_build_group(B, CS_EXPERT, CS_DIM_TP, g, B->members);
        double tokens = cs_moe_expert_tokens(B, cs_build_local_of(B, B->members[0]), layer, mb);
        cs_build_collective(B, B->members, n, gather ? CS_COLL_ALL_GATHER : CS_COLL_REDUCE_SCATTER,
                            CS_STREAM_TP, CS_OP_TP, mb, layer, DT * tokens * B->sh.h, NULL);
    }
}

/* Dispatch (out = 1: tokens to their experts) or combine all-to-all in every
 * EP group of the stage. */
static void ep_comm(cs_builder *B, int out, long mb, long layer)
{
    const cs_layout_sizes *z = B->z;
    if (z->ep <= 1)
        return;
    long groups = cs_place_groups(z, CS_EXPERT, CS_DIM_EP), li = cs_build_layer_in_stage(B, layer);
    for (long g = 0; g < groups; g++) {
        double **tables = out ? B->dispatch : B->combine;
        const double *pairs = tables[(li * z->microbatches + mb) * groups + g];
        long n = cs_build_group(B, CS_EXPERT, CS_DIM_EP, g, B->members);
        double even = DT * B->sh.Tl * B->sh.topk * B->sh.h;
        long first = cs_build_collective(B, B->members, n, CS_COLL_ALLTOALL, CS_STREAM_EP,
                                         CS_OP_EP, mb, layer, even, pairs);
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

/* ---- MoE routing of a stage ---------------------------------------------------------- */

static double *table(cs_builder *B, long n)
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

/* Adds what EP member j of a group receives to the expert tokens of j and,
 * with etp > 1, of its expert-TP peers, which see their whole group's tokens. */
static void add_expert_tokens(cs_builder *B, long rank, long li, long mb, double received)
{
    long Ls = B->Ls, m = B->z->microbatches;
    long n = cs_place_group_of(B->l, B->z, CS_EXPERT, CS_DIM_TP, rank, B->members_last);
    for (long r = 0; r < n; r++)
        B->expert_tokens[(cs_build_local_of(B, B->members_last[r]) * Ls + li) * m + mb] +=
            received;
}

/* Draws the routing of every (layer, micro-batch, EP group) of the stage and
 * derives the all-to-all byte tables and each GPU's expert tokens. */
void cs_moe_route_stage(cs_builder *B)
{
    const cs_layout_sizes *z = B->z;
    long E = B->m->moe.num_experts, Ls = B->Ls, m = z->microbatches;
    long groups = cs_place_groups(z, CS_EXPERT, CS_DIM_EP), per_rank = E / z->ep;
    const cs_shape *sh = &B->sh;
    for (long li = 0; li < Ls; li++) {
        long layer = B->stage_layer[li];
        if (!cs_build_is_moe(B, layer))
            continue;
        for (long mb = 0; mb < m; mb++)
            for (long g = 0; g < groups; g++) {
                cs_build_group(B, CS_EXPERT, CS_DIM_EP, g, B->members);
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
                    add_expert_tokens(B, B->members[j], li, mb, received);
                }
                B->dispatch[(li * m + mb) * groups + g] = out;
                B->combine[(li * m + mb) * groups + g] = back;
            }
    }
}

/* Seconds of the experts' pass on the GPU with stage index `local`: the
 * grouped GEMMs of its local experts at their per-expert token count, and
 * the shared expert as a dense MLP split over TP. */
static double experts_time(cs_builder *B, int pass, long local, long layer, long mb)
{
    const cs_shape *sh = &B->sh;
    const cs_kernel_opts *o = pass == CS_PASS_F ? &B->fwd : &B->bwd;
    cs_kernel_slot first = pass == CS_PASS_F   ? CS_SLOT_IN
                           : pass == CS_PASS_B ? CS_SLOT_OUT_B
                                               : CS_SLOT_OUT_W;
    cs_kernel_slot last = pass == CS_PASS_F ? CS_SLOT_OUT : pass == CS_PASS_B ? CS_SLOT_IN_B
                                                                              : CS_SLOT_IN_W;
    cs_kernel_list l;
    double groups = (double)B->z->experts_per_gpu, seconds = 0;
    cs_kernels_mlp(sh, o, cs_moe_expert_tokens(B, local, layer, mb), sh->ffn_e, sh->etp,
                   groups > 0 ? groups : 1, 0, &l);
    for (int s = first; s <= (int)last; s++)
        if (s != CS_SLOT_RECOMPUTE)
            seconds += cs_cost_slot(&B->cost, &l, (cs_kernel_slot)s);
    cs_kernels_mlp(sh, o, sh->T, sh->ffn_s, sh->t, 1, 0, &l);
    for (int s = first; s <= (int)last; s++)
        if (s != CS_SLOT_RECOMPUTE)
            seconds += cs_cost_slot(&B->cost, &l, (cs_kernel_slot)s);
    return seconds;
}

/* Kernel times of the MoE blocks on the GPU with stage index `local`. */
double cs_moe_block_time(cs_builder *B, cs_block which, int pass, long local, long layer, long mb)
{
    const cs_shape *sh = &B->sh;
    switch (which) {
    case BLOCK_ROUTER:
        if (pass == CS_PASS_W)
            return cs_build_gemm(B, sh->Tl, sh->h, sh->experts);
        return cs_build_gemm(B, sh->Tl, sh->h, sh->experts) +
               cs_build_memory_op(B, 8 * sh->Tl * sh->experts + 2 * DT * sh->Tl * sh->topk * sh->h);
    case BLOCK_EXPERTS:
        return experts_time(B, pass, local, layer, mb);
    default: /* unpermute */
        return pass == CS_PASS_W ? 0
                                 : cs_build_memory_op(B, 2 * DT * sh->Tl * sh->topk * sh->h +
                                                             3 * DT * sh->Tl * sh->h);
    }
}

/* One op per GPU of the stage for a MoE block. */
static void moe_ops(cs_builder *B, cs_block which, int pass, cs_op_class k, long mb, long layer)
{
    for (long local = 0; local < B->per_stage; local++) {
        double seconds = cs_moe_block_time(B, which, pass, local, layer, mb);
        long id = cs_build_compute(B, B->gpu_of[local], k, mb, layer, seconds, 0, 0, 0);
        if (pass == CS_PASS_W && id >= 0)
            B->last_w[local * B->Ls + cs_build_layer_in_stage(B, layer)] =
                id;
    }
}

/* The MoE MLP of a layer's forward (or its replay under full recompute):
 * pre-MLP norm, router, dispatch, experts, combine, unpermute, then the
 * bias-dropout-add. */
void cs_moe_forward(cs_builder *B, long mb, long layer, cs_op_class k)
{
    cs_build_carry(B, -1, k, mb, layer, B->edges_f.s[CS_SLOT_PRE], 0);
    moe_ops(B, BLOCK_ROUTER, CS_PASS_F, k, mb, layer);
    ep_comm(B, 1, mb, layer);
    etp_comm(B, 1, mb, layer);
    moe_ops(B, BLOCK_EXPERTS, CS_PASS_F, k, mb, layer);
    etp_comm(B, 0, mb, layer);
    ep_comm(B, 0, mb, layer);
    moe_ops(B, BLOCK_UNPERMUTE, CS_PASS_F, k, mb, layer);
    cs_build_carry(B, -1, k, mb, layer, B->edges_f.s[CS_SLOT_POST], 0);
}

/* Its input-gradient pass, each block's W right after its B with `with_w`. */
void cs_moe_backward(cs_builder *B, long mb, long layer, int with_w)
{
    cs_build_carry(B, -1, CS_OP_BACKWARD_INPUT, mb, layer, B->edges_b.s[CS_SLOT_POST_B], 0);
    moe_ops(B, BLOCK_UNPERMUTE, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer);
    ep_comm(B, 1, mb, layer);
    etp_comm(B, 1, mb, layer);
    moe_ops(B, BLOCK_EXPERTS, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer);
    if (with_w)
        moe_ops(B, BLOCK_EXPERTS, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer);
    etp_comm(B, 0, mb, layer);
    ep_comm(B, 0, mb, layer);
    moe_ops(B, BLOCK_ROUTER, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer);
    if (with_w)
        moe_ops(B, BLOCK_ROUTER, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer);
    cs_build_carry(B, -1, CS_OP_BACKWARD_INPUT, mb, layer, B->edges_b.s[CS_SLOT_PRE_B], 0);
}

/* Its weight-gradient pass (zb-h1): no communication. */
void cs_moe_weight(cs_builder *B, long mb, long layer)
{
    moe_ops(B, BLOCK_EXPERTS, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer);
    moe_ops(B, BLOCK_ROUTER, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer);
}
