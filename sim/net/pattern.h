/* pattern: the traffic of one collective algorithm, as transfers by phase
 * (internal to sim/net/: tuner.c prices it, collective.c runs it).
 *
 * Every transfer of a phase runs at once, and they move together (in flow
 * mode one bundle, net.h: a pipelined ring or tree advances at its slowest
 * edge's pace, and an all-to-all's pairs are sent together); a phase starts
 * when the one before it has arrived whole. The transfers carry what each link of the
 * algorithm carries over the whole collective (the libraries pipeline their
 * steps in small chunks, so in steady state every link of a ring or tree is
 * busy at once): a ring's edge carries 2(n-1)/n S of an all-reduce, as its
 * 2(n-1) steps of S/n would. */
#ifndef CS_NET_PATTERN_H
#define CS_NET_PATTERN_H

#include <stdint.h>

#include "net/collective.h"

/* What a collective's group spans on the fabric. */
typedef struct cs_span {
    long nodes;         /* runs of consecutive members on one node */
    long per_node;      /* members per node when listed node by node, equally; else 0 */
    long channels;      /* NICs a node's members use (NCCL's channels across nodes) */
} cs_span;

void cs_coll_span(const cs_fabric *f, const cs_coll_spec *s, cs_span *sp);

typedef struct cs_pflow {
    int32_t src, dst; /* GPUs */
    int32_t link;     /* >= 0: this one link (NVLS ports), else the route src -> dst */
    int32_t phase;
    double bytes;
} cs_pflow;

typedef struct cs_pattern {
    cs_pflow *flows; /* in phase order (owned) */
    long count, cap;
    int failed; /* out of memory while building */
} cs_pattern;

/* Builds the pattern of `algo` (not AUTO) for the collective. Returns 0, -1
 * when out of memory, -2 when the algorithm cannot run it (tree inside one
 * node, NVLS without NVLink SHARP or across nodes, hierarchical on a group
 * that is not node by node, an algorithm of another operation). */
int cs_pattern_build(cs_pattern *p, const cs_fabric *f, const cs_coll_spec *s, const cs_span *sp,
                     cs_coll_algo algo);
void cs_pattern_free(cs_pattern *p);

/* The time the pattern takes alone on the fabric, without latency: over its
 * phases, the sum of the largest bytes / capacity of any link in the phase.
 * `sums` is one zeroed double per link of f (left zeroed), or NULL to use a
 * temporary one. Returns -1 when out of memory. */
double cs_pattern_load_time(const cs_pattern *p, const cs_fabric *f, double *sums);

/* cs_collective_plan with the per-link sums it works in (see above). */
int cs_collective_plan_in(const cs_fabric *f, const cs_coll_spec *s, double *sums,
                          cs_coll_plan *out);

#endif
