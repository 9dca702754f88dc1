#include "report/report.h"

#include <math.h>
#include <string.h>

#include "model/placement.h"
#include "report/json.h"

#define GB 1e9

static const char *const problem_word[] = {"error", "warning", "note"};

static void text_header(FILE *out, const char *path, const cs_check *c)
{
    const cs_scenario *s = c->scenario;
    const cs_model *m = &s->model;
    const cs_cluster *k = &s->cluster;
    const cs_training *t = &s->training;
    fprintf(out, "scenario %s (%s)\n", s->name, path);
    fprintf(out, "  model     %s: %ld layers, hidden %ld, %ld heads", m->name, m->num_layers,
            m->hidden_size, m->num_attention_heads);
    if (m->moe.num_experts > 0 && m->moe.router_num_groups > 0)
        fprintf(out, ", %ld experts (top-%ld from the best %ld of %ld groups) in %ld layers",
                m->moe.num_experts, m->moe.router_topk, m->moe.router_group_topk,
                m->moe.router_num_groups, c->params.moe_layers);
    else if (m->moe.num_experts > 0)
        fprintf(out, ", %ld experts (top-%ld) in %ld layers", m->moe.num_experts,
                m->moe.router_topk, c->params.moe_layers);
    fprintf(out, ", vocab %ld\n", m->vocab_size);
    fprintf(out, "            %.2f B parameters, %.2f B active per token\n",
            c->params.total / 1e9, c->params.active / 1e9);
    fprintf(out, "  cluster   %s: %ld nodes x %ld %s = %ld GPUs, %.1f GB each\n", k->name,
            k->nodes, k->gpus_per_node, k->gpu.name[0] ? k->gpu.name : "GPUs",
            k->nodes * k->gpus_per_node, k->gpu.memory / GB);
    char modules[160] = "";
    if (t->recompute_modules != CS_RC_CORE_ATTN) {
        char names[128];
        cs_recompute_modules_text(t->recompute_modules, ", ", names, sizeof names);
        snprintf(modules, sizeof modules,
                 t->recompute == CS_RECOMPUTE_SELECTIVE ? " of %s" : " (selective: %s)", names);
    }
    fprintf(out, "  training  seq %ld, global batch %ld, micro-batch %ld, %s, recompute %s%s%s%s\n",
            t->seq_length, t->global_batch_size, t->micro_batch_size,
            cs_schedule_name(t->schedule), cs_recompute_name(t->recompute), modules,
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
    if (!r->memory_fits && r->fix[0])
        fprintf(out, "            it fits with %s: %.2f GB\n", r->fix, r->fix_total / GB);
    else if (!r->memory_fits)
        fprintf(out, "            no single change fits it (distributed optimizer, sequence "
                     "parallelism, recompute, a smaller micro-batch, twice the stages)\n");
}

/* Rank 0's group along dim: "0-31", "0, 2, ..., 30" or the few members;
 * TP comes first on its line. */
static void text_group(FILE *out, const cs_layout *l, const cs_layout_sizes *z, cs_decomp which,
                       cs_dim dim, const char *name)
{
    long n = cs_place_size(z, which, dim), first, second = 0, last = 0;
    long c[CS_DIM_COUNT] = {0};
    first = cs_place_rank(l, z, which, c);
    if (n > 1) {
        c[dim] = 1;
        second = cs_place_rank(l, z, which, c);
        c[dim] = n - 1;
        last = cs_place_rank(l, z, which, c);
    }
    fprintf(out, "%s%s ", dim == CS_DIM_TP ? " " : ", ", name);
    if (n == 1)
        fprintf(out, "{%ld}", first);
    else if (second - first == 1)
        fprintf(out, "{%ld-%ld}", first, last);
    else if (n == 2)
        fprintf(out, "{%ld, %ld}", first, second);
    else
        fprintf(out, "{%ld, %ld, ..., %ld}", first, second, last);
}

/* "4 layers per stage (2 per virtual stage)", or each stage's when uneven. */
static void text_stage_layers(FILE *out, const cs_layout_sizes *z)
{
    int even = 1;
    for (long st = 0; st < z->pp; st++)
        even &= cs_layout_stage_layers(z, st) == z->layers_per_stage;
    if (even) {
        fprintf(out, "%ld layers per stage", z->layers_per_stage);
        if (z->vpp > 1)
            fprintf(out, " (%ld per virtual stage)", z->layers_per_virtual_stage);
        return;
    }
    fprintf(out, "layers per stage");
    for (long st = 0; st < z->pp; st++)
        fprintf(out, "%c%ld", st ? '/' : ' ', cs_layout_stage_layers(z, st));
}

/* The two decompositions of the layout's GPUs and rank 0's groups in each. */
static void text_decompositions(FILE *out, const cs_scenario *s, const cs_layout *l,
                                const cs_layout_sizes *z)
{
    if (z->cp > 1)
        fprintf(out, "  dense     tp %ld x cp %ld x dp %ld x pp %ld: rank 0's groups", z->tp, z->cp,
                z->dense_dp, z->pp);
    else
        fprintf(out, "  dense     tp %ld x dp %ld x pp %ld: rank 0's groups", z->tp, z->dense_dp,
                z->pp);
    text_group(out, l, z, CS_DENSE, CS_DIM_TP, "TP");
    if (z->cp > 1)
        text_group(out, l, z, CS_DENSE, CS_DIM_CP, "CP");
    text_group(out, l, z, CS_DENSE, CS_DIM_DP, "DP");
    text_group(out, l, z, CS_DENSE, CS_DIM_PP, "PP");
    fputc('\n', out);
    if (s->model.moe.num_experts <= 0)
        return;
    fprintf(out, "  experts   etp %ld x ep %ld x edp %ld x pp %ld%s: rank 0's groups", z->etp,
            z->ep, z->expert_dp, z->pp, z->dp ? "" : z->cp > 1 ? " (ep folded over tp and cp)" : " (ep folded over tp)");
    text_group(out, l, z, CS_EXPERT, CS_DIM_TP, "ETP");
    text_group(out, l, z, CS_EXPERT, CS_DIM_EP, "EP");
    text_group(out, l, z, CS_EXPERT, CS_DIM_DP, "EDP");
    fputc('\n', out);
}

static void text_layout(FILE *out, const cs_scenario *s, const cs_layout_verdict *r)
{
    const cs_layout *l = r->layout;
    const cs_layout_sizes *z = &r->sizes;
    fprintf(out, "\nlayout %s: tp %ld, pp %ld, ep %ld", l->name, z->tp, z->pp, z->ep);
    if (z->dp)
        fprintf(out, ", dp %ld", z->dp);
    if (z->etp != z->tp)
        fprintf(out, ", etp %ld", z->etp);
    if (z->cp > 1)
        fprintf(out, ", cp %ld", z->cp);
    if (z->vpp > 1)
        fprintf(out, ", vpp %ld", z->vpp);
    /* a valid layout the memory estimate does not fit is said so at once */
    fprintf(out, " -> %s\n",
            !r->valid                                     ? "INVALID"
            : r->has_memory && !r->memory_fits ? "valid, but DOES NOT FIT in GPU memory"
                                               : "valid");
    for (size_t i = 0; i < r->problems.count; i++) {
        const cs_diag *p = &r->problems.items[i];
        fprintf(out, "  %s:%d:%d: %s: %s\n", p->file, p->line, p->col,
                problem_word[p->severity], p->message);
    }
    if (!r->valid)
        return;
    fprintf(out, "  sizes     %ld GPUs; dense DP %ld", z->world, z->dense_dp);
    if (z->cp > 1)
        fprintf(out, " (gradients over dp x cp = %ld)", z->dense_dp * z->cp);
    if (s->model.moe.num_experts > 0)
        fprintf(out, ", expert DP %ld, %ld experts per GPU", z->expert_dp, z->experts_per_gpu);
    fprintf(out, "; %ld micro-batches of %ld; ", z->microbatches, z->micro_batch);
    text_stage_layers(out, z);
    fprintf(out, "; %s\n", cs_schedule_name(z->schedule));
    text_decompositions(out, s, l, z);
    text_memory(out, s, r);
}

static void report_text(FILE *out, const char *path, const cs_check *c)
{
    size_t valid = 0, unfit = 0;
    text_header(out, path, c);
    for (size_t i = 0; i < c->count; i++) {
        const cs_layout_verdict *v = &c->layouts[i];
        text_layout(out, c->scenario, v);
        valid += v->valid != 0;
        unfit += v->valid && v->has_memory && !v->memory_fits;
    }
    fprintf(out, "\n%zu of %zu layouts valid", valid, c->count);
    if (unfit)
        fprintf(out, " (%zu of them do not fit in GPU memory)", unfit);
    fputc('\n', out);
}

static void json_problems(cs_json *j, const char *key, const cs_diags *d, cs_severity sev)
{
    cs_json_array_begin(j, key);
    for (size_t i = 0; i < d->count; i++)
        if (d->items[i].severity == sev)
            cs_json_string(j, NULL, d->items[i].message);
    cs_json_array_end(j);
}

static void json_recompute_modules(cs_json *j, unsigned bits)
{
    cs_json_array_begin(j, "recompute_modules");
    for (int i = 0; cs_recompute_module_name(i); i++)
        if (bits & (1u << i))
            cs_json_string(j, NULL, cs_recompute_module_name(i));
    cs_json_array_end(j);
}

static void json_memory(cs_json *j, const cs_scenario *s, const cs_layout_verdict *r)
{
    const cs_memory_breakdown *b = &r->peak;
    cs_json_object_begin(j, "memory_estimate");
    cs_json_number(j, "memory_peak_bytes", b->total);
    cs_json_int(j, "memory_peak_stage", r->peak_stage);
    cs_json_bool(j, "memory_fits", r->memory_fits);
    if (!r->memory_fits && r->fix[0]) {
        cs_json_string(j, "fits_with", r->fix);
        cs_json_number(j, "fits_with_bytes", r->fix_total);
    } else if (!r->memory_fits) {
        cs_json_null(j, "fits_with");
    }
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
    cs_json_int(j, "cp", z->cp);
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
        cs_json_inline_array_begin(j, "stage_layers");
        for (long st = 0; st < z->pp; st++)
            cs_json_int(j, NULL, cs_layout_stage_layers(z, st));
        cs_json_array_end(j);
        cs_json_int(j, "experts_per_gpu", z->experts_per_gpu);
        cs_json_string(j, "schedule", cs_schedule_name(z->schedule));
        cs_json_string(j, "recompute", cs_recompute_name(z->recompute));
        if (z->recompute == CS_RECOMPUTE_SELECTIVE)
            json_recompute_modules(j, s->training.recompute_modules);
        json_memory(j, s, r);
    }
    cs_json_object_end(j);
}

static void report_json(FILE *out, const cs_check *c)
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

void cs_report_check(FILE *out, cs_format format, const char *path, const cs_check *c)
{
    if (format == CS_FORMAT_JSON)
        report_json(out, c);
    else
        report_text(out, path, c);
}

/* nccl-tests' table: out-of-place then in-place columns (the same here:
 * nothing in the model tells them apart), then what ran. */
static void collective_text(FILE *out, const cs_coll_report *r)
{
    int reduces = r->op == CS_COLL_ALL_REDUCE || r->op == CS_COLL_REDUCE_SCATTER;
    fprintf(out, "# clustersim collective: %s on %ld GPUs of %s (%ld node%s), algo %s, "
                 "network model %s\n#\n",
            cs_coll_op_name(r->op), r->gpus, r->cluster, r->nodes, r->nodes == 1 ? "" : "s",
            cs_coll_algo_name(r->algo), cs_network_model_name(r->model));
    fprintf(out, "#%58s%s%35s\n", "", "out-of-place", "in-place");
    fprintf(out, "#%11s  %12s  %8s  %6s  %6s  %8s %7s %7s %6s  %8s %7s %7s %6s  %-12s %s\n",
            "size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time",
            "algbw", "busbw", "#wrong", "algo", "proto");
    fprintf(out, "#%11s  %12s  %8s  %6s  %6s  %8s %7s %7s %6s  %8s %7s %7s\n", "(B)",
            "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)");
    double sum = 0;
    for (size_t i = 0; i < r->count; i++) {
        const cs_coll_row *w = &r->rows[i];
        char cells[128];
        snprintf(cells, sizeof cells, "%8.2f %7.2f %7.2f %6s", w->time * 1e6, w->algbw / 1e9,
                 w->busbw / 1e9, "N/A");
        fprintf(out, "%12.0f  %12.0f  %8s  %6s  %6d  %s  %s  %-12s %s\n", w->size, w->size / 4,
                "float", reduces ? "sum" : "none", r->op == CS_COLL_BROADCAST ? 0 : -1, cells,
                cells, cs_coll_algo_name(w->algo), cs_coll_proto_name(w->proto));
        sum += w->busbw;
    }
    fprintf(out, "# Out of bounds values : 0 OK\n");
    fprintf(out, "# Avg bus bandwidth    : %g\n", r->count ? sum / (double)r->count / 1e9 : 0);
}

static void collective_csv(FILE *out, const cs_coll_report *r)
{
    fprintf(out, "op,gpus,algo,proto,network_model,size_bytes,time_s,algbw_bytes_per_s,"
                 "busbw_bytes_per_s\n");
    for (size_t i = 0; i < r->count; i++) {
        const cs_coll_row *w = &r->rows[i];
        fprintf(out, "%s,%ld,%s,%s,%s,%.0f,%.9g,%.9g,%.9g\n", cs_coll_op_name(r->op), r->gpus,
                cs_coll_algo_name(w->algo), cs_coll_proto_name(w->proto),
                cs_network_model_name(r->model), w->size, w->time, w->algbw, w->busbw);
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
        cs_json_string(&j, "proto", cs_coll_proto_name(w->proto));
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

/* ---- run ------------------------------------------------------------------------ */

typedef struct target_row {
    const char *name;
    double target, predicted;
    int met;
} target_row;

/* The scenario's targets against one layout's result: time and memory at most
 * the target, throughput at least (in the target's own unit). */
static int targets_of(const cs_scenario *s, const cs_replay_result *r, target_row *out)
{
    const cs_targets *t = &s->targets;
    int n = 0;
    if (!isnan(t->iteration_time))
        out[n++] = (target_row){"iteration_time", t->iteration_time, r->iteration_time_s,
                                r->iteration_time_s <= t->iteration_time};
    if (!isnan(t->throughput)) {
        double got = t->throughput_per == CS_PER_TOKEN ? r->throughput_tokens_per_s
                                                       : r->throughput_seq_per_s;
        out[n++] = (target_row){"throughput", t->throughput, got, got >= t->throughput};
    }
    if (!isnan(t->memory_per_gpu))
        out[n++] = (target_row){"memory_per_gpu", t->memory_per_gpu, r->memory_peak_bytes,
                                r->memory_peak_bytes <= t->memory_per_gpu};
    return n;
}

static const char *const time_names[CS_TIME_KINDS] = {"compute", "tp_exposed", "ep_exposed",
                                                      "pp_exposed", "dp_exposed", "cp_exposed",
                                                      "bubble"};

void cs_report_json_breakdowns(cs_json *j, const cs_memory_breakdown *m, const double *time_s,
                               const double *compute_s)
{
    cs_json_object_begin(j, "memory_breakdown_bytes");
    cs_json_number(j, "weights", m->weights);
    cs_json_number(j, "gradients", m->gradients);
    cs_json_number(j, "optimizer", m->optimizer);
    cs_json_number(j, "activations", m->activations);
    cs_json_number(j, "buffers", m->buffers);
    cs_json_number(j, "reserved", m->reserved);
    cs_json_object_end(j);
    cs_json_object_begin(j, "time_breakdown_s");
    for (int k = 0; k < CS_TIME_KINDS; k++)
        cs_json_number(j, time_names[k], time_s[k]);
    cs_json_object_end(j);
    cs_json_object_begin(j, "compute_breakdown_s");
    for (int k = 0; k < CS_OP_END; k++)
        cs_json_number(j, cs_op_class_name((cs_op_class)k), compute_s[k]);
    cs_json_object_end(j);
}

#define COL 16

static void row_label(FILE *out, const char *label) { fprintf(out, "  %-26s", label); }

typedef double (*metric_fn)(const cs_replay_result *r, const void *arg);

static void text_metric(FILE *out, const cs_run *r, const char *label, const char *fmt,
                        double scale, metric_fn fn, const void *arg)
{
    row_label(out, label);
    for (size_t i = 0; i < r->count; i++) {
        char cell[64] = "-";
        if (r->layouts[i].replayed)
            snprintf(cell, sizeof cell, fmt, fn(&r->layouts[i].result, arg) * scale);
        fprintf(out, "%*s", COL, cell);
    }
    fputc('\n', out);
}

#define FIELD(name, expr)                                                                     \
    static double name(const cs_replay_result *r, const void *arg)                            \
    {                                                                                         \
        (void)arg;                                                                            \
        return (expr);                                                                        \
    }
FIELD(m_time, r->iteration_time_s)
FIELD(m_seq, r->throughput_seq_per_s)
FIELD(m_tok, r->throughput_tokens_per_s)
FIELD(m_tflops, r->model_tflops_per_gpu)
FIELD(m_mfu, r->mfu)
FIELD(m_bubble, r->bubble_fraction)
FIELD(m_peak, r->memory_peak_bytes)
FIELD(m_stage, (double)r->memory_peak_stage)
FIELD(m_weights, r->memory.weights)
FIELD(m_grads, r->memory.gradients)
FIELD(m_opt, r->memory.optimizer)
FIELD(m_act, r->memory.activations)
FIELD(m_buf, r->memory.buffers)
FIELD(m_res, r->memory.reserved)
FIELD(m_dropped, r->moe_routed_tokens > 0 ? r->moe_dropped_tokens / r->moe_routed_tokens : 0)

static double m_time_kind(const cs_replay_result *r, const void *arg)
{
    return r->time_s[*(const int *)arg];
}

static void text_targets(FILE *out, const cs_scenario *s, const cs_run *r)
{
    target_row rows[3];
    int n = 0;
    for (size_t i = 0; i < r->count && !n; i++)
        if (r->layouts[i].replayed)
            n = targets_of(s, &r->layouts[i].result, rows);
    for (int k = 0; k < n; k++) {
        char label[64];
        snprintf(label, sizeof label, "target %s", rows[k].name);
        row_label(out, label);
        for (size_t i = 0; i < r->count; i++) {
            const char *cell = "-";
            if (r->layouts[i].replayed) {
                target_row t[3];
                targets_of(s, &r->layouts[i].result, t);
                cell = t[k].met ? "met" : "NOT MET";
            }
            fprintf(out, "%*s", COL, cell);
        }
        fputc('\n', out);
    }
}

/* The flow check's warning, when the two network models part. */
static void text_flow_check(FILE *out, const cs_layout_run *lr, int first)
{
    double gap = cs_flow_check_gap(lr);
    if (lr->flow_skipped) {
        if (first)
            fprintf(out, "\n%s:\n", lr->verdict->layout->name);
        if (lr->verdict->sizes.world > CS_FLOW_CHECK_MAX_GPUS)
            fprintf(out, "  note: the analytic result is not checked against the flow network "
                         "model above %d GPUs (it would cost far more than the run): "
                         "--network-model flow where links may be shared\n",
                    CS_FLOW_CHECK_MAX_GPUS);
        else
            fprintf(out, "  note: the analytic result is not checked against the flow network "
                         "model: no shorter iteration fits this layout\n");
        return;
    }
    if (!lr->flow_checked || fabs(gap) <= CS_FLOW_CHECK_GAP)
        return;
    if (first)
        fprintf(out, "\n%s:\n", lr->verdict->layout->name);
    fprintf(out,
            "  warning: replayed on %ld micro-batches, the flow network model takes %+.0f%% "
            "against the analytic one (%.4f s, %.4f s): links are shared, so this analytic "
            "result is %s; --network-model flow gives the truth under contention\n",
            lr->check_microbatches, 100 * gap, lr->check_flow_s, lr->check_analytic_s,
            gap > 0 ? "optimistic" : "pessimistic");
}

static void text_run(FILE *out, const cs_scenario *s, const cs_run *r)
{
    fprintf(out, "scenario %s: %s on %s (%ld GPUs), network model %s, seed %lu\n\n", s->name,
            s->model.name, s->cluster.name, s->cluster.nodes * s->cluster.gpus_per_node,
            cs_network_model_name(r->network_model), r->seed);
    row_label(out, "layout");
    for (size_t i = 0; i < r->count; i++)
        fprintf(out, "%*s", COL, r->layouts[i].verdict->layout->name);
    fputc('\n', out);
    row_label(out, "tp/pp/ep/dp");
    for (size_t i = 0; i < r->count; i++) {
        const cs_layout_sizes *z = &r->layouts[i].verdict->sizes;
        char cell[64];
        if (z->dp)
            snprintf(cell, sizeof cell, "%ld/%ld/%ld/%ld", z->tp, z->pp, z->ep, z->dp);
        else /* folded: no whole dp; the dense DP instead */
            snprintf(cell, sizeof cell, "%ld/%ld/%ld/d%ld", z->tp, z->pp, z->ep, z->dense_dp);
        fprintf(out, "%*s", COL, cell);
    }
    fputc('\n', out);
    int any_cp = 0; /* the cp rows only where some layout has context parallelism */
    for (size_t i = 0; i < r->count; i++)
        any_cp |= r->layouts[i].verdict->sizes.cp > 1;
    if (any_cp) {
        row_label(out, "cp");
        for (size_t i = 0; i < r->count; i++)
            fprintf(out, "%*ld", COL, r->layouts[i].verdict->sizes.cp);
        fputc('\n', out);
    }
    row_label(out, "valid");
    for (size_t i = 0; i < r->count; i++)
        fprintf(out, "%*s", COL, r->layouts[i].verdict->valid ? "yes" : "NO");
    fputc('\n', out);
    text_metric(out, r, "iteration time (s)", "%.4f", 1, m_time, NULL);
    text_metric(out, r, "throughput (seq/s)", "%.1f", 1, m_seq, NULL);
    text_metric(out, r, "throughput (tokens/s)", "%.0f", 1, m_tok, NULL);
    text_metric(out, r, "model TFLOP/s per GPU", "%.1f", 1, m_tflops, NULL);
    text_metric(out, r, "MFU", "%.1f%%", 100, m_mfu, NULL);
    text_metric(out, r, "bubble share", "%.1f%%", 100, m_bubble, NULL);
    fprintf(out, "  time per GPU (ms)\n");
    static const int kinds[CS_TIME_KINDS] = {0, 1, 2, 3, 4, 5, 6};
    for (int k = 0; k < CS_TIME_KINDS; k++) {
        char label[64];
        if (k == CS_TIME_CP && !any_cp)
            continue;
        snprintf(label, sizeof label, "  %s", time_names[k]);
        text_metric(out, r, label, "%.2f", 1e3, m_time_kind, &kinds[k]);
    }
    text_metric(out, r, "memory peak (GB)", "%.2f", 1e-9, m_peak, NULL);
    text_metric(out, r, "  on stage", "%.0f", 1, m_stage, NULL);
    text_metric(out, r, "  weights", "%.2f", 1e-9, m_weights, NULL);
    text_metric(out, r, "  gradients", "%.2f", 1e-9, m_grads, NULL);
    text_metric(out, r, "  optimizer", "%.2f", 1e-9, m_opt, NULL);
    text_metric(out, r, "  activations", "%.2f", 1e-9, m_act, NULL);
    text_metric(out, r, "  buffers", "%.2f", 1e-9, m_buf, NULL);
    text_metric(out, r, "  reserved", "%.2f", 1e-9, m_res, NULL);
    if (s->model.moe.num_experts > 0 && cs_moe_capacity_factor(&s->model, &s->training) > 0)
        text_metric(out, r, "tokens dropped", "%.2f%%", 100, m_dropped, NULL);
    row_label(out, "fits in GPU memory");
    for (size_t i = 0; i < r->count; i++)
        fprintf(out, "%*s", COL,
                !r->layouts[i].replayed ? "-" : r->layouts[i].result.memory_fits ? "yes" : "NO");
    fputc('\n', out);
    text_targets(out, s, r);
    for (size_t i = 0; i < r->count; i++) {
        const cs_layout_verdict *v = r->layouts[i].verdict;
        for (size_t k = 0; k < v->problems.count; k++) {
            const cs_diag *p = &v->problems.items[k];
            if (k == 0)
                fprintf(out, "\n%s:\n", v->layout->name);
            fprintf(out, "  %s:%d:%d: %s: %s\n", p->file, p->line, p->col,
                    problem_word[p->severity], p->message);
        }
        text_flow_check(out, &r->layouts[i], v->problems.count == 0);
    }
}

static void json_run_layout(cs_json *j, const cs_scenario *s, const cs_layout_run *lr)
{
    const cs_layout_verdict *v = lr->verdict;
    const cs_layout_sizes *z = &v->sizes;
    const cs_replay_result *r = &lr->result;
    cs_json_object_begin(j, NULL);
    cs_json_string(j, "name", v->layout->name);
    cs_json_int(j, "tp", z->tp);
    cs_json_int(j, "pp", z->pp);
    cs_json_int(j, "ep", z->ep);
    cs_json_int(j, "dp", z->dp);
    cs_json_int(j, "etp", z->etp);
    cs_json_int(j, "cp", z->cp);
    cs_json_int(j, "dense_dp", z->dense_dp);
    cs_json_int(j, "expert_dp", z->expert_dp);
    cs_json_int(j, "gpus", z->world);
    cs_json_bool(j, "valid", v->valid);
    if (!v->valid) {
        json_problems(j, "errors", &v->problems, CS_ERROR);
        cs_json_object_end(j);
        return;
    }
    json_problems(j, "warnings", &v->problems, CS_WARNING);
    cs_json_int(j, "microbatches", z->microbatches);
    cs_json_int(j, "simulated_gpus", r->simulated_gpus);
    cs_json_number(j, "iteration_time_s", r->iteration_time_s);
    cs_json_number(j, "throughput_seq_per_s", r->throughput_seq_per_s);
    cs_json_number(j, "throughput_tokens_per_s", r->throughput_tokens_per_s);
    cs_json_number(j, "model_tflops_per_gpu", r->model_tflops_per_gpu);
    cs_json_number(j, "mfu", r->mfu);
    cs_json_number(j, "bubble_fraction", r->bubble_fraction);
    cs_json_number(j, "memory_peak_bytes", r->memory_peak_bytes);
    cs_json_int(j, "memory_peak_stage", r->memory_peak_stage);
    cs_json_number(j, "memory_peak_time_s", r->memory_peak_time_s);
    cs_json_bool(j, "memory_fits", r->memory_fits);
    if (lr->flow_checked) {
        cs_json_object_begin(j, "flow_check");
        cs_json_int(j, "microbatches", lr->check_microbatches);
        cs_json_number(j, "analytic_s", lr->check_analytic_s);
        cs_json_number(j, "flow_s", lr->check_flow_s);
        cs_json_number(j, "gap", cs_flow_check_gap(lr));
        cs_json_bool(j, "warned", fabs(cs_flow_check_gap(lr)) > CS_FLOW_CHECK_GAP);
        cs_json_object_end(j);
    }
    cs_report_json_breakdowns(j, &r->memory, r->time_s, r->compute_s);
    if (s->model.moe.num_experts > 0) {
        cs_json_number(j, "moe_routed_tokens", r->moe_routed_tokens);
        cs_json_number(j, "moe_dropped_tokens", r->moe_dropped_tokens);
    }
    cs_json_array_begin(j, "per_stage");
    for (long i = 0; i < r->stage_count; i++) {
        cs_json_object_begin(j, NULL);
        cs_json_int(j, "stage", i);
        cs_json_number(j, "busy_s", r->stages[i].busy_s);
        cs_json_number(j, "bubble_s", r->stages[i].bubble_s);
        cs_json_number(j, "memory_peak_bytes", r->stages[i].memory_peak_bytes);
        cs_json_object_end(j);
    }
    cs_json_array_end(j);
    target_row t[3];
    int n = targets_of(s, r, t);
    cs_json_array_begin(j, "targets");
    for (int k = 0; k < n; k++) {
        cs_json_object_begin(j, NULL);
        cs_json_string(j, "name", t[k].name);
        cs_json_number(j, "target", t[k].target);
        cs_json_number(j, "predicted", t[k].predicted);
        cs_json_bool(j, "met", t[k].met);
        cs_json_object_end(j);
    }
    cs_json_array_end(j);
    cs_json_object_end(j);
}

static void json_run(FILE *out, const cs_scenario *s, const cs_run *r)
{
    cs_json j;
    cs_json_init(&j, out);
    cs_json_object_begin(&j, NULL);
    cs_json_string(&j, "scenario", s->name);
    cs_json_string(&j, "network_model", cs_network_model_name(r->network_model));
    cs_json_int(&j, "seed", (long)r->seed);
    cs_json_array_begin(&j, "layouts");
    for (size_t i = 0; i < r->count; i++)
        json_run_layout(&j, s, &r->layouts[i]);
    cs_json_array_end(&j);
    cs_json_object_end(&j);
}

/* CSV text field: quoted when it holds a comma, quote or newline. */
static void csv_field(FILE *out, const char *text)
{
    if (!strpbrk(text, ",\"\n")) {
        fputs(text, out);
        return;
    }
    fputc('"', out);
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

static void csv_run(FILE *out, const cs_scenario *s, const cs_run *r)
{
    (void)s;
    fprintf(out, "layout,tp,pp,ep,dp,etp,cp,dense_dp,expert_dp,gpus,valid,error,microbatches,"
                 "iteration_time_s,"
                 "throughput_seq_per_s,throughput_tokens_per_s,model_tflops_per_gpu,mfu,"
                 "bubble_fraction,memory_peak_bytes,memory_peak_stage,memory_fits");
    for (int k = 0; k < CS_TIME_KINDS; k++)
        fprintf(out, ",%s_s", time_names[k]);
    fputc('\n', out);
    for (size_t i = 0; i < r->count; i++) {
        const cs_layout_verdict *v = r->layouts[i].verdict;
        const cs_layout_sizes *z = &v->sizes;
        const cs_replay_result *x = &r->layouts[i].result;
        csv_field(out, v->layout->name);
        fprintf(out, ",%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%s,", z->tp, z->pp, z->ep, z->dp,
                z->etp, z->cp > 0 ? z->cp : 1, z->dense_dp, z->expert_dp, z->world,
                v->valid ? "true" : "false");
        const char *err = "";
        for (size_t k = 0; k < v->problems.count && !*err; k++)
            if (v->problems.items[k].severity == CS_ERROR)
                err = v->problems.items[k].message;
        csv_field(out, err);
        if (!r->layouts[i].replayed) {
            fprintf(out, ",,,,,,,,,,");
            for (int k = 0; k < CS_TIME_KINDS; k++)
                fputc(',', out);
            fputc('\n', out);
            continue;
        }
        fprintf(out, ",%ld,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.0f,%ld,%s", z->microbatches,
                x->iteration_time_s, x->throughput_seq_per_s, x->throughput_tokens_per_s,
                x->model_tflops_per_gpu, x->mfu, x->bubble_fraction, x->memory_peak_bytes,
                x->memory_peak_stage, x->memory_fits ? "true" : "false");
        for (int k = 0; k < CS_TIME_KINDS; k++)
            fprintf(out, ",%.9g", x->time_s[k]);
        fputc('\n', out);
    }
}

void cs_report_run(FILE *out, cs_format format, const cs_scenario *s, const cs_run *r)
{
    if (format == CS_FORMAT_JSON)
        json_run(out, s, r);
    else if (format == CS_FORMAT_CSV)
        csv_run(out, s, r);
    else
        text_run(out, s, r);
}
