/*
 * ring_bench [COUNT [single|threads]]: ring throughput, one producer thread and one
 * consumer thread, for small events. For each case it prints events/s and
 * ns/event (wall time of the whole transfer divided by COUNT) and the ring
 * bytes per event. Cases:
 *   op/peek    op events (opcode + code offset), consumer peeks and
 *              consumes without decoding (the raw transport cost)
 *   op/decode  the same, consumer decodes every record (proto_ring_next)
 *   call/decode call events with one i32 argument, decoded
 *   frame/raw  the same calls pushed as the daemon's hooks push them
 *              (proto_ring_push_frame, from VM slots) and read as the
 *              trace file writer reads them (proto_ring_next_raw: header
 *              parsed, body left as bytes)
 *   batch/raw  a mix of calls (one in four, an i32 argument) and ops
 *              encoded as the VM's trace sink will, with wire.h, into a
 *              16 KiB body that is pushed as one batch record
 *              (proto_ring_push_batch); read with proto_ring_next_raw, one
 *              raw unit per batch (what the file writer does)
 *   batch/events  the same, each batch expanded with proto_raw_events
 *              (what a consumer that needs the events does)
 * and, single-threaded, the CPU cost of each side alone (push batches of
 * 256 events, then drain them), which is what bounds the two-thread rate
 * when each thread has a core to itself.
 *
 * Kinds: 0 op, 1 call (proto_ring_push), 2 call as a frame, 3 call/op
 * mix in batches. Consumers: PEEK (no decoding), NEXT (proto_ring_next),
 * RAW (proto_ring_next_raw), EVENTS (next_raw + proto_raw_events).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "traced/proto_ring.h"
#include "traced/wire.h"

enum { PEEK, NEXT, RAW, EVENTS };
enum { BATCH_KIND = 3, BATCH_BYTES = 16384 };

static const char *const mode_names[] = {"peek", "next", "next_raw",
                                         "raw_events"};

/* The VM's trace sink, as it will work: records encoded with wire.h into
 * a local body against the body's own delta state, handed to the ring as
 * one batch when the body is nearly full. */
typedef struct batcher {
    uint8_t body[BATCH_BYTES];
    size_t len;
    uint32_t count;
    uint64_t t_first, t_prev, off_prev;
} batcher;

static int batch_flush(proto_ring *r, batcher *b)
{
    int rc;

    if (b->count == 0)
        return 0;
    rc = proto_ring_push_batch(r, b->t_first, b->t_prev, b->body, b->len,
                               b->count, NULL);
    b->len = 0;
    b->count = 0;
    return rc;
}

/* Event i: an op, or every fourth a call with one i32 argument. */
static int batch_event(proto_ring *r, batcher *b, uint64_t i)
{
    static const uint8_t i32[] = {WIRE_I32};
    uint64_t t = i * 3, slot = i & 1023;
    uint8_t *p;

    if (b->count == 0) {
        b->t_first = b->t_prev = t;
        b->off_prev = 0;
    }
    p = b->body + b->len;
    if (i & 3) {
        uint32_t off = 1000 + (uint32_t)(i & 1023);

        *p++ = PROTO_OP;
        *p++ = 0; /* seq delta: always 0 inside a batch */
        p = wire_put_sv(p, (int64_t)(t - b->t_prev));
        *p++ = (uint8_t)(0x20 + (i & 15));
        p = wire_put_sv(p, (int64_t)off - (int64_t)b->off_prev);
        b->off_prev = off;
    } else {
        *p++ = PROTO_CALL;
        *p++ = 0;
        p = wire_put_sv(p, (int64_t)(t - b->t_prev));
        p = wire_put_uv(p, i & 63);
        p = wire_put_uv(p, 3);
        p = wire_put_slot_vals(p, 1, i32, &slot);
    }
    b->t_prev = t;
    b->len = (size_t)(p - b->body);
    b->count++;
    /* Room for the next record (at most 64 bytes here). */
    return b->len > BATCH_BYTES - 64 ? batch_flush(r, b) : 0;
}

typedef struct bench {
    proto_ring *ring;
    uint64_t count;
    int kind;   /* 0 op, 1 call, 2 call as a frame */
    int mode;   /* PEEK, NEXT, RAW */
    uint64_t checksum;
    uint64_t bytes;
    double prod_cpu, cons_cpu;
} bench;

static double thread_cpu(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Push event i of the kind's stream. */
static int push_kind(proto_ring *r, int kind, uint64_t i)
{
    proto_val v = {.type = VM_I32};
    proto_event ev = {0};
    static const uint8_t i32[] = {VM_I32};
    uint64_t slot;
    vm_trace_vals tv = {1, i32, &slot};

    ev.t_ns = i * 3;
    switch (kind) {
    case 0:
        ev.type = PROTO_OP;
        ev.as.op.opcode = 0x20 + (uint32_t)(i & 15);
        ev.as.op.offset = 1000 + (uint32_t)(i & 1023);
        return proto_ring_push(r, &ev);
    case 1:
        v.of.i32 = (int32_t)(i & 1023);
        ev.type = PROTO_CALL;
        ev.as.call = (proto_call){(uint32_t)(i & 63), 3, {&v, 1}};
        return proto_ring_push(r, &ev);
    default:
        slot = i & 1023;
        return proto_ring_push_frame(r, PROTO_CALL, i * 3, (uint32_t)(i & 63),
                                     3, &tv, NULL);
    }
}

static void *producer(void *arg)
{
    static batcher bt;
    bench *b = arg;

    for (uint64_t i = 0; i < b->count; i++) {
        int rc = b->kind == BATCH_KIND ? batch_event(b->ring, &bt, i)
                                       : push_kind(b->ring, b->kind, i);

        if (rc < 0) {
            fprintf(stderr, "push failed\n");
            exit(1);
        }
    }
    if (b->kind == BATCH_KIND && batch_flush(b->ring, &bt) < 0) {
        fprintf(stderr, "push failed\n");
        exit(1);
    }
    proto_ring_finish(b->ring);
    b->prod_cpu = thread_cpu();
    return NULL;
}

static void *consumer(void *arg)
{
    bench *b = arg;
    proto_event ev;
    proto_raw raw;
    uint64_t sum = 0, bytes = 0, n = 0;

    proto_event_init(&ev);
    for (;;) {
        int rc;

        if (b->mode == NEXT) {
            rc = proto_ring_next(b->ring, &ev, NULL, 0);
            if (rc == 0) {
                sum += ev.seq;
                n++;
                continue;
            }
        } else if (b->mode == RAW) {
            rc = proto_ring_next_raw(b->ring, &raw, NULL, 0);
            if (rc == 0) {
                sum += raw.seq;
                bytes += raw.len;
                n += raw.count;
                continue;
            }
        } else if (b->mode == EVENTS) {
            rc = proto_ring_next_raw(b->ring, &raw, NULL, 0);
            if (rc == 0) {
                proto_raw_events it;

                proto_raw_events_init(&it, &raw);
                while ((rc = proto_raw_events_next(&it, &ev, NULL, 0)) == 0) {
                    sum += ev.seq;
                    n++;
                }
                if (rc != PROTO_ERR_END) {
                    fprintf(stderr, "consumer: %s\n", proto_strerror(rc));
                    exit(1);
                }
                bytes += raw.len;
                continue;
            }
        } else {
            const uint8_t *rec;
            size_t len;

            rc = proto_ring_peek(b->ring, &rec, &len);
            if (rc == 0) {
                sum += rec[0];
                bytes += len;
                n++;
                proto_ring_consume(b->ring);
                continue;
            }
        }
        if (rc == PROTO_ERR_END)
            break;
        if (rc != PROTO_ERR_AGAIN) {
            fprintf(stderr, "consumer: %s\n", proto_strerror(rc));
            exit(1);
        }
        /* A libuv consumer would return to its loop here; spin politely. */
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#else
        sched_yield();
#endif
    }
    proto_event_close(&ev);
    if (n != b->count) {
        fprintf(stderr, "consumer saw %llu of %llu\n", (unsigned long long)n,
                (unsigned long long)b->count);
        exit(1);
    }
    b->checksum = sum;
    b->bytes = bytes;
    b->cons_cpu = thread_cpu();
    return NULL;
}

static void run(const char *name, uint64_t count, int kind, int mode)
{
    proto_ring_opts ro = {.capacity = 1u << 20};
    bench b = {.count = count, .kind = kind, .mode = mode};
    struct timespec t0, t1;
    pthread_t p, c;
    double s;

    if (proto_ring_new(&ro, &b.ring) < 0)
        exit(1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_create(&c, NULL, consumer, &b);
    pthread_create(&p, NULL, producer, &b);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%-12s %10llu events  wall %7.2f M events/s %7.2f ns/event;"
           "  cpu/event producer %6.2f ns consumer %6.2f ns", name,
           (unsigned long long)count, (double)count / s / 1e6,
           s * 1e9 / (double)count, b.prod_cpu * 1e9 / (double)count,
           b.cons_cpu * 1e9 / (double)count);
    if (mode != NEXT)
        printf("  %.2f payload bytes/event", (double)b.bytes / (double)count);
    printf("\n");
    proto_ring_free(b.ring);
}

/* Thread CPU time: on a shared machine wall time measures the neighbours. */
static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Batches of 4096 events (two clock reads per batch: a few hundredths
 * of a ns an event). */
static void run_single(const char *name, uint64_t count, int kind, int mode)
{
    proto_ring_opts ro = {.capacity = 1u << 20};
    static batcher bt;
    proto_ring *r;
    proto_event out;
    proto_raw raw;
    proto_raw_events it;
    double push_s = 0, pop_s = 0, t;
    const uint8_t *rec;
    size_t len;
    uint64_t sum = 0;

    if (proto_ring_new(&ro, &r) < 0)
        exit(1);
    proto_event_init(&out);
    for (uint64_t i = 0; i < count;) {
        t = now();
        for (int k = 0; k < 4096; k++, i++) {
            if (kind == BATCH_KIND)
                batch_event(r, &bt, i);
            else
                push_kind(r, kind, i);
        }
        if (kind == BATCH_KIND)
            batch_flush(r, &bt);
        proto_ring_flush(r);
        push_s += now() - t;
        t = now();
        if (mode == NEXT) {
            while (proto_ring_next(r, &out, NULL, 0) == 0)
                sum += out.seq;
        } else if (mode == RAW) {
            while (proto_ring_next_raw(r, &raw, NULL, 0) == 0)
                sum += raw.seq;
        } else if (mode == EVENTS) {
            while (proto_ring_next_raw(r, &raw, NULL, 0) == 0) {
                proto_raw_events_init(&it, &raw);
                while (proto_raw_events_next(&it, &out, NULL, 0) == 0)
                    sum += out.seq;
            }
        } else {
            while (proto_ring_peek(r, &rec, &len) == 0) {
                sum += rec[0];
                proto_ring_consume(r);
            }
        }
        pop_s += now() - t;
    }
    printf("%-12s 1 thread: push %6.2f ns/event, %-8s %6.2f ns/event (%llu)\n",
           name, push_s * 1e9 / (double)count, mode_names[mode],
           pop_s * 1e9 / (double)count, (unsigned long long)(sum & 1));
    proto_event_close(&out);
    proto_ring_free(r);
}

int main(int argc, char **argv)
{
    uint64_t count = argc > 1 ? strtoull(argv[1], NULL, 0) : 20000000;
    const char *only = argc > 2 ? argv[2] : "";

    if (count == 0 || (*only && strcmp(only, "single") && strcmp(only, "threads"))) {
        fprintf(stderr, "usage: ring_bench [COUNT [single|threads]]\n");
        return 2;
    }
    if (strcmp(only, "threads") == 0)
        goto threads;
    run_single("op/peek", count, 0, PEEK);
    run_single("op/decode", count, 0, NEXT);
    run_single("op/raw", count, 0, RAW);
    run_single("call/decode", count, 1, NEXT);
    run_single("frame/raw", count, 2, RAW);
    run_single("batch/raw", count, BATCH_KIND, RAW);
    run_single("batch/events", count, BATCH_KIND, EVENTS);
    if (strcmp(only, "single") == 0)
        return 0;
threads:
    run("op/peek", count, 0, PEEK);
    run("op/decode", count, 0, NEXT);
    run("op/raw", count, 0, RAW);
    run("call/peek", count, 1, PEEK);
    run("call/decode", count, 1, NEXT);
    run("frame/raw", count, 2, RAW);
    run("batch/raw", count, BATCH_KIND, RAW);
    run("batch/events", count, BATCH_KIND, EVENTS);
    return 0;
}
