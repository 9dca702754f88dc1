/* clustersim search (study/search.h): its best is the best of an exhaustive
 * replay of every candidate that is valid and fits; pruning drops exactly
 * what the layout rules and the memory estimate refuse, each with its
 * reason; the output does not depend on the number of workers; and the
 * command's outputs and errors. */
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/diag.h"
#include "input/schema.h"
#include "model/memory.h"
#include "replay/replay.h"
#include "report/search_report.h"
#include "study/search.h"
#include "study/sweep.h"
#include "testutil.h"

/* A small dense model and a small MoE model on one 8-GPU node. */
static const char *const scenarios[] = {
    "model: { name: d, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
    "ffn_hidden_size: 4096, vocab_size: 32000, max_position_embeddings: 1024 }\n"
    "cluster: { base: dgx-h100, nodes: 1 }\n"
    "training: { seq_length: 1024, global_batch_size: 16, micro_batch_size: 1 }\n"
    "layouts:\n  - { name: typed, tp: 2, pp: 2 }\n",
    "model: { name: m, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
    "ffn_hidden_size: 2816, vocab_size: 32000, max_position_embeddings: 1024, swiglu: true, "
    "normalization: rmsnorm, position_embedding_type: rope, "
    "moe: { num_experts: 8, router_topk: 2, ffn_hidden_size: 704, layer_freq: 1 } }\n"
    "cluster: { base: dgx-h100, nodes: 1 }\n"
    "training: { seq_length: 1024, global_batch_size: 16, micro_batch_size: 1, "
    "sequence_parallel: true, moe_token_dispatcher_type: alltoall }\n"
    "layouts:\n  - { name: typed, tp: 1, pp: 2, ep: 4 }\n",
};

static void load(int i, cs_scenario *s)
{
    cs_diags d;
    cs_diags_init(&d);
    int rc = tu_load_scenario(scenarios[i], s, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert_int_eq(rc, 0);
}

/* With every evaluated candidate replayed again (top larger than the
 * space), the best is the least iteration time of a replay of every valid
 * candidate that fits, under either model. */
START_TEST(best_is_the_exhaustive_best)
{
    cs_scenario s;
    load(_i / 2, &s);
    cs_network_model model = _i % 2 ? CS_NET_FLOW : CS_NET_ANALYTIC;
    cs_search r;
    cs_search_options o = {.jobs = 2, .top = 1000000, .model = model};
    ck_assert_int_eq(cs_search_run(&s, &o, &r), 0);
    ck_assert(r.evaluated > 3);
    double best = -1;
    long best_i = -1, fitting = 0;
    for (long i = 0; i < r.count; i++) {
        cs_layout_sizes z;
        cs_diags d;
        cs_diags_init(&d);
        int rc = cs_layout_check(&s, &r.c[i].layout, &z, &d);
        cs_diags_free(&d);
        if (rc != 0)
            continue;
        cs_memory_breakdown b;
        cs_memory_peak(&s, &z, &b);
        if (b.total > s.cluster.gpu.memory)
            continue;
        fitting++;
        cs_replay_result res;
        ck_assert_int_eq(cs_replay(&s, &r.c[i].layout, &z, model, s.seed, &res), 0);
        if (best < 0 || res.iteration_time_s < best) {
            best = res.iteration_time_s;
            best_i = i;
        }
        cs_replay_result_free(&res);
    }
    ck_assert_int_eq(fitting, r.evaluated);
    const cs_search_candidate *top = &r.c[r.ranked[0]];
    ck_assert_msg(top->iteration_time_s == best, "search %.17g (%s), exhaustive %.17g (%s)",
                  top->iteration_time_s, top->layout.name, best, r.c[best_i].layout.name);
    ck_assert_int_eq(top->rank, 1);
    ck_assert_int_eq(top->stage, model);
    /* Ranks ascend with time. */
    for (long k = 1; k < r.evaluated; k++)
        ck_assert(r.c[r.ranked[k - 1]].iteration_time_s <= r.c[r.ranked[k]].iteration_time_s);
    cs_search_free(&r);
    cs_scenario_free(&s);
}
END_TEST

/* Pruned exactly when check refuses (the rule's message kept) or the
 * estimate exceeds the GPU; kept otherwise. */
START_TEST(pruning_is_what_check_refuses)
{
    cs_scenario s;
    load(_i, &s);
    s.cluster.gpu.memory = 1.5e9; /* so that some fit and some do not */
    cs_search r;
    cs_search_options o = {.jobs = 2, .top = 3, .model = CS_NET_ANALYTIC};
    ck_assert_int_eq(cs_search_run(&s, &o, &r), 0);
    long seen[5] = {0, 0, 0, 0, 0};
    for (long i = 0; i < r.count; i++) {
        const cs_search_candidate *c = &r.c[i];
        cs_layout_sizes z;
        cs_diags d;
        cs_diags_init(&d);
        int valid = cs_layout_check(&s, &c->layout, &z, &d) == 0;
        const char *first = NULL;
        for (size_t k = 0; k < d.count && !first; k++)
            if (d.items[k].severity == CS_ERROR)
                first = d.items[k].message;
        int fits = 0;
        if (valid) {
            cs_memory_breakdown b;
            cs_memory_peak(&s, &z, &b);
            fits = b.total <= s.cluster.gpu.memory;
        }
        cs_search_fate want = !valid ? CS_FATE_INVALID : !fits ? CS_FATE_NO_FIT
                                                               : CS_FATE_EVALUATED;
        ck_assert_msg(c->fate == want || (want == CS_FATE_EVALUATED && c->fate == CS_FATE_REPLAYED),
                      "%s: fate %d, check says %d", c->layout.name, c->fate, want);
        if (!valid)
            ck_assert_str_eq(c->why, first);
        if (want == CS_FATE_NO_FIT)
            ck_assert_ptr_nonnull(strstr(c->why, "GB of memory"));
        seen[c->fate]++;
        cs_diags_free(&d);
    }
    ck_assert(seen[CS_FATE_INVALID] > 0 && seen[CS_FATE_NO_FIT] > 0);
    ck_assert_int_eq(seen[CS_FATE_EVALUATED] + seen[CS_FATE_REPLAYED], r.evaluated);
    ck_assert_int_eq(r.invalid + r.no_fit + r.evaluated, r.count);
    cs_search_free(&r);
    cs_scenario_free(&s);
}
END_TEST

static char *csv_of(const cs_scenario *s, int jobs)
{
    cs_search r;
    cs_search_options o = {.jobs = jobs, .top = 5, .model = CS_NET_FLOW};
    ck_assert_int_eq(cs_search_run(s, &o, &r), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    cs_report_search_csv(f, &r);
    cs_report_search(f, CS_FORMAT_JSON, s, &r, -1);
    fclose(f);
    cs_search_free(&r);
    return buf;
}

START_TEST(same_output_for_any_jobs)
{
    cs_scenario s;
    load(1, &s);
    char *a = csv_of(&s, 1), *b = csv_of(&s, 2), *c = csv_of(&s, 3);
    ck_assert_str_eq(a, b);
    ck_assert_str_eq(a, c);
    free(a);
    free(b);
    free(c);
    cs_scenario_free(&s);
}
END_TEST

/* ---- the search: block -------------------------------------------------------------- */

/* The small MoE scenario with a search: block (and whatever else `extra`
 * adds at the top level). */
static int load_with(const char *block, const char *extra, cs_scenario *s, cs_diags *d)
{
    char yaml[8192];
    snprintf(yaml, sizeof yaml, "%ssearch:\n%s%s", scenarios[1], block, extra ? extra : "");
    return tu_load_scenario(yaml, s, d);
}

static void load_block(const char *block, const char *extra, cs_scenario *s)
{
    cs_diags d;
    cs_diags_init(&d);
    int rc = load_with(block, extra, s, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert_int_eq(rc, 0);
}

/* Bad blocks, each reported at its value (line, column within the block,
 * which starts at line 7 of the scenario). */
START_TEST(block_errors)
{
    static const struct {
        const char *block, *extra, *message;
        int line, column;
    } bad[] = {
        {"  tp: [1, 2, 2]\n", NULL, "'tp' lists 2 twice", 7, 14},
        {"  pp: { min: 4, max: 2 }\n", NULL, "'pp': min 4 is above max 2", 7, 7},
        {"  pp: { least: 4 }\n", NULL, "unknown key 'least' in pp", 7, 9},
        {"  ep: [0]\n", NULL, "'ep' must be at least 1, got 0", 7, 8},
        {"  etp: [1, x]\n", NULL, "'etp' must be a count of at least 1 or the word tp", 7, 12},
        {"  schedule: [1f1b, foo]\n", NULL, "unknown schedule 'foo'", 7, 20},
        {"  recompute: [none, none]\n", NULL, "'recompute' lists none twice", 7, 21},
        {"  sequence_parallel: [true, maybe]\n", NULL,
         "'sequence_parallel' must be true or false, got 'maybe'", 7, 29},
        {"  max_memory: 120%\n", NULL, "'max_memory' must be a ratio", 7, 15},
        {"  objective: speed\n", NULL, "unknown objective 'speed'", 7, 14},
        {"  objective: time_to_train\n", NULL, "objective: time_to_train needs training.tokens",
         7, 14},
        {"  gpus: [8, 12]\n", NULL, "gpus: 12 is not a whole number of nodes of 8 GPUs", 7, 13},
        {"  gpus: { min: 8 }\n", NULL, "'gpus' bounds need a max", 7, 9},
        {"  gpus: { min: 12, max: 64 }\n", NULL,
         "gpus: 12 is not a whole number of nodes of 8 GPUs", 7, 9},
        {"  gpus: { min: 16, max: 8 }\n", NULL, "'gpus': min 16 is above max 8", 7, 9},
        {"  ep: []\n", NULL, "'ep' must list 1 to 64 values", 7, 7},
        {"  schedule: []\n", NULL, "'schedule' must name one or more values", 7, 13},
        {"  top: 0\n", NULL, "'top' must be at least 1, got 0", 7, 8},
        {"  bogus: 1\n", NULL, "unknown key 'bogus' in search", 7, 3},
        {"  repeats: 0\n", NULL, "'repeats' must be at least 1, got 0", 7, 12},
        {"  global_batch_size: { min: 1024 }\n", NULL, "'global_batch_size' bounds need a max", 7,
         22},
        {"  global_batch_size: [16, 16]\n", NULL, "'global_batch_size' lists 16 twice", 7, 27},
        {"  repeats: 1001\n", "uncertainty: { compute_jitter: 0.05 }\n",
         "repeats: at most 1000, got 1001", 7, 12},
        {"  repeats: 3\n", NULL, "repeats: 3 replays would all be the same", 7, 12},
    };
    /* A one-node cluster with no network between nodes cannot grow. */
    {
        cs_scenario s;
        cs_diags d;
        cs_diags_init(&d);
        char yaml[4096];
        snprintf(yaml, sizeof yaml, "%s", scenarios[1]);
        char *cl = strstr(yaml, "cluster: { base: dgx-h100, nodes: 1 }");
        ck_assert_ptr_nonnull(cl);
        const char *one = "cluster: { gpu: { peak_compute: 989 TFLOP/s, memory_bandwidth: 3.35 "
                          "TB/s, memory: 80 GB }, nodes: 1, gpus_per_node: 8, scale_up: { "
                          "bandwidth: 450 GB/s } }";
        char rest[4096];
        snprintf(rest, sizeof rest, "%s", cl + strlen("cluster: { base: dgx-h100, nodes: 1 }"));
        snprintf(cl, sizeof yaml - (size_t)(cl - yaml), "%s%ssearch:\n  gpus: [8, 16]\n", one,
                 rest);
        char priced[4096]; /* the same cluster has no price: objective cost has nothing to use */
        snprintf(priced, sizeof priced, "%.*ssearch:\n  objective: cost\n",
                 (int)(strstr(yaml, "search:") - yaml), yaml);
        ck_assert_int_eq(tu_load_scenario(priced, &s, &d), -1);
        tu_assert_diag(&d, CS_ERROR, "objective: cost needs a cost: block", 7, 14);
        ck_assert_ptr_nonnull(tu_find(&d, "or a cluster with a price:"));
        cs_diags_free(&d);
        cs_scenario_free(&s);
        cs_diags_init(&d);
        ck_assert_int_eq(tu_load_scenario(yaml, &s, &d), -1);
        const cs_diag *g = tu_find(&d, "gpus: 16 spans nodes, and the cluster has no network "
                                       "between nodes (cluster.scale_out)");
        ck_assert_ptr_nonnull(g);
        ck_assert_uint_eq(d.errors, 1); /* the cluster is fine otherwise */
        ck_assert_msg(g->line == 7 && g->col == 13, "at %d:%d", g->line, g->col);
        cs_diags_free(&d);
        cs_scenario_free(&s);
    }
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        cs_scenario s;
        cs_diags d;
        cs_diags_init(&d);
        ck_assert_int_eq(load_with(bad[k].block, bad[k].extra, &s, &d), -1);
        const cs_diag *g = tu_find(&d, bad[k].message);
        ck_assert_msg(g != NULL, "no '%s' for %s", bad[k].message, bad[k].block);
        ck_assert_msg(g->line == bad[k].line && g->col == bad[k].column,
                      "'%s' at %d:%d, want %d:%d", bad[k].message, g->line, g->col,
                      bad[k].line, bad[k].column);
        cs_diags_free(&d);
        cs_scenario_free(&s);
    }
}
END_TEST

/* The space is exactly the block's: listed values as listed, bounds on
 * the defaults, the rest default; every combination once. */
START_TEST(block_space)
{
    cs_scenario s;
    load_block("  tp: 2\n  pp: { max: 2 }\n  ep: [2, 8]\n  etp: [tp]\n  micro_batch_size: [1]\n"
               "  schedule: [1f1b, interleaved]\n  vpp: [2, 4]\n  recompute: none\n",
               NULL, &s);
    cs_search r;
    ck_assert_int_eq(cs_search_space(&s, &r), 0);
    /* pp 1 (1f1b only) and pp 2 (1f1b, interleaved vpp 2 and 4), each for ep 2
     * and 8: (1 + 3) x 2. */
    ck_assert_int_eq(r.count, 8);
    for (long i = 0; i < r.count; i++) {
        const cs_layout *l = &r.c[i].layout;
        ck_assert_int_eq(l->tp, 2);
        ck_assert_int_eq(l->etp, 2);
        ck_assert(l->pp <= 2);
        ck_assert(l->ep == 2 || l->ep == 8);
        ck_assert_int_eq(l->micro_batch_size, 1);
        ck_assert_int_eq(l->recompute, CS_RECOMPUTE_NONE);
        ck_assert(l->schedule == CS_INTERLEAVED ? l->vpp == 2 || l->vpp == 4 : l->vpp == 1);
        for (long j = 0; j < i; j++)
            ck_assert_str_ne(l->name, r.c[j].layout.name);
    }
    cs_search_free(&r);
    cs_scenario_free(&s);
    /* Bounds on etp apply to its defaults once tp is known: 1 and tp 4 with
     * at most 2 leave 1; with at least 2, tp itself. */
    static const char *const blocks[] = {"  tp: 4\n  etp: { max: 2 }\n",
                                         "  tp: 4\n  etp: { min: 2 }\n"};
    for (int b = 0; b < 2; b++) {
        load_block(blocks[b], NULL, &s);
        ck_assert_int_eq(cs_search_space(&s, &r), 0);
        ck_assert(r.count > 0);
        for (long i = 0; i < r.count; i++)
            ck_assert_int_eq(r.c[i].layout.etp, b ? 4 : 1);
        cs_search_free(&r);
        cs_scenario_free(&s);
    }
}
END_TEST

/* Context parallelism in the space: by default the powers of two that
 * leave each rank 4096 tokens or more (cp 1, 2 and 4 for 16k tokens; cp 1
 * alone for 4k), or as listed; a cp over 1 names itself. */
START_TEST(cp_in_the_space)
{
    static const long seqs[] = {16384, 4096, 16384};
    static const char *const blocks[] = {"  tp: 1\n", "  tp: 1\n", "  tp: 1\n  cp: [8]\n"};
    static const int want[][4] = {{1, 1, 1, 0}, {1, 0, 0, 0}, {0, 0, 0, 1}}; /* cp 1, 2, 4, 8 */
    for (int k = 0; k < 3; k++) {
        char yaml[2048];
        snprintf(yaml, sizeof yaml,
                 "model: { name: d, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
                 "ffn_hidden_size: 4096, vocab_size: 32000, max_position_embeddings: 16384 }\n"
                 "cluster: { base: dgx-h100, nodes: 1 }\n"
                 "training: { seq_length: %ld, global_batch_size: 16 }\n"
                 "layouts:\n  - { tp: 1, pp: 1 }\nsearch:\n%s",
                 seqs[k], blocks[k]);
        cs_scenario s;
        cs_diags d;
        cs_diags_init(&d);
        ck_assert_int_eq(tu_load_scenario(yaml, &s, &d), 0);
        cs_diags_free(&d);
        cs_search r;
        ck_assert_int_eq(cs_search_space(&s, &r), 0);
        int seen[4] = {0};
        for (long i = 0; i < r.count; i++) {
            long cp = r.c[i].layout.cp;
            ck_assert(cp == 1 || cp == 2 || cp == 4 || cp == 8);
            seen[cp == 1 ? 0 : cp == 2 ? 1 : cp == 4 ? 2 : 3] = 1;
            char tag[8];
            snprintf(tag, sizeof tag, "-cp%ld-", cp);
            ck_assert_int_eq(strstr(r.c[i].layout.name, tag) != NULL, cp > 1);
        }
        for (int c = 0; c < 4; c++)
            ck_assert_msg(seen[c] == want[k][c], "seq %ld: cp %d seen %d", seqs[k], 1 << c,
                          seen[c]);
        cs_search_free(&r);
        cs_scenario_free(&s);
    }
}
END_TEST

/* CP's exchange as a variant: cp > 1 tried once per exchange asked for
 * (named by it), cp 1, which has no exchange, once; "allgather" is
 * all_gather. */
START_TEST(cp_exchanges_in_the_space)
{
    const char *yaml =
        "model: { name: d, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
        "ffn_hidden_size: 4096, vocab_size: 32000, max_position_embeddings: 16384 }\n"
        "cluster: { base: dgx-h100, nodes: 1 }\n"
        "training: { seq_length: 16384, global_batch_size: 16 }\n"
        "layouts:\n  - { tp: 1, pp: 1 }\n"
        "search: { tp: 1, pp: 1, cp: [1, 2], micro_batch_size: 1, recompute: none, "
        "schedule: 1f1b, cp_comm_type: [p2p, a2a, allgather] }\n";
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(tu_load_scenario(yaml, &s, &d), 0);
    cs_diags_free(&d);
    cs_search r;
    ck_assert_int_eq(cs_search_space(&s, &r), 0);
    ck_assert_int_eq(r.variant_count, 3);
    int seen[3] = {0}, flat = 0;
    for (long i = 0; i < r.count; i++) {
        const cs_layout *l = &r.c[i].layout;
        cs_cp_comm x = r.variants[r.c[i].variant].training.cp_comm_type;
        if (l->cp == 1) {
            flat++;
            continue;
        }
        ck_assert(x <= CS_CP_ALLGATHER);
        seen[x]++;
        char tag[32];
        snprintf(tag, sizeof tag, "-%s", cs_cp_comm_name(x));
        ck_assert_msg(strstr(l->name, tag) != NULL, "%s lacks %s", l->name, tag);
    }
    ck_assert_int_eq(flat, 1);
    ck_assert(seen[CS_CP_P2P] == 1 && seen[CS_CP_A2A] == 1 && seen[CS_CP_ALLGATHER] == 1);
    cs_search_free(&r);
    cs_scenario_free(&s);
    /* With every variant at once the names stay whole and distinct (the
     * exchange's tag last), and a candidate without cp has no tag: it sits
     * in the training's exchange's variants (a2a here). */
    const char *many =
        "model: { name: d, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
        "ffn_hidden_size: 4096, vocab_size: 32000, max_position_embeddings: 16384 }\n"
        "cluster: { base: dgx-h100, nodes: 1 }\n"
        "training: { seq_length: 16384, global_batch_size: 16, cp_comm_type: a2a }\n"
        "layouts:\n  - { tp: 1, pp: 1 }\n"
        "search: { tp: 2, pp: 2, cp: [1, 2], vpp: [2], schedule: interleaved, "
        "recompute: selective, micro_batch_size: 1, sequence_parallel: [true, false], "
        "distributed_optimizer: [true, false], cp_comm_type: [p2p, a2a, all_gather] }\n";
    cs_diags_init(&d);
    ck_assert_int_eq(tu_load_scenario(many, &s, &d), 0);
    cs_diags_free(&d);
    ck_assert_int_eq(cs_search_space(&s, &r), 0);
    long untagged = 0;
    for (long i = 0; i < r.count; i++) {
        const cs_layout *l = &r.c[i].layout;
        for (long j = 0; j < i; j++)
            ck_assert_str_ne(l->name, r.c[j].layout.name);
        if (l->cp == 1) {
            untagged++;
            ck_assert_int_eq(r.variants[r.c[i].variant].training.cp_comm_type, CS_CP_A2A);
            ck_assert_msg(!strstr(l->name, "-a2a") && !strstr(l->name, "-p2p") &&
                              !strstr(l->name, "-all_gather"),
                          "%s", l->name);
        } else {
            const char *tag = cs_cp_comm_name(r.variants[r.c[i].variant].training.cp_comm_type);
            size_t n = strlen(l->name), t = strlen(tag);
            ck_assert_msg(n > t && !strcmp(l->name + n - t, tag), "%s", l->name);
        }
    }
    ck_assert_int_eq(untagged, 4); /* sp x dopt */
    cs_search_free(&r);
    cs_scenario_free(&s);
    /* The list's last value replaced: a2a+p2p is refused at the list, a name
     * TE does not have at the name. */
    const char *last = strstr(yaml, "allgather"), *search = strstr(yaml, "search:");
    int list_col = (int)(strstr(yaml, "cp_comm_type: [") - search) + 15;
    static const char *const values[] = {"a2a+p2p", "ring"};
    static const char *const says[] = {"a2a+p2p is not modelled yet", "cp_comm_type"};
    for (int i = 0; i < 2; i++) {
        char text[2048];
        snprintf(text, sizeof text, "%.*s%s] }\n", (int)(last - yaml), yaml, values[i]);
        cs_diags_init(&d);
        ck_assert_int_eq(tu_load_scenario(text, &s, &d), -1);
        tu_assert_diag(&d, CS_ERROR, says[i], 6, i ? (int)(last - search) + 1 : list_col);
        cs_diags_free(&d);
        cs_scenario_free(&s);
    }
}
END_TEST

/* Megatron-FSDP as a variant: both tried, named -fsdp0 and -fsdp1, the
 * FSDP ones with the training's strategy's optimizer sharding. */
START_TEST(fsdp_in_the_space)
{
    cs_scenario s;
    load_block("  tp: 2\n  pp: 1\n  micro_batch_size: 1\n  recompute: none\n"
               "  schedule: 1f1b\n  use_megatron_fsdp: [false, true]\n",
               NULL, &s);
    cs_search r;
    ck_assert_int_eq(cs_search_space(&s, &r), 0);
    ck_assert_int_eq(r.variant_count, 2);
    long with = 0;
    for (long i = 0; i < r.count; i++) {
        const cs_scenario *v = &r.variants[r.c[i].variant];
        int fsdp = v->training.use_megatron_fsdp;
        with += fsdp;
        ck_assert_ptr_nonnull(strstr(r.c[i].layout.name, fsdp ? "-fsdp1" : "-fsdp0"));
        if (fsdp) { /* and what Megatron-FSDP sets for itself */
            ck_assert_int_eq(cs_training_zero(&v->training), 3);
            ck_assert(v->training.overlap_grad_reduce && v->training.overlap_param_gather);
        }
    }
    ck_assert_int_eq(2 * with, r.count);
    cs_search_free(&r);
    cs_scenario_free(&s);
}
END_TEST

/* A GPU count of the block gives what the scenario written with that many
 * nodes gives, candidate for candidate; sequence parallelism off turns
 * tp_comm_overlap off with it; TP across nodes is refused by name. */
START_TEST(block_variants)
{
    cs_scenario s, two;
    load_block("  gpus: [8, 16]\n  sequence_parallel: [true, false]\n  pp: [1, 2]\n  tp: [2, 16]\n"
               "  ep: 2\n  etp: 1\n"
               "  micro_batch_size: 1\n  recompute: none\n  schedule: 1f1b\n",
               NULL, &s);
    s.training.tp_comm_overlap = 1; /* with SP, as written */
    cs_search r;
    cs_search_options o = {.jobs = 2, .top = 1, .model = CS_NET_ANALYTIC};
    ck_assert_int_eq(cs_search_run(&s, &o, &r), 0);
    ck_assert_int_eq(r.variant_count, 4);
    long g16 = 0, tp16 = 0;
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "%s", scenarios[1]);
    char *nodes = strstr(yaml, "nodes: 1");
    ck_assert_ptr_nonnull(nodes);
    nodes[7] = '2';
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(tu_load_scenario(yaml, &two, &d), 0);
    cs_diags_free(&d);
    for (long i = 0; i < r.count; i++) {
        const cs_search_candidate *c = &r.c[i];
        const cs_scenario *v = &r.variants[c->variant];
        ck_assert_int_eq(c->gpus, v->cluster.nodes * 8);
        ck_assert(!v->training.tp_comm_overlap || v->training.sequence_parallel);
        if (c->layout.tp == 16) {
            tp16++;
            ck_assert_int_eq(c->fate, CS_FATE_INVALID);
            if (c->gpus == 16 && c->layout.pp == 1 && v->training.sequence_parallel)
                ck_assert_str_eq(c->why, "TP 16 spans nodes of 8 GPUs (search: tp_within_node is "
                                         "true)");
            continue;
        }
        if (c->gpus != 16 || !v->training.sequence_parallel || c->fate < CS_FATE_EVALUATED)
            continue;
        g16++;
        two.training.tp_comm_overlap = 1;
        cs_layout_sizes z;
        cs_diags_init(&d);
        ck_assert_int_eq(cs_layout_check(&two, &c->layout, &z, &d), 0);
        cs_diags_free(&d);
        cs_replay_result res;
        ck_assert_int_eq(cs_replay(&two, &c->layout, &z, CS_NET_ANALYTIC, two.seed, &res), 0);
        ck_assert_msg(res.iteration_time_s == c->iteration_time_s, "%s: %.17g, written %.17g",
                      c->layout.name, c->iteration_time_s, res.iteration_time_s);
        cs_replay_result_free(&res);
        ck_assert_ptr_nonnull(strstr(c->layout.name, "-g16-sp1"));
    }
    ck_assert(g16 > 0 && tp16 == 8);
    cs_search_free(&r);
    cs_scenario_free(&two);
    cs_scenario_free(&s);
}
END_TEST

/* objective: cost ranks by GPUs x iteration time x the price of a
 * GPU-second, and the cost per million tokens is that over the tokens of
 * an iteration; the
 * Pareto front is exactly the candidates no other beats; max_memory prunes
 * by the share it allows. */
START_TEST(block_objective_front_and_headroom)
{
    cs_scenario s;
    load_block("  gpus: [8, 16]\n  objective: cost\n  max_memory: 5%\n",
               "cost: { gpu_hour: 2.5 USD }\n", &s);
    cs_search r;
    cs_search_options o = {.jobs = 2, .top = 1, .model = CS_NET_ANALYTIC};
    ck_assert_int_eq(cs_search_run(&s, &o, &r), 0);
    ck_assert(r.evaluated > 10 && r.no_fit > 0);
    double allowed = 0.05 * s.cluster.gpu.memory, tokens = 16.0 * 1024;
    for (long k = 0; k < r.evaluated; k++) {
        const cs_search_candidate *c = &r.c[r.ranked[k]];
        double gpu_s = (double)c->gpus * c->iteration_time_s;
        ck_assert(c->objective == gpu_s * (2.5 / 3600));
        ck_assert_double_eq_tol(c->cost_per_mtoken_usd, gpu_s * 2.5 / 3600 / tokens * 1e6,
                                1e-12 * c->cost_per_mtoken_usd);
        ck_assert(c->memory_estimate_bytes <= allowed);
        if (k > 0 && c->memory_fits == r.c[r.ranked[k - 1]].memory_fits)
            ck_assert(r.c[r.ranked[k - 1]].objective <= c->objective);
    }
    long front = 0;
    for (long i = 0; i < r.count; i++) {
        const cs_search_candidate *c = &r.c[i];
        if (c->fate == CS_FATE_NO_FIT)
            ck_assert_ptr_nonnull(strstr(c->why, "(max_memory 5% of"));
        if (c->fate < CS_FATE_EVALUATED || !c->memory_fits) {
            ck_assert(!c->pareto);
            continue;
        }
        int beaten = 0;
        for (long j = 0; j < r.count && !beaten; j++) {
            const cs_search_candidate *x = &r.c[j];
            if (j == i || x->fate < CS_FATE_EVALUATED || !x->memory_fits)
                continue;
            int le = x->iteration_time_s <= c->iteration_time_s &&
                     x->memory_peak_bytes <= c->memory_peak_bytes && x->gpus <= c->gpus;
            int lt = x->iteration_time_s < c->iteration_time_s ||
                     x->memory_peak_bytes < c->memory_peak_bytes || x->gpus < c->gpus;
            beaten = le && lt;
        }
        ck_assert_msg(c->pareto == !beaten, "%s: pareto %d, beaten %d", c->layout.name,
                      c->pareto, beaten);
        front += c->pareto;
    }
    ck_assert(front > 1);
    ck_assert_int_eq(front, r.pareto);
    cs_search_free(&r);
    cs_scenario_free(&s);
}
END_TEST

/* A budget that has run out before the first candidate leaves every
 * candidate skipped, counted, and nothing ranked. */
START_TEST(budget_skips)
{
    cs_scenario s;
    load(1, &s);
    cs_search r;
    cs_search_options o = {.jobs = 2, .top = 3, .model = CS_NET_ANALYTIC, .budget_s = 1e-300};
    ck_assert_int_eq(cs_search_run(&s, &o, &r), 0);
    ck_assert(r.skipped > 0);
    ck_assert_int_eq(r.skipped + r.invalid + r.no_fit + r.evaluated, r.count);
    for (long i = 0; i < r.count; i++)
        if (r.c[i].fate == CS_FATE_SKIPPED)
            ck_assert_int_eq(r.c[i].rank, 0);
    cs_search_free(&r);
    cs_scenario_free(&s);
}
END_TEST

/* GPU-count bounds double from min (one node without it) up to max. */
START_TEST(gpu_count_bounds)
{
    cs_search_config k;
    cs_search_defaults(&k);
    long out[CS_SEARCH_MAX_VALUES];
    ck_assert_int_eq(cs_search_gpu_counts(&k, 64, 8, out), 1);
    ck_assert_int_eq(out[0], 64);
    k.gpus.min = 256;
    k.gpus.max = 1500;
    ck_assert_int_eq(cs_search_gpu_counts(&k, 64, 8, out), 3);
    ck_assert(out[0] == 256 && out[1] == 512 && out[2] == 1024);
    k.gpus.min = 1;
    k.gpus.max = 32;
    ck_assert_int_eq(cs_search_gpu_counts(&k, 64, 8, out), 3);
    ck_assert(out[0] == 8 && out[1] == 16 && out[2] == 32);
    cs_scenario s;
    load_block("  gpus: { max: 16 }\n  pp: 1\n  tp: 2\n  ep: 2\n  etp: 1\n  micro_batch_size: 1\n"
               "  recompute: none\n  schedule: 1f1b\n  sequence_parallel: true\n",
               NULL, &s);
    cs_search r;
    cs_search_options o = {.jobs = 1, .top = 1, .model = CS_NET_ANALYTIC};
    ck_assert_int_eq(cs_search_run(&s, &o, &r), 0);
    ck_assert_int_eq(r.variant_count, 2);
    ck_assert_int_eq(r.count, 2);
    ck_assert(r.c[0].gpus == 8 && r.c[1].gpus == 16);
    cs_search_free(&r);
    cs_scenario_free(&s);
}
END_TEST

/* Global batch sizes as a dimension (a minimum global batch is bounds'
 * min): each a variant named -gbsN, whose cost per token is its own, and
 * ranked per million tokens, iterations of different batches being no
 * measure of each other. */
START_TEST(global_batch_sizes)
{
    cs_scenario s;
    load_block("  global_batch_size: { min: 16, max: 40 }\n  pp: 1\n  tp: 2\n  ep: 2\n  etp: 1\n"
               "  micro_batch_size: 1\n  recompute: none\n  schedule: 1f1b\n"
               "  sequence_parallel: true\n",
               NULL, &s);
    cs_search r;
    cs_search_options o = {.jobs = 2, .top = 1, .model = CS_NET_ANALYTIC};
    ck_assert_int_eq(cs_search_run(&s, &o, &r), 0);
    ck_assert_int_eq(r.variant_count, 2); /* 16 and 32 */
    ck_assert_int_eq(r.evaluated, 2);
    for (long i = 0; i < r.count; i++) {
        const cs_search_candidate *c = &r.c[i];
        long gbs = r.variants[c->variant].training.global_batch_size;
        ck_assert(gbs == 16 || gbs == 32);
        char suffix[16];
        snprintf(suffix, sizeof suffix, "-gbs%ld", gbs);
        ck_assert_ptr_nonnull(strstr(c->layout.name, suffix));
        assert_close(c->objective, c->iteration_time_s * 1e6 / ((double)gbs * 1024), 1e-12);
    }
    /* the larger batch amortizes the pipeline and the gradient reduction:
     * fewer seconds per token */
    const cs_search_candidate *best = &r.c[r.ranked[0]];
    ck_assert_int_eq(r.variants[best->variant].training.global_batch_size, 32);
    cs_search_free(&r);
    cs_scenario_free(&s);
}
END_TEST

/* Precision as a dimension: a variant per precision named -bf16 / -fp8,
 * what needs FP8 off without it; refused where the GPU has no FP8. */
START_TEST(precision_variants)
{
    cs_scenario s;
    load_block("  precision: [bf16, fp8]\n  pp: 1\n  tp: 2\n  ep: 2\n  etp: 1\n"
               "  micro_batch_size: 1\n  recompute: none\n  schedule: 1f1b\n"
               "  sequence_parallel: true\n",
               NULL, &s);
    cs_search r;
    cs_search_options o = {.jobs = 2, .top = 1, .model = CS_NET_ANALYTIC};
    ck_assert_int_eq(cs_search_run(&s, &o, &r), 0);
    ck_assert_int_eq(r.variant_count, 2);
    ck_assert_int_eq(r.evaluated, 2);
    double t[3] = {0, 0, 0};
    for (long i = 0; i < r.count; i++) {
        const cs_search_candidate *c = &r.c[i];
        cs_precision p = r.variants[c->variant].training.precision;
        ck_assert(p == CS_BF16 || p == CS_FP8);
        ck_assert_ptr_nonnull(strstr(c->layout.name, p == CS_FP8 ? "-fp8" : "-bf16"));
        t[p] = c->iteration_time_s;
    }
    ck_assert(t[CS_BF16] > 0 && t[CS_FP8] > 0 && t[CS_BF16] != t[CS_FP8]);
    cs_search_free(&r);
    cs_scenario_free(&s);
    char yaml[8192];
    snprintf(yaml, sizeof yaml, "%ssearch:\n  precision: [bf16, fp8]\n", scenarios[1]);
    char *base = strstr(yaml, "dgx-h100");
    ck_assert_ptr_nonnull(base);
    memmove(base + strlen("dgx-a100-80gb"), base + strlen("dgx-h100"),
            strlen(base + strlen("dgx-h100")) + 1);
    memcpy(base, "dgx-a100-80gb", strlen("dgx-a100-80gb"));
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(tu_load_scenario(yaml, &s, &d), -1);
    const cs_diag *g = tu_find(&d, "precision: fp8 needs FP8 tensor cores, and GPU");
    ck_assert_ptr_nonnull(g);
    ck_assert_msg(g->line == 7 && g->col == 14, "at %d:%d", g->line, g->col);
    cs_diags_free(&d);
    cs_scenario_free(&s);
}
END_TEST

/* --network-model M makes every stage use M: the evaluation replays with
 * M, giving each candidate exactly what a last-stage replay with M gives
 * it, and nothing is replayed again. */
START_TEST(every_stage_uses_the_model)
{
    cs_scenario s;
    load(1, &s);
    cs_search staged, every;
    cs_search_options a = {.jobs = 2, .top = 1000000, .model = CS_NET_FLOW};
    cs_search_options b = {.jobs = 2, .top = 1000000, .model = CS_NET_FLOW, .every_stage = 1};
    ck_assert_int_eq(cs_search_run(&s, &a, &staged), 0);
    ck_assert_int_eq(cs_search_run(&s, &b, &every), 0);
    ck_assert_int_eq(every.replayed, 0);
    ck_assert_int_eq(every.evaluated, staged.evaluated);
    for (long i = 0; i < every.count; i++) {
        if (every.c[i].fate < CS_FATE_EVALUATED)
            continue;
        ck_assert_int_eq(every.c[i].stage, CS_NET_FLOW);
        ck_assert(every.c[i].iteration_time_s == staged.c[i].iteration_time_s);
        ck_assert_int_eq(every.c[i].rank, staged.c[i].rank);
    }
    cs_search_free(&staged);
    cs_search_free(&every);
    cs_scenario_free(&s);
}
END_TEST

/* With search.repeats the last stage's numbers are means over replays with
 * the scenario's seed and seeds derived from it and the candidate's place
 * (as a sweep derives them), the iteration time's p5 and p95 their
 * percentiles: worked again here with the same replays. */
START_TEST(repeats_are_means)
{
    cs_scenario s;
    load_block("  recompute: none\n  repeats: 4\n  top: 2\n",
               "uncertainty: { compute_jitter: 0.1 }\n", &s);
    cs_search r;
    cs_search_options o = {.jobs = 2, .top = 2, .model = CS_NET_ANALYTIC};
    ck_assert_int_eq(cs_search_run(&s, &o, &r), 0);
    ck_assert_int_eq(r.replayed, 2);
    for (long k = 0; k < 2; k++) {
        long i = r.ranked[k];
        const cs_search_candidate *c = &r.c[i];
        ck_assert_int_eq(c->repeats, 4);
        double t[4];
        for (long n = 0; n < 4; n++) {
            cs_replay_result x;
            unsigned long seed = n == 0 ? s.seed : cs_sweep_seed(s.seed, i, n);
            ck_assert_int_eq(cs_replay(&r.variants[c->variant], &c->layout, &c->sizes,
                                       CS_NET_ANALYTIC, seed, &x),
                             0);
            t[n] = x.iteration_time_s;
            cs_replay_result_free(&x);
        }
        ck_assert(t[0] != t[1]); /* the jitter draws differ */
        ck_assert(c->iteration_time_s == gsl_stats_mean(t, 1, 4));
        gsl_sort(t, 1, 4);
        ck_assert(c->iteration_time_p5_s == gsl_stats_quantile_from_sorted_data(t, 1, 4, 0.05));
        ck_assert(c->iteration_time_p95_s == gsl_stats_quantile_from_sorted_data(t, 1, 4, 0.95));
        ck_assert(c->iteration_time_p5_s < c->iteration_time_s &&
                  c->iteration_time_s < c->iteration_time_p95_s);
    }
    /* The others keep one analytic replay. */
    ck_assert_int_eq(r.c[r.ranked[2]].repeats, 1);
    ck_assert(isnan(r.c[r.ranked[2]].iteration_time_p5_s));
    cs_search_free(&r);
    cs_scenario_free(&s);
}
END_TEST

/* With a search: block the layouts may be left out: search runs, and every
 * other command says why it cannot. */
START_TEST(search_without_layouts)
{
    char yaml[4096], cmd[8192], *out = NULL, *err = NULL;
    snprintf(yaml, sizeof yaml, "%s", scenarios[1]);
    *strstr(yaml, "layouts:") = '\0';
    strcat(yaml, "search:\n  pp: [1, 2]\n  recompute: none\n");
    const char *file = tu_write("nolayouts.yaml", yaml), *dir = tu_temp_dir();
    snprintf(cmd, sizeof cmd, "'%s' search '%s' --network-model analytic --quiet --no-plots "
             "--out '%s/nl'", CS_BINARY, file, dir);
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "the best, as a layouts: entry (on "));
    free(out);
    static const char *const others[] = {"run", "check", "sweep", "kernels"};
    for (size_t k = 0; k < sizeof others / sizeof *others; k++) {
        snprintf(cmd, sizeof cmd, "'%s' %s '%s'", CS_BINARY, others[k], file);
        ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
        ck_assert_msg(strstr(err, ": error: the scenario has no layouts: only `clustersim "
                                  "search` runs without them") != NULL,
                      "%s: %s", others[k], err);
        free(err);
    }
    /* Without a search: block they stay required. */
    *strstr(yaml, "search:") = '\0';
    file = tu_write("nolayouts2.yaml", yaml);
    snprintf(cmd, sizeof cmd, "'%s' search '%s' --quiet", CS_BINARY, file);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "missing required key 'layouts' in scenario"));
    free(err);
}
END_TEST

/* The command on the seed: the ranking, the scenario's layouts placed in it,
 * the best as a layouts: entry and as Megatron arguments, search.csv and
 * search.json; --format json prints the contract's fields; bad input. */
START_TEST(command_on_the_seed)
{
    char cmd[8192], *out = NULL, *err = NULL;
    const char *dir = tu_temp_dir();
    snprintf(cmd, sizeof cmd,
             "'%s' search '%s/scenarios/seed-options.yaml' --network-model analytic --top 3 "
             "--jobs 2 --out '%s/s'",
             CS_BINARY, CS_SOURCE_DIR, dir);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "pruned, by rule:"));
    ck_assert_ptr_nonnull(strstr(out, "the scenario's option1: rank "));
    ck_assert_ptr_nonnull(strstr(out, "the scenario's original: invalid, or outside the space"));
    ck_assert_ptr_nonnull(strstr(out, "the best, as a layouts: entry (on 512 GPUs, cluster.nodes 64):\n  - { name: tp"));
    ck_assert_ptr_nonnull(strstr(out, "--tensor-model-parallel-size "));
    free(out);
    free(err);
    char path[4096];
    snprintf(path, sizeof path, "%s/s/search.csv", dir);
    char *csv = tu_read(path);
    ck_assert_ptr_nonnull(csv);
    const char *header = "name,gpus,tp,pp,ep,etp,vpp,micro_batch_size,schedule,recompute,";
    ck_assert(!strncmp(csv, header, strlen(header)));
    ck_assert_ptr_nonnull(strstr(csv, ",invalid,\""));
    ck_assert_ptr_nonnull(strstr(csv, ",evaluated,\""));
    free(csv);
    /* The front's data, listed for pareto.png. */
    snprintf(path, sizeof path, "%s/s/pareto.dat", dir);
    char *dat = tu_read(path);
    ck_assert_ptr_nonnull(dat);
    ck_assert_ptr_nonnull(strstr(dat, "# memory_gb time_s rank (the Pareto front)\n"));
    free(dat);
    snprintf(path, sizeof path, "%s/s/plots.txt", dir);
    char *list = tu_read(path);
    ck_assert_ptr_nonnull(list);
    ck_assert_ptr_nonnull(strstr(list, "plots/pareto.gp\tpareto.dat\tpareto.png\t"));
    free(list);
    snprintf(cmd, sizeof cmd,
             "'%s' search '%s/scenarios/seed-options.yaml' --network-model analytic --top 2 "
             "--format json --out '%s/j'",
             CS_BINARY, CS_SOURCE_DIR, dir);
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
    static const char *const keys[] = {
        "\"candidates\": [", "\"name\":", "\"tp\":", "\"pp\":", "\"ep\":", "\"etp\":", "\"dp\":",
        "\"vpp\":", "\"micro_batch_size\":", "\"schedule\":", "\"recompute\":",
        "\"iteration_time_s\":", "\"throughput_seq_per_s\":", "\"memory_peak_bytes\":",
        "\"memory_fits\":", "\"gpus\": 512", "\"pareto\":", "\"stage\": \"analytic\"",
        "\"throughput_tokens_per_s\":", "\"model_tflops_per_gpu\":", "\"bubble_fraction\":",
        "\"time_breakdown_s\": {", "\"memory_breakdown_bytes\": {", "\"compute_breakdown_s\": {"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        ck_assert_msg(strstr(out, keys[k]) != NULL, "no %s in %s", keys[k], out);
    ck_assert_ptr_null(strstr(strstr(out, "\"rank\": 2") + 1, "\"rank\": 3"));
    free(out);
    static const char *const bad[][2] = {
        {"--top 0 x.yaml", "--top wants a positive number"},
        {"--jobs 65 x.yaml", "--jobs wants 1 to 64"},
        {"--budget 0 x.yaml", "--budget wants a number of seconds"},
        {"--budget soon x.yaml", "--budget wants a number of seconds"},
        {"--format yaml x.yaml", "unknown format 'yaml'"},
        {"--network-model wire x.yaml", "unknown network model 'wire'"},
        {"--frobnicate x.yaml", "unknown option '--frobnicate'"},
        {"x.yaml a.yaml", "one scenario file at a time"},
        {"", "which scenario file?"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        snprintf(cmd, sizeof cmd, "'%s' search %s", CS_BINARY, bad[k][0]);
        ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
        ck_assert_msg(strstr(err, bad[k][1]) != NULL, "'%s': %s", bad[k][0], err);
        free(err);
    }
    snprintf(cmd, sizeof cmd, "'%s' search '%s/missing.yaml' --out '%s/m'", CS_BINARY, dir, dir);
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 2);
}
END_TEST

/* DIR/SUB/search.json without its "resumed" line (owned). */
static char *json_without_resumed(const char *dir, const char *sub)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/search.json", dir, sub);
    char *text = tu_read(path);
    ck_assert_ptr_nonnull(text);
    char *line = strstr(text, "  \"resumed\": ");
    ck_assert_ptr_nonnull(line);
    char *end = strchr(line, '\n');
    memmove(line, end + 1, strlen(end + 1) + 1);
    return text;
}

/* search.csv of a search run in `dir`/`sub` with `extra` options; the
 * file's text (owned), NULL when the command failed. */
static char *search_csv(const char *file, const char *dir, const char *sub, const char *extra)
{
    char cmd[16384], path[4096];
    snprintf(cmd, sizeof cmd, "'%s' search '%s' --quiet --no-plots --jobs 2 --top 3 --out '%s/%s' %s",
             CS_BINARY, file, dir, sub, extra);
    if (tu_run(cmd, NULL, NULL) != 0)
        return NULL;
    snprintf(path, sizeof path, "%s/%s/search.csv", dir, sub);
    return tu_read(path);
}

/* Going on from earlier runs changes nothing: a search resumed from its own
 * search.csv, or merged from its shards' (one of three missing: evaluated
 * by the merge), writes the same search.csv as one run, under the flow
 * model's last stage and under the analytic model alone (whose best are
 * replayed again for what the file does not keep). Files of another
 * search, cut short or of another header are refused. */
START_TEST(resume_and_shards)
{
    char file[1024], dir[1024]; /* tu_write's and tu_temp_dir's buffers are reused */
    snprintf(file, sizeof file, "%s", tu_write("resume.yaml", scenarios[1]));
    snprintf(dir, sizeof dir, "%s", tu_temp_dir());
    static const char *const models[] = {"--network-model flow", "--network-model analytic"};
    char extra[4096];
    for (int m = 0; m < 2; m++) {
        char *fresh = search_csv(file, dir, "fresh", models[m]);
        ck_assert_ptr_nonnull(fresh);
        ck_assert_ptr_nonnull(strstr(fresh, ",evaluated,"));
        char *fresh_json = json_without_resumed(dir, "fresh");
        /* resumed from itself (its replayed rows evaluated again) */
        char *again = search_csv(file, dir, "fresh", (snprintf(extra, sizeof extra, "%s --resume",
                                                               models[m]),
                                                      extra));
        ck_assert_ptr_nonnull(again);
        ck_assert_str_eq(again, fresh);
        free(again);
        char *again_json = json_without_resumed(dir, "fresh"); /* every metric of the best too */
        ck_assert_str_eq(again_json, fresh_json);
        free(again_json);
        /* three shards, each evaluating a third and no last stage */
        for (int k = 1; k <= 3; k++) {
            char sub[16];
            snprintf(sub, sizeof sub, "shard%d", k);
            snprintf(extra, sizeof extra, "%s --shard %d/3", models[m], k);
            char *part = search_csv(file, dir, sub, extra);
            ck_assert_ptr_nonnull(part);
            ck_assert_ptr_nonnull(strstr(part, ",skipped,\"left to shard "));
            ck_assert_ptr_null(strstr(part, ",replayed,"));
            char tail[32];
            snprintf(tail, sizeof tail, ",%d/3\n", k);
            ck_assert_ptr_nonnull(strstr(part, tail));
            free(part);
        }
        snprintf(extra, sizeof extra, "%s --merge '%s/shard1/search.csv' --merge "
                 "'%s/shard3/search.csv'", models[m], dir, dir);
        char *merged = search_csv(file, dir, "merged", extra);
        ck_assert_ptr_nonnull(merged);
        ck_assert_str_eq(merged, fresh);
        free(merged);
        char *merged_json = json_without_resumed(dir, "merged");
        ck_assert_str_eq(merged_json, fresh_json);
        free(merged_json);
        free(fresh_json);
        free(fresh);
    }
    /* Refused, with the reason: another search's rows, a cut row, another
     * header, a missing file. */
    char other[4096];
    snprintf(other, sizeof other, "%s", scenarios[1]);
    *strstr(other, "global_batch_size: 16") = '\0';
    strcat(other, "global_batch_size: 32, micro_batch_size: 1 }\nlayouts:\n  - { tp: 1, pp: 1 }\n");
    char file2[1024];
    snprintf(file2, sizeof file2, "%s", tu_write("resume2.yaml", other));
    char path[2048], cmd[16384], *err = NULL;
    snprintf(path, sizeof path, "%s/shard1/search.csv", dir);
    snprintf(cmd, sizeof cmd, "'%s' search '%s' --quiet --no-plots --out '%s/o' --merge '%s'",
             CS_BINARY, file2, dir, path);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_msg(strstr(err, ": a row of another search (") != NULL, "%s", err);
    free(err);
    char *text = tu_read(path);
    ck_assert_ptr_nonnull(text);
    char *cut = strstr(text, ",evaluated,");
    ck_assert_ptr_nonnull(cut);
    strcpy(cut, ",evaluated\n");
    const char *bad = tu_write("cut.csv", text);
    snprintf(cmd, sizeof cmd, "'%s' search '%s' --quiet --no-plots --out '%s/o' --merge '%s'",
             CS_BINARY, file, dir, bad);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_msg(strstr(err, "fields, not 32 (a file cut short?)") != NULL, "%s", err);
    free(err);
    /* a number search never writes: refused, not ranked */
    char *nan_text = tu_read(path);
    char *field = strstr(nan_text, ",evaluated,");
    ck_assert_ptr_nonnull(field);
    field = strstr(field, ",analytic,");
    ck_assert_ptr_nonnull(field);
    memcpy(field + strlen(",analytic,"), "nan", 3);
    bad = tu_write("nan.csv", nan_text);
    free(nan_text);
    snprintf(cmd, sizeof cmd, "'%s' search '%s' --quiet --no-plots --out '%s/o' --merge '%s'",
             CS_BINARY, file, dir, bad);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_msg(strstr(err, "a number that does not read") != NULL, "%s", err);
    free(err);
    *strchr(text, ',') = ';';
    bad = tu_write("header.csv", text);
    snprintf(cmd, sizeof cmd, "'%s' search '%s' --quiet --no-plots --out '%s/o' --merge '%s'",
             CS_BINARY, file, dir, bad);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "is not a search.csv of this version"));
    free(err);
    free(text);
    snprintf(cmd, sizeof cmd, "'%s' search '%s' --quiet --no-plots --out '%s/o' --merge '%s/none'",
             CS_BINARY, file, dir, dir);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "cannot read"));
    free(err);
    static const char *const shards[] = {"0/3", "4/3", "1", "a/b", "1/1025"};
    for (size_t k = 0; k < sizeof shards / sizeof *shards; k++) {
        snprintf(cmd, sizeof cmd, "'%s' search '%s' --shard %s", CS_BINARY, file, shards[k]);
        ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
        ck_assert_ptr_nonnull(strstr(err, "--shard wants K/N"));
        free(err);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("search");
    TCase *tc = tcase_create("search");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, best_is_the_exhaustive_best, 0, 4);
    tcase_add_loop_test(tc, pruning_is_what_check_refuses, 0, 2);
    tcase_add_test(tc, same_output_for_any_jobs);
    tcase_add_test(tc, command_on_the_seed);
    tcase_add_test(tc, block_errors);
    tcase_add_test(tc, block_space);
    tcase_add_test(tc, cp_in_the_space);
    tcase_add_test(tc, fsdp_in_the_space);
    tcase_add_test(tc, cp_exchanges_in_the_space);
    tcase_add_test(tc, block_variants);
    tcase_add_test(tc, block_objective_front_and_headroom);
    tcase_add_test(tc, budget_skips);
    tcase_add_test(tc, search_without_layouts);
    tcase_add_test(tc, resume_and_shards);
    tcase_add_test(tc, repeats_are_means);
    tcase_add_test(tc, gpu_count_bounds);
    tcase_add_test(tc, global_batch_sizes);
    tcase_add_test(tc, precision_variants);
    tcase_add_test(tc, every_stage_uses_the_model);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
