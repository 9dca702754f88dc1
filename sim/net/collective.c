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

/* The plan of s: from the net's cache when it has one (net may be NULL). */
static int plan_of(cs_net *net, const cs_fabric *f, const cs_coll_spec *s, cs_coll_plan *plan)
{
    cs_plan_cache *cache = net ? cs_net_plan_cache(net) : NULL;
    if (cache && cs_plan_cache_get(cache, s, plan))
        return 0;
    int rc = cs_collective_plan_in(f, s, net ? cs_net_link_sums(net) : NULL, plan);
    if (rc == 0 && cache)
        cs_plan_cache_put(cache, s, plan);
    return rc;
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

typedef struct run {
    cs_net *net;
    cs_pattern pat;
    long next;     /* first flow of the phase to start next */
    long inflight; /* flows of the current phase not yet arrived */
    long *held;    /* exclusive use: the pattern's links, held while it runs (owned) */
    long nheld;
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
    cs_net_hold(r->net, r->held, r->nheld, -1);
    cs_net_hold(r->net, r->shadow, r->nshadow, -1);
    free(r->held);
    cs_pattern_free(&r->pat);
    free(r);
    done(ctx, arg);
}

static void flow_done(void *ctx, long i);

/* The routed transfers of flows first .. last - 1 as one bundle; those
 * over one given link (NVLS ports) on their own. Returns the sends made, or
 * -1 when out of memory. */
static long send_bundle(run *r, long first, long last)
{
    long n = last - first, k = 0, sends = 0;
    long *ends = malloc((size_t)(2 * n + 1) * sizeof *ends);
    double *bytes = malloc((size_t)(n + 1) * sizeof *bytes);
    if (!ends || !bytes) {
        free(ends);
        free(bytes);
        return -1;
    }
    for (long i = first; i < last; i++) {
        const cs_pflow *x = &r->pat.flows[i];
        if (x->link < 0) {
            ends[k] = x->src;
            ends[n + k] = x->dst;
            bytes[k++] = x->bytes;
        } else if (cs_net_send_over(r->net, x->src, x->dst, x->link, x->bytes, flow_done, r,
                                    i) == 0) {
            sends++;
        } else {
            sends = -1;
            break;
        }
    }
    if (sends >= 0 && k > 0)
        sends = cs_net_send_bundle(r->net, ends, ends + n, bytes, k, flow_done, r, first) == 0
                    ? sends + 1
                    : -1;
    free(ends);
    free(bytes);
    return sends;
}

/* Starts every flow of the next phase, or finishes when none is left. */
static void next_phase(run *r)
{
    const cs_pattern *p = &r->pat;
    if (r->next == p->count) {
        run_finish(r);
        return;
    }
    long first = r->next;
    int phase = p->flows[first].phase;
    while (r->next < p->count && p->flows[r->next].phase == phase)
        r->next++;
    /* One extra count until every send is made: a send may arrive at once,
     * inside the loop. */
    r->inflight = 1 + (r->next - first);
    long sends = send_bundle(r, first, r->next);
    if (sends < 0)
        abort(); /* out of memory inside an event */
    r->inflight -= (r->next - first) - sends;
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
static int hold(run *r, const cs_fabric *f, const long *shadow, long count)
{
    double *marks = cs_net_link_sums(r->net);
    r->held = malloc((size_t)(r->pat.count * CS_ROUTE_MAX + 1) * sizeof *r->held);
    if (!marks || !r->held)
        return -1;
    r->nheld = pattern_links(f, &r->pat, marks, r->held);
    r->shadow = shadow;
    r->nshadow = shadow ? count : 0;
    cs_net_hold(r->net, r->held, r->nheld, +1);
    cs_net_hold(r->net, r->shadow, r->nshadow, +1);
    return 0;
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
    *r = (run){net, {0}, 0, 0, NULL, 0, NULL, 0, done, ctx, arg};
    if (s->n <= 1 || cs_net_model(net) == CS_NET_IDEAL)
        return cs_engine_at(e, now, instant_done, r, 0, 0);
    cs_coll_plan plan;
    int rc = cs_net_model(net) == CS_NET_ANALYTIC ? plan_of(net, f, s, &plan)
                                                   : planned(net, f, s, &plan, &r->pat);
    if (rc != 0) {
        free(r);
        return rc;
    }
    if (cs_net_model(net) == CS_NET_ANALYTIC)
        return cs_engine_at(e, now + plan.time, instant_done, r, 0, 0);
    if (cs_net_exclusive(net) && hold(r, f, shadow, count) != 0) {
        cs_pattern_free(&r->pat);
        free(r);
        return -1;
    }
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
