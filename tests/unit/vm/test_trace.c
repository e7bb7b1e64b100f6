/*
 * The tracer hooks (vm.h, "Tracing"): order, counts, values and the op
 * stream, on small modules whose numbers are counted by hand below. The
 * modules are embedded as bytes (wat2wasm 1.0.32; --enable-tail-call /
 * --enable-exceptions for the last two).
 *
 * core.wat (function indices: host 0, fib 1, loop 2, callhost 3, deep 4,
 * trap3 5, tiny 6):
 *
 * (module
 *   (import "env" "host" (func $host (param i32) (result i32)))
 *   (func $fib (export "fib") (param $n i32) (result i32)
 *     (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
 *       (then (local.get $n))
 *       (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
 *                      (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
 *   (func (export "loop") (param $k i32) (result i32)
 *     (local $i i32)
 *     (block $out
 *       (loop $top
 *         (br_if $out (i32.ge_u (local.get $i) (local.get $k)))
 *         (local.set $i (i32.add (local.get $i) (i32.const 1)))
 *         (br $top)))
 *     (local.get $i))
 *   (func (export "callhost") (param i32) (result i32)
 *     (i32.add (call $host (local.get 0)) (i32.const 1)))
 *   (func $deep (param i32) (result i32)
 *     (if (result i32) (i32.eqz (local.get 0))
 *       (then (unreachable))
 *       (else (call $deep (i32.sub (local.get 0) (i32.const 1))))))
 *   (func (export "trap3") (result i32) (call $deep (i32.const 2)))
 *   (func (export "tiny") (param i32) (result i32)
 *     (i32.add (local.get 0) (i32.const 7))))
 *
 * tail.wat:
 *
 * (module
 *   (func $count (export "count") (param i32) (result i32)
 *     (if (result i32) (i32.eqz (local.get 0))
 *       (then (i32.const 42))
 *       (else (return_call $count (i32.sub (local.get 0) (i32.const 1)))))))
 *
 * eh.wat (thrower 0, mid 1, catch 2, uncaught 3):
 *
 * (module
 *   (tag $e (param i32))
 *   (func $thrower (param i32) (throw $e (local.get 0)))
 *   (func $mid (param i32) (call $thrower (local.get 0)))
 *   (func (export "catch") (param i32) (result i32)
 *     (try (result i32)
 *       (do (call $mid (local.get 0)) (i32.const 0))
 *       (catch $e)))
 *   (func (export "uncaught") (param i32) (call $mid (local.get 0))))
 *
 * lib.wat and app.wat (app imports lib's add3, function 2 of lib, as its
 * function 0):
 *
 * (module
 *   (func (result i32) (i32.const 0))
 *   (func (result i32) (i32.const 1))
 *   (func (export "add3") (param i32) (result i32)
 *     (i32.add (local.get 0) (i32.const 3))))
 *
 * (module
 *   (import "lib" "add3" (func $add3 (param i32) (result i32)))
 *   (func (export "twice") (param i32) (result i32)
 *     (call $add3 (call $add3 (local.get 0)))))
 */
/*
 * step.wat, for the step points (offsets from wasm-objdump -d in the
 * comments of the tests below; function indices: host 0, loop 1, sel 2,
 * fib 3, callhost 4, boom 5, trap 6, cond 7, fin 8):
 *
 * (module
 *   (import "env" "host" (func $host (param i32) (result i32)))
 *   (func $loop (export "loop") (param $k i32) (result i32)
 *     (local $i i32)
 *     (block $out
 *       (loop $top
 *         (br_if $out (i32.ge_u (local.get $i) (local.get $k)))
 *         (local.set $i (i32.add (local.get $i) (i32.const 1)))
 *         (br $top)))
 *     (local.get $i))
 *   (func $sel (export "sel") (param i32) (result i32)
 *     (if (result i32) (local.get 0)
 *       (then (i32.const 10))
 *       (else (i32.const 20))))
 *   (func $fib (export "fib") ...as in core.wat...)
 *   (func $callhost (export "callhost") (param i32) (result i32)
 *     (i32.add (call $host (local.get 0)) (i32.const 1)))
 *   (func $boom (param i32) (result i32)
 *     (drop (local.get 0))
 *     (unreachable))
 *   (func (export "trap") (result i32)
 *     (i32.const 3)
 *     (call $boom))
 *   (func $cond (export "cond") (param i32) (result i32)
 *     (block $b
 *       (br_if $b (i32.eqz (local.get 0)))
 *       (return (i32.const 1)))
 *     (i32.const 0))
 *   (func (export "fin") (param i32)
 *     (block $b (br_if $b (local.get 0)) (nop))))
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traced/vm.h"
#include "traced/vm_listing.h"

static const uint8_t lib_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60,
    0x00, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x03, 0x04, 0x03, 0x00,
    0x00, 0x01, 0x07, 0x08, 0x01, 0x04, 0x61, 0x64, 0x64, 0x33, 0x00, 0x02,
    0x0a, 0x13, 0x03, 0x04, 0x00, 0x41, 0x00, 0x0b, 0x04, 0x00, 0x41, 0x01,
    0x0b, 0x07, 0x00, 0x20, 0x00, 0x41, 0x03, 0x6a, 0x0b};

static const uint8_t app_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60,
    0x01, 0x7f, 0x01, 0x7f, 0x02, 0x0c, 0x01, 0x03, 0x6c, 0x69, 0x62, 0x04,
    0x61, 0x64, 0x64, 0x33, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x07, 0x09,
    0x01, 0x05, 0x74, 0x77, 0x69, 0x63, 0x65, 0x00, 0x01, 0x0a, 0x0a, 0x01,
    0x08, 0x00, 0x20, 0x00, 0x10, 0x00, 0x10, 0x00, 0x0b};

static const uint8_t core_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x01, 0x7f, 0x02, 0x0c, 0x01, 0x03,
  0x65, 0x6e, 0x76, 0x04, 0x68, 0x6f, 0x73, 0x74, 0x00, 0x00, 0x03, 0x07,
  0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x07, 0x28, 0x05, 0x03, 0x66,
  0x69, 0x62, 0x00, 0x01, 0x04, 0x6c, 0x6f, 0x6f, 0x70, 0x00, 0x02, 0x08,
  0x63, 0x61, 0x6c, 0x6c, 0x68, 0x6f, 0x73, 0x74, 0x00, 0x03, 0x05, 0x74,
  0x72, 0x61, 0x70, 0x33, 0x00, 0x05, 0x04, 0x74, 0x69, 0x6e, 0x79, 0x00,
  0x06, 0x0a, 0x66, 0x06, 0x1c, 0x00, 0x20, 0x00, 0x41, 0x02, 0x49, 0x04,
  0x7f, 0x20, 0x00, 0x05, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x01, 0x20,
  0x00, 0x41, 0x02, 0x6b, 0x10, 0x01, 0x6a, 0x0b, 0x0b, 0x1c, 0x01, 0x01,
  0x7f, 0x02, 0x40, 0x03, 0x40, 0x20, 0x01, 0x20, 0x00, 0x4f, 0x0d, 0x01,
  0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, 0x0c, 0x00, 0x0b, 0x0b, 0x20,
  0x01, 0x0b, 0x09, 0x00, 0x20, 0x00, 0x10, 0x00, 0x41, 0x01, 0x6a, 0x0b,
  0x11, 0x00, 0x20, 0x00, 0x45, 0x04, 0x7f, 0x00, 0x05, 0x20, 0x00, 0x41,
  0x01, 0x6b, 0x10, 0x04, 0x0b, 0x0b, 0x06, 0x00, 0x41, 0x02, 0x10, 0x04,
  0x0b, 0x07, 0x00, 0x20, 0x00, 0x41, 0x07, 0x6a, 0x0b
};

static const uint8_t tail_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x09, 0x01, 0x05,
  0x63, 0x6f, 0x75, 0x6e, 0x74, 0x00, 0x00, 0x0a, 0x14, 0x01, 0x12, 0x00,
  0x20, 0x00, 0x45, 0x04, 0x7f, 0x41, 0x2a, 0x05, 0x20, 0x00, 0x41, 0x01,
  0x6b, 0x12, 0x00, 0x0b, 0x0b
};

static const uint8_t eh_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60,
  0x01, 0x7f, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x03, 0x05, 0x04, 0x00,
  0x00, 0x01, 0x00, 0x0d, 0x03, 0x01, 0x00, 0x00, 0x07, 0x14, 0x02, 0x05,
  0x63, 0x61, 0x74, 0x63, 0x68, 0x00, 0x02, 0x08, 0x75, 0x6e, 0x63, 0x61,
  0x75, 0x67, 0x68, 0x74, 0x00, 0x03, 0x0a, 0x24, 0x04, 0x06, 0x00, 0x20,
  0x00, 0x08, 0x00, 0x0b, 0x06, 0x00, 0x20, 0x00, 0x10, 0x00, 0x0b, 0x0d,
  0x00, 0x06, 0x7f, 0x20, 0x00, 0x10, 0x01, 0x41, 0x00, 0x07, 0x00, 0x0b,
  0x0b, 0x06, 0x00, 0x20, 0x00, 0x10, 0x01, 0x0b
};

static const uint8_t step_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0e, 0x03, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x00,
  0x02, 0x0c, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x04, 0x68, 0x6f, 0x73, 0x74,
  0x00, 0x00, 0x03, 0x09, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
  0x02, 0x07, 0x33, 0x07, 0x04, 0x6c, 0x6f, 0x6f, 0x70, 0x00, 0x01, 0x03,
  0x73, 0x65, 0x6c, 0x00, 0x02, 0x03, 0x66, 0x69, 0x62, 0x00, 0x03, 0x08,
  0x63, 0x61, 0x6c, 0x6c, 0x68, 0x6f, 0x73, 0x74, 0x00, 0x04, 0x04, 0x74,
  0x72, 0x61, 0x70, 0x00, 0x06, 0x04, 0x63, 0x6f, 0x6e, 0x64, 0x00, 0x07,
  0x03, 0x66, 0x69, 0x6e, 0x00, 0x08, 0x0a, 0x7b, 0x08, 0x1c, 0x01, 0x01,
  0x7f, 0x02, 0x40, 0x03, 0x40, 0x20, 0x01, 0x20, 0x00, 0x4f, 0x0d, 0x01,
  0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, 0x0c, 0x00, 0x0b, 0x0b, 0x20,
  0x01, 0x0b, 0x0c, 0x00, 0x20, 0x00, 0x04, 0x7f, 0x41, 0x0a, 0x05, 0x41,
  0x14, 0x0b, 0x0b, 0x1c, 0x00, 0x20, 0x00, 0x41, 0x02, 0x49, 0x04, 0x7f,
  0x20, 0x00, 0x05, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x03, 0x20, 0x00,
  0x41, 0x02, 0x6b, 0x10, 0x03, 0x6a, 0x0b, 0x0b, 0x09, 0x00, 0x20, 0x00,
  0x10, 0x00, 0x41, 0x01, 0x6a, 0x0b, 0x06, 0x00, 0x20, 0x00, 0x1a, 0x00,
  0x0b, 0x06, 0x00, 0x41, 0x03, 0x10, 0x05, 0x0b, 0x0f, 0x00, 0x02, 0x40,
  0x20, 0x00, 0x45, 0x0d, 0x00, 0x41, 0x01, 0x0f, 0x0b, 0x41, 0x00, 0x0b,
  0x0a, 0x00, 0x02, 0x40, 0x20, 0x00, 0x0d, 0x00, 0x01, 0x0b, 0x0b
};

/* ---- A tracer that writes every event into a log ---------------------- */

typedef struct tlog {
    char buf[8192];
    size_t len;
    uint32_t ops[64][2]; /* first ops: opcode, offset */
    size_t nops;
    const vm_module *m; /* for steps: the module whose points they are */
    uint32_t npoints;
} tlog;

static void __attribute__((format(printf, 2, 3)))
tlog_add(tlog *l, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(l->buf + l->len, sizeof l->buf - l->len, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof l->buf - l->len)
        l->len += (size_t)n;
}

static void tlog_vals(tlog *l, const vm_trace_vals *v)
{
    for (uint32_t i = 0; i < v->count; i++) {
        vm_val x;
        ck_assert_int_eq(vm_trace_vals_get(v, i, &x), 0);
        ck_assert_int_eq(x.type, VM_I32);
        tlog_add(l, "%s%d", i ? "," : "", x.of.i32);
    }
}

static void log_op(void *user, uint32_t opcode, uint32_t offset)
{
    tlog *l = user;

    if (l->nops < 64) {
        l->ops[l->nops][0] = opcode;
        l->ops[l->nops][1] = offset;
    }
    l->nops++;
}

static void log_call(void *user, const vm_trace_frame *f)
{
    tlog *l = user;

    tlog_add(l, "call %u d%u (", f->func_idx, f->depth);
    tlog_vals(l, &f->vals);
    tlog_add(l, "); ");
}

static void log_ret(void *user, const vm_trace_frame *f)
{
    tlog *l = user;

    tlog_add(l, "ret %u d%u", f->func_idx, f->depth);
    if (f->unwound)
        tlog_add(l, " unwound");
    if (f->tail)
        tlog_add(l, " tail");
    if (f->vals.count) {
        tlog_add(l, " = ");
        tlog_vals(l, &f->vals);
    }
    tlog_add(l, "; ");
}

static void log_host_call(void *user, const vm_trace_frame *f)
{
    tlog *l = user;

    tlog_add(l, "host %u d%u (", f->func_idx, f->depth);
    tlog_vals(l, &f->vals);
    tlog_add(l, "); ");
}

static void log_host_return(void *user, const vm_trace_frame *f)
{
    tlog *l = user;

    tlog_add(l, "host_ret %u d%u%s", f->func_idx, f->depth,
             f->unwound ? " unwound" : "");
    if (f->vals.count) {
        tlog_add(l, " = ");
        tlog_vals(l, &f->vals);
    }
    tlog_add(l, "; ");
}

static void log_throw(void *user, const vm_trace_throw *t)
{
    tlog *l = user;

    tlog_add(l, "throw %u (", t->tag_idx);
    tlog_vals(l, &t->payload);
    tlog_add(l, "); ");
}

static void log_trap(void *user, int code, const char *message)
{
    tlog *l = user;

    ck_assert_ptr_nonnull(message);
    tlog_add(l, "trap %s; ", vm_err_name(code));
}

/* A step logs its offset, and its depth when that is not 1. Its point
 * index is the offset's position among the module's points. */
static void log_step(void *user, uint32_t offset, uint32_t point,
                     uint32_t depth)
{
    tlog *l = user;

    ck_assert_uint_eq(vm_module_step_points(l->m, &l->npoints)[point],
                      offset);
    if (depth == 1)
        tlog_add(l, "s%x; ", offset);
    else
        tlog_add(l, "s%x d%u; ", offset, depth);
}

/* With both op and step: the ops go into the log too, as o<offset>. */
static void log_op_inline(void *user, uint32_t opcode, uint32_t offset)
{
    tlog *l = user;

    (void)opcode;
    tlog_add(l, "o%x; ", offset);
}

static void tlog_init(tlog *l, vm_tracer *t, bool ops)
{
    memset(l, 0, sizeof *l);
    memset(t, 0, sizeof *t);
    t->user = l;
    t->op = ops ? log_op : NULL;
    t->call = log_call;
    t->ret = log_ret;
    t->host_call = log_host_call;
    t->host_return = log_host_return;
    t->throw_ = log_throw;
    t->trap = log_trap;
}

/* ---- Fixture ------------------------------------------------------------ */

typedef struct fixture {
    vm_module *m;
    vm_store *s;
    vm_instance *inst;
} fixture;

static int host_double(vm_host_call *c, const vm_val *args, vm_val *results)
{
    (void)c;
    results[0].type = VM_I32;
    results[0].of.i32 = args[0].of.i32 * 2;
    return 0;
}

static void fx_open(fixture *fx, const uint8_t *bytes, size_t len,
                    uint32_t features, const vm_store_limits *limits)
{
    vm_load_options lo = {.features = features};
    static const vm_valtype i32[] = {VM_I32};
    vm_extern imp[1];
    uint32_t nimp = 0;
    char err[256] = "";

    ck_assert_msg(vm_module_new(bytes, len, &lo, &fx->m, err, sizeof err) == 0,
                  "load: %s", err);
    ck_assert_int_eq(vm_store_new(limits, &fx->s), 0);
    if (vm_module_import_count(fx->m) == 1) {
        imp[0].kind = VM_EXTERN_FUNC;
        ck_assert_int_eq(vm_func_new_host(fx->s, i32, 1, i32, 1, host_double,
                                          NULL, "host", &imp[0].of.func),
                         0);
        nimp = 1;
    }
    ck_assert_msg(vm_instance_new(fx->s, fx->m, imp, nimp, &fx->inst, err,
                                  sizeof err) == 0,
                  "instantiate: %s", err);
}

static void fx_close(fixture *fx)
{
    vm_store_free(fx->s);
    vm_module_free(fx->m);
}

/* Call export name with up to one i32 argument, traced by t. */
static int fx_call(fixture *fx, const char *name, const int32_t *arg,
                   int32_t *result, const vm_tracer *t)
{
    vm_extern ex;
    vm_functype_view ft;
    vm_val a = {.type = VM_I32}, r = {0};
    char err[256];
    int rc;

    ck_assert_int_eq(vm_instance_export(fx->inst, name, &ex), 0);
    ck_assert_int_eq(vm_func_type(ex.of.func, &ft), 0);
    if (arg)
        a.of.i32 = *arg;
    rc = vm_func_call_traced(fx->s, ex.of.func, &a, ft.nparams, &r,
                             ft.nresults, t, err, sizeof err);
    if (rc == 0 && result)
        *result = r.of.i32;
    return rc;
}

/* ---- Calls, returns, values -------------------------------------------- */

START_TEST(test_fib_events)
{
    fixture fx;
    vm_tracer t;
    tlog l;
    int32_t n = 2, r = -1;

    fx_open(&fx, core_wasm, sizeof core_wasm, 0, NULL);
    tlog_init(&l, &t, false);
    ck_assert_int_eq(fx_call(&fx, "fib", &n, &r, &t), 0);
    ck_assert_int_eq(r, 1);
    ck_assert_str_eq(l.buf, "call 1 d1 (2); call 1 d2 (1); ret 1 d2 = 1; "
                            "call 1 d2 (0); ret 1 d2 = 0; ret 1 d1 = 1; ");
    fx_close(&fx);
}
END_TEST

/* A call into another instance: the hooks name the callee by its index
 * in its own module (2 in lib, not app's import 0), with its instance. */
START_TEST(test_cross_instance)
{
    vm_load_options lo = {0};
    vm_module *lib_m, *app_m;
    vm_store *s;
    vm_instance *lib, *app;
    vm_extern imp, ex;
    vm_tracer t;
    tlog l;
    vm_val a = {.type = VM_I32, .of.i32 = 5}, r = {0};
    char err[256] = "";

    ck_assert_int_eq(vm_module_new(lib_wasm, sizeof lib_wasm, &lo, &lib_m,
                                   err, sizeof err),
                     0);
    ck_assert_int_eq(vm_module_new(app_wasm, sizeof app_wasm, &lo, &app_m,
                                   err, sizeof err),
                     0);
    ck_assert_int_eq(vm_store_new(NULL, &s), 0);
    ck_assert_msg(vm_instance_new(s, lib_m, NULL, 0, &lib, err, sizeof err) ==
                      0,
                  "lib: %s", err);
    ck_assert_int_eq(vm_instance_export(lib, "add3", &imp), 0);
    ck_assert_msg(vm_instance_new(s, app_m, &imp, 1, &app, err, sizeof err) ==
                      0,
                  "app: %s", err);
    ck_assert_int_eq(vm_instance_export(app, "twice", &ex), 0);
    tlog_init(&l, &t, false);
    ck_assert_int_eq(vm_func_call_traced(s, ex.of.func, &a, 1, &r, 1, &t, err,
                                         sizeof err),
                     0);
    ck_assert_int_eq(r.of.i32, 11);
    ck_assert_str_eq(l.buf, "call 1 d1 (5); call 2 d2 (5); ret 2 d2 = 8; "
                            "call 2 d2 (8); ret 2 d2 = 11; ret 1 d1 = 11; ");
    vm_store_free(s);
    vm_module_free(app_m);
    vm_module_free(lib_m);
}
END_TEST

/* fib(5): C(n) = 1 + C(n-1) + C(n-2), C(0) = C(1) = 1, so 15 calls, 5
 * deep. Ops: a leaf (n < 2) runs local.get, i32.const, i32.lt_u, if,
 * local.get, else, end = 7; an inner call local.get, i32.const, i32.lt_u,
 * if, 2 x (local.get, i32.const, i32.sub, call), i32.add, end, end = 15.
 * 8 leaves and 7 inner calls: 8 * 7 + 7 * 15 = 161. */
START_TEST(test_fib_counts)
{
    fixture fx;
    vm_tracer t;
    vm_trace_counts c;
    int32_t n = 5, r = -1;
    char line[160];

    fx_open(&fx, core_wasm, sizeof core_wasm, 0, NULL);
    vm_trace_counts_init(&t, &c, true);
    ck_assert_int_eq(fx_call(&fx, "fib", &n, &r, &t), 0);
    ck_assert_int_eq(r, 5);
    ck_assert_uint_eq(c.calls, 15);
    ck_assert_uint_eq(c.max_depth, 5);
    ck_assert_uint_eq(c.ops, 161);
    ck_assert_uint_eq(c.host_calls + c.throws + c.traps, 0);
    vm_trace_counts_format(&c, line, sizeof line);
    ck_assert_str_eq(line, "trace: ops=161 calls=15 host_calls=0 "
                           "max_depth=5 throws=0 traps=0");
    /* Without op the run keeps the fast code and counts no ops. */
    vm_trace_counts_init(&t, &c, false);
    ck_assert_int_eq(fx_call(&fx, "fib", &n, &r, &t), 0);
    ck_assert_uint_eq(c.calls, 15);
    ck_assert_uint_eq(c.ops, 0);
    fx_close(&fx);
}
END_TEST

/* loop(K): block, loop (2); K iterations of local.get, local.get,
 * i32.ge_u, br_if, local.get, i32.const, i32.add, local.set, br (9);
 * the exit: local.get, local.get, i32.ge_u, br_if (4), which lands past
 * the block's end; local.get, end (2). 9K + 8. */
START_TEST(test_loop_ops)
{
    fixture fx;
    vm_tracer t;
    vm_trace_counts c;
    int32_t k, r;

    fx_open(&fx, core_wasm, sizeof core_wasm, 0, NULL);
    for (k = 0; k <= 1000; k += 250) {
        vm_trace_counts_init(&t, &c, true);
        ck_assert_int_eq(fx_call(&fx, "loop", &k, &r, &t), 0);
        ck_assert_int_eq(r, k);
        ck_assert_uint_eq(c.ops, 9u * (uint32_t)k + 8u);
        ck_assert_uint_eq(c.calls, 1);
        ck_assert_uint_eq(c.max_depth, 1);
    }
    fx_close(&fx);
}
END_TEST

/* tiny: local.get 0 @0xb7, i32.const 7 @0xb9, i32.add @0xbb, end @0xbc
 * (wasm-objdump -d). */
START_TEST(test_ops_sequence)
{
    static const uint32_t want[][2] = {
        {0x20, 0xb7}, {0x41, 0xb9}, {0x6a, 0xbb}, {0x0b, 0xbc}};
    fixture fx;
    vm_tracer t;
    tlog l;
    int32_t n = 5, r = 0;

    fx_open(&fx, core_wasm, sizeof core_wasm, 0, NULL);
    tlog_init(&l, &t, true);
    ck_assert_int_eq(fx_call(&fx, "tiny", &n, &r, &t), 0);
    ck_assert_int_eq(r, 12);
    ck_assert_uint_eq(l.nops, 4);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_uint_eq(l.ops[i][0], want[i][0]);
        ck_assert_uint_eq(l.ops[i][1], want[i][1]);
    }
    ck_assert_str_eq(l.buf, "call 6 d1 (5); ret 6 d1 = 12; ");
    fx_close(&fx);
}
END_TEST

START_TEST(test_host_call)
{
    fixture fx;
    vm_tracer t;
    tlog l;
    vm_trace_counts c;
    int32_t n = 5, r = 0;

    fx_open(&fx, core_wasm, sizeof core_wasm, 0, NULL);
    tlog_init(&l, &t, false);
    ck_assert_int_eq(fx_call(&fx, "callhost", &n, &r, &t), 0);
    ck_assert_int_eq(r, 11);
    ck_assert_str_eq(l.buf, "call 3 d1 (5); host 0 d1 (5); "
                            "host_ret 0 d1 = 10; ret 3 d1 = 11; ");
    vm_trace_counts_init(&t, &c, false);
    ck_assert_int_eq(fx_call(&fx, "callhost", &n, &r, &t), 0);
    ck_assert_uint_eq(c.host_calls, 1);
    ck_assert_uint_eq(c.calls, 1);
    fx_close(&fx);
}
END_TEST

/* A trap fires once, then an unwound ret for every frame it pops. */
START_TEST(test_trap_unwinds)
{
    fixture fx;
    vm_tracer t;
    tlog l;
    vm_trace_counts c;

    fx_open(&fx, core_wasm, sizeof core_wasm, 0, NULL);
    tlog_init(&l, &t, false);
    ck_assert_int_eq(fx_call(&fx, "trap3", NULL, NULL, &t),
                     VM_ERR_TRAP_UNREACHABLE);
    ck_assert_str_eq(l.buf,
                     "call 5 d1 (); call 4 d2 (2); call 4 d3 (1); "
                     "call 4 d4 (0); trap TRAP_UNREACHABLE; "
                     "ret 4 d4 unwound; ret 4 d3 unwound; "
                     "ret 4 d2 unwound; ret 5 d1 unwound; ");
    vm_trace_counts_init(&t, &c, true);
    ck_assert_int_eq(fx_call(&fx, "trap3", NULL, NULL, &t),
                     VM_ERR_TRAP_UNREACHABLE);
    ck_assert_uint_eq(c.traps, 1);
    ck_assert_uint_eq(c.calls, 4);
    ck_assert_uint_eq(c.max_depth, 4);
    fx_close(&fx);
}
END_TEST

/* A call without a tracer is untraced: nothing reaches the log. */
START_TEST(test_untraced_silent)
{
    fixture fx;
    vm_tracer t;
    tlog l;
    int32_t n = 3, r = 0;

    fx_open(&fx, core_wasm, sizeof core_wasm, 0, NULL);
    tlog_init(&l, &t, true);
    ck_assert_int_eq(fx_call(&fx, "fib", &n, &r, NULL), 0);
    ck_assert_int_eq(r, 2);
    ck_assert_uint_eq(l.len, 0);
    ck_assert_uint_eq(l.nops, 0);
    fx_close(&fx);
}
END_TEST

/* ---- Tail calls ---------------------------------------------------------- */

START_TEST(test_tail_order)
{
    fixture fx;
    vm_tracer t;
    tlog l;
    int32_t n = 2, r = 0;

    fx_open(&fx, tail_wasm, sizeof tail_wasm, VM_FEATURE_TAIL_CALL, NULL);
    tlog_init(&l, &t, false);
    ck_assert_int_eq(fx_call(&fx, "count", &n, &r, &t), 0);
    ck_assert_int_eq(r, 42);
    ck_assert_str_eq(l.buf, "call 0 d1 (2); ret 0 d1 tail; call 0 d1 (1); "
                            "ret 0 d1 tail; call 0 d1 (0); ret 0 d1 = 42; ");
    fx_close(&fx);
}
END_TEST

/* A million tail calls in a store limited to 10 frames: constant depth. */
START_TEST(test_tail_constant_depth)
{
    vm_store_limits lim = {.max_call_depth = 10};
    fixture fx;
    vm_tracer t;
    vm_trace_counts c;
    int32_t n = 1000000, r = 0;

    fx_open(&fx, tail_wasm, sizeof tail_wasm, VM_FEATURE_TAIL_CALL, &lim);
    vm_trace_counts_init(&t, &c, false);
    ck_assert_int_eq(fx_call(&fx, "count", &n, &r, &t), 0);
    ck_assert_int_eq(r, 42);
    ck_assert_uint_eq(c.calls, 1000001);
    ck_assert_uint_eq(c.max_depth, 1);
    fx_close(&fx);
}
END_TEST

/* ---- Exceptions --------------------------------------------------------- */

START_TEST(test_throw_catch)
{
    fixture fx;
    vm_tracer t;
    tlog l;
    vm_trace_counts c;
    int32_t n = 7, r = 0;

    fx_open(&fx, eh_wasm, sizeof eh_wasm, VM_FEATURE_EXCEPTIONS, NULL);
    tlog_init(&l, &t, false);
    ck_assert_int_eq(fx_call(&fx, "catch", &n, &r, &t), 0);
    ck_assert_int_eq(r, 7);
    ck_assert_str_eq(l.buf, "call 2 d1 (7); call 1 d2 (7); call 0 d3 (7); "
                            "throw 0 (7); ret 0 d3 unwound; "
                            "ret 1 d2 unwound; ret 2 d1 = 7; ");
    vm_trace_counts_init(&t, &c, true);
    ck_assert_int_eq(fx_call(&fx, "catch", &n, &r, &t), 0);
    ck_assert_uint_eq(c.throws, 1);
    ck_assert_uint_eq(c.traps, 0);
    ck_assert_uint_eq(c.calls, 3);
    ck_assert_uint_eq(c.max_depth, 3);
    fx_close(&fx);
}
END_TEST

/* An exception nobody catches unwinds every frame; it is not a trap. */
START_TEST(test_throw_uncaught)
{
    fixture fx;
    vm_tracer t;
    tlog l;
    int32_t n = 9;

    fx_open(&fx, eh_wasm, sizeof eh_wasm, VM_FEATURE_EXCEPTIONS, NULL);
    tlog_init(&l, &t, false);
    ck_assert_int_eq(fx_call(&fx, "uncaught", &n, NULL, &t),
                     VM_ERR_EXCEPTION);
    ck_assert_str_eq(l.buf, "call 3 d1 (9); call 1 d2 (9); call 0 d3 (9); "
                            "throw 0 (9); ret 0 d3 unwound; "
                            "ret 1 d2 unwound; ret 3 d1 unwound; ");
    fx_close(&fx);
}
END_TEST

/* ---- Step points --------------------------------------------------------- */

/* Open bytes with step points pts, call export name (arg may be NULL),
 * traced with step (and op too when ops), and compare the log. */
static void check_steps(const uint8_t *bytes, size_t len, uint32_t features,
                        const uint32_t *pts, uint32_t npts, const char *name,
                        const int32_t *arg, int want_rc, int32_t want_result,
                        bool ops, const char *want_log)
{
    fixture fx;
    vm_tracer t;
    tlog l;
    int32_t r = -1;

    fx_open(&fx, bytes, len, features, NULL);
    ck_assert_int_eq(vm_module_set_step_points(fx.m, pts, npts), 0);
    tlog_init(&l, &t, false);
    l.m = fx.m;
    t.step = log_step;
    if (ops)
        t.op = log_op_inline;
    ck_assert_int_eq(fx_call(&fx, name, arg, &r, &t), want_rc);
    if (want_rc == 0)
        ck_assert_int_eq(r, want_result);
    ck_assert_str_eq(l.buf, want_log);
    fx_close(&fx);
}

/* loop: the point on `loop` (0x6f) sits at the loop header, so it fires on
 * entry and on each back edge, as does the one on the first instruction
 * of the body (0x71); 0x7a (i32.const, which emits no code) fires in
 * order; the block's end (0x82) fires where br_if lands; 0x83 after it.
 * The loop's own end (0x81) is never reached (br 0 comes first) and 0x6c
 * is no instruction (the locals): neither fires. */
START_TEST(test_step_loop)
{
    static const uint32_t pts[] = {0x83, 0x6f, 0x71, 0x7a, 0x81, 0x82,
                                   0x6c, 0x71};
    int32_t k = 2;

    check_steps(step_wasm, sizeof step_wasm, 0, pts, 8, "loop", &k, 0, 2,
                false,
                "call 1 d1 (2); s6f; s71; s7a; s6f; s71; s7a; s6f; s71; "
                "s82; s83; ret 1 d1 = 2; ");
}
END_TEST

/* With op too (both markers): a step comes before its instruction's op;
 * the loop's and the block end's steps sit after their labels, so after
 * the loop op and not before the end (whose op a branch skips). */
START_TEST(test_step_with_ops)
{
    static const uint32_t pts[] = {0x6f, 0x71, 0x82};
    int32_t k = 1;

    check_steps(step_wasm, sizeof step_wasm, 0, pts, 3, "loop", &k, 0, 1,
                true,
                "call 1 d1 (1); o6d; o6f; s6f; s71; o71; o73; o75; o76; "
                "o78; o7a; o7c; o7d; o7f; s6f; s71; o71; o73; o75; o76; "
                "s82; o83; o85; ret 1 d1 = 1; ");
}
END_TEST

/* if/else: else's point (0x8e) fires when the else arm is entered, not
 * when the then arm ends; the end's (0x91) on both paths. */
START_TEST(test_step_if_else)
{
    static const uint32_t pts[] = {0x8a, 0x8e, 0x91, 0x92};
    int32_t one = 1, zero = 0;

    check_steps(step_wasm, sizeof step_wasm, 0, pts, 4, "sel", &one, 0, 10,
                false, "call 2 d1 (1); s8a; s91; s92; ret 2 d1 = 10; ");
    check_steps(step_wasm, sizeof step_wasm, 0, pts, 4, "sel", &zero, 0, 20,
                false, "call 2 d1 (0); s8a; s8e; s91; s92; ret 2 d1 = 20; ");
}
END_TEST

/* Calls in between: fib(2) with points at its entry (0x95), between its
 * two calls (0xa6) and at the if's end (0xae). */
START_TEST(test_step_calls)
{
    static const uint32_t pts[] = {0x95, 0xa6, 0xae};
    int32_t n = 2;

    check_steps(step_wasm, sizeof step_wasm, 0, pts, 3, "fib", &n, 0, 1,
                false,
                "call 3 d1 (2); s95; call 3 d2 (1); s95 d2; sae d2; "
                "ret 3 d2 = 1; sa6; call 3 d2 (0); s95 d2; sae d2; "
                "ret 3 d2 = 0; sae; ret 3 d1 = 1; ");
}
END_TEST

START_TEST(test_step_host_call)
{
    static const uint32_t pts[] = {0xb2, 0xb6};
    int32_t n = 5;

    check_steps(step_wasm, sizeof step_wasm, 0, pts, 2, "callhost", &n, 0,
                11, false,
                "call 4 d1 (5); sb2; host 0 d1 (5); host_ret 0 d1 = 10; "
                "sb6; ret 4 d1 = 11; ");
}
END_TEST

/* A trap: the unreachable's point fires before it traps; the dead end
 * after it (0xc0) has no marker. */
START_TEST(test_step_trap)
{
    static const uint32_t pts[] = {0xc3, 0xbf, 0xc0};

    check_steps(step_wasm, sizeof step_wasm, 0, pts, 3, "trap", NULL,
                VM_ERR_TRAP_UNREACHABLE, 0, false,
                "call 6 d1 (); sc3; call 5 d2 (3); sbf d2; "
                "trap TRAP_UNREACHABLE; ret 5 d2 unwound; "
                "ret 6 d1 unwound; ");
}
END_TEST

/* A taken br_if lands on the block's end (0xd4); return skips it. */
START_TEST(test_step_branch_lands)
{
    static const uint32_t pts[] = {0xd3, 0xd4, 0xd5};
    int32_t zero = 0, one = 1;

    check_steps(step_wasm, sizeof step_wasm, 0, pts, 3, "cond", &zero, 0, 0,
                false, "call 7 d1 (0); sd4; sd5; ret 7 d1 = 0; ");
    check_steps(step_wasm, sizeof step_wasm, 0, pts, 3, "cond", &one, 0, 1,
                false, "call 7 d1 (1); sd3; ret 7 d1 = 1; ");
}
END_TEST

/* fin: br_if to a block that only ends follow is compiled as a return in
 * plain code; with a point among those ends the branch stays, so the
 * block's end (0xe1) and the function's final end (0xe2), which control
 * falls into, fire on both paths. */
START_TEST(test_step_final_ends)
{
    static const uint32_t both[] = {0xe1, 0xe2}, last[] = {0xe2};
    int32_t zero = 0, one = 1;

    check_steps(step_wasm, sizeof step_wasm, 0, both, 2, "fin", &one, 0, 0,
                false, "call 8 d1 (1); se1; se2; ret 8 d1; ");
    check_steps(step_wasm, sizeof step_wasm, 0, both, 2, "fin", &zero, 0, 0,
                false, "call 8 d1 (0); se1; se2; ret 8 d1; ");
    check_steps(step_wasm, sizeof step_wasm, 0, last, 1, "fin", &one, 0, 0,
                false, "call 8 d1 (1); se2; ret 8 d1; ");
}
END_TEST

/* Tail calls: the return_call's point (0x31) fires in the caller, before
 * its tail ret; else's (0x2b) when the else arm is entered. */
START_TEST(test_step_tail)
{
    static const uint32_t pts[] = {0x24, 0x2b, 0x31};
    int32_t n = 1;

    check_steps(tail_wasm, sizeof tail_wasm, VM_FEATURE_TAIL_CALL, pts, 3,
                "count", &n, 0, 42, false,
                "call 0 d1 (1); s24; s2b; s31; ret 0 d1 tail; "
                "call 0 d1 (0); s24; ret 0 d1 = 42; ");
}
END_TEST

/* Exceptions: the throw's point fires before the throw; the catch's
 * (0x51) where the handler starts, after the unwound rets; 0x4f, which
 * the throw skips, does not. */
START_TEST(test_step_catch)
{
    static const uint32_t pts[] = {0x3d, 0x4f, 0x51, 0x53, 0x54};
    int32_t n = 7;

    check_steps(eh_wasm, sizeof eh_wasm, VM_FEATURE_EXCEPTIONS, pts, 5,
                "catch", &n, 0, 7, false,
                "call 2 d1 (7); call 1 d2 (7); call 0 d3 (7); s3d d3; "
                "throw 0 (7); ret 0 d3 unwound; ret 1 d2 unwound; "
                "s51; s53; s54; ret 2 d1 = 7; ");
}
END_TEST

/* Without a step hook, or untraced, points cost nothing and fire nothing;
 * a step hook on a module without points fires nothing either. The
 * counting tracer counts steps when asked, and says so in its line. */
START_TEST(test_step_off)
{
    static const uint32_t pts[] = {0x6f};
    fixture fx;
    vm_tracer t;
    vm_trace_counts c;
    tlog l;
    int32_t k = 3, r = -1;
    char line[160];

    fx_open(&fx, step_wasm, sizeof step_wasm, 0, NULL);
    tlog_init(&l, &t, false);
    l.m = fx.m;
    t.step = log_step;
    ck_assert_int_eq(fx_call(&fx, "loop", &k, &r, &t), 0);
    ck_assert_int_eq(r, 3);
    ck_assert_str_eq(l.buf, "call 1 d1 (3); ret 1 d1 = 3; ");
    fx_close(&fx);

    fx_open(&fx, step_wasm, sizeof step_wasm, 0, NULL);
    ck_assert_int_eq(vm_module_set_step_points(fx.m, pts, 1), 0);
    tlog_init(&l, &t, false);
    ck_assert_int_eq(fx_call(&fx, "loop", &k, &r, &t), 0);
    ck_assert_int_eq(fx_call(&fx, "loop", &k, &r, NULL), 0);
    ck_assert_int_eq(r, 3);
    ck_assert_str_eq(l.buf, "call 1 d1 (3); ret 1 d1 = 3; ");
    vm_trace_counts_init(&t, &c, false);
    vm_trace_counts_with_steps(&t, &c);
    ck_assert_int_eq(fx_call(&fx, "loop", &k, &r, &t), 0);
    ck_assert_uint_eq(c.steps, 4); /* entry and three back edges */
    vm_trace_counts_format(&c, line, sizeof line);
    ck_assert_str_eq(line, "trace: ops=0 calls=1 host_calls=0 "
                           "max_depth=1 throws=0 traps=0 steps=4");
    fx_close(&fx);
}
END_TEST

START_TEST(test_step_points_api)
{
    static const uint32_t pts[] = {9, 3, 9, 1, 3};
    fixture fx;
    const uint32_t *got;
    uint32_t n = 99;

    fx_open(&fx, step_wasm, sizeof step_wasm, 0, NULL);
    ck_assert_ptr_null(vm_module_step_points(fx.m, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(vm_module_set_step_points(fx.m, NULL, 3), VM_ERR_ARG);
    ck_assert_int_eq(vm_module_set_step_points(fx.m, pts, 5), 0);
    got = vm_module_step_points(fx.m, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(got[0], 1);
    ck_assert_uint_eq(got[1], 3);
    ck_assert_uint_eq(got[2], 9);
    /* Set once: stepped code may already be compiled with them. */
    ck_assert_int_eq(vm_module_set_step_points(fx.m, pts, 1), VM_ERR_ARG);
    fx_close(&fx);
}
END_TEST

/* ---- The trace sink (vm.h, "Trace sinks") ------------------------------- */

/*
 * A sink whose owner decodes the entries (vm.h, "Trace sinks") into a
 * tlog, in the hooks' format without the unwound/tail marks (entries
 * carry none) and without step depths; values are logged as i32 (the
 * test modules' only type). room bytes per batch; every make_room moves
 * the clock word, so the next entry ticks. The other hooks take the
 * entries first, as the daemon does.
 */
typedef struct tsink {
    vm_trace_sink k;
    uint8_t buf[1024];
    size_t room;
    tlog *l;
    uint64_t clock, t; /* the ticker word; the decoder's time */
    unsigned ticks, rooms, batches;
    unsigned words; /* one-word entries (VM_SINK_CALL1, VM_SINK_RETURN1) */
    const uint32_t *points; /* steps: the module's step points */
    const vm_listing *lst; /* ops: the module's listing */
    const uint32_t *rev;   /* and its line -> instruction offset map */
} tsink;

static uint64_t rd_word(const uint8_t **p, const uint8_t *end)
{
    uint64_t w;

    ck_assert_int_ge(end - *p, 8);
    memcpy(&w, *p, 8);
    *p += 8;
    return w;
}

static void tsink_take(tsink *s)
{
    const uint8_t *p, *end;
    uint32_t n = 0;
    bool last_time = false;

    vm_trace_sink_flush(&s->k);
    p = s->buf;
    end = s->k.pos;
    while (p < end) {
        uint64_t w0 = rd_word(&p, end), w1;
        unsigned kind = VM_SINK_KIND(w0);
        uint32_t nslots = VM_SINK_NSLOTS(w0);

        last_time = false;
        if (kind == VM_SINK_TIME) {
            s->t += rd_word(&p, end);
            ck_assert_uint_le(s->t, s->k.prev_t);
            last_time = true;
            continue;
        }
        if (kind == VM_SINK_OPS) { /* an op run: expand it against the listing */
            uint32_t start = (uint32_t)(w0 >> 32), line;

            w1 = rd_word(&p, end);
            ck_assert_ptr_nonnull(s->rev);
            line = vm_listing_offset_line(s->lst, start);
            ck_assert_uint_gt(line, 0);
            for (uint64_t i = 0; i < w1; i++)
                tlog_add(s->l, "o%x; ", s->rev[line + i]);
            n += (uint32_t)w1;
            continue;
        }
        if (kind == VM_SINK_STEPS) { /* a step run: points, as offsets */
            uint32_t point = (uint32_t)(w0 >> 32);

            w1 = rd_word(&p, end);
            ck_assert_ptr_nonnull(s->points);
            for (uint64_t i = 0; i < w1; i++)
                tlog_add(s->l, "s%x; ", s->points[point + i]);
            n += (uint32_t)w1;
            continue;
        }
        if (kind == VM_SINK_CALL1 || kind == VM_SINK_RETURN1) {
            bool call = kind == VM_SINK_CALL1;

            tlog_add(s->l, "%s %u d%u %s%d%s", call ? "call" : "ret",
                     VM_SINK1_FUNC(w0), VM_SINK1_DEPTH(w0),
                     call ? "(" : "= ", (int32_t)VM_SINK1_VALUE(w0),
                     call ? "); " : "; ");
            s->words++;
            n++;
            continue;
        }
        ck_assert(kind == VM_SINK_CALL || kind == VM_SINK_RETURN ||
                  kind == VM_SINK_RETURN_NONE);
        if (kind == VM_SINK_RETURN_NONE)
            ck_assert_uint_eq(nslots, 0);
        tlog_add(s->l, "%s %u d%u", kind == VM_SINK_CALL ? "call" : "ret",
                 VM_SINK_FUNC(w0), VM_SINK_DEPTH(w0));
        tlog_add(s->l, kind == VM_SINK_CALL ? " (" : nslots ? " = " : "");
        for (uint32_t i = 0; i < nslots; i++)
            tlog_add(s->l, "%s%d", i ? "," : "",
                     (int32_t)(uint32_t)rd_word(&p, end));
        tlog_add(s->l, kind == VM_SINK_CALL ? "); " : "; ");
        n++;
    }
    ck_assert_ptr_eq(p, end);
    ck_assert(!last_time); /* a batch never ends in a time entry */
    ck_assert_uint_eq(n, s->k.count);
    ck_assert_uint_eq(s->t, s->k.prev_t);
    if (n)
        s->batches++;
    s->k.pos = s->buf;
    s->k.count = 0;
    s->k.end = s->buf + s->room;
    vm_trace_sink_poke(&s->k); /* outside make_room, too (the hooks') */
}

static void tsink_tick(vm_trace_sink *k)
{
    tsink *s = k->user;

    s->ticks++;
    k->clock_seen = s->clock;
    k->t = s->clock * 7; /* any non-decreasing time */
}

static void tsink_make_room(vm_trace_sink *k, size_t need)
{
    tsink *s = k->user;

    s->rooms++;
    tsink_take(s); /* flushes the op run: it finds none (flush took it) */
    ck_assert_uint_le(need, sizeof s->buf);
    if (need > s->room)
        k->end = s->buf + sizeof s->buf;
    s->clock++;
}

static tsink *g_sink; /* the test's, for hooks that get only the tlog */

/* The other hooks the daemon's way: the sink's records first. */
static void sink_host_call(void *user, const vm_trace_frame *f)
{
    tlog *l = user;

    (void)f;
    if (g_sink)
        tsink_take(g_sink);
    tlog_add(l, "host; ");
}

static void tsink_init(tsink *s, vm_tracer *t, tlog *l, size_t room)
{
    tlog_init(l, t, false);
    memset(s, 0, sizeof *s);
    s->room = room;
    s->l = l;
    s->k.pos = s->buf;
    s->k.end = s->buf + room;
    s->k.clock = &s->clock;
    s->k.tick = tsink_tick;
    s->k.make_room = tsink_make_room;
    s->k.user = s;
    t->sink = &s->k;
    t->host_call = sink_host_call;
    t->host_return = NULL;
}

static void sink_trap(void *user, int code, const char *message)
{
    tsink_take(g_sink);
    log_trap(user, code, message);
}

/* fib(2) into a sink: the hooks' log, batch sizes from one entry per
 * batch (room 40: a one-word entry needs 24 free, one after a time entry
 * 40) to one batch; the counters; the clock ticks. */
START_TEST(test_sink_fib)
{
    /* 40: room for three one-word entries, or a time entry and one */
    static const size_t rooms[] = {40, 100, sizeof ((tsink *)0)->buf};

    for (size_t i = 0; i < sizeof rooms / sizeof rooms[0]; i++) {
        fixture fx;
        vm_tracer t;
        tlog l;
        tsink s;
        int32_t n = 2, r = -1;

        fx_open(&fx, core_wasm, sizeof core_wasm, 0, NULL);
        tsink_init(&s, &t, &l, rooms[i]);
        ck_assert_int_eq(fx_call(&fx, "fib", &n, &r, &t), 0);
        tsink_take(&s);
        ck_assert_int_eq(r, 1);
        ck_assert_str_eq(l.buf,
                         "call 1 d1 (2); call 1 d2 (1); ret 1 d2 = 1; "
                         "call 1 d2 (0); ret 1 d2 = 0; ret 1 d1 = 1; ");
        ck_assert_uint_eq(s.k.calls, 3);
        ck_assert_uint_eq(s.k.max_depth, 2);
        ck_assert_uint_eq(s.words, 6); /* fib (i32) -> i32: one word each */
        if (rooms[i] == 40) {
            ck_assert_uint_ge(s.rooms, 2);
            /* the next entry sees the clock a make_room moved */
            ck_assert_uint_ge(s.ticks, s.rooms - 1);
            ck_assert_uint_le(s.ticks, s.rooms);
            ck_assert_uint_ge(s.batches, 3);
        } else if (rooms[i] == sizeof s.buf) {
            ck_assert_uint_eq(s.rooms, 0);
            ck_assert_uint_eq(s.ticks, 0);
            ck_assert_uint_eq(s.batches, 1);
        }
        fx_close(&fx);
    }
}
END_TEST

/*
 * down.wat, down(n) = n by recursion, n + 1 frames deep:
 *
 * (module
 *   (func $down (export "down") (param i32) (result i32)
 *     (if (result i32) (i32.eqz (local.get 0))
 *       (then (i32.const 0))
 *       (else (i32.add (call $down (i32.sub (local.get 0) (i32.const 1)))
 *                      (i32.const 1))))))
 */
static const uint8_t down_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60,
    0x01, 0x7f, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x08, 0x01, 0x04,
    0x64, 0x6f, 0x77, 0x6e, 0x00, 0x00, 0x0a, 0x17, 0x01, 0x15, 0x00, 0x20,
    0x00, 0x45, 0x04, 0x7f, 0x41, 0x00, 0x05, 0x20, 0x00, 0x41, 0x01, 0x6b,
    0x10, 0x00, 0x41, 0x01, 0x6a, 0x0b, 0x0b};

/* A sink that checks down(DOWN_N)'s entries as it takes them: calls at
 * depths 1, 2, ... with arguments N, N - 1, ..., then the returns back up
 * with the same values; one word below depth VM_SINK1_DEPTHS, the
 * general form from there on. */
enum { DOWN_N = VM_SINK1_DEPTHS + 1 };

typedef struct dsink {
    vm_trace_sink k;
    uint8_t buf[1 << 14];
    uint64_t clock;
    uint32_t depth;   /* of the last entry */
    bool returning;   /* the last entry was a return */
    uint32_t words, general;
} dsink;

static void dsink_take(dsink *s)
{
    const uint8_t *p = s->buf, *end = s->k.pos;

    while (p < end) {
        uint64_t w0 = rd_word(&p, end), val;
        unsigned kind = VM_SINK_KIND(w0);
        uint32_t depth;
        bool call;

        if (kind == VM_SINK_TIME) {
            rd_word(&p, end);
            continue;
        }
        if (kind == VM_SINK_CALL1 || kind == VM_SINK_RETURN1) {
            depth = VM_SINK1_DEPTH(w0);
            val = VM_SINK1_VALUE(w0);
            call = kind == VM_SINK_CALL1;
            ck_assert_uint_lt(depth, VM_SINK1_DEPTHS);
            s->words++;
        } else {
            ck_assert(kind == VM_SINK_CALL || kind == VM_SINK_RETURN);
            ck_assert_uint_eq(VM_SINK_NSLOTS(w0), 1);
            depth = VM_SINK_DEPTH(w0);
            val = (uint32_t)rd_word(&p, end);
            call = kind == VM_SINK_CALL;
            ck_assert_uint_ge(depth, VM_SINK1_DEPTHS);
            s->general++;
        }
        if (call) {
            ck_assert(!s->returning);
            ck_assert_uint_eq(depth, s->depth + 1);
        } else {
            ck_assert_uint_eq(depth, s->returning ? s->depth - 1 : s->depth);
            s->returning = true;
        }
        ck_assert_uint_eq(val, DOWN_N - (depth - 1));
        s->depth = depth;
    }
    s->k.pos = s->buf;
    s->k.count = 0;
    s->k.end = s->buf + sizeof s->buf;
}

static void dsink_tick(vm_trace_sink *k)
{
    k->clock_seen = ((dsink *)k->user)->clock;
}

static void dsink_make_room(vm_trace_sink *k, size_t need)
{
    (void)need;
    dsink_take(k->user);
}

START_TEST(test_sink_word_depths)
{
    vm_store_limits lim = {.max_call_depth = DOWN_N + 10,
                           .stack_slots = 1u << 21};
    fixture fx;
    vm_tracer t;
    dsink *s = calloc(1, sizeof *s);
    int32_t n = DOWN_N, r = -1;

    ck_assert_ptr_nonnull(s);
    fx_open(&fx, down_wasm, sizeof down_wasm, 0, &lim);
    memset(&t, 0, sizeof t);
    s->k.pos = s->buf;
    s->k.end = s->buf + sizeof s->buf;
    s->k.clock = &s->clock;
    s->k.tick = dsink_tick;
    s->k.make_room = dsink_make_room;
    s->k.user = s;
    t.sink = &s->k;
    ck_assert_int_eq(fx_call(&fx, "down", &n, &r, &t), 0);
    ck_assert_int_eq(r, DOWN_N);
    dsink_take(s);
    ck_assert_uint_eq(s->depth, 1);
    ck_assert(s->returning);
    ck_assert_uint_eq(s->k.max_depth, DOWN_N + 1);
    /* depths 1 .. 65535 one word each way; 65536 .. N + 1 general */
    ck_assert_uint_eq(s->words, 2 * (VM_SINK1_DEPTHS - 1));
    ck_assert_uint_eq(s->general, 2 * (DOWN_N + 1 - (VM_SINK1_DEPTHS - 1)));
    fx_close(&fx);
    free(s);
}
END_TEST

/* A trap: its hook takes the records so far; the unwound returns follow
 * into the sink, without values. Tail calls: valueless returns. */
START_TEST(test_sink_trap_tail)
{
    fixture fx;
    vm_tracer t;
    tlog l;
    tsink s;
    int32_t n = 2, r = 0;

    fx_open(&fx, core_wasm, sizeof core_wasm, 0, NULL);
    tsink_init(&s, &t, &l, 64);
    g_sink = &s;
    t.trap = sink_trap;
    ck_assert_int_eq(fx_call(&fx, "trap3", NULL, NULL, &t),
                     VM_ERR_TRAP_UNREACHABLE);
    tsink_take(&s);
    ck_assert_str_eq(l.buf,
                     "call 5 d1 (); call 4 d2 (2); call 4 d3 (1); "
                     "call 4 d4 (0); trap TRAP_UNREACHABLE; "
                     "ret 4 d4; ret 4 d3; ret 4 d2; ret 5 d1; ");
    fx_close(&fx);

    fx_open(&fx, tail_wasm, sizeof tail_wasm, VM_FEATURE_TAIL_CALL, NULL);
    tsink_init(&s, &t, &l, 64);
    ck_assert_int_eq(fx_call(&fx, "count", &n, &r, &t), 0);
    tsink_take(&s);
    ck_assert_int_eq(r, 42);
    ck_assert_str_eq(l.buf, "call 0 d1 (2); ret 0 d1; call 0 d1 (1); "
                            "ret 0 d1; call 0 d1 (0); ret 0 d1 = 42; ");
    g_sink = NULL;
    fx_close(&fx);
}
END_TEST

/*
 * Steps into the sink: fib(2) of step_wasm with points at 0x95, 0xa6 and
 * 0xae (test_step_calls has the hook's view), logged as their offsets.
 *   distinct: every point its own line id: every step of the hook log;
 *   one line: all points one id: a frame's first step only;
 *   silent: 0xa6 never steps (VM_SINK_NO_LINE);
 *   shallow: frame_cap 1: frames at depth >= 1 (all) step every time.
 * room 24 ends batches often (runs split across batches).
 */
static void check_sink_steps(const uint32_t *line_ids, uint32_t frame_cap,
                             const char *want, uint64_t want_steps)
{
    static const uint32_t pts[] = {0x95, 0xa6, 0xae};
    uint32_t frame_line[8];
    fixture fx;
    vm_tracer t;
    tlog l;
    tsink s;
    int32_t n = 2, r = -1;
    uint32_t np;

    fx_open(&fx, step_wasm, sizeof step_wasm, 0, NULL);
    ck_assert_int_eq(vm_module_set_step_points(fx.m, pts, 3), 0);
    tsink_init(&s, &t, &l, 24);
    s.points = vm_module_step_points(fx.m, &np);
    ck_assert_uint_eq(np, 3);
    s.k.step_line = line_ids;
    s.k.frame_line = frame_line;
    s.k.frame_cap = frame_cap;
    ck_assert_int_eq(fx_call(&fx, "fib", &n, &r, &t), 0);
    tsink_take(&s);
    ck_assert_int_eq(r, 1);
    ck_assert_str_eq(l.buf, want);
    ck_assert_uint_eq(s.k.nsteps, want_steps);
    fx_close(&fx);
}

START_TEST(test_sink_steps)
{
    static const uint32_t distinct[] = {0, 1, 2}, one[] = {5, 5, 5};
    static const uint32_t silent[] = {0, VM_SINK_NO_LINE, 2};

    check_sink_steps(distinct, 8,
                     "call 3 d1 (2); s95; call 3 d2 (1); s95; sae; "
                     "ret 3 d2 = 1; sa6; call 3 d2 (0); s95; sae; "
                     "ret 3 d2 = 0; sae; ret 3 d1 = 1; ", 7);
    check_sink_steps(one, 8,
                     "call 3 d1 (2); s95; call 3 d2 (1); s95; "
                     "ret 3 d2 = 1; call 3 d2 (0); s95; "
                     "ret 3 d2 = 0; ret 3 d1 = 1; ", 3);
    check_sink_steps(silent, 8,
                     "call 3 d1 (2); s95; call 3 d2 (1); s95; sae; "
                     "ret 3 d2 = 1; call 3 d2 (0); s95; sae; "
                     "ret 3 d2 = 0; sae; ret 3 d1 = 1; ", 6);
    check_sink_steps(one, 1,
                     "call 3 d1 (2); s95; call 3 d2 (1); s95; sae; "
                     "ret 3 d2 = 1; sa6; call 3 d2 (0); s95; sae; "
                     "ret 3 d2 = 0; sae; ret 3 d1 = 1; ", 7);
}
END_TEST

/* A host call between: the host hooks still fire (the sink has no host
 * records), after the sink's records taken so far. */
START_TEST(test_sink_host)
{
    fixture fx;
    vm_tracer t;
    tlog l;
    tsink s;
    int32_t n = 4, r = 0;

    fx_open(&fx, core_wasm, sizeof core_wasm, 0, NULL);
    tsink_init(&s, &t, &l, sizeof s.buf);
    g_sink = &s;
    ck_assert_int_eq(fx_call(&fx, "callhost", &n, &r, &t), 0);
    tsink_take(&s);
    g_sink = NULL;
    ck_assert_int_eq(r, 9);
    ck_assert_str_eq(l.buf, "call 3 d1 (4); host; ret 3 d1 = 9; ");
    fx_close(&fx);
}
END_TEST

/*
 * The gate (vm.h, "Trace sinks"): the VM reads the clock at a call or
 * return only when the gate is closed. callhost(4)'s host call moves the
 * clock like a ticker, poking or not; with a poke the return after it
 * ticks and carries the new time, without one it does not (nothing else
 * closes the gate: the buffer has room).
 */
static bool g_poke;

static void ticker_host_call(void *user, const vm_trace_frame *f)
{
    (void)user;
    (void)f;
    g_sink->clock++;
    if (g_poke)
        vm_trace_sink_poke(&g_sink->k);
}

START_TEST(test_sink_poke)
{
    for (int poke = 0; poke < 2; poke++) {
        fixture fx;
        vm_tracer t;
        tlog l;
        tsink s;
        int32_t n = 4, r = 0;

        fx_open(&fx, core_wasm, sizeof core_wasm, 0, NULL);
        tsink_init(&s, &t, &l, sizeof s.buf);
        t.host_call = ticker_host_call;
        g_sink = &s;
        g_poke = poke;
        ck_assert_int_eq(fx_call(&fx, "callhost", &n, &r, &t), 0);
        ck_assert_uint_eq(s.ticks, (unsigned)poke);
        ck_assert_uint_eq(s.k.t, poke ? 7u : 0u); /* tsink_tick: clock * 7 */
        tsink_take(&s); /* checks the time entries against prev_t */
        g_sink = NULL;
        ck_assert_int_eq(r, 9);
        ck_assert_str_eq(l.buf, "call 3 d1 (4); ret 3 d1 = 9; ");
        ck_assert_uint_eq(s.batches, 1);
        fx_close(&fx);
    }
}
END_TEST

/*
 * A ticker thread advancing the clock and poking while fib(9) records
 * into the sink, 50 times (room 256, so make_room takes batches too):
 * each log equals the hooks', every entry decodes, and under
 * ThreadSanitizer the gate and the clock are the only shared words.
 */
typedef struct poker {
    tsink *s;
    int stop;
} poker;

static void *poker_main(void *arg)
{
    poker *pk = arg;

    while (!__atomic_load_n(&pk->stop, __ATOMIC_ACQUIRE)) {
        __atomic_add_fetch(&pk->s->clock, 1, __ATOMIC_RELAXED);
        vm_trace_sink_poke(&pk->s->k);
        sched_yield();
    }
    return NULL;
}

static void poker_tick(vm_trace_sink *k)
{
    tsink *s = k->user;
    uint64_t c = __atomic_load_n(&s->clock, __ATOMIC_RELAXED);

    s->ticks++;
    k->clock_seen = c;
    k->t = c * 7;
}

static void poker_make_room(vm_trace_sink *k, size_t need)
{
    tsink *s = k->user;

    s->rooms++;
    tsink_take(s);
    if (need > s->room)
        k->end = s->buf + sizeof s->buf;
}

START_TEST(test_sink_poke_thread)
{
    fixture fx;
    vm_tracer t, ht;
    tlog l, hl;
    tsink s;
    poker pk = {0};
    pthread_t th;
    int32_t n = 9, r = -1;

    fx_open(&fx, core_wasm, sizeof core_wasm, 0, NULL);
    tlog_init(&hl, &ht, false);
    ck_assert_int_eq(fx_call(&fx, "fib", &n, &r, &ht), 0);
    ck_assert_int_eq(r, 34);
    tsink_init(&s, &t, &l, 256);
    s.k.tick = poker_tick;
    s.k.make_room = poker_make_room;
    pk.s = &s;
    ck_assert_int_eq(pthread_create(&th, NULL, poker_main, &pk), 0);
    for (int i = 0; i < 50; i++) {
        l.len = 0;
        l.buf[0] = '\0';
        r = -1;
        ck_assert_int_eq(fx_call(&fx, "fib", &n, &r, &t), 0);
        tsink_take(&s);
        ck_assert_int_eq(r, 34);
        ck_assert_str_eq(l.buf, hl.buf);
    }
    __atomic_store_n(&pk.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    ck_assert_uint_eq(s.k.calls, 50u * 109); /* 2 fib(10) - 1 a run */
    ck_assert_uint_gt(s.rooms, 50);
    fx_close(&fx);
}
END_TEST

/*
 * Ops into the sink, against the op hook: the same call, with op, call,
 * ret, host call, throw and trap logged in one format (rets without their
 * unwound/tail marks, which the records do not carry), once from the
 * hooks and once from the sink's records, op runs expanded against the
 * module's listing. room as in tsink (small rooms break runs at batch
 * ends: the expansion must not care).
 */
static void plain_ret(void *user, const vm_trace_frame *f)
{
    tlog *l = user;

    tlog_add(l, "ret %u d%u", f->func_idx, f->depth);
    if (f->vals.count) {
        tlog_add(l, " = ");
        tlog_vals(l, &f->vals);
    }
    tlog_add(l, "; ");
}

static void sink_throw(void *user, const vm_trace_throw *th)
{
    if (g_sink)
        tsink_take(g_sink);
    log_throw(user, th);
}

static void hook_trap_plain(void *user, int code, const char *message)
{
    log_trap(user, code, message);
}

static void check_sink_ops(const uint8_t *bytes, size_t len,
                           uint32_t features, const char *name,
                           const int32_t *arg, int want_rc, size_t room)
{
    static uint32_t rev[4096];
    static tlog hl, sl;
    fixture fx;
    vm_tracer t;
    vm_listing *lst;
    tsink s;
    char err[256];
    uint32_t nops_hook;

    fx_open(&fx, bytes, len, features, NULL);
    ck_assert_int_eq(vm_listing_new(fx.m, &lst, err, sizeof err), 0);
    memset(rev, 0, sizeof rev);
    for (uint32_t off = 0; off < len; off++) {
        uint32_t line = vm_listing_offset_line(lst, off);

        if (line) {
            ck_assert_uint_lt(line, 4096);
            rev[line] = off;
        }
    }
    /* The hooks. */
    tlog_init(&hl, &t, false);
    t.op = log_op_inline;
    t.ret = plain_ret;
    t.host_call = sink_host_call;
    t.host_return = NULL;
    t.throw_ = sink_throw;
    t.trap = hook_trap_plain;
    ck_assert_int_eq(fx_call(&fx, name, arg, NULL, &t), want_rc);
    nops_hook = hl.buf[0] == 'o';
    for (const char *q = hl.buf; (q = strstr(q, "; o")) != NULL; q++)
        nops_hook++;
    /* The sink. */
    tsink_init(&s, &t, &sl, room);
    s.lst = lst;
    s.rev = rev;
    s.k.ops = true;
    g_sink = &s;
    t.throw_ = sink_throw;
    t.trap = sink_trap;
    ck_assert_int_eq(fx_call(&fx, name, arg, NULL, &t), want_rc);
    tsink_take(&s);
    g_sink = NULL;
    ck_assert_uint_lt(hl.len, sizeof hl.buf - 1); /* nothing cut */
    ck_assert_str_eq(sl.buf, hl.buf);
    ck_assert_uint_eq(s.k.nops, nops_hook);
    vm_listing_free(lst);
    fx_close(&fx);
}

START_TEST(test_sink_ops)
{
    static const size_t rooms[] = {40, sizeof ((tsink *)0)->buf};
    int32_t five = 5, two = 2, seven = 7;

    for (int i = 0; i < 2; i++) {
        check_sink_ops(core_wasm, sizeof core_wasm, 0, "fib", &five, 0,
                       rooms[i]);
        check_sink_ops(core_wasm, sizeof core_wasm, 0, "trap3", NULL,
                       VM_ERR_TRAP_UNREACHABLE, rooms[i]);
        check_sink_ops(core_wasm, sizeof core_wasm, 0, "callhost", &two, 0,
                       rooms[i]);
        check_sink_ops(eh_wasm, sizeof eh_wasm, VM_FEATURE_EXCEPTIONS,
                       "catch", &seven, 0, rooms[i]);
        check_sink_ops(tail_wasm, sizeof tail_wasm, VM_FEATURE_TAIL_CALL,
                       "count", &two, 0, rooms[i]);
        check_sink_ops(step_wasm, sizeof step_wasm, 0, "loop", &two, 0,
                       rooms[i]);
    }
}
END_TEST

Suite *trace_suite(void); /* main.c declares it weak */

Suite *trace_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("hooks");

    tcase_add_test(tc, test_fib_events);
    tcase_add_test(tc, test_cross_instance);
    tcase_add_test(tc, test_fib_counts);
    tcase_add_test(tc, test_loop_ops);
    tcase_add_test(tc, test_ops_sequence);
    tcase_add_test(tc, test_host_call);
    tcase_add_test(tc, test_trap_unwinds);
    tcase_add_test(tc, test_untraced_silent);
    tcase_add_test(tc, test_tail_order);
    tcase_add_test(tc, test_tail_constant_depth);
    tcase_add_test(tc, test_throw_catch);
    tcase_add_test(tc, test_throw_uncaught);
    suite_add_tcase(s, tc);
    tc = tcase_create("steps");
    tcase_add_test(tc, test_step_loop);
    tcase_add_test(tc, test_step_with_ops);
    tcase_add_test(tc, test_step_if_else);
    tcase_add_test(tc, test_step_calls);
    tcase_add_test(tc, test_step_host_call);
    tcase_add_test(tc, test_step_trap);
    tcase_add_test(tc, test_step_branch_lands);
    tcase_add_test(tc, test_step_final_ends);
    tcase_add_test(tc, test_step_tail);
    tcase_add_test(tc, test_step_catch);
    tcase_add_test(tc, test_step_off);
    tcase_add_test(tc, test_step_points_api);
    suite_add_tcase(s, tc);
    tc = tcase_create("sink");
    tcase_add_test(tc, test_sink_fib);
    tcase_add_test(tc, test_sink_word_depths);
    tcase_add_test(tc, test_sink_trap_tail);
    tcase_add_test(tc, test_sink_steps);
    tcase_add_test(tc, test_sink_host);
    tcase_add_test(tc, test_sink_poke);
    tcase_add_test(tc, test_sink_poke_thread);
    tcase_add_test(tc, test_sink_ops);
    suite_add_tcase(s, tc);
    return s;
}
