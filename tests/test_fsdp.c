/* Megatron-FSDP (training.use_megatron_fsdp, data_parallel_sharding_strategy)
 * against hand computations: what each strategy shards in memory, the
 * collectives it adds per layer and micro-batch (ZeRO-3's gathers before
 * every forward and backward pass, ZeRO-2 and 3's reduce-scatters after
 * every backward), that a layer waits for its gather, and the checks. */
#include <string.h>

#include "model/check.h"
#include "model/kernels.h"
#include "model/memory.h"
#include "model/model.h"
#include "net/engine.h"
#include "net/fabric.h"
#include "net/net.h"
#include "replay/exec.h"
#include "replay/replay.h"
#include "replay/workload.h"
#include "testutil.h"

/* 4 layers, h 1024 (12.6M parameters a layer), on 2 DGX H100 nodes. */
#define SCENARIO                                                                                   \
    "model: { name: f, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "                \
    "ffn_hidden_size: 4096, vocab_size: 32000, max_position_embeddings: 1024 }\n"                  \
    "cluster: { base: dgx-h100, nodes: 2%s }\n"                                                    \
    "training: { seq_length: 1024, global_batch_size: 32, %s }\n"                                  \
    "layouts:\n  - { tp: 2, pp: 1 }\n"

typedef struct fixture {
    cs_scenario s;
    cs_layout_sizes z;
    cs_diags d;
    int rc;
} fixture;

static void load(fixture *f, const char *cluster, const char *training)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml, SCENARIO, cluster, training);
    cs_diags_init(&f->d);
    f->rc = tu_load_scenario(yaml, &f->s, &f->d);
    if (f->rc == 0)
        f->rc = cs_layout_check(&f->s, &f->s.layouts[0], &f->z, &f->d);
}

static void unload(fixture *f)
{
    cs_diags_free(&f->d);
    cs_scenario_free(&f->s);
}

static const char *const strategies[] = {"no_shard", "optim", "optim_grads", "optim_grads_params"};

static void load_strategy(fixture *f, const char *cluster, int zero, const char *extra)
{
    char training[256];
    snprintf(training, sizeof training,
             "use_megatron_fsdp: true, data_parallel_sharding_strategy: %s, "
             "overlap_grad_reduce: true%s",
             strategies[zero], extra);
    load(f, cluster, training);
    ck_assert_int_eq(f->rc, 0);
}

/* Per GPU (tp 2, dp 8): P_l = a layer's parameters / tp, E = the embedding
 * and output layer's / tp, all = 4 P_l + E. no_shard keeps all; optim shards
 * the optimizer (12 bytes over dp); optim_grads also every gradient (2
 * bytes, Megatron-FSDP's are the parameters' dtype), holding unsharded
 * what its reduce queue takes (1e9 parameters: all four layers here, two
 * with fsdp_double_buffer); optim_grads_params also the layers' weights (2
 * bytes; E stays whole), gathered as far as the prefetch reaches (again
 * all four layers, two with the double buffer). */
START_TEST(memory_per_strategy)
{
    for (int zero = 0; zero < 4; zero++)
        for (int dbuf = 0; dbuf < 2; dbuf++) {
            fixture f;
            load_strategy(&f, "", zero, dbuf ? ", fsdp_double_buffer: true" : "");
            ck_assert_int_eq(cs_training_zero(&f.s.training), zero);
            ck_assert_int_eq(f.s.training.distributed_optimizer, zero >= 1);
            cs_param_counts pc;
            cs_model_params(&f.s.model, &pc);
            double Pl = cs_model_layer_dense_params(&f.s.model, &pc, 0) / 2;
            double E = (pc.embedding + pc.output_layer + pc.final_norm) / 2, all = 4 * Pl + E;
            double dp = 8, held = dbuf ? 2 * Pl : 4 * Pl;
            ck_assert(cs_memory_fsdp_unit(&f.s, &f.z, 0) == Pl);
            cs_memory_breakdown m;
            cs_memory_stage(&f.s, &f.z, 0, &m);
            double w = zero >= 3 ? 4 * Pl / dp + E + held : all;
            double g = zero >= 2 ? all / dp + held : all;
            double o = zero >= 1 ? all / dp : all;
            assert_close(m.weights, 2 * w, 1e-12);
            assert_close(m.gradients, 2 * g, 1e-12);
            assert_close(m.optimizer, 12 * o, 1e-12);
            unload(&f);
        }
    /* FP8 (tensorwise: a copy and a transpose, 1 byte each with its
     * scales): ZeRO-3 holds the FP8 copies of the gathered layers only,
     * two of the four with the double buffer; ZeRO-2 every layer's. */
    for (int zero = 2; zero < 4; zero++) {
        fixture f;
        load_strategy(&f, "", zero, ", fsdp_double_buffer: true, precision: fp8, fp8_recipe: "
                                    "tensorwise, first_last_layers_bf16: false");
        cs_param_counts pc;
        cs_model_params(&f.s.model, &pc);
        double Pl = cs_model_layer_dense_params(&f.s.model, &pc, 0) / 2;
        double E = (pc.embedding + pc.output_layer + pc.final_norm) / 2;
        double F = (cs_model_layer_dense_params(&f.s.model, &pc, 0) - pc.layer_norms) / 2;
        double per = 2 * (1 + cs_kernels_fp8_weight_scale_bytes(CS_FP8_TENSORWISE));
        cs_memory_breakdown m;
        cs_memory_stage(&f.s, &f.z, 0, &m);
        double w16 = zero >= 3 ? 2 * (4 * Pl / 8 + E + 2 * Pl) : 2 * (4 * Pl + E);
        assert_close(m.weights, w16 + per * 4 * F * (zero >= 3 ? 0.5 : 1), 1e-12);
        unload(&f);
    }
}
END_TEST

typedef struct built {
    fixture f;
    tu_built t;
} built;

static void build(built *b, const char *cluster, int zero, const char *extra)
{
    load_strategy(&b->f, cluster, zero, extra);
    tu_build(&b->t, &b->f.s, &b->f.s.layouts[0], &b->f.z, CS_NET_ANALYTIC, 1);
}

static void done(built *b)
{
    tu_unbuild(&b->t);
    unload(&b->f);
}

/* GPU 0's DP-class ops on `stream` moving `bytes`; their total time in *t. */
static long count(const built *b, int stream, double bytes, double *t)
{
    long n = 0;
    if (t)
        *t = 0;
    for (long id = 0; id < b->t.w.count; id++)
        if (cs_exec_gpu(b->t.x, id) == 0 && b->t.w.info[id].klass == CS_OP_DP &&
            cs_exec_stream(b->t.x, id) == stream && b->t.w.info[id].work == bytes) {
            n++;
            if (t) {
                cs_op_times o = cs_exec_times(b->t.x, id);
                *t += o.end - o.begin;
            }
        }
    return n;
}

/* ZeRO-3 gathers each layer's 2 P_l bytes before every forward and backward
 * pass (2 L m of them); ZeRO-2 and 3 reduce-scatter its 2 P_l gradient
 * bytes after every backward (L m), and the embedding's and the output
 * layer's once each per micro-batch; the others neither. The gathers go on
 * a stream of their own with create_all_gather_group, else on the
 * reductions' (one communicator). */
START_TEST(collectives_per_layer_and_microbatch)
{
    for (int zero = 0; zero < 4; zero++)
        for (int group = 0; group < 2; group++) {
            built b;
            build(&b, "", zero, group ? ", create_all_gather_group: true" : "");
            cs_param_counts pc;
            cs_model_params(&b.f.s.model, &pc);
            double Pl = cs_model_layer_dense_params(&b.f.s.model, &pc, 0) / 2;
            long m = b.f.z.microbatches, L = 4;
            ck_assert_int_eq(m, 4); /* 32 / dp 8 */
            long gathers = zero >= 3 ? 2 * L * m : 0, reduces = zero >= 2 ? L * m : 0;
            if (group) {
                ck_assert_int_eq(count(&b, CS_STREAM_DP_GATHER, 2 * Pl, NULL), gathers);
                ck_assert_int_eq(count(&b, CS_STREAM_DP, 2 * Pl, NULL), reduces);
            } else {
                ck_assert_int_eq(count(&b, CS_STREAM_DP_GATHER, 2 * Pl, NULL), 0);
                ck_assert_int_eq(count(&b, CS_STREAM_DP, 2 * Pl, NULL), gathers + reduces);
            }
            ck_assert_int_eq(count(&b, CS_STREAM_DP, 2 * pc.embedding / 2, NULL),
                             zero >= 2 ? m : 0);
            done(&b);
        }
}
END_TEST

/* A layer's first op waits for its gather: on a slow network (1 Gb/s NICs)
 * the gathers, one after another on their stream, outlast the compute, and
 * the compute ends after all of them (without the waits it would end with
 * its own work; no optimizer, so that no reduction holds it either). */
START_TEST(layers_wait_for_their_gather)
{
    built b;
    build(&b, ", scale_out: { nic_bandwidth: 1 Gb/s }", 3,
          ", optimizer: none, create_all_gather_group: true");
    cs_param_counts pc;
    cs_model_params(&b.f.s.model, &pc);
    double Pl = cs_model_layer_dense_params(&b.f.s.model, &pc, 0) / 2, gathers = 0;
    ck_assert_int_eq(count(&b, CS_STREAM_DP_GATHER, 2 * Pl, &gathers), 32);
    double compute = 0, end = 0;
    for (long id = 0; id < b.t.w.count; id++) {
        if (cs_exec_gpu(b.t.x, id) != 0)
            continue;
        cs_op_times o = cs_exec_times(b.t.x, id);
        if (cs_exec_stream(b.t.x, id) != CS_STREAM_COMPUTE)
            continue;
        compute += o.end - o.begin;
        end = o.end > end ? o.end : end;
    }
    ck_assert_msg(gathers > 2 * compute, "gathers %g s, compute %g s", gathers, compute);
    ck_assert_msg(end >= gathers, "the compute ends at %g s, before its gathers' %g s", end,
                  gathers);
    done(&b);
}
END_TEST

/* GPU 0's compute-stream time of a ZeRO-`zero` FP8 build with micro-batches
 * of mbs: no host and an ideal network, so that an op's time is its
 * kernels' alone (nothing it overlaps slows it). */
static double fp8_compute(int zero, int mbs)
{
    built b;
    char extra[160];
    snprintf(extra, sizeof extra,
             ", precision: fp8, fp8_recipe: tensorwise, first_last_layers_bf16: false, "
             "micro_batch_size: %d",
             mbs);
    load_strategy(&b.f,
                  ", host: { launch_overhead: 0 us, op_overhead: 0 us, collective_overhead: 0 us }",
                  zero, extra);
    tu_build(&b.t, &b.f.s, &b.f.s.layouts[0], &b.f.z, CS_NET_IDEAL, 1);
    double t = 0;
    for (long id = 0; id < b.t.w.count; id++)
        if (cs_exec_gpu(b.t.x, id) == 0 && cs_exec_stream(b.t.x, id) == CS_STREAM_COMPUTE) {
            cs_op_times o = cs_exec_times(b.t.x, id);
            t += o.end - o.begin;
        }
    done(&b);
    return t;
}

/* FP8 weights are cast once an iteration (the first micro-batch's
 * forward) and kept, but ZeRO-3 keeps none: it casts after every gather,
 * 2 L m times against ZeRO-2's L. The casts are the only compute the two
 * differ by, so that difference is (2 m - 1) L casts: with m = 4 (micro-
 * batches of 1) 7 L, with m = 2 3 L, whatever one cast costs. */
START_TEST(zero3_casts_after_every_gather)
{
    double d4 = fp8_compute(3, 1) - fp8_compute(2, 1);
    double d2 = fp8_compute(3, 2) - fp8_compute(2, 2);
    ck_assert_msg(d4 > 0 && d2 > 0, "ZeRO-3 casts nothing more (%g, %g s)", d4, d2);
    assert_close(d4 / d2, 7.0 / 3.0, 1e-9);
}
END_TEST

START_TEST(checks)
{
    fixture f;
    load(&f, "", "data_parallel_sharding_strategy: optim");
    ck_assert_int_eq(f.rc, -1);
    tu_assert_diag(&f.d, CS_ERROR, "data_parallel_sharding_strategy needs use_megatron_fsdp: true",
                   3, 87);
    unload(&f);
    /* Megatron-FSDP v1 turns the distributed optimizer on, with a warning */
    load(&f, "", "use_megatron_fsdp: true, distributed_optimizer: false");
    ck_assert_int_eq(f.rc, 0);
    const cs_diag *w = tu_find(&f.d, "use_megatron_fsdp runs with the distributed optimizer");
    ck_assert(w && w->severity == CS_WARNING);
    ck_assert(f.s.training.distributed_optimizer);
    unload(&f);
    /* what it overlaps whatever the switches say */
    load(&f, "", "use_megatron_fsdp: true, overlap_grad_reduce: false");
    ck_assert_int_eq(f.rc, 0);
    ck_assert(f.s.training.overlap_grad_reduce && f.s.training.overlap_param_gather);
    unload(&f);
    /* as Megatron-FSDP v1 runs it; the strategy decides (no_shard: nothing sharded) */
    load(&f, "", "use_megatron_fsdp: true, distributed_optimizer: true, "
                 "data_parallel_sharding_strategy: no_shard");
    ck_assert_int_eq(f.rc, 0);
    ck_assert_int_eq(cs_training_zero(&f.s.training), 0);
    ck_assert(!f.s.training.distributed_optimizer);
    unload(&f);
    /* at their FILE:LINE:COL: the refusal at its key, the warning at its value */
    load(&f, "", "use_megatron_fsdp: true, precision: fp8, fp8_param_gather: true, "
                 "distributed_optimizer: false");
    ck_assert_int_eq(f.rc, -1);
    tu_assert_diag(&f.d, CS_ERROR, "fp8_param_gather with use_megatron_fsdp is not modelled yet", 3,
                   113);
    tu_assert_diag(&f.d, CS_WARNING, "use_megatron_fsdp runs with the distributed optimizer", 3,
                   142);
    unload(&f);
    /* Megatron-LM's default strategy is optim_grads_params */
    load(&f, "", "use_megatron_fsdp: true");
    ck_assert_int_eq(f.rc, 0);
    ck_assert_int_eq(cs_training_zero(&f.s.training), 3);
    unload(&f);
    load(&f, "", "distributed_optimizer: true");
    ck_assert_int_eq(cs_training_zero(&f.s.training), 1);
    unload(&f);
}
END_TEST

/* check's suggestion under Megatron-FSDP is the next sharding strategy
 * that fits (0.6 GB a GPU: no_shard needs 0.83 GB, optim 0.39). */
START_TEST(check_suggests_a_strategy)
{
    fixture f;
    load(&f, ", gpu: { memory: 0.6 GB, reserved_memory: 0 GB }",
         "use_megatron_fsdp: true, data_parallel_sharding_strategy: no_shard");
    ck_assert_int_eq(f.rc, 0);
    cs_check c;
    ck_assert_int_eq(cs_check_scenario(&f.s, &c), 0);
    ck_assert(!c.layouts[0].memory_fits);
    ck_assert_str_eq(c.layouts[0].fix, "data_parallel_sharding_strategy: optim");
    cs_check_free(&c);
    unload(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fsdp");
    TCase *t = tcase_create("fsdp");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, memory_per_strategy);
    tcase_add_test(t, collectives_per_layer_and_microbatch);
    tcase_add_test(t, layers_wait_for_their_gather);
    tcase_add_test(t, zero3_casts_after_every_gather);
    tcase_add_test(t, checks);
    tcase_add_test(t, check_suggests_a_strategy);
    suite_add_tcase(s, t);
    return tu_main(s);
}
