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

/* Copies line `line` (1-based) of text, without its newline; NULL if absent. */
static char *copy_line(const char *text, size_t len, int line)
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
    return cs_strndup(text + start, end - start);
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
    r->source_line = copy_line(text, len, loc.line);
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
    /* Keep tabs so the caret lines up under tab-indented text. */
    for (int i = 0; i + 1 < r->col && r->source_line[i]; i++)
        fputc(r->source_line[i] == '\t' ? '\t' : ' ', out);
    fputs("^\n", out);
}

void cs_diags_print(const cs_diags *d, FILE *out)
{
    for (size_t i = 0; i < d->count; i++)
        cs_diag_print(&d->items[i], out);
    if (d->dropped)
        fprintf(out, "(%zu more problems not shown)\n", d->dropped);
}
