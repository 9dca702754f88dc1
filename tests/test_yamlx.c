/* yamlx: positioned syntax errors, one document per file, unreadable files,
 * alias bombs and deep nesting refused, and the small node accessors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "input/yamlx.h"

/* Loads `text` from memory (as "mem.yaml"); returns the rc. f must be freed. */
static int load_text(cs_yfile *f, const char *text, cs_diags *d)
{
    return cs_yfile_load_buffer(f, "mem.yaml", text, strlen(text), d);
}

/* Writes `text` to a temp file and loads it with cs_yfile_load. */
static int load_file(cs_yfile *f, const char *name, const char *text, cs_diags *d)
{
    char path[256];
    snprintf(path, sizeof path, "%s", tu_write(name, text));
    return cs_yfile_load(f, path, d);
}

/* Expects text to be refused with exactly one error containing `needle` at
 * line:col, both when loaded from memory and from a file. */
static void expect_refused(const char *text, const char *needle, int line, int col)
{
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(load_text(&f, text, &d), -1);
    ck_assert_uint_eq(d.errors, 1);
    tu_assert_diag(&d, CS_ERROR, needle, line, col);
    ck_assert_str_eq(d.items[0].file, "mem.yaml");
    cs_yfile_free(&f);
    cs_diags_free(&d);

    ck_assert_int_eq(load_file(&f, "refused.yaml", text, &d), -1);
    ck_assert_uint_eq(d.errors, 1);
    tu_assert_diag(&d, CS_ERROR, needle, line, col);
    ck_assert_ptr_nonnull(strstr(d.items[0].file, "/refused.yaml"));
    cs_yfile_free(&f);
    cs_diags_free(&d);
}

/* ------------------------------------------------------------------------ */
/* Syntax errors                                                             */

/* A diagnostic on a very long line echoes a clipped window around the
 * column, with the caret still under the offending character. */
/* The reader's errors (a NUL byte, bad UTF-8) are put where they are, not
 * at 1:1. */
START_TEST(reader_errors_positioned)
{
    static const char nul[] = "a: 1\nb: { c: 20\0" "48 }\n";
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_yfile_load_buffer(&f, "mem.yaml", nul, sizeof nul - 1, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "control characters are not allowed", 2, 11);
    cs_yfile_free(&f);
    cs_diags_free(&d);
    expect_refused("a: 1\nb: 2\nc: \xff\xfe\n", "invalid leading UTF-8 octet", 3, 4);
}
END_TEST

/* Columns count characters: on a long line of 2-byte characters the window
 * is cut between characters and the caret's column counts characters too;
 * a message quoting a huge text is cut. */
START_TEST(clipping_counts_characters)
{
    char text[2048] = "";
    for (int i = 0; i < 300; i++)
        strcat(text, "\xc3\xa9"); /* e acute */
    strcat(text, "zz");
    cs_diags d;
    cs_diags_init(&d);
    cs_diags_add(&d, CS_ERROR, (cs_loc){"x", 1, 301}, text, strlen(text), "%s", text);
    const cs_diag *r = &d.items[0];
    const char *z = strstr(r->source_line, "zz");
    ck_assert_ptr_nonnull(z);
    int chars = 0;
    for (const char *p = r->source_line; p < z; p++)
        chars += ((unsigned char)*p & 0xc0) != 0x80;
    ck_assert_int_eq(chars + 1, r->source_col);
    ck_assert_int_eq((unsigned char)r->source_line[3] & 0xc0, 0xc0); /* a lead byte after "..." */
    ck_assert_uint_eq(strlen(r->message), CS_DIAG_MESSAGE_MAX);
    ck_assert_str_eq(r->message + CS_DIAG_MESSAGE_MAX - 3, "...");
    cs_diags_free(&d);
}
END_TEST

/* A document that simply holds too many keys says so; it is no alias bomb. */
START_TEST(too_many_plain_nodes)
{
    size_t cap = 110000 * 24, used = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    for (int i = 0; i < 110000; i++)
        used += (size_t)snprintf(text + used, cap - used, "k%d: %d\n", i, i);
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(load_text(&f, text, &d), -1);
    ck_assert_ptr_nonnull(tu_find(&d, "the document holds more than 200000 nodes"));
    ck_assert_ptr_null(tu_find(&d, "alias"));
    cs_yfile_free(&f);
    cs_diags_free(&d);
    free(text);
}
END_TEST

START_TEST(long_lines_are_clipped)
{
    size_t n = 1000000;
    char *text = malloc(n + 1);
    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; i < n; i++)
        text[i] = (char)('a' + (int)(i % 26));
    text[n] = '\0';
    int cols[] = {1, 500000, (int)n, (int)n + 5}; /* the last past the end */
    for (int k = 0; k < 4; k++) {
        cs_diags d;
        cs_diags_init(&d);
        cs_diags_add(&d, CS_ERROR, (cs_loc){"x", 1, cols[k]}, text, n, "bad");
        const cs_diag *r = &d.items[0];
        ck_assert_uint_le(strlen(r->source_line), 2 * 80 + 6);
        ck_assert_int_ge(r->source_col, 1);
        size_t at = (size_t)cols[k] - 1 < n ? (size_t)cols[k] - 1 : n;
        ck_assert_int_eq(r->source_line[r->source_col - 1], at < n ? text[at] : '\0');
        ck_assert_int_eq(r->col, cols[k]); /* the position printed stays the real one */
        cs_diags_free(&d);
    }
    free(text);
}
END_TEST

START_TEST(syntax_unclosed_flow_mapping)
{
    /* The flow mapping opened on line 2 is never closed; the plain scalar
     * "4" runs on into line 3 and the parser trips on the ':' at 3:9. */
    expect_refused("model: moe-30b\n"
                   "cluster: {base: dgx-h100, nodes: 4\n"
                   "training: {seq_length: 2048}\n",
                   "YAML syntax error: did not find expected ',' or '}' while parsing a flow "
                   "mapping",
                   3, 9);
}
END_TEST

START_TEST(syntax_wrong_closing_bracket)
{
    /* '{' closed by ']': the error is at the ']'. */
    expect_refused("layouts:\n"
                   "  - {tp: 4, pp: 4]\n",
                   "YAML syntax error: did not find expected ',' or '}'", 2, 18);
}
END_TEST

START_TEST(syntax_bad_indentation)
{
    /* 'c' is indented one space: neither in 'a' nor at the top level. */
    expect_refused("a:\n"
                   "  b: 1\n"
                   " c: 2\n",
                   "YAML syntax error: did not find expected key while parsing a block mapping",
                   3, 2);
    /* A key indented deeper than its sibling continues the previous scalar. */
    expect_refused("training:\n"
                   "  seq_length: 2048\n"
                   "   global_batch_size: 128\n",
                   "YAML syntax error: mapping values are not allowed in this context", 3, 21);
}
END_TEST

START_TEST(syntax_tab_indentation)
{
    expect_refused("a:\n"
                   "\tb: 1\n",
                   "YAML syntax error: found character that cannot start any token", 2, 1);
}
END_TEST

START_TEST(syntax_undefined_alias)
{
    expect_refused("a: 1\n"
                   "b: *nope\n",
                   "YAML syntax error: found undefined alias", 2, 4);
}
END_TEST

START_TEST(syntax_error_quotes_the_line)
{
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(load_text(&f, "ok: 1\n  - {tp: 4, pp: 4]\nafter: 2\n", &d), -1);
    ck_assert_uint_eq(d.count, 1);
    ck_assert_ptr_nonnull(d.items[0].source_line);
    ck_assert_str_eq(d.items[0].source_line, "  - {tp: 4, pp: 4]");
    cs_yfile_free(&f);
    cs_diags_free(&d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Empty files and several documents                                         */

START_TEST(empty_file_refused)
{
    expect_refused("", "the file holds no YAML document", 1, 1);
    expect_refused("# nothing but a comment\n\n", "the file holds no YAML document", 1, 1);
}
END_TEST

START_TEST(single_document_markers_accepted)
{
    const char *ok[] = {"---\na: 1\n", "a: 1\n...\n", "--- \na: 1\n...\n"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        cs_yfile f;
        cs_diags d;
        cs_diags_init(&d);
        ck_assert_msg(load_text(&f, ok[i], &d) == 0, "case %zu refused", i);
        ck_assert_uint_eq(d.errors, 0);
        yaml_node_t *root = cs_yfile_root(&f);
        ck_assert_ptr_nonnull(root);
        ck_assert_str_eq(cs_ynode_text(cs_ymap_get(&f, root, "a")), "1");
        cs_yfile_free(&f);
        cs_diags_free(&d);
    }
}
END_TEST

/* The second document starts at its '---' marker (line 2). */
START_TEST(two_documents_refused_at_second)
{
    expect_refused("a: 1\n"
                   "---\n"
                   "b: 2\n",
                   "a second YAML document; one file holds one document", 2, 1);
}
END_TEST

/* An empty second document is still a second document; its position must be
 * the '---' on line 2, not a line past the end of the 2-line file. */
START_TEST(empty_second_document_refused_at_marker)
{
    expect_refused("a: 1\n"
                   "---\n",
                   "a second YAML document", 2, 1);
}
END_TEST

START_TEST(second_document_syntax_error)
{
    expect_refused("a: 1\n"
                   "---\n"
                   "b: [1, 2\n",
                   "YAML syntax error", 4, 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Files that cannot be read                                                 */

START_TEST(missing_file)
{
    const char *path = "/nonexistent-clustersim-dir/missing.yaml";
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_yfile_load(&f, path, &d), -1);
    ck_assert_uint_eq(d.errors, 1);
    tu_assert_diag(&d, CS_ERROR, "cannot open: No such file or directory", 0, 0);
    ck_assert_str_eq(d.items[0].file, path);
    ck_assert_ptr_null(d.items[0].source_line);
    ck_assert_ptr_null(cs_yfile_root(&f));
    cs_yfile_free(&f); /* safe after a failed load */
    cs_diags_free(&d);
}
END_TEST

START_TEST(directory_is_unreadable)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tu_write("probe.txt", "x"));
    *strrchr(dir, '/') = '\0';
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_yfile_load(&f, dir, &d), -1);
    ck_assert_uint_eq(d.errors, 1);
    tu_assert_diag(&d, CS_ERROR, "cannot read: Is a directory", 0, 0);
    ck_assert_str_eq(d.items[0].file, dir);
    cs_yfile_free(&f);
    cs_diags_free(&d);
}
END_TEST

/* A FIFO would block a plain open() until a writer comes: it is refused as
 * not a regular file, at once. */
START_TEST(fifo_refused_without_blocking)
{
    char path[256];
    snprintf(path, sizeof path, "%s", tu_write("probe.txt", "x"));
    snprintf(strrchr(path, '/'), sizeof path - (size_t)(strrchr(path, '/') - path), "/pipe.yaml");
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_yfile_load(&f, path, &d), -1);
    ck_assert_uint_eq(d.errors, 1);
    tu_assert_diag(&d, CS_ERROR, "cannot read: not a regular file", 0, 0);
    cs_yfile_free(&f);
    cs_diags_free(&d);
    unlink(path);
}
END_TEST

START_TEST(permission_denied)
{
    char path[256];
    snprintf(path, sizeof path, "%s", tu_write("secret.yaml", "a: 1\n"));
    ck_assert_int_eq(chmod(path, 0), 0);
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_yfile_load(&f, path, &d);
    if (geteuid() == 0) {
        /* root reads anything: the file loads. */
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(d.errors, 0);
    } else {
        ck_assert_int_eq(rc, -1);
        tu_assert_diag(&d, CS_ERROR, "cannot open: Permission denied", 0, 0);
    }
    cs_yfile_free(&f);
    cs_diags_free(&d);
}
END_TEST

/* Writes a file of exactly `size` bytes: one key, then comment padding. */
static const char *write_sized(const char *name, size_t size)
{
    char *text = malloc(size + 1);
    ck_assert_ptr_nonnull(text);
    memcpy(text, "a: 1\n", 5);
    memset(text + 5, '#', size - 6);
    text[size - 1] = '\n';
    text[size] = '\0';
    const char *path = tu_write(name, text);
    free(text);
    return path;
}

START_TEST(file_over_size_limit_refused)
{
    char path[256];
    snprintf(path, sizeof path, "%s", write_sized("big.yaml", CS_YAML_MAX_BYTES + 1));
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_yfile_load(&f, path, &d), -1);
    ck_assert_uint_eq(d.errors, 1);
    tu_assert_diag(&d, CS_ERROR, "file is larger than 16 MiB", 0, 0);
    cs_yfile_free(&f);
    cs_diags_free(&d);
}
END_TEST

/* The limit is on files *over* CS_YAML_MAX_BYTES: one of exactly that size loads. */
START_TEST(file_at_size_limit_accepted)
{
    char path[256];
    snprintf(path, sizeof path, "%s", write_sized("limit.yaml", CS_YAML_MAX_BYTES));
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_yfile_load(&f, path, &d);
    ck_assert_msg(rc == 0, "a %u-byte file was refused: %s", CS_YAML_MAX_BYTES,
                  d.count ? d.items[0].message : "?");
    ck_assert_uint_eq(f.len, CS_YAML_MAX_BYTES);
    ck_assert_str_eq(cs_ynode_text(cs_ymap_get(&f, cs_yfile_root(&f), "a")), "1");
    cs_yfile_free(&f);
    cs_diags_free(&d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Alias bombs, recursive aliases, deep nesting                              */

static const char billion_laughs[] =
    "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";

START_TEST(billion_laughs_refused)
{
    /* Expanded sizes: a 10, b 91, c 820, d 7381, e 66430, f 597871: f (line
     * 6, its anchor at column 4) is the first node over 200000. */
    expect_refused(billion_laughs, "refusing the document (an alias bomb?)", 6, 4);
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(load_file(&f, "lol.yaml", billion_laughs, &d), -1);
    ck_assert_uint_eq(d.errors, 1);
    ck_assert_ptr_nonnull(tu_find(&d, "aliases here expand to more than 200000 nodes"));
    cs_yfile_free(&f);
    cs_diags_free(&d);
}
END_TEST

START_TEST(small_alias_fanout_accepted)
{
    /* The first five levels expand to 66430 + 7381 + 820 + 91 + 10 nodes plus
     * keys: under the limit, so shared aliases by themselves are fine. */
    char text[sizeof billion_laughs];
    memcpy(text, billion_laughs, sizeof text);
    *strstr(text, "f: &f") = '\0';
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(load_text(&f, text, &d), 0);
    ck_assert_uint_eq(d.errors, 0);
    yaml_node_t *e = cs_ymap_get(&f, cs_yfile_root(&f), "e");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->type, YAML_SEQUENCE_NODE);
    ck_assert_int_eq(e->data.sequence.items.top - e->data.sequence.items.start, 9);
    cs_yfile_free(&f);
    cs_diags_free(&d);
}
END_TEST

START_TEST(recursive_alias_refused)
{
    /* libyaml keeps no alias nodes: the error is at the node holding the
     * alias, i.e. the anchored list itself. */
    expect_refused("a: &a [*a]\n", "an alias refers to a node that contains it", 1, 4);
    expect_refused("a: &a {b: *a}\n", "an alias refers to a node that contains it", 1, 4);
    expect_refused("x: 1\n"
                   "a: &a\n"
                   "  - 1\n"
                   "  - [2, *a]\n",
                   "an alias refers to a node that contains it", 4, 5);
}
END_TEST

static char *nested(int levels, const char *prefix)
{
    size_t n = strlen(prefix);
    char *s = malloc(n + 2 * (size_t)levels + 2);
    ck_assert_ptr_nonnull(s);
    memcpy(s, prefix, n);
    memset(s + n, '[', (size_t)levels);
    memset(s + n + levels, ']', (size_t)levels);
    s[n + 2 * levels] = '\n';
    s[n + 2 * levels + 1] = '\0';
    return s;
}

START_TEST(deep_nesting_refused)
{
    /* Refused where the limit is crossed, reading from the outside: the
     * 65th '[' (the parse stops there, so that depth costs nothing). */
    char *text = nested(200, "");
    expect_refused(text, "nesting deeper than 64 levels", 1, 65);
    free(text);
    text = nested(65, "");
    expect_refused(text, "nesting deeper than 64 levels", 1, 65);
    free(text);
    /* 100,000 levels: libyaml's loader would take minutes (quadratic); the
     * depth pass refuses it at once. */
    text = nested(100000, "");
    expect_refused(text, "nesting deeper than 64 levels", 1, 65);
    free(text);
}
END_TEST

START_TEST(nesting_at_limit_accepted)
{
    char *text = nested(64, "");
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(load_text(&f, text, &d), 0);
    ck_assert_uint_eq(d.errors, 0);
    cs_yfile_free(&f);
    cs_diags_free(&d);
    free(text);
}
END_TEST

START_TEST(very_deep_nesting_no_crash)
{
    /* Far deeper than any recursion would survive with ASan's stack. */
    char *text = nested(5000, "");
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(load_text(&f, text, &d), -1);
    ck_assert_uint_ge(d.errors, 1);
    ck_assert_int_eq(d.items[0].line, 1);
    cs_yfile_free(&f);
    cs_diags_free(&d);
    free(text);
}
END_TEST

START_TEST(nesting_counts_alias_expansion)
{
    /* Written nesting is at most 34 levels, but b holds a inside 33 lists:
     * 33 + 32 = 65 levels once *a is expanded. Refused at b's outer list. */
    char *a = nested(32, "a: &a ");
    char line2[128];
    memset(line2, 0, sizeof line2);
    strcpy(line2, "b: ");
    memset(line2 + 3, '[', 33);
    strcat(line2, "*a");
    memset(line2 + strlen(line2), ']', 33);
    strcat(line2, "\n");
    char text[512];
    snprintf(text, sizeof text, "%s%s", a, line2);
    expect_refused(text, "nesting deeper than 64 levels", 2, 4);
    free(a);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Accessors                                                                 */

START_TEST(buffer_and_map_get)
{
    const char *text = "name: dgx\n"
                       "gpu:\n"
                       "  memory: 80 GB\n"
                       "  name: H100\n"
                       "list: [1, 2, 3]\n"
                       "nothing: ~\n"
                       "empty:\n"
                       "quoted: \"null\"\n";
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_yfile_load_buffer(&f, "buf.yaml", text, strlen(text), &d), 0);
    ck_assert_uint_eq(d.count, 0);
    ck_assert_str_eq(f.path, "buf.yaml");
    ck_assert_uint_eq(f.len, strlen(text));
    ck_assert_str_eq(f.text, text);

    yaml_node_t *root = cs_yfile_root(&f);
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(root->type, YAML_MAPPING_NODE);
    ck_assert_str_eq(cs_ynode_describe(root), "a mapping");

    yaml_node_t *name = cs_ymap_get(&f, root, "name");
    ck_assert_str_eq(cs_ynode_text(name), "dgx");
    cs_loc loc = cs_yfile_loc(&f, name);
    ck_assert_int_eq(loc.line, 1);
    ck_assert_int_eq(loc.col, 7);
    ck_assert_ptr_eq(loc.file, f.path);

    yaml_node_t *gpu = cs_ymap_get(&f, root, "gpu");
    ck_assert_ptr_nonnull(gpu);
    ck_assert_ptr_null(cs_ynode_text(gpu));
    yaml_node_t *mem = cs_ymap_get(&f, gpu, "memory");
    ck_assert_str_eq(cs_ynode_text(mem), "80 GB");
    loc = cs_yfile_loc(&f, mem);
    ck_assert_int_eq(loc.line, 3);
    ck_assert_int_eq(loc.col, 11);
    /* Nested keys are not found from the root, nor root keys from gpu. */
    ck_assert_ptr_null(cs_ymap_get(&f, root, "memory"));
    ck_assert_str_eq(cs_ynode_text(cs_ymap_get(&f, gpu, "name")), "H100");
    ck_assert_ptr_null(cs_ymap_get(&f, root, "missing"));
    ck_assert_ptr_null(cs_ymap_get(&f, root, "Name"));

    yaml_node_t *list = cs_ymap_get(&f, root, "list");
    ck_assert_str_eq(cs_ynode_describe(list), "a list");
    ck_assert_ptr_null(cs_ymap_get(&f, list, "1"));      /* not a mapping */
    ck_assert_ptr_null(cs_ymap_get(&f, NULL, "name"));   /* no node */
    ck_assert_ptr_null(cs_ymap_get(&f, name, "dgx"));    /* a scalar */
    yaml_node_t *second = cs_yfile_node(&f, list->data.sequence.items.start[1]);
    ck_assert_str_eq(cs_ynode_text(second), "2");
    loc = cs_yfile_loc(&f, second);
    ck_assert_int_eq(loc.line, 5);
    ck_assert_int_eq(loc.col, 11);

    ck_assert(cs_ynode_is_null(cs_ymap_get(&f, root, "nothing")));
    ck_assert(cs_ynode_is_null(cs_ymap_get(&f, root, "empty")));
    ck_assert(!cs_ynode_is_null(cs_ymap_get(&f, root, "quoted")));
    ck_assert(!cs_ynode_is_null(name));
    ck_assert(!cs_ynode_is_null(gpu));
    ck_assert_str_eq(cs_ynode_describe(cs_ymap_get(&f, root, "nothing")), "null");
    ck_assert_str_eq(cs_ynode_describe(cs_ymap_get(&f, root, "quoted")), "a scalar");
    ck_assert_str_eq(cs_ynode_describe(NULL), "nothing");

    /* Reports are positioned at the node, or at 1:1 without one, and quote
     * the source line. */
    cs_yfile_report(&f, &d, CS_WARNING, mem, "check %s", "me");
    cs_yfile_report(&f, &d, CS_ERROR, NULL, "whole file");
    ck_assert_uint_eq(d.count, 2);
    ck_assert_uint_eq(d.errors, 1);
    tu_assert_diag(&d, CS_WARNING, "check me", 3, 11);
    ck_assert_str_eq(d.items[0].source_line, "  memory: 80 GB");
    ck_assert_str_eq(d.items[0].file, "buf.yaml");
    tu_assert_diag(&d, CS_ERROR, "whole file", 1, 1);
    cs_yfile_free(&f);
    cs_diags_free(&d);
}
END_TEST

START_TEST(buffer_uses_only_len_bytes)
{
    const char *text = "a: 1\nb: 2\n";
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_yfile_load_buffer(&f, "part.yaml", text, 5, &d), 0);
    ck_assert_uint_eq(f.len, 5);
    ck_assert_str_eq(f.text, "a: 1\n");
    ck_assert_str_eq(cs_ynode_text(cs_ymap_get(&f, cs_yfile_root(&f), "a")), "1");
    ck_assert_ptr_null(cs_ymap_get(&f, cs_yfile_root(&f), "b"));
    cs_yfile_free(&f);
    cs_diags_free(&d);
}
END_TEST

START_TEST(json_file_loads)
{
    cs_yfile f;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_yfile_load(&f, DATA("hf/mixtral-8x7b.json"), &d), 0);
    ck_assert_uint_eq(d.count, 0);
    yaml_node_t *root = cs_yfile_root(&f);
    yaml_node_t *v = cs_ymap_get(&f, root, "num_local_experts");
    ck_assert_str_eq(cs_ynode_text(v), "8");
    cs_loc loc = cs_yfile_loc(&f, v);
    ck_assert_int_eq(loc.line, 18);
    ck_assert_int_eq(loc.col, 24);
    ck_assert_str_eq(cs_ynode_text(cs_ymap_get(&f, root, "model_type")), "mixtral");
    cs_yfile_free(&f);
    cs_diags_free(&d);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("yamlx");
    TCase *t = tcase_create("syntax");
    tcase_add_test(t, long_lines_are_clipped);
    tcase_add_test(t, too_many_plain_nodes);
    tcase_add_test(t, clipping_counts_characters);
    tcase_add_test(t, reader_errors_positioned);
    tcase_add_test(t, syntax_unclosed_flow_mapping);
    tcase_add_test(t, syntax_wrong_closing_bracket);
    tcase_add_test(t, syntax_bad_indentation);
    tcase_add_test(t, syntax_tab_indentation);
    tcase_add_test(t, syntax_undefined_alias);
    tcase_add_test(t, syntax_error_quotes_the_line);
    suite_add_tcase(s, t);

    t = tcase_create("documents");
    tcase_add_test(t, empty_file_refused);
    tcase_add_test(t, single_document_markers_accepted);
    tcase_add_test(t, two_documents_refused_at_second);
    tcase_add_test(t, empty_second_document_refused_at_marker);
    tcase_add_test(t, second_document_syntax_error);
    suite_add_tcase(s, t);

    t = tcase_create("files");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, missing_file);
    tcase_add_test(t, directory_is_unreadable);
    tcase_add_test(t, permission_denied);
    tcase_add_test(t, fifo_refused_without_blocking);
    tcase_add_test(t, file_over_size_limit_refused);
    tcase_add_test(t, file_at_size_limit_accepted);
    suite_add_tcase(s, t);

    t = tcase_create("guards");
    tcase_add_test(t, billion_laughs_refused);
    tcase_add_test(t, small_alias_fanout_accepted);
    tcase_add_test(t, recursive_alias_refused);
    tcase_add_test(t, deep_nesting_refused);
    tcase_add_test(t, nesting_at_limit_accepted);
    tcase_add_test(t, very_deep_nesting_no_crash);
    tcase_add_test(t, nesting_counts_alias_expansion);
    suite_add_tcase(s, t);

    t = tcase_create("accessors");
    tcase_add_test(t, buffer_and_map_get);
    tcase_add_test(t, buffer_uses_only_len_bytes);
    tcase_add_test(t, json_file_loads);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
