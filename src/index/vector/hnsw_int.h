/*
 * index/vector/hnsw_int.h - the HNSW graph shared by the hot (in-memory)
 * and cold (memory-mapped) forms, and the search machinery both use.
 *
 * Layout (N nodes, node numbers 0..N-1 in insertion order, or BFS order in
 * a cold file). Each array is contiguous, so the search loop touches one
 * row of links and one vector per visited node:
 *
 *   l0     N rows of (1 + 2M) u32:  [count][link 0][link 1]...[link 2M-1]
 *   vecs   N vectors, vstride bytes apart (dim * 4 or dim * 1 bytes,
 *          rounded up to 64 so every vector starts on a cache line)
 *   levels N u8       top level of each node (0 for ~94% of them at M=16)
 *   dead   N u8       1 once deleted (tombstone: a waypoint, never a result)
 *   ids    N x 32 B   the caller's ids
 *   upper  per node with level L >= 1: L rows of (1 + M) u32, for levels
 *          1..L. Hot: a malloc'd block per node, its pointer in up_ptr[].
 *          Cold: a pool of u32 words, node's block at up_pool + up_off[node].
 *
 *        level 2:   e ─────────── x                 (entry point e)
 *        level 1:   e ──── a ──── x ──── b
 *        level 0:   e ─ c ─ a ─ d ─ x ─ f ─ b ─ g    (every node)
 *
 * Concurrency (hot form): one writer at a time (the index's write lock),
 * readers lock-free. The writer fills a new node's vector, id and rows
 * before any link to it is stored; link words and counts are written with
 * release stores and read with acquire loads (plain moves on x86), so a
 * reader that finds a link also sees the node behind it. A reader may see a
 * row mid-update (some old, some new links): every link it can read names
 * a complete node, which is all the search needs. Readers ignore links to
 * nodes numbered >= the count they loaded at their start.
 */
#ifndef STEME_INDEX_HNSW_INT_H
#define STEME_INDEX_HNSW_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "index/vector/vec_dist.h"
#include "steme/vector.h"

#define HNSW_NONE 0xffffffffu
/* Top bit of a pool entry's node number: "neighbours already expanded". */
#define HNSW_EXPANDED 0x80000000u
/* Levels above this are never drawn (probability M^-32). */
#define HNSW_MAX_LEVEL 31

typedef struct hnsw_graph {
    uint32_t dim;
    uint32_t M;          /* links per upper-level row */
    uint32_t maxM0;      /* links per level-0 row (2M) */
    uint32_t l0_words;   /* 1 + maxM0 */
    uint32_t up_words;   /* 1 + M */
    uint32_t ef_search;
    steme_vector_metric metric;
    steme_vector_storage storage;
    size_t vsize;        /* bytes of one vector's data */
    size_t vstride;      /* bytes between consecutive vectors */
    const uint8_t *vecs;
    const uint32_t *l0;
    const uint8_t *levels;
    const uint8_t *dead;
    const uint8_t *ids;  /* N x 32 bytes */
    uint32_t *const *up_ptr;   /* hot form, else NULL */
    const uint64_t *up_off;    /* cold form */
    const uint32_t *up_pool;
    vec_dist_fn dd;      /* stored vector vs stored vector */
    vec_dist_fn qf;      /* float query vs stored vector */
    vec_dist_fn qb;      /* byte query vs stored vector (U8 storage) */
} hnsw_graph;

/* One candidate of a search: distance and node (top bit: expanded). */
typedef struct hnsw_cand {
    float d;
    uint32_t id;
} hnsw_cand;

/*
 * Per-search scratch, recycled through a pool so a search allocates
 * nothing once warm. tags[i] == epoch marks node i visited; bumping the
 * epoch clears every mark at once, and the array is zeroed only when the
 * 16-bit epoch wraps (every 65,535 searches).
 */
typedef struct hnsw_ctx {
    uint16_t *tags;
    size_t tags_cap;
    uint16_t epoch;
    hnsw_cand *pool;
    size_t pool_cap;
    uint32_t *buf;       /* neighbours gathered from one row */
    hnsw_cand *sel;      /* scratch for neighbour selection */
    void *query;         /* the query converted for the kernels */
    struct hnsw_ctx *next;
} hnsw_ctx;

typedef struct hnsw_ctx_pool {
    pthread_mutex_t lock;
    hnsw_ctx *free;
    uint32_t dim;
    uint32_t maxM0;
} hnsw_ctx_pool;

int hnsw_ctx_pool_init(hnsw_ctx_pool *p, uint32_t dim, uint32_t maxM0);
void hnsw_ctx_pool_destroy(hnsw_ctx_pool *p);
/* A context able to search n nodes with a pool of ef; NULL on OOM. Starts
 * a new epoch (nothing visited). */
hnsw_ctx *hnsw_ctx_get(hnsw_ctx_pool *p, size_t n, size_t ef);
void hnsw_ctx_put(hnsw_ctx_pool *p, hnsw_ctx *c);
/* Start a new epoch on c (for a second search with the same context). */
void hnsw_ctx_new_epoch(hnsw_ctx *c);

static inline const uint8_t *hnsw_vec(const hnsw_graph *g, uint32_t node)
{
    return g->vecs + (size_t)node * g->vstride;
}

static inline const uint32_t *hnsw_row(const hnsw_graph *g, uint32_t node, uint32_t level)
{
    if (level == 0)
        return g->l0 + (size_t)node * g->l0_words;
    const uint32_t *base = g->up_ptr ? __atomic_load_n(&g->up_ptr[node], __ATOMIC_ACQUIRE)
                                     : g->up_pool + g->up_off[node];
    return base + (size_t)(level - 1) * g->up_words;
}

static inline uint32_t hnsw_load(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Greedy walk (ef = 1) from ep on levels top..stop+1; returns the closest
 * node found and its distance in *d (which holds ep's distance on entry). */
uint32_t hnsw_greedy(const hnsw_graph *g, const void *q, vec_dist_fn fn, uint32_t ep, float *d,
                     uint32_t top, uint32_t stop, uint32_t n);

/* Best-first search on one level from ep: fills c->pool with up to ef
 * candidates sorted by distance; returns their number. Only nodes < n. */
size_t hnsw_search_level(const hnsw_graph *g, hnsw_ctx *c, const void *q, vec_dist_fn fn,
                         uint32_t ep, float ep_d, size_t ef, uint32_t level, uint32_t n);

/*
 * Full k-NN query over a graph of n nodes with entry point ep at level top
 * (ep == HNSW_NONE: empty graph). Validates and converts the query, widens
 * ef when tombstones exist, returns live nodes only.
 */
int hnsw_query(const hnsw_graph *g, hnsw_ctx_pool *pool, uint32_t n, uint32_t ep, uint32_t top,
               uint64_t n_dead, const float *query, size_t k, uint32_t ef,
               steme_vector_hit *hits, size_t *n_hits);

/* Fill g's kernels from its metric and storage. */
void hnsw_graph_kernels(hnsw_graph *g);
/* Check o's fields; 0 if valid, else writes a message into err. */
int hnsw_check_options(const steme_vector_options *o, steme_error *err);

#endif
