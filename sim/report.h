/* report: the printed forms of results, as text for people and JSON for
 * programs (field names follow ../shared/spec/OUTPUT.md). Reads results only. */
#ifndef CS_REPORT_H
#define CS_REPORT_H

#include <stdio.h>

#include "validate.h"

typedef enum { CS_FORMAT_TEXT, CS_FORMAT_JSON } cs_format;

void cs_report_check(FILE *out, cs_format format, const char *path, const cs_validation *c);

#endif
