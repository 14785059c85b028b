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

/*
 * Write i (as uint32) into idx[] and popcount(codes[i] ^ q) into dist[] for
 * every i < n whose distance is <= r, in increasing i; return how many.
 * n <= VH_BLOCK; idx and dist have room for n.
 */
typedef size_t (*vh_scan_fn)(const uint64_t *codes, size_t n, uint64_t q, unsigned r,
                             uint32_t *idx, uint8_t *dist);

typedef struct vh_kernel {
    const char *vk_name;      /* "avx512", "avx2", "popcnt", "portable" */
    uint32_t vk_needs;        /* STEME_CPU_* bits it requires */
    vh_scan_fn vk_scan;
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
