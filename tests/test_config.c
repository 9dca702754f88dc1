/* config: scenarios loaded into typed structs: the values of valid files and the
 * quantities they carry. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_test.h"

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
    /* One time is Simple's; LL and LL128 are left to the network layer. */
    ck_assert(k->scale_up.latency[CS_PROTO_SIMPLE] == 3e-6);
    ck_assert(isnan(k->scale_up.latency[CS_PROTO_LL]) && isnan(k->scale_up.latency[CS_PROTO_LL128]));
    ck_assert(k->scale_up.efficiency == 0.611);
    ck_assert_int_eq(k->scale_up.nvls, 0);
    ck_assert_int_eq(k->scale_out.nics_per_node, 8);
    ck_assert(k->scale_out.nic_bandwidth == 25e9); /* 200 Gb/s */
    ck_assert(k->scale_out.latency[CS_PROTO_SIMPLE] == 30e-6);
    ck_assert_uint_eq(k->collectives.protocols, 1u << CS_PROTO_SIMPLE);
    ck_assert(k->collectives.base_latency[CS_PROTO_SIMPLE] == 20e-6);
    ck_assert(k->collectives.efficiency.alltoall == 1.0);
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
    ck_assert_int_eq(l->cp, 1);
    ck_assert_int_eq(l->order[0], CS_DIM_TP); /* Megatron's tp-cp-ep-dp-pp */
    ck_assert_int_eq(l->order[1], CS_DIM_CP);
    ck_assert_int_eq(l->order[2], CS_DIM_EP);
    ck_assert_int_eq(l->order[3], CS_DIM_DP);
    ck_assert_int_eq(l->order[4], CS_DIM_PP);
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
                "cluster: { base: cluster-512-64gb, gpu: { fp8: true } }\n"
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
    tu_assert_diag(&r.d, CS_ERROR, "'order' must name tp, cp, ep, dp and pp once each", 21, 41);
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


int main(void)
{
    Suite *s = suite_create("config");
    TCase *t_valid = tcase_create("valid");
    tcase_add_test(t_valid, minimal_scenario_values);
    tcase_add_test(t_valid, training_and_layout_overrides);
    tcase_add_test(t_valid, sweep_sections_accepted);
    suite_add_tcase(s, t_valid);
    TCase *t_quantities = tcase_create("quantities");
    tcase_add_test(t_quantities, sizes_must_be_positive);
    tcase_add_test(t_quantities, bare_number_names_the_unit);
    tcase_add_test(t_quantities, wrong_unit_kind);
    tcase_add_test(t_quantities, efficiency_tables);
    tcase_add_test(t_quantities, many_errors_all_reported);
    suite_add_tcase(s, t_quantities);
    return tu_main(s);
}
