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
 *
 * Scans with exclusions (hamming.h): avx512 tests them on vectors of codes
 * with mask registers; the others filter the plain scan's hits.
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

/* ---- scans with exclusions ----------------------------------------------- */
#undef VH_EMIT_MASK

static inline int excluded_sw(const vh_excl *ex, uint64_t x)
{
    for (unsigned j = 0; j < ex->ex_n; j++)
        if (vh_popcount64(x & ex->ex_ma[j]) <= ex->ex_ta[j] &&
            vh_popcount64(x & ex->ex_mb[j]) <= ex->ex_tb[j])
            return 1;
    return 0;
}

__attribute__((target("popcnt")))
static inline int excluded_hw(const vh_excl *ex, uint64_t x)
{
    for (unsigned j = 0; j < ex->ex_n; j++)
        if ((unsigned)__builtin_popcountll(x & ex->ex_ma[j]) <= ex->ex_ta[j] &&
            (unsigned)__builtin_popcountll(x & ex->ex_mb[j]) <= ex->ex_tb[j])
            return 1;
    return 0;
}

/* Scan each run with a plain kernel and keep its hits that *ex does not
 * exclude, shifted to positions in codes. */
#define VH_EXCL_RUNS(scan, excluded)                                                   \
    do {                                                                               \
        size_t k_ = 0;                                                                 \
        for (size_t i_ = 0; i_ < nruns; i_++) {                                        \
            uint32_t b_ = runs[i_].vr_begin;                                           \
            size_t from_ = k_;                                                         \
            size_t got_ = scan(codes + b_, runs[i_].vr_end - b_, q, r, idx + from_,    \
                               dist + from_);                                          \
            for (size_t j_ = 0; j_ < got_; j_++) {                                     \
                uint32_t at_ = b_ + idx[from_ + j_];                                   \
                uint8_t d_ = dist[from_ + j_];                                         \
                if (excluded(ex, codes[at_] ^ q))                                      \
                    continue;                                                          \
                idx[k_] = at_;                                                         \
                dist[k_] = d_;                                                         \
                k_++;                                                                  \
            }                                                                          \
        }                                                                              \
        return k_;                                                                     \
    } while (0)

static size_t scan_excl_portable(const uint64_t *codes, const vh_run *runs, size_t nruns,
                                 uint64_t q, unsigned r, const vh_excl *ex, uint32_t *idx,
                                 uint8_t *dist)
{
    VH_EXCL_RUNS(scan_portable, excluded_sw);
}

__attribute__((target("popcnt")))
static size_t scan_excl_popcnt(const uint64_t *codes, const vh_run *runs, size_t nruns,
                               uint64_t q, unsigned r, const vh_excl *ex, uint32_t *idx,
                               uint8_t *dist)
{
    VH_EXCL_RUNS(scan_popcnt, excluded_hw);
}

__attribute__((target("avx2,popcnt")))
static size_t scan_excl_avx2(const uint64_t *codes, const vh_run *runs, size_t nruns,
                             uint64_t q, unsigned r, const vh_excl *ex, uint32_t *idx,
                             uint8_t *dist)
{
    VH_EXCL_RUNS(scan_avx2, excluded_hw);
}
#undef VH_EXCL_RUNS

/* Drop from m the lanes of x that exclusion (ma, ta, mb, tb) catches. */
#define VH_512_EXCL(m, x, ma, ta, mb, tb)                                                  \
    (__mmask8)((m) & ~_mm512_mask_cmple_epu64_mask(                                        \
                         _mm512_mask_cmple_epu64_mask((m), _mm512_popcnt_epi64(            \
                                                          _mm512_and_si512((x), (ma))),    \
                                                      (ta)),                               \
                         _mm512_popcnt_epi64(_mm512_and_si512((x), (mb))), (tb)))

/*
 * 16 codes per step. Within a pair run a third of the codes are hits at
 * r = 4, so the step is branch-free past its first test: the exclusions
 * run on every lane (their count is fixed per call, so the loop over them
 * predicts), and the hits' indexes and distances leave by compress-stores
 * instead of a loop over the mask bits (whose exit mispredicts per step).
 * The exclusions' broadcasts are built once per call, outside the loop,
 * and a call takes all the runs of a table that fit VH_BLOCK.
 */
__attribute__((target("avx512f,avx512vpopcntdq,popcnt")))
static size_t scan_excl_avx512(const uint64_t *codes, const vh_run *runs, size_t nruns,
                               uint64_t q, unsigned r, const vh_excl *ex, uint32_t *idx,
                               uint8_t *dist)
{
    const __m512i vq = _mm512_set1_epi64((long long)q);
    const __m512i vr = _mm512_set1_epi64((long long)r);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    /* Exclusions sorted by kind, so that each loop below has a fixed body:
     * [0, nz) both thresholds 0: one test, (x & (ma | mb)) == 0;
     * [nz, nh) ta = 0 (the pair plans' form): a test and a popcount;
     * [nh, ne) general: two popcounts.
     * A test instead of a popcount and compare made queries with thousands
     * of hits (dense runs, every block tested) ~3% faster on the 1M set. */
    __m512i ma[VH_MAX_EXCL], mb[VH_MAX_EXCL], ta[VH_MAX_EXCL], tb[VH_MAX_EXCL];
    unsigned ne = 0, nz = 0, nh = 0, n_in = ex->ex_n < VH_MAX_EXCL ? ex->ex_n : VH_MAX_EXCL;
    for (unsigned kind = 0; kind < 3; kind++) {
        for (unsigned j = 0; j < n_in; j++) {
            unsigned kj = ex->ex_ta[j] != 0 ? 2u : ex->ex_tb[j] != 0 ? 1u : 0u;
            if (kj != kind)
                continue;
            ma[ne] = _mm512_set1_epi64((long long)(kind == 0 ? ex->ex_ma[j] | ex->ex_mb[j]
                                                             : ex->ex_ma[j]));
            mb[ne] = _mm512_set1_epi64((long long)ex->ex_mb[j]);
            ta[ne] = _mm512_set1_epi64(ex->ex_ta[j]);
            tb[ne] = _mm512_set1_epi64(ex->ex_tb[j]);
            ne++;
        }
        if (kind == 0)
            nz = ne;
        else if (kind == 1)
            nh = ne;
    }
    size_t k = 0;
    for (size_t ri = 0; ri < nruns; ri++) {
        const uint64_t *run = codes + runs[ri].vr_begin;
        size_t n = runs[ri].vr_end - runs[ri].vr_begin;
        const __m512i base = _mm512_add_epi32(iota, _mm512_set1_epi32((int)runs[ri].vr_begin));
        for (size_t i = 0; i < n; i += 16) {
            size_t left = n - i;
            __mmask8 l0 = left >= 8 ? (__mmask8)0xff : (__mmask8)((1u << left) - 1u);
            __mmask8 l1 = left >= 16 ? (__mmask8)0xff
                                     : left > 8 ? (__mmask8)((1u << (left - 8)) - 1u) : (__mmask8)0;
            __m512i x0 = _mm512_xor_si512(_mm512_maskz_loadu_epi64(l0, run + i), vq);
            __m512i x1 = _mm512_xor_si512(_mm512_maskz_loadu_epi64(l1, run + i + 8), vq);
            __m512i p0 = _mm512_popcnt_epi64(x0), p1 = _mm512_popcnt_epi64(x1);
            __mmask8 m0 = _mm512_mask_cmple_epu64_mask(l0, p0, vr);
            __mmask8 m1 = _mm512_mask_cmple_epu64_mask(l1, p1, vr);
            if (!(m0 | m1))
                continue;
            for (unsigned j = 0; j < nz; j++) {
                m0 = (__mmask8)(m0 & ~_mm512_mask_testn_epi64_mask(m0, x0, ma[j]));
                m1 = (__mmask8)(m1 & ~_mm512_mask_testn_epi64_mask(m1, x1, ma[j]));
            }
            for (unsigned j = nz; j < nh; j++) {
                __mmask8 a0 = _mm512_mask_testn_epi64_mask(m0, x0, ma[j]);
                __mmask8 a1 = _mm512_mask_testn_epi64_mask(m1, x1, ma[j]);
                __m512i c0 = _mm512_popcnt_epi64(_mm512_and_si512(x0, mb[j]));
                __m512i c1 = _mm512_popcnt_epi64(_mm512_and_si512(x1, mb[j]));
                m0 = (__mmask8)(m0 & ~_mm512_mask_cmple_epu64_mask(a0, c0, tb[j]));
                m1 = (__mmask8)(m1 & ~_mm512_mask_cmple_epu64_mask(a1, c1, tb[j]));
            }
            for (unsigned j = nh; j < ne; j++) {
                m0 = VH_512_EXCL(m0, x0, ma[j], ta[j], mb[j], tb[j]);
                m1 = VH_512_EXCL(m1, x1, ma[j], ta[j], mb[j], tb[j]);
            }
            __mmask16 m = (__mmask16)(m0 | (unsigned)m1 << 8);
            unsigned cnt = (unsigned)__builtin_popcount(m);
            /* Compress in registers and store whole vectors (the caller's
             * buffers have VH_PAD spare entries): a compress straight to memory
             * is microcoded and slow on some CPUs (AMD Zen 4). */
            _mm512_storeu_si512(idx + k, _mm512_maskz_compress_epi32(
                                             m, _mm512_add_epi32(base, _mm512_set1_epi32((int)i))));
            __m512i d = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(p0)),
                                           _mm512_cvtepi64_epi32(p1), 1);
            _mm_storeu_si128((__m128i *)(dist + k),
                             _mm512_cvtepi32_epi8(_mm512_maskz_compress_epi32(m, d)));
            k += cnt;
        }
    }
    return k;
}
#undef VH_512_EXCL

/* Best first. Costs: see docs/visual.md (ps per code in a 1M-code scan). */
static const vh_kernel vh_kernels[] = {
    {"avx512", STEME_CPU_AVX512F | STEME_CPU_AVX512VPOPCNTDQ | STEME_CPU_POPCNT, scan_avx512,
     scan_excl_avx512, 120},
    {"avx2", STEME_CPU_AVX2 | STEME_CPU_POPCNT, scan_avx2, scan_excl_avx2, 250},
    {"popcnt", STEME_CPU_POPCNT, scan_popcnt, scan_excl_popcnt, 600},
    {"portable", 0, scan_portable, scan_excl_portable, 1500},
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
