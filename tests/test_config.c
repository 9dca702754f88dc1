/* config: scenarios, models and clusters loaded into typed structs, with every
 * problem of a file reported at its exact position. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TRAINING "training: {seq_length: 2048, global_batch_size: 128}\n"
#define LAYOUTS                                                                             \
    "layouts:\n"                                                                           \
    "  - {tp: 4, pp: 4, ep: 8, dp: 4}\n"

/* A loaded scenario plus its diagnostics, freed together. */
typedef struct run {
    cs_scenario s;
    cs_diags d;
    int rc;
} run;

static void load(run *r, const char *yaml)
{
    cs_diags_init(&r->d);
    r->rc = tu_load_scenario(yaml, &r->s, &r->d);
}

static void done(run *r)
{
    cs_scenario_free(&r->s);
    cs_diags_free(&r->d);
}

/* Loads yaml that must be valid. */
static void load_ok(run *r, const char *yaml)
{
    load(r, yaml);
    if (r->rc != 0 || r->d.count)
        cs_diags_print(&r->d, stderr);
    ck_assert_int_eq(r->rc, 0);
    ck_assert_uint_eq(r->d.errors, 0);
}

/* Loads yaml that must fail with exactly `errors` errors. */
static void load_bad(run *r, const char *yaml, size_t errors)
{
    load(r, yaml);
    if (r->d.errors != errors)
        cs_diags_print(&r->d, stderr);
    ck_assert_int_eq(r->rc, -1);
    ck_assert_uint_eq(r->d.errors, errors);
}

/* The message of the record containing needle must be exactly `full`. */
static void assert_message(const cs_diags *d, const char *needle, const char *full)
{
    const cs_diag *r = tu_find(d, needle);
    ck_assert_msg(r != NULL, "no diagnostic containing '%s'", needle);
    ck_assert_str_eq(r->message, full);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ------------------------------------------------------------------------ */
/* Valid scenarios                                                           */

START_TEST(minimal_scenario_values)
{
    run r;
    load_ok(&r, "model: moe-30b\n"
                "cluster: cluster-512-64gb\n"
                "training:\n"
                "  seq_length: 2048\n"
                "  global_batch_size: 128\n"
                "  sequence_parallel: true\n"
                "targets:\n"
                "  iteration_time: 0.016 s\n"
                "  throughput: 8000 seq/s\n"
                "  memory_per_gpu: 64 GB\n"
                "layouts:\n"
                "  - {name: option1, tp: 4, pp: 4, ep: 8, dp: 4}\n"
                "  - {tp: 2, pp: 8}\n");
    cs_scenario *s = &r.s;
    ck_assert_str_eq(s->name, "scenario"); /* from scenario.yaml */
    ck_assert_int_eq(s->network_model, CS_NET_FLOW);
    ck_assert_uint_eq(s->seed, 1);
    ck_assert_int_eq(s->sweep.present, 0);
    ck_assert_int_eq(s->loc.line, 1);
    ck_assert_int_eq(s->loc.col, 1);

    /* Model: models/moe-30b.yaml. */
    const cs_model *m = &s->model;
    ck_assert_str_eq(m->name, "moe-30b");
    ck_assert_int_eq(m->num_layers, 16);
    ck_assert_int_eq(m->hidden_size, 1024);
    ck_assert_int_eq(m->num_attention_heads, 16);
    ck_assert_int_eq(m->num_query_groups, 16);
    ck_assert_int_eq(m->kv_channels, 64);
    ck_assert_int_eq(m->ffn_hidden_size, 4096);
    ck_assert_int_eq(m->swiglu, 0);
    ck_assert_int_eq(m->normalization, CS_NORM_LAYERNORM);
    ck_assert_int_eq(m->vocab_size, 32000);
    ck_assert_int_eq(m->untie_embeddings_and_output_weights, 1);
    ck_assert_int_eq(m->position_embedding_type, CS_POS_ROPE);
    ck_assert_int_eq(m->moe.num_experts, 64);
    ck_assert_int_eq(m->moe.router_topk, 2);
    ck_assert_int_eq(m->moe.ffn_hidden_size, 14336);
    ck_assert_int_eq(m->moe.layer_freq, 1);
    ck_assert_int_eq(m->moe.pattern_len, 0);
    ck_assert_int_eq(m->moe.shared_expert_ffn_hidden_size, 0);
    ck_assert(m->moe.capacity_factor == 0.0); /* null: dropless */
    ck_assert_int_eq(m->mla.enabled, 0);
    for (long i = 0; i < 16; i++)
        ck_assert(cs_model_is_moe_layer(m, i));

    /* Cluster: topologies/cluster-512-64gb.yaml. */
    const cs_cluster *k = &s->cluster;
    ck_assert_str_eq(k->name, "cluster-512-64gb");
    ck_assert_str_eq(k->gpu.name, "Ascend-910B1");
    ck_assert(k->gpu.peak_compute == 354e12);
    ck_assert(k->gpu.memory == 64e9);
    ck_assert(k->gpu.memory_bandwidth == 1.6e12);
    ck_assert_int_eq(k->gpu.matmul_efficiency.n, 1);
    ck_assert(k->gpu.matmul_efficiency.y[0] == 0.85);
    ck_assert_int_eq(k->gpu.memory_efficiency.n, 1);
    ck_assert(k->gpu.memory_efficiency.y[0] == 0.8);
    ck_assert(k->gpu.kernel_launch == 10e-6);
    ck_assert(k->gpu.reserved_memory == 3e9);
    ck_assert_int_eq(k->nodes, 64);
    ck_assert_int_eq(k->gpus_per_node, 8);
    ck_assert_int_eq(k->scale_up.kind, CS_SCALE_UP_MESH);
    ck_assert(k->scale_up.bandwidth == 196e9);
    ck_assert(k->scale_up.latency == 2e-6);
    ck_assert(k->scale_up.efficiency == 0.65);
    ck_assert_int_eq(k->scale_out.nics_per_node, 8);
    ck_assert(k->scale_out.nic_bandwidth == 25e9); /* 200 Gb/s */
    ck_assert(k->scale_out.latency == 5e-6);
    ck_assert(k->scale_out.efficiency == 0.9);
    ck_assert_int_eq(k->scale_out.topology, CS_FAT_TREE);
    ck_assert(k->scale_out.oversubscription == 1.0);
    ck_assert_int_eq(k->scale_out.leaf_radix, 64);

    /* Training: given keys and defaults. */
    const cs_training *t = &s->training;
    ck_assert_int_eq(t->seq_length, 2048);
    ck_assert_int_eq(t->global_batch_size, 128);
    ck_assert_int_eq(t->micro_batch_size, 1);
    ck_assert_int_eq(t->precision, CS_BF16);
    ck_assert_int_eq(t->schedule, CS_1F1B);
    ck_assert_int_eq(t->virtual_pipeline_stages, 1);
    ck_assert_int_eq(t->recompute, CS_RECOMPUTE_NONE);
    ck_assert_int_eq(t->sequence_parallel, 1);
    ck_assert_int_eq(t->distributed_optimizer, 0);
    ck_assert_int_eq(t->overlap_grad_reduce, 0);
    ck_assert_int_eq(t->optimizer, CS_OPTIMIZER_ADAM);
    ck_assert_int_eq(t->moe_routing.mode, CS_ROUTING_BALANCED);
    ck_assert(t->moe_routing.skew == 1.0);
    ck_assert_int_eq(t->loc.line, 4);
    ck_assert_int_eq(t->loc.col, 3);

    /* Targets, with the positions verdicts point at. */
    ck_assert(s->targets.iteration_time == 0.016);
    ck_assert(s->targets.throughput == 8000.0);
    ck_assert_int_eq(s->targets.throughput_per, CS_PER_SEQUENCE);
    ck_assert(s->targets.memory_per_gpu == 64e9);
    ck_assert_int_eq(s->targets.loc_iteration_time.line, 8);
    ck_assert_int_eq(s->targets.loc_iteration_time.col, 19);
    ck_assert_int_eq(s->targets.loc_throughput.line, 9);
    ck_assert_int_eq(s->targets.loc_throughput.col, 15);
    ck_assert_int_eq(s->targets.loc_memory_per_gpu.line, 10);
    ck_assert_int_eq(s->targets.loc_memory_per_gpu.col, 19);

    /* Layouts. */
    ck_assert_uint_eq(s->layout_count, 2);
    const cs_layout *l = &s->layouts[0];
    ck_assert_str_eq(l->name, "option1");
    ck_assert_int_eq(l->tp, 4);
    ck_assert_int_eq(l->pp, 4);
    ck_assert_int_eq(l->ep, 8);
    ck_assert_int_eq(l->dp, 4);
    ck_assert_int_eq(l->loc.line, 12);
    ck_assert_int_eq(l->loc.col, 5);
    ck_assert_int_eq(l->loc_tp.line, 12);
    ck_assert_int_eq(l->loc_tp.col, 25);
    ck_assert_int_eq(l->loc_dp.line, 12);
    ck_assert_int_eq(l->loc_dp.col, 46);
    l = &s->layouts[1];
    ck_assert_str_eq(l->name, "layout2");
    ck_assert_int_eq(l->tp, 2);
    ck_assert_int_eq(l->pp, 8);
    ck_assert_int_eq(l->ep, 1);  /* default */
    ck_assert_int_eq(l->dp, -1); /* derived later */
    ck_assert_int_eq(l->etp, -1); /* = tp */
    ck_assert_int_eq(l->vpp, -1); /* training's */
    ck_assert_int_eq(l->micro_batch_size, -1);
    ck_assert_int_eq(l->schedule, -1);
    ck_assert_int_eq(l->recompute, -1);
    ck_assert_int_eq(l->order[0], CS_DIM_TP);
    ck_assert_int_eq(l->order[1], CS_DIM_EP);
    ck_assert_int_eq(l->order[2], CS_DIM_DP);
    ck_assert_int_eq(l->order[3], CS_DIM_PP);
    ck_assert_int_eq(cs_layout_schedule(l, t), CS_1F1B);
    ck_assert_int_eq(cs_layout_recompute(l, t), CS_RECOMPUTE_NONE);
    ck_assert_int_eq(cs_layout_micro_batch(l, t), 1);
    ck_assert_int_eq(cs_layout_vpp(l, t), 1);
    ck_assert_str_eq(cs_schedule_name(cs_layout_schedule(l, t)), "1f1b");

    /* The scenario and both presets were read and are kept. */
    ck_assert_uint_eq(s->sources.count, 3);
    ck_assert_ptr_nonnull(cs_sources_find(&s->sources, s->model.loc.file));
    ck_assert(ends_with(s->model.loc.file, "/models/moe-30b.yaml"));
    ck_assert(ends_with(s->cluster.loc.file, "/topologies/cluster-512-64gb.yaml"));
    done(&r);
}
END_TEST

START_TEST(training_and_layout_overrides)
{
    run r;
    load_ok(&r, "model: moe-30b\n"
                "cluster: cluster-512-64gb\n"
                "training:\n"
                "  seq_length: 4096\n"
                "  global_batch_size: 256\n"
                "  micro_batch_size: 2\n"
                "  precision: fp8\n"
                "  schedule: interleaved\n"
                "  virtual_pipeline_stages: 2\n"
                "  recompute: selective\n"
                "  distributed_optimizer: false\n"
                "  optimizer: none\n"
                "  moe_routing: {mode: skewed, skew: 1.2}\n"
                "network_model: analytic\n"
                "seed: 42\n"
                "targets: {throughput: 1.5M tokens/s}\n"
                "layouts:\n"
                "  - name: custom\n"
                "    tp: 2\n"
                "    pp: 4\n"
                "    ep: 8\n"
                "    etp: 1\n"
                "    vpp: 4\n"
                "    micro_batch_size: 4\n"
                "    schedule: zb-h1\n"
                "    recompute: full\n"
                "    order: pp-dp-ep-tp\n"
                "  - {tp: 8, pp: 8}\n");
    const cs_training *t = &r.s.training;
    ck_assert_int_eq(t->seq_length, 4096);
    ck_assert_int_eq(t->global_batch_size, 256);
    ck_assert_int_eq(t->micro_batch_size, 2);
    ck_assert_int_eq(t->precision, CS_FP8);
    ck_assert_int_eq(t->schedule, CS_INTERLEAVED);
    ck_assert_int_eq(t->virtual_pipeline_stages, 2);
    ck_assert_int_eq(t->recompute, CS_RECOMPUTE_SELECTIVE);
    ck_assert_int_eq(t->distributed_optimizer, 0);
    ck_assert_int_eq(t->optimizer, CS_OPTIMIZER_NONE);
    ck_assert_int_eq(t->moe_routing.mode, CS_ROUTING_SKEWED);
    ck_assert(t->moe_routing.skew == 1.2);
    ck_assert_int_eq(r.s.network_model, CS_NET_ANALYTIC);
    ck_assert_uint_eq(r.s.seed, 42);
    ck_assert(r.s.targets.throughput == 1.5e6);
    ck_assert_int_eq(r.s.targets.throughput_per, CS_PER_TOKEN);
    ck_assert(isnan(r.s.targets.iteration_time));
    ck_assert(isnan(r.s.targets.memory_per_gpu));

    const cs_layout *l = &r.s.layouts[0];
    ck_assert_str_eq(l->name, "custom");
    ck_assert_int_eq(l->tp, 2);
    ck_assert_int_eq(l->pp, 4);
    ck_assert_int_eq(l->ep, 8);
    ck_assert_int_eq(l->dp, -1);
    ck_assert_int_eq(l->etp, 1);
    ck_assert_int_eq(l->vpp, 4);
    ck_assert_int_eq(l->order[0], CS_DIM_PP);
    ck_assert_int_eq(l->order[1], CS_DIM_DP);
    ck_assert_int_eq(l->order[2], CS_DIM_EP);
    ck_assert_int_eq(l->order[3], CS_DIM_TP);
    ck_assert_int_eq(cs_layout_schedule(l, t), CS_ZB_H1);
    ck_assert_int_eq(cs_layout_recompute(l, t), CS_RECOMPUTE_FULL);
    ck_assert_int_eq(cs_layout_micro_batch(l, t), 4);
    ck_assert_int_eq(cs_layout_vpp(l, t), 4);
    ck_assert_int_eq(l->loc.line, 18);
    ck_assert_int_eq(l->loc.col, 5);
    ck_assert_int_eq(l->loc_tp.line, 19);
    ck_assert_int_eq(l->loc_tp.col, 9);
    ck_assert_int_eq(l->loc_etp.line, 22);
    ck_assert_int_eq(l->loc_etp.col, 10);
    ck_assert_int_eq(l->loc_vpp.line, 23);
    ck_assert_int_eq(l->loc_vpp.col, 10);
    ck_assert_int_eq(l->loc_order.line, 27);
    ck_assert_int_eq(l->loc_order.col, 12);

    /* The second layout inherits the training settings. */
    l = &r.s.layouts[1];
    ck_assert_int_eq(cs_layout_schedule(l, t), CS_INTERLEAVED);
    ck_assert_int_eq(cs_layout_recompute(l, t), CS_RECOMPUTE_SELECTIVE);
    ck_assert_int_eq(cs_layout_micro_batch(l, t), 2);
    ck_assert_int_eq(cs_layout_vpp(l, t), 2);
    done(&r);
}
END_TEST

START_TEST(sweep_sections_accepted)
{
    run r;
    load_ok(&r, "model: moe-30b\n"
                "cluster: cluster-512-64gb\n" TRAINING LAYOUTS
                "sweep:\n"
                "  mode: grid\n"
                "  parameters: {training.micro_batch_size: [1, 2]}\n"
                "uncertainty: {compute_jitter: 5%}\n");
    ck_assert_int_eq(r.s.sweep.present, 1);
    ck_assert_int_eq(r.s.sweep.mode, CS_SWEEP_GRID);
    ck_assert_int_eq(r.s.sweep.param_count, 1);
    ck_assert_str_eq(r.s.sweep.params[0].path, "training.micro_batch_size");
    ck_assert_int_eq(r.s.sweep.params[0].count, 2);
    ck_assert_int_eq(r.s.sweep.repeats, 1);
    ck_assert(fabs(r.s.uncertainty.compute_jitter - 0.05) < 1e-15);
    done(&r);
    load_bad(&r, "model: moe-30b\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS
                 "sweep: [1, 2]\n",
             1);
    tu_assert_diag(&r.d, CS_ERROR, "'sweep' must be a mapping, got a list", 6, 8);
    done(&r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Wrong types, missing keys, unknown keys                                   */

START_TEST(wrong_types)
{
    run r;
    load_bad(&r, "model:\n"
                 "  base: moe-30b\n"
                 "  num_layers: sixteen\n"
                 "  hidden_size: [1024]\n"
                 "  num_attention_heads: \"16\"\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             3);
    tu_assert_diag(&r.d, CS_ERROR, "'num_layers' must be an integer, got 'sixteen'", 3, 15);
    tu_assert_diag(&r.d, CS_ERROR, "'hidden_size' must be an integer, got a list", 4, 16);
    tu_assert_diag(&r.d, CS_ERROR, "'num_attention_heads' must be an integer, got a string", 5,
                   24);
    done(&r);
}
END_TEST

START_TEST(wrong_types_elsewhere)
{
    run r;
    load(&r, "model: moe-30b\n"
                 "cluster: cluster-512-64gb\n"
                 "training:\n"
                 "  seq_length: 2048.5\n"
                 "  global_batch_size: 128\n"
                 "  sequence_parallel: \"true\"\n"
                 "  overlap_grad_reduce: 1\n"
                 "  micro_batch_size: ~\n"
                 "layouts:\n"
                 "  - {tp: four, pp: 4}\n"
                 "  - just-a-name\n"
                 "seed: 99999999999999999999999\n");
    ck_assert_int_eq(r.rc, -1);
    ck_assert_uint_ge(r.d.errors, 7);
    tu_assert_diag(&r.d, CS_ERROR, "'seq_length' must be an integer, got '2048.5'", 4, 15);
    tu_assert_diag(&r.d, CS_ERROR, "'sequence_parallel' must be true or false, got 'true'", 6,
                   22);
    tu_assert_diag(&r.d, CS_ERROR, "'overlap_grad_reduce' must be true or false, got '1'", 7,
                   24);
    tu_assert_diag(&r.d, CS_ERROR, "'micro_batch_size' must be an integer, got null", 8, 21);
    tu_assert_diag(&r.d, CS_ERROR, "'tp' must be an integer, got 'four'", 10, 10);
    tu_assert_diag(&r.d, CS_ERROR, "layout must be a mapping of keys, got a scalar", 11, 5);
    tu_assert_diag(&r.d, CS_ERROR, "'seed' must be an integer, got '9999", 12, 7);
    done(&r);
}
END_TEST

/* A key that is present with a bad value is reported once, for its value,
 * not a second time as "missing". */
START_TEST(invalid_value_not_reported_missing)
{
    run r;
    load_bad(&r, "model: moe-30b\n"
                 "cluster: cluster-512-64gb\n"
                 "training:\n"
                 "  seq_length: 2048.5\n"
                 "  global_batch_size: -1\n" LAYOUTS,
             2);
    tu_assert_diag(&r.d, CS_ERROR, "'seq_length' must be an integer, got '2048.5'", 4, 15);
    tu_assert_diag(&r.d, CS_ERROR, "'global_batch_size' must be at least 1, got -1", 5, 22);
    ck_assert_ptr_null(tu_find(&r.d, "missing required key"));
    done(&r);

    load_bad(&r, "model: moe-30b\n"
                 "cluster: cluster-512-64gb\n"
                 "training: 5\n" LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "training must be a mapping of keys, got a scalar", 3, 11);
    done(&r);
}
END_TEST

START_TEST(crlf_and_bom_positions)
{
    run r;
    load_bad(&r, "\xef\xbb\xbfmodel: moe-30b\r\n"
                 "cluster: cluster-512-64gb\r\n"
                 "training: {seq_length: 2048, global_batch_size: 128, schedul: x}\r\n"
                 "layouts:\r\n"
                 "  - {tp: four, pp: 4}\r\n",
             2);
    tu_assert_diag(&r.d, CS_ERROR, "unknown key 'schedul' in training", 3, 54);
    tu_assert_diag(&r.d, CS_ERROR, "'tp' must be an integer, got 'four'", 5, 10);
    ck_assert_str_eq(tu_find(&r.d, "four")->source_line, "  - {tp: four, pp: 4}");
    done(&r);
}
END_TEST

START_TEST(alias_bomb_scenario_refused)
{
    run r;
    load_bad(&r, "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                 "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                 "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                 "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                 "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                 "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                 "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                 "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                 "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n",
             1);
    /* Sizes 11, 111, 1111, 11111, 111111, 1111111: f is the first over. */
    tu_assert_diag(&r.d, CS_ERROR, "(an alias bomb?)", 6, 4);
    done(&r);
}
END_TEST

START_TEST(missing_seq_length)
{
    run r;
    load_bad(&r, "model: moe-30b\n"
                 "cluster: cluster-512-64gb\n"
                 "training:\n"
                 "  global_batch_size: 128\n" LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "missing required key 'seq_length' in training", 4, 3);
    done(&r);
}
END_TEST

START_TEST(missing_layouts)
{
    run r;
    load_bad(&r, "model: moe-30b\n"
                 "cluster: cluster-512-64gb\n" TRAINING,
             1);
    assert_message(&r.d, "layouts", "missing required key 'layouts' in scenario");
    tu_assert_diag(&r.d, CS_ERROR, "missing required key 'layouts' in scenario", 1, 1);
    done(&r);
}
END_TEST

START_TEST(missing_everything)
{
    run r;
    load_bad(&r, "name: nothing-else\n", 4);
    tu_assert_diag(&r.d, CS_ERROR, "missing required key 'model' in scenario", 1, 1);
    tu_assert_diag(&r.d, CS_ERROR, "missing required key 'cluster' in scenario", 1, 1);
    tu_assert_diag(&r.d, CS_ERROR, "missing required key 'training' in scenario", 1, 1);
    tu_assert_diag(&r.d, CS_ERROR, "missing required key 'layouts' in scenario", 1, 1);
    ck_assert_str_eq(r.s.name, "nothing-else");
    done(&r);
    load_bad(&r, "- a list\n- not a scenario\n", 1);
    tu_assert_diag(&r.d, CS_ERROR, "scenario must be a mapping of keys, got a list", 1, 1);
    done(&r);
}
END_TEST

START_TEST(model_mapping_missing_hidden_size)
{
    run r;
    load_bad(&r, "model:\n"
                 "  num_layers: 16\n"
                 "  num_attention_heads: 16\n"
                 "  vocab_size: 0\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    assert_message(&r.d, "hidden_size", "missing required key 'hidden_size' in model");
    tu_assert_diag(&r.d, CS_ERROR, "missing required key 'hidden_size' in model", 2, 3);
    done(&r);
}
END_TEST

START_TEST(cluster_mapping_missing_memory)
{
    run r;
    load_bad(&r, "model: moe-30b\n"
                 "cluster:\n"
                 "  gpu: {peak_compute: 989 TFLOP/s, memory_bandwidth: 3.35 TB/s}\n"
                 "  nodes: 2\n"
                 "  gpus_per_node: 8\n"
                 "  scale_up: {bandwidth: 450 GB/s}\n"
                 "  scale_out: {nic_bandwidth: 400 Gb/s}\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "missing required key 'memory' in gpu", 3, 3);
    done(&r);
}
END_TEST

START_TEST(unknown_keys_suggest)
{
    run r;
    load_bad(&r, "model:\n"
                 "  base: moe-30b\n"
                 "  hiden_size: 1024\n"
                 "cluster: cluster-512-64gb\n"
                 "training:\n"
                 "  seq_length: 2048\n"
                 "  global_batch_size: 128\n"
                 "  schedul: 1f1b\n"
                 "layout:\n"
                 "  - {tp: 4, pp: 4, ep: 8, dp: 4}\n"
                 "colour: red\n",
             5);
    assert_message(&r.d, "hiden_size", "unknown key 'hiden_size' in model; did you mean 'hidden_size'?");
    tu_assert_diag(&r.d, CS_ERROR, "unknown key 'hiden_size' in model; did you mean 'hidden_size'?",
                   3, 3);
    tu_assert_diag(&r.d, CS_ERROR, "unknown key 'schedul' in training; did you mean 'schedule'?",
                   8, 3);
    tu_assert_diag(&r.d, CS_ERROR, "unknown key 'layout' in scenario; did you mean 'layouts'?", 9,
                   1);
    /* Nothing is close to 'colour': no suggestion. */
    assert_message(&r.d, "colour", "unknown key 'colour' in scenario");
    tu_assert_diag(&r.d, CS_ERROR, "unknown key 'colour' in scenario", 11, 1);
    tu_assert_diag(&r.d, CS_ERROR, "missing required key 'layouts' in scenario", 1, 1);
    done(&r);
}
END_TEST

START_TEST(unknown_nested_keys_suggest)
{
    run r;
    load_bad(&r, "model: moe-30b\n"
                 "cluster:\n"
                 "  base: dgx-h100\n"
                 "  gpu: {memroy: 80 GB}\n"
                 "  scale_out:\n"
                 "    nic_bandwith: 400 Gb/s\n"
                 "training:\n"
                 "  seq_length: 2048\n"
                 "  global_batch_size: 128\n"
                 "  moe_routing: {mod: skewed}\n"
                 "targets: {iteration_tme: 1 s}\n"
                 "layouts:\n"
                 "  - {tp: 4, pp: 4, ep: 8, dp: 4, ordr: tp-ep-dp-pp}\n",
             5);
    tu_assert_diag(&r.d, CS_ERROR, "unknown key 'memroy' in gpu; did you mean 'memory'?", 4, 9);
    tu_assert_diag(&r.d, CS_ERROR,
                   "unknown key 'nic_bandwith' in scale_out; did you mean 'nic_bandwidth'?", 6, 5);
    tu_assert_diag(&r.d, CS_ERROR, "unknown key 'mod' in moe_routing; did you mean 'mode'?", 10,
                   17);
    tu_assert_diag(&r.d, CS_ERROR,
                   "unknown key 'iteration_tme' in targets; did you mean 'iteration_time'?", 11,
                   11);
    tu_assert_diag(&r.d, CS_ERROR, "unknown key 'ordr' in layout; did you mean 'order'?", 13, 34);
    done(&r);
}
END_TEST

START_TEST(duplicate_keys)
{
    run r;
    load_bad(&r, "model: moe-30b\n"
                 "cluster: cluster-512-64gb\n" TRAINING
                 "layouts:\n"
                 "  - {tp: 4, pp: 4, tp: 2}\n",
             1);
    tu_assert_diag(&r.d, CS_ERROR, "key 'tp' appears twice in layout", 5, 20);
    done(&r);
}
END_TEST

START_TEST(unknown_enum_values)
{
    run r;
    load_bad(&r, "model:\n"
                 "  base: moe-30b\n"
                 "  normalization: rmsnrom\n"
                 "cluster: cluster-512-64gb\n"
                 "training:\n"
                 "  seq_length: 2048\n"
                 "  global_batch_size: 128\n"
                 "  schedule: 1fb1\n"
                 "  precision: int4\n" LAYOUTS,
             3);
    assert_message(&r.d, "1fb1",
                   "unknown schedule '1fb1'; did you mean '1f1b'? (one of gpipe, 1f1b, "
                   "interleaved, zb-h1)");
    tu_assert_diag(&r.d, CS_ERROR, "unknown schedule '1fb1'; did you mean '1f1b'?", 8, 13);
    tu_assert_diag(&r.d, CS_ERROR, "unknown normalization 'rmsnrom'; did you mean 'rmsnorm'?", 3,
                   18);
    assert_message(&r.d, "int4", "unknown precision 'int4'; expected one of bf16, fp16, fp8");
    tu_assert_diag(&r.d, CS_ERROR, "unknown precision 'int4'", 9, 14);
    done(&r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Quantities                                                                */

START_TEST(sizes_must_be_positive)
{
    run r;
    load_bad(&r, "model: moe-30b\n"
                 "cluster:\n"
                 "  base: cluster-512-64gb\n"
                 "  gpu:\n"
                 "    memory: -64 GB\n"
                 "  scale_up: {bandwidth: -1 GB/s}\n" TRAINING
                 "targets: {memory_per_gpu: 0 GB, iteration_time: -1 s}\n" LAYOUTS,
             4);
    assert_message(&r.d, "-64 GB", "'memory' must be positive, got '-64 GB'");
    tu_assert_diag(&r.d, CS_ERROR, "'memory' must be positive, got '-64 GB'", 5, 13);
    tu_assert_diag(&r.d, CS_ERROR, "'bandwidth' must be positive, got '-1 GB/s'", 6, 25);
    tu_assert_diag(&r.d, CS_ERROR, "'memory_per_gpu' must be positive, got '0 GB'", 8, 27);
    tu_assert_diag(&r.d, CS_ERROR, "'iteration_time' must be positive, got '-1 s'", 8, 49);
    done(&r);

    load_bad(&r, "model: moe-30b\n"
                 "cluster:\n"
                 "  base: cluster-512-64gb\n"
                 "  gpu: {memory: 0 GB}\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "'memory' must be positive, got '0 GB'", 4, 17);
    done(&r);
}
END_TEST

START_TEST(bare_number_names_the_unit)
{
    run r;
    load_bad(&r, "model: moe-30b\n"
                 "cluster:\n"
                 "  base: cluster-512-64gb\n"
                 "  scale_out:\n"
                 "    nic_bandwidth: 400\n" TRAINING
                 "targets: {throughput: 8000}\n" LAYOUTS,
             2);
    assert_message(&r.d, "nic_bandwidth",
                   "'nic_bandwidth': '400' has no unit; expected a bandwidth such as '400 Gb/s' or "
                   "'50 GB/s'");
    tu_assert_diag(&r.d, CS_ERROR, "'nic_bandwidth': '400' has no unit", 5, 20);
    tu_assert_diag(&r.d, CS_ERROR, "'throughput': '8000' has no unit; expected a throughput", 7,
                   23);
    ck_assert_ptr_nonnull(tu_find(&r.d, "seq/s"));
    done(&r);
}
END_TEST

START_TEST(wrong_unit_kind)
{
    run r;
    load_bad(&r, "model: moe-30b\n"
                 "cluster:\n"
                 "  base: cluster-512-64gb\n"
                 "  gpu:\n"
                 "    memory_bandwidth: 80 GB\n"
                 "    kernel_launch: 4 GB/s\n"
                 "    matmul_efficiency: 1.5\n" TRAINING LAYOUTS,
             3);
    tu_assert_diag(&r.d, CS_ERROR, "'memory_bandwidth': '80 GB' is a size, not a bandwidth", 5,
                   23);
    tu_assert_diag(&r.d, CS_ERROR, "'kernel_launch': '4 GB/s' is a bandwidth, not a time", 6, 20);
    tu_assert_diag(&r.d, CS_ERROR, "'matmul_efficiency' must be a ratio between 0 and 1, got '1.5'",
                   7, 24);
    done(&r);
}
END_TEST

START_TEST(efficiency_tables)
{
    run r;
    load_ok(&r, "model: moe-30b\n"
                "cluster:\n"
                "  base: dgx-h100\n"
                "  gpu:\n"
                "    matmul_efficiency: [[1 MiB, 0.3], [64 MiB, 0.6], [4 GiB, 80%]]\n"
                "    memory_efficiency: [[1000, 0.5], [2000, 0.9]]\n" TRAINING LAYOUTS);
    const cs_table *m = &r.s.cluster.gpu.matmul_efficiency;
    ck_assert_int_eq(m->n, 3);
    ck_assert(m->x[0] == 1048576.0 && m->y[0] == 0.3);
    ck_assert(m->x[1] == 64.0 * 1048576.0 && m->y[1] == 0.6);
    ck_assert(m->x[2] == 4.0 * 1073741824.0 && m->y[2] == 0.8);
    const cs_table *b = &r.s.cluster.gpu.memory_efficiency;
    ck_assert_int_eq(b->n, 2);
    ck_assert(b->x[0] == 1000.0 && b->y[0] == 0.5);
    ck_assert(b->x[1] == 2000.0 && b->y[1] == 0.9);
    done(&r);

    load_bad(&r, "model: moe-30b\n"
                 "cluster:\n"
                 "  base: dgx-h100\n"
                 "  gpu:\n"
                 "    matmul_efficiency: [[64 MiB, 0.6], [1 MiB, 0.3], [2 GiB]]\n" TRAINING LAYOUTS,
             2);
    tu_assert_diag(&r.d, CS_ERROR, "sizes in 'matmul_efficiency' must be positive and increasing",
                   5, 41);
    tu_assert_diag(&r.d, CS_ERROR, "each row of 'matmul_efficiency' must be [size, ratio]", 5, 54);
    done(&r);
}
END_TEST

START_TEST(many_errors_all_reported)
{
    run r;
    load(&r, "name: many-errors\n"
             "model:\n"
             "  base: moe-30b\n"
             "  hiden_size: 1024\n"
             "  num_layers: sixteen\n"
             "cluster:\n"
             "  base: cluster-512-64gb\n"
             "  gpu: {memory: 0 GB}\n"
             "  scale_out: {nic_bandwidth: 400}\n"
             "training:\n"
             "  seq_length: 2048\n"
             "  global_batch_size: 128\n"
             "  schedule: 1fb1\n"
             "  precision: bf61\n"
             "  sequence_parallel: maybe\n"
             "network_model: flwo\n"
             "targets:\n"
             "  iteration_time: 16 ms\n"
             "  throughput: fast\n"
             "layouts:\n"
             "  - {tp: 4, pp: 4, ep: 8, dp: 4, order: tp-ep-pp}\n"
             "  - {name: b, tp: 0, pp: 4}\n"
             "  - {name: b, tp: 2, pp: 2}\n");
    ck_assert_int_eq(r.rc, -1);
    ck_assert_uint_ge(r.d.errors, 12);
    tu_assert_diag(&r.d, CS_ERROR, "unknown key 'hiden_size' in model", 4, 3);
    tu_assert_diag(&r.d, CS_ERROR, "'num_layers' must be an integer, got 'sixteen'", 5, 15);
    tu_assert_diag(&r.d, CS_ERROR, "'memory' must be positive, got '0 GB'", 8, 17);
    tu_assert_diag(&r.d, CS_ERROR, "'nic_bandwidth': '400' has no unit", 9, 30);
    tu_assert_diag(&r.d, CS_ERROR, "unknown schedule '1fb1'; did you mean '1f1b'?", 13, 13);
    tu_assert_diag(&r.d, CS_ERROR, "unknown precision 'bf61'; did you mean 'bf16'?", 14, 14);
    tu_assert_diag(&r.d, CS_ERROR, "'sequence_parallel' must be true or false, got 'maybe'", 15,
                   22);
    tu_assert_diag(&r.d, CS_ERROR, "unknown network_model 'flwo'; did you mean 'flow'?", 16, 16);
    tu_assert_diag(&r.d, CS_ERROR, "'throughput': expected a throughput", 19, 15);
    tu_assert_diag(&r.d, CS_ERROR, "'order' must name tp, ep, dp and pp once each", 21, 41);
    tu_assert_diag(&r.d, CS_ERROR, "'tp' must be at least 1, got 0", 22, 19);
    tu_assert_diag(&r.d, CS_ERROR, "two layouts are named 'b'", 23, 5);
    /* Every record points into the scenario file. */
    for (size_t i = 0; i < r.d.count; i++)
        ck_assert_msg(ends_with(r.d.items[i].file, "/scenario.yaml"), "%s", r.d.items[i].file);
    /* The valid values around the errors were still read. */
    ck_assert(r.s.targets.iteration_time == 0.016);
    ck_assert_str_eq(r.s.name, "many-errors");
    done(&r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* References: presets, base + overrides, paths                              */

START_TEST(base_with_nested_partial_override)
{
    run r;
    load_ok(&r, "model: {base: moe-30b, num_layers: 8, moe: {num_experts: 32}}\n"
                "cluster: {base: dgx-h100, nodes: 4, scale_out: {nic_bandwidth: 200 Gb/s}}\n"
                TRAINING LAYOUTS);
    const cs_cluster *k = &r.s.cluster;
    ck_assert_str_eq(k->name, "dgx-h100");
    ck_assert_int_eq(k->nodes, 4);
    ck_assert_int_eq(k->gpus_per_node, 8);
    ck_assert(k->scale_out.nic_bandwidth == 25e9);
    /* The rest of scale_out comes from the base. */
    ck_assert_int_eq(k->scale_out.nics_per_node, 8);
    ck_assert_int_eq(k->scale_out.topology, CS_RAIL_OPTIMIZED);
    ck_assert(k->scale_out.oversubscription == 1.0);
    ck_assert_int_eq(k->scale_out.leaf_radix, 64);
    /* So do gpu and scale_up: exactly the preset's values. */
    cs_sources src = {0};
    cs_cluster base;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_cluster_load("dgx-h100", &tu_paths, &src, &base, &d), 0);
    ck_assert_str_eq(k->gpu.name, base.gpu.name);
    ck_assert(k->gpu.peak_compute == 989e12 && base.gpu.peak_compute == 989e12);
    ck_assert(k->gpu.memory == 80e9);
    ck_assert(k->gpu.memory_bandwidth == 3.35e12);
    ck_assert(memcmp(&k->gpu.matmul_efficiency, &base.gpu.matmul_efficiency,
                     sizeof base.gpu.matmul_efficiency) == 0);
    ck_assert(k->gpu.memory_efficiency.y[0] == base.gpu.memory_efficiency.y[0]);
    ck_assert(k->gpu.kernel_launch == base.gpu.kernel_launch);
    ck_assert(k->gpu.reserved_memory == base.gpu.reserved_memory);
    ck_assert_int_eq(k->scale_up.kind, CS_SCALE_UP_SWITCH);
    ck_assert(k->scale_up.bandwidth == 450e9);
    ck_assert(k->scale_up.latency == base.scale_up.latency);
    ck_assert(k->scale_up.efficiency == base.scale_up.efficiency);
    ck_assert(k->scale_out.latency == base.scale_out.latency);
    ck_assert(k->scale_out.efficiency == base.scale_out.efficiency);
    cs_sources_free(&src);
    cs_diags_free(&d);
    /* Positions are those of the overriding mapping. */
    ck_assert_int_eq(k->loc.line, 2);
    ck_assert_int_eq(k->loc.col, 10);
    ck_assert_int_eq(k->loc_nodes.line, 2);
    ck_assert_int_eq(k->loc_nodes.col, 34);

    const cs_model *m = &r.s.model;
    ck_assert_str_eq(m->name, "moe-30b");
    ck_assert_int_eq(m->num_layers, 8);
    ck_assert_int_eq(m->hidden_size, 1024);
    ck_assert_int_eq(m->moe.num_experts, 32);
    ck_assert_int_eq(m->moe.router_topk, 2);
    ck_assert_int_eq(m->moe.ffn_hidden_size, 14336);
    ck_assert_int_eq(m->loc.line, 1);
    ck_assert_int_eq(m->loc.col, 8);
    done(&r);
}
END_TEST

START_TEST(model_by_relative_path)
{
    tu_write("my-moe.yaml", "# relative to the scenario\n"
                            "base: moe-30b\n"
                            "name: my-moe\n"
                            "num_layers: 8\n"
                            "moe: {router_topk: 4}\n");
    run r;
    load_ok(&r, "model: my-moe.yaml\n"
                "cluster: cluster-512-64gb\n" TRAINING LAYOUTS);
    ck_assert_str_eq(r.s.model.name, "my-moe");
    ck_assert_int_eq(r.s.model.num_layers, 8);
    ck_assert_int_eq(r.s.model.hidden_size, 1024);
    ck_assert_int_eq(r.s.model.moe.num_experts, 64);
    ck_assert_int_eq(r.s.model.moe.router_topk, 4);
    ck_assert(ends_with(r.s.model.loc.file, "/my-moe.yaml"));
    ck_assert_int_eq(r.s.model.loc.line, 2);
    ck_assert_int_eq(r.s.model.loc.col, 1);
    done(&r);

    load_ok(&r, "model: ./my-moe.yaml\n"
                "cluster: cluster-512-64gb\n" TRAINING LAYOUTS);
    ck_assert_int_eq(r.s.model.num_layers, 8);
    done(&r);

    /* A bare name that is no preset but a file next to the scenario. */
    tu_write("local-moe", "base: moe-30b\nnum_layers: 2\n");
    load_ok(&r, "model: local-moe\n"
                "cluster: cluster-512-64gb\n" TRAINING LAYOUTS);
    ck_assert_int_eq(r.s.model.num_layers, 2);
    done(&r);
}
END_TEST

START_TEST(base_path_relative_to_its_file)
{
    /* tiny-dense-deeper.yaml has base: tiny-dense.yaml, found next to it. */
    run r;
    load_ok(&r, "model: " CS_TEST_DATA "/config/tiny-dense-deeper.yaml\n"
                "cluster: {base: dgx-h100, nodes: 1}\n" TRAINING
                "layouts:\n"
                "  - {tp: 8, pp: 1}\n");
    const cs_model *m = &r.s.model;
    ck_assert_str_eq(m->name, "tiny-dense-deeper");
    ck_assert_int_eq(m->num_layers, 8);
    ck_assert_int_eq(m->hidden_size, 256);
    ck_assert_int_eq(m->num_attention_heads, 8);
    ck_assert_int_eq(m->num_query_groups, 2);
    ck_assert_int_eq(m->kv_channels, 32); /* 256 / 8 */
    ck_assert_int_eq(m->ffn_hidden_size, 1024);
    ck_assert_int_eq(m->swiglu, 1);
    ck_assert_int_eq(m->normalization, CS_NORM_RMSNORM);
    ck_assert_int_eq(m->vocab_size, 1000);
    ck_assert_int_eq(m->untie_embeddings_and_output_weights, 0);
    ck_assert_int_eq(m->moe.num_experts, 0);
    ck_assert_int_eq(m->moe.ffn_hidden_size, 1024);
    ck_assert(!cs_model_is_moe_layer(m, 0));
    ck_assert_int_eq(r.s.cluster.nodes, 1);
    ck_assert_uint_eq(r.s.sources.count, 4);
    done(&r);
}
END_TEST

START_TEST(unknown_preset_positioned)
{
    run r;
    load_bad(&r, "model: moe-31b\n"
                 "cluster: {base: dgx-h1000}\n" TRAINING LAYOUTS,
             2);
    assert_message(&r.d, "moe-31b",
                   "no model preset named 'moe-31b' (looked in models/ of the preset directories)");
    tu_assert_diag(&r.d, CS_ERROR, "no model preset named 'moe-31b'", 1, 8);
    tu_assert_diag(&r.d, CS_ERROR, "no cluster preset named 'dgx-h1000'", 2, 17);
    done(&r);

    /* A model preset name is not looked up among clusters. */
    load_bad(&r, "model: dgx-h100\n"
                 "cluster: moe-30b\n" TRAINING LAYOUTS,
             2);
    tu_assert_diag(&r.d, CS_ERROR, "no model preset named 'dgx-h100'", 1, 8);
    tu_assert_diag(&r.d, CS_ERROR, "no cluster preset named 'moe-30b'", 2, 10);
    done(&r);
}
END_TEST

START_TEST(missing_file_positioned)
{
    run r;
    load_bad(&r, "model: nope/missing.yaml\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "cannot open model '", 1, 8);
    ck_assert_ptr_nonnull(tu_find(&r.d, "nope/missing.yaml': No such file or directory"));
    done(&r);

    load_bad(&r, "model: ~\n"
                 "cluster: [dgx-h100]\n" TRAINING LAYOUTS,
             2);
    tu_assert_diag(&r.d, CS_ERROR, "'model' must be a file path, a preset name or a mapping, got null",
                   1, 8);
    tu_assert_diag(&r.d, CS_ERROR, "'cluster' must be a file path, a preset name or a mapping, got a list",
                   2, 10);
    done(&r);

    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_scenario_load("/nonexistent-clustersim/s.yaml", &tu_paths, &s, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "cannot open: No such file or directory", 0, 0);
    cs_scenario_free(&s);
    cs_diags_free(&d);
}
END_TEST

START_TEST(error_inside_base_file_points_there)
{
    tu_write("broken-base.yaml", "base: moe-30b\n"
                                 "num_layers: many\n");
    run r;
    load_bad(&r, "model: {base: broken-base.yaml, hidden_size: 2048}\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "'num_layers' must be an integer, got 'many'", 2, 13);
    ck_assert(ends_with(tu_find(&r.d, "many")->file, "/broken-base.yaml"));
    ck_assert_str_eq(tu_find(&r.d, "many")->source_line, "num_layers: many");
    done(&r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Include cycles                                                            */

START_TEST(base_cycle_between_files)
{
    run r;
    load_bad(&r, "model: " CS_TEST_DATA "/config/base-cycle-a.yaml\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    /* a -> b -> a: reported in b, at its base: value. */
    tu_assert_diag(&r.d, CS_ERROR, "includes itself through base: (a cycle)", 2, 7);
    const cs_diag *c = tu_find(&r.d, "a cycle");
    ck_assert(ends_with(c->file, "/config/base-cycle-b.yaml"));
    ck_assert_ptr_nonnull(strstr(c->message, "base-cycle-a.yaml' includes itself"));
    done(&r);

    /* The same through cs_model_load. */
    cs_sources src = {0};
    cs_model m;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_model_load(DATA("config/base-cycle-a.yaml"), &tu_paths, &src, &m, &d), -1);
    ck_assert_uint_eq(d.errors, 1);
    tu_assert_diag(&d, CS_ERROR, "includes itself through base: (a cycle)", 2, 7);
    ck_assert(ends_with(d.items[0].file, "/config/base-cycle-b.yaml"));
    cs_sources_free(&src);
    cs_diags_free(&d);
}
END_TEST

START_TEST(base_cycle_self_and_scenario)
{
    tu_write("self.yaml", "# a model whose base is itself\nbase: self.yaml\n");
    run r;
    load_bad(&r, "model: self.yaml\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "self.yaml' includes itself through base: (a cycle)", 2, 7);
    done(&r);

    /* The scenario file itself is part of the chain. */
    load_bad(&r, "model: scenario.yaml\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "scenario.yaml' includes itself through base: (a cycle)", 1, 8);
    done(&r);
}
END_TEST

START_TEST(base_chain_depth_limited)
{
    char name[32], text[64];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "chain%d.yaml", i);
        snprintf(text, sizeof text, "base: chain%d.yaml\n", i + 1);
        tu_write(name, text);
    }
    tu_write("chain20.yaml", "base: moe-30b\n");
    run r;
    /* The scenario takes one place of 16: chain14.yaml is the 16th file. */
    load_bad(&r, "model: chain0.yaml\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "bases nest deeper than 16 files", 1, 7);
    ck_assert(ends_with(r.d.items[0].file, "/chain14.yaml"));
    done(&r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Hugging Face config.json                                                  */

typedef struct hf_run {
    cs_sources src;
    cs_model m;
    cs_diags d;
} hf_run;

static void hf_load(hf_run *h, const char *path)
{
    memset(&h->src, 0, sizeof h->src);
    cs_diags_init(&h->d);
    int rc = cs_model_load(path, &tu_paths, &h->src, &h->m, &h->d);
    if (rc != 0)
        cs_diags_print(&h->d, stderr);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(h->d.errors, 0);
}

static void hf_done(hf_run *h)
{
    cs_sources_free(&h->src);
    cs_diags_free(&h->d);
}

START_TEST(hf_llama3_70b)
{
    hf_run h;
    hf_load(&h, DATA("hf/llama3-70b.json"));
    const cs_model *m = &h.m;
    ck_assert_str_eq(m->name, "llama3-70b");
    ck_assert_int_eq(m->num_layers, 80);
    ck_assert_int_eq(m->hidden_size, 8192);
    ck_assert_int_eq(m->num_attention_heads, 64);
    ck_assert_int_eq(m->num_query_groups, 8);
    ck_assert_int_eq(m->kv_channels, 128);
    ck_assert_int_eq(m->ffn_hidden_size, 28672);
    ck_assert_int_eq(m->vocab_size, 128256);
    ck_assert_int_eq(m->max_position_embeddings, 8192);
    ck_assert_int_eq(m->swiglu, 1);
    ck_assert_int_eq(m->normalization, CS_NORM_RMSNORM);
    ck_assert_int_eq(m->position_embedding_type, CS_POS_ROPE);
    ck_assert_int_eq(m->untie_embeddings_and_output_weights, 1);
    ck_assert_int_eq(m->moe.num_experts, 0);
    ck_assert_int_eq(m->mla.enabled, 0);
    ck_assert_int_eq(m->loc.line, 1);
    ck_assert_int_eq(m->loc.col, 1);
    hf_done(&h);
}
END_TEST

START_TEST(hf_mixtral_8x7b)
{
    hf_run h;
    hf_load(&h, DATA("hf/mixtral-8x7b.json"));
    const cs_model *m = &h.m;
    ck_assert_str_eq(m->name, "mixtral-8x7b");
    ck_assert_int_eq(m->num_layers, 32);
    ck_assert_int_eq(m->hidden_size, 4096);
    ck_assert_int_eq(m->num_attention_heads, 32);
    ck_assert_int_eq(m->num_query_groups, 8);
    ck_assert_int_eq(m->kv_channels, 128);
    ck_assert_int_eq(m->ffn_hidden_size, 14336);
    ck_assert_int_eq(m->vocab_size, 32000);
    ck_assert_int_eq(m->swiglu, 1);
    ck_assert_int_eq(m->normalization, CS_NORM_RMSNORM);
    ck_assert_int_eq(m->untie_embeddings_and_output_weights, 1);
    ck_assert_int_eq(m->moe.num_experts, 8);
    ck_assert_int_eq(m->moe.router_topk, 2);
    ck_assert_int_eq(m->moe.ffn_hidden_size, 14336); /* intermediate_size */
    ck_assert_int_eq(m->moe.shared_expert_ffn_hidden_size, 0);
    ck_assert_int_eq(m->moe.pattern_len, 0);
    ck_assert_int_eq(m->moe.layer_freq, 1);
    for (long i = 0; i < 32; i++)
        ck_assert(cs_model_is_moe_layer(m, i));
    hf_done(&h);
}
END_TEST

START_TEST(hf_qwen_moe)
{
    hf_run h;
    hf_load(&h, DATA("hf/qwen1.5-moe-a2.7b.json"));
    const cs_model *m = &h.m;
    ck_assert_int_eq(m->num_layers, 24);
    ck_assert_int_eq(m->hidden_size, 2048);
    ck_assert_int_eq(m->num_attention_heads, 16);
    ck_assert_int_eq(m->num_query_groups, 16);
    ck_assert_int_eq(m->kv_channels, 128);
    ck_assert_int_eq(m->ffn_hidden_size, 5632);
    ck_assert_int_eq(m->vocab_size, 151936);
    ck_assert_int_eq(m->untie_embeddings_and_output_weights, 1);
    ck_assert_int_eq(m->moe.num_experts, 60);
    ck_assert_int_eq(m->moe.router_topk, 4);
    ck_assert_int_eq(m->moe.ffn_hidden_size, 1408);
    ck_assert_int_eq(m->moe.shared_expert_ffn_hidden_size, 5632);
    /* decoder_sparse_step 1: every layer is MoE. */
    for (long i = 0; i < 24; i++)
        ck_assert(cs_model_is_moe_layer(m, i));
    hf_done(&h);
}
END_TEST

START_TEST(hf_deepseek_v3)
{
    hf_run h;
    hf_load(&h, DATA("hf/deepseek-v3.json"));
    const cs_model *m = &h.m;
    ck_assert_str_eq(m->name, "deepseek-v3");
    ck_assert_int_eq(m->num_layers, 61);
    ck_assert_int_eq(m->hidden_size, 7168);
    ck_assert_int_eq(m->num_attention_heads, 128);
    ck_assert_int_eq(m->num_query_groups, 128);
    ck_assert_int_eq(m->kv_channels, 128); /* v_head_dim */
    ck_assert_int_eq(m->ffn_hidden_size, 18432);
    ck_assert_int_eq(m->vocab_size, 129280);
    ck_assert_int_eq(m->max_position_embeddings, 163840);
    ck_assert_int_eq(m->untie_embeddings_and_output_weights, 1);
    ck_assert_int_eq(m->moe.num_experts, 256);
    ck_assert_int_eq(m->moe.router_topk, 8);
    ck_assert_int_eq(m->moe.ffn_hidden_size, 2048);
    ck_assert_int_eq(m->moe.shared_expert_ffn_hidden_size, 2048); /* 1 x 2048 */
    /* first_k_dense_replace 3: layers 0-2 dense, 3-60 MoE. */
    ck_assert_int_eq(m->moe.pattern_len, 61);
    for (long i = 0; i < 3; i++)
        ck_assert_msg(!cs_model_is_moe_layer(m, i), "layer %ld", i);
    for (long i = 3; i < 61; i++)
        ck_assert_msg(cs_model_is_moe_layer(m, i), "layer %ld", i);
    ck_assert(!cs_model_is_moe_layer(m, 61));
    ck_assert_int_eq(m->mla.enabled, 1);
    ck_assert_int_eq(m->mla.q_lora_rank, 1536);
    ck_assert_int_eq(m->mla.kv_lora_rank, 512);
    ck_assert_int_eq(m->mla.qk_head_dim, 128);
    ck_assert_int_eq(m->mla.qk_pos_emb_head_dim, 64);
    ck_assert_int_eq(m->mla.v_head_dim, 128);
    hf_done(&h);
}
END_TEST

/* tests/data/hf/README.md: each config.json loads to the same shapes as the
 * matching preset in models/. */
START_TEST(hf_matches_presets)
{
    static const char *const pairs[][2] = {
        {"hf/llama3-70b.json", "llama3-70b"},
        {"hf/mixtral-8x7b.json", "mixtral-8x7b"},
        {"hf/deepseek-v3.json", "deepseek-v3"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", CS_TEST_DATA, pairs[i][0]);
        hf_run a, b;
        hf_load(&a, path);
        hf_load(&b, pairs[i][1]);
        const cs_model *x = &a.m, *y = &b.m;
        ck_assert_str_eq(x->name, y->name);
        ck_assert_int_eq(x->num_layers, y->num_layers);
        ck_assert_int_eq(x->hidden_size, y->hidden_size);
        ck_assert_int_eq(x->num_attention_heads, y->num_attention_heads);
        ck_assert_int_eq(x->num_query_groups, y->num_query_groups);
        ck_assert_int_eq(x->kv_channels, y->kv_channels);
        ck_assert_int_eq(x->ffn_hidden_size, y->ffn_hidden_size);
        ck_assert_int_eq(x->swiglu, y->swiglu);
        ck_assert_int_eq(x->normalization, y->normalization);
        ck_assert_int_eq(x->vocab_size, y->vocab_size);
        ck_assert_int_eq(x->untie_embeddings_and_output_weights,
                         y->untie_embeddings_and_output_weights);
        ck_assert_int_eq(x->moe.num_experts, y->moe.num_experts);
        if (x->moe.num_experts) {
            ck_assert_int_eq(x->moe.router_topk, y->moe.router_topk);
            ck_assert_int_eq(x->moe.ffn_hidden_size, y->moe.ffn_hidden_size);
            ck_assert_int_eq(x->moe.shared_expert_ffn_hidden_size,
                             y->moe.shared_expert_ffn_hidden_size);
            for (long l = 0; l < x->num_layers; l++)
                ck_assert_int_eq(cs_model_is_moe_layer(x, l), cs_model_is_moe_layer(y, l));
        }
        ck_assert_int_eq(x->mla.enabled, y->mla.enabled);
        ck_assert_int_eq(x->mla.q_lora_rank, y->mla.q_lora_rank);
        ck_assert_int_eq(x->mla.kv_lora_rank, y->mla.kv_lora_rank);
        ck_assert_int_eq(x->mla.qk_head_dim, y->mla.qk_head_dim);
        ck_assert_int_eq(x->mla.qk_pos_emb_head_dim, y->mla.qk_pos_emb_head_dim);
        ck_assert_int_eq(x->mla.v_head_dim, y->mla.v_head_dim);
        hf_done(&a);
        hf_done(&b);
    }
}
END_TEST

/* A file's name (without its extension) names the model it defines; the
 * dots inside "qwen1.5-moe-a2.7b" are part of the name. */
START_TEST(hf_default_name_keeps_dots)
{
    hf_run h;
    hf_load(&h, DATA("hf/qwen1.5-moe-a2.7b.json"));
    ck_assert_str_eq(h.m.name, "qwen1.5-moe-a2.7b");
    hf_done(&h);
}
END_TEST

START_TEST(scenario_default_name_keeps_dots)
{
    char path[256];
    snprintf(path, sizeof path, "%s",
             tu_write("run.v2.yaml", "model: moe-30b\ncluster: cluster-512-64gb\n" TRAINING LAYOUTS));
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_scenario_load(path, &tu_paths, &s, &d), 0);
    ck_assert_str_eq(s.name, "run.v2");
    cs_scenario_free(&s);
    cs_diags_free(&d);
}
END_TEST

START_TEST(hf_errors_positioned)
{
    char path[256];
    snprintf(path, sizeof path, "%s",
             tu_write("bad-hf.json", "{\n"
                                     "  \"model_type\": \"llama\",\n"
                                     "  \"num_hidden_layers\": -2,\n"
                                     "  \"hidden_size\": 4096.5,\n"
                                     "  \"num_attention_heads\": 32,\n"
                                     "  \"tie_word_embeddings\": \"maybe\"\n"
                                     "}\n"));
    cs_sources src = {0};
    cs_model m;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_model_load(path, &tu_paths, &src, &m, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "'num_hidden_layers' must be an integer of at least 1", 3, 24);
    tu_assert_diag(&d, CS_ERROR, "'hidden_size' must be an integer of at least 1", 4, 18);
    tu_assert_diag(&d, CS_ERROR, "'tie_word_embeddings' must be true or false", 6, 26);
    tu_assert_diag(&d, CS_ERROR, "config.json has no 'vocab_size'; cannot read it as a model", 1,
                   1);
    cs_sources_free(&src);
    cs_diags_free(&d);
}
END_TEST

/* Zero attention heads or KV heads in a config.json is an error at the value,
 * not a model accepted with kv_channels unset or a division by zero. */
static void hf_zero_heads(const char *heads_lines, const char *needle, int line)
{
    char text[512], path[256];
    snprintf(text, sizeof text,
             "{\n"
             "  \"model_type\": \"llama\",\n"
             "  \"num_hidden_layers\": 2,\n"
             "  \"hidden_size\": 64,\n"
             "%s"
             "  \"vocab_size\": 100\n"
             "}\n",
             heads_lines);
    snprintf(path, sizeof path, "%s", tu_write("zero-heads.json", text));
    cs_sources src = {0};
    cs_model m;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_model_load(path, &tu_paths, &src, &m, &d), -1);
    /* "num_attention_heads" and "num_key_value_heads" are both 19
     * characters: the value is at column 26. */
    tu_assert_diag(&d, CS_ERROR, needle, line, 26);
    cs_sources_free(&src);
    cs_diags_free(&d);
}

START_TEST(hf_zero_attention_heads_refused)
{
    hf_zero_heads("  \"num_attention_heads\": 0,\n"
                  "  \"num_key_value_heads\": 4,\n",
                  "'num_attention_heads'", 5);
}
END_TEST

START_TEST(hf_zero_kv_heads_refused)
{
    hf_zero_heads("  \"num_attention_heads\": 4,\n"
                  "  \"num_key_value_heads\": 0,\n",
                  "'num_key_value_heads'", 6);
}
END_TEST

START_TEST(hf_with_overrides_in_scenario)
{
    run r;
    load_ok(&r, "model: {base: " CS_TEST_DATA "/hf/mixtral-8x7b.json, num_layers: 4}\n"
                "cluster: cluster-512-64gb\n" TRAINING LAYOUTS);
    ck_assert_int_eq(r.s.model.num_layers, 4);
    ck_assert_int_eq(r.s.model.hidden_size, 4096);
    ck_assert_int_eq(r.s.model.moe.num_experts, 8);
    ck_assert_str_eq(r.s.model.name, "mixtral-8x7b");
    done(&r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Shipped presets                                                           */

START_TEST(named_presets_load)
{
    static const char *const models[] = {"moe-30b", "gpt3-175b", "llama3-70b", "mixtral-8x7b",
                                         "deepseek-v3"};
    static const char *const clusters[] = {"cluster-512-64gb", "dgx-a100-80gb", "dgx-b200",
                                           "dgx-h100", "dgx-h200", "mi300x"};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        cs_sources src = {0};
        cs_model m;
        cs_diags d;
        cs_diags_init(&d);
        int rc = cs_model_load(models[i], &tu_paths, &src, &m, &d);
        cs_diags_print(&d, stderr);
        ck_assert_msg(rc == 0 && d.count == 0, "model preset %s", models[i]);
        ck_assert_str_eq(m.name, models[i]);
        ck_assert_int_gt(m.num_layers, 0);
        ck_assert_int_gt(m.hidden_size, 0);
        ck_assert_int_eq(m.hidden_size % m.num_attention_heads, 0);
        ck_assert_int_eq(m.num_attention_heads % m.num_query_groups, 0);
        cs_sources_free(&src);
        cs_diags_free(&d);
    }
    for (size_t i = 0; i < sizeof clusters / sizeof *clusters; i++) {
        cs_sources src = {0};
        cs_cluster k;
        cs_diags d;
        cs_diags_init(&d);
        int rc = cs_cluster_load(clusters[i], &tu_paths, &src, &k, &d);
        cs_diags_print(&d, stderr);
        ck_assert_msg(rc == 0 && d.count == 0, "cluster preset %s", clusters[i]);
        ck_assert_str_eq(k.name, clusters[i]);
        ck_assert(k.gpu.memory > 0 && k.gpu.peak_compute > 0 && k.gpu.memory_bandwidth > 0);
        ck_assert(k.scale_up.bandwidth > 0 && k.scale_out.nic_bandwidth > 0);
        ck_assert_int_gt(k.nodes * k.gpus_per_node, 0);
        cs_sources_free(&src);
        cs_diags_free(&d);
    }
}
END_TEST

/* Every file shipped in models/ and topologies/ loads, including ones added
 * after this test was written. */
START_TEST(every_preset_file_loads)
{
    static const char *const dirs[] = {"models", "topologies"};
    for (int k = 0; k < 2; k++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s", CS_SOURCE_DIR, dirs[k]);
        DIR *dp = opendir(dir);
        ck_assert_ptr_nonnull(dp);
        int loaded = 0;
        struct dirent *e;
        while ((e = readdir(dp))) {
            if (!ends_with(e->d_name, ".yaml"))
                continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            cs_sources src = {0};
            cs_diags d;
            cs_diags_init(&d);
            int rc;
            if (k == 0) {
                cs_model m;
                rc = cs_model_load(path, &tu_paths, &src, &m, &d);
            } else {
                cs_cluster c;
                rc = cs_cluster_load(path, &tu_paths, &src, &c, &d);
            }
            cs_diags_print(&d, stderr);
            ck_assert_msg(rc == 0 && d.count == 0, "%s", path);
            cs_sources_free(&src);
            cs_diags_free(&d);
            loaded++;
        }
        closedir(dp);
        ck_assert_int_ge(loaded, k == 0 ? 5 : 6);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* MoE layer patterns                                                        */

START_TEST(layer_freq_list)
{
    run r;
    load_ok(&r, "model:\n"
                "  base: moe-30b\n"
                "  num_layers: 4\n"
                "  moe: {layer_freq: [1, 0, 0, 1]}\n"
                "cluster: cluster-512-64gb\n" TRAINING LAYOUTS);
    const cs_model *m = &r.s.model;
    ck_assert_int_eq(m->moe.pattern_len, 4);
    ck_assert(cs_model_is_moe_layer(m, 0));
    ck_assert(!cs_model_is_moe_layer(m, 1));
    ck_assert(!cs_model_is_moe_layer(m, 2));
    ck_assert(cs_model_is_moe_layer(m, 3));
    done(&r);

    load_ok(&r, "model:\n"
                "  base: moe-30b\n"
                "  moe: {layer_freq: 3}\n"
                "cluster: cluster-512-64gb\n" TRAINING LAYOUTS);
    m = &r.s.model;
    ck_assert_int_eq(m->moe.layer_freq, 3);
    ck_assert(cs_model_is_moe_layer(m, 0));
    ck_assert(!cs_model_is_moe_layer(m, 1));
    ck_assert(!cs_model_is_moe_layer(m, 2));
    ck_assert(cs_model_is_moe_layer(m, 3));
    ck_assert(cs_model_is_moe_layer(m, 15));
    done(&r);
}
END_TEST

START_TEST(layer_freq_list_wrong_length)
{
    run r;
    load_bad(&r, "model:\n"
                 "  base: moe-30b\n"
                 "  num_layers: 4\n"
                 "  moe:\n"
                 "    layer_freq: [1, 0, 1]\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    /* A check across keys (possibly from different files): at the model. */
    assert_message(&r.d, "layer_freq", "moe.layer_freq lists 3 layers; the model has 4");
    tu_assert_diag(&r.d, CS_ERROR, "moe.layer_freq lists 3 layers; the model has 4", 2, 3);
    done(&r);
}
END_TEST

START_TEST(layer_freq_bad_entries)
{
    run r;
    load_bad(&r, "model:\n"
                 "  base: moe-30b\n"
                 "  num_layers: 4\n"
                 "  moe: {layer_freq: [1, 2, x, 0]}\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             2);
    tu_assert_diag(&r.d, CS_ERROR, "'layer_freq' list entries must be 0 (dense) or 1 (MoE)", 4,
                   25);
    tu_assert_diag(&r.d, CS_ERROR, "'layer_freq' must be an integer, got 'x'", 4, 28);
    done(&r);

    load_bad(&r, "model:\n"
                 "  base: moe-30b\n"
                 "  moe: {layer_freq: 0}\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "'layer_freq' must be at least 1, got 0", 3, 21);
    done(&r);

    load_bad(&r, "model:\n"
                 "  base: moe-30b\n"
                 "  moe: {layer_freq: []}\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "'layer_freq' lists 0 layers; expected 1 to 1024", 3, 21);
    done(&r);
}
END_TEST

START_TEST(model_coherence_errors)
{
    run r;
    load_bad(&r, "model:\n"
                 "  base: moe-30b\n"
                 "  num_query_groups: 5\n"
                 "  moe: {router_topk: 65}\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             2);
    tu_assert_diag(&r.d, CS_ERROR, "num_attention_heads 16 is not divisible by num_query_groups 5",
                   2, 3);
    tu_assert_diag(&r.d, CS_ERROR, "moe.router_topk 65 is larger than moe.num_experts 64", 2, 3);
    done(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("config");
    TCase *t = tcase_create("valid");
    tcase_add_test(t, minimal_scenario_values);
    tcase_add_test(t, training_and_layout_overrides);
    tcase_add_test(t, sweep_sections_accepted);
    suite_add_tcase(s, t);

    t = tcase_create("errors");
    tcase_add_test(t, wrong_types);
    tcase_add_test(t, wrong_types_elsewhere);
    tcase_add_test(t, invalid_value_not_reported_missing);
    tcase_add_test(t, missing_seq_length);
    tcase_add_test(t, missing_layouts);
    tcase_add_test(t, missing_everything);
    tcase_add_test(t, model_mapping_missing_hidden_size);
    tcase_add_test(t, cluster_mapping_missing_memory);
    tcase_add_test(t, unknown_keys_suggest);
    tcase_add_test(t, unknown_nested_keys_suggest);
    tcase_add_test(t, duplicate_keys);
    tcase_add_test(t, unknown_enum_values);
    tcase_add_test(t, sizes_must_be_positive);
    tcase_add_test(t, bare_number_names_the_unit);
    tcase_add_test(t, wrong_unit_kind);
    tcase_add_test(t, efficiency_tables);
    tcase_add_test(t, many_errors_all_reported);
    tcase_add_test(t, crlf_and_bom_positions);
    tcase_add_test(t, alias_bomb_scenario_refused);
    suite_add_tcase(s, t);

    t = tcase_create("references");
    tcase_add_test(t, base_with_nested_partial_override);
    tcase_add_test(t, model_by_relative_path);
    tcase_add_test(t, base_path_relative_to_its_file);
    tcase_add_test(t, unknown_preset_positioned);
    tcase_add_test(t, missing_file_positioned);
    tcase_add_test(t, error_inside_base_file_points_there);
    tcase_add_test(t, base_cycle_between_files);
    tcase_add_test(t, base_cycle_self_and_scenario);
    tcase_add_test(t, base_chain_depth_limited);
    tcase_add_test(t, scenario_default_name_keeps_dots);
    suite_add_tcase(s, t);

    t = tcase_create("hf");
    tcase_add_test(t, hf_llama3_70b);
    tcase_add_test(t, hf_mixtral_8x7b);
    tcase_add_test(t, hf_qwen_moe);
    tcase_add_test(t, hf_deepseek_v3);
    tcase_add_test(t, hf_matches_presets);
    tcase_add_test(t, hf_default_name_keeps_dots);
    tcase_add_test(t, hf_errors_positioned);
    tcase_add_test(t, hf_zero_attention_heads_refused);
    tcase_add_test(t, hf_zero_kv_heads_refused);
    tcase_add_test(t, hf_with_overrides_in_scenario);
    suite_add_tcase(s, t);

    t = tcase_create("presets");
    tcase_add_test(t, named_presets_load);
    tcase_add_test(t, every_preset_file_loads);
    tcase_add_test(t, layer_freq_list);
    tcase_add_test(t, layer_freq_list_wrong_length);
    tcase_add_test(t, layer_freq_bad_entries);
    tcase_add_test(t, model_coherence_errors);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
