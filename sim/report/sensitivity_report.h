/* sensitivity_report: a sensitivity study (study/sensitivity.h) as a table
 * and a summary for people, as JSON for programs, and as the tornado
 * chart's data (tornado.dat, drawn by plots/tornado.gp; docs/output.md,
 * "sensitivity"). */
#ifndef CS_SENSITIVITY_REPORT_H
#define CS_SENSITIVITY_REPORT_H

#include <stdio.h>

#include "report/report.h"
#include "study/sensitivity.h"

/* Text or JSON. */
void cs_report_sensitivity(FILE *out, cs_format format, const cs_scenario *s,
                           const cs_sensitivity *r);

/* DIR/tornado.dat and its lines in DIR/plots.txt (png, and svg with `svg`;
 * the scripts already copied into DIR/plots/). Returns 0 or -1 with a
 * message on stderr. */
int cs_report_tornado(const char *dir, const cs_scenario *s, const cs_sensitivity *r, int svg);

#endif
