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
#include <unistd.h>

#include "proto_int.h"
#include "suites.h"
#include "traced/proto.h"
#include "traced/proto_codetracer.h"
#include "traced/vm_debug.h"
#include "traced/vm_listing.h"

#ifndef TRACED_DEBUG_WASM_DIR
#define TRACED_DEBUG_WASM_DIR "tests/debug"
#endif

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

#define MAX_PATHS 128

typedef struct ct_stats {
    size_t records, paths, functions, types, vars, calls, returns, steps,
        events, error_returns, floats, values, sources, missing;
    /* Lines of each path's file (0: a missing source, unchecked). */
    uint32_t path_lines[MAX_PATHS];
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
    } else if (strcmp(kind, "Bool") == 0) {
        ck_assert(json_is_boolean(json_object_get(v, "b")));
    } else if (strcmp(kind, "String") == 0) {
        ck_assert(json_is_string(json_object_get(v, "text")));
    } else {
        ck_assert_str_eq(kind, "None");
    }
}

/* Where the writer copies source path p: ctd/files/ + its components,
 * "" and "." dropped, ".." spelled "__" (docs/codetracer.md). */
static void mirror_of(const char *ctd, const char *p, char *out, size_t n)
{
    size_t len = (size_t)snprintf(out, n, "%s/files", ctd);

    while (*p && len < n) {
        const char *slash = strchr(p, '/');
        size_t k = slash ? (size_t)(slash - p) : strlen(p);

        if (k == 2 && p[0] == '.' && p[1] == '.')
            len += (size_t)snprintf(out + len, n - len, "/__");
        else if (k && !(k == 1 && p[0] == '.'))
            len += (size_t)snprintf(out + len, n - len, "/%.*s", (int)k, p);
        p += k;
        if (*p)
            p++;
    }
}

/* Lines of the file at path (the last one may lack its newline), or 0
 * when it cannot be read. */
static uint32_t file_lines(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint32_t n = 0;
    int c, last = '\n';

    if (!f)
        return 0;
    while ((c = getc(f)) != EOF) {
        if (c == '\n')
            n++;
        last = c;
    }
    fclose(f);
    return n + (last != '\n');
}

static bool in_array(const json_t *a, const char *s)
{
    size_t i;
    json_t *x;

    json_array_foreach(a, i, x)
        if (json_is_string(x) && strcmp(json_string_value(x), s) == 0)
            return true;
    return false;
}

/*
 * Check dir against the CodeTracer rules: valid JSON, one key per record,
 * ids declared before use, <toplevel> and None first, floats as strings,
 * Calls and Returns balanced, Steps and Functions inside the file of their
 * path: the listing (path 0, nlines lines) or a source copied to files/
 * (unless trace_metadata.json lists it as missing); trace_paths.json
 * lists the Paths in order.
 */
static void check_dir(const char *ctd, uint32_t nlines, ct_stats *s)
{
    char path[512];
    json_error_t jerr;
    json_t *root, *rec, *meta, *paths, *missing;
    size_t i, depth = 0;

    memset(s, 0, sizeof *s);
    snprintf(path, sizeof path, "%s/trace_metadata.json", ctd);
    meta = json_load_file(path, 0, &jerr);
    ck_assert_msg(meta != NULL, "trace_metadata.json: %s", jerr.text);
    missing = json_object_get(meta, "missing_sources");
    ck_assert(missing == NULL || json_is_array(missing));
    snprintf(path, sizeof path, "%s/trace_paths.json", ctd);
    paths = json_load_file(path, 0, &jerr);
    ck_assert_msg(paths != NULL, "trace_paths.json: %s", jerr.text);

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
            const char *p = json_string_value(v);

            ck_assert_ptr_nonnull(p);
            ck_assert_uint_lt(s->paths, MAX_PATHS);
            ck_assert_msg(json_is_string(json_array_get(paths, s->paths)) &&
                              strcmp(json_string_value(json_array_get(
                                         paths, s->paths)),
                                     p) == 0,
                          "trace_paths.json[%zu] is not Path %s", s->paths,
                          p);
            if (s->paths == 0) {
                snprintf(s->first_path, sizeof s->first_path, "%s", p);
                s->path_lines[0] = nlines;
            } else {
                mirror_of(ctd, p, path, sizeof path);
                s->path_lines[s->paths] = file_lines(path);
                if (s->path_lines[s->paths]) {
                    s->sources++;
                } else {
                    ck_assert_msg(missing && in_array(missing, p),
                                  "source %s is neither in files/ nor "
                                  "missing_sources", p);
                    s->missing++;
                }
            }
            s->paths++;
        } else if (strcmp(key, "Function") == 0) {
            json_int_t line = json_integer_value(json_object_get(v, "line"));
            const char *name =
                json_string_value(json_object_get(v, "name"));

            json_int_t pid = json_integer_value(json_object_get(v, "path_id"));

            ck_assert_int_lt(pid, (json_int_t)s->paths);
            ck_assert(line >= 1 && (!s->path_lines[pid] ||
                                    line <= s->path_lines[pid]));
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
            json_int_t pid = json_integer_value(json_object_get(v, "path_id"));

            ck_assert_int_lt(pid, (json_int_t)s->paths);
            ck_assert_msg(line >= 1 && (!s->path_lines[pid] ||
                                        line <= s->path_lines[pid]),
                          "step to line %lld of path %lld", (long long)line,
                          (long long)pid);
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

    ck_assert(json_is_string(json_object_get(meta, "program")));
    ck_assert(json_is_string(json_object_get(meta, "workdir")));
    ck_assert(json_is_array(json_object_get(meta, "args")));
    ck_assert_uint_eq(missing ? json_array_size(missing) : 0, s->missing);
    json_decref(meta);
    ck_assert_uint_eq(json_array_size(paths), s->paths);
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


/* ---- Modules with DWARF ------------------------------------------------------ */

/*
 * tests/debug/types.c built with clang -g (types-v5.wasm, built by CMake
 * for the dwarf suite of test_vm): its functions mix (declared at line
 * 15), count (25) and main (32) take parameters of many C types. The
 * events below are made by hand as for the listing tests; the lines tier
 * (tests/lines/run.sh) records real runs.
 */
typedef struct dprog {
    uint8_t *bytes;
    size_t len;
    vm_module *m;
    vm_debug *d;
    uint32_t mix, count, main; /* function indices */
    uint32_t types_file;       /* types.c in the DWARF file table */
    const char *types_path;
    uint32_t nlines;           /* of the listing */
} dprog;

/* The whole file at path (malloc'd), asserting that it can be read. */
static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long size;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    rewind(f);
    buf = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return buf;
}

static uint32_t func_named(const vm_debug *d, const char *name)
{
    for (uint32_t i = 0; i < vm_debug_subprogram_count(d); i++) {
        const vm_debug_subprogram *sp = vm_debug_subprogram_get(d, i);

        if (sp->name && strcmp(sp->name, name) == 0)
            return sp->func_idx;
    }
    ck_abort_msg("no function %s", name);
    return 0;
}

/* Load TRACED_DEBUG_WASM_DIR/types-v5.wasm. False when it was not built
 * (no clang for wasm32-wasi): the test is skipped, except under CI=1. */
static bool dprog_load(dprog *p)
{
    char path[1024], err[256] = "";
    const char *ci = getenv("CI");
    FILE *f;
    long size;

    memset(p, 0, sizeof *p);
    snprintf(path, sizeof path, "%s/types-v5.wasm", TRACED_DEBUG_WASM_DIR);
    f = fopen(path, "rb");
    if (!f) {
        ck_assert_msg(!(ci && strcmp(ci, "1") == 0),
                      "%s missing (CI=1: clang and wasi-libc must build it)",
                      path);
        fprintf(stderr, "codetracer dwarf: SKIPPED: %s was not built\n",
                path);
        return false;
    }
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    rewind(f);
    p->bytes = malloc((size_t)size);
    ck_assert_ptr_nonnull(p->bytes);
    ck_assert_uint_eq(fread(p->bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    p->len = (size_t)size;
    ck_assert_msg(vm_module_new(p->bytes, p->len, NULL, &p->m, err,
                                sizeof err) == 0,
                  "%s", err);
    ck_assert_int_eq(vm_debug_new(p->m, &p->d, err, sizeof err), 0);
    p->mix = func_named(p->d, "mix");
    p->count = func_named(p->d, "count");
    p->main = func_named(p->d, "main");
    p->types_file = UINT32_MAX;
    for (uint32_t i = 0; i < vm_debug_file_count(p->d); i++) {
        const char *fp = vm_debug_file_path(p->d, i);
        size_t n = strlen(fp);

        if (n > 8 && strcmp(fp + n - 8, "/types.c") == 0) {
            p->types_file = i;
            p->types_path = fp;
        }
    }
    ck_assert_uint_ne(p->types_file, UINT32_MAX);
    ck_assert_msg(p->types_path[0] == '/', "types.c is named %s",
                  p->types_path);
    p->nlines = listing_lines(p->m, NULL);
    return true;
}

static void dprog_free(dprog *p)
{
    vm_debug_free(p->d);
    vm_module_free(p->m);
    free(p->bytes);
}

static proto_val f32v(float x)
{
    proto_val v = {.type = VM_F32};

    memcpy(&v.of.f32_bits, &x, 4);
    return v;
}

static proto_val f64v(double x)
{
    proto_val v = {.type = VM_F64};

    memcpy(&v.of.f64_bits, &x, 8);
    return v;
}

static proto_val i64v(int64_t x)
{
    return (proto_val){.type = VM_I64, .of.i64 = x};
}

/* A file run_start names that the module's DWARF does not. */
#define EXTRA_FILE "/nonexistent/../gen/extra.c"

/* Argument and result values of the DWARF runs (events keep pointers). */
static proto_val mix_args[8], count_args[3], main_args[2], mix_result,
    count_result, main_result;
static proto_str dwarf_files[128];

static void dcall(evlist *l, uint32_t func, uint32_t depth, proto_val *args,
                  uint32_t n)
{
    proto_event *ev = push(l, PROTO_CALL);

    ev->as.call.func = func;
    ev->as.call.depth = depth;
    ev->as.call.args = (proto_vals){args, n};
}

static void dret(evlist *l, uint32_t func, uint32_t depth, proto_val *res)
{
    proto_event *ev = push(l, PROTO_RETURN);

    ev->as.ret.func = func;
    ev->as.ret.depth = depth;
    ev->as.ret.results = (proto_vals){res, res ? 1 : 0};
}

static void dstep(evlist *l, uint32_t file, uint32_t line)
{
    proto_event *ev = push(l, PROTO_STEP);

    ev->as.step.file = file;
    ev->as.step.line = line;
}

/*
 * main(1, argv) calls mix(-1, 2u, 3ll, 0.5f, 0.25, true, 'A', h) and
 * count(p, BLUE, 7), whose result is 4000000000 (an unsigned counter_t
 * whose i32 bits are negative). At level lines (run_start's file table is
 * the DWARF one plus EXTRA_FILE), with steps,
 * an output event and a trap in a second count call.
 */
static void dwarf_run(evlist *l, const dprog *p, bool lines)
{
    proto_event *ev;
    uint32_t nfiles = vm_debug_file_count(p->d), t = p->types_file;

    mix_args[0] = i32v(-1);
    mix_args[1] = i32v(2);
    mix_args[2] = i64v(3);
    mix_args[3] = f32v(0.5f);
    mix_args[4] = f64v(0.25);
    mix_args[5] = i32v(1);
    mix_args[6] = i32v('A');
    mix_args[7] = i32v(0x1000);
    count_args[0] = i32v(0x1ff0);
    count_args[1] = i32v(2);
    count_args[2] = i32v(7);
    main_args[0] = i32v(1);
    main_args[1] = i32v(0x2000);
    mix_result = f64v(4.75);
    count_result = i32v((int32_t)4000000000u);
    main_result = i32v(0);

    l->n = 0;
    run_start(l, lines ? PROTO_LEVEL_LINES : PROTO_LEVEL_CALLS);
    if (lines) {
        ck_assert_uint_lt(nfiles, 127);
        for (uint32_t i = 0; i < nfiles; i++) {
            const char *fp = vm_debug_file_path(p->d, i);

            dwarf_files[i] = (proto_str){fp, (uint32_t)strlen(fp)};
        }
        dwarf_files[nfiles] = (proto_str){EXTRA_FILE, sizeof EXTRA_FILE - 1};
        l->evs[0].as.run_start.files = dwarf_files;
        l->evs[0].as.run_start.nfiles = nfiles + 1;
    }
    dcall(l, p->main, 1, main_args, 2);
    if (lines) {
        dstep(l, t, 33);
        dstep(l, t, 34);
        dstep(l, t, 35);
    }
    dcall(l, p->mix, 2, mix_args, 8);
    if (lines) {
        dstep(l, t, 19);
        dstep(l, t, 20);
        dstep(l, t, 21);
        dstep(l, t, 22);
    }
    dret(l, p->mix, 2, &mix_result);
    dcall(l, p->count, 2, count_args, 3);
    dret(l, p->count, 2, &count_result);
    if (lines) {
        dstep(l, t, 36);
        ev = push(l, PROTO_OUTPUT);
        ev->as.output.fd = 1;
        ev->as.output.data = (proto_str){"mix 4.75 count 4000000000\n", 26};
        dstep(l, nfiles, 3);      /* the file the module does not name */
        dstep(l, nfiles + 5, 9);  /* no such file: dropped */
        dcall(l, p->count, 2, count_args, 3);
        dstep(l, t, 29);
        ev = push(l, PROTO_TRAP);
        ev->as.trap.code = VM_ERR_TRAP_UNREACHABLE;
        ev->as.trap.message = (proto_str){"unreachable", 11};
        ev = push(l, PROTO_RUN_END);
        ev->as.run_end.status = PROTO_STATUS_TRAP;
    } else {
        dret(l, p->main, 1, &main_result);
        run_end(l, PROTO_STATUS_OK);
    }
}

static void write_events_opts(const evlist *l, const vm_module *m,
                              const proto_ct_opts *opts)
{
    proto_ct_writer *w = NULL;
    char err[256] = "";

    ck_assert_msg(proto_ct_writer_new(ctdir, m, opts, &w, err, sizeof err) ==
                      0,
                  "%s", err);
    for (size_t i = 0; i < l->n; i++)
        ck_assert_msg(proto_ct_writer_add(w, &l->evs[i], err, sizeof err) ==
                          0,
                      "event %zu: %s", i, err);
    ck_assert_msg(proto_ct_writer_free(w, err, sizeof err) == 0, "%s", err);
}

static json_t *load_trace(void)
{
    char path[256];
    json_error_t jerr;
    json_t *root;

    snprintf(path, sizeof path, "%s/trace.json", ctdir);
    root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root != NULL, "trace.json: %s", jerr.text);
    return root;
}

static const char *rec_key(const json_t *rec)
{
    return json_object_iter_key(json_object_iter((json_t *)rec));
}

static json_t *rec_val(const json_t *rec)
{
    return json_object_iter_value(json_object_iter((json_t *)rec));
}

/* The nth record with key (0-based), or NULL. */
static json_t *nth(json_t *recs, const char *key, size_t n)
{
    size_t i;
    json_t *rec;

    json_array_foreach(recs, i, rec)
        if (strcmp(rec_key(rec), key) == 0 && n-- == 0)
            return rec_val(rec);
    return NULL;
}

/* The Function id named name, or -1. */
static json_int_t function_id(json_t *recs, const char *name)
{
    json_t *f;

    for (size_t k = 0; (f = nth(recs, "Function", k)) != NULL; k++)
        if (strcmp(json_string_value(json_object_get(f, "name")), name) ==
            0)
            return (json_int_t)k;
    return -1;
}

/* The Path id of path, or -1. */
static json_int_t path_id(json_t *recs, const char *path)
{
    json_t *p;

    for (size_t k = 0; (p = nth(recs, "Path", k)) != NULL; k++)
        if (strcmp(json_string_value(p), path) == 0)
            return (json_int_t)k;
    return -1;
}

/* Assert that ValueRecord v is of kind with field = want (as JSON text)
 * and that its Type is (type_kind, lang_type). */
static void expect_value(json_t *recs, const json_t *v, const char *kind,
                         const char *field, const char *want, int type_kind,
                         const char *lang_type)
{
    json_t *type =
        nth(recs, "Type",
            (size_t)json_integer_value(json_object_get(v, "type_id")));
    char *got;

    ck_assert_ptr_nonnull(type);
    ck_assert_str_eq(json_string_value(json_object_get(v, "kind")), kind);
    got = json_dumps(json_object_get(v, field), JSON_ENCODE_ANY);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(strcmp(got, want) == 0, "%s value %s, want %s", lang_type,
                  got, want);
    free(got);
    ck_assert_str_eq(json_string_value(json_object_get(type, "lang_type")),
                     lang_type);
    ck_assert_int_eq(json_integer_value(json_object_get(type, "kind")),
                     type_kind);
}

/* The Call of function fid (the first one), or NULL. */
static json_t *call_of(json_t *recs, json_int_t fid)
{
    json_t *c;

    for (size_t k = 0; (c = nth(recs, "Call", k)) != NULL; k++)
        if (json_integer_value(json_object_get(c, "function_id")) == fid)
            return c;
    return NULL;
}

/* The arguments carry DWARF's names and types, Functions its declarations,
 * and the sources are copied under files/. */
START_TEST(dwarf_values_are_typed)
{
    static evlist l;
    proto_ct_opts opts = {.workdir = "/work", .read_source_paths = true};
    dprog p;
    ct_stats s;
    json_t *recs, *c, *args, *f, *ret;
    json_int_t mix, count, types;
    char copy[512], *a, *b;
    size_t alen, blen;

    if (!dprog_load(&p))
        return;
    dwarf_run(&l, &p, false);
    write_events_opts(&l, p.m, &opts);
    check_dir(ctdir, p.nlines, &s);
    ck_assert_uint_eq(s.calls, 4); /* <toplevel>, main, mix, count */
    ck_assert_uint_eq(s.error_returns, 0);
    ck_assert_uint_ge(s.sources, 1);

    recs = load_trace();
    types = path_id(recs, p.types_path);
    ck_assert_int_gt(types, 0);
    mix = function_id(recs, "mix");
    count = function_id(recs, "count");
    f = nth(recs, "Function", (size_t)mix);
    ck_assert_int_eq(json_integer_value(json_object_get(f, "path_id")),
                     types);
    ck_assert_int_eq(json_integer_value(json_object_get(f, "line")), 15);
    f = nth(recs, "Function", (size_t)count);
    ck_assert_int_eq(json_integer_value(json_object_get(f, "line")), 25);
    f = nth(recs, "Function", (size_t)function_id(recs, "main"));
    ck_assert_int_eq(json_integer_value(json_object_get(f, "line")), 32);

    c = call_of(recs, mix);
    ck_assert_ptr_nonnull(c);
    args = json_object_get(c, "args");
    ck_assert_uint_eq(json_array_size(args), 8);
#define ARG(i) json_object_get(json_array_get(args, i), "value")
    expect_value(recs, ARG(0), "Int", "i", "-1", 7, "int");
    expect_value(recs, ARG(1), "Int", "i", "2", 7, "unsigned int");
    expect_value(recs, ARG(2), "Int", "i", "3", 7, "long long");
    expect_value(recs, ARG(3), "Float", "f", "\"0.5\"", 8, "float");
    expect_value(recs, ARG(4), "Float", "f", "\"0.25\"", 8, "double");
    expect_value(recs, ARG(5), "Bool", "b", "true", 12, "_Bool");
    expect_value(recs, ARG(6), "String", "text", "\"A\"", 11, "char");
    expect_value(recs, ARG(7), "Raw", "r", "\"0x1000\"", 16, "const char *");
    /* Parameter names from DWARF, in order. */
    ck_assert_str_eq(json_string_value(nth(recs, "VariableName",
                                           (size_t)json_integer_value(
                                               json_object_get(
                                                   json_array_get(args, 7),
                                                   "variable_id")))),
                     "h");
    c = call_of(recs, count);
    args = json_object_get(c, "args");
    expect_value(recs, ARG(0), "Raw", "r", "\"0x1ff0\"", 16,
                 "const struct point *");
    expect_value(recs, ARG(1), "Int", "i", "2", 7, "enum colour");
    expect_value(recs, ARG(2), "Int", "i", "7", 7, "volatile counter_t");
#undef ARG
    /* Returns: mix's double, count's unsigned 4000000000, main's int. */
    ret = json_object_get(nth(recs, "Return", 0), "return_value");
    expect_value(recs, ret, "Float", "f", "\"4.75\"", 8, "double");
    ret = json_object_get(nth(recs, "Return", 1), "return_value");
    expect_value(recs, ret, "Int", "i", "4000000000", 7, "counter_t");
    ret = json_object_get(nth(recs, "Return", 2), "return_value");
    expect_value(recs, ret, "Int", "i", "0", 7, "int");
    json_decref(recs);

    /* files/ + the path holds a byte-equal copy of types.c. */
    mirror_of(ctdir, p.types_path, copy, sizeof copy);
    a = read_whole(copy, &alen);
    b = read_whole(p.types_path, &blen);
    ck_assert_uint_eq(alen, blen);
    ck_assert(memcmp(a, b, alen) == 0);
    free(a);
    free(b);
    dprog_free(&p);
}
END_TEST

/* Steps at (source path, line) in stream order, output after the Step that
 * wrote it, a file run_start names that DWARF does not, a trap unwinding
 * both frames. */
START_TEST(dwarf_steps_follow_the_stream)
{
    static evlist l;
    proto_ct_opts opts = {.workdir = "/work", .read_source_paths = true};
    static const uint32_t want[] = {33, 34, 35, 19, 20, 21, 22, 36, 3, 29};
    static const uint32_t entries[] = {32, 15, 25, 25};
    dprog p;
    ct_stats s;
    json_t *recs, *rec, *meta;
    json_int_t types, extra;
    size_t i, nsteps = 0, nentries = 0;
    char path[256];
    json_error_t jerr;

    if (!dprog_load(&p))
        return;
    dwarf_run(&l, &p, true);
    write_events_opts(&l, p.m, &opts);
    check_dir(ctdir, p.nlines, &s);
    ck_assert_uint_eq(s.calls, 5); /* <toplevel>, main, mix, count x2 */
    ck_assert_uint_eq(s.returns, 5);
    ck_assert_uint_eq(s.error_returns, 3); /* count, main, <toplevel> */

    recs = load_trace();
    types = path_id(recs, p.types_path);
    extra = path_id(recs, EXTRA_FILE);
    ck_assert_int_gt(types, 0);
    ck_assert_int_gt(extra, types);
    json_array_foreach(recs, i, rec) {
        json_t *v = rec_val(rec);
        json_int_t pid, line;

        if (strcmp(rec_key(rec), "Event") == 0 &&
            json_integer_value(json_object_get(v, "kind")) ==
                PROTO_CT_EVENT_WRITE) {
            /* Right after the Step of line 36, the printf. */
            json_t *prev = json_array_get(recs, i - 1);

            ck_assert_str_eq(rec_key(prev), "Step");
            ck_assert_int_eq(
                json_integer_value(json_object_get(rec_val(prev), "line")),
                36);
            ck_assert_uint_eq(nsteps, 8); /* 33 34 35 19 20 21 22 36 */
        }
        if (strcmp(rec_key(rec), "Step") != 0)
            continue;
        pid = json_integer_value(json_object_get(v, "path_id"));
        line = json_integer_value(json_object_get(v, "line"));
        if (pid == 0) {
            ck_assert_int_eq(line, 1); /* the prelude's */
            continue;
        }
        /* A Step right before a Call is the call's entry, at the
         * function's declaration; the others are the step events. */
        if (strcmp(rec_key(json_array_get(recs, i + 1)), "Call") == 0) {
            ck_assert_uint_lt(nentries, 4);
            ck_assert_int_eq(pid, types);
            ck_assert_int_eq(line, entries[nentries++]);
            continue;
        }
        ck_assert_uint_lt(nsteps, 10);
        ck_assert_int_eq(pid, want[nsteps] == 3 ? extra : types);
        ck_assert_int_eq(line, want[nsteps]);
        nsteps++;
    }
    ck_assert_uint_eq(nsteps, 10);
    ck_assert_uint_eq(nentries, 4);
    json_decref(recs);

    /* The extra file cannot be read: listed as missing, not copied. */
    snprintf(path, sizeof path, "%s/trace_metadata.json", ctdir);
    meta = json_load_file(path, 0, &jerr);
    ck_assert_ptr_nonnull(meta);
    ck_assert(in_array(json_object_get(meta, "missing_sources"),
                       EXTRA_FILE));
    ck_assert(!in_array(json_object_get(meta, "missing_sources"),
                        p.types_path));
    json_decref(meta);
    dprog_free(&p);
}
END_TEST

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Sources come from the bundle first, by the longest path suffix found
 * there (a FIFO there is passed over, not read), else from the DWARF path
 * when allowed, else they are missing; a bundle that is not a directory
 * is an error. */
START_TEST(dwarf_sources_from_bundle_or_missing)
{
    static evlist l;
    proto_ct_opts opts = {.workdir = "/work"};
    proto_ct_writer *w = NULL;
    dprog p;
    ct_stats s;
    char bundle[256], sub[300], file[400], copy[512], text[2048], *got;
    size_t len, n = 0;
    uint32_t copied, missing;
    json_t *meta;
    json_error_t jerr;

    if (!dprog_load(&p))
        return;
    dwarf_run(&l, &p, true);
    for (int i = 1; i <= 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "// bundled %d\n",
                              i);

    /* bundle/debug/types.c is a FIFO; bundle/types.c the file. */
    snprintf(bundle, sizeof bundle, "%s/bundle", dir);
    snprintf(sub, sizeof sub, "%s/debug", bundle);
    ck_assert_int_eq(mkdir(bundle, 0755), 0);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    snprintf(file, sizeof file, "%s/types.c", sub);
    ck_assert_int_eq(mkfifo(file, 0644), 0);
    snprintf(file, sizeof file, "%s/types.c", bundle);
    write_text(file, text);
    /* EXTRA_FILE is found by its suffix after "..", gen/extra.c, and its
     * copy stays inside files/ ("__" for ".."). */
    snprintf(sub, sizeof sub, "%s/gen", bundle);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    snprintf(file, sizeof file, "%s/extra.c", sub);
    write_text(file, text);
    opts.source_dir = bundle;
    write_events_opts(&l, p.m, &opts);
    check_dir(ctdir, p.nlines, &s);
    mirror_of(ctdir, p.types_path, copy, sizeof copy);
    got = read_whole(copy, &len);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(got, text, n) == 0);
    free(got);
    snprintf(file, sizeof file, "%s/files/nonexistent/__/gen/extra.c",
             ctdir);
    got = read_whole(file, &len);
    ck_assert_uint_eq(len, n);
    free(got);

    /* Neither a bundle nor reading the paths: missing, and still valid. */
    opts.source_dir = NULL;
    snprintf(file, sizeof file, "rm -rf %s", ctdir);
    ck_assert_int_eq(system(file), 0);
    ck_assert_int_eq(proto_ct_writer_new(ctdir, p.m, &opts, &w, NULL, 0), 0);
    proto_ct_writer_sources(w, &copied, &missing);
    ck_assert_uint_eq(copied, 0);
    ck_assert_uint_eq(missing, vm_debug_file_count(p.d));
    for (size_t i = 0; i < l.n; i++)
        ck_assert_int_eq(proto_ct_writer_add(w, &l.evs[i], NULL, 0), 0);
    ck_assert_int_eq(proto_ct_writer_free(w, NULL, 0), 0);
    check_dir(ctdir, p.nlines, &s);
    ck_assert_uint_eq(s.sources, 0);
    ck_assert_uint_eq(s.missing, vm_debug_file_count(p.d) + 1); /* extra */
    ck_assert(access(copy, F_OK) != 0);
    snprintf(file, sizeof file, "%s/trace_metadata.json", ctdir);
    meta = json_load_file(file, 0, &jerr);
    ck_assert_ptr_nonnull(meta);
    ck_assert(in_array(json_object_get(meta, "missing_sources"),
                       p.types_path));
    json_decref(meta);

    /* A bundle that is not a directory. */
    snprintf(file, sizeof file, "%s/types.c", bundle);
    opts.source_dir = file;
    ck_assert_int_eq(proto_ct_writer_new(ctdir, p.m, &opts, &w, NULL, 0),
                     PROTO_ERR_ARG);
    ck_assert_ptr_null(w);
    opts.source_dir = "/nonexistent/bundle";
    ck_assert_int_eq(proto_ct_writer_new(ctdir, p.m, &opts, &w, NULL, 0),
                     PROTO_ERR_ARG);
    dprog_free(&p);
}
END_TEST

/* Out of memory anywhere in the DWARF path (sources, types, steps): an
 * error, never a crash or a leak. */
START_TEST(dwarf_out_of_memory_is_reported)
{
    static evlist l;
    proto_ct_opts opts = {.read_source_paths = true};
    dprog p;
    int failures = 0, rc = -1;

    if (!dprog_load(&p))
        return;
    dwarf_run(&l, &p, true);
    for (long n = 1; n < 5000 && rc != 0; n++) {
        proto_ct_writer *w = NULL;

        proto__alloc_fail_after = n;
        rc = proto_ct_writer_new(ctdir, p.m, &opts, &w, NULL, 0);
        for (size_t i = 0; rc == 0 && i < l.n; i++)
            rc = proto_ct_writer_add(w, &l.evs[i], NULL, 0);
        if (w) {
            int frc = proto_ct_writer_free(w, NULL, 0);

            if (rc == 0)
                rc = frc;
        }
        proto__alloc_fail_after = -1;
        if (rc != 0) {
            ck_assert_int_eq(rc, PROTO_ERR_NOMEM);
            failures++;
        }
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_gt(failures, 50);
    dprog_free(&p);
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
    tc = tcase_create("codetracer_dwarf");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dwarf_values_are_typed);
    tcase_add_test(tc, dwarf_steps_follow_the_stream);
    tcase_add_test(tc, dwarf_sources_from_bundle_or_missing);
    tcase_add_test(tc, dwarf_out_of_memory_is_reported);
    suite_add_tcase(s, tc);
    return s;
}
