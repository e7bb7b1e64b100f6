/* See ring_harness.h. */
#include "ring_harness.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "traced/proto_ring.h"
#include "traced/proto_sink.h"
#include "traced/vm.h"

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* A value of type from the random bits v; a reference's id is at least
 * min_id (or the null reference). */
static void gen_val(proto_val *x, uint8_t type, uint64_t v, uint64_t min_id)
{
    memset(x, 0, sizeof *x);
    x->type = type;
    switch (type) {
    case VM_I32: x->of.i32 = (int32_t)(v >> 20); break;
    case VM_I64: x->of.i64 = (int64_t)v; break;
    case VM_F32: x->of.f32_bits = (uint32_t)(v >> 7); break;
    case VM_F64: x->of.f64_bits = v; break;
    case VM_V128:
        for (int b = 0; b < 16; b++)
            x->of.v128[b] = (uint8_t)(v >> (b * 4));
        break;
    default:
        x->of.ref = (v & 7) == 0 ? PROTO_REF_NULL : min_id + (v >> 40);
        break;
    }
}

void ring_harness_event(uint64_t i, proto_event *ev, proto_val *vals,
                        char *bytes)
{
    uint64_t h = mix(i + 1);
    uint32_t nvals = (uint32_t)(h >> 8) % 5;
    static const uint8_t types[] = {VM_I32, VM_I64, VM_F32, VM_F64,
                                    VM_V128, VM_FUNCREF, VM_EXTERNREF};

    memset(ev, 0, sizeof *ev);
    ev->t_ns = i;
    for (uint32_t k = 0; k < nvals; k++) {
        uint64_t v = mix(h + k);

        gen_val(&vals[k], types[v % 7], v, 0);
    }
    switch (h % 16) {
    case 0: case 1: case 2: case 3: case 4:
        ev->type = PROTO_CALL;
        ev->as.call = (proto_call){(uint32_t)(h >> 16) % 5000,
                                   (uint32_t)(h >> 32) % 64, {vals, nvals}};
        break;
    case 5: case 6: case 7: case 8:
        ev->type = PROTO_RETURN;
        ev->as.ret = (proto_return){(uint32_t)(h >> 16) % 5000,
                                    (uint32_t)(h >> 32) % 64, {vals, nvals}};
        break;
    case 9: case 10: case 11:
        ev->type = PROTO_OP;
        ev->as.op.opcode = (h >> 40) % 3 == 0
                               ? PROTO_OPCODE(0xfd, (uint32_t)(h >> 20) % 300)
                               : (uint32_t)(h >> 20) % 0xfb;
        ev->as.op.offset = (uint32_t)(h >> 24);
        break;
    case 12: {
        uint32_t n = (uint32_t)(h >> 24) % 64;

        for (uint32_t b = 0; b < n; b++)
            bytes[b] = (char)mix(h + b);
        ev->type = PROTO_OUTPUT;
        ev->as.output = (proto_output){1 + (uint32_t)(h >> 50) % 2, {bytes, n}};
        break;
    }
    case 13:
        ev->type = (h >> 30) & 1 ? PROTO_HOST_CALL : PROTO_HOST_RETURN;
        ev->as.host = (proto_host_call){(uint32_t)(h >> 16) % 20,
                                        (uint32_t)(h >> 36) % 20, {vals, nvals}};
        break;
    case 14:
        ev->type = PROTO_THROW;
        ev->as.throw_ = (proto_throw){(uint32_t)(h >> 16) % 10, {vals, nvals}};
        break;
    default:
        if ((h >> 20) % 64 == 0) {
            /* Rare, and never dropped: exercises the waiting path in lossy
             * mode too. */
            ev->type = PROTO_TRAP;
            ev->as.trap.code = VM_ERR_TRAP_UNREACHABLE;
            ev->as.trap.message = (proto_str){"unreachable", 11};
        } else {
            ev->type = PROTO_STEP;
            ev->as.step = (proto_step){(uint32_t)h % 7, (uint32_t)(h >> 8) % 9999,
                                       (uint32_t)(h >> 24) % 200};
        }
        break;
    }
}

/*
 * Sink mode: calls and returns are of the functions of
 * ring_harness_sink_wasm (ring_harness.h; their
 * values of the functions' types), so that runs of them can go as the
 * VM's sink entries (vm.h, "Trace sinks"); the other events are
 * ring_harness_event's.
 *
 * (module
 *   (import "env" "h" (func $h (param i32 f32)))            ;; func 0
 *   (func $all (param i64 f32 f64 v128 funcref externref)   ;; func 1
 *              (result funcref externref v128 i32)
 *     local.get 4 local.get 5 local.get 3 i32.const 7)
 *   (func $five (param i32 i32 i32 i32 i32)                 ;; func 2
 *               (result i32 i32 i32 i32)
 *     local.get 0 local.get 1 local.get 2 local.get 3)
 *   (func $one (param i32) (result f32) f32.const 0))       ;; func 3
 *
 * ($one's calls and returns go as one-word entries half the time.)
 */
const uint8_t ring_harness_sink_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x24, 0x04, 0x60,
    0x02, 0x7f, 0x7d, 0x00, 0x60, 0x06, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f,
    0x04, 0x70, 0x6f, 0x7b, 0x7f, 0x60, 0x05, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f,
    0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7d, 0x02, 0x09,
    0x01, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x68, 0x00, 0x00, 0x03, 0x04, 0x03,
    0x01, 0x02, 0x03, 0x0a, 0x1f, 0x03, 0x0a, 0x00, 0x20, 0x04, 0x20, 0x05,
    0x20, 0x03, 0x41, 0x07, 0x0b, 0x0a, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20,
    0x02, 0x20, 0x03, 0x0b, 0x07, 0x00, 0x43, 0x00, 0x00, 0x00, 0x00, 0x0b,
};
const size_t ring_harness_sink_wasm_len = sizeof ring_harness_sink_wasm;

static const struct {
    uint8_t nparams, nresults;
    uint8_t params[6], results[4];
} sink_funcs[4] = {
    {2, 0, {VM_I32, VM_F32}, {0}},
    {6, 4, {VM_I64, VM_F32, VM_F64, VM_V128, VM_FUNCREF, VM_EXTERNREF},
     {VM_FUNCREF, VM_EXTERNREF, VM_V128, VM_I32}},
    {5, 4, {VM_I32, VM_I32, VM_I32, VM_I32, VM_I32},
     {VM_I32, VM_I32, VM_I32, VM_I32}},
    {1, 1, {VM_I32}, {VM_F32}},
};

/* Event i is a call or a return (ring_harness_event's cases 0-8). */
static bool is_callret(uint64_t i)
{
    return mix(i + 1) % 16 <= 8;
}

static void sink_event(uint64_t i, proto_event *ev, proto_val *vals,
                       char *bytes)
{
    uint64_t h = mix(i + 1);
    uint32_t func = (uint32_t)(h >> 16) % 4, n;
    const uint8_t *types;

    if (!is_callret(i)) {
        ring_harness_event(i, ev, vals, bytes);
        return;
    }
    memset(ev, 0, sizeof *ev);
    ev->t_ns = i;
    if (h % 16 < 5) {
        n = sink_funcs[func].nparams;
        types = sink_funcs[func].params;
    } else {
        n = sink_funcs[func].nresults;
        types = sink_funcs[func].results;
    }
    for (uint32_t k = 0; k < n; k++) /* slot 0 is null: ids from 1 */
        gen_val(&vals[k], types[k], mix(h + k), 1);
    if (h % 16 < 5) {
        ev->type = PROTO_CALL;
        ev->as.call = (proto_call){func, (uint32_t)(h >> 32) % 64,
                                   {vals, n}};
    } else {
        ev->type = PROTO_RETURN;
        ev->as.ret = (proto_return){func, (uint32_t)(h >> 32) % 64,
                                    {vals, n}};
    }
}

/* Event i of the run's stream. */
static void gen_event(bool sinks, uint64_t i, proto_event *ev,
                      proto_val *vals, char *bytes)
{
    if (sinks)
        sink_event(i, ev, vals, bytes);
    else
        ring_harness_event(i, ev, vals, bytes);
}

typedef struct shared {
    const ring_harness_opts *o;
    ring_harness_result *res;
    proto_ring *ring;
    sem_t wake;
    atomic_int failed;
} shared;

static void on_wake(void *user)
{
    shared *s = user;

    sem_post(&s->wake);
}

/* Random pacing: mostly nothing, sometimes a short spin, rarely a yield
 * or a sleep, so that both sides are sometimes faster than the other. */
static void pace(uint64_t *rng, unsigned spin_mask, unsigned sleep_mask)
{
    uint64_t r = *rng = mix(*rng);

    if ((r & sleep_mask) == 0) {
        struct timespec ts = {0, (long)(r >> 40) % 200000};

        nanosleep(&ts, NULL);
    } else if ((r & spin_mask) == 0) {
        for (volatile unsigned k = 0; k < (unsigned)(r >> 50) % 2000; k++)
            ;
    } else if ((r & 0xfffff) == 1) {
        sched_yield();
    }
}

/*
 * v's values in the VM's slot encoding (vm.h, vm_trace_vals) into slots
 * (room for 16) and their types into types (room for 8, may be NULL):
 * the slot count, or -1 for a reference whose id is 0, which has no slot
 * form (slot 0 is null).
 */
static int to_slots(const proto_vals *v, uint8_t *types, uint64_t *slots)
{
    int k = 0;

    for (uint32_t i = 0; i < v->count; i++) {
        const proto_val *x = &v->items[i];

        if (types)
            types[i] = x->type;
        switch (x->type) {
        case VM_I32: slots[k++] = (uint32_t)x->of.i32; break;
        case VM_I64: slots[k++] = (uint64_t)x->of.i64; break;
        case VM_F32: slots[k++] = x->of.f32_bits; break;
        case VM_F64: slots[k++] = x->of.f64_bits; break;
        case VM_V128:
            memcpy(&slots[k], x->of.v128, 16);
            k += 2;
            break;
        default:
            if (x->of.ref == 0)
                return -1;
            slots[k++] = x->of.ref == PROTO_REF_NULL ? 0 : x->of.ref;
            break;
        }
    }
    return k;
}

/*
 * Half of the call/return/host events go through proto_ring_push_frame,
 * as the daemon's hooks push them: their values in the VM's slot
 * encoding. A reference whose id is 0 has no slot form (slot 0 is null),
 * so such events take the ordinary push.
 */
static int push_as_frame(proto_ring *r, proto_event *ev)
{
    uint8_t types[8];
    uint64_t slots[16];
    vm_trace_vals tv = {0, types, slots};
    const proto_vals *v;
    uint32_t func, second;

    switch (ev->type) {
    case PROTO_CALL:
        v = &ev->as.call.args;
        func = ev->as.call.func;
        second = ev->as.call.depth;
        break;
    case PROTO_RETURN:
        v = &ev->as.ret.results;
        func = ev->as.ret.func;
        second = ev->as.ret.depth;
        break;
    case PROTO_HOST_CALL:
    case PROTO_HOST_RETURN:
        v = &ev->as.host.vals;
        func = ev->as.host.func;
        second = ev->as.host.import;
        break;
    default:
        return 1;
    }
    if (to_slots(v, types, slots) < 0)
        return 1;
    tv.count = v->count;
    return proto_ring_push_frame(r, ev->type, ev->t_ns, func, second, &tv,
                                 &ev->seq);
}

/* The producer's failure, unless the consumer's came first (the first
 * one is the cause: a consumer that fails shuts the ring, and the
 * producer's next push then fails with CLOSED). */
static __attribute__((format(printf, 2, 3))) void
producer_fail(shared *s, const char *fmt, ...)
{
    va_list ap;

    if (!atomic_exchange(&s->failed, 1)) {
        va_start(ap, fmt);
        vsnprintf(s->res->error, sizeof s->res->error, fmt, ap);
        va_end(ap);
    }
    proto_ring_shutdown(s->ring);
}

/* The result of pushing events i..i+k-1 as one record (what: the call)
 * as expected: 0 (lossy: dropped as a whole is fine); else the
 * producer's failure, -1. */
static int pushed(shared *s, const char *what, uint64_t i, uint32_t k,
                  int rc, uint64_t first)
{
    if ((rc < 0 && !(rc == PROTO_ERR_FULL && s->o->lossy)) || first != i) {
        producer_fail(s, "%s %llu+%u: %s, seq %llu", what,
                      (unsigned long long)i, k, proto_err_name(rc),
                      (unsigned long long)first);
        return -1;
    }
    return 0;
}

enum { BATCH_MAX = 32 };

/*
 * Events i..i+k-1 as one batch, encoded as the VM's sink will: records
 * against the body's own state (first seq, first t, offset 0). 0 when it
 * went as expected (delivered, or dropped in lossy mode), -1 otherwise.
 */
static int push_batch(shared *s, uint64_t i, uint32_t k)
{
    uint8_t body[BATCH_MAX * 160];
    proto_val vals[8];
    char bytes[64];
    proto_event ev;
    proto_delta d = {.next_seq = i, .prev_t = i};
    uint64_t first = ~0ull;
    size_t len = 0, n;
    int rc;

    for (uint32_t j = 0; j < k; j++) {
        ring_harness_event(i + j, &ev, vals, bytes);
        ev.seq = i + j;
        if (proto_encode(&d, &ev, body + len, sizeof body - len, &n) < 0) {
            producer_fail(s, "encode %llu for a batch",
                          (unsigned long long)(i + j));
            return -1;
        }
        len += n;
    }
    rc = proto_ring_push_batch(s->ring, i, i + k - 1, body, len, k, &first);
    return pushed(s, "push_batch", i, k, rc, first);
}

/*
 * Events i..i+k-1, all calls and returns, as one sink record: per event
 * the entry the VM writes (word 0 with kind, slots, function and depth,
 * then the values in the slot encoding; for $one, half the time the
 * one-word form, VM_SINK_CALL1), a time entry of 1 between two
 * (t_ns = seq), and every fourth record starts one ns early with a time
 * entry before its first event. 0 when it went as expected.
 */
static int push_sink(shared *s, uint64_t i, uint32_t k)
{
    uint64_t words[BATCH_MAX * 16];
    proto_val vals[8];
    char bytes[64];
    proto_event ev;
    uint64_t first = ~0ull, t_first = i;
    size_t n = 0;
    int rc;

    if (i > 0 && mix(i) % 4 == 0) {
        t_first = i - 1;
        words[n++] = VM_SINK_TIME;
        words[n++] = 1;
    }
    for (uint32_t j = 0; j < k; j++) {
        const proto_vals *v;
        size_t w0;
        uint32_t nslots;

        if (j > 0) {
            words[n++] = VM_SINK_TIME;
            words[n++] = 1;
        }
        sink_event(i + j, &ev, vals, bytes);
        w0 = n++;
        v = ev.type == PROTO_CALL ? &ev.as.call.args : &ev.as.ret.results;
        n += (size_t)to_slots(v, NULL, &words[n]); /* ids are never 0 */
        nslots = (uint32_t)(n - w0 - 1);
        if ((ev.type == PROTO_CALL ? ev.as.call.func : ev.as.ret.func) == 3 &&
            mix(i + j) % 2) {
            const proto_call *c = &ev.as.call;
            const proto_return *r = &ev.as.ret;

            words[w0] = ev.type == PROTO_CALL
                            ? VM_SINK_CALL1 | (uint64_t)c->func << 4 |
                                  (uint64_t)c->depth << 16 |
                                  words[w0 + 1] << 32
                            : VM_SINK_RETURN1 | (uint64_t)r->func << 4 |
                                  (uint64_t)r->depth << 16 |
                                  words[w0 + 1] << 32;
            n = w0 + 1;
            continue;
        }
        words[w0] = (uint64_t)(ev.type == PROTO_CALL ? VM_SINK_CALL
                                                      : VM_SINK_RETURN) |
                    (uint64_t)nslots << 4 |
                    (uint64_t)(ev.type == PROTO_CALL ? ev.as.call.func
                                                     : ev.as.ret.func)
                        << 16 |
                    (uint64_t)(ev.type == PROTO_CALL ? ev.as.call.depth
                                                     : ev.as.ret.depth)
                        << 36;
    }
    rc = proto_ring_push_sink(s->ring, t_first, i + k - 1,
                              (const uint8_t *)words, n * 8, k, &first);
    return pushed(s, "push_sink", i, k, rc, first);
}

/* Calls and returns from i on, at most max of them (sink mode). */
static uint32_t callret_run(uint64_t i, uint64_t max)
{
    uint32_t k = 0;

    while (k < max && is_callret(i + k))
        k++;
    return k;
}

static void *producer(void *arg)
{
    shared *s = arg;
    proto_val vals[8];
    char bytes[64];
    proto_event ev;
    uint64_t rng = s->o->seed * 2 + 1;

    for (uint64_t i = 0; i < s->o->count; i++) {
        int rc;

        if (s->o->sinks && mix(rng + i) % 2 == 0) {
            uint64_t max = 1 + (mix(rng + i) >> 8) % BATCH_MAX;
            uint32_t k = callret_run(i, max < s->o->count - i
                                             ? max
                                             : s->o->count - i);

            if (k > 0) {
                if (push_sink(s, i, k) < 0)
                    break;
                i += k - 1;
                pace(&rng, s->o->slow_consumer ? 0x3fff : 0x3ff,
                     s->o->slow_consumer ? 0x3fffff : 0xfffff);
                continue;
            }
        }
        if (s->o->batches && mix(rng + i) % 4 == 0) {
            uint64_t k = 1 + (mix(rng + i) >> 8) % BATCH_MAX;

            if (k > s->o->count - i)
                k = s->o->count - i;
            if (push_batch(s, i, (uint32_t)k) < 0)
                break;
            i += k - 1;
            pace(&rng, s->o->slow_consumer ? 0x3fff : 0x3ff,
                 s->o->slow_consumer ? 0x3fffff : 0xfffff);
            continue;
        }
        gen_event(s->o->sinks, i, &ev, vals, bytes);
        rc = i & 1 ? push_as_frame(s->ring, &ev) : 1;
        if (rc == 1)
            rc = proto_ring_push(s->ring, &ev);
        if ((rc < 0 && !(rc == PROTO_ERR_FULL && s->o->lossy)) || ev.seq != i) {
            producer_fail(s, "push %llu: %s, seq %llu", (unsigned long long)i,
                          proto_err_name(rc), (unsigned long long)ev.seq);
            break;
        }
        if (atomic_load_explicit(&s->failed, memory_order_relaxed))
            break;
        pace(&rng, s->o->slow_consumer ? 0x3fff : 0x3ff,
             s->o->slow_consumer ? 0x3fffff : 0xfffff);
    }
    proto_ring_finish(s->ring);
    return NULL;
}

static void consumer_fail(shared *s, const char *fmt, unsigned long long a,
                          unsigned long long b)
{
    if (!atomic_exchange(&s->failed, 1))
        snprintf(s->res->error, sizeof s->res->error, fmt, a, b);
    proto_ring_shutdown(s->ring);
}

static void *consumer(void *arg)
{
    shared *s = arg;
    proto_val vals[8];
    char bytes[64], err[128];
    proto_event ev, want;
    proto_raw raw;
    proto_raw_events it;
    bool expanding = false; /* it holds the rest of a raw batch */
    uint64_t expect = 0, rng = s->o->seed * 3 + 7;

    proto_event_init(&ev);
    for (;;) {
        int rc;

        if (expanding) {
            rc = proto_raw_events_next(&it, &ev, err, sizeof err);
            if (rc == PROTO_ERR_END) {
                if (expect != raw.next_seq) {
                    consumer_fail(s, "batch ended at seq %llu, header says "
                                  "%llu", expect,
                                  (unsigned long long)raw.next_seq);
                    break;
                }
                expanding = false;
            }
        }
        if (!expanding) {
            /* Mix both consumer styles (they share the delta state): a
             * third of the records are read raw and decoded from that.
             * Inside a batch that next is expanding, next_raw refuses
             * (ARG) and next goes on. */
            rc = expect % 3 == 1
                     ? proto_ring_next_raw(s->ring, &raw, err, sizeof err)
                     : proto_ring_next(s->ring, &ev, err, sizeof err);
            if (rc == PROTO_ERR_ARG && expect % 3 == 1 &&
                (s->o->batches || s->o->sinks)) {
                rc = proto_ring_next(s->ring, &ev, err, sizeof err);
            } else if (rc == 0 && expect % 3 == 1 &&
                       raw.type == PROTO_BATCH) {
                if (raw.seq != expect) {
                    consumer_fail(s, "batch at seq %llu starts at %llu",
                                  expect, (unsigned long long)raw.seq);
                    break;
                }
                proto_raw_events_init(&it, &raw);
                expanding = true;
                rc = proto_raw_events_next(&it, &ev, err, sizeof err);
            } else if (rc == 0 && expect % 3 == 1) {
                rc = proto_raw_decode(&raw, &ev, err, sizeof err);
                if (rc == 0 && (raw.seq != ev.seq || raw.t_ns != ev.t_ns ||
                                raw.next_seq != proto_event_next_seq(&ev))) {
                    consumer_fail(s, "raw header of seq %llu differs (%llu)",
                                  expect, (unsigned long long)raw.seq);
                    break;
                }
            }
        }

        if (rc == PROTO_ERR_END)
            break;
        if (rc == PROTO_ERR_AGAIN) {
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            do
                rc = sem_timedwait(&s->wake, &ts);
            while (rc < 0 && errno == EINTR);
            if (rc < 0 && errno == ETIMEDOUT)
                s->res->wake_timeouts++;
            if (atomic_load(&s->failed))
                break;
            continue;
        }
        if (rc < 0) {
            consumer_fail(s, "decode at seq %llu: error %lld", expect,
                          (unsigned long long)rc);
            break;
        }
        if (ev.seq != expect) {
            consumer_fail(s, "expected seq %llu, got %llu", expect, ev.seq);
            break;
        }
        if (ev.type == PROTO_LOSS) {
            if (!s->o->lossy) {
                consumer_fail(s, "loss event at seq %llu (count %llu) in "
                              "lossless mode", ev.seq, ev.as.loss.count);
                break;
            }
            s->res->loss_events++;
            s->res->loss_covered += ev.as.loss.count;
            expect += ev.as.loss.count;
        } else {
            gen_event(s->o->sinks, expect, &want, vals, bytes);
            want.seq = expect;
            if (!proto_event_equal(&ev, &want)) {
                consumer_fail(s, "payload of seq %llu differs (type %llu)",
                              expect, (unsigned long long)ev.type);
                break;
            }
            s->res->delivered++;
            expect++;
        }
        pace(&rng, s->o->slow_consumer ? 0xff : 0x3ff,
             s->o->slow_consumer ? 0x3ffff : 0xfffff);
    }
    proto_event_close(&ev);
    if (!atomic_load(&s->failed) && expect != s->o->count)
        consumer_fail(s, "stream ended at seq %llu of %llu", expect,
                      s->o->count);
    return NULL;
}

int ring_harness_run(const ring_harness_opts *o, ring_harness_result *res)
{
    proto_ring_opts ro = {0};
    proto_ring_stats st;
    struct timespec t0, t1;
    pthread_t prod, cons;
    shared s;

    memset(res, 0, sizeof *res);
    memset(&s, 0, sizeof s);
    s.o = o;
    s.res = res;
    atomic_init(&s.failed, 0);
    sem_init(&s.wake, 0, 0);
    ro.capacity = o->capacity ? o->capacity : 64u << 10;
    ro.lossy = o->lossy;
    ro.wake = on_wake;
    ro.wake_user = &s;
    if (proto_ring_new(&ro, &s.ring) < 0) {
        snprintf(res->error, sizeof res->error, "proto_ring_new failed");
        return -1;
    }
    if (o->sinks) { /* sink records are encoded with the module's types */
        vm_module *m = NULL;
        proto_frames *f = NULL;
        char err[128] = "no memory for its frames";

        if (vm_module_new(ring_harness_sink_wasm,
                          ring_harness_sink_wasm_len, NULL, &m, err,
                          sizeof err) != 0 ||
            proto_frames_new(m, &f) != 0) {
            snprintf(res->error, sizeof res->error, "sink module: %s", err);
            vm_module_free(m);
            proto_ring_free(s.ring);
            return -1;
        }
        vm_module_free(m);
        proto_ring_set_frames(s.ring, f);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_create(&cons, NULL, consumer, &s);
    pthread_create(&prod, NULL, producer, &s);
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->seconds = (double)(t1.tv_sec - t0.tv_sec) +
                   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    proto_ring_stats_get(s.ring, &st);
    res->produced = st.produced;
    res->dropped = st.dropped;
    res->waits = st.waits;
    res->wakes = st.wakes;
    proto_ring_free(s.ring);
    sem_destroy(&s.wake);
    if (atomic_load(&s.failed))
        return -1;
    /* Exact accounting. */
    if (res->produced != o->count ||
        res->produced != res->delivered + res->dropped ||
        res->dropped != res->loss_covered || (!o->lossy && res->dropped)) {
        snprintf(res->error, sizeof res->error,
                 "accounting: produced %llu delivered %llu dropped %llu "
                 "loss-covered %llu",
                 (unsigned long long)res->produced,
                 (unsigned long long)res->delivered,
                 (unsigned long long)res->dropped,
                 (unsigned long long)res->loss_covered);
        return -1;
    }
    return 0;
}
