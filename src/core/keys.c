/*
 * keys.c - validation, encoding, prefix encoding and decoding of keys
 * (steme/keys.h, spec section 3). The families are data (keys_family.c);
 * this file walks a family's field list.
 *
 * Key layout:
 *
 *   subject-scoped:  {subject 1..1024 B} 00 TAG ':' field field ...
 *   global:                              00 TAG ':' field field ...
 *
 *   field        bytes        encoding
 *   predicate    1..256 + 1   UTF-8, then a 00 terminator (SP: more follows)
 *   predicate    1..256       UTF-8 to the end of the key (GS)
 *   name         1..256       raw bytes to the end of the key (VX, CUR)
 *   ts / hour    8            u64 big-endian: byte order is time order
 *   hash, agent  32           raw
 *   id           16           raw
 *   status       1            raw
 *
 * Why this is order-safe: neither a subject nor a predicate may contain
 * 0x00, so the first 0x00 ends each, and "a" 00 ... sorts before "ab" ...
 * (0x00 is the smallest byte): the keys of one subject, or of one subject
 * and predicate, form one contiguous range. Global keys begin with 0x00 and
 * a subject never does (it is non-empty and NUL-free), so they sort first.
 *
 * Validity (decode): a key is valid iff encoding its decoded fields gives
 * back exactly its bytes; every other input is STEME_E_INVALID.
 */
#include "core/bytes.h"
#include "steme/keys.h"
#include "core/error.h"
#include "core/keys_int.h"
#include "core/utf8.h"

#include <string.h>

/* ---- validation -------------------------------------------------------- */

static int keys_check_text(const char *what, const char *s, size_t len, size_t max,
                           steme_error *err)
{
    if (!s)
        return steme_err(err, STEME_E_INVALID, "%s is NULL", what);
    if (len == 0)
        return steme_err(err, STEME_E_INVALID, "%s is empty", what);
    if (len > max)
        return steme_err(err, STEME_E_TOO_BIG, "%s is %zu bytes; the limit is %zu", what, len,
                         max);
    size_t bad = steme_utf8_check(s, len);
    if (bad)
        return steme_err(err, STEME_E_BAD_UTF8, "%s has %s at byte %zu", what,
                         s[bad - 1] == 0 ? "a NUL byte" : "invalid UTF-8", bad - 1);
    return STEME_OK;
}

int steme_subject_validate(const char *s, size_t len, steme_error *err)
{
    return keys_check_text("subject", s, len, STEME_SUBJECT_MAX, err);
}

int steme_predicate_validate(const char *p, size_t len, steme_error *err)
{
    return keys_check_text("predicate", p, len, STEME_PREDICATE_MAX, err);
}

static int keys_check_name(const uint8_t *name, size_t len, steme_error *err)
{
    if (!name)
        return steme_err(err, STEME_E_INVALID, "key name is NULL");
    if (len == 0)
        return steme_err(err, STEME_E_INVALID, "key name is empty");
    if (len > STEME_KEY_NAME_MAX)
        return steme_err(err, STEME_E_TOO_BIG, "key name is %zu bytes; the limit is %u", len,
                         STEME_KEY_NAME_MAX);
    return STEME_OK;
}

/* ---- encode ------------------------------------------------------------ */

static size_t keys_fixed_len(keys_field f)
{
    switch (f) {
    case KF_TS:     return 8;
    case KF_HASH:   return STEME_HASH_LEN;
    case KF_AGENT:  return STEME_AGENT_ID_LEN;
    case KF_ID16:   return STEME_ID16_LEN;
    case KF_STATUS: return 1;
    default:        return 0; /* variable-length fields */
    }
}



/* Length of field f of k (validating its text), or 0 with *rc set. */
static size_t keys_field_len(const steme_key *k, keys_field f, int *rc, steme_error *err)
{
    switch (f) {
    case KF_PRED_NUL:
    case KF_PRED_REST:
        *rc = steme_predicate_validate(k->predicate, k->predicate_len, err);
        return *rc ? 0 : k->predicate_len + (f == KF_PRED_NUL);
    case KF_NAME_REST:
        *rc = keys_check_name(k->name, k->name_len, err);
        return *rc ? 0 : k->name_len;
    default:
        *rc = STEME_OK;
        return keys_fixed_len(f);
    }
}

static uint8_t *keys_field_put(const steme_key *k, keys_field f, uint8_t *p)
{
    switch (f) {
    case KF_PRED_NUL:
        memcpy(p, k->predicate, k->predicate_len);
        p[k->predicate_len] = 0;
        return p + k->predicate_len + 1;
    case KF_PRED_REST:
        memcpy(p, k->predicate, k->predicate_len);
        return p + k->predicate_len;
    case KF_NAME_REST:
        memcpy(p, k->name, k->name_len);
        return p + k->name_len;
    case KF_TS:
        bytes_put_be64(p, k->ts);
        return p + 8;
    case KF_HASH:
        memcpy(p, k->hash.bytes, STEME_HASH_LEN);
        return p + STEME_HASH_LEN;
    case KF_AGENT:
        memcpy(p, k->agent.bytes, STEME_AGENT_ID_LEN);
        return p + STEME_AGENT_ID_LEN;
    case KF_ID16:
        memcpy(p, k->id.bytes, STEME_ID16_LEN);
        return p + STEME_ID16_LEN;
    case KF_STATUS:
        *p = k->status;
        return p + 1;
    }
    return p;
}

/*
 * Shared by encode (depth = all fields) and encode_prefix. `d` is NULL only
 * for the whole-subject prefix "{s}\0" (family UNKNOWN, depth 0).
 */
static int keys_build(const steme_key *k, const keys_family_desc *d, unsigned depth,
                      uint8_t *buf, size_t cap, size_t *len, steme_error *err)
{
    int rc;
    size_t total = 0;
    int scoped = d ? d->kd_scoped : 1;
    if (scoped) {
        if ((rc = steme_subject_validate(k->subject, k->subject_len, err)) != STEME_OK)
            return rc;
        total += k->subject_len;
    }
    total += 1; /* the 0x00 ending the subject, or leading a global key */
    if (d) {
        total += d->kd_tag_len + 1u;
        for (unsigned i = 0; i < depth; i++) {
            total += keys_field_len(k, d->kd_fields[i], &rc, err);
            if (rc != STEME_OK)
                return rc;
        }
    }
    *len = total;
    if (!buf || cap < total)
        return steme_err(err, STEME_E_BUFFER_SMALL, "key needs %zu bytes, buffer has %zu",
                         total, buf ? cap : 0);

    uint8_t *p = buf;
    if (scoped) {
        memcpy(p, k->subject, k->subject_len);
        p += k->subject_len;
    }
    *p++ = 0;
    if (d) {
        memcpy(p, d->kd_tag, d->kd_tag_len);
        p += d->kd_tag_len;
        *p++ = ':';
        for (unsigned i = 0; i < depth; i++)
            p = keys_field_put(k, d->kd_fields[i], p);
    }
    return STEME_OK;
}

int steme_key_encode(const steme_key *k, uint8_t *buf, size_t cap, size_t *len,
                     steme_error *err)
{
    if (!k || !len)
        return steme_err(err, STEME_E_INVALID, "key encode: NULL %s", k ? "len" : "key");
    const keys_family_desc *d = keys_family_desc_of(k->family);
    if (!d)
        return steme_err(err, STEME_E_INVALID, "key encode: unknown family %d", (int)k->family);
    return keys_build(k, d, d->kd_nfields, buf, cap, len, err);
}

int steme_key_encode_prefix(const steme_key *k, unsigned depth, uint8_t *buf, size_t cap,
                            size_t *len, steme_error *err)
{
    if (!k || !len)
        return steme_err(err, STEME_E_INVALID, "key prefix: NULL %s", k ? "len" : "key");
    if (k->family == STEME_FAM_UNKNOWN) {
        if (depth != 0)
            return steme_err(err, STEME_E_INVALID,
                             "key prefix: a whole-subject prefix has no fields (depth %u)",
                             depth);
        return keys_build(k, NULL, 0, buf, cap, len, err);
    }
    const keys_family_desc *d = keys_family_desc_of(k->family);
    if (!d)
        return steme_err(err, STEME_E_INVALID, "key prefix: unknown family %d", (int)k->family);
    if (depth > d->kd_nfields)
        return steme_err(err, STEME_E_INVALID, "key prefix: family %s has %u fields, depth %u",
                         d->kd_tag, (unsigned)d->kd_nfields, depth);
    return keys_build(k, d, depth, buf, cap, len, err);
}

/* ---- decode ------------------------------------------------------------ */

/* Re-issue a validation failure as the decoder's STEME_E_INVALID. */
static int keys_bad_text(steme_error *err, size_t off, const steme_error *why)
{
    return steme_err(err, STEME_E_INVALID, "key decode: at offset %zu: %s", off, why->message);
}

int steme_key_decode(const uint8_t *key, size_t klen, steme_key *out, steme_error *err)
{
    if (!key || !out)
        return steme_err(err, STEME_E_INVALID, "key decode: NULL %s", key ? "out" : "key");
    memset(out, 0, sizeof *out);
    if (klen == 0)
        return steme_err(err, STEME_E_INVALID, "key decode: empty key");

    steme_error why;
    int rc;
    size_t pos = 0;
    int scoped = key[0] != 0;
    if (scoped) {
        size_t lim = klen < STEME_SUBJECT_MAX + 1 ? klen : STEME_SUBJECT_MAX + 1;
        const uint8_t *nul = memchr(key, 0, lim);
        if (!nul)
            return steme_err(err, STEME_E_INVALID,
                             "key decode: no 0x00 ending the subject within %zu bytes", lim);
        size_t slen = (size_t)(nul - key);
        if ((rc = steme_subject_validate((const char *)key, slen, &why)) != STEME_OK)
            return keys_bad_text(err, 0, &why);
        out->subject = (const char *)key;
        out->subject_len = slen;
        pos = slen + 1;
    } else {
        pos = 1;
    }

    steme_key_family fam = keys_tag_parse(key + pos, klen - pos, scoped);
    if (fam == STEME_FAM_UNKNOWN) {
        memset(out, 0, sizeof *out);
        return steme_err(err, STEME_E_INVALID, "key decode: no known %s family tag at offset %zu",
                         scoped ? "subject" : "global", pos);
    }
    const keys_family_desc *d = keys_family_desc_of(fam);
    pos += d->kd_tag_len + 1u;

    for (unsigned i = 0; i < d->kd_nfields; i++) {
        keys_field f = d->kd_fields[i];
        size_t left = klen - pos;
        const uint8_t *p = key + pos;
        if (f == KF_PRED_NUL || f == KF_PRED_REST) {
            size_t plen = left;
            if (f == KF_PRED_NUL) {
                size_t lim = left < STEME_PREDICATE_MAX + 1 ? left : STEME_PREDICATE_MAX + 1;
                const uint8_t *nul = memchr(p, 0, lim);
                if (!nul) {
                    rc = steme_err(err, STEME_E_INVALID,
                                   "key decode: no 0x00 ending the predicate at offset %zu",
                                   pos);
                    goto fail;
                }
                plen = (size_t)(nul - p);
            }
            if ((rc = steme_predicate_validate((const char *)p, plen, &why)) != STEME_OK) {
                rc = keys_bad_text(err, pos, &why);
                goto fail;
            }
            out->predicate = (const char *)p;
            out->predicate_len = plen;
            pos += plen + (f == KF_PRED_NUL);
            continue;
        }
        if (f == KF_NAME_REST) {
            if ((rc = keys_check_name(p, left, &why)) != STEME_OK) {
                rc = keys_bad_text(err, pos, &why);
                goto fail;
            }
            out->name = p;
            out->name_len = left;
            pos = klen;
            continue;
        }
        size_t need = keys_fixed_len(f);
        if (left < need) {
            rc = steme_err(err, STEME_E_INVALID,
                           "key decode: %s key truncated: field %u needs %zu bytes at offset "
                           "%zu, %zu left", d->kd_tag, i + 1, need, pos, left);
            goto fail;
        }
        switch (f) {
        case KF_TS:     out->ts = bytes_get_be64(p); break;
        case KF_HASH:   memcpy(out->hash.bytes, p, need); break;
        case KF_AGENT:  memcpy(out->agent.bytes, p, need); break;
        case KF_ID16:   memcpy(out->id.bytes, p, need); break;
        case KF_STATUS: out->status = *p; break;
        default:        break;
        }
        pos += need;
    }
    if (pos != klen) {
        rc = steme_err(err, STEME_E_INVALID, "key decode: %zu trailing bytes after a %s key",
                       klen - pos, d->kd_tag);
        goto fail;
    }
    out->family = fam;
    return STEME_OK;

fail:
    memset(out, 0, sizeof *out);
    return rc;
}
