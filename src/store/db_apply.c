/*
 * db_apply.c - dispatch of log records to their store's apply function
 * (replay at open, and live writes through db_log_and_apply). Each apply is
 * defined by its store's module and is idempotent (see db_int.h).
 */
#include "store/db_int.h"

typedef int (*apply_fn)(steme_db *db, const uint8_t *body, size_t len);

int db_apply(steme_db *db, uint8_t kind, const uint8_t *body, size_t len)
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
        default:
            return db_fail(db, STEME_E_CORRUPT, "unknown log record kind %u", kind);
    }
    return fn(db, body, len);
}
