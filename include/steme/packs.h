/*
 * steme/packs.h - trust packs ("App Store for Trust", spec 5): named lists
 * of agents a reader can restrict a query to.
 *
 * The store is a view of a steme_db (steme_db_packs()): valid until
 * steme_db_close(), NULL for a NULL db, never freed by the caller. Every
 * function takes its handle first and returns a steme_status; a NULL handle
 * gives STEME_E_INVALID, any other failure also leaves a message readable
 * with steme_db_errmsg(db) (per thread).
 *
 * Keys (steme/keys.h), both in LMDB:
 *     \0TP:{pack id16}           -> TrustPack encoding (steme/records.h)
 *     \0TM:{pack id16}{agent}    -> empty (one key per member)
 *
 * A pack's membership test is one point read of its member key, whatever
 * the pack's size. Writes are durable on return (log, then apply).
 *
 * Packs are never deleted (a pack may be named by stored audits or by
 * readers' saved settings; an unknown id must keep meaning "no such pack",
 * never "another pack"): to retire one, remove its members and say so in
 * its description. See docs/trust.md.
 *
 * Threads: all functions may be called from many threads at once. Changes
 * to one pack (its record and its members) are serialised by the pack's
 * lock; different packs change in parallel.
 */
#ifndef STEME_PACKS_H
#define STEME_PACKS_H

#include <stdbool.h>
#include "steme/db.h"
#include "steme/records.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct steme_packs steme_packs;

/* The trust-pack store of db (a view of it); NULL if db is NULL. */
steme_packs *steme_db_packs(steme_db *db);

/*
 * Create or replace pack->id's record (name, maintainer, description,
 * created_at). Members are not touched. *created (optional) receives 1 if
 * the pack was new, 0 if it replaced an existing record.
 * Returns STEME_OK, STEME_E_INVALID (NULL, empty name, NULL text with a
 * length), STEME_E_TOO_BIG (name > 256 or description > 4096 bytes),
 * STEME_E_BAD_UTF8, STEME_E_IO, STEME_E_ENGINE, STEME_E_FATAL, STEME_E_NOMEM.
 */
int steme_packs_put(steme_packs *p, const steme_trust_pack *pack, int *created);

/*
 * Read a pack. Its encoding is copied into buf and *out decoded from it
 * (ZERO-COPY: name and description point into buf->data; keep buf alive and
 * unchanged while using *out).
 * Returns STEME_OK, STEME_E_NOTFOUND, STEME_E_INVALID (NULL argument),
 * STEME_E_CORRUPT, STEME_E_ENGINE, STEME_E_NOMEM.
 */
int steme_packs_get(steme_packs *p, const steme_id16 *pack, steme_buf *buf,
                    steme_trust_pack *out);

/*
 * Add agent to pack / remove it. Both are idempotent (adding a member or
 * removing a non-member succeeds and changes nothing; *changed, optional,
 * says whether membership changed). Adding to a pack that does not exist is
 * STEME_E_NOTFOUND; removing from one is STEME_E_NOTFOUND too.
 * Returns STEME_OK, STEME_E_NOTFOUND, STEME_E_INVALID (NULL argument),
 * STEME_E_CORRUPT, STEME_E_IO, STEME_E_ENGINE, STEME_E_FATAL, STEME_E_NOMEM.
 */
int steme_packs_add_agent(steme_packs *p, const steme_id16 *pack, const steme_agent_id *agent,
                          int *changed);
int steme_packs_remove_agent(steme_packs *p, const steme_id16 *pack,
                             const steme_agent_id *agent, int *changed);

/*
 * *member = 1 if agent is in pack, else 0 (also for a pack that does not
 * exist: one point read, the pack record is not consulted).
 * Returns STEME_OK, STEME_E_INVALID (NULL argument), STEME_E_ENGINE.
 */
int steme_packs_is_member(steme_packs *p, const steme_id16 *pack, const steme_agent_id *agent,
                          int *member);

/* Position in a listing; zero it to start from the first entry. */
typedef struct steme_pack_cursor {
    int started;
    steme_id16 last;           /* pack id of the last pack returned */
} steme_pack_cursor;

typedef struct steme_member_cursor {
    int started;
    steme_agent_id last;       /* the last member returned */
} steme_member_cursor;

typedef int (*steme_pack_fn)(void *ctx, const steme_trust_pack *pack);
typedef int (*steme_member_fn)(void *ctx, const steme_agent_id *agent);

/*
 * List packs in pack-id order, at most limit (0 = all), resuming after
 * *cursor and updating it to the last one listed. fn gets a view valid
 * during the call and may call back into the database; a non-zero return
 * stops the listing. *count (optional) receives the number listed.
 * Returns STEME_OK, STEME_E_INVALID (NULL cursor or fn), STEME_E_CORRUPT,
 * STEME_E_ENGINE, STEME_E_NOMEM.
 */
int steme_packs_list(steme_packs *p, size_t limit, steme_pack_cursor *cursor,
                     steme_pack_fn fn, void *ctx, size_t *count);

/*
 * List the members of pack in agent-id order, like steme_packs_list. A pack
 * that does not exist has no members (STEME_OK, nothing listed).
 */
int steme_packs_list_members(steme_packs *p, const steme_id16 *pack, size_t limit,
                             steme_member_cursor *cursor, steme_member_fn fn, void *ctx,
                             size_t *count);

#ifdef __cplusplus
}
#endif
#endif /* STEME_PACKS_H */
