/* Collectives: alpha-beta closed forms in analytic and flow mode, nccl-tests
 * busbw, NIC-bound all-to-all and oversubscribed leaves, conservation of the
 * bytes on the wire, the choice between tree and ring, determinism. The test
 * clusters run the Simple protocol with no launch latency, so that every
 * step of a collective costs exactly its link class's latency (the tuner's
 * own constants: test_tuner.c; the command: test_collective_cli.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/collective.h"
#include "net/engine.h"
#include "net/fabric.h"
#include "net/net.h"
#include "net/plancache.h"
#include "testutil.h"

#define BIN CS_BINARY

/* The test clusters: scale-up 100 GB/s x 0.8 with 2 us, NICs 200 Gb/s x 0.9
 * with 5 us (computed as the fabric does: line rate x efficiency). */
#define UP_BW (100e9 * 0.8)
#define UP_LAT 2e-6
#define NIC_BW (25e9 * 0.9)
#define OUT_LAT 5e-6
#define GIB 1073741824.0
#define MIB 1048576.0

#define REL 1e-9

typedef struct topo {
    long nodes, gpn, nics;
    const char *topology; /* fat_tree | rail_optimized */
    double oversub;
    long radix;
} topo;

static const char *cluster_yaml(const topo *t)
{
    static char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "{ name: t, gpu: {peak_compute: 100 TFLOP/s, memory: 80 GB, "
             "memory_bandwidth: 2 TB/s}, nodes: %ld, gpus_per_node: %ld, "
             "scale_up: {kind: switch, bandwidth: 100 GB/s, latency: 2 us, efficiency: 0.8}, "
             "scale_out: {nics_per_node: %ld, nic_bandwidth: 200 Gb/s, latency: 5 us, "
             "efficiency: 0.9, topology: %s, oversubscription: %g, leaf_radix: %ld}, "
             "collectives: {protocols: [simple], base_latency: 0 us} }\n",
             t->nodes, t->gpn, t->nics, t->topology, t->oversub, t->radix);
    return yaml;
}

static void make_fabric(const topo *t, cs_fabric *f)
{
    const char *path = tu_write("cluster.yaml", cluster_yaml(t));
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

static long first_gpus[64] = {0};

static const long *first(long n)
{
    for (long i = 0; i < n && i < 64; i++)
        first_gpus[i] = i;
    return first_gpus;
}

static cs_coll_spec spec_of(cs_coll_op op, cs_coll_algo algo, long n, double bytes)
{
    return (cs_coll_spec){op, algo, n, first(n), bytes, NULL, 0, 0};
}

static double sim_time(const cs_fabric *f, cs_network_model model, const cs_coll_spec *s)
{
    double t = -1;
    ck_assert_int_eq(cs_collective_time(f, model, s, &t, NULL), 0);
    return t;
}

static const topo one_node = {1, 8, 8, "fat_tree", 1, 64};

/* NVLS's launch grows with its members where a cluster says so (tuner.c):
 * one node of 8 with NVLS at 100 GB/s x 0.5, 10 us + 3 us a member. An
 * all-reduce of n moves the buffer once each way at 50 GB/s after 10 + 3n
 * us, an all-gather the (n-1)/n it receives; flow and analytic agree
 * (nothing contends). */
START_TEST(nvls_launch_grows_with_members)
{
    const char *path = tu_write(
        "nvls.yaml", "{ name: t, gpu: {peak_compute: 100 TFLOP/s, memory: 80 GB, "
                     "memory_bandwidth: 2 TB/s}, nodes: 1, gpus_per_node: 8, "
                     "scale_up: {kind: switch, bandwidth: 100 GB/s, latency: 2 us, efficiency: "
                     "0.8, nvls: true, nvls_efficiency: 0.5}, "
                     "scale_out: {nics_per_node: 8, nic_bandwidth: 200 Gb/s, latency: 5 us}, "
                     "collectives: {protocols: [simple], base_latency: 0 us, nvls_latency: 10 us, "
                     "nvls_member_latency: 3 us} }\n");
    cs_cluster c;
    cs_sources src = {0};
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_cluster_load(path, &tu_paths, &src, &c, &d), 0);
    cs_diags_free(&d);
    cs_sources_free(&src);
    cs_fabric f;
    ck_assert_int_eq(cs_fabric_init(&f, &c), 0);
    const double cap = 50e9, S = 64 * MIB;
    for (long n = 4; n <= 8; n += 4) {
        double launch = 10e-6 + 3e-6 * (double)n;
        cs_coll_spec ar = spec_of(CS_COLL_ALL_REDUCE, CS_ALGO_NVLS, n, S);
        assert_close(cs_collective_analytic_time(&f, &ar), launch + S / cap, REL);
        assert_close(sim_time(&f, CS_NET_FLOW, &ar), launch + S / cap, REL);
        cs_coll_spec ag = spec_of(CS_COLL_ALL_GATHER, CS_ALGO_NVLS, n, S);
        double got = (double)(n - 1) / (double)n * S / cap;
        assert_close(cs_collective_analytic_time(&f, &ag), launch + got, REL);
    }
    cs_fabric_free(&f);
    /* An NVLS tree over 2 nodes of 4 pays it for a node's 4 members: its
     * plan's latency is 4 x 3 us above the same cluster's without it. */
    double lat[2];
    for (int with = 0; with < 2; with++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml,
                 "{ name: t, gpu: {peak_compute: 100 TFLOP/s, memory: 80 GB, "
                 "memory_bandwidth: 2 TB/s}, nodes: 2, gpus_per_node: 4, "
                 "scale_up: {kind: switch, bandwidth: 100 GB/s, latency: 2 us, efficiency: 0.8, "
                 "nvls: true, nvls_efficiency: 0.5}, "
                 "scale_out: {nics_per_node: 4, nic_bandwidth: 200 Gb/s, latency: 5 us}, "
                 "collectives: {protocols: [simple], nvls_member_latency: %s} }\n",
                 with ? "3 us" : "0 us");
        cs_diags_init(&d);
        cs_sources s2 = {0};
        ck_assert_int_eq(cs_cluster_load(tu_write("tree.yaml", yaml), &tu_paths, &s2, &c, &d), 0);
        cs_diags_free(&d);
        cs_sources_free(&s2);
        ck_assert_int_eq(cs_fabric_init(&f, &c), 0);
        cs_coll_spec t = spec_of(CS_COLL_ALL_REDUCE, CS_ALGO_NVLS_TREE, 8, S);
        cs_coll_plan p;
        ck_assert_int_eq(cs_collective_plan(&f, &t, &p), 0);
        lat[with] = p.latency;
        cs_fabric_free(&f);
    }
    assert_close(lat[1] - lat[0], 4 * 3e-6, 1e-9);
}
END_TEST
static const topo two_by_four = {2, 4, 4, "fat_tree", 1, 64};

/* ---- 5. ring all-reduce inside one switch -------------------------------- */

START_TEST(ring_allreduce_one_switch)
{
    cs_fabric f;
    make_fabric(&one_node, &f);
    const double sizes[] = {8, 1e6 + 3, 64 * MIB, GIB};
    for (long n = 2; n <= 8; n *= 2)
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            double S = sizes[k];
            cs_coll_spec s = spec_of(CS_COLL_ALL_REDUCE, CS_ALGO_RING, n, S);
            double want = 2.0 * (double)(n - 1) * (UP_LAT + S / ((double)n * UP_BW));
            assert_close(cs_collective_analytic_time(&f, &s), want, REL);
            assert_close(sim_time(&f, CS_NET_ANALYTIC, &s), want, REL);
            assert_close(sim_time(&f, CS_NET_FLOW, &s), want, REL);
            ck_assert(sim_time(&f, CS_NET_IDEAL, &s) == 0);
        }
    /* nccl-tests: busbw = algbw x 2(n-1)/n approaches the link rate for large
     * messages (latency is n alpha B / S of it: under 0.2% at 1 GiB). */
    for (long n = 2; n <= 8; n *= 2) {
        cs_coll_spec s = spec_of(CS_COLL_ALL_REDUCE, CS_ALGO_RING, n, GIB);
        double t = sim_time(&f, CS_NET_FLOW, &s);
        double factor = cs_collective_bus_factor(CS_COLL_ALL_REDUCE, n);
        ck_assert(factor == 2.0 * (double)(n - 1) / (double)n);
        double busbw = GIB / t * factor;
        ck_assert_msg(fabs(busbw - UP_BW) <= 0.005 * UP_BW, "n %ld busbw %g vs B %g", n, busbw,
                      UP_BW);
        ck_assert(busbw < UP_BW);
    }
    cs_fabric_free(&f);
}
END_TEST

START_TEST(bus_factors_and_names)
{
    ck_assert(cs_collective_bus_factor(CS_COLL_ALL_REDUCE, 4) == 1.5);
    ck_assert(cs_collective_bus_factor(CS_COLL_ALL_GATHER, 4) == 0.75);
    ck_assert(cs_collective_bus_factor(CS_COLL_REDUCE_SCATTER, 4) == 0.75);
    ck_assert(cs_collective_bus_factor(CS_COLL_ALLTOALL, 4) == 0.75);
    ck_assert(cs_collective_bus_factor(CS_COLL_SENDRECV, 4) == 1.0);
    ck_assert(cs_collective_bus_factor(CS_COLL_BROADCAST, 4) == 1.0);
    for (int op = 0; op < CS_COLL_OP_COUNT; op++)
        ck_assert_int_eq(cs_coll_op_parse(cs_coll_op_name((cs_coll_op)op)), op);
    for (int a = CS_ALGO_AUTO; a < CS_ALGO_COUNT; a++)
        ck_assert_int_eq(cs_coll_algo_parse(cs_coll_algo_name((cs_coll_algo)a)), a);
    for (int p = 0; p < CS_PROTOS; p++)
        ck_assert_int_eq(cs_coll_proto_parse(cs_coll_proto_name((cs_proto)p)), p);
    ck_assert_str_eq(cs_coll_algo_name(CS_ALGO_NVLS), "nvls");
    ck_assert_str_eq(cs_coll_proto_name(CS_PROTO_LL128), "LL128");
    ck_assert_int_eq(cs_coll_proto_parse("ll128"), CS_PROTO_LL128); /* any case */
    ck_assert_int_eq(cs_coll_op_parse("allreduce"), -1);
    ck_assert_int_eq(cs_coll_algo_parse("nccl"), -1);
    ck_assert_int_eq(cs_coll_proto_parse("LL64"), -1);
}
END_TEST

/* Ring all-gather and reduce-scatter inside a node: (n-1)(alpha + S/n beta). */
START_TEST(ring_allgather_reduce_scatter_one_switch)
{
    cs_fabric f;
    make_fabric(&one_node, &f);
    double S = 64 * MIB;
    for (long n = 2; n <= 8; n *= 2)
        for (int op = CS_COLL_ALL_GATHER; op <= CS_COLL_REDUCE_SCATTER; op++) {
            cs_coll_spec s = spec_of((cs_coll_op)op, CS_ALGO_AUTO, n, S);
            double want = (double)(n - 1) * (UP_LAT + S / ((double)n * UP_BW));
            assert_close(sim_time(&f, CS_NET_ANALYTIC, &s), want, REL);
            assert_close(sim_time(&f, CS_NET_FLOW, &s), want, REL);
        }
    cs_fabric_free(&f);
}
END_TEST

/* Broadcast is a pipelined chain: one step per hop, n - 1 of them, while
 * every hop carries the message at once: (n-1) alpha + S/B. Send/recv is one
 * hop per rank at once: alpha + S/B. Inside one switch every hop has its own
 * links, so flow mode matches the closed form. */
START_TEST(broadcast_and_sendrecv_one_switch)
{
    cs_fabric f;
    make_fabric(&one_node, &f);
    const double sizes[] = {4096, 4 * MIB, 100 * MIB};
    for (long n = 2; n <= 8; n *= 2)
        for (size_t k = 0; k < 3; k++) {
            double S = sizes[k];
            cs_coll_spec s = spec_of(CS_COLL_BROADCAST, CS_ALGO_AUTO, n, S);
            s.root = n - 1;
            double want = ((double)n - 1) * UP_LAT + S / UP_BW;
            assert_close(cs_collective_analytic_time(&f, &s), want, REL);
            assert_close(sim_time(&f, CS_NET_FLOW, &s), want, REL);
            s = spec_of(CS_COLL_SENDRECV, CS_ALGO_AUTO, n, S);
            assert_close(sim_time(&f, CS_NET_ANALYTIC, &s), UP_LAT + S / UP_BW, REL);
            assert_close(sim_time(&f, CS_NET_FLOW, &s), UP_LAT + S / UP_BW, REL);
        }
    cs_fabric_free(&f);
}
END_TEST

/* ---- 6. all-to-all across nodes ------------------------------------------ */

/* Every GPU sends S/n to each other rank; (n-g) S/n of it leaves the node
 * through the GPU's own NIC, where n-g flows share B_nic. So t = (n-g) S /
 * (n B_nic) (plus latency) and busbw = S/t (n-1)/n = B_nic (n-1)/(n-g). With
 * n = N g this is B_nic (N g - 1)/((N-1) g), which approaches N/(N-1) B_nic
 * as g grows: the traffic that stays inside a node never touches a NIC. */
START_TEST(alltoall_bounded_by_nics)
{
    for (long N = 2; N <= 4; N *= 2) {
        const topo t = {N, 8, 8, "fat_tree", 1, 64};
        cs_fabric f;
        make_fabric(&t, &f);
        long g = 8, n = N * g;
        cs_coll_spec s = spec_of(CS_COLL_ALLTOALL, CS_ALGO_AUTO, n, GIB);
        double time = sim_time(&f, CS_NET_FLOW, &s);
        double busbw = GIB / time * cs_collective_bus_factor(CS_COLL_ALLTOALL, n);
        double want = NIC_BW * (double)(n - 1) / (double)(n - g);
        ck_assert_msg(fabs(busbw - want) <= 0.01 * want, "N %ld: busbw %g, expected %g", N,
                      busbw, want);
        /* In fact exact up to the one route latency. */
        assert_close(time, OUT_LAT + (double)(n - g) * (GIB / (double)n) / NIC_BW, REL);
        cs_fabric_free(&f);
    }
}
END_TEST

/* 4 nodes x 8 GPUs x 8 NICs on leaves of 8 NIC ports (leaf_radix 16): each
 * node fills one leaf, so all traffic between nodes crosses the spines. Leaf
 * uplink k carries what the node's 8 GPUs send to GPU k of the 3 other nodes
 * (24 flows), as many as a NIC. Non-blocking the NIC is the bottleneck; with
 * oversubscription 2 the uplinks have half the NIC rate and the bandwidth
 * part of the time doubles. */
START_TEST(oversubscription_slows_cross_leaf_traffic)
{
    double t[3];
    for (int o = 1; o <= 2; o++) {
        const topo tp = {4, 8, 8, "fat_tree", (double)o, 16};
        cs_fabric f;
        make_fabric(&tp, &f);
        ck_assert_int_eq(f.leaves, 4);
        long links[CS_ROUTE_MAX];
        double lat;
        ck_assert_int_eq(cs_fabric_route(&f, 0, 8, links, &lat), 4);
        cs_coll_spec s = spec_of(CS_COLL_ALLTOALL, CS_ALGO_AUTO, 32, GIB);
        t[o] = sim_time(&f, CS_NET_FLOW, &s);
        assert_close(t[o], OUT_LAT + 24.0 * (GIB / 32) / (NIC_BW / o), REL);
        cs_fabric_free(&f);
    }
    assert_close((t[2] - OUT_LAT) / (t[1] - OUT_LAT), 2.0, 1e-6);

    /* Traffic inside a leaf does not care: two nodes on one leaf (radix 64). */
    for (int o = 1; o <= 2; o++) {
        const topo tp = {2, 8, 8, "fat_tree", (double)o, 64};
        cs_fabric f;
        make_fabric(&tp, &f);
        cs_coll_spec s = spec_of(CS_COLL_ALLTOALL, CS_ALGO_AUTO, 16, GIB);
        t[o] = sim_time(&f, CS_NET_FLOW, &s);
        cs_fabric_free(&f);
    }
    ck_assert(t[1] == t[2]);
}
END_TEST

/* On a rail-optimized fabric a ring's node-crossing hops go NIC k to NIC k,
 * along rail k, as NCCL lays them: no byte crosses a spine, so an
 * oversubscribed spine does not slow the ring. 4 nodes x 2 NICs on leaves
 * of 4 ports: the two rails have a leaf each, while the fat tree puts two
 * nodes on a leaf and sends the hops between its leaves over the spines,
 * at half the NIC rate when oversubscribed 2:1. */
START_TEST(rail_aligned_ring_ignores_spines)
{
    double t[2][3];
    for (int rails = 0; rails < 2; rails++)
        for (int o = 1; o <= 2; o++) {
            const topo tp = {4, 8, 2, rails ? "rail_optimized" : "fat_tree", (double)o, 8};
            cs_fabric f;
            make_fabric(&tp, &f);
            cs_coll_spec s = spec_of(CS_COLL_ALL_REDUCE, CS_ALGO_RING, 32, GIB);
            t[rails][o] = sim_time(&f, CS_NET_FLOW, &s);
            cs_fabric_free(&f);
        }
    ck_assert(t[1][1] == t[1][2]);
    ck_assert(t[0][2] > 1.5 * t[0][1]);
}
END_TEST

/* ---- 7. bytes on the wire ------------------------------------------------ */

static void mark_ended(void *ctx, long arg)
{
    (void)arg;
    (*(int *)ctx)++;
}

/* The pattern's bytes are the closed form; what goes on the wire is that
 * times the plan's protocol factor (1 with Simple, 1/0.92 on a tree). */
static void check_conserved(const cs_fabric *f, const cs_coll_spec *s, double closed_form,
                            const char *what)
{
    cs_coll_plan plan;
    ck_assert_int_eq(cs_collective_plan(f, s, &plan), 0);
    ck_assert_int_eq(plan.proto, CS_PROTO_SIMPLE);
    assert_close(plan.wire, plan.algo == CS_ALGO_TREE ? 1 / 0.92 : 1.0, 1e-15);
    closed_form *= plan.wire;
    double wire = cs_collective_wire_bytes(f, s);
    ck_assert_msg(fabs(wire - closed_form) <= 1e-12 * closed_form,
                  "%s: wire bytes %.17g, closed form %.17g", what, wire, closed_form);
    cs_coll_stats st = {0};
    double t = -1;
    ck_assert_int_eq(cs_collective_time(f, CS_NET_FLOW, s, &t, &st), 0);
    ck_assert_msg(t > 0, "%s: time %g", what, t);
    ck_assert_msg(fabs(st.delivered_bytes - wire) <= 1e-12 * wire,
                  "%s: delivered %.17g, wire bytes %.17g", what, st.delivered_bytes, wire);
    /* The net's own counter, on a net we drive ourselves. */
    cs_engine *e = cs_engine_create();
    cs_net *net = cs_net_create(e, f, CS_NET_FLOW);
    ck_assert_ptr_nonnull(net);
    int ended = 0;
    ck_assert_int_eq(cs_collective_start(net, s, mark_ended, &ended, 0), 0);
    cs_engine_run(e);
    ck_assert_int_eq(ended, 1);
    ck_assert_msg(fabs(cs_net_bytes_delivered(net) - wire) <= 1e-12 * wire,
                  "%s: net delivered %.17g, wire bytes %.17g", what,
                  cs_net_bytes_delivered(net), wire);
    ck_assert(cs_engine_now(e) == t);
    cs_net_destroy(net);
    cs_engine_destroy(e);
}

START_TEST(bytes_conserved)
{
    cs_fabric f;
    make_fabric(&two_by_four, &f);
    const double sizes[] = {8 * MIB, 1e6 + 7};
    for (size_t k = 0; k < 2; k++) {
        double S = sizes[k];
        long n = 8, g = 4, N = 2;
        cs_coll_spec s;
        s = spec_of(CS_COLL_ALL_REDUCE, CS_ALGO_RING, n, S);
        check_conserved(&f, &s, 2.0 * (double)(n - 1) * S, "ring all_reduce");
        s = spec_of(CS_COLL_ALL_REDUCE, CS_ALGO_TREE, n, S);
        check_conserved(&f, &s, 2.0 * (double)(n - 1) * S, "double tree all_reduce");
        /* Hierarchical: reduce-scatter in each node N (g-1) S, ring all-reduce
         * of g shards of S/g across nodes 2 (N-1) S, all-gather in each node
         * N (g-1) S: 2 N (g-1) S + 2 (N-1) S = 2 (n-1) S, like a flat ring. */
        s = spec_of(CS_COLL_ALL_REDUCE, CS_ALGO_HIERARCHICAL, n, S);
        double hier = 2.0 * (double)(N * (g - 1)) * S + 2.0 * (double)(N - 1) * S;
        ck_assert(hier == 2.0 * (double)(n - 1) * S);
        check_conserved(&f, &s, hier, "hierarchical all_reduce");
        s = spec_of(CS_COLL_ALL_GATHER, CS_ALGO_AUTO, n, S);
        check_conserved(&f, &s, (double)(n - 1) * S, "all_gather");
        s = spec_of(CS_COLL_REDUCE_SCATTER, CS_ALGO_AUTO, n, S);
        check_conserved(&f, &s, (double)(n - 1) * S, "reduce_scatter");
        s = spec_of(CS_COLL_ALLTOALL, CS_ALGO_AUTO, n, S);
        check_conserved(&f, &s, (double)(n - 1) * S, "alltoall");
        s = spec_of(CS_COLL_SENDRECV, CS_ALGO_AUTO, n, S);
        check_conserved(&f, &s, (double)n * S, "sendrecv");
        s = spec_of(CS_COLL_BROADCAST, CS_ALGO_AUTO, n, S);
        s.root = 3;
        check_conserved(&f, &s, (double)(n - 1) * S, "broadcast");
        /* Uneven all-to-all: the off-diagonal sum. */
        double pairs[64], sum = 0;
        for (long i = 0; i < n; i++)
            for (long j = 0; j < n; j++) {
                pairs[i * n + j] = (double)(1 + (i * 7 + j * 3) % 11) * 4096;
                if (i != j)
                    sum += pairs[i * n + j];
            }
        s = spec_of(CS_COLL_ALLTOALL, CS_ALGO_AUTO, n, S);
        s.pair_bytes = pairs;
        check_conserved(&f, &s, sum, "uneven alltoall");
        /* Members not listed node by node. */
        static const long mixed[4] = {0, 5, 2, 7};
        s = (cs_coll_spec){CS_COLL_ALL_REDUCE, CS_ALGO_RING, 4, mixed, S, NULL, 0, 0};
        check_conserved(&f, &s, 2.0 * 3 * S, "ring all_reduce, mixed order");
        s.algo = CS_ALGO_TREE;
        check_conserved(&f, &s, 2.0 * 3 * S, "tree all_reduce, mixed order");
    }
    cs_fabric_free(&f);
}
END_TEST

/* ---- 9. hierarchical all-reduce and NCCL's choice ------------------------ */

/* The algorithm the tuner plans for s. */
static cs_coll_algo chosen(const cs_fabric *f, const cs_coll_spec *s)
{
    cs_coll_plan plan;
    ck_assert_int_eq(cs_collective_plan(f, s, &plan), 0);
    return plan.algo;
}

START_TEST(hierarchical_flow_equals_analytic)
{
    for (long nics = 4; nics >= 2; nics /= 2) {
        const topo t = {2, 4, nics, "fat_tree", 1, 64};
        cs_fabric f;
        make_fabric(&t, &f);
        double g = 4, N = 2, per_gpu_nic = NIC_BW / (4.0 / (double)nics);
        const double sizes[] = {4096, 8 * MIB, 256 * MIB, GIB};
        for (size_t k = 0; k < 4; k++) {
            double S = sizes[k];
            cs_coll_spec s = spec_of(CS_COLL_ALL_REDUCE, CS_ALGO_HIERARCHICAL, 8, S);
            /* Phases add: reduce-scatter + all-gather inside the node, then a
             * ring all-reduce of S/g per local rank across the N nodes. */
            double want = 2 * (g - 1) * (UP_LAT + S / g / UP_BW) +
                          2 * (N - 1) * (OUT_LAT + S / g / N / per_gpu_nic);
            assert_close(cs_collective_analytic_time(&f, &s), want, REL);
            assert_close(sim_time(&f, CS_NET_FLOW, &s), cs_collective_analytic_time(&f, &s),
                         1e-6);
        }
        cs_fabric_free(&f);
    }
}
END_TEST

START_TEST(auto_picks_tree_small_ring_large)
{
    cs_fabric f;
    make_fabric(&two_by_four, &f);
    cs_coll_spec s = spec_of(CS_COLL_ALL_REDUCE, CS_ALGO_AUTO, 8, 8);
    ck_assert_int_eq(chosen(&f, &s), CS_ALGO_TREE);
    /* auto's analytic time is the cheaper of the two. */
    cs_coll_spec ring = s, tree = s;
    ring.algo = CS_ALGO_RING;
    tree.algo = CS_ALGO_TREE;
    ck_assert(cs_collective_analytic_time(&f, &tree) < cs_collective_analytic_time(&f, &ring));
    ck_assert(cs_collective_analytic_time(&f, &s) == cs_collective_analytic_time(&f, &tree));
    s.bytes = GIB;
    ck_assert_int_eq(chosen(&f, &s), CS_ALGO_RING);
    ring.bytes = tree.bytes = GIB;
    ck_assert(cs_collective_analytic_time(&f, &ring) < cs_collective_analytic_time(&f, &tree));
    /* Inside one node: ring at every size. */
    for (double S = 8; S <= GIB; S *= 32) {
        cs_coll_spec in = spec_of(CS_COLL_ALL_REDUCE, CS_ALGO_AUTO, 4, S);
        ck_assert_int_eq(chosen(&f, &in), CS_ALGO_RING);
    }
    /* Other operations: ring. */
    cs_coll_spec ag = spec_of(CS_COLL_ALL_GATHER, CS_ALGO_AUTO, 8, 8);
    ck_assert_int_eq(chosen(&f, &ag), CS_ALGO_RING);
    cs_fabric_free(&f);
}
END_TEST

/* ---- 8. determinism and the command line --------------------------------- */

START_TEST(same_collective_twice_is_bit_identical)
{
    const topo t = {4, 4, 2, "fat_tree", 2, 4};
    cs_fabric f;
    make_fabric(&t, &f);
    double pairs[256];
    for (long i = 0; i < 16; i++)
        for (long j = 0; j < 16; j++)
            pairs[i * 16 + j] = (double)(1 + (i * 5 + j * 11) % 13) * 65536 + 3;
    cs_coll_spec specs[4] = {spec_of(CS_COLL_ALL_REDUCE, CS_ALGO_TREE, 16, 3e6 + 1),
                             spec_of(CS_COLL_ALL_REDUCE, CS_ALGO_RING, 16, 3e6 + 1),
                             spec_of(CS_COLL_ALLTOALL, CS_ALGO_AUTO, 16, 0),
                             spec_of(CS_COLL_BROADCAST, CS_ALGO_AUTO, 16, 5e6)};
    specs[2].pair_bytes = pairs;
    for (int k = 0; k < 4; k++) {
        double a, b;
        cs_coll_stats sa, sb;
        ck_assert_int_eq(cs_collective_time(&f, CS_NET_FLOW, &specs[k], &a, &sa), 0);
        ck_assert_int_eq(cs_collective_time(&f, CS_NET_FLOW, &specs[k], &b, &sb), 0);
        ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "spec %d: %.17g vs %.17g", k, a, b);
        ck_assert_uint_eq(sa.events, sb.events);
        ck_assert_uint_eq(sa.transfers, sb.transfers);
        ck_assert(memcmp(&sa.delivered_bytes, &sb.delivered_bytes, sizeof(double)) == 0);
    }
    cs_fabric_free(&f);
}
END_TEST

/* The plan cache keeps an uneven all-to-all by its byte table: the same
 * table at another address is found with the same plan, a table one entry
 * apart is not, and is planned as the uncached planner plans it; a plan
 * asked for once (cs_collective_net_time_once) is not kept. */
START_TEST(uneven_alltoall_plans_kept_by_table)
{
    cs_fabric f;
    make_fabric(&two_by_four, &f);
    cs_engine *e = cs_engine_create();
    cs_net *net = cs_net_create(e, &f, CS_NET_ANALYTIC);
    ck_assert_ptr_nonnull(net);
    double a[64], copy[64], b[64], d[64];
    for (long i = 0; i < 64; i++)
        a[i] = i / 8 == i % 8 ? 0 : (double)(1 + i % 7) * MIB;
    memcpy(copy, a, sizeof a);
    memcpy(b, a, sizeof a);
    b[1 * 8 + 6] *= 16; /* one pair crossing the nodes, much larger */
    memcpy(d, a, sizeof a);
    d[2 * 8 + 5] *= 8;
    cs_coll_spec sa = spec_of(CS_COLL_ALLTOALL, CS_ALGO_AUTO, 8, 0), sc = sa, sb = sa, sd = sa;
    sa.pair_bytes = a;
    sc.pair_bytes = copy;
    sb.pair_bytes = b;
    sd.pair_bytes = d;
    double ta = cs_collective_net_time(net, &sa);
    ck_assert(ta > 0);
    cs_plan_cache *cache = cs_net_plan_cache(net);
    cs_coll_plan plan;
    ck_assert_int_eq(cs_plan_cache_get(cache, &sc, &plan), 1);
    ck_assert(plan.time == ta);
    ck_assert_int_eq(cs_plan_cache_get(cache, &sb, &plan), 0);
    double tb = cs_collective_net_time(net, &sb);
    ck_assert(tb > ta);
    ck_assert(tb == cs_collective_analytic_time(&f, &sb));
    ck_assert(cs_collective_net_time_once(net, &sd) == cs_collective_analytic_time(&f, &sd));
    ck_assert_int_eq(cs_plan_cache_get(cache, &sd, &plan), 0);
    cs_net_destroy(net);
    cs_engine_destroy(e);
    cs_fabric_free(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("collective");
    TCase *t = tcase_create("closed_forms");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, nvls_launch_grows_with_members);
    tcase_add_test(t, ring_allreduce_one_switch);
    tcase_add_test(t, bus_factors_and_names);
    tcase_add_test(t, ring_allgather_reduce_scatter_one_switch);
    tcase_add_test(t, broadcast_and_sendrecv_one_switch);
    tcase_add_test(t, alltoall_bounded_by_nics);
    tcase_add_test(t, oversubscription_slows_cross_leaf_traffic);
    tcase_add_test(t, rail_aligned_ring_ignores_spines);
    tcase_add_test(t, bytes_conserved);
    tcase_add_test(t, hierarchical_flow_equals_analytic);
    tcase_add_test(t, auto_picks_tree_small_ring_large);
    tcase_add_test(t, same_collective_twice_is_bit_identical);
    tcase_add_test(t, uneven_alltoall_plans_kept_by_table);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
