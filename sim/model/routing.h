/* routing: how many tokens each rank of an expert-parallel group sends to
 * each expert, for one micro-batch of one MoE layer.
 *
 *   balanced  exactly T k / E tokens from every rank to every expert
 *   random    each rank's T k token copies fall on experts uniformly at random
 *             (a multinomial draw, gsl_ran_multinomial)
 *   skewed    as random, with expert popularity ~ 1 / rank^skew (Zipf-like)
 *             over an order of the experts drawn once per layer
 * A capacity factor c caps the tokens each rank sends each expert at
 * ceil(c T k / E) (T tokens per rank, k = top-k), as each rank's router drops
 * its own tokens in Megatron-Core; the excess is counted as dropped. With
 * moe_pad_expert_input_to_capacity every rank sends every expert exactly that
 * many. All draws come from the caller's generator, so a seed fixes them. */
#ifndef CS_ROUTING_H
#define CS_ROUTING_H

#include <gsl/gsl_rng.h>

#include "input/config.h"

/* Per-layer popularity of the experts (skewed mode), E probabilities summing
 * to 1; uniform otherwise. `prob` has room for E entries. */
void cs_routing_popularity(const cs_training *t, long experts, gsl_rng *rng, double *prob);

/* Fills counts[i * E + e] with tokens rank i (of n) sends to expert e, and
 * returns the tokens dropped by the capacity factor (0 when dropless).
 * `draws` is scratch of E unsigned ints. */
double cs_routing_draw(const cs_training *t, double capacity_factor, long n, long experts,
                       long topk, double tokens_per_rank, const double *prob, gsl_rng *rng,
                       double *counts, unsigned int *draws);

/* The probability that a token's top-k experts include one of the `held`
 * experts first .. first + held - 1 (a rank's, or a node's), every expert
 * equally popular and no expert chosen twice: 1 - C(E - held, k) / C(E, k).
 * With group-limited routing (moe.router_num_groups G > 0) a token's
 * group_topk groups are any of the C(G, group_topk) equally likely, and
 * when k is a multiple of group_topk each gives it k / group_topk of its
 * experts, as Megatron's group_limited_topk ranks groups by the sum of
 * their top k / group_topk scores (with independent scores the final top-k
 * still hits 3.97 of its 4 groups on average, DeepSeek-V3's 8 of 256 in 8
 * groups, by a 20,000-token simulation); otherwise any k of the chosen
 * groups' experts. A rank of DeepSeek-V3 at EP 8 holds one group of 32:
 * hit 1/2 with its groups, 1 - C(224, 8) / C(256, 8) = 0.662 without.
 * Returns 1 when there are no experts. */
double cs_routing_hit(const cs_moe_config *moe, long first, long held);

#endif
