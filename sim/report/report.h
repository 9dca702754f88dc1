/* report: the printed forms of results, as text for people and JSON for
 * programs (fields as docs/output.md describes them). Reads results only. */
#ifndef CS_REPORT_H
#define CS_REPORT_H

#include <stdio.h>

#include "net/collective.h"
#include "replay/runner.h"
#include "model/check.h"

typedef enum { CS_FORMAT_TEXT, CS_FORMAT_JSON, CS_FORMAT_CSV } cs_format;

/* One size of a simulated nccl-tests run. */
typedef struct cs_coll_row {
    double size, time, algbw, busbw; /* bytes, s, bytes/s, bytes/s */
    cs_coll_algo algo;
    cs_proto proto;
} cs_coll_row;

typedef struct cs_coll_report {
    cs_coll_op op;
    long gpus, nodes;
    const char *cluster;
    cs_coll_algo algo; /* as asked; rows say what auto chose */
    cs_network_model model;
    const cs_coll_row *rows;
    size_t count;
} cs_coll_report;

/* Prints the rows in nccl-tests' column layout (text), or as CSV or JSON. */
void cs_report_collective(FILE *out, cs_format format, const cs_coll_report *r);

/* The side-by-side report of `run`: text, JSON (docs/output.md) or CSV (one row
 * per layout, the JSON's scalar fields as columns). */
void cs_report_run(FILE *out, cs_format format, const cs_scenario *s, const cs_run *r);

void cs_report_check(FILE *out, cs_format format, const char *path, const cs_check *c);

struct cs_json;
/* The JSON objects memory_breakdown_bytes, time_breakdown_s and
 * compute_breakdown_s of a replay (time_s: CS_TIME_KINDS entries,
 * compute_s: CS_OP_END), as `run` prints them. */
void cs_report_json_breakdowns(struct cs_json *j, const cs_memory_breakdown *m,
                               const double *time_s, const double *compute_s);

#endif
