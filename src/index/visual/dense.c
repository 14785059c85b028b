/*
 * dense.c - the dense region (see dense.h): choosing its centre, radius
 * and second pivot, building its sorted copy, and the radius search over
 * an annulus.
 */
#include "index/visual/dense.h"

#include <stdlib.h>
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
    free(d->dn_cell);
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

/* Cell of a code: (distance to the centre, distance to the second pivot). */
static size_t cell_of(uint64_t code, uint64_t c, uint64_t c2)
{
    return (size_t)vh_popcount64(code ^ c) * DN_SUB + vh_popcount64(code ^ c2);
}

/* Expected entries read by a radius-DN_CORE_R query drawn from the region
 * (each entry of the rings a query can use taken as one), given the
 * region's histogram h over (ring, cell): sum of h(j, k) x the entries of
 * the box |j' - j| <= R, |k' - k| <= R. Row prefix sums make a box O(R). */
static uint64_t expected_read(const uint32_t *h, unsigned radius, uint32_t *pre)
{
    const unsigned R = DN_CORE_R;
    for (unsigned j = 0; j <= radius; j++) {
        pre[j * (DN_SUB + 1)] = 0;
        for (unsigned k = 0; k < DN_SUB; k++)
            pre[j * (DN_SUB + 1) + k + 1] = pre[j * (DN_SUB + 1) + k] + h[j * DN_SUB + k];
    }
    uint64_t sum = 0;
    for (unsigned j = 0; j + R <= radius; j++)
        for (unsigned k = 0; k < DN_SUB; k++) {
            uint32_t w = h[j * DN_SUB + k];
            if (w == 0)
                continue;
            unsigned klo = k > R ? k - R : 0u, khi = k + R < DN_SUB ? k + R + 1 : DN_SUB;
            uint64_t box = 0;
            for (unsigned jj = j > R ? j - R : 0u; jj <= j + R; jj++)
                box += pre[jj * (DN_SUB + 1) + khi] - pre[jj * (DN_SUB + 1) + klo];
            sum += (uint64_t)w * box;
        }
    return sum;
}

/* expected_read of the pivots (c, c2); h is filled with the histogram. */
static uint64_t pivot_cost(const uint64_t *codes, const uint32_t *in, size_t total, uint64_t c,
                           uint64_t c2, unsigned radius, uint32_t *h, uint32_t *pre)
{
    memset(h, 0, (size_t)(radius + 1) * DN_SUB * sizeof *h);
    for (size_t e = 0; e < total; e++)
        h[cell_of(codes[in[e]], c, c2)]++;
    return expected_read(h, radius, pre);
}

/* The second pivot: the centre itself (no cut) or one of
 * DN_PIVOT2_CANDIDATES region entries spread over the outer rings (slot
 * order within them), whichever has the smallest expected_read. `in` are
 * the region's slots; scratch has (radius + 1) * DN_SUB + 1 entries. */
static uint64_t second_pivot(const uint64_t *codes, const uint32_t *in, size_t total,
                             uint64_t c, unsigned radius, uint32_t *scratch)
{
    uint32_t *pre = malloc((size_t)(radius + 1) * (DN_SUB + 1) * sizeof *pre);
    if (!pre)
        return c; /* no cut: still exact */
    uint32_t *h = scratch;
    size_t outer = 0;
    for (size_t i = 0; i < total; i++)
        outer += vh_popcount64(codes[in[i]] ^ c) >= radius / 2;
    uint64_t best = c, best_cost = pivot_cost(codes, in, total, c, c, radius, h, pre);
    size_t seen = 0;
    unsigned cand = 1;
    for (size_t i = 0; i < total && cand <= DN_PIVOT2_CANDIDATES; i++) {
        uint64_t c2 = codes[in[i]];
        if (vh_popcount64(c2 ^ c) < radius / 2)
            continue;
        size_t rank = seen++;
        if (rank != outer * cand / (DN_PIVOT2_CANDIDATES + 1))
            continue;
        cand++;
        uint64_t cost = pivot_cost(codes, in, total, c, c2, radius, h, pre);
        if (cost < best_cost) {
            best_cost = cost;
            best = c2;
        }
    }
    free(pre);
    return best;
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
    /* The region's slots in slot order, then its second pivot. */
    uint32_t *in = malloc(total * sizeof *in);
    d->dn_cell = malloc(((size_t)(radius + 1) * DN_SUB + 1) * sizeof *d->dn_cell);
    d->dn_code = vb_alloc(total * sizeof *d->dn_code);
    d->dn_slot = vb_alloc(total * sizeof *d->dn_slot);
    d->dn_id = vb_alloc(total * sizeof *d->dn_id);
    if (!in || !d->dn_cell || !d->dn_code || !d->dn_slot || !d->dn_id) {
        free(in);
        vd_free(d);
        return -1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (vh_popcount64(codes[i] ^ best) <= radius)
            in[m++] = (uint32_t)i;
    uint64_t c2 = second_pivot(codes, in, total, best, radius, d->dn_cell);
    /* Counting sort by (ring, cell), stable in slot order. */
    uint32_t *cell = d->dn_cell;
    size_t ncell = (size_t)(radius + 1) * DN_SUB;
    memset(cell, 0, (ncell + 1) * sizeof *cell);
    for (size_t i = 0; i < total; i++)
        cell[cell_of(codes[in[i]], best, c2) + 1]++;
    for (size_t c = 0; c < ncell; c++)
        cell[c + 1] += cell[c];
    for (size_t i = 0; i < total; i++) {
        uint64_t code = codes[in[i]];
        uint32_t p = cell[cell_of(code, best, c2)]++;
        d->dn_code[p] = code;
        d->dn_slot[p] = in[i];
        d->dn_id[p] = ids[in[i]];
    }
    /* The increments moved each start to the next cell's: shift back. */
    memmove(cell + 1, cell, ncell * sizeof *cell);
    cell[0] = 0;
    for (unsigned j = 0; j <= radius + 1; j++)
        d->dn_ring[j] = cell[(size_t)j * DN_SUB];
    free(in);
    d->dn_center = best;
    d->dn_center2 = c2;
    d->dn_radius = radius;
    d->dn_n = total;
    return 0;
}

/* Bytes of the result array requested ahead of the writes (8 results). */
#define DN_WRITE_AHEAD 384
/* Lines of each ring piece requested before the scan starts. */
#define DN_FIRST_LINES 4u

int vs_dense_radius(const steme_visual *v, uint64_t q, unsigned r, steme_visual_hits *out)
{
    const vd_region *d = &v->v_dense;
    unsigned dq = vh_popcount64(q ^ d->dn_center), dq2 = vh_popcount64(q ^ d->dn_center2);
    unsigned lo = dq > r ? dq - r : 0u, klo = dq2 > r ? dq2 - r : 0u;
    unsigned khi = dq2 + r < DN_SUB - 1u ? dq2 + r : DN_SUB - 1u;
    /* The ring pieces that can hold hits (dense.h), their first lines
     * requested at once: they lie apart, one per ring. */
    vh_run piece[DN_SUB];
    size_t np = 0, examined = 0;
    for (unsigned j = lo; j <= dq + r; j++) {
        uint32_t b = d->dn_cell[j * DN_SUB + klo], e = d->dn_cell[j * DN_SUB + khi + 1];
        if (b == e)
            continue;
        piece[np].vr_begin = b;
        piece[np].vr_end = e;
        np++;
        examined += e - b;
        for (uint32_t l = 0; l < DN_FIRST_LINES && b + 8 * l < e; l++)
            __builtin_prefetch(d->dn_code + b + 8 * l);
    }
    int any_dead = v->v_live != v->v_slots;
    uint32_t idx[VH_BLOCK + VH_PAD];
    uint8_t dist[VH_BLOCK + VH_PAD];
    /* The kernel with (no) exclusions: a quarter of an annulus may be hits,
     * and its hits leave by a branch-free compress instead of a loop over
     * each block's mask bits, whose exit mispredicts on dense blocks. */
    vh_excl none;
    none.ex_n = 0;
    vh_run batch[DN_SUB];
    size_t i = 0;
    uint32_t pos = np ? piece[0].vr_begin : 0;
    while (i < np) {
        /* The next VH_BLOCK entries of the pieces (a piece may span
         * batches). */
        size_t nb = 0, total = 0;
        while (i < np && total < VH_BLOCK) {
            uint32_t take = piece[i].vr_end - pos;
            if (take > VH_BLOCK - total)
                take = (uint32_t)(VH_BLOCK - total);
            batch[nb].vr_begin = pos;
            batch[nb].vr_end = pos + take;
            nb++;
            total += take;
            pos += take;
            if (pos == piece[i].vr_end && ++i < np)
                pos = piece[i].vr_begin;
        }
        size_t k = v->v_kernel->vk_scan_excl(d->dn_code, batch, nb, q, r, &none, idx, dist);
        if (k && vs_hits_reserve(out, k) != STEME_OK)
            return STEME_E_NOMEM;
        steme_visual_hit *h = out->hits + out->count;
        for (size_t j = 0; j < k; j++) {
            size_t at = idx[j];
            if (any_dead && v->v_node[d->dn_slot[at]] == VS_DEAD)
                continue;
            /* The result lines are written whole but were evicted by the
             * query's reads: request them (for writing) ahead. */
            __builtin_prefetch((const char *)h + DN_WRITE_AHEAD, 1);
            h->phash = d->dn_code[at];
            h->distance = dist[j];
            h->reserved_ = 0;
            h->id = d->dn_id[at];
            h++;
        }
        out->count = (size_t)(h - out->hits);
    }
    out->examined += examined;
    return vs_scan_range(v, q, r, v->v_mih.mh_covered, v->v_slots, out, NULL);
}
