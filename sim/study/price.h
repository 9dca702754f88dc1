/* price: what one GPU of a cluster costs per second of use, from a cost
 * (or price) block: its GPU-hour price, or its purchase written off over
 * its lifetime with the scale-out network bought with it (the GPU's share
 * of the cluster's NICs and of the switch ports the fabric uses) and the
 * energy it draws (watts at the wall times the price of a joule). */
#ifndef CS_PRICE_H
#define CS_PRICE_H

#include "input/config.h"

/* US dollars per GPU-second; NaN when k is not present. */
double cs_price_per_gpu_s(const cs_cost_config *k, const cs_cluster *c);

#endif
