/*
 * The run thread: instantiate the module in the run's own store, call it,
 * and produce the run's events into its ring through dmn_tracer: the VM's
 * sink for calls, returns and op or step runs, and a function per other
 * event kind.
 *
 * Threads: everything in this file runs on the run's thread. It touches
 * the run's vm objects, the producer side of its ring and the run fields
 * marked "run thread" in dmn.h; never libuv or lws.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <traced/proto_sink.h>
#include <traced/wasi.h>

#include "dmn.h"
#include "lines.h"

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void dmn_tracer_init(dmn_tracer *t, proto_ring *ring, proto_level level)
{
    memset(t, 0, sizeof *t);
    t->ring = ring;
    t->level = level;
    t->t0_ns = mono_ns();
}

/*
 * Timestamps. The precise clock is read for every rare event (those the
 * ring is flushed after), at most every DMN_CLOCK_EVERY events, and
 * whenever the coarse clock has ticked since the last precise reading;
 * the events in between carry the last precise reading. The coarse clock
 * is a vDSO memory read (~3 ns here, against ~25 ns for CLOCK_MONOTONIC
 * on a quiet machine and ~100 ns under load), so every stamp is at most
 * one coarse tick (its resolution, 4 ms on this kernel) older than its
 * event, at any event rate, while fast runs still read the precise clock
 * once per 64 events. Reading the precise clock per event cost a third of
 * the producer's time on the fib kernel at the calls level.
 */
#define DMN_CLOCK_EVERY 64u

static uint64_t coarse_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void stamp(dmn_tracer *t, proto_event *ev, bool rare)
{
    uint64_t coarse = coarse_ns();

    if (rare || t->clock_left == 0 || coarse != t->coarse_ns) {
        t->now_ns = mono_ns() - t->t0_ns;
        t->coarse_ns = coarse;
        t->clock_left = DMN_CLOCK_EVERY;
    }
    t->clock_left--;
    ev->t_ns = t->now_ns;
}

/* ---- the VM's sink (dmn.h, dmn_sink) ---------------------------------- */

/*
 * Sizes. A batch is sealed at DMN_SINK_SOFT bytes of sink entries (about
 * 2,000 call or return entries of one i32, 1,000 of one i64); an entry
 * that does not fit in what is left opens a batch of up to
 * DMN_SINK_HARD, which holds the
 * largest entry the VM can write (VM_MAX_PARAMS = 1000 v128 values:
 * 8 + 2000 * 8 bytes, and 16 of slack). The ring's record limit
 * (capacity/4, 1 MiB rings here) is far above both.
 */
#define DMN_SINK_SOFT (16u << 10)
#define DMN_SINK_HARD (32u << 10)
/* The ticker's period (the sink's time resolution) and the age at which
 * a clock tick seals the open batch (what a live subscriber waits at
 * most for the records of a steadily running program). */
#define DMN_SINK_TICK_NS 1000000u
#define DMN_SINK_SEAL_NS 2000000u

static void *sink_ticker(void *arg)
{
    dmn_sink *s = arg;
    struct timespec ts = {0, DMN_SINK_TICK_NS};

    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        nanosleep(&ts, NULL);
        __atomic_store_n(&s->clock, mono_ns(), __ATOMIC_RELAXED);
        vm_trace_sink_poke(&s->vm); /* the VM checks the clock at its
                                       next call or return */
    }
    return NULL;
}

/* Hand the records written so far to the ring as one batch and open an
 * empty one at the sink's current time. */
static void sink_seal(dmn_tracer *t)
{
    dmn_sink *s = t->sink;
    vm_trace_sink *k = &s->vm;

    vm_trace_sink_flush(k); /* the op run in progress, at level ops */
    if (k->count) {
        if (!t->closed &&
            proto_ring_push_sink(t->ring, s->t_first, k->prev_t, s->buf,
                                 (size_t)(k->pos - s->buf), k->count,
                                 NULL) == PROTO_ERR_CLOSED)
            t->closed = true;
        k->pos = s->buf;
        k->count = 0;
    }
    k->end = s->buf + DMN_SINK_SOFT;
    k->prev_t = s->t_first = k->t;
    vm_trace_sink_poke(k); /* pos and end moved: the VM re-arms */
}

/* The VM saw the ticker move: take the new time; seal a batch that is old
 * enough, or when the loop asks for a flush (then publish the ring too:
 * a host_return may be waiting in it). */
static void sink_tick(vm_trace_sink *k)
{
    dmn_tracer *t = k->user;
    dmn_sink *s = t->sink;
    uint64_t now = __atomic_load_n(k->clock, __ATOMIC_RELAXED);

    k->clock_seen = now;
    if (now > t->t0_ns && now - t->t0_ns > k->t)
        k->t = now - t->t0_ns;
    if (proto_ring_take_flush_request(t->ring)) {
        sink_seal(t);
        proto_ring_flush(t->ring);
    } else if (k->count == 0) {
        k->prev_t = s->t_first = k->t;
    } else if (k->t - s->t_first >= DMN_SINK_SEAL_NS) {
        sink_seal(t);
    }
}

static void sink_make_room(vm_trace_sink *k, size_t need)
{
    dmn_tracer *t = k->user;
    dmn_sink *s = t->sink;

    sink_seal(t);
    if (need > DMN_SINK_SOFT)
        k->end = s->buf + DMN_SINK_HARD;
}

static int sink_open(dmn_tracer *t)
{
    dmn_sink *s = calloc(1, sizeof *s);
    vm_trace_sink *k;

    if (!s)
        return VM_ERR_NOMEM;
    s->buf = malloc(DMN_SINK_HARD);
    if (!s->buf)
        goto fail;
    s->clock = mono_ns();
    k = &s->vm;
    k->pos = s->buf;
    k->end = s->buf + DMN_SINK_SOFT;
    k->clock = &s->clock;
    k->clock_seen = s->clock;
    k->t = k->prev_t = s->t_first =
        s->clock > t->t0_ns ? s->clock - t->t0_ns : 0;
    k->tick = sink_tick;
    k->make_room = sink_make_room;
    k->user = t;
    if (pthread_create(&s->ticker, NULL, sink_ticker, s) != 0)
        goto fail;
    t->sink = s;
    return 0;

fail:
    free(s->buf);
    free(s);
    return VM_ERR_NOMEM;
}

/* The VM is done: the last batch to the ring, the ticker stopped, the
 * VM's counts into the run's. Idempotent. */
static void sink_close(dmn_tracer *t)
{
    dmn_sink *s = t->sink;

    if (!s)
        return;
    sink_seal(t);
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    pthread_join(s->ticker, NULL);
    t->counters.calls += s->vm.calls;
    t->counters.ops += s->vm.nops;
    if (s->vm.max_depth > t->counters.max_depth)
        t->counters.max_depth = s->vm.max_depth;
    free(s->buf);
    free(s->step_line);
    free(s->frame_line);
    free(s);
    t->sink = NULL;
}

/* Before any other event: the sink's records go first (order), and the
 * event's time is not below theirs. */
static void sink_yield(dmn_tracer *t, proto_event *ev)
{
    vm_trace_sink *k = &t->sink->vm;

    sink_seal(t);
    if (ev->t_ns < k->t)
        ev->t_ns = k->t;
    k->t = k->prev_t = t->sink->t_first = ev->t_ns;
}

/* Push one event. Lossless ring: push waits for room, so only a shutdown
 * ring (daemon stopping) makes it fail; then the tracer goes quiet. */
static void emit_at(dmn_tracer *t, proto_event *ev, bool rare)
{
    bool flush;

    if (t->closed || !proto_level_includes(t->level, ev->type))
        return;
    /* The loop's flush tick asks for the events held back by batching: a
     * fresh clock reading, then publish, so that a slow trickle of events
     * reaches subscribers within a tick (docs/daemon.md, "Latency"). */
    flush = proto_ring_take_flush_request(t->ring);
    stamp(t, ev, rare || flush);
    if (t->sink)
        sink_yield(t, ev);
    if (proto_ring_push(t->ring, ev) == PROTO_ERR_CLOSED)
        t->closed = true;
    else if (flush)
        proto_ring_flush(t->ring);
}

/* The frequent events: call, return, host return, op, throw. */
static void emit(dmn_tracer *t, proto_event *ev)
{
    emit_at(t, ev, false);
}

/* The rare ones, flushed right after. */
static void emit_rare(dmn_tracer *t, proto_event *ev)
{
    emit_at(t, ev, true);
}

void dmn_tracer_run_start(dmn_tracer *t, const proto_run_start *rs)
{
    proto_event ev = {.type = PROTO_RUN_START};

    t->t0_ns = mono_ns();
    if (t->sink) { /* the clock restarts: so does the sink's time */
        sink_seal(t);
        t->sink->vm.t = 0;
        t->sink->vm.prev_t = t->sink->t_first = 0;
    }
    ev.as.run_start = *rs;
    emit_rare(t, &ev);
    /* Rare events are published at once so that followers see them. */
    proto_ring_flush(t->ring);
}

int dmn_run_start_lists(proto_run_start *rs, const char *prog,
                        char *const *args, uint32_t nargs,
                        const vm_module *m)
{
    uint32_t nimports = vm_module_import_count(m), nf = 0;
    proto_str *argv = calloc((size_t)nargs + 1, sizeof *argv);
    proto_import *imports = calloc((size_t)nimports + 1, sizeof *imports);

    if (!argv || !imports) {
        free(argv);
        free(imports);
        return -1;
    }
    argv[0].ptr = prog;
    argv[0].len = (uint32_t)strlen(prog);
    for (uint32_t i = 0; i < nargs; i++) {
        argv[i + 1].ptr = args[i];
        argv[i + 1].len = (uint32_t)strlen(args[i]);
    }
    for (uint32_t i = 0; i < nimports; i++) {
        vm_extern_desc d;

        if (vm_module_import(m, i, &d) || d.kind != VM_EXTERN_FUNC)
            continue;
        imports[nf].module.ptr = d.module;
        imports[nf].module.len = (uint32_t)strlen(d.module);
        imports[nf].name.ptr = d.name;
        imports[nf].name.len = (uint32_t)strlen(d.name);
        nf++;
    }
    rs->argv = argv;
    rs->argc = nargs + 1;
    rs->imports = imports;
    rs->nimports = nf;
    return 0;
}

void dmn_run_start_lists_free(proto_run_start *rs)
{
    free((void *)rs->argv);
    free((void *)rs->imports);
    rs->argv = NULL;
    rs->imports = NULL;
    rs->argc = rs->nimports = 0;
}

void dmn_tracer_host_call(dmn_tracer *t, uint32_t func, uint32_t import,
                          const proto_val *args, uint32_t nargs)
{
    proto_event ev = {.type = PROTO_HOST_CALL};

    t->counters.host_calls++;
    ev.as.host.func = func;
    ev.as.host.import = import;
    ev.as.host.vals.items = args;
    ev.as.host.vals.count = nargs;
    emit_rare(t, &ev);
    /* A host call may block (I/O): publish first (proto_ring.h). */
    proto_ring_flush(t->ring);
}

/* A step from the step hook (the lines fallback without the sink's
 * tables): ev is set field by field, since `= {0}` zeroes the whole
 * union with a rep stos that took 14% of a recorded bytecode kernel
 * (perf) when every step came this way. */
void dmn_tracer_step(dmn_tracer *t, uint32_t file, uint32_t line,
                     uint32_t column)
{
    proto_event ev;

    ev.type = PROTO_STEP;
    ev.seq = 0;
    ev.t_ns = 0;
    ev.mem.buf = NULL;
    ev.mem.cap = 0;
    ev.mem.json = NULL;
    ev.as.step.file = file;
    ev.as.step.line = line;
    ev.as.step.column = column;
    emit(t, &ev);
}

void dmn_tracer_throw(dmn_tracer *t, uint32_t tag, const proto_val *payload,
                      uint32_t n)
{
    proto_event ev = {.type = PROTO_THROW};

    t->counters.throws++;
    ev.as.throw_.tag = tag;
    ev.as.throw_.payload.items = payload;
    ev.as.throw_.payload.count = n;
    emit(t, &ev);
}

void dmn_tracer_trap(dmn_tracer *t, int32_t code, const char *message)
{
    proto_event ev = {.type = PROTO_TRAP};

    t->counters.traps++;
    ev.as.trap.code = code;
    ev.as.trap.message.ptr = message ? message : "";
    ev.as.trap.message.len = message ? (uint32_t)strlen(message) : 0;
    emit_rare(t, &ev);
    proto_ring_flush(t->ring);
}

void dmn_tracer_output(dmn_tracer *t, uint32_t fd, const uint8_t *bytes,
                       size_t len)
{
    /* The ring splits an output larger than a record may be; cap one
     * write at the protocol's limit and send the rest after it. */
    while (len > 0) {
        size_t n = len < PROTO_MAX_BYTES ? len : PROTO_MAX_BYTES;
        proto_event ev = {.type = PROTO_OUTPUT};

        ev.as.output.fd = fd;
        ev.as.output.data.ptr = (const char *)bytes;
        ev.as.output.data.len = (uint32_t)n;
        emit_rare(t, &ev);
        bytes += n;
        len -= n;
    }
    proto_ring_flush(t->ring);
}

void dmn_tracer_run_end(dmn_tracer *t, proto_status status,
                        int32_t exit_code, const proto_val *results,
                        uint32_t nresults)
{
    proto_event ev = {.type = PROTO_RUN_END};

    ev.as.run_end.status = status;
    ev.as.run_end.exit_code = exit_code;
    ev.as.run_end.results.items = results;
    ev.as.run_end.results.count = nresults;
    sink_close(t);
    ev.as.run_end.counters = t->counters;
    emit_rare(t, &ev);
    proto_ring_finish(t->ring);
}

/* ---- the VM's hooks -------------------------------------------------------- */

/* The hook's values as protocol values, in the adapter's scratch array
 * (grown, rarely, to the largest count seen; on failure the values are
 * cut to what fits rather than dropping the event). */
static const proto_val *adapt_vals(dmn_vm_tracer *a, const vm_trace_vals *v,
                                   uint32_t *n)
{
    uint32_t count = v->count;

    if (count > a->cap) {
        proto_val *grown = realloc(a->vals, count * sizeof *grown);
        if (grown) {
            a->vals = grown;
            a->cap = count;
        } else {
            count = a->cap;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        vm_val x;

        vm_trace_vals_get(v, i, &x);
        a->vals[i] = proto_val_from_vm(&x);
    }
    *n = count;
    return a->vals;
}

/*
 * The frame events the hooks still give (host returns; calls and returns
 * too should the lines tables not be allocated) go from the hook's slot
 * values straight into the ring (proto_ring_push_frame: no proto_val
 * array, a specialised encoder, the same bytes). Otherwise as emit_at.
 */
static void emit_frame(dmn_tracer *t, proto_event_type type, uint32_t func,
                       uint32_t second, const vm_trace_vals *vals)
{
    proto_event stamped = {.type = type};
    bool flush;

    if (t->closed || !proto_level_includes(t->level, type))
        return;
    flush = proto_ring_take_flush_request(t->ring);
    stamp(t, &stamped, flush);
    if (t->sink)
        sink_yield(t, &stamped);
    if (proto_ring_push_frame(t->ring, type, stamped.t_ns, func, second,
                              vals, NULL) == PROTO_ERR_CLOSED)
        t->closed = true;
    else if (flush)
        proto_ring_flush(t->ring);
}

static void hook_call(void *user, const vm_trace_frame *f)
{
    dmn_tracer *t = ((dmn_vm_tracer *)user)->t;

    t->counters.calls++;
    if (f->depth > t->counters.max_depth)
        t->counters.max_depth = f->depth;
    emit_frame(t, PROTO_CALL, f->func_idx, f->depth, &f->vals);
}

/* Unwound and tail returns have no values: the event's results are
 * empty, and the trap, throw or following call says why. */
static void hook_ret(void *user, const vm_trace_frame *f)
{
    dmn_vm_tracer *a = user;

    emit_frame(a->t, PROTO_RETURN, f->func_idx, f->depth, &f->vals);
}

/* Function imports come first in the function index space and run_start
 * lists the function imports in order, so both indices are the same. */
static void hook_host_call(void *user, const vm_trace_frame *f)
{
    dmn_vm_tracer *a = user;
    uint32_t n;
    const proto_val *v = adapt_vals(a, &f->vals, &n);

    dmn_tracer_host_call(a->t, f->func_idx, f->func_idx, v, n);
}

static void hook_host_return(void *user, const vm_trace_frame *f)
{
    dmn_vm_tracer *a = user;

    emit_frame(a->t, PROTO_HOST_RETURN, f->func_idx, f->func_idx, &f->vals);
}

static void hook_throw(void *user, const vm_trace_throw *th)
{
    dmn_vm_tracer *a = user;
    uint32_t n;
    const proto_val *v = adapt_vals(a, &th->payload, &n);

    dmn_tracer_throw(a->t, th->tag_idx, v, n);
}

/* Level lines (lines.c): a frame starts with no line, and a step point
 * is an event when it changes its frame's line. */
static void hook_call_lines(void *user, const vm_trace_frame *f)
{
    dmn_lines_enter(((dmn_vm_tracer *)user)->lines, f->depth);
    hook_call(user, f);
}

static void hook_step(void *user, uint32_t offset, uint32_t point,
                      uint32_t depth)
{
    dmn_vm_tracer *a = user;
    const vm_debug_row *row = dmn_lines_step(a->lines, point, depth);

    (void)offset;
    if (row)
        dmn_tracer_step(a->t, row->file, row->line, row->column);
}

/* A point's line, for numbering the lines (sink_lines). */
typedef struct point_line {
    uint32_t file, line, point;
} point_line;

static int by_line(const void *x, const void *y)
{
    const point_line *a = x, *b = y;

    if (a->file != b->file)
        return a->file < b->file ? -1 : 1;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return 0;
}

/*
 * The sink's step tables for lines (vm.h, "Trace sinks"): per point the
 * id of its (file, line), equal ids for equal lines, VM_SINK_NO_LINE for
 * a row of line 0, which never steps (dmn_lines_step's rules); per depth
 * the frame's line. Frames deeper than DMN_SINK_DEPTHS always step.
 */
#define DMN_SINK_DEPTHS (1u << 16)

static int sink_lines(dmn_sink *s, const dmn_lines *l)
{
    uint32_t n = (uint32_t)l->nsteps, id = 0;
    point_line *order;

    s->step_line = malloc(((size_t)n + 1) * sizeof *s->step_line);
    s->frame_line = malloc(DMN_SINK_DEPTHS * sizeof *s->frame_line);
    order = malloc(((size_t)n + 1) * sizeof *order);
    if (!s->step_line || !s->frame_line || !order) {
        free(order);
        return VM_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        order[i].file = l->steps[i].file;
        order[i].line = l->steps[i].line;
        order[i].point = i;
    }
    qsort(order, n, sizeof *order, by_line);
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0 && by_line(&order[i - 1], &order[i]) != 0)
            id++;
        s->step_line[order[i].point] =
            order[i].line ? id : VM_SINK_NO_LINE;
    }
    free(order);
    for (uint32_t d = 0; d < DMN_SINK_DEPTHS; d++)
        s->frame_line[d] = VM_SINK_NO_LINE;
    s->vm.step_line = s->step_line;
    s->vm.frame_line = s->frame_line;
    s->vm.frame_cap = DMN_SINK_DEPTHS;
    return 0;
}

void dmn_vm_tracer_lines(dmn_vm_tracer *a, dmn_lines *lines)
{
    a->lines = lines;
    if (a->t->sink && sink_lines(a->t->sink, lines) == 0)
        return; /* the VM steps into the sink */
    /* No memory for the tables: the hooks do it, more slowly. */
    sink_close(a->t);
    a->vm.sink = NULL;
    a->vm.call = hook_call_lines;
    a->vm.step = hook_step;
}

static void hook_trap(void *user, int code, const char *message)
{
    dmn_vm_tracer *a = user;

    a->trapped = true;
    dmn_tracer_trap(a->t, code, message);
}

int dmn_vm_tracer_init(dmn_vm_tracer *a, dmn_tracer *t, const vm_module *m)
{
    proto_frames *frames;

    memset(a, 0, sizeof *a);
    a->t = t;
    a->cap = 16;
    a->vals = calloc(a->cap, sizeof *a->vals);
    if (!a->vals)
        return VM_ERR_NOMEM;
    a->vm.user = a;
    a->vm.call = hook_call;
    a->vm.ret = hook_ret;
    a->vm.host_call = hook_host_call;
    a->vm.host_return = hook_host_return;
    a->vm.throw_ = hook_throw;
    a->vm.trap = hook_trap;
    /* Calls and returns, op runs at level ops (which switches the VM to
     * instrumented code, so a calls run never pays for it) and step runs
     * at level lines: the VM writes them into the sink. */
    if (proto_frames_new(m, &frames) != 0)
        goto fail;
    if (sink_open(t) != 0) {
        proto_frames_free(frames);
        goto fail;
    }
    /* Sink records are encoded with the module's types (proto_sink.h). */
    proto_ring_set_frames(t->ring, frames);
    t->sink->vm.ops = t->level == PROTO_LEVEL_OPS;
    a->vm.sink = &t->sink->vm;
    return 0;

fail:
    free(a->vals);
    a->vals = NULL;
    return VM_ERR_NOMEM;
}

void dmn_vm_tracer_close(dmn_vm_tracer *a)
{
    if (a->t)
        sink_close(a->t);
    free(a->vals);
    a->vals = NULL;
    a->cap = 0;
}

/* ---- the thread ---------------------------------------------------------- */

static void on_output(void *user, int stream, const uint8_t *bytes,
                      size_t len)
{
    dmn_tracer_output(user, (uint32_t)stream, bytes, len);
}

proto_status dmn_status_of(int rc, int32_t exit_code)
{
    if (rc == 0)
        return exit_code ? PROTO_STATUS_EXIT : PROTO_STATUS_OK;
    if (rc == VM_ERR_EXIT)
        return PROTO_STATUS_EXIT;
    if (rc == VM_ERR_FUEL)
        return PROTO_STATUS_FUEL;
    if (rc == VM_ERR_CANCELLED)
        return PROTO_STATUS_CANCELLED;
    if (rc == VM_ERR_EXCEPTION)
        return PROTO_STATUS_EXCEPTION;
    /* Traps, and failures to link or instantiate (the message says). */
    return PROTO_STATUS_TRAP;
}

/* Call the export r->spec.invoke with the arguments parsed at submit. */
static int run_invoke(dmn_run *r, const vm_tracer *vt,
                      proto_val **results_out, uint32_t *nres)
{
    vm_instance *inst;
    vm_extern ext;
    vm_functype_view ft;
    vm_val *results;
    int rc;

    rc = vm_instance_new_traced(r->store, r->module, NULL, 0, vt, &inst,
                                r->vm_err, sizeof r->vm_err);
    if (rc)
        return rc;
    if (vm_instance_export(inst, r->spec.invoke, &ext) != 0 ||
        ext.kind != VM_EXTERN_FUNC || vm_func_type(ext.of.func, &ft) != 0) {
        snprintf(r->vm_err, sizeof r->vm_err, "no exported function %s",
                 r->spec.invoke);
        return VM_ERR_NOT_FOUND;
    }
    results = calloc(ft.nresults + 1u, sizeof *results);
    *results_out = calloc(ft.nresults + 1u, sizeof **results_out);
    if (!results || !*results_out) {
        free(results);
        return VM_ERR_NOMEM;
    }
    rc = vm_func_call_traced(r->store, ext.of.func, r->invoke_args,
                             ft.nparams, results, ft.nresults, vt, r->vm_err,
                             sizeof r->vm_err);
    if (rc == 0) {
        for (uint32_t i = 0; i < ft.nresults; i++)
            (*results_out)[i] = proto_val_from_vm(&results[i]);
        *nres = ft.nresults;
    }
    free(results);
    return rc;
}

/* Run a WASI command; its output becomes output events. */
static int run_wasi(dmn_run *r, const vm_tracer *vt, int32_t *exit_code)
{
    vm_wasi_config cfg;
    vm_wasi *wasi = NULL;
    const char **argv;
    int rc;

    argv = calloc(r->spec.nargs + 2u, sizeof *argv);
    if (!argv)
        return VM_ERR_NOMEM;
    argv[0] = r->spec.name;
    for (uint32_t i = 0; i < r->spec.nargs; i++)
        argv[i + 1] = r->spec.args[i];
    vm_wasi_config_default(&cfg);
    cfg.argv = argv;
    cfg.argc = r->spec.nargs + 1u;
    cfg.envp = (const char *const *)r->spec.env;
    cfg.envc = r->spec.nenv;
    cfg.stdin_fd = -1;
    cfg.stdout_fd = -1;
    cfg.stderr_fd = -1;
    cfg.on_output = on_output;
    cfg.capture_only = true;
    cfg.user = &r->tracer;
    rc = vm_wasi_new(r->store, &cfg, &wasi, r->vm_err, sizeof r->vm_err);
    if (rc == 0) {
        rc = vm_wasi_run_start_traced(wasi, r->module, exit_code, NULL, vt,
                                      r->vm_err, sizeof r->vm_err);
        vm_wasi_free(wasi);
    }
    free(argv);
    return rc;
}

void dmn_run_thread(void *arg)
{
    dmn_run *r = arg;
    proto_run_start rs;
    int lists_rc;
    proto_val *results = NULL;
    uint32_t nres = 0;
    int32_t exit_code = 0;
    dmn_vm_tracer hooks = {0};
    dmn_lines lines;
    int lines_rc = 0;
    int rc;

    /* Level lines: the module's step points and run_start's file table
     * (submission checked that the module has line info). */
    memset(&lines, 0, sizeof lines);
    if (r->spec.level == PROTO_LEVEL_LINES)
        lines_rc = dmn_lines_init(&lines, r->module, r->vm_err,
                                  sizeof r->vm_err);
    /* run_start: argv as the program sees it, and the function imports. */
    memset(&rs, 0, sizeof rs);
    lists_rc = dmn_run_start_lists(&rs, r->spec.name, r->spec.args,
                                   r->spec.nargs, r->module);
    rs.run_id = r->id;
    rs.wall_ns = r->created_ns;
    rs.level = r->spec.level;
    rs.module.ptr = r->spec.name;
    rs.module.len = (uint32_t)strlen(r->spec.name);
    memcpy(rs.hash, r->hash, 32);
    if (r->spec.level == PROTO_LEVEL_LINES && !lines_rc)
        dmn_lines_run_start(&lines, &rs);
    dmn_tracer_run_start(&r->tracer, &rs);

    if (lines_rc)
        rc = VM_ERR_ARG; /* the message is in r->vm_err */
    else if (lists_rc || dmn_vm_tracer_init(&hooks, &r->tracer, r->module))
        rc = VM_ERR_NOMEM;
    else {
        if (r->spec.level == PROTO_LEVEL_LINES)
            dmn_vm_tracer_lines(&hooks, &lines);
        if (r->spec.invoke)
            rc = run_invoke(r, &hooks.vm, &results, &nres);
        else
            rc = run_wasi(r, &hooks.vm, &exit_code);
    }
    dmn_vm_tracer_close(&hooks);
    if (rc == VM_ERR_EXIT)
        exit_code = vm_store_exit_code(r->store);
    /* A trap outside the hooks' sight (instantiation) still gets its
     * event; one the hooks reported does not get a second. */
    if (vm_err_is_trap(rc) && !hooks.trapped)
        dmn_tracer_trap(&r->tracer, rc, r->vm_err[0] ? r->vm_err
                                                     : vm_strerror(rc));
    r->vm_rc = rc;
    if (rc && !r->vm_err[0])
        snprintf(r->vm_err, sizeof r->vm_err, "%s", vm_strerror(rc));
    dmn_tracer_run_end(&r->tracer, dmn_status_of(rc, exit_code), exit_code,
                       results, nres);
    free(results);
    dmn_run_start_lists_free(&rs);
    dmn_lines_close(&lines);
}
