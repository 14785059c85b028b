/*
 * visual_search.c - radius and k-NN queries, and the planner that picks the
 * structure answering each one (see steme/visual.h for the overview).
 *
 * Planner. Costs are estimated in picoseconds from per-operation constants
 * measured on our machines (docs/visual.md); only their ratios matter.
 *   scan   slots x kernel cost per code                     (known exactly)
 *   MIH    non-empty buckets x VS_PS_RANGE + their entries x VS_PS_MIH_CODE
 *          + tail slots x kernel cost       (known exactly: the buckets are
 *          gathered before anything is verified, and reused by the search)
 *   BK     not known in advance: it runs under a budget of the scan's cost
 *          and falls back to the scan when the budget runs out
 * AUTO takes the cheaper of MIH and the scan (the BK-tree when the tables
 * are disabled), so a query is never much slower than the scan.
 *
 * k-NN keeps candidates with distance <= tau, where tau is the k-th smallest
 * distance collected so far (a 65-bucket histogram, no heap); anything
 * farther cannot be in the answer. With MIH it probes rings of growing
 * substring distance s = 0, 1, 2, ...: after ring s every entry within
 * 4(s+1) - 1 of the query has been seen (pigeonhole), so it stops once k
 * candidates lie within that bound. Before each ring the planner checks the
 * ring's exact cost; if the work so far plus the ring would pass the scan's
 * cost it scans instead.
 */
#include <stdlib.h>
#include <string.h>

#include "index/visual/permute.h"
#include "index/visual/visual_int.h"

#define VS_PS_RANGE 25000u     /* one non-empty bucket: offsets, call, first miss */
/* One bucket entry, rings 0-1. Most entries are rejected by the SIMD kernel
 * (~0.3 ns); the rest is the hits' share (~60-80 ns each, the id fetch).
 * From ring 2 on the hit density rises (1M set: 1.5% of candidates are hits
 * at r = 4, 4.8% at r = 8), so each candidate is charged 8x. */
#define VS_PS_MIH_CODE 400u
#define VS_PS_MIH_CODE_FAR 3200u
#define VS_PS_BK_NODE 20000u   /* one BK node visited (a dependent cache miss) */
#define VS_SMALL 1024u         /* below this many slots, always scan */
#define VS_AUTO_MAX_LEVEL 3u   /* AUTO never probes rings above s = 3 */

#define vs_fail(v, code, ...) steme_errslot_set(&(v)->v_err, (code), __VA_ARGS__)

/* ---- k-NN candidate set ------------------------------------------------- */

typedef struct vs_knn {
    const steme_visual *kn_v;
    vs_scratch *kn_sc;
    size_t kn_k;
    size_t kn_n;
    unsigned kn_tau;
    uint32_t kn_hist[STEME_VISUAL_MAX_DISTANCE + 1];
} vs_knn;

static void knn_init(vs_knn *kn, const steme_visual *v, vs_scratch *sc, size_t k)
{
    memset(kn, 0, sizeof *kn);
    kn->kn_v = v;
    kn->kn_sc = sc;
    kn->kn_k = k;
    kn->kn_tau = STEME_VISUAL_MAX_DISTANCE;
}

static int knn_add(vs_knn *kn, uint32_t slot, unsigned d)
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

/* Candidates within distance `bound`. */
static size_t knn_within(const vs_knn *kn, unsigned bound)
{
    size_t c = 0;
    for (unsigned d = 0; d <= bound && d <= STEME_VISUAL_MAX_DISTANCE; d++)
        c += kn->kn_hist[d];
    return c;
}

/* Lower tau to the k-th smallest candidate distance. */
static void knn_tighten(vs_knn *kn)
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
    knn_tighten(kn);
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

/* Scan slots [from, to) at radius r; each live hit goes to emit or knn. */
static int scan_range(const steme_visual *v, uint64_t q, unsigned r, size_t from, size_t to,
                      steme_visual_hits *out, vs_knn *kn)
{
    int any_dead = v->v_live != v->v_slots;
    uint32_t idx[VH_BLOCK];
    uint8_t dist[VH_BLOCK];
    for (size_t b = from; b < to; b += VH_BLOCK) {
        size_t len = to - b < VH_BLOCK ? to - b : VH_BLOCK;
        unsigned rad = kn ? kn->kn_tau : r;
        size_t k = v->v_kernel->vk_scan(v->v_code + b, len, q, rad, idx, dist);
        for (size_t i = 0; i < k; i++) {
            uint32_t slot = (uint32_t)(b + idx[i]);
            if (any_dead && v->v_node[slot] == VS_DEAD)
                continue;
            int rc = kn ? knn_add(kn, slot, dist[i]) : vs_emit(v, out, slot, dist[i]);
            if (rc != STEME_OK)
                return rc;
        }
        if (kn)
            knn_tighten(kn);
    }
    out->examined += to - from;
    return STEME_OK;
}

/* ---- multi-index hashing ------------------------------------------------ */

/*
 * Verify the gathered buckets at radius r. A hit found in table t at ring
 * `level` is reported only if this is its first discovery: no earlier table
 * holds it within the ring (radius mode: within `level`, all rings probed at
 * once), and, for k-NN rings, no table holds it in an earlier ring.
 */
static int mih_verify(const steme_visual *v, uint64_t q, unsigned r, unsigned level,
                      int rings, const mih_range *ranges, size_t nranges,
                      steme_visual_hits *out, vs_knn *kn)
{
    const mih_tables *m = &v->v_mih;
    /* With no removed entries the liveness check (a random read per hit)
     * is skipped. */
    int any_dead = v->v_live != v->v_slots;
    uint32_t idx[VH_BLOCK];
    uint8_t dist[VH_BLOCK];
    for (size_t i = 0; i < nranges; i++) {
        const mih_range *rg = &ranges[i];
        unsigned t = rg->mr_table;
        /* Table 0 is the slot array itself (visual_rebuild.c). */
        const uint64_t *codes = t == 0 ? v->v_code : m->mh_code[t];
        for (uint32_t b = rg->mr_begin; b < rg->mr_end; b += VH_BLOCK) {
            size_t len = rg->mr_end - b < VH_BLOCK ? rg->mr_end - b : VH_BLOCK;
            unsigned rad = kn ? kn->kn_tau : r;
            size_t k = v->v_kernel->vk_scan(codes + b, len, q, rad, idx, dist);
            /* Pass 1: keep first discoveries, prefetch their ids (random
             * for tables 1-3) so that the misses overlap. */
            size_t keep = 0;
            for (size_t j = 0; j < k; j++) {
                uint32_t cd = mih_chunk_dists(codes[b + idx[j]] ^ q);
                int dup = 0;
                for (unsigned u = 0; u < MIH_TABLES && !dup; u++) {
                    unsigned du = (cd >> (8 * u)) & 0xff;
                    if (u < t)
                        dup = du <= level;
                    else if (u > t && rings)
                        dup = du < level;
                }
                if (dup)
                    continue;
                uint32_t slot = t == 0 ? b + idx[j] : m->mh_slot[t][b + idx[j]];
                __builtin_prefetch(&v->v_id[slot]);
                if (any_dead)
                    __builtin_prefetch(&v->v_node[slot]);
                idx[keep] = slot;
                dist[keep] = dist[j];
                keep++;
            }
            for (size_t j = 0; j < keep; j++) {
                if (any_dead && v->v_node[idx[j]] == VS_DEAD)
                    continue;
                int rc = kn ? knn_add(kn, idx[j], dist[j]) : vs_emit(v, out, idx[j], dist[j]);
                if (rc != STEME_OK)
                    return rc;
            }
            if (kn)
                knn_tighten(kn);
            out->examined += len;
        }
    }
    return STEME_OK;
}

/* Gather all rings 0..s into the scratch; exact cost in picoseconds. */
static int mih_plan(const steme_visual *v, uint64_t q, unsigned lo, unsigned hi,
                    vs_scratch *sc, size_t *nranges, uint64_t *cost)
{
    uint64_t total = 0;
    *nranges = 0;
    for (unsigned s = lo; s <= hi; s++)
        if (mih_gather_level(&v->v_mih, q, s, &sc->sc_ranges, nranges, &sc->sc_ranges_cap,
                             &total) != 0)
            return STEME_E_NOMEM;
    *cost = *nranges * (uint64_t)VS_PS_RANGE +
            total * (uint64_t)(hi >= 2 ? VS_PS_MIH_CODE_FAR : VS_PS_MIH_CODE);
    return STEME_OK;
}

static uint64_t scan_cost(const steme_visual *v)
{
    return (uint64_t)v->v_slots * v->v_kernel->vk_ps_per_code;
}

static uint64_t tail_cost(const steme_visual *v)
{
    return (uint64_t)(v->v_slots - v->v_mih.mh_covered) * v->v_kernel->vk_ps_per_code;
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
        int rc = c->bc_kn ? knn_add(c->bc_kn, s, d) : vs_emit(v, c->bc_out, s, d);
        if (rc != STEME_OK)
            return rc;
    }
    if (c->bc_kn) {
        knn_tighten(c->bc_kn);
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
        int rc = bk_search(v, q, r, scan_cost(v) / VS_PS_BK_NODE + 1, out, kn, sc);
        if (rc != 1)
            return rc;
        /* Over budget: remember the radius, discard, scan. Racing updates
         * may store a larger value; that costs a retry, never a result. */
        atomic_store_explicit(&v->v_bk_fail_radius, r, memory_order_relaxed);
        out->count = 0;
        if (kn)
            knn_init(kn, v, sc, kn->kn_k);
    }
    out->strategy = STEME_VISUAL_SCAN;
    return scan_range(v, q, r, 0, v->v_slots, out, kn);
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
    size_t nranges = 0;
    uint64_t cost = 0;
    unsigned s = r / MIH_TABLES;
    int use_mih = st == STEME_VISUAL_MIH && v->v_mih.mh_built;
    if (st == STEME_VISUAL_AUTO && v->v_mih.mh_built && s <= VS_AUTO_MAX_LEVEL) {
        int rc = mih_plan(v, q, 0, s, sc, &nranges, &cost);
        if (rc != STEME_OK)
            return rc;
        use_mih = cost + tail_cost(v) < scan_cost(v);
    } else if (use_mih) {
        int rc = mih_plan(v, q, 0, s, sc, &nranges, &cost);
        if (rc != STEME_OK)
            return rc;
    }
    if (!use_mih) {
        out->strategy = STEME_VISUAL_SCAN;
        return scan_range(v, q, r, 0, v->v_slots, out, NULL);
    }
    out->strategy = STEME_VISUAL_MIH;
    int rc = mih_verify(v, q, r, s, 0, sc->sc_ranges, nranges, out, NULL);
    if (rc == STEME_OK)
        rc = scan_range(v, q, r, v->v_mih.mh_covered, v->v_slots, out, NULL);
    return rc;
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
    rc = radius_locked(v, vp_forward(query), radius, strategy, out);
    pthread_rwlock_unlock(&v->v_lock);
    if (rc != STEME_OK) {
        out->count = 0;
        return vs_fail(v, rc, "visual_radius: %s", steme_strerror(rc));
    }
    return STEME_OK;
}

/* k-NN by MIH rings; *gave_up is set when the planner prefers the scan. */
static int knn_mih(steme_visual *v, uint64_t q, vs_knn *kn, steme_visual_hits *out, int forced,
                   int *gave_up)
{
    vs_scratch *sc = kn->kn_sc;
    uint64_t budget = scan_cost(v), spent = tail_cost(v);
    *gave_up = 0;
    int rc = scan_range(v, q, STEME_VISUAL_MAX_DISTANCE, v->v_mih.mh_covered, v->v_slots, out,
                        kn);
    for (unsigned s = 0; rc == STEME_OK && s <= MIH_KEY_BITS; s++) {
        size_t nranges = 0;
        uint64_t cost = 0;
        if ((rc = mih_plan(v, q, s, s, sc, &nranges, &cost)) != STEME_OK)
            break;
        if (!forced && (s > VS_AUTO_MAX_LEVEL || spent + cost > budget)) {
            *gave_up = 1;
            return STEME_OK;
        }
        spent += cost;
        rc = mih_verify(v, q, STEME_VISUAL_MAX_DISTANCE, s, 1, sc->sc_ranges, nranges, out, kn);
        /* Every entry within 4(s+1)-1 has now been seen. */
        if (rc == STEME_OK && knn_within(kn, MIH_TABLES * (s + 1) - 1) >= kn->kn_k)
            break;
    }
    return rc;
}

static int knn_locked(steme_visual *v, uint64_t q, size_t k, steme_visual_strategy st,
                      steme_visual_hits *out)
{
    vs_scratch *sc = out->scratch_;
    vs_knn kn;
    knn_init(&kn, v, sc, k);
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
        rc = knn_mih(v, q, &kn, out, st == STEME_VISUAL_MIH, &gave_up);
        if (rc == STEME_OK && gave_up) {
            knn_init(&kn, v, sc, k);
            st = STEME_VISUAL_SCAN;
        }
    } else {
        st = STEME_VISUAL_SCAN;
    }
    if (rc == STEME_OK && st == STEME_VISUAL_SCAN) {
        out->strategy = STEME_VISUAL_SCAN;
        rc = scan_range(v, q, STEME_VISUAL_MAX_DISTANCE, 0, v->v_slots, out, &kn);
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
    rc = knn_locked(v, vp_forward(query), k, strategy, out);
    pthread_rwlock_unlock(&v->v_lock);
    if (rc != STEME_OK) {
        out->count = 0;
        return vs_fail(v, rc, "visual_knn: %s", steme_strerror(rc));
    }
    return STEME_OK;
}
