/* tuner: a collective's plan, as NCCL's tuner makes it
 * (src/graph/tuning.cc, ncclTopoTuneModel and ncclTopoGetAlgoTime, NVIDIA/nccl
 * at commit 5067397): every algorithm and protocol the group allows is
 * priced at latency + bytes / bandwidth and the cheapest runs. The latency
 * formulas are NCCL's, on the fabric's per-protocol constants; the
 * bandwidth is what the algorithm's pattern gets from this fabric's links,
 * with NCCL's protocol factors. */
#include "net/pattern.h"

#include <math.h>
#include <string.h>

/* Bytes each protocol moves per byte delivered (NCCL: LL busBw x 0.5,
 * LL128 x 0.92, Simple x 1; a tree all-reduce reaches 0.92 of its links,
 * and LL on a tree a further 1/3.8). */
static const double ring_wire[CS_PROTOS] = {2.0, 1.0 / 0.92, 1.0};
static const double tree_wire[CS_PROTOS] = {3.8 / 0.92, 1.0 / (0.92 * 0.92), 1.0 / 0.92};

/* NCCL's tree step latencies relative to its ring's (hwLatencies, Tree over
 * Ring): NVLink 0.6/0.6, 1.25/1.9, 4.0/3.4; network 5.0/2.7, 8.5/4.0,
 * 14/14; and its tree launch latency over the ring's: 6.8/6.6, 14/14,
 * 8.4/8.4. */
static const double tree_up_ratio[CS_PROTOS] = {1.0, 1.25 / 1.9, 4.0 / 3.4};
static const double tree_out_ratio[CS_PROTOS] = {5.0 / 2.7, 8.5 / 4.0, 1.0};
static const double tree_base_ratio[CS_PROTOS] = {6.8 / 6.6, 1.0, 1.0};

static long log2_floor(long x)
{
    long l = 0;
    while (x > 1) {
        x >>= 1;
        l++;
    }
    return l;
}

/* NVLS's launch: NCCL's tuner says 25 us whatever the group, but measured
 * curves pay more on larger groups: about 40 us on an 8-GPU H100 node, 540
 * us above the bytes at every size from 512 MiB to 8 GiB on a 72-GPU GB200
 * rack (validation/nccl). A cluster may say how it grows with the members
 * (collectives.nvls_member_latency); the form is an assumption, fitted on
 * one group size per preset. */
static double nvls_launch(const cs_coll_consts *k, long members)
{
    return k->nvls_latency + k->nvls_member_latency * (double)members;
}

/* Latency of `algo` with protocol p (NCCL's formulas). */
static double latency(const cs_fabric *f, const cs_coll_spec *s, const cs_span *sp,
                      cs_coll_algo algo, cs_proto p)
{
    const cs_coll_consts *k = &f->coll;
    long n = s->n, N = sp->nodes > 0 ? sp->nodes : 1;
    double up = k->up_step[p], out = k->out_step[p];
    switch (algo) {
    case CS_ALGO_RING: {
        long steps = s->op == CS_COLL_ALL_REDUCE ? 2 * (n - 1) : n - 1;
        long inter = N == 1 ? 0 : s->op == CS_COLL_ALL_REDUCE ? 2 * (N - 1) : N - 1;
        if (s->op == CS_COLL_BROADCAST) /* a chain: n - 1 hops, N - 1 between nodes */
            steps = n - 1;
        return k->base[p] + (double)(steps - inter) * up + (double)inter * out;
    }
    case CS_ALGO_TREE: {
        long ppn = n / N;
        return k->base[p] * tree_base_ratio[p] +
               2 * ((double)(ppn - 1) * up * tree_up_ratio[p] +
                    (double)log2_floor(N) * out * tree_out_ratio[p]);
    }
    case CS_ALGO_NVLS:
        return nvls_launch(k, n);
    case CS_ALGO_NVLS_TREE: /* NCCL: NVLS's, then 2 log2(N) network levels
                               (NVLSTree's 20.9 us against the ring's 14) */
        return nvls_launch(k, sp->per_node) + 2 * (double)log2_floor(N) * out * (20.9 / 14.0);
    case CS_ALGO_HIERARCHICAL: {
        long g = sp->per_node;
        return k->base[p] + 2 * (double)(g - 1) * up + 2 * (double)(N - 1) * out;
    }
    default: /* point-to-point: one step over the slowest class crossed */
        return k->base[p] + (N > 1 ? out : up);
    }
}

/* The protocols an algorithm may use. NVLS, the hierarchical algorithm and
 * send/recv run Simple only, as in NCCL (its send/recv takes LL below 16 KiB
 * in recent releases: not measured here, so Simple's latency throughout);
 * the cluster's protocol list chooses among the others', so a list without
 * Simple does not leave these with none. The spec's own choice (--proto)
 * binds them all. */
static unsigned protocols(const cs_fabric *f, const cs_coll_spec *s, cs_coll_algo algo)
{
    unsigned want = s->protocols ? s->protocols : ~0u;
    if (algo == CS_ALGO_NVLS || algo == CS_ALGO_NVLS_TREE || algo == CS_ALGO_HIERARCHICAL ||
        algo == CS_ALGO_P2P)
        return want & 1u << CS_PROTO_SIMPLE;
    return want & f->coll.protocols;
}

/* Bytes sent per byte of the pattern, for protocol p. */
static double wire(const cs_fabric *f, const cs_coll_spec *s, const cs_span *sp, cs_coll_algo algo,
                   cs_proto p, double load)
{
    double w = algo == CS_ALGO_TREE ? tree_wire[p] : ring_wire[p];
    long nodes = sp->nodes < 1 ? 1 : sp->nodes, k = nodes >= 3 ? 2 : nodes - 1;
    /* LL's own rate limit and the tree's (NCCL caps both: llMaxBws,
     * perChMaxTreeBws): the buffer moves at most `cap` bytes per second. */
    double caps[2] = {
        p == CS_PROTO_LL ? f->coll.ll_max_bandwidth[k] : 0,
        algo == CS_ALGO_TREE || algo == CS_ALGO_NVLS_TREE ? f->coll.tree_max_bandwidth[k] : 0};
    for (int i = 0; i < 2; i++)
        if (caps[i] > 0 && load > 0 && s->bytes / (w * load) > caps[i])
            w *= s->bytes / (w * load) / caps[i];
    int op = s->op == CS_COLL_P2P ? CS_COLL_SENDRECV : s->op;
    return w / f->coll.op_efficiency[op];
}

/* The algorithms the tuner weighs for an operation, in NCCL's order. */
static int candidates(const cs_coll_spec *s, cs_coll_algo *out)
{
    if (s->algo != CS_ALGO_AUTO) {
        out[0] = s->algo;
        return 1;
    }
    switch (s->op) {
    case CS_COLL_ALL_REDUCE:
        out[0] = CS_ALGO_TREE;
        out[1] = CS_ALGO_RING;
        out[2] = CS_ALGO_NVLS;
        out[3] = CS_ALGO_NVLS_TREE;
        return 4;
    case CS_COLL_ALL_GATHER:
    case CS_COLL_REDUCE_SCATTER:
        out[0] = CS_ALGO_RING;
        out[1] = CS_ALGO_NVLS;
        return 2;
    case CS_COLL_BROADCAST:
        out[0] = CS_ALGO_RING;
        return 1;
    default:
        out[0] = CS_ALGO_P2P;
        return 1;
    }
}

int cs_collective_plan(const cs_fabric *f, const cs_coll_spec *s, cs_coll_plan *out)
{
    return cs_collective_plan_in(f, s, NULL, out);
}

int cs_collective_plan_in(const cs_fabric *f, const cs_coll_spec *s, double *sums,
                          cs_coll_plan *out)
{
    cs_span sp;
    cs_coll_span(f, s, &sp);
    cs_coll_algo algos[CS_ALGO_COUNT];
    int count = candidates(s, algos), found = 0, oom = 0;
    memset(out, 0, sizeof *out);
    if (s->n < 2) {
        out->algo = algos[0];
        out->proto = CS_PROTO_SIMPLE;
        out->wire = 1;
        return 0;
    }
    for (int a = 0; a < count; a++) {
        cs_pattern pat;
        int rc = cs_pattern_build(&pat, f, s, &sp, algos[a]);
        double load = rc == 0 ? cs_pattern_load_time(&pat, f, sums) : -1;
        if (rc == 0)
            cs_pattern_free(&pat);
        if (rc == -1 || (rc == 0 && load < 0)) {
            oom = 1;
            continue;
        }
        if (rc != 0)
            continue;
        unsigned allowed = protocols(f, s, algos[a]);
        for (int p = 0; p < CS_PROTOS; p++) {
            if (!(allowed & (1u << p)))
                continue;
            double w = wire(f, s, &sp, algos[a], (cs_proto)p, load);
            double lat = latency(f, s, &sp, algos[a], (cs_proto)p);
            double t = lat + w * load;
            if (!found || t < out->time) {
                *out = (cs_coll_plan){algos[a], (cs_proto)p, lat, w, t};
                found = 1;
            }
        }
    }
    return found ? 0 : oom ? -1 : -2;
}

double cs_collective_analytic_time(const cs_fabric *f, const cs_coll_spec *s)
{
    cs_coll_plan plan;
    return cs_collective_plan(f, s, &plan) == 0 ? plan.time : 0;
}
