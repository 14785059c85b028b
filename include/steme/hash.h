/*
 * steme/hash.h - BLAKE3 (hash, keyed hash, key derivation, extendable output)
 * and CRC-32C (Castagnoli), steme's own implementations.
 *
 * BLAKE3 names every record (steme_hash = BLAKE3-256 of its canonical
 * encoding) and covers WAL payloads; CRC-32C is the cheap first check on WAL
 * records and checkpoint bodies.
 *
 * Both pick their fastest kernel at run time (AVX-512 / AVX2 / SSE4.1 for
 * BLAKE3, SSE4.2 crc32 for CRC-32C, portable C otherwise); the result never
 * depends on the kernel. Setting STEME_CPU_MASK (hex, see src/core/cpu.h)
 * forces lower kernels for testing.
 *
 * Thread rules: the functions keep no global mutable state. A steme_blake3
 * hasher must not be used by two threads at once; distinct hashers are
 * independent. steme_blake3_finalize* only reads the hasher, so several
 * threads may finalize the same hasher concurrently if nobody updates it.
 * Nothing here allocates; the library keeps no pointer after a call returns.
 */
#ifndef STEME_HASH_H
#define STEME_HASH_H

#include <stddef.h>
#include <stdint.h>
#include "steme/status.h"
#include "steme/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STEME_BLAKE3_OUT_LEN   32    /* default output length in bytes */
#define STEME_BLAKE3_KEY_LEN   32    /* key length for keyed hashing */
#define STEME_BLAKE3_BLOCK_LEN 64    /* compression function block */
#define STEME_BLAKE3_CHUNK_LEN 1024  /* leaf size of the hash tree */

/*
 * Depth of the chaining-value stack: one entry per level of a tree of 2^54
 * chunks (2^64 bytes), plus one spare.
 */
#define STEME_BLAKE3_MAX_DEPTH 55

/*
 * Incremental BLAKE3 hasher. Allocate it anywhere (about 1.9 KB, no heap,
 * no cleanup needed); copy it with memcpy to fork a hash. Every field is
 * PRIVATE: use only the functions below.
 */
typedef struct steme_blake3 {
    uint32_t b3_key[8];          /* key words, or the IV for plain hashing */
    uint32_t b3_cv[8];           /* chaining value of the current chunk */
    uint64_t b3_chunk_counter;   /* index of the current chunk */
    uint8_t b3_buf[STEME_BLAKE3_BLOCK_LEN]; /* bytes not yet compressed */
    uint8_t b3_buf_len;          /* bytes in b3_buf */
    uint8_t b3_blocks_done;      /* blocks of the current chunk compressed */
    uint8_t b3_flags;            /* mode flags (keyed / derive-key) */
    uint8_t b3_impl;             /* kernel chosen at init */
    uint8_t b3_stack_len;        /* entries in b3_stack */
    uint8_t b3_stack[STEME_BLAKE3_MAX_DEPTH * STEME_BLAKE3_OUT_LEN]; /* subtree CVs */
} steme_blake3;

/*
 * Start a plain BLAKE3 hash. h NULL: no effect.
 */
void steme_blake3_init(steme_blake3 *h);

/*
 * Start a keyed hash (a MAC / PRF) with a 32-byte key.
 * Returns STEME_OK, or STEME_E_INVALID if h or key is NULL (h untouched).
 */
int steme_blake3_init_keyed(steme_blake3 *h, const uint8_t key[STEME_BLAKE3_KEY_LEN]);

/*
 * Start key derivation: the context (context_len bytes, any content, should
 * be a hard-coded, globally unique string naming the application and
 * purpose) selects the key; the key material is then fed with
 * steme_blake3_update and the derived key read with steme_blake3_finalize.
 * Returns STEME_OK, or STEME_E_INVALID if h or context is NULL (h
 * untouched). An empty context ("", 0) is allowed but pointless.
 */
int steme_blake3_init_derive_key(steme_blake3 *h, const char *context, size_t context_len);

/*
 * Absorb len bytes. Any split of the input over several calls gives the
 * same result as one call. h NULL, or data NULL (whatever len): no effect.
 * Precondition: h was initialised by one of the init functions.
 */
void steme_blake3_update(steme_blake3 *h, const void *data, size_t len);

/*
 * Write out_len bytes of output (the extendable output: any length; the
 * first 32 bytes are the hash, a shorter output is a prefix of a longer
 * one). The hasher is not changed: more input may follow, and finalize may
 * be called again. h or out NULL: no effect.
 */
void steme_blake3_finalize(const steme_blake3 *h, uint8_t *out, size_t out_len);

/*
 * As steme_blake3_finalize, but the output starts at byte `seek` of the
 * extendable output stream (seek 0 is steme_blake3_finalize).
 */
void steme_blake3_finalize_seek(const steme_blake3 *h, uint64_t seek,
                                uint8_t *out, size_t out_len);

/*
 * One-shot 32-byte BLAKE3 of len bytes at data. out NULL: no effect; data
 * NULL is treated as empty input (use len 0).
 */
void steme_blake3_hash(const void *data, size_t len, steme_hash *out);

/*
 * CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected, as in iSCSI, ext4,
 * RocksDB). Start with crc = 0; chain with the previous result:
 *     steme_crc32c(steme_crc32c(0, A, a), B, b) == CRC of A||B.
 * The pre- and post-inversion are done inside. data NULL: returns crc
 * unchanged. Uses the SSE4.2 crc32 instruction when the CPU has it.
 */
uint32_t steme_crc32c(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* STEME_HASH_H */
