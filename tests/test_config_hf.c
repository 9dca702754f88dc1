/* config_hf: Hugging Face config.json files as models, and MoE layer patterns. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_test.h"

/* ------------------------------------------------------------------------ */
/* Hugging Face config.json                                                  */

typedef struct hf_run {
    cs_sources src;
    cs_model m;
    cs_diags d;
} hf_run;

static void hf_load(hf_run *h, const char *path)
{
    memset(&h->src, 0, sizeof h->src);
    cs_diags_init(&h->d);
    int rc = cs_model_load(path, &tu_paths, &h->src, &h->m, &h->d);
    if (rc != 0)
        cs_diags_print(&h->d, stderr);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(h->d.errors, 0);
}

static void hf_done(hf_run *h)
{
    cs_sources_free(&h->src);
    cs_diags_free(&h->d);
}

START_TEST(hf_llama3_70b)
{
    hf_run h;
    hf_load(&h, DATA("hf/llama3-70b.json"));
    const cs_model *m = &h.m;
    ck_assert_str_eq(m->name, "llama3-70b");
    ck_assert_int_eq(m->num_layers, 80);
    ck_assert_int_eq(m->hidden_size, 8192);
    ck_assert_int_eq(m->num_attention_heads, 64);
    ck_assert_int_eq(m->num_query_groups, 8);
    ck_assert_int_eq(m->kv_channels, 128);
    ck_assert_int_eq(m->ffn_hidden_size, 28672);
    ck_assert_int_eq(m->vocab_size, 128256);
    ck_assert_int_eq(m->max_position_embeddings, 8192);
    ck_assert_int_eq(m->swiglu, 1);
    ck_assert_int_eq(m->normalization, CS_NORM_RMSNORM);
    ck_assert_int_eq(m->position_embedding_type, CS_POS_ROPE);
    ck_assert_int_eq(m->untie_embeddings_and_output_weights, 1);
    ck_assert_int_eq(m->moe.num_experts, 0);
    ck_assert_int_eq(m->mla.enabled, 0);
    ck_assert_int_eq(m->loc.line, 1);
    ck_assert_int_eq(m->loc.col, 1);
    hf_done(&h);
}
END_TEST

START_TEST(hf_mixtral_8x7b)
{
    hf_run h;
    hf_load(&h, DATA("hf/mixtral-8x7b.json"));
    const cs_model *m = &h.m;
    ck_assert_str_eq(m->name, "mixtral-8x7b");
    ck_assert_int_eq(m->num_layers, 32);
    ck_assert_int_eq(m->hidden_size, 4096);
    ck_assert_int_eq(m->num_attention_heads, 32);
    ck_assert_int_eq(m->num_query_groups, 8);
    ck_assert_int_eq(m->kv_channels, 128);
    ck_assert_int_eq(m->ffn_hidden_size, 14336);
    ck_assert_int_eq(m->vocab_size, 32000);
    ck_assert_int_eq(m->swiglu, 1);
    ck_assert_int_eq(m->normalization, CS_NORM_RMSNORM);
    ck_assert_int_eq(m->untie_embeddings_and_output_weights, 1);
    ck_assert_int_eq(m->moe.num_experts, 8);
    ck_assert_int_eq(m->moe.router_topk, 2);
    ck_assert_int_eq(m->moe.ffn_hidden_size, 14336); /* intermediate_size */
    ck_assert_int_eq(m->moe.shared_expert_ffn_hidden_size, 0);
    ck_assert_int_eq(m->moe.pattern_len, 0);
    ck_assert_int_eq(m->moe.layer_freq, 1);
    for (long i = 0; i < 32; i++)
        ck_assert(cs_model_is_moe_layer(m, i));
    hf_done(&h);
}
END_TEST

START_TEST(hf_qwen_moe)
{
    hf_run h;
    hf_load(&h, DATA("hf/qwen1.5-moe-a2.7b.json"));
    const cs_model *m = &h.m;
    ck_assert_int_eq(m->num_layers, 24);
    ck_assert_int_eq(m->hidden_size, 2048);
    ck_assert_int_eq(m->num_attention_heads, 16);
    ck_assert_int_eq(m->num_query_groups, 16);
    ck_assert_int_eq(m->kv_channels, 128);
    ck_assert_int_eq(m->ffn_hidden_size, 5632);
    ck_assert_int_eq(m->vocab_size, 151936);
    ck_assert_int_eq(m->untie_embeddings_and_output_weights, 1);
    ck_assert_int_eq(m->moe.num_experts, 60);
    ck_assert_int_eq(m->moe.router_topk, 4);
    ck_assert_int_eq(m->moe.ffn_hidden_size, 1408);
    ck_assert_int_eq(m->moe.shared_expert_ffn_hidden_size, 5632);
    /* decoder_sparse_step 1: every layer is MoE. */
    for (long i = 0; i < 24; i++)
        ck_assert(cs_model_is_moe_layer(m, i));
    ck_assert_int_eq(m->qk_layernorm, 0); /* qwen2_moe: no QK norms */
    hf_done(&h);
}
END_TEST

/* sliding_window (the keys a query attends, itself included: Megatron's
 * window_size one less) with the layers layer_types names (GPT-OSS
 * alternates, sliding first: Megatron's window_attn_skip_freq 2); every
 * layer without layer_types (Mistral); Gemma 2's every other layer; none
 * with use_sliding_window false, or with Qwen2's max_window_layers covering
 * every layer; a pattern no skip frequency says, a layer_types of another
 * length and a max_window_layers below the layers are refused. */
START_TEST(hf_sliding_window)
{
    static const char *base = "{ \"num_hidden_layers\": 4, \"hidden_size\": 2880, "
                              "\"num_attention_heads\": 64, \"vocab_size\": 201088, ";
    static const struct {
        const char *rest;
        long window, freq;
    } cases[] = {
        {"\"sliding_window\": 128, \"layer_types\": [\"sliding_attention\", \"full_attention\", "
         "\"sliding_attention\", \"full_attention\"] }",
         127, 2},
        {"\"sliding_window\": 4096 }", 4095, 0},
        {"\"model_type\": \"gemma2\", \"sliding_window\": 4096 }", 4095, 2},
        {"\"sliding_window\": 4096, \"use_sliding_window\": true, \"max_window_layers\": 4 }", -1, 0},
        {"\"sliding_window\": 4096, \"use_sliding_window\": false }", -1, 0},
        {"\"sliding_window\": 4096, \"layer_types\": [\"full_attention\", \"full_attention\", "
         "\"full_attention\", \"full_attention\"] }",
         -1, 0},
    };
    char text[1024];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(text, sizeof text, "%s%s", base, cases[i].rest);
        hf_run h;
        hf_load(&h, tu_write("window.json", text));
        ck_assert_int_eq(h.m.window_size, cases[i].window);
        ck_assert_int_eq(h.m.window_attn_skip_freq, cases[i].freq);
        ck_assert_int_eq(cs_model_layer_window(&h.m, 0), cases[i].window + 1);
        hf_done(&h);
    }
    snprintf(text, sizeof text,
             "%s\"sliding_window\": 128,\n\"layer_types\": [\"sliding_attention\", "
             "\"full_attention\", \"full_attention\", \"sliding_attention\"] }",
             base);
    cs_sources src;
    memset(&src, 0, sizeof src);
    cs_model m;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_model_load(tu_write("window.json", text), &tu_paths, &src, &m, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "'layer_types' must be \"sliding_attention\" on every layer", 2,
                   16);
    cs_sources_free(&src);
    cs_diags_free(&d);
    static const struct {
        const char *rest, *says;
    } bad[] = {
        {"\"sliding_window\": 128,\n\"layer_types\": [\"sliding_attention\", \"full_attention\"] }",
         "one per layer"},
        {"\"sliding_window\": 128, \"use_sliding_window\": true,\n\"max_window_layers\": 2 }",
         "'max_window_layers' 2 keeps full attention on the first layers only"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text, sizeof text, "%s%s", base, bad[i].rest);
        memset(&src, 0, sizeof src);
        cs_diags_init(&d);
        ck_assert_int_eq(cs_model_load(tu_write("window.json", text), &tu_paths, &src, &m, &d), -1);
        tu_assert_diag(&d, CS_ERROR, bad[i].says, 2, bad[i].says[0] == 'o' ? 16 : 22);
        cs_sources_free(&src);
        cs_diags_free(&d);
    }
}
END_TEST

/* Qwen3's model_type turns on the QK norms its attention has. */
START_TEST(hf_qwen3_qk_norms)
{
    const char *path = tu_write("qwen3.json",
                                "{ \"model_type\": \"qwen3_moe\", \"num_hidden_layers\": 48, "
                                "\"hidden_size\": 2048, \"num_attention_heads\": 32, "
                                "\"num_key_value_heads\": 4, \"head_dim\": 128, "
                                "\"vocab_size\": 151936, \"num_experts\": 128, "
                                "\"num_experts_per_tok\": 8, \"moe_intermediate_size\": 768 }");
    hf_run h;
    hf_load(&h, path);
    ck_assert_int_eq(h.m.qk_layernorm, 1);
    hf_done(&h);
}
END_TEST

START_TEST(hf_deepseek_v3)
{
    hf_run h;
    hf_load(&h, DATA("hf/deepseek-v3.json"));
    const cs_model *m = &h.m;
    ck_assert_str_eq(m->name, "deepseek-v3");
    ck_assert_int_eq(m->num_layers, 61);
    ck_assert_int_eq(m->hidden_size, 7168);
    ck_assert_int_eq(m->num_attention_heads, 128);
    ck_assert_int_eq(m->num_query_groups, 128);
    ck_assert_int_eq(m->kv_channels, 128); /* v_head_dim */
    ck_assert_int_eq(m->ffn_hidden_size, 18432);
    ck_assert_int_eq(m->vocab_size, 129280);
    ck_assert_int_eq(m->max_position_embeddings, 163840);
    ck_assert_int_eq(m->untie_embeddings_and_output_weights, 1);
    ck_assert_int_eq(m->moe.num_experts, 256);
    ck_assert_int_eq(m->moe.router_topk, 8);
    ck_assert_int_eq(m->moe.ffn_hidden_size, 2048);
    ck_assert_int_eq(m->moe.shared_expert_ffn_hidden_size, 2048); /* 1 x 2048 */
    ck_assert_int_eq(m->moe.router_num_groups, 8); /* n_group */
    ck_assert_int_eq(m->moe.router_group_topk, 4); /* topk_group */
    /* first_k_dense_replace 3: layers 0-2 dense, 3-60 MoE. */
    ck_assert_int_eq(m->moe.pattern_len, 61);
    for (long i = 0; i < 3; i++)
        ck_assert_msg(!cs_model_is_moe_layer(m, i), "layer %ld", i);
    for (long i = 3; i < 61; i++)
        ck_assert_msg(cs_model_is_moe_layer(m, i), "layer %ld", i);
    /* Index 61 would be an MTP depth, built like the last layer. */
    ck_assert(cs_model_is_moe_layer(m, 61));
    ck_assert_int_eq(m->mla.enabled, 1);
    ck_assert_int_eq(m->mla.q_lora_rank, 1536);
    ck_assert_int_eq(m->mla.kv_lora_rank, 512);
    ck_assert_int_eq(m->mla.qk_head_dim, 128);
    ck_assert_int_eq(m->mla.qk_pos_emb_head_dim, 64);
    ck_assert_int_eq(m->mla.v_head_dim, 128);
    hf_done(&h);
}
END_TEST

/* tests/data/hf/README.md: each config.json loads to the same shapes as the
 * matching preset in models/. */
START_TEST(hf_matches_presets)
{
    static const char *const pairs[][2] = {
        {"hf/llama3-70b.json", "llama3-70b"},
        {"hf/mixtral-8x7b.json", "mixtral-8x7b"},
        {"hf/deepseek-v3.json", "deepseek-v3"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", CS_TEST_DATA, pairs[i][0]);
        hf_run a, b;
        hf_load(&a, path);
        hf_load(&b, pairs[i][1]);
        const cs_model *x = &a.m, *y = &b.m;
        ck_assert_str_eq(x->name, y->name);
        ck_assert_int_eq(x->num_layers, y->num_layers);
        ck_assert_int_eq(x->hidden_size, y->hidden_size);
        ck_assert_int_eq(x->num_attention_heads, y->num_attention_heads);
        ck_assert_int_eq(x->num_query_groups, y->num_query_groups);
        ck_assert_int_eq(x->kv_channels, y->kv_channels);
        ck_assert_int_eq(x->ffn_hidden_size, y->ffn_hidden_size);
        ck_assert_int_eq(x->swiglu, y->swiglu);
        ck_assert_int_eq(x->normalization, y->normalization);
        ck_assert_int_eq(x->vocab_size, y->vocab_size);
        ck_assert_int_eq(x->untie_embeddings_and_output_weights,
                         y->untie_embeddings_and_output_weights);
        ck_assert_int_eq(x->moe.num_experts, y->moe.num_experts);
        if (x->moe.num_experts) {
            ck_assert_int_eq(x->moe.router_topk, y->moe.router_topk);
            ck_assert_int_eq(x->moe.ffn_hidden_size, y->moe.ffn_hidden_size);
            ck_assert_int_eq(x->moe.shared_expert_ffn_hidden_size,
                             y->moe.shared_expert_ffn_hidden_size);
            ck_assert_int_eq(x->moe.router_num_groups, y->moe.router_num_groups);
            ck_assert_int_eq(x->moe.router_group_topk, y->moe.router_group_topk);
            for (long l = 0; l < x->num_layers; l++)
                ck_assert_int_eq(cs_model_is_moe_layer(x, l), cs_model_is_moe_layer(y, l));
        }
        ck_assert_int_eq(x->mla.enabled, y->mla.enabled);
        ck_assert_int_eq(x->mla.q_lora_rank, y->mla.q_lora_rank);
        ck_assert_int_eq(x->mla.kv_lora_rank, y->mla.kv_lora_rank);
        ck_assert_int_eq(x->mla.qk_head_dim, y->mla.qk_head_dim);
        ck_assert_int_eq(x->mla.qk_pos_emb_head_dim, y->mla.qk_pos_emb_head_dim);
        ck_assert_int_eq(x->mla.v_head_dim, y->mla.v_head_dim);
        hf_done(&a);
        hf_done(&b);
    }
}
END_TEST

/* A file's name (without its extension) names the model it defines; the
 * dots inside "qwen1.5-moe-a2.7b" are part of the name. */
START_TEST(hf_default_name_keeps_dots)
{
    hf_run h;
    hf_load(&h, DATA("hf/qwen1.5-moe-a2.7b.json"));
    ck_assert_str_eq(h.m.name, "qwen1.5-moe-a2.7b");
    hf_done(&h);
}
END_TEST

START_TEST(scenario_default_name_keeps_dots)
{
    char path[256];
    snprintf(path, sizeof path, "%s",
             tu_write("run.v2.yaml", "model: moe-30b\ncluster: cluster-512-64gb\n" TRAINING LAYOUTS));
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_scenario_load(path, &tu_paths, &s, &d), 0);
    ck_assert_str_eq(s.name, "run.v2");
    cs_scenario_free(&s);
    cs_diags_free(&d);
}
END_TEST

START_TEST(hf_errors_positioned)
{
    char path[256];
    snprintf(path, sizeof path, "%s",
             tu_write("bad-hf.json", "{\n"
                                     "  \"model_type\": \"llama\",\n"
                                     "  \"num_hidden_layers\": -2,\n"
                                     "  \"hidden_size\": 4096.5,\n"
                                     "  \"num_attention_heads\": 32,\n"
                                     "  \"tie_word_embeddings\": \"maybe\"\n"
                                     "}\n"));
    cs_sources src = {0};
    cs_model m;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_model_load(path, &tu_paths, &src, &m, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "'num_hidden_layers' must be an integer from 1 to 16777216", 3, 24);
    tu_assert_diag(&d, CS_ERROR, "'hidden_size' must be an integer from 1 to 16777216", 4, 18);
    tu_assert_diag(&d, CS_ERROR, "'tie_word_embeddings' must be true or false", 6, 26);
    tu_assert_diag(&d, CS_ERROR, "config.json has no 'vocab_size'; cannot read it as a model", 1,
                   1);
    cs_sources_free(&src);
    cs_diags_free(&d);
}
END_TEST

/* Zero attention heads or KV heads in a config.json is an error at the value,
 * not a model accepted with kv_channels unset or a division by zero. */
static void hf_zero_heads(const char *heads_lines, const char *needle, int line)
{
    char text[512], path[256];
    snprintf(text, sizeof text,
             "{\n"
             "  \"model_type\": \"llama\",\n"
             "  \"num_hidden_layers\": 2,\n"
             "  \"hidden_size\": 64,\n"
             "%s"
             "  \"vocab_size\": 100\n"
             "}\n",
             heads_lines);
    snprintf(path, sizeof path, "%s", tu_write("zero-heads.json", text));
    cs_sources src = {0};
    cs_model m;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_model_load(path, &tu_paths, &src, &m, &d), -1);
    /* "num_attention_heads" and "num_key_value_heads" are both 19
     * characters: the value is at column 26. */
    tu_assert_diag(&d, CS_ERROR, needle, line, 26);
    cs_sources_free(&src);
    cs_diags_free(&d);
}

START_TEST(hf_zero_attention_heads_refused)
{
    hf_zero_heads("  \"num_attention_heads\": 0,\n"
                  "  \"num_key_value_heads\": 4,\n",
                  "'num_attention_heads'", 5);
}
END_TEST

START_TEST(hf_zero_kv_heads_refused)
{
    hf_zero_heads("  \"num_attention_heads\": 4,\n"
                  "  \"num_key_value_heads\": 0,\n",
                  "'num_key_value_heads'", 6);
}
END_TEST

START_TEST(hf_with_overrides_in_scenario)
{
    run r;
    load_ok(&r, "model: {base: " CS_TEST_DATA "/hf/mixtral-8x7b.json, num_layers: 4}\n"
                "cluster: cluster-512-64gb\n" TRAINING LAYOUTS);
    ck_assert_int_eq(r.s.model.num_layers, 4);
    ck_assert_int_eq(r.s.model.hidden_size, 4096);
    ck_assert_int_eq(r.s.model.moe.num_experts, 8);
    ck_assert_str_eq(r.s.model.name, "mixtral-8x7b");
    done(&r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* MoE layer patterns                                                        */

START_TEST(layer_freq_list)
{
    run r;
    load_ok(&r, "model:\n"
                "  base: moe-30b\n"
                "  num_layers: 4\n"
                "  moe: {layer_freq: [1, 0, 0, 1]}\n"
                "cluster: cluster-512-64gb\n" TRAINING LAYOUTS);
    const cs_model *m = &r.s.model;
    ck_assert_int_eq(m->moe.pattern_len, 4);
    ck_assert(cs_model_is_moe_layer(m, 0));
    ck_assert(!cs_model_is_moe_layer(m, 1));
    ck_assert(!cs_model_is_moe_layer(m, 2));
    ck_assert(cs_model_is_moe_layer(m, 3));
    done(&r);

    load_ok(&r, "model:\n"
                "  base: moe-30b\n"
                "  moe: {layer_freq: 3}\n"
                "cluster: cluster-512-64gb\n" TRAINING LAYOUTS);
    m = &r.s.model;
    ck_assert_int_eq(m->moe.layer_freq, 3);
    ck_assert(cs_model_is_moe_layer(m, 0));
    ck_assert(!cs_model_is_moe_layer(m, 1));
    ck_assert(!cs_model_is_moe_layer(m, 2));
    ck_assert(cs_model_is_moe_layer(m, 3));
    ck_assert(cs_model_is_moe_layer(m, 15));
    done(&r);
}
END_TEST

START_TEST(layer_freq_list_wrong_length)
{
    run r;
    load_bad(&r, "model:\n"
                 "  base: moe-30b\n"
                 "  num_layers: 4\n"
                 "  moe:\n"
                 "    layer_freq: [1, 0, 1]\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    /* A check across keys (possibly from different files): at the model. */
    assert_message(&r.d, "layer_freq", "moe.layer_freq lists 3 layers; the model has 4");
    tu_assert_diag(&r.d, CS_ERROR, "moe.layer_freq lists 3 layers; the model has 4", 2, 3);
    done(&r);
}
END_TEST

START_TEST(layer_freq_bad_entries)
{
    run r;
    load_bad(&r, "model:\n"
                 "  base: moe-30b\n"
                 "  num_layers: 4\n"
                 "  moe: {layer_freq: [1, 2, x, 0]}\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             2);
    tu_assert_diag(&r.d, CS_ERROR, "'layer_freq' list entries must be 0 (dense) or 1 (MoE)", 4,
                   25);
    tu_assert_diag(&r.d, CS_ERROR, "'layer_freq' must be an integer, got 'x'", 4, 28);
    done(&r);

    load_bad(&r, "model:\n"
                 "  base: moe-30b\n"
                 "  moe: {layer_freq: 0}\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "'layer_freq' must be at least 1, got 0", 3, 21);
    done(&r);

    load_bad(&r, "model:\n"
                 "  base: moe-30b\n"
                 "  moe: {layer_freq: []}\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "'layer_freq' lists 0 layers; expected 1 to 1024", 3, 21);
    done(&r);
}
END_TEST

START_TEST(model_coherence_errors)
{
    run r;
    load_bad(&r, "model:\n"
                 "  base: moe-30b\n"
                 "  num_query_groups: 5\n"
                 "  moe: {router_topk: 65}\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             2);
    tu_assert_diag(&r.d, CS_ERROR, "num_attention_heads 16 is not divisible by num_query_groups 5",
                   2, 3);
    tu_assert_diag(&r.d, CS_ERROR, "moe.router_topk 65 is larger than moe.num_experts 64", 2, 3);
    done(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config_hf");
    TCase *t_hf = tcase_create("hf");
    tcase_add_test(t_hf, hf_llama3_70b);
    tcase_add_test(t_hf, hf_mixtral_8x7b);
    tcase_add_test(t_hf, hf_qwen_moe);
    tcase_add_test(t_hf, hf_qwen3_qk_norms);
    tcase_add_test(t_hf, hf_sliding_window);
    tcase_add_test(t_hf, hf_deepseek_v3);
    tcase_add_test(t_hf, hf_matches_presets);
    tcase_add_test(t_hf, hf_default_name_keeps_dots);
    tcase_add_test(t_hf, scenario_default_name_keeps_dots);
    tcase_add_test(t_hf, hf_errors_positioned);
    tcase_add_test(t_hf, hf_zero_attention_heads_refused);
    tcase_add_test(t_hf, hf_zero_kv_heads_refused);
    tcase_add_test(t_hf, hf_with_overrides_in_scenario);
    suite_add_tcase(s, t_hf);
    TCase *t_moe = tcase_create("moe");
    tcase_add_test(t_moe, layer_freq_list);
    tcase_add_test(t_moe, layer_freq_list_wrong_length);
    tcase_add_test(t_moe, layer_freq_bad_entries);
    tcase_add_test(t_moe, model_coherence_errors);
    suite_add_tcase(s, t_moe);
    return tu_main(s);
}
