/*
 * Internals shared by the protocol sources. Private to protocol/.
 */
#ifndef TRACED_PROTO_INT_H
#define TRACED_PROTO_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "traced/proto.h"

/* The module's one allocation wrapper (alloc.c). Tests inject
 * out-of-memory through proto__alloc_fail_after. */
extern long proto__alloc_fail_after;
void *proto__malloc(size_t n);
void *proto__calloc(size_t n, size_t size);
void *proto__realloc(void *p, size_t n);
void *proto__aligned_alloc(size_t align, size_t n);
void proto__free(void *p);
/* Zeroed, page-aligned memory mapped on first touch (alloc.c). */
void *proto__map(size_t n);
void proto__unmap(void *p, size_t n);

/* CRC32C by slice-by-8 whatever the CPU, for tests against the hardware
 * path of proto_crc32c (hash.c). */
uint32_t proto__crc32c_sw(uint32_t crc, const void *data, size_t len);

/* Format detail into err and return code (errors.c). */
int proto__error(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Event storage (event.c): make room for n bytes of arrays in ev->mem,
 * discarding its previous content and any JSON reference. */
int proto__event_reserve(proto_event *ev, size_t n);

/* Encode ev at p, which has room for proto_encoded_bound(ev) bytes, without
 * advancing d (binary.c). */
int proto__encode_unchecked(const proto_delta *d, const proto_event *ev,
                            uint8_t *p, size_t *len);

/* A raw record re-based onto delta state d (a chunk's), at p, which has
 * room for raw->len + PROTO__HEAD_BOUND + PROTO__U64_BOUND bytes; returns
 * its length (binary.c). */
size_t proto__raw_rebase(const proto_delta *d, const proto_raw *raw,
                         uint8_t *p);

/* Run cursors (code.c): open one on run (an ops or steps event), checked
 * against c as proto_code_expand checks it, at its event i; next writes
 * the cursor's next event into ev and closes the cursor (type 0) after
 * the last one. */
int proto__run_open(const proto_code *c, const proto_event *run, uint64_t i,
                    proto_run_cursor *cur, char *err, size_t errlen);
int proto__run_next(const proto_code *c, proto_run_cursor *cur,
                    proto_event *ev, char *err, size_t errlen);

/* A call, return, host_call or host_return event given as the VM's hook
 * gives it: values in the slot encoding (vm_trace_vals), borrowed. */
typedef struct proto__frame {
    proto_event_type type;
    uint64_t seq, t_ns;
    uint32_t func;
    uint32_t second; /* depth (call/return) or import (host_*) */
    const vm_trace_vals *vals;
} proto__frame;

/* Encode f at p, which has room for proto__frame_bound(f) bytes, without
 * advancing d: the same bytes as the equivalent event's record.
 * PROTO_ERR_ARG for an unknown value type (binary.c). */
int proto__encode_frame(const proto_delta *d, const proto__frame *f,
                        uint8_t *p, size_t *len);

/* ---- Sizes and delta state, inline for the ring's hot path ---- */

#define PROTO__HEAD_BOUND 21u /* type + two 64-bit varints */
#define PROTO__VAL_BOUND 17u  /* type + v128 */
#define PROTO__U32_BOUND 5u
#define PROTO__U64_BOUND 10u

static inline size_t proto__str_bound(proto_str s)
{
    return PROTO__U32_BOUND + s.len;
}

static inline size_t proto__vals_bound(proto_vals v)
{
    return PROTO__U32_BOUND + (size_t)v.count * PROTO__VAL_BOUND;
}

static inline size_t proto__encoded_bound(const proto_event *ev)
{
    size_t n = PROTO__HEAD_BOUND;

    switch (ev->type) {
    case PROTO_RUN_START: {
        const proto_run_start *x = &ev->as.run_start;

        n += 8 + PROTO__U64_BOUND + 1 + 32 + proto__str_bound(x->module) +
             2 * PROTO__U32_BOUND;
        for (uint32_t i = 0; i < x->argc; i++)
            n += proto__str_bound(x->argv[i]);
        for (uint32_t i = 0; i < x->nimports; i++)
            n += proto__str_bound(x->imports[i].module) +
                 proto__str_bound(x->imports[i].name);
        if (x->level == PROTO_LEVEL_LINES) {
            n += PROTO__U32_BOUND;
            for (uint32_t i = 0; i < x->nfiles; i++)
                n += proto__str_bound(x->files[i]);
        }
        return n;
    }
    case PROTO_CALL:
        return n + 2 * PROTO__U32_BOUND + proto__vals_bound(ev->as.call.args);
    case PROTO_RETURN:
        return n + 2 * PROTO__U32_BOUND + proto__vals_bound(ev->as.ret.results);
    case PROTO_HOST_CALL:
    case PROTO_HOST_RETURN:
        return n + 2 * PROTO__U32_BOUND + proto__vals_bound(ev->as.host.vals);
    case PROTO_OP:
        return n + 1 + PROTO__U32_BOUND + PROTO__U64_BOUND;
    case PROTO_THROW:
        return n + PROTO__U32_BOUND + proto__vals_bound(ev->as.throw_.payload);
    case PROTO_TRAP:
        return n + PROTO__U32_BOUND + proto__str_bound(ev->as.trap.message);
    case PROTO_OUTPUT:
        return n + PROTO__U32_BOUND + proto__str_bound(ev->as.output.data);
    case PROTO_STEP:
        return n + 3 * PROTO__U32_BOUND;
    case PROTO_LOSS:
        return n + PROTO__U64_BOUND;
    case PROTO_RUN_END:
        return n + 1 + PROTO__U32_BOUND +
               proto__vals_bound(ev->as.run_end.results) + 6 * PROTO__U64_BOUND;
    case PROTO_OPS:
        return n + 2 * PROTO__U64_BOUND;
    case PROTO_STEPS:
        return n + PROTO__U32_BOUND + PROTO__U64_BOUND;
    }
    return n;
}

static inline size_t proto__frame_bound(const proto__frame *f)
{
    return PROTO__HEAD_BOUND + 3 * PROTO__U32_BOUND +
           (size_t)f->vals->count * PROTO__VAL_BOUND;
}

/* The seq numbers ev stands for: 1, or the count of a loss, ops or steps
 * event. The three counts share their place in the union's layout only
 * by accident, so each is read by name. */
static inline uint64_t proto__event_span(const proto_event *ev)
{
    switch (ev->type) {
    case PROTO_LOSS: return ev->as.loss.count;
    case PROTO_OPS: return ev->as.ops.count;
    case PROTO_STEPS: return ev->as.steps.count;
    default: return 1;
    }
}

static inline uint64_t proto__next_seq(const proto_event *ev)
{
    return ev->seq + proto__event_span(ev);
}

/* Whether a run of count events from seq is possible: count >= 1 and the
 * seq after it, seq + count, does not overflow (ops and steps events;
 * encoders and decoders alike). */
static inline bool proto__span_ok(uint64_t seq, uint64_t count)
{
    return count >= 1 && count <= UINT64_MAX - seq;
}

/* Advance d past ev (encoder and decoder alike). */
static inline void proto__delta_advance(proto_delta *d, const proto_event *ev)
{
    d->next_seq = proto__next_seq(ev);
    d->prev_t = ev->t_ns;
    if (ev->type == PROTO_OP)
        d->prev_offset = ev->as.op.offset;
    else if (ev->type == PROTO_OPS)
        d->prev_offset = ev->as.ops.offset;
}

/* ---- Little-endian fixed-width and LEB128 helpers ---- */

static inline void proto__put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void proto__put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void proto__put_u64(uint8_t *p, uint64_t v)
{
    proto__put_u32(p, (uint32_t)v);
    proto__put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t proto__get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t proto__get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline uint64_t proto__get_u64(const uint8_t *p)
{
    return (uint64_t)proto__get_u32(p) |
           ((uint64_t)proto__get_u32(p + 4) << 32);
}

static inline uint64_t proto__zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t proto__unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* A varint of at most `bits` bits in p[0..end): the byte after it, or
 * NULL if it is truncated or too long (the caller words the error).
 * Record headers' fields are one byte in the steady state. */
const uint8_t *proto__raw_uv_slow(const uint8_t *p, const uint8_t *end,
                                  unsigned bits, uint64_t *out);
static inline const uint8_t *proto__raw_uv(const uint8_t *p,
                                           const uint8_t *end, unsigned bits,
                                           uint64_t *out)
{
    if (p < end && *p < 0x80) {
        *out = *p;
        return p + 1;
    }
    return proto__raw_uv_slow(p, end, bits, out);
}

#endif /* TRACED_PROTO_INT_H */
