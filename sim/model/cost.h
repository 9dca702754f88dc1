/* cost: how long one kernel takes on a GPU (a roofline).
 *
 *   time = max(flops / (peak x matmul_efficiency(flops)),
 *              bytes / (memory_bandwidth x memory_efficiency(bytes)))
 *          + kernel_launch
 *
 * An efficiency given as a table of (size, ratio) rows is interpolated with
 * GSL's linear interpolation in log(size) (sizes span orders of magnitude)
 * and held at its end values outside the table; the size is the kernel's
 * FLOPs for matmul_efficiency and its bytes for memory_efficiency. FP8 GEMMs
 * run at twice the (BF16) peak_compute. */
#ifndef CS_COST_H
#define CS_COST_H

#include <gsl/gsl_interp.h>

#include "input/config.h"

typedef struct cs_cost {
    const cs_gpu_config *gpu; /* borrowed */
    double gemm_peak;         /* FLOP/s at the training precision */
    gsl_interp *matmul, *memory;
    gsl_interp_accel *matmul_acc, *memory_acc;
    double matmul_logx[CS_TABLE_MAX], memory_logx[CS_TABLE_MAX];
} cs_cost;

/* Returns 0, or -1 when out of memory. */
int cs_cost_init(cs_cost *c, const cs_gpu_config *gpu, cs_precision precision);
void cs_cost_free(cs_cost *c);

double cs_cost_matmul_efficiency(cs_cost *c, double flops);
double cs_cost_memory_efficiency(cs_cost *c, double bytes);

/* Time of one kernel doing `flops` arithmetic and moving `bytes` of memory. */
double cs_cost_kernel(cs_cost *c, double flops, double bytes);

#endif
