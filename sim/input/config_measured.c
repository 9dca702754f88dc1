/* config_measured: the measured: block of a validation scenario, a published
 * figure the scenario reproduces (see validation/README.md). */
#include "input/schema.h"

#include <math.h>
#include <string.h>

/* A text of at most size - 1 characters into out; `what` says what it is for. */
static int text(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const char *key, const char *what,
                char *out, size_t size)
{
    const char *t = cs_ynode_text(n);
    if (!t || !*t || cs_ynode_is_null(n)) {
        REPORT(c, f, n, "'%s' must %s", key, what);
        return -1;
    }
    if (strlen(t) >= size) {
        REPORT(c, f, n, "'%s' is longer than %zu characters", key, size - 1);
        return -1;
    }
    strcpy(out, t);
    return 0;
}

static int source(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_measured *m = obj;
    return text(c, f, n, "source", "say where the figure comes from", m->source,
                sizeof m->source);
}

static int open_gap(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_measured *m = obj;
    return text(c, f, n, "open", "say what the model is known to miss", m->open, sizeof m->open);
}

static const cs_field measured_fields[] = {
    CUSTOM("source", source),
    NAME(cs_measured, layout),
    QTY(cs_measured, iteration_time, CS_UNIT_TIME, POSITIVE),
    QTY(cs_measured, throughput, CS_UNIT_THROUGHPUT, POSITIVE),
    QTY(cs_measured, model_tflops_per_gpu, CS_UNIT_COMPUTE, POSITIVE),
    QTY(cs_measured, tolerance, CS_UNIT_RATIO, POSITIVE),
    CUSTOM("open", open_gap),
};
const cs_schema cs_measured_schema = {"measured", measured_fields, COUNT(measured_fields)};

int cs_measured_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_measured *m = &((cs_scenario *)obj)->measured;
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'measured' must be a mapping, got %s", cs_ynode_describe(n));
        return -1;
    }
    memset(m, 0, sizeof *m);
    m->iteration_time = m->throughput = m->model_tflops_per_gpu = m->tolerance = NAN;
    m->present = 1;
    m->loc = cs_yfile_loc(f, n);
    if (cs_schema_apply(c, f, n, &cs_measured_schema, m) != 0)
        return -1;
    int metrics =
        !isnan(m->iteration_time) + !isnan(m->throughput) + !isnan(m->model_tflops_per_gpu);
    if (metrics != 1) {
        REPORT(c, f, n,
               "'measured' needs exactly one of iteration_time, throughput and "
               "model_tflops_per_gpu, got %d",
               metrics);
        return -1;
    }
    if (!m->source[0] || isnan(m->tolerance)) {
        REPORT(c, f, n, "'measured' needs a source and a tolerance");
        return -1;
    }
    yaml_node_t *v = cs_ymap_get(f, n, "throughput");
    cs_quantity q;
    char err[128];
    if (v && cs_ynode_text(v) &&
        cs_units_parse(cs_ynode_text(v), CS_UNIT_THROUGHPUT, &q, err, sizeof err) == 0)
        m->throughput_per = q.per;
    return 0;
}
