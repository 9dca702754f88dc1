/* collective_cost: what a collective's group spans (nodes, members per node,
 * channels, the slowest link class) and its alpha-beta time per algorithm:
 * the analytic network model, and what `auto` picks by (see collective.h). */
#include "net/collective_span.h"

#include <math.h>
#include <string.h>

/* Chunks a pipelined chain or tree splits its message into. */
long cs_coll_chunks(double bytes)
{
    double c = ceil(bytes / (512.0 * 1024));
    return c < 1 ? 1 : c > 64 ? 64 : (long)c;
}

/* ---- what the group spans ------------------------------------------------ */

/* Members per node when they come node by node (each node's members
 * together, no node twice), the same number on each; else 0. *nodes receives
 * the number of runs of consecutive members on one node. */
static long members_per_node(const cs_fabric *f, const cs_coll_spec *s, long *nodes)
{
    long runs = 0, per = 0, regular = 1;
    for (long i = 0; i < s->n;) {
        long node = cs_fabric_node_of(f, s->gpus[i]), j = i;
        while (j < s->n && cs_fabric_node_of(f, s->gpus[j]) == node)
            j++;
        for (long k = 0; k < i && regular; k++) /* a node met again */
            regular = cs_fabric_node_of(f, s->gpus[k]) != node;
        if (per == 0)
            per = j - i;
        regular &= j - i == per;
        runs++;
        i = j;
    }
    *nodes = runs;
    return regular ? per : 0;
}

/* NCCL runs one ring or tree per NIC a node's members use, each crossing the
 * node boundary through its own NIC, and splits the data over them. */
static long channel_count(const cs_fabric *f, const cs_coll_spec *s, long per_node)
{
    long distinct = 0;
    for (long i = 0; i < per_node; i++) {
        long nic = cs_fabric_nic_of(f, s->gpus[i]), seen = 0;
        for (long j = 0; j < i; j++)
            seen |= cs_fabric_nic_of(f, s->gpus[j]) == nic;
        distinct += !seen;
    }
    return distinct > 0 && per_node % distinct == 0 ? distinct : 1;
}

void cs_coll_span(const cs_fabric *f, const cs_coll_spec *s, cs_span *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->per_node = members_per_node(f, s, &sp->nodes);
    sp->channels = 1;
    sp->up_alpha = f->class_latency[CS_LINK_SCALE_UP];
    sp->up_beta = 1.0 / f->class_bandwidth[CS_LINK_SCALE_UP];
    sp->alpha = sp->up_alpha;
    sp->beta = sp->up_beta;
    if (sp->nodes <= 1)
        return;
    for (long i = 1; i < s->n && !sp->crosses_leaves; i++) {
        long links[CS_ROUTE_MAX];
        double lat;
        int k = cs_fabric_route(f, s->gpus[0], s->gpus[i], links, &lat);
        for (int j = 0; j < k; j++)
            sp->crosses_leaves |= f->klass[links[j]] == CS_LINK_SPINE;
    }
    if (sp->per_node)
        sp->channels = channel_count(f, s, sp->per_node);
    double link = sp->crosses_leaves ? f->spine_bandwidth : f->nic_bandwidth;
    sp->out_alpha = f->class_latency[sp->crosses_leaves ? CS_LINK_SPINE : CS_LINK_NIC];
    sp->out_beta = 1.0 / ((double)sp->channels * link);
    if (sp->out_alpha > sp->alpha)
        sp->alpha = sp->out_alpha;
    if (sp->out_beta > sp->beta)
        sp->beta = sp->out_beta;
}

/* ---- alpha-beta times ---------------------------------------------------- */

static double ring_allreduce_time(double n, double S, double a, double b)
{
    return n > 1 ? 2 * (n - 1) * (a + S / n * b) : 0;
}

static double alltoall_time(const cs_fabric *f, const cs_coll_spec *s, const cs_span *sp)
{
    /* Every rank sends at once, each over its own links: the rank with the
     * most bytes on its slower class decides. */
    double out_beta = 1.0 / f->class_bandwidth[sp->crosses_leaves ? CS_LINK_SPINE : CS_LINK_NIC];
    double worst = 0;
    for (long i = 0; i < s->n; i++) {
        double up = 0, out = 0;
        long node_i = cs_fabric_node_of(f, s->gpus[i]);
        for (long j = 0; j < s->n; j++) {
            if (j == i)
                continue;
            double b = s->pair_bytes ? s->pair_bytes[i * s->n + j] : s->bytes / (double)s->n;
            if (cs_fabric_node_of(f, s->gpus[j]) == node_i)
                up += b;
            else
                out += b;
        }
        double t = up * sp->up_beta > out * out_beta ? up * sp->up_beta : out * out_beta;
        if (t > worst)
            worst = t;
    }
    return (double)(s->n - 1) * sp->alpha + worst;
}

cs_coll_algo cs_collective_choose(const cs_fabric *f, const cs_coll_spec *s)
{
    if (s->algo != CS_ALGO_AUTO)
        return s->algo;
    if (s->op != CS_COLL_ALL_REDUCE)
        return CS_ALGO_RING;
    cs_span sp;
    cs_coll_span(f, s, &sp);
    if (sp.nodes <= 1)
        return CS_ALGO_RING;
    cs_coll_spec ring = *s, tree = *s;
    ring.algo = CS_ALGO_RING;
    tree.algo = CS_ALGO_TREE;
    return cs_collective_analytic_time(f, &tree) < cs_collective_analytic_time(f, &ring)
               ? CS_ALGO_TREE
               : CS_ALGO_RING;
}

/* Double binary tree over nodes with a chain inside each node, pipelined:
 * the chain and the tree's depth are paid in latency on the way up and down;
 * every rank sends and receives the whole buffer once each way. */
static double tree_allreduce_time(const cs_span *sp, double n, double S)
{
    double g = sp->per_node ? (double)sp->per_node : 1;
    double levels = sp->per_node ? (double)sp->nodes : n;
    double between = sp->nodes > 1 ? sp->out_alpha : sp->up_alpha;
    double latency = (g - 1) * sp->up_alpha + ceil(log2(levels)) * between;
    return 2 * latency + 2 * S * sp->beta;
}

double cs_collective_analytic_time(const cs_fabric *f, const cs_coll_spec *s)
{
    cs_span sp;
    cs_coll_span(f, s, &sp);
    double n = (double)s->n, S = s->bytes, a = sp.alpha, b = sp.beta;
    if (s->n <= 1)
        return 0;
    switch (s->op) {
    case CS_COLL_ALL_REDUCE:
        switch (cs_collective_choose(f, s)) {
        case CS_ALGO_TREE:
            return tree_allreduce_time(&sp, n, S);
        case CS_ALGO_HIERARCHICAL:
            if (sp.per_node && sp.nodes > 1) {
                /* Phase 2 runs one ring per local rank, each through its own NIC share. */
                cs_link_class out = sp.crosses_leaves ? CS_LINK_SPINE : CS_LINK_NIC;
                double g = (double)sp.per_node, N = (double)sp.nodes;
                return ring_allreduce_time(g, S, sp.up_alpha, sp.up_beta) +
                       ring_allreduce_time(N, S / g, sp.out_alpha, 1.0 / f->class_bandwidth[out]);
            }
            return ring_allreduce_time(n, S, a, b);
        default:
            return ring_allreduce_time(n, S, a, b);
        }
    case CS_COLL_ALL_GATHER:
    case CS_COLL_REDUCE_SCATTER:
        return (n - 1) * (a + S / n * b);
    case CS_COLL_ALLTOALL:
        return alltoall_time(f, s, &sp);
    case CS_COLL_SENDRECV:
    case CS_COLL_P2P:
        return a + S * b;
    case CS_COLL_BROADCAST: {
        double c = (double)cs_coll_chunks(S);
        return (n - 2 + c) * (a + S / c * b);
    }
    default:
        return 0;
    }
}
