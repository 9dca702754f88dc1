#include "report/search_report.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#include "base/strutil.h"
#include "input/megatron.h"
#include "model/layout.h"
#include "report/json.h"
#include "report/report.h"

static const char *const fate_names[] = {"skipped", "invalid", "does_not_fit", "evaluated",
                                         "replayed"};

static const char *stage_name(const cs_search_candidate *c)
{
    return c->fate >= CS_FATE_EVALUATED ? cs_network_model_name(c->stage) : "";
}

/* ---- the ranking's JSON and CSV ----------------------------------------------------- */

static void json_candidate(cs_json *j, const cs_search *s, const cs_search_candidate *c)
{
    const cs_layout_sizes *z = &c->sizes;
    cs_json_object_begin(j, NULL);
    cs_json_string(j, "name", c->layout.name);
    cs_json_int(j, "rank", c->rank);
    cs_json_int(j, "gpus", c->gpus);
    cs_json_int(j, "tp", z->tp);
    cs_json_int(j, "pp", z->pp);
    cs_json_int(j, "ep", z->ep);
    cs_json_int(j, "etp", z->etp);
    cs_json_int(j, "cp", z->cp);
    cs_json_int(j, "dp", z->dense_dp);
    cs_json_int(j, "vpp", z->vpp);
    cs_json_int(j, "micro_batch_size", z->micro_batch);
    cs_json_string(j, "schedule", cs_schedule_name(z->schedule));
    cs_json_string(j, "recompute", cs_recompute_name(z->recompute));
    cs_json_number(j, "iteration_time_s", c->iteration_time_s);
    cs_json_number(j, "throughput_seq_per_s", c->throughput_seq_per_s);
    cs_json_number(j, "mfu", c->mfu);
    cs_json_number(j, "memory_peak_bytes", c->memory_peak_bytes);
    cs_json_bool(j, "memory_fits", c->memory_fits);
    cs_json_bool(j, "sequence_parallel", s->variants[c->variant].training.sequence_parallel);
    cs_json_bool(j, "distributed_optimizer",
                 s->variants[c->variant].training.distributed_optimizer);
    cs_json_bool(j, "use_megatron_fsdp", s->variants[c->variant].training.use_megatron_fsdp);
    if (z->cp > 1) /* without cp there is no exchange */
        cs_json_string(j, "cp_comm_type",
                       cs_cp_comm_name(s->variants[c->variant].training.cp_comm_type));
    if (!isnan(c->cost_per_mtoken_usd))
        cs_json_number(j, "cost_per_million_tokens_usd", c->cost_per_mtoken_usd);
    if (!isnan(c->time_to_train_s))
        cs_json_number(j, "time_to_train_s", c->time_to_train_s);
    cs_json_bool(j, "pareto", c->pareto);
    if (c->rank >= 1 && c->rank <= s->top) { /* the best: every metric of `run` */
        cs_json_number(j, "throughput_tokens_per_s", c->throughput_tokens_per_s);
        cs_json_number(j, "model_tflops_per_gpu", c->model_tflops_per_gpu);
        cs_json_number(j, "bubble_fraction", c->bubble_fraction);
        cs_report_json_breakdowns(j, &c->memory, c->time_s, c->compute_s);
    }
    if (c->repeats > 1) { /* the numbers above are means */
        cs_json_int(j, "repeats", c->repeats);
        cs_json_number(j, "iteration_time_p5_s", c->iteration_time_p5_s);
        cs_json_number(j, "iteration_time_p95_s", c->iteration_time_p95_s);
    }
    cs_json_string(j, "stage", stage_name(c));
    cs_json_object_end(j);
}

static long shown(const cs_search *r, long top)
{
    return top < 0 || top > r->evaluated ? r->evaluated : top;
}

static void report_json(FILE *out, cs_search_objective objective, const cs_search *r, long top)
{
    cs_json j;
    cs_json_init(&j, out);
    cs_json_object_begin(&j, NULL);
    cs_json_int(&j, "candidates_in_space", r->count);
    cs_json_string(&j, "objective", cs_search_objective_name(objective));
    cs_json_int(&j, "invalid", r->invalid);
    cs_json_int(&j, "does_not_fit", r->no_fit);
    cs_json_int(&j, "skipped", r->skipped);
    cs_json_int(&j, "evaluated", r->evaluated);
    cs_json_int(&j, "replayed", r->replayed);
    cs_json_int(&j, "pareto", r->pareto);
    cs_json_int(&j, "resumed", r->resumed);
    char shard[48];
    snprintf(shard, sizeof shard, "%ld/%ld", r->shard + 1, r->shards);
    cs_json_string(&j, "shard", shard);
    cs_json_array_begin(&j, "candidates");
    for (long k = 0; k < shown(r, top); k++)
        json_candidate(&j, r, &r->c[r->ranked[k]]);
    cs_json_array_end(&j);
    cs_json_object_end(&j);
    fputc('\n', out);
}

/* A CSV field: the text with its commas and quotes made harmless. */
static void csv_text(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++)
        fputs(*s == '"' ? "\"\"" : (char[]){*s, 0}, out);
    fputc('"', out);
}

/* A number as it reads back exactly (--resume takes it), or nothing for NaN. */
static void csv_number(FILE *out, double v)
{
    char buf[40];
    if (!isnan(v)) {
        cs_exact_number(buf, sizeof buf, v);
        fputs(buf, out);
    }
}

static void csv_row(FILE *out, const cs_search *r, const cs_search_candidate *c)
{
    const cs_layout *l = &c->layout;
    const cs_training *t = &r->variants[c->variant].training;
    fprintf(out, "%s,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%s,%s,%s,%s,%s,", l->name, c->gpus, l->tp, l->pp,
            l->ep, l->etp, l->vpp, l->micro_batch_size,
            cs_schedule_name((cs_schedule)l->schedule),
            cs_recompute_name((cs_recompute)l->recompute),
            t->sequence_parallel ? "true" : "false", t->distributed_optimizer ? "true" : "false",
            fate_names[c->fate]);
    csv_text(out, c->why);
    if (c->fate >= CS_FATE_NO_FIT)
        fprintf(out, ",%ld,%.0f", c->sizes.dense_dp, c->memory_estimate_bytes);
    else
        fputs(",,", out);
    if (c->fate >= CS_FATE_EVALUATED) {
        fprintf(out, ",%ld,%s,", c->rank, stage_name(c));
        double v[] = {c->iteration_time_s, c->throughput_seq_per_s, c->mfu, c->memory_peak_bytes};
        for (size_t k = 0; k < sizeof v / sizeof *v; k++) {
            csv_number(out, v[k]);
            fputc(',', out);
        }
        fprintf(out, "%s,", c->memory_fits ? "true" : "false");
        csv_number(out, c->objective);
        fputc(',', out);
        csv_number(out, c->cost_per_mtoken_usd);
        fputc(',', out);
        csv_number(out, c->time_to_train_s);
        fprintf(out, ",%s,%ld,", c->pareto ? "true" : "false", c->repeats);
        csv_number(out, c->iteration_time_p5_s);
        fputc(',', out);
        csv_number(out, c->iteration_time_p95_s);
    } else
        fputs(",,,,,,,,,,,,,,", out);
    /* which search and shard wrote it: what --resume and --merge check */
    fprintf(out, ",%s,%ld/%ld\n", r->id, r->shard + 1, r->shards);
}

static const char *const csv_header = cs_search_csv_header;

void cs_report_search_csv(FILE *out, const cs_search *r)
{
    fputs(csv_header, out);
    for (long i = 0; i < r->count; i++)
        csv_row(out, r, &r->c[i]);
}

static void report_csv(FILE *out, const cs_search *r, long top)
{
    fputs(csv_header, out);
    for (long k = 0; k < shown(r, top); k++)
        csv_row(out, r, &r->c[r->ranked[k]]);
}

/* ---- text -------------------------------------------------------------------------- */

/* A rule's message with its numbers left out, so that one rule counts once. */
static void rule_of(const char *why, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = why; *p && n + 2 < size; p++) {
        if (isdigit((unsigned char)*p)) {
            if (n == 0 || out[n - 1] != '#')
                out[n++] = '#';
            while (isdigit((unsigned char)p[1]) || (p[1] == '.' && isdigit((unsigned char)p[2])))
                p++;
            continue;
        }
        out[n++] = *p;
    }
    out[n] = 0;
}

/* The pruned candidates counted by rule, most first (at most 8 rules). */
static void print_rules(FILE *out, const cs_search *r)
{
    enum { MAX_RULES = 64 };
    char rules[MAX_RULES][256];
    long counts[MAX_RULES], n = 0, other = 0;
    for (long i = 0; i < r->count; i++) {
        const cs_search_candidate *c = &r->c[i];
        if (c->fate >= CS_FATE_EVALUATED || c->fate == CS_FATE_SKIPPED)
            continue; /* not pruned: evaluated, or left to the budget or another shard */
        char rule[256];
        rule_of(c->why, rule, sizeof rule);
        long k = 0;
        while (k < n && strcmp(rules[k], rule))
            k++;
        if (k == n && n == MAX_RULES) {
            other++;
            continue;
        }
        if (k == n) {
            snprintf(rules[n], sizeof rules[n], "%s", rule);
            counts[n++] = 0;
        }
        counts[k]++;
    }
    for (long shown_rules = 0; shown_rules < 8 && shown_rules < n; shown_rules++) {
        long best = 0;
        for (long k = 1; k < n; k++)
            if (counts[k] > counts[best])
                best = k;
        if (counts[best] == 0)
            break;
        fprintf(out, "  %6ld  %s\n", counts[best], rules[best]);
        counts[best] = 0;
    }
    if (other)
        fprintf(out, "  %6ld  by other rules\n", other);
}

/* The candidate that is layout l once resolved (-1: none, or l is
 * invalid). */
static long candidate_of(const cs_scenario *s, const cs_search *r, const cs_layout *l)
{
    cs_layout_sizes z;
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_layout_check(s, l, &z, &d);
    cs_diags_free(&d);
    if (rc != 0)
        return -1;
    /* the variant that is the scenario as written; without cp, the one
     * that holds the candidates without an exchange */
    int own = -1, exchange = z.cp > 1 ? (int)s->training.cp_comm_type : r->cp_home;
    for (int v = 0; v < r->variant_count && own < 0; v++) {
        const cs_scenario *x = &r->variants[v];
        if (x->cluster.nodes == s->cluster.nodes &&
            x->training.sequence_parallel == s->training.sequence_parallel &&
            x->training.distributed_optimizer == s->training.distributed_optimizer &&
            x->training.use_megatron_fsdp == s->training.use_megatron_fsdp &&
            (int)x->training.cp_comm_type == exchange)
            own = v;
    }
    for (long i = 0; i < r->count; i++) {
        const cs_layout *c = &r->c[i].layout;
        if (r->c[i].variant == own && c->tp == z.tp && c->pp == z.pp && c->ep == z.ep &&
            c->etp == z.etp && (c->cp > 1 ? c->cp : 1) == z.cp &&
            c->vpp == z.vpp && c->micro_batch_size == z.micro_batch &&
            c->schedule == (long)z.schedule && c->recompute == (long)z.recompute)
            return i;
    }
    return -1;
}

static const char *objective_text(cs_search_objective o)
{
    switch (o) {
    case CS_OBJECTIVE_COST:
        return "cost per token (GPUs x iteration time x price)";
    case CS_OBJECTIVE_THROUGHPUT_PER_GPU:
        return "throughput per GPU (GPUs x iteration time, least first)";
    case CS_OBJECTIVE_TIME_TO_TRAIN:
        return "time-to-train (the same order as iteration time)";
    case CS_OBJECTIVE_THROUGHPUT:
        return "throughput (the same order as iteration time: the global batch is fixed)";
    default:
        return "iteration time";
    }
}

static void print_counts(FILE *out, const cs_search *r)
{
    fprintf(out, "  %ld candidates: %ld invalid, %ld do not fit by the memory estimate, %ld "
                 "evaluated (analytic), %ld replayed again",
            r->count, r->invalid, r->no_fit, r->evaluated, r->replayed);
    long others = 0; /* skipped as another shard's (they say which), else by the budget */
    for (long i = 0; i < r->count; i++)
        others += r->c[i].fate == CS_FATE_SKIPPED && r->c[i].why[0];
    if (r->skipped > others)
        fprintf(out, ", %ld not evaluated (the --budget ran out)", r->skipped - others);
    if (others)
        fprintf(out, ", %ld left to the other shards", others);
    fputc('\n', out);
    if (r->resumed)
        fprintf(out, "  %ld evaluated by earlier runs (search.csv: --resume, --merge)\n",
                r->resumed);
    if (r->shards > 1)
        fprintf(out, "  shard %ld/%ld: no last stage; one search with a --merge of every "
                     "shard's search.csv ranks them all\n",
                r->shard + 1, r->shards);
}

static void print_row(FILE *out, const cs_search_candidate *c, int cost)
{
    const cs_layout_sizes *z = &c->sizes;
    fprintf(out, "  %4ld%c %-54s %5ld %3ld %3ld %3ld %3ld %4ld %3ld %3ld  %9.4f s %10.1f %5.1f%% "
                 "%6.1f GB%s",
            c->rank, c->pareto ? '*' : ' ', c->layout.name, c->gpus, z->tp, z->pp, z->ep, z->etp,
            z->dense_dp, z->vpp, z->micro_batch, c->iteration_time_s, c->throughput_seq_per_s,
            100 * c->mfu, c->memory_peak_bytes / 1e9, c->memory_fits ? " " : "!");
    if (cost)
        fprintf(out, " %9.3f", c->cost_per_mtoken_usd);
    fprintf(out, " %s", stage_name(c));
    if (c->repeats > 1)
        fprintf(out, ", mean of %ld (p5-p95 %.6g-%.6g s)", c->repeats, c->iteration_time_p5_s,
                c->iteration_time_p95_s);
    fputc('\n', out);
}

static void print_table(FILE *out, const cs_scenario *s, const cs_search *r, long top)
{
    int cost = s->cost.present;
    fprintf(out, "\n  %4s  %-54s %5s %3s %3s %3s %3s %4s %3s %3s  %11s %10s %6s %9s %s %s\n",
            "rank", "layout", "GPUs", "tp", "pp", "ep", "etp", "dp", "vpp", "mbs", "iteration",
            "seq/s", "MFU", "memory", cost ? "  $/Mtok" : "", "model");
    for (long k = 0; k < shown(r, top); k++)
        print_row(out, &r->c[r->ranked[k]], cost);
    fprintf(out, "  (* on the Pareto front of iteration time, memory per GPU and GPUs; ! does not "
                 "fit)\n");
}

/* The front in rank order (at most 10 shown). */
static void print_front(FILE *out, const cs_search *r)
{
    fprintf(out, "\n  Pareto front (no other candidate is at least as fast, as small in memory and "
                 "on as few GPUs): %ld\n",
            r->pareto);
    long n = 0;
    for (long k = 0; k < r->evaluated && n < 10; k++) {
        const cs_search_candidate *c = &r->c[r->ranked[k]];
        if (!c->pareto)
            continue;
        n++;
        fprintf(out, "    %-54s %5ld GPUs %9.4f s %6.1f GB  rank %ld\n", c->layout.name, c->gpus,
                c->iteration_time_s, c->memory_peak_bytes / 1e9, c->rank);
    }
    if (r->pareto > n)
        fprintf(out, "    ... and %ld more in search.csv (pareto: true)\n", r->pareto - n);
}

static void print_own_layouts(FILE *out, const cs_scenario *s, const cs_search *r)
{
    for (size_t i = 0; i < s->layout_count; i++) {
        long k = candidate_of(s, r, &s->layouts[i]);
        const cs_search_candidate *c = k >= 0 ? &r->c[k] : NULL;
        if (!c)
            fprintf(out, "\n  the scenario's %s: invalid, or outside the space",
                    s->layouts[i].name);
        else if (c->fate < CS_FATE_EVALUATED)
            fprintf(out, "\n  the scenario's %s: %s (%s)", s->layouts[i].name,
                    c->fate == CS_FATE_SKIPPED ? "not evaluated" : "pruned", c->why);
        else
            fprintf(out, "\n  the scenario's %s: rank %ld of %ld (%s, %.4f s, %s)",
                    s->layouts[i].name, c->rank, r->evaluated, c->layout.name,
                    c->iteration_time_s, stage_name(c));
    }
    if (s->layout_count)
        fputc('\n', out);
}

static void report_text(FILE *out, const cs_scenario *s, const cs_search *r, long top)
{
    long world = s->cluster.nodes * s->cluster.gpus_per_node;
    fprintf(out, "search %s: %s on %s (%ld GPUs)\n\n", s->name, s->model.name, s->cluster.name,
            world);
    fprintf(out, "  objective: %s\n", objective_text(s->search.objective));
    print_counts(out, r);
    if (r->invalid + r->no_fit > 0) {
        fputs("\n  pruned, by rule:\n", out);
        print_rules(out, r);
    }
    if (r->evaluated == 0) {
        fputs("\n  no candidate is valid and fits\n", out);
        return;
    }
    print_table(out, s, r, top);
    print_front(out, r);
    print_own_layouts(out, s, r);
    const cs_search_candidate *b = &r->c[r->ranked[0]];
    const cs_layout_sizes *z = &b->sizes;
    fprintf(out, "\n  the best, as a layouts: entry (on %ld GPUs, cluster.nodes %ld):\n", b->gpus,
            b->gpus / s->cluster.gpus_per_node);
    char cp[32] = "";
    if (z->cp > 1)
        snprintf(cp, sizeof cp, " cp: %ld,", z->cp);
    fprintf(out, "  - { name: %s, tp: %ld, pp: %ld, ep: %ld, etp: %ld,%s vpp: %ld, "
                 "micro_batch_size: %ld, schedule: %s, recompute: %s }\n",
            b->layout.name, z->tp, z->pp, z->ep, z->etp, cp, z->vpp, z->micro_batch,
            cs_schedule_name(z->schedule), cs_recompute_name(z->recompute));
    fputs("\n  and as Megatron-LM arguments:\n", out);
    cs_megatron_export(out, &r->variants[b->variant], &b->layout, b->gpus);
}

void cs_report_search(FILE *out, cs_format format, const cs_scenario *s, const cs_search *r,
                      long top)
{
    if (format == CS_FORMAT_JSON)
        report_json(out, s->search.objective, r, top);
    else if (format == CS_FORMAT_CSV)
        report_csv(out, r, top);
    else
        report_text(out, s, r, top);
}

/* ---- pareto.dat -------------------------------------------------------------------- */

int cs_report_search_pareto(const char *dir, const cs_scenario *s, const cs_search *r)
{
    char dat[4200], list[4200];
    snprintf(dat, sizeof dat, "%s/pareto.dat", dir);
    snprintf(list, sizeof list, "%s/plots.txt", dir);
    FILE *out = fopen(dat, "w");
    if (!out)
        return -1;
    fputs("# memory_gb time_s (every fitting evaluated candidate)\n", out);
    for (long k = 0; k < r->evaluated; k++) {
        const cs_search_candidate *c = &r->c[r->ranked[k]];
        if (c->memory_fits)
            fprintf(out, "%.6g %.9g\n", c->memory_peak_bytes / 1e9, c->iteration_time_s);
    }
    fputs("\n\n# memory_gb time_s rank (the Pareto front)\n", out);
    for (long k = 0; k < r->evaluated; k++) {
        const cs_search_candidate *c = &r->c[r->ranked[k]];
        if (c->pareto)
            fprintf(out, "%.6g %.9g %ld\n", c->memory_peak_bytes / 1e9, c->iteration_time_s,
                    c->rank);
    }
    fputs("\n\n# memory_gb time_s label (the best)\n", out);
    const cs_search_candidate *b = &r->c[r->ranked[0]];
    if (b->memory_fits)
        fprintf(out, "%.6g %.9g \"%s\"\n", b->memory_peak_bytes / 1e9, b->iteration_time_s,
                b->layout.name);
    int rc = fclose(out) == 0 ? 0 : -1;
    FILE *l = fopen(list, "a");
    if (!l)
        return -1;
    fprintf(l, "plots/pareto.gp\tpareto.dat\tpareto.png\t%s: search, %s\t%.1f\n", s->name,
            s->model.name, s->search.max_memory * s->cluster.gpu.memory / 1e9);
    return fclose(l) == 0 ? rc : -1;
}
