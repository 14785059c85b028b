/*
 * index/vector/hnsw_hot.h - the in-memory (hot) HNSW index: struct
 * steme_hnsw and the insert path's internals.
 *
 * Memory: one address-space reservation (mmap, MAP_NORESERVE) holds every
 * per-node array for max_elements nodes, so arrays never move: readers
 * need no lock against growth, and pages are committed only when first
 * written. Upper-level rows are malloc'd per node (only ~1/M of nodes).
 */
#ifndef STEME_INDEX_HNSW_HOT_H
#define STEME_INDEX_HNSW_HOT_H

#include "core/error.h"
#include "index/vector/hnsw_int.h"
#include "index/vector/vec_idmap.h"

#define HNSW_EP_EMPTY UINT64_MAX

struct steme_hnsw {
    hnsw_graph g;          /* read view over the arrays below */
    uint8_t *hs_vecs;
    uint32_t *hs_l0;
    uint8_t *hs_levels;
    uint8_t *hs_dead;
    uint8_t *hs_ids;
    uint32_t **hs_up;
    void *hs_region;       /* the reservation */
    size_t hs_region_len;
    uint64_t hs_cap;       /* max_elements */
    uint32_t hs_n;         /* published nodes (atomic; release on publish) */
    uint64_t hs_ep;        /* (top level << 32) | entry node; atomic */
    uint64_t hs_dead_n;    /* deleted nodes (atomic) */
    uint64_t hs_live_n;    /* live nodes (atomic) */
    pthread_mutex_t hs_wlock; /* serialises inserts, deletes, save */
    vec_idmap hs_map;      /* under hs_wlock */
    hnsw_ctx_pool hs_pool;
    uint64_t hs_rng;       /* level draws, under hs_wlock */
    double hs_mult;        /* 1 / ln(M) */
    uint32_t hs_efc;
    steme_errslot hs_errs;
};

/* Link a node whose vector, id and level are written (nodes 0..node-1 are
 * published) into the graph, using scratch c (able to hold node + 1 nodes
 * and ef_construction candidates). Cannot fail. Caller holds hs_wlock. */
void hnsw_link(steme_hnsw *h, hnsw_ctx *c, uint32_t node, uint32_t level);

/* Check a vector for index g (finite; integers 0..255 under U8; not zero
 * under cosine). STEME_OK, or STEME_E_INVALID with *why set. */
int hnsw_check_vector(const hnsw_graph *g, const float *vec, const char **why);

/* Nodes in the index, deleted ones included (what max_elements limits). */
static inline uint64_t hnsw_nodes(const steme_hnsw *h)
{
    return __atomic_load_n(&h->hs_n, __ATOMIC_ACQUIRE);
}

#endif
