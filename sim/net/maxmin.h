/* maxmin: max-min fair rates of flows over shared links (progressive
 * filling, as SimGrid's lmm solver and Bertsekas & Gallager's Data Networks
 * 6.5.2 describe it).
 *
 * All flows grow at the same rate until some link is full; the flows crossing
 * it are frozen at that rate (it is their bottleneck); the rest go on growing.
 * The result: no flow can get more without taking from a flow that has no more
 * than it. A lazy min-heap over links' fair shares keeps one solve at
 * O((links + flow-link pairs) log links): a link's share only grows as flows
 * elsewhere freeze, so stale heap entries are simply re-pushed. */
#ifndef CS_MAXMIN_H
#define CS_MAXMIN_H

#include <stddef.h>

typedef struct cs_maxmin cs_maxmin;

/* Workspace reused across solves. NULL when out of memory. */
cs_maxmin *cs_maxmin_create(void);
void cs_maxmin_destroy(cs_maxmin *m);

/* Solves one instance. Flow f crosses links route[start[f] .. start[f+1]-1]
 * (indices below nlinks; each at most once); cap[l] > 0. Writes rate[f]. A
 * flow that crosses no link gets rate 0 (the caller treats it as instant).
 * `weight` (NULL: all 1), parallel to route, is how many flows' worth of
 * the link a flow takes: at rate r it uses weight x r of the link, and it
 * counts as `weight` flows in the link's fair share (a bundle of flows that
 * progress together, as net.h's all-to-alls). Capacities finite, weights
 * positive and finite, and not so far apart that a link's load cancels to 0
 * when a flow on it freezes (its share would be NaN: the heap would not
 * end). One and two flows are solved without the heap, to the same bits.
 * Returns 0, or -1 when out of memory. */
int cs_maxmin_solve(cs_maxmin *m, size_t nlinks, const double *cap, size_t nflows,
                    const size_t *start, const long *route, const double *weight, double *rate);

/* The rate cs_maxmin_solve gives a flow alone (crossing route[0 .. pairs-1]
 * of cap, with `weight` as there: distinct links, positive finite weights):
 * its tightest link's share, computed as progressive filling computes it,
 * so the same to the bit, without the heap. Most solves are of one flow: a collective's transfer on links
 * nothing else uses at that instant. */
double cs_maxmin_lone_rate(const double *cap, size_t pairs, const long *route,
                           const double *weight);

#endif
