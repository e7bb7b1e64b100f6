/*
 * traced protocol ring: a lock-free single-producer single-consumer ring of
 * variable-length event records, from the VM thread (producer) to the
 * daemon's libuv loop (consumer). C11 atomics; see docs/protocol.md,
 * "The ring".
 */
#ifndef TRACED_PROTO_RING_H
#define TRACED_PROTO_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "traced/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proto_ring_opts {
    size_t capacity;          /* bytes, a power of two >= 4096; 0 = 1 MiB */
    bool lossy;               /* drop events when full instead of waiting */
    uint32_t publish_every;   /* records per publication; 0 = 64 */
    /* Called on the producer thread, when it publishes records while the
     * consumer is idle (has seen the ring empty): at most once per idle
     * period, so at most once per publication. Must not block; the daemon
     * calls uv_async_send. May be NULL (the consumer polls). */
    void (*wake)(void *user);
    void *wake_user;
} proto_ring_opts;

/* Producer-side counters, readable from any thread (relaxed: a snapshot
 * may be a few events old; exact once proto_ring_finish returned). */
typedef struct proto_ring_stats {
    uint64_t produced;    /* sequence numbers assigned (pushed events,
                             a batch's count each) */
    uint64_t dropped;     /* events dropped in lossy mode */
    uint64_t loss_events; /* loss records written */
    uint64_t waits;       /* pushes that found the ring full and waited */
    uint64_t wakes;       /* wake callbacks */
} proto_ring_stats;

/*
 * The ring.
 *
 * Threads. Exactly one producer thread and one consumer thread. The
 * producer calls proto_ring_push, _push_frame, _push_batch, _flush and
 * _finish, never concurrently with each other; the consumer calls
 * proto_ring_peek, _consume, _next and _next_raw. proto_ring_shutdown, _stats and
 * _capacity may be called from any thread. proto_ring_new and _free run
 * while neither side is active (free after both are done with the ring).
 *
 * Order and sequence numbers. push assigns ev->seq from a producer-side
 * counter, which a run_start event resets to 0, so each run is numbered
 * 0, 1, 2, ... Records reach the consumer in push order.
 *
 * Publication. The producer makes records visible (release-store of its
 * head index) every publish_every records, when it finds the ring full,
 * and on flush/finish; a record pushed and not yet published is invisible.
 * The producer therefore flushes whenever it may stop pushing for a while:
 * before a host call that may block, and at the end of a run. A consumer
 * that wants bounded latency at low event rates (fewer than publish_every
 * records per tick) calls proto_ring_request_flush on a timer; the
 * producer takes the request at its next push (one relaxed load per push)
 * and publishes.
 *
 * Full ring, lossless mode (default). push waits for room: it spins
 * briefly re-reading the consumer's index, then yields (sched_yield), then
 * sleeps in 50 us steps (nanosleep). It never takes a lock and the
 * consumer never waits on it. push returns PROTO_ERR_CLOSED if the ring
 * is shut down meanwhile.
 *
 * Full ring, lossy mode. push drops the event (returns PROTO_ERR_FULL),
 * counts it, and as soon as there is room writes one loss event whose seq
 * is the first dropped seq and whose count is the number dropped since,
 * before the next event it delivers. run_start, run_end and trap events
 * are never dropped (push waits for them as in lossless mode). Hence
 * produced = delivered + dropped, and the delivered stream, loss events
 * included, covers every sequence number exactly once.
 *
 * Consumer. peek never blocks: it returns the next record or
 * PROTO_ERR_AGAIN when the ring is empty, or PROTO_ERR_END when it is
 * empty and the producer called finish. A consumer that got AGAIN may
 * sleep until the wake callback runs; AGAIN is what arms the wake. Space
 * is released to the producer in batches (every capacity/16 bytes) and
 * whenever the consumer finds the ring empty.
 *
 * Records. Each record is one event in the binary encoding, or a batch
 * of events (proto_ring_push_batch), delta-coded against the previous
 * record in the ring, at most capacity/4 bytes; an output event larger
 * than that is split into several output events. Because of the deltas,
 * a consumer reads every record, in order, with proto_ring_next (decoded;
 * a batch event by event) or proto_ring_next_raw (header parsed, body
 * left as bytes; a batch as one unit), which may be mixed between
 * records but not inside a batch. peek/consume give the raw bytes to
 * consumers that do not decode at all (benchmarks, byte counters); do
 * not mix those with next/next_raw.
 */
typedef struct proto_ring proto_ring;

int proto_ring_new(const proto_ring_opts *opts, proto_ring **out);
void proto_ring_free(proto_ring *r);
size_t proto_ring_capacity(const proto_ring *r);

/* Producer. Returns 0, PROTO_ERR_FULL (lossy: dropped), PROTO_ERR_CLOSED,
 * PROTO_ERR_TOO_BIG, PROTO_ERR_ARG (invalid event, or a loss event: only
 * the ring writes those). ev->seq is set in every case but ARG. */
int proto_ring_push(proto_ring *r, proto_event *ev);
/* Producer, the hot path of the calls level: a call, return, host_call
 * or host_return event (type) built from the VM hook's own values
 * (vals: the slot encoding of vm.h, borrowed for the call) without a
 * proto_event or proto_val array. func, and second = depth (call, return)
 * or import (host_*), as in proto_call/proto_host_call. The record is
 * byte for byte the one proto_ring_push writes for the same event with
 * values from proto_val_from_vm. Returns as push, and *seq (may be NULL)
 * gets the event's seq whenever push would set ev->seq. PROTO_ERR_ARG for
 * another type or an unknown value type. */
int proto_ring_push_frame(proto_ring *r, proto_event_type type,
                          uint64_t t_ns, uint32_t func, uint32_t second,
                          const vm_trace_vals *vals, uint64_t *seq);
/*
 * Producer: a batch record (docs/protocol.md, "Batches"): count (>= 1)
 * events already encoded by the caller into body[0..len) (len >= 1, read
 * during the call only) as the batch body: coded against {next_seq = the
 * first seq, prev_t = t_first, prev_offset = 0}, seq deltas 0, no
 * run_start, run_end or loss, the last event's t = t_last >= t_first.
 * The ring does not look into the body; a bad body is the consumer's
 * decode error. The batch gets seqs [seq, seq + count), *first_seq
 * (may be NULL) gets seq whenever push would set ev->seq, and it is
 * published at once. Lossless: waits for room. Lossy: PROTO_ERR_FULL
 * drops the whole batch (count dropped events; the pending loss event
 * covers them). PROTO_ERR_TOO_BIG above capacity/4, PROTO_ERR_ARG for
 * count or len 0 or t_last < t_first, PROTO_ERR_CLOSED. Stats count
 * count produced events.
 */
int proto_ring_push_batch(proto_ring *r, uint64_t t_first, uint64_t t_last,
                          const uint8_t *body, size_t len, uint32_t count,
                          uint64_t *first_seq);
/*
 * Producer: a sink record (docs/protocol.md, "Sink records"): count (>= 1)
 * events as a VM trace sink's entries (vm.h, "Trace sinks") in
 * entries[0..len), the first at t_first, the last at t_last (t_first plus
 * the entries' time entries). Pushed as push_batch pushes a batch (seqs,
 * loss, limits, publication); the consumer sees a batch record whose
 * body proto_sink_transcode encodes with the ring's proto_frames, and a
 * decode error if the entries are bad.
 */
int proto_ring_push_sink(proto_ring *r, uint64_t t_first, uint64_t t_last,
                         const uint8_t *entries, size_t len, uint32_t count,
                         uint64_t *first_seq);
/* Producer, before its first sink record: the function types sink
 * records are encoded with (the module's; NULL: no values). The ring
 * takes f and frees it with itself. */
struct proto_frames;
void proto_ring_set_frames(proto_ring *r, struct proto_frames *f);
/* Publish what was pushed, writing a pending loss event if there is room
 * (PROTO_ERR_AGAIN if it is still pending). */
int proto_ring_flush(proto_ring *r);
/* The producer is done for good (no push after it): write a pending loss
 * event (waiting for room), publish, and let the consumer see
 * PROTO_ERR_END after the last record. */
int proto_ring_finish(proto_ring *r);

/* Consumer (or any thread): ask the producer to publish at its next push.
 * The producer asks proto_ring_take_flush_request (a relaxed load; true
 * once per request) when it wants to act on the request itself, e.g. to
 * refresh a timestamp before pushing; otherwise push takes it. */
void proto_ring_request_flush(proto_ring *r);
bool proto_ring_take_flush_request(proto_ring *r);

/* Either side: stop. A waiting or later push returns PROTO_ERR_CLOSED;
 * the consumer can still read what was published. */
void proto_ring_shutdown(proto_ring *r);
void proto_ring_stats_get(const proto_ring *r, proto_ring_stats *out);

/* Consumer, raw: the record rec[0..len) stays valid until consume. Not to
 * be mixed with proto_ring_next (see "Records" above). */
int proto_ring_peek(proto_ring *r, const uint8_t **rec, size_t *len);
void proto_ring_consume(proto_ring *r);
/* Consume the record returned by the previous next (if any), then peek and
 * decode the following one into ev (initialised; strings borrowed from
 * the ring until the next call). 0, AGAIN, END, or a decode error.
 * A batch record is expanded: next returns its events one by one and
 * consumes the record after the last one. */
int proto_ring_next(proto_ring *r, proto_event *ev, char *err, size_t errlen);
/* The same without decoding the body: consume the previous record, then
 * parse the next one's header (proto_raw_parse) into raw, whose bytes
 * stay valid until the next call. The consumer that writes trace files
 * moves raw into a chunk (proto_chunker_add_raw) and may decode it
 * (proto_raw_decode, or proto_raw_events for a batch, which is one raw
 * unit of raw.count events) if it needs the events too. Mixes with
 * proto_ring_next, which keeps the same delta state, except in the
 * middle of a batch that next is expanding: PROTO_ERR_ARG there (call
 * next until the batch's last event first). */
int proto_ring_next_raw(proto_ring *r, proto_raw *raw, char *err,
                        size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* TRACED_PROTO_RING_H */
