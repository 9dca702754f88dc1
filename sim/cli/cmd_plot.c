/* clustersim plot: draw again the pictures of an earlier run or sweep. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "report/plot.h"

static const char help[] =
    "usage: clustersim plot DIR\n"
    "\n"
    "Draws again the pictures of an earlier run from the data files in DIR (a run's\n"
    "output folder): every plot listed in DIR/plots.txt, with the gnuplot scripts\n"
    "copied into DIR/plots/. Needs gnuplot on PATH.\n"
    "\n"
    "Exit status: 0 drawn, 2 DIR holds no run or gnuplot failed.\n";

static int cmd_plot(int argc, char **argv, const cs_paths *paths)
{
    (void)paths;
    if (argc != 1 || argv[0][0] == '-') {
        fputs(help, argc == 1 && !strcmp(argv[0], "--help") ? stdout : stderr);
        return argc == 1 && !strcmp(argv[0], "--help") ? EXIT_OK : EXIT_BAD_INPUT;
    }
    int rc = cs_plot_render(argv[0], stderr);
    if (rc == -1) {
        fprintf(stderr, "clustersim plot: %s holds no run (no plots.txt)\n", argv[0]);
        return EXIT_BAD_INPUT;
    }
    if (rc == -3)
        return EXIT_BAD_INPUT; /* the note said why */
    if (rc == -2) {
        fprintf(stderr, "clustersim plot: gnuplot failed on some plots in %s\n", argv[0]);
        return EXIT_BAD_INPUT;
    }
    if (rc == 0) /* gnuplot missing: the note said so */
        return EXIT_BAD_INPUT;
    printf("drew %d plots in %s\n", rc, argv[0]);
    return EXIT_OK;
}

const cs_command cs_cmd_plot = {"plot", help, cmd_plot};
