/* libFuzzer target: any bytes given to `import megatron --args-file` or
 * `--bridge-config` must end in a scenario that loads or in positioned
 * errors, never a crash, a hang or a leak: the splitter (or the
 * ConfigContainer reader), the import, and the loader on what it wrote. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/bridge.h"
#include "input/megatron.h"

#ifndef CS_SOURCE_DIR
#define CS_SOURCE_DIR "."
#endif

/* The import of n arguments, then the loader on its scenario. */
static void import_and_load(cs_arg *args, long n, const cs_paths *paths)
{
    char *yaml = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&yaml, &len), *err = fopen("/dev/null", "w");
    cs_import in = {args, n, "fuzz.args", "dgx-h100", 2, "fuzz"};
    int rc = out && err ? cs_megatron_import(out, &in, err) : -1;
    if (out)
        fclose(out);
    if (err)
        fclose(err);
    if (rc == 0) {
        cs_scenario s;
        cs_diags d;
        cs_diags_init(&d);
        cs_scenario_load_text(CS_SOURCE_DIR "/scenarios/fuzz.yaml", yaml, len, paths, &s, &d);
        cs_scenario_free(&s);
        cs_diags_free(&d);
    }
    free(yaml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const dirs[] = {CS_SOURCE_DIR, NULL};
    const cs_paths paths = {dirs};
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* an argument file is text: the reader stops at a NUL */
    cs_arg *args;
    char *store;
    long n = cs_megatron_split(text, &args, &store);
    if (n >= 0) {
        import_and_load(args, n, &paths);
        free(args);
        free(store);
    }
    cs_diags d;
    cs_diags_init(&d);
    n = cs_bridge_args_text("fuzz.yaml", (const char *)data, size, &args, &store, &d);
    cs_diags_free(&d);
    if (n >= 0) {
        import_and_load(args, n, &paths);
        free(args);
        free(store);
    }
    free(text);
    return 0;
}
