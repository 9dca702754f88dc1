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
    /* With fp8 the linear layers' GEMMs run at twice the BF16 peak; other
     * kernels (core attention, the output layer) stay at it. */
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_FP8), 0);
    cs_kernel k = {0};
    k.kind = CS_KERNEL_GEMM;
    k.m = k.n = k.k = 4096;
    k.flops = 1e12;
    k.launches = 1;
    k.fp8 = 1;
    assert_rel(cs_cost_of(&c, &k), 1e-3 + 4e-6);
    k.fp8 = 0;
    assert_rel(cs_cost_of(&c, &k), 2e-3 + 4e-6);
    assert_rel(cs_cost_kernel(&c, 1e12, 0), 2e-3 + 4e-6);
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

/* A GEMM runs at the lower of the FLOPs curve and the ceiling of its
 * smallest dimension. */
START_TEST(gemm_shape_ceiling)
{
    cs_gpu_config g = gpu();
    g.matmul_efficiency = (cs_table){.n = 1, .y = {0.8}};
    g.matmul_shape_efficiency = (cs_table){.n = 2, .x = {64, 1024}, .y = {0.2, 0.9}};
    cs_cost c;
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_BF16), 0);
    assert_rel(cs_cost_gemm_efficiency(&c, 1e12, 4096), 0.8);
    assert_rel(cs_cost_gemm_efficiency(&c, 1e12, 64), 0.2);
    assert_rel(cs_cost_gemm_efficiency(&c, 1e12, 16), 0.2); /* held at the end */
    assert_rel(cs_cost_gemm_efficiency(&c, 1e12, 256), 0.2 + 0.7 * log(4.0) / log(16.0));
    /* The kernel of kernels.h takes its smallest of m, n, k. */
    cs_kernel k = {.name = "g", .kind = CS_KERNEL_GEMM, .slot = CS_SLOT_IN, .m = 64, .n = 8192,
                   .k = 8192, .batch = 1, .flops = 2.0 * 64 * 8192 * 8192, .launches = 1,
                   .backend = CS_ATTN_AUTO};
    assert_rel(cs_cost_of(&c, &k), k.flops / (1e15 * 0.2) + 4e-6);
    cs_cost_free(&c);
}
END_TEST

/* Attention tables: exact at grid points, bilinear in head_dim and
 * log(seq_length) between them, held at the edges; no table: the GEMM
 * curve at the kernel's FLOPs. */
START_TEST(attention_grid)
{
    cs_gpu_config g = gpu();
    cs_attention_table *t = &g.attention_efficiency.flash;
    double seq[] = {1024, 4096, 1024, 4096}, hd[] = {64, 64, 128, 128};
    double fw[] = {0.2, 0.4, 0.3, 0.6}, bw[] = {0.1, 0.2, 0.15, 0.3};
    t->n = 4;
    for (int i = 0; i < 4; i++) {
        t->seq[i] = seq[i];
        t->head_dim[i] = hd[i];
        t->forward[i] = fw[i];
        t->backward[i] = bw[i];
    }
    cs_cost c;
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_BF16), 0);
    assert_rel(cs_cost_attention_efficiency(&c, CS_ATTN_FLASH, 128, 4096, 0), 0.6);
    assert_rel(cs_cost_attention_efficiency(&c, CS_ATTN_FLASH, 64, 1024, 1), 0.1);
    /* seq 2048 is half way in log; head_dim 96 half way: (0.2+0.4+0.3+0.6)/4. */
    assert_rel(cs_cost_attention_efficiency(&c, CS_ATTN_FLASH, 96, 2048, 0), 1.5 / 4);
    assert_rel(cs_cost_attention_efficiency(&c, CS_ATTN_FLASH, 256, 65536, 0), 0.6);
    ck_assert(cs_cost_attention_efficiency(&c, CS_ATTN_FUSED, 128, 4096, 0) < 0);
    cs_kernel k = {.name = "a", .kind = CS_KERNEL_ATTENTION, .slot = CS_SLOT_CORE, .flops = 1e12,
                   .launches = 1, .backend = CS_ATTN_FUSED, .seq = 4096, .head_dim = 128};
    assert_rel(cs_cost_of(&c, &k), 1e12 / (1e15 * 0.5) + 4e-6); /* matmul_efficiency 0.5 */
    k.backend = CS_ATTN_FLASH;
    k.backward = 1;
    assert_rel(cs_cost_of(&c, &k), 1e12 / (1e15 * 0.3) + 4e-6);
    cs_cost_free(&c);
    /* One head_dim only: linear in log(seq_length). */
    t->n = 2;
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_BF16), 0);
    assert_rel(cs_cost_attention_efficiency(&c, CS_ATTN_FLASH, 128, 2048, 0), 0.3);
    cs_cost_free(&c);
    /* One seq_length only: linear in head_dim. */
    double hd2[] = {64, 128};
    for (int i = 0; i < 2; i++) {
        t->seq[i] = 2048;
        t->head_dim[i] = hd2[i];
    }
    t->forward[1] = 0.4;
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_BF16), 0);
    assert_rel(cs_cost_attention_efficiency(&c, CS_ATTN_FLASH, 96, 2048, 0), 0.3);
    assert_rel(cs_cost_attention_efficiency(&c, CS_ATTN_FLASH, 32, 2048, 0), 0.2);
    cs_cost_free(&c);
}
END_TEST

/* A GEMM marked fp8 runs at the FP8 peak (2 x 1 PFLOP/s) times the lower of
 * the FP8 tables; without them, the BF16 tables'. */
START_TEST(fp8_tables_price_fp8_gemms)
{
    cs_gpu_config g = gpu();
    g.matmul_shape_efficiency = (cs_table){.n = 1, .y = {0.9}};
    g.fp8_matmul_efficiency = (cs_table){.n = 1, .y = {0.3}};
    g.fp8_matmul_shape_efficiency = (cs_table){.n = 2, .x = {16, 1024}, .y = {0.1, 0.4}};
    cs_cost c;
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_FP8), 0);
    cs_kernel k = {0};
    k.kind = CS_KERNEL_GEMM;
    k.m = k.n = k.k = 4096;
    k.flops = 1e12;
    k.launches = 1;
    k.fp8 = 1;
    /* Smallest dimension 4096, past the shape table's end: min(0.3, 0.4). */
    assert_rel(cs_cost_of(&c, &k), 1e12 / (2e15 * 0.3) + 4e-6);
    /* Smallest dimension 128: 0.1 + 0.3 x ln(128/16) / ln(1024/16) = 0.25. */
    k.m = 128;
    assert_rel(cs_cost_fp8_gemm_efficiency(&c, 1e12, 128), 0.25);
    assert_rel(cs_cost_of(&c, &k), 1e12 / (2e15 * 0.25) + 4e-6);
    assert_rel(cs_cost_kernel_efficiency(&c, &k), 0.25);
    /* The same GEMM in BF16: 1 PFLOP/s x min(0.5, 0.9). */
    k.fp8 = 0;
    assert_rel(cs_cost_of(&c, &k), 1e12 / (1e15 * 0.5) + 4e-6);
    cs_cost_free(&c);
    /* No FP8 tables: the BF16 ones at the FP8 peak, 1e12 / (2e15 x 0.5). */
    g.fp8_matmul_efficiency.n = g.fp8_matmul_shape_efficiency.n = 0;
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_FP8), 0);
    k.fp8 = 1;
    assert_rel(cs_cost_of(&c, &k), 1e-3 + 4e-6);
    cs_cost_free(&c);
}
END_TEST

/* A grouped GEMM (group_tokens > 0) is capped by the grouped table at its
 * tokens per expert, interpolated in log(tokens), when that is the lowest
 * ceiling; without the table, and for a dense GEMM of the same shape, the
 * FLOPs and shape tables alone price it. FP8 grouped GEMMs take the FP8
 * grouped table, or the BF16 one without it. */
START_TEST(grouped_gemm_ceiling)
{
    cs_gpu_config g = gpu(); /* matmul_efficiency 0.5 */
    g.matmul_shape_efficiency = (cs_table){.n = 2, .x = {64, 1024}, .y = {0.2, 0.9}};
    g.grouped_matmul_efficiency = (cs_table){.n = 2, .x = {256, 4096}, .y = {0.3, 0.45}};
    cs_cost c;
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_FP8), 0);
    /* 16 experts of 1024 tokens, [1024 x 4096] . [4096 x 3072] each. */
    cs_kernel k = {0};
    k.kind = CS_KERNEL_GEMM;
    k.m = 1024;
    k.n = 3072;
    k.k = 4096;
    k.batch = 16;
    k.flops = 2 * k.batch * k.m * k.n * k.k;
    k.launches = 1;
    k.group_tokens = 1024;
    /* 1024 is half way from 256 to 4096 in log: 0.375, below 0.5 and 0.9. */
    assert_rel(cs_cost_grouped_efficiency(&c, 1024, 0), 0.375);
    assert_rel(cs_cost_kernel_efficiency(&c, &k), 0.375);
    assert_rel(cs_cost_of(&c, &k), k.flops / (1e15 * 0.375) + 4e-6);
    /* Held at the ends; below the shape ceiling the shape ceiling rules. */
    assert_rel(cs_cost_grouped_efficiency(&c, 65536, 0), 0.45);
    k.group_tokens = k.m = 64;
    assert_rel(cs_cost_kernel_efficiency(&c, &k), 0.2);
    /* A dense (or batched, not grouped) GEMM of the same shape: untouched. */
    k.group_tokens = 0;
    k.m = 1024;
    assert_rel(cs_cost_kernel_efficiency(&c, &k), 0.5);
    /* FP8 without an FP8 grouped table: the BF16 one, at the FP8 peak. */
    k.group_tokens = 1024;
    k.fp8 = 1;
    assert_rel(cs_cost_of(&c, &k), k.flops / (2e15 * 0.375) + 4e-6);
    cs_cost_free(&c);
    g.fp8_grouped_matmul_efficiency = (cs_table){.n = 1, .y = {0.25}};
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_FP8), 0);
    assert_rel(cs_cost_kernel_efficiency(&c, &k), 0.25);
    k.fp8 = 0;
    assert_rel(cs_cost_kernel_efficiency(&c, &k), 0.375);
    cs_cost_free(&c);
    /* No grouped tables: today's pricing, min(0.5, 0.9). */
    g.grouped_matmul_efficiency.n = g.fp8_grouped_matmul_efficiency.n = 0;
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_BF16), 0);
    assert_rel(cs_cost_grouped_efficiency(&c, 1024, 0), 1);
    assert_rel(cs_cost_kernel_efficiency(&c, &k), 0.5);
    cs_cost_free(&c);
}
END_TEST

/* A 2 x 2 x 2 grid (m, n, k in {256, 1024}): exact at its points, the mean
 * of its cells' corners half way in log(m), log(n) and log(k) (512 is half
 * way from 256 to 1024), held at the edges; a ceiling on a single GEMM and
 * on a grouped GEMM's per-expert shape, not on a batched one or an FP8 one
 * (no FP8 grid). */
START_TEST(gemm_grid_ceiling)
{
    cs_gpu_config g = gpu(); /* matmul_efficiency 0.5 */
    cs_gemm_table *t = &g.matmul_grid_efficiency;
    t->nm = t->nn = t->nk = 2;
    double axis[] = {256, 1024}, e[2][2][2] = {{{0.1, 0.2}, {0.3, 0.4}}, {{0.5, 0.6}, {0.7, 0.8}}};
    for (int i = 0; i < 2; i++) {
        t->m[i] = t->n[i] = t->k[i] = axis[i];
        for (int j = 0; j < 2; j++)
            for (int l = 0; l < 2; l++)
                t->e[(i * CS_GEMM_AXIS + j) * CS_GEMM_AXIS + l] = e[i][j][l];
    }
    assert_rel(cs_cost_grid_efficiency(t, 256, 1024, 256), 0.3);
    assert_rel(cs_cost_grid_efficiency(t, 1024, 256, 1024), 0.6);
    assert_rel(cs_cost_grid_efficiency(t, 512, 512, 512), 0.45);
    assert_rel(cs_cost_grid_efficiency(t, 512, 1024, 1024), (0.4 + 0.8) / 2);
    assert_rel(cs_cost_grid_efficiency(t, 64, 8192, 100000), 0.4);
    cs_cost c;
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_FP8), 0);
    cs_kernel k = {0};
    k.kind = CS_KERNEL_GEMM;
    k.m = k.n = k.k = 512;
    k.batch = 1;
    k.flops = 2 * k.m * k.n * k.k;
    k.launches = 1;
    assert_rel(cs_cost_kernel_efficiency(&c, &k), 0.45); /* below 0.5 */
    k.m = k.n = k.k = 1024;
    assert_rel(cs_cost_kernel_efficiency(&c, &k), 0.5); /* 0.8: the FLOPs table rules */
    k.m = k.n = k.k = 512;
    k.batch = 16; /* batched: left to the tables */
    assert_rel(cs_cost_kernel_efficiency(&c, &k), 0.5);
    k.group_tokens = 512; /* grouped: one expert's shape */
    assert_rel(cs_cost_kernel_efficiency(&c, &k), 0.45);
    k.fp8 = 1; /* no FP8 grid: none applies */
    assert_rel(cs_cost_kernel_efficiency(&c, &k), 0.5);
    cs_cost_free(&c);
    /* Past the grid's largest size the edge's value rises as the FLOPs
     * table does from the edge's FLOPs to the GEMM's (0.3 at 1e9 FLOPs to
     * 0.6 at 1e12, in log): 2048 x 1024 x 1024 against the 1024^3 corner's
     * 0.8 scaled, then the lower of that and the FLOPs table. */
    g.matmul_efficiency = (cs_table){.n = 2, .x = {1e9, 1e12}, .y = {0.3, 0.6}};
    t->e[(1 * CS_GEMM_AXIS + 1) * CS_GEMM_AXIS + 1] = 0.1; /* the corner, binding */
    ck_assert_int_eq(cs_cost_init(&c, &g, CS_BF16), 0);
    k.fp8 = 0;
    k.batch = 1;
    k.group_tokens = 0;
    k.m = 2048;
    k.n = k.k = 1024;
    k.flops = 2 * k.m * k.n * k.k;
    double edge = 0.3 + 0.3 * log(2.0 * 1024 * 1024 * 1024 / 1e9) / log(1000);
    double whole = 0.3 + 0.3 * log(k.flops / 1e9) / log(1000);
    assert_rel(cs_cost_kernel_efficiency(&c, &k), 0.1 * whole / edge);
    cs_cost_free(&c);
    g.matmul_grid_efficiency.nm = 0;
    assert_rel(cs_cost_grid_efficiency(&g.matmul_grid_efficiency, 512, 512, 512), 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cost");
    TCase *t = tcase_create("roofline");
    tcase_add_test(t, roofline_takes_the_slower_side);
    tcase_add_test(t, efficiency_table_in_log_size);
    tcase_add_test(t, gemm_shape_ceiling);
    tcase_add_test(t, attention_grid);
    tcase_add_test(t, fp8_tables_price_fp8_gemms);
    tcase_add_test(t, grouped_gemm_ceiling);
    tcase_add_test(t, gemm_grid_ceiling);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
