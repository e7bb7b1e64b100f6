/*
 * The JSON form of events (docs/protocol.md, "JSON form"), with jansson.
 *
 * Values carry their exact bits in "value", written as the wasm spec test
 * JSON (wast2json) writes them: the unsigned decimal of the bit pattern for
 * i32/i64/f32/f64, four i32 lanes for v128, "null" or a decimal id for
 * references. "text" adds the human reading (signed integer, float
 * literal, nan:0x..., hex bytes of a v128); it is informational and
 * ignored when parsing.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto_int.h"

/* ---- Event -> JSON --------------------------------------------------------- */

static const char *valtype_name(uint8_t t)
{
    switch (t) {
    case VM_I32: return "i32";
    case VM_I64: return "i64";
    case VM_F32: return "f32";
    case VM_F64: return "f64";
    case VM_V128: return "v128";
    case VM_FUNCREF: return "funcref";
    case VM_EXTERNREF: return "externref";
    }
    return NULL;
}

static int valtype_from_name(const char *s)
{
    static const uint8_t types[] = {VM_I32,  VM_I64,     VM_F32,
                                    VM_F64,  VM_V128,    VM_FUNCREF,
                                    VM_EXTERNREF};

    for (size_t i = 0; i < sizeof types; i++)
        if (strcmp(s, valtype_name(types[i])) == 0)
            return types[i];
    return -1;
}

static void float_text(char *buf, size_t n, bool neg, bool is_nan,
                       bool is_inf, uint64_t payload, uint64_t canonical,
                       double v, int digits)
{
    const char *sign = neg ? "-" : "";

    if (is_nan && payload == canonical)
        snprintf(buf, n, "%snan", sign);
    else if (is_nan)
        snprintf(buf, n, "%snan:0x%" PRIx64, sign, payload);
    else if (is_inf)
        snprintf(buf, n, "%sinf", sign);
    else
        snprintf(buf, n, "%.*g", digits, v);
}

static json_t *val_to_json(const proto_val *v)
{
    char value[64], text[64];
    json_t *o;

    text[0] = '\0';
    switch (v->type) {
    case VM_I32:
        snprintf(value, sizeof value, "%" PRIu32, (uint32_t)v->of.i32);
        snprintf(text, sizeof text, "%" PRId32, v->of.i32);
        break;
    case VM_I64:
        snprintf(value, sizeof value, "%" PRIu64, (uint64_t)v->of.i64);
        snprintf(text, sizeof text, "%" PRId64, v->of.i64);
        break;
    case VM_F32: {
        uint32_t b = v->of.f32_bits, exp = (b >> 23) & 0xff, man = b & 0x7fffff;
        float f;

        memcpy(&f, &b, 4);
        snprintf(value, sizeof value, "%" PRIu32, b);
        float_text(text, sizeof text, b >> 31, exp == 0xff && man,
                   exp == 0xff && !man, man, 0x400000, f, 9);
        break;
    }
    case VM_F64: {
        uint64_t b = v->of.f64_bits, exp = (b >> 52) & 0x7ff,
                 man = b & 0xfffffffffffffull;
        double d;

        memcpy(&d, &b, 8);
        snprintf(value, sizeof value, "%" PRIu64, b);
        float_text(text, sizeof text, b >> 63, exp == 0x7ff && man,
                   exp == 0x7ff && !man, man, 0x8000000000000ull, d, 17);
        break;
    }
    case VM_V128: {
        json_t *lanes = json_array();

        proto_hex(v->of.v128, 16, text);
        for (int i = 0; i < 4; i++) {
            snprintf(value, sizeof value, "%" PRIu32,
                     proto__get_u32(v->of.v128 + 4 * i));
            json_array_append_new(lanes, json_string(value));
        }
        return json_pack("{s:s, s:s, s:o, s:s}", "type", "v128", "lane_type",
                         "i32", "value", lanes, "text", text);
    }
    case VM_FUNCREF:
    case VM_EXTERNREF:
        if (v->of.ref == PROTO_REF_NULL)
            snprintf(value, sizeof value, "null");
        else
            snprintf(value, sizeof value, "%" PRIu64, v->of.ref);
        return json_pack("{s:s, s:s}", "type", valtype_name(v->type), "value",
                         value);
    default:
        return NULL;
    }
    o = json_pack("{s:s, s:s, s:s}", "type", valtype_name(v->type), "value",
                  value, "text", text);
    return o;
}

static json_t *vals_to_json(proto_vals v)
{
    json_t *a = json_array();

    if (!a)
        return NULL;
    for (uint32_t i = 0; i < v.count; i++) {
        json_t *x = val_to_json(&v.items[i]);

        if (!x || json_array_append_new(a, x) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* vals_to_json, each value with what opts->source_val says of it (value
 * i of func's arguments, or of its results when result). */
static json_t *vals_to_json_src(proto_vals v, const proto_json_opts *opts,
                                uint32_t func, bool result)
{
    json_t *a;

    if (!opts || !opts->source_val)
        return vals_to_json(v);
    a = json_array();
    if (!a)
        return NULL;
    for (uint32_t i = 0; i < v.count; i++) {
        json_t *x = val_to_json(&v.items[i]);
        proto_source_val sv;
        int rc = 0;

        memset(&sv, 0, sizeof sv);
        if (x && opts->source_val(opts->user, func, result, i, &v.items[i],
                                  &sv)) {
            if (sv.name)
                rc |= json_object_set_new(x, "name", json_string(sv.name));
            if (sv.type) {
                rc |= json_object_set_new(x, "src_type",
                                          json_string(sv.type));
                rc |= json_object_set_new(x, "src_text",
                                          json_string(sv.text));
            }
        }
        if (!x || rc || json_array_append_new(a, x) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    size_t len;
    uint32_t cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        len = 2, cp = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        len = 3, cp = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        len = 4, cp = p[0] & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static bool utf8_valid(proto_str s)
{
    const uint8_t *p = (const uint8_t *)s.ptr;

    for (size_t i = 0; i < s.len;) {
        size_t n = utf8_seq(p + i, s.len - i);

        if (!n)
            return false;
        i += n;
    }
    return true;
}

/* A JSON string of s; invalid UTF-8 bytes become U+FFFD (names and
 * messages are text; output keeps its bytes through base64 instead). */
static json_t *str_to_json(proto_str s)
{
    const uint8_t *p = (const uint8_t *)s.ptr;
    uint8_t *fixed;
    size_t o = 0;
    json_t *j;

    if (utf8_valid(s))
        return json_stringn(s.len ? s.ptr : "", s.len);
    fixed = proto__malloc((size_t)s.len * 3 + 1);
    if (!fixed)
        return NULL;
    for (size_t i = 0; i < s.len;) {
        size_t n = utf8_seq(p + i, s.len - i);

        if (n) {
            memcpy(fixed + o, p + i, n);
            o += n, i += n;
        } else {
            memcpy(fixed + o, "\xef\xbf\xbd", 3);
            o += 3, i++;
        }
    }
    j = json_stringn((const char *)fixed, o);
    proto__free(fixed);
    return j;
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *base64_json(proto_str s)
{
    const uint8_t *p = (const uint8_t *)s.ptr;
    size_t n = ((size_t)s.len + 2) / 3 * 4, o = 0;
    char *out = proto__malloc(n + 1);
    json_t *j;

    if (!out)
        return NULL;
    for (size_t i = 0; i < s.len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;

        if (i + 1 < s.len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < s.len)
            v |= p[i + 2];
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = i + 1 < s.len ? b64chars[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < s.len ? b64chars[v & 63] : '=';
    }
    j = json_stringn(out, o);
    proto__free(out);
    return j;
}

static const char *vm_error_name(int32_t code)
{
    switch (code) {
#define PROTO_X_VMERR(name, value, msg)                                     \
    case value:                                                             \
        return #name;
        VM_ERRORS(PROTO_X_VMERR)
#undef PROTO_X_VMERR
    }
    return NULL;
}

/* Setting a NULL value (an allocation failed) is caught by the caller's
 * final check through this flag. */
static void put(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(o, key, v) < 0)
        *ok = false;
}

static json_t *u64_json(uint64_t v)
{
    return json_integer((json_int_t)v);
}

static void put_name(json_t *o, const proto_json_opts *opts, uint32_t func,
                     bool *ok)
{
    const char *name = opts && opts->func_name
                           ? opts->func_name(opts->user, func) : NULL;

    if (name)
        put(o, "name", json_string(name), ok);
}

int proto_event_to_json(const proto_event *ev, const proto_json_opts *opts,
                        json_t **out)
{
    const char *tname = proto_event_type_name(ev->type);
    json_t *o;
    bool ok = true;

    if (!tname)
        return PROTO_ERR_ARG;
    o = json_object();
    if (!o)
        return PROTO_ERR_NOMEM;
    put(o, "seq", u64_json(ev->seq), &ok);
    put(o, "t", u64_json(ev->t_ns), &ok);
    put(o, "type", json_string(tname), &ok);
    switch (ev->type) {
    case PROTO_RUN_START: {
        const proto_run_start *x = &ev->as.run_start;
        char hex[65], id[17];
        json_t *argv = json_array(), *imports = json_array();
        const char *level = proto_level_name(x->level);

        if (!level) {
            json_decref(argv);
            json_decref(imports);
            json_decref(o);
            return PROTO_ERR_ARG;
        }
        snprintf(id, sizeof id, "%016" PRIx64, x->run_id);
        proto_hex(x->hash, 32, hex);
        put(o, "run_id", json_string(id), &ok);
        put(o, "wall_ns", u64_json(x->wall_ns), &ok);
        put(o, "level", json_string(level), &ok);
        put(o, "module", str_to_json(x->module), &ok);
        put(o, "hash", json_string(hex), &ok);
        for (uint32_t i = 0; argv && i < x->argc; i++) {
            json_t *s = str_to_json(x->argv[i]);

            if (!s || json_array_append_new(argv, s) < 0)
                ok = false;
        }
        for (uint32_t i = 0; imports && i < x->nimports; i++) {
            json_t *m = str_to_json(x->imports[i].module),
                   *n = str_to_json(x->imports[i].name);
            json_t *imp = m && n ? json_pack("{s:o, s:o}", "module", m,
                                             "name", n) : NULL;

            if (!imp) {
                json_decref(m);
                json_decref(n);
            }
            if (!imp || json_array_append_new(imports, imp) < 0)
                ok = false;
        }
        put(o, "args", argv, &ok);
        put(o, "imports", imports, &ok);
        if (x->level == PROTO_LEVEL_LINES) {
            /* The source file table that step events index. */
            json_t *files = json_array();

            for (uint32_t i = 0; files && i < x->nfiles; i++) {
                json_t *f = str_to_json(x->files[i]);

                if (!f || json_array_append_new(files, f) < 0)
                    ok = false;
            }
            put(o, "files", files, &ok);
        }
        break;
    }
    case PROTO_CALL:
        put(o, "func", json_integer(ev->as.call.func), &ok);
        put_name(o, opts, ev->as.call.func, &ok);
        put(o, "depth", json_integer(ev->as.call.depth), &ok);
        put(o, "args",
            vals_to_json_src(ev->as.call.args, opts, ev->as.call.func, false),
            &ok);
        break;
    case PROTO_RETURN:
        put(o, "func", json_integer(ev->as.ret.func), &ok);
        put_name(o, opts, ev->as.ret.func, &ok);
        put(o, "depth", json_integer(ev->as.ret.depth), &ok);
        put(o, "results",
            vals_to_json_src(ev->as.ret.results, opts, ev->as.ret.func, true),
            &ok);
        break;
    case PROTO_HOST_CALL:
    case PROTO_HOST_RETURN:
        put(o, "func", json_integer(ev->as.host.func), &ok);
        put_name(o, opts, ev->as.host.func, &ok);
        put(o, "import", json_integer(ev->as.host.import), &ok);
        put(o, ev->type == PROTO_HOST_CALL ? "args" : "results",
            vals_to_json_src(ev->as.host.vals, opts, ev->as.host.func,
                             ev->type == PROTO_HOST_RETURN),
            &ok);
        break;
    case PROTO_OP: {
        uint32_t op = ev->as.op.opcode;
        const char *name = opts && opts->op_name
                               ? opts->op_name(opts->user, op) : NULL;

        if (PROTO_OPCODE_PREFIX(op)) {
            put(o, "prefix", json_integer(PROTO_OPCODE_PREFIX(op)), &ok);
            put(o, "opcode", json_integer(PROTO_OPCODE_SUB(op)), &ok);
        } else {
            put(o, "opcode", json_integer(op), &ok);
        }
        if (name)
            put(o, "name", json_string(name), &ok);
        put(o, "offset", json_integer(ev->as.op.offset), &ok);
        break;
    }
    case PROTO_THROW:
        put(o, "tag", json_integer(ev->as.throw_.tag), &ok);
        put(o, "payload", vals_to_json(ev->as.throw_.payload), &ok);
        break;
    case PROTO_TRAP: {
        const char *name = vm_error_name(ev->as.trap.code);

        put(o, "code", json_integer(ev->as.trap.code), &ok);
        if (name)
            put(o, "error", json_string(name), &ok);
        put(o, "message", str_to_json(ev->as.trap.message), &ok);
        break;
    }
    case PROTO_OUTPUT:
        put(o, "fd", json_integer(ev->as.output.fd), &ok);
        if (utf8_valid(ev->as.output.data))
            put(o, "text", str_to_json(ev->as.output.data), &ok);
        else
            put(o, "base64", base64_json(ev->as.output.data), &ok);
        break;
    case PROTO_STEP:
        put(o, "file", json_integer(ev->as.step.file), &ok);
        put(o, "line", json_integer(ev->as.step.line), &ok);
        put(o, "column", json_integer(ev->as.step.column), &ok);
        break;
    case PROTO_LOSS:
        put(o, "count", u64_json(ev->as.loss.count), &ok);
        break;
    case PROTO_OPS:
        if (!proto__span_ok(ev->seq, ev->as.ops.count)) {
            json_decref(o);
            return PROTO_ERR_ARG;
        }
        put(o, "offset", json_integer(ev->as.ops.offset), &ok);
        put(o, "count", u64_json(ev->as.ops.count), &ok);
        break;
    case PROTO_STEPS:
        if (!proto__span_ok(ev->seq, ev->as.steps.count)) {
            json_decref(o);
            return PROTO_ERR_ARG;
        }
        put(o, "point", json_integer(ev->as.steps.point), &ok);
        put(o, "count", u64_json(ev->as.steps.count), &ok);
        break;
    case PROTO_RUN_END: {
        const proto_run_end *x = &ev->as.run_end;
        const char *status = proto_status_name(x->status);

        if (!status) {
            json_decref(o);
            return PROTO_ERR_ARG;
        }
        put(o, "status", json_string(status), &ok);
        put(o, "exit_code", json_integer(x->exit_code), &ok);
        put(o, "results", vals_to_json(x->results), &ok);
        put(o, "counters",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
                      "ops", (json_int_t)x->counters.ops,
                      "calls", (json_int_t)x->counters.calls,
                      "host_calls", (json_int_t)x->counters.host_calls,
                      "max_depth", (json_int_t)x->counters.max_depth,
                      "throws", (json_int_t)x->counters.throws,
                      "traps", (json_int_t)x->counters.traps),
            &ok);
        break;
    }
    }
    if (!ok) {
        json_decref(o);
        /* The only failure left is a value of unknown type or no memory. */
        return PROTO_ERR_ARG;
    }
    *out = o;
    return 0;
}

/* ---- JSON -> event ------------------------------------------------------------ */

typedef struct parser {
    char *err;
    size_t errlen;
} parser;

#define PFAIL(ps, ...)                                                      \
    ((void)proto__error((ps)->err, (ps)->errlen, PROTO_ERR_JSON, __VA_ARGS__), \
     PROTO_ERR_JSON)

static int get_uint(parser *ps, json_t *o, const char *key, uint64_t max,
                    uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    json_int_t i;

    if (!json_is_integer(v))
        return PFAIL(ps, "\"%s\": missing or not an integer", key);
    i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > max)
        return PFAIL(ps, "\"%s\": %lld out of range", key, (long long)i);
    *out = (uint64_t)i;
    return 0;
}

static int get_u32(parser *ps, json_t *o, const char *key, uint32_t *out)
{
    uint64_t v;
    int rc = get_uint(ps, o, key, UINT32_MAX, &v);

    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

static int get_int32(parser *ps, json_t *o, const char *key, int32_t *out)
{
    json_t *v = json_object_get(o, key);
    json_int_t i;

    if (!json_is_integer(v))
        return PFAIL(ps, "\"%s\": missing or not an integer", key);
    i = json_integer_value(v);
    if (i < INT32_MIN || i > INT32_MAX)
        return PFAIL(ps, "\"%s\": %lld out of range", key, (long long)i);
    *out = (int32_t)i;
    return 0;
}

static int get_string(parser *ps, json_t *o, const char *key, proto_str *out)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        return PFAIL(ps, "\"%s\": missing or not a string", key);
    if (json_string_length(v) > PROTO_MAX_BYTES)
        return proto__error(ps->err, ps->errlen, PROTO_ERR_LIMIT,
                            "\"%s\": string too long", key);
    out->ptr = json_string_value(v);
    out->len = (uint32_t)json_string_length(v);
    return 0;
}

/* A decimal string: unsigned up to max, or (signed) down to -(max/2+1). */
static int parse_number(parser *ps, const char *s, uint64_t max, bool allow_neg,
                        uint64_t *out)
{
    char *end;
    int neg = s[0] == '-';

    if (!((s[neg] >= '0' && s[neg] <= '9')) || (neg && !allow_neg))
        return PFAIL(ps, "value \"%s\" is not a decimal number", s);
    errno = 0;
    if (neg) {
        long long v = strtoll(s, &end, 10);
        long long min = -(long long)(max / 2) - 1;

        if (errno || *end || v < min)
            return PFAIL(ps, "value \"%s\" out of range", s);
        *out = (uint64_t)v & max;
    } else {
        unsigned long long v = strtoull(s, &end, 10);

        if (errno || *end || v > max)
            return PFAIL(ps, "value \"%s\" out of range", s);
        *out = v;
    }
    return 0;
}

static int val_from_json(parser *ps, json_t *j, proto_val *v)
{
    json_t *type = json_object_get(j, "type"), *value = json_object_get(j, "value");
    uint64_t u;
    int t, rc;

    memset(v, 0, sizeof *v);
    if (!json_is_object(j) || !json_is_string(type))
        return PFAIL(ps, "value: not an object with a \"type\"");
    t = valtype_from_name(json_string_value(type));
    if (t < 0)
        return PFAIL(ps, "value: unknown type \"%s\"", json_string_value(type));
    v->type = (uint8_t)t;
    if (t == VM_V128) {
        if (!json_is_array(value) || json_array_size(value) != 4)
            return PFAIL(ps, "v128 value: expected 4 i32 lanes");
        for (size_t i = 0; i < 4; i++) {
            json_t *lane = json_array_get(value, i);

            if (!json_is_string(lane))
                return PFAIL(ps, "v128 lane %zu: not a string", i);
            rc = parse_number(ps, json_string_value(lane), UINT32_MAX, true, &u);
            if (rc < 0)
                return rc;
            proto__put_u32(v->of.v128 + 4 * i, (uint32_t)u);
        }
        return 0;
    }
    if (!json_is_string(value))
        return PFAIL(ps, "%s value: \"value\" is not a string",
                     json_string_value(type));
    switch (t) {
    case VM_I32:
    case VM_F32:
        if ((rc = parse_number(ps, json_string_value(value), UINT32_MAX,
                               t == VM_I32, &u)) < 0)
            return rc;
        if (t == VM_I32)
            v->of.i32 = (int32_t)(uint32_t)u;
        else
            v->of.f32_bits = (uint32_t)u;
        return 0;
    case VM_I64:
    case VM_F64:
        if ((rc = parse_number(ps, json_string_value(value), UINT64_MAX,
                               t == VM_I64, &u)) < 0)
            return rc;
        if (t == VM_I64)
            v->of.i64 = (int64_t)u;
        else
            v->of.f64_bits = u;
        return 0;
    default:
        if (strcmp(json_string_value(value), "null") == 0) {
            v->of.ref = PROTO_REF_NULL;
            return 0;
        }
        if ((rc = parse_number(ps, json_string_value(value), UINT64_MAX - 1,
                               false, &u)) < 0)
            return rc;
        v->of.ref = u;
        return 0;
    }
}

static int vals_from_json(parser *ps, json_t *o, const char *key,
                          proto_val *store, proto_vals *out)
{
    json_t *a = json_object_get(o, key);
    int rc;

    for (size_t i = 0; i < json_array_size(a); i++)
        if ((rc = val_from_json(ps, json_array_get(a, i), &store[i])) < 0)
            return rc;
    out->items = store;
    out->count = (uint32_t)json_array_size(a);
    return 0;
}

static int b64val(int c)
{
    const char *p = c ? strchr(b64chars, c) : NULL;

    return p ? (int)(p - b64chars) : -1;
}

/* Decode base64 s (length n) into out; returns the byte count or -1. */
static long unbase64(const char *s, size_t n, uint8_t *out)
{
    size_t o = 0;

    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int a = b64val(s[i]), b = b64val(s[i + 1]);
        int c = s[i + 2] == '=' ? -2 : b64val(s[i + 2]);
        int d = s[i + 3] == '=' ? -2 : b64val(s[i + 3]);
        uint32_t v;

        if (a < 0 || b < 0 || c == -1 || d == -1 ||
            (c == -2 && d != -2) || ((c == -2 || d == -2) && i + 4 != n))
            return -1;
        v = (uint32_t)a << 18 | (uint32_t)b << 12;
        out[o++] = (uint8_t)(v >> 16);
        if (c >= 0) {
            v |= (uint32_t)c << 6;
            out[o++] = (uint8_t)(v >> 8);
        }
        if (d >= 0)
            out[o++] = (uint8_t)(v | (uint32_t)d);
    }
    return (long)o;
}

/* The value array under key, checked, and the storage it needs. */
static int vals_count(parser *ps, json_t *o, const char *key, size_t *bytes)
{
    json_t *a = json_object_get(o, key);

    if (!json_is_array(a))
        return PFAIL(ps, "\"%s\": missing or not an array", key);
    if (json_array_size(a) > PROTO_MAX_VALS)
        return proto__error(ps->err, ps->errlen, PROTO_ERR_LIMIT,
                            "\"%s\": too many values", key);
    *bytes = json_array_size(a) * sizeof(proto_val);
    return 0;
}

static const char *vals_key(proto_event_type t)
{
    switch (t) {
    case PROTO_CALL: case PROTO_HOST_CALL: return "args";
    case PROTO_RETURN: case PROTO_HOST_RETURN: case PROTO_RUN_END:
        return "results";
    case PROTO_THROW: return "payload";
    default: return NULL;
    }
}

static int run_start_from_json(parser *ps, json_t *j, proto_event *ev)
{
    proto_run_start *x = &ev->as.run_start;
    json_t *argv = json_object_get(j, "args"), *imports = json_object_get(j, "imports");
    json_t *id = json_object_get(j, "run_id"), *hash = json_object_get(j, "hash");
    json_t *level = json_object_get(j, "level");
    proto_str *av;
    proto_import *im;
    uint64_t run_id = 0;
    int rc, lv;

    if (!json_is_string(id) || json_string_length(id) != 16 ||
        proto_unhex(json_string_value(id), 8, (uint8_t *)&run_id) < 0)
        return PFAIL(ps, "\"run_id\": expected 16 hex digits");
    x->run_id = 0;
    for (int i = 0; i < 8; i++)
        x->run_id = x->run_id << 8 | ((uint8_t *)&run_id)[i];
    if (!json_is_string(hash) || json_string_length(hash) != 64 ||
        proto_unhex(json_string_value(hash), 32, x->hash) < 0)
        return PFAIL(ps, "\"hash\": expected 64 hex digits");
    if (!json_is_string(level) ||
        (lv = proto_level_from_name(json_string_value(level))) < 0)
        return PFAIL(ps, "\"level\": expected calls, ops or lines");
    x->level = (proto_level)lv;
    if ((rc = get_uint(ps, j, "wall_ns", INT64_MAX, &x->wall_ns)) < 0 ||
        (rc = get_string(ps, j, "module", &x->module)) < 0)
        return rc;
    if (!json_is_array(argv) || !json_is_array(imports))
        return PFAIL(ps, "\"args\" and \"imports\" must be arrays");
    if (json_array_size(argv) > PROTO_MAX_STRS ||
        json_array_size(imports) > PROTO_MAX_STRS)
        return proto__error(ps->err, ps->errlen, PROTO_ERR_LIMIT,
                            "too many arguments or imports");
    av = ev->mem.buf;
    im = (proto_import *)(av + json_array_size(argv));
    for (size_t i = 0; i < json_array_size(argv); i++) {
        json_t *s = json_array_get(argv, i);

        if (!json_is_string(s))
            return PFAIL(ps, "\"args\"[%zu]: not a string", i);
        av[i] = (proto_str){json_string_value(s), (uint32_t)json_string_length(s)};
    }
    for (size_t i = 0; i < json_array_size(imports); i++) {
        json_t *imp = json_array_get(imports, i);

        if ((rc = get_string(ps, imp, "module", &im[i].module)) < 0 ||
            (rc = get_string(ps, imp, "name", &im[i].name)) < 0)
            return rc;
    }
    x->argv = av;
    x->argc = (uint32_t)json_array_size(argv);
    x->imports = im;
    x->nimports = (uint32_t)json_array_size(imports);
    x->files = NULL;
    x->nfiles = 0;
    if (x->level == PROTO_LEVEL_LINES) {
        json_t *files = json_object_get(j, "files");
        proto_str *fs = (proto_str *)(im + x->nimports);

        if (!json_is_array(files))
            return PFAIL(ps, "\"files\": level lines needs an array");
        if (json_array_size(files) > PROTO_MAX_STRS)
            return proto__error(ps->err, ps->errlen, PROTO_ERR_LIMIT,
                                "too many files");
        for (size_t i = 0; i < json_array_size(files); i++) {
            json_t *f = json_array_get(files, i);

            if (!json_is_string(f))
                return PFAIL(ps, "\"files\"[%zu]: not a string", i);
            fs[i] = (proto_str){json_string_value(f),
                                (uint32_t)json_string_length(f)};
        }
        x->files = json_array_size(files) ? fs : NULL;
        x->nfiles = (uint32_t)json_array_size(files);
    }
    return 0;
}

static int body_from_json(parser *ps, json_t *j, proto_event *ev)
{
    const char *key = vals_key(ev->type);
    proto_val *store = ev->mem.buf;
    int rc;

    switch (ev->type) {
    case PROTO_RUN_START:
        return run_start_from_json(ps, j, ev);
    case PROTO_CALL:
        if ((rc = get_u32(ps, j, "func", &ev->as.call.func)) < 0 ||
            (rc = get_u32(ps, j, "depth", &ev->as.call.depth)) < 0)
            return rc;
        return vals_from_json(ps, j, key, store, &ev->as.call.args);
    case PROTO_RETURN:
        if ((rc = get_u32(ps, j, "func", &ev->as.ret.func)) < 0 ||
            (rc = get_u32(ps, j, "depth", &ev->as.ret.depth)) < 0)
            return rc;
        return vals_from_json(ps, j, key, store, &ev->as.ret.results);
    case PROTO_HOST_CALL:
    case PROTO_HOST_RETURN:
        if ((rc = get_u32(ps, j, "func", &ev->as.host.func)) < 0 ||
            (rc = get_u32(ps, j, "import", &ev->as.host.import)) < 0)
            return rc;
        return vals_from_json(ps, j, key, store, &ev->as.host.vals);
    case PROTO_OP: {
        uint32_t opcode, prefix = 0;

        if ((rc = get_u32(ps, j, "opcode", &opcode)) < 0 ||
            (rc = get_u32(ps, j, "offset", &ev->as.op.offset)) < 0)
            return rc;
        if (json_object_get(j, "prefix") &&
            (rc = get_u32(ps, j, "prefix", &prefix)) < 0)
            return rc;
        if (prefix) {
            if (!PROTO_OPCODE_IS_PREFIX(prefix) || opcode > 0xffffff)
                return PFAIL(ps, "bad prefix %u / opcode %u", prefix, opcode);
            ev->as.op.opcode = PROTO_OPCODE(prefix, opcode);
        } else {
            if (opcode > 0xff || PROTO_OPCODE_IS_PREFIX(opcode))
                return PFAIL(ps, "bad opcode %u", opcode);
            ev->as.op.opcode = opcode;
        }
        return 0;
    }
    case PROTO_THROW:
        if ((rc = get_u32(ps, j, "tag", &ev->as.throw_.tag)) < 0)
            return rc;
        return vals_from_json(ps, j, key, store, &ev->as.throw_.payload);
    case PROTO_TRAP:
        if ((rc = get_int32(ps, j, "code", &ev->as.trap.code)) < 0)
            return rc;
        return get_string(ps, j, "message", &ev->as.trap.message);
    case PROTO_OUTPUT: {
        json_t *b64 = json_object_get(j, "base64");
        long n;

        if ((rc = get_u32(ps, j, "fd", &ev->as.output.fd)) < 0)
            return rc;
        if (!b64)
            return get_string(ps, j, "text", &ev->as.output.data);
        n = unbase64(json_string_value(b64), json_string_length(b64),
                     ev->mem.buf);
        if (n < 0)
            return PFAIL(ps, "\"base64\": invalid base64");
        ev->as.output.data = (proto_str){ev->mem.buf, (uint32_t)n};
        return 0;
    }
    case PROTO_STEP:
        if ((rc = get_u32(ps, j, "file", &ev->as.step.file)) < 0 ||
            (rc = get_u32(ps, j, "line", &ev->as.step.line)) < 0)
            return rc;
        return get_u32(ps, j, "column", &ev->as.step.column);
    case PROTO_LOSS:
        if ((rc = get_uint(ps, j, "count", INT64_MAX, &ev->as.loss.count)) < 0)
            return rc;
        if (ev->as.loss.count == 0)
            return PFAIL(ps, "\"count\": a loss of zero events");
        return 0;
    case PROTO_OPS:
        if ((rc = get_u32(ps, j, "offset", &ev->as.ops.offset)) < 0 ||
            (rc = get_uint(ps, j, "count", INT64_MAX, &ev->as.ops.count)) < 0)
            return rc;
        if (!proto__span_ok(ev->seq, ev->as.ops.count))
            return PFAIL(ps, "\"count\": an ops run of %llu events at seq "
                             "%llu", (unsigned long long)ev->as.ops.count,
                         (unsigned long long)ev->seq);
        return 0;
    case PROTO_STEPS:
        if ((rc = get_u32(ps, j, "point", &ev->as.steps.point)) < 0 ||
            (rc = get_uint(ps, j, "count", INT64_MAX,
                           &ev->as.steps.count)) < 0)
            return rc;
        if (!proto__span_ok(ev->seq, ev->as.steps.count))
            return PFAIL(ps, "\"count\": a steps run of %llu events at "
                             "seq %llu", (unsigned long long)ev->as.steps.count,
                         (unsigned long long)ev->seq);
        return 0;
    case PROTO_RUN_END: {
        proto_run_end *x = &ev->as.run_end;
        json_t *status = json_object_get(j, "status"),
               *c = json_object_get(j, "counters");
        int st;

        if (!json_is_string(status) ||
            (st = proto_status_from_name(json_string_value(status))) < 0)
            return PFAIL(ps, "\"status\": unknown status");
        x->status = (proto_status)st;
        if ((rc = get_int32(ps, j, "exit_code", &x->exit_code)) < 0)
            return rc;
        if (!json_is_object(c))
            return PFAIL(ps, "\"counters\": missing or not an object");
        if ((rc = get_uint(ps, c, "ops", INT64_MAX, &x->counters.ops)) < 0 ||
            (rc = get_uint(ps, c, "calls", INT64_MAX, &x->counters.calls)) < 0 ||
            (rc = get_uint(ps, c, "host_calls", INT64_MAX,
                           &x->counters.host_calls)) < 0 ||
            (rc = get_uint(ps, c, "max_depth", INT64_MAX,
                           &x->counters.max_depth)) < 0 ||
            (rc = get_uint(ps, c, "throws", INT64_MAX, &x->counters.throws)) < 0 ||
            (rc = get_uint(ps, c, "traps", INT64_MAX, &x->counters.traps)) < 0)
            return rc;
        return vals_from_json(ps, j, key, store, &x->results);
    }
    }
    return PFAIL(ps, "unknown event type");
}

int proto_event_from_json(json_t *j, proto_event *ev, char *err, size_t errlen)
{
    parser ps = {err, errlen};
    proto_event_mem mem = ev->mem;
    json_t *type = json_object_get(j, "type");
    const char *key;
    size_t need = 0;
    int rc;

    memset(ev, 0, sizeof *ev);
    ev->mem = mem;
    if (!json_is_object(j))
        return PFAIL(&ps, "event: not an object");
    if (!json_is_string(type) ||
        !(ev->type = proto_event_type_from_name(json_string_value(type))))
        return PFAIL(&ps, "\"type\": missing or unknown");
    if ((rc = get_uint(&ps, j, "seq", INT64_MAX, &ev->seq)) < 0 ||
        (rc = get_uint(&ps, j, "t", INT64_MAX, &ev->t_ns)) < 0)
        return rc;
    /* Storage first (it drops the previous JSON reference), then keep j. */
    key = vals_key(ev->type);
    if (key && (rc = vals_count(&ps, j, key, &need)) < 0)
        return rc;
    if (ev->type == PROTO_RUN_START)
        need = json_array_size(json_object_get(j, "args")) * sizeof(proto_str) +
               json_array_size(json_object_get(j, "imports")) *
                   sizeof(proto_import) +
               json_array_size(json_object_get(j, "files")) *
                   sizeof(proto_str);
    if (ev->type == PROTO_OUTPUT && json_object_get(j, "base64")) {
        json_t *b64 = json_object_get(j, "base64");

        if (!json_is_string(b64))
            return PFAIL(&ps, "\"base64\": not a string");
        need = json_string_length(b64) / 4 * 3 + 3;
    }
    if ((rc = proto__event_reserve(ev, need)) < 0)
        return rc;
    ev->mem.json = json_incref(j);
    return body_from_json(&ps, j, ev);
}
