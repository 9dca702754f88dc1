#include "replay.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "fabric.h"
#include "net.h"

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
} ledger;

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
    if (total > L->peak[gpu]) {
        cs_op_times t = cs_exec_times(L->x, op);
        L->peak[gpu] = total;
        L->peak_time[gpu] = ended ? t.end : t.ready;
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

/* Charges [a, b], the time op's GPU waited for gate d, to the right kinds. */
static void charge(const cs_workload *w, const cs_exec *x, long d, double a, double b,
                   double *acc, int depth)
{
    if (b <= a)
        return;
    if (d < 0 || depth > 64) {
        acc[CS_TIME_BUBBLE] += b - a;
        return;
    }
    cs_op_times t = cs_exec_times(x, d);
    cs_time_kind k = kind_of(&w->info[d]);
    double moving = t.begin > a ? t.begin : a; /* bytes on the wire from here */
    if (b > moving)
        acc[k] += b - moving;
    double waiting = t.ready > a ? t.ready : a; /* member there, peers not yet */
    if (moving > waiting)
        acc[k == CS_TIME_PP ? CS_TIME_BUBBLE : k] += moving - waiting;
    if (waiting > a) /* the collective itself started late: why? */
        charge(w, x, latest_gate(w, x, d), a, waiting < b ? waiting : b, acc, depth + 1);
}

static void account(const cs_workload *w, const cs_exec *x, long gpus, double makespan,
                    double (*acc)[CS_TIME_KINDS], double *by_class)
{
    double *prev_end = calloc((size_t)gpus, sizeof *prev_end);
    if (!prev_end)
        return;
    long count = cs_exec_op_count(x);
    for (long op = 0; op < count; op++) {
        if (w->info[op].klass >= CS_OP_TP)
            continue;
        long g = cs_exec_gpu(x, op);
        cs_op_times t = cs_exec_times(x, op);
        if (t.ready > prev_end[g])
            charge(w, x, latest_gate(w, x, op), prev_end[g], t.ready, acc[g], 0);
        acc[g][CS_TIME_COMPUTE] += t.end - t.ready;
        if (w->info[op].klass < CS_OP_END)
            by_class[w->info[op].klass] += (t.end - t.ready) / (double)gpus;
        prev_end[g] = t.end;
    }
    for (long g = 0; g < gpus; g++)
        acc[g][CS_TIME_BUBBLE] += makespan - prev_end[g];
    free(prev_end);
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
    long per_stage = z->tp * z->ep * z->dp;
    for (long g = 0; g < z->world; g++) {
        long coord[CS_DIM_COUNT];
        cs_layout_coords(l, z, g, coord);
        long stage = coord[CS_DIM_PP];
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

static int run(const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
               cs_network_model model, unsigned long seed, cs_replay_result *r, cs_fabric *f)
{
    cs_engine *e = cs_engine_create();
    cs_net *net = e ? cs_net_create(e, f, model) : NULL;
    cs_exec *x = net ? cs_exec_create(net, z->world, CS_STREAMS) : NULL;
    cs_workload w = {0};
    ledger L = {0};
    long *stage_of = malloc((size_t)z->world * sizeof *stage_of);
    double (*acc)[CS_TIME_KINDS] = calloc((size_t)z->world, sizeof *acc);
    double *arrays = calloc((size_t)z->world * 6, sizeof *arrays);
    int rc = -1;
    if (!x || !stage_of || !acc || !arrays || cs_workload_build(&w, x, s, l, z, seed) != 0)
        goto done;
    for (long g = 0; g < z->world; g++) {
        long coord[CS_DIM_COUNT];
        cs_layout_coords(l, z, g, coord);
        stage_of[g] = coord[CS_DIM_PP];
    }
    L = (ledger){&w, x, arrays, arrays + z->world, arrays + 2 * z->world,
                 arrays + 3 * z->world, arrays + 4 * z->world, arrays + 5 * z->world, stage_of};
    for (long g = 0; g < z->world; g++)
        L.peak[g] = static_bytes(&w.static_mem[stage_of[g]]);
    cs_exec_set_observer(x, observe, &L);
    rc = cs_exec_run(x);
    if (rc != 0)
        goto done;
    r->iteration_time_s = cs_exec_makespan(x);
    r->events = cs_engine_events(e);
    r->ops = cs_exec_op_count(x);
    account(&w, x, z->world, r->iteration_time_s, acc, r->compute_s);
    summarise(s, l, z, &w, &L, acc, r);
done:
    cs_workload_free(&w);
    free(stage_of);
    free(acc);
    free(arrays);
    cs_exec_destroy(x);
    cs_net_destroy(net);
    cs_engine_destroy(e);
    return rc;
}

int cs_replay(const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
              cs_network_model model, unsigned long seed, cs_replay_result *out)
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
    int rc = run(s, l, z, model, seed, out, &f);
    cs_fabric_free(&f);
    return rc;
}

void cs_replay_result_free(cs_replay_result *r)
{
    free(r->stages);
    free(r->gpu_busy_s);
    r->stages = NULL;
    r->gpu_busy_s = NULL;
}
