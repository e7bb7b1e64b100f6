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
#include <assert.h>
#include <stdlib.h>

#include "proto_int.h"
#include "traced/wire.h"

/* The VM's trace sink writes records with wire.h too: its value codes
 * must be the VM's (and so the protocol's) type codes. */
static_assert((int)WIRE_I32 == (int)VM_I32 && (int)WIRE_I64 == (int)VM_I64 &&
                  (int)WIRE_F32 == (int)VM_F32 &&
                  (int)WIRE_F64 == (int)VM_F64 &&
                  (int)WIRE_V128 == (int)VM_V128 &&
                  (int)WIRE_FUNCREF == (int)VM_FUNCREF &&
                  (int)WIRE_EXTERNREF == (int)VM_EXTERNREF,
              "wire.h value codes differ from vm.h's");

/* ---- Encoder ----------------------------------------------------------- */

static inline uint8_t *put_str(uint8_t *p, proto_str s)
{
    p = wire_put_uv(p, s.len);
    if (s.len)
        memcpy(p, s.ptr, s.len);
    return p + s.len;
}

/* vals of proto_val items (wire_put_slot_vals is the same for VM slots).
 * NULL if a value has an unknown type. */
static uint8_t *put_vals(uint8_t *p, proto_vals v)
{
    p = wire_put_uv(p, v.count);
    for (uint32_t i = 0; i < v.count; i++) {
        const proto_val *x = &v.items[i];

        *p++ = x->type;
        switch (x->type) {
        case WIRE_I32: p = wire_put_sv(p, x->of.i32); break;
        case WIRE_I64: p = wire_put_sv(p, x->of.i64); break;
        case WIRE_F32: wire_put_u32(p, x->of.f32_bits); p += 4; break;
        case WIRE_F64: wire_put_u64(p, x->of.f64_bits); p += 8; break;
        case WIRE_V128: memcpy(p, x->of.v128, 16); p += 16; break;
        case WIRE_FUNCREF:
        case WIRE_EXTERNREF:
            /* id + 1, so that null (all ones) is the one-byte 0. */
            p = wire_put_uv(p, x->of.ref + 1);
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
    p = wire_put_sv(p, (int64_t)(ev->seq - d->next_seq));
    p = wire_put_sv(p, (int64_t)(ev->t_ns - d->prev_t));
    switch (ev->type) {
    case PROTO_RUN_START: {
        const proto_run_start *x = &ev->as.run_start;

        if (x->level < PROTO_LEVEL_CALLS || x->level > PROTO_LEVEL_LINES)
            return PROTO_ERR_ARG;
        proto__put_u64(p, x->run_id);
        p = wire_put_uv(p + 8, x->wall_ns);
        *p++ = (uint8_t)x->level;
        memcpy(p, x->hash, 32);
        p = put_str(p + 32, x->module);
        p = wire_put_uv(p, x->argc);
        p = wire_put_uv(p, x->nimports);
        if (x->level == PROTO_LEVEL_LINES)
            p = wire_put_uv(p, x->nfiles);
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
        p = wire_put_uv(p, ev->as.call.func);
        p = wire_put_uv(p, ev->as.call.depth);
        p = put_vals(p, ev->as.call.args);
        break;
    case PROTO_RETURN:
        p = wire_put_uv(p, ev->as.ret.func);
        p = wire_put_uv(p, ev->as.ret.depth);
        p = put_vals(p, ev->as.ret.results);
        break;
    case PROTO_HOST_CALL:
    case PROTO_HOST_RETURN:
        p = wire_put_uv(p, ev->as.host.func);
        p = wire_put_uv(p, ev->as.host.import);
        p = put_vals(p, ev->as.host.vals);
        break;
    case PROTO_OP: {
        uint32_t op = ev->as.op.opcode, prefix = PROTO_OPCODE_PREFIX(op);

        if (prefix) {
            if (!PROTO_OPCODE_IS_PREFIX(prefix))
                return PROTO_ERR_ARG;
            *p++ = (uint8_t)prefix;
            p = wire_put_uv(p, PROTO_OPCODE_SUB(op));
        } else {
            if (op > 0xff || PROTO_OPCODE_IS_PREFIX(op))
                return PROTO_ERR_ARG;
            *p++ = (uint8_t)op;
        }
        p = wire_put_sv(p, (int64_t)((uint64_t)ev->as.op.offset - d->prev_offset));
        break;
    }
    case PROTO_THROW:
        p = wire_put_uv(p, ev->as.throw_.tag);
        p = put_vals(p, ev->as.throw_.payload);
        break;
    case PROTO_TRAP:
        p = wire_put_sv(p, ev->as.trap.code);
        p = put_str(p, ev->as.trap.message);
        break;
    case PROTO_OUTPUT:
        p = wire_put_uv(p, ev->as.output.fd);
        p = put_str(p, ev->as.output.data);
        break;
    case PROTO_STEP:
        p = wire_put_uv(p, ev->as.step.file);
        p = wire_put_uv(p, ev->as.step.line);
        p = wire_put_uv(p, ev->as.step.column);
        break;
    case PROTO_LOSS:
        if (ev->as.loss.count == 0)
            return PROTO_ERR_ARG;
        p = wire_put_uv(p, ev->as.loss.count);
        break;
    case PROTO_RUN_END: {
        const proto_run_end *x = &ev->as.run_end;

        if (!proto_status_name(x->status))
            return PROTO_ERR_ARG;
        *p++ = (uint8_t)x->status;
        p = wire_put_sv(p, x->exit_code);
        p = put_vals(p, x->results);
        if (!p)
            break;
        p = wire_put_uv(p, x->counters.ops);
        p = wire_put_uv(p, x->counters.calls);
        p = wire_put_uv(p, x->counters.host_calls);
        p = wire_put_uv(p, x->counters.max_depth);
        p = wire_put_uv(p, x->counters.throws);
        p = wire_put_uv(p, x->counters.traps);
        break;
    }
    case PROTO_OPS:
        /* Coded like op's offset: runs start near where the last one
         * did (a loop's head, a callee's entry). */
        if (!proto__span_ok(ev->seq, ev->as.ops.count))
            return PROTO_ERR_ARG;
        p = wire_put_sv(p, (int64_t)((uint64_t)ev->as.ops.offset -
                                     d->prev_offset));
        p = wire_put_uv(p, ev->as.ops.count);
        break;
    case PROTO_STEPS:
        if (!proto__span_ok(ev->seq, ev->as.steps.count))
            return PROTO_ERR_ARG;
        p = wire_put_uv(p, ev->as.steps.point);
        p = wire_put_uv(p, ev->as.steps.count);
        break;
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

/* Forced inline: the seq and t deltas of every record go through it.
 * Once the batch decoder added call sites GCC stopped inlining it on its
 * own; ring_bench op/decode (callgrind) took 295 instructions a record
 * through proto_ring_next with the calls, 279 without. */
static inline __attribute__((always_inline)) int get_s64(reader *rd,
                                                         int64_t *out)
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

/* The count of an ops or steps record: >= 1, and the run's seqs must not
 * run past 2^64 - 1. */
static int get_run_count(reader *rd, const proto_event *ev, uint64_t *out)
{
    int rc = get_uv(rd, 64, out);

    if (rc < 0)
        return rc;
    if (!proto__span_ok(ev->seq, *out))
        return FAIL(rd, PROTO_ERR_MALFORMED,
                    "%s record at seq %llu has count %llu%s",
                    proto_event_type_name(ev->type),
                    (unsigned long long)ev->seq, (unsigned long long)*out,
                    *out ? " (its seqs overflow)" : "");
    return 0;
}

/* An op's or an op run's code offset: svarint delta from prev_offset,
 * the result within u32. */
static int get_offset(reader *rd, const proto_delta *d, uint32_t *out)
{
    int64_t delta = 0;
    uint64_t off;
    int rc;

    if ((rc = get_s64(rd, &delta)) < 0)
        return rc;
    off = d->prev_offset + (uint64_t)delta;
    if (off > UINT32_MAX)
        return FAIL(rd, PROTO_ERR_MALFORMED,
                    "code offset out of range before byte %zu", at(rd));
    *out = (uint32_t)off;
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
        return get_offset(rd, d, &ev->as.op.offset);
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
    case PROTO_OPS:
        if ((rc = get_offset(rd, d, &ev->as.ops.offset)) < 0)
            return rc;
        return get_run_count(rd, ev, &ev->as.ops.count);
    case PROTO_STEPS:
        if ((rc = get_u32(rd, &ev->as.steps.point)) < 0)
            return rc;
        return get_run_count(rd, ev, &ev->as.steps.count);
    }
    return FAIL(rd, PROTO_ERR_MALFORMED, "unknown event type %u", ev->type);
}

/* decode_record's answer for a batch header outside a batch. */
#define DECODE_BATCH 1

/*
 * The header fields and body of one ordinary record at rd, coded against
 * d, into ev; d is not changed. An inner record of a batch (inner) must
 * have an allowed type and a seq delta of 0. Outside a batch, a batch
 * header returns DECODE_BATCH (nothing decoded) for the caller to take
 * over.
 */
static int decode_record(reader *rd, const proto_delta *d, proto_event *ev,
                         bool inner)
{
    uint8_t type = 0;
    int64_t dseq = 0, dt = 0;
    int rc;

    if ((rc = get_u8(rd, &type)) < 0)
        return rc;
    /* A range check, not proto_event_type_name: it is on every record's
     * path, and the call cost 9 instructions a record. */
    if (type < PROTO_RUN_START || type > PROTO_STEPS || type == PROTO_BATCH) {
        if (type != PROTO_BATCH)
            return FAIL(rd, PROTO_ERR_MALFORMED, "unknown event type %u",
                        type);
        if (inner)
            return FAIL(rd, PROTO_ERR_MALFORMED, "batch inside a batch");
        return DECODE_BATCH;
    }
    if (inner && (type == PROTO_RUN_START || type == PROTO_RUN_END ||
                  type == PROTO_LOSS))
        return FAIL(rd, PROTO_ERR_MALFORMED, "%s record inside a batch",
                    proto_event_type_name((proto_event_type)type));
    ev->type = (proto_event_type)type;
    if ((rc = get_s64(rd, &dseq)) < 0 || (rc = get_s64(rd, &dt)) < 0)
        return rc;
    if (inner && dseq != 0)
        return FAIL(rd, PROTO_ERR_MALFORMED,
                    "seq delta %lld inside a batch (must be 0)",
                    (long long)dseq);
    ev->seq = d->next_seq + (uint64_t)dseq;
    ev->t_ns = d->prev_t + (uint64_t)dt;
    return decode_body(rd, d, ev);
}

/*
 * The next inner record of the batch d is inside, from buf[0..len), which
 * starts where the previous one ended. Only the rest of the body is read:
 * a record that runs past it is malformed (the header promised the body
 * ends there), unless the caller's input ends first (truncated). The
 * header counts events, so an ops or steps record takes its count of
 * them, and may not take more than are left. After the last event the
 * body must be used up, its t must be t_last, and d becomes the state
 * after the batch.
 */
static int decode_inner(proto_delta *d, const uint8_t *buf, size_t len,
                        proto_event *ev, size_t *used, char *err,
                        size_t errlen)
{
    bool whole = len >= d->batch_bytes;
    size_t avail = whole ? (size_t)d->batch_bytes : len;
    reader rd = {buf, buf, buf + avail, err, errlen};
    proto_delta next = *d;
    int rc = decode_record(&rd, d, ev, true);
    uint64_t span;

    if (rc == PROTO_ERR_TRUNCATED && whole)
        return FAIL(&rd, PROTO_ERR_MALFORMED,
                    "record runs past the end of its batch (%zu bytes left)",
                    avail);
    if (rc < 0)
        return rc;
    span = proto__event_span(ev);
    if (span > next.batch_left)
        return FAIL(&rd, PROTO_ERR_MALFORMED,
                    "%s record of %llu events at seq %llu overruns its "
                    "batch (%u events left)", proto_event_type_name(ev->type),
                    (unsigned long long)span, (unsigned long long)ev->seq,
                    next.batch_left);
    proto__delta_advance(&next, ev);
    next.batch_left -= (uint32_t)span;
    next.batch_bytes -= at(&rd);
    if (next.batch_left == 0) {
        if (next.batch_bytes != 0)
            return FAIL(&rd, PROTO_ERR_MALFORMED,
                        "batch body has %llu bytes after its last record",
                        (unsigned long long)next.batch_bytes);
        if (ev->t_ns != next.batch_t_last)
            return FAIL(&rd, PROTO_ERR_MALFORMED,
                        "last record of a batch has t %llu, the header "
                        "says %llu", (unsigned long long)ev->t_ns,
                        (unsigned long long)next.batch_t_last);
        next.prev_offset = next.batch_offset;
        next.batch_t_last = next.batch_offset = 0;
    } else if (next.batch_bytes == 0) {
        return FAIL(&rd, PROTO_ERR_MALFORMED,
                    "batch body ends with %u of its events missing",
                    next.batch_left);
    }
    *d = next;
    *used = at(&rd);
    return 0;
}

/* A batch header at buf[0] (the type byte), then its first inner record. */
static int decode_batch(proto_delta *d, const uint8_t *buf, size_t len,
                        proto_event *ev, size_t *used, char *err,
                        size_t errlen)
{
    reader rd = {buf, buf + 1, buf + len, err, errlen};
    int64_t dseq = 0, dt = 0;
    uint64_t dt_last = 0, body = 0, t_first;
    uint32_t count = 0;
    proto_delta inner;
    size_t head, n = 0;
    int rc;

    if ((rc = get_s64(&rd, &dseq)) < 0 || (rc = get_s64(&rd, &dt)) < 0 ||
        (rc = get_u32(&rd, &count)) < 0 ||
        (rc = get_uv(&rd, 64, &dt_last)) < 0 ||
        (rc = get_uv(&rd, 64, &body)) < 0)
        return rc;
    if (count == 0 || body == 0)
        return FAIL(&rd, PROTO_ERR_MALFORMED,
                    "empty batch (%u events, %llu bytes)", count,
                    (unsigned long long)body);
    if (!proto__span_ok(d->next_seq + (uint64_t)dseq, count))
        return FAIL(&rd, PROTO_ERR_MALFORMED,
                    "batch of %u events overflows seq", count);
    if (body > (uint64_t)(rd.end - rd.p))
        return FAIL(&rd, PROTO_ERR_TRUNCATED,
                    "batch body of %llu bytes at byte %zu truncated",
                    (unsigned long long)body, at(&rd));
    /* The count is of events, not records (an ops record in the body
     * stands for many): the body cannot bound it. The inner records are
     * checked against it as they come (decode_inner). */
    t_first = d->prev_t + (uint64_t)dt;
    if (t_first + dt_last < t_first)
        return FAIL(&rd, PROTO_ERR_MALFORMED, "batch t_last out of range");
    head = at(&rd);
    inner = (proto_delta){
        .next_seq = d->next_seq + (uint64_t)dseq,
        .prev_t = t_first,
        .prev_offset = 0,
        .batch_left = count,
        .batch_bytes = body,
        .batch_t_last = t_first + dt_last,
        .batch_offset = d->prev_offset,
    };
    if ((rc = decode_inner(&inner, buf + head, (size_t)body, ev, &n, err,
                           errlen)) < 0)
        return rc;
    *d = inner;
    *used = head + n;
    return 0;
}

int proto_decode(proto_delta *d, const uint8_t *buf, size_t len,
                 proto_event *ev, size_t *used, char *err, size_t errlen)
{
    reader rd = {buf, buf, buf + len, err, errlen};
    proto_event_mem mem = ev->mem;
    int rc;

    /* Fields are overwritten; storage is kept for reuse. */
    memset(ev, 0, sizeof *ev);
    ev->mem = mem;
    if (d->batch_left)
        return decode_inner(d, buf, len, ev, used, err, errlen);
    if ((rc = decode_record(&rd, d, ev, false)) != 0)
        return rc == DECODE_BATCH
                   ? decode_batch(d, buf, len, ev, used, err, errlen)
                   : rc;
    proto__delta_advance(d, ev);
    *used = at(&rd);
    return 0;
}

/* ---- Raw records: the header only --------------------------------------------- */

/* A varint of at most `bits` bits in p[0..end): proto_int.h,
 * proto__raw_uv. */
const uint8_t *proto__raw_uv_slow(const uint8_t *p, const uint8_t *end,
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

/*
 * The fields every raw record has: type, seq and t deltas. p is set past
 * them. 0 or MALFORMED.
 */
static inline __attribute__((always_inline)) int
raw_head(const proto_delta *before, const uint8_t *buf, size_t len,
         uint8_t type, proto_raw *out, const uint8_t **p, char *err,
         size_t errlen)
{
    const uint8_t *end = buf + len;
    uint64_t dseq = 0, dt = 0;

    if (!(*p = proto__raw_uv(buf + 1, end, 64, &dseq)) ||
        !(*p = proto__raw_uv(*p, end, 64, &dt)))
        return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                            "bad seq or time delta in a %zu-byte record", len);
    out->bytes = buf;
    out->len = len;
    out->before = *before;
    out->type = (proto_event_type)type;
    out->seq = before->next_seq + (uint64_t)proto__unzigzag(dseq);
    out->t_ns = before->prev_t + (uint64_t)proto__unzigzag(dt);
    out->t_first = out->t_ns;
    out->count = 1;
    out->next_seq = out->seq + 1;
    out->body = (uint32_t)(*p - buf);
    out->offset = 0;
    out->offset_at = 0;
    return 0;
}

/*
 * A batch record: its header (count, t_last, body length) gives count,
 * t_last (as t_ns) and next_seq. The record must end exactly with the
 * body; the inner records are not looked at. Off the hot path: ordinary
 * records never come here.
 */
static int raw_parse_batch(const proto_delta *before, const uint8_t *buf,
                           size_t len, proto_raw *out, char *err,
                           size_t errlen)
{
    const uint8_t *p, *end = buf + len;
    uint64_t count = 0, dt_last = 0, body = 0;
    int rc = raw_head(before, buf, len, PROTO_BATCH, out, &p, err, errlen);

    if (rc < 0)
        return rc;
    if (!(p = proto__raw_uv(p, end, 32, &count)) ||
        !(p = proto__raw_uv(p, end, 64, &dt_last)) ||
        !(p = proto__raw_uv(p, end, 64, &body)) || body == 0 ||
        !proto__span_ok(out->seq, count))
        return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                            "bad batch header in a %zu-byte record", len);
    if (body > (uint64_t)(end - p))
        return proto__error(err, errlen, PROTO_ERR_TRUNCATED,
                            "batch body of %llu bytes in a %zu-byte record",
                            (unsigned long long)body, len);
    if (body != (uint64_t)(end - p) || out->t_first + dt_last < out->t_first)
        return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                            "batch of %llu events in %llu bytes does not "
                            "fill its %zu-byte record",
                            (unsigned long long)count,
                            (unsigned long long)body, len);
    out->count = count;
    out->t_ns = out->t_first + dt_last;
    out->next_seq = out->seq + count;
    return 0;
}

/*
 * An ops or steps record: the fields after the deltas carry delta state
 * (ops: the offset, as op's) and the count of events (next_seq). Both end
 * the record.
 */
static int raw_parse_run(const proto_delta *before, const uint8_t *p,
                         const uint8_t *end, proto_raw *out, char *err,
                         size_t errlen)
{
    const char *name = out->type == PROTO_OPS ? "ops" : "steps";
    uint64_t v = 0, count = 0;

    if (out->type == PROTO_OPS) {
        uint64_t off;

        out->offset_at = (uint32_t)(p - out->bytes);
        if (!(p = proto__raw_uv(p, end, 64, &v)))
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "bad offset in an ops record");
        off = before->prev_offset + (uint64_t)proto__unzigzag(v);
        if (off > UINT32_MAX)
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "code offset out of range");
        out->offset = (uint32_t)off;
    } else if (!(p = proto__raw_uv(p, end, 32, &v))) {
        return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                            "bad point in a steps record");
    }
    if (!(p = proto__raw_uv(p, end, 64, &count)) || p != end ||
        !proto__span_ok(out->seq, count))
        return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                            "bad count in a %s record at seq %llu", name,
                            (unsigned long long)out->seq);
    out->count = count;
    out->next_seq = out->seq + count;
    return 0;
}

/* On the consumer's per-record path: a generic varint loop and an
 * out-of-line type-name check cost 107 instructions a record, the
 * one-byte fast path and a range check 82 (callgrind, fib(25) recorded). */
int proto_raw_parse(const proto_delta *before, const uint8_t *buf,
                    size_t len, proto_raw *out, char *err, size_t errlen)
{
    const uint8_t *p, *end = buf + len;
    uint64_t v = 0;
    uint8_t type;
    int rc;

    if (before->batch_left)
        return proto__error(err, errlen, PROTO_ERR_ARG,
                            "raw record parsed from inside a batch");
    if (len == 0)
        return proto__error(err, errlen, PROTO_ERR_TRUNCATED, "empty record");
    type = buf[0];
    if (type < PROTO_RUN_START || type > PROTO_RUN_END) {
        if (type == PROTO_BATCH)
            return raw_parse_batch(before, buf, len, out, err, errlen);
        if (type != PROTO_OPS && type != PROTO_STEPS)
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "unknown event type %u", type);
        if ((rc = raw_head(before, buf, len, type, out, &p, err, errlen)) < 0)
            return rc;
        return raw_parse_run(before, p, end, out, err, errlen);
    }
    if ((rc = raw_head(before, buf, len, type, out, &p, err, errlen)) < 0)
        return rc;
    if (type == PROTO_OP) {
        uint64_t off;

        if (p < end && PROTO_OPCODE_IS_PREFIX(*p)) {
            if (!(p = proto__raw_uv(p + 1, end, 32, &v)) || v > 0xffffff)
                return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                    "bad sub-opcode in an op record");
        } else if (p < end) {
            p++;
        }
        out->offset_at = (uint32_t)(p - buf);
        if (!(p = proto__raw_uv(p, end, 64, &v)) || p != end)
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "bad offset in an op record");
        off = before->prev_offset + (uint64_t)proto__unzigzag(v);
        if (off > UINT32_MAX)
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "code offset out of range");
        out->offset = (uint32_t)off;
    } else if (type == PROTO_LOSS) {
        if (!(p = proto__raw_uv(p, end, 64, &v)) || p != end || v == 0)
            return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                                "bad count in a loss record");
        out->count = v;
        out->next_seq = out->seq + v;
    }
    return 0;
}

int proto_raw_decode(const proto_raw *raw, proto_event *ev, char *err,
                     size_t errlen)
{
    proto_delta d = raw->before;
    size_t used = 0;
    int rc;

    if (raw->type == PROTO_BATCH)
        return proto__error(err, errlen, PROTO_ERR_ARG,
                            "a batch of %llu events: read it with "
                            "proto_raw_events",
                            (unsigned long long)raw->count);
    rc = proto_decode(&d, raw->bytes, raw->len, ev, &used, err, errlen);

    if (rc == 0 && used != raw->len)
        rc = proto__error(err, errlen, PROTO_ERR_MALFORMED,
                          "record of %zu bytes holds %zu", raw->len, used);
    return rc;
}

void proto_raw_events_init(proto_raw_events *it, const proto_raw *raw)
{
    it->bytes = raw->bytes;
    it->len = raw->len;
    it->pos = 0;
    it->left = raw->next_seq - raw->seq;
    it->delta = raw->before;
    it->code = NULL;
    memset(&it->run, 0, sizeof it->run);
}

void proto_raw_events_set_code(proto_raw_events *it, const proto_code *c)
{
    it->code = c;
}

/* proto_decode expands the batch: one call per record, the first also
 * consuming the header; with a code map, an ops or steps record's events
 * come one per call from the run cursor. left counts seq numbers, so an
 * ops record takes its count of them at once. */
int proto_raw_events_next(proto_raw_events *it, proto_event *ev, char *err,
                          size_t errlen)
{
    size_t used = 0;
    uint64_t span;
    int rc;

    if (it->run.type)
        return proto__run_next(it->code, &it->run, ev, err, errlen);
    if (it->left == 0)
        return PROTO_ERR_END;
    rc = proto_decode(&it->delta, it->bytes + it->pos, it->len - it->pos, ev,
                      &used, err, errlen);
    if (rc < 0)
        return rc;
    span = proto__event_span(ev);
    if (span > it->left)
        return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                            "%s event of %llu events at seq %llu overruns "
                            "its record", proto_event_type_name(ev->type),
                            (unsigned long long)span,
                            (unsigned long long)ev->seq);
    if (it->left == span && (it->pos + used != it->len ||
                             proto_delta_in_batch(&it->delta)))
        return proto__error(err, errlen, PROTO_ERR_MALFORMED,
                            "record of %zu bytes holds %zu after its last "
                            "event", it->len, it->pos + used);
    it->pos += used;
    it->left -= span;
    if (it->code && (ev->type == PROTO_OPS || ev->type == PROTO_STEPS)) {
        if ((rc = proto__run_open(it->code, ev, 0, &it->run, err, errlen)) < 0)
            return rc;
        return proto__run_next(it->code, &it->run, ev, err, errlen);
    }
    return 0;
}

/* The seq and t deltas are re-coded (for a batch its t_first: t_last
 * is coded relative to it), and an op's or ops record's offset delta;
 * everything else is copied. */
size_t proto__raw_rebase(const proto_delta *d, const proto_raw *raw,
                         uint8_t *p0)
{
    uint64_t t = raw->type == PROTO_BATCH ? raw->t_first
                                                            : raw->t_ns;
    uint8_t *p = p0;
    size_t tail, at;

    *p++ = (uint8_t)raw->type;
    p = wire_put_sv(p, (int64_t)(raw->seq - d->next_seq));
    p = wire_put_sv(p, (int64_t)(t - d->prev_t));
    if (raw->type == PROTO_OP || raw->type == PROTO_OPS) {
        tail = raw->offset_at - raw->body;
        memcpy(p, raw->bytes + raw->body, tail);
        p = wire_put_sv(p + tail,
                   (int64_t)((uint64_t)raw->offset - d->prev_offset));
        /* What follows the old offset delta (an ops record's count). */
        at = raw->offset_at;
        while (at < raw->len && (raw->bytes[at] & 0x80))
            at++;
        at++;
        tail = at < raw->len ? raw->len - at : 0;
        memcpy(p, raw->bytes + at, tail);
        p += tail;
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
 * their pointer bits with 0 for null. wire_put_slot_vals writes each
 * value exactly as put_vals writes proto_val_from_vm of it, so a frame
 * record and the record of the equivalent event are the same bytes.
 */
int proto__encode_frame(const proto_delta *d, const proto__frame *f,
                        uint8_t *p0, size_t *len)
{
    const vm_trace_vals *v = f->vals;
    uint8_t *p = p0;

    *p++ = (uint8_t)f->type;
    p = wire_put_sv(p, (int64_t)(f->seq - d->next_seq));
    p = wire_put_sv(p, (int64_t)(f->t_ns - d->prev_t));
    p = wire_put_uv(p, f->func);
    p = wire_put_uv(p, f->second);
    p = wire_put_slot_vals(p, v->count, v->types, v->slots);
    if (!p)
        return PROTO_ERR_ARG;
    *len = (size_t)(p - p0);
    return 0;
}
