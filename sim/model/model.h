/* model: parameter counts of a transformer, pure arithmetic on cs_model.
 *
 * Counts follow Megatron-LM's theoretical_memory_usage.py: attention
 * 2hq(1 + g/a) for grouped-query attention (q = heads x kv_channels), or the
 * multi-latent-attention terms; MLP matrices x1.5 for SwiGLU; norms h (RMSNorm)
 * or 2h (LayerNorm) twice per layer plus a final one; embedding V h, doubled
 * when input and output embeddings are untied. clustersim adds what that file
 * leaves out: the MoE router (h x experts per MoE layer) and learned absolute
 * position embeddings. Linear-layer biases are not counted (Megatron models
 * since Llama have none; for GPT-3 they are under 0.01% of the total). */
#ifndef CS_MODEL_H
#define CS_MODEL_H

#include "input/config.h"

typedef struct cs_param_counts {
    double attention;     /* one layer's attention block, norms inside MLA included */
    double layer_norms;   /* one layer's two norms */
    double dense_mlp;     /* MLP of one dense layer */
    double expert;        /* one routed expert */
    double shared_expert; /* shared experts of one MoE layer */
    double router;        /* router of one MoE layer */
    double embedding;     /* input embedding (+ learned positions) */
    double output_layer;  /* output projection when untied, else 0 */
    double final_norm;
    double mtp_extra; /* one MTP depth beyond its transformer layer: eh_proj, 3 norms */
    long dense_layers, moe_layers;
    /* total and active count the MTP depths' layers (like the decoder's
     * last) and extras. */
    double total;  /* every parameter */
    double active; /* parameters one token passes through (top-k experts) */
} cs_param_counts;

void cs_model_params(const cs_model *m, cs_param_counts *out);

/* Parameters of layer i outside routed experts (attention, norms, dense MLP or
 * router + shared experts), and the routed experts' parameters of layer i. */
double cs_model_layer_dense_params(const cs_model *m, const cs_param_counts *p, long i);
double cs_model_layer_expert_params(const cs_model *m, const cs_param_counts *p, long i);

#endif
