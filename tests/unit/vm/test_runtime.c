/*
 * Runtime suite: stores, linking, instantiation, host functions, the
 * memory/table/global objects and vm_func_call. The modules are embedded
 * as bytes (generated with wat2wasm 1.0.32 from the text above each one)
 * so the suite needs no tools at run time.
 *
 * Tests that run wasm code need the whole pipeline (decode, validate,
 * compile, interp); the ones on store objects and host functions called
 * directly need only runtime.c.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "runtime_int.h"
#include "traced/vm.h"

extern long vm__alloc_fail_after; /* alloc.c's test hook */

/*
 * (module
 *   (import "env" "add" (func $add (param i32 i32) (result i32)))
 *   (import "env" "mem" (memory 1 2))
 *   (import "env" "tab" (table 2 funcref))
 *   (import "env" "g" (global $g i32))
 *   (import "env" "gm" (global $gm (mut i64)))
 *   (func (export "call_add") (param i32 i32) (result i32)
 *     local.get 0 local.get 1 call $add)
 *   (func (export "load") (param i32) (result i32) local.get 0 i32.load)
 *   (func (export "get_g") (result i32) global.get $g)
 *   (func (export "set_gm") (param i64) local.get 0 global.set $gm)
 *   (export "mem" (memory 0))
 *   (export "tab" (table 0))
 *   (export "g" (global $g)))
 */
static const uint8_t wasm_imports[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x14, 0x04, 0x60,
    0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00,
    0x01, 0x7f, 0x60, 0x01, 0x7e, 0x00, 0x02, 0x36, 0x05, 0x03, 0x65, 0x6e,
    0x76, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00, 0x03, 0x65, 0x6e, 0x76, 0x03,
    0x6d, 0x65, 0x6d, 0x02, 0x01, 0x01, 0x02, 0x03, 0x65, 0x6e, 0x76, 0x03,
    0x74, 0x61, 0x62, 0x01, 0x70, 0x00, 0x02, 0x03, 0x65, 0x6e, 0x76, 0x01,
    0x67, 0x03, 0x7f, 0x00, 0x03, 0x65, 0x6e, 0x76, 0x02, 0x67, 0x6d, 0x03,
    0x7e, 0x01, 0x03, 0x05, 0x04, 0x00, 0x01, 0x02, 0x03, 0x07, 0x34, 0x07,
    0x08, 0x63, 0x61, 0x6c, 0x6c, 0x5f, 0x61, 0x64, 0x64, 0x00, 0x01, 0x04,
    0x6c, 0x6f, 0x61, 0x64, 0x00, 0x02, 0x05, 0x67, 0x65, 0x74, 0x5f, 0x67,
    0x00, 0x03, 0x06, 0x73, 0x65, 0x74, 0x5f, 0x67, 0x6d, 0x00, 0x04, 0x03,
    0x6d, 0x65, 0x6d, 0x02, 0x00, 0x03, 0x74, 0x61, 0x62, 0x01, 0x00, 0x01,
    0x67, 0x03, 0x00, 0x0a, 0x1e, 0x04, 0x08, 0x00, 0x20, 0x00, 0x20, 0x01,
    0x10, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x28, 0x02, 0x00, 0x0b, 0x04,
    0x00, 0x23, 0x00, 0x0b, 0x06, 0x00, 0x20, 0x00, 0x24, 0x01, 0x0b,
};

/*
 * (module
 *   (memory 1)
 *   (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
 *   (func (export "size") (result i32) memory.size))
 */
static const uint8_t wasm_grow[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60,
    0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x03, 0x02, 0x00,
    0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x0f, 0x02, 0x04, 0x67, 0x72,
    0x6f, 0x77, 0x00, 0x00, 0x04, 0x73, 0x69, 0x7a, 0x65, 0x00, 0x01, 0x0a,
    0x0d, 0x02, 0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b, 0x04, 0x00, 0x3f,
    0x00, 0x0b,
};

/*
 * (module (memory 3))
 */
static const uint8_t wasm_mem3[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00,
    0x03,
};

/*
 * (module
 *   (func (export "spin") (loop br 0))
 *   (func $rec (export "rec") call $rec))
 */
static const uint8_t wasm_loop[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
    0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x00, 0x07, 0x0e, 0x02, 0x04, 0x73,
    0x70, 0x69, 0x6e, 0x00, 0x00, 0x03, 0x72, 0x65, 0x63, 0x00, 0x01, 0x0a,
    0x0e, 0x02, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, 0x04, 0x00,
    0x10, 0x01, 0x0b,
};

/*
 * (module
 *   (import "env" "cb" (func $cb (param i32) (result i32)))
 *   (func (export "double") (param i32) (result i32)
 *     local.get 0 i32.const 2 i32.mul)
 *   (func (export "run") (param i32) (result i32)
 *     local.get 0 call $cb i32.const 1 i32.add))
 */
static const uint8_t wasm_reenter[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60,
    0x01, 0x7f, 0x01, 0x7f, 0x02, 0x0a, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x02,
    0x63, 0x62, 0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x00, 0x07, 0x10, 0x02,
    0x06, 0x64, 0x6f, 0x75, 0x62, 0x6c, 0x65, 0x00, 0x01, 0x03, 0x72, 0x75,
    0x6e, 0x00, 0x02, 0x0a, 0x13, 0x02, 0x07, 0x00, 0x20, 0x00, 0x41, 0x02,
    0x6c, 0x0b, 0x09, 0x00, 0x20, 0x00, 0x10, 0x00, 0x41, 0x01, 0x6a, 0x0b,
};

/*
 * (module
 *   (import "env" "tick" (func $tick))
 *   (func (export "run") (param i32)
 *     (loop $l
 *       call $tick
 *       local.get 0 i32.const 1 i32.sub local.tee 0
 *       br_if $l)))
 */
static const uint8_t wasm_cancel[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x60,
    0x00, 0x00, 0x60, 0x01, 0x7f, 0x00, 0x02, 0x0c, 0x01, 0x03, 0x65, 0x6e,
    0x76, 0x04, 0x74, 0x69, 0x63, 0x6b, 0x00, 0x00, 0x03, 0x02, 0x01, 0x01,
    0x07, 0x07, 0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x01, 0x0a, 0x12, 0x01,
    0x10, 0x00, 0x03, 0x40, 0x10, 0x00, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x22,
    0x00, 0x0d, 0x00, 0x0b, 0x0b,
};

/*
 * (module
 *   (import "env" "mem" (memory 1))
 *   (import "env" "tab" (table 2 funcref))
 *   (func $f (result i32) i32.const 42)
 *   (elem (i32.const 0) $f)
 *   (data (i32.const 16) "hello")
 *   (func (export "store") (param i32 i32) local.get 0 local.get 1 i32.store))
 */
static const uint8_t wasm_writer[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60,
    0x00, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x00, 0x02, 0x18, 0x02, 0x03,
    0x65, 0x6e, 0x76, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x01, 0x03, 0x65,
    0x6e, 0x76, 0x03, 0x74, 0x61, 0x62, 0x01, 0x70, 0x00, 0x02, 0x03, 0x03,
    0x02, 0x00, 0x01, 0x07, 0x09, 0x01, 0x05, 0x73, 0x74, 0x6f, 0x72, 0x65,
    0x00, 0x01, 0x09, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x00, 0x0a,
    0x10, 0x02, 0x04, 0x00, 0x41, 0x2a, 0x0b, 0x09, 0x00, 0x20, 0x00, 0x20,
    0x01, 0x36, 0x02, 0x00, 0x0b, 0x0b, 0x0b, 0x01, 0x00, 0x41, 0x10, 0x0b,
    0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};

/*
 * (module
 *   (type $t (func (result i32)))
 *   (import "env" "mem" (memory 1))
 *   (import "env" "tab" (table 2 funcref))
 *   (func (export "call0") (result i32) i32.const 0 call_indirect (type $t))
 *   (func (export "load") (param i32) (result i32) local.get 0 i32.load))
 */
static const uint8_t wasm_reader[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60,
    0x00, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x02, 0x18, 0x02, 0x03,
    0x65, 0x6e, 0x76, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x01, 0x03, 0x65,
    0x6e, 0x76, 0x03, 0x74, 0x61, 0x62, 0x01, 0x70, 0x00, 0x02, 0x03, 0x03,
    0x02, 0x00, 0x01, 0x07, 0x10, 0x02, 0x05, 0x63, 0x61, 0x6c, 0x6c, 0x30,
    0x00, 0x00, 0x04, 0x6c, 0x6f, 0x61, 0x64, 0x00, 0x01, 0x0a, 0x11, 0x02,
    0x07, 0x00, 0x41, 0x00, 0x11, 0x00, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00,
    0x28, 0x02, 0x00, 0x0b,
};

/*
 * (module
 *   (global $g (export "g") (mut i32) (i32.const 0))
 *   (func $s i32.const 7 global.set $g)
 *   (start $s))
 */
static const uint8_t wasm_start[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
    0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x06, 0x06, 0x01, 0x7f, 0x01, 0x41,
    0x00, 0x0b, 0x07, 0x05, 0x01, 0x01, 0x67, 0x03, 0x00, 0x08, 0x01, 0x00,
    0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x07, 0x24, 0x00, 0x0b,
};

/*
 * (module
 *   (func $s unreachable)
 *   (start $s))
 */
static const uint8_t wasm_start_trap[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
    0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x08, 0x01, 0x00, 0x0a, 0x05, 0x01,
    0x03, 0x00, 0x00, 0x0b,
};

/*
 * (module
 *   (import "env" "mem" (memory 1))
 *   (import "env" "tab" (table 2 funcref))
 *   (func $f)
 *   (elem (i32.const 0) $f)
 *   (elem (i32.const 1) $f $f)
 *   (data (i32.const 0) "ab"))
 */
static const uint8_t wasm_elem_oob[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
    0x00, 0x00, 0x02, 0x18, 0x02, 0x03, 0x65, 0x6e, 0x76, 0x03, 0x6d, 0x65,
    0x6d, 0x02, 0x00, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x03, 0x74, 0x61, 0x62,
    0x01, 0x70, 0x00, 0x02, 0x03, 0x02, 0x01, 0x00, 0x09, 0x0e, 0x02, 0x00,
    0x41, 0x00, 0x0b, 0x01, 0x00, 0x00, 0x41, 0x01, 0x0b, 0x02, 0x00, 0x00,
    0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, 0x0b, 0x08, 0x01, 0x00, 0x41, 0x00,
    0x0b, 0x02, 0x61, 0x62,
};

/*
 * (module
 *   (import "env" "mem" (memory 1))
 *   (data (i32.const 0) "ab")
 *   (data (i32.const 65535) "xy"))
 */
static const uint8_t wasm_data_oob[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x02, 0x0c, 0x01, 0x03,
    0x65, 0x6e, 0x76, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x01, 0x0b, 0x11,
    0x02, 0x00, 0x41, 0x00, 0x0b, 0x02, 0x61, 0x62, 0x00, 0x41, 0xff, 0xff,
    0x03, 0x0b, 0x02, 0x78, 0x79,
};

/*
 * (module
 *   (import "env" "g" (global $g i32))
 *   (global $a (export "a") i32 (global.get $g))
 *   (global $b (export "b") i64 (i64.const -5))
 *   (global $f (export "f") funcref (ref.func $fn))
 *   (global $e (export "e") externref (ref.null extern))
 *   (table (export "t") 3 funcref)
 *   (elem (i32.const 1) func $fn)
 *   (elem declare func $fn)
 *   (elem $p funcref (ref.func $fn) (ref.null func))
 *   (memory (export "m") 1 4)
 *   (data (i32.const 8) "\01\02\03\04")
 *   (data $pd "passive")
 *   (func $fn (export "fn") (result i32) i32.const 9))
 */
static const uint8_t wasm_consts[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
    0x00, 0x01, 0x7f, 0x02, 0x0a, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x67,
    0x03, 0x7f, 0x00, 0x03, 0x02, 0x01, 0x00, 0x04, 0x04, 0x01, 0x70, 0x00,
    0x03, 0x05, 0x04, 0x01, 0x01, 0x01, 0x04, 0x06, 0x15, 0x04, 0x7f, 0x00,
    0x23, 0x00, 0x0b, 0x7e, 0x00, 0x42, 0x7b, 0x0b, 0x70, 0x00, 0xd2, 0x00,
    0x0b, 0x6f, 0x00, 0xd0, 0x6f, 0x0b, 0x07, 0x1e, 0x07, 0x01, 0x61, 0x03,
    0x01, 0x01, 0x62, 0x03, 0x02, 0x01, 0x66, 0x03, 0x03, 0x01, 0x65, 0x03,
    0x04, 0x01, 0x74, 0x01, 0x00, 0x01, 0x6d, 0x02, 0x00, 0x02, 0x66, 0x6e,
    0x00, 0x00, 0x09, 0x14, 0x03, 0x00, 0x41, 0x01, 0x0b, 0x01, 0x00, 0x03,
    0x00, 0x01, 0x00, 0x05, 0x70, 0x02, 0xd2, 0x00, 0x0b, 0xd0, 0x70, 0x0b,
    0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x09, 0x0b, 0x0b, 0x13, 0x02, 0x00,
    0x41, 0x08, 0x0b, 0x04, 0x01, 0x02, 0x03, 0x04, 0x01, 0x07, 0x70, 0x61,
    0x73, 0x73, 0x69, 0x76, 0x65,
};

/*
 * (module
 *   (func (export "a\00b") (result i32) i32.const 1)
 *   (func (export "a") (result i32) i32.const 2)
 *   (func (export "") (result i32) i32.const 3))
 */
static const uint8_t wasm_names[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
    0x00, 0x01, 0x7f, 0x03, 0x04, 0x03, 0x00, 0x00, 0x00, 0x07, 0x0e, 0x03,
    0x03, 0x61, 0x00, 0x62, 0x00, 0x00, 0x01, 0x61, 0x00, 0x01, 0x00, 0x00,
    0x02, 0x0a, 0x10, 0x03, 0x04, 0x00, 0x41, 0x01, 0x0b, 0x04, 0x00, 0x41,
    0x02, 0x0b, 0x04, 0x00, 0x41, 0x03, 0x0b,
};

/* ---- Helpers ----------------------------------------------------------- */

static vm_module *load(const uint8_t *bytes, size_t len)
{
    vm_module *m = NULL;
    char err[256] = "";
    int rc = vm_module_new(bytes, len, NULL, &m, err, sizeof err);

    ck_assert_msg(rc == 0, "vm_module_new: %s (%s)", vm_err_name(rc), err);
    return m;
}
#define LOAD(name) load(wasm_##name, sizeof wasm_##name)

static vm_store *store_with(uint32_t max_pages, uint32_t depth, uint64_t fuel)
{
    vm_store_limits lim = {.max_memory_pages = max_pages,
                           .max_call_depth = depth,
                           .fuel = fuel};
    vm_store *s = NULL;

    ck_assert_int_eq(vm_store_new(&lim, &s), 0);
    return s;
}

static vm_instance *instantiate(vm_store *s, const vm_module *m,
                                const vm_extern *imports, uint32_t n)
{
    vm_instance *inst = NULL;
    char err[256] = "";
    int rc = vm_instance_new(s, m, imports, n, &inst, err, sizeof err);

    ck_assert_msg(rc == 0, "vm_instance_new: %s (%s)", vm_err_name(rc), err);
    ck_assert_ptr_nonnull(inst);
    return inst;
}

static vm_func *export_func(const vm_instance *inst, const char *name)
{
    vm_extern ex;

    ck_assert_int_eq(vm_instance_export(inst, name, &ex), 0);
    ck_assert_int_eq(ex.kind, VM_EXTERN_FUNC);
    return ex.of.func;
}

static vm_val i32v(int32_t v)
{
    vm_val x = {.type = VM_I32, .of.i32 = v};
    return x;
}

static vm_val i64v(int64_t v)
{
    vm_val x = {.type = VM_I64, .of.i64 = v};
    return x;
}

/* Call a function of one or no i32 argument; returns the code and the
 * i32 result (if the function has one) in *out. */
static int call_i32(vm_store *s, vm_func *f, const int32_t *arg,
                    int32_t *out, char *err, size_t errlen)
{
    vm_val a = i32v(arg ? *arg : 0), r = {0};
    vm_functype_view t;
    int rc;

    ck_assert_int_eq(vm_func_type(f, &t), 0);
    rc = vm_func_call(s, f, arg ? &a : NULL, arg ? 1 : 0, &r, t.nresults,
                      err, errlen);
    if (rc == 0 && t.nresults && out) {
        ck_assert_int_eq(r.type, VM_I32);
        *out = r.of.i32;
    }
    return rc;
}

/* ---- The "env" the imports module links against ------------------------ */

struct add_state {
    int calls;
};

/* add(a, b) = a + b; a == 13 traps with a message. */
static int host_add(vm_host_call *c, const vm_val *args, vm_val *results)
{
    struct add_state *st = vm_host_call_user(c);

    st->calls++;
    if (args[0].of.i32 == 13) {
        vm_host_call_set_error(c, "thirteen is unlucky");
        return VM_ERR_TRAP_HOST;
    }
    results[0] = i32v(args[0].of.i32 + args[1].of.i32);
    return 0;
}

struct env {
    vm_store *s;
    struct add_state add_state;
    vm_func *add;
    vm_memory *mem;
    vm_table *tab;
    vm_global *g, *gm;
    vm_extern ex[5]; /* in the imports module's order */
};

static void env_init(struct env *e, vm_store *s)
{
    static const vm_valtype ii[] = {VM_I32, VM_I32}, i[] = {VM_I32};
    vm_val g = i32v(77), gm = i64v(1);

    memset(e, 0, sizeof *e);
    e->s = s;
    ck_assert_int_eq(vm_func_new_host(s, ii, 2, i, 1, host_add, &e->add_state,
                                      "add", &e->add), 0);
    ck_assert_int_eq(vm_memory_new(s, 1, 2, true, &e->mem), 0);
    ck_assert_int_eq(vm_table_new(s, VM_FUNCREF, 2, 0, false, NULL, &e->tab),
                     0);
    ck_assert_int_eq(vm_global_new(s, &g, false, &e->g), 0);
    ck_assert_int_eq(vm_global_new(s, &gm, true, &e->gm), 0);
    e->ex[0] = (vm_extern){.kind = VM_EXTERN_FUNC, .of.func = e->add};
    e->ex[1] = (vm_extern){.kind = VM_EXTERN_MEMORY, .of.memory = e->mem};
    e->ex[2] = (vm_extern){.kind = VM_EXTERN_TABLE, .of.table = e->tab};
    e->ex[3] = (vm_extern){.kind = VM_EXTERN_GLOBAL, .of.global = e->g};
    e->ex[4] = (vm_extern){.kind = VM_EXTERN_GLOBAL, .of.global = e->gm};
}

/* Instantiate the imports module with env's externs, one replaced;
 * returns the code and leaves the message in err. */
static int link_with(struct env *e, const vm_module *m, int slot,
                     vm_extern repl, char *err, size_t errlen)
{
    vm_extern ex[5];
    vm_instance *inst = NULL;
    int rc;

    memcpy(ex, e->ex, sizeof ex);
    if (slot >= 0)
        ex[slot] = repl;
    rc = vm_instance_new(e->s, m, ex, 5, &inst, err, errlen);
    if (rc)
        ck_assert_ptr_null(inst);
    return rc;
}

/* ---- Store objects (no wasm code runs) --------------------------------- */

START_TEST(test_store_defaults_and_fuel)
{
    vm_store *s = NULL;

    ck_assert_int_eq(vm_store_new(NULL, &s), 0);
    ck_assert_uint_eq(s->limits.max_memory_pages, VM_MAX_PAGES);
    ck_assert_uint_eq(s->limits.max_call_depth, VM_DEFAULT_CALL_DEPTH);
    ck_assert_uint_eq(s->limits.stack_slots, VM_DEFAULT_STACK_SLOTS);
    ck_assert(vm_store_fuel(s) == UINT64_MAX);
    vm_store_set_fuel(s, 500);
    ck_assert(vm_store_fuel(s) == 500);
    vm_store_set_fuel(s, UINT64_MAX);
    ck_assert(vm_store_fuel(s) == UINT64_MAX);
    ck_assert_int_eq(vm_store_exit_code(s), 0);
    vm_store_free(s);

    s = store_with(0, 0, 1234);
    ck_assert(vm_store_fuel(s) == 1234);
    vm_store_free(s);
    vm_store_free(NULL);
}
END_TEST

START_TEST(test_type_interning)
{
    vm_store *s = store_with(0, 0, 0);
    uint8_t a[] = {VM_I32, VM_I64, VM_F32}, b[] = {VM_I32, VM_I64, VM_F32};
    uint8_t c[] = {VM_I32, VM_I64, VM_F64};
    vm__functype ta = {2, 1, a}, tb = {2, 1, b}, tc = {2, 1, c};
    vm__functype td = {1, 2, a};
    int64_t ia = vm__store_type_id(s, &ta);

    ck_assert_int_ge(ia, 0);
    ck_assert_int_eq(vm__store_type_id(s, &tb), ia);
    ck_assert_int_ne(vm__store_type_id(s, &tc), ia);
    ck_assert_int_ne(vm__store_type_id(s, &td), ia);
    /* Enough distinct types to rehash several times; ids stay stable. */
    for (int i = 0; i < 1000; i++) {
        uint8_t t[3] = {VM_I32, VM_I32, VM_I32};
        vm__functype tt = {3, 0, t};
        int64_t id, again;

        for (int bit = 0; bit < 3; bit++)
            t[bit] = (uint8_t)(0x7c + ((i >> (2 * bit)) & 3));
        tt.nparams = 1 + (uint32_t)(i / 64) % 3;
        tt.nresults = 3 - tt.nparams;
        id = vm__store_type_id(s, &tt);
        ck_assert_int_ge(id, 0);
        again = vm__store_type_id(s, &tt);
        ck_assert_int_eq(id, again);
    }
    ck_assert_int_eq(vm__store_type_id(s, &ta), ia);
    vm_store_free(s);
}
END_TEST

START_TEST(test_memory_object)
{
    vm_store *s = store_with(3, 0, 0);
    vm_memory *mem = NULL;

    ck_assert_int_eq(vm_memory_new(s, 4, 0, false, &mem), VM_ERR_LIMIT);
    ck_assert_ptr_null(mem);
    ck_assert_int_eq(vm_memory_new(s, 2, 1, true, &mem), VM_ERR_ARG);
    ck_assert_int_eq(vm_memory_new(s, 1, 0, false, &mem), 0);
    ck_assert_uint_eq(vm_memory_pages(mem), 1);
    ck_assert_uint_eq(vm_memory_size(mem), 65536);
    vm_memory_data(mem)[65535] = 0xab;
    ck_assert_int_eq(vm_memory_grow(mem, 0), 1);
    ck_assert_int_eq(vm_memory_grow(mem, 1), 1);
    ck_assert_int_eq(vm_memory_data(mem)[65535], 0xab);
    ck_assert_int_eq(vm_memory_data(mem)[65536], 0); /* new pages zeroed */
    ck_assert_int_eq(vm_memory_data(mem)[2 * 65536 - 1], 0);
    ck_assert_int_eq(vm_memory_grow(mem, 2), -1); /* store cap is 3 */
    ck_assert_int_eq(vm_memory_grow(mem, 1), 2);
    ck_assert_int_eq(vm_memory_grow(mem, 1), -1);
    ck_assert_uint_eq(vm_memory_pages(mem), 3);

    /* A declared max below the store cap wins. */
    ck_assert_int_eq(vm_memory_new(s, 0, 1, true, &mem), 0);
    ck_assert_uint_eq(vm_memory_size(mem), 0);
    ck_assert_int_eq(vm_memory_grow(mem, 1), 0);
    ck_assert_int_eq(vm_memory_grow(mem, 1), -1);
    vm_store_free(s);
}
END_TEST

START_TEST(test_table_object)
{
    vm_store *s = store_with(0, 0, 0);
    vm_table *t = NULL;
    int host_thing;
    vm_val v, ext = {.type = VM_EXTERNREF, .of.ref = &host_thing};
    vm_val i = i32v(1);

    ck_assert_int_eq(vm_table_new(s, VM_I32, 1, 0, false, NULL, &t),
                     VM_ERR_ARG);
    ck_assert_int_eq(vm_table_new(s, VM_EXTERNREF, 3, 2, true, NULL, &t),
                     VM_ERR_ARG);
    ck_assert_int_eq(vm_table_new(s, VM_EXTERNREF, VM_MAX_TABLE_SIZE + 1, 0,
                                  false, NULL, &t), VM_ERR_LIMIT);
    ck_assert_int_eq(vm_table_new(s, VM_EXTERNREF, 2, 4, true, &host_thing,
                                  &t), 0);
    ck_assert_uint_eq(vm_table_size(t), 2);
    ck_assert_int_eq(vm_table_get(t, 1, &v), 0);
    ck_assert_int_eq(v.type, VM_EXTERNREF);
    ck_assert_ptr_eq(v.of.ref, &host_thing);
    ck_assert_int_eq(vm_table_get(t, 2, &v), VM_ERR_TRAP_TABLE_OOB);
    ck_assert_int_eq(vm_table_set(t, 0, &i), VM_ERR_ARG);
    ext.of.ref = NULL;
    ck_assert_int_eq(vm_table_set(t, 0, &ext), 0);
    ck_assert_int_eq(vm_table_get(t, 0, &v), 0);
    ck_assert_ptr_null(v.of.ref);
    ck_assert_int_eq(vm_table_set(t, 2, &ext), VM_ERR_TRAP_TABLE_OOB);

    ck_assert_int_eq(vm__table_grow(t, 1, &host_thing), 2);
    ck_assert_int_eq(vm__table_grow(t, 2, NULL), -1); /* max 4 */
    ck_assert_int_eq(vm__table_grow(t, 1, NULL), 3);
    ck_assert_uint_eq(vm_table_size(t), 4);
    ck_assert_int_eq(vm_table_get(t, 2, &v), 0);
    ck_assert_ptr_eq(v.of.ref, &host_thing);
    ck_assert_int_eq(vm_table_get(t, 3, &v), 0);
    ck_assert_ptr_null(v.of.ref);
    ck_assert_int_eq(vm__table_grow(t, 0, NULL), 4);
    vm_store_free(s);
}
END_TEST

START_TEST(test_global_object)
{
    vm_store *s = store_with(0, 0, 0);
    vm_global *g = NULL, *c = NULL, *v = NULL;
    vm_val x = i64v(-42), y = i64v(7), w = i32v(1), out;
    vm_val v128 = {.type = VM_V128};
    vm_val bad = {.type = (vm_valtype)0x40};

    for (int i = 0; i < 16; i++)
        v128.of.v128[i] = (uint8_t)(i * 17);
    ck_assert_int_eq(vm_global_new(s, &bad, true, &g), VM_ERR_ARG);
    ck_assert_int_eq(vm_global_new(s, &x, true, &g), 0);
    ck_assert_int_eq(vm_global_new(s, &x, false, &c), 0);
    vm_global_get(g, &out);
    ck_assert_int_eq(out.type, VM_I64);
    ck_assert_int_eq(out.of.i64, -42);
    ck_assert_int_eq(vm_global_set(g, &y), 0);
    vm_global_get(g, &out);
    ck_assert_int_eq(out.of.i64, 7);
    ck_assert_int_eq(vm_global_set(g, &w), VM_ERR_ARG); /* wrong type */
    ck_assert_int_eq(vm_global_set(c, &y), VM_ERR_ARG); /* immutable */

    ck_assert_int_eq(vm_global_new(s, &v128, false, &v), 0);
    vm_global_get(v, &out);
    ck_assert_int_eq(out.type, VM_V128);
    ck_assert_mem_eq(out.of.v128, v128.of.v128, 16);
    vm_store_free(s);
}
END_TEST

START_TEST(test_slot_conversion)
{
    vm__slot slots[2];
    vm_val f32 = {.type = VM_F32, .of.f32_bits = 0x7fa00001u}; /* sNaN */
    vm_val f64 = {.type = VM_F64, .of.f64_bits = 0xfff0000000000123ull};
    vm_val neg = i32v(-1), out;

    vm__val_to_slots(&f32, slots);
    vm__slots_to_val(VM_F32, slots, &out);
    ck_assert_uint_eq(out.of.f32_bits, 0x7fa00001u);
    vm__val_to_slots(&f64, slots);
    vm__slots_to_val(VM_F64, slots, &out);
    ck_assert(out.of.f64_bits == 0xfff0000000000123ull);
    vm__val_to_slots(&neg, slots);
    slots[0] |= 0xdead000000000000ull; /* high half is unspecified */
    vm__slots_to_val(VM_I32, slots, &out);
    ck_assert_int_eq(out.of.i32, -1);
}
END_TEST

/* ---- Host functions called through the API ----------------------------- */

static int host_exit(vm_host_call *c, const vm_val *args, vm_val *results)
{
    vm_host_call_set_exit(c, args[0].of.i32);
    return VM_ERR_EXIT;
}

static int host_bogus(vm_host_call *c, const vm_val *args, vm_val *results)
{
    ck_assert_ptr_null(vm_host_call_instance(c));
    ck_assert_ptr_null(vm_host_call_memory(c));
    return 12345; /* not an error code */
}

static int host_many(vm_host_call *c, const vm_val *args, vm_val *results)
{
    /* 20 i64 params (past the inline buffers), 20 results: reversed. */
    for (int i = 0; i < 20; i++)
        results[i] = i64v(args[19 - i].of.i64);
    return 0;
}

START_TEST(test_host_direct_call)
{
    vm_store *s = store_with(0, 0, 0);
    struct env e;
    vm_val args[2] = {i32v(2), i32v(40)}, r = {0}, bad[2] = {i32v(1), i64v(1)};
    vm_functype_view t;
    char err[256];

    env_init(&e, s);
    ck_assert_int_eq(vm_func_type(e.add, &t), 0);
    ck_assert_uint_eq(t.nparams, 2);
    ck_assert_uint_eq(t.nresults, 1);
    ck_assert_int_eq(t.params[1], VM_I32);
    ck_assert_int_eq(t.results[0], VM_I32);

    ck_assert_int_eq(vm_func_call(s, e.add, args, 2, &r, 1, err, sizeof err),
                     0);
    ck_assert_int_eq(r.type, VM_I32);
    ck_assert_int_eq(r.of.i32, 42);
    ck_assert_int_eq(e.add_state.calls, 1);

    /* Argument checking: count, types, room for results. */
    ck_assert_int_eq(vm_func_call(s, e.add, args, 1, &r, 1, err, sizeof err),
                     VM_ERR_ARG);
    ck_assert_int_eq(vm_func_call(s, e.add, bad, 2, &r, 1, err, sizeof err),
                     VM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "expected i32, got i64"));
    ck_assert_int_eq(vm_func_call(s, e.add, args, 2, &r, 0, err, sizeof err),
                     VM_ERR_ARG);
    ck_assert_int_eq(e.add_state.calls, 1);

    /* A host trap carries its message. */
    args[0] = i32v(13);
    ck_assert_int_eq(vm_func_call(s, e.add, args, 2, &r, 1, err, sizeof err),
                     VM_ERR_TRAP_HOST);
    ck_assert_ptr_nonnull(strstr(err, "thirteen is unlucky"));
    vm_store_free(s);
}
END_TEST

START_TEST(test_host_exit_and_bogus_codes)
{
    vm_store *s = store_with(0, 0, 0);
    static const vm_valtype i[] = {VM_I32};
    vm_valtype many[20];
    vm_val margs[20], mres[20];
    vm_func *fx = NULL, *fb = NULL, *fm = NULL;
    vm_val a = i32v(3);
    char err[256];

    ck_assert_int_eq(vm_func_new_host(s, i, 1, NULL, 0, host_exit, NULL,
                                      "exit", &fx), 0);
    ck_assert_int_eq(vm_func_call(s, fx, &a, 1, NULL, 0, err, sizeof err),
                     VM_ERR_EXIT);
    ck_assert_int_eq(vm_store_exit_code(s), 3);
    ck_assert_ptr_nonnull(strstr(err, "code 3"));

    ck_assert_int_eq(vm_func_new_host(s, NULL, 0, NULL, 0, host_bogus, NULL,
                                      NULL, &fb), 0);
    ck_assert_int_eq(vm_func_call(s, fb, NULL, 0, NULL, 0, err, sizeof err),
                     VM_ERR_TRAP_HOST);

    for (int k = 0; k < 20; k++) {
        many[k] = VM_I64;
        margs[k] = i64v(k * 1000);
    }
    ck_assert_int_eq(vm_func_new_host(s, many, 20, many, 20, host_many, NULL,
                                      "many", &fm), 0);
    ck_assert_int_eq(vm_func_call(s, fm, margs, 20, mres, 20, err,
                                  sizeof err), 0);
    for (int k = 0; k < 20; k++)
        ck_assert_int_eq(mres[k].of.i64, (19 - k) * 1000);

    /* Bad host function types are refused. */
    ck_assert_int_eq(vm_func_new_host(s, (vm_valtype[]){(vm_valtype)0}, 1,
                                      NULL, 0, host_bogus, NULL, NULL, &fb),
                     VM_ERR_ARG);
    ck_assert_int_eq(vm_func_new_host(s, NULL, 0, NULL, 0, NULL, NULL, NULL,
                                      &fb), VM_ERR_ARG);
    vm_store_free(s);
}
END_TEST

/* Every allocation failure in the object constructors is reported as
 * NOMEM and leaks nothing (ASan checks the second part). */
START_TEST(test_objects_out_of_memory)
{
    static const vm_valtype ii[] = {VM_I32, VM_I32}, i[] = {VM_I32};
    int failures = 0;

    for (long n = 1; n < 40; n++) {
        vm_store *s = NULL;
        vm_func *f;
        vm_memory *mem;
        vm_table *t;
        vm_global *g;
        vm_val init = i32v(1);
        int rc;

        vm__alloc_fail_after = n;
        rc = vm_store_new(NULL, &s);
        if (rc == 0) {
            rc = vm_func_new_host(s, ii, 2, i, 1, host_add, NULL, "add", &f);
            if (rc == 0)
                rc = vm_memory_new(s, 1, 0, false, &mem);
            if (rc == 0)
                rc = vm_table_new(s, VM_FUNCREF, 1, 0, false, NULL, &t);
            if (rc == 0)
                rc = vm_global_new(s, &init, false, &g);
        }
        vm__alloc_fail_after = -1;
        if (rc) {
            ck_assert_int_eq(rc, VM_ERR_NOMEM);
            failures++;
        }
        vm_store_free(s);
    }
    ck_assert_int_gt(failures, 5);
}
END_TEST

/* ---- Linking (needs decode/validate/compile) --------------------------- */

START_TEST(test_link_and_exports)
{
    vm_store *s = store_with(0, 0, 0);
    vm_module *m = LOAD(imports);
    struct env e;
    vm_instance *inst;
    vm_extern ex;

    env_init(&e, s);
    inst = instantiate(s, m, e.ex, 5);
    ck_assert_ptr_eq(vm_instance_module(inst), m);
    ck_assert_ptr_eq(vm_instance_func(inst, 0), e.add);
    ck_assert_ptr_nonnull(vm_instance_func(inst, 4));
    ck_assert_ptr_null(vm_instance_func(inst, 5));

    ck_assert_int_eq(vm_instance_export(inst, "mem", &ex), 0);
    ck_assert_int_eq(ex.kind, VM_EXTERN_MEMORY);
    ck_assert_ptr_eq(ex.of.memory, e.mem);
    ck_assert_int_eq(vm_instance_export(inst, "tab", &ex), 0);
    ck_assert_int_eq(ex.kind, VM_EXTERN_TABLE);
    ck_assert_ptr_eq(ex.of.table, e.tab);
    ck_assert_int_eq(vm_instance_export(inst, "g", &ex), 0);
    ck_assert_int_eq(ex.kind, VM_EXTERN_GLOBAL);
    ck_assert_ptr_eq(ex.of.global, e.g);
    ck_assert_int_eq(vm_instance_export(inst, "call_add", &ex), 0);
    ck_assert_int_eq(ex.kind, VM_EXTERN_FUNC);
    ck_assert_ptr_eq(ex.of.func, vm_instance_func(inst, 1));
    ck_assert_int_eq(vm_instance_export(inst, "nope", &ex), VM_ERR_NOT_FOUND);
    ck_assert_int_eq(vm_instance_export(inst, "call", &ex), VM_ERR_NOT_FOUND);

    /* The same module instantiates again in the same store. */
    instantiate(s, m, e.ex, 5);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

START_TEST(test_export_names_with_nul)
{
    vm_store *s = store_with(0, 0, 0);
    vm_module *m = LOAD(names);
    vm_instance *inst = instantiate(s, m, NULL, 0);
    vm_extern ex;

    ck_assert_int_eq(vm_instance_export_n(inst, "a\0b", 3, &ex), 0);
    ck_assert_ptr_eq(ex.of.func, vm_instance_func(inst, 0));
    ck_assert_int_eq(vm_instance_export(inst, "a", &ex), 0);
    ck_assert_ptr_eq(ex.of.func, vm_instance_func(inst, 1));
    ck_assert_int_eq(vm_instance_export_n(inst, "a\0c", 3, &ex),
                     VM_ERR_NOT_FOUND);
    ck_assert_int_eq(vm_instance_export_n(inst, NULL, 0, &ex), 0);
    ck_assert_ptr_eq(ex.of.func, vm_instance_func(inst, 2));
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

static void expect_unlinkable(struct env *e, const vm_module *m, int slot,
                              vm_extern repl, const char *detail)
{
    char err[256] = "";
    int rc = link_with(e, m, slot, repl, err, sizeof err);

    ck_assert_msg(rc == VM_ERR_UNLINKABLE, "slot %d: got %s (%s)", slot,
                  vm_err_name(rc), err);
    ck_assert_msg(strstr(err, "incompatible import type") != NULL, "%s", err);
    ck_assert_msg(strstr(err, detail) != NULL, "want '%s' in '%s'", detail,
                  err);
}

START_TEST(test_link_errors)
{
    static const vm_valtype i[] = {VM_I32};
    static const vm_valtype ll[] = {VM_I64, VM_I64};
    vm_store *s = store_with(0, 0, 0);
    vm_module *m = LOAD(imports);
    struct env e;
    vm_func *wrong_type;
    vm_memory *mem_nomax, *mem_bigmax, *mem_small, *mem_okmax, *mem_grown;
    vm_table *tab_small, *tab_ext, *tab_big;
    vm_global *g64, *gmut32, *g64const;
    vm_val v32 = i32v(0), v64 = i64v(0);
    vm_instance *inst = NULL;
    char err[256];

    env_init(&e, s);
    ck_assert_int_eq(vm_func_new_host(s, ll, 2, i, 1, host_add, NULL, "x",
                                      &wrong_type), 0);
    ck_assert_int_eq(vm_memory_new(s, 1, 0, false, &mem_nomax), 0);
    ck_assert_int_eq(vm_memory_new(s, 1, 3, true, &mem_bigmax), 0);
    ck_assert_int_eq(vm_memory_new(s, 0, 2, true, &mem_small), 0);
    ck_assert_int_eq(vm_memory_new(s, 2, 2, true, &mem_okmax), 0);
    ck_assert_int_eq(vm_memory_new(s, 0, 2, true, &mem_grown), 0);
    ck_assert_int_eq(vm_table_new(s, VM_FUNCREF, 1, 0, false, NULL,
                                  &tab_small), 0);
    ck_assert_int_eq(vm_table_new(s, VM_EXTERNREF, 2, 0, false, NULL,
                                  &tab_ext), 0);
    ck_assert_int_eq(vm_table_new(s, VM_FUNCREF, 10, 20, true, NULL,
                                  &tab_big), 0);
    ck_assert_int_eq(vm_global_new(s, &v64, false, &g64), 0);
    ck_assert_int_eq(vm_global_new(s, &v32, true, &gmut32), 0);
    ck_assert_int_eq(vm_global_new(s, &v64, false, &g64const), 0);

    /* Wrong number of imports. */
    ck_assert_int_eq(vm_instance_new(s, m, e.ex, 4, &inst, err, sizeof err),
                     VM_ERR_UNLINKABLE);
    ck_assert_ptr_null(inst);

    /* Wrong kind. */
    expect_unlinkable(&e, m, 0, (vm_extern){.kind = VM_EXTERN_GLOBAL,
                                            .of.global = e.g}, "expected function");
    expect_unlinkable(&e, m, 1, (vm_extern){.kind = VM_EXTERN_TABLE,
                                            .of.table = e.tab}, "expected memory");
    /* Function type mismatch. */
    expect_unlinkable(&e, m, 0, (vm_extern){.kind = VM_EXTERN_FUNC,
                                            .of.func = wrong_type},
                      "function type");
    /* Memory limits: the import says 1..2. */
    expect_unlinkable(&e, m, 1, (vm_extern){.kind = VM_EXTERN_MEMORY,
                                            .of.memory = mem_nomax}, "limits");
    expect_unlinkable(&e, m, 1, (vm_extern){.kind = VM_EXTERN_MEMORY,
                                            .of.memory = mem_bigmax}, "limits");
    expect_unlinkable(&e, m, 1, (vm_extern){.kind = VM_EXTERN_MEMORY,
                                            .of.memory = mem_small}, "limits");
    /* Table: the import says funcref, min 2, no max. */
    expect_unlinkable(&e, m, 2, (vm_extern){.kind = VM_EXTERN_TABLE,
                                            .of.table = tab_small}, "limits");
    expect_unlinkable(&e, m, 2, (vm_extern){.kind = VM_EXTERN_TABLE,
                                            .of.table = tab_ext}, "element type");
    /* Globals: type and mutability. */
    expect_unlinkable(&e, m, 3, (vm_extern){.kind = VM_EXTERN_GLOBAL,
                                            .of.global = g64}, "type");
    expect_unlinkable(&e, m, 3, (vm_extern){.kind = VM_EXTERN_GLOBAL,
                                            .of.global = gmut32}, "mutability");
    expect_unlinkable(&e, m, 4, (vm_extern){.kind = VM_EXTERN_GLOBAL,
                                            .of.global = g64const},
                      "mutability");
    expect_unlinkable(&e, m, 4, (vm_extern){.kind = VM_EXTERN_GLOBAL,
                                            .of.global = gmut32}, "type");

    /* Subsumed limits link: a larger table, a memory with a smaller max,
     * and a memory whose current size (after growing) meets the min. */
    ck_assert_int_eq(link_with(&e, m, 2, (vm_extern){.kind = VM_EXTERN_TABLE,
                                                     .of.table = tab_big},
                               err, sizeof err), 0);
    ck_assert_int_eq(link_with(&e, m, 1,
                               (vm_extern){.kind = VM_EXTERN_MEMORY,
                                           .of.memory = mem_okmax},
                               err, sizeof err), 0);
    ck_assert_int_eq(vm_memory_grow(mem_grown, 1), 0);
    ck_assert_int_eq(link_with(&e, m, 1,
                               (vm_extern){.kind = VM_EXTERN_MEMORY,
                                           .of.memory = mem_grown},
                               err, sizeof err), 0);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

START_TEST(test_constant_expressions_and_segments)
{
    vm_store *s = store_with(0, 0, 0);
    vm_module *m = LOAD(consts);
    vm_global *g;
    vm_val five = i32v(5), v;
    vm_extern imp, ex;
    vm_instance *inst;
    vm_func *fn;
    uint8_t *data;

    ck_assert_int_eq(vm_global_new(s, &five, false, &g), 0);
    imp = (vm_extern){.kind = VM_EXTERN_GLOBAL, .of.global = g};
    inst = instantiate(s, m, &imp, 1);
    fn = export_func(inst, "fn");
    ck_assert_ptr_eq(fn, vm_instance_func(inst, 0));

    ck_assert_int_eq(vm_instance_export(inst, "a", &ex), 0);
    vm_global_get(ex.of.global, &v);
    ck_assert_int_eq(v.of.i32, 5);
    ck_assert_int_eq(vm_instance_export(inst, "b", &ex), 0);
    vm_global_get(ex.of.global, &v);
    ck_assert_int_eq(v.type, VM_I64);
    ck_assert_int_eq(v.of.i64, -5);
    ck_assert_int_eq(vm_instance_export(inst, "f", &ex), 0);
    vm_global_get(ex.of.global, &v);
    ck_assert_int_eq(v.type, VM_FUNCREF);
    ck_assert_ptr_eq(v.of.ref, fn);
    ck_assert_int_eq(vm_instance_export(inst, "e", &ex), 0);
    vm_global_get(ex.of.global, &v);
    ck_assert_int_eq(v.type, VM_EXTERNREF);
    ck_assert_ptr_null(v.of.ref);

    /* The active segment filled slot 1 only. */
    ck_assert_int_eq(vm_instance_export(inst, "t", &ex), 0);
    ck_assert_uint_eq(vm_table_size(ex.of.table), 3);
    ck_assert_int_eq(vm_table_get(ex.of.table, 0, &v), 0);
    ck_assert_ptr_null(v.of.ref);
    ck_assert_int_eq(vm_table_get(ex.of.table, 1, &v), 0);
    ck_assert_ptr_eq(v.of.ref, fn);

    ck_assert_int_eq(vm_instance_export(inst, "m", &ex), 0);
    data = vm_memory_data(ex.of.memory);
    ck_assert_int_eq(data[8], 1);
    ck_assert_int_eq(data[11], 4);
    ck_assert_int_eq(vm_memory_grow(ex.of.memory, 3), 1);
    ck_assert_int_eq(vm_memory_grow(ex.of.memory, 1), -1); /* declared max */

    /* Segment state: active and declarative dropped, passive kept. */
    ck_assert_uint_eq(inst->elem_len[0], 0);
    ck_assert_uint_eq(inst->elem_len[1], 0);
    ck_assert_uint_eq(inst->elem_len[2], 2);
    ck_assert_ptr_eq(inst->elem_refs[2][0], fn);
    ck_assert_ptr_null(inst->elem_refs[2][1]);
    ck_assert_uint_eq(inst->data_len[0], 0);
    ck_assert_uint_eq(inst->data_len[1], 7);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

START_TEST(test_instantiate_out_of_memory)
{
    vm_module *m = LOAD(consts);
    int failures = 0, successes = 0;

    for (long n = 1; n < 80; n++) {
        vm_store *s = NULL;
        vm_global *g;
        vm_val five = i32v(5);
        vm_extern imp;
        vm_instance *inst = NULL;
        int rc;

        ck_assert_int_eq(vm_store_new(NULL, &s), 0);
        ck_assert_int_eq(vm_global_new(s, &five, false, &g), 0);
        imp = (vm_extern){.kind = VM_EXTERN_GLOBAL, .of.global = g};
        vm__alloc_fail_after = n;
        rc = vm_instance_new(s, m, &imp, 1, &inst, NULL, 0);
        vm__alloc_fail_after = -1;
        if (rc) {
            ck_assert_int_eq(rc, VM_ERR_NOMEM);
            ck_assert_ptr_null(inst);
            failures++;
        } else {
            successes++;
        }
        vm_store_free(s);
    }
    ck_assert_int_gt(failures, 10);
    ck_assert_int_gt(successes, 0);
    vm_module_free(m);
}
END_TEST

START_TEST(test_memory_over_store_limit)
{
    vm_store *s = store_with(2, 0, 0);
    vm_module *m = LOAD(mem3);
    vm_instance *inst = NULL;
    char err[256] = "";

    ck_assert_int_eq(vm_instance_new(s, m, NULL, 0, &inst, err, sizeof err),
                     VM_ERR_LIMIT);
    ck_assert_ptr_null(inst);
    ck_assert_ptr_nonnull(strstr(err, "store limit"));
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

START_TEST(test_elem_segment_out_of_bounds)
{
    vm_store *s = store_with(0, 0, 0);
    vm_module *m = LOAD(elem_oob);
    vm_memory *mem;
    vm_table *tab;
    vm_extern ex[2];
    vm_instance *inst = NULL;
    vm_val v;
    char err[256] = "";

    ck_assert_int_eq(vm_memory_new(s, 1, 0, false, &mem), 0);
    ck_assert_int_eq(vm_table_new(s, VM_FUNCREF, 2, 0, false, NULL, &tab), 0);
    ex[0] = (vm_extern){.kind = VM_EXTERN_MEMORY, .of.memory = mem};
    ex[1] = (vm_extern){.kind = VM_EXTERN_TABLE, .of.table = tab};
    ck_assert_int_eq(vm_instance_new(s, m, ex, 2, &inst, err, sizeof err),
                     VM_ERR_TRAP_TABLE_OOB);
    ck_assert_ptr_null(inst);
    ck_assert_ptr_nonnull(strstr(err, "out of bounds table access"));
    /* The first segment's write stays; the failing one wrote nothing and
     * the data segments after it never ran. */
    ck_assert_int_eq(vm_table_get(tab, 0, &v), 0);
    ck_assert_ptr_nonnull(v.of.ref);
    ck_assert_int_eq(vm_table_get(tab, 1, &v), 0);
    ck_assert_ptr_null(v.of.ref);
    ck_assert_int_eq(vm_memory_data(mem)[0], 0);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

START_TEST(test_data_segment_out_of_bounds)
{
    vm_store *s = store_with(0, 0, 0);
    vm_module *m = LOAD(data_oob);
    vm_memory *mem;
    vm_extern ex;
    vm_instance *inst = NULL;
    char err[256] = "";

    ck_assert_int_eq(vm_memory_new(s, 1, 0, false, &mem), 0);
    ex = (vm_extern){.kind = VM_EXTERN_MEMORY, .of.memory = mem};
    ck_assert_int_eq(vm_instance_new(s, m, &ex, 1, &inst, err, sizeof err),
                     VM_ERR_TRAP_MEM_OOB);
    ck_assert_ptr_null(inst);
    ck_assert_ptr_nonnull(strstr(err, "out of bounds memory access"));
    ck_assert_int_eq(vm_memory_data(mem)[0], 'a');
    ck_assert_int_eq(vm_memory_data(mem)[1], 'b');
    ck_assert_int_eq(vm_memory_data(mem)[65535], 0);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

/* ---- Execution (needs interp.c too) ------------------------------------ */

START_TEST(test_host_called_from_wasm)
{
    vm_store *s = store_with(0, 0, 0);
    vm_module *m = LOAD(imports);
    struct env e;
    vm_instance *inst;
    vm_val args[2] = {i32v(20), i32v(22)}, r = {0}, gm;
    int32_t out = 0, addr = 64;
    char err[256] = "";

    env_init(&e, s);
    inst = instantiate(s, m, e.ex, 5);
    ck_assert_int_eq(vm_func_call(s, export_func(inst, "call_add"), args, 2,
                                  &r, 1, err, sizeof err), 0);
    ck_assert_int_eq(r.of.i32, 42);
    ck_assert_int_eq(e.add_state.calls, 1);

    /* Imported memory and globals are the host's objects. */
    memcpy(vm_memory_data(e.mem) + 64, "\x78\x56\x34\x12", 4);
    ck_assert_int_eq(call_i32(s, export_func(inst, "load"), &addr, &out, err,
                              sizeof err), 0);
    ck_assert_int_eq(out, 0x12345678);
    ck_assert_int_eq(call_i32(s, export_func(inst, "get_g"), NULL, &out, err,
                              sizeof err), 0);
    ck_assert_int_eq(out, 77);
    args[0] = i64v(-9);
    ck_assert_int_eq(vm_func_call(s, export_func(inst, "set_gm"), args, 1,
                                  NULL, 0, err, sizeof err), 0);
    vm_global_get(e.gm, &gm);
    ck_assert_int_eq(gm.of.i64, -9);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

START_TEST(test_host_trap_from_wasm)
{
    vm_store *s = store_with(0, 0, 0);
    vm_module *m = LOAD(imports);
    struct env e;
    vm_instance *inst;
    vm_val args[2] = {i32v(13), i32v(1)}, r = {0};
    char err[256] = "";

    env_init(&e, s);
    inst = instantiate(s, m, e.ex, 5);
    ck_assert_int_eq(vm_func_call(s, export_func(inst, "call_add"), args, 2,
                                  &r, 1, err, sizeof err), VM_ERR_TRAP_HOST);
    ck_assert_msg(strstr(err, "thirteen is unlucky") != NULL, "%s", err);
    /* The store is usable after a trap. */
    args[0] = i32v(1);
    ck_assert_int_eq(vm_func_call(s, export_func(inst, "call_add"), args, 2,
                                  &r, 1, err, sizeof err), 0);
    ck_assert_int_eq(r.of.i32, 2);
    ck_assert(s->stack_top == s->stack);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

START_TEST(test_wasm_call_arg_checking)
{
    vm_store *s = store_with(0, 0, 0), *other = store_with(0, 0, 0);
    vm_module *m = LOAD(imports);
    struct env e;
    vm_instance *inst;
    vm_func *f;
    vm_val args[2] = {i32v(1), i64v(2)}, r;
    char err[256];

    env_init(&e, s);
    inst = instantiate(s, m, e.ex, 5);
    f = export_func(inst, "call_add");
    ck_assert_int_eq(vm_func_call(s, f, args, 1, &r, 1, err, sizeof err),
                     VM_ERR_ARG);
    ck_assert_int_eq(vm_func_call(s, f, args, 2, &r, 1, err, sizeof err),
                     VM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "argument 1"));
    args[1] = i32v(2);
    ck_assert_int_eq(vm_func_call(s, f, args, 2, NULL, 0, err, sizeof err),
                     VM_ERR_ARG);
    ck_assert_int_eq(vm_func_call(other, f, args, 2, &r, 1, err, sizeof err),
                     VM_ERR_ARG);
    ck_assert_int_eq(vm_func_call(NULL, f, args, 2, &r, 1, err, sizeof err),
                     VM_ERR_ARG);
    ck_assert_int_eq(e.add_state.calls, 0);
    vm_store_free(other);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

START_TEST(test_memory_grow_store_cap)
{
    vm_store *s = store_with(2, 0, 0);
    vm_module *m = LOAD(grow);
    vm_instance *inst = instantiate(s, m, NULL, 0);
    vm_func *grow = export_func(inst, "grow"), *size = export_func(inst, "size");
    int32_t one = 1, zero = 0, out = 0;
    char err[256];

    ck_assert_int_eq(call_i32(s, grow, &zero, &out, err, sizeof err), 0);
    ck_assert_int_eq(out, 1);
    ck_assert_int_eq(call_i32(s, grow, &one, &out, err, sizeof err), 0);
    ck_assert_int_eq(out, 1);
    ck_assert_int_eq(call_i32(s, grow, &one, &out, err, sizeof err), 0);
    ck_assert_int_eq(out, -1);
    ck_assert_int_eq(call_i32(s, size, NULL, &out, err, sizeof err), 0);
    ck_assert_int_eq(out, 2);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

START_TEST(test_fuel_stops_infinite_loop)
{
    vm_store *s = store_with(0, 0, 10000);
    vm_module *m = LOAD(loop);
    vm_instance *inst = instantiate(s, m, NULL, 0);
    vm_func *spin = export_func(inst, "spin");
    char err[256] = "";

    ck_assert_int_eq(vm_func_call(s, spin, NULL, 0, NULL, 0, err, sizeof err),
                     VM_ERR_FUEL);
    ck_assert_ptr_nonnull(strstr(err, "fuel exhausted"));
    ck_assert(vm_store_fuel(s) == 0);
    /* Refuelled, it runs (and stops) again. */
    vm_store_set_fuel(s, 100);
    ck_assert_int_eq(vm_func_call(s, spin, NULL, 0, NULL, 0, err, sizeof err),
                     VM_ERR_FUEL);
    ck_assert(s->stack_top == s->stack);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

START_TEST(test_call_depth_limit)
{
    vm_store *s = store_with(0, 100, 0);
    vm_module *m = LOAD(loop);
    vm_instance *inst = instantiate(s, m, NULL, 0);
    char err[256] = "";

    ck_assert_int_eq(vm_func_call(s, export_func(inst, "rec"), NULL, 0, NULL,
                                  0, err, sizeof err),
                     VM_ERR_TRAP_EXHAUSTION);
    ck_assert_ptr_nonnull(strstr(err, "call stack exhausted"));
    vm_store_free(s);

    /* The default depth is reached before the default value stack ends. */
    s = store_with(0, 0, 0);
    inst = instantiate(s, m, NULL, 0);
    ck_assert_int_eq(vm_func_call(s, export_func(inst, "rec"), NULL, 0, NULL,
                                  0, err, sizeof err),
                     VM_ERR_TRAP_EXHAUSTION);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

struct reenter {
    vm_store *s;
    vm_func *dbl;
    vm_instance *expect_caller;
};

/* cb(x) = double(x), calling back into wasm from the host. */
static int host_reenter(vm_host_call *c, const vm_val *args, vm_val *results)
{
    struct reenter *r = vm_host_call_user(c);
    vm_val a = args[0];

    ck_assert_ptr_eq(vm_host_call_instance(c), r->expect_caller);
    ck_assert_ptr_null(vm_host_call_memory(c)); /* no memory 0 */
    return vm_func_call(r->s, r->dbl, &a, 1, results, 1, NULL, 0);
}

START_TEST(test_reentrant_host_call)
{
    static const vm_valtype i[] = {VM_I32};
    vm_store *s = store_with(0, 0, 0);
    vm_module *m = LOAD(reenter);
    struct reenter r = {.s = s};
    vm_func *cb;
    vm_extern ex;
    vm_instance *inst;
    int32_t five = 5, out = 0;
    char err[256] = "";

    ck_assert_int_eq(vm_func_new_host(s, i, 1, i, 1, host_reenter, &r, "cb",
                                      &cb), 0);
    ex = (vm_extern){.kind = VM_EXTERN_FUNC, .of.func = cb};
    inst = instantiate(s, m, &ex, 1);
    r.dbl = export_func(inst, "double");
    r.expect_caller = inst;
    ck_assert_int_eq(call_i32(s, export_func(inst, "run"), &five, &out, err,
                              sizeof err), 0);
    ck_assert_int_eq(out, 11);
    ck_assert(s->stack_top == s->stack);
    ck_assert_uint_eq(s->api_calls, 0);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

struct ticker {
    vm_store *s;
    int calls, cancel_at;
};

static int host_tick(vm_host_call *c, const vm_val *args, vm_val *results)
{
    struct ticker *t = vm_host_call_user(c);

    if (++t->calls == t->cancel_at)
        vm_store_cancel(t->s);
    return 0;
}

START_TEST(test_cancel)
{
    vm_store *s = store_with(0, 0, 0);
    vm_module *m = LOAD(cancel);
    struct ticker t = {.s = s, .cancel_at = 3};
    vm_func *tick;
    vm_extern ex;
    vm_instance *inst;
    int32_t n = 1000000;
    char err[256] = "";

    ck_assert_int_eq(vm_func_new_host(s, NULL, 0, NULL, 0, host_tick, &t,
                                      "tick", &tick), 0);
    ex = (vm_extern){.kind = VM_EXTERN_FUNC, .of.func = tick};
    inst = instantiate(s, m, &ex, 1);
    ck_assert_int_eq(call_i32(s, export_func(inst, "run"), &n, NULL, err,
                              sizeof err), VM_ERR_CANCELLED);
    ck_assert_int_lt(t.calls, 1000);
    /* The request was consumed: the next call runs to the end. */
    t.calls = 0;
    t.cancel_at = -1;
    n = 5;
    ck_assert_int_eq(call_i32(s, export_func(inst, "run"), &n, NULL, err,
                              sizeof err), 0);
    ck_assert_int_eq(t.calls, 5);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

static void *cancel_later(void *arg)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};

    nanosleep(&ts, NULL);
    vm_store_cancel(arg);
    return NULL;
}

/* The one cross-thread call: another thread stops an endless loop that
 * runs without fuel metering. */
START_TEST(test_cancel_from_another_thread)
{
    vm_store *s = store_with(0, 0, 0);
    vm_module *m = LOAD(loop);
    vm_instance *inst = instantiate(s, m, NULL, 0);
    pthread_t th;
    char err[256] = "";

    ck_assert_int_eq(pthread_create(&th, NULL, cancel_later, s), 0);
    ck_assert_int_eq(vm_func_call(s, export_func(inst, "spin"), NULL, 0, NULL,
                                  0, err, sizeof err), VM_ERR_CANCELLED);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_ptr_nonnull(strstr(err, "cancelled"));
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

START_TEST(test_shared_memory_and_table)
{
    vm_store *s = store_with(0, 0, 0);
    vm_module *mw = LOAD(writer), *mr = LOAD(reader);
    vm_memory *mem;
    vm_table *tab;
    vm_extern ex[2];
    vm_instance *w, *r;
    vm_val args[2] = {i32v(100), i32v(7)};
    int32_t addr = 16, out = 0;
    char err[256] = "";

    ck_assert_int_eq(vm_memory_new(s, 1, 0, false, &mem), 0);
    ck_assert_int_eq(vm_table_new(s, VM_FUNCREF, 2, 0, false, NULL, &tab), 0);
    ex[0] = (vm_extern){.kind = VM_EXTERN_MEMORY, .of.memory = mem};
    ex[1] = (vm_extern){.kind = VM_EXTERN_TABLE, .of.table = tab};
    w = instantiate(s, mw, ex, 2);
    r = instantiate(s, mr, ex, 2);
    ck_assert_int_eq(memcmp(vm_memory_data(mem) + 16, "hello", 5), 0);

    /* The reader calls the writer's function through the shared table. */
    ck_assert_int_eq(call_i32(s, export_func(r, "call0"), NULL, &out, err,
                              sizeof err), 0);
    ck_assert_int_eq(out, 42);
    ck_assert_int_eq(call_i32(s, export_func(r, "load"), &addr, &out, err,
                              sizeof err), 0);
    ck_assert_int_eq(out, 0x6c6c6568); /* "hell" */
    ck_assert_int_eq(vm_func_call(s, export_func(w, "store"), args, 2, NULL,
                                  0, err, sizeof err), 0);
    addr = 100;
    ck_assert_int_eq(call_i32(s, export_func(r, "load"), &addr, &out, err,
                              sizeof err), 0);
    ck_assert_int_eq(out, 7);
    vm_store_free(s);
    vm_module_free(mw);
    vm_module_free(mr);
}
END_TEST

START_TEST(test_start_function)
{
    vm_store *s = store_with(0, 0, 0);
    vm_module *m = LOAD(start), *mt = LOAD(start_trap);
    vm_instance *inst, *bad = NULL;
    vm_extern ex;
    vm_val v;
    char err[256] = "";

    inst = instantiate(s, m, NULL, 0);
    ck_assert_int_eq(vm_instance_export(inst, "g", &ex), 0);
    vm_global_get(ex.of.global, &v);
    ck_assert_int_eq(v.of.i32, 7);

    ck_assert_int_eq(vm_instance_new(s, mt, NULL, 0, &bad, err, sizeof err),
                     VM_ERR_TRAP_UNREACHABLE);
    ck_assert_ptr_null(bad);
    ck_assert_ptr_nonnull(strstr(err, "unreachable"));
    vm_store_free(s);
    vm_module_free(m);
    vm_module_free(mt);
}
END_TEST

Suite *runtime_suite(void); /* main.c declares it weak */

Suite *runtime_suite(void)
{
    Suite *s = suite_create("runtime");
    TCase *objects = tcase_create("objects");
    TCase *linking = tcase_create("linking");
    TCase *exec = tcase_create("execution");

    tcase_add_test(objects, test_store_defaults_and_fuel);
    tcase_add_test(objects, test_type_interning);
    tcase_add_test(objects, test_memory_object);
    tcase_add_test(objects, test_table_object);
    tcase_add_test(objects, test_global_object);
    tcase_add_test(objects, test_slot_conversion);
    tcase_add_test(objects, test_host_direct_call);
    tcase_add_test(objects, test_host_exit_and_bogus_codes);
    tcase_add_test(objects, test_objects_out_of_memory);
    suite_add_tcase(s, objects);

    tcase_add_test(linking, test_link_and_exports);
    tcase_add_test(linking, test_link_errors);
    tcase_add_test(linking, test_export_names_with_nul);
    tcase_add_test(linking, test_constant_expressions_and_segments);
    tcase_add_test(linking, test_instantiate_out_of_memory);
    tcase_add_test(linking, test_memory_over_store_limit);
    tcase_add_test(linking, test_elem_segment_out_of_bounds);
    tcase_add_test(linking, test_data_segment_out_of_bounds);
    suite_add_tcase(s, linking);

    tcase_add_test(exec, test_host_called_from_wasm);
    tcase_add_test(exec, test_host_trap_from_wasm);
    tcase_add_test(exec, test_wasm_call_arg_checking);
    tcase_add_test(exec, test_memory_grow_store_cap);
    tcase_add_test(exec, test_fuel_stops_infinite_loop);
    tcase_add_test(exec, test_call_depth_limit);
    tcase_add_test(exec, test_reentrant_host_call);
    tcase_add_test(exec, test_cancel);
    tcase_add_test(exec, test_cancel_from_another_thread);
    tcase_add_test(exec, test_shared_memory_and_table);
    tcase_add_test(exec, test_start_function);
    tcase_set_timeout(exec, 30);
    suite_add_tcase(s, exec);
    return s;
}
