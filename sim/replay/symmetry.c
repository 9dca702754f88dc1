#include "replay/symmetry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/placement.h"
#include "net/collective.h"
#include "replay/build.h"

int cs_symmetry_reducible(const cs_scenario *s, const cs_layout *l, const cs_layout_sizes *z,
                          cs_network_model model, const long *captured, long n)
{
    const cs_uncertainty *u = &s->uncertainty;
    if (s->no_symmetry || z->world / z->pp < 2)
        return 0;
    if (u->compute_jitter > 0 || (u->stragglers.probability > 0 && u->stragglers.slowdown != 1))
        return 0;
    if (s->model.moe.num_experts > 0 && s->training.moe_routing.mode != CS_ROUTING_BALANCED)
        return 0;
    for (long i = 0; captured && i < n; i++)
        if (cs_place_local(l, z, captured[i]) != 0)
            return 0;
    return 1;
}

/* ---- the copies' check ------------------------------------------------------------- */

/* The calls already checked, an open-addressed set. */
typedef struct copy_key {
    int32_t site, has_pairs;
    int64_t stage, aux;
    int32_t op, used;
    double bytes;
    /* Under the flow model: the links the other groups use (owned by the
     * workload), which their first group holds for them while it runs. */
    const long *shadow;
    long shadow_count;
} copy_key;

struct cs_copy_memo {
    copy_key *keys;
    size_t cap, count;
};

static uint64_t key_hash(const copy_key *k)
{
    uint64_t b;
    memcpy(&b, &k->bytes, sizeof b);
    uint64_t h = (uint64_t)k->site * 0x9e3779b97f4a7c15u ^ (uint64_t)k->stage * 0xc2b2ae3d27d4eb4fu;
    h ^= (uint64_t)k->aux * 0x165667b19e3779f9u ^ (uint64_t)k->op * 0x27d4eb2f165667c5u;
    h ^= b + (h << 6) + (h >> 2) + (uint64_t)k->has_pairs;
    return h ^ (h >> 31);
}

static int key_equal(const copy_key *a, const copy_key *b)
{
    return a->site == b->site && a->stage == b->stage && a->aux == b->aux && a->op == b->op &&
           a->has_pairs == b->has_pairs && a->bytes == b->bytes;
}

static copy_key *slot_of(copy_key *keys, size_t cap, const copy_key *k)
{
    size_t i = (size_t)key_hash(k) & (cap - 1);
    while (keys[i].used && !key_equal(&keys[i], k))
        i = (i + 1) & (cap - 1);
    return &keys[i];
}

/* Adds k; returns 1 when it was new, 0 when known, -1 when out of memory;
 * *at is its entry. */
static int memo_add(cs_builder *B, const copy_key *k, copy_key **at)
{
    struct cs_copy_memo *m = B->memo;
    if (!m && !(m = B->memo = calloc(1, sizeof *m)))
        return -1;
    if (2 * (m->count + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 256;
        copy_key *keys = calloc(cap, sizeof *keys);
        if (!keys)
            return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i].used)
                *slot_of(keys, cap, &m->keys[i]) = m->keys[i];
        free(m->keys);
        m->keys = keys;
        m->cap = cap;
    }
    copy_key *s = slot_of(m->keys, m->cap, k);
    *at = s;
    if (s->used)
        return 0;
    *s = *k;
    s->used = 1;
    m->count++;
    return 1;
}

void cs_build_memo_free(cs_builder *B)
{
    cs_net_destroy(B->probe);
    cs_engine_destroy(B->probe_engine);
    B->probe = NULL;
    B->probe_engine = NULL;
    if (B->memo)
        free(B->memo->keys);
    free(B->memo);
    B->memo = NULL;
}

/* The time the replay gives a collective over members[0..n-1] alone: its
 * plan's, or under the flow model its flows' on an idle fabric (-1 when it
 * cannot run). */
static double group_time(cs_builder *B, const long *members, long n, cs_coll_op op, double bytes,
                         const double *pairs)
{
    cs_coll_spec spec = {op, CS_ALGO_AUTO, n, members, bytes, pairs, 0, 0};
    const cs_fabric *f = cs_net_fabric(cs_exec_net(B->x));
    if (cs_net_model(cs_exec_net(B->x)) != CS_NET_FLOW)
        return cs_collective_net_time_once(cs_exec_net(B->x), &spec);
    if (!B->probe_engine) {
        B->probe_engine = cs_engine_create();
        B->probe = B->probe_engine ? cs_net_create(B->probe_engine, f, CS_NET_FLOW) : NULL;
    }
    double t = -1;
    return B->probe && cs_collective_time_on(B->probe, &spec, &t) == 0 ? t : -1;
}

/* Adds the links of a collective over members[0..n-1] to the set in
 * B->copy_links (marked in B->copy_marks); one already there means two
 * groups that run at once share it: the replay cannot be reduced. */
static void add_links(cs_builder *B, const long *members, long n, cs_coll_op op, double bytes,
                      const double *pairs, long *count)
{
    cs_coll_spec spec = {op, CS_ALGO_AUTO, n, members, bytes, pairs, 0, 0};
    long k = cs_collective_links(cs_exec_net(B->x), &spec, B->copy_scratch);
    if (k < 0)
        B->asymmetric = 1;
    for (long i = 0; i < k && !B->asymmetric; i++) {
        if (B->copy_marks[B->copy_scratch[i]])
            B->asymmetric = 1;
        B->copy_marks[B->copy_scratch[i]] = 1;
        B->copy_links[(*count)++] = B->copy_scratch[i];
    }
}

/* The other groups' links (B->copy_links[from .. count), after the first
 * group's), kept by the workload for the run. */
static void keep_shadow(cs_builder *B, copy_key *entry, long from, long count)
{
    for (long i = 0; i < count; i++)
        B->copy_marks[B->copy_links[i]] = 0;
    count -= from;
    if (B->asymmetric)
        return;
    long *kept = count ? malloc((size_t)count * sizeof *kept) : NULL;
    long **list = realloc(B->w->shadows, (size_t)(B->w->shadow_count + 1) * sizeof *list);
    if ((count && !kept) || !list) {
        free(kept);
        B->failed = 1;
        return;
    }
    B->w->shadows = list;
    if (kept) {
        memcpy(kept, B->copy_links + from, (size_t)count * sizeof *kept);
        list[B->w->shadow_count++] = kept;
    }
    entry->shadow = kept;
    entry->shadow_count = count;
}

long cs_build_copies(cs_builder *B, cs_group_fn fn, long groups, int site, long aux,
                     cs_coll_op op, double bytes, const double *pairs)
{
    B->shadow = NULL;
    B->shadow_count = 0;
    if (!B->reduced || groups <= 1)
        return groups;
    /* Under the ideal model every collective is instant: nothing to check. */
    if (cs_net_model(cs_exec_net(B->x)) == CS_NET_IDEAL)
        return 1;
    copy_key k = {site, pairs != NULL, B->stage, aux, (int32_t)op, 0, bytes, NULL, 0};
    copy_key *entry = NULL;
    int fresh = memo_add(B, &k, &entry);
    if (fresh < 0) {
        B->failed = 1;
        return 1;
    }
    if (fresh) {
        int flow = cs_net_model(cs_exec_net(B->x)) == CS_NET_FLOW;
        long n = fn(B, 0, B->copy_members), links = 0, own = 0;
        /* Under the flow model the groups must not share a link (cheap to
         * see, and what would stop the run), then take equal times. */
        if (flow) {
            add_links(B, B->copy_members, n, op, bytes, pairs, &links);
            own = links;
            for (long g = 1; g < groups && !B->asymmetric; g++) {
                long m = fn(B, g, B->copy_members);
                add_links(B, B->copy_members, m, op, bytes, pairs, &links);
            }
            n = fn(B, 0, B->copy_members);
        }
        double first = B->asymmetric ? 0 : group_time(B, B->copy_members, n, op, bytes, pairs);
        for (long g = 1; g < groups && !B->asymmetric; g++) {
            n = fn(B, g, B->copy_members);
            if (group_time(B, B->copy_members, n, op, bytes, pairs) != first)
                B->asymmetric = 1;
        }
        if (flow)
            keep_shadow(B, entry, own, links);
    }
    B->shadow = entry->shadow;
    B->shadow_count = entry->shadow_count;
    return 1;
}

void cs_build_take_shadow(cs_builder *B, long first)
{
    if (B->shadow && cs_exec_set_shadow(B->x, first, B->shadow, B->shadow_count) != 0)
        B->failed = 1;
    B->shadow = NULL;
    B->shadow_count = 0;
}
