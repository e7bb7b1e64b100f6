/* Binary encoding: round trips, the documented bytes, malformed input. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"
#include "samples.h"
#include "suites.h"

/* Encode all samples as one delta-coded run. */
static size_t encode_all(const proto_event *evs, size_t n, uint8_t *buf,
                         size_t cap, size_t *ends)
{
    proto_delta d = {0};
    size_t len = 0, one;

    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(proto_encode(&d, &evs[i], buf + len, cap - len, &one), 0);
        ck_assert_uint_le(one, proto_encoded_bound(&evs[i]));
        len += one;
        if (ends)
            ends[i] = len;
    }
    return len;
}

START_TEST(test_round_trip_all_types)
{
    proto_event evs[SAMPLES_MAX], out;
    uint8_t buf[8192];
    size_t n = samples_fill(evs), len, pos = 0, used;
    proto_delta d = {0};
    char err[128];
    bool seen[13] = {false};

    len = encode_all(evs, n, buf, sizeof buf, NULL);
    proto_event_init(&out);
    for (size_t i = 0; i < n; i++) {
        int rc = proto_decode(&d, buf + pos, len - pos, &out, &used, err, sizeof err);

        ck_assert_msg(rc == 0, "event %zu: %s", i, err);
        ck_assert_msg(proto_event_equal(&out, &evs[i]), "event %zu differs", i);
        seen[out.type] = true;
        pos += used;
    }
    ck_assert_uint_eq(pos, len);
    for (int t = 1; t <= 12; t++)
        ck_assert_msg(seen[t], "type %d not covered", t);
    proto_event_close(&out);
}
END_TEST

START_TEST(test_standalone_records)
{
    proto_event evs[SAMPLES_MAX], out;
    uint8_t buf[4096];
    size_t n = samples_fill(evs), len, used;

    proto_event_init(&out);
    for (size_t i = 0; i < n; i++) {
        proto_delta d = {0}, d2 = {0};

        ck_assert_int_eq(proto_encode(&d, &evs[i], buf, sizeof buf, &len), 0);
        ck_assert_int_eq(proto_decode(&d2, buf, len, &out, &used, NULL, 0), 0);
        ck_assert_uint_eq(used, len);
        ck_assert(proto_event_equal(&out, &evs[i]));
        ck_assert(memcmp(&d, &d2, sizeof d) == 0);
    }
    proto_event_close(&out);
}
END_TEST

/* The example of docs/protocol.md, byte for byte. */
START_TEST(test_documented_bytes)
{
    proto_val five = {.type = VM_I32, .of.i32 = 5};
    proto_event call = {.type = PROTO_CALL, .seq = 5, .t_ns = 100,
                        .as.call = {3, 1, {&five, 1}}};
    proto_event op = {.type = PROTO_OP, .seq = 6, .t_ns = 103,
                      .as.op = {0x41, 1234}};
    static const uint8_t want[] = {0x02, 0x0a, 0xc8, 0x01, 0x03, 0x01, 0x01,
                                   0x7f, 0x0a, 0x06, 0x00, 0x06, 0x41, 0xa4,
                                   0x13};
    uint8_t buf[64];
    size_t a, b;
    proto_delta d = {0};

    ck_assert_int_eq(proto_encode(&d, &call, buf, sizeof buf, &a), 0);
    ck_assert_int_eq(proto_encode(&d, &op, buf + a, sizeof buf - a, &b), 0);
    ck_assert_uint_eq(a + b, sizeof want);
    ck_assert(memcmp(buf, want, sizeof want) == 0);
}
END_TEST

START_TEST(test_every_truncation)
{
    proto_event evs[SAMPLES_MAX], out;
    uint8_t buf[4096];
    size_t n = samples_fill(evs), len, used;

    proto_event_init(&out);
    for (size_t i = 0; i < n; i++) {
        proto_delta d = {0};

        ck_assert_int_eq(proto_encode(&d, &evs[i], buf, sizeof buf, &len), 0);
        for (size_t cut = 0; cut < len; cut++) {
            /* A heap copy of exactly cut bytes: a sanitizer build catches
             * any read past it. */
            uint8_t *p = malloc(cut ? cut : 1);
            proto_delta d2 = {0};
            int rc;

            memcpy(p, buf, cut);
            rc = proto_decode(&d2, p, cut, &out, &used, NULL, 0);
            ck_assert_msg(rc == PROTO_ERR_TRUNCATED,
                          "event %zu cut at %zu/%zu: %s", i, cut, len,
                          proto_err_name(rc));
            ck_assert(memcmp(&d2, &(proto_delta){0}, sizeof d2) == 0);
            free(p);
        }
    }
    proto_event_close(&out);
}
END_TEST

static int decode_bytes(const uint8_t *b, size_t n, char *err, size_t errlen)
{
    proto_event ev;
    proto_delta d = {0};
    size_t used;
    int rc;

    proto_event_init(&ev);
    rc = proto_decode(&d, b, n, &ev, &used, err, errlen);
    proto_event_close(&ev);
    return rc;
}

START_TEST(test_malformed)
{
    char err[128];
#define BAD(code, ...)                                                      \
    do {                                                                    \
        static const uint8_t b[] = {__VA_ARGS__};                           \
        ck_assert_int_eq(decode_bytes(b, sizeof b, err, sizeof err), code); \
        ck_assert(err[0] != '\0');                                          \
        err[0] = '\0';                                                      \
    } while (0)

    BAD(PROTO_ERR_MALFORMED, 0x00, 0, 0);            /* type 0 */
    BAD(PROTO_ERR_MALFORMED, 0x10, 0, 0);            /* type 16 */
    BAD(PROTO_ERR_MALFORMED, 0x0e, 0, 0, 0, 0);      /* ops of count 0 */
    /* type 13 is a batch (test_batch.c): one of zero records */
    BAD(PROTO_ERR_MALFORMED, 0x0d, 0, 0, 0, 0, 1, 0x0a);
    BAD(PROTO_ERR_MALFORMED, 0xff, 0, 0);
    /* seq varint of 11 bytes */
    BAD(PROTO_ERR_MALFORMED, 0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
        0x80, 0x80, 0x80, 0x01);
    /* 10th byte above 1 */
    BAD(PROTO_ERR_MALFORMED, 0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
        0x80, 0x80, 0x02);
    /* func index above u32 */
    BAD(PROTO_ERR_MALFORMED, 0x02, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0);
    /* unknown value type */
    BAD(PROTO_ERR_MALFORMED, 0x02, 0, 0, 0, 0, 1, 0x40, 0);
    /* i32 value out of range: zigzag 2^32 */
    BAD(PROTO_ERR_MALFORMED, 0x02, 0, 0, 0, 0, 1, 0x7f, 0x80, 0x80, 0x80,
        0x80, 0x10);
    /* too many values */
    BAD(PROTO_ERR_LIMIT, 0x02, 0, 0, 0, 0, 0x81, 0x80, 0x04);
    /* count that cannot fit */
    BAD(PROTO_ERR_TRUNCATED, 0x02, 0, 0, 0, 0, 5, 0x7f, 0);
    /* loss of zero */
    BAD(PROTO_ERR_MALFORMED, 0x0b, 0, 0, 0);
    /* run_end with status 9 */
    BAD(PROTO_ERR_MALFORMED, 0x0c, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0);
    /* trap code out of int32 */
    BAD(PROTO_ERR_MALFORMED, 0x08, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 0);
    /* output string longer than the input */
    BAD(PROTO_ERR_TRUNCATED, 0x09, 0, 0, 1, 5, 'a', 'b');
    /* output string above the limit */
    BAD(PROTO_ERR_LIMIT, 0x09, 0, 0, 1, 0x80, 0x80, 0x80, 0x10);
    /* op: prefixed sub-opcode above 24 bits */
    BAD(PROTO_ERR_MALFORMED, 0x06, 0, 0, 0xfd, 0x80, 0x80, 0x80, 0x80, 0x01, 0);
    /* op offset below zero */
    BAD(PROTO_ERR_MALFORMED, 0x06, 0, 0, 0x20, 0x01);
    /* run_start with level 0 */
    BAD(PROTO_ERR_MALFORMED, 0x01, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0);
#undef BAD
}
END_TEST

/* Random mutations of valid input: decode returns 0 or an error, and a
 * success never claims more bytes than it was given. */
START_TEST(test_fuzz_mutations)
{
    proto_event evs[SAMPLES_MAX], out;
    uint8_t buf[8192], mut[8192];
    size_t n = samples_fill(evs), len, used;
    uint64_t rng = 88172645463325252ull;

    len = encode_all(evs, n, buf, sizeof buf, NULL);
    proto_event_init(&out);
    for (int iter = 0; iter < 20000; iter++) {
        size_t start, mlen, pos;
        proto_delta d = {0};

        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        start = rng % len;
        mlen = len - start;
        memcpy(mut, buf + start, mlen);
        for (int k = 0; k < 1 + (int)(rng >> 60); k++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            mut[rng % mlen] ^= (uint8_t)(rng >> 32);
        }
        pos = 0;
        while (pos < mlen) {
            int rc = proto_decode(&d, mut + pos, mlen - pos, &out, &used, NULL, 0);

            if (rc < 0) {
                ck_assert(rc == PROTO_ERR_TRUNCATED || rc == PROTO_ERR_MALFORMED ||
                          rc == PROTO_ERR_LIMIT);
                break;
            }
            ck_assert_uint_le(used, mlen - pos);
            ck_assert_uint_gt(used, 0);
            pos += used;
        }
    }
    proto_event_close(&out);
}
END_TEST

START_TEST(test_encode_errors)
{
    proto_val bad = {.type = 0x55};
    proto_event e = {.type = PROTO_CALL, .as.call = {0, 0, {&bad, 1}}};
    uint8_t buf[64];
    size_t len;
    proto_delta d = {0};

    ck_assert_int_eq(proto_encode(&d, &e, buf, sizeof buf, &len), PROTO_ERR_ARG);
    e.type = (proto_event_type)42;
    ck_assert_int_eq(proto_encode(&d, &e, buf, sizeof buf, &len), PROTO_ERR_ARG);
    e = (proto_event){.type = PROTO_OP, .as.op = {0xfc, 0}};
    ck_assert_int_eq(proto_encode(&d, &e, buf, sizeof buf, &len), PROTO_ERR_ARG);
    e = (proto_event){.type = PROTO_OP, .as.op = {PROTO_OPCODE(0x10, 1), 0}};
    ck_assert_int_eq(proto_encode(&d, &e, buf, sizeof buf, &len), PROTO_ERR_ARG);
    e = (proto_event){.type = PROTO_LOSS};
    ck_assert_int_eq(proto_encode(&d, &e, buf, sizeof buf, &len), PROTO_ERR_ARG);
    e = (proto_event){.type = PROTO_RUN_START};
    ck_assert_int_eq(proto_encode(&d, &e, buf, sizeof buf, &len), PROTO_ERR_ARG);
    ck_assert(memcmp(&d, &(proto_delta){0}, sizeof d) == 0);
    /* Below the bound but large enough: encodes; too small: NOSPACE. */
    e = (proto_event){.type = PROTO_STEP, .seq = 1, .t_ns = 1,
                      .as.step = {1, 2, 3}};
    ck_assert_int_eq(proto_encode(&d, &e, buf, 6, &len), 0);
    ck_assert_uint_eq(len, 6);
    ck_assert_int_eq(proto_encode(&d, &e, buf, 5, &len), PROTO_ERR_NOSPACE);
}
END_TEST

START_TEST(test_decode_nomem)
{
    proto_event evs[SAMPLES_MAX], out;
    uint8_t buf[4096];
    size_t len, used;
    proto_delta d = {0};

    samples_fill(evs);
    ck_assert_int_eq(proto_encode(&d, &evs[1], buf, sizeof buf, &len), 0);
    proto_event_init(&out);
    proto_delta_reset(&d);
    proto__alloc_fail_after = 1;
    ck_assert_int_eq(proto_decode(&d, buf, len, &out, &used, NULL, 0),
                     PROTO_ERR_NOMEM);
    proto__alloc_fail_after = -1;
    proto_event_close(&out);
}
END_TEST

/* Encoded sizes of typical small events (docs/protocol.md quotes them). */
START_TEST(test_sizes)
{
    proto_val v = {.type = VM_I32, .of.i32 = 7};
    proto_event call = {.type = PROTO_CALL, .seq = 1000, .t_ns = 5000,
                        .as.call = {12, 3, {&v, 1}}};
    proto_event ret = {.type = PROTO_RETURN, .seq = 1001, .t_ns = 5040,
                       .as.ret = {12, 3, {&v, 1}}};
    proto_event op = {.type = PROTO_OP, .seq = 1002, .t_ns = 5041,
                      .as.op = {0x20, 3000}};
    proto_event op2 = {.type = PROTO_OP, .seq = 1003, .t_ns = 5042,
                       .as.op = {0x6a, 3002}};
    proto_delta d = {.next_seq = 1000, .prev_t = 4990, .prev_offset = 2990};
    uint8_t buf[64];
    size_t len;

    ck_assert_int_eq(proto_encode(&d, &call, buf, sizeof buf, &len), 0);
    ck_assert_uint_eq(len, 8);
    ck_assert_int_eq(proto_encode(&d, &ret, buf, sizeof buf, &len), 0);
    ck_assert_uint_eq(len, 8);
    ck_assert_int_eq(proto_encode(&d, &op, buf, sizeof buf, &len), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(proto_encode(&d, &op2, buf, sizeof buf, &len), 0);
    ck_assert_uint_eq(len, 5);
}
END_TEST

Suite *binary_suite(void)
{
    Suite *s = suite_create("binary");
    TCase *tc = tcase_create("binary");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_round_trip_all_types);
    tcase_add_test(tc, test_standalone_records);
    tcase_add_test(tc, test_documented_bytes);
    tcase_add_test(tc, test_every_truncation);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_fuzz_mutations);
    tcase_add_test(tc, test_encode_errors);
    tcase_add_test(tc, test_decode_nomem);
    tcase_add_test(tc, test_sizes);
    suite_add_tcase(s, tc);
    return s;
}
