#include "net/collective.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/pattern.h"
#include "net/plancache.h"

static const char *const op_names[CS_COLL_OP_COUNT] = {
    "all_reduce", "all_gather", "reduce_scatter", "alltoall", "sendrecv", "broadcast", "p2p"};
static const char *const algo_names[CS_ALGO_COUNT] = {"auto",         "ring", "tree",     "nvls",
                                                      "hierarchical", "p2p",  "nvls_tree"};
static const char *const proto_names[CS_PROTOS] = {"LL", "LL128", "Simple"};

const char *cs_coll_op_name(cs_coll_op op) { return op_names[op]; }
const char *cs_coll_algo_name(cs_coll_algo a) { return algo_names[a]; }
const char *cs_coll_proto_name(cs_proto p) { return proto_names[p]; }

static int parse(const char *name, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (!strcasecmp(name, names[i]))
            return i;
    return -1;
}

int cs_coll_op_parse(const char *name) { return parse(name, op_names, CS_COLL_OP_COUNT); }
int cs_coll_algo_parse(const char *name) { return parse(name, algo_names, CS_ALGO_COUNT); }
int cs_coll_proto_parse(const char *name) { return parse(name, proto_names, CS_PROTOS); }

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

/* The plan of s: from the net's cache when it has one (net may be NULL),
 * with what is kept beside it in *data (NULL when data is). */
static int plan_kept(cs_net *net, const cs_fabric *f, const cs_coll_spec *s, cs_coll_plan *plan,
                     void **data)
{
    void *none;
    cs_plan_cache *cache = net ? cs_net_plan_cache(net) : NULL;
    if (!data)
        data = &none;
    *data = NULL;
    if (cache && cs_plan_cache_get_data(cache, s, plan, data))
        return 0;
    int rc = cs_collective_plan_in(f, s, net ? cs_net_link_sums(net) : NULL, plan);
    if (rc == 0 && cache && s->n > 1) /* one member's plan costs nothing to make again */
        cs_plan_cache_put(cache, s, plan);
    return rc;
}

static int plan_of(cs_net *net, const cs_fabric *f, const cs_coll_spec *s, cs_coll_plan *plan)
{
    return plan_kept(net, f, s, plan, NULL);
}

/* The plan and its pattern, with the protocol's wire bytes applied. */
static int planned(cs_net *net, const cs_fabric *f, const cs_coll_spec *s, cs_coll_plan *plan,
                   cs_pattern *pat)
{
    int rc = plan_of(net, f, s, plan);
    if (rc != 0)
        return rc;
    cs_span sp;
    cs_coll_span(f, s, &sp);
    if (s->n < 2) {
        memset(pat, 0, sizeof *pat);
        return 0;
    }
    rc = cs_pattern_build(pat, f, s, &sp, plan->algo);
    for (long i = 0; rc == 0 && i < pat->count; i++)
        pat->flows[i].bytes *= plan->wire;
    return rc;
}

/* The links of pattern p, each once, into out; `marks` is one zeroed double
 * per link of f (left zeroed). Returns the count. */
static long pattern_links(const cs_fabric *f, const cs_pattern *p, double *marks, long *out)
{
    long n = 0;
    for (long i = 0; i < p->count; i++) {
        const cs_pflow *x = &p->flows[i];
        long links[CS_ROUTE_MAX];
        int k = 1;
        if (x->link >= 0)
            links[0] = x->link;
        else
            k = x->src == x->dst ? 0 : cs_fabric_route(f, x->src, x->dst, links, NULL);
        for (int j = 0; j < k; j++)
            if (marks[links[j]] == 0) {
                marks[links[j]] = 1;
                out[n++] = links[j];
            }
    }
    for (long i = 0; i < n; i++)
        marks[out[i]] = 0;
    return n;
}

long cs_collective_links(cs_net *net, const cs_coll_spec *s, long *out)
{
    cs_coll_plan plan;
    cs_pattern pat;
    const cs_fabric *f = cs_net_fabric(net);
    if (s->n < 2)
        return 0;
    if (planned(net, f, s, &plan, &pat) != 0)
        return -1;
    double *marks = cs_net_link_sums(net); /* planning left it zeroed */
    long n = marks ? pattern_links(f, &pat, marks, out) : -1;
    cs_pattern_free(&pat);
    return n;
}

double cs_collective_net_time(cs_net *net, const cs_coll_spec *s)
{
    cs_coll_plan plan;
    return plan_of(net, cs_net_fabric(net), s, &plan) == 0 ? plan.time : 0;
}

double cs_collective_net_time_once(cs_net *net, const cs_coll_spec *s)
{
    cs_coll_plan plan;
    cs_plan_cache *cache = cs_net_plan_cache(net);
    if (cache && cs_plan_cache_get(cache, s, &plan))
        return plan.time;
    return cs_collective_plan_in(cs_net_fabric(net), s, cs_net_link_sums(net), &plan) == 0
               ? plan.time
               : 0;
}

double cs_collective_wire_bytes(const cs_fabric *f, const cs_coll_spec *s)
{
    cs_coll_plan plan;
    cs_pattern pat;
    if (planned(NULL, f, s, &plan, &pat) != 0)
        return 0;
    double total = 0;
    for (long i = 0; i < pat.count; i++)
        total += pat.flows[i].bytes;
    cs_pattern_free(&pat);
    return total;
}

/* ---- running a pattern on the net ---------------------------------------- */

/* A pattern made ready to run again and again on the same group (kept with
 * its plan in the net's cache): its phases, and each phase's routed
 * transfers as one bundle. */
typedef struct compiled {
    cs_pattern pat;          /* the protocol's wire bytes applied */
    long phases;
    long *first;             /* phase k: flows first[k] .. first[k + 1] - 1 */
    cs_net_bundle **bundle;  /* per phase, NULL when it has no routed transfer */
    long *links;             /* every link the pattern uses, once (exclusive use holds them) */
    long nlinks;
} compiled;

static void compiled_free(void *p)
{
    compiled *c = p;
    if (!c)
        return;
    for (long k = 0; c->bundle && k < c->phases; k++)
        cs_net_bundle_free(c->bundle[k]);
    free(c->bundle);
    free(c->first);
    free(c->links);
    cs_pattern_free(&c->pat);
    free(c);
}

/* The routed transfers of flows first .. last - 1 of p as one bundle
 * (*out NULL when there is none). Returns 0, or -1 when out of memory. */
static int make_bundle(cs_net *net, const cs_pattern *p, long first, long last,
                       cs_net_bundle **out)
{
    long n = last - first, k = 0;
    long *ends = malloc((size_t)(2 * n + 1) * sizeof *ends);
    double *bytes = malloc((size_t)(n + 1) * sizeof *bytes);
    *out = NULL;
    if (ends && bytes)
        for (long i = first; i < last; i++)
            if (p->flows[i].link < 0) {
                ends[k] = p->flows[i].src;
                ends[n + k] = p->flows[i].dst;
                bytes[k++] = p->flows[i].bytes;
            }
    if (ends && bytes && k > 0)
        *out = cs_net_bundle_make(net, ends, ends + n, bytes, k);
    int rc = ends && bytes && (k == 0 || *out) ? 0 : -1;
    free(ends);
    free(bytes);
    return rc;
}

/* The pattern of s (planned as plan) made ready to run; NULL when out of
 * memory or it cannot be built. */
static compiled *compile(cs_net *net, const cs_coll_spec *s, const cs_coll_plan *plan)
{
    const cs_fabric *f = cs_net_fabric(net);
    compiled *c = calloc(1, sizeof *c);
    cs_span sp;
    cs_coll_span(f, s, &sp);
    if (!c || cs_pattern_build(&c->pat, f, s, &sp, plan->algo) != 0) {
        compiled_free(c);
        return NULL;
    }
    const cs_pattern *p = &c->pat;
    for (long i = 0; i < p->count; i++) {
        c->pat.flows[i].bytes *= plan->wire;
        c->phases += i == 0 || p->flows[i].phase != p->flows[i - 1].phase;
    }
    c->first = malloc((size_t)(c->phases + 1) * sizeof *c->first);
    c->bundle = calloc((size_t)(c->phases + 1), sizeof *c->bundle);
    c->links = malloc((size_t)(p->count * CS_ROUTE_MAX + 1) * sizeof *c->links);
    double *marks = cs_net_link_sums(net);
    if (!c->first || !c->bundle || !c->links || !marks) {
        compiled_free(c);
        return NULL;
    }
    c->nlinks = pattern_links(f, p, marks, c->links);
    for (long i = 0, k = 0; i < p->count; i++)
        if (i == 0 || p->flows[i].phase != p->flows[i - 1].phase)
            c->first[k++] = i;
    c->first[c->phases] = p->count;
    for (long k = 0; k < c->phases; k++)
        if (make_bundle(net, p, c->first[k], c->first[k + 1], &c->bundle[k]) != 0) {
            compiled_free(c);
            return NULL;
        }
    return c;
}

typedef struct run {
    cs_net *net;
    const compiled *c; /* what runs: kept in the net's cache, or own */
    compiled *own;
    long phase;    /* next phase to start */
    long inflight; /* flows of the current phase not yet arrived */
    int held;      /* exclusive use: the pattern's links are held while it runs */
    const long *shadow; /* and the spec's shadow */
    long nshadow;
    cs_done_fn done;
    void *ctx;
    long arg;
} run;

static void run_finish(run *r)
{
    cs_done_fn done = r->done;
    void *ctx = r->ctx;
    long arg = r->arg;
    if (r->held) {
        cs_net_hold(r->net, r->c->links, r->c->nlinks, -1);
        cs_net_hold(r->net, r->shadow, r->nshadow, -1);
    }
    compiled_free(r->own);
    free(r);
    done(ctx, arg);
}

static void flow_done(void *ctx, long i);

/* Starts every transfer of the next phase, or finishes when none is left:
 * the phase's bundle, and each transfer over one given link (NVLS ports). */
static void next_phase(run *r)
{
    const compiled *c = r->c;
    if (r->phase == c->phases) {
        run_finish(r);
        return;
    }
    long k = r->phase++, first = c->first[k], last = c->first[k + 1];
    /* One extra count until every send is made. */
    r->inflight = 1;
    for (long i = first; i < last; i++) {
        const cs_pflow *x = &c->pat.flows[i];
        if (x->link < 0)
            continue;
        r->inflight++;
        if (cs_net_send_over(r->net, x->src, x->dst, x->link, x->bytes, flow_done, r, i) != 0)
            abort(); /* out of memory inside an event */
    }
    if (c->bundle[k]) {
        r->inflight++;
        if (cs_net_send_made(r->net, c->bundle[k], flow_done, r, first) != 0)
            abort();
    }
    flow_done(r, -1);
}

static void flow_done(void *ctx, long i)
{
    (void)i;
    run *r = ctx;
    if (--r->inflight == 0)
        next_phase(r);
}

static void latency_done(void *ctx, long arg, uint64_t tag)
{
    (void)arg;
    (void)tag;
    next_phase(ctx);
}

static void instant_done(void *ctx, long arg, uint64_t tag)
{
    (void)arg;
    (void)tag;
    run_finish(ctx);
}

/* Exclusive use: holds the run's pattern links and the shadow. */
static void hold(run *r, const long *shadow, long count)
{
    r->held = 1;
    r->shadow = shadow;
    r->nshadow = shadow ? count : 0;
    cs_net_hold(r->net, r->c->links, r->c->nlinks, +1);
    cs_net_hold(r->net, r->shadow, r->nshadow, +1);
}

int cs_collective_start(cs_net *net, const cs_coll_spec *s, cs_done_fn done, void *ctx, long arg)
{
    return cs_collective_start_shadowed(net, s, NULL, 0, done, ctx, arg);
}

int cs_collective_start_shadowed(cs_net *net, const cs_coll_spec *s, const long *shadow,
                                 long count, cs_done_fn done, void *ctx, long arg)
{
    const cs_fabric *f = cs_net_fabric(net);
    cs_engine *e = cs_net_engine(net);
    double now = cs_engine_now(e);
    run *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    *r = (run){net, NULL, NULL, 0, 0, 0, NULL, 0, done, ctx, arg};
    if (s->n <= 1 || cs_net_model(net) == CS_NET_IDEAL)
        return cs_engine_at(e, now, instant_done, r, 0, 0);
    cs_coll_plan plan;
    void *kept;
    int rc = plan_kept(net, f, s, &plan, &kept);
    if (rc != 0) {
        free(r);
        return rc;
    }
    if (cs_net_model(net) == CS_NET_ANALYTIC)
        return cs_engine_at(e, now + plan.time, instant_done, r, 0, 0);
    /* The pattern made once per group and size, kept with its plan (an
     * uneven all-to-all, or one the full cache does not keep, its own). */
    cs_plan_cache *cache = cs_net_plan_cache(net);
    r->c = kept;
    if (!r->c) {
        compiled *c = compile(net, s, &plan);
        if (!c) {
            free(r);
            return -1;
        }
        if (!cache || cs_plan_cache_keep(cache, s, c, compiled_free) != 0)
            r->own = c;
        r->c = c;
    }
    if (cs_net_exclusive(net))
        hold(r, shadow, count);
    return cs_engine_at(e, now + plan.latency, latency_done, r, 0, 0);
}

static void note_end(void *ctx, long arg)
{
    (void)arg;
    *(int *)ctx = 1;
}

int cs_collective_time_on(cs_net *net, const cs_coll_spec *s, double *time)
{
    cs_engine *e = cs_net_engine(net);
    int ended = 0;
    if (cs_engine_reset(e) != 0)
        return -1;
    int rc = cs_collective_start(net, s, note_end, &ended, 0);
    if (rc != 0)
        return rc;
    cs_engine_run(e);
    if (!ended)
        return -1;
    *time = cs_engine_now(e);
    return 0;
}

int cs_collective_time(const cs_fabric *f, cs_network_model model, const cs_coll_spec *s,
                       double *time, cs_coll_stats *stats)
{
    cs_engine *e = cs_engine_create();
    cs_net *net = e ? cs_net_create(e, f, model) : NULL;
    int ended = 0, rc = net ? cs_collective_start(net, s, note_end, &ended, 0) : -1;
    if (rc == 0) {
        cs_engine_run(e);
        if (ended)
            *time = cs_engine_now(e);
        else
            rc = -1;
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
