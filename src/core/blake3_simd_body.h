/*
 * blake3_simd_body.h - the lane-parallel BLAKE3 kernel, written once and
 * instantiated per instruction set by blake3_sse41.c, blake3_avx2.c and
 * blake3_avx512.c (include it only from those files).
 *
 * Each lane of a vector holds one input, so the 16 state words and the 16
 * message words are 16 + 16 vectors ("transposed" layout, paper section
 * 5.3): G runs on whole vectors and needs no shuffles between the column
 * and diagonal steps. The cost moved elsewhere is loading: each block of
 * every input is transposed from rows into word vectors (LOAD_MSG).
 *
 * The including file defines, before including this file:
 *   B3_VEC        the vector type          B3_DEGREE  lanes per vector
 *   B3_TARGET     target attribute string  B3_FN      attribute for helpers
 *   B3_HASH_MANY  name of the kernel       B3_FALLBACK kernel for leftovers
 *   B3_PAD_MIN    fewest leftover inputs worth a padded full-width pass
 * and the B3_FN helpers v_add, v_xor, v_set1, v_loadu, v_storeu, v_rot16,
 * v_rot12, v_rot8, v_rot7, load_msg(inputs, offset, m[16]).
 */

/* Message schedule again, static here so the unrolled rounds index it with
 * constants and the compiler turns every m[...] into a register. */
static const uint8_t simd_schedule[B3_ROUNDS][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

/* Four G functions side by side (columns, or diagonals), step by step so
 * the four independent dependency chains interleave. */
B3_FN void simd_g4(B3_VEC *v, int a0, int b0, int c0, int d0, int a1, int b1, int c1, int d1,
                   int a2, int b2, int c2, int d2, int a3, int b3, int c3, int d3,
                   const B3_VEC *m, const uint8_t *s)
{
    v[a0] = v_add(v_add(v[a0], v[b0]), m[s[0]]);
    v[a1] = v_add(v_add(v[a1], v[b1]), m[s[2]]);
    v[a2] = v_add(v_add(v[a2], v[b2]), m[s[4]]);
    v[a3] = v_add(v_add(v[a3], v[b3]), m[s[6]]);
    v[d0] = v_rot16(v_xor(v[d0], v[a0]));
    v[d1] = v_rot16(v_xor(v[d1], v[a1]));
    v[d2] = v_rot16(v_xor(v[d2], v[a2]));
    v[d3] = v_rot16(v_xor(v[d3], v[a3]));
    v[c0] = v_add(v[c0], v[d0]);
    v[c1] = v_add(v[c1], v[d1]);
    v[c2] = v_add(v[c2], v[d2]);
    v[c3] = v_add(v[c3], v[d3]);
    v[b0] = v_rot12(v_xor(v[b0], v[c0]));
    v[b1] = v_rot12(v_xor(v[b1], v[c1]));
    v[b2] = v_rot12(v_xor(v[b2], v[c2]));
    v[b3] = v_rot12(v_xor(v[b3], v[c3]));
    v[a0] = v_add(v_add(v[a0], v[b0]), m[s[1]]);
    v[a1] = v_add(v_add(v[a1], v[b1]), m[s[3]]);
    v[a2] = v_add(v_add(v[a2], v[b2]), m[s[5]]);
    v[a3] = v_add(v_add(v[a3], v[b3]), m[s[7]]);
    v[d0] = v_rot8(v_xor(v[d0], v[a0]));
    v[d1] = v_rot8(v_xor(v[d1], v[a1]));
    v[d2] = v_rot8(v_xor(v[d2], v[a2]));
    v[d3] = v_rot8(v_xor(v[d3], v[a3]));
    v[c0] = v_add(v[c0], v[d0]);
    v[c1] = v_add(v[c1], v[d1]);
    v[c2] = v_add(v[c2], v[d2]);
    v[c3] = v_add(v[c3], v[d3]);
    v[b0] = v_rot7(v_xor(v[b0], v[c0]));
    v[b1] = v_rot7(v_xor(v[b1], v[c1]));
    v[b2] = v_rot7(v_xor(v[b2], v[c2]));
    v[b3] = v_rot7(v_xor(v[b3], v[c3]));
}

B3_FN void simd_round(B3_VEC *v, const B3_VEC *m, int r)
{
    const uint8_t *s = simd_schedule[r];
    simd_g4(v, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, m, s);
    simd_g4(v, 0, 5, 10, 15, 1, 6, 11, 12, 2, 7, 8, 13, 3, 4, 9, 14, m, s + 8);
}

/* Exactly B3_DEGREE inputs. */
__attribute__((target(B3_TARGET))) static void
simd_hash_lanes(const uint8_t *const *inputs, size_t blocks, const uint32_t key[8],
                uint64_t counter, bool increment_counter, uint8_t flags,
                uint8_t flags_start, uint8_t flags_end, uint8_t *out)
{
    B3_VEC h[8];
    for (int i = 0; i < 8; i++)
        h[i] = v_set1(key[i]);
    uint32_t lo[B3_DEGREE], hi[B3_DEGREE];
    for (int i = 0; i < B3_DEGREE; i++) {
        uint64_t c = counter + (increment_counter ? (uint64_t)i : 0);
        lo[i] = (uint32_t)c;
        hi[i] = (uint32_t)(c >> 32);
    }
    const B3_VEC counter_lo = v_loadu(lo), counter_hi = v_loadu(hi);
    const B3_VEC block_len = v_set1(B3_BLOCK_LEN);
    uint8_t block_flags = flags | flags_start;

    for (size_t b = 0; b < blocks; b++) {
        if (b + 1 == blocks)
            block_flags |= flags_end;
        /* B3_DEGREE streams 1 KiB apart are more than the hardware
         * prefetcher tracks well on large inputs; ask for 4 blocks ahead. */
        for (int i = 0; i < B3_DEGREE; i++)
            __builtin_prefetch(inputs[i] + b * B3_BLOCK_LEN + 256);
        B3_VEC m[16];
        load_msg(inputs, b * B3_BLOCK_LEN, m);
        B3_VEC v[16] = {
            h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
            v_set1(b3_iv[0]), v_set1(b3_iv[1]), v_set1(b3_iv[2]), v_set1(b3_iv[3]),
            counter_lo, counter_hi, block_len, v_set1(block_flags),
        };
        simd_round(v, m, 0);
        simd_round(v, m, 1);
        simd_round(v, m, 2);
        simd_round(v, m, 3);
        simd_round(v, m, 4);
        simd_round(v, m, 5);
        simd_round(v, m, 6);
        for (int i = 0; i < 8; i++)
            h[i] = v_xor(v[i], v[i + 8]);
        block_flags = flags;
    }

    /* Once per input, so a plain scatter through memory is cheap enough. */
    uint32_t words[8][B3_DEGREE];
    for (int j = 0; j < 8; j++)
        v_storeu(words[j], h[j]);
    for (int i = 0; i < B3_DEGREE; i++)
        for (int j = 0; j < 8; j++)
            b3_store32(out + 32 * i + 4 * j, words[j][i]);
}

__attribute__((target(B3_TARGET))) void
B3_HASH_MANY(const uint8_t *const *inputs, size_t num_inputs, size_t blocks,
             const uint32_t key[8], uint64_t counter, bool increment_counter, uint8_t flags,
             uint8_t flags_start, uint8_t flags_end, uint8_t *out)
{
    while (num_inputs >= B3_DEGREE) {
        simd_hash_lanes(inputs, blocks, key, counter, increment_counter, flags, flags_start,
                        flags_end, out);
        if (increment_counter)
            counter += B3_DEGREE;
        inputs += B3_DEGREE;
        num_inputs -= B3_DEGREE;
        out += B3_DEGREE * B3_OUT_LEN;
    }
    if (num_inputs >= B3_PAD_MIN) {
        /*
         * Enough leftovers that one full-width pass (spare lanes rehash
         * input 0, their output is dropped) beats the narrower kernels.
         */
        const uint8_t *lanes[B3_DEGREE];
        uint8_t cvs[B3_DEGREE * B3_OUT_LEN];
        for (size_t i = 0; i < B3_DEGREE; i++)
            lanes[i] = inputs[i < num_inputs ? i : 0];
        simd_hash_lanes(lanes, blocks, key, counter, increment_counter, flags, flags_start,
                        flags_end, cvs);
        memcpy(out, cvs, num_inputs * B3_OUT_LEN);
    } else if (num_inputs > 0) {
        B3_FALLBACK(inputs, num_inputs, blocks, key, counter, increment_counter, flags,
                    flags_start, flags_end, out);
    }
}
