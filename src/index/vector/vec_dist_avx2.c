/*
 * vec_dist_avx2.c - AVX2 + FMA distance kernels (see vec_dist.h).
 *
 * Compiled with per-function target attributes (the library is built for
 * generic x86-64) and only called when cpuid reports AVX2 and FMA.
 * Float kernels keep four independent accumulators: one FMA chain would
 * stall on its 4-cycle latency. Byte kernels widen 16 bytes to 16-bit lanes,
 * subtract, and let madd_epi16 square and pair-add into 32-bit lanes: exact,
 * since |d| <= 255 gives pair sums <= 130050.
 */
#include <immintrin.h>

#include "index/vector/vec_dist.h"

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static inline int32_t hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

AVX2 static float l2_f32_avx2(const void *pa, const void *pb, size_t dim)
{
    const float *a = pa, *b = pb;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i + 8 <= dim; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < dim; i++) {
        float d = a[i] - b[i];
        s += d * d;
    }
    return s;
}

AVX2 static float ip_f32_avx2(const void *pa, const void *pb, size_t dim)
{
    const float *a = pa, *b = pb;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= dim; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < dim; i++)
        s += a[i] * b[i];
    return 1.0f - s;
}

AVX2 static float l2_u8_avx2(const void *pa, const void *pb, size_t dim)
{
    const uint8_t *a = pa, *b = pb;
    __m256i s0 = _mm256_setzero_si256(), s1 = s0;
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m256i a0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i b0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        __m256i a1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i + 16)));
        __m256i b1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + i + 16)));
        __m256i d0 = _mm256_sub_epi16(a0, b0), d1 = _mm256_sub_epi16(a1, b1);
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(d0, d0));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(d1, d1));
    }
    for (; i + 16 <= dim; i += 16) {
        __m256i d = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i))),
                                     _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + i))));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(d, d));
    }
    int32_t s = hsum8i(_mm256_add_epi32(s0, s1));
    for (; i < dim; i++) {
        int d = (int)a[i] - (int)b[i];
        s += d * d;
    }
    return (float)s;
}

AVX2 static float ip_u8_avx2(const void *pa, const void *pb, size_t dim)
{
    const uint8_t *a = pa, *b = pb;
    __m256i s0 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m256i a0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i b0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(a0, b0));
    }
    /* Products are <= 65025, so 4096 of them stay below 2^31. */
    int32_t s = hsum8i(s0);
    for (; i < dim; i++)
        s += (int32_t)a[i] * b[i];
    return 1.0f - (float)s;
}

AVX2 static inline __m256 load8_u8(const uint8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

AVX2 static float l2_f32u8_avx2(const void *pa, const void *pb, size_t dim)
{
    const float *a = pa;
    const uint8_t *b = pb;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), load8_u8(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), load8_u8(b + i + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < dim; i++) {
        float d = a[i] - (float)b[i];
        s += d * d;
    }
    return s;
}

AVX2 static float ip_f32u8_avx2(const void *pa, const void *pb, size_t dim)
{
    const float *a = pa;
    const uint8_t *b = pb;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load8_u8(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load8_u8(b + i + 8), s1);
    }
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < dim; i++)
        s += a[i] * (float)b[i];
    return 1.0f - s;
}

const vec_kernels vec_kernels_avx2_table = {
    l2_f32_avx2, ip_f32_avx2, l2_u8_avx2, ip_u8_avx2, l2_f32u8_avx2, ip_f32u8_avx2, "avx2",
};
