/*
 * visual_verify.c - verification of probed multi-index hashing runs (see
 * visual_verify.h): the SIMD threshold kernel over the run's inline hash
 * column, then, for the few candidates within the radius, the dedupe test
 * on the candidate's hash and the hit's output (ids deferred) or k-NN
 * candidate. Compiled twice (with and without the popcnt instruction) and
 * chosen by the index's kernel, as the library targets generic x86-64.
 */
#include "core/cpu.h"
#include "index/visual/visual_verify.h"

/* pair(t, s2): equal to the query on substring t, within s2 on its partner. */
static inline int pair_holds(const unsigned *d, unsigned t, int s2)
{
    return d[t] == 0 && (int)d[mih_partner(t)] <= s2;
}

/* Whether table `t` reports the entry with x = code ^ q (see vs_step). */
static inline __attribute__((always_inline)) int
reported_here(const vs_step *step, uint64_t x, int hw)
{
    if (step->st_pair < 0) {
        for (unsigned u = 0; u < step->st_n; u++) {
            uint64_t xm = x & step->st_mask[u];
            int du = hw ? __builtin_popcountll(xm) : (int)vh_popcount64(xm);
            if (du <= step->st_thr[u])
                return 0;
        }
        return 1;
    }
    unsigned d[MIH_TABLES];
    for (unsigned u = 0; u < MIH_TABLES; u++) {
        uint64_t xm = x & mih_mask(u);
        d[u] = hw ? (unsigned)__builtin_popcountll(xm) : vh_popcount64(xm);
    }
    for (unsigned u = 0; u <= step->st_table; u++)
        if (pair_holds(d, u, step->st_pair) != (u == step->st_table))
            return 0; /* caught by an earlier table, or not caught here */
    if (step->st_done >= 0)
        for (unsigned u = 0; u < MIH_TABLES; u++)
            if (pair_holds(d, u, step->st_done))
                return 0;
    return 1;
}

/*
 * Verify the ranges [rb, re) of table t at radius r (k-NN: at tau); report
 * each candidate not already reported per *step. `hw`: a constant in each
 * caller, so the popcounts fold to the instruction or to the portable form.
 */
static inline __attribute__((always_inline)) int
verify_body(const steme_visual *v, uint64_t q, unsigned r, unsigned t, const mih_range *ranges,
            size_t rb, size_t re, const vs_step *step, steme_visual_hits *out, vs_knn *kn,
            int hw)
{
    const mih_tables *m = &v->v_mih;
    const uint64_t *codes = t == 0 ? v->v_code : m->mh_code[t];
    const uint32_t *slots = m->mh_slot[t];
    /* With no removed entries the liveness check (a random read) is skipped. */
    int any_dead = v->v_live != v->v_slots;
    const vp_table *inv = vp_inverse_table();
    uint32_t idx[VH_BLOCK];
    uint8_t dist[VH_BLOCK];
    for (size_t i = rb; i < re; i++) {
        for (uint32_t b = ranges[i].mr_begin; b < ranges[i].mr_end; b += VH_BLOCK) {
            size_t len = ranges[i].mr_end - b < VH_BLOCK ? ranges[i].mr_end - b : VH_BLOCK;
            size_t k = v->v_kernel->vk_scan(codes + b, len, q, kn ? kn->kn_tau : r, idx, dist);
            out->examined += len;
            if (k == 0)
                continue;
            /* Keep first discoveries only. Radius hits go out with their
             * ids deferred (vs_fill_ids); k-NN keeps slots, whose ids are
             * read only for the final k. */
            if (!kn && vs_hits_reserve(out, k) != STEME_OK)
                return STEME_E_NOMEM;
            /* The slot column is read only for hits: start those misses
             * together rather than one per hit below. */
            if (t != 0)
                for (size_t j = 0; j < k; j++)
                    __builtin_prefetch(&slots[b + idx[j]]);
            for (size_t j = 0; j < k; j++) {
                uint64_t c = codes[b + idx[j]];
                if (!reported_here(step, c ^ q, hw))
                    continue;
                uint32_t s = t == 0 ? b + idx[j] : slots[b + idx[j]];
                if (!kn) {
                    vs_put_deferred(out, inv, s, c, dist[j]);
                } else if (!any_dead || v->v_node[s] != VS_DEAD) {
                    if (vs_knn_add(kn, s, dist[j]) != STEME_OK)
                        return STEME_E_NOMEM;
                }
            }
            if (kn)
                vs_knn_tighten(kn);
        }
    }
    return STEME_OK;
}

__attribute__((target("popcnt")))
static int verify_popcnt(const steme_visual *v, uint64_t q, unsigned r, unsigned t,
                         const mih_range *ranges, size_t rb, size_t re, const vs_step *step,
                         steme_visual_hits *out, vs_knn *kn)
{
    return verify_body(v, q, r, t, ranges, rb, re, step, out, kn, 1);
}

static int verify_portable(const steme_visual *v, uint64_t q, unsigned r, unsigned t,
                           const mih_range *ranges, size_t rb, size_t re, const vs_step *step,
                           steme_visual_hits *out, vs_knn *kn)
{
    return verify_body(v, q, r, t, ranges, rb, re, step, out, kn, 0);
}

int vs_verify(const steme_visual *v, uint64_t q, unsigned r, unsigned t,
              const mih_range *ranges, size_t rb, size_t re, const vs_step *step,
              steme_visual_hits *out, vs_knn *kn)
{
    if (v->v_kernel->vk_needs & STEME_CPU_POPCNT)
        return verify_popcnt(v, q, r, t, ranges, rb, re, step, out, kn);
    return verify_portable(v, q, r, t, ranges, rb, re, step, out, kn);
}

void vs_step_levels(vs_step *st, const unsigned *order, unsigned n, unsigned i, int before,
                     int after)
{
    st->st_pair = -1;
    st->st_done = -1;
    st->st_n = 0;
    for (unsigned j = 0; j < n; j++) {
        if (j == i || (j > i && after < 0))
            continue;
        st->st_mask[st->st_n] = mih_mask(order[j]);
        st->st_thr[st->st_n] = j < i ? before : after;
        st->st_n++;
    }
}

/* The first lines of each run: the hardware prefetcher follows a run once
 * it is being read. */
#define VS_PREFETCH_LINES 4u
void vs_prefetch_ranges(const steme_visual *v, const mih_range *ranges, size_t rb, size_t re)
{
    for (size_t i = rb; i < re; i++) {
        unsigned t = ranges[i].mr_table;
        const uint64_t *codes = t == 0 ? v->v_code : v->v_mih.mh_code[t];
        uint32_t b = ranges[i].mr_begin, e = ranges[i].mr_end;
        for (unsigned l = 0; l < VS_PREFETCH_LINES && b + 8 * l < e; l++)
            __builtin_prefetch(codes + b + 8 * l);
        if (t != 0)
            __builtin_prefetch(v->v_mih.mh_slot[t] + b);
    }
}
