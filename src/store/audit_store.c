/*
 * audit_store.c - the audit trail (steme/audit.h): one record per query.
 *
 *     \0AU:{agent}{ts BE}{query_id}  -> QueryAudit encoding      (RocksDB)
 *     \0AQ:{query_id}                -> [agent 32][ts u64 BE]     (RocksDB)
 *
 * Both keys go in one batch, written straight to the engine without the
 * WAL and without a sync: audits are on every query's path, and a WAL
 * group commit per query would cost a sync per query for a record whose
 * loss on power failure is acceptable (see audit.h). RocksDB's own log
 * keeps it across kill -9.
 *
 * steme_audit_put_charged writes the same two keys in the batch of the
 * query's Meter charge (steme_quota_check_and_record_with): one engine
 * write per query for both, and no read of the by-id key first (the id is
 * new by construction: time-ordered and 80 random bits, audit.h).
 *
 * The by-id value is the middle of the AU key (agent, then time big-endian),
 * so get rebuilds the AU key from it without decoding anything.
 *
 * A listing collects a page of records (copied, store_page.h) with one scan,
 * then hands them to the caller outside the scan: scan callbacks may not call
 * back into the engine, and the caller's callback may want to.
 */
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "steme/audit.h"
#include "steme/keys.h"
#include "steme/quota.h"
#include "store/db_int.h"
#include "store/store_page.h"

#define AQ_VALUE_LEN (STEME_AGENT_ID_LEN + 8)

static steme_db *adb(steme_audit *a) { return (steme_db *)a; }

steme_audit *steme_db_audit(steme_db *db) { return (steme_audit *)db; }

static int au_key(const steme_agent_id *agent, uint64_t ts, const steme_id16 *id, uint8_t *buf,
                  size_t *len)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_AUDIT;
    k.agent = *agent;
    k.ts = ts;
    k.id = *id;
    return steme_key_encode(&k, buf, STEME_KEY_MAX, len, NULL);
}

static int aq_key(const steme_id16 *id, uint8_t *buf, size_t *len)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_AUDIT_BY_ID;
    k.id = *id;
    return steme_key_encode(&k, buf, STEME_KEY_MAX, len, NULL);
}

static void aq_value(const steme_agent_id *agent, uint64_t ts, uint8_t out[AQ_VALUE_LEN])
{
    memcpy(out, agent->bytes, STEME_AGENT_ID_LEN);
    bytes_put_be64(out + STEME_AGENT_ID_LEN, ts);
}


/* Write both keys; the caller holds the query id's stripe lock. */
static int put_locked(steme_db *db, const steme_query_audit *q, const uint8_t *enc, size_t len)
{
    uint8_t aq[STEME_KEY_MAX], au[STEME_KEY_MAX], val[AQ_VALUE_LEN];
    size_t aqlen, aulen;
    int rc = aq_key(&q->query_id, aq, &aqlen);
    if (rc == STEME_OK)
        rc = au_key(&q->agent, q->timestamp, &q->query_id, au, &aulen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "put audit: cannot build keys");
    aq_value(&q->agent, q->timestamp, val);

    steme_buf old = STEME_BUF_INIT;
    rc = steme_kv_get(db->db_kv, aq, aqlen, &old);
    if (rc == STEME_OK) {
        int same = old.len == AQ_VALUE_LEN && memcmp(old.data, val, AQ_VALUE_LEN) == 0;
        steme_buf_free(&old);
        if (!same)
            return db_fail(db, STEME_E_EXISTS,
                           "put audit: query id already used by another agent or time");
    } else if (rc != STEME_E_NOTFOUND) {
        steme_buf_free(&old);
        return db_fail(db, rc, "put audit: %s", steme_kv_errmsg(db->db_kv));
    }

    steme_kv_batch *b = steme_kv_batch_new();
    if (!b)
        return db_fail(db, STEME_E_NOMEM, "put audit: out of memory");
    if ((rc = steme_kv_batch_put(b, au, aulen, enc, len)) != STEME_OK ||
        (rc = steme_kv_batch_put(b, aq, aqlen, val, sizeof val)) != STEME_OK)
        db_fail(db, rc, "put audit: building the batch");
    else if ((rc = steme_kv_write(db->db_kv, b, 0)) != STEME_OK)
        db_fail(db, rc, "put audit: %s", steme_kv_errmsg(db->db_kv));
    steme_kv_batch_free(b);
    return rc;
}

int steme_audit_put(steme_audit *a, const steme_query_audit *q)
{
    steme_db *db = adb(a);
    if (!db)
        return STEME_E_INVALID;
    if (!q)
        return db_fail(db, STEME_E_INVALID, "put audit: NULL record");
    steme_error e;
    int rc = steme_query_audit_validate(q, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "put audit: %s", e.message);
    size_t need = steme_query_audit_encoded_size(q), len;
    uint8_t stackbuf[2048];
    uint8_t *enc = need <= sizeof stackbuf ? stackbuf : malloc(need);
    if (!enc)
        return db_fail(db, STEME_E_NOMEM, "put audit: out of memory");
    if ((rc = steme_query_audit_encode(q, enc, need, &len, &e)) != STEME_OK) {
        db_fail(db, rc, "put audit: %s", e.message);
    } else {
        /* Serialise writers of one query id so the "id already used" check
         * and the write cannot interleave with another writer's. */
        pthread_mutex_t *m = db_stripe(db, q->query_id.bytes, STEME_ID16_LEN);
        pthread_mutex_lock(m);
        rc = put_locked(db, q, enc, len);
        pthread_mutex_unlock(m);
    }
    if (enc != stackbuf)
        free(enc);
    return rc;
}

/* ------------------------------------------------------ charged puts */

/* Both keys are fixed-size: 4 + 16 and 4 + 32 + 8 + 16 bytes. */
#define AQ_KEY_CAP 32
#define AU_KEY_CAP 80

/* One record of a charged put, encoded with both keys. */
typedef struct charged_rec {
    uint8_t aq[AQ_KEY_CAP], au[AU_KEY_CAP], val[AQ_VALUE_LEN];
    size_t aqlen, aulen, len;
    uint8_t *enc;
} charged_rec;

typedef struct charged_put {
    steme_db *db;
    const charged_rec *recs;
    const size_t *order;   /* charge j is recs[order[j]] */
    size_t m;              /* charges */
    size_t *taken;         /* the charges add_record was called for */
    size_t ntaken;
} charged_put;

/* a < b for the by-id keys of charges a and b */
static int aq_less(const charged_put *c, size_t a, size_t b)
{
    const charged_rec *x = &c->recs[c->order[a]], *y = &c->recs[c->order[b]];
    size_t n = x->aqlen < y->aqlen ? x->aqlen : y->aqlen;
    int d = memcmp(x->aq, y->aq, n);
    return d < 0 || (d == 0 && x->aqlen < y->aqlen);
}

/* The Meter's batch filler: for charge i its by-agent key; at the end
 * (i == m) every taken charge's by-id key, in key order. The charges are
 * sorted by agent and the ids start with their time, so each run of
 * inserts lands next to the one before in the engine's sorted memtable,
 * which is cheaper than alternating between the two indexes. */
static int add_record(void *ctx, size_t i, steme_kv_batch *b)
{
    charged_put *c = ctx;
    int rc = STEME_OK;
    if (i < c->m) {
        const charged_rec *r = &c->recs[c->order[i]];
        rc = steme_kv_batch_put(b, r->au, r->aulen, r->enc, r->len);
        c->taken[c->ntaken++] = i;
    } else {
        for (size_t k = 1; k < c->ntaken; k++)   /* insertion sort: ids arrive nearly sorted */
            for (size_t j = k; j > 0 && aq_less(c, c->taken[j], c->taken[j - 1]); j--) {
                size_t t = c->taken[j];
                c->taken[j] = c->taken[j - 1];
                c->taken[j - 1] = t;
            }
        for (size_t k = 0; k < c->ntaken && rc == STEME_OK; k++) {
            const charged_rec *r = &c->recs[c->order[c->taken[k]]];
            rc = steme_kv_batch_put(b, r->aq, r->aqlen, r->val, sizeof r->val);
        }
        c->ntaken = 0;   /* a pg retry calls again from the first charge */
    }
    if (rc != STEME_OK)
        return db_fail(c->db, rc, "put audit: building the batch");
    return STEME_OK;
}

/* Validate and encode q into r (enc malloc'd); the status, message set. */
static int charged_prepare(steme_db *db, const steme_query_audit *q, charged_rec *r)
{
    steme_error e;
    int rc = steme_query_audit_validate(q, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "put audit: %s", e.message);
    size_t need = steme_query_audit_encoded_size(q);
    if (!(r->enc = malloc(need)))
        return db_fail(db, STEME_E_NOMEM, "put audit: out of memory");
    if ((rc = steme_query_audit_encode(q, r->enc, need, &r->len, &e)) != STEME_OK)
        return db_fail(db, rc, "put audit: %s", e.message);
    uint8_t aq[STEME_KEY_MAX], au[STEME_KEY_MAX];
    if ((rc = aq_key(&q->query_id, aq, &r->aqlen)) != STEME_OK ||
        (rc = au_key(&q->agent, q->timestamp, &q->query_id, au, &r->aulen)) != STEME_OK)
        return db_fail(db, rc, "put audit: cannot build keys");
    if (r->aqlen > sizeof r->aq || r->aulen > sizeof r->au)
        return db_fail(db, STEME_E_INTERNAL, "put audit: key longer than its fixed size");
    memcpy(r->aq, aq, r->aqlen);
    memcpy(r->au, au, r->aulen);
    aq_value(&q->agent, q->timestamp, r->val);
    return STEME_OK;
}

int steme_audit_put_charged_many(steme_audit *a, size_t n, const steme_query_audit *qs,
                                 unsigned n_lenses, steme_quota_result *outs, int *rcs)
{
    steme_db *db = adb(a);
    if (!db)
        return STEME_E_INVALID;
    if (n == 0)
        return STEME_OK;
    if (!qs || !outs || !rcs)
        return db_fail(db, STEME_E_INVALID, "put audit: NULL argument");
    if (n > STEME_QUOTA_MANY_MAX)
        return db_fail(db, STEME_E_INVALID, "put audit: %zu records at once, more than %u", n,
                       (unsigned)STEME_QUOTA_MANY_MAX);
    charged_rec *recs = calloc(n, sizeof *recs);
    steme_agent_id *agents = malloc(n * sizeof *agents);
    uint64_t *times = malloc(n * sizeof *times);
    size_t *item = malloc(n * sizeof *item);      /* record k is qs[item[k]] */
    size_t *order = malloc(n * sizeof *order);    /* charge j is record order[j] */
    size_t *taken = malloc(n * sizeof *taken);
    steme_quota_result *res = malloc(n * sizeof *res);
    int *crc = malloc(n * sizeof *crc);
    int rc = STEME_OK;
    if (!recs || !agents || !times || !item || !order || !taken || !res || !crc) {
        rc = db_fail(db, STEME_E_NOMEM, "put audit: out of memory");
        for (size_t i = 0; i < n; i++)
            rcs[i] = rc;
        goto done;
    }
    /* A record that does not validate is neither charged nor written; the
     * others go on without it. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        memset(&outs[i], 0, sizeof outs[i]);
        if ((rcs[i] = charged_prepare(db, &qs[i], &recs[m])) != STEME_OK) {
            free(recs[m].enc);
            recs[m].enc = NULL;
            continue;
        }
        item[m++] = i;
    }
    /* Charges sorted by agent, stable: one agent's still in their order. */
    for (size_t k = 0; k < m; k++) {
        size_t j = k;
        for (; j > 0 && memcmp(qs[item[order[j - 1]]].agent.bytes, qs[item[k]].agent.bytes,
                               STEME_AGENT_ID_LEN) > 0;
             j--)
            order[j] = order[j - 1];
        order[j] = k;
    }
    for (size_t j = 0; j < m; j++) {
        agents[j] = qs[item[order[j]]].agent;
        times[j] = qs[item[order[j]]].timestamp;
    }
    charged_put c = {db, recs, order, m, taken, 0};
    /* No "id already used" read (see audit.h): the ids are new by
     * construction, and the charges and all the keys are one write. */
    rc = steme_quota_check_and_record_many(steme_db_quota(db), m, agents, STEME_QUOTA_QUERY,
                                           n_lenses, 0, times, add_record, &c, res, crc);
    for (size_t j = 0; j < m; j++) {
        outs[item[order[j]]] = res[j];
        rcs[item[order[j]]] = crc[j];
    }
done:
    for (size_t i = 0; recs && i < n; i++)
        free(recs[i].enc);
    free(recs);
    free(agents);
    free(times);
    free(item);
    free(order);
    free(taken);
    free(res);
    free(crc);
    return rc;
}

int steme_audit_put_charged(steme_audit *a, const steme_query_audit *q, unsigned n_lenses,
                            steme_quota_result *out)
{
    steme_db *db = adb(a);
    if (!db)
        return STEME_E_INVALID;
    if (out)
        memset(out, 0, sizeof *out);
    if (!q || !out)
        return db_fail(db, STEME_E_INVALID, "put audit: NULL %s", q ? "result" : "record");
    int rc1 = STEME_OK;
    int rc = steme_audit_put_charged_many(a, 1, q, n_lenses, out, &rc1);
    return rc != STEME_OK ? rc : rc1;
}

int steme_audit_get(steme_audit *a, const steme_id16 *query_id, steme_buf *buf,
                    steme_query_audit *out)
{
    steme_db *db = adb(a);
    if (!db)
        return STEME_E_INVALID;
    if (!query_id || !buf || !out)
        return db_fail(db, STEME_E_INVALID, "get audit: NULL argument");
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    int rc = aq_key(query_id, key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "get audit: key");
    if ((rc = steme_kv_get(db->db_kv, key, klen, buf)) != STEME_OK)
        return rc == STEME_E_NOTFOUND ? db_fail(db, rc, "no audit record for that query id")
                                      : db_fail(db, rc, "get audit: %s",
                                                steme_kv_errmsg(db->db_kv));
    if (buf->len != AQ_VALUE_LEN)
        return db_fail(db, STEME_E_CORRUPT, "audit by-id entry is %zu bytes, not %d", buf->len,
                       AQ_VALUE_LEN);
    steme_agent_id agent;
    memcpy(agent.bytes, buf->data, STEME_AGENT_ID_LEN);
    uint64_t ts = bytes_get_be64(buf->data + STEME_AGENT_ID_LEN);
    if ((rc = au_key(&agent, ts, query_id, key, &klen)) != STEME_OK)
        return db_fail(db, rc, "get audit: key");
    if ((rc = steme_kv_get(db->db_kv, key, klen, buf)) != STEME_OK)
        return rc == STEME_E_NOTFOUND
                   ? db_fail(db, STEME_E_CORRUPT, "audit by-id entry names a missing record")
                   : db_fail(db, rc, "get audit: %s", steme_kv_errmsg(db->db_kv));
    steme_error e;
    if ((rc = steme_query_audit_decode(buf->data, buf->len, out, &e)) != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "stored audit record: %s", e.message);
    if (memcmp(out->query_id.bytes, query_id->bytes, STEME_ID16_LEN) != 0 ||
        memcmp(out->agent.bytes, agent.bytes, STEME_AGENT_ID_LEN) != 0 || out->timestamp != ts)
        return db_fail(db, STEME_E_CORRUPT, "stored audit record does not match its key");
    return STEME_OK;
}

/* ------------------------------------------------------------- listing */

/* Hand the page's records to fn; 1 if fn asked to stop. */
static int deliver(steme_db *db, const store_page *p, const steme_agent_id *agent,
                   steme_audit_cursor *cursor, steme_audit_fn fn, void *ctx, size_t *listed,
                   int *rc)
{
    for (size_t i = 0; i < p->n; i++) {
        steme_query_audit q;
        steme_error e;
        if (steme_query_audit_decode(store_page_value(p, i), p->len[i], &q, &e) != STEME_OK) {
            *rc = db_fail(db, STEME_E_CORRUPT, "list audits: stored record: %s", e.message);
            return 1;
        }
        if (q.timestamp != p->ts[i] || memcmp(q.agent.bytes, agent->bytes, STEME_AGENT_ID_LEN) ||
            memcmp(q.query_id.bytes, p->id[i].bytes, STEME_ID16_LEN)) {
            *rc = db_fail(db, STEME_E_CORRUPT, "list audits: record does not match its key");
            return 1;
        }
        cursor->started = 1;
        cursor->timestamp = p->ts[i];
        cursor->query_id = p->id[i];
        (*listed)++;
        if (fn(ctx, &q) != 0)
            return 1;
    }
    return 0;
}

int steme_audit_list_agent(steme_audit *a, const steme_agent_id *agent, uint64_t from_ts,
                           uint64_t to_ts, size_t limit, steme_audit_cursor *cursor,
                           steme_audit_fn fn, void *ctx, size_t *count)
{
    if (count)
        *count = 0;
    steme_db *db = adb(a);
    if (!db)
        return STEME_E_INVALID;
    if (!agent || !cursor || !fn)
        return db_fail(db, STEME_E_INVALID, "list audits: NULL argument");
    if (from_ts > to_ts)
        return STEME_OK;
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_AUDIT;
    k.agent = *agent;
    uint8_t prefix[STEME_KEY_MAX], after[STEME_KEY_MAX];
    size_t plen, alen = 0;
    int rc = steme_key_encode_prefix(&k, 1, prefix, sizeof prefix, &plen, NULL);
    if (rc != STEME_OK)
        return db_fail(db, rc, "list audits: prefix");
    /* Start strictly after the cursor, or after the largest key of from_ts - 1
     * (so the first key seen has ts >= from_ts), whichever is later. */
    int have_after = 0;
    if (cursor->started && cursor->timestamp >= from_ts) {
        rc = au_key(agent, cursor->timestamp, &cursor->query_id, after, &alen);
        have_after = 1;
    } else if (from_ts > 0) {
        steme_id16 top;
        memset(top.bytes, 0xff, sizeof top.bytes);
        rc = au_key(agent, from_ts - 1, &top, after, &alen);
        have_after = 1;
    }
    if (rc != STEME_OK)
        return db_fail(db, rc, "list audits: start key");

    store_page *p = store_page_new(STEME_FAM_AUDIT, to_ts);
    if (!p)
        return db_fail(db, STEME_E_NOMEM, "list audits: out of memory");
    size_t listed = 0;
    while (limit == 0 || listed < limit) {
        size_t want = store_page_want(limit, listed);
        rc = store_page_fill(db, p, prefix, plen, have_after ? after : NULL, alen, want, 0,
                             "list audits");
        if (rc != STEME_OK)
            break;
        if (deliver(db, p, agent, cursor, fn, ctx, &listed, &rc) || p->past || p->n < want)
            break;
        if ((rc = au_key(agent, cursor->timestamp, &cursor->query_id, after, &alen)) != STEME_OK)
            break;
        have_after = 1;
    }
    store_page_free(p);
    if (count)
        *count = listed;
    return rc;
}
