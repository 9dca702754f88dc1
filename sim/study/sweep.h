/* sweep: many replays of one scenario, varying key paths, and their table.
 *
 * Points come from the scenario's sweep: block (cluster.base and model.base
 * among its key paths: presets in place of the scenario's): a grid (the product of the
 * lists, the last parameter varying fastest) or a zip (the i-th value of
 * every list). Each point is loaded like a scenario with its values put at
 * their key paths (so units and errors are as in the file) and every chosen
 * layout is replayed `repeats` times, repeat r with a seed derived from the
 * scenario seed, the point and r alone, so any point can be rerun by itself.
 * A point that does not load or a layout that is invalid is a row with its
 * reason, not an abort.
 *
 * Rows go to DIR/sweep.csv (columns as docs/output.md says) in
 * point order whatever the number of worker threads, each point's rows
 * written and flushed at once, so a killed sweep leaves whole points and
 * --resume continues after them. --shard K/N takes every N-th point, for job
 * arrays; `clustersim merge` joins the shards' CSVs in point order. */
#ifndef CS_SWEEP_H
#define CS_SWEEP_H

#include <stdio.h>

#include "input/config.h"

typedef struct cs_sweep_options {
    int jobs;           /* worker threads, at least 1 */
    long shard, shards; /* run the points p with p % shards == shard */
    int resume;         /* keep whole points already in sweep.csv */
    int progress;       /* draw a progress bar on stderr */
} cs_sweep_options;

/* A fingerprint of the sweep as loaded (16 hex digits): the text of every
 * file the scenario read. sweep.csv rows carry it with their shard. */
void cs_sweep_fingerprint(const cs_scenario *s, char out[17]);

/* Number of points (1 when the sweep only repeats). */
long cs_sweep_point_count(const cs_sweep *sw);

/* The value index of every parameter at `point`. */
void cs_sweep_point_indices(const cs_sweep *sw, long point, long *index);

/* The seed of repeat r of a point (splitmix64 of the three). */
unsigned long cs_sweep_seed(unsigned long seed, long point, long repeat);

/* Runs the sweep of the scenario file `path` (loaded as `base`) into
 * dir/sweep.csv. Returns the number of points run, or -1 after a message on
 * stderr (bad sweep layouts, an unreadable or foreign sweep.csv, I/O). */
long cs_sweep_run(const char *path, const cs_paths *paths, const cs_scenario *base,
                  const char *dir, const cs_sweep_options *o);

/* The scenario indices of the layouts the sweep replays (its layouts: list,
 * or all), at most 1024. Returns 0, or -1 after a positioned message on
 * stderr when the list names a layout the scenario does not have. */
int cs_sweep_layouts(const cs_scenario *base, long *out, long *count);

/* The most shards a sweep is split into (merge keeps a flag per shard). */
#define CS_SWEEP_MAX_SHARDS (1L << 20)

/* The largest sweep.csv read back (resume, merge, print, plot). */
#define CS_SWEEP_CSV_MAX ((size_t)1 << 30)

/* Writes dir/sweep.dat (the metric against the swept values, per layout) and
 * lists its pictures in dir/plots.txt: lines with p5-p95 error bars for one
 * parameter, a heat map per layout over the first two. Returns 0 or -1. */
int cs_sweep_plot_data(const char *dir, const cs_scenario *base, const char *metric);

/* Prints the main columns of a sweep CSV as an aligned table. */
int cs_sweep_print(const char *csv_path, FILE *out);

/* Writes the rows of every CSV (one sweep's shards) in point order, keeping
 * each point's rows in their order. Returns 0, or -1 with a message when the
 * CSVs do not belong to one sweep or cannot be read. */
int cs_sweep_merge(const char *const *paths, int count, FILE *out);

#endif
