/* The programs the workload builds, op by op: the per-iteration items
 * (gradient zeroing, tied-embedding and gradient-norm all-reduces), the
 * loss's and embedding's TP communication, pipeline transfers (whole
 * activations, 1/tp with sequence parallelism or scatter-gather, batched
 * and waited for), selective recompute booked as recompute, and the overlap
 * of the input gradient's reduction with the weight gradients. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/cost.h"
#include "model/kernels.h"
#include "net/engine.h"
#include "net/fabric.h"
#include "net/net.h"
#include "replay/replay.h"
#include "replay/workload.h"
#include "testutil.h"

#define SMALL                                                                                      \
    "{ name: s, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "                       \
    "ffn_hidden_size: 4096, vocab_size: 32000, max_position_embeddings: 1024, "                    \
    "position_embedding_type: learned_absolute%s }"

typedef struct built {
    cs_scenario s;
    cs_layout_sizes z;
    cs_fabric f;
    cs_engine *e;
    cs_net *net;
    cs_exec *x;
    cs_workload w;
} built;

static void build_on(built *b, const char *cluster, const char *model, const char *training,
                     const char *layout, int run, cs_network_model nm)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "model: %s\ncluster: %s\n"
             "training: { seq_length: 1024, global_batch_size: 16, %s }\n"
             "layouts:\n  - %s\n",
             model, cluster, training, layout);
    cs_diags d;
    cs_diags_init(&d);
    int rc = tu_load_scenario(yaml, &b->s, &d);
    if (rc == 0)
        rc = cs_layout_check(&b->s, &b->s.layouts[0], &b->z, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(cs_fabric_init(&b->f, &b->s.cluster), 0);
    b->e = cs_engine_create();
    b->net = cs_net_create(b->e, &b->f, nm);
    b->x = cs_exec_create(b->net, b->z.world, CS_STREAMS);
    ck_assert_ptr_nonnull(b->x);
    ck_assert_int_eq(cs_workload_build(&b->w, b->x, &b->s, &b->s.layouts[0], &b->z, 1), 0);
    if (run)
        ck_assert_int_eq(cs_exec_run(b->x), 0);
}

static void build_net(built *b, const char *model, const char *training, const char *layout,
                      int run, cs_network_model nm)
{
    build_on(b, "{ base: dgx-h100, nodes: 1 }", model, training, layout, run, nm);
}

static void build(built *b, const char *model_extra, const char *training, const char *layout,
                  int run)
{
    char model[512];
    snprintf(model, sizeof model, SMALL, model_extra);
    build_net(b, model, training, layout, run, CS_NET_ANALYTIC);
}

static void done(built *b)
{
    cs_workload_free(&b->w);
    cs_exec_destroy(b->x);
    cs_net_destroy(b->net);
    cs_engine_destroy(b->e);
    cs_fabric_free(&b->f);
    cs_scenario_free(&b->s);
}

/* Ops of GPU gpu of class k moving `bytes` (any size when bytes < 0). */
static int count(const built *b, long gpu, cs_op_class k, double bytes)
{
    int n = 0;
    for (long id = 0; id < b->w.count; id++)
        if (cs_exec_gpu(b->x, id) == gpu && b->w.info[id].klass == k &&
            (bytes < 0 || b->w.info[id].work == bytes))
            n++;
    return n;
}

/* The cross entropy's three all-reduces of 4 T bytes per micro-batch (two
 * fused); the embedding's all-reduce (reduce-scatter with sequence
 * parallelism) of 2 T h. */
START_TEST(loss_and_embedding_tp_communication)
{
    built b;
    double T = 1024, h = 1024;
    for (int fused = 0; fused < 2; fused++) {
        build(&b, "", fused ? "cross_entropy_loss_fusion: true" : "", "{ tp: 2, pp: 1, dp: 4 }", 0);
        long m = b.z.microbatches;
        ck_assert_int_eq(count(&b, 0, CS_OP_TP, 4 * T), (fused ? 2 : 3) * m);
        /* Without sequence parallelism, all-reduces of 2 T h: the
         * embedding's, two per layer forward, two per layer backward (the
         * input gradients'), the output layer's input gradient. */
        ck_assert_int_eq(count(&b, 0, CS_OP_TP, 2 * T * h), m * (1 + 4 * 4 + 1));
        done(&b);
    }
    /* Per micro-batch: the embedding's reduction forward, and 8 per layer
     * and the output layer's with sequence parallelism (AG before and RS
     * after each block forward; AG of the gradient, AG of the input, RS of
     * the input gradient backward; the output layer AG forward, AG and RS
     * backward), plus the embedding's gradient gather. */
    build(&b, "", "sequence_parallel: true", "{ tp: 2, pp: 1, dp: 4 }", 0);
    long m = b.z.microbatches;
    ck_assert_int_eq(count(&b, 0, CS_OP_TP, 2 * T * h), m * (1 + 4 * 2 * 5 + 3 + 1));
    done(&b);
}
END_TEST

/* finalize_model_grads: the tied word embedding's fp32 gradient [V/t, h]
 * all-reduced between the first and last stages, only when tied and pp > 1;
 * the gradient norm's 4-byte all-reduce when clip_grad > 0 (and fp16's
 * found_inf); zero_grad_buffer as the first op. */
/* MoE parallel folding on one node: tp 2 and ep 8 with etp 1 (ep x tp = 16
 * > 8 GPUs), the alltoall dispatcher. The EP group is all 8 GPUs in rank order, TP peers included;
 * each all-to-all moves its member's T/t tokens x top-2 x h x 2 bytes (even
 * routing), four per layer and micro-batch (dispatch and combine, each way);
 * no expert-TP collectives. */
START_TEST(folded_expert_groups_span_tp_ranks)
{
    built b;
    build(&b, ", moe: { num_experts: 8, router_topk: 2, ffn_hidden_size: 1024 }",
          "sequence_parallel: true, moe_token_dispatcher_type: alltoall",
          "{ tp: 2, pp: 1, ep: 8, etp: 1 }", 0);
    ck_assert_int_eq(b.z.dp, 0);
    ck_assert_int_eq(b.z.dense_dp, 4);
    ck_assert_int_eq(b.z.expert_dp, 1);
    long m = b.z.microbatches, L = 4;
    double bytes = 2.0 * (1024 / 2) * 2 * 1024;
    ck_assert_int_eq(count(&b, 0, CS_OP_EP, bytes), 4 * L * m);
    ck_assert_int_eq(count(&b, 5, CS_OP_EP, bytes), 4 * L * m);
    ck_assert_int_eq(count(&b, 0, CS_OP_EP, -1), 4 * L * m);
    for (long id = 0; id < b.w.count; id++) {
        if (b.w.info[id].klass != CS_OP_EP || cs_exec_gpu(b.x, id) != 0)
            continue;
        for (long j = 0; j < 8; j++)
            ck_assert_int_eq(cs_exec_gpu(b.x, id + j), j);
    }
    /* The TP collectives stay those of the dense TP pairs: never more than
     * two members (GPU 0's partner is 1). */
    for (long id = 0; id < b.w.count; id++)
        if (b.w.info[id].klass == CS_OP_TP && cs_exec_gpu(b.x, id) == 0 && id + 1 < b.w.count &&
            b.w.info[id + 1].klass == CS_OP_TP)
            ck_assert_int_eq(cs_exec_gpu(b.x, id + 1), 1);
    done(&b);
    /* The allgather dispatcher gathers over the experts' tensor-and-expert
     * group: with tp 2, ep 2, etp 1 on 8 GPUs that is GPUs {2i, 2i+1} (an
     * expert-DP rank's etp x ep ranks), here the dense TP pairs too. */
    build(&b, ", moe: { num_experts: 8, router_topk: 2, ffn_hidden_size: 1024 }",
          "sequence_parallel: true, moe_token_dispatcher_type: allgather",
          "{ tp: 2, pp: 1, ep: 2, etp: 1 }", 0);
    int seen = 0;
    for (long id = 0; id < b.w.count; id++) {
        if (b.w.info[id].klass != CS_OP_EP || cs_exec_gpu(b.x, id) != 0)
            continue;
        ck_assert_int_eq(cs_exec_gpu(b.x, id + 1), 1);
        seen++;
    }
    ck_assert_int_gt(seen, 0);
    done(&b);
}
END_TEST

/* The layers of GPU gpu's forward ops, as a bit set. */
static unsigned layers_of(const built *b, long gpu)
{
    unsigned set = 0;
    for (long id = 0; id < b->w.count; id++)
        if (cs_exec_gpu(b->x, id) == gpu && b->w.info[id].klass == CS_OP_FORWARD &&
            b->w.info[id].layer >= 0)
            set |= 1u << b->w.info[id].layer;
    return set;
}

/* Uneven pipeline splits place the layers as Megatron-Core's
 * get_num_layers_to_build(): 4 layers on pp 2 with one on the first stage
 * (GPU 0; stage 1 is GPUs 4-7 with tp 1 dp 4), or the embedding and loss
 * each counted as a layer (6 slots, 3 per stage: layers 0-1 and 2-3). */
START_TEST(uneven_pipeline_stages_hold_their_layers)
{
    built b;
    build(&b, "", "decoder_first_pipeline_num_layers: 1", "{ tp: 1, pp: 2 }", 0);
    ck_assert_uint_eq(layers_of(&b, 0), 0x1);
    ck_assert_uint_eq(layers_of(&b, 4), 0xe);
    done(&b);
    build(&b, "", "decoder_last_pipeline_num_layers: 1", "{ tp: 1, pp: 2 }", 0);
    ck_assert_uint_eq(layers_of(&b, 0), 0x7);
    ck_assert_uint_eq(layers_of(&b, 4), 0x8);
    done(&b);
    build(&b, "",
          "account_for_embedding_in_pipeline_split: true, "
          "account_for_loss_in_pipeline_split: true",
          "{ tp: 1, pp: 2 }", 0);
    ck_assert_uint_eq(layers_of(&b, 0), 0x3);
    ck_assert_uint_eq(layers_of(&b, 4), 0xc);
    done(&b);
    /* Interleaved with the embedding and the loss counted: 6 slots over
     * pp 2 x vpp 3, one per virtual stage; the
     * first and last virtual stages hold no transformer layer. Stage 0
     * holds virtual stages 0, 2, 4 (layers 1 and 3), stage 1 holds 1, 3, 5
     * (layers 0 and 2). */
    build(&b, "",
          "account_for_embedding_in_pipeline_split: true, "
          "account_for_loss_in_pipeline_split: true, schedule: interleaved, "
          "virtual_pipeline_stages: 3",
          "{ tp: 1, pp: 2 }", 0);
    ck_assert_uint_eq(layers_of(&b, 0), 0xa);
    ck_assert_uint_eq(layers_of(&b, 4), 0x5);
    done(&b);
}
END_TEST

/* Multi-token prediction: the depth is layer 4 (after the decoder's 0-3) on
 * the last stage, with its own logits and loss (three more 4 T all-reduces
 * per micro-batch), and the model FLOPs add Megatron's MTP terms: a layer,
 * 2 (3h + 2h^2) of norms and eh_proj and 2 h V of logits per token, x 3
 * for forward and backward. */
START_TEST(mtp_layers_on_the_last_stage)
{
    built b;
    double T = 1024, h = 1024, V = 32000;
    build(&b, ", mtp_num_layers: 1", "", "{ tp: 2, pp: 2 }", 0);
    ck_assert_uint_eq(layers_of(&b, 0), 0x3);
    ck_assert_uint_eq(layers_of(&b, 4), 0x1c);
    long m = b.z.microbatches;
    ck_assert_int_eq(count(&b, 4, CS_OP_TP, 4 * T), 2 * 3 * m);
    ck_assert_int_eq(count(&b, 0, CS_OP_TP, 4 * T), 0);
    double with = cs_workload_model_flops(&b.s.model, &b.s.training);
    b.s.model.mtp_num_layers = 0;
    double without = cs_workload_model_flops(&b.s.model, &b.s.training);
    double layer = 2 * h * 3 * h + 2 * h * 1024 + 2 * h * h + 2 * 2 * h * 4096;
    double expect = 3 * (layer + 2 * (3 * h + 2 * h * h) + 2 * h * V) * 16 * T;
    ck_assert_double_eq_tol(with - without, expect, 1e-6 * expect);
    done(&b);
    /* The depth runs under the global FP8 context whatever
     * first_last_layers_bf16 keeps in BF16 (Megatron's MTP layer). */
    cs_training t = {0};
    t.precision = CS_FP8;
    t.first_last_layers_bf16 = 1;
    t.num_layers_at_start_in_bf16 = t.num_layers_at_end_in_bf16 = 1;
    ck_assert(!cs_training_layer_fp8(&t, 4, 3));
    ck_assert(cs_training_layer_fp8(&t, 4, 2));
    ck_assert(cs_training_layer_fp8(&t, 4, 4));
}
END_TEST

/* A stage without layers (3 layers and the embedding counted over 4
 * stages: stage 0 holds the embedding alone) still reduces the embedding's
 * gradients over its data-parallel pair: V h + positions 1024 h, 4 bytes. */
START_TEST(stage_without_layers_reduces_its_embedding)
{
    built b;
    char model[512];
    snprintf(model, sizeof model,
             "{ name: s, num_layers: 3, hidden_size: 1024, num_attention_heads: 16, "
             "ffn_hidden_size: 4096, vocab_size: 32000, max_position_embeddings: 1024, "
             "position_embedding_type: learned_absolute }");
    build_net(&b, model, "account_for_embedding_in_pipeline_split: true", "{ tp: 1, pp: 4 }", 0,
              CS_NET_ANALYTIC);
    ck_assert_uint_eq(layers_of(&b, 0), 0);
    ck_assert_uint_eq(layers_of(&b, 2), 0x1);
    double bytes = 4.0 * (32000 + 1024) * 1024;
    ck_assert_int_eq(count(&b, 0, CS_OP_DP, bytes), 1);
    done(&b);
}
END_TEST

/* The flex (DeepEP) dispatcher with expert TP: one all-to-all over the
 * expert tensor-and-expert group (etp 2 x ep 2: GPUs 0-3), not an EP
 * exchange plus expert-TP gathers. */
START_TEST(flex_with_expert_tp_exchanges_over_tp_ep)
{
    built b;
    build(&b, ", moe: { num_experts: 8, router_topk: 2, ffn_hidden_size: 1024 }",
          "sequence_parallel: true, moe_token_dispatcher_type: flex",
          "{ tp: 2, pp: 1, ep: 2, etp: 2 }", 0);
    int seen = 0;
    for (long id = 0; id < b.w.count; id++) {
        if (b.w.info[id].klass != CS_OP_EP || cs_exec_gpu(b.x, id) != 0)
            continue;
        for (long j = 0; j < 4; j++)
            ck_assert_int_eq(cs_exec_gpu(b.x, id + j), j);
        seen++;
    }
    ck_assert_int_eq(seen, 4 * 4 * b.z.microbatches); /* dispatch, combine, each way */
    done(&b);
}
END_TEST

START_TEST(per_iteration_all_reduces)
{
    built b;
    double tied = 4.0 * 32000 / 2 * 1024; /* 32000 is a multiple of 128 x tp already */
    build(&b, "", "", "{ tp: 2, pp: 2, dp: 2 }", 1);
    ck_assert_int_eq(count(&b, 0, CS_OP_DP, tied), 1);
    ck_assert_int_eq(count(&b, b.z.world - 1, CS_OP_DP, tied), 1);
    ck_assert_int_eq(count(&b, 0, CS_OP_DP, 4), 1);
    /* zero_grad_buffer: the first op, a memset of 4 bytes per parameter of
     * the GPU (stage 0: its two layers and the embedding, over tp 2). */
    ck_assert(b.w.info[0].klass == CS_OP_OPTIMIZER);
    cs_cost c;
    ck_assert_int_eq(cs_cost_init(&c, &b.s.cluster.gpu, CS_BF16), 0);
    double stage0 = (2 * (12.0 * 1024 * 1024 + 4 * 1024) + 32000.0 * 1024 + 1024.0 * 1024) / 2;
    assert_close(cs_exec_times(b.x, 0).end - cs_exec_times(b.x, 0).begin,
                 cs_cost_kernel(&c, 0, 4 * stage0), 1e-12);
    cs_cost_free(&c);
    done(&b);
    build(&b, ", untie_embeddings_and_output_weights: true", "clip_grad: 0",
          "{ tp: 2, pp: 2, dp: 2 }", 0);
    ck_assert_int_eq(count(&b, 0, CS_OP_DP, tied), 0);
    ck_assert_int_eq(count(&b, 0, CS_OP_DP, 4), 0);
    done(&b);
    build(&b, "", "precision: fp16", "{ tp: 2, pp: 1, dp: 4 }", 0);
    ck_assert_int_eq(count(&b, 0, CS_OP_DP, tied), 0); /* pp 1: nothing to tie across */
    ck_assert_int_eq(count(&b, 0, CS_OP_DP, 4), 2);
    done(&b);
    /* The gradients' reduction: one bucket (no overlap) of every parameter
     * of a GPU, 4 bytes each, or 2 for fp16. */
    double params =
        (4 * (12.0 * 1024 * 1024 + 4 * 1024) + 32000.0 * 1024 + 1024.0 * 1024 + 2 * 1024) / 2;
    for (int fp16 = 0; fp16 < 2; fp16++) {
        build(&b, "", fp16 ? "precision: fp16" : "precision: bf16", "{ tp: 2, pp: 1, dp: 4 }", 0);
        ck_assert_int_eq(count(&b, 0, CS_OP_DP, (fp16 ? 2 : 4) * params), 1);
        done(&b);
    }
}
END_TEST

/* Pipeline transfers carry [s, b, h] whole, [s/t, b, h] with sequence
 * parallelism, or 1/t and a TP all-gather with scatter-gather. */
START_TEST(pipeline_transfer_bytes)
{
    built b;
    double act = 2.0 * 1024 * 1024;
    const char *cases[] = {"", "sequence_parallel: true",
                           "scatter_gather_tensors_in_pipeline: true"};
    double want[] = {act, act / 2, act / 2};
    for (int i = 0; i < 3; i++) {
        build(&b, "", cases[i], "{ tp: 2, pp: 2, dp: 2 }", 1);
        long m = b.z.microbatches;
        /* GPU 0 sends m activations forward and receives m gradients. */
        ck_assert_int_eq(count(&b, 0, CS_OP_PP, want[i]), 2 * m);
        int gathers = count(&b, 0, CS_OP_PP, act);
        ck_assert_int_eq(gathers, i == 2 ? m : i == 0 ? 2 * m : 0);
        done(&b);
    }
}
END_TEST

/* Batched p2p: the sender's next pass waits for its send (a gate); the
 * interleaved schedule's overlapped p2p does not. */
START_TEST(batched_p2p_waits_for_the_send)
{
    /* 1F1B; interleaved with sequence parallelism and overlap_p2p_comm off
     * (a backward pass there begins with an async TP gather, which must not
     * take the wait); interleaved with overlap_p2p_comm (Megatron's default). */
    const char *cases[] = {
        "schedule: 1f1b",
        "schedule: interleaved, virtual_pipeline_stages: 2, sequence_parallel: true, "
        "overlap_p2p_comm: false",
        "schedule: interleaved, virtual_pipeline_stages: 2"};
    const char *layouts[] = {"{ tp: 1, pp: 2, dp: 4 }", "{ tp: 2, pp: 2, dp: 2 }",
                             "{ tp: 1, pp: 2, dp: 4 }"};
    for (int i = 0; i < 3; i++) {
        built b;
        build(&b, "", cases[i], layouts[i], 0);
        int gated = 0, sends = 0, on_collectives = 0;
        for (long id = 0; id < b.w.count; id++) {
            const cs_op_info *o = &b.w.info[id];
            int stream = cs_exec_stream(b.x, id);
            sends += o->klass == CS_OP_PP &&
                     (stream == CS_STREAM_SEND_NEXT || stream == CS_STREAM_SEND_PREV);
            for (int g = 0; g < o->ngate; g++) {
                long on = o->gate[g];
                int s = cs_exec_stream(b.x, on);
                int send = b.w.info[on].klass == CS_OP_PP &&
                           (s == CS_STREAM_SEND_NEXT || s == CS_STREAM_SEND_PREV);
                if (send && o->klass <= CS_OP_RECOMPUTE)
                    gated++;
                else if (send)
                    on_collectives++;
            }
        }
        ck_assert_int_eq(on_collectives, 0);
        if (i == 2) {
            ck_assert_int_eq(gated, 0);
        } else {
            /* Every send but each stage's last per direction holds a compute op. */
            ck_assert_int_gt(sends, 0);
            ck_assert_int_ge(gated, sends - 2 * (int)b.z.world);
        }
        done(&b);
    }
}
END_TEST

/* With overlap_grad_reduce each bucket waits for the wgrads of what it
 * holds: the embedding's bucket (the last) for the embedding's, the output
 * layer's (the first) for the output layer's, not only for its layers'. */
START_TEST(buckets_wait_for_the_embedding_and_output_wgrads)
{
    /* 50 M parameters per layer: a bucket each (40 M); an ideal network, so
     * that a bucket starts the moment it may. */
    built b;
    build_net(&b,
              "{ name: b, num_layers: 4, hidden_size: 2048, num_attention_heads: 16, "
              "ffn_hidden_size: 8192, vocab_size: 32000, "
              "untie_embeddings_and_output_weights: true }",
              "overlap_grad_reduce: true, distributed_optimizer: true", "{ tp: 1, pp: 1, dp: 8 }",
              1, CS_NET_IDEAL);
    double emb_end = -1, out_end = -1, step = -1;
    for (long id = 0; id < b.w.count; id++) {
        const cs_op_info *o = &b.w.info[id];
        cs_op_times t = cs_exec_times(b.x, id);
        if (cs_exec_gpu(b.x, id) != 0)
            continue;
        if (o->klass == CS_OP_BACKWARD_WEIGHT && o->layer == -1) {
            /* Last micro-batch's: the output layer's comes first in
             * backward, the embedding's last. */
            if (o->mb == (int32_t)b.z.microbatches - 1 && out_end < 0)
                out_end = t.end;
            if (o->mb == (int32_t)b.z.microbatches - 1)
                emb_end = t.end;
        }
        if (o->klass == CS_OP_OPTIMIZER && t.begin > 0)
            step = t.begin;
    }
    /* The gradient reductions: the DP reduce-scatters before the step. */
    double first = -1, last = -1;
    int reduces = 0;
    for (long id = 0; id < b.w.count; id++) {
        cs_op_times t = cs_exec_times(b.x, id);
        if (cs_exec_gpu(b.x, id) != 0 || b.w.info[id].klass != CS_OP_DP || b.w.info[id].work <= 4 ||
            t.begin > step)
            continue;
        if (first < 0 || t.begin < first)
            first = t.begin;
        if (t.begin > last)
            last = t.begin;
        reduces++;
    }
    ck_assert_int_ge(reduces, 4);
    ck_assert_msg(first >= out_end, "first bucket at %g, output wgrad ends %g", first, out_end);
    ck_assert_msg(last >= emb_end, "last bucket at %g, embedding wgrad ends %g", last, emb_end);
    done(&b);
}
END_TEST

/* Megatron's async TP communication: the input gradient's all-reduce runs
 * while the weight-gradient GEMMs run. */
START_TEST(dgrad_reduction_overlaps_wgrads)
{
    built b;
    build(&b, "", "", "{ tp: 2, pp: 1, dp: 4 }", 1);
    int overlapping = 0;
    for (long id = 0; id < b.w.count; id++) {
        if (cs_exec_gpu(b.x, id) != 0 || b.w.info[id].klass != CS_OP_TP)
            continue;
        cs_op_times c = cs_exec_times(b.x, id);
        for (long j = 0; j < b.w.count; j++)
            if (cs_exec_gpu(b.x, j) == 0 && b.w.info[j].klass == CS_OP_BACKWARD_WEIGHT) {
                cs_op_times w = cs_exec_times(b.x, j);
                overlapping += w.begin < c.end && c.begin < w.end;
            }
    }
    /* One all-reduce per block per micro-batch (and the output layer's). */
    ck_assert_int_ge(overlapping, (int)b.z.microbatches * 4 * 2);
    done(&b);
}
END_TEST

/* Selective recompute's second core-attention forward is booked as
 * recompute: m micro-batches x 4 layers x that slot's time. */
START_TEST(selective_recompute_is_booked_as_recompute)
{
    for (int i = 0; i < 2; i++) {
        cs_scenario s;
        cs_layout_sizes z;
        cs_diags d;
        cs_diags_init(&d);
        char yaml[1024], model[512];
        snprintf(model, sizeof model, SMALL, "");
        snprintf(yaml, sizeof yaml,
                 "model: %s\ncluster: { base: dgx-h100, nodes: 1 }\n"
                 "training: { seq_length: 1024, global_batch_size: 16, recompute: %s, "
                 "attention_backend: local }\nnetwork_model: analytic\n"
                 "layouts:\n  - { tp: 1, pp: 1, dp: 8 }\n",
                 model, i ? "selective" : "none");
        ck_assert_int_eq(tu_load_scenario(yaml, &s, &d), 0);
        ck_assert_int_eq(cs_layout_check(&s, &s.layouts[0], &z, &d), 0);
        cs_diags_free(&d);
        cs_replay_result r;
        ck_assert_int_eq(cs_replay(&s, &s.layouts[0], &z, CS_NET_ANALYTIC, 1, &r), 0);
        cs_shape sh;
        cs_shape_init(&sh, &s.model, &s.training, &z);
        cs_kernel_opts o = {&s.training, z.recompute, z.attention, 1, 0, 0};
        cs_kernel_list l;
        cs_kernels_attention(&sh, &o, &l);
        cs_cost c;
        ck_assert_int_eq(cs_cost_init(&c, &s.cluster.gpu, s.training.precision), 0);
        double slot = cs_cost_slot(&c, &l, CS_SLOT_RECOMPUTE);
        cs_cost_free(&c);
        if (i)
            assert_close(r.compute_s[CS_OP_RECOMPUTE], (double)z.microbatches * 4 * slot, 1e-9);
        else
            ck_assert(r.compute_s[CS_OP_RECOMPUTE] == 0 && slot == 0);
        cs_replay_result_free(&r);
        cs_scenario_free(&s);
    }
}
END_TEST

/* Userbuffers (tp_comm_overlap) hide TP time that the plain schedule shows,
 * most of it where the GEMMs outlast the collectives (h 4096 over TP8). */
START_TEST(tp_comm_overlap_hides_tp_time)
{
    double exposed[2];
    for (int ov = 0; ov < 2; ov++) {
        cs_scenario s;
        cs_layout_sizes z;
        cs_diags d;
        cs_diags_init(&d);
        char yaml[1024];
        snprintf(yaml, sizeof yaml,
                 "model: { name: w, num_layers: 2, hidden_size: 4096, num_attention_heads: 32, "
                 "ffn_hidden_size: 16384, vocab_size: 0 }\n"
                 "cluster: { base: dgx-h100, nodes: 1 }\n"
                 "training: { seq_length: 4096, global_batch_size: 2, sequence_parallel: true, "
                 "tp_comm_overlap: %s }\nnetwork_model: flow\n"
                 "layouts:\n  - { tp: 8, pp: 1, dp: 1 }\n",
                 ov ? "true" : "false");
        ck_assert_int_eq(tu_load_scenario(yaml, &s, &d), 0);
        ck_assert_int_eq(cs_layout_check(&s, &s.layouts[0], &z, &d), 0);
        cs_diags_free(&d);
        cs_replay_result r;
        ck_assert_int_eq(cs_replay(&s, &s.layouts[0], &z, CS_NET_FLOW, 1, &r), 0);
        exposed[ov] = r.time_s[CS_TIME_TP];
        cs_replay_result_free(&r);
        cs_scenario_free(&s);
    }
    ck_assert_msg(exposed[1] < 0.5 * exposed[0], "exposed TP %g with userbuffers, %g without",
                  exposed[1], exposed[0]);
}
END_TEST

/* FP8 communication: with fp8_param_gather the distributed optimizer's
 * all-gather moves the FP8 weights (12h^2 per layer of SMALL, over tp 2) at
 * 1 byte instead of 2; delayed scaling all-reduces its amaxes over the stage
 * (8 GPUs) after each micro-batch's forward (3 per GEMM, 4 GEMMs per layer, 4
 * layers, 4 bytes: 192) and backward (2 per GEMM: 128); with sequence
 * parallelism the blocks' inputs are gathered in FP8 (T h bytes, not 2 T h). */
START_TEST(fp8_communication)
{
    built b;
    double T = 1024, h = 1024;
    double params = (4 * (12 * h * h + 4 * h) + 32000 * h + 1024 * h + 2 * h) / 2;
    double fp8 = 4 * 12 * h * h / 2;
    build(&b, "", "precision: fp8, distributed_optimizer: true", "{ tp: 2, pp: 1, dp: 4 }", 0);
    ck_assert_int_eq(count(&b, 0, CS_OP_DP, 2 * params), 1);
    long m = b.z.microbatches;
    ck_assert_int_eq(count(&b, 0, CS_OP_TP, 192), m);
    ck_assert_int_eq(count(&b, 0, CS_OP_TP, 128), m);
    done(&b);
    build(&b, "", "precision: fp8, distributed_optimizer: true, fp8_param_gather: true",
          "{ tp: 2, pp: 1, dp: 4 }", 0);
    ck_assert_int_eq(count(&b, 0, CS_OP_DP, 2 * params - fp8), 1);
    ck_assert_int_eq(count(&b, 0, CS_OP_DP, 2 * params), 0);
    done(&b);
    /* Current scaling reduces nothing. */
    build(&b, "", "precision: fp8, fp8_recipe: tensorwise", "{ tp: 2, pp: 1, dp: 4 }", 0);
    ck_assert_int_eq(count(&b, 0, CS_OP_TP, 192), 0);
    ck_assert_int_eq(count(&b, 0, CS_OP_TP, 128), 0);
    done(&b);
    /* Per block: 3 collectives of 2 T h (RS forward, AG of the gradient and RS
     * of the input gradient backward) and 2 of T h (the FP8 input's AG
     * forward and again for the wgrads). */
    build(&b, "", "precision: fp8, sequence_parallel: true", "{ tp: 2, pp: 1, dp: 4 }", 0);
    m = b.z.microbatches;
    ck_assert_int_eq(count(&b, 0, CS_OP_TP, 2 * T * h), m * (1 + 4 * 2 * 3 + 3 + 1));
    ck_assert_int_eq(count(&b, 0, CS_OP_TP, T * h), m * 4 * 2 * 2);
    done(&b);
}
END_TEST

/* Compute seconds and FLOPs of GPU 0's ops of one layer and micro-batch. */
static void layer_compute(const built *b, long layer, long mb, double *seconds, double *flops)
{
    *seconds = *flops = 0;
    for (long id = 0; id < b->w.count; id++) {
        const cs_op_info *o = &b->w.info[id];
        if (cs_exec_gpu(b->x, id) != 0 || o->layer != layer || o->mb != mb ||
            o->klass > CS_OP_RECOMPUTE)
            continue;
        cs_op_times t = cs_exec_times(b->x, id);
        *seconds += t.end - t.begin;
        *flops += o->work;
    }
}

/* first_last_layers_bf16: layers 0 and 3 of 4 run as in a BF16 run (same
 * ops, same seconds), layer 1 in FP8. Micro-batch 1: micro-batch
 * 0 also quantizes the FP8 weights. Without a host, whose pace (behind on
 * the FP8 layer's extra casts) would stretch the ops after it. */
START_TEST(first_last_layers_run_bf16)
{
    built b16, b8;
    char model[512];
    snprintf(model, sizeof model, SMALL, "");
    const char *cluster = "{ base: dgx-h100, nodes: 1, host: { launch_overhead: 0 s, "
                          "op_overhead: 0 s, collective_overhead: 0 s } }";
    build_on(&b16, cluster, model, "precision: bf16", "{ tp: 2, pp: 1, dp: 4 }", 1,
             CS_NET_ANALYTIC);
    build_on(&b8, cluster, model,
             "precision: fp8, fp8_recipe: tensorwise, first_last_layers_bf16: true",
             "{ tp: 2, pp: 1, dp: 4 }", 1, CS_NET_ANALYTIC);
    double s16, f16, s8, f8;
    for (long layer = 0; layer < 4; layer += 3) {
        layer_compute(&b16, layer, 1, &s16, &f16);
        layer_compute(&b8, layer, 1, &s8, &f8);
        ck_assert(s16 > 0 && f16 > 0);
        assert_close(s8, s16, 1e-12);
        ck_assert(f8 == f16);
    }
    layer_compute(&b16, 1, 1, &s16, &f16);
    layer_compute(&b8, 1, 1, &s8, &f8);
    ck_assert(f8 == f16);
    /* Layer 1 is priced otherwise (FP8 GEMMs and their casts; which wins
     * depends on the GPU's tables, not asserted here). */
    ck_assert_msg(fabs(s8 - s16) > 1e-9 * s16, "FP8 layer %g s, BF16 %g s", s8, s16);
    done(&b16);
    done(&b8);
}
END_TEST

/* Launches of every slot of a kernel list. */
static double launches(const cs_kernel_list *l)
{
    double n = 0;
    for (int s = 0; s < CS_SLOTS; s++)
        n += cs_kernels_launches(l, (cs_kernel_slot)s);
    return n;
}

/* Iteration time of a run on one node whose host takes `launch` seconds
 * per kernel (and as much per collective); 8-way data parallel without
 * gradient reduction by default. */
/* Host ops of every slot of a kernel list. */
static double host_ops(const cs_kernel_list *l)
{
    double n = 0;
    for (int s = 0; s < CS_SLOTS; s++)
        n += cs_kernels_host_ops(l, (cs_kernel_slot)s);
    return n;
}

/* What `tally` (launches, host_ops) counts of one iteration's kernel lists
 * on a 4-layer dense run: embedding, 4 layers, output and loss, forward and
 * backward, per micro-batch. */
static double per_iteration(const built *b, double (*tally)(const cs_kernel_list *))
{
    cs_shape sh;
    cs_shape_init(&sh, &b->s.model, &b->s.training, &b->z);
    double n = 0;
    for (int bw = 0; bw < 2; bw++) {
        cs_kernel_opts o = {&b->s.training, b->z.recompute, b->z.attention, bw, 0, 0};
        cs_kernel_list l;
        cs_kernels_attention(&sh, &o, &l);
        n += 4 * tally(&l);
        cs_kernels_mlp(&sh, &o, sh.T, sh.ffn, sh.t, 1, 1, &l);
        n += 4 * tally(&l);
        cs_kernels_output(&sh, &o, &l);
        n += tally(&l);
        cs_kernels_embedding(&sh, &o, &b->s.model, &l);
        n += tally(&l);
    }
    return n * (double)b->z.microbatches;
}

/* The same with `op` seconds per framework op that launches no kernel. */
static double host_run_ops(const char *model, const char *training, const char *layout,
                           double launch, double op, built *b)
{
    char cluster[256];
    snprintf(cluster, sizeof cluster,
             "{ base: dgx-h100, nodes: 1, host: { launch_overhead: %g s, op_overhead: %g s, "
             "collective_overhead: %g s } }",
             launch, op, launch);
    build_on(b, cluster, model, training, layout, 1, CS_NET_ANALYTIC);
    return cs_exec_makespan(b->x);
}

static double host_run_on(const char *model, const char *training, const char *layout,
                          double launch, built *b)
{
    return host_run_ops(model, training, layout, launch, 0, b);
}

static double host_run(const char *model, const char *training, double launch, built *b)
{
    return host_run_on(model, training, "{ tp: 1, pp: 1, dp: 8 }", launch, b);
}

/* A host far slower than the GPU paces the iteration by its launches: one
 * more millisecond per launch adds exactly that many milliseconds, as many
 * as the kernel lists launch (embedding, 4 layers, output and loss, forward
 * and backward, per micro-batch). */
START_TEST(host_bound_iteration_counts_launches)
{
    char model[512];
    snprintf(model, sizeof model, SMALL, "");
    const char *training = "micro_batch_size: 1, optimizer: none";
    built b1, b2;
    double t1 = host_run(model, training, 1e-3, &b1), t2 = host_run(model, training, 2e-3, &b2);
    double n = per_iteration(&b1, launches);
    ck_assert(n > 50 * 2);
    assert_close((t2 - t1) / 1e-3, n, 1e-9);
    done(&b1);
    done(&b2);
}
END_TEST

/* The same for the framework's other ops: with the host far behind, one
 * more millisecond per op adds as many milliseconds as the kernel lists
 * count ops, and a host without them is the launches' alone. */
START_TEST(host_bound_iteration_counts_ops)
{
    char model[512];
    snprintf(model, sizeof model, SMALL, "");
    const char *training = "micro_batch_size: 1, optimizer: none";
    const char *layout = "{ tp: 1, pp: 1, dp: 8 }";
    built b0, b1, b2;
    double t0 = host_run_ops(model, training, layout, 1e-3, 0, &b0);
    double t1 = host_run_ops(model, training, layout, 1e-3, 1e-3, &b1);
    double t2 = host_run_ops(model, training, layout, 1e-3, 2e-3, &b2);
    double n = per_iteration(&b1, host_ops);
    /* per layer and micro-batch: the attention's LayerNormLinear, split,
     * DotProductAttention, Linear and BDA, the MLP's two linears */
    ck_assert(n > 4 * 100 * (double)b1.z.microbatches);
    assert_close((t2 - t1) / 1e-3, n, 1e-9);
    assert_close((t1 - t0) / 1e-3, n, 1e-9);
    done(&b0);
    done(&b1);
    done(&b2);
}
END_TEST

/* The empty ops opening a pass for Megatron's torch.cuda.synchronize()
 * after a batched p2p: per GPU (gpu_count entries, zeroed by the caller),
 * and checks that each is gated by what it waits for and that the GPU's
 * next op starts no sooner than `launch` after it (the host's first launch
 * once its wait is over). */
static long p2p_syncs(const built *b, double launch, long *per_gpu)
{
    long n = 0;
    for (long id = 0; id < b->w.count; id++) {
        const cs_op_info *o = &b->w.info[id];
        cs_op_times t = cs_exec_times(b->x, id);
        if (cs_exec_is_collective(b->x, id) || o->layer != -1 || o->work != 0 ||
            t.end != t.begin || (o->klass != CS_OP_FORWARD && o->klass != CS_OP_BACKWARD_INPUT))
            continue;
        long gpu = cs_exec_gpu(b->x, id);
        per_gpu[gpu]++;
        n++;
        for (int g = 0; g < o->ngate; g++)
            ck_assert(cs_exec_times(b->x, o->gate[g]).end <= t.begin);
        for (long next = id + 1; next < b->w.count; next++)
            if (!cs_exec_is_collective(b->x, next) && cs_exec_gpu(b->x, next) == gpu &&
                cs_exec_stream(b->x, next) == CS_STREAM_COMPUTE) {
                ck_assert(cs_exec_times(b->x, next).begin >= t.end + launch * (1 - 1e-9));
                break;
            }
    }
    return n;
}

/* Megatron's batched p2p ends in torch.cuda.synchronize() (batch_p2p_sync):
 * on a 2-stage 1F1B of 2 micro-batches the host waits before F1, B0 and B1
 * on stage 0 (F0 sent; B0 and B1 receive) and before F0 and F1 on stage 1
 * (they receive; its B passes send but follow F passes of the last stage,
 * which send nothing): 3 and 2 waits per GPU. None with the interleaved
 * schedule's overlap_p2p_comm (Megatron's default there), nor without a
 * host. */
START_TEST(batched_p2p_synchronizes_the_host)
{
    char model[512];
    snprintf(model, sizeof model, SMALL, "");
    const char *layout = "{ tp: 1, pp: 2, dp: 4 }";
    const char *cases[] = {"micro_batch_size: 2, optimizer: none",
                           "micro_batch_size: 2, optimizer: none, schedule: interleaved, "
                           "virtual_pipeline_stages: 2"};
    const double launch = 1e-6;
    for (int c = 0; c < 3; c++) {
        built b;
        host_run_ops(model, cases[c == 1], layout, c == 2 ? 0 : launch, 0, &b);
        ck_assert_int_eq(b.z.microbatches, 2);
        long per_gpu[8] = {0};
        long n = p2p_syncs(&b, c == 2 ? 0 : launch, per_gpu);
        if (c == 0) {
            ck_assert_int_eq(n, 4 * 3 + 4 * 2);
            for (long g = 0; g < 8; g++) /* stage 0 holds GPUs 0-3 */
                ck_assert_int_eq(per_gpu[g], g < 4 ? 3 : 2);
        } else {
            ck_assert_int_eq(n, 0);
        }
        done(&b);
    }
}
END_TEST

/* A host faster than the GPU delays a dense run by its first launch only;
 * a MoE dispatcher's wait costs the GPU the host's time to issue what
 * follows it unless work queued before the wait covers it. */
START_TEST(host_ahead_of_the_gpu_costs_little)
{
    char model[512];
    snprintf(model, sizeof model, SMALL, "");
    const char *training = "micro_batch_size: 1, optimizer: none";
    built off, on;
    double t0 = host_run(model, training, 0, &off), t1 = host_run(model, training, 1e-6, &on);
    assert_close(t1 - t0, 1e-6, 1e-6); /* the first launch */
    done(&off);
    done(&on);

    snprintf(model, sizeof model, SMALL,
             ", moe: { num_experts: 8, router_topk: 2, ffn_hidden_size: 1024 }");
    const char *ep = "{ tp: 1, pp: 1, ep: 8, dp: 1 }";
    /* allgather waits right after its gather, with nothing queued: the GPU
     * idles for the first launch after it, once per layer and micro-batch
     * (4 x 2), besides the iteration's first. */
    const char *ag = "micro_batch_size: 1, optimizer: none, moe_token_dispatcher_type: allgather";
    t0 = host_run_on(model, ag, ep, 0, &off);
    t1 = host_run_on(model, ag, ep, 1e-6, &on);
    ck_assert_int_eq(on.z.microbatches, 2);
    assert_close(t1 - t0, (1 + 4 * 2) * 1e-6, 1e-6);
    done(&off);
    done(&on);
    /* alltoall with the fused permute waits for the router's counts after
     * issuing the permute, which runs meanwhile and hides the host's next
     * launch. */
    const char *a2a = "micro_batch_size: 1, optimizer: none, moe_token_dispatcher_type: alltoall, "
                      "moe_permute_fusion: true";
    t0 = host_run_on(model, a2a, ep, 0, &off);
    t1 = host_run_on(model, a2a, ep, 1e-6, &on);
    assert_close(t1 - t0, 1e-6, 1e-6);
    done(&off);
    done(&on);
    /* The grouped experts' fused quick-GeGLU waits for fc1 (its offset made
     * a device tensor): one launch more per layer and micro-batch than the
     * same layer with SwiGLU (the same kernels, bytes and launches). */
    {
        char q[512], w[512];
        snprintf(q, sizeof q, SMALL,
                 ", quick_geglu: true, moe: { num_experts: 8, router_topk: 2, ffn_hidden_size: "
                 "1024 }");
        snprintf(w, sizeof w, SMALL,
                 ", swiglu: true, moe: { num_experts: 8, router_topk: 2, ffn_hidden_size: 1024 }");
        const char *g = "micro_batch_size: 1, optimizer: none, moe_token_dispatcher_type: alltoall, "
                        "moe_permute_fusion: true, moe_grouped_gemm: true";
        built bq, bw;
        double tq = host_run_on(q, g, ep, 1e-6, &bq), tw = host_run_on(w, g, ep, 1e-6, &bw);
        assert_close(tq - tw, 4 * 2 * 1e-6, 1e-6);
        done(&bq);
        done(&bw);
        /* moe_act recompute reruns the activation in the backward, and its
         * wait with it: one launch more per layer and micro-batch again. */
        char gr[512];
        snprintf(gr, sizeof gr, "%s, recompute: selective, recompute_modules: [moe_act]", g);
        tq = host_run_on(q, gr, ep, 1e-6, &bq);
        tw = host_run_on(w, gr, ep, 1e-6, &bw);
        assert_close(tq - tw, 2 * 4 * 2 * 1e-6, 1e-6);
        done(&bq);
        done(&bw);
    }
    /* Unfused, the permute's masked_select waits before the permute: the
     * GPU idles for its first launch, as allgather's. */
    a2a = "micro_batch_size: 1, optimizer: none, moe_token_dispatcher_type: alltoall";
    t0 = host_run_on(model, a2a, ep, 0, &off);
    t1 = host_run_on(model, a2a, ep, 1e-6, &on);
    assert_close(t1 - t0, (1 + 4 * 2) * 1e-6, 1e-6);
    done(&off);
    done(&on);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("workload");
    TCase *t = tcase_create("ops");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, loss_and_embedding_tp_communication);
    tcase_add_test(t, per_iteration_all_reduces);
    tcase_add_test(t, host_bound_iteration_counts_launches);
    tcase_add_test(t, host_bound_iteration_counts_ops);
    tcase_add_test(t, host_ahead_of_the_gpu_costs_little);
    tcase_add_test(t, batched_p2p_synchronizes_the_host);
    tcase_add_test(t, folded_expert_groups_span_tp_ranks);
    tcase_add_test(t, uneven_pipeline_stages_hold_their_layers);
    tcase_add_test(t, mtp_layers_on_the_last_stage);
    tcase_add_test(t, stage_without_layers_reduces_its_embedding);
    tcase_add_test(t, flex_with_expert_tp_exchanges_over_tp_ep);
    tcase_add_test(t, pipeline_transfer_bytes);
    tcase_add_test(t, batched_p2p_waits_for_the_send);
    tcase_add_test(t, buckets_wait_for_the_embedding_and_output_wgrads);
    tcase_add_test(t, dgrad_reduction_overlaps_wgrads);
    tcase_add_test(t, selective_recompute_is_booked_as_recompute);
    tcase_add_test(t, tp_comm_overlap_hides_tp_time);
    tcase_add_test(t, fp8_communication);
    tcase_add_test(t, first_last_layers_run_bf16);
    suite_add_tcase(s, t);
    return tu_main(s);
}
