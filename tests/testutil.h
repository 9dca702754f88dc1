/* testutil: shared helpers for the Check suites. */
#ifndef CS_TESTUTIL_H
#define CS_TESTUTIL_H

#include <check.h>

#include "input/config.h"
#include "input/diag.h"

#define DATA(path) CS_TEST_DATA "/" path

/* Preset directories: the source tree only. */
extern const cs_paths tu_paths;

/* Writes text to `name` inside a fresh temporary directory of this test
 * process and returns its path (static storage, valid until the next call
 * with the same name). */
const char *tu_write(const char *name, const char *text);

/* Loads scenario text (written to scenario.yaml in the temp dir). */
int tu_load_scenario(const char *yaml, cs_scenario *s, cs_diags *d);

/* The first record whose message contains `needle`, or NULL. */
const cs_diag *tu_find(const cs_diags *d, const char *needle);

/* Asserts a record containing `needle` exists at line:col with severity. */
#define tu_assert_diag(d, sev, needle, ln, cl)                                              \
    do {                                                                                   \
        const cs_diag *r_ = tu_find((d), (needle));                                        \
        ck_assert_msg(r_ != NULL, "no diagnostic containing '%s'", (needle));              \
        ck_assert_int_eq(r_->severity, (sev));                                             \
        ck_assert_int_eq(r_->line, (ln));                                                  \
        ck_assert_int_eq(r_->col, (cl));                                                   \
    } while (0)

/* Runs a command with /bin/sh, captures stdout and stderr into malloc'd
 * strings (either may be NULL), and returns its exit status. */
int tu_run(const char *command, char **out, char **err);

/* Runs a suite and returns the process exit status. */
int tu_main(Suite *s);

#endif
