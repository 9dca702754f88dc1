/* strutil's number writers: cs_fixed against printf's "%.*f" (the same text),
 * cs_decimal at the ends of long, and cs_exact_number reading back. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strutil.h"
#include "testutil.h"

static void same_as_printf(double v, int decimals)
{
    char ours[64], theirs[64];
    size_t len = cs_fixed(ours, sizeof ours, v, decimals);
    snprintf(theirs, sizeof theirs, "%.*f", decimals, v);
    ck_assert_uint_eq(len, strlen(ours));
    ck_assert_msg(!strcmp(ours, theirs), "%.17g, %d decimals: %s, printf %s", v, decimals, ours,
                  theirs);
}

START_TEST(fixed_hand_cases)
{
    same_as_printf(0, 3);
    same_as_printf(0.005, 3);
    same_as_printf(12.345, 3);
    same_as_printf(-12.345, 3);
    same_as_printf(7, 0);
    same_as_printf(1.5, 0);   /* exact halves go to even, as printf's */
    same_as_printf(2.5, 0);
    same_as_printf(0.125, 2);
    same_as_printf(92066.5123456789, 9);
    same_as_printf(1e-12, 9);
    same_as_printf(123456789.0, 9); /* scaled past 2^53: printf's own path */
    same_as_printf(-1e-7, 3);      /* "-0.000", as printf */
    same_as_printf(-0.0, 2);
    same_as_printf(0.5, 0);        /* a half landed on exactly: to even */
    same_as_printf(4503599627370495.5, 0);
    same_as_printf(0.0049999999999999999, 3);
    char buf[40];
    ck_assert_uint_eq(cs_fixed(buf, sizeof buf, 1e300, 3), strlen(buf)); /* too long: %.17g */
    ck_assert(strtod(buf, NULL) == 1e300);
}
END_TEST

/* Over many values, of every magnitude the fast path takes and past it,
 * exactly printf's text. */
START_TEST(fixed_matches_printf_widely)
{
    unsigned long long x = 88172645463325252ULL;
    long n = 200000;
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int decimals = (int)((x >> 20) % 10);
        double v = (double)(x >> 11) / 9007199254740992.0 * pow(10, (double)(x % 9)) *
                   ((x >> 5) & 1 ? -1 : 1);
        if (i % 4 == 0) /* a multiple of 1/1024: exact halves at few decimals */
            v = (double)((x >> 7) % 10000000) / 1024.0;
        char ours[64], theirs[64];
        cs_fixed(ours, sizeof ours, v, decimals);
        snprintf(theirs, sizeof theirs, "%.*f", decimals, v);
        ck_assert_msg(!strcmp(ours, theirs), "%.17g, %d decimals: %s vs %s", v, decimals, ours,
                      theirs);
    }
}
END_TEST

START_TEST(decimal_ends_of_long)
{
    char buf[24], want[32];
    long cases[] = {0, 7, -7, 1234567890123L, LONG_MAX, LONG_MIN};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(want, sizeof want, "%ld", cases[i]);
        ck_assert_uint_eq(cs_decimal(buf, cases[i]), strlen(want));
        ck_assert_str_eq(buf, want);
    }
}
END_TEST

START_TEST(exact_number_reads_back)
{
    const double cases[] = {0, -0.0, 1, 4096, 123456789012345.0, 1e15, 0.1, 1.0 / 3, -2.5e-300};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[40], g15[40];
        cs_exact_number(buf, sizeof buf, cases[i]);
        ck_assert(strtod(buf, NULL) == cases[i]);
        ck_assert_int_eq(!!signbit(strtod(buf, NULL)), !!signbit(cases[i]));
        snprintf(g15, sizeof g15, "%.15g", cases[i]);
        if (strtod(g15, NULL) == cases[i])
            ck_assert_str_eq(buf, g15); /* the whole-number path prints as %.15g */
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("strutil");
    TCase *t = tcase_create("numbers");
    tcase_add_test(t, fixed_hand_cases);
    tcase_add_test(t, fixed_matches_printf_widely);
    tcase_add_test(t, decimal_ends_of_long);
    tcase_add_test(t, exact_number_reads_back);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
