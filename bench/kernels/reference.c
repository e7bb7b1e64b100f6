/*
 * Reference checksums for the benchmark kernels (bench/kernels/NAME.wat).
 *
 * Each function below is a straight C transcription of one kernel, with the
 * same sizes, seeds and evaluation order, so the checksum a WebAssembly
 * engine prints for `run` can be checked against a native computation
 * rather than against another engine. Unsigned types model wasm's
 * wrapping i32/i64 arithmetic; the f64 code must not be contracted into
 * FMAs, hence -ffp-contract=off below.
 *
 * Build and run (prints "kernel value" lines, values as unsigned decimal
 * like wasm-interp prints them):
 *   cc -std=c11 -O2 -ffp-contract=off -o /tmp/bench-ref bench/kernels/reference.c
 *   /tmp/bench-ref
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rotl32(uint32_t x, unsigned r)
{
    r &= 31;
    return r ? (x << r) | (x >> (32 - r)) : x;
}
static uint32_t rotr32(uint32_t x, unsigned r) { return rotl32(x, 32 - (r & 31)); }
static uint64_t rotl64(uint64_t x, unsigned r)
{
    r &= 63;
    return r ? (x << r) | (x >> (64 - r)) : x;
}

/* ---- fib ---------------------------------------------------------------- */
static uint32_t fib(uint32_t n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
static uint64_t k_fib(void) { return fib(33); }

/* ---- sieve -------------------------------------------------------------- */
enum { SIEVE_N = 1000000, SIEVE_REPS = 3 };
static uint64_t k_sieve(void)
{
    static uint8_t flags[SIEVE_N];
    static uint32_t pi[SIEVE_N];
    uint64_t acc = 0;
    for (uint32_t r = 0; r < SIEVE_REPS; r++) {
        flags[0] = flags[1] = 0;
        for (uint32_t i = 2; i < SIEVE_N; i++)
            flags[i] = 1;
        for (uint32_t p = 2; p * p <= SIEVE_N; p++)
            if (flags[p])
                for (uint32_t m = p * p; m < SIEVE_N; m += p)
                    flags[m] = 0;
        uint32_t count = 0;
        for (uint32_t i = 0; i < SIEVE_N; i++) {
            count += flags[i];
            pi[i] = count;
        }
        uint64_t sum = 0;
        uint32_t prev = 0;
        for (uint32_t i = 1; i < SIEVE_N; i++) {
            if (pi[i] != prev)
                sum += i;
            prev = pi[i];
        }
        acc = acc * 31 + sum + pi[SIEVE_N - 1] + r;
    }
    return acc;
}

/* ---- mandel ------------------------------------------------------------- */
static uint32_t mandel_point(double cr, double ci)
{
    double zr = 0, zi = 0, zr2, zi2;
    uint32_t n = 0;
    for (;;) {
        if (n >= 200)
            break;
        zr2 = zr * zr;
        zi2 = zi * zi;
        if (zr2 + zi2 > 4.0)
            break;
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        n++;
    }
    return n;
}
static uint64_t k_mandel(void)
{
    uint64_t acc = 0, total = 0;
    for (uint32_t y = 0; y < 300; y++) {
        double ci = -1.2 + (double)y * 0.008;
        uint64_t rowsum = 0;
        for (uint32_t x = 0; x < 400; x++)
            rowsum += mandel_point(-2.2 + (double)x * 0.008, ci);
        acc = acc * 1000003 + rowsum;
        total += rowsum;
    }
    return acc ^ (total << 32);
}

/* ---- hash --------------------------------------------------------------- */
static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    return k ^ (k >> 33);
}
static uint64_t k_hash(void)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL, h1 = 0x243f6a8885a308d3ULL, k;
    uint32_t h2 = 0x13198a2e, lo;
    for (uint32_t i = 0; i < 2500000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        k = x * 0x87c37b91114253d5ULL;
        k = rotl64(k, 31);
        k *= 0x4cf5ad432745937fULL;
        h1 ^= k;
        h1 = rotl64(h1, 27) * 5 + 0x52dce729;
        lo = (uint32_t)fmix64(x);
        h2 = rotr32(h2 ^ lo, 13) + lo * 0x9e3779b1u;
    }
    return fmix64(h1 ^ 2500000) + (uint64_t)h2;
}

/* ---- indirect ----------------------------------------------------------- */
static uint32_t f0(uint32_t a, uint32_t b) { return a + b; }
static uint32_t f1(uint32_t a, uint32_t b) { return a - b; }
static uint32_t f2(uint32_t a, uint32_t b) { return a ^ (b * 0x9e3779b1u); }
static uint32_t f3(uint32_t a, uint32_t b) { return rotl32(a, b & 31); }
static uint32_t f4(uint32_t a, uint32_t b) { return a * 33 + b; }
static uint32_t f5(uint32_t a, uint32_t b) { return (a >> 1) | (b << 31); }
static uint32_t f6(uint32_t a, uint32_t b) { return a < b ? b - a : a + 7; }
static uint32_t f7(uint32_t a, uint32_t b) { (void)b; return a ^ (a >> 15); }
static uint64_t k_indirect(void)
{
    static uint32_t (*const table[8])(uint32_t, uint32_t) = {
        f0, f1, f2, f3, f4, f5, f6, f7};
    uint32_t acc = 1, sel = 0x2545f491;
    for (uint32_t i = 0; i < 4000000; i++) {
        sel ^= sel << 13;
        sel ^= sel >> 17;
        sel ^= sel << 5;
        acc = table[sel & 7](acc, i);
    }
    return acc;
}

/* ---- bytecode ----------------------------------------------------------- */
struct insn {
    uint8_t op, a, b, c;
    int32_t imm;
};
static uint64_t k_bytecode(void)
{
    static const struct insn prog[] = {
        {1, 0, 0, 0, 500000}, {1, 1, 0, 0, 0},    {1, 2, 0, 0, 12345},
        {1, 4, 0, 0, 1103515245}, {1, 6, 0, 0, 7}, {4, 2, 2, 4, 0},
        {7, 2, 2, 0, 12345},  {6, 3, 2, 0, 16},   {5, 1, 1, 3, 0},
        {10, 5, 1, 0, 3},     {2, 1, 1, 5, 0},    {9, 7, 0, 6, 0},
        {8, 7, 0, 0, 17},     {1, 8, 0, 0, 4},    {6, 9, 1, 0, 5},
        {2, 1, 1, 9, 0},      {7, 8, 8, 0, -1},   {8, 8, 0, 0, 14},
        {7, 0, 0, 0, -1},     {8, 0, 0, 0, 5},    {0, 1, 0, 0, 0},
    };
    uint32_t r[16] = {0};
    uint32_t pc = 0;
    for (;;) {
        const struct insn *in = &prog[pc++];
        uint32_t imm = (uint32_t)in->imm;
        switch (in->op) {
        case 0: return r[in->a];
        case 1: r[in->a] = imm; break;
        case 2: r[in->a] = r[in->b] + r[in->c]; break;
        case 3: r[in->a] = r[in->b] - r[in->c]; break;
        case 4: r[in->a] = r[in->b] * r[in->c]; break;
        case 5: r[in->a] = r[in->b] ^ r[in->c]; break;
        case 6: r[in->a] = r[in->b] >> (imm & 31); break;
        case 7: r[in->a] = r[in->b] + imm; break;
        case 8: if (r[in->a]) pc = imm; break;
        case 9: r[in->a] = r[in->b] & r[in->c]; break;
        case 10: r[in->a] = r[in->b] << (imm & 31); break;
        case 11: pc = imm; break;
        case 12: r[in->a] = r[in->b] < r[in->c]; break;
        default: abort();
        }
    }
}

/* ---- matmul ------------------------------------------------------------- */
enum { MM_N = 150 };
static uint64_t k_matmul(void)
{
    static double A[MM_N][MM_N], B[MM_N][MM_N], C[MM_N][MM_N];
    int64_t total = 0;
    for (int rep = 0; rep < 2; rep++) {
        for (int i = 0; i < MM_N; i++)
            for (int j = 0; j < MM_N; j++) {
                A[i][j] = (double)((int32_t)((uint32_t)(i * 7 + j * 3) % 11) - 5);
                B[i][j] = (double)((int32_t)((uint32_t)(i * 5 + j * 13) % 9) - 4 + rep);
                C[i][j] = 0;
            }
        for (int i = 0; i < MM_N; i++)
            for (int k = 0; k < MM_N; k++) {
                double aik = A[i][k];
                for (int j = 0; j < MM_N; j++)
                    C[i][j] = C[i][j] + aik * B[k][j];
            }
        double s = 0;
        for (int i = 0; i < MM_N; i++)
            for (int j = 0; j < MM_N; j++)
                s = s + C[i][j] * (double)(1 + (uint32_t)(i * MM_N + j) % 97);
        total += (int64_t)s;
    }
    return (uint64_t)total;
}

/* ---- qsort -------------------------------------------------------------- */
enum { QS_N = 200000 };
static int32_t qs[QS_N];
static void insertion(int32_t lo, int32_t hi)
{
    for (int32_t i = lo + 1; i <= hi; i++) {
        int32_t v = qs[i], j = i - 1;
        while (j >= lo && qs[j] > v) {
            qs[j + 1] = qs[j];
            j--;
        }
        qs[j + 1] = v;
    }
}
static int32_t median3(int32_t a, int32_t b, int32_t c)
{
    if (a < b)
        return b < c ? b : (a < c ? c : a);
    return a < c ? a : (b < c ? c : b);
}
static void quicksort(int32_t lo, int32_t hi)
{
    for (;;) {
        if (hi - lo < 16) {
            insertion(lo, hi);
            return;
        }
        int32_t p = median3(qs[lo], qs[lo + (int32_t)((uint32_t)(hi - lo) >> 1)], qs[hi]);
        int32_t i = lo - 1, j = hi + 1, t;
        for (;;) {
            do i++; while (qs[i] < p);
            do j--; while (qs[j] > p);
            if (i >= j)
                break;
            t = qs[i];
            qs[i] = qs[j];
            qs[j] = t;
        }
        if (j - lo < hi - j) {
            quicksort(lo, j);
            lo = j + 1;
        } else {
            quicksort(j + 1, hi);
            hi = j;
        }
    }
}
static uint64_t k_qsort(void)
{
    uint64_t acc = 0;
    for (uint32_t rep = 0; rep < 2; rep++) {
        uint32_t seed = 42 + rep * 7919;
        for (int i = 0; i < QS_N; i++) {
            seed = seed * 1664525u + 1013904223u;
            qs[i] = (int32_t)seed >> 1;
        }
        quicksort(0, QS_N - 1);
        uint64_t s = 0;
        for (int i = 1; i < QS_N; i++)
            if (qs[i - 1] > qs[i])
                return UINT64_MAX;
        for (int i = 0; i < QS_N; i++)
            s += (uint64_t)((int64_t)qs[i] * (int64_t)(i + 1));
        acc = acc * 1000003 + s;
    }
    return acc;
}

int main(void)
{
    printf("fib %" PRIu64 "\n", k_fib());
    printf("sieve %" PRIu64 "\n", k_sieve());
    printf("mandel %" PRIu64 "\n", k_mandel());
    printf("hash %" PRIu64 "\n", k_hash());
    printf("indirect %" PRIu64 "\n", k_indirect());
    printf("bytecode %" PRIu64 "\n", k_bytecode());
    printf("matmul %" PRIu64 "\n", k_matmul());
    printf("qsort %" PRIu64 "\n", k_qsort());
    return 0;
}
