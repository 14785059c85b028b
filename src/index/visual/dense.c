/*
 * dense.c - the dense region (see dense.h): choosing its centre and
 * radius, building its sorted copy, and the radius search over an annulus.
 */
#include "index/visual/dense.h"

#include <string.h>

#include "index/visual/bigalloc.h"
#include "index/visual/visual_int.h"

void vd_init(vd_region *d)
{
    memset(d, 0, sizeof *d);
}

void vd_free(vd_region *d)
{
    if (!d)
        return;
    vb_free(d->dn_code);
    vb_free(d->dn_slot);
    vb_free(d->dn_id);
    vd_init(d);
}

/* Bitwise majority of the codes of codes[b, e) within `within` of
 * `center` (65: all of them); ties give 0. */
static uint64_t majority(const uint64_t *codes, size_t b, size_t e, uint64_t center,
                         unsigned within)
{
    uint32_t ones[64] = {0}, n = 0;
    for (size_t i = b; i < e; i++) {
        uint64_t c = codes[i];
        if (within <= 64 && vh_popcount64(c ^ center) > within)
            continue;
        n++;
        for (unsigned j = 0; j < 64; j++)
            ones[j] += (uint32_t)(c >> j & 1u);
    }
    uint64_t m = 0;
    for (unsigned j = 0; j < 64; j++)
        if (2u * ones[j] > n)
            m |= 1ull << j;
    return m;
}

/* Entries of codes[0, n) at each distance 0..64 from c. */
static void histogram(const uint64_t *codes, size_t n, uint64_t c, uint32_t *hist)
{
    memset(hist, 0, 65 * sizeof *hist);
    for (size_t i = 0; i < n; i++)
        hist[vh_popcount64(codes[i] ^ c)]++;
}

int vd_build(vd_region *d, const uint64_t *codes, const steme_hash *ids, size_t n,
             const uint32_t *cell_off, uint32_t ncells)
{
    vd_init(d);
    if (n < DN_CORE_MIN || !cell_off)
        return 0;
    /* The largest cells of table 0 (insertion into a short sorted list). */
    uint32_t top[DN_CANDIDATES] = {0}, topn[DN_CANDIDATES] = {0};
    for (uint32_t c = 0; c < ncells; c++) {
        uint32_t sz = cell_off[c + 1] - cell_off[c];
        if (sz <= topn[DN_CANDIDATES - 1])
            continue;
        unsigned j = DN_CANDIDATES - 1;
        for (; j > 0 && topn[j - 1] < sz; j--) {
            top[j] = top[j - 1];
            topn[j] = topn[j - 1];
        }
        top[j] = c;
        topn[j] = sz;
    }
    /* Each candidate: the majority of its cell, then of that centre's
     * radius-4 ball (a cell fixes 19 bits, which the majority keeps; the
     * ball's majority sets the other 45 from the cluster around it). */
    uint64_t best = 0;
    uint32_t best_core = 0, hist[65];
    for (unsigned k = 0; k < DN_CANDIDATES && topn[k] > 0; k++) {
        uint64_t c = majority(codes, cell_off[top[k]], cell_off[top[k] + 1], 0, 65);
        c = majority(codes, 0, n, c, DN_CORE_R);
        histogram(codes, n, c, hist);
        uint32_t core = 0;
        for (unsigned j = 0; j <= DN_CORE_R; j++)
            core += hist[j];
        if (core > best_core) {
            best_core = core;
            best = c;
        }
    }
    if (best_core < DN_CORE_MIN)
        return 0;
    histogram(codes, n, best, hist);
    size_t cap = n / DN_SHARE, total = 0;
    unsigned radius = 0;
    while (radius < 64 && total + hist[radius] <= cap) {
        total += hist[radius];
        radius++;
    }
    /* Radii [0, radius) fit. */
    if (radius == 0 || radius - 1 < DN_MIN_RADIUS)
        return 0;
    radius--;
    d->dn_code = vb_alloc(total * sizeof *d->dn_code);
    d->dn_slot = vb_alloc(total * sizeof *d->dn_slot);
    d->dn_id = vb_alloc(total * sizeof *d->dn_id);
    if (!d->dn_code || !d->dn_slot || !d->dn_id) {
        vd_free(d);
        return -1;
    }
    uint32_t at[65];
    d->dn_ring[0] = 0;
    for (unsigned j = 0; j <= radius; j++) {
        at[j] = d->dn_ring[j];
        d->dn_ring[j + 1] = d->dn_ring[j] + hist[j];
    }
    /* Counting sort by distance, stable in slot order. */
    for (size_t i = 0; i < n; i++) {
        unsigned dist = vh_popcount64(codes[i] ^ best);
        if (dist > radius)
            continue;
        uint32_t p = at[dist]++;
        d->dn_code[p] = codes[i];
        d->dn_slot[p] = (uint32_t)i;
        d->dn_id[p] = ids[i];
    }
    d->dn_center = best;
    d->dn_radius = radius;
    d->dn_n = total;
    return 0;
}

/* Bytes of the result array requested ahead of the writes (8 results). */
#define DN_WRITE_AHEAD 384

int vs_dense_radius(const steme_visual *v, uint64_t q, unsigned r, steme_visual_hits *out)
{
    const vd_region *d = &v->v_dense;
    unsigned dq = vh_popcount64(q ^ d->dn_center);
    unsigned lo = dq > r ? dq - r : 0u;
    size_t from = d->dn_ring[lo], to = d->dn_ring[dq + r + 1];
    int any_dead = v->v_live != v->v_slots;
    uint32_t idx[VH_BLOCK + VH_PAD];
    uint8_t dist[VH_BLOCK + VH_PAD];
    /* The kernel with (no) exclusions: a quarter of an annulus may be hits,
     * and its hits leave by a branch-free compress instead of a loop over
     * each block's mask bits, whose exit mispredicts on dense blocks. */
    vh_excl none;
    none.ex_n = 0;
    for (size_t b = from, len; b < to; b += len) {
        len = to - b < VH_BLOCK ? to - b : VH_BLOCK;
        vh_run run = {(uint32_t)b, (uint32_t)(b + len)};
        size_t k = v->v_kernel->vk_scan_excl(d->dn_code, &run, 1, q, r, &none, idx, dist);
        if (k && vs_hits_reserve(out, k) != STEME_OK)
            return STEME_E_NOMEM;
        steme_visual_hit *h = out->hits + out->count;
        for (size_t j = 0; j < k; j++) {
            size_t i = idx[j];
            if (any_dead && v->v_node[d->dn_slot[i]] == VS_DEAD)
                continue;
            /* The result lines are written whole but were evicted by the
             * query's reads: request them (for writing) ahead. */
            __builtin_prefetch((const char *)h + DN_WRITE_AHEAD, 1);
            h->phash = d->dn_code[i];
            h->distance = dist[j];
            h->reserved_ = 0;
            h->id = d->dn_id[i];
            h++;
        }
        out->count = (size_t)(h - out->hits);
    }
    out->examined += to - from;
    return vs_scan_range(v, q, r, v->v_mih.mh_covered, v->v_slots, out, NULL);
}
