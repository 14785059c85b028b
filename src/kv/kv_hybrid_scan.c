/*
 * kv_hybrid_scan.c - prefix scans on the hybrid engine.
 *
 * A prefix that pins one family (kv_prefix_family) lives in one engine: the
 * scan is that engine's scan, passed through (one engine snapshot).
 *
 * Any other prefix ("{subject}\0", "\0", "") may have keys in both engines.
 * We merge the two engines' ordered scans, streaming, with bounded memory:
 *
 *     lmdb  scan(after=cursor_l, limit=PAGE) -> page_l  --\
 *                                                          >- pick first in
 *     rocksdb scan(after=cursor_r, limit=PAGE) -> page_r --/   scan order -> fn
 *
 * Each page holds up to KV_HY_PAGE_ENTRIES entries copied into an arena,
 * and stops early once the arena passes KV_HY_PAGE_BYTES (so memory is
 * about 2 x 256 KiB plus at most one large value per engine). A page is
 * refilled only when it is empty and its engine is not exhausted, resuming
 * after the last key it returned: the engines' own cursors do the work, in
 * forward or reverse order, and `after` is the first cursor of both. A key
 * lives in exactly one engine, so there are no duplicates to resolve.
 *
 * Consistency (documented limitation): a merged scan is NOT one snapshot.
 * Each page is a consistent read of its engine, but the two engines are
 * separate databases and a later page may see writes made after an earlier
 * one. Every key is still visited at most once and in order, since each
 * engine's cursor only moves forward. Stores keep each logical operation in
 * one engine, so what they scan across engines never needs cross-engine
 * atomicity.
 */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_hybrid_int.h"
#include "kv/kv_prefix.h"

#define KV_HY_PAGE_ENTRIES 128u
#define KV_HY_PAGE_BYTES (256u * 1024u)

typedef struct hy_entry {
    size_t e_off; /* key at arena + e_off, value right after it */
    size_t e_klen, e_vlen;
} hy_entry;

typedef struct hy_page {
    steme_kv *p_eng;
    hy_entry p_ents[KV_HY_PAGE_ENTRIES];
    size_t p_n, p_pos, p_want;
    uint8_t *p_arena;
    size_t p_used, p_cap;
    int p_full;    /* collector stopped the page on the byte budget */
    int p_nomem;   /* collector could not grow the arena */
    int p_done;    /* engine has nothing after the page */
    uint8_t p_cursor[STEME_KV_MAX_KEY];
    size_t p_clen;
    int p_has_cursor;
} hy_page;

static int hy_collect(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                      size_t vlen)
{
    hy_page *p = ctx;
    size_t need = p->p_used + klen + vlen;
    if (need > p->p_cap) {
        size_t ncap = p->p_cap ? p->p_cap : 4096;
        while (ncap < need)
            ncap *= 2;
        uint8_t *a = realloc(p->p_arena, ncap);
        if (!a) {
            p->p_nomem = 1;
            return 1;
        }
        p->p_arena = a;
        p->p_cap = ncap;
    }
    hy_entry *e = &p->p_ents[p->p_n++];
    e->e_off = p->p_used;
    e->e_klen = klen;
    e->e_vlen = vlen;
    memcpy(p->p_arena + p->p_used, key, klen);
    if (vlen)
        memcpy(p->p_arena + p->p_used + klen, val, vlen);
    p->p_used = need;
    if (p->p_n >= p->p_want)
        return 1; /* page complete (the engine's limit says the same) */
    if (p->p_used >= KV_HY_PAGE_BYTES) {
        p->p_full = 1;
        return 1;
    }
    return 0;
}

/* Refill an empty page from its engine. */
static int hy_fill(kv_hybrid *h, hy_page *p, const uint8_t *prefix, size_t plen, size_t want,
                   unsigned flags)
{
    p->p_n = p->p_pos = p->p_used = 0;
    p->p_full = p->p_nomem = 0;
    if (want > KV_HY_PAGE_ENTRIES)
        want = KV_HY_PAGE_ENTRIES;
    p->p_want = want;
    size_t got = 0;
    int rc = p->p_eng->kv_vt->scan(p->p_eng, prefix, plen,
                                   p->p_has_cursor ? p->p_cursor : NULL, p->p_clen, want, flags,
                                   hy_collect, p, &got);
    if (rc != STEME_OK)
        return kv_hybrid_relay(h, p->p_eng, rc);
    if (p->p_nomem)
        return kv_fail(&h->hy_base, STEME_E_NOMEM, "hybrid scan: out of memory for a page");
    if (p->p_n < want && !p->p_full)
        p->p_done = 1; /* the engine ran out before the page did */
    if (p->p_n) {
        const hy_entry *last = &p->p_ents[p->p_n - 1];
        memcpy(p->p_cursor, p->p_arena + last->e_off, last->e_klen);
        p->p_clen = last->e_klen;
        p->p_has_cursor = 1;
    } else {
        p->p_done = 1;
    }
    return STEME_OK;
}

static int hy_merged_scan(kv_hybrid *h, const uint8_t *prefix, size_t plen, const uint8_t *after,
                          size_t alen, size_t limit, unsigned flags, steme_kv_scan_fn fn,
                          void *ctx, size_t *visited)
{
    const int reverse = (flags & STEME_SCAN_REVERSE) != 0;
    size_t count = 0;
    int rc = STEME_OK;
    hy_page *pages = calloc(2, sizeof *pages);
    if (!pages) {
        rc = kv_fail(&h->hy_base, STEME_E_NOMEM, "hybrid scan: out of memory");
        goto done;
    }
    pages[0].p_eng = h->hy_lmdb;
    pages[1].p_eng = h->hy_rdb;
    for (int i = 0; i < 2; i++)
        if (after) {
            memcpy(pages[i].p_cursor, after, alen);
            pages[i].p_clen = alen;
            pages[i].p_has_cursor = 1;
        }
    for (;;) {
        int best = -1;
        const hy_entry *be = NULL;
        for (int i = 0; i < 2; i++) {
            hy_page *p = &pages[i];
            if (p->p_pos == p->p_n && !p->p_done) {
                size_t want = limit ? limit - count : KV_HY_PAGE_ENTRIES;
                if ((rc = hy_fill(h, p, prefix, plen, want, flags)) != STEME_OK)
                    goto done;
            }
            if (p->p_pos == p->p_n)
                continue;
            const hy_entry *e = &p->p_ents[p->p_pos];
            if (best >= 0) {
                int c = kv_key_cmp(p->p_arena + e->e_off, e->e_klen,
                                   pages[best].p_arena + be->e_off, be->e_klen);
                if (reverse ? c < 0 : c > 0)
                    continue;
            }
            best = i;
            be = e;
        }
        if (best < 0)
            break;
        const uint8_t *k = pages[best].p_arena + be->e_off;
        pages[best].p_pos++;
        count++;
        if (fn(ctx, k, be->e_klen, k + be->e_klen, be->e_vlen) != 0)
            break;
        if (limit && count >= limit)
            break;
    }
done:
    if (pages) {
        free(pages[0].p_arena);
        free(pages[1].p_arena);
        free(pages);
    }
    if (visited)
        *visited = count;
    return rc;
}

int kv_hybrid_scan(steme_kv *kv, const uint8_t *prefix, size_t plen, const uint8_t *after,
                   size_t alen, size_t limit, unsigned flags, steme_kv_scan_fn fn, void *ctx,
                   size_t *visited)
{
    kv_hybrid *h = (kv_hybrid *)kv;
    steme_key_family fam = kv_prefix_family(prefix, plen);
    if (fam != STEME_FAM_UNKNOWN) {
        steme_kv *sub = steme_key_family_engine(fam) == STEME_KV_ROCKSDB ? h->hy_rdb
                                                                        : h->hy_lmdb;
        return kv_hybrid_relay(h, sub, sub->kv_vt->scan(sub, prefix, plen, after, alen, limit,
                                                        flags, fn, ctx, visited));
    }
    return hy_merged_scan(h, prefix, plen, after, alen, limit, flags, fn, ctx, visited);
}
