/*
 * Listing suite: the generated text of a module, its function headers and
 * the offset -> line map. The module is embedded as bytes (wat2wasm
 * --debug-names, from the text below); offsets in the tests are those
 * wasm-objdump -d prints for it.
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
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "traced/vm.h"
#include "traced/vm_listing.h"

static const uint8_t wasm_listing[] = {
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

extern long vm__alloc_fail_after; /* alloc.c's test hook */

Suite *listing_suite(void);

static vm_module *load(void)
{
    vm_module *m = NULL;
    char err[256] = "";

    ck_assert_msg(vm_module_new(wasm_listing, sizeof wasm_listing, NULL, &m,
                                err, sizeof err) == 0,
                  "load: %s", err);
    return m;
}

/* Line n (from 1) of the listing, without its newline, into buf. */
static const char *line_text(const vm_listing *l, uint32_t n, char *buf,
                             size_t len)
{
    const char *p = vm_listing_text(l, NULL);

    for (uint32_t i = 1; i < n && p; i++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    buf[0] = '\0';
    if (p && *p) {
        size_t k = strcspn(p, "\n");

        if (k >= len)
            k = len - 1;
        memcpy(buf, p, k);
        buf[k] = '\0';
    }
    return buf;
}

START_TEST(every_function_has_a_header)
{
    static const char *const want[] = {
        "func[0] <print> (import \"env\" \"print\") (param i32)",
        "func[1] <fib> (export \"fib\") (param i32) (result i32)",
        "func[2] (export \"run\") (param i32)",
        "func[3] <mix> (export \"mix\") (param f32 f64 i64) (result f64)",
        "func[4] <trap> (export \"trap\") (param i32) (result i32)",
    };
    vm_module *m = load();
    vm_listing *l = NULL;
    char buf[256];
    uint32_t prev = 0;

    ck_assert_int_eq(vm_listing_new(m, &l, NULL, 0), 0);
    ck_assert_uint_eq(vm_listing_func_count(l), 5);
    for (uint32_t f = 0; f < 5; f++) {
        uint32_t line = vm_listing_func_line(l, f);

        ck_assert_uint_gt(line, prev);
        prev = line;
        ck_assert_str_eq(line_text(l, line, buf, sizeof buf), want[f]);
        ck_assert_uint_eq(vm_listing_line_func(l, line), f);
    }
    ck_assert_str_eq(vm_listing_func_name(l, 1), "fib");
    ck_assert_str_eq(vm_listing_func_name(l, 2), "func[2]");
    ck_assert_str_eq(vm_listing_func_name(l, 0), "print");
    ck_assert_uint_eq(vm_listing_func_line(l, 5), 0);
    ck_assert_str_eq(vm_listing_func_name(l, 99), "");
    /* The line after fib's header is its first instruction. */
    ck_assert_str_eq(line_text(l, vm_listing_func_line(l, 1) + 1, buf,
                               sizeof buf),
                     "  000057:  local.get 0 <n>");
    /* Declared locals follow the header of func[2]. */
    ck_assert_str_eq(line_text(l, vm_listing_func_line(l, 2) + 1, buf,
                               sizeof buf),
                     "  (local i64 f64)");
    vm_listing_free(l);
    vm_module_free(m);
}
END_TEST

START_TEST(offsets_map_to_their_lines)
{
    static const struct {
        uint32_t func, offset;
        const char *text;
    } cases[] = {
        {1, 0x57, "  000057:  local.get 0 <n>"},
        {1, 0x5c, "  00005c:  if (result i32)"},
        {1, 0x60, "  000060:  else"},
        {1, 0x66, "  000066:    call 1 <fib>"},
        {1, 0x70, "  000070:  end"},
        {1, 0x71, "  000071:end"},
        {2, 0x7e, "  00007e:      br_if 1"},
        {2, 0x80, "  000080:      f64.const 1.5"},
        {2, 0x8b, "  00008b:      i64.const -7"},
        {2, 0x95, "  000095:  call 0 <print>"},
        {3, 0x9c, "  00009c:  f32.const -0.25"},
        {3, 0xa4, "  0000a4:  i32.load offset=8"},
        {4, 0xaf, "  0000af:  i32.div_s"},
        {4, 0xb0, "  0000b0:end"},
    };
    vm_module *m = load();
    vm_listing *l = NULL;
    char buf[256];

    ck_assert_int_eq(vm_listing_new(m, &l, NULL, 0), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t line = vm_listing_op_line(l, cases[i].func, cases[i].offset);

        ck_assert_msg(line != 0, "offset 0x%x has no line", cases[i].offset);
        ck_assert_uint_eq(vm_listing_offset_line(l, cases[i].offset), line);
        ck_assert_str_eq(line_text(l, line, buf, sizeof buf), cases[i].text);
        ck_assert_uint_eq(vm_listing_line_func(l, line), cases[i].func);
        /* The same offset in another function is not there. */
        ck_assert_uint_eq(
            vm_listing_op_line(l, (cases[i].func + 1) % 5, cases[i].offset),
            0);
    }
    /* Not the start of an instruction, or outside any body. */
    ck_assert_uint_eq(vm_listing_offset_line(l, 0x58), 0);
    ck_assert_uint_eq(vm_listing_offset_line(l, 0), 0);
    ck_assert_uint_eq(vm_listing_offset_line(l, 0xffffff), 0);
    ck_assert_uint_eq(vm_listing_op_line(l, 99, 0x57), 0);
    vm_listing_free(l);
    vm_module_free(m);
}
END_TEST

/* The instruction table that expands op runs: in offset order, each
 * instruction's index found from its offset, its opcode as the op hook
 * gives it, its function. */
START_TEST(instructions_in_order)
{
    vm_module *m = load();
    vm_listing *l = NULL;
    uint32_t n, off, op, prev = 0, i;

    ck_assert_int_eq(vm_listing_new(m, &l, NULL, 0), 0);
    n = vm_listing_insn_count(l);
    ck_assert_uint_eq(n, 17 + 14 + 7 + 4);
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(vm_listing_insn(l, i, &off, NULL), 0);
        ck_assert_uint_gt(off, prev);
        ck_assert_uint_eq(vm_listing_insn_at(l, off), i);
        prev = off;
    }
    ck_assert_int_eq(vm_listing_insn(l, n, &off, &op), VM_ERR_ARG);
    ck_assert_uint_eq(vm_listing_insn_at(l, 0x58), UINT32_MAX);
    i = vm_listing_insn_at(l, 0x57); /* fib's local.get 0 */
    ck_assert_int_eq(vm_listing_insn(l, i, NULL, &op), 0);
    ck_assert_uint_eq(op, 0x20);
    ck_assert_uint_eq(vm_listing_insn_func(l, i), 1);
    ck_assert_int_eq(vm_listing_insn(l, i + 1, &off, &op), 0);
    ck_assert_uint_eq(op, 0x41); /* i32.const */
    i = vm_listing_insn_at(l, 0xaf); /* i32.div_s */
    ck_assert_int_eq(vm_listing_insn(l, i, NULL, &op), 0);
    ck_assert_uint_eq(op, 0x6d);
    ck_assert_uint_eq(vm_listing_insn_func(l, i), 4);
    ck_assert_uint_eq(vm_listing_insn_func(l, n), UINT32_MAX);
    vm_listing_free(l);
    vm_module_free(m);
}
END_TEST

/* Every instruction line names its offset, and that offset maps back to
 * exactly that line; the line count matches the text. */
START_TEST(every_instruction_line_round_trips)
{
    vm_module *m = load();
    vm_listing *l = NULL;
    const char *p;
    size_t len;
    uint32_t line = 1, insns = 0, newlines = 0;

    ck_assert_int_eq(vm_listing_new(m, &l, NULL, 0), 0);
    p = vm_listing_text(l, &len);
    ck_assert_uint_eq(strlen(p), len);
    ck_assert(len > 0 && p[len - 1] == '\n');
    for (size_t i = 0; i < len; i++)
        newlines += p[i] == '\n';
    ck_assert_uint_eq(vm_listing_line_count(l), newlines);
    while (*p) {
        unsigned off;
        char colon;

        if (sscanf(p, "  %6x%c", &off, &colon) == 2 && colon == ':') {
            ck_assert_uint_eq(vm_listing_offset_line(l, off), line);
            insns++;
        }
        p = strchr(p, '\n') + 1;
        line++;
    }
    /* fib 17, run 14, mix 7, trap 4 instructions (final ends included). */
    ck_assert_uint_eq(insns, 17 + 14 + 7 + 4);
    vm_listing_free(l);
    vm_module_free(m);
}
END_TEST

START_TEST(out_of_memory_is_reported)
{
    vm_module *m = load();
    int failures = 0;

    for (long n = 1; n < 64; n++) {
        vm_listing *l = NULL;
        int rc;

        vm__alloc_fail_after = n;
        rc = vm_listing_new(m, &l, NULL, 0);
        vm__alloc_fail_after = -1;
        if (rc == 0) {
            vm_listing_free(l);
            break;
        }
        ck_assert_int_eq(rc, VM_ERR_NOMEM);
        ck_assert_ptr_null(l);
        failures++;
    }
    ck_assert_int_gt(failures, 3);
    vm_module_free(m);
}
END_TEST

Suite *listing_suite(void)
{
    Suite *s = suite_create("listing");
    TCase *tc = tcase_create("listing");

    tcase_add_test(tc, every_function_has_a_header);
    tcase_add_test(tc, offsets_map_to_their_lines);
    tcase_add_test(tc, instructions_in_order);
    tcase_add_test(tc, every_instruction_line_round_trips);
    tcase_add_test(tc, out_of_memory_is_reported);
    suite_add_tcase(s, tc);
    return s;
}
