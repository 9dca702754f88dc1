/* plot: the gnuplot scripts of plots/ and the pictures drawn with them.
 *
 * Writers of plot data (timeline.c, the sweep) list each picture in
 * DIR/plots.txt, one tab-separated line: script, data file, picture, title
 * and the script's further arguments. The scripts are copied into DIR/plots/
 * so that `clustersim plot DIR`, or gnuplot by hand, renders them again
 * without the source tree. */
#ifndef CS_REPORT_PLOT_H
#define CS_REPORT_PLOT_H

#include <stdio.h>

/* Copies the gnuplot scripts into root/plots/ and starts a fresh
 * root/plots.txt. Returns 0 or -1 with a message on stderr. */
int cs_plot_copy_scripts(const char *root, const char *scripts);

/* Renders every plot listed in root/plots.txt with gnuplot. Returns the
 * number rendered, 0 with a note on `note` when gnuplot is not installed,
 * -1 when root holds no plot list, -2 when gnuplot failed on some plot,
 * -3 (with a message on `note`) when the list is not a regular file of at
 * most 1 MiB. */
int cs_plot_render(const char *root, FILE *note);

/* The same in two steps, so that a caller can go on writing (a run writes
 * its traces) while gnuplot draws: cs_plot_start begins drawing root's list,
 * one gnuplot per core, and returns 0 with *d set, or -1 / -3 as
 * cs_plot_render (then *d is NULL); cs_plot_wait draws the rest, waits for
 * all, frees d and returns as cs_plot_render. Nothing may be added to the
 * list between the two. */
typedef struct cs_plot_drawing cs_plot_drawing;
typedef struct cs_plot_pool cs_plot_pool;
int cs_plot_start(const char *root, FILE *note, cs_plot_pool *pool, cs_plot_drawing **d);
int cs_plot_wait(cs_plot_drawing *d);

/* Gnuplots started ahead, while a run replays: each loads its libraries and
 * fonts (a quarter to a half of a small picture's time) and then waits for
 * the one PNG picture it will draw, which it draws as `gnuplot -c` would.
 * cs_plot_warm starts up to `count` of them (fewer past the cores' share)
 * and returns NULL when it starts none; cs_plot_start hands its pictures to
 * them first and takes the pool (NULL: every gnuplot starts cold); a pool
 * not given to cs_plot_start is ended with cs_plot_pool_free. */
cs_plot_pool *cs_plot_warm(int count);
void cs_plot_pool_free(cs_plot_pool *pool);

#endif
