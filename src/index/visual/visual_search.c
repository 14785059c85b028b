/*
 * visual_search.c - radius and k-NN entry points, the linear scan, the
 * BK-tree path and the k-NN candidate set (see steme/visual.h for the
 * overview; the hashing-table path and its planner are in visual_mih.c).
 *
 * AUTO takes the cheaper of the hashing tables and the scan, whose costs
 * are estimated before anything is verified (visual_mih.c); with the tables
 * disabled it tries the BK-tree under a visit budget equal to the scan's
 * cost and falls back to the scan when the budget runs out. The scan that
 * AUTO runs is the very function the forced scan runs.
 *
 * k-NN keeps candidates with distance <= tau, where tau is the k-th smallest
 * distance collected so far (a 65-bucket histogram, no heap); anything
 * farther cannot be in the answer.
 */
#include <stdlib.h>
#include <string.h>

#include "index/visual/permute.h"
#include "index/visual/visual_int.h"

#define VS_PS_BK_NODE 20000u   /* one BK node visited (a dependent cache miss) */
#define VS_SMALL 1024u         /* below this many slots, always scan */
#define VS_KNN_FIRST 64u       /* first k-NN scan block (then doubling) */

#define vs_fail(v, code, ...) steme_errslot_set(&(v)->v_err, (code), __VA_ARGS__)

/* ---- k-NN candidate set ------------------------------------------------- */

void vs_knn_init(vs_knn *kn, const steme_visual *v, vs_scratch *sc, size_t k)
{
    memset(kn, 0, sizeof *kn);
    kn->kn_v = v;
    kn->kn_sc = sc;
    kn->kn_k = k;
    kn->kn_tau = STEME_VISUAL_MAX_DISTANCE;
}

int vs_knn_add(vs_knn *kn, uint32_t slot, unsigned d)
{
    if (d > kn->kn_tau)
        return STEME_OK;
    vs_scratch *sc = kn->kn_sc;
    if (kn->kn_n == sc->sc_cand_cap) {
        size_t nc = sc->sc_cand_cap ? sc->sc_cand_cap * 2 : 1024;
        uint32_t *s = realloc(sc->sc_slot, nc * sizeof *s);
        if (!s)
            return STEME_E_NOMEM;
        sc->sc_slot = s;
        uint8_t *dd = realloc(sc->sc_dist, nc);
        if (!dd)
            return STEME_E_NOMEM;
        sc->sc_dist = dd;
        sc->sc_cand_cap = nc;
    }
    sc->sc_slot[kn->kn_n] = slot;
    sc->sc_dist[kn->kn_n] = (uint8_t)d;
    kn->kn_n++;
    kn->kn_hist[d]++;
    return STEME_OK;
}

size_t vs_knn_within(const vs_knn *kn, unsigned bound)
{
    size_t c = 0;
    for (unsigned d = 0; d <= bound && d <= STEME_VISUAL_MAX_DISTANCE; d++)
        c += kn->kn_hist[d];
    return c;
}

void vs_knn_tighten(vs_knn *kn)
{
    size_t c = 0;
    for (unsigned d = 0; d < kn->kn_tau; d++) {
        c += kn->kn_hist[d];
        if (c >= kn->kn_k) {
            kn->kn_tau = d;
            return;
        }
    }
}

static int hit_order(const void *a, const void *b)
{
    const steme_visual_hit *x = a, *y = b;
    if (x->distance != y->distance)
        return x->distance < y->distance ? -1 : 1;
    return memcmp(x->id.bytes, y->id.bytes, STEME_HASH_LEN);
}

/* Emit the k best candidates ordered by (distance, id). */
static int knn_finish(vs_knn *kn, steme_visual_hits *out)
{
    vs_knn_tighten(kn);
    for (size_t i = 0; i < kn->kn_n; i++) {
        if (kn->kn_sc->sc_dist[i] > kn->kn_tau)
            continue;
        int rc = vs_emit(kn->kn_v, out, kn->kn_sc->sc_slot[i], kn->kn_sc->sc_dist[i]);
        if (rc != STEME_OK)
            return rc;
    }
    if (out->count > 1) /* hits may be NULL when empty: qsort forbids that */
        qsort(out->hits, out->count, sizeof *out->hits, hit_order);
    if (out->count > kn->kn_k)
        out->count = kn->kn_k;
    return STEME_OK;
}

/* ---- linear scan -------------------------------------------------------- */

uint64_t vs_scan_cost(const steme_visual *v)
{
    return (uint64_t)v->v_slots * v->v_kernel->vk_ps_per_code;
}

int vs_scan_range(const steme_visual *v, uint64_t q, unsigned r, size_t from, size_t to,
                  steme_visual_hits *out, vs_knn *kn)
{
    int any_dead = v->v_live != v->v_slots;
    size_t first = out->count;
    uint32_t idx[VH_BLOCK + VH_PAD];
    uint8_t dist[VH_BLOCK + VH_PAD];
    /* k-NN: every code within tau becomes a candidate, and tau starts at 64
     * and tightens between blocks, so the blocks start short and double:
     * on the 70k set this halves the k-NN scan. */
    size_t blk = kn ? VS_KNN_FIRST : VH_BLOCK;
    for (size_t b = from, len; b < to; b += len, blk = blk < VH_BLOCK ? 2 * blk : VH_BLOCK) {
        len = to - b < blk ? to - b : blk;
        unsigned rad = kn ? kn->kn_tau : r;
        size_t k = v->v_kernel->vk_scan(v->v_code + b, len, q, rad, idx, dist);
        if (kn) {
            for (size_t i = 0; i < k; i++) {
                uint32_t slot = (uint32_t)(b + idx[i]);
                if (any_dead && v->v_node[slot] == VS_DEAD)
                    continue;
                if (vs_knn_add(kn, slot, dist[i]) != STEME_OK)
                    return STEME_E_NOMEM;
            }
            vs_knn_tighten(kn);
            continue;
        }
        if (k && vs_hits_reserve(out, k) != STEME_OK)
            return STEME_E_NOMEM;
        for (size_t i = 0; i < k; i++) {
            uint32_t slot = (uint32_t)(b + idx[i]);
            vs_put_deferred(out, slot, v->v_code[slot], dist[i]);
        }
    }
    /* The hits' ids are scattered over the id array (32 MB at 1M entries):
     * reading them in a second pass with prefetches running ahead overlaps
     * the misses (about 3x faster at r = 8 on the 1M set). */
    if (!kn)
        vs_fill_ids(v, out, first);
    out->examined += to - from;
    return STEME_OK;
}

/* ---- BK-tree ------------------------------------------------------------ */

typedef struct vs_bkctx {
    const steme_visual *bc_v;
    steme_visual_hits *bc_out;
    vs_knn *bc_kn;
    unsigned bc_radius;
} vs_bkctx;

static int bk_visit(void *ctx, uint32_t node, unsigned d)
{
    vs_bkctx *c = ctx;
    const steme_visual *v = c->bc_v;
    for (uint32_t s = v->v_bk.bt_nodes[node].bn_head; s != BK_NONE; s = v->v_next[s]) {
        int rc = c->bc_kn ? vs_knn_add(c->bc_kn, s, d) : vs_emit(v, c->bc_out, s, d);
        if (rc != STEME_OK)
            return rc;
    }
    if (c->bc_kn) {
        vs_knn_tighten(c->bc_kn);
        c->bc_radius = c->bc_kn->kn_tau;
    }
    return 0;
}

/* Returns STEME_OK, STEME_E_NOMEM, or 1 if the budget ran out. */
static int bk_search(const steme_visual *v, uint64_t q, unsigned r, uint64_t budget,
                     steme_visual_hits *out, vs_knn *kn, vs_scratch *sc)
{
    vs_bkctx c = {v, out, kn, kn ? kn->kn_tau : r};
    uint64_t visited = 0;
    int rc = bk_walk(&v->v_bk, q, &c.bc_radius, budget, &sc->sc_stack, &sc->sc_stack_cap,
                     bk_visit, &c, &visited);
    out->examined += visited;
    if (rc == -1)
        return STEME_E_NOMEM;
    return rc;
}

/* AUTO without tables: BK-tree under the scan's budget, else scan. */
static int bk_or_scan(steme_visual *v, uint64_t q, unsigned r, steme_visual_hits *out,
                      vs_knn *kn, vs_scratch *sc)
{
    if (r < atomic_load_explicit(&v->v_bk_fail_radius, memory_order_relaxed)) {
        out->strategy = STEME_VISUAL_BKTREE;
        int rc = bk_search(v, q, r, vs_scan_cost(v) / VS_PS_BK_NODE + 1, out, kn, sc);
        if (rc != 1)
            return rc;
        /* Over budget: remember the radius, discard, scan. Racing updates
         * may store a larger value; that costs a retry, never a result. */
        atomic_store_explicit(&v->v_bk_fail_radius, r, memory_order_relaxed);
        out->count = 0;
        if (kn)
            vs_knn_init(kn, v, sc, kn->kn_k);
    }
    out->strategy = STEME_VISUAL_SCAN;
    return vs_scan_range(v, q, r, 0, v->v_slots, out, kn);
}

/* ---- queries ------------------------------------------------------------ */

static int check_query(steme_visual *v, steme_visual_strategy st, steme_visual_hits *out)
{
    if (!out)
        return vs_fail(v, STEME_E_INVALID, "visual query: out is NULL");
    if (st < STEME_VISUAL_AUTO || st > STEME_VISUAL_BKTREE)
        return vs_fail(v, STEME_E_INVALID, "visual query: unknown strategy %d", (int)st);
    if (st == STEME_VISUAL_MIH && !v->v_opts.enable_mih)
        return vs_fail(v, STEME_E_INVALID, "visual query: MIH forced but disabled");
    out->count = 0;
    out->examined = 0;
    if (!vs_scratch_of(out))
        return vs_fail(v, STEME_E_NOMEM, "visual query: out of memory");
    return STEME_OK;
}

static int radius_locked(steme_visual *v, uint64_t q, unsigned r, steme_visual_strategy st,
                         steme_visual_hits *out)
{
    vs_scratch *sc = out->scratch_;
    if (st == STEME_VISUAL_AUTO && v->v_slots < VS_SMALL)
        st = STEME_VISUAL_SCAN;
    if (st == STEME_VISUAL_AUTO && !v->v_opts.enable_mih)
        return bk_or_scan(v, q, r, out, NULL, sc);
    if (st == STEME_VISUAL_BKTREE) {
        out->strategy = STEME_VISUAL_BKTREE;
        return bk_search(v, q, r, UINT64_MAX, out, NULL, sc);
    }
    if (st != STEME_VISUAL_SCAN && v->v_mih.mh_built) {
        int use_scan = 0;
        out->strategy = STEME_VISUAL_MIH;
        int rc = vs_mih_radius(v, q, vp_forward(q), r, st == STEME_VISUAL_MIH, out, &use_scan);
        if (rc != STEME_OK || !use_scan)
            return rc;
    }
    out->strategy = STEME_VISUAL_SCAN;
    return vs_scan_range(v, q, r, 0, v->v_slots, out, NULL);
}

int steme_visual_radius(steme_visual *v, uint64_t query, unsigned radius,
                        steme_visual_strategy strategy, steme_visual_hits *out)
{
    if (!v)
        return STEME_E_INVALID;
    if (radius > STEME_VISUAL_MAX_DISTANCE)
        return vs_fail(v, STEME_E_INVALID, "visual_radius: radius %u > 64", radius);
    int rc = check_query(v, strategy, out);
    if (rc != STEME_OK)
        return rc;
    pthread_rwlock_rdlock(&v->v_lock);
    rc = radius_locked(v, query, radius, strategy, out);
    pthread_rwlock_unlock(&v->v_lock);
    if (rc != STEME_OK) {
        out->count = 0;
        return vs_fail(v, rc, "visual_radius: %s", steme_strerror(rc));
    }
    return STEME_OK;
}

static int knn_locked(steme_visual *v, uint64_t q, size_t k, steme_visual_strategy st,
                      steme_visual_hits *out)
{
    vs_scratch *sc = out->scratch_;
    vs_knn kn;
    vs_knn_init(&kn, v, sc, k);
    if (st == STEME_VISUAL_AUTO && (v->v_slots < VS_SMALL || v->v_live <= k))
        st = STEME_VISUAL_SCAN;
    int rc = STEME_OK;
    if (st == STEME_VISUAL_AUTO && !v->v_opts.enable_mih) {
        rc = bk_or_scan(v, q, STEME_VISUAL_MAX_DISTANCE, out, &kn, sc);
    } else if (st == STEME_VISUAL_BKTREE) {
        out->strategy = STEME_VISUAL_BKTREE;
        rc = bk_search(v, q, STEME_VISUAL_MAX_DISTANCE, UINT64_MAX, out, &kn, sc);
    } else if (st != STEME_VISUAL_SCAN && v->v_mih.mh_built) {
        int gave_up = 0;
        out->strategy = STEME_VISUAL_MIH;
        rc = vs_mih_knn(v, q, vp_forward(q), &kn, out, st == STEME_VISUAL_MIH, &gave_up);
        if (rc == STEME_OK && gave_up) {
            vs_knn_init(&kn, v, sc, k);
            st = STEME_VISUAL_SCAN;
        }
    } else {
        st = STEME_VISUAL_SCAN;
    }
    if (rc == STEME_OK && st == STEME_VISUAL_SCAN) {
        out->strategy = STEME_VISUAL_SCAN;
        rc = vs_scan_range(v, q, STEME_VISUAL_MAX_DISTANCE, 0, v->v_slots, out, &kn);
    }
    if (rc == STEME_OK)
        rc = knn_finish(&kn, out);
    return rc;
}

int steme_visual_knn(steme_visual *v, uint64_t query, size_t k, steme_visual_strategy strategy,
                     steme_visual_hits *out)
{
    if (!v)
        return STEME_E_INVALID;
    if (k == 0 || k > STEME_VISUAL_MAX_K)
        return vs_fail(v, STEME_E_INVALID, "visual_knn: k %zu out of 1..%u", k,
                       STEME_VISUAL_MAX_K);
    int rc = check_query(v, strategy, out);
    if (rc != STEME_OK)
        return rc;
    pthread_rwlock_rdlock(&v->v_lock);
    rc = knn_locked(v, query, k, strategy, out);
    pthread_rwlock_unlock(&v->v_lock);
    if (rc != STEME_OK) {
        out->count = 0;
        return vs_fail(v, rc, "visual_knn: %s", steme_strerror(rc));
    }
    return STEME_OK;
}
