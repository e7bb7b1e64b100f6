/*
 * Decode: the binary format -> struct vm_module (module_int.h).
 *
 * The decoder is the only stage that reads raw bytes without a safety net,
 * so every read goes through one cursor checked against the end of the
 * module and fails with VM_ERR_MALFORMED instead of reading past it. It
 * also proves that every function body is a well-formed instruction
 * sequence (known, enabled opcodes with well-formed immediates, properly
 * nested blocks ending in `end`), so the validator and the compiler can
 * walk bodies without re-checking bounds.
 *
 * Messages start with the spec interpreter's own text ("unexpected end",
 * "integer too large", ...) because the spec runner matches them by
 * prefix; the location follows in parentheses. To produce the same text
 * for the same input, sections and function bodies are read the way the
 * reference interpreter reads them: contents are bounded by the end of
 * the module, and a section's (or body's) declared size is compared with
 * what its contents consumed afterwards ("section size mismatch"). Only a
 * custom section's payload, which is opaque, is cut at its declared size.
 *
 * Memory: everything allocated is attached to the module as soon as it
 * exists and counts are set together with their arrays, so an error at any
 * point simply returns and vm__module_release() frees what was built.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module_int.h"
#include "vm_opcodes.h"

#define NO_FUNC UINT32_MAX

/* Section ids of the binary format. */
enum {
    SEC_CUSTOM = 0,
    SEC_TYPE = 1,
    SEC_IMPORT = 2,
    SEC_FUNCTION = 3,
    SEC_TABLE = 4,
    SEC_MEMORY = 5,
    SEC_GLOBAL = 6,
    SEC_EXPORT = 7,
    SEC_START = 8,
    SEC_ELEMENT = 9,
    SEC_CODE = 10,
    SEC_DATA = 11,
    SEC_DATACOUNT = 12,
    SEC_TAG = 13,
    SEC_COUNT
};

/* Kinds of open blocks while scanning a body; they decide where `else`,
 * `catch` and `delegate` may appear. */
enum {
    BLK_FUNC,  /* the function body itself (or a constant expression) */
    BLK_BLOCK, /* block, loop, or if after its else */
    BLK_IF,    /* if before its else */
    BLK_TRY,   /* try, before or between catches */
};

typedef struct dec {
    vm_module *m;
    const uint8_t *bytes; /* m->bytes */
    size_t pos;           /* next byte to read */
    size_t end;           /* reads stay below this: the module's end, or
                           * the name section's while parsing it */
    size_t section_end;   /* declared end of the current section */
    int section;          /* id being decoded, -1 for the header */
    uint32_t func;        /* defined function being decoded, or NO_FUNC */
    char *err;
    size_t errlen;

    uint32_t nfuncs_defined; /* from the function section */
    bool seen_code;
    bool uses_data_index; /* memory.init or data.drop in some body */

    uint8_t *blocks; /* block-kind stack of the body scanner */
    size_t blocks_cap;
} dec;

/* Propagate a negative result; named for what it does, one layer only. */
#define RETURN_IF_ERR(expr)                                                   \
    do {                                                                      \
        int rc_ = (expr);                                                     \
        if (rc_ < 0)                                                          \
            return rc_;                                                       \
    } while (0)

static const char *section_name(int id)
{
    static const char *const names[SEC_COUNT] = {
        "custom", "type",    "import", "function", "table",
        "memory", "global",  "export", "start",    "element",
        "code",   "data",    "data count", "tag"};

    return id >= 0 && id < SEC_COUNT ? names[id] : "unknown";
}

/* Report a malformed module: the spec's text first, then where. */
static int malformed(dec *d, size_t at, const char *msg)
{
    /* Return the constant, not vm__error's result: callers' out-params are
     * only written on success, and the compiler can see that only if it
     * can see that every error path returns nonzero. */
    if (d->func != NO_FUNC)
        vm__error(d->err, d->errlen, VM_ERR_MALFORMED,
                  "%s (function %u, offset 0x%zx)", msg,
                  d->m->nfuncs_imported + d->func, at);
    else if (d->section >= 0)
        vm__error(d->err, d->errlen, VM_ERR_MALFORMED,
                  "%s (%s section, offset 0x%zx)", msg,
                  section_name(d->section), at);
    else
        vm__error(d->err, d->errlen, VM_ERR_MALFORMED, "%s (offset 0x%zx)",
                  msg, at);
    return VM_ERR_MALFORMED;
}

static int limit_exceeded(dec *d, const char *what, uint64_t n, uint32_t max)
{
    vm__error(d->err, d->errlen, VM_ERR_LIMIT,
                     "%s: %llu exceeds the implementation limit %u "
                     "(%s section, offset 0x%zx)",
                     what, (unsigned long long)n, max,
                     section_name(d->section), d->pos);
    return VM_ERR_LIMIT;
}

static int out_of_memory(dec *d)
{
    vm__error(d->err, d->errlen, VM_ERR_NOMEM,
              "out of memory (%s section, offset 0x%zx)",
              section_name(d->section), d->pos);
    return VM_ERR_NOMEM;
}

/* ---- Primitive reads --------------------------------------------------- */

static int unexpected_end(dec *d)
{
    return malformed(d, d->pos, "unexpected end of section or function");
}

/* The primitives write their out-parameter on every path, so callers
 * never read an uninitialised value, whatever the optimiser can prove. */
static int read_byte(dec *d, uint8_t *out)
{
    *out = 0;
    if (d->pos >= d->end)
        return unexpected_end(d);
    *out = d->bytes[d->pos++];
    return 0;
}

static int read_bytes(dec *d, size_t n, const uint8_t **out)
{
    *out = NULL;
    if (n > d->end - d->pos)
        return unexpected_end(d);
    *out = d->bytes + d->pos;
    d->pos += n;
    return 0;
}

/*
 * LEB128 with the spec's two distinct errors: more bytes than ceil(N/7)
 * is "integer representation too long"; bits beyond N in the last byte
 * (zero for unsigned, copies of the sign bit for signed) are "integer too
 * large". The too-large check on a byte comes before the too-long check
 * on the byte after it, as in the reference interpreter.
 */
static int read_uleb(dec *d, int bits, uint64_t *out)
{
    uint64_t result = 0;
    unsigned shift = 0;
    uint8_t b;

    *out = 0;
    for (int n = bits;; n -= 7, shift += 7) {
        if (n <= 0)
            return malformed(d, d->pos, "integer representation too long");
        RETURN_IF_ERR(read_byte(d, &b));
        if (n < 7 && (b & 0x7fu) >= (1u << n))
            return malformed(d, d->pos - 1, "integer too large");
        result |= (uint64_t)(b & 0x7fu) << shift;
        if (!(b & 0x80u))
            break;
    }
    *out = result;
    return 0;
}

static int read_sleb(dec *d, int bits, int64_t *out)
{
    uint64_t result = 0;
    unsigned shift = 0;
    uint8_t b;

    *out = 0;
    for (int n = bits;; n -= 7) {
        if (n <= 0)
            return malformed(d, d->pos, "integer representation too long");
        RETURN_IF_ERR(read_byte(d, &b));
        if (n < 7) {
            uint8_t mask = (uint8_t)((0xffu << (n - 1)) & 0x7fu);

            if ((b & mask) != 0 && (b & mask) != mask)
                return malformed(d, d->pos - 1, "integer too large");
        }
        result |= (uint64_t)(b & 0x7fu) << shift;
        shift += 7;
        if (!(b & 0x80u)) {
            if (shift < 64 && (b & 0x40u))
                result |= ~(uint64_t)0 << shift;
            break;
        }
    }
    *out = (int64_t)result;
    return 0;
}

static int read_u32(dec *d, uint32_t *out)
{
    uint64_t v;

    RETURN_IF_ERR(read_uleb(d, 32, &v));
    *out = (uint32_t)v;
    return 0;
}

/* A byte length (names, section and body sizes): it must fit in what is
 * left of the module. */
static int read_len(dec *d, uint32_t *out)
{
    size_t at = d->pos;

    RETURN_IF_ERR(read_u32(d, out));
    if (*out > d->end - d->pos)
        return malformed(d, at, "length out of bounds");
    return 0;
}

/*
 * A vector count. Every entry takes at least one byte, so a count beyond
 * the bytes left would run out ("unexpected end") before the vector is
 * complete; rejecting it up front also bounds the allocation made from it.
 */
static int read_vec(dec *d, uint32_t *n)
{
    RETURN_IF_ERR(read_u32(d, n));
    if (*n > d->end - d->pos) {
        d->pos = d->end;
        return unexpected_end(d);
    }
    return 0;
}

/* A vector count with an implementation limit. */
static int read_count(dec *d, uint32_t *n, const char *what, uint32_t max)
{
    RETURN_IF_ERR(read_vec(d, n));
    if (*n > max)
        return limit_exceeded(d, what, *n, max);
    return 0;
}

/* The byte that must be zero after memory.size and friends. It is a
 * byte, not a LEB128 zero: 0x80 0x00 is malformed. */
static int read_zero_byte(dec *d)
{
    uint8_t b;

    RETURN_IF_ERR(read_byte(d, &b));
    if (b != 0)
        return malformed(d, d->pos - 1, "zero byte expected");
    return 0;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint8_t lo = 0x80, hi = 0xbf; /* range of the second byte */

        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return false;
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

/* A name: UTF-8, kept with its exact length (it may contain NUL). */
static int read_name(dec *d, char **out, uint32_t *len_out)
{
    uint32_t len;
    const uint8_t *p;
    size_t at;

    RETURN_IF_ERR(read_len(d, &len));
    at = d->pos;
    RETURN_IF_ERR(read_bytes(d, len, &p));
    if (!utf8_valid(p, len))
        return malformed(d, at, "malformed UTF-8 encoding");
    *out = vm__strndup((const char *)p, len);
    if (!*out)
        return out_of_memory(d);
    if (len_out)
        *len_out = len;
    return 0;
}

/* Type bytes are one-byte signed LEB128s in the reference interpreter, so
 * a continuation bit is "integer representation too long". */
static int read_valtype(dec *d, uint8_t *out)
{
    uint8_t b;

    RETURN_IF_ERR(read_byte(d, &b));
    if (b & 0x80u)
        return malformed(d, d->pos - 1, "integer representation too long");
    switch (b) {
    case VM_I32:
    case VM_I64:
    case VM_F32:
    case VM_F64:
    case VM_FUNCREF:
    case VM_EXTERNREF:
    case VM_V128:
        *out = b;
        return 0;
    default:
        return malformed(d, d->pos - 1, "malformed value type");
    }
}

static int read_reftype(dec *d, uint8_t *out)
{
    uint8_t b;

    RETURN_IF_ERR(read_byte(d, &b));
    if (b & 0x80u)
        return malformed(d, d->pos - 1, "integer representation too long");
    if (b != VM_FUNCREF && b != VM_EXTERNREF)
        return malformed(d, d->pos - 1, "malformed reference type");
    *out = b;
    return 0;
}

static int read_limits(dec *d, vm__limits *out)
{
    uint8_t flags;

    RETURN_IF_ERR(read_byte(d, &flags));
    if (flags & 0x80u)
        return malformed(d, d->pos - 1, "integer representation too long");
    if (flags > 1)
        return malformed(d, d->pos - 1, "integer too large");
    out->has_max = flags == 1;
    RETURN_IF_ERR(read_u32(d, &out->min));
    out->max = 0;
    if (out->has_max)
        RETURN_IF_ERR(read_u32(d, &out->max));
    return 0;
}

static int read_tabletype(dec *d, vm__tabletype *out)
{
    RETURN_IF_ERR(read_reftype(d, &out->elem_type));
    return read_limits(d, &out->limits);
}

static int read_globaltype(dec *d, vm__globaltype *out)
{
    uint8_t mut;

    RETURN_IF_ERR(read_valtype(d, &out->type));
    RETURN_IF_ERR(read_byte(d, &mut));
    if (mut > 1)
        return malformed(d, d->pos - 1, "malformed mutability");
    out->mut = mut == 1;
    return 0;
}

/* Tags (exception handling): an attribute byte, 0 = exception, then the
 * type index. The validator checks the type has no results. */
static int read_tagtype(dec *d, uint32_t *type_idx)
{
    uint8_t attr;

    RETURN_IF_ERR(read_byte(d, &attr));
    if (attr != 0)
        return malformed(d, d->pos - 1, "malformed tag attribute");
    return read_u32(d, type_idx);
}

/* ---- Instructions ------------------------------------------------------ */

static int push_block(dec *d, size_t *depth, uint8_t kind)
{
    if (*depth == d->blocks_cap) {
        size_t cap = d->blocks_cap ? d->blocks_cap * 2 : 64;
        uint8_t *p = vm__realloc(d->blocks, cap);

        if (!p)
            return out_of_memory(d);
        d->blocks = p;
        d->blocks_cap = cap;
    }
    d->blocks[(*depth)++] = kind;
    return 0;
}

static int read_blocktype(dec *d)
{
    uint8_t b, t;
    int64_t idx;
    size_t at = d->pos;

    if (d->pos >= d->end)
        return unexpected_end(d);
    b = d->bytes[d->pos];
    if (b == 0x40) {
        d->pos++;
        return 0;
    }
    /* Single-byte negative s33 values are value types; anything else is
     * a type index, which must be non-negative. */
    if ((b & 0xc0u) == 0x40u)
        return read_valtype(d, &t);
    RETURN_IF_ERR(read_sleb(d, 33, &idx));
    if (idx < 0)
        return malformed(d, at, "malformed block type");
    return 0;
}

static int read_memarg(dec *d)
{
    uint32_t align, offset;

    RETURN_IF_ERR(read_u32(d, &align));
    return read_u32(d, &offset);
}

/* Skip the immediates of op, checking that they are well-formed. */
static int read_immediates(dec *d, vm__opcode op)
{
    uint32_t u, n;
    int64_t s;
    uint8_t b;
    const uint8_t *p;

    switch (vm__opinfo_table[op].imm) {
    case VM_IMM_NONE:
        return 0;
    case VM_IMM_BLOCKTYPE:
        return read_blocktype(d);
    case VM_IMM_LABEL:
    case VM_IMM_FUNC:
    case VM_IMM_LOCAL:
    case VM_IMM_GLOBAL:
    case VM_IMM_TABLE:
    case VM_IMM_DATA:
    case VM_IMM_ELEM:
    case VM_IMM_TAG:
        return read_u32(d, &u);
    case VM_IMM_CALL_INDIRECT:
    case VM_IMM_TABLE_INIT:
    case VM_IMM_TABLE_COPY:
        RETURN_IF_ERR(read_u32(d, &u));
        return read_u32(d, &u);
    case VM_IMM_BR_TABLE:
        RETURN_IF_ERR(read_vec(d, &n));
        for (uint32_t i = 0; i < n; i++)
            RETURN_IF_ERR(read_u32(d, &u));
        return read_u32(d, &u);
    case VM_IMM_MEMARG:
        return read_memarg(d);
    case VM_IMM_MEMIDX:
        return read_zero_byte(d);
    case VM_IMM_I32:
        return read_sleb(d, 32, &s);
    case VM_IMM_I64:
        return read_sleb(d, 64, &s);
    case VM_IMM_F32:
        return read_bytes(d, 4, &p);
    case VM_IMM_F64:
        return read_bytes(d, 8, &p);
    case VM_IMM_SELECT_T:
        RETURN_IF_ERR(read_vec(d, &n));
        for (uint32_t i = 0; i < n; i++)
            RETURN_IF_ERR(read_valtype(d, &b));
        return 0;
    case VM_IMM_REFTYPE:
        return read_reftype(d, &b);
    case VM_IMM_MEMORY_INIT:
        RETURN_IF_ERR(read_u32(d, &u));
        return read_zero_byte(d);
    case VM_IMM_MEMORY_COPY:
        RETURN_IF_ERR(read_zero_byte(d));
        return read_zero_byte(d);
    case VM_IMM_V128:
    case VM_IMM_SHUFFLE:
        /* Lane indices >= 32 are a validation error, not malformed. */
        return read_bytes(d, 16, &p);
    case VM_IMM_LANE:
        return read_byte(d, &b);
    case VM_IMM_MEMARG_LANE:
        RETURN_IF_ERR(read_memarg(d));
        return read_byte(d, &b);
    }
    return malformed(d, d->pos, "illegal opcode (unknown immediate kind)");
}

/* Read one opcode (with its prefix and LEB128 sub-opcode) and check it is
 * known and enabled. */
static int read_opcode(dec *d, vm__opcode *out)
{
    size_t at = d->pos;
    uint8_t b;
    uint32_t sub = 0;
    vm__opcode op;

    *out = VM_OP_COUNT;
    RETURN_IF_ERR(read_byte(d, &b));
    if (b == 0xfc || b == 0xfd) {
        RETURN_IF_ERR(read_u32(d, &sub));
        op = vm__opcode_lookup(b, sub);
    } else {
        op = vm__opcode_lookup(0, b);
    }
    if (op == VM_OP_COUNT ||
        (vm__opinfo_table[op].feature &&
         !(d->m->features & vm__opinfo_table[op].feature))) {
        char msg[64];

        if (b == 0xfc || b == 0xfd)
            snprintf(msg, sizeof msg, "illegal opcode %02x %02x", b, sub);
        else
            snprintf(msg, sizeof msg, "illegal opcode %02x", b);
        return malformed(d, at, msg);
    }
    *out = op;
    return 0;
}

/*
 * Scan an instruction sequence up to and including the `end` that closes
 * it, checking well-formedness only. first_op (may be NULL) receives the
 * first instruction and *ninstr the number of instructions before that
 * final end; constant expressions use them.
 */
static int scan_expr(dec *d, vm__opcode *first_op, uint32_t *ninstr)
{
    size_t depth = 0;
    uint32_t count = 0;
    vm__opcode op;

    RETURN_IF_ERR(push_block(d, &depth, BLK_FUNC));
    for (;;) {
        size_t at = d->pos;

        RETURN_IF_ERR(read_opcode(d, &op));
        RETURN_IF_ERR(read_immediates(d, op));
        switch (op) {
        case VM_OP_BLOCK:
        case VM_OP_LOOP:
            RETURN_IF_ERR(push_block(d, &depth, BLK_BLOCK));
            break;
        case VM_OP_IF:
            RETURN_IF_ERR(push_block(d, &depth, BLK_IF));
            break;
        case VM_OP_TRY:
            RETURN_IF_ERR(push_block(d, &depth, BLK_TRY));
            break;
        case VM_OP_ELSE:
            if (d->blocks[depth - 1] != BLK_IF)
                return malformed(d, at, "END opcode expected (else "
                                        "outside if)");
            d->blocks[depth - 1] = BLK_BLOCK;
            break;
        case VM_OP_CATCH:
        case VM_OP_CATCH_ALL:
            if (d->blocks[depth - 1] != BLK_TRY)
                return malformed(d, at, "END opcode expected (catch "
                                        "outside try)");
            break;
        case VM_OP_DELEGATE:
            if (d->blocks[depth - 1] != BLK_TRY)
                return malformed(d, at, "END opcode expected (delegate "
                                        "outside try)");
            depth--;
            break;
        case VM_OP_END:
            depth--;
            break;
        case VM_OP_MEMORY_INIT:
        case VM_OP_DATA_DROP:
            d->uses_data_index = true;
            break;
        default:
            break;
        }
        if (depth == 0)
            break;
        if (count == 0 && first_op)
            *first_op = op;
        if (count < UINT32_MAX)
            count++;
    }
    if (ninstr)
        *ninstr = count;
    return 0;
}

/*
 * A constant expression. Exactly one constant instruction followed by end
 * is decoded into *ce; any other well-formed sequence becomes
 * VM_CONST_INVALID for the validator to reject ("constant expression
 * required").
 */
static int read_constexpr(dec *d, vm__constexpr *ce)
{
    size_t start = d->pos, save;
    vm__opcode op = VM_OP_END;
    uint32_t ninstr = 0;
    int64_t s;
    const uint8_t *p;
    bool uses_data_index = d->uses_data_index;

    memset(ce, 0, sizeof *ce);
    ce->offset = start;
    RETURN_IF_ERR(scan_expr(d, &op, &ninstr));
    /* Only function bodies need the data count section (the spec's
     * check); data.drop here is just not constant. */
    d->uses_data_index = uses_data_index;
    if (ninstr != 1) {
        /* Empty, or several instructions: report the one that cannot be
         * there (the second, or end itself when empty). */
        ce->kind = VM_CONST_INVALID;
        ce->index = ninstr == 0 ? VM_OP_END : (uint32_t)op;
        if (ninstr > 1) {
            save = d->pos;
            d->pos = start;
            RETURN_IF_ERR(read_opcode(d, &op));
            RETURN_IF_ERR(read_immediates(d, op));
            RETURN_IF_ERR(read_opcode(d, &op));
            ce->index = (uint32_t)op;
            d->pos = save;
        }
        return 0;
    }

    /* Re-read the single instruction for its value; it is well-formed. */
    save = d->pos;
    d->pos = start;
    RETURN_IF_ERR(read_opcode(d, &op));
    switch (op) {
    case VM_OP_I32_CONST:
        RETURN_IF_ERR(read_sleb(d, 32, &s));
        ce->kind = VM_CONST_I32;
        ce->value.i32 = (uint32_t)s;
        break;
    case VM_OP_I64_CONST:
        RETURN_IF_ERR(read_sleb(d, 64, &s));
        ce->kind = VM_CONST_I64;
        ce->value.i64 = (uint64_t)s;
        break;
    case VM_OP_F32_CONST:
        RETURN_IF_ERR(read_bytes(d, 4, &p));
        ce->kind = VM_CONST_F32;
        ce->value.f32_bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                             (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        break;
    case VM_OP_F64_CONST:
        RETURN_IF_ERR(read_bytes(d, 8, &p));
        ce->kind = VM_CONST_F64;
        ce->value.f64_bits = 0;
        for (int i = 7; i >= 0; i--)
            ce->value.f64_bits = ce->value.f64_bits << 8 | p[i];
        break;
    case VM_OP_REF_NULL:
        RETURN_IF_ERR(read_reftype(d, &ce->ref_type));
        ce->kind = VM_CONST_REF_NULL;
        break;
    case VM_OP_REF_FUNC:
        RETURN_IF_ERR(read_u32(d, &ce->index));
        ce->kind = VM_CONST_REF_FUNC;
        break;
    case VM_OP_GLOBAL_GET:
        RETURN_IF_ERR(read_u32(d, &ce->index));
        ce->kind = VM_CONST_GLOBAL_GET;
        break;
    default:
        /* v128.const is the one opcode with a 16-byte literal; it exists
         * only once the SIMD rows are in opcodes.def. */
        if (vm__opinfo_table[op].imm == VM_IMM_V128) {
            RETURN_IF_ERR(read_bytes(d, 16, &p));
            memcpy(ce->value.v128, p, 16);
            ce->kind = VM_CONST_V128;
        } else {
            ce->kind = VM_CONST_INVALID;
            ce->index = (uint32_t)op;
        }
        break;
    }
    d->pos = save;
    return 0;
}

/* ---- Sections ---------------------------------------------------------- */

static int decode_types(dec *d)
{
    vm_module *m = d->m;
    uint32_t n;

    RETURN_IF_ERR(read_count(d, &n, "types", VM_MAX_TYPES));
    m->types = vm__calloc(n, sizeof *m->types);
    if (!m->types)
        return out_of_memory(d);
    m->ntypes = n;
    for (uint32_t i = 0; i < n; i++) {
        vm__functype *t = &m->types[i];
        uint32_t np, nr;
        uint8_t form;
        size_t params_at;

        RETURN_IF_ERR(read_byte(d, &form));
        if (form & 0x80u)
            return malformed(d, d->pos - 1,
                             "integer representation too long");
        if (form != 0x60)
            return malformed(d, d->pos - 1, "malformed function type");
        RETURN_IF_ERR(read_count(d, &np, "parameters", VM_MAX_PARAMS));
        /* Check the parameter types in place, then copy them once the
         * result count (and so the allocation size) is known. */
        params_at = d->pos;
        for (uint32_t k = 0; k < np; k++)
            RETURN_IF_ERR(read_valtype(d, &form));
        RETURN_IF_ERR(read_count(d, &nr, "results", VM_MAX_RESULTS));
        t->types = vm__malloc((size_t)np + nr);
        if (!t->types)
            return out_of_memory(d);
        t->nparams = np;
        t->nresults = nr;
        memcpy(t->types, d->bytes + params_at, np);
        for (uint32_t k = 0; k < nr; k++)
            RETURN_IF_ERR(read_valtype(d, &t->types[np + k]));
    }
    return 0;
}

static int decode_imports(dec *d)
{
    vm_module *m = d->m;
    uint32_t n;

    RETURN_IF_ERR(read_count(d, &n, "imports", VM_MAX_IMPORTS));
    m->imports = vm__calloc(n, sizeof *m->imports);
    if (!m->imports)
        return out_of_memory(d);
    m->nimports = n;
    for (uint32_t i = 0; i < n; i++) {
        vm__import *im = &m->imports[i];
        uint8_t kind;

        RETURN_IF_ERR(read_name(d, &im->module, &im->module_len));
        RETURN_IF_ERR(read_name(d, &im->name, &im->name_len));
        RETURN_IF_ERR(read_byte(d, &kind));
        switch (kind) {
        case VM_EXTERN_FUNC:
            RETURN_IF_ERR(read_u32(d, &im->desc.func_type));
            if (m->nfuncs_imported >= VM_MAX_FUNCS)
                return limit_exceeded(d, "functions",
                                      (uint64_t)m->nfuncs_imported + 1,
                                      VM_MAX_FUNCS);
            m->nfuncs_imported++;
            break;
        case VM_EXTERN_TABLE:
            RETURN_IF_ERR(read_tabletype(d, &im->desc.table));
            m->ntables_imported++;
            break;
        case VM_EXTERN_MEMORY:
            RETURN_IF_ERR(read_limits(d, &im->desc.memory));
            m->nmems_imported++;
            break;
        case VM_EXTERN_GLOBAL:
            RETURN_IF_ERR(read_globaltype(d, &im->desc.global));
            m->nglobals_imported++;
            break;
        case VM_EXTERN_TAG:
            if (m->features & VM_FEATURE_EXCEPTIONS) {
                RETURN_IF_ERR(read_tagtype(d, &im->desc.tag_type));
                m->ntags_imported++;
                break;
            }
            /* fall through */
        default:
            return malformed(d, d->pos - 1, "malformed import kind");
        }
        im->kind = (vm_extern_kind)kind;
    }
    return 0;
}

/* Build the index-space arrays once the defined counts are known; the
 * imported entries come first. Idempotent: a section that is absent gets
 * its array in finish(). */
static int build_func_space(dec *d)
{
    vm_module *m = d->m;
    uint32_t k = 0;

    if (m->func_type_idx)
        return 0;
    m->nfuncs_total = m->nfuncs_imported + d->nfuncs_defined;
    m->func_type_idx = vm__calloc(m->nfuncs_total, sizeof(uint32_t));
    if (!m->func_type_idx)
        return out_of_memory(d);
    for (uint32_t i = 0; i < m->nimports; i++)
        if (m->imports[i].kind == VM_EXTERN_FUNC)
            m->func_type_idx[k++] = m->imports[i].desc.func_type;
    for (uint32_t i = 0; i < d->nfuncs_defined; i++)
        m->func_type_idx[k++] = m->funcs[i].type_idx;
    return 0;
}

static int build_table_space(dec *d, uint32_t ndefined)
{
    vm_module *m = d->m;
    uint32_t k = 0;

    if (m->tables)
        return 0;
    if ((uint64_t)m->ntables_imported + ndefined > VM_MAX_TABLES)
        return limit_exceeded(d, "tables",
                              (uint64_t)m->ntables_imported + ndefined,
                              VM_MAX_TABLES);
    m->tables = vm__calloc((size_t)m->ntables_imported + ndefined,
                           sizeof *m->tables);
    if (!m->tables)
        return out_of_memory(d);
    m->ntables_total = m->ntables_imported + ndefined;
    for (uint32_t i = 0; i < m->nimports; i++)
        if (m->imports[i].kind == VM_EXTERN_TABLE)
            m->tables[k++] = m->imports[i].desc.table;
    return 0;
}

static int build_mem_space(dec *d, uint32_t ndefined)
{
    vm_module *m = d->m;
    uint32_t k = 0;

    if (m->mems)
        return 0;
    m->mems = vm__calloc((size_t)m->nmems_imported + ndefined,
                         sizeof *m->mems);
    if (!m->mems)
        return out_of_memory(d);
    m->nmems_total = m->nmems_imported + ndefined;
    for (uint32_t i = 0; i < m->nimports; i++)
        if (m->imports[i].kind == VM_EXTERN_MEMORY)
            m->mems[k++] = m->imports[i].desc.memory;
    return 0;
}

static int build_global_space(dec *d, uint32_t ndefined)
{
    vm_module *m = d->m;
    uint32_t k = 0;

    if (m->global_types)
        return 0;
    if ((uint64_t)m->nglobals_imported + ndefined > VM_MAX_GLOBALS)
        return limit_exceeded(d, "globals",
                              (uint64_t)m->nglobals_imported + ndefined,
                              VM_MAX_GLOBALS);
    m->global_types = vm__calloc((size_t)m->nglobals_imported + ndefined,
                                 sizeof *m->global_types);
    if (!m->global_types)
        return out_of_memory(d);
    m->nglobals_total = m->nglobals_imported + ndefined;
    for (uint32_t i = 0; i < m->nimports; i++)
        if (m->imports[i].kind == VM_EXTERN_GLOBAL)
            m->global_types[k++] = m->imports[i].desc.global;
    return 0;
}

static int build_tag_space(dec *d, uint32_t ndefined)
{
    vm_module *m = d->m;
    uint32_t k = 0;

    if (m->tag_type_idx)
        return 0;
    m->tag_type_idx = vm__calloc((size_t)m->ntags_imported + ndefined,
                                 sizeof(uint32_t));
    if (!m->tag_type_idx)
        return out_of_memory(d);
    m->ntags_total = m->ntags_imported + ndefined;
    for (uint32_t i = 0; i < m->nimports; i++)
        if (m->imports[i].kind == VM_EXTERN_TAG)
            m->tag_type_idx[k++] = m->imports[i].desc.tag_type;
    return 0;
}

static int decode_functions(dec *d)
{
    vm_module *m = d->m;
    uint32_t n;

    RETURN_IF_ERR(read_count(d, &n, "functions", VM_MAX_FUNCS));
    if ((uint64_t)m->nfuncs_imported + n > VM_MAX_FUNCS)
        return limit_exceeded(d, "functions",
                              (uint64_t)m->nfuncs_imported + n, VM_MAX_FUNCS);
    m->funcs = vm__calloc(n, sizeof *m->funcs);
    if (!m->funcs)
        return out_of_memory(d);
    d->nfuncs_defined = n;
    for (uint32_t i = 0; i < n; i++)
        RETURN_IF_ERR(read_u32(d, &m->funcs[i].type_idx));
    return build_func_space(d);
}

static int decode_tables(dec *d)
{
    vm_module *m = d->m;
    uint32_t n;

    RETURN_IF_ERR(read_count(d, &n, "tables", VM_MAX_TABLES));
    RETURN_IF_ERR(build_table_space(d, n));
    for (uint32_t i = 0; i < n; i++)
        RETURN_IF_ERR(read_tabletype(d, &m->tables[m->ntables_imported + i]));
    return 0;
}

static int decode_memories(dec *d)
{
    vm_module *m = d->m;
    uint32_t n;

    RETURN_IF_ERR(read_count(d, &n, "memories", VM_MAX_TABLES));
    RETURN_IF_ERR(build_mem_space(d, n));
    for (uint32_t i = 0; i < n; i++)
        RETURN_IF_ERR(read_limits(d, &m->mems[m->nmems_imported + i]));
    return 0;
}

static int decode_tags(dec *d)
{
    vm_module *m = d->m;
    uint32_t n;

    RETURN_IF_ERR(read_count(d, &n, "tags", VM_MAX_TYPES));
    RETURN_IF_ERR(build_tag_space(d, n));
    for (uint32_t i = 0; i < n; i++)
        RETURN_IF_ERR(
            read_tagtype(d, &m->tag_type_idx[m->ntags_imported + i]));
    return 0;
}

static int decode_globals(dec *d)
{
    vm_module *m = d->m;
    uint32_t n;

    RETURN_IF_ERR(read_count(d, &n, "globals", VM_MAX_GLOBALS));
    RETURN_IF_ERR(build_global_space(d, n));
    m->globals = vm__calloc(n, sizeof *m->globals);
    if (!m->globals)
        return out_of_memory(d);
    for (uint32_t i = 0; i < n; i++) {
        vm__global *g = &m->globals[i];

        RETURN_IF_ERR(read_globaltype(d, &g->type));
        m->global_types[m->nglobals_imported + i] = g->type;
        RETURN_IF_ERR(read_constexpr(d, &g->init));
    }
    return 0;
}

static int decode_exports(dec *d)
{
    vm_module *m = d->m;
    uint32_t n;

    RETURN_IF_ERR(read_count(d, &n, "exports", VM_MAX_EXPORTS));
    m->exports = vm__calloc(n, sizeof *m->exports);
    if (!m->exports)
        return out_of_memory(d);
    m->nexports = n;
    for (uint32_t i = 0; i < n; i++) {
        vm__export *ex = &m->exports[i];
        uint8_t kind;

        RETURN_IF_ERR(read_name(d, &ex->name, &ex->name_len));
        RETURN_IF_ERR(read_byte(d, &kind));
        if (kind > VM_EXTERN_GLOBAL &&
            !(kind == VM_EXTERN_TAG &&
              (m->features & VM_FEATURE_EXCEPTIONS)))
            return malformed(d, d->pos - 1, "malformed export kind");
        ex->kind = (vm_extern_kind)kind;
        RETURN_IF_ERR(read_u32(d, &ex->index));
    }
    return 0;
}

static int decode_start(dec *d)
{
    d->m->has_start = true;
    return read_u32(d, &d->m->start);
}

/* The elemkind byte of element segment flags 1, 2 and 3: only funcref. */
static int read_elemkind(dec *d, uint8_t *out)
{
    uint8_t b;

    RETURN_IF_ERR(read_byte(d, &b));
    if (b != 0x00)
        return malformed(d, d->pos - 1, "malformed element kind");
    *out = VM_FUNCREF;
    return 0;
}

/*
 * Element segments, Wasm 2.0: the flags are a bit field. Bit 0: passive
 * or declarative (bit 1 then says declarative); else active, with an
 * explicit table index when bit 1 is set. Bit 2: items are expressions
 * (with a reftype) rather than function indices (with an elemkind).
 */
static int decode_elem(dec *d, vm__elem *e)
{
    uint32_t flags, n;
    bool exprs;

    RETURN_IF_ERR(read_u32(d, &flags));
    if (flags > 7)
        return malformed(d, d->pos - 1, "malformed elements segment kind");
    exprs = flags & 4;
    e->elem_type = VM_FUNCREF;
    if (flags & 1) {
        e->mode = flags & 2 ? VM_SEG_DECLARATIVE : VM_SEG_PASSIVE;
    } else {
        e->mode = VM_SEG_ACTIVE;
        if (flags & 2)
            RETURN_IF_ERR(read_u32(d, &e->table_idx));
        RETURN_IF_ERR(read_constexpr(d, &e->offset));
    }
    /* Flags 0 and 4 imply funcref; the others say it. */
    if (flags & 3)
        RETURN_IF_ERR(exprs ? read_reftype(d, &e->elem_type)
                            : read_elemkind(d, &e->elem_type));
    RETURN_IF_ERR(read_count(d, &n, "element segment items",
                             VM_MAX_TABLE_SIZE));
    e->items = vm__calloc(n, sizeof *e->items);
    if (!e->items)
        return out_of_memory(d);
    e->count = n;
    for (uint32_t i = 0; i < n; i++) {
        if (exprs) {
            RETURN_IF_ERR(read_constexpr(d, &e->items[i]));
        } else {
            e->items[i].offset = d->pos;
            e->items[i].kind = VM_CONST_REF_FUNC;
            RETURN_IF_ERR(read_u32(d, &e->items[i].index));
        }
    }
    return 0;
}

static int decode_elems(dec *d)
{
    vm_module *m = d->m;
    uint32_t n;

    RETURN_IF_ERR(read_count(d, &n, "element segments",
                             VM_MAX_ELEM_SEGMENTS));
    m->elems = vm__calloc(n, sizeof *m->elems);
    if (!m->elems)
        return out_of_memory(d);
    m->nelems = n;
    for (uint32_t i = 0; i < n; i++)
        RETURN_IF_ERR(decode_elem(d, &m->elems[i]));
    return 0;
}

static int decode_datacount(dec *d)
{
    d->m->has_datacount = true;
    return read_u32(d, &d->m->datacount);
}

static int decode_datas(dec *d)
{
    vm_module *m = d->m;
    uint32_t n;

    RETURN_IF_ERR(read_count(d, &n, "data segments", VM_MAX_DATA_SEGMENTS));
    m->datas = vm__calloc(n, sizeof *m->datas);
    if (!m->datas)
        return out_of_memory(d);
    m->ndatas = n;
    for (uint32_t i = 0; i < n; i++) {
        vm__data *seg = &m->datas[i];
        uint32_t flags;

        RETURN_IF_ERR(read_u32(d, &flags));
        switch (flags) {
        case 0:
        case 2:
            seg->mode = VM_SEG_ACTIVE;
            if (flags == 2)
                RETURN_IF_ERR(read_u32(d, &seg->mem_idx));
            RETURN_IF_ERR(read_constexpr(d, &seg->offset));
            break;
        case 1:
            seg->mode = VM_SEG_PASSIVE;
            break;
        default:
            return malformed(d, d->pos - 1, "malformed data segment kind");
        }
        /* The spec's message for a data length past the end is the
         * running-out one, not "length out of bounds". */
        RETURN_IF_ERR(read_u32(d, &seg->len));
        RETURN_IF_ERR(read_bytes(d, seg->len, &seg->bytes));
    }
    return 0;
}

/* One function body: locals, then the instruction stream. */
static int decode_body(dec *d, vm__func *f)
{
    uint32_t nruns, count;
    uint64_t total = 0;
    size_t locals_at = d->pos, at;
    uint8_t t;

    RETURN_IF_ERR(read_vec(d, &nruns));
    for (uint32_t i = 0; i < nruns; i++) {
        RETURN_IF_ERR(read_u32(d, &count));
        RETURN_IF_ERR(read_valtype(d, &t));
        total += count; /* 64-bit: cannot wrap for 2^32 runs of 2^32 */
    }
    if (total > UINT32_MAX)
        return malformed(d, locals_at, "too many locals");
    if (total > VM_MAX_LOCALS)
        return vm__error(d->err, d->errlen, VM_ERR_LIMIT,
                         "too many locals: %llu exceeds the implementation "
                         "limit %u (function %u, offset 0x%zx)",
                         (unsigned long long)total, VM_MAX_LOCALS,
                         d->m->nfuncs_imported + d->func, locals_at);
    f->local_types = vm__malloc(total);
    if (!f->local_types)
        return out_of_memory(d);
    f->nlocals = (uint32_t)total;

    /* Second pass to expand the runs, now that the total is known safe. */
    at = d->pos;
    d->pos = locals_at;
    RETURN_IF_ERR(read_u32(d, &nruns));
    for (uint32_t i = 0, k = 0; i < nruns; i++) {
        RETURN_IF_ERR(read_u32(d, &count));
        RETURN_IF_ERR(read_valtype(d, &t));
        memset(f->local_types + k, t, count);
        k += count;
    }
    d->pos = at;

    f->body = d->bytes + d->pos;
    f->body_offset = d->pos;
    RETURN_IF_ERR(scan_expr(d, NULL, NULL));
    f->body_len = d->pos - f->body_offset;
    return 0;
}

static int decode_code(dec *d)
{
    vm_module *m = d->m;
    uint32_t n;

    RETURN_IF_ERR(read_vec(d, &n));
    if (n != d->nfuncs_defined)
        return malformed(d, d->pos,
                         "function and code section have inconsistent "
                         "lengths");
    d->seen_code = true;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t size;
        size_t body_end;

        RETURN_IF_ERR(read_len(d, &size));
        if (size > VM_MAX_FUNC_BODY)
            return limit_exceeded(d, "function body size", size,
                                  VM_MAX_FUNC_BODY);
        body_end = d->pos + size;
        d->func = i;
        RETURN_IF_ERR(decode_body(d, &m->funcs[i]));
        if (d->pos != body_end)
            return malformed(d, d->pos, "section size mismatch");
        d->func = NO_FUNC;
    }
    return 0;
}

static int decode_custom(dec *d)
{
    vm_module *m = d->m;
    vm__custom *c;

    /* Grow by one: custom sections are few, and the array stays exact. */
    c = vm__realloc(m->customs, ((size_t)m->ncustoms + 1) * sizeof *c);
    if (!c)
        return out_of_memory(d);
    m->customs = c;
    c = &m->customs[m->ncustoms];
    memset(c, 0, sizeof *c);
    m->ncustoms++;
    /* The name is read like any other; the payload is what the declared
     * size leaves, and a name longer than that runs out of section. */
    RETURN_IF_ERR(read_name(d, &c->name, NULL));
    if (d->pos > d->section_end) {
        d->pos = d->section_end;
        return unexpected_end(d);
    }
    c->data = d->bytes + d->pos;
    c->len = d->section_end - d->pos;
    d->pos = d->section_end;
    return 0;
}

/* ---- The name section -------------------------------------------------- */

/*
 * The "name" custom section is advisory: when it is malformed it is
 * ignored, as the spec says of custom sections, and the names stay empty.
 * Running out of memory is still an error. Entries naming functions or
 * locals that do not exist are skipped.
 */
static void names_clear(vm_module *m)
{
    vm__names *nm = &m->names;

    vm__free(nm->module);
    if (nm->funcs)
        for (uint32_t i = 0; i < m->nfuncs_total; i++)
            vm__free(nm->funcs[i]);
    vm__free(nm->funcs);
    if (nm->locals) {
        for (uint32_t i = 0; i < m->nfuncs_total; i++) {
            for (uint32_t k = 0; nm->nlocal_names && k < nm->nlocal_names[i];
                 k++)
                vm__free(nm->locals[i][k].name);
            vm__free(nm->locals[i]);
        }
    }
    vm__free(nm->locals);
    vm__free(nm->nlocal_names);
    memset(nm, 0, sizeof *nm);
}

static int cmp_local_name(const void *a, const void *b)
{
    uint32_t x = ((const vm__local_name *)a)->idx;
    uint32_t y = ((const vm__local_name *)b)->idx;

    return x < y ? -1 : x > y;
}

/* Read a name map into names[] (nslots entries), skipping out-of-range
 * indices; a later duplicate replaces the earlier name. */
static int read_name_map(dec *d, char **names, uint32_t nslots)
{
    uint32_t n, idx;
    char *s;

    RETURN_IF_ERR(read_vec(d, &n));
    for (uint32_t i = 0; i < n; i++) {
        RETURN_IF_ERR(read_u32(d, &idx));
        RETURN_IF_ERR(read_name(d, &s, NULL));
        if (idx < nslots) {
            vm__free(names[idx]);
            names[idx] = s;
        } else {
            vm__free(s);
        }
    }
    return 0;
}

static int read_local_names(dec *d)
{
    vm_module *m = d->m;
    vm__names *nm = &m->names;
    uint32_t nfuncs, fidx, n;

    if (!nm->locals) {
        nm->nlocal_names = vm__calloc(m->nfuncs_total, sizeof(uint32_t));
        if (!nm->nlocal_names)
            return out_of_memory(d);
        nm->locals = vm__calloc(m->nfuncs_total, sizeof *nm->locals);
        if (!nm->locals)
            return out_of_memory(d);
    }
    RETURN_IF_ERR(read_vec(d, &nfuncs));
    for (uint32_t i = 0; i < nfuncs; i++) {
        vm__local_name *list = NULL;
        uint32_t kept = 0;

        RETURN_IF_ERR(read_u32(d, &fidx));
        RETURN_IF_ERR(read_vec(d, &n));
        if (fidx < m->nfuncs_total && !nm->locals[fidx]) {
            list = vm__calloc(n, sizeof *list);
            if (!list)
                return out_of_memory(d);
            nm->locals[fidx] = list;
        }
        for (uint32_t k = 0; k < n; k++) {
            uint32_t lidx;
            char *s;

            RETURN_IF_ERR(read_u32(d, &lidx));
            RETURN_IF_ERR(read_name(d, &s, NULL));
            if (!list) {
                vm__free(s);
                continue;
            }
            list[kept].idx = lidx;
            list[kept].name = s;
            kept++;
            nm->nlocal_names[fidx] = kept;
        }
        if (list && kept > 1)
            qsort(list, kept, sizeof *list, cmp_local_name);
    }
    return 0;
}

static int decode_name_section(dec *d, const vm__custom *c)
{
    vm_module *m = d->m;
    int last_id = -1;

    d->pos = (size_t)(c->data - d->bytes);
    d->end = d->pos + c->len;
    d->section_end = d->end;
    while (d->pos < d->end) {
        uint8_t id;
        uint32_t size;
        size_t sub_end;

        RETURN_IF_ERR(read_byte(d, &id));
        RETURN_IF_ERR(read_len(d, &size));
        sub_end = d->pos + size;
        /* Subsections appear at most once, in increasing id order. */
        if ((int)id <= last_id)
            return malformed(d, d->pos, "name subsection out of order");
        last_id = id;
        d->end = sub_end;
        switch (id) {
        case 0:
            RETURN_IF_ERR(read_name(d, &m->names.module, NULL));
            break;
        case 1:
            if (!m->names.funcs) {
                m->names.funcs =
                    vm__calloc(m->nfuncs_total, sizeof *m->names.funcs);
                if (!m->names.funcs)
                    return out_of_memory(d);
            }
            RETURN_IF_ERR(read_name_map(d, m->names.funcs, m->nfuncs_total));
            break;
        case 2:
            RETURN_IF_ERR(read_local_names(d));
            break;
        default: /* labels, types, ...: not used */
            d->pos = sub_end;
            break;
        }
        if (d->pos != sub_end)
            return malformed(d, d->pos, "name subsection size mismatch");
        d->end = d->section_end;
    }
    return 0;
}

/* ---- The module -------------------------------------------------------- */

/* Position of each section id in the required order (custom: any). */
static int section_rank(uint8_t id)
{
    static const int8_t rank[SEC_COUNT] = {
        [SEC_TYPE] = 1,     [SEC_IMPORT] = 2,  [SEC_FUNCTION] = 3,
        [SEC_TABLE] = 4,    [SEC_MEMORY] = 5,  [SEC_TAG] = 6,
        [SEC_GLOBAL] = 7,   [SEC_EXPORT] = 8,  [SEC_START] = 9,
        [SEC_ELEMENT] = 10, [SEC_DATACOUNT] = 11, [SEC_CODE] = 12,
        [SEC_DATA] = 13};

    return rank[id];
}

static int decode_section(dec *d, uint8_t id)
{
    switch (id) {
    case SEC_CUSTOM: return decode_custom(d);
    case SEC_TYPE: return decode_types(d);
    case SEC_IMPORT: return decode_imports(d);
    case SEC_FUNCTION: return decode_functions(d);
    case SEC_TABLE: return decode_tables(d);
    case SEC_MEMORY: return decode_memories(d);
    case SEC_TAG: return decode_tags(d);
    case SEC_GLOBAL: return decode_globals(d);
    case SEC_EXPORT: return decode_exports(d);
    case SEC_START: return decode_start(d);
    case SEC_ELEMENT: return decode_elems(d);
    case SEC_DATACOUNT: return decode_datacount(d);
    case SEC_CODE: return decode_code(d);
    case SEC_DATA: return decode_datas(d);
    }
    return malformed(d, d->pos, "malformed section id");
}

static void declare_func(vm_module *m, const vm__constexpr *ce)
{
    if (ce->kind == VM_CONST_REF_FUNC && ce->index < m->nfuncs_total)
        m->func_declared[ce->index] = true;
}

/* Cross-section checks and the arrays of sections that were absent. */
static int finish(dec *d)
{
    vm_module *m = d->m;
    int rc;

    d->section = -1;
    d->pos = m->len;
    if (!d->seen_code && d->nfuncs_defined != 0)
        return malformed(d, m->len, "function and code section have "
                                    "inconsistent lengths");
    if (m->has_datacount && m->datacount != m->ndatas)
        return malformed(d, m->len, "data count and data section have "
                                    "inconsistent lengths");
    /* memory.init and data.drop without a data count section are
     * malformed, but the check waits until after validation (see
     * vm_module_new) so that a module which is also invalid reports its
     * validation error, as the spec tests (written as text) expect. */
    m->uses_data_index = d->uses_data_index;

    RETURN_IF_ERR(build_func_space(d));
    RETURN_IF_ERR(build_table_space(d, 0));
    RETURN_IF_ERR(build_mem_space(d, 0));
    RETURN_IF_ERR(build_global_space(d, 0));
    RETURN_IF_ERR(build_tag_space(d, 0));

    /* Functions referenced outside bodies may be named by ref.func. */
    m->func_declared = vm__calloc(m->nfuncs_total, sizeof(bool));
    if (!m->func_declared)
        return out_of_memory(d);
    for (uint32_t i = 0; i < m->nglobals_total - m->nglobals_imported; i++)
        declare_func(m, &m->globals[i].init);
    for (uint32_t i = 0; i < m->nexports; i++)
        if (m->exports[i].kind == VM_EXTERN_FUNC &&
            m->exports[i].index < m->nfuncs_total)
            m->func_declared[m->exports[i].index] = true;
    for (uint32_t i = 0; i < m->nelems; i++) {
        declare_func(m, &m->elems[i].offset);
        for (uint32_t k = 0; k < m->elems[i].count; k++)
            declare_func(m, &m->elems[i].items[k]);
    }
    for (uint32_t i = 0; i < m->ndatas; i++)
        declare_func(m, &m->datas[i].offset);

    /* The first "name" custom section, if any. */
    for (uint32_t i = 0; i < m->ncustoms; i++) {
        const vm__custom *c = &m->customs[i];

        if (strcmp(c->name, "name") != 0)
            continue;
        d->section = SEC_CUSTOM;
        rc = decode_name_section(d, c);
        if (rc == VM_ERR_NOMEM)
            return rc;
        if (rc < 0) {
            names_clear(m);
            if (d->err && d->errlen)
                d->err[0] = '\0';
        }
        break;
    }
    return 0;
}

int vm__decode(vm_module *m, char *err, size_t errlen)
{
    static const uint8_t magic[4] = {0x00, 0x61, 0x73, 0x6d};
    static const uint8_t version[4] = {0x01, 0x00, 0x00, 0x00};
    dec d = {.m = m, .bytes = m->bytes, .end = m->len, .section = -1,
             .func = NO_FUNC, .err = err, .errlen = errlen};
    const uint8_t *p;
    int last_rank = 0, rc;

    if (err && errlen)
        err[0] = '\0';
    if ((rc = read_bytes(&d, 4, &p)) < 0)
        goto out;
    if (memcmp(p, magic, 4) != 0) {
        rc = malformed(&d, 0, "magic header not detected");
        goto out;
    }
    if ((rc = read_bytes(&d, 4, &p)) < 0)
        goto out;
    if (memcmp(p, version, 4) != 0) {
        rc = malformed(&d, 4, "unknown binary version");
        goto out;
    }

    while (d.pos < m->len) {
        size_t id_at = d.pos;
        uint8_t id;
        uint32_t size;

        d.section = -1;
        if ((rc = read_byte(&d, &id)) < 0)
            goto out;
        if (id >= SEC_COUNT ||
            (id == SEC_TAG && !(m->features & VM_FEATURE_EXCEPTIONS))) {
            rc = malformed(&d, id_at, "malformed section id");
            goto out;
        }
        d.section = id;
        if ((rc = read_len(&d, &size)) < 0)
            goto out;
        if (id != SEC_CUSTOM) {
            /* A repeated or misplaced section is content after what the
             * order allowed to be last. */
            if (section_rank(id) <= last_rank) {
                rc = malformed(&d, id_at,
                               "unexpected content after last section");
                goto out;
            }
            last_rank = section_rank(id);
        }
        d.section_end = d.pos + size;
        if ((rc = decode_section(&d, id)) < 0)
            goto out;
        if (d.pos != d.section_end) {
            rc = malformed(&d, d.pos, "section size mismatch");
            goto out;
        }
    }
    rc = finish(&d);
out:
    vm__free(d.blocks);
    return rc;
}
