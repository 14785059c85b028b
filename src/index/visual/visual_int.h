/*
 * index/visual/visual_int.h - the in-memory visual index's structure, shared
 * by visual.c (writes), visual_search.c (queries) and persist.c.
 *
 * Entries live in slots (parallel arrays, indexed by slot number):
 *
 *   v_code: |h0|h1|h2|h3|...   packed hashes: the linear scan reads only this
 *   v_id:   |i0|i1|i2|i3|...   32-byte ids, read for hits only
 *   v_node: |n0|n1|X |n3|...   BK node of the slot's hash; VS_DEAD = removed
 *   v_next: chain of the slots sharing one BK node (one hash, many ids)
 *
 * A removed slot keeps its hash in v_code (the scan filters it at emit time)
 * until more than a quarter of the slots are dead; then everything is
 * rebuilt from the live entries (compaction).
 */
#ifndef STEME_INDEX_VISUAL_INT_H
#define STEME_INDEX_VISUAL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/error.h"
#include "index/visual/bktree.h"
#include "index/visual/hamming.h"
#include "index/visual/mih.h"
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

/* Append one hit (slot at distance d) to out; STEME_OK or STEME_E_NOMEM. */
int vs_emit(const steme_visual *v, steme_visual_hits *out, uint32_t slot, unsigned d);

/* The scratch of a hits object, created on first use; NULL on OOM. */
vs_scratch *vs_scratch_of(steme_visual_hits *h);

/*
 * Copy every live entry into malloc'd arrays (*codes, *ids; caller frees),
 * under the read lock. Returns STEME_OK or STEME_E_NOMEM.
 */
int vs_export(steme_visual *v, uint64_t **codes, steme_hash **ids, size_t *n);

#endif
