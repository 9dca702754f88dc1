/* Kernel times: the roofline, and efficiency tables interpolated in
 * log(size) with GSL and held at their ends. */
#include <math.h>

#include "model/cost.h"
#include "testutil.h"

static cs_gpu_config gpu(void)
{
    cs_gpu_config g = {0};
    g.peak_compute = 1e15;
    g.memory_bandwidth = 2e12;
    g.matmul_efficiency = (cs_table){.n = 1, .y = {0.5}};
    g.memory_efficiency = (cs_table){.n = 1, .y = {0.8}};
    g.kernel_launch = 4e-6;
    return g;
}

static void assert_rel(double got, double want)
{
    ck_assert_msg(fabs(got - want) <= 1e-12 * fabs(want), "got %.15g want %.15g", got, want);
}

START_TEST(roofline_takes_the_slower_side)
{
    cs_gpu_config g = gpu();
    cs_cost c;
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_BF16), 0);
    /* Compute-bound: 1 TFLOP at 0.5 x 1 PFLOP/s = 2 ms, + launch. */
    assert_rel(cs_cost_kernel(&c, 1e12, 1e6), 2e-3 + 4e-6);
    /* Memory-bound: 16 GB at 0.8 x 2 TB/s = 10 ms, + launch. */
    assert_rel(cs_cost_kernel(&c, 1e9, 16e9), 10e-3 + 4e-6);
    /* Nothing to do still costs a launch. */
    assert_rel(cs_cost_kernel(&c, 0, 0), 4e-6);
    cs_cost_free(&c);
    /* FP8 GEMMs run at twice the BF16 peak. */
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_FP8), 0);
    assert_rel(cs_cost_kernel(&c, 1e12, 0), 1e-3 + 4e-6);
    cs_cost_free(&c);
}
END_TEST

START_TEST(efficiency_table_in_log_size)
{
    cs_gpu_config g = gpu();
    g.matmul_efficiency = (cs_table){.n = 3, .x = {1e8, 1e10, 1e12}, .y = {0.2, 0.6, 0.8}};
    cs_cost c;
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_BF16), 0);
    /* On the rows, between them halfway in log size, and held at the ends. */
    assert_rel(cs_cost_matmul_efficiency(&c, 1e10), 0.6);
    assert_rel(cs_cost_matmul_efficiency(&c, 1e9), 0.4);
    assert_rel(cs_cost_matmul_efficiency(&c, 1e11), 0.7);
    assert_rel(cs_cost_matmul_efficiency(&c, 1e6), 0.2);
    assert_rel(cs_cost_matmul_efficiency(&c, 1e15), 0.8);
    assert_rel(cs_cost_kernel(&c, 1e9, 0), 1e9 / (1e15 * 0.4) + 4e-6);
    cs_cost_free(&c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cost");
    TCase *t = tcase_create("roofline");
    tcase_add_test(t, roofline_takes_the_slower_side);
    tcase_add_test(t, efficiency_table_in_log_size);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
