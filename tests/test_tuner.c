/* The tuner: NCCL's latency formulas on its own constants, the protocol and
 * algorithm NCCL would pick, rings over every link of a mesh, NVLS, the
 * per-operation efficiencies and LL's cap; and the network models agreeing
 * with each other wherever nothing else shares the links. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/collective.h"
#include "net/engine.h"
#include "net/fabric.h"
#include "testutil.h"

#define US 1e-6
#define GIB 1073741824.0
#define MIB 1048576.0
#define UP_BW (100e9 * 0.8)
#define NIC_BW (25e9 * 0.9)

/* A cluster with NCCL's collective constants (no latency given), `up` more
 * keys of scale_up and `extra` more keys of the cluster (YAML mapping
 * entries, or ""). */
static void make_fabric_with(cs_fabric *f, long nodes, long gpn, const char *kind, const char *up,
                             const char *extra)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "{ name: t, gpu: {peak_compute: 100 TFLOP/s, memory: 80 GB, "
             "memory_bandwidth: 2 TB/s}, nodes: %ld, gpus_per_node: %ld, "
             "scale_up: {kind: %s, bandwidth: 100 GB/s, efficiency: 0.8%s%s}, "
             "scale_out: {nic_bandwidth: 200 Gb/s, efficiency: 0.9}%s%s }\n",
             nodes, gpn, kind, *up ? ", " : "", up, *extra ? ", " : "", extra);
    const char *path = tu_write("cluster.yaml", yaml);
    cs_cluster c;
    cs_sources src = {0};
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_cluster_load(path, &tu_paths, &src, &c, &d);
    if (rc != 0)
        cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    cs_sources_free(&src);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(cs_fabric_init(f, &c), 0);
}

static void make_fabric(cs_fabric *f, long nodes, long gpn, const char *kind, const char *extra)
{
    make_fabric_with(f, nodes, gpn, kind, "", extra);
}

static long members[64];

static cs_coll_spec spec(cs_coll_op op, long n, double bytes)
{
    for (long i = 0; i < n; i++)
        members[i] = i;
    return (cs_coll_spec){op, CS_ALGO_AUTO, n, members, bytes, NULL, 0, 0};
}

static cs_coll_plan plan_of(const cs_fabric *f, const cs_coll_spec *s)
{
    cs_coll_plan p;
    ck_assert_int_eq(cs_collective_plan(f, s, &p), 0);
    return p;
}

static double flow_time(const cs_fabric *f, const cs_coll_spec *s)
{
    double t = -1;
    ck_assert_int_eq(cs_collective_time(f, CS_NET_FLOW, s, &t, NULL), 0);
    return t;
}

/* ---- latency and protocols ------------------------------------------------ */

/* NCCL's ring latency inside a node: launch + 2(n-1) steps, per protocol
 * (6.6 + 14 x 0.6 us with LL, 8.4 + 14 x 3.4 us with Simple for 8 GPUs);
 * the bytes move 2(n-1)/n S over each GPU's link, twice with LL's flags. */
START_TEST(ring_latency_and_protocol_factors)
{
    cs_fabric f;
    make_fabric(&f, 1, 8, "switch", "");
    double S = 8, load = 2.0 * 7 / 8 * S / UP_BW;
    cs_coll_spec s = spec(CS_COLL_ALL_REDUCE, 8, S);
    cs_coll_plan p = plan_of(&f, &s);
    ck_assert_int_eq(p.algo, CS_ALGO_RING);
    ck_assert_int_eq(p.proto, CS_PROTO_LL);
    assert_close(p.latency, 6.6 * US + 14 * 0.6 * US, 1e-12);
    assert_close(p.time, p.latency + 2 * load, 1e-12);
    s.protocols = 1u << CS_PROTO_SIMPLE;
    p = plan_of(&f, &s);
    assert_close(p.latency, 8.4 * US + 14 * 3.4 * US, 1e-12);
    assert_close(p.time, p.latency + load, 1e-12);
    s.protocols = 1u << CS_PROTO_LL128;
    p = plan_of(&f, &s);
    assert_close(p.latency, 14 * US + 14 * 1.9 * US, 1e-12);
    assert_close(p.wire, 1 / 0.92, 1e-15);
    /* All-gather: n-1 steps. */
    s = spec(CS_COLL_ALL_GATHER, 8, S);
    s.protocols = 1u << CS_PROTO_SIMPLE;
    assert_close(plan_of(&f, &s).latency, 8.4 * US + 7 * 3.4 * US, 1e-12);
    cs_fabric_free(&f);
}
END_TEST

/* Each size gets the protocol of least estimated time, as in NCCL: LL for
 * small messages, LL128 between, Simple for large ones. */
START_TEST(protocol_by_size)
{
    cs_fabric f;
    make_fabric(&f, 1, 8, "switch", "");
    int seen[CS_PROTOS] = {0}, last = -1;
    for (double S = 8; S <= 4 * GIB; S *= 2) {
        cs_coll_spec s = spec(CS_COLL_ALL_REDUCE, 8, S);
        cs_coll_plan p = plan_of(&f, &s);
        for (int q = 0; q < CS_PROTOS; q++) {
            cs_coll_spec one = s;
            one.protocols = 1u << q;
            ck_assert(p.time <= plan_of(&f, &one).time);
        }
        ck_assert_msg((int)p.proto >= last, "protocol went back at %g bytes", S);
        last = p.proto;
        seen[p.proto] = 1;
    }
    ck_assert(seen[CS_PROTO_LL] && seen[CS_PROTO_LL128] && seen[CS_PROTO_SIMPLE]);
    cs_fabric_free(&f);
}
END_TEST

/* Across nodes: NCCL's tree latency 2((ppn-1) intra + log2(nodes) inter)
 * beats the ring's 2(n-1) steps, 2(N-1) of them between nodes, for small
 * messages. */
START_TEST(tree_and_ring_latency_across_nodes)
{
    cs_fabric f;
    make_fabric(&f, 4, 8, "switch", "");
    cs_coll_spec s = spec(CS_COLL_ALL_REDUCE, 32, 8);
    cs_coll_plan p = plan_of(&f, &s);
    ck_assert_int_eq(p.algo, CS_ALGO_TREE);
    ck_assert_int_eq(p.proto, CS_PROTO_LL);
    assert_close(p.latency, 6.8 * US + 2 * (7 * 0.6 * US + 2 * 5.0 * US), 1e-12);
    s.algo = CS_ALGO_RING;
    p = plan_of(&f, &s);
    /* 62 steps, 6 of them between nodes. */
    assert_close(p.latency, 6.6 * US + 56 * 0.6 * US + 6 * 2.7 * US, 1e-12);
    s.protocols = 1u << CS_PROTO_SIMPLE;
    s.bytes = 64 * MIB;
    p = plan_of(&f, &s);
    assert_close(p.latency, 8.4 * US + 56 * 3.4 * US + 6 * 14 * US, 1e-12);
    cs_fabric_free(&f);
}
END_TEST

/* ---- bandwidth ---------------------------------------------------------- */

/* On a full mesh the libraries run rings over every link, so a group of n
 * reaches n-1 links' bandwidth: busbw = (n-1) B_link, growing with the group
 * (RCCL on MI300X: 46, 132, 276 GB/s for 2, 4, 8 GPUs at 64 MiB). */
START_TEST(mesh_busbw_grows_with_group)
{
    cs_fabric f;
    make_fabric(&f, 1, 8, "mesh", "");
    double link = UP_BW / 7, S = 16 * GIB;
    for (long n = 2; n <= 8; n *= 2)
        for (int op = CS_COLL_ALL_REDUCE; op <= CS_COLL_REDUCE_SCATTER; op++) {
            cs_coll_spec s = spec((cs_coll_op)op, n, S);
            cs_coll_plan p = plan_of(&f, &s);
            ck_assert_int_eq(p.proto, CS_PROTO_SIMPLE);
            double bw_time =
                cs_collective_bus_factor((cs_coll_op)op, n) * S / ((double)(n - 1) * link);
            assert_close(p.time, p.latency + bw_time, 1e-12);
            assert_close(flow_time(&f, &s), p.time, 1e-9);
            double busbw = S / p.time * cs_collective_bus_factor((cs_coll_op)op, n);
            ck_assert_msg(fabs(busbw / ((double)(n - 1) * link) - 1) < 0.001,
                          "n %ld op %d busbw %g", n, op, busbw);
        }
    cs_fabric_free(&f);
}
END_TEST

/* NVLS: the switch reduces and multicasts, so each GPU sends and receives
 * the buffer once: an all-reduce takes 25 us + S / (B e), busbw 2(n-1)/n B e;
 * an all-gather sends S/n and receives (n-1) S / n. It wins for large
 * messages only (its latency is 25 us), and only inside one switch. */
START_TEST(nvls_inside_one_switch)
{
    cs_fabric f;
    make_fabric_with(&f, 2, 8, "switch", "nvls: true, nvls_efficiency: 0.6", "");
    double B = 100e9 * 0.6, S = GIB;
    cs_coll_spec s = spec(CS_COLL_ALL_REDUCE, 8, S);
    cs_coll_plan p = plan_of(&f, &s);
    ck_assert_int_eq(p.algo, CS_ALGO_NVLS);
    ck_assert_int_eq(p.proto, CS_PROTO_SIMPLE);
    assert_close(p.time, 25 * US + S / B, 1e-12);
    assert_close(flow_time(&f, &s), p.time, 1e-9);
    ck_assert(S / p.time * 1.75 > UP_BW); /* beats a ring's busbw */
    s = spec(CS_COLL_ALL_GATHER, 8, S);
    s.algo = CS_ALGO_NVLS;
    p = plan_of(&f, &s);
    assert_close(p.time, 25 * US + 7.0 / 8 * S / B, 1e-12);
    assert_close(flow_time(&f, &s), p.time, 1e-9);
    /* Small messages: a ring's LL. */
    s = spec(CS_COLL_ALL_REDUCE, 8, 64 * 1024);
    ck_assert_int_eq(plan_of(&f, &s).algo, CS_ALGO_RING);
    /* Across nodes NVLS does not run (NCCL needs CollNet for it). */
    s = spec(CS_COLL_ALL_REDUCE, 16, S);
    ck_assert(plan_of(&f, &s).algo != CS_ALGO_NVLS);
    s.algo = CS_ALGO_NVLS;
    cs_coll_plan q;
    ck_assert_int_eq(cs_collective_plan(&f, &s, &q), -2);
    cs_fabric_free(&f);
    /* No NVLink SHARP: never. */
    make_fabric(&f, 1, 8, "switch", "");
    s = spec(CS_COLL_ALL_REDUCE, 8, S);
    s.algo = CS_ALGO_NVLS;
    ck_assert_int_eq(cs_collective_plan(&f, &s, &q), -2);
    cs_fabric_free(&f);
}
END_TEST

/* An operation's efficiency factor scales its bandwidth; LL's bus
 * bandwidth stops at its cap. */
START_TEST(op_efficiency_and_ll_cap)
{
    cs_fabric plain, slow;
    make_fabric(&plain, 1, 8, "switch", "");
    make_fabric(&slow, 1, 8, "switch",
                "collectives: {efficiency: {alltoall: 0.5}, ll_max_bandwidth: 10 GB/s}");
    cs_coll_spec s = spec(CS_COLL_ALLTOALL, 8, GIB);
    cs_coll_plan a = plan_of(&plain, &s), b = plan_of(&slow, &s);
    assert_close(b.time - b.latency, 2 * (a.time - a.latency), 1e-12);
    assert_close(flow_time(&slow, &s), b.time, 1e-9);
    s = spec(CS_COLL_ALL_REDUCE, 8, 64 * 1024);
    s.protocols = 1u << CS_PROTO_LL;
    b = plan_of(&slow, &s);
    assert_close(64 * 1024 / (b.time - b.latency), 10e9, 1e-12); /* algbw at the cap */
    cs_fabric_free(&plain);
    cs_fabric_free(&slow);
}
END_TEST

/* ---- the per-net plan cache --------------------------------------------- */

static void note_done(void *ctx, long arg)
{
    ((double *)ctx)[arg] = 1;
}

/* A net plans each collective once: the same spec again gets the same time,
 * and a spec that differs only in its members (inside a node, then across
 * nodes) or its bytes is planned afresh. */
START_TEST(plan_cache_keys_on_the_whole_spec)
{
    cs_fabric f;
    make_fabric(&f, 4, 8, "switch", "");
    static const long inside[4] = {0, 1, 2, 3}, across[4] = {0, 8, 16, 24};
    cs_coll_spec a = {CS_COLL_ALL_REDUCE, CS_ALGO_AUTO, 4, inside, 64 * MIB, NULL, 0, 0};
    cs_coll_spec b = a, c = a;
    b.gpus = across;
    c.bytes = 32 * MIB;
    const cs_coll_spec *order[] = {&a, &b, &a, &c, &b};
    cs_engine *e = cs_engine_create();
    cs_net *net = cs_net_create(e, &f, CS_NET_ANALYTIC);
    ck_assert_ptr_nonnull(net);
    double start = 0, done[5] = {0};
    for (int i = 0; i < 5; i++) {
        start = cs_engine_now(e);
        ck_assert_int_eq(cs_collective_start(net, order[i], note_done, done, i), 0);
        cs_engine_run(e);
        ck_assert(done[i] == 1);
        assert_close(cs_engine_now(e) - start, cs_collective_analytic_time(&f, order[i]), 1e-9);
    }
    ck_assert(cs_collective_analytic_time(&f, &a) < cs_collective_analytic_time(&f, &b));
    ck_assert(cs_collective_analytic_time(&f, &c) < cs_collective_analytic_time(&f, &a));
    cs_net_destroy(net);
    cs_engine_destroy(e);
    cs_fabric_free(&f);
}
END_TEST

/* ---- analytic = flow ---------------------------------------------------- */

/* Alone on an idle cluster, flow mode takes the analytic time: for every
 * operation and algorithm, at every size, on switch and mesh nodes, inside a
 * node and across nodes, rail-optimised and oversubscribed (within 10%;
 * most are exact). Flow mode only differs where links are shared. */
START_TEST(analytic_equals_flow_alone)
{
    static const struct {
        long nodes, gpn;
        const char *kind, *extra;
    } topos[] = {
        {1, 8, "switch", ""},
        {2, 8, "switch", ""},
        {1, 8, "mesh", ""},
        {2, 8, "mesh", ""},
        {4, 8, "switch",
         "scale_out: {nic_bandwidth: 200 Gb/s, topology: rail_optimized, leaf_radix: 4}"},
        {4, 4, "switch",
         "scale_out: {nic_bandwidth: 200 Gb/s, nics_per_node: 2, oversubscription: 2, "
         "leaf_radix: 4}"},
    };
    static const struct {
        cs_coll_op op;
        cs_coll_algo algo;
    } ops[] = {
        {CS_COLL_ALL_REDUCE, CS_ALGO_AUTO}, {CS_COLL_ALL_REDUCE, CS_ALGO_RING},
        {CS_COLL_ALL_REDUCE, CS_ALGO_TREE}, {CS_COLL_ALL_REDUCE, CS_ALGO_HIERARCHICAL},
        {CS_COLL_ALL_GATHER, CS_ALGO_AUTO}, {CS_COLL_REDUCE_SCATTER, CS_ALGO_AUTO},
        {CS_COLL_ALLTOALL, CS_ALGO_AUTO},   {CS_COLL_SENDRECV, CS_ALGO_AUTO},
        {CS_COLL_BROADCAST, CS_ALGO_AUTO},
    };
    const double sizes[] = {8, MIB, 64 * MIB, GIB};
    double worst = 1;
    int compared = 0;
    for (size_t t = 0; t < sizeof topos / sizeof *topos; t++) {
        cs_fabric f;
        const char *extra = topos[t].extra;
        /* The two scale-out variants replace the default scale_out. */
        char yaml[2048];
        snprintf(yaml, sizeof yaml,
                 "{ name: t, gpu: {peak_compute: 100 TFLOP/s, memory: 80 GB, "
                 "memory_bandwidth: 2 TB/s}, nodes: %ld, gpus_per_node: %ld, "
                 "scale_up: {kind: %s, bandwidth: 100 GB/s, efficiency: 0.8}, %s }\n",
                 topos[t].nodes, topos[t].gpn, topos[t].kind,
                 *extra ? extra : "scale_out: {nic_bandwidth: 200 Gb/s, efficiency: 0.9}");
        cs_cluster c;
        cs_sources src = {0};
        cs_diags d;
        cs_diags_init(&d);
        ck_assert_int_eq(cs_cluster_load(tu_write("t.yaml", yaml), &tu_paths, &src, &c, &d), 0);
        cs_diags_free(&d);
        cs_sources_free(&src);
        ck_assert_int_eq(cs_fabric_init(&f, &c), 0);
        long n = f.gpus;
        for (size_t o = 0; o < sizeof ops / sizeof *ops; o++)
            for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
                cs_coll_spec s = spec(ops[o].op, n, sizes[k]);
                s.algo = ops[o].algo;
                s.root = n / 2;
                cs_coll_plan p;
                int rc = cs_collective_plan(&f, &s, &p);
                if (rc == -2)
                    continue; /* that algorithm does not run there */
                ck_assert_int_eq(rc, 0);
                double flow = flow_time(&f, &s), ratio = flow / p.time;
                ck_assert_msg(fabs(ratio - 1) <= 1e-6,
                              "topology %zu, %s %s of %g B: flow %g, analytic %g", t,
                              cs_coll_op_name(ops[o].op), cs_coll_algo_name(p.algo), sizes[k], flow,
                              p.time);
                if (fabs(ratio - 1) > fabs(worst - 1))
                    worst = ratio;
                compared++;
            }
        cs_fabric_free(&f);
    }
    /* 6 topologies x 9 operations x 4 sizes, less tree and hierarchical
     * inside one node (2 topologies x 2 algorithms x 4 sizes). */
    ck_assert_int_eq(compared, 6 * 9 * 4 - 2 * 2 * 4);
    fprintf(stderr, "analytic_equals_flow_alone: %d cases, largest flow / analytic %.6f\n",
            compared, worst);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tuner");
    TCase *t = tcase_create("tuner");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, ring_latency_and_protocol_factors);
    tcase_add_test(t, protocol_by_size);
    tcase_add_test(t, tree_and_ring_latency_across_nodes);
    tcase_add_test(t, mesh_busbw_grows_with_group);
    tcase_add_test(t, nvls_inside_one_switch);
    tcase_add_test(t, op_efficiency_and_ll_cap);
    tcase_add_test(t, analytic_equals_flow_alone);
    tcase_add_test(t, plan_cache_keys_on_the_whole_spec);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
