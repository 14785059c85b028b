/*
 * vec_store.c - the persistent vector store: open (WAL recovery, cold file
 * verification, replay), inserts and deletes through the WAL, merged
 * searches. Design and locks: vec_store_int.h; builder: vec_store_build.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "index/vector/vec_store_int.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

int vs_open_cold(steme_vector_store *s, const char *path, steme_vector_cold **out, steme_error *err)
{
    double t0 = now_ms();
    int rc = steme_vector_cold_open(path, &s->vs_opts, out, err);
    if (rc == STEME_OK)
        s->vs_cold_open_ms = now_ms() - t0;
    return rc;
}

int vs_record_check(const steme_vector_store *s, const uint8_t *rec, size_t len)
{
    if (len < 1 || rec[0] != VS_TAG)
        return 0;
    if (len < VS_REC_HEAD)
        return -1;
    uint32_t dim;
    memcpy(&dim, rec + 4, 4);
    if (rec[1] == VS_OP_INSERT)
        return dim == s->vs_opts.dim && len == VS_REC_HEAD + (size_t)dim * 4 ? 1 : -1;
    if (rec[1] == VS_OP_DELETE)
        return dim == 0 && len == VS_REC_HEAD ? 1 : -1;
    return -1;
}

int vs_apply(steme_vector_store *s, steme_hnsw *h, vec_shadow *shadow, uint64_t offset,
             const uint8_t *rec, size_t len)
{
    (void)len;
    steme_hash id;
    memcpy(id.bytes, rec + 8, STEME_HASH_LEN);
    int rc = STEME_OK;
    if (steme_hnsw_contains(h, &id))
        steme_hnsw_delete(h, &id);
    if (rec[1] == VS_OP_INSERT) {
        float v[STEME_VECTOR_MAX_DIM];
        memcpy(v, rec + VS_REC_HEAD, sizeof(float) * s->vs_opts.dim);
        rc = steme_hnsw_add(h, &id, v);
    }
    if (rc == STEME_OK && shadow) {
        pthread_mutex_lock(&s->vs_shmu);
        rc = vec_shadow_put(shadow, &id, offset);
        pthread_mutex_unlock(&s->vs_shmu);
    }
    return rc;
}

int vs_replay(steme_vector_store *s, steme_hnsw *h, vec_shadow *shadow, uint64_t from, uint64_t to,
              steme_error *err)
{
    steme_wal_cursor *cur = NULL;
    int rc = steme_wal_cursor_open(s->vs_wal, from, &cur);
    if (rc == STEME_E_NOTFOUND)
        return STEME_CORRUPT(err, "vector store: the log no longer holds offset %llu, where the "
                             "cold file ends", (unsigned long long)from);
    if (rc)
        return steme_err(err, rc, "vector store: replay from %llu: %s", (unsigned long long)from,
                         steme_wal_errmsg(s->vs_wal));
    for (uint64_t n = 0;; n++) {
        const uint8_t *rec;
        size_t len;
        uint64_t off;
        if ((n & 255) == 0 && __atomic_load_n(&s->vs_stop, __ATOMIC_ACQUIRE)) {
            rc = steme_err(err, STEME_E_CLOSED, "vector store: closing");
            break;
        }
        rc = steme_wal_cursor_next(cur, &rec, &len, &off);
        if (rc == STEME_E_END || (rc == STEME_OK && off >= to)) {
            rc = STEME_OK;
            break;
        }
        if (rc) {
            rc = steme_err(err, rc, "vector store: replay: %s", steme_wal_errmsg(s->vs_wal));
            break;
        }
        int kind = vs_record_check(s, rec, len);
        if (kind < 0) {
            rc = STEME_CORRUPT(err, "vector store: malformed vector record at offset %llu",
                               (unsigned long long)off);
            break;
        }
        if (kind == 0)
            continue;
        rc = vs_apply(s, h, shadow, off, rec, len);
        if (rc) {
            rc = steme_err(err, rc, "vector store: replay at %llu: %s", (unsigned long long)off,
                           steme_hnsw_errmsg(h));
            break;
        }
    }
    steme_wal_cursor_close(cur);
    return rc;
}

static char *join(const char *dir, const char *name)
{
    return steme_path_join(dir, name);
}

static void store_free(steme_vector_store *s)
{
    steme_wal_close(s->vs_wal);
    steme_hnsw_free(s->vs_hot);
    steme_hnsw_free(s->vs_frozen);
    steme_vector_cold_close(s->vs_cold);
    vec_shadow_free(&s->vs_shadow);
    free(s->vs_dir);
    free(s->vs_cold_path);
    free(s->vs_tmp_path);
    free(s->vs_corrupt_path);
    pthread_mutex_destroy(&s->vs_wmu);
    pthread_rwlock_destroy(&s->vs_state);
    pthread_mutex_destroy(&s->vs_shmu);
    pthread_mutex_destroy(&s->vs_bmu);
    steme_errslot_destroy(&s->vs_errs);
    free(s);
}

/* Map cold.vec; a file failing verification is set aside as evidence and
 * *refused set, so the caller rebuilds from the WAL. */
static int open_existing_cold(steme_vector_store *s, int *refused, steme_error *err)
{
    steme_error e;
    int rc = vs_open_cold(s, s->vs_cold_path, &s->vs_cold, &e);
    if (rc == STEME_OK) {
        s->vs_cold_off = steme_vector_cold_wal_offset(s->vs_cold);
        return STEME_OK;
    }
    if (rc == STEME_E_NOTFOUND)
        return STEME_OK;
    if (rc == STEME_E_CORRUPT || rc == STEME_E_VERSION) {
        fprintf(stderr, "steme: vector store %s: %s; set aside as %s, rebuilding from the log\n",
                s->vs_dir, e.message, s->vs_corrupt_path);
        if (rename(s->vs_cold_path, s->vs_corrupt_path) != 0)
            return steme_err(err, STEME_E_IO, "vector store: rename %s: %s", s->vs_cold_path,
                             strerror(errno));
        *refused = 1;
        return STEME_OK;
    }
    if (err)
        *err = e;
    return rc;
}

int steme_vector_store_open(const char *dir, const steme_vector_options *o,
                            steme_vector_store **out, steme_error *err)
{
    if (!dir || !*dir || !out)
        return steme_err(err, STEME_E_INVALID, "vector store open: NULL dir or out");
    *out = NULL;
    int rc = hnsw_check_options(o, err);
    if (rc)
        return rc;
    steme_vector_store *s = calloc(1, sizeof *s);
    if (!s)
        return steme_err(err, STEME_E_NOMEM, "vector store open: out of memory");
    s->vs_opts = *o;
    pthread_mutex_init(&s->vs_wmu, NULL);
    pthread_rwlock_init(&s->vs_state, NULL);
    pthread_mutex_init(&s->vs_shmu, NULL);
    pthread_mutex_init(&s->vs_bmu, NULL);
    if (steme_errslot_init(&s->vs_errs) != STEME_OK || vec_shadow_init(&s->vs_shadow) != STEME_OK ||
        !(s->vs_dir = strdup(dir)) || !(s->vs_cold_path = join(dir, "cold.vec")) ||
        !(s->vs_tmp_path = join(dir, "cold.vec.tmp")) ||
        !(s->vs_corrupt_path = join(dir, "cold.vec.corrupt"))) {
        store_free(s);
        return steme_err(err, STEME_E_NOMEM, "vector store open: out of memory");
    }
    char *wal_dir = NULL;
    int refused = 0;
    rc = steme_mkdirs(dir, 0, err);
    if (rc)
        goto fail;
    /* A build cut short by a crash leaves its temp file: never valid. */
    unlink(s->vs_tmp_path);
    wal_dir = join(dir, "wal");
    if (!wal_dir) {
        rc = steme_err(err, STEME_E_NOMEM, "vector store open: out of memory");
        goto fail;
    }
    rc = steme_wal_open(wal_dir, NULL, &s->vs_wal, NULL, err);
    if (rc)
        goto fail;
    rc = open_existing_cold(s, &refused, err);
    if (rc)
        goto fail;
    rc = steme_hnsw_create(&s->vs_opts, &s->vs_hot, err);
    if (rc)
        goto fail;
    rc = vs_replay(s, s->vs_hot, &s->vs_shadow, s->vs_cold_off, UINT64_MAX, err);
    if (rc)
        goto fail;
    free(wal_dir);
    *out = s;
    if (refused)
        steme_vector_store_build_start(s);
    return STEME_OK;
fail:
    free(wal_dir);
    store_free(s);
    return rc;
}

void steme_vector_store_close(steme_vector_store *s)
{
    if (!s)
        return;
    __atomic_store_n(&s->vs_stop, 1, __ATOMIC_RELEASE);
    steme_vector_store_build_wait(s);
    store_free(s);
}

static size_t encode_insert(uint8_t *buf, const steme_hash *id, const float *v, uint32_t dim)
{
    memset(buf, 0, VS_REC_HEAD);
    buf[0] = VS_TAG;
    buf[1] = VS_OP_INSERT;
    memcpy(buf + 4, &dim, 4);
    memcpy(buf + 8, id->bytes, STEME_HASH_LEN);
    memcpy(buf + VS_REC_HEAD, v, sizeof(float) * dim);
    return VS_REC_HEAD + sizeof(float) * dim;
}

/* Append n encoded records and apply them to the hot index, in log order. */
static int write_records(steme_vector_store *s, size_t n, const void *const *recs,
                         const size_t *lens)
{
    pthread_mutex_lock(&s->vs_wmu);
    int rc = STEME_OK;
    uint64_t off = 0;
    size_t inserts = 0;
    for (size_t i = 0; i < n; i++)
        inserts += ((const uint8_t *)recs[i])[1] == VS_OP_INSERT;
    if (hnsw_nodes(s->vs_hot) + inserts > s->vs_opts.max_elements) {
        rc = steme_errslot_set(&s->vs_errs, STEME_E_FULL, "vector store: hot index full (%llu nodes); "
                               "run a build", (unsigned long long)s->vs_opts.max_elements);
        goto done;
    }
    rc = steme_wal_append_batch(s->vs_wal, n, recs, lens, &off);
    if (rc) {
        rc = steme_errslot_set(&s->vs_errs, rc, "vector store: log append: %s",
                               steme_wal_errmsg(s->vs_wal));
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        rc = vs_apply(s, s->vs_hot, &s->vs_shadow, off, recs[i], lens[i]);
        if (rc) {
            /* Durable but not applied (out of memory): reopening replays it. */
            rc = steme_errslot_set(&s->vs_errs, rc, "vector store: apply: %s; the record is "
                                   "durable and will be applied at reopen",
                                   steme_hnsw_errmsg(s->vs_hot));
            goto done;
        }
        off += STEME_WAL_RECORD_OVERHEAD + lens[i];
    }
done:
    pthread_mutex_unlock(&s->vs_wmu);
    return rc;
}

int steme_vector_store_insert(steme_vector_store *s, size_t n, const steme_hash *ids,
                              const float *vecs)
{
    if (!s)
        return STEME_E_INVALID;
    if (!ids || !vecs || n == 0)
        return steme_errslot_set(&s->vs_errs, STEME_E_INVALID, "vector store insert: NULL or empty");
    uint32_t dim = s->vs_opts.dim;
    for (size_t i = 0; i < n; i++) {
        const char *why = NULL;
        if (hnsw_check_vector(&s->vs_hot->g, vecs + i * dim, &why) != STEME_OK)
            return steme_errslot_set(&s->vs_errs, STEME_E_INVALID, "vector store insert: vector %zu: %s",
                                     i, why);
    }
    size_t rec_len = VS_REC_HEAD + sizeof(float) * dim;
    uint8_t *buf = malloc(n * rec_len);
    const void **recs = malloc(n * sizeof *recs);
    size_t *lens = malloc(n * sizeof *lens);
    int rc;
    if (!buf || !recs || !lens) {
        rc = steme_errslot_set(&s->vs_errs, STEME_E_NOMEM, "vector store insert: out of memory");
    } else {
        for (size_t i = 0; i < n; i++) {
            lens[i] = encode_insert(buf + i * rec_len, &ids[i], vecs + i * dim, dim);
            recs[i] = buf + i * rec_len;
        }
        rc = write_records(s, n, recs, lens);
    }
    free(buf);
    free(recs);
    free(lens);
    return rc;
}

int steme_vector_store_delete(steme_vector_store *s, const steme_hash *id)
{
    if (!s)
        return STEME_E_INVALID;
    if (!id)
        return steme_errslot_set(&s->vs_errs, STEME_E_INVALID, "vector store delete: NULL id");
    uint8_t rec[VS_REC_HEAD] = {VS_TAG, VS_OP_DELETE};
    memcpy(rec + 8, id->bytes, STEME_HASH_LEN);
    const void *recs[1] = {rec};
    size_t lens[1] = {sizeof rec};
    return write_records(s, 1, recs, lens);
}
