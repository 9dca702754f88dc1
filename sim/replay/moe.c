/* moe: the MoE half of a layer as Megatron-Core runs it (moe_layer.py): the
 * shared experts (before the router, or overlapped with the dispatch with
 * moe_shared_expert_overlap), the router, the token dispatcher's permute,
 * its communication (alltoall: all-to-all over EP then an expert-TP gather;
 * allgather: a gather over expert-TP x EP; flex: DeepEP's all-to-all of one
 * row per token and rank), the local experts' GEMMs on the tokens routed to
 * them, and back; and the routing draws of a stage that decide how many
 * tokens each expert gets. */
#include "replay/build.h"

#include <math.h>
#include <stdlib.h>

#include "model/memory.h"
#include "model/routing.h"

double cs_moe_expert_tokens(const cs_builder *B, long local, long layer, long mb)
{
    long Ls = B->Ls;
    return B
        ->expert_tokens[(local * Ls + cs_build_layer_in_stage(B, layer)) * B->z->microbatches + mb];
}

/* Tokens per local expert are kept only where they are priced apart: one
 * GEMM per expert (SequentialMLP) with several experts per GPU. */
size_t cs_moe_expert_rows_size(const cs_builder *B)
{
    if (B->m->moe.num_experts <= 0 || B->t->moe_grouped_gemm || B->z->experts_per_gpu <= 1)
        return 0;
    long Ls = B->Ls_max;
    return (size_t)(B->per_stage * Ls * B->z->microbatches * B->z->experts_per_gpu);
}

static double *expert_rows(const cs_builder *B, long local, long li, long mb)
{
    long Ls = B->Ls;
    return B->expert_rows + ((local * Ls + li) * B->z->microbatches + mb) * B->z->experts_per_gpu;
}

/* Adds what every sender of EP group (tp, dp) sends each expert of EP rank
 * j to the per-expert rows of GPU `local`. */
static void add_expert_rows(cs_builder *B, long local, long li, long mb, long j)
{
    long E = B->m->moe.num_experts, per_rank = B->z->experts_per_gpu;
    double *rows = expert_rows(B, local, li, mb);
    for (long e = 0; e < per_rank; e++)
        for (long i = 0; i < B->z->ep; i++)
            rows[e] += B->counts[i * E + j * per_rank + e];
}

/* Expert tensor parallelism: tokens dispatched to an EP rank are gathered
 * over its expert-TP group before the experts (reduce-scattered after), or
 * the reverse in backward. */
/* DeepEP with expert TP: MoEFlexTokenDispatcher's one all-to-all over the
 * expert tensor-and-expert group copies each token to every expert-TP rank
 * of its destination (no gather after it). */
static int flex_over_tp_ep(const cs_builder *B)
{
    return B->t->moe_token_dispatcher_type == CS_DISPATCH_FLEX && B->z->etp > 1;
}

static long expert_tp_group(cs_builder *B, long g, long *out)
{
    return cs_build_group(B, CS_EXPERT, CS_DIM_TP, g, out);
}

static long expert_ep_group(cs_builder *B, long g, long *out)
{
    return cs_build_group(B, CS_EXPERT, CS_DIM_EP, g, out);
}

static long tp_ep_group(cs_builder *B, long g, long *out)
{
    return cs_place_expert_tp_ep_group(B->l, B->z, g, B->stage, out);
}

static void etp_comm(cs_builder *B, int gather, long mb, long layer)
{
    if (B->z->etp <= 1 || flex_over_tp_ep(B))
        return;
    cs_coll_op op = gather ? CS_COLL_ALL_GATHER : CS_COLL_REDUCE_SCATTER;
    /* Balanced routing (what a reduced build needs) gives every group the
     * first one's tokens. */
    double first = DT * cs_moe_expert_tokens(B, 0, layer, mb) * B->sh.h;
    long groups = cs_build_copies(B, expert_tp_group, cs_place_groups(B->z, CS_EXPERT, CS_DIM_TP),
                                  CS_SITE_EXPERT_TP, 0, op, first, NULL);
    for (long g = 0; g < groups; g++) {
        long n = expert_tp_group(B, g, B->members);
        double tokens = cs_moe_expert_tokens(B, cs_build_local_of(B, B->members[0]), layer, mb);
        cs_build_collective(B, B->members, n, op, CS_STREAM_TP, CS_OP_TP, mb, layer,
                            DT * tokens * B->sh.h, NULL);
    }
}

static double flex_share(const cs_builder *B);

/* Dispatch (out = 1: tokens to their experts) or combine all-to-all in every
 * EP group of the stage; `async`: overlapped by the ops up to the next
 * cs_build_release(). */
static void ep_comm(cs_builder *B, int out, long mb, long layer, int async)
{
    const cs_layout_sizes *z = B->z;
    int tp_ep = flex_over_tp_ep(B);
    if (z->ep <= 1 && !tp_ep)
        return;
    long groups = tp_ep ? z->expert_dp : cs_place_groups(z, CS_EXPERT, CS_DIM_EP);
    long li = cs_build_layer_in_stage(B, layer);
    double **tables = out ? B->dispatch : B->combine;
    double even = DT * B->sh.Tl * B->sh.topk * B->sh.h * flex_share(B) * (tp_ep ? z->etp : 1);
    /* Over the tp_ep group the exchange is priced even (its byte tables are
     * the EP groups'). */
    const double *pairs0 = tp_ep ? NULL : tables[(li * z->microbatches + mb) * groups];
    long built = cs_build_copies(B, tp_ep ? tp_ep_group : expert_ep_group, groups,
                                 tp_ep ? CS_SITE_TP_EP : CS_SITE_EXPERT_EP, 0, CS_COLL_ALLTOALL,
                                 even, pairs0);
    for (long g = 0; g < built; g++) {
        const double *pairs = tp_ep ? NULL : tables[(li * z->microbatches + mb) * groups + g];
        long n = tp_ep ? tp_ep_group(B, g, B->members) : expert_ep_group(B, g, B->members);
        long first = async ? cs_build_collective_async_pairs(B, B->members, n, CS_COLL_ALLTOALL,
                                                             CS_STREAM_EP, CS_OP_EP, mb, layer,
                                                             even, pairs)
                           : cs_build_collective(B, B->members, n, CS_COLL_ALLTOALL, CS_STREAM_EP,
                                                 CS_OP_EP, mb, layer, even, pairs);
        /* The tokens a member receives sit in a buffer while the exchange runs. */
        for (long j = 0, id = first; first >= 0 && j < n; j++) {
            if (!cs_build_live(B, B->members[j]))
                continue;
            double received = even;
            if (pairs) {
                received = 0;
                for (long i = 0; i < n; i++)
                    received += i == j ? 0 : pairs[i * n + j];
            }
            B->w->info[id].mem_begin = received;
            B->w->info[id++].mem_end = -received;
        }
    }
}

/* ---- HybridEP's plan -------------------------------------------------------------------- */

/* HybridEP (flex with moe_flex_dispatcher_backend: hybridep) plans each
 * forward dispatch from the whole group's routing map, as its executor
 * does (deepseek-ai/DeepEP @2313535d, csrc/hybrid_ep/executor/executor.cu;
 * Megatron's HybridEPDispatch computes the handle in forward and reuses it
 * in backward): the ranks' [T_l, E] boolean maps all-gathered over the
 * group (allgather_routing_map: NCCL's all_gather_into_tensor across
 * nodes, its own kernel inside one), then one preprocessing kernel reads
 * the gathered map and writes the plan (metadata_preprocess_core: the
 * sparse-to-dense map, int32 per token and node rank, and the local
 * experts' map). Across nodes every dispatch-direction exchange (forward,
 * and the combine's gradient in backward) first copies the tokens into the
 * registered RDMA buffer (dispatch_preprocess; forward also the fp32
 * probabilities). */
static int hybridep(const cs_builder *B)
{
    return B->t->moe_token_dispatcher_type == CS_DISPATCH_FLEX &&
           B->t->moe_flex_dispatcher_backend == CS_FLEX_HYBRIDEP && B->z->ep * B->z->etp > 1;
}

/* The dispatch's group: the tp_ep group with expert TP, else the EP group. */
static long dispatch_group(cs_builder *B, long g, long *out)
{
    return flex_over_tp_ep(B) ? tp_ep_group(B, g, out) : expert_ep_group(B, g, out);
}

static long dispatch_groups(const cs_builder *B)
{
    return flex_over_tp_ep(B) ? B->z->expert_dp : cs_place_groups(B->z, CS_EXPERT, CS_DIM_EP);
}

/* Columns of the routing map and probabilities: E, or E etp over the
 * tp_ep group (MoEFlexTokenDispatcher: tp_size * num_experts). */
static double map_columns(const cs_builder *B)
{
    return (double)B->sh.experts * (double)(flex_over_tp_ep(B) ? B->z->etp : 1);
}

/* Whether group 0 of the dispatch spans nodes (all groups do alike). */
static int dispatch_spans_nodes(cs_builder *B)
{
    long n = dispatch_group(B, 0, B->members), per_node = B->s->cluster.gpus_per_node;
    for (long i = 1; i < n; i++)
        if (B->members[i] / per_node != B->members[0] / per_node)
            return 1;
    return 0;
}

static void hybridep_plan(cs_builder *B, cs_op_class k, long mb, long layer)
{
    if (!hybridep(B))
        return;
    long groups = dispatch_groups(B);
    long n = dispatch_group(B, 0, B->members);
    /* over the tp_ep group Megatron widens the map to E etp columns */
    double E = map_columns(B), map = B->sh.Tl * (double)n * E; /* gathered bools */
    long built = cs_build_copies(B, dispatch_group, groups,
                                 flex_over_tp_ep(B) ? CS_SITE_TP_EP : CS_SITE_EXPERT_EP, 1,
                                 CS_COLL_ALL_GATHER, map, NULL);
    for (long g = 0; g < built; g++) {
        long m = dispatch_group(B, g, B->members);
        cs_build_collective(B, B->members, m, CS_COLL_ALL_GATHER, CS_STREAM_EP, CS_OP_EP, mb,
                            layer, map, NULL);
    }
    /* writes: 4 bytes per token and rank of the group, the local experts' bools */
    double plan = B->sh.Tl * (double)n * (4 + (double)B->sh.experts / (double)B->z->ep);
    cs_build_carry(B, -1, k, mb, layer, (cs_work){cs_build_memory_op(B, map + plan), 1, 0, 0});
}

static void hybridep_stage_tokens(cs_builder *B, cs_op_class k, long mb, long layer, int pass)
{
    if (!hybridep(B) || !dispatch_spans_nodes(B))
        return;
    double tokens = DT * B->sh.Tl * B->sh.h;
    double probs = pass == CS_PASS_F ? 4 * B->sh.Tl * map_columns(B) : 0;
    cs_work w = {cs_build_memory_op(B, 2 * (tokens + probs)), pass == CS_PASS_F ? 2 : 1, 0, 0};
    cs_build_carry(B, -1, k, mb, layer, w);
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

/* ---- flex across nodes: once per node, then NVLink ------------------------------------- */

/* DeepEP's internode dispatch and HybridEP's send a token once to each
 * other node holding one of its experts, to the GPU there that has the
 * sender's place among the group's GPUs of its node (RDMA), which forwards
 * it over NVLink to the GPUs of its experts (DeepEP csrc/deep_ep.cpp:
 * rdma_rank = rank / NUM_MAX_NVL_PEERS, nvl_rank = rank % NUM_MAX_NVL_PEERS;
 * HybridEP docs/Hybrid-EP_Implementation.md: rdma_token_buffer holds
 * max_tokens_per_rank x (num_nodes - 1) rows). The two hops are pipelined,
 * so the exchange is one all-to-all of both hops' bytes. */
typedef struct flex_map {
    long n, nodes, g;       /* members, their nodes, members per node */
    long *node, *place;     /* per member: its node (0..nodes-1), its place there */
    long *peer;             /* [node * g + place] -> member */
    double rho;             /* a node's tokens per token of its ranks (balanced) */
} flex_map;

static void flex_map_free(flex_map *f)
{
    free(f->node);
    f->node = f->place = f->peer = NULL;
}

/* The map of a group of the stage, or f->g = 0 (sent rank to rank) when
 * the group sits in one node or its nodes hold unequal shares of it. */
static int flex_map_init(const cs_builder *B, const long *members, long n, flex_map *f)
{
    f->n = n;
    f->nodes = f->g = 0;
    f->node = malloc(3 * (size_t)n * sizeof *f->node);
    if (!f->node)
        return -1;
    f->place = f->node + n;
    f->peer = f->place + n;
    long per_node = B->s->cluster.gpus_per_node;
    long *ids = f->peer; /* scratch until the counts are known */
    for (long i = 0; i < n; i++) {
        long id = members[i] / per_node, r = 0;
        while (r < f->nodes && ids[r] != id)
            r++;
        if (r == f->nodes)
            ids[f->nodes++] = id;
        f->node[i] = r;
        f->place[i] = 0;
        for (long j = 0; j < i; j++)
            f->place[i] += f->node[j] == r;
    }
    if (f->nodes < 2 || n % f->nodes)
        return 0;
    long g = n / f->nodes;
    for (long i = 0; i < n; i++)
        if (f->place[i] >= g)
            return 0;
    for (long i = 0; i < n; i++)
        f->peer[f->node[i] * g + f->place[i]] = i;
    long m = B->z->experts_per_gpu;
    f->rho = cs_routing_hit(&B->m->moe, 0, g * m) / ((double)g * cs_routing_hit(&B->m->moe, 0, m));
    f->g = g;
    return 0;
}

/* The two hops' bytes H of a rank-to-rank table R ([i * n + j]: member i to
 * member j, each token once per rank): what i sends a member of its own
 * node, directly; for a member j of another node, the peer p of i on j's
 * node forwards R[i][j] to j, and i sends p its share of R[i][j] once per
 * node (R[i][j] rho). */
static void flex_hops(const flex_map *f, const double *R, double *H)
{
    long n = f->n;
    for (long x = 0; x < n * n; x++)
        H[x] = 0;
    for (long i = 0; i < n; i++)
        for (long j = 0; j < n; j++) {
            double b = R[i * n + j];
            if (b <= 0 || i == j)
                continue;
            if (f->node[i] == f->node[j]) {
                H[i * n + j] += b;
                continue;
            }
            long p = f->peer[f->node[j] * f->g + f->place[i]];
            if (p != j)
                H[p * n + j] += b;
            H[i * n + p] += f->rho * b;
        }
}

/* Adds what EP member j (rank `rank`) of a group receives to the expert
 * tokens (and per-expert rows) of j and, with etp > 1, of its expert-TP
 * peers, which see their whole group's tokens. */
static void add_expert_tokens(cs_builder *B, long rank, long li, long mb, long j, double received)
{
    long Ls = B->Ls, m = B->z->microbatches;
    long n = cs_place_group_of(B->l, B->z, CS_EXPERT, CS_DIM_TP, rank, B->members_last);
    for (long r = 0; r < n; r++) {
        long local = cs_build_local_of(B, B->members_last[r]);
        B->expert_tokens[(local * Ls + li) * m + mb] += received;
        if (B->expert_rows)
            add_expert_rows(B, local, li, mb, j);
    }
}

/* Balanced routing's two-hop table of group map f, made once per group
 * (*made), from `even` bytes per pair; NULL when out of memory. */
static double *hop_even(cs_builder *B, const flex_map *f, double even, double **made)
{
    if (*made)
        return *made;
    double *R = malloc((size_t)(f->n * f->n) * sizeof *R), *H = table(B, f->n);
    if (R && H) {
        for (long x = 0; x < f->n * f->n; x++)
            R[x] = even;
        flex_hops(f, R, H);
        *made = H;
    }
    free(R);
    return *made;
}

/* Flex's groups spread over nodes (flex_map), and their balanced tables. */
typedef struct flex_hop_set {
    flex_map *maps; /* per EP group of the stage; NULL: not flex over EP */
    double **even;
} flex_hop_set;

static int flex_hop_set_init(cs_builder *B, long groups, flex_hop_set *h)
{
    h->maps = NULL;
    h->even = NULL;
    if (B->t->moe_token_dispatcher_type != CS_DISPATCH_FLEX || flex_over_tp_ep(B) || B->z->ep < 2)
        return 0;
    h->maps = calloc((size_t)groups, sizeof *h->maps);
    h->even = calloc((size_t)groups, sizeof *h->even);
    if (!h->maps || !h->even)
        return -1;
    for (long g = 0; g < groups; g++) {
        cs_build_group(B, CS_EXPERT, CS_DIM_EP, g, B->members);
        if (flex_map_init(B, B->members, B->z->ep, &h->maps[g]) != 0)
            return -1;
    }
    return 0;
}

static void flex_hop_set_free(flex_hop_set *h, long groups)
{
    for (long g = 0; h->maps && g < groups; g++)
        flex_map_free(&h->maps[g]);
    free(h->maps);
    free(h->even);
}

/* Group g's dispatch and combine tables as flex sends them (out and back
 * rank to rank, NULL for even): unchanged within a node, else the two
 * hops'; -1 when out of memory. */
static int flex_hop_tables(cs_builder *B, flex_hop_set *h, long g, double **out, double **back)
{
    if (!h->maps || !h->maps[g].g)
        return 0;
    const flex_map *f = &h->maps[g];
    if (!*out) {
        const cs_shape *sh = &B->sh;
        double even = DT * sh->Tl * sh->topk * sh->h * flex_share(B) / (double)f->n;
        *out = *back = hop_even(B, f, even, &h->even[g]);
        return *out ? 0 : -1;
    }
    /* the two hops into the rank-to-rank tables' own room: combine is
     * dispatch transposed */
    double *H = malloc((size_t)(f->n * f->n) * sizeof *H);
    if (!H)
        return -1;
    flex_hops(f, *out, H);
    for (long i = 0; i < f->n; i++)
        for (long j = 0; j < f->n; j++) {
            (*out)[i * f->n + j] = H[i * f->n + j];
            (*back)[j * f->n + i] = H[i * f->n + j];
        }
    free(H);
    return 0;
}

/* Draws the routing of EP group g (its members in B->members) for one
 * layer and micro-batch: its dispatch and combine tables and its GPUs'
 * expert tokens; returns the tokens dropped, or -1 when out of memory. */
static double route_group(cs_builder *B, flex_hop_set *h, long li, long mb, long g)
{
    const cs_layout_sizes *z = B->z;
    const cs_shape *sh = &B->sh;
    long E = B->m->moe.num_experts, m = z->microbatches, per_rank = E / z->ep;
    long layer = B->stage_layer[li], at = (li * m + mb) * cs_place_groups(z, CS_EXPERT, CS_DIM_EP) + g;
    double capacity = cs_moe_capacity_factor(B->m, B->t), share = flex_share(B);
    double dropped = cs_routing_draw(B->t, capacity, z->ep, E, B->m->moe.router_topk, sh->Tl,
                                     B->prob + layer * E, B->rng, B->counts, B->draws);
    double *out = NULL, *back = NULL;
    if (B->t->moe_routing.mode != CS_ROUTING_BALANCED || capacity > 0) {
        out = table(B, z->ep);
        back = table(B, z->ep);
        if (!out || !back)
            return -1;
    }
    for (long j = 0; j < z->ep; j++) {
        double received = 0;
        for (long i = 0; i < z->ep; i++) {
            double tokens = 0;
            for (long e = j * per_rank; e < (j + 1) * per_rank; e++)
                tokens += B->counts[i * E + e];
            received += tokens;
            if (out) {
                out[i * z->ep + j] = DT * tokens * sh->h * share;
                back[j * z->ep + i] = DT * tokens * sh->h * share;
            }
        }
        B->received[j] = received;
        add_expert_tokens(B, B->members[j], li, mb, j, received);
    }
    if (flex_hop_tables(B, h, g, &out, &back) != 0)
        return -1;
    B->dispatch[at] = out;
    B->combine[at] = back;
    return dropped;
}

/* Draws the routing of every (layer, micro-batch, EP group) of the stage and
 * derives the all-to-all byte tables and each GPU's expert tokens. */
void cs_moe_route_stage(cs_builder *B)
{
    const cs_layout_sizes *z = B->z;
    long Ls = B->Ls, m = z->microbatches;
    long groups = cs_place_groups(z, CS_EXPERT, CS_DIM_EP);
    const cs_shape *sh = &B->sh;
    flex_hop_set h;
    if (flex_hop_set_init(B, groups, &h) != 0)
        B->failed = 1;
    for (long li = 0; li < Ls && !B->failed; li++) {
        if (!cs_build_is_moe(B, B->stage_layer[li]))
            continue;
        for (long mb = 0; mb < m && !B->failed; mb++) {
            double dropped = 0;
            for (long g = 0; g < groups && !B->failed; g++) {
                cs_build_group(B, CS_EXPERT, CS_DIM_EP, g, B->members);
                B->w->routed_tokens += sh->Tl * sh->topk * (double)z->ep;
                /* A reduced build draws the first group only: balanced
                 * routing gives the others its counts (and their expert-TP
                 * peers, the live GPU among them, their tokens). */
                if (B->reduced && g > 0) {
                    B->w->dropped_tokens += dropped;
                    for (long j = 0; j < z->ep; j++)
                        add_expert_tokens(B, B->members[j], li, mb, j, B->received[j]);
                    double *none = NULL, *back = NULL;
                    if (flex_hop_tables(B, &h, g, &none, &back) != 0)
                        B->failed = 1;
                    B->dispatch[(li * m + mb) * groups + g] = none;
                    B->combine[(li * m + mb) * groups + g] = back;
                    continue;
                }
                dropped = route_group(B, &h, li, mb, g);
                if (dropped < 0)
                    B->failed = 1;
                else
                    B->w->dropped_tokens += dropped;
            }
        }
    }
    flex_hop_set_free(&h, groups);
}

/* ---- the dispatcher's rows and the blocks' kernel times ------------------------------ */

/* Flex's rows per row of the other dispatchers (kernels.h; skewed routing
 * keeps the even share). */
static double flex_share(const cs_builder *B)
{
    if (B->t->moe_token_dispatcher_type != CS_DISPATCH_FLEX)
        return 1;
    return cs_kernels_flex_share(&B->m->moe, B->z->ep);
}

static double local_experts(const cs_builder *B)
{
    return B->z->experts_per_gpu > 0 ? (double)B->z->experts_per_gpu : 1;
}

/* Rows of the dispatch on the GPU with stage index `local`. With padding
 * every rank sends every expert its capacity, ceil(c Tl k / E). */
static void dispatch_rows(const cs_builder *B, long local, long layer, long mb, cs_dispatch_rows *r)
{
    const cs_shape *sh = &B->sh;
    double cf = cs_moe_capacity_factor(B->m, B->t);
    r->local_experts = local_experts(B);
    r->expert = cs_moe_expert_tokens(B, local, layer, mb);
    r->sent = sh->Tl * sh->topk;
    if (cf > 0 && B->t->moe_pad_expert_input_to_capacity)
        r->sent = sh->experts * ceil(cf * sh->Tl * sh->topk / sh->experts);
    if (B->t->moe_token_dispatcher_type == CS_DISPATCH_ALLGATHER)
        r->arrived = sh->Tl * (double)(B->z->ep * B->z->etp);
    else
        r->arrived = r->expert * flex_share(B);
}

/* Slots [first, last] of a kernel list as work (FLOPs are not booked for
 * the MoE blocks). */
static cs_work slots_w(cs_builder *B, const cs_kernel_list *l, cs_kernel_slot first,
                       cs_kernel_slot last)
{
    cs_work w = {0, 0, 0, 0};
    for (int s = first; s <= (int)last; s++)
        if (s != CS_SLOT_RECOMPUTE || first == CS_SLOT_RECOMPUTE) {
            w.seconds += cs_cost_slot(&B->cost, l, (cs_kernel_slot)s);
            w.launches += cs_kernels_launches(l, (cs_kernel_slot)s);
            w.ops += cs_kernels_host_ops(l, (cs_kernel_slot)s);
        }
    return w;
}

static void add_work(cs_work *to, cs_work w)
{
    to->seconds += w.seconds;
    to->launches += w.launches;
    to->flops += w.flops;
    to->ops += w.ops;
}

static const cs_kernel_opts *pass_opts(const cs_builder *B, int pass)
{
    return pass == CS_PASS_F ? &B->fwd : &B->bwd;
}

/* The slots of one experts block in a pass: forward all (IN to OUT), fc1
 * (IN), or what follows it (CORE to OUT); backward the recompute slot alone
 * or the input-gradient work (OUT_B to IN_B, recompute left out); the
 * weight gradients. */
static void block_slots(cs_block which, int pass, cs_kernel_slot *first, cs_kernel_slot *last)
{
    if (pass == CS_PASS_F) {
        *first = which == BLOCK_EXPERTS_REST ? CS_SLOT_CORE : CS_SLOT_IN;
        *last = which == BLOCK_EXPERTS_FC1 ? CS_SLOT_IN : CS_SLOT_OUT;
    } else if (pass == CS_PASS_B) {
        int rc = which == BLOCK_EXPERTS_RECOMPUTE;
        *first = rc ? CS_SLOT_RECOMPUTE : CS_SLOT_OUT_B;
        *last = rc ? CS_SLOT_RECOMPUTE : CS_SLOT_IN_B;
    } else {
        *first = CS_SLOT_OUT_W;
        *last = CS_SLOT_IN_W;
    }
}

static cs_work expert_slots(cs_builder *B, const cs_kernel_list *l, int pass, cs_block which)
{
    cs_kernel_slot first, last;
    block_slots(which, pass, &first, &last);
    return slots_w(B, l, first, last);
}

/* The experts' GEMMs of a pass with the dispatcher's work either side of
 * them (the alltoall dispatcher's sort by local expert, the permute on
 * arrival of the others); forward, the part `which` names. */
static cs_work experts_work(cs_builder *B, cs_block which, int pass, long local, long layer,
                            long mb)
{
    const cs_kernel_opts *o = pass_opts(B, pass);
    cs_dispatch_rows r;
    dispatch_rows(B, local, layer, mb, &r);
    cs_kernel_list l;
    cs_work w = {0, 0, 0, 0};
    if (B->expert_rows) { /* SequentialMLP: each expert at its own tokens */
        const double *rows = expert_rows(B, local, cs_build_layer_in_stage(B, layer), mb);
        for (long e = 0; e < B->z->experts_per_gpu; e++) {
            cs_kernels_experts(&B->sh, o, rows[e], 1, &l);
            add_work(&w, expert_slots(B, &l, pass, which));
        }
    } else {
        cs_kernels_experts(&B->sh, o, r.expert, r.local_experts, &l);
        w = expert_slots(B, &l, pass, which);
    }
    if (pass == CS_PASS_W)
        return w;
    cs_kernel_slot first, last;
    block_slots(which, pass, &first, &last);
    cs_kernels_dispatch(&B->sh, o, &r, &l);
    add_work(&w, slots_w(B, &l, first, last));
    return w;
}

static cs_work router_work(cs_builder *B, int pass)
{
    cs_kernel_list l;
    cs_kernels_router(&B->sh, pass_opts(B, pass), &l);
    if (pass == CS_PASS_F)
        return slots_w(B, &l, CS_SLOT_PRE, CS_SLOT_POST);
    return pass == CS_PASS_W ? slots_w(B, &l, CS_SLOT_IN_W, CS_SLOT_IN_W)
                             : slots_w(B, &l, CS_SLOT_POST_B, CS_SLOT_IN_B);
}

/* The dispatcher's work before its communication (PERMUTE) or after the
 * combine's (UNPERMUTE); backward the other way round. */
static cs_work edge_work(cs_builder *B, int before, int pass, long local, long layer, long mb)
{
    if (pass == CS_PASS_W)
        return (cs_work){0, 0, 0, 0};
    cs_dispatch_rows r;
    dispatch_rows(B, local, layer, mb, &r);
    cs_kernel_list l;
    cs_kernels_dispatch(&B->sh, pass_opts(B, pass), &r, &l);
    cs_kernel_slot s = pass == CS_PASS_F ? (before ? CS_SLOT_PRE : CS_SLOT_POST)
                                         : (before ? CS_SLOT_PRE_B : CS_SLOT_POST_B);
    return slots_w(B, &l, s, s);
}

static void shared_cost(cs_builder *B, int pass, cs_block_cost *c)
{
    cs_kernel_list l;
    cs_kernels_mlp(&B->sh, pass_opts(B, pass), B->sh.T, B->sh.ffn_s, B->sh.t, 1, 0, &l);
    cs_layer_block_cost(B, &l, c);
}

/* Kernel times of the MoE blocks on the GPU with stage index `local`. */
cs_work cs_moe_block_work(cs_builder *B, cs_block which, int pass, long local, long layer,
                          long mb)
{
    switch (which) {
    case BLOCK_ROUTER:
        return router_work(B, pass);
    case BLOCK_PERMUTE:
        return edge_work(B, 1, pass, local, layer, mb);
    case BLOCK_EXPERTS:
    case BLOCK_EXPERTS_FC1:
    case BLOCK_EXPERTS_REST:
    case BLOCK_EXPERTS_RECOMPUTE:
        return experts_work(B, which, pass, local, layer, mb);
    default: /* unpermute */
        return edge_work(B, 0, pass, local, layer, mb);
    }
}

/* ---- ops ---------------------------------------------------------------------------- */

/* One slot of the layer's norm and bias-dropout-add around the MoE MLP (no
 * FLOPs booked, as before). */
static cs_work edge_slot(const cs_block_cost *c, cs_kernel_slot s)
{
    return (cs_work){c->s[s], c->n[s], 0, c->ops[s]};
}

static void record_w(cs_builder *B, long local, long layer, long id)
{
    if (id >= 0)
        B->last_w[local * B->Ls + cs_build_layer_in_stage(B, layer)] = id;
}

/* One op per GPU of the stage for a MoE block (none when it has no work;
 * the router's always is), booking mem_begin and mem_end on each GPU. */
static void moe_ops_mem(cs_builder *B, cs_block which, int pass, cs_op_class k, long mb,
                        long layer, double mem_begin, double mem_end)
{
    for (long local = 0; local < B->locals; local++) {
        cs_work w = cs_moe_block_work(B, which, pass, local, layer, mb);
        if (w.seconds <= 0 && which != BLOCK_EXPERTS && which != BLOCK_EXPERTS_FC1 &&
            which != BLOCK_ROUTER)
            continue;
        long id = cs_build_compute(B, B->gpu_of[local], k, mb, layer, w, mem_begin, mem_end);
        if (pass == CS_PASS_W)
            record_w(B, local, layer, id);
    }
}

static void moe_ops(cs_builder *B, cs_block which, int pass, cs_op_class k, long mb, long layer)
{
    moe_ops_mem(B, which, pass, k, mb, layer, 0, 0);
}

/* One op per GPU for slots [first, last] of the shared experts' cost. */
static void shared_ops(cs_builder *B, const cs_block_cost *c, cs_kernel_slot first,
                       cs_kernel_slot last, cs_op_class k, long mb, long layer)
{
    cs_work w = {0, 0, 0, 0};
    for (int s = first; s <= (int)last; s++)
        if (s != CS_SLOT_RECOMPUTE)
            add_work(&w, (cs_work){c->s[s], c->n[s], c->flops[s], c->ops[s]});
    if (w.seconds <= 0)
        return;
    for (long local = 0; local < B->locals; local++) {
        long id = cs_build_compute(B, B->gpu_of[local], k, mb, layer, w, 0, 0);
        if (k == CS_OP_BACKWARD_WEIGHT)
            record_w(B, local, layer, id);
    }
}

/* The allgather dispatcher gathers the tokens (with their probabilities and
 * routing map) of the expert-TP x EP group and reduce-scatters the experts'
 * output back (MoEAllGatherTokenDispatcher: its tp_ep group); `bytes` is
 * the gathered size. */
static void tp_ep_comm(cs_builder *B, cs_coll_op op, long mb, long layer, double bytes)
{
    const cs_layout_sizes *z = B->z;
    if (z->ep * z->etp <= 1)
        return;
    long groups = cs_build_copies(B, tp_ep_group, z->expert_dp, CS_SITE_TP_EP, 0, op, bytes, NULL);
    for (long edp = 0; edp < groups; edp++) {
        long n = tp_ep_group(B, edp, B->members);
        cs_build_collective(B, B->members, n, op, CS_STREAM_EP, CS_OP_EP, mb, layer, bytes, NULL);
    }
}

static double gathered(const cs_builder *B) { return B->sh.Tl * (double)(B->z->ep * B->z->etp); }

static int allgather(const cs_builder *B)
{
    return B->t->moe_token_dispatcher_type == CS_DISPATCH_ALLGATHER;
}

static int has_shared(const cs_builder *B) { return B->sh.ffn_s > 0; }

/* Shared experts overlapped with the dispatcher's communication
 * (moe_shared_expert_overlap; the loader refuses it with allgather). */
static int overlap(const cs_builder *B)
{
    return has_shared(B) && B->t->moe_shared_expert_overlap && !allgather(B);
}

/* The shared experts' TP collectives, asynchronous: with sequence
 * parallelism a gather of the input (reduce-scatter after fc2), else only
 * an all-reduce after fc2 (SharedExpertMLP pre/post_forward_comm); backward
 * the reverse. Returns whether one was launched. */
static int shared_comm(cs_builder *B, int gather, long mb, long layer)
{
    if (B->z->tp <= 1 || (gather && !B->sh.sp))
        return 0;
    cs_coll_op op =
        gather ? CS_COLL_ALL_GATHER : (B->sh.sp ? CS_COLL_REDUCE_SCATTER : CS_COLL_ALL_REDUCE);
    cs_layer_tp_comm(B, op, mb, layer, DT * B->sh.T * B->sh.h, 1);
    return 1;
}

/* The dispatch's (or in backward the combine gradient's) exchange: with the
 * overlap, the shared experts' first half runs beside the all-to-all
 * (SharedExpertMLP on its own stream: the input gather launched before the
 * all-to-all, fc1 after it). */
static void dispatch_comm(cs_builder *B, cs_op_class k, long mb, long layer, int pass, int with_w)
{
    const cs_shape *sh = &B->sh;
    if (allgather(B)) {
        double probs = pass == CS_PASS_F ? 5 * sh->experts : 0; /* fp32 probs, bool map */
        tp_ep_comm(B, CS_COLL_ALL_GATHER, mb, layer, gathered(B) * (DT * sh->h + probs));
        return;
    }
    if (!overlap(B)) {
        ep_comm(B, 1, mb, layer, 0);
        etp_comm(B, 1, mb, layer);
        return;
    }
    cs_block_cost c;
    shared_cost(B, pass, &c);
    int gather = shared_comm(B, 1, mb, layer);
    ep_comm(B, 1, mb, layer, 1);
    if (gather)
        cs_build_release(B, 1); /* fc1 waits for its input, not for the all-to-all */
    if (pass == CS_PASS_F) {
        shared_ops(B, &c, CS_SLOT_IN, CS_SLOT_CORE, k, mb, layer);
    } else {
        shared_ops(B, &c, CS_SLOT_OUT_B, CS_SLOT_CORE_B, k, mb, layer);
        if (with_w)
            shared_ops(B, &c, CS_SLOT_OUT_W, CS_SLOT_OUT_W, CS_OP_BACKWARD_WEIGHT, mb, layer);
    }
    cs_build_release(B, 0);
    etp_comm(B, 1, mb, layer);
}

/* The combine's (or the dispatch gradient's) exchange, the shared experts'
 * second half beside it; their reduction is waited for by what follows the
 * unpermute (the router's backward in backward). */
static void combine_comm(cs_builder *B, cs_op_class k, long mb, long layer, int pass, int with_w)
{
    const cs_shape *sh = &B->sh;
    if (allgather(B)) {
        double probs = pass == CS_PASS_F ? 0 : 4 * sh->experts; /* the probs' gradient */
        tp_ep_comm(B, CS_COLL_REDUCE_SCATTER, mb, layer, gathered(B) * (DT * sh->h + probs));
        return;
    }
    etp_comm(B, 0, mb, layer);
    if (!overlap(B)) {
        ep_comm(B, 0, mb, layer, 0);
        return;
    }
    cs_block_cost c;
    shared_cost(B, pass, &c);
    ep_comm(B, 0, mb, layer, 1);
    if (pass == CS_PASS_F) {
        shared_ops(B, &c, CS_SLOT_OUT, CS_SLOT_OUT, k, mb, layer);
    } else {
        shared_ops(B, &c, CS_SLOT_IN_B, CS_SLOT_IN_B, k, mb, layer);
        if (with_w)
            shared_ops(B, &c, CS_SLOT_IN_W, CS_SLOT_IN_W, CS_OP_BACKWARD_WEIGHT, mb, layer);
    }
    int reduce = shared_comm(B, 0, mb, layer);
    if (B->z->ep > 1 || flex_over_tp_ep(B) || !reduce)
        cs_build_release(B, 1); /* the unpermute waits for the all-to-all only */
}

/* Whether the forward's host waits for the GPU once per MoE layer, as every
 * dropless dispatcher of Megatron-Core makes it (token_dispatcher.py):
 * allgather copies the tokens per local expert to the host after the
 * gather (dispatch_postprocess); alltoall copies its split sizes after the
 * router and waits before the all-to-all (cuda_dtoh_point
 * before_permutation_1, cuda_sync_point before_ep_alltoall, or
 * before_permutation_1 with a capacity); flex's DeepEP busy-waits in its
 * dispatch for the tokens it will receive (buffer.dispatch: moe_recv_counter).
 * Only alltoall with padding to capacity (drop_and_pad) has nothing to wait
 * for. The backward reuses the sizes kept from the forward: no wait. */
static int host_syncs(const cs_builder *B)
{
    int pad = cs_moe_capacity_factor(B->m, B->t) > 0 && B->t->moe_pad_expert_input_to_capacity;
    return !(B->t->moe_token_dispatcher_type == CS_DISPATCH_ALLTOALL && pad);
}

/* Whether the host waits between fc1 and the activation: the grouped
 * experts' fused quick-GeGLU makes its linear offset a tensor with
 * torch.tensor(offset, device=cuda) (fused_bias_geglu.py, weighted_bias_-
 * quick_geglu_impl), a copy from pageable memory that synchronizes the
 * stream (pytorch/pytorch#120996): the host waits for fc1 to end, then
 * issues the rest while the GPU idles. */
static int activation_waits(const cs_builder *B)
{
    return B->hosted && B->sh.quick_geglu && B->t->bias_gelu_fusion && B->t->moe_grouped_gemm &&
           !B->expert_rows;
}

/* MoELayer.forward: the shared experts (before the router unless
 * overlapped), router, permute, dispatch, experts, combine, unpermute; the
 * router's op books `rebuilt` (what a `moe` recompute's rerun rebuilds). */
static void moe_layer_forward(cs_builder *B, long mb, long layer, cs_op_class k, double rebuilt)
{
    if (has_shared(B) && !overlap(B)) {
        cs_block_cost c;
        shared_cost(B, CS_PASS_F, &c);
        cs_layer_block_forward(B, &c, k, mb, layer);
    }
    moe_ops_mem(B, BLOCK_ROUTER, CS_PASS_F, k, mb, layer, rebuilt, 0);
    /* alltoall with neither EP nor TP waits at the end (before_finish) */
    int sync = host_syncs(B);
    int a2a = B->t->moe_token_dispatcher_type == CS_DISPATCH_ALLTOALL;
    int late = sync && a2a && B->z->ep * B->z->etp * B->z->tp == 1;
    int early = sync && !allgather(B) && !late;
    /* Unfused, a dropless permute selects its rows with masked_select,
     * whose output size the host waits for (moe_utils.py permute:
     * token_indices.masked_select(routing_map), probs.masked_select):
     * alltoall's host waits there, before the permute, and flex's once the
     * tokens have arrived, before it permutes them (with the unfused
     * indices-to-multihot's own waits, token_dispatcher.py:1198-1226). */
    int unfused = sync && !B->t->moe_permute_fusion;
    if (early || (late && unfused))
        cs_build_host_mark(B); /* the copy of the splits, after the router's counts */
    if ((early && cs_moe_capacity_factor(B->m, B->t) > 0) || (a2a && unfused))
        cs_build_host_sync(B); /* with a capacity: before_permutation_1 */
    moe_ops(B, BLOCK_PERMUTE, CS_PASS_F, k, mb, layer);
    hybridep_plan(B, k, mb, layer);
    if (early) /* alltoall: before_ep_alltoall; flex: in the dispatch (none if done) */
        cs_build_host_sync(B);
    hybridep_stage_tokens(B, k, mb, layer, CS_PASS_F);
    dispatch_comm(B, k, mb, layer, CS_PASS_F, 0);
    if (sync && (allgather(B) || (unfused && !a2a))) {
        cs_build_host_mark(B); /* tokens_per_expert of the gathered map; flex's permute */
        cs_build_host_sync(B);
    }
    if (activation_waits(B)) {
        moe_ops(B, BLOCK_EXPERTS_FC1, CS_PASS_F, k, mb, layer);
        cs_build_host_mark(B);
        cs_build_host_sync(B);
        moe_ops(B, BLOCK_EXPERTS_REST, CS_PASS_F, k, mb, layer);
    } else {
        moe_ops(B, BLOCK_EXPERTS, CS_PASS_F, k, mb, layer);
    }
    combine_comm(B, k, mb, layer, CS_PASS_F, 0);
    moe_ops(B, BLOCK_UNPERMUTE, CS_PASS_F, k, mb, layer);
    if (late) {
        cs_build_host_mark(B);
        cs_build_host_sync(B);
    }
    if (overlap(B))
        cs_build_release(B, 0); /* the shared experts' output is added */
}

/* The MoE MLP of a layer's forward (or its replay under full recompute):
 * pre-MLP norm, MoELayer.forward, then the bias-dropout-add. */
void cs_moe_forward(cs_builder *B, long mb, long layer, cs_op_class k)
{
    cs_build_carry(B, -1, k, mb, layer, edge_slot(&B->edges_f, CS_SLOT_PRE));
    moe_layer_forward(B, mb, layer, k, 0);
    cs_build_carry(B, -1, k, mb, layer, edge_slot(&B->edges_f, CS_SLOT_POST));
}

/* Its input-gradient pass, each block's W right after its B with `with_w`. */
void cs_moe_backward(cs_builder *B, long mb, long layer, int with_w)
{
    cs_build_carry(B, -1, CS_OP_BACKWARD_INPUT, mb, layer, edge_slot(&B->edges_b, CS_SLOT_POST_B));
    /* layernorm recompute: the pre-MLP norm reruns first */
    cs_build_carry(B, -1, CS_OP_RECOMPUTE, mb, layer, edge_slot(&B->edges_b, CS_SLOT_RECOMPUTE));
    /* moe recompute: the checkpointed MoELayer.forward reruns whole, its
     * all-to-alls and host wait included (tensor_parallel.checkpoint in
     * moe_layer.py), rebuilding what it saves until its backward ends */
    double rebuilt = cs_memory_moe_rebuilt(B->m, B->t, B->z, layer);
    if (cs_recomputes(B->z->recompute, B->t, CS_RC_MOE))
        moe_layer_forward(B, mb, layer, CS_OP_RECOMPUTE, rebuilt);
    moe_ops(B, BLOCK_UNPERMUTE, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer);
    hybridep_stage_tokens(B, CS_OP_BACKWARD_INPUT, mb, layer, CS_PASS_B);
    dispatch_comm(B, CS_OP_BACKWARD_INPUT, mb, layer, CS_PASS_B, with_w);
    /* moe_act recompute reruns the activation, and with it the quick-GeGLU's
     * synchronizing copy: the host waits for the rerun (in Megatron for its
     * clamp, a few memory kernels earlier: the GPU idles for one launch
     * either way). */
    moe_ops(B, BLOCK_EXPERTS_RECOMPUTE, CS_PASS_B, CS_OP_RECOMPUTE, mb, layer);
    if (activation_waits(B) && cs_recomputes(B->z->recompute, B->t, CS_RC_MOE_ACT)) {
        cs_build_host_mark(B);
        cs_build_host_sync(B);
    }
    moe_ops(B, BLOCK_EXPERTS, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer);
    if (with_w)
        moe_ops(B, BLOCK_EXPERTS, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer);
    combine_comm(B, CS_OP_BACKWARD_INPUT, mb, layer, CS_PASS_B, with_w);
    moe_ops(B, BLOCK_PERMUTE, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer);
    /* the rebuilt tensors go with the router's backward, but for the
     * experts' GEMM inputs that deferred weight gradients read (zb-h1) */
    double kept_for_w = with_w ? 0 : cs_memory_moe_w_inputs(B->m, B->t, B->z, layer);
    moe_ops_mem(B, BLOCK_ROUTER, CS_PASS_B, CS_OP_BACKWARD_INPUT, mb, layer, 0,
                -(rebuilt - kept_for_w));
    if (with_w)
        moe_ops(B, BLOCK_ROUTER, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer);
    if (overlap(B))
        cs_build_release(B, 0);
    if (has_shared(B) && !overlap(B)) {
        cs_block_cost c;
        shared_cost(B, CS_PASS_B, &c);
        cs_layer_block_backward(B, &c, with_w, mb, layer);
    }
    cs_build_carry(B, -1, CS_OP_BACKWARD_INPUT, mb, layer, edge_slot(&B->edges_b, CS_SLOT_PRE_B));
}

/* Its weight-gradient pass (zb-h1): no communication. */
void cs_moe_weight(cs_builder *B, long mb, long layer)
{
    moe_ops(B, BLOCK_EXPERTS, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer);
    moe_ops_mem(B, BLOCK_ROUTER, CS_PASS_W, CS_OP_BACKWARD_WEIGHT, mb, layer, 0,
                -cs_memory_moe_w_inputs(B->m, B->t, B->z, layer));
    if (has_shared(B)) {
        cs_block_cost c;
        shared_cost(B, CS_PASS_B, &c);
        shared_ops(B, &c, CS_SLOT_OUT_W, CS_SLOT_IN_W, CS_OP_BACKWARD_WEIGHT, mb, layer);
    }
}
