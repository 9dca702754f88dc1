/* examples/: every scenario there loads, checks valid and runs; the Hugging
 * Face example reads its model from the config.json next to it; the
 * schedule examples differ where their schedules say they should. */
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/config.h"
#include "model/check.h"
#include "model/model.h"
#include "replay/runner.h"
#include "testutil.h"

#define EXAMPLES CS_SOURCE_DIR "/examples"

START_TEST(every_example_checks_valid_and_runs)
{
    glob_t g;
    ck_assert_int_eq(glob(EXAMPLES "/*/*.yaml", 0, NULL, &g), 0);
    ck_assert_uint_ge(g.gl_pathc, 5);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char cmd[2048], *out = NULL, *err = NULL;
        snprintf(cmd, sizeof cmd, CS_BINARY " check %s", g.gl_pathv[i]);
        int rc = tu_run(cmd, &out, &err);
        ck_assert_msg(rc == 0, "%s: check exit %d\n%s", g.gl_pathv[i], rc, err);
        free(out);
        free(err);
        snprintf(cmd, sizeof cmd, CS_BINARY " run %s --no-plots --out %s/run%zu", g.gl_pathv[i],
                 tu_temp_dir(), i);
        rc = tu_run(cmd, &out, &err);
        ck_assert_msg(rc == 0, "%s: run exit %d\n%s", g.gl_pathv[i], rc, err);
        ck_assert_ptr_nonnull(strstr(out, "iteration time (s)"));
        free(out);
        free(err);
    }
    globfree(&g);
}
END_TEST

/* Qwen1.5-MoE-A2.7B as its config.json says: 24 layers, 60 experts of 1408,
 * top-4, a 5632-wide shared expert; 14.3 B parameters, 2.7 B active (its
 * model card). */
START_TEST(hugging_face_example_reads_its_config)
{
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_scenario_load(EXAMPLES "/hf-qwen-moe/scenario.yaml", &tu_paths, &s, &d),
                     0);
    ck_assert_str_eq(s.model.name, "config");
    ck_assert_int_eq(s.model.num_layers, 24);
    ck_assert_int_eq(s.model.moe.num_experts, 60);
    ck_assert_int_eq(s.model.moe.router_topk, 4);
    ck_assert_int_eq(s.model.moe.ffn_hidden_size, 1408);
    ck_assert_int_eq(s.model.moe.shared_expert_ffn_hidden_size, 5632);
    cs_param_counts pc;
    cs_model_params(&s.model, &pc);
    ck_assert_msg(fabs(pc.total / 14.3e9 - 1) < 0.01, "total %g", pc.total);
    ck_assert_msg(fabs(pc.active / 2.7e9 - 1) < 0.03, "active %g", pc.active);
    cs_scenario_free(&s);
    cs_diags_free(&d);
}
END_TEST

static double iteration_time(const char *name, double *bubble)
{
    char path[1024];
    snprintf(path, sizeof path, EXAMPLES "/schedules/%s.yaml", name);
    cs_scenario s;
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(cs_scenario_load(path, &tu_paths, &s, &d), 0);
    cs_run run;
    ck_assert_int_eq(cs_run_scenario(&s, CS_NET_ANALYTIC, s.seed, NULL, &run), 0);
    ck_assert_int_eq(run.valid, 1);
    double t = run.layouts[0].result.iteration_time_s;
    *bubble = run.layouts[0].result.bubble_fraction;
    cs_run_free(&run);
    cs_scenario_free(&s);
    cs_diags_free(&d);
    return t;
}

/* GPipe and 1F1B have the same bubble; interleaving (two chunks) and ZB-H1
 * each shorten it (on this example 13.4% -> 8.9% and 11.7%: ZB-H1 fills
 * the cool-down with the wgrads, 43% of the backward here).
 * Interleaving shortens the iteration too; ZB-H1 gives back in exposed TP
 * time what it saves: its deferred wgrads no longer hide the input
 * gradient's reduce-scatter, which the next layer's backward waits for. */
START_TEST(schedule_examples_rank_as_their_schedules)
{
    double bg, b1, bi, bz;
    double gpipe = iteration_time("gpipe", &bg), f1b = iteration_time("1f1b", &b1);
    double inter = iteration_time("interleaved", &bi), zb = iteration_time("zb-h1", &bz);
    ck_assert_msg(fabs(gpipe / f1b - 1) < 0.01, "gpipe %g 1f1b %g", gpipe, f1b);
    ck_assert_msg(fabs(bg / b1 - 1) < 0.02, "bubbles: gpipe %g 1f1b %g", bg, b1);
    ck_assert_msg(inter < 0.97 * f1b, "interleaved %g 1f1b %g", inter, f1b);
    ck_assert_msg(bi < 0.8 * b1, "bubbles: interleaved %g 1f1b %g", bi, b1);
    ck_assert_msg(bz < 0.9 * b1, "bubbles: zb-h1 %g 1f1b %g", bz, b1);
    ck_assert_msg(zb < 1.01 * f1b, "zb-h1 %g 1f1b %g", zb, f1b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("examples");
    TCase *t = tcase_create("examples");
    tcase_set_timeout(t, 240);
    tcase_add_test(t, every_example_checks_valid_and_runs);
    tcase_add_test(t, hugging_face_example_reads_its_config);
    tcase_add_test(t, schedule_examples_rank_as_their_schedules);
    suite_add_tcase(s, t);
    return tu_main(s);
}
