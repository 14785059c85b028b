/*
 * mih.c - building the multi-index hashing tables and enumerating the runs
 * to probe (see mih.h).
 *
 * The build sorts each table by its pair key with two stable counting-sort
 * passes (the partner's low bits, then the directory key), O(n) with
 * sequential writes: 1M entries take a few tens of milliseconds per table.
 */
#include "index/visual/mih.h"

#include <stdlib.h>
#include <string.h>

#include "index/visual/bigalloc.h"

void mih_init(mih_tables *m)
{
    memset(m, 0, sizeof *m);
}

void mih_free(mih_tables *m)
{
    if (!m)
        return;
    for (unsigned t = 0; t < MIH_TABLES; t++) {
        vb_free(m->mh_off[t]);
        free(m->mh_bkt[t]);
        vb_free(m->mh_tag[t]);
        vb_free(m->mh_code[t]);
        vb_free(m->mh_slot[t]);
    }
    mih_init(m);
}

int mih_sort(const uint64_t *pcodes, size_t n, unsigned t, uint32_t *order)
{
    uint32_t ntag = 1u << mih_tag_bits(t), ndir = mih_dir_size(t);
    uint32_t *cnt = calloc((size_t)ndir + 1, sizeof *cnt);
    uint32_t *tmp = vb_alloc((n ? n : 1) * sizeof *tmp);
    if (!cnt || !tmp) {
        free(cnt);
        vb_free(tmp);
        return -1;
    }
    /* Least significant digit first: by tag, then stably by directory key. */
    for (size_t i = 0; i < n; i++)
        cnt[mih_tag(pcodes[i], t) + 1]++;
    for (uint32_t k = 0; k < ntag; k++)
        cnt[k + 1] += cnt[k];
    for (size_t i = 0; i < n; i++)
        tmp[cnt[mih_tag(pcodes[i], t)]++] = (uint32_t)i;
    memset(cnt, 0, ((size_t)ndir + 1) * sizeof *cnt);
    for (size_t i = 0; i < n; i++)
        cnt[mih_dkey(pcodes[i], t) + 1]++;
    for (uint32_t k = 0; k < ndir; k++)
        cnt[k + 1] += cnt[k];
    for (size_t i = 0; i < n; i++)
        order[cnt[mih_dkey(pcodes[tmp[i]], t)]++] = tmp[i];
    free(cnt);
    vb_free(tmp);
    return 0;
}

/* Replace the tags of a big cell (n >= MIH_SIDE_MIN entries, sorted by
 * tag) by its side table: entry v = the number of tags below v, for v in
 * 0 .. 2^tag bits (mih.h). u16 entries, or u32 when n does not fit. */
static void side_build(uint8_t *tags, uint32_t n, unsigned t)
{
    unsigned ntag = 1u << mih_tag_bits(t);
    uint32_t below[(1u << (MIH_KEY_BITS - MIH_DIR_BITS)) + 1];
    uint32_t i = 0;
    for (unsigned v = 0; v <= ntag; v++) {
        while (i < n && tags[i] < v)
            i++;
        below[v] = i;
    }
    for (unsigned v = 0; v <= ntag; v++) {
        if (n <= UINT16_MAX) {
            uint16_t x = (uint16_t)below[v];
            memcpy(tags + 2 * v, &x, sizeof x);
        } else {
            memcpy(tags + 4 * v, &below[v], sizeof below[v]);
        }
    }
}

/* Entry v of the side table of a cell of n entries whose tag column
 * starts at p. */
static uint32_t side_at(const uint8_t *p, uint32_t n, unsigned v)
{
    if (n <= UINT16_MAX) {
        uint16_t x;
        memcpy(&x, p + 2 * v, sizeof x);
        return x;
    }
    uint32_t x;
    memcpy(&x, p + 4 * v, sizeof x);
    return x;
}

int mih_build(mih_tables *out, const uint64_t *codes, const uint64_t *pcodes, size_t n)
{
    size_t nn = n ? n : 1;
    uint32_t *order = NULL;
    for (unsigned t = 0; t < MIH_TABLES; t++) {
        out->mh_off[t] = vb_calloc(((size_t)mih_dir_size(t) + 1) * sizeof(uint32_t));
        out->mh_bkt[t] = malloc(((1u << mih_bits(t)) + 1) * sizeof(uint32_t));
        out->mh_tag[t] = vb_alloc(nn);
        if (!out->mh_off[t] || !out->mh_bkt[t] || !out->mh_tag[t])
            goto oom;
        if (t == 0)
            continue; /* table 0 is the sorted slot array itself */
        out->mh_code[t] = vb_alloc(nn * sizeof(uint64_t));
        out->mh_slot[t] = vb_alloc(nn * sizeof(uint32_t));
        if (!out->mh_code[t] || !out->mh_slot[t])
            goto oom;
    }
    order = vb_alloc(nn * sizeof *order);
    if (!order)
        goto oom;
    for (unsigned t = 0; t < MIH_TABLES; t++) {
        uint32_t *off = out->mh_off[t];
        uint8_t *tag = out->mh_tag[t];
        unsigned nb = mih_dir_size(t);
        if (t == 0) {
            for (size_t i = 0; i < n; i++)
                order[i] = (uint32_t)i;
        } else if (mih_sort(pcodes, n, t, order) != 0) {
            goto oom;
        }
        /* off[v + 1] counts key v; the prefix sum turns it into starts. */
        for (size_t i = 0; i < n; i++) {
            uint64_t pc = pcodes[order[i]];
            off[mih_dkey(pc, t) + 1]++;
            tag[i] = (uint8_t)mih_tag(pc, t);
            if (t != 0) {
                out->mh_code[t][i] = codes[order[i]];
                out->mh_slot[t][i] = order[i];
            }
        }
        for (unsigned v = 0; v < nb; v++)
            off[v + 1] += off[v];
        for (unsigned c = 0; c < nb; c++)
            if (off[c + 1] - off[c] >= MIH_SIDE_MIN)
                side_build(tag + off[c], off[c + 1] - off[c], t);
        for (uint32_t v = 0; v <= (1u << mih_bits(t)); v++)
            out->mh_bkt[t][v] = off[v << MIH_DIR_BITS];
    }
    vb_free(order);
    out->mh_entries = n;
    out->mh_covered = n;
    out->mh_built = 1;
    return 0;
oom:
    vb_free(order);
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

int mih_gather(const mih_tables *m, unsigned t, uint64_t pq, unsigned level, mih_range **ranges,
               size_t *n, size_t *cap, uint64_t *total)
{
    unsigned bits = mih_bits(t);
    if (!m->mh_built || level > bits)
        return 0;
    const uint32_t *off = m->mh_bkt[t];
    unsigned key = mih_key(pq, t);
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

/* First index in tags[b, e) (sorted) whose tag is >= v. Branch-free: the
 * tags are a few hundred bytes already requested, and the comparisons'
 * outcomes are random, so a branchy search would mispredict half of them. */
static uint32_t tag_lower(const uint8_t *tags, uint32_t b, uint32_t e, unsigned v)
{
    if (b == e)
        return b;
    const uint8_t *p = tags + b;
    uint32_t n = e - b;
    while (n > 1) {
        uint32_t half = n / 2;
        p = p[half] < v ? p + half : p;
        n -= half;
    }
    return (uint32_t)(p - tags) + (*p < v);
}

/* The run [*lo, *hi) of tag value v in tags[b, e), which is sorted. The
 * end is found by galloping from the start (windows of 8, 16, ...) and a
 * binary search in the last window: runs are short (a cell's ~1.3k tags
 * spread over 128 values), so this reads the lines the start already
 * brought in and takes ~3 steps instead of a search over the whole cell
 * (the searches were ~half of the probing time at r = 4 with hot caches). */
static void tag_run(const uint8_t *tags, uint32_t b, uint32_t e, unsigned v, uint32_t *lo,
                    uint32_t *hi)
{
    uint32_t l = tag_lower(tags, b, e, v), h = l, step = 8;
    if (l == e || tags[l] != v) {
        *lo = *hi = l;
        return;
    }
    while (e - h > step && tags[h + step] == v) {
        h += step;
        step *= 2;
    }
    uint32_t w = e - h > step ? h + step : e;
    *lo = l;
    *hi = tag_lower(tags, h, w, v + 1);
}

/* Cache lines of a cell's tags read ahead of its binary search: cells up to
 * this many lines (64 tags each) are brought in whole. */
#define MIH_TAG_LINES 32u

int mih_gather_pairs(const mih_tables *m, uint64_t pq, unsigned s2, mih_range **ranges,
                     size_t *n, size_t *cap, size_t *at, uint64_t *total, uint64_t *lookups)
{
    enum { CELLS = 1 + MIH_DIR_BITS };
    uint32_t dir[MIH_TABLES][CELLS], beg[MIH_TABLES][CELLS], end[MIH_TABLES][CELLS];
    unsigned ncell = s2 ? CELLS : 1u;
    if (!m->mh_built) {
        for (unsigned t = 0; t <= MIH_TABLES; t++)
            at[t] = *n;
        return 0;
    }
    /* The partner within s2 bits: the query's own cell with its tag or
     * (s2 = 1) a tag one bit away, or a cell one bit away with its tag.
     * Each step below waits on memory, so it runs for every cell of every
     * table before the next step starts: one memory latency per step, not
     * one per cell. Step 1: the directory cells. */
    for (unsigned t = 0; t < MIH_TABLES; t++) {
        uint32_t base = (uint32_t)mih_key(pq, t) << MIH_DIR_BITS;
        unsigned cell = mih_cell(pq, t);
        for (unsigned j = 0; j < ncell; j++) {
            dir[t][j] = base | (j == 0 ? cell : cell ^ (1u << (j - 1)));
            __builtin_prefetch(&m->mh_off[t][dir[t][j]]);
        }
    }
    /* Step 2: their bounds, and the tags of the non-empty ones. */
    for (unsigned t = 0; t < MIH_TABLES; t++)
        for (unsigned j = 0; j < ncell; j++) {
            uint32_t b = m->mh_off[t][dir[t][j]], e = m->mh_off[t][dir[t][j] + 1];
            beg[t][j] = b;
            end[t][j] = e;
            if (e - b >= MIH_SIDE_MIN) {
                /* Side table: the whole of it for the query's own cell
                 * (8 tag values), else the entries of the one tag. */
                const uint8_t *p = m->mh_tag[t] + b;
                unsigned w = e - b <= UINT16_MAX ? 2u : 4u, v = mih_tag(pq, t);
                uint32_t from = j == 0 && s2 ? 0u : w * v;
                uint32_t to = j == 0 && s2 ? w * ((1u << mih_tag_bits(t)) + 1u) : w * (v + 2u);
                for (uintptr_t a = (uintptr_t)(p + from) & ~(uintptr_t)63; a < (uintptr_t)(p + to);
                     a += 64)
                    __builtin_prefetch((const void *)a);
                continue;
            }
            for (uint32_t l = 0; b < e && l < MIH_TAG_LINES && b + 64 * l < e; l++)
                __builtin_prefetch(m->mh_tag[t] + b + 64 * l);
        }
    *lookups += (uint64_t)MIH_TABLES * ncell;
    /* Step 3: the runs of the wanted tags (their hashes are requested by
     * the verification's prefetch cursor, visual_verify.h). */
    for (unsigned t = 0; t < MIH_TABLES; t++) {
        const uint8_t *tags = m->mh_tag[t];
        unsigned tag = mih_tag(pq, t), tb = mih_tag_bits(t);
        at[t] = *n;
        for (unsigned j = 0; j < ncell; j++) {
            uint32_t b = beg[t][j], e = end[t][j];
            if (b == e)
                continue;
            int side = e - b >= MIH_SIDE_MIN;
            for (unsigned i = 0; i <= (j == 0 && s2 ? tb : 0u); i++) {
                unsigned v = i == 0 ? tag : tag ^ (1u << (i - 1));
                uint32_t lo, hi;
                if (side) {
                    lo = b + side_at(tags + b, e - b, v);
                    hi = b + side_at(tags + b, e - b, v + 1);
                } else {
                    tag_run(tags, b, e, v, &lo, &hi);
                }
                if (lo == hi)
                    continue;
                if (range_push(ranges, n, cap, t, lo, hi) != 0)
                    return -1;
                *total += hi - lo;
            }
        }
    }
    at[MIH_TABLES] = *n;
    return 0;
}
