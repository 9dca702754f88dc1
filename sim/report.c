#include "report.h"

#include <string.h>

#include "json.h"

#define GB 1e9

static const char *const problem_word[] = {"error", "warning", "note"};

static void text_header(FILE *out, const char *path, const cs_validation *c)
{
    const cs_scenario *s = c->scenario;
    const cs_model *m = &s->model;
    const cs_cluster *k = &s->cluster;
    const cs_training *t = &s->training;
    fprintf(out, "scenario %s (%s)\n", s->name, path);
    fprintf(out, "  model     %s: %ld layers, hidden %ld, %ld heads", m->name, m->num_layers,
            m->hidden_size, m->num_attention_heads);
    if (m->moe.num_experts > 0)
        fprintf(out, ", %ld experts (top-%ld) in %ld layers", m->moe.num_experts,
                m->moe.router_topk, c->params.moe_layers);
    fprintf(out, ", vocab %ld\n", m->vocab_size);
    fprintf(out, "            %.2f B parameters, %.2f B active per token\n",
            c->params.total / 1e9, c->params.active / 1e9);
    fprintf(out, "  cluster   %s: %ld nodes x %ld %s = %ld GPUs, %.1f GB each\n", k->name,
            k->nodes, k->gpus_per_node, k->gpu.name[0] ? k->gpu.name : "GPUs",
            k->nodes * k->gpus_per_node, k->gpu.memory / GB);
    fprintf(out, "  training  seq %ld, global batch %ld, micro-batch %ld, %s, recompute %s%s%s\n",
            t->seq_length, t->global_batch_size, t->micro_batch_size,
            cs_schedule_name(t->schedule), cs_recompute_name(t->recompute),
            t->sequence_parallel ? ", sequence parallel" : "",
            t->distributed_optimizer ? ", distributed optimizer" : "");
}

static void text_memory(FILE *out, const cs_scenario *s, const cs_layout_verdict *r)
{
    const cs_memory_breakdown *b = &r->peak;
    double cap = s->cluster.gpu.memory;
    fprintf(out, "  memory    per GPU (analytic), peak on stage %ld of %ld, %.2g micro-batches "
                 "in flight:\n",
            r->peak_stage, r->sizes.pp, b->inflight);
    fprintf(out, "              weights      %9.2f GB\n", b->weights / GB);
    fprintf(out, "              gradients    %9.2f GB\n", b->gradients / GB);
    fprintf(out, "              optimizer    %9.2f GB\n", b->optimizer / GB);
    fprintf(out, "              activations  %9.2f GB\n", b->activations / GB);
    fprintf(out, "              reserved     %9.2f GB\n", b->reserved / GB);
    fprintf(out, "              total        %9.2f GB of %.1f GB: %s (%.0f%%)\n", b->total / GB,
            cap / GB, r->memory_fits ? "fits" : "DOES NOT FIT", 100.0 * b->total / cap);
    fprintf(out, "            by stage:");
    for (long i = 0; i < r->sizes.pp; i++)
        fprintf(out, "%s %.2f", i ? "," : "", r->stage_totals[i] / GB);
    fprintf(out, " GB\n");
}

static void text_layout(FILE *out, const cs_scenario *s, const cs_layout_verdict *r)
{
    const cs_layout *l = r->layout;
    const cs_layout_sizes *z = &r->sizes;
    fprintf(out, "\nlayout %s: tp %ld, pp %ld, ep %ld, dp %ld", l->name, z->tp, z->pp, z->ep,
            z->dp);
    if (z->etp != z->tp)
        fprintf(out, ", etp %ld", z->etp);
    if (z->vpp > 1)
        fprintf(out, ", vpp %ld", z->vpp);
    fprintf(out, " -> %s\n", r->valid ? "valid" : "INVALID");
    for (size_t i = 0; i < r->problems.count; i++) {
        const cs_diag *p = &r->problems.items[i];
        fprintf(out, "  %s:%d:%d: %s: %s\n", p->file, p->line, p->col,
                problem_word[p->severity], p->message);
    }
    if (!r->valid)
        return;
    fprintf(out, "  sizes     %ld GPUs; dense DP %ld", z->world, z->dense_dp);
    if (s->model.moe.num_experts > 0)
        fprintf(out, ", expert DP %ld, %ld experts per GPU", z->expert_dp, z->experts_per_gpu);
    fprintf(out, "; %ld micro-batches of %ld; %ld layers per stage", z->microbatches,
            z->micro_batch, z->layers_per_stage);
    if (z->vpp > 1)
        fprintf(out, " (%ld per virtual stage)", z->layers_per_virtual_stage);
    fprintf(out, "; %s\n", cs_schedule_name(z->schedule));
    text_memory(out, s, r);
}

static void report_text(FILE *out, const char *path, const cs_validation *c)
{
    size_t valid = 0;
    text_header(out, path, c);
    for (size_t i = 0; i < c->count; i++) {
        text_layout(out, c->scenario, &c->layouts[i]);
        valid += c->layouts[i].valid != 0;
    }
    fprintf(out, "\n%zu of %zu layouts valid\n", valid, c->count);
}

static void json_problems(cs_json *j, const char *key, const cs_diags *d, cs_severity sev)
{
    cs_json_array_begin(j, key);
    for (size_t i = 0; i < d->count; i++)
        if (d->items[i].severity == sev)
            cs_json_string(j, NULL, d->items[i].message);
    cs_json_array_end(j);
}

static void json_memory(cs_json *j, const cs_scenario *s, const cs_layout_verdict *r)
{
    const cs_memory_breakdown *b = &r->peak;
    cs_json_object_begin(j, "memory_estimate");
    cs_json_number(j, "memory_peak_bytes", b->total);
    cs_json_int(j, "memory_peak_stage", r->peak_stage);
    cs_json_bool(j, "memory_fits", r->memory_fits);
    cs_json_number(j, "gpu_memory_bytes", s->cluster.gpu.memory);
    cs_json_number(j, "inflight_microbatches", b->inflight);
    cs_json_object_begin(j, "memory_breakdown_bytes");
    cs_json_number(j, "weights", b->weights);
    cs_json_number(j, "gradients", b->gradients);
    cs_json_number(j, "optimizer", b->optimizer);
    cs_json_number(j, "activations", b->activations);
    cs_json_number(j, "buffers", b->buffers);
    cs_json_number(j, "reserved", b->reserved);
    cs_json_object_end(j);
    cs_json_inline_array_begin(j, "per_stage_bytes");
    for (long i = 0; i < r->sizes.pp; i++)
        cs_json_number(j, NULL, r->stage_totals[i]);
    cs_json_array_end(j);
    cs_json_object_end(j);
}

static void json_layout(cs_json *j, const cs_scenario *s, const cs_layout_verdict *r)
{
    const cs_layout_sizes *z = &r->sizes;
    cs_json_object_begin(j, NULL);
    cs_json_string(j, "name", r->layout->name);
    cs_json_int(j, "tp", z->tp);
    cs_json_int(j, "pp", z->pp);
    cs_json_int(j, "ep", z->ep);
    cs_json_int(j, "dp", z->dp);
    cs_json_int(j, "etp", z->etp);
    cs_json_int(j, "vpp", z->vpp);
    cs_json_int(j, "gpus", z->world);
    cs_json_bool(j, "valid", r->valid);
    json_problems(j, "errors", &r->problems, CS_ERROR);
    json_problems(j, "warnings", &r->problems, CS_WARNING);
    json_problems(j, "notes", &r->problems, CS_NOTE);
    if (r->valid) {
        cs_json_int(j, "dense_dp", z->dense_dp);
        cs_json_int(j, "expert_dp", z->expert_dp);
        cs_json_int(j, "microbatches", z->microbatches);
        cs_json_int(j, "micro_batch_size", z->micro_batch);
        cs_json_int(j, "layers_per_stage", z->layers_per_stage);
        cs_json_int(j, "layers_per_virtual_stage", z->layers_per_virtual_stage);
        cs_json_int(j, "experts_per_gpu", z->experts_per_gpu);
        cs_json_string(j, "schedule", cs_schedule_name(z->schedule));
        cs_json_string(j, "recompute", cs_recompute_name(z->recompute));
        json_memory(j, s, r);
    }
    cs_json_object_end(j);
}

static void report_json(FILE *out, const cs_validation *c)
{
    const cs_scenario *s = c->scenario;
    cs_json j;
    cs_json_init(&j, out);
    cs_json_object_begin(&j, NULL);
    cs_json_string(&j, "scenario", s->name);
    cs_json_object_begin(&j, "model");
    cs_json_string(&j, "name", s->model.name);
    cs_json_number(&j, "total_params", c->params.total);
    cs_json_number(&j, "active_params", c->params.active);
    cs_json_object_end(&j);
    cs_json_object_begin(&j, "cluster");
    cs_json_string(&j, "name", s->cluster.name);
    cs_json_int(&j, "gpus", s->cluster.nodes * s->cluster.gpus_per_node);
    cs_json_number(&j, "gpu_memory_bytes", s->cluster.gpu.memory);
    cs_json_object_end(&j);
    cs_json_bool(&j, "all_valid", c->all_valid);
    cs_json_array_begin(&j, "layouts");
    for (size_t i = 0; i < c->count; i++)
        json_layout(&j, s, &c->layouts[i]);
    cs_json_array_end(&j);
    cs_json_object_end(&j);
}

void cs_report_check(FILE *out, cs_format format, const char *path, const cs_validation *c)
{
    if (format == CS_FORMAT_JSON)
        report_json(out, c);
    else
        report_text(out, path, c);
}

static void collective_text(FILE *out, const cs_coll_report *r)
{
    int reduces = r->op == CS_COLL_ALL_REDUCE || r->op == CS_COLL_REDUCE_SCATTER;
    fprintf(out, "# clustersim collective: %s on %ld GPUs of %s (%ld node%s), algo %s, "
                 "network model %s\n#\n",
            cs_coll_op_name(r->op), r->gpus, r->cluster, r->nodes, r->nodes == 1 ? "" : "s",
            cs_coll_algo_name(r->algo), cs_network_model_name(r->model));
    fprintf(out, "#%11s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %s\n", "size", "count", "type",
            "redop", "root", "time", "algbw", "busbw", "algo");
    fprintf(out, "#%11s  %12s  %8s  %6s  %6s  %7s  %6s  %6s\n", "(B)", "(elements)", "", "", "",
            "(us)", "(GB/s)", "(GB/s)");
    double sum = 0;
    for (size_t i = 0; i < r->count; i++) {
        const cs_coll_row *w = &r->rows[i];
        fprintf(out, "%12.0f  %12.0f  %8s  %6s  %6d  %7.2f  %6.2f  %6.2f  %s\n", w->size,
                w->size / 4, "float", reduces ? "sum" : "none",
                r->op == CS_COLL_BROADCAST ? 0 : -1, w->time * 1e6, w->algbw / 1e9,
                w->busbw / 1e9, cs_coll_algo_name(w->algo));
        sum += w->busbw;
    }
    fprintf(out, "# Avg bus bandwidth    : %g\n", r->count ? sum / (double)r->count / 1e9 : 0);
}

static void collective_csv(FILE *out, const cs_coll_report *r)
{
    fprintf(out, "op,gpus,algo,network_model,size_bytes,time_s,algbw_bytes_per_s,"
                 "busbw_bytes_per_s\n");
    for (size_t i = 0; i < r->count; i++) {
        const cs_coll_row *w = &r->rows[i];
        fprintf(out, "%s,%ld,%s,%s,%.0f,%.9g,%.9g,%.9g\n", cs_coll_op_name(r->op), r->gpus,
                cs_coll_algo_name(w->algo), cs_network_model_name(r->model), w->size, w->time,
                w->algbw, w->busbw);
    }
}

static void collective_json(FILE *out, const cs_coll_report *r)
{
    cs_json j;
    cs_json_init(&j, out);
    cs_json_object_begin(&j, NULL);
    cs_json_string(&j, "op", cs_coll_op_name(r->op));
    cs_json_int(&j, "gpus", r->gpus);
    cs_json_string(&j, "algo", cs_coll_algo_name(r->algo));
    cs_json_string(&j, "network_model", cs_network_model_name(r->model));
    cs_json_string(&j, "cluster", r->cluster);
    cs_json_array_begin(&j, "rows");
    for (size_t i = 0; i < r->count; i++) {
        const cs_coll_row *w = &r->rows[i];
        cs_json_object_begin(&j, NULL);
        cs_json_number(&j, "size_bytes", w->size);
        cs_json_number(&j, "time_s", w->time);
        cs_json_number(&j, "algbw_bytes_per_s", w->algbw);
        cs_json_number(&j, "busbw_bytes_per_s", w->busbw);
        cs_json_string(&j, "algo", cs_coll_algo_name(w->algo));
        cs_json_object_end(&j);
    }
    cs_json_array_end(&j);
    cs_json_object_end(&j);
}

void cs_report_collective(FILE *out, cs_format format, const cs_coll_report *r)
{
    if (format == CS_FORMAT_JSON)
        collective_json(out, r);
    else if (format == CS_FORMAT_CSV)
        collective_csv(out, r);
    else
        collective_text(out, r);
}
