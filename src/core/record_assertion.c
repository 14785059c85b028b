/*
 * record_assertion.c - canonical encoding of an Assertion (spec 2).
 *
 *   offset  field           encoding
 *   0       record type     u8 = 1
 *   1       version         u8 = 1
 *   2       flags           u8: bit0 epoch, bit1 embedding, bit2 phash,
 *                               bit3 signature; other bits must be 0
 *   3       subject         u16 len (1..1024) + UTF-8 bytes
 *   .       predicate       u16 len (1..256) + UTF-8 bytes
 *   .       object          typed value (record_value.c)
 *   .       confidence      f64, finite, in [0, 1], never -0.0
 *   .       source kind     u8, 1..8
 *   .       source ref      u16 len (0..2048) + UTF-8 bytes
 *   .       agent           32 bytes
 *   .       timestamp       u64 (Unix ms)
 *   .       epoch           u64          iff bit0
 *   .       embedding       32 bytes     iff bit1
 *   .       phash           u64          iff bit2
 *   .       signature       64 bytes     iff bit3 (always last)
 *   end: nothing may follow.
 *
 * Hash = BLAKE3(encoding with bit3 clear and no signature bytes); the
 * signature (Ed25519 by `agent`) covers the same bytes.
 */
#include "core/record_int.h"

#include <string.h>
#include "core/error.h"
#include "steme/keys.h"

#define A_EPOCH     0x01u
#define A_EMBEDDING 0x02u
#define A_PHASH     0x04u
#define A_SIGNATURE 0x08u
#define A_ALL       0x0Fu

static const char REC[] = "assertion";

static const char *const source_names[] = {
    NULL, "regulatory", "peer_reviewed", "clinical", "news", "forum", "agent", "sensor", "other",
};

const char *steme_source_kind_name(steme_source_kind kind)
{
    unsigned k = (unsigned)kind;
    return k >= 1 && k <= STEME_SOURCE_OTHER ? source_names[k] : NULL;
}

static uint8_t assertion_flags(const steme_assertion *a, bool with_sig)
{
    return (uint8_t)((a->has_epoch ? A_EPOCH : 0) | (a->has_embedding ? A_EMBEDDING : 0) |
                     (a->has_phash ? A_PHASH : 0) |
                     (with_sig && a->has_signature ? A_SIGNATURE : 0));
}

/* 0 if a length is past its limit. */
static size_t assertion_size(const steme_assertion *a, bool with_sig)
{
    size_t s = rec_text16_size(a->subject_len, STEME_SUBJECT_MAX);
    size_t p = rec_text16_size(a->predicate_len, STEME_PREDICATE_MAX);
    size_t o = rec_value_size(&a->object);
    size_t r = rec_text16_size(a->source_ref_len, STEME_SOURCE_REF_MAX);
    if (!s || !p || !o || !r)
        return 0;
    return REC_HEADER_LEN + s + p + o + 8 + 1 + r + STEME_AGENT_ID_LEN + 8 +
           (a->has_epoch ? 8 : 0) + (a->has_embedding ? STEME_HASH_LEN : 0) +
           (a->has_phash ? 8 : 0) + (with_sig && a->has_signature ? STEME_SIGNATURE_LEN : 0);
}

static void assertion_write(const steme_assertion *a, codec_w *w, bool with_sig)
{
    rec_header(w, STEME_REC_ASSERTION, assertion_flags(a, with_sig));
    cw_text16(w, a->subject, a->subject_len);
    cw_text16(w, a->predicate, a->predicate_len);
    rec_value_write(w, &a->object);
    cw_f64(w, a->confidence);
    cw_u8(w, (uint8_t)a->source_kind);
    cw_text16(w, a->source_ref, a->source_ref_len);
    cw_bytes(w, a->agent.bytes, STEME_AGENT_ID_LEN);
    cw_u64(w, a->timestamp);
    if (a->has_epoch)
        cw_u64(w, a->epoch);
    if (a->has_embedding)
        cw_bytes(w, a->embedding.bytes, STEME_HASH_LEN);
    if (a->has_phash)
        cw_u64(w, a->phash);
    if (with_sig && a->has_signature)
        cw_bytes(w, a->signature.bytes, STEME_SIGNATURE_LEN);
}

static void assertion_write_unsigned(const void *a, codec_w *w)
{
    assertion_write(a, w, false);
}

size_t steme_assertion_encoded_size(const steme_assertion *a)
{
    return a ? assertion_size(a, true) : 0;
}

int steme_assertion_validate(const steme_assertion *a, steme_error *err)
{
    if (!a)
        return steme_err(err, STEME_E_INVALID, "assertion: NULL");
    int rc;
    if ((rc = rec_check_subject(err, REC, a->subject, a->subject_len)) ||
        (rc = rec_check_predicate(err, REC, a->predicate, a->predicate_len)) ||
        (rc = rec_value_check(err, REC, "object", &a->object)) ||
        (rc = rec_check_f64(err, REC, "confidence", a->confidence, 0.0, 1.0)) ||
        (rc = rec_check_enum(err, REC, "source kind", (unsigned)a->source_kind,
                             STEME_SOURCE_REGULATORY, STEME_SOURCE_OTHER)) ||
        (rc = rec_check_text(err, REC, "source ref", a->source_ref, a->source_ref_len, 0,
                             STEME_SOURCE_REF_MAX)))
        return rc;
    return STEME_OK;
}

int steme_assertion_encode(const steme_assertion *a, uint8_t *buf, size_t cap, size_t *len,
                           steme_error *err)
{
    int rc = steme_assertion_validate(a, err);
    if (rc != STEME_OK)
        return rc;
    size_t need = assertion_size(a, true);
    codec_w w;
    if ((rc = rec_encode_begin(REC, need, buf, cap, len, &w, err)) != STEME_OK)
        return rc;
    assertion_write(a, &w, true);
    return rec_encode_end(REC, &w, need, err);
}

int steme_assertion_decode(const uint8_t *buf, size_t len, steme_assertion *out,
                           steme_error *err)
{
    int rc = rec_decode_args(REC, buf, len, out, err);
    if (rc != STEME_OK)
        return rc;
    steme_assertion a;
    memset(&a, 0, sizeof a);
    codec_r r;
    cr_init(&r, REC, buf, len, err);
    uint8_t flags = cr_header(&r, STEME_REC_ASSERTION, A_ALL);
    cr_text16(&r, "subject", 1, STEME_SUBJECT_MAX, &a.subject, &a.subject_len);
    cr_text16(&r, "predicate", 1, STEME_PREDICATE_MAX, &a.predicate, &a.predicate_len);
    rec_value_read(&r, "object", &a.object);
    a.confidence = cr_f64(&r, "confidence", 0.0, 1.0);
    a.source_kind = (steme_source_kind)cr_enum8(&r, "source kind", STEME_SOURCE_REGULATORY,
                                                STEME_SOURCE_OTHER);
    cr_text16(&r, "source ref", 0, STEME_SOURCE_REF_MAX, &a.source_ref, &a.source_ref_len);
    cr_copy(&r, "agent", a.agent.bytes, STEME_AGENT_ID_LEN);
    a.timestamp = cr_u64(&r, "timestamp");
    if ((a.has_epoch = flags & A_EPOCH))
        a.epoch = cr_u64(&r, "epoch");
    if ((a.has_embedding = flags & A_EMBEDDING))
        cr_copy(&r, "embedding", a.embedding.bytes, STEME_HASH_LEN);
    if ((a.has_phash = flags & A_PHASH))
        a.phash = cr_u64(&r, "phash");
    if ((a.has_signature = flags & A_SIGNATURE))
        cr_copy(&r, "signature", a.signature.bytes, STEME_SIGNATURE_LEN);
    if ((rc = cr_finish(&r)) != STEME_OK)
        return rc;
    *out = a;
    return STEME_OK;
}

int steme_assertion_hash(const steme_assertion *a, steme_hash *out, steme_error *err)
{
    if (!out)
        return steme_err(err, STEME_E_INVALID, "assertion: hash output is NULL");
    int rc = steme_assertion_validate(a, err);
    if (rc != STEME_OK)
        return rc;
    return rec_hash_unsigned(REC, a, assertion_size(a, false), assertion_write_unsigned, out,
                             err);
}

int steme_assertion_sign(steme_assertion *a, const steme_secret_key *sk, steme_error *err)
{
    int rc = steme_assertion_validate(a, err);
    if (rc != STEME_OK)
        return rc;
    if ((rc = rec_check_signer(REC, "agent", &a->agent, sk, err)) != STEME_OK)
        return rc;
    steme_signature sig;
    rec_sig_ctx ctx = {.sk = sk, .sig_out = &sig};
    rc = rec_with_unsigned(REC, a, assertion_size(a, false), assertion_write_unsigned,
                           rec_use_sign, &ctx, err);
    if (rc != STEME_OK)
        return rc;
    a->signature = sig;
    a->has_signature = true;
    return STEME_OK;
}

int steme_assertion_verify(const steme_assertion *a, steme_error *err)
{
    int rc = steme_assertion_validate(a, err);
    if (rc != STEME_OK)
        return rc;
    if (!a->has_signature)
        return steme_err(err, STEME_E_INVALID, "assertion: not signed");
    rec_sig_ctx ctx = {.pk = &a->agent, .sig_in = &a->signature};
    return rec_with_unsigned(REC, a, assertion_size(a, false), assertion_write_unsigned,
                             rec_use_verify, &ctx, err);
}
