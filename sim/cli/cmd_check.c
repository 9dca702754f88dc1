/* clustersim check: load a scenario and judge every layout without replaying it. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "model/check.h"

static const char help[] =
    "usage: clustersim check FILE [--format text|json]\n"
    "\n"
    "Loads the scenario FILE with its model and cluster, and for every layout\n"
    "prints whether it can run (with every reason when it cannot), the derived\n"
    "sizes (dense and expert data parallelism, micro-batches, layers per stage,\n"
    "experts per GPU) and an analytic per-GPU memory estimate per pipeline stage\n"
    "(weights, gradients, optimizer state, activations, reserved) against the\n"
    "GPU's memory. A layout the estimate does not fit cannot run as it is: check\n"
    "says so, and which one change would make it fit (the distributed optimizer,\n"
    "sequence parallelism, selective or full recompute, a smaller micro-batch, or\n"
    "twice the pipeline stages), the first that does.\n"
    "\n"
    "  --format text|json   output format (default text)\n"
    "\n"
    "Exit status: 0 every layout valid and fits, 1 some layout invalid or does not\n"
    "fit, 2 the input could not be read (its errors are printed as\n"
    "FILE:LINE:COL: error: MESSAGE).\n";

static int cmd_check(int argc, char **argv, const cs_paths *paths)
{
    const char *file = NULL;
    cs_format format = CS_FORMAT_TEXT;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            if (cs_cli_format(argv[++i], &format) != 0) {
                fprintf(stderr, "clustersim check: unknown format '%s' (text or json)\n", argv[i]);
                return EXIT_BAD_INPUT;
            }
        } else if (!strncmp(argv[i], "--format=", 9)) {
            if (cs_cli_format(argv[i] + 9, &format) != 0) {
                fprintf(stderr, "clustersim check: unknown format '%s' (text or json)\n",
                        argv[i] + 9);
                return EXIT_BAD_INPUT;
            }
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cs_cli_unknown_option("check", argv[i], help);
            fputs(help, stderr);
            return EXIT_BAD_INPUT;
        } else if (!file) {
            file = argv[i];
        } else {
            fprintf(stderr, "clustersim check: one scenario file at a time\n");
            return EXIT_BAD_INPUT;
        }
    }
    if (!file) {
        fputs(help, stderr);
        return EXIT_BAD_INPUT;
    }
    cs_scenario scn;
    int rc = cs_cli_load_scenario(file, paths, &scn);
    if (rc != 0) {
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    cs_check check;
    if (cs_check_scenario(&scn, &check) != 0) {
        fprintf(stderr, "clustersim check: out of memory\n");
        cs_check_free(&check);
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    cs_report_check(stdout, format, file, &check);
    /* A layout the estimate does not fit cannot run as it is either. */
    int status = check.all_valid ? EXIT_OK : EXIT_INVALID;
    for (size_t i = 0; i < check.count; i++)
        if (check.layouts[i].valid && check.layouts[i].has_memory && !check.layouts[i].memory_fits)
            status = EXIT_INVALID;
    cs_check_free(&check);
    cs_scenario_free(&scn);
    return status;
}

const cs_command cs_cmd_check = {"check", help, cmd_check};
