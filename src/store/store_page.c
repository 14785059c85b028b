/*
 * store_page.c - one page of a listing by time and id (see store_page.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_page.h"

store_page *store_page_new(steme_key_family family, uint64_t to_ts)
{
    store_page *p = calloc(1, sizeof *p);
    if (p) {
        p->family = family;
        p->to_ts = to_ts;
    }
    return p;
}

void store_page_free(store_page *p)
{
    if (!p)
        return;
    steme_buf_free(&p->arena);
    free(p);
}

static int store_page_collect(void *ctx, const uint8_t *key, size_t klen, const uint8_t *v,
                              size_t vlen)
{
    store_page *p = ctx;
    steme_key k;
    if (steme_key_decode(key, klen, &k, NULL) != STEME_OK || k.family != p->family) {
        p->bad = 1;
        return 1;
    }
    if (k.ts > p->to_ts) {
        p->past = 1;
        return 1;
    }
    if (steme_buf_reserve(&p->arena, p->used + vlen) != STEME_OK) {
        p->nomem = 1;
        return 1;
    }
    if (vlen)
        memcpy(p->arena.data + p->used, v, vlen);
    p->ts[p->n] = k.ts;
    p->id[p->n] = k.id;
    p->off[p->n] = p->used;
    p->len[p->n] = vlen;
    p->used += vlen;
    p->n++;
    return 0;
}

int store_page_fill(steme_db *db, store_page *p, const uint8_t *prefix, size_t plen,
                    const uint8_t *after, size_t alen, size_t want, unsigned flags,
                    const char *what)
{
    p->n = 0;
    p->used = 0;
    int rc = steme_kv_scan(db->db_kv, prefix, plen, after, alen, want, flags, store_page_collect,
                           p, NULL);
    if (rc != STEME_OK)
        return db_fail(db, rc, "%s: %s", what, steme_kv_errmsg(db->db_kv));
    if (p->bad)
        return db_fail(db, STEME_E_CORRUPT, "%s: malformed key", what);
    if (p->nomem)
        return db_fail(db, STEME_E_NOMEM, "%s: out of memory", what);
    return STEME_OK;
}
