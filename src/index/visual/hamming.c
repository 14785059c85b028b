/*
 * hamming.c - threshold-scan kernels (see hamming.h) and their dispatch.
 *
 * Kernels, fastest first:
 *   avx512   8 codes per vector: vpxorq, vpopcntq, vpcmpuq -> an 8-bit mask;
 *            four vectors per step so one test of the OR-ed masks skips 32
 *            codes that have no hit (hits are rare in near-duplicate search).
 *   avx2     4 codes per vector; popcount by the nibble table (vpshufb on the
 *            low and high nibbles, Mula/Kurz/Lemire), summed per 64-bit lane
 *            with vpsadbw, compared with vpcmpgtq, moved out with movmskpd.
 *   popcnt   the hardware popcnt instruction, one code at a time.
 *   portable SWAR popcount, for CPUs without popcnt (and as the reference).
 * The hits' distances are recomputed with a scalar popcount, which is cheap
 * because only hits pay it.
 */
#include "index/visual/hamming.h"

#include <immintrin.h>

#include "core/cpu.h"

static size_t scan_portable(const uint64_t *codes, size_t n, uint64_t q, unsigned r,
                            uint32_t *idx, uint8_t *dist)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = vh_popcount64(codes[i] ^ q);
        if (d <= r) {
            idx[k] = (uint32_t)i;
            dist[k] = (uint8_t)d;
            k++;
        }
    }
    return k;
}

__attribute__((target("popcnt")))
static size_t scan_popcnt(const uint64_t *codes, size_t n, uint64_t q, unsigned r,
                          uint32_t *idx, uint8_t *dist)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)__builtin_popcountll(codes[i] ^ q);
        /* Branch-free append: write always, advance only on a hit. */
        idx[k] = (uint32_t)i;
        dist[k] = (uint8_t)d;
        k += d <= r;
    }
    return k;
}

/* Emit the set bits of a hit mask covering codes base .. base+width-1. */
#define VH_EMIT_MASK(mask, base)                                            \
    do {                                                                    \
        uint64_t m_ = (mask);                                               \
        while (m_) {                                                        \
            unsigned b_ = (unsigned)__builtin_ctzll(m_);                    \
            m_ &= m_ - 1;                                                   \
            size_t i_ = (base) + b_;                                        \
            idx[k] = (uint32_t)i_;                                          \
            dist[k] = (uint8_t)__builtin_popcountll(codes[i_] ^ q);         \
            k++;                                                            \
        }                                                                   \
    } while (0)

__attribute__((target("avx2,popcnt")))
static size_t scan_avx2(const uint64_t *codes, size_t n, uint64_t q, unsigned r,
                        uint32_t *idx, uint8_t *dist)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i zero = _mm256_setzero_si256();
    const __m256i vq = _mm256_set1_epi64x((long long)q);
    /* lane count < r + 1  <=>  count <= r; signed compare is fine (0..65). */
    const __m256i lim = _mm256_set1_epi64x((long long)r + 1);
    size_t k = 0, i = 0;
#define VH_AVX2_MASK(off, out)                                                          \
    do {                                                                                \
        __m256i x_ = _mm256_xor_si256(                                                  \
            _mm256_loadu_si256((const __m256i *)(codes + i + (off))), vq);              \
        __m256i c_ = _mm256_add_epi8(                                                   \
            _mm256_shuffle_epi8(lut, _mm256_and_si256(x_, low4)),                       \
            _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x_, 4), low4))); \
        __m256i s_ = _mm256_sad_epu8(c_, zero);                                         \
        (out) = (unsigned)_mm256_movemask_pd(                                           \
            _mm256_castsi256_pd(_mm256_cmpgt_epi64(lim, s_)));                          \
    } while (0)
    for (; i + 16 <= n; i += 16) {
        unsigned m0, m1, m2, m3;
        VH_AVX2_MASK(0, m0);
        VH_AVX2_MASK(4, m1);
        VH_AVX2_MASK(8, m2);
        VH_AVX2_MASK(12, m3);
        unsigned m = m0 | (m1 << 4) | (m2 << 8) | (m3 << 12);
        if (m)
            VH_EMIT_MASK(m, i);
    }
    for (; i + 4 <= n; i += 4) {
        unsigned m;
        VH_AVX2_MASK(0, m);
        if (m)
            VH_EMIT_MASK(m, i);
    }
#undef VH_AVX2_MASK
    for (; i < n; i++) {
        unsigned d = (unsigned)__builtin_popcountll(codes[i] ^ q);
        if (d <= r) {
            idx[k] = (uint32_t)i;
            dist[k] = (uint8_t)d;
            k++;
        }
    }
    return k;
}

__attribute__((target("avx512f,avx512vpopcntdq,popcnt")))
static size_t scan_avx512(const uint64_t *codes, size_t n, uint64_t q, unsigned r,
                          uint32_t *idx, uint8_t *dist)
{
    const __m512i vq = _mm512_set1_epi64((long long)q);
    const __m512i vr = _mm512_set1_epi64((long long)r);
    size_t k = 0, i = 0;
#define VH_512_MASK(off)                                                                \
    _mm512_cmple_epu64_mask(                                                            \
        _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(codes + i + (off)), vq)), \
        vr)
    for (; i + 32 <= n; i += 32) {
        uint64_t m = (uint64_t)VH_512_MASK(0) | ((uint64_t)VH_512_MASK(8) << 8) |
                     ((uint64_t)VH_512_MASK(16) << 16) | ((uint64_t)VH_512_MASK(24) << 24);
        if (m)
            VH_EMIT_MASK(m, i);
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t m = (uint64_t)VH_512_MASK(0);
        if (m)
            VH_EMIT_MASK(m, i);
    }
#undef VH_512_MASK
    if (i < n) {
        /* Tail: a masked load reads only the remaining codes. */
        __mmask8 live = (__mmask8)((1u << (n - i)) - 1u);
        __m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi64(live, codes + i), vq);
        uint64_t m = (uint64_t)_mm512_mask_cmple_epu64_mask(live, _mm512_popcnt_epi64(x), vr);
        if (m)
            VH_EMIT_MASK(m, i);
    }
    return k;
}
#undef VH_EMIT_MASK

/* Best first. Costs: see docs/visual.md (ps per code in a 1M-code scan). */
static const vh_kernel vh_kernels[] = {
    {"avx512", STEME_CPU_AVX512F | STEME_CPU_AVX512VPOPCNTDQ | STEME_CPU_POPCNT, scan_avx512, 120},
    {"avx2", STEME_CPU_AVX2 | STEME_CPU_POPCNT, scan_avx2, 250},
    {"popcnt", STEME_CPU_POPCNT, scan_popcnt, 600},
    {"portable", 0, scan_portable, 1500},
};

size_t vh_kernel_count(void)
{
    return sizeof vh_kernels / sizeof vh_kernels[0];
}

const vh_kernel *vh_kernel_at(size_t i)
{
    return i < vh_kernel_count() ? &vh_kernels[i] : NULL;
}

int vh_kernel_usable(const vh_kernel *k)
{
    return k && (steme_cpu_features_raw() & k->vk_needs) == k->vk_needs;
}

const vh_kernel *vh_best(void)
{
    uint32_t f = steme_cpu_features();
    for (size_t i = 0; i < vh_kernel_count(); i++)
        if ((f & vh_kernels[i].vk_needs) == vh_kernels[i].vk_needs)
            return &vh_kernels[i];
    return &vh_kernels[vh_kernel_count() - 1];
}
