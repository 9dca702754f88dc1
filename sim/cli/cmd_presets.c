/* clustersim presets: the models and clusters a scenario can name by a bare
 * name, one line each. */
#include "cli/cli.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

static const char help[] =
    "usage: clustersim presets [models|topologies]\n"
    "\n"
    "Lists the presets a scenario can name by a bare name (model: moe-30b,\n"
    "cluster: dgx-h100), one line each: the name, what its file's first line says,\n"
    "and its main figures (a model's layers, width, experts and parameters; a\n"
    "cluster's GPUs, memory, peak and links). They are looked up in models/ and\n"
    "topologies/ of $CLUSTERSIM_DATA, the installed data and the source tree, the\n"
    "first found of a name winning.\n"
    "\n"
    "Exit status: 0, 2 when asked for something else.\n";

#define MAX_PRESETS 256

/* The names (file names less .yaml) of folder `sub` of every preset
 * directory, each once, sorted. */
static int names(const cs_paths *paths, const char *sub, char (*out)[CS_NAME_MAX])
{
    int n = 0;
    for (const char *const *d = paths->preset_dirs; *d; d++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", *d, sub);
        DIR *h = opendir(dir);
        for (struct dirent *e; h && (e = readdir(h));) {
            size_t len = strlen(e->d_name);
            if (len <= 5 || len - 5 >= CS_NAME_MAX || strcmp(e->d_name + len - 5, ".yaml"))
                continue;
            int seen = 0;
            for (int i = 0; i < n; i++)
                seen |= !strncmp(out[i], e->d_name, len - 5) && !out[i][len - 5];
            if (!seen && n < MAX_PRESETS)
                snprintf(out[n++], CS_NAME_MAX, "%.*s", (int)(len - 5), e->d_name);
        }
        if (h)
            closedir(h);
    }
    qsort(out, (size_t)n, CS_NAME_MAX, (int (*)(const void *, const void *))strcmp);
    return n;
}

/* What the preset file's first line says after "NAME -- ". */
static void blurb(const cs_sources *src, char *buf, size_t len)
{
    buf[0] = '\0';
    if (src->count == 0)
        return;
    const char *text = src->files[0]->text, *dash = strstr(text, " -- ");
    const char *eol = strchr(text, '\n');
    if (text[0] == '#' && dash && (!eol || dash < eol)) {
        const char *from = dash + 4;
        size_t n = eol ? (size_t)(eol - from) : strlen(from);
        snprintf(buf, len, "%.*s", (int)n, from);
    }
}

static void model_line(const char *name, const cs_paths *paths)
{
    cs_sources src = {0};
    cs_model m;
    cs_diags d;
    cs_diags_init(&d);
    char about[256] = "";
    if (cs_model_load(name, paths, &src, &m, &d) == 0) {
        blurb(&src, about, sizeof about);
        cs_param_counts p;
        cs_model_params(&m, &p);
        printf("  %-20s %ld layers, hidden %ld", name, m.num_layers, m.hidden_size);
        if (m.moe.num_experts > 0)
            printf(", %ld experts (top-%ld)", m.moe.num_experts, m.moe.router_topk);
        printf(", %.1f B parameters: %s\n", p.total / 1e9, about);
    } else {
        printf("  %-20s (does not load: clustersim check a scenario naming it says why)\n", name);
    }
    cs_diags_free(&d);
    cs_sources_free(&src);
}

static void cluster_line(const char *name, const cs_paths *paths)
{
    cs_sources src = {0};
    cs_cluster k;
    cs_diags d;
    cs_diags_init(&d);
    char about[256] = "";
    if (cs_cluster_load(name, paths, &src, &k, &d) == 0) {
        blurb(&src, about, sizeof about);
        printf("  %-20s %ld x %ld %s, %.0f GB, %.0f TFLOP/s; %.0f GB/s in a node, %ld x %.0f "
               "Gb/s out: %s\n",
               name, k.nodes, k.gpus_per_node, k.gpu.name[0] ? k.gpu.name : "GPUs",
               k.gpu.memory / 1e9, k.gpu.peak_compute / 1e12, k.scale_up.bandwidth / 1e9,
               k.scale_out.nics_per_node, 8 * k.scale_out.nic_bandwidth / 1e9, about);
    } else {
        printf("  %-20s (does not load: clustersim check a scenario naming it says why)\n", name);
    }
    cs_diags_free(&d);
    cs_sources_free(&src);
}

static int cmd_presets(int argc, char **argv, const cs_paths *paths)
{
    if (cs_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return EXIT_OK;
    }
    int models = 1, clusters = 1;
    if (argc == 1 && !strcmp(argv[0], "models")) {
        clusters = 0;
    } else if (argc == 1 && !strcmp(argv[0], "topologies")) {
        models = 0;
    } else if (argc > 0) {
        if (argv[0][0] == '-')
            cs_cli_unknown_option("presets", argv[0], help);
        else
            fprintf(stderr, "clustersim presets: models or topologies, not '%s'\n", argv[0]);
        return EXIT_BAD_INPUT;
    }
    char (*list)[CS_NAME_MAX] = malloc(MAX_PRESETS * sizeof *list);
    if (!list)
        return EXIT_BAD_INPUT;
    if (models) {
        int n = names(paths, "models", list);
        printf("models (model: NAME), %d:\n", n);
        for (int i = 0; i < n; i++)
            model_line(list[i], paths);
    }
    if (clusters) {
        int n = names(paths, "topologies", list);
        printf("%sclusters (cluster: NAME), %d:\n", models ? "\n" : "", n);
        for (int i = 0; i < n; i++)
            cluster_line(list[i], paths);
    }
    free(list);
    return EXIT_OK;
}

const cs_command cs_cmd_presets = {"presets", help, cmd_presets};
