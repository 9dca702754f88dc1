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
} cs_layout_run;

/* What to keep beyond the summary. */
typedef struct cs_run_options {
    int capture;       /* keep spans, ops and memory of some GPUs */
    const long *gpus;  /* which (NULL: the first GPU of each stage) */
    long gpu_count;
} cs_run_options;

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
