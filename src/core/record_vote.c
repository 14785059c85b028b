/*
 * record_vote.c - canonical encoding of a Vote (spec 2, Ballot Box).
 *
 *   offset  field            encoding
 *   0       record type      u8 = 2
 *   1       version          u8 = 1
 *   2       flags            u8: bit0 signature; other bits must be 0
 *   3       assertion hash   32 bytes
 *   35      voter            32 bytes
 *   67      weight           f64, finite, in [-1, 1], never -0.0
 *   75      timestamp        u64 (Unix ms)
 *   83      signature        64 bytes iff bit0
 *   end: 83 or 147 bytes exactly.
 *
 * Hash = BLAKE3 of the 83-byte unsigned encoding (flags bit0 clear); the
 * signature (Ed25519 by `voter`) covers the same bytes.
 */
#include "core/record_int.h"

#include <string.h>
#include "core/error.h"

#define V_SIGNATURE 0x01u
#define V_UNSIGNED_LEN (REC_HEADER_LEN + STEME_HASH_LEN + STEME_AGENT_ID_LEN + 8u + 8u)

static const char REC[] = "vote";

static size_t vote_size(const steme_vote *v, bool with_sig)
{
    return V_UNSIGNED_LEN + (with_sig && v->has_signature ? STEME_SIGNATURE_LEN : 0);
}

static void vote_write(const steme_vote *v, codec_w *w, bool with_sig)
{
    bool sig = with_sig && v->has_signature;
    rec_header(w, STEME_REC_VOTE, sig ? V_SIGNATURE : 0);
    cw_bytes(w, v->assertion.bytes, STEME_HASH_LEN);
    cw_bytes(w, v->voter.bytes, STEME_AGENT_ID_LEN);
    cw_f64(w, v->weight);
    cw_u64(w, v->timestamp);
    if (sig)
        cw_bytes(w, v->signature.bytes, STEME_SIGNATURE_LEN);
}

static void vote_write_unsigned(const void *v, codec_w *w)
{
    vote_write(v, w, false);
}

size_t steme_vote_encoded_size(const steme_vote *v)
{
    return v ? vote_size(v, true) : 0;
}

int steme_vote_validate(const steme_vote *v, steme_error *err)
{
    if (!v)
        return steme_err(err, STEME_E_INVALID, "vote: NULL");
    return rec_check_f64(err, REC, "weight", v->weight, -1.0, 1.0);
}

int steme_vote_encode(const steme_vote *v, uint8_t *buf, size_t cap, size_t *len,
                      steme_error *err)
{
    int rc = steme_vote_validate(v, err);
    if (rc != STEME_OK)
        return rc;
    size_t need = vote_size(v, true);
    codec_w w;
    if ((rc = rec_encode_begin(REC, need, buf, cap, len, &w, err)) != STEME_OK)
        return rc;
    vote_write(v, &w, true);
    return rec_encode_end(REC, &w, need, err);
}

int steme_vote_decode(const uint8_t *buf, size_t len, steme_vote *out, steme_error *err)
{
    int rc = rec_decode_args(REC, buf, len, out, err);
    if (rc != STEME_OK)
        return rc;
    steme_vote v;
    memset(&v, 0, sizeof v);
    codec_r r;
    cr_init(&r, REC, buf, len, err);
    uint8_t flags = cr_header(&r, STEME_REC_VOTE, V_SIGNATURE);
    cr_copy(&r, "assertion hash", v.assertion.bytes, STEME_HASH_LEN);
    cr_copy(&r, "voter", v.voter.bytes, STEME_AGENT_ID_LEN);
    v.weight = cr_f64(&r, "weight", -1.0, 1.0);
    v.timestamp = cr_u64(&r, "timestamp");
    if ((v.has_signature = flags & V_SIGNATURE))
        cr_copy(&r, "signature", v.signature.bytes, STEME_SIGNATURE_LEN);
    if ((rc = cr_finish(&r)) != STEME_OK)
        return rc;
    *out = v;
    return STEME_OK;
}

int steme_vote_hash(const steme_vote *v, steme_hash *out, steme_error *err)
{
    if (!out)
        return steme_err(err, STEME_E_INVALID, "vote: hash output is NULL");
    int rc = steme_vote_validate(v, err);
    if (rc != STEME_OK)
        return rc;
    return rec_hash_unsigned(REC, v, V_UNSIGNED_LEN, vote_write_unsigned, out, err);
}

int steme_vote_sign(steme_vote *v, const steme_secret_key *sk, steme_error *err)
{
    int rc = steme_vote_validate(v, err);
    if (rc != STEME_OK)
        return rc;
    if ((rc = rec_check_signer(REC, "voter", &v->voter, sk, err)) != STEME_OK)
        return rc;
    steme_signature sig;
    rec_sig_ctx ctx = {.sk = sk, .sig_out = &sig};
    rc = rec_with_unsigned(REC, v, V_UNSIGNED_LEN, vote_write_unsigned, rec_use_sign, &ctx, err);
    if (rc != STEME_OK)
        return rc;
    v->signature = sig;
    v->has_signature = true;
    return STEME_OK;
}

int steme_vote_verify(const steme_vote *v, steme_error *err)
{
    int rc = steme_vote_validate(v, err);
    if (rc != STEME_OK)
        return rc;
    if (!v->has_signature)
        return steme_err(err, STEME_E_INVALID, "vote: not signed");
    rec_sig_ctx ctx = {.pk = &v->voter, .sig_in = &v->signature};
    return rec_with_unsigned(REC, v, V_UNSIGNED_LEN, vote_write_unsigned, rec_use_verify, &ctx,
                             err);
}
