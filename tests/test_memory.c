/* Analytic memory: Korthikanti et al. 2022 Table 2 and Megatron-LM's
 * bytes-per-parameter rule, worked by hand. */
#include <math.h>
#include <stdio.h>

#include "model/memory.h"
#include "testutil.h"

/* A GPT-shaped dense model (ffn = 4h, no GQA) on one 8-GPU node. */
static const char *gpt_model =
    "{ name: g, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
    "ffn_hidden_size: 4096, vocab_size: 32000, untie_embeddings_and_output_weights: true }";

static void load(const char *model, int nodes, const char *training, const char *layout,
                 cs_scenario *s, cs_layout_sizes *z)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "model: %s\n"
             "cluster: { base: cluster-512-64gb, nodes: %d, gpu: { fp8: true } }\n"
             "training: { seq_length: 2048, %s }\n"
             "layouts:\n  - %s\n",
             model, nodes, training, layout);
    cs_diags d;
    cs_diags_init(&d);
    int rc = tu_load_scenario(yaml, s, &d);
    if (rc == 0)
        rc = cs_layout_check(s, &s->layouts[0], z, &d);
    cs_diags_print(&d, stderr);
    ck_assert_int_eq(rc, 0);
    cs_diags_free(&d);
}

static double layer_bytes(const char *training)
{
    cs_scenario s;
    cs_layout_sizes z;
    char body[256];
    snprintf(body, sizeof body, "global_batch_size: 64, %s", training);
    /* body has room: the longest caller's text is under 200 characters */
    load(gpt_model, 1, body, "{ tp: 4, pp: 1, dp: 2 }", &s, &z);
    double v = cs_memory_layer_activations(&s.model, &s.training, &z, 0);
    cs_scenario_free(&s);
    return v;
}

/* s = 2048, b = 1, h = 1024, a = 16, t = 4: sbh = 2^21, 5as/h = 160. With
 * Megatron's own (local) attention, as in the paper. */
START_TEST(korthikanti_table_2)
{
    double sbh = 2048.0 * 1024.0;
    /* Tensor parallel: sbh(10 + 24/t + 5as/(ht)). */
    ck_assert(layer_bytes("attention_backend: local") == sbh * (10 + 24.0 / 4 + 160.0 / 4));
    /* Tensor + sequence parallel: sbh/t (34 + 5as/h). */
    ck_assert(layer_bytes("attention_backend: local, sequence_parallel: true") ==
              sbh / 4 * (34 + 160));
    /* Selective recompute: sbh(10 + 24/t), and 34 sbh/t with SP. */
    ck_assert(layer_bytes("attention_backend: local, recompute: selective") ==
              sbh * (10 + 24.0 / 4));
    ck_assert(layer_bytes("attention_backend: local, recompute: selective, "
                          "sequence_parallel: true") == 34 * sbh / 4);
    /* Full recompute keeps the layer input: 2sbh (/t with SP). */
    ck_assert(layer_bytes("recompute: full") == 2 * sbh);
    ck_assert(layer_bytes("recompute: full, sequence_parallel: true") == 2 * sbh / 4);
}
END_TEST

/* The s x s term follows the backend: FlashAttention and cuDNN keep none,
 * only a 4-byte log-sum-exp per head and token (4 a s b / t); torch's fp32
 * softmax keeps 4-byte probabilities (7 a s^2 b with the dropout's mask and
 * output); no dropout keeps the probabilities alone (2 a s^2 b) and drops
 * the two 1-byte masks of the bias-dropout-adds (10 -> 8). */
START_TEST(scores_follow_the_backend)
{
    double sbh = 2048.0 * 1024.0, s2 = 16.0 * 2048 * 2048 / 4, lse = 4.0 * 16 * 2048 / 4;
    const char *flashes[] = {"attention_backend: flash", "attention_backend: fused",
                             "use_flash_attn: true"};
    for (int i = 0; i < 3; i++)
        ck_assert(layer_bytes(flashes[i]) == sbh * (10 + 24.0 / 4) + lse);
    ck_assert(layer_bytes("attention_backend: unfused") == sbh * (10 + 24.0 / 4) + 5 * s2);
    ck_assert(layer_bytes("attention_backend: local, masked_softmax_fusion: false, "
                          "attention_softmax_in_fp32: true") ==
              sbh * (10 + 24.0 / 4) + 7 * s2);
    ck_assert(layer_bytes("attention_backend: local, masked_softmax_fusion: false") ==
              sbh * (10 + 24.0 / 4) + 5 * s2);
    ck_assert(layer_bytes("attention_backend: local, hidden_dropout: 0, attention_dropout: 0") ==
              sbh * (8 + 24.0 / 4) + 2 * s2);
    /* Selective recompute drops the scores whatever keeps them. */
    ck_assert(layer_bytes("attention_backend: unfused, recompute: selective") ==
              sbh * (10 + 24.0 / 4));
}
END_TEST

/* With ffn != 4h the 34 becomes 18 + 4 ffn/h (Megatron's formula). */
START_TEST(ffn_width_generalisation)
{
    cs_scenario s;
    cs_layout_sizes z;
    load("{ name: n, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
         "ffn_hidden_size: 2816, vocab_size: 0 }",
         1,
         "global_batch_size: 64, recompute: selective, sequence_parallel: true, "
         "attention_backend: local",
         "{ tp: 2, pp: 1, dp: 4 }", &s, &z);
    double sbh = 2048.0 * 1024.0;
    ck_assert(cs_memory_layer_activations(&s.model, &s.training, &z, 0) ==
              sbh / 2 * (18 + 4 * 2816.0 / 1024));
    cs_scenario_free(&s);
}
END_TEST

/* Megatron: 18 bytes per parameter, or 6 + 12/d with the distributed optimizer.
 * Stage 0 of tp 2, pp 2: two layers of 12h^2 + 4h (LayerNorm weight and bias)
 * and the 32000 x 1024 input embedding, split over tp. */
START_TEST(static_memory_megatron_rule)
{
    double h = 1024, layer = 12 * h * h + 4 * h;
    double stage0 = (2 * layer + 32000 * h) / 2;
    double stage1 = (2 * layer + 2 * h + 32000 * h) / 2; /* final norm + output layer */
    cs_scenario s;
    cs_layout_sizes z;
    cs_memory_breakdown b;
    load(gpt_model, 1, "global_batch_size: 64, distributed_optimizer: false", "{ tp: 2, pp: 2, dp: 2 }", &s, &z);
    cs_memory_stage(&s, &z, 0, &b);
    ck_assert(b.weights + b.gradients + b.optimizer == 18 * stage0);
    cs_memory_stage(&s, &z, 1, &b);
    ck_assert(b.weights + b.gradients + b.optimizer == 18 * stage1);
    cs_scenario_free(&s);

    load(gpt_model, 1, "global_batch_size: 64, distributed_optimizer: true", "{ tp: 2, pp: 2, dp: 2 }", &s, &z);
    cs_memory_stage(&s, &z, 0, &b);
    ck_assert(b.weights == 2 * stage0);
    ck_assert(b.gradients == 4 * stage0);
    ck_assert(b.optimizer == 12 * stage0 / 2);
    ck_assert(b.weights + b.gradients + b.optimizer == (6 + 12.0 / 2) * stage0);
    ck_assert(b.reserved == 3e9);
    cs_scenario_free(&s);
}
END_TEST

/* fp16 runs keep and reduce 16-bit gradients unless
 * accumulate_allreduce_grads_in_fp32 (Megatron's defaults). */
START_TEST(gradient_bytes_follow_precision)
{
    double h = 1024, layer = 12 * h * h + 4 * h, stage0 = (2 * layer + 32000 * h) / 2;
    const char *cases[] = {"precision: bf16", "precision: fp16",
                           "precision: fp16, accumulate_allreduce_grads_in_fp32: true",
                           "precision: bf16, accumulate_allreduce_grads_in_fp32: false"};
    double want[] = {4, 2, 4, 2};
    for (int i = 0; i < 4; i++) {
        cs_scenario s;
        cs_layout_sizes z;
        cs_memory_breakdown b;
        char training[256];
        snprintf(training, sizeof training, "global_batch_size: 64, %s", cases[i]);
        load(gpt_model, 1, training, "{ tp: 2, pp: 2, dp: 2 }", &s, &z);
        cs_memory_stage(&s, &z, 0, &b);
        ck_assert_msg(b.gradients == want[i] * stage0, "%s: %g", cases[i], b.gradients);
        cs_scenario_free(&s);
    }
}
END_TEST

/* The seed's Option 1: experts divided by ep x etp = 32, their optimizer state
 * by the expert DP 4; the dense part by tp 4 and its optimizer by ep x dp = 32. */
START_TEST(moe_static_memory_option1)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_memory_breakdown b;
    load("moe-30b", 64,
         "distributed_optimizer: true, sequence_parallel: true, global_batch_size: 128",
         "{ tp: 4, pp: 4, ep: 8, dp: 4 }", &s, &z);
    double h = 1024;
    double dense = (4 * (4 * h * h + 4 * h + 64 * h) + 32000 * h) / 4;
    double experts = 4 * 64 * (2 * h * 14336) / 32;
    cs_memory_stage(&s, &z, 0, &b);
    ck_assert(b.weights == 2 * (dense + experts));
    ck_assert(b.optimizer == 12 * (dense / 32 + experts / 4));
    cs_scenario_free(&s);
}
END_TEST

START_TEST(inflight_by_schedule)
{
    /* GPipe holds all m; 1F1B p - i, capped by m. */
    ck_assert(cs_memory_inflight(CS_GPIPE, 4, 1, 8, 0) == 8);
    ck_assert(cs_memory_inflight(CS_1F1B, 4, 1, 8, 0) == 4);
    ck_assert(cs_memory_inflight(CS_1F1B, 4, 1, 8, 3) == 1);
    ck_assert(cs_memory_inflight(CS_1F1B, 8, 1, 4, 0) == 4);
    ck_assert(cs_memory_inflight(CS_ZB_H1, 4, 1, 8, 1) == 3);
    /* Interleaved, stage 0: p (1 + (p-1)/(p v)) = 4 x 11/8 = 5.5. */
    ck_assert(cs_memory_inflight(CS_INTERLEAVED, 4, 2, 8, 0) == 4.0 * (1 + 3.0 / 8));
}
END_TEST

/* 1F1B activations on the first stage: p micro-batches of every layer of the
 * stage, plus the embedding's per micro-batch: 8 sb of token ids (all on
 * every TP rank) and the dropout mask sbh/t with SP. */
START_TEST(first_stage_activations_1f1b)
{
    cs_scenario s;
    cs_layout_sizes z;
    cs_memory_breakdown b;
    load(gpt_model, 1,
         "recompute: selective, sequence_parallel: true, global_batch_size: 64, "
         "attention_backend: local",
         "{ tp: 2, pp: 2, dp: 2 }", &s, &z);
    ck_assert_int_eq(z.microbatches, 32);
    double sb = 2048, h = 1024;
    double per_layer = 34 * sb * h / 2, embedding = 8 * sb + sb * h / 2;
    cs_memory_stage(&s, &z, 0, &b);
    ck_assert(b.inflight == 2);
    ck_assert(b.activations == 2 * (2 * per_layer + embedding));
    /* The last stage holds one micro-batch and the fp32 logits 4sbh(1 + V/h)/t. */
    cs_memory_stage(&s, &z, 1, &b);
    ck_assert(b.inflight == 1);
    ck_assert(b.activations == 2 * per_layer + 4 * sb * h * (1 + 32000 / h) / 2);
    cs_scenario_free(&s);
}
END_TEST

/* FP8 memory by hand. Weights: Transformer Engine's FP8 copy and transpose
 * of each linear weight, 2 bytes per weight (12h^2 per layer: no linear
 * biases in this model; the norms stay 16-bit), over tp; with
 * fp8_param_gather they replace the 16-bit parameter (no change).
 * Activations of one layer (s = 2048, b = 1, h = 1024, t = 4, no SP): the
 * QKV and fc1 inputs (sbh each) and the fc2 input (4 sbh / t) saved in FP8,
 * one byte less per element; the projection's input an extra FP8 copy with
 * FlashAttention (+ sbh / t), one byte less with local attention (- sbh / t). */
START_TEST(fp8_memory)
{
    double h = 1024, sbh = 2048.0 * 1024.0;
    cs_scenario s;
    cs_layout_sizes z;
    cs_memory_breakdown b16, b8;
    const char *base = "global_batch_size: 64, distributed_optimizer: true";
    load(gpt_model, 1, base, "{ tp: 2, pp: 2, dp: 2 }", &s, &z);
    cs_memory_stage(&s, &z, 1, &b16);
    cs_scenario_free(&s);
    char training[256];
    snprintf(training, sizeof training, "%s, precision: fp8", base);
    load(gpt_model, 1, training, "{ tp: 2, pp: 2, dp: 2 }", &s, &z);
    cs_memory_stage(&s, &z, 1, &b8);
    ck_assert(b8.weights - b16.weights == 2 * 2 * 12 * h * h / 2); /* 2 layers, tp 2 */
    cs_scenario_free(&s);
    snprintf(training, sizeof training, "%s, precision: fp8, fp8_param_gather: true", base);
    load(gpt_model, 1, training, "{ tp: 2, pp: 2, dp: 2 }", &s, &z);
    cs_memory_stage(&s, &z, 1, &b8);
    ck_assert(b8.weights == b16.weights);
    cs_scenario_free(&s);
    /* Blockwise: each copy also holds one fp32 scale per 128 x 128 block. */
    snprintf(training, sizeof training, "%s, precision: fp8, fp8_recipe: blockwise", base);
    load(gpt_model, 1, training, "{ tp: 2, pp: 2, dp: 2 }", &s, &z);
    cs_memory_stage(&s, &z, 1, &b8);
    assert_close(b8.weights - b16.weights, 2 * (1 + 4.0 / 16384) * 2 * 12 * h * h / 2, 1e-12);
    cs_scenario_free(&s);
    /* First and last layers in BF16: of stage 0's layers 0 and 1 only layer 1 is FP8. */
    load(gpt_model, 1, base, "{ tp: 2, pp: 2, dp: 2 }", &s, &z);
    cs_memory_stage(&s, &z, 0, &b16);
    cs_scenario_free(&s);
    snprintf(training, sizeof training,
             "%s, precision: fp8, fp8_recipe: tensorwise, first_last_layers_bf16: true", base);
    load(gpt_model, 1, training, "{ tp: 2, pp: 2, dp: 2 }", &s, &z);
    cs_memory_stage(&s, &z, 0, &b8);
    ck_assert(b8.weights - b16.weights == 2 * 12 * h * h / 2);
    cs_scenario_free(&s);
    /* Activations, t = 4. */
    double flash16 = layer_bytes("attention_backend: flash");
    double flash8 = layer_bytes("attention_backend: flash, precision: fp8");
    ck_assert(flash8 - flash16 == sbh * (-1 - 1 + 1.0 / 4 - 4.0 / 4));
    double local16 = layer_bytes("attention_backend: local");
    double local8 = layer_bytes("attention_backend: local, precision: fp8");
    ck_assert(local8 - local16 == sbh * (-1 - 1 - 1.0 / 4 - 4.0 / 4));
    /* Blockwise: 1 + 4/128 bytes per saved element instead of 2. */
    double block8 = layer_bytes("attention_backend: flash, precision: fp8, fp8_recipe: blockwise");
    double keep = 1 + 4.0 / 128, saved = 2 - keep;
    assert_close(block8 - flash16, sbh * (-2 * saved + keep / 4 - saved * 4.0 / 4), 1e-12);
    /* Layer 0 kept in BF16 saves what a BF16 run saves. */
    ck_assert(layer_bytes("attention_backend: flash, precision: fp8, fp8_recipe: tensorwise, "
                          "first_last_layers_bf16: true") == flash16);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("memory");
    TCase *t = tcase_create("analytic");
    tcase_add_test(t, korthikanti_table_2);
    tcase_add_test(t, scores_follow_the_backend);
    tcase_add_test(t, gradient_bytes_follow_precision);
    tcase_add_test(t, ffn_width_generalisation);
    tcase_add_test(t, static_memory_megatron_rule);
    tcase_add_test(t, moe_static_memory_option1);
    tcase_add_test(t, inflight_by_schedule);
    tcase_add_test(t, first_stage_activations_1f1b);
    tcase_add_test(t, fp8_memory);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
