#include "input/hfconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct hf {
    cs_yfile *f;
    yaml_node_t *root;
    cs_diags *d;
    int rc;
} hf;

/* Reads an integer key of at least `min` if present; 1 if read, 0 if absent,
 * null or refused (reported). */
static int hf_int_min(hf *h, const char *key, long min, long *out)
{
    yaml_node_t *n = cs_ymap_get(h->f, h->root, key);
    if (!n || cs_ynode_is_null(n))
        return 0;
    const char *t = cs_ynode_text(n);
    char *end = NULL;
    errno = 0;
    long v = t ? strtol(t, &end, 10) : 0;
    /* 2^24 bounds every count of a real config.json, and keeps their
     * products (shared experts x width) far from overflowing. */
    static const long most = 1L << 24;
    if (!t || end == t || *end || errno || v < min || v > most) {
        cs_yfile_report(h->f, h->d, CS_ERROR, n, "'%s' must be an integer from %ld to %ld", key,
                        min, most);
        h->rc = -1;
        return 0;
    }
    *out = v;
    return 1;
}

static int hf_int(hf *h, const char *key, long *out) { return hf_int_min(h, key, 0, out); }

static int hf_bool(hf *h, const char *key, int *out)
{
    yaml_node_t *n = cs_ymap_get(h->f, h->root, key);
    const char *t = cs_ynode_text(n);
    if (!n || cs_ynode_is_null(n))
        return 0;
    if (t && (!strcmp(t, "true") || !strcmp(t, "false"))) {
        *out = !strcmp(t, "true");
        return 1;
    }
    cs_yfile_report(h->f, h->d, CS_ERROR, n, "'%s' must be true or false", key);
    h->rc = -1;
    return 0;
}

/* Reports a key the model cannot do without, when absent. */
static void require(hf *h, const char *key)
{
    yaml_node_t *n = cs_ymap_get(h->f, h->root, key);
    if (!n || cs_ynode_is_null(n)) {
        cs_yfile_report(h->f, h->d, CS_ERROR, h->root,
                        "config.json has no '%s'; cannot read it as a model", key);
        h->rc = -1;
    }
}

static void read_moe(hf *h, cs_model *m)
{
    long experts = 0, v;
    if (hf_int(h, "num_local_experts", &v) || hf_int(h, "n_routed_experts", &v) ||
        hf_int(h, "num_experts", &v))
        experts = v;
    if (experts <= 0)
        return;
    m->moe.num_experts = experts;
    if (hf_int(h, "num_experts_per_tok", &v))
        m->moe.router_topk = v;
    m->moe.ffn_hidden_size = m->ffn_hidden_size;
    if (hf_int(h, "moe_intermediate_size", &v))
        m->moe.ffn_hidden_size = v;
    if (hf_int(h, "shared_expert_intermediate_size", &v))
        m->moe.shared_expert_ffn_hidden_size = v;
    /* DeepSeek's node-limited routing; one group is no limit */
    long groups = 0, group_topk = 0;
    if (hf_int(h, "n_group", &groups) && hf_int(h, "topk_group", &group_topk) && groups > 1) {
        m->moe.router_num_groups = groups;
        m->moe.router_group_topk = group_topk;
    }
    long shared = 0;
    if (hf_int(h, "n_shared_experts", &shared))
        m->moe.shared_expert_ffn_hidden_size = shared * m->moe.ffn_hidden_size;
    long freq = 1, first_dense = 0;
    hf_int(h, "decoder_sparse_step", &freq);
    hf_int(h, "moe_layer_freq", &freq);
    hf_int(h, "first_k_dense_replace", &first_dense);
    if (freq < 1)
        freq = 1;
    if (first_dense > 0 && m->num_layers > 0 && m->num_layers <= CS_MAX_LAYERS) {
        /* DeepSeek: layers below first_k_dense_replace are dense, then every
         * moe_layer_freq-th layer is MoE. */
        for (long i = 0; i < m->num_layers; i++)
            m->moe.layer_pattern[i] = i >= first_dense && (i % freq) == 0;
        m->moe.pattern_len = m->num_layers;
    } else if (freq > 1 && m->num_layers > 0 && m->num_layers <= CS_MAX_LAYERS) {
        /* Qwen-MoE: layer i is sparse when (i + 1) % decoder_sparse_step == 0. */
        for (long i = 0; i < m->num_layers; i++)
            m->moe.layer_pattern[i] = (i + 1) % freq == 0;
        m->moe.pattern_len = m->num_layers;
    }
}

static void read_mla(hf *h, cs_model *m)
{
    long kv_lora = 0, v;
    if (!hf_int(h, "kv_lora_rank", &kv_lora) || kv_lora <= 0)
        return;
    m->mla.enabled = 1;
    m->mla.kv_lora_rank = kv_lora;
    if (hf_int(h, "q_lora_rank", &v))
        m->mla.q_lora_rank = v;
    if (hf_int(h, "qk_nope_head_dim", &v))
        m->mla.qk_head_dim = v;
    if (hf_int(h, "qk_rope_head_dim", &v))
        m->mla.qk_pos_emb_head_dim = v;
    if (hf_int(h, "v_head_dim", &v))
        m->mla.v_head_dim = v;
    m->kv_channels = m->mla.v_head_dim;
}

/* Whether a layer_types entry is each kind: 1 sliding, 0 full, -1 neither. */
static int layer_kind(const char *t)
{
    if (t && !strcmp(t, "sliding_attention"))
        return 1;
    return t && !strcmp(t, "full_attention") ? 0 : -1;
}

/* Sliding-window attention: sliding_window keys a query attends, itself
 * included (Megatron's window_size is the keys before it: one less, as
 * Megatron-Bridge's bridges convert it), on the layers layer_types says are
 * "sliding_attention", which must be all of them or all but every N-th
 * (Megatron's window_attn_skip_freq); without layer_types, Gemma 2's every
 * other layer and Gemma 3's sliding_window_pattern, else every layer. Qwen2
 * windows only with use_sliding_window, and its max_window_layers first
 * layers not at all (no skip frequency says that: refused unless it covers
 * every layer or none). */
static void read_window(hf *h, cs_model *m)
{
    long w, freq = 0, layers = 0, sliding = 0, firsts = 0;
    int use = 1;
    hf_bool(h, "use_sliding_window", &use);
    if (!use || !hf_int_min(h, "sliding_window", 1, &w))
        return;
    yaml_node_t *type = cs_ymap_get(h->f, h->root, "model_type");
    const char *t = type ? cs_ynode_text(type) : NULL;
    if (t && !strcmp(t, "gemma2"))
        freq = 2;
    if (t && (!strcmp(t, "gemma3") || !strcmp(t, "gemma3_text")))
        hf_int_min(h, "sliding_window_pattern", 1, &freq);
    yaml_node_t *mwl = cs_ymap_get(h->f, h->root, "max_window_layers");
    if (hf_int(h, "max_window_layers", &firsts) && firsts >= m->num_layers)
        return; /* every layer below it: none windowed */
    if (firsts > 0) {
        cs_yfile_report(h->f, h->d, CS_ERROR, mwl,
                        "'max_window_layers' %ld keeps full attention on the first layers only: no "
                        "window_attn_skip_freq says that",
                        firsts);
        h->rc = -1;
        return;
    }
    yaml_node_t *types = cs_ymap_get(h->f, h->root, "layer_types");
    if (types && types->type == YAML_SEQUENCE_NODE) {
        freq = 0;
        layers = (long)(types->data.sequence.items.top - types->data.sequence.items.start);
        int ok = layers == m->num_layers;
        for (long i = 0; i < layers && ok; i++) {
            yaml_node_t *item = cs_yfile_node(h->f, types->data.sequence.items.start[i]);
            int k = layer_kind(cs_ynode_text(item));
            ok = k >= 0;
            sliding += k == 1;
            if (k == 0 && !freq)
                freq = i + 1;
            ok = ok && k == (freq && (i + 1) % freq == 0 ? 0 : 1);
        }
        if (!ok) {
            cs_yfile_report(h->f, h->d, CS_ERROR, types,
                            "'layer_types' must be \"sliding_attention\" on every layer, or on "
                            "all but every N-th (\"full_attention\"), one per layer, to be read "
                            "as window_attn_skip_freq");
            h->rc = -1;
            return;
        }
        if (!sliding)
            return;
    }
    m->window_size = w - 1;
    m->window_attn_skip_freq = freq;
}

int cs_hf_apply(cs_yfile *f, yaml_node_t *root, cs_model *m, cs_diags *d)
{
    hf h = {f, root, d, 0};
    long v;
    static const char *const essentials[] = {"num_hidden_layers", "hidden_size",
                                             "num_attention_heads", "vocab_size"};
    for (size_t i = 0; i < sizeof essentials / sizeof *essentials; i++)
        require(&h, essentials[i]);
    hf_int_min(&h, "num_hidden_layers", 1, &m->num_layers);
    hf_int_min(&h, "hidden_size", 1, &m->hidden_size);
    hf_int_min(&h, "num_attention_heads", 1, &m->num_attention_heads);
    hf_int(&h, "vocab_size", &m->vocab_size);
    if (hf_int_min(&h, "num_key_value_heads", 1, &v))
        m->num_query_groups = v;
    if (hf_int_min(&h, "head_dim", 1, &v))
        m->kv_channels = v;
    if (hf_int_min(&h, "intermediate_size", 1, &v))
        m->ffn_hidden_size = v;
    if (hf_int(&h, "max_position_embeddings", &v))
        m->max_position_embeddings = v;
    int tied = 0;
    hf_bool(&h, "tie_word_embeddings", &tied);
    m->untie_embeddings_and_output_weights = !tied;
    m->swiglu = 1;
    m->normalization = CS_NORM_RMSNORM;
    m->position_embedding_type = CS_POS_ROPE;
    /* Qwen3's attention norms each query and key head (q_norm, k_norm in
     * modeling_qwen3.py); the file says so only by its model_type. */
    yaml_node_t *type = cs_ymap_get(h.f, h.root, "model_type");
    const char *t = type ? cs_ynode_text(type) : NULL;
    m->qk_layernorm = t && (!strcmp(t, "qwen3") || !strcmp(t, "qwen3_moe"));
    read_moe(&h, m);
    read_mla(&h, m);
    read_window(&h, m);
    return h.rc;
}
