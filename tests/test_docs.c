/* The reference pages stay true: every key the loader accepts is in
 * docs/input.md and every key listed there is one the loader accepts; every
 * field and column clustersim writes is in docs/output.md. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/config.h"
#include "testutil.h"

#define BIN CS_BINARY
#define SEED CS_SOURCE_DIR "/scenarios/seed-options.yaml"

/* A growing list of distinct strings. */
typedef struct names {
    char **items;
    size_t count, cap;
} names;

static int names_has(const names *n, const char *s)
{
    for (size_t i = 0; i < n->count; i++)
        if (!strcmp(n->items[i], s))
            return 1;
    return 0;
}

static void names_add(names *n, const char *s, size_t len)
{
    char *copy = strndup(s, len);
    ck_assert_ptr_nonnull(copy);
    if (names_has(n, copy)) {
        free(copy);
        return;
    }
    if (n->count == n->cap) {
        n->cap = n->cap ? 2 * n->cap : 64;
        n->items = realloc(n->items, n->cap * sizeof *n->items);
        ck_assert_ptr_nonnull(n->items);
    }
    n->items[n->count++] = copy;
}

static void names_free(names *n)
{
    for (size_t i = 0; i < n->count; i++)
        free(n->items[i]);
    free(n->items);
    memset(n, 0, sizeof *n);
}

static char *doc(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/%s", CS_SOURCE_DIR, name);
    char *text = tu_read(path);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    return text;
}

/* True when `word` appears in text as inline code: `word`. */
static int documented(const char *text, const char *word)
{
    char needle[512];
    snprintf(needle, sizeof needle, "`%s`", word);
    return strstr(text, needle) != NULL;
}

/* Every word of the list documented in text; reports each one missing. */
static void assert_documented(const char *text, const names *n, const char *page,
                              const char *what)
{
    int missing = 0;
    for (size_t i = 0; i < n->count; i++)
        if (!documented(text, n->items[i])) {
            fprintf(stderr, "docs/%s does not describe %s `%s`\n", page, what, n->items[i]);
            missing++;
        }
    ck_assert_msg(missing == 0, "%d %ss missing from docs/%s", missing, what, page);
}

static void add_key(const char *path, void *arg) { names_add(arg, path, strlen(path)); }

/* The matcher itself: a word must be there whole, in backticks. */
START_TEST(documented_needs_the_whole_word)
{
    const char *text = "| `model.moe.num_experts` | count |";
    ck_assert(documented(text, "model.moe.num_experts"));
    ck_assert(!documented(text, "model.moe"));
    ck_assert(!documented(text, "num_experts"));
}
END_TEST

START_TEST(every_loader_key_is_in_input_md)
{
    names keys = {0};
    cs_config_keys(add_key, &keys);
    ck_assert_uint_gt(keys.count, 80); /* the walk reached every block */
    ck_assert(names_has(&keys, "cluster.scale_out.nic_bandwidth"));
    ck_assert(names_has(&keys, "uncertainty.stragglers.slowdown"));
    char *text = doc("input.md");
    assert_documented(text, &keys, "input.md", "key");
    free(text);
    names_free(&keys);
}
END_TEST

/* The key column of input.md's tables names only real keys: a row whose
 * first cell is `ROOT...`, ROOT a top-level scenario key. */
START_TEST(every_key_in_input_md_is_accepted)
{
    names keys = {0};
    cs_config_keys(add_key, &keys);
    char *text = doc("input.md");
    int bad = 0, rows = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "| `", 3) != 0)
            continue;
        char *end = strchr(line + 3, '`');
        if (!end)
            continue;
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(end - line - 3), line + 3);
        char root[256];
        snprintf(root, sizeof root, "%.*s", (int)strcspn(key, "."), key);
        if (!names_has(&keys, root))
            continue; /* a Hugging Face key, a unit, ... */
        rows++;
        if (!names_has(&keys, key)) {
            fprintf(stderr, "docs/input.md lists `%s`, which the loader does not accept\n",
                    key);
            bad++;
        }
    }
    ck_assert_int_gt(rows, 80);
    ck_assert_int_eq(bad, 0);
    free(text);
    names_free(&keys);
}
END_TEST

/* Hugging Face keys the loader reads: the literal key of every hf_int,
 * hf_int_min and hf_bool call in hfconfig.c. */
START_TEST(every_hugging_face_key_is_in_input_md)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/sim/input/hfconfig.c", CS_SOURCE_DIR);
    char *src = tu_read(path);
    ck_assert_ptr_nonnull(src);
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "hf_(int|int_min|bool)\\(&?h, \"([a-z_]+)\"", REG_EXTENDED), 0);
    names keys = {0};
    regmatch_t m[3];
    for (const char *p = src; regexec(&re, p, 3, m, 0) == 0; p += m[0].rm_eo)
        names_add(&keys, p + m[2].rm_so, (size_t)(m[2].rm_eo - m[2].rm_so));
    regfree(&re);
    ck_assert(names_has(&keys, "num_hidden_layers"));
    ck_assert(names_has(&keys, "first_k_dense_replace"));
    char *text = doc("input.md");
    assert_documented(text, &keys, "input.md", "config.json key");
    free(text);
    free(src);
    names_free(&keys);
}
END_TEST

/* Every Megatron-LM flag the import reads (the table of input/megatron.c
 * and its flags read by code) is in input.md's "Megatron-LM arguments". */
START_TEST(every_megatron_flag_is_in_input_md)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/sim/input/megatron.c", CS_SOURCE_DIR);
    char *src = tu_read(path);
    ck_assert_ptr_nonnull(src);
    const char *from = strstr(src, "static const arg_map table[]");
    const char *harmless = strstr(src, "static const char *const harmless[]");
    ck_assert(from && harmless && from < harmless);
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "\"([a-z0-9]+(-[a-z0-9]+)+|bf16|fp16)\"", REG_EXTENDED), 0);
    char *text = doc("input.md"), needle[160];
    int flags = 0, missing = 0;
    regmatch_t m[2];
    for (const char *p = from; p < harmless && regexec(&re, p, 2, m, 0) == 0; p += m[0].rm_eo) {
        if (p + m[0].rm_so >= harmless)
            break;
        int n = (int)(m[1].rm_eo - m[1].rm_so);
        flags++;
        int found = 0;
        for (const char *end = " `,"; *end && !found; end++) {
            snprintf(needle, sizeof needle, "`--%.*s%c", n, p + m[1].rm_so, *end);
            found = strstr(text, needle) != NULL;
        }
        if (!found) {
            fprintf(stderr, "docs/input.md does not describe Megatron's --%.*s\n", n,
                    p + m[1].rm_so);
            missing++;
        }
    }
    regfree(&re);
    ck_assert_int_gt(flags, 80);
    ck_assert_msg(missing == 0, "%d Megatron flags missing from docs/input.md", missing);
    free(text);
    free(src);
}
END_TEST

/* ---- output ------------------------------------------------------------ */

/* Every object key of a JSON text: a string followed by a colon. */
static void json_keys(const char *json, names *out)
{
    for (const char *p = json; *p; p++) {
        if (*p != '"')
            continue;
        const char *start = ++p;
        while (*p && *p != '"')
            p += *p == '\\' && p[1] ? 2 : 1;
        if (!*p)
            break;
        const char *after = p + 1;
        while (*after == ' ' || *after == '\n' || *after == '\t' || *after == '\r')
            after++;
        if (*after == ':')
            names_add(out, start, (size_t)(p - start));
    }
}

/* The columns of a CSV's header line. */
static void csv_columns(const char *csv, names *out)
{
    size_t len = strcspn(csv, "\n");
    for (size_t i = 0; i < len;) {
        size_t n = strcspn(csv + i, ",\n");
        names_add(out, csv + i, n);
        i += n + 1;
    }
}

static char *run_out(const char *cmd)
{
    char *out = NULL;
    ck_assert_msg(tu_run(cmd, &out, NULL) == 0, "failed: %s", cmd);
    ck_assert_ptr_nonnull(out);
    return out;
}

START_TEST(json_key_scanner_finds_keys_not_values)
{
    names n = {0};
    json_keys("{ \"a\": 1, \"b\": { \"c\" : \"d:\" }, \"e\": [\"f\", \"g\"],\n\"h\\\"i\":2 }", &n);
    ck_assert_uint_eq(n.count, 5);
    ck_assert(names_has(&n, "a") && names_has(&n, "b") && names_has(&n, "c"));
    ck_assert(names_has(&n, "e"));
    ck_assert(names_has(&n, "h\\\"i"));
    ck_assert(!names_has(&n, "d:") && !names_has(&n, "f"));
    names_free(&n);
}
END_TEST

START_TEST(every_run_field_is_in_output_md)
{
    char cmd[2048], path[1024];
    const char *dir = tu_temp_dir();
    snprintf(cmd, sizeof cmd, BIN " run " SEED " --network-model analytic --out %s/run", dir);
    free(run_out(cmd));
    names fields = {0};
    const char *files[] = {"results.json", "option1/trace.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/run/%s", dir, files[i]);
        char *json = tu_read(path);
        ck_assert_msg(json != NULL, "no %s", path);
        json_keys(json, &fields);
        free(json);
    }
    ck_assert(names_has(&fields, "iteration_time_s"));
    ck_assert(names_has(&fields, "moe_routed_tokens"));
    ck_assert(names_has(&fields, "traceEvents"));
    snprintf(path, sizeof path, "%s/run/results.csv", dir);
    char *csv = tu_read(path);
    ck_assert_ptr_nonnull(csv);
    csv_columns(csv, &fields);
    free(csv);
    char *text = doc("output.md");
    assert_documented(text, &fields, "output.md", "field");
    free(text);
    names_free(&fields);
}
END_TEST

START_TEST(every_check_and_collective_field_is_in_output_md)
{
    names fields = {0};
    /* The seed has an invalid layout: check exits 1. */
    char *out = run_out("{ " BIN " check " SEED " --format json; test $? -eq 1; }");
    json_keys(out, &fields);
    free(out);
    ck_assert(names_has(&fields, "per_stage_bytes"));
    out = run_out(BIN " collective --cluster dgx-h100 --op all_reduce --gpus 8 "
                      "--sizes 1KiB:4KiB --format json");
    json_keys(out, &fields);
    free(out);
    out = run_out(BIN " collective --cluster dgx-h100 --op all_reduce --gpus 8 "
                      "--sizes 1KiB:4KiB --format csv");
    csv_columns(out, &fields);
    free(out);
    ck_assert(names_has(&fields, "busbw_bytes_per_s"));
    out = run_out("{ " BIN " compare " SEED " --network-model analytic --format json --out "
                  "\"$TMPDIR/cmp\" && rm -rf \"$TMPDIR/cmp\"; }");
    json_keys(out, &fields);
    free(out);
    ck_assert(names_has(&fields, "attribution_s"));
    out = run_out("{ " BIN " sensitivity " SEED " --network-model analytic --format json "
                  "--no-plots --out \"$TMPDIR/sens\" && rm -rf \"$TMPDIR/sens\"; }");
    json_keys(out, &fields);
    free(out);
    ck_assert(names_has(&fields, "ranking_can_flip"));
    char *text = doc("output.md");
    assert_documented(text, &fields, "output.md", "field");
    free(text);
    names_free(&fields);
}
END_TEST

/* sweep.csv with every optional column: cost, tokens and repeats. */
START_TEST(every_sweep_column_is_in_output_md)
{
    const char *path = tu_write("sweep.yaml", "model: moe-30b\n"
                                              "cluster: { base: dgx-h100, nodes: 2 }\n"
                                              "training:\n"
                                              "  seq_length: 1024\n"
                                              "  global_batch_size: 16\n"
                                              "  sequence_parallel: true\n"
                                              "  tokens: 1B\n"
                                              "network_model: analytic\n"
                                              "layouts: [{ name: a, tp: 2, pp: 1, ep: 8 }]\n"
                                              "uncertainty: { compute_jitter: 5% }\n"
                                              "cost: { gpu_hour: 2 USD }\n"
                                              "sweep:\n"
                                              "  parameters: { training.micro_batch_size: [1] }\n"
                                              "  repeats: 2\n");
    char cmd[2048], csv_path[1024];
    snprintf(cmd, sizeof cmd, BIN " sweep %s --quiet --no-plots --jobs 1 --out %s/sweep", path,
             tu_temp_dir());
    free(run_out(cmd));
    snprintf(csv_path, sizeof csv_path, "%s/sweep/sweep.csv", tu_temp_dir());
    char *csv = tu_read(csv_path);
    ck_assert_ptr_nonnull(csv);
    names cols = {0};
    csv_columns(csv, &cols);
    free(csv);
    ck_assert(names_has(&cols, "total_cost_usd"));
    ck_assert(names_has(&cols, "training.micro_batch_size"));
    /* The swept key path is a column too; input.md describes it. */
    names fixed = {0};
    for (size_t i = 0; i < cols.count; i++)
        if (strcmp(cols.items[i], "training.micro_batch_size"))
            names_add(&fixed, cols.items[i], strlen(cols.items[i]));
    char *text = doc("output.md");
    assert_documented(text, &fixed, "output.md", "column");
    free(text);
    names_free(&cols);
    names_free(&fixed);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("docs");
    TCase *t = tcase_create("input");
    tcase_add_test(t, documented_needs_the_whole_word);
    tcase_add_test(t, every_loader_key_is_in_input_md);
    tcase_add_test(t, every_key_in_input_md_is_accepted);
    tcase_add_test(t, every_hugging_face_key_is_in_input_md);
    tcase_add_test(t, every_megatron_flag_is_in_input_md);
    suite_add_tcase(s, t);
    t = tcase_create("output");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, json_key_scanner_finds_keys_not_values);
    tcase_add_test(t, every_run_field_is_in_output_md);
    tcase_add_test(t, every_check_and_collective_field_is_in_output_md);
    tcase_add_test(t, every_sweep_column_is_in_output_md);
    suite_add_tcase(s, t);
    return tu_main(s);
}
