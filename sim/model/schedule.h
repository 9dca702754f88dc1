/* schedule: the order of passes each pipeline stage runs, per schedule.
 *
 * A pass is the forward (F), input-gradient (B) or weight-gradient (W) work of
 * one micro-batch on one model chunk of a stage. The orders are real
 * sequences, not formulas; the replay runs them against each other.
 *   gpipe        all forwards, then backwards in reverse micro-batch order
 *   1f1b         p - s - 1 warm-up forwards, then one forward one backward,
 *                then the remaining backwards (Narayanan et al. 2021)
 *   interleaved  Megatron-LM's interleaved 1F1B over v chunks per stage:
 *                warm-up 2(p - s - 1) + (v - 1)p, all forwards when m = p
 *   zb-h1        Qi et al. 2023: 1F1B with W split from B and stage s keeping
 *                s weight-gradient passes back, so every stage has p
 *                micro-batches in flight; the held-back W passes fill the
 *                cool-down bubbles
 * Except in zb-h1, W directly follows its B and the gradient leaves the stage
 * after W (one backward pass, as autograd runs it). */
#ifndef CS_SCHEDULE_H
#define CS_SCHEDULE_H

#include "input/config.h"

typedef enum { CS_PASS_F, CS_PASS_B, CS_PASS_W } cs_pass_kind;

typedef struct cs_pass {
    cs_pass_kind kind;
    long mb;    /* micro-batch */
    long chunk; /* model chunk of the stage (0 unless interleaved) */
} cs_pass;

/* Writes stage s's passes, in order, to out (room for 3 m v) and returns their
 * count. p stages, v chunks per stage, m micro-batches (interleaved needs m a
 * multiple of p, which cs_layout_check enforces). */
long cs_schedule_passes(cs_schedule kind, long p, long v, long m, long s, cs_pass *out);

/* True when B and W are separate steps on the critical path's terms: the
 * input gradient leaves the stage after B (zb-h1), not after W. */
int cs_schedule_splits_w(cs_schedule kind);

#endif
