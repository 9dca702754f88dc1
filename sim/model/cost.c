#include "model/cost.h"

#include <math.h>
#include <string.h>

static int curve_init(cs_curve *cv, const cs_table *t)
{
    memset(cv, 0, sizeof *cv);
    cv->t = t;
    if (t->n < 2)
        return 0;
    for (int i = 0; i < t->n; i++)
        cv->logx[i] = log(t->x[i]);
    cv->interp = gsl_interp_alloc(gsl_interp_linear, (size_t)t->n);
    cv->acc = gsl_interp_accel_alloc();
    if (!cv->interp || !cv->acc || gsl_interp_init(cv->interp, cv->logx, t->y, (size_t)t->n) != 0)
        return -1;
    return 0;
}

static void curve_free(cs_curve *cv)
{
    if (cv->interp)
        gsl_interp_free(cv->interp);
    if (cv->acc)
        gsl_interp_accel_free(cv->acc);
    cv->interp = NULL;
    cv->acc = NULL;
}

/* The curve at size (> 0); 1 when the table is empty. */
static double curve_at(const cs_curve *cv, double size)
{
    const cs_table *t = cv->t;
    if (t->n < 1)
        return 1;
    if (t->n < 2)
        return t->y[0];
    double x = size > 0 ? log(size) : cv->logx[0];
    if (x <= cv->logx[0])
        return t->y[0];
    if (x >= cv->logx[t->n - 1])
        return t->y[t->n - 1];
    return gsl_interp_eval(cv->interp, cv->logx, t->y, x, cv->acc);
}

/* The table's distinct head dims and seq lengths (rows are a full grid,
 * sorted by head_dim then seq: row r = i ny + j), and one bilinear
 * interpolant per direction where both axes have two or more points. */
static int grid_init(cs_attn_grid *g, const cs_attention_table *t)
{
    memset(g, 0, sizeof *g);
    if (t->n < 1)
        return 0;
    while (g->ny < t->n && t->head_dim[g->ny] == t->head_dim[0])
        g->ny++;
    g->nx = t->n / g->ny;
    for (int i = 0; i < g->nx; i++)
        g->x[i] = t->head_dim[i * g->ny];
    for (int j = 0; j < g->ny; j++)
        g->y[j] = log(t->seq[j]);
    for (int i = 0; i < g->nx; i++)
        for (int j = 0; j < g->ny; j++) {
            g->z[0][i + j * g->nx] = t->forward[i * g->ny + j];
            g->z[1][i + j * g->nx] = t->backward[i * g->ny + j];
        }
    if (g->nx < 2 || g->ny < 2)
        return 0;
    g->xacc = gsl_interp_accel_alloc();
    g->yacc = gsl_interp_accel_alloc();
    if (!g->xacc || !g->yacc)
        return -1;
    for (int d = 0; d < 2; d++) {
        g->interp[d] = gsl_interp2d_alloc(gsl_interp2d_bilinear, (size_t)g->nx, (size_t)g->ny);
        if (!g->interp[d] ||
            gsl_interp2d_init(g->interp[d], g->x, g->y, g->z[d], (size_t)g->nx, (size_t)g->ny) != 0)
            return -1;
    }
    return 0;
}

static void grid_free(cs_attn_grid *g)
{
    for (int d = 0; d < 2; d++)
        if (g->interp[d])
            gsl_interp2d_free(g->interp[d]);
    if (g->xacc)
        gsl_interp_accel_free(g->xacc);
    if (g->yacc)
        gsl_interp_accel_free(g->yacc);
    memset(g, 0, sizeof *g);
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Linear interpolation along one axis of the grid (the other has one point). */
static double along(const double *xs, const double *zs, int n, int stride, double x)
{
    if (n == 1 || x <= xs[0])
        return zs[0];
    for (int i = 1; i < n; i++)
        if (x <= xs[i]) {
            double f = (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
            return zs[(i - 1) * stride] + f * (zs[i * stride] - zs[(i - 1) * stride]);
        }
    return zs[(n - 1) * stride];
}

static double grid_at(cs_attn_grid *g, double head_dim, double seq, int backward)
{
    double x = clamp(head_dim, g->x[0], g->x[g->nx - 1]);
    double y = clamp(log(seq), g->y[0], g->y[g->ny - 1]);
    const double *z = g->z[backward];
    if (g->nx >= 2 && g->ny >= 2)
        return gsl_interp2d_eval(g->interp[backward], g->x, g->y, z, x, y, g->xacc, g->yacc);
    if (g->ny >= 2)
        return along(g->y, z, g->ny, g->nx, y);
    return along(g->x, z, g->nx, 1, x);
}

int cs_cost_init(cs_cost *c, const cs_gpu_config *gpu, cs_precision precision)
{
    memset(c, 0, sizeof *c);
    c->gpu = gpu;
    c->peak = gpu->peak_compute;
    c->fp8_peak = gpu->peak_compute * (precision == CS_FP8 ? 2.0 : 1.0);
    if (curve_init(&c->matmul, &gpu->matmul_efficiency) ||
        curve_init(&c->shape, &gpu->matmul_shape_efficiency) ||
        curve_init(&c->memory, &gpu->memory_efficiency) ||
        curve_init(&c->fp8_matmul, gpu->fp8_matmul_efficiency.n > 0 ? &gpu->fp8_matmul_efficiency
                                                                    : &gpu->matmul_efficiency) ||
        curve_init(&c->fp8_shape, gpu->fp8_matmul_shape_efficiency.n > 0
                                      ? &gpu->fp8_matmul_shape_efficiency
                                      : &gpu->matmul_shape_efficiency) ||
        curve_init(&c->grouped, &gpu->grouped_matmul_efficiency) ||
        curve_init(&c->fp8_grouped, gpu->fp8_grouped_matmul_efficiency.n > 0
                                        ? &gpu->fp8_grouped_matmul_efficiency
                                        : &gpu->grouped_matmul_efficiency) ||
        grid_init(&c->attention[0], &gpu->attention_efficiency.flash) ||
        grid_init(&c->attention[1], &gpu->attention_efficiency.fused) ||
        grid_init(&c->attention[2], &gpu->attention_efficiency.sliding_window)) {
        cs_cost_free(c);
        return -1;
    }
    return 0;
}

void cs_cost_free(cs_cost *c)
{
    curve_free(&c->matmul);
    curve_free(&c->shape);
    curve_free(&c->memory);
    curve_free(&c->fp8_matmul);
    curve_free(&c->fp8_shape);
    curve_free(&c->grouped);
    curve_free(&c->fp8_grouped);
    grid_free(&c->attention[0]);
    grid_free(&c->attention[1]);
    grid_free(&c->attention[2]);
}

double cs_cost_matmul_efficiency(cs_cost *c, double flops) { return curve_at(&c->matmul, flops); }

double cs_cost_memory_efficiency(cs_cost *c, double bytes) { return curve_at(&c->memory, bytes); }

double cs_cost_gemm_efficiency(cs_cost *c, double flops, double smallest_dim)
{
    double e = curve_at(&c->matmul, flops), cap = curve_at(&c->shape, smallest_dim);
    return cap < e ? cap : e;
}

double cs_cost_fp8_gemm_efficiency(cs_cost *c, double flops, double smallest_dim)
{
    double e = curve_at(&c->fp8_matmul, flops), cap = curve_at(&c->fp8_shape, smallest_dim);
    return cap < e ? cap : e;
}

double cs_cost_grouped_efficiency(cs_cost *c, double group_tokens, int fp8)
{
    /* An empty table is no ceiling (curve_at gives 1). */
    return curve_at(fp8 ? &c->fp8_grouped : &c->grouped, group_tokens);
}

/* Where log(v) falls on an axis of `n` values: the cell's lower index and
 * the weight of the upper one, held at the ends. */
static void axis_at(const double *axis, int n, double v, int *lo, double *w)
{
    *lo = 0;
    *w = 0;
    if (n < 2 || v <= axis[0])
        return;
    if (v >= axis[n - 1]) {
        *lo = n - 2;
        *w = 1;
        return;
    }
    while (*lo < n - 2 && v > axis[*lo + 1])
        (*lo)++;
    *w = (log(v) - log(axis[*lo])) / (log(axis[*lo + 1]) - log(axis[*lo]));
}

double cs_cost_grid_efficiency(const cs_gemm_table *t, double m, double n, double k)
{
    if (t->nm < 1)
        return 1; /* no table, no ceiling */
    int i, j, l;
    double wi, wj, wl, e = 0;
    axis_at(t->m, t->nm, m, &i, &wi);
    axis_at(t->n, t->nn, n, &j, &wj);
    axis_at(t->k, t->nk, k, &l, &wl);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int d = 0; d < 2; d++) {
                double w = (a ? wi : 1 - wi) * (b ? wj : 1 - wj) * (d ? wl : 1 - wl);
                if (w == 0)
                    continue;
                int ii = i + a < t->nm ? i + a : i, jj = j + b < t->nn ? j + b : j;
                int ll = l + d < t->nk ? l + d : l;
                e += w * t->e[((long)ii * CS_GEMM_AXIS + jj) * CS_GEMM_AXIS + ll];
            }
    return e;
}

/* The grid's ceiling on a GEMM of (m, n, k). Past the grid's largest size
 * on an axis (where nothing was measured) the edge's value is raised as
 * the FLOPs table rises from the edge's FLOPs to the GEMM's: a larger GEMM
 * of the same proportions only runs better. */
static double grid_ceiling(cs_cost *c, const cs_gemm_table *t, double m, double n, double k,
                           int fp8)
{
    if (t->nm < 1)
        return 1;
    double mc = m < t->m[t->nm - 1] ? m : t->m[t->nm - 1];
    double nc = n < t->n[t->nn - 1] ? n : t->n[t->nn - 1];
    double kc = k < t->k[t->nk - 1] ? k : t->k[t->nk - 1];
    double g = cs_cost_grid_efficiency(t, mc, nc, kc);
    if (mc < m || nc < n || kc < k) {
        cs_curve *curve = fp8 ? &c->fp8_matmul : &c->matmul;
        double rise = curve_at(curve, 2 * m * n * k) / curve_at(curve, 2 * mc * nc * kc);
        g *= rise > 1 ? rise : 1;
    }
    return g > 1 ? 1 : g;
}

double cs_cost_attention_efficiency(cs_cost *c, cs_attention_backend backend, double head_dim,
                                    double seq, int backward)
{
    cs_attn_grid *g = &c->attention[backend == CS_ATTN_FUSED];
    if (g->nx < 1)
        return -1;
    return grid_at(g, head_dim, seq, backward);
}

double cs_cost_window_efficiency(cs_cost *c, cs_attention_backend backend, double head_dim,
                                 double seq, double span, int backward, double flops)
{
    double full = cs_cost_attention_efficiency(c, backend, head_dim, seq, backward);
    if (!(full > 0)) /* no table: the full kernel as a GEMM of its FLOPs */
        full = cs_cost_matmul_efficiency(c, flops * cs_kernels_band_pairs(seq, seq) / cs_kernels_band_pairs(seq, span));
    cs_attn_grid *g = &c->attention[2];
    if (span >= seq)
        return full;
    if (g->nx < 1) /* the full kernel's time over the band's FLOPs */
        return full * cs_kernels_band_pairs(seq, span) / cs_kernels_band_pairs(seq, seq);
    /* the table's windows are window_size (span - 1) */
    double smallest = g->x[0] + 1, largest = g->x[g->nx - 1] + 1, e;
    if (span < smallest) {
        e = grid_at(g, smallest - 1, seq, backward) * cs_kernels_band_pairs(seq, span) /
            cs_kernels_band_pairs(seq, smallest);
    } else if (span <= largest || largest >= seq) {
        e = grid_at(g, span - 1, seq, backward);
    } else { /* from the largest window's rate to the full kernel's at span = seq */
        double f = log(span / largest) / log(seq / largest);
        e = grid_at(g, largest - 1, seq, backward) * (1 - f) + full * f;
    }
    /* never slower than the full causal kernel (a table measured at another
     * head_dim, or held past its windows, could say so) */
    double floor = full * cs_kernels_band_pairs(seq, span) / cs_kernels_band_pairs(seq, seq);
    return e > floor ? e : floor;
}

static double roofline(cs_cost *c, double peak, double flops, double efficiency, double bytes,
                       double launches)
{
    double compute = flops > 0 ? flops / (peak * efficiency) : 0;
    double memory =
        bytes > 0 ? bytes / (c->gpu->memory_bandwidth * cs_cost_memory_efficiency(c, bytes)) : 0;
    return (compute > memory ? compute : memory) + c->gpu->kernel_launch * launches;
}

double cs_cost_kernel(cs_cost *c, double flops, double bytes)
{
    return roofline(c, c->peak, flops, cs_cost_matmul_efficiency(c, flops), bytes, 1);
}

double cs_cost_kernel_efficiency(cs_cost *c, const cs_kernel *k)
{
    switch (k->kind) {
    case CS_KERNEL_GEMM: {
        double d = k->m < k->n ? k->m : k->n;
        d = k->k < d ? k->k : d;
        /* A batched GEMM's FLOPs count once: its efficiency is the batch's;
         * a GEMM of several launches (one per expert, SequentialMLP) runs
         * each at its own FLOPs. */
        double f = k->flops / (k->launches > 1 ? k->launches : 1);
        double e = k->fp8 ? cs_cost_fp8_gemm_efficiency(c, f, d) : cs_cost_gemm_efficiency(c, f, d);
        /* The shape measured whole (one GEMM, or one expert's of a grouped
         * one): FP8 by its own table, else the BF16 one. */
        const cs_gemm_table *grid = k->fp8 && c->gpu->fp8_matmul_grid_efficiency.nm > 0
                                        ? &c->gpu->fp8_matmul_grid_efficiency
                                        : &c->gpu->matmul_grid_efficiency;
        /* (a batched GEMM in one launch, Megatron's unfused attention,
         * runs better than one of its shape alone: left to the tables
         * above; SequentialMLP's per-expert launches are GEMMs of their own) */
        if ((k->batch <= 1 || k->group_tokens > 0 || k->launches > 1) &&
            (!k->fp8 || c->gpu->fp8_matmul_grid_efficiency.nm > 0)) {
            double g = grid_ceiling(c, grid, k->m, k->n, k->k, k->fp8);
            e = g < e ? g : e;
        }
        /* A grouped GEMM loses more than one expert's shape says (ragged
         * groups, partial tiles, the tile scheduler): its own measured
         * ceiling by tokens per expert, where the GPU has one. */
        if (k->group_tokens > 0) {
            double g = cs_cost_grouped_efficiency(c, k->group_tokens, k->fp8);
            e = g < e ? g : e;
        }
        return e;
    }
    case CS_KERNEL_ATTENTION: {
        if (k->window > 0)
            return cs_cost_window_efficiency(c, k->backend, k->head_dim, k->seq, k->window,
                                             k->backward, k->flops);
        double e = cs_cost_attention_efficiency(c, k->backend, k->head_dim, k->seq, k->backward);
        return e > 0 ? e : cs_cost_matmul_efficiency(c, k->flops);
    }
    default:
        return cs_cost_memory_efficiency(c, k->bytes);
    }
}

double cs_cost_of(cs_cost *c, const cs_kernel *k)
{
    /* Memory kernels: the roofline applies memory_efficiency itself. */
    double e = k->kind == CS_KERNEL_MEMORY ? 1 : cs_cost_kernel_efficiency(c, k);
    return roofline(c, k->fp8 ? c->fp8_peak : c->peak, k->flops, e, k->bytes, k->launches);
}

double cs_cost_slot(cs_cost *c, const cs_kernel_list *l, cs_kernel_slot slot)
{
    double sum = 0;
    for (int i = 0; i < l->n; i++)
        if (l->k[i].slot == slot)
            sum += cs_cost_of(c, &l->k[i]);
    return sum;
}
