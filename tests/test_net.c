/* The fabric's routes and point-to-point transfers on the net: closed forms
 * on idle and shared links, and route structure for every topology (the
 * rate solver itself: test_maxmin.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/engine.h"
#include "net/fabric.h"
#include "net/maxmin.h"
#include "net/net.h"
#include "testutil.h"

/* The test cluster: scale-up 100 GB/s x 0.8 with 2 us, NICs 200 Gb/s x 0.9
 * with 5 us. Computed the way the fabric does (line rate x efficiency). */
#define UP_BW (100e9 * 0.8)
#define UP_LAT 2e-6
#define NIC_BW (25e9 * 0.9)
#define OUT_LAT 5e-6

#define REL 1e-9

typedef struct topo {
    long nodes, gpn, nics;
    const char *kind;     /* switch | mesh */
    const char *topology; /* fat_tree | rail_optimized */
    double oversub;
    long radix;
} topo;

static void load_cluster(const topo *t, cs_cluster *c)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "{ name: t, gpu: {peak_compute: 100 TFLOP/s, memory: 80 GB, "
             "memory_bandwidth: 2 TB/s}, nodes: %ld, gpus_per_node: %ld, "
             "scale_up: {kind: %s, bandwidth: 100 GB/s, latency: 2 us, efficiency: 0.8}, "
             "scale_out: {nics_per_node: %ld, nic_bandwidth: 200 Gb/s, latency: 5 us, "
             "efficiency: 0.9, topology: %s, oversubscription: %g, leaf_radix: %ld} }\n",
             t->nodes, t->gpn, t->kind, t->nics, t->topology, t->oversub, t->radix);
    const char *path = tu_write("cluster.yaml", yaml);
    cs_sources src = {0};
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_cluster_load(path, &tu_paths, &src, c, &d);
    if (rc != 0)
        cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    cs_sources_free(&src);
    ck_assert_int_eq(rc, 0);
}

static void make_fabric(const topo *t, cs_fabric *f)
{
    cs_cluster c;
    load_cluster(t, &c);
    ck_assert_int_eq(cs_fabric_init(f, &c), 0);
}

/* 2 nodes x 4 GPUs, 4 NICs, one fat-tree leaf: the example cluster. */
static const topo small_switch = {2, 4, 4, "switch", "fat_tree", 1, 64};

/* ---- a net with a log of completion times ------------------------------- */

#define MAXF 64

typedef struct sim {
    cs_engine *e;
    cs_net *n;
    double t[MAXF];
    int done;
} sim;

static void sim_open(sim *s, const cs_fabric *f, cs_network_model model)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < MAXF; i++)
        s->t[i] = -1;
    s->e = cs_engine_create();
    ck_assert_ptr_nonnull(s->e);
    s->n = cs_net_create(s->e, f, model);
    ck_assert_ptr_nonnull(s->n);
}

static void sim_close(sim *s)
{
    cs_net_destroy(s->n);
    cs_engine_destroy(s->e);
}

static void note(void *ctx, long arg)
{
    sim *s = ctx;
    ck_assert_msg(s->t[arg] < 0, "transfer %ld completed twice", arg);
    s->t[arg] = cs_engine_now(s->e);
    s->done++;
}

static void send(sim *s, long src, long dst, double bytes, long id)
{
    ck_assert_int_eq(cs_net_send(s->n, src, dst, bytes, note, s, id), 0);
}

/* Time of one transfer alone on an idle fabric. */
static double one_flow(const cs_fabric *f, cs_network_model model, long src, long dst,
                       double bytes)
{
    sim s;
    sim_open(&s, f, model);
    send(&s, src, dst, bytes, 0);
    cs_engine_run(s.e);
    ck_assert_int_eq(s.done, 1);
    double t = s.t[0];
    ck_assert(cs_net_bytes_delivered(s.n) == bytes);
    ck_assert_uint_eq(cs_net_transfers(s.n), 1);
    sim_close(&s);
    return t;
}

/* ---- 1. one flow on an idle route ---------------------------------------- */

START_TEST(one_flow_intra_node_switch)
{
    cs_fabric f;
    make_fabric(&small_switch, &f);
    double S = 64e6;
    assert_close(one_flow(&f, CS_NET_FLOW, 0, 1, S), UP_LAT + S / UP_BW, REL);
    assert_close(one_flow(&f, CS_NET_FLOW, 7, 4, S), UP_LAT + S / UP_BW, REL);
    assert_close(one_flow(&f, CS_NET_ANALYTIC, 0, 1, S), UP_LAT + S / UP_BW, REL);
    /* The ideal model and degenerate transfers arrive at once. */
    ck_assert(one_flow(&f, CS_NET_IDEAL, 0, 1, S) == 0);
    ck_assert(one_flow(&f, CS_NET_FLOW, 3, 3, S) == 0);
    ck_assert(one_flow(&f, CS_NET_FLOW, 0, 1, 0) == 0);
    cs_fabric_free(&f);
}
END_TEST

START_TEST(one_flow_inter_node)
{
    cs_fabric f;
    make_fabric(&small_switch, &f);
    double S = 64e6;
    assert_close(one_flow(&f, CS_NET_FLOW, 0, 4, S), OUT_LAT + S / NIC_BW, REL);
    assert_close(one_flow(&f, CS_NET_FLOW, 6, 1, S), OUT_LAT + S / NIC_BW, REL);
    assert_close(one_flow(&f, CS_NET_ANALYTIC, 0, 4, S), OUT_LAT + S / NIC_BW, REL);
    /* GPU 0's NIC, sending: the first NIC link, at the NIC rate. */
    long links[CS_ROUTE_MAX];
    double lat;
    int k = cs_fabric_route(&f, 0, 4, links, &lat);
    ck_assert_int_ge(k, 2);
    ck_assert(f.capacity[links[0]] == NIC_BW);
    cs_fabric_free(&f);
}
END_TEST

START_TEST(one_flow_mesh_link)
{
    static const topo mesh = {2, 4, 4, "mesh", "fat_tree", 1, 64};
    cs_fabric f;
    make_fabric(&mesh, &f);
    double S = 64e6, link = UP_BW / 3; /* bandwidth / (gpus_per_node - 1) */
    for (long i = 0; i < 4; i++)
        ck_assert(f.capacity[i] == link);
    assert_close(one_flow(&f, CS_NET_FLOW, 0, 3, S), UP_LAT + S / link, REL);
    assert_close(one_flow(&f, CS_NET_FLOW, 5, 4, S), UP_LAT + S / link, REL);
    assert_close(one_flow(&f, CS_NET_ANALYTIC, 2, 1, S), UP_LAT + S / link, REL);
    /* Between nodes a mesh cluster still goes through its NICs. */
    assert_close(one_flow(&f, CS_NET_FLOW, 1, 6, S), OUT_LAT + S / NIC_BW, REL);
    cs_fabric_free(&f);
}
END_TEST

/* A mesh's GPUs send to several peers at full link rate each at once: the
 * links are separate, so three flows out of one GPU do not share. */
START_TEST(mesh_links_are_independent)
{
    static const topo mesh = {1, 4, 4, "mesh", "fat_tree", 1, 64};
    cs_fabric f;
    make_fabric(&mesh, &f);
    double S = 8e6, link = UP_BW / 3;
    sim s;
    sim_open(&s, &f, CS_NET_FLOW);
    for (long d = 1; d < 4; d++)
        send(&s, 0, d, S, d);
    cs_engine_run(s.e);
    for (long d = 1; d < 4; d++)
        assert_close(s.t[d], UP_LAT + S / link, REL);
    sim_close(&s);
    cs_fabric_free(&f);
}
END_TEST

/* ---- 2. route structure -------------------------------------------------- */

static int route(const cs_fabric *f, long a, long b, long links[CS_ROUTE_MAX], double *lat)
{
    int n = cs_fabric_route(f, a, b, links, lat);
    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, CS_ROUTE_MAX);
    return n;
}

/* Every route: links in range, none twice, deterministic, and its latency the
 * sum over its links and equal to its class's latency. */
static void check_all_routes(const cs_fabric *f)
{
    for (long a = 0; a < f->gpus; a++)
        for (long b = 0; b < f->gpus; b++) {
            if (a == b)
                continue;
            long l1[CS_ROUTE_MAX], l2[CS_ROUTE_MAX];
            double lat1, lat2;
            int n1 = route(f, a, b, l1, &lat1);
            int n2 = route(f, a, b, l2, &lat2);
            ck_assert_int_eq(n1, n2);
            ck_assert(lat1 == lat2);
            double sum = 0;
            for (int i = 0; i < n1; i++) {
                ck_assert_int_eq(l1[i], l2[i]);
                ck_assert_msg(l1[i] >= 0 && l1[i] < f->link_count,
                              "route %ld->%ld link %ld out of %ld", a, b, l1[i], f->link_count);
                for (int j = 0; j < i; j++)
                    ck_assert_msg(l1[i] != l1[j], "route %ld->%ld uses link %ld twice", a, b,
                                  l1[i]);
                sum += f->latency[l1[i]];
            }
            ck_assert(sum == lat1);
            int same_node = cs_fabric_node_of(f, a) == cs_fabric_node_of(f, b);
            assert_close(lat1, same_node ? UP_LAT : OUT_LAT, 1e-12);
        }
}

static int count_class(const cs_fabric *f, const long *links, int n, cs_link_class k)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += f->klass[links[i]] == k;
    return c;
}

START_TEST(routes_switch_and_mesh_inside_a_node)
{
    cs_fabric f;
    long l[CS_ROUTE_MAX];
    double lat;
    make_fabric(&small_switch, &f);
    for (long a = 0; a < 4; a++)
        for (long b = 0; b < 4; b++) {
            if (a == b)
                continue;
            ck_assert_int_eq(route(&f, a, b, l, &lat), 2);
            ck_assert_int_eq(count_class(&f, l, 2, CS_LINK_SCALE_UP), 2);
            ck_assert(f.capacity[l[0]] == UP_BW && f.capacity[l[1]] == UP_BW);
            assert_close(lat, UP_LAT, 1e-12);
        }
    /* Two senders to one GPU share its downlink, not their uplinks. */
    long m[CS_ROUTE_MAX];
    route(&f, 0, 2, l, &lat);
    route(&f, 1, 2, m, &lat);
    ck_assert_int_ne(l[0], m[0]);
    ck_assert_int_eq(l[1], m[1]);
    check_all_routes(&f);
    cs_fabric_free(&f);

    static const topo mesh = {2, 4, 4, "mesh", "fat_tree", 1, 64};
    make_fabric(&mesh, &f);
    long seen[64] = {0};
    for (long a = 0; a < 4; a++)
        for (long b = 0; b < 4; b++) {
            if (a == b)
                continue;
            ck_assert_int_eq(route(&f, a, b, l, &lat), 1);
            ck_assert_int_eq(f.klass[l[0]], CS_LINK_SCALE_UP);
            assert_close(lat, UP_LAT, 1e-12);
            /* One link per ordered pair: no two pairs share. */
            ck_assert_int_lt(l[0], 64);
            ck_assert_int_eq(seen[l[0]]++, 0);
        }
    check_all_routes(&f);
    cs_fabric_free(&f);
}
END_TEST

START_TEST(routes_fat_tree_same_leaf_and_across_leaves)
{
    cs_fabric f;
    long l[CS_ROUTE_MAX];
    double lat;
    /* One leaf: NIC up, NIC down. */
    make_fabric(&small_switch, &f);
    ck_assert_int_eq(f.leaves, 1);
    for (long a = 0; a < 4; a++)
        for (long b = 4; b < 8; b++) {
            ck_assert_int_eq(route(&f, a, b, l, &lat), 2);
            ck_assert_int_eq(count_class(&f, l, 2, CS_LINK_NIC), 2);
            ck_assert(f.capacity[l[0]] == NIC_BW && f.capacity[l[1]] == NIC_BW);
            assert_close(lat, OUT_LAT, 1e-12);
        }
    /* Same sender NIC for GPU 0 to any remote GPU; same receiver NIC for
     * any sender to GPU 5. */
    long m[CS_ROUTE_MAX];
    route(&f, 0, 4, l, &lat);
    route(&f, 0, 7, m, &lat);
    ck_assert_int_eq(l[0], m[0]);
    ck_assert_int_ne(l[1], m[1]);
    check_all_routes(&f);
    cs_fabric_free(&f);

    /* leaf_radix 4: two NICs per leaf. With one NIC per node, nodes 0-1 share
     * leaf 0 and nodes 2-3 leaf 1. */
    static const topo leaves = {4, 2, 1, "switch", "fat_tree", 2, 4};
    make_fabric(&leaves, &f);
    ck_assert_int_eq(f.leaves, 2);
    ck_assert_int_eq(f.gpus_per_nic, 2);
    ck_assert_int_eq(route(&f, 0, 2, l, &lat), 2); /* node 0 -> node 1, same leaf */
    ck_assert_int_eq(count_class(&f, l, 2, CS_LINK_NIC), 2);
    ck_assert_int_eq(route(&f, 1, 4, l, &lat), 4); /* node 0 -> node 2, across */
    ck_assert_int_eq(f.klass[l[0]], CS_LINK_NIC);
    ck_assert_int_eq(f.klass[l[1]], CS_LINK_SPINE);
    ck_assert_int_eq(f.klass[l[2]], CS_LINK_SPINE);
    ck_assert_int_eq(f.klass[l[3]], CS_LINK_NIC);
    /* Spine links carry NIC bandwidth / oversubscription and add no latency. */
    ck_assert(f.capacity[l[1]] == NIC_BW / 2 && f.capacity[l[2]] == NIC_BW / 2);
    assert_close(lat, OUT_LAT, 1e-12);
    check_all_routes(&f);
    cs_fabric_free(&f);

    /* Several leaves, several NICs per node: 4 nodes x 4 NICs over 8 leaves. */
    static const topo many = {4, 4, 4, "switch", "fat_tree", 1, 4};
    make_fabric(&many, &f);
    ck_assert_int_eq(f.leaves, 8);
    ck_assert_int_eq(route(&f, 0, 4, l, &lat), 4);
    ck_assert_int_eq(count_class(&f, l, 4, CS_LINK_SPINE), 2);
    check_all_routes(&f);
    cs_fabric_free(&f);
}
END_TEST

START_TEST(routes_rail_optimized)
{
    cs_fabric f;
    long l[CS_ROUTE_MAX], m[CS_ROUTE_MAX];
    double lat;
    static const topo rails = {4, 4, 4, "switch", "rail_optimized", 1, 64};
    make_fabric(&rails, &f);
    ck_assert_int_eq(f.leaves, 4); /* one leaf per rail */
    /* Same rail (local index 1 on nodes 0 and 2): NIC up, NIC down. */
    ck_assert_int_eq(route(&f, 1, 9, l, &lat), 2);
    ck_assert_int_eq(count_class(&f, l, 2, CS_LINK_NIC), 2);
    assert_close(lat, OUT_LAT, 1e-12);
    /* Different rails: NIC, leaf -> spine, spine -> leaf, NIC. */
    ck_assert_int_eq(route(&f, 1, 10, l, &lat), 4);
    ck_assert_int_eq(f.klass[l[0]], CS_LINK_NIC);
    ck_assert_int_eq(f.klass[l[1]], CS_LINK_SPINE);
    ck_assert_int_eq(f.klass[l[2]], CS_LINK_SPINE);
    ck_assert_int_eq(f.klass[l[3]], CS_LINK_NIC);
    assert_close(lat, OUT_LAT, 1e-12);
    /* Same NIC out as the same-rail route. */
    route(&f, 1, 9, m, &lat);
    ck_assert_int_eq(l[0], m[0]);
    check_all_routes(&f);
    cs_fabric_free(&f);

    /* More nodes than a leaf has ports: several leaves per rail. Same rail on
     * different leaf groups crosses a spine too. */
    static const topo groups = {4, 2, 2, "switch", "rail_optimized", 1, 4};
    make_fabric(&groups, &f);
    ck_assert_int_eq(f.leaves, 4);
    ck_assert_int_eq(route(&f, 0, 2, l, &lat), 2);  /* rail 0, nodes 0 and 1 */
    ck_assert_int_eq(route(&f, 0, 4, l, &lat), 4);  /* rail 0, nodes 0 and 2 */
    ck_assert_int_eq(route(&f, 0, 3, l, &lat), 4);  /* rail 0 -> rail 1 */
    check_all_routes(&f);
    cs_fabric_free(&f);

    /* The shipped DGX H100 preset, 4 nodes. */
    cs_cluster c;
    cs_sources src = {0};
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_cluster_load("dgx-h100", &tu_paths, &src, &c, &d), 0);
    cs_diags_free(&d);
    cs_sources_free(&src);
    c.nodes = 4;
    ck_assert_int_eq(cs_fabric_init(&f, &c), 0);
    ck_assert_int_eq(route(&f, 3, 11, l, &lat), 2);
    ck_assert_int_eq(route(&f, 3, 12, l, &lat), 4);
    for (long a = 0; a < f.gpus; a++)
        for (long b = 0; b < f.gpus; b++)
            if (a != b) {
                int n = route(&f, a, b, l, &lat);
                for (int i = 0; i < n; i++)
                    ck_assert(l[i] >= 0 && l[i] < f.link_count);
            }
    cs_fabric_free(&f);
}
END_TEST

/* ---- 3. sharing ---------------------------------------------------------- */

START_TEST(two_flows_share_a_downlink)
{
    cs_fabric f;
    make_fabric(&small_switch, &f);
    double S = 16e6;
    sim s;
    sim_open(&s, &f, CS_NET_FLOW);
    send(&s, 0, 2, S, 0);
    send(&s, 1, 2, S, 1);
    cs_engine_run(s.e);
    assert_close(s.t[0], UP_LAT + 2 * S / UP_BW, REL);
    assert_close(s.t[1], UP_LAT + 2 * S / UP_BW, REL);
    ck_assert(cs_net_bytes_delivered(s.n) == 2 * S);
    sim_close(&s);

    /* The same two between nodes share the receiving NIC. */
    sim_open(&s, &f, CS_NET_FLOW);
    send(&s, 0, 5, S, 0);
    send(&s, 1, 5, S, 1);
    cs_engine_run(s.e);
    assert_close(s.t[0], OUT_LAT + 2 * S / NIC_BW, REL);
    assert_close(s.t[1], OUT_LAT + 2 * S / NIC_BW, REL);
    sim_close(&s);

    /* Analytic mode ignores contention. */
    sim_open(&s, &f, CS_NET_ANALYTIC);
    send(&s, 0, 2, S, 0);
    send(&s, 1, 2, S, 1);
    cs_engine_run(s.e);
    assert_close(s.t[1], UP_LAT + S / UP_BW, REL);
    sim_close(&s);
    cs_fabric_free(&f);
}
END_TEST

START_TEST(finished_flow_frees_bandwidth)
{
    cs_fabric f;
    make_fabric(&small_switch, &f);
    double S = 16e6;
    sim s;
    sim_open(&s, &f, CS_NET_FLOW);
    send(&s, 0, 2, S, 0);
    send(&s, 1, 2, 2 * S, 1);
    cs_engine_run(s.e);
    /* Both at B/2 until the small one ends at 2S/B; the other has S left at B. */
    assert_close(s.t[0], UP_LAT + 2 * S / UP_BW, REL);
    assert_close(s.t[1], UP_LAT + 3 * S / UP_BW, REL);
    sim_close(&s);

    /* Three flows of S, 2S and 4S into one GPU: n-way sharing, then less. */
    sim_open(&s, &f, CS_NET_FLOW);
    send(&s, 0, 3, S, 0);
    send(&s, 1, 3, 2 * S, 1);
    send(&s, 2, 3, 4 * S, 2);
    cs_engine_run(s.e);
    assert_close(s.t[0], UP_LAT + 3 * S / UP_BW, REL);         /* S at B/3 */
    assert_close(s.t[1], UP_LAT + (3 * S + 2 * S) / UP_BW, REL); /* then S at B/2 */
    assert_close(s.t[2], UP_LAT + 7 * S / UP_BW, REL);          /* total work 7S at B */
    sim_close(&s);
    cs_fabric_free(&f);
}
END_TEST

/* A flow that starts while another runs takes its share from then on. */
typedef struct later {
    sim *s;
    long src, dst, id;
    double bytes;
} later;

static void send_later(void *ctx, long arg, uint64_t tag)
{
    (void)arg;
    (void)tag;
    later *l = ctx;
    send(l->s, l->src, l->dst, l->bytes, l->id);
}

START_TEST(late_flow_joins)
{
    cs_fabric f;
    make_fabric(&small_switch, &f);
    double S = 16e6, T = S / (2 * UP_BW);
    sim s;
    sim_open(&s, &f, CS_NET_FLOW);
    later y = {&s, 1, 2, 1, S};
    send(&s, 0, 2, 2 * S, 0);
    ck_assert_int_eq(cs_engine_at(s.e, T, send_later, &y, 0, 0), 0);
    cs_engine_run(s.e);
    /* X alone moves S/2 by T + latency; then both at B/2 until Y's S is in;
     * X's last S/2 at B. The link never idles: X ends after 3S of work. */
    assert_close(s.t[1], T + UP_LAT + 2 * S / UP_BW, REL);
    assert_close(s.t[0], UP_LAT + 3 * S / UP_BW, REL);
    sim_close(&s);
    cs_fabric_free(&f);
}
END_TEST

/* Chains a new transfer from the completion of another. */
typedef struct chain {
    sim *s;
    long src, dst;
    double bytes;
    long id;
} chain;

static void chained(void *ctx, long arg)
{
    chain *c = ctx;
    note(c->s, arg);
    send(c->s, c->src, c->dst, c->bytes, c->id);
}

/* A flow whose rate went up leaves its superseded completion event in the
 * queue; when its slot is reused by a later flow, that stale event must not
 * end the new flow. A (1 MB) and B (3 MB) share GPU 2's downlink; A ends,
 * B speeds up and ends; B's completion sends C (8 MB) over other links. C
 * alone on its route takes exactly latency + size / bandwidth. */
START_TEST(reused_flow_slot_ignores_stale_events)
{
    cs_fabric f;
    make_fabric(&small_switch, &f);
    double a = 1e6, b = 3e6, c = 8e6;
    sim s;
    sim_open(&s, &f, CS_NET_FLOW);
    chain next = {&s, 3, 0, c, 2};
    send(&s, 0, 2, a, 0);
    ck_assert_int_eq(cs_net_send(s.n, 1, 2, b, chained, &next, 1), 0);
    cs_engine_run(s.e);
    ck_assert_int_eq(s.done, 3);
    assert_close(s.t[0], UP_LAT + 2 * a / UP_BW, REL);
    assert_close(s.t[1], UP_LAT + (a + b) / UP_BW, REL);
    assert_close(s.t[2], s.t[1] + UP_LAT + c / UP_BW, REL);
    sim_close(&s);
    cs_fabric_free(&f);
}
END_TEST

/* Several rounds of contention with slot reuse: a chain of transfers into
 * one GPU, each started when the previous one ends, next to a long flow that
 * shares the downlink. Bytes and transfer counts add up; every transfer of
 * the chain ends after its predecessor. */
typedef struct relay {
    sim *s;
    int left;
    double bytes;
} relay;

static void relay_done(void *ctx, long arg)
{
    relay *r = ctx;
    note(r->s, arg);
    if (r->left-- > 0)
        ck_assert_int_eq(cs_net_send(r->s->n, arg % 2 ? 0 : 1, 2, r->bytes, relay_done, r,
                                     arg + 1),
                         0);
}

START_TEST(relay_with_contention)
{
    cs_fabric f;
    make_fabric(&small_switch, &f);
    double S = 1e6, big = 40e6;
    sim s;
    sim_open(&s, &f, CS_NET_FLOW);
    relay r = {&s, 9, S};
    send(&s, 3, 2, big, 0);
    ck_assert_int_eq(cs_net_send(s.n, 0, 2, S, relay_done, &r, 1), 0);
    cs_engine_run(s.e);
    ck_assert_int_eq(s.done, 11);
    /* Each relay transfer: latency, then S at B/2 beside the big flow. */
    for (int i = 1; i <= 10; i++)
        assert_close(s.t[i], i * (UP_LAT + 2 * S / UP_BW), 1e-9);
    /* The big flow runs from its latency on and the downlink never idles
     * (during the relays' latency gaps it has the link alone): it ends once
     * the link has carried its bytes and the relays'. */
    assert_close(s.t[0], UP_LAT + (big + 10 * S) / UP_BW, 1e-9);
    ck_assert(cs_net_bytes_delivered(s.n) == big + 10 * S);
    ck_assert_uint_eq(cs_net_transfers(s.n), 11);
    sim_close(&s);
    cs_fabric_free(&f);
}
END_TEST


/* ---- bundles (an all-to-all's pairs moving together) ------------------------------- */

static void bundle(sim *s, const long *src, const long *dst, const double *bytes, long n, long id)
{
    ck_assert_int_eq(cs_net_send_bundle(s->n, src, dst, bytes, n, note, s, id), 0);
}

/* Alone, a bundle takes its most loaded link's bytes / capacity: here the
 * NIC pair of 0 -> 5 (2b), not the scale-up link into GPU 1 that two pairs
 * share (2b at four times the rate). It delivers every byte, once. */
START_TEST(bundle_alone_takes_its_busiest_link)
{
    cs_fabric f;
    make_fabric(&small_switch, &f);
    double b = 8e6;
    long src[3] = {0, 0, 2}, dst[3] = {1, 5, 1};
    double bytes[3] = {b, 2 * b, b};
    for (int model = CS_NET_ANALYTIC; model <= CS_NET_FLOW; model++) {
        sim s;
        sim_open(&s, &f, (cs_network_model)model);
        bundle(&s, src, dst, bytes, 3, 0);
        cs_engine_run(s.e);
        ck_assert_int_eq(s.done, 1);
        assert_close(s.t[0], 2 * b / NIC_BW, 1e-12);
        ck_assert(cs_net_bytes_delivered(s.n) == 4 * b);
        sim_close(&s);
    }
    cs_fabric_free(&f);
}
END_TEST

/* A bundle of one pair is a plain transfer, to the bit. */
START_TEST(bundle_of_one_pair_is_a_transfer)
{
    cs_fabric f;
    make_fabric(&small_switch, &f);
    long src = 1, dst = 6;
    double bytes = 3e6 + 1;
    sim a, p;
    sim_open(&a, &f, CS_NET_FLOW);
    sim_open(&p, &f, CS_NET_FLOW);
    bundle(&a, &src, &dst, &bytes, 1, 0);
    ck_assert_int_eq(cs_net_send_over(p.n, src, dst, -1, bytes, note, &p, 0), 0);
    cs_engine_run(a.e);
    cs_engine_run(p.e);
    ck_assert(a.t[0] == p.t[0] && a.t[0] > 0);
    sim_close(&a);
    sim_close(&p);
    cs_fabric_free(&f);
}
END_TEST

/* Under contention a bundle counts as its pairs on each link: pairs 0 -> 1
 * and 0 -> 2 (b each) and a transfer 0 -> 3 of b/2 share GPU 0's uplink
 * three ways; the transfer ends at (b/2) / (UP/3) = 1.5 b/UP, then the
 * bundle's pairs share it two ways: b/2 more each at UP/2, ending at
 * 2.5 b/UP, as three separate transfers would. */
START_TEST(bundle_shares_as_its_pairs)
{
    cs_fabric f;
    make_fabric(&small_switch, &f);
    double b = 16e6;
    long src[2] = {0, 0}, dst[2] = {1, 2};
    double bytes[2] = {b, b};
    sim s;
    sim_open(&s, &f, CS_NET_FLOW);
    bundle(&s, src, dst, bytes, 2, 0);
    ck_assert_int_eq(cs_net_send_over(s.n, 0, 3, -1, b / 2, note, &s, 1), 0);
    cs_engine_run(s.e);
    ck_assert_int_eq(s.done, 2);
    assert_close(s.t[1], 1.5 * b / UP_BW, 1e-12);
    assert_close(s.t[0], 2.5 * b / UP_BW, 1e-12);
    sim_close(&s);
    /* Nothing to move arrives at once. */
    sim_open(&s, &f, CS_NET_FLOW);
    double none[2] = {0, 0};
    bundle(&s, src, src, none, 2, 0);
    cs_engine_run(s.e);
    ck_assert(s.done == 1 && s.t[0] == 0);
    sim_close(&s);
    cs_fabric_free(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("net");
    TCase *t = tcase_create("idle");
    tcase_add_test(t, one_flow_intra_node_switch);
    tcase_add_test(t, bundle_alone_takes_its_busiest_link);
    tcase_add_test(t, bundle_of_one_pair_is_a_transfer);
    tcase_add_test(t, bundle_shares_as_its_pairs);
    tcase_add_test(t, one_flow_inter_node);
    tcase_add_test(t, one_flow_mesh_link);
    tcase_add_test(t, mesh_links_are_independent);
    suite_add_tcase(s, t);
    t = tcase_create("routes");
    tcase_add_test(t, routes_switch_and_mesh_inside_a_node);
    tcase_add_test(t, routes_fat_tree_same_leaf_and_across_leaves);
    tcase_add_test(t, routes_rail_optimized);
    suite_add_tcase(s, t);
    t = tcase_create("sharing");
    tcase_add_test(t, two_flows_share_a_downlink);
    tcase_add_test(t, finished_flow_frees_bandwidth);
    tcase_add_test(t, late_flow_joins);
    tcase_add_test(t, reused_flow_slot_ignores_stale_events);
    tcase_add_test(t, relay_with_contention);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
