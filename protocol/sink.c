/*
 * A VM trace sink's entries as a batch body (traced/proto_sink.h,
 * docs/protocol.md "Sink records").
 *
 * The entries are what the VM's trace sink writes (vm.h, "Trace sinks");
 * the body is ordinary records (docs/protocol.md section 2), the same
 * bytes the VM wrote itself before sink records: type, seq delta 0, time
 * delta, then a call's or return's func, depth and values, an ops run's
 * offset delta and count, a steps run's point and count.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"
#include "traced/proto_sink.h"
#include "traced/wire.h"

/* A function's values: count, types (into proto_frames.types), slots;
 * i32 when they are at most FAST_SLOTS values, all i32 (transcode's
 * short way). */
typedef struct frame_vals {
    uint32_t count, slots, types;
    bool i32;
} frame_vals;

#define FAST_SLOTS 4u

static bool all_i32(uint32_t n, const uint8_t *types)
{
    if (n > FAST_SLOTS)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (types[i] != WIRE_I32)
            return false;
    return true;
}

/*
 * transcode's short way for a call or return entry of function func
 * (fast[func * 2 + is_return]): the entry's word 0 but for the depth
 * (kind, slots, function: FAST_NONE when the function has no short way:
 * an index of 128 or more, a value that is not i32, more than FAST_SLOTS
 * values), the entry's bytes, and the record's first six bytes but for
 * the depth (byte 4): type, seq delta 0, time delta 0, the function, the
 * depth, the value count.
 */
typedef struct fast_entry {
    uint64_t w0, head;
    uint32_t nvals;
} fast_entry;

#define FAST_NONE UINT64_MAX
#define W0_NO_DEPTH ((UINT64_C(1) << 36) - 1)

struct proto_frames {
    uint32_t nfuncs;
    frame_vals *params, *results; /* per function */
    uint8_t *types;               /* every function's types, in order */
    fast_entry *fast;             /* per function, call then return */
};

/* The short way for one function's call (kind VM_SINK_CALL) or return. */
static fast_entry fast_entry_of(uint32_t func, unsigned kind,
                                const frame_vals *v)
{
    fast_entry e = {FAST_NONE, 0, 0};

    if (func >= 0x80 || !v->i32)
        return e;
    e.w0 = kind | (uint64_t)v->slots << 4 | (uint64_t)func << 16;
    e.head = (kind == VM_SINK_CALL ? PROTO_CALL : PROTO_RETURN) |
             (uint64_t)func << 24 | (uint64_t)v->count << 40;
    e.nvals = v->count;
    return e;
}

void proto_frames_free(proto_frames *f)
{
    if (!f)
        return;
    proto__free(f->params);
    proto__free(f->results);
    proto__free(f->types);
    proto__free(f->fast);
    proto__free(f);
}

int proto_frames_new(const vm_module *m, proto_frames **out)
{
    proto_frames *f = proto__aligned_alloc(64, sizeof *f);
    uint32_t n = vm_module_func_count(m);
    size_t ntypes = 0, at = 0;
    vm_functype_view ft;

    *out = NULL;
    if (!f)
        return PROTO_ERR_NOMEM;
    memset(f, 0, sizeof *f);
    for (uint32_t i = 0; i < n; i++)
        if (vm_module_func_type(m, i, &ft) == 0)
            ntypes += (size_t)ft.nparams + ft.nresults;
    /* Read by the ring's consumer for every call and return: f and each
     * table on cache lines of their own, never shared with something the VM's
     * thread writes (next to the sink, it once made the consumer 3x
     * slower). */
    f->nfuncs = n;
    f->params = proto__aligned_alloc(64, (n ? n : 1) * sizeof *f->params);
    f->results = proto__aligned_alloc(64, (n ? n : 1) * sizeof *f->results);
    f->types = proto__aligned_alloc(64, ntypes ? ntypes : 1);
    f->fast = proto__aligned_alloc(64, (n ? n : 1) * 2 * sizeof *f->fast);
    if (!f->params || !f->results || !f->types || !f->fast) {
        proto_frames_free(f);
        return PROTO_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (vm_module_func_type(m, i, &ft) != 0) {
            /* No type: a slot count no entry has, so no values. */
            f->params[i] = f->results[i] =
                (frame_vals){0, UINT32_MAX, 0, false};
            f->fast[2 * i] = f->fast[2 * i + 1] =
                (fast_entry){FAST_NONE, 0, 0};
            continue;
        }
        f->params[i] = (frame_vals){ft.nparams,
                                    wire_slot_count(ft.nparams, ft.params),
                                    (uint32_t)at,
                                    all_i32(ft.nparams, ft.params)};
        memcpy(f->types + at, ft.params, ft.nparams);
        at += ft.nparams;
        f->results[i] = (frame_vals){
            ft.nresults, wire_slot_count(ft.nresults, ft.results),
            (uint32_t)at, all_i32(ft.nresults, ft.results)};
        memcpy(f->types + at, ft.results, ft.nresults);
        at += ft.nresults;
        f->fast[2 * i] = fast_entry_of(i, VM_SINK_CALL, &f->params[i]);
        f->fast[2 * i + 1] = fast_entry_of(i, VM_SINK_RETURN, &f->results[i]);
    }
    *out = f;
    return 0;
}

/*
 * A varint of a 32-bit value without a loop: the 7-bit groups spread to
 * bytes, continuation bits on all but the last, one 8-byte store. Writes
 * 8 bytes at q (transcode keeps 64 bytes of slack), advances by 1-5.
 */
static inline uint8_t *put_uv32(uint8_t *q, uint32_t v)
{
    /* By leading zero bits (v >= 0x80: 0..24): bytes, continuation
     * bits. */
    static const uint8_t bytes[25] = {5, 5, 5, 5, 4, 4, 4, 4, 4, 4, 4,
                                      3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2,
                                      2, 2, 2};
    static const uint64_t cont[6] = {0, 0, 0x80, 0x8080, 0x808080,
                                     0x80808080};
    uint64_t x = v, spread;
    unsigned n;

    if (v < 0x80) {
        *q = (uint8_t)v;
        return q + 1;
    }
    n = bytes[__builtin_clz(v)];
    spread = (x & 0x7f) | (x & 0x3f80) << 1 | (x & 0x1fc000) << 2 |
             (x & 0xfe00000) << 3 | (x & 0xf0000000) << 4;
    spread |= cont[n];
    memcpy(q, &spread, 8);
    return q + n;
}

/* n i32 values from their slots at vals (any alignment): per value its
 * type byte and zigzag varint, both ways of transcode. */
static inline uint8_t *put_i32_vals(uint8_t *q, uint32_t n,
                                    const uint8_t *vals)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t x = (uint32_t)wire_slot(vals, i);

        *q++ = WIRE_I32;
        q = put_uv32(q, (x << 1) ^ (uint32_t)((int32_t)x >> 31));
    }
    return q;
}

/* A call's or return's record up to its values: type, seq delta 0, the
 * time delta (pending, then none), function and depth. */
static inline uint8_t *put_frame_head(uint8_t *q, bool call,
                                      uint64_t *pending, uint32_t func,
                                      uint32_t depth)
{
    q[0] = call ? PROTO_CALL : PROTO_RETURN;
    q[1] = 0; /* seq delta */
    if (*pending) {
        q = wire_put_uv(q + 2, wire_zigzag((int64_t)*pending));
        *pending = 0;
    } else {
        q[2] = 0;
        q += 3;
    }
    q = put_uv32(q, func);
    return put_uv32(q, depth);
}

/* The values of a call or return whose entry has nslots slots at vals:
 * those of v (the function's, or NULL) when they take that many slots,
 * else none. */
static inline uint8_t *put_frame_vals(uint8_t *q, const proto_frames *f,
                                      const frame_vals *v, uint32_t nslots,
                                      const uint8_t *vals)
{
    uint8_t *e;

    if (v && v->slots == nslots && v->i32) {
        *q++ = (uint8_t)nslots; /* the count, < 128 */
        return put_i32_vals(q, nslots, vals);
    }
    e = v && v->slots == nslots
            ? wire_put_slot_vals(q, v->count, f->types + v->types, vals)
            : NULL;
    return e ? e : wire_put_uv(q, 0);
}

/*
 * transcode's short way: from p, the call and return entries of a
 * function of index < 128 with at most FAST_SLOTS values, all i32, at a
 * depth < 128 (one compare of word 0 with the function's fast_entry
 * checks kind, slots and function), encoded at *q; stops at end or at
 * the first entry that takes the long way, and returns where it stopped.
 * A loop of its own, out of line: in transcode's body GCC spilled its
 * state around every store through q (a char pointer may alias it).
 */
static __attribute__((noinline)) const uint8_t *
fast_entries(const fast_entry *fast, size_t nfast, const uint8_t *p,
             const uint8_t *end, uint8_t **qp, uint64_t *np)
{
    uint8_t *q = *qp;
    uint64_t n = *np;

    while (end - p >= 8) {
        uint64_t w0 = wire_slot(p, 0);
        size_t i;
        fast_entry e;
        uint64_t head;

        if (VM_SINK_KIND(w0) >= VM_SINK_CALL1) {
            /* One word: a function whose only value is an i32 has
             * nvals 1 (one f32 has no short way). */
            uint64_t slot = VM_SINK1_VALUE(w0);

            i = 2 * (size_t)VM_SINK1_FUNC(w0) +
                (VM_SINK_KIND(w0) == VM_SINK_RETURN1);
            if (VM_SINK_KIND(w0) > VM_SINK_RETURN1 || i >= nfast)
                break;
            e = fast[i];
            if (e.w0 == FAST_NONE || e.nvals != 1 ||
                VM_SINK1_DEPTH(w0) >= 0x80)
                break;
            head = e.head | (uint64_t)VM_SINK1_DEPTH(w0) << 32;
            memcpy(q, &head, 8);
            q = put_i32_vals(q + 6, 1, (const uint8_t *)&slot);
            n++;
            p += 8;
            continue;
        }
        i = 2 * (size_t)VM_SINK_FUNC(w0) + (VM_SINK_KIND(w0) == VM_SINK_RETURN);
        /* The entry's bytes from w0 itself, not from the table: where the
         * next entry starts is the one chain from entry to entry, and a
         * table load in it cost more than the rest. */
        size_t need = 8 + 8 * (size_t)VM_SINK_NSLOTS(w0);

        if (i >= nfast)
            break;
        e = fast[i]; /* matching e.w0, its slots are NSLOTS(w0) */
        if ((w0 & W0_NO_DEPTH) != e.w0 || VM_SINK_DEPTH(w0) >= 0x80 ||
            (size_t)(end - p) < need)
            break;
        head = e.head | (w0 >> 36) << 32;
        memcpy(q, &head, 8);
        q += 6;
        q = put_i32_vals(q, e.nvals, p + 8);
        n++;
        p += need;
    }
    *qp = q;
    *np = n;
    return p;
}

int proto_sink_transcode(const proto_frames *f, const uint8_t *raw,
                         size_t len, uint8_t *out, size_t cap,
                         size_t *out_len, uint64_t *events, uint64_t *dt,
                         char *err, size_t errlen)
{
    const uint8_t *p = raw, *end = raw + len;
    uint8_t *q = out;
    uint64_t n = 0, pending = 0, total = 0;
    uint32_t prev_offset = 0;
    const fast_entry *fast = f ? f->fast : NULL;
    size_t nfast = f ? 2 * (size_t)f->nfuncs : 0;

    /* One check for the whole body: each entry's encoding is within three
     * times its bytes, and 64 bytes of slack take put_uv32's stores. */
    if (cap < PROTO_SINK_BODY_BOUND(len))
        return proto__error(err, errlen, PROTO_ERR_NOSPACE,
                            "%zu bytes for the batch body of %zu bytes of "
                            "sink entries",
                            cap, len);
    while (p < end) {
        uint64_t w0, w1;
        unsigned kind;
        size_t left = (size_t)(end - p), need;

        /* The short way for as many entries as take it. */
        if (!pending && fast) {
            p = fast_entries(fast, nfast, p, end, &q, &n);
            if (p == end)
                break;
            left = (size_t)(end - p);
        }
        if (left < 8)
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "sink entry cut short at byte %zu of %zu",
                                (size_t)(p - raw), len);
        w0 = wire_slot(p, 0);
        kind = VM_SINK_KIND(w0);
        if (kind == VM_SINK_CALL || kind == VM_SINK_RETURN) {
            /* The common entry, with the fewest tests. */
            uint32_t func = VM_SINK_FUNC(w0), nslots = VM_SINK_NSLOTS(w0);
            const frame_vals *v = NULL;

            need = 8 + 8 * (size_t)nslots;
            if (left < need)
                return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                    "sink entry of kind %u cut short at "
                                    "byte %zu of %zu",
                                    kind, (size_t)(p - raw), len);
            q = put_frame_head(q, kind == VM_SINK_CALL, &pending, func,
                               VM_SINK_DEPTH(w0));
            if (f && func < f->nfuncs)
                v = kind == VM_SINK_CALL ? &f->params[func]
                                         : &f->results[func];
            q = put_frame_vals(q, f, v, nslots, p + 8);
            n++;
            p += need;
            continue;
        }
        if (kind == VM_SINK_CALL1 || kind == VM_SINK_RETURN1) {
            /* One word: its value as a slot of its own, when the
             * function's values are one i32 or f32; else none. */
            uint32_t func = VM_SINK1_FUNC(w0);
            uint64_t slot = VM_SINK1_VALUE(w0);
            const frame_vals *v = NULL;

            q = put_frame_head(q, kind == VM_SINK_CALL1, &pending, func,
                               VM_SINK1_DEPTH(w0));
            if (f && func < f->nfuncs)
                v = kind == VM_SINK_CALL1 ? &f->params[func]
                                          : &f->results[func];
            if (v && (v->count != 1 || (f->types[v->types] != WIRE_I32 &&
                                        f->types[v->types] != WIRE_F32)))
                v = NULL;
            q = put_frame_vals(q, f, v, 1, (const uint8_t *)&slot);
            n++;
            p += 8;
            continue;
        }
        need = kind == VM_SINK_RETURN_NONE ? 8 : 16;
        if (kind == VM_SINK_RETURN_NONE && VM_SINK_NSLOTS(w0))
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "valueless return with %u slots at byte %zu",
                                VM_SINK_NSLOTS(w0), (size_t)(p - raw));
        if (left < need)
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "sink entry of kind %u cut short at byte %zu "
                                "of %zu",
                                kind, (size_t)(p - raw), len);
        if (kind == VM_SINK_TIME) {
            w1 = wire_slot(p, 1);
            pending += w1;
            total += w1;
            p += 16;
            continue;
        }
        switch (kind) {
        case VM_SINK_RETURN_NONE: *q++ = PROTO_RETURN; break;
        case VM_SINK_OPS: *q++ = PROTO_OPS; break;
        case VM_SINK_STEPS: *q++ = PROTO_STEPS; break;
        default:
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "sink entry of unknown kind %u at byte %zu",
                                kind, (size_t)(p - raw));
        }
        *q++ = 0; /* seq delta */
        q = wire_put_uv(q, wire_zigzag((int64_t)pending));
        pending = 0;
        if (kind == VM_SINK_RETURN_NONE) {
            q = wire_put_uv(q, VM_SINK_FUNC(w0));
            q = wire_put_uv(q, VM_SINK_DEPTH(w0));
            *q++ = 0; /* no values */
            n++;
        } else {
            uint32_t start = (uint32_t)(w0 >> 32);

            w1 = wire_slot(p, 1);
            if (w1 == 0 || w1 > UINT32_MAX)
                return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                    "run of %llu events at byte %zu",
                                    (unsigned long long)w1,
                                    (size_t)(p - raw));
            if (kind == VM_SINK_OPS) {
                q = wire_put_sv(q, (int64_t)start - (int64_t)prev_offset);
                prev_offset = start;
            } else {
                q = wire_put_uv(q, start);
            }
            q = wire_put_uv(q, w1);
            n += w1;
        }
        p += need;
    }
    *out_len = (size_t)(q - out);
    *events = n;
    *dt = total;
    return 0;
}
