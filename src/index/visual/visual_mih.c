/*
 * visual_mih.c - queries through the multi-index hashing tables (mih.h):
 * the planner, the verification of probed buckets, and k-NN.
 *
 * Level plans (any r). With five substrings, probing p tables at sub-radius
 * s finds every entry within r as soon as p(s + 1) > r (mih.h). For each s
 * from floor(r / 5) (the smallest with p <= 5) up to two more levels, the
 * planner gathers the buckets of every table at that level, so it knows
 * each table's exact entry count, takes the p = floor(r / (s + 1)) + 1
 * tables with the fewest, and keeps the cheapest (s, tables). A level is
 * gathered only while a lower bound of its cost beats the best plan so far.
 *
 * Pair plan (r <= 2). Call pair(t, s2) "the entry equals the query on
 * substring t and is within s2 of it on the partner substring t + 1 mod 5".
 * Every entry within 2 meets pair(t, 0) for some t: at most two of the five
 * substrings differ, and three equal substrings on a 5-cycle include two
 * neighbours. Every entry within 4 meets pair(t, 1) for some t: if each
 * equal substring's successor differed by >= 2, then with e equal
 * substrings (e <= 2, as no two are neighbours) the distance would be at
 * least 2e + (5 - 2e) = 5. The directory (mih.h) holds the partner's top 6
 * bits, so pair(t, 0) is one directory cell per table and pair(t, 1) seven.
 * On the 1M set, r = 2 reads 5.8k entries instead of 9.5k.
 *
 * AUTO compares, in picoseconds,
 *   MIH   lookups x PS_PROBE + runs x PS_RANGE + entries x PS_MIH_CODE
 *         + tail slots x the scan kernel's cost per code
 *   scan  slots x the scan kernel's cost per code (hamming.c)
 * and, when the scan is cheaper, runs the very scan a forced scan runs. The
 * gathered ranges are reused by the search, so planning costs only the
 * lookups: 5-40 directory cells at r <= 4; above, level plans are priced
 * only while their lookups cost under 1% of the scan (none at r = 8 on the
 * 1M set, where the scan wins 198 of 200 queries anyway).
 *
 * Verification and its dedupe rule: visual_verify.h.
 *
 * k-NN. First the pair steps: pair(t, 0) for all t, after which every entry
 * within 2 has been seen; stop if k candidates lie within 2. Then pair(t, 1)
 * (skipping what pair(u, 0) caught): every entry within 4 seen. If fewer
 * than k lie within 4, start over with rings over whole buckets: tables
 * ordered by exact-bucket size; ring L probes the buckets at exactly L bits,
 * table after table. After rings 0..L-1 and ring L on the first i + 1
 * tables, an unseen entry differs by >= L on every substring and by >= L + 1
 * on i + 1 of them, so every entry within 5L + i has been seen: stop once k
 * candidates lie within that bound. The kernel verifies at tau, the current
 * k-th best distance. Before each step the planner adds the step's exact
 * cost; if the total would pass the scan's cost it gives up and the caller
 * scans.
 */
#include <stdint.h>
#include <string.h>

#include "index/visual/visual_verify.h"

/* Costs in picoseconds, fitted on the 1M set with the AVX-512 kernel
 * (docs/visual.md): forced-MIH query times at r = 2, 4, 8 against lookups,
 * runs and entries. An entry costs ~13x more than in the linear scan (whose
 * cost is vk_ps_per_code): the runs lie at random places in ~60 MB of
 * tables (memory, not L3), and each entry carries its share of the hits'
 * costs (the slot and id reads of hits found through tables 1-4). A run
 * costs a memory latency or two before the prefetcher follows it. */
#define VS_PS_PROBE 3000u
#define VS_PS_RANGE 300000u
#define VS_PS_MIH_CODE 1300u
/* An entry when few entries are hits: k-NN verifies at tau (a few bits
 * once k candidates are known) and the r <= 2 pair plan finds ~3% hits, so
 * an entry costs about the kernel's streaming rate. */
#define VS_PS_LOWHIT_CODE 500u
/* Pair-key runs (r = 3-4): short runs found by a binary search in a cell
 * that the directory lookup has already brought in; an entry there is a hit
 * more often (1 in 6 at r = 4 on the 1M set) and carries its share of the
 * hits' slot and id reads. */
#define VS_PS_PAIR_RUN 60000u
#define VS_PS_PAIR_CODE 1000u
#define VS_AUTO_MAX_LEVEL 3u     /* AUTO never probes more than 3 bits away */
#define VS_PLAN_SHARE 1u         /* percent of the scan's cost planning may spend */
#define VS_PS_PLAN_LOOKUP 30000u /* a bucket-start read while planning (L3 or memory) */
/* AUTO takes the tables for a radius query only when their estimate is
 * below this share of the scan's cost (percent). The scan's cost hardly
 * varies; the tables' does with the hit density and the memory traffic of
 * the moment, so on a near tie the scan is the safe choice (a wrong pick of
 * the tables cost up to 1.5x at r = 8 on the 1M set; a wrong pick of the
 * scan costs little, and mixing the two evicts the scan's array from L3). */
#define VS_MIH_SHARE 60u
/* The same for the pair plan (r <= 4), which AUTO prices alone. Its
 * estimate counts each entry at VS_PS_PAIR_CODE, a share of the hits'
 * output included; the scan's estimate leaves out the output that it pays
 * too (~7 ns per hit on the 1M set). So a query with many hits looks
 * cheaper to scan than it is: on the 1M set one radius-4 query (21k hits,
 * 71k entries read) was scanned at 165 us where the pair plan takes 110
 * us. The pair plan's cost tracks its entries closely (no level lookups),
 * so it gets the whole scan's cost as its bound. */
#define VS_PAIR_SHARE 100u
/* k-NN: both pair steps are priced up front (so the estimate already errs
 * high), and the k-NN scan costs more than a radius scan (it tracks tau):
 * the tables get the scan's full cost as budget. */
#define VS_KNN_SHARE 100u
#define VS_LEVELS (MIH_KEY_BITS + 1u)
/* An entry of the dense region's annulus (dense.h): the scan kernel's
 * rate plus a share of the hits' output, which is dense there (a quarter
 * of the annulus on the 1M set's heavy radius-4 queries) but sequential:
 * the ids are read in order from the region's copy. */
#define VS_PS_DENSE_CODE 400u

/* Buckets gathered per (level, table): ranges [at[L][t], at[L][t + 1]). */
typedef struct vs_gathered {
    size_t g_at[VS_LEVELS][MIH_TABLES + 1];
    uint64_t g_entries[VS_LEVELS][MIH_TABLES];
    unsigned g_levels;
    size_t g_n;
} vs_gathered;

static int gather_level(const steme_visual *v, uint64_t pq, vs_scratch *sc, vs_gathered *g)
{
    unsigned L = g->g_levels;
    for (unsigned t = 0; t < MIH_TABLES; t++) {
        uint64_t total = 0;
        g->g_at[L][t] = g->g_n;
        if (mih_gather(&v->v_mih, t, pq, L, &sc->sc_ranges, &g->g_n, &sc->sc_ranges_cap,
                       &total) != 0)
            return STEME_E_NOMEM;
        g->g_entries[L][t] = total;
    }
    g->g_at[L][MIH_TABLES] = g->g_n;
    g->g_levels++;
    return STEME_OK;
}

/* Cost of probing table t at exactly level L. */
static uint64_t step_cost(const vs_gathered *g, unsigned L, unsigned t)
{
    return mih_probes_at_level(t, L) * VS_PS_PROBE +
           (uint64_t)(g->g_at[L][t + 1] - g->g_at[L][t]) * VS_PS_RANGE +
           g->g_entries[L][t] * VS_PS_MIH_CODE;
}

static uint64_t tail_cost(const steme_visual *v)
{
    return (uint64_t)(v->v_slots - v->v_mih.mh_covered) * v->v_kernel->vk_ps_per_code;
}

/* Cost of pair-key runs: directory cells read, runs, entries (each at
 * ps_code). */
static uint64_t pair_cost(uint64_t lookups, size_t runs, uint64_t entries, uint64_t ps_code)
{
    return lookups * VS_PS_PROBE + (uint64_t)runs * VS_PS_PAIR_RUN + entries * ps_code;
}

/* Order tables by cost[] ascending (ties by table number). */
static void order_tables(const uint64_t *cost, unsigned *order)
{
    for (unsigned t = 0; t < MIH_TABLES; t++)
        order[t] = t;
    for (unsigned i = 1; i < MIH_TABLES; i++)
        for (unsigned j = i; j > 0 && cost[order[j]] < cost[order[j - 1]]; j--) {
            unsigned x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
}

/* ---- radius -------------------------------------------------------------- */

int vs_mih_radius(const steme_visual *v, uint64_t q, uint64_t pq, unsigned r, int forced,
                  steme_visual_hits *out, int *use_scan)
{
    vs_scratch *sc = out->scratch_;
    vs_gathered g;
    g.g_levels = 0;
    g.g_n = 0;
    *use_scan = 0;
    /* The dense region, when it holds every hit (AUTO only: forced MIH
     * means the tables). */
    size_t ann = forced ? SIZE_MAX : vd_annulus(&v->v_dense, q, r);
    uint64_t dense = ann == SIZE_MAX ? UINT64_MAX : (uint64_t)ann * VS_PS_DENSE_CODE;
    /* Levels tried: from s_min, two more when forced; one more for AUTO,
     * where each extra level is ~5x the lookups and p shrinks slowly (on
     * the 1M set the third level never won, and gathering it cost AUTO
     * ~15% at r = 2). */
    unsigned s_min = r / MIH_TABLES, s_max = s_min + (forced ? 2 : 1);
    if (s_max > MIH_KEY_BITS)
        s_max = MIH_KEY_BITS;
    if (!forced && s_max > VS_AUTO_MAX_LEVEL)
        s_max = VS_AUTO_MAX_LEVEL;
    /* AUTO gathers a level only when its lookups (every table's) cost under
     * VS_PLAN_SHARE percent of the scan, and scans at once when even the
     * levels up to s_min cost more. A planning lookup reads bucket starts
     * that the previous query's scan has evicted: on the 1M set, gathering
     * levels 0-2 at r = 8 (460 lookups) made AUTO 1-2% slower than the scan
     * it then chose for 198 of 200 queries, and on the 70k set 5-10%. */
    if (!forced && r > 4) {
        if (dense < vs_scan_cost(v) / 100 * VS_MIH_SHARE)
            return vs_dense_radius(v, q, r, out);
        uint64_t plan = 0, scan_share = vs_scan_cost(v) / 100 * VS_PLAN_SHARE;
        for (unsigned s = 0; s <= s_min; s++)
            plan += MIH_TABLES * mih_probes_at_level(0, s) * VS_PS_PLAN_LOOKUP;
        if (plan > scan_share) {
            *use_scan = 1;
            return STEME_OK;
        }
        while (s_max > s_min &&
               MIH_TABLES * mih_probes_at_level(0, s_max) * VS_PS_PLAN_LOOKUP > scan_share)
            s_max--;
    }
    if (s_min > s_max) {
        *use_scan = 1;
        return STEME_OK;
    }
    uint64_t best = UINT64_MAX, cum[MIH_TABLES] = {0};
    unsigned best_s = 0, best_p = 0, best_order[MIH_TABLES], prev_p = MIH_TABLES + 1;
    /* The pair plan (r <= 4): pair(t, 0) at r <= 2, pair(t, 1) at r <= 4,
     * in every table. Its ranges go first in the scratch; the level plans'
     * follow. */
    size_t pair_at[MIH_TABLES + 1];
    unsigned s2 = r > 2;
    int use_pair = 0;
    if (r <= 4) {
        uint64_t total = 0, lookups = 0;
        if (mih_gather_pairs(&v->v_mih, pq, s2, &sc->sc_ranges, &g.g_n, &sc->sc_ranges_cap,
                             pair_at, &total, &lookups) != 0)
            return STEME_E_NOMEM;
        best = pair_cost(lookups, g.g_n, total, s2 ? VS_PS_PAIR_CODE : VS_PS_LOWHIT_CODE);
        use_pair = 1;
        /* The pair plan's cost is known now: a query deep in a dense
         * cluster reads its annulus instead (the directory reads are lost,
         * a few hundred ns against tens of us), if that also beats the
         * scan, as at r > 4. */
        if (dense < best && dense < vs_scan_cost(v) / 100 * VS_MIH_SHARE)
            return vs_dense_radius(v, q, r, out);
    }
    /* AUTO at r <= 4 takes the pair plan without pricing level plans: its
     * runs are subsets of the exact buckets (a quarter of their entries at
     * r = 4 on the 1M set). */
    int levels = forced || !use_pair;
    unsigned p_last = r / (s_max + 1) + 1;
    uint64_t scan = vs_scan_cost(v) / 100 * (levels ? VS_MIH_SHARE : VS_PAIR_SHARE);
    uint64_t tail = tail_cost(v);
    uint64_t limit = forced ? UINT64_MAX : scan > tail ? scan - tail : 0;
    for (unsigned s = 0; levels && s <= s_max; s++) {
        if (s >= s_min || !forced) {
            /* Every plan from level s on reads at least the cheapest p_last
             * tables' levels below s, plus this level's lookups: stop when
             * that beats neither the best plan nor (AUTO) the scan. */
            unsigned order[MIH_TABLES];
            order_tables(cum, order);
            uint64_t lb = p_last * mih_probes_at_level(0, s) * VS_PS_PROBE;
            for (unsigned i = 0; i < p_last; i++)
                lb += cum[order[i]];
            if ((s >= s_min && lb >= best) || lb >= limit)
                break;
        }
        int rc = gather_level(v, pq, sc, &g);
        if (rc != STEME_OK)
            return rc;
        for (unsigned t = 0; t < MIH_TABLES; t++)
            cum[t] += step_cost(&g, s, t);
        if (s < s_min)
            continue;
        unsigned p = r / (s + 1) + 1;
        if (p < prev_p) {
            unsigned order[MIH_TABLES];
            order_tables(cum, order);
            uint64_t c = 0;
            for (unsigned i = 0; i < p; i++)
                c += cum[order[i]];
            if (c < best) {
                best = c;
                best_s = s;
                best_p = p;
                use_pair = 0;
                memcpy(best_order, order, sizeof order);
            }
        }
        prev_p = p;
        if (p == 1)
            break;
    }
    if (!forced && (best == UINT64_MAX || best + tail >= scan)) {
        *use_scan = 1;
        return STEME_OK;
    }
    size_t first = out->count;
    if (use_pair) {
        vs_pf pf;
        vs_pf_start(v, &pf, sc->sc_ranges, pair_at[0], pair_at[MIH_TABLES]);
        for (unsigned t = 0; t < MIH_TABLES; t++) {
            vs_step st = {.st_pair = (int)s2, .st_done = -1, .st_table = t};
            int rc = vs_verify(v, q, r, t, sc->sc_ranges, pair_at[t], pair_at[t + 1], &st, out,
                               NULL, &pf);
            if (rc != STEME_OK)
                return rc;
        }
        vs_fill_ids(v, out, first);
        return vs_scan_range(v, q, r, v->v_mih.mh_covered, v->v_slots, out, NULL);
    }
    /* Table 0 first when chosen: the hits reported from it are runs of
     * consecutive slots, so their ids are read sequentially. */
    for (unsigned i = 1; i < best_p; i++)
        if (best_order[i] == 0) {
            memmove(best_order + 1, best_order, i * sizeof *best_order);
            best_order[0] = 0;
        }
    for (unsigned i = 0; i < best_p; i++)
        for (unsigned L = 0; L <= best_s; L++)
            vs_prefetch_ranges(v, sc->sc_ranges, g.g_at[L][best_order[i]],
                            g.g_at[L][best_order[i] + 1]);
    for (unsigned i = 0; i < best_p; i++) {
        vs_step st;
        vs_step_levels(&st, best_order, best_p, i, (int)best_s, -1);
        for (unsigned L = 0; L <= best_s; L++) {
            unsigned t = best_order[i];
            int rc = vs_verify(v, q, r, t, sc->sc_ranges, g.g_at[L][t], g.g_at[L][t + 1], &st,
                               out, NULL, NULL);
            if (rc != STEME_OK)
                return rc;
        }
    }
    vs_fill_ids(v, out, first);
    return vs_scan_range(v, q, r, v->v_mih.mh_covered, v->v_slots, out, NULL);
}

/* ---- k-NN ---------------------------------------------------------------- */

/* Gather the cells of pair(t, s2) for every t after the *n ranges already
 * in the scratch: at[t] .. at[t + 1] are table t's; *cost their estimate. */
static int gather_pair_step(const steme_visual *v, uint64_t pq, unsigned s2, vs_scratch *sc,
                            size_t *n, size_t *at, uint64_t *cost)
{
    uint64_t total = 0, lookups = 0;
    size_t first = *n;
    if (mih_gather_pairs(&v->v_mih, pq, s2, &sc->sc_ranges, n, &sc->sc_ranges_cap, at, &total,
                         &lookups) != 0)
        return STEME_E_NOMEM;
    *cost = pair_cost(lookups, *n - first, total, VS_PS_LOWHIT_CODE);
    return STEME_OK;
}

/* Verify pair(t, s2) over the gathered cells; with s2 = 1 the entries
 * meeting pair(u, 0) were handled by the s2 = 0 step. */
static int knn_pair_step(const steme_visual *v, uint64_t q, vs_knn *kn, steme_visual_hits *out,
                         unsigned s2, const size_t *at)
{
    vs_pf pf;
    vs_pf_start(v, &pf, kn->kn_sc->sc_ranges, at[0], at[MIH_TABLES]);
    for (unsigned t = 0; t < MIH_TABLES; t++) {
        vs_step st = {.st_pair = (int)s2, .st_done = s2 ? 0 : -1, .st_table = t};
        int rc = vs_verify(v, q, STEME_VISUAL_MAX_DISTANCE, t, kn->kn_sc->sc_ranges, at[t],
                           at[t + 1], &st, out, kn, &pf);
        if (rc != STEME_OK)
            return rc;
    }
    return STEME_OK;
}

/* Rings over whole buckets (any distance); see the header. */
static int knn_rings(const steme_visual *v, uint64_t q, uint64_t pq, vs_knn *kn,
                     steme_visual_hits *out, int forced, uint64_t spent, uint64_t budget,
                     int *gave_up)
{
    vs_scratch *sc = kn->kn_sc;
    vs_gathered g;
    g.g_levels = 0;
    g.g_n = 0;
    int rc = gather_level(v, pq, sc, &g);
    if (rc != STEME_OK)
        return rc;
    unsigned order[MIH_TABLES];
    order_tables(g.g_entries[0], order);
    for (unsigned L = 0; L < VS_LEVELS; L++) {
        if (L > 0 && (rc = gather_level(v, pq, sc, &g)) != STEME_OK)
            return rc;
        for (unsigned i = 0; i < MIH_TABLES; i++) {
            unsigned t = order[i];
            uint64_t c = step_cost(&g, L, t);
            if (!forced && (L > VS_AUTO_MAX_LEVEL || spent + c > budget)) {
                *gave_up = 1;
                return STEME_OK;
            }
            spent += c;
            vs_step st;
            vs_step_levels(&st, order, MIH_TABLES, i, (int)L, (int)L - 1);
            rc = vs_verify(v, q, STEME_VISUAL_MAX_DISTANCE, t, sc->sc_ranges, g.g_at[L][t],
                           g.g_at[L][t + 1], &st, out, kn, NULL);
            if (rc != STEME_OK)
                return rc;
            if (vs_knn_within(kn, MIH_TABLES * L + i) >= kn->kn_k)
                return STEME_OK;
        }
    }
    return STEME_OK;
}

int vs_mih_knn(const steme_visual *v, uint64_t q, uint64_t pq, vs_knn *kn,
               steme_visual_hits *out, int forced, int *gave_up)
{
    uint64_t budget = vs_scan_cost(v) / 100 * VS_KNN_SHARE, spent = tail_cost(v);
    *gave_up = 0;
    size_t k = kn->kn_k, n = 0, at[2][MIH_TABLES + 1];
    uint64_t cost[2];
    /* Pricing the pair steps reads up to 40 directory cells (cache misses
     * in 10 MB of directories) and they may be ~60 runs: an index whose
     * whole scan costs less than that is scanned (on the 70k set, pricing
     * them made AUTO slower than the scan, which it then chose for half the
     * queries, although forced tables were 1.4x faster there: the pair
     * steps' cost model is fitted on the 1M set only). */
    if (!forced && budget < (2u + MIH_DIR_BITS) * MIH_TABLES * (uint64_t)VS_PS_RANGE) {
        *gave_up = 1;
        return STEME_OK;
    }
    /* Both pair steps are priced before either runs: when they would not
     * beat the scan, no work is wasted before scanning. */
    for (unsigned s2 = 0; s2 <= 1; s2++) {
        int rc = gather_pair_step(v, pq, s2, kn->kn_sc, &n, at[s2], &cost[s2]);
        if (rc != STEME_OK)
            return rc;
    }
    if (!forced && spent + cost[0] + cost[1] > budget) {
        *gave_up = 1;
        return STEME_OK;
    }
    spent += cost[0] + cost[1];
    int rc = vs_scan_range(v, q, STEME_VISUAL_MAX_DISTANCE, v->v_mih.mh_covered, v->v_slots,
                           out, kn);
    /* After pair(t, 0) every entry within 2 has been seen; after pair(t, 1)
     * every entry within 4. */
    for (unsigned s2 = 0; rc == STEME_OK && s2 <= 1; s2++) {
        rc = knn_pair_step(v, q, kn, out, s2, at[s2]);
        if (rc == STEME_OK && vs_knn_within(kn, 2 + 2 * s2) >= k)
            return STEME_OK;
    }
    if (rc != STEME_OK)
        return rc;
    /* Fewer than k within 4: start over with rings (rare on near-duplicate
     * data; the pair steps cost a small share of the budget). */
    vs_knn_init(kn, v, kn->kn_sc, k);
    rc = vs_scan_range(v, q, STEME_VISUAL_MAX_DISTANCE, v->v_mih.mh_covered, v->v_slots, out, kn);
    if (rc != STEME_OK)
        return rc;
    return knn_rings(v, q, pq, kn, out, forced, spent, budget, gave_up);
}
