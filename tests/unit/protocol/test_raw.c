/* The raw record path: ring records moved into file chunks without being
 * decoded (proto_raw_parse, proto_chunker_add_raw, proto_ring_next_raw),
 * frames pushed straight from VM slots (proto_ring_push_frame), and the
 * hardware CRC32C against the portable one. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto_int.h"
#include "ring_harness.h"
#include "samples.h"
#include "suites.h"
#include "traced/proto_ring.h"

static char dir[64], path[128];

static void setup(void)
{
    samples_tmp_make("raw", dir, sizeof dir, path, sizeof path);
}

static void teardown(void)
{
    samples_tmp_remove(dir);
}

static const proto_file_header hdr = {
    .run_id = 42, .wall_ns = 1, .level = PROTO_LEVEL_OPS,
};

/*
 * Event i of a stream with gaps covered by loss events: every 97th event
 * is a loss event covering 1 + i % 5 seqs. *seq is the stream position
 * and advances past the event.
 */
static void gen(uint64_t i, uint64_t *seq, proto_event *ev, proto_val *vals,
                char *bytes)
{
    ring_harness_event(i, ev, vals, bytes);
    if (i % 97 == 50) {
        memset(ev, 0, sizeof *ev);
        ev->type = PROTO_LOSS;
        ev->t_ns = i;
        ev->as.loss.count = 1 + i % 5;
    }
    ev->seq = *seq;
    *seq = proto_event_next_seq(ev);
}

/* Encode n generated events as the ring would (one delta state from
 * zero, records back to back), remembering where each record starts. */
static uint8_t *encode_stream(uint64_t n, size_t *starts)
{
    uint8_t *buf = malloc(n * 256 + 1);
    proto_delta d;
    proto_val vals[8];
    char bytes[64];
    proto_event ev;
    uint64_t seq = 0;
    size_t at = 0, len;

    ck_assert_ptr_nonnull(buf);
    proto_delta_reset(&d);
    for (uint64_t i = 0; i < n; i++) {
        gen(i, &seq, &ev, vals, bytes);
        starts[i] = at;
        ck_assert_int_eq(proto_encode(&d, &ev, buf + at, 256, &len), 0);
        at += len;
    }
    starts[n] = at;
    return buf;
}

/* Chunks sealed at the same points through both paths are the same
 * bytes, across many chunk boundaries (each chunk re-bases its first
 * record and its first op), with loss events and op offsets. */
START_TEST(test_chunker_raw_equals_event_path)
{
    enum { N = 3000 };
    size_t *starts = malloc((N + 1) * sizeof *starts);
    uint8_t *stream = encode_stream(N, starts);
    proto_chunker a, b;
    proto_delta d;
    proto_raw raw;
    proto_val vals[8];
    char bytes[64], err[128];
    proto_event ev;
    uint64_t seq = 0, chunks = 0;

    proto_chunker_init(&a);
    proto_chunker_init(&b);
    proto_delta_reset(&d);
    for (uint64_t i = 0; i < N; i++) {
        gen(i, &seq, &ev, vals, bytes);
        ck_assert_int_eq(proto_raw_parse(&d, stream + starts[i],
                                         starts[i + 1] - starts[i], &raw,
                                         err, sizeof err), 0);
        ck_assert_int_eq(raw.type, ev.type);
        ck_assert_uint_eq(raw.seq, ev.seq);
        ck_assert_uint_eq(raw.t_ns, ev.t_ns);
        ck_assert_uint_eq(raw.next_seq, proto_event_next_seq(&ev));
        if (ev.type == PROTO_OP)
            ck_assert_uint_eq(raw.offset, ev.as.op.offset);
        proto_raw_advance(&d, &raw);
        ck_assert_int_eq(proto_chunker_add_raw(&a, &raw), 0);
        ck_assert_int_eq(proto_chunker_add(&b, &ev), 0);
        ck_assert_uint_eq(proto_chunker_pending(&a), proto_chunker_pending(&b));
        /* Seal at varying sizes, sometimes after a single record. */
        if (proto_chunker_pending(&a) >= 64 + (i * 7) % 400 || i % 211 == 0) {
            proto_chunk ca, cb;

            ck_assert_int_eq(proto_chunker_seal(&a, &ca), 0);
            ck_assert_int_eq(proto_chunker_seal(&b, &cb), 0);
            ck_assert_uint_eq(ca.len, cb.len);
            ck_assert_uint_eq(ca.offset, cb.offset);
            ck_assert_uint_eq(ca.count, cb.count);
            ck_assert(memcmp(ca.data, cb.data, ca.len) == 0);
            ck_assert(memcmp(ca.idx_entry, cb.idx_entry, sizeof ca.idx_entry) == 0);
            proto_chunk_close(&ca);
            proto_chunk_close(&cb);
            chunks++;
        }
    }
    ck_assert_uint_gt(chunks, 50);
    /* A raw record that does not continue the stream is refused. */
    ck_assert_int_eq(proto_chunker_add_raw(&a, &raw), PROTO_ERR_ARG);
    proto_chunker_close(&a);
    proto_chunker_close(&b);
    free(stream);
    free(starts);
}
END_TEST

/* A file written through the raw path reads back as the events. */
START_TEST(test_file_raw_round_trip)
{
    enum { N = 5000 };
    size_t *starts = malloc((N + 1) * sizeof *starts);
    uint8_t *stream = encode_stream(N, starts);
    proto_file_writer_opts o = {.chunk_bytes = 700};
    proto_file_writer *w;
    proto_reader *rd;
    proto_delta d;
    proto_raw raw;
    proto_val vals[8];
    char bytes[64], err[160];
    proto_event ev, want;
    uint64_t seq = 0;
    int rc;

    ck_assert_int_eq(proto_file_writer_new(path, &hdr, &o, &w, err, sizeof err), 0);
    proto_delta_reset(&d);
    for (uint64_t i = 0; i < N; i++) {
        ck_assert_int_eq(proto_raw_parse(&d, stream + starts[i],
                                         starts[i + 1] - starts[i], &raw,
                                         err, sizeof err), 0);
        proto_raw_advance(&d, &raw);
        ck_assert_int_eq(proto_file_writer_add_raw(w, &raw, err, sizeof err), 0);
    }
    ck_assert_int_eq(proto_file_writer_free(w, err, sizeof err), 0);

    ck_assert_int_eq(proto_reader_new(path, 0, &rd, err, sizeof err), 0);
    proto_event_init(&ev);
    for (uint64_t i = 0; i < N; i++) {
        gen(i, &seq, &want, vals, bytes);
        rc = proto_reader_next(rd, &ev, err, sizeof err);
        ck_assert_msg(rc == 0, "event %llu: %s", (unsigned long long)i, err);
        ck_assert_msg(proto_event_equal(&ev, &want), "event %llu differs",
                      (unsigned long long)i);
    }
    ck_assert_int_eq(proto_reader_next(rd, &ev, err, sizeof err), PROTO_ERR_END);
    /* Seeking uses the chunks' first seqs: into a loss event's range. */
    ck_assert_int_eq(proto_reader_seek(rd, 50, err, sizeof err), 0);
    ck_assert_int_eq(proto_reader_next(rd, &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev.type, PROTO_LOSS);
    ck_assert_uint_eq(ev.seq, 50);
    proto_event_close(&ev);
    proto_reader_free(rd);
    free(stream);
    free(starts);
}
END_TEST

/* Through a real lossy ring: what next_raw moves into the file is what
 * next would have decoded, loss events included. */
START_TEST(test_ring_raw_to_file)
{
    proto_ring_opts ro = {.capacity = 4096, .lossy = true};
    proto_file_writer_opts o = {.chunk_bytes = 300};
    proto_file_writer *w;
    proto_reader *rd;
    proto_ring *r;
    proto_raw raw;
    proto_val vals[8];
    char bytes[64], err[160];
    proto_event ev, out, *sent = calloc(4000, sizeof *sent);
    proto_val(*sent_vals)[8] = calloc(4000, sizeof *sent_vals);
    char(*sent_bytes)[64] = calloc(4000, sizeof *sent_bytes);
    uint64_t nsent = 0, losses = 0, events = 0;
    int rc;

    ck_assert_int_eq(proto_ring_new(&ro, &r), 0);
    ck_assert_int_eq(proto_file_writer_new(path, &hdr, &o, &w, err, sizeof err), 0);
    for (uint64_t i = 0; i < 4000; i++) {
        ring_harness_event(i, &sent[i], sent_vals[i], sent_bytes[i]);
        /* A trap is never dropped: push would wait for this thread to
         * drain. Drain first. */
        if (sent[i].type == PROTO_TRAP) {
            proto_ring_flush(r);
            while (proto_ring_next_raw(r, &raw, err, sizeof err) == 0)
                ck_assert_int_eq(proto_file_writer_add_raw(w, &raw, err, sizeof err), 0);
        }
        rc = proto_ring_push(r, &sent[i]);
        ck_assert(rc == 0 || rc == PROTO_ERR_FULL);
        nsent++;
        /* Drain now and then: the ring fills in between, so it drops. */
        if (i % 300 == 299) {
            proto_ring_flush(r);
            while ((rc = proto_ring_next_raw(r, &raw, err, sizeof err)) == 0)
                ck_assert_int_eq(proto_file_writer_add_raw(w, &raw, err, sizeof err), 0);
            ck_assert_int_eq(rc, PROTO_ERR_AGAIN);
        }
    }
    ck_assert_int_eq(proto_ring_finish(r), 0);
    while ((rc = proto_ring_next_raw(r, &raw, err, sizeof err)) == 0)
        ck_assert_int_eq(proto_file_writer_add_raw(w, &raw, err, sizeof err), 0);
    ck_assert_int_eq(rc, PROTO_ERR_END);
    ck_assert_int_eq(proto_file_writer_free(w, err, sizeof err), 0);

    /* Every seq once: delivered events equal what was pushed. */
    ck_assert_int_eq(proto_reader_new(path, 0, &rd, err, sizeof err), 0);
    proto_event_init(&out);
    for (uint64_t seq = 0; seq < nsent;) {
        rc = proto_reader_next(rd, &out, err, sizeof err);
        ck_assert_msg(rc == 0, "%s", err);
        ck_assert_uint_eq(out.seq, seq);
        if (out.type == PROTO_LOSS) {
            losses++;
            seq += out.as.loss.count;
            continue;
        }
        ev = sent[seq];
        ck_assert_msg(proto_event_equal(&out, &ev), "seq %llu differs",
                      (unsigned long long)seq);
        events++;
        seq++;
    }
    ck_assert_int_eq(proto_reader_next(rd, &out, err, sizeof err), PROTO_ERR_END);
    ck_assert_uint_gt(losses, 0);
    ck_assert_uint_gt(events, 1000);
    (void)vals;
    (void)bytes;
    proto_event_close(&out);
    proto_reader_free(rd);
    proto_ring_free(r);
    free(sent);
    free(sent_vals);
    free(sent_bytes);
}
END_TEST

/* next and next_raw share the consumer's delta state. */
START_TEST(test_next_and_next_raw_mix)
{
    proto_ring *r;
    proto_raw raw;
    proto_val vals[8];
    char bytes[64], err[128];
    proto_event ev, out;

    ck_assert_int_eq(proto_ring_new(NULL, &r), 0);
    for (uint64_t i = 0; i < 500; i++) {
        ring_harness_event(i, &ev, vals, bytes);
        ck_assert_int_eq(proto_ring_push(r, &ev), 0);
    }
    proto_ring_finish(r);
    proto_event_init(&out);
    for (uint64_t i = 0; i < 500; i++) {
        ring_harness_event(i, &ev, vals, bytes);
        ev.seq = i;
        if (i % 3 == 0) {
            ck_assert_int_eq(proto_ring_next(r, &out, err, sizeof err), 0);
        } else {
            ck_assert_int_eq(proto_ring_next_raw(r, &raw, err, sizeof err), 0);
            ck_assert_uint_eq(raw.seq, i);
            ck_assert_int_eq(proto_raw_decode(&raw, &out, err, sizeof err), 0);
        }
        ck_assert_msg(proto_event_equal(&out, &ev), "event %llu",
                      (unsigned long long)i);
    }
    ck_assert_int_eq(proto_ring_next_raw(r, &raw, err, sizeof err), PROTO_ERR_END);
    proto_event_close(&out);
    proto_ring_free(r);
}
END_TEST

START_TEST(test_raw_parse_rejects)
{
    static const struct {
        const char *what;
        uint8_t bytes[16];
        size_t len;
        int rc;
    } bad[] = {
        {"empty", {0}, 0, PROTO_ERR_TRUNCATED},
        {"unknown type", {0x7e, 0, 0}, 3, PROTO_ERR_MALFORMED},
        {"seq varint cut", {PROTO_CALL, 0x80}, 2, PROTO_ERR_MALFORMED},
        {"no time", {PROTO_CALL, 0}, 2, PROTO_ERR_MALFORMED},
        {"op without offset", {PROTO_OP, 0, 0, 0x41}, 4, PROTO_ERR_MALFORMED},
        {"op without opcode", {PROTO_OP, 0, 0}, 3, PROTO_ERR_MALFORMED},
        {"op trailing byte", {PROTO_OP, 0, 0, 0x41, 2, 0}, 6, PROTO_ERR_MALFORMED},
        {"op sub-opcode >= 2^24", {PROTO_OP, 0, 0, 0xfd, 0x80, 0x80, 0x80, 0x08, 0},
         9, PROTO_ERR_MALFORMED},
        {"loss of zero", {PROTO_LOSS, 0, 0, 0}, 4, PROTO_ERR_MALFORMED},
        {"seq varint of 11 bytes",
         {PROTO_CALL, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0},
         12, PROTO_ERR_MALFORMED},
    };
    proto_delta d;
    proto_raw raw;
    char err[128];

    proto_delta_reset(&d);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        ck_assert_msg(proto_raw_parse(&d, bad[i].bytes, bad[i].len, &raw, err,
                                      sizeof err) == bad[i].rc,
                      "%s", bad[i].what);
        ck_assert_msg(err[0], "%s: no message", bad[i].what);
    }
    /* The documented example record parses (docs/protocol.md). */
    {
        static const uint8_t op[] = {0x06, 0x00, 0x06, 0x41, 0xa4, 0x13};

        d.next_seq = 6;
        d.prev_t = 100;
        ck_assert_int_eq(proto_raw_parse(&d, op, sizeof op, &raw, err, sizeof err), 0);
        ck_assert_uint_eq(raw.seq, 6);
        ck_assert_uint_eq(raw.t_ns, 103);
        ck_assert_uint_eq(raw.offset, 1234);
        ck_assert_uint_eq(raw.offset_at, 4);
    }
}
END_TEST

/* Arbitrary bytes: an answer, never a read outside the buffer (the ASan
 * build checks that), and a header that parses is consistent with the
 * full decode whenever that succeeds. */
START_TEST(test_raw_parse_random_bytes)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    proto_event ev;
    proto_delta d = {.next_seq = 100, .prev_t = 1000, .prev_offset = 5000};
    proto_raw raw;
    int parsed = 0, decoded = 0;

    proto_event_init(&ev);
    for (int i = 0; i < 200000; i++) {
        size_t len = (size_t)(i % 24);
        uint8_t *buf = malloc(len ? len : 1);
        int rc;

        for (size_t k = 0; k < len; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[k] = (uint8_t)x;
        }
        /* Mostly valid type bytes and short varints, to get past them. */
        if (len && i % 4)
            buf[0] = (uint8_t)(1 + (x >> 20) % 12);
        for (size_t k = 1; k < len && k < 3 && i % 8; k++)
            buf[k] &= 0x7f;
        rc = proto_raw_parse(&d, buf, len, &raw, NULL, 0);
        ck_assert(rc == 0 || rc == PROTO_ERR_TRUNCATED ||
                  rc == PROTO_ERR_MALFORMED);
        if (rc == 0) {
            parsed++;
            ck_assert_uint_le(raw.body, len);
            if (proto_raw_decode(&raw, &ev, NULL, 0) == 0) {
                decoded++;
                ck_assert_int_eq(ev.type, raw.type);
                ck_assert_uint_eq(ev.seq, raw.seq);
                ck_assert_uint_eq(ev.t_ns, raw.t_ns);
                ck_assert_uint_eq(proto_event_next_seq(&ev), raw.next_seq);
                if (ev.type == PROTO_OP)
                    ck_assert_uint_eq(ev.as.op.offset, raw.offset);
            }
        }
        free(buf);
    }
    ck_assert_int_gt(parsed, 1000);
    ck_assert_int_gt(decoded, 100);
    proto_event_close(&ev);
}
END_TEST

/* A frame from VM slots is byte for byte the event's record. */
START_TEST(test_push_frame_equals_push)
{
    static const uint8_t types[] = {VM_I32, VM_I64, VM_F32, VM_F64, VM_V128,
                                    VM_FUNCREF, VM_EXTERNREF, VM_I32};
    uint64_t slots[9] = {
        (uint32_t)-7, (uint64_t)INT64_MIN, 0x3fc00000u, 0x7ff8000000000001ull,
        0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull, 0, 0x12345678ull,
        0x7fffffffu,
    };
    proto_val pv[8];
    vm_trace_vals tv = {8, types, slots};
    proto_ring *a, *b;
    const uint8_t *ra, *rb;
    size_t la, lb;
    uint64_t seq = 99;
    proto_event ev = {0}, out;
    static const proto_event_type kinds[] = {PROTO_CALL, PROTO_RETURN,
                                             PROTO_HOST_CALL,
                                             PROTO_HOST_RETURN};

    /* The same values as proto_val_from_vm would give them. */
    for (uint32_t i = 0, k = 0; i < 8; i++) {
        vm_val v = {.type = (vm_valtype)types[i]};

        switch (types[i]) {
        case VM_I32: v.of.i32 = (int32_t)(uint32_t)slots[k]; break;
        case VM_I64: v.of.i64 = (int64_t)slots[k]; break;
        case VM_F32: v.of.f32_bits = (uint32_t)slots[k]; break;
        case VM_F64: v.of.f64_bits = slots[k]; break;
        case VM_V128: memcpy(v.of.v128, &slots[k], 16); k++; break;
        default: v.of.ref = (void *)(uintptr_t)slots[k]; break;
        }
        k++;
        pv[i] = proto_val_from_vm(&v);
    }
    ck_assert_int_eq(proto_ring_new(NULL, &a), 0);
    ck_assert_int_eq(proto_ring_new(NULL, &b), 0);
    proto_event_init(&out);
    for (uint32_t n = 0; n <= 8; n++) {
        for (size_t kind = 0; kind < 4; kind++) {
            tv.count = n;
            ev.type = kinds[kind];
            ev.t_ns = 1000 + n * 37 + kind;
            if (kind < 2)
                ev.as.call = (proto_call){300 + n, 5 + (uint32_t)kind, {pv, n}};
            else
                ev.as.host = (proto_host_call){300 + n, 5 + (uint32_t)kind,
                                               {pv, n}};
            ck_assert_int_eq(proto_ring_push_frame(a, ev.type, ev.t_ns, 300 + n,
                                                   5 + (uint32_t)kind, &tv, &seq), 0);
            ck_assert_int_eq(proto_ring_push(b, &ev), 0);
            ck_assert_uint_eq(seq, ev.seq);
            proto_ring_flush(a);
            proto_ring_flush(b);
            ck_assert_int_eq(proto_ring_peek(a, &ra, &la), 0);
            ck_assert_int_eq(proto_ring_peek(b, &rb, &lb), 0);
            ck_assert_uint_eq(la, lb);
            ck_assert(memcmp(ra, rb, la) == 0);
            proto_ring_consume(a);
            proto_ring_consume(b);
        }
    }
    proto_ring_free(b);
    /* Decoded, through the delta state of a fresh ring. */
    proto_ring_free(a);
    ck_assert_int_eq(proto_ring_new(NULL, &a), 0);
    ck_assert_int_eq(proto_ring_push_frame(a, PROTO_RETURN, 5, 3, 2, &tv, &seq), 0);
    proto_ring_flush(a);
    ck_assert_int_eq(proto_ring_next(a, &out, NULL, 0), 0);
    ck_assert_int_eq(out.type, PROTO_RETURN);
    ck_assert_uint_eq(out.as.ret.results.count, 8);
    ck_assert_int_eq(out.as.ret.results.items[0].of.i32, -7);
    ck_assert_uint_eq(out.as.ret.results.items[5].of.ref, PROTO_REF_NULL);
    ck_assert_uint_eq(out.as.ret.results.items[6].of.ref, 0x12345678ull);
    ck_assert(memcmp(out.as.ret.results.items[4].of.v128,
                     "\0\1\2\3\4\5\6\7\10\11\12\13\14\15\16\17", 16) == 0);
    /* Bad arguments: another type, an unknown value type. */
    ck_assert_int_eq(proto_ring_push_frame(a, PROTO_OP, 5, 3, 2, &tv, NULL),
                     PROTO_ERR_ARG);
    {
        static const uint8_t junk[] = {0x42};
        vm_trace_vals jv = {1, junk, slots};

        ck_assert_int_eq(proto_ring_push_frame(a, PROTO_CALL, 5, 3, 2, &jv, NULL),
                         PROTO_ERR_ARG);
    }
    proto_ring_shutdown(a);
    ck_assert_int_eq(proto_ring_push_frame(a, PROTO_CALL, 5, 3, 2, &tv, NULL),
                     PROTO_ERR_CLOSED);
    proto_event_close(&out);
    proto_ring_free(a);
}
END_TEST

START_TEST(test_crc32c_paths_agree)
{
    uint8_t buf[600];

    ck_assert_uint_eq(proto_crc32c(0, "123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(proto__crc32c_sw(0, "123456789", 9), 0xe3069283u);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131 + (i >> 3));
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= sizeof buf; len += 1 + len / 7)
            ck_assert_uint_eq(proto_crc32c(0x1234u, buf + off, len),
                              proto__crc32c_sw(0x1234u, buf + off, len));
    /* Chaining equals one pass. */
    ck_assert_uint_eq(proto_crc32c(proto_crc32c(0, buf, 123), buf + 123, 400),
                      proto_crc32c(0, buf, 523));
}
END_TEST

/* Long buffers: the hardware path runs three chains over blocks of
 * 3 x 4096 bytes (hash.c); around and across those sizes, at every
 * alignment, it equals the table-driven one. */
START_TEST(test_crc32c_long)
{
    static const size_t lens[] = {12287, 12288, 12289, 12295, 24576,
                                  24576 + 13, 65536, 65536 + 7, 100000};
    size_t cap = 100000 + 16;
    uint8_t *buf = malloc(cap);
    uint32_t x = 1;

    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < cap; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    for (size_t off = 0; off < 9; off++)
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++)
            ck_assert_uint_eq(proto_crc32c(0xabcdu, buf + off, lens[k]),
                              proto__crc32c_sw(0xabcdu, buf + off, lens[k]));
    /* Chaining across a block boundary equals one pass. */
    ck_assert_uint_eq(
        proto_crc32c(proto_crc32c(0, buf, 5000), buf + 5000, 60000),
        proto_crc32c(0, buf, 65000));
    free(buf);
}
END_TEST

Suite *raw_suite(void)
{
    Suite *s = suite_create("raw");
    TCase *tc = tcase_create("raw");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_chunker_raw_equals_event_path);
    tcase_add_test(tc, test_file_raw_round_trip);
    tcase_add_test(tc, test_ring_raw_to_file);
    tcase_add_test(tc, test_next_and_next_raw_mix);
    tcase_add_test(tc, test_raw_parse_rejects);
    tcase_add_test(tc, test_raw_parse_random_bytes);
    tcase_add_test(tc, test_push_frame_equals_push);
    tcase_add_test(tc, test_crc32c_paths_agree);
    tcase_add_test(tc, test_crc32c_long);
    suite_add_tcase(s, tc);
    return s;
}
