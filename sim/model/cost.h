/* cost: how long one kernel takes on a GPU (a roofline).
 *
 *   time = max(flops / (peak x efficiency), bytes / (memory_bandwidth x
 *          memory_efficiency(bytes))) + kernel_launch x launches
 *
 * A GEMM's efficiency is the lower of matmul_efficiency at its FLOPs and
 * matmul_shape_efficiency at its smallest dimension (a skinny GEMM cannot
 * fill the GPU however many FLOPs it has). An attention kernel's is read
 * from the GPU's attention_efficiency table of its backend by (head_dim,
 * seq_length), bilinear in head_dim and log(seq_length); without a table it
 * is priced as a GEMM of its FLOPs. An efficiency given as a table of
 * (size, ratio) rows is interpolated with GSL in log(size) and held at its
 * end values outside the table. GEMMs marked fp8 (the FP8 transformer
 * layers' linear GEMMs with precision fp8) run at the FP8 peak, twice the
 * (BF16) peak_compute as on every preset GPU, at the lower of
 * fp8_matmul_efficiency (by FLOPs) and fp8_matmul_shape_efficiency (by the
 * smallest dimension); each of the two falls back on its BF16 table when
 * the GPU has none. A grouped GEMM (the MoE experts' one kernel over the
 * local experts, cs_kernel.group_tokens > 0) is further capped by
 * grouped_matmul_efficiency (fp8: fp8_grouped_matmul_efficiency) at its
 * tokens per expert, where the GPU has the table. Where the GPU has a
 * matmul_grid_efficiency table (measured by the whole shape m, n, k) it
 * caps every GEMM too, a grouped GEMM at one expert's shape; an FP8 GEMM by
 * fp8_matmul_grid_efficiency only (the BF16 grid says nothing of FP8).
 * Everything else runs at peak_compute. */
#ifndef CS_COST_H
#define CS_COST_H

#include <gsl/gsl_interp.h>
#include <gsl/gsl_interp2d.h>

#include "input/config.h"
#include "model/kernels.h"

/* One interpolated table over log(x) (n < 2: its one value). */
typedef struct cs_curve {
    const cs_table *t;
    gsl_interp *interp;
    gsl_interp_accel *acc;
    double logx[CS_TABLE_MAX];
} cs_curve;

/* An attention table as a grid: x = head_dim, y = log(seq_length). */
typedef struct cs_attn_grid {
    int nx, ny;
    double x[CS_ATTN_ROWS], y[CS_ATTN_ROWS];
    double z[2][CS_ATTN_ROWS]; /* forward, backward; z[i + j nx] */
    gsl_interp2d *interp[2];
    gsl_interp_accel *xacc, *yacc;
} cs_attn_grid;

typedef struct cs_cost {
    const cs_gpu_config *gpu; /* borrowed */
    double peak;              /* FLOP/s of 16-bit kernels: peak_compute */
    double fp8_peak;          /* of the linear layers' GEMMs: twice that with fp8 */
    cs_curve matmul, shape, memory;
    cs_curve fp8_matmul, fp8_shape; /* the GPU's FP8 tables, or its BF16 ones */
    cs_curve grouped, fp8_grouped;  /* grouped GEMMs by tokens per expert */
    cs_attn_grid attention[3]; /* flash, fused, sliding window (x = its window) */
} cs_cost;

/* Returns 0, or -1 when out of memory. */
int cs_cost_init(cs_cost *c, const cs_gpu_config *gpu, cs_precision precision);
void cs_cost_free(cs_cost *c);

double cs_cost_matmul_efficiency(cs_cost *c, double flops);
double cs_cost_memory_efficiency(cs_cost *c, double bytes);
/* The lower of the two GEMM efficiencies. */
double cs_cost_gemm_efficiency(cs_cost *c, double flops, double smallest_dim);
/* The same for a GEMM marked fp8 (the FP8 tables). */
double cs_cost_fp8_gemm_efficiency(cs_cost *c, double flops, double smallest_dim);
/* The grouped-GEMM ceiling at group_tokens tokens per expert (fp8: the
 * FP8 table, or the BF16 one without it); 1 when the GPU has no table. */
double cs_cost_grouped_efficiency(cs_cost *c, double group_tokens, int fp8);
/* A GEMM shape's efficiency from a table by (m, n, k): trilinear in
 * log(m), log(n), log(k), held at the table's edges; 1 without a table. */
double cs_cost_grid_efficiency(const cs_gemm_table *t, double m, double n, double k);
/* The efficiency a kernel is priced at (memory kernels: of the bandwidth). */
double cs_cost_kernel_efficiency(cs_cost *c, const cs_kernel *k);
/* Of backend's table (flash or fused) at head_dim and seq, forward or
 * backward; -1 when the GPU has no such table. */
double cs_cost_attention_efficiency(cs_cost *c, cs_attention_backend backend, double head_dim,
                                    double seq, int backward);

/* A sliding-window attention kernel's efficiency: each query attends `span`
 * keys (window_size + 1) of a sequence of `seq`, FLOPs counted over that
 * causal band. By the GPU's sliding_window table (interpolated in window
 * and log(seq); past its largest window, log-linearly in the span from that
 * window's rate to the full kernel's at span = seq), and below its smallest
 * window at that window's time, not its rate (a kernel this thin is bound
 * by what each query row costs, not by its FLOPs); a band as long as the
 * sequence is full causal attention; without a table, the time of
 * full causal attention (efficiency scaled to the band's FLOPs, `flops`),
 * which bounds the time with a table too. */
double cs_cost_window_efficiency(cs_cost *c, cs_attention_backend backend, double head_dim,
                                 double seq, double span, int backward, double flops);

/* Time of one 16-bit kernel doing `flops` arithmetic at
 * matmul_efficiency(flops) and moving `bytes` of memory. */
double cs_cost_kernel(cs_cost *c, double flops, double bytes);

/* Time of a kernel of kernels.h, and the sum over one slot of a list. */
double cs_cost_of(cs_cost *c, const cs_kernel *k);
double cs_cost_slot(cs_cost *c, const cs_kernel_list *l, cs_kernel_slot slot);

#endif
