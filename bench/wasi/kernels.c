/*
 * The benchmark kernels as one program, for WASI and for the host:
 *
 *   kernels [-n REPS] NAME...  run these kernels, one "NAME CHECKSUM" line
 *                              each (each kernel REPS times, default 1: the
 *                              repetitions must agree; the line is printed
 *                              once)
 *   kernels [-n REPS]          every kernel, in bench/kernels/expected.txt order
 *   kernels startup            no work, prints "startup 0": the start-up baseline
 *
 * The scalar kernels are bench/kernels/reference.c itself (included below,
 * its main renamed), so the program computes exactly what the checksums in
 * bench/kernels/expected.txt were made from. simd_dot and simd_mandel are
 * written here with 128-bit vectors in the kernels' order of operations:
 * wasm_simd128.h intrinsics when built with -msimd128, SSE2 intrinsics on
 * x86-64, and reference_simd.c's scalar code anywhere else.
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -O2 -msimd128 \
 *         -ffp-contract=off bench/wasi/kernels.c -o kernels.wasm
 *   cc -O2 -ffp-contract=off bench/wasi/kernels.c -o kernels
 *
 * scripts/bench-wasi.sh builds and times it natively, under traced and
 * under Node's WASI.
 */
#define main bench_reference_main
#include "../kernels/reference.c"
#undef main
#define main bench_reference_simd_main
#include "../kernels/reference_simd.c"
#undef main

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define KERNELS_SIMD "wasm simd128"
#elif defined(__SSE2__)
#include <emmintrin.h>
#define KERNELS_SIMD "sse2"
#else
#define KERNELS_SIMD "scalar"
#endif

#if defined(__wasm_simd128__) || defined(__SSE2__)
/* The few v128 operations the kernels need, over one type. */
#if defined(__wasm_simd128__)
typedef v128_t vec;
#define v_zero() wasm_i32x4_const(0, 0, 0, 0)
#define v_load(p) wasm_v128_load(p)
#define v_store(p, v) wasm_v128_store((p), (v))
#define v_i32_add(a, b) wasm_i32x4_add((a), (b))
#define v_i32_sub(a, b) wasm_i32x4_sub((a), (b))
#define v_i32_lane(v, l) wasm_i32x4_extract_lane((v), (l))
#define v_i32_splat(x) wasm_i32x4_splat(x)
#define v_i16_add(a, b) wasm_i16x8_add((a), (b))
#define v_i16_sub(a, b) wasm_i16x8_sub((a), (b))
#define v_i16_splat(x) wasm_i16x8_splat(x)
#define v_dot_i16(a, b) wasm_i32x4_dot_i16x8((a), (b))
#define v_f32_add(a, b) wasm_f32x4_add((a), (b))
#define v_f32_sub(a, b) wasm_f32x4_sub((a), (b))
#define v_f32_mul(a, b) wasm_f32x4_mul((a), (b))
#define v_f32_le(a, b) wasm_f32x4_le((a), (b))
#define v_f32_splat(x) wasm_f32x4_splat(x)
#define v_f32_lane(v, l) wasm_f32x4_extract_lane((v), (l))
#define v_f32_from_i32(v) wasm_f32x4_convert_i32x4(v)
#define v_and(a, b) wasm_v128_and((a), (b))
#define v_any(v) wasm_v128_any_true(v)
#define v_i32_const(a, b, c, d) wasm_i32x4_const(a, b, c, d)
#else
typedef __m128i vec;
#define v_zero() _mm_setzero_si128()
#define v_load(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define v_store(p, v) _mm_storeu_si128((__m128i *)(void *)(p), (v))
#define v_i32_add(a, b) _mm_add_epi32((a), (b))
#define v_i32_sub(a, b) _mm_sub_epi32((a), (b))
#define v_i32_splat(x) _mm_set1_epi32(x)
#define v_i16_add(a, b) _mm_add_epi16((a), (b))
#define v_i16_sub(a, b) _mm_sub_epi16((a), (b))
#define v_i16_splat(x) _mm_set1_epi16((short)(x))
#define v_dot_i16(a, b) _mm_madd_epi16((a), (b))
#define V_PS(v) _mm_castsi128_ps(v)
#define V_SI(v) _mm_castps_si128(v)
#define v_f32_add(a, b) V_SI(_mm_add_ps(V_PS(a), V_PS(b)))
#define v_f32_sub(a, b) V_SI(_mm_sub_ps(V_PS(a), V_PS(b)))
#define v_f32_mul(a, b) V_SI(_mm_mul_ps(V_PS(a), V_PS(b)))
#define v_f32_le(a, b) V_SI(_mm_cmple_ps(V_PS(a), V_PS(b)))
#define v_f32_splat(x) V_SI(_mm_set1_ps(x))
#define v_f32_from_i32(v) V_SI(_mm_cvtepi32_ps(v))
#define v_and(a, b) _mm_and_si128((a), (b))
#define v_any(v) (_mm_movemask_epi8(_mm_cmpeq_epi8((v), _mm_setzero_si128())) != 0xffff)
#define v_i32_const(a, b, c, d) _mm_setr_epi32(a, b, c, d)
static inline int32_t v_i32_lane(vec v, int l)
{
    int32_t t[4];
    _mm_storeu_si128((__m128i *)(void *)t, v);
    return t[l];
}
static inline float v_f32_lane(vec v, int l)
{
    float t[4];
    _mm_storeu_ps(t, _mm_castsi128_ps(v));
    return t[l];
}
#endif

/* simd_dot.wat with v128 operations (see its header comment). */
static uint64_t k_simd_dot_v128(void)
{
    static int16_t a[4096] __attribute__((aligned(16)));
    static int16_t b[4096] __attribute__((aligned(16)));
    static float x[2048] __attribute__((aligned(16)));
    static float y[2048] __attribute__((aligned(16)));
    uint32_t seed = 12345;
    uint64_t acc = 0;

    for (uint32_t i = 0; i < 4096; i++) {
        seed = seed * 1664525u + 1013904223u;
        a[i] = (int16_t)(((seed >> 16) & 255) - 128);
        b[i] = (int16_t)((seed >> 24) - 128);
        if (i < 2048) {
            x[i] = (float)((int32_t)((seed >> 8) & 31) - 16);
            y[i] = (float)((int32_t)(seed & 15) - 8);
        }
    }
    for (uint32_t rep = 0; rep < 4000; rep++) {
        vec vi = v_zero(), vf = v_zero(), k;

        for (int p = 0; p < 4096; p += 8)
            vi = v_i32_add(vi, v_dot_i16(v_load(&a[p]), v_load(&b[p])));
        uint32_t isum = ((uint32_t)v_i32_lane(vi, 0) + (uint32_t)v_i32_lane(vi, 1)) +
                        ((uint32_t)v_i32_lane(vi, 2) + (uint32_t)v_i32_lane(vi, 3));
        for (int p = 0; p < 2048; p += 4)
            vf = v_f32_add(vf, v_f32_mul(v_load(&x[p]), v_load(&y[p])));
        float fsum = ((v_f32_lane(vf, 0) + v_f32_lane(vf, 1)) + v_f32_lane(vf, 2)) +
                     v_f32_lane(vf, 3);
        acc = (acc * 1000003 + isum) * 31 + (uint64_t)(int64_t)(int32_t)fsum;
        k = v_i16_splat((int16_t)(rep & 7));
        for (int p = 0; p < 4096; p += 8)
            v_store(&a[p], v_i16_add(v_i16_sub(v_load(&b[p]), v_load(&a[p])), k));
        for (int p = 0; p < 2048; p += 4)
            v_store(&x[p], v_f32_sub(v_load(&y[p]), v_load(&x[p])));
    }
    return acc;
}

/* simd_mandel.wat with v128 operations (see its header comment). */
static uint64_t k_simd_mandel_v128(void)
{
    const vec four = v_f32_splat(4.0f), lanes = v_i32_const(0, 1, 2, 3);
    uint64_t acc = 0;

    for (int py = 0; py < 360; py++) {
        vec ci = v_f32_splat(-1.2f + (float)py * 0.006666667f);
        for (int px = 0; px < 480; px += 4) {
            vec cr = v_f32_add(v_f32_splat(-2.0f),
                               v_f32_mul(v_f32_from_i32(v_i32_add(v_i32_splat(px), lanes)),
                                         v_f32_splat(0.00625f)));
            vec zr = v_zero(), zi = v_zero(), cnt = v_zero();
            vec alive = v_i32_splat(-1);
            for (int it = 0; it < 200; it++) {
                vec zr2 = v_f32_mul(zr, zr), zi2 = v_f32_mul(zi, zi), t;
                alive = v_and(alive, v_f32_le(v_f32_add(zr2, zi2), four));
                if (!v_any(alive))
                    break;
                cnt = v_i32_sub(cnt, alive);
                t = v_f32_mul(zr, zi);
                zi = v_f32_add(v_f32_add(t, t), ci);
                zr = v_f32_add(v_f32_sub(zr2, zi2), cr);
            }
            acc = acc * 31 + (uint32_t)((uint32_t)v_i32_lane(cnt, 0) +
                                        (uint32_t)v_i32_lane(cnt, 1) * 2 +
                                        (uint32_t)v_i32_lane(cnt, 2) * 3 +
                                        (uint32_t)v_i32_lane(cnt, 3) * 4);
        }
    }
    return acc;
}
#define K_SIMD_DOT k_simd_dot_v128
#define K_SIMD_MANDEL k_simd_mandel_v128
#else
#define K_SIMD_DOT k_simd_dot
#define K_SIMD_MANDEL k_simd_mandel
#endif

/* No work: the process's start-up and exit alone, as a baseline. */
static uint64_t k_startup(void) { return 0; }

static const struct {
    const char *name;
    uint64_t (*run)(void);
} kernels[] = {
    {"bytecode", k_bytecode}, {"fib", k_fib},
    {"hash", k_hash},         {"indirect", k_indirect},
    {"mandel", k_mandel},     {"matmul", k_matmul},
    {"qsort", k_qsort},       {"sieve", k_sieve},
    {"simd_dot", K_SIMD_DOT}, {"simd_mandel", K_SIMD_MANDEL},
    {"startup", k_startup}, /* not in bench/kernels/expected.txt */
};
enum { NKERNELS = sizeof kernels / sizeof kernels[0] };

/* Run kernel NAME reps times; every repetition must give the same value.
 * The call goes through a volatile pointer so that the compiler cannot
 * hoist a pure kernel (fib) out of the loop and run it once. */
static int run_one(const char *name, unsigned reps)
{
    for (int i = 0; i < NKERNELS; i++)
        if (strcmp(kernels[i].name, name) == 0) {
            uint64_t (*volatile run)(void) = kernels[i].run;
            uint64_t first = run();

            for (unsigned r = 1; r < reps; r++)
                if (run() != first) {
                    fprintf(stderr, "kernels: %s: repetition %u differs\n",
                            name, r);
                    return 1;
                }
            printf("%s %" PRIu64 "\n", name, first);
            return 0;
        }
    fprintf(stderr, "kernels: no kernel %s (simd: %s); kernels:", name,
            KERNELS_SIMD);
    for (int i = 0; i < NKERNELS; i++)
        fprintf(stderr, " %s", kernels[i].name);
    fprintf(stderr, "\n");
    return 2;
}

int main(int argc, char **argv)
{
    unsigned reps = 1;
    int i = 1, rc;

    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        reps = (unsigned)strtoul(argv[2], NULL, 10);
        if (reps < 1) {
            fprintf(stderr, "kernels: -n needs a count >= 1\n");
            return 2;
        }
        i = 3;
    }
    if (i == argc) {
        for (int k = 0; k < NKERNELS - 1; k++)
            if ((rc = run_one(kernels[k].name, reps)) != 0)
                return rc;
        return 0;
    }
    for (; i < argc; i++)
        if ((rc = run_one(argv[i], reps)) != 0)
            return rc;
    return 0;
}
