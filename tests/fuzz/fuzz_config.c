/* libFuzzer target: any bytes given to the scenario loader must end in a
 * clean success or positioned errors, never a crash, a hang or a leak. When
 * the scenario loads, the layout checks and memory estimate run too. */
#include <stddef.h>
#include <stdint.h>

#include "input/config.h"
#include "model/check.h"

#ifndef CS_SOURCE_DIR
#define CS_SOURCE_DIR "."
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const dirs[] = {CS_SOURCE_DIR, NULL};
    const cs_paths paths = {dirs};
    cs_diags d;
    cs_scenario s;
    cs_diags_init(&d);
    /* Named inside scenarios/ so relative references resolve to presets. */
    if (cs_scenario_load_text(CS_SOURCE_DIR "/scenarios/fuzz.yaml", (const char *)data, size,
                              &paths, &s, &d) == 0 &&
        s.cluster.nodes * s.cluster.gpus_per_node <= 4096) {
        cs_check v;
        if (cs_check_scenario(&s, &v) == 0)
            cs_check_free(&v);
    }
    cs_scenario_free(&s);
    cs_diags_free(&d);
    return 0;
}
