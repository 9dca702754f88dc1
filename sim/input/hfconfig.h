/* hfconfig: a Hugging Face transformers config.json read as a model.
 *
 * Maps the key names of Llama, Mixtral, Qwen-MoE and DeepSeek-style configs
 * onto cs_model (num_hidden_layers -> num_layers, num_key_value_heads ->
 * num_query_groups, num_local_experts / num_experts / n_routed_experts ->
 * moe.num_experts, ...). These families all use gated SiLU MLPs (SwiGLU),
 * RMSNorm and rotary positions, so those are set. Keys clustersim has no use
 * for (dropout, rope scaling, token ids...) are ignored: such files carry
 * dozens of them. What is left out: DeepSeek's multi-token-prediction layers
 * (num_nextn_predict_layers) and Qwen's shared-expert gate (h weights). */
#ifndef CS_HFCONFIG_H
#define CS_HFCONFIG_H

#include "input/config.h"
#include "input/yamlx.h"

/* Applies the config.json whose root mapping is `root` onto m. Reports wrong
 * types and missing essentials in d; returns -1 if there was any. */
int cs_hf_apply(cs_yfile *f, yaml_node_t *root, cs_model *m, cs_diags *d);

#endif
