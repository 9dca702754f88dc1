/* Sweeps: point expansion, swept values with units, rows in the same order
 * whatever the jobs, shards that merge into the unsharded CSV, resume after a
 * torn write, repeat statistics against a direct computation, seeds. */
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/layout.h"
#include "replay/replay.h"
#include "study/sweep.h"
#include "testutil.h"

#define BIN CS_BINARY

/* A small MoE model on 2 DGX H100 nodes, analytic network: fast replays. */
static const char *scenario(const char *sweep)
{
    static char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "name: sw\n"
             "model: { name: e, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
             "vocab_size: 32000, moe: { num_experts: 16, router_topk: 2, ffn_hidden_size: 2048 } }\n"
             "cluster: { base: dgx-h100, nodes: 2 }\n"
             "training: { seq_length: 1024, global_batch_size: 32, sequence_parallel: true, "
             "distributed_optimizer: true, moe_routing: random, tokens: 1B }\n"
             "network_model: analytic\n"
             "seed: 7\n"
             "cost: { gpu_hour: 2.00 USD }\n"
             "layouts:\n"
             "  - { name: a, tp: 2, pp: 2, ep: 2, dp: 2 }\n"
             "  - { name: b, tp: 1, pp: 2, ep: 4, dp: 2 }\n"
             "%s",
             sweep);
    return tu_write("sweep.yaml", yaml);
}

static cs_scenario *load(const char *path)
{
    static cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_scenario_load(path, &tu_paths, &s, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert_int_eq(rc, 0);
    return &s;
}

START_TEST(grid_and_zip_points)
{
    cs_scenario *s = load(scenario("sweep:\n  parameters:\n"
                                   "    cluster.scale_out.nic_bandwidth: [100 Gb/s, 200 Gb/s, 400 Gb/s]\n"
                                   "    training.micro_batch_size: [1, 2]\n"));
    ck_assert_int_eq(cs_sweep_point_count(&s->sweep), 6);
    long idx[2];
    /* The last parameter varies fastest. */
    cs_sweep_point_indices(&s->sweep, 0, idx);
    ck_assert(idx[0] == 0 && idx[1] == 0);
    cs_sweep_point_indices(&s->sweep, 1, idx);
    ck_assert(idx[0] == 0 && idx[1] == 1);
    cs_sweep_point_indices(&s->sweep, 5, idx);
    ck_assert(idx[0] == 2 && idx[1] == 1);
    cs_scenario_free(s);
    s = load(scenario("sweep:\n  mode: zip\n  parameters:\n"
                      "    cluster.scale_out.nic_bandwidth: [100 Gb/s, 200 Gb/s]\n"
                      "    training.micro_batch_size: [1, 2]\n"));
    ck_assert_int_eq(cs_sweep_point_count(&s->sweep), 2);
    cs_sweep_point_indices(&s->sweep, 1, idx);
    ck_assert(idx[0] == 1 && idx[1] == 1);
    cs_scenario_free(s);
    /* Zip lists of different lengths are refused, at the parameter. */
    cs_scenario bad;
    cs_diags d;
    cs_diags_init(&d);
    const char *path = scenario("sweep:\n  mode: zip\n  parameters:\n"
                                "    cluster.scale_out.nic_bandwidth: [100 Gb/s, 200 Gb/s]\n"
                                "    training.micro_batch_size: [1, 2, 4]\n");
    ck_assert_int_eq(cs_scenario_load(path, &tu_paths, &bad, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "zip sweeps need lists of one length", 15, 5);
    cs_scenario_free(&bad);
    cs_diags_free(&d);
    /* A path the schema does not have, with a suggestion. */
    cs_diags_init(&d);
    path = scenario("sweep:\n  parameters:\n    cluster.scale_out.nic_bandwith: [1 Gb/s]\n");
    ck_assert_int_eq(cs_scenario_load(path, &tu_paths, &bad, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "no key 'nic_bandwith' in scale_out", 13, 5);
    cs_scenario_free(&bad);
    cs_diags_free(&d);
}
END_TEST

/* A swept value is read with its unit, as if written in place. */
START_TEST(swept_values_keep_their_units)
{
    const char *path = scenario("sweep:\n  parameters:\n"
                                "    cluster.scale_out.nic_bandwidth: [100 Gb/s, 50 GB/s]\n"
                                "    model.hidden_size: [2048]\n");
    cs_scenario *base = load(path);
    cs_yfile *f = base->sources.files[0];
    yaml_node_t *list = cs_yfile_node(f, base->sweep.params[0].list);
    yaml_node_t *hidden = cs_yfile_node(f, base->sweep.params[1].list);
    cs_override o[2] = {{"cluster.scale_out.nic_bandwidth", list->data.sequence.items.start[1]},
                        {"model.hidden_size", hidden->data.sequence.items.start[0]}};
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_scenario_load_with(path, &tu_paths, o, 2, &s, &d), 0);
    ck_assert(s.cluster.scale_out.nic_bandwidth == 50e9);
    ck_assert(s.cluster.scale_out.latency[CS_PROTO_SIMPLE] == base->cluster.scale_out.latency[CS_PROTO_SIMPLE]);
    /* Derived keys follow the swept one: kv_channels = hidden / heads. */
    ck_assert_int_eq(s.model.hidden_size, 2048);
    ck_assert_int_eq(s.model.kv_channels, 128);
    cs_scenario_free(&s);
    cs_scenario_free(base);
    cs_diags_free(&d);
}
END_TEST

static char *sweep_csv(const char *path, const char *args, const char *out_name)
{
    char cmd[1024], csv[512];
    const char *dir = strrchr(path, '/');
    snprintf(csv, sizeof csv, "%.*s/%s", (int)(dir - path), path, out_name);
    snprintf(cmd, sizeof cmd, BIN " sweep %s --quiet --out %s %s", path, csv, args);
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s/sweep.csv", csv);
    return tu_read(cmd);
}

#define NIC_SWEEP                                                                             \
    "sweep:\n  parameters:\n"                                                                 \
    "    cluster.scale_out.nic_bandwidth: [100 Gb/s, 200 Gb/s, 400 Gb/s]\n"                   \
    "    training.micro_batch_size: [1, 2]\n"

/* The same rows in the same order with 1 and 2 jobs, and across runs. */
START_TEST(order_independent_of_jobs)
{
    const char *path = scenario(NIC_SWEEP);
    char *one = sweep_csv(path, "--jobs 1", "j1");
    char *two = sweep_csv(path, "--jobs 2", "j2");
    char *again = sweep_csv(path, "--jobs 2", "j3");
    ck_assert_str_eq(one, two);
    ck_assert_str_eq(two, again);
    /* Header, then 6 points x 2 layouts. */
    long lines = 0;
    for (const char *p = one; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 1 + 12);
    ck_assert_ptr_nonnull(strstr(one, "point,layout,statistic,cluster.scale_out.nic_bandwidth,"
                                      "training.micro_batch_size,valid,error,iteration_time_s,"));
    ck_assert_ptr_nonnull(strstr(one, "\n5,b,value,400 Gb/s,2,true,,"));
    /* Two parameters: a heat map per layout. */
    char png[512];
    struct stat st;
    snprintf(png, sizeof png, "%.*s/j1/sweep-a.png", (int)(strrchr(path, '/') - path), path);
    ck_assert_msg(stat(png, &st) == 0 && st.st_size > 1000, "no heat map %s", png);
    free(one);
    free(two);
    free(again);
}
END_TEST

/* Three shards merge into what one run writes. */
START_TEST(shards_merge_into_the_whole)
{
    const char *path = scenario(NIC_SWEEP);
    char *whole = sweep_csv(path, "--jobs 2", "whole");
    char dir[256], cmd[2048];
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
    for (int k = 1; k <= 3; k++) {
        char args[64], name[16];
        snprintf(args, sizeof args, "--shard %d/3 --jobs 1", k);
        snprintf(name, sizeof name, "s%d", k);
        free(sweep_csv(path, args, name));
    }
    char *merged;
    snprintf(cmd, sizeof cmd, BIN " merge %s/s3/sweep.csv %s/s1/sweep.csv %s/s2/sweep.csv", dir,
             dir, dir);
    ck_assert_int_eq(tu_run(cmd, &merged, NULL), 0);
    ck_assert_str_eq(merged, whole);
    /* the printed table names each swept key whole, values under it */
    snprintf(cmd, sizeof cmd, "%s/whole/sweep.csv", dir);
    FILE *table = tmpfile();
    ck_assert_ptr_nonnull(table);
    ck_assert_int_eq(cs_sweep_print(cmd, table), 0);
    rewind(table);
    char head[512];
    ck_assert_ptr_nonnull(fgets(head, sizeof head, table));
    ck_assert_ptr_nonnull(strstr(head, " cluster.scale_out.nic_bandwidth "));
    ck_assert_ptr_nonnull(strstr(head, " training.micro_batch_size "));
    fclose(table);
    /* -o writes the same; a CSV of another sweep is refused. */
    snprintf(cmd, sizeof cmd, BIN " merge %s/s1/sweep.csv %s/s2/sweep.csv %s/s3/sweep.csv -o %s/m.csv",
             dir, dir, dir, dir);
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s/m.csv", dir);
    char *file = tu_read(cmd);
    ck_assert_str_eq(file, whole);
    const char *other = tu_write("other.csv", "point,layout,statistic,x,valid,error\n0,a,value,1,true,\n");
    char *err;
    snprintf(cmd, sizeof cmd, BIN " merge %s/s1/sweep.csv %s", dir, other);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "not shards of one sweep"));
    snprintf(cmd, sizeof cmd, BIN " merge %s/s1/sweep.csv %s/s1/sweep.csv", dir, dir);
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 2);
    free(err);
    free(whole);
    free(merged);
    free(file);
}
END_TEST

/* Shards that do not make one whole sweep are refused: a missing shard, a
 * torn row, rows of another scenario with the same columns; and --resume
 * refuses a sweep.csv another scenario text wrote. */
START_TEST(merge_and_resume_check_their_origin)
{
    char path[512], dir[256], cmd[2048], *err;
    snprintf(path, sizeof path, "%s", scenario(NIC_SWEEP)); /* tu_write's buffer is reused */
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
    for (int k = 1; k <= 3; k++) {
        char args[64], name[16];
        snprintf(args, sizeof args, "--shard %d/3 --jobs 1", k);
        snprintf(name, sizeof name, "o%d", k);
        free(sweep_csv(path, args, name));
    }
    snprintf(cmd, sizeof cmd, BIN " merge %s/o1/sweep.csv %s/o2/sweep.csv", dir, dir);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "1 of the 3 shards are missing"));
    free(err);
    /* The same shard twice; a shard cut short between a point's rows. */
    snprintf(cmd, sizeof cmd, BIN " merge %s/o1/sweep.csv %s/o1/sweep.csv %s/o2/sweep.csv", dir,
             dir, dir);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "shard 1/3 is in"));
    free(err);
    snprintf(cmd, sizeof cmd, "%s/o2/sweep.csv", dir);
    char *two = tu_read(cmd);
    *strrchr(two, '\n') = '\0'; /* the last row's end */
    *(strrchr(two, '\n') + 1) = '\0'; /* ... and the whole last row */
    char cut2[512];
    snprintf(cut2, sizeof cut2, "%s", tu_write("cut.csv", two));
    free(two);
    snprintf(cmd, sizeof cmd, BIN " merge %s/o1/sweep.csv %s %s/o3/sweep.csv", dir, cut2, dir);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "rows where the others have"));
    free(err);
    /* A torn row: the last row's last 8 fields cut away. */
    snprintf(cmd, sizeof cmd, "%s/o1/sweep.csv", dir);
    char *one = tu_read(cmd);
    for (int i = 0; i < 8; i++)
        *strrchr(one, ',') = '\0';
    const char *torn = tu_write("torn.csv", one);
    snprintf(cmd, sizeof cmd, BIN " merge %s", torn);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "fields where the header has"));
    free(err);
    free(one);
    /* The same sweep with another seed: same columns, another fingerprint. */
    char *other = tu_read(path);
    char *seed = strstr(other, "seed: 7");
    ck_assert_ptr_nonnull(seed);
    seed[6] = '8';
    char path2[512];
    snprintf(path2, sizeof path2, "%s", tu_write("other-seed.yaml", other));
    free(other);
    char dir2[300];
    snprintf(dir2, sizeof dir2, "%s/o3b", dir);
    snprintf(cmd, sizeof cmd, BIN " sweep %s --quiet --shard 3/3 --out %s", path2, dir2);
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
    snprintf(cmd, sizeof cmd, BIN " merge %s/o1/sweep.csv %s/o2/sweep.csv %s/sweep.csv", dir, dir,
             dir2);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "holds rows of another sweep"));
    free(err);
    /* --resume in o1 (shard 1/3 of seed 7) with the seed-8 scenario. */
    snprintf(cmd, sizeof cmd, BIN " sweep %s --quiet --resume --shard 1/3 --out %s/o1", path2,
             dir);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "holds rows of another sweep or shard"));
    free(err);
    /* A sweep.csv that is endless (/dev/zero) is refused, not read to 1 GB
     * and then silently replaced. */
    char zero[400];
    snprintf(zero, sizeof zero, "%s/oz", dir);
    ck_assert_int_eq(mkdir(zero, 0755), 0);
    snprintf(cmd, sizeof cmd, "%s/sweep.csv", zero);
    ck_assert_int_eq(symlink("/dev/zero", cmd), 0);
    snprintf(cmd, sizeof cmd, BIN " sweep %s --quiet --resume --out %s", path, zero);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "cannot resume from"));
    ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
    free(err);
}
END_TEST

/* A sweep killed mid-write leaves whole points and maybe a torn line;
 * --resume keeps the whole points and ends with the full CSV. */
START_TEST(resume_after_a_torn_write)
{
    const char *path = scenario(NIC_SWEEP);
    char *whole = sweep_csv(path, "--jobs 2", "r");
    char dir[256], csv[512], cmd[1024];
    snprintf(dir, sizeof dir, "%.*s/r", (int)(strrchr(path, '/') - path), path);
    snprintf(csv, sizeof csv, "%s/sweep.csv", dir);
    /* Cut the file in the middle of point 4's second row. */
    const char *cut = strstr(whole, "\n4,b,");
    ck_assert_ptr_nonnull(cut);
    FILE *f = fopen(csv, "w");
    fwrite(whole, 1, (size_t)(cut - whole) + 8, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, BIN " sweep %s --quiet --resume --jobs 2 --out %s", path, dir);
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
    char *resumed = tu_read(csv);
    ck_assert_str_eq(resumed, whole);
    /* Resuming a finished sweep changes nothing. */
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
    char *again = tu_read(csv);
    ck_assert_str_eq(again, whole);
    free(whole);
    free(resumed);
    free(again);
}
END_TEST

static double field_of(const char *csv, const char *row_prefix, const char *column)
{
    const char *head_end = strchr(csv, '\n');
    int col = 0;
    const char *p = csv;
    size_t clen = strlen(column);
    for (; p < head_end; col++) {
        const char *comma = memchr(p, ',', (size_t)(head_end - p));
        size_t len = (size_t)((comma ? comma : head_end) - p);
        if (len == clen && !strncmp(p, column, len))
            break;
        p = comma ? comma + 1 : head_end;
    }
    const char *row = strstr(csv, row_prefix);
    ck_assert_ptr_nonnull(row);
    for (int i = 0; i < col; i++)
        row = strchr(row, ',') + 1;
    return atof(row);
}

/* Repeats: the statistics are those of the repeats replayed one by one with
 * the derived seeds. */
START_TEST(repeat_statistics)
{
    const char *path = scenario("sweep:\n  parameters:\n    training.micro_batch_size: [1, 2]\n"
                                "  repeats: 6\n  layouts: [b]\n"
                                "uncertainty: { compute_jitter: 10% }\n");
    char *csv = sweep_csv(path, "--jobs 2", "rep");
    cs_scenario *base = load(path);
    cs_yfile *f = base->sources.files[0];
    yaml_node_t *list = cs_yfile_node(f, base->sweep.params[0].list);
    cs_override o = {"training.micro_batch_size", list->data.sequence.items.start[1]};
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_scenario_load_with(path, &tu_paths, &o, 1, &s, &d), 0);
    cs_layout_sizes z;
    ck_assert_int_eq(cs_layout_check(&s, &s.layouts[1], &z, &d), 0);
    double t[6];
    for (int r = 0; r < 6; r++) {
        cs_replay_result res;
        ck_assert_int_eq(cs_replay(&s, &s.layouts[1], &z, s.network_model,
                                   cs_sweep_seed(s.seed, 1, r), &res),
                         0);
        t[r] = res.iteration_time_s;
        cs_replay_result_free(&res);
    }
    double mean = 0;
    for (int r = 0; r < 6; r++)
        mean += t[r] / 6;
    double var = 0;
    for (int r = 0; r < 6; r++)
        var += (t[r] - mean) * (t[r] - mean) / 5;
    gsl_sort(t, 1, 6);
    /* Quantile q sits at (n - 1) q between sorted values. */
    double p95 = t[4] + (t[5] - t[4]) * (5 * 0.95 - 4);
    ck_assert(fabs(field_of(csv, "\n1,b,mean,", "iteration_time_s") / mean - 1) < 1e-8);
    ck_assert(fabs(field_of(csv, "\n1,b,std,", "iteration_time_s") / sqrt(var) - 1) < 1e-6);
    ck_assert(fabs(field_of(csv, "\n1,b,p5,", "iteration_time_s") / (t[0] + (t[1] - t[0]) * 0.25) - 1) < 1e-8);
    ck_assert(fabs(field_of(csv, "\n1,b,p50,", "iteration_time_s") / ((t[2] + t[3]) / 2) - 1) < 1e-8);
    ck_assert(fabs(field_of(csv, "\n1,b,p95,", "iteration_time_s") / p95 - 1) < 1e-8);
    ck_assert(sqrt(var) > 0); /* the jitter does vary the repeats */
    /* Cost: 16 GPUs x T x 2 USD/h; time to train 1e9 tokens at the rate. */
    double T = field_of(csv, "\n1,b,mean,", "iteration_time_s");
    double cost = field_of(csv, "\n1,b,mean,", "cost_per_iteration_usd");
    ck_assert(fabs(cost / (16 * T * 2.0 / 3600) - 1) < 1e-6);
    ck_assert(field_of(csv, "\n1,b,mean,", "time_to_train_s") > 0);
    cs_scenario_free(&s);
    cs_scenario_free(base);
    cs_diags_free(&d);
    free(csv);
}
END_TEST

/* An invalid point is a row with its reason; a bad swept value too. */
START_TEST(invalid_points_are_rows)
{
    const char *path = scenario("sweep:\n  parameters:\n    layouts.a.tp: [2, 3]\n"
                                "    cluster.scale_out.nic_bandwidth: [100 Gb/s, 7 GB]\n");
    char *csv = sweep_csv(path, "--jobs 2", "inv");
    ck_assert_ptr_nonnull(strstr(csv, "\n0,a,value,2,100 Gb/s,true,,"));
    ck_assert_ptr_nonnull(strstr(csv, "\n2,a,value,3,100 Gb/s,false,needs 24 GPUs"));
    /* Point 1 and 3 do not load: '7 GB' is a size; the error is positioned. */
    ck_assert_ptr_nonnull(strstr(csv, "\n1,a,value,2,7 GB,false,"));
    ck_assert_ptr_nonnull(strstr(csv, "sweep.yaml:14:49: 'nic_bandwidth': '7 GB'"));
    ck_assert_ptr_nonnull(strstr(csv, "is a size, not a bandwidth"));
    free(csv);
}
END_TEST

/* cluster.base sweeps the hardware: each point loads the preset under the
 * scenario's own cluster keys (its two nodes stay); a name no preset has is
 * that point's row, positioned at the value. Each point's figures are those
 * of a scenario naming the preset itself. */
START_TEST(cluster_base_sweeps_the_hardware)
{
    const char *path = scenario("sweep:\n  parameters:\n    cluster.base: [dgx-a100-80gb, dgx-b200, "
                                "nope]\n");
    char *csv = sweep_csv(path, "--jobs 2", "hw");
    ck_assert_ptr_nonnull(strstr(csv, "\n0,a,value,dgx-a100-80gb,true,,"));
    ck_assert_ptr_nonnull(strstr(csv, "\n1,a,value,dgx-b200,true,,"));
    ck_assert_ptr_nonnull(strstr(csv, "\n2,a,value,nope,false,"));
    ck_assert_ptr_nonnull(strstr(csv, "no cluster preset named 'nope'"));
    /* the B200 point against a scenario that names dgx-b200 */
    const char *own = strstr(csv, "\n1,a,value,dgx-b200,true,,");
    double swept = strtod(own + strlen("\n1,a,value,dgx-b200,true,,"), NULL);
    char *text = tu_read(path);
    char *at = strstr(text, "base: dgx-h100");
    ck_assert_ptr_nonnull(at);
    memcpy(at, "base: dgx-b200", 14);
    char *cut = strstr(text, "sweep:");
    *cut = '\0';
    cs_scenario *s = load(tu_write("b200.yaml", text));
    ck_assert_str_eq(s->cluster.gpu.name, "B200");
    ck_assert_int_eq(s->cluster.nodes, 2);
    cs_layout_sizes z;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_layout_check(s, &s->layouts[0], &z, &d), 0);
    cs_diags_free(&d);
    cs_replay_result r;
    ck_assert_int_eq(cs_replay(s, &s->layouts[0], &z, CS_NET_ANALYTIC, 7, &r), 0);
    assert_close(r.iteration_time_s, swept, 1e-9);
    cs_replay_result_free(&r);
    cs_scenario_free(s);
    free(text);
    free(csv);
}
END_TEST

/* Without cost: each swept preset pays its own price: (dgx-h100's 6.155 USD
 * per GPU-hour), and one without a price leaves its cost cells empty. */
START_TEST(swept_presets_bring_their_prices)
{
    const char *path =
        tu_write("price.yaml",
                 "model: { name: e, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
                 "vocab_size: 32000 }\n"
                 "cluster: { base: dgx-h100, nodes: 2 }\n"
                 "training: { seq_length: 1024, global_batch_size: 32, tokens: 1B }\n"
                 "network_model: analytic\n"
                 "layouts: [{ name: a, tp: 2, pp: 2, dp: 4 }]\n"
                 "sweep: { parameters: { cluster.base: [dgx-h100, cluster-512-64gb] } }\n");
    char *csv = sweep_csv(path, "--jobs 1", "price");
    char *row = strstr(csv, "\n0,a,value,dgx-h100,true,,");
    ck_assert_ptr_nonnull(row);
    double time = strtod(row + strlen("\n0,a,value,dgx-h100,true,,"), NULL);
    /* the cost column: 23rd of the metrics (after moe_dropped_tokens) */
    const char *p = row + 1;
    for (int commas = 0; commas < 6 + 17; p++)
        commas += *p == ',';
    assert_close(strtod(p, NULL), 16 * time * 6.155 / 3600, 1e-6);
    ck_assert_ptr_nonnull(strstr(csv, "\n1,a,value,cluster-512-64gb,true,,"));
    const char *none = strstr(csv, "\n1,a,value,cluster-512-64gb,true,,") + 1;
    for (int commas = 0; commas < 6 + 17; none++)
        commas += *none == ',';
    ck_assert(*none == ','); /* empty cost cell */
    free(csv);
}
END_TEST

/* The metric K (0: iteration_time_s) of a value row that starts with `row`. */
static double column(const char *csv, const char *row, int k)
{
    const char *p = strstr(csv, row);
    ck_assert_msg(p != NULL, "no row %s", row);
    p += strlen(row);
    for (int commas = 0; commas < k; p++)
        commas += *p == ',';
    return strtod(p, NULL);
}

/* A price is swept like any key: cost.* changes the scenario's cost:, and
 * cluster.price.* the cluster's price where the scenario has no cost:. The
 * time does not move; the cost follows the closed form of study/price.c. */
START_TEST(prices_are_swept)
{
    const char *path = scenario("sweep:\n  parameters:\n    cost.gpu_hour: [2 USD, 3 USD]\n");
    char *csv = sweep_csv(path, "--jobs 2", "gpuh");
    double t0 = column(csv, "\n0,a,value,2 USD,true,,", 0),
           t1 = column(csv, "\n1,a,value,3 USD,true,,", 0);
    ck_assert(t0 > 0 && t0 == t1);
    /* layout a: tp 2 x pp 2 x ep 2 x dp 2 = 16 GPUs */
    assert_close(column(csv, "\n0,a,value,2 USD,true,,", 17), 16 * t0 * 2 / 3600, 1e-6);
    assert_close(column(csv, "\n1,a,value,3 USD,true,,", 17), 16 * t0 * 3 / 3600, 1e-6);
    /* the cost per million tokens: GPUs x price / tokens per second x 1e6 */
    double tok = column(csv, "\n1,a,value,3 USD,true,,", 2);
    assert_close(column(csv, "\n1,a,value,3 USD,true,,", 20), 16 * 3.0 / 3600 / tok * 1e6, 1e-6);
    free(csv);
    /* A purchase with its NICs: 16 GPUs on one leaf (no switch ports), one
     * NIC per GPU, so a GPU-second costs (purchase + nic) / lifetime. */
    path = tu_write("nic.yaml",
                    "model: { name: e, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
                    "vocab_size: 32000 }\n"
                    "cluster: { base: dgx-h100, nodes: 2, price: { purchase: 30000 USD, "
                    "lifetime: 1000 h } }\n"
                    "training: { seq_length: 1024, global_batch_size: 32 }\n"
                    "network_model: analytic\n"
                    "layouts: [{ name: a, tp: 2, pp: 2, dp: 4 }]\n"
                    "sweep: { parameters: { cluster.price.nic: [1000 USD, 3000 USD] } }\n");
    csv = sweep_csv(path, "--jobs 1", "nic");
    double t = column(csv, "\n0,a,value,1000 USD,true,,", 0);
    assert_close(column(csv, "\n0,a,value,1000 USD,true,,", 17), 16 * t * 31000 / 3.6e6, 1e-6);
    assert_close(column(csv, "\n1,a,value,3000 USD,true,,", 17), 16 * t * 33000 / 3.6e6, 1e-6);
    free(csv);
    /* A swept key that breaks the block's rules fails its point, positioned
     * at the value: a purchase next to the file's gpu_hour. */
    path = scenario("sweep:\n  parameters:\n    cost.purchase: [30000 USD]\n");
    csv = sweep_csv(path, "--jobs 1", "bad");
    ck_assert_ptr_nonnull(strstr(csv, "\n0,a,value,30000 USD,false,"));
    ck_assert_ptr_nonnull(strstr(csv, "sweep.yaml:13:21: give either gpu_hour, or purchase"));
    free(csv);
    /* Keys the block does not have, and the cluster's price under a cost:. */
    cs_scenario bad;
    cs_diags d;
    cs_diags_init(&d);
    path = scenario("sweep:\n  parameters:\n    cost.gpu_houre: [1 USD]\n");
    ck_assert_int_eq(cs_scenario_load(path, &tu_paths, &bad, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "'cost.gpu_houre': no key 'gpu_houre' in cost", 13, 5);
    cs_scenario_free(&bad);
    cs_diags_free(&d);
    cs_diags_init(&d);
    path = scenario("sweep:\n  parameters:\n    cluster.price.gpu_hour: [1 USD]\n");
    ck_assert_int_eq(cs_scenario_load(path, &tu_paths, &bad, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "changes nothing: the scenario's cost: takes the place", 13, 5);
    cs_scenario_free(&bad);
    cs_diags_free(&d);
    /* A whole price block, and both blocks at once, are refused. */
    cs_diags_init(&d);
    path = scenario("sweep:\n  parameters:\n    cost: [{ gpu_hour: 1 USD }]\n");
    ck_assert_int_eq(cs_scenario_load(path, &tu_paths, &bad, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "a sweep varies a price key by key", 13, 5);
    cs_scenario_free(&bad);
    cs_diags_free(&d);
    const char *nocost = "model: { name: e, num_layers: 4, hidden_size: 1024, "
                         "num_attention_heads: 16, vocab_size: 32000 }\n"
                         "cluster: { base: mi325x, nodes: 2 }\n"
                         "training: { seq_length: 1024, global_batch_size: 32 }\n"
                         "network_model: analytic\n"
                         "layouts: [{ name: a, tp: 2, pp: 2, dp: 4 }]\n"
                         "sweep: { parameters: { %s } }\n";
    char text[1024];
    snprintf(text, sizeof text, nocost, "cluster.price.gpu_hour: [5 USD], cost.gpu_hour: [2 USD]");
    cs_diags_init(&d);
    ck_assert_int_eq(cs_scenario_load(tu_write("mix.yaml", text), &tu_paths, &bad, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "varies both cost.* and cluster.price.*", 6, 57);
    cs_scenario_free(&bad);
    cs_diags_free(&d);
    /* Two swept keys: the rule is reported at the key it names (power). */
    snprintf(text, sizeof text, nocost, "cost.power: [700 W], cost.gpu_hour: [2 USD]");
    tu_write("rule.yaml", text);
    csv = sweep_csv(tu_write("rule.yaml", text), "--jobs 1", "rule");
    ck_assert_ptr_nonnull(strstr(csv, "rule.yaml:6:37: nic, switch_port, power and energy"));
    free(csv);
}
END_TEST

/* Same seed, same numbers; another seed, other routing draws. */
START_TEST(seeds_fix_the_results)
{
    const char *path = scenario("sweep:\n  parameters:\n    training.micro_batch_size: [1]\n"
                                "  repeats: 3\n");
    char *a = sweep_csv(path, "--jobs 1", "seed1");
    char *b = sweep_csv(path, "--jobs 2", "seed2");
    ck_assert_str_eq(a, b);
    /* One parameter: the metric against it, one line per layout. */
    char png[512];
    struct stat st;
    snprintf(png, sizeof png, "%.*s/seed1/sweep.png", (int)(strrchr(path, '/') - path), path);
    ck_assert_msg(stat(png, &st) == 0 && st.st_size > 1000, "no plot %s", png);
    /* its labels in words and units, the bars named */
    snprintf(png, sizeof png, "%.*s/seed1/plots.txt", (int)(strrchr(path, '/') - path), path);
    char *list = tu_read(png);
    ck_assert_ptr_nonnull(list);
    ck_assert_ptr_nonnull(strstr(list, ": iteration time (s)\titeration time (s); bars: p5 to p95 "
                                       "of the repeats\tlines\t"));
    free(list);
    ck_assert(cs_sweep_seed(7, 0, 0) == cs_sweep_seed(7, 0, 0));
    ck_assert(cs_sweep_seed(7, 0, 0) != cs_sweep_seed(7, 0, 1));
    ck_assert(cs_sweep_seed(7, 0, 1) != cs_sweep_seed(7, 1, 0));
    ck_assert(cs_sweep_seed(7, 0, 0) != cs_sweep_seed(8, 0, 0));
    free(a);
    free(b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sweep");
    TCase *t = tcase_create("sweep");
    tcase_set_timeout(t, 240);
    tcase_add_test(t, grid_and_zip_points);
    tcase_add_test(t, swept_values_keep_their_units);
    tcase_add_test(t, order_independent_of_jobs);
    tcase_add_test(t, shards_merge_into_the_whole);
    tcase_add_test(t, resume_after_a_torn_write);
    tcase_add_test(t, merge_and_resume_check_their_origin);
    tcase_add_test(t, repeat_statistics);
    tcase_add_test(t, invalid_points_are_rows);
    tcase_add_test(t, cluster_base_sweeps_the_hardware);
    tcase_add_test(t, swept_presets_bring_their_prices);
    tcase_add_test(t, prices_are_swept);
    tcase_add_test(t, seeds_fix_the_results);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
