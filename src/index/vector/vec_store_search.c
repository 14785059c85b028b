/*
 * vec_store_search.c - reading the persistent store: the merged k-NN
 * search over hot, frozen and cold indexes, contains, statistics.
 *
 * Each index is asked for k + min(k, shadowed ids) results: the shadow
 * filter may drop stale hits from the older ones, and the merged list
 * should still hold k.
 */
#include <stdlib.h>
#include <string.h>

#include "index/vector/vec_store_int.h"

/* Drop hits whose id has an operation at or after `since`. Caller holds
 * vs_shmu. Returns the new count. */
static size_t drop_stale(const vec_shadow *sh, steme_vector_hit *hits, size_t n, uint64_t since)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t off;
        if (vec_shadow_get(sh, &hits[i].id, &off) && off >= since)
            continue;
        hits[o++] = hits[i];
    }
    return o;
}

int steme_vector_store_search(steme_vector_store *s, const float *query, size_t k, uint32_t ef,
                              steme_vector_hit *hits, size_t *n_hits)
{
    if (!s)
        return STEME_E_INVALID;
    if (!query || !hits || !n_hits || k == 0 || k > STEME_VECTOR_MAX_EF)
        return steme_errslot_set(&s->vs_errs, STEME_E_INVALID,
                                 "vector store search: NULL argument or k not in 1..%u",
                                 STEME_VECTOR_MAX_EF);
    pthread_rwlock_rdlock(&s->vs_state);
    pthread_mutex_lock(&s->vs_shmu);
    size_t shadowed = s->vs_shadow.used;
    pthread_mutex_unlock(&s->vs_shmu);
    size_t kk = k + (shadowed < k ? shadowed : k);
    steme_vector_hit *buf = malloc(sizeof *buf * kk * 4);
    if (!buf) {
        pthread_rwlock_unlock(&s->vs_state);
        return steme_errslot_set(&s->vs_errs, STEME_E_NOMEM, "vector store search: out of memory");
    }
    steme_vector_hit *hot = buf, *frozen = buf + kk, *cold = buf + 2 * kk, *mid = buf + 3 * kk;
    size_t nh = 0, nf = 0, nc = 0, nm = 0;
    int rc = steme_hnsw_search(s->vs_hot, query, kk, ef, hot, &nh);
    if (!rc && s->vs_frozen)
        rc = steme_hnsw_search(s->vs_frozen, query, kk, ef, frozen, &nf);
    if (!rc && s->vs_cold)
        rc = steme_vector_cold_search(s->vs_cold, query, kk, ef, cold, &nc);
    if (!rc) {
        pthread_mutex_lock(&s->vs_shmu);
        nf = drop_stale(&s->vs_shadow, frozen, nf, s->vs_freeze_off);
        nc = drop_stale(&s->vs_shadow, cold, nc, s->vs_cold_off);
        pthread_mutex_unlock(&s->vs_shmu);
        steme_vector_merge_results(hot, nh, frozen, nf, kk, mid, &nm);
        steme_vector_merge_results(mid, nm, cold, nc, k, hits, n_hits);
    }
    pthread_rwlock_unlock(&s->vs_state);
    free(buf);
    if (rc)
        return steme_errslot_set(&s->vs_errs, rc, "vector store search: %s",
                                 rc == STEME_E_INVALID ? "query not finite (or zero, for cosine), "
                                                         "or ef too large"
                                                       : "out of memory");
    return STEME_OK;
}

int steme_vector_store_contains(steme_vector_store *s, const steme_hash *id)
{
    if (!s || !id)
        return 0;
    pthread_rwlock_rdlock(&s->vs_state);
    uint64_t off = 0;
    pthread_mutex_lock(&s->vs_shmu);
    int touched = vec_shadow_get(&s->vs_shadow, id, &off) && off >= s->vs_cold_off;
    pthread_mutex_unlock(&s->vs_shmu);
    int live;
    if (!touched)
        live = steme_vector_cold_contains(s->vs_cold, id);
    else if (!s->vs_frozen || off >= s->vs_freeze_off)
        live = steme_hnsw_contains(s->vs_hot, id);
    else
        live = steme_hnsw_contains(s->vs_frozen, id);
    pthread_rwlock_unlock(&s->vs_state);
    return live;
}

int steme_vector_store_stats_get(steme_vector_store *s, steme_vector_store_stats *out)
{
    if (!s || !out)
        return STEME_E_INVALID;
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&s->vs_state);
    out->hot_count = steme_hnsw_count(s->vs_hot) + steme_hnsw_count(s->vs_frozen);
    out->cold_count = steme_vector_cold_count(s->vs_cold);
    out->cold_wal_offset = s->vs_cold_off;
    out->cold_open_ms = s->vs_cold_open_ms;
    pthread_rwlock_unlock(&s->vs_state);
    out->wal_end = steme_wal_end_offset(s->vs_wal);
    out->builds = __atomic_load_n(&s->vs_builds, __ATOMIC_ACQUIRE);
    return STEME_OK;
}

const char *steme_vector_store_errmsg(steme_vector_store *s)
{
    return s ? steme_errslot_message(&s->vs_errs) : "no handle";
}
