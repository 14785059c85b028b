/*
 * store/vote_behind.h - votes acknowledged at durability, applied to the
 * engine behind (vote_behind.c).
 *
 * A vote's put returns once its log record is durable and the in-process
 * vote cache holds its deltas; one applier thread writes the votes to the
 * engine afterwards, in log order, in large batches. Reads that need the
 * engine's vote keys (a cache miss, one stored vote, a listing, a
 * recount) first wait for the applier to reach every vote accepted so far
 * (db_votes_fence), so a read that starts after a put returned sees it.
 * See docs/votes.md, "Acknowledged at durability".
 */
#ifndef STEME_STORE_VOTE_BEHIND_H
#define STEME_STORE_VOTE_BEHIND_H

#include <stdint.h>

#include "steme/record.h"
#include "store/db_int.h"

/*
 * A vote as its voter's thread prepared it before logging (under the
 * pair's stripe lock, once every earlier vote of the pair was applied):
 * the pair, where the body's parts are, and the cache deltas, from the
 * stored vote it replaces. The accepting thread needs nothing else, so it
 * never decodes the body again.
 */
typedef struct db_vote_pre {
    steme_hash assertion;
    steme_agent_id voter;
    size_t slen;        /* body = [slen u16][subject][vote encoding] */
    int put;            /* 0: byte-identical to the stored vote, nothing moves */
    int64_t dcount;     /* 1 for a pair's first vote */
    int64_t dwsum;      /* fixed(new) - fixed(stored) */
} db_vote_pre;

/* One accepted vote, as the applier writes it. */
typedef struct vb_vote {
    const uint8_t *subject;     /* views into the batch's copy of the body */
    size_t slen;
    const uint8_t *enc;
    size_t elen;
    steme_hash assertion;
    steme_agent_id voter;
    int64_t dcount, dwsum;
    int put;                    /* write the vote record (0: identical to the stored one) */
    uint64_t done_seq;          /* last vote of its batch: the batch's end seq, else 0 */
} vb_vote;

/* Start the applier (open, after replay). On failure the db stays in the
 * synchronous mode (votes applied before their acknowledgement). */
int vote_behind_start(steme_db *db);

/* Drain the queue, stop and free the applier. Returns STEME_OK, or the
 * applier's sticky error (then some acknowledged votes are only in the log:
 * the caller must not checkpoint; replay applies them at the next open). */
int vote_behind_stop(steme_db *db);

/*
 * Wait until every vote accepted before this call is in the engine.
 * STEME_OK at once without an applier (pg mode, synchronous mode); else
 * STEME_OK, or the applier's error (recorded in the db's error slot).
 */
int db_votes_fence(steme_db *db);

/* Before the pre-read of a pair (key: assertion || voter, 64 bytes): wait
 * until the last accepted vote of that pair is in the engine. */
int vote_behind_pair_wait(steme_db *db, const uint8_t *pair);
/* After the pair's vote was acknowledged with sequence seq (stripe lock held). */
void vote_behind_pair_note(steme_db *db, const uint8_t *pair, uint64_t seq);

/*
 * The WAL's on_durable hands over a run of n vote tickets (db_group.c):
 * compute each vote's deltas from its pre-read, queue the run for the
 * applier, add the deltas to the vote cache, set each ticket's status and
 * the db_ticket's seq. Blocks while the queue is full (back-pressure).
 */
struct steme_wal_ticket;
void vote_behind_accept(steme_db *db, struct steme_wal_ticket *first, size_t n);

/* The applier's engine write of n accepted votes (vote_apply_group.c): one
 * batch, keys sorted, deltas of one assertion summed. scratch: the
 * caller's, grown here, freed with free(). */
int vote_group_write_accepted(steme_db *db, size_t n, const vb_vote *v, void **scratch);
#define VB_CHUNK 512 /* votes per engine batch of the applier (at most) */

#endif
