/* net: point-to-point transfers over the fabric under one network model.
 *
 *   ideal     every transfer arrives at once (schedules studied alone)
 *   analytic  latency + bytes / slowest link of the route; no contention
 *   flow      a transfer waits its route's latency, then is a flow whose rate
 *             is max-min fair over the links it shares with the flows active
 *             at the same time; rates are re-solved once per simulated
 *             instant in which flows started or ended, over the connected
 *             set of links and flows those changes touch, not the whole
 *             network.
 *
 * Completion is reported through a callback run from an engine event. */
#ifndef CS_NET_H
#define CS_NET_H

#include <stdint.h>

#include "input/config.h"
#include "net/engine.h"
#include "net/fabric.h"

typedef struct cs_net cs_net;
typedef void (*cs_done_fn)(void *ctx, long arg);

/* Borrowed: engine and fabric outlive the net. NULL when out of memory.
 * Installs the engine's step hook in flow mode. */
cs_net *cs_net_create(cs_engine *e, const cs_fabric *f, cs_network_model model);
void cs_net_destroy(cs_net *n);

/* Sends `bytes` from GPU src to GPU dst, starting now; calls done(ctx, arg)
 * when the last byte has arrived. src == dst or 0 bytes arrive at once.
 * Returns 0, or -1 when out of memory. */
int cs_net_send(cs_net *n, long src, long dst, double bytes, cs_done_fn done, void *ctx, long arg);

/* A transfer of a collective's pattern: no latency of its own (the
 * collective paid it), over the one `link` when link >= 0 (NVLS ports),
 * else the route from src to dst. Returns 0, or -1 when out of memory. */
int cs_net_send_over(cs_net *n, long src, long dst, long link, double bytes, cs_done_fn done,
                     void *ctx, long arg);

/* A bundle of transfers src[p] -> dst[p] of bytes[p] (p < count) that
 * progress together, as one flow: an all-to-all's pairs, which NCCL runs
 * as concurrent sends and receives. On each link it counts as the pairs it
 * carries in the link's fair share (so a bundle of one pair is a plain
 * transfer), and all its pairs move the same share of their bytes at once,
 * at the pace of its most loaded link: alone on the fabric it takes the
 * largest of its links' bytes / capacity. done runs once, when all have
 * arrived; no latency of its own (the collective paid it). In analytic mode
 * it takes that time; in ideal mode none. Returns 0, or -1 when out of
 * memory. */
int cs_net_send_bundle(cs_net *n, const long *src, const long *dst, const double *bytes,
                       long count, cs_done_fn done, void *ctx, long arg);

/* The same bundle made once and sent many times (a collective's phase that
 * runs again on the same group): made on n's fabric (NULL when out of
 * memory), sent borrowed (it must outlive every send). */
typedef struct cs_net_bundle cs_net_bundle;
cs_net_bundle *cs_net_bundle_make(cs_net *n, const long *src, const long *dst,
                                  const double *bytes, long count);
void cs_net_bundle_free(cs_net_bundle *b);
int cs_net_send_made(cs_net *n, const cs_net_bundle *b, cs_done_fn done, void *ctx, long arg);

/* One double per link of the fabric, all zero, for a caller to sum per-link
 * quantities in and leave zero again (owned by the net; NULL when out of
 * memory). Collectives price their patterns in it. */
double *cs_net_link_sums(cs_net *n);

/* The plans of the collectives started on this net (see plancache.h; owned
 * by the net, created on first use; NULL when out of memory). */
struct cs_plan_cache *cs_net_plan_cache(cs_net *n);

/* Exclusive use (a reduced replay's check, replay/symmetry.h): from now on
 * each collective holds the links of its pattern and its spec's shadow from
 * its start to its end, and a link held twice at once marks the net
 * contended. Returns 0, or -1 when out of memory. */
int cs_net_set_exclusive(cs_net *n);
int cs_net_exclusive(const cs_net *n);
int cs_net_contended(const cs_net *n);
/* Takes (+1) or gives back (-1) links[0..count-1] (each once). */
void cs_net_hold(cs_net *n, const long *links, long count, int delta);

cs_network_model cs_net_model(const cs_net *n);
cs_engine *cs_net_engine(const cs_net *n);
const cs_fabric *cs_net_fabric(const cs_net *n);

/* Totals over the net's life: bytes delivered, transfers completed, and the
 * number of rate solves (flow mode). */
double cs_net_bytes_delivered(const cs_net *n);
uint64_t cs_net_transfers(const cs_net *n);
uint64_t cs_net_solves(const cs_net *n);

#endif
