/*
 * srv_index.c - the database's two search indexes as `steme serve` holds
 * them: the vector index (DIR/vectors, a steme_vector_store) and the visual
 * index (DIR/visual, a steme_pvisual). They live beside the database, not
 * inside it, exactly where the CLI keeps them, so that `steme similar add` /
 * `steme visual add` and the server share one index (not at the same time:
 * each index's log admits one process, the other gets STEME_E_BUSY).
 *
 * Vector index configuration. A vector store fixes its dimension, metric,
 * storage mode and HNSW parameters when created; they are kept in the
 * database (steme/vector_meta.h, record STEME_VECTOR_META_DEFAULT), as
 * src/cli/cmd_similar.c keeps them, and the store is opened with those and
 * max_elements 2^20 (the CLI's). Without the record there is no index yet;
 * the first add creates it (the dimension is the added vector's, the metric
 * the request's or cosine, as the CLI's default, the rest the index
 * defaults). The record is written through the database's log (durable on
 * return) before the store is opened: a vector acknowledged afterwards can
 * never outlive the record of its dimension.
 *
 * Databases made before kept dimension and metric in DIR/vectors/cli.conf,
 * two text lines "dim N\nmetric l2|cosine|ip\n": when the database has no
 * record, that file is imported once at start (the same reading as
 * steme_vector_meta_read_legacy, as the CLI's) and then left alone. A damaged
 * one stops the start (the server will not guess a dimension).
 *
 * Lifetime and threads: the visual index is opened at start (creating
 * DIR/visual, as the CLI does on first use) and both are closed after the
 * HTTP workers have stopped. On a shared (postgres://) database the indexes
 * also catch up with the adds of other nodes (srv_catchup.c): adds go
 * through srv_index_vector_add / srv_index_visual_add, which log them in
 * the database first, and the index record is created only if absent
 * (steme_index_log_claim_vector_meta), so that every node opens the same
 * shape. The vector store pointer is published once
 * (release store after dim/metric are set; handlers load it with acquire),
 * so a request never sees a store without its configuration; creation is
 * serialised by a mutex.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "server/srv_catchup.h"
#include "server/srv_int.h"
#include "steme/index_log.h"
#include "steme/vector_meta.h"

/* Indexed by steme_vector_metric, as metric_names in cmd_similar.c. */
static const char *const metric_names[] = {NULL, "l2", "cosine", "ip"};

/* As the CLI (cmd_similar.c): reserve address space for this many nodes. */
#define SRV_VECTOR_MAX_ELEMENTS (1u << 20)

const char *srv_metric_name(int metric)
{
    return metric >= 1 && metric <= 3 ? metric_names[metric] : "?";
}

int srv_metric_parse(const char *name)
{
    for (int i = 1; i <= 3; i++)
        if (name && strcmp(name, metric_names[i]) == 0)
            return i;
    return 0;
}

/* Read an old DIR/vectors/cli.conf into *m (the index defaults for the
 * rest, created_at its mtime): STEME_OK, STEME_E_NOTFOUND when there is
 * none, STEME_E_CORRUPT when it does not parse. */
static int legacy_conf_read(const srv *s, steme_vector_meta *m, steme_error *err)
{
    return steme_vector_meta_read_legacy(s->vec.dir, m, err);
}

/* Write the index's record through the database's log. */
static int meta_put(srv *s, const steme_vector_meta *m, steme_error *err)
{
    int rc = steme_db_vector_meta_put(s->db, STEME_VECTOR_META_DEFAULT, m);
    if (rc != STEME_OK)
        return steme_err(err, rc, "%s", steme_db_errmsg(s->db));
    return STEME_OK;
}

static int store_open(srv *s, const steme_vector_meta *m, steme_error *err)
{
    steme_vector_options vo;
    steme_vector_options_init(&vo, m->dim);
    vo.metric = m->metric;
    vo.storage = m->storage;
    vo.M = m->M;
    vo.ef_construction = m->ef_construction;
    vo.ef_search = m->ef_search;
    vo.max_elements = SRV_VECTOR_MAX_ELEMENTS;
    steme_vector_store *vs;
    int rc = steme_vector_store_open(s->vec.dir, &vo, &vs, err);
    if (rc != STEME_OK)
        return rc;
    s->vec.dim = m->dim;
    s->vec.metric = (int)m->metric;
    atomic_store_explicit(&s->vec.store, vs, memory_order_release);
    return STEME_OK;
}

steme_vector_store *srv_vectors(srv *s)
{
    return atomic_load_explicit(&s->vec.store, memory_order_acquire);
}

int srv_vectors_create(srv *s, uint32_t dim, int metric, steme_error *err)
{
    if (!s->vec.dir[0])
        return steme_err(err, STEME_E_UNSUPPORTED, "this node keeps no local indexes "
                         "(start steme serve with --index-dir DIR)");
    pthread_mutex_lock(&s->vec.create_lock);
    int rc = STEME_OK;
    /* Another request may have created it meanwhile: the caller re-reads. */
    if (!srv_vectors(s)) {
        steme_vector_options vo;
        steme_vector_options_init(&vo, dim);
        steme_vector_meta m = {dim, (steme_vector_metric)metric, vo.storage, vo.M,
                               vo.ef_construction, vo.ef_search, srv_now_ms()}, in_force;
        if (mkdir(s->vec.dir, 0700) != 0 && errno != EEXIST)
            rc = steme_err(err, STEME_E_IO, "mkdir %s: %s", s->vec.dir, strerror(errno));
        else if (!steme_db_is_url(s->db_dir)) {
            if ((rc = meta_put(s, &m, err)) == STEME_OK)
                rc = store_open(s, &m, err);
        } else if ((rc = steme_index_log_claim_vector_meta(s->db, STEME_VECTOR_META_DEFAULT,
                                                           &m, &in_force)) != STEME_OK) {
            rc = steme_err(err, rc, "%s", steme_db_errmsg(s->db));
        } else {
            /* Another node's first add may have won with another shape:
             * open that one; the caller compares and refuses. */
            rc = store_open(s, &in_force, err);
        }
    }
    pthread_mutex_unlock(&s->vec.create_lock);
    return rc;
}

int srv_vectors_open_db(srv *s, steme_error *err)
{
    pthread_mutex_lock(&s->vec.create_lock);
    int rc = STEME_OK;
    if (!srv_vectors(s)) {
        steme_vector_meta m;
        rc = steme_db_vector_meta_get(s->db, STEME_VECTOR_META_DEFAULT, &m);
        if (rc != STEME_OK)
            steme_err(err, rc, "%s", steme_db_errmsg(s->db));
        else if (mkdir(s->vec.dir, 0700) != 0 && errno != EEXIST)
            rc = steme_err(err, STEME_E_IO, "mkdir %s: %s", s->vec.dir, strerror(errno));
        else
            rc = store_open(s, &m, err);
    }
    pthread_mutex_unlock(&s->vec.create_lock);
    return rc;
}

int srv_index_vector_add(srv *s, steme_vector_store *vs, const steme_hash *id, const float *vec)
{
    if (s->catchup)
        return srv_catchup_vector_add(s, id, vec);
    return steme_vector_store_insert(vs, 1, id, vec);
}

int srv_index_visual_add(srv *s, uint64_t phash, const steme_hash *id)
{
    if (s->catchup)
        return srv_catchup_visual_add(s, phash, id);
    return steme_pvisual_insert(s->visual, phash, id);
}

int srv_indexes_open(srv *s, steme_error *err)
{
    if (pthread_mutex_init(&s->vec.create_lock, NULL) != 0)
        return steme_err(err, STEME_E_NOMEM, "cannot create a mutex");
    s->vec.lock_ready = 1;
    s->vec.dir[0] = '\0';
    if (!s->index_dir)
        return STEME_OK; /* no local index directory: the index routes answer 503 */
    if (mkdir(s->index_dir, 0755) != 0 && errno != EEXIST)
        return steme_err(err, STEME_E_IO, "mkdir %s: %s", s->index_dir, strerror(errno));
    if ((size_t)snprintf(s->vec.dir, sizeof s->vec.dir, "%s/vectors", s->index_dir) >=
        sizeof s->vec.dir)
        return steme_err(err, STEME_E_INVALID, "index directory path too long");
    /* An index the database says exists but whose directory is gone must
     * be rebuilt in full by the catch-up, whatever its state file says. */
    struct stat st;
    int vectors_missing = stat(s->vec.dir, &st) != 0;
    steme_vector_meta m;
    int rc = steme_db_vector_meta_get(s->db, STEME_VECTOR_META_DEFAULT, &m);
    int fresh = rc == STEME_OK && vectors_missing;
    if (rc != STEME_OK && rc != STEME_E_NOTFOUND)
        steme_err(err, rc, "%s", steme_db_errmsg(s->db));
    if (rc == STEME_E_NOTFOUND && (rc = legacy_conf_read(s, &m, err)) == STEME_OK)
        rc = meta_put(s, &m, err);   /* imported once; cli.conf is not read again */
    if (rc == STEME_OK)
        rc = store_open(s, &m, err);
    else if (rc == STEME_E_NOTFOUND)
        rc = STEME_OK;   /* no vector index yet: the first add creates it */
    if (rc != STEME_OK) {
        char msg[STEME_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->message);
        return steme_err(err, rc, "vector index %s: %s", s->vec.dir, msg);
    }
    char vdir[SRV_PATH_MAX];
    if ((size_t)snprintf(vdir, sizeof vdir, "%s/visual", s->index_dir) >= sizeof vdir)
        return steme_err(err, STEME_E_INVALID, "index directory path too long");
    /* No visual index yet: this directory holds nothing, so on a shared
     * database the catch-up rebuilds both indexes from the whole log. */
    fresh |= stat(vdir, &st) != 0;
    if ((rc = steme_pvisual_open(vdir, NULL, &s->visual, NULL, err)) != STEME_OK) {
        char msg[STEME_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->message);
        return steme_err(err, rc, "visual index %s: %s", vdir, msg);
    }
    return srv_catchup_start(s, fresh, err);
}

void srv_indexes_close(srv *s)
{
    srv_catchup_stop(s);   /* no apply may run while the stores close */
    steme_vector_store_close(atomic_exchange(&s->vec.store, NULL));
    steme_pvisual_close(s->visual);
    s->visual = NULL;
    if (s->vec.lock_ready)
        pthread_mutex_destroy(&s->vec.create_lock);
    s->vec.lock_ready = 0;
}
