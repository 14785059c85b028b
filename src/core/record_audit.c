/*
 * record_audit.c - canonical encodings of QueryAudit and QuotaRecord
 * (spec 2 and 5: the audit trail and The Meter).
 *
 * QueryAudit (type 6): [6][version 1][flags: bit0 winner, others 0]
 *   3  query id          16 bytes
 *   19 agent             32 bytes
 *   51 timestamp         u64 (Unix ms)
 *   59 subject           u16 len (1..1024) + UTF-8
 *   .  predicate         u16 len (1..256) + UTF-8
 *   .  lens              u8, 1..6
 *   .  confidence        f64, finite, in [0, 1], never -0.0
 *   .  duration_us       u64
 *   .  candidate count   u32, 0..65536
 *   .  candidates        count x 32 bytes
 *   .  winner            32 bytes iff bit0
 *
 * QuotaRecord (type 7), 75 bytes: [7][version 1][flags 0]
 *   3  agent 32 bytes | 35 hour u64 | 43 tokens_used u64 |
 *   51 assert_ops u64 | 59 vote_ops u64 | 67 query_ops u64
 */
#include "core/record_int.h"

#include <string.h>
#include "core/error.h"
#include "steme/keys.h"

/* Decoded candidates point straight into the input as steme_hash[]. */
_Static_assert(sizeof(steme_hash) == STEME_HASH_LEN && _Alignof(steme_hash) == 1,
               "steme_hash must be 32 unaligned bytes to be viewed in place");

#define QA_WINNER 0x01u
static const char QA[] = "query audit";

static const char *const lens_names[] = {
    NULL, "recency", "consensus", "confidence", "vote", "authority", "skeptic",
};

const char *steme_lens_name(steme_lens lens)
{
    unsigned k = (unsigned)lens;
    return k >= 1 && k <= STEME_LENS_SKEPTIC ? lens_names[k] : NULL;
}

static size_t audit_size(const steme_query_audit *q)
{
    size_t s = rec_text16_size(q->subject_len, STEME_SUBJECT_MAX);
    size_t p = rec_text16_size(q->predicate_len, STEME_PREDICATE_MAX);
    if (!s || !p || q->n_candidates > STEME_AUDIT_CANDIDATES_MAX)
        return 0;
    return REC_HEADER_LEN + STEME_ID16_LEN + STEME_AGENT_ID_LEN + 8 + s + p + 1 + 8 + 8 + 4 +
           q->n_candidates * STEME_HASH_LEN + (q->has_winner ? STEME_HASH_LEN : 0);
}

size_t steme_query_audit_encoded_size(const steme_query_audit *q)
{
    return q ? audit_size(q) : 0;
}

int steme_query_audit_validate(const steme_query_audit *q, steme_error *err)
{
    if (!q)
        return steme_err(err, STEME_E_INVALID, "query audit: NULL");
    int rc;
    if ((rc = rec_check_subject(err, QA, q->subject, q->subject_len)) ||
        (rc = rec_check_predicate(err, QA, q->predicate, q->predicate_len)) ||
        (rc = rec_check_enum(err, QA, "lens", (unsigned)q->lens, STEME_LENS_RECENCY,
                             STEME_LENS_SKEPTIC)) ||
        (rc = rec_check_f64(err, QA, "confidence", q->confidence, 0.0, 1.0)))
        return rc;
    if (q->n_candidates > STEME_AUDIT_CANDIDATES_MAX)
        return steme_err(err, STEME_E_TOO_BIG, "query audit: %zu candidates, limit %u",
                         q->n_candidates, STEME_AUDIT_CANDIDATES_MAX);
    if (!q->candidates && q->n_candidates)
        return steme_err(err, STEME_E_INVALID, "query audit: candidates NULL with count %zu",
                         q->n_candidates);
    return STEME_OK;
}

int steme_query_audit_encode(const steme_query_audit *q, uint8_t *buf, size_t cap,
                             size_t *len, steme_error *err)
{
    int rc = steme_query_audit_validate(q, err);
    if (rc != STEME_OK)
        return rc;
    size_t need = audit_size(q);
    codec_w w;
    if ((rc = rec_encode_begin(QA, need, buf, cap, len, &w, err)) != STEME_OK)
        return rc;
    rec_header(&w, STEME_REC_QUERY_AUDIT, q->has_winner ? QA_WINNER : 0);
    cw_bytes(&w, q->query_id.bytes, STEME_ID16_LEN);
    cw_bytes(&w, q->agent.bytes, STEME_AGENT_ID_LEN);
    cw_u64(&w, q->timestamp);
    cw_text16(&w, q->subject, q->subject_len);
    cw_text16(&w, q->predicate, q->predicate_len);
    cw_u8(&w, (uint8_t)q->lens);
    cw_f64(&w, q->confidence);
    cw_u64(&w, q->duration_us);
    cw_u32(&w, (uint32_t)q->n_candidates);
    cw_bytes(&w, q->candidates, q->n_candidates * STEME_HASH_LEN);
    if (q->has_winner)
        cw_bytes(&w, q->winner.bytes, STEME_HASH_LEN);
    return rec_encode_end(QA, &w, need, err);
}

int steme_query_audit_decode(const uint8_t *buf, size_t len, steme_query_audit *out,
                             steme_error *err)
{
    int rc = rec_decode_args(QA, buf, len, out, err);
    if (rc != STEME_OK)
        return rc;
    steme_query_audit q;
    memset(&q, 0, sizeof q);
    codec_r r;
    cr_init(&r, QA, buf, len, err);
    uint8_t flags = cr_header(&r, STEME_REC_QUERY_AUDIT, QA_WINNER);
    cr_copy(&r, "query id", q.query_id.bytes, STEME_ID16_LEN);
    cr_copy(&r, "agent", q.agent.bytes, STEME_AGENT_ID_LEN);
    q.timestamp = cr_u64(&r, "timestamp");
    cr_text16(&r, "subject", 1, STEME_SUBJECT_MAX, &q.subject, &q.subject_len);
    cr_text16(&r, "predicate", 1, STEME_PREDICATE_MAX, &q.predicate, &q.predicate_len);
    q.lens = (steme_lens)cr_enum8(&r, "lens", STEME_LENS_RECENCY, STEME_LENS_SKEPTIC);
    q.confidence = cr_f64(&r, "confidence", 0.0, 1.0);
    q.duration_us = cr_u64(&r, "duration_us");
    size_t at = r.cr_off;
    uint32_t n = cr_u32(&r, "candidate count");
    if (!r.cr_rc && n > STEME_AUDIT_CANDIDATES_MAX)
        cr_fail(&r, at, "candidate count", "%u above limit %u", (unsigned)n,
                STEME_AUDIT_CANDIDATES_MAX);
    const uint8_t *c = cr_take(&r, "candidates", r.cr_rc ? 0 : (size_t)n * STEME_HASH_LEN);
    if (c && n) {
        q.candidates = (const steme_hash *)(const void *)c;
        q.n_candidates = n;
    }
    if ((q.has_winner = flags & QA_WINNER))
        cr_copy(&r, "winner", q.winner.bytes, STEME_HASH_LEN);
    if ((rc = cr_finish(&r)) != STEME_OK)
        return rc;
    *out = q;
    return STEME_OK;
}

/* -------------------------------------------------------- QuotaRecord */

#define QT_LEN (REC_HEADER_LEN + STEME_AGENT_ID_LEN + 8u * 5u)
static const char QT[] = "quota record";

size_t steme_quota_record_encoded_size(const steme_quota_record *q)
{
    return q ? QT_LEN : 0;
}

int steme_quota_record_validate(const steme_quota_record *q, steme_error *err)
{
    if (!q)
        return steme_err(err, STEME_E_INVALID, "quota record: NULL");
    return STEME_OK;  /* every u64 value is valid */
}

int steme_quota_record_encode(const steme_quota_record *q, uint8_t *buf, size_t cap,
                              size_t *len, steme_error *err)
{
    int rc = steme_quota_record_validate(q, err);
    codec_w w;
    if (rc || (rc = rec_encode_begin(QT, QT_LEN, buf, cap, len, &w, err)))
        return rc;
    rec_header(&w, STEME_REC_QUOTA, 0);
    cw_bytes(&w, q->agent.bytes, STEME_AGENT_ID_LEN);
    cw_u64(&w, q->hour);
    cw_u64(&w, q->tokens_used);
    cw_u64(&w, q->assert_ops);
    cw_u64(&w, q->vote_ops);
    cw_u64(&w, q->query_ops);
    return rec_encode_end(QT, &w, QT_LEN, err);
}

int steme_quota_record_decode(const uint8_t *buf, size_t len, steme_quota_record *out,
                              steme_error *err)
{
    int rc = rec_decode_args(QT, buf, len, out, err);
    if (rc != STEME_OK)
        return rc;
    steme_quota_record q;
    codec_r r;
    cr_init(&r, QT, buf, len, err);
    cr_header(&r, STEME_REC_QUOTA, 0);
    cr_copy(&r, "agent", q.agent.bytes, STEME_AGENT_ID_LEN);
    q.hour = cr_u64(&r, "hour");
    q.tokens_used = cr_u64(&r, "tokens_used");
    q.assert_ops = cr_u64(&r, "assert_ops");
    q.vote_ops = cr_u64(&r, "vote_ops");
    q.query_ops = cr_u64(&r, "query_ops");
    if ((rc = cr_finish(&r)) != STEME_OK)
        return rc;
    *out = q;
    return STEME_OK;
}
