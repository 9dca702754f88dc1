#include "net/fabric.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Link index layout, in blocks:
 *   scale-up   switch: up[g] then down[g] (2 G links)
 *              mesh:   one per ordered pair inside a node (G (gpn - 1))
 *   NIC        up[n] then down[n] for every NIC n (2 N links)
 *   spine      leaf_up[leaf][u] then spine_down[u][leaf] (2 leaves U links) */
static long scale_up_links(const cs_fabric *f)
{
    return f->mesh ? f->gpus * (f->gpus_per_node - 1) : 2 * f->gpus;
}

static long nic_base(const cs_fabric *f) { return scale_up_links(f); }
static long nic_count(const cs_fabric *f) { return f->nodes * f->nics_per_node; }
static long spine_base(const cs_fabric *f) { return nic_base(f) + 2 * nic_count(f); }

long cs_fabric_node_of(const cs_fabric *f, long gpu) { return gpu / f->gpus_per_node; }

/* The NIC a GPU uses, as a global index. */
long cs_fabric_nic_of(const cs_fabric *f, long gpu)
{
    long node = gpu / f->gpus_per_node, local = gpu % f->gpus_per_node;
    return node * f->nics_per_node + local / f->gpus_per_nic;
}

/* Leaf of a NIC and its port on that leaf. */
static void leaf_of(const cs_fabric *f, long nic, long *leaf, long *port)
{
    if (f->rail_optimized) {
        long node = nic / f->nics_per_node, rail = nic % f->nics_per_node;
        long groups = (f->nodes + f->ports_per_leaf - 1) / f->ports_per_leaf;
        *leaf = rail * groups + node / f->ports_per_leaf;
        *port = node % f->ports_per_leaf;
    } else {
        *leaf = nic / f->ports_per_leaf;
        *port = nic % f->ports_per_leaf;
    }
}

long cs_fabric_uplink(const cs_fabric *f, long gpu) { return f->mesh ? -1 : gpu; }
long cs_fabric_downlink(const cs_fabric *f, long gpu) { return f->mesh ? -1 : f->gpus + gpu; }

/* Per-protocol times: what the cluster gave, else NCCL's (nccl[]); a time
 * given for Simple alone scales NCCL's LL and LL128 in proportion. */
static void proto_times(const double *given, const double *nccl, double *out)
{
    double scale =
        isnan(given[CS_PROTO_SIMPLE]) ? 1 : given[CS_PROTO_SIMPLE] / nccl[CS_PROTO_SIMPLE];
    for (int p = 0; p < CS_PROTOS; p++)
        out[p] = !isnan(given[p]) ? given[p] : nccl[p] * scale;
}

/* NCCL's tuner constants (see fabric.h for the source), in seconds. */
static const double nccl_base[CS_PROTOS] = {6.6e-6, 14.0e-6, 8.4e-6};
static const double nccl_nvlink_step[CS_PROTOS] = {0.6e-6, 1.9e-6, 3.4e-6};
static const double nccl_net_step[CS_PROTOS] = {2.7e-6, 4.0e-6, 14.0e-6};
#define NCCL_NVLS_LATENCY 25e-6
#define NCCL_NVLS_EFFICIENCY 0.85 /* nvlsEfficiency, Hopper */

static void coll_consts(cs_fabric *f, const cs_cluster *c)
{
    cs_coll_consts *k = &f->coll;
    const cs_collectives_config *cc = &c->collectives;
    proto_times(cc->base_latency, nccl_base, k->base);
    proto_times(c->scale_up.latency, nccl_nvlink_step, k->up_step);
    proto_times(c->scale_out.latency, nccl_net_step, k->out_step);
    k->protocols = cc->protocols;
    k->nvls = c->scale_up.nvls && !f->mesh;
    double nvls_eff = isnan(c->scale_up.nvls_efficiency)
                          ? c->scale_up.efficiency * NCCL_NVLS_EFFICIENCY
                          : c->scale_up.nvls_efficiency;
    k->nvls_capacity = c->scale_up.bandwidth * nvls_eff;
    k->nvls_latency = isnan(cc->nvls_latency) ? NCCL_NVLS_LATENCY : cc->nvls_latency;
    k->nvls_member_latency = cc->nvls_member_latency;
    memcpy(k->ll_max_bandwidth, cc->ll_max_bandwidth, sizeof k->ll_max_bandwidth);
    memcpy(k->tree_max_bandwidth, cc->tree_max_bandwidth, sizeof k->tree_max_bandwidth);
    const cs_op_efficiency *e = &cc->efficiency;
    double ops[6] = {e->all_reduce, e->all_gather, e->reduce_scatter,
                     e->alltoall,   e->sendrecv,   e->broadcast};
    memcpy(k->op_efficiency, ops, sizeof ops);
}

void cs_fabric_resolve_latencies(cs_cluster *c)
{
    double out[CS_PROTOS];
    proto_times(c->collectives.base_latency, nccl_base, out);
    memcpy(c->collectives.base_latency, out, sizeof out);
    proto_times(c->scale_up.latency, nccl_nvlink_step, out);
    memcpy(c->scale_up.latency, out, sizeof out);
    proto_times(c->scale_out.latency, nccl_net_step, out);
    memcpy(c->scale_out.latency, out, sizeof out);
}

static void set_link(cs_fabric *f, long i, double cap, double lat, cs_link_class k)
{
    f->capacity[i] = cap;
    f->latency[i] = lat;
    f->klass[i] = (unsigned char)k;
}

/* The fabric's shape: GPUs, NICs, leaves and their uplinks (spines). */
static void shape(cs_fabric *f, const cs_cluster *c)
{
    memset(f, 0, sizeof *f);
    f->gpus_per_node = c->gpus_per_node;
    f->nodes = c->nodes;
    f->gpus = c->nodes * c->gpus_per_node;
    f->nics_per_node = c->scale_out.nics_per_node;
    f->gpus_per_nic = c->gpus_per_node / c->scale_out.nics_per_node;
    f->mesh = c->scale_up.kind == CS_SCALE_UP_MESH && c->gpus_per_node > 1;
    f->rail_optimized = c->scale_out.topology == CS_RAIL_OPTIMIZED;
    f->ports_per_leaf = c->scale_out.leaf_radix / 2;
    if (f->ports_per_leaf < 1)
        f->ports_per_leaf = 1;
    if (f->rail_optimized)
        f->leaves = f->nics_per_node * ((f->nodes + f->ports_per_leaf - 1) / f->ports_per_leaf);
    else
        f->leaves = (nic_count(f) + f->ports_per_leaf - 1) / f->ports_per_leaf;
    f->uplinks = f->leaves > 1 ? f->ports_per_leaf : 0;
}

double cs_fabric_switch_ports(const cs_cluster *c)
{
    if (c->nodes < 2 || c->scale_out.nics_per_node < 1)
        return 0;
    cs_fabric f;
    shape(&f, c);
    /* Every NIC's leaf port and, with more than one leaf, the uplinks its
     * traffic needs (one per NIC over the oversubscription), each with a
     * spine port at its other end. */
    double nics = (double)nic_count(&f), o = c->scale_out.oversubscription;
    return nics + (f.leaves > 1 ? 2.0 * nics / (o > 0 ? o : 1) : 0);
}

int cs_fabric_init(cs_fabric *f, const cs_cluster *c)
{
    shape(f, c);
    f->link_count = spine_base(f) + 2 * f->leaves * f->uplinks;
    f->capacity = malloc((size_t)f->link_count * sizeof *f->capacity);
    f->latency = malloc((size_t)f->link_count * sizeof *f->latency);
    f->klass = malloc((size_t)f->link_count);
    if (!f->capacity || !f->latency || !f->klass) {
        cs_fabric_free(f);
        return -1;
    }
    coll_consts(f, c);
    double up_bw = c->scale_up.bandwidth * c->scale_up.efficiency;
    double up_lat = f->coll.up_step[CS_PROTO_SIMPLE];
    double nic_bw = c->scale_out.nic_bandwidth * c->scale_out.efficiency;
    double out_lat = f->coll.out_step[CS_PROTO_SIMPLE];
    if (f->mesh) {
        double link_bw = up_bw / (double)(f->gpus_per_node - 1);
        for (long i = 0; i < scale_up_links(f); i++)
            set_link(f, i, link_bw, up_lat, CS_LINK_SCALE_UP);
    } else {
        for (long i = 0; i < scale_up_links(f); i++)
            set_link(f, i, up_bw, up_lat / 2, CS_LINK_SCALE_UP);
    }
    for (long i = 0; i < 2 * nic_count(f); i++)
        set_link(f, nic_base(f) + i, nic_bw, out_lat / 2, CS_LINK_NIC);
    for (long i = 0; i < 2 * f->leaves * f->uplinks; i++)
        set_link(f, spine_base(f) + i, nic_bw / c->scale_out.oversubscription, 0, CS_LINK_SPINE);
    return 0;
}

void cs_fabric_free(cs_fabric *f)
{
    free(f->capacity);
    free(f->latency);
    free(f->klass);
    f->capacity = f->latency = NULL;
    f->klass = NULL;
}

int cs_fabric_route(const cs_fabric *f, long src, long dst, long links[CS_ROUTE_MAX],
                    double *latency)
{
    int n = 0;
    long node_s = src / f->gpus_per_node, node_d = dst / f->gpus_per_node;
    if (node_s == node_d) {
        if (f->mesh) {
            long gpn = f->gpus_per_node, ls = src % gpn, ld = dst % gpn;
            links[n++] = src * (gpn - 1) + (ld < ls ? ld : ld - 1);
        } else {
            links[n++] = src;
            links[n++] = f->gpus + dst;
        }
    } else {
        long nic_s = cs_fabric_nic_of(f, src), nic_d = cs_fabric_nic_of(f, dst);
        long leaf_s, port_s, leaf_d, port_d;
        leaf_of(f, nic_s, &leaf_s, &port_s);
        leaf_of(f, nic_d, &leaf_d, &port_d);
        links[n++] = nic_base(f) + nic_s;
        if (leaf_s != leaf_d) {
            long spine = port_d % f->uplinks;
            links[n++] = spine_base(f) + leaf_s * f->uplinks + spine;
            links[n++] = spine_base(f) + f->leaves * f->uplinks + spine * f->leaves + leaf_d;
        }
        links[n++] = nic_base(f) + nic_count(f) + nic_d;
    }
    if (latency) {
        double lat = 0;
        for (int i = 0; i < n; i++)
            lat += f->latency[links[i]];
        *latency = lat;
    }
    return n;
}
