/*
 * The source view of a run's events (proto_source.h): names from the
 * name section and values typed from DWARF, for consumers that have the
 * module. Nothing here is on the recording path.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "traced/proto_source.h"
#include "traced/vm_debug.h"

#include "proto_int.h"

/* Type names are built once per function and kept: one slot per
 * parameter and one for the result. */
typedef struct src_func {
    bool done;
    char **types; /* nparams + 1 names (NULL = untyped) */
    uint32_t n;
} src_func;

struct proto_source {
    const vm_module *m;
    vm_debug *dbg; /* NULL without (usable) DWARF */
    uint32_t nfuncs;
    src_func *funcs;
};

int proto_source_new(const vm_module *m, proto_source **out, char *err,
                     size_t errlen)
{
    proto_source *s = proto__calloc(1, sizeof *s);

    *out = NULL;
    if (!s)
        return proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
    s->m = m;
    s->nfuncs = vm_module_func_count(m);
    s->funcs = proto__calloc(s->nfuncs + 1u, sizeof *s->funcs);
    if (!s->funcs) {
        proto__free(s);
        return proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
    }
    /* Debug info is optional: without it the view still names things. */
    if (vm_debug_new(m, &s->dbg, NULL, 0) != 0)
        s->dbg = NULL;
    *out = s;
    return 0;
}

void proto_source_free(proto_source *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->nfuncs; i++) {
        for (uint32_t k = 0; s->funcs[i].types && k < s->funcs[i].n; k++)
            proto__free(s->funcs[i].types[k]);
        proto__free(s->funcs[i].types);
    }
    proto__free(s->funcs);
    vm_debug_free(s->dbg);
    proto__free(s);
}

bool proto_source_has_debug(const proto_source *s)
{
    return s && s->dbg;
}

const char *proto_source_func_name(const proto_source *s, uint32_t func)
{
    const char *name = vm_module_func_name(s->m, func);
    const vm_debug_subprogram *sp;

    if (name || !s->dbg)
        return name;
    sp = vm_debug_func(s->dbg, func);
    return sp ? sp->name : NULL;
}

/* ---- Types -------------------------------------------------------------- */

/* Append the C spelling of type t to buf[*pos..len). */
static void type_spell(const vm_debug *d, uint32_t t, char *buf, size_t len,
                       size_t *pos, int depth)
{
    const vm_debug_type *ty = vm_debug_type_get(d, t);
    const char *prefix = "";
    int n = 0;

    if (*pos >= len)
        return;
    if (!ty || depth > 16) {
        n = snprintf(buf + *pos, len - *pos, "%s", ty ? "..." : "void");
        *pos += n > 0 ? (size_t)n : 0;
        return;
    }
    switch (ty->kind) {
    case VM_DEBUG_TYPE_POINTER:
        type_spell(d, ty->target, buf, len, pos, depth + 1);
        n = snprintf(buf + *pos, *pos < len ? len - *pos : 0, " *");
        break;
    case VM_DEBUG_TYPE_CONST:
    case VM_DEBUG_TYPE_VOLATILE:
        n = snprintf(buf + *pos, len - *pos, "%s ",
                     ty->kind == VM_DEBUG_TYPE_CONST ? "const" : "volatile");
        *pos += n > 0 ? (size_t)n : 0;
        type_spell(d, ty->target, buf, len, pos, depth + 1);
        return;
    case VM_DEBUG_TYPE_ARRAY:
        type_spell(d, ty->target, buf, len, pos, depth + 1);
        n = snprintf(buf + *pos, *pos < len ? len - *pos : 0, "[]");
        break;
    case VM_DEBUG_TYPE_FUNCTION:
        n = snprintf(buf + *pos, len - *pos, "function");
        break;
    case VM_DEBUG_TYPE_OTHER:
        if (!ty->name) {
            type_spell(d, ty->target, buf, len, pos, depth + 1);
            return;
        }
        n = snprintf(buf + *pos, len - *pos, "%s", ty->name);
        break;
    default:
        if (ty->kind == VM_DEBUG_TYPE_STRUCT)
            prefix = "struct ";
        else if (ty->kind == VM_DEBUG_TYPE_UNION)
            prefix = "union ";
        else if (ty->kind == VM_DEBUG_TYPE_ENUM)
            prefix = "enum ";
        n = snprintf(buf + *pos, len - *pos, "%s%s", prefix,
                     ty->name ? ty->name : "<anonymous>");
        break;
    }
    *pos += n > 0 ? (size_t)n : 0;
}

/* Can read_as render a value of (resolved) type r? */
static bool renderable(const vm_debug *d, uint32_t r)
{
    const vm_debug_type *ty = vm_debug_type_get(d, r);

    if (!ty)
        return false;
    if (ty->kind == VM_DEBUG_TYPE_POINTER)
        return true;
    return ty->kind == VM_DEBUG_TYPE_BASE &&
           ty->encoding != VM_DEBUG_ATE_COMPLEX_FLOAT;
}

/* A char as a C literal: 'a', '\n', '\x01'. */
static void char_text(char *buf, size_t len, uint8_t c, int64_t n)
{
    static const char esc[] = "\a\b\f\n\r\t\v\\'";
    static const char let[] = "abfnrtv\\'";
    const char *e = c ? strchr(esc, c) : NULL;

    if (e)
        snprintf(buf, len, "'\\%c' (%" PRId64 ")", let[e - esc], n);
    else if (c >= 0x20 && c < 0x7f)
        snprintf(buf, len, "'%c' (%" PRId64 ")", c, n);
    else
        snprintf(buf, len, "'\\x%02x' (%" PRId64 ")", c, n);
}

/* Render wasm value v as resolved type r into buf. */
static void read_as(const vm_debug *d, uint32_t r, const proto_val *v,
                    char *buf, size_t len)
{
    const vm_debug_type *ty = vm_debug_type_get(d, r);
    uint64_t raw = v->type == VM_I64 || v->type == VM_F64
                       ? (uint64_t)v->of.i64
                       : (uint64_t)(uint32_t)v->of.i32;
    uint32_t size = ty->byte_size ? ty->byte_size : 4;
    uint64_t mask = size >= 8 ? UINT64_MAX : ((uint64_t)1 << (8 * size)) - 1;
    int64_t sval;

    if (v->type == VM_F32 || v->type == VM_F64) {
        float f;
        double x;

        if (v->type == VM_F32) {
            memcpy(&f, &v->of.f32_bits, 4);
            snprintf(buf, len, "%.9g", (double)f);
        } else {
            memcpy(&x, &v->of.f64_bits, 8);
            snprintf(buf, len, "%.17g", x);
        }
        return;
    }
    if (ty->kind == VM_DEBUG_TYPE_POINTER) {
        snprintf(buf, len, "0x%" PRIx64, raw);
        return;
    }
    /* Sign-extend from the type's size. */
    sval = (int64_t)(raw & mask);
    if (size < 8 && (raw & ((uint64_t)1 << (8 * size - 1))))
        sval = (int64_t)((raw & mask) | ~mask);
    switch (ty->encoding) {
    case VM_DEBUG_ATE_BOOLEAN:
        snprintf(buf, len, "%s", raw & mask ? "true" : "false");
        break;
    case VM_DEBUG_ATE_SIGNED:
        snprintf(buf, len, "%" PRId64, sval);
        break;
    case VM_DEBUG_ATE_SIGNED_CHAR:
        char_text(buf, len, (uint8_t)raw, sval);
        break;
    case VM_DEBUG_ATE_UNSIGNED_CHAR:
        char_text(buf, len, (uint8_t)raw, (int64_t)(raw & mask));
        break;
    case VM_DEBUG_ATE_ADDRESS:
        snprintf(buf, len, "0x%" PRIx64, raw & mask);
        break;
    case VM_DEBUG_ATE_FLOAT: /* a float carried in an integer: bits */
    default:
        snprintf(buf, len, "%" PRIu64, raw & mask);
        break;
    }
}

/* The DWARF parameter that wasm parameter i of func is, or NONE. A
 * function returning a struct takes a hidden result pointer first. */
static uint32_t dwarf_param(const proto_source *s,
                            const vm_debug_subprogram *sp, uint32_t func,
                            uint32_t i)
{
    vm_functype_view ft;
    const vm_debug_type *rt;

    if (vm_module_func_type(s->m, func, &ft) != 0)
        return VM_DEBUG_NONE;
    if (ft.nparams == sp->nparams)
        return i < sp->nparams ? i : VM_DEBUG_NONE;
    rt = vm_debug_type_get(s->dbg,
                           vm_debug_type_resolve(s->dbg, sp->return_type));
    if (ft.nparams == sp->nparams + 1 && rt &&
        (rt->kind == VM_DEBUG_TYPE_STRUCT || rt->kind == VM_DEBUG_TYPE_UNION))
        return i >= 1 ? i - 1 : VM_DEBUG_NONE;
    return VM_DEBUG_NONE;
}

bool proto_source_value(const proto_source *s, uint32_t func, bool result,
                        uint32_t i, const proto_val *v,
                        proto_source_val *out)
{
    const vm_debug_subprogram *sp;
    uint32_t t = VM_DEBUG_NONE, r, k;
    src_func *sf;

    memset(out, 0, sizeof *out);
    if (!s || func >= s->nfuncs)
        return false;
    if (!result)
        out->name = vm_module_local_name(s->m, func, i);
    sp = s->dbg ? vm_debug_func(s->dbg, func) : NULL;
    if (!sp)
        return out->name != NULL;
    if (result) {
        t = i == 0 ? sp->return_type : VM_DEBUG_NONE;
        k = sp->nparams; /* the result's slot */
    } else {
        k = dwarf_param(s, sp, func, i);
        if (k != VM_DEBUG_NONE) {
            t = sp->params[k].type;
            if (sp->params[k].name)
                out->name = sp->params[k].name;
        }
    }
    r = vm_debug_type_resolve(s->dbg, t);
    if (t == VM_DEBUG_NONE || !renderable(s->dbg, r))
        return out->name != NULL;
    /* The type's spelling, cached per function. */
    sf = &s->funcs[func];
    if (!sf->done) {
        sf->done = true;
        sf->n = sp->nparams + 1;
        sf->types = proto__calloc(sf->n, sizeof *sf->types);
        if (!sf->types)
            sf->n = 0;
    }
    if (k < sf->n && !sf->types[k]) {
        char buf[160];
        size_t pos = 0;

        buf[0] = '\0';
        type_spell(s->dbg, t, buf, sizeof buf, &pos, 0);
        sf->types[k] = proto__malloc(strlen(buf) + 1);
        if (sf->types[k])
            memcpy(sf->types[k], buf, strlen(buf) + 1);
    }
    if (k >= sf->n || !sf->types[k])
        return out->name != NULL;
    out->type = sf->types[k];
    read_as(s->dbg, r, v, out->text, sizeof out->text);
    return true;
}

const vm_debug *proto_source_debug(const proto_source *s)
{
    return s ? s->dbg : NULL;
}

uint32_t proto_source_value_type(const proto_source *s, uint32_t func,
                                 bool result, uint32_t i)
{
    const vm_debug_subprogram *sp;
    uint32_t k;

    if (!s || !s->dbg || func >= s->nfuncs)
        return VM_DEBUG_NONE;
    sp = vm_debug_func(s->dbg, func);
    if (!sp)
        return VM_DEBUG_NONE;
    if (result)
        return i == 0 ? sp->return_type : VM_DEBUG_NONE;
    k = dwarf_param(s, sp, func, i);
    return k != VM_DEBUG_NONE ? sp->params[k].type : VM_DEBUG_NONE;
}

static const char *json_func_name(void *user, uint32_t func)
{
    return proto_source_func_name(user, func);
}

static bool json_source_val(void *user, uint32_t func, bool result,
                            uint32_t i, const proto_val *v,
                            proto_source_val *out)
{
    return proto_source_value(user, func, result, i, v, out);
}

void proto_source_json_opts(const proto_source *s, proto_json_opts *o)
{
    memset(o, 0, sizeof *o);
    o->user = (void *)s;
    o->func_name = json_func_name;
    o->source_val = json_source_val;
}
