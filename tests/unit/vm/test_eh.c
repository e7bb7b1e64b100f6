/*
 * Tail calls and exception handling (the legacy exception-handling
 * proposal): constant-stack tail calls, exceptions across instances (an
 * imported tag is the exporter's object), through host functions,
 * rethrow, delegate, catch_all, traps that no handler catches, and the
 * API view of an exception that escapes vm_func_call. The modules are
 * embedded as bytes (wat2wasm 1.0.32 with --enable-tail-call /
 * --enable-exceptions, from the text above each one).
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "code_int.h"
#include "module_int.h"
#include "runtime_int.h"
#include "traced/vm.h"

/*
 * (module
 *   (type $t (func (param i64) (result i32)))
 *   (import "env" "host" (func $host (param i64) (result i32)))
 *   (table funcref (elem $even $odd))
 *   (func $even (export "even") (param i64) (result i32)
 *     (if (result i32) (i64.eqz (local.get 0))
 *       (then (i32.const 1))
 *       (else (return_call $odd (i64.sub (local.get 0) (i64.const 1))))))
 *   (func $odd (export "odd") (param i64) (result i32)
 *     (if (result i32) (i64.eqz (local.get 0))
 *       (then (i32.const 0))
 *       (else (return_call_indirect (type $t)
 *               (i64.sub (local.get 0) (i64.const 1)) (i32.const 0)))))
 *   (func (export "to_host") (param i64) (result i32)
 *     (return_call $host (i64.add (local.get 0) (i64.const 1)))))
 */
static const uint8_t wasm_tail[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60,
    0x01, 0x7e, 0x01, 0x7f, 0x02, 0x0c, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x04,
    0x68, 0x6f, 0x73, 0x74, 0x00, 0x00, 0x03, 0x04, 0x03, 0x00, 0x00, 0x00,
    0x04, 0x05, 0x01, 0x70, 0x01, 0x02, 0x02, 0x07, 0x18, 0x03, 0x04, 0x65,
    0x76, 0x65, 0x6e, 0x00, 0x01, 0x03, 0x6f, 0x64, 0x64, 0x00, 0x02, 0x07,
    0x74, 0x6f, 0x5f, 0x68, 0x6f, 0x73, 0x74, 0x00, 0x03, 0x09, 0x08, 0x01,
    0x00, 0x41, 0x00, 0x0b, 0x02, 0x01, 0x02, 0x0a, 0x34, 0x03, 0x12, 0x00,
    0x20, 0x00, 0x50, 0x04, 0x7f, 0x41, 0x01, 0x05, 0x20, 0x00, 0x42, 0x01,
    0x7d, 0x12, 0x02, 0x0b, 0x0b, 0x15, 0x00, 0x20, 0x00, 0x50, 0x04, 0x7f,
    0x41, 0x00, 0x05, 0x20, 0x00, 0x42, 0x01, 0x7d, 0x41, 0x00, 0x13, 0x00,
    0x00, 0x0b, 0x0b, 0x09, 0x00, 0x20, 0x00, 0x42, 0x01, 0x7c, 0x12, 0x00,
    0x0b,
};

/*
 * (module
 *   (tag $e (export "e") (param i32))
 *   (func (export "throw") (param i32) (throw $e (local.get 0))))
 */
static const uint8_t wasm_thrower[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
    0x01, 0x7f, 0x00, 0x03, 0x02, 0x01, 0x00, 0x0d, 0x03, 0x01, 0x00, 0x00,
    0x07, 0x0d, 0x02, 0x01, 0x65, 0x04, 0x00, 0x05, 0x74, 0x68, 0x72, 0x6f,
    0x77, 0x00, 0x00, 0x0a, 0x08, 0x01, 0x06, 0x00, 0x20, 0x00, 0x08, 0x00,
    0x0b,
};

/*
 * (module
 *   (tag $e (import "a" "e") (param i32))
 *   (func $throw (import "a" "throw") (param i32))
 *   (func $relay (import "host" "relay") (param i32))
 *   (tag $local (param i32))
 *   (func (export "catch_imported") (param i32) (result i32)
 *     (try (result i32)
 *       (do (call $throw (local.get 0)) (i32.const -1))
 *       (catch $e (i32.add (i32.const 100)))))
 *   (func (export "catch_through_host") (param i32) (result i32)
 *     (try (result i32)
 *       (do (call $relay (local.get 0)) (i32.const -1))
 *       (catch $e (i32.add (i32.const 300)))))
 *   (func (export "mismatch") (param i32) (result i32)
 *     (try (result i32)
 *       (do (call $throw (local.get 0)) (i32.const -1))
 *       (catch $local)))
 *   (func (export "rethrow") (param i32) (result i32)
 *     (try (result i32)
 *       (do (try (result i32)
 *             (do (throw $e (local.get 0)))
 *             (catch $e (drop) (rethrow 0))))
 *       (catch $e (i32.add (i32.const 1000)))))
 *   (func (export "delegate") (param i32) (result i32)
 *     (try $outer (result i32)
 *       (do (try (result i32)
 *             (do (try (result i32)
 *                   (do (throw $e (local.get 0)))
 *                   (delegate $outer)))
 *             (catch_all (i32.const -1))))
 *       (catch $e (i32.add (i32.const 2000)))))
 *   (func (export "catch_all") (param i32) (result i32)
 *     (try (result i32)
 *       (do (call $throw (local.get 0)) (i32.const -1))
 *       (catch_all (i32.const 7))))
 *   (func (export "trap") (result i32)
 *     (try (result i32)
 *       (do (unreachable))
 *       (catch_all (i32.const 7))))
 *   (func (export "escape") (param i32) (throw $e (local.get 0)))
 *   (func (export "loop") (param i32) (result i32)
 *     (loop $l
 *       (try (do (throw $e (local.get 0))) (catch $e (drop)))
 *       (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
 *       (br_if $l (local.get 0)))
 *     (i32.const 0)))
 */
static const uint8_t wasm_catcher[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0e, 0x03, 0x60,
    0x01, 0x7f, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x01, 0x7f,
    0x02, 0x1f, 0x03, 0x01, 0x61, 0x01, 0x65, 0x04, 0x00, 0x00, 0x01, 0x61,
    0x05, 0x74, 0x68, 0x72, 0x6f, 0x77, 0x00, 0x00, 0x04, 0x68, 0x6f, 0x73,
    0x74, 0x05, 0x72, 0x65, 0x6c, 0x61, 0x79, 0x00, 0x00, 0x03, 0x0a, 0x09,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02, 0x00, 0x01, 0x0d, 0x03, 0x01,
    0x00, 0x00, 0x07, 0x6a, 0x09, 0x0e, 0x63, 0x61, 0x74, 0x63, 0x68, 0x5f,
    0x69, 0x6d, 0x70, 0x6f, 0x72, 0x74, 0x65, 0x64, 0x00, 0x02, 0x12, 0x63,
    0x61, 0x74, 0x63, 0x68, 0x5f, 0x74, 0x68, 0x72, 0x6f, 0x75, 0x67, 0x68,
    0x5f, 0x68, 0x6f, 0x73, 0x74, 0x00, 0x03, 0x08, 0x6d, 0x69, 0x73, 0x6d,
    0x61, 0x74, 0x63, 0x68, 0x00, 0x04, 0x07, 0x72, 0x65, 0x74, 0x68, 0x72,
    0x6f, 0x77, 0x00, 0x05, 0x08, 0x64, 0x65, 0x6c, 0x65, 0x67, 0x61, 0x74,
    0x65, 0x00, 0x06, 0x09, 0x63, 0x61, 0x74, 0x63, 0x68, 0x5f, 0x61, 0x6c,
    0x6c, 0x00, 0x07, 0x04, 0x74, 0x72, 0x61, 0x70, 0x00, 0x08, 0x06, 0x65,
    0x73, 0x63, 0x61, 0x70, 0x65, 0x00, 0x09, 0x04, 0x6c, 0x6f, 0x6f, 0x70,
    0x00, 0x0a, 0x0a, 0xa2, 0x01, 0x09, 0x11, 0x00, 0x06, 0x7f, 0x20, 0x00,
    0x10, 0x00, 0x41, 0x7f, 0x07, 0x00, 0x41, 0xe4, 0x00, 0x6a, 0x0b, 0x0b,
    0x11, 0x00, 0x06, 0x7f, 0x20, 0x00, 0x10, 0x01, 0x41, 0x7f, 0x07, 0x00,
    0x41, 0xac, 0x02, 0x6a, 0x0b, 0x0b, 0x0d, 0x00, 0x06, 0x7f, 0x20, 0x00,
    0x10, 0x00, 0x41, 0x7f, 0x07, 0x01, 0x0b, 0x0b, 0x17, 0x00, 0x06, 0x7f,
    0x06, 0x7f, 0x20, 0x00, 0x08, 0x00, 0x07, 0x00, 0x1a, 0x09, 0x00, 0x0b,
    0x07, 0x00, 0x41, 0xe8, 0x07, 0x6a, 0x0b, 0x0b, 0x19, 0x00, 0x06, 0x7f,
    0x06, 0x7f, 0x06, 0x7f, 0x20, 0x00, 0x08, 0x00, 0x18, 0x01, 0x19, 0x41,
    0x7f, 0x0b, 0x07, 0x00, 0x41, 0xd0, 0x0f, 0x6a, 0x0b, 0x0b, 0x0e, 0x00,
    0x06, 0x7f, 0x20, 0x00, 0x10, 0x00, 0x41, 0x7f, 0x19, 0x41, 0x07, 0x0b,
    0x0b, 0x09, 0x00, 0x06, 0x7f, 0x00, 0x19, 0x41, 0x07, 0x0b, 0x0b, 0x06,
    0x00, 0x20, 0x00, 0x08, 0x00, 0x0b, 0x1c, 0x00, 0x03, 0x40, 0x06, 0x40,
    0x20, 0x00, 0x08, 0x00, 0x07, 0x00, 0x1a, 0x0b, 0x20, 0x00, 0x41, 0x01,
    0x6b, 0x21, 0x00, 0x20, 0x00, 0x0d, 0x00, 0x0b, 0x41, 0x00, 0x0b,
};

/*
 * (module
 *   (tag $h (import "host" "tag") (param i64))
 *   (func $hthrow (import "host" "throw") (param i64))
 *   (func (export "catch_host") (param i64) (result i64)
 *     (try (result i64)
 *       (do (call $hthrow (local.get 0)) (i64.const -1))
 *       (catch $h)))
 *   (func (export "escape") (param i64) (throw $h (local.get 0))))
 */
static const uint8_t wasm_hosttag[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60,
    0x01, 0x7e, 0x00, 0x60, 0x01, 0x7e, 0x01, 0x7e, 0x02, 0x1a, 0x02, 0x04,
    0x68, 0x6f, 0x73, 0x74, 0x03, 0x74, 0x61, 0x67, 0x04, 0x00, 0x00, 0x04,
    0x68, 0x6f, 0x73, 0x74, 0x05, 0x74, 0x68, 0x72, 0x6f, 0x77, 0x00, 0x00,
    0x03, 0x03, 0x02, 0x01, 0x00, 0x07, 0x17, 0x02, 0x0a, 0x63, 0x61, 0x74,
    0x63, 0x68, 0x5f, 0x68, 0x6f, 0x73, 0x74, 0x00, 0x01, 0x06, 0x65, 0x73,
    0x63, 0x61, 0x70, 0x65, 0x00, 0x02, 0x0a, 0x16, 0x02, 0x0d, 0x00, 0x06,
    0x7e, 0x20, 0x00, 0x10, 0x00, 0x42, 0x7f, 0x07, 0x00, 0x0b, 0x0b, 0x06,
    0x00, 0x20, 0x00, 0x08, 0x00, 0x0b,
};

static vm_module *load(const uint8_t *bytes, size_t len, uint32_t features)
{
    vm_load_options lo = {.features = features};
    vm_module *m = NULL;
    char err[256] = "";
    int rc = vm_module_new(bytes, len, &lo, &m, err, sizeof err);

    ck_assert_msg(rc == 0, "load: %s", err);
    return m;
}

static vm_func *export_func(vm_instance *inst, const char *name)
{
    vm_extern ex;

    ck_assert_int_eq(vm_instance_export(inst, name, &ex), 0);
    ck_assert_int_eq(ex.kind, VM_EXTERN_FUNC);
    return ex.of.func;
}

static int call_i32(vm_store *s, vm_instance *inst, const char *name,
                    int32_t arg, int32_t *result, char *err, size_t errlen)
{
    vm_val a = {.type = VM_I32, .of.i32 = arg}, r = {0};
    vm_func *f = export_func(inst, name);
    const vm__functype *t = f->type;
    int rc = vm_func_call(s, f, &a, t->nparams, &r, t->nresults, err,
                          errlen);

    if (rc == 0 && result)
        *result = r.of.i32;
    return rc;
}

/* ---- Tail calls -------------------------------------------------------- */

static int host_plus_one(vm_host_call *c, const vm_val *args, vm_val *results)
{
    (void)c;
    results[0].of.i32 = (int32_t)args[0].of.i64 + 1;
    return 0;
}

static vm_instance *tail_instance(vm_store *s, vm_module **m)
{
    vm_valtype p[] = {VM_I64}, r[] = {VM_I32};
    vm_func *host;
    vm_extern imp;
    vm_instance *inst;
    char err[256] = "";

    *m = load(wasm_tail, sizeof wasm_tail, VM_FEATURE_TAIL_CALL);
    ck_assert_int_eq(vm_func_new_host(s, p, 1, r, 1, host_plus_one, NULL,
                                      "host", &host), 0);
    imp.kind = VM_EXTERN_FUNC;
    imp.of.func = host;
    ck_assert_msg(vm_instance_new(s, *m, &imp, 1, &inst, err, sizeof err) == 0,
                  "instantiate: %s", err);
    return inst;
}

/* Ten million mutually recursive tail calls (direct and through a table)
 * in a store that allows 100 frames: the frame stack never grows. */
START_TEST(tail_calls_run_in_constant_stack)
{
    vm_store_limits lim = {.max_call_depth = 100};
    vm_store *s;
    vm_module *m;
    vm_instance *inst;
    vm_val a = {.type = VM_I64, .of.i64 = 10000000}, r = {0};
    char err[256] = "";
    uint32_t cap;

    ck_assert_int_eq(vm_store_new(&lim, &s), 0);
    inst = tail_instance(s, &m);
    /* Warm up: the first call allocates the frame array. */
    a.of.i64 = 10;
    ck_assert_int_eq(vm_func_call(s, export_func(inst, "even"), &a, 1, &r, 1,
                                  err, sizeof err), 0);
    ck_assert_int_eq(r.of.i32, 1);
    cap = s->frames_cap;

    a.of.i64 = 10000000;
    ck_assert_msg(vm_func_call(s, export_func(inst, "even"), &a, 1, &r, 1, err,
                               sizeof err) == 0, "even: %s", err);
    ck_assert_int_eq(r.of.i32, 1);
    a.of.i64 = 10000001;
    ck_assert_msg(vm_func_call(s, export_func(inst, "odd"), &a, 1, &r, 1, err,
                               sizeof err) == 0, "odd: %s", err);
    ck_assert_int_eq(r.of.i32, 1);
    ck_assert_uint_eq(s->frames_cap, cap);
    ck_assert_uint_le(s->frames_cap, 100);
    ck_assert_uint_eq(s->depth, 0);
    ck_assert_ptr_eq(s->stack_top, s->stack);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

/* A tail call to a host function returns the host's results. */
START_TEST(tail_call_to_host)
{
    vm_store *s;
    vm_module *m;
    vm_instance *inst;
    vm_val a = {.type = VM_I64, .of.i64 = 40}, r = {0};
    char err[256] = "";

    ck_assert_int_eq(vm_store_new(NULL, &s), 0);
    inst = tail_instance(s, &m);
    ck_assert_msg(vm_func_call(s, export_func(inst, "to_host"), &a, 1, &r, 1,
                               err, sizeof err) == 0, "to_host: %s", err);
    ck_assert_int_eq(r.of.i32, 42);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

/* ---- Exceptions -------------------------------------------------------- */

typedef struct eh_env {
    vm_store *s;
    vm_module *ma, *mb;
    vm_instance *a, *b;
    void *tag_e; /* a's exported tag */
} eh_env;

/* host.relay: call a.throw through the API; its exception goes on. */
static int host_relay(vm_host_call *c, const vm_val *args, vm_val *results)
{
    eh_env *env = vm_host_call_user(c);
    char err[256];

    (void)results;
    return vm_func_call(env->s, export_func(env->a, "throw"), args, 1, NULL,
                        0, err, sizeof err);
}

static void eh_setup(eh_env *env)
{
    vm_valtype p[] = {VM_I32};
    vm_extern imp[3], ex;
    vm_func *relay;
    char err[256] = "";

    memset(env, 0, sizeof *env);
    ck_assert_int_eq(vm_store_new(NULL, &env->s), 0);
    env->ma = load(wasm_thrower, sizeof wasm_thrower, VM_FEATURE_EXCEPTIONS);
    env->mb = load(wasm_catcher, sizeof wasm_catcher, VM_FEATURE_EXCEPTIONS);
    ck_assert_msg(vm_instance_new(env->s, env->ma, NULL, 0, &env->a, err,
                                  sizeof err) == 0, "a: %s", err);
    ck_assert_int_eq(vm_instance_export(env->a, "e", &ex), 0);
    ck_assert_int_eq(ex.kind, VM_EXTERN_TAG);
    env->tag_e = ex.of.tag;
    imp[0] = ex;
    ck_assert_int_eq(vm_instance_export(env->a, "throw", &imp[1]), 0);
    ck_assert_int_eq(vm_func_new_host(env->s, p, 1, NULL, 0, host_relay, env,
                                      "relay", &relay), 0);
    imp[2].kind = VM_EXTERN_FUNC;
    imp[2].of.func = relay;
    ck_assert_msg(vm_instance_new(env->s, env->mb, imp, 3, &env->b, err,
                                  sizeof err) == 0, "b: %s", err);
}

static void eh_teardown(eh_env *env)
{
    vm_store_free(env->s);
    vm_module_free(env->ma);
    vm_module_free(env->mb);
}

/* Thrown in instance a, caught in b by the tag b imported from a. */
START_TEST(exception_caught_across_instances)
{
    eh_env env;
    int32_t r = 0;
    char err[256] = "";

    eh_setup(&env);
    ck_assert_msg(call_i32(env.s, env.b, "catch_imported", 5, &r, err,
                           sizeof err) == 0, "%s", err);
    ck_assert_int_eq(r, 105);
    /* b's own tag of the same type is another tag: not caught. */
    ck_assert_int_eq(call_i32(env.s, env.b, "mismatch", 5, &r, err,
                              sizeof err), VM_ERR_EXCEPTION);
    eh_teardown(&env);
}
END_TEST

/* wasm -> host -> (API) wasm that throws: the exception crosses the host
 * function and is caught in the wasm frame that called it. */
START_TEST(exception_crosses_host_function)
{
    eh_env env;
    int32_t r = 0;
    char err[256] = "";

    eh_setup(&env);
    ck_assert_msg(call_i32(env.s, env.b, "catch_through_host", 9, &r, err,
                           sizeof err) == 0, "%s", err);
    ck_assert_int_eq(r, 309);
    ck_assert_uint_eq(env.s->depth, 0);
    eh_teardown(&env);
}
END_TEST

START_TEST(rethrow_keeps_payload)
{
    eh_env env;
    int32_t r = 0;
    char err[256] = "";

    eh_setup(&env);
    ck_assert_msg(call_i32(env.s, env.b, "rethrow", 3, &r, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_int_eq(r, 1003);
    eh_teardown(&env);
}
END_TEST

/* delegate skips the catch_all of the try in between. */
START_TEST(delegate_skips_to_label)
{
    eh_env env;
    int32_t r = 0;
    char err[256] = "";

    eh_setup(&env);
    ck_assert_msg(call_i32(env.s, env.b, "delegate", 4, &r, err,
                           sizeof err) == 0, "%s", err);
    ck_assert_int_eq(r, 2004);
    eh_teardown(&env);
}
END_TEST

START_TEST(catch_all_catches_any_tag)
{
    eh_env env;
    int32_t r = 0;
    char err[256] = "";

    eh_setup(&env);
    ck_assert_msg(call_i32(env.s, env.b, "catch_all", 1, &r, err,
                           sizeof err) == 0, "%s", err);
    ck_assert_int_eq(r, 7);
    eh_teardown(&env);
}
END_TEST

/* Traps are not exceptions: catch_all does not see them. */
START_TEST(trap_is_not_caught)
{
    eh_env env;
    char err[256] = "";
    vm_val r;

    eh_setup(&env);
    ck_assert_int_eq(vm_func_call(env.s, export_func(env.b, "trap"), NULL, 0,
                                  &r, 1, err, sizeof err),
                     VM_ERR_TRAP_UNREACHABLE);
    ck_assert_int_eq(vm_store_exception(env.s, NULL, NULL, 0, NULL),
                     VM_ERR_NOT_FOUND);
    eh_teardown(&env);
}
END_TEST

/* An uncaught exception ends the call; the store keeps its tag and
 * payload, and the message names the tag. */
START_TEST(exception_escapes_to_api)
{
    eh_env env;
    char err[256] = "";
    void *tag = NULL;
    vm_val payload[2];
    uint32_t n = 0;

    eh_setup(&env);
    ck_assert_int_eq(call_i32(env.s, env.b, "escape", 42, NULL, err,
                              sizeof err), VM_ERR_EXCEPTION);
    ck_assert_msg(strstr(err, "uncaught exception") && strstr(err, "\"e\""),
                  "message: %s", err);
    ck_assert_int_eq(vm_store_exception(env.s, &tag, payload, 2, &n), 0);
    ck_assert_ptr_eq(tag, env.tag_e);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(payload[0].type, VM_I32);
    ck_assert_int_eq(payload[0].of.i32, 42);
    ck_assert_uint_eq(env.s->depth, 0);
    /* The next call starts without it. */
    ck_assert_int_eq(call_i32(env.s, env.b, "catch_all", 1, NULL, err,
                              sizeof err), 0);
    ck_assert_int_eq(vm_store_exception(env.s, NULL, NULL, 0, NULL),
                     VM_ERR_NOT_FOUND);
    eh_teardown(&env);
}
END_TEST

/* A loop that throws and catches 100000 times keeps a bounded number of
 * exception records: the caught ones are swept as their slots move on. */
START_TEST(caught_exceptions_are_freed)
{
    eh_env env;
    int32_t r = -1;
    char err[256] = "";

    eh_setup(&env);
    ck_assert_msg(call_i32(env.s, env.b, "loop", 100000, &r, err,
                           sizeof err) == 0, "%s", err);
    ck_assert_int_eq(r, 0);
    ck_assert_uint_le(env.s->exns_cap, 32);
    eh_teardown(&env);
}
END_TEST

/* The handler table of "delegate" (defined function 4): the delegating
 * try's entry comes first and limits the search to the outer try, whose
 * catch comes after the middle try's catch_all; each level has its own
 * hidden exception slot. */
START_TEST(handler_table_layout)
{
    vm_module *m = load(wasm_catcher, sizeof wasm_catcher,
                        VM_FEATURE_EXCEPTIONS);
    const vm__code *code = m->funcs[4].code;
    char buf[2048];
    const char *del, *all, *cat;

    vm__code_dump(code, buf, sizeof buf);
    ck_assert_uint_eq(code->nhandlers, 3);
    del = strstr(buf, "depth 2: delegate, limit 1");
    all = strstr(buf, "depth 1: catch_all");
    cat = strstr(buf, "depth 0: catch tag 0");
    ck_assert_msg(del && all && cat && del < all && all < cat, "%s", buf);
    ck_assert_uint_ne(code->handlers[1].exn_slot, code->handlers[2].exn_slot);
    vm_module_free(m);
}
END_TEST

/* host.throw: throws the host tag with its argument. */
static int host_throw(vm_host_call *c, const vm_val *args, vm_val *results)
{
    int rc = vm_host_call_throw(c, vm_host_call_user(c), args, 1);

    (void)results;
    return rc ? rc : VM_ERR_EXCEPTION;
}

/* A tag made by the host (vm_tag_new), imported by wasm, thrown by the
 * host and caught in wasm, and thrown by wasm and seen by the host. */
START_TEST(host_tag)
{
    vm_store *s;
    vm_module *m;
    vm_instance *inst;
    vm_valtype p[] = {VM_I64};
    vm_functype_view view;
    vm_extern imp[2];
    vm_func *thrower;
    void *tag, *got = NULL;
    vm_val a = {.type = VM_I64, .of.i64 = 77}, r = {0}, payload;
    uint32_t n = 0;
    char err[256] = "";

    ck_assert_int_eq(vm_store_new(NULL, &s), 0);
    m = load(wasm_hosttag, sizeof wasm_hosttag, VM_FEATURE_EXCEPTIONS);
    ck_assert_int_eq(vm_tag_new(s, p, 1, &tag), 0);
    ck_assert_int_eq(vm_tag_type(s, tag, &view), 0);
    ck_assert_uint_eq(view.nparams, 1);
    ck_assert_int_eq(view.params[0], VM_I64);
    ck_assert_int_eq(vm_func_new_host(s, p, 1, NULL, 0, host_throw, tag,
                                      "throw", &thrower), 0);
    imp[0].kind = VM_EXTERN_TAG;
    imp[0].of.tag = tag;
    imp[1].kind = VM_EXTERN_FUNC;
    imp[1].of.func = thrower;
    ck_assert_msg(vm_instance_new(s, m, imp, 2, &inst, err, sizeof err) == 0,
                  "instantiate: %s", err);
    ck_assert_msg(vm_func_call(s, export_func(inst, "catch_host"), &a, 1, &r,
                               1, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(r.of.i64, 77);
    a.of.i64 = -5;
    ck_assert_int_eq(vm_func_call(s, export_func(inst, "escape"), &a, 1, NULL,
                                  0, err, sizeof err), VM_ERR_EXCEPTION);
    ck_assert_int_eq(vm_store_exception(s, &got, &payload, 1, &n), 0);
    ck_assert_ptr_eq(got, tag);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(payload.of.i64, -5);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

Suite *eh_suite(void); /* main.c declares it weak */

Suite *eh_suite(void)
{
    Suite *s = suite_create("eh");
    TCase *tc = tcase_create("tail_call");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tail_calls_run_in_constant_stack);
    tcase_add_test(tc, tail_call_to_host);
    suite_add_tcase(s, tc);
    tc = tcase_create("exceptions");
    tcase_add_test(tc, exception_caught_across_instances);
    tcase_add_test(tc, exception_crosses_host_function);
    tcase_add_test(tc, rethrow_keeps_payload);
    tcase_add_test(tc, delegate_skips_to_label);
    tcase_add_test(tc, catch_all_catches_any_tag);
    tcase_add_test(tc, trap_is_not_caught);
    tcase_add_test(tc, exception_escapes_to_api);
    tcase_add_test(tc, caught_exceptions_are_freed);
    tcase_add_test(tc, host_tag);
    tcase_add_test(tc, handler_table_layout);
    suite_add_tcase(s, tc);
    return s;
}
