/* compare_report: a comparison as text and JSON. */
#include "report/compare_report.h"

#include <errno.h>
#include <string.h>

#include "base/fileio.h"
#include "report/json.h"

static const char *layout_name(const cs_scenario *s, const cs_compare *c, long i)
{
    return s->layouts[c->layouts[i].index].name;
}

static void text_header(FILE *out, const cs_scenario *s, const cs_compare *c)
{
    fprintf(out, "compare %s: %s on %s, network model %s, seed %lu\n  ", s->name, s->model.name,
            s->cluster.name, cs_network_model_name(c->model), c->seed);
    if (c->repeats > 1)
        fprintf(out, "%ld paired replays per layout (the same seeds for every layout)\n",
                c->repeats);
    else if (!c->draws)
        fputs("one replay per layout (nothing is drawn at random: the differences are exact)\n",
              out);
    else
        fputs("one replay per layout (no interval: --repeats N for one)\n", out);
    for (long i = 0; i < c->count; i++)
        if (!c->layouts[i].valid)
            fprintf(out, "  not compared: %s (invalid: %s)\n", layout_name(s, c, i),
                    c->layouts[i].reason);
}

/* Prints text in lines of at most `width` columns, each indented. */
static void wrap(FILE *out, const char *text, int indent, int width)
{
    const char *p = text;
    while (*p) {
        int room = width - indent, n = 0, cut = 0;
        while (p[n] && n < room) {
            if (p[n] == ' ')
                cut = n;
            n++;
        }
        if (!p[n] || !cut)
            cut = n;
        fprintf(out, "%*s%.*s\n", indent, "", cut, p);
        p += cut;
        while (*p == ' ')
            p++;
    }
}

/* One row: a's and b's values in ms (or seq/s), b - a, and the interval. */
static void row(FILE *out, const char *what, double scale, double a, double b,
                const cs_paired *d)
{
    fprintf(out, "  %-24s %12.2f %12.2f %+12.2f", what, scale * a, scale * b,
            scale * (d ? d->mean : b - a));
    if (d)
        fprintf(out, "   [%+.2f, %+.2f]", scale * d->lo, scale * d->hi);
    fputc('\n', out);
}

static void text_pair(FILE *out, const cs_scenario *s, const cs_compare *c,
                      const cs_compare_pair *p)
{
    const cs_compare_layout *A = &c->layouts[p->a], *B = &c->layouts[p->b];
    const char *a = layout_name(s, c, p->a), *b = layout_name(s, c, p->b);
    char diff[2 * CS_NAME_MAX + 8];
    snprintf(diff, sizeof diff, "%s - %s", b, a);
    fprintf(out, "\n%s vs %s\n  %-24s %12s %12s %12s   %s\n", a, b, "", a, b, diff, "95% CI");
    row(out, "iteration time (ms)", 1e3, A->time_s, B->time_s, &p->time_s);
    row(out, "throughput (seq/s)", 1, A->seq_per_s, B->seq_per_s, &p->seq_per_s);
    double sum = 0;
    for (int k = 0; k < CS_ATTR_KINDS; k++) {
        char what[40];
        snprintf(what, sizeof what, "  %s (ms)", cs_attr_name((cs_attr_kind)k));
        row(out, what, 1e3, A->attr_s[k], B->attr_s[k], NULL);
        sum += p->attr_s[k];
    }
    fprintf(out, "  %-24s %12s %12s %+12.2f\n", "  sum of the above", "", "", 1e3 * sum);
    fprintf(out, "  %-24s %12.2f %12.2f\n", "memory peak (GB)", A->memory_peak_bytes / 1e9,
            B->memory_peak_bytes / 1e9);
    char summary[1024];
    cs_compare_summary(s, c, p, summary, sizeof summary);
    wrap(out, summary, 2, 88);
}

static void json_interval(cs_json *j, const char *key, const cs_paired *p)
{
    cs_json_inline_array_begin(j, key);
    cs_json_number(j, NULL, p->lo);
    cs_json_number(j, NULL, p->hi);
    cs_json_array_end(j);
}

static void json_attr(cs_json *j, const char *key, const double *attr)
{
    cs_json_object_begin(j, key);
    for (int k = 0; k < CS_ATTR_KINDS; k++)
        cs_json_number(j, cs_attr_name((cs_attr_kind)k), attr[k]);
    cs_json_object_end(j);
}

static void json_layouts(cs_json *j, const cs_scenario *s, const cs_compare *c)
{
    cs_json_array_begin(j, "layouts");
    for (long i = 0; i < c->count; i++) {
        const cs_compare_layout *l = &c->layouts[i];
        cs_json_object_begin(j, NULL);
        cs_json_string(j, "name", layout_name(s, c, i));
        cs_json_bool(j, "valid", l->valid);
        if (!l->valid) {
            cs_json_string(j, "error", l->reason);
        } else {
            cs_json_number(j, "iteration_time_s", l->time_s);
            cs_json_number(j, "throughput_seq_per_s", l->seq_per_s);
            json_attr(j, "time_by_kind_s", l->attr_s);
            cs_json_number(j, "memory_peak_bytes", l->memory_peak_bytes);
            cs_json_bool(j, "memory_fits", l->memory_fits);
        }
        cs_json_object_end(j);
    }
    cs_json_array_end(j);
}

static void json_pair(cs_json *j, const cs_scenario *s, const cs_compare *c,
                      const cs_compare_pair *p)
{
    cs_json_object_begin(j, NULL);
    cs_json_string(j, "a", layout_name(s, c, p->a));
    cs_json_string(j, "b", layout_name(s, c, p->b));
    if (p->faster >= 0)
        cs_json_string(j, "faster", layout_name(s, c, p->faster));
    else
        cs_json_null(j, "faster");
    cs_json_number(j, "difference_s", p->time_s.mean);
    json_interval(j, "ci95_s", &p->time_s);
    cs_json_number(j, "throughput_difference_seq_per_s", p->seq_per_s.mean);
    json_interval(j, "throughput_ci95_seq_per_s", &p->seq_per_s);
    cs_json_number(j, "speedup", p->speedup.mean);
    json_interval(j, "speedup_ci95", &p->speedup);
    json_attr(j, "attribution_s", p->attr_s);
    char summary[1024];
    cs_compare_summary(s, c, p, summary, sizeof summary);
    cs_json_string(j, "summary", summary);
    cs_json_object_end(j);
}

void cs_report_compare(FILE *out, cs_format format, const cs_scenario *s, const cs_compare *c)
{
    if (format != CS_FORMAT_JSON) {
        text_header(out, s, c);
        for (long i = 0; i < c->npairs; i++)
            text_pair(out, s, c, &c->pairs[i]);
        if (c->npairs == 0)
            fputs("fewer than two valid layouts: nothing to compare\n", out);
        return;
    }
    cs_json j;
    cs_json_init(&j, out);
    cs_json_object_begin(&j, NULL);
    cs_json_string(&j, "scenario", s->name);
    cs_json_string(&j, "network_model", cs_network_model_name(c->model));
    cs_json_int(&j, "seed", (long)c->seed);
    cs_json_int(&j, "repeats", c->repeats);
    cs_json_bool(&j, "random", c->draws);
    json_layouts(&j, s, c);
    cs_json_array_begin(&j, "pairs");
    for (long i = 0; i < c->npairs; i++)
        json_pair(&j, s, c, &c->pairs[i]);
    cs_json_array_end(&j);
    cs_json_object_end(&j);
    fputc('\n', out);
}

/* pairN.dat: the attribution's kinds, then the difference with its interval. */
static void pair_dat(FILE *f, const cs_compare_pair *p)
{
    fprintf(f, "# kind\tms (second layout less the first)\n");
    for (int k = 0; k < CS_ATTR_KINDS; k++)
        fprintf(f, "\"%s\"\t%.9f\n", cs_attr_name((cs_attr_kind)k), 1e3 * p->attr_s[k]);
    fprintf(f, "\n\n# difference\tmean ms\tlow\thigh\n\"difference\"\t%.9f\t%.9f\t%.9f\n",
            1e3 * p->time_s.mean, 1e3 * p->time_s.lo, 1e3 * p->time_s.hi);
}

int cs_report_compare_plots(const char *dir, const cs_scenario *s, const cs_compare *c, int svg)
{
    char path[4096], tmp[4300];
    snprintf(path, sizeof path, "%s/plots.txt", dir);
    FILE *l = fopen(path, "a");
    if (!l) {
        fprintf(stderr, "clustersim: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (long i = 0; i < c->npairs && rc == 0; i++) {
        const cs_compare_pair *p = &c->pairs[i];
        snprintf(path, sizeof path, "%s/pair%ld.dat", dir, i + 1);
        FILE *f = cs_file_temp(path, tmp, sizeof tmp);
        if (!f || (pair_dat(f, p), cs_file_commit(f, tmp, path, 1) != 0)) {
            fprintf(stderr, "clustersim: cannot write %s: %s\n", path, strerror(errno));
            rc = -1;
            break;
        }
        for (int v = 0; v <= svg; v++)
            fprintf(l, "plots/pair.gp\tpair%ld.dat\tpair%ld.%s\t%s: %s against %s, where %.1f ms "
                       "of difference come from\t%s\n",
                    i + 1, i + 1, v ? "svg" : "png", s->name, layout_name(s, c, p->b),
                    layout_name(s, c, p->a), 1e3 * p->time_s.mean, v ? "svg" : "png");
    }
    return fclose(l) == 0 ? rc : -1;
}
