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
 *     kind 10 VECTOR_META   body = [name_len u16 LE][name][vector meta encoding]
 *                                  (src/store/vector_meta.c)
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
    DB_LOG_QUOTA_LIMIT = 9,
    DB_LOG_VECTOR_META = 10
};

/* Striped locks serialise read-modify-write on one logical key (a voter's
 * vote on an assertion, an agent's trust rank or quota) without a global
 * lock: 1024 stripes make two unrelated keys collide with p = 1/1024. */
#define DB_STRIPES 1024

/* The Ballot Box's in-process read cache (store/vote_cache.c): made on
 * first use by a Ballot Box call, freed at close. */
struct vote_cache;
void vote_cache_free(struct vote_cache *c);
typedef struct vote_behind vote_behind;

struct steme_db {
    steme_kv *db_kv;
    steme_wal *db_wal;
    char *db_dir;
    steme_errslot db_err;
    /* Writers hold it shared from log append to KV apply; a checkpoint holds
     * it exclusively for an instant, so the log's end it reads has been
     * applied in full. */
    pthread_rwlock_t db_apply_lock;
    pthread_mutex_t db_checkpoint_lock;  /* one checkpoint at a time */
    uint64_t db_checkpoint_bytes;
    atomic_uint_fast64_t db_logged_since_checkpoint;
    atomic_int db_checkpointing;
    pthread_mutex_t db_stripes[DB_STRIPES];
    _Atomic(struct vote_cache *) db_vote_cache;
    /* Scratch of db_apply_vote_group (vote_apply_group.c), made on first
     * use; only the WAL's on_durable callback uses it, and those calls
     * never overlap. */
    void *db_vote_scratch;
    /* Votes acknowledged at durability, written to the engine behind by an
     * applier thread (vote_behind.c); NULL in pg mode, before replay ends,
     * and if the thread could not start (then votes apply before their
     * acknowledgement, db_group.c). */
    struct vote_behind *db_behind;
    int db_shared;                       /* pg mode: no WAL, conditional writes */
    atomic_uint_fast64_t db_jitter;      /* retry backoff jitter state */
};

/* Flags of every KV write made by an apply: the WAL already logs the
 * record, so the engine may skip its own log (RocksDB then writes only its
 * memtable). Checkpoints call steme_kv_sync() before advancing the ingest
 * cursor, and replay covers whatever a crash lost before that. */
#define DB_APPLY_FLAGS STEME_KV_NO_ENGINE_LOG

/* The stripe lock guarding the logical key k[0..n) (hashed). */
pthread_mutex_t *db_stripe(steme_db *db, const void *k, size_t n);

#define db_fail(db, code, ...) steme_errslot_set(&(db)->db_err, (code), __VA_ARGS__)

/* Identity file DIR/STEME (db_meta.c). */
int db_meta_create(const char *dir, steme_kv_engine engine, steme_error *err);
int db_meta_check(const char *dir, steme_kv_engine *engine, steme_error *err);

/*
 * Preconditions of a write (shared mode only, see db_shared): the apply's
 * KV batch carries them (steme_kv_batch_expect), so the write lands only if
 * every key still holds what the store read (val NULL: still absent);
 * otherwise the write returns STEME_E_BUSY, nothing is applied, and the
 * store reads again and retries (db_retry_wait). This is what serialises a
 * read-modify-write across nodes; the stripe locks only serialise the
 * threads of one process (they stay: they avoid retries inside a node).
 */
#define DB_CONDS_MAX 4
typedef struct db_cond {
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;   /* NULL: the key must be absent */
    size_t vlen;
} db_cond;
typedef struct db_conds {
    size_t n;
    db_cond c[DB_CONDS_MAX];
} db_conds;

/* Add a precondition to c (at most DB_CONDS_MAX; more is a programming
 * error and is ignored with a failing return). STEME_OK or STEME_E_INTERNAL. */
int db_cond_add(db_conds *c, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);

/*
 * 1 when several processes may write this database at once (pg mode: the
 * engine is a shared SQL server and there is no local log). Stores then
 * attach preconditions to their read-modify-writes and retry on BUSY.
 */
static inline int db_shared(const steme_db *db) { return db->db_shared; }

/*
 * After a STEME_E_BUSY from a conditional write: wait a jittered,
 * exponentially growing moment and return 1 to retry, or 0 once
 * DB_RETRY_MAX attempts are spent (the caller then reports BUSY).
 */
#define DB_RETRY_MAX 200
int db_retry_wait(steme_db *db, unsigned attempt);

/*
 * Append a log record and apply it, under the shared apply lock. In pg mode
 * there is no local log: the engine's synced commit is the durability
 * point, so the record is applied directly (db_log_and_apply_if passes its
 * preconditions to the apply; outside shared mode they are dropped, since
 * the stripe lock already serialises the read-modify-write and a logged
 * record must always apply).
 */
int db_log_and_apply(steme_db *db, uint8_t kind, const uint8_t *body, size_t len);
int db_log_and_apply_if(steme_db *db, uint8_t kind, const uint8_t *body, size_t len,
                        const db_conds *conds);
/*
 * As db_log_and_apply, but the record goes with a WAL ticket and is handed,
 * with the other records of its group commit, to the thread that finished
 * the log sync (db_group.c). Votes with a pre-read (pre, a db_vote_pre) are
 * then accepted ahead of their engine write (vote_behind.c: *seq gets the
 * sequence a later read of the pair fences on); otherwise the group is
 * applied, one engine write per group of votes, before any of them is
 * acknowledged. Used for the Ballot Box's votes, the write-heavy path. Same
 * durability as db_log_and_apply. seq may be NULL; *seq is 0 when the vote
 * was applied before the acknowledgement.
 */
int db_log_and_apply_grouped(steme_db *db, uint8_t kind, const uint8_t *body, size_t len,
                             const void *pre, uint64_t *seq);
/* What a grouped record's WAL ticket carries (ticket.arg): the record, and
 * the message of a failed apply, copied from the applying thread. */
typedef struct db_ticket {
    uint8_t kind;
    const uint8_t *body;
    size_t len;
    const void *pre;      /* votes: the voter's pre-read (db_vote_pre), or NULL */
    uint64_t seq;         /* votes accepted ahead of the engine: the sequence to fence on */
    char msg[STEME_ERRMSG_MAX];
} db_ticket;
/* The WAL's on_durable callback (db_group.c): applies a durable group. */
struct steme_wal_ticket;
void db_on_durable(void *ctx, struct steme_wal_ticket *first);
/* After a logged write: count its bytes and checkpoint when due (db.c). */
void db_after_log(steme_db *db, size_t len);
/*
 * Apply n DB_LOG_VOTE bodies of one group with one KV batch (vote_apply_
 * group.c); rcs[i] gets each vote's status and, on failure, msgs[i] (msgcap
 * bytes) its message. Equivalent to db_apply_vote on each in order.
 */
void db_apply_vote_group(steme_db *db, size_t n, const uint8_t *const *bodies,
                         const size_t *lens, int *rcs, char *const *msgs, size_t msgcap);
/* Apply one log record (replay and live writes); conds may be NULL. */
int db_apply(steme_db *db, uint8_t kind, const uint8_t *body, size_t len,
             const db_conds *conds);
/* Write an apply's batch with DB_APPLY_FLAGS, its preconditions (conds,
 * may be NULL) added first. Records the failure with `what`. */
int db_kv_write(steme_db *db, steme_kv_batch *b, const db_conds *conds, const char *what);
/* Applies, one per log kind, each defined by its store's module; conds
 * (NULL except in shared mode) go into the apply's batch. */
int db_apply_assertion(steme_db *db, const uint8_t *body, size_t len, const db_conds *conds);
int db_apply_vote(steme_db *db, const uint8_t *body, size_t len, const db_conds *conds);
int db_apply_trust_rank(steme_db *db, const uint8_t *body, size_t len, const db_conds *conds);
int db_apply_gold(steme_db *db, const uint8_t *body, size_t len, const db_conds *conds);
int db_apply_pack(steme_db *db, const uint8_t *body, size_t len, const db_conds *conds);
int db_apply_pack_member(steme_db *db, const uint8_t *body, size_t len, const db_conds *conds);
int db_apply_escalation(steme_db *db, const uint8_t *body, size_t len, const db_conds *conds);
int db_apply_supersession(steme_db *db, const uint8_t *body, size_t len, const db_conds *conds);
int db_apply_quota_limit(steme_db *db, const uint8_t *body, size_t len, const db_conds *conds);
int db_apply_vector_meta(steme_db *db, const uint8_t *body, size_t len, const db_conds *conds);

/*
 * The locator key \0HS:{hash} (an assertion's hash -> its subject) of h
 * into key[cap], or with h NULL the prefix of every locator key (the way to
 * scan all assertions). STEME_OK or the key codec's status.
 */
int db_locator_key(const steme_hash *h, uint8_t *key, size_t cap, size_t *klen);

/* The KV handle of db (stores use only it and the key codec). */
static inline steme_kv *db_kv(steme_db *db) { return db->db_kv; }

#endif
