/* compare_report: the printed forms of a comparison (study/compare.h): a
 * table per pair with the difference, its interval and its attribution,
 * then the summary, for people; {"pairs": [...]} for programs
 * (docs/output.md, "compare"). */
#ifndef CS_COMPARE_REPORT_H
#define CS_COMPARE_REPORT_H

#include <stdio.h>

#include "report/report.h"
#include "study/compare.h"

/* Text or JSON (CSV is not offered: a pair is not a row). */
void cs_report_compare(FILE *out, cs_format format, const cs_scenario *s, const cs_compare *c);

/* DIR/pairN.dat for every pair N (from 1) and their lines in DIR/plots.txt
 * (png, and svg with `svg`; the scripts already copied into DIR/plots/),
 * drawn by plots/pair.gp. Returns 0 or -1 with a message on stderr. */
int cs_report_compare_plots(const char *dir, const cs_scenario *s, const cs_compare *c, int svg);

#endif
