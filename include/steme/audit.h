/*
 * steme/audit.h - the audit trail: what every query saw and decided
 * (spec 5, "Audit"; the record is steme_query_audit of steme/records.h).
 *
 * Keys (RocksDB, one atomic batch per record):
 *
 *     \0AU:{agent}{ts BE}{query_id}  -> QueryAudit encoding
 *     \0AQ:{query_id}                -> [agent 32][ts u64 BE]  (find by id)
 *
 * Keys sort by agent, then time, then query id, so an agent's records in a
 * time range are one ordered range scan.
 *
 * Durability (a deliberate choice): an audit record is written on every
 * query's path, so it is NOT logged through the WAL and not synced. It is
 * written straight to the engine (RocksDB keeps its own log), so it
 * survives a crash of the process (kill -9) as soon as steme_audit_put
 * returns; a power loss or kernel crash may lose the last moments of audit
 * records (those RocksDB had not flushed to disk yet). steme_db_checkpoint
 * (and close) sync the engines, which makes every earlier record durable.
 *
 * Threads: the handle is a view of its steme_db and may be used from many
 * threads at once; it is valid until steme_db_close. Failure messages are
 * read with steme_db_errmsg(db), per thread.
 */
#ifndef STEME_AUDIT_H
#define STEME_AUDIT_H

#include "steme/db.h"
#include "steme/quota.h"
#include "steme/records.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct steme_audit steme_audit;

/* The audit store of db (NULL if db is NULL). */
steme_audit *steme_db_audit(steme_db *db);

/*
 * Record one query's audit. q is validated first (steme_query_audit_validate)
 * and nothing is written if it is refused. Writing the same record again
 * (same query id, agent and timestamp) replaces it (a retry is harmless); a
 * record whose query id is already used by a record of another agent or
 * timestamp is refused with STEME_E_EXISTS (query ids are meant to be
 * random and unique; reusing one would orphan the older record).
 * Returns STEME_OK, STEME_E_INVALID (NULL handle or q, bad field),
 * STEME_E_TOO_BIG, STEME_E_BAD_UTF8, STEME_E_EXISTS, STEME_E_NOMEM,
 * STEME_E_ENGINE, STEME_E_IO.
 */
int steme_audit_put(steme_audit *a, const steme_query_audit *q);

/*
 * Charge q->agent for one query with n_lenses lenses at The Meter
 * (steme/quota.h, window of q->timestamp) and record q, in ONE atomic
 * engine write: after a crash the charge and the record are both there or
 * neither, and a refused query (out->allowed false, STEME_OK returned)
 * writes nothing. This is steme_query's path: one write per query instead
 * of two. Durability as above (the engine's own log, no WAL, no sync).
 * Unlike steme_audit_put, the query id is NOT checked against the stored
 * records (that read would be on every query): q->query_id must be new,
 * as steme_query makes them (time-ordered, with 80 random bits, see
 * steme/query.h); reusing one would orphan the older record. *out is as
 * steme_quota_check_and_record's. Returns STEME_OK (read out->allowed),
 * STEME_E_INVALID (NULL handle, q or out; bad field), STEME_E_TOO_BIG,
 * STEME_E_BAD_UTF8, STEME_E_CORRUPT (stored usage or limit damaged),
 * STEME_E_CROSS_ENGINE (an engine layout where the audit and usage
 * families live in different engines), STEME_E_NOMEM, STEME_E_ENGINE,
 * STEME_E_IO; on an error nothing is written or charged.
 */
int steme_audit_put_charged(steme_audit *a, const steme_query_audit *q, unsigned n_lenses,
                            steme_quota_result *out);

/*
 * steme_audit_put_charged for n records (at most STEME_QUOTA_MANY_MAX) in
 * ONE engine write (steme_quota_check_and_record_many): what a server
 * does with the queries that finish while another write is under way.
 * Records of one agent are charged in order. outs[i] and rcs[i] are record
 * i's answer: rcs[i] STEME_OK and outs[i].allowed (charged and written),
 * STEME_OK and not allowed (refused: nothing of it written), or the error
 * that kept it out (a record that does not validate, its agent's damaged
 * usage), which does not stop the others. Returns STEME_OK when the write
 * was made, else its error (then nothing is written and every rcs[i] is
 * that error, or the record's own); the statuses are those above.
 */
int steme_audit_put_charged_many(steme_audit *a, size_t n, const steme_query_audit *qs,
                                 unsigned n_lenses, steme_quota_result *outs, int *rcs);

/*
 * Read the record of query_id. Its encoding is copied into buf (caller's,
 * reusable, free with steme_buf_free) and *out decoded from it: ZERO-COPY,
 * *out points into buf->data, so keep buf alive and unchanged while using
 * *out. Returns STEME_OK, STEME_E_NOTFOUND, STEME_E_INVALID (NULL argument),
 * STEME_E_CORRUPT (stored bytes damaged, or the two keys disagree),
 * STEME_E_NOMEM, STEME_E_ENGINE.
 */
int steme_audit_get(steme_audit *a, const steme_id16 *query_id, steme_buf *buf,
                    steme_query_audit *out);

/* Position in an agent's listing (oldest first); zero it to start. */
typedef struct steme_audit_cursor {
    int started;            /* 0: from from_ts */
    uint64_t timestamp;     /* of the last record returned */
    steme_id16 query_id;
} steme_audit_cursor;

/* Called once per record; q is a view valid only during the call. A
 * non-zero return stops the listing. fn may call back into the db. */
typedef int (*steme_audit_fn)(void *ctx, const steme_query_audit *q);

/*
 * List agent's records with from_ts <= timestamp <= to_ts, oldest first
 * (ties by query id), at most limit (0 = all), resuming after *cursor and
 * updating it to the last record returned (so a page loop just calls again
 * with the same cursor until *count is 0). One ordered range scan: it
 * starts at the first key of from_ts (or after the cursor) and stops at the
 * first key past to_ts. *count (optional) receives the number listed.
 * from_ts > to_ts lists nothing. Returns STEME_OK, STEME_E_INVALID (NULL
 * handle, agent, cursor or fn), STEME_E_CORRUPT (a malformed key or record),
 * STEME_E_NOMEM, STEME_E_ENGINE.
 */
int steme_audit_list_agent(steme_audit *a, const steme_agent_id *agent, uint64_t from_ts,
                           uint64_t to_ts, size_t limit, steme_audit_cursor *cursor,
                           steme_audit_fn fn, void *ctx, size_t *count);

#ifdef __cplusplus
}
#endif
#endif /* STEME_AUDIT_H */
