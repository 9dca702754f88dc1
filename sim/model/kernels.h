/* kernels: the GPU kernels of one transformer layer as Megatron-Core runs
 * them on one tensor-parallel rank, forward and backward, each with its
 * shape, FLOPs and bytes (docs/model.md, "Kernels").
 *
 * The lists follow Megatron-LM's modules kernel by kernel: the norms
 * (input_layernorm, pre_mlp_layernorm), linear_qkv, rotary embeddings, core
 * attention (one FlashAttention or cuDNN kernel, or Megatron's unfused path:
 * baddbmm, scale-mask-softmax, dropout, bmm), linear_proj, bias-dropout-add,
 * linear_fc1, the (bias-)GeLU or SwiGLU, linear_fc2, the output layer and the
 * vocabulary-parallel cross entropy, the embedding; in backward each GEMM's
 * dgrad and wgrad, every elementwise kernel's backward, the residual
 * gradient adds, and selective recompute's second core-attention forward.
 * Fused kernels appear as one kernel where Megatron fuses
 * (bias_gelu_fusion, bias_swiglu_fusion, masked_softmax_fusion,
 * bias_dropout_fusion, apply_rope_fusion), as their unfused passes if not.
 *
 * Each kernel carries a slot saying where it sits in its block, so that the
 * replay can place the tensor-parallel communication between them and
 * overlap it as Megatron does; this module only says what runs. */
#ifndef CS_MODEL_KERNELS_H
#define CS_MODEL_KERNELS_H

#include "input/config.h"
#include "model/layout.h"

#define CS_ACT_BYTES 2.0 /* bytes per activation element (bf16 / fp16) */

/* Shapes of one micro-batch on one GPU. */
typedef struct cs_shape {
    double s, b, h, T, Tl; /* T tokens of the rank (s b / cp); Tl those it holds between TP regions */
    double t, etp;
    double cp;     /* context parallel size (1: none) */
    int cp_comm;   /* a cs_cp_comm */
    double heads, groups, head_dim; /* attention heads, query groups, kv_channels */
    double q, kv;                   /* query and key/value widths */
    double ffn, ffn_e, ffn_s, f;    /* f: 2 matrices, or 3 with SwiGLU (fc1 is f-1 wide) */
    double experts, topk;
    int router_groups; /* group-limited routing (moe.router_num_groups > 0) */
    double V; /* vocabulary, padded to a multiple of 128 x tp as Megatron pads it */
    int sp, rope, qk_norm; /* qk_norm: model.qk_layernorm (not with MLA) */
    int mla;               /* multi-latent attention: its input norm is a module of its own */
    int quick_geglu;       /* the gated activation is quick-GELU, not SiLU */
    int bias;              /* the linear layers have biases (add_bias_linear) */
    double clamp;          /* the GLU's inputs clamped (activation_func_clamp_value); 0: not */
} cs_shape;

void cs_shape_init(cs_shape *sh, const cs_model *m, const cs_training *t, const cs_layout_sizes *z);

typedef enum { CS_KERNEL_GEMM, CS_KERNEL_ATTENTION, CS_KERNEL_MEMORY } cs_kernel_kind;

/* Where a kernel sits in its block. Forward: PRE (the norm, before the
 * block's TP gather), IN (the column-parallel GEMM), CORE (what runs between
 * the two GEMMs), ATTN (the core attention, last of it: what context
 * parallelism splits into steps between its exchanges), OUT (the
 * row-parallel GEMM), POST (after the block's TP reduction). Backward:
 * POST_B (before the gradient's gather), OUT_B, ATTN_B, CORE_B, IN_B (the
 * input-gradient work in order), RECOMPUTE (selective recompute, just
 * before ATTN_B), OUT_W and IN_W (the weight gradients), PRE_B (the norm
 * backward and the residual-gradient add, after the block's TP reduction of
 * the input gradient). */
typedef enum {
    CS_SLOT_PRE,
    CS_SLOT_IN,
    CS_SLOT_CORE,
    CS_SLOT_ATTN,
    CS_SLOT_OUT,
    CS_SLOT_POST,
    CS_SLOT_POST_B,
    CS_SLOT_OUT_B,
    CS_SLOT_RECOMPUTE,
    CS_SLOT_ATTN_B,
    CS_SLOT_CORE_B,
    CS_SLOT_IN_B,
    CS_SLOT_OUT_W,
    CS_SLOT_IN_W,
    CS_SLOT_PRE_B,
    CS_SLOTS
} cs_kernel_slot;

typedef struct cs_kernel {
    const char *name; /* Megatron's module and step, e.g. "linear_qkv.dgrad" */
    cs_kernel_kind kind;
    cs_kernel_slot slot;
    double m, n, k, batch; /* GEMM: batch x [m x k] . [k x n] */
    double flops, bytes;
    double launches; /* kernels it stands for (unfused passes; a GEMM per expert) */
    /* Attention kernels: which efficiency table prices them, and by what. */
    cs_attention_backend backend;
    double seq, head_dim;
    double window; /* keys each query attends in a sliding window; 0: the causal prefix */
    int backward;
    int fp8; /* a Transformer Engine linear layer's GEMM run in FP8 (priced at the FP8 peak) */
    /* A grouped GEMM (the experts' one kernel over `batch` local experts):
     * the tokens of each expert; 0 for every other kernel. */
    double group_tokens;
    /* Framework work the host does for it that launches no kernel, in ops
     * (host.op_overhead each): Python module and autograd-function calls,
     * views and splits, Transformer Engine's per-GEMM loop bodies. */
    double host_ops;
} cs_kernel;

#define CS_KERNELS_MAX 56

typedef struct cs_kernel_list {
    cs_kernel k[CS_KERNELS_MAX];
    int n;
} cs_kernel_list;

/* What decides which kernels run: the training switches and the layout's
 * recompute mode and resolved attention backend. */
typedef struct cs_kernel_opts {
    const cs_training *t;
    cs_recompute recompute;
    cs_attention_backend backend; /* never auto: see cs_kernels_backend() */
    int backward;                 /* 0 forward, 1 backward (input and weight gradients) */
    /* 1: this layer's linear layers stay BF16 under precision fp8 (the first
     * and last layers with first_last_layers_bf16); 0: they follow the
     * training's precision. */
    int bf16;
    /* The layer's sliding window: keys each query attends
     * (cs_model_layer_window()); 0: full causal attention. */
    double window;
} cs_kernel_opts;

/* With precision fp8 (and not o->bf16) each linear layer's GEMMs run in FP8
 * (the wgrad too: Megatron's fp8_wgrad is on) on FP8 inputs (1 byte per
 * element; outputs BF16), and Transformer Engine's quantization kernels run
 * before them, as memory kernels in the GEMM's slot: in forward
 * NAME.cast_transpose (delayed, tensorwise: FP8 input and its transpose for
 * the wgrad, Hopper's FP8 GEMMs being TN only) or NAME.quantize (blockwise,
 * mxfp8: rowwise and columnwise copies with their scaling factors), after
 * NAME.amax with tensorwise (current scaling reads the tensor once more for
 * its amax); in backward the same for the output gradient before the dgrad
 * (NAME.grad_output_cast_transpose / _quantize / _amax). With sequence
 * parallelism and a per-tensor recipe a column-parallel layer casts the
 * rank's shard only (NAME.cast, no transpose; the replay gathers it in FP8)
 * and transposes the gathered input before the wgrad (NAME.input_transpose).
 * The weights' casts run once per iteration (Megatron's is_first_microbatch
 * caches them): cs_kernels_fp8_weight_bytes(). */
int cs_kernels_fp8(const cs_kernel_opts *o);

/* Bytes of the scaling factors per element of one FP8 copy: blockwise one
 * fp32 per 1x128 block (4/128), mxfp8 one E8M0 byte per 32 (1/32); the
 * per-tensor recipes one scale per tensor (0). */
double cs_kernels_fp8_scale_bytes(cs_fp8_recipe r);
/* The same for a weight's copies: blockwise one fp32 per 128x128 block,
 * mxfp8 one byte per 32. */
double cs_kernels_fp8_weight_scale_bytes(cs_fp8_recipe r);

/* Bytes one iteration's weight quantization moves per FP8 weight element:
 * without fp8_param_gather the BF16 weight read (2) and its FP8 copy and
 * transpose written (2, plus scaling factors of 128x128 blocks or 1x32);
 * with it the FP8 parameter (written by the optimizer) read and its
 * transpose / columnwise copy written (1 + 1). */
double cs_kernels_fp8_weight_bytes(const cs_training *t);

/* What `auto` becomes on this GPU, as Transformer Engine chooses: cuDNN's
 * fused attention where the GPU has a fused table (Hopper and later in the
 * presets), else FlashAttention. Other backends stay as asked. */
cs_attention_backend cs_kernels_backend(const cs_training *t, const cs_gpu_config *gpu);

/* The attention block (norm, QKV, rotary, core attention, projection,
 * bias-dropout-add). With context parallelism (sh->cp > 1) the core
 * attention is Transformer Engine's: each rank's T tokens are two of the
 * sequence's 2 cp chunks, one from either end, so every rank does 1/cp of
 * the causal work. p2p runs it as cp steps of a (2c x c) or (c x 2c)
 * unmasked block (c = s / 2cp; the first step the causal diagonal), each
 * reading Q and one K/V block, with an output correction (forward) and the
 * dQ and dK/dV accumulations (backward) per step; a2a runs one kernel over
 * the whole sequence on heads / cp after reordering Q, K, V (and the output
 * after it); allgather runs the rank's two chunks against the gathered K/V,
 * reordered first. */
void cs_kernels_attention(const cs_shape *sh, const cs_kernel_opts *o, cs_kernel_list *out);

/* Bytes of one rank's K and V for one micro-batch (T tokens, its tp share
 * of the heads): what context parallelism's p2p passes at each step, and
 * allgather gathers cp of. */
double cs_kernels_cp_kv_bytes(const cs_shape *sh);

/* Query-key pairs of a causal band of `span` keys over `seq` queries, as
 * FlashAttention counts a causal mask (half the square at span >= seq). */
double cs_kernels_band_pairs(double seq, double span);

/* An MLP block of `tokens` tokens and hidden width `width` split `split`
 * ways, as `groups` equal GEMMs (a grouped GEMM of that many local experts;
 * 1 for a dense MLP). With `norms` the block's norm and bias-dropout-add are
 * included (a dense MLP; a MoE layer has them once around its experts). */
void cs_kernels_mlp(const cs_shape *sh, const cs_kernel_opts *o, double tokens, double width,
                    double split, double groups, int norms, cs_kernel_list *out);

/* The norm and bias-dropout-add around a MoE layer's experts. */
void cs_kernels_moe_edges(const cs_shape *sh, const cs_kernel_opts *o, cs_kernel_list *out);

/* The router (TopKRouter) on the Tl tokens of a rank: the gating GEMM
 * [Tl x h] . [h x E] (IN), the scores (softmax, or sigmoid with
 * moe_router_score_function), top-k and the scatter into probs and routing
 * map, and the aux loss when moe_aux_loss_coeff > 0 (CORE); backward their
 * backward (CORE_B), the GEMM's dgrad (IN_B) and wgrad (IN_W). */
void cs_kernels_router(const cs_shape *sh, const cs_kernel_opts *o, cs_kernel_list *out);

/* Rows of a rank's token dispatch for one micro-batch of one MoE layer. */
typedef struct cs_dispatch_rows {
    double sent; /* alltoall: token copies it permutes for the dispatch (Tl k, or E x capacity) */
    double arrived; /* allgather: tokens gathered; flex: (token, rank) rows received */
    double expert;  /* token copies its local experts compute */
    double local_experts;
} cs_dispatch_rows;

/* Flex (DeepEP) sends a token once to every rank holding any of its
 * experts, where the other dispatchers send one row per expert choice: the
 * rows a rank receives per row they send it, with each token's k distinct
 * experts drawn evenly from the E over ep ranks (the first rank's m = E / ep,
 * by cs_routing_hit, and so with the model's group-limited routing; every
 * rank's when its groups and the ranks align): hit(m) / (k m / E). */
double cs_kernels_flex_share(const cs_moe_config *moe, long ep);

/* The dispatcher's own kernels (token_dispatcher.py, moe_utils.py permute /
 * unpermute / sort_chunks_by_idxs), by moe_token_dispatcher_type and
 * moe_permute_fusion. Slots: PRE before the dispatch's communication, IN
 * after it, OUT before the combine's, POST after it; backward POST_B before
 * the combine's gradient exchange, OUT_B after it, IN_B before the
 * dispatch's, PRE_B after it. */
void cs_kernels_dispatch(const cs_shape *sh, const cs_kernel_opts *o, const cs_dispatch_rows *r,
                         cs_kernel_list *out);

/* The routed experts of a rank: `tokens` token copies over `local_experts`
 * experts of moe.ffn_hidden_size split etp ways; one grouped GEMM per
 * projection with moe_grouped_gemm, else one GEMM (and activation) per
 * expert, each its own launch (SequentialMLP); the routing probabilities
 * multiplied into the activation (a kernel of its own unless fused into
 * the weighted SwiGLU). */
void cs_kernels_experts(const cs_shape *sh, const cs_kernel_opts *o, double tokens,
                        double local_experts, cs_kernel_list *out);

/* Final norm, output layer and the vocabulary-parallel cross entropy. CORE
 * holds the loss kernels; the all-reduces they need are counted by
 * cs_kernels_loss_reductions(). */
void cs_kernels_output(const cs_shape *sh, const cs_kernel_opts *o, cs_kernel_list *out);

/* All-reduces over TP the cross entropy runs per micro-batch (max, predicted
 * logit, sum of exponentials: 3; 2 with cross_entropy_loss_fusion), each of
 * 4 T bytes. */
int cs_kernels_loss_reductions(const cs_training *t);

/* Word (and learned position) embedding lookup and its dropout; backward:
 * the dropout's backward and the scatter-add into the fp32 gradient. */
void cs_kernels_embedding(const cs_shape *sh, const cs_kernel_opts *o, const cs_model *m,
                          cs_kernel_list *out);

/* Sum of FLOPs (and bytes) of the kernels in one slot. */
double cs_kernels_flops(const cs_kernel_list *l, cs_kernel_slot slot);
double cs_kernels_bytes(const cs_kernel_list *l, cs_kernel_slot slot);

/* Kernels the host launches for one slot: each kernel's launches, and a
 * grouped GEMM's one per local expert (Transformer Engine's GroupedLinear
 * issues one cuBLAS GEMM per expert, round-robin over its compute streams:
 * multi_stream_cublas_gemm, the default backend of general_grouped_gemm). */
double cs_kernels_launches(const cs_kernel_list *l, cs_kernel_slot slot);
/* The same for one kernel. */
double cs_kernel_launches(const cs_kernel *k);
/* Host ops of one slot that launch no kernel (cs_kernel.host_ops). */
double cs_kernels_host_ops(const cs_kernel_list *l, cs_kernel_slot slot);

#endif
