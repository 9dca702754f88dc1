#include "input/units.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_names[CS_UNIT_KIND_COUNT] = {
    "bandwidth", "size",  "time", "compute rate", "throughput", "ratio", "price", "count",
    "power",     "price of energy"};

static const char *examples[CS_UNIT_KIND_COUNT] = {
    "'400 Gb/s' or '50 GB/s'", "'80 GB' or '512 MiB'", "'2 us' or '1.5 ms'",
    "'989 TFLOP/s'", "'8000 seq/s' or '1.5M tokens/s'", "'0.8' or '80%'", "'2.50 USD'",
    "'1T' or '300B tokens'", "'700 W' or '10.2 kW'", "'0.08 USD/kWh'"};

const char *cs_units_kind_name(cs_unit_kind kind) { return kind_names[kind]; }
const char *cs_units_example(cs_unit_kind kind) { return examples[kind]; }

/* A unit's scale: value = number * 10^dec_exp * 2^bin_exp * factor, where
 * factor (minutes, hours) is the only step that may round. */
typedef struct {
    int dec_exp;
    int bin_exp;
    double factor;
} scale;

typedef struct {
    const char *name;
    int dec_exp;
    int bin_exp;
} prefix;

/* Longest names first so "Gi" wins over "G". */
static const prefix prefixes[] = {
    {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50},
    {"Ei", 0, 60}, {"k", 3, 0},   {"K", 3, 0},   {"M", 6, 0},   {"G", 9, 0},
    {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"", 0, 0},
};

/* Base units per kind; a prefix may stand before each. bin_exp -3 is bits. */
typedef struct {
    cs_unit_kind kind;
    const char *name;
    int bin_exp;
    cs_throughput_unit per;
} base_unit;

static const base_unit base_units[] = {
    {CS_UNIT_BANDWIDTH, "B/s", 0, 0},      {CS_UNIT_BANDWIDTH, "Bps", 0, 0},
    {CS_UNIT_BANDWIDTH, "b/s", -3, 0},     {CS_UNIT_BANDWIDTH, "bps", -3, 0},
    {CS_UNIT_BANDWIDTH, "bit/s", -3, 0},   {CS_UNIT_SIZE, "B", 0, 0},
    {CS_UNIT_SIZE, "bytes", 0, 0},         {CS_UNIT_SIZE, "byte", 0, 0},
    {CS_UNIT_COMPUTE, "FLOP/s", 0, 0},     {CS_UNIT_COMPUTE, "FLOPS", 0, 0},
    {CS_UNIT_COMPUTE, "FLOPs/s", 0, 0},    {CS_UNIT_COMPUTE, "flop/s", 0, 0},
    {CS_UNIT_THROUGHPUT, "seq/s", 0, CS_PER_SEQUENCE},
    {CS_UNIT_THROUGHPUT, "sequences/s", 0, CS_PER_SEQUENCE},
    {CS_UNIT_THROUGHPUT, "samples/s", 0, CS_PER_SEQUENCE},
    {CS_UNIT_THROUGHPUT, "tokens/s", 0, CS_PER_TOKEN},
    {CS_UNIT_THROUGHPUT, "tok/s", 0, CS_PER_TOKEN},
    {CS_UNIT_POWER, "W", 0, 0},
};

/* Time units take no prefixes beyond these spellings. */
typedef struct {
    const char *name;
    int dec_exp;
    double factor;
} time_unit;

static const time_unit time_units[] = {
    {"s", 0, 1},   {"ms", -3, 1}, {"us", -6, 1},  {"\xc2\xb5s", -6, 1},
    {"\xce\xbcs", -6, 1}, {"ns", -9, 1}, {"ps", -12, 1}, {"min", 0, 60},
    {"h", 0, 3600}, {"d", 0, 86400}, {"days", 0, 86400}, {"day", 0, 86400},
    {"weeks", 0, 604800}, {"week", 0, 604800}, {"years", 0, 31536000}, {"year", 0, 31536000},
};

/* Multipliers of counts: "1.5B tokens". */
typedef struct count_suffix {
    const char *name;
    int dec_exp;
} count_suffix;

static const count_suffix count_suffixes[] = {
    {"", 0}, {"k", 3}, {"K", 3}, {"M", 6}, {"B", 9}, {"G", 9}, {"T", 12}};

/* Scans a decimal number at *p: [+-]digits[.digits][e[+-]digits]. Copies its
 * mantissa (without exponent) into buf, returns its exponent in *exp. */
static int scan_number(const char **p, char *buf, size_t buflen, long *exp)
{
    const char *s = *p;
    size_t n = 0;
    int digits = 0;
    if (*s == '+' || *s == '-') {
        if (n + 1 < buflen)
            buf[n++] = *s;
        s++;
    }
    while (isdigit((unsigned char)*s) || *s == '.') {
        digits += isdigit((unsigned char)*s) != 0;
        if (n + 1 >= buflen)
            return -1;
        buf[n++] = *s++;
    }
    buf[n] = '\0';
    if (!digits || strchr(buf, '.') != strrchr(buf, '.'))
        return -1;
    *exp = 0;
    if ((*s == 'e' || *s == 'E') &&
        (isdigit((unsigned char)s[1]) ||
         ((s[1] == '+' || s[1] == '-') && isdigit((unsigned char)s[2])))) {
        char *end;
        *exp = strtol(s + 1, &end, 10);
        if (*exp > 400 || *exp < -400)
            return -1;
        s = end;
    }
    *p = s;
    return 0;
}

/* Converts mantissa * 10^dec * 2^bin with one rounding for the decimal part. */
static double to_double(const char *mantissa, long dec, int bin)
{
    char buf[96];
    snprintf(buf, sizeof buf, "%se%ld", mantissa, dec);
    return ldexp(strtod(buf, NULL), bin);
}

/* Matches `unit` against the units of `kind`; fills scale and per. */
static int match_unit(const char *unit, cs_unit_kind kind, scale *sc,
                      cs_throughput_unit *per)
{
    if (kind == CS_UNIT_TIME) {
        for (size_t i = 0; i < sizeof time_units / sizeof *time_units; i++)
            if (strcmp(unit, time_units[i].name) == 0) {
                sc->dec_exp = time_units[i].dec_exp;
                sc->bin_exp = 0;
                sc->factor = time_units[i].factor;
                return 0;
            }
        return -1;
    }
    if (kind == CS_UNIT_ENERGY_PRICE) { /* per joule */
        static const struct {
            const char *name;
            double per_joule;
        } prices[] = {{"USD/Wh", 1 / 3.6e3}, {"USD/kWh", 1 / 3.6e6}, {"USD/MWh", 1 / 3.6e9}};
        for (size_t i = 0; i < sizeof prices / sizeof *prices; i++)
            if (strcmp(unit, prices[i].name) == 0) {
                sc->dec_exp = 0;
                sc->bin_exp = 0;
                sc->factor = prices[i].per_joule;
                return 0;
            }
        return -1;
    }
    if (kind == CS_UNIT_MONEY) {
        if (strcmp(unit, "USD") == 0) {
            sc->dec_exp = 0;
            sc->bin_exp = 0;
            sc->factor = 1;
            return 0;
        }
        return -1;
    }
    if (kind == CS_UNIT_COUNT) {
        for (size_t i = 0; i < sizeof count_suffixes / sizeof *count_suffixes; i++) {
            size_t n = strlen(count_suffixes[i].name);
            const char *rest = unit + n;
            if (strncmp(unit, count_suffixes[i].name, n) != 0)
                continue;
            while (*rest == ' ')
                rest++;
            if (*rest && strcmp(rest, "tokens") != 0 && strcmp(rest, "sequences") != 0)
                continue;
            sc->dec_exp = count_suffixes[i].dec_exp;
            sc->bin_exp = 0;
            sc->factor = 1;
            return 0;
        }
        return -1;
    }
    if (kind == CS_UNIT_RATIO) {
        if (strcmp(unit, "%") == 0) {
            sc->dec_exp = -2;
            sc->bin_exp = 0;
            sc->factor = 1;
            return 0;
        }
        return -1;
    }
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t pl = strlen(prefixes[i].name);
        if (strncmp(unit, prefixes[i].name, pl) != 0)
            continue;
        const char *rest = unit + pl;
        if (kind == CS_UNIT_POWER && prefixes[i].bin_exp)
            continue; /* watts take decimal prefixes only */
        if (kind == CS_UNIT_THROUGHPUT)
            while (*rest == ' ')
                rest++;
        for (size_t j = 0; j < sizeof base_units / sizeof *base_units; j++) {
            if (base_units[j].kind != kind || strcmp(rest, base_units[j].name) != 0)
                continue;
            sc->dec_exp = prefixes[i].dec_exp;
            sc->bin_exp = prefixes[i].bin_exp + base_units[j].bin_exp;
            sc->factor = 1;
            *per = base_units[j].per;
            return 0;
        }
    }
    return -1;
}

int cs_units_parse(const char *text, cs_unit_kind want, cs_quantity *out,
                   char *err, size_t errlen)
{
    const char *p = text;
    char mantissa[64];
    long exp;
    while (*p == ' ' || *p == '\t')
        p++;
    if (scan_number(&p, mantissa, sizeof mantissa, &exp) != 0) {
        snprintf(err, errlen, "expected a %s such as %s, got '%s'",
                 kind_names[want], examples[want], text);
        return -1;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    char unit[32];
    size_t ul = strlen(p);
    while (ul > 0 && (p[ul - 1] == ' ' || p[ul - 1] == '\t'))
        ul--;
    if (ul >= sizeof unit) {
        snprintf(err, errlen, "unknown %s unit in '%s'; use e.g. %s", kind_names[want],
                 text, examples[want]);
        return -1;
    }
    memcpy(unit, p, ul);
    unit[ul] = '\0';

    scale sc = {0, 0, 1};
    cs_throughput_unit per = CS_PER_SEQUENCE;
    if (ul == 0) {
        if (want != CS_UNIT_RATIO && want != CS_UNIT_COUNT) {
            snprintf(err, errlen, "'%s' has no unit; expected a %s such as %s", text,
                     kind_names[want], examples[want]);
            return -1;
        }
    } else if (match_unit(unit, want, &sc, &per) != 0) {
        for (int k = 0; k < CS_UNIT_KIND_COUNT; k++) {
            scale other;
            cs_throughput_unit op;
            if (k != (int)want && match_unit(unit, (cs_unit_kind)k, &other, &op) == 0) {
                snprintf(err, errlen, "'%s' is a %s, not a %s; expected e.g. %s", text,
                         kind_names[k], kind_names[want], examples[want]);
                return -1;
            }
        }
        snprintf(err, errlen, "unknown %s unit '%s'; expected e.g. %s", kind_names[want],
                 unit, examples[want]);
        return -1;
    }
    double v = to_double(mantissa, exp + sc.dec_exp, sc.bin_exp) * sc.factor;
    if (!isfinite(v)) {
        snprintf(err, errlen, "'%s' is out of range", text);
        return -1;
    }
    out->value = v;
    out->kind = want;
    out->per = per;
    return 0;
}
