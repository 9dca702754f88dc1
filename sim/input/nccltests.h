/* nccltests: measured collective curves to hold the model against.
 *
 * Reads a file of nccl-tests (or rccl-tests, hccl_test) output as printed:
 * one row per size, `size count type [redop] [root] time algbw busbw #wrong`
 * out of place, then the same four in place (the out-of-place time and busbw
 * are used); or a CSV whose header names `size_bytes` and `busbw_GBps`,
 * `busbw_bytes_per_s`, `time_us` or `time_s` (so the CSV that
 * `clustersim collective --format csv` writes reads back). Lines starting
 * with '#' are comments, except two the comparison reads:
 *   # clustersim: --cluster PRESET --op OP --gpus N [more collective options]
 *   # tolerance: 8B 30%, 1MiB 25%, 16MiB 25%, 1GiB 10%
 * the arguments to simulate the measurement with, and the largest relative
 * error allowed at each size; every tolerance size must be a measured row.
 * Anything else (a stray word, a NUL byte, a row with too few columns) is a
 * positioned error: a measurement misread is worse than one refused. */
#ifndef CS_INPUT_NCCLTESTS_H
#define CS_INPUT_NCCLTESTS_H

#include <stddef.h>

#include "input/diag.h"

#define CS_NCCL_MAX_ROWS 128
#define CS_NCCL_MAX_TOLERANCES 16

typedef struct cs_nccl_row {
    double size;  /* bytes, nccl-tests' count */
    double time;  /* s; NaN when the file gives busbw only */
    double busbw; /* bytes/s; NaN when the file gives time only */
    int line;
} cs_nccl_row;

typedef struct cs_nccl_measure {
    cs_nccl_row rows[CS_NCCL_MAX_ROWS];
    int count;
    char args[512]; /* after "# clustersim:", or "" */
    int args_line;  /* its line, 0 when there is none */
    double tol_size[CS_NCCL_MAX_TOLERANCES], tol[CS_NCCL_MAX_TOLERANCES];
    int tol_line[CS_NCCL_MAX_TOLERANCES];
    int tolerances;
} cs_nccl_measure;

/* Reads path into *out. Returns 0, or -1 with positioned errors in d. */
int cs_nccltests_read(const char *path, cs_nccl_measure *out, cs_diags *d);

/* The same for text already in memory (len bytes, named name in errors). */
int cs_nccltests_parse(const char *name, const char *text, size_t len, cs_nccl_measure *out,
                       cs_diags *d);

#endif
