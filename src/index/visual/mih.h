/*
 * index/visual/mih.h - multi-index hashing (Norouzi, Punjani & Fleet, CVPR
 * 2012) for 64-bit hashes: five tables, table t keyed by substring t.
 *
 * Substrings. Substring t is the input bits i with i mod 5 == t (13 bits,
 * 12 for t = 4), which spreads each substring over the whole image
 * (permute.h). Hashes are STORED as given (unpermuted): verification and the
 * dedupe tests need only the masks mih_umask(t) of those bits; the keys
 * (bucket numbers) are read from the permuted form vp_forward(h), where
 * substring t is the contiguous bits 13t .. 13t+12 (mih_key). Callers pass
 * that permuted form ("pq") to the probing functions below.
 *
 * Generalised pigeonhole: if d(c, q) <= r and c differs from q by more than
 * s bits on each of p substrings, then r >= p(s + 1). So probing, in ANY p
 * tables with p(s + 1) > r, the buckets whose key is within s of the query's
 * finds every hit (level plans; visual_mih.c picks s and the tables).
 *
 * Pair keys. Table t is sorted by the 25-26 bit key (substring t, substring
 * t + 1 mod 5), its "partner". Every entry within 2 of q equals q on some
 * substring t AND on its partner, and every entry within 4 equals q on some
 * t and lies within 1 of q on its partner (proofs in visual_mih.c). Those
 * sets are exact runs of the sorted table: pair(t, 0) is one run, pair(t, 1)
 * at most 14. On the 1M Fashion-MNIST set a query at r = 4 reads 6.8k
 * entries that way, against 26.6k in the five exact buckets.
 *
 * Finding a run. A direct directory over 26 bits would take 256 MiB per
 * table, so it is two levels: the directory is indexed by (substring t, the
 * partner's top 6 bits), a "cell", and within a cell the entries are sorted
 * by the partner's remaining 6-7 bits, kept in a byte column (mh_tag), where
 * a binary search finds the run of one value (cells are short: ~2 entries on
 * average, a few hundred in dense clusters):
 *
 *   mh_off[t]:  [0][1][2] ... [2^19]       cell (v, c) = off[v<<6|c]..off[v<<6|c + 1]
 *                                          bucket v    = off[v<<6]..off[(v+1)<<6]
 *   mh_tag[t]:  |3 3 9|0|   |1 5|...       partner's low bits, sorted within a cell
 *   mh_code[t]: |c c c|c|   |c c|...       stored hashes, same order
 *   mh_slot[t]: |s s s|s|   |s s|...       their entry slots (u32)
 *
 * Big cells. A cell of MIH_SIDE_MIN entries or more would cost a binary
 * search over several lines of tags per tag value (the query's own cell
 * averages 1.3k entries on the 1M set, and wants 8 values). Its tag bytes
 * are replaced, in place, by a side table: entry v (v = 0 .. 2^tag bits)
 * is the number of the cell's entries whose tag is below v, as u16 (u32
 * when the cell has more than 65535 entries), so the run of value v is
 * [side[v], side[v + 1]) from the cell's start. The cell's size, read from
 * the directory, tells which form it has; it costs no memory and no extra
 * lookup, and a run takes two reads from ~5 lines instead of ~22 lines and
 * two searches.
 *
 * The hashes are stored inline (a structure-of-arrays column) so that
 * verification is the same SIMD threshold scan as the linear path, over a
 * short run, and only hits touch the slot column.
 *
 * The bucket starts are also kept apart (mh_bkt[t][v] = mh_off[t][v << 6],
 * 32 KiB per table, cache-resident) for the level plans' lookups.
 *
 * Table 0 has no code or slot arrays: the owner keeps its entry slots sorted
 * by table 0's pair key at every rebuild, so each run of table 0 is a slot
 * range of the hash array itself, and the ids of the hits found there lie
 * next to each other.
 *
 * Tables are immutable once built: they index the entry slots [0, mh_covered)
 * that were live at build time; newer slots (the "tail") are scanned, and
 * removals are filtered when the hits' ids are filled. The owner rebuilds
 * them when the tail grows past a few percent.
 */
#ifndef STEME_INDEX_VISUAL_MIH_H
#define STEME_INDEX_VISUAL_MIH_H

#include <stddef.h>
#include <stdint.h>

#define MIH_TABLES 5u
#define MIH_KEY_BITS 13u                   /* widest substring */
#define MIH_BUCKETS (1u << MIH_KEY_BITS)   /* keys of the widest substring */
#define MIH_DIR_BITS 6u                    /* partner bits in the directory */
/* Cells with this many entries keep a side table in place of their tags
 * (room for 2^7 + 1 u16, or u32 past 65535 entries). */
#define MIH_SIDE_MIN 320u

typedef struct mih_tables {
    uint32_t *mh_off[MIH_TABLES];
    uint32_t *mh_bkt[MIH_TABLES];   /* bucket starts: mh_bkt[v] = mh_off[v << 6] (32 KiB, cache-resident) */
    uint8_t *mh_tag[MIH_TABLES];    /* partner's low bits (mih_tag), or a big cell's side table */
    uint64_t *mh_code[MIH_TABLES];  /* stored hashes (NULL for table 0) */
    uint32_t *mh_slot[MIH_TABLES];  /* entry slots (NULL for table 0) */
    size_t mh_entries;   /* entries indexed (live slots below mh_covered) */
    size_t mh_covered;   /* slots [0, mh_covered) were considered */
    int mh_built;
} mih_tables;

/* A run of one table: entries [mr_begin, mr_end) of table mr_table. */
typedef struct mih_range {
    uint32_t mr_table;
    uint32_t mr_begin;
    uint32_t mr_end;
} mih_range;

void mih_init(mih_tables *m);
void mih_free(mih_tables *m);

/*
 * Build tables over the stored hashes codes[0, n), whose permuted forms are
 * pcodes[0, n), into *out (which must be empty: mih_init). The entries must
 * be sorted by table 0's pair key (mih_pkey(pcodes[i], 0)). Returns 0 or -1
 * on allocation failure (*out is then left empty).
 */
int mih_build(mih_tables *out, const uint64_t *codes, const uint64_t *pcodes, size_t n);

/*
 * Sort order of n permuted hashes by table t's pair key (stable): writes
 * into order[0, n) the indexes of pcodes in that order. Two counting-sort
 * passes (tag, then directory key). Returns 0 or -1 on allocation failure.
 */
int mih_sort(const uint64_t *pcodes, size_t n, unsigned t, uint32_t *order);

/* Width of substring t in bits (13, or 12 for the last). */
static inline unsigned mih_bits(unsigned t)
{
    return t + 1 < MIH_TABLES ? MIH_KEY_BITS : 64u - MIH_KEY_BITS * (MIH_TABLES - 1u);
}

/* Mask of substring t within a PERMUTED hash (contiguous bits). */
static inline uint64_t mih_mask(unsigned t)
{
    return ((1ull << mih_bits(t)) - 1ull) << (MIH_KEY_BITS * t);
}

/* Mask of substring t within a STORED hash: the bits i with i mod 5 == t
 * (bit 64 falls off for t = 4, which has 12). */
static inline uint64_t mih_umask(unsigned t)
{
    return 0x1084210842108421ull << t;
}

/* Substring t of a permuted hash. */
static inline unsigned mih_key(uint64_t pcode, unsigned t)
{
    return (unsigned)((pcode & mih_mask(t)) >> (MIH_KEY_BITS * t));
}

/* Partner of table t: table t is sorted by (substring t, the partner's
 * substring). */
static inline unsigned mih_partner(unsigned t)
{
    return (t + 1u) % MIH_TABLES;
}

/* Bits of the partner kept in the tag column (below the cell's bits). */
static inline unsigned mih_tag_bits(unsigned t)
{
    return mih_bits(mih_partner(t)) - MIH_DIR_BITS;
}

/* The partner's top MIH_DIR_BITS bits: the "cell" within a bucket. */
static inline unsigned mih_cell(uint64_t pcode, unsigned t)
{
    return mih_key(pcode, mih_partner(t)) >> mih_tag_bits(t);
}

/* The partner's low bits: the order within a cell. */
static inline unsigned mih_tag(uint64_t pcode, unsigned t)
{
    return mih_key(pcode, mih_partner(t)) & ((1u << mih_tag_bits(t)) - 1u);
}

/* Directory key of a permuted hash in table t: (substring t, cell). */
static inline uint32_t mih_dkey(uint64_t pcode, unsigned t)
{
    return (uint32_t)mih_key(pcode, t) << MIH_DIR_BITS | mih_cell(pcode, t);
}

/* Full sort key of table t: (substring t, partner substring). */
static inline uint32_t mih_pkey(uint64_t pcode, unsigned t)
{
    return mih_dkey(pcode, t) << mih_tag_bits(t) | mih_tag(pcode, t);
}

/* Directory entries of table t (mh_off[t] holds one more). */
static inline uint32_t mih_dir_size(unsigned t)
{
    return 1u << (mih_bits(t) + MIH_DIR_BITS);
}

/*
 * Append to *ranges (grown with realloc; *cap its capacity, *n its length)
 * the non-empty buckets of table t whose key differs from the permuted
 * query pq's substring in exactly `level` bits. *total += their entry
 * counts. Returns 0 or -1 on allocation failure.
 */
int mih_gather(const mih_tables *m, unsigned t, uint64_t pq, unsigned level, mih_range **ranges,
               size_t *n, size_t *cap, uint64_t *total);

/*
 * Pair probe of every table: append the runs holding exactly the entries
 * equal to pq on substring t and within `s2` (0 or 1) of it on the partner
 * substring, table 0 first: one run per table for s2 = 0, up to
 * bits(partner) + 1 for s2 = 1. Table t's runs are [at[t], at[t + 1]) (at
 * has MIH_TABLES + 1 entries). The memory reads are batched across tables
 * and the runs' first lines requested. Same conventions as mih_gather;
 * *lookups += the directory cells read.
 */
int mih_gather_pairs(const mih_tables *m, uint64_t pq, unsigned s2, mih_range **ranges,
                     size_t *n, size_t *cap, size_t *at, uint64_t *total, uint64_t *lookups);

/* Buckets looked at in table t for one level: C(bits(t), level). */
uint64_t mih_probes_at_level(unsigned t, unsigned level);

#endif
