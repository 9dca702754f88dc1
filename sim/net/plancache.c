#include "net/plancache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Slots: a power of two, at most half of them used, doubling from FIRST up
 * to MOST (a small cache costs little to make and free: a collective
 * timed alone makes one). */
#define FIRST 64
#define MOST (1 << 16)
/* Uneven all-to-alls kept at most: with random routing each call is new. */
#define MOST_UNEVEN 4096

typedef struct entry {
    uint64_t hash; /* 0: empty */
    /* An uneven all-to-all's n x n byte table, as two 64-bit hashes of
     * different construction (spec.pair_bytes is not kept): two tables that
     * agree on both would share a plan, which is not expected in practice
     * (the tables of one replay number in the thousands). */
    uint64_t pairs[2];
    cs_coll_spec spec;
    long *gpus; /* owned copy of spec.gpus */
    cs_coll_plan plan;
    void *data; /* cs_plan_cache_keep's (owned) */
    void (*free_data)(void *);
} entry;

struct cs_plan_cache {
    entry *slots;
    long used, cap, uneven;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

/* The two hashes of s's byte table (0, 0 for an even spec): FNV-1a and
 * a splitmix-style mix over the bits of every entry. */
static void pairs_hash(const cs_coll_spec *s, uint64_t out[2])
{
    out[0] = out[1] = 0;
    if (!s->pair_bytes)
        return;
    uint64_t a = 1469598103934665603ull, b = 0x243f6a8885a308d3ull;
    for (long i = 0; i < s->n * s->n; i++) {
        uint64_t v;
        memcpy(&v, &s->pair_bytes[i], sizeof v);
        a = (a ^ v) * 1099511628211ull;
        b = mix(b, v ^ (b >> 29));
    }
    out[0] = a | 1; /* never 0, 0: that is the even spec's */
    out[1] = b;
}

static uint64_t hash_of(const cs_coll_spec *s, const uint64_t pairs[2])
{
    uint64_t bytes;
    memcpy(&bytes, &s->bytes, sizeof bytes);
    uint64_t h = mix(mix(mix((uint64_t)s->op, (uint64_t)s->algo), (uint64_t)s->n), bytes);
    h = mix(mix(mix(h, (uint64_t)s->root), (uint64_t)s->protocols), pairs[0]);
    for (long i = 0; i < s->n; i++)
        h = mix(h, (uint64_t)s->gpus[i]);
    return h ? h : 1;
}

static int same(const entry *e, const cs_coll_spec *s, uint64_t h, const uint64_t pairs[2])
{
    const cs_coll_spec *k = &e->spec;
    return e->hash == h && k->op == s->op && k->algo == s->algo && k->n == s->n &&
           k->bytes == s->bytes && k->root == s->root && k->protocols == s->protocols &&
           e->pairs[0] == pairs[0] && e->pairs[1] == pairs[1] &&
           !memcmp(e->gpus, s->gpus, (size_t)s->n * sizeof *s->gpus);
}

cs_plan_cache *cs_plan_cache_create(void)
{
    cs_plan_cache *c = calloc(1, sizeof *c);
    if (c && !(c->slots = calloc(FIRST, sizeof *c->slots))) {
        free(c);
        return NULL;
    }
    if (c)
        c->cap = FIRST;
    return c;
}

void cs_plan_cache_destroy(cs_plan_cache *c)
{
    if (!c)
        return;
    for (long i = 0; i < c->cap; i++) {
        free(c->slots[i].gpus);
        if (c->slots[i].data)
            c->slots[i].free_data(c->slots[i].data);
    }
    free(c->slots);
    free(c);
}

/* The entry of s, or NULL. */
static entry *find(const cs_plan_cache *c, const cs_coll_spec *s)
{
    uint64_t pairs[2];
    pairs_hash(s, pairs);
    uint64_t h = hash_of(s, pairs), mask = (uint64_t)c->cap - 1;
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        entry *e = &c->slots[i];
        if (!e->hash)
            return NULL;
        if (same(e, s, h, pairs))
            return e;
    }
}

int cs_plan_cache_get_data(const cs_plan_cache *c, const cs_coll_spec *s, cs_coll_plan *out,
                           void **data)
{
    const entry *e = find(c, s);
    if (e)
        *out = e->plan;
    *data = e ? e->data : NULL;
    return e != NULL;
}

int cs_plan_cache_get(const cs_plan_cache *c, const cs_coll_spec *s, cs_coll_plan *out)
{
    void *data;
    return cs_plan_cache_get_data(c, s, out, &data);
}

int cs_plan_cache_keep(cs_plan_cache *c, const cs_coll_spec *s, void *data,
                       void (*free_data)(void *))
{
    entry *e = s->pair_bytes ? NULL : find(c, s); /* data is kept for even specs only */
    if (!e || e->data)
        return -1;
    e->data = data;
    e->free_data = free_data;
    return 0;
}

/* Doubles the slots (keeping the entries); -1 when out of memory. */
static int grow(cs_plan_cache *c)
{
    long cap = 2 * c->cap;
    entry *slots = calloc((size_t)cap, sizeof *slots);
    if (!slots)
        return -1;
    for (long k = 0; k < c->cap; k++) {
        if (!c->slots[k].hash)
            continue;
        uint64_t i = c->slots[k].hash & (uint64_t)(cap - 1);
        while (slots[i].hash)
            i = (i + 1) & (uint64_t)(cap - 1);
        slots[i] = c->slots[k];
    }
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    return 0;
}

void cs_plan_cache_put(cs_plan_cache *c, const cs_coll_spec *s, const cs_coll_plan *plan)
{
    if (s->pair_bytes && c->uneven >= MOST_UNEVEN)
        return;
    if (c->used >= c->cap / 2 && (c->cap >= MOST || grow(c) != 0))
        return; /* full: a cache, losing an entry costs only time */
    long *gpus = malloc((size_t)s->n * sizeof *gpus);
    if (!gpus)
        return;
    uint64_t pairs[2];
    pairs_hash(s, pairs);
    uint64_t h = hash_of(s, pairs), mask = (uint64_t)c->cap - 1;
    uint64_t i = h & mask;
    while (c->slots[i].hash)
        i = (i + 1) & mask;
    memcpy(gpus, s->gpus, (size_t)s->n * sizeof *gpus);
    c->slots[i] = (entry){h, {pairs[0], pairs[1]}, *s, gpus, *plan, NULL, NULL};
    c->slots[i].spec.gpus = gpus;
    c->slots[i].spec.pair_bytes = NULL; /* the caller's: its hashes stand for it */
    c->used++;
    c->uneven += s->pair_bytes != NULL;
}
