/*
 * permute.c - the stored-hash bit permutation (see permute.h), applied by
 * eight 256-entry tables per direction (one per input byte): 8 loads and 7
 * ORs. The tables are computed once under pthread_once and then read-only.
 */
#include "index/visual/permute.h"

#include <pthread.h>

static pthread_once_t vp_once = PTHREAD_ONCE_INIT;
static vp_table vp_fwd;
static vp_table vp_inv;

static void vp_init(void)
{
    unsigned to[64];
    /* Input bit i goes to substring i mod 5, at position i / 5 in it. */
    for (unsigned i = 0; i < 64; i++)
        to[i] = 13 * (i % 5) + i / 5;
    for (unsigned byte = 0; byte < 8; byte++) {
        for (unsigned v = 0; v < 256; v++) {
            uint64_t f = 0, b = 0;
            for (unsigned k = 0; k < 8; k++) {
                if (!(v >> k & 1))
                    continue;
                unsigned src = byte * 8 + k;
                f |= 1ull << to[src];
                /* Inverse: bit `src` of a stored hash came from the input
                 * bit i with to[i] == src. */
                for (unsigned i = 0; i < 64; i++)
                    if (to[i] == src)
                        b |= 1ull << i;
            }
            vp_fwd[byte][v] = f;
            vp_inv[byte][v] = b;
        }
    }
}

uint64_t vp_forward(uint64_t h)
{
    pthread_once(&vp_once, vp_init);
    return vp_apply((const vp_table *)&vp_fwd, h);
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
