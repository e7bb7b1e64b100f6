/*
 * Validation: the WebAssembly 2.0 typing rules over a decoded module.
 *
 * The module-level rules (index spaces, limits, constant expressions,
 * segments, exports, start) come first, so that the body pass may index
 * the module's tables without re-checking them. Function bodies are then
 * checked with the algorithm of the spec's appendix ("Validation
 * Algorithm"): an operand stack of value types whose bottom is an
 * "unknown" type once code is unreachable, and a control stack of frames
 * carrying label types, start and end types, the operand stack height at
 * entry and an unreachable flag. Every rule is a literal reading of that
 * algorithm so that it can be checked line by line against the spec.
 *
 * Messages start with the spec's own text (the spec runner matches on it:
 * "type mismatch", "unknown local 3", ...) and then say where, e.g.
 * "type mismatch (function 3, offset 0x2a: i32.add expects i32, got f64)".
 * Offsets are from the start of the module binary.
 *
 * The decoder guarantees well-formed bodies (known opcodes of enabled
 * features, well-formed immediates, exact block nesting, a final end), so
 * malformation here means a decoder bug; the body reader still checks every
 * byte it reads against the body's end and reports MALFORMED rather than
 * over-read.
 *
 * Extension points: opcodes whose opcodes.def signature is not "*" are
 * typed from the table, so SIMD rows need nothing here beyond their
 * immediates (lane index bounds in read_lane(), the natural alignment of
 * their memory accesses in natural_align_log2()). Tail calls are
 * implemented; the legacy exception-handling instructions are typed in
 * validate_exception_op.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module_int.h"
#include "vm_opcodes.h"

/* The spec algorithm's "Unknown" operand type; no valtype encodes as 0. */
#define VT_UNKNOWN 0u

/* Propagate a negative status from a step that can fail. */
#define PROPAGATE(expr)                                                     \
    do {                                                                    \
        int propagate_rc_ = (expr);                                         \
        if (propagate_rc_ < 0)                                              \
            return propagate_rc_;                                           \
    } while (0)

/* Single-type sequences for block types written as one valtype: frames
 * point at these instead of owning a copy. */
static const uint8_t single_types[] = {VM_I32,  VM_I64,     VM_F32,
                                       VM_F64,  VM_V128,    VM_FUNCREF,
                                       VM_EXTERNREF};

static const uint8_t *single_type(uint8_t t)
{
    return memchr(single_types, t, sizeof single_types);
}

static const char *type_name(uint8_t t)
{
    return t == VT_UNKNOWN ? "unknown" : vm_valtype_name((vm_valtype)t);
}

static bool is_num_or_vec(uint8_t t)
{
    return t == VT_UNKNOWN || t == VM_I32 || t == VM_I64 || t == VM_F32 ||
           t == VM_F64 || t == VM_V128;
}

static bool is_ref(uint8_t t)
{
    return t == VT_UNKNOWN || t == VM_FUNCREF || t == VM_EXTERNREF;
}

static bool types_equal(const uint8_t *a, uint32_t na, const uint8_t *b,
                        uint32_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

/* ---- Module-level rules ------------------------------------------------ */

static bool is_const_opcode(uint32_t op)
{
    switch (op) {
    case VM_OP_I32_CONST:
    case VM_OP_I64_CONST:
    case VM_OP_F32_CONST:
    case VM_OP_F64_CONST:
    case VM_OP_GLOBAL_GET:
    case VM_OP_REF_NULL:
    case VM_OP_REF_FUNC:
        return true;
    default:
        /* v128.const is a constant instruction too; SIMD rows give it a
         * V128 immediate, which no other opcode has. */
        return op < VM_OP_COUNT && vm__opinfo_table[op].imm == VM_IMM_V128;
    }
}

/*
 * The decoder turns anything but a single constant instruction into
 * VM_CONST_INVALID. Which rule that breaks depends on the whole sequence,
 * as the reference interpreter checks it: any non-constant instruction is
 * "constant expression required", while only constant instructions (or
 * none) are a typing error, "type mismatch" (global.wast has both). Scan
 * the expression's bytes for its first non-constant instruction; returns
 * its opcode, or VM_OP_END when there is none. The scan stops at the first
 * non-constant opcode, so it only needs the constant instructions'
 * immediates, and never reads past the module's end.
 */
static vm__opcode first_nonconst_opcode(const vm_module *m, size_t pos)
{
    while (pos < m->len) {
        uint8_t byte = m->bytes[pos++];
        uint32_t code = byte;
        vm__opcode op;
        size_t skip = 0;
        unsigned lebs = 0;

        if (byte == 0xfc || byte == 0xfd) {
            code = 0;
            for (unsigned shift = 0; pos < m->len && shift < 35;
                 shift += 7) {
                uint8_t b = m->bytes[pos++];

                code |= (uint32_t)(b & 0x7f) << shift;
                if (!(b & 0x80))
                    break;
            }
        }
        op = vm__opcode_lookup(byte == 0xfc || byte == 0xfd ? byte : 0, code);
        if (op == VM_OP_END || op == VM_OP_COUNT)
            return op == VM_OP_END ? VM_OP_END : VM_OP_NOP;
        if (!is_const_opcode(op))
            return op;
        switch (vm__opinfo_table[op].imm) {
        case VM_IMM_F32: skip = 4; break;
        case VM_IMM_F64: skip = 8; break;
        case VM_IMM_V128: skip = 16; break;
        case VM_IMM_REFTYPE: skip = 1; break;
        default: lebs = 1; break; /* I32, I64, FUNC, GLOBAL */
        }
        if (lebs) {
            while (pos < m->len && (m->bytes[pos] & 0x80))
                pos++;
            pos++;
        }
        pos += skip;
    }
    return VM_OP_END;
}

/*
 * A constant expression of type want, in the Wasm 2.0 context C' where
 * global.get may only name an imported, immutable global and ref.func any
 * function. where names the expression for messages ("global 3").
 */
static int check_const(const vm_module *m, const vm__constexpr *c,
                       uint8_t want, const char *where, char *err,
                       size_t errlen)
{
    vm__opcode op;
    uint8_t got;

    switch (c->kind) {
    case VM_CONST_I32: got = VM_I32; break;
    case VM_CONST_I64: got = VM_I64; break;
    case VM_CONST_F32: got = VM_F32; break;
    case VM_CONST_F64: got = VM_F64; break;
    case VM_CONST_V128: got = VM_V128; break;
    case VM_CONST_REF_NULL: got = c->ref_type; break;
    case VM_CONST_REF_FUNC:
        if (c->index >= m->nfuncs_total)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "unknown function %u (%s, offset 0x%zx)",
                             c->index, where, c->offset);
        got = VM_FUNCREF;
        break;
    case VM_CONST_GLOBAL_GET:
        /* Wasm 2.0: only imported globals are visible here; a defined
         * global, even an earlier one, is unknown (global.wast). */
        if (c->index >= m->nglobals_imported)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "unknown global %u (%s, offset 0x%zx: constant "
                             "expressions may only read imported globals)",
                             c->index, where, c->offset);
        if (m->global_types[c->index].mut)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "constant expression required (%s, offset "
                             "0x%zx: global.get %u of a mutable global)",
                             where, c->offset, c->index);
        got = m->global_types[c->index].type;
        break;
    case VM_CONST_INVALID:
    default:
        op = first_nonconst_opcode(m, c->offset);
        if (op == VM_OP_END)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "type mismatch (%s, offset 0x%zx: a constant "
                             "expression must produce exactly one %s)",
                             where, c->offset, type_name(want));
        return vm__error(err, errlen, VM_ERR_INVALID,
                         "constant expression required (%s, offset 0x%zx: "
                         "%s is not a constant instruction)",
                         where, c->offset, vm__opinfo_table[op].text);
    }
    if (got != want)
        return vm__error(err, errlen, VM_ERR_INVALID,
                         "type mismatch (%s, offset 0x%zx: expected %s, got "
                         "%s)",
                         where, c->offset, type_name(want), type_name(got));
    return 0;
}

/* Limits {min, max?} within range: the reference interpreter's order. */
static int check_limits(const vm__limits *l, uint32_t range,
                        const char *range_msg, const char *where, char *err,
                        size_t errlen)
{
    if (l->min > range || (l->has_max && l->max > range))
        return vm__error(err, errlen, VM_ERR_INVALID, "%s (%s)", range_msg,
                         where);
    if (l->has_max && l->min > l->max)
        return vm__error(err, errlen, VM_ERR_INVALID,
                         "size minimum must not be greater than maximum (%s: "
                         "min %u, max %u)",
                         where, l->min, l->max);
    return 0;
}

static int compare_exports(const void *a, const void *b)
{
    const vm__export *x = *(const vm__export *const *)a;
    const vm__export *y = *(const vm__export *const *)b;
    uint32_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = n ? memcmp(x->name, y->name, n) : 0;

    if (c)
        return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static int check_exports(const vm_module *m, char *err, size_t errlen)
{
    const vm__export **sorted;
    uint32_t i;
    int rc = 0;

    for (i = 0; i < m->nexports; i++) {
        const vm__export *e = &m->exports[i];
        const char *what = NULL;

        switch (e->kind) {
        case VM_EXTERN_FUNC:
            if (e->index >= m->nfuncs_total)
                what = "function";
            break;
        case VM_EXTERN_TABLE:
            if (e->index >= m->ntables_total)
                what = "table";
            break;
        case VM_EXTERN_MEMORY:
            if (e->index >= m->nmems_total)
                what = "memory";
            break;
        case VM_EXTERN_GLOBAL:
            if (e->index >= m->nglobals_total)
                what = "global";
            break;
        case VM_EXTERN_TAG:
            if (e->index >= m->ntags_total)
                what = "tag";
            break;
        default:
            what = "external kind";
            break;
        }
        if (what)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "unknown %s %u (export %u \"%s\")", what,
                             e->index, i, e->name);
    }
    if (m->nexports < 2)
        return 0;

    /* Names are compared as byte strings of their true length; sorting
     * keeps this O(n log n) for modules with many exports. */
    sorted = vm__malloc(m->nexports * sizeof *sorted);
    if (!sorted)
        return vm__error(err, errlen, VM_ERR_NOMEM,
                         "out of memory checking export names");
    for (i = 0; i < m->nexports; i++)
        sorted[i] = &m->exports[i];
    qsort(sorted, m->nexports, sizeof *sorted, compare_exports);
    for (i = 1; i < m->nexports; i++) {
        if (compare_exports(&sorted[i - 1], &sorted[i]) == 0) {
            rc = vm__error(err, errlen, VM_ERR_INVALID,
                           "duplicate export name \"%s\"", sorted[i]->name);
            break;
        }
    }
    vm__free(sorted);
    return rc;
}

static int check_module_fields(const vm_module *m, char *err, size_t errlen)
{
    char where[64];
    uint32_t i, j;

    /* Function and tag types: imports and definitions alike. */
    for (i = 0; i < m->nfuncs_total; i++) {
        if (m->func_type_idx[i] >= m->ntypes)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "unknown type %u (%s function %u)",
                             m->func_type_idx[i],
                             i < m->nfuncs_imported ? "imported" : "defined",
                             i);
    }
    for (i = 0; i < m->ntags_total; i++) {
        if (m->tag_type_idx[i] >= m->ntypes)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "unknown type %u (tag %u)", m->tag_type_idx[i],
                             i);
        if (m->types[m->tag_type_idx[i]].nresults != 0)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "non-empty tag result type (tag %u)", i);
    }

    for (i = 0; i < m->ntables_total; i++) {
        snprintf(where, sizeof where, "table %u", i);
        PROPAGATE(check_limits(&m->tables[i].limits, UINT32_MAX,
                               "table size must be at most 2^32-1", where,
                               err, errlen));
    }
    for (i = 0; i < m->nmems_total; i++) {
        snprintf(where, sizeof where, "memory %u", i);
        PROPAGATE(check_limits(&m->mems[i], VM_MAX_PAGES,
                               "memory size must be at most 65536 pages "
                               "(4GiB)",
                               where, err, errlen));
    }
    if (m->nmems_total > 1)
        return vm__error(err, errlen, VM_ERR_INVALID,
                         "multiple memories (%u memories; Wasm 2.0 allows "
                         "one)",
                         m->nmems_total);

    for (i = m->nglobals_imported; i < m->nglobals_total; i++) {
        const vm__global *g = &m->globals[i - m->nglobals_imported];

        snprintf(where, sizeof where, "global %u", i);
        PROPAGATE(check_const(m, &g->init, g->type.type, where, err, errlen));
    }

    PROPAGATE(check_exports(m, err, errlen));

    if (m->has_start) {
        const vm__functype *t;

        if (m->start >= m->nfuncs_total)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "unknown function %u (start function)",
                             m->start);
        t = &m->types[m->func_type_idx[m->start]];
        if (t->nparams != 0 || t->nresults != 0)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "start function %u must have type [] -> [] "
                             "(it has %u params, %u results)",
                             m->start, t->nparams, t->nresults);
    }

    for (i = 0; i < m->nelems; i++) {
        const vm__elem *e = &m->elems[i];

        for (j = 0; j < e->count; j++) {
            snprintf(where, sizeof where, "elem segment %u item %u", i, j);
            PROPAGATE(check_const(m, &e->items[j], e->elem_type, where, err,
                                  errlen));
        }
        if (e->mode != VM_SEG_ACTIVE)
            continue;
        if (e->table_idx >= m->ntables_total)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "unknown table %u (elem segment %u)",
                             e->table_idx, i);
        snprintf(where, sizeof where, "elem segment %u offset", i);
        PROPAGATE(check_const(m, &e->offset, VM_I32, where, err, errlen));
        if (m->tables[e->table_idx].elem_type != e->elem_type)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "type mismatch (elem segment %u: %s elements "
                             "for table %u of %s)",
                             i, type_name(e->elem_type), e->table_idx,
                             type_name(m->tables[e->table_idx].elem_type));
    }

    for (i = 0; i < m->ndatas; i++) {
        const vm__data *d = &m->datas[i];

        if (d->mode != VM_SEG_ACTIVE)
            continue;
        if (d->mem_idx >= m->nmems_total)
            return vm__error(err, errlen, VM_ERR_INVALID,
                             "unknown memory %u (data segment %u)",
                             d->mem_idx, i);
        snprintf(where, sizeof where, "data segment %u offset", i);
        PROPAGATE(check_const(m, &d->offset, VM_I32, where, err, errlen));
    }
    return 0;
}

/* ---- Function bodies --------------------------------------------------- */

typedef struct ctrl_frame {
    vm__opcode op;          /* BLOCK (also the function frame), LOOP, IF,
                             * ELSE, TRY, CATCH, CATCH_ALL */
    const uint8_t *params;  /* start types */
    const uint8_t *results; /* end types */
    uint32_t nparams, nresults;
    size_t height;          /* operand stack height at entry */
    bool unreachable;
} ctrl_frame;

/* State of the body pass; the stacks are reused from function to
 * function and freed once at the end. */
typedef struct body_ctx {
    const vm_module *m;
    char *err;
    size_t errlen;

    uint32_t funcidx;          /* in the function index space */
    const vm__func *fn;
    const vm__functype *type;
    const uint8_t *code;       /* the body: instructions up to the end */
    size_t len, pos;
    size_t op_pos;             /* where the current instruction starts */
    vm__opcode op;

    uint8_t *vals;             /* operand stack of value types */
    size_t nvals, vals_cap;
    ctrl_frame *ctrls;
    size_t nctrls, ctrls_cap;

    char why[128];             /* detail for the current error, or "" */
} body_ctx;

/*
 * Report an error in the current instruction. head is the spec's text,
 * formatted (it may carry an index: "unknown local 7"); v->why, when set,
 * adds detail after the instruction's name.
 */
static int body_fail(body_ctx *v, int code, const char *head_fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int body_fail(body_ctx *v, int code, const char *head_fmt, ...)
{
    char head[96];
    va_list ap;

    va_start(ap, head_fmt);
    vsnprintf(head, sizeof head, head_fmt, ap);
    va_end(ap);
    vm__error(v->err, v->errlen, code,
              "%s (function %u, offset 0x%zx: %s%s%s)", head, v->funcidx,
              v->fn->body_offset + v->op_pos,
              v->op < VM_OP_COUNT ? vm__opinfo_table[v->op].text : "?",
              v->why[0] ? " " : "", v->why);
    v->why[0] = '\0';
    return code;
}

static int truncated(body_ctx *v)
{
    snprintf(v->why, sizeof v->why, "immediate runs past the body's end");
    return body_fail(v, VM_ERR_MALFORMED, "unexpected end");
}

static int mismatch(body_ctx *v, uint8_t want, const char *got)
{
    if (want == VT_UNKNOWN)
        snprintf(v->why, sizeof v->why, "expects an operand, got %s", got);
    else
        snprintf(v->why, sizeof v->why, "expects %s, got %s",
                 type_name(want), got);
    return body_fail(v, VM_ERR_INVALID, "type mismatch");
}

/* -- Immediate readers: LEB128 within [pos, len), never beyond. -- */

/* The readers clear *out first so that no caller can see an
 * uninitialised value on a failure path (GCC -O2 cannot prove the error
 * returns negative and warns otherwise). */
static int read_u8(body_ctx *v, uint8_t *out)
{
    *out = 0;
    if (v->pos >= v->len)
        return truncated(v);
    *out = v->code[v->pos++];
    return 0;
}

static int read_u32(body_ctx *v, uint32_t *out)
{
    uint32_t result = 0;
    unsigned shift;

    *out = 0;
    for (shift = 0; shift < 35; shift += 7) {
        uint8_t b;

        if (v->pos >= v->len)
            return truncated(v);
        b = v->code[v->pos++];
        result |= (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = result;
            return 0;
        }
    }
    return truncated(v);
}

/* A signed LEB128 of at most 35 bits: the block type's s33. */
static int read_s33(body_ctx *v, int64_t *out)
{
    uint64_t result = 0;
    unsigned shift = 0;
    uint8_t b;

    *out = 0;
    do {
        if (shift >= 35 || v->pos >= v->len)
            return truncated(v);
        b = v->code[v->pos++];
        result |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
    } while (b & 0x80);
    if (b & 0x40)
        result |= ~(uint64_t)0 << shift;
    *out = (int64_t)result;
    return 0;
}

static int skip_leb(body_ctx *v, unsigned max_bytes)
{
    for (unsigned i = 0; i < max_bytes; i++) {
        if (v->pos >= v->len)
            return truncated(v);
        if (!(v->code[v->pos++] & 0x80))
            return 0;
    }
    return truncated(v);
}

static int skip_bytes(body_ctx *v, size_t n)
{
    if (v->len - v->pos < n)
        return truncated(v);
    v->pos += n;
    return 0;
}

/* -- The operand and control stacks (the spec appendix's algorithm). -- */

static int reserve_vals(body_ctx *v, size_t extra)
{
    size_t need = v->nvals + extra, cap = v->vals_cap ? v->vals_cap : 64;
    uint8_t *p;

    if (need <= v->vals_cap)
        return 0;
    while (cap < need)
        cap *= 2;
    p = vm__realloc(v->vals, cap);
    if (!p)
        return body_fail(v, VM_ERR_NOMEM, "out of memory");
    v->vals = p;
    v->vals_cap = cap;
    return 0;
}

static int push_val(body_ctx *v, uint8_t t)
{
    PROPAGATE(reserve_vals(v, 1));
    v->vals[v->nvals++] = t;
    return 0;
}

static int push_vals(body_ctx *v, const uint8_t *types, uint32_t n)
{
    if (n == 0)
        return 0;
    PROPAGATE(reserve_vals(v, n));
    memcpy(v->vals + v->nvals, types, n);
    v->nvals += n;
    return 0;
}

/* pop_val(expect): Unknown below an unreachable frame's height. */
static int pop_val(body_ctx *v, uint8_t want, uint8_t *got)
{
    ctrl_frame *f = &v->ctrls[v->nctrls - 1];
    uint8_t actual;

    if (v->nvals == f->height) {
        if (!f->unreachable)
            return mismatch(v, want, "nothing");
        actual = VT_UNKNOWN;
    } else {
        actual = v->vals[--v->nvals];
    }
    if (want != VT_UNKNOWN && actual != VT_UNKNOWN && actual != want)
        return mismatch(v, want, type_name(actual));
    if (got)
        *got = actual;
    return 0;
}

static int pop_vals(body_ctx *v, const uint8_t *types, uint32_t n)
{
    while (n > 0)
        PROPAGATE(pop_val(v, types[--n], NULL));
    return 0;
}

/*
 * push_vals(pop_vals(types)) without moving anything: check that the top
 * of the stack matches types. Where the frame is unreachable and the
 * stack runs out, the spec would push back Unknowns, which behave exactly
 * like the polymorphic bottom we leave in place.
 */
static int peek_vals(body_ctx *v, const uint8_t *types, uint32_t n)
{
    ctrl_frame *f = &v->ctrls[v->nctrls - 1];
    size_t avail = v->nvals - f->height;

    for (uint32_t i = 0; i < n; i++) {
        uint8_t want = types[n - 1 - i], got;

        if (i >= avail) {
            if (f->unreachable)
                return 0;
            return mismatch(v, want, "nothing");
        }
        got = v->vals[v->nvals - 1 - i];
        if (got != VT_UNKNOWN && got != want)
            return mismatch(v, want, type_name(got));
    }
    return 0;
}

static int push_ctrl(body_ctx *v, vm__opcode op, const uint8_t *params,
                     uint32_t nparams, const uint8_t *results,
                     uint32_t nresults)
{
    ctrl_frame *f;

    if (v->nctrls == v->ctrls_cap) {
        size_t cap = v->ctrls_cap ? v->ctrls_cap * 2 : 16;
        ctrl_frame *p = vm__realloc(v->ctrls, cap * sizeof *p);

        if (!p)
            return body_fail(v, VM_ERR_NOMEM, "out of memory");
        v->ctrls = p;
        v->ctrls_cap = cap;
    }
    f = &v->ctrls[v->nctrls++];
    f->op = op;
    f->params = params;
    f->nparams = nparams;
    f->results = results;
    f->nresults = nresults;
    f->height = v->nvals;
    f->unreachable = false;
    return push_vals(v, params, nparams);
}

static int pop_ctrl(body_ctx *v, ctrl_frame *out)
{
    ctrl_frame *f;

    if (v->nctrls == 0)
        return body_fail(v, VM_ERR_MALFORMED, "unexpected end");
    f = &v->ctrls[v->nctrls - 1];
    PROPAGATE(pop_vals(v, f->results, f->nresults));
    if (v->nvals != f->height) {
        snprintf(v->why, sizeof v->why,
                 "leaves %zu more value(s) than the block's %u result(s)",
                 v->nvals - f->height, f->nresults);
        return body_fail(v, VM_ERR_INVALID, "type mismatch");
    }
    *out = *f;
    v->nctrls--;
    return 0;
}

/* A branch to a loop passes its parameters, to anything else its results. */
static void label_types(const ctrl_frame *f, const uint8_t **types,
                        uint32_t *n)
{
    if (f->op == VM_OP_LOOP) {
        *types = f->params;
        *n = f->nparams;
    } else {
        *types = f->results;
        *n = f->nresults;
    }
}

static void set_unreachable(body_ctx *v)
{
    ctrl_frame *f = &v->ctrls[v->nctrls - 1];

    v->nvals = f->height;
    f->unreachable = true;
}

/* -- Index lookups, each with the spec's message. -- */

static int read_label(body_ctx *v, const ctrl_frame **out)
{
    uint32_t depth;

    PROPAGATE(read_u32(v, &depth));
    if (depth >= v->nctrls)
        return body_fail(v, VM_ERR_INVALID, "unknown label %u", depth);
    *out = &v->ctrls[v->nctrls - 1 - depth];
    return 0;
}

static int read_func(body_ctx *v, uint32_t *idx, const vm__functype **t)
{
    PROPAGATE(read_u32(v, idx));
    if (*idx >= v->m->nfuncs_total)
        return body_fail(v, VM_ERR_INVALID, "unknown function %u", *idx);
    *t = &v->m->types[v->m->func_type_idx[*idx]];
    return 0;
}

static int read_type(body_ctx *v, const vm__functype **t)
{
    uint32_t idx;

    PROPAGATE(read_u32(v, &idx));
    if (idx >= v->m->ntypes)
        return body_fail(v, VM_ERR_INVALID, "unknown type %u", idx);
    *t = &v->m->types[idx];
    return 0;
}

static int read_table(body_ctx *v, uint8_t *elem_type)
{
    uint32_t idx;

    PROPAGATE(read_u32(v, &idx));
    if (idx >= v->m->ntables_total)
        return body_fail(v, VM_ERR_INVALID, "unknown table %u", idx);
    *elem_type = v->m->tables[idx].elem_type;
    return 0;
}

static int read_elem(body_ctx *v, uint8_t *elem_type)
{
    uint32_t idx;

    PROPAGATE(read_u32(v, &idx));
    if (idx >= v->m->nelems)
        return body_fail(v, VM_ERR_INVALID, "unknown elem segment %u", idx);
    *elem_type = v->m->elems[idx].elem_type;
    return 0;
}

/*
 * C.datas is the data section's segments. The data count section, which
 * the binary format requires before bodies may name a segment, is a
 * decoding rule that vm_module_new applies after validation (an invalid
 * module must report invalid), so without it count the segments.
 */
static int read_data(body_ctx *v)
{
    uint32_t idx, count = v->m->has_datacount ? v->m->datacount
                                              : v->m->ndatas;

    PROPAGATE(read_u32(v, &idx));
    if (idx >= count)
        return body_fail(v, VM_ERR_INVALID, "unknown data segment %u", idx);
    return 0;
}

static int need_memory(body_ctx *v, uint32_t idx)
{
    if (idx >= v->m->nmems_total)
        return body_fail(v, VM_ERR_INVALID, "unknown memory %u", idx);
    return 0;
}

static int read_memidx_byte(body_ctx *v)
{
    uint8_t idx;

    PROPAGATE(read_u8(v, &idx));
    return need_memory(v, idx);
}

static int local_type(body_ctx *v, uint8_t *out)
{
    uint32_t idx;

    PROPAGATE(read_u32(v, &idx));
    if (idx < v->type->nparams) {
        *out = vm__functype_params(v->type)[idx];
        return 0;
    }
    if (idx - v->type->nparams < v->fn->nlocals) {
        *out = v->fn->local_types[idx - v->type->nparams];
        return 0;
    }
    return body_fail(v, VM_ERR_INVALID, "unknown local %u", idx);
}

static int read_global(body_ctx *v, const vm__globaltype **out)
{
    uint32_t idx;

    PROPAGATE(read_u32(v, &idx));
    if (idx >= v->m->nglobals_total)
        return body_fail(v, VM_ERR_INVALID, "unknown global %u", idx);
    *out = &v->m->global_types[idx];
    return 0;
}

static int read_blocktype(body_ctx *v, const uint8_t **params,
                          uint32_t *nparams, const uint8_t **results,
                          uint32_t *nresults)
{
    int64_t bt;

    PROPAGATE(read_s33(v, &bt));
    *params = *results = NULL;
    *nparams = *nresults = 0;
    if (bt == -0x40)
        return 0; /* the empty block type */
    if (bt < 0) {
        /* A single valtype, written as its one-byte code. */
        *results = bt >= -0x40 ? single_type((uint8_t)(bt & 0x7f)) : NULL;
        if (!*results) {
            snprintf(v->why, sizeof v->why, "block type %lld",
                     (long long)bt);
            return body_fail(v, VM_ERR_MALFORMED, "malformed block type");
        }
        *nresults = 1;
        return 0;
    }
    if (bt >= v->m->ntypes)
        return body_fail(v, VM_ERR_INVALID, "unknown type %lld",
                         (long long)bt);
    *params = vm__functype_params(&v->m->types[bt]);
    *nparams = v->m->types[bt].nparams;
    *results = vm__functype_results(&v->m->types[bt]);
    *nresults = v->m->types[bt].nresults;
    return 0;
}

/* log2 of the natural alignment of a memory access, or -1 when this file
 * does not know the opcode (SIMD loads and stores go here). */
static int natural_align_log2(vm__opcode op)
{
    switch (op) {
    case VM_OP_I32_LOAD8_S: case VM_OP_I32_LOAD8_U:
    case VM_OP_I64_LOAD8_S: case VM_OP_I64_LOAD8_U:
    case VM_OP_I32_STORE8: case VM_OP_I64_STORE8:
        return 0;
    case VM_OP_I32_LOAD16_S: case VM_OP_I32_LOAD16_U:
    case VM_OP_I64_LOAD16_S: case VM_OP_I64_LOAD16_U:
    case VM_OP_I32_STORE16: case VM_OP_I64_STORE16:
        return 1;
    case VM_OP_I32_LOAD: case VM_OP_F32_LOAD:
    case VM_OP_I64_LOAD32_S: case VM_OP_I64_LOAD32_U:
    case VM_OP_I32_STORE: case VM_OP_F32_STORE: case VM_OP_I64_STORE32:
        return 2;
    case VM_OP_I64_LOAD: case VM_OP_F64_LOAD:
    case VM_OP_I64_STORE: case VM_OP_F64_STORE:
        return 3;
    /* SIMD: the width of what is read or written, not the v128. */
    case VM_OP_V128_LOAD8_SPLAT:
    case VM_OP_V128_LOAD8_LANE: case VM_OP_V128_STORE8_LANE:
        return 0;
    case VM_OP_V128_LOAD16_SPLAT:
    case VM_OP_V128_LOAD16_LANE: case VM_OP_V128_STORE16_LANE:
        return 1;
    case VM_OP_V128_LOAD32_SPLAT: case VM_OP_V128_LOAD32_ZERO:
    case VM_OP_V128_LOAD32_LANE: case VM_OP_V128_STORE32_LANE:
        return 2;
    case VM_OP_V128_LOAD8X8_S: case VM_OP_V128_LOAD8X8_U:
    case VM_OP_V128_LOAD16X4_S: case VM_OP_V128_LOAD16X4_U:
    case VM_OP_V128_LOAD32X2_S: case VM_OP_V128_LOAD32X2_U:
    case VM_OP_V128_LOAD64_SPLAT: case VM_OP_V128_LOAD64_ZERO:
    case VM_OP_V128_LOAD64_LANE: case VM_OP_V128_STORE64_LANE:
        return 3;
    case VM_OP_V128_LOAD: case VM_OP_V128_STORE:
        return 4;
    default:
        return -1;
    }
}

/* Lanes of the v128 shape a lane immediate indexes: the op's own shape
 * (i8x16.extract_lane_s: 16), or for load/store_lane 16 / natural size. */
static uint32_t lane_count(vm__opcode op)
{
    const char *text = vm__opinfo_table[op].text;

    if (vm__opinfo_table[op].imm == VM_IMM_MEMARG_LANE)
        return 16u >> natural_align_log2(op);
    if (strncmp(text, "i8x16", 5) == 0)
        return 16;
    if (strncmp(text, "i16x8", 5) == 0)
        return 8;
    if (strncmp(text, "i32x4", 5) == 0 || strncmp(text, "f32x4", 5) == 0)
        return 4;
    return 2; /* i64x2, f64x2 */
}

/* A lane immediate: one byte, below the shape's lane count. */
static int read_lane(body_ctx *v, uint32_t lanes)
{
    uint8_t lane;

    PROPAGATE(read_u8(v, &lane));
    if (lane >= lanes) {
        snprintf(v->why, sizeof v->why, "lane %u of %u", lane, lanes);
        return body_fail(v, VM_ERR_INVALID, "invalid lane index");
    }
    return 0;
}

static int read_memarg(body_ctx *v)
{
    uint32_t align;
    int natural = natural_align_log2(v->op);

    PROPAGATE(need_memory(v, 0));
    PROPAGATE(read_u32(v, &align));
    PROPAGATE(skip_leb(v, 5)); /* offset: any u32 is valid */
    if (natural < 0) {
        snprintf(v->why, sizeof v->why, "has no alignment rule");
        return body_fail(v, VM_ERR_INVALID, "unsupported instruction");
    }
    if (align > (uint32_t)natural) {
        snprintf(v->why, sizeof v->why, "align 2^%u exceeds natural 2^%d",
                 align, natural);
        return body_fail(v, VM_ERR_INVALID,
                         "alignment must not be larger than natural");
    }
    return 0;
}

/*
 * Immediates of an opcode typed from its opcodes.def signature: read them
 * and check the indices they carry. Opcodes typed by hand read their own.
 */
static int check_table_immediates(body_ctx *v)
{
    uint8_t t1, t2;

    switch (vm__opinfo_table[v->op].imm) {
    case VM_IMM_NONE:
        return 0;
    case VM_IMM_MEMARG:
        return read_memarg(v);
    case VM_IMM_MEMIDX:
        return read_memidx_byte(v);
    case VM_IMM_I32:
        return skip_leb(v, 5);
    case VM_IMM_I64:
        return skip_leb(v, 10);
    case VM_IMM_F32:
        return skip_bytes(v, 4);
    case VM_IMM_F64:
        return skip_bytes(v, 8);
    case VM_IMM_V128:
        return skip_bytes(v, 16);
    case VM_IMM_SHUFFLE: /* 16 indices into the 32 bytes of both operands */
        for (int i = 0; i < 16; i++)
            PROPAGATE(read_lane(v, 32));
        return 0;
    case VM_IMM_LANE:
        return read_lane(v, lane_count(v->op));
    case VM_IMM_MEMARG_LANE:
        PROPAGATE(read_memarg(v));
        return read_lane(v, lane_count(v->op));
    case VM_IMM_MEMORY_INIT:
        /* The memory is checked first: "unknown memory 0" wins over an
         * unknown segment in memory_init.wast. */
        {
            size_t at = v->pos;

            PROPAGATE(skip_leb(v, 5));
            PROPAGATE(read_memidx_byte(v));
            v->pos = at;
            PROPAGATE(read_data(v));
            return skip_bytes(v, 1);
        }
    case VM_IMM_DATA:
        return read_data(v);
    case VM_IMM_MEMORY_COPY:
        PROPAGATE(read_memidx_byte(v));
        return read_memidx_byte(v);
    case VM_IMM_TABLE_INIT:
        /* elemidx then tableidx; the table is checked first, as the
         * reference interpreter does (table_init.wast). */
        {
            size_t at = v->pos;

            PROPAGATE(skip_leb(v, 5));
            PROPAGATE(read_table(v, &t2));
            v->pos = at;
            PROPAGATE(read_elem(v, &t1));
            PROPAGATE(skip_leb(v, 5));
            if (t1 != t2) {
                snprintf(v->why, sizeof v->why,
                         "%s segment into a %s table", type_name(t1),
                         type_name(t2));
                return body_fail(v, VM_ERR_INVALID, "type mismatch");
            }
            return 0;
        }
    case VM_IMM_ELEM:
        return read_elem(v, &t1);
    case VM_IMM_TABLE_COPY:
        PROPAGATE(read_table(v, &t1)); /* destination */
        PROPAGATE(read_table(v, &t2)); /* source */
        if (t1 != t2) {
            snprintf(v->why, sizeof v->why, "from a %s table to a %s table",
                     type_name(t2), type_name(t1));
            return body_fail(v, VM_ERR_INVALID, "type mismatch");
        }
        return 0;
    case VM_IMM_TABLE:
        return read_table(v, &t1);
    default:
        snprintf(v->why, sizeof v->why, "has immediates this validator "
                                        "does not read");
        return body_fail(v, VM_ERR_INVALID, "unsupported instruction");
    }
}

static uint8_t sig_type(char c)
{
    switch (c) {
    case 'i': return VM_I32;
    case 'I': return VM_I64;
    case 'f': return VM_F32;
    case 'F': return VM_F64;
    case 'v': return VM_V128;
    default: return VT_UNKNOWN;
    }
}

/* Pop the "params" of a "params:results" signature right to left, then
 * push its results. */
static int apply_signature(body_ctx *v, const char *sig)
{
    const char *colon = strchr(sig, ':');
    const char *p;

    if (!colon) {
        snprintf(v->why, sizeof v->why, "bad signature \"%s\"", sig);
        return body_fail(v, VM_ERR_INVALID, "unsupported instruction");
    }
    for (p = colon; p > sig; p--)
        PROPAGATE(pop_val(v, sig_type(p[-1]), NULL));
    for (p = colon + 1; *p; p++)
        PROPAGATE(push_val(v, sig_type(*p)));
    return 0;
}

/* The callee of a tail call returns straight to our caller: its results
 * must be exactly ours. */
static int check_tail_results(body_ctx *v, const vm__functype *callee)
{
    if (types_equal(vm__functype_results(callee), callee->nresults,
                    vm__functype_results(v->type), v->type->nresults))
        return 0;
    snprintf(v->why, sizeof v->why,
             "callee returns %u value(s) that do not match the caller's %u "
             "result(s)",
             callee->nresults, v->type->nresults);
    return body_fail(v, VM_ERR_INVALID, "type mismatch");
}

static int validate_br_table(body_ctx *v)
{
    const ctrl_frame *f;
    const uint8_t *types;
    uint32_t count, i, n, arity;
    size_t targets;

    PROPAGATE(pop_val(v, VM_I32, NULL));
    PROPAGATE(read_u32(v, &count));
    /* First pass: every depth known, and the default's arity. */
    targets = v->pos;
    for (i = 0; i < count; i++)
        PROPAGATE(read_label(v, &f));
    PROPAGATE(read_label(v, &f));
    label_types(f, &types, &arity);

    /* Second pass: each target takes what the default takes. */
    v->pos = targets;
    for (i = 0; i < count; i++) {
        PROPAGATE(read_label(v, &f));
        label_types(f, &types, &n);
        if (n != arity) {
            snprintf(v->why, sizeof v->why,
                     "target %u takes %u value(s), the default %u", i, n,
                     arity);
            return body_fail(v, VM_ERR_INVALID, "type mismatch");
        }
        PROPAGATE(peek_vals(v, types, n));
    }
    PROPAGATE(read_label(v, &f));
    label_types(f, &types, &n);
    PROPAGATE(pop_vals(v, types, n));
    set_unreachable(v);
    return 0;
}

/*
 * The legacy exception-handling proposal (the one opcodes.def encodes:
 * try/catch/catch_all/delegate/throw/rethrow). A catch or catch_all frame
 * keeps the try's result types; its body starts with the tag's parameters
 * (catch) or nothing (catch_all). rethrow names a catch frame.
 */
static int validate_exception_op(body_ctx *v)
{
    const vm__functype *tag;
    const ctrl_frame *target;
    ctrl_frame frame;
    const uint8_t *params, *results;
    uint32_t idx, nparams, nresults;

    switch (v->op) {
    case VM_OP_TRY:
        PROPAGATE(read_blocktype(v, &params, &nparams, &results, &nresults));
        PROPAGATE(pop_vals(v, params, nparams));
        return push_ctrl(v, VM_OP_TRY, params, nparams, results, nresults);
    case VM_OP_CATCH:
    case VM_OP_THROW:
        PROPAGATE(read_u32(v, &idx));
        if (idx >= v->m->ntags_total)
            return body_fail(v, VM_ERR_INVALID, "unknown tag %u", idx);
        tag = &v->m->types[v->m->tag_type_idx[idx]];
        if (v->op == VM_OP_THROW) {
            PROPAGATE(pop_vals(v, vm__functype_params(tag), tag->nparams));
            set_unreachable(v);
            return 0;
        }
        PROPAGATE(pop_ctrl(v, &frame));
        if (frame.op != VM_OP_TRY && frame.op != VM_OP_CATCH)
            return body_fail(v, VM_ERR_MALFORMED, "catch without try");
        PROPAGATE(push_ctrl(v, VM_OP_CATCH, NULL, 0, frame.results,
                            frame.nresults));
        return push_vals(v, vm__functype_params(tag), tag->nparams);
    case VM_OP_CATCH_ALL:
        PROPAGATE(pop_ctrl(v, &frame));
        if (frame.op != VM_OP_TRY && frame.op != VM_OP_CATCH)
            return body_fail(v, VM_ERR_MALFORMED, "catch_all without try");
        return push_ctrl(v, VM_OP_CATCH_ALL, NULL, 0, frame.results,
                         frame.nresults);
    case VM_OP_DELEGATE:
        /* Ends the try; the label is counted from outside it. */
        PROPAGATE(pop_ctrl(v, &frame));
        if (frame.op != VM_OP_TRY)
            return body_fail(v, VM_ERR_MALFORMED, "delegate without try");
        PROPAGATE(read_label(v, &target));
        return push_vals(v, frame.results, frame.nresults);
    case VM_OP_RETHROW:
        PROPAGATE(read_label(v, &target));
        if (target->op != VM_OP_CATCH && target->op != VM_OP_CATCH_ALL) {
            snprintf(v->why, sizeof v->why, "label is not a catch block");
            return body_fail(v, VM_ERR_INVALID, "invalid rethrow label");
        }
        set_unreachable(v);
        return 0;
    default:
        return body_fail(v, VM_ERR_INVALID, "unsupported instruction");
    }
}

/* One instruction, its opcode already read into v->op. */
static int validate_op(body_ctx *v)
{
    const vm__opinfo *info = &vm__opinfo_table[v->op];
    const vm__functype *ft;
    const vm__globaltype *g;
    const ctrl_frame *target;
    ctrl_frame frame;
    const uint8_t *params, *results, *types;
    uint32_t idx, nparams, nresults, n;
    uint8_t t, t1, t2;

    if (info->sig[0] != '*') {
        PROPAGATE(check_table_immediates(v));
        return apply_signature(v, info->sig);
    }

    switch (v->op) {
    case VM_OP_UNREACHABLE:
        set_unreachable(v);
        return 0;

    case VM_OP_BLOCK:
    case VM_OP_LOOP:
    case VM_OP_IF:
        PROPAGATE(read_blocktype(v, &params, &nparams, &results, &nresults));
        if (v->op == VM_OP_IF)
            PROPAGATE(pop_val(v, VM_I32, NULL));
        PROPAGATE(pop_vals(v, params, nparams));
        return push_ctrl(v, v->op, params, nparams, results, nresults);

    case VM_OP_ELSE:
        PROPAGATE(pop_ctrl(v, &frame));
        if (frame.op != VM_OP_IF)
            return body_fail(v, VM_ERR_MALFORMED, "else without if");
        return push_ctrl(v, VM_OP_ELSE, frame.params, frame.nparams,
                         frame.results, frame.nresults);

    case VM_OP_END:
        PROPAGATE(pop_ctrl(v, &frame));
        /* An if without else has an implicit empty else that passes its
         * parameters through: they must be its results. */
        if (frame.op == VM_OP_IF &&
            !types_equal(frame.params, frame.nparams, frame.results,
                         frame.nresults)) {
            snprintf(v->why, sizeof v->why,
                     "if without else must have matching param and result "
                     "types");
            return body_fail(v, VM_ERR_INVALID, "type mismatch");
        }
        if (v->nctrls == 0)
            return 0; /* the function's own end */
        return push_vals(v, frame.results, frame.nresults);

    case VM_OP_BR:
        PROPAGATE(read_label(v, &target));
        label_types(target, &types, &n);
        PROPAGATE(pop_vals(v, types, n));
        set_unreachable(v);
        return 0;

    case VM_OP_BR_IF:
        PROPAGATE(read_label(v, &target));
        PROPAGATE(pop_val(v, VM_I32, NULL));
        label_types(target, &types, &n);
        PROPAGATE(pop_vals(v, types, n));
        return push_vals(v, types, n);

    case VM_OP_BR_TABLE:
        return validate_br_table(v);

    case VM_OP_RETURN:
        PROPAGATE(pop_vals(v, vm__functype_results(v->type),
                           v->type->nresults));
        set_unreachable(v);
        return 0;

    case VM_OP_CALL:
    case VM_OP_RETURN_CALL:
        PROPAGATE(read_func(v, &idx, &ft));
        PROPAGATE(pop_vals(v, vm__functype_params(ft), ft->nparams));
        if (v->op == VM_OP_CALL)
            return push_vals(v, vm__functype_results(ft), ft->nresults);
        PROPAGATE(check_tail_results(v, ft));
        set_unreachable(v);
        return 0;

    case VM_OP_CALL_INDIRECT:
    case VM_OP_RETURN_CALL_INDIRECT:
        /* typeidx then tableidx; the table is looked at first. */
        {
            size_t at = v->pos;

            PROPAGATE(skip_leb(v, 5));
            PROPAGATE(read_table(v, &t));
            if (t != VM_FUNCREF) {
                snprintf(v->why, sizeof v->why,
                         "needs a funcref table, got %s", type_name(t));
                return body_fail(v, VM_ERR_INVALID, "type mismatch");
            }
            n = (uint32_t)(v->pos - at);
            v->pos = at;
            PROPAGATE(read_type(v, &ft));
            v->pos = at + n;
        }
        PROPAGATE(pop_val(v, VM_I32, NULL));
        PROPAGATE(pop_vals(v, vm__functype_params(ft), ft->nparams));
        if (v->op == VM_OP_CALL_INDIRECT)
            return push_vals(v, vm__functype_results(ft), ft->nresults);
        PROPAGATE(check_tail_results(v, ft));
        set_unreachable(v);
        return 0;

    case VM_OP_DROP:
        return pop_val(v, VT_UNKNOWN, NULL);

    case VM_OP_SELECT:
        PROPAGATE(pop_val(v, VM_I32, NULL));
        PROPAGATE(pop_val(v, VT_UNKNOWN, &t1));
        PROPAGATE(pop_val(v, VT_UNKNOWN, &t2));
        if (!is_num_or_vec(t1) || !is_num_or_vec(t2)) {
            snprintf(v->why, sizeof v->why,
                     "without a type needs numeric operands, got %s",
                     type_name(is_num_or_vec(t1) ? t2 : t1));
            return body_fail(v, VM_ERR_INVALID, "type mismatch");
        }
        if (t1 != t2 && t1 != VT_UNKNOWN && t2 != VT_UNKNOWN) {
            snprintf(v->why, sizeof v->why, "operands differ: %s and %s",
                     type_name(t2), type_name(t1));
            return body_fail(v, VM_ERR_INVALID, "type mismatch");
        }
        return push_val(v, t1 == VT_UNKNOWN ? t2 : t1);

    case VM_OP_SELECT_T:
        PROPAGATE(read_u32(v, &n));
        if (n != 1) {
            snprintf(v->why, sizeof v->why, "with %u types", n);
            return body_fail(v, VM_ERR_INVALID, "invalid result arity");
        }
        PROPAGATE(read_u8(v, &t));
        PROPAGATE(pop_val(v, VM_I32, NULL));
        PROPAGATE(pop_val(v, t, NULL));
        PROPAGATE(pop_val(v, t, NULL));
        return push_val(v, t);

    case VM_OP_LOCAL_GET:
        PROPAGATE(local_type(v, &t));
        return push_val(v, t);
    case VM_OP_LOCAL_SET:
        PROPAGATE(local_type(v, &t));
        return pop_val(v, t, NULL);
    case VM_OP_LOCAL_TEE:
        PROPAGATE(local_type(v, &t));
        PROPAGATE(pop_val(v, t, NULL));
        return push_val(v, t);

    case VM_OP_GLOBAL_GET:
        PROPAGATE(read_global(v, &g));
        return push_val(v, g->type);
    case VM_OP_GLOBAL_SET:
        PROPAGATE(read_global(v, &g));
        if (!g->mut)
            return body_fail(v, VM_ERR_INVALID, "global is immutable");
        return pop_val(v, g->type, NULL);

    case VM_OP_TABLE_GET:
        PROPAGATE(read_table(v, &t));
        PROPAGATE(pop_val(v, VM_I32, NULL));
        return push_val(v, t);
    case VM_OP_TABLE_SET:
        PROPAGATE(read_table(v, &t));
        PROPAGATE(pop_val(v, t, NULL));
        return pop_val(v, VM_I32, NULL);
    case VM_OP_TABLE_GROW:
        PROPAGATE(read_table(v, &t));
        PROPAGATE(pop_val(v, VM_I32, NULL));
        PROPAGATE(pop_val(v, t, NULL));
        return push_val(v, VM_I32);
    case VM_OP_TABLE_FILL:
        PROPAGATE(read_table(v, &t));
        PROPAGATE(pop_val(v, VM_I32, NULL));
        PROPAGATE(pop_val(v, t, NULL));
        return pop_val(v, VM_I32, NULL);

    case VM_OP_REF_NULL:
        PROPAGATE(read_u8(v, &t));
        if (t != VM_FUNCREF && t != VM_EXTERNREF)
            return body_fail(v, VM_ERR_MALFORMED, "malformed reference type");
        return push_val(v, t);
    case VM_OP_REF_IS_NULL:
        PROPAGATE(pop_val(v, VT_UNKNOWN, &t));
        if (!is_ref(t)) {
            snprintf(v->why, sizeof v->why, "expects a reference, got %s",
                     type_name(t));
            return body_fail(v, VM_ERR_INVALID, "type mismatch");
        }
        return push_val(v, VM_I32);
    case VM_OP_REF_FUNC:
        PROPAGATE(read_func(v, &idx, &ft));
        /* C.refs: functions named outside bodies (elements, exports,
         * global initialisers), collected by the decoder. */
        if (!v->m->func_declared || !v->m->func_declared[idx])
            return body_fail(v, VM_ERR_INVALID,
                             "undeclared function reference %u", idx);
        return push_val(v, VM_FUNCREF);

    case VM_OP_TRY:
    case VM_OP_CATCH:
    case VM_OP_THROW:
    case VM_OP_RETHROW:
    case VM_OP_DELEGATE:
    case VM_OP_CATCH_ALL:
        return validate_exception_op(v);

    default:
        return body_fail(v, VM_ERR_INVALID, "unsupported instruction");
    }
}

static int validate_body(body_ctx *v)
{
    v->nvals = 0;
    v->nctrls = 0;
    v->pos = 0;
    v->op_pos = 0;
    v->op = VM_OP_BLOCK;
    v->why[0] = '\0';
    /* The function body is a block whose label is the function's results. */
    PROPAGATE(push_ctrl(v, VM_OP_BLOCK, NULL, 0,
                        vm__functype_results(v->type), v->type->nresults));
    while (v->nctrls > 0) {
        uint8_t byte;
        uint32_t code = 0;

        v->op_pos = v->pos;
        PROPAGATE(read_u8(v, &byte));
        if (byte == 0xfc || byte == 0xfd)
            PROPAGATE(read_u32(v, &code));
        else
            code = byte;
        v->op = vm__opcode_lookup(byte == 0xfc || byte == 0xfd ? byte : 0,
                                  code);
        if (v->op == VM_OP_COUNT)
            return body_fail(v, VM_ERR_MALFORMED, "illegal opcode 0x%02x",
                             byte);
        PROPAGATE(validate_op(v));
    }
    if (v->pos != v->len) {
        v->op_pos = v->pos;
        return body_fail(v, VM_ERR_MALFORMED, "section size mismatch");
    }
    return 0;
}

int vm__validate(vm_module *m, char *err, size_t errlen)
{
    body_ctx v;
    uint32_t i;
    int rc;

    if (!m)
        return vm__error(err, errlen, VM_ERR_ARG, "no module");
    rc = check_module_fields(m, err, errlen);
    if (rc < 0)
        return rc;

    memset(&v, 0, sizeof v);
    v.m = m;
    v.err = err;
    v.errlen = errlen;
    for (i = 0; i < m->nfuncs_total - m->nfuncs_imported; i++) {
        v.fn = &m->funcs[i];
        v.funcidx = m->nfuncs_imported + i;
        v.type = &m->types[m->func_type_idx[v.funcidx]];
        v.code = v.fn->body;
        v.len = v.fn->body_len;
        rc = validate_body(&v);
        if (rc < 0)
            break;
    }
    vm__free(v.vals);
    vm__free(v.ctrls);
    return rc < 0 ? rc : 0;
}
