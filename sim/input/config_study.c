/* config_study: the scenario blocks of studies over many replays: sweep:
 * (key paths and their lists of values), uncertainty: (kernel jitter and
 * stragglers) and cost: (money per GPU-hour or per purchased GPU). */
#include "input/schema.h"

#include <string.h>

/* Whether a sweep path names something a point can change. */
static int check_sweep_path(cs_ctx *c, cs_yfile *f, yaml_node_t *where, const char *path)
{
    static const struct {
        const char *prefix;
        const cs_schema *s;
    } roots[] = {{"model.", &cs_model_schema},
                 {"cluster.", &cs_cluster_schema},
                 {"training.", &cs_training_schema},
                 {"targets.", &cs_targets_schema}};
    if (!strcmp(path, "cluster.base") || !strcmp(path, "model.base"))
        return 0; /* a preset or file each: the hardware or the model as a what-if */
    if (!strcmp(path, "cluster.price") || !strcmp(path, "cost")) {
        REPORT(c, f, where, "'%s': a sweep varies a price key by key, e.g. '%s.gpu_hour'", path,
               path);
        return -1;
    }
    if (!strncmp(path, "cost.", 5))
        return cs_schema_resolve(c, f, where, &cs_cost_schema, NULL, path + 5, path) ? 0 : -1;
    if (!strncmp(path, "cluster.price.", 14)) {
        yaml_node_t *root = cs_yfile_root(f);
        if (root && root->type == YAML_MAPPING_NODE && cs_ymap_get(f, root, "cost")) {
            REPORT(c, f, where,
                   "'%s' changes nothing: the scenario's cost: takes the place of the "
                   "cluster's price (sweep 'cost.%s')",
                   path, path + 14);
            return -1;
        }
        return cs_schema_resolve(c, f, where, &cs_cost_schema, NULL, path + 14, path) ? 0 : -1;
    }
    for (size_t i = 0; i < COUNT(roots); i++) {
        size_t n = strlen(roots[i].prefix);
        if (!strncmp(path, roots[i].prefix, n))
            return cs_schema_resolve(c, f, where, roots[i].s, NULL, path + n, path) ? 0 : -1;
    }
    if (!strncmp(path, "layouts.", 8)) {
        const char *rest = path + 8, *dot = strchr(rest, '.');
        return cs_schema_resolve(c, f, where, &cs_layout_schema, NULL, dot ? dot + 1 : rest, path)
                   ? 0
                   : -1;
    }
    if (!strcmp(path, "network_model") || !strcmp(path, "seed"))
        return 0;
    REPORT(c, f, where,
           "'%s' is not a key path a sweep can change (model.*, cluster.*, training.*, "
           "layouts.*, targets.*, cost.*, network_model, seed; cluster.base and model.base "
           "name presets)",
           path);
    return -1;
}

/* Whether path and an earlier parameter vary both the cost and the
 * cluster's price (the one would hide the other). */
static int mixes_prices(const cs_sweep *sw, const char *path)
{
    int cost = !strncmp(path, "cost.", 5), price = !strncmp(path, "cluster.price.", 14);
    for (int i = 0; i < sw->param_count && (cost || price); i++)
        if ((cost && !strncmp(sw->params[i].path, "cluster.price.", 14)) ||
            (price && !strncmp(sw->params[i].path, "cost.", 5)))
            return 1;
    return 0;
}

static int sweep_parameters(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_sweep *sw = obj;
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'parameters' must map key paths to lists of values");
        return -1;
    }
    int rc = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = cs_yfile_node(f, p->key), *vn = cs_yfile_node(f, p->value);
        const char *path = cs_ynode_text(kn);
        if (!path || strlen(path) >= sizeof sw->params[0].path) {
            REPORT(c, f, kn,
                   "a sweep parameter must be a key path such as "
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
        if (mixes_prices(sw, path)) {
            REPORT(c, f, kn,
                   "'%s': the sweep varies both cost.* and cluster.price.*; without a cost: "
                   "block the cluster's price becomes the cost, and cost.* is put on top, so "
                   "sweep one of the two",
                   path);
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

static int sweep_layouts(cs_ctx *c, cs_yfile *f, yaml_node_t *vn, void *obj)
{
    cs_sweep *sw = obj;
    long count = vn->type == YAML_SEQUENCE_NODE
                     ? (long)(vn->data.sequence.items.top - vn->data.sequence.items.start)
                     : -1;
    if (count < 1 || count > CS_SWEEP_MAX_LAYOUTS) {
        REPORT(c, f, vn, "'layouts' must list 1 to %d layout names", CS_SWEEP_MAX_LAYOUTS);
        return -1;
    }
    int rc = 0;
    for (long i = 0; i < count; i++)
        if (cs_parse_name(c, f, cs_yfile_node(f, vn->data.sequence.items.start[i]), "layouts",
                          sw->layouts[sw->layout_count++]) != 0)
            rc = -1;
    return rc;
}

static const char *const sweep_modes[] = {"grid", "zip", NULL};

static const cs_field sweep_fields[] = {
    ENUM(cs_sweep, mode, sweep_modes),
    CUSTOM("parameters", sweep_parameters),
    CUSTOM("layouts", sweep_layouts),
    INT(cs_sweep, repeats, 1, 0),
};
const cs_schema cs_sweep_schema = {"sweep", sweep_fields, COUNT(sweep_fields)};

/* The sweep: block, checked whole: something to vary, and zip lists of one
 * length. */
int cs_sweep_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_sweep *sw = &((cs_scenario *)obj)->sweep;
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'sweep' must be a mapping, got %s", cs_ynode_describe(n));
        return -1;
    }
    memset(sw, 0, sizeof *sw);
    sw->present = 1;
    sw->repeats = 1;
    sw->loc = cs_yfile_loc(f, n);
    int rc = cs_schema_apply(c, f, n, &cs_sweep_schema, sw);
    if (rc == 0 && sw->param_count == 0 && sw->repeats <= 1) {
        REPORT(c, f, n, "the sweep has no parameters and no repeats");
        rc = -1;
    }
    /* Points x repeats, checked as they multiply: a million replays is
     * beyond any sweep worth running here. */
    long points = 1, limit = CS_SWEEP_MAX_REPLAYS;
    for (int i = 0; rc == 0 && sw->mode != CS_SWEEP_ZIP && i < sw->param_count; i++)
        if (__builtin_mul_overflow(points, sw->params[i].count, &points) || points > limit)
            points = limit + 1;
    if (rc == 0 && sw->mode == CS_SWEEP_ZIP && sw->param_count > 0)
        points = sw->params[0].count;
    if (rc == 0 && (points > limit || sw->repeats > limit / points)) {
        REPORT(c, f, n,
               "the sweep asks for more than %ld replays (points x repeats); split it into "
               "several sweeps",
               limit);
        rc = -1;
    }
    for (int i = 1; rc == 0 && sw->mode == CS_SWEEP_ZIP && i < sw->param_count; i++)
        if (sw->params[i].count != sw->params[0].count) {
            cs_diags_add(c->diags, CS_ERROR, sw->params[i].loc, f->text, f->len,
                         "zip sweeps need lists of one length: '%s' has %ld values, '%s' %ld",
                         sw->params[i].path, sw->params[i].count, sw->params[0].path,
                         sw->params[0].count);
            rc = -1;
        }
    return rc;
}

static const cs_field stragglers_fields[] = {
    QTY(cs_stragglers, probability, CS_UNIT_RATIO, AT_MOST_1),
    QTY(cs_stragglers, slowdown, CS_UNIT_RATIO, POSITIVE),
};
const cs_schema cs_stragglers_schema = {"stragglers", stragglers_fields, COUNT(stragglers_fields)};

static int stragglers(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_stragglers *st = &((cs_uncertainty *)obj)->stragglers;
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'stragglers' must be { probability: ..., slowdown: ... }");
        return -1;
    }
    if (cs_schema_apply(c, f, n, &cs_stragglers_schema, st) != 0)
        return -1;
    if (!st->probability || !st->slowdown) {
        REPORT(c, f, n, "'stragglers' needs probability and slowdown");
        return -1;
    }
    if (st->slowdown < 1) {
        REPORT(c, f, cs_ymap_get(f, n, "slowdown"), "'slowdown' must be a factor of 1 or more");
        return -1;
    }
    return 0;
}

static const cs_field uncertainty_fields[] = {
    QTY(cs_uncertainty, compute_jitter, CS_UNIT_RATIO, AT_MOST_1),
    CUSTOM_OF("stragglers", stragglers, cs_stragglers_schema),
};
const cs_schema cs_uncertainty_schema = {"uncertainty", uncertainty_fields,
                                         COUNT(uncertainty_fields)};

int cs_uncertainty_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_uncertainty *u = &((cs_scenario *)obj)->uncertainty;
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'uncertainty' must be a mapping, got %s", cs_ynode_describe(n));
        return -1;
    }
    return cs_schema_apply(c, f, n, &cs_uncertainty_schema, u);
}

static const cs_field cost_fields[] = {
    QTY(cs_cost_config, gpu_hour, CS_UNIT_MONEY, POSITIVE),
    QTY(cs_cost_config, purchase, CS_UNIT_MONEY, POSITIVE),
    QTY(cs_cost_config, lifetime, CS_UNIT_TIME, POSITIVE),
    QTY(cs_cost_config, nic, CS_UNIT_MONEY, NONNEG), /* 0: in the purchase */
    QTY(cs_cost_config, switch_port, CS_UNIT_MONEY, NONNEG),
    QTY(cs_cost_config, power, CS_UNIT_POWER, POSITIVE),
    QTY(cs_cost_config, energy, CS_UNIT_ENERGY_PRICE, POSITIVE),
};
const cs_schema cs_cost_schema = {"cost", cost_fields, COUNT(cost_fields)};

/* cost: one way of paying: per GPU-hour, or a purchase written off over a
 * lifetime. */
int cs_cost_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    return cs_parse_cost(c, f, n, "cost", &((cs_scenario *)obj)->cost);
}

/* The cost: keys, as cost_fields orders them. */
enum { K_GPU_HOUR, K_PURCHASE, K_LIFETIME, K_NIC, K_SWITCH_PORT, K_POWER, K_ENERGY, K_COUNT };
_Static_assert(COUNT(cost_fields) == K_COUNT, "cost_fields and the K_ keys go together");

/* Where a rule is reported: at the first of keys a and b whose value a sweep
 * point gave (at, NULL in a file), else at n. */
static yaml_node_t *rule_at(yaml_node_t *const *at, yaml_node_t *n, int a, int b)
{
    return at && at[a] ? at[a] : at && b >= 0 && at[b] ? at[b] : n;
}

/* The rules of one way of paying, reported at n or at the swept key a rule
 * names. */
static int cost_rules(cs_ctx *c, cs_yfile *f, yaml_node_t *n, yaml_node_t *const *at,
                      const cs_cost_config *k)
{
    if (!k->gpu_hour == !k->purchase) {
        REPORT(c, f, rule_at(at, n, K_PURCHASE, K_GPU_HOUR),
               "give either gpu_hour, or purchase with lifetime");
        return -1;
    }
    if (k->purchase && !k->lifetime) {
        REPORT(c, f, rule_at(at, n, K_PURCHASE, -1),
               "a purchase price needs a lifetime, e.g. 'lifetime: 4 years'");
        return -1;
    }
    /* A GPU-hour price is all in; what one owns is paid for piece by piece. */
    if (k->gpu_hour && (k->nic || k->switch_port || k->power || k->energy)) {
        /* the first swept key that prices something (0 prices nothing) */
        int extra = at && at[K_NIC] && k->nic                   ? K_NIC
                    : at && at[K_SWITCH_PORT] && k->switch_port ? K_SWITCH_PORT
                    : at && at[K_POWER] && k->power             ? K_POWER
                                                                : K_ENERGY;
        REPORT(c, f, rule_at(at, n, extra, K_GPU_HOUR),
               "nic, switch_port, power and energy price a purchase: a gpu_hour "
               "price includes them");
        return -1;
    }
    if (!k->power != !k->energy) {
        REPORT(c, f, rule_at(at, n, K_POWER, K_ENERGY),
               "power and energy go together: the watts a GPU draws and what a kWh "
               "costs");
        return -1;
    }
    return 0;
}

int cs_parse_cost(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, cs_cost_config *k)
{
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'%s' must be a mapping, got %s", key, cs_ynode_describe(n));
        return -1;
    }
    *k = (cs_cost_config){0}; /* a base's price is replaced, not merged */
    k->present = 1;
    if (cs_schema_apply(c, f, n, &cs_cost_schema, k) != 0)
        return -1;
    return cost_rules(c, f, n, NULL, k);
}

int cs_cost_overrides(cs_ctx *c, const char *prefix, cs_cost_config *k)
{
    size_t plen = strlen(prefix);
    yaml_node_t *last = NULL, *at[K_COUNT] = {0};
    int rc = 0;
    for (int i = 0; i < c->override_count; i++) {
        const char *path = c->overrides[i].path;
        if (strncmp(path, prefix, plen) || path[plen] != '.')
            continue;
        if (!k->present) /* a price swept into a scenario that had none */
            *k = (cs_cost_config){.present = 1};
        if (cs_schema_override_one(c, &cs_cost_schema, k, i, path + plen + 1) != 0)
            rc = -1;
        last = cs_yfile_node(c->scenario_file, c->overrides[i].node);
        const cs_field *fd = cs_schema_field(&cs_cost_schema, path + plen + 1,
                                             strlen(path + plen + 1));
        if (fd)
            at[fd - cost_fields] = last;
    }
    return rc == 0 && last ? cost_rules(c, c->scenario_file, last, at, k) : rc;
}

int cs_scenario_draws(const cs_scenario *s)
{
    return s->uncertainty.compute_jitter > 0 || s->uncertainty.stragglers.probability > 0 ||
           (s->model.moe.num_experts > 0 && s->training.moe_routing.mode != CS_ROUTING_BALANCED);
}
