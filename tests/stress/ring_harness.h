/*
 * Ring stress harness, shared by the unit suite (tests/unit/protocol/
 * test_ring.c) and the ring_stress executable: one producer thread pushes
 * `count` generated events, one consumer thread drains them, both with
 * random pacing, and the consumer checks every sequence number and every
 * payload against the generator. Half of the frame events are pushed as
 * frames (proto_ring_push_frame) and a third of the records are read raw
 * (proto_ring_next_raw), so the fast paths see the same races. With
 * `batches`, a quarter of the pushes are batches of 1..32 events
 * (proto_ring_push_batch), and the raw reads expand them with
 * proto_raw_events. With `sinks`, calls and returns carry the values of
 * the functions of a small module, and runs of them (up to 32) go half
 * of the time as sink records (proto_ring_push_sink: the VM's entries,
 * with time entries between them), which the consumer gets as batches.
 */
#ifndef TRACED_RING_HARNESS_H
#define TRACED_RING_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "traced/proto.h"

typedef struct ring_harness_opts {
    uint64_t count;    /* events to push */
    bool lossy;
    size_t capacity;   /* ring bytes; 0 = 64 KiB (small: wraps and fills) */
    uint64_t seed;
    bool slow_consumer; /* pace the consumer more than the producer */
    bool batches;       /* also push batch records */
    bool sinks;         /* calls and returns of a module's functions, half
                           of the runs of them pushed as sink records */
} ring_harness_opts;

typedef struct ring_harness_result {
    uint64_t produced;    /* ring stats */
    uint64_t dropped;     /* ring stats */
    uint64_t delivered;   /* non-loss events the consumer verified */
    uint64_t loss_events; /* loss events the consumer saw */
    uint64_t loss_covered; /* seqs covered by them */
    uint64_t waits, wakes, wake_timeouts;
    double seconds;
    char error[256];      /* first verification failure, or "" */
} ring_harness_result;

/* Build event i of the generated stream into ev, using vals/bytes (room
 * for 8 values and 64 bytes) as its storage. t_ns = i. */
void ring_harness_event(uint64_t i, proto_event *ev, proto_val *vals,
                        char *bytes);

/* The module whose functions sink mode's calls and returns are of (its
 * text in ring_harness.c; tests/unit/protocol/test_sink.c uses it too). */
extern const uint8_t ring_harness_sink_wasm[];
extern const size_t ring_harness_sink_wasm_len;

/* Run; 0 when everything verified, -1 otherwise (see res->error). */
int ring_harness_run(const ring_harness_opts *o, ring_harness_result *res);

#endif
