/*
 * permute.c - the stored-hash bit permutation (see permute.h), applied by
 * eight 256-entry tables per direction (one per input byte): 8 loads and 7
 * ORs. The tables are computed once under pthread_once and then read-only.
 */
#include "index/visual/permute.h"

#include <pthread.h>

static pthread_once_t vp_once = PTHREAD_ONCE_INIT;
static vp_table vp_inv;

static void vp_init(void)
{
    unsigned to[64];
    /* Input bit i goes to substring i mod 5, at position i / 5 in it. */
    for (unsigned i = 0; i < 64; i++)
        to[i] = 13 * (i % 5) + i / 5;
    for (unsigned byte = 0; byte < 8; byte++) {
        for (unsigned v = 0; v < 256; v++) {
            uint64_t b = 0;
            for (unsigned k = 0; k < 8; k++) {
                if (!(v >> k & 1))
                    continue;
                unsigned src = byte * 8 + k;
                /* Inverse: bit `src` of a stored hash came from the input
                 * bit i with to[i] == src. */
                for (unsigned i = 0; i < 64; i++)
                    if (to[i] == src)
                        b |= 1ull << i;
            }
            vp_inv[byte][v] = b;
        }
    }
}

/* Bits 0, 5, 10, ..., 60 of x, packed into bits 0..12: each step merges
 * neighbouring groups (1 -> 2 -> 4 -> 8 -> 16 bits wide). */
static uint64_t vp_gather5(uint64_t x)
{
    x &= 0x1084210842108421ull;
    x = (x | x >> 4) & 0x300C0300C0300C03ull;  /* pairs at 10i */
    x = (x | x >> 8) & 0xF0000F0000F0000Full;  /* nibbles at 20i */
    x = (x | x >> 16) & 0x0000FF00000000FFull; /* bytes at 40i */
    return (x | x >> 32) & 0x1FFFull;
}

/* Computed with shifts rather than looked up: a query permutes its hash
 * once, and in a busy process the 16 KiB of byte tables are out of the
 * cache, so the lookups cost a memory round trip before any probe could
 * start (~2% of a radius-4 query on the 1M set). */
uint64_t vp_forward(uint64_t h)
{
    uint64_t p = 0;
    for (unsigned t = 0; t < 5; t++)
        p |= vp_gather5(h >> t) << (13 * t);
    return p;
}

uint64_t vp_inverse(uint64_t h)
{
    pthread_once(&vp_once, vp_init);
    return vp_apply((const vp_table *)&vp_inv, h);
}

const vp_table *vp_inverse_table(void)
{
    pthread_once(&vp_once, vp_init);
    return (const vp_table *)&vp_inv;
}
