#include "input/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "input/hfconfig.h"
#include "base/strutil.h"

#define UNSET_INT LONG_MIN
#define MAX_BASE_DEPTH 16

/* ------------------------------------------------------------------------ */
/* Loading context                                                           */

typedef enum { KIND_MODEL, KIND_CLUSTER } doc_kind;

static const char *kind_word[] = {"model", "cluster"};
static const char *kind_dir[] = {"models", "topologies"};

typedef struct ctx {
    const cs_paths *paths;
    cs_sources *sources;
    cs_diags *diags;
    char *chain[MAX_BASE_DEPTH]; /* canonical paths of files being loaded */
    int depth;
    const cs_override *overrides; /* sweep point values, applied before completion */
    int override_count;
    cs_yfile *scenario_file;      /* where override value nodes live */
} ctx;

/* One field of a mapping schema. */
typedef enum { F_INT, F_BOOL, F_ENUM, F_QTY, F_NAME, F_SUB, F_TABLE, F_CUSTOM, F_IGNORE } ftype;

enum {
    REQUIRED = 1, /* must be set once all bases are applied */
    POSITIVE = 2, /* quantities: > 0 */
    NULLABLE = 4, /* null means 0 (capacity_factor: null = dropless) */
    AT_MOST_1 = 8 /* ratios */
};

struct schema;
typedef int (*custom_fn)(ctx *c, cs_yfile *f, yaml_node_t *node, void *obj);

typedef struct field {
    const char *key;
    ftype type;
    size_t off;
    unsigned flags;
    long min;                   /* F_INT */
    cs_unit_kind unit;          /* F_QTY */
    const char *const *choices; /* F_ENUM, NULL-terminated */
    const struct schema *sub;   /* F_SUB */
    custom_fn custom;           /* F_CUSTOM */
    size_t loc_off;             /* where to record the value's position, or 0 */
} field;

typedef struct schema {
    const char *what; /* "model", "gpu", ... for messages */
    const field *fields;
    size_t count;
} schema;

#define NO_LOC 0

static int add_source(ctx *c, cs_yfile *f)
{
    cs_sources *s = c->sources;
    if (s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4;
        cs_yfile **files = realloc(s->files, cap * sizeof *files);
        if (!files)
            return -1;
        s->files = files;
        s->cap = cap;
    }
    s->files[s->count++] = f;
    return 0;
}

void cs_sources_free(cs_sources *src)
{
    for (size_t i = 0; i < src->count; i++) {
        cs_yfile_free(src->files[i]);
        free(src->files[i]);
    }
    free(src->files);
    memset(src, 0, sizeof *src);
}

/* Loads a file and keeps it in the sources. Returns NULL on failure (reported). */
static cs_yfile *open_file(ctx *c, const char *path)
{
    cs_yfile *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    int rc = cs_yfile_load(f, path, c->diags);
    if (add_source(c, f) != 0) {
        cs_yfile_free(f);
        free(f);
        return NULL;
    }
    return rc == 0 ? f : NULL;
}

#define REPORT(c, f, node, ...) cs_yfile_report((f), (c)->diags, CS_ERROR, (node), __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Scalars                                                                   */

static int is_quoted(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
}

static int parse_int(ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, long min,
                     long *out)
{
    const char *t = cs_ynode_text(n);
    if (!t || is_quoted(n) || cs_ynode_is_null(n)) {
        REPORT(c, f, n, "'%s' must be an integer, got %s", key,
               t && !cs_ynode_is_null(n) ? "a string" : cs_ynode_describe(n));
        return -1;
    }
    char *end;
    errno = 0;
    long v = strtol(t, &end, 10);
    if (end == t || *end || errno == ERANGE) {
        REPORT(c, f, n, "'%s' must be an integer, got '%s'", key, t);
        return -1;
    }
    if (v < min) {
        REPORT(c, f, n, "'%s' must be at least %ld, got %ld", key, min, v);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_bool(ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, int *out)
{
    static const char *yes[] = {"true", "True", "TRUE", "yes", "on", NULL};
    static const char *no[] = {"false", "False", "FALSE", "no", "off", NULL};
    const char *t = cs_ynode_text(n);
    if (t && !is_quoted(n)) {
        for (int i = 0; yes[i]; i++)
            if (!strcmp(t, yes[i]))
                return *out = 1, 0;
        for (int i = 0; no[i]; i++)
            if (!strcmp(t, no[i]))
                return *out = 0, 0;
    }
    REPORT(c, f, n, "'%s' must be true or false, got %s%s%s", key, t ? "'" : "",
           t ? t : cs_ynode_describe(n), t ? "'" : "");
    return -1;
}

static void join_choices(const char *const *choices, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; choices[i]; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", i ? ", " : "", choices[i]);
    }
}

static int parse_enum(ctx *c, cs_yfile *f, yaml_node_t *n, const char *key,
                      const char *const *choices, int *out)
{
    const char *t = cs_ynode_text(n);
    char list[256];
    join_choices(choices, list, sizeof list);
    if (!t) {
        REPORT(c, f, n, "'%s' must be one of %s, got %s", key, list, cs_ynode_describe(n));
        return -1;
    }
    for (int i = 0; choices[i]; i++)
        if (!strcmp(t, choices[i]))
            return *out = i, 0;
    const char *hint = cs_did_you_mean(t, choices);
    if (hint)
        REPORT(c, f, n, "unknown %s '%s'; did you mean '%s'? (one of %s)", key, t, hint, list);
    else
        REPORT(c, f, n, "unknown %s '%s'; expected one of %s", key, t, list);
    return -1;
}

static int parse_qty(ctx *c, cs_yfile *f, yaml_node_t *n, const char *key,
                     cs_unit_kind unit, unsigned flags, cs_quantity *q)
{
    const char *t = cs_ynode_text(n);
    if (!t || cs_ynode_is_null(n)) {
        REPORT(c, f, n, "'%s' must be a %s such as %s, got %s", key, cs_units_kind_name(unit),
               cs_units_example(unit), cs_ynode_describe(n));
        return -1;
    }
    char err[256];
    if (cs_units_parse(t, unit, q, err, sizeof err) != 0) {
        REPORT(c, f, n, "'%s': %s", key, err);
        return -1;
    }
    if ((flags & POSITIVE) && !(q->value > 0)) {
        REPORT(c, f, n, "'%s' must be positive, got '%s'", key, t);
        return -1;
    }
    if (unit == CS_UNIT_RATIO && (!(q->value >= 0) || ((flags & AT_MOST_1) && q->value > 1))) {
        REPORT(c, f, n, "'%s' must be a ratio between 0 and 1, got '%s'", key, t);
        return -1;
    }
    return 0;
}

static int parse_name(ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, char *out)
{
    const char *t = cs_ynode_text(n);
    if (!t || !*t) {
        REPORT(c, f, n, "'%s' must be a non-empty string, got %s", key, cs_ynode_describe(n));
        return -1;
    }
    if (strlen(t) >= CS_NAME_MAX) {
        REPORT(c, f, n, "'%s' is longer than %d characters", key, CS_NAME_MAX - 1);
        return -1;
    }
    strcpy(out, t);
    return 0;
}

/* A ratio, or a list of [size, ratio] rows with increasing sizes. */
static int parse_table(ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, cs_table *out)
{
    cs_quantity q;
    if (n->type == YAML_SCALAR_NODE) {
        if (parse_qty(c, f, n, key, CS_UNIT_RATIO, POSITIVE | AT_MOST_1, &q) != 0)
            return -1;
        out->n = 1;
        out->x[0] = 0;
        out->y[0] = q.value;
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        REPORT(c, f, n, "'%s' must be a ratio or a list of [size, ratio] rows", key);
        return -1;
    }
    int rows = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (rows < 1 || rows > CS_TABLE_MAX) {
        REPORT(c, f, n, "'%s' must have between 1 and %d rows", key, CS_TABLE_MAX);
        return -1;
    }
    cs_table t = {0};
    int rc = 0;
    for (int i = 0; i < rows; i++) {
        yaml_node_t *row = cs_yfile_node(f, n->data.sequence.items.start[i]);
        if (row->type != YAML_SEQUENCE_NODE ||
            row->data.sequence.items.top - row->data.sequence.items.start != 2) {
            REPORT(c, f, row, "each row of '%s' must be [size, ratio]", key);
            rc = -1;
            continue;
        }
        yaml_node_t *xs = cs_yfile_node(f, row->data.sequence.items.start[0]);
        yaml_node_t *ys = cs_yfile_node(f, row->data.sequence.items.start[1]);
        const char *xt = cs_ynode_text(xs);
        char *end = NULL;
        double x = xt ? strtod(xt, &end) : NAN;
        if (!xt || end == xt || *end) {
            /* Not a plain number: a size with a unit. */
            if (parse_qty(c, f, xs, key, CS_UNIT_SIZE, POSITIVE, &q) != 0) {
                rc = -1;
                continue;
            }
            x = q.value;
        }
        if (!(x > 0) || (i > 0 && !(x > t.x[i - 1]))) {
            REPORT(c, f, xs, "sizes in '%s' must be positive and increasing", key);
            rc = -1;
            continue;
        }
        if (parse_qty(c, f, ys, key, CS_UNIT_RATIO, POSITIVE | AT_MOST_1, &q) != 0) {
            rc = -1;
            continue;
        }
        t.x[i] = x;
        t.y[i] = q.value;
    }
    if (rc == 0) {
        t.n = rows;
        *out = t;
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Mappings against a schema                                                 */

static const field *find_field(const schema *s, const char *key)
{
    for (size_t i = 0; i < s->count; i++)
        if (!strcmp(s->fields[i].key, key))
            return &s->fields[i];
    return NULL;
}

static void unknown_key(ctx *c, cs_yfile *f, yaml_node_t *kn, const schema *s, const char *key)
{
    const char *names[64];
    size_t n = 0;
    for (size_t i = 0; i < s->count && n + 1 < 64; i++)
        names[n++] = s->fields[i].key;
    names[n] = NULL;
    const char *hint = cs_did_you_mean(key, names);
    if (hint)
        REPORT(c, f, kn, "unknown key '%s' in %s; did you mean '%s'?", key, s->what, hint);
    else
        REPORT(c, f, kn, "unknown key '%s' in %s", key, s->what);
}

static int apply_mapping(ctx *c, cs_yfile *f, yaml_node_t *map, const schema *s, void *obj);

static int apply_field(ctx *c, cs_yfile *f, const field *fd, yaml_node_t *v, void *obj)
{
    char *base = obj;
    cs_quantity q;
    int rc = 0;
    if (fd->loc_off)
        *(cs_loc *)(base + fd->loc_off) = cs_yfile_loc(f, v);
    switch (fd->type) {
    case F_INT: {
        if ((fd->flags & NULLABLE) && cs_ynode_is_null(v)) {
            *(long *)(base + fd->off) = 0;
            return 0;
        }
        return parse_int(c, f, v, fd->key, fd->min, (long *)(base + fd->off));
    }
    case F_BOOL:
        return parse_bool(c, f, v, fd->key, (int *)(base + fd->off));
    case F_ENUM: {
        int e;
        rc = parse_enum(c, f, v, fd->key, fd->choices, &e);
        if (rc == 0)
            *(int *)(base + fd->off) = e;
        return rc;
    }
    case F_QTY:
        if ((fd->flags & NULLABLE) && cs_ynode_is_null(v)) {
            *(double *)(base + fd->off) = 0;
            return 0;
        }
        rc = parse_qty(c, f, v, fd->key, fd->unit, fd->flags, &q);
        if (rc == 0)
            *(double *)(base + fd->off) = q.value;
        return rc;
    case F_NAME:
        return parse_name(c, f, v, fd->key, base + fd->off);
    case F_SUB:
        return apply_mapping(c, f, v, fd->sub, base + fd->off);
    case F_TABLE:
        return parse_table(c, f, v, fd->key, (cs_table *)(base + fd->off));
    case F_CUSTOM:
        return fd->custom(c, f, v, obj);
    case F_IGNORE:
        return 0;
    }
    return 0;
}

/* Applies every key of `map` to obj, on top of what obj already holds (its
 * defaults, or a base). Reports every problem; returns -1 if there was one. */
static int apply_mapping(ctx *c, cs_yfile *f, yaml_node_t *map, const schema *s, void *obj)
{
    if (map->type != YAML_MAPPING_NODE) {
        REPORT(c, f, map, "%s must be a mapping of keys, got %s", s->what,
               cs_ynode_describe(map));
        return -1;
    }
    int rc = 0;
    unsigned long long seen = 0; /* one bit per schema field */
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = cs_yfile_node(f, p->key);
        yaml_node_t *vn = cs_yfile_node(f, p->value);
        const char *key = cs_ynode_text(kn);
        if (!key) {
            REPORT(c, f, kn, "keys in %s must be plain names", s->what);
            rc = -1;
            continue;
        }
        const field *fd = find_field(s, key);
        if (!fd) {
            unknown_key(c, f, kn, s, key);
            rc = -1;
            continue;
        }
        unsigned long long bit = 1ull << (fd - s->fields);
        if (seen & bit) {
            REPORT(c, f, kn, "key '%s' appears twice in %s", key, s->what);
            rc = -1;
            continue;
        }
        seen |= bit;
        if (apply_field(c, f, fd, vn, obj) != 0)
            rc = -1;
    }
    return rc;
}

/* Reports required fields still unset after all layers were applied. */
static int check_required(ctx *c, const schema *s, const void *obj, cs_loc where,
                          const cs_yfile *f)
{
    const char *base = obj;
    int rc = 0;
    for (size_t i = 0; i < s->count; i++) {
        const field *fd = &s->fields[i];
        int missing = 0;
        if (fd->type == F_SUB) {
            if (check_required(c, fd->sub, base + fd->off, where, f) != 0)
                rc = -1;
            continue;
        }
        if (!(fd->flags & REQUIRED))
            continue;
        if (fd->type == F_INT)
            missing = *(const long *)(base + fd->off) == UNSET_INT;
        else if (fd->type == F_QTY)
            missing = isnan(*(const double *)(base + fd->off));
        if (missing) {
            rc = -1;
            cs_diags_add(c->diags, CS_ERROR, where, f ? f->text : NULL, f ? f->len : 0,
                         "missing required key '%s' in %s", fd->key, s->what);
        }
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Schemas                                                                   */

static const char *const norm_choices[] = {"layernorm", "rmsnorm", NULL};
static const char *const pos_choices[] = {"rope", "learned_absolute", NULL};
static const char *const scale_up_choices[] = {"switch", "mesh", NULL};
static const char *const topo_choices[] = {"fat_tree", "rail_optimized", NULL};
static const char *const precision_choices[] = {"bf16", "fp16", "fp8", NULL};
static const char *const schedule_choices[] = {"gpipe", "1f1b", "interleaved", "zb-h1", NULL};
static const char *const recompute_choices[] = {"none", "selective", "full", NULL};
static const char *const optimizer_choices[] = {"adam", "none", NULL};
static const char *const routing_choices[] = {"balanced", "random", "skewed", NULL};
static const char *const network_choices[] = {"ideal", "analytic", "flow", NULL};
static const char *const dim_names[] = {"tp", "ep", "dp", "pp", NULL};

#define COUNT(a) (sizeof(a) / sizeof *(a))
#define INT(T, k, m, fl) {#k, F_INT, offsetof(T, k), fl, m, 0, NULL, NULL, NULL, NO_LOC}
#define INTL(T, k, m, fl, l) {#k, F_INT, offsetof(T, k), fl, m, 0, NULL, NULL, NULL, offsetof(T, l)}
#define BOOL(T, k) {#k, F_BOOL, offsetof(T, k), 0, 0, 0, NULL, NULL, NULL, NO_LOC}
#define ENUM(T, k, ch) {#k, F_ENUM, offsetof(T, k), 0, 0, 0, ch, NULL, NULL, NO_LOC}
#define QTY(T, k, u, fl) {#k, F_QTY, offsetof(T, k), fl, 0, u, NULL, NULL, NULL, NO_LOC}
#define NAME(T, k) {#k, F_NAME, offsetof(T, k), 0, 0, 0, NULL, NULL, NULL, NO_LOC}
#define TABLE(T, k) {#k, F_TABLE, offsetof(T, k), 0, 0, 0, NULL, NULL, NULL, NO_LOC}
#define SUB(T, k, s) {#k, F_SUB, offsetof(T, k), 0, 0, 0, NULL, &s, NULL, NO_LOC}
#define CUSTOM(k, fn) {k, F_CUSTOM, 0, 0, 0, 0, NULL, NULL, fn, NO_LOC}
#define IGNORE(k) {k, F_IGNORE, 0, 0, 0, 0, NULL, NULL, NULL, NO_LOC}

static int layer_freq_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);

static const field moe_fields[] = {
    INT(cs_moe_config, num_experts, 0, 0),
    INT(cs_moe_config, router_topk, 1, 0),
    INT(cs_moe_config, ffn_hidden_size, 1, 0),
    CUSTOM("layer_freq", layer_freq_custom),
    INT(cs_moe_config, shared_expert_ffn_hidden_size, 0, 0),
    QTY(cs_moe_config, capacity_factor, CS_UNIT_RATIO, NULLABLE | POSITIVE),
};
static const schema moe_schema = {"moe", moe_fields, COUNT(moe_fields)};

static const field mla_fields[] = {
    INT(cs_mla_config, q_lora_rank, 0, 0),
    INT(cs_mla_config, kv_lora_rank, 1, 0),
    INT(cs_mla_config, qk_head_dim, 1, 0),
    INT(cs_mla_config, qk_pos_emb_head_dim, 0, 0),
    INT(cs_mla_config, v_head_dim, 1, 0),
};
static const schema mla_schema = {"mla", mla_fields, COUNT(mla_fields)};

static int mla_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);

static const field model_fields[] = {
    NAME(cs_model, name),
    IGNORE("base"),
    INT(cs_model, num_layers, 1, REQUIRED),
    INT(cs_model, hidden_size, 1, REQUIRED),
    INT(cs_model, num_attention_heads, 1, REQUIRED),
    INT(cs_model, num_query_groups, 1, 0),
    INT(cs_model, kv_channels, 1, 0),
    INT(cs_model, ffn_hidden_size, 1, 0),
    BOOL(cs_model, swiglu),
    ENUM(cs_model, normalization, norm_choices),
    INT(cs_model, vocab_size, 0, REQUIRED),
    BOOL(cs_model, untie_embeddings_and_output_weights),
    ENUM(cs_model, position_embedding_type, pos_choices),
    INT(cs_model, max_position_embeddings, 1, 0),
    SUB(cs_model, moe, moe_schema),
    CUSTOM("mla", mla_custom),
};
static const schema model_schema = {"model", model_fields, COUNT(model_fields)};

static const field gpu_fields[] = {
    NAME(cs_gpu_config, name),
    QTY(cs_gpu_config, peak_compute, CS_UNIT_COMPUTE, REQUIRED | POSITIVE),
    QTY(cs_gpu_config, memory, CS_UNIT_SIZE, REQUIRED | POSITIVE),
    QTY(cs_gpu_config, memory_bandwidth, CS_UNIT_BANDWIDTH, REQUIRED | POSITIVE),
    TABLE(cs_gpu_config, matmul_efficiency),
    TABLE(cs_gpu_config, memory_efficiency),
    QTY(cs_gpu_config, kernel_launch, CS_UNIT_TIME, 0),
    QTY(cs_gpu_config, reserved_memory, CS_UNIT_SIZE, 0),
};
static const schema gpu_schema = {"gpu", gpu_fields, COUNT(gpu_fields)};

static const field scale_up_fields[] = {
    ENUM(cs_scale_up_config, kind, scale_up_choices),
    QTY(cs_scale_up_config, bandwidth, CS_UNIT_BANDWIDTH, REQUIRED | POSITIVE),
    QTY(cs_scale_up_config, latency, CS_UNIT_TIME, 0),
    QTY(cs_scale_up_config, efficiency, CS_UNIT_RATIO, POSITIVE | AT_MOST_1),
};
static const schema scale_up_schema = {"scale_up", scale_up_fields, COUNT(scale_up_fields)};

static const field scale_out_fields[] = {
    INT(cs_scale_out_config, nics_per_node, 1, 0),
    QTY(cs_scale_out_config, nic_bandwidth, CS_UNIT_BANDWIDTH, REQUIRED | POSITIVE),
    QTY(cs_scale_out_config, latency, CS_UNIT_TIME, 0),
    QTY(cs_scale_out_config, efficiency, CS_UNIT_RATIO, POSITIVE | AT_MOST_1),
    ENUM(cs_scale_out_config, topology, topo_choices),
    QTY(cs_scale_out_config, oversubscription, CS_UNIT_RATIO, POSITIVE),
    INT(cs_scale_out_config, leaf_radix, 2, 0),
};
static const schema scale_out_schema = {"scale_out", scale_out_fields, COUNT(scale_out_fields)};

static const field cluster_fields[] = {
    NAME(cs_cluster, name),
    IGNORE("base"),
    SUB(cs_cluster, gpu, gpu_schema),
    INTL(cs_cluster, nodes, 1, REQUIRED, loc_nodes),
    INT(cs_cluster, gpus_per_node, 1, REQUIRED),
    SUB(cs_cluster, scale_up, scale_up_schema),
    SUB(cs_cluster, scale_out, scale_out_schema),
};
static const schema cluster_schema = {"cluster", cluster_fields, COUNT(cluster_fields)};

static int routing_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);

static const field training_fields[] = {
    INT(cs_training, seq_length, 1, REQUIRED),
    INT(cs_training, global_batch_size, 1, REQUIRED),
    INT(cs_training, micro_batch_size, 1, 0),
    ENUM(cs_training, precision, precision_choices),
    ENUM(cs_training, schedule, schedule_choices),
    INT(cs_training, virtual_pipeline_stages, 1, 0),
    ENUM(cs_training, recompute, recompute_choices),
    BOOL(cs_training, sequence_parallel),
    BOOL(cs_training, distributed_optimizer),
    BOOL(cs_training, overlap_grad_reduce),
    BOOL(cs_training, use_flash_attn),
    ENUM(cs_training, optimizer, optimizer_choices),
    CUSTOM("moe_routing", routing_custom),
    QTY(cs_training, tokens, CS_UNIT_COUNT, POSITIVE),
};
static const schema training_schema = {"training", training_fields, COUNT(training_fields)};

static int order_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
static int layout_schedule_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
static int layout_recompute_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);

static const field layout_fields[] = {
    NAME(cs_layout, name),
    INTL(cs_layout, tp, 1, REQUIRED, loc_tp),
    INTL(cs_layout, pp, 1, REQUIRED, loc_pp),
    INTL(cs_layout, ep, 1, 0, loc_ep),
    INTL(cs_layout, dp, 1, 0, loc_dp),
    INTL(cs_layout, etp, 1, 0, loc_etp),
    INTL(cs_layout, vpp, 1, 0, loc_vpp),
    INT(cs_layout, micro_batch_size, 1, 0),
    CUSTOM("schedule", layout_schedule_custom),
    CUSTOM("recompute", layout_recompute_custom),
    CUSTOM("order", order_custom),
};
static const schema layout_schema = {"layout", layout_fields, COUNT(layout_fields)};

static const field targets_fields[] = {
    QTY(cs_targets, iteration_time, CS_UNIT_TIME, POSITIVE),
    QTY(cs_targets, throughput, CS_UNIT_THROUGHPUT, POSITIVE),
    QTY(cs_targets, memory_per_gpu, CS_UNIT_SIZE, POSITIVE),
};
static const schema targets_schema = {"targets", targets_fields, COUNT(targets_fields)};

static int model_ref_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
static int cluster_ref_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
static int layouts_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
static int targets_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
static int training_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
static int sweep_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
static int uncertainty_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
static int cost_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);

static const field scenario_fields[] = {
    NAME(cs_scenario, name),
    CUSTOM("model", model_ref_custom),
    CUSTOM("cluster", cluster_ref_custom),
    CUSTOM("training", training_custom),
    ENUM(cs_scenario, network_model, network_choices),
    INT(cs_scenario, seed, 0, 0),
    CUSTOM("targets", targets_custom),
    CUSTOM("layouts", layouts_custom),
    CUSTOM("sweep", sweep_custom),
    CUSTOM("uncertainty", uncertainty_custom),
    CUSTOM("cost", cost_custom),
};
static const schema scenario_schema = {"scenario", scenario_fields, COUNT(scenario_fields)};

/* ------------------------------------------------------------------------ */
/* Defaults and derived values                                               */

static void model_defaults(cs_model *m)
{
    memset(m, 0, sizeof *m);
    m->num_layers = m->hidden_size = m->num_attention_heads = UNSET_INT;
    m->vocab_size = UNSET_INT;
    m->num_query_groups = m->kv_channels = m->ffn_hidden_size = UNSET_INT;
    m->max_position_embeddings = UNSET_INT;
    m->position_embedding_type = CS_POS_ROPE;
    m->moe.router_topk = 2;
    m->moe.ffn_hidden_size = UNSET_INT;
    m->moe.layer_freq = 1;
}

static void cluster_defaults(cs_cluster *k)
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

static void training_defaults(cs_training *t)
{
    memset(t, 0, sizeof *t);
    t->seq_length = t->global_batch_size = UNSET_INT;
    t->micro_batch_size = 1;
    t->schedule = CS_1F1B;
    t->virtual_pipeline_stages = 1;
    t->optimizer = CS_OPTIMIZER_ADAM;
    t->moe_routing.skew = 1.0;
}

static void layout_defaults(cs_layout *l)
{
    memset(l, 0, sizeof *l);
    l->tp = l->pp = UNSET_INT;
    l->ep = 1;
    l->dp = l->etp = l->vpp = l->micro_batch_size = l->schedule = l->recompute = -1;
    for (int i = 0; i < CS_DIM_COUNT; i++)
        l->order[i] = (cs_dim)i;
}

/* Fills what follows from other keys, then checks the model's own coherence. */
static int model_finish(ctx *c, cs_model *m, const cs_yfile *f)
{
    int rc = 0;
    cs_diags *d = c->diags;
    const char *txt = f ? f->text : NULL;
    size_t len = f ? f->len : 0;
    if (m->num_query_groups == UNSET_INT)
        m->num_query_groups = m->num_attention_heads;
    if (m->kv_channels == UNSET_INT && m->num_attention_heads > 0) {
        if (m->hidden_size % m->num_attention_heads) {
            cs_diags_add(d, CS_ERROR, m->loc, txt, len,
                         "hidden_size %ld is not divisible by num_attention_heads %ld; "
                         "give kv_channels",
                         m->hidden_size, m->num_attention_heads);
            rc = -1;
        }
        m->kv_channels = m->hidden_size / m->num_attention_heads;
    }
    if (m->ffn_hidden_size == UNSET_INT)
        m->ffn_hidden_size = 4 * m->hidden_size;
    if (m->moe.ffn_hidden_size == UNSET_INT)
        m->moe.ffn_hidden_size = m->ffn_hidden_size;
    if (m->max_position_embeddings == UNSET_INT)
        m->max_position_embeddings = 0;
    if (m->num_attention_heads % m->num_query_groups) {
        cs_diags_add(d, CS_ERROR, m->loc, txt, len,
                     "num_attention_heads %ld is not divisible by num_query_groups %ld",
                     m->num_attention_heads, m->num_query_groups);
        rc = -1;
    }
    if (m->num_layers > CS_MAX_LAYERS) {
        cs_diags_add(d, CS_ERROR, m->loc, txt, len, "num_layers %ld is over the limit of %d",
                     m->num_layers, CS_MAX_LAYERS);
        rc = -1;
    }
    if (m->moe.num_experts > 0) {
        if (m->moe.router_topk > m->moe.num_experts) {
            cs_diags_add(d, CS_ERROR, m->loc, txt, len,
                         "moe.router_topk %ld is larger than moe.num_experts %ld",
                         m->moe.router_topk, m->moe.num_experts);
            rc = -1;
        }
        if (m->moe.pattern_len && m->moe.pattern_len != m->num_layers) {
            cs_diags_add(d, CS_ERROR, m->loc, txt, len,
                         "moe.layer_freq lists %ld layers; the model has %ld",
                         m->moe.pattern_len, m->num_layers);
            rc = -1;
        }
    }
    if (m->position_embedding_type == CS_POS_LEARNED_ABSOLUTE && !m->max_position_embeddings) {
        cs_diags_add(d, CS_ERROR, m->loc, txt, len,
                     "learned_absolute position embeddings need max_position_embeddings");
        rc = -1;
    }
    return rc;
}

static int cluster_finish(ctx *c, cs_cluster *k, const cs_yfile *f)
{
    if (k->scale_out.nics_per_node == UNSET_INT)
        k->scale_out.nics_per_node = k->gpus_per_node;
    if (k->gpus_per_node > 0 && k->scale_out.nics_per_node > 0 &&
        k->gpus_per_node % k->scale_out.nics_per_node) {
        cs_diags_add(c->diags, CS_ERROR, k->loc, f ? f->text : NULL, f ? f->len : 0,
                     "gpus_per_node %ld is not a multiple of nics_per_node %ld",
                     k->gpus_per_node, k->scale_out.nics_per_node);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Custom fields                                                             */

static int layer_freq_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_moe_config *moe = obj;
    if (n->type != YAML_SEQUENCE_NODE) {
        moe->pattern_len = 0;
        return parse_int(c, f, n, "layer_freq", 1, &moe->layer_freq);
    }
    long count = (long)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count < 1 || count > CS_MAX_LAYERS) {
        REPORT(c, f, n, "'layer_freq' lists %ld layers; expected 1 to %d", count, CS_MAX_LAYERS);
        return -1;
    }
    int rc = 0;
    for (long i = 0; i < count; i++) {
        long v = 0;
        yaml_node_t *item = cs_yfile_node(f, n->data.sequence.items.start[i]);
        if (parse_int(c, f, item, "layer_freq", 0, &v) != 0 || v > 1) {
            if (v > 1)
                REPORT(c, f, item, "'layer_freq' list entries must be 0 (dense) or 1 (MoE)");
            rc = -1;
            continue;
        }
        moe->layer_pattern[i] = (unsigned char)v;
    }
    moe->pattern_len = count;
    return rc;
}

static int mla_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_model *m = obj;
    if (cs_ynode_is_null(n)) {
        m->mla.enabled = 0;
        return 0;
    }
    m->mla.enabled = 1;
    int rc = apply_mapping(c, f, n, &mla_schema, &m->mla);
    if (!m->mla.kv_lora_rank || !m->mla.qk_head_dim || !m->mla.v_head_dim) {
        REPORT(c, f, n, "mla needs kv_lora_rank, qk_head_dim and v_head_dim");
        rc = -1;
    }
    return rc;
}

static int routing_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_training *t = obj;
    int mode;
    if (n->type == YAML_SCALAR_NODE) {
        if (parse_enum(c, f, n, "moe_routing", routing_choices, &mode) != 0)
            return -1;
        t->moe_routing.mode = (cs_routing_mode)mode;
        return 0;
    }
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'moe_routing' must be a mode or { mode: ..., skew: ... }");
        return -1;
    }
    int rc = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = cs_yfile_node(f, p->key), *vn = cs_yfile_node(f, p->value);
        const char *key = cs_ynode_text(kn);
        cs_quantity q;
        if (key && !strcmp(key, "mode")) {
            if (parse_enum(c, f, vn, "moe_routing mode", routing_choices, &mode) == 0)
                t->moe_routing.mode = (cs_routing_mode)mode;
            else
                rc = -1;
        } else if (key && !strcmp(key, "skew")) {
            if (parse_qty(c, f, vn, "skew", CS_UNIT_RATIO, POSITIVE, &q) == 0)
                t->moe_routing.skew = q.value;
            else
                rc = -1;
        } else {
            static const char *const keys[] = {"mode", "skew", NULL};
            const char *hint = key ? cs_did_you_mean(key, keys) : NULL;
            REPORT(c, f, kn, "unknown key '%s' in moe_routing%s%s%s", key ? key : "?",
                   hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
            rc = -1;
        }
    }
    return rc;
}

static int order_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_layout *l = obj;
    const char *t = cs_ynode_text(n);
    l->loc_order = cs_yfile_loc(f, n);
    int seen[CS_DIM_COUNT] = {0};
    cs_dim order[CS_DIM_COUNT];
    int count = 0;
    const char *p = t;
    while (p && *p && count < CS_DIM_COUNT) {
        size_t len = strcspn(p, "-");
        int found = -1;
        for (int i = 0; dim_names[i]; i++)
            if (strlen(dim_names[i]) == len && !strncmp(p, dim_names[i], len))
                found = i;
        if (found < 0 || seen[found])
            break;
        seen[found] = 1;
        order[count++] = (cs_dim)found;
        p += len;
        if (*p == '-')
            p++;
    }
    if (!t || count != CS_DIM_COUNT || (p && *p)) {
        REPORT(c, f, n, "'order' must name tp, ep, dp and pp once each, innermost first, "
                        "e.g. 'tp-ep-dp-pp'");
        return -1;
    }
    memcpy(l->order, order, sizeof order);
    return 0;
}

static int layout_schedule_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    int v;
    if (parse_enum(c, f, n, "schedule", schedule_choices, &v) != 0)
        return -1;
    ((cs_layout *)obj)->schedule = v;
    return 0;
}

static int layout_recompute_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    int v;
    if (parse_enum(c, f, n, "recompute", recompute_choices, &v) != 0)
        return -1;
    ((cs_layout *)obj)->recompute = v;
    return 0;
}

/* ---- overrides at key paths (sweep points) --------------------------------- */

static const field *path_field(const schema *s, const char *seg, size_t len)
{
    for (size_t i = 0; i < s->count; i++)
        if (strlen(s->fields[i].key) == len && !strncmp(s->fields[i].key, seg, len))
            return &s->fields[i];
    return NULL;
}

/* Resolves `path` within schema s: the field it names and, through *obj when
 * given, the struct holding it. Reports a positioned error at `where` when it
 * does not resolve. */
static const field *resolve_path(ctx *c, cs_yfile *f, yaml_node_t *where, const schema *s,
                                 void **obj, const char *path, const char *full)
{
    for (;;) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        const field *fd = path_field(s, path, len);
        if (!fd || fd->type == F_IGNORE) {
            REPORT(c, f, where, "'%s': no key '%.*s' in %s", full, (int)len, path, s->what);
            return NULL;
        }
        if (!dot)
            return fd;
        if (fd->type != F_SUB) {
            REPORT(c, f, where, "'%s': '%s' has no keys below it", full, fd->key);
            return NULL;
        }
        if (obj)
            *obj = (char *)*obj + fd->off;
        s = fd->sub;
        path = dot + 1;
    }
}

static int apply_one(ctx *c, const schema *s, void *obj, int i, const char *rest)
{
    cs_yfile *f = c->scenario_file;
    yaml_node_t *value = cs_yfile_node(f, c->overrides[i].node);
    void *at = obj;
    const field *fd = resolve_path(c, f, value, s, &at, rest, c->overrides[i].path);
    return fd && apply_field(c, f, fd, value, at) == 0 ? 0 : -1;
}

/* Applies every override whose path starts with `prefix.` to obj. */
static int apply_overrides(ctx *c, const char *prefix, const schema *s, void *obj)
{
    int rc = 0;
    size_t plen = strlen(prefix);
    for (int i = 0; i < c->override_count; i++) {
        const char *path = c->overrides[i].path;
        if (!strncmp(path, prefix, plen) && path[plen] == '.' &&
            apply_one(c, s, obj, i, path + plen + 1) != 0)
            rc = -1;
    }
    return rc;
}

/* layouts.NAME.FIELD reaches one layout, layouts.FIELD every layout. */
static int layout_overrides(ctx *c, cs_layout *l)
{
    char prefix[CS_NAME_MAX + 16];
    snprintf(prefix, sizeof prefix, "layouts.%s", l->name);
    int rc = apply_overrides(c, prefix, &layout_schema, l);
    for (int i = 0; i < c->override_count; i++) {
        const char *path = c->overrides[i].path;
        if (!strncmp(path, "layouts.", 8) && !strchr(path + 8, '.') &&
            apply_one(c, &layout_schema, l, i, path + 8) != 0)
            rc = -1;
    }
    return rc;
}

/* Whether a sweep path names something a point can change. */
static int check_sweep_path(ctx *c, cs_yfile *f, yaml_node_t *where, const char *path)
{
    static const struct {
        const char *prefix;
        const schema *s;
    } roots[] = {{"model.", &model_schema},       {"cluster.", &cluster_schema},
                 {"training.", &training_schema}, {"targets.", &targets_schema}};
    for (size_t i = 0; i < COUNT(roots); i++) {
        size_t n = strlen(roots[i].prefix);
        if (!strncmp(path, roots[i].prefix, n))
            return resolve_path(c, f, where, roots[i].s, NULL, path + n, path) ? 0 : -1;
    }
    if (!strncmp(path, "layouts.", 8)) {
        const char *rest = path + 8, *dot = strchr(rest, '.');
        return resolve_path(c, f, where, &layout_schema, NULL, dot ? dot + 1 : rest, path) ? 0
                                                                                        : -1;
    }
    if (!strcmp(path, "network_model") || !strcmp(path, "seed"))
        return 0;
    REPORT(c, f, where,
           "'%s' is not a key path a sweep can change (model.*, cluster.*, training.*, "
           "layouts.*, targets.*, network_model, seed)",
           path);
    return -1;
}

/* ---- sweep, uncertainty, cost ------------------------------------------------- */

static void unknown_in(ctx *c, cs_yfile *f, yaml_node_t *kn, const char *what,
                       const char *const *keys)
{
    const char *key = cs_ynode_text(kn);
    const char *hint = key ? cs_did_you_mean(key, keys) : NULL;
    if (hint)
        REPORT(c, f, kn, "unknown key '%s' in %s; did you mean '%s'?", key, what, hint);
    else
        REPORT(c, f, kn, "unknown key '%s' in %s", key ? key : "?", what);
}

static int sweep_parameters(ctx *c, cs_yfile *f, yaml_node_t *n, cs_sweep *sw)
{
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'parameters' must map key paths to lists of values");
        return -1;
    }
    int rc = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = cs_yfile_node(f, p->key), *vn = cs_yfile_node(f, p->value);
        const char *path = cs_ynode_text(kn);
        if (!path || strlen(path) >= sizeof sw->params[0].path) {
            REPORT(c, f, kn, "a sweep parameter must be a key path such as "
                             "cluster.scale_out.nic_bandwidth");
            rc = -1;
            continue;
        }
        if (sw->param_count == CS_SWEEP_MAX_PARAMS) {
            REPORT(c, f, kn, "at most %d swept parameters", CS_SWEEP_MAX_PARAMS);
            return -1;
        }
        if (check_sweep_path(c, f, kn, path) != 0) {
            rc = -1;
            continue;
        }
        long count = vn->type == YAML_SEQUENCE_NODE
                         ? (long)(vn->data.sequence.items.top - vn->data.sequence.items.start)
                         : 0;
        if (count < 1) {
            REPORT(c, f, vn, "'%s' needs a list of one or more values", path);
            rc = -1;
            continue;
        }
        cs_sweep_param *sp = &sw->params[sw->param_count++];
        snprintf(sp->path, sizeof sp->path, "%s", path);
        sp->list = p->value;
        sp->count = count;
        sp->loc = cs_yfile_loc(f, kn);
    }
    return rc;
}

static int sweep_layouts(ctx *c, cs_yfile *f, yaml_node_t *vn, cs_sweep *sw)
{
    long count = vn->type == YAML_SEQUENCE_NODE
                     ? (long)(vn->data.sequence.items.top - vn->data.sequence.items.start)
                     : -1;
    if (count < 1 || count > CS_SWEEP_MAX_LAYOUTS) {
        REPORT(c, f, vn, "'layouts' must list 1 to %d layout names", CS_SWEEP_MAX_LAYOUTS);
        return -1;
    }
    int rc = 0;
    for (long i = 0; i < count; i++)
        if (parse_name(c, f, cs_yfile_node(f, vn->data.sequence.items.start[i]), "layouts",
                       sw->layouts[sw->layout_count++]) != 0)
            rc = -1;
    return rc;
}

static int sweep_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    static const char *const keys[] = {"mode", "parameters", "layouts", "repeats", NULL};
    static const char *const modes[] = {"grid", "zip", NULL};
    cs_sweep *sw = &((cs_scenario *)obj)->sweep;
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'sweep' must be a mapping, got %s", cs_ynode_describe(n));
        return -1;
    }
    memset(sw, 0, sizeof *sw);
    sw->present = 1;
    sw->repeats = 1;
    sw->loc = cs_yfile_loc(f, n);
    int rc = 0, mode;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = cs_yfile_node(f, p->key), *vn = cs_yfile_node(f, p->value);
        const char *key = cs_ynode_text(kn);
        if (key && !strcmp(key, "mode")) {
            if (parse_enum(c, f, vn, "sweep mode", modes, &mode) == 0)
                sw->zip = mode;
            else
                rc = -1;
        } else if (key && !strcmp(key, "parameters")) {
            rc |= sweep_parameters(c, f, vn, sw);
        } else if (key && !strcmp(key, "repeats")) {
            rc |= parse_int(c, f, vn, "repeats", 1, &sw->repeats);
        } else if (key && !strcmp(key, "layouts")) {
            rc |= sweep_layouts(c, f, vn, sw);
        } else {
            unknown_in(c, f, kn, "sweep", keys);
            rc = -1;
        }
    }
    if (rc == 0 && sw->param_count == 0 && sw->repeats <= 1) {
        REPORT(c, f, n, "the sweep has no parameters and no repeats");
        rc = -1;
    }
    for (int i = 1; rc == 0 && sw->zip && i < sw->param_count; i++)
        if (sw->params[i].count != sw->params[0].count) {
            cs_diags_add(c->diags, CS_ERROR, sw->params[i].loc, f->text, f->len,
                         "zip sweeps need lists of one length: '%s' has %ld values, '%s' %ld",
                         sw->params[i].path, sw->params[i].count, sw->params[0].path,
                         sw->params[0].count);
            rc = -1;
        }
    return rc ? -1 : 0;
}

static int stragglers(ctx *c, cs_yfile *f, yaml_node_t *vn, cs_uncertainty *u)
{
    static const char *const keys[] = {"probability", "slowdown", NULL};
    cs_quantity q;
    if (vn->type != YAML_MAPPING_NODE) {
        REPORT(c, f, vn, "'stragglers' must be { probability: ..., slowdown: ... }");
        return -1;
    }
    int rc = 0;
    for (yaml_node_pair_t *p = vn->data.mapping.pairs.start; p < vn->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = cs_yfile_node(f, p->key), *v = cs_yfile_node(f, p->value);
        const char *key = cs_ynode_text(kn);
        if (key && !strcmp(key, "probability")) {
            if (parse_qty(c, f, v, "probability", CS_UNIT_RATIO, AT_MOST_1, &q) == 0)
                u->straggler_probability = q.value;
            else
                rc = -1;
        } else if (key && !strcmp(key, "slowdown")) {
            if (parse_qty(c, f, v, "slowdown", CS_UNIT_RATIO, POSITIVE, &q) != 0) {
                rc = -1;
            } else if (q.value < 1) {
                REPORT(c, f, v, "'slowdown' must be a factor of 1 or more");
                rc = -1;
            } else {
                u->straggler_slowdown = q.value;
            }
        } else {
            unknown_in(c, f, kn, "stragglers", keys);
            rc = -1;
        }
    }
    if (rc == 0 && (!u->straggler_probability || !u->straggler_slowdown)) {
        REPORT(c, f, vn, "'stragglers' needs probability and slowdown");
        rc = -1;
    }
    return rc;
}

static int uncertainty_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    static const char *const keys[] = {"compute_jitter", "stragglers", NULL};
    cs_uncertainty *u = &((cs_scenario *)obj)->uncertainty;
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'uncertainty' must be a mapping, got %s", cs_ynode_describe(n));
        return -1;
    }
    int rc = 0;
    cs_quantity q;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = cs_yfile_node(f, p->key), *vn = cs_yfile_node(f, p->value);
        const char *key = cs_ynode_text(kn);
        if (key && !strcmp(key, "compute_jitter")) {
            if (parse_qty(c, f, vn, "compute_jitter", CS_UNIT_RATIO, AT_MOST_1, &q) == 0)
                u->compute_jitter = q.value;
            else
                rc = -1;
        } else if (key && !strcmp(key, "stragglers")) {
            rc |= stragglers(c, f, vn, u);
        } else {
            unknown_in(c, f, kn, "uncertainty", keys);
            rc = -1;
        }
    }
    return rc ? -1 : 0;
}

static int cost_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    static const char *const keys[] = {"gpu_hour", "purchase", "lifetime", NULL};
    cs_cost_config *k = &((cs_scenario *)obj)->cost;
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'cost' must be a mapping, got %s", cs_ynode_describe(n));
        return -1;
    }
    int rc = 0;
    cs_quantity q;
    k->present = 1;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = cs_yfile_node(f, p->key), *vn = cs_yfile_node(f, p->value);
        const char *key = cs_ynode_text(kn);
        double *slot = NULL;
        cs_unit_kind unit = CS_UNIT_MONEY;
        if (key && !strcmp(key, "gpu_hour"))
            slot = &k->gpu_hour;
        else if (key && !strcmp(key, "purchase"))
            slot = &k->purchase;
        else if (key && !strcmp(key, "lifetime")) {
            slot = &k->lifetime;
            unit = CS_UNIT_TIME;
        }
        if (!slot) {
            unknown_in(c, f, kn, "cost", keys);
            rc = -1;
        } else if (parse_qty(c, f, vn, key, unit, POSITIVE, &q) == 0) {
            *slot = q.value;
        } else {
            rc = -1;
        }
    }
    if (rc == 0 && !k->gpu_hour == !k->purchase) {
        REPORT(c, f, n, "give either gpu_hour, or purchase with lifetime");
        rc = -1;
    } else if (rc == 0 && k->purchase && !k->lifetime) {
        REPORT(c, f, n, "a purchase price needs a lifetime, e.g. 'lifetime: 4 years'");
        rc = -1;
    }
    return rc;
}

static int targets_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_scenario *s = obj;
    cs_targets *t = &s->targets;
    int rc = apply_mapping(c, f, n, &targets_schema, t);
    /* Record positions for the verdicts. */
    yaml_node_t *v;
    if ((v = cs_ymap_get(f, n, "iteration_time")))
        t->loc_iteration_time = cs_yfile_loc(f, v);
    if ((v = cs_ymap_get(f, n, "memory_per_gpu")))
        t->loc_memory_per_gpu = cs_yfile_loc(f, v);
    if ((v = cs_ymap_get(f, n, "throughput"))) {
        cs_quantity q;
        char err[128];
        t->loc_throughput = cs_yfile_loc(f, v);
        if (cs_ynode_text(v) &&
            cs_units_parse(cs_ynode_text(v), CS_UNIT_THROUGHPUT, &q, err, sizeof err) == 0)
            t->throughput_per = q.per;
    }
    return rc;
}

static int training_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_scenario *s = obj;
    s->training.loc = cs_yfile_loc(f, n);
    /* Missing keys are worth reporting only when what is there was fine. */
    if (apply_mapping(c, f, n, &training_schema, &s->training) != 0 ||
        apply_overrides(c, "training", &training_schema, &s->training) != 0)
        return -1;
    return check_required(c, &training_schema, &s->training, s->training.loc, f);
}

static int layouts_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_scenario *s = obj;
    if (n->type != YAML_SEQUENCE_NODE) {
        REPORT(c, f, n, "'layouts' must be a list of layouts, got %s", cs_ynode_describe(n));
        return -1;
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0) {
        REPORT(c, f, n, "'layouts' is empty; give at least one layout");
        return -1;
    }
    free(s->layouts);
    s->layout_count = 0;
    s->layouts = calloc(count, sizeof *s->layouts);
    if (!s->layouts)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = cs_yfile_node(f, n->data.sequence.items.start[i]);
        cs_layout *l = &s->layouts[i];
        layout_defaults(l);
        snprintf(l->name, sizeof l->name, "layout%zu", i + 1);
        l->loc = cs_yfile_loc(f, item);
        if (apply_mapping(c, f, item, &layout_schema, l) != 0 || layout_overrides(c, l) != 0) {
            rc = -1;
        } else if (strchr(l->name, '/') || l->name[0] == '.') {
            /* Names become folder names under the output folder. */
            REPORT(c, f, item, "layout name '%s' may not contain '/' or start with '.'",
                   l->name);
            rc = -1;
        } else if (check_required(c, &layout_schema, l, l->loc, f) != 0) {
            rc = -1;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(s->layouts[j].name, l->name)) {
                REPORT(c, f, item, "two layouts are named '%s'", l->name);
                rc = -1;
            }
    }
    s->layout_count = count;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* References to models and clusters: path, preset name, or base + keys      */

static int is_bare_name(const char *ref)
{
    return !strchr(ref, '/') && !strstr(ref, ".yaml") && !strstr(ref, ".yml") &&
           !strstr(ref, ".json");
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? cs_strndup(path, (size_t)(slash - path)) : cs_strdup(".");
}

/* Finds the file a reference names. Returns a malloc'd path, or NULL after
 * reporting why at `node`. */
static char *resolve_ref(ctx *c, cs_yfile *f, yaml_node_t *node, const char *ref, doc_kind kind)
{
    static const char *const exts[] = {".yaml", ".yml", ".json"};
    if (!is_bare_name(ref)) {
        if (ref[0] == '/' || !f)
            return cs_strdup(ref);
        char *dir = dir_of(f->path);
        char *p = dir ? cs_asprintf("%s/%s", dir, ref) : NULL;
        free(dir);
        return p;
    }
    const char *const *dirs = c->paths ? c->paths->preset_dirs : NULL;
    for (int i = 0; dirs && dirs[i]; i++)
        for (size_t e = 0; e < COUNT(exts); e++) {
            char *p = cs_asprintf("%s/%s/%s%s", dirs[i], kind_dir[kind], ref, exts[e]);
            if (p && access(p, R_OK) == 0)
                return p;
            free(p);
        }
    /* A file of that name next to the referring file also counts. */
    if (f) {
        char *dir = dir_of(f->path);
        char *p = dir ? cs_asprintf("%s/%s", dir, ref) : NULL;
        free(dir);
        if (p && access(p, R_OK) == 0)
            return p;
        free(p);
    }
    if (f)
        REPORT(c, f, node, "no %s preset named '%s' (looked in %s/ of the preset directories)",
               kind_word[kind], ref, kind_dir[kind]);
    else
        cs_diags_add(c->diags, CS_ERROR, (cs_loc){ref, 0, 0}, NULL, 0,
                     "no %s preset or file named '%s'", kind_word[kind], ref);
    return NULL;
}

static int load_file_into(ctx *c, const char *path, doc_kind kind, void *obj,
                          cs_yfile *from, yaml_node_t *from_node);

/* Applies a reference (scalar) or base+keys mapping `n` of file f onto obj. */
static int load_ref(ctx *c, cs_yfile *f, yaml_node_t *n, doc_kind kind, void *obj)
{
    const char *ref = cs_ynode_text(n);
    if (ref && !cs_ynode_is_null(n)) {
        char *path = resolve_ref(c, f, n, ref, kind);
        if (!path)
            return -1;
        int rc = load_file_into(c, path, kind, obj, f, n);
        free(path);
        return rc;
    }
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'%s' must be a file path, a preset name or a mapping, got %s",
               kind_word[kind], cs_ynode_describe(n));
        return -1;
    }
    int rc = 0;
    yaml_node_t *base = cs_ymap_get(f, n, "base");
    if (base) {
        if (!cs_ynode_text(base) || cs_ynode_is_null(base)) {
            REPORT(c, f, base, "'base' must be a file path or preset name");
            rc = -1;
        } else if (load_ref(c, f, base, kind, obj) != 0) {
            rc = -1;
        }
    }
    const schema *s = kind == KIND_MODEL ? &model_schema : &cluster_schema;
    if (apply_mapping(c, f, n, s, obj) != 0)
        rc = -1;
    cs_loc loc = cs_yfile_loc(f, n);
    if (kind == KIND_MODEL)
        ((cs_model *)obj)->loc = loc;
    else
        ((cs_cluster *)obj)->loc = loc;
    return rc;
}


static int is_hf_config(cs_yfile *f, yaml_node_t *root)
{
    return cs_ymap_get(f, root, "model_type") || cs_ymap_get(f, root, "architectures") ||
           cs_ymap_get(f, root, "num_hidden_layers");
}

/* The file's base name without its extension: "qwen1.5-moe.json" -> "qwen1.5-moe". */
static void name_from_path(char name[CS_NAME_MAX], const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    int len = (int)(dot && dot != base ? (size_t)(dot - base) : strlen(base));
    snprintf(name, CS_NAME_MAX, "%.*s", len, base);
}

static int load_file_into(ctx *c, const char *path, doc_kind kind, void *obj,
                          cs_yfile *from, yaml_node_t *from_node)
{
    char *canon = realpath(path, NULL);
    if (!canon) {
        int err = errno;
        if (from)
            REPORT(c, from, from_node, "cannot open %s '%s': %s", kind_word[kind], path,
                   strerror(err));
        else
            cs_diags_add(c->diags, CS_ERROR, (cs_loc){path, 0, 0}, NULL, 0, "cannot open: %s",
                         strerror(err));
        return -1;
    }
    for (int i = 0; i < c->depth; i++)
        if (!strcmp(c->chain[i], canon)) {
            REPORT(c, from, from_node, "'%s' includes itself through base: (a cycle)", path);
            free(canon);
            return -1;
        }
    if (c->depth == MAX_BASE_DEPTH) {
        REPORT(c, from, from_node, "bases nest deeper than %d files", MAX_BASE_DEPTH);
        free(canon);
        return -1;
    }
    c->chain[c->depth++] = canon;
    int rc = -1;
    cs_yfile *f = open_file(c, path);
    yaml_node_t *root = f ? cs_yfile_root(f) : NULL;
    if (root && kind == KIND_MODEL && root->type == YAML_MAPPING_NODE && is_hf_config(f, root)) {
        rc = cs_hf_apply(f, root, obj, c->diags);
        ((cs_model *)obj)->loc = cs_yfile_loc(f, root);
    } else if (root) {
        rc = load_ref(c, f, root, kind, obj);
    }
    /* A file's name is the default name of what it defines. */
    char *name = kind == KIND_MODEL ? ((cs_model *)obj)->name : ((cs_cluster *)obj)->name;
    if (f && !name[0])
        name_from_path(name, path);
    c->depth--;
    free(canon);
    return rc;
}

const cs_yfile *cs_sources_find(const cs_sources *src, const char *file)
{
    for (size_t i = 0; i < src->count; i++)
        if (src->files[i]->path == file)
            return src->files[i];
    return NULL;
}

static cs_yfile *file_of(ctx *c, cs_loc loc)
{
    return (cs_yfile *)cs_sources_find(c->sources, loc.file);
}

static int finish_model(ctx *c, cs_model *m)
{
    cs_yfile *f = file_of(c, m->loc);
    int rc = check_required(c, &model_schema, m, m->loc, f);
    if (rc == 0)
        rc = model_finish(c, m, f);
    return rc;
}

static int finish_cluster(ctx *c, cs_cluster *k)
{
    cs_yfile *f = file_of(c, k->loc);
    /* One node needs no network between nodes. */
    if (k->nodes == 1 && isnan(k->scale_out.nic_bandwidth))
        k->scale_out.nic_bandwidth = 0;
    int rc = check_required(c, &cluster_schema, k, k->loc, f);
    if (rc == 0)
        rc = cluster_finish(c, k, f);
    return rc;
}

static int model_ref_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_scenario *s = obj;
    model_defaults(&s->model);
    if (load_ref(c, f, n, KIND_MODEL, &s->model) != 0 ||
        apply_overrides(c, "model", &model_schema, &s->model) != 0)
        return -1;
    return finish_model(c, &s->model);
}

static int cluster_ref_custom(ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_scenario *s = obj;
    cluster_defaults(&s->cluster);
    if (load_ref(c, f, n, KIND_CLUSTER, &s->cluster) != 0 ||
        apply_overrides(c, "cluster", &cluster_schema, &s->cluster) != 0)
        return -1;
    return finish_cluster(c, &s->cluster);
}

/* ------------------------------------------------------------------------ */
/* Public entry points                                                       */

static int load_standalone(const char *ref, const cs_paths *paths, cs_sources *src,
                           doc_kind kind, void *obj, cs_diags *d)
{
    ctx c = {.paths = paths, .sources = src, .diags = d};
    size_t before = d->errors;
    char *path = resolve_ref(&c, NULL, NULL, ref, kind);
    if (!path)
        return -1;
    int rc = load_file_into(&c, path, kind, obj, NULL, NULL);
    free(path);
    if (rc == 0)
        rc = kind == KIND_MODEL ? finish_model(&c, obj) : finish_cluster(&c, obj);
    return rc == 0 && d->errors == before ? 0 : -1;
}

int cs_model_load(const char *ref, const cs_paths *paths, cs_sources *src, cs_model *out,
                  cs_diags *d)
{
    model_defaults(out);
    return load_standalone(ref, paths, src, KIND_MODEL, out, d);
}

int cs_cluster_load(const char *ref, const cs_paths *paths, cs_sources *src,
                    cs_cluster *out, cs_diags *d)
{
    cluster_defaults(out);
    return load_standalone(ref, paths, src, KIND_CLUSTER, out, d);
}

static void scenario_defaults(cs_scenario *s)
{
    memset(s, 0, sizeof *s);
    model_defaults(&s->model);
    cluster_defaults(&s->cluster);
    training_defaults(&s->training);
    s->network_model = CS_NET_FLOW;
    s->seed = 1;
    s->targets.iteration_time = s->targets.throughput = s->targets.memory_per_gpu = NAN;
}

static int check_scenario_keys(ctx *c, cs_yfile *f, yaml_node_t *root, cs_scenario *s)
{
    static const char *const required[] = {"model", "cluster", "training", "layouts"};
    int rc = 0;
    for (size_t i = 0; i < COUNT(required); i++)
        if (!cs_ymap_get(f, root, required[i])) {
            REPORT(c, f, root, "missing required key '%s' in scenario", required[i]);
            rc = -1;
        }
    return rc;
}

/* network_model, seed and targets.* of a sweep point. */
static int top_overrides(ctx *c, cs_yfile *f, cs_scenario *s)
{
    int rc = 0;
    for (int i = 0; i < c->override_count; i++) {
        const char *path = c->overrides[i].path;
        yaml_node_t *value = cs_yfile_node(f, c->overrides[i].node);
        if (!strcmp(path, "network_model") || !strcmp(path, "seed")) {
            const field *fd = path_field(&scenario_schema, path, strlen(path));
            if (apply_field(c, f, fd, value, s) != 0)
                rc = -1;
        }
    }
    if (apply_overrides(c, "targets", &targets_schema, &s->targets) != 0)
        rc = -1;
    return rc;
}

/* Loads the scenario held by f (already parsed, kept in out->sources). */
static int load_scenario(ctx *c, cs_yfile *f, cs_scenario *out)
{
    size_t before = c->diags->errors;
    yaml_node_t *root = f ? cs_yfile_root(f) : NULL;
    if (!root)
        return -1;
    out->loc = cs_yfile_loc(f, root);
    char *canon = realpath(f->path, NULL);
    if (canon)
        c->chain[c->depth++] = canon;
    c->scenario_file = f;
    int rc = apply_mapping(c, f, root, &scenario_schema, out);
    if (root->type == YAML_MAPPING_NODE && check_scenario_keys(c, f, root, out) != 0)
        rc = -1;
    if (top_overrides(c, f, out) != 0)
        rc = -1;
    free(canon);
    if (!out->name[0])
        name_from_path(out->name, f->path);
    return rc == 0 && c->diags->errors == before ? 0 : -1;
}

int cs_scenario_load(const char *path, const cs_paths *paths, cs_scenario *out, cs_diags *d)
{
    return cs_scenario_load_with(path, paths, NULL, 0, out, d);
}

int cs_scenario_load_with(const char *path, const cs_paths *paths, const cs_override *o,
                          int count, cs_scenario *out, cs_diags *d)
{
    scenario_defaults(out);
    ctx c = {.paths = paths, .sources = &out->sources, .diags = d, .overrides = o,
             .override_count = count};
    return load_scenario(&c, open_file(&c, path), out);
}

int cs_scenario_load_text(const char *name, const char *text, size_t len,
                          const cs_paths *paths, cs_scenario *out, cs_diags *d)
{
    scenario_defaults(out);
    ctx c = {.paths = paths, .sources = &out->sources, .diags = d};
    cs_yfile *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    int rc = cs_yfile_load_buffer(f, name, text, len, d);
    if (add_source(&c, f) != 0) {
        cs_yfile_free(f);
        free(f);
        return -1;
    }
    return rc == 0 ? load_scenario(&c, f, out) : -1;
}

void cs_scenario_free(cs_scenario *s)
{
    free(s->layouts);
    cs_sources_free(&s->sources);
    s->layouts = NULL;
    s->layout_count = 0;
}

/* ------------------------------------------------------------------------ */
/* Small accessors                                                           */

cs_schedule cs_layout_schedule(const cs_layout *l, const cs_training *t)
{
    return l->schedule >= 0 ? (cs_schedule)l->schedule : t->schedule;
}

cs_recompute cs_layout_recompute(const cs_layout *l, const cs_training *t)
{
    return l->recompute >= 0 ? (cs_recompute)l->recompute : t->recompute;
}

long cs_layout_micro_batch(const cs_layout *l, const cs_training *t)
{
    return l->micro_batch_size > 0 ? l->micro_batch_size : t->micro_batch_size;
}

long cs_layout_vpp(const cs_layout *l, const cs_training *t)
{
    return l->vpp > 0 ? l->vpp : t->virtual_pipeline_stages;
}

int cs_model_is_moe_layer(const cs_model *m, long i)
{
    if (m->moe.num_experts <= 0)
        return 0;
    if (m->moe.pattern_len > 0)
        return i < m->moe.pattern_len && m->moe.layer_pattern[i];
    return i % m->moe.layer_freq == 0;
}

const char *cs_schedule_name(cs_schedule s) { return schedule_choices[s]; }
const char *cs_recompute_name(cs_recompute r) { return recompute_choices[r]; }
const char *cs_network_model_name(cs_network_model n) { return network_choices[n]; }
const char *cs_dim_name(cs_dim d) { return dim_names[d]; }
