#include "base/csv.h"

#include <string.h>

/* Unquotes the field starting at the quote p, in place. Returns where the
 * field's text ends (after the closing quote). */
static char *unquote(char *p)
{
    char *w = p++;
    while (*p) {
        if (*p == '"' && p[1] == '"') {
            *w++ = '"';
            p += 2;
        } else if (*p == '"') {
            p++;
            break;
        } else {
            *w++ = *p++;
        }
    }
    /* Text after the closing quote, up to the comma, is dropped. */
    char *comma = strchr(p, ',');
    *w = '\0';
    return comma ? comma : p + strlen(p);
}

int cs_csv_split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max)
            return -1;
        fields[n++] = p;
        char *end = *p == '"' ? unquote(p) : p + strcspn(p, ",");
        if (*end != ',')
            return n;
        *end = '\0';
        p = end + 1;
    }
}
