/*
 * steme/supersession.h - corrections: an assertion superseded by its
 * successor, chains walked to their head (spec 5; the record is
 * steme_supersession of steme/records.h).
 *
 * Keys (LMDB, both in one atomic batch, logged through the WAL):
 *
 *     {s_old}\0SS:{old}  -> Supersession encoding   (forward: old -> new)
 *     {s_new}\0SB:{new}  -> old hash, 32 bytes      (reverse: new -> old)
 *
 * where s_old / s_new are the subjects of the two assertions (found through
 * the \0HS:{hash} locator), so each key lives with its assertion's subject.
 *
 * Rules (chains are linear: each assertion has at most one successor and at
 * most one predecessor):
 *   - both assertions must be stored; old != new;
 *   - old must not be superseded already (STEME_E_EXISTS), and new must not
 *     already be the successor of another assertion (STEME_E_EXISTS: the
 *     reverse key holds one predecessor);
 *   - no cycle: if the chain from new reaches old, the supersession is
 *     refused (STEME_E_INVALID, "would make a cycle");
 *   - a chain holds at most STEME_SUPERSESSION_CHAIN_MAX links; a
 *     supersession that would make it longer is STEME_E_FULL, so every walk
 *     is bounded; a longer chain found while walking is STEME_E_CORRUPT.
 *   - superseded assertions are kept forever (hiding them from default
 *     queries is the read path's business).
 *
 * Threads: the handle is a view of its steme_db, valid until
 * steme_db_close, usable from many threads. Supersessions are serialised
 * with each other by one lock: the cycle check reads a chain before the
 * write, and two concurrent supersessions (a -> b and b -> a) could each
 * pass it alone and make a cycle together; they are rare, so one lock costs
 * nothing. Reads take no lock (each supersession's two keys appear in one
 * atomic batch). Failure messages: steme_db_errmsg(db), per thread.
 */
#ifndef STEME_SUPERSESSION_H
#define STEME_SUPERSESSION_H

#include <stdbool.h>
#include "steme/db.h"
#include "steme/records.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STEME_SUPERSESSION_CHAIN_MAX 10000u   /* links in one chain */

/* (The record type is steme_supersession, so the store is plural.) */
typedef struct steme_supersessions steme_supersessions;

/* The supersession store of db (NULL if db is NULL). */
steme_supersessions *steme_db_supersessions(steme_db *db);

/*
 * Record that old_hash is corrected by new_hash, with a reason (UTF-8,
 * 0..STEME_TEXT_MAX bytes; NULL allowed when reason_len is 0), by agent, at
 * ts (Unix ms). Durable on return. Returns STEME_OK, STEME_E_INVALID (NULL
 * argument, old == new, would make a cycle), STEME_E_TOO_BIG,
 * STEME_E_BAD_UTF8, STEME_E_NOTFOUND (an assertion is not stored),
 * STEME_E_EXISTS (old already superseded, or new already a successor),
 * STEME_E_FULL (chain too long), STEME_E_CORRUPT, STEME_E_IO, STEME_E_ENGINE,
 * STEME_E_FATAL, STEME_E_NOMEM. Nothing changes on failure.
 */
int steme_supersede(steme_supersessions *s, const steme_hash *old_hash,
                    const steme_hash *new_hash, const char *reason, size_t reason_len,
                    const steme_agent_id *agent, uint64_t ts);

/*
 * The supersession of old_hash (who corrected it, when, why), decoded into
 * *out from buf (ZERO-COPY: out->reason points into buf->data).
 * Returns STEME_OK, STEME_E_NOTFOUND (not superseded, or unknown),
 * STEME_E_INVALID, STEME_E_CORRUPT, STEME_E_NOMEM, STEME_E_ENGINE.
 */
int steme_supersession_get(steme_supersessions *s, const steme_hash *old_hash, steme_buf *buf,
                           steme_supersession *out);

/* *yes = 1 if h is superseded (an unknown h is not). Returns STEME_OK,
 * STEME_E_INVALID, STEME_E_CORRUPT, STEME_E_NOMEM, STEME_E_ENGINE. */
int steme_supersession_is_superseded(steme_supersessions *s, const steme_hash *h, bool *yes);

/*
 * Batched is_superseded for n assertions about one subject (1..1024 bytes),
 * with one engine multi-get per 128 hashes and no locator read (the
 * subject is given): yes[i] = 1 if hashes[i] is superseded. A hash that is
 * not an assertion about subject reads as not superseded. The read path's
 * filter: one round trip instead of two per candidate on networked engines.
 * Returns STEME_OK (also for n == 0), STEME_E_INVALID (NULL argument),
 * STEME_E_INVALID / STEME_E_TOO_BIG / STEME_E_BAD_UTF8 (bad subject),
 * STEME_E_CORRUPT, STEME_E_NOMEM, STEME_E_ENGINE; on failure yes[] is
 * unspecified.
 */
int steme_supersession_are_superseded(steme_supersessions *s, const char *subject,
                                      size_t subject_len, size_t n, const steme_hash *hashes,
                                      bool *yes);

/* The successor of h (the assertion that supersedes it) into *next.
 * Returns STEME_OK, STEME_E_NOTFOUND (h is not superseded or unknown),
 * STEME_E_INVALID, STEME_E_CORRUPT, STEME_E_NOMEM, STEME_E_ENGINE. */
int steme_supersession_successor(steme_supersessions *s, const steme_hash *h, steme_hash *next);

/* The predecessor of h (the assertion it supersedes) into *prev.
 * Returns STEME_OK, STEME_E_NOTFOUND (h supersedes nothing, or unknown),
 * STEME_E_INVALID, STEME_E_CORRUPT, STEME_E_NOMEM, STEME_E_ENGINE. */
int steme_supersession_predecessor(steme_supersessions *s, const steme_hash *h,
                                   steme_hash *prev);

/*
 * Walk from h to the current head of its chain (the newest correction; h
 * itself if it is not superseded) into *head; *links (optional) gets the
 * number of links walked. h must be a stored assertion. Returns STEME_OK,
 * STEME_E_NOTFOUND (h unknown), STEME_E_INVALID, STEME_E_CORRUPT (a chain
 * longer than STEME_SUPERSESSION_CHAIN_MAX, or a broken link),
 * STEME_E_NOMEM, STEME_E_ENGINE.
 */
int steme_supersession_head(steme_supersessions *s, const steme_hash *h, steme_hash *head,
                            size_t *links);

#ifdef __cplusplus
}
#endif
#endif /* STEME_SUPERSESSION_H */
