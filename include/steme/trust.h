/*
 * steme/trust.h - TrustRank (an agent's reputation) and gold standards
 * (known-true answers that agents' answers are checked against): spec 5.
 *
 * Both stores are views of a steme_db (steme_db_trust(), steme_db_gold()):
 * valid until steme_db_close(), NULL for a NULL db, never freed by the
 * caller. Every function takes its handle first and returns a steme_status;
 * a NULL handle gives STEME_E_INVALID, any other failure also leaves a
 * message readable with steme_db_errmsg(db) (per thread).
 *
 * Keys (steme/keys.h), both in LMDB:
 *     \0TR:{agent}            -> TrustRank encoding (steme/records.h)
 *     {subject}\0GS:{pred}    -> GoldStandard encoding
 *
 * Durability: every write is appended to the database's log (group commit)
 * and applied before the call returns; the log carries the resulting state,
 * so a replay after a crash reproduces it exactly.
 *
 * Threads: all functions may be called from many threads at once on one
 * handle. Outcomes recorded for the same agent are serialised (each sees the
 * previous one's result); outcomes for different agents run in parallel.
 *
 * Design notes and choices: docs/trust.md.
 */
#ifndef STEME_TRUST_H
#define STEME_TRUST_H

#include <stdbool.h>
#include "steme/db.h"
#include "steme/records.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ TrustRank */

#define STEME_TRUST_DEFAULT_SCORE     0.5   /* unknown agents, and the decay target */
#define STEME_TRUST_ACCURATE_DELTA    0.05  /* score += on an accurate outcome */
#define STEME_TRUST_INACCURATE_DELTA  0.10  /* score -= on an inaccurate outcome */
/* Default decay half-life: 30 days, in milliseconds. */
#define STEME_TRUST_DEFAULT_HALF_LIFE_MS (30.0 * 24.0 * 3600.0 * 1000.0)

typedef struct steme_trust steme_trust;

/* The TrustRank store of db (a view of it); NULL if db is NULL. */
steme_trust *steme_db_trust(steme_db *db);

/*
 * Read agent's rank into *out. An agent with no recorded outcome gets the
 * neutral default (score 0.5, counts 0, last_updated 0) and STEME_OK, with
 * *is_default (optional) set to 1; a stored rank sets it to 0.
 * Returns STEME_OK, STEME_E_INVALID (NULL agent/out), STEME_E_CORRUPT (the
 * stored record does not decode or names another agent), STEME_E_ENGINE,
 * STEME_E_NOMEM.
 */
int steme_trust_get(steme_trust *t, const steme_agent_id *agent, steme_trust_rank *out,
                    int *is_default);

/*
 * Record the outcome of one of agent's answers at time ts (Unix ms):
 * accurate -> score += 0.05 and accuracy_count += 1; inaccurate ->
 * score -= 0.10; both -> assertions_count += 1; the score is clamped to
 * [0, 1]. last_updated becomes max(last_updated, ts): an outcome reported
 * late never moves the clock back (that would make a later decay count
 * again time that was already decayed). Durable on return. *out
 * (optional) receives the new state.
 * Returns STEME_OK, STEME_E_INVALID (NULL agent), STEME_E_FULL (a counter
 * would overflow), STEME_E_CORRUPT, STEME_E_IO, STEME_E_ENGINE, STEME_E_FATAL,
 * STEME_E_NOMEM. On failure nothing changed.
 */
int steme_trust_record_outcome(steme_trust *t, const steme_agent_id *agent, bool was_accurate,
                               uint64_t ts, steme_trust_rank *out);

/*
 * Decay every stored rank toward the neutral 0.5:
 *     score = 0.5 + (score - 0.5) * 0.5^(elapsed / half_life_ms)
 * with elapsed = now - last_updated; then last_updated = now. Agents with
 * now <= last_updated are skipped, and so are agents whose score is
 * exactly 0.5 (decay cannot move them; no log record is spent on them).
 * half_life_ms: milliseconds, 0 for the default (30 days); must be finite
 * and > 0 otherwise. Each agent's update is logged and applied under that
 * agent's lock after re-reading it, so an outcome recorded concurrently is
 * never lost. *decayed (optional) receives the number of agents updated.
 * Not atomic as a whole: if it fails part-way, the agents already updated
 * stay updated (each is durable), and running it again with the same
 * `now` skips them.
 * Returns STEME_OK, STEME_E_INVALID (NaN, infinite or negative half-life),
 * STEME_E_CORRUPT, STEME_E_IO, STEME_E_ENGINE, STEME_E_FATAL, STEME_E_NOMEM.
 */
int steme_trust_decay(steme_trust *t, uint64_t now, double half_life_ms, uint64_t *decayed);

/* Position in a listing by rank; zero it to start from the top. */
typedef struct steme_trust_cursor {
    int started;
    double score;            /* of the last entry returned */
    steme_agent_id agent;
} steme_trust_cursor;

typedef int (*steme_trust_rank_fn)(void *ctx, const steme_trust_rank *rank);

/*
 * List stored ranks, highest score first (ties by agent id, ascending), at
 * most limit (0 = all), resuming after *cursor and updating it to the last
 * one returned. fn gets a view valid during the call and may call back into
 * the database; a non-zero return stops the listing. *count (optional)
 * receives the number listed. Agents without a stored rank are not listed.
 * Cost: one scan of all ranks per call (ranks are keyed by agent, not by
 * score), memory for the ranks below the cursor.
 * Returns STEME_OK, STEME_E_INVALID (NULL cursor or fn, or a cursor with a
 * non-finite score), STEME_E_CORRUPT, STEME_E_ENGINE, STEME_E_NOMEM.
 */
int steme_trust_list_by_rank(steme_trust *t, size_t limit, steme_trust_cursor *cursor,
                             steme_trust_rank_fn fn, void *ctx, size_t *count);

/* --------------------------------------------------------- gold standards */

typedef struct steme_gold steme_gold;

/* The gold-standard store of db (a view of it); NULL if db is NULL. */
steme_gold *steme_db_gold(steme_db *db);

/*
 * Set (insert or replace) the gold standard of (gold->subject,
 * gold->predicate). The record is validated (steme_gold_standard_validate);
 * the assertion it names is not required to be stored. Durable on return.
 * Returns STEME_OK, STEME_E_INVALID (NULL, bad fields), STEME_E_TOO_BIG,
 * STEME_E_BAD_UTF8, STEME_E_IO, STEME_E_ENGINE, STEME_E_FATAL, STEME_E_NOMEM.
 */
int steme_gold_set(steme_gold *g, const steme_gold_standard *gold);

/*
 * Read the gold standard of (subject, predicate). Its encoding is copied
 * into buf and *out decoded from it (ZERO-COPY: *out points into buf->data;
 * keep buf alive and unchanged while using *out).
 * Returns STEME_OK, STEME_E_NOTFOUND, STEME_E_INVALID (NULL argument),
 * STEME_E_TOO_BIG / STEME_E_BAD_UTF8 (bad subject or predicate),
 * STEME_E_CORRUPT (stored bytes do not decode or belong to another key),
 * STEME_E_ENGINE, STEME_E_NOMEM.
 */
int steme_gold_get(steme_gold *g, const char *subject, size_t subject_len,
                   const char *predicate, size_t predicate_len, steme_buf *buf,
                   steme_gold_standard *out);

/*
 * Does answer match the expected value? Rules (spec 5):
 *   strings: equal after trimming ASCII whitespace at both ends, folding
 *            ASCII letters to lower case, and collapsing each inner run of
 *            ASCII whitespace (space, \t, \n, \v, \f, \r) to one space;
 *            other bytes (non-ASCII letters too) compare exactly;
 *   numbers: INT and FLOAT, in any mix, equal when
 *            |a - b| <= 1e-9 * max(|a|, |b|) (so 0 matches only 0);
 *   bool:    equal; bytes: bytewise equal;
 *   a string never matches a number, and so on across types.
 * Pure, thread-safe, no allocation. *matched receives 1 or 0.
 * Returns STEME_OK, or the steme_value_validate statuses for an invalid
 * expected or answer value (STEME_E_INVALID, STEME_E_TOO_BIG,
 * STEME_E_BAD_UTF8; also STEME_E_INVALID for NULL arguments).
 */
int steme_gold_value_matches(const steme_value *expected, const steme_value *answer,
                             int *matched, steme_error *err);

/* Same against gold->expected. */
int steme_gold_matches(const steme_gold_standard *gold, const steme_value *answer,
                       int *matched, steme_error *err);

/*
 * Check agent's answer for (subject, predicate) against its gold standard
 * and record the outcome in TrustRank (steme_trust_record_outcome at ts).
 * *matched (optional) receives 1 or 0; *rank (optional) the agent's new
 * rank. The answer is validated before anything is recorded.
 * Returns STEME_OK, STEME_E_NOTFOUND (no gold standard: nothing recorded),
 * the steme_gold_get and steme_trust_record_outcome statuses, and
 * STEME_E_INVALID / STEME_E_TOO_BIG / STEME_E_BAD_UTF8 for a bad answer.
 */
int steme_gold_verify_answer(steme_gold *g, const char *subject, size_t subject_len,
                             const char *predicate, size_t predicate_len,
                             const steme_agent_id *agent, const steme_value *answer,
                             uint64_t ts, int *matched, steme_trust_rank *rank);

#ifdef __cplusplus
}
#endif
#endif /* STEME_TRUST_H */
