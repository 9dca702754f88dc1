/* collective_span: what collective.c and collective_cost.c share (internal
 * to sim/net/): the shape of a collective's group on the fabric. */
#ifndef CS_NET_COLLECTIVE_SPAN_H
#define CS_NET_COLLECTIVE_SPAN_H

#include "net/collective.h"

typedef struct cs_span {
    long nodes;                 /* nodes the members sit on */
    long per_node;              /* members per node when listed node by node, equally; else 0 */
    long channels;              /* parallel rings or trees (NCCL channels), one per NIC used */
    int crosses_leaves;         /* some members sit on different leaf switches */
    double up_alpha, up_beta;   /* scale-up: one GPU's link */
    double out_alpha, out_beta; /* scale-out: what the group has across one node boundary */
    double alpha, beta;         /* the slowest class crossed */
} cs_span;

/* The span of the collective's group. */
void cs_coll_span(const cs_fabric *f, const cs_coll_spec *s, cs_span *sp);

/* Chunks a pipelined chain or tree splits a message of `bytes` into. */
long cs_coll_chunks(double bytes);

#endif
