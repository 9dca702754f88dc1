/* config_scenario: the scenario document that ties a model, a cluster,
 * training settings and layouts together, and the public loaders. Values of
 * a sweep point (overrides) are put at their key paths before each part is
 * completed, so a swept value is checked exactly like one in the file. */
#include "input/schema.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const network_choices[] = {"ideal", "analytic", "flow", NULL};

/* The model or cluster at n of file f, loaded into obj; a sweep point's
 * PREFIX.base (a preset or file) takes the place of the one the file names:
 * of its reference, or of its mapping's base, whose other keys then apply
 * on top of the swept base. */
static int ref_with_base(cs_ctx *c, cs_yfile *f, yaml_node_t *n, cs_doc_kind kind, void *obj,
                         const char *prefix)
{
    char want[32];
    snprintf(want, sizeof want, "%s.base", prefix);
    for (int i = 0; i < c->override_count; i++) {
        if (strcmp(c->overrides[i].path, want))
            continue;
        yaml_node_t *base = cs_yfile_node(c->scenario_file, c->overrides[i].node);
        if (cs_ref_load(c, c->scenario_file, base, kind, obj) != 0)
            return -1;
        if (n->type != YAML_MAPPING_NODE)
            return 0;
        const cs_schema *s = kind == KIND_MODEL ? &cs_model_schema : &cs_cluster_schema;
        return cs_schema_apply(c, f, n, s, obj);
    }
    return cs_ref_load(c, f, n, kind, obj);
}

static int model_ref_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_scenario *s = obj;
    cs_model_defaults(&s->model);
    if (ref_with_base(c, f, n, KIND_MODEL, &s->model, "model") != 0 ||
        cs_schema_overrides(c, "model", &cs_model_schema, &s->model) != 0)
        return -1;
    return cs_model_finish(c, &s->model);
}

static int cluster_ref_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_scenario *s = obj;
    cs_cluster_defaults(&s->cluster);
    if (ref_with_base(c, f, n, KIND_CLUSTER, &s->cluster, "cluster") != 0 ||
        cs_schema_overrides(c, "cluster", &cs_cluster_schema, &s->cluster) != 0 ||
        cs_cost_overrides(c, "cluster.price", &s->cluster.price) != 0)
        return -1;
    return cs_cluster_finish(c, &s->cluster);
}

static int model_ref_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
static int cluster_ref_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);

static const cs_field scenario_fields[] = {
    NAME(cs_scenario, name),
    CUSTOM_OF("model", model_ref_custom, cs_model_schema),
    CUSTOM_OF("cluster", cluster_ref_custom, cs_cluster_schema),
    CUSTOM_OF("training", cs_training_block, cs_training_schema),
    ENUM(cs_scenario, network_model, network_choices),
    INT(cs_scenario, seed, 0, 0),
    CUSTOM_OF("targets", cs_targets_block, cs_targets_schema),
    CUSTOM_OF("layouts", cs_layouts_block, cs_layout_schema),
    CUSTOM_OF("sweep", cs_sweep_block, cs_sweep_schema),
    CUSTOM_OF("uncertainty", cs_uncertainty_block, cs_uncertainty_schema),
    CUSTOM_OF("cost", cs_cost_block, cs_cost_schema),
    CUSTOM_OF("search", cs_search_block, cs_search_schema),
    CUSTOM_OF("measured", cs_measured_block, cs_measured_schema),
};
const cs_schema cs_scenario_schema = {"scenario", scenario_fields, COUNT(scenario_fields)};

static void scenario_defaults(cs_scenario *s)
{
    memset(s, 0, sizeof *s);
    cs_model_defaults(&s->model);
    cs_cluster_defaults(&s->cluster);
    cs_training_defaults(&s->training);
    s->network_model = CS_NET_FLOW;
    s->seed = 1;
    s->targets.iteration_time = s->targets.throughput = s->targets.memory_per_gpu = NAN;
    cs_search_defaults(&s->search);
}

static int check_scenario_keys(cs_ctx *c, cs_yfile *f, yaml_node_t *root, cs_scenario *s)
{
    /* A search: block finds layouts, so it may stand without them. */
    static const char *const required[] = {"model", "cluster", "training", "layouts"};
    int rc = 0;
    for (size_t i = 0; i < COUNT(required); i++)
        if (!cs_ymap_get(f, root, required[i]) &&
            !(!strcmp(required[i], "layouts") && cs_ymap_get(f, root, "search"))) {
            REPORT(c, f, root, "missing required key '%s' in scenario", required[i]);
            rc = -1;
        }
    return rc;
}

/* network_model, seed and targets.* of a sweep point. */
static int top_overrides(cs_ctx *c, cs_yfile *f, cs_scenario *s)
{
    int rc = 0;
    for (int i = 0; i < c->override_count; i++) {
        const char *path = c->overrides[i].path;
        yaml_node_t *value = cs_yfile_node(f, c->overrides[i].node);
        if (!strcmp(path, "network_model") || !strcmp(path, "seed")) {
            const cs_field *fd = cs_schema_field(&cs_scenario_schema, path, strlen(path));
            if (cs_schema_apply_field(c, f, fd, value, s) != 0)
                rc = -1;
        }
    }
    if (cs_schema_overrides(c, "targets", &cs_targets_schema, &s->targets) != 0)
        rc = -1;
    return rc;
}


/* FP8 settings that need the cluster or the layouts: MXFP8 only on a GPU
 * with MXFP8 tensor cores (Megatron: "'mxfp8' for Blackwell architecture
 * only"), and no more BF16 layers at either end than a pipeline stage holds
 * (transformer_config.py's check against num_layers / pp). */
static int fp8_consistent(cs_ctx *c, const cs_scenario *s)
{
    const cs_training *t = &s->training;
    int rc = 0;
    if (t->precision != CS_FP8)
        return 0;
    if (!s->cluster.gpu.fp8)
        rc = cs_ctx_error(c, t->loc,
                       "precision: fp8 needs FP8 tensor cores, and GPU '%s' has none "
                       "(cluster.gpu.fp8 is false)",
                       s->cluster.gpu.name);
    if (t->fp8_recipe == CS_FP8_MXFP8 && !s->cluster.gpu.mxfp8) {
        rc = cs_ctx_error(c, t->loc_fp8_recipe.line ? t->loc_fp8_recipe : t->loc,
                       "fp8_recipe: mxfp8 needs MXFP8 tensor cores (Blackwell), and GPU '%s' has "
                       "none (cluster.gpu.mxfp8 is false)",
                       s->cluster.gpu.name);
    }
    for (size_t i = 0; t->first_last_layers_bf16 && i < s->layout_count; i++) {
        const cs_layout *l = &s->layouts[i];
        long per_stage = l->pp > 0 ? s->model.num_layers / l->pp : s->model.num_layers;
        if (t->num_layers_at_start_in_bf16 > per_stage)
            rc = cs_ctx_error(c, l->loc_pp,
                           "num_layers_at_start_in_bf16 (%ld) must be at most the layers per "
                           "pipeline stage (%ld), as in Megatron",
                           t->num_layers_at_start_in_bf16, per_stage);
        if (t->num_layers_at_end_in_bf16 > per_stage)
            rc = cs_ctx_error(c, l->loc_pp,
                           "num_layers_at_end_in_bf16 (%ld) must be at most the layers per "
                           "pipeline stage (%ld), as in Megatron",
                           t->num_layers_at_end_in_bf16, per_stage);
    }
    return rc;
}

/* MoE switches of training: that depend on the model (Megatron's
 * TransformerConfig checks): one capacity factor, and padding needs one. */
static int moe_consistent(cs_ctx *c, const cs_scenario *s)
{
    const cs_training *t = &s->training;
    const cs_moe_config *m = &s->model.moe;
    int rc = 0;
    if (t->moe_expert_capacity_factor >= 0 && m->capacity_factor > 0 &&
        t->moe_expert_capacity_factor != m->capacity_factor)
        rc = cs_ctx_error(c, t->loc_moe_capacity,
                       "training.moe_expert_capacity_factor %g contradicts "
                       "model.moe.capacity_factor %g; give one of them",
                       t->moe_expert_capacity_factor, m->capacity_factor);
    if (t->moe_pad_expert_input_to_capacity && cs_moe_capacity_factor(&s->model, t) <= 0)
        rc = cs_ctx_error(c, t->loc_moe_pad,
                       "moe_pad_expert_input_to_capacity needs a capacity factor "
                       "(moe_expert_capacity_factor), as in Megatron");
    return rc;
}

/* Loads the scenario held by f (already parsed, kept in out->sources). */
static int load_scenario(cs_ctx *c, cs_yfile *f, cs_scenario *out)
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
    int rc = cs_schema_apply(c, f, root, &cs_scenario_schema, out);
    if (root->type == YAML_MAPPING_NODE && check_scenario_keys(c, f, root, out) != 0)
        rc = -1;
    if (top_overrides(c, f, out) != 0)
        rc = -1;
    /* Without a cost: of its own the scenario pays the cluster's price (so a
     * sweep over cluster.base prices each preset as itself). */
    if (!out->cost.present && out->cluster.price.present)
        out->cost = out->cluster.price;
    if (cs_cost_overrides(c, "cost", &out->cost) != 0)
        rc = -1;
    if (rc == 0 && (fp8_consistent(c, out) != 0 || moe_consistent(c, out) != 0 ||
                    cs_search_consistent(c, out) != 0))
        rc = -1;
    /* The name is the default output folder out/<name>/: it stays inside. */
    yaml_node_t *name = root->type == YAML_MAPPING_NODE ? cs_ymap_get(f, root, "name") : NULL;
    if (name && (strchr(out->name, '/') || out->name[0] == '.')) {
        REPORT(c, f, name, "scenario name '%s' may not contain '/' or start with '.' (it names "
                           "the output folder out/<name>/)",
               out->name);
        rc = -1;
    }
    free(canon);
    if (!out->name[0])
        cs_name_from_path(out->name, f->path);
    return rc == 0 && c->diags->errors == before ? 0 : -1;
}

int cs_scenario_load(const char *path, const cs_paths *paths, cs_scenario *out, cs_diags *d)
{
    return cs_scenario_load_with(path, paths, NULL, 0, out, d);
}

int cs_scenario_load_with(const char *path, const cs_paths *paths, const cs_override *o, int count,
                          cs_scenario *out, cs_diags *d)
{
    scenario_defaults(out);
    cs_ctx c = {.paths = paths,
                .sources = &out->sources,
                .diags = d,
                .overrides = o,
                .override_count = count};
    return load_scenario(&c, cs_ctx_open(&c, path), out);
}

int cs_scenario_load_text(const char *name, const char *text, size_t len, const cs_paths *paths,
                          cs_scenario *out, cs_diags *d)
{
    scenario_defaults(out);
    cs_ctx c = {.paths = paths, .sources = &out->sources, .diags = d};
    cs_yfile *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    int rc = cs_yfile_load_buffer(f, name, text, len, d);
    if (cs_ctx_add_source(&c, f) != 0) {
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

const char *cs_network_model_name(cs_network_model n) { return network_choices[n]; }
