#include "input/bridge.h"

#include <stdlib.h>
#include <string.h>

#include "input/yamlx.h"

/* A section's key whose flag is not the key with '-' for '_', or whose
 * meaning is the switch's opposite. */
typedef struct bridge_key {
    const char *section, *key;
    const char *flag; /* Megatron-LM's, without "--" */
    int when;         /* 1: the switch when the value is true; 0: when false;
                         -1: "--flag value" */
} bridge_key;

static const bridge_key renames[] = {
    {"model", "num_moe_experts", "num-experts", -1},
    {"model", "gated_linear_unit", "swiglu", 1},
    {"model", "share_embeddings_and_output_weights", "untie-embeddings-and-output-weights", 0},
    {"model", "add_bias_linear", "disable-bias-linear", 0},
    {"model", "masked_softmax_fusion", "no-masked-softmax-fusion", 0},
    {"model", "bias_dropout_fusion", "no-bias-dropout-fusion", 0},
    {"model", "apply_rope_fusion", "no-rope-fusion", 0},
    {"model", "gradient_accumulation_fusion", "no-gradient-accumulation-fusion", 0},
    {"model", "bias_activation_fusion", "no-bias-swiglu-fusion", 0},
    {"model", "overlap_p2p_comm", "no-overlap-p2p-communication", 0},
    {"model", "virtual_pipeline_model_parallel_size", "num-virtual-stages-per-pipeline-rank", -1},
    {"model", "num_layers_in_first_pipeline_stage", "decoder-first-pipeline-num-layers", -1},
    {"model", "num_layers_in_last_pipeline_stage", "decoder-last-pipeline-num-layers", -1},
    {"ddp", "grad_reduce_in_fp32", "grad-reduce-in-bf16", 0},
    {"ddp", "use_distributed_optimizer", "use-distributed-optimizer", 1},
    {"ddp", "overlap_grad_reduce", "overlap-grad-reduce", 1},
    {"ddp", "overlap_param_gather", "overlap-param-gather", 1},
    {"mixed_precision", "bf16", "bf16", 1},
    {"mixed_precision", "fp16", "fp16", 1},
    {"mixed_precision", "fp8", "fp8-format", -1},
    {"mixed_precision", "fp8_recipe", "fp8-recipe", -1}, /* read only with fp8: see key() */
    {"mixed_precision", "fp8_param_gather", "fp8-param-gather", 1},
    {"mixed_precision", "first_last_layers_bf16", "first-last-layers-bf16", 1},
    {"mixed_precision", "num_layers_at_start_in_bf16", "num-layers-at-start-in-bf16", -1},
    {"mixed_precision", "num_layers_at_end_in_bf16", "num-layers-at-end-in-bf16", -1},
    {"optimizer", "clip_grad", "clip-grad", -1},
    {"dataset", "sequence_length", "seq-length", -1},
};

/* The model section's keys the other sections say for the run (precision
 * is mixed_precision's, the DDP switches ddp's), or that repeat another. */
static const char *const ignored[] = {"bf16", "fp16", "fp8", "fp8_recipe", "fp8_param",
                                      "fp8_param_gather", "first_last_layers_bf16",
                                      "num_layers_at_start_in_bf16", "num_layers_at_end_in_bf16",
                                      "autocast_dtype", NULL};

/* The sections read, in the order the arguments are made. */
static const char *const sections[] = {"model", "train", "dataset", "ddp", "optimizer",
                                       "mixed_precision", NULL};

typedef struct builder {
    int fp8;      /* mixed_precision.fp8 is set */
    int moe;      /* model.num_moe_experts is set: the moe_ keys count */
    int run_seq;  /* dataset.sequence_length is set (else model.seq_length stands for it) */
    cs_arg *args;
    long n, cap;
    char *store; /* the texts, one after another */
    size_t used, size;
    long *offsets; /* per argument, its text's offset in store until the end */
    int failed;
} builder;

static int add(builder *b, const char *text, size_t len, cs_loc at)
{
    if (b->n == b->cap) {
        long cap = b->cap ? 2 * b->cap : 64;
        cs_arg *a = realloc(b->args, (size_t)cap * sizeof *a);
        long *o = realloc(b->offsets, (size_t)cap * sizeof *o);
        if (a)
            b->args = a;
        if (o)
            b->offsets = o;
        if (!a || !o)
            return b->failed = -1;
        b->cap = cap;
    }
    if (b->used + len + 1 > b->size) {
        size_t size = (b->size + len + 1) * 2;
        char *s = realloc(b->store, size);
        if (!s)
            return b->failed = -1;
        b->store = s;
        b->size = size;
    }
    memcpy(b->store + b->used, text, len);
    b->store[b->used + len] = '\0';
    b->offsets[b->n] = (long)b->used;
    b->args[b->n++] = (cs_arg){NULL, at.line, at.col};
    b->used += len + 1;
    return 0;
}

static void add_flag(builder *b, const char *flag, cs_loc at)
{
    char text[128];
    int n = snprintf(text, sizeof text, "--%s", flag);
    add(b, text, (size_t)n, at);
}

static int is_true(const yaml_node_t *v)
{
    return v->type == YAML_SCALAR_NODE && !strcmp(cs_ynode_text(v), "true");
}

static int is_false(const yaml_node_t *v)
{
    return v->type == YAML_SCALAR_NODE && !strcmp(cs_ynode_text(v), "false");
}

/* Megatron-Core's AttnBackend enum as the attention backend's name. */
static const char *attention_backend(cs_yfile *f, yaml_node_t *v)
{
    static const char *const names[] = {NULL, "flash", "fused", "unfused", "local", "auto"};
    yaml_node_t *a = v->type == YAML_MAPPING_NODE ? cs_ymap_get(f, v, "_args_") : NULL;
    if (!a || a->type != YAML_SEQUENCE_NODE || a->data.sequence.items.top == a->data.sequence.items.start)
        return NULL;
    yaml_node_t *first = cs_yfile_node(f, *a->data.sequence.items.start);
    long k = first && first->type == YAML_SCALAR_NODE ? strtol(cs_ynode_text(first), NULL, 10) : 0;
    return k >= 1 && k <= 5 ? names[k] : NULL;
}

/* One key of a section: the arguments it stands for. */
static void key(builder *b, cs_yfile *f, const char *section, const char *k, yaml_node_t *v)
{
    cs_loc at = cs_yfile_loc(f, v);
    if (cs_ynode_is_null(v) || k[0] == '_' ||
        (!strcmp(section, "model") && !strcmp(k, "seq_length") && b->run_seq) ||
        (!strcmp(section, "mixed_precision") && strstr(k, "layers") && strstr(k, "bf16") &&
         !b->fp8) ||
        (!strcmp(section, "mixed_precision") && !strcmp(k, "fp8_recipe") && !b->fp8) ||
        (!strncmp(k, "moe_", 4) && !b->moe))
        return; /* unset; _target_; the model's longest sequence when the run
                   says its own; the FP8 recipe and BF16 layers without FP8;
                   the MoE knobs of a dense model */
    for (const char *const *i = ignored; !strcmp(section, "model") && *i; i++)
        if (!strcmp(*i, k))
            return;
    if (!strcmp(section, "model") && !strcmp(k, "attention_backend")) {
        const char *name = attention_backend(f, v);
        if (name) {
            add_flag(b, "attention-backend", at);
            add(b, name, strlen(name), at);
        }
        return;
    }
    if (!strcmp(section, "model") && !strcmp(k, "num_query_groups")) {
        add_flag(b, "group-query-attention", at); /* the groups count only with it */
        add_flag(b, "num-query-groups", at);
        add(b, cs_ynode_text(v), strlen(cs_ynode_text(v)), at);
        return;
    }
    for (size_t i = 0; i < sizeof renames / sizeof *renames; i++) {
        const bridge_key *r = &renames[i];
        if (strcmp(r->section, section) || strcmp(r->key, k))
            continue;
        if (r->when < 0 && v->type == YAML_SCALAR_NODE) {
            add_flag(b, r->flag, at);
            add(b, cs_ynode_text(v), strlen(cs_ynode_text(v)), at);
        } else if ((r->when == 1 && is_true(v)) || (r->when == 0 && is_false(v)))
            add_flag(b, r->flag, at);
        return;
    }
    if (strcmp(section, "model") && strcmp(section, "train") && strcmp(section, "ddp"))
        return; /* the other sections' keys: only the renamed ones */
    char flag[128];
    snprintf(flag, sizeof flag, "%s", k);
    for (char *p = flag; *p; p++)
        if (*p == '_')
            *p = '-';
    cs_mflag form = cs_megatron_flag(flag);
    if (v->type == YAML_SEQUENCE_NODE && form == CS_MFLAG_VALUE) {
        /* a list value (moe_layer_freq's pattern) as Megatron-LM writes it */
        char list[4096];
        size_t used = (size_t)snprintf(list, sizeof list, "[");
        for (yaml_node_item_t *it = v->data.sequence.items.start;
             it < v->data.sequence.items.top && used < sizeof list; it++) {
            yaml_node_t *item = cs_yfile_node(f, *it);
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                     it > v->data.sequence.items.start ? "," : "",
                                     item && item->type == YAML_SCALAR_NODE ? cs_ynode_text(item)
                                                                          : "?");
        }
        if (used + 1 < sizeof list) {
            snprintf(list + used, sizeof list - used, "]");
            add_flag(b, flag, at);
            add(b, list, strlen(list), at);
        }
    } else if (v->type == YAML_SEQUENCE_NODE && form == CS_MFLAG_LIST) {
        add_flag(b, flag, at);
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            yaml_node_t *item = cs_yfile_node(f, *it);
            if (item && item->type == YAML_SCALAR_NODE)
                add(b, cs_ynode_text(item), strlen(cs_ynode_text(item)), cs_yfile_loc(f, item));
        }
    } else if (v->type != YAML_SCALAR_NODE)
        return; /* objects: callables, dtypes, the tokenizer */
    else if (form == CS_MFLAG_VALUE) {
        add_flag(b, flag, at);
        add(b, cs_ynode_text(v), strlen(cs_ynode_text(v)), at);
    } else if (form == CS_MFLAG_SWITCH && is_true(v))
        add_flag(b, flag, at);
    else if (form == CS_MFLAG_UNKNOWN && (is_true(v) ||
                                          (!strcmp(k, "data_parallel_sharding_strategy") &&
                                           strcmp(cs_ynode_text(v), "no_shard")))) {
        /* a switch on, or FSDP, that the import does not read: listed there */
        add_flag(b, flag, at);
        if (!is_true(v))
            add(b, cs_ynode_text(v), strlen(cs_ynode_text(v)), at);
    }
}

static long read_config(cs_yfile *f, const char *path, cs_arg **args, char **store, cs_diags *d);

long cs_bridge_args(const char *path, cs_arg **args, char **store, cs_diags *d)
{
    cs_yfile f;
    *args = NULL;
    *store = NULL;
    if (cs_yfile_load(&f, path, d) != 0) {
        cs_yfile_free(&f);
        return -1;
    }
    return read_config(&f, path, args, store, d);
}

long cs_bridge_args_text(const char *name, const char *text, size_t len, cs_arg **args,
                         char **store, cs_diags *d)
{
    cs_yfile f;
    *args = NULL;
    *store = NULL;
    if (cs_yfile_load_buffer(&f, name, text, len, d) != 0) {
        cs_yfile_free(&f);
        return -1;
    }
    return read_config(&f, name, args, store, d);
}

/* Reads a loaded ConfigContainer and frees it. */
static long read_config(cs_yfile *file, const char *path, cs_arg **args, char **store, cs_diags *d)
{
    cs_yfile f = *file;
    yaml_node_t *root = cs_yfile_root(&f);
    if (!root || root->type != YAML_MAPPING_NODE || !cs_ymap_get(&f, root, "model")) {
        cs_yfile_report(&f, d, CS_ERROR, root,
                        "not a Megatron-Bridge ConfigContainer: no model: section at the top");
        cs_yfile_free(&f);
        return -1;
    }
    builder b = {0};
    yaml_node_t *mp = cs_ymap_get(&f, root, "mixed_precision"), *ds = cs_ymap_get(&f, root, "dataset");
    yaml_node_t *fp8 = mp && mp->type == YAML_MAPPING_NODE ? cs_ymap_get(&f, mp, "fp8") : NULL;
    yaml_node_t *seq = ds && ds->type == YAML_MAPPING_NODE ? cs_ymap_get(&f, ds, "sequence_length") : NULL;
    b.fp8 = fp8 && !cs_ynode_is_null(fp8);
    yaml_node_t *model = cs_ymap_get(&f, root, "model");
    yaml_node_t *experts = model->type == YAML_MAPPING_NODE ? cs_ymap_get(&f, model, "num_moe_experts") : NULL;
    b.moe = experts && !cs_ynode_is_null(experts) && strcmp(cs_ynode_text(experts), "0");
    b.run_seq = seq && !cs_ynode_is_null(seq);
    for (const char *const *s = sections; *s && !b.failed; s++) {
        yaml_node_t *sec = cs_ymap_get(&f, root, *s);
        if (!sec || sec->type != YAML_MAPPING_NODE)
            continue;
        for (yaml_node_pair_t *p = sec->data.mapping.pairs.start; p < sec->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = cs_yfile_node(&f, p->key), *v = cs_yfile_node(&f, p->value);
            if (k && v && k->type == YAML_SCALAR_NODE)
                key(&b, &f, *s, cs_ynode_text(k), v);
        }
    }
    cs_yfile_free(&f);
    if (b.failed) {
        free(b.args);
        free(b.store);
        free(b.offsets);
        cs_diags_add(d, CS_ERROR, (cs_loc){path, 0, 0}, NULL, 0, "out of memory");
        return -1;
    }
    for (long i = 0; i < b.n; i++)
        b.args[i].text = b.store + b.offsets[i];
    free(b.offsets);
    *args = b.args;
    *store = b.store;
    return b.n;
}
