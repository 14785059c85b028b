/*
 * blake3_portable.c - the BLAKE3 compression function in plain C, and the
 * one-lane hash_many kernel built on it (see blake3_int.h).
 *
 * Compression (paper, section 2.2): the 16-word state is
 *     v0..v7 = chaining value, v8..v11 = IV0..IV3,
 *     v12 = counter low, v13 = counter high, v14 = block length, v15 = flags;
 * seven rounds of G over columns then diagonals, the message words
 * permuted between rounds; the output is v[i] ^ v[i+8] (and, for the
 * extended output, v[i+8] ^ cv[i]).
 */
#include "core/blake3_int.h"

/* The SHA-256 IV, as BLAKE3 specifies. */
const uint32_t b3_iv[8] = {
    0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
    0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u,
};

/*
 * Row r is the message permutation (2,6,3,10,7,0,4,13,1,11,12,5,9,14,15,8)
 * applied r times, so round r reads m[b3_msg_schedule[r][i]] and no
 * message copy is permuted at run time.
 */
const uint8_t b3_msg_schedule[B3_ROUNDS][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

static inline uint32_t rotr32(uint32_t w, unsigned c)
{
    return (w >> c) | (w << (32 - c));
}

static inline void g(uint32_t *v, int a, int b, int c, int d, uint32_t mx, uint32_t my)
{
    v[a] = v[a] + v[b] + mx;
    v[d] = rotr32(v[d] ^ v[a], 16);
    v[c] = v[c] + v[d];
    v[b] = rotr32(v[b] ^ v[c], 12);
    v[a] = v[a] + v[b] + my;
    v[d] = rotr32(v[d] ^ v[a], 8);
    v[c] = v[c] + v[d];
    v[b] = rotr32(v[b] ^ v[c], 7);
}

static inline void round_fn(uint32_t v[16], const uint32_t m[16], int r)
{
    const uint8_t *s = b3_msg_schedule[r];
    g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);      /* columns */
    g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);     /* diagonals */
    g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
}

static inline void compress_state(uint32_t v[16], const uint32_t cv[8],
                                  const uint8_t block[B3_BLOCK_LEN], uint8_t block_len,
                                  uint64_t counter, uint8_t flags)
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = b3_load32(block + 4 * i);
    for (int i = 0; i < 8; i++)
        v[i] = cv[i];
    v[8] = b3_iv[0];
    v[9] = b3_iv[1];
    v[10] = b3_iv[2];
    v[11] = b3_iv[3];
    v[12] = (uint32_t)counter;
    v[13] = (uint32_t)(counter >> 32);
    v[14] = block_len;
    v[15] = flags;
    for (int r = 0; r < B3_ROUNDS; r++)
        round_fn(v, m, r);
}

void b3_compress_in_place(uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                          uint8_t block_len, uint64_t counter, uint8_t flags)
{
    uint32_t v[16];
    compress_state(v, cv, block, block_len, counter, flags);
    for (int i = 0; i < 8; i++)
        cv[i] = v[i] ^ v[i + 8];
}

void b3_compress_xof(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN],
                     uint8_t block_len, uint64_t counter, uint8_t flags,
                     uint8_t out[64])
{
    uint32_t v[16];
    compress_state(v, cv, block, block_len, counter, flags);
    for (int i = 0; i < 8; i++) {
        b3_store32(out + 4 * i, v[i] ^ v[i + 8]);
        b3_store32(out + 32 + 4 * i, v[i + 8] ^ cv[i]);
    }
}

void b3_hash_many_portable(const uint8_t *const *inputs, size_t num_inputs,
                           size_t blocks, const uint32_t key[8], uint64_t counter,
                           bool increment_counter, uint8_t flags,
                           uint8_t flags_start, uint8_t flags_end, uint8_t *out)
{
    for (size_t i = 0; i < num_inputs; i++) {
        uint32_t cv[8];
        memcpy(cv, key, sizeof cv);
        uint8_t block_flags = flags | flags_start;
        for (size_t b = 0; b < blocks; b++) {
            if (b + 1 == blocks)
                block_flags |= flags_end;
            b3_compress_in_place(cv, inputs[i] + b * B3_BLOCK_LEN, B3_BLOCK_LEN,
                                 counter, block_flags);
            block_flags = flags;
        }
        for (int w = 0; w < 8; w++)
            b3_store32(out + 32 * i + 4 * w, cv[w]);
        if (increment_counter)
            counter++;
    }
}
