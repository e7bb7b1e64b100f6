/*
 * Native reference for the SIMD kernels (simd_dot.wat, simd_mandel.wat):
 * the same computation in scalar C, lane by lane and in the kernels'
 * order of operations, so the f32 results are bit-identical. Build with
 * contraction off (x86-64 SSE, no FMA):
 *
 *     cc -O2 -ffp-contract=off bench/kernels/reference_simd.c && ./a.out
 *
 * and it prints the lines of bench/kernels/expected.txt for those kernels
 * (the checksum part; the type is i64). Kept apart from reference.c,
 * which covers the scalar kernels.
 */
#include <stdint.h>
#include <stdio.h>
#include <inttypes.h>
static uint64_t k_simd_dot(void)
{
    static int16_t a[4096], b[4096];
    static float x[2048], y[2048];
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
        uint32_t vi[4] = {0};
        float vf[4] = {0};
        for (int p = 0; p < 4096; p += 8)
            for (int l = 0; l < 4; l++)
                vi[l] += (uint32_t)(a[p + 2 * l] * b[p + 2 * l]) +
                         (uint32_t)(a[p + 2 * l + 1] * b[p + 2 * l + 1]);
        uint32_t isum = (vi[0] + vi[1]) + (vi[2] + vi[3]);
        for (int p = 0; p < 2048; p += 4)
            for (int l = 0; l < 4; l++)
                vf[l] = vf[l] + x[p + l] * y[p + l];
        float fsum = ((vf[0] + vf[1]) + vf[2]) + vf[3];
        acc = (acc * 1000003 + isum) * 31 + (uint64_t)(int64_t)(int32_t)fsum;
        for (int i = 0; i < 4096; i++)
            a[i] = (int16_t)(uint16_t)((uint16_t)b[i] - (uint16_t)a[i] + (rep & 7));
        for (int i = 0; i < 2048; i++)
            x[i] = y[i] - x[i];
    }
    return acc;
}
static uint64_t k_simd_mandel(void)
{
    uint64_t acc = 0;
    for (int py = 0; py < 360; py++) {
        float ci = -1.2f + (float)py * 0.006666667f;
        for (int px = 0; px < 480; px += 4) {
            float cr[4], zr[4] = {0}, zi[4] = {0};
            uint32_t alive[4], cnt[4] = {0};
            for (int l = 0; l < 4; l++) {
                cr[l] = -2.0f + (float)(px + l) * 0.00625f;
                alive[l] = UINT32_MAX;
            }
            for (int it = 0; it < 200; it++) {
                float zr2[4], zi2[4];
                int any = 0;
                for (int l = 0; l < 4; l++) {
                    zr2[l] = zr[l] * zr[l];
                    zi2[l] = zi[l] * zi[l];
                    alive[l] &= (zr2[l] + zi2[l] <= 4.0f) ? UINT32_MAX : 0;
                    any |= alive[l] != 0;
                }
                if (!any)
                    break;
                for (int l = 0; l < 4; l++) {
                    float t = zr[l] * zi[l];
                    cnt[l] -= alive[l];
                    zi[l] = (t + t) + ci;
                    zr[l] = (zr2[l] - zi2[l]) + cr[l];
                }
            }
            acc = acc * 31 + (uint32_t)(cnt[0] + cnt[1] * 2 + cnt[2] * 3 + cnt[3] * 4);
        }
    }
    return acc;
}

int main(void)
{
    printf("simd_mandel %" PRIu64 "\n", k_simd_mandel());
    printf("simd_dot %" PRIu64 "\n", k_simd_dot());
    return 0;
}
