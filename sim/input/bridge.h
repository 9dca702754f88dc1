/* bridge: a Megatron-Bridge (NeMo) ConfigContainer, as its training logs and
 * `--config-file` YAML write it, read as the Megatron-LM arguments it stands
 * for, so that `import megatron` turns it into a scenario (megatron.h).
 *
 * Its sections model (Megatron-Core's TransformerConfig names, most of them
 * Megatron-LM's arguments with '_' for '-'), train, dataset, ddp, optimizer
 * and mixed_precision are read; the names that differ are renamed
 * (num_moe_experts is --num-experts, gated_linear_unit --swiglu,
 * share_embeddings_and_output_weights: false --untie-embeddings-and-output-
 * weights, add_bias_linear: false --disable-bias-linear, the fusions' false
 * their --no-... switches, dataset.sequence_length --seq-length, the DDP
 * config's switches, mixed_precision's bf16, fp16 and fp8). A key that names
 * no flag the import reads is listed, not dropped: as an argument of its own
 * ("--key value"), which the import then lists as not converted. Objects
 * (_target_: ...) are skipped, but for the attention backend's enum. */
#ifndef CS_BRIDGE_H
#define CS_BRIDGE_H

#include "input/megatron.h"

/* Reads the ConfigContainer YAML at path into Megatron-LM arguments, each at
 * its value's line and column (*args and their texts in *store, owned).
 * Returns the count, or -1 with positioned errors in d. */
long cs_bridge_args(const char *path, cs_arg **args, char **store, cs_diags *d);

/* The same from text in memory (`name` for messages). */
long cs_bridge_args_text(const char *name, const char *text, size_t len, cs_arg **args,
                         char **store, cs_diags *d);

#endif
