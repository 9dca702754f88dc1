/* sensitivity: each hardware figure off by a share, both layouts replayed,
 * the margin between them. */
#include "study/sensitivity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/layout.h"
#include "net/fabric.h"
#include "replay/replay.h"

/* ---- the figures ------------------------------------------------------------------ */

/* Scales an efficiency table's ratios by f, at most 1; an empty table (1)
 * becomes the one ratio min(f, 1). */
static void scale_table(cs_table *t, double f)
{
    if (t->n == 0) {
        t->n = 1;
        t->x[0] = 1;
        t->y[0] = 1;
    }
    for (int i = 0; i < t->n; i++)
        t->y[i] = fmin(1, t->y[i] * f);
}

static void scale_attention(cs_attention_table *t, double f)
{
    for (int i = 0; i < t->n; i++) {
        t->forward[i] = fmin(1, t->forward[i] * f);
        t->backward[i] = fmin(1, t->backward[i] * f);
    }
}

static void scale3(double *v, double f)
{
    for (int p = 0; p < CS_PROTOS; p++)
        v[p] *= f;
}

/* Each sets figure `which` of cluster k to f times its value and says
 * whether the cluster uses it. */
static int apply(cs_cluster *k, int which, double f)
{
    cs_gpu_config *g = &k->gpu;
    cs_table *ceilings[] = {&g->matmul_shape_efficiency, &g->fp8_matmul_shape_efficiency,
                            &g->grouped_matmul_efficiency, &g->fp8_grouped_matmul_efficiency};
    switch (which) {
    case 0:
        g->peak_compute *= f;
        return 1;
    case 1:
        scale_table(&g->matmul_efficiency, f);
        if (g->fp8_matmul_efficiency.n > 0)
            scale_table(&g->fp8_matmul_efficiency, f);
        for (size_t t = 0; t < sizeof ceilings / sizeof *ceilings; t++)
            for (int i = 0; i < ceilings[t]->n; i++)
                ceilings[t]->y[i] = fmin(1, ceilings[t]->y[i] * f);
        for (int i = 0; i < CS_GEMM_ROWS; i++) {
            g->matmul_grid_efficiency.e[i] = fmin(1, g->matmul_grid_efficiency.e[i] * f);
            g->fp8_matmul_grid_efficiency.e[i] = fmin(1, g->fp8_matmul_grid_efficiency.e[i] * f);
        }
        return 1;
    case 2:
        scale_attention(&g->attention_efficiency.flash, f);
        scale_attention(&g->attention_efficiency.fused, f);
        scale_attention(&g->attention_efficiency.sliding_window, f);
        return g->attention_efficiency.flash.n + g->attention_efficiency.fused.n +
                   g->attention_efficiency.sliding_window.n >
               0;
    case 3:
        g->memory_bandwidth *= f;
        return 1;
    case 4:
        g->kernel_launch *= f;
        return g->kernel_launch > 0;
    case 5:
        k->host.launch_overhead *= f;
        k->host.op_overhead *= f;
        k->host.collective_overhead *= f;
        return k->host.launch_overhead + k->host.op_overhead + k->host.collective_overhead > 0;
    case 6:
        k->scale_up.bandwidth *= f;
        return k->gpus_per_node > 1;
    case 7:
        scale3(k->scale_up.latency, f);
        return k->gpus_per_node > 1;
    case 8:
        k->scale_out.nic_bandwidth *= f;
        return k->nodes > 1;
    case 9:
        scale3(k->scale_out.latency, f);
        return k->nodes > 1;
    default:
        scale3(k->collectives.base_latency, f);
        return 1;
    }
}

/* The efficiencies of HBM and the links are not figures of their own: they
 * multiply the bandwidths, whose rows show what they move (and whose keys
 * name them, for the estimate marks). */
static const char *const keys[CS_SENS_FIGURES] = {
    "cluster.gpu.peak_compute",
    "cluster.gpu.*matmul*efficiency",
    "cluster.gpu.attention_efficiency",
    "cluster.gpu.memory_bandwidth, cluster.gpu.memory_efficiency",
    "cluster.gpu.kernel_launch",
    "cluster.host.*",
    "cluster.scale_up.bandwidth, cluster.scale_up.efficiency",
    "cluster.scale_up.latency",
    "cluster.scale_out.nic_bandwidth, cluster.scale_out.efficiency",
    "cluster.scale_out.latency",
    "cluster.collectives.base_latency"};

/* The key paths (below cluster.) each figure scales, for its estimate
 * marks; NULL-terminated. */
static const char *const marks[CS_SENS_FIGURES][10] = {
    {"gpu.peak_compute", NULL},
    {"gpu.matmul_efficiency", "gpu.matmul_shape_efficiency", "gpu.fp8_matmul_efficiency",
     "gpu.fp8_matmul_shape_efficiency", "gpu.grouped_matmul_efficiency",
     "gpu.fp8_grouped_matmul_efficiency", "gpu.matmul_grid_efficiency",
     "gpu.fp8_matmul_grid_efficiency", NULL},
    {"gpu.attention_efficiency", NULL},
    {"gpu.memory_bandwidth", "gpu.memory_efficiency", NULL},
    {"gpu.kernel_launch", NULL},
    {"host.launch_overhead", "host.op_overhead", "host.collective_overhead", NULL},
    {"scale_up.bandwidth", "scale_up.efficiency", NULL},
    {"scale_up.latency", NULL},
    {"scale_out.nic_bandwidth", "scale_out.efficiency", NULL},
    {"scale_out.latency", NULL},
    {"collectives.base_latency", NULL}};

static const char *const names[CS_SENS_FIGURES] = {
    "peak compute",          "GEMM efficiency",     "attention-kernel efficiency",
    "HBM bandwidth",         "gap between kernels", "host overheads",
    "scale-up bandwidth",    "scale-up step latency", "NIC bandwidth",
    "scale-out step latency", "collective base latency"};

/* ---- estimate marks --------------------------------------------------------------- */

/* Whether text[0..len) holds the word ESTIMATE (or ESTIMATES). */
static int says_estimate(const char *text, size_t len)
{
    for (size_t i = 0; i + 8 <= len; i++)
        if (!strncmp(text + i, "ESTIMATE", 8))
            return 1;
    return 0;
}

/* Whether a block-style YAML file sets key path `want` (the end of the
 * path of keys its indentation nests it under) with "ESTIMATE" in the
 * line's comment or in the comment lines right above it, as the presets
 * mark their estimates. */
static int marked_in(const char *text, const char *want)
{
    char stack[16][64];
    int indent[16], depth = 0, above = 0;
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        int ind = 0;
        while ((size_t)ind < len && line[ind] == ' ')
            ind++;
        if ((size_t)ind < len && line[ind] == '#') { /* a comment line: it may mark the next key */
            above |= says_estimate(line + ind, len - (size_t)ind);
            line = eol ? eol + 1 : NULL;
            continue;
        }
        const char *key = line + ind, *colon = memchr(key, ':', len - (size_t)ind);
        if (colon && *key != '#' && *key != '-' && colon - key < 64) {
            while (depth > 0 && indent[depth - 1] >= ind)
                depth--;
            if (depth < 16) {
                snprintf(stack[depth], sizeof stack[depth], "%.*s", (int)(colon - key), key);
                indent[depth++] = ind;
            }
            char path[1100] = "";
            for (int i = 0; i < depth; i++)
                snprintf(path + strlen(path), sizeof path - strlen(path), "%s%s", i ? "." : "",
                         stack[i]);
            size_t pl = strlen(path), wl = strlen(want);
            const char *hash = memchr(colon, '#', len - (size_t)(colon - line));
            int ends = pl >= wl && !strcmp(path + pl - wl, want) &&
                       (pl == wl || path[pl - wl - 1] == '.');
            int here = hash && says_estimate(hash, len - (size_t)(hash - line));
            if (ends && (here || above))
                return 1;
        }
        above = 0; /* a comment marks the key right below it only */
        line = eol ? eol + 1 : NULL;
    }
    return 0;
}

/* Whether any file the scenario read marks one of figure i's keys. */
static int figure_marked(const cs_scenario *s, int i)
{
    for (size_t f = 0; f < s->sources.count; f++)
        for (int k = 0; marks[i][k]; k++)
            if (marked_in(s->sources.files[f]->text, marks[i][k]))
                return 1;
    return 0;
}

const char *cs_sensitivity_figure_key(int figure) { return keys[figure]; }
const char *cs_sensitivity_figure_name(int figure) { return names[figure]; }

/* ---- the replays ------------------------------------------------------------------ */

typedef struct pair_ctx {
    cs_scenario *s;
    cs_layout_sizes z[2];
    long layout[2];
    cs_network_model model;
    unsigned long seed;
} pair_ctx;

static int replay_of(pair_ctx *p, int i, double *time, double *peak)
{
    cs_replay_result r;
    int rc = cs_replay(p->s, &p->s->layouts[p->layout[i]], &p->z[i], p->model, p->seed, &r);
    if (rc == 0) {
        *time = r.iteration_time_s;
        if (peak)
            *peak = r.memory_peak_bytes;
    }
    cs_replay_result_free(&r);
    return rc;
}

static int time_of(pair_ctx *p, int i, double *out) { return replay_of(p, i, out, NULL); }

/* Sizes of layout i, or -1 when it is invalid. */
static int sizes_of(cs_scenario *s, long i, cs_layout_sizes *z)
{
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_layout_check(s, &s->layouts[i], z, &d);
    cs_diags_free(&d);
    return rc;
}

/* The two fastest valid layouts into p (a, b given: those), their times
 * into base and their memory peaks into peak. */
static int choose(pair_ctx *p, long a, long b, double *base, double *peak)
{
    cs_scenario *s = p->s;
    long want[2] = {a, b};
    double best[2] = {INFINITY, INFINITY};
    p->layout[0] = p->layout[1] = -1;
    for (long i = 0; i < (long)s->layout_count; i++) {
        if (a >= 0 && i != a && i != b)
            continue;
        cs_layout_sizes z;
        if (sizes_of(s, i, &z) != 0)
            continue;
        pair_ctx one = *p;
        one.layout[0] = i;
        one.z[0] = z;
        double t, m;
        if (replay_of(&one, 0, &t, &m) != 0)
            return -1;
        int slot = a >= 0 ? (i == want[0] ? 0 : 1) : t < best[0] ? 0 : t < best[1] ? 1 : -1;
        if (slot < 0)
            continue;
        if (a < 0 && slot == 0) {
            best[1] = best[0];
            peak[1] = peak[0];
            p->layout[1] = p->layout[0];
            p->z[1] = p->z[0];
        }
        best[slot] = t;
        peak[slot] = m;
        p->layout[slot] = i;
        p->z[slot] = z;
    }
    if (p->layout[0] < 0 || p->layout[1] < 0)
        return -2;
    if (best[1] < best[0]) { /* asked for: the faster first */
        long l = p->layout[0];
        cs_layout_sizes z = p->z[0];
        double t = best[0], m = peak[0];
        p->layout[0] = p->layout[1];
        p->z[0] = p->z[1];
        best[0] = best[1];
        peak[0] = peak[1];
        p->layout[1] = l;
        p->z[1] = z;
        best[1] = t;
        peak[1] = m;
    }
    base[0] = best[0];
    base[1] = best[1];
    return 0;
}

static double swing(const cs_sens_row *r, double margin)
{
    return r->applies ? fmax(fabs(r->margin_low_s - margin), fabs(r->margin_high_s - margin)) : -1;
}

static void sort_rows(cs_sensitivity *r)
{
    for (int i = 1; i < CS_SENS_FIGURES; i++)
        for (int j = i;
             j > 0 && swing(&r->rows[j], r->margin_s) > swing(&r->rows[j - 1], r->margin_s); j--) {
            cs_sens_row t = r->rows[j];
            r->rows[j] = r->rows[j - 1];
            r->rows[j - 1] = t;
        }
}

/* Row `which`: both layouts at each end of the figure. */
static int figure_row(pair_ctx *p, const cs_cluster *given, double by, int which, cs_sens_row *row)
{
    row->figure = which;
    row->estimate = figure_marked(p->s, which);
    for (int end = 0; end < 2; end++) {
        double *t = end ? row->high_s : row->low_s;
        p->s->cluster = *given;
        row->applies = apply(&p->s->cluster, which, end ? 1 + by : 1 - by);
        if (!row->applies) {
            t[0] = t[1] = NAN;
            continue;
        }
        if (time_of(p, 0, &t[0]) != 0 || time_of(p, 1, &t[1]) != 0)
            return -1;
    }
    row->margin_low_s = row->low_s[1] - row->low_s[0];
    row->margin_high_s = row->high_s[1] - row->high_s[0];
    return 0;
}

int cs_sensitivity_run(cs_scenario *s, cs_network_model model, unsigned long seed, double by,
                       long a, long b, cs_sensitivity *out)
{
    memset(out, 0, sizeof *out);
    out->by = by;
    out->model = model;
    out->seed = seed;
    pair_ctx p = {s, {{0}}, {-1, -1}, model, seed};
    int rc = choose(&p, a, b, out->base_s, out->peak_bytes);
    if (rc != 0)
        return rc;
    out->layout[0] = p.layout[0];
    out->layout[1] = p.layout[1];
    out->margin_s = out->base_s[1] - out->base_s[0];
    out->capacity_bytes = s->cluster.gpu.memory;
    for (int i = 0; i < 2; i++) {
        out->fits[i] = out->peak_bytes[i] <= out->capacity_bytes;
        out->fits_high[i] = out->peak_bytes[i] * (1 + by) <= out->capacity_bytes;
    }
    /* the ranking turns when only the faster does not fit, at the estimate
     * or above it */
    out->flips |= (!out->fits[0] && out->fits[1]) || (!out->fits_high[0] && out->fits_high[1]);
    cs_cluster given = s->cluster;
    cs_cluster resolved = given;
    cs_fabric_resolve_latencies(&resolved);
    for (int i = 0; i < CS_SENS_FIGURES && rc == 0; i++) {
        rc = figure_row(&p, &resolved, by, i, &out->rows[i]);
        if (out->rows[i].applies)
            out->flips |= out->rows[i].margin_low_s <= 0 || out->rows[i].margin_high_s <= 0;
    }
    s->cluster = given;
    sort_rows(out);
    return rc;
}

void cs_sensitivity_summary(const cs_scenario *s, const cs_sensitivity *r, char *buf, size_t len)
{
    const char *fast = s->layouts[r->layout[0]].name, *slow = s->layouts[r->layout[1]].name;
    const cs_sens_row *top = &r->rows[0];
    size_t used = 0;
    used += (size_t)snprintf(buf, len,
                             "%s leads %s by %.1f ms per iteration (%.1f%%). Of the hardware "
                             "figures %.0f%% off, %s%s moves the margin most (%.1f to %.1f ms)",
                             fast, slow, 1e3 * r->margin_s, 100 * r->margin_s / r->base_s[0],
                             100 * r->by, names[top->figure], top->estimate ? " (an estimate)" : "",
                             1e3 * top->margin_low_s, 1e3 * top->margin_high_s);
    if (used < len && r->rows[1].applies)
        used += (size_t)snprintf(buf + used, len - used, ", then %s (%.1f to %.1f ms)",
                                 names[r->rows[1].figure], 1e3 * r->rows[1].margin_low_s,
                                 1e3 * r->rows[1].margin_high_s);
    if (used >= len)
        return;
    int flipped = 0;
    for (int i = 0; i < CS_SENS_FIGURES && !flipped; i++) {
        const cs_sens_row *row = &r->rows[i];
        if (row->applies && (row->margin_low_s <= 0 || row->margin_high_s <= 0)) {
            used += (size_t)snprintf(buf + used, len - used,
                                     ". The ranking flips if the %s is %.0f%% %s", names[row->figure],
                                     100 * r->by, row->margin_low_s <= 0 ? "lower" : "higher");
            flipped = 1;
        }
    }
    if (used < len && !flipped)
        used += (size_t)snprintf(buf + used, len - used, ". No single figure %.0f%% off flips the ranking",
                                 100 * r->by);
    if (used >= len)
        return;
    /* memory: the peaks (the ledger's estimate) by% higher */
    const char *who[2] = {fast, slow};
    char peaks[96];
    snprintf(peaks, sizeof peaks, "peaks %.1f and %.1f GB of %.0f", r->peak_bytes[0] / 1e9,
             r->peak_bytes[1] / 1e9, r->capacity_bytes / 1e9);
    if (!r->fits[0] || !r->fits[1])
        snprintf(buf + used, len - used, "; %s does not fit even at the memory estimate (%s).",
                 !r->fits[0] && !r->fits[1] ? "neither layout" : who[r->fits[0]], peaks);
    else if (!r->fits_high[0] && !r->fits_high[1])
        snprintf(buf + used, len - used,
                 "; with memory %.0f%% above the estimate neither layout fits (%s).", 100 * r->by,
                 peaks);
    else if (!r->fits_high[0] || !r->fits_high[1])
        snprintf(buf + used, len - used,
                 "; with memory %.0f%% above the estimate %s no longer fits (%s)%s.", 100 * r->by,
                 who[r->fits_high[0]], peaks, r->fits_high[0] ? "" : ", which turns the ranking");
    else
        snprintf(buf + used, len - used,
                 "; with memory %.0f%% above the estimate both still fit (%s).", 100 * r->by,
                 peaks);
}
