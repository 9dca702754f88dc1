#include "base/progress.h"

#include <time.h>

double cs_progress_clock(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void cs_progress_show(FILE *out, const char *unit, long done, long total, double started)
{
    double elapsed = cs_progress_clock() - started;
    double eta = done ? elapsed / (double)done * (double)(total - done) : 0;
    int width = 30, filled = total ? (int)(width * done / total) : width;
    fprintf(out, "\r[%.*s%*s] %ld/%ld %s, ETA %.0f s ", filled, "##############################",
            width - filled, "", done, total, unit, eta);
    if (done == total)
        fputc('\n', out);
    fflush(out);
}
