/*
 * steme/db.h - a steme database: one directory, one handle, shared by threads.
 *
 * A database directory holds
 *
 *     DIR/STEME       identity file: magic "STEMEDB\0", format version,
 *                     creation time, BLAKE3 checksum (see src/store/db_meta.c)
 *     DIR/wal/        the write-ahead log (steme/wal.h)
 *     DIR/kv/         the KV engines (hybrid: kv/lmdb + kv/rocksdb)
 *
 * Write path: a record is appended to the WAL (group commit: durable before
 * the call returns), then applied to the KV engines. Every apply is
 * idempotent, so after a crash the log is replayed from the ingest cursor
 * (key \0CUR:ingest): whatever was durable in the log reaches the engines.
 * The cursor is advanced by steme_db_checkpoint() (and on close), which
 * briefly waits for in-flight writes so that everything before the cursor is
 * known to be applied; then WAL segments wholly below it are removed.
 *
 * Threads: a steme_db may be used from many threads at once; writes from
 * different threads proceed in parallel and share WAL syncs.
 *
 * pg mode (docs/scale-out.md): when `dir` is a URL postgres://... or
 * postgresql://..., the database is the table opts->kv.pg_table (default
 * "kv") of that PostgreSQL-wire server (PostgreSQL, CockroachDB,
 * YugabyteDB), engine STEME_KV_PG, and several processes ("nodes") may open
 * the same one at once. There is no directory, identity file or local WAL:
 * the engine's synced commit is the durability point, so a write is
 * applied directly (one transaction, durable when the call returns), open
 * replays nothing and steme_db_checkpoint() is a no-op. Read-modify-writes
 * (re-votes, the Meter's charges, trust outcomes, escalations,
 * supersessions) carry preconditions (steme_kv_batch_expect) so that they
 * stay exact across nodes, retrying internally when another node got there
 * first; after 200 lost races in a row (extreme contention) such a call
 * returns STEME_E_BUSY with nothing applied.
 */
#ifndef STEME_DB_H
#define STEME_DB_H

#include "steme/kv.h"
#include "steme/record.h"
#include "steme/status.h"
#include "steme/wal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct steme_db steme_db;

typedef struct steme_db_options {
    int create_if_missing;          /* default 1 */
    steme_kv_engine engine;         /* default STEME_KV_HYBRID */
    steme_kv_options kv;            /* engine options (steme_kv_options_init) */
    steme_wal_options wal;          /* log options (steme_wal_options_init) */
    uint64_t checkpoint_bytes;      /* auto-checkpoint after this much log; default 64 MiB, 0 = never */
} steme_db_options;

void steme_db_options_init(steme_db_options *o);

/* 1 if dir is a postgres:// or postgresql:// URL (pg mode), else 0. */
int steme_db_is_url(const char *dir);

/*
 * Open (or create) the database in dir; replays the log from the ingest
 * cursor. dir may be a postgres:// URL (pg mode, above: opts->engine is then
 * ignored; create_if_missing decides whether the table may be created, and
 * a missing table with create_if_missing = 0 is STEME_E_NOTFOUND). An
 * engine of STEME_KV_PG with a directory is STEME_E_INVALID. opts may be NULL. Returns STEME_OK, STEME_E_INVALID, STEME_E_NOTFOUND
 * (no database and create_if_missing = 0), STEME_E_CORRUPT / STEME_E_VERSION
 * (identity file damaged or from another format), STEME_E_IO, STEME_E_ENGINE,
 * STEME_E_BUSY, STEME_E_NOMEM. On failure *out is NULL and err says why.
 */
int steme_db_open(const char *dir, const steme_db_options *opts, steme_db **out,
                  steme_error *err);

/* Checkpoint, then close. NULL is a no-op. No call may be in flight. */
void steme_db_close(steme_db *db);

/* The calling thread's last failure message on db ("no error" if none). */
const char *steme_db_errmsg(steme_db *db);

/* Advance the ingest cursor to the log's end and drop log segments below it. */
int steme_db_checkpoint(steme_db *db);

/* ------------------------------------------------------------ assertions */

/*
 * Store an assertion. Validates it, verifies its signature when it has one
 * (STEME_E_BAD_SIGNATURE otherwise), computes its content hash into *hash
 * (optional) and makes it durable before returning. Idempotent: storing an
 * assertion that is already there changes nothing; *created (optional) is
 * 1 when it was new, 0 when it existed. Index entries (by subject, by
 * subject + predicate, hash -> subject) are written in the same atomic
 * batch as the assertion. Returns STEME_OK, the validate statuses,
 * STEME_E_BAD_SIGNATURE, STEME_E_IO, STEME_E_ENGINE, STEME_E_FATAL, STEME_E_NOMEM.
 */
int steme_db_put_assertion(steme_db *db, const steme_assertion *a, steme_hash *hash,
                           int *created);

/*
 * Read an assertion by hash. Its canonical encoding is copied into buf and
 * *out decoded from it (zero-copy: *out points into buf->data, so keep buf
 * alive and unchanged while using *out). The stored bytes are checked: the
 * hash of what is read must equal h, else STEME_E_CORRUPT.
 * Returns STEME_OK, STEME_E_NOTFOUND, STEME_E_CORRUPT, STEME_E_INVALID, ...
 */
int steme_db_get_assertion(steme_db *db, const steme_hash *h, steme_buf *buf,
                           steme_assertion *out);

/* Position in a listing, newest first; zero it to start from the newest. */
typedef struct steme_list_cursor {
    int started;          /* 0: from the newest */
    uint64_t timestamp;   /* of the last entry returned */
    steme_hash hash;
} steme_list_cursor;

typedef int (*steme_assertion_fn)(void *ctx, const steme_hash *hash, const steme_assertion *a);

/*
 * List the assertions about subject (and predicate, if predicate != NULL),
 * newest first (ties by hash, descending), at most limit (0 = all), resuming
 * after *cursor and updating it to the last one returned. fn gets views valid
 * only during the call; a non-zero return stops the listing. *count
 * (optional) receives the number listed. Returns STEME_OK, STEME_E_INVALID,
 * STEME_E_BAD_UTF8, STEME_E_TOO_BIG, STEME_E_CORRUPT, STEME_E_ENGINE, STEME_E_NOMEM.
 */
int steme_db_list_assertions(steme_db *db, const char *subject, size_t subject_len,
                             const char *predicate, size_t predicate_len, size_t limit,
                             steme_list_cursor *cursor, steme_assertion_fn fn, void *ctx,
                             size_t *count);

/*
 * Visit every stored assertion (in key order) with its stored hash and
 * check it: the stored bytes decode, their hash equals the key's, the
 * hash -> subject locator agrees, and the signature (if any) verifies.
 * *checked and *damaged (optional) count them; fn (optional) is told of each
 * damaged one with its status. Returns STEME_OK if nothing is damaged,
 * STEME_E_CORRUPT if something is, or an engine error.
 */
typedef void (*steme_damage_fn)(void *ctx, const steme_hash *hash, int status, const char *why);
int steme_db_verify(steme_db *db, uint64_t *checked, uint64_t *damaged, steme_damage_fn fn,
                    void *ctx);

/* ------------------------------------------------------------ inventory */

typedef int (*steme_hash_fn)(void *ctx, const steme_hash *hash);

/*
 * Visit the hash of every stored assertion, in key order (one ordered scan
 * of the hash -> subject locators, in pages). fn returns non-zero to stop.
 * fn may call back into db (it runs between pages, never inside a scan).
 * Returns STEME_OK, STEME_E_CORRUPT (a malformed locator key), an engine
 * error.
 */
int steme_db_scan_assertions(steme_db *db, steme_hash_fn fn, void *ctx);

typedef struct steme_db_stats {
    steme_kv_engine engine;      /* the KV engine (STEME_KV_PG for a URL) */
    int has_log;                 /* 0 in pg mode: no local WAL */
    uint64_t log_end;            /* offset past the last durable log record */
    struct steme_wal_stats log;  /* the WAL's counters since open (zero without a log) */
} steme_db_stats;

/* Fill *out. Returns STEME_OK or STEME_E_INVALID (NULL). Thread-safe. */
int steme_db_get_stats(steme_db *db, steme_db_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* STEME_DB_H */
