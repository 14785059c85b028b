/*
 * kv/kv_rocksdb_int.h - what the kv_rocksdb*.c files share: the handle,
 * the column-family groups, the counter merge operator and status mapping.
 */
#ifndef STEME_KV_ROCKSDB_INT_H
#define STEME_KV_ROCKSDB_INT_H

#include <pthread.h>
#include <rocksdb/c.h>

#include "kv/kv_int.h"
#include "steme/keys.h"

/*
 * Column families, one per family group. Groups keep write-heavy families
 * (votes, audit, quota, escalation) in their own LSM trees, so their
 * flushes and compactions do not rewrite the rest, and let each group get
 * its own table options (bloom filters only where point reads happen).
 * Keys of no known family (the standalone engine accepts any key) go to
 * "default".
 */
enum {
    KV_RDB_CF_DEFAULT = 0,
    KV_RDB_CF_VOTES,      /* V, VC, VW */
    KV_RDB_CF_AUDIT,      /* AU, AQ */
    KV_RDB_CF_QUOTA,      /* QT */
    KV_RDB_CF_ESCALATION, /* ES */
    KV_RDB_NCF
};

typedef struct kv_rdb {
    steme_kv rd_base;                               /* first: a steme_kv */
    rocksdb_t *rd_db;
    rocksdb_column_family_handle_t *rd_cf[KV_RDB_NCF];
    rocksdb_options_t *rd_opts[KV_RDB_NCF];         /* [0] is also the DB options */
    rocksdb_cache_t *rd_cache;                      /* shared by every CF */
    rocksdb_readoptions_t *rd_ropts;                /* gets: never modified after open */
    rocksdb_writeoptions_t *rd_wopts;               /* sync = 0 */
    rocksdb_writeoptions_t *rd_wopts_sync;          /* sync = 1 */
    rocksdb_writeoptions_t *rd_wopts_nolog;         /* disableWAL: STEME_KV_NO_ENGINE_LOG */
    /* Preconditions (steme_kv_batch_expect): a batch with any holds this
     * exclusively from its reads to its write, every other write holds it
     * shared, so no write lands between the check and the batch. RocksDB
     * is single-process (its LOCK file), so an in-process lock is enough. */
    pthread_rwlock_t rd_expect_lock;
    int rd_expect_lock_ready;
} kv_rdb;

extern const kv_vtable kv_rdb_vtable;
void kv_rdb_close(steme_kv *kv);

/* Column family index for a key (by the bytes up to its tag's ':'). */
int kv_rdb_cf_of_key(const uint8_t *key, size_t klen);
/* Column family index for a family. */
int kv_rdb_cf_of_family(steme_key_family fam);

/*
 * Classify a RocksDB error string (Status::ToString()):
 * Corruption -> CORRUPT, no space -> FULL, LOCK held -> BUSY, else ENGINE.
 */
int kv_rdb_classify(const char *msg);
/* Record errptr on kv (classified, prefixed by `what`), free it, return the code. */
int kv_rdb_fail(steme_kv *kv, char *errptr, const char *what);

/* --- counter merge operator (kv_rocksdb_merge.c) ----------------------- */
#define KV_RDB_OPERAND_LEN 9u /* tag byte + 8-byte LE delta */
#define KV_RDB_TAG_U64 'U'
#define KV_RDB_TAG_F64 'F'

/* A new merge operator; ownership passes to rocksdb_options_set_merge_operator. */
rocksdb_mergeoperator_t *kv_rdb_merge_operator(void);
void kv_rdb_operand_u64(uint8_t out[KV_RDB_OPERAND_LEN], int64_t delta);
void kv_rdb_operand_f64(uint8_t out[KV_RDB_OPERAND_LEN], double delta);
/* 1 if v is the marker a failed merge leaves (see kv_rocksdb_merge.c). */
int kv_rdb_is_poison(const char *v, size_t vlen);
/* Report the poison marker met at key as STEME_E_CORRUPT on kv. */
int kv_rdb_poison_fail(steme_kv *kv);

/* --- scans (kv_rocksdb_scan.c) ----------------------------------------- */
int kv_rdb_scan(steme_kv *kv, const uint8_t *prefix, size_t plen, const uint8_t *after,
                size_t alen, size_t limit, unsigned flags, steme_kv_scan_fn fn, void *ctx,
                size_t *visited);

#endif
