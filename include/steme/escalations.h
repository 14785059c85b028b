/*
 * steme/escalations.h - escalations: conflicts raised for a curator and
 * resolved with a note (spec 5; the record is steme_escalation of
 * steme/records.h).
 *
 * Keys (all RocksDB, family ES; status bytes 1 and 2 are the record's
 * status, 0x80 and 0x81 are this store's own locators):
 *
 *     \0ES:{1}{created_at BE}{id}   -> Escalation (open)
 *     \0ES:{2}{created_at BE}{id}   -> Escalation (resolved)
 *     \0ES:{0x80}{0}{id}            -> [status u8][created_at u64 LE]   (find by id)
 *     \0ES:{0x81}{0}{target id16}   -> id of the OPEN escalation of a target
 *
 * A target id is the first 16 bytes of BLAKE3("steme escalation target" ||
 * kind || hash) or (... || kind || subject || 0x00 || predicate). The target
 * locator makes the "one open escalation per target" check one point read
 * instead of a scan of every open escalation. Every change (raise, resolve)
 * moves all of these keys in one atomic batch, logged through the WAL
 * (durable on return).
 *
 * Rules:
 *   - at most one OPEN escalation per target (an assertion hash, or a
 *     subject + predicate pair); raising a second one is STEME_E_EXISTS
 *     until the first is resolved;
 *   - the store records what it is given: deciding that a conflict score
 *     passes the threshold (STEME_ESCALATION_THRESHOLD, spec default 0.8)
 *     is the caller's business;
 *   - escalations are kept forever, resolved ones too.
 *
 * Threads: the handle is a view of its steme_db, valid until
 * steme_db_close, usable from many threads. Raises and resolves are rare
 * and are serialised with each other (one lock), which keeps the
 * one-open-per-target check exact. Failure messages: steme_db_errmsg(db).
 */
#ifndef STEME_ESCALATIONS_H
#define STEME_ESCALATIONS_H

#include "steme/db.h"
#include "steme/records.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STEME_ESCALATION_THRESHOLD 0.8   /* spec 5 default conflict score */

typedef struct steme_escalations steme_escalations;

/* The escalation store of db (NULL if db is NULL). */
steme_escalations *steme_db_escalations(steme_db *db);

/*
 * Raise an escalation. e must be valid (steme_escalation_validate) and open:
 * status STEME_ESC_OPEN (or 0, taken as open), resolved_at 0, empty note.
 * Durable on return. Returns STEME_OK, STEME_E_INVALID (NULL, bad field,
 * not open), STEME_E_TOO_BIG, STEME_E_BAD_UTF8, STEME_E_EXISTS (the id is
 * taken, or its target already has an open escalation), STEME_E_CORRUPT,
 * STEME_E_IO, STEME_E_ENGINE, STEME_E_FATAL, STEME_E_NOMEM.
 */
int steme_escalation_raise(steme_escalations *s, const steme_escalation *e);

/*
 * Read escalation id into buf (caller's, reusable) and decode *out from it
 * (ZERO-COPY: *out's text points into buf->data). Returns STEME_OK,
 * STEME_E_NOTFOUND, STEME_E_INVALID, STEME_E_CORRUPT, STEME_E_NOMEM,
 * STEME_E_ENGINE.
 */
int steme_escalation_get(steme_escalations *s, const steme_id16 *id, steme_buf *buf,
                         steme_escalation *out);

/*
 * Resolve open escalation id with a note (UTF-8, 0..STEME_TEXT_MAX bytes;
 * NULL allowed when note_len is 0) at resolved_at (Unix ms). Durable on
 * return. Returns STEME_OK, STEME_E_NOTFOUND (no escalation with that id),
 * STEME_E_INVALID (NULL, already resolved), STEME_E_TOO_BIG, STEME_E_BAD_UTF8,
 * STEME_E_CORRUPT, STEME_E_IO, STEME_E_ENGINE, STEME_E_FATAL, STEME_E_NOMEM.
 */
int steme_escalation_resolve(steme_escalations *s, const steme_id16 *id, const char *note,
                             size_t note_len, uint64_t resolved_at);

/* Position in a listing (newest first); zero it to start from the newest. */
typedef struct steme_escalation_cursor {
    int started;
    uint64_t created_at;     /* of the last one returned */
    steme_id16 id;
} steme_escalation_cursor;

/* Called once per escalation; e is a view valid only during the call. A
 * non-zero return stops the listing. fn may call back into the db. */
typedef int (*steme_escalation_fn)(void *ctx, const steme_escalation *e);

/*
 * List the escalations with the given status, newest first (by created_at,
 * ties by id descending), at most limit (0 = all), resuming after *cursor
 * and updating it. *count (optional) receives the number listed.
 * Returns STEME_OK, STEME_E_INVALID (NULL handle/cursor/fn, unknown status),
 * STEME_E_CORRUPT, STEME_E_NOMEM, STEME_E_ENGINE.
 */
int steme_escalation_list(steme_escalations *s, steme_escalation_status status, size_t limit,
                          steme_escalation_cursor *cursor, steme_escalation_fn fn, void *ctx,
                          size_t *count);

#ifdef __cplusplus
}
#endif
#endif /* STEME_ESCALATIONS_H */
