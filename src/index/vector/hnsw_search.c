/*
 * hnsw_search.c - searching the graph (paper's SEARCH-LAYER and K-NN-SEARCH),
 * shared by the hot index, the cold file and the insert path.
 *
 * Instead of the paper's two heaps, candidates live in ONE array sorted by
 * distance, at most ef long, each flagged once expanded. The next node to
 * expand is the closest unflagged one; the search ends when every entry is
 * flagged. This is the same stopping rule (the closest unexpanded candidate
 * is no closer than the ef-th result), but insertion is a binary search and
 * a short memmove over a few cache lines, and there is no heap churn.
 *
 * Memory stalls, not arithmetic, dominate a search: each expansion reads a
 * link row, a visited tag per neighbour and one vector per new neighbour,
 * all at random addresses. So a row is processed in two passes: first
 * gather the unvisited neighbours (touching only tags), then compute their
 * distances while prefetching the vectors PREFETCH_AHEAD nodes ahead, so
 * several memory loads are in flight while one distance is computed.
 */
#include <math.h>
#include <string.h>

#include "index/vector/hnsw_int.h"

/* How many neighbours ahead to prefetch, and at most how many cache lines
 * of each vector (a u8 vector of 784 components is 13 lines; a 784-float
 * vector is 49, of which the first 16 cover the kernel's first iterations
 * while the hardware prefetcher picks up the sequential rest). Chosen by
 * interleaved A/B runs against hnswlib on Fashion-MNIST (60k x 784): 1..4
 * ahead and 4..49 lines were within noise of each other except 1 ahead
 * and 4 lines, which were slower. */
#define PREFETCH_AHEAD 3
#define PREFETCH_LINES_MAX 16

static inline void prefetch_vec(const hnsw_graph *g, uint32_t node, size_t lines)
{
    const char *p = (const char *)hnsw_vec(g, node);
    for (size_t i = 0; i < lines; i++)
        __builtin_prefetch(p + 64 * i, 0, 3);
}

uint32_t hnsw_greedy(const hnsw_graph *g, const void *q, vec_dist_fn fn, uint32_t ep, float *d,
                     uint32_t top, uint32_t stop, uint32_t n)
{
    float best = *d;
    for (uint32_t level = top; level > stop; level--) {
        int changed = 1;
        while (changed) {
            changed = 0;
            const uint32_t *row = hnsw_row(g, ep, level);
            uint32_t cnt = hnsw_load(row);
            if (cnt > g->M)
                cnt = g->M;
            for (uint32_t j = 0; j < cnt; j++) {
                uint32_t x = hnsw_load(row + 1 + j);
                if (x >= n)
                    continue;
                float dx = fn(q, hnsw_vec(g, x), g->dim);
                if (dx < best) {
                    best = dx;
                    ep = x;
                    changed = 1;
                }
            }
        }
    }
    *d = best;
    return ep;
}

/* First position whose distance is greater than d (keeps insertion order
 * among equal distances). */
static inline size_t upper_bound(const hnsw_cand *pool, size_t size, float d)
{
    size_t lo = 0, hi = size;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pool[mid].d <= d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t hnsw_search_level(const hnsw_graph *g, hnsw_ctx *c, const void *q, vec_dist_fn fn,
                         uint32_t ep, float ep_d, size_t ef, uint32_t level, uint32_t n)
{
    hnsw_cand *pool = c->pool;
    uint16_t *tags = c->tags;
    const uint16_t epoch = c->epoch;
    uint32_t *buf = c->buf;
    const uint32_t cap = level ? g->M : g->maxM0;
    size_t lines = (g->vsize + 63) / 64;
    if (lines > PREFETCH_LINES_MAX)
        lines = PREFETCH_LINES_MAX;

    size_t size = 1, cur = 0;
    pool[0].d = ep_d;
    pool[0].id = ep;
    tags[ep] = epoch;
    while (cur < size) {
        uint32_t node = pool[cur].id;
        pool[cur].id = node | HNSW_EXPANDED;
        const uint32_t *row = hnsw_row(g, node, level);
        uint32_t cnt = hnsw_load(row);
        if (cnt > cap)
            cnt = cap;
        size_t nb = 0;
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t x = hnsw_load(row + 1 + j);
            if (x >= n || tags[x] == epoch)
                continue;
            tags[x] = epoch;
            buf[nb++] = x;
        }
        for (size_t j = 0; j < nb && j < PREFETCH_AHEAD; j++)
            prefetch_vec(g, buf[j], lines);
        size_t lo = cur + 1;
        for (size_t j = 0; j < nb; j++) {
            if (j + PREFETCH_AHEAD < nb)
                prefetch_vec(g, buf[j + PREFETCH_AHEAD], lines);
            uint32_t x = buf[j];
            float d = fn(q, hnsw_vec(g, x), g->dim);
            if (size == ef && !(d < pool[size - 1].d))
                continue;
            size_t pos = upper_bound(pool, size, d);
            size_t move = (size == ef ? size - 1 : size) - pos;
            memmove(pool + pos + 1, pool + pos, move * sizeof *pool);
            pool[pos].d = d;
            pool[pos].id = x;
            if (size < ef)
                size++;
            if (pos < lo)
                lo = pos;
            if (level == 0)
                __builtin_prefetch(g->l0 + (size_t)x * g->l0_words, 0, 3);
        }
        cur = lo;
        while (cur < size && (pool[cur].id & HNSW_EXPANDED))
            cur++;
    }
    return size;
}

/* Copy and check the query; for U8 storage use the exact byte kernel when
 * every component is an integer 0..255. Returns the kernel to use, or NULL
 * for a query that is not acceptable. */
static vec_dist_fn prepare_query(const hnsw_graph *g, const float *query, void *out)
{
    float *f = out;
    double norm = 0;
    int bytes_ok = g->storage == STEME_VECTOR_U8;
    for (uint32_t i = 0; i < g->dim; i++) {
        float v = query[i];
        if (!isfinite(v))
            return NULL;
        f[i] = v;
        norm += (double)v * v;
        if (bytes_ok && !(v >= 0.0f && v <= 255.0f && v == (float)(int)v))
            bytes_ok = 0;
    }
    if (g->metric == STEME_VECTOR_COSINE) {
        if (norm == 0)
            return NULL;
        float inv = (float)(1.0 / sqrt(norm));
        for (uint32_t i = 0; i < g->dim; i++)
            f[i] *= inv;
    }
    if (bytes_ok) {
        uint8_t *b = out;
        for (uint32_t i = 0; i < g->dim; i++)
            b[i] = (uint8_t)f[i]; /* in place: byte i is written after float i is read */
        return g->qb;
    }
    return g->qf;
}

int hnsw_query(const hnsw_graph *g, hnsw_ctx_pool *pool, uint32_t n, uint32_t ep, uint32_t top,
               uint64_t n_dead, const float *query, size_t k, uint32_t ef,
               steme_vector_hit *hits, size_t *n_hits)
{
    if (!query || !hits || !n_hits || k == 0 || k > STEME_VECTOR_MAX_EF ||
        ef > STEME_VECTOR_MAX_EF)
        return STEME_E_INVALID;
    *n_hits = 0;
    size_t efe = ef ? ef : g->ef_search;
    if (efe < k)
        efe = k;
    /* Tombstones occupy pool slots without being results: widen the pool
     * in proportion to the share of dead nodes (at most doubling it). */
    if (n_dead && n > n_dead) {
        size_t extra = (size_t)((double)efe * (double)n_dead / (double)(n - n_dead));
        efe += extra < efe ? extra : efe;
    } else if (n_dead) {
        efe *= 2;
    }
    if (efe > STEME_VECTOR_MAX_EF)
        efe = STEME_VECTOR_MAX_EF;
    hnsw_ctx *c = hnsw_ctx_get(pool, n ? n : 1, efe);
    if (!c)
        return STEME_E_NOMEM;
    vec_dist_fn fn = prepare_query(g, query, c->query);
    if (!fn) {
        hnsw_ctx_put(pool, c);
        return STEME_E_INVALID;
    }
    if (ep == HNSW_NONE || n == 0 || ep >= n) {
        hnsw_ctx_put(pool, c);
        return STEME_OK;
    }
    const void *q = c->query;
    float d = fn(q, hnsw_vec(g, ep), g->dim);
    ep = hnsw_greedy(g, q, fn, ep, &d, top, 0, n);
    size_t size = hnsw_search_level(g, c, q, fn, ep, d, efe, 0, n);
    size_t out = 0;
    for (size_t i = 0; i < size && out < k; i++) {
        uint32_t node = c->pool[i].id & ~HNSW_EXPANDED;
        if (__atomic_load_n(&g->dead[node], __ATOMIC_ACQUIRE))
            continue;
        memcpy(hits[out].id.bytes, g->ids + (size_t)node * STEME_HASH_LEN, STEME_HASH_LEN);
        hits[out].distance = c->pool[i].d;
        out++;
    }
    *n_hits = out;
    hnsw_ctx_put(pool, c);
    return STEME_OK;
}

void hnsw_graph_kernels(hnsw_graph *g)
{
    const vec_kernels *k = vec_kernels_get();
    int ip = g->metric != STEME_VECTOR_L2;
    if (g->storage == STEME_VECTOR_U8) {
        g->dd = ip ? k->ip_u8 : k->l2_u8;
        g->qb = g->dd;
        g->qf = ip ? k->ip_f32u8 : k->l2_f32u8;
    } else {
        g->dd = ip ? k->ip_f32 : k->l2_f32;
        g->qf = g->dd;
        g->qb = NULL;
    }
}
