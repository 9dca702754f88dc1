/* layout: validation of a parallel layout against its model, cluster and
 * training settings, the sizes it implies, and rank placement.
 *
 * Semantics (docs/input.md, "Layouts"): world = tp x pp x ep x dp; dp counts the replicas of
 * each expert shard, the dense part is data-parallel over ep x dp ranks (as in
 * Megatron-Core, where expert parallelism is carved out of data parallelism);
 * the expert data-parallel size is tp x dp / etp. Ranks are placed with the
 * first dimension of `order` innermost (tp-ep-dp-pp unless the layout says
 * otherwise), so consecutive ranks share a node first. */
#ifndef CS_LAYOUT_H
#define CS_LAYOUT_H

#include "input/config.h"

typedef struct cs_layout_sizes {
    long cluster_gpus;
    long world;     /* tp x pp x ep x dp, with dp as given or derived */
    long tp, pp, ep, dp, etp, vpp;
    long dense_dp;  /* ep x dp */
    long expert_dp; /* tp x dp / etp */
    long micro_batch;
    long microbatches; /* per iteration and pipeline: gbs / (ep x dp x mbs) */
    long layers_per_stage;
    long layers_per_virtual_stage;
    long experts_per_gpu;
    long tp_group_nodes; /* most nodes one tensor-parallel group spans */
    long ep_group_nodes; /* most nodes one expert-parallel group spans */
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

/* Coordinates of a rank (indexed by cs_dim) and back, for the placement
 * order of l. Both need z->tp, ep, dp, pp. */
void cs_layout_coords(const cs_layout *l, const cs_layout_sizes *z, long rank,
                      long coord[CS_DIM_COUNT]);
long cs_layout_rank(const cs_layout *l, const cs_layout_sizes *z,
                    const long coord[CS_DIM_COUNT]);

/* Most nodes spanned by one group of dimension `dim`. */
long cs_layout_group_nodes(const cs_layout *l, const cs_layout_sizes *z, cs_dim dim,
                           long gpus_per_node);

#endif
