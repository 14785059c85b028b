/*
 * db_scan.c - a database's inventory: every stored assertion's hash (one
 * ordered scan of the \0HS: locators, in pages, so the caller's function
 * runs outside the engine's scan and may use the database), and counters.
 */
#include <string.h>

#include "steme/keys.h"
#include "store/db_int.h"

#define SCAN_PAGE 256

typedef struct scan_page {
    size_t n;
    steme_hash hash[SCAN_PAGE];
    uint8_t last_key[64];
    size_t last_klen;
    int bad;
} scan_page;

static int collect(void *ctx, const uint8_t *key, size_t klen, const uint8_t *v, size_t vlen)
{
    (void)v, (void)vlen;
    scan_page *p = ctx;
    steme_key k;
    if (klen > sizeof p->last_key || steme_key_decode(key, klen, &k, NULL) != STEME_OK) {
        p->bad = 1;
        return 1;
    }
    memcpy(p->last_key, key, klen);
    p->last_klen = klen;
    p->hash[p->n++] = k.hash;
    return p->n == SCAN_PAGE;
}

int steme_db_scan_assertions(steme_db *db, steme_hash_fn fn, void *ctx)
{
    if (!db)
        return STEME_E_INVALID;
    if (!fn)
        return db_fail(db, STEME_E_INVALID, "scan assertions: NULL function");
    uint8_t prefix[16];
    size_t plen;
    int rc = db_locator_key(NULL, prefix, sizeof prefix, &plen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "scan assertions: prefix");
    scan_page pg; /* ~9 KiB on the stack: fine for every caller we have */
    uint8_t after[64];
    size_t alen = 0;
    for (int started = 0;; started = 1) {
        pg.n = 0;
        pg.bad = 0;
        rc = steme_kv_scan(db->db_kv, prefix, plen, started ? after : NULL, alen, SCAN_PAGE, 0,
                           collect, &pg, NULL);
        if (rc != STEME_OK)
            return db_fail(db, rc, "scan assertions: %s", steme_kv_errmsg(db->db_kv));
        if (pg.bad)
            return db_fail(db, STEME_E_CORRUPT, "scan assertions: malformed hash locator key");
        for (size_t i = 0; i < pg.n; i++)
            if (fn(ctx, &pg.hash[i]) != 0)
                return STEME_OK;
        if (pg.n < SCAN_PAGE)
            return STEME_OK;
        memcpy(after, pg.last_key, pg.last_klen);
        alen = pg.last_klen;
    }
}

int steme_db_get_stats(steme_db *db, steme_db_stats *out)
{
    if (!db || !out)
        return STEME_E_INVALID;
    memset(out, 0, sizeof *out);
    out->engine = steme_kv_engine_of(db->db_kv);
    out->has_log = db->db_wal != NULL;
    if (db->db_wal) {
        out->log_end = steme_wal_end_offset(db->db_wal);
        steme_wal_stats(db->db_wal, &out->log);
    }
    return STEME_OK;
}
