/*
 * Unit tests of the binary decoder (vm/decode.c) and the module API
 * (vm/module.c). Test modules are embedded byte arrays: the larger ones
 * were produced once by wat2wasm from the text quoted above them, the
 * malformed ones are written by hand with a comment per part.
 *
 * Most tests call vm__decode() directly so that they exercise the decoder
 * alone; the ones that go through vm_module_new() also need the validator
 * and the compiler.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "module_int.h"
#include "traced/vm.h"
#include "vm_opcodes.h"

extern long vm__alloc_fail_after;

/*
(module $demo
  (type $t0 (func (param i32 i64) (result i32)))
  (type $t1 (func))
  (import "env" "f" (func $imp (type $t0)))
  (import "env" "tab" (table 1 10 funcref))
  (import "env" "mem" (memory 1 2))
  (import "env" "g" (global $ig i32))
  (func $add (param $a i32) (param $b i64) (result i32) (local $x f32) (local $y f32) (local f64)
    local.get $a)
  (func $init (type $t1)
    i32.const 0 i32.const 0 i32.const 0 memory.init 1
    data.drop 1)
  (table $t2 2 externref)
  (global $g2 (mut i64) (i64.const -5))
  (global $g3 funcref (ref.func $add))
  (export "add" (func $add))
  (export "mem" (memory 0))
  (export "g2" (global $g2))
  (export "tab" (table 0))
  (start $init)
  (elem (i32.const 0) $add)
  (data (i32.const 0) "hi")
  (data "passive"))
*/
static const uint8_t all_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x02, 0x60,
  0x02, 0x7f, 0x7e, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x02, 0x2b, 0x04, 0x03,
  0x65, 0x6e, 0x76, 0x01, 0x66, 0x00, 0x00, 0x03, 0x65, 0x6e, 0x76, 0x03,
  0x74, 0x61, 0x62, 0x01, 0x70, 0x01, 0x01, 0x0a, 0x03, 0x65, 0x6e, 0x76,
  0x03, 0x6d, 0x65, 0x6d, 0x02, 0x01, 0x01, 0x02, 0x03, 0x65, 0x6e, 0x76,
  0x01, 0x67, 0x03, 0x7f, 0x00, 0x03, 0x03, 0x02, 0x00, 0x01, 0x04, 0x04,
  0x01, 0x6f, 0x00, 0x02, 0x06, 0x0b, 0x02, 0x7e, 0x01, 0x42, 0x7b, 0x0b,
  0x70, 0x00, 0xd2, 0x01, 0x0b, 0x07, 0x18, 0x04, 0x03, 0x61, 0x64, 0x64,
  0x00, 0x01, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x02, 0x67, 0x32, 0x03,
  0x01, 0x03, 0x74, 0x61, 0x62, 0x01, 0x00, 0x08, 0x01, 0x02, 0x09, 0x07,
  0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x01, 0x0c, 0x01, 0x02, 0x0a, 0x1a,
  0x02, 0x08, 0x02, 0x02, 0x7d, 0x01, 0x7c, 0x20, 0x00, 0x0b, 0x0f, 0x00,
  0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x08, 0x01, 0x00, 0xfc, 0x09,
  0x01, 0x0b, 0x0b, 0x11, 0x02, 0x00, 0x41, 0x00, 0x0b, 0x02, 0x68, 0x69,
  0x01, 0x07, 0x70, 0x61, 0x73, 0x73, 0x69, 0x76, 0x65, 0x00, 0x55, 0x04,
  0x6e, 0x61, 0x6d, 0x65, 0x00, 0x05, 0x04, 0x64, 0x65, 0x6d, 0x6f, 0x01,
  0x11, 0x03, 0x00, 0x03, 0x69, 0x6d, 0x70, 0x01, 0x03, 0x61, 0x64, 0x64,
  0x02, 0x04, 0x69, 0x6e, 0x69, 0x74, 0x02, 0x13, 0x03, 0x00, 0x00, 0x01,
  0x04, 0x00, 0x01, 0x61, 0x01, 0x01, 0x62, 0x02, 0x01, 0x78, 0x03, 0x01,
  0x79, 0x02, 0x00, 0x04, 0x09, 0x02, 0x00, 0x02, 0x74, 0x30, 0x01, 0x02,
  0x74, 0x31, 0x05, 0x05, 0x01, 0x01, 0x02, 0x74, 0x32, 0x07, 0x0d, 0x03,
  0x00, 0x02, 0x69, 0x67, 0x01, 0x02, 0x67, 0x32, 0x02, 0x02, 0x67, 0x33
};

/*
 * Element segments in all eight encodings and data segments in all
 * three (hand-assembled; wasm-validate accepts it):
 *   type () -> (); one function; two funcref tables (min 1); memory 1;
 *   elem 0: 00 (i32.const 0) vec(func 0)
 *   elem 1: 01 elemkind vec(func 0)                       passive
 *   elem 2: 02 table 1 (i32.const 0) elemkind vec(func 0)
 *   elem 3: 03 elemkind vec(func 0)                       declarative
 *   elem 4: 04 (i32.const 0) vec(ref.func 0)
 *   elem 5: 05 funcref vec(ref.func 0, ref.null func)     passive
 *   elem 6: 06 table 1 (i32.const 0) funcref vec(ref.null func)
 *   elem 7: 07 funcref vec(ref.func 0)                    declarative
 *   data count 3; data 0: 00 (i32.const 0) "hi"; data 1: 01 "abc";
 *   data 2: 02 memory 0 (i32.const 16) "z"
 */
static const uint8_t seg_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
    0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x04, 0x07, 0x02, 0x70, 0x00, 0x01,
    0x70, 0x00, 0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x09, 0x38, 0x08, 0x00,
    0x41, 0x00, 0x0b, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x02, 0x01, 0x41,
    0x00, 0x0b, 0x00, 0x01, 0x00, 0x03, 0x00, 0x01, 0x00, 0x04, 0x41, 0x00,
    0x0b, 0x01, 0xd2, 0x00, 0x0b, 0x05, 0x70, 0x02, 0xd2, 0x00, 0x0b, 0xd0,
    0x70, 0x0b, 0x06, 0x01, 0x41, 0x00, 0x0b, 0x70, 0x01, 0xd0, 0x70, 0x0b,
    0x07, 0x70, 0x01, 0xd2, 0x00, 0x0b, 0x0c, 0x01, 0x03, 0x0a, 0x04, 0x01,
    0x02, 0x00, 0x0b, 0x0b, 0x14, 0x03, 0x00, 0x41, 0x00, 0x0b, 0x02, 0x68,
    0x69, 0x01, 0x03, 0x61, 0x62, 0x63, 0x02, 0x00, 0x41, 0x10, 0x0b, 0x01,
    0x7a
};

#define HDR "\x00\x61\x73\x6d\x01\x00\x00\x00"

/* Decode a copy of bytes into *m (decode only). The copy is made with
 * plain malloc so that out-of-memory injection hits the decoder only. */
static int decode_bytes(vm_module *m, const void *bytes, size_t len,
                        uint32_t features, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->bytes = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(m->bytes);
    memcpy(m->bytes, bytes, len);
    m->len = len;
    m->features = features;
    return vm__decode(m, err, errlen);
}

static void release(vm_module *m)
{
    vm__module_release(m);
    free(m->bytes);
    m->bytes = NULL;
}

/* ---- Valid modules ----------------------------------------------------- */

START_TEST(decode_all_sections)
{
    vm_module m;
    char err[256];
    vm_extern_desc x;
    vm_functype_view ft;

    ck_assert_int_eq(decode_bytes(&m, all_wasm, sizeof all_wasm, 0, err,
                                  sizeof err), 0);
    ck_assert_uint_eq(m.ntypes, 2);
    ck_assert_uint_eq(m.types[0].nparams, 2);
    ck_assert_uint_eq(m.types[0].nresults, 1);
    ck_assert_uint_eq(vm__functype_params(&m.types[0])[1], VM_I64);
    ck_assert_uint_eq(vm__functype_results(&m.types[0])[0], VM_I32);

    /* Index spaces: imports first. */
    ck_assert_uint_eq(m.nimports, 4);
    ck_assert_uint_eq(m.nfuncs_imported, 1);
    ck_assert_uint_eq(m.nfuncs_total, 3);
    ck_assert_uint_eq(m.func_type_idx[0], 0);
    ck_assert_uint_eq(m.func_type_idx[2], 1);
    ck_assert_uint_eq(m.ntables_imported, 1);
    ck_assert_uint_eq(m.ntables_total, 2);
    ck_assert_uint_eq(m.tables[0].elem_type, VM_FUNCREF);
    ck_assert_uint_eq(m.tables[0].limits.max, 10);
    ck_assert_uint_eq(m.tables[1].elem_type, VM_EXTERNREF);
    ck_assert_uint_eq(m.nmems_total, 1);
    ck_assert(m.mems[0].has_max);
    ck_assert_uint_eq(m.mems[0].max, 2);
    ck_assert_uint_eq(m.nglobals_total, 3);
    ck_assert_uint_eq(m.global_types[1].type, VM_I64);
    ck_assert(m.global_types[1].mut);
    ck_assert_int_eq(m.globals[0].init.kind, VM_CONST_I64);
    ck_assert(m.globals[0].init.value.i64 == (uint64_t)-5);
    ck_assert_int_eq(m.globals[1].init.kind, VM_CONST_REF_FUNC);
    ck_assert_uint_eq(m.globals[1].init.index, 1);

    /* Bodies: locals expanded, body ends with its end. */
    ck_assert_uint_eq(m.funcs[0].nlocals, 3);
    ck_assert_uint_eq(m.funcs[0].local_types[0], VM_F32);
    ck_assert_uint_eq(m.funcs[0].local_types[2], VM_F64);
    ck_assert_uint_eq(m.funcs[0].body_len, 3); /* local.get 0, end */
    ck_assert_uint_eq(m.funcs[0].body[m.funcs[0].body_len - 1], 0x0b);
    ck_assert(m.funcs[0].body == m.bytes + m.funcs[0].body_offset);

    ck_assert(m.has_start);
    ck_assert_uint_eq(m.start, 2);
    ck_assert(m.has_datacount);
    ck_assert_uint_eq(m.datacount, 2);
    ck_assert(m.uses_data_index);
    ck_assert_uint_eq(m.ndatas, 2);
    ck_assert_uint_eq(m.datas[0].len, 2);
    ck_assert_mem_eq(m.datas[0].bytes, "hi", 2);
    ck_assert_int_eq(m.datas[1].mode, VM_SEG_PASSIVE);
    ck_assert_uint_eq(m.nelems, 1);

    /* ref.func $add in a global, and $add exported and in an element. */
    ck_assert(!m.func_declared[0]);
    ck_assert(m.func_declared[1]);
    ck_assert(!m.func_declared[2]);

    /* The introspection API over the same module. */
    ck_assert_uint_eq(vm_module_import_count(&m), 4);
    ck_assert_int_eq(vm_module_import(&m, 0, &x), 0);
    ck_assert_str_eq(x.module, "env");
    ck_assert_str_eq(x.name, "f");
    ck_assert_int_eq(x.kind, VM_EXTERN_FUNC);
    ck_assert_uint_eq(x.func.nparams, 2);
    ck_assert_uint_eq(x.func.results[0], VM_I32);
    ck_assert_int_eq(vm_module_import(&m, 1, &x), 0);
    ck_assert_int_eq(x.kind, VM_EXTERN_TABLE);
    ck_assert_int_eq(x.elem_type, VM_FUNCREF);
    ck_assert(x.limits.has_max);
    ck_assert_uint_eq(x.limits.min, 1);
    ck_assert_int_eq(vm_module_import(&m, 3, &x), 0);
    ck_assert_int_eq(x.kind, VM_EXTERN_GLOBAL);
    ck_assert_int_eq(x.global_type, VM_I32);
    ck_assert(!x.global_mutable);
    ck_assert_int_eq(vm_module_import(&m, 4, &x), VM_ERR_NOT_FOUND);

    ck_assert_uint_eq(vm_module_export_count(&m), 4);
    ck_assert_int_eq(vm_module_export(&m, 0, &x), 0);
    ck_assert_str_eq(x.name, "add");
    ck_assert_ptr_null(x.module);
    ck_assert_uint_eq(x.func.nparams, 2);
    ck_assert_int_eq(vm_module_export(&m, 1, &x), 0);
    ck_assert_int_eq(x.kind, VM_EXTERN_MEMORY);
    ck_assert_uint_eq(x.limits.min, 1);
    ck_assert_int_eq(vm_module_export(&m, 2, &x), 0);
    ck_assert_int_eq(x.global_type, VM_I64);
    ck_assert(x.global_mutable);
    ck_assert_int_eq(vm_module_export(&m, 9, &x), VM_ERR_NOT_FOUND);

    ck_assert_uint_eq(vm_module_func_count(&m), 3);
    ck_assert_int_eq(vm_module_func_type(&m, 2, &ft), 0);
    ck_assert_uint_eq(ft.nparams, 0);
    ck_assert_uint_eq(ft.nresults, 0);
    ck_assert_int_eq(vm_module_func_type(&m, 3, &ft), VM_ERR_NOT_FOUND);
    release(&m);
}
END_TEST

START_TEST(decode_segments)
{
    vm_module m;
    char err[256];
    static const vm__segment_mode modes[8] = {
        VM_SEG_ACTIVE, VM_SEG_PASSIVE, VM_SEG_ACTIVE, VM_SEG_DECLARATIVE,
        VM_SEG_ACTIVE, VM_SEG_PASSIVE, VM_SEG_ACTIVE, VM_SEG_DECLARATIVE};

    ck_assert_int_eq(decode_bytes(&m, seg_wasm, sizeof seg_wasm, 0, err,
                                  sizeof err), 0);
    ck_assert_uint_eq(m.nelems, 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(m.elems[i].mode, modes[i]);
        ck_assert_uint_eq(m.elems[i].elem_type, VM_FUNCREF);
    }
    ck_assert_uint_eq(m.elems[2].table_idx, 1);
    ck_assert_uint_eq(m.elems[6].table_idx, 1);
    ck_assert_int_eq(m.elems[0].offset.kind, VM_CONST_I32);
    ck_assert_int_eq(m.elems[0].items[0].kind, VM_CONST_REF_FUNC);
    ck_assert_uint_eq(m.elems[5].count, 2);
    ck_assert_int_eq(m.elems[5].items[1].kind, VM_CONST_REF_NULL);
    ck_assert_uint_eq(m.elems[5].items[1].ref_type, VM_FUNCREF);
    ck_assert_int_eq(m.elems[6].items[0].kind, VM_CONST_REF_NULL);
    ck_assert(m.func_declared[0]);

    ck_assert_uint_eq(m.ndatas, 3);
    ck_assert_int_eq(m.datas[0].mode, VM_SEG_ACTIVE);
    ck_assert_int_eq(m.datas[1].mode, VM_SEG_PASSIVE);
    ck_assert_mem_eq(m.datas[1].bytes, "abc", 3);
    ck_assert_int_eq(m.datas[2].mode, VM_SEG_ACTIVE);
    ck_assert_uint_eq(m.datas[2].offset.value.i32, 16);
    ck_assert_uint_eq(m.datas[2].len, 1);
    ck_assert(!m.uses_data_index);
    release(&m);
}
END_TEST

START_TEST(decode_names)
{
    vm_module m;
    char err[256];

    ck_assert_int_eq(decode_bytes(&m, all_wasm, sizeof all_wasm, 0, err,
                                  sizeof err), 0);
    ck_assert_str_eq(vm_module_name(&m), "demo");
    ck_assert_str_eq(vm_module_func_name(&m, 0), "imp");
    ck_assert_str_eq(vm_module_func_name(&m, 1), "add");
    ck_assert_str_eq(vm_module_func_name(&m, 2), "init");
    ck_assert_ptr_null(vm_module_func_name(&m, 3));
    ck_assert_str_eq(vm_module_local_name(&m, 1, 0), "a");
    ck_assert_str_eq(vm_module_local_name(&m, 1, 1), "b");
    ck_assert_str_eq(vm_module_local_name(&m, 1, 3), "y");
    ck_assert_ptr_null(vm_module_local_name(&m, 1, 4)); /* unnamed */
    ck_assert_ptr_null(vm_module_local_name(&m, 1, 99));
    ck_assert_ptr_null(vm_module_local_name(&m, 7, 0));
    release(&m);
}
END_TEST

/* A malformed name section is ignored, not an error. */
START_TEST(decode_bad_name_section_ignored)
{
    static const char bytes[] =
        HDR
        "\x01\x04\x01\x60\x00\x00"         /* type () -> () */
        "\x03\x02\x01\x00"                 /* one function */
        "\x0a\x04\x01\x02\x00\x0b"         /* its body */
        "\x00\x0c\x04name"                 /* "name", 7 bytes of payload: */
        "\x00\x02\x01\x6d"                 /* module name "m" */
        "\x01\x05\x01";                    /* function names, cut short */
    vm_module m;
    char err[256];

    ck_assert_int_eq(decode_bytes(&m, bytes, sizeof bytes - 1, 0, err,
                                  sizeof err), 0);
    ck_assert_ptr_null(vm_module_name(&m));
    ck_assert_ptr_null(vm_module_func_name(&m, 0));
    ck_assert_uint_eq(vm_module_custom_count(&m), 1);
    release(&m);
}
END_TEST

START_TEST(decode_customs)
{
    static const char bytes[] =
        HDR
        "\x00\x05\x01\x61\x78\x79\x7a"     /* "a": "xyz" */
        "\x01\x01\x00"                     /* empty type section */
        "\x00\x01\x00"                     /* "": "" */
        "\x00\x06\x03\x62\x00\x63\x01\x02"; /* "b\0c": 01 02 */
    vm_module m;
    char err[256];
    const char *name;
    const uint8_t *data;
    size_t len;

    ck_assert_int_eq(decode_bytes(&m, bytes, sizeof bytes - 1, 0, err,
                                  sizeof err), 0);
    ck_assert_uint_eq(vm_module_custom_count(&m), 3);
    ck_assert_int_eq(vm_module_custom(&m, 0, &name, &data, &len), 0);
    ck_assert_str_eq(name, "a");
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(data, "xyz", 3);
    ck_assert_int_eq(vm_module_custom(&m, 1, &name, &data, &len), 0);
    ck_assert_str_eq(name, "");
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(vm_module_custom(&m, 2, &name, &data, &len), 0);
    ck_assert_mem_eq(name, "b\0c", 4); /* the NUL is kept, and one after */
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(vm_module_custom(&m, 3, &name, &data, &len),
                     VM_ERR_NOT_FOUND);
    release(&m);
}
END_TEST

/* Names may embed NUL; the exact length is kept for import matching. */
START_TEST(decode_name_with_nul)
{
    static const char bytes[] =
        HDR
        "\x02\x0a\x01"                     /* import section, 1 import */
        "\x01\x6d"                         /* module "m" */
        "\x03\x61\x00\x62"                 /* name "a\0b" */
        "\x03\x7f\x00";                    /* global i32 immutable */
    vm_module m;
    char err[256];

    ck_assert_int_eq(decode_bytes(&m, bytes, sizeof bytes - 1, 0, err,
                                  sizeof err), 0);
    ck_assert_uint_eq(m.imports[0].name_len, 3);
    ck_assert_mem_eq(m.imports[0].name, "a\0b", 4);
    release(&m);
}
END_TEST

START_TEST(decode_constexpr_forms)
{
    static const char bytes[] =
        HDR
        "\x06\x19\x04"                     /* global section, 4 globals */
        "\x7f\x00\x41\x01\x41\x02\x0b"     /* i32: i32.const 1 i32.const 2 */
        "\x7f\x00\x41\x01\x45\x0b"         /* i32: i32.const 1 i32.eqz */
        "\x7d\x00\x43\x00\x00\x80\x3f\x0b" /* f32: f32.const 1.0 */
        "\x7f\x00\x0b";                    /* i32: empty */
    vm_module m;
    char err[256];

    ck_assert_int_eq(decode_bytes(&m, bytes, sizeof bytes - 1, 0, err,
                                  sizeof err), 0);
    ck_assert_int_eq(m.globals[0].init.kind, VM_CONST_INVALID);
    ck_assert_int_eq(m.globals[1].init.kind, VM_CONST_INVALID);
    ck_assert_uint_eq(m.globals[1].init.index, VM_OP_I32_EQZ);
    ck_assert_int_eq(m.globals[2].init.kind, VM_CONST_F32);
    ck_assert_uint_eq(m.globals[2].init.value.f32_bits, 0x3f800000u);
    ck_assert_int_eq(m.globals[3].init.kind, VM_CONST_INVALID);
    release(&m);
}
END_TEST

/* Opcodes of a proposal decode only with its feature bit. */
START_TEST(decode_features)
{
    static const char tail[] =
        HDR
        "\x01\x04\x01\x60\x00\x00"
        "\x03\x02\x01\x00"
        "\x0a\x06\x01\x04\x00\x12\x00\x0b"; /* return_call 0 */
    static const char tags[] =
        HDR
        "\x01\x04\x01\x60\x00\x00"
        "\x0d\x03\x01\x00\x00";            /* tag section: 1 tag, type 0 */
    vm_module m;
    char err[256];

    ck_assert_int_eq(decode_bytes(&m, tail, sizeof tail - 1, 0, err,
                                  sizeof err), VM_ERR_MALFORMED);
    ck_assert_msg(strncmp(err, "illegal opcode", 14) == 0, "%s", err);
    release(&m);
    ck_assert_int_eq(decode_bytes(&m, tail, sizeof tail - 1,
                                  VM_FEATURE_TAIL_CALL, err, sizeof err), 0);
    release(&m);

    ck_assert_int_eq(decode_bytes(&m, tags, sizeof tags - 1, 0, err,
                                  sizeof err), VM_ERR_MALFORMED);
    ck_assert_msg(strncmp(err, "malformed section id", 20) == 0, "%s", err);
    release(&m);
    ck_assert_int_eq(decode_bytes(&m, tags, sizeof tags - 1,
                                  VM_FEATURE_EXCEPTIONS, err, sizeof err), 0);
    ck_assert_uint_eq(m.ntags_total, 1);
    ck_assert_uint_eq(m.tag_type_idx[0], 0);
    release(&m);
}
END_TEST

/* ---- Malformed modules ------------------------------------------------- */

typedef struct bad_case {
    const char *what;
    const char *bytes;
    size_t len;
    int code;
    const char *text; /* the spec's message: a prefix of ours */
} bad_case;

#define BAD(what, bytes, code, text) {what, bytes, sizeof(bytes) - 1, code, text}

static const bad_case bad_cases[] = {
    BAD("empty", "", VM_ERR_MALFORMED, "unexpected end"),
    BAD("short magic", "\x00\x61\x73", VM_ERR_MALFORMED, "unexpected end"),
    BAD("bad magic", "\x00\x61\x73\x6e\x01\x00\x00\x00", VM_ERR_MALFORMED,
        "magic header not detected"),
    BAD("short version", "\x00\x61\x73\x6d\x01\x00", VM_ERR_MALFORMED,
        "unexpected end"),
    BAD("version 2", "\x00\x61\x73\x6d\x02\x00\x00\x00", VM_ERR_MALFORMED,
        "unknown binary version"),
    BAD("section id 14", HDR "\x0e\x00", VM_ERR_MALFORMED,
        "malformed section id"),
    BAD("section id 13 without exceptions", HDR "\x0d\x00",
        VM_ERR_MALFORMED, "malformed section id"),
    BAD("section size past the end", HDR "\x01\x05\x00", VM_ERR_MALFORMED,
        "length out of bounds"),
    BAD("section size larger than contents",
        HDR "\x01\x02\x00" "\x00\x00", VM_ERR_MALFORMED,
        "section size mismatch"),
    BAD("section size smaller than contents",
        HDR "\x01\x03\x01\x60\x00\x00", VM_ERR_MALFORMED,
        "section size mismatch"),
    BAD("duplicate section", HDR "\x01\x01\x00" "\x01\x01\x00",
        VM_ERR_MALFORMED, "unexpected content after last section"),
    BAD("section out of order", HDR "\x03\x01\x00" "\x01\x01\x00",
        VM_ERR_MALFORMED, "unexpected content after last section"),
    BAD("junk after the last section",
        HDR "\x0b\x01\x00" "\x01\x01\x00", VM_ERR_MALFORMED,
        "unexpected content after last section"),
    BAD("junk byte after the last section", HDR "\x01\x01\x00" "\xff",
        VM_ERR_MALFORMED, "malformed section id"),
    BAD("LEB128 one byte too long",
        HDR "\x05\x08\x01\x00\x82\x80\x80\x80\x80\x00", VM_ERR_MALFORMED,
        "integer representation too long"),
    BAD("u32 with unused bits set",
        HDR "\x05\x07\x01\x00\x82\x80\x80\x80\x70", VM_ERR_MALFORMED,
        "integer too large"),
    BAD("s32 with unused bits not a sign extension",
        HDR "\x06\x0a\x01\x7f\x00\x41\xff\xff\xff\xff\x0f\x0b",
        VM_ERR_MALFORMED, "integer too large"),
    BAD("s64 one byte too long",
        HDR "\x06\x10\x01\x7e\x00\x42\x80\x80\x80\x80\x80\x80\x80\x80\x80"
            "\x80\x00\x0b",
        VM_ERR_MALFORMED, "integer representation too long"),
    BAD("functype form as a 2-byte LEB128",
        HDR "\x01\x05\x01\xe0\x7f\x00\x00", VM_ERR_MALFORMED,
        "integer representation too long"),
    BAD("overlong UTF-8 in an import name",
        HDR "\x02\x09\x01\x01\x6d\x02\xc0\x80\x03\x7f\x00",
        VM_ERR_MALFORMED, "malformed UTF-8 encoding"),
    BAD("surrogate in an export name",
        HDR "\x07\x07\x01\x03\xed\xa0\x80\x00\x00", VM_ERR_MALFORMED,
        "malformed UTF-8 encoding"),
    BAD("bad UTF-8 in a custom section name", HDR "\x00\x02\x01\x80",
        VM_ERR_MALFORMED, "malformed UTF-8 encoding"),
    BAD("name length past the end", HDR "\x00\x02\x09\x61",
        VM_ERR_MALFORMED, "length out of bounds"),
    BAD("vector truncated at the end of the module", HDR "\x04\x01\x01",
        VM_ERR_MALFORMED, "unexpected end"),
    BAD("data bytes past the end",
        HDR "\x05\x03\x01\x00\x01" "\x0b\x07\x01\x01\x05\x61\x62\x63\x64",
        VM_ERR_MALFORMED, "unexpected end"),
    BAD("functions without code",
        HDR "\x01\x04\x01\x60\x00\x00" "\x03\x02\x01\x00", VM_ERR_MALFORMED,
        "function and code section have inconsistent lengths"),
    BAD("code without functions", HDR "\x0a\x04\x01\x02\x00\x0b",
        VM_ERR_MALFORMED,
        "function and code section have inconsistent lengths"),
    BAD("data count differs from the data section",
        HDR "\x0c\x01\x02" "\x0b\x03\x01\x01\x00", VM_ERR_MALFORMED,
        "data count and data section have inconsistent lengths"),
    BAD("data count without a data section", HDR "\x0c\x01\x01",
        VM_ERR_MALFORMED,
        "data count and data section have inconsistent lengths"),
    BAD("local count sum over 2^32",
        HDR "\x01\x04\x01\x60\x00\x00" "\x03\x02\x01\x00"
            "\x0a\x0c\x01\x0a\x02\xff\xff\xff\xff\x0f\x7f\x02\x7e\x0b",
        VM_ERR_MALFORMED, "too many locals"),
    BAD("local count over the implementation limit",
        HDR "\x01\x04\x01\x60\x00\x00" "\x03\x02\x01\x00"
            "\x0a\x08\x01\x06\x01\x80\x80\x04\x7f\x0b",
        VM_ERR_LIMIT, "too many locals"),
    BAD("unknown opcode",
        HDR "\x01\x04\x01\x60\x00\x00" "\x03\x02\x01\x00"
            "\x0a\x05\x01\x03\x00\xff\x0b",
        VM_ERR_MALFORMED, "illegal opcode"),
    BAD("unknown 0xfc sub-opcode",
        HDR "\x01\x04\x01\x60\x00\x00" "\x03\x02\x01\x00"
            "\x0a\x06\x01\x04\x00\xfc\x7f\x0b",
        VM_ERR_MALFORMED, "illegal opcode"),
    BAD("unknown 0xfd sub-opcode (reserved 0x9a)",
        HDR "\x01\x04\x01\x60\x00\x00" "\x03\x02\x01\x00"
            "\x0a\x07\x01\x05\x00\xfd\x9a\x01\x0b",
        VM_ERR_MALFORMED, "illegal opcode"),
    BAD("memory.size reserved byte not zero",
        HDR "\x01\x04\x01\x60\x00\x00" "\x03\x02\x01\x00"
            "\x05\x03\x01\x00\x00"
            "\x0a\x07\x01\x05\x00\x3f\x01\x1a\x0b",
        VM_ERR_MALFORMED, "zero byte expected"),
    BAD("body without its end, another body follows",
        HDR "\x01\x04\x01\x60\x00\x00" "\x03\x03\x02\x00\x00"
            "\x0a\x0c\x02\x04\x00\x41\x01\x1a\x05\x00\x41\x01\x1a\x0b",
        VM_ERR_MALFORMED, "END opcode expected"),
    BAD("body without its end at the end of the module",
        HDR "\x01\x04\x01\x60\x00\x00" "\x03\x02\x01\x00"
            "\x0a\x06\x01\x04\x00\x41\x01\x1a",
        VM_ERR_MALFORMED, "unexpected end of section or function"),
    BAD("bytes after the final end of a body",
        HDR "\x01\x04\x01\x60\x00\x00" "\x03\x02\x01\x00"
            "\x0a\x06\x01\x04\x00\x0b\x01\x0b",
        VM_ERR_MALFORMED, "section size mismatch"),
    BAD("else outside if",
        HDR "\x01\x04\x01\x60\x00\x00" "\x03\x02\x01\x00"
            "\x0a\x07\x01\x05\x00\x02\x40\x05\x0b",
        VM_ERR_MALFORMED, "END opcode expected"),
    BAD("table of i32", HDR "\x04\x04\x01\x7f\x00\x01", VM_ERR_MALFORMED,
        "malformed reference type"),
    BAD("element kind not 0",
        HDR "\x09\x04\x01\x01\x01\x00", VM_ERR_MALFORMED,
        "malformed element kind"),
    BAD("element flags 8", HDR "\x09\x03\x01\x08\x00", VM_ERR_MALFORMED,
        "malformed elements segment kind"),
    BAD("data flags 3", HDR "\x0b\x03\x01\x03\x00", VM_ERR_MALFORMED,
        "malformed data segment kind"),
    BAD("import kind 5",
        HDR "\x02\x07\x01\x01\x6d\x01\x6e\x05\x00", VM_ERR_MALFORMED,
        "malformed import kind"),
    BAD("global mutability 2", HDR "\x06\x06\x01\x7f\x02\x41\x00\x0b",
        VM_ERR_MALFORMED, "malformed mutability"),
    BAD("malformed value type", HDR "\x01\x05\x01\x60\x01\x40\x00",
        VM_ERR_MALFORMED, "malformed value type"),
    BAD("limits flag 2", HDR "\x05\x03\x01\x02\x00", VM_ERR_MALFORMED,
        "integer too large"),
    BAD("illegal opcode in a constant expression",
        HDR "\x06\x06\x01\x7f\x00\xff\x00\x0b", VM_ERR_MALFORMED,
        "illegal opcode"),
};

START_TEST(decode_malformed)
{
    const bad_case *c = &bad_cases[_i];
    vm_module m;
    char err[256] = "";
    int rc = decode_bytes(&m, c->bytes, c->len, 0, err, sizeof err);

    ck_assert_msg(rc == c->code, "%s: got %s (%s)", c->what,
                  vm_err_name(rc), err);
    ck_assert_msg(strncmp(err, c->text, strlen(c->text)) == 0,
                  "%s: \"%s\" does not start with \"%s\"", c->what, err,
                  c->text);
    release(&m);
}
END_TEST

/* Every proper prefix of a module is malformed, except where it ends
 * exactly after a section that may end a module. */
START_TEST(decode_truncated_everywhere)
{
    /* After the header, the type, import and data sections. */
    static const size_t ok_at[] = {8, 0x14, 0x41, 0xb1};

    for (size_t n = 0; n < sizeof all_wasm; n++) {
        vm_module m;
        char err[256];
        int rc = decode_bytes(&m, all_wasm, n, 0, err, sizeof err);
        bool may_pass = false;

        for (size_t k = 0; k < sizeof ok_at / sizeof ok_at[0]; k++)
            may_pass |= n == ok_at[k];
        if (may_pass)
            ck_assert_msg(rc == 0, "prefix %zu: %s", n, err);
        else
            ck_assert_msg(rc == VM_ERR_MALFORMED, "prefix %zu: rc %d", n,
                          rc);
        release(&m);
    }
}
END_TEST

/* Bodies that use memory.init / data.drop need a data count section; the
 * decoder records the use and vm_module_new rejects the module after
 * validation. */
START_TEST(data_count_required)
{
    static const char bytes[] =
        HDR
        "\x01\x04\x01\x60\x00\x00"         /* type () -> () */
        "\x03\x02\x01\x00"                 /* one function */
        "\x05\x03\x01\x00\x00"             /* memory 0 */
        "\x0a\x07\x01\x05\x00\xfc\x09\x00\x0b" /* data.drop 0 */
        "\x0b\x03\x01\x01\x00";            /* one passive segment */
    vm_module m, *mod = NULL;
    char err[256];

    ck_assert_int_eq(decode_bytes(&m, bytes, sizeof bytes - 1, 0, err,
                                  sizeof err), 0);
    ck_assert(m.uses_data_index);
    ck_assert(!m.has_datacount);
    release(&m);

    ck_assert_int_eq(vm_module_new((const uint8_t *)bytes, sizeof bytes - 1,
                                   NULL, &mod, err, sizeof err),
                     VM_ERR_MALFORMED);
    ck_assert_ptr_null(mod);
    ck_assert_msg(strncmp(err, "data count section required", 27) == 0,
                  "%s", err);
}
END_TEST

/* ---- Out of memory ----------------------------------------------------- */

/* Fail the Nth allocation for N = 1, 2, ... until decoding succeeds:
 * every failure is VM_ERR_NOMEM and frees what was built (ASan checks). */
static void oom_decode(const uint8_t *bytes, size_t len)
{
    long n;

    for (n = 1; n < 100000; n++) {
        vm_module m;
        char err[256];
        int rc;

        vm__alloc_fail_after = n;
        rc = decode_bytes(&m, bytes, len, 0, err, sizeof err);
        vm__alloc_fail_after = -1;
        release(&m);
        if (rc == 0)
            break;
        ck_assert_msg(rc == VM_ERR_NOMEM, "allocation %ld: %s", n, err);
    }
    ck_assert_int_lt(n, 100000);
    ck_assert_int_gt(n, 1);
}

START_TEST(decode_out_of_memory)
{
    oom_decode(all_wasm, sizeof all_wasm);
    oom_decode(seg_wasm, sizeof seg_wasm);
}
END_TEST

START_TEST(load_out_of_memory)
{
    long n;

    for (n = 1; n < 100000; n++) {
        vm_module *m = NULL;
        char err[256];
        int rc;

        vm__alloc_fail_after = n;
        rc = vm_module_new(seg_wasm, sizeof seg_wasm, NULL, &m, err,
                           sizeof err);
        vm__alloc_fail_after = -1;
        if (rc == 0) {
            vm_module_free(m);
            break;
        }
        ck_assert_msg(rc == VM_ERR_NOMEM, "allocation %ld: %s", n, err);
        ck_assert_ptr_null(m);
    }
    ck_assert_int_lt(n, 100000);
}
END_TEST

/* ---- The load pipeline ------------------------------------------------- */

START_TEST(load_and_describe)
{
    vm_module *m = NULL;
    char err[256];
    vm_extern_desc x;

    ck_assert_msg(vm_module_new(all_wasm, sizeof all_wasm, NULL, &m, err,
                                sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(vm_module_export_count(m), 4);
    ck_assert_int_eq(vm_module_export(m, 3, &x), 0);
    ck_assert_str_eq(x.name, "tab");
    ck_assert_int_eq(x.kind, VM_EXTERN_TABLE);
    ck_assert_uint_eq(x.limits.max, 10);
    ck_assert_str_eq(vm_module_func_name(m, 1), "add");
    vm_module_free(m);
    vm_module_free(NULL);
}
END_TEST

START_TEST(load_bad_arguments)
{
    vm_module *m = NULL;
    char err[64];

    ck_assert_int_eq(vm_module_new(NULL, 8, NULL, &m, err, sizeof err),
                     VM_ERR_ARG);
    ck_assert_int_eq(vm_module_new(all_wasm, sizeof all_wasm, NULL, NULL,
                                   err, sizeof err),
                     VM_ERR_ARG);
    /* A malformed module leaves *out NULL and err with the reason. */
    ck_assert_int_eq(vm_module_new(all_wasm, 5, NULL, &m, NULL, 0),
                     VM_ERR_MALFORMED);
    ck_assert_ptr_null(m);
}
END_TEST

Suite *decode_suite(void);

Suite *decode_suite(void)
{
    Suite *s = suite_create("decode");
    TCase *tc = tcase_create("decode");
    TCase *load = tcase_create("load");

    tcase_add_test(tc, decode_all_sections);
    tcase_add_test(tc, decode_segments);
    tcase_add_test(tc, decode_names);
    tcase_add_test(tc, decode_bad_name_section_ignored);
    tcase_add_test(tc, decode_customs);
    tcase_add_test(tc, decode_name_with_nul);
    tcase_add_test(tc, decode_constexpr_forms);
    tcase_add_test(tc, decode_features);
    tcase_add_loop_test(tc, decode_malformed, 0,
                        (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, decode_truncated_everywhere);
    tcase_add_test(tc, decode_out_of_memory);
    suite_add_tcase(s, tc);

    tcase_add_test(load, load_and_describe);
    tcase_add_test(load, load_bad_arguments);
    tcase_add_test(load, data_count_required);
    tcase_add_test(load, load_out_of_memory);
    tcase_set_timeout(load, 60);
    suite_add_tcase(s, load);
    return s;
}
