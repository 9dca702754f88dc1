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

/* C(n - u, k) / C(n, k): k of n picked without any of u given ones. */
static double miss_of(double n, double u, double k)
{
    double miss = 1;
    for (double i = 0; i < k; i++)
        miss *= n - u - i > 0 ? (n - u - i) / (n - i) : 0;
    return miss;
}

double cs_routing_hit(const cs_moe_config *moe, long first, long held)
{
    long E = moe->num_experts, k = moe->router_topk, G = moe->router_num_groups;
    long g = moe->router_group_topk;
    if (E <= 0 || k <= 0 || held <= 0)
        return E > 0 && k > 0 ? 0 : 1;
    if (G <= 0 || g <= 0 || E % G || g > G)
        return 1 - miss_of((double)E, (double)held, (double)k);
    long per = E / G;
    double each = (double)k / (double)g;
    int split = k % g == 0; /* each chosen group gives the token k / g experts */
    /* f[j]: over the choices of j of the groups seen so far, the sum of the
     * chance to miss (split: the product of each group's own chance; else
     * the held count, as ways[j][x] with x held experts chosen). */
    size_t width = split ? 1 : (size_t)held + 1;
    double *f = calloc((size_t)(g + 1) * width, sizeof *f);
    if (!f)
        return 1 - miss_of((double)E, (double)held, (double)k); /* out of memory: ungrouped */
    f[0] = 1;
    for (long q = 0; q < G; q++) {
        long lo = q * per > first ? q * per : first;
        long hi = (q + 1) * per < first + held ? (q + 1) * per : first + held;
        long o = hi > lo ? hi - lo : 0; /* held experts in group q */
        double m = split ? miss_of((double)per, (double)o, each) : 0;
        for (long j = (q + 1 < g ? q + 1 : g); j >= 1; j--) {
            if (split) {
                f[j] += f[j - 1] * m;
                continue;
            }
            for (long x = held; x >= o; x--)
                f[(size_t)j * width + (size_t)x] += f[(size_t)(j - 1) * width + (size_t)(x - o)];
        }
    }
    double choices = 0, miss = 0;
    if (split) {
        choices = 1;
        for (long i = 0; i < g; i++)
            choices = choices * (double)(G - i) / (double)(i + 1);
        miss = f[g];
    } else {
        for (long x = 0; x <= held; x++) {
            double w = f[(size_t)g * width + (size_t)x];
            choices += w;
            miss += w * miss_of((double)(g * per), (double)x, (double)k);
        }
    }
    free(f);
    return choices > 0 ? 1 - miss / choices : 1;
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
