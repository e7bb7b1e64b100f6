/*
 * The compiler (pre-decoder): translates each validated function body,
 * once at load time, into the register-style internal code of
 * code_int.h / iops.def, which interp.c runs. docs/vm-code.md, section
 * "Internal code", describes the format and the translation; the short
 * version is:
 *
 *  - A virtual operand stack mirrors the wasm stack at compile time. Each
 *    entry is either materialized (its value sits in its canonical temp
 *    slot, temp_base + height) or a reference to a local's slot or to a
 *    constant-pool slot. local.get and constants emit nothing.
 *  - Instructions read their operands from wherever the entries point and
 *    write their result to the canonical slot of the result's position.
 *  - Values are copied only where control flow merges (block boundaries,
 *    branches), for call arguments, and when a local that stack entries
 *    still refer to is overwritten.
 *
 * Validation has already accepted the module: the only errors here are
 * implementation limits and out-of-memory.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "code_int.h"
#include "module_int.h"
#include "vm_opcodes.h"

const char *const vm__iop_layout[VM_IOP_COUNT] = {
#define IOP(name, layout, comment) [VM_IOP_##name] = layout,
#include "iops.def"
#undef IOP
};

const char *const vm__iop_name[VM_IOP_COUNT] = {
#define IOP(name, layout, comment) [VM_IOP_##name] = #name,
#include "iops.def"
#undef IOP
};

/*
 * Wasm opcodes that translate one-to-one into the internal instruction of
 * the same name with a layout made of d, s and o words only: pop the
 * operands of the opcode's signature, write the result (if any) to the
 * canonical slot. Generated from the intersection of opcodes.def and
 * iops.def; an opcode missing here fails to compile loudly (see
 * compile_op's default case).
 */
#define SIMPLE_OPS(X)                                                       \
    X(MEMORY_SIZE) X(MEMORY_GROW) X(I32_LOAD) X(I64_LOAD) X(F32_LOAD) \
    X(F64_LOAD) X(I32_LOAD8_S) X(I32_LOAD8_U) X(I32_LOAD16_S) \
    X(I32_LOAD16_U) X(I64_LOAD8_S) X(I64_LOAD8_U) X(I64_LOAD16_S) \
    X(I64_LOAD16_U) X(I64_LOAD32_S) X(I64_LOAD32_U) X(I32_STORE) \
    X(I64_STORE) X(F32_STORE) X(F64_STORE) X(I32_STORE8) X(I32_STORE16) \
    X(I64_STORE8) X(I64_STORE16) X(I64_STORE32) X(I32_EQZ) X(I32_EQ) \
    X(I32_NE) X(I32_LT_S) X(I32_LT_U) X(I32_GT_S) X(I32_GT_U) X(I32_LE_S) \
    X(I32_LE_U) X(I32_GE_S) X(I32_GE_U) X(I64_EQZ) X(I64_EQ) X(I64_NE) \
    X(I64_LT_S) X(I64_LT_U) X(I64_GT_S) X(I64_GT_U) X(I64_LE_S) X(I64_LE_U) \
    X(I64_GE_S) X(I64_GE_U) X(F32_EQ) X(F32_NE) X(F32_LT) X(F32_GT) \
    X(F32_LE) X(F32_GE) X(F64_EQ) X(F64_NE) X(F64_LT) X(F64_GT) X(F64_LE) \
    X(F64_GE) X(I32_CLZ) X(I32_CTZ) X(I32_POPCNT) X(I32_ADD) X(I32_SUB) \
    X(I32_MUL) X(I32_DIV_S) X(I32_DIV_U) X(I32_REM_S) X(I32_REM_U) \
    X(I32_AND) X(I32_OR) X(I32_XOR) X(I32_SHL) X(I32_SHR_S) X(I32_SHR_U) \
    X(I32_ROTL) X(I32_ROTR) X(I64_CLZ) X(I64_CTZ) X(I64_POPCNT) X(I64_ADD) \
    X(I64_SUB) X(I64_MUL) X(I64_DIV_S) X(I64_DIV_U) X(I64_REM_S) \
    X(I64_REM_U) X(I64_AND) X(I64_OR) X(I64_XOR) X(I64_SHL) X(I64_SHR_S) \
    X(I64_SHR_U) X(I64_ROTL) X(I64_ROTR) X(F32_ABS) X(F32_NEG) X(F32_CEIL) \
    X(F32_FLOOR) X(F32_TRUNC) X(F32_NEAREST) X(F32_SQRT) X(F32_ADD) \
    X(F32_SUB) X(F32_MUL) X(F32_DIV) X(F32_MIN) X(F32_MAX) X(F32_COPYSIGN) \
    X(F64_ABS) X(F64_NEG) X(F64_CEIL) X(F64_FLOOR) X(F64_TRUNC) \
    X(F64_NEAREST) X(F64_SQRT) X(F64_ADD) X(F64_SUB) X(F64_MUL) X(F64_DIV) \
    X(F64_MIN) X(F64_MAX) X(F64_COPYSIGN) X(I32_WRAP_I64) X(I32_TRUNC_F32_S) \
    X(I32_TRUNC_F32_U) X(I32_TRUNC_F64_S) X(I32_TRUNC_F64_U) \
    X(I64_EXTEND_I32_S) X(I64_EXTEND_I32_U) X(I64_TRUNC_F32_S) \
    X(I64_TRUNC_F32_U) X(I64_TRUNC_F64_S) X(I64_TRUNC_F64_U) \
    X(F32_CONVERT_I32_S) X(F32_CONVERT_I32_U) X(F32_CONVERT_I64_S) \
    X(F32_CONVERT_I64_U) X(F32_DEMOTE_F64) X(F64_CONVERT_I32_S) \
    X(F64_CONVERT_I32_U) X(F64_CONVERT_I64_S) X(F64_CONVERT_I64_U) \
    X(F64_PROMOTE_F32) X(I32_REINTERPRET_F32) X(I64_REINTERPRET_F64) \
    X(F32_REINTERPRET_I32) X(F64_REINTERPRET_I64) X(I32_EXTEND8_S) \
    X(I32_EXTEND16_S) X(I64_EXTEND8_S) X(I64_EXTEND16_S) X(I64_EXTEND32_S) \
    X(I32_TRUNC_SAT_F32_S) X(I32_TRUNC_SAT_F32_U) X(I32_TRUNC_SAT_F64_S) \
    X(I32_TRUNC_SAT_F64_U) X(I64_TRUNC_SAT_F32_S) X(I64_TRUNC_SAT_F32_U) \
    X(I64_TRUNC_SAT_F64_S) X(I64_TRUNC_SAT_F64_U)

static const uint16_t simple_iop[VM_OP_COUNT] = {
#define X(name) [VM_OP_##name] = VM_IOP_##name + 1,
    SIMPLE_OPS(X)
#undef X
};

/*
 * SIMD opcodes (all but v128.const, which goes to the constant pool):
 * one-to-one into the internal instruction of the same name, operands
 * per the signature, immediates (memarg offset, lane, shuffle indices)
 * per the layout. See compile_simd().
 */
#define SIMD_OPS(X) \
    X(V128_LOAD) X(V128_LOAD8X8_S) X(V128_LOAD8X8_U) X(V128_LOAD16X4_S) \
    X(V128_LOAD16X4_U) X(V128_LOAD32X2_S) X(V128_LOAD32X2_U) \
    X(V128_LOAD8_SPLAT) X(V128_LOAD16_SPLAT) X(V128_LOAD32_SPLAT) \
    X(V128_LOAD64_SPLAT) X(V128_STORE) X(I8X16_SHUFFLE) X(I8X16_SWIZZLE) \
    X(I8X16_SPLAT) X(I16X8_SPLAT) X(I32X4_SPLAT) X(I64X2_SPLAT) \
    X(F32X4_SPLAT) X(F64X2_SPLAT) X(I8X16_EXTRACT_LANE_S) \
    X(I8X16_EXTRACT_LANE_U) X(I8X16_REPLACE_LANE) X(I16X8_EXTRACT_LANE_S) \
    X(I16X8_EXTRACT_LANE_U) X(I16X8_REPLACE_LANE) X(I32X4_EXTRACT_LANE) \
    X(I32X4_REPLACE_LANE) X(I64X2_EXTRACT_LANE) X(I64X2_REPLACE_LANE) \
    X(F32X4_EXTRACT_LANE) X(F32X4_REPLACE_LANE) X(F64X2_EXTRACT_LANE) \
    X(F64X2_REPLACE_LANE) X(I8X16_EQ) X(I8X16_NE) X(I8X16_LT_S) \
    X(I8X16_LT_U) X(I8X16_GT_S) X(I8X16_GT_U) X(I8X16_LE_S) X(I8X16_LE_U) \
    X(I8X16_GE_S) X(I8X16_GE_U) X(I16X8_EQ) X(I16X8_NE) X(I16X8_LT_S) \
    X(I16X8_LT_U) X(I16X8_GT_S) X(I16X8_GT_U) X(I16X8_LE_S) X(I16X8_LE_U) \
    X(I16X8_GE_S) X(I16X8_GE_U) X(I32X4_EQ) X(I32X4_NE) X(I32X4_LT_S) \
    X(I32X4_LT_U) X(I32X4_GT_S) X(I32X4_GT_U) X(I32X4_LE_S) X(I32X4_LE_U) \
    X(I32X4_GE_S) X(I32X4_GE_U) X(F32X4_EQ) X(F32X4_NE) X(F32X4_LT) \
    X(F32X4_GT) X(F32X4_LE) X(F32X4_GE) X(F64X2_EQ) X(F64X2_NE) \
    X(F64X2_LT) X(F64X2_GT) X(F64X2_LE) X(F64X2_GE) X(V128_NOT) \
    X(V128_AND) X(V128_ANDNOT) X(V128_OR) X(V128_XOR) X(V128_BITSELECT) \
    X(V128_ANY_TRUE) X(V128_LOAD8_LANE) X(V128_LOAD16_LANE) \
    X(V128_LOAD32_LANE) X(V128_LOAD64_LANE) X(V128_STORE8_LANE) \
    X(V128_STORE16_LANE) X(V128_STORE32_LANE) X(V128_STORE64_LANE) \
    X(V128_LOAD32_ZERO) X(V128_LOAD64_ZERO) X(F32X4_DEMOTE_F64X2_ZERO) \
    X(F64X2_PROMOTE_LOW_F32X4) X(I8X16_ABS) X(I8X16_NEG) X(I8X16_POPCNT) \
    X(I8X16_ALL_TRUE) X(I8X16_BITMASK) X(I8X16_NARROW_I16X8_S) \
    X(I8X16_NARROW_I16X8_U) X(F32X4_CEIL) X(F32X4_FLOOR) X(F32X4_TRUNC) \
    X(F32X4_NEAREST) X(I8X16_SHL) X(I8X16_SHR_S) X(I8X16_SHR_U) \
    X(I8X16_ADD) X(I8X16_ADD_SAT_S) X(I8X16_ADD_SAT_U) X(I8X16_SUB) \
    X(I8X16_SUB_SAT_S) X(I8X16_SUB_SAT_U) X(F64X2_CEIL) X(F64X2_FLOOR) \
    X(I8X16_MIN_S) X(I8X16_MIN_U) X(I8X16_MAX_S) X(I8X16_MAX_U) \
    X(F64X2_TRUNC) X(I8X16_AVGR_U) X(I16X8_EXTADD_PAIRWISE_I8X16_S) \
    X(I16X8_EXTADD_PAIRWISE_I8X16_U) X(I32X4_EXTADD_PAIRWISE_I16X8_S) \
    X(I32X4_EXTADD_PAIRWISE_I16X8_U) X(I16X8_ABS) X(I16X8_NEG) \
    X(I16X8_Q15MULR_SAT_S) X(I16X8_ALL_TRUE) X(I16X8_BITMASK) \
    X(I16X8_NARROW_I32X4_S) X(I16X8_NARROW_I32X4_U) \
    X(I16X8_EXTEND_LOW_I8X16_S) X(I16X8_EXTEND_HIGH_I8X16_S) \
    X(I16X8_EXTEND_LOW_I8X16_U) X(I16X8_EXTEND_HIGH_I8X16_U) X(I16X8_SHL) \
    X(I16X8_SHR_S) X(I16X8_SHR_U) X(I16X8_ADD) X(I16X8_ADD_SAT_S) \
    X(I16X8_ADD_SAT_U) X(I16X8_SUB) X(I16X8_SUB_SAT_S) X(I16X8_SUB_SAT_U) \
    X(F64X2_NEAREST) X(I16X8_MUL) X(I16X8_MIN_S) X(I16X8_MIN_U) \
    X(I16X8_MAX_S) X(I16X8_MAX_U) X(I16X8_AVGR_U) \
    X(I16X8_EXTMUL_LOW_I8X16_S) X(I16X8_EXTMUL_HIGH_I8X16_S) \
    X(I16X8_EXTMUL_LOW_I8X16_U) X(I16X8_EXTMUL_HIGH_I8X16_U) X(I32X4_ABS) \
    X(I32X4_NEG) X(I32X4_ALL_TRUE) X(I32X4_BITMASK) \
    X(I32X4_EXTEND_LOW_I16X8_S) X(I32X4_EXTEND_HIGH_I16X8_S) \
    X(I32X4_EXTEND_LOW_I16X8_U) X(I32X4_EXTEND_HIGH_I16X8_U) X(I32X4_SHL) \
    X(I32X4_SHR_S) X(I32X4_SHR_U) X(I32X4_ADD) X(I32X4_SUB) X(I32X4_MUL) \
    X(I32X4_MIN_S) X(I32X4_MIN_U) X(I32X4_MAX_S) X(I32X4_MAX_U) \
    X(I32X4_DOT_I16X8_S) X(I32X4_EXTMUL_LOW_I16X8_S) \
    X(I32X4_EXTMUL_HIGH_I16X8_S) X(I32X4_EXTMUL_LOW_I16X8_U) \
    X(I32X4_EXTMUL_HIGH_I16X8_U) X(I64X2_ABS) X(I64X2_NEG) \
    X(I64X2_ALL_TRUE) X(I64X2_BITMASK) X(I64X2_EXTEND_LOW_I32X4_S) \
    X(I64X2_EXTEND_HIGH_I32X4_S) X(I64X2_EXTEND_LOW_I32X4_U) \
    X(I64X2_EXTEND_HIGH_I32X4_U) X(I64X2_SHL) X(I64X2_SHR_S) \
    X(I64X2_SHR_U) X(I64X2_ADD) X(I64X2_SUB) X(I64X2_MUL) X(I64X2_EQ) \
    X(I64X2_NE) X(I64X2_LT_S) X(I64X2_GT_S) X(I64X2_LE_S) X(I64X2_GE_S) \
    X(I64X2_EXTMUL_LOW_I32X4_S) X(I64X2_EXTMUL_HIGH_I32X4_S) \
    X(I64X2_EXTMUL_LOW_I32X4_U) X(I64X2_EXTMUL_HIGH_I32X4_U) X(F32X4_ABS) \
    X(F32X4_NEG) X(F32X4_SQRT) X(F32X4_ADD) X(F32X4_SUB) X(F32X4_MUL) \
    X(F32X4_DIV) X(F32X4_MIN) X(F32X4_MAX) X(F32X4_PMIN) X(F32X4_PMAX) \
    X(F64X2_ABS) X(F64X2_NEG) X(F64X2_SQRT) X(F64X2_ADD) X(F64X2_SUB) \
    X(F64X2_MUL) X(F64X2_DIV) X(F64X2_MIN) X(F64X2_MAX) X(F64X2_PMIN) \
    X(F64X2_PMAX) X(I32X4_TRUNC_SAT_F32X4_S) X(I32X4_TRUNC_SAT_F32X4_U) \
    X(F32X4_CONVERT_I32X4_S) X(F32X4_CONVERT_I32X4_U) \
    X(I32X4_TRUNC_SAT_F64X2_S_ZERO) X(I32X4_TRUNC_SAT_F64X2_U_ZERO) \
    X(F64X2_CONVERT_LOW_I32X4_S) X(F64X2_CONVERT_LOW_I32X4_U)

static const uint16_t simd_iop[VM_OP_COUNT] = {
#define X(name) [VM_OP_##name] = VM_IOP_##name + 1,
    SIMD_OPS(X)
#undef X
};

/* Operand slots are tagged while a function is being compiled: temp_base
 * is known only at the end (the constant pool grows as we go), so temps
 * are written as TEMP_TAG | height and relocated when the body is done. */
#define TEMP_TAG 0x80000000u
#define HEIGHT_MAX 0x40000000u
#define NONE32 UINT32_MAX

/* Constant pool cap, in slots. Beyond it constants are materialized with
 * I32_CONST / I64_CONST: the pool is copied into every frame at entry, so
 * a huge pool would make calls slow. */
#define CONST_POOL_MAX 1024u
#define CONST_HASH_SIZE 2048u /* power of two, > 1.5 * CONST_POOL_MAX */

/* A virtual stack entry. slot is TEMP_TAG | h when materialized, else the
 * slot of a local (< nlocal_slots) or of a pool constant. */
typedef struct vent {
    uint32_t slot;
    uint32_t h; /* stack height in slots below this entry */
    uint8_t type;
} vent;

enum ctl_kind { CTL_FUNC, CTL_BLOCK, CTL_LOOP, CTL_IF, CTL_TRY };

/* A control frame (label). */
typedef struct ctl {
    uint8_t kind;
    bool unreachable;   /* the rest of the current part is dead code */
    bool end_reachable; /* a branch targets the end, or code falls in */
    uint8_t single;     /* the result type of a one-valtype block type */
    uint32_t nparams, nresults;
    const uint8_t *params;  /* NULL when nparams == 0 */
    const uint8_t *results; /* NULL: &single when nresults == 1 */
    uint32_t base;          /* virtual stack depth below the params */
    uint32_t base_h;        /* stack height in slots below the params */
    uint32_t loop_start;    /* LOOP: word index of the header (its FUEL) */
    uint32_t patch;         /* forward branches to the end: linked list */
    uint32_t else_patch;    /* IF: target word of the BR_UNLESS, or NONE32 */
    uint32_t ord;           /* ordinal of the block in the body */
    /* Exception handling. body_tries: try bodies open inside this label
     * (for a try in its body part, itself included); what a delegate to
     * it passes on. TRY only: tdepth, the try bodies around it; in_catch,
     * past its body; try_start/try_end, its body's words; exn_slot, the
     * hidden local that keeps the exception its catches took. */
    uint32_t body_tries;
    uint32_t tdepth;
    bool in_catch;
    uint32_t try_start, try_end;
    uint32_t exn_slot;
} ctl;

/* What the previous wasm instruction left behind, for the peepholes. */
typedef struct last_instr {
    uint32_t d_word;    /* word index of its d operand, or NONE32 */
    uint32_t cmp_start; /* an i32 compare or eqz: its start, or NONE32 */
    uint16_t cmp_iop;
    uint32_t s1, s2;
} last_instr;

/* A branch condition: a slot, or a fused i32 compare / eqz. */
typedef struct cond {
    enum { COND_SLOT, COND_EQZ, COND_CMP } kind;
    uint16_t cmp_iop;
    uint32_t s1, s2;
} cond;

typedef struct comp {
    const vm_module *m;
    const vm__func *fn;
    const vm__functype *type;
    int status; /* sticky: first error (emitters stop writing) */
    char *err;
    size_t errlen;

    uint32_t *local_slot; /* slot of each local index */
    uint32_t nparam_slots, nresult_slots, nlocal_slots;
    size_t local_cap;
    uint32_t *refcnt;     /* per local slot: stack entries referring to it */
    uint32_t nlocal_refs; /* total of refcnt */

    uint32_t *words;
    size_t nwords, words_cap;
    uint32_t *srcmap; /* pairs */
    size_t nsrc, src_cap;
    uint32_t cur_off;   /* module offset of the wasm instruction */
    uint32_t label_pos; /* the most recent label position */

    vm__slot consts[CONST_POOL_MAX];
    uint32_t nconsts;
    uint16_t const_hash[CONST_HASH_SIZE]; /* pool index + 1, 0 empty */

    vent *vs;
    uint32_t nvs;
    size_t vs_cap;
    uint32_t h, maxh;

    ctl *cs;
    uint32_t ncs;
    size_t cs_cap;

    uint32_t *scratch; /* br_table */
    size_t scratch_cap;

    /* Pre-scan: end offset of every block (by ordinal, in body order) and
     * where the body's final run of end instructions starts. A block
     * whose end lies in that run is followed only by ends: branching to
     * it with nothing below its base is returning. */
    uint32_t *blk_end, *blk_stack;
    size_t blk_end_cap, blk_stack_cap;
    uint32_t nblocks, block_ord, final_ends;

    last_instr prev, last;
    uint32_t fuel_word; /* immediate of the open FUEL, or NONE32 */

    /* Exception handling: the handler table being built, the try bodies
     * and try blocks open, and the hidden exception locals (one per try
     * nesting level, max_tries from the pre-scan, from exn_base on). */
    vm__handler *handlers;
    size_t nhandlers, handlers_cap;
    uint32_t try_depth, try_nest, max_tries, exn_base;
    uint32_t fuel_count;

    /* Tracing variants (vm__code_variant): thread for run_traced, and
     * with instrument, put a TRACE_OP before every live wasm instruction;
     * with stepped, a TRACE_FRAME at word 0 and a TRACE_STEP at every
     * step point of the module
     * (steps[0 .. nsteps), sorted; step_next is the cursor of the body
     * walk; step_in_final_ends: a point lies in the final run of ends,
     * see ret_equiv). */
    bool traced, instrument, stepped;
    const uint32_t *steps;
    uint32_t nsteps, step_next;
    bool step_in_final_ends;
} comp;

static void set_error(comp *c, int code, const char *what)
{
    if (c->status)
        return;
    c->status = vm__error(c->err, c->errlen, code, "function %u: %s",
                          c->m->nfuncs_imported +
                              (uint32_t)(c->fn - c->m->funcs),
                          what);
}

static bool grow(comp *c, void **p, size_t *cap, size_t need, size_t elem)
{
    size_t ncap;
    void *np;

    if (need <= *cap)
        return true;
    ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    np = vm__realloc(*p, ncap * elem);
    if (!np) {
        set_error(c, VM_ERR_NOMEM, "out of memory");
        return false;
    }
    *p = np;
    *cap = ncap;
    return true;
}

/* ---- LEB128 and immediates (the body is valid; stay in bounds) ------ */

static uint32_t read_u32(const uint8_t **pp, const uint8_t *end)
{
    const uint8_t *p = *pp;
    uint32_t v = 0;
    unsigned shift = 0;

    while (p < end) {
        uint8_t b = *p++;
        if (shift < 32)
            v |= (uint32_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    *pp = p;
    return v;
}

static int64_t read_s64(const uint8_t **pp, const uint8_t *end)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b = 0;

    while (p < end) {
        b = *p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    if (shift < 64 && (b & 0x40))
        v |= ~(uint64_t)0 << shift;
    *pp = p;
    return (int64_t)v;
}

static uint64_t read_le(const uint8_t **pp, const uint8_t *end, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n && *pp < end; i++)
        v |= (uint64_t)*(*pp)++ << (8 * i);
    return v;
}

/* Step over the immediates of an instruction in dead code. */
static void skip_imm(const uint8_t **pp, const uint8_t *end, vm__imm imm)
{
    uint32_t n;

    switch (imm) {
    case VM_IMM_NONE:
        break;
    case VM_IMM_BLOCKTYPE:
    case VM_IMM_I32:
    case VM_IMM_I64:
        (void)read_s64(pp, end);
        break;
    case VM_IMM_LABEL:
    case VM_IMM_FUNC:
    case VM_IMM_LOCAL:
    case VM_IMM_GLOBAL:
    case VM_IMM_TABLE:
    case VM_IMM_DATA:
    case VM_IMM_ELEM:
    case VM_IMM_TAG:
        (void)read_u32(pp, end);
        break;
    case VM_IMM_BR_TABLE:
        n = read_u32(pp, end);
        for (uint64_t i = 0; i <= n && *pp < end; i++)
            (void)read_u32(pp, end);
        break;
    case VM_IMM_CALL_INDIRECT:
    case VM_IMM_TABLE_INIT:
    case VM_IMM_TABLE_COPY:
        (void)read_u32(pp, end);
        (void)read_u32(pp, end);
        break;
    case VM_IMM_MEMARG:
        (void)read_u32(pp, end);
        (void)read_u32(pp, end);
        break;
    case VM_IMM_MEMARG_LANE:
        (void)read_u32(pp, end);
        (void)read_u32(pp, end);
        (void)read_le(pp, end, 1);
        break;
    case VM_IMM_MEMIDX:
    case VM_IMM_REFTYPE:
    case VM_IMM_LANE:
        (void)read_le(pp, end, 1);
        break;
    case VM_IMM_F32:
        (void)read_le(pp, end, 4);
        break;
    case VM_IMM_F64:
        (void)read_le(pp, end, 8);
        break;
    case VM_IMM_SELECT_T:
        n = read_u32(pp, end);
        for (uint64_t i = 0; i < n && *pp < end; i++)
            (void)read_le(pp, end, 1);
        break;
    case VM_IMM_MEMORY_INIT:
        (void)read_u32(pp, end);
        (void)read_le(pp, end, 1);
        break;
    case VM_IMM_MEMORY_COPY:
        (void)read_le(pp, end, 2);
        break;
    case VM_IMM_V128:
    case VM_IMM_SHUFFLE:
        *pp = (size_t)(end - *pp) < 16 ? end : *pp + 16;
        break;
    }
}

/* ---- Emission ------------------------------------------------------- */

static void emit_w(comp *c, uint32_t w)
{
    if (c->status ||
        !grow(c, (void **)&c->words, &c->words_cap, c->nwords + 1,
              sizeof *c->words))
        return;
    c->words[c->nwords++] = w;
}

/* Start an instruction: record it in the source map, emit its opcode. */
static uint32_t emit_op(comp *c, vm__iop op)
{
    uint32_t start = (uint32_t)c->nwords;

    if (c->status ||
        !grow(c, (void **)&c->srcmap, &c->src_cap, c->nsrc * 2 + 2,
              sizeof *c->srcmap))
        return start;
    c->srcmap[c->nsrc * 2] = start;
    c->srcmap[c->nsrc * 2 + 1] = c->cur_off;
    c->nsrc++;
    emit_w(c, (uint32_t)op);
    return start;
}

/* Forget the last emitted instruction, which starts at start. */
static void unemit(comp *c, uint32_t start)
{
    if (c->status)
        return;
    c->nwords = start;
    c->nsrc--;
}

static void emit_copy(comp *c, uint8_t type, uint32_t dst, uint32_t src)
{
    if (dst == src)
        return;
    emit_op(c, vm__type_slots(type) == 2 ? VM_IOP_COPY2 : VM_IOP_COPY);
    emit_w(c, dst);
    emit_w(c, src);
}

/* Emit the d word of a value-producing instruction and remember it for
 * the local.set peephole. */
static void emit_dst(comp *c, uint32_t d)
{
    c->last.d_word = (uint32_t)c->nwords;
    emit_w(c, d);
}

/* ---- Fuel ------------------------------------------------------------ */

/*
 * A FUEL instruction opens a window that counts the wasm instructions
 * from it up to and including the next branch, or up to the next label.
 * That code runs whenever the FUEL does, so the count is a lower bound of
 * the work between two fuel points.
 */
static void fuel_open(comp *c)
{
    emit_op(c, VM_IOP_FUEL);
    c->fuel_word = (uint32_t)c->nwords;
    c->fuel_count = 0;
    emit_w(c, 0);
}

static void fuel_close(comp *c)
{
    if (c->fuel_word == NONE32)
        return;
    if (!c->status)
        c->words[c->fuel_word] = c->fuel_count;
    c->fuel_word = NONE32;
}

/* ---- The virtual stack ----------------------------------------------- */

static bool is_local(const comp *c, uint32_t slot)
{
    return slot < c->nlocal_slots;
}

/* Push an entry: slot NONE32 means materialized (canonical temp). */
static uint32_t vpush(comp *c, uint8_t type, uint32_t slot)
{
    vent *e;

    if (c->status)
        return TEMP_TAG | c->h;
    if (!grow(c, (void **)&c->vs, &c->vs_cap, (size_t)c->nvs + 1,
              sizeof *c->vs))
        return TEMP_TAG | c->h;
    e = &c->vs[c->nvs++];
    e->type = type;
    e->h = c->h;
    e->slot = slot == NONE32 ? (TEMP_TAG | c->h) : slot;
    if (is_local(c, e->slot)) {
        c->refcnt[e->slot]++;
        c->nlocal_refs++;
    }
    c->h += vm__type_slots(type);
    if (c->h > c->maxh)
        c->maxh = c->h;
    if (c->h >= HEIGHT_MAX)
        set_error(c, VM_ERR_LIMIT, "operand stack too high");
    return e->slot;
}

static vent vpop(comp *c)
{
    vent e;

    if (c->nvs == 0) { /* only after an error stopped the pushes */
        e.slot = TEMP_TAG;
        e.h = 0;
        e.type = VM_I32;
        return e;
    }
    e = c->vs[--c->nvs];
    c->h = e.h;
    if (is_local(c, e.slot)) {
        c->refcnt[e.slot]--;
        c->nlocal_refs--;
    }
    return e;
}

static void vpop_to(comp *c, uint32_t depth)
{
    while (c->nvs > depth)
        (void)vpop(c);
}

/* Copy entry i into its canonical slot and make it refer there. */
static void materialize(comp *c, uint32_t i)
{
    vent *e = &c->vs[i];
    uint32_t canon = TEMP_TAG | e->h;

    if (e->slot == canon)
        return;
    emit_copy(c, e->type, canon, e->slot);
    if (is_local(c, e->slot)) {
        c->refcnt[e->slot]--;
        c->nlocal_refs--;
    }
    e->slot = canon;
}

/* Before local slot is written: entries still reading it get a copy. */
static void materialize_refs_to(comp *c, uint32_t slot)
{
    for (uint32_t i = 0; i < c->nvs && c->refcnt[slot]; i++)
        if (c->vs[i].slot == slot)
            materialize(c, i);
}

/* The pool slot holding v, or NONE32 when the pool is full. Values are
 * shared across types: an i32 and an i64 with the same 64-bit pattern
 * (zero-extended) use one slot. */
static uint32_t const_slot(comp *c, uint64_t v)
{
    uint32_t i = (uint32_t)((v * 0x9E3779B97F4A7C15ull) >> 53) &
                 (CONST_HASH_SIZE - 1);

    while (c->const_hash[i]) {
        uint32_t k = c->const_hash[i] - 1u;
        if (c->consts[k] == v)
            return c->nlocal_slots + k;
        i = (i + 1) & (CONST_HASH_SIZE - 1);
    }
    if (c->nconsts == CONST_POOL_MAX)
        return NONE32;
    c->consts[c->nconsts] = v;
    c->const_hash[i] = (uint16_t)(++c->nconsts);
    return c->nlocal_slots + c->nconsts - 1;
}

static void push_const(comp *c, uint8_t type, uint64_t v)
{
    uint32_t k = const_slot(c, v), d;

    if (k != NONE32) {
        vpush(c, type, k);
        return;
    }
    d = vpush(c, type, NONE32);
    if (type == VM_I64 || type == VM_F64) {
        emit_op(c, VM_IOP_I64_CONST);
        emit_dst(c, d);
        emit_w(c, (uint32_t)v);
        emit_w(c, (uint32_t)(v >> 32));
    } else {
        emit_op(c, VM_IOP_I32_CONST);
        emit_dst(c, d);
        emit_w(c, (uint32_t)v);
    }
}

/* ---- Labels and branches ---------------------------------------------- */

static const uint8_t *ctl_results(const ctl *f)
{
    return f->results ? f->results : &f->single;
}

/* Values a branch to f carries: loop params, else results. */
static uint32_t label_arity(const ctl *f)
{
    return f->kind == CTL_LOOP ? f->nparams : f->nresults;
}

/* Does a branch to f need copies to put its values in the label slots? */
static bool needs_moves(const comp *c, const ctl *f)
{
    uint32_t n = label_arity(f), first;

    if (n == 0 || c->nvs < n)
        return false;
    first = c->nvs - n;
    for (uint32_t k = 0; k < n; k++) {
        const vent *e = &c->vs[first + k];
        uint32_t dst = TEMP_TAG | (f->base_h + (e->h - c->vs[first].h));
        if (e->slot != dst)
            return true;
    }
    return false;
}

/* Copy the branch values to f's label slots. The compile-time state is
 * unchanged: the copies run on the branch path only. Ascending order is
 * safe: every destination is at or below its source's canonical slot. */
static void emit_moves(comp *c, const ctl *f)
{
    uint32_t n = label_arity(f), first;

    if (n == 0 || c->nvs < n)
        return;
    first = c->nvs - n;
    for (uint32_t k = 0; k < n; k++) {
        const vent *e = &c->vs[first + k];
        emit_copy(c, e->type, TEMP_TAG | (f->base_h + (e->h - c->vs[first].h)),
                  e->slot);
    }
}

/* RETURN with the function's results from the top of the stack. One
 * result returns straight from wherever it is; several are copied to
 * their canonical slots first (without changing the compile-time state:
 * this also serves br_if and br_table stubs). */
static void emit_return(comp *c)
{
    uint32_t n = c->type->nresults, first;

    if (n == 0 || c->nvs < n) {
        emit_op(c, VM_IOP_RETURN);
        emit_w(c, 0);
        emit_w(c, 0);
        return;
    }
    first = c->nvs - n;
    if (n > 1)
        for (uint32_t k = first; k < c->nvs; k++)
            emit_copy(c, c->vs[k].type, TEMP_TAG | c->vs[k].h, c->vs[k].slot);
    emit_op(c, VM_IOP_RETURN);
    emit_w(c, n > 1 ? (TEMP_TAG | c->vs[first].h) : c->vs[first].slot);
    emit_w(c, c->nresult_slots);
}

/* The target word of a branch to f: a loop's header, or a link in f's
 * list of forward branches, patched when its end is placed. */
static void emit_target(comp *c, ctl *f)
{
    if (f->kind == CTL_LOOP) {
        emit_w(c, f->loop_start);
        return;
    }
    f->end_reachable = true;
    uint32_t pos = (uint32_t)c->nwords;
    emit_w(c, f->patch);
    if (!c->status)
        f->patch = pos;
}

/* Place f's end label here and resolve the forward branches to it. */
static void place_end_label(comp *c, ctl *f)
{
    if (c->status)
        return;
    /* A BR to this label just before it is a no-op: drop it, unless a
     * label already sits after it (a branch there would then land on
     * whatever comes next). */
    while (c->nsrc > 0 && c->label_pos != c->nwords) {
        uint32_t last = c->srcmap[(c->nsrc - 1) * 2];
        if (c->words[last] != VM_IOP_BR || last + 2 != c->nwords ||
            f->patch != last + 1)
            break;
        f->patch = c->words[last + 1];
        unemit(c, last);
    }
    for (uint32_t p = f->patch; p != NONE32;) {
        uint32_t next = c->words[p];
        c->words[p] = (uint32_t)c->nwords;
        p = next;
    }
    f->patch = NONE32;
    if (f->kind == CTL_IF && f->else_patch != NONE32) {
        c->words[f->else_patch] = (uint32_t)c->nwords;
        f->else_patch = NONE32;
        f->end_reachable = true; /* the implicit else falls through */
    }
    c->label_pos = (uint32_t)c->nwords;
}

static void mark_unreachable(comp *c)
{
    c->cs[c->ncs - 1].unreachable = true;
}

static vm__iop br_if_cmp(uint16_t cmp, bool when_true)
{
    static const uint16_t tab[][2] = {
        {VM_IOP_I32_EQ, VM_IOP_BR_IF_I32_EQ},
        {VM_IOP_I32_NE, VM_IOP_BR_IF_I32_NE},
        {VM_IOP_I32_LT_S, VM_IOP_BR_IF_I32_LT_S},
        {VM_IOP_I32_LT_U, VM_IOP_BR_IF_I32_LT_U},
        {VM_IOP_I32_GT_S, VM_IOP_BR_IF_I32_GT_S},
        {VM_IOP_I32_GT_U, VM_IOP_BR_IF_I32_GT_U},
        {VM_IOP_I32_LE_S, VM_IOP_BR_IF_I32_LE_S},
        {VM_IOP_I32_LE_U, VM_IOP_BR_IF_I32_LE_U},
        {VM_IOP_I32_GE_S, VM_IOP_BR_IF_I32_GE_S},
        {VM_IOP_I32_GE_U, VM_IOP_BR_IF_I32_GE_U},
    };
    static const uint16_t unless[] = {
        VM_IOP_BR_UNLESS_I32_EQ,   VM_IOP_BR_UNLESS_I32_NE,
        VM_IOP_BR_UNLESS_I32_LT_S, VM_IOP_BR_UNLESS_I32_LT_U,
        VM_IOP_BR_UNLESS_I32_GT_S, VM_IOP_BR_UNLESS_I32_GT_U,
        VM_IOP_BR_UNLESS_I32_LE_S, VM_IOP_BR_UNLESS_I32_LE_U,
        VM_IOP_BR_UNLESS_I32_GE_S, VM_IOP_BR_UNLESS_I32_GE_U,
    };

    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (tab[i][0] == cmp)
            return (vm__iop)(when_true ? tab[i][1] : unless[i]);
    return VM_IOP_UNREACHABLE; /* not reached: only these are fused */
}

static bool is_fusible_cmp(vm__iop op)
{
    return op == VM_IOP_I32_EQZ ||
           (op >= VM_IOP_I32_EQ && op <= VM_IOP_I32_GE_U);
}

/* Pop a branch condition. When the previous instruction computed it with
 * an i32 compare, the compare is taken back and fused into the branch. */
static cond pop_cond(comp *c)
{
    vent e = vpop(c);
    cond k = {.kind = COND_SLOT, .s1 = e.slot};

    if (c->prev.cmp_start != NONE32 && e.slot == (TEMP_TAG | e.h) &&
        c->prev.cmp_start + 1 + 2 + (c->prev.cmp_iop != VM_IOP_I32_EQZ) ==
            c->nwords) {
        unemit(c, c->prev.cmp_start);
        k.kind = c->prev.cmp_iop == VM_IOP_I32_EQZ ? COND_EQZ : COND_CMP;
        k.cmp_iop = c->prev.cmp_iop;
        k.s1 = c->prev.s1;
        k.s2 = c->prev.s2;
    }
    return k;
}

/* Emit a conditional branch on k (taken when k is when_true) up to its
 * target word, which the caller emits. */
static void emit_cond_branch(comp *c, const cond *k, bool when_true)
{
    switch (k->kind) {
    case COND_SLOT:
        emit_op(c, when_true ? VM_IOP_BR_IF : VM_IOP_BR_UNLESS);
        emit_w(c, k->s1);
        break;
    case COND_EQZ: /* eqz(s) is true when s == 0 */
        emit_op(c, when_true ? VM_IOP_BR_UNLESS : VM_IOP_BR_IF);
        emit_w(c, k->s1);
        break;
    case COND_CMP:
        emit_op(c, br_if_cmp(k->cmp_iop, when_true));
        emit_w(c, k->s1);
        emit_w(c, k->s2);
        break;
    }
}

/* Resolve a forward skip emitted at word pos to here. */
static void place_skip(comp *c, uint32_t pos)
{
    if (c->status)
        return;
    c->words[pos] = (uint32_t)c->nwords;
    c->label_pos = (uint32_t)c->nwords;
}

/* Is a branch to f a return? (See final_ends.) */
static bool ret_equiv(const comp *c, const ctl *f)
{
    /* Instrumented code keeps the branch, so that the end markers it
     * passes on the way out fire as they do for any other block; so does
     * stepped code when one of those ends is a step point. */
    if (c->instrument || c->step_in_final_ends)
        return f->kind == CTL_FUNC;
    return f->kind == CTL_FUNC ||
           (f->kind != CTL_LOOP && f->base == 0 && f->ord < c->nblocks &&
            c->blk_end[f->ord] >= c->final_ends);
}

/* Branch to f unconditionally: moves then BR, or a return. */
static void emit_br(comp *c, ctl *f)
{
    if (ret_equiv(c, f)) {
        emit_return(c);
        return;
    }
    emit_moves(c, f);
    emit_op(c, VM_IOP_BR);
    emit_target(c, f);
}

/* ---- Blocks ----------------------------------------------------------- */

static bool read_blocktype(comp *c, const uint8_t **pp, const uint8_t *end,
                           ctl *f)
{
    int64_t bt = read_s64(pp, end);

    f->nparams = f->nresults = 0;
    f->params = f->results = NULL;
    if (bt == -64) /* 0x40: empty */
        return true;
    if (bt < 0) {
        f->single = (uint8_t)(bt + 128);
        f->nresults = 1;
        return true;
    }
    if ((uint64_t)bt >= c->m->ntypes) {
        set_error(c, VM_ERR_LIMIT, "bad block type");
        return false;
    }
    const vm__functype *t = &c->m->types[bt];
    f->nparams = t->nparams;
    f->nresults = t->nresults;
    f->params = t->nparams ? vm__functype_params(t) : NULL;
    f->results = vm__functype_results(t);
    return true;
}

/*
 * Enter a block, loop or if whose params are on top of the stack. The
 * params are materialized (every path into the block sees them in their
 * canonical slots), and so is every entry below that refers to a local:
 * a local.set inside the block would otherwise materialize it on one path
 * only. Constant references stay: the pool never changes.
 */
static ctl *enter_block(comp *c, ctl *proto)
{
    uint32_t base = c->nvs >= proto->nparams ? c->nvs - proto->nparams : 0;
    ctl *f;

    for (uint32_t i = base; i < c->nvs; i++)
        materialize(c, i);
    if (c->nlocal_refs)
        for (uint32_t i = 0; i < base; i++)
            if (is_local(c, c->vs[i].slot))
                materialize(c, i);
    if (!grow(c, (void **)&c->cs, &c->cs_cap, (size_t)c->ncs + 1,
              sizeof *c->cs))
        return NULL;
    f = &c->cs[c->ncs++];
    *f = *proto;
    f->unreachable = false;
    f->end_reachable = false;
    f->base = base;
    f->base_h = base < c->nvs ? c->vs[base].h : c->h;
    f->loop_start = NONE32;
    f->patch = NONE32;
    f->else_patch = NONE32;
    f->ord = c->block_ord++;
    f->body_tries = c->try_depth;
    return f;
}

/* Reset the stack to f's base and push n values of types as materialized
 * entries (the state at a label). */
static void reset_stack(comp *c, const ctl *f, uint32_t n,
                        const uint8_t *types)
{
    vpop_to(c, f->base);
    for (uint32_t i = 0; i < n; i++)
        vpush(c, types[i], NONE32);
}

static void materialize_top(comp *c, uint32_t n)
{
    for (uint32_t i = c->nvs >= n ? c->nvs - n : 0; i < c->nvs; i++)
        materialize(c, i);
}

static void do_else(comp *c)
{
    ctl *f = &c->cs[c->ncs - 1];

    if (!f->unreachable && ret_equiv(c, f)) {
        emit_return(c);
    } else if (!f->unreachable) {
        materialize_top(c, f->nresults);
        emit_op(c, VM_IOP_BR);
        emit_target(c, f);
    }
    if (f->else_patch != NONE32) {
        place_skip(c, f->else_patch);
        f->else_patch = NONE32;
    }
    reset_stack(c, f, f->nparams, f->params);
    f->unreachable = false;
}

static void do_end(comp *c)
{
    ctl *f = &c->cs[c->ncs - 1];
    bool reach;

    if (f->kind == CTL_FUNC) {
        if (!f->unreachable)
            emit_return(c);
        c->ncs--;
        return;
    }
    if (!f->unreachable && ret_equiv(c, f)) {
        /* Only ends follow: return from here, without the copies. */
        emit_return(c);
        f->unreachable = true;
    }
    if (!f->unreachable) {
        materialize_top(c, f->nresults);
        f->end_reachable = true;
    }
    place_end_label(c, f);
    reset_stack(c, f, f->nresults, ctl_results(f));
    reach = f->end_reachable;
    c->ncs--;
    if (!reach)
        mark_unreachable(c);
}

/* ---- Calls ------------------------------------------------------------ */

/* Materialize the arguments of a call with type t (contiguous canonical
 * temps at the top), pop them and return the callee frame's base. */
static uint32_t prepare_args(comp *c, const vm__functype *t)
{
    uint32_t first = c->nvs >= t->nparams ? c->nvs - t->nparams : 0;
    uint32_t a;

    for (uint32_t i = first; i < c->nvs; i++)
        materialize(c, i);
    vpop_to(c, first);
    a = TEMP_TAG | c->h;
    return a;
}

static void push_results(comp *c, const vm__functype *t)
{
    const uint8_t *r = vm__functype_results(t);

    for (uint32_t i = 0; i < t->nresults; i++)
        vpush(c, r[i], NONE32);
}

/* ---- The body ---------------------------------------------------------- */

static const vm__functype *func_type(const comp *c, uint32_t fidx)
{
    return &c->m->types[c->m->func_type_idx[fidx]];
}

static uint8_t local_type(const comp *c, uint32_t idx)
{
    if (idx < c->type->nparams)
        return vm__functype_params(c->type)[idx];
    return c->fn->local_types[idx - c->type->nparams];
}

static uint8_t sig_type(char ch)
{
    switch (ch) {
    case 'I': return VM_I64;
    case 'f': return VM_F32;
    case 'F': return VM_F64;
    case 'v': return VM_V128;
    default: return VM_I32;
    }
}

/* The opcodes of SIMPLE_OPS: operands per the signature, result to the
 * canonical slot, immediates per the layout. */
static void compile_simple(comp *c, vm__opcode op, const uint8_t **pp,
                           const uint8_t *end)
{
    const vm__opinfo *info = &vm__opinfo_table[op];
    vm__iop iop = (vm__iop)(simple_iop[op] - 1);
    const char *sig = info->sig, *colon = strchr(sig, ':');
    uint32_t nin = (uint32_t)(colon - sig), si = 0, offset = 0, start;
    uint32_t in[3], d = 0;

    for (uint32_t k = nin; k-- > 0;)
        in[k] = vpop(c).slot;
    if (info->imm == VM_IMM_MEMARG) {
        (void)read_u32(pp, end); /* alignment: a hint */
        offset = read_u32(pp, end);
    } else if (info->imm == VM_IMM_MEMIDX) {
        (*pp)++;
    }
    if (colon[1])
        d = vpush(c, sig_type(colon[1]), NONE32);
    start = emit_op(c, iop);
    for (const char *l = vm__iop_layout[iop]; *l; l++) {
        switch (*l) {
        case 'd': emit_dst(c, d); break;
        case 's': emit_w(c, in[si++]); break;
        case 'o': emit_w(c, offset); break;
        }
    }
    if (is_fusible_cmp(iop)) {
        c->last.cmp_start = start;
        c->last.cmp_iop = (uint16_t)iop;
        c->last.s1 = in[0];
        c->last.s2 = nin > 1 ? in[1] : 0;
    }
}

/*
 * v128.const: a pair of adjacent pool slots (the low half first), shared
 * with any earlier pair of the same value; when the pool is full, a
 * V128_CONST into the canonical temp. The halves join the hash so that
 * scalar constants with the same bits can share them.
 */
static void push_const_v128(comp *c, uint64_t lo, uint64_t hi)
{
    uint32_t d;

    for (uint32_t k = 0; k + 1 < c->nconsts; k++) {
        if (c->consts[k] == lo && c->consts[k + 1] == hi) {
            vpush(c, VM_V128, c->nlocal_slots + k);
            return;
        }
    }
    if (c->nconsts + 2 <= CONST_POOL_MAX) {
        uint32_t k = c->nconsts;

        for (int half = 0; half < 2; half++) {
            uint64_t v = half ? hi : lo;
            uint32_t i = (uint32_t)((v * 0x9E3779B97F4A7C15ull) >> 53) &
                         (CONST_HASH_SIZE - 1);

            c->consts[c->nconsts++] = v;
            while (c->const_hash[i] && c->consts[c->const_hash[i] - 1u] != v)
                i = (i + 1) & (CONST_HASH_SIZE - 1);
            if (!c->const_hash[i])
                c->const_hash[i] = (uint16_t)c->nconsts;
        }
        vpush(c, VM_V128, c->nlocal_slots + k);
        return;
    }
    d = vpush(c, VM_V128, NONE32);
    emit_op(c, VM_IOP_V128_CONST);
    emit_dst(c, d);
    emit_w(c, (uint32_t)lo);
    emit_w(c, (uint32_t)(lo >> 32));
    emit_w(c, (uint32_t)hi);
    emit_w(c, (uint32_t)(hi >> 32));
}

/* The 0xFD opcodes: v128.const, or a SIMD_OPS row compiled like
 * compile_simple plus lane (i) words; the shuffle's 16 lane bytes travel
 * as 4 words. */
static void compile_simd(comp *c, vm__opcode op, const uint8_t **pp,
                         const uint8_t *end)
{
    const vm__opinfo *info = &vm__opinfo_table[op];
    const char *sig = info->sig, *colon = strchr(sig, ':');
    uint32_t nin = (uint32_t)(colon - sig), si = 0, ii = 0, offset = 0;
    uint32_t in[3], imm[4] = {0}, d = 0;
    vm__iop iop;

    if (op == VM_OP_V128_CONST) {
        uint64_t lo = read_le(pp, end, 8);
        push_const_v128(c, lo, read_le(pp, end, 8));
        return;
    }
    if (!simd_iop[op]) {
        set_error(c, VM_ERR_LIMIT, "opcode not supported by the compiler");
        return;
    }
    iop = (vm__iop)(simd_iop[op] - 1);
    for (uint32_t k = nin; k-- > 0;)
        in[k] = vpop(c).slot;
    switch (info->imm) {
    case VM_IMM_MEMARG:
    case VM_IMM_MEMARG_LANE:
        (void)read_u32(pp, end); /* alignment: a hint */
        offset = read_u32(pp, end);
        if (info->imm == VM_IMM_MEMARG_LANE)
            imm[0] = (uint32_t)read_le(pp, end, 1);
        break;
    case VM_IMM_LANE:
        imm[0] = (uint32_t)read_le(pp, end, 1);
        break;
    case VM_IMM_SHUFFLE:
        for (int k = 0; k < 4; k++)
            imm[k] = (uint32_t)read_le(pp, end, 4);
        break;
    default:
        break;
    }
    if (colon[1])
        d = vpush(c, sig_type(colon[1]), NONE32);
    emit_op(c, iop);
    for (const char *l = vm__iop_layout[iop]; *l; l++) {
        switch (*l) {
        case 'd': emit_dst(c, d); break;
        case 's': emit_w(c, in[si++]); break;
        case 'o': emit_w(c, offset); break;
        case 'i': emit_w(c, imm[ii++]); break;
        }
    }
}

static void compile_local_set(comp *c, uint32_t idx, bool tee)
{
    uint32_t slot = c->local_slot[idx];
    uint8_t type = local_type(c, idx);
    vent v = vpop(c);

    if (v.slot == slot) { /* local.get x; local.set x */
        if (tee)
            vpush(c, v.type, v.slot);
        return;
    }
    /* Peephole: the previous instruction computed v into its temp; make
     * it write the local instead. Not when other entries still read the
     * local: their copies would have to come before that instruction. */
    if (c->prev.d_word != NONE32 && v.slot == (TEMP_TAG | v.h) &&
        !c->status && c->words[c->prev.d_word] == v.slot &&
        c->refcnt[slot] == 0) {
        c->words[c->prev.d_word] = slot;
        if (tee)
            vpush(c, type, slot);
        return;
    }
    materialize_refs_to(c, slot);
    emit_copy(c, type, slot, v.slot);
    if (tee)
        vpush(c, v.type, v.slot);
}

static void compile_br_if(comp *c, uint32_t depth)
{
    cond k = pop_cond(c);
    ctl *f = &c->cs[c->ncs - 1 - depth];
    uint32_t skip;

    if (f->kind != CTL_FUNC && !needs_moves(c, f)) {
        emit_cond_branch(c, &k, true);
        emit_target(c, f);
        return;
    }
    emit_cond_branch(c, &k, false);
    skip = (uint32_t)c->nwords;
    emit_w(c, NONE32);
    emit_br(c, f);
    place_skip(c, skip);
}

static void compile_br_table(comp *c, const uint8_t **pp, const uint8_t *end)
{
    uint32_t n = read_u32(pp, end), total, table, *depth, *stub;
    vent idx;

    if ((uint64_t)n + 1 > (size_t)(end - *pp) + 1) {
        set_error(c, VM_ERR_LIMIT, "br_table too large");
        return;
    }
    total = n + 1;
    if (!grow(c, (void **)&c->scratch, &c->scratch_cap,
              (size_t)total + c->ncs, sizeof *c->scratch))
        return;
    depth = c->scratch;
    stub = c->scratch + total; /* per frame: its stub, or NONE32 */
    for (uint32_t i = 0; i < total; i++)
        depth[i] = read_u32(pp, end);
    for (uint32_t i = 0; i < c->ncs; i++)
        stub[i] = NONE32;

    idx = vpop(c);
    emit_op(c, VM_IOP_BR_TABLE);
    emit_w(c, idx.slot);
    emit_w(c, total);
    table = (uint32_t)c->nwords;
    for (uint32_t i = 0; i < total; i++) {
        ctl *f = &c->cs[c->ncs - 1 - depth[i]];
        if (f->kind != CTL_FUNC && !needs_moves(c, f))
            emit_target(c, f);
        else
            emit_w(c, NONE32); /* a stub, below */
    }
    /* Stubs: one per target that needs moves (or returns). */
    for (uint32_t i = 0; i < total && !c->status; i++) {
        uint32_t fi = c->ncs - 1 - depth[i];
        if (c->cs[fi].kind != CTL_FUNC && !needs_moves(c, &c->cs[fi]))
            continue;
        if (stub[fi] == NONE32) {
            stub[fi] = (uint32_t)c->nwords;
            c->label_pos = stub[fi];
            emit_br(c, &c->cs[fi]);
        }
        if (!c->status)
            c->words[table + i] = stub[fi];
    }
}

static void compile_call(comp *c, const vm__functype *t, uint32_t fidx,
                         bool indirect, uint32_t typeidx, uint32_t table)
{
    uint32_t elem = 0, a;

    if (indirect)
        elem = vpop(c).slot;
    a = prepare_args(c, t);
    if (indirect) {
        emit_op(c, VM_IOP_CALL_INDIRECT);
        emit_w(c, typeidx);
        emit_w(c, table);
        emit_w(c, elem);
    } else {
        emit_op(c, VM_IOP_CALL);
        emit_w(c, fidx);
    }
    emit_w(c, a);
    push_results(c, t);
}

/* return_call / return_call_indirect: the arguments as for a call, then
 * an instruction that replaces this frame with the callee's. */
static void compile_tail_call(comp *c, const vm__functype *t, uint32_t fidx,
                              bool indirect, uint32_t typeidx, uint32_t table)
{
    uint32_t elem = 0, a;

    if (indirect)
        elem = vpop(c).slot;
    a = prepare_args(c, t);
    if (indirect) {
        emit_op(c, VM_IOP_RETURN_CALL_INDIRECT);
        emit_w(c, typeidx);
        emit_w(c, table);
        emit_w(c, elem);
    } else {
        emit_op(c, VM_IOP_RETURN_CALL);
        emit_w(c, fidx);
    }
    emit_w(c, a);
    mark_unreachable(c);
}

/* ---- Exception handling ------------------------------------------------ */

static const vm__functype *tag_type(const comp *c, uint32_t tagidx)
{
    return &c->m->types[c->m->tag_type_idx[tagidx]];
}

static uint32_t params_slots(const vm__functype *t)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < t->nparams; i++)
        n += vm__type_slots(vm__functype_params(t)[i]);
    return n;
}

static vm__handler *add_handler(comp *c, const ctl *f, uint8_t kind)
{
    vm__handler *h;

    if (c->status || !grow(c, (void **)&c->handlers, &c->handlers_cap,
                           c->nhandlers + 1, sizeof *c->handlers))
        return NULL;
    h = &c->handlers[c->nhandlers++];
    memset(h, 0, sizeof *h);
    h->start = f->try_start;
    h->end = f->try_end;
    h->kind = kind;
    h->depth = f->tdepth;
    h->exn_slot = f->exn_slot;
    return h;
}

static void enter_try(comp *c, ctl *proto)
{
    ctl *f = enter_block(c, proto);

    if (!f)
        return;
    f->tdepth = c->try_depth++;
    f->body_tries = c->try_depth;
    f->in_catch = false;
    f->exn_slot = c->exn_base + c->try_nest++;
    f->try_start = f->try_end = (uint32_t)c->nwords;
}

/* The try body of f ends here: what follows is outside its range. */
static void close_try_body(comp *c, ctl *f)
{
    f->try_end = (uint32_t)c->nwords;
    f->in_catch = true;
    f->body_tries = --c->try_depth;
}

/*
 * catch x / catch_all: end the part before (the body or a catch) as else
 * ends a then part, then start a handler: the unwinder lands here with
 * the stack at f's base and, for catch, the tag's payload pushed.
 */
static void compile_catch(comp *c, bool all, uint32_t tagidx)
{
    ctl *f = &c->cs[c->ncs - 1];
    vm__handler *h;

    if (!f->unreachable && ret_equiv(c, f)) {
        emit_return(c);
    } else if (!f->unreachable) {
        materialize_top(c, f->nresults);
        emit_op(c, VM_IOP_BR);
        emit_target(c, f);
    }
    if (!f->in_catch)
        close_try_body(c, f);
    vpop_to(c, f->base);
    c->label_pos = (uint32_t)c->nwords;
    h = add_handler(c, f, all ? VM_HANDLER_CATCH_ALL : VM_HANDLER_CATCH);
    if (h) {
        h->tag = tagidx;
        h->target = (uint32_t)c->nwords;
        h->slot = TEMP_TAG | f->base_h;
    }
    if (!all) {
        const vm__functype *t = tag_type(c, tagidx);
        for (uint32_t i = 0; i < t->nparams; i++)
            vpush(c, vm__functype_params(t)[i], NONE32);
    }
    f->unreachable = false;
}

/* try ... delegate l: the body's exceptions go to the tries around label
 * l (counted from outside the try); then the try ends like a block. */
static void compile_delegate(comp *c, uint32_t label)
{
    ctl *f = &c->cs[c->ncs - 1];
    vm__handler *h;

    close_try_body(c, f);
    h = add_handler(c, f, VM_HANDLER_DELEGATE);
    if (h)
        h->exn_slot = c->cs[c->ncs - 2 - label].body_tries;
    c->try_nest--;
    do_end(c);
}

static void compile_throw(comp *c, uint32_t tagidx)
{
    const vm__functype *t = tag_type(c, tagidx);
    uint32_t a = prepare_args(c, t);

    emit_op(c, VM_IOP_THROW);
    emit_w(c, tagidx);
    emit_w(c, a);
    emit_w(c, params_slots(t));
    mark_unreachable(c);
}

static bool is_block_start(vm__opcode op)
{
    return op == VM_OP_BLOCK || op == VM_OP_LOOP || op == VM_OP_IF ||
           op == VM_OP_TRY;
}

/* global.get of an immutable defined global with a constant initializer
 * is that constant. Returns false when it is not one. */
static bool const_global(comp *c, uint32_t idx, uint8_t type)
{
    const vm__global *g;
    uint64_t v;

    if (idx < c->m->nglobals_imported || c->m->global_types[idx].mut)
        return false;
    g = &c->m->globals[idx - c->m->nglobals_imported];
    switch (g->init.kind) {
    case VM_CONST_I32: v = g->init.value.i32; break;
    case VM_CONST_I64: v = g->init.value.i64; break;
    case VM_CONST_F32: v = g->init.value.f32_bits; break;
    case VM_CONST_F64: v = g->init.value.f64_bits; break;
    case VM_CONST_REF_NULL: v = 0; break;
    case VM_CONST_V128: {
        uint64_t half[2];
        memcpy(half, g->init.value.v128, 16); /* little-endian lanes */
        push_const_v128(c, half[0], half[1]);
        return true;
    }
    default: return false;
    }
    push_const(c, type, v);
    return true;
}

/* Compile one wasm instruction in reachable code. */
static void compile_op(comp *c, vm__opcode op, const uint8_t **pp,
                       const uint8_t *end)
{
    const vm_module *m = c->m;
    uint32_t x, y, d;
    vent a, b, v;
    ctl proto, *f;

    if (simple_iop[op]) {
        compile_simple(c, op, pp, end);
        return;
    }
    if (vm__opinfo_table[op].prefix == 0xfd) {
        compile_simd(c, op, pp, end);
        return;
    }
    switch (op) {
    case VM_OP_NOP:
        break;
    case VM_OP_UNREACHABLE:
        fuel_close(c);
        emit_op(c, VM_IOP_UNREACHABLE);
        mark_unreachable(c);
        break;
    case VM_OP_BLOCK:
        proto.kind = CTL_BLOCK;
        if (read_blocktype(c, pp, end, &proto))
            enter_block(c, &proto);
        break;
    case VM_OP_LOOP:
        proto.kind = CTL_LOOP;
        if (!read_blocktype(c, pp, end, &proto) ||
            !(f = enter_block(c, &proto)))
            break;
        if (c->fuel_word != NONE32 && c->fuel_word + 1 == c->nwords) {
            /* Nothing since the open FUEL (function entry, or an outer
             * loop header): share it. The window restarts here so the
             * count stays a lower bound for the back edge. */
            f->loop_start = c->fuel_word - 1;
            c->fuel_count = 0;
        } else {
            fuel_close(c);
            f->loop_start = (uint32_t)c->nwords;
            fuel_open(c);
        }
        c->label_pos = f->loop_start;
        break;
    case VM_OP_IF: {
        cond k;
        fuel_close(c);
        proto.kind = CTL_IF;
        if (!read_blocktype(c, pp, end, &proto))
            break;
        k = pop_cond(c);
        if (!(f = enter_block(c, &proto)))
            break;
        emit_cond_branch(c, &k, false);
        f->else_patch = (uint32_t)c->nwords;
        emit_w(c, NONE32);
        break;
    }
    case VM_OP_ELSE:
        fuel_close(c);
        do_else(c);
        break;
    case VM_OP_END:
        fuel_close(c);
        f = &c->cs[c->ncs - 1];
        if (f->kind == CTL_TRY) {
            if (!f->in_catch)
                close_try_body(c, f); /* a try without catches */
            c->try_nest--;
        }
        do_end(c);
        break;
    case VM_OP_TRY:
        proto.kind = CTL_TRY;
        if (read_blocktype(c, pp, end, &proto))
            enter_try(c, &proto);
        break;
    case VM_OP_CATCH:
        fuel_close(c);
        compile_catch(c, false, read_u32(pp, end));
        break;
    case VM_OP_CATCH_ALL:
        fuel_close(c);
        compile_catch(c, true, 0);
        break;
    case VM_OP_DELEGATE:
        fuel_close(c);
        compile_delegate(c, read_u32(pp, end));
        break;
    case VM_OP_THROW:
        fuel_close(c);
        compile_throw(c, read_u32(pp, end));
        break;
    case VM_OP_RETHROW:
        fuel_close(c);
        f = &c->cs[c->ncs - 1 - read_u32(pp, end)];
        emit_op(c, VM_IOP_RETHROW);
        emit_w(c, f->exn_slot);
        mark_unreachable(c);
        break;
    case VM_OP_BR:
        fuel_close(c);
        emit_br(c, &c->cs[c->ncs - 1 - read_u32(pp, end)]);
        mark_unreachable(c);
        break;
    case VM_OP_BR_IF:
        fuel_close(c);
        compile_br_if(c, read_u32(pp, end));
        break;
    case VM_OP_BR_TABLE:
        fuel_close(c);
        compile_br_table(c, pp, end);
        mark_unreachable(c);
        break;
    case VM_OP_RETURN:
        fuel_close(c);
        emit_return(c);
        mark_unreachable(c);
        break;
    case VM_OP_CALL:
        x = read_u32(pp, end);
        compile_call(c, func_type(c, x), x, false, 0, 0);
        break;
    case VM_OP_CALL_INDIRECT:
        y = read_u32(pp, end);
        x = read_u32(pp, end);
        compile_call(c, &m->types[y], 0, true, y, x);
        break;
    /* Tail calls reuse this frame (see RETURN_CALL in interp.c). */
    case VM_OP_RETURN_CALL:
        fuel_close(c);
        x = read_u32(pp, end);
        compile_tail_call(c, func_type(c, x), x, false, 0, 0);
        break;
    case VM_OP_RETURN_CALL_INDIRECT:
        fuel_close(c);
        y = read_u32(pp, end);
        x = read_u32(pp, end);
        compile_tail_call(c, &m->types[y], 0, true, y, x);
        break;
    case VM_OP_DROP:
        (void)vpop(c);
        break;
    case VM_OP_SELECT:
    case VM_OP_SELECT_T: {
        vent k;
        uint8_t type;
        if (op == VM_OP_SELECT_T) {
            x = read_u32(pp, end);
            for (uint32_t i = 0; i < x && *pp < end; i++)
                (*pp)++;
        }
        k = vpop(c);
        b = vpop(c);
        a = vpop(c);
        type = a.type;
        d = vpush(c, type, NONE32);
        emit_op(c, vm__type_slots(type) == 2 ? VM_IOP_SELECT2
                                              : VM_IOP_SELECT);
        emit_dst(c, d);
        emit_w(c, a.slot);
        emit_w(c, b.slot);
        emit_w(c, k.slot);
        break;
    }
    case VM_OP_LOCAL_GET:
        x = read_u32(pp, end);
        vpush(c, local_type(c, x), c->local_slot[x]);
        break;
    case VM_OP_LOCAL_SET:
    case VM_OP_LOCAL_TEE:
        compile_local_set(c, read_u32(pp, end), op == VM_OP_LOCAL_TEE);
        break;
    case VM_OP_GLOBAL_GET: {
        uint8_t type;
        x = read_u32(pp, end);
        type = m->global_types[x].type;
        if (const_global(c, x, type))
            break;
        d = vpush(c, type, NONE32);
        emit_op(c, vm__type_slots(type) == 2 ? VM_IOP_GLOBAL_GET2
                                              : VM_IOP_GLOBAL_GET);
        emit_dst(c, d);
        emit_w(c, x);
        break;
    }
    case VM_OP_GLOBAL_SET:
        x = read_u32(pp, end);
        v = vpop(c);
        emit_op(c, vm__type_slots(m->global_types[x].type) == 2
                       ? VM_IOP_GLOBAL_SET2
                       : VM_IOP_GLOBAL_SET);
        emit_w(c, x);
        emit_w(c, v.slot);
        break;
    case VM_OP_I32_CONST:
        push_const(c, VM_I32, (uint32_t)read_s64(pp, end));
        break;
    case VM_OP_I64_CONST:
        push_const(c, VM_I64, (uint64_t)read_s64(pp, end));
        break;
    case VM_OP_F32_CONST:
        push_const(c, VM_F32, read_le(pp, end, 4));
        break;
    case VM_OP_F64_CONST:
        push_const(c, VM_F64, read_le(pp, end, 8));
        break;
    case VM_OP_REF_NULL: /* null is 0: a pool constant */
        push_const(c, (uint8_t)read_le(pp, end, 1), 0);
        break;
    case VM_OP_REF_IS_NULL:
        v = vpop(c);
        d = vpush(c, VM_I32, NONE32);
        emit_op(c, VM_IOP_REF_IS_NULL);
        emit_dst(c, d);
        emit_w(c, v.slot);
        break;
    case VM_OP_REF_FUNC:
        x = read_u32(pp, end);
        d = vpush(c, VM_FUNCREF, NONE32);
        emit_op(c, VM_IOP_REF_FUNC);
        emit_dst(c, d);
        emit_w(c, x);
        break;
    case VM_OP_TABLE_GET:
        x = read_u32(pp, end);
        v = vpop(c);
        d = vpush(c, m->tables[x].elem_type, NONE32);
        emit_op(c, VM_IOP_TABLE_GET);
        emit_dst(c, d);
        emit_w(c, x);
        emit_w(c, v.slot);
        break;
    case VM_OP_TABLE_SET:
        x = read_u32(pp, end);
        v = vpop(c);
        a = vpop(c);
        emit_op(c, VM_IOP_TABLE_SET);
        emit_w(c, x);
        emit_w(c, a.slot);
        emit_w(c, v.slot);
        break;
    case VM_OP_TABLE_SIZE:
        x = read_u32(pp, end);
        d = vpush(c, VM_I32, NONE32);
        emit_op(c, VM_IOP_TABLE_SIZE);
        emit_dst(c, d);
        emit_w(c, x);
        break;
    case VM_OP_TABLE_GROW:
        x = read_u32(pp, end);
        b = vpop(c); /* n */
        a = vpop(c); /* init */
        d = vpush(c, VM_I32, NONE32);
        emit_op(c, VM_IOP_TABLE_GROW);
        emit_dst(c, d);
        emit_w(c, x);
        emit_w(c, a.slot);
        emit_w(c, b.slot);
        break;
    case VM_OP_MEMORY_INIT:
    case VM_OP_MEMORY_COPY:
    case VM_OP_MEMORY_FILL:
    case VM_OP_TABLE_INIT:
    case VM_OP_TABLE_COPY:
    case VM_OP_TABLE_FILL: {
        /* Three operands (dst/index, src/value, n) after the immediates. */
        vm__iop iop;
        uint32_t imm[2], nimm = 0;
        vent n;
        switch (op) {
        case VM_OP_MEMORY_INIT:
            iop = VM_IOP_MEMORY_INIT;
            imm[nimm++] = read_u32(pp, end);
            (*pp)++;
            break;
        case VM_OP_MEMORY_COPY:
            iop = VM_IOP_MEMORY_COPY;
            *pp += 2;
            break;
        case VM_OP_MEMORY_FILL:
            iop = VM_IOP_MEMORY_FILL;
            (*pp)++;
            break;
        case VM_OP_TABLE_INIT: /* elemidx, tableidx: the layout's order */
            iop = VM_IOP_TABLE_INIT;
            imm[nimm++] = read_u32(pp, end);
            imm[nimm++] = read_u32(pp, end);
            break;
        case VM_OP_TABLE_COPY: /* dst table, src table */
            iop = VM_IOP_TABLE_COPY;
            imm[nimm++] = read_u32(pp, end);
            imm[nimm++] = read_u32(pp, end);
            break;
        default:
            iop = VM_IOP_TABLE_FILL;
            imm[nimm++] = read_u32(pp, end);
            break;
        }
        n = vpop(c);
        b = vpop(c);
        a = vpop(c);
        emit_op(c, iop);
        for (uint32_t i = 0; i < nimm; i++)
            emit_w(c, imm[i]);
        emit_w(c, a.slot);
        emit_w(c, b.slot);
        emit_w(c, n.slot);
        break;
    }
    case VM_OP_DATA_DROP:
    case VM_OP_ELEM_DROP:
        x = read_u32(pp, end);
        emit_op(c, op == VM_OP_DATA_DROP ? VM_IOP_DATA_DROP
                                         : VM_IOP_ELEM_DROP);
        emit_w(c, x);
        break;
    default:
        set_error(c, VM_ERR_LIMIT, "opcode not supported by the compiler");
        break;
    }
}

/* The pre-scan behind ret_equiv(): block end offsets, final end run; and
 * the deepest nesting of try blocks (one hidden exception local each).
 * blk_stack entries of try blocks carry TRY_BIT. */
#define TRY_BIT 0x80000000u
static void prescan(comp *c)
{
    const uint8_t *p = c->fn->body, *end = p + c->fn->body_len;
    uint32_t depth = 0, tries = 0;

    c->nblocks = 0;
    c->final_ends = NONE32;
    c->max_tries = 0;
    while (p < end && !c->status) {
        uint32_t off = (uint32_t)(p - c->fn->body), code = *p++;
        uint8_t prefix = 0;
        vm__opcode op;

        if (code == 0xfc || code == 0xfd) {
            prefix = (uint8_t)code;
            code = read_u32(&p, end);
        }
        op = vm__opcode_lookup(prefix, code);
        if (op == VM_OP_COUNT)
            return; /* compile_body reports it */
        if (op == VM_OP_END || op == VM_OP_DELEGATE) {
            /* delegate ends its try too, but it is not an end */
            c->final_ends = op == VM_OP_DELEGATE ? NONE32
                            : c->final_ends == NONE32 ? off
                                                      : c->final_ends;
            if (depth > 0) {
                uint32_t b = c->blk_stack[--depth];
                if (b & TRY_BIT)
                    tries--;
                c->blk_end[b & ~TRY_BIT] = off;
            }
            skip_imm(&p, end, vm__opinfo_table[op].imm);
            continue;
        }
        c->final_ends = NONE32;
        if (is_block_start(op)) {
            if (!grow(c, (void **)&c->blk_end, &c->blk_end_cap,
                      (size_t)c->nblocks + 1, sizeof *c->blk_end) ||
                !grow(c, (void **)&c->blk_stack, &c->blk_stack_cap,
                      (size_t)depth + 1, sizeof *c->blk_stack))
                return;
            c->blk_end[c->nblocks] = 0;
            c->blk_stack[depth++] = c->nblocks++ |
                                    (op == VM_OP_TRY ? TRY_BIT : 0);
            if (op == VM_OP_TRY && ++tries > c->max_tries)
                c->max_tries = tries;
        }
        skip_imm(&p, end, vm__opinfo_table[op].imm);
    }
}

/* ---- Step points (stepped code) -------------------------------------- */

/* Is off a step point? Offsets come in increasing order (the body walk),
 * so a cursor replaces the search. */
static bool at_step_point(comp *c, uint32_t off)
{
    while (c->step_next < c->nsteps && c->steps[c->step_next] < off)
        c->step_next++;
    return c->step_next < c->nsteps && c->steps[c->step_next] == off;
}

/*
 * Where a step point's marker goes. Before the instruction, as a rule;
 * but the structure instructions that branches land on get theirs where
 * the branches land, so that the point fires on every arrival: a loop's
 * after its header label (on entry and on every back edge), a block's
 * end (or delegate) after its label (on fallthrough and on every branch
 * to the block), else at the start of the else arm and catch at its
 * handler (not when the part before falls into them: that part jumps to
 * the end). The function's final end keeps its marker before the return:
 * only fallthrough reaches it.
 */
static bool step_lands_after(const comp *c, vm__opcode op)
{
    switch (op) {
    case VM_OP_LOOP:
    case VM_OP_ELSE:
    case VM_OP_CATCH:
    case VM_OP_CATCH_ALL:
    case VM_OP_DELEGATE:
        return true;
    case VM_OP_END:
        return c->ncs > 1;
    default:
        return false;
    }
}

/* The marker of the point at_step_point found (the cursor's). */
static void emit_step(comp *c)
{
    emit_op(c, VM_IOP_TRACE_STEP);
    emit_w(c, c->cur_off);
    emit_w(c, c->step_next);
}

/* The first step point at or after off. */
static uint32_t step_lower_bound(const comp *c, uint32_t off)
{
    uint32_t lo = 0, hi = c->nsteps;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->steps[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Position the step cursor at the body, and see whether a point lies in
 * its final run of ends (after prescan; ret_equiv). */
static void steps_begin(comp *c)
{
    uint32_t body = (uint32_t)(c->fn->body - c->m->bytes), k;

    c->step_next = step_lower_bound(c, body);
    c->step_in_final_ends = false;
    if (c->final_ends == NONE32)
        return;
    k = step_lower_bound(c, body + c->final_ends);
    c->step_in_final_ends =
        k < c->nsteps && c->steps[k] - body < c->fn->body_len;
}

static int compile_body(comp *c)
{
    const uint8_t *p = c->fn->body, *end = p + c->fn->body_len;
    uint32_t skip_depth = 0; /* blocks opened inside dead code */
    ctl *f;

    if (!grow(c, (void **)&c->cs, &c->cs_cap, 1, sizeof *c->cs))
        return c->status;
    f = &c->cs[0];
    memset(f, 0, sizeof *f);
    f->kind = CTL_FUNC;
    f->nresults = c->type->nresults;
    f->results = vm__functype_results(c->type);
    f->patch = f->else_patch = f->loop_start = NONE32;
    c->ncs = 1;
    c->block_ord = 0;
    c->try_depth = c->try_nest = 0;
    c->nhandlers = 0;
    c->prev.d_word = c->prev.cmp_start = NONE32;
    c->last = c->prev;
    c->cur_off = (uint32_t)(c->fn->body - c->m->bytes);
    /* Stepped code tells the sink where a frame starts (a call, a tail
     * call, an entry from the host all run word 0; no branch targets it),
     * so that a call or return entry need not test for steps. */
    if (c->stepped)
        emit_op(c, VM_IOP_TRACE_FRAME);
    fuel_open(c);

    while (p < end && c->ncs > 0 && !c->status) {
        const uint8_t *start = p;
        uint8_t prefix = 0;
        uint32_t code = *p++;
        vm__opcode op;
        bool step, step_after;
        uint32_t next_at;

        if (code == 0xfc || code == 0xfd) {
            prefix = (uint8_t)code;
            code = read_u32(&p, end);
        }
        op = vm__opcode_lookup(prefix, code);
        if (op == VM_OP_COUNT) {
            set_error(c, VM_ERR_LIMIT, "unknown opcode");
            break;
        }
        if (c->cs[c->ncs - 1].unreachable) {
            /* Dead code: emit nothing, only track nesting. delegate ends
             * a try like end; catch and catch_all start a part like
             * else, which is live again. */
            bool closes = op == VM_OP_END || op == VM_OP_DELEGATE;
            bool part = op == VM_OP_ELSE || op == VM_OP_CATCH ||
                        op == VM_OP_CATCH_ALL;
            if (is_block_start(op)) {
                skip_depth++;
                c->block_ord++;
                skip_imm(&p, end, vm__opinfo_table[op].imm);
                continue;
            }
            if (skip_depth > 0 || (!closes && !part)) {
                if (closes)
                    skip_depth--;
                skip_imm(&p, end, vm__opinfo_table[op].imm);
                continue;
            }
        }
        c->cur_off = (uint32_t)(start - c->m->bytes);
        c->prev = c->last;
        c->last.d_word = c->last.cmp_start = NONE32;
        if (c->fuel_word != NONE32)
            c->fuel_count++;
        /*
         * Instrumented code: the marker goes before everything the
         * instruction emits, and labels are placed after it, so a branch
         * to a block's end or a loop's header does not run the end or loop
         * marker. It also sits between an instruction and the one before,
         * which turns off compare fusion and loop fuel sharing (both need
         * adjacent code); result retargeting stays valid.
         */
        step = c->stepped && at_step_point(c, c->cur_off);
        step_after = step && step_lands_after(c, op);
        if (step && !step_after && !c->cs[c->ncs - 1].unreachable)
            emit_step(c);
        next_at = NONE32;
        if (c->instrument && !c->cs[c->ncs - 1].unreachable) {
            emit_op(c, VM_IOP_TRACE_OP);
            emit_w(c, prefix ? VM_TRACE_OPCODE(prefix, code) : code);
            emit_w(c, c->cur_off);
            next_at = (uint32_t)c->nwords;
            emit_w(c, 0); /* the next instruction's offset, below */
        }
        compile_op(c, op, &p, end);
        if (next_at != NONE32 && !c->status)
            c->words[next_at] = (uint32_t)(p - c->m->bytes);
        if (step_after && c->ncs > 0 && !c->cs[c->ncs - 1].unreachable)
            emit_step(c);
    }
    fuel_close(c);
    return c->status;
}

/* ---- Per function -------------------------------------------------- */

static void comp_reset(comp *c, const vm__func *fn)
{
    c->fn = fn;
    c->type = &c->m->types[fn->type_idx];
    c->status = 0;
    c->nwords = c->nsrc = 0;
    c->label_pos = NONE32;
    c->nconsts = 0;
    memset(c->const_hash, 0, sizeof c->const_hash);
    c->nvs = c->ncs = 0;
    c->h = c->maxh = 0;
    c->nlocal_refs = 0;
    c->fuel_word = NONE32;
    c->fuel_count = 0;
}

/* Lay out params and locals; slots are counted in 64 bits so that an
 * absurd local count is a LIMIT error, not an overflow. */
static int layout_locals(comp *c)
{
    const vm__functype *t = c->type;
    uint64_t slot = 0, nparam_slots = 0, nresult_slots = 0;
    uint32_t n = t->nparams + c->fn->nlocals;

    if (!grow(c, (void **)&c->local_slot, &c->local_cap, (size_t)n + 1,
              sizeof *c->local_slot))
        return c->status;
    for (uint32_t i = 0; i < n; i++) {
        c->local_slot[i] = (uint32_t)slot;
        slot += vm__type_slots(local_type(c, i));
        if (i + 1 == t->nparams)
            nparam_slots = slot;
        if (slot >= HEIGHT_MAX) {
            set_error(c, VM_ERR_LIMIT, "too many local slots");
            return c->status;
        }
    }
    for (uint32_t i = 0; i < t->nresults; i++)
        nresult_slots += vm__type_slots(vm__functype_results(t)[i]);
    /* The hidden exception locals (rethrow), zeroed at entry like the
     * declared ones. */
    c->exn_base = (uint32_t)slot;
    slot += c->max_tries;
    if (slot >= HEIGHT_MAX) {
        set_error(c, VM_ERR_LIMIT, "too many local slots");
        return c->status;
    }
    c->nparam_slots = (uint32_t)nparam_slots;
    c->nresult_slots = (uint32_t)nresult_slots;
    c->nlocal_slots = (uint32_t)slot;
    vm__free(c->refcnt);
    c->refcnt = vm__calloc(slot + 1, sizeof *c->refcnt);
    if (!c->refcnt)
        set_error(c, VM_ERR_NOMEM, "out of memory");
    return c->status;
}

/*
 * Finish: relocate the temp slots (TEMP_TAG | h becomes temp_base + h)
 * and thread the opcode words through the interpreter's dispatch table.
 * Every instruction has a source-map entry, so the map lists them all.
 */
static void finish_words(uint32_t *words, const uint32_t *srcmap,
                         size_t nsrc, uint32_t temp_base, bool traced)
{
    const uint32_t *dispatch =
        traced ? vm__interp_dispatch_traced() : vm__interp_dispatch();

    for (size_t i = 0; i < nsrc; i++) {
        uint32_t start = srcmap[2 * i], pos = start + 1, op = words[start];
        for (const char *l = vm__iop_layout[op]; *l; l++) {
            switch (*l) {
            case 'd':
            case 's':
            case 'a':
                if (words[pos] & TEMP_TAG)
                    words[pos] = temp_base + (words[pos] & ~TEMP_TAG);
                pos++;
                break;
            case 'L':
                pos += 2;
                break;
            case '*':
                pos += words[pos - 1];
                break;
            default:
                pos++;
                break;
            }
        }
        words[start] = dispatch[op];
    }
}

/* Word 0 of a one-word call or return entry (vm.h, VM_SINK_CALL1) of
 * function func with values of these n types, but for depth and value;
 * 0 when its entries take the general form. */
static uint64_t sink_word1(unsigned kind, uint32_t func, uint32_t n,
                           const uint8_t *types)
{
    if (n != 1 || func >= VM_SINK1_FUNCS ||
        (types[0] != VM_I32 && types[0] != VM_F32))
        return 0;
    return kind | (uint64_t)func << 4;
}

static int compile_func(comp *c, const vm__func *fn, vm__code **out)
{
    vm__code *code;
    uint64_t temp_base, frame_slots;

    *out = NULL;
    comp_reset(c, fn);
    prescan(c); /* before layout_locals: it counts the exception locals */
    if (c->stepped)
        steps_begin(c);
    if (c->status || layout_locals(c) || compile_body(c))
        return c->status;
    temp_base = (uint64_t)c->nlocal_slots + c->nconsts;
    frame_slots = temp_base + c->maxh;
    if (frame_slots >= 0x7fffffffu) {
        set_error(c, VM_ERR_LIMIT, "frame larger than 2^31 slots");
        return c->status;
    }
    code = vm__calloc(1, sizeof *code);
    if (!code)
        goto fail_nomem;
    code->words = vm__malloc(c->nwords * sizeof *code->words);
    code->consts = vm__malloc(c->nconsts * sizeof *code->consts);
    code->srcmap = vm__malloc(c->nsrc * 2 * sizeof *code->srcmap);
    if (!code->words || !code->consts || !code->srcmap)
        goto fail_code;
    memcpy(code->words, c->words, c->nwords * sizeof *code->words);
    memcpy(code->consts, c->consts, c->nconsts * sizeof *code->consts);
    memcpy(code->srcmap, c->srcmap, c->nsrc * 2 * sizeof *code->srcmap);
    code->nwords = (uint32_t)c->nwords;
    code->nparam_slots = c->nparam_slots;
    code->nresult_slots = c->nresult_slots;
    code->nlocal_slots = c->nlocal_slots;
    code->nconsts = c->nconsts;
    code->temp_base = (uint32_t)temp_base;
    code->frame_slots = (uint32_t)frame_slots;
    code->nsrcmap = (uint32_t)c->nsrc;
    if (c->nhandlers) {
        code->handlers = vm__malloc(c->nhandlers * sizeof *code->handlers);
        if (!code->handlers)
            goto fail_code;
        for (size_t i = 0; i < c->nhandlers; i++) {
            vm__handler h = c->handlers[i];
            if (h.kind == VM_HANDLER_CATCH && (h.slot & TEMP_TAG))
                h.slot = code->temp_base + (h.slot & ~TEMP_TAG);
            code->handlers[i] = h;
        }
        code->nhandlers = (uint32_t)c->nhandlers;
    }
    code->func_idx = c->m->nfuncs_imported + (uint32_t)(fn - c->m->funcs);
    code->sink_call = VM_SINK_CALL | (uint64_t)code->nparam_slots << 4 |
                      (uint64_t)code->func_idx << 16;
    code->sink_ret = VM_SINK_RETURN | (uint64_t)code->nresult_slots << 4 |
                     (uint64_t)code->func_idx << 16;
    code->sink_call_len = 8 + 8 * code->nparam_slots;
    code->sink_ret_len = 8 + 8 * code->nresult_slots;
    code->sink_call1 = sink_word1(VM_SINK_CALL1, code->func_idx,
                                  c->type->nparams,
                                  vm__functype_params(c->type));
    code->sink_ret1 = sink_word1(VM_SINK_RETURN1, code->func_idx,
                                 c->type->nresults,
                                 vm__functype_results(c->type));
    code->sink_call1_depths = code->sink_call1 ? VM_SINK1_DEPTHS : 0;
    code->sink_ret1_depths = code->sink_ret1 ? VM_SINK1_DEPTHS : 0;
    finish_words(code->words, code->srcmap, c->nsrc, code->temp_base,
                 c->traced);
    *out = code;
    return 0;

fail_code:
    vm__code_free(code);
fail_nomem:
    set_error(c, VM_ERR_NOMEM, "out of memory");
    return c->status;
}

void vm__code_free(vm__code *code)
{
    if (!code)
        return;
    vm__free(code->words);
    vm__free(code->consts);
    vm__free(code->srcmap);
    vm__free(code->handlers);
    for (int i = 0; i < VM_CODE_VARIANTS; i++) {
        vm__code *v = atomic_load_explicit(&code->variants[i],
                                           memory_order_acquire);
        bool shared = false;
        /* A stepped slot may hold the unstepped variant (no points). */
        for (int k = 0; k < i && v; k++)
            shared |= v == atomic_load_explicit(&code->variants[k],
                                                memory_order_acquire);
        if (!shared)
            vm__code_free(v);
    }
    vm__free(code);
}

static void comp_free(comp *c)
{
    vm__free(c->local_slot);
    vm__free(c->refcnt);
    vm__free(c->words);
    vm__free(c->srcmap);
    vm__free(c->vs);
    vm__free(c->cs);
    vm__free(c->scratch);
    vm__free(c->blk_end);
    vm__free(c->blk_stack);
    vm__free(c->handlers);
    vm__free(c);
}

/*
 * A tracing variant is the function compiled again from its wasm body
 * (it compiled once, so only NOMEM can fail), threaded for run_traced.
 * Two threads may race to make the same one: both compile, one
 * compare-and-swap wins, the loser frees its copy. The module is not
 * otherwise written, so it stays shareable across stores and threads.
 */
const vm__code *vm__code_variant(const struct vm_func *f, unsigned which)
{
    const vm_module *m = f->inst->module;
    vm__code *base = (vm__code *)f->code, *v = NULL, *expected = NULL;
    comp *c;
    int rc;

    /* Without step points stepped code is the code without them: share
     * that variant rather than compile a copy. */
    if ((which & VM_CODE_STEPPED) && m->nstep_points == 0) {
        const vm__code *same = atomic_load_explicit(
            &base->variants[which & ~VM_CODE_STEPPED], memory_order_acquire);
        if (!same)
            same = vm__code_variant(f, which & ~VM_CODE_STEPPED);
        if (!same)
            return NULL;
        if (!atomic_compare_exchange_strong_explicit(
                &base->variants[which], &expected, (vm__code *)same,
                memory_order_acq_rel, memory_order_acquire))
            return expected;
        return same;
    }
    c = vm__calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->m = m;
    c->traced = true;
    c->instrument = (which & VM_CODE_INSTRUMENTED) != 0;
    c->stepped = (which & VM_CODE_STEPPED) != 0;
    c->steps = m->step_points;
    c->nsteps = m->nstep_points;
    rc = compile_func(c, &m->funcs[f->func_idx - m->nfuncs_imported], &v);
    comp_free(c);
    if (rc)
        return NULL;
    if (!atomic_compare_exchange_strong_explicit(
            &base->variants[which], &expected, v, memory_order_acq_rel,
            memory_order_acquire)) {
        vm__code_free(v);
        v = expected;
    }
    return v;
}

int vm__compile(vm_module *m, char *err, size_t errlen)
{
    uint32_t ndefined = m->nfuncs_total - m->nfuncs_imported;
    comp *c = vm__calloc(1, sizeof *c);
    int rc = 0;

    if (!c)
        return vm__error(err, errlen, VM_ERR_NOMEM, "out of memory");
    c->m = m;
    c->err = err;
    c->errlen = errlen;
    for (uint32_t i = 0; i < ndefined && rc == 0; i++) {
        vm__code_free(m->funcs[i].code);
        rc = compile_func(c, &m->funcs[i], &m->funcs[i].code);
    }
    if (rc) {
        for (uint32_t i = 0; i < ndefined; i++) {
            vm__code_free(m->funcs[i].code);
            m->funcs[i].code = NULL;
        }
    }
    comp_free(c);
    return rc;
}

/* ---- Disassembler ------------------------------------------------------ */

typedef struct dumpbuf {
    char *buf;
    size_t len, pos;
} dumpbuf;

static void __attribute__((format(printf, 2, 3)))
dprint(dumpbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(b->pos < b->len ? b->buf + b->pos : NULL,
                  b->pos < b->len ? b->len - b->pos : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->pos += (size_t)n;
}

static void dump_slot(dumpbuf *b, const vm__code *code, uint32_t s)
{
    if (s < code->nlocal_slots) {
        dprint(b, " l%u", s);
    } else if (s < code->temp_base) {
        uint64_t v = code->consts[s - code->nlocal_slots];
        if (v < 0x80000000u)
            dprint(b, " #%llu", (unsigned long long)v);
        else
            dprint(b, " #0x%llx", (unsigned long long)v);
    } else {
        dprint(b, " t%u", s - code->temp_base);
    }
}

size_t vm__code_dump(const vm__code *code, char *buf, size_t len)
{
    const uint32_t *dispatch = vm__interp_dispatch();
    dumpbuf b = {buf, len, 0};
    uint32_t pc = 0;

    if (len)
        buf[0] = '\0';
    dprint(&b, "; param slots %u, local slots %u, consts %u, frame %u\n",
           code->nparam_slots, code->nlocal_slots, code->nconsts,
           code->frame_slots);
    while (pc < code->nwords) {
        uint32_t op = 0, start = pc;
        while (op < VM_IOP_COUNT && dispatch[op] != code->words[pc])
            op++;
        if (op == VM_IOP_COUNT) {
            dprint(&b, "%4u: ??? 0x%x\n", pc, code->words[pc]);
            pc++;
            continue;
        }
        dprint(&b, "%4u: %s", start, vm__iop_name[op]);
        pc++;
        for (const char *l = vm__iop_layout[op]; *l && pc < code->nwords;
             l++) {
            switch (*l) {
            case 'd':
            case 's':
            case 'a':
                dump_slot(&b, code, code->words[pc++]);
                break;
            case 't':
                dprint(&b, " @%u", code->words[pc++]);
                break;
            case 'L':
                dprint(&b, " 0x%llx",
                       (unsigned long long)code->words[pc] |
                           (unsigned long long)code->words[pc + 1] << 32);
                pc += 2;
                break;
            case '*':
                for (uint32_t i = 0, n = code->words[pc - 1];
                     i < n && pc < code->nwords; i++)
                    dprint(&b, " @%u", code->words[pc++]);
                break;
            default:
                dprint(&b, " %u", code->words[pc++]);
                break;
            }
        }
        dprint(&b, "\n");
    }
    for (uint32_t i = 0; i < code->nhandlers; i++) {
        const vm__handler *h = &code->handlers[i];
        dprint(&b, "handler [%u, %u) depth %u: ", h->start, h->end, h->depth);
        if (h->kind == VM_HANDLER_DELEGATE) {
            dprint(&b, "delegate, limit %u\n", h->exn_slot);
            continue;
        }
        if (h->kind == VM_HANDLER_CATCH) {
            dprint(&b, "catch tag %u @%u payload", h->tag, h->target);
            dump_slot(&b, code, h->slot);
        } else {
            dprint(&b, "catch_all @%u", h->target);
        }
        dprint(&b, " exn");
        dump_slot(&b, code, h->exn_slot);
        dprint(&b, "\n");
    }
    return b.pos;
}
