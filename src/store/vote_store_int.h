/*
 * store/vote_store_int.h - what the Ballot Box's sources share: key
 * building, the subject locator, and the in-process read cache.
 *
 * The read cache (vote_cache.c) maps an assertion hash to its subject
 * (immutable, so always safe to keep) and to its vote count and
 * fixed-point weight sum (a copy of the VC/VW keys, kept exact):
 *
 *   - applies of votes bracket their KV write with vote_cache_begin()
 *     and vote_cache_end(), which add the same deltas to a cached entry;
 *   - a reader that misses takes a ticket (vote_cache_totals), reads the
 *     KV keys, and installs them (vote_cache_fill) only if no apply
 *     touched the entry's set in between, so it never installs values
 *     older than a write that already finished.
 *
 * The cache hangs off the steme_db handle (db->db_vote_cache, created on
 * first use by a Ballot Box call, freed at close). Builds whose db_int.h
 * has no such field (DB_HAVE_VOTE_CACHE undefined) run without it: every
 * read then goes to the engines, with the same results.
 */
#ifndef STEME_STORE_VOTE_STORE_INT_H
#define STEME_STORE_VOTE_STORE_INT_H

#include "steme/keys.h"
#include "steme/votes.h"
#include "store/db_int.h"

/* The db behind a Ballot Box handle (a handle is the db itself). */
static inline steme_db *vdb(steme_votes *v)
{
    return (steme_db *)v;
}

/* Key of family fam (VOTE, VOTE_COUNT, VOTE_WEIGHT) for the assertion a
 * (and voter, for VOTE) under subject s[0..slen) into buf[STEME_KEY_MAX]. */
int vote_key(steme_key_family fam, const char *s, size_t slen, const steme_hash *a,
             const steme_agent_id *voter, uint8_t *buf, size_t *len);

/*
 * Subject of assertion a into out[STEME_SUBJECT_MAX], *len its length:
 * from the cache, else from the \0HS:{hash} locator (then cached).
 * Returns STEME_OK, STEME_E_NOTFOUND ("unknown assertion", recorded with
 * db_fail using `what` as the message's prefix), STEME_E_CORRUPT, engine
 * statuses.
 */
int vote_subject_of(steme_db *db, const char *what, const steme_hash *a, char *out,
                    size_t *len);

/* Parse a DB_LOG_VOTE body: the subject (a view into body), the vote's
 * encoding (a view) and the decoded vote. STEME_OK or STEME_E_CORRUPT. */
int vote_parse_body(steme_db *db, const uint8_t *body, size_t len, const char **s,
                    size_t *slen, const uint8_t **enc, size_t *elen, steme_vote *vote);

/* The stored vote `old` (raw bytes) as a fixed-point weight; checks it is
 * filed under the same (assertion, voter) as `vote`. STEME_OK or CORRUPT. */
int vote_old_weight(steme_db *db, const steme_buf *old, const steme_vote *vote,
                    int64_t *fixed);

/* Fill *value from a 8-byte LE cache value (VC, VW); STEME_E_CORRUPT if not 8 bytes. */
int vote_le64(const steme_buf *b, uint64_t *value);

/* ------------------------------------------------------------- cache */

typedef struct vote_cache vote_cache;

/* The db's cache; with create, made on first use (NULL if that fails or
 * the build has no cache). */
vote_cache *vote_cache_of(steme_db *db, int create);
void vote_cache_free(vote_cache *c);

/* Subject of a, if cached: copies it to out (cap STEME_SUBJECT_MAX), returns 1. */
int vote_cache_subject(vote_cache *c, const steme_hash *a, char *out, size_t *len);
/* Remember a's subject (skipped when longer than the inline space). */
void vote_cache_put_subject(vote_cache *c, const steme_hash *a, const char *s, size_t len);

/* What a reader saw when it missed: install only if it still holds. */
typedef struct vote_fill_ticket {
    uint32_t gen;
    int busy;        /* an apply was in flight: do not install */
} vote_fill_ticket;

/* Cached count and weight sum of a: returns 1 on a hit, else 0 and a ticket. */
int vote_cache_totals(vote_cache *c, const steme_hash *a, uint64_t *count, int64_t *wsum,
                      vote_fill_ticket *t);
/* Install values read from the engines after the ticket was taken. */
void vote_cache_fill(vote_cache *c, const steme_hash *a, const vote_fill_ticket *t,
                     const char *s, size_t slen, uint64_t count, int64_t wsum);

/* Apply bracket: begin before the KV write, end after it. applied = 0
 * when the write failed (the cached totals of a are then dropped). */
void vote_cache_begin(vote_cache *c, const steme_hash *a);
void vote_cache_end(vote_cache *c, const steme_hash *a, const char *s, size_t slen,
                    int64_t dcount, int64_t dwsum, int applied);
/* Drop the cached totals of a and fail pending fills of its set (for an
 * apply that ran before the cache existed). */
void vote_cache_invalidate(vote_cache *c, const steme_hash *a);

#endif
