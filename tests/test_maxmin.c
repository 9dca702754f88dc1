/* The max-min fair rate solver: random instances checked against an
 * independent water-filling reference and the max-min property, and small
 * closed forms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/maxmin.h"
#include "testutil.h"

static unsigned long long lcg_state;

static unsigned long long lcg(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return lcg_state >> 33;
}

static double uniform(void) { return (double)lcg() / 2147483648.0; }

/* Reference: raise every unfrozen flow by the same increment until some link
 * fills, freeze the flows on full links, repeat. O(rounds x size), plain. */
static void water_fill(int L, const double *cap, int F, const size_t *start, const long *route,
                       double *rate)
{
    int frozen[16] = {0};
    double used[16];
    for (int f = 0; f < F; f++)
        rate[f] = 0;
    for (;;) {
        int unfrozen_on[16] = {0};
        for (int f = 0; f < F; f++)
            if (!frozen[f])
                for (size_t i = start[f]; i < start[f + 1]; i++)
                    unfrozen_on[route[i]]++;
        for (int l = 0; l < L; l++)
            used[l] = 0;
        for (int f = 0; f < F; f++)
            for (size_t i = start[f]; i < start[f + 1]; i++)
                used[route[i]] += rate[f];
        double inc = INFINITY;
        int argmin = -1;
        for (int l = 0; l < L; l++)
            if (unfrozen_on[l]) {
                double d = (cap[l] - used[l]) / unfrozen_on[l];
                if (d < inc) {
                    inc = d;
                    argmin = l;
                }
            }
        if (argmin < 0)
            break;
        for (int f = 0; f < F; f++)
            if (!frozen[f])
                rate[f] += inc;
        for (int l = 0; l < L; l++)
            used[l] = 0;
        for (int f = 0; f < F; f++)
            for (size_t i = start[f]; i < start[f + 1]; i++)
                used[route[i]] += rate[f];
        for (int l = 0; l < L; l++) {
            if (!unfrozen_on[l] || (l != argmin && cap[l] - used[l] > 1e-12 * cap[l]))
                continue;
            for (int f = 0; f < F; f++)
                for (size_t i = start[f]; i < start[f + 1]; i++)
                    if (route[i] == l)
                        frozen[f] = 1;
        }
    }
}

/* Feasible, and every flow has a saturated link on which no flow gets more. */
static void check_maxmin_property(int L, const double *cap, int F, const size_t *start,
                                  const long *route, const double *rate, int instance)
{
    double load[16] = {0}, top[16] = {0};
    for (int f = 0; f < F; f++) {
        ck_assert_msg(rate[f] > 0, "instance %d: flow %d has rate %g", instance, f, rate[f]);
        for (size_t i = start[f]; i < start[f + 1]; i++) {
            load[route[i]] += rate[f];
            if (rate[f] > top[route[i]])
                top[route[i]] = rate[f];
        }
    }
    for (int l = 0; l < L; l++)
        ck_assert_msg(load[l] <= cap[l] * (1 + 1e-9), "instance %d: link %d carries %.17g > %.17g",
                      instance, l, load[l], cap[l]);
    for (int f = 0; f < F; f++) {
        int bottleneck = 0;
        for (size_t i = start[f]; i < start[f + 1] && !bottleneck; i++) {
            long l = route[i];
            bottleneck = load[l] >= cap[l] * (1 - 1e-9) && rate[f] >= top[l] * (1 - 1e-9);
        }
        ck_assert_msg(bottleneck, "instance %d: flow %d (rate %g) has no bottleneck link",
                      instance, f, rate[f]);
    }
}

START_TEST(maxmin_random_instances)
{
    cs_maxmin *m = cs_maxmin_create();
    ck_assert_ptr_nonnull(m);
    lcg_state = 20240601;
    for (int inst = 0; inst < 400; inst++) {
        int L = 2 + (int)(lcg() % 7);  /* 2..8 */
        int F = 1 + (int)(lcg() % 10); /* 1..10 */
        double cap[16], want[16], got[16];
        size_t start[17];
        long route[16 * 16];
        /* Half the instances have few distinct capacities, for ties. */
        for (int l = 0; l < L; l++)
            cap[l] = inst % 2 ? 1 + (double)(lcg() % 3) : 0.5 + 99.5 * uniform();
        size_t k = 0;
        for (int f = 0; f < F; f++) {
            start[f] = k;
            int first = (int)(lcg() % (unsigned)L);
            /* A random subset of links, in random order, at least one. */
            int order[16];
            for (int l = 0; l < L; l++)
                order[l] = l;
            for (int l = L - 1; l > 0; l--) {
                int j = (int)(lcg() % (unsigned)(l + 1)), t = order[l];
                order[l] = order[j];
                order[j] = t;
            }
            for (int i = 0; i < L; i++)
                if (order[i] == first || lcg() % 3 == 0)
                    route[k++] = order[i];
        }
        start[F] = k;
        for (int f = 0; f < F; f++)
            got[f] = -1;
        ck_assert_int_eq(
            cs_maxmin_solve(m, (size_t)L, cap, (size_t)F, start, route, NULL, got), 0);
        water_fill(L, cap, F, start, route, want);
        for (int f = 0; f < F; f++)
            ck_assert_msg(fabs(got[f] - want[f]) <= 1e-9 * want[f],
                          "instance %d flow %d: solver %.17g, water-filling %.17g", inst, f,
                          got[f], want[f]);
        check_maxmin_property(L, cap, F, start, route, got, inst);
    }
    cs_maxmin_destroy(m);
}
END_TEST

START_TEST(maxmin_small_closed_forms)
{
    cs_maxmin *m = cs_maxmin_create();
    double rate[4];
    /* Classic: link 0 (cap 1) shared by flows 0 and 1; link 1 (cap 10) by
     * flows 1 and 2. Flow 1 bottlenecked at 1/2 on link 0, flow 2 gets the rest. */
    double cap[2] = {1, 10};
    size_t start[4] = {0, 1, 3, 4};
    long route[4] = {0, 0, 1, 1};
    ck_assert_int_eq(cs_maxmin_solve(m, 2, cap, 3, start, route, NULL, rate), 0);
    ck_assert(rate[0] == 0.5 && rate[1] == 0.5 && rate[2] == 9.5);
    /* A flow that crosses no link gets 0. */
    size_t s2[3] = {0, 0, 1};
    long r2[1] = {1};
    ck_assert_int_eq(cs_maxmin_solve(m, 2, cap, 2, s2, r2, NULL, rate), 0);
    ck_assert(rate[0] == 0 && rate[1] == 10);
    /* No flows at all. */
    size_t s3[1] = {0};
    ck_assert_int_eq(cs_maxmin_solve(m, 2, cap, 0, s3, r2, NULL, rate), 0);
    cs_maxmin_destroy(m);
    cs_maxmin_destroy(NULL);
}
END_TEST

/* Weights: a flow of weight w on a link takes w x its rate there and counts
 * as w flows in the link's share. */
START_TEST(maxmin_weighted_closed_form)
{
    cs_maxmin *m = cs_maxmin_create();
    double rate[2];
    /* Link 0 (cap 12): flow 0 with weight 3, flow 1 with weight 1; link 1
     * (cap 2): flow 1. Link 1's share 2 is the smaller (link 0's: 12 / 4):
     * flow 1 gets 2; link 0 keeps 10 for flow 0's weight 3: 10 / 3. */
    double cap[2] = {12, 2};
    size_t start[3] = {0, 1, 3};
    long route[3] = {0, 0, 1};
    double weight[3] = {3, 1, 1};
    ck_assert_int_eq(cs_maxmin_solve(m, 2, cap, 2, start, route, weight, rate), 0);
    ck_assert(rate[1] == 2);
    assert_close(rate[0], 10.0 / 3.0, 1e-15);
    assert_close(3 * rate[0] + rate[1], 12, 1e-15); /* link 0 full */
    cs_maxmin_destroy(m);
}
END_TEST

/* A flow of integer weight k gets what each of k plain copies of it would;
 * all weights 1 are plain max-min to the bit. */
START_TEST(maxmin_weight_is_copies)
{
    cs_maxmin *m = cs_maxmin_create();
    lcg_state = 777;
    for (int inst = 0; inst < 300; inst++) {
        int L = 2 + (int)(lcg() % 6), F = 1 + (int)(lcg() % 6);
        double cap[8], w[64], ones[64], got[8], plain[8], copies[64];
        size_t start[9], cstart[65];
        long route[64], croute[512];
        int k[8];
        for (int l = 0; l < L; l++)
            cap[l] = inst % 2 ? 1 + (double)(lcg() % 3) : 0.5 + 99.5 * uniform();
        size_t n = 0, cn = 0;
        int cf = 0;
        for (int f = 0; f < F; f++) {
            start[f] = n;
            k[f] = 1 + (int)(lcg() % 3);
            int first = (int)(lcg() % (unsigned)L);
            size_t from = n;
            for (int l = 0; l < L; l++)
                if (l == first || lcg() % 3 == 0) {
                    route[n] = l;
                    w[n] = k[f];
                    ones[n++] = 1;
                }
            for (int c = 0; c < k[f]; c++) {
                cstart[cf++] = cn;
                for (size_t i = from; i < n; i++)
                    croute[cn++] = route[i];
            }
        }
        start[F] = n;
        cstart[cf] = cn;
        ck_assert_int_eq(cs_maxmin_solve(m, (size_t)L, cap, (size_t)F, start, route, w, got), 0);
        ck_assert_int_eq(
            cs_maxmin_solve(m, (size_t)L, cap, (size_t)cf, cstart, croute, NULL, copies), 0);
        for (int f = 0, c = 0; f < F; c += k[f], f++)
            ck_assert_msg(fabs(got[f] - copies[c]) <= 1e-12 * copies[c],
                          "instance %d flow %d: weight %d gives %.17g, copies %.17g", inst, f,
                          k[f], got[f], copies[c]);
        ck_assert_int_eq(
            cs_maxmin_solve(m, (size_t)L, cap, (size_t)F, start, route, ones, got), 0);
        ck_assert_int_eq(
            cs_maxmin_solve(m, (size_t)L, cap, (size_t)F, start, route, NULL, plain), 0);
        ck_assert(memcmp(got, plain, (size_t)F * sizeof *got) == 0);
    }
    cs_maxmin_destroy(m);
}
END_TEST

/* A flow alone takes the shortcut (its tightest link's share); beside a
 * second flow on links of its own it goes through progressive filling.
 * Both give it the same rate to the bit, weighted or not, over links
 * without capacity or without bound too, and the shortcut gives a flow
 * crossing no link rate 0 as the solver does. */
START_TEST(maxmin_lone_flow_is_progressive_filling)
{
    cs_maxmin *m = cs_maxmin_create();
    lcg_state = 4242;
    for (int inst = 0; inst < 500; inst++) {
        int L = 1 + (int)(lcg() % 7), weighted = inst % 2;
        double cap[16], w[16], alone, pair[2];
        long route[16];
        size_t n = 0;
        for (int l = 0; l < L; l++) {
            /* now and then a link without capacity (clamped to 0) or without
             * bound; weights above and below 1 (a bundle's are fractions) */
            unsigned kind = (unsigned)(lcg() % 16);
            cap[l] = kind == 0 ? 0 : kind == 1 ? -0.0 : kind == 2 ? INFINITY
                                                                 : 0.1 + 400 * uniform();
            if (l == 0 || lcg() % 2) {
                route[n] = l;
                w[n++] = !weighted ? 1 : lcg() % 2 ? 0.01 + uniform() : 1 + (double)(lcg() % 8);
            }
        }
        size_t one[2] = {0, n};
        ck_assert_int_eq(cs_maxmin_solve(m, (size_t)L, cap, 1, one, route, weighted ? w : NULL,
                                         &alone),
                         0);
        /* the second flow on a link of its own, L */
        cap[L] = 1 + uniform();
        route[n] = L;
        w[n] = 1;
        size_t two[3] = {0, n, n + 1};
        ck_assert_int_eq(cs_maxmin_solve(m, (size_t)L + 1, cap, 2, two, route,
                                         weighted ? w : NULL, pair),
                         0);
        ck_assert_msg(memcmp(&alone, &pair[0], sizeof alone) == 0,
                      "instance %d: alone %.17g, beside another %.17g", inst, alone, pair[0]);
    }
    size_t none[2] = {0, 0};
    double cap = 5, rate = -1;
    ck_assert_int_eq(cs_maxmin_solve(m, 1, &cap, 1, none, NULL, NULL, &rate), 0);
    ck_assert(rate == 0);
    cs_maxmin_destroy(m);
}
END_TEST

/* Two flows take their own short path (the link the heap would pop first,
 * then the other flow's lowest share); beside a third flow on a link of its
 * own they go through the heap. Both give the same rates to the bit, over
 * shared and private links, weighted or not, with ties forced by small
 * integer capacities (the lower link first, as the heap breaks them). */
START_TEST(maxmin_two_flows_are_progressive_filling)
{
    cs_maxmin *m = cs_maxmin_create();
    lcg_state = 9191;
    for (int inst = 0; inst < 1000; inst++) {
        int L = 1 + (int)(lcg() % 7), weighted = inst % 2, ties = inst % 4 >= 2;
        double cap[16], w[32], two[2], three[3];
        long route[32];
        size_t n = 0, start[4];
        for (int l = 0; l < L; l++)
            cap[l] = ties ? 1 + (double)(lcg() % 3) : 0.1 + 400 * uniform();
        for (int f = 0; f < 2; f++) {
            start[f] = n;
            int first = (int)(lcg() % (unsigned)L);
            for (int l = 0; l < L; l++)
                if (l == first || lcg() % 2) {
                    route[n] = l;
                    w[n++] = !weighted ? 1 : ties ? 1 + (double)(lcg() % 3) : 0.01 + 3 * uniform();
                }
        }
        start[2] = n;
        ck_assert_int_eq(
            cs_maxmin_solve(m, (size_t)L, cap, 2, start, route, weighted ? w : NULL, two), 0);
        cap[L] = 1 + uniform(); /* the third flow's own link */
        route[n] = L;
        w[n] = 1;
        start[3] = n + 1;
        ck_assert_int_eq(cs_maxmin_solve(m, (size_t)L + 1, cap, 3, start, route,
                                         weighted ? w : NULL, three),
                         0);
        for (int f = 0; f < 2; f++)
            ck_assert_msg(memcmp(&two[f], &three[f], sizeof two[f]) == 0,
                          "instance %d flow %d: two %.17g, beside a third %.17g", inst, f, two[f],
                          three[f]);
    }
    /* Two a review found, where the shared link's share falls through
     * rounding once the first flow freezes (so that the heap's stale key
     * is not the lower bound the shortcut had taken it for): subnormal
     * capacities, and ordinary weighted ones. Links 0 and 1 private, 2
     * shared; link 3 the third flow's. */
    const double u = ldexp(1, -1074), s = 0x1.88b817ff6f8c7p-1;
    const double caps[2][4] = {{2 * u, 2 * u, 3 * u, 1}, {s, s, 12.998748779296875, 1}};
    const double weights[2][5] = {{1, 1, 1, 1, 1}, {1, 7.292572021484375, 1, 9.654296875, 1}};
    for (int c = 0; c < 2; c++) {
        long route[5] = {0, 2, 1, 2, 3};
        size_t two_start[3] = {0, 2, 4}, three_start[4] = {0, 2, 4, 5};
        double two[2], three[3];
        ck_assert_int_eq(cs_maxmin_solve(m, 3, caps[c], 2, two_start, route, weights[c], two), 0);
        ck_assert_int_eq(
            cs_maxmin_solve(m, 4, caps[c], 3, three_start, route, weights[c], three), 0);
        ck_assert_msg(memcmp(two, three, sizeof two) == 0, "case %d: %.17g %.17g against %.17g %.17g",
                      c, two[0], two[1], three[0], three[1]);
    }
    cs_maxmin_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("maxmin");
    TCase *t = tcase_create("maxmin");
    tcase_add_test(t, maxmin_random_instances);
    tcase_add_test(t, maxmin_small_closed_forms);
    tcase_add_test(t, maxmin_weighted_closed_form);
    tcase_add_test(t, maxmin_weight_is_copies);
    tcase_add_test(t, maxmin_lone_flow_is_progressive_filling);
    tcase_add_test(t, maxmin_two_flows_are_progressive_filling);
    suite_add_tcase(s, t);
    return tu_main(s);
}
