/* layout: validation of a parallel layout against its model, cluster and
 * training settings, and the sizes it implies.
 *
 * Semantics (docs/input.md, "Layouts"), as Megatron-Core's: the attention
 * and dense layers are split tp x cp x dp_dense x pp over the world, the
 * experts etp x ep x edp x pp over the same GPUs (MoE parallel folding);
 * where they sit is model/placement.h. A layout may write dp, the ranks
 * holding each expert shard per tp and cp rank (world = tp x cp x pp x ep
 * x dp, so dp_dense = ep x dp), or leave it out to fill the cluster as
 * Megatron derives its DP size; then ep x etp may exceed dp_dense. */
#ifndef CS_LAYOUT_H
#define CS_LAYOUT_H

#include "input/config.h"

/* The most ops one replay may hold (about 100 bytes each with their
 * dependencies and records: some 13 GB; DeepSeek-V3 on 16k GPUs needs 26 M, the
 * estimate of Megatron-LM's 530B on 2240 GPUs is 100 M). */
#define CS_MAX_OPS (1L << 27)

typedef struct cs_layout_sizes {
    long cluster_gpus;
    long world; /* the cluster's GPUs once valid */
    long tp, pp, ep, etp, vpp;
    long cp;        /* context parallel: each rank holds seq_length / cp of a sequence */
    long dp;        /* world / (tp x cp x pp x ep), as given or derived; 0 if not whole (folded) */
    long dense_dp;  /* world / (tp x cp x pp): Megatron's data-parallel size (without cp) */
    long expert_dp; /* world / (pp x etp x ep): Megatron's expert data-parallel size */
    long micro_batch;
    long microbatches; /* per iteration and pipeline: gbs / (dense_dp x mbs) */
    long layers_per_stage;         /* the most of any stage */
    long layers_per_virtual_stage; /* the most of any model chunk */
    /* The split of the layers (cs_layout_chunk_layers()): the model's
     * layers, the first and last stages' (-1: even), and whether the
     * embedding and the loss each take a layer's place. */
    long num_layers, first_stage_layers, last_stage_layers;
    long mtp_layers; /* multi-token-prediction depths, after the last chunk's layers */
    int embedding_slot, loss_slot;
    long experts_per_gpu;
    long tp_group_nodes; /* most nodes one tensor-parallel group spans */
    long ep_group_nodes; /* most nodes one expert-parallel group spans */
    long etp_group_nodes; /* most nodes one expert-tensor-parallel group spans */
    cs_schedule schedule;
    cs_recompute recompute;
    cs_attention_backend attention; /* resolved: never auto */
} cs_layout_sizes;

/* Checks layout l of scenario s. Every reason it cannot run is added to d as
 * an error positioned at the key that causes it, and doubtful choices (groups
 * spanning nodes, a pipeline that never fills) as warnings. Fills *z with the
 * sizes as far as they can be computed. Returns 0 when valid, -1 if not. */
int cs_layout_check(const cs_scenario *s, const cs_layout *l, cs_layout_sizes *z,
                    cs_diags *d);

/* Transformer layers of model chunk `chunk` on pipeline stage `stage`
 * (virtual stage chunk x pp + stage, in the model's order), as Megatron-Core's
 * get_num_layers_to_build() splits them; *first is its first layer. The last
 * virtual stage also holds the multi-token-prediction layers, numbered
 * num_layers, num_layers + 1, ... after the decoder's. */
long cs_layout_chunk_layers(const cs_layout_sizes *z, long stage, long chunk, long *first);

/* Transformer layers of pipeline stage `stage`, all its chunks. */
long cs_layout_stage_layers(const cs_layout_sizes *z, long stage);

#endif
