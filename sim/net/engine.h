/* engine: the discrete-event core. A clock, an event queue and a run loop;
 * nothing here knows about GPUs, networks or transformers.
 *
 * Events are kept in an array heap (4-ary) keyed on (time, insertion number),
 * so events due at the same time run in the order they were scheduled and
 * every run is reproducible to the byte. A step hook, when set, runs each time
 * all events of one instant have been handled and before the clock moves on:
 * the flow network uses it to re-solve rates once per instant instead of once
 * per event. */
#ifndef CS_ENGINE_H
#define CS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_engine cs_engine;

/* An event's action: ctx and arg as given to cs_engine_at; tag is free for the
 * caller (the network uses it to ignore events it has superseded). */
typedef void (*cs_event_fn)(void *ctx, long arg, uint64_t tag);

/* Creates an engine at time 0. Returns NULL when out of memory. */
cs_engine *cs_engine_create(void);
void cs_engine_destroy(cs_engine *e);

/* Sets an engine with no event left back to time 0, its insertion numbers
 * too (so that what runs next runs as on a new engine). Returns 0, or -1
 * when events are still queued. */
int cs_engine_reset(cs_engine *e);

/* Schedules fn at absolute time `when` (not before now). Returns 0, or -1
 * when out of memory. */
int cs_engine_at(cs_engine *e, double when, cs_event_fn fn, void *ctx, long arg, uint64_t tag);

/* The current simulated time in seconds. */
double cs_engine_now(const cs_engine *e);

/* Sets the hook run after the last event of each instant (NULL to clear). */
void cs_engine_set_step_hook(cs_engine *e, void (*hook)(void *ctx), void *ctx);

/* Runs until no event is left. Returns the number of events handled. */
uint64_t cs_engine_run(cs_engine *e);

/* Events handled so far, over the engine's life. */
uint64_t cs_engine_events(const cs_engine *e);

#endif
