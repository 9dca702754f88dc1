/* config_cluster: the cluster document (GPU, nodes, scale-up and scale-out
 * networks) and its defaults. */
#include "input/schema.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const scale_up_choices[] = {"switch", "mesh", NULL};
static const char *const topo_choices[] = {"fat_tree", "rail_optimized", NULL};
static const char *const proto_choices[] = {"ll", "ll128", "simple", NULL};

/* A time per protocol: one time (Simple's; the other protocols keep NCCL's
 * proportions to it, worked out by the network layer) or a list of three
 * [LL, LL128, Simple]. `key` names the field in messages. */
static int proto_times(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, double *out)
{
    cs_quantity q;
    if (n->type == YAML_SCALAR_NODE) {
        if (cs_parse_qty(c, f, n, key, CS_UNIT_TIME, NONNEG, &q) != 0)
            return -1;
        out[CS_PROTO_LL] = out[CS_PROTO_LL128] = NAN;
        out[CS_PROTO_SIMPLE] = q.value;
        return 0;
    }
    long count = n->type == YAML_SEQUENCE_NODE
                     ? (long)(n->data.sequence.items.top - n->data.sequence.items.start)
                     : 0;
    if (count != CS_PROTOS) {
        REPORT(c, f, n, "'%s' must be a time (Simple's) or a list of three [LL, LL128, Simple]",
               key);
        return -1;
    }
    int rc = 0;
    for (long i = 0; i < count; i++) {
        yaml_node_t *item = cs_yfile_node(f, n->data.sequence.items.start[i]);
        if (cs_parse_qty(c, f, item, key, CS_UNIT_TIME, NONNEG, &q) != 0)
            rc = -1;
        else
            out[i] = q.value;
    }
    return rc;
}

static int up_latency(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return proto_times(c, f, n, "latency", ((cs_scale_up_config *)obj)->latency);
}

static int out_latency(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return proto_times(c, f, n, "latency", ((cs_scale_out_config *)obj)->latency);
}

static int base_latency(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return proto_times(c, f, n, "base_latency", ((cs_collectives_config *)obj)->base_latency);
}

/* A cap by group size: one bandwidth for any number of nodes, or [1 node, 2
 * nodes, 3 or more] (NCCL's llMaxBws and perChMaxTreeBws are indexed so). */
static int by_nodes(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, double *out)
{
    cs_quantity q;
    if (n->type == YAML_SCALAR_NODE) {
        if (cs_parse_qty(c, f, n, key, CS_UNIT_BANDWIDTH, NONNEG, &q) != 0)
            return -1;
        out[0] = out[1] = out[2] = q.value;
        return 0;
    }
    long count = n->type == YAML_SEQUENCE_NODE
                     ? (long)(n->data.sequence.items.top - n->data.sequence.items.start)
                     : 0;
    if (count != 3) {
        REPORT(c, f, n, "'%s' must be a bandwidth or a list of three [1 node, 2 nodes, 3 or more]",
               key);
        return -1;
    }
    int rc = 0;
    for (long i = 0; i < count; i++)
        if (cs_parse_qty(c, f, cs_yfile_node(f, n->data.sequence.items.start[i]), key,
                         CS_UNIT_BANDWIDTH, NONNEG, &q) != 0)
            rc = -1;
        else
            out[i] = q.value;
    return rc;
}

static int ll_max_bandwidth(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return by_nodes(c, f, n, "ll_max_bandwidth", ((cs_collectives_config *)obj)->ll_max_bandwidth);
}

static int tree_max_bandwidth(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return by_nodes(c, f, n, "tree_max_bandwidth",
                    ((cs_collectives_config *)obj)->tree_max_bandwidth);
}

/* A non-empty list of protocol names. */
static int protocols(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    long count = n->type == YAML_SEQUENCE_NODE
                     ? (long)(n->data.sequence.items.top - n->data.sequence.items.start)
                     : 0;
    if (count < 1) {
        REPORT(c, f, n, "'protocols' must list one or more of ll, ll128, simple");
        return -1;
    }
    unsigned mask = 0;
    int rc = 0;
    for (long i = 0; i < count; i++) {
        int p;
        if (cs_parse_enum(c, f, cs_yfile_node(f, n->data.sequence.items.start[i]), "protocol",
                          proto_choices, &p) != 0)
            rc = -1;
        else
            mask |= 1u << p;
    }
    if (rc == 0)
        ((cs_collectives_config *)obj)->protocols = mask;
    return rc;
}

/* One number of an attention-table row; ratios must lie in (0, 1]. */
static int row_number(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, int ratio,
                      double *out)
{
    const char *t = cs_ynode_text(n);
    char *end = NULL;
    double v = t ? strtod(t, &end) : NAN;
    if (!t || end == t || *end || !(v > 0) || (ratio && v > 1)) {
        const char *what = ratio ? "an efficiency above 0 and at most 1" : "a positive number";
        if (t)
            REPORT(c, f, n, "'%s': expected %s, got '%s'", key, what, t);
        else
            REPORT(c, f, n, "'%s': expected %s, got %s", key, what, cs_ynode_describe(n));
        return -1;
    }
    *out = v;
    return 0;
}

/* [seq_length, X, forward, backward] rows forming a full grid, sorted by X
 * (`col`: head_dim, or a sliding window's size, kept in head_dim), then
 * seq_length. */
static int attention_table(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key,
                           const char *col, cs_attention_table *out)
{
    long rows = n->type == YAML_SEQUENCE_NODE
                    ? (long)(n->data.sequence.items.top - n->data.sequence.items.start)
                    : 0;
    if (rows < 1 || rows > CS_ATTN_ROWS) {
        REPORT(c, f, n, "'%s' must be a list of 1 to %d rows [seq_length, %s, forward, backward]",
               key, CS_ATTN_ROWS, col);
        return -1;
    }
    cs_attention_table t = {0};
    for (long i = 0; i < rows; i++) {
        yaml_node_t *row = cs_yfile_node(f, n->data.sequence.items.start[i]);
        if (row->type != YAML_SEQUENCE_NODE ||
            row->data.sequence.items.top - row->data.sequence.items.start != 4) {
            REPORT(c, f, row, "each row of '%s' must be [seq_length, %s, forward, backward]", key,
                   col);
            return -1;
        }
        double v[4];
        for (int j = 0; j < 4; j++)
            if (row_number(c, f, cs_yfile_node(f, row->data.sequence.items.start[j]), key, j >= 2,
                           &v[j]) != 0)
                return -1;
        int ordered = i == 0 || v[1] > t.head_dim[i - 1] ||
                      (v[1] == t.head_dim[i - 1] && v[0] > t.seq[i - 1]);
        if (!ordered) {
            REPORT(c, f, row, "rows of '%s' must be sorted by %s, then seq_length", key, col);
            return -1;
        }
        t.seq[i] = v[0];
        t.head_dim[i] = v[1];
        t.forward[i] = v[2];
        t.backward[i] = v[3];
    }
    /* A full grid: every head_dim (window) has the first one's seq_lengths. */
    long per = 0;
    while (per < rows && t.head_dim[per] == t.head_dim[0])
        per++;
    int grid = rows % per == 0;
    for (long i = 0; grid && i < rows; i++)
        grid = t.seq[i] == t.seq[i % per] && t.head_dim[i] == t.head_dim[i / per * per];
    if (!grid) {
        REPORT(c, f, n, "'%s' must give every %s the same seq_lengths (a full grid)", key, col);
        return -1;
    }
    t.n = (int)rows;
    *out = t;
    return 0;
}

/* The index of v among the first `count` of axis, appended when new and
 * larger than the last; -1 when it breaks the order. */
static int axis_index(double *axis, int *count, double v)
{
    for (int i = 0; i < *count; i++)
        if (axis[i] == v)
            return i;
    if ((*count > 0 && v < axis[*count - 1]) || *count == CS_GEMM_AXIS)
        return -1;
    axis[*count] = v;
    return (*count)++;
}

/* [m, n, k, ratio] rows forming a full grid, sorted by m, then n, then k. */
static int gemm_table(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key,
                      cs_gemm_table *out)
{
    long rows = n->type == YAML_SEQUENCE_NODE
                    ? (long)(n->data.sequence.items.top - n->data.sequence.items.start)
                    : 0;
    if (rows < 1 || rows > CS_GEMM_ROWS) {
        REPORT(c, f, n, "'%s' must be a list of 1 to %d rows [m, n, k, efficiency]", key,
               CS_GEMM_ROWS);
        return -1;
    }
    cs_gemm_table t;
    memset(&t, 0, sizeof t);
    double last[3] = {0, 0, 0};
    for (long i = 0; i < rows; i++) {
        yaml_node_t *row = cs_yfile_node(f, n->data.sequence.items.start[i]);
        if (row->type != YAML_SEQUENCE_NODE ||
            row->data.sequence.items.top - row->data.sequence.items.start != 4) {
            REPORT(c, f, row, "each row of '%s' must be [m, n, k, efficiency]", key);
            return -1;
        }
        double v[4];
        for (int j = 0; j < 4; j++)
            if (row_number(c, f, cs_yfile_node(f, row->data.sequence.items.start[j]), key, j == 3,
                           &v[j]) != 0)
                return -1;
        int later = v[0] > last[0] || (v[0] == last[0] && (v[1] > last[1] ||
                                                            (v[1] == last[1] && v[2] > last[2])));
        int a = axis_index(t.m, &t.nm, v[0]), b = axis_index(t.n, &t.nn, v[1]);
        int k = axis_index(t.k, &t.nk, v[2]);
        if ((i > 0 && !later) || a < 0 || b < 0 || k < 0) {
            REPORT(c, f, row, "rows of '%s' must be sorted by m, then n, then k, with at most %d "
                              "values of each", key, CS_GEMM_AXIS);
            return -1;
        }
        memcpy(last, v, sizeof last);
        t.e[((long)a * CS_GEMM_AXIS + b) * CS_GEMM_AXIS + k] = v[3];
    }
    if (rows != (long)t.nm * t.nn * t.nk) {
        REPORT(c, f, n, "'%s' must give every (m, n) every k (a full grid of %d x %d x %d rows)",
               key, t.nm, t.nn, t.nk);
        return -1;
    }
    *out = t;
    return 0;
}

static int grid_table(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return gemm_table(c, f, n, "matmul_grid_efficiency",
                      &((cs_gpu_config *)obj)->matmul_grid_efficiency);
}

static int fp8_grid_table(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return gemm_table(c, f, n, "fp8_matmul_grid_efficiency",
                      &((cs_gpu_config *)obj)->fp8_matmul_grid_efficiency);
}

static int flash_table(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return attention_table(c, f, n, "flash", "head_dim", &((cs_attention_efficiency *)obj)->flash);
}

static int fused_table(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return attention_table(c, f, n, "fused", "head_dim", &((cs_attention_efficiency *)obj)->fused);
}

static int window_table(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return attention_table(c, f, n, "sliding_window", "window",
                           &((cs_attention_efficiency *)obj)->sliding_window);
}

static const cs_field attention_fields[] = {
    CUSTOM("flash", flash_table),
    CUSTOM("fused", fused_table),
    CUSTOM("sliding_window", window_table),
};
const cs_schema cs_attention_schema = {"attention_efficiency", attention_fields,
                                       COUNT(attention_fields)};

static const cs_field gpu_fields[] = {
    NAME(cs_gpu_config, name),
    QTY(cs_gpu_config, peak_compute, CS_UNIT_COMPUTE, REQUIRED | POSITIVE),
    QTY(cs_gpu_config, memory, CS_UNIT_SIZE, REQUIRED | POSITIVE),
    QTY(cs_gpu_config, memory_bandwidth, CS_UNIT_BANDWIDTH, REQUIRED | POSITIVE),
    TABLE(cs_gpu_config, matmul_efficiency),
    TABLE(cs_gpu_config, matmul_shape_efficiency),
    SUB(cs_gpu_config, attention_efficiency, cs_attention_schema),
    TABLE(cs_gpu_config, memory_efficiency),
    TABLE(cs_gpu_config, fp8_matmul_efficiency),
    TABLE(cs_gpu_config, fp8_matmul_shape_efficiency),
    TABLE(cs_gpu_config, grouped_matmul_efficiency),
    TABLE(cs_gpu_config, fp8_grouped_matmul_efficiency),
    CUSTOM("matmul_grid_efficiency", grid_table),
    CUSTOM("fp8_matmul_grid_efficiency", fp8_grid_table),
    BOOL(cs_gpu_config, mxfp8),
    BOOL(cs_gpu_config, fp8),
    QTY(cs_gpu_config, kernel_launch, CS_UNIT_TIME, NONNEG),
    QTY(cs_gpu_config, reserved_memory, CS_UNIT_SIZE, NONNEG),
};
const cs_schema cs_gpu_schema = {"gpu", gpu_fields, COUNT(gpu_fields)};

static const cs_field scale_up_fields[] = {
    ENUM(cs_scale_up_config, kind, scale_up_choices),
    QTY(cs_scale_up_config, bandwidth, CS_UNIT_BANDWIDTH, REQUIRED | POSITIVE),
    CUSTOM("latency", up_latency),
    QTY(cs_scale_up_config, efficiency, CS_UNIT_RATIO, POSITIVE | AT_MOST_1),
    BOOL(cs_scale_up_config, nvls),
    QTY(cs_scale_up_config, nvls_efficiency, CS_UNIT_RATIO, POSITIVE | AT_MOST_1),
};
const cs_schema cs_scale_up_schema = {"scale_up", scale_up_fields, COUNT(scale_up_fields)};

static const cs_field scale_out_fields[] = {
    INT(cs_scale_out_config, nics_per_node, 1, 0),
    QTY(cs_scale_out_config, nic_bandwidth, CS_UNIT_BANDWIDTH, REQUIRED | POSITIVE),
    CUSTOM("latency", out_latency),
    QTY(cs_scale_out_config, efficiency, CS_UNIT_RATIO, POSITIVE | AT_MOST_1),
    ENUM(cs_scale_out_config, topology, topo_choices),
    QTY(cs_scale_out_config, oversubscription, CS_UNIT_RATIO, POSITIVE),
    INT(cs_scale_out_config, leaf_radix, 2, 0),
};
const cs_schema cs_scale_out_schema = {"scale_out", scale_out_fields, COUNT(scale_out_fields)};

static const cs_field op_efficiency_fields[] = {
    QTY(cs_op_efficiency, all_reduce, CS_UNIT_RATIO, POSITIVE),
    QTY(cs_op_efficiency, all_gather, CS_UNIT_RATIO, POSITIVE),
    QTY(cs_op_efficiency, reduce_scatter, CS_UNIT_RATIO, POSITIVE),
    QTY(cs_op_efficiency, alltoall, CS_UNIT_RATIO, POSITIVE),
    QTY(cs_op_efficiency, sendrecv, CS_UNIT_RATIO, POSITIVE),
    QTY(cs_op_efficiency, broadcast, CS_UNIT_RATIO, POSITIVE),
};
const cs_schema cs_op_efficiency_schema = {"efficiency", op_efficiency_fields,
                                           COUNT(op_efficiency_fields)};

static const cs_field collectives_fields[] = {
    CUSTOM("protocols", protocols),
    CUSTOM("base_latency", base_latency),
    QTY(cs_collectives_config, nvls_latency, CS_UNIT_TIME, NONNEG),
    QTY(cs_collectives_config, nvls_member_latency, CS_UNIT_TIME, NONNEG),
    CUSTOM("ll_max_bandwidth", ll_max_bandwidth),
    CUSTOM("tree_max_bandwidth", tree_max_bandwidth),
    SUB(cs_collectives_config, efficiency, cs_op_efficiency_schema),
};
const cs_schema cs_collectives_schema = {"collectives", collectives_fields,
                                         COUNT(collectives_fields)};

static const cs_field host_fields[] = {
    QTY(cs_host_config, launch_overhead, CS_UNIT_TIME, NONNEG),
    QTY(cs_host_config, op_overhead, CS_UNIT_TIME, NONNEG),
    QTY(cs_host_config, collective_overhead, CS_UNIT_TIME, NONNEG),
};
const cs_schema cs_host_schema = {"host", host_fields, COUNT(host_fields)};

static int price_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return cs_parse_cost(c, f, n, "price", &((cs_cluster *)obj)->price);
}

static const cs_field cluster_fields[] = {
    NAME(cs_cluster, name),
    IGNORE("base"),
    SUB(cs_cluster, gpu, cs_gpu_schema),
    SUB(cs_cluster, host, cs_host_schema),
    INTL(cs_cluster, nodes, 1, REQUIRED, loc_nodes),
    INT(cs_cluster, gpus_per_node, 1, REQUIRED),
    SUB(cs_cluster, scale_up, cs_scale_up_schema),
    SUB(cs_cluster, scale_out, cs_scale_out_schema),
    SUB(cs_cluster, collectives, cs_collectives_schema),
    CUSTOM_OF("price", price_custom, cs_cost_schema),
};
const cs_schema cs_cluster_schema = {"cluster", cluster_fields, COUNT(cluster_fields)};

void cs_cluster_defaults(cs_cluster *k)
{
    memset(k, 0, sizeof *k);
    k->gpu.peak_compute = k->gpu.memory = k->gpu.memory_bandwidth = NAN;
    k->gpu.matmul_efficiency = (cs_table){.n = 1, .y = {1.0}};
    k->gpu.memory_efficiency = (cs_table){.n = 1, .y = {1.0}};
    k->gpu.fp8 = 1; /* presets of GPUs without FP8 say so */
    k->nodes = k->gpus_per_node = UNSET_INT;
    k->scale_up.bandwidth = NAN;
    k->scale_up.efficiency = 1.0;
    k->scale_up.nvls_efficiency = NAN;
    for (int p = 0; p < CS_PROTOS; p++)
        k->scale_up.latency[p] = k->scale_out.latency[p] = k->collectives.base_latency[p] = NAN;
    k->collectives.protocols = (1u << CS_PROTOS) - 1;
    k->collectives.nvls_latency = NAN;
    k->collectives.efficiency = (cs_op_efficiency){1, 1, 1, 1, 1, 1};
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
