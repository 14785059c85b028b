/*
 * store/db_int.h - what the store layer's sources share: the steme_db handle,
 * the log record kinds, and the identity file.
 *
 * Log records (the WAL payload of every write made through a steme_db):
 *
 *     [kind u8][body]
 *
 *     kind 1  ASSERTION     body = canonical assertion encoding (with signature)
 *     kind 2  VOTE          body = [subject_len u16 LE][subject][vote encoding]
 *     kind 3  TRUST_RANK    body = TrustRank encoding: the agent's NEW state
 *     kind 4  GOLD          body = GoldStandard encoding
 *     kind 5  PACK          body = TrustPack encoding
 *     kind 6  PACK_MEMBER   body = [op u8: 1 add, 0 remove][pack id16][agent 32]
 *     kind 7  ESCALATION    body = Escalation encoding: its NEW state
 *     kind 8  SUPERSESSION  body = [old subject_len u16][old subject]
 *                                  [new subject_len u16][new subject][Supersession]
 *     kind 9  QUOTA_LIMIT   body = [agent 32][limit u64 LE] (limit 0 = remove)
 *
 * Replay decodes each record and applies it again; every apply is
 * idempotent: a record carries the resulting state (not a delta), or, for
 * votes, the apply derives its cache deltas from the vote it replaces, so
 * applying a record a second time changes nothing.
 *
 * Store modules: each store (votes, trust, packs, ...) lives in its own
 * file, uses only the KV interface, the key codec and these helpers, and
 * defines its db_apply_<kind>() function, which db_apply.c dispatches to.
 */
#ifndef STEME_STORE_DB_INT_H
#define STEME_STORE_DB_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/error.h"
#include "steme/db.h"

enum db_log_kind {
    DB_LOG_ASSERTION = 1,
    DB_LOG_VOTE = 2,
    DB_LOG_TRUST_RANK = 3,
    DB_LOG_GOLD = 4,
    DB_LOG_PACK = 5,
    DB_LOG_PACK_MEMBER = 6,
    DB_LOG_ESCALATION = 7,
    DB_LOG_SUPERSESSION = 8,
    DB_LOG_QUOTA_LIMIT = 9
};

/* Striped locks serialise read-modify-write on one logical key (a voter's
 * vote on an assertion, an agent's trust rank or quota) without a global
 * lock: 1024 stripes make two unrelated keys collide with p = 1/1024. */
#define DB_STRIPES 1024

/* The Ballot Box's in-process read cache (store/vote_cache.c): made on
 * first use by a Ballot Box call, freed at close. */
struct vote_cache;
void vote_cache_free(struct vote_cache *c);

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
    pthread_mutex_t db_stripes[DB_STRIPES];
    _Atomic(struct vote_cache *) db_vote_cache;
};

/* The stripe lock guarding the logical key k[0..n) (hashed). */
pthread_mutex_t *db_stripe(steme_db *db, const void *k, size_t n);

#define db_fail(db, code, ...) steme_errslot_set(&(db)->db_err, (code), __VA_ARGS__)

/* Identity file DIR/STEME (db_meta.c). */
int db_meta_create(const char *dir, steme_kv_engine engine, steme_error *err);
int db_meta_check(const char *dir, steme_kv_engine *engine, steme_error *err);

/* Append a log record and apply it, under the shared apply lock. */
int db_log_and_apply(steme_db *db, uint8_t kind, const uint8_t *body, size_t len);
/* Apply one log record (replay and live writes). */
int db_apply(steme_db *db, uint8_t kind, const uint8_t *body, size_t len);
/* Applies, one per log kind, each defined by its store's module. */
int db_apply_assertion(steme_db *db, const uint8_t *body, size_t len);
int db_apply_vote(steme_db *db, const uint8_t *body, size_t len);
int db_apply_trust_rank(steme_db *db, const uint8_t *body, size_t len);
int db_apply_gold(steme_db *db, const uint8_t *body, size_t len);
int db_apply_pack(steme_db *db, const uint8_t *body, size_t len);
int db_apply_pack_member(steme_db *db, const uint8_t *body, size_t len);
int db_apply_escalation(steme_db *db, const uint8_t *body, size_t len);
int db_apply_supersession(steme_db *db, const uint8_t *body, size_t len);
int db_apply_quota_limit(steme_db *db, const uint8_t *body, size_t len);

/* The KV handle of db (stores use only it and the key codec). */
static inline steme_kv *db_kv(steme_db *db) { return db->db_kv; }

#endif
