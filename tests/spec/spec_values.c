/*
 * Values in wast2json scripts: integers are unsigned decimal strings of
 * the bit pattern, floats decimal strings of their bit pattern (or the
 * patterns "nan:canonical" / "nan:arithmetic" in expected results), v128
 * an array of lane strings with a lane_type, references "null" or a
 * number N for "ref.extern N".
 */
#include "spec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F32_SIGN 0x80000000u
#define F32_QUIET 0x00400000u
#define F32_EXP 0x7f800000u
#define F64_SIGN 0x8000000000000000ull
#define F64_QUIET 0x0008000000000000ull
#define F64_EXP 0x7ff0000000000000ull

void *spec_extern_ref(uint64_t n)
{
    /* N + 1 so that "ref.extern 0" is not the null reference. */
    return (void *)(uintptr_t)(n + 1);
}

static const char *jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Unsigned decimal bit pattern of at most `bits` bits. */
static int parse_bits(const char *s, unsigned bits, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    if (bits < 64 && v >> bits)
        return -1;
    *out = v;
    return 0;
}

static int type_from_name(const char *name, vm_valtype *out)
{
    static const struct {
        const char *name;
        vm_valtype type;
    } types[] = {
        {"i32", VM_I32},         {"i64", VM_I64},
        {"f32", VM_F32},         {"f64", VM_F64},
        {"v128", VM_V128},       {"funcref", VM_FUNCREF},
        {"externref", VM_EXTERNREF},
    };

    for (size_t i = 0; name && i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(name, types[i].name) == 0) {
            *out = types[i].type;
            return 0;
        }
    }
    return -1;
}

/* Lane shape of a v128 value: lane count and lane width in bytes. */
static int lane_shape(const char *lane_type, unsigned *nlanes,
                      unsigned *width, bool *is_float)
{
    static const struct {
        const char *name;
        unsigned width;
        bool is_float;
    } shapes[] = {
        {"i8", 1, false},  {"i16", 2, false}, {"i32", 4, false},
        {"i64", 8, false}, {"f32", 4, true},  {"f64", 8, true},
    };

    for (size_t i = 0; lane_type && i < sizeof shapes / sizeof shapes[0];
         i++) {
        if (strcmp(lane_type, shapes[i].name) == 0) {
            *width = shapes[i].width;
            *nlanes = 16 / shapes[i].width;
            *is_float = shapes[i].is_float;
            return 0;
        }
    }
    return -1;
}

static uint64_t lane_get(const uint8_t *v128, unsigned lane, unsigned width)
{
    uint64_t x = 0;

    for (unsigned b = 0; b < width; b++) /* lanes are little-endian */
        x |= (uint64_t)v128[lane * width + b] << (8 * b);
    return x;
}

static void lane_set(uint8_t *v128, unsigned lane, unsigned width,
                     uint64_t x)
{
    for (unsigned b = 0; b < width; b++)
        v128[lane * width + b] = (uint8_t)(x >> (8 * b));
}

int spec_val_parse(const json_t *j, vm_val *out, char *err, size_t errlen)
{
    const char *tname = jstr(j, "type");
    const json_t *jv = json_object_get(j, "value");
    const char *s = json_string_value(jv);
    uint64_t bits;

    memset(out, 0, sizeof *out);
    if (type_from_name(tname, &out->type) < 0) {
        snprintf(err, errlen, "unsupported value type \"%s\"",
                 tname ? tname : "?");
        return -1;
    }
    switch (out->type) {
    case VM_I32:
    case VM_F32:
        if (parse_bits(s, 32, &bits) < 0)
            goto bad_value;
        out->of.f32_bits = (uint32_t)bits; /* same bits as i32 */
        return 0;
    case VM_I64:
    case VM_F64:
        if (parse_bits(s, 64, &bits) < 0)
            goto bad_value;
        out->of.f64_bits = bits;
        return 0;
    case VM_V128: {
        unsigned nlanes, width;
        bool is_float;

        if (lane_shape(jstr(j, "lane_type"), &nlanes, &width, &is_float) <
                0 ||
            !json_is_array(jv) || json_array_size(jv) != nlanes)
            goto bad_value;
        for (unsigned i = 0; i < nlanes; i++) {
            if (parse_bits(json_string_value(json_array_get(jv, i)),
                           width * 8, &bits) < 0)
                goto bad_value;
            lane_set(out->of.v128, i, width, bits);
        }
        return 0;
    }
    case VM_FUNCREF:
        /* A script can only pass ref.null as a funcref argument. */
        if (!s || strcmp(s, "null") != 0)
            goto bad_value;
        out->of.ref = NULL;
        return 0;
    case VM_EXTERNREF:
        if (s && strcmp(s, "null") == 0) {
            out->of.ref = NULL;
            return 0;
        }
        if (parse_bits(s, 64, &bits) < 0)
            goto bad_value;
        out->of.ref = spec_extern_ref(bits);
        return 0;
    }
bad_value:
    snprintf(err, errlen, "cannot parse %s value", tname);
    return -1;
}

/* One float (or float lane) against an expected string. */
static bool float_match(const char *expected, uint64_t got, bool is_f64)
{
    uint64_t exp_mask = is_f64 ? F64_EXP : F32_EXP;
    uint64_t quiet = is_f64 ? F64_QUIET : F32_QUIET;
    uint64_t sign = is_f64 ? F64_SIGN : F32_SIGN;
    uint64_t want;

    if (!expected)
        return false;
    if (strcmp(expected, "nan:canonical") == 0)
        return (got & ~sign) == (exp_mask | quiet); /* either sign */
    if (strcmp(expected, "nan:arithmetic") == 0)
        return (got & (exp_mask | quiet)) == (exp_mask | quiet);
    if (parse_bits(expected, is_f64 ? 64 : 32, &want) < 0)
        return false;
    return got == want;
}

static bool v128_match(const json_t *expected, const vm_val *got)
{
    const json_t *jv = json_object_get(expected, "value");
    unsigned nlanes, width;
    bool is_float;
    uint64_t want;

    if (lane_shape(jstr(expected, "lane_type"), &nlanes, &width,
                   &is_float) < 0 ||
        !json_is_array(jv) || json_array_size(jv) != nlanes)
        return false;
    for (unsigned i = 0; i < nlanes; i++) {
        const char *s = json_string_value(json_array_get(jv, i));
        uint64_t lane = lane_get(got->of.v128, i, width);

        if (is_float) {
            if (!float_match(s, lane, width == 8))
                return false;
        } else if (parse_bits(s, width * 8, &want) < 0 || lane != want) {
            return false;
        }
    }
    return true;
}

static bool value_match(const json_t *expected, vm_valtype type,
                        const vm_val *got)
{
    const char *s = jstr(expected, "value");
    uint64_t want;

    switch (type) {
    case VM_I32:
        return parse_bits(s, 32, &want) == 0 &&
               (uint32_t)got->of.i32 == want;
    case VM_I64:
        return parse_bits(s, 64, &want) == 0 &&
               (uint64_t)got->of.i64 == want;
    case VM_F32:
        return float_match(s, got->of.f32_bits, false);
    case VM_F64:
        return float_match(s, got->of.f64_bits, true);
    case VM_V128:
        return v128_match(expected, got);
    case VM_FUNCREF:
        /* "null" is ref.null; anything else stands for "some ref.func". */
        if (s && strcmp(s, "null") == 0)
            return got->of.ref == NULL;
        return got->of.ref != NULL;
    case VM_EXTERNREF:
        if (s && strcmp(s, "null") == 0)
            return got->of.ref == NULL;
        return parse_bits(s, 64, &want) == 0 &&
               got->of.ref == spec_extern_ref(want);
    }
    return false;
}

bool spec_val_match(const json_t *expected, const vm_val *got, char *why,
                    size_t whylen)
{
    vm_valtype type;
    char want[256], have[256];

    if (type_from_name(jstr(expected, "type"), &type) == 0 &&
        type == got->type && value_match(expected, type, got))
        return true;
    spec_json_format(expected, want, sizeof want);
    spec_val_format(got, have, sizeof have);
    snprintf(why, whylen, "expected %s, got %s", want, have);
    return false;
}

static void format_float(char *buf, size_t len, uint64_t bits, bool is_f64)
{
    if (is_f64) {
        double d;

        memcpy(&d, &bits, sizeof d);
        snprintf(buf, len, "%.17g (0x%016" PRIx64 ")", d, bits);
    } else {
        uint32_t b32 = (uint32_t)bits;
        float f;

        memcpy(&f, &b32, sizeof f);
        snprintf(buf, len, "%.9g (0x%08" PRIx32 ")", (double)f, b32);
    }
}

void spec_val_format(const vm_val *v, char *buf, size_t len)
{
    char num[64];

    switch (v->type) {
    case VM_I32:
        snprintf(buf, len, "i32:%" PRIu32 " (0x%08" PRIx32 ")",
                 (uint32_t)v->of.i32, (uint32_t)v->of.i32);
        return;
    case VM_I64:
        snprintf(buf, len, "i64:%" PRIu64 " (0x%016" PRIx64 ")",
                 (uint64_t)v->of.i64, (uint64_t)v->of.i64);
        return;
    case VM_F32:
        format_float(num, sizeof num, v->of.f32_bits, false);
        snprintf(buf, len, "f32:%s", num);
        return;
    case VM_F64:
        format_float(num, sizeof num, v->of.f64_bits, true);
        snprintf(buf, len, "f64:%s", num);
        return;
    case VM_V128: {
        size_t n = (size_t)snprintf(buf, len, "v128:i32x4");

        for (unsigned i = 0; i < 4 && n < len; i++)
            n += (size_t)snprintf(buf + n, len - n, " 0x%08" PRIx64,
                                  lane_get(v->of.v128, i, 4));
        return;
    }
    case VM_FUNCREF:
    case VM_EXTERNREF:
        if (!v->of.ref)
            snprintf(buf, len, "%s:null", vm_valtype_name(v->type));
        else if (v->type == VM_EXTERNREF)
            snprintf(buf, len, "externref:%" PRIuPTR " (host %p)",
                     (uintptr_t)v->of.ref - 1, v->of.ref);
        else
            snprintf(buf, len, "funcref:%p", v->of.ref);
        return;
    }
    snprintf(buf, len, "<type 0x%02x>", (unsigned)v->type);
}

void spec_json_format(const json_t *j, char *buf, size_t len)
{
    const char *tname = jstr(j, "type");
    const json_t *jv = json_object_get(j, "value");
    vm_val v;
    char err[64];

    if (json_is_array(jv)) {
        const char *lane_type = jstr(j, "lane_type");
        size_t n = (size_t)snprintf(buf, len, "v128:%s",
                                    lane_type ? lane_type : "?");

        for (size_t i = 0; i < json_array_size(jv) && n < len; i++) {
            const char *s = json_string_value(json_array_get(jv, i));
            n += (size_t)snprintf(buf + n, len - n, " %s", s ? s : "?");
        }
        return;
    }
    if (json_is_string(jv) &&
        strncmp(json_string_value(jv), "nan:", 4) == 0) {
        snprintf(buf, len, "%s:%s", tname ? tname : "?",
                 json_string_value(jv));
        return;
    }
    if (json_is_string(jv) && spec_val_parse(j, &v, err, sizeof err) == 0) {
        spec_val_format(&v, buf, len);
        return;
    }
    snprintf(buf, len, "%s:%s", tname ? tname : "?",
             json_is_string(jv) ? json_string_value(jv) : "?");
}
