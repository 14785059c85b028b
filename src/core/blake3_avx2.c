/* blake3_avx2.c - BLAKE3 hashing 8 inputs at once with AVX2 (see
 * blake3_simd_body.h). Compiled for generic x86-64; only called when the
 * CPU reports AVX2 (blake3.c). Leftovers (< 8 inputs) go to SSE4.1. */
#include "core/blake3_int.h"

#include <immintrin.h>

#define B3_VEC       __m256i
#define B3_DEGREE    8
#define B3_TARGET    "avx2"
#define B3_FN        static inline __attribute__((always_inline, target(B3_TARGET)))
#define B3_HASH_MANY b3_hash_many_avx2
#define B3_FALLBACK  b3_hash_many_sse41
#define B3_PAD_MIN   5   /* up to 4 leftovers fit the SSE4.1 kernel exactly */

B3_FN __m256i v_add(__m256i a, __m256i b) { return _mm256_add_epi32(a, b); }
B3_FN __m256i v_xor(__m256i a, __m256i b) { return _mm256_xor_si256(a, b); }
B3_FN __m256i v_set1(uint32_t x) { return _mm256_set1_epi32((int)x); }
B3_FN __m256i v_loadu(const uint32_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
B3_FN void v_storeu(uint32_t *p, __m256i x) { _mm256_storeu_si256((__m256i *)p, x); }

/* Rotations by 16 and 8 move whole bytes: one byte shuffle each. */
B3_FN __m256i v_rot16(__m256i x)
{
    return _mm256_shuffle_epi8(x, _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15,
                                                   12, 13, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8,
                                                   9, 14, 15, 12, 13));
}
B3_FN __m256i v_rot8(__m256i x)
{
    return _mm256_shuffle_epi8(x, _mm256_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14,
                                                   15, 12, 1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11,
                                                   8, 13, 14, 15, 12));
}
B3_FN __m256i v_rot12(__m256i x)
{
    return _mm256_or_si256(_mm256_srli_epi32(x, 12), _mm256_slli_epi32(x, 20));
}
B3_FN __m256i v_rot7(__m256i x)
{
    return _mm256_or_si256(_mm256_srli_epi32(x, 7), _mm256_slli_epi32(x, 25));
}

/*
 * 8x8 transpose of 32-bit words: r[i] row i -> out[k] = {r0[k], ..., r7[k]}.
 * Unpacks work inside 128-bit lanes, so first transpose 4x4 blocks in each
 * lane (rows 0-3 and 4-7), then pair up the lanes.
 */
B3_FN void transpose8(__m256i *out, const __m256i *r)
{
    __m256i t[8];
    for (int g = 0; g < 2; g++) {
        const __m256i *q = r + 4 * g;
        __m256i ab01 = _mm256_unpacklo_epi32(q[0], q[1]), ab23 = _mm256_unpackhi_epi32(q[0], q[1]);
        __m256i cd01 = _mm256_unpacklo_epi32(q[2], q[3]), cd23 = _mm256_unpackhi_epi32(q[2], q[3]);
        t[4 * g + 0] = _mm256_unpacklo_epi64(ab01, cd01);   /* words 0 | 4 */
        t[4 * g + 1] = _mm256_unpackhi_epi64(ab01, cd01);   /* words 1 | 5 */
        t[4 * g + 2] = _mm256_unpacklo_epi64(ab23, cd23);   /* words 2 | 6 */
        t[4 * g + 3] = _mm256_unpackhi_epi64(ab23, cd23);   /* words 3 | 7 */
    }
    for (int k = 0; k < 4; k++) {
        out[k] = _mm256_permute2x128_si256(t[k], t[4 + k], 0x20);
        out[k + 4] = _mm256_permute2x128_si256(t[k], t[4 + k], 0x31);
    }
}

B3_FN void load_msg(const uint8_t *const *in, size_t off, __m256i m[16])
{
    for (int half = 0; half < 2; half++) {
        __m256i rows[8];
        for (int i = 0; i < 8; i++)
            rows[i] = _mm256_loadu_si256((const __m256i *)(in[i] + off + 32 * (size_t)half));
        transpose8(m + 8 * half, rows);
    }
}

#include "core/blake3_simd_body.h"
