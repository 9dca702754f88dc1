#include "replay/exec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OP_WAITING, OP_RUNNING, OP_DONE } op_state;

/* Replays of big clusters hold tens of millions of ops: 32-bit indices and
 * small fields keep one at 72 bytes. */
typedef struct op {
    double duration; /* compute only */
    cs_op_times t;
    int64_t succ_start;
    int32_t gpu;
    int32_t coll;    /* collective index, or -1 for compute */
    int32_t tag;
    int32_t pending; /* unfinished dependencies */
    int32_t next;    /* next op on the same stream, -1 at the end */
    int32_t succ_count;
    uint8_t stream;
    uint8_t state;   /* op_state */
    uint8_t hosted;  /* issued by its GPU's host (cs_exec_host); 2: a host waits for it */
} op;

typedef struct coll {
    cs_coll_spec spec; /* gpus points into members once running */
    long member_offset;
    long first_op;     /* live members are first_op .. first_op + live - 1 */
    long live;         /* members with an op (all but the mirrored ones) */
    long arrived;
    const long *shadow; /* links held for mirrored copies (cs_exec_set_shadow) */
    long shadow_count;
} coll;

/* A host's wait: once it has issued op `pos`, it waits for op `wait` (<=
 * pos) to end; `offset` is when it had issued pos, from the start of its
 * segment. */
typedef struct host_sync {
    int32_t pos, wait;
    double offset;
} host_sync;

typedef struct edge {
    int32_t from, to;
} edge;

struct cs_exec {
    cs_net *net;
    cs_engine *engine;
    long gpus;
    int streams;
    op *ops;
    long count, cap;
    coll *colls;
    long ncolls, colls_cap;
    long *members; /* GPU ids of all collectives, back to back */
    long nmembers, members_cap;
    long *tail; /* last op added on each stream (gpu * streams + stream), or -1 */
    long *head; /* first op not yet finished on each stream, or -1 */
    edge *edges;
    long nedges, edges_cap;
    int32_t *succ;
    long finished;
    double makespan;
    int failed;
    int stopped; /* a reduced replay's groups shared a link: nothing new starts */
    const unsigned char *live; /* per GPU: 1 when it has a program (NULL: all do) */
    void (*observer)(void *ctx, long op, int ended);
    void *observer_ctx;
    /* The host threads (cs_exec_host). While an op waits to start, its
     * t.ready and t.end hold the host's offsets, from the start of its
     * segment (the end of the GPU's last sync before it), at which its first
     * kernel and its last are issued. */
    double *hclock;    /* per GPU, while building: host offset in the current segment */
    long *hlast;       /* per GPU: last hosted op, -1 */
    long *hpos;        /* per GPU: where its last sync was reached (an op id), -1 */
    host_sync *syncs;  /* in the order added; grouped per GPU by the run */
    long nsyncs, syncs_cap;
    long *sync_first;  /* per GPU + 1: its syncs are syncs[sync_first[g] .. sync_first[g + 1]) */
    double *sync_end;  /* per sync (grouped order): when its host went on, -1 before */
    int32_t *blocked;  /* per stream: its head op, waiting for a sync to end, or -1 */
};

static int grow(void **p, long *cap, long need, size_t size)
{
    if (need <= *cap)
        return 0;
    long n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, (size_t)n * size);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

cs_exec *cs_exec_create(cs_net *net, long gpus, int streams_per_gpu)
{
    cs_exec *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->net = net;
    x->engine = cs_net_engine(net);
    x->gpus = gpus;
    x->streams = streams_per_gpu;
    size_t ns = (size_t)gpus * (size_t)streams_per_gpu;
    x->tail = malloc(ns * sizeof *x->tail);
    x->head = malloc(ns * sizeof *x->head);
    if (!x->tail || !x->head) {
        cs_exec_destroy(x);
        return NULL;
    }
    for (size_t i = 0; i < ns; i++)
        x->tail[i] = x->head[i] = -1;
    return x;
}

void cs_exec_destroy(cs_exec *x)
{
    if (!x)
        return;
    free(x->ops);
    free(x->colls);
    free(x->members);
    free(x->tail);
    free(x->head);
    free(x->edges);
    free(x->succ);
    free(x->hclock);
    free(x->hlast);
    free(x->hpos);
    free(x->syncs);
    free(x->sync_first);
    free(x->sync_end);
    free(x->blocked);
    free(x);
}

int cs_exec_reserve(cs_exec *x, long ops, long deps)
{
    /* Untouched pages cost no memory: reserving collectives and members for
     * the worst case (every op a member of a two-member collective) is cheap. */
    if (grow((void **)&x->ops, &x->cap, ops, sizeof *x->ops) ||
        grow((void **)&x->edges, &x->edges_cap, deps, sizeof *x->edges) ||
        grow((void **)&x->colls, &x->colls_cap, ops / 2, sizeof *x->colls) ||
        grow((void **)&x->members, &x->members_cap, ops, sizeof *x->members))
        return -1;
    return 0;
}

static int is_live(const cs_exec *x, long gpu) { return !x->live || x->live[gpu]; }

void cs_exec_set_live(cs_exec *x, const unsigned char *live) { x->live = live; }

static long append_op(cs_exec *x, long gpu, int stream, long coll_id, double duration, long tag)
{
    if (gpu < 0 || gpu >= x->gpus || stream < 0 || stream >= x->streams || !is_live(x, gpu))
        return -1;
    if (x->count >= INT32_MAX - 1 ||
        grow((void **)&x->ops, &x->cap, x->count + 1, sizeof *x->ops))
        return -1;
    long id = x->count++;
    x->ops[id] = (op){duration, {0, 0, 0}, 0, (int32_t)gpu, (int32_t)coll_id, (int32_t)tag, 0, -1,
                      0, (uint8_t)stream, OP_WAITING, 0};
    long s = gpu * x->streams + stream;
    if (x->tail[s] >= 0)
        x->ops[x->tail[s]].next = id;
    else
        x->head[s] = id;
    x->tail[s] = id;
    return id;
}

long cs_exec_compute(cs_exec *x, long gpu, int stream, double duration, long tag)
{
    return append_op(x, gpu, stream, -1, duration, tag);
}

static long collective_on(cs_exec *x, const cs_coll_spec *spec, const int *streams, int stream,
                          long tag);

long cs_exec_collective(cs_exec *x, const cs_coll_spec *spec, int stream, long tag)
{
    return collective_on(x, spec, NULL, stream, tag);
}

long cs_exec_collective_on(cs_exec *x, const cs_coll_spec *spec, const int *streams, long tag)
{
    return collective_on(x, spec, streams, 0, tag);
}

static long collective_on(cs_exec *x, const cs_coll_spec *spec, const int *streams, int stream,
                          long tag)
{
    if (spec->n < 1 ||
        grow((void **)&x->colls, &x->colls_cap, x->ncolls + 1, sizeof *x->colls) ||
        grow((void **)&x->members, &x->members_cap, x->nmembers + spec->n, sizeof *x->members))
        return -1;
    long c = x->ncolls;
    coll *k = &x->colls[c];
    k->spec = *spec;
    k->spec.gpus = NULL; /* x->members may move until the run starts */
    k->member_offset = x->nmembers;
    k->first_op = x->count;
    k->arrived = k->live = 0;
    k->shadow = NULL;
    k->shadow_count = 0;
    for (long i = 0; i < spec->n; i++) {
        if (!is_live(x, spec->gpus[i]))
            continue;
        if (append_op(x, spec->gpus[i], streams ? streams[i] : stream, c, 0, tag) < 0)
            return -1;
        k->live++;
    }
    if (k->live == 0)
        return -1; /* nobody would start it */
    memcpy(x->members + x->nmembers, spec->gpus, (size_t)spec->n * sizeof *x->members);
    x->nmembers += spec->n;
    x->ncolls++;
    return k->first_op;
}

int cs_exec_set_shadow(cs_exec *x, long first, const long *shadow, long count)
{
    if (first < 0 || first >= x->count || x->ops[first].coll < 0 ||
        x->colls[x->ops[first].coll].first_op != first)
        return -1;
    x->colls[x->ops[first].coll].shadow = shadow;
    x->colls[x->ops[first].coll].shadow_count = count;
    return 0;
}

int cs_exec_depend(cs_exec *x, long before, long after)
{
    if (before < 0 || after < 0 || before >= x->count || after >= x->count)
        return -1;
    if (grow((void **)&x->edges, &x->edges_cap, x->nedges + 1, sizeof *x->edges))
        return -1;
    x->edges[x->nedges++] = (edge){(int32_t)before, (int32_t)after};
    x->ops[after].pending++;
    return 0;
}

/* ---- host threads ---------------------------------------------------------- */

static int host_tables(cs_exec *x)
{
    if (x->hclock)
        return 0;
    x->hclock = calloc((size_t)x->gpus, sizeof *x->hclock);
    x->hlast = malloc((size_t)x->gpus * sizeof *x->hlast);
    x->hpos = malloc((size_t)x->gpus * sizeof *x->hpos);
    if (!x->hclock || !x->hlast || !x->hpos)
        return -1;
    for (long g = 0; g < x->gpus; g++)
        x->hlast[g] = x->hpos[g] = -1;
    return 0;
}

int cs_exec_host(cs_exec *x, long id, double seconds, double first)
{
    if (id < 0 || id >= x->count || !(seconds >= 0) || !(first >= 0) || first > seconds ||
        host_tables(x))
        return -1;
    op *o = &x->ops[id];
    if (id <= x->hlast[o->gpu])
        return -1; /* out of the host's order */
    double at = x->hclock[o->gpu];
    o->hosted = 1;
    o->t.ready = at + first;
    o->t.end = at + seconds;
    x->hclock[o->gpu] = at + seconds;
    x->hlast[o->gpu] = id;
    return 0;
}

int cs_exec_host_sync(cs_exec *x, long id)
{
    if (id < 0 || id >= x->count || !x->hlast || !x->ops[id].hosted)
        return -1;
    long g = x->ops[id].gpu;
    if (id <= x->hpos[g]) /* the op waited for comes after the previous sync point */
        return -1;
    if (grow((void **)&x->syncs, &x->syncs_cap, x->nsyncs + 1, sizeof *x->syncs))
        return -1;
    x->syncs[x->nsyncs++] = (host_sync){(int32_t)x->hlast[g], (int32_t)id, x->hclock[g]};
    x->hpos[g] = x->hlast[g];
    x->ops[id].hosted = 2;
    x->hclock[g] = 0; /* what follows is timed from the end of the wait */
    return 0;
}

/* Groups the syncs per GPU (in the order added within a GPU). */
static int host_prepare(cs_exec *x)
{
    long ns = x->gpus * x->streams;
    x->sync_first = calloc((size_t)x->gpus + 1, sizeof *x->sync_first);
    x->sync_end = malloc((size_t)(x->nsyncs + 1) * sizeof *x->sync_end);
    x->blocked = malloc((size_t)ns * sizeof *x->blocked);
    host_sync *by_gpu = malloc((size_t)(x->nsyncs + 1) * sizeof *by_gpu);
    long *fill = malloc((size_t)x->gpus * sizeof *fill);
    if (!x->sync_first || !x->sync_end || !x->blocked || !by_gpu || !fill) {
        free(by_gpu);
        free(fill);
        return -1;
    }
    for (long s = 0; s < ns; s++)
        x->blocked[s] = -1;
    for (long i = 0; i < x->nsyncs; i++)
        x->sync_first[x->ops[x->syncs[i].pos].gpu + 1]++;
    for (long g = 0; g < x->gpus; g++) {
        x->sync_first[g + 1] += x->sync_first[g];
        fill[g] = x->sync_first[g];
    }
    for (long i = 0; i < x->nsyncs; i++) {
        by_gpu[fill[x->ops[x->syncs[i].pos].gpu]++] = x->syncs[i];
        x->sync_end[i] = -1;
    }
    free(fill);
    free(x->syncs);
    x->syncs = by_gpu;
    return 0;
}

/* The index (grouped order) of the last sync of gpu whose field (pos or
 * wait: both ascend) is below id, or -1 when there is none. */
static long sync_below(const cs_exec *x, long gpu, long id, int by_wait)
{
    long first = x->sync_first[gpu], lo = first, hi = x->sync_first[gpu + 1];
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if ((by_wait ? x->syncs[mid].wait : x->syncs[mid].pos) < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1 >= first ? lo - 1 : -1;
}

/* ---- running ------------------------------------------------------------- */

static void try_start(cs_exec *x, long id);

/* An op a host waits for ended: the host goes on (once it has also issued
 * the ops before its wait), and the stream heads it held back may be
 * issued. */
static void release_host(cs_exec *x, long id, double now)
{
    long gpu = x->ops[id].gpu, k = sync_below(x, gpu, id + 1, 1);
    double from = k > x->sync_first[gpu] ? x->sync_end[k - 1] : 0;
    double reached = from + x->syncs[k].offset;
    x->sync_end[k] = now > reached ? now : reached;
    for (int st = 0; st < x->streams; st++) {
        long b = x->blocked[gpu * x->streams + st];
        x->blocked[gpu * x->streams + st] = -1;
        if (b >= 0)
            try_start(x, b);
    }
}

static void finish(cs_exec *x, long id)
{
    op *o = &x->ops[id];
    double now = cs_engine_now(x->engine);
    o->state = OP_DONE;
    o->t.end = now;
    if (x->observer)
        x->observer(x->observer_ctx, id, 1);
    if (now > x->makespan)
        x->makespan = now;
    x->finished++;
    long s = o->gpu * x->streams + o->stream;
    x->head[s] = o->next;
    if (o->hosted == 2)
        release_host(x, id, now);
    if (o->next >= 0)
        try_start(x, o->next);
    for (int64_t k = o->succ_start; k < o->succ_start + o->succ_count; k++) {
        long after = x->succ[k];
        if (--x->ops[after].pending == 0)
            try_start(x, after);
    }
}

static void on_compute_end(void *ctx, long id, uint64_t tag)
{
    (void)tag;
    finish(ctx, id);
}

static void on_collective_end(void *ctx, long c)
{
    cs_exec *x = ctx;
    coll *k = &x->colls[c];
    for (long i = 0; i < k->live; i++)
        finish(x, k->first_op + i);
}

static void arrive(cs_exec *x, long id)
{
    coll *k = &x->colls[x->ops[id].coll];
    if (++k->arrived < k->live)
        return;
    double now = cs_engine_now(x->engine);
    for (long i = 0; i < k->live; i++)
        x->ops[k->first_op + i].t.begin = now;
    if (cs_collective_start_shadowed(x->net, &k->spec, k->shadow, k->shadow_count,
                                     on_collective_end, x, x->ops[id].coll) != 0)
        x->failed = 1;
    /* Only a collective's start takes links: a reduced replay whose groups
     * would have shared one is over (the replay runs again whole), what
     * runs drains and nothing new starts. */
    x->stopped = cs_net_contended(x->net);

}

static void on_issued(void *ctx, long id, uint64_t tag)
{
    (void)tag;
    try_start(ctx, id);
}

/* Whether hosted op id (free to start otherwise) has been issued by now;
 * when it has, *issued is when its host issues its last kernel. When it has
 * not, it is set to start once it is. */
static int host_issued(cs_exec *x, long id, double now, double *issued)
{
    op *o = &x->ops[id];
    long k = sync_below(x, o->gpu, id, 0);
    double from = k < 0 ? 0 : x->sync_end[k];
    if (from < 0) { /* the host still waits for that sync */
        x->blocked[o->gpu * x->streams + o->stream] = (int32_t)id;
        return 0;
    }
    if (from + o->t.ready > now) {
        if (cs_engine_at(x->engine, from + o->t.ready, on_issued, x, id, 0) != 0)
            x->failed = 1;
        return 0;
    }
    *issued = from + o->t.end;
    return 1;
}

static void try_start(cs_exec *x, long id)
{
    op *o = &x->ops[id];
    if (x->stopped)
        return;
    if (o->state != OP_WAITING || o->pending > 0 || x->head[o->gpu * x->streams + o->stream] != id)
        return;
    double now = cs_engine_now(x->engine), issued = now;
    if (o->hosted && !host_issued(x, id, now, &issued))
        return;
    o->state = OP_RUNNING;
    o->t.ready = o->t.begin = now;
    o->t.end = 0;
    if (x->observer)
        x->observer(x->observer_ctx, id, 0);
    /* A kernel cannot end before its host has issued it: an op of many
     * kernels ends no sooner than its last launch. */
    double end = now + o->duration > issued ? now + o->duration : issued;
    if (o->coll >= 0)
        arrive(x, id);
    else if (cs_engine_at(x->engine, end, on_compute_end, x, id, 0) != 0)
        x->failed = 1;
}

static int build_successors(cs_exec *x)
{
    free(x->succ);
    x->succ = malloc((size_t)(x->nedges + 1) * sizeof *x->succ);
    if (!x->succ)
        return -1;
    for (long i = 0; i < x->count; i++)
        x->ops[i].succ_count = 0;
    for (long e = 0; e < x->nedges; e++)
        x->ops[x->edges[e].from].succ_count++;
    int64_t at = 0;
    for (long i = 0; i < x->count; i++) {
        x->ops[i].succ_start = at;
        at += x->ops[i].succ_count;
        x->ops[i].succ_count = 0;
    }
    for (long e = 0; e < x->nedges; e++) {
        op *from = &x->ops[x->edges[e].from];
        x->succ[from->succ_start + from->succ_count++] = x->edges[e].to;
    }
    return 0;
}

int cs_exec_run(cs_exec *x)
{
    if (build_successors(x) != 0)
        return -1;
    for (long c = 0; c < x->ncolls; c++)
        x->colls[c].spec.gpus = x->members + x->colls[c].member_offset;
    if (x->hclock && host_prepare(x) != 0)
        return -1;
    long ns = x->gpus * x->streams;
    for (long s = 0; s < ns; s++)
        if (x->head[s] >= 0)
            try_start(x, x->head[s]);
    cs_engine_run(x->engine);
    if (x->failed)
        return -1;
    return x->finished == x->count ? 0 : -2;
}

void cs_exec_set_observer(cs_exec *x, void (*fn)(void *ctx, long op, int ended), void *ctx)
{
    x->observer = fn;
    x->observer_ctx = ctx;
}

long cs_exec_op_count(const cs_exec *x) { return x->count; }
cs_op_times cs_exec_times(const cs_exec *x, long op_id) { return x->ops[op_id].t; }
cs_net *cs_exec_net(const cs_exec *x) { return x->net; }
long cs_exec_tag(const cs_exec *x, long op_id) { return x->ops[op_id].tag; }
long cs_exec_gpu(const cs_exec *x, long op_id) { return x->ops[op_id].gpu; }
int cs_exec_stream(const cs_exec *x, long op_id) { return x->ops[op_id].stream; }
int cs_exec_is_collective(const cs_exec *x, long op_id) { return x->ops[op_id].coll >= 0; }
double cs_exec_makespan(const cs_exec *x) { return x->makespan; }

long cs_exec_collective_first(const cs_exec *x, long op_id)
{
    long c = x->ops[op_id].coll;
    return c < 0 ? -1 : x->colls[c].first_op;
}
