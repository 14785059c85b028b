/*
 * index/visual/visual_int.h - the in-memory visual index's structure, shared
 * by visual.c (writes), visual_rebuild.c, visual_search.c, visual_mih.c and
 * visual_verify.c (queries) and persist.c.
 *
 * Entries live in slots (parallel arrays, indexed by slot number):
 *
 *   v_code: |h0|h1|h2|h3|...   packed hashes: the linear scan reads only this
 *   v_id:   |i0|i1|i2|i3|...   32-byte ids, read for hits only
 *   v_node: |n0|n1|X |n3|...   BK node of the slot's hash; VS_DEAD = removed
 *   v_next: chain of the slots sharing one BK node (one hash, many ids)
 *
 * A removed slot keeps its hash in v_code (queries drop it when they fill
 * the hits' ids) until more than a quarter of the slots are dead; then
 * everything is rebuilt from the live entries (compaction).
 */
#ifndef STEME_INDEX_VISUAL_INT_H
#define STEME_INDEX_VISUAL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/error.h"
#include "index/visual/bktree.h"
#include "index/visual/dense.h"
#include "index/visual/hamming.h"
#include "index/visual/mih.h"
#include "index/visual/permute.h"
#include "steme/visual.h"

#define VS_DEAD UINT32_MAX
/* Slots are uint32 with VS_DEAD reserved; stay well below. */
#define VS_MAX_SLOTS (UINT32_MAX / 2)

struct steme_visual {
    pthread_rwlock_t v_lock;      /* queries: read; insert/remove: write */
    steme_errslot v_err;
    steme_visual_options v_opts;
    const vh_kernel *v_kernel;    /* chosen once at create */
    uint64_t *v_code;
    steme_hash *v_id;
    uint32_t *v_node;
    uint32_t *v_next;
    size_t v_slots;               /* slots in use (live + dead) */
    size_t v_cap;
    size_t v_live;
    bk_tree v_bk;
    mih_tables v_mih;
    vd_region v_dense;            /* dense.h; rebuilt with the tables */
    /* Without MIH tables, AUTO tries the BK-tree under a visit budget; the
     * smallest radius that exhausted it is remembered so later queries at
     * that radius or above go straight to the scan. Reset by compaction. */
    atomic_uint v_bk_fail_radius;
};

/* Per-query scratch, owned by a steme_visual_hits (hits->scratch_). */
typedef struct vs_scratch {
    uint32_t *sc_stack;     /* BK walk */
    size_t sc_stack_cap;
    mih_range *sc_ranges;   /* MIH buckets to verify */
    size_t sc_ranges_cap;
    uint32_t *sc_slot;      /* k-NN candidates */
    uint8_t *sc_dist;
    size_t sc_cand_cap;
} vs_scratch;

/*
 * Re-lay the slots: drop dead ones, sort the live ones by substring 0 (so
 * table 0 of the hashing tables is the slot array), rebuild the chains of
 * `tree` from node_of (the node of each current slot) and, if `tables`, the
 * hashing tables. All-or-nothing: STEME_OK, or STEME_E_NOMEM with the index
 * unchanged. Caller holds the write lock.
 */
int vs_relayout(steme_visual *v, const uint32_t *node_of, bk_tree *tree, int tables);

/* Rebuild BK-tree, slots and tables from the live entries (all-or-nothing). */
int vs_compact(steme_visual *v);

/* Room for `extra` more hits in out; STEME_OK or STEME_E_NOMEM. */
int vs_hits_reserve(steme_visual_hits *out, size_t extra);

/* Append one hit (slot, stored hash, distance) to out, which has room
 * (vs_hits_reserve). Hashes are stored as given (mih.h), so the hit's phash
 * is the stored hash itself. */
static inline void vs_put(const steme_visual *v, steme_visual_hits *out, uint32_t slot,
                          uint64_t code, unsigned d)
{
    steme_visual_hit *h = &out->hits[out->count++];
    h->phash = code;
    h->distance = d;
    h->reserved_ = 0;
    h->id = v->v_id[slot];
}

/* Append one hit whose id is filled later by vs_fill_ids: the slot waits in
 * reserved_. Hits found through tables 1-4 have their ids at random places;
 * fetching them in a separate pass with the prefetches running ahead
 * overlaps the cache misses instead of paying each one in turn. */
static inline void vs_put_deferred(steme_visual_hits *out, uint32_t slot, uint64_t code,
                                   unsigned d)
{
    steme_visual_hit *h = &out->hits[out->count++];
    h->phash = code;
    h->distance = d;
    h->reserved_ = slot;
}

/* Fill the ids of hits[from, count) put by vs_put_deferred, dropping those
 * whose entry was removed. */
void vs_fill_ids(const steme_visual *v, steme_visual_hits *out, size_t from);

/* Append one hit, growing out; STEME_OK or STEME_E_NOMEM. */
int vs_emit(const steme_visual *v, steme_visual_hits *out, uint32_t slot, unsigned d);

/*
 * k-NN candidate set: candidates with distance <= kn_tau, where tau is the
 * k-th smallest distance collected so far (a 65-bucket histogram; no heap).
 */
typedef struct vs_knn {
    const steme_visual *kn_v;
    vs_scratch *kn_sc;
    size_t kn_k;
    size_t kn_n;
    unsigned kn_tau;
    uint32_t kn_hist[STEME_VISUAL_MAX_DISTANCE + 1];
} vs_knn;

void vs_knn_init(vs_knn *kn, const steme_visual *v, vs_scratch *sc, size_t k);
/* Add a candidate (dropped when d > tau); STEME_OK or STEME_E_NOMEM. */
int vs_knn_add(vs_knn *kn, uint32_t slot, unsigned d);
/* Lower tau to the k-th smallest candidate distance. */
void vs_knn_tighten(vs_knn *kn);
/* Candidates within distance `bound`. */
size_t vs_knn_within(const vs_knn *kn, unsigned bound);

/* Linear scan of slots [from, to) at radius r (k-NN: at tau, kn != NULL). */
int vs_scan_range(const steme_visual *v, uint64_t q, unsigned r, size_t from, size_t to,
                  steme_visual_hits *out, vs_knn *kn);

/* Planner costs in picoseconds (visual_mih.c has the measurements). */
uint64_t vs_scan_cost(const steme_visual *v);

/*
 * Radius search through the hashing tables (visual_mih.c); q is the query
 * as stored, pq = vp_forward(q) its permuted form (the tables' keys). AUTO (forced 0):
 * when the plan costs more than the scan, *use_scan is set and nothing is
 * done; the caller scans. Also scans the unindexed tail.
 */
int vs_mih_radius(const steme_visual *v, uint64_t q, uint64_t pq, unsigned r, int forced,
                  steme_visual_hits *out, int *use_scan);

/* Radius search through the dense region (dense.h), then the unindexed
 * tail; the caller checked vd_annulus(). STEME_OK or STEME_E_NOMEM. */
int vs_dense_radius(const steme_visual *v, uint64_t q, unsigned r, steme_visual_hits *out);

/* k-NN by growing rings over the tables; *gave_up as above. */
int vs_mih_knn(const steme_visual *v, uint64_t q, uint64_t pq, vs_knn *kn,
               steme_visual_hits *out, int forced, int *gave_up);

/* The scratch of a hits object, created on first use; NULL on OOM. */
vs_scratch *vs_scratch_of(steme_visual_hits *h);

/*
 * Copy every live entry into malloc'd arrays (*codes, *ids; caller frees),
 * under the read lock. Returns STEME_OK or STEME_E_NOMEM.
 */
int vs_export(steme_visual *v, uint64_t **codes, steme_hash **ids, size_t *n);

#endif
