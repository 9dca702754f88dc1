/* config_training: the training: block, the layouts (one per parallel
 * layout to compare) and targets:, with their defaults and the per-layout
 * settings that fall back on training's. */
#include "input/schema.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const cs_precision_choices[] = {"bf16", "fp16", "fp8", NULL};
static const char *const fp8_recipe_choices[] = {"delayed", "tensorwise", "blockwise", "mxfp8",
                                                  NULL};
const char *const cs_schedule_choices[] = {"gpipe", "1f1b", "interleaved", "zb-h1", NULL};
const char *const cs_recompute_choices[] = {"none", "selective", "full", NULL};
/* In the order of cs_recompute_module's bits. */
static const char *const module_choices[] = {
    "core_attn", "moe_act", "layernorm", "mla_up_proj", "mlp", "moe", "shared_experts", NULL};
static const char *const optimizer_choices[] = {"adam", "none", NULL};
static const char *const routing_choices[] = {"balanced", "random", "skewed", NULL};
static const char *const backend_choices[] = {"auto", "flash", "fused", "unfused", "local", NULL};
static const char *const dim_names[] = {"tp", "cp", "ep", "dp", "pp", NULL};
static const char *const sharding_choices[] = {"no_shard", "optim", "optim_grads",
                                               "optim_grads_params", NULL};
/* Transformer Engine's names (Megatron passes them on); Megatron-LM's help
 * text spells all_gather "allgather", read as the same. */
const char *const cs_cp_comm_choices[] = {"p2p", "a2a", "all_gather", "a2a+p2p", "allgather",
                                          NULL};
static const char *const dispatcher_choices[] = {"allgather", "alltoall", "flex", NULL};
static const char *const flex_backend_choices[] = {"deepep", "hybridep", NULL};
static const char *const drop_choices[] = {"probs", "position", NULL};
static const char *const ce_impl_choices[] = {"native", "te", NULL};
static const char *const score_choices[] = {"softmax", "sigmoid", NULL};
static const char *const balancing_choices[] = {"aux_loss", "seq_aux_loss", "none", NULL};

/* A training field whose position is kept for the checks across blocks. */
#define LOCATED(k, type, flags, unit, choices, l)                                                  \
    {                                                                                              \
#k, type, offsetof(cs_training, k), flags, 0, unit, choices, NULL, NULL,                   \
            offsetof(cs_training, l)                                                               \
    }

static const cs_field routing_fields[] = {
    ENUM(cs_moe_routing, mode, routing_choices),
    QTY(cs_moe_routing, skew, CS_UNIT_RATIO, POSITIVE),
};
const cs_schema cs_routing_schema = {"moe_routing", routing_fields, COUNT(routing_fields)};

/* A mode alone, or { mode: ..., skew: ... }. */
static int routing_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_training *t = obj;
    int mode;
    if (n->type == YAML_SCALAR_NODE) {
        if (cs_parse_enum(c, f, n, "moe_routing", routing_choices, &mode) != 0)
            return -1;
        t->moe_routing.mode = (cs_routing_mode)mode;
        return 0;
    }
    if (n->type != YAML_MAPPING_NODE) {
        REPORT(c, f, n, "'moe_routing' must be a mode or { mode: ..., skew: ... }");
        return -1;
    }
    return cs_schema_apply(c, f, n, &cs_routing_schema, &t->moe_routing);
}

/* A list of Megatron's module names ([] reruns nothing); a module Megatron
 * has but the model does not is refused rather than ignored. */
static int recompute_modules_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_training *t = obj;
    t->loc_recompute_modules = cs_yfile_loc(f, n);
    if (cs_parse_choices(c, f, n, 0, "recompute module", module_choices, &t->recompute_modules))
        return -1;
    unsigned missing = t->recompute_modules & ~(unsigned)CS_RC_MODELLED;
    if (missing) {
        char names[128];
        cs_recompute_modules_text(missing, ", ", names, sizeof names);
        REPORT(c, f, n,
               "recompute module %s is Megatron's but not modelled yet (core_attn, moe_act, "
               "layernorm and moe are)",
               names);
        return -1;
    }
    return 0;
}

static const cs_field training_fields[] = {
    INT(cs_training, seq_length, 1, REQUIRED),
    INT(cs_training, global_batch_size, 1, REQUIRED),
    INT(cs_training, micro_batch_size, 1, 0),
    ENUM(cs_training, precision, cs_precision_choices),
    ENUM(cs_training, fp8_recipe, fp8_recipe_choices),
    BOOL(cs_training, fp8_param_gather),
    BOOL(cs_training, first_last_layers_bf16),
    INT(cs_training, num_layers_at_start_in_bf16, 0, 0),
    INT(cs_training, num_layers_at_end_in_bf16, 0, 0),
    ENUM(cs_training, schedule, cs_schedule_choices),
    INT(cs_training, virtual_pipeline_stages, 1, 0),
    INT(cs_training, decoder_first_pipeline_num_layers, 1, 0),
    INT(cs_training, decoder_last_pipeline_num_layers, 1, 0),
    BOOL(cs_training, account_for_embedding_in_pipeline_split),
    BOOL(cs_training, account_for_loss_in_pipeline_split),
    ENUM(cs_training, recompute, cs_recompute_choices),
    CUSTOM("recompute_modules", recompute_modules_custom),
    BOOL(cs_training, sequence_parallel),
    BOOL(cs_training, distributed_optimizer),
    BOOL(cs_training, use_megatron_fsdp),
    BOOL(cs_training, fsdp_double_buffer),
    BOOL(cs_training, create_all_gather_group),
    LOCATED(data_parallel_sharding_strategy, F_ENUM, 0, 0, sharding_choices, loc_sharding),
    BOOL(cs_training, overlap_grad_reduce),
    BOOL(cs_training, use_flash_attn),
    ENUM(cs_training, attention_backend, backend_choices),
    BOOL(cs_training, masked_softmax_fusion),
    BOOL(cs_training, bias_gelu_fusion),
    BOOL(cs_training, bias_swiglu_fusion),
    BOOL(cs_training, bias_dropout_fusion),
    BOOL(cs_training, apply_rope_fusion),
    BOOL(cs_training, gradient_accumulation_fusion),
    BOOL(cs_training, attention_softmax_in_fp32),
    BOOL(cs_training, cross_entropy_loss_fusion),
    ENUM(cs_training, cross_entropy_fusion_impl, ce_impl_choices),
    QTY(cs_training, hidden_dropout, CS_UNIT_RATIO, AT_MOST_1),
    QTY(cs_training, attention_dropout, CS_UNIT_RATIO, AT_MOST_1),
    BOOL(cs_training, tp_comm_overlap),
    BOOL(cs_training, overlap_p2p_comm),
    BOOL(cs_training, overlap_param_gather),
    BOOL(cs_training, scatter_gather_tensors_in_pipeline),
    QTY(cs_training, clip_grad, CS_UNIT_COUNT, NONNEG),
    BOOL(cs_training, accumulate_allreduce_grads_in_fp32),
    ENUM(cs_training, optimizer, optimizer_choices),
    CUSTOM_OF("moe_routing", routing_custom, cs_routing_schema),
    LOCATED(cp_comm_type, F_ENUM, 0, 0, cs_cp_comm_choices, loc_cp_comm),
    LOCATED(moe_token_dispatcher_type, F_ENUM, 0, 0, dispatcher_choices, loc_moe_dispatcher),
    ENUM(cs_training, moe_flex_dispatcher_backend, flex_backend_choices),
    BOOL(cs_training, moe_grouped_gemm),
    BOOL(cs_training, moe_permute_fusion),
    LOCATED(moe_shared_expert_overlap, F_BOOL, 0, 0, NULL, loc_moe_overlap),
    LOCATED(moe_expert_capacity_factor, F_QTY, NULLABLE | POSITIVE, CS_UNIT_RATIO, NULL,
            loc_moe_capacity),
    LOCATED(moe_pad_expert_input_to_capacity, F_BOOL, 0, 0, NULL, loc_moe_pad),
    ENUM(cs_training, moe_token_drop_policy, drop_choices),
    ENUM(cs_training, moe_router_score_function, score_choices),
    ENUM(cs_training, moe_router_load_balancing_type, balancing_choices),
    QTY(cs_training, moe_aux_loss_coeff, CS_UNIT_RATIO, NONNEG),
    QTY(cs_training, tokens, CS_UNIT_COUNT, POSITIVE),
};
const cs_schema cs_training_schema = {"training", training_fields, COUNT(training_fields)};

static int order_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
static int layout_schedule_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
static int layout_recompute_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);

static const cs_field layout_fields[] = {
    NAME(cs_layout, name),
    INTL(cs_layout, tp, 1, REQUIRED, loc_tp),
    INTL(cs_layout, pp, 1, REQUIRED, loc_pp),
    INTL(cs_layout, ep, 1, 0, loc_ep),
    INTL(cs_layout, dp, 1, 0, loc_dp),
    INTL(cs_layout, etp, 1, 0, loc_etp),
    INTL(cs_layout, cp, 1, 0, loc_cp),
    INTL(cs_layout, vpp, 1, 0, loc_vpp),
    INT(cs_layout, micro_batch_size, 1, 0),
    CUSTOM("schedule", layout_schedule_custom),
    CUSTOM("recompute", layout_recompute_custom),
    CUSTOM("order", order_custom),
};
const cs_schema cs_layout_schema = {"layout", layout_fields, COUNT(layout_fields)};

static const cs_field targets_fields[] = {
    QTY(cs_targets, iteration_time, CS_UNIT_TIME, POSITIVE),
    QTY(cs_targets, throughput, CS_UNIT_THROUGHPUT, POSITIVE),
    QTY(cs_targets, memory_per_gpu, CS_UNIT_SIZE, POSITIVE),
};
const cs_schema cs_targets_schema = {"targets", targets_fields, COUNT(targets_fields)};

static int order_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_layout *l = obj;
    const char *t = cs_ynode_text(n);
    l->loc_order = cs_yfile_loc(f, n);
    int seen[CS_DIM_COUNT] = {0};
    cs_dim order[CS_DIM_COUNT];
    int count = 0;
    const char *p = t;
    while (p && *p && count < CS_DIM_COUNT) {
        size_t len = strcspn(p, "-");
        int found = -1;
        for (int i = 0; dim_names[i]; i++)
            if (strlen(dim_names[i]) == len && !strncmp(p, dim_names[i], len))
                found = i;
        if (found < 0 || seen[found])
            break;
        seen[found] = 1;
        order[count++] = (cs_dim)found;
        p += len;
        if (*p == '-')
            p++;
    }
    /* An order written before context parallelism (without cp) keeps
     * meaning what it meant: cp sits right outside tp, where Megatron's
     * default puts it. */
    if (t && count == CS_DIM_COUNT - 1 && !seen[CS_DIM_CP] && !(p && *p)) {
        int at = 0;
        while (order[at] != CS_DIM_TP)
            at++;
        memmove(&order[at + 2], &order[at + 1], (size_t)(count - at - 1) * sizeof *order);
        order[at + 1] = CS_DIM_CP;
        count++;
    }
    if (!t || count != CS_DIM_COUNT || (p && *p)) {
        REPORT(c, f, n,
               "'order' must name tp, cp, ep, dp and pp once each (cp may be left out), "
               "innermost first, e.g. 'tp-cp-ep-dp-pp'");
        return -1;
    }
    memcpy(l->order, order, sizeof order);
    return 0;
}

static int layout_schedule_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    int v;
    if (cs_parse_enum(c, f, n, "schedule", cs_schedule_choices, &v) != 0)
        return -1;
    ((cs_layout *)obj)->schedule = v;
    return 0;
}

static int layout_recompute_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    int v;
    if (cs_parse_enum(c, f, n, "recompute", cs_recompute_choices, &v) != 0)
        return -1;
    ((cs_layout *)obj)->recompute = v;
    return 0;
}

void cs_training_defaults(cs_training *t)
{
    memset(t, 0, sizeof *t);
    t->seq_length = t->global_batch_size = UNSET_INT;
    t->micro_batch_size = 1;
    t->schedule = CS_1F1B;
    t->virtual_pipeline_stages = 1;
    t->decoder_first_pipeline_num_layers = t->decoder_last_pipeline_num_layers = -1;
    t->optimizer = CS_OPTIMIZER_ADAM;
    t->moe_routing.skew = 1.0;
    t->moe_expert_capacity_factor = -1; /* not given: model.moe.capacity_factor holds */
    /* Megatron-LM's command-line defaults (megatron/training/arguments.py). */
    t->attention_backend = -1;
    t->masked_softmax_fusion = t->bias_gelu_fusion = t->bias_swiglu_fusion = 1;
    t->bias_dropout_fusion = t->apply_rope_fusion = t->gradient_accumulation_fusion = 1;
    t->hidden_dropout = t->attention_dropout = 0.1;
    t->overlap_p2p_comm = 1; /* --no-overlap-p2p-communication; interleaved only */
    t->clip_grad = 1.0;
    t->accumulate_allreduce_grads_in_fp32 = -1;
    /* transformer_config.py: fp8_recipe "delayed", num_layers_at_start_in_bf16
     * and num_layers_at_end_in_bf16 1. */
    t->fp8_recipe = CS_FP8_DELAYED;
    t->num_layers_at_start_in_bf16 = t->num_layers_at_end_in_bf16 = 1;
    t->recompute_modules = CS_RC_CORE_ATTN; /* transformer_config.py's default */
    t->data_parallel_sharding_strategy = CS_SHARD_OPTIM_GRADS_PARAMS; /* arguments.py's */
}

void cs_layout_defaults(cs_layout *l)
{
    memset(l, 0, sizeof *l);
    l->tp = l->pp = UNSET_INT;
    l->ep = l->cp = 1;
    l->dp = l->etp = l->vpp = l->micro_batch_size = l->schedule = l->recompute = -1;
    for (int i = 0; i < CS_DIM_COUNT; i++)
        l->order[i] = (cs_dim)i;
}

/* layouts.NAME.FIELD reaches one layout, layouts.FIELD every layout. */
static int layout_overrides(cs_ctx *c, cs_layout *l)
{
    char prefix[CS_NAME_MAX + 16];
    snprintf(prefix, sizeof prefix, "layouts.%s", l->name);
    int rc = cs_schema_overrides(c, prefix, &cs_layout_schema, l);
    for (int i = 0; i < c->override_count; i++) {
        const char *path = c->overrides[i].path;
        if (!strncmp(path, "layouts.", 8) && !strchr(path + 8, '.') &&
            cs_schema_override_one(c, &cs_layout_schema, l, i, path + 8) != 0)
            rc = -1;
    }
    return rc;
}

int cs_targets_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_scenario *s = obj;
    cs_targets *t = &s->targets;
    int rc = cs_schema_apply(c, f, n, &cs_targets_schema, t);
    /* Record positions for the verdicts. */
    yaml_node_t *v;
    if ((v = cs_ymap_get(f, n, "iteration_time")))
        t->loc_iteration_time = cs_yfile_loc(f, v);
    if ((v = cs_ymap_get(f, n, "memory_per_gpu")))
        t->loc_memory_per_gpu = cs_yfile_loc(f, v);
    if ((v = cs_ymap_get(f, n, "throughput"))) {
        cs_quantity q;
        char err[128];
        t->loc_throughput = cs_yfile_loc(f, v);
        if (cs_ynode_text(v) &&
            cs_units_parse(cs_ynode_text(v), CS_UNIT_THROUGHPUT, &q, err, sizeof err) == 0)
            t->throughput_per = q.per;
    }
    return rc;
}

/* The FP8 switches as Megatron checks them. Megatron ignores --fp8-recipe
 * and --first-last-layers-bf16 without --fp8-format (its checks sit under
 * `if self.fp8`): a warning here, since they change nothing. fp8_param
 * without fp8 is an error there (transformer_config.py), and so are
 * --fp8-param-gather without the distributed optimizer (arguments.py) and
 * first/last layers in BF16 under delayed scaling ("Delayed scaling does
 * not support first / last layer in BF16"). */
static int fp8_consistent(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const cs_training *t)
{
    yaml_node_t *at;
    int rc = 0, fp8 = t->precision == CS_FP8;
    if (!fp8 && (at = cs_ymap_get(f, n, "fp8_recipe")))
        cs_yfile_report(f, c->diags, CS_WARNING, at,
                        "fp8_recipe has no effect without precision: fp8 (Megatron ignores "
                        "--fp8-recipe without --fp8-format)");
    if (!fp8 && t->first_last_layers_bf16 && (at = cs_ymap_get(f, n, "first_last_layers_bf16")))
        cs_yfile_report(f, c->diags, CS_WARNING, at,
                        "first_last_layers_bf16 has no effect without precision: fp8");
    if (t->fp8_param_gather && !fp8) {
        at = cs_ymap_get(f, n, "fp8_param_gather");
        REPORT(c, f, at ? at : n, "fp8_param_gather needs precision: fp8 (as in Megatron)");
        rc = -1;
    } else if (t->fp8_param_gather && !t->distributed_optimizer) {
        at = cs_ymap_get(f, n, "fp8_param_gather");
        REPORT(c, f, at ? at : n,
               "fp8_param_gather needs distributed_optimizer: true (as in Megatron)");
        rc = -1;
    }
    if (fp8 && t->first_last_layers_bf16 && t->fp8_recipe == CS_FP8_DELAYED) {
        at = cs_ymap_get(f, n, "first_last_layers_bf16");
        REPORT(c, f, at ? at : n,
               "first_last_layers_bf16 needs fp8_recipe tensorwise, blockwise or mxfp8: delayed "
               "scaling does not support first / last layers in BF16 (as in Megatron)");
        rc = -1;
    }
    return rc;
}

/* Switches Megatron refuses together (arguments.py's validate_args). */
/* What TransformerConfig asserts of recompute_modules. */
static int modules_consistent(cs_ctx *c, const cs_training *t)
{
    unsigned m = t->recompute_modules;
    if ((m & CS_RC_MOE_ACT) && !t->moe_grouped_gemm)
        return cs_ctx_error(c, t->loc_recompute_modules,
                            "recompute module moe_act needs moe_grouped_gemm: true (as in Megatron)");
    if ((m & (CS_RC_MOE_ACT | CS_RC_LAYERNORM)) && t->precision == CS_FP8 &&
        t->fp8_recipe == CS_FP8_DELAYED)
        return cs_ctx_error(c, t->loc_recompute_modules,
                            "recompute modules moe_act and layernorm do not work with fp8_recipe "
                            "delayed (as in Megatron)");
    return 0;
}

/* Megatron-FSDP as arguments.py takes it: the sharding strategy means
 * something only with it; Megatron-FSDP v1 runs with the distributed
 * optimizer (it turns --use-distributed-optimizer on, with a warning: so
 * does the normalization in cs_training_block), and the strategy decides
 * what is sharded; fp8_param_gather is not modelled with it. */
static int fsdp_consistent(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const cs_training *t)
{
    yaml_node_t *at;
    if (!t->use_megatron_fsdp) {
        if (t->loc_sharding.file)
            return cs_ctx_error(c, t->loc_sharding,
                                "data_parallel_sharding_strategy needs use_megatron_fsdp: true "
                                "(Megatron-LM reads it only with --use-megatron-fsdp)");
        return 0;
    }
    at = cs_ymap_get(f, n, "distributed_optimizer");
    if (at && cs_ynode_text(at) && !strcmp(cs_ynode_text(at), "false"))
        cs_yfile_report(f, c->diags, CS_WARNING, at,
                        "use_megatron_fsdp runs with the distributed optimizer (Megatron-FSDP v1 "
                        "turns it on); what is sharded is data_parallel_sharding_strategy's");
    if (t->fp8_param_gather) {
        at = cs_ymap_get(f, n, "fp8_param_gather");
        REPORT(c, f, at ? at : n, "fp8_param_gather with use_megatron_fsdp is not modelled yet");
        return -1;
    }
    return 0;
}

static int training_consistent(cs_ctx *c, cs_yfile *f, yaml_node_t *n, const cs_training *t)
{
    yaml_node_t *at;
    int rc = 0;
    if (t->use_flash_attn && t->attention_backend >= 0 && t->attention_backend != CS_ATTN_FLASH) {
        at = cs_ymap_get(f, n, "use_flash_attn");
        REPORT(c, f, at ? at : n, "use_flash_attn: true asks for attention_backend: flash, not %s",
               backend_choices[t->attention_backend]);
        rc = -1;
    }
    /* 16M tokens per sequence is beyond any context; it bounds the products
     * of attention (s^2) far below overflow. */
    if (t->seq_length > (1L << 24)) {
        at = cs_ymap_get(f, n, "seq_length");
        REPORT(c, f, at ? at : n, "seq_length %ld is over the limit of %ld", t->seq_length,
               1L << 24);
        rc = -1;
    }
    if (t->tp_comm_overlap && !t->sequence_parallel) {
        at = cs_ymap_get(f, n, "tp_comm_overlap");
        REPORT(c, f, at ? at : n, "tp_comm_overlap needs sequence_parallel: true (as in Megatron)");
        rc = -1;
    }
    /* TransformerConfig: "moe_shared_expert_overlap only works with alltoall
     * or flex token dispatcher". */
    if (t->moe_shared_expert_overlap && t->moe_token_dispatcher_type == CS_DISPATCH_ALLGATHER) {
        at = cs_ymap_get(f, n, "moe_shared_expert_overlap");
        REPORT(c, f, at ? at : n,
               "moe_shared_expert_overlap works with moe_token_dispatcher_type alltoall or flex, "
               "not allgather (as in Megatron)");
        rc = -1;
    }
    /* MoEFlexTokenDispatcher (DeepEP) refuses padding to capacity. */
    if (t->moe_pad_expert_input_to_capacity && t->moe_token_dispatcher_type == CS_DISPATCH_FLEX) {
        at = cs_ymap_get(f, n, "moe_pad_expert_input_to_capacity");
        REPORT(c, f, at ? at : n,
               "moe_pad_expert_input_to_capacity does not work with moe_token_dispatcher_type "
               "flex (as in Megatron)");
        rc = -1;
    }
    if (t->overlap_param_gather && !(t->distributed_optimizer && t->overlap_grad_reduce)) {
        at = cs_ymap_get(f, n, "overlap_param_gather");
        REPORT(c, f, at ? at : n,
               "overlap_param_gather needs distributed_optimizer and overlap_grad_reduce (as in "
               "Megatron)");
        rc = -1;
    }
    return rc | fp8_consistent(c, f, n, t) | modules_consistent(c, t) | fsdp_consistent(c, f, n, t);
}

int cs_training_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_scenario *s = obj;
    s->training.loc = cs_yfile_loc(f, n);
    /* Missing keys are worth reporting only when what is there was fine. */
    if (cs_schema_apply(c, f, n, &cs_training_schema, &s->training) != 0 ||
        cs_schema_overrides(c, "training", &cs_training_schema, &s->training) != 0)
        return -1;
    if (cs_schema_check_required(c, &cs_training_schema, &s->training, s->training.loc, f) != 0)
        return -1;
    yaml_node_t *recipe = cs_ymap_get(f, n, "fp8_recipe");
    if (recipe)
        s->training.loc_fp8_recipe = cs_yfile_loc(f, recipe);
    if ((int)s->training.cp_comm_type == CS_CP_A2A_P2P + 1) /* "allgather" */
        s->training.cp_comm_type = CS_CP_ALLGATHER;
    cs_training_fsdp_settle(&s->training);
    return training_consistent(c, f, n, &s->training);
}

int cs_training_layer_fp8(const cs_training *t, long num_layers, long i)
{
    if (t->precision != CS_FP8)
        return 0;
    /* MTP depths run under the global FP8 context (Megatron's
     * MultiTokenPredictionLayer: get_fp8_context with no layer number). */
    if (!t->first_last_layers_bf16 || i >= num_layers)
        return 1;
    return i >= t->num_layers_at_start_in_bf16 && i < num_layers - t->num_layers_at_end_in_bf16;
}

const char *cs_fp8_recipe_name(cs_fp8_recipe r) { return fp8_recipe_choices[r]; }

const char *cs_precision_name(cs_precision p) { return cs_precision_choices[p]; }

const char *cs_cp_comm_name(cs_cp_comm c) { return cs_cp_comm_choices[c]; }

cs_attention_backend cs_training_attention_backend(const cs_training *t)
{
    if (t->attention_backend >= 0)
        return (cs_attention_backend)t->attention_backend;
    return t->use_flash_attn ? CS_ATTN_FLASH : CS_ATTN_AUTO;
}

const char *cs_attention_backend_name(cs_attention_backend b) { return backend_choices[b]; }

void cs_training_fsdp_settle(cs_training *t)
{
    /* Megatron-FSDP shards the optimizer unless no_shard: the distributed
     * optimizer's paths (sharded state, reduce-scatter, parameter gather)
     * are its own. It overlaps what it shards whatever the switches say
     * (megatron_fsdp.py: overlap_grad_reduce from optim_grads,
     * overlap_param_gather with optim_grads_params). */
    if (!t->use_megatron_fsdp)
        return;
    t->distributed_optimizer = t->data_parallel_sharding_strategy != CS_SHARD_NONE;
    if (t->data_parallel_sharding_strategy >= CS_SHARD_OPTIM_GRADS)
        t->overlap_grad_reduce = 1;
    if (t->data_parallel_sharding_strategy == CS_SHARD_OPTIM_GRADS_PARAMS)
        t->overlap_param_gather = 1;
}

int cs_training_zero(const cs_training *t)
{
    if (t->use_megatron_fsdp)
        return (int)t->data_parallel_sharding_strategy;
    return t->distributed_optimizer ? 1 : 0;
}

double cs_training_grad_bytes(const cs_training *t)
{
    /* Megatron-FSDP keeps and reduces gradients in the parameters' dtype
     * (--megatron-fsdp-main-grads-dtype auto; grad_reduce_in_fp32 is not
     * read there) */
    if (t->use_megatron_fsdp)
        return 2.0;
    int fp32 = t->accumulate_allreduce_grads_in_fp32 >= 0 ? t->accumulate_allreduce_grads_in_fp32
                                                           : t->precision != CS_FP16;
    return fp32 ? 4.0 : 2.0;
}

int cs_layouts_block(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_scenario *s = obj;
    if (n->type != YAML_SEQUENCE_NODE) {
        REPORT(c, f, n, "'layouts' must be a list of layouts, got %s", cs_ynode_describe(n));
        return -1;
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0) {
        REPORT(c, f, n, "'layouts' is empty; give at least one layout");
        return -1;
    }
    free(s->layouts);
    s->layout_count = 0;
    s->layouts = calloc(count, sizeof *s->layouts);
    if (!s->layouts)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = cs_yfile_node(f, n->data.sequence.items.start[i]);
        cs_layout *l = &s->layouts[i];
        cs_layout_defaults(l);
        snprintf(l->name, sizeof l->name, "layout%zu", i + 1);
        l->loc = cs_yfile_loc(f, item);
        if (cs_schema_apply(c, f, item, &cs_layout_schema, l) != 0 || layout_overrides(c, l) != 0) {
            rc = -1;
        } else if (strchr(l->name, '/') || l->name[0] == '.') {
            /* Names become folder names under the output folder. */
            REPORT(c, f, item, "layout name '%s' may not contain '/' or start with '.'", l->name);
            rc = -1;
        } else if (cs_schema_check_required(c, &cs_layout_schema, l, l->loc, f) != 0) {
            rc = -1;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(s->layouts[j].name, l->name)) {
                REPORT(c, f, item, "two layouts are named '%s'", l->name);
                rc = -1;
            }
    }
    s->layout_count = count;
    return rc;
}

cs_schedule cs_layout_schedule(const cs_layout *l, const cs_training *t)
{
    return l->schedule >= 0 ? (cs_schedule)l->schedule : t->schedule;
}

cs_recompute cs_layout_recompute(const cs_layout *l, const cs_training *t)
{
    return l->recompute >= 0 ? (cs_recompute)l->recompute : t->recompute;
}

int cs_recomputes(cs_recompute r, const cs_training *t, cs_recompute_module module)
{
    return r == CS_RECOMPUTE_SELECTIVE && (t->recompute_modules & (unsigned)module) != 0;
}

const char *cs_recompute_module_name(int i)
{
    return i >= 0 && i < (int)(COUNT(module_choices) - 1) ? module_choices[i] : NULL;
}

void cs_recompute_modules_text(unsigned bits, const char *sep, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; module_choices[i] && used < len; i++)
        if (bits & (1u << i))
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? sep : "",
                                     module_choices[i]);
    if (!bits)
        snprintf(buf, len, "nothing");
}

long cs_layout_micro_batch(const cs_layout *l, const cs_training *t)
{
    return l->micro_batch_size > 0 ? l->micro_batch_size : t->micro_batch_size;
}

long cs_layout_vpp(const cs_layout *l, const cs_training *t)
{
    return l->vpp > 0 ? l->vpp : t->virtual_pipeline_stages;
}

double cs_moe_capacity_factor(const cs_model *m, const cs_training *t)
{
    return t->moe_expert_capacity_factor >= 0 ? t->moe_expert_capacity_factor
                                              : m->moe.capacity_factor;
}

const char *cs_dispatcher_name(cs_dispatcher d) { return dispatcher_choices[d]; }
const char *cs_schedule_name(cs_schedule s) { return cs_schedule_choices[s]; }
const char *cs_recompute_name(cs_recompute r) { return cs_recompute_choices[r]; }
const char *cs_dim_name(cs_dim d) { return dim_names[d]; }
