#include "input/megatron.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/strutil.h"
#include "input/schema.h"

/* ---- the table --------------------------------------------------------------------- */

typedef enum {
    A_VALUE, /* --flag VALUE */
    A_TRUE,  /* --flag sets our switch (Megatron's store_true) */
    A_FALSE, /* --flag clears it (--disable-..., --no-...) */
    A_LIST   /* --flag V1 V2 ... */
} arg_form;

typedef struct arg_map {
    const char *flag;         /* Megatron's, without the "--" */
    const char *key;          /* ours: model.*, model.moe.*, model.mla.*, training.* */
    arg_form form;
    const char *absent;       /* ours where Megatron's default (flag absent) is not ours */
    const char *const *spell; /* pairs: our value, Megatron's spelling; NULL-ended */
} arg_map;

static const char *const norm_spell[] = {"layernorm", "LayerNorm", "rmsnorm", "RMSNorm", NULL};

static const arg_map table[] = {
    {"num-layers", "model.num_layers", A_VALUE, NULL, NULL},
    {"hidden-size", "model.hidden_size", A_VALUE, NULL, NULL},
    {"num-attention-heads", "model.num_attention_heads", A_VALUE, NULL, NULL},
    {"kv-channels", "model.kv_channels", A_VALUE, NULL, NULL},
    {"ffn-hidden-size", "model.ffn_hidden_size", A_VALUE, NULL, NULL},
    {"swiglu", "model.swiglu", A_TRUE, NULL, NULL},
    {"quick-geglu", "model.quick_geglu", A_TRUE, NULL, NULL},
    {"normalization", "model.normalization", A_VALUE, NULL, norm_spell},
    {"vocab-size", "model.vocab_size", A_VALUE, NULL, NULL},
    {"untie-embeddings-and-output-weights", "model.untie_embeddings_and_output_weights", A_TRUE,
     NULL, NULL},
    {"disable-bias-linear", "model.add_bias_linear", A_FALSE, "true", NULL},
    {"qk-layernorm", "model.qk_layernorm", A_TRUE, NULL, NULL},
    {"mtp-num-layers", "model.mtp_num_layers", A_VALUE, NULL, NULL},
    {"position-embedding-type", "model.position_embedding_type", A_VALUE, "learned_absolute",
     NULL},
    {"max-position-embeddings", "model.max_position_embeddings", A_VALUE, NULL, NULL},
    {"num-experts", "model.moe.num_experts", A_VALUE, NULL, NULL},
    {"moe-router-topk", "model.moe.router_topk", A_VALUE, NULL, NULL},
    {"moe-ffn-hidden-size", "model.moe.ffn_hidden_size", A_VALUE, NULL, NULL},
    {"moe-shared-expert-intermediate-size", "model.moe.shared_expert_ffn_hidden_size", A_VALUE,
     NULL, NULL},
    {"moe-router-num-groups", "model.moe.router_num_groups", A_VALUE, NULL, NULL},
    {"moe-router-group-topk", "model.moe.router_group_topk", A_VALUE, NULL, NULL},
    {"q-lora-rank", "model.mla.q_lora_rank", A_VALUE, NULL, NULL},
    {"kv-lora-rank", "model.mla.kv_lora_rank", A_VALUE, NULL, NULL},
    {"qk-head-dim", "model.mla.qk_head_dim", A_VALUE, NULL, NULL},
    {"qk-pos-emb-head-dim", "model.mla.qk_pos_emb_head_dim", A_VALUE, NULL, NULL},
    {"v-head-dim", "model.mla.v_head_dim", A_VALUE, NULL, NULL},
    {"seq-length", "training.seq_length", A_VALUE, NULL, NULL},
    {"global-batch-size", "training.global_batch_size", A_VALUE, NULL, NULL},
    {"fp8-recipe", "training.fp8_recipe", A_VALUE, NULL, NULL},
    {"fp8-param-gather", "training.fp8_param_gather", A_TRUE, NULL, NULL},
    {"first-last-layers-bf16", "training.first_last_layers_bf16", A_TRUE, NULL, NULL},
    {"num-layers-at-start-in-bf16", "training.num_layers_at_start_in_bf16", A_VALUE, NULL, NULL},
    {"num-layers-at-end-in-bf16", "training.num_layers_at_end_in_bf16", A_VALUE, NULL, NULL},
    {"decoder-first-pipeline-num-layers", "training.decoder_first_pipeline_num_layers", A_VALUE,
     NULL, NULL},
    {"decoder-last-pipeline-num-layers", "training.decoder_last_pipeline_num_layers", A_VALUE,
     NULL, NULL},
    {"account-for-embedding-in-pipeline-split", "training.account_for_embedding_in_pipeline_split",
     A_TRUE, NULL, NULL},
    {"account-for-loss-in-pipeline-split", "training.account_for_loss_in_pipeline_split", A_TRUE,
     NULL, NULL},
    {"recompute-modules", "training.recompute_modules", A_LIST, NULL, NULL},
    {"sequence-parallel", "training.sequence_parallel", A_TRUE, NULL, NULL},
    {"use-distributed-optimizer", "training.distributed_optimizer", A_TRUE, NULL, NULL},
    {"overlap-grad-reduce", "training.overlap_grad_reduce", A_TRUE, NULL, NULL},
    {"overlap-param-gather", "training.overlap_param_gather", A_TRUE, NULL, NULL},
    {"use-flash-attn", "training.use_flash_attn", A_TRUE, NULL, NULL},
    {"attention-backend", "training.attention_backend", A_VALUE, NULL, NULL},
    {"no-masked-softmax-fusion", "training.masked_softmax_fusion", A_FALSE, NULL, NULL},
    {"no-bias-gelu-fusion", "training.bias_gelu_fusion", A_FALSE, NULL, NULL},
    {"no-bias-swiglu-fusion", "training.bias_swiglu_fusion", A_FALSE, NULL, NULL},
    {"no-bias-dropout-fusion", "training.bias_dropout_fusion", A_FALSE, NULL, NULL},
    {"no-rope-fusion", "training.apply_rope_fusion", A_FALSE, NULL, NULL},
    {"no-gradient-accumulation-fusion", "training.gradient_accumulation_fusion", A_FALSE, NULL,
     NULL},
    {"attention-softmax-in-fp32", "training.attention_softmax_in_fp32", A_TRUE, NULL, NULL},
    {"cross-entropy-loss-fusion", "training.cross_entropy_loss_fusion", A_TRUE, NULL, NULL},
    {"cross-entropy-fusion-impl", "training.cross_entropy_fusion_impl", A_VALUE, NULL, NULL},
    {"hidden-dropout", "training.hidden_dropout", A_VALUE, NULL, NULL},
    {"attention-dropout", "training.attention_dropout", A_VALUE, NULL, NULL},
    {"tp-comm-overlap", "training.tp_comm_overlap", A_TRUE, NULL, NULL},
    {"no-overlap-p2p-communication", "training.overlap_p2p_comm", A_FALSE, NULL, NULL},
    {"clip-grad", "training.clip_grad", A_VALUE, NULL, NULL},
    {"accumulate-allreduce-grads-in-fp32", "training.accumulate_allreduce_grads_in_fp32", A_TRUE,
     NULL, NULL},
    {"grad-reduce-in-bf16", "training.accumulate_allreduce_grads_in_fp32", A_FALSE, NULL, NULL},
    {"moe-token-dispatcher-type", "training.moe_token_dispatcher_type", A_VALUE, NULL, NULL},
    {"moe-flex-dispatcher-backend", "training.moe_flex_dispatcher_backend", A_VALUE, NULL, NULL},
    {"moe-grouped-gemm", "training.moe_grouped_gemm", A_TRUE, NULL, NULL},
    {"moe-permute-fusion", "training.moe_permute_fusion", A_TRUE, NULL, NULL},
    {"moe-shared-expert-overlap", "training.moe_shared_expert_overlap", A_TRUE, NULL, NULL},
    {"moe-expert-capacity-factor", "training.moe_expert_capacity_factor", A_VALUE, NULL, NULL},
    {"moe-pad-expert-input-to-capacity", "training.moe_pad_expert_input_to_capacity", A_TRUE, NULL,
     NULL},
    {"moe-token-drop-policy", "training.moe_token_drop_policy", A_VALUE, NULL, NULL},
    {"moe-router-score-function", "training.moe_router_score_function", A_VALUE, NULL, NULL},
    {"moe-router-load-balancing-type", "training.moe_router_load_balancing_type", A_VALUE, NULL,
     NULL},
    {"moe-aux-loss-coeff", "training.moe_aux_loss_coeff", A_VALUE, NULL, NULL},
    {"cp-comm-type", "training.cp_comm_type", A_VALUE, NULL, NULL},
    {"use-megatron-fsdp", "training.use_megatron_fsdp", A_TRUE, NULL, NULL},
    {"fsdp-double-buffer", "training.fsdp_double_buffer", A_TRUE, NULL, NULL},
    {"create-all-gather-group", "training.create_all_gather_group", A_TRUE, NULL, NULL},
    {"data-parallel-sharding-strategy", "training.data_parallel_sharding_strategy", A_VALUE, NULL,
     NULL},
};

/* Flags read by the code below, not the table: precision, the pipeline
 * schedule, recompute, the layout, the tokenizer and the run's length. */
static const char *const special[] = {
    "bf16", "fp16", "fp8-format", "virtual-pipeline-model-parallel-size",
    "num-layers-per-virtual-pipeline-stage", "recompute-granularity", "recompute-method",
    "recompute-num-layers", "num-virtual-stages-per-pipeline-rank",
    "tensor-model-parallel-size", "pipeline-model-parallel-size",
    "expert-model-parallel-size", "expert-tensor-parallel-size", "context-parallel-size",
    "micro-batch-size", "group-query-attention", "num-query-groups", "multi-latent-attention",
    "moe-layer-freq", "tokenizer-type", "vocab-file", "merge-file", "train-samples", "train-iters",
    "use-rotary-position-embeddings", "window-size", "window-attn-skip-freq", NULL};

/* The special flags that take no value. */
static const char *const switches[] = {"bf16", "fp16", "group-query-attention",
                                       "multi-latent-attention", "use-rotary-position-embeddings",
                                       NULL};

/* Flags that change neither the time nor the memory of an iteration:
 * listed as such, not converted. */
static const char *const harmless[] = {
    "lr", "min-lr", "lr-decay-style", "lr-decay-iters", "lr-decay-samples", "lr-warmup-fraction",
    "lr-warmup-iters", "lr-warmup-samples", "lr-wsd-decay-style", "lr-wsd-decay-iters",
    "weight-decay", "start-weight-decay", "end-weight-decay", "adam-beta1", "adam-beta2",
    "adam-eps", "init-method-std", "data-path", "train-data-path", "valid-data-path",
    "test-data-path", "split", "tokenizer-model", "save", "load", "save-interval",
    "eval-interval", "eval-iters", "log-interval", "tensorboard-dir", "wandb-project",
    "wandb-exp-name", "wandb-save-dir", "no-load-optim", "no-load-rng", "use-mcore-models",
    "rotary-base", "rotary-percent", "seed", "distributed-backend", "num-workers",
    "dataloader-type", "ckpt-format", "exit-duration-in-mins", "log-throughput",
    "timing-log-level", "no-position-embedding", "log-timers-to-tensorboard",
    "log-validation-ppl-to-tensorboard", "log-memory-to-tensorboard", "use-checkpoint-args",
    "data-cache-path", "no-mmap-bin-files", "manual-gc", "manual-gc-interval",
    "distributed-timeout-minutes", "norm-epsilon", "kv-lora-rank-norm-epsilon", NULL};

static int in_list(const char *const *list, const char *flag)
{
    for (; *list; list++)
        if (!strcmp(*list, flag))
            return 1;
    return 0;
}

static const arg_map *find_flag(const char *flag)
{
    for (size_t i = 0; i < COUNT(table); i++)
        if (!strcmp(table[i].flag, flag))
            return &table[i];
    return NULL;
}

cs_mflag cs_megatron_flag(const char *flag)
{
    const arg_map *a = find_flag(flag);
    if (a)
        return a->form == A_VALUE  ? CS_MFLAG_VALUE
               : a->form == A_TRUE ? CS_MFLAG_SWITCH
               : a->form == A_LIST ? CS_MFLAG_LIST
                                   : CS_MFLAG_CLEAR;
    if (in_list(switches, flag))
        return CS_MFLAG_SWITCH;
    return in_list(special, flag) ? CS_MFLAG_VALUE : CS_MFLAG_UNKNOWN;
}

/* Megatron's spelling of our value v (or ours of Megatron's, back = 1). */
static const char *spelled(const arg_map *a, const char *v, int back)
{
    for (const char *const *p = a->spell; p && p[0]; p += 2)
        if (!strcasecmp(p[back], v))
            return p[!back];
    return v;
}

/* The schema below which a key path of ours lives, its object in s (NULL
 * when s is) and the rest of the path. */
static const cs_schema *schema_of(const cs_scenario *s, const char *key, const void **obj,
                                  const char **rest)
{
    static const struct {
        const char *prefix;
        const cs_schema *schema;
    } roots[] = {{"model.moe.", &cs_moe_schema}, {"model.mla.", &cs_mla_schema},
                 {"model.", &cs_model_schema}, {"training.", &cs_training_schema}};
    for (size_t i = 0; i < COUNT(roots); i++) {
        size_t n = strlen(roots[i].prefix);
        if (strncmp(key, roots[i].prefix, n))
            continue;
        *rest = key + n;
        *obj = !s       ? NULL
               : i == 0 ? (const void *)&s->model.moe
               : i == 1 ? (const void *)&s->model.mla
               : i == 2 ? (const void *)&s->model
                        : (const void *)&s->training;
        return roots[i].schema;
    }
    return NULL;
}

/* ---- export -------------------------------------------------------------------------- */

typedef struct printer {
    FILE *out;
    int first;
} printer;

static void put_arg(printer *p, const char *flag, const char *value)
{
    fprintf(p->out, "%s--%s%s%s", p->first ? "" : " \\\n", flag, value ? " " : "",
            value ? value : "");
    p->first = 0;
}

static void put_long(printer *p, const char *flag, long v)
{
    char buf[24];
    cs_decimal(buf, v);
    put_arg(p, flag, buf);
}

/* Whether table entry a applies to the scenario's model (MoE keys to MoE
 * models, MLA's to MLA, the FP8 keys to FP8 runs). */
static int applies(const cs_scenario *s, const arg_map *a)
{
    if (!strcmp(a->key, "training.moe_flex_dispatcher_backend"))
        return s->model.moe.num_experts > 0 &&
               s->training.moe_token_dispatcher_type == CS_DISPATCH_FLEX &&
               s->training.moe_flex_dispatcher_backend != CS_FLEX_DEEPEP; /* the default */
    if (!strncmp(a->key, "model.moe.", 10) || !strncmp(a->key, "training.moe_", 13))
        return s->model.moe.num_experts > 0;
    if (!strncmp(a->key, "model.mla.", 10))
        return s->model.mla.enabled;
    if (!strncmp(a->key, "training.fp8_", 13) || strstr(a->key, "_in_bf16") ||
        strstr(a->key, "layers_bf16"))
        return s->training.precision == CS_FP8;
    if (!strcmp(a->key, "training.recompute_modules"))
        return 0; /* with the recompute flags */
    if (!strcmp(a->key, "training.cp_comm_type"))
        return s->training.cp_comm_type != CS_CP_P2P; /* Megatron's default */
    if (!strcmp(a->key, "training.data_parallel_sharding_strategy"))
        return s->training.use_megatron_fsdp;
    return 1;
}

static void export_table(printer *p, const cs_scenario *s)
{
    for (size_t i = 0; i < COUNT(table); i++) {
        const arg_map *a = &table[i];
        const void *obj;
        const char *rest;
        char v[64];
        const cs_schema *sc = schema_of(s, a->key, &obj, &rest);
        int got = sc ? cs_schema_get(sc, obj, rest, v, sizeof v) : -1;
        if (!applies(s, a) || got < 0 ||
            (got && strcmp(a->key, "training.moe_expert_capacity_factor")))
            continue;
        const cs_field *fd = cs_schema_field(sc, rest, strlen(rest));
        if (!strcmp(a->key, "training.moe_expert_capacity_factor")) /* or the model's */
            cs_exact_number(v, sizeof v, cs_moe_capacity_factor(&s->model, &s->training));
        /* a count of 0 is Megatron's "none" (no shared experts, no MTP), a
         * capacity of 0 dropless: said by leaving the flag out */
        if (a->form == A_VALUE && !strcmp(v, "0") &&
            (fd->type == F_INT || strstr(a->key, "capacity")))
            continue;
        if (a->form == A_FALSE && !strcmp(a->flag, "grad-reduce-in-bf16") &&
            s->training.precision == CS_FP16)
            continue; /* fp16 reduces in fp16 by default */
        if (a->form == A_VALUE)
            put_arg(p, a->flag, spelled(a, v, 0));
        else if ((a->form == A_TRUE && !strcmp(v, "true")) ||
                 (a->form == A_FALSE && !strcmp(v, "false")))
            put_arg(p, a->flag, NULL);
    }
}

static void export_model(printer *p, const cs_scenario *s)
{
    const cs_model *m = &s->model;
    if (m->num_query_groups != m->num_attention_heads) {
        put_arg(p, "group-query-attention", NULL);
        put_long(p, "num-query-groups", m->num_query_groups);
    }
    if (m->mla.enabled)
        put_arg(p, "multi-latent-attention", NULL);
    if (m->window_size >= 0) {
        char pair[48];
        snprintf(pair, sizeof pair, "%ld,0", m->window_size);
        put_arg(p, "window-size", pair);
        if (m->window_attn_skip_freq > 0)
            put_long(p, "window-attn-skip-freq", m->window_attn_skip_freq);
    }
    if (m->moe.num_experts > 0) {
        if (m->moe.pattern_len > 0) {
            char list[4 * CS_MAX_LAYERS + 4];
            size_t used = 0;
            list[used++] = '[';
            for (long i = 0; i < m->moe.pattern_len; i++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%d", i ? "," : "",
                                         m->moe.layer_pattern[i]);
            snprintf(list + used, sizeof list - used, "]");
            put_arg(p, "moe-layer-freq", list);
        } else
            put_long(p, "moe-layer-freq", m->moe.layer_freq);
    }
}

static void export_training(printer *p, const cs_scenario *s, const cs_layout *l)
{
    const cs_training *t = &s->training;
    put_arg(p, t->precision == CS_FP16 ? "fp16" : "bf16", NULL);
    if (t->precision == CS_FP8)
        put_arg(p, "fp8-format", "hybrid");
    put_long(p, "micro-batch-size", cs_layout_micro_batch(l, t));
    cs_recompute r = cs_layout_recompute(l, t);
    if (r == CS_RECOMPUTE_FULL) {
        put_arg(p, "recompute-granularity", "full");
        put_arg(p, "recompute-method", "uniform");
        put_long(p, "recompute-num-layers", 1);
    } else if (r == CS_RECOMPUTE_SELECTIVE) {
        put_arg(p, "recompute-granularity", "selective");
        char modules[128];
        cs_recompute_modules_text(t->recompute_modules, " ", modules, sizeof modules);
        put_arg(p, "recompute-modules", modules[0] ? modules : NULL);
    }
    if (t->tokens > 0)
        put_long(p, "train-samples", (long)(t->tokens / (double)t->seq_length));
    /* Megatron-LM asserts this checkpoint format with Megatron-FSDP */
    if (t->use_megatron_fsdp)
        put_arg(p, "ckpt-format", "fsdp_dtensor");
}

static void export_layout(printer *p, const cs_scenario *s, const cs_layout *l)
{
    const cs_training *t = &s->training;
    put_long(p, "tensor-model-parallel-size", l->tp);
    put_long(p, "pipeline-model-parallel-size", l->pp);
    if (s->model.moe.num_experts > 0) {
        put_long(p, "expert-model-parallel-size", l->ep);
        put_long(p, "expert-tensor-parallel-size", l->etp > 0 ? l->etp : l->tp);
    }
    if (l->cp > 1)
        put_long(p, "context-parallel-size", l->cp);
    if (cs_layout_schedule(l, t) == CS_INTERLEAVED)
        put_long(p, "num-virtual-stages-per-pipeline-rank", cs_layout_vpp(l, t));
}

void cs_megatron_export(FILE *out, const cs_scenario *s, const cs_layout *l, long world)
{
    cs_schedule sched = cs_layout_schedule(l, &s->training);
    fprintf(out, "# Megatron-LM arguments of layout %s of scenario %s, for %ld GPUs (its data "
                 "parallelism is what they leave):\n",
            l->name, s->name, world);
    if (sched == CS_GPIPE || sched == CS_ZB_H1)
        fprintf(out, "# the schedule %s has no Megatron-LM flag: Megatron-LM runs 1F1B\n",
                cs_schedule_name(sched));
    if (s->training.moe_routing.mode != CS_ROUTING_BALANCED)
        fprintf(out, "# clustersim's moe_routing (how the replay draws routing) is not Megatron's\n");
    printer p = {out, 1};
    export_table(&p, s);
    export_model(&p, s);
    export_training(&p, s, l);
    export_layout(&p, s, l);
    fputc('\n', out);
}

/* ---- import ------------------------------------------------------------------------- */

/* A key of ours with its value and the arguments it came from. */
typedef struct entry {
    char key[64];
    char value[4 * CS_MAX_LAYERS + 8];
    char from[512];
    long at; /* the argument it came from, or -1 */
} entry;

#define MAX_ENTRIES 128

typedef struct importer {
    const cs_import *in;
    FILE *err;
    entry e[MAX_ENTRIES];
    int n;
    long cur;                /* the argument being read, or -1 */
    char *skipped, *unknown; /* "--flag v, ..." (owned) */
    size_t skipped_len, unknown_len;
    int failed;
} importer;

static void fail(importer *im, long at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* An error at argument `at`: positioned in the argument file, or numbered
 * on the command line. */
static void fail(importer *im, long at, const char *fmt, ...)
{
    const cs_arg *g = &im->in->args[at];
    if (im->in->source)
        fprintf(im->err, "%s:%ld:%ld: error: ", im->in->source, g->line, g->col);
    else
        fprintf(im->err, "clustersim import megatron: argument %ld (%s): ", g->col + 1, g->text);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(im->err, fmt, ap);
    va_end(ap);
    fputc('\n', im->err);
    im->failed = 1;
}

static int is_flag(const char *t) { return t[0] == '-' && t[1] == '-' && t[2]; }

/* Sets our key (later arguments win, as in argparse). */
static void set(importer *im, const char *key, const char *value, const char *from)
{
    int i = 0;
    while (i < im->n && strcmp(im->e[i].key, key))
        i++;
    if (i == im->n) {
        if (im->n == MAX_ENTRIES)
            return;
        im->n++;
    }
    snprintf(im->e[i].key, sizeof im->e[i].key, "%s", key);
    snprintf(im->e[i].value, sizeof im->e[i].value, "%s", value);
    snprintf(im->e[i].from, sizeof im->e[i].from, "%s", from);
    im->e[i].at = im->cur;
}

/* Where our key's value came from: its argument, or `otherwise`. */
static long where(const importer *im, const char *key, long otherwise)
{
    for (int i = 0; i < im->n; i++)
        if (!strcmp(im->e[i].key, key) && im->e[i].at >= 0)
            return im->e[i].at;
    return otherwise;
}

static const char *get(const importer *im, const char *key)
{
    for (int i = 0; i < im->n; i++)
        if (!strcmp(im->e[i].key, key))
            return im->e[i].value;
    return NULL;
}

static void append(char **list, size_t *len, const char *text)
{
    size_t add = strlen(text) + 2;
    char *grown = realloc(*list, *len + add + 1);
    if (!grown)
        return;
    *list = grown;
    snprintf(*list + *len, add + 1, "%s%s", *len ? ", " : "", text);
    *len += strlen(*list + *len);
}

/* The values after a flag at `at`: up to the next flag; how many. */
static long values_after(const importer *im, long at)
{
    long n = 0;
    while (at + 1 + n < im->in->count && !is_flag(im->in->args[at + 1 + n].text))
        n++;
    return n;
}

/* Checks a value against our key's type (so that errors name the
 * argument, not the generated scenario). */
static int check_value(importer *im, long at, const char *key, const char *v)
{
    const void *obj;
    const char *rest;
    const cs_schema *sc = schema_of(NULL, key, &obj, &rest);
    const cs_field *fd = sc ? cs_schema_field(sc, rest, strlen(rest)) : NULL;
    char *end;
    if (!fd)
        return 0;
    errno = 0;
    if (fd->type == F_INT) {
        long x = strtol(v, &end, 10);
        if (errno || *end || end == v || x < fd->min) {
            fail(im, at, "'%s' is not a whole number of at least %ld, as %s takes", v, fd->min, key);
            return -1;
        }
    } else if (fd->type == F_QTY) {
        double x = strtod(v, &end);
        if (errno || *end || end == v || x < 0) {
            fail(im, at, "'%s' is not a number %s takes", v, key);
            return -1;
        }
    } else if (fd->type == F_ENUM) {
        for (const char *const *c = fd->choices; *c; c++)
            if (!strcasecmp(*c, v))
                return 0;
        fail(im, at, "'%s' is not one of the values %s takes", v, key);
        return -1;
    }
    return 0;
}

static void from_text(const importer *im, long at, long nvalues, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "%s", im->in->args[at].text);
    for (long k = 1; k <= nvalues && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, " %s", im->in->args[at + k].text);
}

/* window-size: Megatron's tuple_type, "L,R" with or without its brackets
 * ("(128,0)"; Bridge's lists join as "[128,0]"). Writes our YAML value; -1
 * when unreadable. */
static int window_pair(const char *v, char *out, size_t len)
{
    long n[2];
    const char *p = v;
    for (int i = 0; i < 2; i++) {
        while (*p == '(' || *p == '[' || *p == ' ' || (i && *p == ','))
            p++;
        char *end;
        n[i] = strtol(p, &end, 10);
        if (end == p)
            return -1;
        p = end;
    }
    while (*p == ')' || *p == ']' || *p == ' ')
        p++;
    if (*p)
        return -1;
    snprintf(out, len, "[%ld, %ld]", n[0], n[1]);
    return 0;
}

/* moe-layer-freq: N, [0,1,...] or Megatron's ([0]*3+[1]*58). Writes our
 * YAML value; -1 when unreadable. */
static int layer_freq(const char *v, char *out, size_t len)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*end && end != v) {
        snprintf(out, len, "%ld", n);
        return n > 0 ? 0 : -1;
    }
    size_t used = (size_t)snprintf(out, len, "[");
    int items = 0;
    const char *p = v;
    while (*p) {
        while (*p == '(' || *p == ')' || *p == '+' || *p == ',' || *p == ' ')
            p++;
        if (!*p)
            break;
        if (*p != '[')
            return -1;
        /* [a, b, ...] possibly followed by *k */
        const char *close = strchr(p, ']');
        if (!close)
            return -1;
        int vals[CS_MAX_LAYERS], nv = 0;
        for (const char *q = p + 1; q < close && nv < CS_MAX_LAYERS;) {
            while (q < close && (*q == ' ' || *q == ','))
                q++;
            if (q >= close)
                break;
            if (*q != '0' && *q != '1')
                return -1;
            vals[nv++] = *q++ - '0';
        }
        p = close + 1;
        long times = 1;
        if (*p == '*') {
            times = strtol(p + 1, &end, 10);
            if (end == p + 1 || times < 1)
                return -1;
            p = end;
        }
        for (long t = 0; t < times; t++)
            for (int k = 0; k < nv; k++) {
                if (++items > CS_MAX_LAYERS || used + 4 >= len)
                    return -1;
                used += (size_t)snprintf(out + used, len - used, "%s%d", items > 1 ? ", " : "",
                                         vals[k]);
            }
    }
    if (!items || used + 2 >= len)
        return -1;
    snprintf(out + used, len - used, "]");
    return 0;
}

/* The vocabulary of tokenizers Megatron-LM names, when --vocab-size is not
 * given: GPT-2's BPE (50,257 tokens: openai-community/gpt2 config.json
 * vocab_size) and Llama 2's SentencePiece (32,000: meta-llama/Llama-2-7b-hf
 * config.json vocab_size). */
static long tokenizer_vocab(const char *type)
{
    if (!strcmp(type, "GPT2BPETokenizer"))
        return 50257;
    if (!strcmp(type, "Llama2Tokenizer"))
        return 32000;
    return 0;
}

typedef struct layout_args {
    long tp, pp, ep, etp, cp, vpp, layers_per_virtual, at_layers_per_virtual;
    char from[512];
} layout_args;

/* One special flag at `at` with its n values. */
static void special_flag(importer *im, long at, long n, layout_args *L)
{
    const char *flag = im->in->args[at].text + 2, *v = n > 0 ? im->in->args[at + 1].text : NULL;
    char from[160];
    from_text(im, at, n, from, sizeof from);
    long x = v ? strtol(v, NULL, 10) : 0;
    long *size = !strcmp(flag, "tensor-model-parallel-size")     ? &L->tp
                 : !strcmp(flag, "pipeline-model-parallel-size") ? &L->pp
                 : !strcmp(flag, "expert-model-parallel-size")   ? &L->ep
                 : !strcmp(flag, "expert-tensor-parallel-size")  ? &L->etp
                 : !strcmp(flag, "context-parallel-size")        ? &L->cp
                 : !strcmp(flag, "virtual-pipeline-model-parallel-size") ? &L->vpp
                 : !strcmp(flag, "num-virtual-stages-per-pipeline-rank") ? &L->vpp
                 : !strcmp(flag, "num-layers-per-virtual-pipeline-stage") ? &L->layers_per_virtual
                                                                        : NULL;
    if (!in_list(switches, flag) && n < 1) {
        fail(im, at, "%s needs a value", im->in->args[at].text);
        return;
    }
    if (size || !strcmp(flag, "micro-batch-size") ||
        !strcmp(flag, "num-query-groups") || !strcmp(flag, "recompute-num-layers") ||
        !strcmp(flag, "train-samples") || !strcmp(flag, "train-iters")) {
        char *end;
        x = strtol(v, &end, 10);
        if (*end || end == v || x < 1) {
            fail(im, at + 1, "'%s' is not a whole number of at least 1", v);
            return;
        }
    }
    if (size) {
        *size = x;
        if (size == &L->layers_per_virtual)
            L->at_layers_per_virtual = at;
        size_t used = strlen(L->from);
        snprintf(L->from + used, sizeof L->from - used, "%s%s", used ? ", " : "", from);
    } else if (!strcmp(flag, "bf16") || !strcmp(flag, "fp16")) {
        if (!get(im, "training.precision") || strcmp(get(im, "training.precision"), "fp8"))
            set(im, "training.precision", flag, from);
    } else if (!strcmp(flag, "fp8-format")) {
        set(im, "training.precision", "fp8", from);
    } else if (!strcmp(flag, "micro-batch-size")) {
        set(im, "training.micro_batch_size", v, from);
    } else if (!strcmp(flag, "recompute-granularity")) {
        if (strcmp(v, "full") && strcmp(v, "selective"))
            fail(im, at, "'%s' is not full or selective", v);
        else
            set(im, "training.recompute", v, from);
    } else if (!strcmp(flag, "recompute-method") || !strcmp(flag, "recompute-num-layers")) {
        if ((!strcmp(flag, "recompute-method") && strcmp(v, "uniform")) ||
            (!strcmp(flag, "recompute-num-layers") && x != 1)) {
            char note[224];
            snprintf(note, sizeof note, "%s (read as full recompute of every layer)", from);
            append(&im->unknown, &im->unknown_len, note);
        }
    } else if (!strcmp(flag, "group-query-attention")) {
        set(im, "_gqa", "1", from);
    } else if (!strcmp(flag, "num-query-groups")) {
        set(im, "_groups", v, from);
    } else if (!strcmp(flag, "multi-latent-attention")) {
        set(im, "_mla", "1", from);
    } else if (!strcmp(flag, "use-rotary-position-embeddings")) {
        set(im, "model.position_embedding_type", "rope", from);
    } else if (!strcmp(flag, "moe-layer-freq")) {
        char list[4 * CS_MAX_LAYERS + 8];
        if (layer_freq(v, list, sizeof list))
            fail(im, at, "'%s' is not a count, a list of 0 and 1, or ([0]*N+[1]*M)", v);
        else
            set(im, "model.moe.layer_freq", list, from);
    } else if (!strcmp(flag, "window-size")) {
        char pair[64];
        if (window_pair(v, pair, sizeof pair))
            fail(im, at + 1, "'%s' is not a window (left,right), e.g. 128,0", v);
        else
            set(im, "model.window_size", pair, from);
    } else if (!strcmp(flag, "window-attn-skip-freq")) {
        char *end;
        long freq = strtol(v, &end, 10);
        if (*end || end == v || freq < 1)
            fail(im, at + 1, "'%s' is not a count (a pattern list is not read)", v);
        else
            set(im, "model.window_attn_skip_freq", v, from);
    } else if (!strcmp(flag, "tokenizer-type")) {
        set(im, "_tokenizer", v, from);
    } else if (!strcmp(flag, "vocab-file") || !strcmp(flag, "merge-file")) {
        set(im, !strcmp(flag, "vocab-file") ? "_vocab_file" : "_merge_file", v, from);
    } else if (!strcmp(flag, "train-samples") || !strcmp(flag, "train-iters")) {
        set(im, !strcmp(flag, "train-samples") ? "_samples" : "_iters", v, from);
    }
}

static void table_flag(importer *im, long at, long n, const arg_map *a)
{
    char from[160];
    from_text(im, at, a->form == A_VALUE ? (n > 0 ? 1 : 0) : a->form == A_LIST ? n : 0, from,
              sizeof from);
    if (a->form == A_TRUE || a->form == A_FALSE) {
        set(im, a->key, a->form == A_TRUE ? "true" : "false", from);
        return;
    }
    if (a->form == A_LIST) {
        for (long k = 1; k <= n; k++) {
            const char *t = im->in->args[at + k].text;
            if (strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(t)) {
                fail(im, at + k, "'%s' is not a name %s takes", t, im->in->args[at].text);
                return;
            }
        }
        char list[256];
        size_t used = (size_t)snprintf(list, sizeof list, "[");
        for (long k = 1; k <= n && used < sizeof list; k++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k > 1 ? ", " : "",
                                     im->in->args[at + k].text);
        if (used < sizeof list)
            snprintf(list + used, sizeof list - used, "]");
        set(im, a->key, list, from);
        return;
    }
    if (n < 1) {
        fail(im, at, "%s needs a value", im->in->args[at].text);
        return;
    }
    const char *v = spelled(a, im->in->args[at + 1].text, 1);
    if (check_value(im, at + 1, a->key, v) == 0)
        set(im, a->key, v, from);
}

/* What the special flags leave to settle once all are read. */
static void settle(importer *im, const layout_args *L)
{
    if (!get(im, "training.precision"))
        set(im, "training.precision", "bf16",
            "neither --bf16 nor --fp16: Megatron-LM would train in fp32, not modelled");
    im->cur = -1;
    /* Megatron's num_query_groups counts only with --group-query-attention,
     * and defaults to 1 with it (multi-query attention) */
    if (get(im, "_gqa"))
        set(im, "model.num_query_groups", get(im, "_groups") ? get(im, "_groups") : "1",
            get(im, "_groups") ? "--group-query-attention, --num-query-groups"
                               : "--group-query-attention (Megatron-LM's default: 1 group)");
    /* SwiGLU without a width: Megatron-LM's 2/3 of 4h, a multiple of 64 */
    const char *hidden = get(im, "model.hidden_size");
    if (hidden && !get(im, "model.ffn_hidden_size") && get(im, "model.swiglu") &&
        !strcmp(get(im, "model.swiglu"), "true")) {
        char v[24];
        cs_decimal(v, (long)(4.0 * (double)strtol(hidden, NULL, 10) * 2 / 3 / 64) * 64);
        set(im, "model.ffn_hidden_size", v, "--swiglu without --ffn-hidden-size: "
                                            "int(4 h 2/3 / 64) 64, as Megatron-LM");
    }
    if (get(im, "_mla")) {
        static const char *const needed[] = {"model.mla.kv_lora_rank", "model.mla.qk_head_dim",
                                             "model.mla.v_head_dim"};
        for (size_t i = 0; i < COUNT(needed); i++)
            if (!get(im, needed[i])) {
                fail(im, where(im, "_mla", 0),
                     "--multi-latent-attention needs --kv-lora-rank, --qk-head-dim and "
                     "--v-head-dim (their defaults are not read)");
                break;
            }
    } else
        for (int i = 0; i < im->n; i++)
            if (!strncmp(im->e[i].key, "model.mla.", 10))
                im->e[i].key[0] = '_'; /* the MLA sizes mean nothing without the flag */
    /* Megatron-LM reads the sharding strategy only with Megatron-FSDP (a
     * Bridge config prints its default, no_shard, either way). */
    if (!get(im, "training.use_megatron_fsdp"))
        for (int i = 0; i < im->n; i++)
            if (!strcmp(im->e[i].key, "training.data_parallel_sharding_strategy")) {
                char note[160];
                snprintf(note, sizeof note,
                         "--data-parallel-sharding-strategy %.40s (read only with "
                         "--use-megatron-fsdp)",
                         im->e[i].value);
                im->e[i].key[0] = '_';
                append(&im->skipped, &im->skipped_len, note);
            }
    if (!get(im, "model.vocab_size")) {
        const char *type = get(im, "_tokenizer");
        if (!type && get(im, "_vocab_file") && get(im, "_merge_file"))
            type = "GPT2BPETokenizer";
        long vocab = type ? tokenizer_vocab(type) : 0;
        char v[24], from[96];
        if (vocab) {
            cs_decimal(v, vocab);
            snprintf(from, sizeof from, "the %s vocabulary", type);
            set(im, "model.vocab_size", v, from);
        } else
            fail(im, where(im, "_tokenizer", 0),
                 "no --vocab-size and no tokenizer whose size is known "
                 "(GPT2BPETokenizer, Llama2Tokenizer): give --vocab-size");
    }
    long layers = get(im, "model.num_layers") ? strtol(get(im, "model.num_layers"), NULL, 10) : 0;
    long vpp = L->vpp;
    /* Megatron-LM counts the embedding and the loss as a layer each when
     * they are accounted for in the split */
    const char *emb = get(im, "training.account_for_embedding_in_pipeline_split");
    const char *loss = get(im, "training.account_for_loss_in_pipeline_split");
    layers += (emb && !strcmp(emb, "true")) + (loss && !strcmp(loss, "true"));
    if (L->layers_per_virtual > 0 && layers > 0 && L->pp > 0) {
        if (layers % L->pp || (layers / L->pp) % L->layers_per_virtual)
            fail(im, L->at_layers_per_virtual,
                 "%ld layers (with the embedding and loss if counted) over %ld pipeline stages "
                 "do not split into virtual stages of %ld layers (as Megatron-LM asserts)",
                 layers, L->pp, L->layers_per_virtual);
        else
            vpp = layers / L->pp / L->layers_per_virtual;
    }
    if (vpp > 1) {
        char v[24];
        cs_decimal(v, vpp);
        set(im, "training.schedule", "interleaved", L->from);
        set(im, "training.virtual_pipeline_stages", v, L->from);
    }
    const char *seq = get(im, "training.seq_length"), *gbs = get(im, "training.global_batch_size");
    const char *samples = get(im, "_samples"), *iters = get(im, "_iters");
    if (seq && (samples || (iters && gbs))) {
        double tokens = samples ? strtod(samples, NULL) * strtod(seq, NULL)
                                : strtod(iters, NULL) * strtod(gbs, NULL) * strtod(seq, NULL);
        char v[40];
        cs_exact_number(v, sizeof v, tokens);
        set(im, "training.tokens", v, samples ? "--train-samples x --seq-length"
                                              : "--train-iters x --global-batch-size x --seq-length");
    }
}

static void write_section(FILE *out, const importer *im, const char *prefix, const char *indent)
{
    size_t n = strlen(prefix);
    for (int i = 0; i < im->n; i++) {
        const char *key = im->e[i].key;
        if (strncmp(key, prefix, n) || strchr(key + n, '.'))
            continue;
        int w = fprintf(out, "%s%s: %s", indent, key + n, im->e[i].value);
        fprintf(out, "%*s # %s\n", w < 44 ? 44 - w : 0, "", im->e[i].from);
    }
}

static void write_scenario(FILE *out, const importer *im, const layout_args *L)
{
    const cs_import *in = im->in;
    fprintf(out, "# Imported by `clustersim import megatron` from %s (%ld arguments): each\n"
                 "# key names the arguments it came from; Megatron-LM's own defaults are\n"
                 "# written where they are not clustersim's.\n",
            in->source ? in->source : "the command line", in->count);
    if (im->skipped)
        fprintf(out, "# Not converted, as they change neither time nor memory: %s\n", im->skipped);
    if (im->unknown)
        fprintf(out, "# Not converted (not modelled, or not known here): %s\n", im->unknown);
    fprintf(out, "name: %s\nmodel:\n  name: %s\n", in->name, in->name);
    write_section(out, im, "model.", "  ");
    int moe = 0, mla = 0;
    for (int i = 0; i < im->n; i++) {
        moe |= !strncmp(im->e[i].key, "model.moe.", 10);
        mla |= !strncmp(im->e[i].key, "model.mla.", 10);
    }
    if (moe) {
        fprintf(out, "  moe:\n");
        write_section(out, im, "model.moe.", "    ");
    }
    if (mla) {
        fprintf(out, "  mla:\n");
        write_section(out, im, "model.mla.", "    ");
    }
    fprintf(out, "cluster:\n  base: %s\n  nodes: %ld\ntraining:\n", in->cluster, in->nodes);
    write_section(out, im, "training.", "  ");
    char name[96];
    int used = snprintf(name, sizeof name, "tp%ld-pp%ld", L->tp, L->pp);
    if (L->ep > 1)
        used += snprintf(name + used, sizeof name - (size_t)used, "-ep%ld", L->ep);
    if (L->etp > 0 && L->etp != L->tp)
        used += snprintf(name + used, sizeof name - (size_t)used, "-etp%ld", L->etp);
    if (L->cp > 1)
        snprintf(name + used, sizeof name - (size_t)used, "-cp%ld", L->cp);
    fprintf(out, "layouts:\n  - name: %s\n    tp: %ld\n    pp: %ld\n", name, L->tp, L->pp);
    if (L->ep > 1 || L->etp > 0)
        fprintf(out, "    ep: %ld\n", L->ep);
    if (L->etp > 0)
        fprintf(out, "    etp: %ld\n", L->etp);
    if (L->cp > 1)
        fprintf(out, "    cp: %ld\n", L->cp);
    fprintf(out, "# layout from: %s\n", L->from[0] ? L->from : "Megatron-LM's defaults (1)");
}

/* The arguments with each "--flag=value" as "--flag" "value", as argparse
 * reads it (the value's column past the '='); NULL when out of memory. The
 * texts live in *store. */
static cs_arg *split_equals(const cs_import *in, long *count, char **store)
{
    size_t bytes = 0;
    long n = in->count;
    for (long i = 0; i < in->count; i++) {
        bytes += strlen(in->args[i].text) + 2;
        n += is_flag(in->args[i].text) && strchr(in->args[i].text, '=') != NULL;
    }
    cs_arg *out = malloc((size_t)n * sizeof *out);
    char *buf = malloc(bytes + 1), *w = buf;
    if (!out || !buf) {
        free(out);
        free(buf);
        return NULL;
    }
    long k = 0;
    for (long i = 0; i < in->count; i++) {
        const cs_arg *a = &in->args[i];
        const char *eq = is_flag(a->text) ? strchr(a->text, '=') : NULL;
        size_t len = eq ? (size_t)(eq - a->text) : strlen(a->text);
        memcpy(w, a->text, len);
        w[len] = '\0';
        out[k++] = (cs_arg){w, a->line, a->col};
        w += len + 1;
        if (eq) {
            size_t rest = strlen(eq + 1);
            memcpy(w, eq + 1, rest + 1);
            out[k++] = (cs_arg){w, a->line, a->line ? a->col + (long)len + 1 : a->col};
            w += rest + 1;
        }
    }
    *count = k;
    *store = buf;
    return out;
}

/* An argument with a control character (a newline in a quoted value):
 * refused, as it could not be written into the scenario's comments. */
static int has_control(const char *t)
{
    for (; *t; t++)
        if ((unsigned char)*t < 0x20 || *t == 0x7f)
            return 1;
    return 0;
}

static int import_args(importer *im, FILE *out);

int cs_megatron_import(FILE *out, const cs_import *given, FILE *err)
{
    if (given->count < 1) {
        fprintf(err, "clustersim import megatron: no arguments to import\n");
        return -1;
    }
    importer *im = calloc(1, sizeof *im);
    cs_import in = *given;
    char *store = NULL;
    cs_arg *args = im ? split_equals(given, &in.count, &store) : NULL;
    if (!args) {
        fprintf(err, "clustersim import megatron: out of memory\n");
        free(im);
        return -1;
    }
    in.args = args;
    im->in = &in;
    im->err = err;
    im->cur = -1;
    int rc = import_args(im, out);
    free(im->skipped);
    free(im->unknown);
    free(im);
    free(args);
    free(store);
    return rc;
}

static int import_args(importer *im, FILE *out)
{
    const cs_import *in = im->in;
    layout_args L = {.tp = 1, .pp = 1, .ep = 1, .cp = 1, .from = ""};
    for (long at = 0; at < in->count; at++)
        if (has_control(in->args[at].text))
            fail(im, at, "an argument holds a control character (a line break in quotes?)");
    if (im->failed)
        return -1;
    for (long at = 0; at < in->count; at++) {
        const char *text = in->args[at].text;
        long n = values_after(im, at);
        im->cur = at;
        if (!is_flag(text)) {
            fail(im, at, "'%s' is not a --flag (nor the value of one)", text);
            continue;
        }
        const char *flag = text + 2;
        const arg_map *a = find_flag(flag);
        char from[160];
        from_text(im, at, n, from, sizeof from);
        long takes = n; /* unknown flags keep every value after them */
        if (a)
            takes = a->form == A_LIST ? n : a->form == A_VALUE ? 1 : 0;
        else if (in_list(special, flag))
            takes = in_list(switches, flag) ? 0 : 1;
        if (n > takes && (a || in_list(special, flag))) {
            fail(im, at + takes + 1, "%s takes %s; '%s' is not a --flag",
                 text, takes ? "one value" : "no value", im->in->args[at + takes + 1].text);
            at += n;
            continue;
        }
        if (a)
            table_flag(im, at, n, a);
        else if (in_list(special, flag))
            special_flag(im, at, n, &L);
        else
            append(in_list(harmless, flag) ? &im->skipped : &im->unknown,
                   in_list(harmless, flag) ? &im->skipped_len : &im->unknown_len, from);
        at += n;
    }
    settle(im, &L);
    /* Megatron's defaults where ours differ and the flag is absent */
    for (size_t i = 0; i < COUNT(table) && !im->failed; i++)
        if (table[i].absent && !get(im, table[i].key)) {
            char from[96];
            snprintf(from, sizeof from, "Megatron-LM's default (no --%s)", table[i].flag);
            set(im, table[i].key, table[i].absent, from);
        }
    int rc = im->failed ? -1 : 0;
    if (!rc)
        write_scenario(out, im, &L);
    return rc;
}

/* A '\\' ending its line (before "\n", "\r\n" or the text's end): a
 * continuation, as in a launch script. */
static int continuation(const char *p)
{
    return p[0] == '\\' && (p[1] == '\n' || !p[1] || (p[1] == '\r' && p[2] == '\n'));
}

long cs_megatron_split(const char *text, cs_arg **out, char **store)
{
    size_t len = strlen(text);
    char *buf = malloc(len + 1);
    long cap = 64, n = 0;
    cs_arg *args = malloc((size_t)cap * sizeof *args);
    if (!buf || !args) {
        free(buf);
        free(args);
        return -1;
    }
    long line = 1, col = 1;
    size_t w = 0;
    for (const char *p = text; *p;) {
        if (*p == '\n') {
            line++, col = 1, p++;
            continue;
        }
        if (isspace((unsigned char)*p) || continuation(p)) {
            p++, col++;
            continue;
        }
        if (*p == '#') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (n == cap) {
            cs_arg *grown = realloc(args, (size_t)(cap *= 2) * sizeof *args);
            if (!grown) {
                free(buf);
                free(args);
                return -1;
            }
            args = grown;
        }
        args[n].line = line;
        args[n].col = col;
        args[n].text = (const char *)(uintptr_t)w; /* an offset until buf is final */
        /* a quote ends at its match, or at the end of its line (a shell
         * would refuse it; here the word simply ends there) */
        char quote = 0;
        while (*p && *p != '\n' && (quote || (!isspace((unsigned char)*p) && !continuation(p)))) {
            if (!quote && (*p == '"' || *p == '\'')) {
                quote = *p++;
                col++;
                continue;
            }
            if (quote && *p == quote) {
                quote = 0, p++, col++;
                continue;
            }
            buf[w++] = *p++;
            col++;
        }
        buf[w++] = '\0';
        n++;
    }
    for (long i = 0; i < n; i++)
        args[i].text = buf + (uintptr_t)args[i].text;
    *out = args;
    *store = buf;
    return n;
}
