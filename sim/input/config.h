/* config: model, cluster and scenario documents loaded into typed structs.
 *
 * Inputs are described in docs/input.md (Megatron-LM key names). A scenario
 * names its model and cluster by path (relative to the scenario file), by a
 * bare preset name (searched in models/ or topologies/ of each preset
 * directory), or as a mapping with `base:` plus keys overriding the base;
 * bases chain, and a cycle among them is an error. A Hugging Face config.json
 * loads as a model.
 *
 * Loading never stops at the first problem of a file: every problem becomes a
 * positioned diagnostic, and the call fails (returns -1) when any was an error.
 * Values keep where they were written (cs_loc) where later checks need it. */
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stddef.h>

#include "input/diag.h"
#include "input/units.h"
#include "input/yamlx.h"

#define CS_NAME_MAX 128
#define CS_MAX_LAYERS 1024
#define CS_TABLE_MAX 32

/* An efficiency that is either one ratio (n == 1) or a table of
 * (problem size, ratio) rows with increasing sizes, to be interpolated. */
typedef struct cs_table {
    int n;
    double x[CS_TABLE_MAX];
    double y[CS_TABLE_MAX];
} cs_table;

/* GEMM efficiency measured by shape: [m, n, k, ratio] rows of one GEMM
 * (m x k times k x n) on a full grid of m, n and k values, sorted by m,
 * then n, then k. */
#define CS_GEMM_AXIS 8
#define CS_GEMM_ROWS (CS_GEMM_AXIS * CS_GEMM_AXIS * CS_GEMM_AXIS)
typedef struct cs_gemm_table {
    int nm, nn, nk; /* 0: no table */
    double m[CS_GEMM_AXIS], n[CS_GEMM_AXIS], k[CS_GEMM_AXIS];
    double e[CS_GEMM_ROWS]; /* e[(i nn + j) nk + l] */
} cs_gemm_table;

/* Attention-kernel efficiency, a fraction of peak_compute, on a full grid
 * of (head_dim, seq_length) rows, forward and backward, with FLOPs counted
 * as FlashAttention counts them (forward 4 b heads s^2 head_dim, halved
 * for causal masks; backward 2.5 times the forward). */
#define CS_ATTN_ROWS 64
typedef struct cs_attention_table {
    int n; /* rows; 0: no table */
    double seq[CS_ATTN_ROWS], head_dim[CS_ATTN_ROWS];
    double forward[CS_ATTN_ROWS], backward[CS_ATTN_ROWS];
} cs_attention_table;

typedef struct cs_attention_efficiency {
    cs_attention_table flash, fused; /* FlashAttention; cuDNN fused attention */
    /* Sliding-window attention (a causal band): rows [seq_length, window,
     * forward, backward], the window in head_dim's column (Megatron's
     * window_size[0]); FLOPs counted over the band. */
    cs_attention_table sliding_window;
} cs_attention_efficiency;

typedef enum { CS_NORM_LAYERNORM, CS_NORM_RMSNORM } cs_normalization;
typedef enum { CS_POS_ROPE, CS_POS_LEARNED_ABSOLUTE } cs_position_embedding;

typedef struct cs_moe_config {
    long num_experts;   /* 0: dense model */
    long router_topk;
    long ffn_hidden_size; /* per expert */
    long layer_freq;      /* every Nth layer (0, N, 2N...) is MoE */
    long pattern_len;     /* > 0: layer_pattern overrides layer_freq */
    unsigned char layer_pattern[CS_MAX_LAYERS];
    long shared_expert_ffn_hidden_size;
    double capacity_factor; /* 0: dropless */
    /* Group-limited routing (Megatron's moe_router_num_groups and
     * moe_router_group_topk; DeepSeek-V3's n_group and topk_group): the
     * experts in num_groups equal runs, a token's top-k taken from its
     * best group_topk groups. 0: not limited. */
    long router_num_groups, router_group_topk;
} cs_moe_config;

/* Multi-latent attention (DeepSeek-V2/V3), Megatron's argument names. */
typedef struct cs_mla_config {
    int enabled;
    long q_lora_rank; /* 0: queries projected directly */
    long kv_lora_rank;
    long qk_head_dim;
    long qk_pos_emb_head_dim;
    long v_head_dim;
} cs_mla_config;

typedef struct cs_model {
    char name[CS_NAME_MAX];
    long num_layers;
    long hidden_size;
    long num_attention_heads;
    long num_query_groups;
    long kv_channels;
    long ffn_hidden_size;
    int swiglu;
    int quick_geglu;                    /* gated quick-GELU (Megatron --quick-geglu) */
    double activation_func_clamp_value; /* GLU inputs clamped (gpt-oss: 7); 0: none */
    cs_normalization normalization;
    long vocab_size;
    int untie_embeddings_and_output_weights;
    int qk_layernorm;    /* a norm over each query and key head (Megatron --qk-layernorm) */
    int add_bias_linear; /* biases on the linear layers (Megatron's default; gpt-oss) */
    long mtp_num_layers; /* multi-token prediction depths, on the last stage */
    cs_position_embedding position_embedding_type;
    long max_position_embeddings;
    /* Sliding-window attention (Megatron's window_size, window_attn_skip_freq):
     * each query attends itself and the window_size keys before it, on every
     * layer, or with a skip frequency N on all but each N-th (1-based layer
     * numbers divisible by N keep full attention). window_size < 0: none. */
    long window_size;
    long window_attn_skip_freq; /* 0: every layer windowed */
    cs_moe_config moe;
    cs_mla_config mla;
    cs_loc loc; /* the outermost mapping that defined the model */
} cs_model;

typedef enum { CS_SCALE_UP_SWITCH, CS_SCALE_UP_MESH } cs_scale_up_kind;
typedef enum { CS_FAT_TREE, CS_RAIL_OPTIMIZED } cs_scale_out_topology;

typedef struct cs_gpu_config {
    char name[CS_NAME_MAX];
    double peak_compute;     /* FLOP/s, dense, at the training precision */
    double memory;           /* bytes */
    double memory_bandwidth; /* bytes/s */
    cs_table matmul_efficiency;
    /* Ceiling on a GEMM's efficiency by its smallest dimension (n = 0: none):
     * a GEMM runs at the lower of this and matmul_efficiency at its FLOPs. */
    cs_table matmul_shape_efficiency;
    cs_attention_efficiency attention_efficiency;
    cs_table memory_efficiency;
    /* FP8 GEMMs (Transformer Engine's linear layers with precision fp8), as
     * fractions of the FP8 peak (twice peak_compute): the same forms as
     * matmul_efficiency and matmul_shape_efficiency; n = 0: absent, the
     * BF16 tables price FP8 GEMMs too. */
    cs_table fp8_matmul_efficiency;
    cs_table fp8_matmul_shape_efficiency;
    /* Ceiling on a grouped GEMM's efficiency (the MoE experts' one kernel
     * over the local experts, moe_grouped_gemm) by its tokens per expert:
     * one expert's shape understates what the kernel loses to its ragged,
     * small groups. n = 0: none. The FP8 one, as a share of the FP8 peak,
     * falls back on it. */
    cs_table grouped_matmul_efficiency;
    cs_table fp8_grouped_matmul_efficiency;
    /* ceilings by the whole shape (m, n, k): a GEMM's, or a grouped GEMM's
     * per expert; fp8: of the FP8 peak */
    cs_gemm_table matmul_grid_efficiency, fp8_matmul_grid_efficiency;
    int mxfp8; /* MXFP8 tensor cores (Blackwell): fp8_recipe mxfp8 allowed */
    int fp8;   /* FP8 tensor cores (Hopper, Blackwell, MI300): precision fp8 allowed */
    double kernel_launch;   /* s */
    double reserved_memory; /* bytes */
} cs_gpu_config;

/* The collective libraries' protocols (NCCL's names): LL (8-byte stores with
 * flags), LL128 (128-byte lines, 120 of data), Simple (bulk copies with
 * fences). Per-protocol values are kept in this order. */
typedef enum { CS_PROTO_LL, CS_PROTO_LL128, CS_PROTO_SIMPLE, CS_PROTOS } cs_proto;

typedef struct cs_scale_up_config {
    cs_scale_up_kind kind;
    double bandwidth; /* bytes/s per GPU per direction (mesh: over all its links) */
    /* s per step of a collective inside a node, per protocol; NaN where not
     * given (the network layer fills in NCCL's figures or proportions). */
    double latency[CS_PROTOS];
    double efficiency;
    int nvls;               /* NVLink SHARP: the switch reduces and multicasts */
    double nvls_efficiency; /* share of line rate NVLS collectives reach */
} cs_scale_up_config;

typedef struct cs_scale_out_config {
    long nics_per_node;
    double nic_bandwidth; /* bytes/s per NIC per direction */
    double latency[CS_PROTOS]; /* s per step between nodes, as scale_up.latency */
    double efficiency;
    cs_scale_out_topology topology;
    double oversubscription;
    long leaf_radix;
} cs_scale_out_config;

/* How the collective library runs (NCCL's tuner model; defaults are NCCL's
 * figures, filled in by the network layer where NaN). */
typedef struct cs_op_efficiency {
    double all_reduce, all_gather, reduce_scatter, alltoall, sendrecv, broadcast;
} cs_op_efficiency;

typedef struct cs_collectives_config {
    unsigned protocols;              /* bit (1 << cs_proto) per protocol allowed */
    double base_latency[CS_PROTOS];  /* s per collective, before any step */
    double nvls_latency;             /* s per NVLS collective */
    double nvls_member_latency;      /* s more per member of the NVLS group (0) */
    /* bytes/s: the most of the buffer LL moves per second (nccl-tests'
     * algbw) on 1 node, 2 nodes, 3 or more; 0 = no cap. */
    double ll_max_bandwidth[3];
    double tree_max_bandwidth[3]; /* the same for trees (NCCL: perChMaxTreeBws) */
    cs_op_efficiency efficiency;     /* factors on the links' efficiency, per operation */
} cs_collectives_config;

/* The CPU side of each GPU: the framework's thread that launches its
 * kernels (Python, the PyTorch dispatcher and autograd, the driver call).
 * 0 = not modelled (the host is never behind). */
typedef struct cs_host_config {
    double launch_overhead;     /* s of host time per kernel launched */
    double op_overhead;         /* s per framework op that launches no kernel (kernels.h) */
    double collective_overhead; /* s of host time per collective call (NCCL enqueue) */
} cs_host_config;

typedef struct cs_cost_config {
    int present;
    double gpu_hour;  /* USD per GPU-hour; 0 when purchase is given */
    double purchase;  /* USD per GPU */
    double lifetime;  /* s over which the purchase is written off */
    /* With a purchase: the network bought too, and the power paid for (0:
     * not counted). */
    double nic;         /* USD per scale-out NIC */
    double switch_port; /* USD per scale-out switch port */
    double power;       /* W per GPU, at the wall */
    double energy;      /* USD per J */
} cs_cost_config;

typedef struct cs_cluster {
    char name[CS_NAME_MAX];
    cs_gpu_config gpu;
    cs_host_config host;
    long nodes;
    long gpus_per_node;
    cs_scale_up_config scale_up;
    cs_scale_out_config scale_out;
    cs_collectives_config collectives;
    /* What a GPU of it costs (price:), the scenario's cost: when it has
     * none; present 0: not given. */
    cs_cost_config price;
    cs_loc loc;
    cs_loc loc_nodes;
} cs_cluster;

typedef enum { CS_BF16, CS_FP16, CS_FP8 } cs_precision;
/* Megatron's --fp8-recipe (Transformer Engine's recipes): delayed
 * (DelayedScaling: per-tensor scales from an amax history), tensorwise
 * (Float8CurrentScaling: per-tensor scales from the tensor's own amax),
 * blockwise (Float8BlockScaling: fp32 scales per 1x128 block of activations
 * and gradients, per 128x128 block of weights), mxfp8 (MXFP8BlockScaling:
 * an E8M0 scale per 32 elements; Blackwell only). */
typedef enum { CS_FP8_DELAYED, CS_FP8_TENSORWISE, CS_FP8_BLOCKWISE, CS_FP8_MXFP8 } cs_fp8_recipe;
typedef enum { CS_GPIPE, CS_1F1B, CS_INTERLEAVED, CS_ZB_H1 } cs_schedule;
typedef enum { CS_RECOMPUTE_NONE, CS_RECOMPUTE_SELECTIVE, CS_RECOMPUTE_FULL } cs_recompute;
/* Megatron-Core's --recompute-modules, what selective recompute reruns, a
 * bit each in the order of cs_recompute_module_choices: core_attn (the
 * core attention), moe_act (the routed experts' activation), layernorm (the
 * norms that are modules of their own: a MoE layer's pre-MLP norm, MLA's
 * input norm), moe (the whole MoE layer, a checkpoint of MoELayer.forward:
 * router, dispatcher, experts and shared experts rerun in the backward);
 * mla_up_proj, mlp and shared_experts are Megatron's too, refused as not
 * modelled yet. */
typedef enum {
    CS_RC_CORE_ATTN = 1u << 0,
    CS_RC_MOE_ACT = 1u << 1,
    CS_RC_LAYERNORM = 1u << 2,
    CS_RC_MLA_UP_PROJ = 1u << 3,
    CS_RC_MLP = 1u << 4,
    CS_RC_MOE = 1u << 5,
    CS_RC_SHARED_EXPERTS = 1u << 6,
} cs_recompute_module;
#define CS_RC_MODELLED (CS_RC_CORE_ATTN | CS_RC_MOE_ACT | CS_RC_LAYERNORM | CS_RC_MOE)
typedef enum { CS_OPTIMIZER_ADAM, CS_OPTIMIZER_NONE } cs_optimizer;
typedef enum { CS_ROUTING_BALANCED, CS_ROUTING_RANDOM, CS_ROUTING_SKEWED } cs_routing_mode;
typedef enum { CS_NET_IDEAL, CS_NET_ANALYTIC, CS_NET_FLOW } cs_network_model;

/* Megatron-Core's --attention-backend: flash (FlashAttention), fused
 * (cuDNN's fused attention, through Transformer Engine), unfused (TE's
 * UnfusedDotProductAttention), local (Megatron's own DotProductAttention:
 * baddbmm, fused scale-mask-softmax, dropout, bmm), auto (what TE picks:
 * cuDNN on Hopper and later, else FlashAttention). */
typedef enum {
    CS_ATTN_AUTO,
    CS_ATTN_FLASH,
    CS_ATTN_FUSED,
    CS_ATTN_UNFUSED,
    CS_ATTN_LOCAL,
    CS_ATTN_COUNT
} cs_attention_backend;

/* How tokens pick experts: balanced (even), random (multinomial draws from
 * uniform popularity) or skewed (Zipf-like popularity of exponent skew). */
typedef struct cs_moe_routing {
    cs_routing_mode mode;
    double skew;
} cs_moe_routing;

typedef enum {
    CS_SHARD_NONE,
    CS_SHARD_OPTIM,
    CS_SHARD_OPTIM_GRADS,
    CS_SHARD_OPTIM_GRADS_PARAMS
} cs_sharding;

/* Context parallelism's exchange (--cp-comm-type, Transformer Engine's
 * attention with CP): K/V passed around a ring and overlapped with the
 * attention steps, all-to-alls that trade the sequence split for a head
 * split (Ulysses), K/V all-gathered; a2a+p2p (hierarchical) is refused. */
typedef enum { CS_CP_P2P, CS_CP_A2A, CS_CP_ALLGATHER, CS_CP_A2A_P2P } cs_cp_comm;

/* Megatron-Core's token dispatchers (--moe-token-dispatcher-type). */
typedef enum { CS_DISPATCH_ALLGATHER, CS_DISPATCH_ALLTOALL, CS_DISPATCH_FLEX } cs_dispatcher;
typedef enum { CS_FLEX_DEEPEP, CS_FLEX_HYBRIDEP } cs_flex_backend;
typedef enum { CS_DROP_PROBS, CS_DROP_POSITION } cs_drop_policy;
typedef enum { CS_SCORE_SOFTMAX, CS_SCORE_SIGMOID } cs_score_function;
typedef enum { CS_BALANCE_AUX_LOSS, CS_BALANCE_SEQ_AUX_LOSS, CS_BALANCE_NONE } cs_load_balancing;


typedef struct cs_training {
    long seq_length;
    long global_batch_size;
    long micro_batch_size;
    cs_precision precision;
    cs_fp8_recipe fp8_recipe;   /* with precision fp8; Megatron's default: delayed */
    int fp8_param_gather;       /* FP8 parameters (TE fp8_model_init), gathered in FP8 */
    int first_last_layers_bf16; /* the first and last layers' linears stay BF16 */
    long num_layers_at_start_in_bf16, num_layers_at_end_in_bf16; /* Megatron's defaults: 1, 1 */
    cs_loc loc_fp8_recipe;      /* where fp8_recipe was given (line 0: not given) */
    cs_schedule schedule;
    long virtual_pipeline_stages;
    /* Uneven pipeline splits, Megatron's: layers on the first and last stage
     * (-1: as the others), or the embedding and the loss counted as a layer
     * each of the first and last virtual stage. */
    long decoder_first_pipeline_num_layers, decoder_last_pipeline_num_layers;
    int account_for_embedding_in_pipeline_split, account_for_loss_in_pipeline_split;
    cs_recompute recompute;
    unsigned recompute_modules; /* cs_recompute_module bits; core_attn by default */
    cs_loc loc_recompute_modules;
    int sequence_parallel;
    int distributed_optimizer;
    /* Megatron-FSDP (--use-megatron-fsdp) and its sharding: no_shard (DDP),
     * optim (ZeRO-1: the distributed optimizer), optim_grads (ZeRO-2),
     * optim_grads_params (ZeRO-3, Megatron's default); cs_training_zero(). */
    int use_megatron_fsdp;
    cs_sharding data_parallel_sharding_strategy;
    int fsdp_double_buffer;      /* --fsdp-double-buffer: two layers gathered at most */
    int create_all_gather_group; /* --create-all-gather-group: gathers apart from reductions */
    cs_loc loc_sharding;
    int overlap_grad_reduce;
    int use_flash_attn;    /* legacy alias of attention_backend: flash */
    int attention_backend; /* a cs_attention_backend; -1 until given */
    /* Megatron's fusion switches (their command-line defaults: on, but
     * attention_softmax_in_fp32 off). */
    int masked_softmax_fusion, bias_gelu_fusion, bias_swiglu_fusion, bias_dropout_fusion;
    int apply_rope_fusion, gradient_accumulation_fusion, attention_softmax_in_fp32;
    int cross_entropy_loss_fusion;
    int cross_entropy_fusion_impl; /* with the fusion: 0 native (jit-fused), 1 te (Triton) */
    double hidden_dropout, attention_dropout; /* probabilities */
    /* Overlap switches, Megatron's names and defaults. */
    int tp_comm_overlap;      /* userbuffers: TP AG/RS pipelined with the GEMMs */
    int overlap_p2p_comm;     /* interleaved schedule: unbatched, unwaited p2p */
    int overlap_param_gather; /* distributed optimizer: parameter AG overlapped */
    int scatter_gather_tensors_in_pipeline; /* legacy: p2p of 1/tp, then a TP AG */
    double clip_grad;         /* > 0: the gradient norm is all-reduced */
    int accumulate_allreduce_grads_in_fp32; /* -1 until given: fp32 unless fp16 */
    cs_optimizer optimizer;
    cs_moe_routing moe_routing;
    /* MoE switches, Megatron's names and defaults (transformer_config.py). */
    cs_cp_comm cp_comm_type;                 /* p2p (Megatron's default) */
    cs_dispatcher moe_token_dispatcher_type; /* allgather */
    cs_flex_backend moe_flex_dispatcher_backend; /* deepep; with flex */
    int moe_grouped_gemm;                    /* false: SequentialMLP */
    int moe_permute_fusion;
    int moe_shared_expert_overlap;
    double moe_expert_capacity_factor; /* < 0: not given (model.moe.capacity_factor); 0: null */
    int moe_pad_expert_input_to_capacity;
    cs_drop_policy moe_token_drop_policy;             /* probs */
    cs_score_function moe_router_score_function;      /* softmax */
    cs_load_balancing moe_router_load_balancing_type; /* aux_loss */
    double moe_aux_loss_coeff;                        /* 0: no aux loss computed */
    cs_loc loc_moe_capacity, loc_moe_pad, loc_moe_overlap, loc_moe_dispatcher, loc_cp_comm;
    double tokens; /* tokens to train on (time-to-train and cost); 0: not given */
    cs_loc loc;
} cs_training;

/* Placement order of the parallel dimensions, innermost first; the enum's
 * order is the default, Megatron-Core's tp-cp-ep-dp-pp. */
typedef enum { CS_DIM_TP, CS_DIM_CP, CS_DIM_EP, CS_DIM_DP, CS_DIM_PP, CS_DIM_COUNT } cs_dim;

typedef struct cs_layout {
    char name[CS_NAME_MAX];
    long tp, pp, ep, dp; /* dp < 0: derive from the cluster size */
    long etp;            /* expert tensor parallel; < 0: = tp */
    long cp;             /* context parallel (the sequence split cp ways); 1 by default */
    long vpp;            /* virtual stages; < 0: training's */
    long micro_batch_size; /* < 0: training's */
    long schedule;         /* < 0: training's, else a cs_schedule */
    long recompute;        /* < 0: training's, else a cs_recompute */
    cs_dim order[CS_DIM_COUNT];
    cs_loc loc, loc_tp, loc_pp, loc_ep, loc_dp, loc_etp, loc_cp, loc_vpp, loc_order;
} cs_layout;

typedef struct cs_targets {
    double iteration_time; /* s; NaN when not given */
    double throughput;     /* per second; NaN when not given */
    cs_throughput_unit throughput_per;
    double memory_per_gpu; /* bytes; NaN when not given */
    cs_loc loc_iteration_time, loc_throughput, loc_memory_per_gpu;
} cs_targets;

#define CS_SWEEP_MAX_PARAMS 16
#define CS_SWEEP_MAX_REPLAYS 1000000L /* points x repeats of one sweep */
#define CS_SWEEP_MAX_LAYOUTS 64

/* One swept key: its path ("cluster.scale_out.nic_bandwidth") and its list
 * of values, nodes of the scenario's own document (so they keep their units
 * and positions). */
typedef struct cs_sweep_param {
    char path[128];
    int list;   /* index of the values' sequence node in the scenario document */
    long count; /* number of values */
    cs_loc loc;
} cs_sweep_param;

typedef enum { CS_SWEEP_GRID, CS_SWEEP_ZIP } cs_sweep_mode;

typedef struct cs_sweep {
    int present;
    cs_sweep_mode mode; /* grid: the product of the lists; zip: the i-th value of each */
    cs_sweep_param params[CS_SWEEP_MAX_PARAMS];
    int param_count;
    char layouts[CS_SWEEP_MAX_LAYOUTS][CS_NAME_MAX]; /* subset; none: all */
    int layout_count;
    long repeats; /* runs per point and layout, seeds derived from seed and point */
    cs_loc loc;
} cs_sweep;

typedef struct cs_stragglers {
    double probability; /* per GPU and iteration */
    double slowdown;    /* compute time factor of a straggler */
} cs_stragglers;

typedef struct cs_uncertainty {
    double compute_jitter; /* sigma of a lognormal factor of mean 1 per kernel */
    cs_stragglers stragglers;
} cs_uncertainty;


/* search: (study/search.h): the space, constraints and objective of
 * `clustersim search`. A dimension left out takes search's default values. */
#define CS_SEARCH_MAX_VALUES 64
#define CS_SEARCH_MAX_REPEATS 1000

typedef struct cs_search_dim {
    int count;       /* values listed (a list, or one value); 0: the defaults */
    long v[CS_SEARCH_MAX_VALUES]; /* etp: 0 stands for "= tp" */
    cs_loc at[CS_SEARCH_MAX_VALUES]; /* where each value is written */
    long min, max;   /* the defaults kept ({min, max}); max 0: no upper bound */
    cs_loc loc;
} cs_search_dim;

typedef enum {
    CS_OBJECTIVE_TIME,          /* iteration time (also throughput, time-to-train) */
    CS_OBJECTIVE_THROUGHPUT,
    CS_OBJECTIVE_TIME_TO_TRAIN, /* needs training.tokens */
    CS_OBJECTIVE_COST,          /* cost per token; needs cost: */
    CS_OBJECTIVE_THROUGHPUT_PER_GPU
} cs_search_objective;

typedef struct cs_search_config {
    int present;
    cs_search_dim tp, pp, ep, etp, cp, vpp, micro_batch_size, gpus, global_batch_size;
    unsigned schedules;  /* a bit per cs_schedule; 0: 1f1b and interleaved */
    unsigned recomputes; /* a bit per cs_recompute; 0: all */
    unsigned sequence_parallel, distributed_optimizer; /* bit 0 false, bit 1 true; 0: training's */
    unsigned use_megatron_fsdp;                        /* the same */
    unsigned cp_comm_types; /* a bit per cs_cp_comm; 0: the training's */
    unsigned precisions; /* a bit per cs_precision; 0: the training's */
    cs_loc loc_precision;
    int tp_within_node;  /* 1 (default): TP only inside a node */
    double max_memory;   /* share of the GPU's memory a candidate may use (1) */
    cs_search_objective objective;
    long top;            /* replayed again and shown; 0: not given */
    long repeats;        /* replays of each candidate of the last stage (1) */
    cs_loc loc, loc_objective, loc_repeats;
} cs_search_config;

/* The GPU counts a search tries into out (CS_SEARCH_MAX_VALUES): the
 * listed ones, those doubling from min (one node when not given) up to max,
 * else the cluster's `world`. Returns how many. */
int cs_search_gpu_counts(const cs_search_config *k, long world, long gpus_per_node, long *out);
/* The same for the global batch sizes (the training's when not given). */
int cs_search_batch_sizes(const cs_search_config *k, long training, long *out);
/* Whether a search tries more than one global batch size: it then ranks
 * per million tokens. */
int cs_search_per_token(const cs_search_config *k);

/* A published measurement the scenario reproduces (validation/): one of the
 * metrics, the error allowed, and where it comes from. */
typedef struct cs_measured {
    int present;
    char source[512];
    char layout[CS_NAME_MAX]; /* "" = the first layout */
    double iteration_time;    /* s; NaN when not given */
    double throughput;        /* per second; NaN when not given */
    cs_throughput_unit throughput_per;
    double model_tflops_per_gpu; /* FLOP/s; NaN when not given */
    double tolerance;            /* relative error allowed */
    char open[1024]; /* a known discrepancy, not yet modelled: why ("" = none) */
    cs_loc loc;
} cs_measured;

/* A value to put at a key path while loading (a sweep point). */
typedef struct cs_override {
    const char *path;
    int node; /* index of the value node in the scenario document */
} cs_override;

/* Files read while loading; keeps every cs_loc's file name alive. */
typedef struct cs_sources {
    cs_yfile **files;
    size_t count, cap;
} cs_sources;

typedef struct cs_scenario {
    char name[CS_NAME_MAX];
    cs_model model;
    cs_cluster cluster;
    cs_training training;
    cs_network_model network_model;
    unsigned long seed;
    cs_targets targets;
    cs_layout *layouts; /* owned */
    size_t layout_count;
    cs_sweep sweep;
    cs_uncertainty uncertainty;
    cs_cost_config cost;
    cs_search_config search;
    cs_measured measured;
    int no_symmetry; /* replay every GPU even when one per stage could stand for all
                        (--no-symmetry; replay/symmetry.h) */
    cs_loc loc;
    cs_sources sources; /* owned */
} cs_scenario;

/* Where presets are searched: each directory holds models/ and topologies/.
 * A NULL-terminated list, borrowed. */
typedef struct cs_paths {
    const char *const *preset_dirs;
} cs_paths;

/* Loads a scenario file. On success returns 0 and *out owns its layouts and
 * sources (release with cs_scenario_free). On failure returns -1 with every
 * problem found in d; *out is still safe to free. */
int cs_scenario_load(const char *path, const cs_paths *paths, cs_scenario *out,
                     cs_diags *d);
void cs_scenario_free(cs_scenario *s);

/* True when a replay of the scenario draws at random (kernel jitter,
 * stragglers, or MoE routing that is not balanced), so that replays with
 * other seeds differ. */
int cs_scenario_draws(const cs_scenario *s);

/* Same, with values put at key paths before each part is completed (a sweep
 * point): model.*, cluster.*, training.*, layouts.FIELD (every layout),
 * layouts.NAME.FIELD, network_model, seed, targets.*. */
int cs_scenario_load_with(const char *path, const cs_paths *paths, const cs_override *o,
                          int count, cs_scenario *out, cs_diags *d);

/* Same, from text in memory; `name` stands for the file in messages and
 * relative paths are taken from its directory. */
int cs_scenario_load_text(const char *name, const char *text, size_t len,
                          const cs_paths *paths, cs_scenario *out, cs_diags *d);

/* Loads a model or cluster given as a path or a preset name. Files read are
 * kept in src (release with cs_sources_free). */
int cs_model_load(const char *ref, const cs_paths *paths, cs_sources *src,
                  cs_model *out, cs_diags *d);
int cs_cluster_load(const char *ref, const cs_paths *paths, cs_sources *src,
                    cs_cluster *out, cs_diags *d);
void cs_sources_free(cs_sources *src);

/* The loaded file a cs_loc points into, or NULL (to quote its lines). */
const cs_yfile *cs_sources_find(const cs_sources *src, const char *file);

/* Calls fn with every key path a scenario may hold ("training.seq_length",
 * "cluster.gpu.peak_compute", "layouts.tp", ...), each parent before its
 * children. Model and cluster files hold the keys under model. and cluster.
 * This is the list docs/input.md is checked against. */
typedef void (*cs_key_fn)(const char *path, void *arg);
void cs_config_keys(cs_key_fn fn, void *arg);

/* Effective per-layout settings (layout override or training default). */
cs_schedule cs_layout_schedule(const cs_layout *l, const cs_training *t);
cs_recompute cs_layout_recompute(const cs_layout *l, const cs_training *t);
/* True when recompute mode r reruns `module` (selective, and the module in
 * training.recompute_modules). */
int cs_recomputes(cs_recompute r, const cs_training *t, cs_recompute_module module);
long cs_layout_micro_batch(const cs_layout *l, const cs_training *t);
long cs_layout_vpp(const cs_layout *l, const cs_training *t);

/* The backend asked for: attention_backend, else flash when use_flash_attn,
 * else auto (what auto becomes on a GPU: model/kernels.h). */
cs_attention_backend cs_training_attention_backend(const cs_training *t);

/* Bytes per gradient element of the gradient buffer and its data-parallel
 * reduction: 4 (fp32 main_grad) with accumulate_allreduce_grads_in_fp32,
 * which Megatron turns on for bf16 (and we for fp8); 2 for fp16 unless
 * asked, as in Megatron. */
double cs_training_grad_bytes(const cs_training *t);
/* What data parallelism shards, as a ZeRO stage: 0 nothing, 1 the optimizer
 * (the distributed optimizer, or Megatron-FSDP's optim), 2 also the
 * gradients (optim_grads), 3 also the parameters (optim_grads_params). */
int cs_training_zero(const cs_training *t);
/* What Megatron-FSDP sets for itself (use_megatron_fsdp): the distributed
 * optimizer unless no_shard, the overlaps of what it shards. The loader
 * calls it; so does whatever turns Megatron-FSDP on afterwards. */
void cs_training_fsdp_settle(cs_training *t);
/* The MoE capacity factor in force: training.moe_expert_capacity_factor,
 * else model.moe.capacity_factor; 0 dropless. */
double cs_moe_capacity_factor(const cs_model *m, const cs_training *t);
const char *cs_dispatcher_name(cs_dispatcher d);

/* True when transformer layer i (0-based, of num_layers) runs its linear
 * layers in FP8: precision fp8, and not one of the first or last layers
 * first_last_layers_bf16 keeps in BF16 (Megatron's is_first_last_bf16_layer). */
int cs_training_layer_fp8(const cs_training *t, long num_layers, long i);

/* True when layer i (0-based) of the model is a MoE layer. */
int cs_model_is_moe_layer(const cs_model *m, long i);
/* Keys each query of layer i (0-based) attends with sliding-window
 * attention, itself and the window before it (window_size + 1); 0 when the
 * layer attends the whole causal prefix (no window_size, a layer that
 * window_attn_skip_freq keeps full). As Megatron's is_layer_window_attention
 * on 1-based layer numbers, an MTP depth's (i >= num_layers) numbered 1, 2,
 * ... by depth. */
long cs_model_layer_window(const cs_model *m, long i);
/* Whether the MLP is gated (swiglu or quick_geglu: three weight matrices). */
int cs_model_gated(const cs_model *m);

/* Names for printing. */
const char *cs_schedule_name(cs_schedule s);
const char *cs_recompute_name(cs_recompute r);
/* The names of the modules of `bits` joined by `sep` into buf, in
 * Megatron's order ("core_attn, moe_act"); "nothing" for none. */
void cs_recompute_modules_text(unsigned bits, const char *sep, char *buf, size_t len);
/* The name of cs_recompute_module bit i, NULL past the last. */
const char *cs_recompute_module_name(int i);
const char *cs_search_objective_name(cs_search_objective o);
const char *cs_attention_backend_name(cs_attention_backend b);
const char *cs_fp8_recipe_name(cs_fp8_recipe r);
const char *cs_precision_name(cs_precision p);
const char *cs_cp_comm_name(cs_cp_comm c);
const char *cs_network_model_name(cs_network_model n);
const char *cs_dim_name(cs_dim d);

#endif
