#include "study/sweep.h"

#include <errno.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replay/replay.h"
#include "base/fileio.h"
#include "base/progress.h"
#include "base/strutil.h"
#include "model/check.h"
#include "study/price.h"

/* ---- points ---------------------------------------------------------------- */

void cs_sweep_fingerprint(const cs_scenario *s, char out[17])
{
    /* FNV-1a (64-bit) over the text of every file the scenario loaded, in
     * order: the scenario, its model, cluster and bases. */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < s->sources.count; i++) {
        const cs_yfile *f = s->sources.files[i];
        for (size_t k = 0; k <= f->len; k++) { /* the NUL ends each file */
            h ^= k < f->len ? (unsigned char)f->text[k] : 0;
            h *= 1099511628211ull;
        }
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

long cs_sweep_point_count(const cs_sweep *sw)
{
    if (sw->param_count == 0)
        return 1;
    if (sw->mode == CS_SWEEP_ZIP)
        return sw->params[0].count;
    long n = 1;
    for (int i = 0; i < sw->param_count; i++)
        n *= sw->params[i].count;
    return n;
}

void cs_sweep_point_indices(const cs_sweep *sw, long point, long *index)
{
    for (int i = sw->param_count - 1; i >= 0; i--) {
        if (sw->mode == CS_SWEEP_ZIP) {
            index[i] = point;
            continue;
        }
        index[i] = point % sw->params[i].count;
        point /= sw->params[i].count;
    }
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

unsigned long cs_sweep_seed(unsigned long seed, long point, long repeat)
{
    uint64_t h = splitmix64((uint64_t)seed);
    h = splitmix64(h ^ (uint64_t)point);
    return (unsigned long)splitmix64(h ^ ((uint64_t)repeat << 32));
}

/* ---- metrics of one replay ----------------------------------------------------- */

enum {
    M_TIME,
    M_SEQ,
    M_TOK,
    M_TFLOPS,
    M_MFU,
    M_BUBBLE,
    M_PEAK,
    M_PEAK_STAGE,
    M_FITS,
    M_COMPUTE,
    M_TP,
    M_EP,
    M_PP,
    M_DP,
    M_CP,
    M_IDLE,
    M_DROPPED,
    M_COST_ITER,
    M_TRAIN_TIME,
    M_TRAIN_COST,
    M_COST_MTOK,
    M_COUNT
};

static const char *const metric_names[M_COUNT] = {"iteration_time_s",
                                                  "throughput_seq_per_s",
                                                  "throughput_tokens_per_s",
                                                  "model_tflops_per_gpu",
                                                  "mfu",
                                                  "bubble_fraction",
                                                  "memory_peak_bytes",
                                                  "memory_peak_stage",
                                                  "memory_fits",
                                                  "compute_s",
                                                  "tp_exposed_s",
                                                  "ep_exposed_s",
                                                  "pp_exposed_s",
                                                  "dp_exposed_s",
                                                  "cp_exposed_s",
                                                  "bubble_s",
                                                  "moe_dropped_tokens",
                                                  "cost_per_iteration_usd",
                                                  "time_to_train_s",
                                                  "total_cost_usd",
                                                  "cost_per_million_tokens_usd"};

/* Metrics written: the cost columns only with a cost: block, or a price: of
 * the scenario's cluster, or when the sweep varies the cluster (each preset
 * brings its price; a point without one leaves its cost cells empty). */
static int metric_count(const cs_scenario *s)
{
    int priced = s->cost.present;
    for (int i = 0; i < s->sweep.param_count; i++) {
        const char *path = s->sweep.params[i].path;
        priced |= !strcmp(path, "cluster.base") || !strncmp(path, "cost.", 5) ||
                  !strncmp(path, "cluster.price.", 14);
    }
    return priced ? M_COUNT : M_COST_ITER;
}

static void metrics_of(const cs_scenario *s, long gpus, const cs_replay_result *r, double *m)
{
    m[M_TIME] = r->iteration_time_s;
    m[M_SEQ] = r->throughput_seq_per_s;
    m[M_TOK] = r->throughput_tokens_per_s;
    m[M_TFLOPS] = r->model_tflops_per_gpu;
    m[M_MFU] = r->mfu;
    m[M_BUBBLE] = r->bubble_fraction;
    m[M_PEAK] = r->memory_peak_bytes;
    m[M_PEAK_STAGE] = (double)r->memory_peak_stage;
    m[M_FITS] = r->memory_fits;
    for (int k = 0; k < CS_TIME_KINDS; k++)
        m[M_COMPUTE + k] = r->time_s[k];
    m[M_DROPPED] = r->moe_dropped_tokens;
    /* a point without a price (a swept cluster with none) has no cost */
    double per_gpu_s = cs_price_per_gpu_s(&s->cost, &s->cluster);
    m[M_COST_ITER] = (double)gpus * r->iteration_time_s * per_gpu_s;
    double train = s->training.tokens > 0 && r->throughput_tokens_per_s > 0
                       ? s->training.tokens / r->throughput_tokens_per_s
                       : NAN;
    m[M_TRAIN_TIME] = train;
    m[M_TRAIN_COST] = (double)gpus * train * per_gpu_s;
    m[M_COST_MTOK] = r->throughput_tokens_per_s > 0
                         ? (double)gpus * per_gpu_s / r->throughput_tokens_per_s * 1e6
                         : NAN;
}

/* ---- rows ------------------------------------------------------------------------ */

typedef struct text {
    char *buf;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = cs_vasprintf(fmt, ap);
    va_end(ap);
    if (!s)
        return;
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b) {
            free(s);
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
    free(s);
}

/* A CSV field, quoted when it holds a comma, a quote or a line break. */
static void put_field(text *t, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        put(t, "%s", s);
        return;
    }
    put(t, "\"");
    for (const char *p = s; *p; p++)
        put(t, *p == '"' ? "\"\"" : "%c", *p);
    put(t, "\"");
}

static void put_number(text *t, double v)
{
    if (isnan(v))
        return;
    put(t, "%.9g", v);
}

typedef struct job {
    const char *path;
    const cs_paths *paths;
    const cs_scenario *base;
    const long *layouts; /* indices of the swept layouts in the base */
    long layout_count;
    int metrics;
    char id[17];    /* the sweep's fingerprint (cs_sweep_fingerprint) */
    char shard[48]; /* "K/N", 1-based */
} job;

/* The end of every row: which sweep and which shard wrote it, so that merge
 * and resume can tell rows of another sweep, or a missing shard. */
static void row_end(text *t, const job *j) { put(t, ",%s,%s\n", j->id, j->shard); }

/* The prefix of a row: point, layout, statistic and the swept values. */
static void row_start(text *t, const job *j, long point, const char *layout, const char *stat)
{
    const cs_sweep *sw = &j->base->sweep;
    cs_yfile *f = j->base->sources.files[0];
    long index[CS_SWEEP_MAX_PARAMS];
    cs_sweep_point_indices(sw, point, index);
    put(t, "%ld,", point);
    put_field(t, layout);
    put(t, ",%s", stat);
    for (int i = 0; i < sw->param_count; i++) {
        yaml_node_t *list = cs_yfile_node(f, sw->params[i].list);
        const char *v = cs_ynode_text(cs_yfile_node(f, list->data.sequence.items.start[index[i]]));
        put(t, ",");
        put_field(t, v ? v : "");
    }
}

static void invalid_rows(text *t, const job *j, long point, const char *layout, const char *why)
{
    long repeats = j->base->sweep.repeats;
    static const char *const stats[] = {"mean", "std", "p5", "p50", "p95"};
    for (int s = 0; s < (repeats > 1 ? 5 : 1); s++) {
        row_start(t, j, point, layout, repeats > 1 ? stats[s] : "value");
        put(t, ",false,");
        put_field(t, why);
        for (int k = 0; k < j->metrics; k++)
            put(t, ",");
        row_end(t, j);
    }
}

/* Rows of one layout: the value, or mean, std, p5, p50, p95 over repeats. */
static void result_rows(text *t, const job *j, long point, const char *layout, double (*m)[M_COUNT],
                        long repeats)
{
    static const char *const stats[] = {"mean", "std", "p5", "p50", "p95"};
    double *column = malloc((size_t)repeats * sizeof *column);
    if (!column)
        return;
    for (int s = 0; s < (repeats > 1 ? 5 : 1); s++) {
        row_start(t, j, point, layout, repeats > 1 ? stats[s] : "value");
        put(t, ",true,");
        for (int k = 0; k < j->metrics; k++) {
            for (long r = 0; r < repeats; r++)
                column[r] = m[r][k];
            double v = column[0];
            if (repeats > 1) {
                gsl_sort(column, 1, (size_t)repeats);
                switch (s) {
                case 0:
                    v = gsl_stats_mean(column, 1, (size_t)repeats);
                    break;
                case 1:
                    v = gsl_stats_sd(column, 1, (size_t)repeats);
                    break;
                default: {
                    static const double q[] = {0, 0, 0.05, 0.5, 0.95};
                    v = gsl_stats_quantile_from_sorted_data(column, 1, (size_t)repeats, q[s]);
                }
                }
            }
            put(t, ",");
            put_number(t, v);
        }
        row_end(t, j);
    }
    free(column);
}

/* Every row of one point. */
static char *run_point(const job *j, long point)
{
    const cs_scenario *base = j->base;
    const cs_sweep *sw = &base->sweep;
    text t = {0};
    long index[CS_SWEEP_MAX_PARAMS];
    cs_override o[CS_SWEEP_MAX_PARAMS];
    cs_sweep_point_indices(sw, point, index);
    cs_yfile *f = base->sources.files[0];
    for (int i = 0; i < sw->param_count; i++) {
        yaml_node_t *list = cs_yfile_node(f, sw->params[i].list);
        o[i] = (cs_override){sw->params[i].path, list->data.sequence.items.start[index[i]]};
    }
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    int loaded = cs_scenario_load_with(j->path, j->paths, o, sw->param_count, &s, &d) == 0;
    s.no_symmetry = j->base->no_symmetry;
    for (long li = 0; li < j->layout_count; li++) {
        const char *name = base->layouts[j->layouts[li]].name;
        if (!loaded) {
            const cs_diag *e = d.count ? &d.items[0] : NULL;
            char *why = e ? cs_asprintf("%s:%d:%d: %s", e->file, e->line, e->col, e->message)
                          : cs_strdup("the point does not load");
            invalid_rows(&t, j, point, name, why ? why : "");
            free(why);
            continue;
        }
        const cs_layout *l = &s.layouts[j->layouts[li]];
        cs_layout_sizes z;
        cs_diags problems;
        cs_diags_init(&problems);
        if (cs_layout_check(&s, l, &z, &problems) != 0) {
            const char *why = "";
            for (size_t k = 0; k < problems.count && !*why; k++)
                if (problems.items[k].severity == CS_ERROR)
                    why = problems.items[k].message;
            invalid_rows(&t, j, point, name, why);
            cs_diags_free(&problems);
            continue;
        }
        cs_diags_free(&problems);
        long repeats = sw->repeats;
        double(*m)[M_COUNT] = calloc((size_t)repeats, sizeof *m);
        int failed = !m;
        for (long r = 0; r < repeats && !failed; r++) {
            cs_replay_result res;
            unsigned long seed = repeats > 1 ? cs_sweep_seed(s.seed, point, r) : s.seed;
            failed = cs_replay(&s, l, &z, s.network_model, seed, &res) != 0;
            if (!failed)
                metrics_of(&s, z.world, &res, m[r]);
            cs_replay_result_free(&res);
        }
        if (failed)
            invalid_rows(&t, j, point, name, "the replay ran out of memory");
        else
            result_rows(&t, j, point, name, m, repeats);
        free(m);
    }
    cs_scenario_free(&s);
    cs_diags_free(&d);
    return t.buf ? t.buf : cs_strdup("");
}

/* ---- the CSV file ------------------------------------------------------------------ */

static char *header(const job *j)
{
    const cs_sweep *sw = &j->base->sweep;
    text t = {0};
    put(&t, "point,layout,statistic");
    for (int i = 0; i < sw->param_count; i++) {
        put(&t, ",");
        put_field(&t, sw->params[i].path);
    }
    put(&t, ",valid,error");
    for (int k = 0; k < j->metrics; k++)
        put(&t, ",%s", metric_names[k]);
    put(&t, ",sweep,shard\n");
    return t.buf;
}

/* Keeps the whole points of an existing sweep.csv: marks them in `done` and
 * rewrites the file without a torn last point. Returns 0, or -1 when the
 * file belongs to another sweep: other columns, or rows another scenario
 * text or shard wrote (their ",sweep,shard" end is not `tail`). */
static int resume_from(const char *csv, const char *head, const char *tail, long rows_per_point,
                       long points, unsigned char *done)
{
    size_t len;
    char *buf = cs_file_read(csv, CS_SWEEP_CSV_MAX, &len);
    if (!buf && errno == ENOENT)
        return 0; /* nothing yet: start afresh */
    if (!buf) { /* a FIFO, a device, a directory, too large: say so, start nothing */
        char why[64];
        fprintf(stderr, "clustersim sweep: cannot resume from %s: %s\n", csv,
                cs_file_error(errno, CS_SWEEP_CSV_MAX, why, sizeof why));
        return -1;
    }
    size_t hl = strlen(head);
    if (len < hl || strncmp(buf, head, hl) != 0) {
        fprintf(stderr,
                "clustersim sweep: %s has other columns: another sweep, or one an older "
                "clustersim wrote; remove it or run without --resume\n",
                csv);
        free(buf);
        return -1;
    }
    size_t keep = hl, at = hl;
    long current = -1, rows = 0;
    while (at < len) {
        char *nl = memchr(buf + at, '\n', len - at);
        if (!nl)
            break; /* a torn line */
        long point = strtol(buf + at, NULL, 10);
        size_t tl = strlen(tail), ll = (size_t)(nl - (buf + at));
        if (ll < tl || memcmp(nl - tl, tail, tl) != 0) {
            fprintf(stderr,
                    "clustersim sweep: %s holds rows of another sweep or shard (the scenario, "
                    "a file it reads or --shard changed); remove it or run without --resume\n",
                    csv);
            free(buf);
            return -1;
        }
        if (point != current) {
            current = point;
            rows = 0;
        }
        at = (size_t)(nl - buf) + 1;
        if (++rows == rows_per_point && point >= 0 && point < points) {
            done[point] = 1;
            keep = at;
        }
    }
    int rc = 0;
    if (keep < len) {
        FILE *f = fopen(csv, "wb");
        if (!f || fwrite(buf, 1, keep, f) != keep || fclose(f) != 0) {
            fprintf(stderr, "clustersim sweep: cannot rewrite %s: %s\n", csv, strerror(errno));
            rc = -1;
        }
    }
    free(buf);
    return rc;
}

/* ---- workers ------------------------------------------------------------------------- */

typedef struct pool {
    const job *j;
    const long *todo; /* points to run, in order */
    long count;
    long next;   /* next todo index to hand out */
    char **rows; /* per todo index, NULL until done */
    pthread_mutex_t lock;
    pthread_cond_t ready;
} pool;

static void *worker(void *arg)
{
    pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        long i = p->next < p->count ? p->next++ : -1;
        pthread_mutex_unlock(&p->lock);
        if (i < 0)
            return NULL;
        char *rows = run_point(p->j, p->todo[i]);
        pthread_mutex_lock(&p->lock);
        p->rows[i] = rows ? rows : cs_strdup("");
        pthread_cond_broadcast(&p->ready);
        pthread_mutex_unlock(&p->lock);
    }
}

/* Hands points to the workers and writes their rows in point order, each
 * point flushed as soon as it and every point before it are done. */
static int drain(pool *p, FILE *csv, int jobs, int show)
{
    pthread_t threads[64];
    int started = 0, rc = 0;
    double t0 = cs_progress_clock();
    for (; started < jobs && started < 64; started++)
        if (pthread_create(&threads[started], NULL, worker, p) != 0)
            break;
    if (started == 0)
        worker(p); /* no threads: do it here */
    for (long i = 0; i < p->count; i++) {
        pthread_mutex_lock(&p->lock);
        while (!p->rows[i])
            pthread_cond_wait(&p->ready, &p->lock);
        pthread_mutex_unlock(&p->lock);
        size_t n = strlen(p->rows[i]);
        if (fwrite(p->rows[i], 1, n, csv) != n || fflush(csv) != 0)
            rc = -1;
        free(p->rows[i]);
        p->rows[i] = (char *)""; /* written */
        if (show)
            cs_progress_show(stderr, "points", i + 1, p->count, t0);
    }
    for (int t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
    return rc;
}

int cs_sweep_layouts(const cs_scenario *base, long *out, long *count)
{
    const cs_sweep *sw = &base->sweep;
    *count = 0;
    if (sw->layout_count == 0) {
        for (size_t i = 0; i < base->layout_count; i++)
            out[(*count)++] = (long)i;
        return 0;
    }
    for (int k = 0; k < sw->layout_count; k++) {
        long found = -1;
        for (size_t i = 0; i < base->layout_count; i++)
            if (!strcmp(base->layouts[i].name, sw->layouts[k]))
                found = (long)i;
        if (found < 0) {
            fprintf(stderr,
                    "%s:%d:%d: error: the sweep names layout '%s', which the scenario "
                    "does not have\n",
                    sw->loc.file, sw->loc.line, sw->loc.col, sw->layouts[k]);
            return -1;
        }
        out[(*count)++] = found;
    }
    return 0;
}

long cs_sweep_run(const char *path, const cs_paths *paths, const cs_scenario *base, const char *dir,
                  const cs_sweep_options *o)
{
    long layouts[1024], nl;
    if (base->layout_count > 1024 || cs_sweep_layouts(base, layouts, &nl) != 0)
        return -1;
    job j = {path, paths, base, layouts, nl, metric_count(base), "", ""};
    cs_sweep_fingerprint(base, j.id);
    snprintf(j.shard, sizeof j.shard, "%ld/%ld", o->shard + 1, o->shards);
    long points = cs_sweep_point_count(&base->sweep);
    long rows_per_point = nl * (base->sweep.repeats > 1 ? 5 : 1);
    char csv_path[4096];
    snprintf(csv_path, sizeof csv_path, "%s/sweep.csv", dir);
    char *head = header(&j);
    unsigned char *done = calloc((size_t)points, 1);
    long *todo = malloc((size_t)points * sizeof *todo);
    char **rows = calloc((size_t)points, sizeof *rows);
    long result = -1;
    FILE *csv = NULL;
    if (!head || !done || !todo || !rows)
        goto out;
    char tail[80];
    snprintf(tail, sizeof tail, ",%s,%s", j.id, j.shard);
    if (o->resume && resume_from(csv_path, head, tail, rows_per_point, points, done) != 0)
        goto out;
    long any_done = 0;
    for (long p = 0; p < points; p++)
        any_done += done[p];
    csv = fopen(csv_path, any_done ? "ab" : "wb");
    if (!csv) {
        fprintf(stderr, "clustersim sweep: cannot write %s: %s\n", csv_path, strerror(errno));
        goto out;
    }
    if (!any_done && (fputs(head, csv) < 0 || fflush(csv) != 0))
        goto out;
    long count = 0;
    for (long p = 0; p < points; p++)
        if (p % o->shards == o->shard && !done[p])
            todo[count++] = p;
    pool pl = {&j, todo, count, 0, rows, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};
    if (drain(&pl, csv, o->jobs, o->progress) == 0)
        result = count;
    else
        fprintf(stderr, "clustersim sweep: cannot write %s: %s\n", csv_path, strerror(errno));
out:
    if (csv)
        fclose(csv);
    free(head);
    free(done);
    free(todo);
    free(rows);
    return result;
}

/* ---- reading sweep CSVs back ---------------------------------------------------------- */
