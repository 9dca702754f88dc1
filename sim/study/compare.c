/* compare: paired replays of a scenario's layouts, their differences with
 * intervals, and where the differences come from. */
#include "study/compare.h"

#include <gsl/gsl_cdf.h>
#include <pthread.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay/runner.h"
#include "study/sweep.h"

static const char *const attr_names[CS_ATTR_KINDS] = {"compute", "recompute", "tp", "ep",
                                                      "pp",      "dp",        "cp", "bubble"};

const char *cs_attr_name(cs_attr_kind k) { return attr_names[k]; }

void cs_paired_interval(const double *d, long n, cs_paired *out)
{
    out->mean = gsl_stats_mean(d, 1, (size_t)n);
    out->lo = out->hi = out->mean;
    if (n < 2)
        return;
    double sd = gsl_stats_sd_m(d, 1, (size_t)n, out->mean);
    double half = gsl_cdf_tdist_Pinv(0.975, (double)(n - 1)) * sd / sqrt((double)n);
    out->lo = out->mean - half;
    out->hi = out->mean + half;
}

/* Where one replay's time went, compute split into recompute and the rest. */
static void attribution(const cs_replay_result *r, double *attr)
{
    attr[CS_ATTR_RECOMPUTE] = r->compute_s[CS_OP_RECOMPUTE];
    attr[CS_ATTR_COMPUTE] = r->time_s[CS_TIME_COMPUTE] - attr[CS_ATTR_RECOMPUTE];
    attr[CS_ATTR_TP] = r->time_s[CS_TIME_TP];
    attr[CS_ATTR_EP] = r->time_s[CS_TIME_EP];
    attr[CS_ATTR_PP] = r->time_s[CS_TIME_PP];
    attr[CS_ATTR_DP] = r->time_s[CS_TIME_DP];
    attr[CS_ATTR_CP] = r->time_s[CS_TIME_CP];
    attr[CS_ATTR_BUBBLE] = r->time_s[CS_TIME_BUBBLE];
}

/* Keeps what replay r of every layout measured. */
static void record(cs_compare *c, const cs_run *run, long r)
{
    double w = 1.0 / (double)c->repeats;
    for (long i = 0; i < c->count; i++) {
        cs_compare_layout *l = &c->layouts[i];
        const cs_layout_run *lr = &run->layouts[i];
        if (r == 0) {
            l->valid = lr->replayed;
            l->memory_fits = 1;
            l->memory_peak_bytes = 0;
            if (!lr->replayed && lr->verdict->problems.errors > 0)
                for (size_t k = 0; k < lr->verdict->problems.count; k++)
                    if (lr->verdict->problems.items[k].severity == CS_ERROR) {
                        snprintf(l->reason, sizeof l->reason, "%s",
                                 lr->verdict->problems.items[k].message);
                        break;
                    }
        }
        if (!l->valid)
            continue;
        const cs_replay_result *res = &lr->result;
        double attr[CS_ATTR_KINDS];
        attribution(res, attr);
        l->times[r] = res->iteration_time_s;
        l->seqs[r] = res->throughput_seq_per_s;
        l->time_s += w * res->iteration_time_s;
        l->seq_per_s += w * res->throughput_seq_per_s;
        for (int k = 0; k < CS_ATTR_KINDS; k++)
            l->attr_s[k] += w * attr[k];
        if (res->memory_peak_bytes > l->memory_peak_bytes)
            l->memory_peak_bytes = res->memory_peak_bytes;
        l->memory_fits &= res->memory_fits;
    }
}

/* The pair (a, b) from the replays' records; d is scratch of c->repeats. */
static void pair(const cs_compare *c, long a, long b, double *d, cs_compare_pair *p)
{
    const cs_compare_layout *A = &c->layouts[a], *B = &c->layouts[b];
    long n = c->repeats;
    p->a = a;
    p->b = b;
    for (long r = 0; r < n; r++)
        d[r] = B->times[r] - A->times[r];
    cs_paired_interval(d, n, &p->time_s);
    for (long r = 0; r < n; r++)
        d[r] = B->seqs[r] - A->seqs[r];
    cs_paired_interval(d, n, &p->seq_per_s);
    int b_faster = p->time_s.mean < 0;
    int holds_0 = p->time_s.lo < p->time_s.hi && p->time_s.lo <= 0 && p->time_s.hi >= 0;
    p->faster = p->time_s.mean == 0 || holds_0 ? -1 : b_faster ? b : a;
    const cs_compare_layout *fast = b_faster ? B : A, *slow = b_faster ? A : B;
    for (long r = 0; r < n; r++)
        d[r] = slow->times[r] / fast->times[r] - 1;
    cs_paired_interval(d, n, &p->speedup);
    for (int k = 0; k < CS_ATTR_KINDS; k++)
        p->attr_s[k] = B->attr_s[k] - A->attr_s[k];
}

static int alloc_layouts(cs_compare *c)
{
    c->layouts = calloc((size_t)c->count, sizeof *c->layouts);
    if (!c->layouts)
        return -1;
    for (long i = 0; i < c->count; i++) {
        c->layouts[i].index = i;
        c->layouts[i].times = calloc((size_t)(2 * c->repeats), sizeof(double));
        if (!c->layouts[i].times)
            return -1;
        c->layouts[i].seqs = c->layouts[i].times + c->repeats;
    }
    return 0;
}

static int make_pairs(cs_compare *c)
{
    long valid = 0;
    for (long i = 0; i < c->count; i++)
        valid += c->layouts[i].valid;
    c->pairs = calloc((size_t)(valid > 1 ? valid * (valid - 1) / 2 : 1), sizeof *c->pairs);
    double *d = malloc((size_t)c->repeats * sizeof *d);
    if (!c->pairs || !d) {
        free(d);
        return -1;
    }
    for (long a = 0; a < c->count; a++)
        for (long b = a + 1; b < c->count; b++)
            if (c->layouts[a].valid && c->layouts[b].valid)
                pair(c, a, b, d, &c->pairs[c->npairs++]);
    free(d);
    return 0;
}

/* The replays, shared by the workers: repeat r is taken by whoever comes
 * first, and its runs land at index r, so the result does not depend on
 * the number of workers. */
typedef struct pool {
    const cs_scenario *s;
    cs_network_model model;
    unsigned long seed;
    long repeats, next;
    cs_run *runs;
    int *ok;
    pthread_mutex_t lock;
} pool;

static void *worker(void *arg)
{
    pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        long r = p->next++;
        pthread_mutex_unlock(&p->lock);
        if (r >= p->repeats)
            return NULL;
        unsigned long sr = r == 0 ? p->seed : cs_sweep_seed(p->seed, 0, r);
        p->ok[r] = cs_run_scenario(p->s, p->model, sr, NULL, &p->runs[r]) == 0;
    }
}

/* Runs every repeat on `jobs` threads (the caller's among them). */
static int run_all(pool *p, int jobs)
{
    pthread_t threads[64];
    int started = 0;
    for (int i = 1; i < jobs && i < 64; i++)
        if (pthread_create(&threads[started], NULL, worker, p) == 0)
            started++;
    worker(p);
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    for (long r = 0; r < p->repeats; r++)
        if (!p->ok[r])
            return -1;
    return 0;
}

int cs_compare_run(const cs_scenario *s, cs_network_model model, unsigned long seed,
                   long repeats, int jobs, cs_compare *out)
{
    memset(out, 0, sizeof *out);
    out->repeats = repeats > 0 ? repeats : 1;
    out->draws = cs_scenario_draws(s);
    out->model = model;
    out->seed = seed;
    out->count = (long)s->layout_count;
    if (alloc_layouts(out) != 0)
        return -1;
    pool p = {s, model, seed, out->repeats, 0, calloc((size_t)out->repeats, sizeof(cs_run)),
              calloc((size_t)out->repeats, sizeof(int)), PTHREAD_MUTEX_INITIALIZER};
    int rc = p.runs && p.ok ? run_all(&p, jobs > 0 ? jobs : 1) : -1;
    for (long r = 0; p.runs && r < out->repeats; r++) {
        if (rc == 0)
            record(out, &p.runs[r], r);
        cs_run_free(&p.runs[r]);
    }
    free(p.runs);
    free(p.ok);
    return rc == 0 ? make_pairs(out) : -1;
}

void cs_compare_free(cs_compare *c)
{
    for (long i = 0; c->layouts && i < c->count; i++)
        free(c->layouts[i].times);
    free(c->layouts);
    free(c->pairs);
    memset(c, 0, sizeof *c);
}

/* ---- the summary ---------------------------------------------------------------------- */

static const char *const attr_phrases[CS_ATTR_KINDS] = {
    "compute",
    "recomputation (time paid to hold less memory)",
    "exposed tensor-parallel communication",
    "exposed expert-parallel all-to-alls",
    "exposed pipeline transfers",
    "exposed data-parallel gradient reductions and parameter gathers",
    "exposed context-parallel K/V exchanges",
    "pipeline bubble"};

/* The terms in the slower's disfavour (sign +1) or the faster's (-1),
 * largest first, that are at least 5% of the difference: their kinds in
 * out; returns how many. */
static int terms(const double *attr, double diff, int sign, int *out)
{
    int n = 0;
    for (int k = 0; k < CS_ATTR_KINDS; k++)
        if (sign * attr[k] * (diff > 0 ? 1 : -1) >= 0.05 * fabs(diff) && attr[k] != 0)
            out[n++] = k;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && fabs(attr[out[j]]) > fabs(attr[out[j - 1]]); j--) {
            int t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

static const char *name_of(const cs_scenario *s, const cs_compare *c, long i)
{
    return s->layouts[c->layouts[i].index].name;
}

/* "(95% CI 16.2% to 17.9%, 10 paired replays)" or why it is exact. */
static void interval_text(const cs_compare *c, const cs_paired *sp, char *buf, size_t len)
{
    if (c->repeats > 1)
        snprintf(buf, len, " (95%% CI %.1f%% to %.1f%%, %ld paired replays)", 100 * sp->lo,
                 100 * sp->hi, c->repeats);
    else if (!c->draws)
        snprintf(buf, len, " (exact: nothing in the scenario is drawn at random)");
    else
        snprintf(buf, len, " (one replay each: no interval)");
}

void cs_compare_summary(const cs_scenario *s, const cs_compare *c, const cs_compare_pair *p,
                        char *buf, size_t len)
{
    const char *a = name_of(s, c, p->a), *b = name_of(s, c, p->b);
    size_t used = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (used < len)                                                                            \
            used += (size_t)snprintf(buf + used, len - used, __VA_ARGS__);                          \
    } while (0)
    buf[0] = '\0';
    if (p->faster < 0) {
        PUT("Neither %s nor %s is faster at 95%% confidence: %s takes %+.1f ms per iteration "
            "(95%% CI %+.1f to %+.1f ms, %ld paired replays).",
            a, b, b, 1e3 * p->time_s.mean, 1e3 * p->time_s.lo, 1e3 * p->time_s.hi, c->repeats);
        return;
    }
    long fi = p->faster, si = fi == p->a ? p->b : p->a;
    const char *fast = name_of(s, c, fi), *slow = name_of(s, c, si);
    char ci[128];
    interval_text(c, &p->speedup, ci, sizeof ci);
    PUT("%s is %.1f%% faster than %s%s: %.1f ms per iteration against %.1f ms.", fast,
        100 * p->speedup.mean, slow, ci, 1e3 * c->layouts[fi].time_s, 1e3 * c->layouts[si].time_s);
    /* attribution as slower minus faster */
    double attr[CS_ATTR_KINDS], diff = fabs(p->time_s.mean);
    for (int k = 0; k < CS_ATTR_KINDS; k++)
        attr[k] = fi == p->b ? -p->attr_s[k] : p->attr_s[k];
    int pro[CS_ATTR_KINDS], con[CS_ATTR_KINDS];
    int np = terms(attr, diff, 1, pro), nc = terms(attr, diff, -1, con);
    if (np > 0) {
        PUT(" Of the %.1f ms, %s loses %.1f ms to %s", 1e3 * diff, slow, 1e3 * attr[pro[0]],
            attr_phrases[pro[0]]);
        if (np > 1)
            PUT(" and %.1f ms to %s", 1e3 * attr[pro[1]], attr_phrases[pro[1]]);
        PUT(".");
    }
    if (nc > 0)
        PUT(" %s spends %.1f ms more on %s.", fast, -1e3 * attr[con[0]], attr_phrases[con[0]]);
    /* Memory is the price of the other side: what each holds at its peak
     * (the recompute term above is the time paid to hold less). */
    const cs_compare_layout *F = &c->layouts[fi], *S = &c->layouts[si];
    if (F->memory_peak_bytes > 0 && S->memory_peak_bytes > 0)
        PUT(" At its peak %s holds %.1f GB per GPU and %s %.1f GB, of %.0f GB.", fast,
            F->memory_peak_bytes / 1e9, slow, S->memory_peak_bytes / 1e9,
            s->cluster.gpu.memory / 1e9);
    if (!F->memory_fits)
        PUT(" But %s does not fit in GPU memory.", fast);
#undef PUT
}
