#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "report/plot.h"

#include <errno.h>
#include <sched.h>
#include <spawn.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* One gnuplot drawing one picture. The picture is drawn into a new
 * temporary file and renamed to its name only when gnuplot succeeds, so an
 * interrupted run leaves no empty or half-drawn picture. */
typedef struct {
    pid_t pid;
    char final[4200];   /* root/picture */
    char picture[4300]; /* the temporary file gnuplot draws into */
} drawing;

/* A gnuplot started ahead (cs_plot_warm): its stdin is our end of a socket
 * pair, a socket so that a gnuplot that has died fails the send instead of
 * raising SIGPIPE. */
typedef struct {
    pid_t pid; /* 0: none, or handed its picture */
    int fd;
} warm;

#define POOL_MAX 4

struct cs_plot_pool {
    int count;
    warm w[POOL_MAX];
};

static int send_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, text, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        text += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Appends ' s ' to buf: 0, or -1 when it does not fit or s holds a quote or
 * a line break (the picture is then drawn by a cold gnuplot). */
static int append_quoted(char *buf, size_t size, size_t *len, const char *s)
{
    if (*len + 3 > size)
        return -1;
    buf[(*len)++] = ' ';
    buf[(*len)++] = '\'';
    for (; *s; s++) {
        /* gnuplot 5.4 misreads a leading or repeated doubled quote ('''a',
         * 'a''''b'): an argument with a quote is drawn cold instead. */
        if (*s == '\n' || *s == '\r' || *s == '\'' || *len + 3 > size)
            return -1;
        buf[(*len)++] = *s;
    }
    buf[(*len)++] = '\'';
    buf[*len] = '\0';
    return 0;
}

/* Hands `argv` (script, data, picture, arguments) to a warm gnuplot as the
 * command `call` with the same arguments, which runs the script as -c does,
 * and ends its input so that it exits when drawn: 0 with d->pid set, or -1
 * when there is no warm gnuplot left or it could not take the command. */
static int warm_draw(drawing *d, cs_plot_pool *pool, char **argv, int argc)
{
    warm *w = NULL;
    for (int k = 0; pool && k < pool->count && !w; k++)
        if (pool->w[k].pid)
            w = &pool->w[k];
    if (!w || argc - 1 > 9) /* call takes 9 arguments; -c keeps the first 9 */
        return -1;
    char cmd[16384] = "call";
    size_t len = 4;
    int ok = 1;
    for (int i = 0; i < argc && ok; i++)
        ok = append_quoted(cmd, sizeof cmd - 1, &len, argv[i]) == 0;
    if (!ok)
        return -1; /* drawn cold, with the arguments as they are */
    cmd[len++] = '\n';
    pid_t pid = w->pid;
    ok = send_all(w->fd, cmd, len) == 0;
    close(w->fd);
    w->pid = 0;
    if (!ok) { /* it died: reaped here, and the picture drawn cold */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return -1;
    }
    d->pid = pid;
    return 0;
}

/* Starts gnuplot -c SCRIPT DATA PICTURE ARGS... with paths under root, by a
 * warm gnuplot when the pool has one: 0, 1 when the picture cannot be
 * written (a failure of this picture), or -1 when gnuplot cannot be
 * started. */
static int gnuplot_start(drawing *d, const char *root, char **fields, int n, cs_plot_pool *pool)
{
    char paths[2][4200];
    char *argv[16];
    int argc = 0;
    argv[argc++] = "gnuplot";
    argv[argc++] = "-c";
    for (int i = 0; i < 2; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", root, fields[i]);
        argv[argc++] = paths[i];
    }
    snprintf(d->final, sizeof d->final, "%s/%s", root, fields[2]);
    FILE *f = cs_file_temp(d->final, d->picture, sizeof d->picture);
    if (!f || fclose(f) != 0)
        return 1;
    argv[argc++] = d->picture;
    for (int i = 3; i < n && argc < 15; i++)
        argv[argc++] = fields[i];
    argv[argc] = NULL;
    if (warm_draw(d, pool, argv + 2, argc - 2) == 0)
        return 0;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    /* gnuplot's chatter goes nowhere; clustersim reports failures itself. */
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", 1, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", 1, 0);
    int rc = posix_spawnp(&d->pid, "gnuplot", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        d->pid = 0;
        cs_file_commit(NULL, d->picture, d->final, 0);
        return -1;
    }
    return 0;
}

/* Waits for a started gnuplot and keeps its picture if it succeeded: its
 * exit status (0 drawn), or -1 when gnuplot could not be run. */
static int gnuplot_finish(drawing *d)
{
    int status = 0, rc;
    pid_t got;
    while ((got = waitpid(d->pid, &status, 0)) < 0 && errno == EINTR)
        ; /* a signal, not the end of gnuplot */
    if (got < 0)
        rc = -1;
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        rc = -1; /* gnuplot could not be started */
    else
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (cs_file_commit(NULL, d->picture, d->final, rc == 0) != 0 && rc == 0)
        rc = 1;
    return rc;
}

/* Pictures drawn at once: one gnuplot per core, up to this many (a run draws
 * a timeline, a memory plot and a comparison; each gnuplot is one thread). */
#define DRAWING_MAX 4

static int drawings_at_once(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef CPU_COUNT
    cpu_set_t set; /* the cores this process may run on (affinity, cgroup cpusets) */
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        cores = CPU_COUNT(&set);
#endif
    return cores < 1 ? 1 : cores > DRAWING_MAX ? DRAWING_MAX : (int)cores;
}

/* What a warm gnuplot does before its picture: the PNG terminal finds its
 * fonts when it first draws text, so it draws a small picture into nothing.
 * Nothing it sets outlives that: each script sets its terminal and output. */
static const char warm_up[] = "set terminal pngcairo\n" /* no options: none persist */
                              "set output '/dev/null'\n"
                              "plot 0 notitle\n";

/* Ends a warm gnuplot that has not been handed a picture. */
static void warm_end(warm *w)
{
    if (!w->pid)
        return;
    close(w->fd);
    kill(w->pid, SIGKILL); /* it has nothing to draw */
    while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    w->pid = 0;
}

static int warm_start(warm *w)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, sv[1], 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", 1, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", 1, 0);
    char *argv[] = {"gnuplot", NULL};
    int rc = posix_spawnp(&w->pid, "gnuplot", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(sv[1]);
    if (rc != 0) {
        w->pid = 0;
        close(sv[0]);
        return -1;
    }
    w->fd = sv[0];
    if (send_all(w->fd, warm_up, sizeof warm_up - 1) != 0) {
        warm_end(w);
        return -1;
    }
    return 0;
}

cs_plot_pool *cs_plot_warm(int count)
{
    /* One more than are drawn at once, so that the next picture starts warm. */
    int most = drawings_at_once() + 1;
    if (count > most)
        count = most;
    if (count > POOL_MAX)
        count = POOL_MAX;
    cs_plot_pool *pool = count > 0 ? calloc(1, sizeof *pool) : NULL;
    if (!pool)
        return NULL;
    for (int k = 0; k < count; k++)
        if (warm_start(&pool->w[pool->count]) == 0)
            pool->count++;
    if (pool->count == 0) { /* no gnuplot, or no way to start one */
        free(pool);
        return NULL;
    }
    return pool;
}

void cs_plot_pool_free(cs_plot_pool *pool)
{
    if (!pool)
        return;
    for (int k = 0; k < pool->count; k++)
        warm_end(&pool->w[k]);
    free(pool);
}

/* A list of pictures being drawn, DRAWING_MAX at most at once. */
struct cs_plot_drawing {
    char root[4096];
    FILE *note;
    char *text, *save; /* plots.txt, cut into lines by strtok_r */
    int begun;         /* text given to strtok_r once */
    int running, at_once; /* gnuplots being drawn; most at once */
    int rendered, failed, missing;
    cs_plot_pool *pool; /* warm gnuplots not handed a picture yet, or NULL */
    drawing slot[DRAWING_MAX]; /* pid 0: free */
};

static void tally(cs_plot_drawing *d, int rc)
{
    if (rc < 0)
        d->missing = 1;
    else if (rc == 0)
        d->rendered++;
    else
        d->failed++;
}

/* Splits a line of plots.txt into its tab-separated fields: how many (at
 * most 12), after checking that its paths stay inside root (0 when not, or
 * when the line is too short). */
static int plot_fields(cs_plot_drawing *d, char *line, char **fields)
{
    int n = 0;
    for (char *p = line; p && n < 12;) {
        fields[n++] = p;
        p = strchr(p, '\t');
        if (p)
            *p++ = '\0';
    }
    if (n < 3)
        return 0;
    int outside = 0;
    for (int i = 0; i < 3; i++)
        outside |= fields[i][0] == '/' || !strncmp(fields[i], "../", 3) ||
                   strstr(fields[i], "/../") != NULL || !strcmp(fields[i], "..");
    if (outside) {
        if (d->note)
            fprintf(d->note, "clustersim: %s/plots.txt names a path outside %s: %s\n", d->root,
                    d->root, fields[2]);
        d->failed++;
        return 0;
    }
    return n;
}

/* The slot of a drawing that has ended, waiting for one without reaping it
 * (its status stays for gnuplot_finish); when the child that ended is not
 * one of ours, the first slot in use (then waited for in turn). */
static int ended_slot(cs_plot_drawing *d)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    while ((rc = waitid(P_ALL, 0, &info, WEXITED | WNOWAIT)) < 0 && errno == EINTR)
        ;
    if (rc == 0)
        for (int k = 0; k < DRAWING_MAX; k++)
            if (d->slot[k].pid && d->slot[k].pid == info.si_pid)
                return k;
    for (int k = 0; k < DRAWING_MAX; k++)
        if (d->slot[k].pid)
            return k;
    return -1;
}

/* Waits for a drawing to end (whichever ends first, so that the next
 * starts at once) and counts it. */
static void finish_one(cs_plot_drawing *d)
{
    int k = ended_slot(d);
    if (k < 0)
        return;
    tally(d, gnuplot_finish(&d->slot[k]));
    d->slot[k].pid = 0;
    d->running--;
}

/* Starts the list's next pictures until `at_once` are being drawn (when
 * `all`, waits for one to end as needed and goes on to the list's end). */
static void draw_more(cs_plot_drawing *d, int all)
{
    for (;;) {
        if (d->running == d->at_once) {
            if (!all)
                return;
            finish_one(d);
        }
        char *line = strtok_r(d->begun ? NULL : d->text, "\n", &d->save);
        d->begun = 1;
        if (!line)
            return;
        char *fields[12];
        int n = plot_fields(d, line, fields);
        if (!n || d->missing)
            continue;
        int k = 0;
        while (k < DRAWING_MAX - 1 && d->slot[k].pid) /* a free one: running < at_once */
            k++;
        int rc = gnuplot_start(&d->slot[k], d->root, fields, n, d->pool);
        if (rc == 0)
            d->running++;
        else
            tally(d, rc);
    }
}

#define PLOTS_MAX ((size_t)1 << 20) /* plots.txt: a line per picture */

int cs_plot_start(const char *root, FILE *note, cs_plot_pool *pool, cs_plot_drawing **out)
{
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/plots.txt", root);
    size_t len;
    char *text = cs_file_read(path, PLOTS_MAX, &len);
    if (!text) {
        int err = errno;
        cs_plot_pool_free(pool);
        if (err == ENOENT)
            return -1;
        char buf[64];
        if (note)
            fprintf(note, "clustersim: cannot read %s: %s\n", path,
                    cs_file_error(err, PLOTS_MAX, buf, sizeof buf));
        return -3;
    }
    cs_plot_drawing *d = calloc(1, sizeof *d);
    if (!d) {
        free(text);
        cs_plot_pool_free(pool);
        if (note)
            fprintf(note, "clustersim: out of memory\n");
        return -3;
    }
    snprintf(d->root, sizeof d->root, "%s", root);
    d->note = note;
    d->text = text;
    d->pool = pool;
    d->at_once = drawings_at_once();
    draw_more(d, 0);
    *out = d;
    return 0;
}

int cs_plot_wait(cs_plot_drawing *d)
{
    draw_more(d, 1);
    while (d->running > 0)
        finish_one(d);
    if (d->missing && d->note)
        fprintf(d->note, "clustersim: gnuplot is not installed, so no pictures were drawn; the "
                         "data are in %s. Install gnuplot (Debian: gnuplot-nox) and run "
                         "'clustersim plot %s', or see %s/plots.txt for the gnuplot commands.\n",
                d->root, d->root, d->root);
    int rc = d->failed ? -2 : d->rendered;
    cs_plot_pool_free(d->pool);
    free(d->text);
    free(d);
    return rc;
}

int cs_plot_render(const char *root, FILE *note)
{
    cs_plot_drawing *d;
    int rc = cs_plot_start(root, note, NULL, &d);
    return rc ? rc : cs_plot_wait(d);
}
