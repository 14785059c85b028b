/*
 * visual.c - the in-memory visual index: lifecycle, insert, remove,
 * compaction, and the maintenance of the multi-index hashing tables.
 * Queries are in visual_search.c; the layout is drawn in visual_int.h.
 *
 * Consistency under allocation failure: every array is grown before any
 * state changes, so a failed insert leaves the index as it was (at most a
 * BK node with no entries, which is a harmless tombstone). A failed rebuild
 * of the hashing tables keeps the old ones (the tail scan covers the rest).
 * Hashes are stored as given; only the hashing tables' keys are read from
 * the bit-permuted form (mih.h, permute.h).
 */
#include "index/visual/bigalloc.h"
#include "index/visual/visual_int.h"

#include <stdlib.h>
#include <string.h>

/* The tables are rebuilt when the unindexed tail passes this many slots or
 * 1/32 of the indexed ones: a query scans at most ~3% of the index
 * linearly, and the O(n) rebuild is amortised over n/32 inserts. */
#define VS_TAIL_MIN 2048u
#define VS_TAIL_DIV 32u
/* Compaction when more than max(VS_DEAD_MIN, slots / 4) slots are dead. */
#define VS_DEAD_MIN 1024u

#define vs_fail(v, code, ...) steme_errslot_set(&(v)->v_err, (code), __VA_ARGS__)

unsigned steme_hamming64(uint64_t a, uint64_t b)
{
    return vh_popcount64(a ^ b);
}

void steme_visual_options_init(steme_visual_options *o)
{
    if (o)
        o->enable_mih = 1;
}

void steme_visual_hits_init(steme_visual_hits *h)
{
    if (h)
        memset(h, 0, sizeof *h);
}

void steme_visual_hits_free(steme_visual_hits *h)
{
    if (!h)
        return;
    vs_scratch *s = h->scratch_;
    if (s) {
        free(s->sc_stack);
        free(s->sc_ranges);
        free(s->sc_slot);
        free(s->sc_dist);
        free(s);
    }
    free(h->hits);
    memset(h, 0, sizeof *h);
}

vs_scratch *vs_scratch_of(steme_visual_hits *h)
{
    if (!h->scratch_) {
        h->scratch_ = calloc(1, sizeof(vs_scratch));
        h->scratch_cap_ = h->scratch_ ? sizeof(vs_scratch) : 0;
    }
    return h->scratch_;
}

int vs_hits_reserve(steme_visual_hits *out, size_t extra)
{
    if (extra <= out->capacity - out->count)
        return STEME_OK;
    size_t nc = out->capacity ? out->capacity : 64;
    while (nc - out->count < extra)
        nc *= 2;
    steme_visual_hit *n = realloc(out->hits, nc * sizeof *n);
    if (!n)
        return STEME_E_NOMEM;
    out->hits = n;
    out->capacity = nc;
    return STEME_OK;
}

void vs_fill_ids(const steme_visual *v, steme_visual_hits *out, size_t from)
{
    /* Far enough ahead to cover a DRAM miss at a few ns per hit. */
    enum { AHEAD = 24 };
    steme_visual_hit *h = out->hits;
    size_t n = out->count, w = from;
    int any_dead = v->v_live != v->v_slots;
    for (size_t j = from; j < n && j < from + AHEAD; j++)
        __builtin_prefetch(&v->v_id[h[j].reserved_]);
    if (!any_dead) {
        /* Nothing to drop: fill the ids in place. */
        for (size_t j = from; j < n; j++) {
            if (j + AHEAD < n)
                __builtin_prefetch(&v->v_id[h[j + AHEAD].reserved_]);
            uint32_t slot = h[j].reserved_;
            h[j].reserved_ = 0;
            h[j].id = v->v_id[slot];
        }
        return;
    }
    for (size_t j = from; j < n; j++) { /* some entries removed: drop their hits */
        if (j + AHEAD < n) {
            __builtin_prefetch(&v->v_id[h[j + AHEAD].reserved_]);
            __builtin_prefetch(&v->v_node[h[j + AHEAD].reserved_]);
        }
        uint32_t slot = h[j].reserved_;
        if (v->v_node[slot] == VS_DEAD)
            continue;
        h[w].phash = h[j].phash;
        h[w].distance = h[j].distance;
        h[w].reserved_ = 0;
        h[w].id = v->v_id[slot];
        w++;
    }
    out->count = w;
}

int vs_emit(const steme_visual *v, steme_visual_hits *out, uint32_t slot, unsigned d)
{
    if (vs_hits_reserve(out, 1) != STEME_OK)
        return STEME_E_NOMEM;
    vs_put(v, out, slot, v->v_code[slot], d);
    return STEME_OK;
}

int steme_visual_create(const steme_visual_options *opts, steme_visual **out, steme_error *err)
{
    if (!out)
        return steme_err(err, STEME_E_INVALID, "visual_create: out is NULL");
    *out = NULL;
    steme_visual *v = calloc(1, sizeof *v);
    if (!v)
        return steme_err(err, STEME_E_NOMEM, "visual_create: out of memory");
    steme_visual_options_init(&v->v_opts);
    if (opts)
        v->v_opts.enable_mih = opts->enable_mih ? 1 : 0;
    if (pthread_rwlock_init(&v->v_lock, NULL) != 0) {
        free(v);
        return steme_err(err, STEME_E_NOMEM, "visual_create: cannot create lock");
    }
    int rc = steme_errslot_init(&v->v_err);
    if (rc != STEME_OK) {
        pthread_rwlock_destroy(&v->v_lock);
        free(v);
        return steme_err(err, rc, "visual_create: cannot create error slot");
    }
    v->v_kernel = vh_best();
    bk_init(&v->v_bk);
    mih_init(&v->v_mih);
    vd_init(&v->v_dense);
    atomic_init(&v->v_bk_fail_radius, STEME_VISUAL_MAX_DISTANCE + 1);
    *out = v;
    return STEME_OK;
}

static void vs_free_slots(steme_visual *v)
{
    vb_free(v->v_code);
    vb_free(v->v_id);
    free(v->v_node);
    free(v->v_next);
    v->v_code = NULL;
    v->v_id = NULL;
    v->v_node = NULL;
    v->v_next = NULL;
}

void steme_visual_destroy(steme_visual *v)
{
    if (!v)
        return;
    vs_free_slots(v);
    bk_free(&v->v_bk);
    mih_free(&v->v_mih);
    vd_free(&v->v_dense);
    steme_errslot_destroy(&v->v_err);
    pthread_rwlock_destroy(&v->v_lock);
    free(v);
}

const char *steme_visual_errmsg(steme_visual *v)
{
    return v ? steme_errslot_message(&v->v_err) : "no handle";
}

/* Make room for `need` slots. Each array is replaced as soon as it is grown,
 * and v_cap moves only when all are: a failure wastes nothing. */
static int vs_reserve(steme_visual *v, size_t need)
{
    if (need <= v->v_cap)
        return STEME_OK;
    if (need > VS_MAX_SLOTS)
        return STEME_E_FULL;
    size_t cap = v->v_cap ? v->v_cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > VS_MAX_SLOTS)
        cap = VS_MAX_SLOTS;
    void *p;
    if (!(p = vb_realloc(v->v_code, cap * sizeof *v->v_code)))
        return STEME_E_NOMEM;
    v->v_code = p;
    if (!(p = vb_realloc(v->v_id, cap * sizeof *v->v_id)))
        return STEME_E_NOMEM;
    v->v_id = p;
    if (!(p = realloc(v->v_node, cap * sizeof *v->v_node)))
        return STEME_E_NOMEM;
    v->v_node = p;
    if (!(p = realloc(v->v_next, cap * sizeof *v->v_next)))
        return STEME_E_NOMEM;
    v->v_next = p;
    v->v_cap = cap;
    return STEME_OK;
}

/* Slot of the pair in node's chain, with its predecessor; VS_DEAD if absent. */
static uint32_t vs_chain_find(const steme_visual *v, uint32_t node, const steme_hash *id,
                              uint32_t *prev)
{
    uint32_t p = VS_DEAD;
    for (uint32_t s = v->v_bk.bt_nodes[node].bn_head; s != BK_NONE; s = v->v_next[s]) {
        if (memcmp(v->v_id[s].bytes, id->bytes, STEME_HASH_LEN) == 0) {
            if (prev)
                *prev = p;
            return s;
        }
        p = s;
    }
    return VS_DEAD;
}

/* Insert without locking and without table maintenance. */
static int vs_insert_one(steme_visual *v, uint64_t code, const steme_hash *id)
{
    int rc = vs_reserve(v, v->v_slots + 1);
    if (rc != STEME_OK)
        return rc;
    uint32_t node;
    int added;
    if (bk_find_or_add(&v->v_bk, code, &node, &added) != 0)
        return STEME_E_NOMEM;
    if (!added && vs_chain_find(v, node, id, NULL) != VS_DEAD)
        return STEME_E_EXISTS;
    uint32_t slot = (uint32_t)v->v_slots++;
    bk_node *n = &v->v_bk.bt_nodes[node];
    v->v_code[slot] = code;
    v->v_id[slot] = *id;
    v->v_node[slot] = node;
    v->v_next[slot] = n->bn_head;
    n->bn_head = slot;
    n->bn_live++;
    v->v_live++;
    return STEME_OK;
}

static void vs_maybe_rebuild_mih(steme_visual *v)
{
    if (!v->v_opts.enable_mih)
        return;
    size_t covered = v->v_mih.mh_covered;
    size_t tail = v->v_slots - covered;
    size_t limit = covered / VS_TAIL_DIV;
    if (limit < VS_TAIL_MIN)
        limit = VS_TAIL_MIN;
    if (tail > limit)
        (void)vs_relayout(v, v->v_node, &v->v_bk, 1); /* on OOM the old tables stay */
}

int steme_visual_insert(steme_visual *v, uint64_t phash, const steme_hash *id)
{
    if (!v || !id)
        return v ? vs_fail(v, STEME_E_INVALID, "visual_insert: id is NULL") : STEME_E_INVALID;
    pthread_rwlock_wrlock(&v->v_lock);
    int rc = vs_insert_one(v, phash, id);
    if (rc == STEME_OK)
        vs_maybe_rebuild_mih(v);
    pthread_rwlock_unlock(&v->v_lock);
    if (rc == STEME_E_EXISTS)
        return vs_fail(v, rc, "visual_insert: pair already present");
    if (rc != STEME_OK)
        return vs_fail(v, rc, "visual_insert: %s", steme_strerror(rc));
    return rc;
}

/*
 * Load n entries into the EMPTY index (room reserved) with one bulk BK-tree
 * build instead of n tree walks. Pairs repeated within the batch are left
 * as dead slots (dropped by the next relayout). All-or-nothing: on
 * STEME_E_NOMEM the index is still empty and the caller inserts one by one.
 */
static int vs_load_empty(steme_visual *v, const uint64_t *phashes, const steme_hash *ids,
                         size_t n, size_t *done)
{
    uint32_t *node = malloc(n * sizeof *node);
    if (!node)
        return STEME_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        v->v_code[i] = phashes[i];
    if (bk_build(&v->v_bk, v->v_code, n, node) != 0) {
        free(node);
        return STEME_E_NOMEM;
    }
    size_t added = 0;
    for (size_t i = 0; i < n; i++) {
        bk_node *nd = &v->v_bk.bt_nodes[node[i]];
        v->v_id[i] = ids[i];
        if (nd->bn_head != BK_NONE && vs_chain_find(v, node[i], &ids[i], NULL) != VS_DEAD) {
            v->v_node[i] = VS_DEAD;
            v->v_next[i] = BK_NONE;
            continue;
        }
        v->v_node[i] = node[i];
        v->v_next[i] = nd->bn_head;
        nd->bn_head = (uint32_t)i;
        nd->bn_live++;
        added++;
    }
    v->v_slots = n;
    v->v_live = added;
    *done = added;
    free(node);
    return STEME_OK;
}

int steme_visual_insert_batch(steme_visual *v, const uint64_t *phashes, const steme_hash *ids,
                              size_t n, size_t *inserted)
{
    if (inserted)
        *inserted = 0;
    if (!v)
        return STEME_E_INVALID;
    if (n > 0 && (!phashes || !ids))
        return vs_fail(v, STEME_E_INVALID, "visual_insert_batch: NULL arrays");
    pthread_rwlock_wrlock(&v->v_lock);
    int rc = vs_reserve(v, v->v_slots + n);
    size_t done = 0;
    if (rc == STEME_OK && v->v_slots == 0 && v->v_bk.bt_n == 0 && n > 1 &&
        vs_load_empty(v, phashes, ids, n, &done) == STEME_OK)
        n = 0; /* loaded in bulk */
    for (size_t i = 0; i < n && (rc == STEME_OK || rc == STEME_E_EXISTS); i++) {
        rc = vs_insert_one(v, phashes[i], &ids[i]);
        done += rc == STEME_OK;
    }
    if (rc == STEME_E_EXISTS)
        rc = STEME_OK;
    if (done > 0)
        vs_maybe_rebuild_mih(v);
    pthread_rwlock_unlock(&v->v_lock);
    if (inserted)
        *inserted = done;
    if (rc != STEME_OK)
        return vs_fail(v, rc, "visual_insert_batch: stopped after %zu entries: %s", done,
                       steme_strerror(rc));
    return STEME_OK;
}

int steme_visual_remove(steme_visual *v, uint64_t phash, const steme_hash *id)
{
    if (!v || !id)
        return v ? vs_fail(v, STEME_E_INVALID, "visual_remove: id is NULL") : STEME_E_INVALID;
    pthread_rwlock_wrlock(&v->v_lock);
    int rc = STEME_E_NOTFOUND;
    uint32_t node = bk_find(&v->v_bk, phash), prev = VS_DEAD;
    uint32_t slot = node == BK_NONE ? VS_DEAD : vs_chain_find(v, node, id, &prev);
    if (slot != VS_DEAD) {
        bk_node *n = &v->v_bk.bt_nodes[node];
        if (prev == VS_DEAD)
            n->bn_head = v->v_next[slot];
        else
            v->v_next[prev] = v->v_next[slot];
        n->bn_live--;
        v->v_node[slot] = VS_DEAD;
        v->v_live--;
        rc = STEME_OK;
        size_t dead = v->v_slots - v->v_live, limit = v->v_slots / 4;
        if (dead > (limit > VS_DEAD_MIN ? limit : VS_DEAD_MIN))
            rc = vs_compact(v);
    }
    pthread_rwlock_unlock(&v->v_lock);
    if (rc == STEME_E_NOTFOUND)
        return vs_fail(v, rc, "visual_remove: no such pair");
    if (rc != STEME_OK)
        return vs_fail(v, rc, "visual_remove: removed, but compaction failed: %s",
                       steme_strerror(rc));
    return rc;
}

size_t steme_visual_count(steme_visual *v)
{
    if (!v)
        return 0;
    pthread_rwlock_rdlock(&v->v_lock);
    size_t n = v->v_live;
    pthread_rwlock_unlock(&v->v_lock);
    return n;
}

int steme_visual_contains(steme_visual *v, uint64_t phash, const steme_hash *id)
{
    if (!v || !id)
        return 0;
    pthread_rwlock_rdlock(&v->v_lock);
    uint32_t node = bk_find(&v->v_bk, phash);
    int found = node != BK_NONE && vs_chain_find(v, node, id, NULL) != VS_DEAD;
    pthread_rwlock_unlock(&v->v_lock);
    return found;
}

int vs_export(steme_visual *v, uint64_t **codes, steme_hash **ids, size_t *n)
{
    pthread_rwlock_rdlock(&v->v_lock);
    size_t live = v->v_live;
    uint64_t *c = malloc((live ? live : 1) * sizeof *c);
    steme_hash *h = malloc((live ? live : 1) * sizeof *h);
    int rc = STEME_E_NOMEM;
    if (c && h) {
        size_t k = 0;
        for (size_t s = 0; s < v->v_slots; s++) {
            if (v->v_node[s] == VS_DEAD)
                continue;
            c[k] = v->v_code[s];
            h[k] = v->v_id[s];
            k++;
        }
        rc = STEME_OK;
    }
    pthread_rwlock_unlock(&v->v_lock);
    if (rc != STEME_OK) {
        free(c);
        free(h);
        return rc;
    }
    *codes = c;
    *ids = h;
    *n = live;
    return STEME_OK;
}

