/* clustersim merge: join the sweep.csv files of a sharded sweep. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/fileio.h"
#include "study/sweep.h"

static const char help[] =
    "usage: clustersim merge CSV... [-o FILE]\n"
    "\n"
    "Joins the sweep.csv files of one sweep's shards into one, rows in point order,\n"
    "as one unsharded run would have written them; to stdout unless -o FILE.\n"
    "\n"
    "Exit status: 0, or 2 when the CSVs do not belong to one sweep.\n";

static int cmd_merge(int argc, char **argv, const cs_paths *paths)
{
    (void)paths;
    const char *out = NULL;
    const char *files[1024];
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(help, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (argv[i][0] == '-') {
            cs_cli_unknown_option("merge", argv[i], help);
            fputs(help, stderr);
            return EXIT_BAD_INPUT;
        } else if (n < 1024) {
            files[n++] = argv[i];
        }
    }
    if (n == 0) {
        fputs(help, stderr);
        return EXIT_BAD_INPUT;
    }
    if (!out)
        return cs_sweep_merge(files, n, stdout) == 0 ? EXIT_OK : EXIT_BAD_INPUT;
    char tmp[4300];
    FILE *f = strlen(out) < 4096 ? cs_file_temp(out, tmp, sizeof tmp) : NULL;
    if (!f) {
        fprintf(stderr, "clustersim merge: cannot write %s: %s\n", out, strerror(errno));
        return EXIT_BAD_INPUT;
    }
    int rc = cs_sweep_merge(files, n, f);
    if (cs_file_commit(f, tmp, out, rc == 0) != 0) {
        if (rc == 0)
            fprintf(stderr, "clustersim merge: cannot write %s: %s\n", out, strerror(errno));
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

const cs_command cs_cmd_merge = {"merge", help, cmd_merge};
