/* collective: collectives as NCCL, RCCL and HCCL run them, over a group of
 * GPUs.
 *
 * A collective is planned the way NCCL's tuner plans it (tuner.c): for each
 * algorithm the group allows (ring, tree, NVLS, hierarchical, or the
 * point-to-point exchange of all-to-all and send/receive) and each protocol
 * (LL, LL128, Simple), an estimated time = latency + bytes / bandwidth;
 * the fastest wins unless the spec names an algorithm or protocol.
 *   latency    NCCL's: a launch latency per protocol plus one step latency
 *              per ring step (or tree level, or chain hop), inside a node
 *              and between nodes, per protocol (fabric.h, cs_coll_consts)
 *   bandwidth  what the algorithm's traffic pattern (pattern.c) gets from
 *              the links: every link's bytes over its capacity, the most
 *              loaded link deciding; a protocol moves more bytes than it
 *              delivers (LL sends a flag with every 8 bytes: x2; LL128 120
 *              of 128: NCCL's x1/0.92), and an operation's efficiency
 *              factor scales its bytes
 * The patterns are those of the libraries: rings over every NIC of a node
 * (one channel per NIC), and on a full mesh over every link (RCCL's and
 * HCCL's rings, one per link direction: equivalent to each member
 * exchanging directly with every other); NCCL's double binary tree with a
 * chain inside each node; NVLS, where the switch reduces and multicasts, so
 * each GPU sends and receives the buffer once, and NVLS trees across nodes
 * (NVLS reduce-scatter in each node, a double tree per local rank on its
 * share between nodes, NVLS all-gather).
 *
 * Under the network models:
 *   analytic  the planned time, alone on the fabric
 *   flow      the latency, then the pattern's transfers as flows on the net,
 *             phase by phase (each phase's transfers at once, the next phase
 *             when all have arrived), sharing links with whatever else
 *             runs; alone on an idle fabric this takes the analytic time
 *   ideal     no time
 *
 * Sizes follow nccl-tests: S is each rank's buffer for all-reduce, the
 * total for all-gather, reduce-scatter and all-to-all, and the message for
 * send/recv and broadcast. */
#ifndef CS_COLLECTIVE_H
#define CS_COLLECTIVE_H

#include <stdint.h>

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

typedef enum {
    CS_ALGO_AUTO,
    CS_ALGO_RING,         /* rings over every channel and mesh link */
    CS_ALGO_TREE,         /* NCCL's double binary tree (all-reduce across nodes) */
    CS_ALGO_NVLS,         /* NVLink SHARP inside one switch */
    CS_ALGO_HIERARCHICAL, /* reduce-scatter in nodes, all-reduce across, all-gather in */
    CS_ALGO_P2P,          /* point-to-point sends: all-to-all, send/recv */
    CS_ALGO_NVLS_TREE,    /* NVLS inside each node, a double tree across nodes */
    CS_ALGO_COUNT
} cs_coll_algo;

typedef struct cs_coll_spec {
    cs_coll_op op;
    cs_coll_algo algo;
    long n;
    const long *gpus;         /* members in rank order; read only by start */
    double bytes;             /* S, nccl-tests semantics */
    const double *pair_bytes; /* all-to-all: n x n, [i * n + j] from i to j; NULL = even */
    long root;                /* broadcast: root's index in gpus */
    unsigned protocols;       /* bit (1 << cs_proto) per protocol the tuner may
                                 pick, within the cluster's; 0: the cluster's */
} cs_coll_spec;

typedef struct cs_coll_plan {
    cs_coll_algo algo; /* never AUTO */
    cs_proto proto;
    double latency; /* s before the first byte moves */
    double wire;    /* bytes sent per byte of the pattern */
    double time;    /* alone on an idle fabric: latency + wire x the pattern's load */
} cs_coll_plan;

/* Plans the collective as NCCL's tuner would (see above), keeping the
 * spec's algorithm and protocol when it names them. Returns 0, -1 when out
 * of memory, -2 when the spec's algorithm cannot run this collective on this
 * group (tree inside one node, NVLS without NVLink SHARP or across nodes). */
int cs_collective_plan(const cs_fabric *f, const cs_coll_spec *s, cs_coll_plan *out);

/* The planned time (0 when it cannot be planned). */
double cs_collective_analytic_time(const cs_fabric *f, const cs_coll_spec *s);

/* The same, planned in net's per-link scratch (cs_net_link_sums) and its
 * plan cache: what the analytic model gives the collective on that net,
 * cheaper than the above when many are planned on a large fabric. */
double cs_collective_net_time(cs_net *net, const cs_coll_spec *s);

/* The same without keeping the plan: for collectives met once (a check of
 * every group of a kind), which would crowd out the replay's in the cache. */
double cs_collective_net_time_once(cs_net *net, const cs_coll_spec *s);

/* Starts the collective now; done(ctx, arg) runs when every rank is finished.
 * Returns 0, -1 when out of memory, -2 when no algorithm and protocol the
 * spec allows can run it (see cs_collective_plan). */
int cs_collective_start(cs_net *net, const cs_coll_spec *s, cs_done_fn done, void *ctx, long arg);

/* The same, on a net that checks exclusive use (cs_net_set_exclusive), also
 * holding shadow[0..count-1] while it runs: the links that copies of this
 * collective elsewhere use (a reduced replay's groups it does not
 * simulate; borrowed until it ends). */
int cs_collective_start_shadowed(cs_net *net, const cs_coll_spec *s, const long *shadow,
                                 long count, cs_done_fn done, void *ctx, long arg);

/* Simulates the collective alone on an idle fabric under `model` and returns
 * its time in *time (stats, when not NULL, receives the engine events and the
 * net's delivered bytes). Returns 0, -1 when out of memory, -2 when it cannot
 * be planned. */
typedef struct cs_coll_stats {
    uint64_t events;
    double delivered_bytes;
    uint64_t transfers;
} cs_coll_stats;
int cs_collective_time(const cs_fabric *f, cs_network_model model, const cs_coll_spec *s,
                       double *time, cs_coll_stats *stats);

/* The links the planned pattern uses in flow mode, each once, into out
 * (room for every link of the net's fabric), planned in the net's scratch
 * and plan cache. Returns their count, or -1 when it cannot be planned or
 * out of memory. */
long cs_collective_links(cs_net *net, const cs_coll_spec *s, long *out);

/* cs_collective_time on a net of one's own whose engine has nothing left to
 * run: reset to time 0, then the collective alone (cheaper than a new net
 * each time when many are timed). Returns 0, -1 or -2 as that. */
int cs_collective_time_on(cs_net *net, const cs_coll_spec *s, double *time);

/* Bytes the planned pattern puts on the wire in flow mode (for conservation). */
double cs_collective_wire_bytes(const cs_fabric *f, const cs_coll_spec *s);

/* nccl-tests' busbw / algbw ratio: 2(n-1)/n for all-reduce, (n-1)/n for
 * all-gather, reduce-scatter and all-to-all, 1 otherwise. */
double cs_collective_bus_factor(cs_coll_op op, long n);

const char *cs_coll_op_name(cs_coll_op op);
const char *cs_coll_algo_name(cs_coll_algo a);
const char *cs_coll_proto_name(cs_proto p);
/* Parses a name; -1 when unknown. */
int cs_coll_op_parse(const char *name);
int cs_coll_algo_parse(const char *name);
int cs_coll_proto_parse(const char *name);

#endif
