#include "study/search.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/diag.h"
#include "model/memory.h"
#include "replay/replay.h"

/* ---- the space ------------------------------------------------------------------ */

static int add(cs_search *out, long *cap, const cs_layout *l)
{
    if (out->count == *cap) {
        long n = *cap ? 2 * *cap : 256;
        cs_search_candidate *c = realloc(out->c, (size_t)n * sizeof *c);
        if (!c)
            return -1;
        out->c = c;
        *cap = n;
    }
    cs_search_candidate *c = &out->c[out->count++];
    memset(c, 0, sizeof *c);
    c->layout = *l;
    c->fate = CS_FATE_INVALID;
    return 0;
}

static cs_layout layout_of(long tp, long pp, long ep, long etp, long vpp, long mbs,
                           cs_schedule sched, cs_recompute rc)
{
    cs_layout l;
    memset(&l, 0, sizeof l);
    l.tp = tp;
    l.pp = pp;
    l.ep = ep;
    l.etp = etp;
    l.dp = -1; /* what fills the cluster */
    l.vpp = vpp;
    l.micro_batch_size = mbs;
    l.schedule = sched;
    l.recompute = rc;
    for (int i = 0; i < CS_DIM_COUNT; i++)
        l.order[i] = (cs_dim)i;
    snprintf(l.name, sizeof l.name, "tp%ld-pp%ld-ep%ld-etp%ld%s%.0ld-mb%ld-%s-%s", tp, pp, ep,
             etp, vpp > 1 ? "-vpp" : "", vpp > 1 ? vpp : 0L, mbs, cs_schedule_name(sched),
             cs_recompute_name(rc));
    return l;
}

/* Tensor parallelism inside a node (powers of two), pipelines that divide
 * the GPUs and the layers, expert parallelism over powers of two that divide
 * the experts, the experts' TP 1 or the dense TP, 1F1B and interleaved with
 * two virtual stages, micro-batches of 1 and 2, every recompute. */
int cs_search_space(const cs_scenario *s, cs_search *out)
{
    memset(out, 0, sizeof *out);
    long cap = 0, world = s->cluster.nodes * s->cluster.gpus_per_node;
    long layers = s->model.num_layers, experts = s->model.moe.num_experts;
    static const cs_recompute recomputes[] = {CS_RECOMPUTE_NONE, CS_RECOMPUTE_SELECTIVE,
                                              CS_RECOMPUTE_FULL};
    for (long tp = 1; tp <= s->cluster.gpus_per_node && tp <= world; tp *= 2)
        for (long pp = 1; pp <= layers && pp <= world / tp; pp++) {
            if (world % (tp * pp) != 0)
                continue;
            for (long ep = 1; ep <= (experts > 0 ? experts : 1); ep *= 2) {
                if (experts > 0 && experts % ep != 0)
                    continue;
                for (long etp = 1; etp <= tp; etp = etp == tp ? tp + 1 : tp) {
                    if (experts == 0 && etp != tp)
                        continue;
                    for (int v = 0; v < (pp > 1 ? 2 : 1); v++)
                        for (long mbs = 1; mbs <= 2; mbs++)
                            for (int r = 0; r < 3; r++) {
                                cs_layout l = layout_of(tp, pp, ep, etp, v ? 2 : 1, mbs,
                                                        v ? CS_INTERLEAVED : CS_1F1B,
                                                        recomputes[r]);
                                if (add(out, &cap, &l) != 0) {
                                    cs_search_free(out);
                                    return -1;
                                }
                            }
                }
            }
        }
    return 0;
}

/* ---- stages ------------------------------------------------------------------------ */

/* Prunes candidate c by the layout rules and the memory estimate. */
static void prune(const cs_scenario *s, cs_search_candidate *c)
{
    cs_diags d;
    cs_diags_init(&d);
    if (cs_layout_check(s, &c->layout, &c->sizes, &d) != 0) {
        c->fate = CS_FATE_INVALID;
        for (size_t k = 0; k < d.count; k++)
            if (d.items[k].severity == CS_ERROR) {
                snprintf(c->why, sizeof c->why, "%s", d.items[k].message);
                break;
            }
        cs_diags_free(&d);
        return;
    }
    cs_diags_free(&d);
    cs_memory_breakdown b;
    cs_memory_peak(s, &c->sizes, &b);
    c->memory_estimate_bytes = b.total;
    if (b.total > s->cluster.gpu.memory) {
        c->fate = CS_FATE_NO_FIT;
        snprintf(c->why, sizeof c->why,
                 "needs %.1f GB of memory per GPU by the estimate; the GPU has %.1f GB",
                 b.total / 1e9, s->cluster.gpu.memory / 1e9);
        return;
    }
    c->fate = CS_FATE_EVALUATED;
}

/* Replays candidate c under `model`; 0 or -1. */
static int replay(const cs_scenario *s, cs_search_candidate *c, cs_network_model model)
{
    cs_replay_result r;
    int rc = cs_replay(s, &c->layout, &c->sizes, model, s->seed, &r);
    if (rc == 0) {
        c->stage = model;
        c->iteration_time_s = r.iteration_time_s;
        c->throughput_seq_per_s = r.throughput_seq_per_s;
        c->mfu = r.mfu;
        c->bubble_fraction = r.bubble_fraction;
        c->memory_peak_bytes = r.memory_peak_bytes;
        c->memory_fits = r.memory_fits;
    }
    cs_replay_result_free(&r);
    return rc;
}

/* Work handed to the workers: candidate indices, each done once. */
typedef struct pool {
    const cs_scenario *s;
    cs_search *out;
    const long *todo;
    long count, next;
    int stage; /* 0: prune and evaluate; 1: replay with model */
    cs_network_model model;
    int failed;
    pthread_mutex_t lock;
} pool;

static void *worker(void *arg)
{
    pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        long i = p->next < p->count ? p->todo[p->next++] : -1;
        pthread_mutex_unlock(&p->lock);
        if (i < 0)
            return NULL;
        cs_search_candidate *c = &p->out->c[i];
        int rc = 0;
        if (p->stage == 0) {
            prune(p->s, c);
            if (c->fate == CS_FATE_EVALUATED)
                rc = replay(p->s, c, CS_NET_ANALYTIC);
        } else {
            rc = replay(p->s, c, p->model);
            c->fate = CS_FATE_REPLAYED;
        }
        if (rc != 0) {
            pthread_mutex_lock(&p->lock);
            p->failed = 1;
            pthread_mutex_unlock(&p->lock);
        }
    }
}

static int run_pool(pool *p, int jobs)
{
    pthread_t threads[64];
    int started = 0;
    pthread_mutex_init(&p->lock, NULL);
    for (; started < jobs && started < 64; started++)
        if (pthread_create(&threads[started], NULL, worker, p) != 0)
            break;
    if (started == 0)
        worker(p);
    for (int t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
    pthread_mutex_destroy(&p->lock);
    return p->failed ? -1 : 0;
}

/* Best first: those whose replay fits in memory, then the replayed before
 * the evaluated (their numbers come from the asked model), then by
 * iteration time, then by place in the space. */
typedef struct rank_key {
    int fits, replayed;
    double time;
    long index;
} rank_key;

static int by_rank(const void *a, const void *b)
{
    const rank_key *x = a, *y = b;
    if (x->fits != y->fits)
        return y->fits - x->fits;
    if (x->replayed != y->replayed)
        return y->replayed - x->replayed;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static int rank(cs_search *out)
{
    long n = 0;
    rank_key *keys = malloc((size_t)(out->count + 1) * sizeof *keys);
    free(out->ranked);
    out->ranked = malloc((size_t)(out->count + 1) * sizeof *out->ranked);
    if (!keys || !out->ranked) {
        free(keys);
        return -1;
    }
    for (long i = 0; i < out->count; i++)
        if (out->c[i].fate >= CS_FATE_EVALUATED)
            keys[n++] = (rank_key){out->c[i].memory_fits, out->c[i].fate == CS_FATE_REPLAYED,
                                   out->c[i].iteration_time_s, i};
    qsort(keys, (size_t)n, sizeof *keys, by_rank);
    for (long k = 0; k < n; k++) {
        out->ranked[k] = keys[k].index;
        out->c[keys[k].index].rank = k + 1;
    }
    out->evaluated = n;
    free(keys);
    return 0;
}

int cs_search_run(const cs_scenario *s, const cs_search_options *o, cs_search *out)
{
    if (cs_search_space(s, out) != 0)
        return -1;
    long *todo = malloc((size_t)(out->count + 1) * sizeof *todo);
    if (!todo)
        return -1;
    for (long i = 0; i < out->count; i++)
        todo[i] = i;
    pool p = {.s = s, .out = out, .todo = todo, .count = out->count, .model = CS_NET_ANALYTIC};
    int rc = run_pool(&p, o->jobs);
    if (rc == 0)
        rc = rank(out);
    long top = o->top < out->evaluated ? o->top : out->evaluated;
    if (rc == 0 && o->model != CS_NET_ANALYTIC && top > 0) {
        pool q = {.s = s, .out = out, .todo = out->ranked, .count = top, .stage = 1,
                  .model = o->model};
        rc = run_pool(&q, o->jobs);
        if (rc == 0)
            rc = rank(out);
    }
    for (long i = 0; i < out->count; i++) {
        out->invalid += out->c[i].fate == CS_FATE_INVALID;
        out->no_fit += out->c[i].fate == CS_FATE_NO_FIT;
        out->replayed += out->c[i].fate == CS_FATE_REPLAYED;
    }
    free(todo);
    return rc;
}

void cs_search_free(cs_search *r)
{
    free(r->c);
    free(r->ranked);
    memset(r, 0, sizeof *r);
}
