/*
 * Op runs and step runs (docs/protocol.md section 2, "Op runs" and "Step
 * runs"): the ops and steps events, their bytes and JSON, malformed
 * input, batches that hold them (a batch counts events, not records), the
 * trace file's event counts and version, and their expansion against the
 * module (proto_code) by proto_code_expand, the raw-record iterator, the
 * trace file reader (seeking into the middle of a run) and the CodeTracer
 * writer.
 *
 * The module (wat2wasm; its instruction offsets are read from vm_listing,
 * not written down here):
 *
 * (module
 *   (func $a (param i32) (result i32)
 *     local.get 0  i32.const 1  i32.add  i32.const 2  i32.mul
 *     i32.const 3  i32.sub  call $b)
 *   (func $b (param i32) (result i32)
 *     local.get 0  i32.const 7  i32.xor)
 *   (func $c (result i32)
 *     f32.const 1.5  i32.trunc_sat_f32_s  i32.const 300  i32.add))
 *
 * Function a's instructions start at offset 31 (0x1f), b's at 47, c's at
 * 55; c holds a prefixed opcode (0xfc 0x00).
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto_int.h"
#include "samples.h"
#include "suites.h"
#include "traced/proto.h"
#include "traced/proto_code.h"
#include "traced/proto_codetracer.h"
#include "traced/proto_ring.h"
#include "traced/vm_debug.h"
#include "traced/vm_listing.h"
#include "traced/wire.h"

#ifndef TRACED_DEBUG_WASM_DIR
#define TRACED_DEBUG_WASM_DIR "tests/debug"
#endif

static const uint8_t wasm_runs[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60,
    0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x04, 0x03, 0x00,
    0x00, 0x01, 0x0a, 0x27, 0x03, 0x0f, 0x00, 0x20, 0x00, 0x41, 0x01, 0x6a,
    0x41, 0x02, 0x6c, 0x41, 0x03, 0x6b, 0x10, 0x01, 0x0b, 0x07, 0x00, 0x20,
    0x00, 0x41, 0x07, 0x73, 0x0b, 0x0d, 0x00, 0x43, 0x00, 0x00, 0xc0, 0x3f,
    0xfc, 0x00, 0x41, 0xac, 0x02, 0x6a, 0x0b,
};

#define A_FIRST 31u /* local.get 0 of $a */
#define A_END 44u   /* its final end */
#define B_FIRST 47u
#define C_FIRST 55u

static char dir[64], path[128];

static void setup(void)
{
    samples_tmp_make("runs", dir, sizeof dir, path, sizeof path);
}

static void teardown(void)
{
    samples_tmp_remove(dir);
}

static const proto_file_header hdr = {
    .run_id = 11, .wall_ns = 1, .level = PROTO_LEVEL_OPS,
};

static vm_module *load_runs(void)
{
    vm_module *m = NULL;
    char err[256] = "";

    ck_assert_msg(vm_module_new(wasm_runs, sizeof wasm_runs, NULL, &m, err,
                                sizeof err) == 0,
                  "load: %s", err);
    return m;
}

static proto_code *code_of(const vm_module *m)
{
    proto_code *c = NULL;
    char err[256] = "";

    ck_assert_msg(proto_code_new(m, &c, err, sizeof err) == 0, "code: %s",
                  err);
    return c;
}

static proto_event ops_ev(uint64_t seq, uint64_t t, uint32_t offset,
                          uint64_t count)
{
    return (proto_event){.type = PROTO_OPS, .seq = seq, .t_ns = t,
                         .as.ops = {offset, count}};
}

static proto_event steps_ev(uint64_t seq, uint64_t t, uint32_t point,
                            uint64_t count)
{
    return (proto_event){.type = PROTO_STEPS, .seq = seq, .t_ns = t,
                         .as.steps = {point, count}};
}

/* Decode every record of buf[0..len) from a fresh state into evs (room
 * for max); returns the decode result of the first failure, or 0. */
static int decode_all(const uint8_t *buf, size_t len, proto_event *evs,
                      size_t max, size_t *n, proto_delta *d, char *err,
                      size_t errlen)
{
    size_t off = 0, used;
    int rc = 0;

    proto_delta_reset(d);
    *n = 0;
    while (off < len) {
        ck_assert_uint_lt(*n, max);
        rc = proto_decode(d, buf + off, len - off, &evs[*n], &used, err,
                          errlen);
        if (rc < 0)
            return rc;
        off += used;
        (*n)++;
    }
    return 0;
}

/* ---- The documented bytes ------------------------------------------------ */

/* docs/protocol.md, "Op runs" and "Step runs": in a fresh state, ops seq 0
 * t 0 offset 1234 count 5; steps seq 5 t 7 point 300 count 2; ops seq 7
 * t 7 offset 1230 count 3. */
static const uint8_t doc_runs[] = {
    0x0e, 0x00, 0x00, 0xa4, 0x13, 0x05, /* ops:   zz(0), zz(0), zz(1234), 5 */
    0x0f, 0x00, 0x0e, 0xac, 0x02, 0x02, /* steps: zz(0), zz(7), 300, 2 */
    0x0e, 0x00, 0x00, 0x07, 0x03,       /* ops:   zz(0), zz(0), zz(-4), 3 */
};

/* docs/protocol.md, "Batches": call seq 5 t 100 (func 3, depth 1,
 * [i32 5]), ops seq 6 t 103 offset 40 count 5, return seq 11 t 110
 * (func 3, depth 1, [i32 25]): a batch of 7 events in 3 records. */
static const uint8_t doc_run_batch[] = {
    0x0d, 0x0a, 0xc8, 0x01, 0x07, 0x0a, 0x15,       /* header */
    0x02, 0x00, 0x00, 0x03, 0x01, 0x01, 0x7f, 0x0a, /* call */
    0x0e, 0x00, 0x06, 0x50, 0x05,                   /* ops */
    0x03, 0x00, 0x0e, 0x03, 0x01, 0x01, 0x7f, 0x32, /* return */
};

START_TEST(test_documented_bytes)
{
    proto_event evs[3] = {ops_ev(0, 0, 1234, 5), steps_ev(5, 7, 300, 2),
                          ops_ev(7, 7, 1230, 3)};
    proto_event got[8];
    uint8_t buf[64];
    size_t len = 0, n = 0;
    proto_delta d;
    char err[128];

    proto_delta_reset(&d);
    for (int i = 0; i < 3; i++) {
        size_t k = 0;

        ck_assert_int_eq(proto_encode(&d, &evs[i], buf + len,
                                      sizeof buf - len, &k), 0);
        len += k;
    }
    ck_assert_uint_eq(len, sizeof doc_runs);
    ck_assert(memcmp(buf, doc_runs, len) == 0);
    ck_assert_uint_eq(d.next_seq, 10);
    ck_assert_uint_eq(d.prev_offset, 1230);

    for (int i = 0; i < 8; i++)
        proto_event_init(&got[i]);
    ck_assert_int_eq(decode_all(doc_runs, sizeof doc_runs, got, 8, &n, &d,
                                err, sizeof err), 0);
    ck_assert_uint_eq(n, 3);
    for (int i = 0; i < 3; i++)
        ck_assert(proto_event_equal(&got[i], &evs[i]));
    ck_assert_uint_eq(proto_event_next_seq(&got[1]), 7);

    /* The batch: 7 events, 3 records, state after it next_seq 12. */
    ck_assert_int_eq(decode_all(doc_run_batch, sizeof doc_run_batch, got, 8,
                                &n, &d, err, sizeof err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(got[0].type, PROTO_CALL);
    ck_assert_uint_eq(got[0].seq, 5);
    ck_assert_int_eq(got[1].type, PROTO_OPS);
    ck_assert_uint_eq(got[1].seq, 6);
    ck_assert_uint_eq(got[1].t_ns, 103);
    ck_assert_uint_eq(got[1].as.ops.offset, 40);
    ck_assert_uint_eq(got[1].as.ops.count, 5);
    ck_assert_int_eq(got[2].type, PROTO_RETURN);
    ck_assert_uint_eq(got[2].seq, 11);
    ck_assert_uint_eq(got[2].t_ns, 110);
    ck_assert_uint_eq(d.next_seq, 12);
    ck_assert_uint_eq(d.prev_t, 110);
    ck_assert_uint_eq(d.prev_offset, 0);
    ck_assert(!proto_delta_in_batch(&d));
    for (int i = 0; i < 8; i++)
        proto_event_close(&got[i]);
}
END_TEST

/* ---- Round trips ------------------------------------------------------------ */

START_TEST(test_binary_and_json_round_trip)
{
    proto_event evs[] = {
        ops_ev(0, 0, 0, 1),
        ops_ev(1, 5, UINT32_MAX, 1000000),
        ops_ev(1000001, 5, 3, UINT32_MAX),
        steps_ev(1000001 + UINT32_MAX, 9, 0, 1),
        steps_ev(1000002 + UINT32_MAX, 9, UINT32_MAX, 77),
        ops_ev(INT64_MAX - 10, 11, 17, 10),
    };
    size_t nev = sizeof evs / sizeof evs[0];
    uint8_t buf[256];
    size_t len = 0, n;
    proto_delta d;
    proto_event got[8];
    char err[160];

    /* Level membership, next seq, equality. */
    ck_assert(proto_level_includes(PROTO_LEVEL_OPS, PROTO_OPS));
    ck_assert(!proto_level_includes(PROTO_LEVEL_CALLS, PROTO_OPS));
    ck_assert(!proto_level_includes(PROTO_LEVEL_LINES, PROTO_OPS));
    ck_assert(proto_level_includes(PROTO_LEVEL_LINES, PROTO_STEPS));
    ck_assert(!proto_level_includes(PROTO_LEVEL_OPS, PROTO_STEPS));
    ck_assert(!proto_level_includes(PROTO_LEVEL_CALLS, PROTO_STEPS));
    ck_assert_str_eq(proto_event_type_name(PROTO_OPS), "ops");
    ck_assert_str_eq(proto_event_type_name(PROTO_STEPS), "steps");
    ck_assert_int_eq(proto_event_type_from_name("ops"), PROTO_OPS);
    ck_assert_int_eq(proto_event_type_from_name("steps"), PROTO_STEPS);
    ck_assert_ptr_null(proto_event_type_name((proto_event_type)PROTO_BATCH));
    ck_assert_uint_eq(proto_event_next_seq(&evs[1]), 1000001);
    {
        proto_event a = ops_ev(1, 2, 3, 4), b = a, c;

        ck_assert(proto_event_equal(&a, &b));
        b.as.ops.count = 5;
        ck_assert(!proto_event_equal(&a, &b));
        b = a;
        b.as.ops.offset = 4;
        ck_assert(!proto_event_equal(&a, &b));
        proto_event_init(&c);
        ck_assert_int_eq(proto_event_copy(&c, &evs[4]), 0);
        ck_assert(proto_event_equal(&c, &evs[4]));
        proto_event_close(&c);
    }

    proto_delta_reset(&d);
    for (size_t i = 0; i < nev; i++) {
        size_t k = 0;

        ck_assert_uint_le(proto_encoded_bound(&evs[i]), 64);
        ck_assert_int_eq(proto_encode(&d, &evs[i], buf + len,
                                      sizeof buf - len, &k), 0);
        ck_assert_uint_le(k, proto_encoded_bound(&evs[i]));
        len += k;
    }
    for (int i = 0; i < 8; i++)
        proto_event_init(&got[i]);
    ck_assert_int_eq(decode_all(buf, len, got, 8, &n, &d, err, sizeof err),
                     0);
    ck_assert_uint_eq(n, nev);
    for (size_t i = 0; i < nev; i++)
        ck_assert_msg(proto_event_equal(&got[i], &evs[i]), "event %zu", i);
    for (int i = 0; i < 8; i++)
        proto_event_close(&got[i]);

    /* JSON: the documented keys, and back. */
    for (size_t i = 0; i < nev; i++) {
        json_t *j = NULL;
        proto_event back;
        char *s;

        ck_assert_int_eq(proto_event_to_json(&evs[i], NULL, &j), 0);
        s = json_dumps(j, JSON_COMPACT);
        if (evs[i].type == PROTO_OPS) {
            ck_assert_uint_eq(json_integer_value(json_object_get(j, "offset")),
                              evs[i].as.ops.offset);
            ck_assert_uint_eq(json_integer_value(json_object_get(j, "count")),
                              evs[i].as.ops.count);
            ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
                             "ops");
        } else {
            ck_assert_uint_eq(json_integer_value(json_object_get(j, "point")),
                              evs[i].as.steps.point);
            ck_assert_uint_eq(json_integer_value(json_object_get(j, "count")),
                              evs[i].as.steps.count);
        }
        ck_assert_uint_eq(json_object_size(j), 5);
        proto_event_init(&back);
        ck_assert_msg(proto_event_from_json(j, &back, err, sizeof err) == 0,
                      "%s: %s", s, err);
        ck_assert_msg(proto_event_equal(&back, &evs[i]), "%s", s);
        proto_event_close(&back);
        json_decref(j);
        free(s);
    }
    {
        json_t *j = NULL;
        char *s;

        ck_assert_int_eq(proto_event_to_json(&evs[0], NULL, &j), 0);
        s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        ck_assert_str_eq(s, "{\"seq\":0,\"t\":0,\"type\":\"ops\","
                            "\"offset\":0,\"count\":1}");
        free(s);
        json_decref(j);
    }
}
END_TEST

static int json_parse(const char *text, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    proto_event ev;
    int rc;

    ck_assert_ptr_nonnull(j);
    proto_event_init(&ev);
    rc = proto_event_from_json(j, &ev, err, errlen);
    proto_event_close(&ev);
    json_decref(j);
    return rc;
}

START_TEST(test_json_rejects)
{
    char err[160];

    ck_assert_int_eq(json_parse("{\"seq\":1,\"t\":2,\"type\":\"ops\","
                                "\"offset\":3,\"count\":4}", err, sizeof err),
                     0);
    ck_assert_int_eq(json_parse("{\"seq\":1,\"t\":2,\"type\":\"ops\","
                                "\"offset\":3,\"count\":0}", err, sizeof err),
                     PROTO_ERR_JSON);
    ck_assert_ptr_nonnull(strstr(err, "count"));
    ck_assert_int_eq(json_parse("{\"seq\":1,\"t\":2,\"type\":\"ops\","
                                "\"count\":4}", err, sizeof err),
                     PROTO_ERR_JSON);
    ck_assert_int_eq(json_parse("{\"seq\":1,\"t\":2,\"type\":\"ops\","
                                "\"offset\":4294967296,\"count\":4}", err,
                                sizeof err),
                     PROTO_ERR_JSON);
    ck_assert_int_eq(json_parse("{\"seq\":1,\"t\":2,\"type\":\"steps\","
                                "\"point\":3,\"count\":0}", err, sizeof err),
                     PROTO_ERR_JSON);
    ck_assert_int_eq(json_parse("{\"seq\":1,\"t\":2,\"type\":\"steps\","
                                "\"point\":-1,\"count\":2}", err, sizeof err),
                     PROTO_ERR_JSON);
    ck_assert_int_eq(json_parse("{\"seq\":1,\"t\":2,\"type\":\"steps\","
                                "\"point\":3}", err, sizeof err),
                     PROTO_ERR_JSON);
}
END_TEST

/* ---- Malformed input -------------------------------------------------------- */

/* Decode buf[0..len) from state d0, copied into a buffer of exactly len
 * bytes (so ASan sees any read past it). */
static int decode_exact(const proto_delta *d0, const uint8_t *buf, size_t len,
                        char *err, size_t errlen)
{
    uint8_t *copy = malloc(len ? len : 1);
    proto_delta d = *d0;
    proto_event ev;
    size_t used = 0, off = 0;
    int rc = 0;

    memcpy(copy, buf, len);
    proto_event_init(&ev);
    while (off < len && rc == 0) {
        rc = proto_decode(&d, copy + off, len - off, &ev, &used, err, errlen);
        if (rc == 0)
            off += used;
    }
    proto_event_close(&ev);
    free(copy);
    return rc;
}

START_TEST(test_malformed)
{
    proto_delta fresh, d;
    uint8_t b[64], *p;
    char err[160];
    proto_event ev;
    size_t len = 0;

    proto_delta_reset(&fresh);
#define BAD(state, code, ...)                                                 \
    do {                                                                      \
        static const uint8_t bytes[] = {__VA_ARGS__};                         \
        err[0] = '\0';                                                        \
        ck_assert_int_eq(decode_exact(state, bytes, sizeof bytes, err,        \
                                      sizeof err), code);                     \
        ck_assert(err[0] != '\0');                                            \
    } while (0)

    BAD(&fresh, PROTO_ERR_MALFORMED, 0x0e, 0x00, 0x00, 0x00, 0x00); /* ops 0 */
    BAD(&fresh, PROTO_ERR_MALFORMED, 0x0f, 0x00, 0x00, 0x05, 0x00); /* steps 0 */
    ck_assert_ptr_nonnull(strstr(err, "count 0"));
    /* offset below 0 and past u32 */
    BAD(&fresh, PROTO_ERR_MALFORMED, 0x0e, 0x00, 0x00, 0x01, 0x01);
    BAD(&fresh, PROTO_ERR_MALFORMED, 0x0e, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80,
        0x20, 0x01);
    /* a point that is not a u32 */
    BAD(&fresh, PROTO_ERR_MALFORMED, 0x0f, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80,
        0x10, 0x01);
    /* a count varint of 11 bytes */
    BAD(&fresh, PROTO_ERR_MALFORMED, 0x0f, 0x00, 0x00, 0x01, 0x80, 0x80, 0x80,
        0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01);

    /* seq + count overflows: seq 2^64 - 3 (from next_seq 2^64 - 3) with
     * count 3 does; count 2 does not (next seq 2^64 - 1). */
    proto_delta_reset(&d);
    d.next_seq = UINT64_MAX - 2;
    BAD(&d, PROTO_ERR_MALFORMED, 0x0e, 0x00, 0x00, 0x00, 0x03);
    ck_assert_ptr_nonnull(strstr(err, "overflow"));
    ck_assert_int_eq(decode_exact(&d, (const uint8_t[]){0x0e, 0, 0, 0, 2}, 5,
                                  err, sizeof err), 0);
    BAD(&d, PROTO_ERR_MALFORMED, 0x0f, 0x00, 0x00, 0x00, 0x03);

    /* The encoder refuses what the decoder would. */
    {
        proto_event e0 = ops_ev(0, 0, 1, 0), e1 = ops_ev(UINT64_MAX - 1, 0, 1, 2),
                    e2 = steps_ev(0, 0, 1, 0);

        proto_delta_reset(&d);
        ck_assert_int_eq(proto_encode(&d, &e0, b, sizeof b, &len),
                         PROTO_ERR_ARG);
        ck_assert_int_eq(proto_encode(&d, &e1, b, sizeof b, &len),
                         PROTO_ERR_ARG);
        ck_assert_int_eq(proto_encode(&d, &e2, b, sizeof b, &len),
                         PROTO_ERR_ARG);
        ck_assert_uint_eq(d.next_seq, 0);
        {
            proto_chunker c;

            ck_assert_int_eq(proto_chunker_init(&c), 0);
            ck_assert_int_eq(proto_chunker_add(&c, &e0), PROTO_ERR_ARG);
            ck_assert_int_eq(proto_chunker_add(&c, &e2), PROTO_ERR_ARG);
            ck_assert_uint_eq(proto_chunker_count(&c), 0);
            proto_chunker_close(&c);
        }
    }

    /* raw_parse: the same, and the record must end after the count. */
    {
        proto_raw raw;
        static const uint8_t ok_ops[] = {0x0e, 0x00, 0x00, 0xa4, 0x13, 0x05};
        static const uint8_t long_ops[] = {0x0e, 0x00, 0x00, 0xa4, 0x13, 0x05,
                                           0x00};
        static const uint8_t zero_steps[] = {0x0f, 0x00, 0x00, 0x01, 0x00};

        ck_assert_int_eq(proto_raw_parse(&fresh, ok_ops, sizeof ok_ops, &raw,
                                         err, sizeof err), 0);
        ck_assert_int_eq(raw.type, PROTO_OPS);
        ck_assert_uint_eq(raw.offset, 1234);
        ck_assert_uint_eq(raw.offset_at, 3);
        ck_assert_uint_eq(raw.count, 5);
        ck_assert_uint_eq(raw.next_seq, 5);
        ck_assert_int_eq(proto_raw_parse(&fresh, long_ops, sizeof long_ops,
                                         &raw, err, sizeof err),
                         PROTO_ERR_MALFORMED);
        ck_assert_int_eq(proto_raw_parse(&fresh, zero_steps,
                                         sizeof zero_steps, &raw, err,
                                         sizeof err),
                         PROTO_ERR_MALFORMED);
        d.next_seq = UINT64_MAX - 2;
        ck_assert_int_eq(proto_raw_parse(&d, (const uint8_t[]){0x0e, 0, 0, 0,
                                                               3},
                                         5, &raw, err, sizeof err),
                         PROTO_ERR_MALFORMED);
    }

    /* In a batch: an ops record of more events than the batch has left,
     * or a batch that counts more events than its records hold. */
    p = b;
    *p++ = PROTO_BATCH;
    p = wire_put_sv(p, 0);
    p = wire_put_sv(p, 0);
    p = wire_put_uv(p, 4); /* count: 4 events */
    p = wire_put_uv(p, 0); /* t_last - t_first */
    p = wire_put_uv(p, 5); /* body */
    memcpy(p, (const uint8_t[]){0x0e, 0x00, 0x00, 0x0a, 0x05}, 5);
    p += 5;
    len = (size_t)(p - b);
    ck_assert_int_eq(decode_exact(&fresh, b, len, err, sizeof err),
                     PROTO_ERR_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err, "overruns"));
    b[3] = 6; /* count 6 events: the body ends with one missing */
    ck_assert_int_eq(decode_exact(&fresh, b, len, err, sizeof err),
                     PROTO_ERR_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err, "missing"));
    b[3] = 5;
    ck_assert_int_eq(decode_exact(&fresh, b, len, err, sizeof err), 0);
    {
        proto_raw raw;
        proto_raw_events it;

        ck_assert_int_eq(proto_raw_parse(&fresh, b, len, &raw, err,
                                         sizeof err), 0);
        ck_assert_uint_eq(raw.count, 5);
        ck_assert_uint_eq(raw.next_seq, 5);
        proto_event_init(&ev);
        proto_raw_events_init(&it, &raw);
        ck_assert_int_eq(proto_raw_events_next(&it, &ev, err, sizeof err), 0);
        ck_assert_int_eq(ev.type, PROTO_OPS);
        ck_assert_int_eq(proto_raw_events_next(&it, &ev, err, sizeof err),
                         PROTO_ERR_END);
        proto_event_close(&ev);
    }
#undef BAD
}
END_TEST

/* Every prefix of a valid stream of run records (and of a batch holding
 * them) is truncated, never read past, never an event it does not hold;
 * raw parsing of every prefix fails. */
START_TEST(test_truncated_everywhere)
{
    const uint8_t *inputs[] = {doc_runs, doc_run_batch};
    size_t lens[] = {sizeof doc_runs, sizeof doc_run_batch};
    proto_delta fresh;
    char err[160];

    proto_delta_reset(&fresh);
    for (size_t k = 0; k < 2; k++) {
        for (size_t cut = 1; cut < lens[k]; cut++) {
            uint8_t *copy = malloc(cut);
            proto_delta d = fresh;
            proto_event ev;
            proto_raw raw;
            size_t used = 0;
            int rc;

            memcpy(copy, inputs[k], cut);
            proto_event_init(&ev);
            rc = proto_decode(&d, copy, cut, &ev, &used, err, sizeof err);
            if (k == 0 && cut >= 6) {
                /* the first record is whole: it decodes, the rest is cut
                 * (or whole too, at 12) */
                ck_assert_int_eq(rc, 0);
                ck_assert_uint_eq(used, 6);
            } else {
                ck_assert_msg(rc == PROTO_ERR_TRUNCATED,
                              "input %zu cut at %zu: %d", k, cut, rc);
                ck_assert_uint_eq(d.next_seq, 0);
            }
            /* A raw record is one whole record: only the first ops
             * record, cut right after it, is one. */
            rc = proto_raw_parse(&fresh, copy, cut, &raw, err, sizeof err);
            if (k == 0 && cut == 6)
                ck_assert_int_eq(rc, 0);
            else
                ck_assert_int_lt(rc, 0);
            ck_assert_int_eq(decode_exact(&fresh, inputs[k], cut, err,
                                          sizeof err),
                             k == 0 && (cut == 6 || cut == 12)
                                 ? 0
                                 : PROTO_ERR_TRUNCATED);
            proto_event_close(&ev);
            free(copy);
        }
    }
}
END_TEST

/* ---- Batches of runs through the ring and the file ------------------------------ */

/* Body of the batch [ops 5 from A_FIRST, call of $b, ops 7 from A_FIRST
 * again]: counts 5, 1, 7, so 13 events in 3 records, coded against {seq,
 * t_first, prev_offset 0} as the VM codes them (the second ops record's
 * offset delta is 0). t: 10, 12, 15. */
static size_t run_batch_body(uint8_t *b)
{
    uint8_t *p = b;

    *p++ = PROTO_OPS;
    p = wire_put_sv(p, 0);
    p = wire_put_sv(p, 0); /* t 10 = t_first */
    p = wire_put_sv(p, A_FIRST);
    p = wire_put_uv(p, 5);
    *p++ = PROTO_CALL;
    p = wire_put_sv(p, 0);
    p = wire_put_sv(p, 2); /* t 12 */
    p = wire_put_uv(p, 1); /* func b */
    p = wire_put_uv(p, 2); /* depth */
    p = wire_put_uv(p, 0); /* no values */
    *p++ = PROTO_OPS;
    p = wire_put_sv(p, 0);
    p = wire_put_sv(p, 3); /* t 15 */
    p = wire_put_sv(p, 0); /* A_FIRST again */
    p = wire_put_uv(p, 7);
    return (size_t)(p - b);
}

/* Event rel (0..12) of that batch, expanded, the batch starting at seq
 * base. */
static void check_expanded(const proto_event *ev, uint64_t base,
                           uint64_t rel, const vm_listing *l)
{
    uint32_t first = vm_listing_insn_at(l, A_FIRST), off = 0, opcode = 0;
    uint64_t i, seq = rel;

    ck_assert_uint_eq(ev->seq, base + rel);
    if (seq == 5) {
        ck_assert_int_eq(ev->type, PROTO_CALL);
        ck_assert_uint_eq(ev->as.call.func, 1);
        ck_assert_uint_eq(ev->t_ns, 12);
        return;
    }
    i = seq < 5 ? seq : seq - 6;
    ck_assert_int_eq(ev->type, PROTO_OP);
    ck_assert_uint_eq(ev->t_ns, seq < 5 ? 10 : 15);
    ck_assert_int_eq(vm_listing_insn(l, first + (uint32_t)i, &off, &opcode),
                     0);
    ck_assert_uint_eq(ev->as.op.offset, off);
    ck_assert_uint_eq(ev->as.op.opcode, opcode);
}

START_TEST(test_batches_count_events)
{
    proto_ring_opts ro = {.capacity = 1u << 16};
    proto_event ev, out = {.type = PROTO_OUTPUT, .t_ns = 20,
                           .as.output = {1, {"hi", 2}}};
    vm_module *m = load_runs();
    proto_code *code = code_of(m);
    vm_listing *l = NULL;
    proto_file_writer *w;
    proto_reader *rd;
    proto_ring *r;
    proto_raw raw;
    proto_raw_events it;
    uint8_t body[64];
    size_t len = run_batch_body(body);
    uint64_t first = 99, seq;
    char err[160];
    int rc;

    ck_assert_int_eq(vm_listing_new(m, &l, err, sizeof err), 0);
    proto_event_init(&ev);

    /* proto_ring_next expands the batch into its 3 records' events; the
     * event after it has seq 13. */
    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    ck_assert_int_eq(proto_ring_push_batch(r, 10, 15, body, len, 13, &first),
                     0);
    ck_assert_uint_eq(first, 0);
    ck_assert_int_eq(proto_ring_push(r, &out), 0);
    ck_assert_uint_eq(out.seq, 13);
    /* ops and steps travel in batches only: a lone push is refused */
    {
        proto_event lone = ops_ev(0, 20, A_FIRST, 2);

        ck_assert_int_eq(proto_ring_push(r, &lone), PROTO_ERR_ARG);
    }
    proto_ring_finish(r);
    ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.type, PROTO_OPS);
    ck_assert_uint_eq(ev.seq, 0);
    ck_assert_uint_eq(ev.as.ops.count, 5);
    ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.type, PROTO_CALL);
    ck_assert_uint_eq(ev.seq, 5);
    ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.type, PROTO_OPS);
    ck_assert_uint_eq(ev.seq, 6);
    ck_assert_uint_eq(ev.as.ops.offset, A_FIRST);
    ck_assert_uint_eq(proto_event_next_seq(&ev), 13);
    ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.type, PROTO_OUTPUT);
    ck_assert_uint_eq(ev.seq, 13);
    ck_assert_int_eq(proto_ring_next(r, &ev, err, sizeof err), PROTO_ERR_END);
    proto_ring_free(r);

    /* next_raw: one unit of 13 events; proto_raw_events returns 3 events
     * without a code map and 13 with one. Each batch goes to the file. */
    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(proto_ring_push_batch(r, 10, 15, body, len, 13,
                                               &first), 0);
    ck_assert_uint_eq(first, 26);
    ck_assert_int_eq(proto_ring_push(r, &out), 0);
    ck_assert_uint_eq(out.seq, 39);
    proto_ring_finish(r);
    ck_assert_int_eq(proto_file_writer_new(path, &hdr,
                                           &(proto_file_writer_opts){
                                               .chunk_bytes = 1},
                                           &w, err, sizeof err), 0);
    for (int k = 0; k < 3; k++) {
        int n = 0;

        ck_assert_int_eq(proto_ring_next_raw(r, &raw, err, sizeof err), 0);
        ck_assert_int_eq(raw.type, PROTO_BATCH);
        ck_assert_uint_eq(raw.seq, 13u * (unsigned)k);
        ck_assert_uint_eq(raw.count, 13);
        ck_assert_uint_eq(raw.next_seq, 13u * (unsigned)k + 13);
        proto_raw_events_init(&it, &raw);
        ck_assert_uint_eq(it.left, 13);
        while ((rc = proto_raw_events_next(&it, &ev, err, sizeof err)) == 0)
            n++;
        ck_assert_int_eq(rc, PROTO_ERR_END);
        ck_assert_int_eq(n, 3);
        proto_raw_events_init(&it, &raw);
        proto_raw_events_set_code(&it, code);
        for (seq = 0; (rc = proto_raw_events_next(&it, &ev, err,
                                                  sizeof err)) == 0;
             seq++)
            check_expanded(&ev, 13u * (unsigned)k, seq, l);
        ck_assert_int_eq(rc, PROTO_ERR_END);
        ck_assert_uint_eq(seq, 13);
        ck_assert_int_eq(proto_file_writer_add_raw(w, &raw, err, sizeof err),
                         0);
    }
    ck_assert_int_eq(proto_ring_next_raw(r, &raw, err, sizeof err), 0);
    ck_assert_uint_eq(raw.count, 1);
    ck_assert_int_eq(proto_file_writer_add_raw(w, &raw, err, sizeof err), 0);
    ck_assert_int_eq(proto_file_writer_free(w, err, sizeof err), 0);
    proto_ring_free(r);

    /* The file: one chunk per batch (chunk_bytes 1), counted 13 events
     * each (its header and index entry), then the output's chunk of 1. */
    {
        FILE *f = fopen(path, "rb");
        uint8_t head[PROTO_CHUNK_HEADER_LEN];
        long off = PROTO_FILE_HEADER_LEN;

        ck_assert_ptr_nonnull(f);
        for (int k = 0; k < 4; k++) {
            ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
            ck_assert_uint_eq(fread(head, 1, sizeof head, f), sizeof head);
            ck_assert_uint_eq(proto__get_u64(head + 8), 13u * (unsigned)k);
            ck_assert_uint_eq(proto__get_u32(head + 16), k < 3 ? 13 : 1);
            off += PROTO_CHUNK_HEADER_LEN + proto__get_u32(head + 4) +
                   PROTO_CHUNK_TRAILER_LEN;
        }
        fclose(f);
    }
    /* Read back without a code map: 3 events a batch; with one: 13. */
    ck_assert_int_eq(proto_reader_new(path, 0, &rd, err, sizeof err), 0);
    for (int k = 0; k < 9; k++)
        ck_assert_int_eq(proto_reader_next(rd, &ev, err, sizeof err), 0);
    ck_assert_int_eq(proto_reader_next(rd, &ev, err, sizeof err), 0);
    ck_assert_uint_eq(ev.seq, 39);
    ck_assert_int_eq(proto_reader_next(rd, &ev, err, sizeof err),
                     PROTO_ERR_END);
    proto_reader_free(rd);
    ck_assert_int_eq(proto_reader_new(path, 0, &rd, err, sizeof err), 0);
    proto_reader_set_code(rd, code);
    for (seq = 0; seq < 39; seq++) {
        ck_assert_int_eq(proto_reader_next(rd, &ev, err, sizeof err), 0);
        check_expanded(&ev, seq - seq % 13, seq % 13, l);
    }
    ck_assert_int_eq(proto_reader_next(rd, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.type, PROTO_OUTPUT);
    ck_assert_int_eq(proto_reader_next(rd, &ev, err, sizeof err),
                     PROTO_ERR_END);
    /* Seek into the middle of runs, with the map: the exact op. */
    for (seq = 0; seq < 40; seq++) {
        ck_assert_int_eq(proto_reader_seek(rd, seq, err, sizeof err), 0);
        ck_assert_int_eq(proto_reader_next(rd, &ev, err, sizeof err), 0);
        ck_assert_uint_eq(ev.seq, seq);
        if (seq < 39)
            check_expanded(&ev, seq - seq % 13, seq % 13, l);
    }
    proto_reader_free(rd);
    /* Without: the run that covers it. */
    ck_assert_int_eq(proto_reader_new(path, 0, &rd, err, sizeof err), 0);
    ck_assert_int_eq(proto_reader_seek(rd, 13 + 8, err, sizeof err), 0);
    ck_assert_int_eq(proto_reader_next(rd, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.type, PROTO_OPS);
    ck_assert_uint_eq(ev.seq, 13 + 6);
    proto_reader_free(rd);

    /* The repair count is of events too. */
    {
        proto_repair_info info;

        ck_assert_int_eq(proto_file_repair(path, &info, err, sizeof err), 0);
        ck_assert_uint_eq(info.events, 40);
        ck_assert_uint_eq(info.next_seq, 40);
        ck_assert_uint_eq(info.chunks, 4);
    }

    proto_event_close(&ev);
    vm_listing_free(l);
    proto_code_free(code);
    vm_module_free(m);
}
END_TEST

/* Events through proto_chunker_add: a chunk counts seq numbers (a loss
 * and a run count as their counts), and one that cannot count more says
 * LIMIT. */
START_TEST(test_chunker_counts_events)
{
    proto_chunker c;
    proto_chunk ch;
    proto_event evs[] = {
        ops_ev(0, 1, A_FIRST, 4),
        {.type = PROTO_LOSS, .seq = 4, .t_ns = 2, .as.loss.count = 10},
        steps_ev(14, 3, 2, 3),
        ops_ev(17, 4, B_FIRST, UINT32_MAX),
    };

    ck_assert_int_eq(proto_chunker_init(&c), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(proto_chunker_add(&c, &evs[i]), 0);
    ck_assert_uint_eq(proto_chunker_count(&c), 17);
    ck_assert_int_eq(proto_chunker_add(&c, &evs[3]), PROTO_ERR_LIMIT);
    ck_assert_int_eq(proto_chunker_seal(&c, &ch), 0);
    ck_assert_uint_eq(ch.count, 17);
    ck_assert_uint_eq(proto__get_u32(ch.idx_entry + 16), 17);
    proto_chunk_close(&ch);
    ck_assert_int_eq(proto_chunker_add(&c, &evs[3]), 0);
    ck_assert_uint_eq(proto_chunker_count(&c), UINT32_MAX);
    proto_chunker_close(&c);
    /* one that no chunk can count */
    ck_assert_int_eq(proto_chunker_init(&c), 0);
    evs[3].as.ops.count = (uint64_t)UINT32_MAX + 1;
    ck_assert_int_eq(proto_chunker_add(&c, &evs[3]), PROTO_ERR_ARG);
    proto_chunker_close(&c);
}
END_TEST

/* Raw ops records move into chunks as op records do: re-based (offset
 * delta included) while the chunk's state differs from the stream's,
 * copied after; either way they read back as the same events. */
START_TEST(test_raw_runs_rebase)
{
    proto_event evs[] = {
        {.type = PROTO_CALL, .seq = 0, .t_ns = 5, .as.call = {0, 1, {0}}},
        ops_ev(1, 6, 100, 3),
        ops_ev(4, 6, 90, 2),
        steps_ev(6, 9, 4, 2),
        {.type = PROTO_OP, .seq = 8, .t_ns = 9, .as.op = {0x20, 50}},
        ops_ev(9, 12, 60, 4),
        {.type = PROTO_LOSS, .seq = 13, .t_ns = 12, .as.loss.count = 3},
        ops_ev(16, 13, 61, 1),
    };
    size_t nev = sizeof evs / sizeof evs[0];
    uint8_t buf[512];
    size_t offs[16], len = 0;
    proto_delta d = {.prev_offset = 500, .prev_t = 1}, before[16];
    char err[160];

    /* The stream as a ring holds it: delta-coded from a state that is
     * not a chunk's. */
    for (size_t i = 0; i < nev; i++) {
        size_t k = 0;

        before[i] = d;
        offs[i] = len;
        ck_assert_int_eq(proto_encode(&d, &evs[i], buf + len,
                                      sizeof buf - len, &k), 0);
        len += k;
    }
    offs[nev] = len;
    for (size_t chunk_bytes = 1; chunk_bytes <= 4096; chunk_bytes *= 64) {
        proto_file_writer_opts wo = {.chunk_bytes = chunk_bytes};
        proto_file_writer *w;
        proto_reader *rd;
        proto_event ev;
        proto_raw raw;
        size_t n = 0;
        int rc;

        ck_assert_int_eq(proto_file_writer_new(path, &hdr, &wo, &w, err,
                                               sizeof err), 0);
        for (size_t i = 0; i < nev; i++) {
            ck_assert_int_eq(proto_raw_parse(&before[i], buf + offs[i],
                                             offs[i + 1] - offs[i], &raw, err,
                                             sizeof err), 0);
            ck_assert_uint_eq(raw.seq, evs[i].seq);
            ck_assert_uint_eq(raw.next_seq, proto_event_next_seq(&evs[i]));
            if (evs[i].type == PROTO_OPS)
                ck_assert_uint_eq(raw.offset, evs[i].as.ops.offset);
            ck_assert_int_eq(proto_file_writer_add_raw(w, &raw, err,
                                                       sizeof err), 0);
        }
        ck_assert_int_eq(proto_file_writer_free(w, err, sizeof err), 0);
        ck_assert_int_eq(proto_reader_new(path, 0, &rd, err, sizeof err), 0);
        proto_event_init(&ev);
        while ((rc = proto_reader_next(rd, &ev, err, sizeof err)) == 0) {
            ck_assert_uint_lt(n, nev);
            ck_assert_msg(proto_event_equal(&ev, &evs[n]),
                          "chunk_bytes %zu: event %zu", chunk_bytes, n);
            n++;
        }
        ck_assert_msg(rc == PROTO_ERR_END, "%s", err);
        ck_assert_uint_eq(n, nev);
        proto_event_close(&ev);
        proto_reader_free(rd);
    }
}
END_TEST

/* ---- The trace file version ------------------------------------------------ */

/* Rewrite the file header's version and the first chunk's count (both
 * checksummed). */
static void patch_file(uint16_t major, uint32_t count0)
{
    FILE *f = fopen(path, "r+b");
    uint8_t h[PROTO_FILE_HEADER_LEN], c[PROTO_CHUNK_HEADER_LEN];

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(h, 1, sizeof h, f), sizeof h);
    ck_assert_uint_eq(fread(c, 1, sizeof c, f), sizeof c);
    proto__put_u16(h + 8, major);
    proto__put_u32(h + 76, proto_crc32c(0, h, 76));
    proto__put_u32(c + 16, count0);
    proto__put_u32(c + 20, proto_crc32c(0, c, 20));
    rewind(f);
    ck_assert_uint_eq(fwrite(h, 1, sizeof h, f), sizeof h);
    ck_assert_uint_eq(fwrite(c, 1, sizeof c, f), sizeof c);
    fclose(f);
}

static int read_all(uint64_t *n, char *err, size_t errlen)
{
    proto_reader *rd;
    proto_event ev;
    int rc;

    *n = 0;
    if ((rc = proto_reader_new(path, 0, &rd, err, errlen)) < 0)
        return rc;
    proto_event_init(&ev);
    while ((rc = proto_reader_next(rd, &ev, err, errlen)) == 0)
        (*n)++;
    proto_event_close(&ev);
    proto_reader_free(rd);
    return rc;
}

START_TEST(test_file_versions)
{
    proto_event loss = {.type = PROTO_LOSS, .seq = 0, .t_ns = 1,
                        .as.loss.count = 5},
                call = {.type = PROTO_CALL, .seq = 5, .t_ns = 2,
                        .as.call = {0, 1, {NULL, 0}}},
                ops = ops_ev(6, 3, A_FIRST, 2);
    proto_file_writer *w;
    uint64_t n = 0;
    char err[200];

    /* 2.0: a loss of 5 and a call are 6 events in the chunk. */
    ck_assert_int_eq(proto_file_writer_new(path, &hdr, NULL, &w, err,
                                           sizeof err), 0);
    ck_assert_int_eq(proto_file_writer_add(w, &loss, err, sizeof err), 0);
    ck_assert_int_eq(proto_file_writer_add(w, &call, err, sizeof err), 0);
    ck_assert_int_eq(proto_file_writer_free(w, err, sizeof err), 0);
    ck_assert_int_eq(read_all(&n, err, sizeof err), PROTO_ERR_END);
    ck_assert_uint_eq(n, 2);
    /* The same records as a 1.x writer counted them (a loss is 1): read
     * as 1.x they are right, as 2.x the count is wrong. */
    patch_file(1, 2);
    ck_assert_int_eq(read_all(&n, err, sizeof err), PROTO_ERR_END);
    ck_assert_uint_eq(n, 2);
    patch_file(2, 2);
    ck_assert_int_eq(read_all(&n, err, sizeof err), PROTO_ERR_CORRUPT);
    patch_file(3, 6);
    ck_assert_int_eq(read_all(&n, err, sizeof err), PROTO_ERR_VERSION);
    ck_assert_ptr_nonnull(strstr(err, "3.0"));

    /* A run in a 1.x file is corruption: 1.x has no such records. */
    ck_assert_int_eq(proto_file_writer_new(path, &hdr, NULL, &w, err,
                                           sizeof err), 0);
    ck_assert_int_eq(proto_file_writer_add(w, &loss, err, sizeof err), 0);
    ck_assert_int_eq(proto_file_writer_add(w, &call, err, sizeof err), 0);
    ck_assert_int_eq(proto_file_writer_add(w, &ops, err, sizeof err), 0);
    ck_assert_int_eq(proto_file_writer_free(w, err, sizeof err), 0);
    ck_assert_int_eq(read_all(&n, err, sizeof err), PROTO_ERR_END);
    ck_assert_uint_eq(n, 3);
    patch_file(1, 3);
    ck_assert_int_eq(read_all(&n, err, sizeof err), PROTO_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "version 1"));
    /* A 2.x chunk whose count ends inside a run. */
    patch_file(2, 7);
    ck_assert_int_eq(read_all(&n, err, sizeof err), PROTO_ERR_CORRUPT);
}
END_TEST

/* ---- Expansion against the module -------------------------------------------- */

START_TEST(test_expand_every_op_run)
{
    vm_module *m = load_runs();
    proto_code *c = code_of(m);
    vm_listing *l = NULL;
    proto_event run, out;
    uint32_t ninsns, runs = 0;
    char err[200];

    ck_assert_int_eq(vm_listing_new(m, &l, err, sizeof err), 0);
    ninsns = vm_listing_insn_count(l);
    ck_assert_uint_eq(proto_code_insn_count(c), ninsns);
    ck_assert_uint_eq(ninsns, 9 + 4 + 5);
    ck_assert_uint_eq(proto_code_point_count(c), 0);
    proto_event_init(&out);
    /* Every run of every start and length inside one body expands to the
     * listing's instructions; one more is past the body's end. */
    for (uint32_t s = 0; s < ninsns; s++) {
        uint32_t func = vm_listing_insn_func(l, s), soff = 0, e = s;

        ck_assert_int_eq(vm_listing_insn(l, s, &soff, NULL), 0);
        while (e + 1 < ninsns && vm_listing_insn_func(l, e + 1) == func)
            e++;
        for (uint64_t count = 1; count <= e - s + 1u; count++) {
            run = ops_ev(100 + s, 7, soff, count);
            for (uint64_t i = 0; i < count; i++) {
                uint32_t off = 0, opcode = 0;

                ck_assert_int_eq(proto_code_expand(c, &run, i, &out, err,
                                                   sizeof err), 0);
                ck_assert_int_eq(vm_listing_insn(l, s + (uint32_t)i, &off,
                                                 &opcode), 0);
                ck_assert_int_eq(out.type, PROTO_OP);
                ck_assert_uint_eq(out.seq, 100 + s + i);
                ck_assert_uint_eq(out.t_ns, 7);
                ck_assert_uint_eq(out.as.op.offset, off);
                ck_assert_uint_eq(out.as.op.opcode, opcode);
            }
            runs++;
        }
        run = ops_ev(100 + s, 7, soff, e - s + 2u);
        ck_assert_int_eq(proto_code_expand(c, &run, 0, &out, err, sizeof err),
                         PROTO_ERR_MALFORMED);
        ck_assert_ptr_nonnull(strstr(err, "past the end of function"));
        ck_assert_ptr_nonnull(strstr(err, "seq"));
    }
    ck_assert_uint_eq(runs, 9 * 10 / 2 + 4 * 5 / 2 + 5 * 6 / 2);

    /* The prefixed opcode comes out in PROTO_OPCODE form. */
    run = ops_ev(0, 0, C_FIRST, 5);
    ck_assert_int_eq(proto_code_expand(c, &run, 1, &out, err, sizeof err), 0);
    ck_assert_uint_eq(out.as.op.opcode, PROTO_OPCODE(0xfc, 0));
    ck_assert_uint_eq(out.as.op.offset, C_FIRST + 5);
    ck_assert_int_eq(proto_code_expand(c, &run, 4, &out, err, sizeof err), 0);
    ck_assert_uint_eq(out.as.op.opcode, 0x0b);

    /* Mid-instruction (i32.const's immediate), between bodies, past the
     * module: malformed, named by offset. */
    run = ops_ev(3, 0, A_FIRST + 3, 1);
    ck_assert_int_eq(proto_code_expand(c, &run, 0, &out, err, sizeof err),
                     PROTO_ERR_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err, "offset 34"));
    ck_assert_ptr_nonnull(strstr(err, "seq 3"));
    run = ops_ev(3, 0, A_END + 1, 1);
    ck_assert_int_eq(proto_code_expand(c, &run, 0, &out, err, sizeof err),
                     PROTO_ERR_MALFORMED);
    run = ops_ev(3, 0, UINT32_MAX, 1);
    ck_assert_int_eq(proto_code_expand(c, &run, 0, &out, err, sizeof err),
                     PROTO_ERR_MALFORMED);
    /* $a's last 2 and $b's first: crosses a function end */
    run = ops_ev(3, 0, A_END - 2, 3);
    ck_assert_int_eq(proto_code_expand(c, &run, 0, &out, err, sizeof err),
                     PROTO_ERR_MALFORMED);
    /* A count beyond the module. */
    run = ops_ev(3, 0, A_FIRST, UINT64_MAX / 2);
    ck_assert_int_eq(proto_code_expand(c, &run, 0, &out, err, sizeof err),
                     PROTO_ERR_MALFORMED);

    /* Arguments: i out of range, another type. */
    run = ops_ev(3, 0, A_FIRST, 2);
    ck_assert_int_eq(proto_code_expand(c, &run, 2, &out, err, sizeof err),
                     PROTO_ERR_ARG);
    run.type = PROTO_OP;
    ck_assert_int_eq(proto_code_expand(c, &run, 0, &out, err, sizeof err),
                     PROTO_ERR_ARG);
    /* No DWARF: steps do not fit. */
    run = steps_ev(3, 0, 0, 1);
    ck_assert_int_eq(proto_code_expand(c, &run, 0, &out, err, sizeof err),
                     PROTO_ERR_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err, "no DWARF"));

    proto_event_close(&out);
    vm_listing_free(l);
    proto_code_free(c);
    vm_module_free(m);
}
END_TEST

/* A run that does not fit the module stops the iterators with the map's
 * error; the raw iterator after a good run continues. */
START_TEST(test_iterators_refuse_bad_runs)
{
    vm_module *m = load_runs();
    proto_code *c = code_of(m);
    proto_file_writer *w;
    proto_reader *rd;
    proto_event ev, evs[] = {ops_ev(0, 1, B_FIRST, 4),
                             ops_ev(4, 2, A_END - 1, 3)};
    char err[200];

    ck_assert_int_eq(proto_file_writer_new(path, &hdr, NULL, &w, err,
                                           sizeof err), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(proto_file_writer_add(w, &evs[i], err, sizeof err),
                         0);
    ck_assert_int_eq(proto_file_writer_free(w, err, sizeof err), 0);
    ck_assert_int_eq(proto_reader_new(path, 0, &rd, err, sizeof err), 0);
    proto_reader_set_code(rd, c);
    proto_event_init(&ev);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(proto_reader_next(rd, &ev, err, sizeof err), 0);
        ck_assert_int_eq(ev.type, PROTO_OP);
        ck_assert_uint_eq(ev.seq, (unsigned)i);
    }
    ck_assert_int_eq(ev.as.op.opcode, 0x0b); /* $b's end */
    ck_assert_int_eq(proto_reader_next(rd, &ev, err, sizeof err),
                     PROTO_ERR_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err, "seq 4"));
    /* set_code(NULL): the runs as they are */
    proto_reader_set_code(rd, NULL);
    ck_assert_int_eq(proto_reader_seek(rd, 5, err, sizeof err), 0);
    ck_assert_int_eq(proto_reader_next(rd, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.type, PROTO_OPS);
    ck_assert_uint_eq(ev.seq, 4);
    proto_reader_free(rd);
    proto_event_close(&ev);
    proto_code_free(c);
    vm_module_free(m);
}
END_TEST

/* ---- Step runs with DWARF ------------------------------------------------------ */

typedef struct dmod {
    uint8_t *bytes;
    size_t len;
    vm_module *m;
    vm_debug *d;
} dmod;

/* TRACED_DEBUG_WASM_DIR/types-v5.wasm (clang -g); false when it was not
 * built (no wasm32 clang): skipped, except under CI=1. */
static bool dmod_load(dmod *p)
{
    char file[1024], err[256] = "";
    const char *ci = getenv("CI");
    FILE *f;
    long size;

    memset(p, 0, sizeof *p);
    snprintf(file, sizeof file, "%s/types-v5.wasm", TRACED_DEBUG_WASM_DIR);
    f = fopen(file, "rb");
    if (!f) {
        ck_assert_msg(!(ci && strcmp(ci, "1") == 0), "%s missing", file);
        fprintf(stderr, "runs dwarf: SKIPPED: %s was not built\n", file);
        return false;
    }
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    rewind(f);
    p->bytes = malloc((size_t)size);
    ck_assert_uint_eq(fread(p->bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    p->len = (size_t)size;
    ck_assert_msg(vm_module_new(p->bytes, p->len, NULL, &p->m, err,
                                sizeof err) == 0, "%s", err);
    ck_assert_int_eq(vm_debug_new(p->m, &p->d, err, sizeof err), 0);
    return true;
}

static void dmod_free(dmod *p)
{
    vm_debug_free(p->d);
    vm_module_free(p->m);
    free(p->bytes);
}

START_TEST(test_expand_step_runs)
{
    const vm_debug_row *rows;
    proto_event run, out;
    proto_code *c;
    size_t nrows = 0;
    char err[200];
    dmod dm;

    if (!dmod_load(&dm))
        return;
    rows = vm_debug_steps(dm.d, &nrows);
    ck_assert_uint_gt(nrows, 4);
    c = code_of(dm.m);
    ck_assert_uint_eq(proto_code_point_count(c), nrows);
    proto_event_init(&out);
    /* Row i is point i: every point as a run of its own, and the whole
     * table as one run. */
    run = steps_ev(1000, 9, 0, nrows);
    for (size_t i = 0; i < nrows; i++) {
        proto_event one = steps_ev(50 + i, 3, (uint32_t)i, 1);

        ck_assert_int_eq(proto_code_expand(c, &run, i, &out, err, sizeof err),
                         0);
        ck_assert_int_eq(out.type, PROTO_STEP);
        ck_assert_uint_eq(out.seq, 1000 + i);
        ck_assert_uint_eq(out.t_ns, 9);
        ck_assert_uint_eq(out.as.step.file, rows[i].file);
        ck_assert_uint_eq(out.as.step.line, rows[i].line);
        ck_assert_uint_eq(out.as.step.column, rows[i].column);
        ck_assert_int_eq(proto_code_expand(c, &one, 0, &out, err, sizeof err),
                         0);
        ck_assert_uint_eq(out.seq, 50 + i);
        ck_assert_uint_eq(out.as.step.line, rows[i].line);
    }
    /* One point too many, a point past the table. */
    run = steps_ev(7, 0, 1, nrows);
    ck_assert_int_eq(proto_code_expand(c, &run, 0, &out, err, sizeof err),
                     PROTO_ERR_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err, "seq 7"));
    run = steps_ev(7, 0, (uint32_t)nrows, 1);
    ck_assert_int_eq(proto_code_expand(c, &run, 0, &out, err, sizeof err),
                     PROTO_ERR_MALFORMED);
    /* The same module expands op runs too. */
    {
        vm_listing *l = NULL;
        uint32_t off = 0, opcode = 0;

        ck_assert_int_eq(vm_listing_new(dm.m, &l, err, sizeof err), 0);
        ck_assert_uint_eq(proto_code_insn_count(c), vm_listing_insn_count(l));
        ck_assert_int_eq(vm_listing_insn(l, 0, &off, &opcode), 0);
        run = ops_ev(0, 0, off, 1);
        ck_assert_int_eq(proto_code_expand(c, &run, 0, &out, err, sizeof err),
                         0);
        ck_assert_uint_eq(out.as.op.opcode, opcode);
        vm_listing_free(l);
    }
    proto_event_close(&out);
    proto_code_free(c);
    dmod_free(&dm);
}
END_TEST

/* ---- CodeTracer: runs and their expansion make the same trace ------------------ */

#define MAX_EVS 16384

typedef struct evlist {
    proto_event evs[MAX_EVS];
    size_t n;
} evlist;

static proto_event *add(evlist *l, proto_event ev)
{
    ck_assert_uint_lt(l->n, MAX_EVS);
    l->evs[l->n] = ev;
    return &l->evs[l->n++];
}

/* The stream with every run expanded (by hand, from the listing or the
 * DWARF rows: not by proto_code). */
static void expand_by_hand(const evlist *runs, evlist *out,
                           const vm_listing *l, const vm_debug_row *rows)
{
    out->n = 0;
    for (size_t k = 0; k < runs->n; k++) {
        const proto_event *ev = &runs->evs[k];

        if (ev->type == PROTO_OPS) {
            uint32_t first = vm_listing_insn_at(l, ev->as.ops.offset);

            ck_assert_uint_ne(first, UINT32_MAX);
            for (uint64_t i = 0; i < ev->as.ops.count; i++) {
                proto_event op = {.type = PROTO_OP, .seq = ev->seq + i,
                                  .t_ns = ev->t_ns};

                ck_assert_int_eq(vm_listing_insn(l, first + (uint32_t)i,
                                                 &op.as.op.offset,
                                                 &op.as.op.opcode), 0);
                add(out, op);
            }
        } else if (ev->type == PROTO_STEPS) {
            for (uint64_t i = 0; i < ev->as.steps.count; i++) {
                const vm_debug_row *r = &rows[ev->as.steps.point + i];

                add(out, (proto_event){.type = PROTO_STEP,
                                       .seq = ev->seq + i, .t_ns = ev->t_ns,
                                       .as.step = {r->file, r->line,
                                                   r->column}});
            }
        } else {
            add(out, *ev);
        }
    }
}

/* trace.json of a CodeTracer directory, whole. */
static char *slurp(const char *file, size_t *len)
{
    FILE *f = fopen(file, "rb");
    char *buf;
    long size;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    rewind(f);
    buf = malloc((size_t)size + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/* The trace of l in dir/ct (the same directory each time, as trace.json
 * names its files by absolute path), read back whole. */
static char *write_ct(const vm_module *m, const evlist *l, size_t *len)
{
    proto_ct_opts opts = {.program = "runs.wasm", .workdir = "/w"};
    proto_ct_writer *w;
    char ct[192], file[256], err[256] = "";
    char *text;

    snprintf(ct, sizeof ct, "%s/ct", dir);
    ck_assert_msg(proto_ct_writer_new(ct, m, &opts, &w, err, sizeof err) == 0,
                  "%s", err);
    for (size_t i = 0; i < l->n; i++)
        ck_assert_msg(proto_ct_writer_add(w, &l->evs[i], err, sizeof err) == 0,
                      "event %zu: %s", i, err);
    ck_assert_int_eq(proto_ct_writer_free(w, err, sizeof err), 0);
    snprintf(file, sizeof file, "%s/trace.json", ct);
    text = slurp(file, len);
    return text;
}

static const proto_str run_args[] = {{"runs.wasm", 9}};

START_TEST(test_codetracer_runs_equal_expanded)
{
    static evlist runs, flat;
    vm_module *m = load_runs();
    vm_listing *l = NULL;
    size_t len_runs = 0, len_flat = 0, nsteps;
    char *a, *b, err[200];
    uint64_t seq = 0;

    ck_assert_int_eq(vm_listing_new(m, &l, err, sizeof err), 0);
    runs.n = 0;
    add(&runs, (proto_event){.type = PROTO_RUN_START, .seq = seq++,
                             .as.run_start = {.level = PROTO_LEVEL_OPS,
                                              .module = {"runs.wasm", 9},
                                              .argv = run_args, .argc = 1}});
    add(&runs, (proto_event){.type = PROTO_CALL, .seq = seq++, .t_ns = 1,
                             .as.call = {0, 1, {NULL, 0}}});
    add(&runs, ops_ev(seq, 2, A_FIRST, 8));
    seq += 8;
    add(&runs, (proto_event){.type = PROTO_CALL, .seq = seq++, .t_ns = 3,
                             .as.call = {1, 2, {NULL, 0}}});
    add(&runs, ops_ev(seq, 4, B_FIRST, 4));
    seq += 4;
    add(&runs, (proto_event){.type = PROTO_RETURN, .seq = seq++, .t_ns = 5,
                             .as.ret = {1, 2, {NULL, 0}}});
    add(&runs, ops_ev(seq, 6, A_END, 1));
    seq += 1;
    add(&runs, (proto_event){.type = PROTO_RETURN, .seq = seq++, .t_ns = 7,
                             .as.ret = {0, 1, {NULL, 0}}});
    add(&runs, (proto_event){.type = PROTO_RUN_END, .seq = seq++, .t_ns = 8,
                             .as.run_end = {.status = PROTO_STATUS_OK}});
    expand_by_hand(&runs, &flat, l, NULL);
    ck_assert_uint_eq(flat.n, runs.n - 3 + 13);
    a = write_ct(m, &runs, &len_runs);
    b = write_ct(m, &flat, &len_flat);
    ck_assert_uint_eq(len_runs, len_flat);
    ck_assert(memcmp(a, b, len_runs) == 0);
    /* ...and the Steps are there: one per op. */
    nsteps = 0;
    for (const char *p = a; (p = strstr(p, "{\"Step\"")); p++)
        nsteps++;
    ck_assert_uint_ge(nsteps, 13);
    free(a);
    free(b);

    /* A run that does not fit: refused, and the writer goes on. */
    {
        proto_ct_writer *w;
        proto_event bad = ops_ev(3, 2, A_FIRST + 1, 1);
        char ct[192];

        snprintf(ct, sizeof ct, "%s/bad", dir);
        ck_assert_int_eq(proto_ct_writer_new(ct, m, NULL, &w, err, sizeof err),
                         0);
        for (size_t i = 0; i < 2; i++)
            ck_assert_int_eq(proto_ct_writer_add(w, &runs.evs[i], err,
                                                 sizeof err), 0);
        ck_assert_int_eq(proto_ct_writer_add(w, &bad, err, sizeof err),
                         PROTO_ERR_MALFORMED);
        ck_assert_int_eq(proto_ct_writer_add(w, &runs.evs[2], err,
                                             sizeof err), 0);
        ck_assert_int_eq(proto_ct_writer_free(w, err, sizeof err), 0);
    }
    vm_listing_free(l);
    vm_module_free(m);
}
END_TEST

START_TEST(test_codetracer_step_runs_equal_expanded)
{
    static evlist runs, flat;
    static proto_str files[256];
    const vm_debug_row *rows;
    size_t nrows = 0, len_runs = 0, len_flat = 0;
    uint32_t nfiles, main_func = UINT32_MAX;
    vm_listing *l = NULL;
    char *a, *b, err[200];
    uint64_t seq = 0;
    dmod dm;

    if (!dmod_load(&dm))
        return;
    rows = vm_debug_steps(dm.d, &nrows);
    ck_assert_uint_gt(nrows, 6);
    nfiles = vm_debug_file_count(dm.d);
    ck_assert_uint_le(nfiles, 256);
    for (uint32_t i = 0; i < nfiles; i++) {
        const char *fp = vm_debug_file_path(dm.d, i);

        files[i] = (proto_str){fp, (uint32_t)strlen(fp)};
    }
    for (uint32_t i = 0; i < vm_debug_subprogram_count(dm.d); i++) {
        const vm_debug_subprogram *sp = vm_debug_subprogram_get(dm.d, i);

        if (sp->name && strcmp(sp->name, "main") == 0)
            main_func = sp->func_idx;
    }
    ck_assert_uint_ne(main_func, UINT32_MAX);
    ck_assert_int_eq(vm_listing_new(dm.m, &l, err, sizeof err), 0);
    runs.n = 0;
    add(&runs, (proto_event){.type = PROTO_RUN_START, .seq = seq++,
                             .as.run_start = {.level = PROTO_LEVEL_LINES,
                                              .module = {"types.wasm", 10},
                                              .argv = run_args, .argc = 1,
                                              .files = files,
                                              .nfiles = nfiles}});
    add(&runs, (proto_event){.type = PROTO_CALL, .seq = seq++, .t_ns = 1,
                             .as.call = {main_func, 1, {NULL, 0}}});
    add(&runs, steps_ev(seq, 2, 0, 3));
    seq += 3;
    add(&runs, (proto_event){.type = PROTO_OUTPUT, .seq = seq++, .t_ns = 3,
                             .as.output = {1, {"x\n", 2}}});
    add(&runs, steps_ev(seq, 4, 3, (uint64_t)nrows - 3));
    seq += nrows - 3;
    add(&runs, (proto_event){.type = PROTO_RETURN, .seq = seq++, .t_ns = 5,
                             .as.ret = {main_func, 1, {NULL, 0}}});
    add(&runs, (proto_event){.type = PROTO_RUN_END, .seq = seq++, .t_ns = 6,
                             .as.run_end = {.status = PROTO_STATUS_OK}});
    expand_by_hand(&runs, &flat, l, rows);
    ck_assert_uint_eq(flat.n, runs.n - 2 + nrows);
    a = write_ct(dm.m, &runs, &len_runs);
    b = write_ct(dm.m, &flat, &len_flat);
    ck_assert_uint_eq(len_runs, len_flat);
    ck_assert(memcmp(a, b, len_runs) == 0);
    ck_assert_ptr_nonnull(strstr(a, "{\"Step\""));
    free(a);
    free(b);
    vm_listing_free(l);
    dmod_free(&dm);
}
END_TEST

Suite *runs_suite(void)
{
    Suite *s = suite_create("runs");
    TCase *tc = tcase_create("runs");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_documented_bytes);
    tcase_add_test(tc, test_binary_and_json_round_trip);
    tcase_add_test(tc, test_json_rejects);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_truncated_everywhere);
    tcase_add_test(tc, test_batches_count_events);
    tcase_add_test(tc, test_chunker_counts_events);
    tcase_add_test(tc, test_raw_runs_rebase);
    tcase_add_test(tc, test_file_versions);
    tcase_add_test(tc, test_expand_every_op_run);
    tcase_add_test(tc, test_iterators_refuse_bad_runs);
    tcase_add_test(tc, test_expand_step_runs);
    tcase_add_test(tc, test_codetracer_runs_equal_expanded);
    tcase_add_test(tc, test_codetracer_step_runs_equal_expanded);
    suite_add_tcase(s, tc);
    return s;
}
