/* sensitivity_report: the tornado as text, JSON and chart data. */
#include "report/sensitivity_report.h"

#include <errno.h>
#include <string.h>

#include "base/fileio.h"
#include "report/json.h"

static void text(FILE *out, const cs_scenario *s, const cs_sensitivity *r)
{
    const char *a = s->layouts[r->layout[0]].name, *b = s->layouts[r->layout[1]].name;
    fprintf(out, "sensitivity %s: %s vs %s, network model %s, seed %lu, each figure %.0f%% "
                 "lower and higher\n",
            s->name, a, b, cs_network_model_name(r->model), r->seed, 100 * r->by);
    fprintf(out, "  as given: %s %.2f ms, %s %.2f ms, margin %.2f ms\n\n", a, 1e3 * r->base_s[0],
            b, 1e3 * r->base_s[1], 1e3 * r->margin_s);
    fprintf(out, "  %-28s %14s %14s %8s\n", "figure (* an estimate)", "margin low", "margin high",
            "flips");
    for (int i = 0; i < CS_SENS_FIGURES; i++) {
        const cs_sens_row *row = &r->rows[i];
        char name[64];
        snprintf(name, sizeof name, "%s%s", cs_sensitivity_figure_name(row->figure),
                 row->estimate ? " *" : "");
        if (!row->applies) {
            fprintf(out, "  %-28s %14s %14s %8s\n", name, "-", "-", "(unused)");
            continue;
        }
        int flips = row->margin_low_s <= 0 || row->margin_high_s <= 0;
        fprintf(out, "  %-28s %11.2f ms %11.2f ms %8s\n", name, 1e3 * row->margin_low_s,
                1e3 * row->margin_high_s, flips ? "YES" : "no");
    }
    char summary[1024];
    cs_sensitivity_summary(s, r, summary, sizeof summary);
    fprintf(out, "\n%s\n", summary);
}

static void json(FILE *out, const cs_scenario *s, const cs_sensitivity *r)
{
    cs_json j;
    cs_json_init(&j, out);
    cs_json_object_begin(&j, NULL);
    cs_json_string(&j, "scenario", s->name);
    cs_json_string(&j, "network_model", cs_network_model_name(r->model));
    cs_json_int(&j, "seed", (long)r->seed);
    cs_json_number(&j, "by", r->by);
    cs_json_string(&j, "faster", s->layouts[r->layout[0]].name);
    cs_json_string(&j, "slower", s->layouts[r->layout[1]].name);
    cs_json_number(&j, "faster_time_s", r->base_s[0]);
    cs_json_number(&j, "slower_time_s", r->base_s[1]);
    cs_json_number(&j, "margin_s", r->margin_s);
    cs_json_bool(&j, "ranking_can_flip", r->flips);
    cs_json_array_begin(&j, "figures");
    for (int i = 0; i < CS_SENS_FIGURES; i++) {
        const cs_sens_row *row = &r->rows[i];
        cs_json_object_begin(&j, NULL);
        cs_json_string(&j, "figure", cs_sensitivity_figure_name(row->figure));
        cs_json_string(&j, "keys", cs_sensitivity_figure_key(row->figure));
        cs_json_bool(&j, "applies", row->applies);
        cs_json_bool(&j, "estimate", row->estimate);
        if (row->applies) {
            cs_json_number(&j, "margin_low_s", row->margin_low_s);
            cs_json_number(&j, "margin_high_s", row->margin_high_s);
            cs_json_number(&j, "faster_low_s", row->low_s[0]);
            cs_json_number(&j, "slower_low_s", row->low_s[1]);
            cs_json_number(&j, "faster_high_s", row->high_s[0]);
            cs_json_number(&j, "slower_high_s", row->high_s[1]);
        }
        cs_json_object_end(&j);
    }
    cs_json_array_end(&j);
    cs_json_object_begin(&j, "memory");
    cs_json_number(&j, "capacity_bytes", r->capacity_bytes);
    cs_json_number(&j, "faster_peak_bytes", r->peak_bytes[0]);
    cs_json_number(&j, "slower_peak_bytes", r->peak_bytes[1]);
    cs_json_bool(&j, "faster_fits", r->fits[0]);
    cs_json_bool(&j, "slower_fits", r->fits[1]);
    cs_json_bool(&j, "faster_fits_high", r->fits_high[0]);
    cs_json_bool(&j, "slower_fits_high", r->fits_high[1]);
    cs_json_object_end(&j);
    char summary[1024];
    cs_sensitivity_summary(s, r, summary, sizeof summary);
    cs_json_string(&j, "summary", summary);
    cs_json_object_end(&j);
    fputc('\n', out);
}

void cs_report_sensitivity(FILE *out, cs_format format, const cs_scenario *s,
                           const cs_sensitivity *r)
{
    if (format == CS_FORMAT_JSON)
        json(out, s, r);
    else
        text(out, s, r);
}

/* tornado.dat: a row per figure that applies, smallest swing first (the
 * chart draws the first row at the bottom): label, margin at the low and
 * the high end less the baseline's, in ms. */
static void tornado_dat(FILE *f, const cs_sensitivity *r)
{
    fprintf(f, "# figure\tlow_minus_base_ms\thigh_minus_base_ms\n");
    for (int i = CS_SENS_FIGURES - 1; i >= 0; i--) {
        const cs_sens_row *row = &r->rows[i];
        if (row->applies)
            fprintf(f, "\"%s\"\t%.6f\t%.6f\n", cs_sensitivity_figure_name(row->figure),
                    1e3 * (row->margin_low_s - r->margin_s),
                    1e3 * (row->margin_high_s - r->margin_s));
    }
}

int cs_report_tornado(const char *dir, const cs_scenario *s, const cs_sensitivity *r, int svg)
{
    char path[4096], tmp[4300];
    snprintf(path, sizeof path, "%s/tornado.dat", dir);
    FILE *f = cs_file_temp(path, tmp, sizeof tmp);
    if (!f || (tornado_dat(f, r), cs_file_commit(f, tmp, path, 1) != 0)) {
        fprintf(stderr, "clustersim: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/plots.txt", dir);
    FILE *l = fopen(path, "a");
    if (!l) {
        fprintf(stderr, "clustersim: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (int v = 0; v <= svg; v++)
        fprintf(l,
                "plots/tornado.gp\ttornado.dat\ttornado.%s\t%s: %s's lead over %s, each figure "
                "%.0f%% lower and higher\t%.6f\t%s\n",
                v ? "svg" : "png", s->name, s->layouts[r->layout[0]].name,
                s->layouts[r->layout[1]].name, 100 * r->by, 1e3 * r->margin_s, v ? "svg" : "png");
    return fclose(l) == 0 ? 0 : -1;
}
