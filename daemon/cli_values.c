/* Command-line values; see cli_values.h. */
#include "cli_values.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Integer text: optional sign, then 0x hex or decimal. Gives the
 * magnitude and the sign; the caller checks the range. */
static int parse_int(const char *s, bool *negative, uint64_t *magnitude)
{
    char *end;
    int base = 10;

    *negative = false;
    if (*s == '-' || *s == '+')
        *negative = *s++ == '-';
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!isxdigit((unsigned char)*s))
        return -1;
    errno = 0;
    *magnitude = strtoull(s, &end, base);
    return errno || *end ? -1 : 0;
}

/* An integer of `bits` bits: accepts -2^(bits-1) .. 2^bits - 1. */
static int int_bits(const char *s, unsigned bits, uint64_t *out)
{
    uint64_t mag, umax = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
    bool neg;

    if (parse_int(s, &neg, &mag) < 0)
        return -1;
    if (!neg) {
        if (mag > umax)
            return -1;
        *out = mag;
        return 0;
    }
    if (mag > 1ull << (bits - 1))
        return -1;
    *out = (0 - mag) & umax;
    return 0;
}

/* "nan:0x..." with an optional sign: a NaN with that payload. */
static int nan_payload(const char *s, bool is_f64, uint64_t *bits)
{
    uint64_t payload, max = is_f64 ? (1ull << 52) - 1 : (1ull << 23) - 1;
    bool neg = false;
    char *end;

    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (strncasecmp(s, "nan:0x", 6) != 0 || !isxdigit((unsigned char)s[6]))
        return -1;
    errno = 0;
    payload = strtoull(s + 6, &end, 16);
    if (errno || *end || payload == 0 || payload > max)
        return -1;
    if (is_f64)
        *bits = (neg ? 1ull << 63 : 0) | 0x7ff0000000000000ull | payload;
    else
        *bits = (neg ? 1ull << 31 : 0) | 0x7f800000u | payload;
    return 0;
}

static int parse_float(const char *s, bool is_f64, uint64_t *bits)
{
    char *end;

    if (nan_payload(s, is_f64, bits) == 0)
        return 0;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    if (is_f64) {
        double d = strtod(s, &end);

        if (*end || (errno && !isinf(d) && d != 0))
            return -1;
        memcpy(bits, &d, sizeof d);
    } else {
        float f = strtof(s, &end);
        uint32_t b;

        if (*end || (errno && !isinf(f) && f != 0))
            return -1;
        memcpy(&b, &f, sizeof b);
        *bits = b;
    }
    return 0;
}

int cli_value_parse(const char *text, vm_valtype type, vm_val *out,
                    char *err, size_t errlen)
{
    const char *tname = vm_valtype_name(type);
    const char *s = text;
    const char *colon = strchr(text, ':');
    uint64_t bits;
    int rc = -1;

    memset(out, 0, sizeof *out);
    out->type = type;
    /* A type prefix, unless the colon is the one of "nan:0x...". */
    if (colon &&
        !(colon - text >= 3 && strncasecmp(colon - 3, "nan", 3) == 0)) {
        size_t n = (size_t)(colon - text);

        if (strlen(tname) != n || strncmp(text, tname, n) != 0) {
            snprintf(err, errlen, "\"%s\" is not a %s", text, tname);
            return VM_ERR_ARG;
        }
        s = colon + 1;
    }

    switch (type) {
    case VM_I32:
        if ((rc = int_bits(s, 32, &bits)) == 0)
            out->of.i32 = (int32_t)(uint32_t)bits;
        break;
    case VM_I64:
        if ((rc = int_bits(s, 64, &bits)) == 0)
            out->of.i64 = (int64_t)bits;
        break;
    case VM_F32:
        if ((rc = parse_float(s, false, &bits)) == 0)
            out->of.f32_bits = (uint32_t)bits;
        break;
    case VM_F64:
        if ((rc = parse_float(s, true, &bits)) == 0)
            out->of.f64_bits = bits;
        break;
    case VM_FUNCREF:
    case VM_EXTERNREF:
        if (strcmp(s, "null") == 0) {
            out->of.ref = NULL;
            rc = 0;
        }
        break;
    case VM_V128:
        snprintf(err, errlen, "v128 arguments are not supported yet");
        return VM_ERR_ARG;
    }
    if (rc < 0) {
        snprintf(err, errlen, "\"%s\" is not a valid %s", text, tname);
        return VM_ERR_ARG;
    }
    return 0;
}

static int format_float(char *buf, size_t len, const char *tname, double d,
                        bool is_f64)
{
    if (isnan(d))
        return snprintf(buf, len, "%s:%snan", tname, signbit(d) ? "-" : "");
    if (isinf(d))
        return snprintf(buf, len, "%s:%sinf", tname, d < 0 ? "-" : "");
    return snprintf(buf, len, is_f64 ? "%s:%.17g" : "%s:%.9g", tname, d);
}

int cli_value_format(const vm_val *v, char *buf, size_t len)
{
    switch (v->type) {
    case VM_I32:
        return snprintf(buf, len, "i32:%" PRIu32, (uint32_t)v->of.i32);
    case VM_I64:
        return snprintf(buf, len, "i64:%" PRIu64, (uint64_t)v->of.i64);
    case VM_F32: {
        float f;

        memcpy(&f, &v->of.f32_bits, sizeof f);
        return format_float(buf, len, "f32", (double)f, false);
    }
    case VM_F64: {
        double d;

        memcpy(&d, &v->of.f64_bits, sizeof d);
        return format_float(buf, len, "f64", d, true);
    }
    case VM_V128: {
        uint32_t lane[4];

        for (int i = 0; i < 4; i++)
            lane[i] = (uint32_t)v->of.v128[4 * i] |
                      (uint32_t)v->of.v128[4 * i + 1] << 8 |
                      (uint32_t)v->of.v128[4 * i + 2] << 16 |
                      (uint32_t)v->of.v128[4 * i + 3] << 24;
        return snprintf(buf, len,
                        "v128 i32x4:0x%08" PRIx32 " 0x%08" PRIx32
                        " 0x%08" PRIx32 " 0x%08" PRIx32,
                        lane[0], lane[1], lane[2], lane[3]);
    }
    case VM_FUNCREF:
    case VM_EXTERNREF:
        if (!v->of.ref)
            return snprintf(buf, len, "%s:0", vm_valtype_name(v->type));
        return snprintf(buf, len, "%s:%p", vm_valtype_name(v->type),
                        v->of.ref);
    }
    return snprintf(buf, len, "?:0x%02x", (unsigned)v->type);
}

int cli_read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0, r;
    bool failed = false;

    if (!f)
        return -1;
    do {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 65536);

            if (!nb) {
                errno = ENOMEM;
                failed = true;
                break;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    if (failed || ferror(f)) {
        int saved = errno ? errno : EIO;

        fclose(f);
        free(buf);
        errno = saved;
        return -1;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
}
