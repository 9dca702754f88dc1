#include "input/nccltests.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "input/units.h"

#define MAX_FILE ((size_t)16 << 20)
#define MAX_TOKENS 32

typedef struct reader {
    const char *path, *text;
    size_t len;
    cs_diags *d;
    cs_nccl_measure *m;
    int csv_size, csv_busbw, csv_time; /* CSV column indices, -1: none */
    int rc;
} reader;

static void problem(reader *r, int line, int col, const char *fmt, const char *arg)
{
    cs_diags_add(r->d, CS_ERROR, (cs_loc){r->path, line, col}, r->text, r->len, fmt, arg);
    r->rc = -1;
}

/* Splits a line at blanks (or commas for CSV) into at most MAX_TOKENS
 * tokens, recording each token's column. */
static int split(char *line, int csv, char **tok, int *col)
{
    int n = 0;
    char *p = line;
    while (*p && n < MAX_TOKENS) {
        while (*p == ' ' || *p == '\t' || (csv && *p == ','))
            p++;
        if (!*p)
            break;
        tok[n] = p;
        col[n++] = (int)(p - line) + 1;
        while (*p && *p != ' ' && *p != '\t' && !(csv && *p == ','))
            p++;
        if (*p)
            *p++ = '\0';
    }
    return n;
}

static int number(const char *t, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    if (end == t || *end || errno)
        return -1;
    *out = v;
    return 0;
}

/* "# tolerance: 8B 30%, 1MiB 25%, ..." */
static void tolerances(reader *r, char *text, int line)
{
    cs_nccl_measure *m = r->m;
    for (char *item = strtok(text, ","); item; item = strtok(NULL, ",")) {
        char size[64], pct[64];
        cs_quantity q, t;
        char err[256];
        if (sscanf(item, " %63s %63s", size, pct) != 2 ||
            cs_units_parse(size, CS_UNIT_SIZE, &q, err, sizeof err) != 0 ||
            cs_units_parse(pct, CS_UNIT_RATIO, &t, err, sizeof err) != 0) {
            problem(r, line, 1, "tolerance entries are 'SIZE PERCENT', e.g. '1GiB 10%%'%s", "");
            return;
        }
        if (m->tolerances == CS_NCCL_MAX_TOLERANCES) {
            problem(r, line, 1, "at most 16 tolerance entries%s", "");
            return;
        }
        m->tol_size[m->tolerances] = q.value;
        m->tol[m->tolerances++] = t.value;
    }
}

static void comment(reader *r, char *line, int num)
{
    char *p = line + 1;
    while (*p == ' ')
        p++;
    if (!strncmp(p, "clustersim:", 11)) {
        p += 11;
        while (*p == ' ')
            p++;
        snprintf(r->m->args, sizeof r->m->args, "%s", p);
    } else if (!strncmp(p, "tolerance:", 10)) {
        tolerances(r, p + 10, num);
    }
}

/* A CSV header: which columns hold what. */
static int csv_header(reader *r, char **tok, int n)
{
    r->csv_size = r->csv_busbw = r->csv_time = -1;
    for (int i = 0; i < n; i++) {
        if (!strcmp(tok[i], "size_bytes") || !strcmp(tok[i], "size"))
            r->csv_size = i;
        else if (!strcmp(tok[i], "busbw_GBps") || !strcmp(tok[i], "busbw"))
            r->csv_busbw = i;
        else if (!strcmp(tok[i], "time_us"))
            r->csv_time = i;
    }
    return r->csv_size >= 0 && (r->csv_busbw >= 0 || r->csv_time >= 0);
}

static void add_row(reader *r, int num, double size, double time, double busbw, int col)
{
    cs_nccl_measure *m = r->m;
    if (size == 0)
        return; /* nccl-tests prints empty sizes of all-gathers; nothing to time */
    if (!(size > 0)) {
        problem(r, num, col, "a size must be a positive number of bytes%s", "");
        return;
    }
    if (m->count == CS_NCCL_MAX_ROWS) {
        problem(r, num, col, "more than 128 rows%s", "");
        return;
    }
    m->rows[m->count++] = (cs_nccl_row){size, time, busbw, num};
}

/* An nccl-tests row: size count type [redop] [root] time algbw busbw ... */
static void table_row(reader *r, char **tok, int *col, int n, int num)
{
    double size, v[MAX_TOKENS];
    int k = 2, nv = 0;
    if (n < 6 || number(tok[0], &size) != 0) {
        problem(r, num, 1, "not an nccl-tests row (size count type ... time algbw busbw)%s", "");
        return;
    }
    while (k < n && (isalpha((unsigned char)tok[k][0]) || !strcmp(tok[k], "-")))
        k++; /* type and redop */
    for (; k < n && nv < MAX_TOKENS; k++) {
        if (!strcmp(tok[k], "N/A"))
            v[nv++] = NAN;
        else if (number(tok[k], &v[nv]) == 0)
            nv++;
    }
    /* The times come in blocks of four (time algbw busbw #wrong, out of
     * place then in place): an odd count means a root column before them. */
    int first = nv % 2;
    if (nv - first < 3) {
        problem(r, num, col[n - 1], "an nccl-tests row needs time, algbw and busbw%s", "");
        return;
    }
    add_row(r, num, size, v[first] * 1e-6, v[first + 2] * 1e9, 1);
}

static void csv_row(reader *r, char **tok, int *col, int n, int num)
{
    int need = r->csv_size > r->csv_busbw ? r->csv_size : r->csv_busbw;
    if (r->csv_time > need)
        need = r->csv_time;
    double size, busbw = NAN, time = NAN;
    if (n <= need || number(tok[r->csv_size], &size) != 0 ||
        (r->csv_busbw >= 0 && number(tok[r->csv_busbw], &busbw) != 0) ||
        (r->csv_time >= 0 && number(tok[r->csv_time], &time) != 0)) {
        problem(r, num, n ? col[0] : 1, "a row must have numbers in the header's columns%s", "");
        return;
    }
    add_row(r, num, size, r->csv_time >= 0 ? time * 1e-6 : NAN,
            r->csv_busbw >= 0 ? busbw * 1e9 : NAN, col[0]);
}

int cs_nccltests_read(const char *path, cs_nccl_measure *out, cs_diags *d)
{
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = cs_file_read(path, MAX_FILE, &len);
    if (!text) {
        cs_diags_add(d, CS_ERROR, (cs_loc){path, 0, 0}, NULL, 0, "cannot read: %s",
                     strerror(errno));
        return -1;
    }
    reader r = {path, text, len, d, out, -1, -1, -1, 0};
    char *copy = strdup(text);
    int num = 0, csv = 0;
    for (char *line = copy, *next; line && r.rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        num++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#') {
            comment(&r, p, num);
            continue;
        }
        if (!*p || *p == '\r')
            continue;
        char *tok[MAX_TOKENS] = {0};
        int col[MAX_TOKENS] = {0};
        int is_csv = strchr(line, ',') != NULL;
        int n = split(line, is_csv, tok, col);
        if (is_csv && !csv && !isdigit((unsigned char)tok[0][0])) {
            if (!csv_header(&r, tok, n))
                problem(&r, num, 1,
                        "a CSV header must name size_bytes and busbw_GBps or "
                        "time_us%s",
                        "");
            csv = 1;
        } else if (csv) {
            csv_row(&r, tok, col, n, num);
        } else {
            table_row(&r, tok, col, n, num);
        }
    }
    free(copy);
    free(text);
    if (r.rc == 0 && out->count == 0) {
        cs_diags_add(d, CS_ERROR, (cs_loc){path, 0, 0}, NULL, 0, "no measured rows%s", "");
        r.rc = -1;
    }
    return r.rc;
}
