/* diag: diagnostics with source positions.
 *
 * Every problem found in user input becomes one record: a severity, a position
 * (file, 1-based line and column) and a message, plus a copy of the offending
 * source line so it can be shown under the message the way compilers do:
 *
 *   scenario.yaml:3:5: error: unknown key 'hiden_size'; did you mean 'hidden_size'?
 *       3 |   hiden_size: 1024
 *         |   ^
 *
 * Loaders collect every problem of a file into a cs_diags list instead of
 * stopping at the first one; callers decide when to print and how to exit. */
#ifndef CS_DIAG_H
#define CS_DIAG_H

/* Longer messages are cut to this many characters, ending in "...". */
#define CS_DIAG_MESSAGE_MAX 400

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

typedef enum { CS_ERROR, CS_WARNING, CS_NOTE } cs_severity;

/* A position in an input file. `file` is borrowed: it points into storage
 * that outlives the record (the loader's file table). line/col are 1-based;
 * line 0 means "no position, the whole file". */
typedef struct cs_loc {
    const char *file;
    int line;
    int col;
} cs_loc;

typedef struct cs_diag {
    cs_severity severity;
    char *file;        /* owned copy */
    int line, col;
    char *message;     /* owned */
    char *source_line; /* owned copy of the offending line (clipped around col), or NULL */
    int source_col;    /* the caret's column in source_line */
} cs_diag;

typedef struct cs_diags {
    cs_diag *items;
    size_t count, cap;
    size_t errors;  /* number of CS_ERROR records, kept or not */
    size_t dropped; /* records past CS_DIAGS_MAX, counted but not kept */
} cs_diags;

/* A file with thousands of problems shows the first ones and a count. */
#define CS_DIAGS_MAX 100

void cs_diags_init(cs_diags *d);
void cs_diags_free(cs_diags *d);

/* Adds a record. `text`/`len` is the whole source of `loc.file` (may be NULL)
 * and is only read to copy the offending line. Returns 0, or -1 when out of
 * memory (the record is then dropped but `errors` is still counted). */
int cs_diags_add(cs_diags *d, cs_severity sev, cs_loc loc, const char *text,
                 size_t len, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
int cs_diags_vadd(cs_diags *d, cs_severity sev, cs_loc loc, const char *text,
                  size_t len, const char *fmt, va_list ap);

/* Prints every record, in the order added, as FILE:LINE:COL: SEVERITY: MESSAGE
 * followed by the source line and a caret when one was captured. */
void cs_diags_print(const cs_diags *d, FILE *out);

/* Prints one record the same way. */
void cs_diag_print(const cs_diag *r, FILE *out);

#endif
