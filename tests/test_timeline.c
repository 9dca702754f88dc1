/* Timelines and traces: the data files match the replay, spans tile every
 * captured GPU's iteration, bubble rows add up to the reported share, the
 * trace has one event per op, gnuplot draws non-empty pictures, and a run
 * without gnuplot still succeeds. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model/layout.h"
#include "replay/replay.h"
#include "testutil.h"
#include "report/json.h"
#include "report/plot.h"
#include "report/timeline.h"
#include "replay/workload.h"

#define BIN CS_BINARY

typedef struct fixture {
    cs_scenario s;
    cs_layout_sizes z;
    cs_replay_result r;
    cs_capture c;
} fixture;

/* A symmetric layout: every GPU of a stage does the same, so the captured
 * first GPU of each stage stands for its stage. */
static void replay_dense(fixture *fx, const char *network)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "model: { name: d, num_layers: 8, hidden_size: 1024, num_attention_heads: 16, "
             "vocab_size: 32000 }\n"
             "cluster: { base: dgx-h100, nodes: 2 }\n"
             "training: { seq_length: 2048, global_batch_size: 32, sequence_parallel: true, "
             "distributed_optimizer: true, overlap_grad_reduce: true }\n"
             "network_model: %s\n"
             "layouts: [ { name: l, tp: 2, pp: 4, dp: 2 } ]\n",
             network);
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(tu_load_scenario(yaml, &fx->s, &d), 0);
    ck_assert_int_eq(cs_layout_check(&fx->s, &fx->s.layouts[0], &fx->z, &d), 0);
    cs_diags_free(&d);
    ck_assert_int_eq(cs_capture_init(&fx->c, &fx->s.layouts[0], &fx->z, NULL, 0), 0);
    ck_assert_int_eq(fx->c.gpu_count, 4);
    ck_assert_int_eq(cs_replay_capture(&fx->s, &fx->s.layouts[0], &fx->z, fx->s.network_model, 1,
                                       &fx->r, &fx->c),
                     0);
}

static void done(fixture *fx)
{
    cs_capture_free(&fx->c);
    cs_replay_result_free(&fx->r);
    cs_scenario_free(&fx->s);
}

START_TEST(spans_tile_the_iteration)
{
    fixture fx;
    replay_dense(&fx, "flow");
    double T = fx.r.iteration_time_s, bubble = 0;
    for (long i = 0; i < fx.c.gpu_count; i++) {
        double at = 0;
        for (long k = 0; k < fx.c.span_count; k++) {
            const cs_span *sp = &fx.c.spans[k];
            if (sp->gpu != fx.c.gpus[i])
                continue;
            ck_assert_msg(fabs(sp->start - at) <= 1e-12, "gap or overlap at %g", at);
            ck_assert(sp->end > sp->start);
            ck_assert_int_eq(sp->stage, fx.c.stages[i]);
            at = sp->end;
            if (sp->kind == CS_SPAN_BUBBLE)
                bubble += sp->end - sp->start;
        }
        ck_assert(fabs(at - T) <= 1e-12);
    }
    /* One GPU per stage stands for all: the bubble rows give the share. */
    ck_assert_msg(fabs(bubble / T / (double)fx.c.gpu_count - fx.r.bubble_fraction) <= 1e-9,
                  "rows %g, reported %g", bubble / T / (double)fx.c.gpu_count,
                  fx.r.bubble_fraction);
    done(&fx);
}
END_TEST

/* Every compute op of a captured GPU is a bar with the op's own times. */
START_TEST(bars_are_the_ops)
{
    fixture fx;
    replay_dense(&fx, "analytic");
    long compute = 0;
    for (long i = 0; i < fx.c.op_count; i++) {
        const cs_trace_op *t = &fx.c.ops[i];
        if (t->klass >= CS_OP_END || t->end <= t->ready)
            continue;
        compute++;
        int found = 0;
        for (long k = 0; k < fx.c.span_count && !found; k++)
            found = fx.c.spans[k].gpu == t->gpu && fx.c.spans[k].start == t->ready &&
                    fx.c.spans[k].end == t->end && fx.c.spans[k].kind < CS_SPAN_TP;
        ck_assert_msg(found, "no bar for op %ld", i);
    }
    long bars = 0;
    for (long k = 0; k < fx.c.span_count; k++)
        bars += fx.c.spans[k].kind < CS_SPAN_TP;
    ck_assert_int_eq(bars, compute);
    done(&fx);
}
END_TEST

static long count(const char *text, const char *needle)
{
    long n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* The span of GPU `gpu` starting (end = 0) or ending at t ms, or NULL. */
static const cs_span *span_at(const cs_capture *c, long gpu, double t, int end)
{
    for (long k = 0; k < c->span_count; k++) {
        const cs_span *sp = &c->spans[k];
        if (sp->gpu == gpu && fabs((end ? sp->end : sp->start) * 1e3 - t) <= 1e-8)
            return sp;
    }
    return NULL;
}

/* The files hold what the capture holds: timeline.dat's bars are the spans
 * with a micro-batch's consecutive pieces joined (each bar starts where a
 * span starts and ends where one ends, of its kind or a backward's, and a
 * GPU's bars cover what its spans cover), trace.json an event per op. */
START_TEST(files_match_the_replay)
{
    fixture fx;
    replay_dense(&fx, "flow");
    char root[256];
    const char *marker = tu_write("marker", "");
    snprintf(root, sizeof root, "%.*s", (int)(strrchr(marker, '/') - marker), marker);
    cs_plot_options o = {0, CS_SOURCE_DIR "/plots", NULL, 0, 0, 0, 0};
    ck_assert_int_eq(cs_plot_copy_scripts(root, o.scripts), 0);
    ck_assert_int_eq(cs_timeline_write_layout(root, "l", &fx.s, &fx.r, &fx.c, &o), 0);
    ck_assert_int_eq(cs_timeline_write_trace(root, "l", &fx.c, &o), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/l/timeline.dat", root);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    long rows = 0;
    double covered[64] = {0}, spans[64] = {0};
    ck_assert(fx.c.gpu_count <= 64);
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        long r, kind, gpu;
        char name[64];
        double start, end;
        ck_assert_int_eq(sscanf(line, "%ld\t\"stage %*d GPU %ld\"\t%ld\t%63s\t%lf\t%lf", &r,
                                &gpu, &kind, name, &start, &end),
                         6);
        rows++;
        const cs_span *first = span_at(&fx.c, gpu, start, 0), *last = span_at(&fx.c, gpu, end, 1);
        ck_assert_msg(first && last, "bar %s %f-%f of GPU %ld", name, start, end, gpu);
        int backward = kind == CS_SPAN_BACKWARD_INPUT &&
                       (first->kind == CS_SPAN_BACKWARD_WEIGHT || first->kind == CS_SPAN_RECOMPUTE);
        ck_assert(kind == first->kind || backward);
        ck_assert_str_eq(name, cs_span_kind_name((cs_span_kind)kind));
        covered[r] += end - start;
    }
    fclose(f);
    for (long k = 0; k < fx.c.span_count; k++)
        for (long r = 0; r < fx.c.gpu_count; r++)
            if (fx.c.gpus[r] == fx.c.spans[k].gpu)
                spans[r] += (fx.c.spans[k].end - fx.c.spans[k].start) * 1e3;
    for (long r = 0; r < fx.c.gpu_count; r++)
        assert_close(covered[r], spans[r], 1e-9);
    ck_assert(rows > 0 && rows <= fx.c.span_count);
    /* memory.dat: every row's total is the sum of its kinds */
    snprintf(path, sizeof path, "%s/l/memory.dat", root);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    long samples = 0;
    while (fgets(line, sizeof line, f)) {
        double v[8];
        if (sscanf(line, "%lf %lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6], &v[7]) != 8)
            continue;
        samples++;
        assert_close(v[1], v[2] + v[3] + v[4] + v[5] + v[6] + v[7], 1e-9);
    }
    fclose(f);
    ck_assert(samples > fx.c.gpu_count);
    snprintf(path, sizeof path, "%s/l/trace.json", root);
    char *trace = tu_read(path);
    /* every op, and every wait of the compute stream on its own thread */
    long waits = 0;
    for (long i = 0; i < fx.c.span_count; i++)
        waits += fx.c.spans[i].kind >= CS_SPAN_TP && fx.c.spans[i].end > fx.c.spans[i].start;
    ck_assert(waits > 0);
    ck_assert_int_eq(count(trace, "\"ph\":\"X\""), fx.c.op_count + waits);
    ck_assert_int_eq(count(trace, "\"cat\":\"wait\""), waits);
    /* GPUs are processes from 1 (Perfetto reserves 0); no thread is named
     * without events: here neither previous-stage pipeline stream */
    ck_assert_int_eq(count(trace, "\"pid\":0,"), 0);
    ck_assert_int_eq(count(trace, "\"name\":\"compute stream waits\""), fx.c.gpu_count);
    long named = count(trace, "\"name\":\"thread_name\"");
    ck_assert(named > fx.c.gpu_count && named < fx.c.gpu_count * (CS_STREAMS + 1));
    ck_assert_int_eq(count(trace, "\"ph\":\"C\""), fx.c.memory_count); /* memory counters */
    ck_assert_int_eq(count(trace, "\"ph\":\"s\""), count(trace, "\"ph\":\"f\""));
    ck_assert(count(trace, "\"ph\":\"s\"") > 0);
    free(trace);
    done(&fx);
}
END_TEST

/* memory.dat past 500 changes on a GPU: at most one row per 1/500 of the
 * iteration, the highest of each, so the peak stays (here a spike among
 * 5000 changes), in time order, ending with the state at the end. */
START_TEST(memory_rows_bounded_peak_kept)
{
    fixture fx;
    replay_dense(&fx, "analytic");
    double T = fx.r.iteration_time_s;
    long n = 5000, gpu = fx.c.gpus[0];
    cs_memory_sample *m = calloc((size_t)n, sizeof *m);
    ck_assert_ptr_nonnull(m);
    for (long k = 0; k < n; k++) {
        m[k].gpu = (int32_t)gpu;
        m[k].time = T * (double)k / (double)n;
        m[k].activations = 1e9 * (1 + (double)(k % 7)) + (k == 3217 ? 5e9 : 0);
        m[k].bytes = m[k].activations;
    }
    free(fx.c.memory);
    fx.c.memory = m;
    fx.c.memory_count = fx.c.memory_cap = n;
    char root[256];
    const char *marker = tu_write("marker", "");
    snprintf(root, sizeof root, "%.*s", (int)(strrchr(marker, '/') - marker), marker);
    cs_plot_options o = {0, CS_SOURCE_DIR "/plots", NULL, 0, 0, 0, 0};
    ck_assert_int_eq(cs_plot_copy_scripts(root, o.scripts), 0);
    ck_assert_int_eq(cs_timeline_write_layout(root, "l", &fx.s, &fx.r, &fx.c, &o), 0);
    char path[512], line[512];
    snprintf(path, sizeof path, "%s/l/memory.dat", root);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    long rows = 0;
    double top = 0, last_t = -1, last_total = 0;
    while (fgets(line, sizeof line, f)) {
        double v[8];
        if (sscanf(line, "%lf %lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6], &v[7]) != 8)
            continue;
        rows++;
        ck_assert(v[0] >= last_t);
        last_t = v[0];
        last_total = v[1];
        top = v[1] > top ? v[1] : top;
    }
    fclose(f);
    ck_assert_msg(rows <= 500 + 1 && rows >= 450, "%ld rows", rows);
    assert_close(top, 1 + 3217 % 7 + 5, 1e-9);
    assert_close(last_t, T * 1e3, 1e-9);
    assert_close(last_total, 1 + (n - 1) % 7, 1e-9);
    done(&fx);
}
END_TEST

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* gnuplot draws every listed picture, non-empty; `plot` draws them again. */
START_TEST(gnuplot_renders_and_plot_redraws)
{
    const char *marker = tu_write("marker", "");
    char dir[256], cmd[1024], path[512];
    snprintf(dir, sizeof dir, "%.*s/run", (int)(strrchr(marker, '/') - marker), marker);
    snprintf(cmd, sizeof cmd, BIN " run " CS_SOURCE_DIR "/scenarios/seed-options.yaml "
                              "--network-model analytic --svg --out %s", dir);
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
    static const char *const pictures[] = {"compare.png", "compare.svg", "option1/timeline.png",
                                           "option1/memory.png", "option2/timeline.svg"};
    for (size_t i = 0; i < sizeof pictures / sizeof *pictures; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, pictures[i]);
        ck_assert_msg(file_size(path) > 1000, "%s missing or empty", pictures[i]);
    }
    snprintf(path, sizeof path, "%s/option1/timeline.png", dir);
    remove(path);
    char *out;
    snprintf(cmd, sizeof cmd, BIN " plot %s", dir);
    ck_assert_int_eq(tu_run(cmd, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "drew 10 plots"));
    ck_assert(file_size(path) > 1000);
    free(out);
    snprintf(cmd, sizeof cmd, BIN " plot %s/nothing-here", dir);
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 2);
    /* Told that no bar carries a label, the timeline is drawn without the
     * labels' pass: a picture still, but not the labelled one. */
    snprintf(path, sizeof path, "%s/plots.txt", dir);
    FILE *lf = fopen(path, "w");
    ck_assert_ptr_nonnull(lf);
    fputs("plots/timeline.gp\toption1/timeline.dat\tl0.png\tt\tpng\t0\n"
          "plots/timeline.gp\toption1/timeline.dat\tl1.png\tt\tpng\t1\n",
          lf);
    fclose(lf);
    snprintf(cmd, sizeof cmd, BIN " plot %s", dir);
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
    char l0[512], l1[512];
    snprintf(l0, sizeof l0, "%s/l0.png", dir);
    snprintf(l1, sizeof l1, "%s/l1.png", dir);
    ck_assert(file_size(l0) > 1000 && file_size(l1) > 1000);
    char *p0 = tu_read(l0), *p1 = tu_read(l1);
    ck_assert(file_size(l0) != file_size(l1) || memcmp(p0, p1, (size_t)file_size(l0)) != 0);
    free(p0);
    free(p1);
    /* A picture gnuplot fails to draw leaves nothing behind: it is drawn
     * into a temporary file, renamed only on success. */
    snprintf(path, sizeof path, "%s/plots.txt", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("plots/no-such-script.gp\tcompare.dat\tbroken.png\tt\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, BIN " plot %s", dir);
    tu_run(cmd, NULL, NULL);
    snprintf(path, sizeof path, "%s/broken.png", dir);
    ck_assert_int_eq(file_size(path), -1);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d));)
        ck_assert_msg(e->d_name[0] != '.' || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."),
                      "left behind: %s", e->d_name);
    closedir(d);
}
END_TEST

/* Reads a picture whole (its size in *n) for a byte comparison. */
static char *picture(const char *dir, const char *name, long *n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *n = file_size(path);
    ck_assert_msg(*n > 1000, "%s missing or empty", name);
    return tu_read(path);
}

/* Gnuplots started ahead draw the same bytes as gnuplots started for their
 * picture, quotes in a title included; a pool ended unused leaves no child;
 * a warm gnuplot that died hands its picture to a cold one. */
START_TEST(warm_gnuplots_draw_as_cold_ones)
{
    const char *marker = tu_write("marker", "");
    char dir[256], cmd[1024], path[512];
    snprintf(dir, sizeof dir, "%.*s/warm", (int)(strrchr(marker, '/') - marker), marker);
    snprintf(cmd, sizeof cmd, BIN " run " CS_SOURCE_DIR "/scenarios/seed-options.yaml "
                              "--network-model analytic --out %s", dir);
    ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
    snprintf(path, sizeof path, "%s/plots.txt", dir);
    static const char list[] =
        "plots/compare.gp\tcompare.dat\tq.png\t'it''s a \"quoted\" ''title'\t-1\tpng\n"
        "plots/timeline.gp\toption1/timeline.dat\tt.png\tt\tpng\t0\n";
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(list, f);
    fclose(f);
    cs_plot_pool *pool = cs_plot_warm(3);
    ck_assert_ptr_nonnull(pool);
    cs_plot_drawing *d;
    ck_assert_int_eq(cs_plot_start(dir, stderr, pool, &d), 0);
    ck_assert_int_eq(cs_plot_wait(d), 2);
    long nw[2], nc[2];
    char *warm[2] = {picture(dir, "q.png", &nw[0]), picture(dir, "t.png", &nw[1])};
    ck_assert_int_eq(cs_plot_render(dir, stderr), 2);
    char *cold[2] = {picture(dir, "q.png", &nc[0]), picture(dir, "t.png", &nc[1])};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(nw[i], nc[i]);
        ck_assert_int_eq(memcmp(warm[i], cold[i], (size_t)nw[i]), 0);
        free(warm[i]);
        free(cold[i]);
    }
    /* Ended unused: every gnuplot reaped. */
    cs_plot_pool_free(cs_plot_warm(2));
    errno = 0;
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    /* A "gnuplot" that dies after the warm-up's first line, before its
     * picture. */
    char fake[300], *real = getenv("PATH");
    ck_assert_ptr_nonnull(real);
    char *saved = strdup(real);
    snprintf(fake, sizeof fake, "%s/fakebin", dir);
    ck_assert_int_eq(mkdir(fake, 0755), 0);
    snprintf(path, sizeof path, "%s/gnuplot", fake);
    f = fopen(path, "w"); /* it reads the warm-up's first line, then exits */
    ck_assert_ptr_nonnull(f);
    fputs("#!/bin/sh\nread line\n", f);
    fclose(f);
    ck_assert_int_eq(chmod(path, 0755), 0);
    ck_assert_int_eq(setenv("PATH", fake, 1), 0);
    pool = cs_plot_warm(1);
    ck_assert_int_eq(setenv("PATH", saved, 1), 0);
    ck_assert_ptr_nonnull(pool);
    siginfo_t info;
    ck_assert_int_eq(waitid(P_ALL, 0, &info, WEXITED | WNOWAIT), 0); /* it has exited */
    remove(path);
    rmdir(fake);
    snprintf(path, sizeof path, "%s/q.png", dir);
    remove(path);
    ck_assert_int_eq(cs_plot_start(dir, stderr, pool, &d), 0);
    ck_assert_int_eq(cs_plot_wait(d), 2);
    long n;
    char *again = picture(dir, "q.png", &n);
    ck_assert_int_eq(n, nc[0]);
    free(again);
    errno = 0;
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    free(saved);
}
END_TEST

/* A plots.txt that is a FIFO or endless (/dev/zero) is refused at once, not
 * waited on or read without end. */
START_TEST(plot_list_must_be_a_regular_file)
{
    const char *marker = tu_write("marker", "");
    char dir[256], cmd[1024], path[512], *err;
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(marker, '/') - marker), marker);
    snprintf(path, sizeof path, "%s/plots.txt", dir);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(i ? symlink("/dev/zero", path) : mkfifo(path, 0600), 0);
        snprintf(cmd, sizeof cmd, "timeout 20 " BIN " plot %s", dir);
        ck_assert_int_eq(tu_run(cmd, NULL, &err), 2);
        ck_assert_ptr_nonnull(strstr(err, "plots.txt: not a regular file"));
        free(err);
        unlink(path);
    }
}
END_TEST

/* Without gnuplot on PATH the run still exits 0 with its data, and says how
 * to draw the pictures. */
START_TEST(run_without_gnuplot)
{
    const char *marker = tu_write("marker", "");
    char dir[256], cmd[1024], path[512], *err;
    snprintf(dir, sizeof dir, "%.*s/nognuplot", (int)(strrchr(marker, '/') - marker), marker);
    snprintf(cmd, sizeof cmd, "env PATH=/nonexistent " BIN " run " CS_SOURCE_DIR
                              "/scenarios/seed-options.yaml --network-model analytic --out %s",
             dir);
    ck_assert_int_eq(tu_run(cmd, NULL, &err), 0);
    ck_assert_ptr_nonnull(strstr(err, "gnuplot is not installed"));
    snprintf(path, sizeof path, "%s/option1/timeline.dat", dir);
    ck_assert(file_size(path) > 0);
    snprintf(path, sizeof path, "%s/option1/timeline.png", dir);
    ck_assert_int_eq(file_size(path), -1);
    free(err);
}
END_TEST

/* By default the first GPU of at most 8 stages is captured: with 16
 * stages the first, the last and the six nearest to even spacing,
 * (i 15 + 3) / 7 for i = 0..7. */
/* A small model on 16 stages of one GPU (analytic network), checked. */
static void load_sixteen(cs_scenario *s, cs_layout_sizes *z)
{
    cs_diags d;
    cs_diags_init(&d);
    ck_assert_int_eq(tu_load_scenario("model: { name: g, num_layers: 16, hidden_size: 256, "
                                      "num_attention_heads: 4, ffn_hidden_size: 1024, "
                                      "vocab_size: 1024 }\n"
                                      "cluster: { base: dgx-h100, nodes: 2 }\n"
                                      "training: { seq_length: 256, global_batch_size: 16 }\n"
                                      "network_model: analytic\n"
                                      "layouts: [{ name: l, tp: 1, pp: 16, dp: 1 }]\n",
                                      s, &d),
                     0);
    ck_assert_int_eq(cs_layout_check(s, &s->layouts[0], z, &d), 0);
    cs_diags_free(&d);
}

START_TEST(default_capture_is_bounded)
{
    cs_scenario s;
    cs_layout_sizes z;
    load_sixteen(&s, &z);
    cs_capture c;
    ck_assert_int_eq(cs_capture_init(&c, &s.layouts[0], &z, NULL, 0), 0);
    long want[8] = {0, 2, 4, 6, 9, 11, 13, 15};
    ck_assert_int_eq(c.gpu_count, 8);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(c.stages[i], want[i]);
    cs_capture_free(&c);
    cs_scenario_free(&s);
}
END_TEST

/* A 16-stage layout replayed with its default capture: the first GPU of
 * stages 0, 2, 4, 6, 9, 11, 13 and 15. */
static void replay_sixteen(fixture *fx)
{
    load_sixteen(&fx->s, &fx->z);
    ck_assert_int_eq(cs_capture_init(&fx->c, &fx->s.layouts[0], &fx->z, NULL, 0), 0);
    ck_assert_int_eq(fx->c.gpu_count, 8);
    ck_assert_int_eq(cs_replay_capture(&fx->s, &fx->s.layouts[0], &fx->z, fx->s.network_model, 1,
                                       &fx->r, &fx->c),
                     0);
}

/* The trace of fx's capture under o, in memory (owned by the caller). */
static char *trace_text(const fixture *fx, const cs_plot_options *o)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    cs_timeline_trace(f, &fx->c, o);
    fclose(f);
    return text;
}

/* Events the bound counts for a GPU, from the capture: its ops, an arrow
 * end per pipeline op, its waits and its memory counters. */
static long events_of(const cs_capture *c, long gpu)
{
    long n = 0;
    for (long i = 0; i < c->op_count; i++)
        n += c->ops[i].gpu == gpu ? 1 + (c->ops[i].flow >= 0) : 0;
    for (long i = 0; i < c->span_count; i++)
        n += c->spans[i].gpu == gpu && c->spans[i].kind >= CS_SPAN_TP &&
             c->spans[i].end > c->spans[i].start;
    for (long i = 0; i < c->memory_count; i++)
        n += c->memory[i].gpu == gpu;
    return n;
}

/* Whether the trace names GPU gpu as a process. */
static int traces_gpu(const char *trace, long gpu)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"process_name\",\"ph\":\"M\",\"pid\":%ld,", gpu + 1);
    return strstr(trace, needle) != NULL;
}

/* Events of any kind that carry GPU gpu's pid. */
static long events_with_pid(const char *trace, long gpu)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"pid\":%ld,", gpu + 1);
    return count(trace, needle);
}

/* The default trace takes the captured GPUs spread out - the first, the
 * last, then each the farthest from those taken (of eight: rows 0, 7, 3, 5,
 * 1, ...) - while their events fit in the bound; a bound one event short
 * leaves the next out. Pipeline arrows are written only with both ends;
 * GPUs asked for by name are traced whatever the bound. */
START_TEST(trace_bound_spreads_the_gpus)
{
    fixture fx;
    replay_sixteen(&fx);
    static const int order[] = {0, 7, 3, 5, 1, 2, 4, 6};
    long sum = 0;
    for (int m = 1; m <= 8; m++) {
        sum += events_of(&fx.c, fx.c.gpus[order[m - 1]]);
        for (int shortfall = 0; shortfall <= 1; shortfall++) {
            cs_plot_options o = {0, NULL, NULL, 0, sum - shortfall, 0, 0};
            char *trace = trace_text(&fx, &o);
            int want = m - (shortfall && m > 1); /* the first always */
            for (int k = 0; k < 8; k++) {
                int in = 0;
                for (int q = 0; q < want; q++)
                    in |= order[q] == k;
                ck_assert_msg(traces_gpu(trace, fx.c.gpus[k]) == in,
                              "bound %ld: row %d traced %d, expected %d", sum - shortfall, k,
                              traces_gpu(trace, fx.c.gpus[k]), in);
                /* an untraced GPU has no event at all */
                ck_assert(in || events_with_pid(trace, fx.c.gpus[k]) == 0);
            }
            free(trace);
        }
    }
    /* no bound: every captured GPU; no two of the captured stages are
     * neighbours, so no pipeline arrow has both ends and none is written */
    long sends = 0;
    for (long i = 0; i < fx.c.op_count; i++)
        sends += fx.c.ops[i].flow >= 0;
    ck_assert(sends > 0);
    cs_plot_options o = {0, NULL, NULL, 0, 0, 0, 0};
    char *trace = trace_text(&fx, &o);
    for (int k = 0; k < 8; k++)
        ck_assert(traces_gpu(trace, fx.c.gpus[k]));
    ck_assert_int_eq(count(trace, "\"ph\":\"s\""), 0);
    ck_assert_int_eq(count(trace, "\"ph\":\"f\""), 0);
    free(trace);
    /* by name: whatever the bound */
    long one = fx.c.gpus[2];
    cs_plot_options named = {0, NULL, &one, 1, 1, 0, 0};
    trace = trace_text(&fx, &named);
    for (int k = 0; k < 8; k++) {
        ck_assert_int_eq(traces_gpu(trace, fx.c.gpus[k]), k == 2);
        ck_assert(k == 2 || events_with_pid(trace, fx.c.gpus[k]) == 0);
    }
    free(trace);
    done(&fx);
}
END_TEST

/* The trace's tight JSON: no spaces between tokens and no indentation, each
 * element of the outer array on its own line, raw elements put as given. */
START_TEST(tight_json_and_raw_elements)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    cs_json j;
    cs_json_init_tight(&j, f);
    cs_json_object_begin(&j, NULL);
    cs_json_string(&j, "a", "x y");
    cs_json_array_begin(&j, "list");
    cs_json_inline_object_begin(&j, NULL);
    cs_json_int(&j, "n", 1);
    cs_json_fixed(&j, "t", 2.5, 3);
    cs_json_object_end(&j);
    cs_json_raw(&j, "{\"raw\":true}", 12);
    cs_json_array_end(&j);
    cs_json_object_end(&j);
    fclose(f);
    ck_assert_str_eq(text, "{\n\"a\":\"x y\",\n\"list\":[\n{\"n\":1,\"t\":2.500},\n{\"raw\":true}\n]\n}\n");
    free(text);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("timeline");
    TCase *t = tcase_create("files");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, spans_tile_the_iteration);
    tcase_add_test(t, bars_are_the_ops);
    tcase_add_test(t, files_match_the_replay);
    tcase_add_test(t, memory_rows_bounded_peak_kept);
    tcase_add_test(t, default_capture_is_bounded);
    tcase_add_test(t, trace_bound_spreads_the_gpus);
    tcase_add_test(t, tight_json_and_raw_elements);
    tcase_add_test(t, gnuplot_renders_and_plot_redraws);
    tcase_add_test(t, warm_gnuplots_draw_as_cold_ones);
    tcase_add_test(t, run_without_gnuplot);
    tcase_add_test(t, plot_list_must_be_a_regular_file);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
