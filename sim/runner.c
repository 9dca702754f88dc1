#include "runner.h"

#include <stdlib.h>
#include <string.h>

int cs_run_scenario(const cs_scenario *s, cs_network_model model, unsigned long seed,
                    cs_run *out)
{
    memset(out, 0, sizeof *out);
    out->network_model = model;
    out->seed = seed;
    if (cs_validate(s, &out->validation) != 0)
        return -1;
    out->layouts = calloc(s->layout_count, sizeof *out->layouts);
    if (!out->layouts)
        return -1;
    out->count = s->layout_count;
    for (size_t i = 0; i < s->layout_count; i++) {
        cs_layout_run *r = &out->layouts[i];
        r->verdict = &out->validation.layouts[i];
        if (!r->verdict->valid)
            continue;
        out->valid++;
        if (cs_replay(s, &s->layouts[i], &r->verdict->sizes, model, seed, &r->result) != 0)
            return -1;
        r->replayed = 1;
    }
    return 0;
}

void cs_run_free(cs_run *r)
{
    for (size_t i = 0; i < r->count; i++)
        cs_replay_result_free(&r->layouts[i].result);
    free(r->layouts);
    cs_validation_free(&r->validation);
    memset(r, 0, sizeof *r);
}
