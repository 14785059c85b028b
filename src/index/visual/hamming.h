/*
 * index/visual/hamming.h - Hamming-distance kernels over packed 64-bit hashes,
 * one per instruction set, chosen at run time (the library is built for
 * generic x86-64, so each kernel carries its own target attribute).
 *
 * The one primitive is a threshold scan: given codes[0..n), a query q and a
 * radius r, write the index and distance of every code within r. Everything
 * else is built on it: the linear scan (blocks of the packed array), the
 * verification of multi-index hashing buckets (their codes are stored inline
 * and contiguous), and k-NN (a scan whose radius shrinks to the current k-th
 * best distance between blocks).
 */
#ifndef STEME_INDEX_VISUAL_HAMMING_H
#define STEME_INDEX_VISUAL_HAMMING_H

#include <stddef.h>
#include <stdint.h>

/* Largest n passed to one scan call: hit indexes fit the caller's block
 * buffers (4096 x 5 bytes = 20 KiB on the stack). */
#define VH_BLOCK 4096u
/* Spare entries the kernels may write past the hits in idx[] and dist[]
 * (whole-vector stores). */
#define VH_PAD 16u

/*
 * Write i (as uint32) into idx[] and popcount(codes[i] ^ q) into dist[] for
 * every i < n whose distance is <= r, in increasing i; return how many.
 * n <= VH_BLOCK; idx and dist have room for n + VH_PAD (the entries past
 * the hits are scratch).
 */
typedef size_t (*vh_scan_fn)(const uint64_t *codes, size_t n, uint64_t q, unsigned r,
                             uint32_t *idx, uint8_t *dist);

/*
 * Exclusions for a scan: a code within r is still skipped when, for some
 * j < ex_n, popcount(x & ex_ma[j]) <= ex_ta[j] and popcount(x & ex_mb[j])
 * <= ex_tb[j], where x = code ^ q. This is how the hashing tables drop an
 * entry that an earlier table in the plan reports (visual_verify.h): the
 * test runs inside the kernel, on every candidate within r, instead of a
 * branchy scalar check per candidate (mb = 0, tb = 0 makes a condition on
 * one mask).
 */
#define VH_MAX_EXCL 10u
typedef struct vh_excl {
    unsigned ex_n;
    uint64_t ex_ma[VH_MAX_EXCL];
    uint64_t ex_mb[VH_MAX_EXCL];
    uint8_t ex_ta[VH_MAX_EXCL];
    uint8_t ex_tb[VH_MAX_EXCL];
} vh_excl;

/* A run [vr_begin, vr_end) of a code array. */
typedef struct vh_run {
    uint32_t vr_begin;
    uint32_t vr_end;
} vh_run;

/*
 * As vh_scan_fn over the runs[0, nruns) of codes, in order, skipping the
 * codes that *ex excludes; idx receives positions in codes (not in the
 * run). The runs' total length is <= VH_BLOCK, and idx and dist have room
 * for it + VH_PAD. Several runs per call: a pair plan verifies ~58 short
 * runs per query, and one call per run cost its setup each time.
 */
typedef size_t (*vh_scan_excl_fn)(const uint64_t *codes, const vh_run *runs, size_t nruns,
                                  uint64_t q, unsigned r, const vh_excl *ex, uint32_t *idx,
                                  uint8_t *dist);

typedef struct vh_kernel {
    const char *vk_name;      /* "avx512", "avx2", "popcnt", "portable" */
    uint32_t vk_needs;        /* STEME_CPU_* bits it requires */
    vh_scan_fn vk_scan;
    vh_scan_excl_fn vk_scan_excl;
    /* Planner's cost of one code in the scan, picoseconds (measured on the
     * machines in docs/visual.md; only ratios between strategies matter). */
    uint32_t vk_ps_per_code;
} vh_kernel;

/* The fastest kernel this process may use (honours STEME_CPU_MASK). */
const vh_kernel *vh_best(void);

/* Every kernel compiled in, best first (for tests: run those usable). */
size_t vh_kernel_count(void);
const vh_kernel *vh_kernel_at(size_t i);
/* 1 when kernel k runs on this CPU (ignoring STEME_CPU_MASK). */
int vh_kernel_usable(const vh_kernel *k);

/* Portable popcount (no popcnt instruction needed); for cold paths. */
static inline unsigned vh_popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

#endif
