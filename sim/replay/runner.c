#include "replay/runner.h"

#include <stdlib.h>
#include <string.h>

int cs_run_scenario(const cs_scenario *s, cs_network_model model, unsigned long seed,
                    const cs_run_options *o, cs_run *out)
{
    memset(out, 0, sizeof *out);
    out->network_model = model;
    out->seed = seed;
    if (cs_check_scenario(s, &out->check) != 0)
        return -1;
    out->layouts = calloc(s->layout_count, sizeof *out->layouts);
    if (!out->layouts)
        return -1;
    out->count = s->layout_count;
    for (size_t i = 0; i < s->layout_count; i++) {
        cs_layout_run *r = &out->layouts[i];
        r->verdict = &out->check.layouts[i];
        if (!r->verdict->valid)
            continue;
        out->valid++;
        const cs_layout_sizes *z = &r->verdict->sizes;
        cs_capture *capture = NULL;
        if (o && o->capture) {
            if (cs_capture_init(&r->capture, &s->layouts[i], z, o->gpus, o->gpu_count) != 0)
                return -3;
            r->captured = 1;
            capture = &r->capture;
        }
        if (cs_replay_capture(s, &s->layouts[i], z, model, seed, &r->result, capture) != 0)
            return -1;
        r->replayed = 1;
    }
    return 0;
}

void cs_run_free(cs_run *r)
{
    for (size_t i = 0; i < r->count; i++) {
        cs_replay_result_free(&r->layouts[i].result);
        if (r->layouts[i].captured)
            cs_capture_free(&r->layouts[i].capture);
    }
    free(r->layouts);
    cs_check_free(&r->check);
    memset(r, 0, sizeof *r);
}
