/* blake3_avx512.c - BLAKE3 hashing 16 inputs at once with AVX-512F (see
 * blake3_simd_body.h). Compiled for generic x86-64; only called when the
 * CPU reports AVX-512F (blake3.c). Leftovers (< 16 inputs) go to AVX2. */
#include "core/blake3_int.h"

#include <immintrin.h>

#define B3_VEC       __m512i
#define B3_DEGREE    16
#define B3_TARGET    "avx512f"
#define B3_FN        static inline __attribute__((always_inline, target(B3_TARGET)))
#define B3_HASH_MANY b3_hash_many_avx512
#define B3_FALLBACK  b3_hash_many_avx2
#define B3_PAD_MIN   9   /* up to 8 leftovers fit the AVX2 kernel exactly */

B3_FN __m512i v_add(__m512i a, __m512i b) { return _mm512_add_epi32(a, b); }
B3_FN __m512i v_xor(__m512i a, __m512i b) { return _mm512_xor_si512(a, b); }
B3_FN __m512i v_set1(uint32_t x) { return _mm512_set1_epi32((int)x); }
B3_FN __m512i v_loadu(const uint32_t *p) { return _mm512_loadu_si512((const void *)p); }
B3_FN void v_storeu(uint32_t *p, __m512i x) { _mm512_storeu_si512((void *)p, x); }
/* AVX-512 has a true rotate instruction. */
B3_FN __m512i v_rot16(__m512i x) { return _mm512_ror_epi32(x, 16); }
B3_FN __m512i v_rot12(__m512i x) { return _mm512_ror_epi32(x, 12); }
B3_FN __m512i v_rot8(__m512i x) { return _mm512_ror_epi32(x, 8); }
B3_FN __m512i v_rot7(__m512i x) { return _mm512_ror_epi32(x, 7); }

/*
 * 16x16 transpose of 32-bit words. Step 1: in each group of 4 rows, a 4x4
 * transpose inside every 128-bit lane gives t[g][k], whose lane L holds
 * word 4L+k of rows 4g..4g+3. Step 2: for each k, a 4x4 transpose of the
 * lanes of t[0..3][k] gathers word 4L+k of all 16 rows into out[4L+k].
 */
B3_FN void transpose16(__m512i *out, const __m512i *r)
{
    __m512i t[4][4];
    for (int g = 0; g < 4; g++) {
        const __m512i *q = r + 4 * g;
        __m512i ab01 = _mm512_unpacklo_epi32(q[0], q[1]), ab23 = _mm512_unpackhi_epi32(q[0], q[1]);
        __m512i cd01 = _mm512_unpacklo_epi32(q[2], q[3]), cd23 = _mm512_unpackhi_epi32(q[2], q[3]);
        t[g][0] = _mm512_unpacklo_epi64(ab01, cd01);
        t[g][1] = _mm512_unpackhi_epi64(ab01, cd01);
        t[g][2] = _mm512_unpacklo_epi64(ab23, cd23);
        t[g][3] = _mm512_unpackhi_epi64(ab23, cd23);
    }
    for (int k = 0; k < 4; k++) {
        __m512i a = _mm512_shuffle_i32x4(t[0][k], t[1][k], 0x44);  /* t0.L0 t0.L1 t1.L0 t1.L1 */
        __m512i b = _mm512_shuffle_i32x4(t[0][k], t[1][k], 0xEE);  /* t0.L2 t0.L3 t1.L2 t1.L3 */
        __m512i c = _mm512_shuffle_i32x4(t[2][k], t[3][k], 0x44);
        __m512i d = _mm512_shuffle_i32x4(t[2][k], t[3][k], 0xEE);
        out[k] = _mm512_shuffle_i32x4(a, c, 0x88);        /* lane 0 of t0..t3 */
        out[4 + k] = _mm512_shuffle_i32x4(a, c, 0xDD);    /* lane 1 */
        out[8 + k] = _mm512_shuffle_i32x4(b, d, 0x88);    /* lane 2 */
        out[12 + k] = _mm512_shuffle_i32x4(b, d, 0xDD);   /* lane 3 */
    }
}

B3_FN void load_msg(const uint8_t *const *in, size_t off, __m512i m[16])
{
    __m512i rows[16];
    for (int i = 0; i < 16; i++)
        rows[i] = _mm512_loadu_si512((const void *)(in[i] + off));
    transpose16(m, rows);
}

#include "core/blake3_simd_body.h"
