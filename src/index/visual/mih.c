/*
 * mih.c - building the multi-index hashing tables and enumerating the
 * buckets to probe (see mih.h).
 *
 * The build is a counting sort per table (count keys, prefix sums, place),
 * O(n) with sequential writes; 1M entries take tens of milliseconds.
 */
#include "index/visual/mih.h"

#include <stdlib.h>
#include <string.h>

void mih_init(mih_tables *m)
{
    memset(m, 0, sizeof *m);
}

void mih_free(mih_tables *m)
{
    if (!m)
        return;
    for (unsigned t = 0; t < MIH_TABLES; t++) {
        free(m->mh_off[t]);
        free(m->mh_bkt[t]);
        free(m->mh_code[t]);
        free(m->mh_slot[t]);
    }
    mih_init(m);
}

int mih_build(mih_tables *out, const uint64_t *codes, size_t n)
{
    for (unsigned t = 0; t < MIH_TABLES; t++) {
        out->mh_off[t] = calloc((size_t)mih_dir_size(t) + 1, sizeof(uint32_t));
        out->mh_bkt[t] = malloc(((1u << mih_bits(t)) + 1) * sizeof(uint32_t));
        if (!out->mh_off[t] || !out->mh_bkt[t])
            goto oom;
        if (t == 0)
            continue; /* table 0 is the sorted slot array itself */
        out->mh_code[t] = malloc((n ? n : 1) * sizeof(uint64_t));
        out->mh_slot[t] = malloc((n ? n : 1) * sizeof(uint32_t));
        if (!out->mh_code[t] || !out->mh_slot[t])
            goto oom;
    }
    for (unsigned t = 0; t < MIH_TABLES; t++) {
        uint32_t *off = out->mh_off[t];
        unsigned nb = mih_dir_size(t);
        /* off[v + 1] counts key v; the prefix sum turns it into starts. */
        for (size_t i = 0; i < n; i++)
            off[mih_dkey(codes[i], t) + 1]++;
        for (unsigned v = 0; v < nb; v++)
            off[v + 1] += off[v];
        if (t != 0) {
            /* Place using off[v] as a cursor, then shift the cursors back. */
            for (size_t i = 0; i < n; i++) {
                uint32_t at = off[mih_dkey(codes[i], t)]++;
                out->mh_code[t][at] = codes[i];
                out->mh_slot[t][at] = (uint32_t)i;
            }
            memmove(off + 1, off, nb * sizeof *off);
            off[0] = 0;
        }
        for (uint32_t v = 0; v <= (1u << mih_bits(t)); v++)
            out->mh_bkt[t][v] = off[v << MIH_DIR_BITS];
    }
    out->mh_entries = n;
    out->mh_covered = n;
    out->mh_built = 1;
    return 0;
oom:
    mih_free(out);
    return -1;
}

uint64_t mih_probes_at_level(unsigned t, unsigned level)
{
    unsigned bits = mih_bits(t);
    if (level > bits)
        return 0;
    uint64_t c = 1;
    for (unsigned i = 0; i < level; i++)
        c = c * (bits - i) / (i + 1);
    return c;
}

static int range_push(mih_range **ranges, size_t *n, size_t *cap, unsigned t, uint32_t b,
                      uint32_t e)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        mih_range *r = realloc(*ranges, nc * sizeof *r);
        if (!r)
            return -1;
        *ranges = r;
        *cap = nc;
    }
    (*ranges)[(*n)++] = (mih_range){t, b, e};
    return 0;
}

int mih_gather(const mih_tables *m, unsigned t, uint64_t q, unsigned level, mih_range **ranges,
               size_t *n, size_t *cap, uint64_t *total)
{
    unsigned bits = mih_bits(t);
    if (!m->mh_built || level > bits)
        return 0;
    const uint32_t *off = m->mh_bkt[t];
    unsigned key = mih_key(q, t);
    uint32_t end = 1u << bits;
    /* Every mask of `bits` bits with `level` bits set, in increasing order
     * (Gosper's hack: next larger integer with the same popcount). */
    uint32_t mask = (1u << level) - 1u;
    while (mask < end) {
        unsigned v = key ^ mask;
        uint32_t b = off[v], e = off[v + 1];
        if (b != e) {
            if (range_push(ranges, n, cap, t, b, e) != 0)
                return -1;
            *total += e - b;
        }
        if (mask == 0)
            break;
        uint32_t low = mask & (0u - mask);
        uint32_t ripple = mask + low;
        mask = (((ripple ^ mask) >> 2) / low) | ripple;
    }
    return 0;
}

int mih_gather_pair(const mih_tables *m, unsigned t, uint64_t q, unsigned s2,
                    mih_range **ranges, size_t *n, size_t *cap, uint64_t *total)
{
    if (!m->mh_built)
        return 0;
    const uint32_t *off = m->mh_off[t];
    uint32_t base = (uint32_t)mih_key(q, t) << MIH_DIR_BITS;
    unsigned cell = mih_cell(q, t);
    for (unsigned j = 0; j <= (s2 ? MIH_DIR_BITS : 0u); j++) {
        unsigned c = j == 0 ? cell : cell ^ (1u << (j - 1));
        uint32_t b = off[base | c], e = off[(base | c) + 1];
        if (b != e) {
            if (range_push(ranges, n, cap, t, b, e) != 0)
                return -1;
            *total += e - b;
        }
    }
    return 0;
}
