/*
 * core/blake3_int.h - BLAKE3 internals shared by blake3.c and its kernels.
 *
 * Layout of the work (BLAKE3 paper, sections 2 and 5):
 *
 *   input:  | chunk 0 | chunk 1 | chunk 2 | chunk 3 | chunk 4 |..  (1 KiB each)
 *              16 blocks of 64 bytes, compressed in sequence
 *   tree:        P01       P23                            left subtrees are the
 *                   \     /                               largest power of two
 *                    P0123        chunk 4                 of chunks
 *                         \      /
 *                          ROOT
 *
 * Chunks are independent, so the kernels ("hash_many") compress the same
 * block of N chunks at once, one chunk per SIMD lane (N = 4 SSE4.1, 8 AVX2,
 * 16 AVX-512). Parent nodes are one block each (two child CVs), so the same
 * kernel hashes a row of parents with blocks = 1.
 *
 * Internal names use the b3_ prefix.
 */
#ifndef STEME_CORE_BLAKE3_INT_H
#define STEME_CORE_BLAKE3_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "steme/hash.h"

enum {
    B3_CHUNK_START         = 1 << 0,
    B3_CHUNK_END           = 1 << 1,
    B3_PARENT              = 1 << 2,
    B3_ROOT                = 1 << 3,
    B3_KEYED_HASH          = 1 << 4,
    B3_DERIVE_KEY_CONTEXT  = 1 << 5,
    B3_DERIVE_KEY_MATERIAL = 1 << 6,
};

#define B3_BLOCK_LEN STEME_BLAKE3_BLOCK_LEN
#define B3_CHUNK_LEN STEME_BLAKE3_CHUNK_LEN
#define B3_OUT_LEN   STEME_BLAKE3_OUT_LEN
#define B3_ROUNDS    7

/* The kernels, slowest first. The hasher records its choice in b3_impl. */
typedef enum b3_impl {
    B3_IMPL_PORTABLE = 0,
    B3_IMPL_SSE41,
    B3_IMPL_AVX2,
    B3_IMPL_AVX512,
    B3_IMPL_COUNT
} b3_impl;

extern const uint32_t b3_iv[8];
/* b3_msg_schedule[r][i]: message word used at position i in round r. */
extern const uint8_t b3_msg_schedule[B3_ROUNDS][16];

static inline uint32_t b3_load32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);   /* x86-64 is little-endian, as BLAKE3 is */
    return v;
}

static inline void b3_store32(void *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/*
 * Hash num_inputs equal-length inputs of `blocks` whole blocks each, all
 * starting from chaining value `key`. Input i uses counter + i when
 * increment_counter (chunks), else counter (parents). The first block adds
 * flags_start, the last adds flags_end. Writes the 32-byte CV of input i at
 * out + 32 * i. out must not overlap the inputs.
 */
typedef void (*b3_hash_many_fn)(const uint8_t *const *inputs, size_t num_inputs,
                                size_t blocks, const uint32_t key[8], uint64_t counter,
                                bool increment_counter, uint8_t flags,
                                uint8_t flags_start, uint8_t flags_end, uint8_t *out);

void b3_hash_many_portable(const uint8_t *const *inputs, size_t num_inputs,
                           size_t blocks, const uint32_t key[8], uint64_t counter,
                           bool increment_counter, uint8_t flags,
                           uint8_t flags_start, uint8_t flags_end, uint8_t *out);
void b3_hash_many_sse41(const uint8_t *const *inputs, size_t num_inputs,
                        size_t blocks, const uint32_t key[8], uint64_t counter,
                        bool increment_counter, uint8_t flags,
                        uint8_t flags_start, uint8_t flags_end, uint8_t *out);
void b3_hash_many_avx2(const uint8_t *const *inputs, size_t num_inputs,
                       size_t blocks, const uint32_t key[8], uint64_t counter,
                       bool increment_counter, uint8_t flags,
                       uint8_t flags_start, uint8_t flags_end, uint8_t *out);
void b3_hash_many_avx512(const uint8_t *const *inputs, size_t num_inputs,
                         size_t blocks, const uint32_t key[8], uint64_t counter,
                         bool increment_counter, uint8_t flags,
                         uint8_t flags_start, uint8_t flags_end, uint8_t *out);

/* One compression; cv updated in place (chunk blocks, parents). */
void b3_compress_in_place(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                          uint8_t block_len, uint64_t counter, uint8_t flags);
/* One compression keeping the full 64-byte output (root / XOF blocks). */
void b3_compress_xof(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                     uint8_t block_len, uint64_t counter, uint8_t flags,
                     uint8_t out[64]);

/* The kernel for an impl (always non-NULL; falls back to portable). */
b3_hash_many_fn b3_impl_hash_many(b3_impl impl);
/* Lanes a kernel hashes at once (1 for portable). */
size_t b3_impl_degree(b3_impl impl);
/* True when the CPU (after STEME_CPU_MASK) can run impl. */
bool b3_impl_supported(b3_impl impl);
/* The fastest supported impl. */
b3_impl b3_impl_best(void);
/* Name for messages ("portable", "sse41", "avx2", "avx512"). */
const char *b3_impl_name(b3_impl impl);

/*
 * Force the kernel of an initialised hasher (tests, benchmarks). Call right
 * after init. Returns STEME_OK, STEME_E_INVALID (h NULL or impl out of
 * range) or STEME_E_UNSUPPORTED (this CPU cannot run impl).
 */
int b3_hasher_set_impl(steme_blake3 *h, b3_impl impl);

#endif
