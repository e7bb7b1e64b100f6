/*
 * The lines level in the protocol (docs/protocol.md): what the level
 * includes, run_start's file table (binary and JSON, byte for byte, round
 * trips, copies, malformed input), step events, and the source view's
 * keys in the JSON form.
 */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"
#include "suites.h"

static const proto_str lines_argv[] = {{"p", 1}};
static const proto_str lines_files[] = {{"a.c", 3}, {"/i/b.h", 6}};

static proto_event lines_run_start(proto_level level)
{
    proto_event ev = {.type = PROTO_RUN_START};

    ev.as.run_start.run_id = 0x0102030405060708ull;
    ev.as.run_start.level = level;
    ev.as.run_start.module = (proto_str){"m", 1};
    for (int i = 0; i < 32; i++)
        ev.as.run_start.hash[i] = (uint8_t)i;
    ev.as.run_start.argv = lines_argv;
    ev.as.run_start.argc = 1;
    ev.as.run_start.files = lines_files;
    ev.as.run_start.nfiles = 2;
    return ev;
}

START_TEST(test_level_lines)
{
    ck_assert(proto_level_includes(PROTO_LEVEL_LINES, PROTO_STEP));
    ck_assert(proto_level_includes(PROTO_LEVEL_LINES, PROTO_CALL));
    ck_assert(proto_level_includes(PROTO_LEVEL_LINES, PROTO_RETURN));
    ck_assert(!proto_level_includes(PROTO_LEVEL_LINES, PROTO_OP));
    ck_assert(!proto_level_includes(PROTO_LEVEL_OPS, PROTO_STEP));
    ck_assert(!proto_level_includes(PROTO_LEVEL_CALLS, PROTO_STEP));
    ck_assert_int_eq(proto_level_from_name("lines"), PROTO_LEVEL_LINES);
}
END_TEST

/* run_start at level lines, byte for byte (the table in protocol.md). */
START_TEST(test_run_start_bytes)
{
    proto_event ev = lines_run_start(PROTO_LEVEL_LINES), out;
    uint8_t want[128], buf[256];
    size_t n = 0, len, used;
    proto_delta d = {0}, d2 = {0};

    want[n++] = 0x01; /* type */
    want[n++] = 0x00; /* seq delta */
    want[n++] = 0x00; /* t delta */
    for (int i = 0; i < 8; i++)
        want[n++] = (uint8_t)(8 - i); /* run id, LE */
    want[n++] = 0x00; /* wall ns */
    want[n++] = 0x03; /* level lines */
    for (int i = 0; i < 32; i++)
        want[n++] = (uint8_t)i;
    want[n++] = 1, want[n++] = 'm';
    want[n++] = 1; /* argc */
    want[n++] = 0; /* nimports */
    want[n++] = 2; /* nfiles: level lines only */
    want[n++] = 1, want[n++] = 'p';
    want[n++] = 3;
    memcpy(want + n, "a.c", 3), n += 3;
    want[n++] = 6;
    memcpy(want + n, "/i/b.h", 6), n += 6;

    ck_assert_int_eq(proto_encode(&d, &ev, buf, sizeof buf, &len), 0);
    ck_assert_uint_le(len, proto_encoded_bound(&ev));
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(buf, want, n) == 0);

    proto_event_init(&out);
    ck_assert_int_eq(proto_decode(&d2, buf, len, &out, &used, NULL, 0), 0);
    ck_assert_uint_eq(used, len);
    ck_assert(proto_event_equal(&ev, &out));
    ck_assert_uint_eq(out.as.run_start.nfiles, 2);
    ck_assert(memcmp(out.as.run_start.files[1].ptr, "/i/b.h", 6) == 0);

    /* Every truncation is TRUNCATED, never a crash or a success. */
    for (size_t cut = 0; cut < len; cut++) {
        proto_delta d3 = {0};
        ck_assert_int_eq(proto_decode(&d3, buf, cut, &out, &used, NULL, 0),
                         PROTO_ERR_TRUNCATED);
    }
    proto_event_close(&out);
}
END_TEST

/* Other levels carry no file table: the bytes do not change when one is
 * set, and decoding gives none. */
START_TEST(test_files_only_at_lines)
{
    proto_event with = lines_run_start(PROTO_LEVEL_CALLS), without = with, out;
    uint8_t a[256], b[256];
    size_t la, lb, used;
    proto_delta d1 = {0}, d2 = {0}, d3 = {0};

    without.as.run_start.files = NULL;
    without.as.run_start.nfiles = 0;
    ck_assert_int_eq(proto_encode(&d1, &with, a, sizeof a, &la), 0);
    ck_assert_int_eq(proto_encode(&d2, &without, b, sizeof b, &lb), 0);
    ck_assert_uint_eq(la, lb);
    ck_assert(memcmp(a, b, la) == 0);
    ck_assert(proto_event_equal(&with, &without));
    proto_event_init(&out);
    ck_assert_int_eq(proto_decode(&d3, a, la, &out, &used, NULL, 0), 0);
    ck_assert_uint_eq(out.as.run_start.nfiles, 0);
    ck_assert_ptr_null(out.as.run_start.files);
    proto_event_close(&out);
}
END_TEST

START_TEST(test_step_bytes)
{
    proto_event ev = {.type = PROTO_STEP, .as.step = {1, 300, 5}}, out;
    static const uint8_t want[] = {0x0a, 0x00, 0x00, 0x01, 0xac, 0x02, 0x05};
    uint8_t buf[32];
    size_t len, used;
    proto_delta d = {0}, d2 = {0};

    ck_assert_int_eq(proto_encode(&d, &ev, buf, sizeof buf, &len), 0);
    ck_assert_uint_eq(len, sizeof want);
    ck_assert(memcmp(buf, want, len) == 0);
    proto_event_init(&out);
    ck_assert_int_eq(proto_decode(&d2, buf, len, &out, &used, NULL, 0), 0);
    ck_assert(proto_event_equal(&ev, &out));
    proto_event_close(&out);
}
END_TEST

static json_t *to_json(const proto_event *ev, const proto_json_opts *opts)
{
    json_t *j = NULL;

    ck_assert_int_eq(proto_event_to_json(ev, opts, &j), 0);
    return j;
}

START_TEST(test_json_round_trip)
{
    proto_event evs[2] = {lines_run_start(PROTO_LEVEL_LINES),
                          {.type = PROTO_STEP, .seq = 1, .t_ns = 9,
                           .as.step = {1, 42, 0}}};
    proto_event out, copy;
    char err[128];

    proto_event_init(&out);
    proto_event_init(&copy);
    for (int i = 0; i < 2; i++) {
        json_t *j = to_json(&evs[i], NULL);
        char *text = json_dumps(j, JSON_COMPACT);
        json_t *back = json_loads(text, 0, NULL);

        ck_assert_int_eq(proto_event_from_json(back, &out, err, sizeof err),
                         0);
        ck_assert_msg(proto_event_equal(&evs[i], &out), "%s", text);
        ck_assert_int_eq(proto_event_copy(&copy, &out), 0);
        ck_assert(proto_event_equal(&evs[i], &copy));
        free(text);
        json_decref(j);
        json_decref(back);
    }
    {
        json_t *j = to_json(&evs[0], NULL);
        json_t *files = json_object_get(j, "files");

        ck_assert_uint_eq(json_array_size(files), 2);
        ck_assert_str_eq(json_string_value(json_array_get(files, 1)),
                         "/i/b.h");
        /* A lines run_start without its table is malformed. */
        json_object_del(j, "files");
        ck_assert_int_eq(proto_event_from_json(j, &out, err, sizeof err),
                         PROTO_ERR_JSON);
        json_decref(j);
    }
    proto_event_close(&copy);
    proto_event_close(&out);
}
END_TEST

static bool fake_source(void *user, uint32_t func, bool result, uint32_t i,
                        const proto_val *v, proto_source_val *out)
{
    (void)user;
    if (func != 3)
        return false;
    out->name = result ? NULL : (i == 0 ? "n" : NULL);
    if (i == 0) {
        out->type = "unsigned int";
        snprintf(out->text, sizeof out->text, "%u", (unsigned)v->of.i32);
    }
    return true;
}

START_TEST(test_json_source_view)
{
    proto_val args[2] = {{.type = VM_I32, .of.i32 = -1},
                         {.type = VM_I32, .of.i32 = 2}};
    proto_event call = {.type = PROTO_CALL, .as.call = {3, 1, {args, 2}}};
    proto_event other = {.type = PROTO_CALL, .as.call = {4, 1, {args, 1}}};
    proto_event ret = {.type = PROTO_RETURN, .as.ret = {3, 1, {args, 1}}};
    proto_json_opts opts = {.source_val = fake_source};
    json_t *j, *v;

    j = to_json(&call, &opts);
    v = json_array_get(json_object_get(j, "args"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(v, "name")), "n");
    ck_assert_str_eq(json_string_value(json_object_get(v, "src_type")),
                     "unsigned int");
    ck_assert_str_eq(json_string_value(json_object_get(v, "src_text")),
                     "4294967295");
    ck_assert_str_eq(json_string_value(json_object_get(v, "text")), "-1");
    v = json_array_get(json_object_get(j, "args"), 1);
    ck_assert_ptr_null(json_object_get(v, "name"));
    ck_assert_ptr_null(json_object_get(v, "src_type"));
    json_decref(j);
    j = to_json(&other, &opts);
    v = json_array_get(json_object_get(j, "args"), 0);
    ck_assert_ptr_null(json_object_get(v, "src_text"));
    json_decref(j);
    j = to_json(&ret, &opts);
    v = json_array_get(json_object_get(j, "results"), 0);
    ck_assert_ptr_null(json_object_get(v, "name"));
    ck_assert_str_eq(json_string_value(json_object_get(v, "src_text")),
                     "4294967295");
    json_decref(j);
}
END_TEST

Suite *lines_suite(void)
{
    Suite *s = suite_create("lines");
    TCase *tc = tcase_create("lines");

    tcase_add_test(tc, test_level_lines);
    tcase_add_test(tc, test_run_start_bytes);
    tcase_add_test(tc, test_files_only_at_lines);
    tcase_add_test(tc, test_step_bytes);
    tcase_add_test(tc, test_json_round_trip);
    tcase_add_test(tc, test_json_source_view);
    suite_add_tcase(s, tc);
    return s;
}
