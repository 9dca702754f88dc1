/* Shared by the config test suites: a loaded scenario with its
 * diagnostics, and loaders that must succeed or fail. */
#ifndef CS_TESTS_CONFIG_TEST_H
#define CS_TESTS_CONFIG_TEST_H

#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define TRAINING "training: {seq_length: 2048, global_batch_size: 128}\n"
#define LAYOUTS                                                                             \
    "layouts:\n"                                                                           \
    "  - {tp: 4, pp: 4, ep: 8, dp: 4}\n"

/* A loaded scenario plus its diagnostics, freed together. */
typedef struct run {
    cs_scenario s;
    cs_diags d;
    int rc;
} run;

static inline void load(run *r, const char *yaml)
{
    cs_diags_init(&r->d);
    r->rc = tu_load_scenario(yaml, &r->s, &r->d);
}

static inline void done(run *r)
{
    cs_scenario_free(&r->s);
    cs_diags_free(&r->d);
}

/* Loads yaml that must be valid. */
static inline void load_ok(run *r, const char *yaml)
{
    load(r, yaml);
    if (r->rc != 0 || r->d.count)
        cs_diags_print(&r->d, stderr);
    ck_assert_int_eq(r->rc, 0);
    ck_assert_uint_eq(r->d.errors, 0);
}

/* Loads yaml that must fail with exactly `errors` errors. */
static inline void load_bad(run *r, const char *yaml, size_t errors)
{
    load(r, yaml);
    if (r->d.errors != errors)
        cs_diags_print(&r->d, stderr);
    ck_assert_int_eq(r->rc, -1);
    ck_assert_uint_eq(r->d.errors, errors);
}

/* The message of the record containing needle must be exactly `full`. */
static inline void assert_message(const cs_diags *d, const char *needle, const char *full)
{
    const cs_diag *r = tu_find(d, needle);
    ck_assert_msg(r != NULL, "no diagnostic containing '%s'", needle);
    ck_assert_str_eq(r->message, full);
}

static inline int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

#endif
