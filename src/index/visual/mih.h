/*
 * index/visual/mih.h - multi-index hashing (Norouzi, Punjani & Fleet, CVPR
 * 2012) for 64-bit hashes: five tables, table t keyed by the substring of
 * stored bits 13t .. 13t+12 (table 4: bits 52..63, 12 bits).
 *
 * Generalised pigeonhole: if d(c, q) <= r and c differs from q by more than
 * s bits on each of p substrings, then r >= p(s + 1). So probing, in ANY p
 * tables with p(s + 1) > r, the buckets whose key is within s of the query's
 * finds every hit. For r <= 4 that is p = r + 1 tables at s = 0 (one exact
 * bucket per table); the planner (visual_mih.c) picks s and the p tables
 * with the fewest entries, per query. Why five 13-bit tables and not four
 * 16-bit ones: on the 1M Fashion-MNIST set a query at r = 4 reads 27k
 * entries in 5 contiguous buckets instead of 55k in 68 (docs/visual.md).
 *
 * Each table is a direct-indexed CSR array (no hashing). Within a bucket
 * the entries are sorted by the top 6 bits of the next table's substring
 * (the "partner", t + 1 mod 5), and the offsets index that too, so
 * the directory key is (substring t, partner's top 6 bits):
 *
 *   mh_off[t]:  [0][1][2] ... [2^19]       cell (v, c) = off[v<<6|c]..off[v<<6|c + 1]
 *                                          bucket v    = off[v<<6]..off[(v+1)<<6]
 *   mh_code[t]: |c c c|c|   |c c|...       hashes, grouped by directory key
 *   mh_slot[t]: |s s s|s|   |s s|...       their entry slots (u32)
 *
 * The hashes are stored inline (a structure-of-arrays column) so that
 * verification is the same SIMD threshold scan as the linear path, over a
 * short run, and only hits touch the slot column.
 *
 * The bucket starts are also kept apart (mh_bkt[t][v] = mh_off[t][v << 6],
 * 32 KiB per table, cache-resident) for the planner's level lookups.
 *
 * Table 0 has no code or slot arrays: the owner keeps its entry slots sorted
 * by table 0's directory key at every rebuild, so each run of table 0 is a
 * slot range of the packed hash array itself, and the ids of the hits found
 * there lie next to each other.
 *
 * Tables are immutable once built: they index the entry slots [0, mh_covered)
 * that were live at build time; newer slots (the "tail") are scanned, and
 * removals are filtered when the hits' ids are filled. The owner rebuilds them when
 * the tail grows past a few percent.
 */
#ifndef STEME_INDEX_VISUAL_MIH_H
#define STEME_INDEX_VISUAL_MIH_H

#include <stddef.h>
#include <stdint.h>

#define MIH_TABLES 5u
#define MIH_KEY_BITS 13u                   /* widest substring */
#define MIH_BUCKETS (1u << MIH_KEY_BITS)   /* keys of the widest substring */
#define MIH_DIR_BITS 6u                    /* partner bits in the directory */

typedef struct mih_tables {
    uint32_t *mh_off[MIH_TABLES];
    uint32_t *mh_bkt[MIH_TABLES];   /* bucket starts: mh_bkt[v] = mh_off[v << 6] (32 KiB, cache-resident) */
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

/* Width of substring t in bits (13, or 12 for the last). */
static inline unsigned mih_bits(unsigned t)
{
    return t + 1 < MIH_TABLES ? MIH_KEY_BITS : 64u - MIH_KEY_BITS * (MIH_TABLES - 1u);
}

/* Mask of substring t within a stored hash. */
static inline uint64_t mih_mask(unsigned t)
{
    return ((1ull << mih_bits(t)) - 1ull) << (MIH_KEY_BITS * t);
}

/* Substring t of a hash. */
static inline unsigned mih_key(uint64_t code, unsigned t)
{
    return (unsigned)((code & mih_mask(t)) >> (MIH_KEY_BITS * t));
}

/* Partner of table t: table t's buckets are sub-sorted by the top
 * MIH_DIR_BITS bits of the partner's substring (its "cell"). */
static inline unsigned mih_partner(unsigned t)
{
    return (t + 1u) % MIH_TABLES;
}

static inline unsigned mih_cell(uint64_t code, unsigned t)
{
    unsigned u = mih_partner(t);
    return mih_key(code, u) >> (mih_bits(u) - MIH_DIR_BITS);
}

/* Directory key of a hash in table t: (substring t, cell). */
static inline uint32_t mih_dkey(uint64_t code, unsigned t)
{
    return (uint32_t)mih_key(code, t) << MIH_DIR_BITS | mih_cell(code, t);
}

/* Directory entries of table t (mh_off[t] holds one more). */
static inline uint32_t mih_dir_size(unsigned t)
{
    return 1u << (mih_bits(t) + MIH_DIR_BITS);
}

/*
 * Append to *ranges (grown with realloc; *cap its capacity, *n its length)
 * the non-empty buckets of table t whose key differs from q's substring in
 * exactly `level` bits. *total += their entry counts.
 * Returns 0 or -1 on allocation failure.
 */
int mih_gather(const mih_tables *m, unsigned t, uint64_t q, unsigned level, mih_range **ranges,
               size_t *n, size_t *cap, uint64_t *total);

/*
 * Pair probe (see the header of visual_mih.c): append the cells of table t
 * that may hold an entry equal to q on substring t and within `s2` (0 or 1)
 * of q on the partner substring: q's cell, and with s2 = 1 also the
 * MIH_DIR_BITS cells one bit away. Same conventions as mih_gather.
 */
int mih_gather_pair(const mih_tables *m, unsigned t, uint64_t q, unsigned s2,
                    mih_range **ranges, size_t *n, size_t *cap, uint64_t *total);

/* Buckets looked at in table t for one level: C(bits(t), level). */
uint64_t mih_probes_at_level(unsigned t, unsigned level);

#endif
