#include "net/pattern.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    if (sp->nodes > 1 && sp->per_node)
        sp->channels = channel_count(f, s, sp->per_node);
}

/* ---- building ------------------------------------------------------------ */

typedef struct builder {
    cs_pattern *p;
    const cs_fabric *f;
    const cs_coll_spec *s;
    const cs_span *sp;
    int phase;
} builder;

static void add(builder *b, long src, long dst, long link, double bytes)
{
    cs_pattern *p = b->p;
    if (bytes <= 0 || (src == dst && link < 0))
        return;
    if (p->count == p->cap) {
        long cap = p->cap ? 2 * p->cap : 64;
        cs_pflow *flows = realloc(p->flows, (size_t)cap * sizeof *flows);
        if (!flows) {
            p->failed = 1;
            return;
        }
        p->flows = flows;
        p->cap = cap;
    }
    p->flows[p->count++] = (cs_pflow){(int32_t)src, (int32_t)dst, (int32_t)link, b->phase, bytes};
}

/* Member index -> GPU. */
static long gpu(const builder *b, long i) { return b->s->gpus[i]; }

/* A hop from member a to member b. Between nodes of a group listed node by
 * node it is spread over the channels: channel k leaves the sending node
 * through NIC k (from the last of the members that share it) and enters the
 * receiving node through its NIC k, rail to rail, as NCCL's rings do (its
 * graph search keeps a ring on one NIC index in every node). */
static void hop(builder *b, long a, long c, double bytes)
{
    long g = b->sp->per_node, ch = b->sp->channels;
    if (g == 0 || ch <= 1 || a / g == c / g) {
        add(b, gpu(b, a), gpu(b, c), -1, bytes);
        return;
    }
    long step = g / ch, xa = a / g * g, xc = c / g * g;
    for (long k = 0; k < ch; k++)
        add(b, gpu(b, xa + k * step + step - 1), gpu(b, xc + k * step), -1, bytes / (double)ch);
}

/* Every ordered pair of members first .. first + k - 1 exchanges `bytes`
 * directly: what rings over every link of a full mesh (one per link
 * direction) put on each link. */
static void all_pairs(builder *b, long first, long k, double bytes)
{
    for (long i = first; i < first + k; i++)
        for (long j = first; j < first + k; j++)
            if (i != j)
                add(b, gpu(b, i), gpu(b, j), -1, bytes);
}

/* A ring through members first, first + stride, ... (k of them), each edge
 * carrying `bytes`. */
static void ring_edges(builder *b, long first, long stride, long k, double bytes)
{
    if (k < 2)
        return;
    for (long i = 0; i < k; i++)
        hop(b, first + i * stride, first + (i + 1) % k * stride, bytes);
}

/* Ring all-reduce, all-gather or reduce-scatter. `edge` is what a flat ring's
 * edge carries (2(n-1)/n S or (n-1)/n S). Inside a switch node, one ring;
 * across switch nodes, one ring with its node-crossing hops over every
 * channel; on mesh nodes the rings use every link: each node's members
 * exchange directly, and each local rank runs a ring across the nodes on its
 * 1/g share (what RCCL's and HCCL's channels put on the links). */
static void ring(builder *b, double edge)
{
    const cs_coll_spec *s = b->s;
    long n = s->n, g = b->sp->per_node, N = b->sp->nodes;
    double S = s->bytes;
    if (!b->f->mesh || (N > 1 && g < 2)) {
        ring_edges(b, 0, 1, n, edge);
        return;
    }
    if (N <= 1) {
        all_pairs(b, 0, n, edge / (double)(n - 1));
        return;
    }
    int reduce = s->op == CS_COLL_ALL_REDUCE;
    double intra = reduce ? 2 * S / (double)g : S / (double)g;
    double inter = reduce ? 2.0 * (double)(N - 1) / (double)N * S / (double)g
                          : (double)(N - 1) * S / (double)n;
    for (long x = 0; x < N; x++)
        all_pairs(b, x * g, g, intra);
    for (long i = 0; i < g; i++)
        for (long x = 0; x < N; x++)
            add(b, gpu(b, x * g + i), gpu(b, (x + 1) % N * g + i), -1, inter);
}

/* NCCL's double binary tree over the nodes, a chain through each node's
 * members ending at the node's head (its last member). Each tree carries
 * half of the buffer up (reduce) and down (broadcast) every edge, both at
 * once once the pipeline runs. */
static int tree(builder *b)
{
    long g = b->sp->per_node ? b->sp->per_node : 1;
    long N = b->sp->per_node ? b->sp->nodes : b->s->n;
    if (N < 2)
        return -2;
    double half = b->s->bytes / 2;
    for (int mirrored = 0; mirrored < 2; mirrored++)
        for (long p = 0; p < N; p++) {
            long x = mirrored ? N - 1 - p : p;
            for (long j = 0; j + 1 < g; j++) {
                hop(b, x * g + j, x * g + j + 1, half);
                hop(b, x * g + j + 1, x * g + j, half);
            }
            if (p == 0)
                continue;
            long q = (p - 1) / 2, parent = mirrored ? N - 1 - q : q;
            hop(b, x * g + g - 1, parent * g + g - 1, half);
            hop(b, parent * g + g - 1, x * g + g - 1, half);
        }
    return 0;
}

/* NVLS ports of member i: `up` bytes to the switch, `down` from it, scaled so
 * that the links' capacity stands for NVLS's own. */
static void nvls_ports(builder *b, long i, double up, double down)
{
    const cs_fabric *f = b->f;
    long g = gpu(b, i), ul = cs_fabric_uplink(f, g), dl = cs_fabric_downlink(f, g);
    add(b, g, g, ul, up * f->capacity[ul] / f->coll.nvls_capacity);
    add(b, g, g, dl, down * f->capacity[dl] / f->coll.nvls_capacity);
}

/* NVLS: every GPU's port to the switch carries `up`, its port from the switch
 * `down`; the switch reduces (all-reduce, reduce-scatter) and multicasts
 * (all-reduce, all-gather). */
static int nvls(builder *b)
{
    const cs_fabric *f = b->f;
    const cs_coll_spec *s = b->s;
    if (!f->coll.nvls || b->sp->nodes != 1)
        return -2;
    double n = (double)s->n, S = s->bytes, up = S, down = S;
    if (s->op == CS_COLL_ALL_GATHER) {
        up = S / n;
        down = S * (n - 1) / n;
    } else if (s->op == CS_COLL_REDUCE_SCATTER) {
        up = S * (n - 1) / n;
        down = S / n;
    }
    for (long i = 0; i < s->n; i++)
        nvls_ports(b, i, up, down);
    return 0;
}

/* NCCL's NVLS tree: an NVLS reduce-scatter in each node leaves each of its g
 * members a 1/g share; the members of one local rank run a double binary
 * tree over the nodes on it; an NVLS all-gather spreads the result. Each
 * GPU's switch ports carry the buffer once each way, as in NVLS. */
static int nvls_tree(builder *b)
{
    long g = b->sp->per_node, N = b->sp->nodes;
    double S = b->s->bytes, quarter = S / (2.0 * (double)g);
    if (!b->f->coll.nvls || g < 2 || N < 2)
        return -2;
    for (long i = 0; i < b->s->n; i++)
        nvls_ports(b, i, S, S);
    for (long i = 0; i < g; i++)
        for (int mirrored = 0; mirrored < 2; mirrored++)
            for (long p = 1; p < N; p++) {
                long q = (p - 1) / 2;
                long x = mirrored ? N - 1 - p : p, parent = mirrored ? N - 1 - q : q;
                add(b, gpu(b, x * g + i), gpu(b, parent * g + i), -1, quarter);
                add(b, gpu(b, parent * g + i), gpu(b, x * g + i), -1, quarter);
            }
    return 0;
}

/* Reduce-scatter inside each node, all-reduce of each 1/g share across the
 * nodes (one ring per local rank), all-gather inside each node: three
 * phases, each waiting for the one before. */
static void intra_reduce_scatter(builder *b, long g, long N, double S)
{
    for (long x = 0; x < N; x++) {
        if (b->f->mesh)
            all_pairs(b, x * g, g, S / (double)g);
        else
            ring_edges(b, x * g, 1, g, (double)(g - 1) / (double)g * S);
    }
}

static int hierarchical(builder *b)
{
    long g = b->sp->per_node, N = b->sp->nodes;
    double S = b->s->bytes;
    if (g < 2 || N < 2)
        return -2;
    intra_reduce_scatter(b, g, N, S);
    b->phase = 1;
    for (long i = 0; i < g; i++)
        for (long x = 0; x < N; x++)
            add(b, gpu(b, x * g + i), gpu(b, (x + 1) % N * g + i), -1,
                2.0 * (double)(N - 1) / (double)N * S / (double)g);
    b->phase = 2; /* the all-gather moves what the reduce-scatter did, back */
    intra_reduce_scatter(b, g, N, S);
    return 0;
}

/* Point-to-point: all-to-all (every ordered pair at once, sizes may
 * differ), send/recv (each rank to the next), p2p (the first to the second). */
static int p2p(builder *b)
{
    const cs_coll_spec *s = b->s;
    long n = s->n;
    switch (s->op) {
    case CS_COLL_ALLTOALL:
        for (long i = 0; i < n; i++)
            for (long j = 0; j < n; j++)
                if (i != j)
                    add(b, gpu(b, i), gpu(b, j), -1,
                        s->pair_bytes ? s->pair_bytes[i * n + j] : s->bytes / (double)n);
        return 0;
    case CS_COLL_SENDRECV:
        for (long i = 0; i < n; i++)
            add(b, gpu(b, i), gpu(b, (i + 1) % n), -1, s->bytes);
        return 0;
    case CS_COLL_P2P:
        add(b, gpu(b, 0), gpu(b, 1), -1, s->bytes);
        return 0;
    default:
        return -2;
    }
}

/* Broadcast: a chain from the root, every hop carrying the message (a
 * pipelined chain keeps them all busy), hops between nodes over every
 * channel. */
static void chain(builder *b)
{
    const cs_coll_spec *s = b->s;
    for (long h = 0; h + 1 < s->n; h++)
        hop(b, (s->root + h) % s->n, (s->root + h + 1) % s->n, s->bytes);
}

int cs_pattern_build(cs_pattern *p, const cs_fabric *f, const cs_coll_spec *s, const cs_span *sp,
                     cs_coll_algo algo)
{
    memset(p, 0, sizeof *p);
    builder b = {p, f, s, sp, 0};
    int rc = 0, ring_op = s->op == CS_COLL_ALL_REDUCE || s->op == CS_COLL_ALL_GATHER ||
                          s->op == CS_COLL_REDUCE_SCATTER;
    if (s->n < 2)
        return 0;
    switch (algo) {
    case CS_ALGO_RING:
        if (ring_op)
            ring(&b, cs_collective_bus_factor(s->op, s->n) * s->bytes);
        else if (s->op == CS_COLL_BROADCAST)
            chain(&b);
        else
            rc = -2;
        break;
    case CS_ALGO_TREE:
        rc = s->op == CS_COLL_ALL_REDUCE ? tree(&b) : -2;
        break;
    case CS_ALGO_NVLS:
        rc = ring_op ? nvls(&b) : -2;
        break;
    case CS_ALGO_HIERARCHICAL:
        rc = s->op == CS_COLL_ALL_REDUCE ? hierarchical(&b) : -2;
        break;
    case CS_ALGO_NVLS_TREE:
        rc = s->op == CS_COLL_ALL_REDUCE ? nvls_tree(&b) : -2;
        break;
    case CS_ALGO_P2P:
        rc = p2p(&b);
        break;
    default:
        rc = -2;
    }
    if (rc == 0 && p->failed)
        rc = -1;
    if (rc != 0)
        cs_pattern_free(p);
    return rc;
}

void cs_pattern_free(cs_pattern *p)
{
    free(p->flows);
    memset(p, 0, sizeof *p);
}

/* ---- load ---------------------------------------------------------------- */

/* The largest bytes / capacity over the links touched, which it zeroes again. */
static double phase_time(const cs_fabric *f, double *sums, const int32_t *touched, long count)
{
    double worst = 0;
    for (long i = 0; i < count; i++) {
        double t = sums[touched[i]] / f->capacity[touched[i]];
        if (t > worst)
            worst = t;
        sums[touched[i]] = 0;
    }
    return worst;
}

double cs_pattern_load_time(const cs_pattern *p, const cs_fabric *f, double *sums)
{
    if (p->count == 0)
        return 0;
    double *own = NULL;
    if (!sums && !(sums = own = calloc((size_t)f->link_count, sizeof *sums)))
        return -1;
    int32_t *touched = malloc((size_t)p->count * CS_ROUTE_MAX * sizeof *touched);
    if (!touched) {
        free(own);
        return -1;
    }
    long m = 0;
    double total = 0;
    for (long i = 0; i < p->count; i++) {
        const cs_pflow *x = &p->flows[i];
        if (i > 0 && x->phase != p->flows[i - 1].phase) {
            total += phase_time(f, sums, touched, m);
            m = 0;
        }
        long links[CS_ROUTE_MAX];
        double lat;
        int k = 1;
        if (x->link >= 0)
            links[0] = x->link;
        else
            k = cs_fabric_route(f, x->src, x->dst, links, &lat);
        for (int j = 0; j < k; j++) {
            if (sums[links[j]] == 0)
                touched[m++] = (int32_t)links[j];
            sums[links[j]] += x->bytes;
        }
    }
    total += phase_time(f, sums, touched, m);
    free(touched);
    free(own);
    return total;
}
