/* `clustersim collective`: nccl-tests' table with its out-of-place and
 * in-place columns and what ran per row, CSV and JSON, determinism, and bad
 * arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/collective.h"
#include "testutil.h"

#define BIN CS_BINARY

/* 2 nodes x 4 GPUs, NCCL's own collective constants. */
static const char cluster[] =
    "{ name: t, gpu: {peak_compute: 100 TFLOP/s, memory: 80 GB, memory_bandwidth: 2 TB/s}, "
    "nodes: 2, gpus_per_node: 4, "
    "scale_up: {kind: switch, bandwidth: 100 GB/s, efficiency: 0.8}, "
    "scale_out: {nics_per_node: 4, nic_bandwidth: 200 Gb/s, efficiency: 0.9} }\n";

/* Brackets balance outside strings. */
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

static int data_lines(const char *s)
{
    int n = 0;
    for (const char *p = s; *p;) {
        const char *nl = strchr(p, '\n');
        if (*p != '#' && *p != '\n')
            n++;
        if (!nl)
            break;
        p = nl + 1;
    }
    return n;
}

static const char *cli_cluster(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s", tu_write("cli.yaml", cluster));
    return path;
}

START_TEST(cli_text_table_deterministic)
{
    char cmd[2048], *a, *b, *err;
    snprintf(cmd, sizeof cmd, BIN " collective --cluster %s --op all_reduce --sizes 8B:1KiB",
             cli_cluster());
    ck_assert_int_eq(tu_run(cmd, &a, &err), 0);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(tu_run(cmd, &b, NULL), 0);
    ck_assert_str_eq(a, b);
    /* nccl-tests' columns: out-of-place, then in-place (the same figures:
     * nothing in the model tells them apart), then what ran. */
    ck_assert_ptr_nonnull(strstr(a, "out-of-place"));
    ck_assert(strstr(a, "in-place") > strstr(a, "out-of-place"));
    const char *cols[] = {"size",   "count", "type",  "redop", "root",   "time", "algbw", "busbw",
                          "#wrong", "time",  "algbw", "busbw", "#wrong", "algo", "proto"};
    const char *header = strstr(a, "#       size");
    ck_assert_msg(header != NULL, "%s", a);
    const char *at = header;
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) {
        const char *p = strstr(at, cols[i]);
        ck_assert_msg(p != NULL, "column %s missing or out of order:\n%s", cols[i], a);
        at = p + strlen(cols[i]);
    }
    ck_assert_ptr_nonnull(strstr(a, "8 GPUs"));
    ck_assert_int_eq(data_lines(a), 8); /* 8, 16, ..., 1024 */
    ck_assert_ptr_nonnull(strstr(a, "float"));
    ck_assert_ptr_nonnull(strstr(a, "sum"));
    /* Every row: the out-of-place figures again in-place, an algorithm and a
     * protocol (small all-reduces across nodes: a ring or tree with LL, the
     * protocol of least latency). */
    for (const char *line = strchr(a, '\n'); line; line = strchr(line + 1, '\n')) {
        if (line[1] == '#' || line[1] == '\0')
            continue;
        double size, count, t1, alg1, bus1, t2, alg2, bus2;
        char type[16], redop[16], w1[8], w2[8], algo[16], proto[16];
        int root;
        ck_assert_int_eq(sscanf(line + 1,
                                "%lf %lf %15s %15s %d %lf %lf %lf %7s %lf %lf %lf %7s "
                                "%15s %15s",
                                &size, &count, type, redop, &root, &t1, &alg1, &bus1, w1, &t2,
                                &alg2, &bus2, w2, algo, proto),
                         15);
        ck_assert(t1 == t2 && alg1 == alg2 && bus1 == bus2);
        ck_assert_str_eq(w1, "N/A");
        ck_assert(!strcmp(algo, "ring") || !strcmp(algo, "tree"));
        ck_assert_str_eq(proto, "LL");
    }
    free(a);
    free(b);
    free(err);
}
END_TEST

START_TEST(cli_csv_and_json)
{
    char cmd[2048], *out, *out2;
    snprintf(cmd, sizeof cmd,
             BIN " collective --cluster %s --op all_reduce --sizes 1KiB:1MiB --format csv",
             cli_cluster());
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
    ck_assert_int_eq(tu_run(cmd, &out2, NULL), 0);
    ck_assert_str_eq(out, out2);
    const char *head = "op,gpus,algo,proto,network_model,size_bytes,time_s,algbw_bytes_per_s,"
                       "busbw_bytes_per_s\n";
    ck_assert_msg(strncmp(out, head, strlen(head)) == 0, "%s", out);
    int rows = 0;
    for (char *line = strchr(out, '\n') + 1; *line; rows++) {
        char op[32], algo[32], proto[32], model[32];
        long gpus;
        double size, t, alg, bus;
        ck_assert_int_eq(sscanf(line, "%31[^,],%ld,%31[^,],%31[^,],%31[^,],%lf,%lf,%lf,%lf", op,
                                &gpus, algo, proto, model, &size, &t, &alg, &bus),
                         9);
        ck_assert(cs_coll_proto_parse(proto) >= 0);
        ck_assert_str_eq(op, "all_reduce");
        ck_assert_int_eq(gpus, 8);
        ck_assert_str_eq(model, "flow");
        ck_assert(size == 1024.0 * (double)(1L << rows));
        assert_close(alg, size / t, 1e-6);
        assert_close(bus, alg * 2 * 7 / 8, 1e-6);
        char *nl = strchr(line, '\n');
        ck_assert_ptr_nonnull(nl);
        line = nl + 1;
    }
    ck_assert_int_eq(rows, 11); /* 1 KiB .. 1 MiB */
    free(out);
    free(out2);

    snprintf(cmd, sizeof cmd,
             BIN " collective --cluster %s --op alltoall --gpus 4 --sizes 1KiB:4KiB "
                 "--format=json",
             cli_cluster());
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
    ck_assert_int_eq(tu_run(cmd, &out2, NULL), 0);
    ck_assert_str_eq(out, out2);
    ck_assert(json_balanced(out));
    ck_assert_ptr_nonnull(strstr(out, "\"op\": \"alltoall\""));
    ck_assert_ptr_nonnull(strstr(out, "\"gpus\": 4"));
    ck_assert_ptr_nonnull(strstr(out, "\"rows\""));
    ck_assert_ptr_nonnull(strstr(out, "\"busbw_bytes_per_s\""));
    ck_assert_ptr_nonnull(strstr(out, "\"size_bytes\": 4096"));
    ck_assert_ptr_nonnull(strstr(out, "\"algo\": \"p2p\""));
    ck_assert_ptr_nonnull(strstr(out, "\"proto\""));
    free(out);
    free(out2);

    /* A protocol asked for is the one every row runs. */
    snprintf(cmd, sizeof cmd,
             BIN " collective --cluster %s --gpus 4 --sizes 8B:1MiB --proto simple --format csv",
             cli_cluster());
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
    ck_assert_ptr_null(strstr(out, ",LL,"));
    ck_assert_ptr_nonnull(strstr(out, ",ring,Simple,"));
    free(out);
}
END_TEST

static void bad_args(const char *args, const char *needle)
{
    char cmd[2048], *out, *err;
    snprintf(cmd, sizeof cmd, BIN " collective --cluster %s %s", cli_cluster(), args);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 2);
    ck_assert_msg(strstr(err, needle) != NULL, "%s: stderr lacks '%s':\n%s", args, needle, err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
}

START_TEST(cli_bad_arguments_exit_2)
{
    bad_args("--op allreduce", "unknown op 'allreduce'; did you mean 'all_reduce'?");
    bad_args("--op all_reduce --algo rng", "unknown algo 'rng'; did you mean 'ring'?");
    bad_args("--gpus 9", "--gpus 9");
    bad_args("--gpus 1", "--gpus wants a count of 2 or more");
    bad_args("--gpus many", "--gpus");
    bad_args("--sizes 1KiB:8B", "--sizes wants 1 B <= MIN <= MAX");
    bad_args("--sizes 8B", "--sizes wants MIN:MAX");
    bad_args("--sizes 8X:1KiB", "--sizes");
    bad_args("--sizes 8:1KiB", "--sizes");
    bad_args("--algo nccl", "unknown algo 'nccl'");
    bad_args("--algo nvls", "nvls cannot run all_reduce on 8 GPUs of t");
    bad_args("--algo tree --gpus 4", "tree cannot run all_reduce on 4 GPUs of t");
    bad_args("--proto LL64", "unknown protocol 'LL64'");
    bad_args("--network-model packet", "unknown network model 'packet'");
    bad_args("--format xml", "unknown format 'xml'");
    bad_args("--frobnicate", "unknown argument '--frobnicate'");
    char *out, *err;
    ck_assert_int_eq(tu_run(BIN " collective --op all_reduce", &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--cluster is required"));
    free(out);
    free(err);
}
END_TEST

/* Writes a measurement: the cluster line, then body. */
static const char *measure_file(const char *name, const char *options, const char *body)
{
    char *text = malloc(strlen(body) + 2048);
    ck_assert_ptr_nonnull(text);
    sprintf(text, "# clustersim: --cluster %s %s\n%s", cli_cluster(), options, body);
    static char path[1024];
    snprintf(path, sizeof path, "%s", tu_write(name, text));
    free(text);
    return path;
}

/* Our own CSV read back as a measurement matches itself to the digits
 * printed: 0.0% at every size, exit 0; the command line's --gpus wins over
 * the file's, so the same file against 4 GPUs is off and exits 1. */
START_TEST(cli_compare_round_trip)
{
    char cmd[2048], *csv, *out, *err;
    snprintf(cmd, sizeof cmd,
             BIN " collective --cluster %s --op all_gather --gpus 8 --sizes 4KiB:64MiB "
                 "--format csv",
             cli_cluster());
    ck_assert_int_eq(tu_run(cmd, &csv, NULL), 0);
    char body[8192];
    snprintf(body, sizeof body, "# tolerance: 4KiB 0.01%%, 1MiB 0.01%%, 64MiB 0.01%%\n%s", csv);
    const char *path = measure_file("own.csv", "--op all_gather --gpus 8", body);
    snprintf(cmd, sizeof cmd, BIN " collective --compare %s", path);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_str_eq(err, "");
    ck_assert_ptr_nonnull(strstr(out, "# 3 sizes checked against their tolerance, 0 outside"));
    ck_assert_ptr_null(strstr(out, "OUTSIDE"));
    ck_assert_int_eq(data_lines(out), 15); /* 4 KiB .. 64 MiB */
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, BIN " collective --compare %s --gpus 4", path);
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "all_gather on 4 GPUs"));
    ck_assert_ptr_nonnull(strstr(out, "OUTSIDE"));
    free(out);
    free(csv);
}
END_TEST

/* A measured curve the model is far from exits 1 and says where. */
START_TEST(cli_compare_outside_exits_1)
{
    const char *path = measure_file("far.txt", "--op all_reduce",
                                    "# tolerance: 1MiB 10%\n"
                                    "1048576 262144 float sum -1 1.00 1048.58 1835.01 0\n");
    char cmd[2048], *out;
    snprintf(cmd, sizeof cmd, BIN " collective --compare %s", path);
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "OUTSIDE"));
    ck_assert_ptr_nonnull(strstr(out, "# 1 sizes checked against their tolerance, 1 outside"));
    free(out);
}
END_TEST

/* A bad file or options that do not apply: exit 2, with where. */
START_TEST(cli_compare_bad_input_exits_2)
{
    const char *row = "1048576 262144 float sum -1 100.0 10.49 18.35 0\n";
    char cmd[2048], *err;
    const char *path = measure_file("bad.txt", "--op all_reduce", "1048576 262144 float sum\n");
    snprintf(cmd, sizeof cmd, BIN " collective --compare %s", path);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "bad.txt:2:1: error: not an nccl-tests row"));
    free(err);

    path = measure_file("opts.txt", "--op all_rduce", row);
    snprintf(cmd, sizeof cmd, BIN " collective --compare %s", path);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "unknown op 'all_rduce'"));
    ck_assert_ptr_nonnull(strstr(err, "opts.txt:1:1: error: bad options on the '# clustersim:'"));
    free(err);

    path = measure_file("ok.txt", "--op all_reduce", row);
    const char *refused[] = {"--sizes 1B:2B", "--format csv", "--network-model ideal"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, BIN " collective --compare %s %s", path, refused[i]);
        ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
        ck_assert_ptr_nonnull(strstr(err, "--compare"));
        free(err);
    }
    snprintf(cmd, sizeof cmd, BIN " collective --compare %s/none.txt", tu_temp_dir());
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "none.txt: error: cannot read: No such file"));
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("collective_cli");
    TCase *t = tcase_create("cli");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, cli_text_table_deterministic);
    tcase_add_test(t, cli_csv_and_json);
    tcase_add_test(t, cli_bad_arguments_exit_2);
    tcase_add_test(t, cli_compare_round_trip);
    tcase_add_test(t, cli_compare_outside_exits_1);
    tcase_add_test(t, cli_compare_bad_input_exits_2);
    suite_add_tcase(s, t);
    return tu_main(s);
}
