/* compare: a scenario's layouts against each other, replay against replay.
 *
 * Every valid layout is replayed `repeats` times, repeat r of every layout
 * with the same seed (common random numbers: the same routing draws, kernel
 * jitter and stragglers where the layouts share them), so that a pair's
 * difference is measured replay by replay. For each pair of layouts (a, b)
 * in scenario order:
 *   - the mean of the paired differences b - a of the iteration time and of
 *     the throughput, with their 95% Student-t intervals (mean +- t(0.975,
 *     n - 1) sd / sqrt(n)); with one replay, or when nothing is drawn at
 *     random, the difference is exact and the interval a point;
 *   - the speedup of the faster (slower's time over faster's, less 1) with
 *     its interval from the per-replay ratios;
 *   - the attribution of the time difference to where the GPUs' time goes
 *     (replay.h: compute + exposed TP, EP, PP, DP + bubble = iteration time,
 *     averaged over GPUs), compute split into recompute and the rest: the
 *     terms add up to the difference;
 *   - a summary of two or three sentences.
 * A pair whose time interval holds 0 has no faster layout. */
#ifndef CS_COMPARE_H
#define CS_COMPARE_H

#include "input/config.h"

typedef enum {
    CS_ATTR_COMPUTE,
    CS_ATTR_RECOMPUTE,
    CS_ATTR_TP,
    CS_ATTR_EP,
    CS_ATTR_PP,
    CS_ATTR_DP,
    CS_ATTR_CP,
    CS_ATTR_BUBBLE,
    CS_ATTR_KINDS
} cs_attr_kind;

/* "compute", "recompute", "tp", "ep", "pp", "dp", "bubble". */
const char *cs_attr_name(cs_attr_kind k);

/* A mean of paired differences and its 95% interval. */
typedef struct cs_paired {
    double mean, lo, hi;
} cs_paired;

/* The mean of d[0..n-1] with its 95% Student-t interval (a point when n is
 * 1 or the d are equal). */
void cs_paired_interval(const double *d, long n, cs_paired *out);

typedef struct cs_compare_layout {
    long index;        /* in the scenario's layouts */
    int valid;         /* 0: not replayed; reason says why */
    char reason[256];  /* the first error of an invalid layout */
    double time_s;     /* means over the replays */
    double seq_per_s;
    double attr_s[CS_ATTR_KINDS];
    double memory_peak_bytes; /* the highest over the replays */
    int memory_fits;          /* every replay's peak fits */
    double *times, *seqs;     /* per replay (owned) */
} cs_compare_layout;

typedef struct cs_compare_pair {
    long a, b;         /* indices into cs_compare.layouts */
    long faster;       /* a or b, or -1 when the interval of b - a holds 0 */
    cs_paired time_s;  /* b - a */
    cs_paired seq_per_s;
    cs_paired speedup; /* the faster's throughput over the slower's, less 1; with none
                          faster, of the one with the lower mean time */
    double attr_s[CS_ATTR_KINDS]; /* b - a, adding up to time_s.mean */
} cs_compare_pair;

typedef struct cs_compare {
    long repeats;
    int draws; /* the scenario draws at random (cs_scenario_draws) */
    cs_network_model model;
    unsigned long seed;
    cs_compare_layout *layouts; /* one per scenario layout (owned) */
    long count;
    cs_compare_pair *pairs; /* every pair of valid layouts (owned) */
    long npairs;
} cs_compare;

/* Replays the scenario's layouts and compares every pair of the valid ones,
 * the repeats spread over `jobs` threads (the same result whatever their
 * number). Repeat 0 uses `seed`, repeat r > 0 cs_sweep_seed(seed, 0, r).
 * Returns 0, or -1 when out of memory or a replay could not finish. */
int cs_compare_run(const cs_scenario *s, cs_network_model model, unsigned long seed,
                   long repeats, int jobs, cs_compare *out);
void cs_compare_free(cs_compare *c);

/* The pair's summary, two or three sentences, into buf. */
void cs_compare_summary(const cs_scenario *s, const cs_compare *c, const cs_compare_pair *p,
                        char *buf, size_t len);

#endif
