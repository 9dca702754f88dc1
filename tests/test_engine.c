/* The event engine: time order, insertion order on ties, the step hook. */
#include <stdlib.h>

#include "net/engine.h"
#include "testutil.h"

typedef struct log {
    double time[20000];
    long arg[20000];
    int count;
    int hooks;
    int hook_after[64]; /* events seen when each hook ran */
    cs_engine *e;
} log_t;

static void record(void *ctx, long arg, uint64_t tag)
{
    (void)tag;
    log_t *l = ctx;
    l->time[l->count] = cs_engine_now(l->e);
    l->arg[l->count++] = arg;
}

START_TEST(time_order_and_ties_in_insertion_order)
{
    static log_t l;
    l.count = 0;
    l.e = cs_engine_create();
    double times[] = {3.0, 1.0, 2.0, 1.0, 3.0, 1.0};
    for (long i = 0; i < 6; i++)
        ck_assert_int_eq(cs_engine_at(l.e, times[i], record, &l, i, 0), 0);
    ck_assert_uint_eq(cs_engine_run(l.e), 6);
    long want[] = {1, 3, 5, 2, 0, 4};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(l.arg[i], want[i]);
    ck_assert(cs_engine_now(l.e) == 3.0);
    cs_engine_destroy(l.e);
}
END_TEST

/* Thousands of random events come out sorted by (time, insertion). */
START_TEST(random_events_sorted)
{
    static log_t l;
    l.count = 0;
    l.e = cs_engine_create();
    unsigned long x = 12345;
    for (long i = 0; i < 20000; i++) {
        x = x * 6364136223846793005ul + 1442695040888963407ul;
        double t = (double)((x >> 33) % 500); /* many ties */
        ck_assert_int_eq(cs_engine_at(l.e, t, record, &l, i, 0), 0);
    }
    cs_engine_run(l.e);
    ck_assert_int_eq(l.count, 20000);
    for (int i = 1; i < l.count; i++) {
        ck_assert(l.time[i - 1] <= l.time[i]);
        if (l.time[i - 1] == l.time[i])
            ck_assert_int_lt(l.arg[i - 1], l.arg[i]);
    }
    cs_engine_destroy(l.e);
}
END_TEST

static void chain(void *ctx, long arg, uint64_t tag)
{
    log_t *l = ctx;
    record(ctx, arg, tag);
    /* An event scheduled for "now" runs in the same instant; one in the past
     * is clamped to now. */
    if (arg < 3)
        cs_engine_at(l->e, arg == 1 ? cs_engine_now(l->e) - 5 : cs_engine_now(l->e), chain, l,
                     arg + 1, 0);
}

static void hook(void *ctx)
{
    log_t *l = ctx;
    l->hook_after[l->hooks++] = l->count;
}

START_TEST(step_hook_once_per_instant)
{
    static log_t l;
    l.count = l.hooks = 0;
    l.e = cs_engine_create();
    cs_engine_set_step_hook(l.e, hook, &l);
    cs_engine_at(l.e, 1.0, chain, &l, 0, 0);
    cs_engine_at(l.e, 2.0, record, &l, 10, 0);
    cs_engine_at(l.e, 2.0, record, &l, 11, 0);
    cs_engine_run(l.e);
    /* Instant 1.0 holds four chained events, instant 2.0 two. */
    ck_assert_int_eq(l.hooks, 2);
    ck_assert_int_eq(l.hook_after[0], 4);
    ck_assert_int_eq(l.hook_after[1], 6);
    for (int i = 0; i < 4; i++)
        ck_assert(l.time[i] == 1.0);
    ck_assert_uint_eq(cs_engine_events(l.e), 6);
    cs_engine_destroy(l.e);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("engine");
    TCase *t = tcase_create("events");
    tcase_add_test(t, time_order_and_ties_in_insertion_order);
    tcase_add_test(t, random_events_sorted);
    tcase_add_test(t, step_hook_once_per_instant);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_main(suite()); }
