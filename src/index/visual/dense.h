/*
 * index/visual/dense.h - the dense region: a copy of the entries lying
 * within distance D of one centre c, sorted by their distance to c, kept
 * beside the multi-index hashing tables for queries inside a dense cluster.
 *
 * Why. Perceptual hashes cluster: many images share a near-identical hash
 * (plain garments, blank backgrounds). A query inside such a cluster has
 * thousands of hits, and the tables pay for them badly: each hit sits in
 * up to five tables' runs (read and rejected as a duplicate four times),
 * its slot and its 32-byte id are random reads, and the runs are short
 * and scattered. On the 1M Fashion-MNIST set 18 of 200 radius-4 queries
 * (11k hits each, 45k table entries read) took half of the query time.
 *
 * What. A pivot (the classic pivot-and-annulus filter of metric
 * indexes): by the triangle inequality, if d(q, c) + r <= D every hit of
 * a radius-r query lies in the region, and only the entries e with
 * |d(e, c) - d(q, c)| <= r can be hits. A second pivot c2 cuts each ring
 * of that annulus the same way: only the entries with |d(e, c2) - d(q, c2)|
 * <= r can be hits. The region is sorted by (d(e, c), d(e, c2)), with cell
 * starts, so a query reads 2r + 1 contiguous pieces (one per ring), scanned
 * with the linear scan's kernel; the hits' ids are read in order from the
 * region's own copy of them (no slot indirection, no random line per hit).
 *
 *   dn_cell: [j * DN_SUB + k]       entries at distance j from c and k from
 *                                   c2: dn_cell[j*DN_SUB + k] .. [.. + k + 1]
 *   dn_ring: [0][1] ... [D + 1]     ring j (distance j from c) starts at
 *                                   dn_ring[j] = dn_cell[j * DN_SUB]
 *   dn_code: |c c c|c c c c|...     stored hashes, by (ring, cell)
 *   dn_slot: |s s s|s s s s|...     their slots (liveness after removals)
 *   dn_id:   |i i i|i i i i|...     their ids (a copy: ids never change)
 *
 * Why a second pivot: the heavy queries of the 1M set (thousands of hits,
 * near the centre) read annuli of 26k-100k entries; their kernel time is
 * the region's memory stream. Sorting each ring by d(e, c2) cuts the
 * radius-4 annuli of the 1M set's queries by 32% in total (1-70% each),
 * for ~17 KiB of cell starts. The second pivot is the candidate (one of
 * DN_PIVOT2_CANDIDATES entries of the outer rings, or c itself, which
 * changes nothing) with the smallest expected annulus over the region's own
 * entries taken as radius-DN_CORE_R queries.
 *
 * Choosing the centre (at every rebuild of the tables, O(n)): the bitwise
 * majority of each of the few largest cells of table 0 (the densest spots
 * of the pair keys), refined once by the majority of its own radius-4
 * ball; the candidate with the most entries within 4 wins. D is the
 * largest radius whose ball holds at most n / DN_SHARE entries. No region
 * is kept when the ball of radius DN_CORE_R holds fewer than DN_CORE_MIN
 * entries (uniform hashes never have one: a radius-8 ball holds ~2^-33 of
 * them). The planner (visual_mih.c) prices an annulus against the pair
 * plan and the scan per query; the region is only an alternative.
 */
#ifndef STEME_INDEX_VISUAL_DENSE_H
#define STEME_INDEX_VISUAL_DENSE_H

#include <stddef.h>
#include <stdint.h>

#include "index/visual/hamming.h"
#include "steme/types.h"

/* The region holds at most 1 / DN_SHARE of the entries. */
#define DN_SHARE 8u
/* ... and is kept only when its radius-DN_CORE_R core holds at least
 * DN_CORE_MIN entries, and D >= DN_MIN_RADIUS (else no query fits). */
#define DN_CORE_R 4u
#define DN_CORE_MIN 2048u
#define DN_MIN_RADIUS 6u
/* Candidate centres tried (largest cells of table 0). */
#define DN_CANDIDATES 4u
/* Candidate second pivots tried (entries of the outer rings). */
#define DN_PIVOT2_CANDIDATES 32u
/* Cells per ring: distances 0..64 to the second pivot. */
#define DN_SUB 65u

typedef struct vd_region {
    uint64_t dn_center;
    uint64_t dn_center2;          /* second pivot (may equal dn_center) */
    unsigned dn_radius;           /* D; meaningful when dn_n > 0 */
    size_t dn_n;                  /* entries (0: no region) */
    uint32_t dn_ring[65 + 1];     /* ring starts, dn_ring[D + 1] = dn_n */
    uint32_t *dn_cell;            /* (D + 1) * DN_SUB + 1 cell starts */
    uint64_t *dn_code;
    uint32_t *dn_slot;
    steme_hash *dn_id;
} vd_region;

void vd_init(vd_region *d);
void vd_free(vd_region *d);

/*
 * Build the region over entries [0, n) (codes, ids; slot = index) into *d
 * (empty: vd_init). cell_off: table 0's directory (mih.h), whose cells are
 * slot ranges of codes; ncells its size. Leaves *d empty when the data has
 * no dense spot. Returns 0, or -1 on allocation failure (*d empty).
 */
int vd_build(vd_region *d, const uint64_t *codes, const steme_hash *ids, size_t n,
             const uint32_t *cell_off, uint32_t ncells);

/* Entries a radius-r query q must read (the 2r + 1 ring pieces), or
 * SIZE_MAX when the region does not hold all its hits. */
static inline size_t vd_annulus(const vd_region *d, uint64_t q, unsigned r)
{
    if (d->dn_n == 0)
        return SIZE_MAX;
    unsigned dq = vh_popcount64(q ^ d->dn_center);
    if (dq + r > d->dn_radius)
        return SIZE_MAX;
    unsigned dq2 = vh_popcount64(q ^ d->dn_center2);
    unsigned lo = dq > r ? dq - r : 0u, klo = dq2 > r ? dq2 - r : 0u;
    unsigned khi = dq2 + r < DN_SUB - 1u ? dq2 + r : DN_SUB - 1u;
    size_t n = 0;
    for (unsigned j = lo; j <= dq + r; j++)
        n += d->dn_cell[j * DN_SUB + khi + 1] - d->dn_cell[j * DN_SUB + klo];
    return n;
}

#endif
