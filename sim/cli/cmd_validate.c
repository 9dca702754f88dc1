/* clustersim validate: replay published runs and say how far off we are. */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "replay/runner.h"

static const char help[] =
    "usage: clustersim validate [DIR | FILE] [--network-model M] [--no-symmetry]\n"
    "\n"
    "Replays every scenario of DIR (default: validation/ of the presets) and of\n"
    "its subfolders (but models/, which holds the model files they share) that\n"
    "has a measured: block, a published end-to-end run with its measured\n"
    "iteration time, throughput or model TFLOP/s per GPU, and prints\n"
    "measured against predicted, the error of each run (positive: the model is\n"
    "optimistic) and the mean absolute error. The table tells the truth about\n"
    "the model; presets are never fitted to it. A run whose measured: block\n"
    "names an open discrepancy (measured.open: what the model is known to\n"
    "miss) says OUTSIDE (open) when outside its tolerance on the optimistic\n"
    "side. A FILE replays that scenario alone.\n"
    "\n"
    "  --network-model M    override the scenarios': ideal, analytic, flow\n"
    "  --no-symmetry        replay every GPU (see `clustersim run --help`)\n"
    "\n"
    "Exit status: 0 every run within its tolerance, 1 some run outside it,\n"
    "2 bad input.\n";

#define MAX_FILES 512

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* The .yaml files of dir and of its folders one level down but folders
 * named models/ (the model files scenarios share), into files (malloc'd
 * paths). Returns the count, -1 when dir cannot be read (errno set), -2
 * when there are more than MAX_FILES, -3 when out of memory. */
static int scenario_files(const char *dir, int depth, char **files, int count)
{
    DIR *d = opendir(dir);
    if (!d)
        return depth ? count : -1;
    struct dirent *e;
    while (count >= 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth == 0 && strcmp(e->d_name, "models") != 0) {
            count = scenario_files(path, 1, files, count);
        } else if (S_ISREG(st.st_mode) && has_suffix(e->d_name, ".yaml")) {
            if (count == MAX_FILES)
                count = -2;
            else if (!(files[count] = strdup(path)))
                count = -3;
            else
                count++;
        }
    }
    closedir(d);
    return count;
}

/* Frees the first count paths of files (NULLs are fine). */
static void free_files(char **files, int count)
{
    for (int i = 0; i < count; i++)
        free(files[i]);
}

typedef struct row {
    const char *file;
    char layout[CS_NAME_MAX];
    const char *metric;
    double measured, predicted, error, tolerance;
    int open; /* a known discrepancy (measured.open) */
} row;

/* The scenario's measured metric against the replay of its layout. */
static int predict(const cs_scenario *s, const cs_run *run, row *r)
{
    const cs_measured *m = &s->measured;
    const cs_layout_run *lr = NULL;
    for (size_t i = 0; i < run->count; i++)
        if (!m->layout[0] || !strcmp(s->layouts[i].name, m->layout)) {
            lr = &run->layouts[i];
            break;
        }
    if (!lr) {
        fprintf(stderr, "%s: error: measured.layout '%s' is not a layout of the scenario\n",
                r->file, m->layout);
        return -1;
    }
    snprintf(r->layout, sizeof r->layout, "%s", lr->verdict->layout->name);
    if (!lr->replayed) {
        fprintf(stderr, "%s: error: layout %s is not valid: %s\n", r->file, r->layout,
                lr->verdict->problems.count ? lr->verdict->problems.items[0].message : "");
        return -1;
    }
    const cs_replay_result *x = &lr->result;
    r->tolerance = m->tolerance;
    r->open = m->open[0] != 0;
    if (!isnan(m->iteration_time)) {
        r->metric = "iteration_time_s";
        r->measured = m->iteration_time;
        r->predicted = x->iteration_time_s;
        r->error = r->measured / r->predicted - 1;
    } else if (!isnan(m->throughput)) {
        int tokens = m->throughput_per == CS_PER_TOKEN;
        r->metric = tokens ? "throughput_tokens_per_s" : "throughput_seq_per_s";
        r->measured = m->throughput;
        r->predicted = tokens ? x->throughput_tokens_per_s : x->throughput_seq_per_s;
        r->error = r->predicted / r->measured - 1;
    } else {
        r->metric = "model_tflops_per_gpu";
        r->measured = m->model_tflops_per_gpu / 1e12;
        r->predicted = x->model_tflops_per_gpu;
        r->error = r->predicted / r->measured - 1;
    }
    return 0;
}

/* Loads and replays one file; 1 when it has no measured: block. */
static int validate_one(const char *file, const cs_paths *paths, int has_model,
                        cs_network_model model, int no_symmetry, row *r)
{
    cs_scenario s;
    memset(r, 0, sizeof *r);
    r->file = file;
    if (cs_cli_load_scenario(file, paths, &s) != 0) {
        cs_scenario_free(&s);
        return -1;
    }
    if (!s.measured.present) {
        cs_scenario_free(&s);
        return 1;
    }
    s.no_symmetry = no_symmetry;
    cs_run run;
    int rc = cs_run_scenario(&s, has_model ? model : s.network_model, s.seed, NULL, &run);
    if (rc != 0)
        fprintf(stderr, "%s: error: the replay could not finish\n", file);
    else
        rc = predict(&s, &run, r);
    cs_run_free(&run);
    cs_scenario_free(&s);
    return rc;
}

static const char *default_dir(const cs_paths *paths, char *buf, size_t len)
{
    for (int i = 0; paths->preset_dirs[i]; i++) {
        snprintf(buf, len, "%s/validation", paths->preset_dirs[i]);
        struct stat st;
        if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
            return buf;
    }
    return NULL;
}

static int cmd_validate(int argc, char **argv, const cs_paths *paths)
{
    if (cs_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return EXIT_OK;
    }
    const char *dir = NULL, *v;
    int has_model = 0, no_symmetry = 0;
    cs_network_model model = CS_NET_FLOW;
    for (int i = 0; i < argc; i++) {
        if ((v = cs_cli_option(argc, argv, &i, "--network-model"))) {
            if (cs_cli_network_model(v, &model) != 0) {
                fprintf(stderr, "clustersim validate: unknown network model '%s'\n", v);
                return EXIT_BAD_INPUT;
            }
            has_model = 1;
        } else if (!strcmp(argv[i], "--no-symmetry")) {
            no_symmetry = 1;
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "clustersim validate: unexpected argument '%s'\n%s", argv[i], help);
            return EXIT_BAD_INPUT;
        } else {
            dir = argv[i];
        }
    }
    char buf[4096];
    if (!dir && !(dir = default_dir(paths, buf, sizeof buf))) {
        fprintf(stderr, "clustersim validate: no validation/ folder in the preset directories\n");
        return EXIT_BAD_INPUT;
    }
    char **files = calloc(MAX_FILES, sizeof *files);
    struct stat st;
    int count = -3;
    if (files && stat(dir, &st) == 0 && S_ISREG(st.st_mode)) { /* one scenario */
        files[0] = strdup(dir);
        count = files[0] ? 1 : -3;
    } else if (files) {
        count = scenario_files(dir, 0, files, 0);
    }
    if (count < 0) {
        if (count == -1)
            fprintf(stderr, "clustersim validate: cannot read %s: %s\n", dir, strerror(errno));
        else if (count == -2)
            fprintf(stderr, "clustersim validate: more than %d scenarios in %s\n", MAX_FILES,
                    dir);
        else
            fprintf(stderr, "clustersim validate: out of memory\n");
        if (files)
            free_files(files, MAX_FILES); /* calloc'd: the rest are NULL */
        free(files);
        return EXIT_BAD_INPUT;
    }
    if (count > 0)
        qsort(files, (size_t)count, sizeof *files, by_name);
    int status = EXIT_OK, rows = 0, outside = 0;
    double sum = 0;
    printf("%-28s %-26s %-18s %12s %12s %8s %9s  %s\n", "run", "layout", "metric", "measured",
           "predicted", "error", "tolerance", "verdict");
    for (int i = 0; i < count; i++) {
        row r;
        int rc = validate_one(files[i], paths, has_model, model, no_symmetry, &r);
        if (rc < 0)
            status = EXIT_BAD_INPUT;
        if (rc != 0)
            continue;
        size_t skip = strlen(dir) < strlen(files[i]) ? strlen(dir) : 0;
        const char *name = skip ? files[i] + skip + (files[i][skip] == '/') : files[i];
        int ok = fabs(r.error) <= r.tolerance;
        /* An open item is a cost the model lacks: it shows as optimism. An
         * error the other way (or not a number) is something else. */
        int open = r.open && !ok && isfinite(r.error) && r.error > 0;
        printf("%-28s %-26s %-18s %12.4g %12.4g %+7.1f%% %8.0f%%  %s\n", name, r.layout, r.metric,
               r.measured, r.predicted, r.error * 100, r.tolerance * 100,
               ok ? "ok" : open ? "OUTSIDE (open)" : "OUTSIDE");
        rows++;
        outside += !ok;
        sum += fabs(r.error);
    }
    free_files(files, count);
    free(files);
    printf("# %d runs, mean absolute error %.1f%%, %d outside their tolerance\n", rows,
           rows ? 100 * sum / rows : 0, outside);
    if (status == EXIT_OK && rows == 0) {
        fprintf(stderr, "clustersim validate: no scenario with a measured: block in %s\n", dir);
        return EXIT_BAD_INPUT;
    }
    return status != EXIT_OK ? status : outside ? EXIT_INVALID : EXIT_OK;
}

const cs_command cs_cmd_validate = {"validate", help, cmd_validate};
