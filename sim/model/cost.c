#include "model/cost.h"

#include <math.h>
#include <string.h>

static int table_init(const cs_table *t, double *logx, gsl_interp **interp,
                      gsl_interp_accel **acc)
{
    *interp = NULL;
    *acc = NULL;
    if (t->n < 2)
        return 0;
    for (int i = 0; i < t->n; i++)
        logx[i] = log(t->x[i]);
    *interp = gsl_interp_alloc(gsl_interp_linear, (size_t)t->n);
    *acc = gsl_interp_accel_alloc();
    if (!*interp || !*acc || gsl_interp_init(*interp, logx, t->y, (size_t)t->n) != 0)
        return -1;
    return 0;
}

int cs_cost_init(cs_cost *c, const cs_gpu_config *gpu, cs_precision precision)
{
    memset(c, 0, sizeof *c);
    c->gpu = gpu;
    c->gemm_peak = gpu->peak_compute * (precision == CS_FP8 ? 2.0 : 1.0);
    if (table_init(&gpu->matmul_efficiency, c->matmul_logx, &c->matmul, &c->matmul_acc) ||
        table_init(&gpu->memory_efficiency, c->memory_logx, &c->memory, &c->memory_acc)) {
        cs_cost_free(c);
        return -1;
    }
    return 0;
}

void cs_cost_free(cs_cost *c)
{
    if (c->matmul)
        gsl_interp_free(c->matmul);
    if (c->memory)
        gsl_interp_free(c->memory);
    if (c->matmul_acc)
        gsl_interp_accel_free(c->matmul_acc);
    if (c->memory_acc)
        gsl_interp_accel_free(c->memory_acc);
    c->matmul = c->memory = NULL;
    c->matmul_acc = c->memory_acc = NULL;
}

static double lookup(const cs_table *t, gsl_interp *interp, gsl_interp_accel *acc,
                     const double *logx, double size)
{
    if (t->n < 2)
        return t->y[0];
    double x = size > 0 ? log(size) : logx[0];
    if (x <= logx[0])
        return t->y[0];
    if (x >= logx[t->n - 1])
        return t->y[t->n - 1];
    return gsl_interp_eval(interp, logx, t->y, x, acc);
}

double cs_cost_matmul_efficiency(cs_cost *c, double flops)
{
    return lookup(&c->gpu->matmul_efficiency, c->matmul, c->matmul_acc, c->matmul_logx, flops);
}

double cs_cost_memory_efficiency(cs_cost *c, double bytes)
{
    return lookup(&c->gpu->memory_efficiency, c->memory, c->memory_acc, c->memory_logx, bytes);
}

double cs_cost_kernel(cs_cost *c, double flops, double bytes)
{
    double compute = flops > 0 ? flops / (c->gemm_peak * cs_cost_matmul_efficiency(c, flops)) : 0;
    double memory =
        bytes > 0 ? bytes / (c->gpu->memory_bandwidth * cs_cost_memory_efficiency(c, bytes)) : 0;
    return (compute > memory ? compute : memory) + c->gpu->kernel_launch;
}
