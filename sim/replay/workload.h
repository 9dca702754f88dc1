/* workload: every GPU's program for one training iteration, built into an
 * exec (ops on streams with dependencies) from the model, the layout, the
 * training settings and the schedule.
 *
 * Per layer and micro-batch, on every GPU of a stage, the kernels of
 * model/kernels.h gathered into ops between the collectives (layer.c):
 *   forward   norm, [TP all-gather], attention, TP reduce-scatter (all-reduce
 *             without sequence parallelism), bias-dropout-add, then the MLP:
 *             dense like attention, or MoE: norm, router, dispatch all-to-all
 *             in the EP group, [TP all-gather when etp > 1], the local
 *             experts' grouped GEMMs on the tokens routed to them, [TP
 *             reduce-scatter], combine all-to-all, unpermute,
 *             bias-dropout-add; embedding on the first stage, output layer
 *             and loss (with its TP all-reduces) on the last
 *   backward  the same in reverse: per block the input-gradient op (B:
 *             dgrads, attention backward, elementwise backward), the input
 *             gradient's TP reduction launched asynchronously beside the
 *             weight-gradient op (W: wgrads), the norm backward waiting for
 *             it; selective recompute's core-attention forward as its own
 *             op before the attention backward, full recompute replaying
 *             the layer's forward (with its communication) before B
 * Pipeline sends and receives pair up between neighbouring stages on four
 * dedicated streams per GPU (send/receive, towards the next/previous stage);
 * batched p2p makes the sender's next pass wait for its send.
 * Gradients are zeroed at the start, reduced over the dense data-parallel
 * group (ep x dp ranks) and the expert data-parallel group in buckets
 * (reduce-scatter with the distributed optimizer, else all-reduce), each
 * bucket as soon as its last weight gradient exists when
 * overlap_grad_reduce is on, else after the last backward; then, over all
 * stages, the tied-embedding and gradient-norm all-reduces; then the
 * optimizer step and, with the distributed optimizer, the parameter
 * all-gather.
 *
 * Kernel times come from cost.h. Each op carries what the replay needs to
 * account for it: its class, stage, micro-batch and layer, the memory it
 * allocates and frees, and the communication ops it waits on. */
#ifndef CS_WORKLOAD_H
#define CS_WORKLOAD_H

#include <stdint.h>

#include "input/config.h"
#include "replay/exec.h"
#include "model/layout.h"

typedef enum {
    CS_OP_FORWARD,
    CS_OP_BACKWARD_INPUT,  /* B */
    CS_OP_BACKWARD_WEIGHT, /* W */
    CS_OP_RECOMPUTE,
    CS_OP_OPTIMIZER,
    CS_OP_END,             /* zero-length marker: this GPU's iteration is over */
    CS_OP_TP,
    CS_OP_EP,
    CS_OP_PP,
    CS_OP_DP,
    CS_OP_CP, /* context parallelism's exchanges */
    CS_OP_CLASS_COUNT
} cs_op_class;

#define CS_OP_GATES 6

/* One per op, tens of millions on big clusters: kept to 64 bytes. */
typedef struct cs_op_info {
    double work;      /* compute: FLOPs; communication: bytes */
    double mem_begin; /* bytes allocated when the op begins */
    double mem_end;   /* bytes allocated (> 0) or freed (< 0) when it ends */
    int32_t gate[CS_OP_GATES]; /* ops it waited on: the previous op of its GPU, collectives */
    int32_t mb;       /* -1 when not per micro-batch */
    int16_t stage;
    int16_t layer;    /* global layer index, -1 for embedding/output/none */
    uint8_t klass;    /* cs_op_class */
    uint8_t ngate;
} cs_op_info;

/* Static memory of one GPU (bytes). */
typedef struct cs_static_memory {
    double weights, gradients, optimizer, reserved;
} cs_static_memory;

typedef struct cs_workload {
    cs_op_info *info; /* indexed by exec op id (owned) */
    long count, cap;
    double **pair_tables; /* all-to-all byte matrices the exec borrows (owned) */
    long tables, tables_cap;
    cs_static_memory *static_mem; /* per stage */
    long stages;
    double dropped_tokens; /* by the MoE capacity factor, over the iteration */
    double routed_tokens;
    double model_flops; /* Megatron's count for the iteration (recompute not counted) */
    long **shadows; /* a reduced build's link sets the exec borrows (owned) */
    long shadow_count;
} cs_workload;

/* Builds every GPU's program into x (which must have CS_STREAMS streams per
 * GPU). `seed` drives MoE routing draws. Returns 0, or -1 when out of memory. */
int cs_workload_build(cs_workload *w, cs_exec *x, const cs_scenario *s, const cs_layout *l,
                      const cs_layout_sizes *z, unsigned long seed);

/* The same for a reduced replay (symmetry.h): programs for the GPUs with
 * live[gpu] set only, which must be the first GPU of each stage (live is
 * borrowed by x until it has run). Returns 0, -1 when out of memory, 1 when
 * some group is not a copy of the first GPU's (the GPUs of a stage are not
 * all alike on this fabric: w is then to be freed and the replay built
 * whole). */
int cs_workload_build_reduced(cs_workload *w, cs_exec *x, const cs_scenario *s,
                              const cs_layout *l, const cs_layout_sizes *z, unsigned long seed,
                              const unsigned char *live);
void cs_workload_free(cs_workload *w);

/* Megatron-LM's model FLOPs of one iteration (training.py's
 * num_floating_point_operations): 3 x forward FLOPs per token x tokens. */
double cs_workload_model_flops(const cs_model *m, const cs_training *t);

/* Streams of every GPU. */
enum {
    CS_STREAM_COMPUTE,
    CS_STREAM_TP,
    CS_STREAM_EP,
    CS_STREAM_DP,
    CS_STREAM_SEND_NEXT,
    CS_STREAM_RECV_PREV,
    CS_STREAM_SEND_PREV,
    CS_STREAM_RECV_NEXT,
    CS_STREAM_DP_GATHER, /* Megatron-FSDP's parameter all-gathers, beside its reduce-scatters */
    CS_STREAMS
};

const char *cs_op_class_name(cs_op_class k);

#endif
