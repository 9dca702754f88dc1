/* plancache: the plans of collectives already met (internal to sim/net/).
 *
 * A replay starts the same collective on the same group thousands of times
 * (every layer, every micro-batch); planning it prices every algorithm's
 * pattern, so each (operation, group, size, choices) is planned once per
 * net; an uneven all-to-all also by its byte table, known by two 64-bit
 * hashes of it (balanced routing gives every layer and micro-batch the same
 * table; random routing a new one each time, planned anew). The cache
 * holds copies of the member lists it compares against, and stops growing
 * at a fixed size. */
#ifndef CS_NET_PLANCACHE_H
#define CS_NET_PLANCACHE_H

#include "net/collective.h"

typedef struct cs_plan_cache cs_plan_cache;

/* NULL when out of memory. */
cs_plan_cache *cs_plan_cache_create(void);
void cs_plan_cache_destroy(cs_plan_cache *c);

/* The cached plan of s into *out: 1 when found, 0 when not. */
int cs_plan_cache_get(const cs_plan_cache *c, const cs_coll_spec *s, cs_coll_plan *out);

/* The same, also giving what the caller kept with the plan
 * (cs_plan_cache_keep) in *data, or NULL. */
int cs_plan_cache_get_data(const cs_plan_cache *c, const cs_coll_spec *s, cs_coll_plan *out,
                           void **data);

/* Keeps the plan of s (a no-op for a full cache, or past a few thousand
 * uneven all-to-alls). */
void cs_plan_cache_put(cs_plan_cache *c, const cs_coll_spec *s, const cs_coll_plan *plan);

/* Keeps data with the plan of s, freed by free_data with the cache.
 * Returns 0, or -1 when s has no plan, already data, or is an uneven
 * all-to-all (data stays the caller's then). */
int cs_plan_cache_keep(cs_plan_cache *c, const cs_coll_spec *s, void *data,
                       void (*free_data)(void *));

#endif
