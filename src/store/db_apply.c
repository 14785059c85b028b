/*
 * db_apply.c - dispatch of log records to their store's apply function
 * (replay at open, and live writes through db_log_and_apply). Each apply is
 * defined by its store's module and is idempotent (see db_int.h).
 * Preconditions (pg mode only) ride along to the apply's batch.
 */
#include <time.h>

#include "store/db_int.h"

typedef int (*apply_fn)(steme_db *db, const uint8_t *body, size_t len, const db_conds *conds);

int db_apply(steme_db *db, uint8_t kind, const uint8_t *body, size_t len,
             const db_conds *conds)
{
    apply_fn fn;
    switch (kind) {
        case DB_LOG_ASSERTION: fn = db_apply_assertion; break;
        case DB_LOG_VOTE: fn = db_apply_vote; break;
        case DB_LOG_TRUST_RANK: fn = db_apply_trust_rank; break;
        case DB_LOG_GOLD: fn = db_apply_gold; break;
        case DB_LOG_PACK: fn = db_apply_pack; break;
        case DB_LOG_PACK_MEMBER: fn = db_apply_pack_member; break;
        case DB_LOG_ESCALATION: fn = db_apply_escalation; break;
        case DB_LOG_SUPERSESSION: fn = db_apply_supersession; break;
        case DB_LOG_QUOTA_LIMIT: fn = db_apply_quota_limit; break;
        case DB_LOG_VECTOR_META: fn = db_apply_vector_meta; break;
        default:
            return db_fail(db, STEME_E_CORRUPT, "unknown log record kind %u", kind);
    }
    return fn(db, body, len, conds);
}

/* --- preconditions and retries (pg mode) ---------------------------------- */

int db_cond_add(db_conds *c, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    if (c->n >= DB_CONDS_MAX)
        return STEME_E_INTERNAL;
    c->c[c->n++] = (db_cond){key, klen, val, vlen};
    return STEME_OK;
}

int db_kv_write(steme_db *db, steme_kv_batch *b, const db_conds *conds, const char *what)
{
    int rc = STEME_OK;
    for (size_t i = 0; conds && i < conds->n && rc == STEME_OK; i++) {
        const db_cond *c = &conds->c[i];
        /* an expected empty value is a value: never pass NULL for it */
        static const uint8_t empty[1];
        rc = steme_kv_batch_expect(b, c->key, c->klen, c->val ? (c->vlen ? c->val : empty) : NULL,
                                   c->val ? c->vlen : 0);
    }
    if (rc != STEME_OK)
        return db_fail(db, rc, "%s: adding a precondition to the batch", what);
    rc = steme_kv_write(db_kv(db), b, DB_APPLY_FLAGS);
    if (rc != STEME_OK)
        db_fail(db, rc, "%s: %s", what, steme_kv_errmsg(db_kv(db)));
    return rc;
}

int db_retry_wait(steme_db *db, unsigned attempt)
{
    if (attempt + 1 >= DB_RETRY_MAX)
        return 0;
    /* 100 us doubling to 25.6 ms, times a jitter in [0.5, 1.5): two nodes
     * that collided once rarely collide again */
    unsigned shift = attempt < 8 ? attempt : 8;
    uint64_t base = 100u << shift;
    uint64_t x = atomic_fetch_add(&db->db_jitter, 0x9E3779B97F4A7C15ull) + 0x9E3779B97F4A7C15ull;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    uint64_t us = base / 2 + x % (base + 1);
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000};
    nanosleep(&ts, NULL);
    return 1;
}
