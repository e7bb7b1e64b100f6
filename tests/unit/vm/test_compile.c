/*
 * Unit tests for the compiler (vm/compile.c): compile small modules and
 * assert on the internal code they produce. Most assertions read the
 * disassembly (vm__code_dump), which prints slots as l<n> (param/local
 * slot), #<value> (pool constant) and t<n> (temp at height n).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "code_int.h"
#include "module_int.h"
#include "traced/vm.h"

extern long vm__alloc_fail_after; /* alloc.c's test hook */

/*
 * The module below, from wat2wasm (func indices in comments):
 *
 * (module
 *   (func $add (param i32 i32) (result i32)
 *     local.get 0 local.get 1 i32.add)
 *   (func $blockval (param i32) (result i32) (local i32)
 *     block (result i32)
 *       local.get 1
 *       local.get 0
 *       br_if 0
 *       drop
 *       i32.const 9
 *     end
 *     i32.const 1
 *     i32.add)
 *   (func $peep (param i32) (local i32)
 *     local.get 0 i32.const 1 i32.add local.set 1)
 *   (func $hazard (param i32) (result i32)
 *     local.get 0
 *     i32.const 5 local.set 0
 *     local.get 0 i32.add)
 *   (func $loop (param $n i32) (result i32) (local $i i32) (local $s i32)
 *     loop $l
 *       local.get $s local.get $i i32.add local.set $s
 *       local.get $i i32.const 1 i32.add local.tee $i
 *       local.get $n i32.lt_s br_if $l
 *     end
 *     local.get $s)
 *   (func $dead (result i32)
 *     i32.const 1
 *     return
 *     i32.const 2 drop
 *     block loop br 0 end end
 *     i32.const 3)
 *   (func $call (param i32) (result i32)
 *     i32.const 7 local.get 0 call $add)
 *   (func $table (param i32) (result i32) (local i32)
 *     block (result i32)
 *       block (result i32)
 *         local.get 1
 *         local.get 0
 *         br_table 1 0 1
 *       end
 *       i32.const 4 i32.add
 *     end
 *     i32.const 1 i32.add)
 * )
 */
static const uint8_t mod_basic[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x14, 0x04, 0x60,
    0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x01,
    0x7f, 0x00, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x09, 0x08, 0x00, 0x01, 0x02,
    0x01, 0x01, 0x03, 0x01, 0x01, 0x0a, 0x88, 0x01, 0x08, 0x07, 0x00, 0x20,
    0x00, 0x20, 0x01, 0x6a, 0x0b, 0x13, 0x01, 0x01, 0x7f, 0x02, 0x7f, 0x20,
    0x01, 0x20, 0x00, 0x0d, 0x00, 0x1a, 0x41, 0x09, 0x0b, 0x41, 0x01, 0x6a,
    0x0b, 0x0b, 0x01, 0x01, 0x7f, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x21, 0x01,
    0x0b, 0x0b, 0x00, 0x20, 0x00, 0x41, 0x05, 0x21, 0x00, 0x20, 0x00, 0x6a,
    0x0b, 0x1c, 0x01, 0x02, 0x7f, 0x03, 0x40, 0x20, 0x02, 0x20, 0x01, 0x6a,
    0x21, 0x02, 0x20, 0x01, 0x41, 0x01, 0x6a, 0x22, 0x01, 0x20, 0x00, 0x48,
    0x0d, 0x00, 0x0b, 0x20, 0x02, 0x0b, 0x12, 0x00, 0x41, 0x01, 0x0f, 0x41,
    0x02, 0x1a, 0x02, 0x40, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, 0x41, 0x03,
    0x0b, 0x08, 0x00, 0x41, 0x07, 0x20, 0x00, 0x10, 0x00, 0x0b, 0x19, 0x01,
    0x01, 0x7f, 0x02, 0x7f, 0x02, 0x7f, 0x20, 0x01, 0x20, 0x00, 0x0e, 0x02,
    0x01, 0x00, 0x01, 0x0b, 0x41, 0x04, 0x6a, 0x0b, 0x41, 0x01, 0x6a, 0x0b
};

enum {
    F_ADD,
    F_BLOCKVAL,
    F_PEEP,
    F_HAZARD,
    F_LOOP,
    F_DEAD,
    F_CALL,
    F_TABLE,
    F_COUNT
};

static vm_module *load(const uint8_t *bytes, size_t len)
{
    vm_module *m = NULL;
    char err[256] = "";
    int rc = vm_module_new(bytes, len, NULL, &m, err, sizeof err);

    ck_assert_msg(rc == 0, "load failed: %s (%s)", vm_err_name(rc), err);
    return m;
}

static const vm__code *code_of(const vm_module *m, uint32_t func)
{
    ck_assert_uint_ge(func, m->nfuncs_imported);
    ck_assert_ptr_nonnull(m->funcs[func - m->nfuncs_imported].code);
    return m->funcs[func - m->nfuncs_imported].code;
}

/* The disassembly of a function, in a static buffer. */
static const char *dump(const vm__code *code)
{
    static char buf[1 << 16];
    size_t n = vm__code_dump(code, buf, sizeof buf);

    ck_assert_uint_lt(n, sizeof buf);
    return buf;
}

/* Number of instructions in the dump (lines after the header). */
static unsigned count_instrs(const char *text)
{
    unsigned n = 0;

    for (const char *p = strchr(text, '\n'); p && p[1]; p = strchr(p + 1, '\n'))
        n++;
    return n;
}

#define ck_assert_dump_has(text, what)                                      \
    ck_assert_msg(strstr((text), (what)) != NULL,                           \
                  "expected \"%s\" in:\n%s", (what), (text))
#define ck_assert_dump_lacks(text, what)                                    \
    ck_assert_msg(strstr((text), (what)) == NULL,                           \
                  "did not expect \"%s\" in:\n%s", (what), (text))

/* The internal opcode of the (threaded) word at pc. */
static int iop_at(const vm__code *code, uint32_t pc)
{
    const uint32_t *dispatch = vm__interp_dispatch();

    for (int op = 0; op < VM_IOP_COUNT; op++)
        if (dispatch[op] == code->words[pc])
            return op;
    return -1;
}

/* Walk the code by layouts: every instruction decodes, the walk ends
 * exactly at nwords, and every branch target is an instruction start. */
static void check_well_formed(const vm__code *code)
{
    uint8_t *start = calloc(code->nwords + 1, 1);
    uint32_t pc = 0, ninstr = 0;

    ck_assert_ptr_nonnull(start);
    while (pc < code->nwords) {
        int op = iop_at(code, pc);
        ck_assert_msg(op >= 0, "bad opcode word at %u", pc);
        start[pc] = 1;
        ninstr++;
        pc++;
        for (const char *l = vm__iop_layout[op]; *l; l++)
            pc += *l == 'L' ? 2 : *l == '*' ? code->words[pc - 1] : 1;
    }
    ck_assert_uint_eq(pc, code->nwords);
    ck_assert_uint_eq(ninstr, code->nsrcmap);
    pc = 0;
    while (pc < code->nwords) {
        int op = iop_at(code, pc);
        pc++;
        for (const char *l = vm__iop_layout[op]; *l; l++) {
            if (*l == 't') {
                ck_assert_uint_lt(code->words[pc], code->nwords);
                ck_assert_msg(start[code->words[pc]],
                              "target %u is not an instruction start",
                              code->words[pc]);
            } else if (*l == '*') {
                for (uint32_t i = 0, n = code->words[pc - 1]; i < n; i++)
                    ck_assert(start[code->words[pc + i]]);
                pc += code->words[pc - 1];
                continue;
            } else if (*l == 'd' || *l == 's' || *l == 'a') {
                ck_assert_uint_lt(code->words[pc], code->frame_slots);
            }
            pc += *l == 'L' ? 2 : 1;
        }
    }
    free(start);
}

START_TEST(test_add_is_one_instruction)
{
    vm_module *m = load(mod_basic, sizeof mod_basic);
    const vm__code *code = code_of(m, F_ADD);
    const char *text = dump(code);

    /* FUEL, the add reading the params in place, RETURN. */
    ck_assert_dump_has(text, "FUEL 4\n");
    ck_assert_dump_has(text, "I32_ADD t0 l0 l1\n");
    ck_assert_dump_has(text, "RETURN t0 1\n");
    ck_assert_uint_eq(count_instrs(text), 3);
    ck_assert_uint_eq(code->nparam_slots, 2);
    ck_assert_uint_eq(code->nresult_slots, 1);
    ck_assert_uint_eq(code->nlocal_slots, 2);
    ck_assert_uint_eq(code->nconsts, 0);
    ck_assert_uint_eq(code->temp_base, 2);
    ck_assert_uint_eq(iop_at(code, 0), VM_IOP_FUEL);
    ck_assert_uint_eq(iop_at(code, 2), VM_IOP_I32_ADD);
    ck_assert_uint_eq(code->words[3], code->temp_base); /* d = t0 */
    ck_assert_uint_eq(code->words[4], 0);               /* s1 = param 0 */
    ck_assert_uint_eq(code->words[5], 1);               /* s2 = param 1 */
    vm_module_free(m);
}
END_TEST

START_TEST(test_br_with_value_moves_to_label_slot)
{
    vm_module *m = load(mod_basic, sizeof mod_basic);
    const char *text = dump(code_of(m, F_BLOCKVAL));

    /* br_if 0 carrying local 1: skip unless the condition holds, copy the
     * value to the block's result slot t0, jump to the end; the
     * fallthrough puts its constant in the same slot. */
    ck_assert_dump_has(text, "BR_UNLESS l0 @10\n");
    ck_assert_dump_has(text, "   5: COPY t0 l1\n");
    ck_assert_dump_has(text, "   8: BR @13\n");
    ck_assert_dump_has(text, "  10: COPY t0 #9\n");
    ck_assert_dump_has(text, "  13: I32_ADD t0 t0 #1\n");
    check_well_formed(code_of(m, F_BLOCKVAL));
    vm_module_free(m);
}
END_TEST

START_TEST(test_local_set_retargets_result)
{
    vm_module *m = load(mod_basic, sizeof mod_basic);
    const char *text = dump(code_of(m, F_PEEP));

    ck_assert_dump_has(text, "I32_ADD l1 l0 #1\n");
    ck_assert_dump_lacks(text, "COPY");
    vm_module_free(m);
}
END_TEST

START_TEST(test_local_set_materializes_pending_refs)
{
    vm_module *m = load(mod_basic, sizeof mod_basic);
    const char *text = dump(code_of(m, F_HAZARD));

    /* The old value of local 0 is saved before local 0 is written. */
    ck_assert_dump_has(text, "   2: COPY t0 l0\n   5: COPY l0 #5\n");
    ck_assert_dump_has(text, "I32_ADD t0 t0 l0\n");
    vm_module_free(m);
}
END_TEST

START_TEST(test_loop_fused_compare_and_fuel)
{
    vm_module *m = load(mod_basic, sizeof mod_basic);
    const vm__code *code = code_of(m, F_LOOP);
    const char *text = dump(code);

    /* The loop header shares the entry FUEL (nothing between); its count
     * is the 11 wasm instructions of the body. Sums go straight to the
     * locals; the compare fuses into the back edge. */
    ck_assert_dump_has(text, "   0: FUEL 11\n");
    ck_assert_dump_has(text, "I32_ADD l2 l2 l1\n");
    ck_assert_dump_has(text, "I32_ADD l1 l1 #1\n");
    ck_assert_dump_has(text, "BR_IF_I32_LT_S l1 l0 @0\n");
    ck_assert_dump_has(text, "RETURN l2 1\n");
    ck_assert_uint_eq(count_instrs(text), 5);
    check_well_formed(code);
    vm_module_free(m);
}
END_TEST

START_TEST(test_dead_code_emits_nothing)
{
    vm_module *m = load(mod_basic, sizeof mod_basic);
    const vm__code *code = code_of(m, F_DEAD);
    const char *text = dump(code);

    ck_assert_dump_has(text, "RETURN #1 1\n");
    ck_assert_uint_eq(count_instrs(text), 2);
    ck_assert_uint_eq(code->nconsts, 1);
    vm_module_free(m);
}
END_TEST

START_TEST(test_call_args_in_place)
{
    vm_module *m = load(mod_basic, sizeof mod_basic);
    const char *text = dump(code_of(m, F_CALL));

    ck_assert_dump_has(text, "COPY t0 #7\n");
    ck_assert_dump_has(text, "COPY t1 l0\n");
    ck_assert_dump_has(text, "CALL 0 t0\n");
    ck_assert_dump_has(text, "RETURN t0 1\n");
    vm_module_free(m);
}
END_TEST

START_TEST(test_br_table_stubs)
{
    vm_module *m = load(mod_basic, sizeof mod_basic);
    const vm__code *code = code_of(m, F_TABLE);
    const char *text = dump(code);

    /* Both labels need the value moved to t0: one stub per label. */
    ck_assert_dump_has(text, "BR_TABLE l0 3 @8 @13 @8\n");
    ck_assert_dump_has(text, "   8: COPY t0 l1\n  11: BR @20\n");
    ck_assert_dump_has(text, "  13: COPY t0 l1\n");
    ck_assert_dump_has(text, "  20: I32_ADD t0 t0 #1\n");
    check_well_formed(code);
    vm_module_free(m);
}
END_TEST

START_TEST(test_srcmap_and_targets)
{
    vm_module *m = load(mod_basic, sizeof mod_basic);

    for (uint32_t f = 0; f < F_COUNT; f++) {
        const vm__code *code = code_of(m, f);
        const vm__func *fn = &m->funcs[f];
        size_t lo = (size_t)(fn->body - m->bytes);
        check_well_formed(code);
        for (uint32_t i = 0; i < code->nsrcmap; i++) {
            if (i > 0)
                ck_assert_uint_gt(code->srcmap[2 * i],
                                  code->srcmap[2 * i - 2]);
            ck_assert_uint_ge(code->srcmap[2 * i + 1], lo);
            ck_assert_uint_lt(code->srcmap[2 * i + 1], lo + fn->body_len);
        }
    }
    vm_module_free(m);
}
END_TEST

/* A module with one function () -> () whose body is, for k in [0, n),
 * "i32.const k; drop". */
static uint8_t *const_module(uint32_t n, size_t *len)
{
    size_t cap = 64 + (size_t)n * 8, pos = 0, body_start, code_start;
    uint8_t *b = malloc(cap);
    static const uint8_t head[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00,
                                   0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
                                   0x03, 0x02, 0x01, 0x00};

    ck_assert_ptr_nonnull(b);
    memcpy(b, head, sizeof head);
    pos = sizeof head;
    b[pos++] = 0x0a; /* code section; sizes as 5-byte LEBs, patched */
    code_start = pos;
    pos += 5;
    b[pos++] = 1;
    body_start = pos;
    pos += 5;
    b[pos++] = 0; /* no locals */
    for (uint32_t k = 0; k < n; k++) {
        uint32_t v = k;
        b[pos++] = 0x41;
        do {
            uint8_t byte = v & 0x7f;
            v >>= 7;
            if (v || (byte & 0x40))
                byte |= 0x80;
            b[pos++] = byte;
            if (!v && (byte & 0x80)) {
                b[pos++] = 0;
                break;
            }
        } while (v);
        b[pos++] = 0x1a;
    }
    b[pos++] = 0x0b;
    for (int which = 0; which < 2; which++) {
        size_t at = which ? body_start : code_start;
        uint32_t size = (uint32_t)(pos - at - 5);
        for (int i = 0; i < 5; i++)
            b[at + i] = (uint8_t)(((size >> (7 * i)) & 0x7f) | (i < 4 ? 0x80 : 0));
    }
    *len = pos;
    return b;
}

START_TEST(test_const_pool_cap)
{
    size_t len;
    uint8_t *bytes = const_module(1500, &len);
    vm_module *m = load(bytes, len);
    const vm__code *code = code_of(m, 0);
    const char *text = dump(code);

    /* 1024 constants in the pool; the rest are built in temps. */
    ck_assert_uint_eq(code->nconsts, 1024);
    ck_assert_dump_has(text, "I32_CONST t0 1024\n");
    ck_assert_dump_has(text, "I32_CONST t0 1499\n");
    ck_assert_dump_lacks(text, "I32_CONST t0 1023\n");
    ck_assert_uint_eq(code->consts[5], 5);
    check_well_formed(code);
    vm_module_free(m);
    free(bytes);
}
END_TEST

START_TEST(test_out_of_memory)
{
    for (long n = 1; n < 100000; n++) {
        vm_module *m = NULL;
        int rc;
        vm__alloc_fail_after = n;
        rc = vm_module_new(mod_basic, sizeof mod_basic, NULL, &m, NULL, 0);
        vm__alloc_fail_after = -1;
        if (rc == 0) {
            vm_module_free(m);
            return;
        }
        ck_assert_int_eq(rc, VM_ERR_NOMEM);
        ck_assert_ptr_null(m);
    }
    ck_abort_msg("never succeeded");
}
END_TEST

Suite *compile_suite(void);

Suite *compile_suite(void)
{
    Suite *s = suite_create("compile");
    TCase *tc = tcase_create("code");

    tcase_add_test(tc, test_add_is_one_instruction);
    tcase_add_test(tc, test_br_with_value_moves_to_label_slot);
    tcase_add_test(tc, test_local_set_retargets_result);
    tcase_add_test(tc, test_local_set_materializes_pending_refs);
    tcase_add_test(tc, test_loop_fused_compare_and_fuel);
    tcase_add_test(tc, test_dead_code_emits_nothing);
    tcase_add_test(tc, test_call_args_in_place);
    tcase_add_test(tc, test_br_table_stubs);
    tcase_add_test(tc, test_srcmap_and_targets);
    tcase_add_test(tc, test_const_pool_cap);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}
