/*
 * vote_behind.c - votes acknowledged at durability and applied behind.
 *
 * Why: a vote used to be acknowledged only after its group's engine write
 * (vote_apply_group.c), so each voter waited for the log sync AND for the
 * serial apply of its group and, often, of the group before. With 64
 * voters on 2 cores that apply was a third of a vote's latency, and the
 * Ballot Box is latency-bound. The log record is the durability point (the
 * engine is written without its own log and made durable at checkpoints),
 * so the engine write can follow the acknowledgement, as long as nobody
 * can observe the difference.
 *
 * The sequence of a vote, live:
 *   1. the voter's thread takes the pair's stripe lock, waits until the
 *      pair's previous vote (if any) is in the engine (pair_wait), reads the
 *      stored vote (db_vote_pre), appends the record with a WAL ticket;
 *   2. once the record is durable, the WAL's on_durable (db_group.c) calls
 *      vote_behind_accept with the group's run of vote tickets, in log
 *      order: each vote's deltas come from its pre-read; the vote cache's
 *      bracket opens (vote_cache_begin) for each vote that moves totals;
 *      the run is copied into one batch and its sequence reserved (the
 *      accepted sequence `enqueued` moves); the bracket closes with the
 *      deltas (vote_cache_end); only then is the batch queued for the
 *      applier, so the engine never holds a vote the cache does not count
 *      (reads stay monotonic: a value read from the engine is never newer
 *      than a later cache hit); then the tickets are done and the WAL
 *      wakes the voters;
 *   3. the voter notes the pair's sequence (pair_note) and drops the lock;
 *   4. the applier thread writes queued votes to the engine, VB_CHUNK per
 *      batch, and moves `applied`.
 *
 * Why every read that starts after a put returned sees it:
 *   - totals served by the cache: the deltas were added in step 2, before
 *     the acknowledgement;
 *   - everything read from the engine (a cache miss, a stored vote, a
 *     listing, a recount, verify) first waits for applied >= enqueued as
 *     read at the call (db_votes_fence);
 *   - a cache fill: the reader takes its ticket (the set's generation and
 *     whether a bracket is open), then fences, then reads the engine, and
 *     installs only if no bracket opened or closed in between. A vote
 *     whose bracket closed before the ticket was queued before the ticket,
 *     so the fence covers it; a vote whose bracket overlaps the fill stops
 *     the install (the applier may write it before or after the read: the
 *     read value cannot tell, and adding the delta at the close would
 *     count it twice). So the cache holds the engine's totals plus the
 *     deltas of accepted votes, which is what a recount of the
 *     acknowledged votes gives once the applier catches up.
 *   - the pre-read of step 1 sees the pair's previous vote: pair_wait.
 * Sequences: `enqueued` and `applied` count votes; a pair's slot holds the
 * highest sequence of any pair hashed to it (fetch-max: a shared slot only
 * makes a wait longer, never shorter).
 *
 * Durability and replay do not change: the log holds every acknowledged
 * vote, and replay applies records one by one (db_apply_vote), idempotently.
 * A checkpoint fences before it moves the log's cursor, and close drains.
 *
 * A failed engine write is sticky: the applier stops, fences and new votes
 * fail with its message, no checkpoint moves the cursor past the unapplied
 * votes, and the next open replays them from the log.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steme/wal.h"
#include "store/vote_behind.h"
#include "store/vote_store_int.h"

/* Accepted but unapplied votes at most: bounds memory (a vote is ~200
 * bytes) and how far the engine trails the log; on_durable waits past it. */
#define VB_MAX_PENDING 16384u
/* Pair slots: two live pairs share one with p = 1/65536. */
#define VB_PAIR_SLOTS 65536u

typedef struct vb_batch {
    struct vb_batch *next;
    size_t n;
    vb_vote v[];        /* then the copied bodies */
} vb_batch;

struct vote_behind {
    pthread_mutex_t lock;
    pthread_cond_t work_cv;      /* applier: a batch was queued, or stop */
    pthread_cond_t done_cv;      /* fences and back-pressure: applied moved, or error */
    vb_batch *head, *tail;
    uint64_t pending;            /* queued, not yet applied */
    _Atomic uint64_t enqueued;
    _Atomic uint64_t applied;
    int stop;
    int err;                     /* sticky: the first failed engine write */
    char errmsg[STEME_ERRMSG_MAX];
    pthread_t thread;
    void *scratch;               /* vote_group_write_accepted's */
    _Atomic uint64_t pair_seq[VB_PAIR_SLOTS];
};

static uint32_t pair_slot(const uint8_t *pair)
{
    uint32_t x;
    memcpy(&x, pair + STEME_HASH_LEN, sizeof x); /* the voter's key: already random */
    uint32_t y;
    memcpy(&y, pair, sizeof y);
    return (x ^ (y * 2654435761u)) & (VB_PAIR_SLOTS - 1);
}

static void fail_sticky(vote_behind *vb, int rc, const char *msg)
{
    pthread_mutex_lock(&vb->lock);
    if (!vb->err) {
        vb->err = rc;
        snprintf(vb->errmsg, sizeof vb->errmsg, "%s", msg);
    }
    pthread_cond_broadcast(&vb->done_cv);
    pthread_mutex_unlock(&vb->lock);
}

/* Write the queued batches of `list`, VB_CHUNK votes per engine batch. */
static void apply_list(steme_db *db, vote_behind *vb, vb_batch *list)
{
    vb_vote chunk[VB_CHUNK];
    size_t n = 0;
    uint64_t done = 0, count = 0;
    for (vb_batch *b = list; b; b = b->next) {
        for (size_t i = 0; i < b->n; i++) {
            chunk[n++] = b->v[i];
            if (b->v[i].done_seq)
                done = b->v[i].done_seq;
            if (n < VB_CHUNK && (i + 1 < b->n || b->next))
                continue;
            int rc = vb->err ? vb->err : vote_group_write_accepted(db, n, chunk, &vb->scratch);
            if (rc != STEME_OK) {
                fail_sticky(vb, rc, steme_errslot_message(&db->db_err));
                return;
            }
            count += n;
            n = 0;
            if (done) {
                pthread_mutex_lock(&vb->lock);
                atomic_store(&vb->applied, done);
                vb->pending -= count;
                count = 0;
                pthread_cond_broadcast(&vb->done_cv);
                pthread_mutex_unlock(&vb->lock);
                done = 0;
            }
        }
    }
}

static void *applier_main(void *arg)
{
    steme_db *db = arg;
    vote_behind *vb = db->db_behind;
    pthread_mutex_lock(&vb->lock);
    for (;;) {
        while (!vb->head && !vb->stop)
            pthread_cond_wait(&vb->work_cv, &vb->lock);
        if (!vb->head)
            break;
        vb_batch *list = vb->head;
        vb->head = vb->tail = NULL;
        pthread_mutex_unlock(&vb->lock);
        if (!vb->err)
            apply_list(db, vb, list);
        while (list) {
            vb_batch *next = list->next;
            free(list);
            list = next;
        }
        pthread_mutex_lock(&vb->lock);
    }
    pthread_mutex_unlock(&vb->lock);
    return NULL;
}

int vote_behind_start(steme_db *db)
{
    vote_behind *vb = calloc(1, sizeof *vb);
    if (!vb)
        return STEME_E_NOMEM;
    pthread_mutex_init(&vb->lock, NULL);
    pthread_cond_init(&vb->work_cv, NULL);
    pthread_cond_init(&vb->done_cv, NULL);
    db->db_behind = vb;
    if (pthread_create(&vb->thread, NULL, applier_main, db) != 0) {
        db->db_behind = NULL;
        pthread_cond_destroy(&vb->work_cv);
        pthread_cond_destroy(&vb->done_cv);
        pthread_mutex_destroy(&vb->lock);
        free(vb);
        return STEME_E_NOMEM;
    }
    return STEME_OK;
}

int vote_behind_stop(steme_db *db)
{
    vote_behind *vb = db->db_behind;
    if (!vb)
        return STEME_OK;
    pthread_mutex_lock(&vb->lock);
    vb->stop = 1;
    pthread_cond_signal(&vb->work_cv);
    pthread_mutex_unlock(&vb->lock);
    pthread_join(vb->thread, NULL);
    int rc = vb->err;
    if (rc)
        db_fail(db, rc, "votes: the engine write behind the log failed: %s", vb->errmsg);
    db->db_behind = NULL;
    free(vb->scratch);
    pthread_cond_destroy(&vb->work_cv);
    pthread_cond_destroy(&vb->done_cv);
    pthread_mutex_destroy(&vb->lock);
    free(vb);
    return rc;
}

/* Wait until applied >= target; the sticky error if it never will be. */
static int wait_applied(steme_db *db, vote_behind *vb, uint64_t target)
{
    if (atomic_load(&vb->applied) >= target)
        return STEME_OK;
    pthread_mutex_lock(&vb->lock);
    while (atomic_load(&vb->applied) < target && !vb->err)
        pthread_cond_wait(&vb->done_cv, &vb->lock);
    int rc = atomic_load(&vb->applied) >= target ? STEME_OK : vb->err;
    pthread_mutex_unlock(&vb->lock);
    if (rc)
        db_fail(db, rc, "votes: the engine write behind the log failed: %s", vb->errmsg);
    return rc;
}

int db_votes_fence(steme_db *db)
{
    vote_behind *vb = db->db_behind;
    return vb ? wait_applied(db, vb, atomic_load(&vb->enqueued)) : STEME_OK;
}

int vote_behind_pair_wait(steme_db *db, const uint8_t *pair)
{
    vote_behind *vb = db->db_behind;
    return vb ? wait_applied(db, vb, atomic_load(&vb->pair_seq[pair_slot(pair)])) : STEME_OK;
}

void vote_behind_pair_note(steme_db *db, const uint8_t *pair, uint64_t seq)
{
    vote_behind *vb = db->db_behind;
    if (!vb)
        return;
    _Atomic uint64_t *s = &vb->pair_seq[pair_slot(pair)];
    uint64_t cur = atomic_load(s);
    while (cur < seq && !atomic_compare_exchange_weak(s, &cur, seq)) {
    }
}

/* Whether the ticket's vote moves the totals (and so takes a cache bracket). */
static int moves(const steme_wal_ticket *t)
{
    const db_vote_pre *pre = ((const db_ticket *)t->arg)->pre;
    return pre->put && (pre->dcount || pre->dwsum);
}

/* Fail every ticket of the run with the db's current message. */
static void fail_run(steme_db *db, steme_wal_ticket *t, size_t n, int rc)
{
    for (size_t i = 0; i < n; i++, t = t->next) {
        db_ticket *d = t->arg;
        t->status = rc;
        snprintf(d->msg, sizeof d->msg, "%s", steme_errslot_message(&db->db_err));
    }
}

void vote_behind_accept(steme_db *db, steme_wal_ticket *first, size_t n)
{
    vote_behind *vb = db->db_behind;
    size_t bytes = 0;
    steme_wal_ticket *t = first;
    for (size_t i = 0; i < n; i++, t = t->next)
        bytes += ((db_ticket *)t->arg)->len;
    vb_batch *b = malloc(sizeof *b + n * sizeof(vb_vote) + bytes);
    if (!b) {
        db_fail(db, STEME_E_NOMEM, "votes: out of memory queueing a group");
        fail_run(db, first, n, STEME_E_NOMEM);
        return;
    }
    uint8_t *copy = (uint8_t *)(b->v + n);
    t = first;
    for (size_t i = 0; i < n; i++, t = t->next) {
        const db_ticket *d = t->arg;
        const db_vote_pre *pre = d->pre;
        memcpy(copy, d->body, d->len);
        b->v[i] = (vb_vote){.subject = copy + 2, .slen = pre->slen,
                            .enc = copy + 2 + pre->slen, .elen = d->len - 2 - pre->slen,
                            .assertion = pre->assertion, .voter = pre->voter,
                            .dcount = pre->dcount, .dwsum = pre->dwsum, .put = pre->put};
        copy += d->len;
    }
    b->n = n;
    b->next = NULL;

    /* The cache bracket, as for a synchronous engine write (vote_cache.c):
     * begin before the batch can reach the engine, end (with the deltas)
     * after. A fill whose ticket overlaps the bracket is not installed; one
     * whose ticket follows it fences on this batch. Each pre lives on its
     * voter's stack until its ticket is done. */
    vote_cache *c = vote_cache_of(db, 0);
    t = first;
    for (size_t i = 0; c && i < n; i++, t = t->next)
        if (moves(t))
            vote_cache_begin(c, &((const db_vote_pre *)((db_ticket *)t->arg)->pre)->assertion);
    pthread_mutex_lock(&vb->lock);
    while (vb->pending + n > VB_MAX_PENDING && vb->pending > 0 && !vb->err)
        pthread_cond_wait(&vb->done_cv, &vb->lock);
    int err = vb->err;
    uint64_t seq = atomic_load(&vb->enqueued);
    if (!err) {
        /* Reserve the batch's sequence now (fences that start from here on
         * wait for it), but hand it to the applier only after the cache
         * brackets closed: the engine then never holds a vote the cache
         * does not count yet, so reads are monotonic (a read from the engine
         * followed by a cache hit never goes back). */
        seq += n;
        b->v[n - 1].done_seq = seq;
        vb->pending += n;
        atomic_store(&vb->enqueued, seq);
    }
    pthread_mutex_unlock(&vb->lock);
    if (err) {
        free(b);
        db_fail(db, err, "votes: the engine write behind the log failed: %s", vb->errmsg);
    }
    vote_cache *now = c ? c : vote_cache_of(db, 0);
    t = first;
    for (size_t i = 0; i < n; i++, t = t->next) {
        db_ticket *d = t->arg;
        const db_vote_pre *pre = d->pre;
        t->status = err;
        if (err)
            snprintf(d->msg, sizeof d->msg, "%s", steme_errslot_message(&db->db_err));
        else
            d->seq = seq;
        if (!moves(t))
            continue;
        if (c)
            vote_cache_end(c, &pre->assertion, (const char *)d->body + 2, pre->slen, pre->dcount,
                           pre->dwsum, !err);
        else if (now) /* the cache appeared meanwhile: a fill may have missed this vote */
            vote_cache_invalidate(now, &pre->assertion);
    }
    if (!err) {
        pthread_mutex_lock(&vb->lock);
        if (vb->tail)
            vb->tail->next = b;
        else
            vb->head = b;
        vb->tail = b;
        pthread_cond_signal(&vb->work_cv);
        pthread_mutex_unlock(&vb->lock);
    }
}
