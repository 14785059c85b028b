/*
 * index/visual/permute.h - the bit permutation that defines the substrings
 * used by multi-index hashing, so that each 13-bit substring draws on the
 * whole image. Hashes are stored as given; the tables read their keys from
 * the permuted form (mih.h), and verification uses the substrings' masks
 * on the stored form (mih_umask).
 *
 * A dHash sets bit (row * 8 + col); its rows are image rows, and the top and
 * bottom rows of many images are flat background, so contiguous substrings
 * ("rows 0-1") are nearly constant and their buckets huge. The permutation
 * makes substring t the input bits i with i mod 5 == t
 * (13 bits each, 12 for the last): cells from every row, from columns spread
 * across the width. On the 1M Fashion-MNIST set a query at r = 4 then reads
 * 26.6k entries over the five exact buckets, against 83k with contiguous
 * substrings ((row + col) mod 5 gives 27.5k). Hamming distance is unchanged
 * by a common permutation, so results are exact for any 64-bit hash; only
 * speed depends on the hash family.
 */
#ifndef STEME_INDEX_VISUAL_PERMUTE_H
#define STEME_INDEX_VISUAL_PERMUTE_H

#include <stdint.h>

/* The keys' form of a hash, and back. Pure functions; thread-safe. */
uint64_t vp_forward(uint64_t h);
uint64_t vp_inverse(uint64_t h);

#endif
