/* workload: builds every GPU's program of one iteration (see workload.h);
 * the parts of a build live in build.c, layer.c, moe.c, pipeline.c and
 * grads.c (see build.h). */
#include "replay/workload.h"

#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>

#include "model/memory.h"
#include "model/routing.h"
#include "replay/build.h"

static const char *const class_names[CS_OP_CLASS_COUNT] = {"forward",
                                                           "backward_input",
                                                           "backward_weight",
                                                           "recompute",
                                                           "optimizer",
                                                           "end",
                                                           "tp",
                                                           "ep",
                                                           "pp",
                                                           "dp",
                                                           "cp"};

const char *cs_op_class_name(cs_op_class k) { return class_names[k]; }

double cs_workload_model_flops(const cs_model *m, const cs_training *t)
{
    cs_layout_sizes z = {0};
    cs_shape sh;
    z.tp = z.etp = z.micro_batch = 1;
    cs_shape_init(&sh, m, t, &z);
    double per_token = 0;
    /* As Megatron's num_floating_point_operations: an MTP depth is a layer
     * like the decoder's last, its norms and eh_proj, and one more logit. */
    for (long i = 0; i < m->num_layers + m->mtp_num_layers; i++) {
        per_token += 2 * sh.h * (sh.q + 2 * sh.kv) + 2 * sh.q * sh.s + 2 * sh.q * sh.h;
        if (cs_model_is_moe_layer(m, i))
            per_token += 2 * sh.h * sh.f * (sh.ffn_e * sh.topk + sh.ffn_s);
        else
            per_token += 2 * sh.h * sh.f * sh.ffn;
    }
    per_token += (double)m->mtp_num_layers * 2 * (3 * sh.h + 2 * sh.h * sh.h);
    per_token += (double)(1 + m->mtp_num_layers) * 2 * sh.h * sh.V;
    return 3 * per_token * (double)t->global_batch_size * sh.s;
}

/* ---- building everything ----------------------------------------------------------------- */

static void enter_stage(cs_builder *B, long stage);

static void build_stage(cs_builder *B, long stage, cs_pass *passes)
{
    const cs_layout_sizes *z = B->z;
    enter_stage(B, stage);
    long Ls = B->Ls_max;
    size_t cells = (size_t)(Ls * z->microbatches * cs_place_groups(z, CS_EXPERT, CS_DIM_EP));
    memset(B->expert_tokens, 0, (size_t)(B->per_stage * Ls * z->microbatches) * sizeof(double));
    if (B->expert_rows)
        memset(B->expert_rows, 0, cs_moe_expert_rows_size(B) * sizeof *B->expert_rows);
    memset(B->dispatch, 0, cells * sizeof *B->dispatch);
    memset(B->combine, 0, cells * sizeof *B->combine);
    if (B->m->moe.num_experts > 0)
        cs_moe_route_stage(B);
    for (long i = 0; i < B->per_stage * Ls; i++)
        B->last_w[i] = -1;
    for (long i = 0; i < B->per_stage; i++)
        B->output_w[i] = B->embedding_w[i] = B->fsdp_reduce[i] = -1;
    B->fsdp_layer = -1;
    cs_grads_zero(B);
    cs_grads_prefetch(B);
    long count = cs_schedule_passes(z->schedule, z->pp, B->chunks, z->microbatches, stage, passes);
    for (long i = 0; i < count && !B->failed && !B->asymmetric; i++)
        cs_pipeline_run_pass(B, passes, i);
    cs_build_flush(B, -1);
    for (long local = 0; local < B->per_stage; local++)
        B->last_op_of_stage[local] = B->last[B->gpu_of[local]];
    if (B->t->optimizer == CS_OPTIMIZER_ADAM)
        cs_grads_reduce(B);
}

/* The stage's GPUs (local index -> rank) and its layers. */
static void enter_stage(cs_builder *B, long stage)
{
    B->stage = stage;
    for (long local = 0; local < B->per_stage; local++)
        B->gpu_of[local] = cs_build_at(B, local, stage);
    B->Ls = 0;
    for (long c = 0; c < B->chunks; c++) {
        B->chunk_count[c] = cs_layout_chunk_layers(B->z, stage, c, &B->chunk_first[c]);
        for (long i = 0; i < B->chunk_count[c]; i++)
            B->stage_layer[B->Ls++] = B->chunk_first[c] + i;
    }
}

/* Every layer's in-stage index, from the split of every stage. */
static void index_layers(cs_builder *B)
{
    for (long stage = 0; stage < B->z->pp; stage++) {
        enter_stage(B, stage);
        for (long li = 0; li < B->Ls; li++)
            B->layer_li[B->stage_layer[li]] = li;
    }
}

static int alloc_builder(cs_builder *B)
{
    const cs_layout_sizes *z = B->z;
    long world = z->world, Ls = B->Ls_max, m = z->microbatches;
    long E = B->m->moe.num_experts > 0 ? B->m->moe.num_experts : 1;
    size_t slots = (size_t)(z->pp * 2 * m * B->chunks * B->per_stage);
    size_t cells = (size_t)(Ls * m * cs_place_groups(z, CS_EXPERT, CS_DIM_EP));
    B->gpu_of = malloc((size_t)B->per_stage * sizeof *B->gpu_of);
    B->last = malloc((size_t)world * sizeof *B->last);
    B->capture = malloc((size_t)world * sizeof *B->capture);
    B->pending = malloc((size_t)world * sizeof *B->pending);
    B->npending = calloc((size_t)world, sizeof *B->npending);
    B->pass_first = malloc(slots * sizeof *B->pass_first);
    B->pass_last = malloc(slots * sizeof *B->pass_last);
    B->last_w = malloc((size_t)(B->per_stage * Ls) * sizeof *B->last_w);
    B->last_op_of_stage = malloc((size_t)B->per_stage * sizeof *B->last_op_of_stage);
    B->output_w = malloc((size_t)B->per_stage * sizeof *B->output_w);
    B->embedding_w = malloc((size_t)B->per_stage * sizeof *B->embedding_w);
    B->fsdp_gather = malloc((size_t)B->per_stage * 2 * sizeof *B->fsdp_gather);
    B->fsdp_now = malloc((size_t)B->per_stage * 2 * sizeof *B->fsdp_now);
    B->fsdp_reduce = malloc((size_t)B->per_stage * sizeof *B->fsdp_reduce);
    B->expert_tokens = malloc((size_t)(B->per_stage * Ls * m) * sizeof *B->expert_tokens);
    size_t rows = cs_moe_expert_rows_size(B);
    B->expert_rows = rows ? malloc(rows * sizeof *B->expert_rows) : NULL;
    B->dispatch = malloc(cells * sizeof *B->dispatch);
    B->combine = malloc(cells * sizeof *B->combine);
    long layers = B->m->num_layers + B->m->mtp_num_layers;
    B->prob = malloc((size_t)(layers * E) * sizeof *B->prob);
    B->counts = malloc((size_t)(z->ep * E) * sizeof *B->counts);
    B->received = malloc((size_t)z->ep * sizeof *B->received);
    B->draws = malloc((size_t)E * sizeof *B->draws);
    long most = world > 2 * B->per_stage ? world : 2 * B->per_stage;
    B->members = malloc((size_t)most * sizeof *B->members);
    B->copy_members = B->reduced ? malloc((size_t)most * sizeof *B->copy_members) : NULL;
    if (B->reduced) {
        size_t L = (size_t)cs_net_fabric(cs_exec_net(B->x))->link_count;
        B->copy_links = malloc(L * sizeof *B->copy_links);
        B->copy_scratch = malloc(L * sizeof *B->copy_scratch);
        B->copy_marks = calloc(L, 1);
    }
    B->members_last = malloc((size_t)most * sizeof *B->members_last);
    B->deferred = malloc((size_t)world * sizeof *B->deferred);
    B->ndeferred = calloc((size_t)world, sizeof *B->ndeferred);
    B->pending_save = malloc((size_t)world * sizeof *B->pending_save);
    B->npending_save = malloc((size_t)world * sizeof *B->npending_save);
    B->carry_s = malloc((size_t)world * sizeof *B->carry_s);
    B->carry_flops = malloc((size_t)world * sizeof *B->carry_flops);
    B->carry_n = malloc((size_t)world * sizeof *B->carry_n);
    B->carry_ops = malloc((size_t)world * sizeof *B->carry_ops);
    B->host_wait = malloc((size_t)B->per_stage * sizeof *B->host_wait);
    B->carry_class = malloc((size_t)world * sizeof *B->carry_class);
    B->carry_mb = malloc((size_t)world * sizeof *B->carry_mb);
    B->carry_layer = malloc((size_t)world * sizeof *B->carry_layer);
    B->rng = gsl_rng_alloc(gsl_rng_mt19937);
    B->noise = gsl_rng_alloc(gsl_rng_mt19937);
    B->slowdown = malloc((size_t)world * sizeof *B->slowdown);
    B->chunk_first = malloc((size_t)B->chunks * sizeof *B->chunk_first);
    B->chunk_count = malloc((size_t)B->chunks * sizeof *B->chunk_count);
    B->stage_layer = malloc((size_t)(Ls > 0 ? Ls : 1) * sizeof *B->stage_layer);
    B->layer_li = malloc((size_t)layers * sizeof *B->layer_li);
    if (!B->gpu_of || !B->last || !B->capture || !B->pending || !B->npending || !B->pass_first ||
        !B->pass_last || !B->last_w || !B->last_op_of_stage || !B->expert_tokens || !B->dispatch ||
        !B->combine || !B->prob || !B->counts || !B->received || !B->draws || !B->members ||
        !B->rng || !B->noise ||
        !B->slowdown || !B->members_last || !B->deferred || !B->ndeferred || !B->carry_s ||
        !B->carry_flops || !B->carry_n || !B->carry_ops || !B->host_wait || !B->carry_class ||
        !B->carry_mb ||
        !B->carry_layer ||
        !B->pending_save || !B->npending_save || !B->output_w || !B->embedding_w ||
        !B->fsdp_gather || !B->fsdp_now || !B->fsdp_reduce ||
        !B->chunk_first || !B->chunk_count || !B->stage_layer || !B->layer_li ||
        (rows && !B->expert_rows) ||
        (B->reduced && (!B->copy_members || !B->copy_links || !B->copy_scratch || !B->copy_marks)))
        return -1;
    for (long g = 0; g < world; g++) {
        B->last[g] = -1;
        B->capture[g] = -2;
        B->carry_class[g] = -1;
    }
    for (long i = 0; i < B->per_stage; i++)
        B->host_wait[i] = -1;
    for (size_t i = 0; i < slots; i++)
        B->pass_first[i] = B->pass_last[i] = -1;
    return 0;
}

static void free_builder(cs_builder *B)
{
    free(B->gpu_of);
    free(B->last);
    free(B->capture);
    free(B->pending);
    free(B->npending);
    free(B->pass_first);
    free(B->pass_last);
    free(B->last_w);
    free(B->last_op_of_stage);
    free(B->output_w);
    free(B->embedding_w);
    free(B->fsdp_gather);
    free(B->fsdp_now);
    free(B->fsdp_reduce);
    free(B->expert_tokens);
    free(B->expert_rows);
    free(B->dispatch);
    free(B->combine);
    free(B->prob);
    free(B->counts);
    free(B->received);
    free(B->draws);
    free(B->members);
    cs_build_groups_free(B);
    free(B->copy_members);
    free(B->copy_links);
    free(B->copy_scratch);
    free(B->copy_marks);
    cs_build_memo_free(B);
    free(B->members_last);
    free(B->deferred);
    free(B->ndeferred);
    free(B->pending_save);
    free(B->npending_save);
    free(B->carry_s);
    free(B->carry_flops);
    free(B->carry_n);
    free(B->carry_ops);
    free(B->host_wait);
    free(B->carry_class);
    free(B->carry_mb);
    free(B->carry_layer);
    if (B->rng)
        gsl_rng_free(B->rng);
    if (B->noise)
        gsl_rng_free(B->noise);
    free(B->slowdown);
    free(B->chunk_first);
    free(B->chunk_count);
    free(B->stage_layer);
    free(B->layer_li);
    cs_cost_free(&B->cost);
}

static void static_memory(cs_workload *w, const cs_scenario *s, const cs_layout_sizes *z)
{
    for (long stage = 0; stage < z->pp; stage++) {
        cs_memory_breakdown b;
        cs_memory_stage(s, z, stage, &b);
        w->static_mem[stage] = (cs_static_memory){b.weights, b.gradients, b.optimizer, b.reserved};
    }
}

static int build(cs_workload *w, cs_exec *x, const cs_scenario *s, const cs_layout *l,
                 const cs_layout_sizes *z, unsigned long seed, const unsigned char *live)
{
    memset(w, 0, sizeof *w);
    cs_builder B = {0};
    B.live = live;
    B.reduced = live != NULL;
    B.w = w;
    B.x = x;
    B.s = s;
    B.m = &s->model;
    B.t = &s->training;
    B.l = l;
    B.z = z;
    B.per_stage = z->world / z->pp;
    B.locals = B.reduced ? 1 : B.per_stage;
    B.chunks = z->schedule == CS_INTERLEAVED ? z->vpp : 1;
    B.Ls_max = z->layers_per_stage;
    cs_shape_init(&B.sh, B.m, B.t, z);
    B.fwd = (cs_kernel_opts){B.t, z->recompute, z->attention, 0, 0, 0};
    B.bwd = (cs_kernel_opts){B.t, z->recompute, z->attention, 1, 0, 0};
    B.host_launch = s->cluster.host.launch_overhead;
    B.host_op = s->cluster.host.op_overhead;
    B.host_collective = s->cluster.host.collective_overhead;
    B.hosted = B.host_launch > 0 || B.host_op > 0 || B.host_collective > 0;
    w->stages = z->pp;
    w->static_mem = calloc((size_t)z->pp, sizeof *w->static_mem);
    w->model_flops = cs_workload_model_flops(B.m, B.t);
    cs_pass *passes = malloc((size_t)(3 * z->microbatches * B.chunks) * sizeof *passes);
    int rc = -1;
    if (!w->static_mem || !passes || cs_cost_init(&B.cost, &s->cluster.gpu, B.t->precision) ||
        alloc_builder(&B))
        goto done;
    cs_layer_costs(&B);
    index_layers(&B);
    gsl_rng_set(B.rng, seed);
    gsl_rng_set(B.noise, seed ^ 0x9e3779b97f4a7c15ul);
    /* Stragglers: each GPU, with the given probability, computes slower for
     * the whole iteration. */
    for (long g = 0; g < z->world; g++) {
        const cs_uncertainty *u = &s->uncertainty;
        B.slowdown[g] =
            u->stragglers.probability > 0 && gsl_rng_uniform(B.noise) < u->stragglers.probability
                ? u->stragglers.slowdown
                : 1.0;
    }
    static_memory(w, s, z);
    /* About 24 ops per layer and micro-batch on every GPU (fewer without TP
     * or EP): reserving once spares the copies of growing tables. */
    long hint = z->pp * B.locals * (z->microbatches * z->layers_per_stage * 24 + 64);
    if (cs_exec_reserve(x, hint, 2 * hint) != 0 || !cs_build_info(&B, hint - 1, CS_OP_END, -1, -1))
        goto done;
    w->count = 0;
    if (B.m->moe.num_experts > 0)
        for (long i = 0; i < B.m->num_layers + B.m->mtp_num_layers; i++)
            cs_routing_popularity(B.t, B.m->moe.num_experts, B.rng,
                                  B.prob + i * B.m->moe.num_experts);
    /* A reduced build stops at the first group unlike its copies. */
    for (long stage = 0; stage < z->pp && !B.failed && !B.asymmetric; stage++)
        build_stage(&B, stage, passes);
    if (!B.failed && !B.asymmetric)
        cs_grads_finalize(&B);
    for (long stage = 0; stage < z->pp && !B.failed && !B.asymmetric; stage++) {
        enter_stage(&B, stage);
        cs_grads_step(&B);
        cs_build_end_markers(&B);
    }
    for (long stage = 0; stage < z->pp && !B.failed && !B.asymmetric; stage++) {
        enter_stage(&B, stage);
        long count =
            cs_schedule_passes(z->schedule, z->pp, B.chunks, z->microbatches, stage, passes);
        cs_pipeline_links(&B, passes, count, stage);
    }
    rc = B.failed ? -1 : B.asymmetric ? 1 : 0;
done:
    free(passes);
    free_builder(&B);
    return rc;
}

int cs_workload_build(cs_workload *w, cs_exec *x, const cs_scenario *s, const cs_layout *l,
                      const cs_layout_sizes *z, unsigned long seed)
{
    return build(w, x, s, l, z, seed, NULL);
}

int cs_workload_build_reduced(cs_workload *w, cs_exec *x, const cs_scenario *s,
                              const cs_layout *l, const cs_layout_sizes *z, unsigned long seed,
                              const unsigned char *live)
{
    cs_exec_set_live(x, live);
    return build(w, x, s, l, z, seed, live);
}

void cs_workload_free(cs_workload *w)
{
    for (long i = 0; i < w->tables; i++)
        free(w->pair_tables[i]);
    free(w->pair_tables);
    for (long i = 0; i < w->shadow_count; i++)
        free(w->shadows[i]);
    free(w->shadows);
    free(w->info);
    free(w->static_mem);
    memset(w, 0, sizeof *w);
}
