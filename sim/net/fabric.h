/* fabric: the cluster's links and the routes between its GPUs.
 *
 * Built from a cs_cluster. Every link is one direction of one cable or port,
 * with a capacity (line rate x the cluster's efficiency factor for its class)
 * and a latency; a route's latency is the sum over its links, so a transfer
 * inside a node pays one scale-up step (Simple protocol) and one between
 * nodes one scale-out step.
 *
 * The fabric also carries what the collective library makes of it: the
 * per-protocol step and launch latencies, NVLS, the protocols allowed and
 * the per-operation efficiencies (cs_coll_consts). Where the cluster leaves
 * them out they are NCCL's own tuner figures (NVIDIA/nccl
 * src/graph/tuning.cc, ncclTunerConstantsDefaults, at commit 5067397 of
 * 2026-06-11): launch 6.6 / 14 / 8.4 us (LL / LL128 / Simple, ring), NVLink
 * step 0.6 / 1.9 / 3.4 us, network step 2.7 / 4.0 / 14 us, NVLS 25 us.
 *
 * Inside a node: with a switch (NVSwitch) each GPU has an uplink and a
 * downlink at the full per-GPU bandwidth; with a mesh (MI300X, Ascend HCCS)
 * every ordered GPU pair has its own link of bandwidth / (gpus_per_node - 1).
 * Between nodes: GPU -> its NIC (gpus_per_node / nics_per_node GPUs share
 * one) -> leaf switch -> [spine -> leaf] -> NIC -> GPU. A leaf has leaf_radix
 * / 2 ports down to NICs and as many uplinks, one to each spine, of NIC
 * bandwidth / oversubscription. fat_tree fills leaves with NICs in node order;
 * rail_optimized puts NIC i of every node on rail leaf i (several leaves per
 * rail when the nodes outnumber the ports), so traffic between NICs of
 * different rails crosses a spine. Spines are chosen by destination
 * (D-mod-k, as InfiniBand subnet managers route fat trees): deterministic and
 * spread evenly over equal-cost paths. The GPU-NIC PCIe hop is not modelled. */
#ifndef CS_FABRIC_H
#define CS_FABRIC_H

#include "input/config.h"

#define CS_ROUTE_MAX 6

typedef enum {
    CS_LINK_SCALE_UP, /* NVLink / NVSwitch / mesh link */
    CS_LINK_NIC,      /* NIC to leaf or leaf to NIC */
    CS_LINK_SPINE,    /* leaf to spine or spine to leaf */
    CS_LINK_CLASS_COUNT
} cs_link_class;

/* The collective library's constants on this fabric (see above). */
typedef struct cs_coll_consts {
    double base[CS_PROTOS];     /* s per collective */
    double up_step[CS_PROTOS];  /* s per ring step inside a node */
    double out_step[CS_PROTOS]; /* s per ring step between nodes */
    unsigned protocols;         /* bit (1 << cs_proto) per protocol allowed */
    int nvls;
    double nvls_capacity;       /* bytes/s per GPU port and direction under NVLS */
    double nvls_latency;        /* s */
    double nvls_member_latency; /* s per member of the group */
    double ll_max_bandwidth[3]; /* bytes/s of algbw on 1, 2, 3+ nodes; 0 = none */
    double tree_max_bandwidth[3];
    double op_efficiency[6]; /* by cs_coll_op: all_reduce .. broadcast */
} cs_coll_consts;

typedef struct cs_fabric {
    long gpus, gpus_per_node, nodes;
    long nics_per_node, gpus_per_nic;
    int mesh;
    int rail_optimized;
    long leaves, ports_per_leaf, uplinks; /* uplinks per leaf = spines */
    long link_count;
    double *capacity;     /* bytes/s, efficiency applied (owned) */
    double *latency;      /* s (owned) */
    unsigned char *klass; /* cs_link_class (owned) */
    cs_coll_consts coll;
} cs_fabric;

/* Switch ports the scale-out network of cluster c uses: a leaf port per
 * NIC and, across leaves, an uplink per NIC over the oversubscription with
 * a spine port at its other end (0 for one node). */
double cs_fabric_switch_ports(const cs_cluster *c);

/* Builds the fabric. Returns 0, or -1 when out of memory. */
int cs_fabric_init(cs_fabric *f, const cs_cluster *c);
/* Writes into c the latencies the fabric would use where c leaves them
 * out (NCCL's, or in proportion to a Simple figure given alone): the
 * collectives' base latency and the steps inside and between nodes. */
void cs_fabric_resolve_latencies(cs_cluster *c);
void cs_fabric_free(cs_fabric *f);

/* The links from GPU src to GPU dst (src != dst) in order; returns their
 * count and sets *latency (when not NULL) to the route's total. */
int cs_fabric_route(const cs_fabric *f, long src, long dst, long links[CS_ROUTE_MAX],
                    double *latency);

long cs_fabric_node_of(const cs_fabric *f, long gpu);

/* The global index of the NIC a GPU sends and receives through. */
long cs_fabric_nic_of(const cs_fabric *f, long gpu);

/* A switch node's links of a GPU: to the switch and from it (-1 on a mesh). */
long cs_fabric_uplink(const cs_fabric *f, long gpu);
long cs_fabric_downlink(const cs_fabric *f, long gpu);

#endif
