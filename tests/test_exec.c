/* The op executor: stream order, overlap across streams, dependencies across
 * GPUs, collectives that wait for their last member, and cycles. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "net/collective.h"
#include "net/engine.h"
#include "replay/exec.h"
#include "net/fabric.h"
#include "net/net.h"
#include "testutil.h"

#define UP_BW (100e9 * 0.8)
#define UP_LAT 2e-6
#define MS 1e-3

/* 2 nodes x 4 GPUs, as in test_net.c and test_collective.c; collectives
 * with the Simple protocol and no launch latency, so that a ring step costs
 * exactly the scale-up latency. */
static const char cluster_yaml[] =
    "{ name: t, gpu: {peak_compute: 100 TFLOP/s, memory: 80 GB, memory_bandwidth: 2 TB/s}, "
    "nodes: 2, gpus_per_node: 4, "
    "scale_up: {kind: switch, bandwidth: 100 GB/s, latency: 2 us, efficiency: 0.8}, "
    "scale_out: {nics_per_node: 4, nic_bandwidth: 200 Gb/s, latency: 5 us, efficiency: 0.9, "
    "topology: fat_tree, oversubscription: 1, leaf_radix: 64}, "
    "collectives: {protocols: [simple], base_latency: 0 us} }\n";

typedef struct world {
    cs_fabric f;
    cs_engine *e;
    cs_net *n;
    cs_exec *x;
} world;

static void open_world(world *w, cs_network_model model, int streams)
{
    const char *path = tu_write("cluster.yaml", cluster_yaml);
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
    ck_assert_int_eq(cs_fabric_init(&w->f, &c), 0);
    w->e = cs_engine_create();
    ck_assert_ptr_nonnull(w->e);
    w->n = cs_net_create(w->e, &w->f, model);
    ck_assert_ptr_nonnull(w->n);
    w->x = cs_exec_create(w->n, w->f.gpus, streams);
    ck_assert_ptr_nonnull(w->x);
}

static void close_world(world *w)
{
    cs_exec_destroy(w->x);
    cs_net_destroy(w->n);
    cs_engine_destroy(w->e);
    cs_fabric_free(&w->f);
}

static long compute(world *w, long gpu, int stream, double duration, long tag)
{
    long id = cs_exec_compute(w->x, gpu, stream, duration, tag);
    ck_assert_int_ge(id, 0);
    return id;
}

START_TEST(one_stream_serializes)
{
    world w;
    open_world(&w, CS_NET_FLOW, 2);
    long a = compute(&w, 0, 0, 1 * MS, 10);
    long b = compute(&w, 0, 0, 2 * MS, 11);
    ck_assert_int_eq(cs_exec_run(w.x), 0);
    cs_op_times ta = cs_exec_times(w.x, a), tb = cs_exec_times(w.x, b);
    ck_assert(ta.ready == 0 && ta.begin == 0 && ta.end == 1 * MS);
    ck_assert(tb.ready == 1 * MS && tb.begin == 1 * MS);
    assert_close(tb.end, 3 * MS, 1e-12);
    assert_close(cs_exec_makespan(w.x), 3 * MS, 1e-12);
    ck_assert_int_eq(cs_exec_op_count(w.x), 2);
    ck_assert_int_eq(cs_exec_tag(w.x, b), 11);
    ck_assert_int_eq(cs_exec_gpu(w.x, b), 0);
    ck_assert_int_eq(cs_exec_stream(w.x, b), 0);
    ck_assert(!cs_exec_is_collective(w.x, a));
    close_world(&w);
}
END_TEST

START_TEST(different_streams_overlap)
{
    world w;
    open_world(&w, CS_NET_FLOW, 2);
    long a = compute(&w, 0, 0, 1 * MS, 0);
    long b = compute(&w, 0, 1, 2 * MS, 0);
    long c = compute(&w, 3, 0, 1.5 * MS, 0); /* another GPU, same stream number */
    ck_assert_int_eq(cs_exec_run(w.x), 0);
    ck_assert(cs_exec_times(w.x, a).begin == 0 && cs_exec_times(w.x, a).end == 1 * MS);
    ck_assert(cs_exec_times(w.x, b).begin == 0 && cs_exec_times(w.x, b).end == 2 * MS);
    ck_assert(cs_exec_times(w.x, c).begin == 0 && cs_exec_times(w.x, c).end == 1.5 * MS);
    ck_assert(cs_exec_makespan(w.x) == 2 * MS);
    close_world(&w);
}
END_TEST

START_TEST(cross_gpu_dependency_delays)
{
    world w;
    open_world(&w, CS_NET_FLOW, 2);
    long a = compute(&w, 0, 0, 1 * MS, 0);
    long b = compute(&w, 5, 1, 0.5 * MS, 0);
    long c = compute(&w, 5, 1, 0.25 * MS, 0); /* behind b on its stream */
    ck_assert_int_eq(cs_exec_depend(w.x, a, b), 0);
    ck_assert_int_eq(cs_exec_run(w.x), 0);
    cs_op_times tb = cs_exec_times(w.x, b), tc = cs_exec_times(w.x, c);
    ck_assert(tb.ready == 1 * MS && tb.begin == 1 * MS);
    assert_close(tb.end, 1.5 * MS, 1e-12);
    assert_close(tc.begin, 1.5 * MS, 1e-12);
    assert_close(tc.end, 1.75 * MS, 1e-12);
    /* Bad ids are refused. */
    ck_assert_int_eq(cs_exec_depend(w.x, a, 99), -1);
    ck_assert_int_eq(cs_exec_depend(w.x, -1, a), -1);
    ck_assert_int_eq(cs_exec_compute(w.x, 8, 0, 1, 0), -1);
    ck_assert_int_eq(cs_exec_compute(w.x, 0, 2, 1, 0), -1);
    close_world(&w);
}
END_TEST

/* Member on GPU 0 sits behind a 1 ms compute op: the collective starts at
 * 1 ms for every member, and ends its own duration later. */
START_TEST(collective_waits_for_last_member)
{
    long gpus[4] = {0, 1, 2, 3};
    double S = 16e6;
    cs_coll_spec spec = {CS_COLL_ALL_REDUCE, CS_ALGO_RING, 4, gpus, S, NULL, 0, 0};
    for (int model = CS_NET_IDEAL; model <= CS_NET_FLOW; model++) {
        world w;
        open_world(&w, (cs_network_model)model, 2);
        long k = compute(&w, 0, 0, 1 * MS, 0);
        long first = cs_exec_collective(w.x, &spec, 0, 7);
        ck_assert_int_eq(first, k + 1);
        long after = compute(&w, 2, 0, 0.1 * MS, 0); /* behind the member on GPU 2 */
        gpus[0] = 99; /* the spec's GPU list was copied */
        ck_assert_int_eq(cs_exec_run(w.x), 0);
        gpus[0] = 0;
        double coll = 0;
        ck_assert_int_eq(cs_collective_time(&w.f, (cs_network_model)model, &spec, &coll, NULL),
                         0);
        if (model == CS_NET_FLOW) /* ring inside a node: 2(n-1)(alpha + S/(nB)) */
            assert_close(coll, 6 * (UP_LAT + S / (4 * UP_BW)), 1e-9);
        for (long i = 0; i < 4; i++) {
            cs_op_times t = cs_exec_times(w.x, first + i);
            ck_assert(cs_exec_is_collective(w.x, first + i));
            ck_assert_int_eq(cs_exec_gpu(w.x, first + i), i);
            ck_assert_int_eq(cs_exec_tag(w.x, first + i), 7);
            ck_assert_msg(t.begin == 1 * MS, "model %d member %ld begins at %g", model, i,
                          t.begin);
            ck_assert(t.ready == (i == 0 ? 1 * MS : 0));
            assert_close(t.end, 1 * MS + coll, 1e-9);
        }
        cs_op_times ta = cs_exec_times(w.x, after);
        assert_close(ta.begin, 1 * MS + coll, 1e-9);
        assert_close(cs_exec_makespan(w.x), 1.1 * MS + coll, 1e-9);
        close_world(&w);
    }
}
END_TEST

/* A collective on a communication stream overlaps compute on stream 0; two
 * collectives on one stream run one after the other. */
START_TEST(collectives_on_streams)
{
    world w;
    open_world(&w, CS_NET_FLOW, 2);
    long all[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    cs_coll_spec spec = {CS_COLL_ALL_GATHER, CS_ALGO_AUTO, 8, all, 32e6, NULL, 0, 0};
    double coll;
    ck_assert_int_eq(cs_collective_time(&w.f, CS_NET_FLOW, &spec, &coll, NULL), 0);
    long k = compute(&w, 4, 0, 10 * coll, 0);
    long c1 = cs_exec_collective(w.x, &spec, 1, 0);
    long c2 = cs_exec_collective(w.x, &spec, 1, 0);
    ck_assert_int_ge(c1, 0);
    ck_assert_int_ge(c2, 0);
    ck_assert_int_eq(cs_exec_run(w.x), 0);
    for (long i = 0; i < 8; i++) {
        ck_assert(cs_exec_times(w.x, c1 + i).begin == 0);
        assert_close(cs_exec_times(w.x, c1 + i).end, coll, 1e-9);
        assert_close(cs_exec_times(w.x, c2 + i).begin, coll, 1e-9);
        assert_close(cs_exec_times(w.x, c2 + i).end, 2 * coll, 1e-9);
    }
    ck_assert(cs_exec_times(w.x, k).begin == 0);
    assert_close(cs_exec_makespan(w.x), 10 * coll, 1e-9);
    close_world(&w);
}
END_TEST

START_TEST(dependency_cycle_returns_minus_2)
{
    world w;
    open_world(&w, CS_NET_FLOW, 2);
    long a = compute(&w, 0, 0, 1 * MS, 0);
    long b = compute(&w, 1, 0, 1 * MS, 0);
    long c = compute(&w, 2, 0, 1 * MS, 0); /* independent: still runs */
    ck_assert_int_eq(cs_exec_depend(w.x, a, b), 0);
    ck_assert_int_eq(cs_exec_depend(w.x, b, a), 0);
    ck_assert_int_eq(cs_exec_run(w.x), -2);
    ck_assert(cs_exec_times(w.x, c).end == 1 * MS);
    close_world(&w);

    /* An op that depends on an op behind it on its own stream. */
    open_world(&w, CS_NET_FLOW, 1);
    a = compute(&w, 0, 0, 1 * MS, 0);
    b = compute(&w, 0, 0, 1 * MS, 0);
    ck_assert_int_eq(cs_exec_depend(w.x, b, a), 0);
    ck_assert_int_eq(cs_exec_run(w.x), -2);
    close_world(&w);

    /* Two collectives whose members wait on each other: GPU 0 runs C1 then
     * C2, but C1's member on GPU 1 waits for C2's member on GPU 0. */
    open_world(&w, CS_NET_FLOW, 1);
    long pair[2] = {0, 1};
    cs_coll_spec spec = {CS_COLL_ALL_REDUCE, CS_ALGO_RING, 2, pair, 1e6, NULL, 0, 0};
    long c1 = cs_exec_collective(w.x, &spec, 0, 0);
    long c2 = cs_exec_collective(w.x, &spec, 0, 0);
    ck_assert_int_eq(cs_exec_depend(w.x, c2 + 0, c1 + 1), 0);
    ck_assert_int_eq(cs_exec_run(w.x), -2);
    close_world(&w);
}
END_TEST

/* The host issues faster than the GPU runs: the GPU never waits but for the
 * first launch. Slower: every op starts when the host has issued it. */
START_TEST(host_bound_and_gpu_bound)
{
    world w;
    open_world(&w, CS_NET_FLOW, 1);
    long ids[10];
    for (int i = 0; i < 10; i++) {
        ids[i] = compute(&w, 0, 0, 1 * MS, 0);
        ck_assert_int_eq(cs_exec_host(w.x, ids[i], 0.1 * MS, 0.1 * MS), 0);
    }
    ck_assert_int_eq(cs_exec_run(w.x), 0);
    assert_close(cs_exec_times(w.x, ids[0]).begin, 0.1 * MS, 1e-12);
    assert_close(cs_exec_makespan(w.x), 0.1 * MS + 10 * MS, 1e-9);
    close_world(&w);

    open_world(&w, CS_NET_FLOW, 1);
    for (int i = 0; i < 10; i++) {
        ids[i] = compute(&w, 0, 0, 1 * MS, 0);
        ck_assert_int_eq(cs_exec_host(w.x, ids[i], 2 * MS, 2 * MS), 0);
    }
    ck_assert_int_eq(cs_exec_run(w.x), 0);
    for (int i = 0; i < 10; i++) {
        assert_close(cs_exec_times(w.x, ids[i]).begin, 2 * (i + 1) * MS, 1e-9);
        assert_close(cs_exec_times(w.x, ids[i]).end, (2 * (i + 1) + 1) * MS, 1e-9);
    }
    close_world(&w);
}
END_TEST

/* An op of several kernels starts with its first launch and ends no sooner
 * than its last; zero host costs change nothing. */
START_TEST(host_op_spans_its_launches)
{
    world w;
    open_world(&w, CS_NET_FLOW, 1);
    long a = compute(&w, 0, 0, 0.5 * MS, 0);
    ck_assert_int_eq(cs_exec_host(w.x, a, 3 * MS, 1 * MS), 0);
    ck_assert_int_eq(cs_exec_run(w.x), 0);
    assert_close(cs_exec_times(w.x, a).begin, 1 * MS, 1e-12);
    assert_close(cs_exec_times(w.x, a).end, 3 * MS, 1e-12);
    close_world(&w);

    open_world(&w, CS_NET_FLOW, 2);
    long b = compute(&w, 0, 0, 1 * MS, 0), c = compute(&w, 0, 1, 2 * MS, 0);
    ck_assert_int_eq(cs_exec_host(w.x, b, 0, 0), 0);
    ck_assert_int_eq(cs_exec_host(w.x, c, 0, 0), 0);
    ck_assert_int_eq(cs_exec_run(w.x), 0);
    ck_assert(cs_exec_times(w.x, b).begin == 0 && cs_exec_times(w.x, c).begin == 0);
    ck_assert(cs_exec_times(w.x, c).end == 2 * MS);
    close_world(&w);
}
END_TEST

/* After a sync the host issues nothing until the synced op has ended, even
 * on another stream; other GPUs' hosts go on. */
START_TEST(host_sync_holds_later_ops)
{
    world w;
    open_world(&w, CS_NET_FLOW, 2);
    long a = compute(&w, 0, 0, 5 * MS, 0);
    long b = compute(&w, 0, 1, 1 * MS, 0);
    long c = compute(&w, 1, 1, 1 * MS, 0);
    ck_assert_int_eq(cs_exec_host(w.x, a, 1 * MS, 1 * MS), 0);
    ck_assert_int_eq(cs_exec_host_sync(w.x, a), 0);
    ck_assert_int_eq(cs_exec_host(w.x, b, 1 * MS, 1 * MS), 0);
    ck_assert_int_eq(cs_exec_host(w.x, c, 1 * MS, 1 * MS), 0);
    ck_assert_int_eq(cs_exec_run(w.x), 0);
    assert_close(cs_exec_times(w.x, a).end, 6 * MS, 1e-12);
    assert_close(cs_exec_times(w.x, b).begin, 7 * MS, 1e-12);
    assert_close(cs_exec_times(w.x, c).begin, 1 * MS, 1e-12);
    close_world(&w);

    /* A collective member is issued like any op: the group starts when the
     * last host has issued its member. */
    open_world(&w, CS_NET_FLOW, 1);
    long pair[2] = {0, 1};
    cs_coll_spec spec = {CS_COLL_ALL_REDUCE, CS_ALGO_RING, 2, pair, 1e6, NULL, 0, 0};
    long k = cs_exec_collective(w.x, &spec, 0, 0);
    ck_assert_int_eq(cs_exec_host(w.x, k, 1 * MS, 1 * MS), 0);
    ck_assert_int_eq(cs_exec_host(w.x, k + 1, 3 * MS, 3 * MS), 0);
    ck_assert_int_eq(cs_exec_run(w.x), 0);
    assert_close(cs_exec_times(w.x, k).begin, 3 * MS, 1e-12);
    close_world(&w);
}
END_TEST

START_TEST(host_marks_in_order)
{
    world w;
    open_world(&w, CS_NET_FLOW, 1);
    long a = compute(&w, 0, 0, 1 * MS, 0), b = compute(&w, 0, 0, 1 * MS, 0);
    ck_assert_int_eq(cs_exec_host(w.x, b, 1 * MS, 0), 0);
    ck_assert_int_eq(cs_exec_host(w.x, a, 1 * MS, 0), -1); /* behind b */
    ck_assert_int_eq(cs_exec_host(w.x, b, 1 * MS, 0), -1); /* twice */
    ck_assert_int_eq(cs_exec_host_sync(w.x, a), -1);       /* not marked */
    long c = compute(&w, 0, 0, 1 * MS, 0);
    ck_assert_int_eq(cs_exec_host(w.x, c, 1 * MS, 2 * MS), -1); /* first > seconds */
    ck_assert_int_eq(cs_exec_host(w.x, c, 1 * MS, 0), 0);
    ck_assert_int_eq(cs_exec_host_sync(w.x, b), 0);        /* after c: waits for b */
    ck_assert_int_eq(cs_exec_host_sync(w.x, b), -1);       /* before that sync point */
    close_world(&w);
}
END_TEST

/* The host waits at a point after the op it reads: what it issued before
 * that point runs meanwhile; it goes on when both the op has ended and it
 * has reached the point. */
START_TEST(host_sync_after_later_launches)
{
    world w;
    open_world(&w, CS_NET_FLOW, 1);
    long a = compute(&w, 0, 0, 1 * MS, 0), b = compute(&w, 0, 0, 1 * MS, 0);
    long c = compute(&w, 0, 0, 1 * MS, 0);
    ck_assert_int_eq(cs_exec_host(w.x, a, 0.5 * MS, 0.5 * MS), 0);
    ck_assert_int_eq(cs_exec_host(w.x, b, 0.5 * MS, 0.5 * MS), 0);
    ck_assert_int_eq(cs_exec_host_sync(w.x, a), 0);
    ck_assert_int_eq(cs_exec_host(w.x, c, 0.5 * MS, 0.5 * MS), 0);
    ck_assert_int_eq(cs_exec_run(w.x), 0);
    /* a 0.5-1.5; b issued at 1.0, runs 1.5-2.5; host goes on at 1.5, c
     * issued at 2.0, runs after b: 2.5-3.5. */
    assert_close(cs_exec_times(w.x, b).begin, 1.5 * MS, 1e-12);
    assert_close(cs_exec_times(w.x, c).begin, 2.5 * MS, 1e-12);
    close_world(&w);

    /* The host reaches its point after the op ended: it goes on from there. */
    open_world(&w, CS_NET_FLOW, 2);
    a = compute(&w, 0, 0, 0.1 * MS, 0);
    b = compute(&w, 0, 1, 5 * MS, 0);
    c = compute(&w, 0, 0, 1 * MS, 0);
    ck_assert_int_eq(cs_exec_host(w.x, a, 0.1 * MS, 0.1 * MS), 0);
    ck_assert_int_eq(cs_exec_host(w.x, b, 2 * MS, 2 * MS), 0);
    ck_assert_int_eq(cs_exec_host_sync(w.x, a), 0);
    ck_assert_int_eq(cs_exec_host(w.x, c, 1 * MS, 1 * MS), 0);
    ck_assert_int_eq(cs_exec_run(w.x), 0);
    assert_close(cs_exec_times(w.x, c).begin, 3.1 * MS, 1e-12);
    close_world(&w);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("exec");
    TCase *t = tcase_create("exec");
    tcase_add_test(t, one_stream_serializes);
    tcase_add_test(t, different_streams_overlap);
    tcase_add_test(t, cross_gpu_dependency_delays);
    tcase_add_test(t, collective_waits_for_last_member);
    tcase_add_test(t, collectives_on_streams);
    tcase_add_test(t, dependency_cycle_returns_minus_2);
    tcase_add_test(t, host_bound_and_gpu_bound);
    tcase_add_test(t, host_op_spans_its_launches);
    tcase_add_test(t, host_sync_holds_later_ops);
    tcase_add_test(t, host_marks_in_order);
    tcase_add_test(t, host_sync_after_later_launches);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
