/* Parameter counts: closed forms worked by hand, and the shipped public
 * models against their published totals. */
#include <math.h>

#include "model/model.h"
#include "testutil.h"

static void load(const char *name, cs_model *m)
{
    cs_sources src = {0};
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_model_load(name, &tu_paths, &src, m, &d);
    cs_diags_print(&d, stderr);
    ck_assert_int_eq(rc, 0);
    cs_diags_free(&d);
    cs_sources_free(&src);
}

static void assert_near(double got, double want, double rel)
{
    ck_assert_msg(fabs(got - want) <= rel * want, "got %.6g, want %.6g within %.2g%%", got, want,
                  rel * 100);
}

/* GPT-3 175B (Brown et al. 2020): 96 layers of 4h^2 attention + 8h^2 MLP and two
 * LayerNorms (weight + bias), learned positions, tied embeddings. */
START_TEST(gpt3_175b_closed_form_and_published)
{
    cs_model m;
    cs_param_counts p;
    load("gpt3-175b", &m);
    cs_model_params(&m, &p);
    double h = 12288;
    double want = 96 * (12 * h * h + 4 * h) + 50257 * h + 2048 * h + 2 * h;
    ck_assert(p.total == want);
    ck_assert(p.active == p.total);
    assert_near(p.total, 175e9, 0.01);
}
END_TEST

/* Mixtral 8x7B: 46.7B total, 12.9B active (Mistral AI's announcement). */
START_TEST(mixtral_total_and_active)
{
    cs_model m;
    cs_param_counts p;
    load("mixtral-8x7b", &m);
    cs_model_params(&m, &p);
    assert_near(p.total, 46.7e9, 0.005);
    assert_near(p.active, 12.9e9, 0.01);
    /* One expert: 3 matrices of 4096 x 14336. */
    ck_assert(p.expert == 3.0 * 4096 * 14336);
    ck_assert_int_eq(p.moe_layers, 32);
}
END_TEST

START_TEST(llama3_70b)
{
    cs_model m;
    cs_param_counts p;
    load("llama3-70b", &m);
    cs_model_params(&m, &p);
    /* Meta's model card: 70.6B. GQA attention 2hq(1 + 8/64) per layer. */
    assert_near(p.total, 70.6e9, 0.005);
    ck_assert(p.attention == 2.0 * 8192 * 8192 * (1 + 8.0 / 64));
}
END_TEST

/* DeepSeek-V3 technical report: 671B total, 37B activated (main model, without
 * the 14B multi-token-prediction module). */
START_TEST(deepseek_v3)
{
    cs_model m;
    cs_param_counts p;
    load("deepseek-v3", &m);
    cs_model_params(&m, &p);
    assert_near(p.total, 671e9, 0.01);
    assert_near(p.active, 37e9, 0.03);
    ck_assert_int_eq(p.dense_layers, 3);
    ck_assert_int_eq(p.moe_layers, 58);
}
END_TEST

/* One multi-token-prediction depth adds a layer like the decoder's last, an
 * eh_proj of 2h x h and three RMSNorms (Megatron's MultiTokenPredictionLayer).
 * DeepSeek-V3's report counts its MTP module at 14B, which includes the
 * module's own copies of the embedding and output head (2 V h) that
 * Megatron shares with the main model. */
START_TEST(deepseek_v3_mtp)
{
    cs_model m;
    cs_param_counts p, q;
    load("deepseek-v3", &m);
    cs_model_params(&m, &p);
    m.mtp_num_layers = 1;
    cs_model_params(&m, &q);
    double h = 7168, V = (double)m.vocab_size;
    double layer = cs_model_layer_dense_params(&m, &p, 60) + cs_model_layer_expert_params(&m, &p, 60);
    ck_assert_double_eq_tol(q.total - p.total, layer + 2 * h * h + 3 * h, 1);
    ck_assert_int_eq(q.moe_layers, 59);
    assert_near(q.total - p.total + 2 * V * h, 14e9, 0.05);
}
END_TEST

/* The seed's model: 16 layers x 64 experts of 2 x 1024 x 14336. */
START_TEST(seed_moe_30b)
{
    cs_model m;
    cs_param_counts p;
    load("moe-30b", &m);
    cs_model_params(&m, &p);
    double h = 1024, experts = 16.0 * 64 * 2 * h * 14336;
    double dense = 16.0 * (4 * h * h + 4 * h + 64 * h) + 2 * 32000 * h + 2 * h;
    ck_assert(p.total == experts + dense);
    ck_assert(p.active == dense + 16.0 * 2 * 2 * h * 14336);
    assert_near(p.total, 30.2e9, 0.01);
}
END_TEST

/* A Hugging Face config.json counts the same as the YAML preset. */
START_TEST(hf_config_matches_preset)
{
    cs_model yaml, hf;
    cs_param_counts a, b;
    load("mixtral-8x7b", &yaml);
    load(DATA("hf/mixtral-8x7b.json"), &hf);
    cs_model_params(&yaml, &a);
    cs_model_params(&hf, &b);
    ck_assert(a.total == b.total);
    ck_assert(a.active == b.active);
    load("deepseek-v3", &yaml);
    load(DATA("hf/deepseek-v3.json"), &hf);
    cs_model_params(&yaml, &a);
    cs_model_params(&hf, &b);
    ck_assert(a.total == b.total);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("model");
    TCase *t = tcase_create("params");
    tcase_add_test(t, gpt3_175b_closed_form_and_published);
    tcase_add_test(t, mixtral_total_and_active);
    tcase_add_test(t, llama3_70b);
    tcase_add_test(t, deepseek_v3);
    tcase_add_test(t, deepseek_v3_mtp);
    tcase_add_test(t, seed_moe_30b);
    tcase_add_test(t, hf_config_matches_preset);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
