/* Event model: names, levels, copies, hashes and checksums. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"
#include "samples.h"
#include "suites.h"

START_TEST(test_type_names)
{
    ck_assert_str_eq(proto_event_type_name(PROTO_RUN_START), "run_start");
    ck_assert_str_eq(proto_event_type_name(PROTO_HOST_RETURN), "host_return");
    ck_assert_ptr_null(proto_event_type_name((proto_event_type)0));
    ck_assert_ptr_null(proto_event_type_name((proto_event_type)13));
    for (int t = 1; t <= 12; t++)
        ck_assert_int_eq(proto_event_type_from_name(
                             proto_event_type_name((proto_event_type)t)), t);
    ck_assert_int_eq(proto_event_type_from_name("nope"), 0);
    ck_assert_str_eq(proto_strerror(PROTO_ERR_TORN), "torn chunk at end of file");
    ck_assert_str_eq(proto_err_name(PROTO_ERR_CRC), "CRC");
    ck_assert_str_eq(proto_err_name(12345), "UNKNOWN");
    ck_assert_str_eq(proto_status_name(PROTO_STATUS_CANCELLED), "cancelled");
    ck_assert_int_eq(proto_status_from_name("exception"), PROTO_STATUS_EXCEPTION);
    ck_assert_int_eq(proto_status_from_name("bogus"), PROTO_ERR_ARG);
}
END_TEST

START_TEST(test_levels)
{
    ck_assert(proto_level_includes(PROTO_LEVEL_CALLS, PROTO_CALL));
    ck_assert(proto_level_includes(PROTO_LEVEL_CALLS, PROTO_OUTPUT));
    ck_assert(!proto_level_includes(PROTO_LEVEL_CALLS, PROTO_OP));
    ck_assert(!proto_level_includes(PROTO_LEVEL_CALLS, PROTO_STEP));
    ck_assert(proto_level_includes(PROTO_LEVEL_OPS, PROTO_OP));
    ck_assert(!proto_level_includes(PROTO_LEVEL_OPS, PROTO_STEP));
    ck_assert(proto_level_includes(PROTO_LEVEL_LINES, PROTO_STEP));
    ck_assert(!proto_level_includes(PROTO_LEVEL_LINES, (proto_event_type)99));
    ck_assert_int_eq(proto_level_from_name("ops"), PROTO_LEVEL_OPS);
    ck_assert_int_eq(proto_level_from_name("all"), PROTO_ERR_ARG);
    ck_assert_str_eq(proto_level_name(PROTO_LEVEL_LINES), "lines");
}
END_TEST

START_TEST(test_sha256)
{
    uint8_t h[32];
    char hex[65];
    char *big = malloc(1000000);

    proto_sha256("", 0, h);
    proto_hex(h, 32, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    proto_sha256("abc", 3, h);
    proto_hex(h, 32, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    proto_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, h);
    proto_hex(h, 32, hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    memset(big, 'a', 1000000);
    proto_sha256(big, 1000000, h);
    proto_hex(h, 32, hex);
    ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(big);
}
END_TEST

START_TEST(test_hex)
{
    uint8_t b[3];

    ck_assert_int_eq(proto_unhex("00fFa5", 3, b), 0);
    ck_assert_int_eq(b[0], 0);
    ck_assert_int_eq(b[1], 0xff);
    ck_assert_int_eq(b[2], 0xa5);
    ck_assert_int_eq(proto_unhex("0g", 1, b), PROTO_ERR_ARG);
}
END_TEST

START_TEST(test_crc32c)
{
    uint8_t buf[300];
    uint32_t whole, parts;

    ck_assert_uint_eq(proto_crc32c(0, "123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(proto_crc32c(0, "", 0), 0);
    /* Slice-by-8 at every alignment and length equals chained bytes. */
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 31 + 7);
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len + off <= sizeof buf; len += 13) {
            whole = proto_crc32c(0, buf + off, len);
            parts = 0;
            for (size_t k = 0; k < len; k++)
                parts = proto_crc32c(parts, buf + off + k, 1);
            ck_assert_uint_eq(whole, parts);
        }
}
END_TEST

START_TEST(test_copy_and_equal)
{
    proto_event evs[SAMPLES_MAX], copy;
    size_t n = samples_fill(evs);

    proto_event_init(&copy);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(proto_event_copy(&copy, &evs[i]), 0);
        ck_assert(proto_event_equal(&copy, &evs[i]));
        ck_assert(i == 0 || !proto_event_equal(&copy, &evs[i - 1]));
    }
    ck_assert_int_eq(proto_event_copy(&copy, &copy), PROTO_ERR_ARG);
    proto_event_close(&copy);
}
END_TEST

START_TEST(test_copy_nomem)
{
    proto_event evs[SAMPLES_MAX], copy;

    samples_fill(evs);
    proto_event_init(&copy);
    proto__alloc_fail_after = 1;
    ck_assert_int_eq(proto_event_copy(&copy, &evs[0]), PROTO_ERR_NOMEM);
    proto__alloc_fail_after = -1;
    ck_assert_int_eq(proto_event_copy(&copy, &evs[0]), 0);
    ck_assert(proto_event_equal(&copy, &evs[0]));
    proto_event_close(&copy);
}
END_TEST

START_TEST(test_next_seq)
{
    proto_event e = {.type = PROTO_CALL, .seq = 10};

    ck_assert_uint_eq(proto_event_next_seq(&e), 11);
    e.type = PROTO_LOSS;
    e.as.loss.count = 5;
    ck_assert_uint_eq(proto_event_next_seq(&e), 15);
}
END_TEST

START_TEST(test_val_from_vm)
{
    vm_val v = {.type = VM_EXTERNREF, .of.ref = NULL};
    proto_val p = proto_val_from_vm(&v);

    ck_assert_uint_eq(p.of.ref, PROTO_REF_NULL);
    v.type = VM_F32;
    v.of.f32_bits = 0x7fc00001;
    p = proto_val_from_vm(&v);
    ck_assert_int_eq(p.type, VM_F32);
    ck_assert_uint_eq(p.of.f32_bits, 0x7fc00001);
}
END_TEST

Suite *event_suite(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("event");

    tcase_add_test(tc, test_type_names);
    tcase_add_test(tc, test_levels);
    tcase_add_test(tc, test_sha256);
    tcase_add_test(tc, test_hex);
    tcase_add_test(tc, test_crc32c);
    tcase_add_test(tc, test_copy_and_equal);
    tcase_add_test(tc, test_copy_nomem);
    tcase_add_test(tc, test_next_seq);
    tcase_add_test(tc, test_val_from_vm);
    suite_add_tcase(s, tc);
    return s;
}
