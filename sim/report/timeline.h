/* timeline: the files behind the pictures, and the pictures.
 *
 * Under a run's output folder, for each replayed layout (in a folder named
 * after it): timeline.dat (one row per span of the captured GPUs' compute
 * streams: ops and charged gaps), memory.dat (each captured GPU's memory
 * after every change), trace.json (Chrome trace event format: a process per
 * GPU, a thread per stream, an event per op, flow arrows for pipeline sends);
 * for the scenario, compare.dat (time breakdown per layout). The gnuplot
 * scripts of plots/ are copied next to them and listed with their arguments
 * in plots.txt, so `clustersim plot DIR` (or gnuplot by hand) renders them
 * again. Rendering runs gnuplot when it is on PATH; without it the data stay
 * and a note says how to render them. Files are written whole or not at all
 * (a temporary file renamed into place). */
#ifndef CS_TIMELINE_H
#define CS_TIMELINE_H

#include <stdio.h>

#include "replay/replay.h"
#include "replay/runner.h"
#include "report/plot.h"

/* trace.json's default size in events: about 14 MB, what Perfetto opens in
 * a few seconds and what takes about a tenth of a large replay's time to
 * write (a dense 1T model on 64 stages has 32,000 events per GPU). */
#define CS_TRACE_EVENTS_DEFAULT 100000

typedef struct cs_plot_options {
    int svg;              /* also write .svg */
    const char *scripts;  /* folder holding timeline.gp, memory.gp, compare.gp */
    /* GPUs in trace.json, or NULL: the captured ones, spread out (the
     * first, the last, then each the farthest from those taken) as long as
     * their events fit in trace_events (0: all of them). */
    const long *trace_gpus;
    long trace_count;
    long trace_events;
    /* The part of the iteration timeline.png shows, in seconds (a zoom;
     * window_end <= window_start: all of it). Bars are joined at this
     * window's resolution. */
    double window_start, window_end;
} cs_plot_options;

/* Writes the data files of one layout into dir (created) and adds its plots
 * to dir/../plots.txt. Returns 0, or -1 with a message on stderr. */
int cs_timeline_write_layout(const char *root, const char *layout, const cs_scenario *s,
                             const cs_replay_result *r, const cs_capture *c,
                             const cs_plot_options *o);

/* Writes dir/trace.json, the Chrome trace of one layout's captured ops
 * (apart from cs_timeline_write_layout, so that it can be written while
 * gnuplot draws). Returns 0, or -1 with a message on stderr. */
int cs_timeline_write_trace(const char *root, const char *layout, const cs_capture *c,
                            const cs_plot_options *o);

/* Writes compare.dat and the scenario's plot list entry. */
int cs_timeline_write_compare(const char *root, const cs_scenario *s, const cs_run *run,
                              const cs_plot_options *o);

/* Writes a Chrome trace of captured ops to out. */
void cs_timeline_trace(FILE *out, const cs_capture *c, const cs_plot_options *o);

#endif
