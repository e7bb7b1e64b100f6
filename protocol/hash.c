/*
 * SHA-256 (FIPS 180-4) for module hashes, CRC32C for trace file chunks,
 * and hex helpers. Small portable implementations of our own so that the
 * protocol library depends on nothing but libc and jansson.
 */
#include <pthread.h>

#include "proto_int.h"

/* ---- SHA-256 ------------------------------------------------------------ */

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror32(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, k;

    for (int i = 0; i < 16; i++)
        w[i] = ((uint32_t)p[4 * i] << 24) | ((uint32_t)p[4 * i + 1] << 16) |
               ((uint32_t)p[4 * i + 2] << 8) | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);

        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t s1 = ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = k + s1 + ch + sha_k[i] + w[i];
        uint32_t s0 = ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = s0 + maj;

        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
    h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void proto_sha256(const void *data, size_t len, uint8_t out[32])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const uint8_t *p = data;
    uint8_t tail[128];
    size_t rest = len % 64, n;
    uint64_t bits = (uint64_t)len * 8;

    for (size_t i = 0; i + 64 <= len; i += 64)
        sha_block(h, p + i);
    memset(tail, 0, sizeof tail);
    if (rest)
        memcpy(tail, p + len - rest, rest);
    tail[rest] = 0x80;
    n = rest + 1 + 8 <= 64 ? 64 : 128;
    for (int i = 0; i < 8; i++)
        tail[n - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha_block(h, tail);
    if (n == 128)
        sha_block(h, tail + 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

void proto_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int proto_unhex(const char *hex, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo;

        if (hi < 0)
            return PROTO_ERR_ARG;
        lo = hexval(hex[2 * i + 1]);
        if (lo < 0)
            return PROTO_ERR_ARG;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---- CRC32C, slice-by-8 ------------------------------------------------------ */

/*
 * The tables are computed once (pthread_once) and never written again, so
 * they are shared immutable state rather than mutable globals.
 */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;

        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
                              crc_table[0][crc_table[t - 1][i] & 0xff];
}

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }
    while (len >= 8) {
        uint32_t lo = proto__get_u32(p) ^ crc, hi = proto__get_u32(p + 4);

        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
              crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
              crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/*
 * SSE4.2's crc32 instruction computes exactly this CRC (Castagnoli,
 * reflected), 8 bytes per instruction: the trace file's checksums went
 * from ~3.9 instructions a byte (slice-by-8; 2.6% of a recorded fib(25)
 * run's instructions) to ~0.5 (callgrind). One chain of them runs at the
 * instruction's latency (3 cycles for 8 bytes), so a long buffer goes as
 * three chains over three thirds of each CRC_BLOCK * 3 bytes, joined
 * with crc_shift: the CRC register is linear over GF(2), so after A then
 * B it is shift(reg after A, |B|) ^ (reg after B from 0), where shift
 * multiplies by x^(8 |B|) modulo the polynomial, for |B| = CRC_BLOCK a
 * table per byte of the register (crc_shift_table, made with the others).
 * The recorded qsort kernel's consumer spends ~10% of its time here with
 * one chain (docs/performance.md).
 */
#define CRC_BLOCK 4096u

static uint32_t crc_shift_table[4][256];

/* a * b modulo the polynomial, both reflected (bit 31 is x^0). */
static uint32_t crc_multmodp(uint32_t a, uint32_t b)
{
    uint32_t m = 1u << 31, p = 0;

    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0)
                break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ 0x82f63b78u : b >> 1;
    }
    return p;
}

/* The tables of x^(8 CRC_BLOCK) times a register, a byte at a time. */
static void crc_shift_init(void)
{
    uint32_t x = 1u << 30; /* x^1 */

    /* x^(8 CRC_BLOCK) = x^(2^15): square x^1 fifteen times */
    for (unsigned k = 0; (1u << k) < 8 * CRC_BLOCK; k++)
        x = crc_multmodp(x, x);
    for (uint32_t j = 0; j < 4; j++)
        for (uint32_t v = 0; v < 256; v++)
            crc_shift_table[j][v] = crc_multmodp(x, v << (8 * j));
}

/* The register reg moved over CRC_BLOCK zero bytes. */
static inline uint32_t crc_shift(uint32_t reg)
{
    return crc_shift_table[0][reg & 0xff] ^
           crc_shift_table[1][(reg >> 8) & 0xff] ^
           crc_shift_table[2][(reg >> 16) & 0xff] ^
           crc_shift_table[3][reg >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = ~crc & 0xffffffffu;

    while (len && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        len--;
    }
    while (len >= 3 * CRC_BLOCK) {
        uint64_t b = 0, d = 0;

        for (size_t i = 0; i < CRC_BLOCK; i += 8) {
            uint64_t wa, wb, wd;

            memcpy(&wa, p + i, 8);
            memcpy(&wb, p + CRC_BLOCK + i, 8);
            memcpy(&wd, p + 2 * CRC_BLOCK + i, 8);
            c = __builtin_ia32_crc32di(c, wa);
            b = __builtin_ia32_crc32di(b, wb);
            d = __builtin_ia32_crc32di(d, wd);
        }
        c = crc_shift(crc_shift((uint32_t)c) ^ (uint32_t)b) ^ (uint32_t)d;
        p += 3 * CRC_BLOCK;
        len -= 3 * CRC_BLOCK;
    }
    while (len >= 8) {
        uint64_t w;

        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
#define HAVE_CRC32C_HW 1
#endif

/* Chosen once with the tables (crc_init), then only read. */
static uint32_t (*crc32c_impl)(uint32_t, const uint8_t *, size_t) = crc32c_sw;

static void crc_once_init(void)
{
    crc_init();
#ifdef HAVE_CRC32C_HW
    crc_shift_init();
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))
        crc32c_impl = crc32c_hw;
#endif
}

uint32_t proto_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_once_init);
    return crc32c_impl(crc, data, len);
}

/* The portable version, whatever the CPU (tests compare the two). */
uint32_t proto__crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_once_init);
    return crc32c_sw(crc, data, len);
}
