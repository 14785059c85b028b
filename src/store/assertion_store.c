/*
 * assertion_store.c - assertions and their indexes (spec 5, "Assertions +
 * indexes").
 *
 * One assertion is four LMDB keys, written in one atomic batch:
 *
 *     {s}\0H:{hash}                       -> canonical encoding (signed)
 *     {s}\0S:{ts}{hash}                   -> empty   (list by subject)
 *     {s}\0SP:{predicate}\0{ts}{hash}     -> empty   (list by subject+predicate)
 *     \0HS:{hash}                         -> subject (find an assertion by hash)
 *
 * Index keys end in big-endian time then hash, so a reverse scan lists the
 * newest first with ties broken by hash, and (ts, hash) is the cursor.
 */
#include <stdlib.h>
#include <string.h>

#include "steme/keys.h"
#include "store/db_int.h"

/* Build the key of family fam for assertion a (hash h) into buf. */
static int akey(steme_key_family fam, const steme_assertion *a, const steme_hash *h,
                uint8_t *buf, size_t *len)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = fam;
    k.subject = a->subject;
    k.subject_len = a->subject_len;
    k.predicate = a->predicate;
    k.predicate_len = a->predicate_len;
    k.hash = *h;
    k.ts = a->timestamp;
    return steme_key_encode(&k, buf, STEME_KEY_MAX, len, NULL);
}

int db_apply_assertion(steme_db *db, const uint8_t *enc, size_t len,
                       const db_conds *conds)
{
    (void)conds; /* a blind, idempotent write: no precondition */
    steme_assertion a;
    steme_error e;
    int rc = steme_assertion_decode(enc, len, &a, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "assertion record: %s", e.message);
    steme_hash h;
    if ((rc = steme_assertion_hash(&a, &h, &e)) != STEME_OK)
        return db_fail(db, rc, "assertion record: %s", e.message);

    static const steme_key_family fams[3] = {STEME_FAM_ASSERTION, STEME_FAM_SUBJECT_INDEX,
                                             STEME_FAM_SUBJECT_PRED_INDEX};
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    steme_kv_batch *b = steme_kv_batch_new();
    if (!b)
        return db_fail(db, STEME_E_NOMEM, "out of memory");
    for (int i = 0; i < 3 && rc == STEME_OK; i++) {
        rc = akey(fams[i], &a, &h, key, &klen);
        if (rc == STEME_OK)
            rc = steme_kv_batch_put(b, key, klen, i == 0 ? enc : NULL, i == 0 ? len : 0);
    }
    if (rc == STEME_OK && (rc = akey(STEME_FAM_HASH_SUBJECT, &a, &h, key, &klen)) == STEME_OK)
        rc = steme_kv_batch_put(b, key, klen, a.subject, a.subject_len);
    if (rc == STEME_OK) {
        rc = steme_kv_write(db->db_kv, b, DB_APPLY_FLAGS);
        if (rc != STEME_OK)
            db_fail(db, rc, "storing assertion: %s", steme_kv_errmsg(db->db_kv));
    } else {
        db_fail(db, rc, "building assertion keys");
    }
    steme_kv_batch_free(b);
    return rc;
}

/* 1 if the assertion with hash h and subject a->subject is stored. */
static int exists(steme_db *db, const steme_assertion *a, const steme_hash *h, int *found)
{
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    int rc = akey(STEME_FAM_ASSERTION, a, h, key, &klen);
    if (rc != STEME_OK)
        return rc;
    steme_buf v = STEME_BUF_INIT;
    rc = steme_kv_get(db->db_kv, key, klen, &v);
    steme_buf_free(&v);
    *found = rc == STEME_OK;
    return rc == STEME_E_NOTFOUND ? STEME_OK : rc;
}

int steme_db_put_assertion(steme_db *db, const steme_assertion *a, steme_hash *hash,
                           int *created)
{
    if (!db)
        return STEME_E_INVALID;
    if (!a)
        return db_fail(db, STEME_E_INVALID, "put assertion: NULL assertion");
    steme_error e;
    steme_hash h;
    int rc = steme_assertion_hash(a, &h, &e); /* validates every field */
    if (rc != STEME_OK)
        return db_fail(db, rc, "put assertion: %s", e.message);
    if (a->has_signature && (rc = steme_assertion_verify(a, &e)) != STEME_OK)
        return db_fail(db, rc, "put assertion: %s", e.message);
    if (hash)
        *hash = h;
    int found = 0;
    if ((rc = exists(db, a, &h, &found)) != STEME_OK)
        return db_fail(db, rc, "put assertion: %s", steme_kv_errmsg(db->db_kv));
    if (created)
        *created = !found;
    if (found)
        return STEME_OK; /* idempotent: content-addressed, nothing to change */

    size_t need = steme_assertion_encoded_size(a);
    uint8_t stackbuf[4096];
    uint8_t *enc = need <= sizeof stackbuf ? stackbuf : malloc(need);
    if (!enc)
        return db_fail(db, STEME_E_NOMEM, "put assertion: out of memory");
    size_t len;
    rc = steme_assertion_encode(a, enc, need, &len, &e);
    if (rc != STEME_OK)
        db_fail(db, rc, "put assertion: %s", e.message);
    else
        rc = db_log_and_apply(db, DB_LOG_ASSERTION, enc, len);
    if (enc != stackbuf)
        free(enc);
    return rc;
}

int steme_db_get_assertion(steme_db *db, const steme_hash *h, steme_buf *buf,
                           steme_assertion *out)
{
    if (!db)
        return STEME_E_INVALID;
    if (!h || !buf || !out)
        return db_fail(db, STEME_E_INVALID, "get assertion: NULL argument");
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    int rc = db_locator_key(h, key, sizeof key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "get assertion: key");
    /* hash -> subject, then the assertion under its subject */
    if ((rc = steme_kv_get(db->db_kv, key, klen, buf)) != STEME_OK)
        return rc == STEME_E_NOTFOUND
                   ? db_fail(db, rc, "no assertion with that hash")
                   : db_fail(db, rc, "get assertion: %s", steme_kv_errmsg(db->db_kv));
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_ASSERTION;
    k.hash = *h;
    k.subject = (const char *)buf->data;
    k.subject_len = buf->len;
    steme_error e;
    rc = steme_key_encode(&k, key, sizeof key, &klen, &e);
    if (rc != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "hash locator holds a bad subject: %s", e.message);
    if ((rc = steme_kv_get(db->db_kv, key, klen, buf)) != STEME_OK)
        return rc == STEME_E_NOTFOUND
                   ? db_fail(db, STEME_E_CORRUPT, "hash locator points to a missing assertion")
                   : db_fail(db, rc, "get assertion: %s", steme_kv_errmsg(db->db_kv));
    if ((rc = steme_assertion_decode(buf->data, buf->len, out, &e)) != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "stored assertion: %s", e.message);
    steme_hash check;
    if ((rc = steme_assertion_hash(out, &check, &e)) != STEME_OK ||
        memcmp(check.bytes, h->bytes, STEME_HASH_LEN) != 0)
        return db_fail(db, STEME_E_CORRUPT, "stored assertion does not hash to its key");
    return STEME_OK;
}

int db_locator_key(const steme_hash *h, uint8_t *key, size_t cap, size_t *klen)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_HASH_SUBJECT;
    if (!h)
        return steme_key_encode_prefix(&k, 0, key, cap, klen, NULL);
    k.hash = *h;
    return steme_key_encode(&k, key, cap, klen, NULL);
}
