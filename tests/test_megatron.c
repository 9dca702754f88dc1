/* Megatron-LM arguments, both ways: every valid layout of every shipped
 * scenario exports, imports and exports again to the same arguments; the
 * GPT-3 175B and Mixtral 8x7B launch scripts of Megatron-LM's examples
 * import to scenarios that check accepts, with Megatron's defaults where
 * they are not ours; bad arguments fail at their position; the argument
 * file splitter keeps positions, quotes, comments and continuations. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/bridge.h"
#include "input/megatron.h"
#include "model/layout.h"
#include "testutil.h"

/* What a function wrote on a stream, as a malloc'd string. */
typedef struct capture {
    char *text;
    size_t len;
    FILE *f;
} capture;

static void cap_open(capture *c)
{
    c->text = NULL;
    c->len = 0;
    c->f = open_memstream(&c->text, &c->len);
    ck_assert_ptr_nonnull(c->f);
}

static char *cap_close(capture *c)
{
    fclose(c->f);
    return c->text;
}

/* Imports arguments text (as an argument file named `source`): 0 with the
 * scenario text in *yaml, or -1 with the errors in *err. */
static int import_text(const char *args, const char *cluster, long nodes, char **yaml, char **err)
{
    cs_arg *a;
    char *store;
    long n = cs_megatron_split(args, &a, &store);
    ck_assert(n >= 0);
    cs_import in = {a, n, "args", cluster, nodes, "imported"};
    capture out, e;
    cap_open(&out);
    cap_open(&e);
    int rc = cs_megatron_import(out.f, &in, e.f);
    *yaml = cap_close(&out);
    *err = cap_close(&e);
    free(a);
    free(store);
    return rc;
}

static void load_yaml(const char *yaml, cs_scenario *s)
{
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_scenario_load_text("imported.yaml", yaml, strlen(yaml), &tu_paths, s, &d);
    if (rc)
        cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert_msg(rc == 0, "%s", yaml);
}

/* The export's arguments, without its header comments. */
static char *export_args(const cs_scenario *s, long layout, long world)
{
    capture c;
    cap_open(&c);
    cs_megatron_export(c.f, s, &s->layouts[layout], world);
    char *text = cap_close(&c), *w = text;
    for (char *line = text; *line;) {
        char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) + 1 : strlen(line);
        if (line[0] != '#') {
            memmove(w, line, n);
            w += n;
        }
        line += n;
    }
    *w = '\0';
    return text;
}

/* Export, import into the same cluster, export again: the same arguments.
 * Returns 1 when the layout was round-tripped, 0 when it is not valid. */
static int round_trip(const cs_scenario *s, long i)
{
    cs_layout_sizes z;
    cs_diags d;
    cs_diags_init(&d);
    int valid = cs_layout_check(s, &s->layouts[i], &z, &d) == 0;
    cs_diags_free(&d);
    long gpn = s->cluster.gpus_per_node;
    if (!valid)
        return 0;
    ck_assert_msg(z.world % gpn == 0, "%s: %ld GPUs are not whole nodes", s->name, z.world);
    char *first = export_args(s, i, z.world), *yaml, *err;
    int rc = import_text(first, s->cluster.name, z.world / gpn, &yaml, &err);
    ck_assert_msg(rc == 0, "%s layout %s: %s\n%s", s->name, s->layouts[i].name, err, first);
    cs_scenario back;
    load_yaml(yaml, &back);
    char *second = export_args(&back, 0, z.world);
    ck_assert_msg(!strcmp(first, second), "%s layout %s:\n%s\nagainst\n%s", s->name,
                  s->layouts[i].name, first, second);
    cs_scenario_free(&back);
    free(first);
    free(second);
    free(yaml);
    free(err);
    return 1;
}

START_TEST(shipped_scenarios_round_trip)
{
    static const char *const dirs[] = {CS_SOURCE_DIR "/scenarios", CS_SOURCE_DIR "/examples",
                                       CS_SOURCE_DIR "/validation/megatron"};
    int files = 0, layouts = 0;
    for (size_t k = 0; k < sizeof dirs / sizeof *dirs; k++) {
        DIR *h = opendir(dirs[k]);
        ck_assert_ptr_nonnull(h);
        for (struct dirent *e; (e = readdir(h));) {
            size_t n = strlen(e->d_name);
            if (n < 6 || strcmp(e->d_name + n - 5, ".yaml"))
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dirs[k], e->d_name);
            cs_scenario s;
            cs_diags d;
            cs_diags_init(&d);
            int rc = cs_scenario_load(path, &tu_paths, &s, &d);
            cs_diags_free(&d);
            ck_assert_msg(rc == 0, "%s does not load", path);
            int before = layouts;
            for (long i = 0; i < (long)s.layout_count; i++)
                layouts += round_trip(&s, i);
            files += layouts > before;
            cs_scenario_free(&s);
        }
        closedir(h);
    }
    /* every valid layout: the 27 validation runs, the seed's scenarios
     * and the 16k one (2026-12-02: 31 files, 34 layouts) */
    ck_assert_msg(files >= 31 && layouts >= 34, "%d files, %d layouts", files, layouts);
}
END_TEST

static char *read_data(const char *name)
{
    char *text = tu_read(name);
    ck_assert_ptr_nonnull(text);
    return text;
}

/* GPT-3 175B as Megatron-LM's example launches it, on 128 DGX A100 (1024
 * GPUs): fp16, biases and learned absolute positions (Megatron's defaults),
 * GPT-2's vocabulary from its vocab and merge files, TP 8 x PP 16. */
START_TEST(gpt3_175b_example)
{
    char *args = read_data(DATA("megatron/gpt3-175b.args")), *yaml, *err;
    ck_assert_int_eq(import_text(args, "dgx-a100-80gb", 128, &yaml, &err), 0);
    cs_scenario s;
    load_yaml(yaml, &s);
    ck_assert_int_eq(s.model.num_layers, 96);
    ck_assert_int_eq(s.model.hidden_size, 12288);
    ck_assert_int_eq(s.model.num_attention_heads, 96);
    ck_assert_int_eq(s.model.vocab_size, 50257);
    ck_assert_int_eq(s.model.add_bias_linear, 1);
    ck_assert_int_eq(s.model.position_embedding_type, CS_POS_LEARNED_ABSOLUTE);
    ck_assert_int_eq(s.training.precision, CS_FP16);
    ck_assert_int_eq(s.training.global_batch_size, 1536);
    ck_assert(s.training.tokens == 500000.0 * 1536 * 2048); /* --train-iters */
    ck_assert(s.layout_count == 1 && s.layouts[0].tp == 8 && s.layouts[0].pp == 16);
    /* nothing dropped silently: the learning rate as harmless, the batch
     * ramp-up as not converted */
    ck_assert_ptr_nonnull(strstr(yaml, "change neither time nor memory: --weight-decay 0.1"));
    ck_assert_ptr_nonnull(strstr(yaml, "(not modelled, or not known here): --rampup-batch-size "
                                       "16 16 5859375"));
    cs_layout_sizes z;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_layout_check(&s, &s.layouts[0], &z, &d), 0);
    cs_diags_free(&d);
    ck_assert_int_eq(z.dp, 8);
    cs_scenario_free(&s);
    free(args);
    free(yaml);
    free(err);
}
END_TEST

/* Mixtral 8x7B on 8 DGX H100: RMSNorm, SwiGLU, 8 query groups, 8 experts of
 * top-2 with the aux loss, Llama 2's vocabulary, TP 1 PP 4 EP 8. */
START_TEST(mixtral_8x7b_example)
{
    char *args = read_data(DATA("megatron/mixtral-8x7b.args")), *yaml, *err;
    ck_assert_int_eq(import_text(args, "dgx-h100", 8, &yaml, &err), 0);
    cs_scenario s;
    load_yaml(yaml, &s);
    ck_assert_int_eq(s.model.normalization, CS_NORM_RMSNORM);
    ck_assert_int_eq(s.model.swiglu, 1);
    ck_assert_int_eq(s.model.num_query_groups, 8);
    ck_assert_int_eq(s.model.add_bias_linear, 0);
    ck_assert_int_eq(s.model.vocab_size, 32000);
    ck_assert_int_eq(s.model.moe.num_experts, 8);
    ck_assert_int_eq(s.model.moe.router_topk, 2);
    assert_close(s.training.moe_aux_loss_coeff, 0.01, 1e-12);
    ck_assert_int_eq(s.training.moe_token_dispatcher_type, CS_DISPATCH_ALLTOALL);
    ck_assert_int_eq(s.training.masked_softmax_fusion, 0);
    ck_assert(s.training.hidden_dropout == 0 && s.training.attention_dropout == 0);
    ck_assert(s.layouts[0].tp == 1 && s.layouts[0].pp == 4 && s.layouts[0].ep == 8);
    cs_layout_sizes z;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_layout_check(&s, &s.layouts[0], &z, &d), 0);
    cs_diags_free(&d);
    cs_scenario_free(&s);
    free(args);
    free(yaml);
    free(err);
}
END_TEST

static void must_fail(const char *args, const char *want)
{
    char *yaml, *err;
    ck_assert_int_eq(import_text(args, "dgx-h100", 1, &yaml, &err), -1);
    ck_assert_msg(strstr(err, want) != NULL, "wanted '%s' in: %s", want, err);
    free(yaml);
    free(err);
}

#define BASE "--num-layers 2 --hidden-size 64 --num-attention-heads 4 --seq-length 128\n" \
             "--global-batch-size 8 --vocab-size 1000 --bf16\n"

START_TEST(bad_arguments_at_their_position)
{
    must_fail(BASE "--num-layers x\n", "args:3:14: error: 'x' is not a whole number of at least 1");
    must_fail(BASE "--sequence-parallel 4\n", "args:3:21: error: --sequence-parallel takes no value");
    must_fail(BASE "--context-parallel-size 0\n",
              "args:3:25: error: '0' is not a whole number of at least 1");
    must_fail(BASE "--cp-comm-type ring\n", "'ring' is not one of the values");
    must_fail(BASE "--normalization Batch\n", "'Batch' is not one of the values");
    must_fail(BASE "--hidden-size\n", "--hidden-size needs a value");
    must_fail(BASE "stray\n", "'stray' is not a --flag");
    must_fail("--num-layers 2 --hidden-size 64 --num-attention-heads 4 --seq-length 128 "
              "--global-batch-size 8 --bf16 --tokenizer-type HuggingFaceTokenizer",
              "no --vocab-size and no tokenizer whose size is known");
    must_fail(BASE "--moe-layer-freq ([0]*2+[2]*3)\n", "is not a count, a list of 0 and 1");
    must_fail(BASE "--window-size 128\n", "args:3:15: error: '128' is not a window (left,right)");
    must_fail(BASE "--window-size 128,0 --window-attn-skip-freq ([1]*3+[0]*1)\n",
              "is not a count (a pattern list is not read)");
    /* the command line: the argument's number */
    cs_arg a[] = {{"--num-layers", 0, 0}, {"two", 0, 1}};
    cs_import in = {a, 2, NULL, "dgx-h100", 1, "x"};
    capture out, e;
    cap_open(&out);
    cap_open(&e);
    ck_assert_int_eq(cs_megatron_import(out.f, &in, e.f), -1);
    char *o = cap_close(&out), *t = cap_close(&e);
    ck_assert_msg(strstr(t, "argument 2 (two): 'two' is not a whole number") != NULL, "%s", t);
    free(o);
    free(t);
}
END_TEST

/* --context-parallel-size and --cp-comm-type: the layout's cp and the
 * training's exchange, checked, and exported back the same. */
START_TEST(context_parallel_round_trip)
{
    char *yaml, *err;
    ck_assert_int_eq(import_text(BASE "--context-parallel-size 2 --cp-comm-type a2a "
                                      "--position-embedding-type rope "
                                      "--tensor-model-parallel-size 2\n",
                                 "dgx-h100", 1, &yaml, &err),
                     0);
    cs_scenario s;
    load_yaml(yaml, &s);
    ck_assert_int_eq(s.layouts[0].cp, 2);
    ck_assert_str_eq(s.layouts[0].name, "tp2-pp1-cp2");
    ck_assert_int_eq(s.training.cp_comm_type, CS_CP_A2A);
    cs_layout_sizes z;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_layout_check(&s, &s.layouts[0], &z, &d), 0);
    cs_diags_free(&d);
    ck_assert_int_eq(z.dense_dp, 2);
    ck_assert_int_eq(round_trip(&s, 0), 1);
    char *args = export_args(&s, 0, 8);
    ck_assert_ptr_nonnull(strstr(args, "--context-parallel-size 2"));
    ck_assert_ptr_nonnull(strstr(args, "--cp-comm-type a2a"));
    free(args);
    cs_scenario_free(&s);
    free(yaml);
    free(err);
}
END_TEST

/* Megatron's layer pattern forms, virtual stages from layers per stage,
 * and the grouped-query switch needed for the groups to count. */
START_TEST(special_forms)
{
    char *yaml, *err;
    ck_assert_int_eq(import_text(BASE "--num-layers 4 --num-experts 4 "
                                      "--moe-layer-freq ([0]*1+[1]*3)\n"
                                      "--pipeline-model-parallel-size 2 "
                                      "--num-layers-per-virtual-pipeline-stage 1\n"
                                      "--num-query-groups 2 --position-embedding-type rope\n",
                                 "dgx-h100", 1, &yaml, &err),
                     0);
    cs_scenario s;
    load_yaml(yaml, &s);
    ck_assert(s.model.moe.pattern_len == 4 && !s.model.moe.layer_pattern[0] &&
              s.model.moe.layer_pattern[1] && s.model.moe.layer_pattern[3]);
    /* 4 layers over 2 stages, 1 per virtual stage: 2 virtual stages */
    ck_assert(s.training.schedule == CS_INTERLEAVED && s.training.virtual_pipeline_stages == 2);
    ck_assert_int_eq(s.model.num_query_groups, 4); /* no --group-query-attention: heads */
    cs_scenario_free(&s);
    free(yaml);
    free(err);
    /* the sliding window in Megatron's tuple form, and back */
    ck_assert_int_eq(import_text(BASE "--window-size (127,0) --window-attn-skip-freq 2 "
                                      "--position-embedding-type rope\n",
                                 "dgx-h100", 1, &yaml, &err),
                     0);
    load_yaml(yaml, &s);
    ck_assert(s.model.window_size == 127 && s.model.window_attn_skip_freq == 2);
    char *args = export_args(&s, 0, 8);
    ck_assert_ptr_nonnull(strstr(args, "--window-size 127,0"));
    ck_assert_ptr_nonnull(strstr(args, "--window-attn-skip-freq 2"));
    free(args);
    cs_scenario_free(&s);
    free(yaml);
    free(err);
}
END_TEST

/* What Megatron-LM derives that the flags do not say: SwiGLU's width,
 * grouped-query attention's default of 1 group; "--flag=value"; the
 * effective capacity factor and the p2p switch exported; MLA without its
 * sizes refused. */
START_TEST(megatron_semantics)
{
    char *yaml, *err;
    ck_assert_int_eq(import_text(BASE "--swiglu --group-query-attention "
                                      "--tensor-model-parallel-size=2 --position-embedding-type=rope\n"
                                      "--no-overlap-p2p-communication\n",
                                 "dgx-h100", 1, &yaml, &err),
                     0);
    cs_scenario s;
    load_yaml(yaml, &s);
    ck_assert_int_eq(s.model.ffn_hidden_size, 128); /* int(4 x 64 x 2/3 / 64) x 64 */
    ck_assert_int_eq(s.model.num_query_groups, 1);
    ck_assert_int_eq(s.layouts[0].tp, 2);
    ck_assert_int_eq(s.model.position_embedding_type, CS_POS_ROPE);
    ck_assert_int_eq(s.training.overlap_p2p_comm, 0);
    char *args = export_args(&s, 0, 8);
    ck_assert_ptr_nonnull(strstr(args, "--no-overlap-p2p-communication"));
    ck_assert_ptr_nonnull(strstr(args, "--group-query-attention \\\n--num-query-groups 1"));
    free(args);
    cs_scenario_free(&s);
    free(yaml);
    free(err);
    /* a capacity factor given on the model is exported too */
    cs_scenario m;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(tu_load_scenario("model: { base: moe-30b, moe: { capacity_factor: 1.25 } }\n"
                                      "cluster: { base: dgx-h100, nodes: 1 }\n"
                                      "training: { seq_length: 1024, global_batch_size: 8 }\n"
                                      "layouts: [ { tp: 1, pp: 1, ep: 8 } ]\n",
                                      &m, &d),
                     0);
    cs_diags_free(&d);
    args = export_args(&m, 0, 8);
    ck_assert_msg(strstr(args, "--moe-expert-capacity-factor 1.25") != NULL, "%s", args);
    free(args);
    cs_scenario_free(&m);
    /* the embedding and loss counted in the split count in the virtual
     * stages too: 30 layers + 2 over 4 stages of 2-layer virtual stages */
    ck_assert_int_eq(import_text(BASE "--num-layers 30 --pipeline-model-parallel-size 4 "
                                      "--num-layers-per-virtual-pipeline-stage 2 "
                                      "--account-for-embedding-in-pipeline-split "
                                      "--account-for-loss-in-pipeline-split "
                                      "--position-embedding-type rope\n",
                                 "dgx-h100", 1, &yaml, &err),
                     0);
    ck_assert_msg(strstr(yaml, "virtual_pipeline_stages: 4") != NULL, "%s", yaml);
    free(yaml);
    free(err);
    must_fail(BASE "--multi-latent-attention --q-lora-rank 16\n",
              "args:3:1: error: --multi-latent-attention needs --kv-lora-rank");
    must_fail(BASE "--pipeline-model-parallel-size 2 --num-layers-per-virtual-pipeline-stage 3\n",
              "2 layers (with the embedding and loss if counted) over 2 pipeline stages do not "
              "split into virtual stages of 3");
    must_fail(BASE "--recompute-modules core_attn mlp:x\n", "'mlp:x' is not a name");
    must_fail(BASE "--lr 'a\tb'\n", "args:3:6: error: an argument holds a control character");
}
END_TEST

/* A Megatron-Bridge run's printed ConfigContainer (Llama 3.2 1B): its
 * TransformerConfig, train, dataset, ddp, optimizer and mixed_precision read
 * as the arguments they stand for; the run's sequence (dataset), not the
 * model's longest; tied embeddings; switches on that are not read listed. */
START_TEST(bridge_config)
{
    cs_arg *a;
    char *store;
    cs_diags d;
    cs_diags_init(&d);
    long n = cs_bridge_args(DATA("megatron/bridge-llama32-1b.yaml"), &a, &store, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert(n > 40);
    cs_import in = {a, n, "bridge.yaml", "dgx-h100", 1, "llama32-1b"};
    capture out, e;
    cap_open(&out);
    cap_open(&e);
    ck_assert_int_eq(cs_megatron_import(out.f, &in, e.f), 0);
    char *yaml = cap_close(&out), *err = cap_close(&e);
    cs_scenario s;
    load_yaml(yaml, &s);
    ck_assert(s.model.num_layers == 16 && s.model.hidden_size == 2048 &&
              s.model.num_attention_heads == 32 && s.model.num_query_groups == 8 &&
              s.model.ffn_hidden_size == 8192 && s.model.kv_channels == 64);
    ck_assert(s.model.swiglu && !s.model.add_bias_linear && s.model.vocab_size == 128256);
    ck_assert_int_eq(s.model.normalization, CS_NORM_RMSNORM);
    ck_assert_int_eq(s.model.untie_embeddings_and_output_weights, 0);
    ck_assert_int_eq(s.model.moe.num_experts, 0);
    ck_assert(s.training.seq_length == 1024 && s.training.global_batch_size == 512 &&
              s.training.micro_batch_size == 1);
    ck_assert(s.training.distributed_optimizer && s.training.overlap_grad_reduce &&
              s.training.overlap_param_gather && s.training.cross_entropy_loss_fusion);
    ck_assert_int_eq(s.training.precision, CS_BF16);
    ck_assert(s.training.tokens == 10.0 * 512 * 1024);
    ck_assert(strstr(yaml, "(not modelled, or not known here): --barrier-with-L1-time") != NULL);
    ck_assert(strstr(yaml, "change neither time nor memory: --manual-gc") != NULL);
    ck_assert(!strstr(yaml, "131072")); /* the model's longest sequence is not the run's */
    cs_scenario_free(&s);
    free(yaml);
    free(err);
    free(a);
    free(store);
    /* not a ConfigContainer: a positioned error */
    const char *bad = tu_write("bad.yaml", "train:\n  global_batch_size: 8\n");
    cs_diags_init(&d);
    ck_assert_int_eq(cs_bridge_args(bad, &a, &store, &d), -1);
    ck_assert_ptr_nonnull(tu_find(&d, "not a Megatron-Bridge ConfigContainer: no model: mapping"));
    cs_diags_free(&d);
    /* Bridge's own forms: a precision recipe by name, quick-GELU GLUs, the
     * fused bias activation off for either activation, the model's longest
     * sequence as the positions', the optimizer's distributed switch, and
     * what is not read (comm_overlap, FSDP, a setting with a value) listed */
    const char *forms = tu_write(
        "forms.yaml",
        "model:\n  num_layers: 2\n  hidden_size: 64\n  num_attention_heads: 4\n"
        "  vocab_size: 1000\n  seq_length: 256\n  position_embedding_type: learned_absolute\n"
        "  gated_linear_unit: true\n"
        "  activation_func: { _call_: false, _target_: megatron.core.fusions.fused_bias_geglu.quick_gelu }\n"
        "  bias_activation_fusion: false\n  window_size: [128, 0]\n"
        "train: { global_batch_size: 8, micro_batch_size: 1 }\n"
        "optimizer: { use_distributed_optimizer: true }\n"
        "ddp: { data_parallel_sharding_strategy: optim_grads_params }\n"
        "mixed_precision: bf16_with_mxfp8_mixed\n"
        "comm_overlap: { tp_comm_overlap: true }\n");
    cs_diags_init(&d);
    n = cs_bridge_args(forms, &a, &store, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert(n > 10);
    in = (cs_import){a, n, forms, "dgx-b200", 1, "forms"};
    cap_open(&out);
    cap_open(&e);
    ck_assert_int_eq(cs_megatron_import(out.f, &in, e.f), 0);
    yaml = cap_close(&out);
    err = cap_close(&e);
    load_yaml(yaml, &s);
    ck_assert(s.model.quick_geglu && !s.model.swiglu);
    ck_assert(!s.training.bias_gelu_fusion && !s.training.bias_swiglu_fusion);
    ck_assert(s.model.max_position_embeddings == 256 && s.training.seq_length == 256);
    ck_assert(s.training.precision == CS_FP8 && s.training.fp8_recipe == CS_FP8_MXFP8);
    ck_assert(s.training.distributed_optimizer);
    ck_assert_msg(strstr(yaml, "--data-parallel-sharding-strategy optim_grads_params (read only "
                               "with --use-megatron-fsdp)") &&
                      strstr(yaml, "--comm-overlap") && strstr(yaml, "--window-size [128,0]"),
                  "%s", yaml);
    ck_assert(!s.training.use_megatron_fsdp);
    cs_scenario_free(&s);
    free(yaml);
    free(err);
    free(a);
    free(store);
    /* ddp's Megatron-FSDP switch and strategy, read */
    const char *fsdp = tu_write(
        "fsdp.yaml",
        "model:\n  num_layers: 2\n  hidden_size: 64\n  num_attention_heads: 4\n"
        "  vocab_size: 1000\n  seq_length: 256\n  position_embedding_type: rope\n"
        "train: { global_batch_size: 8, micro_batch_size: 1 }\n"
        "ddp: { use_megatron_fsdp: true, data_parallel_sharding_strategy: optim_grads, "
        "use_distributed_optimizer: true }\n"
        "mixed_precision: bf16_mixed\n");
    cs_diags_init(&d);
    n = cs_bridge_args(fsdp, &a, &store, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    in = (cs_import){a, n, fsdp, "dgx-h100", 1, "fsdp"};
    cap_open(&out);
    cap_open(&e);
    ck_assert_int_eq(cs_megatron_import(out.f, &in, e.f), 0);
    yaml = cap_close(&out);
    err = cap_close(&e);
    load_yaml(yaml, &s);
    ck_assert(s.training.use_megatron_fsdp);
    ck_assert_int_eq(s.training.data_parallel_sharding_strategy, CS_SHARD_OPTIM_GRADS);
    ck_assert_int_eq(cs_training_zero(&s.training), 2);
    ck_assert_int_eq(round_trip(&s, 0), 1);
    char *exported = export_args(&s, 0, 8);
    ck_assert_ptr_nonnull(strstr(exported, "--use-megatron-fsdp"));
    ck_assert_ptr_nonnull(strstr(exported, "--data-parallel-sharding-strategy optim_grads"));
    ck_assert_ptr_nonnull(strstr(exported, "--ckpt-format fsdp_dtensor"));
    free(exported);
    cs_scenario_free(&s);
    free(yaml);
    free(err);
    free(a);
    free(store);
    /* single values where a list or mapping stands: positioned errors, no
     * crash; a key too long to be a setting */
    static const char *const wrongs[][2] = {
        {"model:\n  num_query_groups: [1]\n", "num_query_groups: a single value was expected"},
        {"model:\n  num_moe_experts: { a: 1 }\n", "num_moe_experts: a single value was expected"},
        {"model:\n  moe_layer_freq: [[1]]\n  num_moe_experts: 4\n", "a list of single values"},
        {"model:\n  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: true\n",
         "the key is too long"}};
    for (size_t i = 0; i < sizeof wrongs / sizeof *wrongs; i++) {
        const char *w = tu_write("w.yaml", wrongs[i][0]);
        cs_diags_init(&d);
        ck_assert_int_eq(cs_bridge_args(w, &a, &store, &d), -1);
        ck_assert_msg(tu_find(&d, wrongs[i][1]) != NULL, "%s", wrongs[i][0]);
        cs_diags_free(&d);
    }
    /* a wrong value fails at its line and column in the YAML */
    const char *wrong = tu_write("wrong.yaml", "model:\n  num_layers: many\n  hidden_size: 64\n");
    cs_diags_init(&d);
    n = cs_bridge_args(wrong, &a, &store, &d);
    cs_diags_free(&d);
    ck_assert(n >= 2);
    in = (cs_import){a, n, wrong, "dgx-h100", 1, "x"};
    cap_open(&out);
    cap_open(&e);
    ck_assert_int_eq(cs_megatron_import(out.f, &in, e.f), -1);
    yaml = cap_close(&out);
    err = cap_close(&e);
    ck_assert_msg(strstr(err, "wrong.yaml:2:15: error: 'many' is not a whole number"), "%s", err);
    free(yaml);
    free(err);
    free(a);
    free(store);
}
END_TEST

START_TEST(splitter)
{
    cs_arg *a;
    char *store;
    long n = cs_megatron_split("  --a 1 \\\n--b 'x y' # note\n\t--c\"d\"\n", &a, &store);
    ck_assert_int_eq(n, 5);
    ck_assert_str_eq(a[0].text, "--a");
    ck_assert(a[0].line == 1 && a[0].col == 3);
    ck_assert_str_eq(a[1].text, "1");
    ck_assert_str_eq(a[2].text, "--b");
    ck_assert(a[2].line == 2 && a[2].col == 1);
    ck_assert_str_eq(a[3].text, "x y");
    ck_assert_str_eq(a[4].text, "--cd");
    ck_assert(a[4].line == 3 && a[4].col == 2);
    free(a);
    free(store);
    /* a continuation joined to a word, CRLF ends, a quote ended by its line */
    n = cs_megatron_split("--a 64\\\r\n--b \"x y\n--c\n", &a, &store);
    ck_assert_int_eq(n, 5);
    ck_assert_str_eq(a[1].text, "64");
    ck_assert_str_eq(a[2].text, "--b");
    ck_assert_str_eq(a[3].text, "x y");
    ck_assert_str_eq(a[4].text, "--c");
    ck_assert(a[4].line == 3);
    free(a);
    free(store);
}
END_TEST

/* The commands: export to a file, import it back with -o (written whole,
 * loadable), and their exit statuses on bad input. */
START_TEST(commands)
{
    char cmd[2048], *out, *err;
    /* tu_run sends standard output to its own file: the export is read there */
    ck_assert_int_eq(tu_run(CS_BINARY " export megatron " CS_SOURCE_DIR
                                      "/scenarios/seed-options.yaml --layout option2",
                            &out, NULL),
                     0);
    char args[1024];
    snprintf(args, sizeof args, "%s", tu_write("o2.args", out));
    free(out);
    const char *dir = tu_temp_dir();
    snprintf(cmd, sizeof cmd,
             CS_BINARY " import megatron --cluster cluster-512-64gb --gpus 512 --args-file %s "
                       "-o %s/o2.yaml --name seed-o2",
             args, dir);
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
    snprintf(cmd, sizeof cmd, CS_BINARY " check %s/o2.yaml", dir);
    int rc = tu_run(cmd, &out, &err);
    ck_assert_msg(rc == 0, "%s: %s", cmd, err);
    ck_assert_msg(strstr(out, "layout tp2-pp8-ep8: tp 2, pp 8, ep 8, dp 4 -> valid"), "%s%s", out,
                  err);
    free(out);
    free(err);
    ck_assert_int_eq(tu_run(CS_BINARY " import megatron --cluster dgx-h100 --gpus 8 "
                                      "--bridge-config " CS_TEST_DATA
                                      "/megatron/bridge-llama32-1b.yaml",
                            NULL, NULL),
                     0);
    /* the first layout of the seed needs 2048 GPUs: not valid, exit 1 */
    ck_assert_int_eq(tu_run(CS_BINARY " export megatron " CS_SOURCE_DIR
                                      "/scenarios/seed-options.yaml",
                            NULL, NULL),
                     1);
    static const char *const bad[] = {
        CS_BINARY " import tensorflow --cluster dgx-h100 --gpus 8 -- --num-layers 2",
        CS_BINARY " import megatron --gpus 8 -- --num-layers 2",
        CS_BINARY " import megatron --cluster dgx-h100 --gpus 12 -- --num-layers 2",
        CS_BINARY " import megatron --cluster dgx-h100 --gpus 8",
        CS_BINARY " import megatron --cluster dgx-h100 --gpus 8 -- --num-layers 2",
        CS_BINARY " import megatron --cluster dgx-h100 --gpus 8 --bridge-config "
                  CS_TEST_DATA "/megatron/bridge-llama32-1b.yaml -- --num-layers 2",
        CS_BINARY " import megatron --cluster dgx-h100 --gpus 8 --bridge-config /no/such.yaml",
        CS_BINARY " export megatron " CS_SOURCE_DIR "/scenarios/seed-options.yaml --layout nope"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(tu_run(bad[i], NULL, NULL) == 2, "%s", bad[i]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("megatron");
    TCase *t = tcase_create("args");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, shipped_scenarios_round_trip);
    tcase_add_test(t, gpt3_175b_example);
    tcase_add_test(t, mixtral_8x7b_example);
    tcase_add_test(t, bad_arguments_at_their_position);
    tcase_add_test(t, special_forms);
    tcase_add_test(t, context_parallel_round_trip);
    tcase_add_test(t, megatron_semantics);
    tcase_add_test(t, bridge_config);
    tcase_add_test(t, splitter);
    tcase_add_test(t, commands);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
