#include "model/model.h"

/* fc1 (two halves when gated) and fc2, with their biases under
 * add_bias_linear. */
static double mlp_params(const cs_model *m, long ffn)
{
    double f = cs_model_gated(m) ? 3.0 : 2.0, h = (double)m->hidden_size;
    double bias = m->add_bias_linear && ffn > 0 ? (f - 1) * (double)ffn + h : 0;
    return f * h * (double)ffn + bias;
}

static double attention_params(const cs_model *m, double norm)
{
    double h = (double)m->hidden_size, a = (double)m->num_attention_heads;
    if (!m->mla.enabled) {
        double q = a * (double)m->kv_channels;
        double g = (double)m->num_query_groups;
        /* q_layernorm and k_layernorm: one norm of kv_channels each */
        double qk = m->qk_layernorm ? 2.0 * norm * (double)m->kv_channels : 0;
        double bias = m->add_bias_linear ? q * (1.0 + 2.0 * g / a) + h : 0; /* qkv, proj */
        return 2.0 * h * q * (1.0 + g / a) + qk + bias;
    }
    const cs_mla_config *x = &m->mla;
    double qk = (double)(x->qk_head_dim + x->qk_pos_emb_head_dim);
    double q_term = x->q_lora_rank ? (double)x->q_lora_rank * (h + a * qk + norm) : h * a * qk;
    double kv_term = (double)x->kv_lora_rank *
                         (h + a * (double)(x->qk_head_dim + x->v_head_dim) + norm) +
                     h * (double)x->qk_pos_emb_head_dim;
    return q_term + kv_term + a * (double)x->v_head_dim * h;
}

void cs_model_params(const cs_model *m, cs_param_counts *p)
{
    double h = (double)m->hidden_size;
    double norm = m->normalization == CS_NORM_RMSNORM ? 1.0 : 2.0;
    p->attention = attention_params(m, norm);
    p->layer_norms = 2.0 * norm * h;
    p->dense_mlp = mlp_params(m, m->ffn_hidden_size);
    int moe = m->moe.num_experts > 0;
    p->expert = moe ? mlp_params(m, m->moe.ffn_hidden_size) : 0;
    p->shared_expert = moe ? mlp_params(m, m->moe.shared_expert_ffn_hidden_size) : 0;
    p->router = moe ? h * (double)m->moe.num_experts : 0;
    p->embedding = (double)m->vocab_size * h;
    if (m->position_embedding_type == CS_POS_LEARNED_ABSOLUTE)
        p->embedding += (double)m->max_position_embeddings * h;
    p->output_layer = m->untie_embeddings_and_output_weights ? (double)m->vocab_size * h : 0;
    p->final_norm = norm * h;
    /* MultiTokenPredictionLayer: enorm, hnorm and a final norm, and
     * eh_proj [2h -> h] without bias. */
    p->mtp_extra = 3.0 * norm * h + 2.0 * h * h;
    p->dense_layers = p->moe_layers = 0;
    p->total = p->embedding + p->output_layer + p->final_norm;
    p->active = p->total;
    p->total += (double)m->mtp_num_layers * p->mtp_extra;
    p->active += (double)m->mtp_num_layers * p->mtp_extra;
    for (long i = 0; i < m->num_layers + m->mtp_num_layers; i++) {
        double dense = cs_model_layer_dense_params(m, p, i);
        double experts = cs_model_layer_expert_params(m, p, i);
        p->total += dense + experts;
        p->active += dense;
        if (cs_model_is_moe_layer(m, i)) {
            p->moe_layers++;
            p->active += (double)m->moe.router_topk * p->expert;
        } else {
            p->dense_layers++;
        }
    }
}

double cs_model_layer_dense_params(const cs_model *m, const cs_param_counts *p, long i)
{
    double mlp = cs_model_is_moe_layer(m, i) ? p->router + p->shared_expert : p->dense_mlp;
    return p->attention + p->layer_norms + mlp;
}

double cs_model_layer_expert_params(const cs_model *m, const cs_param_counts *p, long i)
{
    return cs_model_is_moe_layer(m, i) ? (double)m->moe.num_experts * p->expert : 0;
}
