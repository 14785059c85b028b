/*
 * vec_dist.c - portable distance kernels and the run-time dispatch.
 *
 * The scalar float kernels use four partial sums: besides letting the
 * compiler overlap the additions, it keeps them close to the SIMD kernels'
 * summation order, so tests can compare results with a small tolerance.
 */
#include "index/vector/vec_dist.h"

#include <pthread.h>

#include "core/cpu.h"

static float l2_f32_scalar(const void *pa, const void *pb, size_t dim)
{
    const float *a = pa, *b = pb;
    float s[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= dim; i += 4)
        for (int j = 0; j < 4; j++) {
            float d = a[i + j] - b[i + j];
            s[j] += d * d;
        }
    for (; i < dim; i++) {
        float d = a[i] - b[i];
        s[0] += d * d;
    }
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static float ip_f32_scalar(const void *pa, const void *pb, size_t dim)
{
    const float *a = pa, *b = pb;
    float s[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= dim; i += 4)
        for (int j = 0; j < 4; j++)
            s[j] += a[i + j] * b[i + j];
    for (; i < dim; i++)
        s[0] += a[i] * b[i];
    return 1.0f - ((s[0] + s[1]) + (s[2] + s[3]));
}

static float l2_u8_scalar(const void *pa, const void *pb, size_t dim)
{
    const uint8_t *a = pa, *b = pb;
    uint32_t s = 0;
    for (size_t i = 0; i < dim; i++) {
        int d = (int)a[i] - (int)b[i];
        s += (uint32_t)(d * d);
    }
    return (float)s;
}

static float ip_u8_scalar(const void *pa, const void *pb, size_t dim)
{
    const uint8_t *a = pa, *b = pb;
    uint32_t s = 0;
    for (size_t i = 0; i < dim; i++)
        s += (uint32_t)a[i] * b[i];
    return 1.0f - (float)s;
}

static float l2_f32u8_scalar(const void *pa, const void *pb, size_t dim)
{
    const float *a = pa;
    const uint8_t *b = pb;
    float s[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= dim; i += 4)
        for (int j = 0; j < 4; j++) {
            float d = a[i + j] - (float)b[i + j];
            s[j] += d * d;
        }
    for (; i < dim; i++) {
        float d = a[i] - (float)b[i];
        s[0] += d * d;
    }
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static float ip_f32u8_scalar(const void *pa, const void *pb, size_t dim)
{
    const float *a = pa;
    const uint8_t *b = pb;
    float s[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= dim; i += 4)
        for (int j = 0; j < 4; j++)
            s[j] += a[i + j] * (float)b[i + j];
    for (; i < dim; i++)
        s[0] += a[i] * (float)b[i];
    return 1.0f - ((s[0] + s[1]) + (s[2] + s[3]));
}

static const vec_kernels scalar_table = {
    l2_f32_scalar, ip_f32_scalar, l2_u8_scalar, ip_u8_scalar,
    l2_f32u8_scalar, ip_f32u8_scalar, "scalar",
};

/* Defined in vec_dist_avx2.c / vec_dist_avx512.c (compiled with target
 * attributes, safe to reference on any CPU, called only if supported). */
extern const vec_kernels vec_kernels_avx2_table;
extern const vec_kernels vec_kernels_avx512_table;

const vec_kernels *vec_kernels_scalar(void)
{
    return &scalar_table;
}

const vec_kernels *vec_kernels_avx2(void)
{
    return steme_cpu_has(STEME_CPU_AVX2 | STEME_CPU_FMA) ? &vec_kernels_avx2_table : NULL;
}

const vec_kernels *vec_kernels_avx512(void)
{
    return steme_cpu_has(STEME_CPU_AVX512F | STEME_CPU_AVX512BW | STEME_CPU_AVX512VL)
               ? &vec_kernels_avx512_table
               : NULL;
}

static pthread_once_t dispatch_once = PTHREAD_ONCE_INIT;
static const vec_kernels *dispatch_best = &scalar_table; /* written once, then read-only */

static void dispatch_init(void)
{
    const vec_kernels *k = vec_kernels_avx512();
    if (!k)
        k = vec_kernels_avx2();
    dispatch_best = k ? k : &scalar_table;
}

const vec_kernels *vec_kernels_get(void)
{
    pthread_once(&dispatch_once, dispatch_init);
    return dispatch_best;
}
