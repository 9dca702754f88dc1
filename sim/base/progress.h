/* progress: a one-line progress bar with an estimate of the time left, for
 * long studies on a terminal (sweep, search). */
#ifndef CS_PROGRESS_H
#define CS_PROGRESS_H

#include <stdio.h>

/* Seconds on a monotonic clock, to pass back as `started`. */
double cs_progress_clock(void);

/* Redraws the bar on out: done of total `unit`s since `started`; ends the
 * line once done reaches total. */
void cs_progress_show(FILE *out, const char *unit, long done, long total, double started);

#endif
