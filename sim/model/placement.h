/* placement: where every rank of a layout sits, in the layout's two
 * decompositions of the same GPUs, as Megatron-Core's two RankGenerators
 * place them (core/parallel_state.py, initialize_model_parallel).
 *
 * The attention and dense layers split each pipeline stage's GPUs as
 * tp x cp x dp (cp: context parallel, dp: the dense data-parallel size);
 * the experts split the same GPUs as etp x ep x edp (MoE parallel
 * folding). Both follow the layout's `order`, innermost first, with sizes
 * (tp, cp, 1, dp, pp) and (etp, 1, ep, edp, pp): with etp = tp an EP group
 * is carved out of the dense cp x dp; with ep x etp beyond that it spans TP
 * ranks. cs_layout_check() makes sure both decompositions give every rank
 * the same pipeline stage.
 *
 * Coordinates are indexed by cs_dim; in the dense decomposition the EP
 * coordinate is always 0, in the expert one the CP coordinate. Every
 * function needs the sizes cs_layout_check() computed (tp, cp, pp, ep, etp,
 * dense_dp, expert_dp, world). */
#ifndef CS_PLACEMENT_H
#define CS_PLACEMENT_H

#include "model/layout.h"

typedef enum { CS_DENSE, CS_EXPERT } cs_decomp;

void cs_place_coords(const cs_layout *l, const cs_layout_sizes *z, cs_decomp which, long rank,
                     long coord[CS_DIM_COUNT]);
long cs_place_rank(const cs_layout *l, const cs_layout_sizes *z, cs_decomp which,
                   const long coord[CS_DIM_COUNT]);

/* Size of dimension dim in a decomposition. */
long cs_place_size(const cs_layout_sizes *z, cs_decomp which, cs_dim dim);

/* The pipeline stage of a rank, its index among its stage's GPUs
 * (tp + tp_size x (cp + cp_size x dp), dense), and the rank at (local,
 * stage). */
long cs_place_stage(const cs_layout *l, const cs_layout_sizes *z, long rank);
long cs_place_local(const cs_layout *l, const cs_layout_sizes *z, long rank);
long cs_place_at(const cs_layout *l, const cs_layout_sizes *z, long local, long stage);

/* Groups along dim (TP, CP, EP or DP) of a decomposition within one stage:
 * there are (GPUs per stage) / size(dim) of them. cs_place_group() writes
 * the members of group g of `stage` (g counts the other coordinates, TP
 * fastest) ordered by their coordinate along dim; cs_place_group_of() those
 * of rank's own group. Both return the count, size(dim). */
long cs_place_groups(const cs_layout_sizes *z, cs_decomp which, cs_dim dim);
long cs_place_group(const cs_layout *l, const cs_layout_sizes *z, cs_decomp which, cs_dim dim,
                    long g, long stage, long *out);
long cs_place_group_of(const cs_layout *l, const cs_layout_sizes *z, cs_decomp which,
                       cs_dim dim, long rank, long *out);

/* The dense layers' gradient group of tensor-parallel rank `tp` of
 * `stage`: every cp and dp rank (Megatron's data-parallel group with
 * context parallelism, over which gradients are reduced and the
 * distributed optimizer shards), cp fastest. Returns cp x dense_dp. */
long cs_place_dp_cp_group(const cs_layout *l, const cs_layout_sizes *z, long tp, long stage,
                          long *out);

/* The experts' tensor-and-expert group number edp of `stage` (every etp and
 * ep rank at that expert-DP rank; Megatron's expert tensor-model group, the
 * allgather dispatcher's tp_ep group), etp fastest. Returns etp x ep. */
long cs_place_expert_tp_ep_group(const cs_layout *l, const cs_layout_sizes *z, long edp,
                                 long stage, long *out);

/* Most nodes spanned by one group along dim of a decomposition. */
long cs_place_group_nodes(const cs_layout *l, const cs_layout_sizes *z, cs_decomp which,
                          cs_dim dim, long gpus_per_node);

/* Stride between ranks of consecutive stages: equal in both decompositions
 * exactly when they give every rank the same stage. */
long cs_place_stage_stride(const cs_layout *l, const cs_layout_sizes *z, cs_decomp which);

#endif
