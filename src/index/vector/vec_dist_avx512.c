/*
 * vec_dist_avx512.c - AVX-512 (F + BW + VL) distance kernels (see
 * vec_dist.h). Called only when cpuid reports all three.
 *
 * Tails use masked loads, so any dimension runs without a scalar loop and
 * without reading past the vector. Byte kernels widen 32 bytes to 32
 * 16-bit lanes per step; madd_epi16 squares and pair-adds exactly.
 */
#include <immintrin.h>

#include "index/vector/vec_dist.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

AVX512 static float l2_f32_avx512(const void *pa, const void *pb, size_t dim)
{
    const float *a = pa, *b = pb;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
        __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2);
        s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    for (; i + 16 <= dim; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s1 = _mm512_fmadd_ps(d, d, s1);
    }
    if (i < dim) {
        __mmask16 m = (__mmask16)((1u << (dim - i)) - 1);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s2 = _mm512_fmadd_ps(d, d, s2);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

AVX512 static float ip_f32_avx512(const void *pa, const void *pb, size_t dim)
{
    const float *a = pa, *b = pb;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= dim; i += 16)
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s1);
    if (i < dim) {
        __mmask16 m = (__mmask16)((1u << (dim - i)) - 1);
        s2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s2);
    }
    return 1.0f - _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

AVX512 static inline __m512i widen32(const uint8_t *p)
{
    return _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)p));
}

AVX512 static inline __m512i widen32_tail(const uint8_t *p, size_t n)
{
    __mmask32 m = (__mmask32)((n >= 32) ? 0xffffffffu : ((1u << n) - 1));
    return _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, p));
}

AVX512 static float l2_u8_avx512(const void *pa, const void *pb, size_t dim)
{
    const uint8_t *a = pa, *b = pb;
    __m512i s0 = _mm512_setzero_si512(), s1 = s0;
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        __m512i d0 = _mm512_sub_epi16(widen32(a + i), widen32(b + i));
        __m512i d1 = _mm512_sub_epi16(widen32(a + i + 32), widen32(b + i + 32));
        s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(d0, d0));
        s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(d1, d1));
    }
    for (; i < dim; i += 32) {
        __m512i d = _mm512_sub_epi16(widen32_tail(a + i, dim - i), widen32_tail(b + i, dim - i));
        s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(d, d));
    }
    return (float)_mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

AVX512 static float ip_u8_avx512(const void *pa, const void *pb, size_t dim)
{
    const uint8_t *a = pa, *b = pb;
    __m512i s0 = _mm512_setzero_si512(), s1 = s0;
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(widen32(a + i), widen32(b + i)));
        s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(widen32(a + i + 32), widen32(b + i + 32)));
    }
    for (; i < dim; i += 32)
        s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(widen32_tail(a + i, dim - i),
                                                     widen32_tail(b + i, dim - i)));
    return 1.0f - (float)_mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

AVX512 static inline __m512 load16_u8(const uint8_t *p, __mmask16 m)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, p)));
}

AVX512 static float l2_f32u8_avx512(const void *pa, const void *pb, size_t dim)
{
    const float *a = pa;
    const uint8_t *b = pb;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), load16_u8(b + i, 0xffff));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), load16_u8(b + i + 16, 0xffff));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
    }
    for (; i < dim; i += 16) {
        size_t n = dim - i;
        __mmask16 m = (__mmask16)(n >= 16 ? 0xffffu : ((1u << n) - 1));
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), load16_u8(b + i, m));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

AVX512 static float ip_f32u8_avx512(const void *pa, const void *pb, size_t dim)
{
    const float *a = pa;
    const uint8_t *b = pb;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), load16_u8(b + i, 0xffff), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), load16_u8(b + i + 16, 0xffff), s1);
    }
    for (; i < dim; i += 16) {
        size_t n = dim - i;
        __mmask16 m = (__mmask16)(n >= 16 ? 0xffffu : ((1u << n) - 1));
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), load16_u8(b + i, m), s0);
    }
    return 1.0f - _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

const vec_kernels vec_kernels_avx512_table = {
    l2_f32_avx512, ip_f32_avx512, l2_u8_avx512, ip_u8_avx512,
    l2_f32u8_avx512, ip_f32u8_avx512, "avx512",
};
