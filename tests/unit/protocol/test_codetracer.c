/*
 * CodeTracer writer suite: event sequences written as a CodeTracer
 * directory and checked against the format's rules with jansson (see
 * check_dir), repair of a trace.json cut anywhere, and export from a
 * native trace file. The events are made by hand, since the VM's tracer
 * hooks are not needed to test the writer; their offsets are those of
 * the module below (wat2wasm --debug-names; tests/unit/vm/test_listing.c
 * uses the same one).
 *
 * (module
 *   (import "env" "print" (func $print (param i32)))
 *   (func $fib (export "fib") (param $n i32) (result i32)
 *     local.get $n
 *     i32.const 2
 *     i32.lt_s
 *     if (result i32)
 *       local.get $n
 *     else
 *       local.get $n
 *       i32.const 1
 *       i32.sub
 *       call $fib
 *       local.get $n
 *       i32.const 2
 *       i32.sub
 *       call $fib
 *       i32.add
 *     end)
 *   (func (export "run") (param i32) (local i64 f64)
 *     block
 *       loop
 *         local.get 0
 *         br_if 1
 *         f64.const 1.5
 *         local.set 2
 *         i64.const -7
 *         local.set 1
 *         br 0
 *       end
 *     end
 *     local.get 0
 *     call $print)
 *   (func $mix (export "mix") (param $a f32) (param $b f64) (param $c i64) (result f64)
 *     local.get $b
 *     f32.const -0.25
 *     drop
 *     i32.const 0
 *     i32.load offset=8
 *     drop)
 *   (func $trap (export "trap") (param i32) (result i32)
 *     local.get 0
 *     i32.const 0
 *     i32.div_s)
 *   (memory 1))
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto_int.h"
#include "suites.h"
#include "traced/proto.h"
#include "traced/proto_codetracer.h"
#include "traced/vm_listing.h"

static const uint8_t wasm_ct[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x11, 0x03, 0x60,
    0x01, 0x7f, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x03, 0x7d, 0x7c,
    0x7e, 0x01, 0x7c, 0x02, 0x0d, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x05, 0x70,
    0x72, 0x69, 0x6e, 0x74, 0x00, 0x00, 0x03, 0x05, 0x04, 0x01, 0x00, 0x02,
    0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x1a, 0x04, 0x03, 0x66, 0x69,
    0x62, 0x00, 0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x02, 0x03, 0x6d, 0x69,
    0x78, 0x00, 0x03, 0x04, 0x74, 0x72, 0x61, 0x70, 0x00, 0x04, 0x0a, 0x5d,
    0x04, 0x1c, 0x00, 0x20, 0x00, 0x41, 0x02, 0x48, 0x04, 0x7f, 0x20, 0x00,
    0x05, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x01, 0x20, 0x00, 0x41, 0x02,
    0x6b, 0x10, 0x01, 0x6a, 0x0b, 0x0b, 0x25, 0x02, 0x01, 0x7e, 0x01, 0x7c,
    0x02, 0x40, 0x03, 0x40, 0x20, 0x00, 0x0d, 0x01, 0x44, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xf8, 0x3f, 0x21, 0x02, 0x42, 0x79, 0x21, 0x01, 0x0c,
    0x00, 0x0b, 0x0b, 0x20, 0x00, 0x10, 0x00, 0x0b, 0x10, 0x00, 0x20, 0x01,
    0x43, 0x00, 0x00, 0x80, 0xbe, 0x1a, 0x41, 0x00, 0x28, 0x02, 0x08, 0x1a,
    0x0b, 0x07, 0x00, 0x20, 0x00, 0x41, 0x00, 0x6d, 0x0b, 0x00, 0x38, 0x04,
    0x6e, 0x61, 0x6d, 0x65, 0x01, 0x18, 0x04, 0x00, 0x05, 0x70, 0x72, 0x69,
    0x6e, 0x74, 0x01, 0x03, 0x66, 0x69, 0x62, 0x03, 0x03, 0x6d, 0x69, 0x78,
    0x04, 0x04, 0x74, 0x72, 0x61, 0x70, 0x02, 0x17, 0x05, 0x00, 0x00, 0x01,
    0x01, 0x00, 0x01, 0x6e, 0x02, 0x00, 0x03, 0x03, 0x00, 0x01, 0x61, 0x01,
    0x01, 0x62, 0x02, 0x01, 0x63, 0x04, 0x00
};

Suite *codetracer_suite(void);

static char dir[64], ctdir[128];

static void setup(void)
{
    strcpy(dir, "/tmp/traced-ct-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(ctdir, sizeof ctdir, "%s/ct", dir);
}

static void teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static vm_module *load(void)
{
    vm_module *m = NULL;
    char err[256] = "";

    ck_assert_msg(vm_module_new(wasm_ct, sizeof wasm_ct, NULL, &m, err,
                                sizeof err) == 0,
                  "load: %s", err);
    return m;
}

/* ---- Events ---------------------------------------------------------------- */

#define MAX_EVS 4096

typedef struct evlist {
    proto_event evs[MAX_EVS];
    proto_val vals[MAX_EVS][3];
    size_t n;
} evlist;

static const proto_str run_argv[] = {{"m.wasm", 6}, {"5", 1}};

static proto_event *push(evlist *l, proto_event_type type)
{
    proto_event *ev;

    ck_assert_uint_lt(l->n, MAX_EVS);
    ev = &l->evs[l->n];
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->seq = l->n;
    ev->t_ns = l->n * 10;
    l->n++;
    return ev;
}

static proto_vals vals1(evlist *l, proto_val v)
{
    l->vals[l->n - 1][0] = v;
    return (proto_vals){l->vals[l->n - 1], 1};
}

static proto_val i32v(int32_t x)
{
    return (proto_val){.type = VM_I32, .of.i32 = x};
}

static void run_start(evlist *l, proto_level level)
{
    proto_event *ev = push(l, PROTO_RUN_START);

    ev->as.run_start.level = level;
    ev->as.run_start.module = (proto_str){"m.wasm", 6};
    ev->as.run_start.argv = run_argv;
    ev->as.run_start.argc = 2;
    proto_sha256(wasm_ct, sizeof wasm_ct, ev->as.run_start.hash);
}

static void call(evlist *l, uint32_t func, uint32_t depth, int32_t arg)
{
    proto_event *ev = push(l, PROTO_CALL);

    ev->as.call.func = func;
    ev->as.call.depth = depth;
    ev->as.call.args = vals1(l, i32v(arg));
}

static void ret(evlist *l, uint32_t func, uint32_t depth, int32_t result)
{
    proto_event *ev = push(l, PROTO_RETURN);

    ev->as.ret.func = func;
    ev->as.ret.depth = depth;
    ev->as.ret.results = vals1(l, i32v(result));
}

static void op(evlist *l, uint32_t offset)
{
    proto_event *ev = push(l, PROTO_OP);

    ev->as.op.opcode = 0x20;
    ev->as.op.offset = offset;
}

static void run_end(evlist *l, proto_status status)
{
    proto_event *ev = push(l, PROTO_RUN_END);

    ev->as.run_end.status = status;
    if (status == PROTO_STATUS_OK)
        ev->as.run_end.results = vals1(l, i32v(1));
}

/* fib(2) by hand, a mixed-type call with a NaN result, a host call with
 * output that is not UTF-8, a throw and a loss. */
static void calls_run(evlist *l)
{
    proto_event *ev;

    run_start(l, PROTO_LEVEL_CALLS);
    call(l, 1, 1, 2);
    call(l, 1, 2, 1);
    ret(l, 1, 2, 1);
    call(l, 1, 2, 0);
    ret(l, 1, 2, 0);
    ret(l, 1, 1, 1);

    ev = push(l, PROTO_CALL);
    ev->as.call.func = 3;
    ev->as.call.depth = 1;
    l->vals[l->n - 1][0] = (proto_val){.type = VM_F32,
                                       .of.f32_bits = 0xbe800000u}; /* -0.25 */
    l->vals[l->n - 1][1] = (proto_val){.type = VM_F64,
                                       .of.f64_bits = 0x3ff8000000000000ull};
    l->vals[l->n - 1][2] = (proto_val){.type = VM_I64, .of.i64 = -7};
    ev->as.call.args = (proto_vals){l->vals[l->n - 1], 3};
    ev = push(l, PROTO_RETURN);
    ev->as.ret.func = 3;
    ev->as.ret.depth = 1;
    ev->as.ret.results = vals1(
        l, (proto_val){.type = VM_F64, .of.f64_bits = 0x7ff8000000000000ull});

    ev = push(l, PROTO_HOST_CALL);
    ev->as.host.func = 0;
    ev->as.host.import = 0;
    ev->as.host.vals = vals1(l, i32v(5));
    ev = push(l, PROTO_OUTPUT);
    ev->as.output.fd = 1;
    ev->as.output.data = (proto_str){"hi \"there\"\n\xff", 12};
    ev = push(l, PROTO_HOST_RETURN);
    ev->as.host.func = 0;

    ev = push(l, PROTO_THROW);
    ev->as.throw_.tag = 0;
    ev = push(l, PROTO_LOSS);
    ev->as.loss.count = 3;
    run_end(l, PROTO_STATUS_OK);
    /* The loss event covers 3 numbers: renumber what follows it. */
    l->evs[l->n - 1].seq = l->evs[l->n - 2].seq + 3;
}

static void write_all_events(const evlist *l, const vm_module *m,
                             size_t buffer_bytes)
{
    proto_ct_writer *w = NULL;
    proto_ct_opts opts = {.workdir = "/work", .buffer_bytes = buffer_bytes};
    char err[256] = "";

    ck_assert_msg(proto_ct_writer_new(ctdir, m, &opts, &w, err,
                                      sizeof err) == 0,
                  "%s", err);
    for (size_t i = 0; i < l->n; i++)
        ck_assert_msg(proto_ct_writer_add(w, &l->evs[i], err, sizeof err) ==
                          0,
                      "event %zu: %s", i, err);
    ck_assert_msg(proto_ct_writer_free(w, err, sizeof err) == 0, "%s", err);
}

/* ---- The checker ------------------------------------------------------------- */

typedef struct ct_stats {
    size_t records, paths, functions, types, vars, calls, returns, steps,
        events, error_returns, floats, values;
    uint32_t step_lines[512];
    size_t nstep_lines;
    char first_path[512];
} ct_stats;

static void check_value(const json_t *v, const ct_stats *s)
{
    const char *kind = json_string_value(json_object_get(v, "kind"));
    json_t *tid = json_object_get(v, "type_id");

    ck_assert_ptr_nonnull(kind);
    ck_assert_msg(json_is_integer(tid) &&
                      (size_t)json_integer_value(tid) < s->types,
                  "value of kind %s has an undeclared type", kind);
    if (strcmp(kind, "Int") == 0) {
        ck_assert(json_is_integer(json_object_get(v, "i")));
    } else if (strcmp(kind, "Float") == 0) {
        ck_assert_msg(json_is_string(json_object_get(v, "f")),
                      "floats are strings");
        ((ct_stats *)s)->floats++;
    } else if (strcmp(kind, "Tuple") == 0) {
        json_t *e = json_object_get(v, "elements"), *x;
        size_t i;

        ck_assert(json_is_array(e));
        json_array_foreach(e, i, x)
            check_value(x, s);
    } else if (strcmp(kind, "Error") == 0) {
        ck_assert(json_is_string(json_object_get(v, "msg")));
    } else if (strcmp(kind, "Raw") == 0) {
        ck_assert(json_is_string(json_object_get(v, "r")));
    } else {
        ck_assert_str_eq(kind, "None");
    }
}

/*
 * Check dir against the CodeTracer rules: valid JSON, one key per record,
 * ids declared before use, <toplevel> and None first, floats as strings,
 * Calls and Returns balanced, Steps and Functions inside the listing.
 */
static void check_dir(const char *ctd, uint32_t nlines, ct_stats *s)
{
    char path[256];
    json_error_t jerr;
    json_t *root, *rec, *meta, *paths;
    size_t i, depth = 0;

    memset(s, 0, sizeof *s);
    snprintf(path, sizeof path, "%s/trace.json", ctd);
    root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root != NULL, "trace.json: %s (line %d)", jerr.text,
                  jerr.line);
    ck_assert(json_is_array(root));
    json_array_foreach(root, i, rec) {
        const char *key;
        json_t *v;

        ck_assert_msg(json_is_object(rec) && json_object_size(rec) == 1,
                      "record %zu does not have exactly one key", i);
        key = json_object_iter_key(json_object_iter(rec));
        v = json_object_iter_value(json_object_iter(rec));
        s->records++;
        if (strcmp(key, "Path") == 0) {
            ck_assert(json_is_string(v));
            if (s->paths == 0)
                snprintf(s->first_path, sizeof s->first_path, "%s",
                         json_string_value(v));
            s->paths++;
        } else if (strcmp(key, "Function") == 0) {
            json_int_t line = json_integer_value(json_object_get(v, "line"));
            const char *name =
                json_string_value(json_object_get(v, "name"));

            ck_assert_int_lt(
                json_integer_value(json_object_get(v, "path_id")),
                (json_int_t)s->paths);
            ck_assert(line >= 1 && line <= nlines);
            ck_assert_ptr_nonnull(name);
            if (s->functions == 0)
                ck_assert_str_eq(name, "<toplevel>");
            s->functions++;
        } else if (strcmp(key, "Type") == 0) {
            ck_assert(json_is_integer(json_object_get(v, "kind")));
            ck_assert(json_is_string(json_object_get(v, "lang_type")));
            ck_assert(json_is_object(json_object_get(v, "specific_info")));
            if (s->types == 0) {
                ck_assert_str_eq(
                    json_string_value(json_object_get(v, "lang_type")),
                    "None");
                ck_assert_int_eq(
                    json_integer_value(json_object_get(v, "kind")), 30);
            }
            s->types++;
        } else if (strcmp(key, "VariableName") == 0) {
            ck_assert(json_is_string(v));
            s->vars++;
        } else if (strcmp(key, "Value") == 0) {
            ck_assert_int_lt(
                json_integer_value(json_object_get(v, "variable_id")),
                (json_int_t)s->vars);
            check_value(json_object_get(v, "value"), s);
            s->values++;
        } else if (strcmp(key, "Call") == 0) {
            json_t *args = json_object_get(v, "args"), *a;
            size_t k;

            ck_assert(json_is_array(args));
            ck_assert_int_lt(
                json_integer_value(json_object_get(v, "function_id")),
                (json_int_t)s->functions);
            json_array_foreach(args, k, a) {
                ck_assert_int_lt(
                    json_integer_value(json_object_get(a, "variable_id")),
                    (json_int_t)s->vars);
                check_value(json_object_get(a, "value"), s);
            }
            s->calls++;
            depth++;
        } else if (strcmp(key, "Return") == 0) {
            json_t *rv = json_object_get(v, "return_value");

            ck_assert_msg(depth > 0, "record %zu: Return without Call", i);
            depth--;
            check_value(rv, s);
            if (strcmp(json_string_value(json_object_get(rv, "kind")),
                       "Error") == 0)
                s->error_returns++;
            s->returns++;
        } else if (strcmp(key, "Step") == 0) {
            json_int_t line = json_integer_value(json_object_get(v, "line"));

            ck_assert_int_lt(
                json_integer_value(json_object_get(v, "path_id")),
                (json_int_t)s->paths);
            ck_assert_msg(line >= 1 && line <= nlines,
                          "step to line %lld", (long long)line);
            if (s->nstep_lines < 512)
                s->step_lines[s->nstep_lines++] = (uint32_t)line;
            s->steps++;
        } else if (strcmp(key, "Event") == 0) {
            ck_assert(json_is_integer(json_object_get(v, "kind")));
            ck_assert(json_is_string(json_object_get(v, "metadata")));
            ck_assert(json_is_string(json_object_get(v, "content")));
            s->events++;
        } else {
            ck_abort_msg("unexpected record %s", key);
        }
    }
    ck_assert_msg(depth == 0, "%zu Calls without a Return", depth);
    json_decref(root);

    snprintf(path, sizeof path, "%s/trace_metadata.json", ctd);
    meta = json_load_file(path, 0, &jerr);
    ck_assert_msg(meta != NULL, "trace_metadata.json: %s", jerr.text);
    ck_assert(json_is_string(json_object_get(meta, "program")));
    ck_assert(json_is_string(json_object_get(meta, "workdir")));
    ck_assert(json_is_array(json_object_get(meta, "args")));
    json_decref(meta);

    snprintf(path, sizeof path, "%s/trace_paths.json", ctd);
    paths = json_load_file(path, 0, &jerr);
    ck_assert_msg(paths != NULL, "trace_paths.json: %s", jerr.text);
    ck_assert_uint_eq(json_array_size(paths), s->paths);
    if (s->paths)
        ck_assert_str_eq(json_string_value(json_array_get(paths, 0)),
                         s->first_path);
    json_decref(paths);
}

static uint32_t listing_lines(const vm_module *m, vm_listing **out)
{
    vm_listing *l = NULL;
    uint32_t n;

    ck_assert_int_eq(vm_listing_new(m, &l, NULL, 0), 0);
    n = vm_listing_line_count(l);
    if (out)
        *out = l;
    else
        vm_listing_free(l);
    return n;
}

/* ---- Tests ------------------------------------------------------------------------- */

START_TEST(calls_level_follows_the_rules)
{
    static evlist l;
    vm_module *m = load();
    vm_listing *lst = NULL;
    uint32_t nlines = listing_lines(m, &lst);
    ct_stats s;
    char path[256], *text;
    FILE *f;
    size_t len;
    json_t *meta;

    l.n = 0;
    calls_run(&l);
    write_all_events(&l, m, 0);
    check_dir(ctdir, nlines, &s);
    /* <toplevel> + fib, mix, print. */
    ck_assert_uint_eq(s.functions, 4);
    ck_assert_uint_eq(s.calls, 1 + 3 + 1 + 1);
    ck_assert_uint_eq(s.returns, s.calls);
    ck_assert_uint_eq(s.error_returns, 0);
    /* Types: None, i32, f32, f64, i64. */
    ck_assert_uint_eq(s.types, 5);
    /* Arguments -0.25 and 1.5 (as Value and in the Call), result NaN. */
    ck_assert_uint_eq(s.floats, 5);
    /* output, throw, loss */
    ck_assert_uint_eq(s.events, 3);
    /* Each call steps to its function's header line first. */
    ck_assert_uint_eq(s.step_lines[1], vm_listing_func_line(lst, 1));

    /* The listing is in files/, under the name of the Path record. */
    ck_assert_ptr_nonnull(strstr(s.first_path, "/ct/files/m.wat"));
    f = fopen(s.first_path, "rb");
    ck_assert_ptr_nonnull(f);
    text = malloc(1 << 16);
    len = fread(text, 1, 1 << 16, f);
    fclose(f);
    ck_assert_uint_eq(len, strlen(vm_listing_text(lst, NULL)));
    ck_assert(memcmp(text, vm_listing_text(lst, NULL), len) == 0);
    free(text);

    snprintf(path, sizeof path, "%s/trace_metadata.json", ctdir);
    meta = json_load_file(path, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(meta, "program")),
                     "m.wasm");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "workdir")),
                     "/work");
    ck_assert_str_eq(
        json_string_value(json_array_get(json_object_get(meta, "args"), 1)),
        "5");
    json_decref(meta);
    vm_listing_free(lst);
    vm_module_free(m);
}
END_TEST

/* Specific records, read back with jansson. */
START_TEST(records_have_the_expected_shapes)
{
    static evlist l;
    vm_module *m = load();
    char path[256];
    json_t *root, *rec;
    size_t i;
    bool saw_nan = false, saw_output = false, saw_named_arg = false;

    l.n = 0;
    calls_run(&l);
    write_all_events(&l, m, 0);
    snprintf(path, sizeof path, "%s/trace.json", ctdir);
    root = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(root);
    json_array_foreach(root, i, rec) {
        json_t *v;

        if ((v = json_object_get(rec, "Return")) != NULL) {
            json_t *rv = json_object_get(v, "return_value");
            const char *f = json_string_value(json_object_get(rv, "f"));

            if (f && strcmp(f, "NaN") == 0)
                saw_nan = true;
        }
        if ((v = json_object_get(rec, "Event")) != NULL &&
            json_integer_value(json_object_get(v, "kind")) == 0) {
            ck_assert_str_eq(
                json_string_value(json_object_get(v, "content")),
                "hi \"there\"\n\xef\xbf\xbd");
            ck_assert_str_eq(
                json_string_value(json_object_get(v, "metadata")), "stdout");
            saw_output = true;
        }
        if ((v = json_object_get(rec, "VariableName")) != NULL &&
            strcmp(json_string_value(v), "n") == 0)
            saw_named_arg = true;
        if ((v = json_object_get(rec, "Call")) != NULL &&
            json_integer_value(json_object_get(v, "function_id")) == 2) {
            json_t *args = json_object_get(v, "args");

            ck_assert_uint_eq(json_array_size(args), 3);
            ck_assert_str_eq(
                json_string_value(json_object_get(
                    json_object_get(json_array_get(args, 0), "value"), "f")),
                "-0.25");
            ck_assert_str_eq(
                json_string_value(json_object_get(
                    json_object_get(json_array_get(args, 1), "value"), "f")),
                "1.5");
            ck_assert_int_eq(
                json_integer_value(json_object_get(
                    json_object_get(json_array_get(args, 2), "value"), "i")),
                -7);
        }
    }
    ck_assert(saw_nan && saw_output && saw_named_arg);
    json_decref(root);
    vm_module_free(m);
}
END_TEST

START_TEST(trap_unwinds_three_frames)
{
    static evlist l;
    vm_module *m = load();
    uint32_t nlines = listing_lines(m, NULL);
    proto_event *ev;
    ct_stats s;

    l.n = 0;
    run_start(&l, PROTO_LEVEL_CALLS);
    call(&l, 1, 1, 3);
    call(&l, 3, 2, 2);
    call(&l, 4, 3, 1);
    ev = push(&l, PROTO_TRAP);
    ev->as.trap.code = VM_ERR_TRAP_DIV_ZERO;
    ev->as.trap.message = (proto_str){"integer divide by zero", 22};
    /* A VM that also reports the unwound frames must not unbalance it. */
    ret(&l, 4, 3, 0);
    run_end(&l, PROTO_STATUS_TRAP);
    write_all_events(&l, m, 0);
    check_dir(ctdir, nlines, &s);
    ck_assert_uint_eq(s.calls, 4);
    ck_assert_uint_eq(s.returns, 4);
    ck_assert_uint_eq(s.error_returns, 4); /* 3 frames and <toplevel> */
    ck_assert_uint_eq(s.events, 1);
    vm_module_free(m);
}
END_TEST

/* A cut stream (no run_end) and an exception that unwinds frames without
 * returns still give balanced Calls and Returns. */
START_TEST(unfinished_runs_are_closed)
{
    static evlist l;
    vm_module *m = load();
    uint32_t nlines = listing_lines(m, NULL);
    ct_stats s;

    l.n = 0;
    run_start(&l, PROTO_LEVEL_CALLS);
    call(&l, 1, 1, 3);
    call(&l, 1, 2, 2);
    call(&l, 1, 3, 1);
    /* Caught at depth 1: the next call is at depth 2 again. */
    call(&l, 3, 2, 0);
    ret(&l, 3, 2, 0);
    call(&l, 4, 2, 0);
    write_all_events(&l, m, 0);
    check_dir(ctdir, nlines, &s);
    ck_assert_uint_eq(s.calls, 6);
    ck_assert_uint_eq(s.returns, 6);
    /* fib(2), fib(1) unwound; trap-less end closes func 4, fib(3) and
     * <toplevel>. */
    ck_assert_uint_eq(s.error_returns, 5);
    vm_module_free(m);
}
END_TEST

START_TEST(ops_steps_point_at_listing_lines)
{
    static const uint32_t offsets[] = {0x57, 0x59, 0x5b, 0x5c, 0x5e,
                                       0x70, 0x71};
    static evlist l;
    vm_module *m = load();
    vm_listing *lst = NULL;
    uint32_t nlines = listing_lines(m, &lst);
    ct_stats s;

    l.n = 0;
    run_start(&l, PROTO_LEVEL_OPS);
    call(&l, 1, 1, 1);
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++)
        op(&l, offsets[i]);
    ret(&l, 1, 1, 1);
    run_end(&l, PROTO_STATUS_OK);
    write_all_events(&l, m, 0);
    check_dir(ctdir, nlines, &s);
    /* The prelude's step, the call's step to the header, one per op. */
    ck_assert_uint_eq(s.steps, 2 + sizeof offsets / sizeof offsets[0]);
    ck_assert_uint_eq(s.step_lines[1], vm_listing_func_line(lst, 1));
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        ck_assert_uint_ne(s.step_lines[2 + i], 0);
        ck_assert_uint_eq(s.step_lines[2 + i],
                          vm_listing_op_line(lst, 1, offsets[i]));
    }
    vm_listing_free(lst);
    vm_module_free(m);
}
END_TEST

static size_t file_size(const char *p)
{
    struct stat st;

    ck_assert_int_eq(stat(p, &st), 0);
    return (size_t)st.st_size;
}

static void copy_prefix(const char *from, const char *to, size_t n)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char *buf = malloc(n + 1);

    ck_assert(in && out && buf);
    ck_assert_uint_eq(fread(buf, 1, n, in), n);
    ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
    free(buf);
}

/* trace.json grows while the run goes on; a copy of it cut anywhere
 * (a crash) is repaired to valid JSON with every complete record. */
START_TEST(streaming_and_repair)
{
    static evlist l;
    vm_module *m = load();
    uint32_t nlines = listing_lines(m, NULL);
    proto_ct_writer *w = NULL;
    proto_ct_opts opts = {.buffer_bytes = 512};
    proto_ct_repair_info info;
    char trace[256], crash[256], crash_trace[300], err[256] = "";
    size_t grown, before, n;
    ct_stats s;

    l.n = 0;
    run_start(&l, PROTO_LEVEL_CALLS);
    for (int i = 0; i < 300; i++) {
        call(&l, 1, 1, i);
        ret(&l, 1, 1, i);
    }
    snprintf(trace, sizeof trace, "%s/trace.json", ctdir);
    snprintf(crash, sizeof crash, "%s/crash", dir);
    snprintf(crash_trace, sizeof crash_trace, "%s/trace.json", crash);
    ck_assert_int_eq(mkdir(crash, 0755), 0);

    ck_assert_int_eq(proto_ct_writer_new(ctdir, m, &opts, &w, err,
                                         sizeof err), 0);
    before = file_size(trace);
    for (size_t i = 0; i < l.n; i++)
        ck_assert_int_eq(proto_ct_writer_add(w, &l.evs[i], err, sizeof err),
                         0);
    grown = file_size(trace);
    ck_assert_uint_gt(grown, before + 10000); /* written as it goes */

    /* Cut the live file at many points and repair each copy. */
    for (size_t cut = 2; cut < grown; cut += grown / 37 + 1) {
        json_t *root;
        json_error_t jerr;
        size_t complete = 0;
        FILE *f;
        char *buf;

        copy_prefix(trace, crash_trace, cut);
        /* Complete records in the prefix: lines ending in ",". */
        buf = malloc(cut);
        f = fopen(crash_trace, "rb");
        ck_assert_uint_eq(fread(buf, 1, cut, f), cut);
        fclose(f);
        for (size_t k = 1; k < cut; k++)
            complete += buf[k] == '\n' && buf[k - 1] == ',';
        free(buf);

        ck_assert_int_eq(proto_ct_repair(crash, &info, err, sizeof err), 0);
        ck_assert(info.was_open);
        ck_assert_uint_eq(info.records, complete);
        root = json_load_file(crash_trace, 0, &jerr);
        ck_assert_msg(root != NULL, "cut at %zu: %s", cut, jerr.text);
        ck_assert_uint_eq(json_array_size(root), complete);
        json_decref(root);
        /* Repairing again changes nothing. */
        n = file_size(crash_trace);
        ck_assert_int_eq(proto_ct_repair(crash, &info, err, sizeof err), 0);
        ck_assert(!info.was_open);
        ck_assert_uint_eq(info.records, complete);
        ck_assert_uint_eq(file_size(crash_trace), n);
    }

    ck_assert_int_eq(proto_ct_writer_free(w, err, sizeof err), 0);
    check_dir(ctdir, nlines, &s);
    ck_assert_uint_eq(s.calls, 301);
    ck_assert_uint_eq(s.error_returns, 1); /* <toplevel>: no run_end */
    /* A closed file is left alone. */
    n = file_size(trace);
    ck_assert_int_eq(proto_ct_repair(ctdir, &info, err, sizeof err), 0);
    ck_assert(!info.was_open);
    ck_assert_uint_eq(info.records, s.records);
    ck_assert_uint_eq(file_size(trace), n);
    /* Missing and foreign files. */
    ck_assert_int_eq(proto_ct_repair(dir, NULL, NULL, 0), PROTO_ERR_NOT_FOUND);
    {
        FILE *f = fopen(crash_trace, "wb");

        fputs("{\"not\": \"ours\"}", f);
        fclose(f);
        ck_assert_int_eq(proto_ct_repair(crash, NULL, NULL, 0),
                         PROTO_ERR_CORRUPT);
    }
    vm_module_free(m);
}
END_TEST

/* A writer with no events still leaves a valid trace. */
START_TEST(empty_run_is_valid)
{
    vm_module *m = load();
    uint32_t nlines = listing_lines(m, NULL);
    proto_ct_writer *w = NULL;
    ct_stats s;

    ck_assert_int_eq(proto_ct_writer_new(ctdir, m, NULL, &w, NULL, 0), 0);
    ck_assert_int_eq(proto_ct_writer_free(w, NULL, 0), 0);
    check_dir(ctdir, nlines, &s);
    ck_assert_uint_eq(s.calls, 1);
    ck_assert_uint_eq(s.returns, 1);
    vm_module_free(m);
}
END_TEST

START_TEST(export_from_native_stream)
{
    static evlist l;
    vm_module *m = load();
    uint32_t nlines = listing_lines(m, NULL);
    proto_file_header h = {.run_id = 7, .level = PROTO_LEVEL_CALLS};
    proto_file_writer *fw = NULL;
    proto_ct_export_info info;
    uint8_t hash[32], other[32] = {1};
    char stream[256], err[256] = "";
    ct_stats s;

    l.n = 0;
    calls_run(&l);
    proto_sha256(wasm_ct, sizeof wasm_ct, hash);
    memcpy(h.module_hash, hash, 32);
    snprintf(stream, sizeof stream, "%s/run.trace", dir);
    ck_assert_int_eq(proto_file_writer_new(stream, &h, NULL, &fw, err,
                                           sizeof err), 0);
    for (size_t i = 0; i < l.n; i++)
        ck_assert_msg(proto_file_writer_add(fw, &l.evs[i], err, sizeof err) ==
                          0,
                      "%s", err);
    ck_assert_int_eq(proto_file_writer_free(fw, err, sizeof err), 0);

    ck_assert_msg(proto_ct_export(stream, ctdir, m, hash, NULL, &info, err,
                                  sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(info.events, l.n);
    ck_assert(!info.torn);
    check_dir(ctdir, nlines, &s);
    ck_assert_uint_eq(info.records, s.records);
    ck_assert_uint_eq(s.calls, 6);
    ck_assert_uint_eq(s.error_returns, 0);

    ck_assert_int_eq(proto_ct_export(stream, ctdir, m, other, NULL, NULL,
                                     err, sizeof err),
                     PROTO_ERR_ARG);
    vm_module_free(m);
}
END_TEST

/* Out of memory at every allocation: an error, never a crash or a leak
 * (the sanitizer build checks the leaks). */
START_TEST(out_of_memory_is_reported)
{
    static evlist l;
    vm_module *m = load();
    int failures = 0;

    l.n = 0;
    calls_run(&l);
    for (long n = 1; n < 200; n++) {
        proto_ct_writer *w = NULL;
        int rc;

        proto__alloc_fail_after = n;
        rc = proto_ct_writer_new(ctdir, m, NULL, &w, NULL, 0);
        for (size_t i = 0; rc == 0 && i < l.n; i++)
            rc = proto_ct_writer_add(w, &l.evs[i], NULL, 0);
        if (w) {
            int frc = proto_ct_writer_free(w, NULL, 0);

            if (rc == 0)
                rc = frc;
        }
        proto__alloc_fail_after = -1;
        if (rc == 0)
            break;
        ck_assert_int_eq(rc, PROTO_ERR_NOMEM);
        failures++;
    }
    ck_assert_int_gt(failures, 5);
    vm_module_free(m);
}
END_TEST

Suite *codetracer_suite(void)
{
    Suite *s = suite_create("codetracer");
    TCase *tc = tcase_create("codetracer");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, calls_level_follows_the_rules);
    tcase_add_test(tc, records_have_the_expected_shapes);
    tcase_add_test(tc, trap_unwinds_three_frames);
    tcase_add_test(tc, unfinished_runs_are_closed);
    tcase_add_test(tc, ops_steps_point_at_listing_lines);
    tcase_add_test(tc, streaming_and_repair);
    tcase_add_test(tc, empty_run_is_valid);
    tcase_add_test(tc, export_from_native_stream);
    tcase_add_test(tc, out_of_memory_is_reported);
    suite_add_tcase(s, tc);
    return s;
}
