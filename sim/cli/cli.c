#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileio.h"
#include "base/strutil.h"
#include "model/layout.h"
#include "report/plot.h"

/* Option value: "--name VALUE" or "--name=VALUE"; advances *i past it. */
const char *cs_cli_option(int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0)
        return NULL;
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (argv[*i][len] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

int cs_cli_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    return 0;
}

void cs_cli_unknown_option(const char *cmd, const char *arg, const char *help)
{
    enum { MOST = 64 };
    char words[MOST][32];
    const char *list[MOST + 1];
    int n = 0;
    for (const char *p = strstr(help, "--"); p && n < MOST; p = strstr(p + 2, "--")) {
        size_t len = 2 + strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-");
        if (len < 3 || len >= sizeof words[0])
            continue;
        memcpy(words[n], p, len);
        words[n][len] = '\0';
        int seen = 0;
        for (int k = 0; k < n; k++)
            seen |= !strcmp(words[k], words[n]);
        if (!seen) {
            list[n] = words[n];
            n++;
        }
    }
    list[n] = NULL;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg); /* --name=VALUE */
    const char *near = cs_did_you_mean(name, list);
    fprintf(stderr, "clustersim %s: unknown option '%s'", cmd, arg);
    if (near)
        fprintf(stderr, "; did you mean '%s'?", near);
    fputc('\n', stderr);
}

int cs_cli_format(const char *s, cs_format *out)
{
    if (!strcmp(s, "text"))
        *out = CS_FORMAT_TEXT;
    else if (!strcmp(s, "json"))
        *out = CS_FORMAT_JSON;
    else if (!strcmp(s, "csv"))
        *out = CS_FORMAT_CSV;
    else
        return -1;
    return 0;
}

int cs_cli_network_model(const char *v, cs_network_model *out)
{
    if (!strcmp(v, "flow"))
        *out = CS_NET_FLOW;
    else if (!strcmp(v, "analytic"))
        *out = CS_NET_ANALYTIC;
    else if (!strcmp(v, "ideal"))
        *out = CS_NET_IDEAL;
    else
        return -1;
    return 0;
}

/* Loads a scenario, printing every problem found as FILE:LINE:COL. */
static int load(const char *file, const cs_paths *paths, cs_scenario *scn, int need_layouts)
{
    cs_diags diags;
    cs_diags_init(&diags);
    int rc = cs_scenario_load(file, paths, scn, &diags);
    if (rc == 0 && need_layouts && scn->layout_count == 0) {
        cs_diags_add(&diags, CS_ERROR, scn->loc, NULL, 0,
                     "the scenario has no layouts: only `clustersim search` runs without them "
                     "(it writes the best as a layouts: entry)");
        rc = -1;
    }
    cs_diags_print(&diags, stderr);
    cs_diags_free(&diags);
    return rc;
}

int cs_cli_load_scenario(const char *file, const cs_paths *paths, cs_scenario *scn)
{
    return load(file, paths, scn, 1);
}

long cs_cli_pick_layout(const char *cmd, const char *file, const cs_scenario *s,
                        const char *name, cs_layout_sizes *z)
{
    size_t which = 0;
    while (name && which < s->layout_count && strcmp(s->layouts[which].name, name))
        which++;
    if (which == s->layout_count) {
        fprintf(stderr, "clustersim %s: %s has no layout '%s'\n", cmd, file, name ? name : "");
        return -EXIT_BAD_INPUT;
    }
    cs_diags d;
    cs_diags_init(&d);
    int rc = cs_layout_check(s, &s->layouts[which], z, &d);
    if (rc != 0)
        cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    return rc != 0 ? -EXIT_INVALID : (long)which;
}

int cs_cli_load_scenario_to_search(const char *file, const cs_paths *paths, cs_scenario *scn)
{
    return load(file, paths, scn, 0);
}

int cs_cli_write_whole(const char *cmd, const char *dir, const char *name, cs_cli_print_fn fn,
                       const void *ctx)
{
    char path[4096], tmp[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = cs_file_temp(path, tmp, sizeof tmp);
    if (!f || (fn(f, ctx), cs_file_commit(f, tmp, path, 1) != 0)) {
        fprintf(stderr, "clustersim %s: cannot write %s: %s\n", cmd, path, strerror(errno));
        return -1;
    }
    return 0;
}

int cs_cli_draw(const char *cmd, const char *dir, const cs_paths *paths, cs_cli_list_fn list,
                const void *ctx)
{
    char buf[4096];
    const char *scripts = cs_cli_scripts_dir(paths, buf, sizeof buf);
    if (!scripts) {
        fprintf(stderr, "clustersim %s: no gnuplot scripts (plots/) in the preset directories\n",
                cmd);
        return -1;
    }
    if (cs_plot_copy_scripts(dir, scripts) || list(dir, ctx))
        return -1;
    if (cs_plot_render(dir, stderr) == -2)
        fprintf(stderr, "clustersim %s: gnuplot failed on some plots in %s\n", cmd, dir);
    return 0;
}

/* mkdir -p. Returns 0 or -1 with errno set. */
int cs_cli_make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* The folder holding the gnuplot scripts: plots/ of the first preset
 * directory that has them. */
const char *cs_cli_scripts_dir(const cs_paths *paths, char *buf, size_t len)
{
    for (int i = 0; paths->preset_dirs[i]; i++) {
        snprintf(buf, len, "%s/plots/timeline.gp", paths->preset_dirs[i]);
        FILE *f = fopen(buf, "r");
        if (f) {
            fclose(f);
            snprintf(buf, len, "%s/plots", paths->preset_dirs[i]);
            return buf;
        }
    }
    return NULL;
}
