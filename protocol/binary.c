/*
 * The compact binary encoding of events (docs/protocol.md, "Binary
 * records"). A record is a type byte, the zigzag deltas of seq and t from
 * the delta state, and a per-type body of LEB128 varints (zigzag for
 * signed values), fixed little-endian float/v128 bits and length-counted
 * strings.
 *
 * The encoder writes without bounds checks into space it has checked
 * against proto_encoded_bound() once; the decoder checks every byte it
 * reads against the end of its input and never trusts a length or count
 * before it has checked that the input can hold it.
 */
#include <stdlib.h>

#include "proto_int.h"

/* ---- Encoder ----------------------------------------------------------- */

static inline uint8_t *put_uv(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint8_t *put_sv(uint8_t *p, int64_t v)
{
    return put_uv(p, proto__zigzag(v));
}

static inline uint8_t *put_str(uint8_t *p, proto_str s)
{
    p = put_uv(p, s.len);
    if (s.len)
        memcpy(p, s.ptr, s.len);
    return p + s.len;
}

/* NULL if a value has an unknown type. */
static uint8_t *put_vals(uint8_t *p, proto_vals v)
{
    p = put_uv(p, v.count);
    for (uint32_t i = 0; i < v.count; i++) {
        const proto_val *x = &v.items[i];

        *p++ = x->type;
        switch (x->type) {
        case VM_I32: p = put_sv(p, x->of.i32); break;
        case VM_I64: p = put_sv(p, x->of.i64); break;
        case VM_F32: proto__put_u32(p, x->of.f32_bits); p += 4; break;
        case VM_F64: proto__put_u64(p, x->of.f64_bits); p += 8; break;
        case VM_V128: memcpy(p, x->of.v128, 16); p += 16; break;
        case VM_FUNCREF:
        case VM_EXTERNREF:
            /* id + 1, so that null (all ones) is the one-byte 0. */
            p = put_uv(p, x->of.ref + 1);
            break;
        default:
            return NULL;
        }
    }
    return p;
}

size_t proto_encoded_bound(const proto_event *ev)
{
    return proto__encoded_bound(ev);
}

/* Encode into p, which has room for proto_encoded_bound(ev) bytes. */
int proto__encode_unchecked(const proto_delta *d, const proto_event *ev,
                            uint8_t *p0, size_t *len)
{
    uint8_t *p = p0;

    *p++ = (uint8_t)ev->type;
    p = put_sv(p, (int64_t)(ev->seq - d->next_seq));
    p = put_sv(p, (int64_t)(ev->t_ns - d->prev_t));
    switch (ev->type) {
    case PROTO_RUN_START: {
        const proto_run_start *x = &ev->as.run_start;

        if (x->level < PROTO_LEVEL_CALLS || x->level > PROTO_LEVEL_LINES)
            return PROTO_ERR_ARG;
        proto__put_u64(p, x->run_id);
        p = put_uv(p + 8, x->wall_ns);
        *p++ = (uint8_t)x->level;
        memcpy(p, x->hash, 32);
        p = put_str(p + 32, x->module);
        p = put_uv(p, x->argc);
        p = put_uv(p, x->nimports);
        if (x->level == PROTO_LEVEL_LINES)
            p = put_uv(p, x->nfiles);
        for (uint32_t i = 0; i < x->argc; i++)
            p = put_str(p, x->argv[i]);
        for (uint32_t i = 0; i < x->nimports; i++) {
            p = put_str(p, x->imports[i].module);
            p = put_str(p, x->imports[i].name);
        }
        /* The source file table that step events index: level lines. */
        for (uint32_t i = 0; x->level == PROTO_LEVEL_LINES && i < x->nfiles;
             i++)
            p = put_str(p, x->files[i]);
        break;
    }
    case PROTO_CALL:
        p = put_uv(p, ev->as.call.func);
        p = put_uv(p, ev->as.call.depth);
        p = put_vals(p, ev->as.call.args);
        break;
    case PROTO_RETURN:
        p = put_uv(p, ev->as.ret.func);
        p = put_uv(p, ev->as.ret.depth);
        p = put_vals(p, ev->as.ret.results);
        break;
    case PROTO_HOST_CALL:
    case PROTO_HOST_RETURN:
        p = put_uv(p, ev->as.host.func);
        p = put_uv(p, ev->as.host.import);
        p = put_vals(p, ev->as.host.vals);
        break;
    case PROTO_OP: {
        uint32_t op = ev->as.op.opcode, prefix = PROTO_OPCODE_PREFIX(op);

        if (prefix) {
            if (!PROTO_OPCODE_IS_PREFIX(prefix))
                return PROTO_ERR_ARG;
            *p++ = (uint8_t)prefix;
            p = put_uv(p, PROTO_OPCODE_SUB(op));
        } else {
            if (op > 0xff || PROTO_OPCODE_IS_PREFIX(op))
                return PROTO_ERR_ARG;
            *p++ = (uint8_t)op;
        }
        p = put_sv(p, (int64_t)((uint64_t)ev->as.op.offset - d->prev_offset));
        break;
    }
    case PROTO_THROW:
        p = put_uv(p, ev->as.throw_.tag);
        p = put_vals(p, ev->as.throw_.payload);
        break;
    case PROTO_TRAP:
        p = put_sv(p, ev->as.trap.code);
        p = put_str(p, ev->as.trap.message);
        break;
    case PROTO_OUTPUT:
        p = put_uv(p, ev->as.output.fd);
        p = put_str(p, ev->as.output.data);
        break;
    case PROTO_STEP:
        p = put_uv(p, ev->as.step.file);
        p = put_uv(p, ev->as.step.line);
        p = put_uv(p, ev->as.step.column);
        break;
    case PROTO_LOSS:
        if (ev->as.loss.count == 0)
            return PROTO_ERR_ARG;
        p = put_uv(p, ev->as.loss.count);
        break;
    case PROTO_RUN_END: {
        const proto_run_end *x = &ev->as.run_end;

        if (!proto_status_name(x->status))
            return PROTO_ERR_ARG;
        *p++ = (uint8_t)x->status;
        p = put_sv(p, x->exit_code);
        p = put_vals(p, x->results);
        if (!p)
            break;
        p = put_uv(p, x->counters.ops);
        p = put_uv(p, x->counters.calls);
        p = put_uv(p, x->counters.host_calls);
        p = put_uv(p, x->counters.max_depth);
        p = put_uv(p, x->counters.throws);
        p = put_uv(p, x->counters.traps);
        break;
    }
    default:
        return PROTO_ERR_ARG;
    }
    if (!p)
        return PROTO_ERR_ARG;
    *len = (size_t)(p - p0);
    return 0;
}

int proto_encode(proto_delta *d, const proto_event *ev, uint8_t *buf,
                 size_t cap, size_t *len)
{
    size_t bound = proto__encoded_bound(ev), n = 0;
    uint8_t *tmp;
    int rc;

    if (cap >= bound) {
        rc = proto__encode_unchecked(d, ev, buf, &n);
    } else {
        /* Rare: the caller's space is below the bound; the record may
         * still fit, so encode aside and copy. */
        tmp = proto__malloc(bound);
        if (!tmp)
            return PROTO_ERR_NOMEM;
        rc = proto__encode_unchecked(d, ev, tmp, &n);
        if (rc == 0 && n > cap)
            rc = PROTO_ERR_NOSPACE;
        if (rc == 0)
            memcpy(buf, tmp, n);
        proto__free(tmp);
    }
    if (rc < 0)
        return rc;
    proto__delta_advance(d, ev);
    *len = n;
    return 0;
}

/* ---- Decoder ------------------------------------------------------------------ */

typedef struct reader {
    const uint8_t *start, *p, *end;
    char *err;
    size_t errlen;
} reader;

/* The code is the expression's value, so the compiler sees it is < 0. */
#define FAIL(rd, code, ...)                                                 \
    ((void)proto__error((rd)->err, (rd)->errlen, code, __VA_ARGS__), (code))

static size_t at(const reader *rd)
{
    return (size_t)(rd->p - rd->start);
}

static int get_u8(reader *rd, uint8_t *out)
{
    if (rd->p >= rd->end)
        return FAIL(rd, PROTO_ERR_TRUNCATED, "record truncated at byte %zu",
                    at(rd));
    *out = *rd->p++;
    return 0;
}

static int get_fixed(reader *rd, void *out, size_t n)
{
    if ((size_t)(rd->end - rd->p) < n)
        return FAIL(rd, PROTO_ERR_TRUNCATED,
                    "record truncated at byte %zu (%zu-byte field)", at(rd), n);
    memcpy(out, rd->p, n);
    rd->p += n;
    return 0;
}

/* The careful path of get_uv: near the end of the input. */
static int get_uv_slow(reader *rd, unsigned bits, uint64_t *out)
{
    uint64_t v = 0;
    unsigned shift = 0;
    size_t start = at(rd);

    for (;;) {
        uint8_t b;

        if (rd->p >= rd->end)
            return FAIL(rd, PROTO_ERR_TRUNCATED,
                        "varint at byte %zu truncated", start);
        b = *rd->p++;
        if (shift + 7 > bits && (b & 0x7f) >> (bits - shift))
            return FAIL(rd, PROTO_ERR_MALFORMED,
                        "varint at byte %zu exceeds %u bits", start, bits);
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
        shift += 7;
        if (shift >= bits)
            return FAIL(rd, PROTO_ERR_MALFORMED,
                        "varint at byte %zu too long", start);
    }
    *out = v;
    return 0;
}

/*
 * An unsigned LEB128 of at most `bits` (32 or 64) significant bits. The
 * common case (the varint ends inside the input and within its maximum
 * length) finds the last byte first and then decodes without per-byte
 * checks; anything else goes the careful way, which also words the error.
 */
static inline int get_uv(reader *rd, unsigned bits, uint64_t *out)
{
    const uint8_t *p = rd->p;
    size_t left = (size_t)(rd->end - p), max = (bits + 6) / 7, n = 0;
    uint64_t v = 0;

    if (left && *p < 0x80) {
        *out = *p;
        rd->p = p + 1;
        return 0;
    }
    if (left > max)
        left = max;
    while (n < left && (p[n] & 0x80))
        n++;
    if (n == left)
        return get_uv_slow(rd, bits, out);
    for (size_t i = 0; i <= n; i++)
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if ((bits < 64 && (v >> bits)) || (bits == 64 && n == 9 && p[9] > 1))
        return get_uv_slow(rd, bits, out);
    rd->p = p + n + 1;
    *out = v;
    return 0;
}

static int get_u32(reader *rd, uint32_t *out)
{
    uint64_t v = 0;
    int rc = get_uv(rd, 32, &v);

    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

static int get_s64(reader *rd, int64_t *out)
{
    uint64_t v = 0;
    int rc = get_uv(rd, 64, &v);

    if (rc == 0)
        *out = proto__unzigzag(v);
    return rc;
}

static int get_s32(reader *rd, int32_t *out)
{
    int64_t v = 0;
    int rc = get_s64(rd, &v);

    if (rc < 0)
        return rc;
    if (v < INT32_MIN || v > INT32_MAX)
        return FAIL(rd, PROTO_ERR_MALFORMED,
                    "signed 32-bit value out of range before byte %zu", at(rd));
    *out = (int32_t)v;
    return 0;
}

static int get_str(reader *rd, proto_str *out)
{
    uint32_t n = 0;
    int rc = get_u32(rd, &n);

    if (rc < 0)
        return rc;
    if (n > PROTO_MAX_BYTES)
        return FAIL(rd, PROTO_ERR_LIMIT, "string of %u bytes at byte %zu",
                    n, at(rd));
    if ((size_t)(rd->end - rd->p) < n)
        return FAIL(rd, PROTO_ERR_TRUNCATED,
                    "string of %u bytes at byte %zu truncated", n, at(rd));
    out->ptr = (const char *)rd->p;
    out->len = n;
    rd->p += n;
    return 0;
}

/* Read a count of items that take at least min_bytes each. */
static int get_count(reader *rd, uint32_t limit, size_t min_bytes,
                     uint32_t *out)
{
    int rc = get_u32(rd, out);

    if (rc < 0)
        return rc;
    if (*out > limit)
        return FAIL(rd, PROTO_ERR_LIMIT, "count %u at byte %zu exceeds %u",
                    *out, at(rd), limit);
    if ((size_t)(rd->end - rd->p) / min_bytes < *out)
        return FAIL(rd, PROTO_ERR_TRUNCATED,
                    "%u items cannot fit in the %zu bytes left", *out,
                    (size_t)(rd->end - rd->p));
    return 0;
}

static int get_vals(reader *rd, proto_event *ev, proto_vals *out)
{
    proto_val *v;
    uint32_t n = 0;
    int rc;

    if ((rc = get_count(rd, PROTO_MAX_VALS, 2, &n)) < 0)
        return rc;
    if ((rc = proto__event_reserve(ev, (size_t)n * sizeof *v)) < 0)
        return rc;
    v = ev->mem.buf;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t u = 0;
        int64_t s = 0;

        memset(&v[i], 0, sizeof v[i]);
        if ((rc = get_u8(rd, &v[i].type)) < 0)
            return rc;
        switch (v[i].type) {
        case VM_I32:
            if ((rc = get_s64(rd, &s)) < 0)
                return rc;
            if (s < INT32_MIN || s > INT32_MAX)
                return FAIL(rd, PROTO_ERR_MALFORMED,
                            "i32 value out of range before byte %zu", at(rd));
            v[i].of.i32 = (int32_t)s;
            break;
        case VM_I64:
            if ((rc = get_s64(rd, &v[i].of.i64)) < 0)
                return rc;
            break;
        case VM_F32: {
            uint8_t b[4];

            if ((rc = get_fixed(rd, b, 4)) < 0)
                return rc;
            v[i].of.f32_bits = proto__get_u32(b);
            break;
        }
        case VM_F64: {
            uint8_t b[8];

            if ((rc = get_fixed(rd, b, 8)) < 0)
                return rc;
            v[i].of.f64_bits = proto__get_u64(b);
            break;
        }
        case VM_V128:
            if ((rc = get_fixed(rd, v[i].of.v128, 16)) < 0)
                return rc;
            break;
        case VM_FUNCREF:
        case VM_EXTERNREF:
            if ((rc = get_uv(rd, 64, &u)) < 0)
                return rc;
            v[i].of.ref = u - 1;
            break;
        default:
            return FAIL(rd, PROTO_ERR_MALFORMED,
                        "unknown value type 0x%02x at byte %zu", v[i].type,
                        at(rd) - 1);
        }
    }
    out->items = v;
    out->count = n;
    return 0;
}

static int decode_run_start(reader *rd, proto_event *ev)
{
    proto_run_start *x = &ev->as.run_start;
    uint8_t b[8], level = 0;
    uint32_t argc = 0, nimports = 0, nfiles = 0;
    proto_str *argv, *files;
    proto_import *imports;
    int rc;

    if ((rc = get_fixed(rd, b, 8)) < 0)
        return rc;
    x->run_id = proto__get_u64(b);
    if ((rc = get_uv(rd, 64, &x->wall_ns)) < 0 ||
        (rc = get_u8(rd, &level)) < 0)
        return rc;
    if (level < PROTO_LEVEL_CALLS || level > PROTO_LEVEL_LINES)
        return FAIL(rd, PROTO_ERR_MALFORMED, "unknown level %u", level);
    x->level = (proto_level)level;
    if ((rc = get_fixed(rd, x->hash, 32)) < 0 ||
        (rc = get_str(rd, &x->module)) < 0 ||
        (rc = get_count(rd, PROTO_MAX_STRS, 1, &argc)) < 0 ||
        (rc = get_count(rd, PROTO_MAX_STRS, 2, &nimports)) < 0)
        return rc;
    if (x->level == PROTO_LEVEL_LINES &&
        (rc = get_count(rd, PROTO_MAX_STRS, 1, &nfiles)) < 0)
        return rc;
    if ((size_t)(rd->end - rd->p) <
        (size_t)argc + 2 * (size_t)nimports + nfiles)
        return FAIL(rd, PROTO_ERR_TRUNCATED,
                    "%u arguments, %u imports and %u files cannot fit", argc,
                    nimports, nfiles);
    rc = proto__event_reserve(ev, argc * sizeof *argv +
                                      nimports * sizeof *imports +
                                      nfiles * sizeof *files);
    if (rc < 0)
        return rc;
    argv = ev->mem.buf;
    imports = (proto_import *)(argv + argc);
    files = (proto_str *)(imports + nimports);
    for (uint32_t i = 0; i < argc; i++)
        if ((rc = get_str(rd, &argv[i])) < 0)
            return rc;
    for (uint32_t i = 0; i < nimports; i++)
        if ((rc = get_str(rd, &imports[i].module)) < 0 ||
            (rc = get_str(rd, &imports[i].name)) < 0)
            return rc;
    for (uint32_t i = 0; i < nfiles; i++)
        if ((rc = get_str(rd, &files[i])) < 0)
            return rc;
    x->nfiles = nfiles;
    x->files = nfiles ? files : NULL;
    x->argc = argc;
    x->argv = argv;
    x->nimports = nimports;
    x->imports = imports;
    return 0;
}

static int decode_body(reader *rd, const proto_delta *d, proto_event *ev)
{
    int rc = 0;

    switch (ev->type) {
    case PROTO_RUN_START:
        return decode_run_start(rd, ev);
    case PROTO_CALL:
        if ((rc = get_u32(rd, &ev->as.call.func)) < 0 ||
            (rc = get_u32(rd, &ev->as.call.depth)) < 0)
            return rc;
        return get_vals(rd, ev, &ev->as.call.args);
    case PROTO_RETURN:
        if ((rc = get_u32(rd, &ev->as.ret.func)) < 0 ||
            (rc = get_u32(rd, &ev->as.ret.depth)) < 0)
            return rc;
        return get_vals(rd, ev, &ev->as.ret.results);
    case PROTO_HOST_CALL:
    case PROTO_HOST_RETURN:
        if ((rc = get_u32(rd, &ev->as.host.func)) < 0 ||
            (rc = get_u32(rd, &ev->as.host.import)) < 0)
            return rc;
        return get_vals(rd, ev, &ev->as.host.vals);
    case PROTO_OP: {
        uint8_t byte = 0;
        uint32_t sub = 0;
        int64_t delta = 0;
        uint64_t off;

        if ((rc = get_u8(rd, &byte)) < 0)
            return rc;
        if (PROTO_OPCODE_IS_PREFIX(byte)) {
            if ((rc = get_u32(rd, &sub)) < 0)
                return rc;
            if (sub > 0xffffff)
                return FAIL(rd, PROTO_ERR_MALFORMED,
                            "sub-opcode %u out of range", sub);
            ev->as.op.opcode = PROTO_OPCODE(byte, sub);
        } else {
            ev->as.op.opcode = byte;
        }
        if ((rc = get_s64(rd, &delta)) < 0)
            return rc;
        off = d->prev_offset + (uint64_t)delta;
        if (off > UINT32_MAX)
            return FAIL(rd, PROTO_ERR_MALFORMED,
                        "code offset out of range before byte %zu", at(rd));
        ev->as.op.offset = (uint32_t)off;
        return 0;
    }
    case PROTO_THROW:
        if ((rc = get_u32(rd, &ev->as.throw_.tag)) < 0)
            return rc;
        return get_vals(rd, ev, &ev->as.throw_.payload);
    case PROTO_TRAP:
        if ((rc = get_s32(rd, &ev->as.trap.code)) < 0)
            return rc;
        return get_str(rd, &ev->as.trap.message);
    case PROTO_OUTPUT:
        if ((rc = get_u32(rd, &ev->as.output.fd)) < 0)
            return rc;
        return get_str(rd, &ev->as.output.data);
    case PROTO_STEP:
        if ((rc = get_u32(rd, &ev->as.step.file)) < 0 ||
            (rc = get_u32(rd, &ev->as.step.line)) < 0)
            return rc;
        return get_u32(rd, &ev->as.step.column);
    case PROTO_LOSS:
        if ((rc = get_uv(rd, 64, &ev->as.loss.count)) < 0)
            return rc;
        if (ev->as.loss.count == 0)
            return FAIL(rd, PROTO_ERR_MALFORMED, "loss of zero events");
        return 0;
    case PROTO_RUN_END: {
        proto_run_end *x = &ev->as.run_end;
        proto_counters *c = &x->counters;
        uint8_t status = 0;

        if ((rc = get_u8(rd, &status)) < 0)
            return rc;
        if (!proto_status_name((proto_status)status))
            return FAIL(rd, PROTO_ERR_MALFORMED, "unknown status %u", status);
        x->status = (proto_status)status;
        if ((rc = get_s32(rd, &x->exit_code)) < 0 ||
            (rc = get_vals(rd, ev, &x->results)) < 0 ||
            (rc = get_uv(rd, 64, &c->ops)) < 0 ||
            (rc = get_uv(rd, 64, &c->calls)) < 0 ||
            (rc = get_uv(rd, 64, &c->host_calls)) < 0 ||
            (rc = get_uv(rd, 64, &c->max_depth)) < 0 ||
            (rc = get_uv(rd, 64, &c->throws)) < 0 ||
            (rc = get_uv(rd, 64, &c->traps)) < 0)
            return rc;
        return 0;
    }
    }
    return FAIL(rd, PROTO_ERR_MALFORMED, "unknown event type %u", ev->type);
}

int proto_decode(proto_delta *d, const uint8_t *buf, size_t len,
                 proto_event *ev, size_t *used, char *err, size_t errlen)
{
    reader rd = {buf, buf, buf + len, err, errlen};
    proto_event_mem mem = ev->mem;
    uint8_t type = 0;
    int64_t dseq = 0, dt = 0;
    int rc;

    /* Fields are overwritten; storage is kept for reuse. */
    memset(ev, 0, sizeof *ev);
    ev->mem = mem;
    if ((rc = get_u8(&rd, &type)) < 0)
        return rc;
    if (!proto_event_type_name((proto_event_type)type))
        return FAIL(&rd, PROTO_ERR_MALFORMED, "unknown event type %u", type);
    ev->type = (proto_event_type)type;
    if ((rc = get_s64(&rd, &dseq)) < 0 || (rc = get_s64(&rd, &dt)) < 0)
        return rc;
    ev->seq = d->next_seq + (uint64_t)dseq;
    ev->t_ns = d->prev_t + (uint64_t)dt;
    if ((rc = decode_body(&rd, d, ev)) < 0)
        return rc;
    proto__delta_advance(d, ev);
    *used = at(&rd);
    return 0;
}

/* ---- Raw records: the header only --------------------------------------------- */

/* A varint of at most `bits` bits in p[0..end); NULL if it is truncated
 * or too long (the caller words the error). */
static const uint8_t *raw_uv_slow(const uint8_t *p, const uint8_t *end,
                                  unsigned bits, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; p < end && shift < bits; shift += 7) {
        uint8_t b = *p++;

        if (shift + 7 > bits && (b & 0x7f) >> (bits - shift))
            return NULL;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return p;
        }
    }
    return NULL;
}

/* Ring records' seq and t deltas are one byte in the steady state. */
static inline const uint8_t *raw_uv(const uint8_t *p, const uint8_t *end,
                                    unsigned bits, uint64_t *out)
{
    if (p < end && *p < 0x80) {
        *out = *p;
        return p + 1;
    }
    return raw_uv_slow(p, end, bits, out);
}

/* On the consumer's per-record path: a generic varint loop and an
 * out-of-line type-name check cost 107 instructions a record, the
 * one-byte fast path and a range check 82 (callgrind, fib(25) recorded). */
int proto_raw_parse(const proto_delta *before, const uint8_t *buf,
                    size_t len, proto_raw *out, char *err, size_t errlen)
{
    const uint8_t *p = buf + 1, *end = buf + len;
    uint64_t dseq = 0, dt = 0, v = 0;
    uint8_t type;

    if (len == 0)
        return proto__error(err, errlen, PROTO_ERR_TRUNCATED, "empty record");
    type = buf[0];
    if (type < PROTO_RUN_START || type > PROTO_RUN_END)
        return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                            "unknown event type %u", type);
    if (!(p = raw_uv(p, end, 64, &dseq)) || !(p = raw_uv(p, end, 64, &dt)))
        return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                            "bad seq or time delta in a %zu-byte record", len);
    out->bytes = buf;
    out->len = len;
    out->before = *before;
    out->type = (proto_event_type)type;
    out->seq = before->next_seq + (uint64_t)proto__unzigzag(dseq);
    out->t_ns = before->prev_t + (uint64_t)proto__unzigzag(dt);
    out->next_seq = out->seq + 1;
    out->body = (uint32_t)(p - buf);
    out->offset = 0;
    out->offset_at = 0;
    if (type == PROTO_OP) {
        uint64_t off;

        if (p < end && PROTO_OPCODE_IS_PREFIX(*p)) {
            if (!(p = raw_uv(p + 1, end, 32, &v)) || v > 0xffffff)
                return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                    "bad sub-opcode in an op record");
        } else if (p < end) {
            p++;
        }
        out->offset_at = (uint32_t)(p - buf);
        if (!(p = raw_uv(p, end, 64, &v)) || p != end)
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "bad offset in an op record");
        off = before->prev_offset + (uint64_t)proto__unzigzag(v);
        if (off > UINT32_MAX)
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "code offset out of range");
        out->offset = (uint32_t)off;
    } else if (type == PROTO_LOSS) {
        if (!(p = raw_uv(p, end, 64, &v)) || p != end || v == 0)
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "bad count in a loss record");
        out->next_seq = out->seq + v;
    }
    return 0;
}

int proto_raw_decode(const proto_raw *raw, proto_event *ev, char *err,
                     size_t errlen)
{
    proto_delta d = raw->before;
    size_t used = 0;
    int rc = proto_decode(&d, raw->bytes, raw->len, ev, &used, err, errlen);

    if (rc == 0 && used != raw->len)
        rc = proto__error(err, errlen, PROTO_ERR_MALFORMED,
                          "record of %zu bytes holds %zu", raw->len, used);
    return rc;
}

size_t proto__raw_rebase(const proto_delta *d, const proto_raw *raw,
                         uint8_t *p0)
{
    uint8_t *p = p0;
    size_t tail;

    *p++ = (uint8_t)raw->type;
    p = put_sv(p, (int64_t)(raw->seq - d->next_seq));
    p = put_sv(p, (int64_t)(raw->t_ns - d->prev_t));
    if (raw->type == PROTO_OP) {
        tail = raw->offset_at - raw->body;
        memcpy(p, raw->bytes + raw->body, tail);
        p = put_sv(p + tail,
                   (int64_t)((uint64_t)raw->offset - d->prev_offset));
    } else {
        tail = raw->len - raw->body;
        memcpy(p, raw->bytes + raw->body, tail);
        p += tail;
    }
    return (size_t)(p - p0);
}

/* ---- Frames: call/return records straight from VM slots ------------------------- */

/*
 * The slot encoding is vm.h's (vm_trace_vals): 8-byte slots, i32 and f32
 * in the low 32 bits, v128 in two slots in memory order, references as
 * their pointer bits with 0 for null. Each value is written exactly as
 * put_vals writes proto_val_from_vm of it, so a frame record and the
 * record of the equivalent event are the same bytes.
 */
int proto__encode_frame(const proto_delta *d, const proto__frame *f,
                        uint8_t *p0, size_t *len)
{
    const vm_trace_vals *v = f->vals;
    const uint64_t *slot = v->slots;
    uint8_t *p = p0;

    *p++ = (uint8_t)f->type;
    p = put_sv(p, (int64_t)(f->seq - d->next_seq));
    p = put_sv(p, (int64_t)(f->t_ns - d->prev_t));
    p = put_uv(p, f->func);
    p = put_uv(p, f->second);
    p = put_uv(p, v->count);
    for (uint32_t i = 0; i < v->count; i++) {
        uint8_t type = v->types[i];

        *p++ = type;
        switch (type) {
        case VM_I32: p = put_sv(p, (int32_t)(uint32_t)*slot++); break;
        case VM_I64: p = put_sv(p, (int64_t)*slot++); break;
        case VM_F32: proto__put_u32(p, (uint32_t)*slot++); p += 4; break;
        case VM_F64: proto__put_u64(p, *slot++); p += 8; break;
        case VM_V128: memcpy(p, slot, 16); p += 16; slot += 2; break;
        case VM_FUNCREF:
        case VM_EXTERNREF:
            p = put_uv(p, *slot ? *slot + 1 : 0);
            slot++;
            break;
        default:
            return PROTO_ERR_ARG;
        }
    }
    *len = (size_t)(p - p0);
    return 0;
}
