#include "replay/build.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

long cs_build_at(const cs_builder *B, long local, long stage)
{
    return cs_place_at(B->l, B->z, local, stage);
}

long cs_build_local_of(const cs_builder *B, long gpu) { return cs_place_local(B->l, B->z, gpu); }

long cs_build_layer_in_stage(const cs_builder *B, long layer)
{
    return B->layer_li[layer];
}

/* ---- one layer ------------------------------------------------------------------ */

int cs_build_is_moe(const cs_builder *B, long layer) { return cs_model_is_moe_layer(B->m, layer); }

/* ---- group members ---------------------------------------------------------- */

/* A stage's groups recur (its tensor-parallel group at every layer and
 * micro-batch: 400,000 calls for a dense 1T model on 64 stages), and
 * placing one costs a rank computation per member: each decomposition and
 * dimension keeps the members of the stage's groups asked for so far (its
 * groups times their size is the stage's GPUs), forgotten when the stage
 * being built changes. */
struct cs_group_memo {
    long stage; /* whose groups `members` holds */
    long groups, size;
    long *members;        /* [g * size + i] */
    unsigned char *known; /* per group */
};

static struct cs_group_memo *memo_of(cs_builder *B, cs_decomp which, cs_dim dim)
{
    if (!B->groups && !(B->groups = calloc(2 * CS_DIM_COUNT, sizeof *B->groups)))
        return NULL;
    struct cs_group_memo *m = &B->groups[(int)which * CS_DIM_COUNT + (int)dim];
    if (!m->members) {
        m->groups = cs_place_groups(B->z, which, dim);
        m->size = cs_place_size(B->z, which, dim);
        m->members = malloc((size_t)(m->groups * m->size + 1) * sizeof *m->members);
        m->known = calloc((size_t)m->groups + 1, 1);
        if (!m->members || !m->known) {
            free(m->members);
            free(m->known);
            m->members = NULL;
            m->known = NULL;
            return NULL;
        }
        m->stage = B->stage;
    }
    if (m->stage != B->stage) {
        memset(m->known, 0, (size_t)m->groups);
        m->stage = B->stage;
    }
    return m;
}

long cs_build_group(cs_builder *B, cs_decomp which, cs_dim dim, long g, long *out)
{
    struct cs_group_memo *m = memo_of(B, which, dim);
    if (m && g >= 0 && g < m->groups && m->known[g]) {
        memcpy(out, m->members + g * m->size, (size_t)m->size * sizeof *out);
        return m->size;
    }
    long n = cs_place_group(B->l, B->z, which, dim, g, B->stage, out);
    if (m && g >= 0 && g < m->groups && n == m->size) {
        memcpy(m->members + g * m->size, out, (size_t)n * sizeof *out);
        m->known[g] = 1;
    }
    return n;
}

void cs_build_groups_free(cs_builder *B)
{
    for (int i = 0; B->groups && i < 2 * CS_DIM_COUNT; i++) {
        free(B->groups[i].members);
        free(B->groups[i].known);
    }
    free(B->groups);
    B->groups = NULL;
}

cs_op_info *cs_build_info(cs_builder *B, long id, cs_op_class k, long mb, long layer)
{
    cs_workload *w = B->w;
    if (id < 0) {
        B->failed = 1;
        return NULL;
    }
    if (id >= w->cap) {
        long cap = w->cap ? 2 * w->cap : 1024;
        while (cap <= id)
            cap *= 2;
        cs_op_info *info = realloc(w->info, (size_t)cap * sizeof *info);
        if (!info) {
            B->failed = 1;
            return NULL;
        }
        w->info = info;
        w->cap = cap;
    }
    if (id >= w->count)
        w->count = id + 1;
    cs_op_info *o = &w->info[id];
    memset(o, 0, sizeof *o);
    o->klass = (uint8_t)k;
    o->stage = (int16_t)B->stage;
    o->mb = (int32_t)mb;
    o->layer = (int16_t)layer;
    return o;
}

/* The op just added on `gpu` takes over the gates pending there and follows
 * the GPU's previous op. */
void cs_build_chain(cs_builder *B, long gpu, long id, cs_op_info *o)
{
    if (B->last[gpu] >= 0 && cs_exec_depend(B->x, B->last[gpu], id) != 0)
        B->failed = 1;
    /* The previous op is a gate too: a collective may wait on the one before
     * it on its stream, and the replay follows such chains back. */
    if (o && B->last[gpu] >= 0)
        o->gate[o->ngate++] = (int32_t)B->last[gpu];
    for (int i = 0; i < B->npending[gpu]; i++) {
        if (cs_exec_depend(B->x, B->pending[gpu][i], id) != 0)
            B->failed = 1;
        if (o && o->ngate < CS_OP_GATES)
            o->gate[o->ngate++] = (int32_t)B->pending[gpu][i];
    }
    B->npending[gpu] = 0;
    B->last[gpu] = id;
    if (B->capture[gpu] == -1)
        B->capture[gpu] = id;
}

/* One compute op on the GPU's compute stream, after its previous op. */
static long compute_op(cs_builder *B, long gpu, cs_op_class k, long mb, long layer, cs_work w,
                       double mem_begin, double mem_end)
{
    double sigma = B->s->uncertainty.compute_jitter, seconds = w.seconds;
    if (sigma > 0 && seconds > 0) /* lognormal with mean 1 */
        seconds *= exp(sigma * gsl_ran_gaussian(B->noise, 1.0) - sigma * sigma / 2);
    seconds *= B->slowdown[gpu];
    long id = cs_exec_compute(B->x, gpu, CS_STREAM_COMPUTE, seconds, 0);
    cs_op_info *o = cs_build_info(B, id, k, mb, layer);
    if (!o)
        return -1;
    /* The host issues the op's kernels one after another, with its other
     * ops between them: its first kernel may run after one launch. */
    double host = w.launches * B->host_launch + w.ops * B->host_op;
    if (B->hosted && cs_exec_host(B->x, id, host, w.launches >= 1 ? B->host_launch : host) != 0)
        B->failed = 1;
    o->work = w.flops;
    o->mem_begin = mem_begin;
    o->mem_end = mem_end;
    cs_build_chain(B, gpu, id, o);
    return id;
}

/* What is carried on gpu as its own op. */
static void flush_gpu(cs_builder *B, long gpu)
{
    if (B->carry_class[gpu] < 0)
        return;
    cs_op_class k = (cs_op_class)B->carry_class[gpu];
    B->carry_class[gpu] = -1;
    cs_work w = {B->carry_s[gpu], B->carry_n[gpu], B->carry_flops[gpu], B->carry_ops[gpu]};
    compute_op(B, gpu, k, B->carry_mb[gpu], B->carry_layer[gpu], w, 0, 0);
}

long cs_build_compute(cs_builder *B, long gpu, cs_op_class k, long mb, long layer, cs_work w,
                      double mem_begin, double mem_end)
{
    if (B->carry_class[gpu] >= 0 && B->carry_class[gpu] == (int)k) {
        w.seconds += B->carry_s[gpu];
        w.launches += B->carry_n[gpu];
        w.flops += B->carry_flops[gpu];
        w.ops += B->carry_ops[gpu];
        B->carry_class[gpu] = -1;
    }
    flush_gpu(B, gpu);
    return compute_op(B, gpu, k, mb, layer, w, mem_begin, mem_end);
}

static void carry_gpu(cs_builder *B, long gpu, cs_op_class k, long mb, long layer, cs_work w)
{
    if (B->carry_class[gpu] >= 0 && B->carry_class[gpu] != (int)k)
        flush_gpu(B, gpu);
    if (B->carry_class[gpu] < 0) {
        B->carry_class[gpu] = (int)k;
        B->carry_s[gpu] = B->carry_flops[gpu] = B->carry_n[gpu] = B->carry_ops[gpu] = 0;
        B->carry_mb[gpu] = mb;
        B->carry_layer[gpu] = layer;
    }
    B->carry_s[gpu] += w.seconds;
    B->carry_n[gpu] += w.launches;
    B->carry_ops[gpu] += w.ops;
    B->carry_flops[gpu] += w.flops;
}

void cs_build_carry(cs_builder *B, long local, cs_op_class k, long mb, long layer, cs_work w)
{
    if (w.seconds <= 0)
        return;
    for (long i = local < 0 ? 0 : local; i < (local < 0 ? B->locals : local + 1); i++)
        carry_gpu(B, B->gpu_of[i], k, mb, layer, w);
}

void cs_build_flush(cs_builder *B, long local)
{
    for (long i = local < 0 ? 0 : local; i < (local < 0 ? B->locals : local + 1); i++)
        flush_gpu(B, B->gpu_of[i]);
}

void cs_build_host_mark(cs_builder *B)
{
    for (long local = 0; B->hosted && local < B->locals; local++) {
        flush_gpu(B, B->gpu_of[local]);
        B->host_wait[local] = B->last[B->gpu_of[local]];
    }
}

void cs_build_host_sync(cs_builder *B)
{
    for (long local = 0; B->hosted && local < B->locals; local++) {
        flush_gpu(B, B->gpu_of[local]);
        long wait = B->host_wait[local];
        B->host_wait[local] = -1;
        if (wait >= 0 && cs_exec_host_sync(B->x, wait) != 0)
            B->failed = 1;
    }
}

/* A collective over members[0..n-1]; every member's next op waits for it. */
long cs_build_collective(cs_builder *B, const long *members, long n, cs_coll_op op, int stream,
                         cs_op_class k, long mb, long layer, double bytes, const double *pairs)
{
    cs_coll_spec spec = {op, CS_ALGO_AUTO, n, members, bytes, pairs, 0, 0};
    for (long i = 0; i < n; i++)
        if (cs_build_live(B, members[i]))
            flush_gpu(B, members[i]); /* what the collective follows runs before it */
    long first = cs_exec_collective(B->x, &spec, stream, 0);
    if (first < 0) {
        B->failed = 1;
        return -1;
    }
    cs_build_take_shadow(B, first);
    for (long i = 0, id = first; i < n; i++) {
        if (!cs_build_live(B, members[i]))
            continue;
        cs_op_info *o = cs_build_info(B, id, k, mb, layer);
        if (!o)
            return -1;
        o->work = bytes;
        /* A layer's collectives are called by its host in program order;
         * the pipeline's and the gradients' are left unhosted (issued
         * whenever free: they come from hooks and the schedule, and the
         * builder adds them out of program order). */
        if (B->hosted && (k == CS_OP_TP || k == CS_OP_EP || k == CS_OP_CP) &&
            cs_exec_host(B->x, id, B->host_collective, B->host_collective) != 0)
            B->failed = 1;
        cs_build_chain(B, members[i], id, o);
        B->pending[members[i]][0] = id;
        B->npending[members[i]] = 1;
        id++;
    }
    return first;
}

long cs_build_collective_async(cs_builder *B, const long *members, long n, cs_coll_op op,
                               int stream, cs_op_class k, long mb, long layer, double bytes)
{
    return cs_build_collective_async_pairs(B, members, n, op, stream, k, mb, layer, bytes, NULL);
}

/* A collective beside the members' program: what they carry runs first
 * (taking the gates pending for it); the collective follows each member's
 * last op; the members go on from where they were, the gates still pending
 * for their next op staying pending for it (a pass does not begin with
 * it). Who waits for it: with ids NULL, the member's op goes to `deferred`
 * (cs_build_release() hands it to a later op); else into ids[local]. */
static long collective_aside(cs_builder *B, const long *members, long n, cs_coll_op op,
                             int stream, cs_op_class k, long mb, long layer, double bytes,
                             const double *pairs, long *ids)
{
    for (long i = 0; i < n; i++) {
        long g = members[i];
        if (!cs_build_live(B, g))
            continue;
        flush_gpu(B, g);
        B->members_last[i] = B->last[g];
        B->npending_save[g] = B->npending[g];
        memcpy(B->pending_save[g], B->pending[g], sizeof B->pending[g]);
        B->npending[g] = 0;
    }
    long first = cs_build_collective(B, members, n, op, stream, k, mb, layer, bytes, pairs);
    if (first < 0)
        return -1;
    for (long i = 0, id = first; i < n; i++) {
        long g = members[i];
        if (!cs_build_live(B, g))
            continue;
        B->last[g] = B->members_last[i];
        B->npending[g] = B->npending_save[g];
        memcpy(B->pending[g], B->pending_save[g], sizeof B->pending[g]);
        if (B->capture[g] == id)
            B->capture[g] = -1;
        if (ids)
            ids[cs_build_local_of(B, g)] = id;
        else if (B->ndeferred[g] < CS_OP_GATES)
            B->deferred[g][B->ndeferred[g]++] = id;
        else
            B->failed = 1; /* more overlapped collectives than gates: a builder bug */
        id++;
    }
    return first;
}

long cs_build_collective_async_pairs(cs_builder *B, const long *members, long n, cs_coll_op op,
                                     int stream, cs_op_class k, long mb, long layer, double bytes,
                                     const double *pairs)
{
    return collective_aside(B, members, n, op, stream, k, mb, layer, bytes, pairs, NULL);
}

long cs_build_collective_detached(cs_builder *B, const long *members, long n, cs_coll_op op,
                                  int stream, cs_op_class k, double bytes, long *ids)
{
    return collective_aside(B, members, n, op, stream, k, -1, -1, bytes, NULL, ids);
}

void cs_build_release(cs_builder *B, int oldest)
{
    for (long local = 0; local < B->locals; local++) {
        long g = B->gpu_of[local];
        int n = oldest <= 0 || oldest > B->ndeferred[g] ? B->ndeferred[g] : oldest;
        for (int i = 0; i < n; i++) {
            if (B->npending[g] == CS_OP_GATES) {
                B->failed = 1; /* more gates than an op holds: a builder bug */
                return;
            }
            B->pending[g][B->npending[g]++] = B->deferred[g][i];
        }
        for (int i = n; i < B->ndeferred[g]; i++)
            B->deferred[g][i - n] = B->deferred[g][i];
        B->ndeferred[g] -= n;
    }
}

/* ---- kernel times ---------------------------------------------------------- */

double cs_build_gemm(cs_builder *B, double M, double K, double N)
{
    return cs_cost_kernel(&B->cost, 2 * M * K * N, DT * (M * K + K * N + M * N));
}

double cs_build_memory_op(cs_builder *B, double bytes)
{
    return cs_cost_kernel(&B->cost, 0, bytes);
}

void cs_build_end_markers(cs_builder *B)
{
    for (long local = 0; local < B->locals; local++)
        cs_build_compute(B, B->gpu_of[local], CS_OP_END, -1, -1, (cs_work){0, 0, 0, 0}, 0, 0);
}
