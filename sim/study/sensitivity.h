/* sensitivity: how far the winner's margin moves when one hardware figure
 * is off, and whether the ranking can flip.
 *
 * Two layouts are compared (the two fastest valid ones at the scenario's
 * figures, or the two asked for): the margin is the slower's iteration
 * time minus the faster's. Then each hardware figure of the cluster in
 * turn is set `by` lower and `by` higher (a share: 0.1 for 10%), everything
 * else as given, and both layouts are replayed with the same seed; a row
 * per figure keeps both layouts' times and the margin at each end. Rows
 * come sorted by their swing (the larger of the two margins' distances
 * from the baseline's), largest first, the tornado chart's order. The
 * ranking flips where a margin reaches 0 or below.
 *
 * Figures (cs_sensitivity_figure_name): peak compute, GEMM efficiency (every matmul
 * table, BF16 and FP8, plain, by shape and grouped), attention-kernel
 * efficiency, HBM bandwidth, the GPU's gap between kernels, the host's
 * overheads, the scale-up bandwidth and step latency, the NIC bandwidth,
 * the scale-out step latency, the collectives' base latency (the HBM and
 * link efficiencies multiply the bandwidths: their rows would repeat the
 * bandwidths'). Efficiencies stay at most 1 (a figure already at 1 has no
 * higher end); latencies left to NCCL's defaults are scaled from them. A
 * figure the cluster does not use (no attention table, no host model, one
 * node's NIC) is a row marked as not applying. A row is marked as an
 * estimate where a file the scenario read sets one of the figure's keys with
 * "ESTIMATE" in the line's comment or in the comment lines right above it
 * (a value the scenario sets over the preset's keeps the preset's mark),
 * the presets' convention for figures no
 * measurement backs (estimates that do not enter the time, as
 * reserved_memory, or are counts, as leaf_radix, are not figures here).
 *
 * Memory does not move the margin but can turn the ranking: each layout's
 * peak (the replay's memory ledger, itself an estimate, and the presets'
 * reserved_memory marked one) is also taken `by` higher, and a layout that
 * then no longer fits its GPU is flagged; the ranking flips where only the
 * faster stops fitting. Prices (gpu_hour) do not enter the time, and the topology's
 * counts (NICs per node, switch radix) take whole values: sweep them. */
#ifndef CS_SENSITIVITY_H
#define CS_SENSITIVITY_H

#include "input/config.h"

#define CS_SENS_FIGURES 11

/* The figure's key (as in docs/input.md's cluster block, or a group of
 * keys: "cluster.gpu.*matmul*efficiency") and its label for people. */
const char *cs_sensitivity_figure_key(int figure);
const char *cs_sensitivity_figure_name(int figure);

typedef struct cs_sens_row {
    int figure;
    int applies;           /* the figure changes anything in this cluster */
    int estimate;          /* a file the scenario read marks one of its keys ESTIMATE */
    double low_s[2];       /* the two layouts' times with the figure (1 - by) */
    double high_s[2];      /* ... and (1 + by) */
    double margin_low_s;   /* second's time minus first's, low end */
    double margin_high_s;  /* high end */
} cs_sens_row;

typedef struct cs_sensitivity {
    double by;
    long layout[2];    /* scenario indices: the faster at the given figures, then the other */
    double base_s[2];  /* their times at the given figures */
    double margin_s;   /* base_s[1] - base_s[0] */
    cs_sens_row rows[CS_SENS_FIGURES]; /* sorted by swing, largest first */
    int flips;         /* some margin <= 0, or the faster stops fitting at memory_high */
    double capacity_bytes;      /* one GPU's memory */
    double peak_bytes[2];       /* the two layouts' memory peaks */
    int fits[2];                /* each fits at its peak */
    int fits_high[2];           /* each still fits with its peak (1 + by) */
    cs_network_model model;
    unsigned long seed;
} cs_sensitivity;

/* Runs the study on scenario s (its cluster is changed and restored). `a`
 * and `b` name the layouts (scenario indices), or are -1 for the two
 * fastest valid ones. Returns 0; -1 when out of memory or a replay failed;
 * -2 when there are not two valid layouts (or a or b is not valid). */
int cs_sensitivity_run(cs_scenario *s, cs_network_model model, unsigned long seed, double by,
                       long a, long b, cs_sensitivity *out);

/* Two or three sentences: the margin, the figures that move it most, and
 * whether one of them flips the ranking. */
void cs_sensitivity_summary(const cs_scenario *s, const cs_sensitivity *r, char *buf, size_t len);

#endif
