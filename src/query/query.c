/*
 * query.c - steme_query: check the request, ask The Meter, gather, resolve,
 * charge and audit in one write, escalate a contested skeptic result
 * (steme/query.h); also in three steps (prepare, commit_many, finish) for
 * a server that commits concurrent queries together.
 *
 * Order matters: the Meter is asked before anything is read (a read of
 * the agent's limit and usage), so a refused query costs two reads and
 * writes nothing. The charge itself is written with the audit record, in
 * one atomic engine write, once the winner and duration are known
 * (steme_audit_put_charged): it is checked again there under the agent's
 * meter lock, so concurrent queries never overspend, and a query refused
 * there (another query spent the last tokens meanwhile) writes nothing
 * either. A query whose charge and audit cannot be written fails (no
 * unaudited answers); a skeptic escalation is raised after them.
 *
 * Query ids: the query's time (6 bytes) then 10 random bytes from
 * libsodium. libsodium must be initialised once per process; that, and
 * the random key of the claim digests (query_lens.c), happen under a
 * pthread_once and stay read-only after (the only static state of the
 * read path).
 */
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/utf8.h"
#include "query/query_int.h"
#include "steme/audit.h"
#include "steme/escalations.h"
#include "steme/quota.h"
#include "store/db_int.h"   /* db_fail: the per-thread message of steme_db_errmsg */

#define Q_LENSES 1u   /* lenses one query applies (its Meter cost is 5 + this) */

static pthread_once_t q_once = PTHREAD_ONCE_INIT;
/* Written once inside q_once, read-only after. */
static int q_sodium_rc;
static uint8_t q_digest_key_bytes[crypto_shorthash_KEYBYTES];

static void q_init(void)
{
    q_sodium_rc = sodium_init() < 0 ? -1 : 0;
    if (q_sodium_rc == 0)
        randombytes_buf(q_digest_key_bytes, sizeof q_digest_key_bytes);
}

const uint8_t *q_digest_key(void)
{
    if (pthread_once(&q_once, q_init) != 0 || q_sodium_rc != 0)
        return NULL;
    return q_digest_key_bytes;
}

static uint64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const char *const status_names[] = {NULL, "unanimous", "agreed", "contested"};

const char *steme_skeptic_status_name(steme_skeptic_status s)
{
    unsigned k = (unsigned)s;
    return k >= 1 && k <= STEME_SKEPTIC_CONTESTED ? status_names[k] : NULL;
}

void steme_query_request_init(steme_query_request *req)
{
    if (req)
        memset(req, 0, sizeof *req);
}

/* Free what r owns, keep its scalar fields (lens, quota, explanation). */
static void release(steme_resolution *r)
{
    free(r->candidates);
    free(r->claims);
    q_arena_free(r);
    r->candidates = NULL;
    r->claims = NULL;
    r->n_candidates = r->n_claims = 0;
    r->has_winner = false;
    memset(&r->winner_value, 0, sizeof r->winner_value);
}

void steme_resolution_free(steme_resolution *r)
{
    if (!r)
        return;
    release(r);
    memset(r, 0, sizeof *r);
}

static int check_text(steme_db *db, const char *what, const char *s, size_t len, size_t max)
{
    if (!s || len == 0)
        return db_fail(db, STEME_E_INVALID, "query: %s is %s", what, s ? "empty" : "NULL");
    if (len > max)
        return db_fail(db, STEME_E_TOO_BIG, "query: %s is %zu bytes, more than %zu", what, len,
                        max);
    size_t bad = steme_utf8_check(s, len);
    if (bad)
        return db_fail(db, STEME_E_BAD_UTF8,
                        "query: %s is not valid UTF-8 (or holds a NUL) at byte %zu", what,
                        bad - 1);
    return STEME_OK;
}

static int check_request(steme_db *db, const steme_query_request *req, size_t *limit)
{
    int rc = check_text(db, "subject", req->subject, req->subject_len, STEME_SUBJECT_MAX);
    if (rc == STEME_OK)
        rc = check_text(db, "predicate", req->predicate, req->predicate_len,
                        STEME_PREDICATE_MAX);
    if (rc != STEME_OK)
        return rc;
    if (!steme_lens_name(req->lens))
        return db_fail(db, STEME_E_INVALID,
                        "query: unknown lens %d (recency, consensus, confidence, vote, "
                        "authority or skeptic)",
                        (int)req->lens);
    double hl = req->decay_half_life_ms;
    if (!isfinite(hl) || hl < 0.0)
        return db_fail(db, STEME_E_INVALID,
                        "query: decay half-life must be finite and >= 0 ms (0 = no decay)");
    if (req->limit > STEME_QUERY_CANDIDATES_MAX)
        return db_fail(db, STEME_E_INVALID, "query: limit %zu is above the most %u candidates",
                        req->limit, (unsigned)STEME_QUERY_CANDIDATES_MAX);
    *limit = req->limit ? req->limit : STEME_QUERY_CANDIDATES_MAX;
    return STEME_OK;
}

/* The Meter said no: fill the refusal (explanation, message); STEME_E_QUOTA. */
static int refused(steme_db *db, uint64_t cost, uint64_t limit, uint64_t remaining,
                   uint64_t reset_at, steme_resolution *out)
{
    out->quota_allowed = false;
    out->quota_limit = limit;
    out->quota_remaining = remaining;
    out->quota_reset_at = reset_at;
    snprintf(out->explanation, sizeof out->explanation,
             "Refused by the Meter: a query costs %llu tokens, %llu of %llu remain this hour; "
             "the budget resets at %llu.",
             (unsigned long long)cost, (unsigned long long)remaining,
             (unsigned long long)limit, (unsigned long long)reset_at);
    return db_fail(db, STEME_E_QUOTA,
                   "query refused by the Meter: quota exceeded (cost %llu, remaining %llu, "
                   "limit %llu, resets at %llu ms)",
                   (unsigned long long)cost, (unsigned long long)remaining,
                   (unsigned long long)limit, (unsigned long long)reset_at);
}

/* Ask the Meter before anything is read: STEME_E_QUOTA (nothing written)
 * when the agent cannot pay for the query. Charges nothing: the charge is
 * written with the audit record (steme_query_commit_many), checked again
 * there. */
static int meter_precheck(steme_db *db, const steme_query_request *req, uint64_t now,
                          steme_resolution *out)
{
    uint64_t cost;
    steme_error e;
    int rc = steme_quota_cost(STEME_QUOTA_QUERY, Q_LENSES, 0, &cost, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "query: %s", e.message);
    steme_quota_status st;
    if ((rc = steme_quota_get_status(steme_db_quota(db), &req->agent, now, &st)) != STEME_OK)
        return rc;
    if (st.remaining >= cost)
        return STEME_OK;
    return refused(db, cost, st.limit, st.remaining, st.reset_at, out);
}

/* Skeptic: raise an escalation on (subject, predicate) once while open. */
static int escalate(steme_db *db, const steme_query_request *req, uint64_t now,
                    steme_resolution *out)
{
    steme_escalation e;
    memset(&e, 0, sizeof e);
    randombytes_buf(e.id.bytes, sizeof e.id.bytes);
    e.target_kind = STEME_ESC_TARGET_SUBJECT;
    e.subject = req->subject;
    e.subject_len = req->subject_len;
    e.predicate = req->predicate;
    e.predicate_len = req->predicate_len;
    e.conflict_score = out->conflict;
    char reason[160];
    int n = snprintf(reason, sizeof reason,
                     "skeptic lens: %zu distinct claims among %zu assertions, conflict %.3f",
                     out->n_claims, out->n_candidates, out->conflict);
    e.reason = reason;
    e.reason_len = n < 0 ? 0 : (size_t)n < sizeof reason ? (size_t)n : sizeof reason - 1;
    e.status = STEME_ESC_OPEN;
    e.created_at = now;
    int rc = steme_escalation_raise(steme_db_escalations(db), &e);
    if (rc == STEME_OK) {
        out->escalation = STEME_QUERY_ESC_RAISED;
        out->escalation_id = e.id;
    } else if (rc == STEME_E_EXISTS) {
        /* One is open for this pair already: that is the rule, not a failure.
         * (The other EXISTS, a random 16-byte id already taken, is 2^-128.) */
        out->escalation = STEME_QUERY_ESC_ALREADY_OPEN;
        rc = STEME_OK;
    }
    return rc;
}

/* Fill the audit record of a prepared query; its candidate hashes go in
 * hashes[0..n_candidates). */
static void audit_record(const steme_query_request *req, const steme_resolution *out,
                         steme_hash *hashes, steme_query_audit *q)
{
    for (size_t i = 0; i < out->n_candidates; i++)
        hashes[i] = out->candidates[i].hash;
    memset(q, 0, sizeof *q);
    q->query_id = out->query_id;
    q->agent = req->agent;
    q->timestamp = out->timestamp;
    q->subject = req->subject;
    q->subject_len = req->subject_len;
    q->predicate = req->predicate;
    q->predicate_len = req->predicate_len;
    q->lens = req->lens;
    q->candidates = hashes;
    q->n_candidates = out->n_candidates;
    q->has_winner = out->has_winner;
    q->winner = out->winner;
    q->confidence = out->confidence;
    q->duration_us = out->duration_us;
}

/* A new query id: the query's Unix ms time in 6 bytes big-endian, then 10
 * random bytes. Time-ordered ids go into the by-id index near each other
 * (an append, not a random insert, in the engine's sorted structures); 80
 * random bits keep them unique without reading the index first. */
static void new_query_id(uint64_t now, steme_id16 *id)
{
    for (int i = 0; i < 6; i++)
        id->bytes[i] = (uint8_t)(now >> (40 - 8 * i));
    randombytes_buf(id->bytes + 6, sizeof id->bytes - 6);
}

int steme_query_prepare(steme_db *db, const steme_query_request *req, steme_resolution *out)
{
    if (!db)
        return STEME_E_INVALID;
    if (!out)
        return db_fail(db, STEME_E_INVALID, "query: NULL resolution");
    memset(out, 0, sizeof *out);
    if (!req)
        return db_fail(db, STEME_E_INVALID, "query: NULL request");
    size_t limit = 0;
    int rc = check_request(db, req, &limit);
    if (rc != STEME_OK)
        return rc;
    out->lens = req->lens;
    if (!q_digest_key())
        return db_fail(db, STEME_E_INTERNAL, "query: libsodium failed to initialise");
    uint64_t t0 = mono_us();
    uint64_t now = req->now_ms ? req->now_ms : clock_ms();
    out->timestamp = now;
    if (!req->skip_meter_precheck && (rc = meter_precheck(db, req, now, out)) != STEME_OK)
        return rc;

    new_query_id(now, &out->query_id);
    uint64_t ref = req->as_of ? req->as_of : now;
    if ((rc = q_gather(db, req, ref, limit, out)) != STEME_OK)
        goto fail;
    if ((rc = q_resolve(out, req->lens)) != STEME_OK) {
        db_fail(db, rc, "query: resolving %zu candidates: %s", out->n_candidates,
                steme_strerror(rc));
        goto fail;
    }
    out->duration_us = mono_us() - t0;
    return STEME_OK;
fail:
    release(out);
    return rc;
}

int steme_query_commit_many(steme_db *db, size_t n, const steme_query_request *const *reqs,
                            steme_resolution *const *outs, int *rcs)
{
    if (!db)
        return STEME_E_INVALID;
    if (n == 0)
        return STEME_OK;
    if (!reqs || !outs || !rcs)
        return db_fail(db, STEME_E_INVALID, "query commit: NULL argument");
    /* Bad calls below fail every query of the call, as the header says. */
    for (size_t i = 0; i < n; i++)
        rcs[i] = STEME_E_INVALID;
    if (n > STEME_QUOTA_MANY_MAX)
        return db_fail(db, STEME_E_INVALID, "query commit: %zu queries, more than %u", n,
                       (unsigned)STEME_QUOTA_MANY_MAX);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!reqs[i] || !outs[i])
            return db_fail(db, STEME_E_INVALID, "query commit: NULL query %zu", i);
        total += outs[i]->n_candidates;
    }
    /* One allocation for every record and candidate list of the batch. */
    steme_hash stack_h[64];
    steme_query_audit stack_q[1];
    steme_quota_result stack_r[1];
    steme_hash *hashes = total <= 64 ? stack_h : malloc(total * sizeof *hashes);
    steme_query_audit *qs = n == 1 ? stack_q : malloc(n * sizeof *qs);
    steme_quota_result *res = n == 1 ? stack_r : malloc(n * sizeof *res);
    int rc;
    if (!hashes || !qs || !res) {
        rc = db_fail(db, STEME_E_NOMEM, "query: out of memory for the audit records");
        for (size_t i = 0; i < n; i++)
            rcs[i] = rc;
    } else {
        for (size_t i = 0, at = 0; i < n; i++) {
            audit_record(reqs[i], outs[i], hashes + at, &qs[i]);
            at += outs[i]->n_candidates;
        }
        rc = steme_audit_put_charged_many(steme_db_audit(db), n, qs, Q_LENSES, res, rcs);
    }
    for (size_t i = 0; i < n; i++) {
        steme_resolution *out = outs[i];
        if (rcs[i] == STEME_OK && !res[i].allowed)
            rcs[i] = refused(db, res[i].cost, res[i].limit, res[i].remaining,
                             res[i].reset_at, out);
        if (rcs[i] != STEME_OK) {
            release(out);
            continue;
        }
        out->quota_allowed = true;
        out->quota_remaining = res[i].remaining;
        out->quota_reset_at = res[i].reset_at;
    }
    if (hashes != stack_h)
        free(hashes);
    if (qs != stack_q)
        free(qs);
    if (res != stack_r)
        free(res);
    return rc;
}

int steme_query_finish(steme_db *db, const steme_query_request *req, steme_resolution *out)
{
    if (!db)
        return STEME_E_INVALID;
    if (!req || !out)
        return db_fail(db, STEME_E_INVALID, "query finish: NULL argument");
    /* After the charge and the audit, so that a query the Meter refuses at
     * the last moment has written nothing, escalation included. */
    int rc = STEME_OK;
    if (req->lens == STEME_LENS_SKEPTIC && out->n_claims > 1 &&
        out->conflict >= STEME_ESCALATION_THRESHOLD &&
        (rc = escalate(db, req, out->timestamp, out)) != STEME_OK) {
        release(out);
        return rc;
    }
    q_explain(out, req);
    return STEME_OK;
}

int steme_query(steme_db *db, const steme_query_request *req, steme_resolution *out)
{
    int rc = steme_query_prepare(db, req, out);
    if (rc != STEME_OK)
        return rc;
    int one = STEME_OK;
    rc = steme_query_commit_many(db, 1, &req, &out, &one);
    if (rc == STEME_OK)
        rc = one;
    if (rc != STEME_OK)
        return rc;
    return steme_query_finish(db, req, out);
}
