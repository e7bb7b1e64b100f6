/*
 * Listing: a module as text, one instruction per line, for viewers that
 * need a "source" to point at (the CodeTracer writer). The format is in
 * traced/vm_listing.h and docs/codetracer.md.
 *
 * The walk reads bodies that the decoder already proved well-formed, with
 * the opcode table (opcodes.def) giving each instruction's text and
 * immediate kinds. It still checks every read against the body's end, so
 * a bug elsewhere shows up as VM_ERR_MALFORMED rather than a wild read.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "module_int.h"
#include "traced/vm_listing.h"
#include "vm_opcodes.h"

struct vm_listing {
    char *text; /* NUL-terminated */
    size_t len, cap;
    uint32_t nlines; /* complete lines so far */

    uint32_t nfuncs;
    uint32_t *func_line;  /* nfuncs header lines */
    char **func_names;    /* nfuncs display names */
    uint32_t *func_first; /* nfuncs + 1: first instruction of each */

    uint32_t ninsns, insns_cap;
    uint32_t *insn_off;  /* module offsets, increasing */
    uint32_t *insn_line; /* their lines */
    uint32_t *insn_op;   /* their opcodes (VM_TRACE_OPCODE) */

    int status; /* first error while building */
};

/* ---- Output ------------------------------------------------------------ */

static void append(vm_listing *l, const char *s, size_t n)
{
    if (l->status)
        return;
    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        char *p;

        while (cap < l->len + n + 1)
            cap *= 2;
        p = vm__realloc(l->text, cap);
        if (!p) {
            l->status = VM_ERR_NOMEM;
            return;
        }
        l->text = p;
        l->cap = cap;
    }
    memcpy(l->text + l->len, s, n);
    l->len += n;
    l->text[l->len] = '\0';
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n')
            l->nlines++;
}

static void appendf(vm_listing *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void appendf(vm_listing *l, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    append(l, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void append_str(vm_listing *l, const char *s)
{
    append(l, s, strlen(s));
}

/* The line the next character goes on. */
static uint32_t current_line(const vm_listing *l)
{
    return l->nlines + 1;
}

static void add_insn(vm_listing *l, uint32_t offset, uint32_t opcode)
{
    if (l->status)
        return;
    if (l->ninsns == l->insns_cap) {
        uint32_t cap = l->insns_cap ? l->insns_cap * 2 : 1024;
        uint32_t *o = vm__realloc(l->insn_off, cap * sizeof *o);

        if (!o) {
            l->status = VM_ERR_NOMEM;
            return;
        }
        l->insn_off = o;
        o = vm__realloc(l->insn_line, cap * sizeof *o);
        if (!o) {
            l->status = VM_ERR_NOMEM;
            return;
        }
        l->insn_line = o;
        o = vm__realloc(l->insn_op, cap * sizeof *o);
        if (!o) {
            l->status = VM_ERR_NOMEM;
            return;
        }
        l->insn_op = o;
        l->insns_cap = cap;
    }
    l->insn_off[l->ninsns] = offset;
    l->insn_line[l->ninsns] = current_line(l);
    l->insn_op[l->ninsns] = opcode;
    l->ninsns++;
}

/* ---- Reading immediates ------------------------------------------------- */

typedef struct cursor {
    const uint8_t *p, *end;
    bool bad;
} cursor;

static uint8_t rd_byte(cursor *c)
{
    if (c->p >= c->end) {
        c->bad = true;
        return 0;
    }
    return *c->p++;
}

static uint64_t rd_uleb(cursor *c)
{
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b;

    do {
        b = rd_byte(c);
        if (shift < 64)
            v |= (uint64_t)(b & 0x7fu) << shift;
        shift += 7;
    } while ((b & 0x80u) && !c->bad);
    return v;
}

static int64_t rd_sleb(cursor *c)
{
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b;

    do {
        b = rd_byte(c);
        if (shift < 64)
            v |= (uint64_t)(b & 0x7fu) << shift;
        shift += 7;
    } while ((b & 0x80u) && !c->bad);
    if (shift < 64 && (b & 0x40u))
        v |= ~(uint64_t)0 << shift;
    return (int64_t)v;
}

static uint32_t rd_u32(cursor *c)
{
    return (uint32_t)rd_uleb(c);
}

static const uint8_t *rd_bytes(cursor *c, size_t n)
{
    const uint8_t *p = c->p;

    if ((size_t)(c->end - c->p) < n) {
        c->bad = true;
        c->p = c->end;
        return NULL;
    }
    c->p += n;
    return p;
}

/* ---- Formatting ---------------------------------------------------------- */

static void append_clean(vm_listing *l, const char *s);

static const char *valtype_text(uint8_t t)
{
    const char *s = vm_valtype_name((vm_valtype)t);

    return s ? s : "?";
}

static void append_types(vm_listing *l, const char *kw, const uint8_t *types,
                         uint32_t n)
{
    if (n == 0)
        return;
    appendf(l, " (%s", kw);
    for (uint32_t i = 0; i < n; i++)
        appendf(l, " %s", valtype_text(types[i]));
    append_str(l, ")");
}

static void append_functype(vm_listing *l, const vm_module *m,
                            uint32_t typeidx)
{
    const vm__functype *t;

    if (typeidx >= m->ntypes)
        return;
    t = &m->types[typeidx];
    append_types(l, "param", vm__functype_params(t), t->nparams);
    append_types(l, "result", vm__functype_results(t), t->nresults);
}

static void append_float32(vm_listing *l, uint32_t bits)
{
    float f;

    memcpy(&f, &bits, sizeof f);
    if (isnan(f)) {
        uint32_t payload = bits & 0x7fffffu;

        appendf(l, "%snan", (bits >> 31) ? "-" : "");
        if (payload != 0x400000u)
            appendf(l, ":0x%" PRIx32, payload);
    } else if (isinf(f)) {
        append_str(l, (bits >> 31) ? "-inf" : "inf");
    } else {
        appendf(l, "%.9g", (double)f);
    }
}

static void append_float64(vm_listing *l, uint64_t bits)
{
    double d;

    memcpy(&d, &bits, sizeof d);
    if (isnan(d)) {
        uint64_t payload = bits & 0xfffffffffffffull;

        appendf(l, "%snan", (bits >> 63) ? "-" : "");
        if (payload != 0x8000000000000ull)
            appendf(l, ":0x%" PRIx64, payload);
    } else if (isinf(d)) {
        append_str(l, (bits >> 63) ? "-inf" : "inf");
    } else {
        appendf(l, "%.17g", d);
    }
}

/* Natural alignment (log2) of a memory instruction, read off its name:
 * "i64.load32_u" accesses 4 bytes, "f64.store" 8. */
static uint32_t natural_align(const char *text)
{
    const char *p = strstr(text, "load");
    unsigned bits;

    if (!p)
        p = strstr(text, "store");
    if (p) {
        while (*p >= 'a' && *p <= 'z')
            p++;
        if (sscanf(p, "%u", &bits) == 1 && bits >= 8) {
            if (strchr(p, 'x'))
                return 3; /* v128.load8x8_s and friends: 8 bytes */
            return bits == 8 ? 0 : bits == 16 ? 1 : bits == 32 ? 2 : 3;
        }
    }
    if (strncmp(text, "v128", 4) == 0)
        return 4;
    return (text[1] == '6') ? 3 : 2; /* i64/f64 : i32/f32 */
}

static void append_memarg(vm_listing *l, cursor *c, const char *text)
{
    uint32_t align = rd_u32(c), offset = rd_u32(c);

    if (offset)
        appendf(l, " offset=%" PRIu32, offset);
    if (align != natural_align(text) && align < 32)
        appendf(l, " align=%" PRIu32, (uint32_t)1 << align);
}

static void append_blocktype(vm_listing *l, cursor *c)
{
    int64_t bt;

    if (c->p < c->end && *c->p == 0x40) {
        c->p++;
        return;
    }
    if (c->p < c->end && (*c->p & 0xc0u) == 0x40u) {
        appendf(l, " (result %s)", valtype_text(rd_byte(c)));
        return;
    }
    bt = rd_sleb(c);
    appendf(l, " (type %" PRId64 ")", bt);
}

static void append_func_ref(vm_listing *l, uint32_t funcidx)
{
    appendf(l, " %" PRIu32, funcidx);
    if (funcidx < l->nfuncs && l->func_names[funcidx] &&
        strncmp(l->func_names[funcidx], "func[", 5) != 0)
        appendf(l, " <%s>", l->func_names[funcidx]);
}

/* Format op's immediates from c; f is the function being listed (for
 * local names). */
static void append_immediates(vm_listing *l, const vm_module *m, uint32_t f,
                              cursor *c, vm__opcode op)
{
    const vm__opinfo *info = &vm__opinfo_table[op];
    uint32_t a, b, n;
    const uint8_t *p;

    switch (info->imm) {
    case VM_IMM_NONE:
        break;
    case VM_IMM_BLOCKTYPE:
        append_blocktype(l, c);
        break;
    case VM_IMM_FUNC:
        append_func_ref(l, rd_u32(c));
        break;
    case VM_IMM_LOCAL: {
        const char *name;

        a = rd_u32(c);
        appendf(l, " %" PRIu32, a);
        name = vm_module_local_name(m, f, a);
        if (name && *name) {
            append_str(l, " <");
            append_clean(l, name);
            append_str(l, ">");
        }
        break;
    }
    case VM_IMM_LABEL:
    case VM_IMM_GLOBAL:
    case VM_IMM_TABLE:
    case VM_IMM_DATA:
    case VM_IMM_ELEM:
    case VM_IMM_TAG:
        appendf(l, " %" PRIu32, rd_u32(c));
        break;
    case VM_IMM_CALL_INDIRECT:
        a = rd_u32(c); /* typeidx */
        b = rd_u32(c); /* tableidx */
        if (b)
            appendf(l, " %" PRIu32, b);
        appendf(l, " (type %" PRIu32 ")", a);
        break;
    case VM_IMM_TABLE_INIT: /* binary: elem, table; text: table elem */
        a = rd_u32(c);
        b = rd_u32(c);
        appendf(l, " %" PRIu32 " %" PRIu32, b, a);
        break;
    case VM_IMM_TABLE_COPY:
        a = rd_u32(c);
        b = rd_u32(c);
        appendf(l, " %" PRIu32 " %" PRIu32, a, b);
        break;
    case VM_IMM_BR_TABLE:
        n = rd_u32(c);
        for (uint32_t i = 0; i <= n && !c->bad; i++)
            appendf(l, " %" PRIu32, rd_u32(c));
        break;
    case VM_IMM_MEMARG:
        append_memarg(l, c, info->text);
        break;
    case VM_IMM_MEMIDX:
        rd_byte(c);
        break;
    case VM_IMM_I32:
        appendf(l, " %" PRId32, (int32_t)rd_sleb(c));
        break;
    case VM_IMM_I64:
        appendf(l, " %" PRId64, rd_sleb(c));
        break;
    case VM_IMM_F32:
        p = rd_bytes(c, 4);
        if (p) {
            uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                            (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;

            append_str(l, " ");
            append_float32(l, bits);
        }
        break;
    case VM_IMM_F64:
        p = rd_bytes(c, 8);
        if (p) {
            uint64_t bits = 0;

            for (int i = 7; i >= 0; i--)
                bits = bits << 8 | p[i];
            append_str(l, " ");
            append_float64(l, bits);
        }
        break;
    case VM_IMM_SELECT_T:
        n = rd_u32(c);
        append_str(l, " (result");
        for (uint32_t i = 0; i < n && !c->bad; i++)
            appendf(l, " %s", valtype_text(rd_byte(c)));
        append_str(l, ")");
        break;
    case VM_IMM_REFTYPE:
        a = rd_byte(c);
        append_str(l, a == VM_FUNCREF ? " func" : " extern");
        break;
    case VM_IMM_MEMORY_INIT:
        appendf(l, " %" PRIu32, rd_u32(c));
        rd_byte(c);
        break;
    case VM_IMM_MEMORY_COPY:
        rd_byte(c);
        rd_byte(c);
        break;
    case VM_IMM_V128:
        p = rd_bytes(c, 16);
        if (p) {
            append_str(l, " i32x4");
            for (int i = 0; i < 16; i += 4)
                appendf(l, " 0x%08" PRIx32,
                        (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 |
                            (uint32_t)p[i + 2] << 16 |
                            (uint32_t)p[i + 3] << 24);
        }
        break;
    case VM_IMM_SHUFFLE:
        p = rd_bytes(c, 16);
        for (int i = 0; p && i < 16; i++)
            appendf(l, " %u", p[i]);
        break;
    case VM_IMM_LANE:
        appendf(l, " %u", rd_byte(c));
        break;
    case VM_IMM_MEMARG_LANE:
        append_memarg(l, c, info->text);
        appendf(l, " %u", rd_byte(c));
        break;
    }
}

/* ---- Functions ------------------------------------------------------------ */

static char *display_name(const vm_module *m, uint32_t funcidx)
{
    const char *name = vm_module_func_name(m, funcidx);
    char buf[64];

    if (name && *name)
        return vm__strndup(name, strlen(name));
    if (funcidx < m->nfuncs_imported) {
        /* The funcidx-th function import. */
        uint32_t k = 0;

        for (uint32_t i = 0; i < m->nimports; i++) {
            const vm__import *im = &m->imports[i];
            char *s;
            size_t ml, nl;

            if (im->kind != VM_EXTERN_FUNC)
                continue;
            if (k++ != funcidx)
                continue;
            ml = strlen(im->module);
            nl = strlen(im->name);
            s = vm__malloc(ml + nl + 2);
            if (!s)
                return NULL;
            memcpy(s, im->module, ml);
            s[ml] = '.';
            memcpy(s + ml + 1, im->name, nl + 1);
            return s;
        }
    }
    snprintf(buf, sizeof buf, "func[%" PRIu32 "]", funcidx);
    return vm__strndup(buf, strlen(buf));
}

static const vm__import *func_import(const vm_module *m, uint32_t funcidx)
{
    uint32_t k = 0;

    for (uint32_t i = 0; i < m->nimports; i++) {
        if (m->imports[i].kind != VM_EXTERN_FUNC)
            continue;
        if (k++ == funcidx)
            return &m->imports[i];
    }
    return NULL;
}

/* Append text with '\n' and other control bytes shown as '?', so that a
 * name from the binary cannot break the one-line-per-item layout. */
static void append_clean(vm_listing *l, const char *s)
{
    for (; *s; s++) {
        char ch = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;

        append(l, &ch, 1);
    }
}

static void append_header(vm_listing *l, const vm_module *m, uint32_t f)
{
    const vm__import *im = NULL;

    l->func_line[f] = current_line(l);
    appendf(l, "func[%" PRIu32 "]", f);
    if (strncmp(l->func_names[f], "func[", 5) != 0) {
        append_str(l, " <");
        append_clean(l, l->func_names[f]);
        append_str(l, ">");
    }
    if (f < m->nfuncs_imported) {
        im = func_import(m, f);
        append_str(l, " (import \"");
        append_clean(l, im ? im->module : "?");
        append_str(l, "\" \"");
        append_clean(l, im ? im->name : "?");
        append_str(l, "\")");
    }
    for (uint32_t i = 0; i < m->nexports; i++) {
        if (m->exports[i].kind != VM_EXTERN_FUNC || m->exports[i].index != f)
            continue;
        append_str(l, " (export \"");
        append_clean(l, m->exports[i].name);
        append_str(l, "\")");
    }
    append_functype(l, m, m->func_type_idx[f]);
    append_str(l, "\n");
}

static int list_body(vm_listing *l, const vm_module *m, uint32_t f,
                     char *err, size_t errlen)
{
    const vm__func *fn = &m->funcs[f - m->nfuncs_imported];
    cursor c = {fn->body, fn->body + fn->body_len, false};
    uint32_t depth = 1;

    if (fn->nlocals) {
        append_str(l, "  (local");
        for (uint32_t i = 0; i < fn->nlocals; i++)
            appendf(l, " %s", valtype_text(fn->local_types[i]));
        append_str(l, ")\n");
    }
    while (depth > 0 && c.p < c.end && !c.bad && !l->status) {
        uint32_t offset = (uint32_t)(c.p - m->bytes);
        uint8_t b = rd_byte(&c);
        uint32_t sub = 0;
        vm__opcode op;
        uint32_t indent;

        if (b == 0xfc || b == 0xfd) {
            sub = rd_u32(&c);
            op = vm__opcode_lookup(b, sub);
        } else {
            op = vm__opcode_lookup(0, b);
        }
        if (op == VM_OP_COUNT)
            break;
        switch (op) {
        case VM_OP_END:
        case VM_OP_DELEGATE:
            depth--;
            indent = depth;
            break;
        case VM_OP_ELSE:
        case VM_OP_CATCH:
        case VM_OP_CATCH_ALL:
            indent = depth - 1;
            break;
        default:
            indent = depth;
            break;
        }
        add_insn(l, offset, b == 0xfc || b == 0xfd ? VM_TRACE_OPCODE(b, sub)
                                                   : b);
        appendf(l, "  %06" PRIx32 ":%*s%s", offset, (int)(indent * 2), "",
                vm__opinfo_table[op].text);
        append_immediates(l, m, f, &c, op);
        append_str(l, "\n");
        if (op == VM_OP_BLOCK || op == VM_OP_LOOP || op == VM_OP_IF ||
            op == VM_OP_TRY)
            depth++;
    }
    if (l->status)
        return vm__error(err, errlen, l->status, "listing: out of memory");
    if (depth != 0 || c.bad)
        return vm__error(err, errlen, VM_ERR_MALFORMED,
                         "listing: cannot walk the body of function %" PRIu32
                         " (offset 0x%zx)",
                         f, (size_t)(c.p - m->bytes));
    return 0;
}

int vm_listing_new(const vm_module *m, vm_listing **out, char *err,
                   size_t errlen)
{
    vm_listing *l;
    const char *mname;
    int rc;

    *out = NULL;
    if (!m)
        return vm__error(err, errlen, VM_ERR_ARG, "listing: no module");
    l = vm__calloc(1, sizeof *l);
    if (!l)
        return vm__error(err, errlen, VM_ERR_NOMEM, "out of memory");
    l->nfuncs = m->nfuncs_total;
    l->func_line = vm__calloc(l->nfuncs + 1, sizeof *l->func_line);
    l->func_names = vm__calloc(l->nfuncs + 1, sizeof *l->func_names);
    l->func_first = vm__calloc(l->nfuncs + 1, sizeof *l->func_first);
    if (!l->func_line || !l->func_names || !l->func_first)
        goto nomem;
    for (uint32_t f = 0; f < l->nfuncs; f++) {
        l->func_names[f] = display_name(m, f);
        if (!l->func_names[f])
            goto nomem;
    }

    mname = vm_module_name(m);
    append_str(l, ";; module");
    if (mname) {
        append_str(l, " <");
        append_clean(l, mname);
        append_str(l, ">");
    }
    appendf(l, ": %" PRIu32 " functions (%" PRIu32 " imported)\n",
            m->nfuncs_total, m->nfuncs_imported);
    append_str(l, ";; generated by traced: one instruction per line, "
                  "prefixed by its byte offset in the module\n");
    for (uint32_t f = 0; f < l->nfuncs; f++) {
        append_str(l, "\n");
        l->func_first[f] = l->ninsns;
        append_header(l, m, f);
        if (f >= m->nfuncs_imported) {
            rc = list_body(l, m, f, err, errlen);
            if (rc) {
                vm_listing_free(l);
                return rc;
            }
        }
    }
    l->func_first[l->nfuncs] = l->ninsns;
    if (l->status)
        goto nomem;
    *out = l;
    return 0;

nomem:
    vm_listing_free(l);
    return vm__error(err, errlen, VM_ERR_NOMEM, "listing: out of memory");
}

void vm_listing_free(vm_listing *l)
{
    if (!l)
        return;
    if (l->func_names)
        for (uint32_t f = 0; f < l->nfuncs; f++)
            vm__free(l->func_names[f]);
    vm__free(l->func_names);
    vm__free(l->func_line);
    vm__free(l->func_first);
    vm__free(l->insn_off);
    vm__free(l->insn_line);
    vm__free(l->insn_op);
    vm__free(l->text);
    vm__free(l);
}

const char *vm_listing_text(const vm_listing *l, size_t *len)
{
    if (len)
        *len = l->len;
    return l->text ? l->text : "";
}

uint32_t vm_listing_line_count(const vm_listing *l)
{
    return l->nlines;
}

uint32_t vm_listing_func_count(const vm_listing *l)
{
    return l->nfuncs;
}

uint32_t vm_listing_func_line(const vm_listing *l, uint32_t funcidx)
{
    return funcidx < l->nfuncs ? l->func_line[funcidx] : 0;
}

const char *vm_listing_func_name(const vm_listing *l, uint32_t funcidx)
{
    return funcidx < l->nfuncs ? l->func_names[funcidx] : "";
}

/* Index of the instruction at offset, or UINT32_MAX. */
static uint32_t find_insn(const vm_listing *l, uint32_t offset)
{
    uint32_t lo = 0, hi = l->ninsns;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (l->insn_off[mid] < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->ninsns && l->insn_off[lo] == offset ? lo : UINT32_MAX;
}

uint32_t vm_listing_offset_line(const vm_listing *l, uint32_t offset)
{
    uint32_t i = find_insn(l, offset);

    return i == UINT32_MAX ? 0 : l->insn_line[i];
}

uint32_t vm_listing_insn_count(const vm_listing *l)
{
    return l->ninsns;
}

uint32_t vm_listing_insn_at(const vm_listing *l, uint32_t offset)
{
    return find_insn(l, offset);
}

int vm_listing_insn(const vm_listing *l, uint32_t i, uint32_t *offset,
                    uint32_t *opcode)
{
    if (i >= l->ninsns)
        return VM_ERR_ARG;
    if (offset)
        *offset = l->insn_off[i];
    if (opcode)
        *opcode = l->insn_op[i];
    return 0;
}

uint32_t vm_listing_insn_func(const vm_listing *l, uint32_t i)
{
    uint32_t lo = 0, hi = l->nfuncs;

    if (i >= l->ninsns)
        return UINT32_MAX;
    /* func_first is non-decreasing: the last function starting at or
     * before i whose range holds it. */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (l->func_first[mid] <= i)
            lo = mid + 1;
        else
            hi = mid;
    }
    while (lo > 0) {
        lo--;
        if (i >= l->func_first[lo] && i < l->func_first[lo + 1])
            return lo;
    }
    return UINT32_MAX;
}

uint32_t vm_listing_op_line(const vm_listing *l, uint32_t funcidx,
                            uint32_t offset)
{
    uint32_t i = find_insn(l, offset);

    if (i == UINT32_MAX || funcidx >= l->nfuncs ||
        i < l->func_first[funcidx] || i >= l->func_first[funcidx + 1])
        return 0;
    return l->insn_line[i];
}

uint32_t vm_listing_line_func(const vm_listing *l, uint32_t line)
{
    uint32_t lo = 0, hi = l->nfuncs;

    /* Header lines increase with the index: the last header <= line. */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (l->func_line[mid] <= line)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || line > l->nlines)
        return UINT32_MAX;
    return lo - 1;
}
