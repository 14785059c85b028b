/*
 * quota_store.c - The Meter (steme/quota.h): per-agent hourly token budget.
 *
 *     \0QT:{agent}{hour BE}  -> QuotaRecord           RocksDB, no WAL, no sync
 *     \0QL:{agent}           -> limit u64 LE          LMDB, through the WAL
 *
 * check_and_record is a read-modify-write of one usage record; it holds the
 * agent's stripe lock from the reads (limit, usage) to the write, so the
 * check "used + cost <= limit" and the charge are one step for every thread
 * charging that agent. The limit override is set under the same lock, so a
 * charge never sees half of a limit change, and the log order of two limit
 * changes of one agent is their apply order.
 *
 * Why usage skips the WAL: a charge happens on every operation; a group
 * commit (a sync) per charge would double the cost of a vote for a record
 * whose loss on power failure only gives an agent back a few tokens.
 *
 * check_and_record_many (quota_bulk.c) charges several operations (a
 * server's concurrent queries) in one engine write, with the writes each one pays for (their
 * audit records) in the same batch: the charge and what it paid for are on
 * disk together or not at all. It holds every stripe involved at once,
 * taken in address order (no deadlock), reads each distinct usage record
 * once, and writes each once, whatever the number of charges to it.
 *
 * pg mode (several nodes charging one agent): the stripe lock covers this
 * process only, so the usage write carries a precondition "the record is
 * still the one I read" (write_usage). A node that loses the race writes
 * nothing, reads the winner's record and checks the limit again: the sum
 * charged never passes the limit, whatever the number of nodes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "steme/keys.h"
#include "steme/quota.h"
#include "store/quota_int.h"

#define LIMIT_BODY_LEN (STEME_AGENT_ID_LEN + 8)


steme_quota *steme_db_quota(steme_db *db) { return (steme_quota *)db; }

int steme_quota_cost(steme_quota_op op, unsigned n_lenses, size_t payload_bytes,
                     uint64_t *cost, steme_error *err)
{
    if (!cost)
        return steme_err(err, STEME_E_INVALID, "quota cost: NULL output");
    uint64_t base;
    switch (op) {
        case STEME_QUOTA_ASSERT: base = STEME_QUOTA_COST_ASSERT; break;
        case STEME_QUOTA_VOTE: base = STEME_QUOTA_COST_VOTE; break;
        case STEME_QUOTA_QUERY: base = STEME_QUOTA_COST_QUERY + (uint64_t)n_lenses; break;
        default: return steme_err(err, STEME_E_INVALID, "quota: unknown operation %d", (int)op);
    }
    if (op != STEME_QUOTA_QUERY && n_lenses != 0)
        return steme_err(err, STEME_E_INVALID, "quota: lenses apply only to queries");
    /* base < 2^33 and payload / 1024 < 2^54: the sum cannot wrap. */
    *cost = base + (uint64_t)payload_bytes / 1024u;
    return STEME_OK;
}

uint64_t quota_reset_at_of(uint64_t hour)
{
    if (hour >= UINT64_MAX / STEME_QUOTA_HOUR_MS)
        return UINT64_MAX; /* the end of time: saturate rather than wrap */
    return (hour + 1) * STEME_QUOTA_HOUR_MS;
}

int quota_agent_key(steme_key_family fam, const steme_agent_id *agent, uint64_t hour,
                     uint8_t *buf, size_t *len)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = fam;
    k.agent = *agent;
    k.ts = hour;
    return steme_key_encode(&k, buf, STEME_KEY_MAX, len, NULL);
}

/* The agent's limit: its override, or the default. */
int quota_read_limit(steme_db *db, const steme_agent_id *agent, uint64_t *limit, bool *over)
{
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    int rc = quota_agent_key(STEME_FAM_QUOTA_LIMIT, agent, 0, key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "quota: limit key");
    rc = steme_kv_get_u64(db->db_kv, key, klen, limit);
    *over = rc == STEME_OK;
    if (rc == STEME_E_NOTFOUND) {
        *limit = STEME_QUOTA_DEFAULT_LIMIT;
        return STEME_OK;
    }
    if (rc == STEME_OK && *limit == 0)
        return db_fail(db, STEME_E_CORRUPT, "quota: stored limit override is 0");
    if (rc != STEME_OK)
        return db_fail(db, rc, "quota: reading the limit: %s", steme_kv_errmsg(db->db_kv));
    return STEME_OK;
}

/* The agent's usage record for hour (zeroed if none); its stored bytes
 * stay in *v (len 0 when there is none) for the charge's precondition. */
int quota_read_usage_raw(steme_db *db, const uint8_t *key, size_t klen,
                          const steme_agent_id *agent, uint64_t hour, steme_quota_record *rec,
                          steme_buf *raw, int *found)
{
    steme_buf *v = raw;
    int rc = steme_kv_get(db->db_kv, key, klen, v);
    *found = rc == STEME_OK;
    if (rc == STEME_E_NOTFOUND) {
        memset(rec, 0, sizeof *rec);
        rec->agent = *agent;
        rec->hour = hour;
        rc = STEME_OK;
    } else if (rc != STEME_OK) {
        db_fail(db, rc, "quota: reading usage: %s", steme_kv_errmsg(db->db_kv));
    } else {
        steme_error e;
        if (steme_quota_record_decode(v->data, v->len, rec, &e) != STEME_OK)
            rc = db_fail(db, STEME_E_CORRUPT, "quota: stored usage: %s", e.message);
        else if (rec->hour != hour || memcmp(rec->agent.bytes, agent->bytes, STEME_AGENT_ID_LEN))
            rc = db_fail(db, STEME_E_CORRUPT, "quota: stored usage does not match its key");
    }
    return rc;
}

static int read_usage(steme_db *db, const uint8_t *key, size_t klen, const steme_agent_id *agent,
                      uint64_t hour, steme_quota_record *rec)
{
    steme_buf v = STEME_BUF_INIT;
    int found;
    int rc = quota_read_usage_raw(db, key, klen, agent, hour, rec, &v, &found);
    steme_buf_free(&v);
    return rc;
}

/* Write the new usage record. pg mode: only if the stored record is still
 * the one the charge was computed from (old, or absent), so that two nodes
 * charging one agent at once can never both spend its last tokens: the
 * loser gets STEME_E_BUSY, reads again and checks again. */
static int write_usage(steme_db *db, const uint8_t *key, size_t klen, const uint8_t *enc,
                       size_t len, const steme_buf *old, int found)
{
    if (!db_shared(db)) {
        int rc = steme_kv_put(db->db_kv, key, klen, enc, len, 0);
        if (rc != STEME_OK)
            return db_fail(db, rc, "quota: recording usage: %s", steme_kv_errmsg(db->db_kv));
        return STEME_OK;
    }
    steme_kv_batch *b = steme_kv_batch_new();
    if (!b)
        return db_fail(db, STEME_E_NOMEM, "quota: out of memory");
    db_conds conds = {0};
    db_cond_add(&conds, key, klen, found ? old->data : NULL, found ? old->len : 0);
    int rc = steme_kv_batch_put(b, key, klen, enc, len);
    if (rc != STEME_OK)
        db_fail(db, rc, "quota: building the batch");
    else
        rc = db_kv_write(db, b, &conds, "quota: recording usage");
    steme_kv_batch_free(b);
    return rc;
}

/* The stripe guarding an agent's meter: keyed by the usage prefix so it is
 * independent of other stores' stripes for the same agent. */
pthread_mutex_t *quota_agent_stripe(steme_db *db, const steme_agent_id *agent)
{
    uint8_t k[4 + STEME_AGENT_ID_LEN] = {0, 'Q', 'T', ':'};
    memcpy(k + 4, agent->bytes, STEME_AGENT_ID_LEN);
    return db_stripe(db, k, sizeof k);
}

static int charge_locked(steme_db *db, const steme_agent_id *agent, steme_quota_op op,
                         uint64_t hour, const uint8_t *key, size_t klen,
                         steme_quota_result *out)
{
    uint64_t limit;
    bool over;
    steme_quota_record rec;
    steme_buf old = STEME_BUF_INIT;
    int found = 0;
    int rc = quota_read_limit(db, agent, &limit, &over);
    if (rc == STEME_OK)
        rc = quota_read_usage_raw(db, key, klen, agent, hour, &rec, &old, &found);
    if (rc != STEME_OK) {
        steme_buf_free(&old);
        return rc;
    }
    /* used + cost <= limit, written so that nothing can wrap */
    if (out->cost <= limit && rec.tokens_used <= limit - out->cost) {
        rec.tokens_used += out->cost;
        if (op == STEME_QUOTA_ASSERT)
            rec.assert_ops++;
        else if (op == STEME_QUOTA_VOTE)
            rec.vote_ops++;
        else
            rec.query_ops++;
        uint8_t enc[128];
        size_t len;
        steme_error e;
        if ((rc = steme_quota_record_encode(&rec, enc, sizeof enc, &len, &e)) != STEME_OK)
            rc = db_fail(db, rc, "quota: %s", e.message);
        else
            rc = write_usage(db, key, klen, enc, len, &old, found);
        if (rc != STEME_OK) {
            steme_buf_free(&old);
            return rc;
        }
        out->allowed = true;
    }
    steme_buf_free(&old);
    out->limit = limit;
    out->remaining = rec.tokens_used < limit ? limit - rec.tokens_used : 0;
    return STEME_OK;
}

int steme_quota_check_and_record(steme_quota *q, const steme_agent_id *agent,
                                 steme_quota_op op, unsigned n_lenses, size_t payload_bytes,
                                 uint64_t now_ms, steme_quota_result *out)
{
    steme_db *db = quota_db(q);
    if (!db)
        return STEME_E_INVALID;
    if (out)
        memset(out, 0, sizeof *out);
    if (!agent || !out)
        return db_fail(db, STEME_E_INVALID, "quota: NULL argument");
    steme_error e;
    int rc = steme_quota_cost(op, n_lenses, payload_bytes, &out->cost, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "%s", e.message);
    uint64_t hour = now_ms / STEME_QUOTA_HOUR_MS;
    out->reset_at = quota_reset_at_of(hour);
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    if ((rc = quota_agent_key(STEME_FAM_QUOTA_USAGE, agent, hour, key, &klen)) != STEME_OK)
        return db_fail(db, rc, "quota: usage key");

    pthread_mutex_t *m = quota_agent_stripe(db, agent);
    for (unsigned attempt = 0;; attempt++) {
        pthread_mutex_lock(m);
        rc = charge_locked(db, agent, op, hour, key, klen, out);
        pthread_mutex_unlock(m);
        /* pg mode: another node charged this agent since our read: the
         * check must be made again on the record it wrote */
        if (rc != STEME_E_BUSY || !db_shared(db) || !db_retry_wait(db, attempt))
            break;
    }
    if (rc != STEME_OK)
        out->allowed = false;
    return rc;
}

int steme_quota_get_status(steme_quota *q, const steme_agent_id *agent, uint64_t now_ms,
                           steme_quota_status *out)
{
    steme_db *db = quota_db(q);
    if (!db)
        return STEME_E_INVALID;
    if (!agent || !out)
        return db_fail(db, STEME_E_INVALID, "quota status: NULL argument");
    memset(out, 0, sizeof *out);
    uint64_t hour = now_ms / STEME_QUOTA_HOUR_MS;
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    int rc = quota_agent_key(STEME_FAM_QUOTA_USAGE, agent, hour, key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "quota status: usage key");
    steme_quota_record rec;
    if ((rc = quota_read_limit(db, agent, &out->limit, &out->is_override)) != STEME_OK ||
        (rc = read_usage(db, key, klen, agent, hour, &rec)) != STEME_OK) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->used = rec.tokens_used;
    out->remaining = rec.tokens_used < out->limit ? out->limit - rec.tokens_used : 0;
    out->reset_at = quota_reset_at_of(hour);
    out->assert_ops = rec.assert_ops;
    out->vote_ops = rec.vote_ops;
    out->query_ops = rec.query_ops;
    return STEME_OK;
}

int steme_quota_set_limit(steme_quota *q, const steme_agent_id *agent, uint64_t limit)
{
    steme_db *db = quota_db(q);
    if (!db)
        return STEME_E_INVALID;
    if (!agent)
        return db_fail(db, STEME_E_INVALID, "quota limit: NULL agent");
    uint8_t body[LIMIT_BODY_LEN];
    memcpy(body, agent->bytes, STEME_AGENT_ID_LEN);
    bytes_put_le(body + STEME_AGENT_ID_LEN, limit, 8);
    pthread_mutex_t *m = quota_agent_stripe(db, agent);
    pthread_mutex_lock(m);
    int rc = db_log_and_apply(db, DB_LOG_QUOTA_LIMIT, body, sizeof body);
    pthread_mutex_unlock(m);
    return rc;
}

/* Log body [agent 32][limit u64 LE]; limit 0 removes the override. Puts or
 * deletes the resulting state: idempotent. */
int db_apply_quota_limit(steme_db *db, const uint8_t *body, size_t len,
                         const db_conds *conds)
{
    (void)conds; /* a blind, idempotent write: no precondition */
    if (!body || len != LIMIT_BODY_LEN)
        return db_fail(db, STEME_E_CORRUPT, "quota limit record: %zu bytes, not %d", len,
                       LIMIT_BODY_LEN);
    steme_agent_id agent;
    memcpy(agent.bytes, body, STEME_AGENT_ID_LEN);
    uint64_t limit = bytes_get_le(body + STEME_AGENT_ID_LEN, 8);
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    int rc = quota_agent_key(STEME_FAM_QUOTA_LIMIT, &agent, 0, key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "quota limit record: key");
    rc = limit == 0 ? steme_kv_delete(db->db_kv, key, klen, DB_APPLY_FLAGS)
                    : steme_kv_put(db->db_kv, key, klen, body + STEME_AGENT_ID_LEN, 8, DB_APPLY_FLAGS);
    if (rc != STEME_OK)
        return db_fail(db, rc, "quota limit: %s", steme_kv_errmsg(db->db_kv));
    return STEME_OK;
}
