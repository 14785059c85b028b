/*
 * steme/quota.h - The Meter: a per-agent, per-hour token budget (spec 5).
 *
 * Every operation costs tokens:
 *
 *     assert 10, vote 1, query 5 + 1 per lens applied,
 *     plus payload_bytes / 1024 (whole KiB, rounded down).
 *
 * The window is the Unix hour of the operation's time (now_ms / 3,600,000);
 * each agent may spend `limit` tokens per window: a per-agent override, or
 * STEME_QUOTA_DEFAULT_LIMIT (10,000). An operation is allowed when
 * used + cost <= limit; a refused operation records nothing.
 *
 * Keys:
 *     \0QT:{agent}{hour BE}  -> QuotaRecord (tokens used, ops per type)  RocksDB
 *     \0QL:{agent}           -> limit, u64 LE                            LMDB
 *
 * Atomicity: check_and_record holds the agent's stripe lock across read,
 * check and write, so two threads never both spend an agent's last tokens;
 * check_and_record_many holds the locks of all its agents (taken in one
 * global order) across its reads, checks and its one write.
 *
 * Durability (a deliberate choice): usage is charged on every operation's
 * path, so it is written straight to the engine, not through the WAL and
 * not synced: a charge survives a crash of the process (kill -9) as soon as
 * the call returns, but a power loss may forget the last moments of
 * spending (the agent gets those tokens back: the meter errs on the side of
 * the agent, never double-charges). steme_db_checkpoint (and close) sync the
 * engines. Limit overrides are rare and go through the WAL: durable on
 * return. Usage records of past hours are kept (they are the history of
 * spending, about 60 bytes per agent and active hour).
 *
 * Threads: the handle is a view of its steme_db, valid until
 * steme_db_close, usable from many threads at once. Failure messages:
 * steme_db_errmsg(db), per thread.
 */
#ifndef STEME_QUOTA_H
#define STEME_QUOTA_H

#include <stdbool.h>
#include "steme/db.h"
#include "steme/records.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STEME_QUOTA_DEFAULT_LIMIT 10000u        /* tokens per agent per hour (orig) */
#define STEME_QUOTA_HOUR_MS       3600000u
#define STEME_QUOTA_COST_ASSERT   10u
#define STEME_QUOTA_COST_VOTE     1u
#define STEME_QUOTA_COST_QUERY    5u            /* + 1 per lens */

typedef struct steme_quota steme_quota;

typedef enum steme_quota_op {
    STEME_QUOTA_ASSERT = 1,
    STEME_QUOTA_VOTE = 2,
    STEME_QUOTA_QUERY = 3
} steme_quota_op;

typedef struct steme_quota_result {
    bool allowed;
    uint64_t cost;        /* tokens the operation costs (charged iff allowed) */
    uint64_t limit;       /* the agent's hourly limit (override or default) */
    uint64_t remaining;   /* tokens left in the window after this call */
    uint64_t reset_at;    /* Unix ms: start of the next hour (saturates at UINT64_MAX) */
} steme_quota_result;

typedef struct steme_quota_status {
    uint64_t limit;       /* the agent's limit (override or default) */
    bool is_override;     /* 1 if limit is a per-agent override */
    uint64_t used;        /* tokens spent in now's window */
    uint64_t remaining;   /* limit - used, 0 if used >= limit */
    uint64_t reset_at;    /* Unix ms: start of the next hour */
    uint64_t assert_ops, vote_ops, query_ops;   /* allowed operations in the window */
} steme_quota_status;

/* The Meter of db (NULL if db is NULL). */
steme_quota *steme_db_quota(steme_db *db);

/*
 * The cost of an operation, overflow-safe: payload_bytes / 1024 never wraps
 * (SIZE_MAX bytes costs about 2^54 tokens, which no limit allows).
 * n_lenses counts only for STEME_QUOTA_QUERY and must be 0 for the others.
 * Returns STEME_OK or STEME_E_INVALID (unknown op, NULL cost, lenses on a
 * non-query). Pure.
 */
int steme_quota_cost(steme_quota_op op, unsigned n_lenses, size_t payload_bytes,
                     uint64_t *cost, steme_error *err);

/*
 * Charge an operation of agent at now_ms (Unix ms) if the budget allows it.
 * *out receives allowed, cost, remaining (after the charge, if any) and
 * reset_at. Returns STEME_OK whether or not the operation was allowed: read
 * out->allowed. A refused operation writes nothing. Returns STEME_OK,
 * STEME_E_INVALID (NULL argument, unknown op, lenses on a non-query),
 * STEME_E_CORRUPT (stored usage or limit damaged), STEME_E_NOMEM,
 * STEME_E_ENGINE, STEME_E_IO; on an error nothing is charged.
 */
int steme_quota_check_and_record(steme_quota *q, const steme_agent_id *agent,
                                 steme_quota_op op, unsigned n_lenses, size_t payload_bytes,
                                 uint64_t now_ms, steme_quota_result *out);

/* Most operations one steme_quota_check_and_record_many may charge. */
#define STEME_QUOTA_MANY_MAX 1024u

/*
 * Adds the writes that operation i pays for to the batch of a bulk charge
 * (below); called once more with i == n after the last operation (for
 * writes the caller prefers to add together, in key order: the engine
 * inserts neighbouring keys faster). Called with the Meter's locks of every
 * agent of the call held: it must not call The Meter. Returns STEME_OK, or
 * a status (with steme_db_errmsg set) that cancels the whole call.
 */
typedef int (*steme_quota_batch_fn)(void *ctx, size_t i, steme_kv_batch *b);

/*
 * Charge n operations of one kind (op, n_lenses, payload_bytes as
 * steme_quota_check_and_record) of agents[i] at now_ms[i], in order, in
 * ONE atomic engine write, together with what add(ctx, i, b) puts in the
 * batch for each allowed operation i, then add(ctx, n, b) (add NULL:
 * nothing more). After a
 * crash all of it is there or none. Operations of one agent are checked
 * in order, each against the usage left by the earlier ones, so the sum
 * charged never passes the limit; a refused operation writes nothing and
 * add is not called for it. add may be called again for every allowed
 * operation with a new batch when a pg write lost a race and the charges
 * are checked again. add's keys must live in the engine of the usage
 * records (on the hybrid engine, RocksDB: audit, votes, escalations),
 * else the write fails with STEME_E_CROSS_ENGINE. The write is made like a
 * single charge's (durability above).
 * outs[i] is as steme_quota_check_and_record's *out; rcs[i] is STEME_OK
 * (read outs[i].allowed) or the error that kept operation i from being
 * charged (STEME_E_CORRUPT: its agent's stored usage or limit is damaged),
 * which does not stop the others.
 * Returns STEME_OK when the write was made (or nothing was allowed);
 * otherwise nothing is written and every rcs[i] is the returned status:
 * STEME_E_INVALID (NULL argument, unknown op, n > STEME_QUOTA_MANY_MAX),
 * STEME_E_NOMEM, STEME_E_ENGINE, STEME_E_IO, STEME_E_BUSY (pg: kept
 * colliding with other nodes), STEME_E_CROSS_ENGINE, or add's status.
 * n == 0 is STEME_OK.
 */
int steme_quota_check_and_record_many(steme_quota *q, size_t n, const steme_agent_id *agents,
                                      steme_quota_op op, unsigned n_lenses,
                                      size_t payload_bytes, const uint64_t *now_ms,
                                      steme_quota_batch_fn add, void *ctx,
                                      steme_quota_result *outs, int *rcs);

/* The agent's budget in now_ms's window (nothing is charged). Returns
 * STEME_OK, STEME_E_INVALID, STEME_E_CORRUPT, STEME_E_NOMEM, STEME_E_ENGINE. */
int steme_quota_get_status(steme_quota *q, const steme_agent_id *agent, uint64_t now_ms,
                           steme_quota_status *out);

/*
 * Set agent's limit override (tokens per hour); limit 0 removes the
 * override (the default applies again). Logged: durable on return, applied
 * in order with the agent's charges. Lowering a limit below what was spent
 * this hour refuses further operations until the next window.
 * Returns STEME_OK, STEME_E_INVALID, STEME_E_IO, STEME_E_ENGINE, STEME_E_FATAL,
 * STEME_E_NOMEM.
 */
int steme_quota_set_limit(steme_quota *q, const steme_agent_id *agent, uint64_t limit);

#ifdef __cplusplus
}
#endif
#endif /* STEME_QUOTA_H */
