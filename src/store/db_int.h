/*
 * store/db_int.h - what the store layer's sources share: the steme_db handle,
 * the log record kinds, and the identity file.
 *
 * Log records (the WAL payload of every write made through a steme_db):
 *
 *     [kind u8][body]
 *
 *     kind 1  ASSERTION  body = canonical assertion encoding (with signature)
 *
 * Replay decodes each record and applies it again; every apply is
 * idempotent (it writes the same keys with the same values).
 */
#ifndef STEME_STORE_DB_INT_H
#define STEME_STORE_DB_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/error.h"
#include "steme/db.h"

enum db_log_kind {
    DB_LOG_ASSERTION = 1
};

struct steme_db {
    steme_kv *db_kv;
    steme_wal *db_wal;
    char *db_dir;
    steme_errslot db_err;
    /* Writers hold it shared from log append to KV apply; a checkpoint holds
     * it exclusively for an instant, so the log's end it reads has been
     * applied in full. */
    pthread_rwlock_t db_apply_lock;
    uint64_t db_checkpoint_bytes;
    atomic_uint_fast64_t db_logged_since_checkpoint;
    atomic_int db_checkpointing;
};

#define db_fail(db, code, ...) steme_errslot_set(&(db)->db_err, (code), __VA_ARGS__)

/* Identity file DIR/STEME (db_meta.c). */
int db_meta_create(const char *dir, steme_kv_engine engine, steme_error *err);
int db_meta_check(const char *dir, steme_kv_engine *engine, steme_error *err);

/* Append a log record and apply it, under the shared apply lock. */
int db_log_and_apply(steme_db *db, uint8_t kind, const uint8_t *body, size_t len);
/* Apply one log record (replay and live writes). */
int db_apply(steme_db *db, uint8_t kind, const uint8_t *body, size_t len);
/* Assertion apply: the idempotent LMDB batch for one encoded assertion. */
int db_apply_assertion(steme_db *db, const uint8_t *enc, size_t len);

#endif
