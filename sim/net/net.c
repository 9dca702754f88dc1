#include "net/net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net/maxmin.h"
#include "net/plancache.h"

typedef struct flow {
    long links[CS_ROUTE_MAX];
    long slot[CS_ROUTE_MAX]; /* position in each link's flow list */
    /* A bundle (cs_net_send_bundle) keeps its many links and its weight on
     * each here instead (its cs_net_bundle's), and their slots (owned);
     * NULL for a plain flow. */
    const long *many_links;
    long *many_slots;
    const double *weight;
    cs_net_bundle *owned; /* the bundle, when the flow owns it */
    int nlinks;
    int active;
    int scheduled; /* a completion event at the current rate is queued */
    double bytes, remaining, rate, last;
    uint64_t version;
    cs_done_fn done;
    void *ctx;
    long arg;
    long next_free;
} flow;

typedef struct link_flows {
    long *ids;
    long count, cap;
} link_flows;

struct cs_net {
    cs_engine *engine;
    const cs_fabric *fabric;
    cs_network_model model;
    flow *flows;
    long flow_count, flow_cap, free_head;
    link_flows *on_link; /* flow mode: active flows per link */
    /* Links touched since the last solve (dirty_mark == dirty_stamp). */
    long *dirty;
    long dirty_count;
    uint64_t *dirty_mark, dirty_stamp;
    /* The component walk's marks (== walk_stamp when visited). */
    uint64_t *link_seen, *flow_seen, walk_stamp;
    /* Component scratch, in local numbering for the solver, sized for
     * scratch_cap flows. */
    long *comp_links, *comp_flows, *local_of_link;
    size_t *start;
    long *route;
    double *cap, *rate;
    long scratch_cap;
    cs_maxmin *solver;
    double *weights; /* per route entry of the component, when it holds a bundle */
    long route_cap;
    /* A bundle's per-link bytes and pair counts while it is made (zero between). */
    double *bundle_bytes;
    long *bundle_pairs, *bundle_links;
    /* Exclusive use: how many collectives hold each link. */
    unsigned *held;
    int contended;
    double delivered;
    uint64_t transfers, solves;
    double *link_sums; /* see cs_net_link_sums */
    cs_plan_cache *plans;
};

static void *grow(void *p, long *cap, long need, size_t size)
{
    if (need <= *cap)
        return p;
    long n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(p, (size_t)n * size);
    if (q)
        *cap = n;
    return q;
}

static void resolve(void *ctx);

static void free_bundle(flow *fl)
{
    free(fl->many_slots);
    cs_net_bundle_free(fl->owned);
    fl->many_links = NULL;
    fl->many_slots = NULL;
    fl->weight = NULL;
    fl->owned = NULL;
}

static const long *links_of(const flow *fl)
{
    return fl->many_links ? fl->many_links : fl->links;
}
static long *slots_of(flow *fl) { return fl->many_slots ? fl->many_slots : fl->slot; }

cs_net *cs_net_create(cs_engine *e, const cs_fabric *f, cs_network_model model)
{
    cs_net *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->engine = e;
    n->fabric = f;
    n->model = model;
    n->free_head = -1;
    if (model == CS_NET_FLOW) {
        size_t L = (size_t)f->link_count;
        n->on_link = calloc(L, sizeof *n->on_link);
        n->dirty = malloc(L * sizeof *n->dirty);
        n->dirty_mark = calloc(L, sizeof *n->dirty_mark);
        n->link_seen = calloc(L, sizeof *n->link_seen);
        n->dirty_stamp = n->walk_stamp = 1;
        n->comp_links = malloc(L * sizeof *n->comp_links);
        n->local_of_link = malloc(L * sizeof *n->local_of_link);
        n->cap = malloc(L * sizeof *n->cap);
        n->solver = cs_maxmin_create();
        if (!n->on_link || !n->dirty || !n->dirty_mark || !n->link_seen || !n->comp_links ||
            !n->local_of_link || !n->cap || !n->solver) {
            cs_net_destroy(n);
            return NULL;
        }
        cs_engine_set_step_hook(e, resolve, n);
    }
    return n;
}

void cs_net_destroy(cs_net *n)
{
    if (!n)
        return;
    if (n->on_link)
        for (long l = 0; l < n->fabric->link_count; l++)
            free(n->on_link[l].ids);
    free(n->on_link);
    for (long i = 0; i < n->flow_count; i++)
        free_bundle(&n->flows[i]);
    free(n->flows);
    free(n->weights);
    free(n->bundle_bytes);
    free(n->bundle_pairs);
    free(n->bundle_links);
    free(n->held);
    free(n->dirty);
    free(n->dirty_mark);
    free(n->link_seen);
    free(n->flow_seen);
    free(n->comp_links);
    free(n->comp_flows);
    free(n->local_of_link);
    free(n->start);
    free(n->route);
    free(n->cap);
    free(n->rate);
    free(n->link_sums);
    cs_plan_cache_destroy(n->plans);
    cs_maxmin_destroy(n->solver);
    free(n);
}

double *cs_net_link_sums(cs_net *n)
{
    if (!n->link_sums)
        n->link_sums = calloc((size_t)n->fabric->link_count, sizeof *n->link_sums);
    return n->link_sums;
}

cs_plan_cache *cs_net_plan_cache(cs_net *n)
{
    if (!n->plans)
        n->plans = cs_plan_cache_create();
    return n->plans;
}

int cs_net_set_exclusive(cs_net *n)
{
    if (!n->held)
        n->held = calloc((size_t)n->fabric->link_count, sizeof *n->held);
    return n->held ? 0 : -1;
}

int cs_net_exclusive(const cs_net *n) { return n->held != NULL; }
int cs_net_contended(const cs_net *n) { return n->contended; }

void cs_net_hold(cs_net *n, const long *links, long count, int delta)
{
    for (long i = 0; n->held && i < count; i++) {
        if (delta > 0 && n->held[links[i]]++ > 0)
            n->contended = 1;
        else if (delta < 0)
            n->held[links[i]]--;
    }
}

cs_network_model cs_net_model(const cs_net *n) { return n->model; }
cs_engine *cs_net_engine(const cs_net *n) { return n->engine; }
const cs_fabric *cs_net_fabric(const cs_net *n) { return n->fabric; }
double cs_net_bytes_delivered(const cs_net *n) { return n->delivered; }
uint64_t cs_net_transfers(const cs_net *n) { return n->transfers; }
uint64_t cs_net_solves(const cs_net *n) { return n->solves; }

/* ---- transfers that need no flow ---------------------------------------- */

static long new_flow(cs_net *n)
{
    if (n->free_head >= 0) {
        long id = n->free_head;
        n->free_head = n->flows[id].next_free;
        return id;
    }
    long cap = n->flow_cap;
    flow *flows = grow(n->flows, &cap, n->flow_count + 1, sizeof *flows);
    if (!flows)
        return -1;
    n->flows = flows;
    n->flow_cap = cap;
    return n->flow_count++;
}

static void release_flow(cs_net *n, long id)
{
    free_bundle(&n->flows[id]);
    n->flows[id].active = 0;
    n->flows[id].next_free = n->free_head;
    n->free_head = id;
}

/* The transfer is over: count it, free its slot, tell the sender. */
static void deliver(cs_net *n, long id)
{
    flow *fl = &n->flows[id];
    cs_done_fn done = fl->done;
    void *ctx = fl->ctx;
    long arg = fl->arg;
    n->delivered += fl->bytes;
    n->transfers++;
    release_flow(n, id);
    done(ctx, arg);
}

static void on_arrival(void *ctx, long id, uint64_t tag)
{
    (void)tag;
    deliver(ctx, id);
}

/* ---- flow mode ----------------------------------------------------------- */

static void mark_dirty(cs_net *n, long link)
{
    if (n->dirty_mark[link] == n->dirty_stamp)
        return;
    n->dirty_mark[link] = n->dirty_stamp;
    n->dirty[n->dirty_count++] = link;
}

static int link_add(cs_net *n, long link, long id, long *slot)
{
    link_flows *lf = &n->on_link[link];
    long *ids = grow(lf->ids, &lf->cap, lf->count + 1, sizeof *ids);
    if (!ids)
        return -1;
    lf->ids = ids;
    *slot = lf->count;
    lf->ids[lf->count++] = id;
    return 0;
}

static void link_remove(cs_net *n, long link, long slot)
{
    link_flows *lf = &n->on_link[link];
    long moved = lf->ids[--lf->count];
    if (slot == lf->count)
        return;
    lf->ids[slot] = moved;
    flow *m = &n->flows[moved];
    const long *links = links_of(m);
    for (int i = 0; i < m->nlinks; i++)
        if (links[i] == link) {
            slots_of(m)[i] = slot;
            break;
        }
}

static void on_flow_end(void *ctx, long id, uint64_t version)
{
    cs_net *n = ctx;
    flow *fl = &n->flows[id];
    if (!fl->active || fl->version != version)
        return; /* superseded by a later rate change */
    const long *links = links_of(fl);
    long *slots = slots_of(fl);
    for (int i = 0; i < fl->nlinks; i++) {
        link_remove(n, links[i], slots[i]);
        mark_dirty(n, links[i]);
    }
    deliver(n, id);
}

/* The route's latency has passed: the flow starts taking bandwidth. */
static void on_flow_start(void *ctx, long id, uint64_t tag)
{
    (void)tag;
    cs_net *n = ctx;
    flow *fl = &n->flows[id];
    fl->active = 1;
    fl->rate = 0;
    fl->last = cs_engine_now(n->engine);
    const long *links = links_of(fl);
    long *slots = slots_of(fl);
    for (int i = 0; i < fl->nlinks; i++) {
        if (link_add(n, links[i], id, &slots[i]) != 0)
            abort(); /* out of memory inside an event: nothing sane to return to */
        mark_dirty(n, links[i]);
    }
}

/* Per-flow scratch grows with the flow table. */
static int reserve_scratch(cs_net *n)
{
    if (n->scratch_cap >= n->flow_cap)
        return 0;
    long cap = n->flow_cap;
    long *comp_flows = realloc(n->comp_flows, (size_t)cap * sizeof *comp_flows);
    if (comp_flows)
        n->comp_flows = comp_flows;
    size_t *start = realloc(n->start, (size_t)(cap + 1) * sizeof *start);
    if (start)
        n->start = start;
    double *rate = realloc(n->rate, (size_t)cap * sizeof *rate);
    if (rate)
        n->rate = rate;
    uint64_t *seen = realloc(n->flow_seen, (size_t)cap * sizeof *seen);
    if (seen) {
        memset(seen + n->scratch_cap, 0, (size_t)(cap - n->scratch_cap) * sizeof *seen);
        n->flow_seen = seen;
    }
    if (!comp_flows || !start || !rate || !seen)
        return -1;
    n->scratch_cap = cap;
    return 0;
}

/* Room for `entries` route entries (and their weights). */
static int reserve_route(cs_net *n, long entries)
{
    if (entries <= n->route_cap)
        return 0;
    long cap = n->route_cap ? n->route_cap : 1024;
    while (cap < entries)
        cap *= 2;
    long *route = realloc(n->route, (size_t)cap * sizeof *route);
    if (route)
        n->route = route;
    double *w = realloc(n->weights, (size_t)cap * sizeof *w);
    if (w)
        n->weights = w;
    if (!route || !w)
        return -1;
    n->route_cap = cap;
    return 0;
}

/* Collects the links and active flows connected to the dirty links; *entries
 * gets the flows' link count. */
static void collect_component(cs_net *n, long *nlinks, long *nflows, long *entries)
{
    uint64_t seen = ++n->walk_stamp;
    long nl = 0, nf = 0, ne = 0;
    for (long i = 0; i < n->dirty_count; i++) {
        n->link_seen[n->dirty[i]] = seen;
        n->comp_links[nl++] = n->dirty[i];
    }
    n->dirty_count = 0;
    n->dirty_stamp++;
    for (long head = 0; head < nl; head++) {
        const link_flows *lf = &n->on_link[n->comp_links[head]];
        for (long k = 0; k < lf->count; k++) {
            long id = lf->ids[k];
            if (n->flow_seen[id] == seen)
                continue;
            n->flow_seen[id] = seen;
            n->comp_flows[nf++] = id;
            flow *fl = &n->flows[id];
            const long *links = links_of(fl);
            ne += fl->nlinks;
            for (int i = 0; i < fl->nlinks; i++)
                if (n->link_seen[links[i]] != seen) {
                    n->link_seen[links[i]] = seen;
                    n->comp_links[nl++] = links[i];
                }
        }
    }
    *nlinks = nl;
    *nflows = nf;
    *entries = ne;
}

/* Brings a flow's progress up to now at its old rate. */
static void catch_up(flow *fl, double now)
{
    fl->remaining -= fl->rate * (now - fl->last);
    if (fl->remaining < 0)
        fl->remaining = 0;
    fl->last = now;
}

/* Moves the completion of each of the component's nf flows to match its new
 * rate (n->rate[j] for n->comp_flows[j]), its progress brought up to now. */
static void reschedule(cs_net *n, long nf, double now)
{
    for (long j = 0; j < nf; j++) {
        long id = n->comp_flows[j];
        flow *fl = &n->flows[id];
        if (fl->rate == n->rate[j] && fl->scheduled)
            continue; /* unchanged: its completion event still holds */
        fl->rate = n->rate[j];
        fl->version++;
        fl->scheduled = fl->rate > 0;
        if (fl->scheduled && cs_engine_at(n->engine, now + fl->remaining / fl->rate, on_flow_end, n,
                                          id, fl->version) != 0)
            abort();
    }
}

/* Re-solves rates over everything connected to what changed in this instant,
 * then moves each affected flow's completion to match its new rate. */
static void resolve(void *ctx)
{
    cs_net *n = ctx;
    if (!n->dirty_count)
        return;
    if (reserve_scratch(n) != 0)
        abort(); /* out of memory inside an event */
    long nl, nf, ne;
    collect_component(n, &nl, &nf, &ne);
    if (nf == 0)
        return;
    double now = cs_engine_now(n->engine);
    if (nf == 1) { /* alone on its links: no local numbering to build */
        flow *fl = &n->flows[n->comp_flows[0]];
        catch_up(fl, now);
        n->rate[0] = cs_maxmin_lone_rate(n->fabric->capacity, (size_t)fl->nlinks, links_of(fl),
                                         fl->weight);
        n->solves++;
        reschedule(n, 1, now);
        return;
    }
    if (reserve_route(n, ne) != 0)
        abort(); /* out of memory inside an event */
    for (long i = 0; i < nl; i++) {
        n->local_of_link[n->comp_links[i]] = i;
        n->cap[i] = n->fabric->capacity[n->comp_links[i]];
    }
    size_t k = 0;
    int bundled = 0;
    for (long j = 0; j < nf; j++) {
        flow *fl = &n->flows[n->comp_flows[j]];
        catch_up(fl, now);
        n->start[j] = k;
        const long *links = links_of(fl);
        bundled |= fl->weight != NULL;
        for (int i = 0; i < fl->nlinks; i++) {
            n->weights[k] = fl->weight ? fl->weight[i] : 1;
            n->route[k++] = n->local_of_link[links[i]];
        }
    }
    n->start[nf] = k;
    if (cs_maxmin_solve(n->solver, (size_t)nl, n->cap, (size_t)nf, n->start, n->route,
                        bundled ? n->weights : NULL, n->rate) != 0)
        abort();
    n->solves++;
    reschedule(n, nf, now);
}

/* ---- sending ------------------------------------------------------------- */

/* A fresh flow slot for a transfer of `bytes`. */
static flow *start_flow(cs_net *n, double bytes, cs_done_fn done, void *ctx, long arg, long *id)
{
    *id = new_flow(n);
    if (*id < 0)
        return NULL;
    flow *fl = &n->flows[*id];
    /* The version survives reuse of the slot: completion events of the slot's
     * earlier flow may still be queued and must not match the new one. */
    uint64_t version = fl->version;
    memset(fl, 0, sizeof *fl);
    fl->version = version + 1;
    fl->bytes = fl->remaining = bytes;
    fl->done = done;
    fl->ctx = ctx;
    fl->arg = arg;
    return fl;
}

/* Delivers the flow `latency` from now: in analytic mode at the slowest
 * link's rate, in flow mode as a flow sharing its links. */
static int launch(cs_net *n, long id, double latency)
{
    flow *fl = &n->flows[id];
    double now = cs_engine_now(n->engine);
    if (n->model == CS_NET_ANALYTIC) {
        double slowest = INFINITY;
        for (int i = 0; i < fl->nlinks; i++)
            if (n->fabric->capacity[fl->links[i]] < slowest)
                slowest = n->fabric->capacity[fl->links[i]];
        return cs_engine_at(n->engine, now + latency + fl->bytes / slowest, on_arrival, n, id, 0);
    }
    return cs_engine_at(n->engine, now + latency, on_flow_start, n, id, 0);
}

int cs_net_send(cs_net *n, long src, long dst, double bytes, cs_done_fn done, void *ctx, long arg)
{
    long id;
    flow *fl = start_flow(n, bytes, done, ctx, arg, &id);
    if (!fl)
        return -1;
    if (src == dst || bytes <= 0 || n->model == CS_NET_IDEAL)
        return cs_engine_at(n->engine, cs_engine_now(n->engine), on_arrival, n, id, 0);
    double latency;
    fl->nlinks = cs_fabric_route(n->fabric, src, dst, fl->links, &latency);
    return launch(n, id, latency);
}

int cs_net_send_over(cs_net *n, long src, long dst, long link, double bytes, cs_done_fn done,
                     void *ctx, long arg)
{
    long id;
    flow *fl = start_flow(n, bytes, done, ctx, arg, &id);
    if (!fl)
        return -1;
    if ((src == dst && link < 0) || bytes <= 0 || n->model == CS_NET_IDEAL)
        return cs_engine_at(n->engine, cs_engine_now(n->engine), on_arrival, n, id, 0);
    if (link >= 0) {
        fl->links[0] = link;
        fl->nlinks = 1;
    } else {
        fl->nlinks = cs_fabric_route(n->fabric, src, dst, fl->links, NULL);
    }
    return launch(n, id, 0);
}

/* ---- bundles --------------------------------------------------------------- */

/* Per-link scratch of a bundle being made. */
static int bundle_scratch(cs_net *n)
{
    size_t L = (size_t)n->fabric->link_count;
    if (!n->bundle_bytes) {
        n->bundle_bytes = calloc(L, sizeof *n->bundle_bytes);
        n->bundle_pairs = calloc(L, sizeof *n->bundle_pairs);
        n->bundle_links = malloc(L * sizeof *n->bundle_links);
    }
    return n->bundle_bytes && n->bundle_pairs && n->bundle_links ? 0 : -1;
}

struct cs_net_bundle {
    long count;      /* links */
    long *links;
    double *weight;  /* on each link: its bytes / the volume */
    double volume;   /* the most bytes per pair on any link */
    double bytes;    /* all pairs' */
    double slowest;  /* the most loaded link's bytes / capacity */
};

void cs_net_bundle_free(cs_net_bundle *b)
{
    if (!b)
        return;
    free(b->links);
    free(b->weight);
    free(b);
}

cs_net_bundle *cs_net_bundle_make(cs_net *n, const long *src, const long *dst,
                                  const double *bytes, long count)
{
    cs_net_bundle *b = calloc(1, sizeof *b);
    if (!b || bundle_scratch(n) != 0) {
        free(b);
        return NULL;
    }
    long touched = 0;
    for (long p = 0; p < count; p++) {
        if (src[p] == dst[p] || !(bytes[p] > 0))
            continue;
        long links[CS_ROUTE_MAX];
        int k = cs_fabric_route(n->fabric, src[p], dst[p], links, NULL);
        b->bytes += bytes[p];
        for (int i = 0; i < k; i++) {
            if (n->bundle_pairs[links[i]]++ == 0)
                n->bundle_links[touched++] = links[i];
            n->bundle_bytes[links[i]] += bytes[p];
        }
    }
    /* Volume: the most bytes per pair on any link, which the pairs' fair
     * share drains; a link carrying W bytes of k pairs takes W / volume. */
    for (long i = 0; i < touched; i++) {
        long l = n->bundle_links[i];
        double per_pair = n->bundle_bytes[l] / (double)n->bundle_pairs[l];
        double t = n->bundle_bytes[l] / n->fabric->capacity[l];
        b->volume = per_pair > b->volume ? per_pair : b->volume;
        b->slowest = t > b->slowest ? t : b->slowest;
    }
    b->links = malloc((size_t)(touched + 1) * sizeof *b->links);
    b->weight = malloc((size_t)(touched + 1) * sizeof *b->weight);
    for (long i = 0; i < touched; i++) {
        long l = n->bundle_links[i];
        if (b->links && b->weight) {
            b->links[i] = l;
            b->weight[i] = n->bundle_bytes[l] / b->volume;
        }
        n->bundle_bytes[l] = 0;
        n->bundle_pairs[l] = 0;
    }
    b->count = touched;
    if (!b->links || !b->weight) {
        cs_net_bundle_free(b);
        return NULL;
    }
    return b;
}

/* Sends bundle b, which the flow owns when `own` (else b outlives it). */
static int send_made(cs_net *n, const cs_net_bundle *b, int own, cs_done_fn done, void *ctx,
                     long arg)
{
    long id;
    flow *fl = start_flow(n, b->bytes, done, ctx, arg, &id);
    if (!fl) {
        if (own)
            cs_net_bundle_free((cs_net_bundle *)b);
        return -1;
    }
    if (own)
        fl->owned = (cs_net_bundle *)b;
    double now = cs_engine_now(n->engine);
    if (b->count == 0 || n->model == CS_NET_IDEAL)
        return cs_engine_at(n->engine, now, on_arrival, n, id, 0);
    if (n->model == CS_NET_ANALYTIC)
        return cs_engine_at(n->engine, now + b->slowest, on_arrival, n, id, 0);
    fl->many_slots = malloc((size_t)b->count * sizeof *fl->many_slots);
    if (!fl->many_slots) {
        release_flow(n, id);
        return -1;
    }
    fl->many_links = b->links;
    fl->weight = b->weight;
    fl->nlinks = (int)b->count;
    fl->remaining = b->volume;
    return launch(n, id, 0);
}

int cs_net_send_made(cs_net *n, const cs_net_bundle *b, cs_done_fn done, void *ctx, long arg)
{
    return send_made(n, b, 0, done, ctx, arg);
}

int cs_net_send_bundle(cs_net *n, const long *src, const long *dst, const double *bytes,
                       long count, cs_done_fn done, void *ctx, long arg)
{
    cs_net_bundle *b = cs_net_bundle_make(n, src, dst, bytes, count);
    return b ? send_made(n, b, 1, done, ctx, arg) : -1;
}
