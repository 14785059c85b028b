/*
 * db_verify.c - check every stored assertion: walk the hash -> subject
 * locators (\0HS:, one ordered scan in pages), read each assertion under its
 * subject, and check that it decodes, hashes to its key and, when signed,
 * that its signature verifies.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "steme/keys.h"
#include "store/db_int.h"
#include "store/vote_behind.h"

#define VPAGE 64

typedef struct vpage {
    size_t n;
    steme_hash hash[VPAGE];
    size_t subject_len[VPAGE];
    char subject[VPAGE][STEME_SUBJECT_MAX];
    uint8_t last_key[64];
    size_t last_klen;
    int bad;
} vpage;

static int collect_locator(void *ctx, const uint8_t *key, size_t klen, const uint8_t *v,
                           size_t vlen)
{
    vpage *p = ctx;
    steme_key k;
    if (klen > sizeof p->last_key || steme_key_decode(key, klen, &k, NULL) != STEME_OK) {
        p->bad = 1;
        return 1;
    }
    memcpy(p->last_key, key, klen);
    p->last_klen = klen;
    p->hash[p->n] = k.hash;
    size_t n = vlen <= STEME_SUBJECT_MAX ? vlen : 0; /* 0: flagged as damaged below */
    memcpy(p->subject[p->n], v, n);
    p->subject_len[p->n] = n;
    p->n++;
    return p->n == VPAGE;
}

static void damaged(uint64_t *count, steme_damage_fn fn, void *ctx, const steme_hash *h,
                    int status, const char *why)
{
    (*count)++;
    if (fn)
        fn(ctx, h, status, why);
}

int steme_db_verify(steme_db *db, uint64_t *checked, uint64_t *damaged_out,
                    steme_damage_fn fn, void *ctx)
{
    if (!db)
        return STEME_E_INVALID;
    uint64_t nchecked = 0, ndamaged = 0;
    uint8_t prefix[16];
    size_t plen;
    /* every acknowledged vote in the engine before its keys are checked */
    int rc = db_votes_fence(db);
    if (rc != STEME_OK)
        return rc;
    rc = db_locator_key(NULL, prefix, sizeof prefix, &plen);
    vpage *pg = malloc(sizeof *pg);
    steme_buf val = STEME_BUF_INIT;
    if (rc != STEME_OK || !pg) {
        free(pg);
        return db_fail(db, rc != STEME_OK ? rc : STEME_E_NOMEM, "verify: setup failed");
    }
    int started = 0;
    uint8_t after[64];
    size_t alen = 0;
    for (;;) {
        memset(pg, 0, offsetof(vpage, subject));
        pg->bad = 0;
        rc = steme_kv_scan(db->db_kv, prefix, plen, started ? after : NULL, alen, VPAGE, 0,
                           collect_locator, pg, NULL);
        if (rc != STEME_OK) {
            db_fail(db, rc, "verify: %s", steme_kv_errmsg(db->db_kv));
            goto done;
        }
        if (pg->bad) {
            damaged(&ndamaged, fn, ctx, NULL, STEME_E_CORRUPT, "malformed hash locator key");
            break;
        }
        for (size_t i = 0; i < pg->n; i++) {
            nchecked++;
            const steme_hash *h = &pg->hash[i];
            steme_key ak;
            memset(&ak, 0, sizeof ak);
            ak.family = STEME_FAM_ASSERTION;
            ak.subject = pg->subject[i];
            ak.subject_len = pg->subject_len[i];
            ak.hash = *h;
            uint8_t key[STEME_KEY_MAX];
            size_t klen;
            if (steme_key_encode(&ak, key, sizeof key, &klen, NULL) != STEME_OK) {
                damaged(&ndamaged, fn, ctx, h, STEME_E_CORRUPT, "locator holds a bad subject");
                continue;
            }
            int g = steme_kv_get(db->db_kv, key, klen, &val);
            if (g == STEME_E_NOTFOUND) {
                damaged(&ndamaged, fn, ctx, h, STEME_E_CORRUPT, "assertion missing");
                continue;
            }
            if (g != STEME_OK) {
                rc = db_fail(db, g, "verify: %s", steme_kv_errmsg(db->db_kv));
                goto done;
            }
            steme_assertion a;
            steme_hash again;
            steme_error e;
            if (steme_assertion_decode(val.data, val.len, &a, &e) != STEME_OK) {
                damaged(&ndamaged, fn, ctx, h, STEME_E_CORRUPT, e.message);
                continue;
            }
            if (steme_assertion_hash(&a, &again, &e) != STEME_OK ||
                memcmp(again.bytes, h->bytes, STEME_HASH_LEN) != 0) {
                damaged(&ndamaged, fn, ctx, h, STEME_E_CORRUPT, "content does not hash to its key");
                continue;
            }
            if (a.has_signature && steme_assertion_verify(&a, &e) != STEME_OK)
                damaged(&ndamaged, fn, ctx, h, STEME_E_BAD_SIGNATURE, "signature does not verify");
        }
        if (pg->n < VPAGE)
            break;
        memcpy(after, pg->last_key, pg->last_klen);
        alen = pg->last_klen;
        started = 1;
    }
    rc = ndamaged ? db_fail(db, STEME_E_CORRUPT, "%llu of %llu assertions damaged",
                            (unsigned long long)ndamaged, (unsigned long long)nchecked)
                  : STEME_OK;
done:
    if (checked)
        *checked = nchecked;
    if (damaged_out)
        *damaged_out = ndamaged;
    steme_buf_free(&val);
    free(pg);
    return rc;
}
