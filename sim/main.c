/* clustersim command line: parses arguments, calls the library, maps results
 * to exit statuses (0 ok, 1 some layout invalid, 2 bad input or usage). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"
#include "config.h"
#include "report.h"

#ifndef CS_VERSION
#define CS_VERSION "0.0.0"
#endif
#ifndef CS_SOURCE_DIR
#define CS_SOURCE_DIR "."
#endif
#ifndef CS_DATA_DIR
#define CS_DATA_DIR "/usr/local/share/clustersim"
#endif

enum { EXIT_OK = 0, EXIT_INVALID = 1, EXIT_BAD_INPUT = 2 };

static const char usage[] =
    "usage: clustersim COMMAND [ARGS]\n"
    "\n"
    "Predicts how a parallel layout of a model trains on a GPU cluster.\n"
    "\n"
    "commands:\n"
    "  check FILE [--format text|json]\n"
    "      load a scenario, validate every layout, print derived sizes and the\n"
    "      analytic memory per GPU; exit 0 all valid, 1 some invalid, 2 bad input\n"
    "  help [COMMAND]    this text\n"
    "  --version         print the version\n"
    "\n"
    "Presets named by a bare name (model: moe-30b, cluster: dgx-h100) are looked up\n"
    "in models/ and topologies/ under $CLUSTERSIM_DATA, then " CS_DATA_DIR ",\n"
    "then the source tree " CS_SOURCE_DIR ".\n";

static const char check_help[] =
    "usage: clustersim check FILE [--format text|json]\n"
    "\n"
    "Loads the scenario FILE with its model and cluster, and for every layout\n"
    "prints whether it can run (with every reason when it cannot), the derived\n"
    "sizes (dense and expert data parallelism, micro-batches, layers per stage,\n"
    "experts per GPU) and an analytic per-GPU memory estimate per pipeline stage\n"
    "(weights, gradients, optimizer state, activations, reserved) against the\n"
    "GPU's memory.\n"
    "\n"
    "  --format text|json   output format (default text)\n"
    "\n"
    "Exit status: 0 every layout valid, 1 some layout invalid, 2 the input could\n"
    "not be read (its errors are printed as FILE:LINE:COL: error: MESSAGE).\n";

static int parse_format(const char *s, cs_format *out)
{
    if (!strcmp(s, "text"))
        *out = CS_FORMAT_TEXT;
    else if (!strcmp(s, "json"))
        *out = CS_FORMAT_JSON;
    else
        return -1;
    return 0;
}

static int cmd_check(int argc, char **argv, const cs_paths *paths)
{
    const char *file = NULL;
    cs_format format = CS_FORMAT_TEXT;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            if (parse_format(argv[++i], &format) != 0) {
                fprintf(stderr, "clustersim check: unknown format '%s' (text or json)\n",
                        argv[i]);
                return EXIT_BAD_INPUT;
            }
        } else if (!strncmp(argv[i], "--format=", 9)) {
            if (parse_format(argv[i] + 9, &format) != 0) {
                fprintf(stderr, "clustersim check: unknown format '%s' (text or json)\n",
                        argv[i] + 9);
                return EXIT_BAD_INPUT;
            }
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(check_help, stdout);
            return EXIT_OK;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "clustersim check: unknown option '%s'\n%s", argv[i], check_help);
            return EXIT_BAD_INPUT;
        } else if (!file) {
            file = argv[i];
        } else {
            fprintf(stderr, "clustersim check: one scenario file at a time\n");
            return EXIT_BAD_INPUT;
        }
    }
    if (!file) {
        fputs(check_help, stderr);
        return EXIT_BAD_INPUT;
    }
    cs_diags diags;
    cs_diags_init(&diags);
    cs_scenario scn;
    int rc = cs_scenario_load(file, paths, &scn, &diags);
    cs_diags_print(&diags, stderr);
    cs_diags_free(&diags);
    if (rc != 0) {
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    cs_validation check;
    if (cs_validate(&scn, &check) != 0) {
        fprintf(stderr, "clustersim check: out of memory\n");
        cs_validation_free(&check);
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    cs_report_check(stdout, format, file, &check);
    int status = check.all_valid ? EXIT_OK : EXIT_INVALID;
    cs_validation_free(&check);
    cs_scenario_free(&scn);
    return status;
}

static int cmd_help(int argc, char **argv)
{
    if (argc > 0 && !strcmp(argv[0], "check"))
        fputs(check_help, stdout);
    else
        fputs(usage, stdout);
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
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("clustersim %s\n", CS_VERSION);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h"))
        return cmd_help(argc - 2, argv + 2);
    if (!strcmp(cmd, "check"))
        return cmd_check(argc - 2, argv + 2, &paths);
    fprintf(stderr, "clustersim: unknown command '%s'\n\n%s", cmd, usage);
    return EXIT_BAD_INPUT;
}
