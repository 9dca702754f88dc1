/* clustersim sensitivity: how far the winner's margin moves when each
 * hardware figure is off, drawn as a tornado. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/units.h"
#include "report/sensitivity_report.h"

static const char help[] =
    "usage: clustersim sensitivity FILE [options]\n"
    "\n"
    "Takes the two fastest valid layouts of the scenario FILE (or the two --layouts\n"
    "names) and the margin between them, then sets each hardware figure of the\n"
    "cluster in turn --by lower and higher (peak compute, GEMM and attention-kernel\n"
    "efficiency, HBM bandwidth, the gap between kernels, the host's overheads,\n"
    "scale-up and NIC bandwidth and step latency, the collectives' base latency),\n"
    "replays both layouts with the same seed, and prints how the margin moves,\n"
    "largest swing first, and whether any one figure flips the ranking. Figures a\n"
    "preset marks ESTIMATE (in the comment of the line that sets them) are marked *.\n"
    "Efficiencies stay at most 1. DIR gets sensitivity.json, sensitivity.txt,\n"
    "tornado.dat and, with gnuplot, tornado.png.\n"
    "\n"
    "  --by SHARE           how far each figure moves, e.g. 10% (default) or 0.2;\n"
    "                       above 0, below 100%\n"
    "  --layouts A,B        the two layouts to compare (default: the two fastest)\n"
    "  --format F           what to print: text (default) or json\n"
    "  --out DIR            where the files go (default out/<scenario name>/sensitivity/)\n"
    "  --seed N             the replays' seed (default: the scenario's)\n"
    "  --network-model M    override the scenario's: ideal, analytic, flow\n"
    "  --no-plots           no tornado.dat or picture\n"
    "  --svg                also draw tornado.svg\n"
    "  --no-symmetry        replay every GPU (see `clustersim run --help`)\n"
    "\n"
    "Exit status: 0 ran, 1 fewer than two valid layouts, 2 bad input.\n";

typedef struct sens_args {
    const char *file, *out, *layouts;
    cs_format format;
    double by;
    int has_seed, has_model, no_plots, svg, no_symmetry;
    unsigned long seed;
    cs_network_model model;
} sens_args;

static int parse_by(const char *v, double *out)
{
    cs_quantity q;
    char err[256];
    if (cs_units_parse(v, CS_UNIT_RATIO, &q, err, sizeof err) != 0 || !(q.value > 0) ||
        !(q.value < 1)) {
        fprintf(stderr, "clustersim sensitivity: --by wants a share above 0 and below 100%%, "
                        "like 10%%, got '%s'\n",
                v);
        return -1;
    }
    *out = q.value;
    return 0;
}

static int parse_args(int argc, char **argv, sens_args *a)
{
    memset(a, 0, sizeof *a);
    a->by = 0.1;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = cs_cli_option(argc, argv, &i, "--by"))) {
            if (parse_by(v, &a->by) != 0)
                return -1;
        } else if ((v = cs_cli_option(argc, argv, &i, "--layouts"))) {
            a->layouts = v;
        } else if ((v = cs_cli_option(argc, argv, &i, "--format"))) {
            if (cs_cli_format(v, &a->format) != 0 || a->format == CS_FORMAT_CSV) {
                fprintf(stderr, "clustersim sensitivity: --format wants text or json, got '%s'\n",
                        v);
                return -1;
            }
        } else if ((v = cs_cli_option(argc, argv, &i, "--out"))) {
            a->out = v;
        } else if ((v = cs_cli_option(argc, argv, &i, "--seed"))) {
            char *end;
            errno = 0;
            long n = strtol(v, &end, 10);
            if (errno || *end || end == v || n < 1) {
                fprintf(stderr, "clustersim sensitivity: --seed wants a positive integer, got "
                                "'%s'\n",
                        v);
                return -1;
            }
            a->seed = (unsigned long)n;
            a->has_seed = 1;
        } else if ((v = cs_cli_option(argc, argv, &i, "--network-model"))) {
            if (cs_cli_network_model(v, &a->model) != 0)
                return -1;
            a->has_model = 1;
        } else if (!strcmp(argv[i], "--no-plots")) {
            a->no_plots = 1;
        } else if (!strcmp(argv[i], "--svg")) {
            a->svg = 1;
        } else if (!strcmp(argv[i], "--no-symmetry")) {
            a->no_symmetry = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cs_cli_unknown_option("sensitivity", argv[i], help);
            return -1;
        } else if (!a->file) {
            a->file = argv[i];
        } else {
            fprintf(stderr, "clustersim sensitivity: one scenario file at a time\n");
            return -1;
        }
    }
    if (!a->file) {
        fprintf(stderr, "clustersim sensitivity: which scenario file?\n");
        return -1;
    }
    return 0;
}

/* "A,B" -> the two layouts' indices; -1 after a message when not two of
 * the scenario's layouts. */
static int pick_layouts(const char *text, const cs_scenario *s, long *a, long *b)
{
    *a = *b = -1;
    if (!text)
        return 0;
    const char *comma = strchr(text, ',');
    size_t first = comma ? (size_t)(comma - text) : 0;
    for (size_t i = 0; comma && i < s->layout_count; i++) {
        const char *name = s->layouts[i].name;
        if (strlen(name) == first && !strncmp(name, text, first))
            *a = (long)i;
        if (!strcmp(name, comma + 1))
            *b = (long)i;
    }
    if (*a < 0 || *b < 0 || *a == *b) {
        fprintf(stderr, "clustersim sensitivity: --layouts wants two of the scenario's layout "
                        "names, like option1,option2, got '%s'\n",
                text);
        return -1;
    }
    return 0;
}

/* What the files print: the study in a format (svg: the tornado too as .svg). */
typedef struct printed {
    cs_format format;
    int svg;
    const cs_scenario *s;
    const cs_sensitivity *r;
} printed;

static void print_study(FILE *out, const void *ctx)
{
    const printed *p = ctx;
    cs_report_sensitivity(out, p->format, p->s, p->r);
}

static int list_tornado(const char *dir, const void *ctx)
{
    const printed *p = ctx;
    return cs_report_tornado(dir, p->s, p->r, p->svg);
}

/* sensitivity.json, sensitivity.txt and (unless --no-plots) the tornado. */
static int write_files(const char *dir, const sens_args *a, const cs_scenario *s,
                       const cs_sensitivity *r, const cs_paths *paths)
{
    printed json = {CS_FORMAT_JSON, a->svg, s, r}, text = {CS_FORMAT_TEXT, a->svg, s, r};
    if (cs_cli_write_whole("sensitivity", dir, "sensitivity.json", print_study, &json) ||
        cs_cli_write_whole("sensitivity", dir, "sensitivity.txt", print_study, &text))
        return -1;
    return a->no_plots ? 0 : cs_cli_draw("sensitivity", dir, paths, list_tornado, &json);
}

static int cmd_sensitivity(int argc, char **argv, const cs_paths *paths)
{
    if (cs_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return EXIT_OK;
    }
    sens_args a;
    if (parse_args(argc, argv, &a) != 0) {
        fputs(help, stderr);
        return EXIT_BAD_INPUT;
    }
    cs_scenario scn;
    if (cs_cli_load_scenario(a.file, paths, &scn) != 0) {
        cs_scenario_free(&scn);
        return EXIT_BAD_INPUT;
    }
    scn.no_symmetry = a.no_symmetry;
    long la, lb;
    int status = EXIT_OK;
    char dir[4096];
    if (a.out)
        snprintf(dir, sizeof dir, "%s", a.out);
    else
        snprintf(dir, sizeof dir, "out/%s/sensitivity", scn.name);
    cs_sensitivity r;
    int rc = pick_layouts(a.layouts, &scn, &la, &lb) != 0
                 ? -3
                 : cs_sensitivity_run(&scn, a.has_model ? a.model : scn.network_model,
                                      a.has_seed ? a.seed : scn.seed, a.by, la, lb, &r);
    if (rc == -3) {
        status = EXIT_BAD_INPUT;
    } else if (rc == -2) {
        fprintf(stderr, "clustersim sensitivity: %s\n",
                a.layouts ? "a layout of --layouts is invalid"
                          : "fewer than two valid layouts: nothing to compare");
        status = EXIT_INVALID;
    } else if (rc != 0) {
        fprintf(stderr, "clustersim sensitivity: out of memory or a replay could not finish\n");
        status = EXIT_BAD_INPUT;
    } else if (cs_cli_make_dirs(dir) != 0) {
        fprintf(stderr, "clustersim sensitivity: cannot create %s: %s\n", dir, strerror(errno));
        status = EXIT_BAD_INPUT;
    } else if (write_files(dir, &a, &scn, &r, paths) != 0) {
        status = EXIT_BAD_INPUT;
    } else {
        cs_report_sensitivity(stdout, a.format, &scn, &r);
    }
    cs_scenario_free(&scn);
    return status;
}

const cs_command cs_cmd_sensitivity = {"sensitivity", help, cmd_sensitivity};
