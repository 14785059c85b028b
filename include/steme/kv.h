/*
 * steme/kv.h - the one key-value interface every store and index stands on.
 *
 * A steme_kv is an ordered map of byte-string keys to byte-string values
 * (keys 1..STEME_KV_MAX_KEY bytes, values 0..STEME_KV_MAX_VALUE bytes,
 * ordered bytewise, shorter-is-smaller on a common prefix) with:
 *   - point get / multi-get / put / delete,
 *   - ordered prefix scans, forward or reverse, resumed from a cursor key,
 *   - atomic write batches (all of a batch or none of it is applied),
 *   - atomic counters: u64 add and f64 add on 8-byte little-endian values,
 *     never read-modify-write in the caller.
 *
 * Engines (steme_kv_engine):
 *   MEM      ordered in-memory map; for tests of upper layers only; no files.
 *   LMDB     B+tree, one environment, single writer; read-heavy families.
 *   ROCKSDB  LSM; counters through a merge operator; write-heavy families.
 *   PG       a table kv(key bytea primary key, value bytea) on a
 *            PostgreSQL-wire engine (docs/scale-out.md); its synced commit
 *            is the durability point.
 *   HYBRID   LMDB + RocksDB under one directory; every key is routed by its
 *            family (steme/keys.h) per the spec's routing table. A batch whose
 *            keys fall in both engines is refused with STEME_E_CROSS_ENGINE,
 *            so every logical operation is atomic in one engine. HYBRID only
 *            accepts keys that steme_key_family_of() recognises.
 *
 * Durability: a write returns once the engine has applied it. It is durable
 * against process death (kill -9) at once for LMDB and RocksDB (the OS holds
 * the pages); against power loss only with STEME_KV_SYNC or after
 * steme_kv_sync(). steme's stores make writes durable through the WAL's
 * group commit and write the engines without SYNC.
 *
 * Threads: a steme_kv is safe to use from many threads at once. A
 * steme_kv_batch belongs to one thread at a time. Scan callbacks must not
 * call back into the same steme_kv.
 *
 * Errors: each call returns a steme_status; the calling thread's last
 * failure message on a handle is steme_kv_errmsg(kv).
 */
#ifndef STEME_KV_H
#define STEME_KV_H

#include <stddef.h>
#include <stdint.h>
#include "steme/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STEME_KV_MAX_KEY   4096u              /* bytes; a subject is <= 1 KiB */
#define STEME_KV_MAX_VALUE (64u * 1024u * 1024u)

typedef enum steme_kv_engine {
    STEME_KV_MEM = 1,
    STEME_KV_LMDB = 2,
    STEME_KV_ROCKSDB = 3,
    STEME_KV_HYBRID = 4,
    STEME_KV_PG = 5      /* PostgreSQL / CockroachDB / YugabyteDB via libpq:
                          * `path` is a conninfo string or postgres:// URL;
                          * nothing is kept on local disk */
} steme_kv_engine;

/* Name of an engine ("lmdb"), or "unknown". */
const char *steme_kv_engine_name(steme_kv_engine engine);

typedef struct steme_kv steme_kv;
typedef struct steme_kv_batch steme_kv_batch;

/* Options; initialise with steme_kv_options_init() then override fields. */
typedef struct steme_kv_options {
    int create_if_missing;        /* default 1 */
    size_t lmdb_map_size;         /* bytes; default 64 GiB (address space only) */
    size_t rocksdb_cache_bytes;   /* block cache; default 64 MiB */
    size_t rocksdb_write_buffer;  /* memtable size; default 64 MiB (the votes column
                                     family has its own, below) */
    int rocksdb_bloom_bits;       /* bloom bits per key; default 10; 0 = none */
    size_t pg_pool_size;          /* PG: connections, opened on demand; default 8 */
    const char *pg_table;         /* PG: table name ([a-z_][a-z0-9_]*); default "kv" */
    unsigned pg_retry_ms;         /* PG: retry budget of one call (serialization
                                   * failures, lost connections); default 30000 */
    size_t rocksdb_votes_write_buffer; /* memtable size of the write-heavy column
                                   * families: votes (V, VC, VW), audit (AU, AQ)
                                   * and quota (QT); default 4 MiB: small memtables
                                   * make their skip-list inserts cheaper, see
                                   * kv_rocksdb_open.c; 0 = rocksdb_write_buffer */
    uint64_t fault_write_after;   /* fault injection, for tests: once this many
                                   * steme_kv_write calls on the handle succeeded,
                                   * every later one fails with STEME_E_IO and
                                   * writes nothing; default 0 = off */
} steme_kv_options;

void steme_kv_options_init(steme_kv_options *opts);

/*
 * Open an engine. `path` is a directory (created if missing and allowed);
 * ignored (may be NULL) for MEM. HYBRID keeps `path`/lmdb and `path`/rocksdb.
 * opts may be NULL for defaults. On success *out is a new handle; on failure
 * *out is NULL and err (optional) says why.
 * Returns STEME_OK, STEME_E_INVALID, STEME_E_IO, STEME_E_ENGINE, STEME_E_NOMEM,
 * STEME_E_BUSY (locked by another process), STEME_E_CORRUPT.
 */
int steme_kv_open(steme_kv_engine engine, const char *path, const steme_kv_options *opts,
                  steme_kv **out, steme_error *err);

/* Close and free. NULL is a no-op. No call may be in flight on kv. */
void steme_kv_close(steme_kv *kv);

steme_kv_engine steme_kv_engine_of(const steme_kv *kv);

/* The calling thread's last failure message on kv ("no error" if none). */
const char *steme_kv_errmsg(steme_kv *kv);

/*
 * A growable byte buffer the library fills (get, multi-get). Start it zeroed
 * (STEME_BUF_INIT), reuse it across calls to avoid allocation, release with
 * steme_buf_free(). data is malloc'd and owned by the buffer.
 */
typedef struct steme_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} steme_buf;
#define STEME_BUF_INIT {NULL, 0, 0}
void steme_buf_free(steme_buf *buf);
/* Make room for cap bytes (contents kept). STEME_OK or STEME_E_NOMEM. */
int steme_buf_reserve(steme_buf *buf, size_t cap);
/* Replace contents with a copy of data[0..len). STEME_OK or STEME_E_NOMEM. */
int steme_buf_set(steme_buf *buf, const void *data, size_t len);

/*
 * Read the value of key into out (its previous contents replaced).
 * Returns STEME_OK, STEME_E_NOTFOUND (out->len set to 0), STEME_E_INVALID,
 * STEME_E_NOMEM, STEME_E_ENGINE, STEME_E_CORRUPT.
 */
int steme_kv_get(steme_kv *kv, const void *key, size_t klen, steme_buf *out);

/*
 * Read n keys at once (one round trip on networked engines). vals[i] and
 * statuses[i] receive each key's value and STEME_OK / STEME_E_NOTFOUND.
 * Returns STEME_OK if every lookup ran (whether found or not), else the first
 * hard error.
 */
int steme_kv_multi_get(steme_kv *kv, size_t n, const void *const *keys, const size_t *klens,
                       steme_buf *vals, int *statuses);

/* Write flags. */
#define STEME_KV_SYNC 1u  /* durable against power loss before returning */
/*
 * The caller keeps its own log of this write (steme's WAL) and will replay
 * it after a crash, so the engine may skip its own log: RocksDB then writes
 * the memtable only (no engine WAL record). Such a write is durable (even
 * against kill -9) only once steme_kv_sync() has returned, which flushes it
 * to the engine's files. Ignored by engines whose commit is their log
 * (LMDB, pg) and by MEM. Not combinable with STEME_KV_SYNC.
 */
#define STEME_KV_NO_ENGINE_LOG 2u

/* Insert or replace. Returns STEME_OK, STEME_E_INVALID, STEME_E_TOO_BIG, ... */
int steme_kv_put(steme_kv *kv, const void *key, size_t klen, const void *val, size_t vlen,
                 unsigned flags);

/* Remove key; removing an absent key succeeds. */
int steme_kv_delete(steme_kv *kv, const void *key, size_t klen, unsigned flags);

/*
 * Atomically add delta to the u64 (8 bytes LE) at key; a missing key counts
 * as 0; arithmetic wraps modulo 2^64 (negative deltas subtract). On RocksDB
 * this is a merge: no read. If the stored value is not 8 bytes, the add or
 * the next read of that key fails with STEME_E_CORRUPT.
 */
int steme_kv_add_u64(steme_kv *kv, const void *key, size_t klen, int64_t delta, unsigned flags);
/* Same for an f64 (8 bytes LE, IEEE 754); delta must be finite. */
int steme_kv_add_f64(steme_kv *kv, const void *key, size_t klen, double delta, unsigned flags);

/* Read a counter: STEME_OK, or STEME_E_NOTFOUND with *value = 0. */
int steme_kv_get_u64(steme_kv *kv, const void *key, size_t klen, uint64_t *value);
int steme_kv_get_f64(steme_kv *kv, const void *key, size_t klen, double *value);

/*
 * Ordered prefix scan. Visits keys that start with prefix (plen may be 0:
 * all keys), in ascending order, or descending with STEME_SCAN_REVERSE.
 * If after != NULL the scan resumes strictly after that key in scan order
 * (the cursor: pass the last key you saw). At most `limit` entries are
 * visited (0 = no limit). fn is called with key and value views valid only
 * during the call; a non-zero return from fn stops the scan (that entry
 * counts as visited). *visited (optional) receives the number visited.
 * The scan sees one consistent snapshot of the engine.
 * Returns STEME_OK (also when nothing matched), STEME_E_INVALID, STEME_E_ENGINE.
 */
#define STEME_SCAN_REVERSE 1u
typedef int (*steme_kv_scan_fn)(void *ctx, const uint8_t *key, size_t klen,
                                const uint8_t *val, size_t vlen);
int steme_kv_scan(steme_kv *kv, const void *prefix, size_t plen, const void *after,
                  size_t alen, size_t limit, unsigned flags, steme_kv_scan_fn fn, void *ctx,
                  size_t *visited);

/*
 * Write batches: an ordered list of puts, deletes and counter adds, built in
 * memory independent of any engine, then applied atomically by
 * steme_kv_write(). Operations on the same key apply in order. A batch can
 * be reused after steme_kv_batch_clear(). Adding to a batch copies the bytes.
 * Returns STEME_OK, STEME_E_INVALID (bad key/value sizes), STEME_E_NOMEM.
 */
steme_kv_batch *steme_kv_batch_new(void);
void steme_kv_batch_free(steme_kv_batch *b);
void steme_kv_batch_clear(steme_kv_batch *b);
size_t steme_kv_batch_count(const steme_kv_batch *b);
int steme_kv_batch_put(steme_kv_batch *b, const void *key, size_t klen, const void *val,
                       size_t vlen);
int steme_kv_batch_delete(steme_kv_batch *b, const void *key, size_t klen);
int steme_kv_batch_add_u64(steme_kv_batch *b, const void *key, size_t klen, int64_t delta);
int steme_kv_batch_add_f64(steme_kv_batch *b, const void *key, size_t klen, double delta);

/*
 * A precondition: the batch applies only if key currently holds exactly
 * val[0..vlen) (val NULL, vlen 0: only if key is absent; an empty value is
 * val non-NULL with vlen 0). Every precondition of a batch is checked
 * against the state just before the batch, wherever it sits in the batch,
 * atomically with the batch's writes: no other write to that key can come
 * between the check and the batch, from this process or (pg) from any
 * other node. This is what lets several processes sharing one database do
 * read-modify-write without a lock they share: read, compute, write the
 * result with "expect the value I read", and retry on STEME_E_BUSY.
 *   MEM      checked under its write lock;
 *   LMDB     checked inside the write transaction (single writer);
 *   ROCKSDB  RocksDB is single-process, so an in-process lock suffices:
 *            conditional batches hold it exclusively, every other write
 *            shared, so nothing writes between the check and the batch;
 *   HYBRID   a precondition is a key of the engine that owns it: a batch
 *            with keys (preconditions included) in both engines is refused
 *            with STEME_E_CROSS_ENGINE;
 *   PG       checked inside the batch's transaction with a conditional
 *            UPDATE / INSERT whose row count decides (the row is locked
 *            until COMMIT); portable to CockroachDB and YugabyteDB.
 * Counter values compare as their 8 stored bytes.
 * Returns STEME_OK, STEME_E_INVALID (NULL batch or key, val NULL with
 * vlen > 0), STEME_E_TOO_BIG, STEME_E_NOMEM.
 */
int steme_kv_batch_expect(steme_kv_batch *b, const void *key, size_t klen, const void *val,
                          size_t vlen);

/*
 * Apply a batch atomically: after a crash, all of it or none of it is there.
 * An empty batch succeeds. On HYBRID a batch touching both engines is
 * refused with STEME_E_CROSS_ENGINE and nothing is written. A batch whose
 * preconditions (steme_kv_batch_expect) do not all hold returns
 * STEME_E_BUSY ("precondition failed: read again and retry") and nothing of
 * it is applied.
 */
int steme_kv_write(steme_kv *kv, const steme_kv_batch *b, unsigned flags);

/* Make every acknowledged write durable against power loss, including the
 * writes made with STEME_KV_NO_ENGINE_LOG (RocksDB: its memtables are
 * flushed to table files). */
int steme_kv_sync(steme_kv *kv);

#ifdef __cplusplus
}
#endif
#endif /* STEME_KV_H */
