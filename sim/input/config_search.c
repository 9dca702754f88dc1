/* config_search: the scenario's search: block, the space, constraints and
 * objective of `clustersim search` (study/search.h). Each dimension takes
 * one value, a list of values, or {min, max} bounds on search's defaults;
 * what is left out takes the defaults. */
#include "input/schema.h"

#include <stdlib.h>
#include <string.h>

/* One value of dimension `key`: a count of at least 1, or for etp the word
 * tp (stored as 0). */
static int dim_value(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, long *out)
{
    const char *t = cs_ynode_text(n);
    if (strcmp(key, "etp"))
        return cs_parse_int(c, f, n, key, 1, out);
    char *end;
    long v = t ? strtol(t, &end, 10) : 0;
    if (t && !strcmp(t, "tp"))
        *out = 0;
    else if (t && end != t && !*end && v >= 1 && v <= (1L << 30))
        *out = v;
    else {
        REPORT(c, f, n, "'etp' must be a count of at least 1 or the word tp (the dense TP), got %s",
               t ? t : cs_ynode_describe(n));
        return -1;
    }
    return 0;
}

static int dim_list(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, cs_search_dim *d)
{
    long count = (long)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count < 1 || count > CS_SEARCH_MAX_VALUES) {
        REPORT(c, f, n, "'%s' must list 1 to %d values", key, CS_SEARCH_MAX_VALUES);
        return -1;
    }
    int rc = 0;
    for (long i = 0; i < count; i++) {
        yaml_node_t *item = cs_yfile_node(f, n->data.sequence.items.start[i]);
        long v;
        if (dim_value(c, f, item, key, &v) != 0) {
            rc = -1;
            continue;
        }
        for (int k = 0; k < d->count; k++)
            if (d->v[k] == v) {
                REPORT(c, f, item, "'%s' lists %s twice", key, cs_ynode_text(item));
                rc = -1;
            }
        d->at[d->count] = cs_yfile_loc(f, item);
        d->v[d->count++] = v;
    }
    return rc;
}

static int dim_bounds(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, cs_search_dim *d)
{
    int rc = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = cs_yfile_node(f, p->key), *vn = cs_yfile_node(f, p->value);
        const char *k = cs_ynode_text(kn);
        if (k && !strcmp(k, "min"))
            rc |= cs_parse_int(c, f, vn, "min", 1, &d->min);
        else if (k && !strcmp(k, "max"))
            rc |= cs_parse_int(c, f, vn, "max", 1, &d->max);
        else {
            static const char *const keys[] = {"min", "max", NULL};
            cs_report_unknown(c, f, kn, key, keys);
            rc = -1;
        }
    }
    if (rc == 0 && d->max && d->min > d->max) {
        REPORT(c, f, n, "'%s': min %ld is above max %ld", key, d->min, d->max);
        rc = -1;
    }
    return rc;
}

/* A dimension: one value, a list, or {min, max}. */
static int dim(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, cs_search_dim *d)
{
    memset(d, 0, sizeof *d);
    d->min = 1;
    d->loc = cs_yfile_loc(f, n);
    if (n->type == YAML_SEQUENCE_NODE)
        return dim_list(c, f, n, key, d);
    if (n->type == YAML_MAPPING_NODE)
        return dim_bounds(c, f, n, key, d);
    d->count = 1;
    d->at[0] = d->loc;
    return dim_value(c, f, n, key, &d->v[0]);
}

#define DIM_FN(field)                                                                              \
    static int dim_##field(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)                      \
    {                                                                                              \
        return dim(c, f, n, #field, &((cs_search_config *)obj)->field);                            \
    }
DIM_FN(tp)
DIM_FN(pp)
DIM_FN(ep)
DIM_FN(etp)
DIM_FN(cp)
DIM_FN(vpp)
DIM_FN(micro_batch_size)

/* GPU counts: a count, a list, or {min, max}: the counts doubling from min
 * (default one node) up to max (cs_search_gpu_counts). */
static int dim_gpus(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_search_dim *d = &((cs_search_config *)obj)->gpus;
    int rc = dim(c, f, n, "gpus", d);
    if (rc == 0 && n->type == YAML_MAPPING_NODE && !d->max) {
        REPORT(c, f, n, "'gpus' bounds need a max, e.g. { min: 256, max: 1024 }");
        rc = -1;
    }
    return rc;
}

/* Global batch sizes: the same forms; bounds double from min. A minimum
 * global batch is {min: M, max: ...}. */
static int dim_global_batch_size(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_search_dim *d = &((cs_search_config *)obj)->global_batch_size;
    int rc = dim(c, f, n, "global_batch_size", d);
    if (rc == 0 && n->type == YAML_MAPPING_NODE && !d->max) {
        REPORT(c, f, n, "'global_batch_size' bounds need a max, e.g. { min: 1024, max: 4096 }");
        rc = -1;
    }
    return rc;
}

/* A dimension's values: listed, doubling from `from` within its bounds, or
 * `otherwise` alone. */
static int doubling(const cs_search_dim *d, long from, long otherwise, long *out)
{
    if (d->count > 0) {
        memcpy(out, d->v, (size_t)d->count * sizeof *out);
        return d->count;
    }
    if (!d->max) {
        out[0] = otherwise;
        return 1;
    }
    int n = 0;
    for (long g = from; g <= d->max && n < CS_SEARCH_MAX_VALUES; g *= 2) {
        out[n++] = g;
        if (g > d->max / 2)
            break; /* the next would pass max (or overflow) */
    }
    return n;
}

int cs_search_gpu_counts(const cs_search_config *k, long world, long gpus_per_node, long *out)
{
    return doubling(&k->gpus, k->gpus.min > 1 ? k->gpus.min : gpus_per_node, world, out);
}

int cs_search_batch_sizes(const cs_search_config *k, long training, long *out)
{
    return doubling(&k->global_batch_size, k->global_batch_size.min, training, out);
}

int cs_search_per_token(const cs_search_config *k)
{
    long v[CS_SEARCH_MAX_VALUES];
    return cs_search_batch_sizes(k, 1, v) > 1;
}

static int set_schedule(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return cs_parse_choices(c, f, n, 1, "schedule", cs_schedule_choices,
                      &((cs_search_config *)obj)->schedules);
}

static int set_recompute(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return cs_parse_choices(c, f, n, 1, "recompute", cs_recompute_choices,
                      &((cs_search_config *)obj)->recomputes);
}

static int set_precision(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_search_config *k = obj;
    k->loc_precision = cs_yfile_loc(f, n);
    return cs_parse_choices(c, f, n, 1, "precision", cs_precision_choices, &k->precisions);
}

static int set_sp(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return cs_parse_choices(c, f, n, 1, "sequence_parallel", NULL,
                      &((cs_search_config *)obj)->sequence_parallel);
}

static int set_dopt(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return cs_parse_choices(c, f, n, 1, "distributed_optimizer", NULL,
                      &((cs_search_config *)obj)->distributed_optimizer);
}

static int set_fsdp(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return cs_parse_choices(c, f, n, 1, "use_megatron_fsdp", NULL,
                      &((cs_search_config *)obj)->use_megatron_fsdp);
}

static int set_cp_comm(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    unsigned *bits = &((cs_search_config *)obj)->cp_comm_types;
    if (cs_parse_choices(c, f, n, 1, "cp_comm_type", cs_cp_comm_choices, bits) != 0)
        return -1;
    unsigned alias = 1u << (CS_CP_A2A_P2P + 1); /* "allgather" */
    if (*bits & alias)
        *bits = (*bits & ~alias) | 1u << CS_CP_ALLGATHER;
    if (*bits & 1u << CS_CP_A2A_P2P) {
        REPORT(c, f, n, "'cp_comm_type': a2a+p2p is not modelled yet (every candidate with "
                        "cp would be refused); search p2p, a2a and all_gather");
        return -1;
    }
    return 0;
}

static const char *const objective_choices[] = {
    "time", "throughput", "time_to_train", "cost", "throughput_per_gpu", NULL};

static const cs_field search_fields[] = {
    CUSTOM("tp", dim_tp),
    CUSTOM("pp", dim_pp),
    CUSTOM("ep", dim_ep),
    CUSTOM("etp", dim_etp),
    CUSTOM("cp", dim_cp),
    CUSTOM("vpp", dim_vpp),
    CUSTOM("micro_batch_size", dim_micro_batch_size),
    CUSTOM("gpus", dim_gpus),
    CUSTOM("global_batch_size", dim_global_batch_size),
    CUSTOM("schedule", set_schedule),
    CUSTOM("recompute", set_recompute),
    CUSTOM("precision", set_precision),
    CUSTOM("sequence_parallel", set_sp),
    CUSTOM("distributed_optimizer", set_dopt),
    CUSTOM("use_megatron_fsdp", set_fsdp),
    CUSTOM("cp_comm_type", set_cp_comm),
    BOOL(cs_search_config, tp_within_node),
    QTY(cs_search_config, max_memory, CS_UNIT_RATIO, POSITIVE | AT_MOST_1),
    {"objective", F_ENUM, offsetof(cs_search_config, objective), 0, 0, 0, objective_choices,
     NULL, NULL, offsetof(cs_search_config, loc_objective)},
    INT(cs_search_config, top, 1, 0),
    INTL(cs_search_config, repeats, 1, 0, loc_repeats),
};
const cs_schema cs_search_schema = {"search", search_fields, COUNT(search_fields)};

const char *cs_search_objective_name(cs_search_objective o) { return objective_choices[o]; }

void cs_search_defaults(cs_search_config *k)
{
    memset(k, 0, sizeof *k);
    k->tp_within_node = 1;
    k->max_memory = 1;
    k->repeats = 1;
}

int cs_search_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_search_config *k = &((cs_scenario *)obj)->search;
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'search' must be a mapping, got %s", cs_ynode_describe(n));
        return -1;
    }
    cs_search_defaults(k);
    k->present = 1;
    k->loc = cs_yfile_loc(f, n);
    return cs_schema_apply(c, f, n, &cs_search_schema, k);
}

/* What search: asks of the rest of the scenario: the objective's inputs,
 * and GPU counts that are whole nodes of a cluster that can join them. */
int cs_search_consistent(cs_ctx *c, const cs_scenario *s)
{
    const cs_search_config *k = &s->search;
    int rc = 0;
    if (!k->present)
        return 0;
    if (k->objective == CS_OBJECTIVE_COST && !s->cost.present)
        rc = cs_ctx_error(c, k->loc_objective,
                          "objective: cost needs a cost: block (gpu_hour, or purchase with "
                          "lifetime), or a cluster with a price:");
    if (k->objective == CS_OBJECTIVE_TIME_TO_TRAIN && !(s->training.tokens > 0))
        rc = cs_ctx_error(c, k->loc_objective,
                          "objective: time_to_train needs training.tokens (the tokens to train "
                          "on)");
    if ((k->precisions & (1u << CS_FP8)) && !s->cluster.gpu.fp8)
        rc = cs_ctx_error(c, k->loc_precision,
                          "precision: fp8 needs FP8 tensor cores, and GPU '%s' has none "
                          "(cluster.gpu.fp8 is false)",
                          s->cluster.gpu.name);
    if ((k->precisions & (1u << CS_FP8)) && s->training.fp8_recipe == CS_FP8_MXFP8 &&
        !s->cluster.gpu.mxfp8)
        rc = cs_ctx_error(c, k->loc_precision,
                          "precision: fp8 with fp8_recipe mxfp8 needs MXFP8 tensor cores "
                          "(Blackwell), and GPU '%s' has none",
                          s->cluster.gpu.name);
    if (k->repeats > CS_SEARCH_MAX_REPEATS)
        rc = cs_ctx_error(c, k->loc_repeats, "repeats: at most %d, got %ld",
                          CS_SEARCH_MAX_REPEATS, k->repeats);
    else if (k->repeats > 1 && !cs_scenario_draws(s))
        rc = cs_ctx_error(c, k->loc_repeats,
                          "repeats: %ld replays would all be the same: nothing in the scenario is "
                          "drawn at random (uncertainty:, or MoE routing not balanced)",
                          k->repeats);
    long gpn = s->cluster.gpus_per_node, counts[CS_SEARCH_MAX_VALUES];
    int n = cs_search_gpu_counts(k, s->cluster.nodes * gpn, gpn, counts);
    if (k->gpus.count == 0 && k->gpus.max && n == 0)
        rc = cs_ctx_error(c, k->gpus.loc, "gpus: no whole number of nodes of %ld GPUs from %ld "
                                          "to %ld",
                          gpn, k->gpus.min > 1 ? k->gpus.min : gpn, k->gpus.max);
    for (int i = 0; i < n && (k->gpus.count > 0 || k->gpus.max); i++) {
        long g = counts[i];
        cs_loc at = k->gpus.count > 0 ? k->gpus.at[i] : k->gpus.loc;
        if (g % gpn != 0)
            rc = cs_ctx_error(c, at, "gpus: %ld is not a whole number of nodes of %ld GPUs", g,
                              gpn);
        else if (g > gpn && !(s->cluster.scale_out.nic_bandwidth > 0))
            rc = cs_ctx_error(c, at,
                              "gpus: %ld spans nodes, and the cluster has no network between "
                              "nodes (cluster.scale_out)",
                              g);
        if (rc != 0 && k->gpus.count == 0)
            break; /* bounds: one message */
    }
    return rc;
}
