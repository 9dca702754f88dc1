/* schema: the table-driven engine under the document loaders (internal to
 * sim/input/; only config_*.c include it).
 *
 * A document kind is a cs_schema: a list of keys, each with its type (integer,
 * boolean, choice, quantity with a unit, name, nested mapping, efficiency
 * table, or a custom parser), where its value goes in the target struct, and
 * flags (required, positive, nullable, at most 1). cs_schema_apply() checks a
 * YAML mapping against a schema and writes every value, reporting every
 * problem as a positioned diagnostic; unknown keys get a "did you mean".
 * Key paths ("cluster.scale_out.nic_bandwidth") resolve through the same
 * tables, which is how sweep points override values and how the docs test
 * lists every key the loader accepts. */
#ifndef CS_INPUT_SCHEMA_H
#define CS_INPUT_SCHEMA_H

#include <limits.h>
#include <stddef.h>

#include "input/config.h"

#define UNSET_INT LONG_MIN
#define MAX_BASE_DEPTH 16

typedef enum { KIND_MODEL, KIND_CLUSTER } cs_doc_kind;

/* What one load carries through the loaders. */
typedef struct cs_ctx {
    const cs_paths *paths;
    cs_sources *sources;
    cs_diags *diags;
    char *chain[MAX_BASE_DEPTH]; /* canonical paths of files being loaded */
    int depth;
    const cs_override *overrides; /* sweep point values, applied before completion */
    int override_count;
    cs_yfile *scenario_file; /* where override value nodes live */
} cs_ctx;

typedef enum { F_INT, F_BOOL, F_ENUM, F_QTY, F_NAME, F_SUB, F_TABLE, F_CUSTOM, F_IGNORE } cs_ftype;

enum {
    REQUIRED = 1, /* must be set once all bases are applied */
    POSITIVE = 2, /* quantities: > 0 */
    NULLABLE = 4, /* null means 0 (capacity_factor: null = dropless) */
    AT_MOST_1 = 8, /* ratios */
    NONNEG = 16    /* quantities: >= 0 (a latency, a cap where 0 means none) */
};

struct cs_schema;
typedef int (*cs_custom_fn)(cs_ctx *c, cs_yfile *f, yaml_node_t *node, void *obj);

/* One key of a mapping schema. A custom key may name the schema its value
 * follows in `sub`, so that key listings reach below it. */
typedef struct cs_field {
    const char *key;
    cs_ftype type;
    size_t off;
    unsigned flags;
    long min;                    /* F_INT */
    cs_unit_kind unit;           /* F_QTY */
    const char *const *choices;  /* F_ENUM, NULL-terminated */
    const struct cs_schema *sub; /* F_SUB; F_CUSTOM: what it parses, if a mapping */
    cs_custom_fn custom;         /* F_CUSTOM */
    size_t loc_off;              /* where to record the value's position, or 0 */
} cs_field;

typedef struct cs_schema {
    const char *what; /* "model", "gpu", ... for messages */
    const cs_field *fields;
    size_t count;
} cs_schema;

#define NO_LOC 0
#define COUNT(a) (sizeof(a) / sizeof *(a))
#define INT(T, k, m, fl)                                                                           \
    {                                                                                              \
#k, F_INT, offsetof(T, k), fl, m, 0, NULL, NULL, NULL, NO_LOC                              \
    }
#define INTL(T, k, m, fl, l)                                                                       \
    {                                                                                              \
#k, F_INT, offsetof(T, k), fl, m, 0, NULL, NULL, NULL, offsetof(T, l)                      \
    }
#define BOOL(T, k)                                                                                 \
    {                                                                                              \
#k, F_BOOL, offsetof(T, k), 0, 0, 0, NULL, NULL, NULL, NO_LOC                              \
    }
#define ENUM(T, k, ch)                                                                             \
    {                                                                                              \
#k, F_ENUM, offsetof(T, k), 0, 0, 0, ch, NULL, NULL, NO_LOC                                \
    }
#define QTY(T, k, u, fl)                                                                           \
    {                                                                                              \
#k, F_QTY, offsetof(T, k), fl, 0, u, NULL, NULL, NULL, NO_LOC                              \
    }
#define NAME(T, k)                                                                                 \
    {                                                                                              \
#k, F_NAME, offsetof(T, k), 0, 0, 0, NULL, NULL, NULL, NO_LOC                              \
    }
#define TABLE(T, k)                                                                                \
    {                                                                                              \
#k, F_TABLE, offsetof(T, k), 0, 0, 0, NULL, NULL, NULL, NO_LOC                             \
    }
#define SUB(T, k, s)                                                                               \
    {                                                                                              \
#k, F_SUB, offsetof(T, k), 0, 0, 0, NULL, &s, NULL, NO_LOC                                 \
    }
#define CUSTOM(k, fn)                                                                              \
    {                                                                                              \
        k, F_CUSTOM, 0, 0, 0, 0, NULL, NULL, fn, NO_LOC                                            \
    }
#define CUSTOM_OF(k, fn, s)                                                                        \
    {                                                                                              \
        k, F_CUSTOM, 0, 0, 0, 0, NULL, &s, fn, NO_LOC                                              \
    }
#define IGNORE(k)                                                                                  \
    {                                                                                              \
        k, F_IGNORE, 0, 0, 0, 0, NULL, NULL, NULL, NO_LOC                                          \
    }

/* The value at key `path` below schema s in obj (nested mappings by dots) as
 * YAML writes it: 0; 1 when the field holds its "not given" mark (a
 * negative count, choice or switch, or a negative ratio); -1 when the path
 * names no integer, switch, choice or quantity. Quantities are in their
 * unit's base (ratios as fractions). */
int cs_schema_get(const cs_schema *s, const void *obj, const char *path, char *buf, size_t len);

#define REPORT(c, f, node, ...) cs_yfile_report((f), (c)->diags, CS_ERROR, (node), __VA_ARGS__)

/* The schemas of each document kind and block (config_*.c). */
extern const cs_schema cs_model_schema, cs_moe_schema, cs_mla_schema;
extern const cs_schema cs_cluster_schema, cs_collectives_schema, cs_op_efficiency_schema,
    cs_host_schema;
extern const cs_schema cs_training_schema, cs_layout_schema, cs_targets_schema;
extern const cs_schema cs_routing_schema, cs_attention_schema;
extern const cs_schema cs_sweep_schema, cs_uncertainty_schema, cs_stragglers_schema;
extern const cs_schema cs_cost_schema, cs_measured_schema;
extern const cs_schema cs_scenario_schema, cs_search_schema;

/* The names of cs_schedule and cs_recompute, NULL-terminated. */
extern const char *const cs_schedule_choices[], *const cs_recompute_choices[];
extern const char *const cs_precision_choices[];
/* cp_comm_type's names, cs_cp_comm's order, then "allgather" (all_gather) */
extern const char *const cs_cp_comm_choices[];

/* Scalars: each reports a positioned error and returns -1 when the node is
 * not what `key` wants. */
int cs_parse_int(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, long min, long *out);
int cs_parse_bool(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, int *out);
int cs_parse_enum(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key,
                  const char *const *choices, int *out);
int cs_parse_qty(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, cs_unit_kind unit,
                 unsigned flags, cs_quantity *q);
int cs_parse_name(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, char *out);
/* A set of choices, one name or a list of at least `min` (none twice), as
 * a bit per choice; `choices` NULL: booleans (bit 0 false, bit 1 true). */
int cs_parse_choices(cs_ctx *c, cs_yfile *f, yaml_node_t *n, long min, const char *key,
                     const char *const *choices, unsigned *out);

/* Applies every key of `map` to obj, on top of what obj already holds (its
 * defaults, or a base). Reports every problem; returns -1 if there was one. */
int cs_schema_apply(cs_ctx *c, cs_yfile *f, yaml_node_t *map, const cs_schema *s, void *obj);

/* Applies one value to the field it belongs to. */
int cs_schema_apply_field(cs_ctx *c, cs_yfile *f, const cs_field *fd, yaml_node_t *v, void *obj);

/* Reports required fields still unset after all layers were applied. */
int cs_schema_check_required(cs_ctx *c, const cs_schema *s, const void *obj, cs_loc where,
                             const cs_yfile *f);

/* The field of s named by the first `len` characters of seg, or NULL. */
const cs_field *cs_schema_field(const cs_schema *s, const char *seg, size_t len);

/* Resolves `path` within schema s: the field it names and, through *obj when
 * given, the struct holding it. Reports a positioned error at `where` (naming
 * the whole path `full`) when it does not resolve. */
const cs_field *cs_schema_resolve(cs_ctx *c, cs_yfile *f, yaml_node_t *where, const cs_schema *s,
                                  void **obj, const char *path, const char *full);

/* Applies override i (its path minus the prefix is `rest`) to obj. */
int cs_schema_override_one(cs_ctx *c, const cs_schema *s, void *obj, int i, const char *rest);

/* Applies every override whose path starts with `prefix.` to obj. */
int cs_schema_overrides(cs_ctx *c, const char *prefix, const cs_schema *s, void *obj);

/* Reports an unknown key of block `what`, with a near miss among keys. */
void cs_report_unknown(cs_ctx *c, cs_yfile *f, yaml_node_t *kn, const char *what,
                       const char *const *keys);

/* Document kinds (config_model.c, config_cluster.c): defaults before any
 * file is applied, and completion (required keys, derived values, coherence)
 * once every base and override is in. */
void cs_model_defaults(cs_model *m);
int cs_model_finish(cs_ctx *c, cs_model *m);
void cs_cluster_defaults(cs_cluster *k);
int cs_cluster_finish(cs_ctx *c, cs_cluster *k);

/* Blocks of the scenario (custom fields of cs_scenario_schema; obj is the
 * cs_scenario): config_training.c and config_study.c. */
int cs_training_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
int cs_layouts_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
int cs_targets_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
int cs_sweep_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
int cs_uncertainty_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
int cs_cost_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
/* A cost: or price: mapping (gpu_hour, or purchase with lifetime) into k. */
int cs_parse_cost(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, cs_cost_config *k);
/* A sweep point's values for the keys of the price block at PREFIX ("cost",
 * "cluster.price"), put into k (a block the file lacks starts empty), then
 * the block's rules checked again, at the last swept value. */
int cs_cost_overrides(cs_ctx *c, const char *prefix, cs_cost_config *k);
int cs_measured_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
int cs_search_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
void cs_training_defaults(cs_training *t);

/* References (config_ref.c): applies a path or preset name (scalar) or a
 * base + keys mapping `n` of file f onto obj. */
int cs_ref_load(cs_ctx *c, cs_yfile *f, yaml_node_t *n, cs_doc_kind kind, void *obj);

/* Loads a file and keeps it in the sources. NULL on failure (reported). */
cs_yfile *cs_ctx_open(cs_ctx *c, const char *path);

/* Keeps an already loaded file in the sources. Returns 0 or -1. */
int cs_ctx_add_source(cs_ctx *c, cs_yfile *f);

/* The loaded file a position points into, or NULL. */
cs_yfile *cs_ctx_file_of(cs_ctx *c, cs_loc loc);

/* Reports a positioned error at loc (a value of any loaded file); returns -1. */
int cs_ctx_error(cs_ctx *c, cs_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* search: what it asks of the rest of the scenario (config_search.c). */
int cs_search_consistent(cs_ctx *c, const cs_scenario *s);
void cs_search_defaults(cs_search_config *k);

/* The file's base name without its extension: "qwen1.5-moe.json" -> "qwen1.5-moe". */
void cs_name_from_path(char name[CS_NAME_MAX], const char *path);

#endif
