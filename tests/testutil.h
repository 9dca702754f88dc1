/* testutil: shared helpers for the Check suites. */
#ifndef CS_TESTUTIL_H
#define CS_TESTUTIL_H

#include <check.h>
#include <math.h>

#include "input/config.h"
#include "input/diag.h"
#include "model/layout.h"
#include "net/engine.h"
#include "net/fabric.h"
#include "net/net.h"
#include "replay/exec.h"
#include "replay/workload.h"

#define DATA(path) CS_TEST_DATA "/" path

/* Preset directories: the source tree only. */
extern const cs_paths tu_paths;

/* A fresh temporary directory of this test (Check runs each test in its own
 * process), inside the suite's temporary root under $TMPDIR (or /tmp).
 * tu_main() removes the root and everything in it when the suite ends. */
const char *tu_temp_dir(void);

/* Writes text to `name` inside tu_temp_dir() and returns its path (static
 * storage, valid until the next call). */
const char *tu_write(const char *name, const char *text);

/* The whole file at path (malloc'd, NUL-terminated), or NULL. */
char *tu_read(const char *path);

/* Loads scenario text (written to scenario.yaml in the temp dir). */
int tu_load_scenario(const char *yaml, cs_scenario *s, cs_diags *d);
/* The same, then its first layout checked into z; both must pass (what
 * they report is printed). */
void tu_load_checked(const char *yaml, cs_scenario *s, cs_layout_sizes *z);

/* A layout's programs built over the scenario's fabric under network model
 * nm, and run when `run`; the test fails if either does not succeed. */
typedef struct tu_built {
    cs_fabric fab;
    cs_engine *e;
    cs_net *net;
    cs_exec *x;
    cs_workload w;
} tu_built;
void tu_build(tu_built *b, const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
              cs_network_model nm, int run);
void tu_unbuild(tu_built *b);

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

/* Asserts |got - want| <= rel |want|, printing both to 17 digits. */
#define assert_close(got, want, rel)                                                       \
    do {                                                                                   \
        double g_ = (got), w_ = (want);                                                    \
        ck_assert_msg(fabs(g_ - w_) <= (rel) * fabs(w_), "%s = %.17g, expected %.17g",    \
                      #got, g_, w_);                                                       \
    } while (0)

/* Runs a command with /bin/sh, captures stdout and stderr into malloc'd
 * strings (either may be NULL), and returns its exit status. */
int tu_run(const char *command, char **out, char **err);

/* Runs a suite and returns the process exit status; the temporary root is
 * made before the tests and removed after them. */
int tu_main(Suite *s);

#endif
