#include "report/timeline.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileio.h"
#include "base/strutil.h"
#include "report/json.h"
#include "replay/workload.h"

static const char *const stream_names[CS_STREAMS] = {
    "compute",      "tp",           "ep",           "dp",           "pp send next",
    "pp recv prev", "pp send prev", "pp recv next", "dp gather"};

/* ---- whole-or-nothing files ---------------------------------------------- */

typedef void (*writer_fn)(FILE *out, const void *ctx);

static int make_dir(const char *path)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST)
        return 0;
    fprintf(stderr, "clustersim: cannot create %s: %s\n", path, strerror(errno));
    return -1;
}

static int write_whole(const char *dir, const char *name, writer_fn fn, const void *ctx)
{
    char path[8400], tmp[8500];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = cs_file_temp(path, tmp, sizeof tmp);
    if (!f) {
        fprintf(stderr, "clustersim: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* traces run to tens of MB in small writes: a larger buffer (it lives
     * until the commit closes the file) */
    char *buffer = malloc(1 << 20);
    if (buffer)
        setvbuf(f, buffer, _IOFBF, 1 << 20);
    fn(f, ctx);
    int rc = cs_file_commit(f, tmp, path, 1);
    free(buffer);
    if (rc != 0) {
        fprintf(stderr, "clustersim: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Appends one line to root/plots.txt: script, data, output, then arguments. */
static int list_plot(const char *root, const char *script, const char *data, const char *output,
                     const char *args)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/plots.txt", root);
    FILE *f = fopen(path, "a");
    if (!f) {
        fprintf(stderr, "clustersim: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%s\t%s\t%s%s%s\n", script, data, output, *args ? "\t" : "", args);
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- one layout ------------------------------------------------------------------ */

typedef struct layout_files {
    const cs_scenario *s;
    const char *layout;
    const cs_replay_result *r;
    const cs_capture *c;
    const cs_plot_options *o;
    long *labels; /* timeline.dat's labelled bars, counted as it is written */
} layout_files;

static long row_of(const cs_capture *c, long gpu)
{
    for (long i = 0; i < c->gpu_count; i++)
        if (c->gpus[i] == gpu)
            return i;
    return -1;
}

/* A tab and v with `decimals` digits (printf's "\t%.*f", faster). */
static void put_fixed(FILE *out, double v, int decimals)
{
    char buf[48];
    buf[0] = '\t';
    fwrite(buf, 1, 1 + cs_fixed(buf + 1, sizeof buf - 1, v, decimals), out);
}

static int span_row(FILE *out, const cs_capture *c, const cs_span *sp, double T)
{
    /* Micro-batch numbers on bars wide enough to hold them. */
    int labelled = sp->mb >= 0 && sp->kind < CS_SPAN_TP && (sp->end - sp->start) > T / 120;
    long row = row_of(c, sp->gpu);
    fprintf(out, "%ld\t\"stage %ld GPU %d\"\t%d\t%s", row, c->stages[row], sp->gpu, sp->kind,
            cs_span_kind_name((cs_span_kind)sp->kind));
    put_fixed(out, sp->start * 1e3, 9);
    put_fixed(out, sp->end * 1e3, 9);
    fprintf(out, "\t%d\t%d\t\"", sp->mb, sp->layer);
    if (labelled)
        fprintf(out, "%d", sp->mb);
    fputs("\"\n", out);
    return labelled;
}

/* Below this share of what the picture spans (about 3 of its 1500 pixels)
 * a micro-batch's backward pieces are drawn as one bar; below the second
 * (a pixel and a half) so are the communication waits between its pieces:
 * drawn apart they blend into a colour of neither (forward and
 * expert-parallel waits look purple, the weight gradients' colour). */
#define TIMELINE_THIN 2e-3
#define TIMELINE_WAIT 1e-3

static int backward_family(int kind)
{
    return kind == CS_SPAN_BACKWARD_INPUT || kind == CS_SPAN_BACKWARD_WEIGHT ||
           kind == CS_SPAN_RECOMPUTE;
}

/* Whether span b continues span a on one bar: the same kind and
 * micro-batch starting where a ends, a communication wait too thin to draw,
 * or a thin piece of the same micro-batch's backward (B, W, recompute). */
static int continues(const cs_span *a, const cs_span *b, double T)
{
    int adjacent = b->start - a->end <= T * 1e-6;
    int same = a->kind == b->kind && a->mb == b->mb;
    int unseen = b->kind >= CS_SPAN_TP && b->kind != CS_SPAN_BUBBLE &&
                 b->end - b->start < T * TIMELINE_WAIT;
    int backward = a->mb == b->mb && backward_family(a->kind) && backward_family(b->kind) &&
                   b->end - b->start < T * TIMELINE_THIN;
    return adjacent && (same || unseen || backward);
}

/* Rows are aggregated for the picture: consecutive spans of one GPU with
 * the same kind and micro-batch (a micro-batch's layers, one after the
 * other) become one bar, its layer the first's, and so do the
 * communication waits between them thinner than TIMELINE_WAIT of what the
 * picture spans and a micro-batch's backward pieces thinner than
 * TIMELINE_THIN (one backward_input bar when they are of several kinds).
 * A run of a thousand micro-batches then draws a bar per micro-batch and
 * pass, not one per layer and block; trace.json keeps every op and gap. */
static void timeline_dat(FILE *out, const void *ctx)
{
    const layout_files *lf = ctx;
    const cs_capture *c = lf->c;
    const cs_plot_options *po = lf->o;
    int zoom = po->window_end > po->window_start;
    /* what the picture spans: the iteration, or the window */
    double T = zoom ? po->window_end - po->window_start : lf->r->iteration_time_s;
    fprintf(out, "# clustersim timeline of layout %s, scenario %s: the compute stream of each "
                 "captured GPU,\n# op by op (a micro-batch's consecutive ops of one kind as one "
                 "bar, with the communication\n# waits between them under 1e-3 of the picture's "
                 "span; its backward pieces under 2e-3\n# as one backward_input bar), and each "
                 "gap charged to what it waited for.\n",
            lf->layout, lf->s->name);
    fprintf(out, "# row\trow_label\tkind\tkind_name\tstart_ms\tend_ms\tmb\tlayer\tlabel\n");
    cs_span *open = calloc((size_t)(c->gpu_count > 0 ? c->gpu_count : 1), sizeof *open);
    for (long i = 0; i < c->span_count; i++) {
        const cs_span *sp = &c->spans[i];
        long row = row_of(c, sp->gpu);
        if (zoom && (sp->end < po->window_start || sp->start > po->window_end))
            continue; /* outside the window */
        if (!open) { /* out of memory: every span as it is */
            *lf->labels += span_row(out, c, sp, T);
            continue;
        }
        cs_span *o = &open[row];
        if (o->end > o->start && continues(o, sp, T)) {
            if (backward_family(sp->kind) && sp->kind != o->kind)
                o->kind = CS_SPAN_BACKWARD_INPUT; /* a backward of mixed pieces */
            o->end = sp->end;
            continue;
        }
        if (o->end > o->start)
            *lf->labels += span_row(out, c, o, T);
        *o = *sp;
    }
    for (long r = 0; open && r < c->gpu_count; r++)
        if (open[r].end > open[r].start)
            *lf->labels += span_row(out, c, &open[r], T);
    free(open);
}

static void memory_row(FILE *out, double t, const cs_memory_sample *m)
{
    const double v[8] = {t * 1e3,         m->bytes / 1e9,    m->weights / 1e9,
                         m->gradients / 1e9, m->optimizer / 1e9, m->reserved / 1e9,
                         m->activations / 1e9, m->buffers / 1e9};
    char buf[8 * 48], *p = buf;
    for (int i = 0; i < 8; i++) {
        p += cs_fixed(p, 48, v[i], 9);
        *p++ = i < 7 ? '\t' : '\n';
    }
    fwrite(buf, 1, (size_t)(p - buf), out);
}

/* A picture spans about 1100 pixels of plot: more samples than this per GPU
 * are drawn as the highest of each bin of the iteration, about two pixels
 * wide (a run of 512 micro-batches changes memory 3000 times on every GPU,
 * and gnuplot's time grows with the rows: 1000 bins cost the 1T case's
 * picture 16% more than 500; trace.json keeps every change). */
#define MEMORY_BINS 500

/* One GPU's samples: every change, or, past MEMORY_BINS of them, the
 * highest of each 1/MEMORY_BINS of the iteration, then the last state at
 * the iteration's end. */
static void memory_block(FILE *out, const cs_capture *c, long gpu, double T)
{
    long n = 0;
    for (long k = 0; k < c->memory_count; k++)
        n += c->memory[k].gpu == gpu;
    const cs_memory_sample *last = NULL, *best = NULL;
    long best_bin = -1;
    for (long k = 0; k < c->memory_count; k++) {
        const cs_memory_sample *m = &c->memory[k];
        if (m->gpu != gpu)
            continue;
        last = m;
        if (n <= MEMORY_BINS || !(T > 0)) {
            memory_row(out, m->time, m);
            continue;
        }
        long bin = (long)(m->time / T * MEMORY_BINS);
        if (bin != best_bin && best) {
            memory_row(out, best->time, best);
            best = NULL;
        }
        best_bin = bin;
        if (!best || m->bytes > best->bytes)
            best = m;
    }
    if (best)
        memory_row(out, best->time, best);
    if (last)
        memory_row(out, T, last);
}

/* The captured GPU (block of memory.dat) whose memory rises highest. */
static long highest_block(const cs_capture *c)
{
    long best = 0;
    double top = -1;
    for (long k = 0; k < c->memory_count; k++)
        if (c->memory[k].bytes > top) {
            top = c->memory[k].bytes;
            best = row_of(c, c->memory[k].gpu);
        }
    return best;
}

static void memory_dat(FILE *out, const void *ctx)
{
    const layout_files *lf = ctx;
    const cs_capture *c = lf->c;
    fprintf(out, "# clustersim memory of layout %s, scenario %s: bytes held by each captured "
                 "GPU after every change\n# (past %d changes, the highest of each 1/%d of the "
                 "iteration), then at its end;\n# one block per GPU (blocks apart by two blank "
                 "lines), in GB (1e9 bytes): time_ms, total,\n# weights, gradients, optimizer, "
                 "reserved, activations, buffers.\n",
            lf->layout, lf->s->name, MEMORY_BINS, MEMORY_BINS);
    for (long i = 0; i < c->gpu_count; i++) {
        if (i)
            fprintf(out, "\n\n");
        fprintf(out, "\"stage %ld GPU %ld\"\n", c->stages[i], c->gpus[i]);
        memory_block(out, c, c->gpus[i], lf->r->iteration_time_s);
    }
}

/* ---- which GPUs trace.json holds ------------------------------------------ */

/* The GPUs of a trace, as a mask over GPU numbers up to the highest captured
 * or asked for; when it could not be made (out of memory), the one GPU
 * `only`. */
typedef struct trace_set {
    unsigned char *on;
    long size, only;
} trace_set;

static int traced(const trace_set *t, long gpu)
{
    return t->on ? gpu >= 0 && gpu < t->size && t->on[gpu] : gpu == t->only;
}

/* Events the trace would hold for the k-th captured GPU: its ops, an arrow
 * end per pipeline op (written only when the other end is traced too: an
 * upper bound), its waits and its memory counters; per captured GPU (NULL
 * when out of memory). */
static long *events_per_gpu(const cs_capture *c, const long *row_of_gpu, long size)
{
    long *n = calloc((size_t)c->gpu_count + 1, sizeof *n);
    for (long i = 0; n && i < c->op_count; i++) {
        long g = c->ops[i].gpu;
        if (g >= 0 && g < size && row_of_gpu[g] >= 0)
            n[row_of_gpu[g]] += 1 + (c->ops[i].flow >= 0);
    }
    for (long i = 0; n && i < c->span_count; i++) {
        const cs_span *sp = &c->spans[i];
        if (sp->kind >= CS_SPAN_TP && sp->end > sp->start && sp->gpu >= 0 && sp->gpu < size &&
            row_of_gpu[sp->gpu] >= 0)
            n[row_of_gpu[sp->gpu]]++;
    }
    for (long i = 0; n && i < c->memory_count; i++) {
        long g = c->memory[i].gpu;
        if (g >= 0 && g < size && row_of_gpu[g] >= 0)
            n[row_of_gpu[g]]++;
    }
    return n;
}

/* The default trace: the captured GPUs taken spread out (the first, the
 * last, then each time the one farthest from those taken, the lower on a
 * tie) while their events fit in `budget` (at least one GPU; 0: no bound).
 * Marks them in on[]; -1 when out of memory. */
static int pick_spread(const cs_capture *c, const long *events, long budget, trace_set *t)
{
    long n = c->gpu_count, total = 0;
    long *gap = malloc(((size_t)n + 1) * sizeof *gap); /* to the nearest taken; -1 taken */
    if (!gap)
        return -1;
    for (long k = 0; k < n; k++)
        gap[k] = k; /* from the first, taken first: the last comes second */
    for (long picked = 0; picked < n; picked++) {
        long best = 0;
        for (long k = 1; picked > 0 && k < n; k++)
            if (gap[k] > gap[best])
                best = k;
        if (picked > 0 && budget > 0 && total + events[best] > budget)
            break;
        total += events[best];
        t->on[c->gpus[best]] = 1;
        gap[best] = -1;
        for (long k = 0; k < n; k++)
            if (labs(k - best) < gap[k])
                gap[k] = labs(k - best);
    }
    free(gap);
    return 0;
}

/* The GPUs trace.json holds: o->trace_gpus, or the captured ones spread
 * out within o->trace_events events. Returns 0 or -1 (out of memory). */
static int trace_choose(const cs_capture *c, const cs_plot_options *o, trace_set *t)
{
    t->size = 1;
    for (long i = 0; i < c->gpu_count; i++)
        t->size = c->gpus[i] + 1 > t->size ? c->gpus[i] + 1 : t->size;
    for (long i = 0; o->trace_gpus && i < o->trace_count; i++)
        t->size = o->trace_gpus[i] + 1 > t->size ? o->trace_gpus[i] + 1 : t->size;
    t->on = calloc((size_t)t->size, 1);
    if (!t->on)
        return -1;
    if (o->trace_gpus) {
        for (long i = 0; i < o->trace_count; i++)
            if (o->trace_gpus[i] >= 0)
                t->on[o->trace_gpus[i]] = 1;
        return 0;
    }
    long *row = malloc((size_t)t->size * sizeof *row);
    if (!row)
        return -1;
    for (long g = 0; g < t->size; g++)
        row[g] = -1;
    for (long i = 0; i < c->gpu_count; i++)
        if (row[c->gpus[i]] < 0) /* a GPU captured twice counts once */
            row[c->gpus[i]] = i;
    long *events = events_per_gpu(c, row, t->size);
    int rc = events ? pick_spread(c, events, o->trace_events, t) : -1;
    free(events);
    free(row);
    return rc;
}

/* Trace processes are GPUs numbered from 1 (Perfetto reserves pid 0); a
 * thread per stream that has ops, and one more for what the compute stream
 * waited for (the timeline's gap colours). */
#define TRACE_PID(gpu) ((gpu) + 1)
#define WAIT_TID CS_STREAMS

static void trace_meta(cs_json *j, const char *what, long pid, long tid, const char *name)
{
    cs_json_inline_object_begin(j, NULL);
    cs_json_string(j, "name", what);
    cs_json_string(j, "ph", "M");
    cs_json_int(j, "pid", pid);
    if (tid >= 0)
        cs_json_int(j, "tid", tid);
    cs_json_inline_object_begin(j, "args");
    cs_json_string(j, "name", name);
    cs_json_object_end(j);
    cs_json_object_end(j);
}

static int by_gpu(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Marks used[k * (WAIT_TID + 1) + s] when the k-th captured GPU has an op
 * on stream s (or, s = WAIT_TID, a wait): one pass over ops and spans, each
 * GPU found by bisection in a sorted copy of the captured ones (pairs of
 * GPU and index). NULL when out of memory. */
static unsigned char *streams_used(const cs_capture *c)
{
    size_t g = (size_t)c->gpu_count, w = WAIT_TID + 1;
    unsigned char *used = calloc(g * w + 1, 1);
    long *sorted = malloc((2 * g + 1) * sizeof *sorted);
    if (!used || !sorted) {
        free(used);
        free(sorted);
        return NULL;
    }
    for (size_t k = 0; k < g; k++) {
        sorted[2 * k] = c->gpus[k];
        sorted[2 * k + 1] = (long)k;
    }
    qsort(sorted, g, 2 * sizeof *sorted, by_gpu);
    for (long i = 0; i < c->op_count + c->span_count; i++) {
        int op = i < c->op_count;
        long gpu = op ? c->ops[i].gpu : c->spans[i - c->op_count].gpu;
        if (!op && c->spans[i - c->op_count].kind < CS_SPAN_TP)
            continue;
        const long *hit = bsearch(&gpu, sorted, g, 2 * sizeof *sorted, by_gpu);
        if (hit)
            used[(size_t)hit[1] * w + (op ? (size_t)c->ops[i].stream : WAIT_TID)] = 1;
    }
    free(sorted);
    return used;
}

/* One trace event formatted in place and handed to the writer whole: the
 * trace's hundreds of thousands of events went through the generic writer
 * a key at a time, which was most of its cost. Only our own names go in
 * (fixed tables and numbers), so nothing needs escaping. */
typedef struct event {
    char text[512]; /* the longest event, a communication op's, is under 400 */
    size_t n;
    int full; /* a piece did not fit: the event is not written */
} event;

/* Room stays after every piece for a number (48 bytes hold any). */
#define EV_NUMBER_ROOM 48

static void ev_text(event *e, const char *s)
{
    size_t k = strlen(s);
    if (e->full || e->n + k + EV_NUMBER_ROOM > sizeof e->text) {
        e->full = 1;
        return;
    }
    memcpy(e->text + e->n, s, k);
    e->n += k;
}

static void ev_int(event *e, long v)
{
    if (!e->full)
        e->n += cs_decimal(e->text + e->n, v);
}

/* v with `decimals` digits; null unless finite. */
static void ev_fixed(event *e, double v, int decimals)
{
    if (e->full)
        return;
    if (isfinite(v))
        e->n += cs_fixed(e->text + e->n, EV_NUMBER_ROOM, v, decimals);
    else
        ev_text(e, "null");
}

/* An event's opening: {"name":NAME,"cat":CAT,"ph":PH,"pid":PID,"tid":TID
 * (cat and tid left out when NULL or negative). NAME is `name`, followed by
 * " L<layer> mb<mb>" with a layer, " mb<mb>" with a micro-batch only. */
static void ev_begin(event *e, const char *name, int layer, int mb, const char *cat,
                     const char *ph, long pid, long tid)
{
    e->n = 0;
    e->full = 0;
    ev_text(e, "{\"name\":\"");
    ev_text(e, name);
    if (layer >= 0) {
        ev_text(e, " L");
        ev_int(e, layer);
    }
    if (mb >= 0 || layer >= 0) {
        ev_text(e, " mb");
        ev_int(e, mb);
    }
    if (cat) {
        ev_text(e, "\",\"cat\":\"");
        ev_text(e, cat);
    }
    ev_text(e, "\",\"ph\":\"");
    ev_text(e, ph);
    ev_text(e, "\",\"pid\":");
    ev_int(e, pid);
    if (tid >= 0) {
        ev_text(e, ",\"tid\":");
        ev_int(e, tid);
    }
}

/* Hands the event to the writer, unless a piece of it did not fit. */
static void ev_put(cs_json *j, const event *e)
{
    if (!e->full)
        cs_json_raw(j, e->text, e->n);
}

/* ,"ts":T (us) */
static void ev_ts(event *e, const char *key, double seconds)
{
    ev_text(e, key);
    ev_fixed(e, seconds * 1e6, 3);
}

/* The compute stream's waits, by what they waited for. */
static void trace_waits(cs_json *j, const cs_capture *c, const trace_set *o)
{
    /* "waiting: tp", ..., and "bubble" */
    char names[CS_SPAN_KINDS][32];
    for (int k = 0; k < CS_SPAN_KINDS; k++)
        snprintf(names[k], sizeof names[k], k == CS_SPAN_BUBBLE ? "%s" : "waiting: %s",
                 cs_span_kind_name((cs_span_kind)k));
    event e;
    for (long i = 0; i < c->span_count; i++) {
        const cs_span *sp = &c->spans[i];
        if (sp->kind < CS_SPAN_TP || sp->kind >= CS_SPAN_KINDS || !traced(o, sp->gpu) ||
            !(sp->end > sp->start))
            continue;
        ev_begin(&e, names[sp->kind], -1, -1, "wait", "X", TRACE_PID(sp->gpu), WAIT_TID);
        ev_ts(&e, ",\"ts\":", sp->start);
        ev_ts(&e, ",\"dur\":", sp->end - sp->start);
        ev_text(&e, "}");
        ev_put(j, &e);
    }
}

/* A counter track per traced GPU: its memory after every change, in GB, by
 * kind (Perfetto stacks a counter's series). */
static void trace_memory(cs_json *j, const cs_capture *c, const trace_set *o)
{
    event e;
    for (long k = 0; k < c->memory_count; k++) {
        const cs_memory_sample *m = &c->memory[k];
        if (!traced(o, m->gpu))
            continue;
        ev_begin(&e, "memory (GB)", -1, -1, NULL, "C", TRACE_PID(m->gpu), -1);
        ev_ts(&e, ",\"ts\":", m->time);
        ev_text(&e, ",\"args\":{\"static\":");
        ev_fixed(&e, (m->weights + m->gradients + m->optimizer + m->reserved) / 1e9, 6);
        ev_text(&e, ",\"activations\":");
        ev_fixed(&e, m->activations / 1e9, 6);
        ev_text(&e, ",\"buffers\":");
        ev_fixed(&e, m->buffers / 1e9, 6);
        ev_text(&e, "}}");
        ev_put(j, &e);
    }
}

/* An op as a slice: its name says class, layer and micro-batch. */
static void trace_op(cs_json *j, const cs_trace_op *t)
{
    char bytes[40];
    const char *kind = cs_op_class_name((cs_op_class)t->klass);
    event e;
    ev_begin(&e, kind, t->layer, t->mb, kind, "X", TRACE_PID(t->gpu), t->stream);
    ev_ts(&e, ",\"ts\":", t->ready);
    ev_ts(&e, ",\"dur\":", t->end - t->ready);
    ev_text(&e, ",\"args\":{\"mb\":");
    ev_int(&e, t->mb);
    ev_text(&e, ",\"layer\":");
    ev_int(&e, t->layer);
    if (t->klass >= CS_OP_TP) {
        ev_text(&e, ",\"bytes\":");
        if (isfinite(t->work)) {
            cs_exact_number(bytes, sizeof bytes, t->work);
            ev_text(&e, bytes);
        } else {
            ev_text(&e, "null");
        }
        ev_ts(&e, ",\"transfer_start_us\":", t->begin);
    }
    ev_text(&e, "}}");
    ev_put(j, &e);
}

/* A pipeline send's arrow end: "s" on the sender, "f" on the receiver. */
static void trace_arrow(cs_json *j, const cs_trace_op *t)
{
    int sending = t->stream == CS_STREAM_SEND_NEXT || t->stream == CS_STREAM_SEND_PREV;
    event e;
    ev_begin(&e, "pipeline", -1, -1, "pp", sending ? "s" : "f", TRACE_PID(t->gpu), -1);
    if (!sending)
        ev_text(&e, ",\"bp\":\"e\"");
    ev_text(&e, ",\"id\":");
    ev_int(&e, (long)t->flow);
    ev_text(&e, ",\"tid\":");
    ev_int(&e, t->stream);
    ev_ts(&e, ",\"ts\":", sending ? t->begin : t->end);
    ev_text(&e, "}");
    ev_put(j, &e);
}

/* How many ends of each pipeline arrow (flows numbered 0, 1, ... among the
 * captured ops) the trace holds: an arrow is drawn only with both. NULL
 * when out of memory (every end written). */
static unsigned char *arrow_ends(const cs_capture *c, const trace_set *o)
{
    unsigned char *ends = calloc((size_t)c->op_count + 1, 1);
    for (long i = 0; ends && i < c->op_count; i++) {
        long f = (long)c->ops[i].flow;
        if (f >= 0 && f < c->op_count && traced(o, c->ops[i].gpu) && ends[f] < 2)
            ends[f]++;
    }
    return ends;
}

void cs_timeline_trace(FILE *out, const cs_capture *c, const cs_plot_options *po)
{
    trace_set set = {NULL, 0, -1};
    if (trace_choose(c, po, &set) != 0) { /* out of memory: one GPU */
        free(set.on);
        set.on = NULL;
        set.only = po->trace_gpus && po->trace_count ? po->trace_gpus[0]
                   : c->gpu_count                    ? c->gpus[0]
                                                     : -1;
    }
    cs_json j;
    cs_json_init_tight(&j, out);
    cs_json_object_begin(&j, NULL);
    cs_json_string(&j, "displayTimeUnit", "ms");
    cs_json_array_begin(&j, "traceEvents");
    char name[128];
    unsigned char *used = streams_used(c);
    for (long i = 0; i < c->gpu_count; i++) {
        if (!traced(&set, c->gpus[i]))
            continue;
        snprintf(name, sizeof name, "GPU %ld (stage %ld)", c->gpus[i], c->stages[i]);
        trace_meta(&j, "process_name", TRACE_PID(c->gpus[i]), -1, name);
        for (int s = 0; s <= WAIT_TID; s++)
            if (!used || used[i * (WAIT_TID + 1) + s]) /* out of memory: name them all */
                trace_meta(&j, "thread_name", TRACE_PID(c->gpus[i]), s,
                           s == WAIT_TID ? "compute stream waits" : stream_names[s]);
    }
    free(used);
    trace_waits(&j, c, &set);
    trace_memory(&j, c, &set);
    unsigned char *ends = arrow_ends(c, &set);
    for (long i = 0; i < c->op_count; i++) {
        const cs_trace_op *t = &c->ops[i];
        if (!traced(&set, t->gpu))
            continue;
        trace_op(&j, t);
        if (t->flow < 0)
            continue;
        /* its other end untraced (or unknown: the flows not renumbered) */
        int half = t->flow >= c->op_count || (ends && ends[t->flow] < 2);
        if (!half)
            trace_arrow(&j, t);
    }
    cs_json_array_end(&j);
    cs_json_object_end(&j);
    free(ends);
    free(set.on);
}

static void trace_json(FILE *out, const void *ctx)
{
    const layout_files *lf = ctx;
    cs_timeline_trace(out, lf->c, lf->o);
}

int cs_timeline_write_trace(const char *root, const char *layout, const cs_capture *c,
                            const cs_plot_options *o)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, layout);
    layout_files lf = {NULL, layout, NULL, c, o, NULL};
    return make_dir(dir) || write_whole(dir, "trace.json", trace_json, &lf) ? -1 : 0;
}

int cs_timeline_write_layout(const char *root, const char *layout, const cs_scenario *s,
                             const cs_replay_result *r, const cs_capture *c,
                             const cs_plot_options *o)
{
    char dir[4096], args[1024];
    snprintf(dir, sizeof dir, "%s/%s", root, layout);
    long labels = 0;
    layout_files lf = {s, layout, r, c, o, &labels};
    if (make_dir(dir) || write_whole(dir, "timeline.dat", timeline_dat, &lf) ||
        write_whole(dir, "memory.dat", memory_dat, &lf))
        return -1;
    char data[512], out[512];
    for (int svg = 0; svg <= o->svg; svg++) {
        const char *term = svg ? "svg" : "png";
        snprintf(data, sizeof data, "%s/timeline.dat", layout);
        snprintf(out, sizeof out, "%s/timeline.%s", layout, term);
        if (o->window_end > o->window_start)
            snprintf(args, sizeof args,
                     "%s: %s, iteration %.4f s, %.3f to %.3f ms\t%s\t%ld\t%.9f\t%.9f", s->name,
                     layout, r->iteration_time_s, o->window_start * 1e3, o->window_end * 1e3, term,
                     labels, o->window_start * 1e3, o->window_end * 1e3);
        else
            snprintf(args, sizeof args, "%s: %s, iteration %.4f s\t%s\t%ld", s->name, layout,
                     r->iteration_time_s, term, labels);
        if (list_plot(root, "plots/timeline.gp", data, out, args))
            return -1;
        snprintf(data, sizeof data, "%s/memory.dat", layout);
        snprintf(out, sizeof out, "%s/memory.%s", layout, term);
        snprintf(args, sizeof args, "%s: %s, memory per GPU\t%.6f\t%.9f\t%.9f\t%ld\t%s\t%ld",
                 s->name, layout, s->cluster.gpu.memory / 1e9, r->memory_peak_time_s * 1e3,
                 r->memory_peak_bytes / 1e9, c->gpu_count, term, highest_block(c));
        if (list_plot(root, "plots/memory.gp", data, out, args))
            return -1;
    }
    return 0;
}

/* ---- the scenario ------------------------------------------------------------------ */

typedef struct compare_files {
    const cs_scenario *s;
    const cs_run *run;
} compare_files;

static const char *const time_columns[CS_TIME_KINDS] = {"compute", "tp_exposed", "ep_exposed",
                                                        "pp_exposed", "dp_exposed", "cp_exposed",
                                                        "bubble"};

static void compare_dat(FILE *out, const void *ctx)
{
    const compare_files *cf = ctx;
    fprintf(out, "# clustersim comparison of scenario %s: time per GPU (ms), averaged over "
                 "GPUs, per replayed layout\n",
            cf->s->name);
    fprintf(out, "layout");
    for (int k = 0; k < CS_TIME_KINDS; k++)
        fprintf(out, "\t%s", time_columns[k]);
    fprintf(out, "\n");
    for (size_t i = 0; i < cf->run->count; i++) {
        const cs_layout_run *lr = &cf->run->layouts[i];
        if (!lr->replayed)
            continue;
        fprintf(out, "\"%s\"", lr->verdict->layout->name);
        for (int k = 0; k < CS_TIME_KINDS; k++)
            fprintf(out, "\t%.9f", lr->result.time_s[k] * 1e3);
        fprintf(out, "\n");
    }
}

int cs_timeline_write_compare(const char *root, const cs_scenario *s, const cs_run *run,
                              const cs_plot_options *o)
{
    compare_files cf = {s, run};
    if (write_whole(root, "compare.dat", compare_dat, &cf))
        return -1;
    char args[512];
    double target = s->targets.iteration_time;
    for (int svg = 0; svg <= o->svg; svg++) {
        const char *term = svg ? "svg" : "png";
        snprintf(args, sizeof args, "%s: time per GPU by kind\t%.9f\t%s", s->name,
                 target == target ? target * 1e3 : -1.0, term);
        if (list_plot(root, "plots/compare.gp", "compare.dat",
                      svg ? "compare.svg" : "compare.png", args))
            return -1;
    }
    return 0;
}
