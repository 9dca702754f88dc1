#include "input/nccltests.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/csv.h"
#include "base/fileio.h"
#include "base/strutil.h"
#include "input/units.h"

#define MAX_FILE ((size_t)16 << 20)
#define MAX_TOKENS 32

enum { UNDECIDED, TABLE, CSV };

typedef struct reader {
    const char *path, *text;
    size_t len;
    cs_diags *d;
    cs_nccl_measure *m;
    int kind;
    /* A CSV's columns (-1: none), its field count and the scale of each. */
    int csv_size, csv_busbw, csv_time, csv_fields;
    double busbw_scale, time_scale;
    int rc;
} reader;

static void problem(reader *r, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(reader *r, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cs_diags_vadd(r->d, CS_ERROR, (cs_loc){r->path, line, col}, r->text, r->len, fmt, ap);
    va_end(ap);
    r->rc = -1;
}

/* A finite number filling the whole token. */
static int number(const char *t, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    if (end == t || *end || errno || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* A whole number of bytes, as nccl-tests prints sizes: digits only. */
static int byte_count(const char *t, double *out)
{
    if (!*t || strspn(t, "0123456789") != strlen(t) || strlen(t) > 15)
        return -1;
    *out = strtod(t, NULL);
    return 0;
}

/* Splits a table line at blanks into at most MAX_TOKENS tokens with their
 * columns. Returns the count, or -1 when there are more. */
static int split_blanks(char *line, char **tok, int *col)
{
    int n = 0;
    char *p = line;
    for (;;) {
        p += strspn(p, " \t");
        if (!*p)
            return n;
        if (n == MAX_TOKENS)
            return -1;
        tok[n] = p;
        col[n++] = (int)(p - line) + 1;
        p += strcspn(p, " \t");
        if (*p)
            *p++ = '\0';
    }
}

static char *trim(char *s)
{
    s += strspn(s, " \t");
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* One "SIZE PERCENT" entry of a tolerance line; col is its column. */
static void tolerance(reader *r, char *item, int line, int col)
{
    cs_nccl_measure *m = r->m;
    char *text = trim(item), *blank = strrchr(text, ' '), *tab = strrchr(text, '\t');
    if (tab > blank)
        blank = tab;
    cs_quantity q;
    char err[256];
    double pct;
    if (!blank) {
        problem(r, line, col, "a tolerance entry is 'SIZE PERCENT', e.g. '1GiB 10%%'");
        return;
    }
    *blank = '\0';
    char *pct_text = blank + 1;
    size_t pl = strlen(pct_text);
    if (pl < 2 || pct_text[pl - 1] != '%') {
        problem(r, line, col, "a tolerance is a percentage, e.g. '10%%', not '%s'", pct_text);
        return;
    }
    pct_text[pl - 1] = '\0';
    if (number(pct_text, &pct) != 0 || !(pct > 0 && pct <= 100)) {
        problem(r, line, col, "a tolerance is more than 0%% and at most 100%%, not '%s%%'",
                pct_text);
        return;
    }
    if (cs_units_parse(trim(text), CS_UNIT_SIZE, &q, err, sizeof err) != 0 || !(q.value >= 1)) {
        problem(r, line, col, "a tolerance's size is a message size like '1GiB', not '%s'",
                trim(text));
        return;
    }
    for (int i = 0; i < m->tolerances; i++)
        if (m->tol_size[i] == q.value) {
            problem(r, line, col, "a second tolerance for %.0f bytes", q.value);
            return;
        }
    if (m->tolerances == CS_NCCL_MAX_TOLERANCES) {
        problem(r, line, col, "at most %d tolerance entries", CS_NCCL_MAX_TOLERANCES);
        return;
    }
    m->tol_size[m->tolerances] = q.value;
    m->tol_line[m->tolerances] = line;
    m->tol[m->tolerances++] = pct / 100;
}

/* "# tolerance: 8B 30%, 1MiB 25%, ..."; text starts at column col. */
static void tolerances(reader *r, char *text, int line, int col)
{
    char *item = text;
    for (;;) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = '\0';
        tolerance(r, item, line, col + (int)(item - text));
        if (!comma)
            return;
        item = comma + 1;
    }
}

/* A comment line; line points at its '#'. */
static void comment(reader *r, char *line, int num, int col)
{
    char *p = line + 1;
    p += strspn(p, " \t");
    int at = col + (int)(p - line);
    if (!strncmp(p, "clustersim:", 11)) {
        if (r->m->args_line) {
            problem(r, num, at, "a second '# clustersim:' line (the first is line %d)",
                    r->m->args_line);
            return;
        }
        char *args = trim(p + 11);
        if (strlen(args) >= sizeof r->m->args) {
            problem(r, num, at, "the options are longer than %zu characters",
                    sizeof r->m->args - 1);
            return;
        }
        snprintf(r->m->args, sizeof r->m->args, "%s", args);
        r->m->args_line = num;
    } else if (!strncmp(p, "tolerance:", 10)) {
        tolerances(r, p + 10, num, at + 10);
    }
}

static void add_row(reader *r, int num, int col, double size, double time, double busbw)
{
    cs_nccl_measure *m = r->m;
    if (size == 0)
        return; /* nccl-tests prints empty sizes of all-gathers; nothing to time */
    if (m->count == CS_NCCL_MAX_ROWS) {
        problem(r, num, col, "more than %d rows", CS_NCCL_MAX_ROWS);
        return;
    }
    m->rows[m->count++] = (cs_nccl_row){size, time, busbw, num};
}

/* An nccl-tests row: size count type [redop] [root] then time algbw busbw
 * #wrong, out of place, and the same four in place when the test ran both. */
static void table_row(reader *r, char **tok, int *col, int n, int num)
{
    double size, count, v[MAX_TOKENS];
    int vcol[MAX_TOKENS], nv = 0, k = 3;
    if (n < 7 || byte_count(tok[0], &size) != 0 || byte_count(tok[1], &count) != 0 ||
        !isalpha((unsigned char)tok[2][0])) {
        problem(r, num, col[0],
                "not an nccl-tests row (size count type [redop] [root] time algbw busbw "
                "#wrong ...)");
        return;
    }
    if (isalpha((unsigned char)tok[k][0]) && strcmp(tok[k], "N/A") != 0)
        k++; /* the reduction operation */
    for (; k < n; k++) {
        if (!strcmp(tok[k], "N/A")) {
            v[nv] = NAN;
        } else if (number(tok[k], &v[nv]) != 0) {
            problem(r, num, col[k], "'%s' is not a number", tok[k]);
            return;
        }
        vcol[nv++] = col[k];
    }
    /* Blocks of four, after the root when there is one. */
    int first = nv % 4;
    if ((nv != 4 && nv != 8 && nv != 5 && nv != 9) ||
        (first && (isnan(v[0]) || v[0] != floor(v[0])))) {
        problem(r, num, col[n - 1],
                "an nccl-tests row has [root] then time, algbw, busbw and #wrong (out of "
                "place, then in place): %d values here",
                nv);
        return;
    }
    double time = v[first], busbw = v[first + 2];
    if (!(time > 0)) {
        problem(r, num, vcol[first], "the time must be more than 0 us");
        return;
    }
    if (!(busbw >= 0) || !(v[first + 1] >= 0)) {
        problem(r, num, vcol[first + 1], "algbw and busbw must be numbers of 0 GB/s or more");
        return;
    }
    add_row(r, num, col[0], size, time * 1e-6, busbw * 1e9);
}

/* Which columns hold what; the header sits at line num. */
static void csv_header(reader *r, char **f, int n, int num)
{
    static const struct {
        const char *name;
        int what;     /* 0 size, 1 busbw, 2 time */
        double scale; /* to bytes, bytes/s or s */
    } known[] = {{"size_bytes", 0, 1},
                 {"size", 0, 1},
                 {"busbw_GBps", 1, 1e9},
                 {"busbw", 1, 1e9},
                 {"busbw_bytes_per_s", 1, 1},
                 {"time_us", 2, 1e-6},
                 {"time_s", 2, 1}};
    int *slot[] = {&r->csv_size, &r->csv_busbw, &r->csv_time};
    r->csv_fields = n;
    for (int i = 0; i < n; i++) {
        char *name = trim(f[i]);
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
            if (strcmp(name, known[k].name) != 0)
                continue;
            if (*slot[known[k].what] >= 0) {
                problem(r, num, 1, "column '%s' repeats what column %d holds", name,
                        *slot[known[k].what] + 1);
                r->csv_fields = 0;
                return;
            }
            *slot[known[k].what] = i;
            if (known[k].what == 1)
                r->busbw_scale = known[k].scale;
            else if (known[k].what == 2)
                r->time_scale = known[k].scale;
        }
    }
    if (r->csv_size < 0 || (r->csv_busbw < 0 && r->csv_time < 0))
        r->csv_fields = 0; /* no header: the rows cannot be read */
    if (r->csv_fields == 0)
        problem(r, num, 1,
                "a CSV header names size_bytes and busbw_GBps, busbw_bytes_per_s, time_us or "
                "time_s");
}

static void csv_row(reader *r, char **f, int n, int num)
{
    if (n != r->csv_fields) {
        problem(r, num, 1, "%d fields, but the header has %d", n, r->csv_fields);
        return;
    }
    double size, busbw = NAN, time = NAN;
    if (byte_count(trim(f[r->csv_size]), &size) != 0) {
        problem(r, num, 1, "size '%s' is not a whole number of bytes", f[r->csv_size]);
        return;
    }
    if (r->csv_busbw >= 0 &&
        (number(trim(f[r->csv_busbw]), &busbw) != 0 || !(busbw > 0 || size == 0))) {
        problem(r, num, 1, "busbw '%s' is not a bandwidth above 0", f[r->csv_busbw]);
        return;
    }
    if (r->csv_time >= 0 && (number(trim(f[r->csv_time]), &time) != 0 || !(time > 0))) {
        problem(r, num, 1, "time '%s' is not a time above 0", f[r->csv_time]);
        return;
    }
    add_row(r, num, 1, size, time * r->time_scale, busbw * r->busbw_scale);
}

/* One line that is neither blank nor a comment. */
static void data_line(reader *r, char *line, int num)
{
    if (r->kind == UNDECIDED) {
        r->kind = strchr(line, ',') ? CSV : TABLE;
        if (r->kind == CSV) {
            char *f[MAX_TOKENS];
            int n = cs_csv_split(line, f, MAX_TOKENS);
            double v;
            if (n < 0)
                problem(r, num, 1, "more than %d columns", MAX_TOKENS);
            else if (number(trim(f[0]), &v) == 0)
                problem(r, num, 1,
                        "a CSV starts with a header line naming its columns (size_bytes and "
                        "busbw_GBps or time_us)");
            else
                csv_header(r, f, n, num);
            return;
        }
    }
    if (r->kind == CSV) {
        if (r->csv_fields == 0)
            return; /* the header was refused */
        char *f[MAX_TOKENS];
        int n = cs_csv_split(line, f, MAX_TOKENS);
        if (n < 0)
            problem(r, num, 1, "more than %d columns", MAX_TOKENS);
        else
            csv_row(r, f, n, num);
        return;
    }
    char *tok[MAX_TOKENS];
    int col[MAX_TOKENS];
    int n = split_blanks(line, tok, col);
    if (n < 0)
        problem(r, num, 1, "more than %d columns", MAX_TOKENS);
    else
        table_row(r, tok, col, n, num);
}

/* Every tolerance must check a row: a tolerance for a size the file does
 * not hold would pass silently. */
static void tolerances_match(reader *r)
{
    const cs_nccl_measure *m = r->m;
    for (int t = 0; t < m->tolerances; t++) {
        int hit = 0;
        for (int i = 0; i < m->count && !hit; i++)
            hit = m->rows[i].size == m->tol_size[t];
        if (!hit)
            problem(r, m->tol_line[t], 1, "no measured row of %.0f bytes for its tolerance",
                    m->tol_size[t]);
    }
}

int cs_nccltests_parse(const char *name, const char *text, size_t len, cs_nccl_measure *out,
                       cs_diags *d)
{
    memset(out, 0, sizeof *out);
    reader r = {name, text, len, d, out, UNDECIDED, -1, -1, -1, 0, 1, 1, 0};
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        int line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        problem(&r, line, 0, "a NUL byte: this is not a text file");
        return -1;
    }
    char *copy = cs_strndup(text, len);
    if (!copy) {
        problem(&r, 0, 0, "out of memory");
        return -1;
    }
    int num = 0;
    for (char *line = copy, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        num++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[n - 1] = '\0'; /* a file written on Windows */
        char *p = line + strspn(line, " \t");
        if (*p == '#')
            comment(&r, p, num, (int)(p - line) + 1);
        else if (*p)
            data_line(&r, line, num);
    }
    free(copy);
    if (r.rc == 0 && out->count == 0)
        problem(&r, 0, 0, "no measured rows");
    if (r.rc == 0)
        tolerances_match(&r);
    return r.rc;
}

int cs_nccltests_read(const char *path, cs_nccl_measure *out, cs_diags *d)
{
    size_t len;
    char *text = cs_file_read(path, MAX_FILE, &len);
    if (!text) {
        char buf[64];
        memset(out, 0, sizeof *out);
        cs_diags_add(d, CS_ERROR, (cs_loc){path, 0, 0}, NULL, 0, "cannot read: %s",
                     cs_file_error(errno, MAX_FILE, buf, sizeof buf));
        return -1;
    }
    int rc = cs_nccltests_parse(path, text, len, out, d);
    free(text);
    return rc;
}
