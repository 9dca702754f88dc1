/* symmetry: when the first GPU of each pipeline stage can stand for every
 * GPU of its stage, so that a replay simulates pp GPUs instead of all.
 *
 * The GPUs of a stage run the same program when nothing tells them apart:
 * no compute jitter or stragglers, MoE routing balanced (every rank sends
 * every expert the same share), and each of their groups (TP, EP, DP, the
 * pipeline pairs, ...) taking exactly as long as the first GPU's on the
 * fabric. The first three are read from the inputs here; the last is
 * checked while building (cs_build_copies), the whole group of every kind
 * of call against its copies, with the collective time the replay uses.
 *
 * A reduced replay then builds the programs of the first GPU of each stage
 * only; their collectives keep every member (the time is the group's) and
 * start when the live members arrive (exec.h). The per-GPU results of the
 * others are copies of their stage's first GPU. Reduced and full replays
 * give the same numbers to the last bit (tests/test_symmetry.c checks it).
 *
 * Under the flow network model the GPUs' traffic may share links with the
 * groups not simulated, which one GPU per stage cannot stand for: the net
 * is made exclusive (net.h), every collective holding its own links and its
 * copies' while it runs, and a link held twice stops the reduced replay,
 * which then runs whole. */
#ifndef CS_SYMMETRY_H
#define CS_SYMMETRY_H

#include "input/config.h"
#include "model/layout.h"

/* Whether a replay of layout z under `model` may be reduced, by the inputs
 * (the fabric is checked while building): 1 or 0. `captured` lists the GPUs
 * whose spans and ops are kept (count n; NULL for none): each must be the
 * first GPU of its stage. */
int cs_symmetry_reducible(const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
                          cs_network_model model, const long *captured, long n);

#endif
