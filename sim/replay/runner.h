/* runner: what `clustersim run` computes: every layout of a scenario checked
 * and, when valid, replayed. Pure computation; report.c prints it. */
#ifndef CS_RUNNER_H
#define CS_RUNNER_H

#include "replay/replay.h"
#include "model/check.h"

typedef struct cs_layout_run {
    const cs_layout_verdict *verdict; /* borrowed from the check */
    int replayed;
    cs_replay_result result;
    int captured;
    cs_capture capture; /* when asked for */
    /* The flow check of an analytic run (cs_run_options.flow_check): the
     * layout replayed on a shortened iteration of `check_microbatches`
     * micro-batches under both network models. */
    int flow_checked, flow_skipped; /* skipped: too large, or no shorter iteration fits */
    long check_microbatches;
    double check_analytic_s, check_flow_s;
} cs_layout_run;

/* What to keep beyond the summary. */
typedef struct cs_run_options {
    int capture;       /* keep spans, ops and memory of some GPUs */
    const long *gpus;  /* which (NULL: the first GPU of each stage) */
    long gpu_count;
    int gpus_added;    /* gpus are captured besides the first GPU of each stage */
    /* Under the analytic network model, also replay each layout on an
     * iteration of at most CS_FLOW_CHECK_MICROBATCHES micro-batches (pp
     * with the interleaved schedule) with both models: where their times part by more than CS_FLOW_CHECK_GAP,
     * links the analytic model prices alone are shared, and its time is
     * optimistic. */
    int flow_check;
} cs_run_options;

#define CS_FLOW_CHECK_MICROBATCHES 2
#define CS_FLOW_CHECK_GAP 0.10
/* Above this many GPUs the check's flow replay costs tens of times the
 * analytic run (7 s against 0.2 s on 16,384 GPUs): it is skipped, and said. */
#define CS_FLOW_CHECK_MAX_GPUS 4096

/* The flow check's relative gap of a checked layout run (flow over
 * analytic, less 1). */
double cs_flow_check_gap(const cs_layout_run *r);

/* The flow check of one layout (l, checked into z) by itself, for sweep and
 * search: the shortened iteration under both models into *analytic_s and
 * *flow_s, its micro-batches into *microbatches. Returns 1 checked, 0 not
 * (above CS_FLOW_CHECK_MAX_GPUS, or no shorter iteration fits the layout),
 * -1 when a replay failed. */
int cs_flow_check(const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
                  unsigned long seed, long *microbatches, double *analytic_s, double *flow_s);

typedef struct cs_run {
    cs_check check;
    cs_layout_run *layouts; /* one per scenario layout (owned) */
    size_t count;
    size_t valid;
    cs_network_model network_model;
    unsigned long seed;
} cs_run;

/* Checks and replays every layout (o may be NULL). Returns 0, -1 when out of
 * memory or a replay could not finish, -3 when a captured GPU is outside a
 * layout's world. */
int cs_run_scenario(const cs_scenario *s, cs_network_model model, unsigned long seed,
                    const cs_run_options *o, cs_run *out);
void cs_run_free(cs_run *r);

#endif
