#include "model/routing.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>

void cs_routing_popularity(const cs_training *t, long experts, gsl_rng *rng, double *prob)
{
    if (t->moe_routing.mode != CS_ROUTING_SKEWED) {
        for (long e = 0; e < experts; e++)
            prob[e] = 1.0 / (double)experts;
        return;
    }
    /* Zipf weights over a random order of the experts. */
    size_t *order = malloc((size_t)experts * sizeof *order);
    double total = 0;
    for (long e = 0; e < experts; e++)
        total += pow((double)(e + 1), -t->moe_routing.skew);
    if (order) {
        for (long e = 0; e < experts; e++)
            order[e] = (size_t)e;
        gsl_ran_shuffle(rng, order, (size_t)experts, sizeof *order);
    }
    for (long e = 0; e < experts; e++)
        prob[order ? order[e] : (size_t)e] = pow((double)(e + 1), -t->moe_routing.skew) / total;
    free(order);
}

double cs_routing_draw(const cs_training *t, double capacity_factor, long n, long experts,
                       long topk, double tokens_per_rank, const double *prob, gsl_rng *rng,
                       double *counts, unsigned int *draws)
{
    double copies = tokens_per_rank * (double)topk;
    for (long i = 0; i < n; i++) {
        double *row = counts + i * experts;
        if (t->moe_routing.mode == CS_ROUTING_BALANCED) {
            for (long e = 0; e < experts; e++)
                row[e] = copies / (double)experts;
            continue;
        }
        gsl_ran_multinomial(rng, (size_t)experts, (unsigned int)llround(copies), prob, draws);
        for (long e = 0; e < experts; e++)
            row[e] = (double)draws[e];
    }
    if (capacity_factor <= 0)
        return 0;
    /* Each rank's router drops its own tokens: an expert takes at most
     * ceil(c T k / E) of them (moe_utils.py get_capacity, called by
     * apply_router_token_dropping on the rank's local tokens). Which ones go
     * (moe_token_drop_policy probs or position) does not change the counts.
     * Padding fills every expert up to that capacity (drop_and_pad). */
    double capacity = ceil(capacity_factor * copies / (double)experts), dropped = 0;
    for (long i = 0; i < n * experts; i++) {
        if (counts[i] > capacity) {
            dropped += counts[i] - capacity;
            counts[i] = capacity;
        }
        if (t->moe_pad_expert_input_to_capacity)
            counts[i] = capacity;
    }
    return dropped;
}
