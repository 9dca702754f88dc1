/* clustersim import megatron / export megatron: a Megatron-LM command line
 * as a scenario, and a scenario's layout as a Megatron-LM command line
 * (input/megatron.h). */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "input/bridge.h"
#include "input/megatron.h"
#include "model/layout.h"

static const char import_help[] =
    "usage: clustersim import megatron --cluster PRESET --gpus N [-o FILE] [--name NAME]\n"
    "                                  (--args-file F | --bridge-config F | -- ARGS...)\n"
    "\n"
    "Writes a scenario from Megatron-LM's command-line arguments: the model,\n"
    "training and one layout, each key with the arguments it came from as a\n"
    "comment, Megatron-LM's defaults where they are not clustersim's (biases on\n"
    "unless --disable-bias-linear, learned absolute positions unless\n"
    "--position-embedding-type). Arguments not converted are listed in the\n"
    "scenario's header: those that change neither time nor memory (learning\n"
    "rates, data, logging, checkpoints) apart from the rest. The layout's data\n"
    "parallelism is what the GPUs leave, as in Megatron-LM.\n"
    "\n"
    "  --cluster PRESET     the cluster (a preset name or a file)\n"
    "  --gpus N             how many of its GPUs run (whole nodes)\n"
    "  -o FILE              write the scenario there (default: standard output)\n"
    "  --name NAME          the scenario's and model's name (default: imported)\n"
    "  --args-file F        read the arguments from F ('#' comments and '\\'\n"
    "                       line ends allowed, as a launch script's), else they\n"
    "                       follow '--'\n"
    "  --bridge-config F    read a Megatron-Bridge (NeMo) ConfigContainer YAML (a\n"
    "                       run's printed \"Task Configuration\", a --config-file)\n"
    "                       as the arguments it stands for\n"
    "\n"
    "The scenario is loaded before it is written; docs/input.md, \"Megatron-LM\n"
    "arguments\", lists the flags read.\n"
    "\n"
    "Exit status: 0 written, 2 bad arguments (FILE:LINE:COL or their number).\n";

static const char export_help[] =
    "usage: clustersim export megatron FILE [--layout NAME]\n"
    "\n"
    "Prints the Megatron-LM arguments of a layout of scenario FILE (the first, or\n"
    "NAME): the model, training and parallel sizes, one flag per line, shell-\n"
    "continued; the GPU count goes in the header comment, and what Megatron-LM\n"
    "has no flag for (a gpipe or zb-h1 schedule, clustersim's routing draws)\n"
    "in comments. `import megatron --args-file` reads the output back.\n"
    "\n"
    "Exit status: 0, 1 the layout is not valid, 2 bad input.\n";

#define ARGS_MAX ((size_t)1 << 20)

typedef struct import_args {
    const char *cluster, *out, *name, *file, *bridge;
    long gpus;
    int first; /* argv index of the first Megatron argument, or -1 */
} import_args;

static int parse_import(int argc, char **argv, import_args *a)
{
    *a = (import_args){NULL, NULL, "imported", NULL, NULL, 0, -1};
    const char *v;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            a->first = i + 1;
            break;
        }
        if ((v = cs_cli_option(argc, argv, &i, "--cluster")))
            a->cluster = v;
        else if ((v = cs_cli_option(argc, argv, &i, "-o")))
            a->out = v;
        else if ((v = cs_cli_option(argc, argv, &i, "--name")))
            a->name = v;
        else if ((v = cs_cli_option(argc, argv, &i, "--args-file")))
            a->file = v;
        else if ((v = cs_cli_option(argc, argv, &i, "--bridge-config")))
            a->bridge = v;
        else if ((v = cs_cli_option(argc, argv, &i, "--gpus"))) {
            char *end;
            a->gpus = strtol(v, &end, 10);
            if (*end || end == v || a->gpus < 1) {
                fprintf(stderr, "clustersim import megatron: --gpus '%s' is not a count\n", v);
                return -1;
            }
        } else {
            cs_cli_unknown_option("import megatron", argv[i], import_help);
            return -1;
        }
    }
    const char *missing = !a->cluster ? "--cluster" : !a->gpus ? "--gpus" : NULL;
    if (missing) {
        fprintf(stderr, "clustersim import megatron: %s is needed\n%s", missing, import_help);
        return -1;
    }
    if ((a->first >= 0) + (a->file != NULL) + (a->bridge != NULL) != 1) {
        fprintf(stderr, "clustersim import megatron: give the arguments after '--', in "
                        "--args-file or as --bridge-config, one of the three\n");
        return -1;
    }
    return 0;
}

/* The cluster's nodes for `gpus` GPUs, or -1 with a message. */
static long nodes_of(const import_args *a, const cs_paths *paths)
{
    cs_sources src = {0};
    cs_cluster k;
    cs_diags d;
    cs_diags_init(&d);
    long nodes = -1;
    if (cs_cluster_load(a->cluster, paths, &src, &k, &d) != 0)
        cs_diags_print(&d, stderr);
    else if (a->gpus % k.gpus_per_node)
        fprintf(stderr, "clustersim import megatron: --gpus %ld is not whole nodes of %ld GPUs\n",
                a->gpus, k.gpus_per_node);
    else
        nodes = a->gpus / k.gpus_per_node;
    cs_diags_free(&d);
    cs_sources_free(&src);
    return nodes;
}

/* The scenario text in memory, loaded to check it, then written whole. */
static int emit(const import_args *a, const cs_import *in, const cs_paths *paths)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) {
        fprintf(stderr, "clustersim import megatron: out of memory\n");
        return EXIT_BAD_INPUT;
    }
    int rc = cs_megatron_import(mem, in, stderr);
    fclose(mem);
    if (rc != 0) {
        free(text);
        return EXIT_BAD_INPUT;
    }
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    if (cs_scenario_load_text(a->out ? a->out : "imported.yaml", text, len, paths, &s, &d) != 0) {
        cs_diags_print(&d, stderr);
        fprintf(stderr, "clustersim import megatron: the scenario written from the arguments "
                        "does not load (above)\n");
        rc = -1;
    }
    cs_diags_free(&d);
    cs_scenario_free(&s);
    if (rc == 0 && !a->out)
        fwrite(text, 1, len, stdout);
    else if (rc == 0) {
        char tmp[4200];
        FILE *f = cs_file_temp(a->out, tmp, sizeof tmp);
        if (!f || fwrite(text, 1, len, f) != len || cs_file_commit(f, tmp, a->out, 1) != 0) {
            if (f)
                cs_file_commit(NULL, tmp, a->out, 0);
            fprintf(stderr, "clustersim import megatron: cannot write %s: %s\n", a->out,
                    strerror(errno));
            rc = -1;
        }
    }
    free(text);
    return rc ? EXIT_BAD_INPUT : EXIT_OK;
}

static int import_megatron(int argc, char **argv, const cs_paths *paths)
{
    import_args a;
    if (parse_import(argc, argv, &a) != 0)
        return EXIT_BAD_INPUT;
    long nodes = nodes_of(&a, paths);
    if (nodes < 0)
        return EXIT_BAD_INPUT;
    cs_arg *args = NULL;
    char *store = NULL, *text = NULL;
    long count;
    if (a.bridge) {
        cs_diags d;
        cs_diags_init(&d);
        count = cs_bridge_args(a.bridge, &args, &store, &d);
        cs_diags_print(&d, stderr);
        cs_diags_free(&d);
        if (count < 0)
            return EXIT_BAD_INPUT;
        if (count == 0) {
            fprintf(stderr, "clustersim import megatron: %s sets nothing the import reads\n",
                    a.bridge);
            free(args);
            free(store);
            return EXIT_BAD_INPUT;
        }
    } else if (a.file) {
        size_t len;
        text = cs_file_read(a.file, ARGS_MAX, &len);
        if (!text) {
            char buf[64];
            fprintf(stderr, "clustersim import megatron: cannot read %s: %s\n", a.file,
                    cs_file_error(errno, ARGS_MAX, buf, sizeof buf));
            return EXIT_BAD_INPUT;
        }
        count = cs_megatron_split(text, &args, &store);
    } else {
        count = argc - a.first;
        args = malloc((size_t)(count + 1) * sizeof *args);
        for (long i = 0; args && i < count; i++)
            args[i] = (cs_arg){argv[a.first + i], 0, i}; /* numbered from the first after -- */
    }
    int status = EXIT_BAD_INPUT;
    if (count < 0 || !args)
        fprintf(stderr, "clustersim import megatron: out of memory\n");
    else {
        cs_import in = {args, count, a.bridge ? a.bridge : a.file, a.cluster, nodes, a.name};
        status = emit(&a, &in, paths);
    }
    free(args);
    free(store);
    free(text);
    return status;
}

static int export_megatron(int argc, char **argv, const cs_paths *paths)
{
    const char *file = NULL, *name = NULL, *v;
    for (int i = 0; i < argc; i++) {
        if ((v = cs_cli_option(argc, argv, &i, "--layout")))
            name = v;
        else if (argv[i][0] == '-' || file) {
            cs_cli_unknown_option("export megatron", argv[i], export_help);
            return EXIT_BAD_INPUT;
        } else
            file = argv[i];
    }
    if (!file) {
        fputs(export_help, stderr);
        return EXIT_BAD_INPUT;
    }
    cs_scenario s;
    if (cs_cli_load_scenario(file, paths, &s) != 0) {
        cs_scenario_free(&s);
        return EXIT_BAD_INPUT;
    }
    cs_layout_sizes z;
    long which = cs_cli_pick_layout("export megatron", file, &s, name, &z);
    int status = which < 0 ? (int)-which : EXIT_OK;
    if (which >= 0)
        cs_megatron_export(stdout, &s, &s.layouts[which], z.world);
    cs_scenario_free(&s);
    return status;
}

/* "import megatron ..." and "export megatron ...": the source or target
 * named first, so that other frameworks can follow. */
static int framework(const char *cmd, const char *help, int argc, char **argv, const cs_paths *paths,
                     int (*run)(int, char **, const cs_paths *))
{
    if (argc == 0 || cs_cli_wants_help(argc, argv)) {
        fputs(help, argc ? stdout : stderr);
        return argc ? EXIT_OK : EXIT_BAD_INPUT;
    }
    if (strcmp(argv[0], "megatron")) {
        fprintf(stderr, "clustersim %s: '%s' is not a framework clustersim speaks (megatron)\n",
                cmd, argv[0]);
        return EXIT_BAD_INPUT;
    }
    return run(argc - 1, argv + 1, paths);
}

static int cmd_import(int argc, char **argv, const cs_paths *paths)
{
    return framework("import", import_help, argc, argv, paths, import_megatron);
}

static int cmd_export(int argc, char **argv, const cs_paths *paths)
{
    return framework("export", export_help, argc, argv, paths, export_megatron);
}

const cs_command cs_cmd_import = {"import", import_help, cmd_import};
const cs_command cs_cmd_export = {"export", export_help, cmd_export};
