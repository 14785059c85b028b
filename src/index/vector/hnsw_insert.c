/*
 * hnsw_insert.c - linking a new node into the graph (paper's INSERT with
 * SELECT-NEIGHBORS-HEURISTIC, Malkov & Yashunin, arXiv 1603.09320).
 *
 * For each level from the node's top down to 0: search the level with
 * ef_construction from the closest node found so far, keep at most M
 * neighbours by the heuristic, and link back from each of them. The
 * heuristic keeps a candidate only if it is closer to the new node than to
 * every neighbour already kept: links then point in diverse directions,
 * which is what lets clustered data (Fashion-MNIST) reach high recall.
 * A neighbour whose row is full re-runs the heuristic over its links plus
 * the newcomer (row capacity M on upper levels, 2M on level 0).
 *
 * Publication order (see hnsw_int.h): every word is stored with release
 * semantics, the count of a row after its links, so concurrent readers
 * always find complete nodes behind the links they read.
 */
#include "index/vector/hnsw_hot.h"

static inline void store_word(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Keep at most max of the sorted candidates cand[0..n) by the heuristic;
 * node numbers may carry the expanded flag. Returns the number kept. */
static uint32_t select_heuristic(const hnsw_graph *g, const hnsw_cand *cand, size_t n,
                                 uint32_t max, uint32_t *out)
{
    uint32_t kept = 0;
    for (size_t i = 0; i < n && kept < max; i++) {
        uint32_t x = cand[i].id & ~HNSW_EXPANDED;
        const uint8_t *vx = hnsw_vec(g, x);
        int good = 1;
        for (uint32_t r = 0; r < kept; r++) {
            if (g->dd(vx, hnsw_vec(g, out[r]), g->dim) < cand[i].d) {
                good = 0;
                break;
            }
        }
        if (good)
            out[kept++] = x;
    }
    return kept;
}

static void sort_cands(hnsw_cand *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        hnsw_cand t = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1].d > t.d) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = t;
    }
}

/* Add node to e's row on level l, pruning the row if it is full. */
static void link_back(steme_hnsw *h, hnsw_ctx *c, uint32_t e, uint32_t node, uint32_t level)
{
    const hnsw_graph *g = &h->g;
    uint32_t *row = (uint32_t *)hnsw_row(g, e, level);
    uint32_t cap = level ? g->M : g->maxM0;
    uint32_t cnt = __atomic_load_n(row, __ATOMIC_RELAXED);
    for (uint32_t j = 0; j < cnt; j++)
        if (row[1 + j] == node)
            return;
    if (cnt < cap) {
        store_word(row + 1 + cnt, node);
        store_word(row, cnt + 1);
        return;
    }
    const uint8_t *ve = hnsw_vec(g, e);
    hnsw_cand *sel = c->sel;
    for (uint32_t j = 0; j < cnt; j++) {
        uint32_t x = row[1 + j];
        sel[j].id = x;
        sel[j].d = g->dd(ve, hnsw_vec(g, x), g->dim);
    }
    sel[cnt].id = node;
    sel[cnt].d = g->dd(ve, hnsw_vec(g, node), g->dim);
    sort_cands(sel, cnt + 1);
    uint32_t *keep = c->buf;
    uint32_t m = select_heuristic(g, sel, cnt + 1, cap, keep);
    for (uint32_t j = 0; j < m; j++)
        store_word(row + 1 + j, keep[j]);
    store_word(row, m);
}

void hnsw_link(steme_hnsw *h, hnsw_ctx *c, uint32_t node, uint32_t level)
{
    const hnsw_graph *g = &h->g;
    uint64_t epk = __atomic_load_n(&h->hs_ep, __ATOMIC_RELAXED);
    if (epk == HNSW_EP_EMPTY)
        return;
    uint32_t ep = (uint32_t)epk, top = (uint32_t)(epk >> 32);
    const uint8_t *q = hnsw_vec(g, node);
    float d = g->dd(q, hnsw_vec(g, ep), g->dim);
    if (top > level)
        ep = hnsw_greedy(g, q, g->dd, ep, &d, top, level, node);
    uint32_t chosen[STEME_VECTOR_MAX_M];
    uint32_t l = level < top ? level : top;
    for (;;) {
        size_t size = hnsw_search_level(g, c, q, g->dd, ep, d, h->hs_efc, l, node);
        uint32_t m = select_heuristic(g, c->pool, size, g->M, chosen);
        uint32_t *row = (uint32_t *)hnsw_row(g, node, l);
        for (uint32_t j = 0; j < m; j++)
            store_word(row + 1 + j, chosen[j]);
        store_word(row, m);
        ep = c->pool[0].id & ~HNSW_EXPANDED;
        d = c->pool[0].d;
        for (uint32_t j = 0; j < m; j++)
            link_back(h, c, chosen[j], node, l);
        if (l == 0)
            break;
        l--;
        hnsw_ctx_new_epoch(c);
    }
}
