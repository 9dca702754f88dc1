/* replay: one training iteration of one layout, event by event, and what it
 * measures.
 *
 * Builds the fabric, the network model, every GPU's program (workload.h) and
 * runs it. Then:
 *   - each GPU's compute stream is split into compute time and the gaps
 *     between its ops; a gap is charged to what the next op waited for:
 *     a pipeline receive is a bubble while the sending stage was still
 *     computing and exposed PP time while the bytes moved; a TP, EP or DP
 *     collective is exposed time of its kind, including waiting for slower
 *     members (NCCL blocks too); gaps chain back through what a collective
 *     itself waited for. Idle time after a GPU's last op is bubble. So for
 *     every GPU compute + exposed TP, EP, PP, DP + bubble = iteration time.
 *   - a memory ledger per GPU: static state (weights, gradients, optimizer,
 *     reserved) from the start, activations allocated when a layer's forward
 *     begins and freed when its weight gradient is done; the peak, where and
 *     when. */
#ifndef CS_REPLAY_H
#define CS_REPLAY_H

#include <stdint.h>

#include "input/config.h"
#include "model/layout.h"
#include "model/memory.h"
#include "replay/workload.h"

typedef struct cs_stage_result {
    double busy_s;            /* compute, averaged over the stage's GPUs */
    double bubble_s;
    double memory_peak_bytes; /* highest of the stage's GPUs */
} cs_stage_result;

typedef enum {
    CS_TIME_COMPUTE,
    CS_TIME_TP,
    CS_TIME_EP,
    CS_TIME_PP,
    CS_TIME_DP,
    CS_TIME_CP,
    CS_TIME_BUBBLE,
    CS_TIME_KINDS
} cs_time_kind;

typedef struct cs_replay_result {
    double iteration_time_s;
    double throughput_seq_per_s, throughput_tokens_per_s;
    double model_tflops_per_gpu, mfu, bubble_fraction;
    double time_s[CS_TIME_KINDS]; /* averaged over GPUs; they add up to the iteration */
    double compute_s[CS_OP_END];  /* compute time by op class (forward, B, W, recompute,
                                     optimizer), averaged over GPUs */
    double memory_peak_bytes;
    long memory_peak_stage, memory_peak_gpu;
    double memory_peak_time_s;
    int memory_fits;
    cs_memory_breakdown memory; /* of the peak GPU at its peak */
    cs_stage_result *stages;    /* pp entries (owned) */
    double *gpu_busy_s;         /* compute time of every GPU (owned) */
    long stage_count;
    double moe_dropped_tokens, moe_routed_tokens;
    double memory_left_bytes; /* largest |activations + buffers| still held at the end
                                 (0: every allocation was freed) */
    uint64_t events;
    long ops;
    long simulated_gpus; /* GPUs given a program: the world, or one per stage when the
                            replay was reduced (symmetry.h) */
} cs_replay_result;

/* What a timeline shows of a GPU's compute stream: its ops, and each gap
 * charged to what it waited for. */
typedef enum {
    CS_SPAN_FORWARD,
    CS_SPAN_BACKWARD_INPUT,
    CS_SPAN_BACKWARD_WEIGHT,
    CS_SPAN_RECOMPUTE,
    CS_SPAN_OPTIMIZER,
    CS_SPAN_TP,
    CS_SPAN_EP,
    CS_SPAN_PP,
    CS_SPAN_DP,
    CS_SPAN_CP,
    CS_SPAN_BUBBLE,
    CS_SPAN_KINDS
} cs_span_kind;

typedef struct cs_span {
    int32_t gpu, mb, layer;
    int16_t stage;
    uint8_t kind; /* cs_span_kind */
    double start, end;
} cs_span;

/* Every op of a captured GPU, for the Chrome trace. */
typedef struct cs_trace_op {
    int32_t gpu, mb, layer;
    uint8_t stream, klass; /* cs_op_class */
    double ready, begin, end, work;
    int64_t flow; /* pipeline transfers: an id shared by sender and receiver; else -1 */
} cs_trace_op;

/* A captured GPU's memory after a change: the total and its parts. */
typedef struct cs_memory_sample {
    int32_t gpu;
    double time, bytes;
    double weights, gradients, optimizer, reserved; /* its stage's static state */
    double activations, buffers;
} cs_memory_sample;

/* What to keep of a replay beyond its summary: spans, ops and memory of some
 * GPUs (by default the first GPU of each stage: tp = ep = dp = 0). */
typedef struct cs_capture {
    long *gpus;   /* captured GPUs (owned) */
    long *stages; /* stage of each captured GPU (owned) */
    long gpu_count;
    cs_span *spans;
    long span_count, span_cap;
    cs_trace_op *ops;
    long op_count, op_cap;
    cs_memory_sample *memory;
    long memory_count, memory_cap;
} cs_capture;

/* The most stages captured by default: beyond a screen's worth of rows a
 * timeline is unreadable and its files grow past any use (a 64-stage run
 * wrote 460 MB of trace). */
#define CS_CAPTURE_DEFAULT_STAGES 8

/* Picks the GPUs to capture: `ranks` (count n, each below the world size) or,
 * when NULL, the first GPU of each of at most CS_CAPTURE_DEFAULT_STAGES
 * stages: all of them, or the first, the last and evenly spaced ones between.
 * Returns 0 or -1. */
int cs_capture_init(cs_capture *c, const cs_layout *l, const cs_layout_sizes *z,
                    const long *ranks, long n);
/* The default GPUs (ranks NULL above), then those of extra[0..n-1] not
 * among them. Returns 0 or -1. */
int cs_capture_init_plus(cs_capture *c, const cs_layout *l, const cs_layout_sizes *z,
                         const long *extra, long n);
void cs_capture_free(cs_capture *c);

/* Replays layout l (already checked: z from cs_layout_check) under `model`
 * with routing drawn from `seed`. Returns 0, -1 when out of memory, -2 when
 * the program could not finish (a bug: every schedule here is deadlock-free). */
int cs_replay(const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
              cs_network_model model, unsigned long seed, cs_replay_result *out);

/* Same, also filling `capture` (initialised by cs_capture_init). */
int cs_replay_capture(const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
                      cs_network_model model, unsigned long seed, cs_replay_result *out,
                      cs_capture *capture);

const char *cs_span_kind_name(cs_span_kind k);
void cs_replay_result_free(cs_replay_result *r);

#endif
