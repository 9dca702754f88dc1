/* strutil: the few string helpers C's library lacks (all results are
 * malloc'd and owned by the caller; NULL when out of memory). */
#ifndef CS_STRUTIL_H
#define CS_STRUTIL_H

#include <stdarg.h>
#include <stddef.h>

char *cs_strdup(const char *s);
char *cs_strndup(const char *s, size_t n);
char *cs_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *cs_vasprintf(const char *fmt, va_list ap);

/* Edit distance between a and b (insert, delete, substitute, and swapping two
 * neighbours each cost 1), capped at `cap` + 1 so long strings stay cheap. */
size_t cs_edit_distance(const char *a, const char *b, size_t cap);

/* The candidate closest to `word` if it is a plausible typo of it (distance at
 * most 2, or 1 for short words), else NULL. `candidates` ends with NULL. */
const char *cs_did_you_mean(const char *word, const char *const *candidates);

/* The shortest of %.15g and %.17g that reads back as v exactly, into buf
 * (40 bytes hold any). */
void cs_exact_number(char *buf, size_t size, double v);

/* v with `decimals` (0 to 9) digits after the point, exactly as printf's
 * "%.*f" writes it, into buf; returns the length. Values whose scaled
 * magnitude stays below 2^53 are formatted from one rounded integer, several
 * times faster than printf (the traces and timelines write millions); the
 * others go through snprintf, and a result longer than `size` holds is
 * written as "%.17g" instead. 40 bytes hold any result. */
size_t cs_fixed(char *buf, size_t size, double v, int decimals);

/* n in decimal into buf (24 bytes hold any); returns the length. */
size_t cs_decimal(char *buf, long n);

/* Parses "K/N" (whole text) with 1 <= K <= N <= max into *k, *n: 0, or -1. */
int cs_parse_shard(const char *s, long max, long *k, long *n);

#endif
