#include "report/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/strutil.h"

void cs_json_init(cs_json *j, FILE *out)
{
    memset(j, 0, sizeof *j);
    j->out = out;
}

void cs_json_init_tight(cs_json *j, FILE *out)
{
    cs_json_init(j, out);
    j->tight = 1;
}

static void flush(cs_json *j)
{
    fwrite(j->buf, 1, j->used, j->out);
    j->used = 0;
}

static void put(cs_json *j, const char *s, size_t n)
{
    if (j->used + n > sizeof j->buf) {
        flush(j);
        if (n > sizeof j->buf) {
            fwrite(s, 1, n, j->out);
            return;
        }
    }
    memcpy(j->buf + j->used, s, n);
    j->used += n;
}

static void put_char(cs_json *j, char c) { put(j, &c, 1); }
static void put_text(cs_json *j, const char *s) { put(j, s, strlen(s)); }

static void write_string(cs_json *j, const char *s)
{
    put_char(j, '"');
    for (const char *p = s; *p;) {
        size_t plain = 0; /* a run of characters that need no escape, put at once */
        while (p[plain] && p[plain] != '"' && p[plain] != '\\' &&
               (unsigned char)p[plain] >= 0x20)
            plain++;
        put(j, p, plain);
        p += plain;
        if (!*p)
            break;
        unsigned char c = (unsigned char)*p++;
        char esc[8];
        switch (c) {
        case '"':
            put_text(j, "\\\"");
            break;
        case '\\':
            put_text(j, "\\\\");
            break;
        case '\n':
            put_text(j, "\\n");
            break;
        case '\t':
            put_text(j, "\\t");
            break;
        case '\r':
            put_text(j, "\\r");
            break;
        default: /* the other control characters */
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put_text(j, esc);
        }
    }
    put_char(j, '"');
}

/* A newline and two spaces per level (none when tight). */
static void indent(cs_json *j, int depth)
{
    static const char spaces[2 * CS_JSON_MAX_DEPTH + 2] = "\n                                "
                                                          "                                ";
    if (j->tight)
        depth = 0;
    put(j, spaces, (size_t)(1 + 2 * (depth < CS_JSON_MAX_DEPTH ? depth : CS_JSON_MAX_DEPTH)));
}

/* Separator, newline and indentation before a member, then its key. */
static void member(cs_json *j, const char *key)
{
    if (j->depth > 0) {
        int compact = j->compact[j->depth - 1];
        if (j->count[j->depth - 1]++)
            put(j, ", ", compact && !j->tight ? 2 : 1);
        if (!compact)
            indent(j, j->depth);
    }
    if (key) {
        write_string(j, key);
        put(j, ": ", j->tight ? 1 : 2);
    }
}

static void open(cs_json *j, const char *key, char c, int compact)
{
    member(j, key);
    put_char(j, c);
    if (j->depth < CS_JSON_MAX_DEPTH) {
        j->count[j->depth] = 0;
        j->compact[j->depth] = compact;
    }
    j->depth++;
}

static void close(cs_json *j, char c)
{
    j->depth--;
    if (j->depth < CS_JSON_MAX_DEPTH && j->count[j->depth] && !j->compact[j->depth])
        indent(j, j->depth);
    put_char(j, c);
    if (j->depth == 0) {
        put_char(j, '\n');
        flush(j);
    }
}

void cs_json_object_begin(cs_json *j, const char *key) { open(j, key, '{', 0); }
void cs_json_object_end(cs_json *j) { close(j, '}'); }
void cs_json_array_begin(cs_json *j, const char *key) { open(j, key, '[', 0); }
void cs_json_inline_array_begin(cs_json *j, const char *key) { open(j, key, '[', 1); }
void cs_json_inline_object_begin(cs_json *j, const char *key) { open(j, key, '{', 1); }
void cs_json_array_end(cs_json *j) { close(j, ']'); }

void cs_json_string(cs_json *j, const char *key, const char *value)
{
    member(j, key);
    write_string(j, value);
}

void cs_json_number(cs_json *j, const char *key, double value)
{
    member(j, key);
    if (!isfinite(value)) {
        put_text(j, "null");
        return;
    }
    char buf[40];
    cs_exact_number(buf, sizeof buf, value);
    put_text(j, buf);
}

void cs_json_fixed(cs_json *j, const char *key, double value, int decimals)
{
    member(j, key);
    if (!isfinite(value)) {
        put_text(j, "null");
        return;
    }
    char buf[48];
    put(j, buf, cs_fixed(buf, sizeof buf, value, decimals));
}

void cs_json_int(cs_json *j, const char *key, long value)
{
    member(j, key);
    char buf[24];
    put(j, buf, cs_decimal(buf, value));
}

void cs_json_bool(cs_json *j, const char *key, int value)
{
    member(j, key);
    put_text(j, value ? "true" : "false");
}

void cs_json_null(cs_json *j, const char *key)
{
    member(j, key);
    put_text(j, "null");
}

void cs_json_raw(cs_json *j, const char *text, size_t n)
{
    member(j, NULL);
    put(j, text, n);
}
