/*
 * visual_verify.c - verification of probed multi-index hashing runs (see
 * visual_verify.h): the SIMD threshold kernel over the run's inline hash
 * column, with the dedupe rule turned into kernel exclusions (hamming.h),
 * then the hit's output (ids deferred) or k-NN candidate.
 */
#include "index/visual/visual_verify.h"

/* The step's dedupe rule as kernel exclusions (hamming.h). */
static void step_exclusions(const vs_step *step, vh_excl *ex)
{
    ex->ex_n = 0;
    if (step->st_pair < 0) {
        /* Level plans: an earlier (or, for k-NN rings, later) table reports
         * what lies within its threshold on its substring. */
        for (unsigned u = 0; u < step->st_n; u++) {
            if (step->st_thr[u] < 0)
                continue;
            ex->ex_ma[ex->ex_n] = step->st_mask[u];
            ex->ex_ta[ex->ex_n] = (uint8_t)step->st_thr[u];
            ex->ex_mb[ex->ex_n] = 0;
            ex->ex_tb[ex->ex_n] = 0;
            ex->ex_n++;
        }
        return;
    }
    /* Pair plans: the runs of table t hold exactly pair(t, st_pair); drop
     * what pair(u, st_pair) catches for an earlier u, and what pair(u,
     * st_done) catches for any u (an earlier k-NN step). */
    for (unsigned u = 0; u < step->st_table; u++) {
        ex->ex_ma[ex->ex_n] = mih_umask(u);
        ex->ex_ta[ex->ex_n] = 0;
        ex->ex_mb[ex->ex_n] = mih_umask(mih_partner(u));
        ex->ex_tb[ex->ex_n] = (uint8_t)step->st_pair;
        ex->ex_n++;
    }
    if (step->st_done >= 0)
        for (unsigned u = 0; u < MIH_TABLES; u++) {
            ex->ex_ma[ex->ex_n] = mih_umask(u);
            ex->ex_ta[ex->ex_n] = 0;
            ex->ex_mb[ex->ex_n] = mih_umask(mih_partner(u));
            ex->ex_tb[ex->ex_n] = (uint8_t)step->st_done;
            ex->ex_n++;
        }
}

/* Entries the cursor keeps requested ahead of the kernel. */
#define VS_PF_AHEAD 2048u
/* Runs handed to one kernel call (the runs of a pair plan's table are
 * ~12 on the 1M set). */
#define VS_BATCH_RUNS 64u

/* Request the next `entries` entries' lines (hashes and slots). */
static void pf_advance(const steme_visual *v, vs_pf *pf, size_t entries)
{
    while (pf->pf_i < pf->pf_end) {
        const mih_range *rg = &pf->pf_ranges[pf->pf_i];
        unsigned t = rg->mr_table;
        const uint64_t *codes = t == 0 ? v->v_code : v->v_mih.mh_code[t];
        const uint32_t *slots = v->v_mih.mh_slot[t];
        if (pf->pf_pos < rg->mr_begin)
            pf->pf_pos = rg->mr_begin & ~7u; /* from the run's first line */
        for (; pf->pf_pos < rg->mr_end; pf->pf_pos += 8) {
            if (entries == 0)
                return;
            __builtin_prefetch(codes + pf->pf_pos);
            if (slots && (pf->pf_pos & 15u) < 8u)
                __builtin_prefetch(slots + pf->pf_pos);
            entries = entries > 8 ? entries - 8 : 0;
        }
        pf->pf_i++;
        pf->pf_pos = 0;
    }
}

void vs_pf_start(const steme_visual *v, vs_pf *pf, const mih_range *ranges, size_t rb, size_t re)
{
    pf->pf_ranges = ranges;
    pf->pf_i = rb;
    pf->pf_end = re;
    pf->pf_pos = 0;
    pf_advance(v, pf, VS_PF_AHEAD);
}

int vs_verify(const steme_visual *v, uint64_t q, unsigned r, unsigned t,
              const mih_range *ranges, size_t rb, size_t re, const vs_step *step,
              steme_visual_hits *out, vs_knn *kn, vs_pf *pf)
{
    const mih_tables *m = &v->v_mih;
    const uint64_t *codes = t == 0 ? v->v_code : m->mh_code[t];
    const uint32_t *slots = m->mh_slot[t];
    /* With no removed entries the liveness check (a random read) is skipped. */
    int any_dead = v->v_live != v->v_slots;
    vh_excl ex;
    step_exclusions(step, &ex);
    uint32_t idx[VH_BLOCK + VH_PAD];
    uint8_t dist[VH_BLOCK + VH_PAD];
    vh_run batch[VS_BATCH_RUNS];
    /* Cut the runs into batches of at most VH_BLOCK entries and
     * VS_BATCH_RUNS runs (a run longer than a block spans batches). */
    size_t i = rb;
    uint32_t pos = rb < re ? ranges[rb].mr_begin : 0;
    while (i < re) {
        size_t nb = 0, total = 0;
        while (i < re && nb < VS_BATCH_RUNS && total < VH_BLOCK) {
            uint32_t end = ranges[i].mr_end, take = end - pos;
            if (take > VH_BLOCK - total)
                take = (uint32_t)(VH_BLOCK - total);
            if (take > 0) {
                batch[nb].vr_begin = pos;
                batch[nb].vr_end = pos + take;
                nb++;
                total += take;
                pos += take;
            }
            if (pos == end && ++i < re)
                pos = ranges[i].mr_begin;
        }
        if (pf)
            pf_advance(v, pf, total);
        size_t k = v->v_kernel->vk_scan_excl(codes, batch, nb, q, kn ? kn->kn_tau : r, &ex, idx,
                                             dist);
        out->examined += total;
        if (k == 0)
            continue;
        /* Radius hits go out with their ids deferred (vs_fill_ids); k-NN
         * keeps slots, whose ids are read only for the final k. */
        if (!kn) {
            if (vs_hits_reserve(out, k) != STEME_OK)
                return STEME_E_NOMEM;
            for (size_t j = 0; j < k; j++) {
                uint32_t at = idx[j], s = t == 0 ? at : slots[at];
                /* Requested now, copied by vs_fill_ids after the last
                 * run: the miss overlaps the verification. */
                __builtin_prefetch(&v->v_id[s]);
                vs_put_deferred(out, s, codes[at], dist[j]);
            }
            continue;
        }
        for (size_t j = 0; j < k; j++) {
            uint32_t at = idx[j], s = t == 0 ? at : slots[at];
            if (any_dead && v->v_node[s] == VS_DEAD)
                continue;
            if (vs_knn_add(kn, s, dist[j]) != STEME_OK)
                return STEME_E_NOMEM;
        }
        vs_knn_tighten(kn);
    }
    return STEME_OK;
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
        st->st_mask[st->st_n] = mih_umask(order[j]);
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
