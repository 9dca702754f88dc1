#include "replay/replay.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "replay/exec.h"
#include "replay/symmetry.h"
#include "net/fabric.h"
#include "model/placement.h"
#include "net/net.h"

/* ---- memory ledger --------------------------------------------------------- */

typedef struct ledger {
    const cs_workload *w;
    const cs_exec *x;
    double *activations; /* per GPU, live */
    double *buffers;
    double *peak;        /* per GPU: highest total seen */
    double *peak_time;
    double *peak_activations, *peak_buffers;
    const long *stage_of; /* per GPU */
    cs_capture *capture;  /* may be NULL */
    const unsigned char *captured; /* per GPU: 1 when captured */
} ledger;

static void *grow_array(void *p, long *cap, long need, size_t size)
{
    if (need <= *cap)
        return p;
    long n = *cap ? 2 * *cap : 256;
    while (n < need)
        n *= 2;
    void *q = realloc(p, (size_t)n * size);
    if (q)
        *cap = n;
    return q;
}

static void sample_memory(ledger *L, long gpu, double time, double total)
{
    cs_capture *c = L->capture;
    cs_memory_sample *m = grow_array(c->memory, &c->memory_cap, c->memory_count + 1, sizeof *m);
    if (!m)
        return;
    c->memory = m;
    const cs_static_memory *st = &L->w->static_mem[L->stage_of[gpu]];
    c->memory[c->memory_count++] =
        (cs_memory_sample){(int32_t)gpu,       time,           total,
                           st->weights,        st->gradients,  st->optimizer,
                           st->reserved,       L->activations[gpu], L->buffers[gpu]};
}

static double static_bytes(const cs_static_memory *m)
{
    return m->weights + m->gradients + m->optimizer + m->reserved;
}

static void observe(void *ctx, long op, int ended)
{
    ledger *L = ctx;
    const cs_op_info *o = &L->w->info[op];
    double delta = ended ? o->mem_end : o->mem_begin;
    if (delta == 0)
        return;
    long gpu = cs_exec_gpu(L->x, op);
    if (o->klass >= CS_OP_TP)
        L->buffers[gpu] += delta;
    else
        L->activations[gpu] += delta;
    double total = static_bytes(&L->w->static_mem[L->stage_of[gpu]]) + L->activations[gpu] +
                   L->buffers[gpu];
    cs_op_times t = cs_exec_times(L->x, op);
    double when = ended ? t.end : t.ready;
    if (L->capture && L->captured[gpu])
        sample_memory(L, gpu, when, total);
    if (total > L->peak[gpu]) {
        L->peak[gpu] = total;
        L->peak_time[gpu] = when;
        L->peak_activations[gpu] = L->activations[gpu];
        L->peak_buffers[gpu] = L->buffers[gpu];
    }
}

/* ---- time accounting --------------------------------------------------------- */

static cs_time_kind kind_of(const cs_op_info *o)
{
    switch (o->klass) {
    case CS_OP_TP:
        return CS_TIME_TP;
    case CS_OP_EP:
        return CS_TIME_EP;
    case CS_OP_PP:
        return CS_TIME_PP;
    case CS_OP_DP:
        return CS_TIME_DP;
    case CS_OP_CP:
        return CS_TIME_CP;
    default:
        return CS_TIME_BUBBLE;
    }
}

/* The gate of op that ended last (what it waited for), or -1. */
static long latest_gate(const cs_workload *w, const cs_exec *x, long op)
{
    long best = -1;
    double end = -1;
    for (int i = 0; i < w->info[op].ngate; i++) {
        double e = cs_exec_times(x, w->info[op].gate[i]).end;
        if (e > end) {
            end = e;
            best = w->info[op].gate[i];
        }
    }
    return best;
}

/* Where charged time goes: the per-GPU totals, and spans when captured. */
typedef struct sink {
    double *acc;
    cs_capture *capture; /* NULL unless this GPU is captured */
    long gpu, stage, mb, layer;
} sink;

static const cs_span_kind span_of_time[CS_TIME_KINDS] = {
    CS_SPAN_FORWARD, CS_SPAN_TP, CS_SPAN_EP, CS_SPAN_PP, CS_SPAN_DP, CS_SPAN_CP, CS_SPAN_BUBBLE};

static void add_span(cs_capture *c, const sink *k, cs_span_kind kind, double a, double b)
{
    cs_span *s = grow_array(c->spans, &c->span_cap, c->span_count + 1, sizeof *s);
    if (!s)
        return;
    c->spans = s;
    c->spans[c->span_count++] = (cs_span){(int32_t)k->gpu, (int32_t)k->mb, (int32_t)k->layer,
                                          (int16_t)k->stage, (uint8_t)kind, a, b};
}

static void put(sink *k, cs_time_kind kind, double a, double b)
{
    if (b <= a)
        return;
    k->acc[kind] += b - a;
    if (k->capture)
        add_span(k->capture, k, span_of_time[kind], a, b);
}

/* Charges [a, b], the time a GPU waited for gate d, to the right kinds. */
static void charge(const cs_workload *w, const cs_exec *x, long d, double a, double b, sink *k,
                   int depth)
{
    if (b <= a)
        return;
    if (d < 0 || depth > 10000) { /* a chain that long is a bug guard, not a case */
        put(k, CS_TIME_BUBBLE, a, b);
        return;
    }
    cs_op_times t = cs_exec_times(x, d);
    cs_time_kind kind = kind_of(&w->info[d]);
    double moving = t.begin > a ? t.begin : a; /* bytes on the wire from here */
    double waiting = t.ready > a ? t.ready : a; /* member there, peers not yet */
    if (waiting > a) /* the collective itself started late: why? */
        charge(w, x, latest_gate(w, x, d), a, waiting < b ? waiting : b, k, depth + 1);
    if (moving > waiting)
        put(k, kind == CS_TIME_PP ? CS_TIME_BUBBLE : kind, waiting, moving < b ? moving : b);
    put(k, kind, moving, b);
}

static const cs_span_kind span_of_class[CS_OP_END] = {
    CS_SPAN_FORWARD, CS_SPAN_BACKWARD_INPUT, CS_SPAN_BACKWARD_WEIGHT, CS_SPAN_RECOMPUTE,
    CS_SPAN_OPTIMIZER};

static void account(const cs_workload *w, const cs_exec *x, long gpus, double makespan,
                    double (*acc)[CS_TIME_KINDS], double (*by_class)[CS_OP_END],
                    cs_capture *capture, const unsigned char *captured, const long *stage_of)
{
    double *prev_end = calloc((size_t)gpus, sizeof *prev_end);
    if (!prev_end)
        return;
    long count = cs_exec_op_count(x);
    for (long op = 0; op < count; op++) {
        const cs_op_info *o = &w->info[op];
        if (o->klass >= CS_OP_TP)
            continue;
        long g = cs_exec_gpu(x, op);
        cs_op_times t = cs_exec_times(x, op);
        sink k = {acc[g], captured && captured[g] ? capture : NULL, g, o->stage, o->mb, o->layer};
        if (t.ready > prev_end[g])
            charge(w, x, latest_gate(w, x, op), prev_end[g], t.ready, &k, 0);
        acc[g][CS_TIME_COMPUTE] += t.end - t.ready;
        if (o->klass < CS_OP_END) {
            by_class[g][o->klass] += (t.end - t.ready) / (double)gpus;
            if (k.capture && t.end > t.ready)
                add_span(capture, &k, span_of_class[o->klass], t.ready, t.end);
        }
        prev_end[g] = t.end;
    }
    for (long g = 0; g < gpus; g++) {
        sink k = {acc[g], captured && captured[g] ? capture : NULL, g, stage_of[g], -1, -1};
        put(&k, CS_TIME_BUBBLE, prev_end[g], makespan);
    }
    free(prev_end);
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Numbers the pipeline transfers 0, 1, ... in the order their ops were
 * built, so that a trace does not depend on how many ops other GPUs have
 * (a reduced replay has fewer). */
static void renumber_flows(cs_capture *c)
{
    int64_t *ids = malloc((size_t)(c->op_count + 1) * sizeof *ids);
    if (!ids)
        return;
    long n = 0;
    for (long i = 0; i < c->op_count; i++)
        if (c->ops[i].flow >= 0)
            ids[n++] = c->ops[i].flow;
    qsort(ids, (size_t)n, sizeof *ids, cmp_id);
    long distinct = 0;
    for (long i = 0; i < n; i++)
        if (distinct == 0 || ids[distinct - 1] != ids[i])
            ids[distinct++] = ids[i];
    for (long i = 0; i < c->op_count; i++)
        if (c->ops[i].flow >= 0) {
            const int64_t *at =
                bsearch(&c->ops[i].flow, ids, (size_t)distinct, sizeof *ids, cmp_id);
            c->ops[i].flow = at - ids;
        }
    free(ids);
}

/* Every op of the captured GPUs, for the trace. */
static void capture_ops(const cs_workload *w, const cs_exec *x, cs_capture *c,
                        const unsigned char *captured)
{
    long count = cs_exec_op_count(x);
    for (long op = 0; op < count; op++) {
        long g = cs_exec_gpu(x, op);
        if (!captured[g] || w->info[op].klass == CS_OP_END)
            continue;
        cs_trace_op *t = grow_array(c->ops, &c->op_cap, c->op_count + 1, sizeof *t);
        if (!t)
            return;
        c->ops = t;
        cs_op_times tm = cs_exec_times(x, op);
        const cs_op_info *o = &w->info[op];
        long first = cs_exec_collective_first(x, op);
        c->ops[c->op_count++] =
            (cs_trace_op){(int32_t)g,  o->mb,     o->layer, (uint8_t)cs_exec_stream(x, op),
                          o->klass,    tm.ready,  tm.begin, tm.end,
                          o->work,     o->klass == CS_OP_PP ? first : -1};
    }
    renumber_flows(c);
}

/* ---- the replay ------------------------------------------------------------------ */

static void summarise(const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
                      const cs_workload *w, const ledger *L, double (*acc)[CS_TIME_KINDS],
                      cs_replay_result *r)
{
    double T = r->iteration_time_s, gpus = (double)z->world;
    const cs_training *t = &s->training;
    r->throughput_seq_per_s = T > 0 ? (double)t->global_batch_size / T : 0;
    r->throughput_tokens_per_s = r->throughput_seq_per_s * (double)t->seq_length;
    r->model_tflops_per_gpu = T > 0 ? w->model_flops / T / gpus / 1e12 : 0;
    r->mfu = r->model_tflops_per_gpu * 1e12 / s->cluster.gpu.peak_compute;
    long per_stage = z->world / z->pp;
    for (long g = 0; g < z->world; g++) {
        long stage = cs_place_stage(l, z, g);
        for (int k = 0; k < CS_TIME_KINDS; k++)
            r->time_s[k] += acc[g][k] / gpus;
        r->gpu_busy_s[g] = acc[g][CS_TIME_COMPUTE];
        r->stages[stage].busy_s += acc[g][CS_TIME_COMPUTE] / (double)per_stage;
        r->stages[stage].bubble_s += acc[g][CS_TIME_BUBBLE] / (double)per_stage;
        if (L->peak[g] > r->stages[stage].memory_peak_bytes)
            r->stages[stage].memory_peak_bytes = L->peak[g];
        if (L->peak[g] > r->memory_peak_bytes) {
            const cs_static_memory *m = &w->static_mem[stage];
            r->memory_peak_bytes = L->peak[g];
            r->memory_peak_gpu = g;
            r->memory_peak_stage = stage;
            r->memory_peak_time_s = L->peak_time[g];
            r->memory = (cs_memory_breakdown){m->weights, m->gradients, m->optimizer,
                                              L->peak_activations[g], L->peak_buffers[g],
                                              m->reserved, L->peak[g], 0};
        }
    }
    for (long g = 0; g < z->world; g++) {
        double left = fabs(L->activations[g] + L->buffers[g]);
        if (left > r->memory_left_bytes)
            r->memory_left_bytes = left;
    }
    r->bubble_fraction = T > 0 ? r->time_s[CS_TIME_BUBBLE] / T : 0;
    r->memory_fits = r->memory_peak_bytes <= s->cluster.gpu.memory;
    r->moe_dropped_tokens = w->dropped_tokens;
    r->moe_routed_tokens = w->routed_tokens;
}

/* Per-GPU results of a replay (every array one entry per GPU). */
typedef struct gpu_tables {
    long *stage_of;
    double (*acc)[CS_TIME_KINDS];
    double (*by_class)[CS_OP_END];
    double *arrays; /* the ledger's six */
    unsigned char *captured;
} gpu_tables;

/* A reduced replay's GPUs that mirror their stage's first: its results. */
static void mirror(const cs_layout *l, const cs_layout_sizes *z, const unsigned char *live,
                   gpu_tables *t)
{
    for (long g = 0; g < z->world; g++) {
        if (live[g])
            continue;
        long first = cs_place_at(l, z, 0, t->stage_of[g]);
        memcpy(t->acc[g], t->acc[first], sizeof t->acc[g]);
        memcpy(t->by_class[g], t->by_class[first], sizeof t->by_class[g]);
        for (int a = 0; a < 6; a++)
            t->arrays[a * z->world + g] = t->arrays[a * z->world + first];
    }
}

/* One replay on a fresh engine: whole, or reduced to the GPUs in live.
 * Returns 0, -1 or -2 as cs_replay, 1 when a reduced replay found the GPUs
 * of a stage unlike: a group unlike its copies while building, or two
 * groups sharing a link while running (nothing in r is set then; what
 * capture got is to be cleared). */
static int attempt(const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
                   cs_network_model model, unsigned long seed, cs_replay_result *r, cs_fabric *f,
                   cs_capture *capture, const unsigned char *live)
{
    cs_engine *e = cs_engine_create();
    cs_net *net = e ? cs_net_create(e, f, model) : NULL;
    cs_exec *x = net ? cs_exec_create(net, z->world, CS_STREAMS) : NULL;
    cs_workload w = {0};
    ledger L = {0};
    gpu_tables t = {malloc((size_t)z->world * sizeof *t.stage_of),
                    calloc((size_t)z->world, sizeof *t.acc),
                    calloc((size_t)z->world, sizeof *t.by_class),
                    calloc((size_t)z->world * 6, sizeof *t.arrays), calloc((size_t)z->world, 1)};
    int rc = -1;
    if (!x || !t.stage_of || !t.acc || !t.by_class || !t.arrays || !t.captured)
        goto done;
    /* Under the flow model a reduced replay holds for as long as they run
     * the links of every group it stands for, to see that no two ever
     * share one (else the GPUs it copies would not have run alike). */
    if (live && model == CS_NET_FLOW && cs_net_set_exclusive(net) != 0)
        goto done;
    rc = live ? cs_workload_build_reduced(&w, x, s, l, z, seed, live)
              : cs_workload_build(&w, x, s, l, z, seed);
    if (rc != 0)
        goto done;
    rc = -1;
    for (long i = 0; capture && i < capture->gpu_count; i++)
        t.captured[capture->gpus[i]] = 1;
    for (long g = 0; g < z->world; g++)
        t.stage_of[g] = cs_place_stage(l, z, g);
    double *a = t.arrays;
    long n = z->world;
    L = (ledger){&w, x, a, a + n, a + 2 * n, a + 3 * n, a + 4 * n, a + 5 * n, t.stage_of,
                 capture, t.captured};
    for (long g = 0; g < z->world; g++) {
        L.peak[g] = static_bytes(&w.static_mem[t.stage_of[g]]);
        if (capture && t.captured[g])
            sample_memory(&L, g, 0, L.peak[g]);
    }
    cs_exec_set_observer(x, observe, &L);
    rc = cs_exec_run(x);
    if (cs_net_contended(net))
        rc = 1;
    if (rc != 0)
        goto done;
    r->iteration_time_s = cs_exec_makespan(x);
    r->events = cs_engine_events(e);
    r->ops = cs_exec_op_count(x);
    r->simulated_gpus = live ? z->pp : z->world;
    account(&w, x, z->world, r->iteration_time_s, t.acc, t.by_class, capture, t.captured,
            t.stage_of);
    if (live)
        mirror(l, z, live, &t);
    for (long g = 0; g < z->world; g++)
        for (int k = 0; k < CS_OP_END; k++)
            r->compute_s[k] += t.by_class[g][k];
    if (capture)
        capture_ops(&w, x, capture, t.captured);
    summarise(s, l, z, &w, &L, t.acc, r);
done:
    cs_workload_free(&w);
    free(t.stage_of);
    free(t.acc);
    free(t.by_class);
    free(t.arrays);
    free(t.captured);
    cs_exec_destroy(x);
    cs_net_destroy(net);
    cs_engine_destroy(e);
    return rc;
}

/* Reduced when the inputs allow it and the build finds the stage's GPUs
 * alike, else whole. */
static int run(const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
               cs_network_model model, unsigned long seed, cs_replay_result *r, cs_fabric *f,
               cs_capture *capture)
{
    if (cs_symmetry_reducible(s, l, z, model, capture ? capture->gpus : NULL,
                              capture ? capture->gpu_count : 0)) {
        unsigned char *live = calloc((size_t)z->world, 1);
        if (!live)
            return -1;
        for (long stage = 0; stage < z->pp; stage++)
            live[cs_place_at(l, z, 0, stage)] = 1;
        int rc = attempt(s, l, z, model, seed, r, f, capture, live);
        free(live);
        if (rc != 1)
            return rc;
        if (capture) /* what the stopped replay captured */
            capture->span_count = capture->op_count = capture->memory_count = 0;
    }
    return attempt(s, l, z, model, seed, r, f, capture, NULL);
}

int cs_replay_capture(const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
                      cs_network_model model, unsigned long seed, cs_replay_result *out,
                      cs_capture *capture)
{
    memset(out, 0, sizeof *out);
    out->stages = calloc((size_t)z->pp, sizeof *out->stages);
    out->gpu_busy_s = calloc((size_t)z->world, sizeof *out->gpu_busy_s);
    if (!out->stages || !out->gpu_busy_s)
        return -1;
    out->stage_count = z->pp;
    cs_fabric f;
    if (cs_fabric_init(&f, &s->cluster) != 0)
        return -1;
    int rc = run(s, l, z, model, seed, out, &f, capture);
    cs_fabric_free(&f);
    return rc;
}

int cs_replay(const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
              cs_network_model model, unsigned long seed, cs_replay_result *out)
{
    return cs_replay_capture(s, l, z, model, seed, out, NULL);
}

void cs_replay_result_free(cs_replay_result *r)
{
    free(r->stages);
    free(r->gpu_busy_s);
    r->stages = NULL;
    r->gpu_busy_s = NULL;
}

int cs_capture_init(cs_capture *c, const cs_layout *l, const cs_layout_sizes *z,
                    const long *ranks, long n)
{
    memset(c, 0, sizeof *c);
    long stages = z->pp < CS_CAPTURE_DEFAULT_STAGES ? z->pp : CS_CAPTURE_DEFAULT_STAGES;
    long count = ranks ? n : stages;
    c->gpus = malloc((size_t)(count > 0 ? count : 1) * sizeof *c->gpus);
    c->stages = malloc((size_t)(count > 0 ? count : 1) * sizeof *c->stages);
    if (!c->gpus || !c->stages) {
        cs_capture_free(c);
        return -1;
    }
    for (long i = 0; i < count; i++) {
        /* stage i of `stages` spread over pp, first and last included */
        long st = stages > 1 ? (i * (z->pp - 1) + (stages - 1) / 2) / (stages - 1) : 0;
        long g = ranks ? ranks[i] : cs_place_at(l, z, 0, st);
        if (g < 0 || g >= z->world) {
            cs_capture_free(c);
            return -1;
        }
        c->gpus[i] = g;
        c->stages[i] = cs_place_stage(l, z, g);
    }
    c->gpu_count = count;
    return 0;
}

int cs_capture_init_plus(cs_capture *c, const cs_layout *l, const cs_layout_sizes *z,
                         const long *extra, long n)
{
    if (cs_capture_init(c, l, z, NULL, 0) != 0)
        return -1;
    long *gpus = realloc(c->gpus, (size_t)(c->gpu_count + n + 1) * sizeof *gpus);
    if (gpus)
        c->gpus = gpus;
    long *stages = realloc(c->stages, (size_t)(c->gpu_count + n + 1) * sizeof *stages);
    if (stages)
        c->stages = stages;
    if (!gpus || !stages) {
        cs_capture_free(c);
        return -1;
    }
    for (long i = 0; i < n; i++) {
        int seen = 0;
        for (long k = 0; k < c->gpu_count && !seen; k++)
            seen = c->gpus[k] == extra[i];
        if (seen)
            continue;
        if (extra[i] < 0 || extra[i] >= z->world) {
            cs_capture_free(c);
            return -1;
        }
        c->gpus[c->gpu_count] = extra[i];
        c->stages[c->gpu_count++] = cs_place_stage(l, z, extra[i]);
    }
    return 0;
}

void cs_capture_free(cs_capture *c)
{
    free(c->gpus);
    free(c->stages);
    free(c->spans);
    free(c->ops);
    free(c->memory);
    memset(c, 0, sizeof *c);
}

static const char *const span_names[CS_SPAN_KINDS] = {
    "forward", "backward_input", "backward_weight", "recompute", "optimizer",
    "tp",      "ep",             "pp",              "dp",        "cp",
    "bubble"};

const char *cs_span_kind_name(cs_span_kind k) { return span_names[k]; }
