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

static void write_string(FILE *out, const char *s)
{
    fputc('"', out);
    size_t plain = 0; /* the run of characters that need no escape, written at once */
    while (s[plain] && s[plain] != '"' && s[plain] != '\\' && (unsigned char)s[plain] >= 0x20)
        plain++;
    fwrite(s, 1, plain, out);
    for (const unsigned char *p = (const unsigned char *)s + plain; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* A newline and two spaces per level. */
static void indent(FILE *out, int depth)
{
    static const char spaces[2 * CS_JSON_MAX_DEPTH + 2] = "\n                                "
                                                          "                                ";
    fwrite(spaces, 1, (size_t)(1 + 2 * (depth < CS_JSON_MAX_DEPTH ? depth : CS_JSON_MAX_DEPTH)),
           out);
}

/* Separator, newline and indentation before a member, then its key. */
static void member(cs_json *j, const char *key)
{
    if (j->depth > 0) {
        int compact = j->compact[j->depth - 1];
        if (j->count[j->depth - 1]++)
            fputs(compact ? ", " : ",", j->out);
        if (!compact)
            indent(j->out, j->depth);
    }
    if (key) {
        write_string(j->out, key);
        fputs(": ", j->out);
    }
}

static void open(cs_json *j, const char *key, char c, int compact)
{
    member(j, key);
    fputc(c, j->out);
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
        indent(j->out, j->depth);
    fputc(c, j->out);
    if (j->depth == 0)
        fputc('\n', j->out);
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
    write_string(j->out, value);
}

void cs_json_number(cs_json *j, const char *key, double value)
{
    member(j, key);
    if (!isfinite(value)) {
        fputs("null", j->out);
        return;
    }
    char buf[40];
    cs_exact_number(buf, sizeof buf, value);
    fputs(buf, j->out);
}

void cs_json_fixed(cs_json *j, const char *key, double value, int decimals)
{
    member(j, key);
    if (!isfinite(value))
        fputs("null", j->out);
    else
        fprintf(j->out, "%.*f", decimals, value);
}

void cs_json_int(cs_json *j, const char *key, long value)
{
    member(j, key);
    fprintf(j->out, "%ld", value);
}

void cs_json_bool(cs_json *j, const char *key, int value)
{
    member(j, key);
    fputs(value ? "true" : "false", j->out);
}

void cs_json_null(cs_json *j, const char *key)
{
    member(j, key);
    fputs("null", j->out);
}
