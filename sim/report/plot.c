#include "report/plot.h"

#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/fileio.h"

extern char **environ;

static int make_dir(const char *path)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST)
        return 0;
    fprintf(stderr, "clustersim: cannot create %s: %s\n", path, strerror(errno));
    return -1;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in) {
        fprintf(stderr, "clustersim: cannot read %s: %s\n", from, strerror(errno));
        return -1;
    }
    FILE *out = fopen(to, "wb");
    if (!out) {
        fprintf(stderr, "clustersim: cannot write %s: %s\n", to, strerror(errno));
        fclose(in);
        return -1;
    }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    return fclose(out) == 0 ? 0 : -1;
}

int cs_plot_copy_scripts(const char *root, const char *scripts)
{
    static const char *const names[] = {"timeline.gp", "memory.gp", "compare.gp", "sweep.gp",
                                        "pareto.gp",   "tornado.gp", "pair.gp"};
    char dir[4096], from[4200], to[4200];
    snprintf(dir, sizeof dir, "%s/plots", root);
    if (make_dir(dir))
        return -1;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(from, sizeof from, "%s/%s", scripts, names[i]);
        snprintf(to, sizeof to, "%s/%s", dir, names[i]);
        if (copy_file(from, to))
            return -1;
    }
    /* A fresh list for this run. */
    snprintf(to, sizeof to, "%s/plots.txt", root);
    remove(to);
    return 0;
}

/* Runs gnuplot -c SCRIPT ARGS... with paths under root; returns its status,
 * or -1 when gnuplot cannot be started. The picture is drawn into a new
 * temporary file and renamed to its name only when gnuplot succeeds, so an
 * interrupted run leaves no empty or half-drawn picture. */
static int gnuplot(const char *root, char **fields, int n)
{
    char paths[3][4200], picture[4300];
    picture[0] = '\0';
    char *argv[16];
    int argc = 0;
    argv[argc++] = "gnuplot";
    argv[argc++] = "-c";
    for (int i = 0; i < n && argc < 15; i++) {
        if (i < 3) {
            snprintf(paths[i], sizeof paths[i], "%s/%s", root, fields[i]);
            argv[argc++] = paths[i];
            if (i == 2) {
                FILE *f = cs_file_temp(paths[2], picture, sizeof picture);
                if (!f || fclose(f) != 0)
                    return 1; /* cannot write next to the picture: a failure */
                argv[argc - 1] = picture;
            }
        } else {
            argv[argc++] = fields[i];
        }
    }
    argv[argc] = NULL;
    pid_t pid;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    /* gnuplot's chatter goes nowhere; clustersim reports failures itself. */
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", 1, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", 1, 0);
    int rc = posix_spawnp(&pid, "gnuplot", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    if (rc == 0 && waitpid(pid, &status, 0) < 0)
        rc = -1;
    if (rc != 0 || (WIFEXITED(status) && WEXITSTATUS(status) == 127))
        rc = -1; /* gnuplot could not be started */
    else
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (picture[0] && cs_file_commit(NULL, picture, paths[2], rc == 0) != 0 && rc == 0)
        rc = 1;
    return rc;
}

#define PLOTS_MAX ((size_t)1 << 20) /* plots.txt: a line per picture */

int cs_plot_render(const char *root, FILE *note)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/plots.txt", root);
    size_t len;
    char *text = cs_file_read(path, PLOTS_MAX, &len);
    if (!text) {
        if (errno == ENOENT)
            return -1;
        char buf[64];
        if (note)
            fprintf(note, "clustersim: cannot read %s: %s\n", path,
                    cs_file_error(errno, PLOTS_MAX, buf, sizeof buf));
        return -3;
    }
    int rendered = 0, failed = 0, missing = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *fields[12];
        int n = 0;
        for (char *p = line; p && n < 12;) {
            fields[n++] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = '\0';
        }
        if (n < 3)
            continue;
        /* Every path of the list stays inside root. */
        int outside = 0;
        for (int i = 0; i < 3; i++)
            outside |= fields[i][0] == '/' || !strncmp(fields[i], "../", 3) ||
                       strstr(fields[i], "/../") != NULL || !strcmp(fields[i], "..");
        if (outside) {
            if (note)
                fprintf(note, "clustersim: %s/plots.txt names a path outside %s: %s\n", root, root,
                        fields[2]);
            failed++;
            continue;
        }
        int rc = missing ? -1 : gnuplot(root, fields, n);
        if (rc < 0) {
            missing = 1;
            continue;
        }
        if (rc == 0)
            rendered++;
        else
            failed++;
    }
    free(text);
    if (missing && note)
        fprintf(note, "clustersim: gnuplot is not installed, so no pictures were drawn; the "
                      "data are in %s. Install gnuplot (Debian: gnuplot-nox) and run "
                      "'clustersim plot %s', or see %s/plots.txt for the gnuplot commands.\n",
                root, root, root);
    return failed ? -2 : rendered;
}
