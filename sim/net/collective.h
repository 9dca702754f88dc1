/* collective: NCCL-style collectives over a group of GPUs.
 *
 * In flow (and ideal) mode a collective becomes a graph of point-to-point
 * transfers with the dependency steps its algorithm has, run on the net, so
 * concurrent collectives contend for links:
 *   ring all-reduce       2(n-1) steps of S/n; rank i's step k waits for its
 *                         own step k-1 and for what rank i-1 sent at step k-1
 *   tree all-reduce       NCCL's double binary tree: two trees (the second
 *                         mirrored, so each rank is a leaf in one of them)
 *                         each reduce then broadcast S/2 in pipelined chunks
 *   hierarchical          reduce-scatter inside each node (ring), all-reduce
 *                         of each 1/g shard across nodes (ring), all-gather
 *                         inside each node (ring)
 *   all-gather, reduce-scatter  ring, n-1 steps of S/n
 *   all-to-all            every ordered pair at once (sizes may differ)
 *   send/recv             each rank to the next, at once
 *   broadcast             a pipelined chain from the root, in chunks
 *   p2p                   one message from the first member to the second
 * In analytic mode it costs its alpha-beta time, alpha and beta taken from
 * the slowest link class the group crosses, with no contention.
 *
 * Sizes follow nccl-tests: S is each rank's buffer for all-reduce, the
 * total for all-gather, reduce-scatter and all-to-all, and the message for
 * send/recv and broadcast. */
#ifndef CS_COLLECTIVE_H
#define CS_COLLECTIVE_H

#include "net/fabric.h"
#include "net/net.h"

typedef enum {
    CS_COLL_ALL_REDUCE,
    CS_COLL_ALL_GATHER,
    CS_COLL_REDUCE_SCATTER,
    CS_COLL_ALLTOALL,
    CS_COLL_SENDRECV,
    CS_COLL_BROADCAST,
    CS_COLL_P2P, /* one message from gpus[0] to gpus[1] (pipeline send/receive) */
    CS_COLL_OP_COUNT
} cs_coll_op;

typedef enum { CS_ALGO_AUTO, CS_ALGO_RING, CS_ALGO_TREE, CS_ALGO_HIERARCHICAL } cs_coll_algo;

typedef struct cs_coll_spec {
    cs_coll_op op;
    cs_coll_algo algo;
    long n;
    const long *gpus;         /* members in rank order; read only by start */
    double bytes;             /* S, nccl-tests semantics */
    const double *pair_bytes; /* all-to-all: n x n, [i * n + j] from i to j; NULL = even */
    long root;                /* broadcast: root's index in gpus */
} cs_coll_spec;

/* The algorithm NCCL would pick for this collective: the cheaper of ring and
 * tree by the alpha-beta model for an all-reduce spanning nodes, ring inside
 * a node and for the other operations. Never returns CS_ALGO_AUTO. */
cs_coll_algo cs_collective_choose(const cs_fabric *f, const cs_coll_spec *s);

/* The alpha-beta time of the collective with its algorithm (auto resolved). */
double cs_collective_analytic_time(const cs_fabric *f, const cs_coll_spec *s);

/* Starts the collective now; done(ctx, arg) runs when every rank is finished.
 * Returns 0, or -1 when out of memory. */
int cs_collective_start(cs_net *net, const cs_coll_spec *s, cs_done_fn done, void *ctx,
                        long arg);

/* Simulates the collective alone on an idle fabric under `model` and returns
 * its time in *time (stats, when not NULL, receives the engine events and the
 * net's delivered bytes). Returns 0, or -1 when out of memory. */
typedef struct cs_coll_stats {
    uint64_t events;
    double delivered_bytes;
    uint64_t transfers;
} cs_coll_stats;
int cs_collective_time(const cs_fabric *f, cs_network_model model, const cs_coll_spec *s,
                       double *time, cs_coll_stats *stats);

/* Bytes the algorithm puts on the wire in flow mode (for conservation). */
double cs_collective_wire_bytes(const cs_fabric *f, const cs_coll_spec *s);

/* nccl-tests' busbw / algbw ratio: 2(n-1)/n for all-reduce, (n-1)/n for
 * all-gather, reduce-scatter and all-to-all, 1 otherwise. */
double cs_collective_bus_factor(cs_coll_op op, long n);

const char *cs_coll_op_name(cs_coll_op op);
const char *cs_coll_algo_name(cs_coll_algo a);
/* Parses a name; -1 when unknown. */
int cs_coll_op_parse(const char *name);
int cs_coll_algo_parse(const char *name);

#endif
