#include "base/strutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cs_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cs_strdup(const char *s) { return cs_strndup(s, strlen(s)); }

char *cs_vasprintf(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return NULL;
    char *p = malloc((size_t)n + 1);
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *cs_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = cs_vasprintf(fmt, ap);
    va_end(ap);
    return p;
}

/* Optimal string alignment distance over three rolling rows. */
size_t cs_edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if ((la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    if (lb > 256 || la > 256)
        return cap + 1;
    size_t rows[3][257];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        size_t best = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (prev[j - 1] + cost < v)
                v = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < v)
                v = prev2[j - 2] + 1;
            cur[j] = v;
            if (v < best)
                best = v;
        }
        if (best > cap)
            return cap + 1;
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb] > cap ? cap + 1 : prev[lb];
}

const char *cs_did_you_mean(const char *word, const char *const *candidates)
{
    size_t limit = strlen(word) <= 4 ? 1 : 2;
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (; *candidates; candidates++) {
        size_t d = cs_edit_distance(word, *candidates, limit);
        /* On a tie, a candidate with the same first letter reads as the
         * likelier typo ("dpp" is "dp" rather than "pp"). */
        int better = d < best_d || (d == best_d && best && best[0] != word[0] &&
                                    (*candidates)[0] == word[0]);
        if (better) {
            best_d = d;
            best = *candidates;
        }
    }
    return best;
}

/* The digits of u, at least `min` of them (zeros in front), into buf from
 * its end backwards; returns where they start. */
static char *digits_back(char *end, unsigned long long u, int min)
{
    char *p = end;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u || end - p < min);
    return p;
}

size_t cs_decimal(char *buf, long n)
{
    char tmp[24];
    unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
    char *p = digits_back(tmp + sizeof tmp, u, 1);
    if (n < 0)
        *--p = '-';
    size_t len = (size_t)(tmp + sizeof tmp - p);
    memcpy(buf, p, len);
    buf[len] = '\0';
    return len;
}

size_t cs_fixed(char *buf, size_t size, double v, int decimals)
{
    static const double scale[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    double scaled = decimals >= 0 && decimals <= 9 ? v * scale[decimals] : HUGE_VAL;
    if (size < 40 || !(fabs(scaled) < 9007199254740992.0)) { /* 2^53 */
        int len = snprintf(buf, size, "%.*f", decimals, v);
        if (len < 0 || (size_t)len >= size)
            len = snprintf(buf, size, "%.17g", v); /* too long to hold: exact, shorter */
        return len < 0 ? 0 : (size_t)len;
    }
    /* v * 10^d = scaled + err exactly (fma), and scaled - r is exact: only
     * where the product landed on a half does err decide, as printf's exact
     * rounding (ties to even) would. */
    double r = nearbyint(scaled), half = scaled - r;
    if (half == 0.5 || half == -0.5) {
        double err = fma(v, scale[decimals], -scaled);
        r += half > 0 ? (err > 0) : -(err < 0);
    }
    char tmp[40], *end = tmp + sizeof tmp;
    double mag = fabs(r);
    char *p = digits_back(end, (unsigned long long)mag, decimals + 1);
    size_t whole = (size_t)(end - p) - (size_t)decimals, len = 0;
    if (signbit(v)) /* printf writes -0.000 for a small negative, and for -0 */
        buf[len++] = '-';
    memcpy(buf + len, p, whole);
    len += whole;
    if (decimals > 0) {
        buf[len++] = '.';
        memcpy(buf + len, p + whole, (size_t)decimals);
        len += (size_t)decimals;
    }
    buf[len] = '\0';
    return len;
}

void cs_exact_number(char *buf, size_t size, double v)
{
    /* Non-negative whole numbers below 10^15 (byte counts, mostly): as %.15g
     * prints them, without its cost. */
    if (size >= 24 && v == floor(v) && fabs(v) < 1e15 && !signbit(v)) {
        cs_decimal(buf, (long)v);
        return;
    }
    snprintf(buf, size, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, size, "%.17g", v);
}

int cs_parse_shard(const char *s, long max, long *k, long *n)
{
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10);
    if (errno || end == s || *end != '/')
        return -1;
    const char *b = end + 1;
    long c = strtol(b, &end, 10);
    if (errno || end == b || *end || a < 1 || c < a || c > max)
        return -1;
    *k = a;
    *n = c;
    return 0;
}
