/*
 * index/visual/permute.h - the bit permutation applied to every hash the
 * index stores (and to every query), so that each 16-bit substring used by
 * multi-index hashing draws on the whole image.
 *
 * A dHash sets bit (row * 8 + col); its rows are image rows, and the top and
 * bottom rows of many images are flat background, so the substrings "rows
 * 0-1" and "rows 6-7" are nearly constant and their buckets huge. Stored
 * hashes are permuted so that substring t holds the 16 bits whose cell
 * satisfies (row + col) mod 4 == t: two cells from every row, from columns
 * spread across the width. On the 70k Fashion-MNIST dHashes this cuts the
 * expected bucket load of a query 4.3x (1058 vs 4506 entries summed over the
 * four tables; a local search over permutations found only 1049). Hamming
 * distance is unchanged by a common permutation, so results are exact for
 * any 64-bit hash; only speed depends on the hash family.
 */
#ifndef STEME_INDEX_VISUAL_PERMUTE_H
#define STEME_INDEX_VISUAL_PERMUTE_H

#include <stdint.h>

/* Stored form of a hash, and back. Pure functions; thread-safe. */
uint64_t vp_forward(uint64_t h);
uint64_t vp_inverse(uint64_t h);

#endif
