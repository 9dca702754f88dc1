/* build: the builder under workload.c (internal to sim/replay/): the state
 * of one build and the primitives every part of it uses.
 *
 * A layout's programs are built stage by stage. Each op is a compute kernel
 * or a collective added to the exec on a GPU's stream; cs_build_chain() makes
 * it follow the previous op of its GPU and take over the gates (collectives)
 * that op's successor must wait on. The parts:
 *   layer.c     a dense transformer layer and the embedding / output layer
 *   moe.c       MoE blocks: routing draws, dispatch / combine, experts
 *   pipeline.c  the schedule's passes and the sends / receives between stages
 *   grads.c     gradient buckets over data-parallel groups, optimizer step
 * Every function records failure (out of memory) in B->failed. */
#ifndef CS_REPLAY_BUILD_H
#define CS_REPLAY_BUILD_H

#include <gsl/gsl_rng.h>

#include "model/cost.h"
#include "model/schedule.h"
#include "replay/workload.h"

#define DT 2.0          /* bytes per activation element (bf16/fp16) */
#define GRAD_BYTES 4.0  /* fp32 gradients are reduced (Megatron's default main_grad) */
#define PARAM_BYTES 2.0 /* parameters are all-gathered in bf16 */
/* Adam per owned parameter: read grad, master, m, v (16), write master, m, v
 * (12), param (2). */
#define OPTIMIZER_BYTES 30.0
#define BUCKET_PARAMS 40e6 /* Megatron's default DDP bucket: max(40M, 1M x dp) parameters */

/* ---- shapes of one micro-batch on one GPU -------------------------------- */

/* Shapes of one micro-batch on one GPU. */
typedef struct cs_shape {
    double s, b, h, T, Tl; /* T tokens; Tl the tokens a rank holds between TP regions */
    double t, etp;
    double q, kv;                /* query and key/value widths */
    double ffn, ffn_e, ffn_s, f; /* f: 2 matrices, or 3 with SwiGLU (fc1 is f-1 wide) */
    double experts, topk, V;
    int sp;
} cs_shape;

/* ---- the builder ----------------------------------------------------------- */

/* What building one layout's programs carries: the inputs, the GPU being
 * built and, per GPU, its last op and the gates its next op takes over. */
typedef struct cs_builder {
    cs_workload *w;
    cs_exec *x;
    const cs_scenario *s;
    const cs_model *m;
    const cs_training *t;
    const cs_layout *l;
    const cs_layout_sizes *z;
    cs_cost cost;
    cs_shape sh;
    gsl_rng *rng;
    gsl_rng *noise;   /* uncertainty draws, apart from routing so they do not shift it */
    double *slowdown; /* per GPU: straggler factor (1 for most) */
    long per_stage;   /* GPUs per stage: tp x ep x dp */
    long *gpu_of;     /* local index in a stage -> rank, for the stage being built */
    long stage;
    long *last;                   /* per GPU: last op of its sequence, -1 */
    long *capture;                /* per GPU: -1 armed to record the next op id, -2 idle */
    long (*pending)[CS_OP_GATES]; /* per GPU: gates for its next op */
    int *npending;
    long layers_per_chunk, chunks;
    /* First and last op of each pass: [(((stage * 2 + dir) * m + mb) * v + chunk) * per_stage +
     * local]. */
    long *pass_first, *pass_last;
    /* Last weight-gradient op of each layer of the stage, per local GPU. */
    long *last_w;           /* [local * layers_per_stage + layer_in_stage] */
    long *last_op_of_stage; /* per local GPU */
    /* MoE routing of the stage: expert tokens per GPU and pair tables per EP group. */
    double *expert_tokens; /* [(local * Ls + li) * m + mb] */
    double **dispatch;     /* [(li * m + mb) * groups + g] (NULL: even) */
    double **combine;
    double *prob;   /* E popularity per layer, all layers: [layer * E + e] */
    double *counts; /* scratch: ep x E */
    unsigned int *draws;
    long *members; /* scratch */
    int failed;
} cs_builder;

typedef enum { BLOCK_ATTENTION, BLOCK_MLP, BLOCK_ROUTER, BLOCK_EXPERTS, BLOCK_UNPERMUTE } cs_block;

/* build.c: shapes, ranks and the primitives that add ops. */
void cs_build_shape(cs_shape *sh, const cs_model *m, const cs_training *t,
                    const cs_layout_sizes *z);
long cs_build_rank(const cs_builder *B, long tp, long ep, long dp, long pp);
long cs_build_local(const cs_builder *B, long tp, long ep, long dp); /* index in a stage */
long cs_build_local_of(const cs_builder *B, long gpu);
long cs_build_layer_in_stage(const cs_builder *B, long layer);
int cs_build_is_moe(const cs_builder *B, long layer);
long cs_build_tp_members(cs_builder *B, long ep, long dp, long *out);
long cs_build_ep_members(cs_builder *B, long tp, long dp, long *out);
cs_op_info *cs_build_info(cs_builder *B, long id, cs_op_class k, long mb, long layer);
void cs_build_chain(cs_builder *B, long gpu, long id, cs_op_info *o);
long cs_build_compute(cs_builder *B, long gpu, cs_op_class k, long mb, long layer, double seconds,
                      double flops, double mem_begin, double mem_end);
long cs_build_collective(cs_builder *B, const long *members, long n, cs_coll_op op, int stream,
                         cs_op_class k, long mb, long layer, double bytes, const double *pairs);
double cs_build_gemm(cs_builder *B, double M, double K, double N);
double cs_build_memory_op(cs_builder *B, double bytes);
void cs_build_end_markers(cs_builder *B);

/* layer.c: one op per GPU of the stage for a block, and whole layers. */
void cs_block_ops(cs_builder *B, cs_block which, int pass, cs_op_class k, long mb, long layer,
                  double mem);
double cs_layer_mlp_time(cs_builder *B, int pass, double tokens, double width, double tp_split);
void cs_layer_tp_comm(cs_builder *B, int after, int backward, long mb, long layer);
void cs_layer_forward(cs_builder *B, long mb, long layer, cs_op_class k);
void cs_layer_backward(cs_builder *B, long mb, long layer, int with_w);
void cs_layer_weight(cs_builder *B, long mb, long layer);
void cs_embedding_op(cs_builder *B, int pass, long mb);
void cs_output_ops(cs_builder *B, int pass, long mb);

/* moe.c: the MoE half of a layer, its kernel times and its routing. */
double cs_moe_block_time(cs_builder *B, cs_block which, int pass, long local, long layer, long mb);
double cs_moe_expert_tokens(const cs_builder *B, long local, long layer, long mb);
void cs_moe_forward(cs_builder *B, long mb, long layer, cs_op_class k);
void cs_moe_backward(cs_builder *B, long mb, long layer, int with_w);
void cs_moe_weight(cs_builder *B, long mb, long layer);
void cs_moe_route_stage(cs_builder *B);

/* pipeline.c: passes in schedule order, and the stage-to-stage transfers. */
long cs_pipeline_slot(const cs_builder *B, long stage, int backward, long mb, long chunk,
                      long local);
void cs_pipeline_run_pass(cs_builder *B, const cs_pass *p);
void cs_pipeline_links(cs_builder *B, const cs_pass *passes, long count, long stage);

/* grads.c: gradient reduction, optimizer step and parameter gather of the
 * stage being built. */
void cs_grads_reduce_and_step(cs_builder *B);

#endif
