/*
 * query.c - steme_query: check the request, charge The Meter, gather,
 * resolve, escalate a contested skeptic result, audit (steme/query.h).
 *
 * Order matters: the Meter is asked before anything is read, so a refused
 * query costs the engine one read-modify-write and writes nothing else;
 * the audit is written last, with the final winner and duration, and a
 * query whose audit cannot be written fails (no unaudited answers).
 *
 * Query ids are 16 random bytes from libsodium. libsodium must be
 * initialised once per process; that, and the random key of the claim
 * digests (query_lens.c), happen under a pthread_once and stay read-only
 * after (the only static state of the read path).
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

/* Charge the query; STEME_E_QUOTA (and nothing written) when refused. */
static int meter(steme_db *db, const steme_query_request *req, uint64_t now,
                 steme_resolution *out)
{
    steme_quota *q = steme_db_quota(db);
    steme_quota_result res;
    int rc = steme_quota_check_and_record(q, &req->agent, STEME_QUOTA_QUERY, 1, 0, now, &res);
    if (rc != STEME_OK)
        return rc;
    out->quota_allowed = res.allowed;
    out->quota_limit = res.limit;
    out->quota_remaining = res.remaining;
    out->quota_reset_at = res.reset_at;
    if (res.allowed)
        return STEME_OK;
    snprintf(out->explanation, sizeof out->explanation,
             "Refused by the Meter: a query costs %llu tokens, %llu of %llu remain this hour; "
             "the budget resets at %llu.",
             (unsigned long long)res.cost, (unsigned long long)res.remaining,
             (unsigned long long)out->quota_limit, (unsigned long long)res.reset_at);
    return db_fail(db, STEME_E_QUOTA,
                   "query refused by the Meter: quota exceeded (cost %llu, remaining %llu, "
                   "limit %llu, resets at %llu ms)",
                   (unsigned long long)res.cost, (unsigned long long)res.remaining,
                   (unsigned long long)out->quota_limit, (unsigned long long)res.reset_at);
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

static int audit(steme_db *db, const steme_query_request *req, uint64_t now,
                 const steme_resolution *out)
{
    steme_hash *hashes = NULL;
    if (out->n_candidates) {
        hashes = malloc(out->n_candidates * sizeof *hashes);
        if (!hashes)
            return db_fail(db, STEME_E_NOMEM, "query: out of memory for the audit record");
        for (size_t i = 0; i < out->n_candidates; i++)
            hashes[i] = out->candidates[i].hash;
    }
    steme_query_audit q;
    memset(&q, 0, sizeof q);
    q.query_id = out->query_id;
    q.agent = req->agent;
    q.timestamp = now;
    q.subject = req->subject;
    q.subject_len = req->subject_len;
    q.predicate = req->predicate;
    q.predicate_len = req->predicate_len;
    q.lens = req->lens;
    q.candidates = hashes;
    q.n_candidates = out->n_candidates;
    q.has_winner = out->has_winner;
    q.winner = out->winner;
    q.confidence = out->confidence;
    q.duration_us = out->duration_us;
    int rc = steme_audit_put(steme_db_audit(db), &q);
    free(hashes);
    return rc;
}

int steme_query(steme_db *db, const steme_query_request *req, steme_resolution *out)
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
    if ((rc = meter(db, req, now, out)) != STEME_OK)
        return rc;

    randombytes_buf(out->query_id.bytes, sizeof out->query_id.bytes);
    uint64_t ref = req->as_of ? req->as_of : now;
    if ((rc = q_gather(db, req, ref, limit, out)) != STEME_OK)
        goto fail;
    if ((rc = q_resolve(out, req->lens)) != STEME_OK) {
        db_fail(db, rc, "query: resolving %zu candidates: %s", out->n_candidates,
                steme_strerror(rc));
        goto fail;
    }
    if (req->lens == STEME_LENS_SKEPTIC && out->n_claims > 1 &&
        out->conflict >= STEME_ESCALATION_THRESHOLD &&
        (rc = escalate(db, req, now, out)) != STEME_OK)
        goto fail;
    q_explain(out, req);
    out->duration_us = mono_us() - t0;
    if ((rc = audit(db, req, now, out)) != STEME_OK)
        goto fail;
    return STEME_OK;
fail:
    release(out);
    return rc;
}
