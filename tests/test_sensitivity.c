/* sensitivity: each row recomputed directly (the figure changed by hand,
 * both layouts replayed), the rows' order, the cluster given back as it
 * was, the ranking's flip, and the command's files and errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay/runner.h"
#include "study/sensitivity.h"
#include "testutil.h"

static const char *scenario =
    "name: sens\n"
    "model: { name: m, num_layers: 4, hidden_size: 1024, num_attention_heads: 16, "
    "ffn_hidden_size: 4096, vocab_size: 32000, moe: { num_experts: 16, router_topk: 2, "
    "ffn_hidden_size: 1024 } }\n"
    "cluster: { base: dgx-h100, nodes: 2 }\n"
    "training: { seq_length: 1024, global_batch_size: 32, moe_token_dispatcher_type: alltoall, "
    "sequence_parallel: true }\n"
    "network_model: analytic\n"
    "layouts:\n"
    "  - { name: a, tp: 1, pp: 2, ep: 8 }\n"
    "  - { name: big, tp: 8, pp: 4, ep: 16 }\n"
    "  - { name: b, tp: 2, pp: 1, ep: 8 }\n"
    "  - { name: a2, tp: 1, pp: 2, ep: 8 }\n";

static void load(cs_scenario *s)
{
    cs_diags d;
    cs_diags_init(&d);
    int rc = tu_load_scenario(scenario, s, &d);
    cs_diags_print(&d, stderr);
    cs_diags_free(&d);
    ck_assert_int_eq(rc, 0);
}

/* The margin b - a with HBM bandwidth scaled by f, replayed directly. */
static double margin_with_hbm(double f, long fast, long slow)
{
    cs_scenario s;
    load(&s);
    s.cluster.gpu.memory_bandwidth *= f;
    cs_run run;
    ck_assert_int_eq(cs_run_scenario(&s, CS_NET_ANALYTIC, 1, NULL, &run), 0);
    double m = run.layouts[slow].result.iteration_time_s - run.layouts[fast].result.iteration_time_s;
    cs_run_free(&run);
    cs_scenario_free(&s);
    return m;
}

START_TEST(rows_recomputed_directly)
{
    cs_scenario s;
    load(&s);
    cs_cluster before = s.cluster;
    cs_sensitivity r;
    ck_assert_int_eq(cs_sensitivity_run(&s, CS_NET_ANALYTIC, 1, 0.2, 0, 2, &r), 0);
    ck_assert(!memcmp(&before, &s.cluster, sizeof before)); /* given back, every byte */
    ck_assert(r.base_s[0] < r.base_s[1] && r.margin_s == r.base_s[1] - r.base_s[0]);
    long fast = r.layout[0], slow = r.layout[1];
    ck_assert((fast == 0 && slow == 2) || (fast == 2 && slow == 0));
    int seen = 0;
    double last = INFINITY;
    for (int i = 0; i < CS_SENS_FIGURES; i++) {
        const cs_sens_row *row = &r.rows[i];
        if (!row->applies)
            continue;
        double swing = fmax(fabs(row->margin_low_s - r.margin_s),
                            fabs(row->margin_high_s - r.margin_s));
        ck_assert(swing <= last); /* largest first */
        last = swing;
        if (!strcmp(cs_sensitivity_figure_name(row->figure), "HBM bandwidth")) {
            seen = 1;
            ck_assert(row->margin_low_s == margin_with_hbm(0.8, fast, slow));
            ck_assert(row->margin_high_s == margin_with_hbm(1.2, fast, slow));
            ck_assert(row->low_s[0] > r.base_s[0] && row->high_s[0] < r.base_s[0]);
        }
    }
    ck_assert(seen);
    /* dgx-h100 marks its host figures ESTIMATE on their lines and its
     * kernel_launch in the comment above it, not its GEMM tables */
    int marks = 0;
    for (int i = 0; i < CS_SENS_FIGURES; i++) {
        const char *name = cs_sensitivity_figure_name(r.rows[i].figure);
        if (!strcmp(name, "host overheads") || !strcmp(name, "gap between kernels"))
            ck_assert_msg(r.rows[i].estimate && r.rows[i].applies && ++marks, "%s", name);
        if (!strcmp(name, "GEMM efficiency") || !strcmp(name, "scale-up bandwidth"))
            ck_assert_msg(!r.rows[i].estimate, "%s", name);
    }
    ck_assert_int_eq(marks, 2);
    /* The defaults' pair is the two fastest valid layouts: a and a2 are the
     * same layout, so the margin is 0 and any figure "flips" it. */
    cs_sensitivity t;
    ck_assert_int_eq(cs_sensitivity_run(&s, CS_NET_ANALYTIC, 1, 0.1, -1, -1, &t), 0);
    ck_assert(t.margin_s == 0 && t.flips);
    long pair[2] = {t.layout[0], t.layout[1]};
    ck_assert((pair[0] == 0 && pair[1] == 3) || (pair[0] == 3 && pair[1] == 0));
    char text[1024];
    cs_sensitivity_summary(&s, &t, text, sizeof text);
    ck_assert_ptr_nonnull(strstr(text, "The ranking flips if the "));
    cs_sensitivity_summary(&s, &r, text, sizeof text);
    ck_assert_msg(strstr(text, r.flips ? "flips if" : "No single figure 20% off flips"), "%s",
                  text);
    /* Memory: each layout's replayed peak, and whether it fits 20% higher. */
    for (int i = 0; i < 2; i++) {
        cs_layout_sizes z;
        cs_diags d;
        cs_diags_init(&d);
        ck_assert_int_eq(cs_layout_check(&s, &s.layouts[r.layout[i]], &z, &d), 0);
        cs_diags_free(&d);
        cs_replay_result rr;
        ck_assert_int_eq(cs_replay(&s, &s.layouts[r.layout[i]], &z, CS_NET_ANALYTIC, 1, &rr), 0);
        ck_assert(r.peak_bytes[i] == rr.memory_peak_bytes && r.peak_bytes[i] > 0);
        ck_assert_int_eq(r.fits_high[i], rr.memory_peak_bytes * 1.2 <= s.cluster.gpu.memory);
        cs_replay_result_free(&rr);
    }
    ck_assert(r.capacity_bytes == s.cluster.gpu.memory);
    ck_assert_msg(strstr(text, "with memory 20% above the estimate both still fit"), "%s", text);
    /* GPUs just big enough for both peaks: 20% more memory and neither fits,
     * which turns nothing. */
    double p0 = r.peak_bytes[0], p1 = r.peak_bytes[1];
    ck_assert(p0 != p1);
    s.cluster.gpu.memory = fmax(p0, p1) * 1.05;
    cs_sensitivity m;
    ck_assert_int_eq(cs_sensitivity_run(&s, CS_NET_ANALYTIC, 1, 0.2, fast, slow, &m), 0);
    ck_assert(m.fits[0] && m.fits[1] && !m.fits_high[0] && !m.fits_high[1]);
    cs_sensitivity_summary(&s, &m, text, sizeof text);
    ck_assert_msg(strstr(text, "with memory 20% above the estimate neither layout fits"), "%s",
                  text);
    /* Room for the smaller peak 20% higher, not the larger: the layout with
     * the larger peak alone stops fitting; that turns the ranking only when
     * it is the faster. */
    s.cluster.gpu.memory = fmax(fmax(p0, p1), fmin(p0, p1) * 1.2);
    ck_assert_int_eq(cs_sensitivity_run(&s, CS_NET_ANALYTIC, 1, 0.2, fast, slow, &m), 0);
    ck_assert(m.fits_high[0] == (p0 < p1) && m.fits_high[1] == (p1 < p0));
    ck_assert_int_eq(m.flips, p0 > p1 || r.flips);
    cs_sensitivity_summary(&s, &m, text, sizeof text);
    char want[256];
    snprintf(want, sizeof want, "with memory 20%% above the estimate %s no longer fits",
             s.layouts[p0 > p1 ? fast : slow].name);
    ck_assert_msg(strstr(text, want), "%s", text);
    ck_assert_int_eq(strstr(text, "which turns the ranking") != NULL, p0 > p1);
    /* a GPU smaller than a peak (check's own estimate still fits it): said
     * so, whatever the margin */
    s.cluster.gpu.memory = fmin(p0, p1) * 1.01;
    ck_assert_int_eq(cs_sensitivity_run(&s, CS_NET_ANALYTIC, 1, 0.2, fast, slow, &m), 0);
    ck_assert(!m.fits[0] || !m.fits[1]);
    cs_sensitivity_summary(&s, &m, text, sizeof text);
    ck_assert_msg(strstr(text, "does not fit even at the memory estimate"), "%s", text);
    s.cluster = before;
    /* An invalid layout asked for: -2. */
    ck_assert_int_eq(cs_sensitivity_run(&s, CS_NET_ANALYTIC, 1, 0.1, 0, 1, &t), -2);
    cs_scenario_free(&s);
}
END_TEST

START_TEST(command)
{
    char cmd[8192], *out = NULL, *err = NULL;
    const char *dir = tu_temp_dir();
    const char *file = tu_write("sens.yaml", scenario);
    snprintf(cmd, sizeof cmd, "'%s' sensitivity %s --layouts a,b --format json --out '%s/s'",
             CS_BINARY, file, dir);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"by\": 0.1,"));
    ck_assert_ptr_nonnull(strstr(out, "\"figure\": \"HBM bandwidth\""));
    free(out);
    free(err);
    const char *files[] = {"sensitivity.json", "sensitivity.txt", "tornado.dat", "plots.txt"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/s/%s", dir, files[i]);
        char *text = tu_read(path);
        ck_assert_msg(text != NULL, "no %s", path);
        free(text);
    }
    const char *bad[][2] = {
        {"--by 0", "--by wants a share above 0 and below 100%"},
        {"--by 150%", "--by wants a share above 0 and below 100%"},
        {"--layouts a,nope", "--layouts wants two of the scenario's layout names"},
        {"--layouts a,a", "--layouts wants two of the scenario's layout names"},
        {"--bye 5%", "did you mean '--by'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(cmd, sizeof cmd, "'%s' sensitivity %s %s --out '%s/s'", CS_BINARY, file,
                 bad[i][0], dir);
        ck_assert_int_eq(tu_run(cmd, &out, &err), 2);
        ck_assert_msg(strstr(err, bad[i][1]), "%s: %s", bad[i][0], err);
        free(out);
        free(err);
    }
    snprintf(cmd, sizeof cmd, "'%s' sensitivity %s --layouts a,big --out '%s/s'", CS_BINARY, file,
             dir);
    ck_assert_int_eq(tu_run(cmd, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "a layout of --layouts is invalid"));
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "rm -rf '%s/s' '%s'", dir, file);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sensitivity");
    TCase *t = tcase_create("figures");
    tcase_set_timeout(t, 200);
    tcase_add_test(t, rows_recomputed_directly);
    tcase_add_test(t, command);
    suite_add_tcase(s, t);
    return tu_main(s);
}
