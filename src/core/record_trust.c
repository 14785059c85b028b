/*
 * record_trust.c - canonical encodings of TrustRank, GoldStandard and
 * TrustPack (spec 2 and 5). Header of each: [type u8][version u8 = 1]
 * [flags u8 = 0] (no optional fields yet; every flag bit must be 0).
 *
 * TrustRank (type 3), 67 bytes:
 *   3  agent             32 bytes
 *   35 score             f64, finite, in [0, 1], never -0.0
 *   43 last_updated      u64 (Unix ms)
 *   51 assertions_count  u64
 *   59 accuracy_count    u64, <= assertions_count
 *
 * GoldStandard (type 4):
 *   3  assertion hash    32 bytes
 *   35 subject           u16 len (1..1024) + UTF-8
 *   .  predicate         u16 len (1..256) + UTF-8
 *   .  expected          typed value (record_value.c)
 *   .  set_at            u64 (Unix ms)
 *   .  set_by            32 bytes
 *
 * TrustPack (type 5):
 *   3  pack id           16 bytes
 *   19 name              u16 len (1..256) + UTF-8
 *   .  maintainer        32 bytes
 *   .  description       u16 len (0..4096) + UTF-8
 *   .  created_at        u64 (Unix ms)
 */
#include "core/record_int.h"

#include <string.h>
#include "core/error.h"
#include "steme/keys.h"

/* ---------------------------------------------------------- TrustRank */

#define TR_LEN (REC_HEADER_LEN + STEME_AGENT_ID_LEN + 8u * 4u)
static const char TR[] = "trust rank";

size_t steme_trust_rank_encoded_size(const steme_trust_rank *t)
{
    return t ? TR_LEN : 0;
}

int steme_trust_rank_validate(const steme_trust_rank *t, steme_error *err)
{
    if (!t)
        return steme_err(err, STEME_E_INVALID, "trust rank: NULL");
    int rc = rec_check_f64(err, TR, "score", t->score, 0.0, 1.0);
    if (rc == STEME_OK && t->accuracy_count > t->assertions_count)
        rc = steme_err(err, STEME_E_INVALID,
                       "trust rank: accuracy_count %llu exceeds assertions_count %llu",
                       (unsigned long long)t->accuracy_count,
                       (unsigned long long)t->assertions_count);
    return rc;
}

int steme_trust_rank_encode(const steme_trust_rank *t, uint8_t *buf, size_t cap, size_t *len,
                            steme_error *err)
{
    int rc = steme_trust_rank_validate(t, err);
    codec_w w;
    if (rc || (rc = rec_encode_begin(TR, TR_LEN, buf, cap, len, &w, err)))
        return rc;
    rec_header(&w, STEME_REC_TRUST_RANK, 0);
    cw_bytes(&w, t->agent.bytes, STEME_AGENT_ID_LEN);
    cw_f64(&w, t->score);
    cw_u64(&w, t->last_updated);
    cw_u64(&w, t->assertions_count);
    cw_u64(&w, t->accuracy_count);
    return rec_encode_end(TR, &w, TR_LEN, err);
}

int steme_trust_rank_decode(const uint8_t *buf, size_t len, steme_trust_rank *out,
                            steme_error *err)
{
    int rc = rec_decode_args(TR, buf, len, out, err);
    if (rc != STEME_OK)
        return rc;
    steme_trust_rank t;
    codec_r r;
    cr_init(&r, TR, buf, len, err);
    cr_header(&r, STEME_REC_TRUST_RANK, 0);
    cr_copy(&r, "agent", t.agent.bytes, STEME_AGENT_ID_LEN);
    t.score = cr_f64(&r, "score", 0.0, 1.0);
    t.last_updated = cr_u64(&r, "last_updated");
    t.assertions_count = cr_u64(&r, "assertions_count");
    size_t at = r.cr_off;
    t.accuracy_count = cr_u64(&r, "accuracy_count");
    if (!r.cr_rc && t.accuracy_count > t.assertions_count)
        cr_fail(&r, at, "accuracy_count", "%llu exceeds assertions_count %llu",
                (unsigned long long)t.accuracy_count, (unsigned long long)t.assertions_count);
    if ((rc = cr_finish(&r)) != STEME_OK)
        return rc;
    *out = t;
    return STEME_OK;
}

/* ------------------------------------------------------- GoldStandard */

static const char GS[] = "gold standard";

static size_t gold_size(const steme_gold_standard *g)
{
    size_t s = rec_text16_size(g->subject_len, STEME_SUBJECT_MAX);
    size_t p = rec_text16_size(g->predicate_len, STEME_PREDICATE_MAX);
    size_t v = rec_value_size(&g->expected);
    if (!s || !p || !v)
        return 0;
    return REC_HEADER_LEN + STEME_HASH_LEN + s + p + v + 8 + STEME_AGENT_ID_LEN;
}

size_t steme_gold_standard_encoded_size(const steme_gold_standard *g)
{
    return g ? gold_size(g) : 0;
}

int steme_gold_standard_validate(const steme_gold_standard *g, steme_error *err)
{
    if (!g)
        return steme_err(err, STEME_E_INVALID, "gold standard: NULL");
    int rc;
    if ((rc = rec_check_subject(err, GS, g->subject, g->subject_len)) ||
        (rc = rec_check_predicate(err, GS, g->predicate, g->predicate_len)) ||
        (rc = rec_value_check(err, GS, "expected", &g->expected)))
        return rc;
    return STEME_OK;
}

int steme_gold_standard_encode(const steme_gold_standard *g, uint8_t *buf, size_t cap,
                               size_t *len, steme_error *err)
{
    int rc = steme_gold_standard_validate(g, err);
    if (rc != STEME_OK)
        return rc;
    size_t need = gold_size(g);
    codec_w w;
    if ((rc = rec_encode_begin(GS, need, buf, cap, len, &w, err)) != STEME_OK)
        return rc;
    rec_header(&w, STEME_REC_GOLD_STANDARD, 0);
    cw_bytes(&w, g->assertion.bytes, STEME_HASH_LEN);
    cw_text16(&w, g->subject, g->subject_len);
    cw_text16(&w, g->predicate, g->predicate_len);
    rec_value_write(&w, &g->expected);
    cw_u64(&w, g->set_at);
    cw_bytes(&w, g->set_by.bytes, STEME_AGENT_ID_LEN);
    return rec_encode_end(GS, &w, need, err);
}

int steme_gold_standard_decode(const uint8_t *buf, size_t len, steme_gold_standard *out,
                               steme_error *err)
{
    int rc = rec_decode_args(GS, buf, len, out, err);
    if (rc != STEME_OK)
        return rc;
    steme_gold_standard g;
    codec_r r;
    cr_init(&r, GS, buf, len, err);
    cr_header(&r, STEME_REC_GOLD_STANDARD, 0);
    cr_copy(&r, "assertion hash", g.assertion.bytes, STEME_HASH_LEN);
    cr_text16(&r, "subject", 1, STEME_SUBJECT_MAX, &g.subject, &g.subject_len);
    cr_text16(&r, "predicate", 1, STEME_PREDICATE_MAX, &g.predicate, &g.predicate_len);
    rec_value_read(&r, "expected", &g.expected);
    g.set_at = cr_u64(&r, "set_at");
    cr_copy(&r, "set_by", g.set_by.bytes, STEME_AGENT_ID_LEN);
    if ((rc = cr_finish(&r)) != STEME_OK)
        return rc;
    *out = g;
    return STEME_OK;
}

/* ---------------------------------------------------------- TrustPack */

static const char TP[] = "trust pack";

static size_t pack_size(const steme_trust_pack *p)
{
    size_t n = rec_text16_size(p->name_len, STEME_PACK_NAME_MAX);
    size_t d = rec_text16_size(p->description_len, STEME_TEXT_MAX);
    if (!n || !d)
        return 0;
    return REC_HEADER_LEN + STEME_ID16_LEN + n + STEME_AGENT_ID_LEN + d + 8;
}

size_t steme_trust_pack_encoded_size(const steme_trust_pack *p)
{
    return p ? pack_size(p) : 0;
}

int steme_trust_pack_validate(const steme_trust_pack *p, steme_error *err)
{
    if (!p)
        return steme_err(err, STEME_E_INVALID, "trust pack: NULL");
    int rc;
    if ((rc = rec_check_text(err, TP, "name", p->name, p->name_len, 1, STEME_PACK_NAME_MAX)) ||
        (rc = rec_check_text(err, TP, "description", p->description, p->description_len, 0,
                             STEME_TEXT_MAX)))
        return rc;
    return STEME_OK;
}

int steme_trust_pack_encode(const steme_trust_pack *p, uint8_t *buf, size_t cap, size_t *len,
                            steme_error *err)
{
    int rc = steme_trust_pack_validate(p, err);
    if (rc != STEME_OK)
        return rc;
    size_t need = pack_size(p);
    codec_w w;
    if ((rc = rec_encode_begin(TP, need, buf, cap, len, &w, err)) != STEME_OK)
        return rc;
    rec_header(&w, STEME_REC_TRUST_PACK, 0);
    cw_bytes(&w, p->id.bytes, STEME_ID16_LEN);
    cw_text16(&w, p->name, p->name_len);
    cw_bytes(&w, p->maintainer.bytes, STEME_AGENT_ID_LEN);
    cw_text16(&w, p->description, p->description_len);
    cw_u64(&w, p->created_at);
    return rec_encode_end(TP, &w, need, err);
}

int steme_trust_pack_decode(const uint8_t *buf, size_t len, steme_trust_pack *out,
                            steme_error *err)
{
    int rc = rec_decode_args(TP, buf, len, out, err);
    if (rc != STEME_OK)
        return rc;
    steme_trust_pack p;
    codec_r r;
    cr_init(&r, TP, buf, len, err);
    cr_header(&r, STEME_REC_TRUST_PACK, 0);
    cr_copy(&r, "pack id", p.id.bytes, STEME_ID16_LEN);
    cr_text16(&r, "name", 1, STEME_PACK_NAME_MAX, &p.name, &p.name_len);
    cr_copy(&r, "maintainer", p.maintainer.bytes, STEME_AGENT_ID_LEN);
    cr_text16(&r, "description", 0, STEME_TEXT_MAX, &p.description, &p.description_len);
    p.created_at = cr_u64(&r, "created_at");
    if ((rc = cr_finish(&r)) != STEME_OK)
        return rc;
    *out = p;
    return STEME_OK;
}
