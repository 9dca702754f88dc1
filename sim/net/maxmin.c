#include "net/maxmin.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
    double share;
    long link;
} entry;

struct cs_maxmin {
    double *remaining;
    double *load;   /* per link: weight of its unfrozen flows */
    long *unfrozen; /* per link: how many there are */
    size_t *link_start; /* CSR: flows on each link */
    long *link_flows;
    unsigned char *frozen;
    entry *heap;
    size_t heap_count, heap_cap;
    size_t remaining_cap, load_cap, unfrozen_cap, link_start_cap, frozen_cap, link_flows_cap;
};

cs_maxmin *cs_maxmin_create(void) { return calloc(1, sizeof(cs_maxmin)); }

void cs_maxmin_destroy(cs_maxmin *m)
{
    if (!m)
        return;
    free(m->remaining);
    free(m->load);
    free(m->unfrozen);
    free(m->link_start);
    free(m->link_flows);
    free(m->frozen);
    free(m->heap);
    free(m);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

static int reserve(cs_maxmin *m, size_t nlinks, size_t nflows, size_t pairs)
{
    return grow((void **)&m->remaining, &m->remaining_cap, nlinks + 1, sizeof *m->remaining) ||
                   grow((void **)&m->load, &m->load_cap, nlinks + 1, sizeof *m->load) ||
                   grow((void **)&m->unfrozen, &m->unfrozen_cap, nlinks + 1, sizeof *m->unfrozen) ||
                   grow((void **)&m->link_start, &m->link_start_cap, nlinks + 1,
                        sizeof *m->link_start) ||
                   grow((void **)&m->frozen, &m->frozen_cap, nflows + 1, 1) ||
                   grow((void **)&m->link_flows, &m->link_flows_cap, pairs + 1,
                        sizeof *m->link_flows)
               ? -1
               : 0;
}

static int heap_push(cs_maxmin *m, double share, long link)
{
    if (grow((void **)&m->heap, &m->heap_cap, m->heap_count + 1, sizeof *m->heap))
        return -1;
    size_t i = m->heap_count++;
    entry x = {share, link};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (m->heap[p].share < x.share || (m->heap[p].share == x.share && m->heap[p].link < x.link))
            break;
        m->heap[i] = m->heap[p];
        i = p;
    }
    m->heap[i] = x;
    return 0;
}

static entry heap_pop(cs_maxmin *m)
{
    entry top = m->heap[0];
    entry x = m->heap[--m->heap_count];
    size_t i = 0, n = m->heap_count;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n &&
            (m->heap[c + 1].share < m->heap[c].share ||
             (m->heap[c + 1].share == m->heap[c].share && m->heap[c + 1].link < m->heap[c].link)))
            c++;
        if (x.share < m->heap[c].share || (x.share == m->heap[c].share && x.link < m->heap[c].link))
            break;
        m->heap[i] = m->heap[c];
        i = c;
    }
    if (n)
        m->heap[i] = x;
    return top;
}

static double share_of(const cs_maxmin *m, long l)
{
    double r = m->remaining[l];
    return (r > 0 ? r : 0) / m->load[l];
}

double cs_maxmin_lone_rate(const double *cap, size_t pairs, const long *route,
                           const double *weight)
{
    double best = 0;
    for (size_t i = 0; i < pairs; i++) {
        double c = cap[route[i]], share = (c > 0 ? c : 0) / (weight ? weight[i] : 1);
        if (i == 0 || share < best)
            best = share;
    }
    return best;
}

/* Each link's load from its flow count (in unfrozen) or, with weights, the
 * sum of its flows' weights in route order. Without weights every load is
 * its count, so that the shares are those of plain max-min to the bit. */
static void set_loads(cs_maxmin *m, size_t nlinks, size_t pairs, const long *route,
                      const double *weight)
{
    for (size_t l = 0; l < nlinks; l++)
        m->load[l] = (double)m->unfrozen[l];
    if (weight) {
        for (size_t l = 0; l < nlinks; l++)
            m->load[l] = 0;
        for (size_t i = 0; i < pairs; i++)
            m->load[route[i]] += weight[i];
    }
}

/* Per link: its flows (unfrozen) and their load. */
static void link_loads(cs_maxmin *m, size_t nlinks, size_t pairs, const long *route,
                       const double *weight)
{
    memset(m->unfrozen, 0, (nlinks + 1) * sizeof *m->unfrozen);
    for (size_t i = 0; i < pairs; i++)
        m->unfrozen[route[i]]++;
    set_loads(m, nlinks, pairs, route, weight);
}

/* Flow f frozen at `share`: what it takes off each of its links, which it
 * no longer counts in. */
static void take_flow(cs_maxmin *m, const size_t *start, const long *route, const double *weight,
                      size_t f, double share)
{
    for (size_t j = start[f]; j < start[f + 1]; j++) {
        double w = weight ? weight[j] : 1;
        m->remaining[route[j]] -= weight ? share * w : share;
        m->load[route[j]] -= w;
        m->unfrozen[route[j]]--;
    }
}

static int before(const entry *a, const entry *b)
{
    return a->share < b->share || (a->share == b->share && a->link < b->link);
}

/* The heap's second step for the flow left, its links' entries in
 * e[0..k-1] keyed by their shares before the first flow froze: the lowest
 * key pops first (the lower link on a tie); a link whose share has moved
 * since (rounding can move it down as well as up) is keyed again at its
 * share now, as the heap pushes it again; the first whose key still holds
 * gives the rate. A NaN share (a load cancelled to 0, outside the
 * preconditions) ends it, where the heap would not end. */
static double second_rate(const cs_maxmin *m, entry *e, size_t k)
{
    for (;;) {
        size_t b = 0;
        for (size_t i = 1; i < k; i++)
            if (before(&e[i], &e[b]))
                b = i;
        double now = share_of(m, e[b].link);
        if (now == e[b].share || now != now)
            return now;
        e[b].share = now;
    }
}

/* Two flows: progressive filling without the heap's upkeep, popping what
 * it would pop in the order it would. The link of the lowest share (the
 * lower index on a tie) freezes the flows crossing it; the other flow, if
 * any, then takes second_rate() over its links. The same operations on the
 * same values: the same bits. */
static int two_rates(cs_maxmin *m, size_t nlinks, const double *cap, const size_t *start,
                     const long *route, const double *weight, double *rate)
{
    for (size_t l = 0; l < nlinks; l++)
        m->remaining[l] = cap[l];
    long best = -1;
    double low = 0;
    for (size_t l = 0; l < nlinks; l++) {
        if (!m->unfrozen[l])
            continue;
        double share = share_of(m, (long)l);
        if (best < 0 || share < low) {
            best = (long)l;
            low = share;
        }
    }
    rate[0] = rate[1] = 0;
    int crosses[2] = {0, 0};
    for (int f = 0; f < 2; f++)
        for (size_t i = start[f]; i < start[f + 1]; i++)
            crosses[f] |= route[i] == best;
    if (best < 0 || (crosses[0] && crosses[1])) {
        rate[0] = rate[1] = best < 0 ? 0 : low;
        return 0;
    }
    int f = crosses[0] ? 0 : 1, g = 1 - f;
    size_t k = start[g + 1] - start[g];
    if (k == 0) { /* a flow crossing no link */
        rate[f] = low;
        return 0;
    }
    if (grow((void **)&m->heap, &m->heap_cap, k + 1, sizeof *m->heap))
        return -1;
    for (size_t i = 0; i < k; i++) { /* the keys the heap holds for g's links */
        long l = route[start[g] + i];
        m->heap[i] = (entry){share_of(m, l), l};
    }
    rate[f] = low;
    take_flow(m, start, route, weight, f, low);
    rate[g] = second_rate(m, m->heap, k);
    return 0;
}

int cs_maxmin_solve(cs_maxmin *m, size_t nlinks, const double *cap, size_t nflows,
                    const size_t *start, const long *route, const double *weight, double *rate)
{
    size_t pairs = start[nflows];
    if (nflows == 1) {
        rate[0] = cs_maxmin_lone_rate(cap, pairs - start[0], route + start[0],
                                      weight ? weight + start[0] : NULL);
        return 0;
    }
    if (reserve(m, nlinks, nflows, pairs) != 0)
        return -1;
    if (nflows == 2) {
        link_loads(m, nlinks, pairs, route, weight);
        return two_rates(m, nlinks, cap, start, route, weight, rate);
    }
    /* Flows per link, as compressed rows. */
    memset(m->unfrozen, 0, (nlinks + 1) * sizeof *m->unfrozen);
    for (size_t i = 0; i < pairs; i++)
        m->unfrozen[route[i]]++;
    m->link_start[0] = 0;
    for (size_t l = 0; l < nlinks; l++)
        m->link_start[l + 1] = m->link_start[l] + (size_t)m->unfrozen[l];
    for (size_t l = 0; l < nlinks; l++)
        m->unfrozen[l] = 0;
    for (size_t f = 0; f < nflows; f++)
        for (size_t i = start[f]; i < start[f + 1]; i++) {
            long l = route[i];
            m->link_flows[m->link_start[l] + (size_t)m->unfrozen[l]++] = (long)f;
        }
    set_loads(m, nlinks, pairs, route, weight);
    m->heap_count = 0;
    for (size_t l = 0; l < nlinks; l++) {
        m->remaining[l] = cap[l];
        if (m->unfrozen[l] && heap_push(m, share_of(m, (long)l), (long)l))
            return -1;
    }
    for (size_t f = 0; f < nflows; f++) {
        m->frozen[f] = 0;
        rate[f] = 0;
    }
    while (m->heap_count) {
        entry e = heap_pop(m);
        long l = e.link;
        if (!m->unfrozen[l])
            continue;
        double share = share_of(m, l);
        if (share != e.share) { /* stale: the link's share grew since */
            if (heap_push(m, share, l))
                return -1;
            continue;
        }
        for (size_t i = m->link_start[l]; i < m->link_start[l + 1]; i++) {
            long f = m->link_flows[i];
            if (m->frozen[f])
                continue;
            m->frozen[f] = 1;
            rate[f] = share;
            take_flow(m, start, route, weight, (size_t)f, share);
        }
    }
    return 0;
}
