#include "input/bridge.h"

#include <stdio.h>
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
    {"model", "share_embeddings_and_output_weights", "untie-embeddings-and-output-weights", 0},
    {"model", "add_bias_linear", "disable-bias-linear", 0},
    {"model", "masked_softmax_fusion", "no-masked-softmax-fusion", 0},
    {"model", "bias_dropout_fusion", "no-bias-dropout-fusion", 0},
    {"model", "apply_rope_fusion", "no-rope-fusion", 0},
    {"model", "gradient_accumulation_fusion", "no-gradient-accumulation-fusion", 0},
    /* Megatron-LM's bias_gelu_fusion or bias_swiglu_fusion, by activation */
    {"model", "bias_activation_fusion", "no-bias-swiglu-fusion", 0},
    {"model", "bias_activation_fusion", "no-bias-gelu-fusion", 0},
    {"model", "overlap_p2p_comm", "no-overlap-p2p-communication", 0},
    {"model", "virtual_pipeline_model_parallel_size", "num-virtual-stages-per-pipeline-rank", -1},
    {"model", "num_layers_in_first_pipeline_stage", "decoder-first-pipeline-num-layers", -1},
    {"model", "num_layers_in_last_pipeline_stage", "decoder-last-pipeline-num-layers", -1},
    {"ddp", "grad_reduce_in_fp32", "grad-reduce-in-bf16", 0},
    {"ddp", "use_distributed_optimizer", "use-distributed-optimizer", 1},
    {"ddp", "overlap_grad_reduce", "overlap-grad-reduce", 1},
    {"ddp", "overlap_param_gather", "overlap-param-gather", 1},
    {"optimizer", "use_distributed_optimizer", "use-distributed-optimizer", 1}, /* or ddp's */
    {"optimizer", "clip_grad", "clip-grad", -1},
    {"mixed_precision", "bf16", "bf16", 1},
    {"mixed_precision", "fp16", "fp16", 1},
    {"mixed_precision", "fp8", "fp8-format", -1},
    {"mixed_precision", "fp8_recipe", "fp8-recipe", -1}, /* read only with fp8: see key() */
    {"mixed_precision", "fp8_param_gather", "fp8-param-gather", 1},
    {"mixed_precision", "first_last_layers_bf16", "first-last-layers-bf16", 1},
    {"mixed_precision", "num_layers_at_start_in_bf16", "num-layers-at-start-in-bf16", -1},
    {"mixed_precision", "num_layers_at_end_in_bf16", "num-layers-at-end-in-bf16", -1},
    {"mixed_precision", "grad_reduce_in_fp32", "grad-reduce-in-bf16", 0}, /* over ddp's */
    {"model", "fp8", "fp8-format", -1},   /* the model's, without mixed_precision */
    {"model", "fp8_recipe", "fp8-recipe", -1},
    {"dataset", "sequence_length", "seq-length", -1},
    {"dataset", "seq_length", "seq-length", -1},
};

/* The model section's keys that mixed_precision says for the run (read
 * from the model only when there is no mixed_precision mapping). */
static const char *const precision_keys[] = {"bf16", "fp16", "fp8", "fp8_recipe", "fp8_param",
                                             "fp8_param_gather", "first_last_layers_bf16",
                                             "num_layers_at_start_in_bf16",
                                             "num_layers_at_end_in_bf16", NULL};

/* Keys whose values (not switches) change time or memory and that the
 * import does not read: passed on, so listed as not converted. Their
 * defaults ("0", "1") are left out. */
static const char *const listed[] = {"pipeline_model_parallel_layout", "cpu_offloading_num_layers",
                                     "moe_router_dtype",
                                     "num_distributed_optimizer_instances",
                                     "activation_func_clamp_value", "optimizer_offload_fraction",
                                     "hierarchical_context_parallel_sizes", "fp4", NULL};

/* The sections read, in the order the arguments are made: a later one's
 * value of a flag wins, as Bridge's mixed_precision wins over ddp's. */
static const char *const sections[] = {"model", "train", "dataset", "ddp", "dist", "optimizer",
                                       "mixed_precision", NULL};

typedef struct builder {
    cs_yfile *f;
    cs_diags *d;
    int fp8;          /* mixed_precision.fp8 is set */
    int moe;          /* model.num_moe_experts is set: the moe_ keys count */
    int run_seq;      /* the dataset says the run's sequence length */
    int model_precision; /* no mixed_precision mapping: the model's fields say it */
    int quick;        /* the GLU's activation is quick_gelu (GPT-OSS) */
    cs_arg *args;
    long n, cap;
    char *store; /* the texts, one after another */
    size_t used, size;
    long *offsets; /* per argument, its text's offset in store until the end */
    int failed;    /* -1 out of memory, 1 a bad value */
} builder;

static int in(const char *const *list, const char *k)
{
    for (; *list; list++)
        if (!strcmp(*list, k))
            return 1;
    return 0;
}

static void add(builder *b, const char *text, size_t len, cs_loc at)
{
    if (b->failed < 0)
        return;
    if (b->n == b->cap) {
        long cap = b->cap ? 2 * b->cap : 64;
        cs_arg *a = realloc(b->args, (size_t)cap * sizeof *a);
        if (a)
            b->args = a;
        long *o = a ? realloc(b->offsets, (size_t)cap * sizeof *o) : NULL;
        if (o)
            b->offsets = o;
        if (!a || !o) {
            b->failed = -1;
            return;
        }
        b->cap = cap;
    }
    if (b->used + len + 1 > b->size) {
        size_t size = (b->size + len + 1) * 2;
        char *s = realloc(b->store, size);
        if (!s) {
            b->failed = -1;
            return;
        }
        b->store = s;
        b->size = size;
    }
    memcpy(b->store + b->used, text, len);
    b->store[b->used + len] = '\0';
    b->offsets[b->n] = (long)b->used;
    b->args[b->n++] = (cs_arg){NULL, at.line, at.col};
    b->used += len + 1;
}

static void add_flag(builder *b, const char *flag, cs_loc at)
{
    char text[160];
    int n = snprintf(text, sizeof text, "--%s", flag);
    add(b, text, n < (int)sizeof text ? (size_t)n : sizeof text - 1, at);
}

static void add_text(builder *b, const char *text, cs_loc at) { add(b, text, strlen(text), at); }

static void bad(builder *b, yaml_node_t *v, const char *k, const char *what)
{
    cs_yfile_report(b->f, b->d, CS_ERROR, v, "%s: %s", k, what);
    b->failed = b->failed < 0 ? b->failed : 1;
}

static const char *scalar(const yaml_node_t *v)
{
    return v && v->type == YAML_SCALAR_NODE ? cs_ynode_text(v) : NULL;
}

static int is_true(const yaml_node_t *v) { return scalar(v) && !strcmp(scalar(v), "true"); }
static int is_false(const yaml_node_t *v) { return scalar(v) && !strcmp(scalar(v), "false"); }

/* Megatron-Core's AttnBackend enum as the attention backend's name. */
static const char *attention_backend(cs_yfile *f, yaml_node_t *v)
{
    static const char *const names[] = {NULL, "flash", "fused", "unfused", "local", "auto"};
    yaml_node_t *a = v->type == YAML_MAPPING_NODE ? cs_ymap_get(f, v, "_args_") : NULL;
    if (!a || a->type != YAML_SEQUENCE_NODE || a->data.sequence.items.top == a->data.sequence.items.start)
        return NULL;
    const char *first = scalar(cs_yfile_node(f, *a->data.sequence.items.start));
    long k = first ? strtol(first, NULL, 10) : 0;
    return k >= 1 && k <= 5 ? names[k] : NULL;
}

/* A list value as Megatron-LM writes it ("[0,1,...]"); 0, or -1 (with an
 * error) when it is not a list of scalars or too long. */
static int join(builder *b, yaml_node_t *v, const char *k, char *out, size_t len)
{
    size_t used = (size_t)snprintf(out, len, "[");
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        const char *item = scalar(cs_yfile_node(b->f, *it));
        if (!item) {
            bad(b, v, k, "a list of single values was expected");
            return -1;
        }
        used += (size_t)snprintf(out + used, len > used ? len - used : 0, "%s%s",
                                 it > v->data.sequence.items.start ? "," : "", item);
        if (used + 2 >= len) {
            bad(b, v, k, "the list is too long to read");
            return -1;
        }
    }
    snprintf(out + used, len - used, "]");
    return 0;
}

/* Mixed precision given by a recipe's name (Bridge's "bf16_mixed",
 * "bf16_with_mxfp8_mixed", ...). */
static void precision_recipe(builder *b, const char *name, cs_loc at)
{
    if (strstr(name, "fp16") && !strstr(name, "bf16")) {
        add_flag(b, "fp16", at);
        return;
    }
    add_flag(b, "bf16", at);
    if (!strstr(name, "fp8"))
        return;
    add_flag(b, "fp8-format", at);
    add_text(b, "hybrid", at);
    const char *recipe = strstr(name, "mxfp8")       ? "mxfp8"
                         : strstr(name, "subchannel") || strstr(name, "blockwise") ? "blockwise"
                         : strstr(name, "current")    ? "tensorwise"
                                                      : "delayed";
    add_flag(b, "fp8-recipe", at);
    add_text(b, recipe, at);
}

/* Whether a key of a section is left out before anything is made of it. */
static int skipped(const builder *b, const char *section, const char *k, yaml_node_t *v)
{
    int model = !strcmp(section, "model"), mp = !strcmp(section, "mixed_precision");
    return cs_ynode_is_null(v) || k[0] == '_' ||
           (model && !strcmp(k, "seq_length") && b->run_seq) ||
           (model && in(precision_keys, k) && !b->model_precision) ||
           ((mp || model) && strstr(k, "layers") && strstr(k, "bf16") && !b->fp8) ||
           ((mp || model) && !strcmp(k, "fp8_recipe") && !b->fp8) ||
           (!strncmp(k, "moe_", 4) && !b->moe);
}

/* The keys read by name before the table and the generic rule. Returns 1
 * when k was one of them. */
static int special_key(builder *b, const char *section, const char *k, yaml_node_t *v, cs_loc at)
{
    if (strcmp(section, "model"))
        return 0;
    if (!strcmp(k, "attention_backend")) {
        const char *name = attention_backend(b->f, v);
        if (name) {
            add_flag(b, "attention-backend", at);
            add_text(b, name, at);
        }
        return 1;
    }
    if (!strcmp(k, "num_query_groups") || !strcmp(k, "num_moe_experts") ||
        !strcmp(k, "seq_length") || !strcmp(k, "gated_linear_unit")) {
        if (!scalar(v)) {
            bad(b, v, k, "a single value was expected");
            return 1;
        }
    }
    if (!strcmp(k, "num_query_groups")) {
        add_flag(b, "group-query-attention", at); /* the groups count only with it */
        add_flag(b, "num-query-groups", at);
        add_text(b, scalar(v), at);
        return 1;
    }
    if (!strcmp(k, "seq_length")) { /* the model's longest sequence, and the
                                       run's when the dataset does not say */
        add_flag(b, "max-position-embeddings", at);
        add_text(b, scalar(v), at);
        if (!b->run_seq) {
            add_flag(b, "seq-length", at);
            add_text(b, scalar(v), at);
        }
        return 1;
    }
    if (!strcmp(k, "gated_linear_unit")) {
        if (is_true(v))
            add_flag(b, b->quick ? "quick-geglu" : "swiglu", at);
        return 1;
    }
    return 0;
}

/* One key of a section: the arguments it stands for. */
static void key(builder *b, const char *section, const char *k, yaml_node_t *v)
{
    cs_loc at = cs_yfile_loc(b->f, v);
    if (skipped(b, section, k, v) || special_key(b, section, k, v, at))
        return;
    if (!strcmp(section, "mixed_precision") && !strcmp(k, "fp8") && !scalar(v)) {
        bad(b, v, k, "a single value was expected");
        return;
    }
    int renamed = 0;
    for (size_t i = 0; i < sizeof renames / sizeof *renames; i++) {
        const bridge_key *r = &renames[i];
        if (strcmp(r->section, section) || strcmp(r->key, k))
            continue;
        renamed = 1;
        if (r->when < 0 && scalar(v)) {
            add_flag(b, r->flag, at);
            add_text(b, scalar(v), at);
        } else if ((r->when == 1 && is_true(v)) || (r->when == 0 && is_false(v)))
            add_flag(b, r->flag, at);
    }
    if (renamed)
        return;
    if (strlen(k) >= 120) {
        bad(b, v, k, "the key is too long to be a setting");
        return;
    }
    char flag[128];
    snprintf(flag, sizeof flag, "%s", k);
    for (char *p = flag; *p; p++)
        if (*p == '_')
            *p = '-';
    /* model, train and ddp hold Megatron-LM's arguments by name; the other
     * sections are read for their renamed keys and switches on */
    int by_name = !strcmp(section, "model") || !strcmp(section, "train") || !strcmp(section, "ddp");
    cs_mflag form = by_name ? cs_megatron_flag(flag) : CS_MFLAG_UNKNOWN;
    char list[4096];
    if (v->type == YAML_SEQUENCE_NODE && (form == CS_MFLAG_VALUE || (in(listed, k)))) {
        if (join(b, v, k, list, sizeof list) == 0) {
            add_flag(b, flag, at);
            add_text(b, list, at);
        }
    } else if (v->type == YAML_SEQUENCE_NODE && form == CS_MFLAG_LIST) {
        add_flag(b, flag, at);
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            yaml_node_t *item = cs_yfile_node(b->f, *it);
            if (scalar(item))
                add_text(b, scalar(item), cs_yfile_loc(b->f, item));
        }
    } else if (!scalar(v))
        return; /* objects: callables, dtypes, the tokenizer */
    else if (form == CS_MFLAG_VALUE) {
        add_flag(b, flag, at);
        add_text(b, scalar(v), at);
    } else if (form == CS_MFLAG_SWITCH && is_true(v))
        add_flag(b, flag, at);
    else if (form == CS_MFLAG_UNKNOWN &&
             (is_true(v) || (!strcmp(k, "optimizer") && strcmp(scalar(v), "adam")) ||
              (in(listed, k) && strcmp(scalar(v), "0") && strcmp(scalar(v), "0.0") &&
               !(!strcmp(k, "num_distributed_optimizer_instances") && !strcmp(scalar(v), "1"))))) {
        /* a switch on, another optimizer, a setting not read: the import
         * lists them */
        add_flag(b, flag, at);
        if (!is_true(v))
            add_text(b, scalar(v), at);
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

static yaml_node_t *section_key(cs_yfile *f, yaml_node_t *root, const char *section,
                                const char *k)
{
    yaml_node_t *s = cs_ymap_get(f, root, section);
    return s && s->type == YAML_MAPPING_NODE ? cs_ymap_get(f, s, k) : NULL;
}

/* What the whole config says before its keys are read one by one. */
static void survey(builder *b, yaml_node_t *root)
{
    yaml_node_t *fp8 = section_key(b->f, root, "mixed_precision", "fp8");
    yaml_node_t *seq = section_key(b->f, root, "dataset", "sequence_length");
    if (!seq)
        seq = section_key(b->f, root, "dataset", "seq_length");
    yaml_node_t *experts = section_key(b->f, root, "model", "num_moe_experts");
    yaml_node_t *mp = cs_ymap_get(b->f, root, "mixed_precision");
    yaml_node_t *act = section_key(b->f, root, "model", "activation_func");
    const char *target = act && act->type == YAML_MAPPING_NODE
                             ? scalar(cs_ymap_get(b->f, act, "_target_"))
                             : NULL;
    b->model_precision = !mp || cs_ynode_is_null(mp); /* a recipe name says it too */
    if (b->model_precision) {
        yaml_node_t *mfp8 = section_key(b->f, root, "model", "fp8");
        b->fp8 = mfp8 && !cs_ynode_is_null(mfp8);
    } else
        b->fp8 = fp8 && !cs_ynode_is_null(fp8);
    b->run_seq = seq && !cs_ynode_is_null(seq);
    b->moe = scalar(experts) && strcmp(scalar(experts), "0");
    b->quick = target && strstr(target, "quick_gelu") != NULL;
}

/* Reads a loaded ConfigContainer and frees it. */
static long read_config(cs_yfile *file, const char *path, cs_arg **args, char **store, cs_diags *d)
{
    cs_yfile f = *file;
    yaml_node_t *root = cs_yfile_root(&f), *model = root ? cs_ymap_get(&f, root, "model") : NULL;
    if (!root || root->type != YAML_MAPPING_NODE || !model || model->type != YAML_MAPPING_NODE) {
        cs_yfile_report(&f, d, CS_ERROR, model ? model : root,
                        "not a Megatron-Bridge ConfigContainer: no model: mapping at the top");
        cs_yfile_free(&f);
        return -1;
    }
    builder b = {0};
    b.f = &f;
    b.d = d;
    survey(&b, root);
    for (const char *const *s = sections; *s && b.failed >= 0; s++) {
        yaml_node_t *sec = cs_ymap_get(&f, root, *s);
        if (sec && !strcmp(*s, "mixed_precision") && scalar(sec) && !cs_ynode_is_null(sec))
            precision_recipe(&b, scalar(sec), cs_yfile_loc(&f, sec));
        if (!sec || sec->type != YAML_MAPPING_NODE)
            continue;
        for (yaml_node_pair_t *p = sec->data.mapping.pairs.start; p < sec->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = cs_yfile_node(&f, p->key), *v = cs_yfile_node(&f, p->value);
            if (scalar(k) && v)
                key(&b, *s, scalar(k), v);
        }
    }
    /* Bridge's comm_overlap config turns overlaps on at run time, which the
     * printed config does not show yet: listed, not read */
    yaml_node_t *co = cs_ymap_get(&f, root, "comm_overlap");
    if (co && !cs_ynode_is_null(co))
        add_flag(&b, "comm-overlap", cs_yfile_loc(&f, co));
    cs_yfile_free(&f);
    if (b.failed) {
        if (b.failed < 0)
            cs_diags_add(d, CS_ERROR, (cs_loc){path, 0, 0}, NULL, 0, "out of memory");
        free(b.args);
        free(b.store);
        free(b.offsets);
        return -1;
    }
    for (long i = 0; i < b.n; i++)
        b.args[i].text = b.store + b.offsets[i];
    free(b.offsets);
    *args = b.args;
    *store = b.store;
    return b.n;
}
