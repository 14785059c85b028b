/*
 * assertion_list.c - listing assertions by subject (and predicate), newest
 * first, in pages, and checking every stored assertion (verify).
 *
 * A listing reads a page of index keys with one reverse scan, then the
 * assertions they name with one multi-get (one round trip on networked
 * engines), then hands them to the caller: scan callbacks may not call back
 * into the engine, so the two steps never nest.
 */
#include <stdlib.h>
#include <string.h>

#include "steme/keys.h"
#include "store/db_int.h"

#define PAGE 128

typedef struct page {
    size_t n;
    uint64_t ts[PAGE];
    steme_hash hash[PAGE];
    int bad;                 /* an index key failed to parse */
} page;

static int collect_index(void *ctx, const uint8_t *key, size_t klen, const uint8_t *v,
                         size_t vlen)
{
    (void)v; (void)vlen;
    page *p = ctx;
    steme_key k;
    if (steme_key_decode(key, klen, &k, NULL) != STEME_OK) {
        p->bad = 1;
        return 1;
    }
    p->ts[p->n] = k.ts;
    p->hash[p->n] = k.hash;
    p->n++;
    return p->n == PAGE;
}

int steme_db_list_assertions(steme_db *db, const char *subject, size_t subject_len,
                             const char *predicate, size_t predicate_len, size_t limit,
                             steme_list_cursor *cursor, steme_assertion_fn fn, void *ctx,
                             size_t *count)
{
    if (count)
        *count = 0;
    if (!db)
        return STEME_E_INVALID;
    if (!subject || !cursor || !fn)
        return db_fail(db, STEME_E_INVALID, "list assertions: NULL argument");
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = predicate ? STEME_FAM_SUBJECT_PRED_INDEX : STEME_FAM_SUBJECT_INDEX;
    k.subject = subject;
    k.subject_len = subject_len;
    k.predicate = predicate;
    k.predicate_len = predicate_len;
    uint8_t prefix[STEME_KEY_MAX], after[STEME_KEY_MAX];
    size_t plen, alen = 0;
    steme_error e;
    int rc = steme_key_encode_prefix(&k, predicate ? 1 : 0, prefix, sizeof prefix, &plen, &e);
    if (rc != STEME_OK)
        return db_fail(db, rc, "list assertions: %s", e.message);

    page *pg = malloc(sizeof *pg);
    steme_buf *vals = calloc(PAGE, sizeof *vals);
    const void *keyp[PAGE];
    size_t klens[PAGE];
    int st[PAGE];
    uint8_t (*hkeys)[STEME_KEY_MAX] = malloc(PAGE * sizeof *hkeys);
    if (!pg || !vals || !hkeys) {
        rc = db_fail(db, STEME_E_NOMEM, "list assertions: out of memory");
        goto done;
    }
    size_t listed = 0;
    int stop = 0;
    while (!stop && (limit == 0 || listed < limit)) {
        if (cursor->started) {
            k.ts = cursor->timestamp;
            k.hash = cursor->hash;
            if ((rc = steme_key_encode(&k, after, sizeof after, &alen, &e)) != STEME_OK) {
                db_fail(db, rc, "list assertions: cursor: %s", e.message);
                goto done;
            }
        }
        memset(pg, 0, sizeof *pg);
        size_t want = limit ? limit - listed : PAGE;
        rc = steme_kv_scan(db->db_kv, prefix, plen, cursor->started ? after : NULL, alen,
                           want < PAGE ? want : PAGE, STEME_SCAN_REVERSE, collect_index, pg,
                           NULL);
        if (rc != STEME_OK) {
            db_fail(db, rc, "list assertions: %s", steme_kv_errmsg(db->db_kv));
            goto done;
        }
        if (pg->bad) {
            rc = db_fail(db, STEME_E_CORRUPT, "list assertions: malformed index key");
            goto done;
        }
        if (pg->n == 0)
            break;
        steme_key hk;
        memset(&hk, 0, sizeof hk);
        hk.family = STEME_FAM_ASSERTION;
        hk.subject = subject;
        hk.subject_len = subject_len;
        for (size_t i = 0; i < pg->n; i++) {
            hk.hash = pg->hash[i];
            if ((rc = steme_key_encode(&hk, hkeys[i], STEME_KEY_MAX, &klens[i], &e)) != STEME_OK)
                goto done;
            keyp[i] = hkeys[i];
        }
        if ((rc = steme_kv_multi_get(db->db_kv, pg->n, keyp, klens, vals, st)) != STEME_OK) {
            db_fail(db, rc, "list assertions: %s", steme_kv_errmsg(db->db_kv));
            goto done;
        }
        for (size_t i = 0; i < pg->n && !stop; i++) {
            steme_assertion a;
            if (st[i] != STEME_OK ||
                steme_assertion_decode(vals[i].data, vals[i].len, &a, &e) != STEME_OK) {
                rc = db_fail(db, STEME_E_CORRUPT, "index entry names a missing or bad assertion");
                goto done;
            }
            cursor->started = 1;
            cursor->timestamp = pg->ts[i];
            cursor->hash = pg->hash[i];
            listed++;
            stop = fn(ctx, &pg->hash[i], &a) != 0;
        }
        if (pg->n < PAGE && (limit == 0 || listed < limit))
            break; /* the scan ran out before the page filled */
    }
    if (count)
        *count = listed;
    rc = STEME_OK;
done:
    if (vals)
        for (size_t i = 0; i < PAGE; i++)
            steme_buf_free(&vals[i]);
    free(vals);
    free(hkeys);
    free(pg);
    return rc;
}
