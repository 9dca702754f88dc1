#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fileio.h"

static const char *const preset_dirs[] = {CS_SOURCE_DIR, NULL};
const cs_paths tu_paths = {preset_dirs};

/* The suite's root, made by tu_main before Check forks the tests (so every
 * test's folder lives under it and one removal cleans all of them). */
static char root[512];

static void make_root(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/cstest.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        perror("testutil: mkdtemp");
        exit(EXIT_FAILURE);
    }
}

const char *tu_temp_dir(void)
{
    static char dir[600];
    static pid_t owner;
    if (!root[0]) /* a test run without tu_main */
        make_root();
    if (!dir[0] || owner != getpid()) {
        snprintf(dir, sizeof dir, "%s/%ld", root, (long)getpid());
        ck_assert_int_eq(mkdir(dir, 0700), 0);
        owner = getpid();
    }
    return dir;
}

const char *tu_write(const char *name, const char *text)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", tu_temp_dir(), name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

char *tu_read(const char *path)
{
    size_t len;
    return cs_file_read(path, (size_t)1 << 30, &len);
}

void tu_build(tu_built *b, const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
              cs_network_model nm, int run)
{
    ck_assert_int_eq(cs_fabric_init(&b->fab, &s->cluster), 0);
    b->e = cs_engine_create();
    b->net = cs_net_create(b->e, &b->fab, nm);
    b->x = cs_exec_create(b->net, z->world, CS_STREAMS);
    ck_assert_ptr_nonnull(b->x);
    ck_assert_int_eq(cs_workload_build(&b->w, b->x, s, l, z, 1), 0);
    if (run)
        ck_assert_int_eq(cs_exec_run(b->x), 0);
}

void tu_unbuild(tu_built *b)
{
    cs_workload_free(&b->w);
    cs_exec_destroy(b->x);
    cs_net_destroy(b->net);
    cs_engine_destroy(b->e);
    cs_fabric_free(&b->fab);
}

int tu_load_scenario(const char *yaml, cs_scenario *s, cs_diags *d)
{
    char path[1024];
    snprintf(path, sizeof path, "%s", tu_write("scenario.yaml", yaml));
    return cs_scenario_load(path, &tu_paths, s, d);
}

void tu_load_checked(const char *yaml, cs_scenario *s, cs_layout_sizes *z)
{
    cs_diags d;
    cs_diags_init(&d);
    int rc = tu_load_scenario(yaml, s, &d);
    if (rc == 0)
        rc = cs_layout_check(s, &s->layouts[0], z, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert_int_eq(rc, 0);
}

const cs_diag *tu_find(const cs_diags *d, const char *needle)
{
    for (size_t i = 0; i < d->count; i++)
        if (strstr(d->items[i].message, needle))
            return &d->items[i];
    return NULL;
}

int tu_run(const char *command, char **out, char **err)
{
    char o[1024], e[1024], cmd[8192];
    snprintf(o, sizeof o, "%s/stdout", tu_temp_dir());
    snprintf(e, sizeof e, "%s/stderr", tu_temp_dir());
    snprintf(cmd, sizeof cmd, "%s >%s 2>%s", command, o, e);
    int status = system(cmd);
    if (out)
        *out = tu_read(o);
    if (err)
        *err = tu_read(e);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int tu_main(Suite *s)
{
    make_root();
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    /* Depth first, not following links: what the tests made, and only that. */
    if (nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        perror("testutil: removing the temporary root");
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
