/*
 * srv_catchup.c - index catch-up across nodes (srv_catchup.h): this node's
 * adds go to the index log first, the tailer thread applies everyone's.
 *
 * State file INDEX_DIR/catchup.state (20 bytes, little-endian), so that a
 * restarted node rescans only from where it stopped:
 *
 *     off  size  field
 *       0     4  magic "STCU"
 *       4     4  version = 1
 *       8     8  lower: every log entry with ts < lower is in this
 *                directory's indexes (or was deliberately skipped)
 *      16     4  CRC-32C of bytes 0..15
 *
 * Valid when magic, version, length and CRC match. It is written
 * atomically (tmp, fsync, rename) at most once a second and at stop, only
 * after the adds it covers returned from the index stores, which make them
 * durable before returning. A missing or unusable file, or an index
 * directory found empty at start, means "from the beginning of the log":
 * that is the rebuild of a fresh node. Applying an entry twice is harmless
 * (see below), so an old state file costs only a longer first scan.
 *
 * Applying an entry (one mutex, held by the tailer and by this node's own
 * adds): if the applied map holds this (kind, id, phash) at a key >= the
 * entry's, skip it (applied already, or a newer vector for the id won);
 * else insert (a vector replaces the id's previous one; a visual pair
 * already present is fine) and record the key. Because the map is
 * consulted in key order, an older vector found late never overrides a
 * newer one, and the last vector in key order is the one every node keeps.
 * An insert that fails (the vector index full and compacting, no vector
 * index record yet) is not recorded and holds the next scan's start at
 * that entry's ts, so it is retried every poll until it goes in. An entry
 * that can never apply (a vector of another shape than this index, or
 * one the index refuses as invalid) is skipped with a message on stderr.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "server/srv_catchup.h"
#include "server/srv_int.h"
#include "steme/hash.h"

#define STATE_LEN 20
#define STATE_VERSION 1u
#define STATE_SAVE_EVERY_MS 1000u
#define PRUNE_EVERY_POLLS 16u
#define WARN_EVERY_MS 10000u
/* Index log compaction (steme_index_log_compact): every node, every ten
 * minutes plus a node-dependent offset (so nodes rarely overlap; overlap is
 * harmless), drops entries older than an hour that a newer entry of the
 * same (kind, id, phash) supersedes. An hour is far behind the rescan
 * window, so every tailer has had its chance to see them. */
#define COMPACT_EVERY_MS (10u * 60u * 1000u)
#define COMPACT_AGE_MS (60u * 60u * 1000u)

struct srv_catchup {
    steme_index_log *log;
    pthread_mutex_t lock;           /* the indexes' apply order and the map */
    srv_applied_map applied;
    pthread_mutex_t wake_lock;
    pthread_cond_t wake;
    int stop;
    int thread_started;
    pthread_t thread;
    uint64_t lower;                 /* the next scan starts at this ts */
    uint64_t saved_lower, saved_at_ms;
    _Atomic uint64_t warned_at_ms;   /* handlers and the tailer both warn */
    unsigned polls;
    char state_path[SRV_PATH_MAX + 32];
};

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}



/* The saved lower bound, or 0 (from the start) when there is none usable. */
static uint64_t state_load(const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    steme_error e;
    int rc = steme_read_file(path, 64, &data, &len, &e);
    uint64_t lower = 0;
    if (rc == STEME_OK && len == STATE_LEN && memcmp(data, "STCU", 4) == 0 &&
        bytes_get_le(data + 4, 4) == STATE_VERSION &&
        bytes_get_le(data + 16, 4) == steme_crc32c(0, data, 16))
        lower = bytes_get_le(data + 8, 8);
    else if (rc != STEME_E_NOTFOUND)
        fprintf(stderr, "steme serve: %s is unusable (%s): rebuilding the indexes from the "
                "whole index log\n", path, rc == STEME_OK ? "damaged" : e.message);
    free(data);
    return lower;
}

static void state_save(struct srv_catchup *c, uint64_t now_ms)
{
    if (c->lower == c->saved_lower)
        return;
    uint8_t buf[STATE_LEN];
    memcpy(buf, "STCU", 4);
    bytes_put_le(buf + 4, STATE_VERSION, 4);
    bytes_put_le(buf + 8, c->lower, 8);
    bytes_put_le(buf + 16, steme_crc32c(0, buf, 16), 4);
    steme_error e;
    if (steme_write_file_atomic(c->state_path, buf, sizeof buf, 0, &e) != STEME_OK) {
        fprintf(stderr, "steme serve: saving %s: %s\n", c->state_path, e.message);
        return;   /* harmless: the next start rescans from an older point */
    }
    c->saved_lower = c->lower;
    c->saved_at_ms = now_ms;
}

/* Rate-limited stderr line: a database that is down must not flood the log. */
__attribute__((format(printf, 2, 3))) static void warn(struct srv_catchup *c,
                                                       const char *fmt, ...)
{
    uint64_t now = clock_ms(CLOCK_MONOTONIC), last = atomic_load(&c->warned_at_ms);
    if ((last && now - last < WARN_EVERY_MS) ||
        !atomic_compare_exchange_strong(&c->warned_at_ms, &last, now))
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "steme serve: index catch-up: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* 1 if the map says e is applied here already, or superseded by a newer
 * entry for the same (kind, id, phash). Caller holds c->lock. */
static int already_applied(struct srv_catchup *c, const steme_index_log_entry *e)
{
    const steme_index_log_pos *seen = srv_applied_get(&c->applied, e);
    return seen && srv_pos_cmp(seen, &e->pos) >= 0;
}

/* Record e as applied; an entry refused for good (another shape, a vector
 * the index rejects) is recorded too, with a message, so that it does not
 * hold every later scan back. Caller holds c->lock. */
static int record(struct srv_catchup *c, const steme_index_log_entry *e)
{
    if (srv_applied_put(&c->applied, e) != STEME_OK) {
        warn(c, "out of memory recording an applied entry (it will be applied again)");
        return STEME_E_NOMEM;
    }
    return STEME_OK;
}

/* The vector index, opened from the database's record if another node
 * created it; STEME_OK with *vs, or a status to retry on. */
static int vectors_for(srv *s, struct srv_catchup *c, steme_vector_store **vs)
{
    steme_error err;
    int rc = STEME_OK;
    if (!srv_vectors(s) && (rc = srv_vectors_open_db(s, &err)) != STEME_OK)
        warn(c, "opening the vector index for an entry: %s", err.message);
    *vs = srv_vectors(s);
    return rc;
}

static int wrong_shape(srv *s, struct srv_catchup *c, const steme_index_log_entry *e)
{
    if (e->dim == s->vec.dim && (int)e->metric == s->vec.metric)
        return 0;
    warn(c, "skipped a %u-dimensional %s vector: this index holds %u-dimensional %s vectors",
         e->dim, srv_metric_name((int)e->metric), s->vec.dim, srv_metric_name(s->vec.metric));
    return 1;
}

/* Insert one entry into its index. Caller holds c->lock and has checked
 * the map. *inserted (optional): the insert's own status. */
static int insert_one(srv *s, struct srv_catchup *c, const steme_index_log_entry *e,
                      int *inserted)
{
    int rc;
    if (e->kind == STEME_INDEX_LOG_VECTOR) {
        steme_vector_store *vs;
        if ((rc = vectors_for(s, c, &vs)) != STEME_OK)
            return rc;
        if (wrong_shape(s, c, e))
            return record(c, e);
        rc = steme_vector_store_insert(vs, 1, &e->id, e->vec);
        if (rc == STEME_E_FULL)
            (void)steme_vector_store_build_start(vs);   /* retried once compacted */
        if (rc != STEME_OK)
            warn(c, "vector insert: %s", steme_vector_store_errmsg(vs));
    } else {
        rc = steme_pvisual_insert(s->visual, e->phash, &e->id);
        if (rc != STEME_OK && rc != STEME_E_EXISTS)
            warn(c, "visual insert: %s", steme_pvisual_errmsg(s->visual));
    }
    if (inserted)
        *inserted = rc;
    if (rc == STEME_OK || rc == STEME_E_EXISTS || rc == STEME_E_INVALID)
        return record(c, e);   /* INVALID: refused for good (message above) */
    return rc;
}

/* ---- one poll: the scan's vector entries are inserted in batches (one
 * durable write of the vector index per batch, not per entry: that is
 * what makes a rebuild from a long log bearable). c->lock is held for the
 * whole scan, so this node's own adds cannot slip between a map check and
 * the batch's insert (which could put an older vector over a newer one). */

#define BATCH_MAX 256

typedef struct poll_ctx {
    srv *s;
    uint64_t min_failed_ts;
    uint64_t failed;
    size_t n;                                   /* pending vector entries */
    steme_index_log_entry pending[BATCH_MAX];   /* vec points into vecs */
    steme_hash ids[BATCH_MAX];
    float *vecs;                                /* BATCH_MAX x dim, or NULL */
    uint32_t vecs_dim;
} poll_ctx;

static void failed_at(poll_ctx *p, const steme_index_log_entry *e)
{
    p->failed++;
    if (e->pos.ts < p->min_failed_ts)
        p->min_failed_ts = e->pos.ts;
}

static void flush(poll_ctx *p)
{
    struct srv_catchup *c = p->s->catchup;
    if (p->n == 0)
        return;
    steme_vector_store *vs = srv_vectors(p->s);
    if (steme_vector_store_insert(vs, p->n, p->ids, p->vecs) == STEME_OK) {
        for (size_t i = 0; i < p->n; i++)
            (void)record(c, &p->pending[i]);
    } else {
        /* One by one: each gets its own verdict (a vector refused for good
         * is skipped, a full index is retried at the next poll). */
        for (size_t i = 0; i < p->n; i++)
            if (insert_one(p->s, c, &p->pending[i], NULL) != STEME_OK)
                failed_at(p, &p->pending[i]);
    }
    p->n = 0;
}

static int apply_scanned(void *ctx, const steme_index_log_entry *e)
{
    poll_ctx *p = ctx;
    struct srv_catchup *c = p->s->catchup;
    if (already_applied(c, e))
        return 0;
    steme_vector_store *vs;
    if (e->kind != STEME_INDEX_LOG_VECTOR) {
        if (insert_one(p->s, c, e, NULL) != STEME_OK)
            failed_at(p, e);
        return 0;
    }
    if (vectors_for(p->s, c, &vs) != STEME_OK) {
        failed_at(p, e);
        return 0;
    }
    if (wrong_shape(p->s, c, e)) {
        (void)record(c, e);
        return 0;
    }
    if (!p->vecs || p->vecs_dim != e->dim) {
        flush(p);
        free(p->vecs);
        p->vecs = malloc((size_t)BATCH_MAX * e->dim * sizeof *p->vecs);
        p->vecs_dim = p->vecs ? e->dim : 0;
        if (!p->vecs) {
            failed_at(p, e);
            return 0;
        }
    }
    p->pending[p->n] = *e;
    p->pending[p->n].vec = p->vecs + p->n * e->dim;
    memcpy(p->vecs + p->n * e->dim, e->vec, e->dim * sizeof *p->vecs);
    p->ids[p->n] = e->id;
    if (++p->n == BATCH_MAX)
        flush(p);
    return 0;
}

/* One scan from c->lower; then the next scan's start: W before this one's
 * start, or the oldest entry that failed to apply if that is earlier. */
static int poll_once(srv *s)
{
    struct srv_catchup *c = s->catchup;
    uint64_t start = clock_ms(CLOCK_REALTIME);
    poll_ctx *p = calloc(1, sizeof *p);
    if (!p)
        return STEME_E_NOMEM;
    p->s = s;
    p->min_failed_ts = UINT64_MAX;
    steme_index_log_scan_stats st;
    pthread_mutex_lock(&c->lock);
    int rc = steme_index_log_scan(c->log, c->lower, apply_scanned, p, &st);
    flush(p);
    uint64_t min_failed = p->min_failed_ts;
    free(p->vecs);
    free(p);
    if (rc != STEME_OK) {
        pthread_mutex_unlock(&c->lock);
        warn(c, "scanning the index log: %s", steme_index_log_errmsg(c->log));
        return rc;
    }
    uint64_t next = start > SRV_CATCHUP_WINDOW_MS ? start - SRV_CATCHUP_WINDOW_MS : 0;
    if (min_failed < next)
        next = min_failed;
    c->lower = next;
    /* Prune after the first scan too: a rebuild's map holds the whole log. */
    if ((c->polls++ % PRUNE_EVERY_POLLS == 0) && srv_applied_prune(&c->applied, next) != STEME_OK)
        warn(c, "out of memory pruning the applied map (kept as it was)");
    pthread_mutex_unlock(&c->lock);
    if (st.damaged)
        warn(c, "%llu damaged index log entries skipped (last: %s)",
             (unsigned long long)st.damaged, steme_index_log_errmsg(c->log));
    uint64_t now = clock_ms(CLOCK_MONOTONIC);
    if (now - c->saved_at_ms >= STATE_SAVE_EVERY_MS)
        state_save(c, now);
    return STEME_OK;
}

static void compact_log(struct srv_catchup *c)
{
    uint64_t now = clock_ms(CLOCK_REALTIME);
    steme_index_log_compact_stats st;
    if (now > COMPACT_AGE_MS &&
        steme_index_log_compact(c->log, now - COMPACT_AGE_MS, &st) != STEME_OK)
        warn(c, "compacting the index log: %s", steme_index_log_errmsg(c->log));
}

static void *tail_main(void *arg)
{
    srv *s = arg;
    struct srv_catchup *c = s->catchup;
    uint64_t next_compact = clock_ms(CLOCK_MONOTONIC) + COMPACT_EVERY_MS +
                            steme_index_log_node(c->log) % 60000u;
    pthread_mutex_lock(&c->wake_lock);
    while (!c->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)SRV_CATCHUP_POLL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!c->stop && pthread_cond_timedwait(&c->wake, &c->wake_lock, &until) != ETIMEDOUT) {
        }
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->wake_lock);
        (void)poll_once(s);   /* failures are reported (rate-limited) and retried */
        if (clock_ms(CLOCK_MONOTONIC) >= next_compact) {
            compact_log(c);   /* the indexes are untouched: no lock needed */
            next_compact = clock_ms(CLOCK_MONOTONIC) + COMPACT_EVERY_MS;
        }
        pthread_mutex_lock(&c->wake_lock);
    }
    pthread_mutex_unlock(&c->wake_lock);
    return NULL;
}

static void catchup_free(struct srv_catchup *c)
{
    steme_index_log_close(c->log);
    srv_applied_free(&c->applied);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->wake_lock);
    pthread_cond_destroy(&c->wake);
    free(c);
}

int srv_catchup_start(srv *s, int fresh, steme_error *err)
{
    s->catchup = NULL;
    if (!steme_db_is_url(s->db_dir) || !s->index_dir)
        return STEME_OK;   /* one process owns a local database's indexes */
    struct srv_catchup *c = calloc(1, sizeof *c);
    if (!c)
        return steme_err(err, STEME_E_NOMEM, "index catch-up: out of memory");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int ok = pthread_mutex_init(&c->lock, NULL) == 0 &&
             pthread_mutex_init(&c->wake_lock, NULL) == 0 &&
             pthread_cond_init(&c->wake, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok) {
        free(c);
        return steme_err(err, STEME_E_NOMEM, "index catch-up: cannot create its locks");
    }
    int rc = steme_index_log_open_db(s->db, NULL, &c->log, err);
    if (rc != STEME_OK) {
        catchup_free(c);
        return rc;
    }
    snprintf(c->state_path, sizeof c->state_path, "%s/%s", s->index_dir,
             SRV_CATCHUP_STATE_FILE);
    /* A fresh directory's stale state file (left beside a lost index) must
     * not outlive this start: until the first full scan is saved, a crash
     * must mean "rebuild" again. */
    if (fresh && unlink(c->state_path) != 0 && errno != ENOENT)
        fprintf(stderr, "steme serve: removing %s: %s\n", c->state_path, strerror(errno));
    c->lower = fresh ? 0 : state_load(c->state_path);
    c->saved_lower = c->lower;
    c->saved_at_ms = clock_ms(CLOCK_MONOTONIC);
    s->catchup = c;
    /* Catch up (a fresh node: rebuild) before the node serves. */
    if (poll_once(s) == STEME_OK)
        state_save(c, clock_ms(CLOCK_MONOTONIC));
    if (pthread_create(&c->thread, NULL, tail_main, s) != 0) {
        s->catchup = NULL;
        catchup_free(c);
        return steme_err(err, STEME_E_IO, "index catch-up: cannot start its thread");
    }
    c->thread_started = 1;
    return STEME_OK;
}

void srv_catchup_stop(srv *s)
{
    struct srv_catchup *c = s->catchup;
    if (!c)
        return;
    pthread_mutex_lock(&c->wake_lock);
    c->stop = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->wake_lock);
    if (c->thread_started)
        pthread_join(c->thread, NULL);
    state_save(c, clock_ms(CLOCK_MONOTONIC));
    s->catchup = NULL;
    catchup_free(c);
}

/* Log first (durable in the database), then apply here: an add is never
 * applied on this node alone. If the local insert fails, the entry is in
 * the log and the tailer applies it later (it was not recorded). */
static int own_add(srv *s, steme_index_log_entry *e, int *inserted)
{
    struct srv_catchup *c = s->catchup;
    int rc = steme_index_log_append(c->log, e);
    if (rc != STEME_OK) {
        fprintf(stderr, "steme serve: index log: %s\n", steme_index_log_errmsg(c->log));
        return rc;
    }
    pthread_mutex_lock(&c->lock);
    const steme_index_log_pos *seen = srv_applied_get(&c->applied, e);
    if (!seen || srv_pos_cmp(seen, &e->pos) < 0) {
        rc = insert_one(s, c, e, inserted);
    } else if (inserted) {
        /* The tailer got here first: if it applied this very entry, this
         * request is still the one that added it. */
        *inserted = srv_pos_cmp(seen, &e->pos) == 0 ? STEME_OK : STEME_E_EXISTS;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int srv_catchup_vector_add(srv *s, const steme_hash *id, const float *vec)
{
    steme_index_log_entry e;
    memset(&e, 0, sizeof e);
    e.kind = STEME_INDEX_LOG_VECTOR;
    e.id = *id;
    e.dim = s->vec.dim;
    e.metric = (uint32_t)s->vec.metric;
    e.vec = vec;
    return own_add(s, &e, NULL);
}

int srv_catchup_visual_add(srv *s, uint64_t phash, const steme_hash *id)
{
    steme_index_log_entry e;
    memset(&e, 0, sizeof e);
    e.kind = STEME_INDEX_LOG_VISUAL;
    e.id = *id;
    e.phash = phash;
    int inserted = STEME_E_EXISTS;
    int rc = own_add(s, &e, &inserted);
    return rc == STEME_OK ? inserted : rc;
}
