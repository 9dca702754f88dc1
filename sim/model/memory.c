#include "model/memory.h"

#include <math.h>
#include <string.h>

#include "model/kernels.h"
#include "model/model.h"

/* MLP bytes per token of width ffn that are split across tensor ranks. */
static double mlp_split_bytes(const cs_model *m, double ffn)
{
    return (cs_model_gated(m) ? 6.0 : 4.0) * ffn;
}

static double attention_split_bytes(const cs_model *m)
{
    double q, kv;
    if (m->mla.enabled) {
        q = (double)m->num_attention_heads *
            (double)(m->mla.qk_head_dim + m->mla.qk_pos_emb_head_dim);
        kv = ((double)m->num_attention_heads * (double)m->mla.v_head_dim + q) / 2.0;
    } else {
        q = (double)m->num_attention_heads * (double)m->kv_channels;
        kv = (double)m->num_query_groups * (double)m->kv_channels;
    }
    return 2.0 * (2.0 * q + 2.0 * kv);
}

/* The s x s tensors one layer's unfused core attention keeps per
 * micro-batch on one GPU: the softmax output (2 bytes fused, 4 in fp32 from
 * torch's fallback), and with attention dropout its 1-byte mask and 2-byte
 * output (Korthikanti's 5 a s^2 b with the fused softmax). FlashAttention
 * and cuDNN keep none. */
double cs_memory_attention_scores(const cs_model *m, const cs_training *t,
                                  const cs_layout_sizes *z)
{
    if (z->attention == CS_ATTN_FLASH || z->attention == CS_ATTN_FUSED)
        return 0;
    double s = (double)t->seq_length, b = (double)z->micro_batch;
    double a = (double)m->num_attention_heads / (double)z->tp;
    double limit = z->attention == CS_ATTN_LOCAL ? 4096 : 16384;
    int fused = t->masked_softmax_fusion && s > 16 && s <= limit && fmod(s, 4) == 0;
    double probs = !fused && t->attention_softmax_in_fp32 ? 4.0 : 2.0;
    double dropout = t->attention_dropout > 0 ? 3.0 : 0.0;
    return (probs + dropout) * a * s * s * b;
}

/* What FP8 changes in one FP8 layer's saved activations (memory.h): per
 * element of a linear layer's saved input, 1 + sf bytes instead of 2. */
/* Tokens of a sequence one rank holds: context parallelism splits it cp
 * ways (Megatron's get_batch_on_this_cp_rank), and every saved activation
 * with it. */
static double local_seq(const cs_training *t, const cs_layout_sizes *z)
{
    return (double)t->seq_length / (double)(z->cp > 1 ? z->cp : 1);
}

static double fp8_activation_delta(const cs_model *m, const cs_training *t,
                                   const cs_layout_sizes *z, long layer, int moe_saved)
{
    double s = local_seq(t, z), b = (double)z->micro_batch, h = (double)m->hidden_size;
    double tp = (double)z->tp, sb = s * b, e = 1 + cs_kernels_fp8_scale_bytes(t->fp8_recipe);
    double save = 2 - e; /* saved per element where FP8 replaces 16-bit */
    int sp = t->sequence_parallel && z->tp > 1;
    int flash = z->attention == CS_ATTN_FLASH || z->attention == CS_ATTN_FUSED;
    double q = m->mla.enabled ? (double)(m->num_attention_heads * m->mla.v_head_dim)
                              : (double)(m->num_attention_heads * m->kv_channels);
    /* A discarded norm output or activation saves nothing, in FP8 or not
     * (Megatron has the linear layers keep the discarded tensor itself:
     * set_save_original_input). */
    int norms = cs_recomputes(z->recompute, t, CS_RC_LAYERNORM);
    int act = cs_recomputes(z->recompute, t, CS_RC_MOE_ACT);
    double delta = m->mla.enabled && norms ? 0 : -save * sb * h / (sp ? tp : 1); /* QKV input */
    delta += (flash ? e : -save) * sb * q / tp;              /* projection input */
    if (cs_model_is_moe_layer(m, layer) && moe_saved) {
        double k = (double)m->moe.router_topk, etp = (double)z->etp;
        double routed = k * sb * etp / tp;
        double ffn_e = (double)m->moe.ffn_hidden_size, ffn_s = (double)m->moe.shared_expert_ffn_hidden_size;
        delta -= save * routed * (h + (act ? 0 : ffn_e / etp)); /* experts' fc1 and fc2 inputs */
        if (ffn_s > 0)
            delta += (norms ? 0 : e * sb * h / (sp ? tp : 1)) - save * sb * ffn_s / tp;
    } else if (!cs_model_is_moe_layer(m, layer)) {
        delta -= save * sb * h / (sp ? tp : 1);              /* fc1 input */
        delta -= save * sb * (double)m->ffn_hidden_size / tp; /* fc2 input */
    }
    return delta;
}

/* Layer `layer`'s activations; moe_saved: whether its MoE layer keeps what
 * it saved (not under `moe` recompute, which checkpoints the MoELayer and
 * keeps only its input, the pre-MLP norm's output). */
static double layer_activations(const cs_model *m, const cs_training *t, const cs_layout_sizes *z,
                                long layer, int moe_saved)
{
    double s = local_seq(t, z), b = (double)z->micro_batch;
    double h = (double)m->hidden_size, a = (double)m->num_attention_heads;
    double tp = (double)z->tp;
    int sp = t->sequence_parallel && z->tp > 1;
    if (z->recompute == CS_RECOMPUTE_FULL)
        return 2.0 * s * b * h / (sp ? tp : 1.0);
    /* Norm inputs 4, QKV and MLP inputs 2 + 2, two 1-byte dropout masks. */
    double replicated = (8.0 + (t->hidden_dropout > 0 ? 2.0 : 0.0)) * s * b * h;
    double split = s * b * attention_split_bytes(m);
    double routed = 0; /* bytes of routed expert tokens, already per GPU */
    int moe = cs_model_is_moe_layer(m, layer);
    /* layernorm recompute discards the output of each norm that is a module
     * of its own: a MoE layer's pre-MLP norm (the router's input), MLA's
     * input norm (the down projections'), 2 bytes per element each. */
    if (cs_recomputes(z->recompute, t, CS_RC_LAYERNORM))
        replicated -= 2.0 * s * b * h * ((moe ? 1 : 0) + (m->mla.enabled ? 1 : 0));
    if (moe && moe_saved) {
        double k = (double)m->moe.router_topk, etp = (double)z->etp;
        double tokens = k * s * b * etp / tp;
        double ffn_e = (double)m->moe.ffn_hidden_size;
        routed = tokens * (2.0 * h + mlp_split_bytes(m, ffn_e) / etp);
        /* moe_act recompute discards the activation's output, fc2's input */
        if (cs_recomputes(z->recompute, t, CS_RC_MOE_ACT))
            routed -= tokens * 2.0 * ffn_e / etp;
        split += s * b * mlp_split_bytes(m, (double)m->moe.shared_expert_ffn_hidden_size);
        split += 4.0 * s * b * (double)m->moe.num_experts;
    } else if (!moe) {
        split += s * b * mlp_split_bytes(m, (double)m->ffn_hidden_size);
    }
    /* FlashAttention and cuDNN keep the fp32 log-sum-exp per head and token. */
    int flash = z->attention == CS_ATTN_FLASH || z->attention == CS_ATTN_FUSED;
    double lse = flash ? 4.0 * a * s * b / tp : 0;
    double scores = z->recompute == CS_RECOMPUTE_FULL || cs_recomputes(z->recompute, t, CS_RC_CORE_ATTN)
                        ? 0
                        : cs_memory_attention_scores(m, t, z);
    double fp8 = cs_training_layer_fp8(t, m->num_layers, layer)
                     ? fp8_activation_delta(m, t, z, layer, moe_saved)
                     : 0;
    return (sp ? replicated / tp : replicated) + split / tp + scores + lse + routed + fp8;
}

double cs_memory_layer_activations(const cs_model *m, const cs_training *t,
                                   const cs_layout_sizes *z, long layer)
{
    return layer_activations(m, t, z, layer, !cs_recomputes(z->recompute, t, CS_RC_MOE));
}

double cs_memory_moe_rebuilt(const cs_model *m, const cs_training *t, const cs_layout_sizes *z,
                             long layer)
{
    if (!cs_model_is_moe_layer(m, layer) || !cs_recomputes(z->recompute, t, CS_RC_MOE))
        return 0;
    return layer_activations(m, t, z, layer, 1) - layer_activations(m, t, z, layer, 0);
}

double cs_memory_moe_w_inputs(const cs_model *m, const cs_training *t, const cs_layout_sizes *z,
                              long layer)
{
    double rebuilt = cs_memory_moe_rebuilt(m, t, z, layer);
    if (rebuilt <= 0)
        return 0;
    double sb = local_seq(t, z) * (double)z->micro_batch, h = (double)m->hidden_size;
    double etp = (double)z->etp, tp = (double)z->tp;
    double tokens = (double)m->moe.router_topk * sb * etp / tp;
    /* the routed experts' fc1 input (the permuted tokens) and fc2 input,
     * the shared experts' fc2 input; their fc1 input is the layer's kept
     * norm output */
    double w = 2.0 * tokens * (h + (double)m->moe.ffn_hidden_size / etp) +
               2.0 * sb * (double)m->moe.shared_expert_ffn_hidden_size / tp;
    return w < rebuilt ? w : rebuilt;
}

double cs_memory_inflight(cs_schedule s, long p, long v, long m, long stage)
{
    switch (s) {
    case CS_GPIPE:
        return (double)m;
    case CS_INTERLEAVED: {
        long chunks = 2 * (p - stage - 1) + (v - 1) * p + 1;
        if (chunks > m * v)
            chunks = m * v;
        return (double)chunks / (double)v;
    }
    default:
        return (double)(p - stage < m ? p - stage : m);
    }
}

void cs_memory_layer_fp8_params(const cs_model *m, const cs_training *t, long i, double *dense,
                                double *expert)
{
    *dense = *expert = 0;
    if (!cs_training_layer_fp8(t, m->num_layers, i))
        return;
    cs_param_counts pc;
    cs_model_params(m, &pc);
    *dense = cs_model_layer_dense_params(m, &pc, i) - pc.layer_norms -
             (cs_model_is_moe_layer(m, i) ? pc.router : 0);
    *expert = cs_model_layer_expert_params(m, &pc, i);
}

/* Bytes per FP8 weight beyond its 16-bit parameter (memory.h): the FP8 copy
 * and transpose with their scaling factors, less the 16-bit parameter they
 * replace with fp8_param_gather. */
static double fp8_weight_bytes(const cs_training *t)
{
    double sf = cs_kernels_fp8_weight_scale_bytes(t->fp8_recipe);
    return 2 * (1 + sf) - (t->fp8_param_gather ? 2 : 0);
}

/* FP8 weights held by one GPU of `stage` (memory.h), split as stage_params. */
static double stage_fp8_params(const cs_scenario *s, const cs_layout_sizes *z, long stage)
{
    double dense = 0, expert = 0;
    for (long j = 0; j < z->vpp; j++) {
        long first, n = cs_layout_chunk_layers(z, stage, j, &first);
        for (long i = first; i < first + n; i++) {
            double d, e;
            cs_memory_layer_fp8_params(&s->model, &s->training, i, &d, &e);
            dense += d;
            expert += e;
        }
    }
    return dense / (double)z->tp + expert / (double)(z->ep * z->etp);
}

/* Parameters held by one GPU of `stage`, split into dense and expert parts. */
static void stage_params(const cs_scenario *s, const cs_layout_sizes *z, long stage,
                         const cs_param_counts *pc, double *dense, double *expert)
{
    const cs_model *m = &s->model;
    *dense = *expert = 0;
    for (long j = 0; j < z->vpp; j++) {
        long first, n = cs_layout_chunk_layers(z, stage, j, &first);
        for (long i = first; i < first + n; i++) {
            *dense += cs_model_layer_dense_params(m, pc, i);
            *expert += cs_model_layer_expert_params(m, pc, i);
        }
    }
    if (stage == 0)
        *dense += pc->embedding;
    if (stage == z->pp - 1) {
        *dense += pc->final_norm + pc->output_layer;
        /* Tied embeddings keep a copy of the word embedding on the last stage,
         * and so do multi-token-prediction layers (they embed the shifted
         * tokens there). Their layers are counted above, their extras here. */
        if (m->mtp_num_layers > 0 && z->pp > 1)
            *dense += pc->embedding; /* positions included */
        else if (!m->untie_embeddings_and_output_weights && z->pp > 1)
            *dense += (double)m->vocab_size * (double)m->hidden_size;
        *dense += (double)m->mtp_num_layers * pc->mtp_extra;
    }
    *dense /= (double)z->tp;
    *expert /= (double)(z->ep * z->etp);
}

double cs_memory_cp_buffers(const cs_model *m, const cs_training *t, const cs_layout_sizes *z)
{
    if (z->cp <= 1)
        return 0;
    double T = local_seq(t, z) * (double)z->micro_batch, heads = (double)m->num_attention_heads;
    double k = m->mla.enabled ? heads * (double)(m->mla.qk_head_dim + m->mla.qk_pos_emb_head_dim)
                              : (double)(m->num_query_groups * m->kv_channels);
    double v = m->mla.enabled ? heads * (double)m->mla.v_head_dim
                              : (double)(m->num_query_groups * m->kv_channels);
    double kv = 2.0 * T * (k + v) / (double)z->tp, cp = (double)z->cp;
    switch (t->cp_comm_type) {
    case CS_CP_P2P: /* forward: a receive buffer per later step; backward: two of K/V and dK/dV */
        return (cp - 1) * kv > 4 * kv ? (cp - 1) * kv : 4 * kv;
    case CS_CP_ALLGATHER: /* backward: the gathered K/V and the dK/dV to reduce-scatter */
        return 2 * cp * kv;
    default:
        return 0;
    }
}

static double stage_activations(const cs_scenario *s, const cs_layout_sizes *z, long stage,
                                double inflight)
{
    const cs_model *m = &s->model;
    const cs_training *t = &s->training;
    double per_mb = 0;
    for (long j = 0; j < z->vpp; j++) {
        long first, n = cs_layout_chunk_layers(z, stage, j, &first);
        for (long i = first; i < first + n; i++)
            per_mb += cs_memory_layer_activations(m, t, z, i);
    }
    double s_ = local_seq(t, z), b = (double)z->micro_batch, h = (double)m->hidden_size;
    double tp_div = t->sequence_parallel && z->tp > 1 ? (double)z->tp : 1.0;
    /* vocab_size 0: no embedding. Token ids (8 bytes, all of them on every
     * TP rank) and the embedding dropout's mask over the rank's tokens. */
    if (stage == 0 && m->vocab_size > 0)
        per_mb += 8.0 * s_ * b + (t->hidden_dropout > 0 ? s_ * b * h / tp_div : 0);
    /* The output layer's input and logits, once for the decoder and once per
     * MTP depth; a depth also keeps its embedding's token ids and dropout
     * mask, its norms' inputs and eh_proj's [s, b, 2h] input. */
    double depths = (double)m->mtp_num_layers;
    if (stage == z->pp - 1 && m->vocab_size > 0)
        per_mb += (1.0 + depths) * 4.0 * s_ * b * h * (1.0 + (double)m->vocab_size / h) /
                      (double)z->tp +
                  depths * (8.0 * s_ * b * h / tp_div + 8.0 * s_ * b +
                            (t->hidden_dropout > 0 ? s_ * b * h / tp_div : 0));
    return per_mb * inflight + cs_memory_cp_buffers(m, t, z);
}

double cs_memory_fsdp_unit(const cs_scenario *s, const cs_layout_sizes *z, long stage)
{
    cs_param_counts pc;
    cs_model_params(&s->model, &pc);
    double most = 0;
    for (long j = 0; j < z->vpp; j++) {
        long first, n = cs_layout_chunk_layers(z, stage, j, &first);
        for (long i = first; i < first + n; i++) {
            double u = cs_model_layer_dense_params(&s->model, &pc, i) / (double)z->tp +
                       cs_model_layer_expert_params(&s->model, &pc, i) /
                           (double)(z->ep * z->etp);
            most = u > most ? u : most;
        }
    }
    return most;
}

void cs_memory_stage(const cs_scenario *s, const cs_layout_sizes *z, long stage,
                     cs_memory_breakdown *out)
{
    const cs_training *t = &s->training;
    cs_param_counts pc;
    cs_model_params(&s->model, &pc);
    double dense, expert;
    stage_params(s, z, stage, &pc, &dense, &expert);
    memset(out, 0, sizeof *out);
    /* The data-parallel shards: the dense parts over dp x cp ranks, the
     * experts' over the expert DP (cs_training_zero() says what is
     * sharded). Megatron-FSDP shards every gradient (ZeRO-2 and 3) and the
     * layers' parameters (ZeRO-3: the embedding and output layer, not
     * FSDP units, stay whole); it holds gathered layers and unsharded
     * gradients in flight: with fsdp_double_buffer two layers of each (the
     * stage's largest), else what its queues allow, the running layer and
     * prefetches up to 5e8 parameters past it, reductions queued up to 1e9
     * (megatron_fsdp.py's suggested communication unit), at most the
     * stage's layers. */
    int zero = cs_training_zero(t);
    double dense_share = (double)z->dense_dp * (double)(z->cp > 1 ? z->cp : 1);
    double expert_share = z->expert_dp > 0 ? (double)z->expert_dp : 1.0;
    double sharded = dense / dense_share + expert / expert_share;
    double ldense = 0, lexpert = 0;
    for (long j = 0; zero >= 2 && j < z->vpp; j++) {
        long first, n = cs_layout_chunk_layers(z, stage, j, &first);
        for (long i = first; i < first + n; i++) {
            ldense += cs_model_layer_dense_params(&s->model, &pc, i) / (double)z->tp;
            lexpert += cs_model_layer_expert_params(&s->model, &pc, i) / (double)(z->ep * z->etp);
        }
    }
    double unit = zero >= 2 ? cs_memory_fsdp_unit(s, z, stage) : 0, layers = ldense + lexpert;
    double gathered = t->fsdp_double_buffer ? 2 * unit : 2 * unit + 5e8;
    double queued = t->fsdp_double_buffer ? 2 * unit : unit + 1e9;
    gathered = gathered < layers ? gathered : layers;
    queued = queued < layers ? queued : layers;
    double edges = dense - ldense;
    double layers_sharded = ldense / dense_share + lexpert / expert_share;
    out->weights = 2.0 * (zero >= 3 ? layers_sharded + edges + gathered : dense + expert);
    /* ZeRO-3 casts a layer to FP8 from its gathered weights, so its FP8
     * copies are held as far as the gathered window reaches (assumed: TE
     * would keep every layer's if it cached them across micro-batches,
     * which re-gathered weights would make stale). */
    if (t->precision == CS_FP8)
        out->weights += fp8_weight_bytes(t) * stage_fp8_params(s, z, stage) *
                        (zero >= 3 && layers > 0 ? gathered / layers : 1);
    out->gradients = cs_training_grad_bytes(t) * (zero >= 2 ? sharded + queued : dense + expert);
    if (t->optimizer == CS_OPTIMIZER_ADAM)
        out->optimizer = 12.0 * (zero >= 1 ? sharded : dense + expert);
    out->inflight = cs_memory_inflight(z->schedule, z->pp, z->vpp, z->microbatches, stage);
    out->activations = stage_activations(s, z, stage, out->inflight);
    out->reserved = s->cluster.gpu.reserved_memory;
    out->total = out->weights + out->gradients + out->optimizer + out->activations +
                 out->buffers + out->reserved;
}

long cs_memory_peak(const cs_scenario *s, const cs_layout_sizes *z, cs_memory_breakdown *out)
{
    long best = 0;
    for (long stage = 0; stage < z->pp; stage++) {
        cs_memory_breakdown b;
        cs_memory_stage(s, z, stage, &b);
        if (stage == 0 || b.total > out->total) {
            *out = b;
            best = stage;
        }
    }
    return best;
}
