/* config_model: the model document (Megatron-LM argument names), its
 * defaults, and what follows from its keys (kv_channels, ffn_hidden_size,
 * num_query_groups) once every base is applied. */
#include "input/schema.h"

#include <math.h>
#include <string.h>

static const char *const norm_choices[] = {"layernorm", "rmsnorm", NULL};
static const char *const pos_choices[] = {"rope", "learned_absolute", NULL};

static int layer_freq_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);
static int window_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);

/* Group-limited routing as Megatron's TransformerConfig checks it: both
 * keys or neither, the experts split evenly into the groups, and enough
 * experts in a token's groups for its top-k. */
static int check_router_groups(const cs_moe_config *moe, cs_loc loc, const char *txt, size_t len,
                               cs_diags *d)
{
    long G = moe->router_num_groups, g = moe->router_group_topk;
    const char *why = NULL;
    char buf[160];
    if (!G && !g)
        return 0;
    if (!G || !g)
        why = "moe.router_num_groups and moe.router_group_topk go together: give both";
    else if (moe->num_experts % G) {
        snprintf(buf, sizeof buf, "moe.num_experts %ld is not a multiple of moe.router_num_groups %ld",
                 moe->num_experts, G);
        why = buf;
    } else if (g > G) {
        snprintf(buf, sizeof buf, "moe.router_group_topk %ld is more than moe.router_num_groups %ld",
                 g, G);
        why = buf;
    } else if (moe->router_topk > g * (moe->num_experts / G)) {
        snprintf(buf, sizeof buf,
                 "moe.router_topk %ld is more than the %ld experts of a token's %ld groups",
                 moe->router_topk, g * (moe->num_experts / G), g);
        why = buf;
    }
    if (!why)
        return 0;
    cs_diags_add(d, CS_ERROR, loc, txt, len, "%s", why);
    return -1;
}

static const cs_field moe_fields[] = {
    INT(cs_moe_config, num_experts, 0, 0),
    INT(cs_moe_config, router_topk, 1, 0),
    INT(cs_moe_config, ffn_hidden_size, 1, 0),
    CUSTOM("layer_freq", layer_freq_custom),
    INT(cs_moe_config, shared_expert_ffn_hidden_size, 0, 0),
    QTY(cs_moe_config, capacity_factor, CS_UNIT_RATIO, NULLABLE | POSITIVE),
    INT(cs_moe_config, router_num_groups, 0, 0),
    INT(cs_moe_config, router_group_topk, 0, 0),
};
const cs_schema cs_moe_schema = {"moe", moe_fields, COUNT(moe_fields)};

static const cs_field mla_fields[] = {
    INT(cs_mla_config, q_lora_rank, 0, 0), INT(cs_mla_config, kv_lora_rank, 1, 0),
    INT(cs_mla_config, qk_head_dim, 1, 0), INT(cs_mla_config, qk_pos_emb_head_dim, 0, 0),
    INT(cs_mla_config, v_head_dim, 1, 0),
};
const cs_schema cs_mla_schema = {"mla", mla_fields, COUNT(mla_fields)};

static int mla_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj);

static const cs_field model_fields[] = {
    NAME(cs_model, name),
    IGNORE("base"),
    INT(cs_model, num_layers, 1, REQUIRED),
    INT(cs_model, hidden_size, 1, REQUIRED),
    INT(cs_model, num_attention_heads, 1, REQUIRED),
    INT(cs_model, num_query_groups, 1, 0),
    INT(cs_model, kv_channels, 1, 0),
    INT(cs_model, ffn_hidden_size, 1, 0),
    BOOL(cs_model, swiglu),
    BOOL(cs_model, quick_geglu),
    QTY(cs_model, activation_func_clamp_value, CS_UNIT_RATIO, POSITIVE),
    ENUM(cs_model, normalization, norm_choices),
    INT(cs_model, vocab_size, 0, REQUIRED),
    BOOL(cs_model, untie_embeddings_and_output_weights),
    BOOL(cs_model, qk_layernorm),
    BOOL(cs_model, add_bias_linear),
    INT(cs_model, mtp_num_layers, 0, 0),
    ENUM(cs_model, position_embedding_type, pos_choices),
    INT(cs_model, max_position_embeddings, 1, 0),
    CUSTOM("window_size", window_custom),
    INT(cs_model, window_attn_skip_freq, 1, 0),
    SUB(cs_model, moe, cs_moe_schema),
    CUSTOM_OF("mla", mla_custom, cs_mla_schema),
};
const cs_schema cs_model_schema = {"model", model_fields, COUNT(model_fields)};

void cs_model_defaults(cs_model *m)
{
    memset(m, 0, sizeof *m);
    m->num_layers = m->hidden_size = m->num_attention_heads = UNSET_INT;
    m->vocab_size = UNSET_INT;
    m->num_query_groups = m->kv_channels = m->ffn_hidden_size = UNSET_INT;
    m->max_position_embeddings = UNSET_INT;
    m->window_size = -1;
    m->position_embedding_type = CS_POS_ROPE;
    m->moe.router_topk = 2;
    m->moe.ffn_hidden_size = UNSET_INT;
    m->moe.layer_freq = 1;
}

static int layer_freq_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_moe_config *moe = obj;
    if (n->type != YAML_SEQUENCE_NODE) {
        moe->pattern_len = 0;
        return cs_parse_int(c, f, n, "layer_freq", 1, &moe->layer_freq);
    }
    long count = (long)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count < 1 || count > CS_MAX_LAYERS) {
        REPORT(c, f, n, "'layer_freq' lists %ld layers; expected 1 to %d", count, CS_MAX_LAYERS);
        return -1;
    }
    int rc = 0;
    for (long i = 0; i < count; i++) {
        long v = 0;
        yaml_node_t *item = cs_yfile_node(f, n->data.sequence.items.start[i]);
        if (cs_parse_int(c, f, item, "layer_freq", 0, &v) != 0 || v > 1) {
            if (v > 1)
                REPORT(c, f, item, "'layer_freq' list entries must be 0 (dense) or 1 (MoE)");
            rc = -1;
            continue;
        }
        moe->layer_pattern[i] = (unsigned char)v;
    }
    moe->pattern_len = count;
    return rc;
}

/* window_size: Megatron's (left, right) pair, null for none. A causal
 * model's band has no keys after the query: right must be 0. */
static int window_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_model *m = obj;
    if (cs_ynode_is_null(n)) {
        m->window_size = -1;
        return 0;
    }
    long count = n->type == YAML_SEQUENCE_NODE
                     ? (long)(n->data.sequence.items.top - n->data.sequence.items.start)
                     : 0;
    if (count != 2) {
        REPORT(c, f, n, "'window_size' must be [left, right] (Megatron's pair, e.g. [128, 0]) or "
                        "null");
        return -1;
    }
    long v[2];
    for (int i = 0; i < 2; i++)
        if (cs_parse_int(c, f, cs_yfile_node(f, n->data.sequence.items.start[i]), "window_size", 0,
                         &v[i]) != 0)
            return -1;
    if (v[1] != 0) {
        REPORT(c, f, cs_yfile_node(f, n->data.sequence.items.start[1]),
               "window_size's right side must be 0: keys after the query (a bidirectional "
               "window) are not modelled, decoders are causal");
        return -1;
    }
    m->window_size = v[0];
    return 0;
}

static int mla_custom(cs_ctx *c, cs_yfile *f, yaml_node_t *n, void *obj)
{
    cs_model *m = obj;
    if (cs_ynode_is_null(n)) {
        m->mla.enabled = 0;
        return 0;
    }
    m->mla.enabled = 1;
    int rc = cs_schema_apply(c, f, n, &cs_mla_schema, &m->mla);
    if (!m->mla.kv_lora_rank || !m->mla.qk_head_dim || !m->mla.v_head_dim) {
        REPORT(c, f, n, "mla needs kv_lora_rank, qk_head_dim and v_head_dim");
        rc = -1;
    }
    return rc;
}

/* Every size of the model within bounds no real model comes near, so that
 * the products of them (parameters, FLOPs, bytes, table sizes) never
 * overflow: widths 2^24, heads and experts 2^16 (issue 13). */
static int model_bounded(cs_ctx *c, const cs_model *m, const cs_yfile *f)
{
    static const long wide = 1L << 24, many = 1L << 16;
    const struct {
        const char *key;
        long value, limit;
    } sizes[] = {
        {"hidden_size", m->hidden_size, wide},
        {"ffn_hidden_size", m->ffn_hidden_size, wide},
        {"kv_channels", m->kv_channels, wide},
        {"vocab_size", m->vocab_size, wide},
        {"max_position_embeddings", m->max_position_embeddings, wide},
        {"window_size", m->window_size, wide},
        {"num_attention_heads", m->num_attention_heads, many},
        {"num_query_groups", m->num_query_groups, many},
        {"moe.num_experts", m->moe.num_experts, many},
        {"moe.router_topk", m->moe.router_topk, many},
        {"moe.ffn_hidden_size", m->moe.ffn_hidden_size, wide},
        {"moe.shared_expert_ffn_hidden_size", m->moe.shared_expert_ffn_hidden_size, wide},
        {"mla.q_lora_rank", m->mla.q_lora_rank, wide},
        {"mla.kv_lora_rank", m->mla.kv_lora_rank, wide},
        {"mla.qk_head_dim", m->mla.qk_head_dim, wide},
        {"mla.qk_pos_emb_head_dim", m->mla.qk_pos_emb_head_dim, wide},
        {"mla.v_head_dim", m->mla.v_head_dim, wide},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (sizes[i].value > sizes[i].limit) {
            cs_diags_add(c->diags, CS_ERROR, m->loc, f ? f->text : NULL, f ? f->len : 0,
                         "%s %ld is over the limit of %ld", sizes[i].key, sizes[i].value,
                         sizes[i].limit);
            rc = -1;
        }
    return rc;
}

/* Fills what follows from other keys, then checks the model's own coherence. */
static int model_derive(cs_ctx *c, cs_model *m, const cs_yfile *f)
{
    int rc = 0;
    cs_diags *d = c->diags;
    const char *txt = f ? f->text : NULL;
    size_t len = f ? f->len : 0;
    if (model_bounded(c, m, f) != 0)
        return -1; /* nothing below may multiply them */
    if (m->num_query_groups == UNSET_INT)
        m->num_query_groups = m->num_attention_heads;
    if (m->kv_channels == UNSET_INT && m->num_attention_heads > 0) {
        if (m->hidden_size % m->num_attention_heads) {
            cs_diags_add(d, CS_ERROR, m->loc, txt, len,
                         "hidden_size %ld is not divisible by num_attention_heads %ld; "
                         "give kv_channels",
                         m->hidden_size, m->num_attention_heads);
            rc = -1;
        }
        m->kv_channels = m->hidden_size / m->num_attention_heads;
    }
    if (m->ffn_hidden_size == UNSET_INT)
        m->ffn_hidden_size = 4 * m->hidden_size;
    if (m->moe.ffn_hidden_size == UNSET_INT)
        m->moe.ffn_hidden_size = m->ffn_hidden_size;
    if (m->max_position_embeddings == UNSET_INT)
        m->max_position_embeddings = 0;
    if (m->num_attention_heads % m->num_query_groups) {
        cs_diags_add(d, CS_ERROR, m->loc, txt, len,
                     "num_attention_heads %ld is not divisible by num_query_groups %ld",
                     m->num_attention_heads, m->num_query_groups);
        rc = -1;
    }
    if (m->num_layers > CS_MAX_LAYERS) {
        cs_diags_add(d, CS_ERROR, m->loc, txt, len, "num_layers %ld is over the limit of %d",
                     m->num_layers, CS_MAX_LAYERS);
        rc = -1;
    }
    if (m->mtp_num_layers > m->num_layers) {
        cs_diags_add(d, CS_ERROR, m->loc, txt, len,
                     "mtp_num_layers %ld is more than the model's %ld layers", m->mtp_num_layers,
                     m->num_layers);
        rc = -1;
    }
    if (m->moe.num_experts > 0) {
        if (m->moe.router_topk > m->moe.num_experts) {
            cs_diags_add(d, CS_ERROR, m->loc, txt, len,
                         "moe.router_topk %ld is larger than moe.num_experts %ld",
                         m->moe.router_topk, m->moe.num_experts);
            rc = -1;
        }
        rc |= check_router_groups(&m->moe, m->loc, txt, len, d);
        if (m->moe.pattern_len && m->moe.pattern_len != m->num_layers) {
            cs_diags_add(d, CS_ERROR, m->loc, txt, len,
                         "moe.layer_freq lists %ld layers; the model has %ld", m->moe.pattern_len,
                         m->num_layers);
            rc = -1;
        }
    }
    if (m->window_attn_skip_freq > 0 && m->window_size < 0) {
        cs_diags_add(d, CS_ERROR, m->loc, txt, len,
                     "window_attn_skip_freq %ld needs window_size: it says which layers keep "
                     "full attention among sliding-window ones",
                     m->window_attn_skip_freq);
        rc = -1;
    }
    if (m->swiglu && m->quick_geglu) {
        cs_diags_add(d, CS_ERROR, m->loc, txt, len,
                     "swiglu and quick_geglu both name the MLP's gated activation: choose one");
        rc = -1;
    }
    if (m->position_embedding_type == CS_POS_LEARNED_ABSOLUTE && !m->max_position_embeddings) {
        cs_diags_add(d, CS_ERROR, m->loc, txt, len,
                     "learned_absolute position embeddings need max_position_embeddings");
        rc = -1;
    }
    return rc;
}

int cs_model_finish(cs_ctx *c, cs_model *m)
{
    cs_yfile *f = cs_ctx_file_of(c, m->loc);
    int rc = cs_schema_check_required(c, &cs_model_schema, m, m->loc, f);
    if (rc == 0)
        rc = model_derive(c, m, f);
    return rc;
}

int cs_model_gated(const cs_model *m) { return m->swiglu || m->quick_geglu; }

int cs_model_is_moe_layer(const cs_model *m, long i)
{
    if (m->moe.num_experts <= 0)
        return 0;
    /* A multi-token-prediction layer is built as the decoder's last
     * (Megatron's MTP block spec; num_floating_point_operations counts it so). */
    if (i >= m->num_layers && m->num_layers > 0)
        i = m->num_layers - 1;
    if (m->moe.pattern_len > 0)
        return i < m->moe.pattern_len && m->moe.layer_pattern[i];
    return i % m->moe.layer_freq == 0;
}

long cs_model_layer_window(const cs_model *m, long i)
{
    if (m->window_size < 0 || i < 0 || i >= m->num_layers + m->mtp_num_layers)
        return 0;
    /* an MTP depth's layer is numbered from 1 again, depth by depth
     * (multi_token_prediction.py: "MTP inner layers use their own layer
     * numbering") */
    long number = i < m->num_layers ? i + 1 : i - m->num_layers + 1;
    long freq = m->window_attn_skip_freq;
    return freq > 0 && number % freq == 0 ? 0 : m->window_size + 1;
}
