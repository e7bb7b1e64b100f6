/*
 * CodeTracer writer: our event stream -> a runtime_tracing trace directory
 * (trace.json, trace_metadata.json, trace_paths.json, files/). The format
 * and the mapping are in docs/codetracer.md; the API in
 * traced/proto_codetracer.h.
 *
 * Records are formatted by hand into one buffer and written with write(2)
 * when it fills: a call-heavy run makes millions of records and a JSON
 * library's tree per record would cost more than the formatting. The
 * layout of trace.json is line-oriented on purpose:
 *
 *     [
 *     {"Path":"..."},
 *     {"Function":{...}},
 *     ...every record on its own line, followed by ","
 *
 * Strings are escaped, so a raw newline only ever ends a complete record.
 * That gives repair a simple rule (keep every line that ends in ","), and
 * closing means replacing the last ",\n" with "\n]\n".
 *
 * Ids are implicit: the nth Path, Function, Type or VariableName record
 * defines id n. The writer interns each on first use and emits its record
 * before the record that uses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto_int.h"
#include "traced/proto_codetracer.h"
#include "traced/vm_listing.h"

#define DEFAULT_BUFFER (64u << 10)
#define NO_ID UINT32_MAX
#define TOPLEVEL_FUNCTION 0u /* function id of <toplevel> */
#define NONE_TYPE 0u         /* type id of None */

/* ---- A growable byte buffer ------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed; /* an allocation failed; content is incomplete */
} sbuf;

static bool sb_reserve(sbuf *b, size_t more)
{
    size_t cap;
    char *p;

    if (b->failed)
        return false;
    if (b->len + more <= b->cap)
        return true;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    p = proto__realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (!sb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n >= 0)
        sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_free(sbuf *b)
{
    proto__free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Length of a valid UTF-8 sequence at s[0..n), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* A JSON string of n bytes of s. Bytes that are not UTF-8 become U+FFFD,
 * since program output and wasm names may be anything. */
static void sb_json_str(sbuf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;

    if (!sb_reserve(b, n + 2))
        return;
    sb_put(b, "\"", 1);
    while (i < n) {
        unsigned char c = u[i];
        size_t k;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            /* Copy runs of plain ASCII in one go. */
            run = i;
            while (i < n && u[i] >= 0x20 && u[i] != '"' && u[i] != '\\' &&
                   u[i] < 0x80)
                i++;
            sb_put(b, s + run, i - run);
            continue;
        }
        switch (c) {
        case '"': sb_put(b, "\\\"", 2); i++; continue;
        case '\\': sb_put(b, "\\\\", 2); i++; continue;
        case '\n': sb_put(b, "\\n", 2); i++; continue;
        case '\r': sb_put(b, "\\r", 2); i++; continue;
        case '\t': sb_put(b, "\\t", 2); i++; continue;
        default: break;
        }
        if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
            i++;
            continue;
        }
        k = utf8_seq(u + i, n - i);
        if (k == 0) {
            sb_put(b, "\\ufffd", 6);
            i++;
        } else {
            sb_put(b, s + i, k);
            i += k;
        }
    }
    sb_put(b, "\"", 1);
}

static void sb_json_cstr(sbuf *b, const char *s)
{
    sb_json_str(b, s, strlen(s));
}

/* ---- Float text ------------------------------------------------------------ */

/* Shortest decimal that reads back as the same value; NaN and the
 * infinities as Rust's f64 parser spells them. */
static void format_f64(char *buf, size_t n, double d)
{
    if (isnan(d)) {
        snprintf(buf, n, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(buf, n, d < 0 ? "-inf" : "inf");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

static void format_f32(char *buf, size_t n, float f)
{
    if (isnan(f) || isinf(f)) {
        format_f64(buf, n, (double)f);
        return;
    }
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f)
            return;
    }
}

/* ---- Interning ---------------------------------------------------------------- */

/* Variable names -> ids: open addressing over a power-of-two table. */
typedef struct name_slot {
    char *name; /* owned; NULL = empty */
    uint32_t id;
} name_slot;

typedef struct name_table {
    name_slot *slots;
    uint32_t cap, count;
} name_table;

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static name_slot *names_find(name_table *t, const char *s)
{
    uint32_t i;

    if (!t->cap)
        return NULL;
    i = hash_str(s) & (t->cap - 1);
    while (t->slots[i].name && strcmp(t->slots[i].name, s) != 0)
        i = (i + 1) & (t->cap - 1);
    return &t->slots[i];
}

static int names_grow(name_table *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : 64;
    name_slot *old = t->slots, *slots = proto__calloc(cap, sizeof *slots);
    uint32_t oldcap = t->cap;

    if (!slots)
        return PROTO_ERR_NOMEM;
    t->slots = slots;
    t->cap = cap;
    for (uint32_t i = 0; i < oldcap; i++)
        if (old[i].name)
            *names_find(t, old[i].name) = old[i];
    proto__free(old);
    return 0;
}

static void names_free(name_table *t)
{
    for (uint32_t i = 0; i < t->cap; i++)
        proto__free(t->slots[i].name);
    proto__free(t->slots);
    t->slots = NULL;
    t->cap = t->count = 0;
}

/* Value type slots of the Type table. */
enum {
    TS_I32,
    TS_I64,
    TS_F32,
    TS_F64,
    TS_V128,
    TS_FUNCREF,
    TS_EXTERNREF,
    TS_TUPLE,
    TS_COUNT
};

typedef struct frame {
    uint32_t func;
    uint32_t depth; /* wasm frames incl. this one; host: the caller's */
    bool host;
} frame;

struct proto_ct_writer {
    const vm_module *module;
    vm_listing *listing;
    char *dir;      /* as given */
    char *abs_dir;  /* realpath(dir) */
    char *program;  /* metadata program override, or NULL */
    char *workdir;
    int fd;         /* trace.json */
    uint64_t file_len;
    size_t buffer_bytes;
    sbuf out;       /* complete records not yet written */
    sbuf rec;       /* scratch */
    uint64_t records;

    bool started, ended, closed;
    char *listing_path; /* absolute path of files/NAME.wat: path id 0 */

    uint32_t nfuncs;
    uint32_t *func_ids; /* wasm function index -> Function id, NO_ID */
    uint32_t next_func_id;
    uint32_t type_ids[TS_COUNT];
    uint32_t next_type_id;
    name_table vars;
    uint32_t next_var_id;

    frame *frames;
    uint32_t nframes, frames_cap;
    bool toplevel_open;

    int status;
    char errmsg[256];
};

static int fail(proto_ct_writer *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the writer's first error and return it. */
static int fail(proto_ct_writer *w, int code, const char *fmt, ...)
{
    va_list ap;

    if (w->status)
        return w->status;
    va_start(ap, fmt);
    vsnprintf(w->errmsg, sizeof w->errmsg, fmt, ap);
    va_end(ap);
    w->status = code;
    return code;
}

static int report(const proto_ct_writer *w, char *err, size_t errlen)
{
    if (w->status)
        return proto__error(err, errlen, w->status, "codetracer: %s",
                            w->errmsg);
    return 0;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = proto__malloc(n);

    if (d)
        memcpy(d, s, n);
    return d;
}

static char *join_path(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = proto__malloc(na + nb + 2);

    if (!p)
        return NULL;
    memcpy(p, a, na);
    p[na] = '/';
    memcpy(p + na + 1, b, nb + 1);
    return p;
}

/* ---- Output --------------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = write(fd, p, n);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int flush_out(proto_ct_writer *w)
{
    if (w->status)
        return w->status;
    if (w->out.len == 0)
        return 0;
    if (write_all(w->fd, w->out.p, w->out.len) < 0)
        return fail(w, PROTO_ERR_IO, "writing trace.json: %s",
                    strerror(errno));
    w->file_len += w->out.len;
    w->out.len = 0;
    return 0;
}

/* Move the record built in w->rec to the output, as one line. */
static int end_record(proto_ct_writer *w)
{
    if (w->status)
        return w->status;
    if (w->rec.failed || w->out.failed)
        return fail(w, PROTO_ERR_NOMEM, "out of memory");
    sb_put(&w->out, w->rec.p, w->rec.len);
    sb_put(&w->out, ",\n", 2);
    w->rec.len = 0;
    if (w->out.failed)
        return fail(w, PROTO_ERR_NOMEM, "out of memory");
    w->records++;
    if (w->out.len >= w->buffer_bytes)
        return flush_out(w);
    return 0;
}

/* Write a whole small file through a temporary name, so readers never see
 * it half-written. */
static int write_file_atomic(proto_ct_writer *w, const char *name,
                             const char *data, size_t len)
{
    char *path = join_path(w->dir, name), *tmp;
    int fd, rc = 0;

    if (!path)
        return fail(w, PROTO_ERR_NOMEM, "out of memory");
    tmp = proto__malloc(strlen(path) + 5);
    if (!tmp) {
        proto__free(path);
        return fail(w, PROTO_ERR_NOMEM, "out of memory");
    }
    snprintf(tmp, strlen(path) + 5, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, data, len) < 0) {
        rc = fail(w, PROTO_ERR_IO, "writing %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
    } else if (close(fd) < 0 || rename(tmp, path) < 0) {
        rc = fail(w, PROTO_ERR_IO, "writing %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    proto__free(tmp);
    proto__free(path);
    return rc;
}

/* ---- Records ----------------------------------------------------------------------- */

static uint32_t type_slot(uint8_t vt)
{
    switch (vt) {
    case VM_I32: return TS_I32;
    case VM_I64: return TS_I64;
    case VM_F32: return TS_F32;
    case VM_F64: return TS_F64;
    case VM_V128: return TS_V128;
    case VM_FUNCREF: return TS_FUNCREF;
    default: return TS_EXTERNREF;
    }
}

/* The Type id of slot, emitting its Type record on first use. */
static uint32_t ensure_type(proto_ct_writer *w, uint32_t slot)
{
    static const struct {
        int kind;
        const char *name;
    } types[TS_COUNT] = {
        [TS_I32] = {PROTO_CT_TYPE_INT, "i32"},
        [TS_I64] = {PROTO_CT_TYPE_INT, "i64"},
        [TS_F32] = {PROTO_CT_TYPE_FLOAT, "f32"},
        [TS_F64] = {PROTO_CT_TYPE_FLOAT, "f64"},
        [TS_V128] = {PROTO_CT_TYPE_RAW, "v128"},
        [TS_FUNCREF] = {PROTO_CT_TYPE_RAW, "funcref"},
        [TS_EXTERNREF] = {PROTO_CT_TYPE_RAW, "externref"},
        [TS_TUPLE] = {PROTO_CT_TYPE_TUPLE, "results"},
    };

    if (w->type_ids[slot] == NO_ID) {
        sb_printf(&w->rec, "{\"Type\":{\"kind\":%d,\"lang_type\":",
                  types[slot].kind);
        sb_json_cstr(&w->rec, types[slot].name);
        sb_puts(&w->rec, ",\"specific_info\":{\"kind\":\"None\"}}}");
        end_record(w);
        w->type_ids[slot] = w->next_type_id++;
    }
    return w->type_ids[slot];
}

static void ensure_val_types(proto_ct_writer *w, proto_vals v)
{
    for (uint32_t i = 0; i < v.count; i++)
        ensure_type(w, type_slot(v.items[i].type));
}

/* A ValueRecord of v into b; its Type must already be emitted. */
static void put_value(proto_ct_writer *w, sbuf *b, const proto_val *v)
{
    uint32_t tid = w->type_ids[type_slot(v->type)];
    char num[64];
    float f;
    double d;

    switch (v->type) {
    case VM_I32:
        sb_printf(b, "{\"kind\":\"Int\",\"i\":%" PRId32, v->of.i32);
        break;
    case VM_I64:
        sb_printf(b, "{\"kind\":\"Int\",\"i\":%" PRId64, v->of.i64);
        break;
    case VM_F32:
        memcpy(&f, &v->of.f32_bits, sizeof f);
        format_f32(num, sizeof num, f);
        sb_printf(b, "{\"kind\":\"Float\",\"f\":\"%s\"", num);
        break;
    case VM_F64:
        memcpy(&d, &v->of.f64_bits, sizeof d);
        format_f64(num, sizeof num, d);
        sb_printf(b, "{\"kind\":\"Float\",\"f\":\"%s\"", num);
        break;
    case VM_V128:
        sb_puts(b, "{\"kind\":\"Raw\",\"r\":\"i32x4");
        for (int i = 0; i < 16; i += 4)
            sb_printf(b, " 0x%08" PRIx32,
                      (uint32_t)v->of.v128[i] |
                          (uint32_t)v->of.v128[i + 1] << 8 |
                          (uint32_t)v->of.v128[i + 2] << 16 |
                          (uint32_t)v->of.v128[i + 3] << 24);
        sb_puts(b, "\"");
        break;
    default:
        if (v->of.ref == PROTO_REF_NULL)
            sb_puts(b, "{\"kind\":\"Raw\",\"r\":\"null\"");
        else if (v->type == VM_FUNCREF)
            sb_printf(b, "{\"kind\":\"Raw\",\"r\":\"func %" PRIu64 "\"",
                      v->of.ref);
        else
            sb_printf(b, "{\"kind\":\"Raw\",\"r\":\"ref 0x%" PRIx64 "\"",
                      v->of.ref);
        break;
    }
    sb_printf(b, ",\"type_id\":%" PRIu32 "}", tid);
}

static void put_error_value(sbuf *b, const char *msg)
{
    sb_puts(b, "{\"kind\":\"Error\",\"msg\":");
    sb_json_cstr(b, msg);
    sb_printf(b, ",\"type_id\":%u}", NONE_TYPE);
}

/* A result list as one ValueRecord: None, the value, or a Tuple. The
 * types must already be emitted (ensure_results). */
static void put_results(proto_ct_writer *w, sbuf *b, proto_vals v)
{
    if (v.count == 0) {
        sb_printf(b, "{\"kind\":\"None\",\"type_id\":%u}", NONE_TYPE);
    } else if (v.count == 1) {
        put_value(w, b, &v.items[0]);
    } else {
        sb_puts(b, "{\"kind\":\"Tuple\",\"elements\":[");
        for (uint32_t i = 0; i < v.count; i++) {
            if (i)
                sb_puts(b, ",");
            put_value(w, b, &v.items[i]);
        }
        sb_printf(b, "],\"type_id\":%" PRIu32 "}", w->type_ids[TS_TUPLE]);
    }
}

static void ensure_results(proto_ct_writer *w, proto_vals v)
{
    ensure_val_types(w, v);
    if (v.count > 1)
        ensure_type(w, TS_TUPLE);
}

static uint32_t func_line(const proto_ct_writer *w, uint32_t func)
{
    uint32_t line = w->listing ? vm_listing_func_line(w->listing, func) : 0;

    return line ? line : 1;
}

/* The Function id of wasm function func, emitting its record first. */
static uint32_t ensure_function(proto_ct_writer *w, uint32_t func)
{
    char fallback[32];
    const char *name;

    if (func < w->nfuncs && w->func_ids[func] != NO_ID)
        return w->func_ids[func];
    if (func < w->nfuncs) {
        name = vm_listing_func_name(w->listing, func);
    } else {
        /* Not in the module: a stream that does not match it. Give the
         * call a function of its own rather than failing the export. */
        snprintf(fallback, sizeof fallback, "func[%" PRIu32 "]", func);
        name = fallback;
    }
    sb_printf(&w->rec, "{\"Function\":{\"path_id\":0,\"line\":%" PRIu32
                       ",\"name\":",
              func_line(w, func));
    sb_json_cstr(&w->rec, name);
    sb_puts(&w->rec, "}}");
    end_record(w);
    if (func < w->nfuncs)
        w->func_ids[func] = w->next_func_id;
    return w->next_func_id++;
}

/* The VariableName id of name, emitting its record first. */
static uint32_t ensure_var(proto_ct_writer *w, const char *name)
{
    name_slot *s;

    if (w->vars.count * 2 >= w->vars.cap && names_grow(&w->vars) < 0) {
        fail(w, PROTO_ERR_NOMEM, "out of memory");
        return 0;
    }
    s = names_find(&w->vars, name);
    if (s->name)
        return s->id;
    s->name = dup_str(name);
    if (!s->name) {
        fail(w, PROTO_ERR_NOMEM, "out of memory");
        return 0;
    }
    s->id = w->next_var_id++;
    w->vars.count++;
    sb_puts(&w->rec, "{\"VariableName\":");
    sb_json_cstr(&w->rec, name);
    sb_puts(&w->rec, "}");
    end_record(w);
    return s->id;
}

/* Parameter i of func: its name from the name section, else "p<i>". */
static const char *param_name(const proto_ct_writer *w, uint32_t func,
                              uint32_t i, char *buf, size_t n)
{
    const char *name = func < w->nfuncs
                           ? vm_module_local_name(w->module, func, i)
                           : NULL;

    if (name && *name)
        return name;
    snprintf(buf, n, "p%" PRIu32, i);
    return buf;
}

static void emit_step(proto_ct_writer *w, uint32_t line)
{
    sb_printf(&w->rec, "{\"Step\":{\"path_id\":0,\"line\":%" PRIu32 "}}",
              line);
    end_record(w);
}

/* Call: as runtime_tracing does, the arguments' Value records, a Step to
 * the function's line, then the Call with the arguments. */
static void emit_call(proto_ct_writer *w, uint32_t func, proto_vals args)
{
    uint32_t fid = ensure_function(w, func);
    uint32_t stack_ids[16], *ids = stack_ids;
    char buf[32];

    if (args.count > 16) {
        ids = proto__malloc(args.count * sizeof *ids);
        if (!ids) {
            fail(w, PROTO_ERR_NOMEM, "out of memory");
            return;
        }
    }
    ensure_val_types(w, args);
    for (uint32_t i = 0; i < args.count; i++)
        ids[i] = ensure_var(w, param_name(w, func, i, buf, sizeof buf));
    for (uint32_t i = 0; i < args.count; i++) {
        sb_printf(&w->rec, "{\"Value\":{\"variable_id\":%" PRIu32
                           ",\"value\":",
                  ids[i]);
        put_value(w, &w->rec, &args.items[i]);
        sb_puts(&w->rec, "}}");
        end_record(w);
    }
    emit_step(w, func_line(w, func));
    sb_printf(&w->rec, "{\"Call\":{\"function_id\":%" PRIu32 ",\"args\":[",
              fid);
    for (uint32_t i = 0; i < args.count; i++) {
        if (i)
            sb_puts(&w->rec, ",");
        sb_printf(&w->rec, "{\"variable_id\":%" PRIu32 ",\"value\":", ids[i]);
        put_value(w, &w->rec, &args.items[i]);
        sb_puts(&w->rec, "}");
    }
    sb_puts(&w->rec, "]}}");
    end_record(w);
    if (ids != stack_ids)
        proto__free(ids);
}

static void emit_return(proto_ct_writer *w, proto_vals results)
{
    ensure_results(w, results);
    sb_puts(&w->rec, "{\"Return\":{\"return_value\":");
    put_results(w, &w->rec, results);
    sb_puts(&w->rec, "}}");
    end_record(w);
}

static void emit_error_return(proto_ct_writer *w, const char *msg)
{
    sb_puts(&w->rec, "{\"Return\":{\"return_value\":");
    put_error_value(&w->rec, msg);
    sb_puts(&w->rec, "}}");
    end_record(w);
}

static void emit_event(proto_ct_writer *w, int kind, const char *metadata,
                       const char *content, size_t len)
{
    sb_printf(&w->rec, "{\"Event\":{\"kind\":%d,\"metadata\":", kind);
    sb_json_cstr(&w->rec, metadata);
    sb_puts(&w->rec, ",\"content\":");
    sb_json_str(&w->rec, content, len);
    sb_puts(&w->rec, "}}");
    end_record(w);
}

/* ---- The frame stack ------------------------------------------------------------ */

static void push_frame(proto_ct_writer *w, uint32_t func, uint32_t depth,
                       bool host)
{
    if (w->nframes == w->frames_cap) {
        uint32_t cap = w->frames_cap ? w->frames_cap * 2 : 64;
        frame *f = proto__realloc(w->frames, cap * sizeof *f);

        if (!f) {
            fail(w, PROTO_ERR_NOMEM, "out of memory");
            return;
        }
        w->frames = f;
        w->frames_cap = cap;
    }
    w->frames[w->nframes++] = (frame){func, depth, host};
}

/* Close the frames above index keep (keep itself stays) with an Error. */
static void unwind_to(proto_ct_writer *w, uint32_t keep, const char *why)
{
    while (w->nframes > keep) {
        emit_error_return(w, why);
        w->nframes--;
    }
}

/* The current wasm depth: that of the innermost frame (a host frame
 * carries its caller's). */
static uint32_t wasm_depth(const proto_ct_writer *w)
{
    return w->nframes ? w->frames[w->nframes - 1].depth : 0;
}

/* ---- Starting ---------------------------------------------------------------------- */

/* A file name for the listing: the module's name without directories or
 * ".wasm", limited to a safe alphabet. */
static void listing_name(const proto_ct_writer *w, const proto_event *ev,
                         char *buf, size_t n)
{
    const char *src = NULL;
    size_t len = 0, k = 0;

    if (ev && ev->type == PROTO_RUN_START && ev->as.run_start.module.len) {
        src = ev->as.run_start.module.ptr;
        len = ev->as.run_start.module.len;
    } else if (vm_module_name(w->module)) {
        src = vm_module_name(w->module);
        len = strlen(src);
    }
    if (src) {
        const char *slash = memrchr(src, '/', len);

        if (slash) {
            len -= (size_t)(slash + 1 - src);
            src = slash + 1;
        }
        if (len > 5 && memcmp(src + len - 5, ".wasm", 5) == 0)
            len -= 5;
    }
    for (size_t i = 0; src && i < len && k + 5 < n && k < 100; i++) {
        char c = src[i];

        buf[k++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                           c == '_'
                       ? c
                       : '_';
    }
    if (k == 0 || buf[0] == '.') {
        k = 0;
        for (const char *d = "module"; *d && k + 5 < n; d++)
            buf[k++] = *d;
    }
    snprintf(buf + k, n - k, ".wat");
}

static int write_metadata(proto_ct_writer *w, const proto_event *ev)
{
    sbuf b = {0};
    const proto_run_start *rs =
        ev && ev->type == PROTO_RUN_START ? &ev->as.run_start : NULL;
    int rc;

    sb_puts(&b, "{\"workdir\":");
    sb_json_cstr(&b, w->workdir);
    sb_puts(&b, ",\"program\":");
    if (w->program)
        sb_json_cstr(&b, w->program);
    else if (rs && rs->module.len)
        sb_json_str(&b, rs->module.ptr, rs->module.len);
    else
        sb_json_cstr(&b, vm_module_name(w->module) ? vm_module_name(w->module)
                                                   : "module");
    sb_puts(&b, ",\"args\":[");
    for (uint32_t i = 0; rs && i < rs->argc; i++) {
        if (i)
            sb_puts(&b, ",");
        sb_json_str(&b, rs->argv[i].ptr, rs->argv[i].len);
    }
    sb_puts(&b, "]}\n");
    if (b.failed)
        rc = fail(w, PROTO_ERR_NOMEM, "out of memory");
    else
        rc = write_file_atomic(w, "trace_metadata.json", b.p, b.len);
    sb_free(&b);
    return rc;
}

/*
 * The prelude, once per run: the listing file, metadata and paths, then
 * runtime_tracing's start sequence: Path 0 (the listing), Function 0
 * <toplevel>, its Call, Type 0 None.
 */
static int start_run(proto_ct_writer *w, const proto_event *ev)
{
    char name[128], rel[160];
    const char *text;
    size_t len;
    sbuf paths = {0};
    int rc;

    w->started = true;
    listing_name(w, ev, name, sizeof name);
    snprintf(rel, sizeof rel, "files/%s", name);
    text = vm_listing_text(w->listing, &len);
    rc = write_file_atomic(w, rel, text, len);
    if (rc)
        return rc;
    w->listing_path = join_path(w->abs_dir, rel);
    if (!w->listing_path)
        return fail(w, PROTO_ERR_NOMEM, "out of memory");
    rc = write_metadata(w, ev);
    if (rc)
        return rc;
    sb_puts(&paths, "[");
    sb_json_cstr(&paths, w->listing_path);
    sb_puts(&paths, "]\n");
    rc = paths.failed ? fail(w, PROTO_ERR_NOMEM, "out of memory")
                      : write_file_atomic(w, "trace_paths.json", paths.p,
                                          paths.len);
    sb_free(&paths);
    if (rc)
        return rc;

    sb_puts(&w->rec, "{\"Path\":");
    sb_json_cstr(&w->rec, w->listing_path);
    sb_puts(&w->rec, "}");
    end_record(w);
    sb_puts(&w->rec, "{\"Function\":{\"path_id\":0,\"line\":1,"
                     "\"name\":\"<toplevel>\"}}");
    end_record(w);
    w->next_func_id = TOPLEVEL_FUNCTION + 1;
    sb_printf(&w->rec, "{\"Call\":{\"function_id\":%u,\"args\":[]}}",
              TOPLEVEL_FUNCTION);
    end_record(w);
    w->toplevel_open = true;
    sb_printf(&w->rec, "{\"Type\":{\"kind\":%d,\"lang_type\":\"None\","
                       "\"specific_info\":{\"kind\":\"None\"}}}",
              PROTO_CT_TYPE_NONE);
    end_record(w);
    w->next_type_id = NONE_TYPE + 1;
    emit_step(w, 1);
    return w->status;
}

/* Close every frame and then <toplevel>, whose return value says how the
 * run ended. */
static void end_run(proto_ct_writer *w, const proto_run_end *re,
                    const char *why)
{
    char msg[96];

    if (re && re->status != PROTO_STATUS_OK && re->status != PROTO_STATUS_EXIT)
        snprintf(msg, sizeof msg, "run ended: %s",
                 proto_status_name(re->status) ? proto_status_name(re->status)
                                               : "?");
    else
        snprintf(msg, sizeof msg, "%s", why);
    unwind_to(w, 0, msg);
    if (!w->toplevel_open)
        return;
    w->toplevel_open = false;
    if (re && re->status == PROTO_STATUS_OK) {
        emit_return(w, re->results);
    } else if (re && re->status == PROTO_STATUS_EXIT) {
        proto_val code = {.type = VM_I32, .of.i32 = re->exit_code};
        proto_vals v = {&code, 1};
        char content[64];

        snprintf(content, sizeof content, "exit code %" PRId32,
                 re->exit_code);
        emit_event(w, PROTO_CT_EVENT_TRACE_LOG, "exit", content,
                   strlen(content));
        emit_return(w, v);
    } else {
        emit_error_return(w, msg);
    }
}

/* ---- Events --------------------------------------------------------------------------- */

static void on_return(proto_ct_writer *w, const proto_return *r)
{
    /* The innermost wasm frame of this function at this depth or deeper:
     * anything above it was unwound (by an exception) without a return. */
    for (uint32_t i = w->nframes; i-- > 0;) {
        const frame *f = &w->frames[i];

        if (f->depth < r->depth)
            break;
        if (!f->host && f->func == r->func) {
            unwind_to(w, i + 1, "unwound by exception");
            emit_return(w, r->results);
            w->nframes--;
            return;
        }
    }
    /* No open frame matches (its Return was already written when a trap
     * closed the stack): nothing to close. */
}

static void on_host_return(proto_ct_writer *w, const proto_host_call *h)
{
    for (uint32_t i = w->nframes; i-- > 0;) {
        if (w->frames[i].host && w->frames[i].func == h->func) {
            unwind_to(w, i + 1, "unwound by exception");
            emit_return(w, h->vals);
            w->nframes--;
            return;
        }
    }
}

static void on_throw(proto_ct_writer *w, const proto_throw *t)
{
    sbuf b = {0};

    sb_printf(&b, "throw tag %" PRIu32, t->tag);
    for (uint32_t i = 0; i < t->payload.count; i++) {
        const proto_val *v = &t->payload.items[i];
        char num[64];
        float f;
        double d;

        switch (v->type) {
        case VM_I32: sb_printf(&b, " %" PRId32, v->of.i32); break;
        case VM_I64: sb_printf(&b, " %" PRId64, v->of.i64); break;
        case VM_F32:
            memcpy(&f, &v->of.f32_bits, sizeof f);
            format_f32(num, sizeof num, f);
            sb_printf(&b, " %s", num);
            break;
        case VM_F64:
            memcpy(&d, &v->of.f64_bits, sizeof d);
            format_f64(num, sizeof num, d);
            sb_printf(&b, " %s", num);
            break;
        default: sb_puts(&b, " <ref>"); break;
        }
    }
    if (b.failed)
        fail(w, PROTO_ERR_NOMEM, "out of memory");
    else
        emit_event(w, PROTO_CT_EVENT_TRACE_LOG, "throw", b.p, b.len);
    sb_free(&b);
}

static void on_trap(proto_ct_writer *w, const proto_trap *t)
{
    char msg[256];
    int n;

    n = snprintf(msg, sizeof msg, "trap: %.*s",
                 (int)(t->message.len < 200 ? t->message.len : 200),
                 t->message.ptr ? t->message.ptr : "");
    if (t->message.len == 0)
        n = snprintf(msg, sizeof msg, "trap: %s", vm_strerror(t->code));
    emit_event(w, PROTO_CT_EVENT_ERROR, vm_err_name(t->code), msg,
               (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    /* A trap ends the invocation: every frame unwinds. Returns the VM may
     * still report for them find no open frame and are dropped. */
    unwind_to(w, 0, msg);
}

int proto_ct_writer_add(proto_ct_writer *w, const proto_event *ev, char *err,
                        size_t errlen)
{
    char buf[96];

    if (!w || !ev)
        return proto__error(err, errlen, PROTO_ERR_ARG,
                            "codetracer: no writer or event");
    if (w->status)
        return report(w, err, errlen);
    if (w->ended)
        return 0;
    if (!w->started && start_run(w, ev))
        return report(w, err, errlen);

    switch (ev->type) {
    case PROTO_RUN_START:
        break; /* start_run used it */
    case PROTO_CALL:
        /* Frames at this depth or deeper were left by an exception. */
        while (w->nframes && w->frames[w->nframes - 1].depth >= ev->as.call.depth) {
            emit_error_return(w, "unwound by exception");
            w->nframes--;
        }
        emit_call(w, ev->as.call.func, ev->as.call.args);
        push_frame(w, ev->as.call.func, ev->as.call.depth, false);
        break;
    case PROTO_RETURN:
        on_return(w, &ev->as.ret);
        break;
    case PROTO_HOST_CALL:
        emit_call(w, ev->as.host.func, ev->as.host.vals);
        push_frame(w, ev->as.host.func, wasm_depth(w), true);
        break;
    case PROTO_HOST_RETURN:
        on_host_return(w, &ev->as.host);
        break;
    case PROTO_OP: {
        uint32_t line = vm_listing_offset_line(w->listing, ev->as.op.offset);

        if (line)
            emit_step(w, line);
        break;
    }
    case PROTO_THROW:
        on_throw(w, &ev->as.throw_);
        break;
    case PROTO_TRAP:
        on_trap(w, &ev->as.trap);
        break;
    case PROTO_OUTPUT:
        emit_event(w, PROTO_CT_EVENT_WRITE,
                   ev->as.output.fd == 2 ? "stderr" : "stdout",
                   ev->as.output.data.ptr ? ev->as.output.data.ptr : "",
                   ev->as.output.data.len);
        break;
    case PROTO_STEP:
        /* Source steps need the debug-info issue's file table; until then
         * ops give the listing steps. */
        break;
    case PROTO_LOSS: {
        int n = snprintf(buf, sizeof buf,
                         "lost %" PRIu64 " events (seq %" PRIu64 "..%" PRIu64
                         ")",
                         ev->as.loss.count, ev->seq,
                         ev->seq + ev->as.loss.count - 1);

        emit_event(w, PROTO_CT_EVENT_TRACE_LOG, "loss", buf, (size_t)n);
        break;
    }
    case PROTO_RUN_END:
        end_run(w, &ev->as.run_end, "run ended");
        w->ended = true;
        flush_out(w);
        break;
    default:
        break;
    }
    return report(w, err, errlen);
}

int proto_ct_writer_flush(proto_ct_writer *w, char *err, size_t errlen)
{
    flush_out(w);
    return report(w, err, errlen);
}

uint64_t proto_ct_writer_records(const proto_ct_writer *w)
{
    return w->records;
}

/* ---- Life cycle ------------------------------------------------------------------------ */

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

int proto_ct_writer_new(const char *dir, const vm_module *m,
                        const proto_ct_opts *opts, proto_ct_writer **out,
                        char *err, size_t errlen)
{
    proto_ct_writer *w;
    char vmerr[256], *files = NULL, *trace = NULL, cwd[PATH_MAX];
    int rc;

    *out = NULL;
    if (!dir || !m)
        return proto__error(err, errlen, PROTO_ERR_ARG,
                            "codetracer: a directory and a module are "
                            "needed");
    w = proto__calloc(1, sizeof *w);
    if (!w)
        return proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
    w->fd = -1;
    w->module = m;
    w->buffer_bytes = opts && opts->buffer_bytes ? opts->buffer_bytes
                                                 : DEFAULT_BUFFER;
    for (uint32_t i = 0; i < TS_COUNT; i++)
        w->type_ids[i] = NO_ID;

    rc = vm_listing_new(m, &w->listing, vmerr, sizeof vmerr);
    if (rc) {
        rc = proto__error(err, errlen,
                          rc == VM_ERR_NOMEM ? PROTO_ERR_NOMEM
                                             : PROTO_ERR_ARG,
                          "codetracer: %s", vmerr);
        goto fail;
    }
    w->nfuncs = vm_listing_func_count(w->listing);
    w->func_ids = proto__malloc((w->nfuncs + 1) * sizeof *w->func_ids);
    w->dir = dup_str(dir);
    if (opts && opts->program)
        w->program = dup_str(opts->program);
    if (opts && opts->workdir)
        w->workdir = dup_str(opts->workdir);
    else
        w->workdir = dup_str(getcwd(cwd, sizeof cwd) ? cwd : ".");
    if (!w->func_ids || !w->dir || !w->workdir ||
        (opts && opts->program && !w->program)) {
        rc = proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < w->nfuncs; i++)
        w->func_ids[i] = NO_ID;

    files = join_path(dir, "files");
    trace = join_path(dir, "trace.json");
    if (!files || !trace) {
        rc = proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (make_dir(dir) < 0 || make_dir(files) < 0) {
        rc = proto__error(err, errlen, PROTO_ERR_IO,
                          "codetracer: cannot create %s: %s", files,
                          strerror(errno));
        goto fail;
    }
    w->abs_dir = realpath(dir, NULL);
    if (!w->abs_dir) {
        rc = proto__error(err, errlen, PROTO_ERR_IO, "codetracer: %s: %s",
                          dir, strerror(errno));
        goto fail;
    }
    w->fd = open(trace, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0 || write_all(w->fd, "[\n", 2) < 0) {
        rc = proto__error(err, errlen, PROTO_ERR_IO, "codetracer: %s: %s",
                          trace, strerror(errno));
        goto fail;
    }
    w->file_len = 2;
    proto__free(files);
    proto__free(trace);
    *out = w;
    return 0;

fail:
    proto__free(files);
    proto__free(trace);
    w->closed = true; /* nothing to finish */
    proto_ct_writer_free(w, NULL, 0);
    return rc;
}

/* Replace the trailing ",\n" of the last record with "\n]\n" (or append
 * "]\n" after a bare "["). */
static int close_file(proto_ct_writer *w)
{
    flush_out(w);
    if (w->status)
        return w->status;
    if (w->records) {
        if (ftruncate(w->fd, (off_t)(w->file_len - 2)) < 0 ||
            lseek(w->fd, 0, SEEK_END) < 0 ||
            write_all(w->fd, "\n]\n", 3) < 0)
            return fail(w, PROTO_ERR_IO, "closing trace.json: %s",
                        strerror(errno));
        w->file_len += 1;
    } else if (write_all(w->fd, "]\n", 2) < 0) {
        return fail(w, PROTO_ERR_IO, "closing trace.json: %s",
                    strerror(errno));
    }
    return 0;
}

int proto_ct_writer_free(proto_ct_writer *w, char *err, size_t errlen)
{
    int rc;

    if (!w)
        return 0;
    if (!w->closed && !w->status) {
        if (!w->started)
            start_run(w, NULL);
        if (!w->ended)
            end_run(w, NULL, "trace ended before the run did");
        close_file(w);
    }
    rc = report(w, err, errlen);
    if (w->fd >= 0)
        close(w->fd);
    sb_free(&w->out);
    sb_free(&w->rec);
    names_free(&w->vars);
    vm_listing_free(w->listing);
    proto__free(w->frames);
    proto__free(w->func_ids);
    proto__free(w->listing_path);
    free(w->abs_dir); /* from realpath(3) */
    proto__free(w->dir);
    proto__free(w->program);
    proto__free(w->workdir);
    proto__free(w);
    return rc;
}

/* ---- Repair ------------------------------------------------------------------------------ */

int proto_ct_repair(const char *dir, proto_ct_repair_info *info, char *err,
                    size_t errlen)
{
    proto_ct_repair_info local = {0};
    char *path = join_path(dir, "trace.json");
    char *data = NULL;
    struct stat st;
    size_t len, keep, pos, end;
    int fd = -1, rc = 0;

    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    if (!path)
        return proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        rc = proto__error(err, errlen,
                          errno == ENOENT ? PROTO_ERR_NOT_FOUND
                                          : PROTO_ERR_IO,
                          "codetracer repair: %s: %s", path,
                          strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        rc = proto__error(err, errlen, PROTO_ERR_IO,
                          "codetracer repair: %s: %s", path,
                          strerror(errno));
        goto out;
    }
    len = (size_t)st.st_size;
    data = proto__malloc(len + 1);
    if (!data) {
        rc = proto__error(err, errlen, PROTO_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t got = 0; got < len;) {
        ssize_t r = pread(fd, data + got, len - got, (off_t)got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = proto__error(err, errlen, PROTO_ERR_IO,
                              "codetracer repair: reading %s", path);
            goto out;
        }
        got += (size_t)r;
    }
    data[len] = '\0';
    if (len < 2 || memcmp(data, "[\n", 2) != 0) {
        rc = proto__error(err, errlen, PROTO_ERR_CORRUPT,
                          "codetracer repair: %s does not start with \"[\"",
                          path);
        goto out;
    }

    /* Walk the record lines: "{...}," then '\n'. The first line that is
     * not one ends the good prefix; a closed file ends in "}\n]\n". */
    keep = pos = 2;
    while (pos < len) {
        char *nl = memchr(data + pos, '\n', len - pos);

        if (!nl)
            break;
        end = (size_t)(nl - data);
        if (end - pos >= 3 && data[pos] == '{' && data[end - 1] == ',' &&
            data[end - 2] == '}' && !memchr(data + pos, '\0', end - pos)) {
            info->records++;
            keep = pos = end + 1;
            continue;
        }
        break;
    }
    /* Already closed: the records, then the last one without its comma
     * and "]" (or a bare "]" when there are none). */
    if (pos < len) {
        const char *rest = data + pos;
        size_t restlen = len - pos;
        const char *nl = memchr(rest, '\n', restlen);

        if (restlen == 2 && memcmp(rest, "]\n", 2) == 0)
            goto out;
        if (nl && rest[0] == '{' && nl > rest && nl[-1] == '}' &&
            (size_t)(nl - rest) + 3 == restlen &&
            memcmp(nl, "\n]\n", 3) == 0) {
            info->records++;
            goto out;
        }
    }
    info->was_open = true;
    info->cut_bytes = len - keep;
    if (info->records) {
        /* Drop the last ",\n" and close. */
        keep -= 2;
        if (ftruncate(fd, (off_t)keep) < 0 ||
            pwrite(fd, "\n]\n", 3, (off_t)keep) != 3)
            rc = proto__error(err, errlen, PROTO_ERR_IO,
                              "codetracer repair: %s: %s", path,
                              strerror(errno));
    } else if (ftruncate(fd, (off_t)keep) < 0 ||
               pwrite(fd, "]\n", 2, (off_t)keep) != 2) {
        rc = proto__error(err, errlen, PROTO_ERR_IO,
                          "codetracer repair: %s: %s", path, strerror(errno));
    }

out:
    if (fd >= 0)
        close(fd);
    proto__free(data);
    proto__free(path);
    return rc;
}

/* ---- Export -------------------------------------------------------------------------------- */

int proto_ct_export(const char *stream_path, const char *dir,
                    const vm_module *m, const uint8_t *module_hash,
                    const proto_ct_opts *opts, proto_ct_export_info *info,
                    char *err, size_t errlen)
{
    proto_ct_export_info local = {0};
    proto_reader *r = NULL;
    proto_ct_writer *w = NULL;
    proto_event ev;
    static const uint8_t zero[32];
    const proto_file_header *h;
    int rc, wrc;

    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    rc = proto_reader_new(stream_path, 0, &r, err, errlen);
    if (rc)
        return rc;
    h = proto_reader_header(r);
    if (module_hash && memcmp(h->module_hash, zero, 32) != 0 &&
        memcmp(h->module_hash, module_hash, 32) != 0) {
        char want[65], got[65];

        proto_hex(h->module_hash, 32, want);
        proto_hex(module_hash, 32, got);
        proto_reader_free(r);
        return proto__error(err, errlen, PROTO_ERR_ARG,
                            "the stream was recorded from module %s, not "
                            "this one (%s)",
                            want, got);
    }
    rc = proto_ct_writer_new(dir, m, opts, &w, err, errlen);
    if (rc) {
        proto_reader_free(r);
        return rc;
    }
    proto_event_init(&ev);
    for (;;) {
        rc = proto_reader_next(r, &ev, err, errlen);
        if (rc == PROTO_ERR_END) {
            rc = 0;
            break;
        }
        if (rc == PROTO_ERR_TORN) {
            info->torn = true;
            rc = 0;
            break;
        }
        if (rc)
            break;
        info->events++;
        if (ev.type == PROTO_RUN_START && module_hash &&
            memcmp(ev.as.run_start.hash, zero, 32) != 0 &&
            memcmp(ev.as.run_start.hash, module_hash, 32) != 0) {
            rc = proto__error(err, errlen, PROTO_ERR_ARG,
                              "the stream's run_start names another module "
                              "(hash mismatch)");
            break;
        }
        rc = proto_ct_writer_add(w, &ev, err, errlen);
        if (rc)
            break;
    }
    proto_event_close(&ev);
    info->records = proto_ct_writer_records(w);
    wrc = proto_ct_writer_free(w, rc ? NULL : err, rc ? 0 : errlen);
    proto_reader_free(r);
    return rc ? rc : wrc;
}
