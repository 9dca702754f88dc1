#include "replay/runner.h"

#include <stdlib.h>
#include <string.h>

double cs_flow_check_gap(const cs_layout_run *r)
{
    return r->check_analytic_s > 0 ? r->check_flow_s / r->check_analytic_s - 1 : 0;
}

/* The flow check (runner.h): the same layout with a global batch of at most
 * CS_FLOW_CHECK_MICROBATCHES micro-batches per pipeline, replayed under
 * both network models. */
int cs_flow_check(const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
                  unsigned long seed, long *microbatches, double *analytic_s, double *flow_s)
{
    if (z->world > CS_FLOW_CHECK_MAX_GPUS)
        return 0;
    cs_scenario t = *s; /* a shallow copy: only read, never freed */
    /* the interleaved schedule takes a multiple of pp micro-batches */
    long want = z->schedule == CS_INTERLEAVED ? z->pp : CS_FLOW_CHECK_MICROBATCHES;
    long m = z->microbatches < want ? z->microbatches : want;
    t.training.global_batch_size = z->dense_dp * z->micro_batch * m;
    cs_layout_sizes zt;
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_layout_check(&t, l, &zt, &d);
    cs_diags_free(&d);
    if (rc != 0) /* a shorter iteration this layout cannot take: no check */
        return 0;
    cs_replay_result a, f;
    memset(&f, 0, sizeof f);
    rc = cs_replay(&t, l, &zt, CS_NET_ANALYTIC, seed, &a);
    if (rc == 0)
        rc = cs_replay(&t, l, &zt, CS_NET_FLOW, seed, &f);
    if (rc == 0) {
        *microbatches = zt.microbatches;
        *analytic_s = a.iteration_time_s;
        *flow_s = f.iteration_time_s;
    }
    cs_replay_result_free(&f);
    cs_replay_result_free(&a);
    return rc == 0 ? 1 : -1;
}

static int flow_check(const cs_scenario *s, long i, unsigned long seed, cs_layout_run *r)
{
    int rc = cs_flow_check(s, &s->layouts[i], &r->verdict->sizes, seed, &r->check_microbatches,
                           &r->check_analytic_s, &r->check_flow_s);
    r->flow_checked = rc == 1;
    r->flow_skipped = rc == 0; /* above CS_FLOW_CHECK_MAX_GPUS, or no shorter iteration fits */
    return rc < 0 ? -1 : 0;
}

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
            int rc = o->gpus_added
                         ? cs_capture_init_plus(&r->capture, &s->layouts[i], z, o->gpus,
                                                o->gpu_count)
                         : cs_capture_init(&r->capture, &s->layouts[i], z, o->gpus, o->gpu_count);
            if (rc != 0)
                return -3;
            r->captured = 1;
            capture = &r->capture;
        }
        if (cs_replay_capture(s, &s->layouts[i], z, model, seed, &r->result, capture) != 0)
            return -1;
        r->replayed = 1;
        if (o && o->flow_check && model == CS_NET_ANALYTIC && flow_check(s, (long)i, seed, r) != 0)
            return -1;
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
