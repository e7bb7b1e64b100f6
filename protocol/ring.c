/*
 * The SPSC event ring (contract in traced/proto_ring.h).
 *
 * Layout. buf is capacity bytes; head and tail are byte positions that
 * only grow (64-bit: they do not wrap in practice), a position's slot is
 * pos & mask. A record is a 4-byte header holding the payload length,
 * the payload (one binary-encoded event), padding to 4 bytes. A record
 * never wraps: when it does not fit before the end of buf, the producer
 * writes a PAD header there and starts again at slot 0.
 *
 * Encoding. Records are delta-coded in ring order (seq, t and op offset
 * against the previous record): the producer's p_delta advances with each
 * record it commits, the consumer's c_delta with each record it decodes,
 * so in the steady state seq and t take a byte each. A dropped event
 * writes nothing and advances nothing, so both states stay in step.
 *
 * Memory order. The producer writes records with plain stores and makes
 * them visible with a release-store of `head`; the consumer acquire-loads
 * `head` before reading them. The consumer reads records and then
 * release-stores `tail`; the producer acquire-loads `tail` before reusing
 * the space. Each side keeps a cached copy of the other's index and
 * reloads it only when the cached value says "full" / "empty", so in the
 * steady state neither side touches the other's cache line per record.
 *
 * Wake. Dekker-style: the consumer stores idle = 1, fences (seq_cst) and
 * re-reads head; the producer stores head, fences and reads idle. At
 * least one of them sees the other's store, so a record published while
 * the consumer goes idle is either seen by the consumer's re-check or
 * triggers the wake; exchange(idle, 0) makes that one wake per idle
 * period.
 */
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <time.h>

#include "proto_int.h"
#include "traced/proto_ring.h"
#include "traced/proto_sink.h"
#include "traced/wire.h"

#define CACHE_LINE 128 /* two lines: adjacent-line prefetch pairs them */
#define REC_HEADER 4u
#define REC_ALIGN 4u
#define REC_PAD 0xffffffffu
/* A sink record's type byte (proto_ring_push_sink): ring-internal, never
 * leaves the ring (the consumer sees a batch record), so one the binary
 * encoding reserves. */
#define REC_SINK 0xf5u
#define SPIN_LIMIT 64u
#define YIELD_LIMIT 128u
#define SLEEP_NS 50000L

/* The push path is a chain of small steps; forcing them inline into
 * proto_ring_push took the ring's share of a small push from ~140 to ~108
 * instructions (callgrind, ring_bench; encoding is another ~60). */
#define HOT static inline __attribute__((always_inline))

typedef struct stat_counter {
    _Atomic uint64_t v;
} stat_counter;

/* Only the producer writes these: a relaxed load and store, not an atomic
 * read-modify-write, keeps the hot path free of locked instructions. */
static inline void bump(stat_counter *c, uint64_t n)
{
    atomic_store_explicit(&c->v, atomic_load_explicit(&c->v, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

struct proto_ring {
    /* Read-only after proto_ring_new. */
    uint8_t *buf;
    size_t cap, mask, max_record, release_every;
    uint32_t publish_every;
    bool lossy;
    void (*wake)(void *user);
    void *wake_user;

    /* Producer-owned. */
    alignas(CACHE_LINE) uint64_t p_head; /* next write position */
    uint64_t p_published;                /* last value stored in head */
    uint64_t p_tail_cache;
    uint32_t p_unpublished;
    uint64_t p_next_seq;
    bool p_loss_pending;
    uint64_t p_loss_first, p_loss_count;
    uint64_t p_last_t; /* t of the last pushed event, for loss events */
    proto_delta p_delta;
    stat_counter produced, dropped, loss_events, waits, wakes;

    /* Consumer-owned. */
    alignas(CACHE_LINE) uint64_t c_tail; /* next read position */
    uint64_t c_head_cache;
    uint64_t c_released; /* last value stored in tail */
    size_t c_current;    /* size of the record being peeked, 0 if none */
    proto_delta c_delta;
    /* proto_ring_next inside a batch record (c_delta says so): the
     * record, still peeked, and where its next inner record starts. */
    const uint8_t *c_rec;
    size_t c_rec_len, c_rec_pos;
    /* Sink records (proto_ring_push_sink): the function types they are
     * encoded with (set by the producer before its first sink record,
     * freed with the ring), and the batch record the one peeked became
     * (c_batch_len bytes, valid while it is peeked; 0: not one). */
    proto_frames *frames;
    uint8_t *c_batch;
    size_t c_batch_cap, c_batch_len;

    /* The shared words, each on its own line(s) by who writes it how
     * often. done is written once, after the final head, and read by a
     * consumer that has just read head: it shares head's line. */
    alignas(CACHE_LINE) _Atomic uint64_t head; /* published by producer */
    atomic_int done;
    alignas(CACHE_LINE) _Atomic uint64_t tail; /* released by consumer */
    /* Written by the consumer every time it finds the ring empty, read by
     * the producer once per publication. */
    alignas(CACHE_LINE) atomic_int idle;       /* consumer saw it empty */
    /* Read by every push, written once (shutdown). It used to share
     * idle's line, so a consumer spinning on an empty ring took that line
     * away from the producer at nearly every push. */
    alignas(CACHE_LINE) atomic_int closed;
    /* Set by the consumer's timer, cleared by the producer: its line is
     * written once per tick, so the producer's per-push load hits cache. */
    alignas(CACHE_LINE) atomic_int flush_req;
};

static inline size_t rec_size(size_t payload)
{
    return (REC_HEADER + payload + REC_ALIGN - 1) & ~(size_t)(REC_ALIGN - 1);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

int proto_ring_new(const proto_ring_opts *opts, proto_ring **out)
{
    proto_ring_opts o = opts ? *opts : (proto_ring_opts){0};
    proto_ring *r;

    if (!o.capacity)
        o.capacity = 1u << 20;
    if (o.capacity < 4096 || (o.capacity & (o.capacity - 1)) ||
        o.capacity > ((size_t)1 << 40))
        return PROTO_ERR_ARG;
    if (!o.publish_every)
        o.publish_every = 64;
    r = proto__aligned_alloc(CACHE_LINE, sizeof *r);
    if (!r)
        return PROTO_ERR_NOMEM;
    memset(r, 0, sizeof *r);
    /* Mapped, not touched: a page costs its fault when the producer first
     * writes it (huge pages where the kernel has them), so a short run
     * pays for the little it uses (proto__map). */
    r->buf = proto__map(o.capacity);
    if (!r->buf) {
        proto__free(r);
        return PROTO_ERR_NOMEM;
    }
    r->cap = o.capacity;
    r->mask = o.capacity - 1;
    r->max_record = o.capacity / 4;
    r->release_every = o.capacity / 16;
    r->publish_every = o.publish_every;
    r->lossy = o.lossy;
    r->wake = o.wake;
    r->wake_user = o.wake_user;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->idle, 0);
    atomic_init(&r->closed, 0);
    atomic_init(&r->done, 0);
    atomic_init(&r->flush_req, 0);
    *out = r;
    return 0;
}

void proto_ring_free(proto_ring *r)
{
    if (!r)
        return;
    proto_frames_free(r->frames);
    proto__free(r->c_batch);
    proto__unmap(r->buf, r->cap);
    proto__free(r);
}

size_t proto_ring_capacity(const proto_ring *r)
{
    return r->cap;
}

void proto_ring_shutdown(proto_ring *r)
{
    atomic_store_explicit(&r->closed, 1, memory_order_release);
}

void proto_ring_stats_get(const proto_ring *r, proto_ring_stats *out)
{
    out->produced = atomic_load_explicit(&r->produced.v, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&r->dropped.v, memory_order_relaxed);
    out->loss_events =
        atomic_load_explicit(&r->loss_events.v, memory_order_relaxed);
    out->waits = atomic_load_explicit(&r->waits.v, memory_order_relaxed);
    out->wakes = atomic_load_explicit(&r->wakes.v, memory_order_relaxed);
}

/* ---- Producer ------------------------------------------------------------ */

/*
 * Make the records written so far visible; `last` (finish) also says no
 * more will come. done is stored after the final head: a consumer that
 * acquire-loads done = 1 and then head sees every record. (The reverse
 * order, done first, let a consumer that ran between the two stores
 * return END with up to publish_every - 1 records unread: ring_bench
 * lost 23 of 10^7 events under load 15.) Both stores precede the fence,
 * so the wake check below covers "published" and "done" alike.
 */
static void publish(proto_ring *r, bool last)
{
    r->p_unpublished = 0;
    if (r->p_head == r->p_published && !last)
        return;
    r->p_published = r->p_head;
    atomic_store_explicit(&r->head, r->p_head, memory_order_release);
    if (last)
        atomic_store_explicit(&r->done, 1, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&r->idle, memory_order_relaxed) &&
        atomic_exchange_explicit(&r->idle, 0, memory_order_relaxed)) {
        bump(&r->wakes, 1);
        if (r->wake)
            r->wake(r->wake_user);
    }
}

/*
 * Find room for a record of `total` bytes (header included); on success
 * *slot points at its header. A PAD written to skip the end of buf is
 * harmless if the caller then abandons the record.
 */
HOT bool reserve(proto_ring *r, size_t total, uint8_t **slot)
{
    uint64_t head = r->p_head;
    size_t pos = head & r->mask, contig = r->cap - pos;
    size_t need = total <= contig ? total : contig + total;

    if (r->cap - (head - r->p_tail_cache) < need) {
        r->p_tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (r->cap - (head - r->p_tail_cache) < need)
            return false;
    }
    if (total > contig) {
        uint32_t pad = REC_PAD;

        memcpy(r->buf + pos, &pad, sizeof pad);
        r->p_head = head + contig;
        pos = 0;
    }
    *slot = r->buf + pos;
    return true;
}

static void backoff(unsigned n)
{
    if (n < SPIN_LIMIT) {
        cpu_relax();
    } else if (n < YIELD_LIMIT) {
        sched_yield();
    } else {
        struct timespec ts = {0, SLEEP_NS};

        nanosleep(&ts, NULL);
    }
}

/* Reserve, waiting (lossless) or failing with FULL. */
HOT int reserve_or_wait(proto_ring *r, size_t total, bool wait,
                           uint8_t **slot)
{
    if (reserve(r, total, slot))
        return 0;
    /* The consumer may be idle with records we have not published. */
    publish(r, false);
    if (!wait)
        return PROTO_ERR_FULL;
    bump(&r->waits, 1);
    for (unsigned n = 0;; n++) {
        if (atomic_load_explicit(&r->closed, memory_order_acquire))
            return PROTO_ERR_CLOSED;
        backoff(n);
        if (reserve(r, total, slot))
            return 0;
    }
}

/* Make the record just written at slot (payload len bytes) part of the
 * ring, publishing every publish_every records or when asked to. */
HOT void commit(proto_ring *r, uint8_t *slot, size_t len)
{
    uint32_t hdr = (uint32_t)len;

    memcpy(slot, &hdr, sizeof hdr);
    r->p_head += rec_size(len);
    if (++r->p_unpublished >= r->publish_every ||
        proto_ring_take_flush_request(r))
        publish(r, false);
}

HOT int put_event(proto_ring *r, const proto_event *ev, bool wait)
{
    size_t bound = proto__encoded_bound(ev), len;
    uint8_t *slot;
    int rc;

    if (rec_size(bound) > r->max_record)
        return PROTO_ERR_TOO_BIG;
    if ((rc = reserve_or_wait(r, rec_size(bound), wait, &slot)) < 0)
        return rc;
    rc = proto__encode_unchecked(&r->p_delta, ev, slot + REC_HEADER, &len);
    if (rc < 0)
        return rc;
    proto__delta_advance(&r->p_delta, ev);
    commit(r, slot, len);
    return 0;
}

HOT int put_frame(proto_ring *r, const proto__frame *f, bool wait)
{
    size_t bound = proto__frame_bound(f), len;
    uint8_t *slot;
    int rc;

    if (rec_size(bound) > r->max_record)
        return PROTO_ERR_TOO_BIG;
    if ((rc = reserve_or_wait(r, rec_size(bound), wait, &slot)) < 0)
        return rc;
    rc = proto__encode_frame(&r->p_delta, f, slot + REC_HEADER, &len);
    if (rc < 0)
        return rc;
    r->p_delta.next_seq = f->seq + 1;
    r->p_delta.prev_t = f->t_ns;
    commit(r, slot, len);
    return 0;
}

static int put_loss(proto_ring *r, uint64_t t_ns, bool wait)
{
    proto_event loss = {.type = PROTO_LOSS, .seq = r->p_loss_first,
                        .t_ns = t_ns,
                        .as.loss.count = r->p_loss_count};
    int rc = put_event(r, &loss, wait);

    if (rc == 0) {
        r->p_loss_pending = false;
        bump(&r->loss_events, 1);
    }
    return rc;
}

HOT bool droppable(const proto_ring *r, proto_event_type t)
{
    return r->lossy && t != PROTO_RUN_START && t != PROTO_RUN_END &&
           t != PROTO_TRAP;
}

/* Push an event (ev) or a frame (fr; the other is NULL): assign its seq,
 * write a pending loss event first, and drop or wait when full. */
HOT int push_one(proto_ring *r, proto_event *ev, proto__frame *fr)
{
    proto_event_type type = ev ? ev->type : fr->type;
    uint64_t t_ns = ev ? ev->t_ns : fr->t_ns, seq = r->p_next_seq++;
    bool drop_ok = droppable(r, type);
    int rc;

    if (ev)
        ev->seq = seq;
    else
        fr->seq = seq;
    r->p_last_t = t_ns;
    bump(&r->produced, 1);
    if (r->p_loss_pending) {
        rc = put_loss(r, t_ns, !drop_ok);
        if (rc == PROTO_ERR_FULL) {
            /* Still no room: this event joins the dropped range, which
             * stays contiguous because nothing was delivered since. */
            r->p_loss_count++;
            bump(&r->dropped, 1);
            return rc;
        }
        if (rc < 0)
            return rc;
    }
    rc = ev ? put_event(r, ev, !drop_ok) : put_frame(r, fr, !drop_ok);
    if (rc == PROTO_ERR_FULL) {
        r->p_loss_pending = true;
        r->p_loss_first = seq;
        r->p_loss_count = 1;
        bump(&r->dropped, 1);
    }
    return rc;
}

/* An output event too large for one record goes as several; ev->seq is
 * the first piece's. */
static int push_split_output(proto_ring *r, proto_event *ev)
{
    proto_event part = *ev;
    proto_str data = ev->as.output.data;
    uint32_t piece = (uint32_t)(r->max_record / 2);
    int result = 0;

    for (uint32_t off = 0; off < data.len; off += piece) {
        uint32_t n = data.len - off < piece ? data.len - off : piece;
        int rc;

        part.as.output.data = (proto_str){data.ptr + off, n};
        rc = push_one(r, &part, NULL);
        if (off == 0)
            ev->seq = part.seq;
        if (rc < 0 && rc != PROTO_ERR_FULL)
            return rc;
        if (rc < 0)
            result = rc;
    }
    return result;
}

int proto_ring_push(proto_ring *r, proto_event *ev)
{
    int rc;

    if (atomic_load_explicit(&r->closed, memory_order_relaxed))
        return PROTO_ERR_CLOSED;
    if (ev->type < PROTO_RUN_START || ev->type > PROTO_RUN_END ||
        ev->type == PROTO_LOSS)
        return PROTO_ERR_ARG;
    if (ev->type == PROTO_RUN_START) {
        /* The previous run's losses are reported before the new run. */
        if (r->p_loss_pending && (rc = put_loss(r, ev->t_ns, true)) < 0)
            return rc;
        r->p_next_seq = 0;
    }
    if (ev->type == PROTO_OUTPUT &&
        rec_size(proto__encoded_bound(ev)) > r->max_record)
        return push_split_output(r, ev);
    return push_one(r, ev, NULL);
}

int proto_ring_push_frame(proto_ring *r, proto_event_type type,
                          uint64_t t_ns, uint32_t func, uint32_t second,
                          const vm_trace_vals *vals, uint64_t *seq)
{
    proto__frame f = {type, 0, t_ns, func, second, vals};
    int rc;

    if (atomic_load_explicit(&r->closed, memory_order_relaxed))
        return PROTO_ERR_CLOSED;
    if ((type != PROTO_CALL && type != PROTO_RETURN &&
         type != PROTO_HOST_CALL && type != PROTO_HOST_RETURN) ||
        (vals->count && (!vals->types || !vals->slots)))
        return PROTO_ERR_ARG;
    rc = push_one(r, NULL, &f);
    if (seq)
        *seq = f.seq;
    return rc;
}

/* The batch header before the body (docs/protocol.md, "Batches"). */
#define BATCH_HEAD_BOUND (1u + 2 * PROTO__U64_BOUND + PROTO__U32_BOUND + \
                          2 * PROTO__U64_BOUND)

/*
 * A batch is pushed like one event that stands for count: one record,
 * count seqs, count produced, and in lossy mode count dropped when there
 * is no room (the pending loss event then covers them all). The body is
 * the VM's and is copied without looking into it: a batch body, or the
 * entries of a sink record (the header is a batch's with type
 * REC_SINK; the consumer makes it a batch, peek_events). Published at once: a
 * batch is many events' worth of records, and the consumer moves it as
 * one unit.
 */
static int push_body(proto_ring *r, uint8_t kind, uint64_t t_first,
                     uint64_t t_last, const uint8_t *body, size_t len,
                     uint32_t count, uint64_t *first_seq)
{
    uint8_t head[BATCH_HEAD_BOUND], *p = head, *slot;
    uint64_t seq;
    size_t head_len;
    int rc;

    if (atomic_load_explicit(&r->closed, memory_order_relaxed))
        return PROTO_ERR_CLOSED;
    if (count == 0 || len == 0 || !body || t_last < t_first)
        return PROTO_ERR_ARG;
    if (len > r->max_record || rec_size(BATCH_HEAD_BOUND + len) > r->max_record)
        return PROTO_ERR_TOO_BIG;
    seq = r->p_next_seq;
    r->p_next_seq += count;
    if (first_seq)
        *first_seq = seq;
    r->p_last_t = t_last;
    bump(&r->produced, count);
    if (r->p_loss_pending) {
        rc = put_loss(r, t_first, !r->lossy);
        if (rc == PROTO_ERR_FULL) {
            r->p_loss_count += count;
            bump(&r->dropped, count);
            return rc;
        }
        if (rc < 0)
            return rc;
    }
    *p++ = kind;
    p = wire_put_sv(p, (int64_t)(seq - r->p_delta.next_seq));
    p = wire_put_sv(p, (int64_t)(t_first - r->p_delta.prev_t));
    p = wire_put_uv(p, count);
    p = wire_put_uv(p, t_last - t_first);
    p = wire_put_uv(p, len);
    head_len = (size_t)(p - head);
    rc = reserve_or_wait(r, rec_size(head_len + len), !r->lossy, &slot);
    if (rc == PROTO_ERR_FULL) {
        r->p_loss_pending = true;
        r->p_loss_first = seq;
        r->p_loss_count = count;
        bump(&r->dropped, count);
    }
    if (rc < 0)
        return rc;
    memcpy(slot + REC_HEADER, head, head_len);
    memcpy(slot + REC_HEADER + head_len, body, len);
    r->p_delta.next_seq = seq + count;
    r->p_delta.prev_t = t_last;
    commit(r, slot, head_len + len);
    publish(r, false);
    return 0;
}

int proto_ring_push_batch(proto_ring *r, uint64_t t_first, uint64_t t_last,
                          const uint8_t *body, size_t len, uint32_t count,
                          uint64_t *first_seq)
{
    return push_body(r, PROTO_BATCH, t_first, t_last, body, len, count,
                     first_seq);
}

int proto_ring_push_sink(proto_ring *r, uint64_t t_first, uint64_t t_last,
                         const uint8_t *entries, size_t len, uint32_t count,
                         uint64_t *first_seq)
{
    return push_body(r, REC_SINK, t_first, t_last, entries, len, count,
                     first_seq);
}

void proto_ring_set_frames(proto_ring *r, proto_frames *f)
{
    proto_frames_free(r->frames);
    r->frames = f;
}

void proto_ring_request_flush(proto_ring *r)
{
    atomic_store_explicit(&r->flush_req, 1, memory_order_relaxed);
}

bool proto_ring_take_flush_request(proto_ring *r)
{
    if (!atomic_load_explicit(&r->flush_req, memory_order_relaxed))
        return false;
    atomic_store_explicit(&r->flush_req, 0, memory_order_relaxed);
    return true;
}

int proto_ring_flush(proto_ring *r)
{
    int rc = 0;

    if (r->p_loss_pending)
        rc = put_loss(r, r->p_last_t, false) == 0 ? 0 : PROTO_ERR_AGAIN;
    publish(r, false);
    return rc;
}

int proto_ring_finish(proto_ring *r)
{
    int rc = 0;

    if (r->p_loss_pending)
        rc = put_loss(r, r->p_last_t, true);
    publish(r, true);
    return rc;
}

/* ---- Consumer --------------------------------------------------------------- */

static void release(proto_ring *r)
{
    if (r->c_tail != r->c_released) {
        r->c_released = r->c_tail;
        atomic_store_explicit(&r->tail, r->c_tail, memory_order_release);
    }
}

static int peek_record(proto_ring *r, const uint8_t **rec, size_t *len)
{
    for (;;) {
        uint64_t tail = r->c_tail;
        size_t pos;
        uint32_t hdr;

        if (tail == r->c_head_cache) {
            r->c_head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
            if (tail == r->c_head_cache) {
                release(r);
                atomic_store_explicit(&r->idle, 1, memory_order_relaxed);
                atomic_thread_fence(memory_order_seq_cst);
                r->c_head_cache =
                    atomic_load_explicit(&r->head, memory_order_acquire);
                if (tail == r->c_head_cache) {
                    if (!atomic_load_explicit(&r->done, memory_order_acquire))
                        return PROTO_ERR_AGAIN;
                    /* done is stored after the final head (publish). */
                    r->c_head_cache =
                        atomic_load_explicit(&r->head, memory_order_acquire);
                    if (tail == r->c_head_cache)
                        return PROTO_ERR_END;
                }
                atomic_store_explicit(&r->idle, 0, memory_order_relaxed);
            }
        }
        pos = tail & r->mask;
        memcpy(&hdr, r->buf + pos, sizeof hdr);
        if (hdr == REC_PAD) {
            r->c_tail = tail + (r->cap - pos);
            continue;
        }
        *rec = r->buf + pos + REC_HEADER;
        *len = hdr;
        r->c_current = rec_size(hdr);
        return 0;
    }
}

/*
 * The sink record rec[0..len) as a batch record (docs/protocol.md, "Sink
 * records"): the same header with type PROTO_BATCH and the body encoded
 * from the entries (proto_sink_transcode), in c_batch. Time entries
 * before the first event (the clock moved between the batch's opening and
 * its first entry) move the batch's first time instead, so that t_first
 * is its first event's. A bad record is skipped: the delta state moves
 * past it as its header says, so that the records after it decode right;
 * out of memory, it stays to be peeked again.
 */
static int sink_to_batch(proto_ring *r, const uint8_t *rec, size_t len,
                         const uint8_t **out, size_t *out_len, char *err,
                         size_t errlen)
{
    const uint8_t *p = rec + 1, *end = rec + len;
    uint64_t seq_d, t_d, count, dt_last, body, events, dt, lead = 0;
    uint8_t head[BATCH_HEAD_BOUND], *h = head;
    size_t need, blen, hlen;
    int rc;

    /* The fields and bounds raw_parse_batch (binary.c) reads. */
    if (!(p = proto__raw_uv(p, end, 64, &seq_d)) ||
        !(p = proto__raw_uv(p, end, 64, &t_d)) ||
        !(p = proto__raw_uv(p, end, 32, &count)) ||
        !(p = proto__raw_uv(p, end, 64, &dt_last)) ||
        !(p = proto__raw_uv(p, end, 64, &body)) ||
        body != (uint64_t)(end - p))
        return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                            "bad sink record header (%zu bytes)", len);
    while (end - p >= 16 && VM_SINK_KIND(wire_slot(p, 0)) == VM_SINK_TIME) {
        lead += wire_slot(p, 1);
        p += 16;
    }
    need = BATCH_HEAD_BOUND + PROTO_SINK_BODY_BOUND(end - p);
    if (need > r->c_batch_cap) {
        uint8_t *b = proto__malloc(need);

        if (!b) {
            r->c_current = 0; /* not consumed: peeked again next time */
            return proto__error(err, errlen, PROTO_ERR_NOMEM,
                                "no memory for a sink record's batch");
        }
        proto__free(r->c_batch);
        r->c_batch = b;
        r->c_batch_cap = need;
    }
    rc = proto_sink_transcode(r->frames, p, (size_t)(end - p),
                              r->c_batch + BATCH_HEAD_BOUND,
                              r->c_batch_cap - BATCH_HEAD_BOUND, &blen,
                              &events, &dt, err, errlen);
    if (rc == 0 && (events != count || lead > dt_last ||
                    dt != dt_last - lead))
        rc = proto__error(err, errlen, PROTO_ERR_MALFORMED,
                          "sink record of %llu events over %llu ns holds "
                          "%llu over %llu",
                          (unsigned long long)count,
                          (unsigned long long)dt_last,
                          (unsigned long long)events,
                          (unsigned long long)(lead + dt));
    if (rc < 0) {
        /* Skipped: its seqs and time are used up as its header says. */
        uint64_t seq =
            r->c_delta.next_seq + (uint64_t)proto__unzigzag(seq_d);

        r->c_delta.next_seq = seq + count;
        r->c_delta.prev_t =
            r->c_delta.prev_t + (uint64_t)proto__unzigzag(t_d) + dt_last;
        return rc;
    }
    *h++ = PROTO_BATCH;
    h = wire_put_uv(h, seq_d);
    h = wire_put_sv(h, proto__unzigzag(t_d) + (int64_t)lead);
    h = wire_put_uv(h, count);
    h = wire_put_uv(h, dt_last - lead);
    h = wire_put_uv(h, blen);
    hlen = (size_t)(h - head);
    memcpy(r->c_batch + BATCH_HEAD_BOUND - hlen, head, hlen);
    *out = r->c_batch + BATCH_HEAD_BOUND - hlen;
    *out_len = r->c_batch_len = hlen + blen;
    return 0;
}

/* peek_record, with a sink record made a batch record. */
static int peek_events(proto_ring *r, const uint8_t **rec, size_t *len,
                       char *err, size_t errlen)
{
    int rc;

    r->c_batch_len = 0; /* peeked again: encoded again */
    if ((rc = peek_record(r, rec, len)) < 0)
        return rc;
    if (*len && (*rec)[0] == REC_SINK)
        return sink_to_batch(r, *rec, *len, rec, len, err, errlen);
    return 0;
}

int proto_ring_peek(proto_ring *r, const uint8_t **rec, size_t *len)
{
    return peek_events(r, rec, len, NULL, 0);
}

void proto_ring_consume(proto_ring *r)
{
    r->c_batch_len = 0;
    r->c_tail += r->c_current;
    r->c_current = 0;
    if (r->c_tail - r->c_released >= r->release_every)
        release(r);
}

int proto_ring_next_raw(proto_ring *r, proto_raw *raw, char *err,
                        size_t errlen)
{
    const uint8_t *rec;
    size_t len;
    int rc;

    if (proto_delta_in_batch(&r->c_delta))
        return proto__error(err, errlen, PROTO_ERR_ARG,
                            "next_raw in the middle of a batch that next "
                            "is expanding (%u events left)",
                            r->c_delta.batch_left);
    if (r->c_current)
        proto_ring_consume(r);
    if ((rc = peek_events(r, &rec, &len, err, errlen)) < 0)
        return rc;
    if ((rc = proto_raw_parse(&r->c_delta, rec, len, raw, err, errlen)) < 0)
        return rc;
    proto_raw_advance(&r->c_delta, raw);
    return 0;
}

/* The next inner event of the batch record next is expanding, which
 * stays peeked until its last event has been returned (the call after
 * that consumes it). */
static int next_in_batch(proto_ring *r, proto_event *ev, char *err,
                         size_t errlen)
{
    const uint8_t *rec = r->c_rec + r->c_rec_pos;
    size_t len = r->c_rec_len - r->c_rec_pos, used;
    int rc = proto_decode(&r->c_delta, rec, len, ev, &used, err, errlen);

    if (rc < 0)
        return rc;
    r->c_rec_pos += used;
    if (!proto_delta_in_batch(&r->c_delta) && used != len)
        return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                            "ring record of %zu bytes holds %zu",
                            r->c_rec_len, r->c_rec_pos);
    return 0;
}

/* An ordinary record is decoded whole (used = len); a batch record's
 * first event leaves the delta state inside the batch. */
int proto_ring_next(proto_ring *r, proto_event *ev, char *err, size_t errlen)
{
    const uint8_t *rec;
    size_t len, used;
    int rc;

    if (r->c_delta.batch_left)
        return next_in_batch(r, ev, err, errlen);
    if (r->c_current)
        proto_ring_consume(r);
    if ((rc = peek_events(r, &rec, &len, err, errlen)) < 0)
        return rc;
    rc = proto_decode(&r->c_delta, rec, len, ev, &used, err, errlen);
    if (rc == 0 && used != len) {
        if (proto_delta_in_batch(&r->c_delta)) {
            r->c_rec = rec;
            r->c_rec_len = len;
            r->c_rec_pos = used;
            return 0;
        }
        rc = proto__error(err, errlen, PROTO_ERR_MALFORMED,
                          "ring record of %zu bytes holds %zu", len, used);
    }
    return rc;
}
