/*
 * Interpreter tests: tricky numeric semantics, traps and calls, run on
 * internal code assembled by hand (iops.def layouts) in a hand-built
 * store and instance, so they exercise interp.c alone and do not depend
 * on the decoder or the compiler.
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "code_int.h"
#include "runtime_int.h"

Suite *interp_suite(void);

/* ---- A tiny assembler --------------------------------------------------- */

static const char *const layouts[VM_IOP_COUNT] = {
#define IOP(name, layout, comment) [VM_IOP_##name] = layout,
#include "iops.def"
#undef IOP
};

#define MAX_WORDS 256

typedef struct prog {
    uint32_t words[MAX_WORDS];
    uint32_t n;
    uint32_t starts[MAX_WORDS]; /* where each instruction begins */
    uint32_t ninsns;
} prog;

/* Append one instruction; the operands follow its layout (an 'L' takes
 * one uint64_t argument, BR_TABLE's '*' the n targets). Returns the word
 * index where the instruction starts. */
static uint32_t emit(prog *p, vm__iop op, ...)
{
    va_list ap;
    uint32_t at = p->n, count = 0;

    p->starts[p->ninsns++] = at;
    p->words[p->n++] = op;
    va_start(ap, op);
    for (const char *l = layouts[op]; *l; l++) {
        if (*l == 'L') {
            uint64_t v = va_arg(ap, uint64_t);
            p->words[p->n++] = (uint32_t)v;
            p->words[p->n++] = (uint32_t)(v >> 32);
        } else if (*l == '*') {
            for (uint32_t i = 0; i < count; i++)
                p->words[p->n++] = va_arg(ap, uint32_t);
        } else {
            uint32_t w = va_arg(ap, uint32_t);
            if (*l == 'n')
                count = w;
            p->words[p->n++] = w;
        }
    }
    va_end(ap);
    ck_assert_uint_le(p->n, MAX_WORDS);
    return at;
}

/* ---- A hand-built store and instance ------------------------------------ */

#define NFUNCS 4
#define STACK_SLOTS 4096

typedef struct env {
    vm_store *s;
    vm_instance inst;
    vm_func funcs[NFUNCS];
    vm_func *func_ptrs[NFUNCS];
    vm__code code[NFUNCS];
    vm_memory mem;
    vm_table table;
    vm_table *table_ptrs[1];
    uint32_t type_ids[2];
} env;

static void env_init(env *e)
{
    memset(e, 0, sizeof *e);
    e->s = calloc(1, sizeof *e->s);
    ck_assert_ptr_nonnull(e->s);
    e->s->limits.max_call_depth = 500;
    e->s->stack = calloc(STACK_SLOTS, sizeof(vm__slot));
    ck_assert_ptr_nonnull(e->s->stack);
    e->s->stack_end = e->s->stack + STACK_SLOTS;
    e->s->stack_top = e->s->stack;
    e->s->fuel_on = false;
    e->s->fuel = INT64_MAX;
    atomic_init(&e->s->cancel, false);

    e->mem.pages = 1;
    e->mem.size = VM_PAGE_SIZE;
    e->mem.data = calloc(1, VM_PAGE_SIZE);
    ck_assert_ptr_nonnull(e->mem.data);

    e->table.elem_type = VM_FUNCREF;
    e->table.size = 3;
    e->table.elems = calloc(3, sizeof(void *));
    ck_assert_ptr_nonnull(e->table.elems);
    e->table_ptrs[0] = &e->table;

    e->type_ids[0] = 7; /* (i32) -> i32 */
    e->type_ids[1] = 9; /* anything else */

    e->inst.store = e->s;
    e->inst.funcs = e->func_ptrs;
    e->inst.mem0 = &e->mem;
    e->inst.tables = e->table_ptrs;
    e->inst.type_ids = e->type_ids;
    for (int i = 0; i < NFUNCS; i++) {
        e->funcs[i].inst = &e->inst;
        e->funcs[i].code = &e->code[i];
        e->funcs[i].type_id = 7;
        e->func_ptrs[i] = &e->funcs[i];
    }
}

static void env_close(env *e)
{
    for (int i = 0; i < NFUNCS; i++) {
        free(e->code[i].words);
        free(e->code[i].consts);
    }
    free(e->table.elems);
    free(e->mem.data);
    vm__free(e->s->frames); /* grown by interp.c through vm__realloc */
    free(e->s->stack);
    free(e->s);
}

/*
 * Install p as function i: thread it, and describe its frame (nparams
 * parameter slots, nlocals further locals, the given constants, then
 * ntemps operand-stack slots).
 */
static void env_func(env *e, int i, prog *p, uint32_t nparams,
                     uint32_t nlocals, const vm__slot *consts,
                     uint32_t nconsts, uint32_t ntemps)
{
    const uint32_t *dispatch = vm__interp_dispatch();
    vm__code *c = &e->code[i];

    c->words = malloc(p->n * sizeof *c->words);
    ck_assert_ptr_nonnull(c->words);
    memcpy(c->words, p->words, p->n * sizeof *c->words);
    for (uint32_t k = 0; k < p->ninsns; k++)
        c->words[p->starts[k]] = dispatch[c->words[p->starts[k]]];
    c->nwords = p->n;
    c->nparam_slots = nparams;
    c->nresult_slots = 1;
    c->nlocal_slots = nparams + nlocals;
    c->nconsts = nconsts;
    c->consts = NULL;
    if (nconsts) {
        c->consts = malloc(nconsts * sizeof *c->consts);
        ck_assert_ptr_nonnull(c->consts);
        memcpy(c->consts, consts, nconsts * sizeof *c->consts);
    }
    c->temp_base = c->nlocal_slots + nconsts;
    c->frame_slots = c->temp_base + ntemps;
}

static int env_call(env *e, int i, const vm__slot *args, uint32_t nargs,
                    vm__slot *result)
{
    vm__slot *sp = e->s->stack_top;
    int rc;

    memcpy(sp, args, nargs * sizeof *sp);
    rc = vm__interp_call(e->s, &e->funcs[i], sp);
    ck_assert_uint_eq(e->s->depth, 0);
    ck_assert_ptr_eq(e->s->stack_top, sp);
    if (rc == 0 && result)
        *result = sp[0];
    return rc;
}

/* Run a one-instruction function: "op d=1 s=0" (unary) or "op d=2 s=0
 * s=1" (binary), then return the result slot. */
static int run_op(vm__iop op, uint64_t a, uint64_t b, uint64_t *out)
{
    env e;
    prog p = {0};
    vm__slot args[2] = {a, b}, res = 0;
    int unary = strcmp(layouts[op], "ds") == 0, rc;

    env_init(&e);
    if (unary) {
        emit(&p, op, 1u, 0u);
        emit(&p, VM_IOP_RETURN, 1u, 1u);
        env_func(&e, 0, &p, 1, 0, NULL, 0, 1);
    } else {
        emit(&p, op, 2u, 0u, 1u);
        emit(&p, VM_IOP_RETURN, 2u, 1u);
        env_func(&e, 0, &p, 2, 0, NULL, 0, 1);
    }
    rc = env_call(&e, 0, args, 2, &res);
    env_close(&e);
    *out = res;
    return rc;
}

static uint32_t f32b(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static uint64_t f64b(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* Result of a non-trapping op, truncated to 32 bits. */
static uint32_t op32(vm__iop op, uint64_t a, uint64_t b)
{
    uint64_t r;
    ck_assert_int_eq(run_op(op, a, b, &r), 0);
    return (uint32_t)r;
}

static uint64_t op64(vm__iop op, uint64_t a, uint64_t b)
{
    uint64_t r;
    ck_assert_int_eq(run_op(op, a, b, &r), 0);
    return r;
}

static int op_rc(vm__iop op, uint64_t a, uint64_t b)
{
    uint64_t r;
    return run_op(op, a, b, &r);
}

/* ---- Tests -------------------------------------------------------------- */

START_TEST(test_dispatch_table)
{
    const uint32_t *d = vm__interp_dispatch();
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_eq(d, vm__interp_dispatch());
#if !VM_COMPUTED_GOTO
    for (uint32_t i = 0; i < VM_IOP_COUNT; i++)
        ck_assert_uint_eq(d[i], i);
#endif
}
END_TEST

START_TEST(test_int_division)
{
    /* The high 32 bits of an i32 slot are garbage and must be ignored. */
    ck_assert_int_eq(op_rc(VM_IOP_I32_DIV_S, 0x80000000u, 0xffffffffu),
                     VM_ERR_TRAP_INT_OVERFLOW);
    ck_assert_int_eq(op_rc(VM_IOP_I32_DIV_S, 1, 0xdead00000000ull),
                     VM_ERR_TRAP_DIV_ZERO);
    ck_assert_int_eq(op_rc(VM_IOP_I32_DIV_U, 1, 0), VM_ERR_TRAP_DIV_ZERO);
    ck_assert_int_eq(op_rc(VM_IOP_I32_REM_S, 1, 0), VM_ERR_TRAP_DIV_ZERO);
    ck_assert_int_eq(op_rc(VM_IOP_I32_REM_U, 1, 0), VM_ERR_TRAP_DIV_ZERO);
    ck_assert_uint_eq(op32(VM_IOP_I32_REM_S, 0x80000000u, 0xffffffffu), 0);
    ck_assert_uint_eq(op32(VM_IOP_I32_DIV_S, (uint32_t)-7, 2), (uint32_t)-3);
    ck_assert_uint_eq(op32(VM_IOP_I32_REM_S, (uint32_t)-7, 2), (uint32_t)-1);
    ck_assert_int_eq(op_rc(VM_IOP_I64_DIV_S, 0x8000000000000000ull,
                           UINT64_MAX), VM_ERR_TRAP_INT_OVERFLOW);
    ck_assert_int_eq(op_rc(VM_IOP_I64_DIV_U, 5, 0), VM_ERR_TRAP_DIV_ZERO);
    ck_assert_uint_eq(op64(VM_IOP_I64_REM_S, 0x8000000000000000ull,
                           UINT64_MAX), 0);
    ck_assert_uint_eq(op64(VM_IOP_I64_DIV_U, UINT64_MAX, 2),
                      0x7fffffffffffffffull);
}
END_TEST

START_TEST(test_int_bits)
{
    ck_assert_uint_eq(op32(VM_IOP_I32_CLZ, 0, 0), 32);
    ck_assert_uint_eq(op32(VM_IOP_I32_CTZ, 0xffffffff00000000ull, 0), 32);
    ck_assert_uint_eq(op64(VM_IOP_I64_CLZ, 0, 0), 64);
    ck_assert_uint_eq(op64(VM_IOP_I64_CTZ, 0x8000000000000000ull, 0), 63);
    ck_assert_uint_eq(op32(VM_IOP_I32_SHL, 1, 33), 2);
    ck_assert_uint_eq(op32(VM_IOP_I32_SHR_S, 0x80000000u, 31), 0xffffffffu);
    ck_assert_uint_eq(op32(VM_IOP_I32_ROTL, 0x80000001u, 1), 3);
    ck_assert_uint_eq(op32(VM_IOP_I32_ROTR, 1, 32), 1);
    ck_assert_uint_eq(op64(VM_IOP_I64_ROTL, 0x8000000000000000ull, 65), 1);
    ck_assert_uint_eq(op64(VM_IOP_I64_SHR_S, 0x8000000000000000ull, 127),
                      UINT64_MAX);
    ck_assert_uint_eq(op64(VM_IOP_I64_EXTEND_I32_S, 0x80000000u, 0),
                      0xffffffff80000000ull);
    ck_assert_uint_eq(op64(VM_IOP_I64_EXTEND_I32_U, 0x1234567880000000ull, 0),
                      0x80000000ull);
    ck_assert_uint_eq(op32(VM_IOP_I32_EXTEND8_S, 0x80, 0), 0xffffff80u);
    ck_assert_uint_eq(op64(VM_IOP_I64_EXTEND32_S, 0x80000000u, 0),
                      0xffffffff80000000ull);
    ck_assert_uint_eq(op32(VM_IOP_I32_LT_S, 0xffffffffu, 0), 1);
    ck_assert_uint_eq(op32(VM_IOP_I32_LT_U, 0xffffffffu, 0), 0);
}
END_TEST

START_TEST(test_float_min_max)
{
    uint32_t nz = 0x80000000u, pz = 0;
    ck_assert_uint_eq(op32(VM_IOP_F32_MIN, nz, pz), nz);
    ck_assert_uint_eq(op32(VM_IOP_F32_MIN, pz, nz), nz);
    ck_assert_uint_eq(op32(VM_IOP_F32_MAX, nz, pz), pz);
    ck_assert_uint_eq(op32(VM_IOP_F32_MAX, pz, nz), pz);
    ck_assert_uint_eq(op64(VM_IOP_F64_MIN, f64b(-0.0), f64b(0.0)),
                      f64b(-0.0));
    ck_assert_uint_eq(op64(VM_IOP_F64_MAX, f64b(-0.0), f64b(0.0)),
                      f64b(0.0));
    /* NaN wins over everything, and stays NaN with the quiet bit set. */
    uint32_t r = op32(VM_IOP_F32_MIN, f32b(-INFINITY), 0x7fa00000u);
    ck_assert_uint_eq(r & 0x7fc00000u, 0x7fc00000u);
    r = op32(VM_IOP_F32_MAX, 0x7fc00000u, f32b(INFINITY));
    ck_assert_uint_eq(r & 0x7fffffffu, 0x7fc00000u);
    uint64_t q = op64(VM_IOP_F64_MAX, f64b(1.0), 0xfff8000000000000ull);
    ck_assert_uint_eq(q & 0x7fffffffffffffffull, 0x7ff8000000000000ull);
    ck_assert_uint_eq(op32(VM_IOP_F32_MIN, f32b(1.0f), f32b(2.0f)),
                      f32b(1.0f));
}
END_TEST

START_TEST(test_float_rounding)
{
    ck_assert_uint_eq(op32(VM_IOP_F32_NEAREST, f32b(2.5f), 0), f32b(2.0f));
    ck_assert_uint_eq(op32(VM_IOP_F32_NEAREST, f32b(3.5f), 0), f32b(4.0f));
    ck_assert_uint_eq(op32(VM_IOP_F32_NEAREST, f32b(-0.5f), 0), 0x80000000u);
    ck_assert_uint_eq(op64(VM_IOP_F64_NEAREST, f64b(2.5), 0), f64b(2.0));
    ck_assert_uint_eq(op64(VM_IOP_F64_NEAREST, f64b(-1.5), 0), f64b(-2.0));
    ck_assert_uint_eq(op32(VM_IOP_F32_CEIL, f32b(-0.5f), 0), 0x80000000u);
    ck_assert_uint_eq(op32(VM_IOP_F32_FLOOR, f32b(-0.5f), 0), f32b(-1.0f));
    ck_assert_uint_eq(op64(VM_IOP_F64_TRUNC, f64b(-1.9), 0), f64b(-1.0));
    /* u64 -> f32 needs the sticky bit: a double rounding gives 2^63. */
    ck_assert_uint_eq(op32(VM_IOP_F32_CONVERT_I64_U, 0x8000008000000001ull,
                           0), 0x5f000001u);
    ck_assert_uint_eq(op64(VM_IOP_F64_CONVERT_I64_U, 0x8000000000000401ull,
                           0), 0x43e0000000000001ull);
    ck_assert_uint_eq(op32(VM_IOP_F32_CONVERT_I64_S, 0x0020000020000001ull,
                           0), 0x5a000001u);
    ck_assert_uint_eq(op32(VM_IOP_F32_DEMOTE_F64, f64b(0x1.fffffffp-1), 0),
                      f32b(1.0f));
}
END_TEST

START_TEST(test_float_bits)
{
    /* abs, neg and copysign touch the sign bit only, NaN or not. */
    ck_assert_uint_eq(op32(VM_IOP_F32_NEG, 0x7fa00001u, 0), 0xffa00001u);
    ck_assert_uint_eq(op32(VM_IOP_F32_ABS, 0xffa00001u, 0), 0x7fa00001u);
    ck_assert_uint_eq(op32(VM_IOP_F32_COPYSIGN, 0x7fa00001u, 0x80000000u),
                      0xffa00001u);
    ck_assert_uint_eq(op64(VM_IOP_F64_NEG, 0x7ff0000000000001ull, 0),
                      0xfff0000000000001ull);
    ck_assert_uint_eq(op64(VM_IOP_F64_ABS, 0xfff4000000000000ull, 0),
                      0x7ff4000000000000ull);
    ck_assert_uint_eq(op64(VM_IOP_F64_COPYSIGN, f64b(2.0), f64b(-0.0)),
                      f64b(-2.0));
    /* Arithmetic on a signalling NaN yields an arithmetic (quiet) NaN. */
    uint32_t r = op32(VM_IOP_F32_ADD, 0x7fa00000u, f32b(1.0f));
    ck_assert_uint_eq(r & 0x7fc00000u, 0x7fc00000u);
    uint64_t q = op64(VM_IOP_F64_SQRT, f64b(-1.0), 0);
    ck_assert_uint_eq(q & 0x7ff8000000000000ull, 0x7ff8000000000000ull);
    /* Comparisons with NaN. */
    ck_assert_uint_eq(op32(VM_IOP_F32_EQ, 0x7fc00000u, 0x7fc00000u), 0);
    ck_assert_uint_eq(op32(VM_IOP_F32_NE, 0x7fc00000u, 0x7fc00000u), 1);
    ck_assert_uint_eq(op32(VM_IOP_F64_LE, f64b(NAN), f64b(1.0)), 0);
    ck_assert_uint_eq(op32(VM_IOP_F32_EQ, 0x80000000u, 0), 1);
}
END_TEST

START_TEST(test_trunc_boundaries)
{
    /* i64.trunc_f64_s: [-2^63, 2^63). */
    ck_assert_uint_eq(op64(VM_IOP_I64_TRUNC_F64_S, f64b(-0x1p63), 0),
                      0x8000000000000000ull);
    ck_assert_uint_eq(op64(VM_IOP_I64_TRUNC_F64_S, f64b(0x1.fffffffffffffp62),
                           0), 0x7ffffffffffffc00ull);
    ck_assert_int_eq(op_rc(VM_IOP_I64_TRUNC_F64_S, f64b(0x1p63), 0),
                     VM_ERR_TRAP_INT_OVERFLOW);
    ck_assert_int_eq(op_rc(VM_IOP_I64_TRUNC_F64_S, f64b(-0x1.0000000000001p63),
                           0), VM_ERR_TRAP_INT_OVERFLOW);
    ck_assert_int_eq(op_rc(VM_IOP_I64_TRUNC_F64_S, f64b(NAN), 0),
                     VM_ERR_TRAP_INVALID_CONV);
    ck_assert_int_eq(op_rc(VM_IOP_I64_TRUNC_F64_S, f64b(INFINITY), 0),
                     VM_ERR_TRAP_INT_OVERFLOW);
    /* i32.trunc_f64_s: (-2^31 - 1, 2^31). */
    ck_assert_uint_eq(op32(VM_IOP_I32_TRUNC_F64_S, f64b(-2147483648.9), 0),
                      0x80000000u);
    ck_assert_int_eq(op_rc(VM_IOP_I32_TRUNC_F64_S, f64b(-2147483649.0), 0),
                     VM_ERR_TRAP_INT_OVERFLOW);
    ck_assert_uint_eq(op32(VM_IOP_I32_TRUNC_F64_S, f64b(2147483647.9), 0),
                      0x7fffffffu);
    ck_assert_int_eq(op_rc(VM_IOP_I32_TRUNC_F64_S, f64b(2147483648.0), 0),
                     VM_ERR_TRAP_INT_OVERFLOW);
    /* Unsigned: (-1, 2^N). */
    ck_assert_uint_eq(op32(VM_IOP_I32_TRUNC_F32_U, f32b(-0.9f), 0), 0);
    ck_assert_int_eq(op_rc(VM_IOP_I32_TRUNC_F32_U, f32b(-1.0f), 0),
                     VM_ERR_TRAP_INT_OVERFLOW);
    ck_assert_uint_eq(op32(VM_IOP_I32_TRUNC_F64_U, f64b(4294967295.9), 0),
                      0xffffffffu);
    ck_assert_int_eq(op_rc(VM_IOP_I32_TRUNC_F64_U, f64b(4294967296.0), 0),
                     VM_ERR_TRAP_INT_OVERFLOW);
    ck_assert_uint_eq(op64(VM_IOP_I64_TRUNC_F64_U, f64b(0x1.fffffffffffffp63),
                           0), 0xfffffffffffff800ull);
    ck_assert_int_eq(op_rc(VM_IOP_I64_TRUNC_F32_U, f32b(0x1p64f), 0),
                     VM_ERR_TRAP_INT_OVERFLOW);
    ck_assert_int_eq(op_rc(VM_IOP_I32_TRUNC_F32_S, 0x7fc00000u, 0),
                     VM_ERR_TRAP_INVALID_CONV);
    ck_assert_uint_eq(op32(VM_IOP_I32_TRUNC_F32_S, f32b(-0x1p31f), 0),
                      0x80000000u);
    ck_assert_int_eq(op_rc(VM_IOP_I32_TRUNC_F32_S, f32b(0x1p31f), 0),
                     VM_ERR_TRAP_INT_OVERFLOW);
}
END_TEST

START_TEST(test_trunc_sat)
{
    ck_assert_uint_eq(op32(VM_IOP_I32_TRUNC_SAT_F32_S, 0x7fc00000u, 0), 0);
    ck_assert_uint_eq(op32(VM_IOP_I32_TRUNC_SAT_F32_S, f32b(-1e10f), 0),
                      0x80000000u);
    ck_assert_uint_eq(op32(VM_IOP_I32_TRUNC_SAT_F64_S, f64b(1e10), 0),
                      0x7fffffffu);
    ck_assert_uint_eq(op32(VM_IOP_I32_TRUNC_SAT_F64_S, f64b(-2147483648.9),
                           0), 0x80000000u);
    ck_assert_uint_eq(op32(VM_IOP_I32_TRUNC_SAT_F64_U, f64b(-5.0), 0), 0);
    ck_assert_uint_eq(op32(VM_IOP_I32_TRUNC_SAT_F64_U, f64b(1e12), 0),
                      0xffffffffu);
    ck_assert_uint_eq(op64(VM_IOP_I64_TRUNC_SAT_F64_S, f64b(-INFINITY), 0),
                      0x8000000000000000ull);
    ck_assert_uint_eq(op64(VM_IOP_I64_TRUNC_SAT_F64_S, f64b(0x1p63), 0),
                      0x7fffffffffffffffull);
    ck_assert_uint_eq(op64(VM_IOP_I64_TRUNC_SAT_F32_U, f32b(INFINITY), 0),
                      UINT64_MAX);
    ck_assert_uint_eq(op64(VM_IOP_I64_TRUNC_SAT_F64_U, f64b(NAN), 0), 0);
}
END_TEST

/* Load/store i32 at address a with offset o in a one-page memory. */
static int mem_access(vm__iop op, uint32_t addr, uint32_t offset,
                      uint64_t *out)
{
    env e;
    prog p = {0};
    vm__slot args[2] = {addr, 0x11223344u}, res = 0;
    int rc;

    env_init(&e);
    memcpy(e.mem.data + VM_PAGE_SIZE - 4, "\x01\x02\x03\x04", 4);
    if (layouts[op][0] == 'd') {
        emit(&p, op, 2u, 0u, offset);
        emit(&p, VM_IOP_RETURN, 2u, 1u);
    } else {
        emit(&p, op, 0u, 1u, offset);
        emit(&p, VM_IOP_I32_LOAD, 2u, 0u, offset);
        emit(&p, VM_IOP_RETURN, 2u, 1u);
    }
    env_func(&e, 0, &p, 2, 0, NULL, 0, 1);
    rc = env_call(&e, 0, args, 2, &res);
    env_close(&e);
    *out = res;
    return rc;
}

START_TEST(test_memory_bounds)
{
    uint64_t r;
    ck_assert_int_eq(mem_access(VM_IOP_I32_LOAD, VM_PAGE_SIZE - 4, 0, &r), 0);
    ck_assert_uint_eq((uint32_t)r, 0x04030201u);
    ck_assert_int_eq(mem_access(VM_IOP_I32_LOAD, VM_PAGE_SIZE - 8, 4, &r), 0);
    ck_assert_int_eq(mem_access(VM_IOP_I32_LOAD, VM_PAGE_SIZE - 3, 0, &r),
                     VM_ERR_TRAP_MEM_OOB);
    ck_assert_int_eq(mem_access(VM_IOP_I32_LOAD8_U, VM_PAGE_SIZE - 1, 0, &r),
                     0);
    ck_assert_uint_eq(r, 4);
    ck_assert_int_eq(mem_access(VM_IOP_I32_LOAD8_S, VM_PAGE_SIZE, 0, &r),
                     VM_ERR_TRAP_MEM_OOB);
    /* address + offset is computed in 33 bits: no wrap-around. */
    ck_assert_int_eq(mem_access(VM_IOP_I32_LOAD, 0xffffffffu, 1, &r),
                     VM_ERR_TRAP_MEM_OOB);
    ck_assert_int_eq(mem_access(VM_IOP_I32_LOAD, 4, 0xfffffffcu, &r),
                     VM_ERR_TRAP_MEM_OOB);
    ck_assert_int_eq(mem_access(VM_IOP_I64_LOAD, VM_PAGE_SIZE - 7, 0, &r),
                     VM_ERR_TRAP_MEM_OOB);
    ck_assert_int_eq(mem_access(VM_IOP_I32_STORE, VM_PAGE_SIZE - 4, 0, &r),
                     0);
    ck_assert_uint_eq((uint32_t)r, 0x11223344u);
    ck_assert_int_eq(mem_access(VM_IOP_I32_STORE16, VM_PAGE_SIZE - 1, 0, &r),
                     VM_ERR_TRAP_MEM_OOB);
    ck_assert_int_eq(mem_access(VM_IOP_I64_STORE, VM_PAGE_SIZE - 8, 0, &r),
                     0);
}
END_TEST

/* memory.fill (dst, 0x1ab, n), then memory.copy (n, dst, n). */
static int mem_fill(uint32_t dst, uint32_t n)
{
    env e;
    prog p = {0};
    vm__slot args[3] = {dst, 0x1ab, n};
    int rc;

    env_init(&e);
    emit(&p, VM_IOP_MEMORY_FILL, 0u, 1u, 2u);
    emit(&p, VM_IOP_MEMORY_COPY, 2u, 0u, 2u); /* copy n bytes to n */
    emit(&p, VM_IOP_RETURN, 0u, 1u);
    env_func(&e, 0, &p, 3, 0, NULL, 0, 1);
    rc = env_call(&e, 0, args, 3, NULL);
    if (rc == 0 && n)
        ck_assert_uint_eq(e.mem.data[dst + n - 1], 0xab);
    if (rc != 0 && dst < VM_PAGE_SIZE) /* checked before any write */
        ck_assert_uint_eq(e.mem.data[dst], 0);
    env_close(&e);
    return rc;
}

START_TEST(test_bulk_memory_bounds)
{
    ck_assert_int_eq(mem_fill(VM_PAGE_SIZE - 16, 17), VM_ERR_TRAP_MEM_OOB);
    ck_assert_int_eq(mem_fill(VM_PAGE_SIZE - 16, 16), 0);
    ck_assert_int_eq(mem_fill(0, 16), 0);
    ck_assert_int_eq(mem_fill(VM_PAGE_SIZE, 0), 0); /* n = 0 at the end */
    ck_assert_int_eq(mem_fill(VM_PAGE_SIZE + 1, 0), VM_ERR_TRAP_MEM_OOB);
    ck_assert_int_eq(mem_fill(VM_PAGE_SIZE - 1, 2), VM_ERR_TRAP_MEM_OOB);
}
END_TEST

/* fib(n) = n < 2 ? n : fib(n - 1) + fib(n - 2), the way compile.c lays
 * it out: slot 0 = n, consts 1 and 2 in slots 1 and 2, temps from 3. */
static void env_fib(env *e)
{
    prog p = {0};
    vm__slot consts[2] = {1, 2};
    uint32_t br, rec;

    br = emit(&p, VM_IOP_BR_UNLESS_I32_LT_S, 0u, 2u, 0u);
    emit(&p, VM_IOP_RETURN, 0u, 1u);
    rec = emit(&p, VM_IOP_I32_SUB, 3u, 0u, 1u);
    p.words[br + 3] = rec;
    emit(&p, VM_IOP_CALL, 0u, 3u);
    emit(&p, VM_IOP_I32_SUB, 4u, 0u, 2u);
    emit(&p, VM_IOP_CALL, 0u, 4u);
    emit(&p, VM_IOP_I32_ADD, 3u, 3u, 4u);
    emit(&p, VM_IOP_RETURN, 3u, 1u);
    env_func(e, 0, &p, 1, 0, consts, 2, 2);
}

START_TEST(test_recursion)
{
    env e;
    vm__slot arg = 20, res;

    env_init(&e);
    env_fib(&e);
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res), 0);
    ck_assert_uint_eq((uint32_t)res, 6765);
    env_close(&e);
}
END_TEST

START_TEST(test_call_stack_exhaustion)
{
    env e;
    prog p = {0};
    vm__slot arg = 0, res;

    /* f(x) = f(x) + 1: never returns. */
    env_init(&e);
    emit(&p, VM_IOP_COPY, 1u, 0u);
    emit(&p, VM_IOP_CALL, 0u, 1u);
    emit(&p, VM_IOP_RETURN, 1u, 1u);
    env_func(&e, 0, &p, 1, 0, NULL, 0, 1);
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res),
                     VM_ERR_TRAP_EXHAUSTION);
    ck_assert_int_eq(strncmp(e.s->trap_msg, "call stack exhausted", 20), 0);
    /* The value stack is checked as well as the depth. */
    e.s->limits.max_call_depth = 1000000;
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res),
                     VM_ERR_TRAP_EXHAUSTION);
    /* And the store still works afterwards. */
    env_fib(&e);
    arg = 10;
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res), 0);
    ck_assert_uint_eq((uint32_t)res, 55);
    env_close(&e);
}
END_TEST

START_TEST(test_call_indirect)
{
    env e;
    prog p = {0}, q = {0};
    vm__slot arg, res;

    env_init(&e);
    /* f0(i) = call_indirect (type 0) table[i] (i) */
    emit(&p, VM_IOP_COPY, 2u, 0u);
    emit(&p, VM_IOP_CALL_INDIRECT, 0u, 0u, 0u, 2u);
    emit(&p, VM_IOP_RETURN, 2u, 1u);
    env_func(&e, 0, &p, 1, 1, NULL, 0, 1);
    /* f1(x) = x + 100 */
    vm__slot c = 100;
    emit(&q, VM_IOP_I32_ADD, 2u, 0u, 1u);
    emit(&q, VM_IOP_RETURN, 2u, 1u);
    env_func(&e, 1, &q, 1, 0, &c, 1, 1);
    e.funcs[2] = e.funcs[1];
    e.funcs[2].type_id = 9;
    e.table.elems[0] = &e.funcs[1];
    e.table.elems[2] = &e.funcs[2];

    arg = 0;
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res), 0);
    ck_assert_uint_eq((uint32_t)res, 100);
    arg = 1;
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res),
                     VM_ERR_TRAP_UNINIT_ELEM);
    arg = 2;
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res),
                     VM_ERR_TRAP_INDIRECT_TYPE);
    arg = 3;
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res),
                     VM_ERR_TRAP_UNDEF_ELEM);
    env_close(&e);
}
END_TEST

START_TEST(test_br_table)
{
    env e;
    prog p = {0};
    uint32_t bt, t[3];
    vm__slot arg, res;

    /* return (10, 20, 30)[min(i, 2)] */
    env_init(&e);
    bt = emit(&p, VM_IOP_BR_TABLE, 0u, 3u, 0u, 0u, 0u);
    for (int i = 0; i < 3; i++) {
        t[i] = emit(&p, VM_IOP_I32_CONST, 1u, 10u * (i + 1));
        emit(&p, VM_IOP_RETURN, 1u, 1u);
    }
    for (int i = 0; i < 3; i++)
        p.words[bt + 3 + i] = t[i];
    env_func(&e, 0, &p, 1, 0, NULL, 0, 1);
    for (uint32_t i = 0; i < 5; i++) {
        arg = i;
        ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res), 0);
        ck_assert_uint_eq((uint32_t)res, i < 2 ? 10 * (i + 1) : 30);
    }
    arg = 0xffffffffu;
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res), 0);
    ck_assert_uint_eq((uint32_t)res, 30);
    env_close(&e);
}
END_TEST

START_TEST(test_fuel)
{
    env e;
    prog p = {0};
    vm__slot arg = 0, res;

    /* loop: fuel 1; br loop */
    env_init(&e);
    emit(&p, VM_IOP_FUEL, 1u);
    emit(&p, VM_IOP_BR, 0u);
    env_func(&e, 0, &p, 1, 0, NULL, 0, 1);
    e.s->fuel_on = true;
    e.s->fuel = 1000;
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res), VM_ERR_FUEL);
    ck_assert_int_eq(e.s->fuel, 0);
    /* Cancellation is seen at the next fuel check, fuel on or off. */
    e.s->fuel_on = false;
    e.s->fuel = INT64_MAX;
    atomic_store(&e.s->cancel, true);
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res), VM_ERR_CANCELLED);
    env_close(&e);
}
END_TEST

START_TEST(test_unreachable)
{
    env e;
    prog p = {0};
    vm__slot arg = 0;

    env_init(&e);
    emit(&p, VM_IOP_UNREACHABLE);
    env_func(&e, 0, &p, 1, 0, NULL, 0, 1);
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, NULL),
                     VM_ERR_TRAP_UNREACHABLE);
    ck_assert_int_eq(strncmp(e.s->trap_msg, "unreachable", 11), 0);
    env_close(&e);
}
END_TEST

START_TEST(test_cross_instance_call)
{
    env e;
    vm_instance other;
    vm_memory other_mem;
    uint8_t other_bytes[16] = {0};
    vm_func *other_funcs[1];
    prog f = {0}, g = {0};
    vm__slot arg = 4, res;

    env_init(&e);
    /* g, defined by another instance: load i32 at x from *its* memory. */
    other = e.inst;
    other.mem0 = &other_mem;
    other.funcs = other_funcs;
    other_mem = e.mem;
    other_mem.data = other_bytes;
    other_mem.size = sizeof other_bytes;
    memcpy(other_bytes + 4, "\x22\x22\x22\x22", 4);
    memcpy(e.mem.data + 4, "\x11\x11\x11\x11", 4);
    emit(&g, VM_IOP_I32_LOAD, 0u, 0u, 0u);
    emit(&g, VM_IOP_RETURN, 0u, 1u);
    env_func(&e, 1, &g, 1, 0, NULL, 0, 0);
    e.funcs[1].inst = &other;
    other_funcs[0] = &e.funcs[1];
    /* f(x) = g(x) + load(x), the load from this instance's memory */
    emit(&f, VM_IOP_COPY, 1u, 0u);
    emit(&f, VM_IOP_CALL, 1u, 1u);
    emit(&f, VM_IOP_I32_LOAD, 2u, 0u, 0u);
    emit(&f, VM_IOP_I32_ADD, 1u, 1u, 2u);
    emit(&f, VM_IOP_RETURN, 1u, 1u);
    env_func(&e, 0, &f, 1, 0, NULL, 0, 2);
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res), 0);
    ck_assert_uint_eq((uint32_t)res, 0x33333333u);
    /* Bounds come from the callee's memory: 16 bytes there. */
    arg = 13;
    ck_assert_int_eq(env_call(&e, 0, &arg, 1, &res), VM_ERR_TRAP_MEM_OOB);
    env_close(&e);
}
END_TEST

/* Host function h(x) = g(x): calls back into wasm function 1 of the env
 * (a re-entrant vm__interp_call above the caller's frame). */
static int host_reenter(vm_host_call *c, const vm_val *args, vm_val *results)
{
    vm_store *s = c->store;
    env *e = c->callee->host_user;
    vm__slot *sp = s->stack_top;
    uint32_t depth = s->depth;
    int rc;

    ck_assert_ptr_eq(c->caller, &e->inst);
    sp[0] = (uint32_t)args[0].of.i32;
    rc = vm__interp_call(s, &e->funcs[1], sp);
    ck_assert_uint_eq(s->depth, depth);
    ck_assert_ptr_eq(s->stack_top, sp);
    results[0].type = VM_I32;
    results[0].of.i32 = (int32_t)sp[0];
    return rc;
}

START_TEST(test_reentrant_host_call)
{
    static uint8_t i32_to_i32[2] = {VM_I32, VM_I32};
    env e;
    prog f = {0}, g = {0}, w = {0};
    vm__slot one = 1, gconsts[3] = {1, 2, 0xdead}, arg, res;
    uint32_t to_trap, to_ret;

    env_init(&e);
    /* f0(x) = h(x) + 1, h the host function 3 */
    emit(&f, VM_IOP_COPY, 2u, 0u);
    emit(&f, VM_IOP_CALL, 3u, 2u);
    emit(&f, VM_IOP_I32_ADD, 2u, 2u, 1u);
    emit(&f, VM_IOP_RETURN, 2u, 1u);
    env_func(&e, 0, &f, 1, 0, &one, 1, 1);
    /* g(n) = n == 0xdead ? unreachable : n == 0 ? 0 : g(n - 1) + 2 */
    to_trap = emit(&g, VM_IOP_BR_UNLESS_I32_NE, 0u, 3u, 0u);
    to_ret = emit(&g, VM_IOP_BR_IF_I32_EQZ, 0u, 0u);
    emit(&g, VM_IOP_I32_SUB, 4u, 0u, 1u);
    emit(&g, VM_IOP_CALL, 1u, 4u);
    emit(&g, VM_IOP_I32_ADD, 4u, 4u, 2u);
    emit(&g, VM_IOP_RETURN, 4u, 1u);
    g.words[to_ret + 2] = emit(&g, VM_IOP_RETURN, 0u, 1u);
    g.words[to_trap + 3] = emit(&g, VM_IOP_UNREACHABLE);
    env_func(&e, 1, &g, 1, 0, gconsts, 3, 1);
    e.funcs[3].inst = NULL;
    e.funcs[3].code = NULL;
    e.funcs[3].type = &(vm__functype){1, 1, i32_to_i32};
    e.funcs[3].host = host_reenter;
    e.funcs[3].host_user = &e;
    /* w(x) = f0(x): a wasm frame between the entry and the host call,
     * whose saved state must survive the frame array moving. */
    emit(&w, VM_IOP_COPY, 1u, 0u);
    emit(&w, VM_IOP_CALL, 0u, 1u);
    emit(&w, VM_IOP_RETURN, 1u, 1u);
    env_func(&e, 2, &w, 1, 0, NULL, 0, 1);

    arg = 5;
    ck_assert_int_eq(env_call(&e, 2, &arg, 1, &res), 0);
    ck_assert_uint_eq((uint32_t)res, 11);
    /* Deep enough that the nested call grows (moves) the frame array
     * under the outer one, which must still return correctly. */
    arg = 300;
    ck_assert_int_eq(env_call(&e, 2, &arg, 1, &res), 0);
    ck_assert_uint_eq((uint32_t)res, 601);
    /* A trap in the nested call unwinds both levels. */
    arg = 0xdead;
    ck_assert_int_eq(env_call(&e, 2, &arg, 1, &res),
                     VM_ERR_TRAP_UNREACHABLE);
    /* So does exhaustion in the nested call (w, f0 and 499 g frames). */
    arg = 498;
    ck_assert_int_eq(env_call(&e, 2, &arg, 1, &res),
                     VM_ERR_TRAP_EXHAUSTION);
    arg = 497;
    ck_assert_int_eq(env_call(&e, 2, &arg, 1, &res), 0);
    ck_assert_uint_eq((uint32_t)res, 995);
    env_close(&e);
}
END_TEST

Suite *interp_suite(void)
{
    Suite *s = suite_create("interp");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_dispatch_table);
    tcase_add_test(tc, test_int_division);
    tcase_add_test(tc, test_int_bits);
    tcase_add_test(tc, test_float_min_max);
    tcase_add_test(tc, test_float_rounding);
    tcase_add_test(tc, test_float_bits);
    tcase_add_test(tc, test_trunc_boundaries);
    tcase_add_test(tc, test_trunc_sat);
    tcase_add_test(tc, test_memory_bounds);
    tcase_add_test(tc, test_bulk_memory_bounds);
    tcase_add_test(tc, test_recursion);
    tcase_add_test(tc, test_call_stack_exhaustion);
    tcase_add_test(tc, test_call_indirect);
    tcase_add_test(tc, test_br_table);
    tcase_add_test(tc, test_fuel);
    tcase_add_test(tc, test_unreachable);
    tcase_add_test(tc, test_reentrant_host_call);
    tcase_add_test(tc, test_cross_instance_call);
    suite_add_tcase(s, tc);
    return s;
}
