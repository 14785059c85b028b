/*
 * crc32c.c - CRC-32C (Castagnoli): slicing-by-8 tables and the SSE4.2
 * crc32 instruction, chosen at run time (see steme/hash.h, crc32c_int.h).
 *
 * Conventions: the register is reflected (bit 0 = highest power of x), it
 * starts at ~crc and the result is inverted again, so a chained call passes
 * the previous result straight back in.
 *
 * Three-way hardware kernel. A block of 3n bytes is split into streams
 * A, B, C of n bytes, each with its own register (A starts with the
 * incoming value, B and C with 0). Because the CRC register is linear,
 *     crc(A||B||C) = shift(rA, 2n) ^ shift(rB, n) ^ rC
 * where shift(r, n) = r * x^(8n) mod P, the effect of n zero bytes. With
 * K = x^(8n-33) mod P, the 64-bit carry-less product r*K, read as a
 * reflected 64-bit polynomial, is r*K*x; the crc32 instruction applied to
 * it with a zero register multiplies by x^32 and reduces mod P, giving
 * r*x^(8n) mod P. So each shift costs one pclmulqdq and one crc32.
 */
#include "core/crc32c_int.h"
#include "core/cpu.h"
#include "steme/hash.h"

#include <immintrin.h>
#include <pthread.h>
#include <string.h>

/* Block sizes of the three-way kernel: long blocks amortise the combine,
 * short ones still pay off down to a few hundred bytes. */
#define CRC_LONG  4096
#define CRC_SHORT 256
/* crc32c_shift_constant() of these sizes, computed once offline; the tests
 * recompute them. */
#define K_LONG     0x82F89C77u   /* n = 4096 */
#define K_LONG2    0x54A86326u   /* n = 8192 */
#define K_SHORT    0xB9E02B86u   /* n = 256 */
#define K_SHORT2   0xDD7E3B0Cu   /* n = 512 */

/* ---- portable: slicing-by-8 ------------------------------------------------ */

/* crc_table[k][b]: register after byte b followed by k zero bytes. Written
 * once under pthread_once, read-only after. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_build(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t r = b;
        for (int i = 0; i < 8; i++)
            r = (r >> 1) ^ ((r & 1) ? CRC32C_POLY_REFLECTED : 0);
        crc_table[0][b] = r;
    }
    for (int k = 1; k < 8; k++)
        for (int b = 0; b < 256; b++)
            crc_table[k][b] = (crc_table[k - 1][b] >> 8) ^ crc_table[0][crc_table[k - 1][b] & 0xFF];
}

uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    if (!data)
        return crc;
    pthread_once(&crc_table_once, crc_table_build);
    const uint8_t *p = data;
    uint32_t r = ~crc;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= r;
        r = crc_table[7][w & 0xFF] ^ crc_table[6][(w >> 8) & 0xFF] ^
            crc_table[5][(w >> 16) & 0xFF] ^ crc_table[4][(w >> 24) & 0xFF] ^
            crc_table[3][(w >> 32) & 0xFF] ^ crc_table[2][(w >> 40) & 0xFF] ^
            crc_table[1][(w >> 48) & 0xFF] ^ crc_table[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        r = (r >> 8) ^ crc_table[0][(r ^ *p++) & 0xFF];
    return ~r;
}

/* ---- SSE4.2 ------------------------------------------------------------------ */

__attribute__((target("sse4.2"))) static uint32_t
hw_stream(uint32_t r, const uint8_t *p, size_t len)
{
    /* Byte steps up to 8-byte alignment: split loads cost on older cores. */
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        r = _mm_crc32_u8(r, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        r = (uint32_t)_mm_crc32_u64(r, w);
        p += 8;
        len -= 8;
    }
    while (len--)
        r = _mm_crc32_u8(r, *p++);
    return r;
}

__attribute__((target("sse4.2"))) uint32_t crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    if (!data)
        return crc;
    return ~hw_stream(~crc, data, len);
}

/* r * x^(8n) mod P given k = x^(8n-33) mod P (see the top of this file). */
__attribute__((target("sse4.2,pclmul"))) static inline uint64_t
shift_product(uint32_t r, uint32_t k)
{
    __m128i prod = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)r), _mm_cvtsi32_si128((int)k), 0);
    return (uint64_t)_mm_cvtsi128_si64(prod);
}

/* Three streams of n bytes (n a multiple of 8) per step, while 3n remain. */
__attribute__((target("sse4.2,pclmul"))) static uint32_t
hw3_blocks(uint32_t r, const uint8_t **pp, size_t *lenp, size_t n, uint32_t k_n, uint32_t k_2n)
{
    const uint8_t *p = *pp;
    size_t len = *lenp;
    while (len >= 3 * n) {
        uint64_t ra = r, rb = 0, rc = 0;
        const uint8_t *end = p + n;
        while (p < end) {
            uint64_t a, b, c;
            memcpy(&a, p, 8);
            memcpy(&b, p + n, 8);
            memcpy(&c, p + 2 * n, 8);
            ra = _mm_crc32_u64(ra, a);
            rb = _mm_crc32_u64(rb, b);
            rc = _mm_crc32_u64(rc, c);
            p += 8;
        }
        uint64_t s = shift_product((uint32_t)ra, k_2n) ^ shift_product((uint32_t)rb, k_n);
        r = (uint32_t)_mm_crc32_u64(0, s) ^ (uint32_t)rc;
        p += 2 * n;
        len -= 3 * n;
    }
    *pp = p;
    *lenp = len;
    return r;
}

__attribute__((target("sse4.2,pclmul"))) uint32_t
crc32c_hw3(uint32_t crc, const void *data, size_t len)
{
    if (!data)
        return crc;
    const uint8_t *p = data;
    uint32_t r = ~crc;
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        r = _mm_crc32_u8(r, *p++);
        len--;
    }
    r = hw3_blocks(r, &p, &len, CRC_LONG, K_LONG, K_LONG2);
    r = hw3_blocks(r, &p, &len, CRC_SHORT, K_SHORT, K_SHORT2);
    return ~hw_stream(r, p, len);
}

uint32_t crc32c_shift_constant(size_t n)
{
    /* x^0 is bit 31 when reflected; multiplying by x shifts right, and the
     * x^32 term that falls off bit 0 is replaced by P's lower terms. */
    uint32_t r = 0x80000000u;
    for (size_t i = 0; i + 33 < 8 * n; i++)
        r = (r >> 1) ^ ((r & 1) ? CRC32C_POLY_REFLECTED : 0);
    return r;
}

uint32_t steme_crc32c(uint32_t crc, const void *data, size_t len)
{
    uint32_t f = steme_cpu_features();
    if ((f & (STEME_CPU_SSE42 | STEME_CPU_PCLMUL)) == (STEME_CPU_SSE42 | STEME_CPU_PCLMUL))
        return crc32c_hw3(crc, data, len);
    if (f & STEME_CPU_SSE42)
        return crc32c_hw(crc, data, len);
    return crc32c_sw(crc, data, len);
}
