#include "model/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The estimate's peak of layout l in scenario s, or -1 when invalid. */
static double peak_of(const cs_scenario *s, const cs_layout *l)
{
    cs_layout_sizes z;
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_layout_check(s, l, &z, &d);
    cs_diags_free(&d);
    if (rc != 0)
        return -1;
    cs_memory_breakdown b;
    cs_memory_peak(s, &z, &b);
    return b.total;
}

/* Tries one change of a layout that does not fit, cheapest first: what
 * Megatron users reach for (the distributed optimizer, or with
 * Megatron-FSDP each further sharding strategy, sequence parallelism,
 * selective then full recompute, a smaller micro-batch, twice the pipeline
 * stages); keeps the first whose estimate fits. */
static void find_fix(const cs_scenario *s, const cs_layout *l, cs_layout_verdict *r)
{
    cs_scenario t = *s; /* a shallow copy: only read, never freed */
    cs_layout c = *l;
    double cap = s->cluster.gpu.memory, got;
    cs_recompute rc = cs_layout_recompute(l, &s->training);
    long mb = cs_layout_micro_batch(l, &s->training);
#define TRY(cond, text, prepare, undo)                                                                 do {                                                                                                   if (cond) {                                                                                            prepare;                                                                                           got = peak_of(&t, &c);                                                                             undo;                                                                                              if (got >= 0 && got <= cap) {                                                                          snprintf(r->fix, sizeof r->fix, "%s", text);                                                      r->fix_total = got;                                                                                return;                                                                                        }                                                                                              }                                                                                              } while (0)
    TRY(!s->training.use_megatron_fsdp && !s->training.distributed_optimizer,
        "distributed_optimizer: true", t.training.distributed_optimizer = 1,
        t.training.distributed_optimizer = 0);
    /* Megatron-FSDP: each further sharding strategy (its optimizer sharding
     * follows it, as the loader sets it) */
    static const char *const strategies[] = {"no_shard", "optim", "optim_grads",
                                             "optim_grads_params"};
    for (int k = (int)s->training.data_parallel_sharding_strategy + 1;
         s->training.use_megatron_fsdp && k <= (int)CS_SHARD_OPTIM_GRADS_PARAMS; k++) {
        char what[80];
        snprintf(what, sizeof what, "data_parallel_sharding_strategy: %s", strategies[k]);
        TRY(1, what,
            (t.training.data_parallel_sharding_strategy = (cs_sharding)k,
             t.training.distributed_optimizer = 1),
            (t.training.data_parallel_sharding_strategy = s->training.data_parallel_sharding_strategy,
             t.training.distributed_optimizer = s->training.distributed_optimizer));
    }
    TRY(!s->training.sequence_parallel && r->sizes.tp > 1, "sequence_parallel: true",
        t.training.sequence_parallel = 1, t.training.sequence_parallel = 0);
    TRY(rc == CS_RECOMPUTE_NONE, "recompute: selective", c.recompute = CS_RECOMPUTE_SELECTIVE,
        c.recompute = l->recompute);
    /* a MoE model's MoE layers rerun whole (Megatron's moe module), cheaper
     * than rerunning every layer */
    unsigned modules = s->training.recompute_modules | (unsigned)CS_RC_MOE;
    char text[160], names[96];
    cs_recompute_modules_text(modules, ", ", names, sizeof names);
    snprintf(text, sizeof text, "recompute: selective, recompute_modules: [%s]", names);
    TRY(s->model.moe.num_experts > 0 && rc != CS_RECOMPUTE_FULL &&
            !cs_recomputes(rc, &s->training, CS_RC_MOE),
        text, (c.recompute = CS_RECOMPUTE_SELECTIVE, t.training.recompute_modules = modules),
        (c.recompute = l->recompute, t.training.recompute_modules = s->training.recompute_modules));
    TRY(rc != CS_RECOMPUTE_FULL, "recompute: full", c.recompute = CS_RECOMPUTE_FULL,
        c.recompute = l->recompute);
    for (long m = mb / 2; m >= 1; m /= 2) {
        snprintf(text, sizeof text, "micro_batch_size: %ld", m);
        TRY(1, text, c.micro_batch_size = m, c.micro_batch_size = l->micro_batch_size);
    }
    /* twice the stages on as many GPUs: half the data parallelism, when
     * the layout names it */
    if (l->dp > 1)
        snprintf(text, sizeof text, "pp: %ld, dp: %ld", 2 * r->sizes.pp, l->dp / 2);
    else
        snprintf(text, sizeof text, "pp: %ld", 2 * r->sizes.pp);
    TRY(r->sizes.pp < s->model.num_layers, text,
        (c.pp = 2 * r->sizes.pp, c.dp = l->dp > 1 ? l->dp / 2 : l->dp), (c.pp = l->pp, c.dp = l->dp));
#undef TRY
}

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
    if (!r->memory_fits)
        find_fix(s, l, r);
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
