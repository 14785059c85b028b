/*
 * trust_rank.c - TrustRank (spec 5): read with a neutral default, record an
 * outcome, decay toward 0.5, and the apply of DB_LOG_TRUST_RANK records.
 *
 * One key per agent, \0TR:{agent} -> TrustRank encoding (LMDB). A change is
 * a read-modify-write of that key, so it runs under the stripe lock of the
 * key: read, compute, log the NEW state, apply (a put), unlock. The log
 * order of one agent's records is then its apply order, and replaying the
 * log puts the states back in that order: the last one wins, as it did live.
 *
 * pg mode (several nodes): the write also expects the stored bytes it was
 * computed from (or their absence); a node that lost a race gets
 * STEME_E_BUSY, reads the winner's rank and applies its outcome on top, so
 * no outcome is lost across nodes.
 */
#include <math.h>
#include <string.h>

#include "steme/keys.h"
#include "steme/trust.h"
#include "store/db_int.h"
#include "store/trust_rank_int.h"

#define DECAY_PAGE 256

static steme_db *tdb(steme_trust *t) { return (steme_db *)t; }

steme_trust *steme_db_trust(steme_db *db) { return (steme_trust *)db; }

int trust_rank_key(const steme_agent_id *agent, uint8_t *buf, size_t cap, size_t *len)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_TRUST_RANK;
    k.agent = *agent;
    return steme_key_encode(&k, buf, cap, len, NULL);
}

void trust_rank_default(const steme_agent_id *agent, steme_trust_rank *out)
{
    memset(out, 0, sizeof *out);
    out->agent = *agent;
    out->score = STEME_TRUST_DEFAULT_SCORE;
}

int trust_rank_parse(steme_db *db, const steme_agent_id *agent, const uint8_t *val,
                     size_t vlen, steme_trust_rank *out)
{
    steme_error e;
    if (steme_trust_rank_decode(val, vlen, out, &e) != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "stored trust rank: %s", e.message);
    if (memcmp(out->agent.bytes, agent->bytes, STEME_AGENT_ID_LEN) != 0)
        return db_fail(db, STEME_E_CORRUPT, "stored trust rank names another agent");
    return STEME_OK;
}

/* Read the stored rank (or the default) of the agent whose key is key;
 * raw (optional) keeps the stored bytes (len 0 when there are none). */
static int read_rank_raw(steme_db *db, const steme_agent_id *agent, const uint8_t *key,
                         size_t klen, steme_trust_rank *out, int *is_default, steme_buf *raw)
{
    steme_buf mine = STEME_BUF_INIT;
    steme_buf *v = raw ? raw : &mine;
    int rc = steme_kv_get(db->db_kv, key, klen, v);
    if (rc == STEME_E_NOTFOUND) {
        trust_rank_default(agent, out);
        *is_default = 1;
        rc = STEME_OK;
    } else if (rc == STEME_OK) {
        *is_default = 0;
        rc = trust_rank_parse(db, agent, v->data, v->len, out);
    } else {
        db_fail(db, rc, "trust rank: %s", steme_kv_errmsg(db->db_kv));
    }
    steme_buf_free(&mine);
    return rc;
}

static int read_rank(steme_db *db, const steme_agent_id *agent, const uint8_t *key,
                     size_t klen, steme_trust_rank *out, int *is_default)
{
    return read_rank_raw(db, agent, key, klen, out, is_default, NULL);
}

int steme_trust_get(steme_trust *t, const steme_agent_id *agent, steme_trust_rank *out,
                    int *is_default)
{
    steme_db *db = tdb(t);
    if (!db)
        return STEME_E_INVALID;
    if (!agent || !out)
        return db_fail(db, STEME_E_INVALID, "trust get: NULL argument");
    uint8_t key[64];
    size_t klen;
    int rc = trust_rank_key(agent, key, sizeof key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "trust get: key");
    int dflt = 0;
    steme_trust_rank r;
    if ((rc = read_rank(db, agent, key, klen, &r, &dflt)) != STEME_OK)
        return rc;
    *out = r;
    if (is_default)
        *is_default = dflt;
    return STEME_OK;
}

/* Log rank r as the agent's new state and apply it (caller holds the lock).
 * pg mode: only if the stored rank is still old (the bytes r was computed
 * from; NULL old->data or is_default: still absent), else STEME_E_BUSY. */
static int write_rank(steme_db *db, const steme_trust_rank *r, const uint8_t *key, size_t klen,
                      const steme_buf *old, int is_default)
{
    uint8_t body[128];
    size_t len;
    steme_error e;
    int rc = steme_trust_rank_encode(r, body, sizeof body, &len, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "trust rank: %s", e.message);
    db_conds conds = {0};
    db_cond_add(&conds, key, klen, is_default ? NULL : old->data, is_default ? 0 : old->len);
    return db_log_and_apply_if(db, DB_LOG_TRUST_RANK, body, len, &conds);
}

int db_apply_trust_rank(steme_db *db, const uint8_t *body, size_t len,
                        const db_conds *conds)
{
    steme_trust_rank r;
    steme_error e;
    int rc = steme_trust_rank_decode(body, len, &r, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "trust rank record: %s", e.message);
    uint8_t key[64];
    size_t klen;
    if ((rc = trust_rank_key(&r.agent, key, sizeof key, &klen)) != STEME_OK)
        return db_fail(db, rc, "trust rank record: key");
    if (!conds || conds->n == 0) {
        if ((rc = steme_kv_put(db->db_kv, key, klen, body, len, DB_APPLY_FLAGS)) != STEME_OK)
            return db_fail(db, rc, "storing trust rank: %s", steme_kv_errmsg(db->db_kv));
        return STEME_OK;
    }
    steme_kv_batch *b = steme_kv_batch_new();
    if (!b)
        return db_fail(db, STEME_E_NOMEM, "storing trust rank: out of memory");
    if ((rc = steme_kv_batch_put(b, key, klen, body, len)) != STEME_OK)
        db_fail(db, rc, "storing trust rank: building the batch");
    else
        rc = db_kv_write(db, b, conds, "storing trust rank");
    steme_kv_batch_free(b);
    return rc;
}

void trust_rank_apply_outcome(steme_trust_rank *r, bool was_accurate, uint64_t ts)
{
    if (was_accurate) {
        r->score += STEME_TRUST_ACCURATE_DELTA;
        r->accuracy_count++;
    } else {
        r->score -= STEME_TRUST_INACCURATE_DELTA;
    }
    r->assertions_count++;
    if (r->score > 1.0)
        r->score = 1.0;
    if (r->score < 0.0)
        r->score = 0.0;
    if (ts > r->last_updated)
        r->last_updated = ts;
}

int steme_trust_record_outcome(steme_trust *t, const steme_agent_id *agent, bool was_accurate,
                               uint64_t ts, steme_trust_rank *out)
{
    steme_db *db = tdb(t);
    if (!db)
        return STEME_E_INVALID;
    if (!agent)
        return db_fail(db, STEME_E_INVALID, "record outcome: NULL agent");
    uint8_t key[64];
    size_t klen;
    int rc = trust_rank_key(agent, key, sizeof key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "record outcome: key");
    pthread_mutex_t *m = db_stripe(db, key, klen);
    steme_trust_rank r;
    steme_buf old = STEME_BUF_INIT;
    for (unsigned attempt = 0;; attempt++) {
        pthread_mutex_lock(m);
        int dflt;
        rc = read_rank_raw(db, agent, key, klen, &r, &dflt, &old);
        if (rc == STEME_OK && r.assertions_count == UINT64_MAX)
            rc = db_fail(db, STEME_E_FULL, "record outcome: assertions_count would overflow");
        if (rc == STEME_OK) {
            trust_rank_apply_outcome(&r, was_accurate, ts);
            rc = write_rank(db, &r, key, klen, &old, dflt);
        }
        pthread_mutex_unlock(m);
        /* pg mode: another node recorded an outcome since our read */
        if (rc != STEME_E_BUSY || !db_shared(db) || !db_retry_wait(db, attempt))
            break;
    }
    steme_buf_free(&old);
    if (rc == STEME_OK && out)
        *out = r;
    return rc;
}

double trust_rank_decayed_score(double score, uint64_t elapsed, double half_life_ms)
{
    double s = STEME_TRUST_DEFAULT_SCORE +
               (score - STEME_TRUST_DEFAULT_SCORE) * pow(0.5, (double)elapsed / half_life_ms);
    return s < 0.0 ? 0.0 : s > 1.0 ? 1.0 : s;
}

/* Decay one agent under its lock, from a fresh read. *done = 1 if updated. */
static int decay_one(steme_db *db, const steme_agent_id *agent, uint64_t now, double hl,
                     int *done)
{
    uint8_t key[64];
    size_t klen;
    *done = 0;
    int rc = trust_rank_key(agent, key, sizeof key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "decay: key");
    pthread_mutex_t *m = db_stripe(db, key, klen);
    steme_buf old = STEME_BUF_INIT;
    for (unsigned attempt = 0;; attempt++) {
        pthread_mutex_lock(m);
        steme_trust_rank r;
        int dflt;
        rc = read_rank_raw(db, agent, key, klen, &r, &dflt, &old);
        if (rc == STEME_OK && !dflt && now > r.last_updated &&
            r.score != STEME_TRUST_DEFAULT_SCORE) {
            r.score = trust_rank_decayed_score(r.score, now - r.last_updated, hl);
            r.last_updated = now;
            if ((rc = write_rank(db, &r, key, klen, &old, dflt)) == STEME_OK)
                *done = 1;
        }
        pthread_mutex_unlock(m);
        if (rc != STEME_E_BUSY || !db_shared(db) || !db_retry_wait(db, attempt))
            break;
    }
    steme_buf_free(&old);
    return rc;
}

typedef struct agent_page {
    size_t n;
    steme_agent_id agent[DECAY_PAGE];
    uint8_t last[64];
    size_t last_len;
    int bad;
} agent_page;

static int collect_agent(void *ctx, const uint8_t *key, size_t klen, const uint8_t *v,
                         size_t vlen)
{
    (void)v; (void)vlen;
    agent_page *p = ctx;
    steme_key k;
    if (klen > sizeof p->last || steme_key_decode(key, klen, &k, NULL) != STEME_OK ||
        k.family != STEME_FAM_TRUST_RANK) {
        p->bad = 1;
        return 1;
    }
    p->agent[p->n++] = k.agent;
    memcpy(p->last, key, klen);
    p->last_len = klen;
    return 0;
}

int steme_trust_decay(steme_trust *t, uint64_t now, double half_life_ms, uint64_t *decayed)
{
    steme_db *db = tdb(t);
    if (decayed)
        *decayed = 0;
    if (!db)
        return STEME_E_INVALID;
    if (isnan(half_life_ms) || isinf(half_life_ms) || half_life_ms < 0.0)
        return db_fail(db, STEME_E_INVALID,
                       "decay: half-life must be finite and >= 0 (0 = 30 days)");
    double hl = half_life_ms == 0.0 ? STEME_TRUST_DEFAULT_HALF_LIFE_MS : half_life_ms;
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_TRUST_RANK;
    uint8_t prefix[16];
    size_t plen;
    int rc = steme_key_encode_prefix(&k, 0, prefix, sizeof prefix, &plen, NULL);
    if (rc != STEME_OK)
        return db_fail(db, rc, "decay: prefix");
    /* Pages of agent ids: scan callbacks may not call into the engine, and
     * each update needs its agent's lock and a fresh read anyway. */
    agent_page pg;
    uint8_t after[64];
    size_t alen = 0;
    uint64_t count = 0;
    for (;;) {
        pg.n = 0;
        pg.bad = 0;
        rc = steme_kv_scan(db->db_kv, prefix, plen, alen ? after : NULL, alen, DECAY_PAGE, 0,
                           collect_agent, &pg, NULL);
        if (rc != STEME_OK)
            return db_fail(db, rc, "decay: %s", steme_kv_errmsg(db->db_kv));
        if (pg.bad)
            return db_fail(db, STEME_E_CORRUPT, "decay: malformed trust rank key");
        for (size_t i = 0; i < pg.n; i++) {
            int done;
            if ((rc = decay_one(db, &pg.agent[i], now, hl, &done)) != STEME_OK) {
                if (decayed)
                    *decayed = count;
                return rc;
            }
            count += (uint64_t)done;
        }
        if (pg.n < DECAY_PAGE)
            break;
        memcpy(after, pg.last, pg.last_len);
        alen = pg.last_len;
    }
    if (decayed)
        *decayed = count;
    return STEME_OK;
}
