/* sweep_csv: reading sweep.csv back: the table `sweep` prints, the merge of
 * shard CSVs in point order, and the data of sweep.png. */
#include "study/sweep.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/csv.h"
#include "base/fileio.h"
#include "base/strutil.h"

int cs_sweep_print(const char *csv_path, FILE *out)
{
    size_t len;
    char *buf = cs_file_read(csv_path, CS_SWEEP_CSV_MAX, &len);
    if (!buf)
        return -1;
    char *save = NULL, *line = strtok_r(buf, "\n", &save);
    char *fields[128];
    int n = line ? cs_csv_split(line, fields, 128) : 0;
    int valid = -1, time = -1, seq = -1, mfu = -1, peak = -1;
    for (int i = 0; i < n; i++) {
        if (!strcmp(fields[i], "valid"))
            valid = i;
        else if (!strcmp(fields[i], "iteration_time_s"))
            time = i;
        else if (!strcmp(fields[i], "throughput_seq_per_s"))
            seq = i;
        else if (!strcmp(fields[i], "mfu"))
            mfu = i;
        else if (!strcmp(fields[i], "memory_peak_bytes"))
            peak = i;
    }
    if (valid < 3 || time < 0) {
        free(buf);
        return -1;
    }
    /* each swept key's column as wide as its name (cluster.scale_out.nic_bandwidth) */
    int width[128];
    for (int i = 3; i < valid; i++) {
        int w = (int)strlen(fields[i]);
        width[i] = w < 18 ? 18 : w > 64 ? 64 : w;
    }
    fprintf(out, "%6s  %-12s %-9s", "point", "layout", "stat");
    for (int i = 3; i < valid; i++)
        fprintf(out, " %*.*s", width[i], width[i], fields[i]);
    fprintf(out, " %11s %11s %7s %9s  %s\n", "iter (s)", "seq/s", "MFU", "peak GB", "valid");
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *f[128];
        int m = cs_csv_split(line, f, 128);
        if (m <= peak || m <= valid)
            continue;
        fprintf(out, "%6s  %-12.12s %-9s", f[0], f[1], f[2]);
        for (int i = 3; i < valid; i++)
            fprintf(out, " %*.*s", width[i], width[i], f[i]);
        if (!strcmp(f[valid], "true"))
            fprintf(out, " %11.5g %11.5g %6.1f%% %9.2f  yes\n", atof(f[time]), atof(f[seq]),
                    100 * atof(f[mfu]), atof(f[peak]) / 1e9);
        else
            fprintf(out, " %11s %11s %7s %9s  no: %s\n", "-", "-", "-", "-", f[valid + 1]);
    }
    free(buf);
    return 0;
}

typedef struct merged_row {
    long point;
    long order; /* position over all files, to keep each point's rows in order */
    char *line;
} merged_row;

static int by_point(const void *a, const void *b)
{
    const merged_row *x = a, *y = b;
    if (x->point != y->point)
        return x->point < y->point ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Columns of a sweep.csv: point, layout, statistic, up to 16 swept values,
 * valid, error, the metrics, sweep, shard. */
#define CS_SWEEP_MAX_FIELDS 128

/* What merge learns of one row: its field count, and the sweep and shard
 * that wrote it (its last two fields). */
typedef struct row_origin {
    int fields;
    char id[24];
    long shard, shards;
} row_origin;

static int origin_of(const char *line, row_origin *o)
{
    char *copy = cs_strdup(line), *fields[CS_SWEEP_MAX_FIELDS];
    if (!copy)
        return -1;
    o->fields = cs_csv_split(copy, fields, CS_SWEEP_MAX_FIELDS);
    o->id[0] = '\0';
    o->shard = o->shards = 0;
    if (o->fields >= 2) {
        snprintf(o->id, sizeof o->id, "%s", fields[o->fields - 2]);
        if (cs_parse_shard(fields[o->fields - 1], CS_SWEEP_MAX_SHARDS, &o->shard, &o->shards))
            o->shard = o->shards = 0;
    }
    free(copy);
    return 0;
}

/* Every row of every file: as many fields as the header, one sweep's
 * fingerprint, shards K/N of one N, each shard from one file, and every
 * shard present (a file of no rows, a shard without points, counts for one
 * of the missing). */
static int check_rows(const char *const *paths, int files, const merged_row *rows, long nrows,
                      const long *file_of, int header_fields)
{
    row_origin first = {0}, o;
    long *seen = NULL; /* per shard: 1 + the file its rows come from */
    int rc = 0;
    for (long i = 0; i < nrows && rc == 0; i++) {
        if (origin_of(rows[i].line, &o) != 0)
            return -1;
        const char *file = paths[file_of[i]];
        if (o.fields != header_fields) {
            fprintf(stderr, "clustersim merge: %s: a row of %d fields where the header has %d "
                            "(a torn or foreign row): %.60s\n",
                    file, o.fields, header_fields, rows[i].line);
            rc = -1;
        } else if (o.shards < 1) {
            fprintf(stderr, "clustersim merge: %s: a row without its shard (K/N)\n", file);
            rc = -1;
        } else if (i == 0) {
            first = o;
            seen = calloc((size_t)o.shards + 1, sizeof *seen);
            if (!seen)
                return -1;
        } else if (strcmp(o.id, first.id) || o.shards != first.shards) {
            fprintf(stderr, "clustersim merge: %s holds rows of another sweep (fingerprint %s "
                            "shard of %ld, against %s of %ld)\n",
                    file, o.id, o.shards, first.id, first.shards);
            rc = -1;
        }
        if (rc == 0 && seen[o.shard] && seen[o.shard] != file_of[i] + 1) {
            fprintf(stderr, "clustersim merge: shard %ld/%ld is in %s and in %s\n", o.shard,
                    o.shards, paths[seen[o.shard] - 1], file);
            rc = -1;
        }
        if (rc == 0)
            seen[o.shard] = file_of[i] + 1;
    }
    /* Files without rows: shards whose points all went elsewhere. */
    long missing = 0, empty = files;
    unsigned char *has = calloc((size_t)files, 1);
    if (!has) {
        free(seen);
        return -1;
    }
    for (long i = 0; i < nrows; i++)
        if (!has[file_of[i]]++)
            empty--;
    free(has);
    for (long k = 1; seen && k <= first.shards; k++)
        missing += !seen[k];
    if (rc == 0 && missing > empty) {
        fprintf(stderr, "clustersim merge: %ld of the %ld shards are missing\n", missing - empty,
                first.shards);
        rc = -1;
    }
    free(seen);
    return rc;
}

/* Every point has as many rows as the others (layouts x statistics): a
 * shard cut short between two of a point's rows is refused. Rows sorted. */
static int check_points(const merged_row *rows, long nrows)
{
    long most = 0, run = 0;
    for (long i = 0; i < nrows; i++) {
        run = i > 0 && rows[i].point == rows[i - 1].point ? run + 1 : 1;
        if (run > most)
            most = run;
    }
    for (long i = 0; i < nrows; i++) {
        long j = i;
        while (j + 1 < nrows && rows[j + 1].point == rows[i].point)
            j++;
        if (j - i + 1 != most) {
            fprintf(stderr, "clustersim merge: point %ld has %ld rows where the others have %ld "
                            "(a shard cut short?)\n",
                    rows[i].point, j - i + 1, most);
            return -1;
        }
        i = j;
    }
    return 0;
}

int cs_sweep_merge(const char *const *paths, int count, FILE *out)
{
    char **bufs = calloc((size_t)count, sizeof *bufs);
    merged_row *rows = NULL;
    long *file_of = NULL;
    long nrows = 0, cap = 0;
    int rc = -1;
    const char *head = NULL;
    size_t head_len = 0;
    if (!bufs)
        return -1;
    for (int i = 0; i < count; i++) {
        size_t len;
        bufs[i] = cs_file_read(paths[i], CS_SWEEP_CSV_MAX, &len);
        if (!bufs[i]) {
            char why[64];
            fprintf(stderr, "clustersim merge: cannot read %s: %s\n", paths[i],
                    cs_file_error(errno, CS_SWEEP_CSV_MAX, why, sizeof why));
            goto done;
        }
        char *nl = strchr(bufs[i], '\n');
        size_t hl = nl ? (size_t)(nl - bufs[i]) + 1 : len;
        if (!nl || strncmp(bufs[i], "point,layout,statistic,", 23) != 0) {
            fprintf(stderr, "clustersim merge: %s is not a clustersim sweep CSV\n", paths[i]);
            goto done;
        }
        if (!head) {
            head = bufs[i];
            head_len = hl;
        } else if (hl != head_len || strncmp(bufs[i], head, hl) != 0) {
            fprintf(stderr,
                    "clustersim merge: %s has other columns than %s; they are not "
                    "shards of one sweep\n",
                    paths[i], paths[0]);
            goto done;
        }
        char *save = NULL;
        for (char *line = strtok_r(bufs[i] + hl, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            if (nrows == cap) {
                cap = cap ? 2 * cap : 1024;
                merged_row *r = realloc(rows, (size_t)cap * sizeof *r);
                if (!r)
                    goto done;
                rows = r;
                long *fo = realloc(file_of, (size_t)cap * sizeof *fo);
                if (!fo)
                    goto done;
                file_of = fo;
            }
            file_of[nrows] = i;
            rows[nrows] = (merged_row){strtol(line, NULL, 10), nrows, line};
            nrows++;
        }
    }
    if (head) {
        char *copy = cs_strndup(head, head_len - 1), *fields[CS_SWEEP_MAX_FIELDS];
        int header_fields = copy ? cs_csv_split(copy, fields, CS_SWEEP_MAX_FIELDS) : -1;
        free(copy);
        if (header_fields < 0) {
            fprintf(stderr, "clustersim merge: the header has more than %d columns\n",
                    CS_SWEEP_MAX_FIELDS);
            goto done;
        }
        if (check_rows(paths, count, rows, nrows, file_of, header_fields) != 0)
            goto done;
    }
    if (nrows > 0) /* header-only files: nothing to sort (and rows is NULL) */
        qsort(rows, (size_t)nrows, sizeof *rows, by_point);
    if (check_points(rows, nrows) != 0)
        goto done;
    /* A point's rows come from one shard: the same point in two files means
     * the files are not shards of one sweep. */
    for (long i = 1; i < nrows; i++)
        if (rows[i].point == rows[i - 1].point && rows[i].order != rows[i - 1].order + 1) {
            fprintf(stderr, "clustersim merge: point %ld appears in more than one CSV\n",
                    rows[i].point);
            goto done;
        }
    if (head)
        fwrite(head, 1, head_len, out);
    /* The merged file is the whole sweep: its rows say shard 1/1, as one
     * run writes them (and --resume can go on from it). */
    for (long i = 0; i < nrows; i++) {
        const char *cut = strrchr(rows[i].line, ',');
        fprintf(out, "%.*s,1/1\n", (int)(cut - rows[i].line), rows[i].line);
    }
    rc = 0;
done:
    for (int i = 0; i < count; i++)
        free(bufs[i]);
    free(bufs);
    free(rows);
    free(file_of);
    return rc;
}

/* ---- pictures ------------------------------------------------------------------ */

typedef struct cell {
    int set;
    double mean, lo, hi;
} cell;

/* A metric column's name as a picture labels it: words and units. */
static const char *metric_label(const char *metric)
{
    static const char *const labels[][2] = {
        {"iteration_time_s", "iteration time (s)"},
        {"throughput_seq_per_s", "throughput (sequences/s)"},
        {"throughput_tokens_per_s", "throughput (tokens/s)"},
        {"model_tflops_per_gpu", "model TFLOP/s per GPU"},
        {"mfu", "MFU (share of peak)"},
        {"bubble_fraction", "pipeline bubble (share of the iteration)"},
        {"memory_peak_bytes", "memory peak per GPU (bytes)"},
        {"compute_s", "compute time per GPU (s)"},
        {"tp_exposed_s", "exposed TP communication (s)"},
        {"ep_exposed_s", "exposed EP communication (s)"},
        {"pp_exposed_s", "exposed PP communication (s)"},
        {"dp_exposed_s", "exposed DP communication (s)"},
        {"cp_exposed_s", "exposed CP communication (s)"},
        {"bubble_s", "bubble time per GPU (s)"},
        {"cost_per_iteration_usd", "cost per iteration (USD)"},
        {"time_to_train_s", "time to train (s)"},
        {"total_cost_usd", "total cost (USD)"},
        {"cost_per_million_tokens_usd", "cost per million tokens (USD)"},
    };
    for (size_t i = 0; i < sizeof labels / sizeof *labels; i++)
        if (!strcmp(labels[i][0], metric))
            return labels[i][1];
    return metric;
}

/* Reads the metric of every (point, layout) from the CSV into cells. */
static int read_cells(const char *csv, const cs_scenario *base, const char *metric,
                      const long *layouts, long nl, long points, cell *cells)
{
    size_t len;
    char *buf = cs_file_read(csv, CS_SWEEP_CSV_MAX, &len);
    if (!buf)
        return -1;
    char *save = NULL, *line = strtok_r(buf, "\n", &save);
    char *f[160];
    int n = line ? cs_csv_split(line, f, 160) : 0, col = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(f[i], metric))
            col = i;
    if (col < 0) {
        free(buf);
        fprintf(stderr, "clustersim sweep: no column '%s' in %s\n", metric, csv);
        return -1;
    }
    while ((line = strtok_r(NULL, "\n", &save))) {
        int m = cs_csv_split(line, f, 160);
        long point = m > col ? strtol(f[0], NULL, 10) : -1;
        if (point < 0 || point >= points || !*f[col])
            continue;
        for (long k = 0; k < nl; k++) {
            if (strcmp(base->layouts[layouts[k]].name, f[1]))
                continue;
            cell *c = &cells[point * nl + k];
            double v = atof(f[col]);
            c->set = 1;
            if (!strcmp(f[2], "value") || !strcmp(f[2], "mean"))
                c->mean = v;
            if (!strcmp(f[2], "value") || !strcmp(f[2], "p5"))
                c->lo = v;
            if (!strcmp(f[2], "value") || !strcmp(f[2], "p95"))
                c->hi = v;
        }
    }
    free(buf);
    return 0;
}

int cs_sweep_plot_data(const char *dir, const cs_scenario *base, const char *metric)
{
    const cs_sweep *sw = &base->sweep;
    long layouts[1024], nl, points = cs_sweep_point_count(sw);
    if (base->layout_count > 1024 || cs_sweep_layouts(base, layouts, &nl) != 0)
        return -1;
    char csv[4200], dat[4200], plots[4200];
    snprintf(csv, sizeof csv, "%s/sweep.csv", dir);
    snprintf(dat, sizeof dat, "%s/sweep.dat", dir);
    snprintf(plots, sizeof plots, "%s/plots.txt", dir);
    cell *cells = calloc((size_t)(points * nl), sizeof *cells);
    if (!cells || read_cells(csv, base, metric, layouts, nl, points, cells) != 0) {
        free(cells);
        return -1;
    }
    cs_yfile *yf = base->sources.files[0];
    FILE *out = fopen(dat, "w"), *list = fopen(plots, "w");
    int heat = sw->param_count == 2 && sw->mode != CS_SWEEP_ZIP;
    for (long k = 0; out && k < nl; k++) {
        fprintf(out, "%s\"%s\"\n", k ? "\n\n" : "", base->layouts[layouts[k]].name);
        for (long p = 0; p < points; p++) {
            const cell *c = &cells[p * nl + k];
            long idx[CS_SWEEP_MAX_PARAMS];
            cs_sweep_point_indices(sw, p, idx);
            if (heat) {
                if (p > 0 && idx[1] == 0)
                    fputc('\n', out);
                fprintf(out, "%ld %ld %.9g\n", idx[0], idx[1], c->set ? c->mean : NAN);
                continue;
            }
            const char *label = "";
            if (sw->param_count > 0) {
                yaml_node_t *l = cs_yfile_node(yf, sw->params[0].list);
                label = cs_ynode_text(cs_yfile_node(yf, l->data.sequence.items.start[idx[0]]));
            }
            if (c->set)
                fprintf(out, "%ld \"%s\" %.9g %.9g %.9g\n", p, sw->param_count == 1 ? label : "",
                        c->mean, c->lo, c->hi);
        }
    }
    const char *xlabel = sw->param_count ? sw->params[0].path : "point";
    char ylabel[160];
    snprintf(ylabel, sizeof ylabel, "%s%s", metric_label(metric),
             sw->repeats > 1 ? "; bars: p5 to p95 of the repeats" : "");
    if (list && !heat)
        fprintf(list, "plots/sweep.gp\tsweep.dat\tsweep.png\t%s: %s\t%s\tlines\t%ld\t%s\n",
                base->name, metric_label(metric), ylabel, nl,
                sw->param_count == 1 ? xlabel : "point");
    for (long k = 0; list && heat && k < nl; k++)
        fprintf(list,
                "plots/sweep.gp\tsweep.dat\tsweep-%s.png\t%s: %s, layout "
                "%s\t%s\theatmap\t%ld\t%s\t%s\n",
                base->layouts[layouts[k]].name, base->name, metric_label(metric),
                base->layouts[layouts[k]].name, metric_label(metric), k, sw->params[0].path,
                sw->params[1].path);
    int rc = out && list ? 0 : -1;
    if (out && fclose(out) != 0)
        rc = -1;
    if (list && fclose(list) != 0)
        rc = -1;
    free(cells);
    return rc;
}
