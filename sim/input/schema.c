/* schema: scalars, mappings and key paths checked against schema tables
 * (see schema.h). */
#include "input/schema.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/strutil.h"

/* ------------------------------------------------------------------------ */
/* Scalars                                                                   */

static int is_quoted(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
}

int cs_parse_int(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, long min, long *out)
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

int cs_parse_bool(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, int *out)
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

int cs_parse_enum(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key,
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
        if (!strcasecmp(t, choices[i])) /* RMSNorm, 1F1B as Megatron writes them */
            return *out = i, 0;
    const char *hint = cs_did_you_mean(t, choices);
    if (hint)
        REPORT(c, f, n, "unknown %s '%s'; did you mean '%s'? (one of %s)", key, t, hint, list);
    else
        REPORT(c, f, n, "unknown %s '%s'; expected one of %s", key, t, list);
    return -1;
}

int cs_parse_choices(cs_ctx *c, cs_yfile *f, yaml_node_t *n, long min, const char *key,
                     const char *const *choices, unsigned *out)
{
    int one = n->type != YAML_SEQUENCE_NODE;
    long count = one ? 1 : (long)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count < min) {
        REPORT(c, f, n, "'%s' must name one or more values", key);
        return -1;
    }
    int rc = 0;
    *out = 0;
    for (long i = 0; i < count; i++) {
        yaml_node_t *item = one ? n : cs_yfile_node(f, n->data.sequence.items.start[i]);
        int v;
        if (choices ? cs_parse_enum(c, f, item, key, choices, &v)
                    : cs_parse_bool(c, f, item, key, &v)) {
            rc = -1;
            continue;
        }
        if (*out & (1u << v)) {
            REPORT(c, f, item, "'%s' lists %s twice", key, cs_ynode_text(item));
            rc = -1;
        }
        *out |= 1u << v;
    }
    return rc;
}

int cs_parse_qty(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, cs_unit_kind unit,
                 unsigned flags, cs_quantity *q)
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
    if ((flags & NONNEG) && !(q->value >= 0)) {
        REPORT(c, f, n, "'%s' must be 0 or more, got '%s'", key, t);
        return -1;
    }
    if (unit == CS_UNIT_RATIO && (!(q->value >= 0) || ((flags & AT_MOST_1) && q->value > 1))) {
        REPORT(c, f, n, "'%s' must be a ratio between 0 and 1, got '%s'", key, t);
        return -1;
    }
    return 0;
}

int cs_parse_name(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, char *out)
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
    /* Names become file names and fields of tab-separated data files. */
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p < 0x20 || *p == 0x7f) {
            REPORT(c, f, n, "'%s' may not hold a control character (a tab, a newline, ...)",
                   key);
            return -1;
        }
    strcpy(out, t);
    return 0;
}

/* A ratio, or a list of [size, ratio] rows with increasing sizes. */
static int parse_table(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, cs_table *out)
{
    cs_quantity q;
    if (n->type == YAML_SCALAR_NODE) {
        if (cs_parse_qty(c, f, n, key, CS_UNIT_RATIO, POSITIVE | AT_MOST_1, &q) != 0)
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
            if (cs_parse_qty(c, f, xs, key, CS_UNIT_SIZE, POSITIVE, &q) != 0) {
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
        if (cs_parse_qty(c, f, ys, key, CS_UNIT_RATIO, POSITIVE | AT_MOST_1, &q) != 0) {
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

/* The keys of a schema as a NULL-terminated list, for near-miss hints. */
static void key_names(const cs_schema *s, const char **names, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count && n + 1 < cap; i++)
        names[n++] = s->fields[i].key;
    names[n] = NULL;
}

int cs_schema_apply_field(cs_ctx *c, cs_yfile *f, const cs_field *fd, yaml_node_t *v, void *obj)
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
        return cs_parse_int(c, f, v, fd->key, fd->min, (long *)(base + fd->off));
    }
    case F_BOOL:
        return cs_parse_bool(c, f, v, fd->key, (int *)(base + fd->off));
    case F_ENUM: {
        int e;
        rc = cs_parse_enum(c, f, v, fd->key, fd->choices, &e);
        if (rc == 0)
            *(int *)(base + fd->off) = e;
        return rc;
    }
    case F_QTY:
        if ((fd->flags & NULLABLE) && cs_ynode_is_null(v)) {
            *(double *)(base + fd->off) = 0;
            return 0;
        }
        rc = cs_parse_qty(c, f, v, fd->key, fd->unit, fd->flags, &q);
        if (rc == 0)
            *(double *)(base + fd->off) = q.value;
        return rc;
    case F_NAME:
        return cs_parse_name(c, f, v, fd->key, base + fd->off);
    case F_SUB:
        return cs_schema_apply(c, f, v, fd->sub, base + fd->off);
    case F_TABLE:
        return parse_table(c, f, v, fd->key, (cs_table *)(base + fd->off));
    case F_CUSTOM:
        return fd->custom(c, f, v, obj);
    case F_IGNORE:
        return 0;
    }
    return 0;
}

/* Megatron-LM's names (its arguments' dest names) read as ours where the
 * value means the same: in the schema `what`, Megatron's key, then our key
 * path below that schema. */
static const char *const read_as[][3] = {
    {"layout", "tensor_model_parallel_size", "tp"},
    {"layout", "pipeline_model_parallel_size", "pp"},
    {"layout", "expert_model_parallel_size", "ep"},
    {"layout", "expert_tensor_parallel_size", "etp"},
    {"layout", "virtual_pipeline_model_parallel_size", "vpp"},
    {"layout", "data_parallel_size", "dp"},
    {"layout", "context_parallel_size", "cp"},
    {"training", "use_distributed_optimizer", "distributed_optimizer"},
    {"training", "recompute_granularity", "recompute"},
    {"model", "num_experts", "moe.num_experts"},
    {"model", "moe_router_topk", "moe.router_topk"},
    {"model", "moe_ffn_hidden_size", "moe.ffn_hidden_size"},
    {"model", "moe_shared_expert_intermediate_size", "moe.shared_expert_ffn_hidden_size"},
    {"model", "moe_layer_freq", "moe.layer_freq"},
    {"model", "moe_router_num_groups", "moe.router_num_groups"},
    {"model", "moe_router_group_topk", "moe.router_group_topk"},
};

/* Applies key kn of a mapping of schema s as the key of ours Megatron's
 * name stands for, with a note saying which it read. Returns 1 read, 0 no
 * such alias, -1 read with an error (the value, or ours given too). */
static int apply_alias(cs_ctx *c, cs_yfile *f, yaml_node_t *map, yaml_node_t *kn,
                       yaml_node_t *vn, const cs_schema *s, void *obj, unsigned long long *seen)
{
    const char *key = cs_ynode_text(kn);
    for (size_t i = 0; i < COUNT(read_as); i++) {
        if (strcmp(s->what, read_as[i][0]) || strcmp(key, read_as[i][1]))
            continue;
        const char *ours = read_as[i][2];
        const cs_field *top = cs_schema_field(s, ours, strcspn(ours, "."));
        if (top && !strchr(ours, '.')) {
            unsigned long long bit = 1ull << (top - s->fields);
            if (*seen & bit) {
                REPORT(c, f, kn, "'%s' is Megatron's name of '%s', which %s also sets", key,
                       ours, s->what);
                return -1;
            }
            *seen |= bit;
        }
        /* moe.num_experts also given in the mapping's own moe: block */
        const char *dot = strchr(ours, '.');
        if (dot) {
            char block[32];
            snprintf(block, sizeof block, "%.*s", (int)(dot - ours), ours);
            yaml_node_t *sub = cs_ymap_get(f, map, block);
            if (sub && sub->type == YAML_MAPPING_NODE && cs_ymap_get(f, sub, dot + 1)) {
                REPORT(c, f, kn, "'%s' is Megatron's name of '%s', which %s also sets", key,
                       ours, s->what);
                return -1;
            }
        }
        void *at = obj;
        const cs_field *fd = cs_schema_resolve(c, f, kn, s, &at, ours, ours);
        if (!fd)
            return -1;
        cs_yfile_report(f, c->diags, CS_NOTE, kn, "read Megatron's %s as %s.%s", key, s->what,
                        ours);
        return cs_schema_apply_field(c, f, fd, vn, at) == 0 ? 1 : -1;
    }
    return 0;
}

int cs_schema_apply(cs_ctx *c, cs_yfile *f, yaml_node_t *map, const cs_schema *s, void *obj)
{
    if (map->type != YAML_MAPPING_NODE) {
        REPORT(c, f, map, "%s must be a mapping of keys, got %s", s->what, cs_ynode_describe(map));
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
        const cs_field *fd = cs_schema_field(s, key, strlen(key));
        if (!fd) {
            int read = apply_alias(c, f, map, kn, vn, s, obj, &seen);
            if (read < 0)
                rc = -1;
            if (read != 0)
                continue;
            const char *names[64];
            key_names(s, names, COUNT(names));
            cs_report_unknown(c, f, kn, s->what, names);
            rc = -1;
            continue;
        }
        unsigned long long bit = 1ull << (fd - s->fields);
        if (seen & bit) {
            REPORT(c, f, kn, "key '%s' appears twice in %s (or with its Megatron name)", key,
                   s->what);
            rc = -1;
            continue;
        }
        seen |= bit;
        if (cs_schema_apply_field(c, f, fd, vn, obj) != 0)
            rc = -1;
    }
    return rc;
}

int cs_schema_check_required(cs_ctx *c, const cs_schema *s, const void *obj, cs_loc where,
                             const cs_yfile *f)
{
    const char *base = obj;
    int rc = 0;
    for (size_t i = 0; i < s->count; i++) {
        const cs_field *fd = &s->fields[i];
        int missing = 0;
        if (fd->type == F_SUB) {
            if (cs_schema_check_required(c, fd->sub, base + fd->off, where, f) != 0)
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
/* Key paths and unknown keys                                                */

/* Megatron-LM's names of keys that clustersim names otherwise, and ours
 * (the arguments' dest names: tensor_model_parallel_size for
 * --tensor-model-parallel-size). */
static const char *const *megatron_alias(const char *key)
{
    static const char *const aliases[][3] = {
        {"tensor_model_parallel_size", "tp", ""},
        {"pipeline_model_parallel_size", "pp", ""},
        {"expert_model_parallel_size", "ep", ""},
        {"expert_tensor_parallel_size", "etp", ""},
        {"virtual_pipeline_model_parallel_size", "vpp", ""},
        {"num_layers_per_virtual_pipeline_stage", "vpp", " (virtual stages per pipeline rank)"},
        {"data_parallel_size", "dp", ""},
        {"context_parallel_size", "cp", ""},
        {"num_experts", "moe.num_experts", ""},
        {"moe_router_topk", "moe.router_topk", ""},
        {"moe_ffn_hidden_size", "moe.ffn_hidden_size", ""},
        {"moe_shared_expert_intermediate_size", "moe.shared_expert_ffn_hidden_size", ""},
        {"moe_layer_freq", "moe.layer_freq", ""},
        {"moe_router_num_groups", "moe.router_num_groups", ""},
        {"moe_router_group_topk", "moe.router_group_topk", ""},
        {"use_distributed_optimizer", "distributed_optimizer", ""},
        {"recompute_granularity", "recompute", ""},
        {"group_query_attention", "num_query_groups", " (give the groups)"},
        {"bf16", "precision", ": bf16"},
        {"fp16", "precision", ": fp16"},
        {"fp8_format", "precision", ": fp8 (with fp8_recipe)"},
    };
    for (size_t i = 0; key && i < sizeof aliases / sizeof *aliases; i++)
        if (!strcmp(key, aliases[i][0]))
            return aliases[i];
    return NULL;
}

void cs_report_unknown(cs_ctx *c, cs_yfile *f, yaml_node_t *kn, const char *what,
                       const char *const *keys)
{
    const char *key = cs_ynode_text(kn);
    const char *const *alias = megatron_alias(key);
    if (alias) {
        REPORT(c, f, kn, "unknown key '%.80s' in %s; Megatron's %s is '%s' here%s", key, what,
               key, alias[1], alias[2]);
        return;
    }
    const char *hint = key ? cs_did_you_mean(key, keys) : NULL;
    if (hint)
        REPORT(c, f, kn, "unknown key '%.80s' in %s; did you mean '%s'?", key, what, hint);
    else
        REPORT(c, f, kn, "unknown key '%.80s' in %s", key ? key : "?", what);
}

const cs_field *cs_schema_field(const cs_schema *s, const char *seg, size_t len)
{
    for (size_t i = 0; i < s->count; i++)
        if (strlen(s->fields[i].key) == len && !strncmp(s->fields[i].key, seg, len))
            return &s->fields[i];
    return NULL;
}

const cs_field *cs_schema_resolve(cs_ctx *c, cs_yfile *f, yaml_node_t *where, const cs_schema *s,
                                  void **obj, const char *path, const char *full)
{
    for (;;) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        const cs_field *fd = cs_schema_field(s, path, len);
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

int cs_schema_override_one(cs_ctx *c, const cs_schema *s, void *obj, int i, const char *rest)
{
    cs_yfile *f = c->scenario_file;
    yaml_node_t *value = cs_yfile_node(f, c->overrides[i].node);
    void *at = obj;
    const cs_field *fd = cs_schema_resolve(c, f, value, s, &at, rest, c->overrides[i].path);
    return fd && cs_schema_apply_field(c, f, fd, value, at) == 0 ? 0 : -1;
}

/* Paths of a block its loader applies itself: PREFIX.base, before the
 * block's keys (config_scenario.c), and the keys of a price block below it
 * (cs_cost_overrides), whose rules bind its keys together. */
static int applied_elsewhere(const cs_schema *s, const char *rest)
{
    if (!strcmp(rest, "base"))
        return 1;
    const char *dot = strchr(rest, '.');
    const cs_field *fd = dot ? cs_schema_field(s, rest, (size_t)(dot - rest)) : NULL;
    return fd && fd->type == F_CUSTOM && fd->sub == &cs_cost_schema;
}

int cs_schema_overrides(cs_ctx *c, const char *prefix, const cs_schema *s, void *obj)
{
    int rc = 0;
    size_t plen = strlen(prefix);
    for (int i = 0; i < c->override_count; i++) {
        const char *path = c->overrides[i].path;
        if (!strncmp(path, prefix, plen) && path[plen] == '.' &&
            !applied_elsewhere(s, path + plen + 1) &&
            cs_schema_override_one(c, s, obj, i, path + plen + 1) != 0)
            rc = -1;
    }
    return rc;
}

int cs_schema_get(const cs_schema *s, const void *obj, const char *path, char *buf, size_t len)
{
    const char *base = obj;
    for (;;) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        const cs_field *fd = cs_schema_field(s, path, n);
        if (!fd)
            return -1;
        if (dot) {
            if (fd->type != F_SUB)
                return -1;
            base += fd->off;
            s = fd->sub;
            path = dot + 1;
            continue;
        }
        const void *at = base + fd->off;
        switch (fd->type) {
        case F_INT: {
            long v = *(const long *)at;
            if (v < 0)
                return 1;
            snprintf(buf, len, "%ld", v);
            return 0;
        }
        case F_BOOL: {
            int v = *(const int *)at;
            if (v < 0)
                return 1;
            snprintf(buf, len, "%s", v ? "true" : "false");
            return 0;
        }
        case F_ENUM: {
            int v = *(const int *)at;
            if (v < 0)
                return 1;
            snprintf(buf, len, "%s", fd->choices[v]);
            return 0;
        }
        case F_QTY: {
            double v = *(const double *)at;
            if (v < 0)
                return 1;
            cs_exact_number(buf, len, v);
            return 0;
        }
        default:
            return -1;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Listing every key                                                         */

static void walk_keys(const cs_schema *s, const char *prefix, cs_key_fn fn, void *arg)
{
    for (size_t i = 0; i < s->count; i++) {
        const cs_field *fd = &s->fields[i];
        char path[256];
        if (snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", fd->key) >=
            (int)sizeof path)
            continue; /* no schema nests that deep */
        fn(path, arg);
        if (fd->sub)
            walk_keys(fd->sub, path, fn, arg);
    }
}

void cs_config_keys(cs_key_fn fn, void *arg) { walk_keys(&cs_scenario_schema, "", fn, arg); }
