#include "net/engine.h"

#include <stdlib.h>

typedef struct event {
    double time;
    uint64_t seq;
    cs_event_fn fn;
    void *ctx;
    long arg;
    uint64_t tag;
} event;

struct cs_engine {
    event *heap;
    size_t count, cap;
    uint64_t next_seq;
    uint64_t handled;
    double now;
    void (*hook)(void *ctx);
    void *hook_ctx;
};

cs_engine *cs_engine_create(void) { return calloc(1, sizeof(cs_engine)); }

int cs_engine_reset(cs_engine *e)
{
    if (e->count > 0)
        return -1;
    e->now = 0;
    e->next_seq = 0;
    return 0;
}

void cs_engine_destroy(cs_engine *e)
{
    if (!e)
        return;
    free(e->heap);
    free(e);
}

static int earlier(const event *a, const event *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

/* A 4-ary heap: half the depth of a binary one, and a node's children share
 * a cache line or two; the order it pops in is the same total order. */
#define ARITY 4

static void sift_up(event *h, size_t i)
{
    event x = h[i];
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (!earlier(&x, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

static void sift_down(event *h, size_t n, size_t i)
{
    event x = h[i];
    for (;;) {
        size_t first = ARITY * i + 1, child = first;
        if (first >= n)
            break;
        for (size_t c = first + 1; c < first + ARITY && c < n; c++)
            if (earlier(&h[c], &h[child]))
                child = c;
        if (!earlier(&h[child], &x))
            break;
        h[i] = h[child];
        i = child;
    }
    h[i] = x;
}

int cs_engine_at(cs_engine *e, double when, cs_event_fn fn, void *ctx, long arg, uint64_t tag)
{
    if (e->count == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 256;
        event *h = realloc(e->heap, cap * sizeof *h);
        if (!h)
            return -1;
        e->heap = h;
        e->cap = cap;
    }
    if (when < e->now)
        when = e->now;
    e->heap[e->count] = (event){when, e->next_seq++, fn, ctx, arg, tag};
    sift_up(e->heap, e->count++);
    return 0;
}

double cs_engine_now(const cs_engine *e) { return e->now; }
uint64_t cs_engine_events(const cs_engine *e) { return e->handled; }

void cs_engine_set_step_hook(cs_engine *e, void (*hook)(void *ctx), void *ctx)
{
    e->hook = hook;
    e->hook_ctx = ctx;
}

uint64_t cs_engine_run(cs_engine *e)
{
    uint64_t before = e->handled;
    while (e->count > 0) {
        event ev = e->heap[0];
        e->heap[0] = e->heap[--e->count];
        if (e->count)
            sift_down(e->heap, e->count, 0);
        e->now = ev.time;
        ev.fn(ev.ctx, ev.arg, ev.tag);
        e->handled++;
        /* The instant is over when the next event lies later (or none is left). */
        if (e->hook && (e->count == 0 || e->heap[0].time > e->now))
            e->hook(e->hook_ctx);
    }
    return e->handled - before;
}
