/*
 * vec_store_build.c - the background builder of the persistent store.
 *
 *  1. freeze (under the write lock and the state lock, a pointer swap):
 *     the hot index becomes "frozen", a fresh hot index takes new writes,
 *     and the WAL end is recorded as the freeze offset F;
 *  2. build, with queries and inserts running: a new graph gets the live
 *     nodes of the current cold file, then the WAL records between the
 *     cold file's offset C and F are replayed over it (inserts replace,
 *     deletes remove), exactly as a reopen would replay them;
 *  3. write it as cold.vec (temp -> fsync -> rename -> fsync dir) with
 *     offset F, map it and verify it like any cold file;
 *  4. swap (state lock, exclusive, a few pointer writes): the new cold
 *     file replaces the old one and the frozen index goes; shadow entries
 *     below F are pruned. The old mapping and index are freed after the
 *     lock is released: no search can still hold them.
 *
 * A crash anywhere leaves cold.vec either the old file or the new one
 * (both complete), and the WAL holds everything after it, so reopening
 * loses nothing. A failed build keeps the frozen index in service; the
 * next build starts from it again.
 */
#include <stdlib.h>
#include <string.h>

#include "index/vector/vec_cold_int.h"
#include "index/vector/vec_store_int.h"

static int carry_cold(steme_vector_store *s, steme_vector_cold *cold, steme_hnsw *n, steme_error *err)
{
    float *v = malloc(sizeof(float) * s->vs_opts.dim);
    if (!v)
        return steme_err(err, STEME_E_NOMEM, "vector build: out of memory");
    int rc = STEME_OK;
    uint64_t count = cold ? cold_node_count(cold) : 0;
    for (uint64_t i = 0; i < count && !rc; i++) {
        steme_hash id;
        if ((i & 255) == 0 && __atomic_load_n(&s->vs_stop, __ATOMIC_ACQUIRE))
            rc = steme_err(err, STEME_E_CLOSED, "vector build: closing");
        else if (cold_node_get(cold, i, &id, v) && (rc = steme_hnsw_add(n, &id, v)) != STEME_OK)
            rc = steme_err(err, rc, "vector build: %s", steme_hnsw_errmsg(n));
    }
    free(v);
    return rc;
}

void *vs_build_main(void *arg)
{
    steme_vector_store *s = arg;
    steme_error err = {0, ""};
    /* Only this thread changes these while it runs (one build at a time). */
    steme_vector_cold *cold = s->vs_cold, *next = NULL;
    steme_hnsw *frozen = s->vs_frozen, *n = NULL;
    uint64_t cold_off = s->vs_cold_off, freeze_off = s->vs_freeze_off;

    steme_vector_options o = s->vs_opts;
    o.max_elements = (cold ? cold_node_count(cold) : 0) + hnsw_nodes(frozen) + 1;
    int rc = steme_hnsw_create(&o, &n, &err);
    if (!rc)
        rc = carry_cold(s, cold, n, &err);
    if (!rc)
        rc = vs_replay(s, n, NULL, cold_off, freeze_off, &err);
    if (!rc)
        rc = steme_hnsw_save(n, s->vs_cold_path, freeze_off, &err);
    steme_hnsw_free(n);
    if (!rc)
        rc = vs_open_cold(s, s->vs_cold_path, &next, &err);
    if (!rc) {
        pthread_rwlock_wrlock(&s->vs_state);
        s->vs_cold = next;
        s->vs_cold_off = freeze_off;
        s->vs_frozen = NULL;
        pthread_rwlock_unlock(&s->vs_state);
        pthread_mutex_lock(&s->vs_shmu);
        vec_shadow_prune(&s->vs_shadow, freeze_off); /* on failure: stale entries, still correct */
        pthread_mutex_unlock(&s->vs_shmu);
        steme_vector_cold_close(cold);
        steme_hnsw_free(frozen);
        __atomic_add_fetch(&s->vs_builds, 1, __ATOMIC_RELEASE);
    } else {
        steme_errslot_put(&s->vs_errs, &err);
    }
    __atomic_store_n(&s->vs_build_rc, rc, __ATOMIC_RELEASE);
    return NULL;
}

int steme_vector_store_build_start(steme_vector_store *s)
{
    if (!s)
        return STEME_E_INVALID;
    pthread_mutex_lock(&s->vs_bmu);
    int rc = STEME_OK;
    if (s->vs_building) {
        rc = steme_errslot_set(&s->vs_errs, STEME_E_BUSY, "vector build: one is running");
        goto done;
    }
    pthread_mutex_lock(&s->vs_wmu);
    if (!s->vs_frozen) {
        steme_hnsw *fresh = NULL;
        steme_error e;
        rc = steme_hnsw_create(&s->vs_opts, &fresh, &e);
        if (!rc) {
            pthread_rwlock_wrlock(&s->vs_state);
            s->vs_frozen = s->vs_hot;
            s->vs_hot = fresh;
            s->vs_freeze_off = steme_wal_end_offset(s->vs_wal);
            pthread_rwlock_unlock(&s->vs_state);
        } else {
            steme_errslot_put(&s->vs_errs, &e);
        }
    }
    pthread_mutex_unlock(&s->vs_wmu);
    if (rc)
        goto done;
    s->vs_build_rc = STEME_OK;
    if (pthread_create(&s->vs_thread, NULL, vs_build_main, s) != 0) {
        rc = steme_errslot_set(&s->vs_errs, STEME_E_IO, "vector build: cannot start a thread");
        goto done;
    }
    s->vs_building = 1;
done:
    pthread_mutex_unlock(&s->vs_bmu);
    return rc;
}

int steme_vector_store_build_wait(steme_vector_store *s)
{
    if (!s)
        return STEME_E_INVALID;
    /* vs_bmu is held across the join: the builder never takes it. */
    pthread_mutex_lock(&s->vs_bmu);
    if (s->vs_building) {
        pthread_join(s->vs_thread, NULL);
        s->vs_building = 0;
    }
    int rc = __atomic_load_n(&s->vs_build_rc, __ATOMIC_ACQUIRE);
    pthread_mutex_unlock(&s->vs_bmu);
    return rc;
}
