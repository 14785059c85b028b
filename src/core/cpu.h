/*
 * core/cpu.h - which x86-64 instruction-set extensions this process may use.
 *
 * steme is compiled for generic x86-64 (never -march=native), so every SIMD
 * kernel (BLAKE3, CRC32C, later HNSW distances and Hamming scans) is compiled
 * with a per-function target attribute and chosen at run time from this mask.
 *
 * The mask is computed once per process (pthread_once) from cpuid, including
 * the operating system's consent to save the wide registers (xgetbv), which
 * __builtin_cpu_supports checks for AVX and AVX-512. It is then ANDed with the
 * hexadecimal value of the environment variable STEME_CPU_MASK, if set, so a
 * test or benchmark can force a lower path:
 *
 *     STEME_CPU_MASK=0 ./bench          every kernel takes its portable path
 *     STEME_CPU_MASK=0x1f ./bench       no AVX-512 (bits below)
 *
 * A value that is not hexadecimal is ignored (the full mask is used). The
 * variable is read only on the first call; later changes have no effect.
 *
 * Thread rule: steme_cpu_features() may be called from any thread at any
 * time; it never fails and costs a load and a branch after the first call.
 */
#ifndef STEME_CORE_CPU_H
#define STEME_CORE_CPU_H

#include <stdint.h>

/* Feature bits. A kernel needing several features tests all of them. */
#define STEME_CPU_SSE41           (1u << 0)
#define STEME_CPU_SSE42           (1u << 1)   /* includes the crc32 instruction */
#define STEME_CPU_POPCNT          (1u << 2)
#define STEME_CPU_AVX2            (1u << 3)
#define STEME_CPU_FMA             (1u << 4)
#define STEME_CPU_AVX512F         (1u << 5)
#define STEME_CPU_AVX512BW        (1u << 6)
#define STEME_CPU_AVX512VL        (1u << 7)
#define STEME_CPU_AVX512VPOPCNTDQ (1u << 8)
#define STEME_CPU_PCLMUL          (1u << 9)   /* carry-less multiply (CRC combine) */

/* Name of the environment variable holding the hexadecimal AND-mask. */
#define STEME_CPU_MASK_ENV "STEME_CPU_MASK"

/* The usable features of this CPU, ANDed with $STEME_CPU_MASK (see above). */
uint32_t steme_cpu_features(void);

/* Features the hardware reports, before $STEME_CPU_MASK (for diagnostics). */
uint32_t steme_cpu_features_raw(void);

/* True when every bit of `need` is usable. */
static inline int steme_cpu_has(uint32_t need)
{
    return (steme_cpu_features() & need) == need;
}

#endif
