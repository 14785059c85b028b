/*
 * kv/kv_lmdb_int.h - what the LMDB engine's files share (kv_lmdb.c: open,
 * reads, scans; kv_lmdb_write.c: group commit and counters;
 * kv_lmdb_bucket.c: the long-key bucket format).
 *
 * Long keys. LMDB (as packaged: MDB_MAXKEYSIZE 511) refuses keys longer
 * than 511 bytes, while steme keys go up to STEME_KV_MAX_KEY (a subject
 * alone may be 1 KiB). So a key of at most LMDB_DIRECT_MAX (510) bytes is
 * stored as itself, and every longer key K lives in a "bucket": the LMDB
 * record whose key is K[0..510) followed by one 0x00 byte (511 bytes, a
 * length no direct key has), whose value lists all long keys sharing those
 * 510 bytes with their values (format in kv_lmdb_bucket.c). The mapping
 * keeps key order: a direct key and a long key differ within their first
 * 510 bytes, or the direct key is a prefix of the long key and sorts first;
 * long keys of one bucket are kept in order inside it. Buckets are rare
 * (keys over 510 bytes) and small, so rewriting one on change is fine.
 */
#ifndef STEME_KV_LMDB_INT_H
#define STEME_KV_LMDB_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "kv/kv_int.h"

#define LMDB_DIRECT_MAX 510u                    /* longest key stored as itself */
#define LMDB_BUCKET_KLEN (LMDB_DIRECT_MAX + 1u) /* length of every bucket key */
#define LMDB_POOL_MAX 64                        /* idle read transactions kept */

/* A read transaction (and its cursor, opened on first scan), pooled. */
typedef struct lmdb_reader {
    MDB_txn *txn;
    MDB_cursor *cur;
} lmdb_reader;

typedef struct lmdb_req lmdb_req;

typedef struct kv_lmdb {
    steme_kv base;
    MDB_env *env;
    MDB_dbi dbi;
    size_t map_size;
    /* idle read transactions (reset, ready for mdb_txn_renew) */
    pthread_mutex_t pool_lock;
    lmdb_reader pool[LMDB_POOL_MAX];
    size_t pool_n;
    /* group commit: queued write requests and whether a leader is running */
    pthread_mutex_t gc_lock;
    pthread_cond_t gc_cond;
    lmdb_req *gc_head, *gc_tail;
    int gc_busy;
    int gc_ready;      /* gc_lock/gc_cond initialised */
    /*
     * Commits begun / finished (atomics). LMDB 0.9.24 starts a read
     * transaction by reading the last txnid N, then copying meta page N&1;
     * a reader preempted in between can copy the meta of txn N+2 (or a
     * torn one) while its writer overwrites that slot: reads then run ahead
     * and later go back in time (reproduced with 8 writers). A read txn is
     * trusted only if at most one commit overlapped its start (see
     * reader_begin); commits in other processes are not covered.
     */
    uint64_t commits_started, commits_done;
    /* bucket rebuild space; only the running leader touches it */
    uint8_t *scratch;
    size_t scratch_cap;
} kv_lmdb;

/* Status and message for an LMDB return code (what = the failing step). */
int lmdb_fail(kv_lmdb *l, steme_error *err, int mdb_rc, const char *what);

/* The bucket key of a long key: key[0..510) + 0x00 into out[LMDB_BUCKET_KLEN]. */
void lmdb_bucket_key(const uint8_t *key, uint8_t *out);

/* One entry of a bucket: views into the bucket bytes. */
typedef struct lmdb_bucket_entry {
    const uint8_t *suffix; /* the long key's bytes after the first 510 */
    size_t slen;
    const uint8_t *val;
    size_t vlen;
    size_t off, end;       /* the entry spans bucket[off..end) */
} lmdb_bucket_entry;

/* Entry at *off (advanced past it): 1 = got one, 0 = end of bucket,
 * STEME_E_CORRUPT if the lengths do not fit the bucket. */
int lmdb_bucket_next(const uint8_t *b, size_t size, size_t *off, lmdb_bucket_entry *e);
/* Look suffix up: 1 = found (e filled), 0 = absent (e->off = e->end = where
 * it would go), STEME_E_CORRUPT. */
int lmdb_bucket_find(const uint8_t *b, size_t size, const uint8_t *suffix, size_t slen,
                     lmdb_bucket_entry *e);
/* Bytes an entry takes, and writing one at out (returns bytes written). */
size_t lmdb_bucket_entry_size(size_t slen, size_t vlen);
size_t lmdb_bucket_write_entry(uint8_t *out, const uint8_t *suffix, size_t slen,
                               const uint8_t *val, size_t vlen);

/* Write path (kv_lmdb_write.c). */
int lmdb_put(steme_kv *kv, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
             unsigned flags);
int lmdb_del(steme_kv *kv, const uint8_t *key, size_t klen, unsigned flags);
int lmdb_add_u64(steme_kv *kv, const uint8_t *key, size_t klen, int64_t delta, unsigned flags);
int lmdb_add_f64(steme_kv *kv, const uint8_t *key, size_t klen, double delta, unsigned flags);
int lmdb_write(steme_kv *kv, const steme_kv_batch *b, unsigned flags);
int lmdb_write_init(kv_lmdb *l);
void lmdb_write_destroy(kv_lmdb *l);

#endif
