/* search_report: the printed forms of a search (study/search.h): the ranked
 * table for people, {"candidates": [...]} for programs, and search.csv with
 * every candidate and its fate (docs/output.md, "search"). */
#ifndef CS_SEARCH_REPORT_H
#define CS_SEARCH_REPORT_H

#include <stdio.h>

#include "report/report.h"
#include "study/search.h"

/* The best `top` (all with a negative top) as text, JSON or CSV; the text
 * also counts the fates (pruned candidates by rule), places the scenario's
 * own layouts in the ranking, and writes the best as a layouts: entry and
 * as Megatron-LM arguments. */
void cs_report_search(FILE *out, cs_format format, const cs_scenario *s, const cs_search *r,
                      long top);

/* Every candidate in space order: its layout, fate, the rule or memory that
 * pruned it, and its numbers once evaluated. */
void cs_report_search_csv(FILE *out, const cs_search *r);

/* Writes DIR/pareto.dat (the fitting candidates, the front, the best)
 * and lists pareto.png in DIR/plots.txt (report/plot.h). Returns 0 or -1. */
int cs_report_search_pareto(const char *dir, const cs_scenario *s, const cs_search *r);

#endif
