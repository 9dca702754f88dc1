#include "model/schedule.h"

static long add(cs_pass *out, long n, cs_pass_kind kind, long mb, long chunk)
{
    out[n] = (cs_pass){kind, mb, chunk};
    return n + 1;
}

/* B then its W, as one backward pass. */
static long backward(cs_pass *out, long n, long mb, long chunk)
{
    n = add(out, n, CS_PASS_B, mb, chunk);
    return add(out, n, CS_PASS_W, mb, chunk);
}

static long gpipe(long m, cs_pass *out)
{
    long n = 0;
    for (long j = 0; j < m; j++)
        n = add(out, n, CS_PASS_F, j, 0);
    for (long j = m - 1; j >= 0; j--)
        n = backward(out, n, j, 0);
    return n;
}

static long one_f_one_b(long p, long m, long s, cs_pass *out)
{
    long warmup = p - s - 1 < m ? p - s - 1 : m, n = 0, next_b = 0;
    for (long j = 0; j < warmup; j++)
        n = add(out, n, CS_PASS_F, j, 0);
    for (long j = warmup; j < m; j++) {
        n = add(out, n, CS_PASS_F, j, 0);
        n = backward(out, n, next_b++, 0);
    }
    while (next_b < m)
        n = backward(out, n, next_b++, 0);
    return n;
}

/* Megatron's mapping of the k-th forward (or backward) of a stage to its
 * micro-batch and chunk: groups of p micro-batches visit every chunk in turn. */
static void interleaved_unit(long k, long p, long v, int backward_pass, long *mb, long *chunk)
{
    long in_group = k % (p * v);
    *chunk = in_group / p;
    if (backward_pass)
        *chunk = v - 1 - *chunk;
    *mb = k / (p * v) * p + k % p;
}

static long interleaved(long p, long v, long m, long s, cs_pass *out)
{
    long total = m * v, n = 0, mb, chunk;
    long warmup = m == p ? total : 2 * (p - s - 1) + (v - 1) * p;
    if (warmup > total)
        warmup = total;
    for (long k = 0; k < warmup; k++) {
        interleaved_unit(k, p, v, 0, &mb, &chunk);
        n = add(out, n, CS_PASS_F, mb, chunk);
    }
    long b = 0;
    for (long k = warmup; k < total; k++, b++) {
        interleaved_unit(k, p, v, 0, &mb, &chunk);
        n = add(out, n, CS_PASS_F, mb, chunk);
        interleaved_unit(b, p, v, 1, &mb, &chunk);
        n = backward(out, n, mb, chunk);
    }
    for (; b < total; b++) {
        interleaved_unit(b, p, v, 1, &mb, &chunk);
        n = backward(out, n, mb, chunk);
    }
    return n;
}

static long zb_h1(long p, long m, long s, cs_pass *out)
{
    long warmup = p - s - 1 < m ? p - s - 1 : m, n = 0, next_b = 0, next_w = 0;
    for (long j = 0; j < warmup; j++)
        n = add(out, n, CS_PASS_F, j, 0);
    for (long j = warmup; j < m; j++) {
        n = add(out, n, CS_PASS_F, j, 0);
        n = add(out, n, CS_PASS_B, next_b++, 0);
        /* Hold back s weight-gradient passes. */
        if (next_b - next_w > s)
            n = add(out, n, CS_PASS_W, next_w++, 0);
    }
    /* Cool-down: each W fills the wait for the next B to come back. */
    while (next_b < m) {
        n = add(out, n, CS_PASS_B, next_b++, 0);
        n = add(out, n, CS_PASS_W, next_w++, 0);
    }
    while (next_w < m)
        n = add(out, n, CS_PASS_W, next_w++, 0);
    return n;
}

long cs_schedule_passes(cs_schedule kind, long p, long v, long m, long s, cs_pass *out)
{
    switch (kind) {
    case CS_GPIPE:
        return gpipe(m, out);
    case CS_INTERLEAVED:
        return interleaved(p, v, m, s, out);
    case CS_ZB_H1:
        return zb_h1(p, m, s, out);
    default:
        return one_f_one_b(p, m, s, out);
    }
}

int cs_schedule_splits_w(cs_schedule kind) { return kind == CS_ZB_H1; }
