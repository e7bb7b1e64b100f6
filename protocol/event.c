/*
 * The event model: names of types, levels and statuses, event storage,
 * equality and deep copies.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"

const char *proto_event_type_name(proto_event_type t)
{
    switch (t) {
#define PROTO_X_NAME(name, value, str)                                      \
    case PROTO_##name:                                                      \
        return str;
        PROTO_EVENT_TYPES(PROTO_X_NAME)
#undef PROTO_X_NAME
    }
    return NULL;
}

proto_event_type proto_event_type_from_name(const char *s)
{
#define PROTO_X_CMP(name, value, str)                                       \
    if (strcmp(s, str) == 0)                                                \
        return PROTO_##name;
    PROTO_EVENT_TYPES(PROTO_X_CMP)
#undef PROTO_X_CMP
    return (proto_event_type)0;
}

const char *proto_level_name(proto_level l)
{
    switch (l) {
    case PROTO_LEVEL_CALLS: return "calls";
    case PROTO_LEVEL_OPS: return "ops";
    case PROTO_LEVEL_LINES: return "lines";
    }
    return NULL;
}

int proto_level_from_name(const char *s)
{
    if (strcmp(s, "calls") == 0)
        return PROTO_LEVEL_CALLS;
    if (strcmp(s, "ops") == 0)
        return PROTO_LEVEL_OPS;
    if (strcmp(s, "lines") == 0)
        return PROTO_LEVEL_LINES;
    return PROTO_ERR_ARG;
}

bool proto_level_includes(proto_level l, proto_event_type t)
{
    switch (t) {
    case PROTO_OP:
    case PROTO_OPS:
        return l == PROTO_LEVEL_OPS;
    case PROTO_STEP:
    case PROTO_STEPS:
        return l == PROTO_LEVEL_LINES;
    default:
        return proto_event_type_name(t) != NULL;
    }
}

const char *proto_status_name(proto_status s)
{
    switch (s) {
#define PROTO_X_NAME(name, value, str)                                      \
    case PROTO_STATUS_##name:                                               \
        return str;
        PROTO_STATUSES(PROTO_X_NAME)
#undef PROTO_X_NAME
    }
    return NULL;
}

int proto_status_from_name(const char *s)
{
#define PROTO_X_CMP(name, value, str)                                       \
    if (strcmp(s, str) == 0)                                                \
        return PROTO_STATUS_##name;
    PROTO_STATUSES(PROTO_X_CMP)
#undef PROTO_X_CMP
    return PROTO_ERR_ARG;
}

/* ---- Storage ---------------------------------------------------------- */

void proto_event_init(proto_event *ev)
{
    memset(ev, 0, sizeof *ev);
}

static void drop_json(proto_event *ev)
{
    if (ev->mem.json) {
        json_decref(ev->mem.json);
        ev->mem.json = NULL;
    }
}

void proto_event_close(proto_event *ev)
{
    drop_json(ev);
    proto__free(ev->mem.buf);
    memset(ev, 0, sizeof *ev);
}

int proto__event_reserve(proto_event *ev, size_t n)
{
    void *p;
    size_t cap;

    drop_json(ev);
    if (n <= ev->mem.cap)
        return 0;
    cap = ev->mem.cap ? ev->mem.cap : 256;
    while (cap < n)
        cap *= 2;
    /* The old content is dead: free first rather than realloc (no copy). */
    proto__free(ev->mem.buf);
    ev->mem.buf = NULL;
    ev->mem.cap = 0;
    p = proto__malloc(cap);
    if (!p)
        return PROTO_ERR_NOMEM;
    ev->mem.buf = p;
    ev->mem.cap = cap;
    return 0;
}

uint64_t proto_event_next_seq(const proto_event *ev)
{
    return proto__next_seq(ev);
}

/* ---- Equality ------------------------------------------------------------ */

bool proto_val_equal(const proto_val *a, const proto_val *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case VM_I32: return a->of.i32 == b->of.i32;
    case VM_I64: return a->of.i64 == b->of.i64;
    case VM_F32: return a->of.f32_bits == b->of.f32_bits;
    case VM_F64: return a->of.f64_bits == b->of.f64_bits;
    case VM_V128: return memcmp(a->of.v128, b->of.v128, 16) == 0;
    default: return a->of.ref == b->of.ref;
    }
}

static bool vals_equal(proto_vals a, proto_vals b)
{
    if (a.count != b.count)
        return false;
    for (uint32_t i = 0; i < a.count; i++)
        if (!proto_val_equal(&a.items[i], &b.items[i]))
            return false;
    return true;
}

static bool str_equal(proto_str a, proto_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* The file table counts at level lines only (proto_run_start). */
static uint32_t run_start_nfiles(const proto_run_start *x)
{
    return x->level == PROTO_LEVEL_LINES ? x->nfiles : 0;
}

bool proto_event_equal(const proto_event *a, const proto_event *b)
{
    if (a->type != b->type || a->seq != b->seq || a->t_ns != b->t_ns)
        return false;
    switch (a->type) {
    case PROTO_RUN_START: {
        const proto_run_start *x = &a->as.run_start, *y = &b->as.run_start;

        if (x->run_id != y->run_id || x->wall_ns != y->wall_ns ||
            x->level != y->level || !str_equal(x->module, y->module) ||
            memcmp(x->hash, y->hash, 32) != 0 || x->argc != y->argc ||
            x->nimports != y->nimports || run_start_nfiles(x) !=
                                              run_start_nfiles(y))
            return false;
        for (uint32_t i = 0; i < run_start_nfiles(x); i++)
            if (!str_equal(x->files[i], y->files[i]))
                return false;
        for (uint32_t i = 0; i < x->argc; i++)
            if (!str_equal(x->argv[i], y->argv[i]))
                return false;
        for (uint32_t i = 0; i < x->nimports; i++)
            if (!str_equal(x->imports[i].module, y->imports[i].module) ||
                !str_equal(x->imports[i].name, y->imports[i].name))
                return false;
        return true;
    }
    case PROTO_CALL:
        return a->as.call.func == b->as.call.func &&
               a->as.call.depth == b->as.call.depth &&
               vals_equal(a->as.call.args, b->as.call.args);
    case PROTO_RETURN:
        return a->as.ret.func == b->as.ret.func &&
               a->as.ret.depth == b->as.ret.depth &&
               vals_equal(a->as.ret.results, b->as.ret.results);
    case PROTO_HOST_CALL:
    case PROTO_HOST_RETURN:
        return a->as.host.func == b->as.host.func &&
               a->as.host.import == b->as.host.import &&
               vals_equal(a->as.host.vals, b->as.host.vals);
    case PROTO_OP:
        return a->as.op.opcode == b->as.op.opcode &&
               a->as.op.offset == b->as.op.offset;
    case PROTO_THROW:
        return a->as.throw_.tag == b->as.throw_.tag &&
               vals_equal(a->as.throw_.payload, b->as.throw_.payload);
    case PROTO_TRAP:
        return a->as.trap.code == b->as.trap.code &&
               str_equal(a->as.trap.message, b->as.trap.message);
    case PROTO_OUTPUT:
        return a->as.output.fd == b->as.output.fd &&
               str_equal(a->as.output.data, b->as.output.data);
    case PROTO_STEP:
        return a->as.step.file == b->as.step.file &&
               a->as.step.line == b->as.step.line &&
               a->as.step.column == b->as.step.column;
    case PROTO_LOSS:
        return a->as.loss.count == b->as.loss.count;
    case PROTO_OPS:
        return a->as.ops.offset == b->as.ops.offset &&
               a->as.ops.count == b->as.ops.count;
    case PROTO_STEPS:
        return a->as.steps.point == b->as.steps.point &&
               a->as.steps.count == b->as.steps.count;
    case PROTO_RUN_END: {
        const proto_run_end *x = &a->as.run_end, *y = &b->as.run_end;

        return x->status == y->status && x->exit_code == y->exit_code &&
               vals_equal(x->results, y->results) &&
               memcmp(&x->counters, &y->counters, sizeof x->counters) == 0;
    }
    }
    return false;
}

/* ---- Deep copy -------------------------------------------------------------- */

/* A bump allocator over a reserved ev->mem. */
typedef struct bump {
    uint8_t *p;
    size_t used;
} bump;

static void *bump_take(bump *b, size_t n)
{
    void *r = b->p + b->used;

    b->used += (n + 7) & ~(size_t)7;
    return r;
}

static proto_str copy_str(bump *b, proto_str s)
{
    char *d = bump_take(b, (size_t)s.len + 1);

    if (s.len)
        memcpy(d, s.ptr, s.len);
    d[s.len] = '\0';
    return (proto_str){d, s.len};
}

static proto_vals copy_vals(bump *b, proto_vals v)
{
    proto_val *d = bump_take(b, (size_t)v.count * sizeof *d);

    if (v.count)
        memcpy(d, v.items, (size_t)v.count * sizeof *d);
    return (proto_vals){d, v.count};
}

static size_t str_need(proto_str s)
{
    return ((size_t)s.len + 1 + 7) & ~(size_t)7;
}

static size_t vals_need(proto_vals v)
{
    return (size_t)v.count * sizeof(proto_val);
}

int proto_event_copy(proto_event *dst, const proto_event *src)
{
    proto_event out = *src;
    size_t need = 0;
    bump b;
    int rc;

    if (dst == src)
        return PROTO_ERR_ARG;
    switch (src->type) {
    case PROTO_RUN_START: {
        const proto_run_start *x = &src->as.run_start;

        need = str_need(x->module) + x->argc * sizeof(proto_str) +
               x->nimports * sizeof(proto_import) +
               run_start_nfiles(x) * sizeof(proto_str);
        for (uint32_t i = 0; i < x->argc; i++)
            need += str_need(x->argv[i]);
        for (uint32_t i = 0; i < run_start_nfiles(x); i++)
            need += str_need(x->files[i]);
        for (uint32_t i = 0; i < x->nimports; i++)
            need += str_need(x->imports[i].module) +
                    str_need(x->imports[i].name);
        break;
    }
    case PROTO_CALL: need = vals_need(src->as.call.args); break;
    case PROTO_RETURN: need = vals_need(src->as.ret.results); break;
    case PROTO_HOST_CALL:
    case PROTO_HOST_RETURN: need = vals_need(src->as.host.vals); break;
    case PROTO_THROW: need = vals_need(src->as.throw_.payload); break;
    case PROTO_TRAP: need = str_need(src->as.trap.message); break;
    case PROTO_OUTPUT: need = str_need(src->as.output.data); break;
    case PROTO_RUN_END: need = vals_need(src->as.run_end.results); break;
    default: break;
    }
    out.mem = dst->mem;
    dst->mem = (proto_event_mem){0};
    {
        /* Reserve on a temporary so that dst's old storage is reused. */
        proto_event tmp = {.mem = out.mem};

        rc = proto__event_reserve(&tmp, need);
        out.mem = tmp.mem;
    }
    if (rc < 0) {
        dst->mem = out.mem;
        return rc;
    }
    b.p = out.mem.buf;
    b.used = 0;
    switch (src->type) {
    case PROTO_RUN_START: {
        const proto_run_start *x = &src->as.run_start;
        proto_str *argv = bump_take(&b, x->argc * sizeof *argv);
        proto_import *imports = bump_take(&b, x->nimports * sizeof *imports);
        uint32_t nfiles = run_start_nfiles(x);
        proto_str *files = bump_take(&b, nfiles * sizeof *files);

        out.as.run_start.module = copy_str(&b, x->module);
        for (uint32_t i = 0; i < nfiles; i++)
            files[i] = copy_str(&b, x->files[i]);
        out.as.run_start.files = nfiles ? files : NULL;
        out.as.run_start.nfiles = nfiles;
        for (uint32_t i = 0; i < x->argc; i++)
            argv[i] = copy_str(&b, x->argv[i]);
        for (uint32_t i = 0; i < x->nimports; i++) {
            imports[i].module = copy_str(&b, x->imports[i].module);
            imports[i].name = copy_str(&b, x->imports[i].name);
        }
        out.as.run_start.argv = argv;
        out.as.run_start.imports = imports;
        break;
    }
    case PROTO_CALL: out.as.call.args = copy_vals(&b, src->as.call.args); break;
    case PROTO_RETURN:
        out.as.ret.results = copy_vals(&b, src->as.ret.results);
        break;
    case PROTO_HOST_CALL:
    case PROTO_HOST_RETURN:
        out.as.host.vals = copy_vals(&b, src->as.host.vals);
        break;
    case PROTO_THROW:
        out.as.throw_.payload = copy_vals(&b, src->as.throw_.payload);
        break;
    case PROTO_TRAP:
        out.as.trap.message = copy_str(&b, src->as.trap.message);
        break;
    case PROTO_OUTPUT:
        out.as.output.data = copy_str(&b, src->as.output.data);
        break;
    case PROTO_RUN_END:
        out.as.run_end.results = copy_vals(&b, src->as.run_end.results);
        break;
    default:
        break;
    }
    *dst = out;
    return 0;
}
