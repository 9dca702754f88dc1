#include "study/search.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/progress.h"
#include "input/diag.h"
#include "model/memory.h"
#include "replay/replay.h"
#include "study/price.h"
#include "study/sweep.h"

/* ---- the space ------------------------------------------------------------------ */

typedef struct space {
    cs_search *out;
    long cap;
} space;

static int add(space *sp, const cs_layout *l, int variant, long gpus)
{
    cs_search *out = sp->out;
    if (out->count == sp->cap) {
        long n = sp->cap ? 2 * sp->cap : 256;
        cs_search_candidate *c = realloc(out->c, (size_t)n * sizeof *c);
        if (!c)
            return -1;
        out->c = c;
        sp->cap = n;
    }
    cs_search_candidate *c = &out->c[out->count++];
    memset(c, 0, sizeof *c);
    c->layout = *l;
    c->variant = variant;
    c->gpus = gpus;
    c->fate = CS_FATE_SKIPPED;
    c->cost_per_mtoken_usd = c->time_to_train_s = NAN;
    c->iteration_time_p5_s = c->iteration_time_p95_s = NAN;
    return 0;
}

/* The values of one dimension: the listed ones, else the defaults within
 * the bounds. Returns how many. */
static int values(const cs_search_dim *d, const long *defaults, int n, long *out)
{
    if (d->count > 0) {
        memcpy(out, d->v, (size_t)d->count * sizeof *out);
        return d->count;
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (defaults[i] >= d->min && (!d->max || defaults[i] <= d->max))
            out[k++] = defaults[i];
    return k;
}

/* Powers of two from 1 to `top` that divide `of` (0: any). */
static int powers_of_two(long top, long of, long *out)
{
    int n = 0;
    for (long v = 1; v <= top && n < CS_SEARCH_MAX_VALUES; v *= 2)
        if (!of || of % v == 0)
            out[n++] = v;
    return n;
}

/* The variant suffix of a candidate's name: what differs between variants
 * (the exchange only with `exchange`: a candidate without cp has none). */
static void variant_suffix(const cs_search *out, int v, int exchange, char *buf, size_t size)
{
    const cs_scenario *x = &out->variants[v], *first = &out->variants[0];
    int gpus = 0, sp = 0, dopt = 0, gbs = 0, prec = 0, fsdp = 0, cpc = 0;
    for (int i = 0; i < out->variant_count; i++) {
        const cs_scenario *y = &out->variants[i];
        gpus |= y->cluster.nodes != first->cluster.nodes;
        gbs |= y->training.global_batch_size != first->training.global_batch_size;
        prec |= y->training.precision != first->training.precision;
        sp |= y->training.sequence_parallel != first->training.sequence_parallel;
        dopt |= y->training.distributed_optimizer != first->training.distributed_optimizer;
        fsdp |= y->training.use_megatron_fsdp != first->training.use_megatron_fsdp;
        cpc |= y->training.cp_comm_type != first->training.cp_comm_type;
    }
    int n = 0;
    buf[0] = 0;
    if (gpus)
        n += snprintf(buf + n, size - (size_t)n, "-g%ld",
                      x->cluster.nodes * x->cluster.gpus_per_node);
    if (gbs && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, "-gbs%ld", x->training.global_batch_size);
    if (prec && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, "-%s", cs_precision_name(x->training.precision));
    if (sp && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, "-sp%d", x->training.sequence_parallel);
    if (dopt && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, "-dopt%d", x->training.distributed_optimizer);
    if (fsdp && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, "-fsdp%d", x->training.use_megatron_fsdp);
    if (cpc && exchange && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "-%s", cs_cp_comm_name(x->training.cp_comm_type));
}

static cs_layout layout_of(long tp, long cp, long pp, long ep, long etp, long vpp, long mbs,
                           cs_schedule sched, cs_recompute rc, const char *suffix)
{
    cs_layout l;
    memset(&l, 0, sizeof l);
    l.tp = tp;
    l.pp = pp;
    l.ep = ep;
    l.etp = etp;
    l.cp = cp;
    l.dp = -1; /* what fills the cluster */
    l.vpp = vpp;
    l.micro_batch_size = mbs;
    l.schedule = sched;
    l.recompute = rc;
    for (int i = 0; i < CS_DIM_COUNT; i++)
        l.order[i] = (cs_dim)i;
    snprintf(l.name, sizeof l.name, "tp%ld-pp%ld-ep%ld-etp%ld%s%.0ld%s%.0ld-mb%ld-%s-%s%.63s", tp, pp,
             ep, etp, cp > 1 ? "-cp" : "", cp > 1 ? cp : 0L, vpp > 1 ? "-vpp" : "",
             vpp > 1 ? vpp : 0L, mbs, cs_schedule_name(sched), cs_recompute_name(rc), suffix);
    return l;
}

/* The scenario's variants: every GPU count, global batch size, sequence
 * parallelism and distributed optimizer asked for. Switches that need what a variant turns
 * off go off with it, as they would have to in Megatron: tp_comm_overlap
 * without sequence parallelism, overlap_param_gather and fp8_param_gather
 * without the distributed optimizer. */
static int make_variants(const cs_scenario *s, cs_search *out)
{
    const cs_search_config *k = &s->search;
    long world = s->cluster.nodes * s->cluster.gpus_per_node;
    long gpus[CS_SEARCH_MAX_VALUES], gbs[CS_SEARCH_MAX_VALUES];
    int ng = cs_search_gpu_counts(k, world, s->cluster.gpus_per_node, gpus);
    int nb = cs_search_batch_sizes(k, s->training.global_batch_size, gbs);
    unsigned sps = k->sequence_parallel ? k->sequence_parallel
                                        : 1u << (s->training.sequence_parallel ? 1 : 0);
    unsigned dos = k->distributed_optimizer ? k->distributed_optimizer
                                            : 1u << (s->training.distributed_optimizer ? 1 : 0);
    unsigned precs = k->precisions ? k->precisions : 1u << s->training.precision;
    unsigned fsdps = k->use_megatron_fsdp ? k->use_megatron_fsdp
                                          : 1u << (s->training.use_megatron_fsdp ? 1 : 0);
    unsigned cpcs = k->cp_comm_types ? k->cp_comm_types : 1u << s->training.cp_comm_type;
    /* A candidate without cp has no exchange: it is tried once, in the
     * variants of the training's exchange if asked for, else the first. */
    out->cp_home = s->training.cp_comm_type;
    while (!(cpcs & (1u << out->cp_home)))
        out->cp_home = (out->cp_home + 1) % 4;
    /* per GPU count and batch size: 4 exchanges x 3 precisions x FSDP x SP x
     * distributed optimizer, of which those asked for are kept */
    enum { PER = 4 * 3 * 2 * 2 * 2 };
    size_t most = (size_t)ng * (size_t)nb * (size_t)__builtin_popcount(cpcs) *
                  (size_t)__builtin_popcount(precs) * 8;
    out->variants = calloc(most, sizeof *out->variants);
    if (!out->variants)
        return -1;
    for (int i = 0; i < ng * nb * PER; i++) {
        int g = i / (nb * PER), b = i / PER % nb, cpc = i / 24 % 4, p = i / 8 % 3,
            fsdp = i / 4 % 2, sp = 1 - i / 2 % 2, dopt = 1 - i % 2;
        if (!(precs & (1u << p)) || !(sps & (1u << sp)) || !(fsdps & (1u << fsdp)) ||
            !(cpcs & (1u << cpc)))
            continue;
        /* Megatron-FSDP's sharding strategy decides the optimizer's sharding */
        int fsdp_dopt = s->training.data_parallel_sharding_strategy != CS_SHARD_NONE;
        if (fsdp ? dopt != fsdp_dopt : !(dos & (1u << dopt)))
            continue;
        cs_scenario *v = &out->variants[out->variant_count++];
        *v = *s;
        v->cluster.nodes = gpus[g] / s->cluster.gpus_per_node;
        v->training.global_batch_size = gbs[b];
        v->training.sequence_parallel = sp;
        v->training.tp_comm_overlap &= sp;
        v->training.use_megatron_fsdp = fsdp;
        v->training.distributed_optimizer = dopt;
        v->training.overlap_param_gather &= dopt;
        cs_training_fsdp_settle(&v->training);
        v->training.fp8_param_gather &= dopt && !fsdp;
        v->training.precision = (cs_precision)p;
        v->training.fp8_param_gather &= p == CS_FP8; /* what needs FP8 goes off without */
        v->training.first_last_layers_bf16 &= p == CS_FP8;
        v->training.cp_comm_type = (cs_cp_comm)cpc;
    }
    return 0;
}

/* Every schedule, virtual-stage count, micro-batch size and recompute of
 * one (tp, cp, pp, ep, etp). */
static int layouts_of(space *sp, const cs_search_config *k, int variant, long world, long tp,
                      long cp, long pp, long ep, long etp, const long *vpps, int nvpp,
                      const long *mbss, int nmbs, const char *suffix)
{
    unsigned scheds = k->schedules ? k->schedules : (1u << CS_1F1B) | (1u << CS_INTERLEAVED);
    unsigned rcs = k->recomputes ? k->recomputes : 7u;
    for (int sc = 0; sc < 4; sc++) {
        if (!(scheds & (1u << sc)))
            continue;
        int inter = sc == CS_INTERLEAVED;
        for (int v = 0; v < (inter ? nvpp : 1); v++) {
            long vpp = inter ? vpps[v] : 1;
            if (inter && (vpp < 2 || pp < 2))
                continue;
            for (int m = 0; m < nmbs; m++)
                for (int r = 0; r < 3; r++) {
                    if (!(rcs & (1u << r)))
                        continue;
                    cs_layout l = layout_of(tp, cp, pp, ep, etp, vpp, mbss[m], (cs_schedule)sc,
                                            (cs_recompute)r, suffix);
                    if (add(sp, &l, variant, world) != 0)
                        return -1;
                }
        }
    }
    return 0;
}

/* The layouts of one variant. */
static int enumerate(const cs_scenario *s, int variant, space *sp)
{
    const cs_search_config *k = &s->search;
    long world = s->cluster.nodes * s->cluster.gpus_per_node, gpn = s->cluster.gpus_per_node;
    long layers = s->model.num_layers, experts = s->model.moe.num_experts;
    long d[CS_SEARCH_MAX_VALUES], tps[CS_SEARCH_MAX_VALUES], pps[CS_SEARCH_MAX_VALUES],
        eps[CS_SEARCH_MAX_VALUES], etps[CS_SEARCH_MAX_VALUES], vpps[CS_SEARCH_MAX_VALUES],
        mbss[CS_SEARCH_MAX_VALUES], cps[CS_SEARCH_MAX_VALUES];
    int n = powers_of_two(k->tp_within_node ? (gpn < world ? gpn : world) : world, 0, d);
    int ntp = values(&k->tp, d, n, tps);
    n = 0;
    for (long pp = 1; pp <= layers && pp <= world && n < CS_SEARCH_MAX_VALUES; pp++)
        if (world % pp == 0)
            d[n++] = pp;
    int npp = values(&k->pp, d, n, pps);
    n = experts > 0 ? powers_of_two(experts, experts, d) : (d[0] = 1, 1);
    int nep = values(&k->ep, d, n, eps);
    /* etp's defaults are 1 and "= tp" (0): bounds apply once tp is known. */
    long etp_defaults[] = {1, 0};
    cs_search_dim etp_dim = k->etp;
    etp_dim.min = 0;
    etp_dim.max = 0;
    int netp = values(&etp_dim, etp_defaults, experts > 0 ? 2 : 1, etps);
    if (experts == 0) /* a dense model's experts' TP is its TP */
        netp = (etps[0] = 0, 1);
    /* Context parallelism pays off on long sequences: by default the powers
     * of two that leave each rank at least 4096 tokens of a sequence (and
     * its 2 cp chunks whole), so a 4k-token model tries cp 1 alone. */
    n = 0;
    for (long cp = 1; cp <= world && n < CS_SEARCH_MAX_VALUES; cp *= 2)
        if (cp == 1 || (s->training.seq_length / cp >= 4096 &&
                        s->training.seq_length % (2 * cp) == 0))
            d[n++] = cp;
    int ncp = values(&k->cp, d, n, cps);
    long vpp_default = 2, mbs_defaults[] = {1, 2};
    int nvpp = values(&k->vpp, &vpp_default, 1, vpps);
    int nmbs = values(&k->micro_batch_size, mbs_defaults, 2, mbss);
    int home = (int)s->training.cp_comm_type == sp->out->cp_home;
    char suffix[64], flat[64]; /* with and without the exchange's tag */
    variant_suffix(sp->out, variant, 1, suffix, sizeof suffix);
    variant_suffix(sp->out, variant, 0, flat, sizeof flat);
    for (int a = 0; a < ntp; a++)
        for (int c = 0; c < ncp; c++)
            for (int b = 0; b < npp; b++)
                for (int e = 0; e < nep; e++)
                    for (int x = 0; x < netp; x++) {
                        long tp = tps[a], cp = cps[c], etp = etps[x] ? etps[x] : tp;
                        if (cp == 1 && !home)
                            continue; /* without cp the exchange does not exist: once */
                        if (!k->pp.count && world % (tp * cp * pps[b]) != 0)
                            continue; /* the defaults keep only pipelines that fit */
                        if (x > 0 && etp == (etps[0] ? etps[0] : tp))
                            continue; /* etp 1 and tp when tp is 1 */
                        if (!k->etp.count &&
                            (etp < k->etp.min || (k->etp.max && etp > k->etp.max)))
                            continue;
                        if (layouts_of(sp, k, variant, world, tp, cp, pps[b], eps[e], etp,
                                       vpps, nvpp, mbss, nmbs, cp > 1 ? suffix : flat) != 0)
                            return -1;
                    }
    return 0;
}

int cs_search_space(const cs_scenario *s, cs_search *out)
{
    memset(out, 0, sizeof *out);
    space sp = {out, 0};
    if (make_variants(s, out) != 0) {
        cs_search_free(out);
        return -1;
    }
    for (int v = 0; v < out->variant_count; v++)
        if (enumerate(&out->variants[v], v, &sp) != 0) {
            cs_search_free(out);
            return -1;
        }
    return 0;
}

/* ---- stages ------------------------------------------------------------------------ */

static void first_error(const cs_diags *d, char *why, size_t size)
{
    for (size_t k = 0; k < d->count; k++)
        if (d->items[k].severity == CS_ERROR) {
            snprintf(why, size, "%s", d->items[k].message);
            return;
        }
}

/* Prunes candidate c (of scenario s) by the layout rules, search's
 * constraints and the memory estimate. */
static void prune(const cs_scenario *s, cs_search_candidate *c)
{
    cs_diags d;
    cs_diags_init(&d);
    int bad = cs_layout_check(s, &c->layout, &c->sizes, &d);
    if (bad)
        first_error(&d, c->why, sizeof c->why);
    cs_diags_free(&d);
    c->fate = CS_FATE_INVALID;
    if (bad)
        return;
    long gpn = s->cluster.gpus_per_node;
    if (s->search.tp_within_node && c->sizes.tp > gpn) {
        snprintf(c->why, sizeof c->why,
                 "TP %ld spans nodes of %ld GPUs (search: tp_within_node is true)", c->sizes.tp,
                 gpn);
        return;
    }
    cs_memory_breakdown b;
    cs_memory_peak(s, &c->sizes, &b);
    c->memory_estimate_bytes = b.total;
    double allowed = s->search.max_memory * s->cluster.gpu.memory;
    if (b.total > allowed) {
        c->fate = CS_FATE_NO_FIT;
        if (s->search.max_memory < 1)
            snprintf(c->why, sizeof c->why,
                     "needs %.1f GB of memory per GPU by the estimate; the search allows %.1f GB "
                     "(max_memory %.0f%% of %.1f GB)",
                     b.total / 1e9, allowed / 1e9, 100 * s->search.max_memory,
                     s->cluster.gpu.memory / 1e9);
        else
            snprintf(c->why, sizeof c->why,
                     "needs %.1f GB of memory per GPU by the estimate; the GPU has %.1f GB",
                     b.total / 1e9, s->cluster.gpu.memory / 1e9);
        return;
    }
    c->fate = CS_FATE_EVALUATED;
}

/* The numbers search derives from a replay: the objective, cost per
 * million tokens and time-to-train. With several global batch sizes the
 * objective is per million tokens, iterations of different batches being
 * no measure of each other. */
static void derive(const cs_scenario *s, cs_search_candidate *c, double tokens_per_s)
{
    cs_search_objective o = s->search.objective;
    double gpu_s = (double)c->gpus * c->iteration_time_s;
    double tokens = (double)s->training.global_batch_size * (double)s->training.seq_length;
    /* cost: GPU-seconds at their price, which depends on the GPU count once
     * the network is bought (study/price.h) */
    c->objective = o == CS_OBJECTIVE_COST ? gpu_s * cs_price_per_gpu_s(&s->cost, &s->cluster)
                   : o == CS_OBJECTIVE_THROUGHPUT_PER_GPU ? gpu_s
                                                          : c->iteration_time_s;
    if (cs_search_per_token(&s->search))
        c->objective *= 1e6 / tokens;
    c->cost_per_mtoken_usd =
        s->cost.present ? gpu_s * cs_price_per_gpu_s(&s->cost, &s->cluster) / tokens * 1e6 : NAN;
    c->time_to_train_s =
        s->training.tokens > 0 && tokens_per_s > 0 ? s->training.tokens / tokens_per_s : NAN;
}

/* The rest of a replay's report, added to c weighted by w (1: one replay;
 * 1/n: one of n repeats). */
static void add_report(cs_search_candidate *c, const cs_replay_result *r, double w)
{
    c->throughput_tokens_per_s += w * r->throughput_tokens_per_s;
    c->model_tflops_per_gpu += w * r->model_tflops_per_gpu;
    for (int k = 0; k < CS_TIME_KINDS; k++)
        c->time_s[k] += w * r->time_s[k];
    for (int k = 0; k < CS_OP_END; k++)
        c->compute_s[k] += w * r->compute_s[k];
}

static void clear_report(cs_search_candidate *c)
{
    c->throughput_tokens_per_s = c->model_tflops_per_gpu = 0;
    memset(c->time_s, 0, sizeof c->time_s);
    memset(c->compute_s, 0, sizeof c->compute_s);
}

/* Replays candidate c in scenario s under `model`; 0 or -1. */
static int replay(const cs_scenario *s, cs_search_candidate *c, cs_network_model model)
{
    cs_replay_result r;
    int rc = cs_replay(s, &c->layout, &c->sizes, model, s->seed, &r);
    if (rc == 0) {
        clear_report(c);
        add_report(c, &r, 1);
        c->memory = r.memory;
        c->stage = model;
        c->iteration_time_s = r.iteration_time_s;
        c->throughput_seq_per_s = r.throughput_seq_per_s;
        c->mfu = r.mfu;
        c->bubble_fraction = r.bubble_fraction;
        c->memory_peak_bytes = r.memory_peak_bytes;
        c->memory_fits =
            r.memory_fits && r.memory_peak_bytes <= s->search.max_memory * s->cluster.gpu.memory;
        c->iteration_time_p5_s = c->iteration_time_p95_s = NAN;
        c->repeats = 1;
        derive(s, c, r.throughput_tokens_per_s);
    }
    cs_replay_result_free(&r);
    return rc;
}

/* Replays candidate c (place i in the space) `n` times under `model`, each
 * with its seed, into the means, the highest memory peak, and the
 * iteration time's percentiles; 0 or -1. */
static int replay_repeats(const cs_scenario *s, cs_search_candidate *c, long i,
                          cs_network_model model, long n)
{
    if (n <= 1)
        return replay(s, c, model);
    double *times = malloc((size_t)n * sizeof *times), seq = 0, tokens = 0, mfu = 0, bubble = 0;
    double peak = -1;
    int fits = 1, rc = times ? 0 : -1;
    clear_report(c);
    for (long k = 0; k < n && rc == 0; k++) {
        cs_replay_result r;
        unsigned long seed = k == 0 ? s->seed : cs_sweep_seed(s->seed, i, k);
        rc = cs_replay(s, &c->layout, &c->sizes, model, seed, &r);
        if (rc == 0) {
            times[k] = r.iteration_time_s;
            seq += r.throughput_seq_per_s / (double)n;
            tokens += r.throughput_tokens_per_s / (double)n;
            mfu += r.mfu / (double)n;
            bubble += r.bubble_fraction / (double)n;
            if (r.memory_peak_bytes > peak) {
                peak = r.memory_peak_bytes;
                c->memory = r.memory;
            }
            fits &= r.memory_fits;
            add_report(c, &r, 1.0 / (double)n);
        }
        cs_replay_result_free(&r);
    }
    if (rc == 0) {
        c->stage = model;
        c->iteration_time_s = gsl_stats_mean(times, 1, (size_t)n);
        gsl_sort(times, 1, (size_t)n);
        c->iteration_time_p5_s = gsl_stats_quantile_from_sorted_data(times, 1, (size_t)n, 0.05);
        c->iteration_time_p95_s = gsl_stats_quantile_from_sorted_data(times, 1, (size_t)n, 0.95);
        c->repeats = n;
        c->throughput_seq_per_s = seq;
        c->mfu = mfu;
        c->bubble_fraction = bubble;
        c->memory_peak_bytes = peak;
        c->memory_fits = fits && peak <= s->search.max_memory * s->cluster.gpu.memory;
        derive(s, c, tokens);
    }
    free(times);
    return rc;
}

/* Work handed to the workers: candidate indices, each done once. */
typedef struct pool {
    cs_search *out;
    const cs_search_options *o;
    const long *todo;
    long count, next, done;
    int stage; /* 0: prune and evaluate; 1: replay with the asked model */
    double deadline; /* stage 0: no new candidate after it (0: none) */
    int failed;
    pthread_mutex_t lock;
} pool;

static long take(pool *p)
{
    pthread_mutex_lock(&p->lock);
    long i = p->next < p->count ? p->todo[p->next++] : -1;
    if (i >= 0 && p->deadline > 0 && cs_progress_clock() > p->deadline) {
        p->next = p->count; /* the rest stay skipped */
        i = -1;
    }
    pthread_mutex_unlock(&p->lock);
    return i;
}

/* The network model of the evaluation stage. */
static cs_network_model first_model(const cs_search_options *o)
{
    return o->every_stage ? o->model : CS_NET_ANALYTIC;
}

/* A candidate that passed the checks: its numbers of an earlier run, else
 * its replay with the evaluation's model, if it is this shard's. */
static int evaluate(pool *p, const cs_scenario *s, cs_search_candidate *c, long i)
{
    const cs_search_prior_row *r = cs_search_prior_find(p->o->prior, c->layout.name);
    if (r) {
        c->stage = first_model(p->o);
        c->iteration_time_s = r->iteration_time_s;
        c->throughput_seq_per_s = r->throughput;
        c->mfu = r->mfu;
        c->bubble_fraction = NAN; /* not in search.csv: replayed again if shown */
        c->memory_peak_bytes = r->memory_peak_bytes;
        c->memory_fits = r->memory_fits;
        c->objective = r->objective;
        c->cost_per_mtoken_usd = r->cost_per_mtoken_usd;
        c->time_to_train_s = r->time_to_train_s;
        c->repeats = 1;
        c->resumed = 1;
        return 0;
    }
    if (p->o->shards > 1 && i % p->o->shards != p->o->shard) {
        c->fate = CS_FATE_SKIPPED;
        snprintf(c->why, sizeof c->why, "left to shard %ld/%ld", i % p->o->shards + 1,
                 p->o->shards);
        return 0;
    }
    return replay(s, c, first_model(p->o));
}

static void *worker(void *arg)
{
    pool *p = arg;
    for (long i; (i = take(p)) >= 0;) {
        cs_search_candidate *c = &p->out->c[i];
        const cs_scenario *s = &p->out->variants[c->variant];
        int rc = 0;
        if (p->stage == 0) {
            prune(s, c);
            if (c->fate == CS_FATE_EVALUATED)
                rc = evaluate(p, s, c, i);
        } else {
            long n = s->search.repeats > 1 ? s->search.repeats : 1;
            rc = replay_repeats(s, c, i, p->o->model, n);
            /* under the evaluation's model again: for a resumed one's
             * numbers, whole, or the repeats */
            if (p->o->model != first_model(p->o) || n > 1)
                c->fate = CS_FATE_REPLAYED;
            c->resumed = 0;
        }
        pthread_mutex_lock(&p->lock);
        p->failed |= rc != 0;
        p->done++;
        if (p->o->progress)
            p->o->progress(p->done, p->count, p->o->progress_arg);
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

static int run_pool(pool *p)
{
    pthread_t threads[64];
    int started = 0;
    pthread_mutex_init(&p->lock, NULL);
    for (; started < p->o->jobs && started < 64; started++)
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
 * the evaluated (their numbers come from the asked model), then by the
 * objective, then by place in the space. */
typedef struct rank_key {
    int fits, replayed;
    double objective;
    long index;
} rank_key;

static int by_rank(const void *a, const void *b)
{
    const rank_key *x = a, *y = b;
    if (x->fits != y->fits)
        return y->fits - x->fits;
    if (x->replayed != y->replayed)
        return y->replayed - x->replayed;
    if (x->objective != y->objective)
        return x->objective < y->objective ? -1 : 1;
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
                                   out->c[i].objective, i};
    qsort(keys, (size_t)n, sizeof *keys, by_rank);
    for (long k = 0; k < n; k++) {
        out->ranked[k] = keys[k].index;
        out->c[keys[k].index].rank = k + 1;
    }
    out->evaluated = n;
    free(keys);
    return 0;
}

/* ---- the Pareto front ------------------------------------------------------------- */

typedef struct point {
    double time, memory;
    long gpus, index;
} point;

static int by_time(const void *a, const void *b)
{
    const point *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    if (x->memory != y->memory)
        return x->memory < y->memory ? -1 : 1;
    if (x->gpus != y->gpus)
        return x->gpus < y->gpus ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Marks the fitting evaluated candidates no other beats in time, memory and
 * GPUs at once (at least as good in all three, better in one). In order of
 * time, a candidate is beaten exactly when one before it with as many GPUs
 * or fewer needs no more memory and is not its equal; the front so far is
 * kept as the least memory seen per GPU count (there are few). Equal
 * candidates sort next to each other and share their fate. */
static int mark_pareto(cs_search *out)
{
    long n = 0;
    point *pts = malloc((size_t)(out->count + 1) * sizeof *pts);
    if (!pts)
        return -1;
    for (long i = 0; i < out->count; i++) {
        const cs_search_candidate *c = &out->c[i];
        const cs_training *t = &out->variants[c->variant].training;
        /* per token when the global batches differ (cs_search_per_token) */
        double per = cs_search_per_token(&out->variants[c->variant].search)
                         ? (double)t->global_batch_size * (double)t->seq_length
                         : 1;
        if (c->fate >= CS_FATE_EVALUATED && c->memory_fits)
            pts[n++] = (point){c->iteration_time_s / per, c->memory_peak_bytes, c->gpus, i};
    }
    qsort(pts, (size_t)n, sizeof *pts, by_time);
    long gpus[CS_SEARCH_MAX_VALUES];
    double least[CS_SEARCH_MAX_VALUES];
    int ng = 0;
    out->pareto = 0;
    for (long k = 0; k < n; k++) {
        const point *x = &pts[k], *prev = k ? &pts[k - 1] : NULL;
        cs_search_candidate *c = &out->c[x->index];
        if (prev && prev->time == x->time && prev->memory == x->memory && prev->gpus == x->gpus)
            c->pareto = out->c[prev->index].pareto;
        else {
            int beaten = 0;
            for (int g = 0; g < ng; g++)
                beaten |= gpus[g] <= x->gpus && least[g] <= x->memory;
            c->pareto = !beaten;
        }
        out->pareto += c->pareto;
        int g = 0;
        while (g < ng && gpus[g] != x->gpus)
            g++;
        if (g == ng && ng < CS_SEARCH_MAX_VALUES) {
            gpus[ng] = x->gpus;
            least[ng++] = x->memory;
        } else if (g < ng && x->memory < least[g])
            least[g] = x->memory;
    }
    free(pts);
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
    cs_sweep_fingerprint(s, out->id);
    out->shard = o->shards > 1 ? o->shard : 0;
    out->shards = o->shards > 1 ? o->shards : 1;
    out->top = o->top;
    pool p = {.out = out, .o = o, .todo = todo, .count = out->count};
    if (o->budget_s > 0)
        p.deadline = cs_progress_clock() + o->budget_s;
    int rc = run_pool(&p);
    for (long i = 0; i < out->count; i++)
        out->resumed += out->c[i].resumed;
    if (rc == 0)
        rc = rank(out);
    /* The last stage: the best replayed with the asked model (each
     * search.repeats times); when that is the evaluation's, only those whose
     * numbers were read back (for what search.csv does not keep). A shard
     * has none: the ranking is the merge's. */
    long top = o->top < out->evaluated ? o->top : out->evaluated, n = 0;
    int all = o->model != first_model(o) || s->search.repeats > 1;
    for (long k = 0; k < top && !all; k++)
        if (out->c[out->ranked[k]].resumed)
            todo[n++] = out->ranked[k];
    if (rc == 0 && out->shards == 1 && (all ? top : n) > 0) {
        pool q = {.out = out,
                  .o = o,
                  .todo = all ? out->ranked : todo,
                  .count = all ? top : n,
                  .stage = 1};
        rc = run_pool(&q);
        if (rc == 0)
            rc = rank(out);
    }
    if (rc == 0)
        rc = mark_pareto(out);
    for (long i = 0; i < out->count; i++) {
        out->skipped += out->c[i].fate == CS_FATE_SKIPPED;
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
    free(r->variants);
    memset(r, 0, sizeof *r);
}
