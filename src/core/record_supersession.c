/*
 * record_supersession.c - canonical encoding of a Supersession (spec 2, 5):
 * old_hash is corrected by new_hash.
 *
 *   offset  field        encoding
 *   0       record type  u8 = 9
 *   1       version      u8 = 1
 *   2       flags        u8 = 0 (no bit defined)
 *   3       old hash     32 bytes
 *   35      new hash     32 bytes, != old hash (a self-link is refused)
 *   67      reason       u16 len (0..4096) + UTF-8
 *   .       agent        32 bytes
 *   .       timestamp    u64 (Unix ms)
 */
#include "core/record_int.h"

#include <string.h>
#include "core/error.h"

static const char REC[] = "supersession";

static size_t sup_size(const steme_supersession *s)
{
    size_t r = rec_text16_size(s->reason_len, STEME_TEXT_MAX);
    return r ? REC_HEADER_LEN + 2 * STEME_HASH_LEN + r + STEME_AGENT_ID_LEN + 8 : 0;
}

size_t steme_supersession_encoded_size(const steme_supersession *s)
{
    return s ? sup_size(s) : 0;
}

int steme_supersession_validate(const steme_supersession *s, steme_error *err)
{
    if (!s)
        return steme_err(err, STEME_E_INVALID, "supersession: NULL");
    if (memcmp(s->old_hash.bytes, s->new_hash.bytes, STEME_HASH_LEN) == 0)
        return steme_err(err, STEME_E_INVALID, "supersession: old and new hash are equal");
    return rec_check_text(err, REC, "reason", s->reason, s->reason_len, 0, STEME_TEXT_MAX);
}

int steme_supersession_encode(const steme_supersession *s, uint8_t *buf, size_t cap,
                              size_t *len, steme_error *err)
{
    int rc = steme_supersession_validate(s, err);
    if (rc != STEME_OK)
        return rc;
    size_t need = sup_size(s);
    codec_w w;
    if ((rc = rec_encode_begin(REC, need, buf, cap, len, &w, err)) != STEME_OK)
        return rc;
    rec_header(&w, STEME_REC_SUPERSESSION, 0);
    cw_bytes(&w, s->old_hash.bytes, STEME_HASH_LEN);
    cw_bytes(&w, s->new_hash.bytes, STEME_HASH_LEN);
    cw_text16(&w, s->reason, s->reason_len);
    cw_bytes(&w, s->agent.bytes, STEME_AGENT_ID_LEN);
    cw_u64(&w, s->timestamp);
    return rec_encode_end(REC, &w, need, err);
}

int steme_supersession_decode(const uint8_t *buf, size_t len, steme_supersession *out,
                              steme_error *err)
{
    int rc = rec_decode_args(REC, buf, len, out, err);
    if (rc != STEME_OK)
        return rc;
    steme_supersession s;
    codec_r r;
    cr_init(&r, REC, buf, len, err);
    cr_header(&r, STEME_REC_SUPERSESSION, 0);
    cr_copy(&r, "old hash", s.old_hash.bytes, STEME_HASH_LEN);
    size_t new_at = r.cr_off;
    cr_copy(&r, "new hash", s.new_hash.bytes, STEME_HASH_LEN);
    if (!r.cr_rc && memcmp(s.old_hash.bytes, s.new_hash.bytes, STEME_HASH_LEN) == 0)
        cr_fail(&r, new_at, "new hash", "equals the old hash (self-link)");
    cr_text16(&r, "reason", 0, STEME_TEXT_MAX, &s.reason, &s.reason_len);
    cr_copy(&r, "agent", s.agent.bytes, STEME_AGENT_ID_LEN);
    s.timestamp = cr_u64(&r, "timestamp");
    if ((rc = cr_finish(&r)) != STEME_OK)
        return rc;
    *out = s;
    return STEME_OK;
}
