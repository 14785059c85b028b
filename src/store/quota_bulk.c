/*
 * quota_bulk.c - The Meter's charges in bulk (steme_quota_check_and_record_
 * many): several operations, of one agent or many, charged in one engine
 * write together with what they pay for (see quota_store.c's header for
 * the locking and the pg preconditions).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/quota_int.h"

/* ------------------------------------------------------ charges in bulk */

/* One distinct usage record (agent, hour) of a bulk charge. */
/* A usage key is 4 + 32 + 8 bytes: a small fixed buffer keeps a batch's
 * slots small (they are allocated per call). */
#define USAGE_KEY_CAP 64

typedef struct many_slot {
    uint8_t key[USAGE_KEY_CAP];
    size_t klen;
    const steme_agent_id *agent;
    uint64_t hour;
    pthread_mutex_t *lock;
    uint64_t limit;
    steme_quota_record rec;
    steme_buf old;        /* stored bytes (pg precondition) */
    int found, rc, dirty;
} many_slot;

static int cmp_lock(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(pthread_mutex_t *const *)a;
    uintptr_t y = (uintptr_t)*(pthread_mutex_t *const *)b;
    return x < y ? -1 : x > y;
}

/* One attempt, every stripe held: read, check, build, write. */
static int many_locked(steme_db *db, size_t n, many_slot *slots, size_t nslots,
                       const size_t *slot_of, steme_quota_op op, steme_quota_batch_fn add,
                       void *ctx, steme_quota_result *outs, int *rcs)
{
    for (size_t k = 0; k < nslots; k++) {
        many_slot *s = &slots[k];
        bool over;
        s->dirty = 0;
        s->rc = quota_read_limit(db, s->agent, &s->limit, &over);
        if (s->rc == STEME_OK)
            s->rc = quota_read_usage_raw(db, s->key, s->klen, s->agent, s->hour, &s->rec, &s->old,
                                   &s->found);
    }
    steme_kv_batch *b = steme_kv_batch_new();
    if (!b)
        return db_fail(db, STEME_E_NOMEM, "quota: out of memory");
    int rc = STEME_OK;
    for (size_t i = 0; i < n && rc == STEME_OK; i++) {
        many_slot *s = &slots[slot_of[i]];
        steme_quota_result *o = &outs[i];
        o->allowed = false;
        if ((rcs[i] = s->rc) != STEME_OK)
            continue;
        /* used + cost <= limit, written so that nothing can wrap; earlier
         * items of the same record have already been added to rec */
        if (o->cost <= s->limit && s->rec.tokens_used <= s->limit - o->cost) {
            if (add && (rc = add(ctx, i, b)) != STEME_OK)
                break;
            s->rec.tokens_used += o->cost;
            if (op == STEME_QUOTA_ASSERT)
                s->rec.assert_ops++;
            else if (op == STEME_QUOTA_VOTE)
                s->rec.vote_ops++;
            else
                s->rec.query_ops++;
            s->dirty = 1;
            o->allowed = true;
        }
        o->limit = s->limit;
        o->remaining = s->rec.tokens_used < s->limit ? s->limit - s->rec.tokens_used : 0;
    }
    if (rc == STEME_OK && add)
        rc = add(ctx, n, b);   /* the end: writes that belong to the whole batch */
    for (size_t k = 0; k < nslots && rc == STEME_OK; k++) {
        many_slot *s = &slots[k];
        if (!s->dirty)
            continue;
        uint8_t enc[128];
        size_t len;
        steme_error e;
        if ((rc = steme_quota_record_encode(&s->rec, enc, sizeof enc, &len, &e)) != STEME_OK) {
            db_fail(db, rc, "quota: %s", e.message);
            break;
        }
        if ((rc = steme_kv_batch_put(b, s->key, s->klen, enc, len)) == STEME_OK && db_shared(db)) {
            /* pg: only if no other node charged this record since the read */
            static const uint8_t empty[1];
            rc = steme_kv_batch_expect(b, s->key, s->klen,
                                       s->found ? (s->old.len ? s->old.data : empty) : NULL,
                                       s->found ? s->old.len : 0);
        }
        if (rc != STEME_OK)
            db_fail(db, rc, "quota: building the batch");
    }
    /* flags 0 on a local database: the engine's own log, as a lone charge's
     * put (see quota.h); DB_APPLY_FLAGS on pg, as every conditional write */
    if (rc == STEME_OK && steme_kv_batch_count(b) > 0 &&
        (rc = steme_kv_write(db->db_kv, b, db_shared(db) ? DB_APPLY_FLAGS : 0)) != STEME_OK &&
        rc != STEME_E_BUSY)
        db_fail(db, rc, "quota: recording usage: %s", steme_kv_errmsg(db->db_kv));
    steme_kv_batch_free(b);
    return rc;
}

int steme_quota_check_and_record_many(steme_quota *q, size_t n, const steme_agent_id *agents,
                                      steme_quota_op op, unsigned n_lenses,
                                      size_t payload_bytes, const uint64_t *now_ms,
                                      steme_quota_batch_fn add, void *ctx,
                                      steme_quota_result *outs, int *rcs)
{
    steme_db *db = quota_db(q);
    if (!db)
        return STEME_E_INVALID;
    if (n == 0)
        return STEME_OK;
    if (!agents || !now_ms || !outs || !rcs)
        return db_fail(db, STEME_E_INVALID, "quota: NULL argument");
    if (n > STEME_QUOTA_MANY_MAX)
        return db_fail(db, STEME_E_INVALID, "quota: %zu charges at once, more than %u", n,
                       (unsigned)STEME_QUOTA_MANY_MAX);
    uint64_t cost;
    steme_error e;
    int rc = steme_quota_cost(op, n_lenses, payload_bytes, &cost, &e);
    for (size_t i = 0; i < n; i++) {
        memset(&outs[i], 0, sizeof outs[i]);
        outs[i].cost = cost;
        outs[i].reset_at = quota_reset_at_of(now_ms[i] / STEME_QUOTA_HOUR_MS);
        rcs[i] = rc;
    }
    if (rc != STEME_OK)
        return db_fail(db, rc, "%s", e.message);

    many_slot *slots = calloc(n, sizeof *slots);
    size_t *slot_of = malloc(n * sizeof *slot_of);
    pthread_mutex_t **locks = malloc(n * sizeof *locks);
    size_t nslots = 0, nlocks = 0;
    if (!slots || !slot_of || !locks) {
        rc = db_fail(db, STEME_E_NOMEM, "quota: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n && rc == STEME_OK; i++) {
        uint64_t hour = now_ms[i] / STEME_QUOTA_HOUR_MS;
        size_t k = 0;
        while (k < nslots && !(slots[k].hour == hour &&
                               memcmp(slots[k].agent->bytes, agents[i].bytes,
                                      STEME_AGENT_ID_LEN) == 0))
            k++;
        if (k == nslots) {
            many_slot *s = &slots[nslots++];
            s->agent = &agents[i];
            s->hour = hour;
            s->lock = quota_agent_stripe(db, &agents[i]);
            locks[nlocks++] = s->lock;
            uint8_t key[STEME_KEY_MAX];
            if ((rc = quota_agent_key(STEME_FAM_QUOTA_USAGE, &agents[i], hour, key, &s->klen)) !=
                STEME_OK)
                db_fail(db, rc, "quota: usage key");
            else if (s->klen > sizeof s->key)
                rc = db_fail(db, STEME_E_INTERNAL, "quota: usage key longer than its fixed size");
            else
                memcpy(s->key, key, s->klen);
        }
        slot_of[i] = k;
    }
    if (rc != STEME_OK)
        goto done;
    /* Every stripe at once, in address order: two bulk charges never
     * deadlock, and a single charge holds one stripe only. */
    qsort(locks, nlocks, sizeof *locks, cmp_lock);
    size_t u = 0;
    for (size_t k = 0; k < nlocks; k++)
        if (u == 0 || locks[u - 1] != locks[k])
            locks[u++] = locks[k];
    nlocks = u;
    for (unsigned attempt = 0;; attempt++) {
        for (size_t k = 0; k < nlocks; k++)
            pthread_mutex_lock(locks[k]);
        rc = many_locked(db, n, slots, nslots, slot_of, op, add, ctx, outs, rcs);
        for (size_t k = nlocks; k-- > 0;)
            pthread_mutex_unlock(locks[k]);
        /* pg mode: another node charged one of these agents since our read */
        if (rc != STEME_E_BUSY || !db_shared(db) || !db_retry_wait(db, attempt))
            break;
    }
    if (rc == STEME_E_BUSY)
        db_fail(db, rc, "quota: charges kept colliding with other nodes'");
done:
    for (size_t i = 0; rc != STEME_OK && i < n; i++) {
        outs[i].allowed = false;
        rcs[i] = rc;
    }
    for (size_t k = 0; slots && k < nslots; k++)
        steme_buf_free(&slots[k].old);
    free(slots);
    free(slot_of);
    free(locks);
    return rc;
}

