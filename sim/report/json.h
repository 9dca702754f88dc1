/* json: a streaming JSON writer with stable formatting.
 *
 * Keys are written in call order, objects and arrays are indented two spaces,
 * numbers use the shortest of %.15g / %.17g that reads back to the same double
 * (so output is byte-identical across runs), NaN and infinities become null,
 * and strings are escaped per RFC 8259. Nesting depth is bounded by
 * CS_JSON_MAX_DEPTH; deeper calls are ignored. Output is gathered in the
 * writer's own buffer and handed to the stream when it fills and when the
 * top-level value closes (a trace writes millions of small pieces, which one
 * stdio call each made the slowest part of writing it). */
#ifndef CS_JSON_H
#define CS_JSON_H

#include <stdio.h>

#define CS_JSON_MAX_DEPTH 32
#define CS_JSON_BUFFER 8192

typedef struct cs_json {
    FILE *out;
    int depth;
    int count[CS_JSON_MAX_DEPTH]; /* members written at each level */
    int compact[CS_JSON_MAX_DEPTH]; /* arrays of scalars stay on one line */
    int tight;                      /* no spaces, no indentation (cs_json_init_tight) */
    size_t used;                    /* bytes of buf not yet on out */
    char buf[CS_JSON_BUFFER];
} cs_json;

void cs_json_init(cs_json *j, FILE *out);
/* The same, without the spaces after separators and the indentation, each
 * member of an indented array still on its own line: for a trace's hundreds
 * of thousands of events, where they were an eighth of the bytes. */
void cs_json_init_tight(cs_json *j, FILE *out);

/* `key` is the member name inside an object, NULL inside an array or at top. */
void cs_json_object_begin(cs_json *j, const char *key);
void cs_json_object_end(cs_json *j);
void cs_json_array_begin(cs_json *j, const char *key);
/* An array whose elements are all scalars, written on one line. */
void cs_json_inline_array_begin(cs_json *j, const char *key);
/* An object written on one line, what it holds too (a trace's events). */
void cs_json_inline_object_begin(cs_json *j, const char *key);
void cs_json_array_end(cs_json *j);

void cs_json_string(cs_json *j, const char *key, const char *value);
void cs_json_number(cs_json *j, const char *key, double value);
/* A number with `decimals` digits after the point ("%.*f"): for the many
 * timestamps of a trace, where the shortest exact form costs twice as much
 * and reads no better (NaN and infinities become null). */
void cs_json_fixed(cs_json *j, const char *key, double value, int decimals);
void cs_json_int(cs_json *j, const char *key, long value);
void cs_json_bool(cs_json *j, const char *key, int value);
void cs_json_null(cs_json *j, const char *key);
/* An array element already formatted as JSON by the caller (its promise:
 * nothing is checked or escaped), put after the separator as it is. */
void cs_json_raw(cs_json *j, const char *text, size_t n);

#endif
