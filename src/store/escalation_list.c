/*
 * escalation_list.c - reading escalations: by id (through the by-id
 * locator \0ES:{0x80}{0}{id}) and by status, newest first, in pages.
 *
 * A listing collects a page of encodings (copied, store_page.h) with one
 * reverse scan of \0ES:{status}, then hands them to the caller outside the
 * scan, so the caller's callback may call back into the db.
 */
#include <string.h>

#include "steme/escalations.h"
#include "steme/keys.h"
#include "store/escalation_int.h"
#include "store/store_page.h"

#define ESC_BY_ID 0x80u
#define BYID_LEN 9

int steme_escalation_get(steme_escalations *s, const steme_id16 *id, steme_buf *buf,
                         steme_escalation *out)
{
    steme_db *db = edb(s);
    if (!db)
        return STEME_E_INVALID;
    if (!id || !buf || !out)
        return db_fail(db, STEME_E_INVALID, "get escalation: NULL argument");
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    int rc = es_key(ESC_BY_ID, 0, id, key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "get escalation: key");
    if ((rc = steme_kv_get(db->db_kv, key, klen, buf)) != STEME_OK)
        return rc == STEME_E_NOTFOUND ? db_fail(db, rc, "no escalation with that id")
                                      : db_fail(db, rc, "get escalation: %s",
                                                steme_kv_errmsg(db->db_kv));
    if (buf->len != BYID_LEN ||
        (buf->data[0] != STEME_ESC_OPEN && buf->data[0] != STEME_ESC_RESOLVED))
        return db_fail(db, STEME_E_CORRUPT, "escalation by-id entry is malformed");
    uint8_t status = buf->data[0];
    uint64_t created = 0;
    for (int i = 8; i >= 1; i--)
        created = created << 8 | buf->data[i];
    if ((rc = es_key(status, created, id, key, &klen)) != STEME_OK)
        return db_fail(db, rc, "get escalation: key");
    if ((rc = steme_kv_get(db->db_kv, key, klen, buf)) != STEME_OK)
        return rc == STEME_E_NOTFOUND
                   ? db_fail(db, STEME_E_CORRUPT, "escalation by-id entry names a missing record")
                   : db_fail(db, rc, "get escalation: %s", steme_kv_errmsg(db->db_kv));
    steme_error e;
    if ((rc = steme_escalation_decode(buf->data, buf->len, out, &e)) != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "stored escalation: %s", e.message);
    if (memcmp(out->id.bytes, id->bytes, STEME_ID16_LEN) != 0 || out->created_at != created ||
        (uint8_t)out->status != status)
        return db_fail(db, STEME_E_CORRUPT, "stored escalation does not match its key");
    return STEME_OK;
}

/* Hand a page to fn; 1 if the listing must stop (fn asked, or damage). */
static int deliver(steme_db *db, const store_page *p, steme_escalation_status status,
                   steme_escalation_cursor *cursor, steme_escalation_fn fn, void *ctx,
                   size_t *listed, int *rc)
{
    for (size_t i = 0; i < p->n; i++) {
        steme_escalation e;
        steme_error err;
        if (steme_escalation_decode(store_page_value(p, i), p->len[i], &e, &err) != STEME_OK) {
            *rc = db_fail(db, STEME_E_CORRUPT, "list escalations: stored record: %s",
                          err.message);
            return 1;
        }
        if (e.status != status || e.created_at != p->ts[i] ||
            memcmp(e.id.bytes, p->id[i].bytes, STEME_ID16_LEN) != 0) {
            *rc = db_fail(db, STEME_E_CORRUPT, "list escalations: record does not match its key");
            return 1;
        }
        cursor->started = 1;
        cursor->created_at = p->ts[i];
        cursor->id = p->id[i];
        (*listed)++;
        if (fn(ctx, &e) != 0)
            return 1;
    }
    return 0;
}

int steme_escalation_list(steme_escalations *s, steme_escalation_status status, size_t limit,
                          steme_escalation_cursor *cursor, steme_escalation_fn fn, void *ctx,
                          size_t *count)
{
    if (count)
        *count = 0;
    steme_db *db = edb(s);
    if (!db)
        return STEME_E_INVALID;
    if (!cursor || !fn)
        return db_fail(db, STEME_E_INVALID, "list escalations: NULL argument");
    if (status != STEME_ESC_OPEN && status != STEME_ESC_RESOLVED)
        return db_fail(db, STEME_E_INVALID, "list escalations: unknown status %d", (int)status);
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_ESCALATION;
    k.status = (uint8_t)status;
    uint8_t prefix[STEME_KEY_MAX], after[STEME_KEY_MAX];
    size_t plen, alen = 0;
    int rc = steme_key_encode_prefix(&k, 1, prefix, sizeof prefix, &plen, NULL);
    if (rc != STEME_OK)
        return db_fail(db, rc, "list escalations: prefix");
    if (cursor->started &&
        (rc = es_key((uint8_t)status, cursor->created_at, &cursor->id, after, &alen)) != STEME_OK)
        return db_fail(db, rc, "list escalations: cursor");

    store_page *p = store_page_new(STEME_FAM_ESCALATION, UINT64_MAX);
    if (!p)
        return db_fail(db, STEME_E_NOMEM, "list escalations: out of memory");
    size_t listed = 0;
    while (limit == 0 || listed < limit) {
        size_t want = store_page_want(limit, listed);
        rc = store_page_fill(db, p, prefix, plen, cursor->started ? after : NULL, alen, want,
                             STEME_SCAN_REVERSE, "list escalations");
        if (rc != STEME_OK)
            break;
        if (deliver(db, p, status, cursor, fn, ctx, &listed, &rc) || p->n < want)
            break;
        if ((rc = es_key((uint8_t)status, cursor->created_at, &cursor->id, after, &alen)) !=
            STEME_OK)
            break;
    }
    store_page_free(p);
    if (count)
        *count = listed;
    return rc;
}
