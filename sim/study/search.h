/* search: the layouts a scenario's model could run with on its cluster,
 * found rather than typed in.
 *
 * Staged so that it stays fast:
 *   1. enumerate the space (the scenario's search: block, else search's
 *      defaults; cs_search_space below): tp, cp, pp, ep, etp, vpp, micro-batch
 *      size, schedule and recompute, and as variants of the scenario the
 *      GPU count, sequence parallelism and the distributed optimizer; the
 *      data-parallel size fills the GPUs, everything else as the scenario
 *      trains;
 *   2. prune by the layout rules (cs_layout_check: its first error names
 *      the rule), by search's own constraints (TP inside a node) and by
 *      the analytic memory estimate against the memory a candidate may use;
 *   3. evaluate every survivor with the analytic network model (one GPU
 *      per stage where the stage's GPUs are alike: replay/symmetry.h), or
 *      with the asked model when every stage is to use it;
 *   4. replay the best `top` again with the network model asked for, each
 *      search.repeats times with seeds derived from the scenario's seed and
 *      the candidate's place in the space (the first with the seed itself).
 * Every candidate keeps its fate and, once evaluated, the numbers of the
 * last stage that replayed it. Candidates are ranked by the objective
 * (lower is better), those whose replay fits first, those replayed in the
 * last stage before the others, ties by their order in the space; the
 * result does not depend on the number of workers (unless a budget cuts
 * the evaluation short). The fitting evaluated candidates that no other
 * beats in iteration time, memory peak and GPU count at once form the
 * Pareto front.
 *
 * A search goes on from earlier runs of it: candidates search.csv holds as
 * evaluated by the analytic model (cs_search_prior, read back from one or
 * more files of the same search) take those numbers instead of a replay,
 * printed to 9 digits (a tie beyond them ranks by the space's order); the
 * best `top` are replayed anyway in the last stage. A shard (K of N) of a
 * search evaluates every N-th candidate of the space only, the others
 * left skipped, and has no last stage: its search.csv is merged with the
 * other shards' by a search that reads them all. */
#ifndef CS_SEARCH_H
#define CS_SEARCH_H

#include <stdio.h>

#include "input/config.h"
#include "model/layout.h"
#include "replay/replay.h"

typedef enum {
    CS_FATE_SKIPPED, /* not evaluated: the budget ran out first, or another shard's (why) */
    CS_FATE_INVALID, /* a layout rule refuses it (why: the rule's message) */
    CS_FATE_NO_FIT,  /* the analytic memory estimate exceeds the GPU's memory */
    CS_FATE_EVALUATED,
    CS_FATE_REPLAYED /* evaluated, then replayed with the asked network model */
} cs_search_fate;

typedef struct cs_search_candidate {
    cs_layout layout; /* named tpT-ppP-epE-etpX[-cpC][-vppV]-mbM-SCHEDULE-RECOMPUTE */
    cs_layout_sizes sizes; /* once valid */
    int variant;           /* the scenario it runs in: cs_search.variants */
    long gpus;
    cs_search_fate fate;
    char why[256];
    double memory_estimate_bytes; /* analytic peak, once valid */
    /* Once evaluated: the numbers of the last replay, and its model. */
    cs_network_model stage;
    double iteration_time_s, throughput_seq_per_s, mfu, bubble_fraction;
    /* With repeats (search.repeats, in the last stage): the numbers above
     * are their means (the memory peak their highest), and these the 5th
     * and 95th percentiles of the iteration time; NaN otherwise. */
    double iteration_time_p5_s, iteration_time_p95_s;
    long repeats; /* replays behind the numbers (1) */
    /* The rest of what `run` reports, from a replay of this run (not read
     * back from search.csv: see cs_search.top); with repeats the means, the
     * memory breakdown the highest peak's. */
    double throughput_tokens_per_s, model_tflops_per_gpu;
    double time_s[CS_TIME_KINDS], compute_s[CS_OP_END];
    cs_memory_breakdown memory;
    double memory_peak_bytes;
    int memory_fits;   /* the replay fits, within search's max_memory */
    double objective;  /* what ranks it (lower is better): time, or GPU-seconds */
    double cost_per_mtoken_usd, time_to_train_s; /* NaN without cost: or tokens */
    int pareto;        /* on the Pareto front of time, memory and GPUs */
    int resumed;       /* the evaluation's numbers were read back (cs_search_prior) */
    long rank; /* 1 = best of the evaluated, 0 when not evaluated */
} cs_search_candidate;

/* An evaluated candidate of an earlier run, as search.csv holds it. */
typedef struct cs_search_prior_row {
    char name[CS_NAME_MAX];
    double iteration_time_s, throughput, mfu, memory_peak_bytes, objective;
    double cost_per_mtoken_usd, time_to_train_s; /* NaN when empty */
    int memory_fits;
} cs_search_prior_row;

typedef struct cs_search_prior {
    cs_search_prior_row *rows; /* sorted by name (owned) */
    long count, cap;
} cs_search_prior;

/* search.csv's header line (with its newline). */
extern const char cs_search_csv_header[];

/* Adds the rows of search.csv at path evaluated by network model `model`
 * to p; every row must be of the search whose fingerprint is id
 * (cs_sweep_fingerprint of its scenario). Returns 0, or -1 with the reason
 * on err: the file does not read, has another header, a row of another
 * search or a bad number. */
int cs_search_prior_read(const char *path, const char *id, cs_network_model model,
                         cs_search_prior *p, FILE *err);
/* The row of candidate `name`, or NULL (p may be NULL). */
const cs_search_prior_row *cs_search_prior_find(const cs_search_prior *p, const char *name);
void cs_search_prior_free(cs_search_prior *p);

typedef struct cs_search_options {
    int jobs;               /* worker threads, at least 1 */
    long top;               /* candidates replayed again with `model` */
    cs_network_model model; /* of the last stage (analytic: one stage only) */
    int every_stage;        /* 1: the evaluation too replays with `model` */
    double budget_s;        /* > 0: evaluate no new candidate after this long */
    long shard, shards;     /* evaluate the candidates i with i % shards == shard */
    const cs_search_prior *prior; /* numbers of earlier runs, or NULL */
    /* Called after each candidate with how many are done (under a lock). */
    void (*progress)(long done, long total, void *arg);
    void *progress_arg;
} cs_search_options;

typedef struct cs_search {
    cs_search_candidate *c; /* in space order (owned) */
    long count;
    long invalid, no_fit, skipped, evaluated, replayed, pareto, resumed;
    char id[17];          /* the fingerprint of its scenario (cs_sweep_fingerprint) */
    long top;             /* the best this many have every metric from a replay of this run */
    long shard, shards;   /* as in its options */
    cs_scenario *variants; /* shallow copies of the scenario (owned array) */
    int variant_count;
    int cp_home; /* the exchange whose variants hold the cp 1 candidates */
    long *ranked; /* evaluated candidates' indices, best first (owned) */
} cs_search;

/* Enumerates the space of scenario s into out (fate CS_FATE_SKIPPED, not
 * yet checked). Returns 0, or -1 when out of memory. */
int cs_search_space(const cs_scenario *s, cs_search *out);

/* The whole search (above). Returns 0, or -1 when out of memory or a replay
 * could not finish. */
int cs_search_run(const cs_scenario *s, const cs_search_options *o, cs_search *out);

void cs_search_free(cs_search *r);

#endif
