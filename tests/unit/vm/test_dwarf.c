/*
 * DWARF suite (vm_debug.h): hand-assembled DWARF whose every row, type
 * and attribute is worked out below; malformed and hostile input (bad
 * forms and abbreviation codes, huge lengths, truncation and bit flips,
 * deep nesting, out of memory) giving errors, not crashes; and the
 * programs of tests/debug/, built by CMake with clang for wasm32-wasi
 * (DWARF 4 and 5 at -O0, DWARF 5 at -O2), checked against their source
 * lines by hand. tests/debug/run.sh compares whole line tables with
 * llvm-dwarfdump.
 *
 * When clang could not build the programs, the tests that need them say
 * so and pass, except under CI=1, where they fail.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traced/vm.h"
#include "traced/vm_debug.h"
#include "traced/wasi.h"

extern long vm__alloc_fail_after; /* alloc.c's test hook */

#ifndef TRACED_DEBUG_WASM_DIR
#define TRACED_DEBUG_WASM_DIR "tests/debug"
#endif

/* ---- A byte builder ------------------------------------------------------ */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void u8(bytes *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    put(b, &x, 1);
}

static void u16(bytes *b, unsigned v)
{
    u8(b, v & 0xff);
    u8(b, (v >> 8) & 0xff);
}

static void u32(bytes *b, uint32_t v)
{
    u16(b, v & 0xffff);
    u16(b, v >> 16);
}

static void uleb(bytes *b, uint64_t v)
{
    do {
        uint8_t x = v & 0x7f;
        v >>= 7;
        u8(b, x | (v ? 0x80 : 0));
    } while (v);
}

static void sleb(bytes *b, int64_t v)
{
    for (;;) {
        uint8_t x = v & 0x7f;
        v >>= 7;
        if ((v == 0 && !(x & 0x40)) || (v == -1 && (x & 0x40))) {
            u8(b, x);
            return;
        }
        u8(b, x | 0x80);
    }
}

static void cstr(bytes *b, const char *s)
{
    put(b, s, strlen(s) + 1);
}

/* Reserve a 4-byte length; patch_len fills in what follows it. */
static size_t len_mark(bytes *b)
{
    u32(b, 0);
    return b->n - 4;
}

static void patch32(bytes *b, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b->p[at + i] = (uint8_t)(v >> (8 * i));
}

static void patch_len(bytes *b, size_t at)
{
    patch32(b, at, (uint32_t)(b->n - at - 4));
}

/* ---- A module with one function and custom sections ---------------------- */

/*
 * (func) whose body is 100 nops: the Code section's contents are
 *   count(1) size(1) locals(1) nop*100 end(1)
 * so DWARF address 2 is the body's entry (its locals declaration), 3 its
 * first instruction, and the Code section is 104 bytes long.
 */
enum { NOPS = 100, CODE_LEN = NOPS + 4, BODY_ENTRY = 2 };

typedef struct custom {
    const char *name;
    const bytes *data;
} custom;

static bytes make_module(const custom *customs, size_t n)
{
    static const uint8_t head[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00,
                                   0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
                                   0x03, 0x02, 0x01, 0x00};
    bytes m = {0};

    put(&m, head, sizeof head);
    u8(&m, 10);
    uleb(&m, CODE_LEN);
    u8(&m, 1);        /* one body */
    u8(&m, NOPS + 2); /* its size */
    u8(&m, 0);        /* no locals */
    for (int i = 0; i < NOPS; i++)
        u8(&m, 0x01);
    u8(&m, 0x0b);
    for (size_t i = 0; i < n; i++) {
        size_t name_len = strlen(customs[i].name);
        u8(&m, 0);
        uleb(&m, 1 + name_len + customs[i].data->n);
        uleb(&m, name_len);
        put(&m, customs[i].name, name_len);
        put(&m, customs[i].data->p, customs[i].data->n);
    }
    return m;
}

static vm_module *load(const bytes *m)
{
    vm_module *mod = NULL;
    char err[256];
    int rc = vm_module_new(m->p, m->n, NULL, &mod, err, sizeof err);

    ck_assert_msg(rc == 0, "module: %s", err);
    return mod;
}

/* vm_debug_new on customs; returns its code, message in err. */
static int debug_of(const custom *customs, size_t n, vm_debug **d, char *err,
                    size_t errlen)
{
    bytes m = make_module(customs, n);
    vm_module *mod = load(&m);
    int rc = vm_debug_new(mod, d, err, errlen);

    vm_module_free(mod);
    free(m.p);
    return rc;
}

/* ---- A hand-assembled DWARF 4 line table --------------------------------- */

/*
 * Sequences in program order: A at 60..70 (sorted after B), B at 2..42
 * exercising every standard opcode, an unknown standard opcode (13, one
 * operand: opcode_base is 14) and an unknown extended opcode, C at the
 * wasm-ld tombstone 0xffffffff (dropped), and D, never ended (dropped).
 */
static bytes line_v4(void)
{
    bytes b = {0};
    size_t len = len_mark(&b), hlen;
    static const uint8_t std_lengths[13] = {0, 1, 1, 1, 1, 0, 0,
                                            0, 1, 0, 0, 1, 1};

    u16(&b, 4);
    hlen = len_mark(&b);
    u8(&b, 1);  /* minimum_instruction_length */
    u8(&b, 1);  /* maximum_operations_per_instruction */
    u8(&b, 1);  /* default_is_stmt */
    u8(&b, (uint8_t)-5); /* line_base */
    u8(&b, 14); /* line_range */
    u8(&b, 14); /* opcode_base */
    put(&b, std_lengths, sizeof std_lengths);
    cstr(&b, "inc");
    u8(&b, 0);
    cstr(&b, "a.c");
    uleb(&b, 0), uleb(&b, 0), uleb(&b, 0);
    cstr(&b, "b.h");
    uleb(&b, 1), uleb(&b, 0), uleb(&b, 0);
    u8(&b, 0);
    patch_len(&b, hlen);

    /* A: 60 line 100; end at 70 */
    u8(&b, 0), uleb(&b, 5), u8(&b, 2), u32(&b, 60);
    u8(&b, 3), sleb(&b, 99);
    u8(&b, 1);
    u8(&b, 2), uleb(&b, 10);
    u8(&b, 0), uleb(&b, 1), u8(&b, 1);

    /* B */
    u8(&b, 0), uleb(&b, 5), u8(&b, 2), u32(&b, 2); /* set_address 2 */
    u8(&b, 1);                     /* copy: row 2, line 1 */
    u8(&b, 35);                    /* special: +1 address, +2 line */
    u8(&b, 5), uleb(&b, 7);        /* set_column 7 */
    u8(&b, 6);                     /* negate_stmt: off */
    u8(&b, 2), uleb(&b, 4);        /* advance_pc 4: 7 */
    u8(&b, 3), sleb(&b, -1);       /* advance_line -1: 2 */
    u8(&b, 1);                     /* copy */
    u8(&b, 13), uleb(&b, 129);     /* unknown standard opcode, 1 operand */
    u8(&b, 0), uleb(&b, 3), u8(&b, 0x80), u8(&b, 0xaa), u8(&b, 0xbb);
    u8(&b, 8);                     /* const_add_pc: +(255-14)/14 = 17: 24 */
    u8(&b, 4), uleb(&b, 2);        /* set_file 2 (b.h) */
    u8(&b, 0), uleb(&b, 2), u8(&b, 4), uleb(&b, 3); /* discriminator 3 */
    u8(&b, 6);                     /* negate_stmt: on */
    u8(&b, 10);                    /* prologue_end */
    u8(&b, 12), uleb(&b, 1);       /* set_isa */
    u8(&b, 7);                     /* basic_block */
    u8(&b, 1);                     /* copy: row 24 */
    u8(&b, 9), u16(&b, 16);        /* fixed_advance_pc 16: 40 */
    u8(&b, 19);                    /* special: +0 address, +0 line */
    u8(&b, 11);                    /* epilogue_begin */
    u8(&b, 2), uleb(&b, 2);        /* 42 */
    u8(&b, 0), uleb(&b, 1), u8(&b, 1); /* end_sequence */

    /* C: the tombstone */
    u8(&b, 0), uleb(&b, 5), u8(&b, 2), u32(&b, 0xffffffffu);
    u8(&b, 1);
    u8(&b, 2), uleb(&b, 1);
    u8(&b, 0), uleb(&b, 1), u8(&b, 1);

    /* D: no end_sequence */
    u8(&b, 0), uleb(&b, 5), u8(&b, 2), u32(&b, 80);
    u8(&b, 1);
    patch_len(&b, len);
    return b;
}

START_TEST(line_program_v4_by_hand)
{
    bytes line = line_v4();
    custom c[] = {{".debug_line", &line}};
    vm_debug *d = NULL;
    char err[256];
    int rc = debug_of(c, 1, &d, err, sizeof err);
    size_t n;
    const vm_debug_row *rows;
    uint32_t cs;
    static const struct {
        uint32_t address, line, column, discriminator;
        const char *file;
        bool is_stmt, end, prologue_end, epilogue_begin;
    } want[] = {
        {2, 1, 0, 0, "a.c", true, false, false, false},
        {3, 3, 0, 0, "a.c", true, false, false, false},
        {7, 2, 7, 0, "a.c", false, false, false, false},
        {24, 2, 7, 3, "inc/b.h", true, false, true, false},
        {40, 2, 7, 0, "inc/b.h", true, false, false, false},
        {42, 2, 7, 0, "inc/b.h", true, true, false, true},
        {60, 100, 0, 0, "a.c", true, false, false, false},
        {70, 100, 0, 0, "a.c", true, true, false, false},
    };

    ck_assert_msg(rc == 0, "%s", err);
    cs = vm_debug_code_start(d);
    ck_assert_uint_gt(cs, 0);
    rows = vm_debug_rows(d, &n);
    ck_assert_uint_eq(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(rows[i].address, want[i].address);
        ck_assert_uint_eq(rows[i].offset, cs + want[i].address);
        ck_assert_uint_eq(rows[i].line, want[i].line);
        ck_assert_uint_eq(rows[i].column, want[i].column);
        ck_assert_uint_eq(rows[i].discriminator, want[i].discriminator);
        ck_assert_str_eq(vm_debug_file_path(d, rows[i].file), want[i].file);
        ck_assert(rows[i].is_stmt == want[i].is_stmt);
        ck_assert(rows[i].end_sequence == want[i].end);
        ck_assert(rows[i].prologue_end == want[i].prologue_end);
        ck_assert(rows[i].epilogue_begin == want[i].epilogue_begin);
    }
    ck_assert_uint_eq(vm_debug_file_count(d), 2);

    /* Lookups: the row in effect, gaps and ends have none. */
    ck_assert_ptr_eq(vm_debug_row_at(d, cs + 5), &rows[1]);
    ck_assert_ptr_eq(vm_debug_row_at(d, cs + 2), &rows[0]);
    ck_assert_ptr_eq(vm_debug_row_at(d, cs + 41), &rows[4]);
    ck_assert_ptr_null(vm_debug_row_at(d, cs + 1));
    ck_assert_ptr_null(vm_debug_row_at(d, cs + 42));
    ck_assert_ptr_null(vm_debug_row_at(d, cs + 50));
    ck_assert_ptr_eq(vm_debug_row_at(d, cs + 65), &rows[6]);
    ck_assert_ptr_null(vm_debug_row_at(d, cs + 70));

    /* Step points: statement rows, not end_sequence. The one at 2, the
     * function's entry, would move to its first instruction (3), which
     * has a step point of its own: that one is in effect. */
    {
        static const uint32_t steps_at[] = {3, 24, 40, 60};
        const vm_debug_row *steps = vm_debug_steps(d, &n);
        ck_assert_uint_eq(n, 4);
        for (size_t i = 0; i < n; i++) {
            ck_assert_uint_eq(steps[i].address, steps_at[i]);
            ck_assert_uint_eq(steps[i].offset, cs + steps_at[i]);
        }
        ck_assert_uint_eq(steps[0].line, 3);
        ck_assert_ptr_eq(vm_debug_step_at(d, cs + 24), &steps[1]);
        ck_assert_ptr_null(vm_debug_step_at(d, cs + 2)); /* entry */
        ck_assert_ptr_null(vm_debug_step_at(d, cs + 7)); /* not is_stmt */
        ck_assert_ptr_null(vm_debug_step_at(d, cs + 25));
        ck_assert_int_eq(vm_debug_func_steps(d, 0, &steps, &n), 0);
        ck_assert_uint_eq(n, 4);
        ck_assert_uint_eq(steps[0].address, 3);
        ck_assert_int_eq(vm_debug_func_steps(d, 1, &steps, &n),
                         VM_ERR_NOT_FOUND);
        ck_assert_uint_eq(n, 0);
    }
    ck_assert_uint_eq(vm_debug_subprogram_count(d), 0);
    ck_assert_uint_eq(vm_debug_unit_count(d), 0);
    vm_debug_free(d);
    free(line.p);
}
END_TEST

START_TEST(addresses_convert_both_ways)
{
    bytes line = line_v4();
    custom c[] = {{".debug_line", &line}};
    vm_debug *d = NULL;
    uint32_t off, addr, entry, code, end, cs;

    ck_assert_int_eq(debug_of(c, 1, &d, NULL, 0), 0);
    cs = vm_debug_code_start(d);
    ck_assert_int_eq(vm_debug_address_to_offset(d, 24, &off), 0);
    ck_assert_uint_eq(off, cs + 24);
    ck_assert_int_eq(vm_debug_offset_to_address(d, off, &addr), 0);
    ck_assert_uint_eq(addr, 24);
    ck_assert_int_eq(vm_debug_address_to_offset(d, CODE_LEN + 1, &off),
                     VM_ERR_NOT_FOUND);
    ck_assert_int_eq(vm_debug_offset_to_address(d, cs - 1, &addr),
                     VM_ERR_NOT_FOUND);
    ck_assert_int_eq(vm_debug_func_range(d, 0, &entry, &code, &end), 0);
    ck_assert_uint_eq(entry, cs + BODY_ENTRY);
    ck_assert_uint_eq(code, cs + BODY_ENTRY + 1);
    ck_assert_uint_eq(end, cs + CODE_LEN);
    ck_assert_int_eq(vm_debug_func_range(d, 1, &entry, &code, &end),
                     VM_ERR_NOT_FOUND);
    ck_assert_uint_eq(vm_debug_func_count(d), 1);
    vm_debug_free(d);
    free(line.p);
}
END_TEST

/* ---- A hand-assembled DWARF 5 unit ---------------------------------------- */

/* What to break in dwarf5(). */
typedef struct breakage {
    bool bad_form;       /* abbreviation 2 declares form 0x7f */
    bool bad_code;       /* a DIE with abbreviation code 99 */
    bool huge_block;     /* a block4 of 0xfffffff0 bytes */
    bool bad_strx;       /* string index 1000 */
    bool bad_version;    /* unit version 7 */
    bool reserved_len;   /* unit length 0xfffffff0 */
    bool huge_files;     /* v5 line table claiming 2^40 files */
    bool bad_line_len;   /* header_length past the table */
    unsigned depth;      /* nest this many lexical blocks in fn */
} breakage;

typedef struct dwarf5 {
    bytes info, abbrev, line, str, line_str, str_offsets, addr;
} dwarf5;

enum { LANG_C11 = 0x1d };

static void dwarf5_free(dwarf5 *w)
{
    free(w->info.p), free(w->abbrev.p), free(w->line.p), free(w->str.p);
    free(w->line_str.p), free(w->str_offsets.p), free(w->addr.p);
}

static dwarf5 dwarf5_build(const breakage *k)
{
    dwarf5 w;
    bytes *b;
    size_t len, hlen, typedef_ref, int_at, const_at, ptr_at, typedef_at;
    static const uint8_t std_lengths[12] = {0, 1, 1, 1, 1, 0,
                                            0, 0, 1, 0, 0, 1};

    memset(&w, 0, sizeof w);
    /* .debug_str: prod@0 fn@5 int@8 x@12 cu.c@14 myint@19 */
    cstr(&w.str, "prod"), cstr(&w.str, "fn"), cstr(&w.str, "int");
    cstr(&w.str, "x"), cstr(&w.str, "cu.c"), cstr(&w.str, "myint");
    /* .debug_str_offsets: header, then [cu.c, prod, fn, int, x] */
    b = &w.str_offsets;
    u32(b, 4 + 5 * 4), u16(b, 5), u16(b, 0);
    u32(b, 14), u32(b, 0), u32(b, 5), u32(b, 8), u32(b, 12);
    /* .debug_addr: header, then [2] */
    b = &w.addr;
    u32(b, 4 + 4), u16(b, 5), u8(b, 4), u8(b, 0);
    u32(b, BODY_ENTRY);
    /* .debug_line_str: /src@0 inc@5 */
    cstr(&w.line_str, "/src"), cstr(&w.line_str, "inc");

    /* .debug_line, v5 */
    b = &w.line;
    len = len_mark(b);
    u16(b, 5), u8(b, 4), u8(b, 0);
    hlen = len_mark(b);
    u8(b, 1), u8(b, 1), u8(b, 1), u8(b, (uint8_t)-5), u8(b, 14), u8(b, 13);
    put(b, std_lengths, sizeof std_lengths);
    u8(b, 1), uleb(b, 1), uleb(b, 0x1f); /* dirs: path line_strp */
    uleb(b, 2), u32(b, 0), u32(b, 5);
    u8(b, 3);                            /* files: path string, */
    uleb(b, 1), uleb(b, 0x08);           /* directory_index udata, */
    uleb(b, 2), uleb(b, 0x0f);           /* MD5 data16 */
    uleb(b, 5), uleb(b, 0x1e);
    if (k->huge_files)
        uleb(b, (uint64_t)1 << 40);
    else
        uleb(b, 2);
    cstr(b, "main.c"), uleb(b, 0);
    for (int i = 0; i < 16; i++)
        u8(b, i);
    cstr(b, "lib.h"), uleb(b, 1);
    for (int i = 0; i < 16; i++)
        u8(b, 0xf0 | i);
    patch_len(b, hlen);
    if (k->bad_line_len)
        patch32(b, hlen, 0x7fffffff);
    u8(b, 0), uleb(b, 5), u8(b, 2), u32(b, BODY_ENTRY);
    u8(b, 4), uleb(b, 0); /* set_file 0: main.c */
    u8(b, 1);             /* row 2, line 1 */
    u8(b, 13 + 5 + 4 + 14 * 8); /* special: +8 address, +4 line: 10, 5 */
    u8(b, 4), uleb(b, 1); /* lib.h */
    u8(b, 2), uleb(b, 2);
    u8(b, 1);             /* row 12, line 5, lib.h */
    u8(b, 2), uleb(b, 20);
    u8(b, 0), uleb(b, 1), u8(b, 1); /* end at 32 */
    patch_len(b, len);

    /* .debug_abbrev */
    b = &w.abbrev;
    uleb(b, 1), uleb(b, 0x11), u8(b, 1); /* compile_unit */
    uleb(b, 0x25), uleb(b, 0x25);        /* producer strx1 */
    uleb(b, 0x13), uleb(b, 0x05);        /* language data2 */
    uleb(b, 0x03), uleb(b, 0x25);        /* name strx1 */
    uleb(b, 0x72), uleb(b, 0x17);        /* str_offsets_base sec_offset */
    uleb(b, 0x10), uleb(b, 0x17);        /* stmt_list */
    uleb(b, 0x1b), uleb(b, 0x08);        /* comp_dir string */
    uleb(b, 0x73), uleb(b, 0x17);        /* addr_base */
    uleb(b, 0x3fe0), uleb(b, 0x1e);      /* (skipped) data16 */
    uleb(b, 0x3fe1), uleb(b, 0x0a);      /* (skipped) block1 */
    uleb(b, 0), uleb(b, 0);
    uleb(b, 2), uleb(b, 0x24), u8(b, 0); /* base_type */
    uleb(b, 0x03), uleb(b, k->bad_form ? 0x7f : 0x1a); /* name strx */
    uleb(b, 0x3e), uleb(b, 0x0b);        /* encoding data1 */
    uleb(b, 0x0b), uleb(b, 0x21), sleb(b, 4); /* byte_size implicit 4 */
    uleb(b, 0), uleb(b, 0);
    uleb(b, 3), uleb(b, 0x16), u8(b, 0); /* typedef */
    uleb(b, 0x03), uleb(b, 0x0e);        /* name strp */
    uleb(b, 0x49), uleb(b, 0x13);        /* type ref4 */
    uleb(b, 0), uleb(b, 0);
    uleb(b, 4), uleb(b, 0x26), u8(b, 0); /* const_type */
    uleb(b, 0x49), uleb(b, 0x15);        /* type ref_udata */
    uleb(b, 0), uleb(b, 0);
    uleb(b, 5), uleb(b, 0x0f), u8(b, 0); /* pointer_type */
    uleb(b, 0x49), uleb(b, 0x10);        /* type ref_addr */
    uleb(b, 0x0b), uleb(b, 0x0b);        /* byte_size data1 */
    uleb(b, 0), uleb(b, 0);
    uleb(b, 6), uleb(b, 0x2e), u8(b, 1); /* subprogram */
    uleb(b, 0x11), uleb(b, 0x29);        /* low_pc addrx1 */
    uleb(b, 0x12), uleb(b, 0x06);        /* high_pc data4 (offset) */
    uleb(b, 0x03), uleb(b, 0x26);        /* name strx2 */
    uleb(b, 0x3a), uleb(b, 0x21), sleb(b, 0); /* decl_file implicit 0 */
    uleb(b, 0x3b), uleb(b, 0x0f);        /* decl_line udata */
    uleb(b, 0x49), uleb(b, 0x13);        /* type ref4 */
    uleb(b, 0x3f), uleb(b, 0x19);        /* external flag_present */
    uleb(b, 0x40), uleb(b, 0x18);        /* frame_base exprloc */
    uleb(b, 0x3fe2), uleb(b, 0x16);      /* (skipped) indirect */
    uleb(b, 0x3fe3), uleb(b, 0x20);      /* ref_sig8 */
    uleb(b, 0x3fe4), uleb(b, 0x22);      /* loclistx */
    uleb(b, 0x3fe5), uleb(b, 0x23);      /* rnglistx */
    uleb(b, 0x3fe6), uleb(b, 0x28);      /* strx4 */
    uleb(b, 0x3fe7), uleb(b, 0x1b);      /* addrx */
    uleb(b, 0x3fe8), uleb(b, 0x09);      /* block */
    uleb(b, 0x3fe9), uleb(b, 0x03);      /* block2 */
    uleb(b, 0x3fea), uleb(b, 0x04);      /* block4 */
    uleb(b, 0x3feb), uleb(b, 0x07);      /* data8 */
    uleb(b, 0x3fec), uleb(b, 0x1d);      /* strp_sup */
    uleb(b, 0x3fed), uleb(b, 0x1f02);    /* GNU_str_index */
    uleb(b, 0x3fee), uleb(b, 0x0c);      /* flag */
    uleb(b, 0x3fef), uleb(b, 0x0d);      /* sdata */
    uleb(b, 0x3ff0), uleb(b, 0x2c);      /* addrx4 */
    uleb(b, 0x3ff1), uleb(b, 0x12);      /* ref2 */
    uleb(b, 0x3ff2), uleb(b, 0x14);      /* ref8 */
    uleb(b, 0x3ff3), uleb(b, 0x1c);      /* ref_sup4 */
    uleb(b, 0x3ff4), uleb(b, 0x24);      /* ref_sup8 */
    uleb(b, 0x3ff5), uleb(b, 0x2b);      /* addrx3 */
    uleb(b, 0x3ff6), uleb(b, 0x27);      /* strx3 */
    uleb(b, 0), uleb(b, 0);
    uleb(b, 7), uleb(b, 0x05), u8(b, 0); /* formal_parameter */
    uleb(b, 0x03), uleb(b, 0x25);        /* name strx1 */
    uleb(b, 0x49), uleb(b, 0x13);        /* type ref4 */
    uleb(b, 0x02), uleb(b, 0x18);        /* location exprloc */
    uleb(b, 0), uleb(b, 0);
    uleb(b, 8), uleb(b, 0x0b), u8(b, 1); /* lexical_block */
    uleb(b, 0), uleb(b, 0);
    uleb(b, 9), uleb(b, 0x34), u8(b, 0); /* variable */
    uleb(b, 0x03), uleb(b, 0x08);        /* name string */
    uleb(b, 0x49), uleb(b, 0x11);        /* type ref1 */
    uleb(b, 0x3b), uleb(b, 0x0b);        /* decl_line data1 */
    uleb(b, 0), uleb(b, 0);
    uleb(b, 10), uleb(b, 0x2e), u8(b, 0); /* subprogram, no code */
    uleb(b, 0x03), uleb(b, 0x08);
    uleb(b, 0), uleb(b, 0);
    uleb(b, 11), uleb(b, 0x13), u8(b, 1); /* structure_type */
    uleb(b, 0x03), uleb(b, 0x08);
    uleb(b, 0x0b), uleb(b, 0x0b);
    uleb(b, 0), uleb(b, 0);
    uleb(b, 12), uleb(b, 0x0d), u8(b, 0); /* member */
    uleb(b, 0x03), uleb(b, 0x08);
    uleb(b, 0), uleb(b, 0);
    uleb(b, 0);

    /* .debug_info: one DWARF 5 compile unit */
    b = &w.info;
    if (k->reserved_len) {
        u32(b, 0xfffffff0u);
        return w;
    }
    len = len_mark(b);
    u16(b, k->bad_version ? 7 : 5), u8(b, 1), u8(b, 4), u32(b, 0);
    uleb(b, 1);                            /* compile_unit */
    u8(b, 1), u16(b, LANG_C11), u8(b, 0);  /* producer, language, name */
    u32(b, 8), u32(b, 0);                  /* str_offsets_base, stmt_list */
    cstr(b, "/cd");
    u32(b, 8);                             /* addr_base */
    for (int i = 0; i < 16; i++)
        u8(b, 0xee);                       /* data16 */
    u8(b, 2), u8(b, 0xaa), u8(b, 0xbb);    /* block1 */

    uleb(b, 3);                            /* typedef myint -> int */
    typedef_at = b->n;
    u32(b, 19);
    typedef_ref = len_mark(b);             /* forward: patched below */
    int_at = b->n;
    uleb(b, 2), uleb(b, k->bad_strx ? 1000 : 3), u8(b, 5); /* int */
    patch32(b, typedef_ref, (uint32_t)int_at);
    const_at = b->n;
    uleb(b, 4), uleb(b, int_at);           /* const int */
    ptr_at = b->n;
    uleb(b, 5), u32(b, (uint32_t)const_at), u8(b, 4); /* const int * */
    uleb(b, 11), cstr(b, "S"), u8(b, 8);   /* struct S { */
    uleb(b, 12), cstr(b, "a");             /*   a */
    uleb(b, 0);                            /* } */

    uleb(b, 6);                            /* subprogram fn */
    u8(b, 0);                              /* low_pc: addr[0] = 2 */
    u32(b, 30);                            /* high_pc: 2 + 30 */
    u16(b, 2);                             /* name: "fn" */
    uleb(b, 3);                            /* decl_line */
    u32(b, (uint32_t)typedef_at - 1);      /* type: myint */
    uleb(b, 2), u8(b, 0x9f), u8(b, 0x93);  /* frame_base */
    uleb(b, 0x0d), sleb(b, -3);            /* indirect -> sdata */
    for (int i = 0; i < 8; i++)
        u8(b, 0x5a);                       /* ref_sig8 */
    uleb(b, 0), uleb(b, 0);                /* loclistx, rnglistx */
    u32(b, 0xffffffffu);                   /* strx4 (never resolved) */
    uleb(b, 77);                           /* addrx */
    uleb(b, 2), u8(b, 1), u8(b, 2);        /* block */
    if (k->huge_block) {
        u16(b, 0);
        u32(b, 0xfffffff0u);               /* block4 past the end */
    } else {
        u16(b, 1), u8(b, 9);               /* block2 */
        u32(b, 1), u8(b, 9);               /* block4 */
    }
    for (int i = 0; i < 8; i++)
        u8(b, i);                          /* data8 */
    u32(b, 0);                             /* strp_sup */
    uleb(b, 5);                            /* GNU_str_index */
    u8(b, 1);                              /* flag */
    sleb(b, -100);                         /* sdata */
    u32(b, 0);                             /* addrx4 */
    u16(b, 0);                             /* ref2 */
    u32(b, 0), u32(b, 0);                  /* ref8 */
    u32(b, 0);                             /* ref_sup4 */
    u32(b, 0), u32(b, 0);                  /* ref_sup8 */
    u16(b, 0), u8(b, 0);                   /* addrx3 */
    u16(b, 0), u8(b, 0);                   /* strx3 */
    if (k->bad_code)
        uleb(b, 99);
    uleb(b, 7), u8(b, 4), u32(b, (uint32_t)ptr_at);
    uleb(b, 3), u8(b, 0x91), u8(b, 0x08), u8(b, 0x06); /* location */
    for (unsigned i = 0; i < k->depth; i++)
        uleb(b, 8);
    uleb(b, 8);                            /* { */
    uleb(b, 9), cstr(b, "v"), u8(b, (uint8_t)int_at), u8(b, 9);
    uleb(b, 0);                            /* } */
    for (unsigned i = 0; i < k->depth; i++)
        uleb(b, 0);
    uleb(b, 0);                            /* end of fn */
    uleb(b, 10), cstr(b, "decl_only");
    uleb(b, 0);                            /* end of the unit's DIEs */
    patch_len(b, len);
    return w;
}

/* The sections of w, for debug_of. */
static size_t dwarf5_customs(dwarf5 *w, custom *c)
{
    c[0] = (custom){".debug_info", &w->info};
    c[1] = (custom){".debug_abbrev", &w->abbrev};
    c[2] = (custom){".debug_line", &w->line};
    c[3] = (custom){".debug_str", &w->str};
    c[4] = (custom){".debug_line_str", &w->line_str};
    c[5] = (custom){".debug_str_offsets", &w->str_offsets};
    c[6] = (custom){".debug_addr", &w->addr};
    return 7;
}

static int dwarf5_load(const breakage *k, vm_debug **d, char *err,
                       size_t errlen)
{
    dwarf5 w = dwarf5_build(k);
    custom c[7];
    size_t n = dwarf5_customs(&w, c);
    int rc = debug_of(c, n, d, err, errlen);

    dwarf5_free(&w);
    return rc;
}

START_TEST(info_v5_by_hand)
{
    breakage none = {0};
    vm_debug *d = NULL;
    char err[256];
    const vm_debug_unit *u;
    const vm_debug_subprogram *s;
    const vm_debug_type *t;
    uint32_t cs;
    size_t n;
    const vm_debug_row *rows;
    int rc = dwarf5_load(&none, &d, err, sizeof err);

    ck_assert_msg(rc == 0, "%s", err);
    cs = vm_debug_code_start(d);

    ck_assert_uint_eq(vm_debug_unit_count(d), 1);
    u = vm_debug_unit_get(d, 0);
    ck_assert_str_eq(u->name, "cu.c");
    ck_assert_str_eq(u->producer, "prod");
    ck_assert_str_eq(u->comp_dir, "/cd");
    ck_assert_uint_eq(u->language, LANG_C11);
    ck_assert_uint_eq(u->version, 5);
    ck_assert_str_eq(vm_debug_file_path(d, u->file), "/cd/cu.c");

    /* Types in DIE order: myint, int, const int, const int *, S. */
    ck_assert_uint_eq(vm_debug_type_count(d), 5);
    t = vm_debug_type_get(d, 0);
    ck_assert_int_eq(t->kind, VM_DEBUG_TYPE_TYPEDEF);
    ck_assert_str_eq(t->name, "myint");
    ck_assert_uint_eq(t->target, 1); /* a forward reference */
    t = vm_debug_type_get(d, 1);
    ck_assert_int_eq(t->kind, VM_DEBUG_TYPE_BASE);
    ck_assert_str_eq(t->name, "int");
    ck_assert_uint_eq(t->encoding, VM_DEBUG_ATE_SIGNED);
    ck_assert_uint_eq(t->byte_size, 4); /* implicit_const */
    ck_assert_uint_eq(t->target, VM_DEBUG_NONE);
    t = vm_debug_type_get(d, 2);
    ck_assert_int_eq(t->kind, VM_DEBUG_TYPE_CONST);
    ck_assert_uint_eq(t->target, 1);
    t = vm_debug_type_get(d, 3);
    ck_assert_int_eq(t->kind, VM_DEBUG_TYPE_POINTER);
    ck_assert_uint_eq(t->target, 2); /* ref_addr */
    ck_assert_uint_eq(t->byte_size, 4);
    t = vm_debug_type_get(d, 4);
    ck_assert_int_eq(t->kind, VM_DEBUG_TYPE_STRUCT);
    ck_assert_str_eq(t->name, "S");
    ck_assert_uint_eq(t->byte_size, 8);
    ck_assert_uint_eq(vm_debug_type_resolve(d, 0), 1);
    ck_assert_uint_eq(vm_debug_type_resolve(d, 2), 1);
    ck_assert_uint_eq(vm_debug_type_resolve(d, 3), 3);
    ck_assert_uint_eq(vm_debug_type_resolve(d, 99), VM_DEBUG_NONE);
    ck_assert_ptr_null(vm_debug_type_get(d, 5));

    /* fn, found every way; decl_only has no code and is not listed. */
    ck_assert_uint_eq(vm_debug_subprogram_count(d), 1);
    s = vm_debug_subprogram_get(d, 0);
    ck_assert_ptr_eq(vm_debug_func(d, 0), s);
    ck_assert_ptr_eq(vm_debug_subprogram_at(d, cs + 10), s);
    ck_assert_ptr_null(vm_debug_subprogram_at(d, cs + 32));
    ck_assert_ptr_null(vm_debug_subprogram_at(d, cs + 1));
    ck_assert_str_eq(s->name, "fn");
    ck_assert_uint_eq(s->func_idx, 0);
    ck_assert_uint_eq(s->low_address, BODY_ENTRY);
    ck_assert_uint_eq(s->high_address, BODY_ENTRY + 30);
    ck_assert_uint_eq(s->low, cs + BODY_ENTRY);
    ck_assert_uint_eq(s->high, cs + BODY_ENTRY + 30);
    ck_assert_str_eq(vm_debug_file_path(d, s->decl_file), "/src/main.c");
    ck_assert_uint_eq(s->decl_line, 3);
    ck_assert_uint_eq(s->return_type, 0);
    ck_assert(s->external);
    ck_assert_uint_eq(s->frame_base_len, 2);
    ck_assert_uint_eq(s->frame_base[0], 0x9f);
    ck_assert_uint_eq(s->nparams, 1);
    ck_assert_str_eq(s->params[0].name, "x");
    ck_assert_uint_eq(s->params[0].type, 3);
    ck_assert_uint_eq(s->params[0].location_len, 3);
    ck_assert_uint_eq(s->params[0].location[0], 0x91);
    ck_assert_uint_eq(s->nvars, 1);
    ck_assert_str_eq(s->vars[0].name, "v");
    ck_assert_uint_eq(s->vars[0].type, 1);
    ck_assert_uint_eq(s->vars[0].decl_line, 9);
    ck_assert_ptr_null(s->vars[0].location);

    /* The v5 line table: dir 0 is absolute, dir 1 relative to comp_dir. */
    rows = vm_debug_rows(d, &n);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(rows[0].address, 2);
    ck_assert_uint_eq(rows[0].line, 1);
    ck_assert_str_eq(vm_debug_file_path(d, rows[0].file), "/src/main.c");
    ck_assert_uint_eq(rows[1].address, 10);
    ck_assert_uint_eq(rows[1].line, 5);
    ck_assert_uint_eq(rows[2].address, 12);
    ck_assert_str_eq(vm_debug_file_path(d, rows[2].file), "/cd/inc/lib.h");
    ck_assert_uint_eq(rows[3].address, 32);
    ck_assert(rows[3].end_sequence);
    /* The entry row's step point moved to the first instruction. */
    ck_assert_ptr_null(vm_debug_step_at(d, cs + BODY_ENTRY));
    ck_assert_ptr_nonnull(vm_debug_step_at(d, cs + BODY_ENTRY + 1));
    ck_assert_uint_eq(vm_debug_step_at(d, cs + BODY_ENTRY + 1)->line, 1);
    ck_assert_uint_eq(vm_debug_step_at(d, cs + BODY_ENTRY + 1)->address,
                      BODY_ENTRY + 1);
    vm_debug_free(d);
}
END_TEST

/* Each breakage gives its error code and a message naming the problem. */
START_TEST(malformed_dwarf_is_an_error)
{
    static const struct {
        breakage k;
        int rc;
        const char *says;
    } cases[] = {
        {{.bad_form = true}, VM_ERR_MALFORMED, "unknown form 0x7f"},
        {{.bad_code = true}, VM_ERR_MALFORMED, "unknown abbreviation code 99"},
        {{.huge_block = true}, VM_ERR_MALFORMED, "unexpected end of data"},
        {{.bad_strx = true}, VM_ERR_MALFORMED, "string index 1000"},
        {{.bad_version = true}, VM_ERR_MALFORMED, "unsupported DWARF version 7"},
        {{.reserved_len = true}, VM_ERR_MALFORMED, "reserved unit length"},
        {{.huge_files = true}, VM_ERR_LIMIT, "file entries"},
        {{.bad_line_len = true}, VM_ERR_MALFORMED, "header_length"},
        {{.depth = 300}, VM_ERR_LIMIT, "nested deeper than 256"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vm_debug *d = (vm_debug *)&d; /* must come back NULL */
        char err[256] = "";
        int rc = dwarf5_load(&cases[i].k, &d, err, sizeof err);
        ck_assert_msg(rc == cases[i].rc, "case %zu: %d (%s)", i, rc, err);
        ck_assert_ptr_null(d);
        ck_assert_msg(strstr(err, cases[i].says) != NULL,
                      "case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].says);
        ck_assert_msg(strncmp(err, "DWARF", 5) == 0, "case %zu: %s", i, err);
    }
    /* Nesting up to the limit is fine. */
    {
        breakage deep = {.depth = 250};
        vm_debug *d = NULL;
        char err[256];
        ck_assert_msg(dwarf5_load(&deep, &d, err, sizeof err) == 0, "%s", err);
        ck_assert_uint_eq(vm_debug_subprogram_get(d, 0)->nvars, 1);
        vm_debug_free(d);
    }
}
END_TEST

START_TEST(no_debug_info_is_not_found)
{
    vm_debug *d = NULL;
    char err[256];
    bytes other = {0};
    custom c[] = {{"producers", &other}};

    u8(&other, 0);
    ck_assert_int_eq(debug_of(c, 1, &d, err, sizeof err), VM_ERR_NOT_FOUND);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(err, "no DWARF"));
    ck_assert_int_eq(vm_debug_new(NULL, &d, err, sizeof err), VM_ERR_ARG);
    /* The NULL object answers every query with "nothing". */
    ck_assert_ptr_null(vm_debug_row_at(NULL, 0));
    ck_assert_ptr_null(vm_debug_func(NULL, 0));
    ck_assert_uint_eq(vm_debug_file_count(NULL), 0);
    vm_debug_free(NULL);
    free(other.p);
}
END_TEST

/* Every truncation and every single-byte corruption of each section
 * loads or fails cleanly (the sanitizer build checks "cleanly"). */
START_TEST(truncated_and_corrupted_sections)
{
    breakage none = {0};
    dwarf5 w = dwarf5_build(&none);
    custom c[7];
    size_t nc = dwarf5_customs(&w, c);
    unsigned ok = 0, failed = 0;

    for (int s = 0; s < 3; s++) { /* info, abbrev, line */
        bytes *sec = (bytes *)c[s].data;
        size_t full = sec->n;
        for (size_t cut = 0; cut < full; cut++) {
            vm_debug *d = NULL;
            char err[256] = "";
            int rc;
            sec->n = cut;
            rc = debug_of(c, nc, &d, err, sizeof err);
            ck_assert_msg(rc == 0 || rc == VM_ERR_MALFORMED ||
                              rc == VM_ERR_LIMIT,
                          "%s cut at %zu: %d", c[s].name, cut, rc);
            ck_assert(rc == 0 || err[0] != '\0');
            rc == 0 ? ok++ : failed++;
            vm_debug_free(d);
        }
        sec->n = full;
        for (size_t at = 0; at < full; at++) {
            for (unsigned flip = 0x01; flip <= 0x80; flip <<= 7) {
                vm_debug *d = NULL;
                char err[256] = "";
                int rc;
                sec->p[at] ^= flip;
                rc = debug_of(c, nc, &d, err, sizeof err);
                sec->p[at] ^= flip;
                ck_assert_msg(rc == 0 || rc == VM_ERR_MALFORMED ||
                                  rc == VM_ERR_LIMIT,
                              "%s byte %zu ^ 0x%x: %d", c[s].name, at, flip,
                              rc);
                ck_assert(rc == 0 || err[0] != '\0');
                rc == 0 ? ok++ : failed++;
                vm_debug_free(d);
            }
        }
    }
    /* Both outcomes happened: the sweep reached past the first check. */
    ck_assert_uint_gt(ok, 10);
    ck_assert_uint_gt(failed, 10);
    dwarf5_free(&w);
}
END_TEST

START_TEST(out_of_memory_is_reported)
{
    breakage none = {0};
    dwarf5 w = dwarf5_build(&none);
    custom c[7];
    size_t nc = dwarf5_customs(&w, c);
    bytes m = make_module(c, nc);
    vm_module *mod = load(&m);
    long n;

    for (n = 1; n < 10000; n++) {
        vm_debug *d = NULL;
        char err[256];
        int rc;
        vm__alloc_fail_after = n;
        rc = vm_debug_new(mod, &d, err, sizeof err);
        vm__alloc_fail_after = -1;
        if (rc == 0) {
            vm_debug_free(d);
            break;
        }
        ck_assert_msg(rc == VM_ERR_NOMEM, "allocation %ld: %d %s", n, rc,
                      err);
        ck_assert_ptr_null(d);
    }
    ck_assert_int_gt(n, 5); /* several allocations were each failed */
    ck_assert_int_lt(n, 10000);
    vm_module_free(mod);
    free(m.p);
    dwarf5_free(&w);
}
END_TEST

/* ---- The programs of tests/debug/ ----------------------------------------- */

typedef struct program {
    uint8_t *bytes;
    size_t len;
    vm_module *m;
    vm_debug *d;
} program;

/* Load tests/debug/NAME.wasm (built by CMake) and its debug info. False
 * when it was not built: the caller returns (a skip), or under CI=1 the
 * test fails. */
static bool program_load(const char *name, program *p)
{
    char path[1024], err[256];
    FILE *f;
    long size;
    const char *ci = getenv("CI");

    memset(p, 0, sizeof *p);
    snprintf(path, sizeof path, "%s/%s.wasm", TRACED_DEBUG_WASM_DIR, name);
    f = fopen(path, "rb");
    if (!f) {
        ck_assert_msg(!(ci && strcmp(ci, "1") == 0),
                      "%s missing (CI=1: clang and wasi-libc must build it)",
                      path);
        fprintf(stderr, "dwarf: SKIPPED: %s was not built (needs clang with "
                        "wasm32-wasi and wasi-libc)\n",
                path);
        return false;
    }
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    ck_assert_int_gt(size, 0);
    rewind(f);
    p->bytes = malloc((size_t)size);
    ck_assert_ptr_nonnull(p->bytes);
    ck_assert_uint_eq(fread(p->bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    p->len = (size_t)size;
    ck_assert_msg(vm_module_new(p->bytes, p->len, NULL, &p->m, err,
                                sizeof err) == 0,
                  "%s: %s", path, err);
    ck_assert_msg(vm_debug_new(p->m, &p->d, err, sizeof err) == 0, "%s: %s",
                  path, err);
    return true;
}

static void program_free(program *p)
{
    vm_debug_free(p->d);
    vm_module_free(p->m);
    free(p->bytes);
}

/* The subprogram named name (there is one in these programs). */
static const vm_debug_subprogram *sub_named(const vm_debug *d,
                                            const char *name)
{
    for (uint32_t i = 0; i < vm_debug_subprogram_count(d); i++) {
        const vm_debug_subprogram *s = vm_debug_subprogram_get(d, i);
        if (s->name && strcmp(s->name, name) == 0)
            return s;
    }
    ck_abort_msg("no subprogram %s", name);
    return NULL;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = s ? strlen(s) : 0, k = strlen(tail);

    return n >= k && strcmp(s + n - k, tail) == 0;
}

static const vm_debug_type *base_of(const vm_debug *d, uint32_t type)
{
    const vm_debug_type *t = vm_debug_type_get(d, vm_debug_type_resolve(d, type));

    ck_assert_ptr_nonnull(t);
    return t;
}

static void check_base(const vm_debug *d, uint32_t type, const char *name,
                       uint32_t encoding, uint32_t size)
{
    const vm_debug_type *t = base_of(d, type);

    ck_assert_int_eq(t->kind, VM_DEBUG_TYPE_BASE);
    ck_assert_str_eq(t->name, name);
    ck_assert_uint_eq(t->encoding, encoding);
    ck_assert_uint_eq(t->byte_size, size);
}

/* The lines of the step points of s's function, in address order. */
static size_t step_lines(const vm_debug *d, const vm_debug_subprogram *s,
                         uint32_t *lines, size_t max)
{
    const vm_debug_row *steps;
    size_t n;

    ck_assert_int_eq(vm_debug_func_steps(d, s->func_idx, &steps, &n), 0);
    ck_assert_uint_le(n, max);
    for (size_t i = 0; i < n; i++) {
        lines[i] = steps[i].line;
        ck_assert_ptr_eq(vm_debug_subprogram_at(d, steps[i].offset), s);
        ck_assert_ptr_eq(vm_debug_step_at(d, steps[i].offset), &steps[i]);
        ck_assert_uint_eq(vm_debug_row_at(d, steps[i].offset)->line,
                          steps[i].line);
    }
    return n;
}

/* recursion.c at -O0, DWARF 4 or 5: the same answers. */
static void check_recursion(const char *variant)
{
    program p;
    const vm_debug_subprogram *fib, *fact, *main_;
    uint32_t lines[64], entry;
    size_t n;

    if (!program_load(variant, &p))
        return;
    fib = sub_named(p.d, "fib");
    ck_assert_uint_eq(fib->decl_line, 6);
    ck_assert_msg(ends_with(vm_debug_file_path(p.d, fib->decl_file),
                            "tests/debug/recursion.c"),
                  "%s", vm_debug_file_path(p.d, fib->decl_file));
    check_base(p.d, fib->return_type, "int", VM_DEBUG_ATE_SIGNED, 4);
    ck_assert_uint_eq(fib->nparams, 1);
    ck_assert_str_eq(fib->params[0].name, "n");
    check_base(p.d, fib->params[0].type, "int", VM_DEBUG_ATE_SIGNED, 4);
    /* Its function: the name section agrees, low_pc is the body's entry. */
    ck_assert_uint_ne(fib->func_idx, VM_DEBUG_NONE);
    ck_assert_str_eq(vm_module_func_name(p.m, fib->func_idx), "fib");
    ck_assert_ptr_eq(vm_debug_func(p.d, fib->func_idx), fib);
    ck_assert_int_eq(vm_debug_func_range(p.d, fib->func_idx, &entry, NULL,
                                         NULL), 0);
    ck_assert_uint_eq(fib->low, entry);
    /* Steps: "{" (7), the if (8), return n (9), the sum (10), "}" (11). */
    n = step_lines(p.d, fib, lines, 64);
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(lines[i], 7 + i);

    fact = sub_named(p.d, "factorial");
    ck_assert_uint_eq(fact->decl_line, 13);
    check_base(p.d, fact->return_type, "unsigned long long",
               VM_DEBUG_ATE_UNSIGNED, 8);
    check_base(p.d, fact->params[0].type, "unsigned int",
               VM_DEBUG_ATE_UNSIGNED, 4);
    ck_assert_uint_eq(fact->nvars, 2);
    ck_assert_str_eq(fact->vars[0].name, "acc");
    ck_assert_uint_eq(fact->vars[0].decl_line, 15);
    ck_assert_str_eq(fact->vars[1].name, "i"); /* in the for's scope */
    ck_assert_uint_eq(fact->vars[1].decl_line, 16);
    n = step_lines(p.d, fact, lines, 64);
    ck_assert_uint_ge(n, 5);
    ck_assert_uint_eq(lines[0], 14);
    for (size_t i = 0; i < n; i++)
        ck_assert(lines[i] >= 14 && lines[i] <= 19);

    main_ = sub_named(p.d, "main");
    ck_assert_uint_eq(main_->decl_line, 21);
    ck_assert_uint_eq(main_->nvars, 2);
    ck_assert_str_eq(main_->vars[0].name, "total");
    n = step_lines(p.d, main_, lines, 64);
    ck_assert_uint_ge(n, 6);
    ck_assert_uint_eq(lines[0], 22);
    ck_assert_uint_eq(lines[1], 23);
    ck_assert_uint_eq(lines[n - 1], 28); /* return 0 */
    program_free(&p);
}

START_TEST(recursion_v4)
{
    check_recursion("recursion-v4");
}
END_TEST

START_TEST(recursion_v5)
{
    check_recursion("recursion-v5");
}
END_TEST

/* DWARF 4 and 5 describe the same code with the same rows. */
START_TEST(v4_and_v5_agree)
{
    program p4, p5;
    const vm_debug_subprogram *s4, *s5;

    if (!program_load("types-v4", &p4))
        return;
    if (!program_load("types-v5", &p5)) {
        program_free(&p4);
        return;
    }
    for (uint32_t i = 0; i < vm_debug_subprogram_count(p5.d); i++) {
        const vm_debug_row *r4, *r5;
        size_t n4, n5;
        s5 = vm_debug_subprogram_get(p5.d, i);
        s4 = vm_debug_subprogram_get(p4.d, i);
        ck_assert_str_eq(s4->name, s5->name);
        ck_assert_uint_eq(s4->low_address, s5->low_address);
        ck_assert_uint_eq(s4->decl_line, s5->decl_line);
        ck_assert_str_eq(vm_debug_file_path(p4.d, s4->decl_file),
                         vm_debug_file_path(p5.d, s5->decl_file));
        ck_assert_int_eq(vm_debug_func_steps(p4.d, s4->func_idx, &r4, &n4),
                         0);
        ck_assert_int_eq(vm_debug_func_steps(p5.d, s5->func_idx, &r5, &n5),
                         0);
        ck_assert_uint_eq(n4, n5);
        for (size_t k = 0; k < n4; k++) {
            ck_assert_uint_eq(r4[k].address, r5[k].address);
            ck_assert_uint_eq(r4[k].line, r5[k].line);
            ck_assert_uint_eq(r4[k].column, r5[k].column);
        }
    }
    program_free(&p4);
    program_free(&p5);
}
END_TEST

static void check_types(const char *variant)
{
    program p;
    const vm_debug_subprogram *mix, *count;
    const vm_debug_type *t;
    static const struct {
        const char *name, *type;
        uint32_t encoding, size;
    } params[] = {
        {"a", "int", VM_DEBUG_ATE_SIGNED, 4},
        {"b", "unsigned int", VM_DEBUG_ATE_UNSIGNED, 4},
        {"c", "long long", VM_DEBUG_ATE_SIGNED, 8},
        {"d", "float", VM_DEBUG_ATE_FLOAT, 4},
        {"e", "double", VM_DEBUG_ATE_FLOAT, 8},
        {"f", "_Bool", VM_DEBUG_ATE_BOOLEAN, 1},
        {"g", "char", VM_DEBUG_ATE_SIGNED_CHAR, 1},
    };

    if (!program_load(variant, &p))
        return;
    mix = sub_named(p.d, "mix");
    ck_assert_uint_eq(mix->decl_line, 15);
    check_base(p.d, mix->return_type, "double", VM_DEBUG_ATE_FLOAT, 8);
    ck_assert_uint_eq(mix->nparams, 8);
    for (size_t i = 0; i < 7; i++) {
        ck_assert_str_eq(mix->params[i].name, params[i].name);
        check_base(p.d, mix->params[i].type, params[i].type,
                   params[i].encoding, params[i].size);
    }
    ck_assert_uint_eq(mix->params[3].decl_line, 16);
    /* h: const char * -> a pointer to const to char. */
    ck_assert_str_eq(mix->params[7].name, "h");
    t = base_of(p.d, mix->params[7].type);
    ck_assert_int_eq(t->kind, VM_DEBUG_TYPE_POINTER);
    ck_assert_uint_eq(t->byte_size, 4);
    ck_assert_int_eq(vm_debug_type_get(p.d, t->target)->kind,
                     VM_DEBUG_TYPE_CONST);
    check_base(p.d, t->target, "char", VM_DEBUG_ATE_SIGNED_CHAR, 1);

    count = sub_named(p.d, "count");
    ck_assert_uint_eq(count->decl_line, 25);
    /* Returns counter_t, a typedef of unsigned int. */
    t = vm_debug_type_get(p.d, count->return_type);
    ck_assert_int_eq(t->kind, VM_DEBUG_TYPE_TYPEDEF);
    ck_assert_str_eq(t->name, "counter_t");
    check_base(p.d, count->return_type, "unsigned int",
               VM_DEBUG_ATE_UNSIGNED, 4);
    ck_assert_uint_eq(count->nparams, 3);
    t = base_of(p.d, count->params[0].type);
    ck_assert_int_eq(t->kind, VM_DEBUG_TYPE_POINTER);
    t = base_of(p.d, t->target);
    ck_assert_int_eq(t->kind, VM_DEBUG_TYPE_STRUCT);
    ck_assert_str_eq(t->name, "point");
    ck_assert_uint_eq(t->byte_size, 8);
    t = vm_debug_type_get(p.d, count->params[1].type);
    ck_assert_int_eq(t->kind, VM_DEBUG_TYPE_ENUM);
    ck_assert_str_eq(t->name, "colour");
    t = vm_debug_type_get(p.d, count->params[2].type);
    ck_assert_int_eq(t->kind, VM_DEBUG_TYPE_VOLATILE);
    check_base(p.d, count->params[2].type, "unsigned int",
               VM_DEBUG_ATE_UNSIGNED, 4);
    program_free(&p);
}

START_TEST(types_v4)
{
    check_types("types-v4");
}
END_TEST

START_TEST(types_v5)
{
    check_types("types-v5");
}
END_TEST

START_TEST(types_optimised)
{
    check_types("types-O2");
}
END_TEST

/* -O2: fib survives as a function (it recurses), factorial is inlined
 * into main and has no code of its own; rows stay inside functions. */
START_TEST(recursion_optimised)
{
    program p;
    const vm_debug_subprogram *fib;
    size_t n;
    const vm_debug_row *rows;

    if (!program_load("recursion-O2", &p))
        return;
    fib = sub_named(p.d, "fib");
    ck_assert_uint_eq(fib->decl_line, 6);
    ck_assert_uint_ne(fib->func_idx, VM_DEBUG_NONE);
    ck_assert_str_eq(fib->params[0].name, "n");
    for (uint32_t i = 0; i < vm_debug_subprogram_count(p.d); i++) {
        const vm_debug_subprogram *s = vm_debug_subprogram_get(p.d, i);
        ck_assert(!s->name || strcmp(s->name, "factorial") != 0);
    }
    rows = vm_debug_rows(p.d, &n);
    ck_assert_uint_gt(n, 10);
    for (size_t i = 0; i < n; i++) {
        ck_assert(i == 0 || rows[i].offset >= rows[i - 1].offset);
        if (!rows[i].end_sequence)
            ck_assert_ptr_nonnull(vm_debug_subprogram_at(p.d, rows[i].offset));
    }
    program_free(&p);
}
END_TEST

/* ---- Running a program: trap and step positions ---------------------------- */

typedef struct run_state {
    const vm_debug *d;
    uint32_t last_offset;
    bool trapped;
    uint32_t trap_offset;
    /* Lines of the step points executed in main, in order (first few). */
    const vm_debug_subprogram *main_;
    uint32_t main_lines[16];
    size_t nmain_lines;
} run_state;

static void on_op(void *user, uint32_t opcode, uint32_t offset)
{
    run_state *r = user;
    const vm_debug_row *step;

    (void)opcode;
    r->last_offset = offset;
    step = vm_debug_step_at(r->d, offset);
    /* A new line, as a lines tracer reports it: a step point whose line
     * differs from the last one seen in main. */
    if (step && r->nmain_lines < 16 && r->main_ &&
        offset >= r->main_->low && offset < r->main_->high &&
        (r->nmain_lines == 0 ||
         r->main_lines[r->nmain_lines - 1] != step->line))
        r->main_lines[r->nmain_lines++] = step->line;
}

static void on_trap(void *user, int code, const char *message)
{
    run_state *r = user;

    (void)message;
    if (code == VM_ERR_TRAP_UNREACHABLE && !r->trapped) {
        r->trapped = true;
        r->trap_offset = r->last_offset;
    }
}

START_TEST(trap_maps_to_its_source_line)
{
    program p;
    run_state r;
    vm_tracer t;
    vm_store *s = NULL;
    vm_wasi *w = NULL;
    vm_wasi_config cfg;
    const vm_debug_row *row;
    const vm_debug_subprogram *sub;
    int32_t exit_code = 0;
    char err[256];
    int rc;

    if (!program_load("trap-v5", &p))
        return;
    memset(&r, 0, sizeof r);
    r.d = p.d;
    r.main_ = sub_named(p.d, "main");
    memset(&t, 0, sizeof t);
    t.user = &r;
    t.op = on_op;
    t.trap = on_trap;
    vm_wasi_config_default(&cfg);
    cfg.stdout_fd = -1;
    ck_assert_int_eq(vm_store_new(NULL, &s), 0);
    ck_assert_int_eq(vm_wasi_new(s, &cfg, &w, err, sizeof err), 0);
    rc = vm_wasi_run_start_traced(w, p.m, &exit_code, NULL, &t, err,
                                  sizeof err);
    ck_assert_msg(rc == VM_ERR_TRAP_UNREACHABLE, "%d %s", rc, err);
    ck_assert(r.trapped);
    /* The unreachable is __builtin_trap() on line 9, inside check(). */
    row = vm_debug_row_at(p.d, r.trap_offset);
    ck_assert_ptr_nonnull(row);
    ck_assert_uint_eq(row->line, 9);
    ck_assert(ends_with(vm_debug_file_path(p.d, row->file), "trap.c"));
    sub = vm_debug_subprogram_at(p.d, r.trap_offset);
    ck_assert_ptr_nonnull(sub);
    ck_assert_str_eq(sub->name, "check");
    ck_assert_uint_eq(sub->decl_line, 6);
    /* main's first statements, as a lines tracer would see them: "{",
     * sum = 0, the for, the call, the printf, the for's increment. */
    ck_assert_uint_ge(r.nmain_lines, 6);
    ck_assert_uint_eq(r.main_lines[0], 14);
    ck_assert_uint_eq(r.main_lines[1], 15);
    ck_assert_uint_eq(r.main_lines[2], 16);
    ck_assert_uint_eq(r.main_lines[3], 17);
    ck_assert_uint_eq(r.main_lines[4], 18);
    ck_assert_uint_eq(r.main_lines[5], 16);
    vm_wasi_free(w);
    vm_store_free(s);
    program_free(&p);
}
END_TEST

Suite *dwarf_suite(void);

Suite *dwarf_suite(void)
{
    Suite *s = suite_create("dwarf");
    TCase *hand = tcase_create("hand");
    TCase *hostile = tcase_create("hostile");
    TCase *programs = tcase_create("programs");

    tcase_add_test(hand, line_program_v4_by_hand);
    tcase_add_test(hand, addresses_convert_both_ways);
    tcase_add_test(hand, info_v5_by_hand);
    tcase_add_test(hand, no_debug_info_is_not_found);
    suite_add_tcase(s, hand);

    tcase_add_test(hostile, malformed_dwarf_is_an_error);
    tcase_add_test(hostile, truncated_and_corrupted_sections);
    tcase_add_test(hostile, out_of_memory_is_reported);
    tcase_set_timeout(hostile, 120);
    suite_add_tcase(s, hostile);

    tcase_add_test(programs, recursion_v4);
    tcase_add_test(programs, recursion_v5);
    tcase_add_test(programs, v4_and_v5_agree);
    tcase_add_test(programs, types_v4);
    tcase_add_test(programs, types_v5);
    tcase_add_test(programs, types_optimised);
    tcase_add_test(programs, recursion_optimised);
    tcase_add_test(programs, trap_maps_to_its_source_line);
    tcase_set_timeout(programs, 60);
    suite_add_tcase(s, programs);
    return s;
}
