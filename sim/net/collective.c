#include "net/collective.h"

#include "net/collective_span.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[CS_COLL_OP_COUNT] = {
    "all_reduce", "all_gather", "reduce_scatter", "alltoall", "sendrecv", "broadcast", "p2p"};
static const char *const algo_names[] = {"auto", "ring", "tree", "hierarchical"};

const char *cs_coll_op_name(cs_coll_op op) { return op_names[op]; }
const char *cs_coll_algo_name(cs_coll_algo a) { return algo_names[a]; }

int cs_coll_op_parse(const char *name)
{
    for (int i = 0; i < CS_COLL_OP_COUNT; i++)
        if (!strcmp(name, op_names[i]))
            return i;
    return -1;
}

int cs_coll_algo_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, algo_names[i]))
            return i;
    return -1;
}

double cs_collective_bus_factor(cs_coll_op op, long n)
{
    double nn = (double)n;
    switch (op) {
    case CS_COLL_ALL_REDUCE:
        return 2.0 * (nn - 1) / nn;
    case CS_COLL_ALL_GATHER:
    case CS_COLL_REDUCE_SCATTER:
    case CS_COLL_ALLTOALL:
        return (nn - 1) / nn;
    default:
        return 1.0;
    }
}

/* ---- transfer graphs ----------------------------------------------------- */

/* Graphs reach millions of transfers (a ring over 512 GPUs has a million):
 * 32-bit indices keep them compact. */
typedef struct xfer {
    int32_t src, dst;
    double bytes;
    int32_t pending; /* predecessors not yet done */
    int32_t succ_count;
    int64_t succ_start;
} xfer;

typedef struct dag {
    xfer *x;
    long n, cap;
    int32_t *edge_from, *edge_to;
    long ne, ecap;
    int failed;
} dag;

static long add_xfer(dag *d, long src, long dst, double bytes)
{
    if (d->n >= INT32_MAX - 1) {
        d->failed = 1;
        return -1;
    }
    if (d->n == d->cap) {
        long cap = d->cap ? 2 * d->cap : 64;
        xfer *x = realloc(d->x, (size_t)cap * sizeof *x);
        if (!x) {
            d->failed = 1;
            return -1;
        }
        d->x = x;
        d->cap = cap;
    }
    d->x[d->n] = (xfer){(int32_t)src, (int32_t)dst, bytes, 0, 0, 0};
    return d->n++;
}

/* `after` waits for `before`; a negative id (none) adds nothing. */
static void add_dep(dag *d, long before, long after)
{
    if (before < 0 || after < 0)
        return;
    if (d->ne == d->ecap) {
        long cap = d->ecap ? 2 * d->ecap : 128;
        int32_t *from = realloc(d->edge_from, (size_t)cap * sizeof *from);
        if (from)
            d->edge_from = from;
        int32_t *to = realloc(d->edge_to, (size_t)cap * sizeof *to);
        if (to)
            d->edge_to = to;
        if (!from || !to) {
            d->failed = 1;
            return;
        }
        d->ecap = cap;
    }
    d->edge_from[d->ne] = (int32_t)before;
    d->edge_to[d->ne++] = (int32_t)after;
    d->x[after].pending++;
}

/* A zero-byte transfer of a GPU to itself: completes as soon as its
 * predecessors do, so phases can wait on "all of these". */
static long add_join(dag *d, long gpu) { return add_xfer(d, gpu, gpu, 0); }

/* How hops between nodes are spread over NICs. NCCL runs one ring or tree per
 * NIC (channels), each crossing between nodes through its own NIC; clustersim
 * keeps one ring or tree and stripes each hop between two nodes over the same
 * NICs: `channels` parallel transfers of 1/channels of the bytes, between the
 * GPUs that channel k would use (local index k g/channels on the receiving
 * node, the one before it on the sending node). The NIC and spine links carry
 * what NCCL's channels put on them, with one transfer per hop inside a node
 * instead of one per channel. */
typedef struct stripes {
    const long *gpus; /* members, node by node */
    long per_node;    /* 0: no striping */
    long channels;
} stripes;

/* A hop from member a to member b waiting for deps; returns the id whose
 * completion means all its bytes arrived. */
static long hop(dag *d, const stripes *st, long a, long b, double bytes, const long *deps,
                int ndeps)
{
    long g = st->per_node;
    if (!st->gpus || g == 0 || st->channels <= 1 || a / g == b / g) {
        long id = add_xfer(d, st->gpus[a], st->gpus[b], bytes);
        for (int i = 0; i < ndeps; i++)
            add_dep(d, deps[i], id);
        return id;
    }
    long step = g / st->channels, xa = a / g * g, xb = b / g * g;
    long done = add_join(d, st->gpus[b]);
    for (long k = 0; k < st->channels; k++) {
        long id = add_xfer(d, st->gpus[xa + (k * step + g - 1) % g], st->gpus[xb + k * step],
                           bytes / (double)st->channels);
        for (int i = 0; i < ndeps; i++)
            add_dep(d, deps[i], id);
        add_dep(d, id, done);
    }
    return done;
}

/* Ring over the k members of st (st->gpus[0..k-1]) for `steps` steps of
 * `bytes`: member i's step s waits for its own step s-1 and for what member
 * i-1 sent it at step s-1. first_deps[i] (may be NULL) gates member i's first
 * send; last[i] (may be NULL) receives the id of member i's last send. */
static void build_ring(dag *d, const stripes *st, long k, long steps, double bytes,
                       const long *first_deps, long *last)
{
    long *prev = malloc((size_t)k * sizeof *prev);
    long *cur = malloc((size_t)k * sizeof *cur);
    if (!prev || !cur) {
        d->failed = 1;
        free(prev);
        free(cur);
        return;
    }
    for (long step = 0; step < steps; step++) {
        for (long i = 0; i < k; i++) {
            long deps[2] = {step ? prev[i] : (first_deps ? first_deps[i] : -1),
                            step ? prev[(i + k - 1) % k] : -1};
            cur[i] = hop(d, st, i, (i + 1) % k, bytes, deps, 2);
        }
        memcpy(prev, cur, (size_t)k * sizeof *prev);
    }
    if (last)
        for (long i = 0; i < k; i++)
            last[i] = steps ? prev[i] : (first_deps ? first_deps[i] : -1);
    free(prev);
    free(cur);
}

/* A ring over members listed in m, without striping. */
static void plain_ring(dag *d, const long *m, long k, long steps, double bytes,
                       const long *first_deps, long *last)
{
    stripes st = {m, 0, 1};
    build_ring(d, &st, k, steps, bytes, first_deps, last);
}

/* One of NCCL's two trees: nodes in heap layout (mirrored for the second
 * tree, so a node is a leaf in one of them), a chain through each node's
 * members ending at its last member, the node's head, which exchanges with
 * the heads of its parent and children (hops striped over NICs). Each chunk is
 * reduced up the chains and the tree, then broadcast back down. */
typedef struct tree_plan {
    const stripes *st;
    long nodes, g, chunks;
    int mirrored;
    double bytes; /* per chunk */
} tree_plan;

static void build_tree(dag *d, const tree_plan *t)
{
    long N = t->nodes, g = t->g, C = t->chunks, links = g - 1;
    long *chain_up = malloc((size_t)(N * g * C) * sizeof *chain_up);
    long *chain_down = malloc((size_t)(N * g * C) * sizeof *chain_down);
    long *up = malloc((size_t)(N * C) * sizeof *up);
    long *ready = malloc((size_t)(N * C) * sizeof *ready);
    if (!chain_up || !chain_down || !up || !ready) {
        d->failed = 1;
        goto done;
    }
#define NODE(p) (t->mirrored ? N - 1 - (p) : (p))
#define HEAD(x) ((x)*g + g - 1)
#define CU(x, j, q) chain_up[((x)*g + (j)) * C + (q)]
#define CD(x, j, q) chain_down[((x)*g + (j)) * C + (q)]
    for (long q = 0; q < C; q++) {
        for (long x = 0; x < N; x++)
            for (long j = 0; j < links; j++) {
                long deps[2] = {j > 0 ? CU(x, j - 1, q) : -1, q > 0 ? CU(x, j, q - 1) : -1};
                CU(x, j, q) = hop(d, t->st, x * g + j, x * g + j + 1, t->bytes, deps, 2);
            }
        for (long p = N - 1; p >= 1; p--) {
            long x = NODE(p), parent = NODE((p - 1) / 2);
            long deps[4] = {links ? CU(x, links - 1, q) : -1, -1, -1,
                            q > 0 ? up[x * C + q - 1] : -1};
            for (long c = 2 * p + 1, i = 1; c <= 2 * p + 2 && c < N; c++, i++)
                deps[i] = up[NODE(c) * C + q];
            up[x * C + q] = hop(d, t->st, HEAD(x), HEAD(parent), t->bytes, deps, 4);
        }
        /* The root holds chunk q reduced once its chain and children are in. */
        long root = NODE(0);
        long r = ready[root * C + q] = add_join(d, t->st->gpus[HEAD(root)]);
        if (links)
            add_dep(d, CU(root, links - 1, q), r);
        for (long c = 1; c <= 2 && c < N; c++)
            add_dep(d, up[NODE(c) * C + q], r);
        for (long p = 1; p < N; p++) {
            long x = NODE(p), parent = NODE((p - 1) / 2);
            long deps[2] = {ready[parent * C + q], q > 0 ? ready[x * C + q - 1] : -1};
            ready[x * C + q] = hop(d, t->st, HEAD(parent), HEAD(x), t->bytes, deps, 2);
        }
        for (long x = 0; x < N; x++)
            for (long j = links - 1; j >= 0; j--) {
                long deps[2] = {j == links - 1 ? ready[x * C + q] : CD(x, j + 1, q),
                                q > 0 ? CD(x, j, q - 1) : -1};
                CD(x, j, q) = hop(d, t->st, x * g + j + 1, x * g + j, t->bytes, deps, 2);
            }
    }
#undef NODE
#undef HEAD
#undef CU
#undef CD
done:
    free(chain_up);
    free(chain_down);
    free(up);
    free(ready);
}

/* NCCL's double binary tree: half of the buffer on each tree. Members not
 * listed node by node count as one-member nodes. */
static void build_double_tree(dag *d, const cs_coll_spec *s, const cs_span *sp)
{
    stripes st = {s->gpus, sp->per_node, sp->channels};
    long g = sp->per_node ? sp->per_node : 1, nodes = sp->per_node ? sp->nodes : s->n;
    long chunks = cs_coll_chunks(s->bytes / 2);
    for (int mirrored = 0; mirrored < 2; mirrored++) {
        tree_plan t = {&st, nodes, g, chunks, mirrored, s->bytes / 2 / (double)chunks};
        build_tree(d, &t);
    }
}

/* Reduce-scatter in each node, all-reduce of each shard across nodes, then
 * all-gather in each node (members must be g per node, node by node). */
static void build_hierarchical(dag *d, const cs_coll_spec *s, long g)
{
    long n = s->n, N = n / g;
    double S = s->bytes;
    long *last = malloc((size_t)n * sizeof *last);
    long *gate = malloc((size_t)n * sizeof *gate);
    long *m = malloc((size_t)n * sizeof *m);
    long *tmp = malloc((size_t)n * sizeof *tmp);
    if (!last || !gate || !m || !tmp) {
        d->failed = 1;
        goto done;
    }
    for (long x = 0; x < N; x++) /* phase 1 */
        plain_ring(d, s->gpus + x * g, g, g - 1, S / (double)g, NULL, last + x * g);
    for (long x = 0; x < N; x++) { /* a node's shards are reduced: join */
        long j = add_join(d, s->gpus[x * g]);
        for (long i = 0; i < g; i++)
            add_dep(d, last[x * g + i], j);
        for (long i = 0; i < g; i++)
            gate[x * g + i] = j;
    }
    for (long i = 0; i < g; i++) { /* phase 2: one ring per local index */
        for (long x = 0; x < N; x++) {
            m[x] = s->gpus[x * g + i];
            tmp[x] = gate[x * g + i];
        }
        long *ring_last = malloc((size_t)N * sizeof *ring_last);
        if (!ring_last) {
            d->failed = 1;
            goto done;
        }
        plain_ring(d, m, N, 2 * (N - 1), S / (double)g / (double)N, tmp, ring_last);
        for (long x = 0; x < N; x++)
            last[x * g + i] = ring_last[x];
        free(ring_last);
    }
    for (long x = 0; x < N; x++) { /* phase 3 waits for the node's shards */
        long j = add_join(d, s->gpus[x * g]);
        for (long i = 0; i < g; i++)
            add_dep(d, last[x * g + i], j);
        for (long i = 0; i < g; i++)
            gate[x * g + i] = j;
        plain_ring(d, s->gpus + x * g, g, g - 1, S / (double)g, gate + x * g, NULL);
    }
done:
    free(last);
    free(gate);
    free(m);
    free(tmp);
}

static void build_chain(dag *d, const cs_coll_spec *s)
{
    long n = s->n, chunks = cs_coll_chunks(s->bytes);
    long *prev_chunk = malloc((size_t)n * sizeof *prev_chunk);
    if (!prev_chunk) {
        d->failed = 1;
        return;
    }
    for (long c = 0; c < chunks; c++) {
        long prev_hop = -1;
        for (long h = 0; h + 1 < n; h++) {
            long from = s->gpus[(s->root + h) % n], to = s->gpus[(s->root + h + 1) % n];
            long id = add_xfer(d, from, to, s->bytes / (double)chunks);
            add_dep(d, prev_hop, id);
            if (c > 0)
                add_dep(d, prev_chunk[h], id);
            prev_chunk[h] = id;
            prev_hop = id;
        }
    }
    free(prev_chunk);
}

static void build(dag *d, const cs_fabric *f, const cs_coll_spec *s)
{
    long n = s->n;
    double S = s->bytes;
    cs_span sp;
    cs_coll_span(f, s, &sp);
    stripes st = {s->gpus, sp.per_node, sp.channels};
    switch (s->op) {
    case CS_COLL_ALL_REDUCE: {
        cs_coll_algo algo = cs_collective_choose(f, s);
        if (algo == CS_ALGO_TREE)
            build_double_tree(d, s, &sp);
        else if (algo == CS_ALGO_HIERARCHICAL && sp.per_node > 1 && sp.nodes > 1)
            build_hierarchical(d, s, sp.per_node);
        else
            build_ring(d, &st, n, 2 * (n - 1), S / (double)n, NULL, NULL);
        break;
    }
    case CS_COLL_ALL_GATHER:
    case CS_COLL_REDUCE_SCATTER:
        build_ring(d, &st, n, n - 1, S / (double)n, NULL, NULL);
        break;
    case CS_COLL_ALLTOALL:
        for (long i = 0; i < n; i++)
            for (long j = 0; j < n; j++)
                if (i != j)
                    add_xfer(d, s->gpus[i], s->gpus[j],
                             s->pair_bytes ? s->pair_bytes[i * n + j] : S / (double)n);
        break;
    case CS_COLL_SENDRECV:
        for (long i = 0; i < n; i++)
            add_xfer(d, s->gpus[i], s->gpus[(i + 1) % n], S);
        break;
    case CS_COLL_BROADCAST:
        build_chain(d, s);
        break;
    case CS_COLL_P2P:
        add_xfer(d, s->gpus[0], s->gpus[1], S);
        break;
    default:
        break;
    }
}

static void dag_free(dag *d)
{
    free(d->x);
    free(d->edge_from);
    free(d->edge_to);
    memset(d, 0, sizeof *d);
}

double cs_collective_wire_bytes(const cs_fabric *f, const cs_coll_spec *s)
{
    dag d = {0};
    if (s->n > 1)
        build(&d, f, s);
    double total = 0;
    for (long i = 0; i < d.n; i++)
        total += d.x[i].bytes;
    dag_free(&d);
    return total;
}

/* ---- running a graph on the net ------------------------------------------ */

typedef struct run {
    cs_net *net;
    xfer *x;
    int32_t *succ;
    long left;
    cs_done_fn done;
    void *ctx;
    long arg;
} run;

static void run_finish(run *r)
{
    cs_done_fn done = r->done;
    void *ctx = r->ctx;
    long arg = r->arg;
    free(r->x);
    free(r->succ);
    free(r);
    done(ctx, arg);
}

static void xfer_done(void *ctx, long i)
{
    run *r = ctx;
    xfer *x = &r->x[i];
    for (int64_t k = x->succ_start; k < x->succ_start + x->succ_count; k++) {
        xfer *next = &r->x[r->succ[k]];
        if (--next->pending == 0 &&
            cs_net_send(r->net, next->src, next->dst, next->bytes, xfer_done, r, r->succ[k]))
            abort(); /* out of memory inside an event */
    }
    if (--r->left == 0)
        run_finish(r);
}

static void instant_done(void *ctx, long arg, uint64_t tag)
{
    (void)arg;
    (void)tag;
    run *r = ctx;
    run_finish(r);
}

/* Converts the dependency edges into per-transfer successor lists. */
static int32_t *successors(dag *d)
{
    int32_t *succ = malloc((size_t)(d->ne + 1) * sizeof *succ);
    if (!succ)
        return NULL;
    for (long e = 0; e < d->ne; e++)
        d->x[d->edge_from[e]].succ_count++;
    int64_t at = 0;
    for (long i = 0; i < d->n; i++) {
        d->x[i].succ_start = at;
        at += d->x[i].succ_count;
        d->x[i].succ_count = 0;
    }
    for (long e = 0; e < d->ne; e++) {
        xfer *from = &d->x[d->edge_from[e]];
        succ[from->succ_start + from->succ_count++] = d->edge_to[e];
    }
    return succ;
}

int cs_collective_start(cs_net *net, const cs_coll_spec *s, cs_done_fn done, void *ctx, long arg)
{
    const cs_fabric *f = cs_net_fabric(net);
    cs_engine *e = cs_net_engine(net);
    run *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    *r = (run){net, NULL, NULL, 0, done, ctx, arg};
    double now = cs_engine_now(e);
    if (cs_net_model(net) == CS_NET_ANALYTIC)
        return cs_engine_at(e, now + cs_collective_analytic_time(f, s), instant_done, r, 0, 0);
    if (s->n <= 1 || cs_net_model(net) == CS_NET_IDEAL)
        return cs_engine_at(e, now, instant_done, r, 0, 0);
    dag d = {0};
    build(&d, f, s);
    r->succ = d.failed ? NULL : successors(&d);
    if (d.failed || !r->succ) {
        dag_free(&d);
        free(r);
        return -1;
    }
    r->x = d.x;
    r->left = d.n;
    d.x = NULL;
    long count = r->left;
    dag_free(&d);
    if (count == 0)
        return cs_engine_at(e, now, instant_done, r, 0, 0);
    for (long i = 0; i < count; i++)
        if (r->x[i].pending == 0 &&
            cs_net_send(net, r->x[i].src, r->x[i].dst, r->x[i].bytes, xfer_done, r, i))
            return -1;
    return 0;
}

static void note_end(void *ctx, long arg)
{
    (void)arg;
    *(int *)ctx = 1;
}

int cs_collective_time(const cs_fabric *f, cs_network_model model, const cs_coll_spec *s,
                       double *time, cs_coll_stats *stats)
{
    cs_engine *e = cs_engine_create();
    cs_net *net = e ? cs_net_create(e, f, model) : NULL;
    int ended = 0, rc = -1;
    if (net && cs_collective_start(net, s, note_end, &ended, 0) == 0) {
        cs_engine_run(e);
        if (ended) {
            *time = cs_engine_now(e);
            rc = 0;
        }
        if (stats) {
            stats->events = cs_engine_events(e);
            stats->delivered_bytes = cs_net_bytes_delivered(net);
            stats->transfers = cs_net_transfers(net);
        }
    }
    cs_net_destroy(net);
    cs_engine_destroy(e);
    return rc;
}
