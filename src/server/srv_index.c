/*
 * srv_index.c - the database's two search indexes as `steme serve` holds
 * them: the vector index (DIR/vectors, a steme_vector_store) and the visual
 * index (DIR/visual, a steme_pvisual). They live beside the database, not
 * inside it, exactly where the CLI keeps them, so that `steme similar add` /
 * `steme visual add` and the server share one index (not at the same time:
 * each index's log admits one process, the other gets STEME_E_BUSY).
 *
 * Vector index configuration. A vector store fixes its dimension and metric
 * when created; the CLI records them in DIR/vectors/cli.conf, two text lines
 * "dim N\nmetric l2|cosine|ip\n", and opens the store with max_elements
 * 2^20. This file MUST stay compatible with src/cli/cmd_similar.c
 * (index_config and run_similar): same file, same format, same options.
 * Without cli.conf there is no index yet; the first add creates it (the
 * dimension is the added vector's, the metric the request's or cosine, as
 * the CLI's default). cli.conf is written to a temporary name, synced and
 * renamed, and the directory synced, before the store is opened: a vector
 * acknowledged afterwards can never outlive the record of its dimension.
 *
 * Lifetime and threads: the visual index is opened at start (creating
 * DIR/visual, as the CLI does on first use) and both are closed after the
 * HTTP workers have stopped. The vector store pointer is published once
 * (release store after dim/metric are set; handlers load it with acquire),
 * so a request never sees a store without its configuration; creation is
 * serialised by a mutex.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "server/srv_int.h"

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

static int conf_path(const srv *s, char *buf, size_t cap, const char *suffix)
{
    return (size_t)snprintf(buf, cap, "%s/cli.conf%s", s->vec.dir, suffix) < cap;
}

/* Read DIR/vectors/cli.conf: STEME_OK with dim/metric, STEME_E_NOTFOUND when
 * there is none, STEME_E_CORRUPT when it does not parse (cmd_similar.c's
 * reading, including its fscanf format, so both accept the same files). */
static int conf_read(const srv *s, uint32_t *dim, int *metric, steme_error *err)
{
    char path[SRV_PATH_MAX + 16];
    if (!conf_path(s, path, sizeof path, ""))
        return steme_err(err, STEME_E_INVALID, "database path too long");
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return STEME_E_NOTFOUND;
        return steme_err(err, STEME_E_IO, "open %s: %s", path, strerror(errno));
    }
    char name[16];
    unsigned d = 0;
    int ok = fscanf(f, "dim %u\nmetric %15s", &d, name) == 2;
    fclose(f);
    int m = ok ? srv_metric_parse(name) : 0;
    if (!ok || m == 0 || d == 0 || d > STEME_VECTOR_MAX_DIM)
        return STEME_CORRUPT(err, "%s is damaged (expected \"dim N\" and \"metric "
                             "l2|cosine|ip\")", path);
    *dim = d;
    *metric = m;
    return STEME_OK;
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Write cli.conf durably: tmp, fsync, rename, fsync the directory. */
static int conf_write(const srv *s, uint32_t dim, int metric, steme_error *err)
{
    char path[SRV_PATH_MAX + 16], tmp[SRV_PATH_MAX + 16];
    if (!conf_path(s, path, sizeof path, "") || !conf_path(s, tmp, sizeof tmp, ".tmp"))
        return steme_err(err, STEME_E_INVALID, "database path too long");
    if (mkdir(s->vec.dir, 0700) != 0 && errno != EEXIST)
        return steme_err(err, STEME_E_IO, "mkdir %s: %s", s->vec.dir, strerror(errno));
    FILE *f = fopen(tmp, "w");
    int bad = !f || fprintf(f, "dim %u\nmetric %s\n", dim, metric_names[metric]) < 0;
    bad |= f && fflush(f) != 0;
    bad |= f && fsync(fileno(f)) != 0;
    bad |= f && fclose(f) != 0;
    if (bad || rename(tmp, path) != 0 || fsync_path(s->vec.dir, O_RDONLY | O_DIRECTORY) != 0) {
        int e = errno;
        unlink(tmp);
        return steme_err(err, STEME_E_IO, "cannot write %s: %s", path, strerror(e));
    }
    return STEME_OK;
}

static int store_open(srv *s, uint32_t dim, int metric, steme_error *err)
{
    steme_vector_options vo;
    steme_vector_options_init(&vo, dim);
    vo.metric = (steme_vector_metric)metric;
    vo.max_elements = SRV_VECTOR_MAX_ELEMENTS;
    steme_vector_store *vs;
    int rc = steme_vector_store_open(s->vec.dir, &vo, &vs, err);
    if (rc != STEME_OK)
        return rc;
    s->vec.dim = dim;
    s->vec.metric = metric;
    atomic_store_explicit(&s->vec.store, vs, memory_order_release);
    return STEME_OK;
}

steme_vector_store *srv_vectors(srv *s)
{
    return atomic_load_explicit(&s->vec.store, memory_order_acquire);
}

int srv_vectors_create(srv *s, uint32_t dim, int metric, steme_error *err)
{
    pthread_mutex_lock(&s->vec.create_lock);
    int rc = STEME_OK;
    /* Another request may have created it meanwhile: the caller re-reads. */
    if (!srv_vectors(s) && (rc = conf_write(s, dim, metric, err)) == STEME_OK)
        rc = store_open(s, dim, metric, err);
    pthread_mutex_unlock(&s->vec.create_lock);
    return rc;
}

int srv_indexes_open(srv *s, steme_error *err)
{
    if ((size_t)snprintf(s->vec.dir, sizeof s->vec.dir, "%s/vectors", s->db_dir) >=
        sizeof s->vec.dir)
        return steme_err(err, STEME_E_INVALID, "database path too long");
    if (pthread_mutex_init(&s->vec.create_lock, NULL) != 0)
        return steme_err(err, STEME_E_NOMEM, "cannot create a mutex");
    s->vec.lock_ready = 1;
    uint32_t dim = 0;
    int metric = 0;
    int rc = conf_read(s, &dim, &metric, err);
    if (rc == STEME_OK)
        rc = store_open(s, dim, metric, err);
    else if (rc == STEME_E_NOTFOUND)
        rc = STEME_OK;   /* no vector index yet: the first add creates it */
    if (rc != STEME_OK) {
        char msg[STEME_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->message);
        return steme_err(err, rc, "vector index %s: %s", s->vec.dir, msg);
    }
    char vdir[SRV_PATH_MAX];
    if ((size_t)snprintf(vdir, sizeof vdir, "%s/visual", s->db_dir) >= sizeof vdir)
        return steme_err(err, STEME_E_INVALID, "database path too long");
    if ((rc = steme_pvisual_open(vdir, NULL, &s->visual, NULL, err)) != STEME_OK) {
        char msg[STEME_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->message);
        return steme_err(err, rc, "visual index %s: %s", vdir, msg);
    }
    return STEME_OK;
}

void srv_indexes_close(srv *s)
{
    steme_vector_store_close(atomic_exchange(&s->vec.store, NULL));
    steme_pvisual_close(s->visual);
    s->visual = NULL;
    if (s->vec.lock_ready)
        pthread_mutex_destroy(&s->vec.create_lock);
    s->vec.lock_ready = 0;
}
