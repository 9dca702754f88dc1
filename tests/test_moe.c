/* The MoE layer's own work as Megatron-Core runs it, against figures worked
 * by hand: the router's FLOPs, the bytes the dispatcher permutes, the
 * allgather dispatcher's gather, flex's one row per token and rank, grouped
 * against sequential expert GEMMs, the shared experts' TP collectives and
 * their overlap with the all-to-all, padded capacity, and the loader's
 * positioned errors for switches Megatron refuses together. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/check.h"
#include "model/cost.h"
#include "model/kernels.h"
#include "model/memory.h"
#include "model/model.h"
#include "model/routing.h"
#include "net/engine.h"
#include "net/fabric.h"
#include "net/net.h"
#include "replay/replay.h"
#include "replay/workload.h"
#include "testutil.h"

/* s 4096, b 1: T = 4096 tokens; h 1024; E 64 experts of 2048, top-2. */
#define T 4096.0
#define H 1024.0
#define E 64.0
#define K 2.0
#define MODEL                                                                                      \
    "{ name: m, num_layers: 2, hidden_size: 1024, num_attention_heads: 16, "                       \
    "ffn_hidden_size: 4096, vocab_size: 0, moe: { num_experts: %d, router_topk: 2, "               \
    "ffn_hidden_size: 2048, shared_expert_ffn_hidden_size: %d } }"

typedef struct setup {
    cs_scenario s;
    cs_layout_sizes z;
    cs_shape sh;
} setup;

static void load(setup *u, int experts, int shared, const char *training, const char *layout)
{
    char model[512], yaml[2048];
    snprintf(model, sizeof model, MODEL, experts, shared);
    snprintf(yaml, sizeof yaml,
             "model: %s\ncluster: { base: dgx-h100, nodes: 1 }\n"
             "training: { seq_length: 4096, global_batch_size: 8, %s }\n"
             "network_model: flow\nlayouts:\n  - %s\n",
             model, training, layout);
    tu_load_checked(yaml, &u->s, &u->z);
    cs_shape_init(&u->sh, &u->s.model, &u->s.training, &u->z);
}

/* One DGX H100 without host costs, 64 experts with a shared expert of
 * 2048, one micro-batch per GPU, under `schedule`. */
static void load_hostless(setup *u, const char *training, const char *schedule)
{
    char model[512], yaml[2048];
    snprintf(model, sizeof model, MODEL, 64, 2048);
    snprintf(yaml, sizeof yaml,
             "model: %s\ncluster: { base: dgx-h100, nodes: 1, host: { launch_overhead: 0 s, "
             "op_overhead: 0 s, collective_overhead: 0 s } }\n"
             "training: { seq_length: 4096, global_batch_size: 8, schedule: %s, %s }\n"
             "layouts:\n  - { tp: 1, pp: 1, ep: 8 }\n",
             model, schedule, training);
    tu_load_checked(yaml, &u->s, &u->z);
    cs_shape_init(&u->sh, &u->s.model, &u->s.training, &u->z);
}

/* The flex scenarios: 64 experts on 2 DGX H100 nodes, global batch 16. */
static void load_two_nodes(setup *u, const char *training, const char *layout)
{
    char model[512], yaml[2048];
    snprintf(model, sizeof model, MODEL, 64, 0);
    snprintf(yaml, sizeof yaml,
             "model: %s\ncluster: { base: dgx-h100, nodes: 2 }\n"
             "training: { seq_length: 4096, global_batch_size: 16, optimizer: none, %s }\n"
             "layouts:\n  - %s\n",
             model, training, layout);
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(tu_load_scenario(yaml, &u->s, &d), 0);
    ck_assert_int_eq(cs_layout_check(&u->s, &u->s.layouts[0], &u->z, &d), 0);
    cs_diags_free(&d);
    cs_shape_init(&u->sh, &u->s.model, &u->s.training, &u->z);
}

static cs_kernel_opts opts(const setup *u, int backward)
{
    return (cs_kernel_opts){&u->s.training, u->z.recompute, u->z.attention, backward, 0, 0};
}

static const cs_kernel *find(const cs_kernel_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->k[i].name, name))
            return &l->k[i];
    ck_abort_msg("no kernel %s", name);
    return NULL;
}

static double flops(const cs_kernel_list *l)
{
    double sum = 0;
    for (int i = 0; i < l->n; i++)
        sum += l->k[i].flops;
    return sum;
}

/* Router: [T x h] . [h x E] forward, 2 T h E FLOPs per micro-batch; backward
 * its dgrad and wgrad, twice that. The aux loss adds kernels only with a
 * coefficient; sigmoid scores add the top-k normalization. */
START_TEST(router_flops_and_kernels)
{
    setup u;
    load(&u, 64, 0, "optimizer: none", "{ tp: 1, pp: 1, ep: 8, dp: 1 }");
    cs_kernel_list l;
    cs_kernel_opts f = opts(&u, 0), b = opts(&u, 1);
    cs_kernels_router(&u.sh, &f, &l);
    ck_assert(flops(&l) == 2 * T * H * E);
    const cs_kernel *g = find(&l, "router.gemm");
    ck_assert(g->m == T && g->k == H && g->n == E && !g->fp8);
    int plain = l.n;
    cs_kernels_router(&u.sh, &b, &l);
    ck_assert(flops(&l) == 2 * (2 * T * H * E));
    cs_scenario_free(&u.s);

    load(&u, 64, 0, "moe_aux_loss_coeff: 0.01, moe_router_score_function: sigmoid",
         "{ tp: 1, pp: 1, ep: 8, dp: 1 }");
    f = opts(&u, 0);
    cs_kernels_router(&u.sh, &f, &l);
    ck_assert_int_eq(l.n, plain + 2); /* the aux loss, the top-k normalization */
    find(&l, "router.sigmoid");
    find(&l, "router.aux_loss (scores, top-k, map, sums)");
    /* Group-limited routing adds group_limited_topk's nine passes over the
     * fp32 [T x E] scores and mask (24 T E bytes), and its masked_fill's
     * gradient backward (9 T E). */
    int scored = l.n;
    u.sh.router_groups = 1;
    cs_kernels_router(&u.sh, &f, &l);
    ck_assert_int_eq(l.n, scored + 1);
    const cs_kernel *gl = find(&l, "router.group_limited_topk (group scores, mask, masked_fill)");
    ck_assert(gl->bytes == 24 * T * E && gl->launches == 9 && gl->slot == CS_SLOT_CORE);
    b = opts(&u, 1);
    cs_kernels_router(&u.sh, &b, &l);
    gl = find(&l, "router.group_limited_topk.backward (masked_fill)");
    ck_assert(gl->bytes == 9 * T * E && gl->launches == 1);
    cs_scenario_free(&u.s);
}
END_TEST

/* The alltoall dispatcher's permute gathers T k rows of h 2-byte elements,
 * read and written (plus the fp32 probabilities: 4 T E read, 4 T k
 * written); the unpermute scatter-adds them back into T rows (zeroed T h,
 * T k rows read, T k rows read and written) or, fused, reads T k rows and
 * writes T. */
START_TEST(permute_bytes)
{
    for (int fused = 0; fused < 2; fused++) {
        setup u;
        load(&u, 64, 0,
             fused ? "moe_token_dispatcher_type: alltoall, moe_permute_fusion: true"
                   : "moe_token_dispatcher_type: alltoall",
             "{ tp: 1, pp: 1, ep: 8, dp: 1 }");
        cs_dispatch_rows r = {T * K, 0, T * K, 8};
        cs_kernel_list l;
        cs_kernel_opts f = opts(&u, 0);
        cs_kernels_dispatch(&u.sh, &f, &r, &l);
        const cs_kernel *p = find(&l, "dispatch.permute");
        ck_assert(p->slot == CS_SLOT_PRE);
        ck_assert(p->bytes == 2 * (2 * T * K * H) + 4 * T * E + 4 * T * K);
        const cs_kernel *un = find(&l, "combine.unpermute");
        ck_assert(un->slot == CS_SLOT_POST);
        ck_assert(un->bytes == (fused ? 2 * (T * K + T) * H : 2 * (T + 3 * T * K) * H));
        ck_assert(un->launches == (fused ? 1 : 2));
        /* Eight local experts: the received rows sorted by expert and back. */
        ck_assert(find(&l, "dispatch.sort_chunks_by_expert")->bytes ==
                  2 * (2 * T * K * H) + 8 * T * K);
        cs_scenario_free(&u.s);
    }
}
END_TEST

static void build(setup *u, cs_fabric *f, cs_engine **e, cs_net **net, cs_exec **x, cs_workload *w)
{
    ck_assert_int_eq(cs_fabric_init(f, &u->s.cluster), 0);
    *e = cs_engine_create();
    *net = cs_net_create(*e, f, CS_NET_ANALYTIC);
    *x = cs_exec_create(*net, u->z.world, CS_STREAMS);
    ck_assert_ptr_nonnull(*x);
    ck_assert_int_eq(cs_workload_build(w, *x, &u->s, &u->s.layouts[0], &u->z, 1), 0);
}

static void unbuild(setup *u, cs_fabric *f, cs_engine *e, cs_net *net, cs_exec *x, cs_workload *w)
{
    cs_workload_free(w);
    cs_exec_destroy(x);
    cs_net_destroy(net);
    cs_engine_destroy(e);
    cs_fabric_free(f);
    cs_scenario_free(&u->s);
}

/* Ops of GPU 0 of class k moving `bytes` (any when < 0). */
static int count(const cs_workload *w, const cs_exec *x, cs_op_class k, double bytes)
{
    int n = 0;
    for (long id = 0; id < w->count; id++)
        if (cs_exec_gpu(x, id) == 0 && w->info[id].klass == k &&
            (bytes < 0 || fabs(w->info[id].work - bytes) <= 1e-9 * fabs(bytes)))
            n++;
    return n;
}

/* allgather over the EP group of 4 (tp 1): each rank's T tokens gathered
 * with their fp32 probs and bool routing map, 4 T (2 h + 5 E) bytes, and
 * 4 T 2h reduce-scattered back; backward the gradient's gather (4 T 2h) and
 * the reduce-scatter of the token and probability gradients
 * (4 T (2h + 4 E)). Per micro-batch and MoE layer, no all-to-all. */
START_TEST(allgather_dispatcher_bytes)
{
    setup u;
    load(&u, 64, 0, "optimizer: none", "{ tp: 1, pp: 1, ep: 4, dp: 2 }");
    cs_fabric f;
    cs_engine *e;
    cs_net *net;
    cs_exec *x;
    cs_workload w;
    build(&u, &f, &e, &net, &x, &w);
    long per = u.z.microbatches * 2; /* two MoE layers */
    ck_assert_int_eq(count(&w, x, CS_OP_EP, 4 * T * (2 * H + 5 * E)), per);
    ck_assert_int_eq(count(&w, x, CS_OP_EP, 4 * T * 2 * H), 2 * per);
    ck_assert_int_eq(count(&w, x, CS_OP_EP, 4 * T * (2 * H + 4 * E)), per);
    ck_assert_int_eq(count(&w, x, CS_OP_EP, -1), 4 * per);
    unbuild(&u, &f, e, net, x, &w);
}
END_TEST

/* Flex sends a token once to each rank holding one of its experts. E 4 over
 * ep 2 (experts 0, 1 on rank 0; 2, 3 on rank 1), top-2, balanced: of the
 * six expert pairs, five touch rank 1 (all but {0, 1}), so a rank sends the
 * other T 5/6 rows, where alltoall sends one row per choice on that rank:
 * pairs {0,2} {0,3} {1,2} {1,3} one each, {2,3} two, T 6/6. */
START_TEST(flex_sends_a_token_once_per_rank)
{
    int pairs[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
    double flex = 0, alltoall = 0;
    for (int i = 0; i < 6; i++) {
        int on1 = (pairs[i][0] >= 2) + (pairs[i][1] >= 2);
        flex += on1 > 0;
        alltoall += on1;
    }
    ck_assert(flex == 5 && alltoall == 6);
    double bytes[2];
    for (int v = 0; v < 2; v++) {
        setup u;
        load(&u, 4, 0,
             v ? "optimizer: none, moe_token_dispatcher_type: flex"
               : "optimizer: none, moe_token_dispatcher_type: alltoall",
             "{ tp: 1, pp: 1, ep: 2, dp: 4 }");
        cs_fabric f;
        cs_engine *e;
        cs_net *net;
        cs_exec *x;
        cs_workload w;
        build(&u, &f, &e, &net, &x, &w);
        /* The even all-to-all's size: what every rank would send with
         * every expert choice counted (2 T k h bytes) under alltoall. */
        bytes[v] = -1;
        for (long id = 0; id < w.count; id++)
            if (cs_exec_gpu(x, id) == 0 && w.info[id].klass == CS_OP_EP)
                bytes[v] = w.info[id].work;
        ck_assert_int_eq(count(&w, x, CS_OP_EP, bytes[v]), 4 * u.z.microbatches * 2);
        ck_assert_int_eq(w.tables, 0); /* in one node: rank to rank, even */
        unbuild(&u, &f, e, net, x, &w);
    }
    assert_close(bytes[0], 2 * T * K * H, 1e-12);
    assert_close(bytes[1] / bytes[0], flex / alltoall, 1e-12);
    /* The share itself, for 64 experts over 8 ranks: a rank is missed with
     * probability (56/64)(55/63). */
    cs_moe_config moe = {.num_experts = 64, .router_topk = 2};
    assert_close(cs_kernels_flex_share(&moe, 8), (1 - 56.0 / 64 * 55.0 / 63) / (2 * 8.0 / 64),
                 1e-12);
}
END_TEST

static double choose(double n, double k)
{
    double c = 1;
    for (double i = 0; i < k; i++)
        c = c * (n - i) / (i + 1);
    return c;
}

/* Group-limited routing (DeepSeek-V3: 256 experts in 8 groups, a token's
 * top-8 from its best 4, 2 from each): a rank or node holding whole groups
 * is hit when one of its groups is chosen, 1 - C(G - h, 4) / C(8, 4) for h
 * of its groups; part of a group is hit with the chance the group is chosen
 * times that its 2 picks fall there. k not a multiple of the groups chosen:
 * any k of the chosen groups' experts. */
START_TEST(group_limited_hits)
{
    cs_moe_config moe = {.num_experts = 256, .router_topk = 8};
    double C84 = 70; /* C(8, 4) */
    assert_close(cs_routing_hit(&moe, 0, 32), 1 - choose(224, 8) / choose(256, 8), 1e-12);
    moe.router_num_groups = 8;
    moe.router_group_topk = 4;
    assert_close(cs_routing_hit(&moe, 0, 32), 1 - 35 / C84, 1e-12);  /* EP 8: one group */
    assert_close(cs_routing_hit(&moe, 0, 64), 1 - 15 / C84, 1e-12);  /* two groups */
    assert_close(cs_routing_hit(&moe, 0, 128), 1 - 1 / C84, 1e-12);  /* a node at EP 16 */
    assert_close(cs_routing_hit(&moe, 0, 256), 1, 1e-12);
    /* EP 64: 4 experts, an eighth of group 0: chosen half the time, then
     * its 2 picks of 32 miss these 4 with C(28, 2) / C(32, 2) */
    assert_close(cs_routing_hit(&moe, 0, 4), 0.5 * (1 - 378.0 / 496), 1e-12);
    /* straddling two groups: 16 of group 0 and 16 of group 1 */
    double m16 = 120.0 / 496; /* C(16, 2) / C(32, 2) */
    double both = 15 / C84, one = 2 * 20 / C84, none = 15 / C84; /* groups 0 and 1 chosen */
    assert_close(cs_routing_hit(&moe, 16, 32), 1 - (both * m16 * m16 + one * m16 + none), 1e-12);
    /* flex's share at EP 8: half the tokens reach a rank, once each, against
     * k m / E = 1 row per token from the other dispatchers */
    assert_close(cs_kernels_flex_share(&moe, 8), 0.5, 1e-12);
    /* 3 of 4 groups with top-4: not split evenly, any 4 of the 96 experts */
    moe.router_topk = 4;
    moe.router_group_topk = 3;
    double miss = 0; /* group 0 chosen with 3/8: 32 of the 96 held */
    miss = (5.0 / 8) * 1 + (3.0 / 8) * choose(64, 4) / choose(96, 4);
    assert_close(cs_routing_hit(&moe, 0, 32), 1 - miss, 1e-12);
}
END_TEST

/* Across nodes flex sends a token once per node, then forwards it over
 * NVLink (DeepEP's and HybridEP's internode dispatch): EP 16 over two
 * 8-GPU nodes, E 64 (4 per rank), top-2, balanced. Rank to rank a pair
 * carries R = 2 T h p_rank bytes, p_rank = 1 - (60/64)(59/63) the chance a
 * token has an expert on a given rank; in two hops a GPU sends its peer
 * (same place) on the other node 2 T h p_node, p_node = 1 - (32/64)(31/63),
 * and nothing to the other GPUs there, and each GPU of its own node 2R: its
 * own tokens and those its peer sent it. */
START_TEST(flex_across_nodes_sends_once_per_node)
{
    setup u;
    load_two_nodes(&u, "moe_token_dispatcher_type: flex", "{ tp: 1, pp: 1, ep: 16 }");
    cs_fabric f;
    cs_engine *e;
    cs_net *net;
    cs_exec *x;
    cs_workload w;
    build(&u, &f, &e, &net, &x, &w);
    ck_assert_int_eq(w.tables, 1); /* balanced: one table, for dispatch and combine */
    const double *hops = w.pair_tables[0];
    double p_rank = 1 - 60.0 / 64 * 59.0 / 63, p_node = 1 - 32.0 / 64 * 31.0 / 63;
    double R = 2 * T * H * p_rank, total = 0;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            double want = i == j ? 0 : i / 8 == j / 8 ? 2 * R : i % 8 == j % 8 ? 2 * T * H * p_node : 0;
            assert_close(hops[i * 16 + j] + 1, want + 1, 1e-12);
            total += hops[i * 16 + j];
        }
    /* What crosses the network: 16 GPUs x one node's share, against 16 x 8
     * ranks' rank to rank. */
    double across = 0;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++)
            across += i / 8 != j / 8 ? hops[i * 16 + j] : 0;
    assert_close(across, 16 * 2 * T * H * p_node, 1e-12);
    ck_assert(across < 16 * 8 * R); /* 0.754 against 8 x 0.122 of 2 T h per GPU */
    ck_assert(total > 0);
    unbuild(&u, &f, e, net, x, &w);
}
END_TEST

/* HybridEP plans every forward dispatch from the group's routing map: an
 * all-gather of the 16 ranks' [T x E] booleans, T 16 E bytes gathered, once
 * per layer and micro-batch (backward reuses the plan); DeepEP gathers
 * nothing, and the two send the same tokens. */
START_TEST(hybridep_gathers_the_routing_map)
{
    long eps[2];
    for (int backend = 0; backend < 2; backend++) {
        setup u;
        load_two_nodes(&u,
                       backend ? "moe_token_dispatcher_type: flex, "
                                 "moe_flex_dispatcher_backend: hybridep"
                               : "moe_token_dispatcher_type: flex, "
                                 "moe_flex_dispatcher_backend: deepep",
                       "{ tp: 1, pp: 1, ep: 16 }");
        cs_fabric f;
        cs_engine *e;
        cs_net *net;
        cs_exec *x;
        cs_workload w;
        build(&u, &f, &e, &net, &x, &w);
        long m = u.z.microbatches;
        ck_assert_int_eq(count(&w, x, CS_OP_EP, T * 16 * E), backend ? 2 * m : 0);
        eps[backend] = count(&w, x, CS_OP_EP, -1);
        unbuild(&u, &f, e, net, x, &w);
    }
    ck_assert_int_eq(eps[1] - eps[0], 2 * 1); /* m = 16 / 16 = 1, two layers */
    /* With expert TP flex runs over the tp_ep group (16 ranks of T / tp 2
     * tokens each) and the map has E etp columns (Megatron's tp_size x
     * num_experts): T / 2 x 16 x 2 E bytes, for each of m = 16 / dp 8 = 2
     * micro-batches and two layers. */
    setup u;
    load_two_nodes(&u,
                   "sequence_parallel: true, moe_token_dispatcher_type: flex, "
                   "moe_flex_dispatcher_backend: hybridep",
                   "{ tp: 2, pp: 1, ep: 8, etp: 2 }");
    cs_fabric f;
    cs_engine *e;
    cs_net *net;
    cs_exec *x;
    cs_workload w;
    build(&u, &f, &e, &net, &x, &w);
    ck_assert_int_eq(u.z.microbatches, 2);
    ck_assert_int_eq(count(&w, x, CS_OP_EP, T / 2 * 16 * 2 * E), 2 * 2);
    unbuild(&u, &f, e, net, x, &w);
}
END_TEST

/* SequentialMLP runs one fc1 and fc2 per local expert, each its own launch
 * at that expert's M; TEGroupedMLP one grouped GEMM per projection. */
START_TEST(sequential_and_grouped_gemms)
{
    double seconds[2];
    for (int grouped = 0; grouped < 2; grouped++) {
        setup u;
        load(&u, 64, 0, grouped ? "moe_grouped_gemm: true" : "moe_grouped_gemm: false",
             "{ tp: 1, pp: 1, ep: 8, dp: 1 }");
        cs_kernel_list l;
        cs_kernel_opts f = opts(&u, 0);
        double tokens = T * K / E * 8 * 8; /* even share: 8 experts, 8 senders */
        cs_kernels_experts(&u.sh, &f, tokens, 8, &l);
        const cs_kernel *fc1 = find(&l, "linear_fc1");
        ck_assert(fc1->launches == (grouped ? 1 : 8));
        ck_assert(fc1->batch == 8 && fc1->m == tokens / 8);
        /* Only the grouped kernel is priced by its tokens per expert. */
        ck_assert(fc1->group_tokens == (grouped ? tokens / 8 : 0));
        ck_assert(find(&l, "bias_gelu")->group_tokens == 0);
        ck_assert(fc1->flops == 2 * tokens * H * 2048);
        ck_assert(find(&l, "bias_gelu")->launches == (grouped ? 1 : 8));
        cs_cost c;
        ck_assert_int_eq(cs_cost_init(&c, &u.s.cluster.gpu, u.s.training.precision), 0);
        seconds[grouped] = 0;
        for (int s = 0; s < CS_SLOTS; s++)
            seconds[grouped] += cs_cost_slot(&c, &l, (cs_kernel_slot)s);
        if (!grouped) { /* eight launches, each the GEMMs of one expert's tokens */
            cs_kernel_list one;
            cs_kernels_experts(&u.sh, &f, tokens / 8, 1, &one);
            double each = 0;
            for (int s = 0; s < CS_SLOTS; s++)
                each += cs_cost_slot(&c, &one, (cs_kernel_slot)s);
            assert_close(seconds[0], 8 * each, 1e-12);
        }
        cs_cost_free(&c);
        cs_scenario_free(&u.s);
    }
    ck_assert_msg(seconds[0] > seconds[1], "sequential %g s, grouped %g s", seconds[0], seconds[1]);
}
END_TEST

static double host_ops(const cs_kernel_list *l)
{
    double sum = 0;
    for (int s = 0; s < CS_SLOTS; s++)
        sum += cs_kernels_host_ops(l, (cs_kernel_slot)s);
    return sum;
}

/* The host's ops that launch no kernel, counted by hand from Megatron-Core
 * core_v0.16.0 and TE v2.11 (kernels.c, "the host's other work") for L = 8
 * local experts: a GroupedLinear forward 12 + 7 L plus 2 per GEMM, each
 * backward GEMM pass 5 + 6 L plus 2 per GEMM; SequentialMLP a TE Linear per
 * expert (12 forward, 20 in the dgrad's backward body). The alltoall
 * dispatcher's forward: preprocess 30, permute 7, the two chunk sorts 6
 * each, unpermute 4; the router's: gating 8, a compiled call 5, and 4 with
 * the aux loss. */
START_TEST(host_ops_of_the_moe_blocks)
{
    double tokens = T * K / E * 8 * 8;
    for (int grouped = 0; grouped < 2; grouped++) {
        setup u;
        load(&u, 64, 0, grouped ? "moe_grouped_gemm: true" : "moe_grouped_gemm: false",
             "{ tp: 1, pp: 1, ep: 8, dp: 1 }");
        cs_kernel_list l;
        cs_kernel_opts f = opts(&u, 0), b = opts(&u, 1);
        cs_kernels_experts(&u.sh, &f, tokens, 8, &l);
        double fc1 = grouped ? 12 + 9 * 8 : 8 * 12;
        ck_assert(find(&l, "linear_fc1")->host_ops == fc1);
        ck_assert(find(&l, "linear_fc2")->host_ops == fc1);
        ck_assert(find(&l, "bias_gelu")->host_ops == (grouped ? 5 : 8 * 5));
        cs_kernels_experts(&u.sh, &b, tokens, 8, &l);
        ck_assert(find(&l, "linear_fc1.dgrad")->host_ops == (grouped ? 5 + 8 * 8 : 8 * 20));
        ck_assert(find(&l, "linear_fc1.wgrad")->host_ops == (grouped ? 5 + 8 * 8 : 0));
        cs_scenario_free(&u.s);
    }
    setup u;
    load(&u, 64, 0, "moe_permute_fusion: true, moe_token_dispatcher_type: alltoall",
         "{ tp: 1, pp: 1, ep: 8, dp: 1 }");
    cs_kernel_opts f = opts(&u, 0);
    cs_dispatch_rows r = {.sent = T * K, .arrived = tokens, .expert = tokens, .local_experts = 8};
    cs_kernel_list l;
    cs_kernels_dispatch(&u.sh, &f, &r, &l);
    ck_assert_msg(host_ops(&l) == 30 + 7 + 6 + 6 + 4, "%g", host_ops(&l));
    /* kernels: 10 preprocess, 3 + 1 permute, 2 + 3 chunk sorts, 1 unpermute */
    double n = 0;
    for (int s = 0; s < CS_SLOTS; s++)
        n += cs_kernels_launches(&l, (cs_kernel_slot)s);
    ck_assert(n == 10 + 4 + 5 + 1);
    cs_kernels_router(&u.sh, &f, &l);
    ck_assert(host_ops(&l) == 8 + 5);
    cs_scenario_free(&u.s);
    load(&u, 64, 0, "moe_aux_loss_coeff: 0.01", "{ tp: 1, pp: 1, ep: 8, dp: 1 }");
    f = opts(&u, 0);
    cs_kernels_router(&u.sh, &f, &l);
    ck_assert(host_ops(&l) == 8 + 5 + 4);
    cs_scenario_free(&u.s);
}
END_TEST

/* With biases, TEGroupedMLP adds fc2's per local expert (experts.py
 * _apply_bias): over the experts' output rows (tokens x h), 6 bytes per
 * element and 2 L + 1 launches forward, 8 bytes and 5 L + 3 backward;
 * SequentialMLP's is in its GEMMs. The parameters gain every bias. */
START_TEST(grouped_experts_fc2_bias)
{
    double tokens = T * K / E * 8 * 8;
    setup u;
    load(&u, 64, 0, "moe_grouped_gemm: true", "{ tp: 1, pp: 1, ep: 8, dp: 1 }");
    cs_param_counts before, after;
    cs_model_params(&u.s.model, &before);
    u.s.model.add_bias_linear = 1;
    cs_shape_init(&u.sh, &u.s.model, &u.s.training, &u.z);
    cs_model_params(&u.s.model, &after);
    /* per expert fc1 (2048) and fc2 (h) biases; attention q + 2 kv + h */
    ck_assert(after.expert - before.expert == 2048 + H);
    ck_assert(after.attention - before.attention == 3 * H + H);
    cs_kernel_list l;
    cs_kernel_opts f = opts(&u, 0), b = opts(&u, 1);
    cs_kernels_experts(&u.sh, &f, tokens, 8, &l);
    const cs_kernel *k = find(&l, "experts.fc2_bias (bias x probs, add, cat)");
    ck_assert(k->bytes == 6 * 2 * tokens * H && k->launches == 2 * 8 + 1);
    ck_assert(k->slot == CS_SLOT_OUT && k->host_ops == 3 * 8 + 4);
    cs_kernels_experts(&u.sh, &b, tokens, 8, &l);
    k = find(&l, "experts.fc2_bias.backward");
    ck_assert(k->bytes == 8 * 2 * tokens * H && k->launches == 5 * 8 + 3);
    u.s.training.moe_grouped_gemm = 0;
    cs_kernels_experts(&u.sh, &f, tokens, 8, &l);
    for (int i = 0; i < l.n; i++)
        ck_assert(strncmp(l.k[i].name, "experts.fc2_bias", 16) != 0);
    cs_scenario_free(&u.s);
}
END_TEST

/* With sequence parallelism over tp 2, the shared experts (a dense MLP of
 * 4096) gather their input before fc1 and reduce-scatter after fc2 over
 * the TP group, 2 T h bytes each: per layer and micro-batch the attention's
 * 5 TP collectives and the shared experts' 5 (forward AG and RS; backward
 * the gradient's AG, the input's AG for the wgrads and the input
 * gradient's RS). Overlapped with the all-to-all they keep the gathered
 * input for their wgrads: 4. */
START_TEST(shared_expert_tp_collectives)
{
    static const char *const training[] = {
        "sequence_parallel: true, optimizer: none, moe_token_dispatcher_type: alltoall",
        "sequence_parallel: true, optimizer: none, moe_token_dispatcher_type: alltoall, "
        "moe_shared_expert_overlap: true"};
    int per_layer[3] = {5 + 5, 5 + 4, 5};
    for (int v = 0; v < 3; v++) {
        setup u;
        load(&u, 64, v == 2 ? 0 : 4096, training[v == 2 ? 0 : v],
             "{ tp: 2, pp: 1, ep: 4, dp: 1, etp: 1 }");
        cs_fabric f;
        cs_engine *e;
        cs_net *net;
        cs_exec *x;
        cs_workload w;
        build(&u, &f, &e, &net, &x, &w);
        ck_assert_int_eq(count(&w, x, CS_OP_TP, 2 * T * H), per_layer[v] * 2 * u.z.microbatches);
        unbuild(&u, &f, e, net, x, &w);
    }
}
END_TEST

static void replay(setup *u, cs_replay_result *r)
{
    ck_assert_int_eq(cs_replay(&u->s, &u->s.layouts[0], &u->z, CS_NET_FLOW, 1, r), 0);
}

/* moe_shared_expert_overlap: the shared experts' compute runs while the
 * dispatch and combine all-to-alls are in flight, so less of the
 * communication is exposed and the iteration is shorter. */
START_TEST(shared_expert_overlap_hides_the_all_to_all)
{
    double exposed[2], iteration[2];
    for (int ov = 0; ov < 2; ov++) {
        setup u;
        load(&u, 64, 8192,
             ov ? "sequence_parallel: true, moe_token_dispatcher_type: alltoall, "
                  "moe_grouped_gemm: true, moe_shared_expert_overlap: true"
                : "sequence_parallel: true, moe_token_dispatcher_type: alltoall, "
                  "moe_grouped_gemm: true",
             "{ tp: 1, pp: 1, ep: 8, dp: 1 }");
        cs_replay_result r;
        replay(&u, &r);
        exposed[ov] = r.time_s[CS_TIME_EP] + r.time_s[CS_TIME_TP];
        iteration[ov] = r.iteration_time_s;
        cs_replay_result_free(&r);
        cs_scenario_free(&u.s);
    }
    ck_assert_msg(exposed[1] < 0.8 * exposed[0], "exposed %g s overlapped, %g s not", exposed[1],
                  exposed[0]);
    ck_assert(iteration[1] < iteration[0]);
}
END_TEST

/* Capacity c: each rank sends an expert at most ceil(c T k / E) tokens, and
 * with padding exactly that many. T 1000, top-2, 8 experts, c 1.5: 375. */
START_TEST(padded_capacity)
{
    setup u;
    load(&u, 64, 0, "moe_expert_capacity_factor: 1.5, moe_pad_expert_input_to_capacity: true",
         "{ tp: 1, pp: 1, ep: 8, dp: 1 }");
    double counts[2 * 8], prob[8];
    unsigned int draws[8];
    for (int e = 0; e < 8; e++)
        prob[e] = 1.0 / 8;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    double dropped = cs_routing_draw(&u.s.training, 1.5, 2, 8, 2, 1000, prob, rng, counts, draws);
    ck_assert(dropped == 0); /* balanced: 250 each, under 375 */
    for (int i = 0; i < 16; i++)
        ck_assert(counts[i] == ceil(1.5 * 1000 * 2 / 8));
    /* Without padding a random draw over capacity is cut to it per sender. */
    u.s.training.moe_pad_expert_input_to_capacity = 0;
    u.s.training.moe_routing.mode = CS_ROUTING_RANDOM;
    prob[0] = 0.5;
    for (int e = 1; e < 8; e++)
        prob[e] = 0.5 / 7;
    dropped = cs_routing_draw(&u.s.training, 1.5, 2, 8, 2, 1000, prob, rng, counts, draws);
    ck_assert(counts[0] == 375 && counts[8] == 375); /* about 1000 drawn for expert 0 */
    double kept = 0;
    for (int i = 0; i < 16; i++)
        kept += counts[i];
    assert_close(kept + dropped, 2 * 2 * 1000.0, 1e-12);
    gsl_rng_free(rng);
    cs_scenario_free(&u.s);

    /* The padded rows are priced: the alltoall permute takes E x capacity
     * rows, and the iteration is longer than dropless. */
    double iteration[2];
    for (int pad = 0; pad < 2; pad++) {
        load(&u, 64, 0,
             pad ? "moe_token_dispatcher_type: alltoall, moe_expert_capacity_factor: 2.0, "
                   "moe_pad_expert_input_to_capacity: true"
                 : "moe_token_dispatcher_type: alltoall",
             "{ tp: 1, pp: 1, ep: 8, dp: 1 }");
        cs_replay_result r;
        replay(&u, &r);
        iteration[pad] = r.iteration_time_s;
        ck_assert(r.moe_dropped_tokens == 0);
        cs_replay_result_free(&r);
        cs_scenario_free(&u.s);
    }
    ck_assert(iteration[1] > iteration[0]);
}
END_TEST

/* Every dispatcher, with and without shared experts overlapped, grouped or
 * one GEMM per expert (uneven per-expert tokens under skewed routing), under
 * each schedule frees what it allocates. */
START_TEST(dispatchers_balance_memory)
{
    static const char *const cases[] = {
        "moe_token_dispatcher_type: allgather, schedule: zb-h1",
        "moe_token_dispatcher_type: alltoall, moe_shared_expert_overlap: true, schedule: zb-h1",
        "moe_token_dispatcher_type: flex, moe_shared_expert_overlap: true, recompute: full",
        "moe_token_dispatcher_type: alltoall, moe_routing: random, moe_expert_capacity_factor: 1.0",
        "moe_token_dispatcher_type: alltoall, moe_routing: { mode: skewed, skew: 1.2 }",
        "moe_token_dispatcher_type: alltoall, moe_grouped_gemm: true, schedule: gpipe",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        setup u;
        char training[256];
        snprintf(training, sizeof training, "sequence_parallel: true, %s", cases[i]);
        load(&u, 64, 2048, training, "{ tp: 2, pp: 2, ep: 2, dp: 1 }");
        cs_replay_result r;
        replay(&u, &r);
        ck_assert_msg(r.memory_left_bytes < 1e-3, "%s leaves %g bytes", cases[i],
                      r.memory_left_bytes);
        cs_replay_result_free(&r);
        cs_scenario_free(&u.s);
    }
}
END_TEST

static void load_error(const char *training, const char *model_moe, cs_diags *d)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "model:\n  base: moe-30b\n  moe: { %s }\n"
             "cluster: { base: dgx-h100, nodes: 1 }\n"
             "training:\n  seq_length: 1024\n  global_batch_size: 8\n%s"
             "layouts:\n  - { tp: 1, pp: 1, ep: 8 }\n",
             model_moe, training);
    cs_scenario s;
    cs_diags_init(d);
    ck_assert_int_eq(tu_load_scenario(yaml, &s, d), -1);
    cs_scenario_free(&s);
}

START_TEST(positioned_errors)
{
    cs_diags d;
    load_error("  moe_shared_expert_overlap: true\n", "shared_expert_ffn_hidden_size: 1024", &d);
    tu_assert_diag(&d, CS_ERROR, "moe_shared_expert_overlap works with moe_token_dispatcher_type",
                   8, 30);
    cs_diags_free(&d);
    load_error("  moe_pad_expert_input_to_capacity: true\n", "layer_freq: 1", &d);
    tu_assert_diag(&d, CS_ERROR, "moe_pad_expert_input_to_capacity needs a capacity factor", 8, 37);
    cs_diags_free(&d);
    load_error("  moe_expert_capacity_factor: 1.5\n", "capacity_factor: 1.25", &d);
    tu_assert_diag(&d, CS_ERROR,
                   "training.moe_expert_capacity_factor 1.5 contradicts model.moe.capacity_factor "
                   "1.25",
                   8, 31);
    cs_diags_free(&d);
    /* recompute_modules: Megatron's names, what TransformerConfig asserts,
     * and the modules not modelled refused at the list. */
    load_error("  recompute_modules: [mlp]\n", "layer_freq: 1", &d);
    tu_assert_diag(&d, CS_ERROR, "recompute module mlp is Megatron's but not modelled yet", 8, 22);
    cs_diags_free(&d);
    load_error("  recompute_modules: [moe_ac]\n", "layer_freq: 1", &d);
    tu_assert_diag(&d, CS_ERROR, "unknown recompute module 'moe_ac'; did you mean 'moe_act'?", 8,
                   23);
    cs_diags_free(&d);
    load_error("  recompute_modules: [layernorm, layernorm]\n", "layer_freq: 1", &d);
    tu_assert_diag(&d, CS_ERROR, "lists layernorm twice", 8, 34);
    cs_diags_free(&d);
    load_error("  moe_grouped_gemm: false\n  recompute_modules: [moe_act]\n", "layer_freq: 1", &d);
    tu_assert_diag(&d, CS_ERROR, "recompute module moe_act needs moe_grouped_gemm: true", 9, 22);
    cs_diags_free(&d);
    load_error("  precision: fp8\n  moe_grouped_gemm: true\n  recompute_modules: [layernorm]\n",
               "layer_freq: 1", &d);
    tu_assert_diag(&d, CS_ERROR, "do not work with fp8_recipe delayed", 10, 22);
    cs_diags_free(&d);
    /* group-limited routing as Megatron checks it (moe-30b: 64 experts, top-2) */
    load_error("", "router_num_groups: 8", &d);
    tu_assert_diag(&d, CS_ERROR, "moe.router_num_groups and moe.router_group_topk go together", 2,
                   3);
    cs_diags_free(&d);
    load_error("", "router_num_groups: 6, router_group_topk: 2", &d);
    tu_assert_diag(&d, CS_ERROR, "moe.num_experts 64 is not a multiple of moe.router_num_groups 6",
                   2, 3);
    cs_diags_free(&d);
    load_error("", "router_num_groups: 4, router_group_topk: 5", &d);
    tu_assert_diag(&d, CS_ERROR, "moe.router_group_topk 5 is more than moe.router_num_groups 4", 2,
                   3);
    cs_diags_free(&d);
    load_error("", "router_num_groups: 32, router_group_topk: 1, router_topk: 3", &d);
    tu_assert_diag(&d, CS_ERROR, "moe.router_topk 3 is more than the 2 experts of a token's 1 groups",
                   2, 3);
    cs_diags_free(&d);
    load_error("  moe_token_dispatcher_type: deepep\n", "layer_freq: 1", &d);
    ck_assert_ptr_nonnull(tu_find(&d, "deepep"));
    cs_diags_free(&d);
    /* DeepEP refuses padding to capacity. */
    load_error("  moe_token_dispatcher_type: flex\n  moe_expert_capacity_factor: 1.0\n"
               "  moe_pad_expert_input_to_capacity: true\n",
               "layer_freq: 1", &d);
    tu_assert_diag(&d, CS_ERROR,
                   "moe_pad_expert_input_to_capacity does not work with "
                   "moe_token_dispatcher_type flex",
                   10, 37);
    cs_diags_free(&d);
}
END_TEST

/* Selective recompute of Megatron's recompute_modules, by hand (s 4096,
 * b 1, tp 1: T = 4096 tokens of h = 1024; 2 T routed tokens of 2048).
 * moe_act reruns the activation and the probabilities' product before
 * fc2's backward and copies the output back into its freed storage: the
 * bias-GeLU's 2 + 2 bytes per element, the product's 2 + 2 and 4 per
 * token, the copy's 2 + 2; layernorm reruns the pre-MLP norm (2 + 2 bytes
 * per element) and copies it back. Memory: the activation's output (fc2's
 * input, 2 bytes per routed element) and the norm's (2 T h) are gone. */
START_TEST(recompute_modules)
{
    const char *base = "moe_grouped_gemm: true, recompute: selective, attention_backend: local";
    char training[256];
    double bytes[2][3], recomputed[2], hosts[2];
    for (int on = 0; on < 2; on++) {
        snprintf(training, sizeof training, "%s, recompute_modules: %s", base,
                 on ? "[layernorm, moe_act]" : "[]");
        setup u;
        load(&u, 64, 0, training, "{ tp: 1, pp: 1, ep: 8, dp: 1 }");
        double tokens = K * T, e = tokens * 2048;
        cs_kernel_list l;
        cs_kernel_opts b = opts(&u, 1);
        cs_kernels_experts(&u.sh, &b, tokens, 8, &l);
        recomputed[on] = cs_kernels_bytes(&l, CS_SLOT_RECOMPUTE);
        hosts[on] = cs_kernels_host_ops(&l, CS_SLOT_RECOMPUTE);
        if (on) {
            ck_assert(recomputed[on] == 2 * 2 * e + (2 * 2 * e + 4 * tokens) + 2 * 2 * e);
            ck_assert(find(&l, "experts.act_restore")->slot == CS_SLOT_RECOMPUTE);
        }
        cs_kernels_moe_edges(&u.sh, &b, &l);
        if (on) {
            const cs_kernel *n = find(&l, "pre_mlp_layernorm.recompute");
            ck_assert(n->slot == CS_SLOT_RECOMPUTE && n->bytes == 2 * 2 * T * H);
            ck_assert(find(&l, "pre_mlp_layernorm.restore")->bytes == 2 * 2 * T * H);
        }
        /* The attention is not rerun: core_attn is not listed. */
        cs_kernels_attention(&u.sh, &b, &l);
        ck_assert(cs_kernels_bytes(&l, CS_SLOT_RECOMPUTE) == 0);
        bytes[on][0] = cs_memory_layer_activations(&u.s.model, &u.s.training, &u.z, 0);
        u.z.recompute = CS_RECOMPUTE_NONE; /* the same switches, nothing rerun */
        bytes[on][1] = cs_memory_layer_activations(&u.s.model, &u.s.training, &u.z, 0);
        u.z.recompute = CS_RECOMPUTE_SELECTIVE;
        u.s.training.recompute_modules |= CS_RC_CORE_ATTN;
        bytes[on][2] = cs_memory_layer_activations(&u.s.model, &u.s.training, &u.z, 0);
        cs_scenario_free(&u.s);
    }
    ck_assert(recomputed[0] == 0 && hosts[0] == 0);
    ck_assert(hosts[1] == 5 + 12); /* the compiled activation and the checkpoint's backward */
    /* Nothing listed keeps what no recompute keeps, the s x s scores too. */
    ck_assert(bytes[0][0] == bytes[0][1] && bytes[1][1] == bytes[0][1]);
    ck_assert(bytes[0][1] - bytes[1][0] == 2 * T * H + 2 * K * T * 2048);
    /* core_attn drops the scores (local attention: 2 + 3 bytes per score of
     * 16 heads, with attention dropout). */
    ck_assert(bytes[0][1] - bytes[0][2] == 5.0 * 16 * 4096 * 4096);
}
END_TEST

/* Every slot's seconds of a kernel list (the forward's). */
static double list_seconds(cs_cost *c, const cs_kernel_list *l)
{
    double sum = 0;
    for (int s = 0; s < CS_SLOTS; s++)
        sum += cs_cost_slot(c, l, (cs_kernel_slot)s);
    return sum;
}

/* Megatron's `moe` recompute module checkpoints MoELayer.forward: the
 * forward keeps only its input, and the backward reruns the router, the
 * dispatcher, the experts and the shared expert whole. By hand (s 4096,
 * b 1, tp 1, ep 8, no gating: T = 4096 tokens of h = 1024, K T routed
 * copies of width 2048, a shared expert of 2048): the layer drops K T
 * (2 h + 4 x 2048) bytes of routed tokens, 4 x 2048 T of the shared
 * expert's and the router's 4 T E probabilities, which the rerun rebuilds;
 * layernorm adds the norm's output 2 T h. The replay (no host, analytic
 * network, one micro-batch per GPU) reruns exactly the forward's MoE
 * kernels for each of the 2 layers and their dispatch and combine (EP time
 * x 1.5), leaves the forward, backward and weight passes as they were, and
 * frees what it allocates, under 1f1b and zb-h1. */
START_TEST(moe_recompute_reruns_the_layer)
{
    const char *base = "moe_token_dispatcher_type: alltoall, moe_grouped_gemm: true, "
                       "recompute: selective, optimizer: none";
    double dropped = K * T * (2 * H + 4 * 2048) + 4 * 2048 * T + 4 * T * E;
    const char *modules[] = {"[]", "[moe]", "[layernorm, moe]"};
    double act[3], ep[2], fwd[2], bwd[2], w[2], rc[2], peak[2], rerun = 0;
    for (int i = 0; i < 3; i++) {
        char training[512];
        snprintf(training, sizeof training, "%s, recompute_modules: %s", base, modules[i]);
        setup u;
        load_hostless(&u, training, "1f1b");
        act[i] = cs_memory_layer_activations(&u.s.model, &u.s.training, &u.z, 0);
        double rebuilt = cs_memory_moe_rebuilt(&u.s.model, &u.s.training, &u.z, 0);
        ck_assert(rebuilt == (i ? dropped : 0));
        if (i < 2) {
            cs_replay_result r;
            ck_assert_int_eq(cs_replay(&u.s, &u.s.layouts[0], &u.z, CS_NET_ANALYTIC, 1, &r), 0);
            ep[i] = r.time_s[CS_TIME_EP];
            fwd[i] = r.compute_s[CS_OP_FORWARD];
            bwd[i] = r.compute_s[CS_OP_BACKWARD_INPUT];
            w[i] = r.compute_s[CS_OP_BACKWARD_WEIGHT];
            rc[i] = r.compute_s[CS_OP_RECOMPUTE];
            peak[i] = r.memory.activations;
            ck_assert(r.memory_left_bytes < 1e-3);
            cs_replay_result_free(&r);
        }
        if (i == 1) { /* the forward's MoE kernels, priced as the replay prices them */
            cs_cost c;
            ck_assert_int_eq(cs_cost_init(&c, &u.s.cluster.gpu, u.s.training.precision), 0);
            cs_kernel_opts f = opts(&u, 0);
            cs_kernel_list l;
            cs_dispatch_rows rows = {K * T, 0, K * T, 8};
            cs_kernels_router(&u.sh, &f, &l);
            rerun += list_seconds(&c, &l);
            cs_kernels_dispatch(&u.sh, &f, &rows, &l);
            rerun += list_seconds(&c, &l);
            cs_kernels_experts(&u.sh, &f, K * T, 8, &l);
            rerun += list_seconds(&c, &l);
            cs_kernels_mlp(&u.sh, &f, T, 2048, 1, 1, 0, &l);
            rerun += list_seconds(&c, &l);
            cs_cost_free(&c);
        }
        cs_scenario_free(&u.s);
    }
    ck_assert(act[0] - act[1] == dropped);
    ck_assert(act[1] - act[2] == 2 * T * H);
    /* the peak: both layers' forward activations, then under moe the last
     * layer's rebuilt ones on top while its backward runs */
    ck_assert_msg(peak[0] == 2 * act[0], "%.17g vs %.17g", peak[0], 2 * act[0]);
    ck_assert_msg(peak[1] == 2 * act[1] + dropped, "%.17g vs %.17g", peak[1], 2 * act[1] + dropped);
    assert_close(rc[1], 2 * rerun, 1e-12);
    ck_assert(rc[0] == 0);
    assert_close(ep[1], 1.5 * ep[0], 1e-12);
    assert_close(fwd[1], fwd[0], 1e-12);
    assert_close(bwd[1], bwd[0], 1e-12);
    assert_close(w[1], w[0], 1e-12);
    /* zb-h1 defers the weight gradients: after its input gradients a layer
     * keeps what they read, its GEMMs' inputs (2 bytes per element): of
     * the attention the QKV and projection inputs and the norm's output
     * (2 T h + T q, q = 16 heads x 64), of the rebuilt MoE layer the
     * experts' fc1 and fc2 inputs and the shared expert's fc2 input, the
     * rest of the rebuilt tensors going with its router's backward. The
     * peak is layer 0's rerun while layer 1 waits for its W. */
    setup z;
    char training[512];
    snprintf(training, sizeof training, "%s, recompute_modules: [moe]", base);
    load_hostless(&z, training, "zb-h1");
    double w_in = 2 * K * T * (H + 2048) + 2 * T * 2048;
    ck_assert(cs_memory_moe_w_inputs(&z.s.model, &z.s.training, &z.z, 0) == w_in);
    cs_replay_result r;
    ck_assert_int_eq(cs_replay(&z.s, &z.s.layouts[0], &z.z, CS_NET_ANALYTIC, 1, &r), 0);
    ck_assert(r.memory_left_bytes < 1e-3);
    double want = act[1] + dropped + 2 * T * (2 * H + 16 * 64) + w_in;
    ck_assert_msg(r.memory.activations == want, "%.17g vs %.17g", r.memory.activations, want);
    cs_replay_result_free(&r);
    cs_scenario_free(&z.s);
    /* The checkpoint's host ops ride on the router: 8 forward, 12 backward. */
    double ops[2][2];
    for (int on = 0; on < 2; on++) {
        snprintf(training, sizeof training, "%s, recompute_modules: %s", base, on ? "[moe]" : "[]");
        load_hostless(&z, training, "1f1b");
        for (int b = 0; b < 2; b++) {
            cs_kernel_opts o = opts(&z, b);
            cs_kernel_list l;
            cs_kernels_router(&z.sh, &o, &l);
            ops[on][b] = host_ops(&l);
        }
        cs_scenario_free(&z.s);
    }
    ck_assert(ops[1][0] - ops[0][0] == 8 && ops[1][1] - ops[0][1] == 12);
    /* In FP8 the MoE layer's FP8 copies go with it: what FP8 changes of a
     * moe-recomputed layer is its attention's part alone, the QKV input
     * (e bytes instead of 2 per element) and fused attention's FP8 copy of
     * the projection input (e more; here q = h, and in tensorwise e = 1:
     * they cancel). */
    double fp8[2];
    for (int prec = 0; prec < 2; prec++) {
        snprintf(training, sizeof training, "%s, recompute_modules: [moe]%s", base,
                 prec ? ", precision: fp8, fp8_recipe: tensorwise" : "");
        load_hostless(&z, training, "1f1b");
        fp8[prec] = cs_memory_layer_activations(&z.s.model, &z.s.training, &z.z, 0);
        cs_scenario_free(&z.s);
    }
    double e = 1 + cs_kernels_fp8_scale_bytes(CS_FP8_TENSORWISE);
    assert_close(fp8[1] - fp8[0], -(2 - e) * T * H + e * T * 16 * 64, 1e-12);
}
END_TEST

/* check's fix for a MoE model reruns the MoE layers whole before it reruns
 * every layer: Qwen3-235B-A22B at s 16384, TP4 PP8 VPP4 EP8 on 256 H100
 * does not fit without recompute, nor with the default selective
 * (core_attn drops nothing beside fused attention); with moe added it
 * does, at the estimate of that very change. */
START_TEST(check_fits_with_moe_recompute)
{
    const char *yaml =
        "model: " CS_SOURCE_DIR "/validation/megatron/models/qwen3-235b-a22b.yaml\n"
        "cluster: { base: dgx-h100, nodes: 32 }\n"
        "training: { seq_length: 16384, global_batch_size: 256, schedule: interleaved, "
        "virtual_pipeline_stages: 4, account_for_embedding_in_pipeline_split: true, "
        "account_for_loss_in_pipeline_split: true, sequence_parallel: true, "
        "distributed_optimizer: true, recompute: none, attention_backend: fused }\n"
        "layouts:\n  - { tp: 4, pp: 8, ep: 8, etp: 1 }\n";
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(tu_load_scenario(yaml, &s, &d), 0);
    cs_diags_free(&d);
    cs_check c;
    ck_assert_int_eq(cs_check_scenario(&s, &c), 0);
    const cs_layout_verdict *v = &c.layouts[0];
    ck_assert(v->valid && !v->memory_fits);
    ck_assert_str_eq(v->fix, "recompute: selective, recompute_modules: [core_attn, moe]");
    cs_layout_sizes z = v->sizes;
    z.recompute = CS_RECOMPUTE_SELECTIVE;
    cs_memory_breakdown b;
    cs_memory_peak(&s, &z, &b); /* the default modules: still too much */
    ck_assert(b.total > s.cluster.gpu.memory);
    s.training.recompute_modules |= CS_RC_MOE;
    cs_memory_peak(&s, &z, &b);
    ck_assert(b.total <= s.cluster.gpu.memory);
    assert_close(v->fix_total, b.total, 1e-12);
    cs_check_free(&c);
    cs_scenario_free(&s);
}
END_TEST

/* ... and needs more than one rank to exchange with (Megatron asserts
 * TP x EP > 1 for DeepEP), a layout rule. */
START_TEST(flex_needs_a_group)
{
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(tu_load_scenario("model: moe-30b\n"
                                      "cluster: { base: dgx-h100, nodes: 1 }\n"
                                      "training: { seq_length: 1024, global_batch_size: 8, "
                                      "moe_token_dispatcher_type: flex }\n"
                                      "layouts:\n  - { tp: 1, pp: 1, ep: 1 }\n",
                                      &s, &d),
                     0);
    cs_layout_sizes z;
    ck_assert_int_eq(cs_layout_check(&s, &s.layouts[0], &z, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "the flex (DeepEP) dispatcher needs etp x ep > 1", 5, 25);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("moe");
    TCase *t = tcase_create("moe");
    tcase_set_timeout(t, 200);
    tcase_add_test(t, router_flops_and_kernels);
    tcase_add_test(t, flex_needs_a_group);
    tcase_add_test(t, permute_bytes);
    tcase_add_test(t, allgather_dispatcher_bytes);
    tcase_add_test(t, flex_sends_a_token_once_per_rank);
    tcase_add_test(t, group_limited_hits);
    tcase_add_test(t, sequential_and_grouped_gemms);
    tcase_add_test(t, host_ops_of_the_moe_blocks);
    tcase_add_test(t, grouped_experts_fc2_bias);
    tcase_add_test(t, shared_expert_tp_collectives);
    tcase_add_test(t, shared_expert_overlap_hides_the_all_to_all);
    tcase_add_test(t, padded_capacity);
    tcase_add_test(t, dispatchers_balance_memory);
    tcase_add_test(t, positioned_errors);
    tcase_add_test(t, recompute_modules);
    tcase_add_test(t, moe_recompute_reruns_the_layer);
    tcase_add_test(t, check_fits_with_moe_recompute);
    tcase_add_test(t, flex_across_nodes_sends_once_per_node);
    tcase_add_test(t, hybridep_gathers_the_routing_map);
    suite_add_tcase(s, t);
    return tu_main(s);
}
