#include "input/diag.h"

#include <stdlib.h>
#include <string.h>

#include "base/strutil.h"

static const char *severity_name[] = {"error", "warning", "note"};

void cs_diags_init(cs_diags *d) { memset(d, 0, sizeof *d); }

void cs_diags_free(cs_diags *d)
{
    for (size_t i = 0; i < d->count; i++) {
        free(d->items[i].file);
        free(d->items[i].message);
        free(d->items[i].source_line);
    }
    free(d->items);
    cs_diags_init(d);
}

/* Characters of a long line shown on each side of the column. */
#define CLIP 80

/* UTF-8: bytes 10xxxxxx continue a character; columns count characters. */
static int continues(char c) { return ((unsigned char)c & 0xc0) == 0x80; }

/* The byte of character column col (1-based) from start, at most end. */
static size_t byte_of_column(const char *text, size_t start, size_t end, int col)
{
    size_t at = start;
    for (int c = 1; c < col && at < end; c++)
        for (at++; at < end && continues(text[at]); at++)
            ;
    return at;
}

/* Copies line `line` (1-based) of text, without its newline; NULL if absent.
 * A line longer than 2 x CLIP is clipped around column `col` with "..." at
 * the cut ends; *caret is the column's place in the copy. */
static char *copy_line(const char *text, size_t len, int line, int col, int *caret)
{
    if (!text || line < 1)
        return NULL;
    size_t start = 0;
    for (int l = 1; l < line; l++) {
        const char *nl = memchr(text + start, '\n', len - start);
        if (!nl)
            return NULL;
        start = (size_t)(nl - text) + 1;
    }
    size_t end = start;
    while (end < len && text[end] != '\n' && text[end] != '\r')
        end++;
    *caret = col;
    if (end - start <= 2 * CLIP)
        return cs_strndup(text + start, end - start);
    /* A column past the line's end (libyaml marks a line's end) stays at it. */
    size_t at = byte_of_column(text, start, end, col);
    size_t from = at > start + CLIP ? at - CLIP : start;
    size_t to = from + 2 * CLIP < end ? from + 2 * CLIP : end;
    if (from > start && to - from < 2 * CLIP)
        from = to > start + 2 * CLIP ? to - 2 * CLIP : start;
    while (from < at && continues(text[from])) /* cut between characters */
        from++;
    while (to > at && to < end && continues(text[to]))
        to--;
    int head = from > start, tail = to < end;
    char *out = malloc(to - from + 7);
    if (!out)
        return NULL;
    snprintf(out, to - from + 7, "%s%.*s%s", head ? "..." : "", (int)(to - from), text + from,
             tail ? "..." : "");
    int chars = 0;
    for (size_t i = from; i < at; i++)
        chars += !continues(text[i]);
    *caret = chars + 1 + (head ? 3 : 0);
    return out;
}

int cs_diags_vadd(cs_diags *d, cs_severity sev, cs_loc loc, const char *text,
                  size_t len, const char *fmt, va_list ap)
{
    if (sev == CS_ERROR)
        d->errors++;
    if (d->count >= CS_DIAGS_MAX) {
        d->dropped++;
        return 0;
    }
    if (d->count == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        cs_diag *items = realloc(d->items, cap * sizeof *items);
        if (!items)
            return -1;
        d->items = items;
        d->cap = cap;
    }
    cs_diag *r = &d->items[d->count];
    r->severity = sev;
    r->file = cs_strdup(loc.file ? loc.file : "<input>");
    r->line = loc.line;
    r->col = loc.col;
    r->message = cs_vasprintf(fmt, ap);
    /* A message quoting a huge key or value stays readable. */
    if (r->message && strlen(r->message) > CS_DIAG_MESSAGE_MAX)
        strcpy(r->message + CS_DIAG_MESSAGE_MAX - 3, "...");
    r->source_line = copy_line(text, len, loc.line, loc.col, &r->source_col);
    if (!r->file || !r->message) {
        free(r->file);
        free(r->message);
        free(r->source_line);
        return -1;
    }
    d->count++;
    return 0;
}

int cs_diags_add(cs_diags *d, cs_severity sev, cs_loc loc, const char *text,
                 size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = cs_diags_vadd(d, sev, loc, text, len, fmt, ap);
    va_end(ap);
    return rc;
}

void cs_diag_print(const cs_diag *r, FILE *out)
{
    if (r->line > 0)
        fprintf(out, "%s:%d:%d: %s: %s\n", r->file, r->line, r->col,
                severity_name[r->severity], r->message);
    else
        fprintf(out, "%s: %s: %s\n", r->file, severity_name[r->severity], r->message);
    if (!r->source_line)
        return;
    fprintf(out, "%5d | %s\n      | ", r->line, r->source_line);
    /* Keep tabs so the caret lines up under tab-indented text; one space
     * per character, not per byte. */
    int chars = 0;
    for (const char *p = r->source_line; *p && chars + 1 < r->source_col; p++)
        if (!continues(*p)) {
            fputc(*p == '\t' ? '\t' : ' ', out);
            chars++;
        }
    fputs("^\n", out);
}

void cs_diags_print(const cs_diags *d, FILE *out)
{
    for (size_t i = 0; i < d->count; i++)
        cs_diag_print(&d->items[i], out);
    if (d->dropped)
        fprintf(out, "(%zu more problems not shown)\n", d->dropped);
}
