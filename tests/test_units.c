/* Units: every kind, exact prefixes, and the errors that name the unit. */
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "input/units.h"

static double parse(const char *text, cs_unit_kind kind)
{
    cs_quantity q;
    char err[256];
    ck_assert_msg(cs_units_parse(text, kind, &q, err, sizeof err) == 0, "%s: %s", text, err);
    return q.value;
}

static const char *must_fail(const char *text, cs_unit_kind kind)
{
    static char err[256];
    cs_quantity q;
    ck_assert_msg(cs_units_parse(text, kind, &q, err, sizeof err) != 0, "%s parsed", text);
    return err;
}

START_TEST(bandwidth_decimal_and_bits)
{
    ck_assert(parse("450 GB/s", CS_UNIT_BANDWIDTH) == 450e9);
    ck_assert(parse("50 GBps", CS_UNIT_BANDWIDTH) == 50e9);
    ck_assert(parse("400 Gb/s", CS_UNIT_BANDWIDTH) == 50e9);
    ck_assert(parse("400 Gbps", CS_UNIT_BANDWIDTH) == 50e9);
    /* The decimal exponent is folded in before rounding: exactly 3.35e12. */
    ck_assert(parse("3.35 TB/s", CS_UNIT_BANDWIDTH) == 3.35e12);
    ck_assert(parse("1 GiB/s", CS_UNIT_BANDWIDTH) == 1073741824.0);
    ck_assert(parse("450GB/s", CS_UNIT_BANDWIDTH) == 450e9);
}
END_TEST

START_TEST(sizes_binary_exact)
{
    ck_assert(parse("80 GiB", CS_UNIT_SIZE) == 80.0 * 1073741824.0);
    ck_assert(parse("64 GB", CS_UNIT_SIZE) == 64e9);
    ck_assert(parse("512 MiB", CS_UNIT_SIZE) == 512.0 * 1048576.0);
    ck_assert(parse("4096 B", CS_UNIT_SIZE) == 4096.0);
    ck_assert(parse("1.5 KiB", CS_UNIT_SIZE) == 1536.0);
    ck_assert(parse("2 TiB", CS_UNIT_SIZE) == 2.0 * 1099511627776.0);
    ck_assert(parse("1e3 MB", CS_UNIT_SIZE) == 1e9);
}
END_TEST

START_TEST(times)
{
    ck_assert(parse("5 ns", CS_UNIT_TIME) == 5e-9);
    ck_assert(parse("2 us", CS_UNIT_TIME) == 2e-6);
    ck_assert(parse("2 \xc2\xb5s", CS_UNIT_TIME) == 2e-6);
    ck_assert(parse("1.5 ms", CS_UNIT_TIME) == 1.5e-3);
    ck_assert(parse("0.016 s", CS_UNIT_TIME) == 0.016);
    ck_assert(parse("2 h", CS_UNIT_TIME) == 7200.0);
}
END_TEST

START_TEST(compute_throughput_ratio)
{
    ck_assert(parse("989 TFLOP/s", CS_UNIT_COMPUTE) == 989e12);
    ck_assert(parse("312 TFLOPS", CS_UNIT_COMPUTE) == 312e12);
    ck_assert(parse("2.25 PFLOP/s", CS_UNIT_COMPUTE) == 2.25e15);
    cs_quantity q;
    char err[128];
    ck_assert_int_eq(cs_units_parse("8000 seq/s", CS_UNIT_THROUGHPUT, &q, err, sizeof err), 0);
    ck_assert(q.value == 8000.0 && q.per == CS_PER_SEQUENCE);
    ck_assert_int_eq(cs_units_parse("1.5M tokens/s", CS_UNIT_THROUGHPUT, &q, err, sizeof err), 0);
    ck_assert(q.value == 1.5e6 && q.per == CS_PER_TOKEN);
    ck_assert(parse("0.8", CS_UNIT_RATIO) == 0.8);
    ck_assert(parse("80%", CS_UNIT_RATIO) == 0.8);
}
END_TEST

START_TEST(bare_number_names_the_unit)
{
    const char *e = must_fail("450", CS_UNIT_BANDWIDTH);
    ck_assert_msg(strstr(e, "no unit") && strstr(e, "bandwidth") && strstr(e, "Gb/s"), "%s", e);
    e = must_fail("80", CS_UNIT_SIZE);
    ck_assert_msg(strstr(e, "size") && strstr(e, "GB"), "%s", e);
}
END_TEST

START_TEST(wrong_kind_and_unknown_units)
{
    const char *e = must_fail("80 GB", CS_UNIT_BANDWIDTH);
    ck_assert_msg(strstr(e, "is a size, not a bandwidth"), "%s", e);
    e = must_fail("2 us", CS_UNIT_SIZE);
    ck_assert_msg(strstr(e, "is a time, not a size"), "%s", e);
    e = must_fail("450 GBs", CS_UNIT_BANDWIDTH);
    ck_assert_msg(strstr(e, "unknown bandwidth unit 'GBs'"), "%s", e);
    e = must_fail("fast", CS_UNIT_BANDWIDTH);
    ck_assert_msg(strstr(e, "expected a bandwidth"), "%s", e);
    must_fail("1.2.3 GB", CS_UNIT_SIZE);
    must_fail("", CS_UNIT_SIZE);
    must_fail("nan GB", CS_UNIT_SIZE);
    must_fail("1e999 GB", CS_UNIT_SIZE);
}
END_TEST

START_TEST(signs_are_left_to_the_caller)
{
    ck_assert(parse("-64 GB", CS_UNIT_SIZE) == -64e9);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("units");
    TCase *t = tcase_create("parse");
    tcase_add_test(t, bandwidth_decimal_and_bits);
    tcase_add_test(t, sizes_binary_exact);
    tcase_add_test(t, times);
    tcase_add_test(t, compute_throughput_ratio);
    tcase_add_test(t, bare_number_names_the_unit);
    tcase_add_test(t, wrong_kind_and_unknown_units);
    tcase_add_test(t, signs_are_left_to_the_caller);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
