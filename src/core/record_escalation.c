/*
 * record_escalation.c - canonical encoding of an Escalation (spec 2, 5).
 *
 *   offset  field            encoding
 *   0       record type      u8 = 8
 *   1       version          u8 = 1
 *   2       flags            u8 = 0 (no bit defined)
 *   3       id               16 bytes
 *   19      target kind      u8: 1 assertion, 2 subject+predicate
 *   20      target           kind 1: assertion hash, 32 bytes
 *                            kind 2: subject u16 len (1..1024) + UTF-8,
 *                                    predicate u16 len (1..256) + UTF-8
 *   .       conflict score   f64, finite, in [0, 1], never -0.0
 *   .       reason           u16 len (0..4096) + UTF-8
 *   .       status           u8: 1 open, 2 resolved
 *   .       created_at       u64 (Unix ms)
 *   .       resolved_at      u64 (Unix ms); must be 0 when open
 *   .       resolution note  u16 len (0..4096) + UTF-8; empty when open
 */
#include "core/record_int.h"

#include <string.h>
#include "core/error.h"
#include "steme/keys.h"

static const char REC[] = "escalation";

static size_t esc_size(const steme_escalation *e)
{
    size_t target;
    if (e->target_kind == STEME_ESC_TARGET_ASSERTION) {
        target = STEME_HASH_LEN;
    } else if (e->target_kind == STEME_ESC_TARGET_SUBJECT) {
        size_t s = rec_text16_size(e->subject_len, STEME_SUBJECT_MAX);
        size_t p = rec_text16_size(e->predicate_len, STEME_PREDICATE_MAX);
        if (!s || !p)
            return 0;
        target = s + p;
    } else {
        return 0;
    }
    size_t r = rec_text16_size(e->reason_len, STEME_TEXT_MAX);
    size_t n = rec_text16_size(e->resolution_note_len, STEME_TEXT_MAX);
    if (!r || !n)
        return 0;
    return REC_HEADER_LEN + STEME_ID16_LEN + 1 + target + 8 + r + 1 + 8 + 8 + n;
}

size_t steme_escalation_encoded_size(const steme_escalation *e)
{
    return e ? esc_size(e) : 0;
}

int steme_escalation_validate(const steme_escalation *e, steme_error *err)
{
    if (!e)
        return steme_err(err, STEME_E_INVALID, "escalation: NULL");
    int rc;
    if ((rc = rec_check_enum(err, REC, "target kind", (unsigned)e->target_kind,
                             STEME_ESC_TARGET_ASSERTION, STEME_ESC_TARGET_SUBJECT)))
        return rc;
    if (e->target_kind == STEME_ESC_TARGET_SUBJECT &&
        ((rc = rec_check_subject(err, REC, e->subject, e->subject_len)) ||
         (rc = rec_check_predicate(err, REC, e->predicate, e->predicate_len))))
        return rc;
    if ((rc = rec_check_f64(err, REC, "conflict score", e->conflict_score, 0.0, 1.0)) ||
        (rc = rec_check_text(err, REC, "reason", e->reason, e->reason_len, 0,
                             STEME_TEXT_MAX)) ||
        (rc = rec_check_enum(err, REC, "status", (unsigned)e->status, STEME_ESC_OPEN,
                             STEME_ESC_RESOLVED)) ||
        (rc = rec_check_text(err, REC, "resolution note", e->resolution_note,
                             e->resolution_note_len, 0, STEME_TEXT_MAX)))
        return rc;
    if (e->status == STEME_ESC_OPEN && (e->resolved_at != 0 || e->resolution_note_len != 0))
        return steme_err(err, STEME_E_INVALID,
                         "escalation: an open escalation has resolved_at 0 and no note");
    return STEME_OK;
}

int steme_escalation_encode(const steme_escalation *e, uint8_t *buf, size_t cap, size_t *len,
                            steme_error *err)
{
    int rc = steme_escalation_validate(e, err);
    if (rc != STEME_OK)
        return rc;
    size_t need = esc_size(e);
    codec_w w;
    if ((rc = rec_encode_begin(REC, need, buf, cap, len, &w, err)) != STEME_OK)
        return rc;
    rec_header(&w, STEME_REC_ESCALATION, 0);
    cw_bytes(&w, e->id.bytes, STEME_ID16_LEN);
    cw_u8(&w, (uint8_t)e->target_kind);
    if (e->target_kind == STEME_ESC_TARGET_ASSERTION) {
        cw_bytes(&w, e->target_hash.bytes, STEME_HASH_LEN);
    } else {
        cw_text16(&w, e->subject, e->subject_len);
        cw_text16(&w, e->predicate, e->predicate_len);
    }
    cw_f64(&w, e->conflict_score);
    cw_text16(&w, e->reason, e->reason_len);
    cw_u8(&w, (uint8_t)e->status);
    cw_u64(&w, e->created_at);
    cw_u64(&w, e->resolved_at);
    cw_text16(&w, e->resolution_note, e->resolution_note_len);
    return rec_encode_end(REC, &w, need, err);
}

int steme_escalation_decode(const uint8_t *buf, size_t len, steme_escalation *out,
                            steme_error *err)
{
    int rc = rec_decode_args(REC, buf, len, out, err);
    if (rc != STEME_OK)
        return rc;
    steme_escalation e;
    memset(&e, 0, sizeof e);
    codec_r r;
    cr_init(&r, REC, buf, len, err);
    cr_header(&r, STEME_REC_ESCALATION, 0);
    cr_copy(&r, "id", e.id.bytes, STEME_ID16_LEN);
    e.target_kind = (steme_escalation_target_kind)cr_enum8(
        &r, "target kind", STEME_ESC_TARGET_ASSERTION, STEME_ESC_TARGET_SUBJECT);
    if (e.target_kind == STEME_ESC_TARGET_ASSERTION) {
        cr_copy(&r, "target hash", e.target_hash.bytes, STEME_HASH_LEN);
    } else {
        cr_text16(&r, "subject", 1, STEME_SUBJECT_MAX, &e.subject, &e.subject_len);
        cr_text16(&r, "predicate", 1, STEME_PREDICATE_MAX, &e.predicate, &e.predicate_len);
    }
    e.conflict_score = cr_f64(&r, "conflict score", 0.0, 1.0);
    cr_text16(&r, "reason", 0, STEME_TEXT_MAX, &e.reason, &e.reason_len);
    size_t status_at = r.cr_off;
    e.status = (steme_escalation_status)cr_enum8(&r, "status", STEME_ESC_OPEN,
                                                 STEME_ESC_RESOLVED);
    e.created_at = cr_u64(&r, "created_at");
    size_t resolved_at = r.cr_off;
    e.resolved_at = cr_u64(&r, "resolved_at");
    size_t note_at = r.cr_off;
    cr_text16(&r, "resolution note", 0, STEME_TEXT_MAX, &e.resolution_note,
              &e.resolution_note_len);
    if (!r.cr_rc && e.status == STEME_ESC_OPEN && e.resolved_at != 0)
        cr_fail(&r, resolved_at, "resolved_at", "non-zero on an open escalation (status at %zu)",
                status_at);
    if (!r.cr_rc && e.status == STEME_ESC_OPEN && e.resolution_note_len != 0)
        cr_fail(&r, note_at, "resolution note", "non-empty on an open escalation");
    if ((rc = cr_finish(&r)) != STEME_OK)
        return rc;
    *out = e;
    return STEME_OK;
}
