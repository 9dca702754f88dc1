#include "model/check.h"

#include <stdlib.h>
#include <string.h>

static int check_one(const cs_scenario *s, const cs_layout *l, cs_layout_verdict *r)
{
    memset(r, 0, sizeof *r);
    r->layout = l;
    cs_diags_init(&r->problems);
    r->valid = cs_layout_check(s, l, &r->sizes, &r->problems) == 0;
    if (!r->valid)
        return 0;
    r->stage_totals = calloc((size_t)r->sizes.pp, sizeof *r->stage_totals);
    if (!r->stage_totals)
        return -1;
    for (long stage = 0; stage < r->sizes.pp; stage++) {
        cs_memory_breakdown b;
        cs_memory_stage(s, &r->sizes, stage, &b);
        r->stage_totals[stage] = b.total;
    }
    r->peak_stage = cs_memory_peak(s, &r->sizes, &r->peak);
    r->has_memory = 1;
    r->memory_fits = r->peak.total <= s->cluster.gpu.memory;
    return 0;
}

int cs_check_scenario(const cs_scenario *s, cs_check *out)
{
    memset(out, 0, sizeof *out);
    out->scenario = s;
    cs_model_params(&s->model, &out->params);
    out->layouts = calloc(s->layout_count, sizeof *out->layouts);
    if (!out->layouts)
        return -1;
    out->count = s->layout_count;
    out->all_valid = 1;
    for (size_t i = 0; i < s->layout_count; i++) {
        if (check_one(s, &s->layouts[i], &out->layouts[i]) != 0)
            return -1;
        out->all_valid &= out->layouts[i].valid;
    }
    return 0;
}

void cs_check_free(cs_check *c)
{
    for (size_t i = 0; i < c->count; i++) {
        cs_diags_free(&c->layouts[i].problems);
        free(c->layouts[i].stage_totals);
    }
    free(c->layouts);
    memset(c, 0, sizeof *c);
}
