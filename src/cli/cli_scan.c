/*
 * cli_scan.c - STOPGAP: enumerate every stored assertion and read the log's
 * end, which steme/db.h does not offer yet (export, verify and stats need
 * both). It walks the hash -> subject locators (\0HS:{hash}) in pages,
 * exactly as steme_db_verify does, through the database's own KV handle and
 * the public key codec. This is the one CLI file that reaches past the
 * store's public API; once db.h has steme_db_scan_assertions() and
 * steme_db_stats(), these two functions become calls to them.
 */
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
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

int cli_scan_assertions(steme_db *db, cli_hash_fn fn, void *ctx)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_HASH_SUBJECT;
    uint8_t prefix[16];
    size_t plen;
    int rc = steme_key_encode_prefix(&k, 0, prefix, sizeof prefix, &plen, NULL);
    if (rc != STEME_OK)
        return rc;
    static scan_page pg; /* the CLI is single-threaded; 8 KiB off the stack */
    uint8_t after[64];
    size_t alen = 0;
    for (int started = 0;; started = 1) {
        pg.n = 0;
        pg.bad = 0;
        rc = steme_kv_scan(db_kv(db), prefix, plen, started ? after : NULL, alen, SCAN_PAGE, 0,
                           collect, &pg, NULL);
        if (rc != STEME_OK)
            return db_fail(db, rc, "scan: %s", steme_kv_errmsg(db_kv(db)));
        if (pg.bad)
            return db_fail(db, STEME_E_CORRUPT, "scan: malformed hash locator key");
        for (size_t i = 0; i < pg.n; i++)
            if (fn(ctx, &pg.hash[i]) != 0)
                return STEME_OK;
        if (pg.n < SCAN_PAGE)
            return STEME_OK;
        memcpy(after, pg.last_key, pg.last_klen);
        alen = pg.last_klen;
    }
}

uint64_t cli_db_wal_end(steme_db *db)
{
    return steme_wal_end_offset(db->db_wal);
}
