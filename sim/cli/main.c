/* clustersim: the command dispatcher. Finds the preset directories, then
 * hands the arguments to the command named first (see cli.h). */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strutil.h"

#ifndef CS_VERSION
#define CS_VERSION "0.0.0"
#endif
#ifndef CS_SOURCE_DIR
#define CS_SOURCE_DIR "."
#endif
#ifndef CS_DATA_DIR
#define CS_DATA_DIR "/usr/local/share/clustersim"
#endif

static const char usage[] =
    "usage: clustersim COMMAND [ARGS]\n"
    "\n"
    "Predicts how a parallel layout of a model trains on a GPU cluster.\n"
    "\n"
    "commands:\n"
    "  check FILE [--format text|json]\n"
    "      load a scenario, check every layout, print derived sizes and the\n"
    "      analytic memory per GPU; exit 0 all valid, 1 some invalid, 2 bad input\n"
    "  run FILE [--out DIR] [--format text|json|csv] [--seed N] [--network-model M]\n"
    "      replay one training iteration of every valid layout; side-by-side report;\n"
    "      results.json, results.csv and report.txt under DIR (default out/NAME/)\n"
    "  compare FILE [--repeats N] [--format text|json] [--out DIR]\n"
    "      every pair of layouts, replay against replay: the difference with its\n"
    "      95% interval, where it comes from, and a summary\n"
    "  sensitivity FILE [--by 10%] [--layouts A,B] [--format text|json] [--out DIR]\n"
    "      each hardware figure lower and higher: how the winner's margin moves\n"
    "      (a tornado chart), and whether the ranking can flip\n"
    "  plot DIR          draw again the pictures of an earlier run\n"
    "  sweep FILE [--jobs N] [--shard K/N] [--out DIR] [--resume]\n"
    "      replay the scenario's sweep: one CSV row per point, layout and statistic\n"
    "  merge CSV... [-o FILE]   join the CSVs of a sharded sweep in point order\n"
    "  search FILE [--top N] [--jobs N] [--network-model M] [--format text|json|csv]\n"
    "              [--resume] [--shard K/N] [--merge FILE]\n"
    "      find and rank the layouts the model could train with on the cluster\n"
    "  collective --cluster FILE --op OP [--gpus N] [--sizes 8B:1GiB] [--algo A]\n"
    "             [--network-model M] [--format text|csv|json]\n"
    "      a simulated nccl-tests: time, algbw and busbw per message size\n"
    "  collective --compare FILE   a measured nccl-tests run against the model\n"
    "  validate [DIR]    published training runs against the model (validation/)\n"
    "  kernels FILE [--layout NAME] [--format text|csv]\n"
    "      the kernels of one layer of a layout, with shapes, FLOPs, bytes and times\n"
    "  presets [models|topologies]   the models and clusters named by a bare name\n"
    "  import megatron --cluster PRESET --gpus N [-o FILE]\n"
    "                  (--args-file F | --bridge-config F | -- ARGS...)\n"
    "      a scenario from Megatron-LM's command-line arguments or a Megatron-Bridge\n"
    "      ConfigContainer\n"
    "  export megatron FILE [--layout NAME]\n"
    "      the Megatron-LM arguments of a layout\n"
    "  help [COMMAND]    this text\n"
    "  --version         print the version\n"
    "\n"
    "Presets named by a bare name (model: moe-30b, cluster: dgx-h100) are looked up\n"
    "in models/ and topologies/ under $CLUSTERSIM_DATA, then " CS_DATA_DIR ",\n"
    "then the source tree " CS_SOURCE_DIR ".\n";

static const cs_command *const commands[] = {&cs_cmd_check,   &cs_cmd_run,   &cs_cmd_plot,
                                             &cs_cmd_sweep,   &cs_cmd_merge, &cs_cmd_collective,
                                             &cs_cmd_validate, &cs_cmd_kernels,
                                             &cs_cmd_search,  &cs_cmd_compare,
                                             &cs_cmd_sensitivity, &cs_cmd_presets,
                                             &cs_cmd_import,  &cs_cmd_export};

static const cs_command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(commands[i]->name, name))
            return commands[i];
    return NULL;
}

/* "unknown command 'NAME'", with a "did you mean" among the commands. */
static void unknown_command(const char *who, const char *name)
{
    const char *names[sizeof commands / sizeof *commands + 2];
    size_t n = 0;
    for (; n < sizeof commands / sizeof *commands; n++)
        names[n] = commands[n]->name;
    names[n++] = "help";
    names[n] = NULL;
    const char *near = cs_did_you_mean(name, names);
    fprintf(stderr, "%s: unknown command '%s'", who, name);
    if (near)
        fprintf(stderr, "; did you mean '%s'?", near);
    fprintf(stderr, "\n\n%s", usage);
}

static int help(int argc, char **argv)
{
    const cs_command *c = argc > 0 ? find_command(argv[0]) : NULL;
    if (argc > 0 && !c) {
        unknown_command("clustersim help", argv[0]);
        return EXIT_BAD_INPUT;
    }
    fputs(c ? c->help : usage, stdout);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    const char *dirs[4];
    int n = 0;
    const char *env = getenv("CLUSTERSIM_DATA");
    if (env && *env)
        dirs[n++] = env;
    dirs[n++] = CS_DATA_DIR;
    dirs[n++] = CS_SOURCE_DIR;
    dirs[n] = NULL;
    cs_paths paths = {dirs};

    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_BAD_INPUT;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("clustersim %s\n", CS_VERSION);
        return EXIT_OK;
    }
    if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h"))
        return help(argc - 2, argv + 2);
    const cs_command *c = find_command(name);
    if (c)
        return c->run(argc - 2, argv + 2, &paths);
    unknown_command("clustersim", name);
    return EXIT_BAD_INPUT;
}
