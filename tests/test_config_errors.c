/* config_errors: every problem of a file reported at its exact position: wrong
 * types, missing keys, unknown keys, bad values. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_test.h"

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

/* The collective library's keys: per-protocol times, protocol names, caps by
 * node count, per-operation efficiencies. */
START_TEST(collectives_keys_checked)
{
    run r;
    load(&r, "model: moe-30b\n"
             "cluster:\n"
             "  base: dgx-h100\n"
             "  scale_up: {latency: [1 us, 2 us]}\n"
             "  scale_out: {latency: [1 us, 2, 3 us]}\n"
             "  collectives:\n"
             "    protocols: [ll, ll64]\n"
             "    base_latency: fast\n"
             "    ll_max_bandwidth: [1 GB/s, 2 GB/s]\n"
             "    efficiency: {alltoal: 0.5, broadcast: 0}\n"
             "    nvls_latency: 3 GB\n"
             "training: {seq_length: 2048, global_batch_size: 128}\n"
             "layouts: [{tp: 8, pp: 1}]\n");
    ck_assert_int_eq(r.rc, -1);
    tu_assert_diag(&r.d, CS_ERROR,
                   "'latency' must be a time (Simple's) or a list of three [LL, LL128, Simple]", 4,
                   23);
    tu_assert_diag(&r.d, CS_ERROR, "'latency': '2' has no unit", 5, 31);
    tu_assert_diag(&r.d, CS_ERROR, "unknown protocol 'll64'; expected one of ll, ll128, simple",
                   7, 21);
    tu_assert_diag(&r.d, CS_ERROR, "'base_latency': expected a time", 8, 19);
    tu_assert_diag(&r.d, CS_ERROR,
                   "'ll_max_bandwidth' must be a bandwidth or a list of three [1 node, 2 nodes, "
                   "3 or more]",
                   9, 23);
    tu_assert_diag(&r.d, CS_ERROR, "unknown key 'alltoal' in efficiency; did you mean 'alltoall'?",
                   10, 18);
    tu_assert_diag(&r.d, CS_ERROR, "'broadcast' must be positive, got '0'", 10, 43);
    tu_assert_diag(&r.d, CS_ERROR, "'nvls_latency': '3 GB' is a size, not a time", 11, 19);
    ck_assert_uint_eq(r.d.errors, 8);
    done(&r);
}
END_TEST

/* Latencies, caps, the launch and host overheads and reserved memory may be
 * 0 but never negative: a negative latency would run a collective
 * backwards. An unknown cross-entropy implementation is named. */
START_TEST(negative_latencies_and_caps_refused)
{
    run r;
    load(&r, "model: moe-30b\n"
             "cluster:\n"
             "  base: dgx-h100\n"
             "  gpu: {kernel_launch: -1 us, reserved_memory: -1 GB}\n"
             "  scale_up: {latency: [1 us, -2 us, 3 us]}\n"
             "  scale_out: {latency: -4 us}\n"
             "  collectives: {base_latency: -1 us, nvls_latency: -1 us,\n"
             "                ll_max_bandwidth: -1 GB/s, tree_max_bandwidth: [0 GB/s, 1 GB/s, -1 GB/s]}\n"
             "  host: {launch_overhead: -1 us, collective_overhead: -2 us, op_overhead: -3 us}\n"
             "training: {seq_length: 2048, global_batch_size: 128, cross_entropy_fusion_impl: triton}\n"
             "layouts: [{tp: 8, pp: 1}]\n");
    ck_assert_int_eq(r.rc, -1);
    tu_assert_diag(&r.d, CS_ERROR, "'kernel_launch' must be 0 or more, got '-1 us'", 4, 24);
    tu_assert_diag(&r.d, CS_ERROR, "'reserved_memory' must be 0 or more, got '-1 GB'", 4, 48);
    tu_assert_diag(&r.d, CS_ERROR, "'latency' must be 0 or more, got '-2 us'", 5, 30);
    tu_assert_diag(&r.d, CS_ERROR, "'latency' must be 0 or more, got '-4 us'", 6, 24);
    tu_assert_diag(&r.d, CS_ERROR, "'base_latency' must be 0 or more, got '-1 us'", 7, 31);
    tu_assert_diag(&r.d, CS_ERROR, "'nvls_latency' must be 0 or more, got '-1 us'", 7, 52);
    tu_assert_diag(&r.d, CS_ERROR, "'ll_max_bandwidth' must be 0 or more, got '-1 GB/s'", 8, 35);
    tu_assert_diag(&r.d, CS_ERROR, "'tree_max_bandwidth' must be 0 or more, got '-1 GB/s'", 8,
                   81);
    tu_assert_diag(&r.d, CS_ERROR, "'launch_overhead' must be 0 or more, got '-1 us'", 9, 27);
    tu_assert_diag(&r.d, CS_ERROR, "'collective_overhead' must be 0 or more, got '-2 us'", 9, 55);
    tu_assert_diag(&r.d, CS_ERROR, "'op_overhead' must be 0 or more, got '-3 us'", 9, 75);
    tu_assert_diag(&r.d, CS_ERROR,
                   "unknown cross_entropy_fusion_impl 'triton'; expected one of native, te", 10, 81);
    ck_assert_uint_eq(r.d.errors, 12);
    done(&r);
}
END_TEST

/* Kernel efficiency tables (the grouped-GEMM one among them): increasing
 * sizes, full grids sorted by head_dim then seq_length, efficiencies in
 * (0, 1]; and the switches Megatron refuses together. */
START_TEST(kernel_tables_and_switches_checked)
{
    run r;
    load(&r, "model: moe-30b\n"
             "cluster:\n"
             "  base: dgx-h100\n"
             "  gpu:\n"
             "    matmul_shape_efficiency: [[64, 0.2], [32, 0.5]]\n"
             "    grouped_matmul_efficiency: [[256, 0.5], [512, 1.2]]\n"
             "    attention_efficiency:\n"
             "      flash: [[1024, 64, 0.2, 0.2], [2048, 64, 0.3, 0.3], [1024, 128, 0.4, 0.4]]\n"
             "      fused: [[1024, 64, 1.5, 0.3]]\n"
             "training: {seq_length: 2048, global_batch_size: 128, use_flash_attn: true,\n"
             "           attention_backend: local, tp_comm_overlap: true}\n"
             "layouts: [{tp: 8, pp: 1}]\n");
    ck_assert_int_eq(r.rc, -1);
    tu_assert_diag(&r.d, CS_ERROR, "sizes in 'matmul_shape_efficiency' must be positive and increasing",
                   5, 43);
    tu_assert_diag(&r.d, CS_ERROR,
                   "'grouped_matmul_efficiency' must be a ratio between 0 and 1, got '1.2'", 6, 51);
    tu_assert_diag(&r.d, CS_ERROR, "'flash' must give every head_dim the same seq_lengths", 8, 14);
    tu_assert_diag(&r.d, CS_ERROR,
                   "'fused': expected an efficiency above 0 and at most 1, got '1.5'", 9, 26);
    ck_assert_uint_eq(r.d.errors, 6); /* and the two of the training block, below */
    done(&r);
    load(&r, "model: moe-30b\n"
             "cluster: dgx-h100\n"
             "training: {seq_length: 2048, global_batch_size: 128, use_flash_attn: true,\n"
             "           attention_backend: local, tp_comm_overlap: true,\n"
             "           overlap_param_gather: true}\n"
             "layouts: [{tp: 8, pp: 1}]\n");
    ck_assert_int_eq(r.rc, -1);
    tu_assert_diag(&r.d, CS_ERROR, "use_flash_attn: true asks for attention_backend: flash, not local",
                   3, 70);
    tu_assert_diag(&r.d, CS_ERROR, "tp_comm_overlap needs sequence_parallel: true", 4, 55);
    tu_assert_diag(&r.d, CS_ERROR, "overlap_param_gather needs distributed_optimizer", 5, 34);
    done(&r);
    /* GEMM grids: sorted by m, n, k, and full */
    load(&r, "model: moe-30b\n"
             "cluster:\n"
             "  base: dgx-h100\n"
             "  gpu:\n"
             "    matmul_grid_efficiency: [[256, 256, 512, 0.1], [256, 256, 256, 0.2]]\n"
             "    fp8_matmul_grid_efficiency: [[256, 256, 256, 0.1], [256, 256, 512, 0.2],\n"
             "                                 [512, 256, 256, 0.3]]\n"
             "training: {seq_length: 2048, global_batch_size: 128}\n"
             "layouts: [{tp: 8, pp: 1}]\n");
    ck_assert_int_eq(r.rc, -1);
    tu_assert_diag(&r.d, CS_ERROR,
                   "rows of 'matmul_grid_efficiency' must be sorted by m, then n, then k", 5, 52);
    tu_assert_diag(&r.d, CS_ERROR,
                   "'fp8_matmul_grid_efficiency' must give every (m, n) every k (a full grid of 2 "
                   "x 1 x 2 rows)",
                   6, 33);
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


/* A cluster's price: as cost: is written, refused at its position; a price
 * of its own stands in for the scenario's cost. */
START_TEST(cluster_price)
{
    run r;
    load_bad(&r, "model: moe-30b\n"
                 "cluster: { base: cluster-512-64gb, price: 3 USD }\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "'price' must be a mapping", 2, 43);
    done(&r);
    load_bad(&r, "model: moe-30b\n"
                 "cluster: { base: cluster-512-64gb, price: { purchase: 25000 USD } }\n" TRAINING
                     LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "a purchase price needs a lifetime", 2, 43);
    done(&r);
    load_bad(&r, "model: moe-30b\n"
                 "cluster: { base: cluster-512-64gb, price: { gpu_hour: 2 GB } }\n" TRAINING
                     LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "'gpu_hour'", 2, 55);
    done(&r);
    load_ok(&r, "model: moe-30b\n"
                "cluster: { base: cluster-512-64gb, price: { gpu_hour: 3 USD } }\n" TRAINING LAYOUTS);
    ck_assert(r.s.cost.present && r.s.cost.gpu_hour == 3);
    done(&r);
}
END_TEST

/* Megatron's names: enum values in its spelling load (RMSNorm, 1F1B); an
 * argument clustersim names otherwise is refused with its name here. */
START_TEST(megatron_spellings)
{
    run r;
    load_ok(&r, "model: { base: moe-30b, normalization: RMSNorm }\n"
                "cluster: cluster-512-64gb\n"
                "training: {seq_length: 2048, global_batch_size: 128, schedule: 1F1B}\n" LAYOUTS);
    ck_assert_int_eq(r.s.model.normalization, CS_NORM_RMSNORM);
    ck_assert_int_eq(r.s.training.schedule, CS_1F1B);
    done(&r);
    /* Megatron's names of our keys are read as ours, each with a note */
    load_ok(&r, "model: { base: moe-30b, num_experts: 32, moe_router_topk: 4 }\n"
                "cluster: cluster-512-64gb\n"
                "training: {seq_length: 2048, global_batch_size: 128, sequence_parallel: true, "
                "use_distributed_optimizer: true, recompute_granularity: full}\n"
                "layouts:\n  - {tensor_model_parallel_size: 4, pipeline_model_parallel_size: 4, "
                "expert_model_parallel_size: 8, dp: 4}\n");
    ck_assert_int_eq(r.s.model.moe.num_experts, 32);
    ck_assert_int_eq(r.s.model.moe.router_topk, 4);
    ck_assert(r.s.training.distributed_optimizer && r.s.training.recompute == CS_RECOMPUTE_FULL);
    ck_assert(r.s.layouts[0].tp == 4 && r.s.layouts[0].pp == 4 && r.s.layouts[0].ep == 8);
    tu_assert_diag(&r.d, CS_NOTE, "read Megatron's num_experts as model.moe.num_experts", 1, 25);
    tu_assert_diag(&r.d, CS_NOTE, "read Megatron's tensor_model_parallel_size as layout.tp", 5,
                   6);
    done(&r);
    /* ours and Megatron's both, either way round: refused */
    load_bad(&r, "model: moe-30b\ncluster: cluster-512-64gb\n" TRAINING
                 "layouts:\n  - {tensor_model_parallel_size: 4, tp: 2, pp: 4}\n",
             1);
    tu_assert_diag(&r.d, CS_ERROR, "key 'tp' appears twice in layout (or with its Megatron name)",
                   5, 37);
    done(&r);
    load_bad(&r, "model: moe-30b\ncluster: cluster-512-64gb\n" TRAINING
                 "layouts:\n  - {tp: 2, tensor_model_parallel_size: 4, pp: 4}\n",
             1);
    tu_assert_diag(&r.d, CS_ERROR,
                   "'tensor_model_parallel_size' is Megatron's name of 'tp', which layout also sets",
                   5, 13);
    done(&r);
    /* a flat MoE name and the moe: block's own key: refused */
    load_bad(&r, "model: {base: moe-30b, num_experts: 8, moe: {num_experts: 64}}\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR,
                   "'num_experts' is Megatron's name of 'moe.num_experts', which model also sets",
                   1, 24);
    done(&r);
    /* a Megatron flag with no key of the same meaning keeps its hint */
    load_bad(&r, "model: moe-30b\ncluster: cluster-512-64gb\n"
                 "training: {seq_length: 2048, global_batch_size: 128, bf16: true}\n" LAYOUTS,
             1);
    assert_message(&r.d, "'bf16'", "unknown key 'bf16' in training; Megatron's bf16 is "
                                   "'precision' here: bf16");
    done(&r);
}
END_TEST

/* Limits of this session's keys, each at its position: more MTP depths
 * than layers (at the model mapping), a sequence beyond 2^24 tokens (at the
 * key). */
START_TEST(mtp_and_sequence_limits)
{
    run r;
    load_bad(&r, "model: { base: moe-30b, mtp_num_layers: 17 }\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "mtp_num_layers 17 is more than the model's 16 layers", 1, 8);
    done(&r);
    /* The new model keys' bad values, at their positions. */
    load_bad(&r, "model: { base: moe-30b, activation_func_clamp_value: -1, qk_layernorm: maybe }\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             2);
    tu_assert_diag(&r.d, CS_ERROR, "'activation_func_clamp_value' must be positive, got '-1'", 1,
                   54);
    tu_assert_diag(&r.d, CS_ERROR, "'qk_layernorm' must be true or false, got 'maybe'", 1, 72);
    done(&r);
    /* Sliding windows: Megatron's (left, right) pair, causal only; the skip
     * frequency means nothing without a window. */
    load_bad(&r, "model: { base: moe-30b, window_size: [128, 4] }\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "window_size's right side must be 0", 1, 44);
    done(&r);
    load_bad(&r, "model: { base: moe-30b, window_size: 128 }\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "'window_size' must be [left, right]", 1, 38);
    done(&r);
    load_bad(&r, "model: { base: moe-30b, window_size: [-1, 0] }\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "'window_size' must be at least 0", 1, 39);
    done(&r);
    load_bad(&r, "model: { base: moe-30b, window_attn_skip_freq: 2 }\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "window_attn_skip_freq 2 needs window_size", 1, 8);
    done(&r);
    /* Two gated activations at once (Megatron asserts not args.swiglu). */
    load_bad(&r, "model: { base: moe-30b, swiglu: true, quick_geglu: true }\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "swiglu and quick_geglu both name the MLP's gated activation", 1,
                   8);
    done(&r);
    load_bad(&r, "model: moe-30b\n"
                 "cluster: cluster-512-64gb\n"
                 "training: {seq_length: 16777217, global_batch_size: 128}\n" LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "seq_length 16777217 is over the limit of 16777216", 3, 24);
    done(&r);
}
END_TEST

/* FP8 settings refused where Megatron refuses them, at the value's position;
 * the ones it ignores without --fp8-format only warn. */
START_TEST(fp8_settings_checked)
{
    run r;
    /* FP8 needs FP8 tensor cores: the A100 has none. */
    load_bad(&r, "model: llama3-70b\n"
                 "cluster: { base: dgx-a100-80gb, nodes: 4 }\n"
                 "training:\n"
                 "  seq_length: 4096\n"
                 "  global_batch_size: 16\n"
                 "  precision: fp8\n"
                 "layouts: [{tp: 8, pp: 4}]\n",
             1);
    assert_message(&r.d, "FP8 tensor cores, and",
                   "precision: fp8 needs FP8 tensor cores, and GPU 'A100-SXM4-80GB' has none "
                   "(cluster.gpu.fp8 is false)");
    tu_assert_diag(&r.d, CS_ERROR, "precision: fp8 needs FP8 tensor cores", 4, 3);
    done(&r);
    /* MXFP8 needs Blackwell: dgx-h100 has no gpu.mxfp8. */
    load_bad(&r, "model: llama3-70b\n"
                 "cluster: { base: dgx-h100, nodes: 4 }\n"
                 "training:\n"
                 "  seq_length: 4096\n"
                 "  global_batch_size: 16\n"
                 "  precision: fp8\n"
                 "  fp8_recipe: mxfp8\n"
                 "layouts: [{tp: 8, pp: 4}]\n",
             1);
    assert_message(&r.d, "mxfp8",
                   "fp8_recipe: mxfp8 needs MXFP8 tensor cores (Blackwell), and GPU "
                   "'H100-SXM5-80GB' has none (cluster.gpu.mxfp8 is false)");
    tu_assert_diag(&r.d, CS_ERROR, "fp8_recipe: mxfp8 needs", 7, 15);
    done(&r);
    /* ... and is fine on dgx-b200. */
    load_ok(&r, "model: llama3-70b\n"
                "cluster: { base: dgx-b200, nodes: 4 }\n"
                "training: {seq_length: 4096, global_batch_size: 16, precision: fp8, "
                "fp8_recipe: mxfp8}\n"
                "layouts: [{tp: 8, pp: 4}]\n");
    ck_assert_int_eq(r.s.training.fp8_recipe, CS_FP8_MXFP8);
    ck_assert(r.s.cluster.gpu.mxfp8);
    done(&r);
    /* A recipe without fp8: a warning, the load succeeds. */
    load(&r, "model: llama3-70b\n"
             "cluster: { base: dgx-h100, nodes: 4 }\n"
             "training:\n"
             "  seq_length: 4096\n"
             "  global_batch_size: 16\n"
             "  fp8_recipe: tensorwise\n"
             "layouts: [{tp: 8, pp: 4}]\n");
    ck_assert_int_eq(r.rc, 0);
    tu_assert_diag(&r.d, CS_WARNING, "fp8_recipe has no effect without precision: fp8", 6, 15);
    done(&r);
    /* Delayed scaling with BF16 ends, fp8_param_gather without the
     * distributed optimizer, more BF16 layers than a stage of 80 / 4 = 20. */
    load_bad(&r, "model: llama3-70b\n"
                 "cluster: { base: dgx-h100, nodes: 4 }\n"
                 "training:\n"
                 "  seq_length: 4096\n"
                 "  global_batch_size: 16\n"
                 "  precision: fp8\n"
                 "  first_last_layers_bf16: true\n"
                 "  fp8_param_gather: true\n"
                 "layouts: [{tp: 8, pp: 4}]\n",
             2);
    tu_assert_diag(&r.d, CS_ERROR, "delayed scaling does not support first / last layers", 7, 27);
    tu_assert_diag(&r.d, CS_ERROR, "fp8_param_gather needs distributed_optimizer: true", 8, 21);
    done(&r);
    load_bad(&r, "model: llama3-70b\n"
                 "cluster: { base: dgx-h100, nodes: 4 }\n"
                 "training:\n"
                 "  seq_length: 4096\n"
                 "  global_batch_size: 16\n"
                 "  precision: fp8\n"
                 "  fp8_recipe: blockwise\n"
                 "  first_last_layers_bf16: true\n"
                 "  num_layers_at_start_in_bf16: 21\n"
                 "layouts:\n"
                 "  - {tp: 8, pp: 4}\n",
             1);
    assert_message(&r.d, "num_layers_at_start_in_bf16",
                   "num_layers_at_start_in_bf16 (21) must be at most the layers per pipeline "
                   "stage (20), as in Megatron");
    tu_assert_diag(&r.d, CS_ERROR, "num_layers_at_start_in_bf16 (21)", 11, 17);
    done(&r);
    /* fp8_param_gather without fp8; an unknown recipe. */
    load_bad(&r, "model: llama3-70b\n"
                 "cluster: { base: dgx-h100, nodes: 4 }\n"
                 "training:\n"
                 "  seq_length: 4096\n"
                 "  global_batch_size: 16\n"
                 "  distributed_optimizer: true\n"
                 "  fp8_param_gather: true\n"
                 "layouts: [{tp: 8, pp: 4}]\n",
             1);
    tu_assert_diag(&r.d, CS_ERROR, "fp8_param_gather needs precision: fp8", 7, 21);
    done(&r);
    load_bad(&r, "model: llama3-70b\n"
                 "cluster: { base: dgx-h100, nodes: 4 }\n"
                 "training: {seq_length: 4096, global_batch_size: 16, precision: fp8, "
                 "fp8_recipe: nvfp4}\n"
                 "layouts: [{tp: 8, pp: 4}]\n",
             1);
    assert_message(&r.d, "nvfp4",
                   "unknown fp8_recipe 'nvfp4'; expected one of delayed, tensorwise, blockwise, "
                   "mxfp8");
    done(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config_errors");
    TCase *t_errors = tcase_create("errors");
    tcase_add_test(t_errors, wrong_types);
    tcase_add_test(t_errors, wrong_types_elsewhere);
    tcase_add_test(t_errors, collectives_keys_checked);
    tcase_add_test(t_errors, negative_latencies_and_caps_refused);
    tcase_add_test(t_errors, kernel_tables_and_switches_checked);
    tcase_add_test(t_errors, invalid_value_not_reported_missing);
    tcase_add_test(t_errors, crlf_and_bom_positions);
    tcase_add_test(t_errors, alias_bomb_scenario_refused);
    tcase_add_test(t_errors, missing_seq_length);
    tcase_add_test(t_errors, missing_layouts);
    tcase_add_test(t_errors, missing_everything);
    tcase_add_test(t_errors, model_mapping_missing_hidden_size);
    tcase_add_test(t_errors, cluster_mapping_missing_memory);
    tcase_add_test(t_errors, unknown_keys_suggest);
    tcase_add_test(t_errors, unknown_nested_keys_suggest);
    tcase_add_test(t_errors, duplicate_keys);
    tcase_add_test(t_errors, unknown_enum_values);
    tcase_add_test(t_errors, fp8_settings_checked);
    tcase_add_test(t_errors, mtp_and_sequence_limits);
    tcase_add_test(t_errors, megatron_spellings);
    tcase_add_test(t_errors, cluster_price);
    suite_add_tcase(s, t_errors);
    return tu_main(s);
}
