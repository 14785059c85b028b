/*
 * steme/votes.h - the Ballot Box: one standing vote per (voter, assertion),
 * with O(1) count and weight per assertion (spec 5).
 *
 * Keys (RocksDB, all three written in one atomic batch per vote):
 *
 *     {s}\0V:{assertion}{voter}   -> the vote's canonical encoding
 *     {s}\0VC:{assertion}         -> u64 LE: number of standing votes
 *     {s}\0VW:{assertion}         -> i64 LE: sum of the standing weights in
 *                                    fixed point, units of 2^-32 (see below)
 *
 * where {s} is the subject of the assertion voted on (found through the
 * hash -> subject locator \0HS:{hash} that the assertion store writes).
 *
 * Re-votes: a voter's new vote on the same assertion replaces the old one;
 * the count does not move and the weight sum moves by new - old. Putting a
 * vote identical to the standing one changes nothing.
 *
 * DEVIATION FROM THE SPEC ("VW: f64 LE"): the weight sum is an exact
 * fixed-point integer, sum of llround(weight * 2^32) over the standing votes
 * (exact for every |weight| <= 1 that a double can hold to 2^-32; finer
 * bits are rounded to nearest), stored as 8 bytes LE two's complement and
 * moved by signed u64 adds. Why: floating-point addition is not
 * associative, so a float sum depends on the order in which votes were
 * applied (threads, replay after a crash) and would drift from a recount by
 * rounding; integer adds commute, so the cache equals a recount bit for bit
 * in any order and after any crash. The weight reported is sum / 2^32.
 *
 * Durability: steme_votes_put returns only once the vote is in the
 * write-ahead log and synced (group commit with concurrent writers), and
 * applied to the engines; after a crash the log is replayed and every
 * acknowledged vote is there, with caches equal to a recount.
 *
 * Threads: every function may be called from many threads at once on one
 * handle. Puts on different (assertion, voter) pairs run in parallel and
 * share log syncs; puts on the same pair are serialised, in log order.
 *
 * Errors: each function returns a status from steme/status.h; the calling
 * thread's last failure message is steme_db_errmsg(db). A NULL handle gives
 * STEME_E_INVALID (no message).
 */
#ifndef STEME_VOTES_H
#define STEME_VOTES_H

#include <stddef.h>
#include <stdint.h>

#include "steme/db.h"
#include "steme/record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A view of a steme_db (not a separate object): valid until steme_db_close. */
typedef struct steme_votes steme_votes;

/* The Ballot Box of db; NULL if db is NULL. Never allocates. */
steme_votes *steme_db_votes(steme_db *db);

/* One unit of weight in the fixed-point sum: weight 1.0 = 2^32. */
#define STEME_VOTE_WEIGHT_ONE 4294967296.0
/* The fixed-point value a weight adds to the sum: llround(weight * 2^32). */
int64_t steme_vote_weight_fixed(double weight);

/*
 * Cast a vote (or replace the voter's standing vote on that assertion).
 *
 * vote       the vote: weight finite in [-1, 1], timestamp non-zero (Unix
 *            ms; 0 is refused as "missing"); the signature, when
 *            has_signature is set, must verify against vote->voter.
 *            Copied; the caller keeps ownership.
 * vote_hash  optional: receives the vote's content hash (steme_vote_hash).
 *
 * The assertion must exist. Everything is checked before anything is
 * written: a refused vote changes nothing. Returns once durable.
 * Returns STEME_OK; STEME_E_INVALID (NULL vote, weight out of range or not
 * finite, timestamp 0); STEME_E_BAD_SIGNATURE; STEME_E_NOTFOUND (unknown
 * assertion); STEME_E_CORRUPT (the locator or the stored vote is damaged);
 * STEME_E_FATAL (the log is poisoned after a failed sync: reopen);
 * STEME_E_CLOSED; STEME_E_ENGINE; STEME_E_IO; STEME_E_NOMEM.
 */
int steme_votes_put(steme_votes *v, const steme_vote *vote, steme_hash *vote_hash);

/*
 * Read voter's standing vote on assertion. Its encoding is copied into buf
 * and *out decoded from it (zero-copy: keep buf alive and unchanged while
 * using *out). Returns STEME_OK; STEME_E_NOTFOUND (unknown assertion, or no
 * vote by that voter: the message says which); STEME_E_INVALID (NULL
 * argument); STEME_E_CORRUPT; STEME_E_ENGINE; STEME_E_NOMEM.
 */
int steme_votes_get(steme_votes *v, const steme_hash *assertion, const steme_agent_id *voter,
                    steme_buf *buf, steme_vote *out);

/*
 * Number of standing votes on assertion (O(1): the VC cache, served from
 * an in-process cache when warm; never older than the last acknowledged
 * put). Returns STEME_OK (0 for an assertion without votes);
 * STEME_E_NOTFOUND (unknown assertion); STEME_E_INVALID; STEME_E_CORRUPT;
 * STEME_E_ENGINE; STEME_E_NOMEM.
 */
int steme_votes_count(steme_votes *v, const steme_hash *assertion, uint64_t *count);

/*
 * Aggregate weight of the standing votes on assertion: the exact
 * fixed-point sum / 2^32 (O(1), as steme_votes_count). Returns as
 * steme_votes_count.
 */
int steme_votes_weight(steme_votes *v, const steme_hash *assertion, double *weight);

/*
 * Both caches at once, the weight as its exact fixed-point sum (units of
 * 2^-32). Either output may be NULL. Returns as steme_votes_count.
 */
int steme_votes_totals(steme_votes *v, const steme_hash *assertion, uint64_t *count,
                       int64_t *weight_fixed);

/* Position in a vote listing (ascending voter id); zero it to start. */
typedef struct steme_vote_cursor {
    int started;               /* 0: from the first voter */
    steme_agent_id voter;      /* the last voter returned */
} steme_vote_cursor;

/* Called once per vote; the vote is a view valid during the call only.
 * A non-zero return stops the listing. The callback may call steme. */
typedef int (*steme_vote_fn)(void *ctx, const steme_vote *vote);

/*
 * List the standing votes on assertion in ascending voter order, at most
 * limit (0 = all), resuming after *cursor and moving it to the last vote
 * returned. Returns STEME_OK (also when there are no more votes: a call
 * that lists nothing leaves the cursor as it was); STEME_E_NOTFOUND
 * (unknown assertion); STEME_E_INVALID (NULL v, assertion, cursor or fn);
 * STEME_E_CORRUPT (a stored vote does not decode or is filed under the
 * wrong key); STEME_E_ENGINE; STEME_E_NOMEM.
 */
int steme_votes_list(steme_votes *v, const steme_hash *assertion, size_t limit,
                     steme_vote_cursor *cursor, steme_vote_fn fn, void *ctx);

/*
 * Recount assertion's votes from the vote records themselves (one scan,
 * O(votes)), for checks: in a quiet database *count and *weight_fixed
 * equal the caches read by steme_votes_totals. Either output may be NULL.
 * Returns as steme_votes_list.
 */
int steme_votes_recount(steme_votes *v, const steme_hash *assertion, uint64_t *count,
                        int64_t *weight_fixed);

#ifdef __cplusplus
}
#endif
#endif /* STEME_VOTES_H */
