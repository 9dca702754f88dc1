#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const preset_dirs[] = {CS_SOURCE_DIR, NULL};
const cs_paths tu_paths = {preset_dirs};

static const char *temp_dir(void)
{
    static char dir[64];
    static pid_t owner;
    /* Check forks a child per test: each child gets its own directory. */
    if (!dir[0] || owner != getpid()) {
        snprintf(dir, sizeof dir, "/tmp/cstest.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        owner = getpid();
    }
    return dir;
}

const char *tu_write(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", temp_dir(), name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

int tu_load_scenario(const char *yaml, cs_scenario *s, cs_diags *d)
{
    char path[256];
    snprintf(path, sizeof path, "%s", tu_write("scenario.yaml", yaml));
    return cs_scenario_load(path, &tu_paths, s, d);
}

const cs_diag *tu_find(const cs_diags *d, const char *needle)
{
    for (size_t i = 0; i < d->count; i++)
        if (strstr(d->items[i].message, needle))
            return &d->items[i];
    return NULL;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

int tu_run(const char *command, char **out, char **err)
{
    char o[256], e[256], cmd[4096];
    snprintf(o, sizeof o, "%s/stdout", temp_dir());
    snprintf(e, sizeof e, "%s/stderr", temp_dir());
    snprintf(cmd, sizeof cmd, "%s >%s 2>%s", command, o, e);
    int status = system(cmd);
    if (out)
        *out = slurp(o);
    if (err)
        *err = slurp(e);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int tu_main(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
