/* memory: the analytic per-GPU memory estimate of a layout (what `check`
 * prints before any replay).
 *
 * Static state by Megatron's bytes-per-parameter rule: 2 bytes of 16-bit
 * weights, 4 of fp32 gradients and 12 of Adam state (fp32 master copy, two
 * moments), the optimizer part divided by the data-parallel size with the
 * distributed optimizer (dense parameters by ep x dp, expert parameters by the
 * expert data-parallel size); tensor-parallel parameters divided by tp, expert
 * parameters by ep x etp.
 *
 * Activations per layer and micro-batch by Korthikanti et al. 2022, Table 2,
 * generalised: in bytes with s sequence, b micro-batch, h hidden, a heads,
 * t = tp,
 *   replicated part  10 sbh  (norm inputs 4, QKV and MLP inputs 2 + 2, masks 2)
 *   split part       attention 2sb(2q + 2kv) (Q, K, V, projection input)
 *                    + MLP 4 sb ffn (6 sb ffn with SwiGLU)
 *   attention scores 5 a s^2 b  with the unfused backends (softmax output 2,
 *                    dropout mask 1 and output 2; 4 + 3 with torch's fp32
 *                    softmax fallback, 2 without attention dropout); dropped
 *                    by selective recompute of core_attn; FlashAttention
 *                    and cuDNN keep a 4-byte log-sum-exp per head and token
 *                    instead
 * giving sbh(10 + 24/t + 5as/(ht)) for GPT shapes (without hidden dropout the
 * two masks go: 8 instead of 10); with sequence parallelism
 * the replicated part is divided by t too; full recompute keeps only the layer
 * input, 2sbh (/t with sequence parallelism). A MoE layer replaces the MLP's
 * split part by its experts': each token reaches top-k experts, so a GPU holds
 * k s b (etp/t) routed tokens, each with its 2h input and 4 ffn_e/etp (6 with
 * SwiGLU) intermediate bytes, plus fp32 router probabilities 4 s b E / t and a
 * shared expert as a dense MLP of its width. Selective recompute of
 * layernorm drops a MoE layer's pre-MLP norm output (2sbh, /t with sequence
 * parallelism) and MLA's input norm output; of moe_act the activation's
 * output, fc2's 2 ffn_e/etp input bytes per routed token.
 *
 * In flight at the peak, per stage i of p with m micro-batches: GPipe m; 1F1B
 * and ZB-H1 min(p - i, m); interleaved min(2(p - i - 1) + (v - 1)p + 1, m v)
 * chunks of L/(p v) layers (Megatron's warm-up count plus one). The first
 * stage adds the embedding's activations (8 sb bytes of token ids, and sbh
 * (/t with sequence parallelism) of dropout mask per micro-batch),
 * the last the output layer's 4 sbh (1 + V/h) (fp32 logits).
 *
 * FP8 (precision fp8, in the layers that run FP8): Transformer Engine keeps
 * an FP8 copy and an FP8 transpose (columnwise copy) of every linear weight
 * besides the 16-bit parameter, cached from the first micro-batch on
 * (module/linear.py: weight_fp8 and weight_t_fp8, is_first_microbatch): 2
 * bytes per FP8 weight, plus scaling factors (blockwise: 4 per 128 x 128
 * block of each copy, mxfp8: 1 per 32); with fp8_param_gather the parameter
 * itself is that FP8 copy (TE's fp8_model_init), so the 2 bytes replace the
 * 16-bit parameter's. The linear layers save their input for the wgrad in
 * FP8, 1 byte (+ scaling factors) instead of 2 (saved_inputmat /
 * saved_inputmat_t in module/linear.py): the QKV and fc1 inputs (a MoE
 * layer's router keeps its 16-bit input; its experts save their tokens in
 * FP8, its shared expert an extra FP8 copy), the fc2 inputs, and the
 * projection's input, which with FlashAttention and cuDNN is an extra FP8
 * copy beside the output they keep. FP8 weights: a layer's parameters but
 * its norms and router (biases counted with them). */
#ifndef CS_MEMORY_H
#define CS_MEMORY_H

#include "input/config.h"
#include "model/layout.h"

typedef struct cs_memory_breakdown {
    double weights, gradients, optimizer, activations, buffers, reserved;
    double total;
    double inflight; /* micro-batches of the whole stage held at the peak */
} cs_memory_breakdown;

/* Bytes of the s x s attention tensors one layer keeps per micro-batch on
 * one GPU with the layout's attention backend (0 with flash or fused). */
double cs_memory_attention_scores(const cs_model *m, const cs_training *t,
                                  const cs_layout_sizes *z);

/* Activation bytes of layer i for one micro-batch on one GPU. */
double cs_memory_layer_activations(const cs_model *m, const cs_training *t,
                                   const cs_layout_sizes *z, long layer);

/* Bytes `moe` recompute discards after a MoE layer's forward and its rerun
 * rebuilds in the backward (0 without it or off MoE layers): the routed
 * tokens' saved expert inputs, the shared experts' and the router's. */
double cs_memory_moe_rebuilt(const cs_model *m, const cs_training *t, const cs_layout_sizes *z,
                             long layer);

/* Of those, what the layer's deferred weight gradients still read after
 * its input-gradient pass (zb-h1): the experts' GEMM inputs. */
double cs_memory_moe_w_inputs(const cs_model *m, const cs_training *t, const cs_layout_sizes *z,
                              long layer);

/* Micro-batches (of the whole stage's layers) held at the peak. */
/* FP8 weights of layer i (unsplit): outside routed experts in *dense, the
 * routed experts' in *expert; both 0 unless layer i runs FP8. */
void cs_memory_layer_fp8_params(const cs_model *m, const cs_training *t, long i, double *dense,
                                double *expert);

/* Context parallelism's exchange buffers while one layer's attention runs
 * (Transformer Engine's, beside the saved activations): p2p the K/V blocks
 * received in forward (cp - 1 of the rank's K/V bytes) or backward's two
 * K/V and dK/dV buffers (4), whichever is more; allgather the gathered K/V
 * and the dK/dV to reduce-scatter (2 cp); a2a none counted. 0 without cp. */
double cs_memory_cp_buffers(const cs_model *m, const cs_training *t, const cs_layout_sizes *z);

double cs_memory_inflight(cs_schedule s, long p, long v, long m, long stage);

/* Megatron-FSDP's unit: the parameters of the largest transformer layer of
 * `stage` on one GPU (dense over tp, experts over ep x etp), before
 * sharding; what one gathered layer holds. */
double cs_memory_fsdp_unit(const cs_scenario *s, const cs_layout_sizes *z, long stage);

/* The estimate for one GPU of pipeline stage `stage`. */
void cs_memory_stage(const cs_scenario *s, const cs_layout_sizes *z, long stage,
                     cs_memory_breakdown *out);

/* The stage with the largest total; fills *out with its breakdown. */
long cs_memory_peak(const cs_scenario *s, const cs_layout_sizes *z, cs_memory_breakdown *out);

#endif
