/*
 * SIMD suite: the lane semantics that are easy to get wrong (saturation,
 * rounding, NaN and signed zero, out-of-range indices, shift counts,
 * wrapping products), the SIMD validation rules, and the compiler paths
 * particular to v128 (constant-pool pairs and their overflow, results
 * written over their own operands). Each test builds a one-function
 * module in memory, so the whole pipeline (decode, validate, compile,
 * interp) runs, as it does for the spec suite.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "traced/vm.h"

Suite *simd_suite(void);

/* ---- Building a module -------------------------------------------------- */

typedef struct buf {
    uint8_t *b;
    size_t n, cap;
} buf;

static void put(buf *o, uint8_t x)
{
    if (o->n >= o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        uint8_t *nb = realloc(o->b, cap);

        ck_assert_ptr_nonnull(nb);
        o->b = nb;
        o->cap = cap;
    }
    o->b[o->n++] = x;
}

static void put_u32(buf *o, uint32_t v)
{
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        put(o, (uint8_t)(byte | (v ? 0x80 : 0)));
    } while (v);
}

static void put_bytes(buf *o, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(o, ((const uint8_t *)p)[i]);
}

static void put_section(buf *o, uint8_t id, const buf *content)
{
    put(o, id);
    put_u32(o, (uint32_t)content->n);
    put_bytes(o, content->b, content->n);
}

static uint8_t valtype(char c)
{
    switch (c) {
    case 'i': return 0x7f;
    case 'I': return 0x7e;
    case 'f': return 0x7d;
    case 'F': return 0x7c;
    default: return 0x7b; /* v */
    }
}

/* (module (memory 1)
 *   (func (export "f") (param <params>) (result <results>) <body>)) */
static int module_new(const char *params, const char *results,
                      const buf *body, vm_module **out, char *err,
                      size_t errlen)
{
    buf mod = {0}, sec = {0}, fn = {0};
    int rc;

    put_bytes(&mod, "\0asm\1\0\0\0", 8);
    put(&sec, 1); /* type */
    put(&sec, 0x60);
    put_u32(&sec, (uint32_t)strlen(params));
    for (const char *p = params; *p; p++)
        put(&sec, valtype(*p));
    put_u32(&sec, (uint32_t)strlen(results));
    for (const char *p = results; *p; p++)
        put(&sec, valtype(*p));
    put_section(&mod, 1, &sec);
    sec.n = 0;
    put_bytes(&sec, "\1\0", 2); /* one function of type 0 */
    put_section(&mod, 3, &sec);
    sec.n = 0;
    put_bytes(&sec, "\1\0\1", 3); /* memory 1 */
    put_section(&mod, 5, &sec);
    sec.n = 0;
    put_bytes(&sec, "\1\1f\0\0", 5); /* export "f" func 0 */
    put_section(&mod, 7, &sec);
    put(&fn, 0); /* no locals */
    put_bytes(&fn, body->b, body->n);
    put(&fn, 0x0b);
    sec.n = 0;
    put(&sec, 1);
    put_u32(&sec, (uint32_t)fn.n);
    put_bytes(&sec, fn.b, fn.n);
    put_section(&mod, 10, &sec);

    rc = vm_module_new(mod.b, mod.n, NULL, out, err, errlen);
    free(mod.b);
    free(sec.b);
    free(fn.b);
    return rc;
}

static void put_simd(buf *o, uint32_t op)
{
    put(o, 0xfd);
    put_u32(o, op);
}

/* Load, instantiate and call f once with args; returns the call's code. */
static int run_body(const char *params, const char *results, const buf *body,
                    const vm_val *args, vm_val *res)
{
    vm_module *m = NULL;
    vm_store *s = NULL;
    vm_instance *inst = NULL;
    vm_extern ex;
    char err[256] = "";
    int rc = module_new(params, results, body, &m, err, sizeof err);

    ck_assert_msg(rc == 0, "vm_module_new: %s (%s)", vm_err_name(rc), err);
    ck_assert_int_eq(vm_store_new(NULL, &s), 0);
    rc = vm_instance_new(s, m, NULL, 0, &inst, err, sizeof err);
    ck_assert_msg(rc == 0, "vm_instance_new: %s", err);
    ck_assert_int_eq(vm_instance_export(inst, "f", &ex), 0);
    rc = vm_func_call(s, ex.of.func, args, (uint32_t)strlen(params), res,
                      (uint32_t)strlen(results), err, sizeof err);
    vm_store_free(s);
    vm_module_free(m);
    return rc;
}

/* local.get of every param, then the SIMD op op with immediates imm. */
static int run_op(const char *params, const char *results, uint32_t op,
                  const uint8_t *imm, size_t nimm, const vm_val *args,
                  vm_val *res)
{
    buf body = {0};
    int rc;

    for (uint32_t i = 0; params[i]; i++) {
        put(&body, 0x20);
        put_u32(&body, i);
    }
    put_simd(&body, op);
    put_bytes(&body, imm, nimm);
    rc = run_body(params, results, &body, args, res);
    free(body.b);
    return rc;
}

static vm_val v128(const void *bytes)
{
    vm_val v = {.type = VM_V128};
    memcpy(v.of.v128, bytes, 16);
    return v;
}

static vm_val i32v(int32_t x)
{
    vm_val v = {.type = VM_I32, .of.i32 = x};
    return v;
}

/* Binary v128 op: out = op(a, b). */
static void binop(uint32_t op, const void *a, const void *b, void *out)
{
    vm_val args[2] = {v128(a), v128(b)}, res;

    ck_assert_int_eq(run_op("vv", "v", op, NULL, 0, args, &res), 0);
    memcpy(out, res.of.v128, 16);
}

/* Unary v128 op. */
static void unop(uint32_t op, const void *a, void *out)
{
    vm_val arg = v128(a), res;

    ck_assert_int_eq(run_op("v", "v", op, NULL, 0, &arg, &res), 0);
    memcpy(out, res.of.v128, 16);
}

/* v128 -> i32 op (tests, bitmask, extract_lane with lane imm). */
static int32_t to_i32(uint32_t op, const void *a, const uint8_t *imm,
                      size_t nimm)
{
    vm_val arg = v128(a), res;

    ck_assert_int_eq(run_op("v", "i", op, imm, nimm, &arg, &res), 0);
    return res.of.i32;
}

static bool f32_is_nan(uint32_t bits)
{
    return (bits & 0x7fffffffu) > 0x7f800000u;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* ---- Integer lanes ------------------------------------------------------ */

START_TEST(test_saturating)
{
    int8_t a[16] = {127, -128, 100, -100, 0}, b[16] = {1, -1, 100, -100, 0};
    int8_t r[16];
    uint8_t ua[16] = {0, 5, 255}, ub[16] = {1, 5, 1}, ur[16];
    uint16_t wa[8] = {65535, 1}, wb[8] = {1, 2}, wr[8];

    binop(0x6f, a, b, r); /* i8x16.add_sat_s */
    ck_assert_int_eq(r[0], 127);
    ck_assert_int_eq(r[1], -128);
    ck_assert_int_eq(r[2], 127);
    ck_assert_int_eq(r[3], -128);
    binop(0x73, ua, ub, ur); /* i8x16.sub_sat_u */
    ck_assert_uint_eq(ur[0], 0);
    ck_assert_uint_eq(ur[1], 0);
    ck_assert_uint_eq(ur[2], 254);
    binop(0x90, wa, wb, wr); /* i16x8.add_sat_u */
    ck_assert_uint_eq(wr[0], 65535);
    ck_assert_uint_eq(wr[1], 3);
}
END_TEST

START_TEST(test_avgr_q15_dot)
{
    uint8_t a[16] = {255, 0, 1, 2}, b[16] = {255, 1, 2, 2}, r[16];
    int16_t qa[8] = {INT16_MIN, 0x4000, -1, 32767};
    int16_t qb[8] = {INT16_MIN, 0x4000, 1, 32767}, qr[8];
    int16_t da[8], db[8];
    int32_t dr[4];

    binop(0x7b, a, b, r); /* i8x16.avgr_u: rounds up, no overflow */
    ck_assert_uint_eq(r[0], 255);
    ck_assert_uint_eq(r[1], 1);
    ck_assert_uint_eq(r[2], 2);
    ck_assert_uint_eq(r[3], 2);
    binop(0x82, qa, qb, qr); /* i16x8.q15mulr_sat_s */
    ck_assert_int_eq(qr[0], 32767); /* the one saturating case */
    ck_assert_int_eq(qr[1], 0x2000);
    ck_assert_int_eq(qr[2], 0);
    ck_assert_int_eq(qr[3], 32766);
    for (int i = 0; i < 8; i++)
        da[i] = db[i] = INT16_MIN;
    binop(0xba, da, db, dr); /* i32x4.dot_i16x8_s wraps */
    ck_assert_int_eq(dr[0], INT32_MIN);
    ck_assert_int_eq(dr[3], INT32_MIN);
}
END_TEST

START_TEST(test_extmul_narrow)
{
    uint16_t a[8] = {65535, 2, 3, 4, 65535, 0, 0, 0}, b[8] = {65535, 3, 4, 5,
                                                                2, 0, 0, 0};
    uint32_t r[4];
    int16_t na[8] = {300, -300, 127, -128, -5, 0, 255, 256};
    int16_t nb[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int8_t sr[16];
    uint8_t ur[16];

    binop(0xbe, a, b, r); /* i32x4.extmul_low_i16x8_u */
    ck_assert_uint_eq(r[0], 0xfffe0001u);
    ck_assert_uint_eq(r[1], 6);
    binop(0xbf, a, b, r); /* i32x4.extmul_high_i16x8_u */
    ck_assert_uint_eq(r[0], 131070);
    binop(0x65, na, nb, sr); /* i8x16.narrow_i16x8_s */
    ck_assert_int_eq(sr[0], 127);
    ck_assert_int_eq(sr[1], -128);
    ck_assert_int_eq(sr[2], 127);
    ck_assert_int_eq(sr[3], -128);
    ck_assert_int_eq(sr[8], 1); /* the second operand fills lanes 8-15 */
    binop(0x66, na, nb, ur); /* i8x16.narrow_i16x8_u: signed input */
    ck_assert_uint_eq(ur[0], 255);
    ck_assert_uint_eq(ur[1], 0);
    ck_assert_uint_eq(ur[4], 0);
    ck_assert_uint_eq(ur[6], 255);
    ck_assert_uint_eq(ur[7], 255);
}
END_TEST

START_TEST(test_extadd_extend)
{
    int8_t a[16] = {-128, -128, 127, 127, -1, 1};
    int16_t r[8];
    uint16_t ur[8];

    unop(0x7c, a, r); /* i16x8.extadd_pairwise_i8x16_s */
    ck_assert_int_eq(r[0], -256);
    ck_assert_int_eq(r[1], 254);
    ck_assert_int_eq(r[2], 0);
    unop(0x7d, a, ur); /* ..._u */
    ck_assert_uint_eq(ur[0], 256);
    ck_assert_uint_eq(ur[2], 256);
    unop(0x87, a, r); /* i16x8.extend_low_i8x16_s */
    ck_assert_int_eq(r[0], -128);
    unop(0x89, a, ur); /* i16x8.extend_low_i8x16_u */
    ck_assert_uint_eq(ur[0], 128);
}
END_TEST

START_TEST(test_shifts_mod_width)
{
    uint8_t a[16] = {0x81, 1};
    uint8_t r[16];
    int64_t la[2] = {-8, 8}, lr[2];
    vm_val args[2], res;

    args[0] = v128(a);
    args[1] = i32v(9); /* 9 mod 8 = 1 */
    ck_assert_int_eq(run_op("vi", "v", 0x6b, NULL, 0, args, &res), 0);
    memcpy(r, res.of.v128, 16);
    ck_assert_uint_eq(r[0], 0x02);
    ck_assert_uint_eq(r[1], 0x02);
    ck_assert_int_eq(run_op("vi", "v", 0x6c, NULL, 0, args, &res), 0);
    memcpy(r, res.of.v128, 16); /* i8x16.shr_s by 1 */
    ck_assert_uint_eq(r[0], 0xc0);
    args[0] = v128(la);
    args[1] = i32v(65); /* i64x2.shr_s by 65 mod 64 = 1 */
    ck_assert_int_eq(run_op("vi", "v", 0xcc, NULL, 0, args, &res), 0);
    memcpy(lr, res.of.v128, 16);
    ck_assert_int_eq(lr[0], -4);
    ck_assert_int_eq(lr[1], 4);
}
END_TEST

START_TEST(test_popcnt_bitmask_tests)
{
    uint8_t a[16] = {0xff, 0x80, 0x01, 0, 0x0f};
    uint8_t r[16], ones[16], zero[16] = {0};
    int32_t w[4] = {-1, 1, -5, 0};

    memset(ones, 1, sizeof ones);
    unop(0x62, a, r); /* i8x16.popcnt */
    ck_assert_uint_eq(r[0], 8);
    ck_assert_uint_eq(r[1], 1);
    ck_assert_uint_eq(r[4], 4);
    ck_assert_int_eq(to_i32(0x64, a, NULL, 0), 0x3); /* i8x16.bitmask */
    ck_assert_int_eq(to_i32(0xa4, w, NULL, 0), 0x5); /* i32x4.bitmask */
    ck_assert_int_eq(to_i32(0x63, a, NULL, 0), 0);   /* i8x16.all_true */
    ck_assert_int_eq(to_i32(0x63, ones, NULL, 0), 1);
    ck_assert_int_eq(to_i32(0x53, zero, NULL, 0), 0); /* v128.any_true */
    ck_assert_int_eq(to_i32(0x53, a, NULL, 0), 1);
}
END_TEST

START_TEST(test_lanes)
{
    uint8_t a[16] = {0xff, 0x7f, 0x80, 0xff};
    uint8_t lane0[1] = {0}, lane1[1] = {1};
    vm_val args[2], res;
    uint8_t r[16];

    ck_assert_int_eq(to_i32(0x15, a, lane0, 1), -1);  /* extract_lane_s */
    ck_assert_int_eq(to_i32(0x16, a, lane0, 1), 255); /* extract_lane_u */
    ck_assert_int_eq(to_i32(0x18, a, lane1, 1), -128); /* i16x8 lane 1 */
    ck_assert_int_eq(to_i32(0x19, a, lane1, 1), 0xff80);
    args[0] = v128(a);
    args[1] = i32v(0x1234);
    lane1[0] = 5;
    ck_assert_int_eq(run_op("vi", "v", 0x17, lane1, 1, args, &res), 0);
    memcpy(r, res.of.v128, 16); /* i8x16.replace_lane 5: the low byte */
    ck_assert_uint_eq(r[5], 0x34);
    ck_assert_uint_eq(r[0], 0xff);
    ck_assert_uint_eq(r[6], 0);
}
END_TEST

START_TEST(test_swizzle_shuffle)
{
    uint8_t a[16], b[16], idx[16] = {3, 16, 255, 15, 0x80}, r[16];
    uint8_t sel[16];
    vm_val args[2], res;

    for (int i = 0; i < 16; i++) {
        a[i] = (uint8_t)(0x10 + i);
        b[i] = (uint8_t)(0x40 + i);
        sel[i] = (uint8_t)((i * 7 + 3) % 32); /* both operands */
    }
    binop(0x0e, a, idx, r); /* i8x16.swizzle: index >= 16 gives 0 */
    ck_assert_uint_eq(r[0], 0x13);
    ck_assert_uint_eq(r[1], 0);
    ck_assert_uint_eq(r[2], 0);
    ck_assert_uint_eq(r[3], 0x1f);
    ck_assert_uint_eq(r[4], 0);
    ck_assert_uint_eq(r[5], 0x10);
    args[0] = v128(a);
    args[1] = v128(b);
    ck_assert_int_eq(run_op("vv", "v", 0x0d, sel, 16, args, &res), 0);
    for (int i = 0; i < 16; i++) {
        uint8_t k = sel[i];
        ck_assert_uint_eq(res.of.v128[i], k < 16 ? a[k] : b[k - 16]);
    }
}
END_TEST

/* ---- Float lanes -------------------------------------------------------- */

START_TEST(test_min_vs_pmin)
{
    float a[4] = {NAN, 1.0f, -0.0f, 0.0f}, b[4] = {1.0f, NAN, 0.0f, -0.0f};
    uint32_t r[4];

    binop(0xe8, a, b, r); /* f32x4.min: NaN wins, -0 < +0 */
    ck_assert(f32_is_nan(r[0]));
    ck_assert(f32_is_nan(r[1]));
    ck_assert_uint_eq(r[2], 0x80000000u);
    ck_assert_uint_eq(r[3], 0x80000000u);
    binop(0xea, a, b, r); /* f32x4.pmin: b < a ? b : a */
    ck_assert(f32_is_nan(r[0]));
    ck_assert_uint_eq(r[1], f32_bits(1.0f));
    ck_assert_uint_eq(r[2], 0x80000000u); /* ties keep a */
    ck_assert_uint_eq(r[3], 0);
    binop(0xeb, a, b, r); /* f32x4.pmax: a < b ? b : a */
    ck_assert(f32_is_nan(r[0]));
    ck_assert_uint_eq(r[1], f32_bits(1.0f));
    ck_assert_uint_eq(r[2], 0x80000000u);
    binop(0xe9, a, b, r); /* f32x4.max: +0 > -0 */
    ck_assert_uint_eq(r[2], 0);
    ck_assert_uint_eq(r[3], 0);
}
END_TEST

START_TEST(test_rounding_nan)
{
    uint32_t a[4] = {0x7fa00000u, f32_bits(2.5f), f32_bits(-0.5f),
                     f32_bits(3.5f)};
    uint32_t r[4];
    uint64_t d[2] = {0x7ff4000000000000ull, 0}, dr[2];

    unop(0x6a, a, r); /* f32x4.nearest */
    ck_assert_uint_eq(r[0] & 0x7fc00000u, 0x7fc00000u); /* quieted */
    ck_assert_uint_eq(r[1], f32_bits(2.0f));
    ck_assert_uint_eq(r[2], 0x80000000u); /* -0 */
    ck_assert_uint_eq(r[3], f32_bits(4.0f));
    unop(0x75, d, dr); /* f64x2.floor of a signalling NaN */
    ck_assert_uint_eq(dr[0] & 0x7ff8000000000000ull, 0x7ff8000000000000ull);
}
END_TEST

START_TEST(test_trunc_sat_convert)
{
    float a[4] = {NAN, 3e9f, -3e9f, -1.5f};
    double d[2] = {-1.5, 5e9};
    int32_t r[4];
    uint32_t u[4];
    uint32_t big[4] = {0xffffffffu, 1, 0, 0x80000000u};
    float fr[4];

    unop(0xf8, a, r); /* i32x4.trunc_sat_f32x4_s */
    ck_assert_int_eq(r[0], 0);
    ck_assert_int_eq(r[1], INT32_MAX);
    ck_assert_int_eq(r[2], INT32_MIN);
    ck_assert_int_eq(r[3], -1);
    unop(0xf9, a, u); /* ..._u */
    ck_assert_uint_eq(u[0], 0);
    ck_assert_uint_eq(u[1], 3000000000u);
    ck_assert_uint_eq(u[2], 0);
    ck_assert_uint_eq(u[3], 0);
    unop(0xfd, d, u); /* i32x4.trunc_sat_f64x2_u_zero */
    ck_assert_uint_eq(u[0], 0);
    ck_assert_uint_eq(u[1], UINT32_MAX);
    ck_assert_uint_eq(u[2], 0);
    ck_assert_uint_eq(u[3], 0);
    unop(0xfb, big, fr); /* f32x4.convert_i32x4_u */
    ck_assert(fr[0] == 4294967296.0f);
    ck_assert(fr[3] == 2147483648.0f);
}
END_TEST

/* ---- Memory ------------------------------------------------------------- */

START_TEST(test_load_store_lane_bounds)
{
    uint8_t v[16];
    vm_val args[2], res;
    uint8_t memarg_lane[3] = {0, 0, 1}; /* align 0, offset 0, lane 1 */
    uint8_t memarg64[3] = {3, 0, 1};

    memset(v, 0xab, sizeof v);
    args[0] = i32v(65535);
    args[1] = v128(v);
    /* v128.store8_lane at the last byte: fine; v128.load16_lane: traps */
    ck_assert_int_eq(run_op("iv", "", 0x58, memarg_lane, 3, args, &res), 0);
    ck_assert_int_eq(run_op("iv", "v", 0x55, memarg_lane, 3, args, &res),
                     VM_ERR_TRAP_MEM_OOB);
    args[0] = i32v(65528);
    ck_assert_int_eq(run_op("iv", "", 0x5b, memarg64, 3, args, &res), 0);
    args[0] = i32v(65529);
    ck_assert_int_eq(run_op("iv", "", 0x5b, memarg64, 3, args, &res),
                     VM_ERR_TRAP_MEM_OOB);
    args[0] = i32v(-1);
    ck_assert_int_eq(run_op("iv", "v", 0x54, memarg_lane, 3, args, &res),
                     VM_ERR_TRAP_MEM_OOB);
}
END_TEST

/*
 * (func (param i32) (result v128)
 *   local.get 0  i32.const 0x80ff01fe  i32.store
 *   local.get 0  <load op>)
 */
static void load_after_store(uint32_t op, uint8_t align, int32_t addr,
                             uint8_t out[16])
{
    buf body = {0};
    vm_val arg = i32v(addr), res;
    const uint8_t store[] = {0x20, 0x00, 0x41, 0xfe, 0x83, 0xfc, 0x87,
                             0x78, 0x36, 0x02, 0x00, 0x20, 0x00};

    put_bytes(&body, store, sizeof store);
    put_simd(&body, op);
    put(&body, align);
    put(&body, 0);
    ck_assert_int_eq(run_body("i", "v", &body, &arg, &res), 0);
    memcpy(out, res.of.v128, 16);
    free(body.b);
}

START_TEST(test_load_variants)
{
    uint8_t r[16];
    int16_t w[8];

    load_after_store(0x07, 0, 100, r); /* v128.load8_splat */
    for (int i = 0; i < 16; i++)
        ck_assert_uint_eq(r[i], 0xfe);
    load_after_store(0x5c, 2, 100, r); /* v128.load32_zero */
    ck_assert_uint_eq(r[0], 0xfe);
    ck_assert_uint_eq(r[3], 0x80);
    for (int i = 4; i < 16; i++)
        ck_assert_uint_eq(r[i], 0);
    load_after_store(0x01, 3, 100, r); /* v128.load8x8_s */
    memcpy(w, r, 16);
    ck_assert_int_eq(w[0], -2);
    ck_assert_int_eq(w[1], 1);
    ck_assert_int_eq(w[2], -1);
    ck_assert_int_eq(w[3], -128);
    ck_assert_int_eq(w[4], 0);
}
END_TEST

/* ---- Validation --------------------------------------------------------- */

static void expect_invalid(const char *params, const char *results,
                           uint32_t op, const uint8_t *imm, size_t nimm,
                           const char *msg)
{
    buf body = {0};
    vm_module *m = NULL;
    char err[256] = "";
    int rc;

    for (uint32_t i = 0; params[i]; i++) {
        put(&body, 0x20);
        put_u32(&body, i);
    }
    put_simd(&body, op);
    put_bytes(&body, imm, nimm);
    rc = module_new(params, results, &body, &m, err, sizeof err);
    free(body.b);
    ck_assert_int_eq(rc, VM_ERR_INVALID);
    ck_assert_msg(strstr(err, msg) != NULL, "\"%s\" lacks \"%s\"", err, msg);
}

START_TEST(test_validation)
{
    uint8_t lane16[1] = {16}, lane2[1] = {2}, shuf[16] = {0};
    uint8_t align5[2] = {5, 0}, lane_align[3] = {1, 0, 0};
    uint8_t lane_range[3] = {3, 0, 2};

    expect_invalid("v", "i", 0x15, lane16, 1, "invalid lane index");
    expect_invalid("vF", "v", 0x22, lane2, 1, "invalid lane index");
    shuf[15] = 32;
    expect_invalid("vv", "v", 0x0d, shuf, 16, "invalid lane index");
    expect_invalid("i", "v", 0x00, align5, 2,
                   "alignment must not be larger than natural");
    expect_invalid("iv", "v", 0x54, lane_align, 3,
                   "alignment must not be larger than natural");
    expect_invalid("iv", "", 0x5b, lane_range, 3, "invalid lane index");
    expect_invalid("vi", "v", 0x6e, NULL, 0, "type mismatch");
}
END_TEST

/* ---- Compiler paths ----------------------------------------------------- */

/*
 * The vector operand of a load_lane sits one slot above the result's
 * canonical slot: the handler must read it whole before writing.
 *   local.get 1  i32.const 0  i32.add    ;; address, a temp at h
 *   local.get 0  v128.not                ;; vector, temps h+1, h+2
 *   v128.load8_lane 0 0 lane 3           ;; result at h, h+1
 */
START_TEST(test_lane_load_overlap)
{
    const uint8_t body_bytes[] = {0x20, 0x01, 0x41, 0x00, 0x6a, 0x20,
                                  0x00, 0xfd, 0x4d, 0xfd, 0x54, 0x00,
                                  0x00, 0x03};
    buf body = {0};
    uint8_t v[16];
    vm_val args[2], res;

    memset(v, 0x0f, sizeof v);
    args[0] = v128(v);
    args[1] = i32v(7); /* memory is zero */
    put_bytes(&body, body_bytes, sizeof body_bytes);
    ck_assert_int_eq(run_body("vi", "v", &body, args, &res), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_uint_eq(res.of.v128[i], i == 3 ? 0 : 0xf0);
    free(body.b);
}
END_TEST

/*
 * More distinct v128.const than the 1024-slot pool holds: the first 512
 * become pool pairs, the rest V128_CONST instructions; their xor checks
 * every one of them.
 */
START_TEST(test_const_pool_overflow)
{
    buf body = {0};
    uint64_t want[2] = {0, 0};
    vm_val res;

    for (uint64_t k = 0; k < 700; k++) {
        uint64_t half[2] = {k * 0x9E3779B97F4A7C15ull + 1,
                            ~k * 0xC2B2AE3D27D4EB4Full};
        put_simd(&body, 0x0c);
        put_bytes(&body, half, 16);
        if (k > 0)
            put_simd(&body, 0x51); /* v128.xor */
        want[0] ^= half[0];
        want[1] ^= half[1];
    }
    ck_assert_int_eq(run_body("", "v", &body, NULL, &res), 0);
    ck_assert(memcmp(res.of.v128, want, 16) == 0);
    free(body.b);
}
END_TEST

/*
 * Immutable v128 globals with constant initializers compile to pool
 * pairs, like v128.const (generated with wat2wasm 1.0.32):
 * (module
 *   (global $g v128 (v128.const i32x4 1 2 3 4))
 *   (global $h v128 (v128.const i64x2 5 -1))
 *   (func (export "f") (result v128)
 *     global.get $g  global.get $h  i32x4.add
 *     v128.const i32x4 1 2 3 4  i32x4.add))
 */
static const uint8_t wasm_const_globals[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
    0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x06, 0x2b, 0x02, 0x7b, 0x00,
    0xfd, 0x0c, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00,
    0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0b, 0x7b, 0x00, 0xfd, 0x0c, 0x05,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0x0b, 0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, 0x0a,
    0x20, 0x01, 0x1e, 0x00, 0x23, 0x00, 0x23, 0x01, 0xfd, 0xae, 0x01, 0xfd,
    0x0c, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x00, 0x04, 0x00, 0x00, 0x00, 0xfd, 0xae, 0x01, 0x0b,
};

START_TEST(test_const_globals)
{
    vm_module *m = NULL;
    vm_store *s = NULL;
    vm_instance *inst = NULL;
    vm_extern ex;
    vm_val res;
    char err[256] = "";
    const uint32_t want[4] = {7, 4, 5, 7};
    int rc = vm_module_new(wasm_const_globals, sizeof wasm_const_globals,
                           NULL, &m, err, sizeof err);

    ck_assert_msg(rc == 0, "vm_module_new: %s", err);
    ck_assert_int_eq(vm_store_new(NULL, &s), 0);
    ck_assert_int_eq(vm_instance_new(s, m, NULL, 0, &inst, err, sizeof err),
                     0);
    ck_assert_int_eq(vm_instance_export(inst, "f", &ex), 0);
    ck_assert_int_eq(
        vm_func_call(s, ex.of.func, NULL, 0, &res, 1, err, sizeof err), 0);
    ck_assert_mem_eq(res.of.v128, want, 16);
    vm_store_free(s);
    vm_module_free(m);
}
END_TEST

Suite *simd_suite(void)
{
    Suite *s = suite_create("simd");
    TCase *tc = tcase_create("lanes");

    tcase_add_test(tc, test_saturating);
    tcase_add_test(tc, test_avgr_q15_dot);
    tcase_add_test(tc, test_extmul_narrow);
    tcase_add_test(tc, test_extadd_extend);
    tcase_add_test(tc, test_shifts_mod_width);
    tcase_add_test(tc, test_popcnt_bitmask_tests);
    tcase_add_test(tc, test_lanes);
    tcase_add_test(tc, test_swizzle_shuffle);
    tcase_add_test(tc, test_min_vs_pmin);
    tcase_add_test(tc, test_rounding_nan);
    tcase_add_test(tc, test_trunc_sat_convert);
    tcase_add_test(tc, test_load_store_lane_bounds);
    tcase_add_test(tc, test_load_variants);
    tcase_add_test(tc, test_validation);
    tcase_add_test(tc, test_lane_load_overlap);
    tcase_add_test(tc, test_const_pool_overflow);
    tcase_add_test(tc, test_const_globals);
    suite_add_tcase(s, tc);
    return s;
}
