/* The reader of measured nccl-tests curves: what it takes from a table or a
 * CSV, and a positioned error for everything it must not guess at. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "input/nccltests.h"
#include "testutil.h"

typedef struct parsed {
    cs_nccl_measure m;
    cs_diags d;
    int rc;
} parsed;

static parsed *parse(const char *text)
{
    parsed *p = malloc(sizeof *p);
    ck_assert_ptr_nonnull(p);
    cs_diags_init(&p->d);
    p->rc = cs_nccltests_parse("m.txt", text, strlen(text), &p->m, &p->d);
    return p;
}

static void done(parsed *p)
{
    cs_diags_free(&p->d);
    free(p);
}

/* One error at line:col containing needle, and nothing read. */
static void refused(const char *text, const char *needle, int line, int col)
{
    parsed *p = parse(text);
    ck_assert_int_eq(p->rc, -1);
    tu_assert_diag(&p->d, CS_ERROR, needle, line, col);
    done(p);
}

/* nccl-tests 2.13 prints redop and root; older builds and alltoall leave
 * columns out; sizes of 0 are skipped; the out-of-place block is read. */
START_TEST(table_rows_read)
{
    parsed *p = parse("# nThread 1 nGpus 1\n"
                      "#  size count type redop root time algbw busbw #wrong time algbw busbw "
                      "#wrong\n"
                      "           0             0   float     sum      -1     1.00    0.00    "
                      "0.00      0     1.00    0.00    0.00      0\n"
                      "     1048576        262144   float     sum      -1    156.9    6.68   "
                      "12.53      0    154.1    6.81   12.76      0\n"
                      "     2097152        524288   float     sum    161.5   12.98   25.15  "
                      "7e-07    161.3   13.00   25.18  7e-07\n"
                      "     4194304       1048576   float             1.63    0.00    0.00    "
                      "N/A     1.38    0.00    0.00    N/A\n"
                      "     8388608       2097152   float   200.0   41.9   36.7   N/A\r\n");
    ck_assert_int_eq(p->rc, 0);
    ck_assert_int_eq(p->m.count, 4);
    ck_assert(p->m.rows[0].size == 1048576);
    assert_close(p->m.rows[0].time, 156.9e-6, 1e-15);
    assert_close(p->m.rows[0].busbw, 12.53e9, 1e-15);
    ck_assert_int_eq(p->m.rows[0].line, 4);
    assert_close(p->m.rows[1].time, 161.5e-6, 1e-15);
    assert_close(p->m.rows[1].busbw, 25.15e9, 1e-15);
    assert_close(p->m.rows[2].time, 1.63e-6, 1e-15);
    assert_close(p->m.rows[3].busbw, 36.7e9, 1e-15);
    ck_assert_int_eq(p->m.args_line, 0);
    done(p);
}
END_TEST

/* A CSV's columns by name, in any order, with their units; our own CSV
 * (collective --format csv) reads back. */
START_TEST(csv_rows_read)
{
    parsed *p = parse("# clustersim: --cluster dgx-h100 --gpus 8\n"
                      "# tolerance: 1MiB 25%, 2 MiB 10.5%\n"
                      "how, busbw_GBps , size_bytes\n"
                      "eye, 12.5, 1048576\n"
                      "\"fig, 3\",20,2097152\n");
    ck_assert_int_eq(p->rc, 0);
    ck_assert_int_eq(p->m.count, 2);
    ck_assert(p->m.rows[1].size == 2097152);
    assert_close(p->m.rows[0].busbw, 12.5e9, 1e-15);
    ck_assert(isnan(p->m.rows[0].time));
    ck_assert_str_eq(p->m.args, "--cluster dgx-h100 --gpus 8");
    ck_assert_int_eq(p->m.args_line, 1);
    ck_assert_int_eq(p->m.tolerances, 2);
    ck_assert(p->m.tol_size[1] == 2097152 && fabs(p->m.tol[1] - 0.105) < 1e-15);
    done(p);

    p = parse("op,gpus,algo,proto,network_model,size_bytes,time_s,algbw_bytes_per_s,"
              "busbw_bytes_per_s\n"
              "all_reduce,8,ring,LL,flow,1048576,2.81072e-05,3.7306313e+10,6.52860477e+10\n");
    ck_assert_int_eq(p->rc, 0);
    assert_close(p->m.rows[0].time, 2.81072e-05, 1e-15);
    assert_close(p->m.rows[0].busbw, 6.52860477e+10, 1e-15);
    done(p);
}
END_TEST

START_TEST(bad_table_rows_refused)
{
    refused("1048576 262144 float sum -1 156.9 x 12.53 0 156.9 6.8 12.7 0\n", "'x' is not a number",
            1, 35);
    refused("1048576 262144 float sum -1 156.9 6.68\n", "3 values here", 1, 35);
    refused("1048576 262144 float 1.0 1.0\n", "not an nccl-tests row", 1, 1);
    refused("1048576 262144 float sum 156.9 6.68 12.53 0 1 2 3\n", "7 values here", 1, 49);
    refused("1048576 262144 float sum 0 6.68 12.53 0\n", "the time must be more than 0", 1, 26);
    refused("1048576 262144 float sum 1 -6 12.53 0\n", "algbw and busbw", 1, 28);
    refused("1e6 262144 float sum 1 6 12.53 0\n", "not an nccl-tests row", 1, 1);
    refused("1048576.5 262144 float sum 1 6 12.53 0\n", "not an nccl-tests row", 1, 1);
    refused("  1048576 262144 float sum 1.5 1 6 12.53 0\n", "5 values here", 1, 42);
    refused("1 2 float sum 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 "
            "25 26 27 28 29\n",
            "more than 32 columns", 1, 1);
    refused("hostname: NCCL WARN something\n", "not an nccl-tests row", 1, 1);
}
END_TEST

START_TEST(bad_csv_refused)
{
    refused(",,,\n", "a CSV header names size_bytes", 1, 1);
    /* Rows after a refused header are not read (found by fuzz_nccltests). */
    refused("how,when\n1,2\n3,4\n", "a CSV header names size_bytes", 1, 1);
    refused("size_bytes,busbw,busbw_GBps\n1,2,3\n", "repeats what column 2 holds", 1, 1);
    refused("1048576,12.5\n", "a CSV starts with a header line", 1, 1);
    refused("size_bytes,how\n1048576,eye\n", "a CSV header names size_bytes", 1, 1);
    refused("size_bytes,busbw_GBps,busbw\n", "column 'busbw' repeats what column 2 holds", 1, 1);
    refused("size_bytes,busbw_GBps\n1048576,12.5,3\n", "3 fields, but the header has 2", 2, 1);
    refused("size_bytes,busbw_GBps\n1048576,\n", "busbw '' is not a bandwidth above 0", 2, 1);
    refused("size_bytes,busbw_GBps\n1048576,0\n", "busbw '0' is not a bandwidth above 0", 2, 1);
    refused("size_bytes,busbw_GBps\n1048576,nan\n", "busbw 'nan'", 2, 1);
    refused("size_bytes,time_us\n-4,2\n", "size '-4' is not a whole number of bytes", 2, 1);
    refused("size_bytes,time_us\n4,inf\n", "time 'inf' is not a time above 0", 2, 1);
    refused("size_bytes,busbw_GBps\n1 048 576,12\n", "not a whole number of bytes", 2, 1);
}
END_TEST

START_TEST(bad_comments_refused)
{
    const char *row = "1048576 262144 float sum -1 156.9 6.68 12.53 0\n";
    char text[512];
    snprintf(text, sizeof text, "# tolerance: 1MiB 25\n%s", row);
    refused(text, "a tolerance is a percentage, e.g. '10%', not '25'", 1, 13);
    snprintf(text, sizeof text, "# tolerance: 1MiB 0%%\n%s", row);
    refused(text, "more than 0% and at most 100%", 1, 13);
    snprintf(text, sizeof text, "# tolerance: 1MiB 101%%\n%s", row);
    refused(text, "more than 0% and at most 100%", 1, 13);
    snprintf(text, sizeof text, "# tolerance: 1MiB 10%% extra\n%s", row);
    refused(text, "a tolerance is a percentage", 1, 13);
    snprintf(text, sizeof text, "# tolerance: 1MiB 10%%,\n%s", row);
    refused(text, "a tolerance entry is 'SIZE PERCENT'", 1, 23);
    snprintf(text, sizeof text, "# tolerance: 1 parsec 10%%\n%s", row);
    refused(text, "a tolerance's size is a message size", 1, 13);
    snprintf(text, sizeof text, "# tolerance: 1MiB 10%%, 1048576B 20%%\n%s", row);
    refused(text, "a second tolerance for 1048576 bytes", 1, 23);
    snprintf(text, sizeof text, "# tolerance: 1MiB 10%%, 2MiB 20%%\n%s", row);
    refused(text, "no measured row of 2097152 bytes for its tolerance", 1, 1);
    snprintf(text, sizeof text, "# clustersim: --gpus 8\n  # clustersim: --gpus 16\n%s", row);
    refused(text, "a second '# clustersim:' line (the first is line 1)", 2, 5);
    refused("# only comments\n\n", "no measured rows", 0, 0);
}
END_TEST

START_TEST(nul_byte_refused)
{
    static const char text[] = "# a\n1048576 262144 float\0 sum -1 156.9 6.68 12.53 0\n";
    cs_nccl_measure *m = malloc(sizeof *m);
    ck_assert_ptr_nonnull(m);
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_nccltests_parse("m.txt", text, sizeof text - 1, m, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "a NUL byte", 2, 0);
    cs_diags_free(&d);
    free(m);
}
END_TEST

START_TEST(more_than_128_rows_refused)
{
    size_t cap = 200 * 64;
    char *text = malloc(cap), *p = text;
    ck_assert_ptr_nonnull(text);
    for (int i = 1; i <= 129; i++)
        p += snprintf(p, cap - (size_t)(p - text), "%d 1 float sum -1 1.0 1.0 1.0 0\n", i);
    refused(text, "more than 128 rows", 129, 1);
    free(text);
}
END_TEST

START_TEST(missing_file_and_fifo)
{
    cs_nccl_measure *m = malloc(sizeof *m);
    ck_assert_ptr_nonnull(m);
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_nccltests_read("/nonexistent/m.txt", m, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "cannot read: No such file or directory", 0, 0);
    cs_diags_free(&d);
    cs_diags_init(&d);
    ck_assert_int_eq(cs_nccltests_read(tu_temp_dir(), m, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "cannot read: Is a directory", 0, 0);
    cs_diags_free(&d);
    free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("nccltests");
    TCase *t = tcase_create("reader");
    tcase_add_test(t, table_rows_read);
    tcase_add_test(t, csv_rows_read);
    tcase_add_test(t, bad_table_rows_refused);
    tcase_add_test(t, bad_csv_refused);
    tcase_add_test(t, bad_comments_refused);
    tcase_add_test(t, nul_byte_refused);
    tcase_add_test(t, more_than_128_rows_refused);
    tcase_add_test(t, missing_file_and_fifo);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
