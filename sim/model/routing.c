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
    double capacity = capacity_factor * copies * (double)n / (double)experts, dropped = 0;
    for (long e = 0; e < experts; e++) {
        double load = 0;
        for (long i = 0; i < n; i++)
            load += counts[i * experts + e];
        if (load <= capacity)
            continue;
        double keep = capacity / load;
        for (long i = 0; i < n; i++)
            counts[i * experts + e] *= keep;
        dropped += load - capacity;
    }
    return dropped;
}
