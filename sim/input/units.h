/* units: quantities written with units, as in "450 GB/s", "80 GiB", "2 us".
 *
 * Values come back in SI base units: bytes/s, bytes, seconds, FLOP/s, items/s
 * and plain fractions. Decimal prefixes (k M G T P E) are powers of 1000 and
 * binary prefixes (Ki Mi Gi Ti Pi Ei) powers of 1024; both are applied exactly:
 * "3.35 TB/s" is the double nearest 3.35e12 (the decimal exponent is folded
 * into the number before it is converted), "80 GiB" is 80 * 2^30. Bits are
 * bytes / 8 ("400 Gb/s" = 50e9 B/s). Times reach from ps to years (d = 86400 s,
 * year = 365 days). Power is in watts ("10.2 kW"), an energy price in US
 * dollars per joule, written per Wh, kWh or MWh ("0.08 USD/kWh"). */
#ifndef CS_UNITS_H
#define CS_UNITS_H

#include <stddef.h>

typedef enum {
    CS_UNIT_BANDWIDTH,  /* bytes per second */
    CS_UNIT_SIZE,       /* bytes */
    CS_UNIT_TIME,       /* seconds */
    CS_UNIT_COMPUTE,    /* FLOP per second */
    CS_UNIT_THROUGHPUT, /* sequences or tokens per second */
    CS_UNIT_RATIO,      /* a fraction: 0.8 or 80% */
    CS_UNIT_MONEY,      /* US dollars: "2.50 USD" */
    CS_UNIT_COUNT,      /* a plain number, maybe with k, M, B (1e9) or T: "1T", "300B tokens" */
    CS_UNIT_POWER,      /* watts: "700 W", "10.2 kW" */
    CS_UNIT_ENERGY_PRICE, /* US dollars per joule, written per kWh: "0.08 USD/kWh" */
    CS_UNIT_KIND_COUNT
} cs_unit_kind;

typedef enum { CS_PER_SEQUENCE, CS_PER_TOKEN } cs_throughput_unit;

typedef struct cs_quantity {
    double value;           /* in SI base units */
    cs_unit_kind kind;
    cs_throughput_unit per; /* only for CS_UNIT_THROUGHPUT */
} cs_quantity;

/* Parses `text` as a quantity of kind `want`. Returns 0 and fills *out, or -1
 * and writes a one-line reason into err (naming the expected unit, and the kind
 * the text has if it is a quantity of another kind). Signs are accepted; range
 * checks (positive, at most 1) belong to the caller, which knows the key. */
int cs_units_parse(const char *text, cs_unit_kind want, cs_quantity *out,
                   char *err, size_t errlen);

/* "bandwidth", "size", ... */
const char *cs_units_kind_name(cs_unit_kind kind);

/* An example of a well-formed value of this kind, for hints: "400 Gb/s". */
const char *cs_units_example(cs_unit_kind kind);

#endif
