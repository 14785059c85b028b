/*
 * index/visual/mih.h - multi-index hashing (Norouzi, Punjani & Fleet, CVPR
 * 2012) for 64-bit hashes: four tables, table t keyed by bits 16t..16t+15.
 *
 * Pigeonhole: if d(c, q) <= r then some 16-bit substring of c differs from
 * q's in at most floor(r / 4) bits. So probing, in every table, the buckets
 * whose key is within s = floor(r / 4) of the query's substring finds every
 * hit; each bucket stores its hashes inline and contiguous, so verification
 * is the same SIMD threshold scan as the linear path, over a short run.
 *
 * Each table is a direct-indexed CSR array (16-bit keys need no hashing):
 *
 *   mh_off[t]:  [0][1][2] ... [65536]      bucket v = entries off[v]..off[v+1]
 *   mh_code[t]: |c c c|c|   |c c|...       hashes, grouped by substring t
 *   mh_slot[t]: |s s s|s|   |s s|...       their entry slots
 *
 * Table 0 has no arrays of its own: the owner keeps its entry slots sorted by
 * substring 0 at every rebuild, so bucket v of table 0 is the slot range
 * mh_off[0][v] .. mh_off[0][v+1] of the packed hash array itself, and the
 * ids of most hits (found through table 0) lie next to each other.
 *
 * Tables are immutable once built: they index the entry slots [0, mh_covered)
 * that were live at build time; newer slots (the "tail") are scanned, and
 * removals are filtered when hits are emitted. The owner rebuilds them when
 * the tail grows past a few percent.
 *
 * An entry reached through several tables is reported once: a candidate
 * whose substring distances are d_0..d_3 is emitted only from the first
 * table t (and, for k-NN rings, the first level) at which it is found,
 * decided from its inline hash alone - no visited set is needed.
 */
#ifndef STEME_INDEX_VISUAL_MIH_H
#define STEME_INDEX_VISUAL_MIH_H

#include <stddef.h>
#include <stdint.h>

#define MIH_TABLES 4u
#define MIH_KEY_BITS 16u
#define MIH_BUCKETS (1u << MIH_KEY_BITS)

typedef struct mih_tables {
    uint32_t *mh_off[MIH_TABLES];
    uint64_t *mh_code[MIH_TABLES];
    uint32_t *mh_slot[MIH_TABLES];
    size_t mh_entries;   /* entries indexed (live slots below mh_covered) */
    size_t mh_covered;   /* slots [0, mh_covered) were considered */
    int mh_built;
} mih_tables;

/* A run of one bucket: entries [mr_begin, mr_end) of table mr_table. */
typedef struct mih_range {
    uint32_t mr_table;
    uint32_t mr_begin;
    uint32_t mr_end;
} mih_range;

void mih_init(mih_tables *m);
void mih_free(mih_tables *m);

/*
 * Build tables over codes[0, n), which must be sorted by substring 0, into
 * *out (which must be empty: mih_init). Returns 0 or -1 on allocation
 * failure (*out is then left empty).
 */
int mih_build(mih_tables *out, const uint64_t *codes, size_t n);

/* Substring t of a hash. */
static inline unsigned mih_key(uint64_t code, unsigned t)
{
    return (unsigned)(code >> (MIH_KEY_BITS * t)) & (MIH_BUCKETS - 1u);
}

/*
 * Append to *ranges (grown with realloc; *cap its capacity, *n its length)
 * the non-empty buckets whose key differs from q's substring in exactly
 * `level` bits, for every table. *total += their entry counts.
 * Returns 0 or -1 on allocation failure.
 */
int mih_gather_level(const mih_tables *m, uint64_t q, unsigned level, mih_range **ranges,
                     size_t *n, size_t *cap, uint64_t *total);

/* Number of probes (buckets looked at) per table for one level: C(16, level). */
uint64_t mih_probes_at_level(unsigned level);

/*
 * Substring distances of x = code ^ q packed one per byte (byte t = distance
 * of substring t), computed without the popcnt instruction.
 */
static inline uint32_t mih_chunk_dists(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    x = x + (x >> 8); /* byte 2t now holds substring t's count (<= 16) */
    return (uint32_t)((x & 0xff) | ((x >> 8) & 0xff00) | ((x >> 16) & 0xff0000) |
                      ((x >> 24) & 0xff000000));
}

#endif
