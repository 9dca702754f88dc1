/* config_refs: models and clusters by preset name, path and base + overrides;
 * include cycles; every shipped preset loads. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_test.h"

/* ------------------------------------------------------------------------ */
/* References: presets, base + overrides, paths                              */

START_TEST(base_with_nested_partial_override)
{
    run r;
    load_ok(&r, "model: {base: moe-30b, num_layers: 8, moe: {num_experts: 32}}\n"
                "cluster: {base: dgx-h100, nodes: 4, scale_out: {nic_bandwidth: 200 Gb/s}}\n"
                TRAINING LAYOUTS);
    const cs_cluster *k = &r.s.cluster;
    ck_assert_str_eq(k->name, "dgx-h100");
    ck_assert_int_eq(k->nodes, 4);
    ck_assert_int_eq(k->gpus_per_node, 8);
    ck_assert(k->scale_out.nic_bandwidth == 25e9);
    /* The rest of scale_out comes from the base. */
    ck_assert_int_eq(k->scale_out.nics_per_node, 8);
    ck_assert_int_eq(k->scale_out.topology, CS_RAIL_OPTIMIZED);
    ck_assert(k->scale_out.oversubscription == 1.0);
    ck_assert_int_eq(k->scale_out.leaf_radix, 64);
    /* So do gpu and scale_up: exactly the preset's values. */
    cs_sources src = {0};
    cs_cluster base;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_cluster_load("dgx-h100", &tu_paths, &src, &base, &d), 0);
    ck_assert_str_eq(k->gpu.name, base.gpu.name);
    ck_assert(k->gpu.peak_compute == 989e12 && base.gpu.peak_compute == 989e12);
    ck_assert(k->gpu.memory == 80e9);
    ck_assert(k->gpu.memory_bandwidth == 3.35e12);
    ck_assert(memcmp(&k->gpu.matmul_efficiency, &base.gpu.matmul_efficiency,
                     sizeof base.gpu.matmul_efficiency) == 0);
    ck_assert(k->gpu.memory_efficiency.y[0] == base.gpu.memory_efficiency.y[0]);
    ck_assert(k->gpu.kernel_launch == base.gpu.kernel_launch);
    ck_assert(k->gpu.reserved_memory == base.gpu.reserved_memory);
    ck_assert_int_eq(k->scale_up.kind, CS_SCALE_UP_SWITCH);
    ck_assert(k->scale_up.bandwidth == 450e9);
    ck_assert(k->scale_up.latency[CS_PROTO_SIMPLE] == base.scale_up.latency[CS_PROTO_SIMPLE]);
    ck_assert(k->scale_up.efficiency == base.scale_up.efficiency);
    ck_assert(k->scale_out.latency[CS_PROTO_SIMPLE] == base.scale_out.latency[CS_PROTO_SIMPLE]);
    ck_assert(k->scale_out.efficiency == base.scale_out.efficiency);
    cs_sources_free(&src);
    cs_diags_free(&d);
    /* Positions are those of the overriding mapping. */
    ck_assert_int_eq(k->loc.line, 2);
    ck_assert_int_eq(k->loc.col, 10);
    ck_assert_int_eq(k->loc_nodes.line, 2);
    ck_assert_int_eq(k->loc_nodes.col, 34);

    const cs_model *m = &r.s.model;
    ck_assert_str_eq(m->name, "moe-30b");
    ck_assert_int_eq(m->num_layers, 8);
    ck_assert_int_eq(m->hidden_size, 1024);
    ck_assert_int_eq(m->moe.num_experts, 32);
    ck_assert_int_eq(m->moe.router_topk, 2);
    ck_assert_int_eq(m->moe.ffn_hidden_size, 14336);
    ck_assert_int_eq(m->loc.line, 1);
    ck_assert_int_eq(m->loc.col, 8);
    done(&r);
}
END_TEST

START_TEST(model_by_relative_path)
{
    tu_write("my-moe.yaml", "# relative to the scenario\n"
                            "base: moe-30b\n"
                            "name: my-moe\n"
                            "num_layers: 8\n"
                            "moe: {router_topk: 4}\n");
    run r;
    load_ok(&r, "model: my-moe.yaml\n"
                "cluster: cluster-512-64gb\n" TRAINING LAYOUTS);
    ck_assert_str_eq(r.s.model.name, "my-moe");
    ck_assert_int_eq(r.s.model.num_layers, 8);
    ck_assert_int_eq(r.s.model.hidden_size, 1024);
    ck_assert_int_eq(r.s.model.moe.num_experts, 64);
    ck_assert_int_eq(r.s.model.moe.router_topk, 4);
    ck_assert(ends_with(r.s.model.loc.file, "/my-moe.yaml"));
    ck_assert_int_eq(r.s.model.loc.line, 2);
    ck_assert_int_eq(r.s.model.loc.col, 1);
    done(&r);

    load_ok(&r, "model: ./my-moe.yaml\n"
                "cluster: cluster-512-64gb\n" TRAINING LAYOUTS);
    ck_assert_int_eq(r.s.model.num_layers, 8);
    done(&r);

    /* A bare name that is no preset but a file next to the scenario. */
    tu_write("local-moe", "base: moe-30b\nnum_layers: 2\n");
    load_ok(&r, "model: local-moe\n"
                "cluster: cluster-512-64gb\n" TRAINING LAYOUTS);
    ck_assert_int_eq(r.s.model.num_layers, 2);
    done(&r);
}
END_TEST

START_TEST(base_path_relative_to_its_file)
{
    /* tiny-dense-deeper.yaml has base: tiny-dense.yaml, found next to it. */
    run r;
    load_ok(&r, "model: " CS_TEST_DATA "/config/tiny-dense-deeper.yaml\n"
                "cluster: {base: dgx-h100, nodes: 1}\n" TRAINING
                "layouts:\n"
                "  - {tp: 8, pp: 1}\n");
    const cs_model *m = &r.s.model;
    ck_assert_str_eq(m->name, "tiny-dense-deeper");
    ck_assert_int_eq(m->num_layers, 8);
    ck_assert_int_eq(m->hidden_size, 256);
    ck_assert_int_eq(m->num_attention_heads, 8);
    ck_assert_int_eq(m->num_query_groups, 2);
    ck_assert_int_eq(m->kv_channels, 32); /* 256 / 8 */
    ck_assert_int_eq(m->ffn_hidden_size, 1024);
    ck_assert_int_eq(m->swiglu, 1);
    ck_assert_int_eq(m->normalization, CS_NORM_RMSNORM);
    ck_assert_int_eq(m->vocab_size, 1000);
    ck_assert_int_eq(m->untie_embeddings_and_output_weights, 0);
    ck_assert_int_eq(m->moe.num_experts, 0);
    ck_assert_int_eq(m->moe.ffn_hidden_size, 1024);
    ck_assert(!cs_model_is_moe_layer(m, 0));
    ck_assert_int_eq(r.s.cluster.nodes, 1);
    ck_assert_uint_eq(r.s.sources.count, 4);
    done(&r);
}
END_TEST

START_TEST(unknown_preset_positioned)
{
    run r;
    load_bad(&r, "model: moe-31b\n"
                 "cluster: {base: dgx-h1000}\n" TRAINING LAYOUTS,
             2);
    assert_message(&r.d, "moe-31b",
                   "no model preset named 'moe-31b' (looked in models/ of the preset directories)");
    tu_assert_diag(&r.d, CS_ERROR, "no model preset named 'moe-31b'", 1, 8);
    tu_assert_diag(&r.d, CS_ERROR, "no cluster preset named 'dgx-h1000'", 2, 17);
    done(&r);

    /* A model preset name is not looked up among clusters. */
    load_bad(&r, "model: dgx-h100\n"
                 "cluster: moe-30b\n" TRAINING LAYOUTS,
             2);
    tu_assert_diag(&r.d, CS_ERROR, "no model preset named 'dgx-h100'", 1, 8);
    tu_assert_diag(&r.d, CS_ERROR, "no cluster preset named 'moe-30b'", 2, 10);
    done(&r);
}
END_TEST

START_TEST(missing_file_positioned)
{
    run r;
    load_bad(&r, "model: nope/missing.yaml\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "cannot open model '", 1, 8);
    ck_assert_ptr_nonnull(tu_find(&r.d, "nope/missing.yaml': No such file or directory"));
    done(&r);

    load_bad(&r, "model: ~\n"
                 "cluster: [dgx-h100]\n" TRAINING LAYOUTS,
             2);
    tu_assert_diag(&r.d, CS_ERROR, "'model' must be a file path, a preset name or a mapping, got null",
                   1, 8);
    tu_assert_diag(&r.d, CS_ERROR, "'cluster' must be a file path, a preset name or a mapping, got a list",
                   2, 10);
    done(&r);

    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_scenario_load("/nonexistent-clustersim/s.yaml", &tu_paths, &s, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "cannot open: No such file or directory", 0, 0);
    cs_scenario_free(&s);
    cs_diags_free(&d);
}
END_TEST

/* A base that cannot be read (a directory, a device) is pointed at where
 * it is named; a base file holding a bare string is refused, not taken
 * for one more reference. */
START_TEST(unreadable_base_positioned)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/a-directory", tu_temp_dir());
    ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
    run r;
    load_bad(&r, "model: {base: a-directory}\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             2);
    tu_assert_diag(&r.d, CS_ERROR, "the model '", 1, 15);
    ck_assert_ptr_nonnull(tu_find(&r.d, "a-directory' named here cannot be read"));
    done(&r);
    tu_write("string-base.yaml", "\"moe-30b\"\n");
    load_bad(&r, "model: {base: string-base.yaml}\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "a model file must be a mapping of keys, got a scalar", 1, 1);
    ck_assert(ends_with(tu_find(&r.d, "mapping of keys")->file, "/string-base.yaml"));
    done(&r);
}
END_TEST

START_TEST(error_inside_base_file_points_there)
{
    tu_write("broken-base.yaml", "base: moe-30b\n"
                                 "num_layers: many\n");
    run r;
    load_bad(&r, "model: {base: broken-base.yaml, hidden_size: 2048}\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "'num_layers' must be an integer, got 'many'", 2, 13);
    ck_assert(ends_with(tu_find(&r.d, "many")->file, "/broken-base.yaml"));
    ck_assert_str_eq(tu_find(&r.d, "many")->source_line, "num_layers: many");
    done(&r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Include cycles                                                            */

START_TEST(base_cycle_between_files)
{
    run r;
    load_bad(&r, "model: " CS_TEST_DATA "/config/base-cycle-a.yaml\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    /* a -> b -> a: reported in b, at its base: value. */
    tu_assert_diag(&r.d, CS_ERROR, "includes itself through base: (a cycle)", 2, 7);
    const cs_diag *c = tu_find(&r.d, "a cycle");
    ck_assert(ends_with(c->file, "/config/base-cycle-b.yaml"));
    ck_assert_ptr_nonnull(strstr(c->message, "base-cycle-a.yaml' includes itself"));
    done(&r);

    /* The same through cs_model_load. */
    cs_sources src = {0};
    cs_model m;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_model_load(DATA("config/base-cycle-a.yaml"), &tu_paths, &src, &m, &d), -1);
    ck_assert_uint_eq(d.errors, 1);
    tu_assert_diag(&d, CS_ERROR, "includes itself through base: (a cycle)", 2, 7);
    ck_assert(ends_with(d.items[0].file, "/config/base-cycle-b.yaml"));
    cs_sources_free(&src);
    cs_diags_free(&d);
}
END_TEST

START_TEST(base_cycle_self_and_scenario)
{
    tu_write("self.yaml", "# a model whose base is itself\nbase: self.yaml\n");
    run r;
    load_bad(&r, "model: self.yaml\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "self.yaml' includes itself through base: (a cycle)", 2, 7);
    done(&r);

    /* The scenario file itself is part of the chain. */
    load_bad(&r, "model: scenario.yaml\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "scenario.yaml' includes itself through base: (a cycle)", 1, 8);
    done(&r);
}
END_TEST

START_TEST(base_chain_depth_limited)
{
    char name[32], text[64];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "chain%d.yaml", i);
        snprintf(text, sizeof text, "base: chain%d.yaml\n", i + 1);
        tu_write(name, text);
    }
    tu_write("chain20.yaml", "base: moe-30b\n");
    run r;
    /* The scenario takes one place of 16: chain14.yaml is the 16th file. */
    load_bad(&r, "model: chain0.yaml\n"
                 "cluster: cluster-512-64gb\n" TRAINING LAYOUTS,
             1);
    tu_assert_diag(&r.d, CS_ERROR, "bases nest deeper than 16 files", 1, 7);
    ck_assert(ends_with(r.d.items[0].file, "/chain14.yaml"));
    done(&r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Shipped presets                                                           */

START_TEST(named_presets_load)
{
    static const char *const models[] = {"moe-30b", "gpt3-175b", "llama3-70b", "mixtral-8x7b",
                                         "deepseek-v3"};
    static const char *const clusters[] = {"cluster-512-64gb", "dgx-a100-80gb", "dgx-b200",
                                           "dgx-h100", "dgx-h200", "mi300x"};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        cs_sources src = {0};
        cs_model m;
        cs_diags d;
        cs_diags_init(&d);
        int rc = cs_model_load(models[i], &tu_paths, &src, &m, &d);
        cs_diags_print(&d, stderr);
        ck_assert_msg(rc == 0 && d.count == 0, "model preset %s", models[i]);
        ck_assert_str_eq(m.name, models[i]);
        ck_assert_int_gt(m.num_layers, 0);
        ck_assert_int_gt(m.hidden_size, 0);
        ck_assert_int_eq(m.hidden_size % m.num_attention_heads, 0);
        ck_assert_int_eq(m.num_attention_heads % m.num_query_groups, 0);
        cs_sources_free(&src);
        cs_diags_free(&d);
    }
    for (size_t i = 0; i < sizeof clusters / sizeof *clusters; i++) {
        cs_sources src = {0};
        cs_cluster k;
        cs_diags d;
        cs_diags_init(&d);
        int rc = cs_cluster_load(clusters[i], &tu_paths, &src, &k, &d);
        cs_diags_print(&d, stderr);
        ck_assert_msg(rc == 0 && d.count == 0, "cluster preset %s", clusters[i]);
        ck_assert_str_eq(k.name, clusters[i]);
        ck_assert(k.gpu.memory > 0 && k.gpu.peak_compute > 0 && k.gpu.memory_bandwidth > 0);
        ck_assert(k.scale_up.bandwidth > 0 && k.scale_out.nic_bandwidth > 0);
        ck_assert_int_gt(k.nodes * k.gpus_per_node, 0);
        cs_sources_free(&src);
        cs_diags_free(&d);
    }
}
END_TEST

/* Every file shipped in models/ and topologies/ loads, including ones added
 * after this test was written. */
START_TEST(every_preset_file_loads)
{
    static const char *const dirs[] = {"models", "topologies"};
    for (int k = 0; k < 2; k++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s", CS_SOURCE_DIR, dirs[k]);
        DIR *dp = opendir(dir);
        ck_assert_ptr_nonnull(dp);
        int loaded = 0;
        struct dirent *e;
        while ((e = readdir(dp))) {
            if (!ends_with(e->d_name, ".yaml"))
                continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            cs_sources src = {0};
            cs_diags d;
            cs_diags_init(&d);
            int rc;
            if (k == 0) {
                cs_model m;
                rc = cs_model_load(path, &tu_paths, &src, &m, &d);
            } else {
                cs_cluster c;
                rc = cs_cluster_load(path, &tu_paths, &src, &c, &d);
            }
            cs_diags_print(&d, stderr);
            ck_assert_msg(rc == 0 && d.count == 0, "%s", path);
            cs_sources_free(&src);
            cs_diags_free(&d);
            loaded++;
        }
        closedir(dp);
        ck_assert_int_ge(loaded, k == 0 ? 5 : 6);
    }
}
END_TEST


int main(void)
{
    Suite *s = suite_create("config_refs");
    TCase *t_references = tcase_create("references");
    tcase_add_test(t_references, base_with_nested_partial_override);
    tcase_add_test(t_references, model_by_relative_path);
    tcase_add_test(t_references, base_path_relative_to_its_file);
    tcase_add_test(t_references, unknown_preset_positioned);
    tcase_add_test(t_references, missing_file_positioned);
    tcase_add_test(t_references, error_inside_base_file_points_there);
    tcase_add_test(t_references, unreadable_base_positioned);
    tcase_add_test(t_references, base_cycle_between_files);
    tcase_add_test(t_references, base_cycle_self_and_scenario);
    tcase_add_test(t_references, base_chain_depth_limited);
    suite_add_tcase(s, t_references);
    TCase *t_presets = tcase_create("presets");
    tcase_add_test(t_presets, named_presets_load);
    tcase_add_test(t_presets, every_preset_file_loads);
    suite_add_tcase(s, t_presets);
    return tu_main(s);
}
