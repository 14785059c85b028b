/* cpu.c - run-time detection of x86-64 extensions (see cpu.h). */
#include "core/cpu.h"

#include <pthread.h>
#include <stdlib.h>

/* Written once under pthread_once, read-only afterwards. */
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static uint32_t cpu_raw;
static uint32_t cpu_masked;

static uint32_t cpu_detect(void)
{
    uint32_t f = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.1"))          f |= STEME_CPU_SSE41;
    if (__builtin_cpu_supports("sse4.2"))          f |= STEME_CPU_SSE42;
    if (__builtin_cpu_supports("popcnt"))          f |= STEME_CPU_POPCNT;
    if (__builtin_cpu_supports("avx2"))            f |= STEME_CPU_AVX2;
    if (__builtin_cpu_supports("fma"))             f |= STEME_CPU_FMA;
    if (__builtin_cpu_supports("avx512f"))         f |= STEME_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw"))        f |= STEME_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512vl"))        f |= STEME_CPU_AVX512VL;
    if (__builtin_cpu_supports("avx512vpopcntdq")) f |= STEME_CPU_AVX512VPOPCNTDQ;
    if (__builtin_cpu_supports("pclmul"))          f |= STEME_CPU_PCLMUL;
#endif
    return f;
}

static void cpu_init(void)
{
    cpu_raw = cpu_detect();
    cpu_masked = cpu_raw;
    const char *env = getenv(STEME_CPU_MASK_ENV);
    if (env && *env) {
        char *end = NULL;
        unsigned long long m = strtoull(env, &end, 16);
        /* Ignore a malformed value rather than silently disabling SIMD. */
        if (end && *end == '\0')
            cpu_masked &= (uint32_t)m;
    }
}

uint32_t steme_cpu_features(void)
{
    pthread_once(&cpu_once, cpu_init);
    return cpu_masked;
}

uint32_t steme_cpu_features_raw(void)
{
    pthread_once(&cpu_once, cpu_init);
    return cpu_raw;
}
