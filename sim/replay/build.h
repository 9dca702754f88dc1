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
#include "model/kernels.h"
#include "model/placement.h"
#include "model/schedule.h"
#include "replay/workload.h"

#define DT CS_ACT_BYTES   /* bytes per activation element (bf16/fp16) */
#define GRAD_BYTES (cs_training_grad_bytes(B->t)) /* per gradient element */
#define PARAM_BYTES 2.0 /* parameters are all-gathered in bf16 */
/* Adam per owned parameter: read grad, master, m, v (16), write master, m, v
 * (12), param (2). */
#define OPTIMIZER_BYTES 30.0
#define BUCKET_PARAMS 40e6 /* Megatron's default DDP bucket: max(40M, 1M x dp) parameters */

/* ---- the builder ----------------------------------------------------------- */

/* Seconds, FLOPs, kernel launches and the host's other ops (what the host
 * issues, kernels.h) of a block's kernels, per slot. */
typedef struct cs_block_cost {
    double s[CS_SLOTS], flops[CS_SLOTS], n[CS_SLOTS], ops[CS_SLOTS];
} cs_block_cost;

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
    cs_kernel_opts fwd, bwd; /* what decides the layer's kernels, each way */
    /* Seconds and FLOPs per slot of the blocks whose shape does not change
     * within a build (computed once). */
    cs_block_cost attn_f, attn_b, mlp_f, mlp_b, edges_f, edges_b, out_f, out_b, emb_f, emb_b;
    /* The attention and dense-MLP blocks of the layers an FP8 run keeps in
     * BF16 (first_last_layers_bf16); computed only then. */
    cs_block_cost bf16_attn_f, bf16_attn_b, bf16_mlp_f, bf16_mlp_b;
    /* The attention of sliding-window layers (model.window_size), as the
     * two above: [0] the training's precision, [1] the BF16 layers'. */
    cs_block_cost window_attn_f[2], window_attn_b[2];
    gsl_rng *rng;
    gsl_rng *noise;   /* uncertainty draws, apart from routing so they do not shift it */
    double *slowdown; /* per GPU: straggler factor (1 for most) */
    long per_stage;   /* GPUs per stage: world / pp */
    long *gpu_of;     /* local index in a stage -> rank, for the stage being built */
    long stage;
    long *last;                   /* per GPU: last op of its sequence, -1 */
    long *capture;                /* per GPU: -1 armed to record the next op id, -2 idle */
    long (*pending)[CS_OP_GATES]; /* per GPU: gates for its next op */
    int *npending;
    /* Per GPU: asynchronous collectives whose waiters come later (after the
     * op that overlaps them): cs_build_release() makes them pending. */
    long (*deferred)[CS_OP_GATES];
    int *ndeferred;
    long (*pending_save)[CS_OP_GATES]; /* scratch of cs_build_collective_async */
    int *npending_save;
    /* Per GPU: compute with no communication between it and the next op (a
     * norm, a bias-dropout-add), added to that op. */
    double *carry_s, *carry_flops, *carry_n, *carry_ops;
    int *carry_class; /* -1: nothing carried */
    long *carry_mb, *carry_layer;
    long chunks;
    /* The layers of the stage being built: Ls in all, chunk c's from
     * chunk_first[c] (a global layer index), chunk_count[c] of them;
     * stage_layer[li] the global index of in-stage layer li. layer_li[layer]
     * is any layer's in-stage index on its own stage; Ls_max the most any
     * stage holds (what the per-layer arrays are sized for). */
    long Ls, Ls_max;
    long *chunk_first, *chunk_count, *stage_layer, *layer_li;
    /* First and last op of each pass: [(((stage * 2 + dir) * m + mb) * v + chunk) * per_stage +
     * local]. */
    long *pass_first, *pass_last;
    /* Last weight-gradient op of each layer of the stage, per local GPU. */
    long *last_w;           /* [local * Ls + layer_in_stage] */
    long *last_op_of_stage; /* per local GPU */
    long *output_w, *embedding_w; /* per local GPU: last wgrad op of the output layer, embedding */
    /* Megatron-FSDP (ZeRO-3): per local GPU the all-gathers of the layer
     * prefetched (dense, expert; -1 none) for pass fsdp_mb / fsdp_layer /
     * fsdp_backward, and (ZeRO-2 and 3) its last gradient reduce-scatter. */
    long *fsdp_gather, *fsdp_now, *fsdp_reduce; /* [part * per_stage + local]; fsdp_reduce [local] */
    long fsdp_mb, fsdp_layer;
    int fsdp_backward;
    /* MoE routing of the stage: expert tokens per GPU and pair tables per EP group. */
    double *expert_tokens; /* [(local * Ls + li) * m + mb] */
    /* Per local expert, for SequentialMLP's per-expert GEMMs (else NULL):
     * [((local * Ls + li) * m + mb) * experts_per_gpu + e]. */
    double *expert_rows;
    double **dispatch;     /* [(li * m + mb) * groups + g], g an EP group (NULL: even) */
    double **combine;
    double *prob;   /* E popularity per layer, all layers: [layer * E + e] */
    double *counts; /* scratch: ep x E */
    double *received; /* scratch: tokens each EP member receives (ep) */
    unsigned int *draws;
    long *members;      /* scratch */
    long *members_last; /* scratch */
    /* Host time per kernel launch and per collective call (cluster.host);
     * with both 0 the host is not modelled. */
    double host_launch, host_op, host_collective;
    int hosted;
    long *host_wait; /* per local GPU: the op cs_build_host_sync() waits for, -1 */
    /* A reduced build (symmetry.h): only the first `locals` GPUs of each
     * stage get programs (live[gpu]); per_stage otherwise. Every group loop
     * builds the groups holding them and checks, once per kind of call, that
     * the others would take exactly as long (asymmetric is set when not). */
    int reduced, asymmetric;
    long locals;
    long peer_stage;           /* the other stage of the pipeline's group functions */
    const unsigned char *live; /* per GPU, NULL: every GPU is live */
    struct cs_copy_memo *memo;
    struct cs_group_memo *groups; /* cs_build_group's, per decomposition and dimension */
    long *copy_members;        /* scratch of the check: world entries */
    /* Under the flow model, the other groups' links (as cs_build_copies
     * found them) for the next collective, which holds them while it runs
     * so that the net sees whether anything else would have shared them;
     * and the scratch that finds them (per link of the fabric). */
    const long *shadow;
    long shadow_count;
    long *copy_links, *copy_scratch;
    unsigned char *copy_marks;
    cs_engine *probe_engine; /* where the flow model's copies are timed alone */
    cs_net *probe;
    int failed;
} cs_builder;

/* A MoE layer's compute between its collectives: the router, the
 * dispatcher's work before its communication, the experts with the
 * dispatcher's work either side of them, the dispatcher's work after the
 * combine (the shared experts are a dense block of their own). */
/* BLOCK_EXPERTS_FC1 and _REST: the experts' forward in two, where the host
 * waits between them (moe.c, activation_waits); BLOCK_EXPERTS_RECOMPUTE: the
 * experts' recompute slot (moe_act), booked before their backward. */
typedef enum {
    BLOCK_ROUTER,
    BLOCK_PERMUTE,
    BLOCK_EXPERTS,
    BLOCK_UNPERMUTE,
    BLOCK_EXPERTS_FC1,
    BLOCK_EXPERTS_REST,
    BLOCK_EXPERTS_RECOMPUTE
} cs_block;

/* build.c: ranks and the primitives that add ops. A GPU's local index is
 * its index in its stage (placement.h: tp + tp_size x (cp + cp_size x
 * dense dp)). */
long cs_build_at(const cs_builder *B, long local, long stage); /* its rank */
long cs_build_local_of(const cs_builder *B, long gpu);
long cs_build_layer_in_stage(const cs_builder *B, long layer);
int cs_build_is_moe(const cs_builder *B, long layer);
/* Members of group g along dim of a decomposition, in the stage being built
 * (cs_place_group()); returns their count. The stage's groups asked for are
 * kept until the stage changes or cs_build_groups_free(). */
long cs_build_group(cs_builder *B, cs_decomp which, cs_dim dim, long g, long *out);
void cs_build_groups_free(cs_builder *B);
cs_op_info *cs_build_info(cs_builder *B, long id, cs_op_class k, long mb, long layer);

static inline int cs_build_live(const cs_builder *B, long gpu) { return !B->live || B->live[gpu]; }

/* The members of group g of some kind (out: the members in rank order);
 * returns their count. */
typedef long (*cs_group_fn)(cs_builder *B, long g, long *out);

/* The kinds of group a loop builds collectives over (cs_build_copies). */
enum {
    CS_SITE_DENSE_TP,
    CS_SITE_DENSE_CP,
    CS_SITE_DENSE_DP,
    CS_SITE_EXPERT_TP,
    CS_SITE_EXPERT_EP,
    CS_SITE_EXPERT_DP,
    CS_SITE_TP_EP,
    CS_SITE_EMBEDDING,
    CS_SITE_MODEL,
    CS_SITE_P2P
};

/* How many of the `groups` groups of a loop to build: all of them, or in a
 * reduced build only the first (the one holding the stage's live GPU), once
 * it is checked that each other group's collective (op, bytes, pairs: as
 * group 0's) takes exactly group 0's time. The check runs once per (site,
 * stage, aux, op, bytes); `site` names the calling loop and `aux` whatever
 * else its groups depend on (a peer stage). */
long cs_build_copies(cs_builder *B, cs_group_fn fn, long groups, int site, long aux,
                     cs_coll_op op, double bytes, const double *pairs);
void cs_build_memo_free(cs_builder *B);
/* Gives the collective whose first op is `first` the shadow cs_build_copies
 * left, if any (every collective a reduced build adds takes it). */
void cs_build_take_shadow(cs_builder *B, long first);
void cs_build_chain(cs_builder *B, long gpu, long id, cs_op_info *o);
/* A compute op's work: its GPU time, the kernels the host launches for it
 * (host.launch_overhead each), its FLOPs, and the host's ops for it that
 * launch no kernel (host.op_overhead each). */
typedef struct cs_work {
    double seconds, launches, flops, ops;
} cs_work;
/* A compute op on the GPU after its previous op (what it carries first);
 * mem_begin and mem_end as cs_op_info's. */
long cs_build_compute(cs_builder *B, long gpu, cs_op_class k, long mb, long layer, cs_work w,
                      double mem_begin, double mem_end);
long cs_build_collective(cs_builder *B, const long *members, long n, cs_coll_op op, int stream,
                         cs_op_class k, long mb, long layer, double bytes, const double *pairs);
/* The same, but the members' next op does not wait for it: it waits only
 * after cs_build_release() (an asynchronous collective that overlaps the
 * op in between, as Megatron's async TP communication does). */
long cs_build_collective_async(cs_builder *B, const long *members, long n, cs_coll_op op,
                               int stream, cs_op_class k, long mb, long layer, double bytes);
/* The same, but no op ever waits for it through the builder: the caller
 * keeps each live member's op (ids[local], by local index) and makes later
 * ops wait for it (Megatron-FSDP's prefetched gathers, its reduce-scatters). */
long cs_build_collective_detached(cs_builder *B, const long *members, long n, cs_coll_op op,
                                  int stream, cs_op_class k, double bytes, long *ids);
/* The same with a byte matrix (an uneven all-to-all overlapped, as the
 * shared experts overlap the MoE dispatch). */
long cs_build_collective_async_pairs(cs_builder *B, const long *members, long n, cs_coll_op op,
                                     int stream, cs_op_class k, long mb, long layer, double bytes,
                                     const double *pairs);
/* Every GPU of the stage: its `oldest` earliest asynchronous collectives
 * (all with oldest <= 0) become gates of its next op. */
void cs_build_release(cs_builder *B, int oldest);
/* Adds compute to the carry of local GPU `local` (or to every local GPU of
 * the stage with local < 0); it runs at the start of the GPU's next op when
 * of the same class, else as its own op before it. */
void cs_build_carry(cs_builder *B, long local, cs_op_class k, long mb, long layer, cs_work w);
/* A device-to-host copy on each GPU of the stage, queued after its last op
 * (what the next sync waits for), and the host's wait for it, at the point
 * reached when cs_build_host_sync() is called; nothing without a host
 * model. */
void cs_build_host_mark(cs_builder *B);
void cs_build_host_sync(cs_builder *B);
/* Emits what is carried on one GPU of the stage (all with local < 0). */
void cs_build_flush(cs_builder *B, long local);
double cs_build_gemm(cs_builder *B, double M, double K, double N);
double cs_build_memory_op(cs_builder *B, double bytes);
void cs_build_end_markers(cs_builder *B);

/* layer.c: whole layers, the embedding and the output layer. */
void cs_layer_costs(cs_builder *B); /* fills the cs_block_cost fields once per build */
void cs_layer_forward(cs_builder *B, long mb, long layer, cs_op_class k);
void cs_layer_backward(cs_builder *B, long mb, long layer, int with_w);
void cs_layer_weight(cs_builder *B, long mb, long layer);
void cs_embedding_forward(cs_builder *B, long mb);
void cs_embedding_backward(cs_builder *B, long mb);
void cs_output_forward(cs_builder *B, long mb);
void cs_output_backward(cs_builder *B, long mb, int with_w);
void cs_output_weight(cs_builder *B, long mb);
void cs_layer_block_cost(cs_builder *B, const cs_kernel_list *l, cs_block_cost *out);
void cs_layer_block_forward(cs_builder *B, const cs_block_cost *c, cs_op_class k, long mb,
                            long layer);
void cs_layer_block_backward(cs_builder *B, const cs_block_cost *c, int with_w, long mb,
                             long layer);
void cs_layer_tp_comm(cs_builder *B, cs_coll_op op, long mb, long layer, double bytes, int async);

/* moe.c: the MoE half of a layer, its kernel times and its routing. */
cs_work cs_moe_block_work(cs_builder *B, cs_block which, int pass, long local, long layer,
                          long mb);
double cs_moe_expert_tokens(const cs_builder *B, long local, long layer, long mb);
size_t cs_moe_expert_rows_size(const cs_builder *B); /* entries of expert_rows; 0: none */
void cs_moe_forward(cs_builder *B, long mb, long layer, cs_op_class k);
void cs_moe_backward(cs_builder *B, long mb, long layer, int with_w);
void cs_moe_weight(cs_builder *B, long mb, long layer);
void cs_moe_route_stage(cs_builder *B);

/* pipeline.c: passes in schedule order, and the stage-to-stage transfers. */
long cs_pipeline_slot(const cs_builder *B, long stage, int backward, long mb, long chunk,
                      long local);
/* Builds passes[at] of the stage (the passes before it already built). */
void cs_pipeline_run_pass(cs_builder *B, const cs_pass *passes, long at);
void cs_pipeline_links(cs_builder *B, const cs_pass *passes, long count, long stage);

/* grads.c: per stage, the gradient zeroing at the start and the gradient
 * reduction after the backward; once for all stages, the tied-embedding and
 * gradient-norm all-reduces; per stage, the optimizer step and the
 * parameter gather. */
void cs_grads_zero(cs_builder *B);
void cs_grads_reduce(cs_builder *B);
void cs_grads_finalize(cs_builder *B);
void cs_grads_step(cs_builder *B);
void cs_grads_prefetch(cs_builder *B); /* overlap_param_gather: at the stage's start */
/* Megatron-FSDP: before a layer's forward or backward pass (ZeRO-3), its
 * parameters' all-gather and the next layer's prefetch; after its weight
 * gradients (ZeRO-2 and 3), their reduce-scatter. */
void cs_grads_fsdp_gather(cs_builder *B, long mb, long layer, int backward);
void cs_grads_fsdp_reduce(cs_builder *B, long mb, long layer);
/* The embedding's (output 0, first stage) or the output layer's (output 1,
 * last stage) reduce-scatter, after their backward; and at the end of a
 * model chunk's backward pass, the compute stream's wait for them all. */
void cs_grads_fsdp_reduce_edge(cs_builder *B, long mb, int output);
void cs_grads_fsdp_wait(cs_builder *B);

#endif
