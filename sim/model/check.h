/* check: what `clustersim check` computes for every layout of a scenario:
 * validity with its reasons, the derived sizes, and the analytic memory
 * estimate per stage. Pure computation; report.c prints it. */
#ifndef CS_MODEL_CHECK_H
#define CS_MODEL_CHECK_H

#include "input/config.h"
#include "model/layout.h"
#include "model/memory.h"
#include "model/model.h"

typedef struct cs_layout_verdict {
    const cs_layout *layout; /* borrowed from the scenario */
    int valid;
    cs_layout_sizes sizes;
    cs_diags problems; /* errors, warnings and notes about this layout (owned) */
    int has_memory;    /* the estimate exists only for valid layouts */
    long peak_stage;
    cs_memory_breakdown peak;
    double *stage_totals; /* pp entries (owned), NULL without memory */
    int memory_fits;
    /* When it does not fit: the smallest single change that makes the
     * estimate fit, as a key: value a user would write ("recompute: full"),
     * and the estimate with it; fix[0] == 0 when no single change does. */
    char fix[160];
    double fix_total;
} cs_layout_verdict;

typedef struct cs_check {
    const cs_scenario *scenario; /* borrowed */
    cs_param_counts params;
    cs_layout_verdict *layouts; /* one per scenario layout (owned) */
    size_t count;
    int all_valid;
} cs_check;

/* Checks every layout. Returns 0, or -1 when out of memory. */
int cs_check_scenario(const cs_scenario *s, cs_check *out);
void cs_check_free(cs_check *c);

#endif
