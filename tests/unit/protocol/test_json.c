/* JSON form: round trips, the value format, malformed input. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"
#include "samples.h"
#include "suites.h"

static json_t *to_json(const proto_event *ev, const proto_json_opts *opts)
{
    json_t *j = NULL;

    ck_assert_int_eq(proto_event_to_json(ev, opts, &j), 0);
    return j;
}

START_TEST(test_round_trip_all_types)
{
    proto_event evs[SAMPLES_MAX], out;
    size_t n = samples_fill(evs);
    char err[160];

    proto_event_init(&out);
    for (size_t i = 0; i < n; i++) {
        json_t *j = to_json(&evs[i], NULL), *back;
        char *text = json_dumps(j, JSON_COMPACT);
        json_error_t jerr;
        int rc;

        back = json_loads(text, JSON_ALLOW_NUL, &jerr);
        ck_assert_ptr_nonnull(back);
        rc = proto_event_from_json(back, &out, err, sizeof err);
        ck_assert_msg(rc == 0, "event %zu (%s): %s", i, text, err);
        /* Strings that are not UTF-8 are replaced in names and messages
         * (run_start argv here); everything else is exact. */
        if (evs[i].type != PROTO_RUN_START)
            ck_assert_msg(proto_event_equal(&out, &evs[i]), "event %zu: %s", i, text);
        else {
            const proto_run_start *a = &out.as.run_start, *b = &evs[i].as.run_start;

            ck_assert_uint_eq(a->run_id, b->run_id);
            ck_assert_uint_eq(a->wall_ns, b->wall_ns);
            ck_assert_int_eq(a->level, b->level);
            ck_assert(memcmp(a->hash, b->hash, 32) == 0);
            ck_assert_uint_eq(a->argc, b->argc);
            ck_assert_uint_eq(a->argv[2].len, 3); /* embedded NUL kept */
            ck_assert_str_eq(a->argv[3].ptr, "\xef\xbf\xbd\xef\xbf\xbd");
            ck_assert_uint_eq(a->nimports, b->nimports);
            ck_assert_uint_eq(a->imports[0].name.len, 8);
            ck_assert(memcmp(a->imports[0].name.ptr, "fd_write", 8) == 0);
        }
        json_decref(back);
        json_decref(j);
        free(text);
    }
    proto_event_close(&out);
}
END_TEST

START_TEST(test_value_format)
{
    proto_val v[] = {
        {.type = VM_I32, .of.i32 = -1},
        {.type = VM_F32, .of.f32_bits = 0x3fc00000},
        {.type = VM_F32, .of.f32_bits = 0xffc00000},
        {.type = VM_F64, .of.f64_bits = 0x7ff8000000000001ull},
        {.type = VM_F64, .of.f64_bits = 0xfff0000000000000ull},
        {.type = VM_FUNCREF, .of.ref = PROTO_REF_NULL},
        {.type = VM_I64, .of.i64 = INT64_MIN},
    };
    proto_event ev = {.type = PROTO_CALL, .seq = 3, .t_ns = 77,
                      .as.call = {3, 2, {v, 7}}};
    json_t *j = to_json(&ev, NULL);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

    ck_assert_str_eq(s,
        "{\"seq\":3,\"t\":77,\"type\":\"call\",\"func\":3,\"depth\":2,\"args\":["
        "{\"type\":\"i32\",\"value\":\"4294967295\",\"text\":\"-1\"},"
        "{\"type\":\"f32\",\"value\":\"1069547520\",\"text\":\"1.5\"},"
        "{\"type\":\"f32\",\"value\":\"4290772992\",\"text\":\"-nan\"},"
        "{\"type\":\"f64\",\"value\":\"9221120237041090561\",\"text\":\"nan:0x8000000000001\"},"
        "{\"type\":\"f64\",\"value\":\"18442240474082181120\",\"text\":\"-inf\"},"
        "{\"type\":\"funcref\",\"value\":\"null\"},"
        "{\"type\":\"i64\",\"value\":\"9223372036854775808\",\"text\":\"-9223372036854775808\"}]}");
    free(s);
    json_decref(j);
}
END_TEST

static const char *name_of(void *user, uint32_t func)
{
    return func == 3 ? (const char *)user : NULL;
}

static const char *op_of(void *user, uint32_t op)
{
    return op == 0x6a ? "i32.add" : NULL;
}

START_TEST(test_names_and_forms)
{
    proto_json_opts opts = {name_of, op_of, "fib", NULL};
    proto_event call = {.type = PROTO_CALL, .as.call = {3, 1, {NULL, 0}}};
    proto_event op = {.type = PROTO_OP, .as.op = {0x6a, 9}};
    proto_event pop = {.type = PROTO_OP, .as.op = {PROTO_OPCODE(0xfc, 8), 9}};
    proto_event out = {.type = PROTO_OUTPUT, .as.output = {2, {"\xff", 1}}};
    proto_event trap = {.type = PROTO_TRAP,
                        .as.trap = {VM_ERR_TRAP_UNREACHABLE, {"unreachable", 11}}};
    json_t *j;

    j = to_json(&call, &opts);
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "fib");
    json_decref(j);
    j = to_json(&op, &opts);
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "i32.add");
    ck_assert_ptr_null(json_object_get(j, "prefix"));
    json_decref(j);
    j = to_json(&pop, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "prefix")), 0xfc);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "opcode")), 8);
    json_decref(j);
    j = to_json(&out, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "base64")), "/w==");
    ck_assert_ptr_null(json_object_get(j, "text"));
    json_decref(j);
    j = to_json(&trap, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "error")),
                     "TRAP_UNREACHABLE");
    json_decref(j);
}
END_TEST

static int parse(const char *text, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    proto_event ev;
    int rc;

    ck_assert_msg(j != NULL, "bad test JSON: %s", text);
    proto_event_init(&ev);
    rc = proto_event_from_json(j, &ev, err, errlen);
    proto_event_close(&ev);
    json_decref(j);
    return rc;
}

START_TEST(test_malformed)
{
    char err[160];
    static const char *bad[] = {
        "[]",
        "{\"seq\":0,\"t\":0}",
        "{\"seq\":0,\"t\":0,\"type\":\"bogus\"}",
        "{\"seq\":-1,\"t\":0,\"type\":\"step\",\"file\":0,\"line\":0,\"column\":0}",
        "{\"seq\":0,\"t\":0,\"type\":\"step\",\"file\":0,\"line\":4294967296,\"column\":0}",
        "{\"seq\":0,\"t\":0,\"type\":\"call\",\"func\":0,\"depth\":0}",
        "{\"seq\":0,\"t\":0,\"type\":\"call\",\"func\":0,\"depth\":0,\"args\":[{\"type\":\"i33\",\"value\":\"1\"}]}",
        "{\"seq\":0,\"t\":0,\"type\":\"call\",\"func\":0,\"depth\":0,\"args\":[{\"type\":\"i32\",\"value\":\"4294967296\"}]}",
        "{\"seq\":0,\"t\":0,\"type\":\"call\",\"func\":0,\"depth\":0,\"args\":[{\"type\":\"f32\",\"value\":\"-1\"}]}",
        "{\"seq\":0,\"t\":0,\"type\":\"call\",\"func\":0,\"depth\":0,\"args\":[{\"type\":\"i32\",\"value\":\"12x\"}]}",
        "{\"seq\":0,\"t\":0,\"type\":\"call\",\"func\":0,\"depth\":0,\"args\":[{\"type\":\"v128\",\"value\":[\"1\"]}]}",
        "{\"seq\":0,\"t\":0,\"type\":\"call\",\"func\":0,\"depth\":0,\"args\":[{\"type\":\"funcref\",\"value\":\"18446744073709551615\"}]}",
        "{\"seq\":0,\"t\":0,\"type\":\"output\",\"fd\":1,\"base64\":\"abc\"}",
        "{\"seq\":0,\"t\":0,\"type\":\"output\",\"fd\":1}",
        "{\"seq\":0,\"t\":0,\"type\":\"op\",\"opcode\":252,\"offset\":0}",
        "{\"seq\":0,\"t\":0,\"type\":\"op\",\"prefix\":1,\"opcode\":2,\"offset\":0}",
        "{\"seq\":0,\"t\":0,\"type\":\"loss\",\"count\":0}",
        "{\"seq\":0,\"t\":0,\"type\":\"run_end\",\"status\":\"meh\",\"exit_code\":0,\"results\":[],\"counters\":{}}",
        "{\"seq\":0,\"t\":0,\"type\":\"run_end\",\"status\":\"ok\",\"exit_code\":0,\"results\":[],\"counters\":{\"ops\":1}}",
        "{\"seq\":0,\"t\":0,\"type\":\"run_start\",\"run_id\":\"xyz\"}",
        "{\"seq\":0,\"t\":0,\"type\":\"run_start\",\"run_id\":\"0000000000000001\",\"hash\":\"00\"}",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_msg(parse(bad[i], err, sizeof err) == PROTO_ERR_JSON,
                      "accepted: %s", bad[i]);
        ck_assert_msg(err[0] != '\0', "no message for %s", bad[i]);
    }
    /* Signed integer spellings are accepted for convenience. */
    ck_assert_int_eq(parse("{\"seq\":0,\"t\":0,\"type\":\"call\",\"func\":0,"
                           "\"depth\":0,\"args\":[{\"type\":\"i32\",\"value\":\"-1\"}]}",
                           err, sizeof err), 0);
}
END_TEST

START_TEST(test_event_reuse)
{
    proto_event evs[SAMPLES_MAX], out;
    size_t n = samples_fill(evs);

    /* One event decoded into many times keeps no stale references. */
    proto_event_init(&out);
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < n; i++) {
            json_t *j = to_json(&evs[i], NULL);

            ck_assert_int_eq(proto_event_from_json(j, &out, NULL, 0), 0);
            json_decref(j); /* out keeps its own reference */
            if (evs[i].type != PROTO_RUN_START)
                ck_assert(proto_event_equal(&out, &evs[i]));
        }
    proto_event_close(&out);
}
END_TEST

Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("json");

    tcase_add_test(tc, test_round_trip_all_types);
    tcase_add_test(tc, test_value_format);
    tcase_add_test(tc, test_names_and_forms);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_event_reuse);
    suite_add_tcase(s, tc);
    return s;
}
