/* The command line: exit statuses, output on stdout, errors on stderr in
 * FILE:LINE:COL form, byte-identical reruns. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>

#include "testutil.h"

#define BIN CS_BINARY
#define SEED CS_SOURCE_DIR "/scenarios/seed-options.yaml"

/* Brackets balance outside strings and the document is one value. */
static int json_balanced(const char *s)
{
    int depth = 0, in_string = 0;
    for (; *s; s++) {
        if (in_string) {
            if (*s == '\\' && s[1])
                s++;
            else if (*s == '"')
                in_string = 0;
        } else if (*s == '"') {
            in_string = 1;
        } else if (*s == '{' || *s == '[') {
            depth++;
        } else if (*s == '}' || *s == ']') {
            if (--depth < 0)
                return 0;
        }
    }
    return depth == 0 && !in_string;
}

/* validate: measured against predicted, the verdict by tolerance, an open
 * discrepancy marked as such (the exit status still says outside), and a
 * bad measured block refused at its position. */
static const char *validation_run_at(const char *measured, const char *extra)
{
    static char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "model: { name: s, num_layers: 2, hidden_size: 1024, num_attention_heads: 16, "
             "ffn_hidden_size: 4096, vocab_size: 32000 }\n"
             "cluster: { base: dgx-h100, nodes: 1 }\n"
             "training: { seq_length: 1024, global_batch_size: 8 }\n"
             "layouts: [{ name: a, tp: 1, pp: 1 }]\n"
             "measured:\n"
             "  source: a test\n"
             "  iteration_time: %s\n"
             "%s",
             measured, extra);
    return tu_write("validation.yaml", yaml);
}

static const char *validation_run(const char *extra) { return validation_run_at("1000 s", extra); }

START_TEST(validate_marks_open_discrepancies)
{
    char cmd[4096], *out, *err;
    snprintf(cmd, sizeof cmd, BIN " validate %s", validation_run("  tolerance: 0.01\n"));
    ck_assert_int_eq(tu_run(cmd, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(out, "OUTSIDE"));
    ck_assert_ptr_null(strstr(out, "(open)"));
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, BIN " validate %s",
             validation_run("  tolerance: 0.01\n  open: host overhead\n"));
    ck_assert_int_eq(tu_run(cmd, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(out, "OUTSIDE (open)"));
    free(out);
    free(err);
    /* Measured far faster than predicted: outside the other way, not the
     * open item's (a missing cost makes the model optimistic). */
    snprintf(cmd, sizeof cmd, BIN " validate %s",
             validation_run_at("1 us", "  tolerance: 0.01\n  open: host overhead\n"));
    ck_assert_int_eq(tu_run(cmd, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(out, "OUTSIDE"));
    ck_assert_ptr_null(strstr(out, "(open)"));
    free(out);
    free(err);
        /* 1000 s measured against milliseconds predicted is within 1e6. */
    snprintf(cmd, sizeof cmd, BIN " validate %s",
             validation_run("  tolerance: 1000000\n  open: host overhead\n"));
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "  ok"));
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, BIN " validate %s", validation_run("  tolerance: 0.01\n  open: ''\n"));
    ck_assert_int_eq(tu_run(cmd, &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "validation.yaml:9:9: error: 'open' must say what the model "
                                      "is known to miss"));
    free(out);
    free(err);
}
END_TEST

/* Issue 13's hostile inputs: each refused with a positioned error and exit
 * 2 (or a layout refused, exit 1), never a crash, a wrap or a silent success. */
static void hostile(const char *yaml, const char *cmd, int status, const char *where,
                    const char *message)
{
    char line[4096], *out, *err;
    snprintf(line, sizeof line, BIN " %s %s", cmd, tu_write("hostile.yaml", yaml));
    ck_assert_int_eq(tu_run(line, &out, &err), status);
    const char *text = status == 1 ? out : err;
    ck_assert_msg(strstr(text, where) && strstr(text, message), "%s: %s%s", cmd, out, err);
    ck_assert_ptr_null(strstr(err, "runtime error"));
    free(out);
    free(err);
}

#define SEEDLIKE(name_line, training, layout)                                                      \
    name_line "model: moe-30b\ncluster: cluster-512-64gb\n"                                      \
              "training: { seq_length: 2048, sequence_parallel: true, " training " }\n"          \
              "layouts: [" layout "]\n"

START_TEST(hostile_sizes_and_names)
{
    /* A batch so large its replay could not be held: refused before any
     * allocation (it used to overflow the schedule arrays in run). */
    hostile(SEEDLIKE("", "global_batch_size: 4611686018427387904",
                     "{ tp: 4, pp: 4, ep: 8, dp: 4 }"),
            "run", 1, "hostile.yaml:3:11: error: a replay of this layout needs about",
            "over the limit of 1.34e+08");
    /* A hundred million sequences on 8 GPUs: 25 s and 12.5 GB before, now
     * refused by the estimate. */
    hostile("model: moe-30b\ncluster: { base: cluster-512-64gb, nodes: 1 }\n"
            "training: { seq_length: 2048, sequence_parallel: true, global_batch_size: 100000000 }\n"
            "layouts: [{ tp: 1, pp: 1, ep: 8, dp: 1 }]\n",
            "run", 1, "error: a replay of this layout needs about", "over the limit of 1.34e+08");
    /* The size estimate itself must not overflow (2^63 - 32 before + 64). */
    hostile("model: { name: t, num_layers: 1, hidden_size: 64, num_attention_heads: 1, "
            "vocab_size: 64 }\ncluster: { base: dgx-h100, nodes: 1 }\n"
            "training: { seq_length: 16, global_batch_size: 768614336404564648 }\n"
            "layouts: [{ tp: 1, pp: 1, dp: 8 }]\n",
            "check", 1, "error: a replay of this layout needs about", "over the limit");
    hostile("model: moe-30b\ncluster: cluster-512-64gb\n"
            "training: { seq_length: 9223372036854775807, global_batch_size: 128 }\n"
            "layouts: [{ tp: 4, pp: 4, ep: 8, dp: 4 }]\n",
            "check", 2, "error:", "seq_length 9223372036854775807 is over the limit of 16777216");
    /* Sizes whose products overflow. */
    hostile("model: { base: moe-30b, hidden_size: 4611686018427387904 }\n"
            "cluster: cluster-512-64gb\ntraining: { seq_length: 2048, global_batch_size: 128 }\n"
            "layouts: [{ tp: 4, pp: 4, ep: 8, dp: 4 }]\n",
            "check", 2, "hostile.yaml:1:8: error:",
            "hidden_size 4611686018427387904 is over the limit of 16777216");
    hostile("model: { base: moe-30b, moe: { num_experts: 4611686018427387904 } }\n"
            "cluster: cluster-512-64gb\ntraining: { seq_length: 2048, global_batch_size: 128 }\n"
            "layouts: [{ tp: 4, pp: 4, ep: 8, dp: 4 }]\n",
            "check", 2, "hostile.yaml:1:8: error:",
            "moe.num_experts 4611686018427387904 is over the limit of 65536");
    hostile(SEEDLIKE("", "global_batch_size: 128",
                     "{ tp: 1048576, pp: 1048576, ep: 1048576, dp: 1048576 }"),
            "check", 1, "error:", "GPUs is beyond any cluster; this one has 512");
    /* Names that would leave out/ or break the tab-separated plot data. */
    hostile(SEEDLIKE("name: ../../x\n", "global_batch_size: 128", "{ tp: 4, pp: 4, ep: 8, dp: 4 }"),
            "check", 2, "hostile.yaml:1:7: error:",
            "scenario name '../../x' may not contain '/' or start with '.'");
    hostile(SEEDLIKE("", "global_batch_size: 128", "{ name: \"a\\tb\", tp: 4, pp: 4, ep: 8, dp: 4 }"),
            "check", 2, "hostile.yaml:4:19: error:", "'name' may not hold a control character");
    /* Sweeps whose point count would wrap or run for ever: 4 lists of 32
     * values make 1,048,576 points. */
    char yaml[8192], list[512] = "[";
    for (int i = 1; i <= 32; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%d%s", i, i < 32 ? ", " : "]");
    snprintf(yaml, sizeof yaml,
             SEEDLIKE("", "global_batch_size: 128", "{ tp: 4, pp: 4, ep: 8, dp: 4 }")
             "sweep:\n  parameters:\n    training.seq_length: %s\n"
             "    training.micro_batch_size: %s\n    cluster.nodes: %s\n"
             "    training.global_batch_size: %s\n",
             list, list, list, list);
    hostile(yaml, "check", 2, "hostile.yaml:6:3: error:",
            "the sweep asks for more than 1000000 replays (points x repeats)");
    hostile(SEEDLIKE("", "global_batch_size: 128", "{ tp: 4, pp: 4, ep: 8, dp: 4 }")
            "sweep:\n  parameters: { training.seq_length: [1024, 2048] }\n"
            "  repeats: 1000000000000\n",
            "check", 2, "hostile.yaml:6:3: error:",
            "the sweep asks for more than 1000000 replays (points x repeats)");
}
END_TEST

/* help of an unknown command is an error; merging header-only shards is
 * not undefined behaviour. */
/* Results are written through new temporary files: a link planted where
 * the old fixed temporary names were does not redirect the write. */
START_TEST(temporaries_do_not_follow_links)
{
    char victim[512], dir[512], link[600], cmd[2048], *out, *err;
    snprintf(victim, sizeof victim, "%s", tu_write("victim", "keep me\n"));
    const char *marker = tu_write("marker2", "");
    snprintf(dir, sizeof dir, "%.*s/planted", (int)(strrchr(marker, '/') - marker), marker);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(link, sizeof link, "%s/.results.json.tmp", dir);
    ck_assert_int_eq(symlink(victim, link), 0);
    snprintf(cmd, sizeof cmd, BIN " run " SEED " --network-model analytic --no-plots --out %s",
             dir);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    free(out);
    free(err);
    char *kept = tu_read(victim);
    ck_assert_str_eq(kept, "keep me\n");
    free(kept);
    unlink(link);
    /* merge -o X once wrote X.tmp. */
    const char *csv = tu_write("shard.csv", "point,layout,statistic,iteration_time_s\n");
    snprintf(link, sizeof link, "%s/merged.csv.tmp", dir);
    ck_assert_int_eq(symlink(victim, link), 0);
    snprintf(cmd, sizeof cmd, BIN " merge %s -o %s/merged.csv", csv, dir);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    free(out);
    free(err);
    kept = tu_read(victim);
    ck_assert_str_eq(kept, "keep me\n");
    free(kept);
    unlink(link);
    /* The results take the umask, as fopen's files do. */
    char masked[600], file[700];
    snprintf(masked, sizeof masked, "%s/masked", dir);
    snprintf(cmd, sizeof cmd,
             "umask 077 && " BIN " run " SEED " --network-model analytic --no-plots --out %s",
             masked);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    free(out);
    free(err);
    struct stat st;
    snprintf(file, sizeof file, "%s/results.json", masked);
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    /* plot DIR draws nothing outside DIR. */
    snprintf(file, sizeof file, "%s/plots.txt", masked);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("plots/compare.gp\tcompare.dat\t../escaped.png\tt\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, BIN " plot %s", masked);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "names a path outside"));
    free(out);
    free(err);
    snprintf(file, sizeof file, "%s/escaped.png", dir);
    ck_assert_int_eq(access(file, F_OK), -1);
}
END_TEST

START_TEST(help_and_merge_edges)
{
    char *out, *err, cmd[4096];
    ck_assert_int_eq(tu_run(BIN " help nosuchcmd", &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "unknown command 'nosuchcmd'"));
    free(out);
    free(err);
    const char *csv = tu_write("header.csv", "point,layout,statistic,iteration_time_s\n");
    snprintf(cmd, sizeof cmd, BIN " merge %s %s", csv, csv);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "point,layout,statistic"));
    ck_assert_ptr_null(strstr(err, "runtime error"));
    free(out);
    free(err);
}
END_TEST

START_TEST(check_seed_reports_invalid_original)
{
    char *out, *err;
    ck_assert_int_eq(tu_run(BIN " check " SEED, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(out, "layout original: tp 8, pp 4, ep 16, dp 4 -> INVALID"));
    ck_assert_ptr_nonnull(strstr(out, "seed-options.yaml:31:49: error: needs 2048 GPUs"));
    ck_assert_ptr_nonnull(strstr(out, "layout option1: tp 4, pp 4, ep 8, dp 4 -> valid"));
    ck_assert_ptr_nonnull(strstr(out, "layout option2: tp 2, pp 8, ep 8, dp 4 -> valid"));
    ck_assert_ptr_nonnull(strstr(out, "dense DP 32, expert DP 4, 8 experts per GPU"));
    ck_assert_ptr_nonnull(strstr(out, "2 of 3 layouts valid\n"));
    ck_assert_ptr_null(strstr(out, "DOES NOT FIT in GPU memory"));
    ck_assert_str_eq(err, "");
    free(out);
    free(err);
    /* a valid layout the estimate does not fit says so on its first line */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, BIN " check %s",
             tu_write("unfit.yaml", "model: moe-30b\ncluster: { base: dgx-h100, nodes: 1 }\n"
                                    "training: { seq_length: 4096, global_batch_size: 64, "
                                    "micro_batch_size: 8 }\nlayouts: [{ tp: 1, pp: 1, ep: 8 }]\n"));
    ck_assert_int_eq(tu_run(cmd, &out, &err), 1); /* it cannot run as it is */
    ck_assert_ptr_nonnull(strstr(out, "-> valid, but DOES NOT FIT in GPU memory\n"));
    ck_assert_ptr_nonnull(strstr(out, "1 of 1 layouts valid (1 of them do not fit in GPU memory)"));
    /* the first change that fits (the distributed optimizer and selective
     * recompute do not: the experts' optimizer state, flash attention),
     * with the estimate the changed scenario itself gets */
    ck_assert_ptr_nonnull(strstr(out, "            it fits with recompute: full: 77.49 GB\n"));
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, BIN " check %s",
             tu_write("fit.yaml", "model: moe-30b\ncluster: { base: dgx-h100, nodes: 1 }\n"
                                  "training: { seq_length: 4096, global_batch_size: 64, "
                                  "micro_batch_size: 8, recompute: full }\n"
                                  "layouts: [{ tp: 1, pp: 1, ep: 8 }]\n"));
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "total            77.49 GB of 80.0 GB: fits"));
    free(out);
    free(err);
    /* doubling the stages of a layout that names its dp halves the dp too */
    snprintf(cmd, sizeof cmd, BIN " check %s",
             tu_write("fit.yaml", "model: gpt3-175b\ncluster: { base: dgx-h100, nodes: 8 }\n"
                                  "training: { seq_length: 2048, global_batch_size: 64, "
                                  "distributed_optimizer: true, sequence_parallel: true, "
                                  "recompute: full }\n"
                                  "layouts: [{ tp: 8, pp: 2, dp: 4 }]\n"));
    ck_assert_int_eq(tu_run(cmd, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(out, "it fits with pp: 4, dp: 2:"));
    free(out);
    free(err);
}
END_TEST

START_TEST(check_json_and_determinism)
{
    char *a, *b;
    ck_assert_int_eq(tu_run(BIN " check --format json " SEED, &a, NULL), 1);
    ck_assert_int_eq(tu_run(BIN " check --format=json " SEED, &b, NULL), 1);
    ck_assert_str_eq(a, b);
    ck_assert(json_balanced(a));
    ck_assert_ptr_nonnull(strstr(a, "\"scenario\": \"seed-options\""));
    ck_assert_ptr_nonnull(
        strstr(a, "\"errors\": [\n        \"needs 2048 GPUs (tp 8 x pp 4 x ep 16 x dp 4); "
                  "the cluster has 512\""));
    ck_assert_ptr_nonnull(strstr(a, "\"memory_fits\": true"));
    free(a);
    free(b);
    char *t1, *t2;
    tu_run(BIN " check " SEED, &t1, NULL);
    tu_run(BIN " check " SEED, &t2, NULL);
    ck_assert_str_eq(t1, t2);
    free(t1);
    free(t2);
}
END_TEST

/* Megatron's recompute modules, in the text and the JSON. */
START_TEST(check_names_the_recompute_modules)
{
    char *out;
    const char *b4 = BIN " check %s " CS_SOURCE_DIR "/validation/megatron/b4.yaml";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, b4, "");
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "recompute selective of moe_act, layernorm,"));
    free(out);
    snprintf(cmd, sizeof cmd, b4, "--format json");
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"recompute_modules\": [\n        \"moe_act\",\n"
                                      "        \"layernorm\"\n      ]"));
    free(out);
}
END_TEST

/* presets: every shipped model and cluster, one line each with its figures. */
START_TEST(presets_lists_one_line_each)
{
    char *out, *err;
    ck_assert_int_eq(tu_run(BIN " presets", &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "models (model: NAME), "));
    ck_assert_ptr_nonnull(strstr(out, "\n  moe-30b              16 layers, hidden 1024, 64 experts "
                                      "(top-2), 30.2 B parameters: "));
    ck_assert_ptr_nonnull(strstr(out, "\n  dgx-h100             64 x 8 H100-SXM5-80GB, 80 GB, 989 "
                                      "TFLOP/s; 450 GB/s in a node, 8 x 400 Gb/s out: "));
    free(out);
    free(err);
    ck_assert_int_eq(tu_run(BIN " presets models", &out, &err), 0);
    ck_assert_ptr_null(strstr(out, "dgx-h100"));
    free(out);
    free(err);
    ck_assert_int_eq(tu_run(BIN " presets gpus", &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "models or topologies, not 'gpus'"));
    free(out);
    free(err);
}
END_TEST

/* The number after `key": ` in text (the first one), or NaN. */
static double json_number(const char *text, const char *key)
{
    char want[128];
    snprintf(want, sizeof want, "\"%s\": ", key);
    const char *p = strstr(text, want);
    return p ? strtod(p + strlen(want), NULL) : NAN;
}

/* Under the analytic model run checks each layout against the flow model
 * on a 2-micro-batch iteration: with one NIC per node the models part (the
 * analytic one prices each collective as if it had the NIC to itself) and
 * run warns; the check's times are those of that shorter iteration replayed
 * by itself under each model. */
START_TEST(analytic_runs_are_checked_against_flow)
{
    const char *yaml = "model: moe-30b\n"
                       "cluster: { base: cluster-512-64gb, scale_out: { nics_per_node: %s } }\n"
                       "training: { seq_length: 2048, global_batch_size: %d, "
                       "sequence_parallel: true, moe_token_dispatcher_type: alltoall, "
                       "moe_grouped_gemm: true, distributed_optimizer: true, "
                       "overlap_grad_reduce: true }\n"
                       "network_model: analytic\n"
                       "layouts: [{ name: a, tp: 4, pp: 4, ep: 8, dp: 4 }]\n";
    char text[1024], cmd[4096], *out, *err;
    snprintf(text, sizeof text, yaml, "1", 512);
    snprintf(cmd, sizeof cmd, BIN " run %s --no-plots --out %s/fc", tu_write("fc.yaml", text),
             tu_temp_dir());
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "warning: replayed on 2 micro-batches, the flow network "
                                      "model takes +"));
    free(out);
    free(err);
    strcat(cmd, " --format json");
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    double analytic = json_number(out, "analytic_s"), flow = json_number(out, "flow_s");
    ck_assert(flow > 1.1 * analytic);
    ck_assert_ptr_nonnull(strstr(out, "\"warned\": true"));
    free(out);
    free(err);
    /* the same iteration by itself: dense DP 32 x 1 x 2 micro-batches */
    snprintf(text, sizeof text, yaml, "1", 64);
    for (int model = 0; model < 2; model++) {
        snprintf(cmd, sizeof cmd, BIN " run %s --no-plots --format json --network-model %s --out "
                                      "%s/fc --no-flow-check",
                 tu_write("fc2.yaml", text), model ? "flow" : "analytic", tu_temp_dir());
        ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
        ck_assert(json_number(out, "iteration_time_s") == (model ? flow : analytic));
        ck_assert_ptr_null(strstr(out, "flow_check"));
        free(out);
        free(err);
    }
    /* sweep and search warn too (the sweep at the scenario's own values,
     * the search for its best) */
    snprintf(text, sizeof text, yaml, "1", 512);
    strcat(text, "sweep: { mode: grid, parameters: { training.seq_length: [2048] } }\n"
                 "search: { tp: [4], pp: [4], ep: [8], micro_batch_size: 1, schedule: 1f1b, "
                 "recompute: none, top: 1 }\n");
    const char *cmds[] = {"sweep %s --quiet --no-plots --out %s/fc",
                          "search %s --no-plots --jobs 1 --out %s/fc"};
    const char *want[] = {"warning: a at the scenario's own values: replayed on 2 micro-batches",
                          "warning: rank 1 (tp4-pp4-ep8-"};
    for (int k = 0; k < 2; k++) {
        char line[2048];
        snprintf(line, sizeof line, cmds[k], tu_write("fc.yaml", text), tu_temp_dir());
        snprintf(cmd, sizeof cmd, BIN " %s", line);
        ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
        ck_assert_msg(strstr(out, want[k]), "%s: %s%s", cmds[k], out, err);
        free(out);
        free(err);
    }
    /* interleaved takes a multiple of pp micro-batches: checked on pp of them */
    snprintf(cmd, sizeof cmd,
             BIN " run " CS_SOURCE_DIR "/examples/schedules/interleaved.yaml --network-model "
                 "analytic --no-plots --format json --out %s/fc",
             tu_temp_dir());
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"flow_check\": {\n        \"microbatches\": 4,"));
    free(out);
    free(err);
    /* eight NICs per node: they agree, no warning */
    snprintf(text, sizeof text, yaml, "8", 512);
    snprintf(cmd, sizeof cmd, BIN " run %s --no-plots --out %s/fc", tu_write("fc.yaml", text),
             tu_temp_dir());
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_ptr_null(strstr(out, "warning: replayed on"));
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "rm -rf %s/fc %s/fc.yaml %s/fc2.yaml", tu_temp_dir(), tu_temp_dir(),
             tu_temp_dir());
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* --timeline-window: timeline.dat holds only the window's bars; bad
 * windows are refused. */
START_TEST(timeline_window)
{
    char cmd[4096], path[4096], *out, *err;
    snprintf(cmd, sizeof cmd,
             BIN " run " SEED " --network-model analytic --no-flow-check --timeline-window "
                 "30ms:45ms --out %s/tw",
             tu_temp_dir());
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    free(out);
    free(err);
    snprintf(path, sizeof path, "%s/tw/option1/timeline.dat", tu_temp_dir());
    char *dat = tu_read(path);
    ck_assert_ptr_nonnull(dat);
    long rows = 0, labelled = 0;
    for (char *line = strtok(dat, "\n"); line; line = strtok(NULL, "\n")) {
        double start, end;
        if (line[0] == '#' ||
            sscanf(line, "%*d\t\"stage %*d GPU %*d\"\t%*d\t%*s\t%lf\t%lf", &start, &end) != 2)
            continue;
        rows++;
        labelled += strcmp(line + strlen(line) - 2, "\"\"") != 0;
        ck_assert_msg(end >= 30 && start <= 45, "%s", line);
    }
    ck_assert(rows > 0 && labelled > 0);
    free(dat);
    /* the script is told how many bars carry a label, then the window */
    snprintf(path, sizeof path, "%s/tw/plots.txt", tu_temp_dir());
    char *plots = tu_read(path), want[128];
    snprintf(want, sizeof want, ", 30.000 to 45.000 ms\tpng\t%ld\t30.000000000\t45.000000000\n",
             labelled);
    ck_assert_msg(strstr(plots, want) != NULL, "%s", plots);
    free(plots);
    const char *bad[] = {"45ms:30ms", "30ms", "a:b", "-1ms:2ms"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(cmd, sizeof cmd, BIN " run " SEED " --timeline-window %s --out %s/tw", bad[i],
                 tu_temp_dir());
        ck_assert_int_eq(tu_run(cmd, &out, &err), 2);
        ck_assert_ptr_nonnull(strstr(err, "--timeline-window wants FROM:TO"));
        free(out);
        free(err);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s/tw", tu_temp_dir());
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* --trace-events: a bound of one event traces the first captured GPU
 * only (the first stage's), 0 every captured one; bad counts are refused. */
START_TEST(trace_events_bound)
{
    char cmd[4096], path[4096], *out, *err;
    static const char *const bounds[] = {"1", "0"};
    for (int b = 0; b < 2; b++) {
        snprintf(cmd, sizeof cmd,
                 BIN " run " SEED " --network-model analytic --no-flow-check --trace-events %s "
                     "--out %s/te",
                 bounds[b], tu_temp_dir());
        ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
        free(out);
        free(err);
        snprintf(path, sizeof path, "%s/te/option1/trace.json", tu_temp_dir());
        char *trace = tu_read(path);
        ck_assert_ptr_nonnull(trace);
        long processes = 0;
        for (const char *p = trace; (p = strstr(p, "\"process_name\"")); p++)
            processes++;
        ck_assert_ptr_nonnull(strstr(trace, "\"args\":{\"name\":\"GPU 0 (stage 0)\"}"));
        if (b == 0)
            ck_assert_int_eq(processes, 1);
        else
            ck_assert(processes > 1);
        free(trace);
    }
    /* --trace-ranks alone: that GPU traced, captured besides the default
     * (option 1's four stages: five blocks of memory.dat) */
    snprintf(cmd, sizeof cmd,
             BIN " run " SEED " --network-model analytic --no-flow-check --trace-ranks 1 "
                 "--out %s/te",
             tu_temp_dir());
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    free(out);
    free(err);
    snprintf(path, sizeof path, "%s/te/option1/trace.json", tu_temp_dir());
    char *trace = tu_read(path);
    ck_assert_ptr_nonnull(strstr(trace, "\"args\":{\"name\":\"GPU 1 (stage 0)\"}"));
    ck_assert_ptr_null(strstr(trace, "\"pid\":1,"));
    free(trace);
    snprintf(path, sizeof path, "%s/te/option1/memory.dat", tu_temp_dir());
    char *memory = tu_read(path);
    long blocks = 0;
    for (const char *p = memory; (p = strstr(p, "\n\"stage ")); p++)
        blocks++;
    ck_assert_int_eq(blocks, 5);
    free(memory);
    const char *bad[] = {"-1", "x", "10k", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(cmd, sizeof cmd, BIN " run " SEED " --trace-events '%s' --out %s/te", bad[i],
                 tu_temp_dir());
        ck_assert_int_eq(tu_run(cmd, &out, &err), 2);
        ck_assert_ptr_nonnull(strstr(err, "--trace-events wants a count of events"));
        free(out);
        free(err);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s/te", tu_temp_dir());
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(bad_input_exits_2_with_position_and_no_stdout)
{
    const char *path = tu_write("bad.yaml", "model: moe-30b\n"
                                            "cluster: cluster-512-64gb\n"
                                            "training: { seq_length: 2048, global_batch_size: 128 }\n"
                                            "layouts:\n"
                                            "  - { tp: 4, pp: 4, ep: 8, dpp: 4 }\n");
    char cmd[512], *out, *err;
    snprintf(cmd, sizeof cmd, BIN " check %s", path);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 2);
    ck_assert_str_eq(out, "");
    ck_assert_msg(strstr(err, "bad.yaml:5:28: error: unknown key 'dpp' in layout; did you mean "
                              "'dp'?"),
                  "%s", err);
    /* The offending line is quoted with a caret under the column. */
    ck_assert_ptr_nonnull(strstr(err, "    5 |   - { tp: 4, pp: 4, ep: 8, dpp: 4 }\n"
                                      "      |                            ^\n"));
    free(out);
    free(err);
}
END_TEST

START_TEST(missing_file_and_usage_errors)
{
    char *out, *err;
    ck_assert_int_eq(tu_run(BIN " check /nonexistent/x.yaml", &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.yaml: error: cannot open"));
    free(out);
    free(err);
    ck_assert_int_eq(tu_run(BIN " frobnicate", NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "unknown command 'frobnicate'\n")); /* nothing near */
    free(err);
    /* a near miss names what was meant: commands, and each command's
     * options as its help names them (--name=VALUE by its name) */
    static const char *const near[][2] = {
        {" serch x.yaml", "unknown command 'serch'; did you mean 'search'?"},
        {" help sweeep", "unknown command 'sweeep'; did you mean 'sweep'?"},
        {" search --rsume x.yaml", "unknown option '--rsume'; did you mean '--resume'?"},
        {" run --no-plot x.yaml", "unknown option '--no-plot'; did you mean '--no-plots'?"},
        {" sweep --jbos=2 x.yaml", "unknown option '--jbos=2'; did you mean '--jobs'?"},
        {" check --fromat json x.yaml", "unknown option '--fromat'; did you mean '--format'?"},
    };
    for (size_t k = 0; k < sizeof near / sizeof *near; k++) {
        char line[256];
        snprintf(line, sizeof line, BIN "%s", near[k][0]);
        ck_assert_int_eq(tu_run(line, NULL, &err), 2);
        ck_assert_msg(strstr(err, near[k][1]) != NULL, "%s: %s", near[k][0], err);
        free(err);
    }
    ck_assert_int_eq(tu_run(BIN " check --format xml " SEED, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "unknown format 'xml'"));
    free(err);
    ck_assert_int_eq(tu_run(BIN " check", NULL, NULL), 2);
    ck_assert_int_eq(tu_run(BIN " --version", &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "clustersim "));
    free(out);
    ck_assert_int_eq(tu_run(BIN " help check", &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: clustersim check FILE"));
    free(out);
}
END_TEST

START_TEST(valid_scenario_exits_0)
{
    const char *path = tu_write("ok.yaml", "model: moe-30b\n"
                                           "cluster: cluster-512-64gb\n"
                                           "training: { seq_length: 2048, global_batch_size: 128,"
                                           " sequence_parallel: true }\n"
                                           "layouts:\n"
                                           "  - { tp: 4, pp: 4, ep: 8, dp: 4 }\n");
    char cmd[512];
    snprintf(cmd, sizeof cmd, BIN " check %s", path);
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
}
END_TEST

START_TEST(unknown_preset_is_positioned)
{
    char *err;
    const char *path = tu_write("env.yaml", "model: nosuchmodel\n"
                                            "cluster: cluster-512-64gb\n"
                                            "training: { seq_length: 2048, global_batch_size: 128 }\n"
                                            "layouts: [ { tp: 4, pp: 4, ep: 8, dp: 4 } ]\n");
    char cmd[512];
    snprintf(cmd, sizeof cmd, BIN " check %s", path);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "env.yaml:1:8: error: no model preset named 'nosuchmodel'"));
    free(err);
}
END_TEST

START_TEST(preset_dir_from_environment)
{
    /* A preset directory given by CLUSTERSIM_DATA is searched first. */
    const char *model = tu_write("tiny.yaml", "{ num_layers: 4, hidden_size: 512, "
                                              "num_attention_heads: 8, vocab_size: 1000 }\n");
    char dir[256], cmd[1024];
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(model, '/') - model), model);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/data/models && mv %s %s/data/models/", dir, model, dir);
    ck_assert_int_eq(system(cmd), 0);
    const char *path = tu_write("env.yaml", "model: tiny\n"
                                            "cluster: { base: dgx-h100, nodes: 1 }\n"
                                            "training: { seq_length: 1024, global_batch_size: 8 }\n"
                                            "layouts: [ { tp: 2, pp: 2, dp: 2 } ]\n");
    char *out;
    snprintf(cmd, sizeof cmd, "CLUSTERSIM_DATA=%s/data " BIN " check %s", dir, path);
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "model     tiny: 4 layers, hidden 512"));
    free(out);
}
END_TEST

/* `run` prints the side-by-side report, writes results.json, results.csv and
 * report.txt, and the JSON it writes is what --format json prints. */
START_TEST(run_seed_writes_results)
{
    const char *marker = tu_write("marker", "");
    char dir[256], cmd[1024], *out, *err;
    snprintf(dir, sizeof dir, "%.*s/res", (int)(strrchr(marker, '/') - marker), marker);
    snprintf(cmd, sizeof cmd, BIN " run " SEED " --network-model analytic --out %s", dir);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "iteration time (s)"));
    ck_assert_ptr_nonnull(strstr(out, "target iteration_time"));
    ck_assert_ptr_nonnull(strstr(out, "NOT MET"));
    ck_assert_ptr_nonnull(strstr(out, "needs 2048 GPUs"));
    char path[512];
    snprintf(path, sizeof path, "%s/report.txt", dir);
    char *report = tu_read(path);
    ck_assert_str_eq(report, out);
    snprintf(cmd, sizeof cmd, BIN " run " SEED " --network-model analytic --format json --out %s",
             dir);
    char *json;
    ck_assert_int_eq(tu_run(cmd, &json, NULL), 0);
    snprintf(path, sizeof path, "%s/results.json", dir);
    char *written = tu_read(path);
    ck_assert_str_eq(json, written);
    ck_assert(json_balanced(json));
    static const char *const fields[] = {
        "\"network_model\": \"analytic\"", "\"iteration_time_s\"", "\"throughput_seq_per_s\"",
        "\"throughput_tokens_per_s\"", "\"model_tflops_per_gpu\"", "\"mfu\"",
        "\"bubble_fraction\"", "\"memory_peak_bytes\"", "\"memory_peak_stage\"",
        "\"memory_fits\"", "\"memory_breakdown_bytes\"", "\"time_breakdown_s\"",
        "\"tp_exposed\"", "\"per_stage\"", "\"busy_s\"", "\"targets\"", "\"met\": false"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        ck_assert_msg(strstr(json, fields[i]), "missing %s", fields[i]);
    snprintf(path, sizeof path, "%s/results.csv", dir);
    char *csv = tu_read(path);
    ck_assert_ptr_nonnull(strstr(csv, "layout,tp,pp,ep,dp,etp,cp,dense_dp,expert_dp,gpus,valid,"
                                      "error,microbatches,iteration_time_s"));
    /* The original asks for 2048 GPUs: dense DP 2048 / (8 x 4), expert DP
     * 2048 / (4 x 8 x 16). */
    ck_assert_ptr_nonnull(strstr(csv, "\noriginal,8,4,16,4,8,1,64,4,2048,false,"));
    free(out);
    free(err);
    free(report);
    free(json);
    free(written);
    free(csv);
}
END_TEST

START_TEST(run_is_deterministic)
{
    char *a, *b, cmd[2048];
    snprintf(cmd, sizeof cmd, BIN " run " SEED " --format json --out %s/det", tu_temp_dir());
    ck_assert_int_eq(tu_run(cmd, &a, NULL), 0);
    ck_assert_int_eq(tu_run(cmd, &b, NULL), 0);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
}
END_TEST

START_TEST(run_bad_input_writes_nothing)
{
    const char *path = tu_write("broken.yaml", "model: moe-30b\ncluster: [\n");
    char dir[256], cmd[1024], *out;
    snprintf(dir, sizeof dir, "%.*s/never", (int)(strrchr(path, '/') - path), path);
    snprintf(cmd, sizeof cmd, BIN " run %s --out %s", path, dir);
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 2);
    ck_assert_str_eq(out, "");
    snprintf(cmd, sizeof cmd, "test -e %s", dir);
    ck_assert_int_ne(tu_run(cmd, NULL, NULL), 0);
    free(out);
    /* No valid layout: exit 1, with the reasons. */
    path = tu_write("none.yaml", "model: moe-30b\n"
                                 "cluster: cluster-512-64gb\n"
                                 "training: { seq_length: 2048, global_batch_size: 128 }\n"
                                 "layouts: [ { name: big, tp: 8, pp: 4, ep: 16, dp: 4 } ]\n");
    snprintf(cmd, sizeof cmd, BIN " run %s --out %s", path, dir);
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "needs 2048 GPUs"));
    free(out);
    ck_assert_int_eq(tu_run(BIN " run " SEED " --network-model warp", NULL, NULL), 2);
    ck_assert_int_eq(tu_run(BIN " run " SEED " --seed -3", NULL, NULL), 2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli");
    TCase *t = tcase_create("check");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, check_seed_reports_invalid_original);
    tcase_add_test(t, validate_marks_open_discrepancies);
    tcase_add_test(t, hostile_sizes_and_names);
    tcase_add_test(t, help_and_merge_edges);
    tcase_add_test(t, temporaries_do_not_follow_links);
    tcase_add_test(t, check_json_and_determinism);
    tcase_add_test(t, check_names_the_recompute_modules);
    tcase_add_test(t, presets_lists_one_line_each);
    tcase_add_test(t, analytic_runs_are_checked_against_flow);
    tcase_add_test(t, timeline_window);
    tcase_add_test(t, trace_events_bound);
    tcase_add_test(t, bad_input_exits_2_with_position_and_no_stdout);
    tcase_add_test(t, missing_file_and_usage_errors);
    tcase_add_test(t, valid_scenario_exits_0);
    tcase_add_test(t, unknown_preset_is_positioned);
    tcase_add_test(t, preset_dir_from_environment);
    tcase_add_test(t, run_seed_writes_results);
    tcase_add_test(t, run_is_deterministic);
    tcase_add_test(t, run_bad_input_writes_nothing);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
