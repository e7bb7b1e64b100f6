/* Sink records (traced/proto_sink.h, protocol/sink.c; vm.h "Trace
 * sinks"): a VM trace sink's entries transcoded into a batch body, byte
 * for byte and value by value; calls and returns the frames do not fit
 * recorded without values; malformed entries refused with a message;
 * and sink records through the ring (proto_ring_push_sink), lossless and
 * lossy, read back with proto_ring_next and proto_ring_next_raw. */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"
#include "suites.h"
#include "traced/proto_ring.h"
#include "ring_harness.h"
#include "traced/proto_sink.h"
#include "traced/wire.h"

/*
 * (module
 *   (func $f0)                                              ;; func 0
 *   (func $f1 (param i32 i32) (result i32)                  ;; func 1
 *     local.get 0 local.get 1 i32.add))
 */
static const uint8_t wasm_small[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60,
    0x00, 0x00, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x03, 0x02, 0x00,
    0x01, 0x0a, 0x0c, 0x02, 0x02, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x20,
    0x01, 0x6a, 0x0b,
};

/*
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
 * (tests/stress/ring_harness.c holds the bytes: its sink mode uses the
 * same functions). $h's arguments mix types (the general path), $all has
 * every value type (a v128 takes two slots), $five has more i32
 * parameters than the short way takes (FAST_SLOTS in sink.c) and four
 * i32 results (which it does).
 */
static const uint8_t *const wasm_types = ring_harness_sink_wasm;

static proto_frames *frames_of(const uint8_t *bytes, size_t len,
                               uint32_t want_funcs)
{
    vm_module *m = NULL;
    proto_frames *f = NULL;
    char err[256] = "";

    ck_assert_msg(vm_module_new(bytes, len, NULL, &m, err, sizeof err) == 0,
                  "load: %s", err);
    ck_assert_uint_eq(vm_module_func_count(m), want_funcs);
    ck_assert_int_eq(proto_frames_new(m, &f), 0);
    ck_assert_ptr_nonnull(f);
    /* The frames copy what they need: the module may go first. */
    vm_module_free(m);
    return f;
}

static proto_frames *small_frames(void)
{
    return frames_of(wasm_small, sizeof wasm_small, 2);
}

static proto_frames *types_frames(void)
{
    return frames_of(wasm_types, ring_harness_sink_wasm_len, 4);
}

static uint64_t next_rand(uint64_t *rng)
{
    *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
    return *rng;
}

/* ---- Writing entries (vm.h, "Trace sinks") ------------------------------- */

static void put_word(uint8_t *buf, size_t *len, uint64_t w)
{
    memcpy(buf + *len, &w, 8);
    *len += 8;
}

static uint64_t frame_word(unsigned kind, uint32_t nslots, uint32_t func,
                           uint32_t depth)
{
    return kind | (uint64_t)nslots << 4 | (uint64_t)func << 16 |
           (uint64_t)depth << 36;
}

/* A call, return or valueless return with nslots slots. */
static void put_frame(uint8_t *buf, size_t *len, unsigned kind, uint32_t func,
                      uint32_t depth, uint32_t nslots, const uint64_t *slots)
{
    put_word(buf, len, frame_word(kind, nslots, func, depth));
    for (uint32_t i = 0; i < nslots; i++)
        put_word(buf, len, slots[i]);
}

/* An op run (start = offset) or a step run (start = point). */
static void put_run(uint8_t *buf, size_t *len, unsigned kind, uint32_t start,
                    uint64_t count)
{
    put_word(buf, len, kind | (uint64_t)start << 32);
    put_word(buf, len, count);
}

static void put_time(uint8_t *buf, size_t *len, uint64_t dt)
{
    put_word(buf, len, VM_SINK_TIME);
    put_word(buf, len, dt);
}

/* An i32 in its slot with other bits above it: the VM's slot encoding
 * keeps an i32 in the low 32 bits, and the rest must not matter. */
static uint64_t i32_slot(int32_t v, uint32_t junk)
{
    return (uint64_t)junk << 32 | (uint32_t)v;
}

/* ---- Transcoding, with the output on the heap at exactly the bound ------ */

typedef struct transcoded {
    uint8_t *out; /* PROTO_SINK_BODY_BOUND(len) bytes, so ASan sees any
                     store beyond what the contract grants */
    size_t len;
    uint64_t events, dt;
    char err[256];
    int rc;
} transcoded;

static void transcode(const proto_frames *f, const uint8_t *raw, size_t len,
                      transcoded *t)
{
    size_t cap = PROTO_SINK_BODY_BOUND(len);
    /* The entries on the heap too, exactly: an entry read past its end is
     * an ASan error, not a quiet read of the next test byte. */
    uint8_t *in = malloc(len ? len : 1);

    memcpy(in, raw, len);
    t->out = malloc(cap);
    ck_assert_ptr_nonnull(t->out);
    t->err[0] = '\0';
    t->len = 0;
    t->events = t->dt = 0;
    t->rc = proto_sink_transcode(f, in, len, t->out, cap, &t->len,
                                 &t->events, &t->dt, t->err, sizeof t->err);
    free(in);
}

static void transcode_ok(const proto_frames *f, const uint8_t *raw,
                         size_t len, transcoded *t)
{
    transcode(f, raw, len, t);
    ck_assert_msg(t->rc == 0, "transcode: %s: %s", proto_err_name(t->rc),
                  t->err);
    ck_assert_uint_le(t->len, PROTO_SINK_BODY_BOUND(len));
}

/* raw transcodes to exactly want[0..wlen), holding events events over
 * dt ns. */
static void expect_body(const proto_frames *f, const uint8_t *raw,
                        size_t len, const uint8_t *want, size_t wlen,
                        uint64_t events, uint64_t dt)
{
    transcoded t;

    transcode_ok(f, raw, len, &t);
    ck_assert_uint_eq(t.events, events);
    ck_assert_uint_eq(t.dt, dt);
    ck_assert_uint_eq(t.len, wlen);
    for (size_t i = 0; i < t.len; i++)
        ck_assert_msg(t.out[i] == want[i],
                      "byte %zu: got 0x%02x, want 0x%02x", i, t.out[i],
                      want[i]);
    free(t.out);
}

/* The body as a batch record against a zeroed delta state: seq 0 at
 * t_first. */
static size_t wrap_batch(uint8_t *rec, uint64_t t_first, uint64_t count,
                         uint64_t dt, const uint8_t *body, size_t blen)
{
    uint8_t *p = rec;

    *p++ = PROTO_BATCH;
    p = wire_put_sv(p, 0);
    p = wire_put_sv(p, (int64_t)t_first);
    p = wire_put_uv(p, count);
    p = wire_put_uv(p, dt);
    p = wire_put_uv(p, blen);
    memcpy(p, body, blen);
    return (size_t)(p - rec) + blen;
}

/* Decode the batch rec[0..len) whole into evs (initialised, nev of
 * them); returns the events. */
static size_t decode_batch(const uint8_t *rec, size_t len, proto_event *evs,
                           size_t nev)
{
    proto_delta d = {0};
    size_t off = 0, used, k = 0;
    char err[256];

    while (off < len) {
        ck_assert_uint_lt(k, nev);
        ck_assert_msg(proto_decode(&d, rec + off, len - off, &evs[k], &used,
                                   err, sizeof err) == 0,
                      "decode event %zu: %s", k, err);
        off += used;
        k++;
    }
    ck_assert(!proto_delta_in_batch(&d));
    return k;
}

/* ---- 1. The documented example ------------------------------------------- */

/*
 * Entries: call f1 depth 1 (i32 -3, i32 300), time +5, return f1 depth 1
 * (i32 7), valueless return f0 depth 2, ops at 0x40 count 3, ops at 0x30
 * count 2, steps from point 4 count 2. With the frames of wasm_small
 * (f1: (i32, i32) -> i32) the body is:
 */
static const uint8_t doc_body[] = {
    /* call:   type, zz(0) seq, zz(0) t, func 1, depth 1, 2 values,
     *         i32 zz(-3) = 5, i32 zz(300) = 600 = 0xd8 0x04 */
    0x02, 0x00, 0x00, 0x01, 0x01, 0x02, 0x7f, 0x05, 0x7f, 0xd8, 0x04,
    /* return: type, zz(0), zz(5) = 10 (the time entry), func 1, depth 1,
     *         1 value, i32 zz(7) = 14 */
    0x03, 0x00, 0x0a, 0x01, 0x01, 0x01, 0x7f, 0x0e,
    /* return: type, zz(0), zz(0), func 0, depth 2, no values */
    0x03, 0x00, 0x00, 0x00, 0x02, 0x00,
    /* ops:    type, zz(0), zz(0), zz(0x40 - 0) = 128 = 0x80 0x01, count 3 */
    0x0e, 0x00, 0x00, 0x80, 0x01, 0x03,
    /* ops:    type, zz(0), zz(0), zz(0x30 - 0x40 = -16) = 31, count 2 */
    0x0e, 0x00, 0x00, 0x1f, 0x02,
    /* steps:  type, zz(0), zz(0), point 4, count 2 */
    0x0f, 0x00, 0x00, 0x04, 0x02,
};

static size_t doc_entries(uint8_t *buf)
{
    /* The i32s with other bits above them (see i32_slot). */
    const uint64_t args[2] = {i32_slot(-3, 0xffffffffu),
                              i32_slot(300, 0xdeadbeefu)};
    const uint64_t res[1] = {i32_slot(7, 0x12345678u)};
    size_t len = 0;

    put_frame(buf, &len, VM_SINK_CALL, 1, 1, 2, args);
    put_time(buf, &len, 5);
    put_frame(buf, &len, VM_SINK_RETURN, 1, 1, 1, res);
    put_frame(buf, &len, VM_SINK_RETURN_NONE, 0, 2, 0, NULL);
    put_run(buf, &len, VM_SINK_OPS, 0x40, 3);
    put_run(buf, &len, VM_SINK_OPS, 0x30, 2);
    put_run(buf, &len, VM_SINK_STEPS, 4, 2);
    return len;
}

START_TEST(test_documented_entries)
{
    proto_frames *f = small_frames();
    uint8_t entries[256], rec[256];
    proto_event evs[8];
    transcoded t;
    size_t len = doc_entries(entries), rlen, n;
    static const proto_val args[2] = {{.type = VM_I32, .of.i32 = -3},
                                      {.type = VM_I32, .of.i32 = 300}};
    static const proto_val res[1] = {{.type = VM_I32, .of.i32 = 7}};
    proto_event want[6] = {
        {.type = PROTO_CALL, .seq = 0, .t_ns = 100,
         .as.call = {1, 1, {args, 2}}},
        {.type = PROTO_RETURN, .seq = 1, .t_ns = 105,
         .as.ret = {1, 1, {res, 1}}},
        {.type = PROTO_RETURN, .seq = 2, .t_ns = 105,
         .as.ret = {0, 2, {NULL, 0}}},
        {.type = PROTO_OPS, .seq = 3, .t_ns = 105, .as.ops = {0x40, 3}},
        {.type = PROTO_OPS, .seq = 6, .t_ns = 105, .as.ops = {0x30, 2}},
        {.type = PROTO_STEPS, .seq = 8, .t_ns = 105, .as.steps = {4, 2}},
    };

    ck_assert_uint_eq(len, 24 + 16 + 16 + 8 + 16 + 16 + 16);
    transcode_ok(f, entries, len, &t);
    ck_assert_uint_eq(t.len, sizeof doc_body);
    ck_assert_msg(memcmp(t.out, doc_body, sizeof doc_body) == 0,
                  "body differs from the documented bytes");
    ck_assert_uint_eq(t.events, 1 + 1 + 1 + 3 + 2 + 2);
    ck_assert_uint_eq(t.dt, 5);

    /* It is a batch body: as a batch at t 100, every decoder reads the
     * six records as the events above, and the state after it is the
     * batch's. */
    rlen = wrap_batch(rec, 100, t.events, t.dt, t.out, t.len);
    for (int i = 0; i < 8; i++)
        proto_event_init(&evs[i]);
    n = decode_batch(rec, rlen, evs, 8);
    ck_assert_uint_eq(n, 6);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(proto_event_equal(&evs[i], &want[i]),
                      "event %zu differs", i);
    for (int i = 0; i < 8; i++)
        proto_event_close(&evs[i]);

    /* The empty buffer is the empty body. */
    free(t.out);
    transcode_ok(f, entries, 0, &t);
    ck_assert_uint_eq(t.len, 0);
    ck_assert_uint_eq(t.events, 0);
    ck_assert_uint_eq(t.dt, 0);
    free(t.out);
    proto_frames_free(f);
}
END_TEST

/* Through a fresh ring: the record the consumer sees is the batch of
 * docs/protocol.md, "Batches", with the documented body. */
START_TEST(test_documented_entries_ring)
{
    proto_ring_opts ro = {.capacity = 4096};
    uint8_t entries[256];
    size_t len = doc_entries(entries), n;
    const uint8_t *rec;
    proto_ring *r;
    uint64_t first = 99;
    /* batch, zz(seq 0 - 0), zz(100) = 0xc8 0x01, count 10, t_last -
     * t_first 5, body 41 bytes */
    static const uint8_t head[] = {0x0d, 0x00, 0xc8, 0x01, 0x0a, 0x05, 0x29};

    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    proto_ring_set_frames(r, small_frames());
    ck_assert_int_eq(proto_ring_push_sink(r, 100, 105, entries, len, 10,
                                          &first), 0);
    ck_assert_uint_eq(first, 0);
    ck_assert_int_eq(proto_ring_peek(r, &rec, &n), 0);
    ck_assert_uint_eq(n, sizeof head + sizeof doc_body);
    ck_assert(memcmp(rec, head, sizeof head) == 0);
    ck_assert(memcmp(rec + sizeof head, doc_body, sizeof doc_body) == 0);
    /* Peeked again, the same bytes. */
    ck_assert_int_eq(proto_ring_peek(r, &rec, &n), 0);
    ck_assert_uint_eq(n, sizeof head + sizeof doc_body);
    ck_assert(memcmp(rec + sizeof head, doc_body, sizeof doc_body) == 0);
    proto_ring_consume(r);
    ck_assert_int_eq(proto_ring_peek(r, &rec, &n), PROTO_ERR_AGAIN);
    proto_ring_free(r);
}
END_TEST

/* ---- 2. Values ----------------------------------------------------------- */

/* Every value type through the general path (wire_put_slot_vals), with
 * the frames of wasm_types, decoded back. */
START_TEST(test_every_value_type)
{
    proto_frames *f = types_frames();
    uint8_t entries[512], rec[1024];
    proto_event evs[8];
    transcoded t;
    size_t len = 0, rlen, n;
    static const uint8_t v1[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                   12, 13, 14, 15};
    static const uint8_t v2[16] = {0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa,
                                   0x99, 0x88, 0x77, 0x66, 0x55, 0x44,
                                   0x33, 0x22, 0x11, 0x80};
    uint64_t all_args[7], all_res[5], v[2];
    const uint64_t h_args[2] = {i32_slot(INT32_MIN, 0x1u),
                                (uint64_t)0xabcd << 32 | 0x3f800000u};
    const uint64_t five_args[5] = {i32_slot(-1, 0), i32_slot(0, 0),
                                   i32_slot(1, 0xffffffffu),
                                   i32_slot(63, 0), i32_slot(-65, 7)};
    const uint64_t five_res[4] = {i32_slot(INT32_MAX, 0),
                                  i32_slot(INT32_MIN, 0), i32_slot(64, 9),
                                  i32_slot(-64, 0)};
    proto_val all_in[6], all_out[4], h_in[2], five_in[5], five_out[4];
    proto_event want[6];

    /* $all's arguments: i64, f32 (other bits above it), f64 (a
     * signalling NaN), v128 (two slots, memory order), funcref (pointer
     * bits), externref (null). */
    all_args[0] = (uint64_t)INT64_MIN + 5;
    all_args[1] = (uint64_t)0xdead << 32 | 0x7fc00001u;
    all_args[2] = 0xfff0000000000001ull;
    memcpy(v, v1, 16);
    all_args[3] = v[0];
    all_args[4] = v[1];
    all_args[5] = 0x123456789aull;
    all_args[6] = 0;
    /* Its results: funcref null, externref, v128, i32 -1. */
    all_res[0] = 0;
    all_res[1] = 0x00007f0012345678ull;
    memcpy(v, v2, 16);
    all_res[2] = v[0];
    all_res[3] = v[1];
    all_res[4] = i32_slot(-1, 0x5555u);

    put_frame(entries, &len, VM_SINK_CALL, 1, 3, 7, all_args);
    put_time(entries, &len, 1000);
    put_frame(entries, &len, VM_SINK_CALL, 0, 4, 2, h_args);
    put_frame(entries, &len, VM_SINK_RETURN, 0, 4, 0, NULL);
    put_frame(entries, &len, VM_SINK_CALL, 2, 4, 5, five_args);
    put_time(entries, &len, (uint64_t)1 << 40);
    put_frame(entries, &len, VM_SINK_RETURN, 2, 4, 4, five_res);
    put_frame(entries, &len, VM_SINK_RETURN, 1, 3, 5, all_res);

    all_in[0] = (proto_val){.type = VM_I64, .of.i64 = INT64_MIN + 5};
    all_in[1] = (proto_val){.type = VM_F32, .of.f32_bits = 0x7fc00001u};
    all_in[2] = (proto_val){.type = VM_F64,
                            .of.f64_bits = 0xfff0000000000001ull};
    all_in[3] = (proto_val){.type = VM_V128};
    memcpy(all_in[3].of.v128, v1, 16);
    all_in[4] = (proto_val){.type = VM_FUNCREF, .of.ref = 0x123456789aull};
    all_in[5] = (proto_val){.type = VM_EXTERNREF, .of.ref = PROTO_REF_NULL};
    all_out[0] = (proto_val){.type = VM_FUNCREF, .of.ref = PROTO_REF_NULL};
    all_out[1] = (proto_val){.type = VM_EXTERNREF,
                             .of.ref = 0x00007f0012345678ull};
    all_out[2] = (proto_val){.type = VM_V128};
    memcpy(all_out[2].of.v128, v2, 16);
    all_out[3] = (proto_val){.type = VM_I32, .of.i32 = -1};
    h_in[0] = (proto_val){.type = VM_I32, .of.i32 = INT32_MIN};
    h_in[1] = (proto_val){.type = VM_F32, .of.f32_bits = 0x3f800000u};
    for (int i = 0; i < 5; i++)
        five_in[i] = (proto_val){.type = VM_I32,
                                 .of.i32 = (int32_t)(uint32_t)five_args[i]};
    for (int i = 0; i < 4; i++)
        five_out[i] = (proto_val){.type = VM_I32,
                                  .of.i32 = (int32_t)(uint32_t)five_res[i]};

    memset(want, 0, sizeof want);
    want[0] = (proto_event){.type = PROTO_CALL, .seq = 0, .t_ns = 50,
                            .as.call = {1, 3, {all_in, 6}}};
    want[1] = (proto_event){.type = PROTO_CALL, .seq = 1, .t_ns = 1050,
                            .as.call = {0, 4, {h_in, 2}}};
    want[2] = (proto_event){.type = PROTO_RETURN, .seq = 2, .t_ns = 1050,
                            .as.ret = {0, 4, {NULL, 0}}};
    want[3] = (proto_event){.type = PROTO_CALL, .seq = 3, .t_ns = 1050,
                            .as.call = {2, 4, {five_in, 5}}};
    want[4] = (proto_event){.type = PROTO_RETURN, .seq = 4,
                            .t_ns = 1050 + ((uint64_t)1 << 40),
                            .as.ret = {2, 4, {five_out, 4}}};
    want[5] = (proto_event){.type = PROTO_RETURN, .seq = 5,
                            .t_ns = 1050 + ((uint64_t)1 << 40),
                            .as.ret = {1, 3, {all_out, 4}}};

    transcode_ok(f, entries, len, &t);
    ck_assert_uint_eq(t.events, 6);
    ck_assert_uint_eq(t.dt, 1000 + ((uint64_t)1 << 40));
    rlen = wrap_batch(rec, 50, t.events, t.dt, t.out, t.len);
    for (int i = 0; i < 8; i++)
        proto_event_init(&evs[i]);
    n = decode_batch(rec, rlen, evs, 8);
    ck_assert_uint_eq(n, 6);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(proto_event_equal(&evs[i], &want[i]),
                      "event %zu differs", i);
    for (int i = 0; i < 8; i++)
        proto_event_close(&evs[i]);
    free(t.out);
    proto_frames_free(f);
}
END_TEST

static uint32_t zz32(int32_t v)
{
    return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}

static int32_t unzz32(uint32_t u)
{
    return (int32_t)((u >> 1) ^ (0u - (u & 1)));
}

/* A call or return record as the reference encoder (wire_put_uv at every
 * field) writes it, values i32 or none (nvals 0 and no values). */
static uint8_t *ref_frame(uint8_t *q, uint8_t type, uint64_t pending,
                          uint32_t func, uint32_t depth, uint32_t nvals,
                          const int32_t *vals)
{
    *q++ = type;
    *q++ = 0;
    q = wire_put_uv(q, wire_zigzag((int64_t)pending));
    q = wire_put_uv(q, func);
    q = wire_put_uv(q, depth);
    q = wire_put_uv(q, nvals);
    for (uint32_t i = 0; i < nvals; i++) {
        *q++ = WIRE_I32;
        q = wire_put_uv(q, zz32(vals[i]));
    }
    return q;
}

/*
 * The short way (all-i32 frames: put_uv32, a varint without a loop)
 * against the reference encoder, at every length boundary: the listed
 * i32s, every zigzag value 2^k - 1, 2^k and 2^k + 1, func indices and
 * depths 2^k - 1 and 2^k up to their widths, and time deltas.
 */
START_TEST(test_i32_every_length)
{
    static const int32_t listed[] = {0,    63,      -64,       64,
                                     -65,  8191,    8192,      1 << 20,
                                     INT32_MAX, INT32_MIN};
    proto_frames *f = small_frames();
    enum { NV = 10 + 3 * 33 };
    int32_t vals[NV];
    size_t nv = 0, len = 0, cap = 64 * 1024;
    uint8_t *entries = malloc(cap), *want = malloc(3 * cap + 64), *q = want;
    uint64_t events = 0, dt = 0;

    for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++)
        vals[nv++] = listed[i];
    for (unsigned k = 0; k <= 32; k++) {
        uint64_t p = (uint64_t)1 << k;

        vals[nv++] = unzz32((uint32_t)(p - 1));
        if (p <= UINT32_MAX)
            vals[nv++] = unzz32((uint32_t)p);
        if (p + 1 <= UINT32_MAX)
            vals[nv++] = unzz32((uint32_t)(p + 1));
    }
    ck_assert_uint_le(nv, NV);
    /* Each value as the first and as the second argument of f1 (its
     * neighbour the next value), and as f1's result; the slots carry
     * other bits above the i32 every other time. */
    for (size_t i = 0; i < nv; i++) {
        int32_t a[2] = {vals[i], vals[(i + 1) % nv]};
        uint64_t s[2] = {i32_slot(a[0], i % 2 ? 0xffffffffu : 0),
                         i32_slot(a[1], (uint32_t)i)};
        uint64_t rs[1] = {i32_slot(a[0], (uint32_t)~i)};

        put_frame(entries, &len, VM_SINK_CALL, 1, 1 + (uint32_t)i, 2, s);
        q = ref_frame(q, PROTO_CALL, 0, 1, 1 + (uint32_t)i, 2, a);
        put_frame(entries, &len, VM_SINK_RETURN, 1, 1 + (uint32_t)i, 1, rs);
        q = ref_frame(q, PROTO_RETURN, 0, 1, 1 + (uint32_t)i, 1, a);
        events += 2;
    }
    /* func (20 bits) and depth (28 bits) at every length: a function the
     * frames do not know (no values) but through the same put_uv32. */
    for (unsigned k = 0; k <= 28; k++) {
        uint32_t d[2] = {(1u << k) - 1, k < 28 ? 1u << k : VM_SINK_MAX_DEPTH};
        uint32_t fn[2] = {k <= 20 ? (1u << k) - 1 : 0xfffffu,
                          k < 20 ? 1u << k : 0xfffffu};

        for (int j = 0; j < 2; j++) {
            /* f1 itself (func 1) keeps its values. */
            uint32_t nvals = fn[j] == 1 ? 2 : 0;
            int32_t a[2] = {-1, 1};
            uint64_t s[2] = {i32_slot(-1, 0), i32_slot(1, 0)};

            put_frame(entries, &len, VM_SINK_CALL, fn[j], d[j], 2, s);
            q = ref_frame(q, PROTO_CALL, 0, fn[j], d[j], nvals, a);
            events++;
        }
    }
    /* Time deltas of every length before a call (the first of them put
     * with wire_put_uv in sink.c, but the boundary is the same). */
    for (unsigned k = 0; k < 63; k += 3) {
        uint64_t delta = ((uint64_t)1 << k) + (k % 2);
        int32_t a[2] = {(int32_t)k, -(int32_t)k};
        uint64_t s[2] = {i32_slot(a[0], 0), i32_slot(a[1], 0)};

        put_time(entries, &len, delta);
        put_frame(entries, &len, VM_SINK_CALL, 1, 7, 2, s);
        q = ref_frame(q, PROTO_CALL, delta, 1, 7, 2, a);
        dt += delta;
        events++;
    }
    ck_assert_uint_le(len, cap);
    expect_body(f, entries, len, want, (size_t)(q - want), events, dt);
    free(entries);
    free(want);
    proto_frames_free(f);
}
END_TEST

/*
 * A module of NFUNCS functions whose types cycle through SHORT_TYPES:
 * () -> (), (i32) -> (i32), (i32 x4) -> (i32 x4), (i32 x5) -> (),
 * (i64) -> (i32) and (f32) -> (f32); every body `unreachable`. Functions
 * 0..127 of the all-i32 types of at most four values take transcode's
 * short way, the others (index 128 and up, five values, an i64, an f32)
 * the long way. One i32 or f32 may come as a one-word entry.
 */
enum { NFUNCS = 131, SHORT_TYPES = 6 };

static size_t many_funcs_wasm(uint8_t *w)
{
    static const uint8_t head[] = {
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
        /* type section: 6 types */
        0x01, 0x26, 0x06,
        0x60, 0x00, 0x00,
        0x60, 0x01, 0x7f, 0x01, 0x7f,
        0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x04, 0x7f, 0x7f, 0x7f, 0x7f,
        0x60, 0x05, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x00,
        0x60, 0x01, 0x7e, 0x01, 0x7f,
        0x60, 0x01, 0x7d, 0x01, 0x7d,
    };
    size_t n = sizeof head;

    memcpy(w, head, n);
    /* function section: NFUNCS type indices after their count (two
     * LEB128 bytes: NFUNCS >= 128) */
    w[n++] = 0x03;
    n = (size_t)(wire_put_uv(w + n, 2 + NFUNCS) - w);
    n = (size_t)(wire_put_uv(w + n, NFUNCS) - w);
    for (uint32_t i = 0; i < NFUNCS; i++)
        w[n++] = (uint8_t)(i % SHORT_TYPES);
    /* code section: NFUNCS bodies of 4 bytes (size, 0 locals,
     * unreachable, end) after their count */
    w[n++] = 0x0a;
    n = (size_t)(wire_put_uv(w + n, 2 + 4 * NFUNCS) - w);
    n = (size_t)(wire_put_uv(w + n, NFUNCS) - w);
    for (uint32_t i = 0; i < NFUNCS; i++) {
        w[n++] = 0x03;
        w[n++] = 0x00;
        w[n++] = 0x00;
        w[n++] = 0x0b;
    }
    return n;
}

/*
 * The short way (fast_entries in sink.c) writes what the long way writes
 * (wire_put_slot_vals after the header, here the reference): every
 * function of many_funcs_wasm, calls and returns, at depths 1, 127
 * (short), 128 and 65535 (long), with random values, in a random order,
 * and time entries now and then (an entry after one takes the long way).
 * A call or return of one i32 or f32 comes as a one-word entry half the
 * time (vm.h, VM_SINK_CALL1): the same records.
 */
START_TEST(test_short_way_as_long_way)
{
    static const uint8_t types[SHORT_TYPES][2][5] = {
        {{0}, {0}},
        {{WIRE_I32}, {WIRE_I32}},
        {{WIRE_I32, WIRE_I32, WIRE_I32, WIRE_I32},
         {WIRE_I32, WIRE_I32, WIRE_I32, WIRE_I32}},
        {{WIRE_I32, WIRE_I32, WIRE_I32, WIRE_I32, WIRE_I32}, {0}},
        {{WIRE_I64}, {WIRE_I32}},
        {{WIRE_F32}, {WIRE_F32}},
    };
    static const uint32_t counts[SHORT_TYPES][2] = {
        {0, 0}, {1, 1}, {4, 4}, {5, 0}, {1, 1}, {1, 1}};
    static const uint32_t depths[] = {1, 127, 128, 65535};
    uint64_t words = 0;
    uint8_t wasm[1024];
    size_t wlen = many_funcs_wasm(wasm), len = 0, cap = 1u << 20;
    proto_frames *f = frames_of(wasm, wlen, NFUNCS);
    uint8_t *entries = malloc(cap), *want = malloc(3 * cap + 64), *q = want;
    uint64_t rng = 0x5eed, events = 0, dt = 0, pending = 0;

    for (unsigned round = 0; round < 40; round++) {
        for (uint32_t fn = 0; fn < NFUNCS; fn++) {
            uint32_t func = (uint32_t)(next_rand(&rng) % NFUNCS);
            unsigned ret = (unsigned)(next_rand(&rng) & 1);
            uint32_t ty = func % SHORT_TYPES, nv = counts[ty][ret];
            uint32_t depth = depths[next_rand(&rng) % 4];
            uint64_t slots[5];

            (void)fn;
            if (next_rand(&rng) % 16 == 0) {
                uint64_t d = 1 + next_rand(&rng) % 100000;

                put_time(entries, &len, d);
                pending += d;
                dt += d;
            }
            for (uint32_t i = 0; i < nv; i++)
                slots[i] = next_rand(&rng);
            if (nv == 1 &&
                (types[ty][ret][0] == WIRE_I32 ||
                 types[ty][ret][0] == WIRE_F32) &&
                next_rand(&rng) % 2) {
                put_word(entries, &len,
                         (ret ? VM_SINK_RETURN1 : VM_SINK_CALL1) |
                             (uint64_t)func << 4 | (uint64_t)depth << 16 |
                             slots[0] << 32);
                words++;
            } else {
                put_frame(entries, &len,
                          ret ? VM_SINK_RETURN : VM_SINK_CALL, func, depth,
                          nv, slots);
            }
            *q++ = ret ? PROTO_RETURN : PROTO_CALL;
            *q++ = 0;
            q = wire_put_uv(q, wire_zigzag((int64_t)pending));
            q = wire_put_uv(q, func);
            q = wire_put_uv(q, depth);
            q = wire_put_slot_vals(q, nv, types[ty][ret], slots);
            pending = 0;
            events++;
        }
    }
    ck_assert_uint_le(len, cap);
    ck_assert_uint_gt(words, 1000);
    expect_body(f, entries, len, want, (size_t)(q - want), events, dt);
    free(entries);
    free(want);
    proto_frames_free(f);
}
END_TEST

/* ---- 3. No values when the frames do not fit ------------------------------ */

START_TEST(test_no_values_without_fit)
{
    proto_frames *small = small_frames(), *types = types_frames();
    const uint64_t s[8] = {i32_slot(-3, 0), i32_slot(300, 0),
                           i32_slot(5, 0),  i32_slot(6, 0),
                           i32_slot(7, 0),  i32_slot(8, 0),
                           i32_slot(9, 0),  i32_slot(10, 0)};
    uint8_t entries[512];
    transcoded t;
    size_t len = 0;

    /* No frames: call f1 and return f1 with their slots, no values. */
    put_frame(entries, &len, VM_SINK_CALL, 1, 1, 2, s);
    put_frame(entries, &len, VM_SINK_RETURN, 1, 1, 1, s);
    transcode_ok(NULL, entries, len, &t);
    {
        static const uint8_t want[] = {
            0x02, 0x00, 0x00, 0x01, 0x01, 0x00, /* call f1 depth 1, none */
            0x03, 0x00, 0x00, 0x01, 0x01, 0x00, /* return f1 depth 1, none */
        };

        ck_assert_uint_eq(t.len, sizeof want);
        ck_assert(memcmp(t.out, want, sizeof want) == 0);
        ck_assert_uint_eq(t.events, 2);
    }
    free(t.out);

    /* A function the frames do not have (wasm_small has 2), its slots
     * skipped whole: the f1 call after it keeps its values. */
    len = 0;
    put_frame(entries, &len, VM_SINK_CALL, 2, 3, 2, s);
    put_frame(entries, &len, VM_SINK_RETURN, 0xfffff, 3, 1, s);
    put_frame(entries, &len, VM_SINK_CALL, 1, 4, 2, s);
    transcode_ok(small, entries, len, &t);
    {
        static const uint8_t want[] = {
            0x02, 0x00, 0x00, 0x02, 0x03, 0x00,             /* call f2 */
            0x03, 0x00, 0x00, 0xff, 0xff, 0x3f, 0x03, 0x00, /* return */
            0x02, 0x00, 0x00, 0x01, 0x04, 0x02, 0x7f, 0x05, 0x7f, 0xd8,
            0x04, /* call f1 (-3, 300) */
        };

        ck_assert_uint_eq(t.len, sizeof want);
        ck_assert(memcmp(t.out, want, sizeof want) == 0);
        ck_assert_uint_eq(t.events, 3);
    }
    free(t.out);

    /* Slots that do not match the type: f1 called with 1 and 3 slots,
     * returning 0 and 2; f0 called with 1; then a call that fits. */
    len = 0;
    put_frame(entries, &len, VM_SINK_CALL, 1, 1, 1, s);
    put_frame(entries, &len, VM_SINK_CALL, 1, 1, 3, s);
    put_frame(entries, &len, VM_SINK_RETURN, 1, 1, 0, s);
    put_frame(entries, &len, VM_SINK_RETURN, 1, 1, 2, s);
    put_frame(entries, &len, VM_SINK_CALL, 0, 2, 1, s);
    put_frame(entries, &len, VM_SINK_CALL, 1, 5, 2, s);
    transcode_ok(small, entries, len, &t);
    {
        static const uint8_t want[] = {
            0x02, 0x00, 0x00, 0x01, 0x01, 0x00, /* call f1, 1 slot */
            0x02, 0x00, 0x00, 0x01, 0x01, 0x00, /* call f1, 3 slots */
            0x03, 0x00, 0x00, 0x01, 0x01, 0x00, /* return f1, 0 slots */
            0x03, 0x00, 0x00, 0x01, 0x01, 0x00, /* return f1, 2 slots */
            0x02, 0x00, 0x00, 0x00, 0x02, 0x00, /* call f0, 1 slot */
            0x02, 0x00, 0x00, 0x01, 0x05, 0x02, 0x7f, 0x05, 0x7f, 0xd8,
            0x04, /* call f1 (-3, 300) */
        };

        ck_assert_uint_eq(t.len, sizeof want);
        ck_assert(memcmp(t.out, want, sizeof want) == 0);
        ck_assert_uint_eq(t.events, 6);
    }
    free(t.out);

    /* One-word entries (a single i32 or f32) of functions whose values are
     * not that: f1's two parameters, f0's none; f1's return of an i32
     * (fits); a function the frames do not have; no frames at all. */
    len = 0;
    put_word(entries, &len,
             VM_SINK_CALL1 | 1u << 4 | 1u << 16 | (uint64_t)7 << 32);
    put_word(entries, &len,
             VM_SINK_CALL1 | 0u << 4 | 2u << 16 | (uint64_t)7 << 32);
    put_word(entries, &len,
             VM_SINK_RETURN1 | 1u << 4 | 1u << 16 |
                 (uint64_t)0xfffffffdu << 32);
    put_word(entries, &len,
             VM_SINK_RETURN1 | 0xfffu << 4 | 0xffffu << 16 |
                 (uint64_t)7 << 32);
    transcode_ok(small, entries, len, &t);
    {
        static const uint8_t want[] = {
            0x02, 0x00, 0x00, 0x01, 0x01, 0x00,       /* call f1: none */
            0x02, 0x00, 0x00, 0x00, 0x02, 0x00,       /* call f0: none */
            0x03, 0x00, 0x00, 0x01, 0x01, 0x01, 0x7f, /* return f1 = -3 */
            0x05,
            0x03, 0x00, 0x00, 0xff, 0x1f, 0xff, 0xff, 0x03,
            0x00, /* return f4095 at depth 65535: none */
        };

        ck_assert_uint_eq(t.len, sizeof want);
        ck_assert(memcmp(t.out, want, sizeof want) == 0);
        ck_assert_uint_eq(t.events, 4);
    }
    free(t.out);
    transcode_ok(NULL, entries, 8, &t);
    {
        static const uint8_t want[] = {0x02, 0x00, 0x00, 0x01, 0x01, 0x00};

        ck_assert_uint_eq(t.len, sizeof want);
        ck_assert(memcmp(t.out, want, sizeof want) == 0);
    }
    free(t.out);

    /* The general path's types: $all's 6 parameters take 7 slots (a
     * v128 two), so 6 slots do not fit, nor 8; its results take 5; $h's
     * two mixed ones take 2 (1 does not fit); $five's 5 (4 does not). */
    len = 0;
    put_frame(entries, &len, VM_SINK_CALL, 1, 1, 6, s);
    put_frame(entries, &len, VM_SINK_CALL, 1, 1, 8, s);
    put_frame(entries, &len, VM_SINK_RETURN, 1, 1, 4, s);
    put_frame(entries, &len, VM_SINK_CALL, 0, 2, 1, s);
    put_frame(entries, &len, VM_SINK_CALL, 2, 2, 4, s);
    put_frame(entries, &len, VM_SINK_RETURN, 2, 2, 5, s);
    transcode_ok(types, entries, len, &t);
    {
        static const uint8_t want[] = {
            0x02, 0x00, 0x00, 0x01, 0x01, 0x00, /* call $all, 6 slots */
            0x02, 0x00, 0x00, 0x01, 0x01, 0x00, /* call $all, 8 slots */
            0x03, 0x00, 0x00, 0x01, 0x01, 0x00, /* return $all, 4 */
            0x02, 0x00, 0x00, 0x00, 0x02, 0x00, /* call $h, 1 */
            0x02, 0x00, 0x00, 0x02, 0x02, 0x00, /* call $five, 4 */
            0x03, 0x00, 0x00, 0x02, 0x02, 0x00, /* return $five, 5 */
        };

        ck_assert_uint_eq(t.len, sizeof want);
        ck_assert(memcmp(t.out, want, sizeof want) == 0);
        ck_assert_uint_eq(t.events, 6);
    }
    free(t.out);
    proto_frames_free(small);
    proto_frames_free(types);
}
END_TEST

/* ---- 4. Malformed entries ------------------------------------------------- */

/* raw[0..len) is refused with code and a message (containing `has`, if
 * not NULL). */
static void expect_refused(const proto_frames *f, const uint8_t *raw,
                           size_t len, int code, const char *has)
{
    transcoded t;

    transcode(f, raw, len, &t);
    ck_assert_msg(t.rc == code, "len %zu: got %s (%s), want %s", len,
                  proto_err_name(t.rc), t.err, proto_err_name(code));
    ck_assert_msg(t.err[0] != '\0', "len %zu: no message", len);
    if (has)
        ck_assert_msg(strstr(t.err, has), "message \"%s\" lacks \"%s\"",
                      t.err, has);
    free(t.out);
}

START_TEST(test_malformed_entries)
{
    proto_frames *f = small_frames();
    const uint64_t s[2] = {i32_slot(-3, 0), i32_slot(300, 0)};
    uint8_t call[24], buf[128];
    size_t len = 0, clen = 0;

    /* Every cut of a call with two slots: fewer than 8 bytes, or slots
     * missing. With and without frames (the check is not the values'). */
    put_frame(call, &clen, VM_SINK_CALL, 1, 1, 2, s);
    for (size_t k = 1; k < clen; k++) {
        expect_refused(f, call, k, PROTO_ERR_MALFORMED, "cut short");
        expect_refused(NULL, call, k, PROTO_ERR_MALFORMED, "cut short");
    }
    /* After a good entry: the message names where it starts. */
    memcpy(buf, call, clen);
    memcpy(buf + clen, call, clen);
    for (size_t k = 1; k < clen; k++)
        expect_refused(f, buf, clen + k, PROTO_ERR_MALFORMED, "byte 24");

    /* Two-word entries cut after their first word, and shorter. */
    for (unsigned kind = VM_SINK_OPS; kind <= VM_SINK_TIME; kind++) {
        len = 0;
        put_run(buf, &len, kind, 5, 1);
        for (size_t k = 1; k < len; k++)
            expect_refused(f, buf, k, PROTO_ERR_MALFORMED, "cut short");
    }
    /* A valueless return is one word: cut. */
    len = 0;
    put_frame(buf, &len, VM_SINK_RETURN_NONE, 1, 1, 0, NULL);
    for (size_t k = 1; k < len; k++)
        expect_refused(f, buf, k, PROTO_ERR_MALFORMED, "cut short");

    /* Unknown kinds, as a whole two-word entry (and after a good one). */
    for (unsigned kind = 0; kind < 16; kind++) {
        if (kind >= VM_SINK_CALL && kind <= VM_SINK_RETURN1)
            continue;
        len = 0;
        put_run(buf, &len, kind, 1, 1);
        expect_refused(f, buf, len, PROTO_ERR_MALFORMED, "unknown kind");
        memcpy(buf, call, clen);
        len = clen;
        put_run(buf, &len, kind, 1, 1);
        put_run(buf, &len, VM_SINK_OPS, 1, 1);
        expect_refused(f, buf, len, PROTO_ERR_MALFORMED, "unknown kind");
        /* Only one word of it: refused too (cut or unknown). */
        len = 0;
        put_word(buf, &len, frame_word(kind, 0, 1, 1));
        expect_refused(f, buf, len, PROTO_ERR_MALFORMED, NULL);
    }

    /* A valueless return with slots. */
    for (uint32_t n = 1; n <= 2; n++) {
        len = 0;
        put_frame(buf, &len, VM_SINK_RETURN_NONE, 1, 1, n, s);
        expect_refused(f, buf, len, PROTO_ERR_MALFORMED, "valueless");
        expect_refused(NULL, buf, len, PROTO_ERR_MALFORMED, "valueless");
    }
    /* A run of 0 events (and one beyond 32 bits). */
    for (unsigned kind = VM_SINK_OPS; kind <= VM_SINK_STEPS; kind++) {
        len = 0;
        put_run(buf, &len, kind, 7, 0);
        expect_refused(f, buf, len, PROTO_ERR_MALFORMED, "run of 0");
        len = 0;
        put_run(buf, &len, kind, 7, 3);
        put_run(buf, &len, kind, 7, 0);
        expect_refused(f, buf, len, PROTO_ERR_MALFORMED, "byte 16");
        len = 0;
        put_run(buf, &len, kind, 7, (uint64_t)UINT32_MAX + 1);
        expect_refused(f, buf, len, PROTO_ERR_MALFORMED, NULL);
    }
    proto_frames_free(f);
}
END_TEST

START_TEST(test_nospace)
{
    proto_frames *f = small_frames();
    uint8_t entries[256], *out;
    size_t len = doc_entries(entries), olen = 0;
    uint64_t events = 0, dt = 0;
    char err[128];

    out = malloc(PROTO_SINK_BODY_BOUND(len));
    for (size_t cap = 0; cap < PROTO_SINK_BODY_BOUND(len); cap += 7) {
        err[0] = '\0';
        ck_assert_int_eq(proto_sink_transcode(f, entries, len, out, cap,
                                              &olen, &events, &dt, err,
                                              sizeof err),
                         PROTO_ERR_NOSPACE);
        ck_assert(err[0] != '\0');
    }
    /* One below the bound, even though the body (41 bytes) would fit:
     * the bound is the contract. */
    ck_assert_int_eq(proto_sink_transcode(f, entries, len, out,
                                          PROTO_SINK_BODY_BOUND(len) - 1,
                                          &olen, &events, &dt, err,
                                          sizeof err),
                     PROTO_ERR_NOSPACE);
    ck_assert_int_eq(proto_sink_transcode(f, entries, len, out,
                                          PROTO_SINK_BODY_BOUND(len), &olen,
                                          &events, &dt, err, sizeof err),
                     0);
    ck_assert_uint_eq(olen, sizeof doc_body);
    ck_assert(memcmp(out, doc_body, olen) == 0);
    /* No message buffer: still the code. */
    ck_assert_int_eq(proto_sink_transcode(f, entries, len, out, 10, &olen,
                                          &events, &dt, NULL, 0),
                     PROTO_ERR_NOSPACE);
    free(out);
    proto_frames_free(f);
}
END_TEST

/* The bound holds for the entries that grow the most: the widest func,
 * depth, time delta, values and runs (the heap output at exactly the
 * bound: ASan reports any store beyond it, put_uv32's included). */
START_TEST(test_bound_worst_case)
{
    proto_frames *t = types_frames(), *s = small_frames();
    uint8_t entries[4096];
    const uint64_t big[7] = {UINT64_MAX >> 1, 0xffffffffu, UINT64_MAX,
                             UINT64_MAX, UINT64_MAX, UINT64_MAX - 1,
                             UINT64_MAX - 1};
    const uint64_t i32s[2] = {i32_slot(INT32_MIN, 0xffffffffu),
                              i32_slot(INT32_MIN, 0xffffffffu)};
    transcoded out;
    size_t len;

    for (int shape = 0; shape < 6; shape++) {
        len = 0;
        for (int i = 0; len + 96 <= sizeof entries; i++) {
            switch (shape) {
            case 0: /* valueless returns, widest fields */
                put_frame(entries, &len, VM_SINK_RETURN_NONE, 0xfffff,
                          VM_SINK_MAX_DEPTH, 0, NULL);
                break;
            case 1: /* calls of unknown functions without slots */
                put_frame(entries, &len, VM_SINK_CALL, 0xfffff,
                          VM_SINK_MAX_DEPTH, 0, NULL);
                break;
            case 2: /* a large time delta before every call */
                put_time(entries, &len, UINT64_MAX / 2048);
                put_frame(entries, &len, VM_SINK_CALL, 0xfffff,
                          VM_SINK_MAX_DEPTH, 0, NULL);
                break;
            case 3: /* $all with its widest values */
                put_frame(entries, &len, VM_SINK_CALL, 1, VM_SINK_MAX_DEPTH,
                          7, big);
                break;
            case 4: /* op runs jumping across the u32 range */
                put_run(entries, &len, VM_SINK_OPS,
                        i % 2 ? UINT32_MAX : 0, UINT32_MAX);
                break;
            default: /* the short way's widest i32s */
                put_frame(entries, &len, VM_SINK_CALL, 0, VM_SINK_MAX_DEPTH,
                          0, NULL);
                put_frame(entries, &len, VM_SINK_CALL, 1, VM_SINK_MAX_DEPTH,
                          2, i32s);
                break;
            }
        }
        transcode_ok(shape == 5 ? s : t, entries, len, &out);
        ck_assert_uint_gt(out.events, 0);
        free(out.out);
    }
    proto_frames_free(t);
    proto_frames_free(s);
}
END_TEST

START_TEST(test_frames_nomem)
{
    static char not_null;
    vm_module *m = NULL;
    proto_frames *f = NULL;
    char err[256] = "";
    int rc = PROTO_ERR_NOMEM, fails = 0;

    ck_assert_msg(vm_module_new(wasm_types, ring_harness_sink_wasm_len, NULL,
                                &m, err, sizeof err) == 0,
                  "load: %s", err);
    /* Each of its allocations fails in turn, until none does: NOMEM with
     * *out NULL and nothing leaked (ASan build). */
    for (long k = 1; rc == PROTO_ERR_NOMEM && k < 20; k++) {
        f = (proto_frames *)(void *)&not_null;
        proto__alloc_fail_after = k;
        rc = proto_frames_new(m, &f);
        proto__alloc_fail_after = -1;
        if (rc == PROTO_ERR_NOMEM) {
            ck_assert_ptr_null(f);
            fails++;
        }
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_ge(fails, 2);
    ck_assert_ptr_nonnull(f);
    proto_frames_free(f);
    proto_frames_free(NULL);
    vm_module_free(m);
}
END_TEST

/* ---- 5 and 6. Through the ring --------------------------------------------- */

/* An event the generator made, to compare what the ring gives back. */
typedef struct want {
    proto_event_type type;
    uint64_t seq, t;
    uint32_t func, depth; /* call, return */
    uint32_t nvals;
    int32_t vals[2];
    uint32_t start;  /* ops: offset; steps: point; op: offset */
    uint64_t count;  /* events it stands for */
    uint8_t seen;    /* 1 delivered, 2 covered by a loss */
} want;

/* What one push was: a sink record or an ordinary op event. */
typedef struct unit {
    uint64_t first, events, t_first, t_last;
    size_t want_first, nwant;
    bool sink;
    int rc;
} unit;

typedef struct gen {
    uint64_t rng, t;
    uint32_t stack[64]; /* the functions of the open frames */
    uint32_t depth;
    uint32_t op_at;     /* near where the next op run starts */
} gen;

static int32_t rand_i32(gen *g)
{
    uint64_t x = next_rand(&g->rng);

    /* Every magnitude, both signs. */
    return (int32_t)(uint32_t)(x >> (32 + x % 32));
}

/*
 * One sink record of 1..max_entries entries (calls and returns of
 * wasm_small's functions and of unknown ones, valueless returns, op and
 * step runs, time entries between events) into buf, its events appended
 * to w (seq relative to the record's first). Returns its length; *events
 * and the times as push_sink takes them.
 */
static size_t gen_record(gen *g, uint8_t *buf, unsigned max_entries,
                         want *w, size_t *nw, uint64_t *events,
                         uint64_t *t_first, uint64_t *t_last)
{
    unsigned n = 1 + (unsigned)(next_rand(&g->rng) % max_entries);
    size_t len = 0;
    uint64_t seq = 0;

    *t_first = g->t;
    for (unsigned i = 0; i < n; i++) {
        uint64_t x = next_rand(&g->rng);
        unsigned what = (unsigned)(x % 10);
        want *e = &w[(*nw)++];

        if (i > 0 && (x >> 8) % 4 == 0) {
            uint64_t dt = 1 + (x >> 12) % ((x >> 40) % 8 ? 100 : 1ull << 40);

            put_time(buf, &len, dt);
            g->t += dt;
        }
        memset(e, 0, sizeof *e);
        e->seq = seq;
        e->t = g->t;
        e->count = 1;
        if (what <= 3 && g->depth == 64)
            what = 4;
        if (what >= 4 && what <= 6 && g->depth == 0)
            what = 0;
        if (what <= 3) {
            /* A call: f0, f1 (two i32 args), or an unknown function with
             * 0..3 slots (no values). */
            uint32_t func = (uint32_t)((x >> 16) % 3);
            uint64_t s[3];

            if (func == 2)
                func = 2 + (uint32_t)((x >> 20) % 5000);
            e->type = PROTO_CALL;
            e->func = func;
            e->depth = ++g->depth;
            g->stack[g->depth - 1] = func;
            if (func == 1) {
                e->nvals = 2;
                e->vals[0] = rand_i32(g);
                e->vals[1] = rand_i32(g);
                s[0] = i32_slot(e->vals[0], (uint32_t)(x >> 32));
                s[1] = i32_slot(e->vals[1], 0);
                put_frame(buf, &len, VM_SINK_CALL, func, e->depth, 2, s);
            } else {
                uint32_t ns = func == 0 ? 0 : (uint32_t)((x >> 40) % 4);

                s[0] = s[1] = s[2] = x;
                put_frame(buf, &len, VM_SINK_CALL, func, e->depth, ns, s);
            }
        } else if (what <= 6) {
            /* A return of the innermost frame: valueless one time in
             * five. */
            uint32_t func = g->stack[g->depth - 1];
            uint64_t s[3];

            e->type = PROTO_RETURN;
            e->func = func;
            e->depth = g->depth--;
            if ((x >> 16) % 5 == 0) {
                put_frame(buf, &len, VM_SINK_RETURN_NONE, func, e->depth, 0,
                          NULL);
            } else if (func == 1) {
                e->nvals = 1;
                e->vals[0] = rand_i32(g);
                s[0] = i32_slot(e->vals[0], (uint32_t)x);
                put_frame(buf, &len, VM_SINK_RETURN, func, e->depth, 1, s);
            } else {
                uint32_t ns = func == 0 ? 0 : (uint32_t)((x >> 40) % 4);

                s[0] = s[1] = s[2] = x;
                put_frame(buf, &len, VM_SINK_RETURN, func, e->depth, ns, s);
            }
        } else if (what <= 8) {
            /* An op run, usually near the last one (either way), now and
             * then anywhere in the u32 range. */
            e->type = PROTO_OPS;
            if ((x >> 16) % 8 == 0)
                g->op_at = (uint32_t)(x >> 24);
            else
                g->op_at += (uint32_t)((x >> 16) % 200) - 100;
            e->start = g->op_at;
            e->count = 1 + (x >> 32) % ((x >> 28) % 16 ? 60 : 1u << 20);
            put_run(buf, &len, VM_SINK_OPS, e->start, e->count);
        } else {
            e->type = PROTO_STEPS;
            e->start = (uint32_t)(x >> 16);
            e->count = 1 + (x >> 48) % 30;
            put_run(buf, &len, VM_SINK_STEPS, e->start, e->count);
        }
        seq += e->count;
    }
    *events = seq;
    *t_last = g->t;
    return len;
}

static void check_event(const proto_event *ev, const want *w)
{
    const proto_vals *v = NULL;

    ck_assert_msg(ev->type == w->type, "seq %llu: type %d, want %d",
                  (unsigned long long)w->seq, ev->type, w->type);
    ck_assert_uint_eq(ev->seq, w->seq);
    ck_assert_uint_eq(ev->t_ns, w->t);
    switch (w->type) {
    case PROTO_CALL:
        ck_assert_uint_eq(ev->as.call.func, w->func);
        ck_assert_uint_eq(ev->as.call.depth, w->depth);
        v = &ev->as.call.args;
        break;
    case PROTO_RETURN:
        ck_assert_uint_eq(ev->as.ret.func, w->func);
        ck_assert_uint_eq(ev->as.ret.depth, w->depth);
        v = &ev->as.ret.results;
        break;
    case PROTO_OPS:
        ck_assert_uint_eq(ev->as.ops.offset, w->start);
        ck_assert_uint_eq(ev->as.ops.count, w->count);
        break;
    case PROTO_STEPS:
        ck_assert_uint_eq(ev->as.steps.point, w->start);
        ck_assert_uint_eq(ev->as.steps.count, w->count);
        break;
    case PROTO_OP:
        ck_assert_uint_eq(ev->as.op.opcode, 0x41);
        ck_assert_uint_eq(ev->as.op.offset, w->start);
        break;
    default:
        ck_abort_msg("unexpected type %d", w->type);
    }
    if (v) {
        ck_assert_uint_eq(v->count, w->nvals);
        for (uint32_t i = 0; i < w->nvals; i++) {
            ck_assert_int_eq(v->items[i].type, VM_I32);
            ck_assert_int_eq(v->items[i].of.i32, w->vals[i]);
        }
    }
}

/* The generated stream: units and the events they hold. */
typedef struct stream {
    unit *units;
    want *wants;
    size_t nunits, nwants, unit_cap, want_cap;
    gen g;
} stream;

static void stream_init(stream *s, uint64_t seed, size_t units,
                        size_t wants)
{
    memset(s, 0, sizeof *s);
    s->units = calloc(units, sizeof *s->units);
    s->wants = calloc(wants, sizeof *s->wants);
    s->unit_cap = units;
    s->want_cap = wants;
    s->g.rng = seed;
    s->g.t = 1000;
}

static void stream_close(stream *s)
{
    free(s->units);
    free(s->wants);
}

/*
 * Push n units into r: sink records of up to max_entries entries, and
 * one time in eight an ordinary op event (which moves the ring's offset
 * state between batches). Records the result of each push.
 */
static void push_units(proto_ring *r, stream *s, size_t n,
                       unsigned max_entries)
{
    static uint8_t buf[64 * 64];
    gen *g = &s->g;

    for (size_t k = 0; k < n; k++) {
        unit *u = &s->units[s->nunits++];
        uint64_t x = next_rand(&g->rng), first = ~0ull;

        ck_assert_uint_le(s->nunits, s->unit_cap);
        ck_assert_uint_le(s->nwants + max_entries, s->want_cap);
        u->want_first = s->nwants;
        g->t += x % 50;
        if (x % 8 == 0) {
            want *e = &s->wants[s->nwants++];
            proto_event ev = {.type = PROTO_OP, .t_ns = g->t,
                              .as.op = {0x41, (uint32_t)(x >> 8)}};

            memset(e, 0, sizeof *e);
            e->type = PROTO_OP;
            e->t = g->t;
            e->start = ev.as.op.offset;
            e->count = 1;
            u->sink = false;
            u->events = 1;
            u->t_first = u->t_last = g->t;
            u->rc = proto_ring_push(r, &ev);
            first = ev.seq;
        } else {
            size_t nw = s->nwants, len;

            len = gen_record(g, buf, max_entries, s->wants, &nw, &u->events,
                             &u->t_first, &u->t_last);
            ck_assert_uint_le(len, sizeof buf);
            s->nwants = nw;
            u->sink = true;
            u->rc = proto_ring_push_sink(r, u->t_first, u->t_last, buf, len,
                                         (uint32_t)u->events, &first);
        }
        ck_assert(u->rc == 0 || u->rc == PROTO_ERR_FULL);
        u->first = first;
        u->nwant = s->nwants - u->want_first;
        for (size_t i = u->want_first; i < s->nwants; i++)
            s->wants[i].seq += first;
    }
}

/* Read all there is with proto_ring_next, checking every event against
 * the stream in order (losses skip what they cover). */
static int drain_next(proto_ring *r, stream *s, size_t *at, uint64_t *seq,
                      uint64_t *delivered, uint64_t *covered)
{
    proto_event ev;
    char err[256];
    int rc;

    proto_event_init(&ev);
    while ((rc = proto_ring_next(r, &ev, err, sizeof err)) == 0) {
        ck_assert_uint_eq(ev.seq, *seq);
        if (ev.type == PROTO_LOSS) {
            *covered += ev.as.loss.count;
            *seq += ev.as.loss.count;
            while (*at < s->nwants && s->wants[*at].seq < *seq)
                s->wants[(*at)++].seen = 2;
            continue;
        }
        ck_assert_uint_lt(*at, s->nwants);
        check_event(&ev, &s->wants[*at]);
        s->wants[(*at)++].seen = 1;
        *seq += proto_event_next_seq(&ev) - ev.seq;
        *delivered += proto_event_next_seq(&ev) - ev.seq;
    }
    ck_assert_msg(rc == PROTO_ERR_AGAIN || rc == PROTO_ERR_END, "%s: %s",
                  proto_err_name(rc), err);
    proto_event_close(&ev);
    return rc;
}

START_TEST(test_ring_random_sink_records)
{
    enum { ROUNDS = 30, PER_ROUND = 12, ENTRIES = 48 };
    proto_ring_opts ro = {.capacity = 1u << 16};
    proto_ring *r;
    proto_ring_stats st;
    stream s;
    size_t at = 0;
    uint64_t seq = 0, delivered = 0, covered = 0, produced = 0;

    stream_init(&s, 0x5eed5eedull, ROUNDS * PER_ROUND,
                ROUNDS * PER_ROUND * ENTRIES + 1);
    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    proto_ring_set_frames(r, small_frames());
    for (int round = 0; round < ROUNDS; round++) {
        /* Records of growing size: the consumer's batch buffer grows. */
        push_units(r, &s, PER_ROUND, 4 + (unsigned)round * (ENTRIES - 4) /
                                             ROUNDS);
        ck_assert_int_eq(proto_ring_flush(r), 0);
        ck_assert_int_eq(drain_next(r, &s, &at, &seq, &delivered, &covered),
                         PROTO_ERR_AGAIN);
    }
    proto_ring_finish(r);
    ck_assert_int_eq(drain_next(r, &s, &at, &seq, &delivered, &covered),
                     PROTO_ERR_END);
    ck_assert_uint_eq(at, s.nwants);
    ck_assert_uint_eq(covered, 0);
    for (size_t k = 0; k < s.nunits; k++) {
        ck_assert_int_eq(s.units[k].rc, 0);
        /* Seqs are consecutive from the first. */
        ck_assert_uint_eq(s.units[k].first, produced);
        produced += s.units[k].events;
    }
    ck_assert_uint_eq(seq, produced);
    ck_assert_uint_eq(delivered, produced);
    proto_ring_stats_get(r, &st);
    ck_assert_uint_eq(st.produced, produced);
    ck_assert_uint_eq(st.dropped, 0);
    /* Enough of everything to mean something. */
    ck_assert_uint_gt(s.nwants, 2000);
    proto_ring_free(r);
    stream_close(&s);
}
END_TEST

/* The same stream with proto_ring_next_raw: one PROTO_BATCH raw unit per
 * sink record, of its count and times, whose events are the record's. */
START_TEST(test_ring_raw_sink_records)
{
    enum { UNITS = 200, ENTRIES = 40 };
    proto_ring_opts ro = {.capacity = 1u << 20};
    proto_ring *r;
    proto_raw raw;
    proto_raw_events it;
    proto_event ev;
    stream s;
    char err[256];
    size_t k = 0, at = 0;
    int rc;

    stream_init(&s, 0xfeedfaceull, UNITS, UNITS * ENTRIES + 1);
    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    proto_ring_set_frames(r, small_frames());
    push_units(r, &s, UNITS, ENTRIES);
    proto_ring_finish(r);
    proto_event_init(&ev);
    while ((rc = proto_ring_next_raw(r, &raw, err, sizeof err)) == 0) {
        const unit *u = &s.units[k++];

        ck_assert_uint_le(k, s.nunits);
        ck_assert_int_eq(raw.type, u->sink ? PROTO_BATCH : PROTO_OP);
        ck_assert_uint_eq(raw.seq, u->first);
        ck_assert_uint_eq(raw.count, u->events);
        ck_assert_uint_eq(raw.next_seq, u->first + u->events);
        ck_assert_uint_eq(raw.t_first, u->t_first);
        ck_assert_uint_eq(raw.t_ns, u->t_last);
        proto_raw_events_init(&it, &raw);
        while ((rc = proto_raw_events_next(&it, &ev, err, sizeof err)) == 0)
            check_event(&ev, &s.wants[at++]);
        ck_assert_msg(rc == PROTO_ERR_END, "%s", err);
        ck_assert_uint_eq(at, u->want_first + u->nwant);
    }
    ck_assert_msg(rc == PROTO_ERR_END, "%s: %s", proto_err_name(rc), err);
    ck_assert_uint_eq(k, s.nunits);
    ck_assert_uint_eq(at, s.nwants);
    proto_event_close(&ev);
    proto_ring_free(r);
    stream_close(&s);
}
END_TEST

/* A ring without frames records calls and returns without values. */
START_TEST(test_ring_without_frames)
{
    proto_ring_opts ro = {.capacity = 4096};
    uint8_t entries[256];
    size_t len = doc_entries(entries);
    proto_ring *r;
    proto_event ev;
    char err[256];

    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    ck_assert_int_eq(proto_ring_push_sink(r, 100, 105, entries, len, 10,
                                          NULL), 0);
    proto_ring_finish(r);
    proto_event_init(&ev);
    ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.type, PROTO_CALL);
    ck_assert_uint_eq(ev.as.call.func, 1);
    ck_assert_uint_eq(ev.as.call.args.count, 0);
    ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.type, PROTO_RETURN);
    ck_assert_uint_eq(ev.t_ns, 105);
    ck_assert_uint_eq(ev.as.ret.results.count, 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.type, PROTO_STEPS);
    ck_assert_uint_eq(ev.seq, 8);
    ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err),
                     PROTO_ERR_END);
    proto_event_close(&ev);
    proto_ring_free(r);
}
END_TEST

/* A sink record that disagrees with its entries (count, t_last) or holds
 * a bad entry is a decode error for the consumer, from next and from
 * next_raw, with a message; the records before it read fine, and the ring
 * skips it: the record after it has the seqs and time its header gives. */
START_TEST(test_ring_bad_sink_records)
{
    uint8_t entries[256], bad[64];
    size_t len = doc_entries(entries), blen = 0;
    char err[256];
    struct {
        uint64_t t_last;
        uint32_t count;
        const uint8_t *e;
        size_t len;
    } cases[] = {
        {105, 11, entries, len}, /* one event more than the entries */
        {105, 9, entries, len},  /* one fewer */
        {105, 1, entries, len},
        {106, 10, entries, len}, /* t_last after the last time entry */
        {104, 10, entries, len}, /* before */
        {100, 10, entries, len},
        {100, 1, bad, 0},        /* bad entries (blen below) */
    };

    put_frame(bad, &blen, VM_SINK_RETURN_NONE, 0, 1, 0, NULL);
    put_run(bad, &blen, 9, 0, 1);
    cases[6].len = blen;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int raw_mode = 0; raw_mode < 2; raw_mode++) {
            proto_ring_opts ro = {.capacity = 4096};
            proto_ring *r;
            proto_event ev;
            proto_raw raw;
            int rc;

            ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
            proto_ring_set_frames(r, small_frames());
            /* A good record first. */
            ck_assert_int_eq(proto_ring_push_sink(r, 100, 105, entries, len,
                                                  10, NULL), 0);
            ck_assert_int_eq(proto_ring_push_sink(r, 200, 100 +
                                                  cases[c].t_last,
                                                  cases[c].e, cases[c].len,
                                                  cases[c].count, NULL), 0);
            ck_assert_int_eq(proto_ring_push_sink(r, 300, 305, entries, len,
                                                  10, NULL), 0);
            proto_ring_finish(r);
            proto_event_init(&ev);
            if (raw_mode) {
                ck_assert_int_eq(proto_ring_next_raw(r, &raw, err,
                                                     sizeof err), 0);
                ck_assert_uint_eq(raw.count, 10);
                err[0] = '\0';
                rc = proto_ring_next_raw(r, &raw, err, sizeof err);
            } else {
                for (int i = 0; i < 6; i++)
                    ck_assert_int_eq(proto_ring_next(r, &ev, err,
                                                     sizeof err), 0);
                ck_assert_uint_eq(ev.seq, 8);
                err[0] = '\0';
                rc = proto_ring_next(r, &ev, err, sizeof err);
            }
            ck_assert_msg(rc == PROTO_ERR_MALFORMED,
                          "case %zu (%s): %s: %s", c,
                          raw_mode ? "next_raw" : "next",
                          proto_err_name(rc), err);
            ck_assert_msg(err[0] != '\0', "case %zu: no message", c);
            /* Skipped: the third record as its seqs say. */
            if (raw_mode) {
                ck_assert_int_eq(proto_ring_next_raw(r, &raw, err,
                                                     sizeof err), 0);
                ck_assert_uint_eq(raw.seq, 10 + cases[c].count);
                ck_assert_uint_eq(raw.count, 10);
            } else {
                ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err),
                                 0);
                ck_assert_uint_eq(ev.seq, 10 + cases[c].count);
                ck_assert_uint_eq(ev.t_ns, 300);
            }
            proto_event_close(&ev);
            proto_ring_free(r);
        }
    }
}
END_TEST

/* Time entries before the first event (the clock moved between a batch's
 * opening and its first entry) move the batch's first time: the raw
 * record's t_first is its first event's, as for any batch. */
START_TEST(test_ring_leading_time)
{
    proto_ring_opts ro = {.capacity = 4096};
    uint8_t entries[128];
    size_t len = 0;
    uint64_t slot = 5;
    proto_ring *r;
    proto_raw raw;
    proto_event ev;
    char err[256];

    put_time(entries, &len, 4);
    put_time(entries, &len, 3);
    put_frame(entries, &len, VM_SINK_RETURN_NONE, 0, 2, 0, NULL);
    put_time(entries, &len, 2);
    put_frame(entries, &len, VM_SINK_RETURN, 1, 1, 1, &slot);
    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    proto_ring_set_frames(r, small_frames());
    ck_assert_int_eq(proto_ring_push_sink(r, 100, 109, entries, len, 2,
                                          NULL), 0);
    ck_assert_int_eq(proto_ring_push_sink(r, 100 + 20, 100 + 29, entries,
                                          len, 2, NULL), 0);
    proto_ring_finish(r);
    ck_assert_int_eq(proto_ring_next_raw(r, &raw, err, sizeof err), 0);
    ck_assert_uint_eq(raw.seq, 0);
    ck_assert_uint_eq(raw.count, 2);
    ck_assert_uint_eq(raw.t_first, 107);
    ck_assert_uint_eq(raw.t_ns, 109);
    proto_event_init(&ev);
    ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err), 0);
    ck_assert_uint_eq(ev.seq, 2);
    ck_assert_uint_eq(ev.t_ns, 127);
    ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err), 0);
    ck_assert_uint_eq(ev.seq, 3);
    ck_assert_uint_eq(ev.t_ns, 129);
    proto_event_close(&ev);
    proto_ring_free(r);
}
END_TEST

/*
 * Two threads, as in the daemon: the producer sets the frames and pushes
 * sink records (even seqs calls of func 1 with args (seq, ~seq), odd ones
 * its returns with seq as the result, a time entry now and then), the
 * consumer reads them with next: every seq once and in order, the values
 * as pushed, times as the entries say. Under ThreadSanitizer (CI's tsan
 * tier) this checks the hand-over of the frames and of the entries.
 */
typedef struct threaded {
    proto_ring *r;
    proto_frames *frames;
    uint64_t n;
    int rc;
} threaded;

static void *sink_producer(void *arg)
{
    threaded *th = arg;
    uint8_t buf[48 * 24 + 16 * 48];
    uint64_t seq = 0, t = 1;

    proto_ring_set_frames(th->r, th->frames);
    while (seq < th->n) {
        uint32_t k = 1 + (uint32_t)(seq % 40), j;
        uint64_t t_first = t;
        size_t len = 0;

        for (j = 0; j < k && seq + j < th->n; j++) {
            uint64_t s = seq + j;
            uint64_t slots[2] = {(uint32_t)s, (uint32_t)~s};

            if (j > 0 && s % 7 == 0) {
                put_time(buf, &len, 3);
                t += 3;
            }
            put_frame(buf, &len, s % 2 ? VM_SINK_RETURN : VM_SINK_CALL, 1,
                      (uint32_t)(1 + s % 5), s % 2 ? 1 : 2, slots);
        }
        th->rc = proto_ring_push_sink(th->r, t_first, t, buf, len, j, NULL);
        if (th->rc != 0)
            break;
        seq += j;
        t += 1;
    }
    proto_ring_finish(th->r);
    return NULL;
}

START_TEST(test_ring_threads)
{
    proto_ring_opts ro = {.capacity = 1u << 14};
    threaded th = {.n = 100000};
    pthread_t producer;
    proto_event ev;
    char err[256];
    uint64_t seq = 0, last_t = 0;
    int rc;

    th.frames = small_frames();
    ck_assert_int_eq(proto_ring_new(&ro, &th.r), 0);
    ck_assert_int_eq(pthread_create(&producer, NULL, sink_producer, &th), 0);
    proto_event_init(&ev);
    while ((rc = proto_ring_next(th.r, &ev, err, sizeof err)) != PROTO_ERR_END) {
        if (rc == PROTO_ERR_AGAIN) {
            sched_yield();
            continue;
        }
        ck_assert_msg(rc == 0, "%s: %s", proto_err_name(rc), err);
        ck_assert_uint_eq(ev.seq, seq);
        ck_assert_uint_ge(ev.t_ns, last_t);
        last_t = ev.t_ns;
        if (seq % 2) {
            ck_assert_int_eq(ev.type, PROTO_RETURN);
            ck_assert_uint_eq(ev.as.ret.func, 1);
            ck_assert_uint_eq(ev.as.ret.depth, 1 + seq % 5);
            ck_assert_uint_eq(ev.as.ret.results.count, 1);
            ck_assert_int_eq(ev.as.ret.results.items[0].of.i32,
                             (int32_t)(uint32_t)seq);
        } else {
            ck_assert_int_eq(ev.type, PROTO_CALL);
            ck_assert_uint_eq(ev.as.call.depth, 1 + seq % 5);
            ck_assert_uint_eq(ev.as.call.args.count, 2);
            ck_assert_int_eq(ev.as.call.args.items[0].of.i32,
                             (int32_t)(uint32_t)seq);
            ck_assert_int_eq(ev.as.call.args.items[1].of.i32,
                             (int32_t)~(uint32_t)seq);
        }
        seq++;
    }
    pthread_join(producer, NULL);
    ck_assert_int_eq(th.rc, 0);
    ck_assert_uint_eq(seq, th.n);
    proto_event_close(&ev);
    proto_ring_free(th.r);
}
END_TEST

/* The consumer's buffer for a sink record's batch cannot be had: NOMEM
 * from next, not a crash. */
START_TEST(test_ring_sink_nomem)
{
    proto_ring_opts ro = {.capacity = 4096};
    uint8_t entries[256];
    size_t len = doc_entries(entries);
    proto_ring *r;
    proto_event ev;
    char err[256] = "";

    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    proto_ring_set_frames(r, small_frames());
    ck_assert_int_eq(proto_ring_push_sink(r, 100, 105, entries, len, 10,
                                          NULL), 0);
    proto_ring_finish(r);
    proto_event_init(&ev);
    proto__alloc_fail_after = 1;
    ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err),
                     PROTO_ERR_NOMEM);
    proto__alloc_fail_after = -1;
    ck_assert(err[0] != '\0');
    /* The record stays: read again once there is memory. */
    ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err), 0);
    ck_assert_uint_eq(ev.seq, 0);
    ck_assert_uint_eq(ev.t_ns, 100);
    proto_event_close(&ev);
    proto_ring_free(r);
}
END_TEST

/* Lossy: sink records dropped when the ring is full are dropped whole,
 * and accounted exactly (produced = delivered + dropped; the loss events
 * cover exactly the dropped seqs). */
START_TEST(test_lossy_drops_whole_sink_records)
{
    enum { ROUNDS = 8, PER_ROUND = 60, ENTRIES = 16 };
    proto_ring_opts ro = {.capacity = 4096, .lossy = true};
    proto_ring *r;
    proto_ring_stats st;
    proto_event last = {.type = PROTO_OP, .as.op = {0x41, 1}};
    stream s;
    size_t at = 0;
    uint64_t seq = 0, delivered = 0, covered = 0, produced = 0, dropped = 0;
    int full_sinks = 0, ok_sinks = 0;

    stream_init(&s, 0x10551055ull, ROUNDS * PER_ROUND,
                ROUNDS * PER_ROUND * ENTRIES + 1);
    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    proto_ring_set_frames(r, small_frames());
    /* Rounds pushed without draining in between, so the ring fills. */
    for (int round = 0; round < ROUNDS; round++) {
        push_units(r, &s, PER_ROUND, ENTRIES);
        proto_ring_flush(r);
        ck_assert_int_eq(drain_next(r, &s, &at, &seq, &delivered, &covered),
                         PROTO_ERR_AGAIN);
    }
    /* One more event writes the pending loss first. */
    last.t_ns = s.g.t;
    ck_assert_int_eq(proto_ring_push(r, &last), 0);
    proto_ring_finish(r);
    s.wants[s.nwants++] = (want){.type = PROTO_OP, .seq = last.seq,
                                 .t = last.t_ns, .start = 1, .count = 1};
    ck_assert_int_eq(drain_next(r, &s, &at, &seq, &delivered, &covered),
                     PROTO_ERR_END);
    ck_assert_uint_eq(at, s.nwants);
    ck_assert_uint_eq(seq, last.seq + 1);

    /* Each unit delivered or dropped whole, as its push said. */
    for (size_t k = 0; k < s.nunits; k++) {
        const unit *u = &s.units[k];

        ck_assert_uint_eq(u->first, produced);
        produced += u->events;
        for (size_t i = u->want_first; i < u->want_first + u->nwant; i++)
            ck_assert_uint_eq(s.wants[i].seen, u->rc == 0 ? 1 : 2);
        if (u->rc == PROTO_ERR_FULL) {
            dropped += u->events;
            full_sinks += u->sink;
        } else {
            ok_sinks += u->sink;
        }
    }
    produced++; /* the last op */
    ck_assert_int_gt(full_sinks, 10);
    ck_assert_int_gt(ok_sinks, 10);
    proto_ring_stats_get(r, &st);
    ck_assert_uint_eq(st.produced, produced);
    ck_assert_uint_eq(st.dropped, dropped);
    ck_assert_uint_eq(covered, dropped);
    ck_assert_uint_eq(delivered + covered, produced);
    ck_assert_uint_gt(st.loss_events, 0);
    proto_ring_free(r);
    stream_close(&s);
}
END_TEST

Suite *sink_suite(void)
{
    Suite *s = suite_create("sink");
    TCase *tc = tcase_create("sink");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_documented_entries);
    tcase_add_test(tc, test_documented_entries_ring);
    tcase_add_test(tc, test_every_value_type);
    tcase_add_test(tc, test_i32_every_length);
    tcase_add_test(tc, test_short_way_as_long_way);
    tcase_add_test(tc, test_no_values_without_fit);
    tcase_add_test(tc, test_malformed_entries);
    tcase_add_test(tc, test_nospace);
    tcase_add_test(tc, test_bound_worst_case);
    tcase_add_test(tc, test_frames_nomem);
    tcase_add_test(tc, test_ring_random_sink_records);
    tcase_add_test(tc, test_ring_raw_sink_records);
    tcase_add_test(tc, test_ring_without_frames);
    tcase_add_test(tc, test_ring_bad_sink_records);
    tcase_add_test(tc, test_ring_sink_nomem);
    tcase_add_test(tc, test_ring_leading_time);
    tcase_add_test(tc, test_ring_threads);
    tcase_add_test(tc, test_lossy_drops_whole_sink_records);
    suite_add_tcase(s, tc);
    return s;
}
