/* exec: programs of ops on GPU streams, run on the engine.
 *
 * Each GPU has a few streams (one for compute, others for communication), and
 * ops run on a stream in the order they were added, one at a time, as on a
 * CUDA stream. An op starts when the op before it on its stream has finished
 * and every op it depends on (on any GPU) has finished. A compute op then
 * takes its duration. A collective is one member op per GPU; a member that may
 * start has "arrived" and blocks its stream until the whole collective ends,
 * and the collective itself starts only when its last member arrives (a slow
 * rank delays the group, as in NCCL).
 *
 * Ops may also be issued by their GPU's host thread (cs_exec_host), as a
 * framework's CPU launches kernels one after another: the host takes time
 * to issue each op, in the order they were marked, and an op may start only
 * once its first kernel is issued and end no sooner than its last. The host
 * runs ahead of the GPU unboundedly, except at a sync (cs_exec_host_sync: a
 * device-to-host copy the CPU waits on), where it waits for an op to end
 * before it issues anything marked after that point. Unmarked ops are issued as soon
 * as they are free to start.
 *
 * A reduced replay (symmetry.h) gives programs to some GPUs only, the live
 * ones; the others mirror one of them. A collective then has an op for its
 * live members only and starts when they have all arrived: the mirrored
 * members, running the same program, arrive at the same instant. The
 * network still moves the whole group's traffic. */
#ifndef CS_EXEC_H
#define CS_EXEC_H

#include "net/collective.h"
#include "net/net.h"

typedef struct cs_exec cs_exec;

typedef struct cs_op_times {
    double ready; /* start allowed (stream free, dependencies done) */
    double begin; /* work began: = ready for compute; collective start for members */
    double end;
} cs_op_times;

/* Ops on a GPU's streams, over net (borrowed). NULL when out of memory. */
cs_exec *cs_exec_create(cs_net *net, long gpus, int streams_per_gpu);
void cs_exec_destroy(cs_exec *x);

/* Makes room for `ops` ops and `deps` dependencies up front (a hint; the
 * tables still grow past it). Returns 0 or -1. */
int cs_exec_reserve(cs_exec *x, long ops, long deps);

/* Appends a compute op of `duration` seconds to (gpu, stream). Returns its id,
 * or -1 when out of memory. `tag` is the caller's, returned by cs_exec_tag. */
long cs_exec_compute(cs_exec *x, long gpu, int stream, double duration, long tag);

/* Only GPUs with live[gpu] != 0 take ops from now on (borrowed until the
 * run ends; NULL: every GPU). Adding a compute op to another is an error. */
void cs_exec_set_live(cs_exec *x, const unsigned char *live);

/* Appends a collective over spec->gpus (copied; spec->pair_bytes is borrowed
 * until the run ends) with one member op on each live member's `stream`.
 * Returns the id of the first member op; the k-th live member (in member
 * order) has id first + k. -1 when out of memory or no member is live. */
long cs_exec_collective(cs_exec *x, const cs_coll_spec *spec, int stream, long tag);

/* Same, with member i on streams[i] (a send on one stream pairs with a
 * receive on another). */
long cs_exec_collective_on(cs_exec *x, const cs_coll_spec *spec, const int *streams, long tag);

/* The collective whose first member op is `first` also holds shadow[0..count-1]
 * while it runs (cs_collective_start_shadowed; borrowed until the run ends).
 * Returns 0, or -1 when `first` is not a collective's first op. */
int cs_exec_set_shadow(cs_exec *x, long first, const long *shadow, long count);

/* `after` may start only once `before` has finished. Returns 0 or -1. */
int cs_exec_depend(cs_exec *x, long before, long after);

/* Marks op as issued by its GPU's host, after every op marked before it on
 * that GPU (ops must be marked in the order they were added): the host spends
 * `seconds` on it, `first` of them (<= seconds) before its first kernel may
 * run. Returns 0, or -1 out of order, on bad figures or out of memory. */
int cs_exec_host(cs_exec *x, long op, double seconds, double first);

/* Once the host of op's GPU has issued every op marked so far, it waits for
 * op (marked, and after the GPU's previous sync point) to end before it
 * issues more: a device-to-host copy queued after op, read later. Returns 0
 * or -1. */
int cs_exec_host_sync(cs_exec *x, long op);

/* Calls fn(ctx, op, ended) when an op begins (ended = 0: a compute op
 * starts, a collective member arrives) and when it ends (ended = 1). */
void cs_exec_set_observer(cs_exec *x, void (*fn)(void *ctx, long op, int ended), void *ctx);

/* Runs every op to completion. Returns 0, -1 when out of memory, -2 when some
 * op never became ready (a dependency cycle or a collective whose members wait
 * on each other). */
int cs_exec_run(cs_exec *x);

long cs_exec_op_count(const cs_exec *x);
cs_net *cs_exec_net(const cs_exec *x);
cs_op_times cs_exec_times(const cs_exec *x, long op);
long cs_exec_tag(const cs_exec *x, long op);
long cs_exec_gpu(const cs_exec *x, long op);
int cs_exec_stream(const cs_exec *x, long op);
int cs_exec_is_collective(const cs_exec *x, long op);

/* The first member op of op's collective, or -1 for a compute op. */
long cs_exec_collective_first(const cs_exec *x, long op);

/* Time the last op ended. */
double cs_exec_makespan(const cs_exec *x);

#endif
