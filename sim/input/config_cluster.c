/* config_cluster: the cluster document (GPU, nodes, scale-up and scale-out
 * networks) and its defaults. */
#include "input/schema.h"

#include <math.h>
#include <string.h>

static const char *const scale_up_choices[] = {"switch", "mesh", NULL};
static const char *const topo_choices[] = {"fat_tree", "rail_optimized", NULL};

static const cs_field gpu_fields[] = {
    NAME(cs_gpu_config, name),
    QTY(cs_gpu_config, peak_compute, CS_UNIT_COMPUTE, REQUIRED | POSITIVE),
    QTY(cs_gpu_config, memory, CS_UNIT_SIZE, REQUIRED | POSITIVE),
    QTY(cs_gpu_config, memory_bandwidth, CS_UNIT_BANDWIDTH, REQUIRED | POSITIVE),
    TABLE(cs_gpu_config, matmul_efficiency),
    TABLE(cs_gpu_config, memory_efficiency),
    QTY(cs_gpu_config, kernel_launch, CS_UNIT_TIME, 0),
    QTY(cs_gpu_config, reserved_memory, CS_UNIT_SIZE, 0),
};
const cs_schema cs_gpu_schema = {"gpu", gpu_fields, COUNT(gpu_fields)};

static const cs_field scale_up_fields[] = {
    ENUM(cs_scale_up_config, kind, scale_up_choices),
    QTY(cs_scale_up_config, bandwidth, CS_UNIT_BANDWIDTH, REQUIRED | POSITIVE),
    QTY(cs_scale_up_config, latency, CS_UNIT_TIME, 0),
    QTY(cs_scale_up_config, efficiency, CS_UNIT_RATIO, POSITIVE | AT_MOST_1),
};
const cs_schema cs_scale_up_schema = {"scale_up", scale_up_fields, COUNT(scale_up_fields)};

static const cs_field scale_out_fields[] = {
    INT(cs_scale_out_config, nics_per_node, 1, 0),
    QTY(cs_scale_out_config, nic_bandwidth, CS_UNIT_BANDWIDTH, REQUIRED | POSITIVE),
    QTY(cs_scale_out_config, latency, CS_UNIT_TIME, 0),
    QTY(cs_scale_out_config, efficiency, CS_UNIT_RATIO, POSITIVE | AT_MOST_1),
    ENUM(cs_scale_out_config, topology, topo_choices),
    QTY(cs_scale_out_config, oversubscription, CS_UNIT_RATIO, POSITIVE),
    INT(cs_scale_out_config, leaf_radix, 2, 0),
};
const cs_schema cs_scale_out_schema = {"scale_out", scale_out_fields, COUNT(scale_out_fields)};

static const cs_field cluster_fields[] = {
    NAME(cs_cluster, name),
    IGNORE("base"),
    SUB(cs_cluster, gpu, cs_gpu_schema),
    INTL(cs_cluster, nodes, 1, REQUIRED, loc_nodes),
    INT(cs_cluster, gpus_per_node, 1, REQUIRED),
    SUB(cs_cluster, scale_up, cs_scale_up_schema),
    SUB(cs_cluster, scale_out, cs_scale_out_schema),
};
const cs_schema cs_cluster_schema = {"cluster", cluster_fields, COUNT(cluster_fields)};

void cs_cluster_defaults(cs_cluster *k)
{
    memset(k, 0, sizeof *k);
    k->gpu.peak_compute = k->gpu.memory = k->gpu.memory_bandwidth = NAN;
    k->gpu.matmul_efficiency = (cs_table){.n = 1, .y = {1.0}};
    k->gpu.memory_efficiency = (cs_table){.n = 1, .y = {1.0}};
    k->nodes = k->gpus_per_node = UNSET_INT;
    k->scale_up.bandwidth = NAN;
    k->scale_up.efficiency = 1.0;
    k->scale_out.nics_per_node = UNSET_INT;
    k->scale_out.nic_bandwidth = NAN;
    k->scale_out.efficiency = 1.0;
    k->scale_out.oversubscription = 1.0;
    k->scale_out.leaf_radix = 64;
}

static int cluster_derive(cs_ctx *c, cs_cluster *k, const cs_yfile *f)
{
    if (k->scale_out.nics_per_node == UNSET_INT)
        k->scale_out.nics_per_node = k->gpus_per_node;
    if (k->gpus_per_node > 0 && k->scale_out.nics_per_node > 0 &&
        k->gpus_per_node % k->scale_out.nics_per_node) {
        cs_diags_add(c->diags, CS_ERROR, k->loc, f ? f->text : NULL, f ? f->len : 0,
                     "gpus_per_node %ld is not a multiple of nics_per_node %ld", k->gpus_per_node,
                     k->scale_out.nics_per_node);
        return -1;
    }
    return 0;
}

int cs_cluster_finish(cs_ctx *c, cs_cluster *k)
{
    cs_yfile *f = cs_ctx_file_of(c, k->loc);
    /* One node needs no network between nodes. */
    if (k->nodes == 1 && isnan(k->scale_out.nic_bandwidth))
        k->scale_out.nic_bandwidth = 0;
    int rc = cs_schema_check_required(c, &cs_cluster_schema, k, k->loc, f);
    if (rc == 0)
        rc = cluster_derive(c, k, f);
    return rc;
}
