/* search_csv: search.csv read back, so that a search can go on from
 * earlier runs of it (--resume, --merge of the shards' files). */
#include "study/search.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/csv.h"

const char cs_search_csv_header[] =
    "name,gpus,tp,pp,ep,etp,vpp,micro_batch_size,schedule,recompute,sequence_parallel,"
    "distributed_optimizer,fate,why,dp,memory_estimate_bytes,rank,stage,iteration_time_s,"
    "throughput_seq_per_s,mfu,memory_peak_bytes,memory_fits,objective,"
    "cost_per_million_tokens_usd,time_to_train_s,pareto,repeats,iteration_time_p5_s,"
    "iteration_time_p95_s,search,shard\n";

/* The columns read back, by their place in the header. */
enum {
    COL_NAME = 0,
    COL_FATE = 12,
    COL_STAGE = 17,
    COL_TIME,
    COL_THROUGHPUT,
    COL_MFU,
    COL_MEMORY,
    COL_FITS,
    COL_OBJECTIVE,
    COL_COST,
    COL_TTT,
    COL_PARETO,
    COL_REPEATS,
    COL_P5,
    COL_P95,
    COL_SEARCH,
    COL_SHARD,
    COLS
};

/* A number of the file: finite and not negative, or NaN for an empty field
 * when `empty` allows it; -1 otherwise (what search writes never is). */
static int number(const char *f, int empty, double *out)
{
    char *end;
    if (!*f) {
        *out = NAN;
        return empty ? 0 : -1;
    }
    errno = 0;
    *out = strtod(f, &end);
    return *end || errno || !isfinite(*out) || *out < 0 ? -1 : 0;
}

static int row_of(char **f, cs_search_prior_row *r)
{
    if (strlen(f[COL_NAME]) >= sizeof r->name)
        return -1;
    strcpy(r->name, f[COL_NAME]);
    r->memory_fits = !strcmp(f[COL_FITS], "true");
    if (!r->memory_fits && strcmp(f[COL_FITS], "false"))
        return -1;
    return number(f[COL_TIME], 0, &r->iteration_time_s) ||
                   number(f[COL_THROUGHPUT], 0, &r->throughput) || number(f[COL_MFU], 0, &r->mfu) ||
                   number(f[COL_MEMORY], 0, &r->memory_peak_bytes) ||
                   number(f[COL_OBJECTIVE], 0, &r->objective) ||
                   number(f[COL_COST], 1, &r->cost_per_mtoken_usd) ||
                   number(f[COL_TTT], 1, &r->time_to_train_s)
               ? -1
               : 0;
}

static int add_row(cs_search_prior *p, const cs_search_prior_row *r)
{
    if (p->count == p->cap) {
        long n = p->cap ? 2 * p->cap : 256;
        cs_search_prior_row *rows = realloc(p->rows, (size_t)n * sizeof *rows);
        if (!rows)
            return -1;
        p->rows = rows;
        p->cap = n;
    }
    p->rows[p->count++] = *r;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const cs_search_prior_row *)a)->name, ((const cs_search_prior_row *)b)->name);
}

/* One line, its newline removed; NULL at the end or on a read error. */
static char *read_line(FILE *f, char **buf, size_t *cap)
{
    size_t n = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF && ch != '\n') {
        if (n + 2 > *cap) {
            size_t c = *cap ? 2 * *cap : 1024;
            char *b = realloc(*buf, c);
            if (!b)
                return NULL;
            *buf = b;
            *cap = c;
        }
        (*buf)[n++] = (char)ch;
    }
    if (n == 0 && ch == EOF)
        return NULL;
    (*buf)[n] = 0;
    return *buf;
}

int cs_search_prior_read(const char *path, const char *id, cs_network_model model,
                         cs_search_prior *p, FILE *err)
{
    const char *stage = cs_network_model_name(model);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(err, "clustersim search: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    long lineno = 1;
    if (!read_line(f, &line, &cap) || strncmp(line, cs_search_csv_header, strlen(line)) ||
        strlen(line) + 1 != strlen(cs_search_csv_header)) {
        fprintf(err, "clustersim search: %s is not a search.csv of this version (its header "
                     "differs)\n",
                path);
        rc = -1;
    }
    while (rc == 0 && read_line(f, &line, &cap)) {
        char *fields[COLS + 1];
        cs_search_prior_row r;
        lineno++;
        int n = cs_csv_split(line, fields, COLS + 1);
        if (n != COLS) {
            fprintf(err, "clustersim search: %s:%ld: %s%d fields, not %d%s\n", path, lineno,
                    n < 0 ? "more than " : "", n < 0 ? (int)COLS : n, (int)COLS,
                    n >= 0 && n < COLS ? " (a file cut short?)" : "");
            rc = -1;
        } else if (strcmp(fields[COL_SEARCH], id)) {
            fprintf(err,
                    "clustersim search: %s:%ld: a row of another search (%s, this one is %s: the "
                    "scenario or a file it reads changed); remove it or run without it\n",
                    path, lineno, fields[COL_SEARCH], id);
            rc = -1;
        } else if (strcmp(fields[COL_FATE], "evaluated") || strcmp(fields[COL_STAGE], stage)) {
            continue; /* what another stage replayed, or did not evaluate */
        } else if (row_of(fields, &r) != 0) {
            fprintf(err,
                    "clustersim search: %s:%ld: a number that does not read (each must be finite "
                    "and not negative) or memory_fits not true or false\n",
                    path, lineno);
            rc = -1;
        } else if (add_row(p, &r) != 0) {
            fprintf(err, "clustersim search: out of memory\n");
            rc = -1;
        }
    }
    if (ferror(f) && rc == 0) {
        fprintf(err, "clustersim search: cannot read %s\n", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    if (rc == 0)
        qsort(p->rows, (size_t)p->count, sizeof *p->rows, by_name);
    return rc;
}

const cs_search_prior_row *cs_search_prior_find(const cs_search_prior *p, const char *name)
{
    if (!p || p->count == 0)
        return NULL;
    cs_search_prior_row key;
    snprintf(key.name, sizeof key.name, "%s", name);
    return bsearch(&key, p->rows, (size_t)p->count, sizeof *p->rows, by_name);
}

void cs_search_prior_free(cs_search_prior *p)
{
    free(p->rows);
    memset(p, 0, sizeof *p);
}
