/*
 * db_group.c - logged writes applied per group commit.
 *
 * db_log_and_apply appends a record, waits for the log's sync, then applies
 * the record in the writer's thread. For the write-heavy path (votes) that
 * costs each writer a second queue and sleep: the engine's own write group.
 * db_log_and_apply_grouped (db.c) instead appends the record with a WAL ticket;
 * the thread that completes the sync (a WAL flusher, or a writer that led
 * the round) receives the tickets of the whole group in log order through
 * the WAL's on_durable callback (db_on_durable) and applies them, runs of
 * votes as one KV batch (vote_apply_group.c), before the WAL acknowledges
 * any of them. Each writer sleeps once and the engine sees one write per
 * group.
 *
 * What does not change:
 *   - durability: a record is applied only once it is durable, and its
 *     writer returns only after its apply (the ack rule of db_log_and_apply);
 *   - the checkpoint barrier: the writer holds db_apply_lock shared from its
 *     append until its acknowledgement, which now comes after the apply;
 *   - order: the callback sees records in log order, never two calls at
 *     once, so applies follow log order as replay's do;
 *   - replay applies the same records one by one with db_apply.
 * Errors: an apply's failure is reported to its writer (the message is
 * copied from the applying thread's error slot into the ticket).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steme/wal.h"
#include "store/db_int.h"
#include "store/vote_behind.h"

static void apply_one(steme_db *db, steme_wal_ticket *t)
{
    db_ticket *d = t->arg;
    t->status = db_apply(db, d->kind, d->body, d->len, NULL);
    if (t->status != STEME_OK)
        snprintf(d->msg, sizeof d->msg, "%s", steme_errslot_message(&db->db_err));
}

/* Apply the run of n vote tickets starting at t (consecutive in the chain). */
static void apply_votes(steme_db *db, steme_wal_ticket *t, size_t n)
{
    enum { LOCAL = 64 };
    const uint8_t *lb[LOCAL] = {0};
    size_t ll[LOCAL] = {0};
    int lr[LOCAL] = {0};
    char *lm[LOCAL] = {0};
    const uint8_t **bodies = lb;
    size_t *lens = ll;
    int *rcs = lr;
    char **msgs = lm;
    if (n > LOCAL) {
        bodies = malloc(n * sizeof *bodies);
        lens = malloc(n * sizeof *lens);
        rcs = malloc(n * sizeof *rcs);
        msgs = malloc(n * sizeof *msgs);
        if (!bodies || !lens || !rcs || !msgs) {
            free(bodies), free(lens), free(rcs), free(msgs);
            for (size_t i = 0; i < n; i++, t = t->next)
                apply_one(db, t); /* no memory for a batch: one by one */
            return;
        }
    }
    steme_wal_ticket *p = t;
    for (size_t i = 0; i < n; i++, p = p->next) {
        db_ticket *d = p->arg;
        bodies[i] = d->body;
        lens[i] = d->len;
        msgs[i] = d->msg;
    }
    db_apply_vote_group(db, n, bodies, lens, rcs, msgs, STEME_ERRMSG_MAX);
    for (size_t i = 0; i < n; i++, t = t->next)
        t->status = rcs[i];
    if (bodies != lb)
        free(bodies), free(lens), free(rcs), free(msgs);
}

/* A vote that can be accepted ahead of its engine write: it carries its
 * voter's pre-read and the applier runs. */
static int behind(const steme_db *db, const steme_wal_ticket *t)
{
    const db_ticket *d = t->arg;
    return db->db_behind && d->kind == DB_LOG_VOTE && d->pre;
}

void db_on_durable(void *ctx, steme_wal_ticket *first)
{
    steme_db *db = ctx;
    steme_wal_ticket *t = first;
    while (t) {
        db_ticket *d = t->arg;
        size_t n = 0;
        steme_wal_ticket *end = t;
        if (behind(db, t)) {
            while (end && behind(db, end))
                n++, end = end->next;
            vote_behind_accept(db, t, n);
            t = end;
            continue;
        }
        /* Applied here, before acknowledgement: keep the engine in log
         * order behind any accepted votes still queued. */
        int frc = db_votes_fence(db);
        if (frc != STEME_OK) {
            for (; t && !behind(db, t); t = t->next) {
                t->status = frc;
                snprintf(((db_ticket *)t->arg)->msg, STEME_ERRMSG_MAX, "%s",
                         steme_errslot_message(&db->db_err));
            }
            continue;
        }
        if (d->kind != DB_LOG_VOTE) {
            apply_one(db, t);
            t = t->next;
            continue;
        }
        while (end && ((db_ticket *)end->arg)->kind == DB_LOG_VOTE && !behind(db, end))
            n++, end = end->next;
        apply_votes(db, t, n);
        t = end;
    }
}
