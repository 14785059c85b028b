/* blake3_sse41.c - BLAKE3 hashing 4 inputs at once with SSE4.1 (see
 * blake3_simd_body.h). Compiled for generic x86-64; only called when the
 * CPU reports SSE4.1 (blake3.c). */
#include "core/blake3_int.h"

#include <immintrin.h>

#define B3_VEC       __m128i
#define B3_DEGREE    4
#define B3_TARGET    "sse4.1"
#define B3_FN        static inline __attribute__((always_inline, target(B3_TARGET)))
#define B3_HASH_MANY b3_hash_many_sse41
#define B3_FALLBACK  b3_hash_many_portable
#define B3_PAD_MIN   2   /* 2 inputs: one 4-lane pass costs less than 2 portable ones */

B3_FN __m128i v_add(__m128i a, __m128i b) { return _mm_add_epi32(a, b); }
B3_FN __m128i v_xor(__m128i a, __m128i b) { return _mm_xor_si128(a, b); }
B3_FN __m128i v_set1(uint32_t x) { return _mm_set1_epi32((int)x); }
B3_FN __m128i v_loadu(const uint32_t *p) { return _mm_loadu_si128((const __m128i *)p); }
B3_FN void v_storeu(uint32_t *p, __m128i x) { _mm_storeu_si128((__m128i *)p, x); }

/* Rotations by 16 and 8 move whole bytes: one byte shuffle each. */
B3_FN __m128i v_rot16(__m128i x)
{
    return _mm_shuffle_epi8(x, _mm_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
}
B3_FN __m128i v_rot8(__m128i x)
{
    return _mm_shuffle_epi8(x, _mm_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12));
}
B3_FN __m128i v_rot12(__m128i x) { return _mm_or_si128(_mm_srli_epi32(x, 12), _mm_slli_epi32(x, 20)); }
B3_FN __m128i v_rot7(__m128i x) { return _mm_or_si128(_mm_srli_epi32(x, 7), _mm_slli_epi32(x, 25)); }

/* Rows a,b,c,d (4 words each) become word vectors: out[k] = {a[k],b[k],c[k],d[k]}. */
B3_FN void transpose4(__m128i *out, __m128i a, __m128i b, __m128i c, __m128i d)
{
    __m128i ab01 = _mm_unpacklo_epi32(a, b), ab23 = _mm_unpackhi_epi32(a, b);
    __m128i cd01 = _mm_unpacklo_epi32(c, d), cd23 = _mm_unpackhi_epi32(c, d);
    out[0] = _mm_unpacklo_epi64(ab01, cd01);
    out[1] = _mm_unpackhi_epi64(ab01, cd01);
    out[2] = _mm_unpacklo_epi64(ab23, cd23);
    out[3] = _mm_unpackhi_epi64(ab23, cd23);
}

B3_FN void load_msg(const uint8_t *const *in, size_t off, __m128i m[16])
{
    for (int q = 0; q < 4; q++) {
        size_t o = off + 16 * (size_t)q;
        transpose4(m + 4 * q, _mm_loadu_si128((const __m128i *)(in[0] + o)),
                   _mm_loadu_si128((const __m128i *)(in[1] + o)),
                   _mm_loadu_si128((const __m128i *)(in[2] + o)),
                   _mm_loadu_si128((const __m128i *)(in[3] + o)));
    }
}

#include "core/blake3_simd_body.h"
