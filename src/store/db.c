/*
 * db.c - opening, replaying, checkpointing and closing a steme database
 * (see steme/db.h for the directory layout and the write path).
 *
 * Why a shared/exclusive lock around "log then apply": the ingest cursor
 * must never pass a record whose apply has not finished, or a crash would
 * leave that record in the log but never in the engines. Writers take the
 * lock shared (they run in parallel and share WAL syncs); a checkpoint takes
 * it exclusively for the moment it reads the log's end, syncs the engines
 * and writes the cursor. Replay after a crash starts at the cursor and
 * re-applies idempotent batches, so applying a record twice is harmless.
 *
 * pg mode (a postgres:// URL instead of a directory): see open_pg below.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/fsutil.h"
#include "steme/keys.h"
#include "store/db_int.h"
#include "store/vote_behind.h"

#define CURSOR_NAME "ingest"

void steme_db_options_init(steme_db_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->create_if_missing = 1;
    o->engine = STEME_KV_HYBRID;
    steme_kv_options_init(&o->kv);
    steme_wal_options_init(&o->wal);
    o->checkpoint_bytes = 64u << 20;
}

static int cursor_key(uint8_t *buf, size_t cap, size_t *len)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_CURSOR;
    k.name = (const uint8_t *)CURSOR_NAME;
    k.name_len = sizeof CURSOR_NAME - 1;
    return steme_key_encode(&k, buf, cap, len, NULL);
}

static int read_cursor(steme_db *db, uint64_t *offset)
{
    uint8_t key[64];
    size_t klen;
    int rc = cursor_key(key, sizeof key, &klen);
    if (rc != STEME_OK)
        return rc;
    rc = steme_kv_get_u64(db->db_kv, key, klen, offset);
    if (rc == STEME_E_NOTFOUND) {
        *offset = 0;
        return STEME_OK;
    }
    return rc;
}

/* Re-apply every log record from the ingest cursor to the log's end. */
static int replay(steme_db *db, uint64_t begin, steme_error *err)
{
    uint64_t from;
    int rc = read_cursor(db, &from);
    if (rc != STEME_OK)
        return steme_err(err, rc, "reading the ingest cursor: %s", steme_kv_errmsg(db->db_kv));
    if (from < begin)
        from = begin; /* segments below a checkpoint are gone, and applied */
    steme_wal_cursor *c = NULL;
    rc = steme_wal_cursor_open(db->db_wal, from, &c);
    if (rc != STEME_OK)
        return steme_err(err, rc, "replay from offset %llu: %s", (unsigned long long)from,
                         steme_wal_errmsg(db->db_wal));
    const uint8_t *p;
    size_t len;
    uint64_t off;
    while ((rc = steme_wal_cursor_next(c, &p, &len, &off)) == STEME_OK) {
        if (len < 1) {
            rc = STEME_CORRUPT(err, "log record at %llu is empty", (unsigned long long)off);
            break;
        }
        rc = db_apply(db, p[0], p + 1, len - 1, NULL);
        if (rc != STEME_OK) {
            steme_err(err, rc, "replaying log record at %llu: %s", (unsigned long long)off,
                      steme_db_errmsg(db));
            break;
        }
    }
    steme_wal_cursor_close(c);
    return rc == STEME_E_END ? STEME_OK : rc;
}

int steme_db_is_url(const char *dir)
{
    return dir && (strncmp(dir, "postgres://", 11) == 0 || strncmp(dir, "postgresql://", 13) == 0);
}

/* The locks and error slot every handle has. STEME_OK or STEME_E_NOMEM. */
static int handle_init(steme_db *db)
{
    if (steme_errslot_init(&db->db_err) != STEME_OK)
        return STEME_E_NOMEM;
    if (pthread_rwlock_init(&db->db_apply_lock, NULL) != 0) {
        steme_errslot_destroy(&db->db_err);
        return STEME_E_NOMEM;
    }
    pthread_mutex_init(&db->db_checkpoint_lock, NULL);
    for (int i = 0; i < DB_STRIPES; i++)
        pthread_mutex_init(&db->db_stripes[i], NULL);
    return STEME_OK;
}

static void handle_destroy(steme_db *db)
{
    pthread_rwlock_destroy(&db->db_apply_lock);
    pthread_mutex_destroy(&db->db_checkpoint_lock);
    for (int i = 0; i < DB_STRIPES; i++)
        pthread_mutex_destroy(&db->db_stripes[i]);
    steme_errslot_destroy(&db->db_err);
}

/*
 * pg mode: the database is a table on a PostgreSQL-wire server, shared by
 * every node that opens the same URL and table. No directory, no identity
 * file, no WAL, no replay: each write is one engine transaction whose
 * synced commit is the durability point. (A local log could not be
 * replayed safely anyway: another node may have written since.)
 */
static int open_pg(const char *url, const steme_db_options *o, steme_db **out, steme_error *err)
{
    steme_db *db = calloc(1, sizeof *db);
    if (!db || !(db->db_dir = strdup(url))) {
        free(db);
        return steme_err(err, STEME_E_NOMEM, "db open: out of memory");
    }
    if (handle_init(db) != STEME_OK) {
        free(db->db_dir);
        free(db);
        return steme_err(err, STEME_E_NOMEM, "db open: cannot create locks");
    }
    db->db_shared = 1;
    atomic_store(&db->db_jitter, (uint64_t)(uintptr_t)db ^ (uint64_t)getpid() << 32);
    steme_kv_options kvo = o->kv;
    kvo.create_if_missing = o->create_if_missing;
    int rc = steme_kv_open(STEME_KV_PG, url, &kvo, &db->db_kv, err);
    if (rc != STEME_OK) {
        handle_destroy(db);
        free(db->db_dir);
        free(db);
        return rc == STEME_E_INVALID && !o->create_if_missing ? STEME_E_NOTFOUND : rc;
    }
    *out = db;
    return STEME_OK;
}

int steme_db_open(const char *dir, const steme_db_options *opts, steme_db **out,
                  steme_error *err)
{
    if (out)
        *out = NULL;
    if (!dir || !*dir || !out)
        return steme_err(err, STEME_E_INVALID, "db open: NULL or empty argument");
    steme_db_options o;
    if (opts)
        o = *opts;
    else
        steme_db_options_init(&o);
    if (steme_db_is_url(dir))
        return open_pg(dir, &o, out, err);
    if (o.engine == STEME_KV_PG)
        return steme_err(err, STEME_E_INVALID,
                         "db open: engine pg needs a postgres:// or postgresql:// URL, not a "
                         "directory");

    steme_db *db = calloc(1, sizeof *db);
    char *waldir = NULL, *kvdir = NULL;
    int rc = STEME_OK, have_lock = 0, have_slot = 0;
    if (!db || !(db->db_dir = strdup(dir)) || !(waldir = steme_path_join(dir, "wal")) ||
        !(kvdir = steme_path_join(dir, "kv"))) {
        rc = steme_err(err, STEME_E_NOMEM, "db open: out of memory");
        goto fail;
    }
    steme_kv_engine engine = o.engine;
    rc = db_meta_check(dir, &engine, err);
    if (rc == STEME_E_NOTFOUND && o.create_if_missing) {
        if ((rc = steme_mkdirs(dir, 0, err)) != STEME_OK ||
            (rc = db_meta_create(dir, o.engine, err)) != STEME_OK)
            goto fail;
        engine = o.engine;
    } else if (rc != STEME_OK) {
        goto fail;
    }
    if ((rc = steme_errslot_init(&db->db_err)) != STEME_OK) {
        steme_err(err, rc, "db open: out of memory");
        goto fail;
    }
    have_slot = 1;
    if (pthread_rwlock_init(&db->db_apply_lock, NULL) != 0) {
        rc = steme_err(err, STEME_E_NOMEM, "db open: cannot create lock");
        goto fail;
    }
    have_lock = 1;
    pthread_mutex_init(&db->db_checkpoint_lock, NULL);
    for (int i = 0; i < DB_STRIPES; i++)
        pthread_mutex_init(&db->db_stripes[i], NULL);
    db->db_checkpoint_bytes = o.checkpoint_bytes;
    o.kv.create_if_missing = 1;
    if ((rc = steme_kv_open(engine, engine == STEME_KV_MEM ? NULL : kvdir, &o.kv, &db->db_kv,
                            err)) != STEME_OK)
        goto fail;
    steme_wal_recovery rec;
    o.wal.on_durable = db_on_durable;   /* grouped applies (db_group.c) */
    o.wal.on_durable_ctx = db;
    if ((rc = steme_wal_open(waldir, &o.wal, &db->db_wal, &rec, err)) != STEME_OK)
        goto fail;
    if ((rc = replay(db, rec.first_offset, err)) != STEME_OK)
        goto fail;
    /* Votes acknowledged at durability from now on; if the applier thread
     * cannot start, they are applied before acknowledgement (same results). */
    (void)vote_behind_start(db);
    free(waldir);
    free(kvdir);
    *out = db;
    return STEME_OK;
fail:
    if (db) {
        steme_wal_close(db->db_wal);
        steme_kv_close(db->db_kv);
        if (have_lock) {
            pthread_rwlock_destroy(&db->db_apply_lock);
            pthread_mutex_destroy(&db->db_checkpoint_lock);
            for (int i = 0; i < DB_STRIPES; i++)
                pthread_mutex_destroy(&db->db_stripes[i]);
        }
        if (have_slot)
            steme_errslot_destroy(&db->db_err);
        free(db->db_dir);
        free(db);
    }
    free(waldir);
    free(kvdir);
    return rc;
}

int steme_db_checkpoint(steme_db *db)
{
    if (!db)
        return STEME_E_INVALID;
    if (db_shared(db))
        return STEME_OK; /* pg mode: no log; every commit is already durable */
    uint8_t key[64];
    size_t klen;
    int rc = cursor_key(key, sizeof key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "checkpoint: cannot build the cursor key");
    /* One checkpoint at a time, so a slower one never writes an older cursor
     * over a newer one. */
    pthread_mutex_lock(&db->db_checkpoint_lock);
    /* The exclusive lock is a barrier only: once we hold it no writer is
     * between its log append and its apply, so every record below `end` has
     * been applied. Writers resume at once; they only add records >= end. */
    pthread_rwlock_wrlock(&db->db_apply_lock);
    uint64_t end = steme_wal_end_offset(db->db_wal);
    atomic_store(&db->db_logged_since_checkpoint, 0);
    pthread_rwlock_unlock(&db->db_apply_lock);
    /* Votes below `end` were acknowledged (their writers left the barrier),
     * but may still be on their way to the engine: wait for them. */
    if ((rc = db_votes_fence(db)) != STEME_OK) {
        pthread_mutex_unlock(&db->db_checkpoint_lock);
        return rc; /* the log keeps them; the next open replays them */
    }
    /* Make the engines durable (this flushes the writes made without the
     * engine's own log), then move the cursor, then drop old log segments. */
    rc = steme_kv_sync(db->db_kv);
    if (rc == STEME_OK) {
        uint8_t v[8];
        bytes_put_le(v, end, 8);
        rc = steme_kv_put(db->db_kv, key, klen, v, sizeof v, STEME_KV_SYNC);
    }
    if (rc != STEME_OK) {
        pthread_mutex_unlock(&db->db_checkpoint_lock);
        return db_fail(db, rc, "checkpoint: %s", steme_kv_errmsg(db->db_kv));
    }
    rc = steme_wal_checkpoint(db->db_wal, end);
    pthread_mutex_unlock(&db->db_checkpoint_lock);
    if (rc != STEME_OK)
        return db_fail(db, rc, "checkpoint: %s", steme_wal_errmsg(db->db_wal));
    return STEME_OK;
}

void steme_db_close(steme_db *db)
{
    if (!db)
        return;
    /* Drain the votes behind the log first; if their engine write failed,
     * keep the log's cursor where it is so the next open replays them. */
    if (vote_behind_stop(db) == STEME_OK)
        steme_db_checkpoint(db); /* best effort: replay covers a failure */
    steme_wal_close(db->db_wal);
    steme_kv_close(db->db_kv);
    vote_cache_free(atomic_load(&db->db_vote_cache));
    free(db->db_vote_scratch);
    pthread_rwlock_destroy(&db->db_apply_lock);
    pthread_mutex_destroy(&db->db_checkpoint_lock);
    for (int i = 0; i < DB_STRIPES; i++)
        pthread_mutex_destroy(&db->db_stripes[i]);
    steme_errslot_destroy(&db->db_err);
    free(db->db_dir);
    free(db);
}

const char *steme_db_errmsg(steme_db *db)
{
    return db ? steme_errslot_message(&db->db_err) : "no database handle";
}

pthread_mutex_t *db_stripe(steme_db *db, const void *k, size_t n)
{
    /* FNV-1a: cheap, and these keys are hashes or agent ids already. */
    const uint8_t *p = k;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return &db->db_stripes[h % DB_STRIPES];
}

int db_log_and_apply(steme_db *db, uint8_t kind, const uint8_t *body, size_t len)
{
    return db_log_and_apply_if(db, kind, body, len, NULL);
}

/*
 * Append [kind][body] to the log and apply it, under the shared apply lock
 * (the checkpoint barrier). grouped: the record goes with a WAL ticket and
 * is applied with the rest of its group commit by db_on_durable
 * (db_group.c) before the append returns; else this thread applies it
 * after the append.
 */
static int log_write(steme_db *db, uint8_t kind, const uint8_t *body, size_t len, int grouped,
                     const void *pre, uint64_t *seq)
{
    /* One contiguous payload [kind][body]: copy once into a stack buffer
     * when small, else the heap. */
    uint8_t stackbuf[4096];
    uint8_t *payload = len + 1 <= sizeof stackbuf ? stackbuf : malloc(len + 1);
    if (!payload)
        return db_fail(db, STEME_E_NOMEM, "out of memory");
    payload[0] = kind;
    memcpy(payload + 1, body, len);

    db_ticket d = {.kind = kind, .body = body, .len = len, .pre = pre, .seq = 0};
    d.msg[0] = '\0';
    steme_wal_ticket t = {.arg = &d};
    pthread_rwlock_rdlock(&db->db_apply_lock);
    int rc = grouped ? steme_wal_append_ticket(db->db_wal, payload, len + 1, &t, NULL)
                     : steme_wal_append(db->db_wal, payload, len + 1, NULL);
    if (rc != STEME_OK)
        db_fail(db, rc, "log append: %s", steme_wal_errmsg(db->db_wal));
    else if (!grouped)
        rc = db_apply(db, kind, body, len, NULL);
    else if ((rc = t.status) != STEME_OK)
        db_fail(db, rc, "%s", d.msg[0] ? d.msg : "apply failed");
    pthread_rwlock_unlock(&db->db_apply_lock);
    if (payload != stackbuf)
        free(payload);
    if (seq)
        *seq = d.seq;
    if (rc == STEME_OK)
        db_after_log(db, len);
    return rc;
}

int db_log_and_apply_if(steme_db *db, uint8_t kind, const uint8_t *body, size_t len,
                        const db_conds *conds)
{
    if (db_shared(db))
        return db_apply(db, kind, body, len, conds); /* the commit is the log */
    return log_write(db, kind, body, len, 0, NULL, NULL);
}

int db_log_and_apply_grouped(steme_db *db, uint8_t kind, const uint8_t *body, size_t len,
                             const void *pre, uint64_t *seq)
{
    if (seq)
        *seq = 0;
    if (db_shared(db))
        return db_apply(db, kind, body, len, NULL); /* pg: the commit is the log */
    return log_write(db, kind, body, len, 1, pre, seq);
}

void db_after_log(steme_db *db, size_t len)
{
    if (!db->db_checkpoint_bytes)
        return;
    /* 40 bytes of record header + the kind byte, less the 4 of slack the
     * estimate always had: the trigger is approximate by design */
    uint64_t logged = atomic_fetch_add(&db->db_logged_since_checkpoint, len + 37) + len + 37;
    int expected = 0;
    if (logged >= db->db_checkpoint_bytes &&
        atomic_compare_exchange_strong(&db->db_checkpointing, &expected, 1)) {
        steme_db_checkpoint(db); /* failure is recorded; replay covers it */
        atomic_store(&db->db_checkpointing, 0);
    }
}
