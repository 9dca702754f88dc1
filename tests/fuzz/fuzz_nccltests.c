/* libFuzzer target: any bytes given to the reader of measured nccl-tests
 * curves must end in rows read or positioned errors, never a crash, a hang
 * or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "input/nccltests.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_nccl_measure *m = malloc(sizeof *m);
    if (!m)
        return 0;
    cs_diags d;
    cs_diags_init(&d);
    cs_nccltests_parse("fuzz.txt", (const char *)data, size, m, &d);
    cs_diags_free(&d);
    free(m);
    return 0;
}
