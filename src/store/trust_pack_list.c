/*
 * trust_pack_list.c - listing packs (\0TP: scan) and a pack's members
 * (\0TM:{pack} scan), in key order, in pages resumed from a cursor.
 *
 * Each page is copied out of the scan before the caller's function sees it:
 * scan callbacks may not call back into the engine, and the caller's
 * function may well want to (read a member's trust rank, say).
 */
#include <stdlib.h>
#include <string.h>

#include "steme/keys.h"
#include "steme/packs.h"
#include "store/db_int.h"
#include "store/trust_pack_int.h"

#define PAGE 128
/* Largest TrustPack encoding: header, id, name, maintainer, description, time. */
#define PACK_ENC_MAX (3u + 16u + 2u + STEME_PACK_NAME_MAX + 32u + 2u + STEME_TEXT_MAX + 8u)

typedef struct pack_page {
    size_t n;
    size_t len[PAGE];
    uint8_t enc[PAGE][PACK_ENC_MAX];
    int bad;
} pack_page;

static int collect_pack(void *ctx, const uint8_t *key, size_t klen, const uint8_t *v,
                        size_t vlen)
{
    (void)key; (void)klen;
    pack_page *p = ctx;
    if (vlen > PACK_ENC_MAX) {
        p->bad = 1;
        return 1;
    }
    memcpy(p->enc[p->n], v, vlen);
    p->len[p->n++] = vlen;
    return 0;
}

int steme_packs_list(steme_packs *ps, size_t limit, steme_pack_cursor *cursor,
                     steme_pack_fn fn, void *ctx, size_t *count)
{
    steme_db *db = (steme_db *)ps;
    if (count)
        *count = 0;
    if (!db)
        return STEME_E_INVALID;
    if (!cursor || !fn)
        return db_fail(db, STEME_E_INVALID, "list packs: NULL argument");
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_TRUST_PACK;
    uint8_t prefix[16], after[64];
    size_t plen, alen = 0;
    int rc = steme_key_encode_prefix(&k, 0, prefix, sizeof prefix, &plen, NULL);
    if (rc != STEME_OK)
        return db_fail(db, rc, "list packs: prefix");
    pack_page *pg = malloc(sizeof *pg);
    if (!pg)
        return db_fail(db, STEME_E_NOMEM, "list packs: out of memory");
    size_t listed = 0;
    int stop = 0;
    while (!stop && (limit == 0 || listed < limit)) {
        if (cursor->started && (rc = trust_pack_key(&cursor->last, after, sizeof after,
                                                    &alen)) != STEME_OK) {
            db_fail(db, rc, "list packs: cursor");
            goto done;
        }
        pg->n = 0;
        pg->bad = 0;
        size_t want = limit ? limit - listed : PAGE;
        rc = steme_kv_scan(db->db_kv, prefix, plen, cursor->started ? after : NULL, alen,
                           want < PAGE ? want : PAGE, 0, collect_pack, pg, NULL);
        if (rc != STEME_OK) {
            db_fail(db, rc, "list packs: %s", steme_kv_errmsg(db->db_kv));
            goto done;
        }
        if (pg->bad) {
            rc = db_fail(db, STEME_E_CORRUPT, "list packs: oversized pack record");
            goto done;
        }
        for (size_t i = 0; i < pg->n && !stop; i++) {
            steme_trust_pack p;
            steme_error e;
            if (steme_trust_pack_decode(pg->enc[i], pg->len[i], &p, &e) != STEME_OK) {
                rc = db_fail(db, STEME_E_CORRUPT, "list packs: stored pack: %s", e.message);
                goto done;
            }
            cursor->started = 1;
            cursor->last = p.id;
            listed++;
            stop = fn(ctx, &p) != 0;
        }
        if (pg->n < PAGE)
            break;
    }
    rc = STEME_OK;
    if (count)
        *count = listed;
done:
    free(pg);
    return rc;
}

typedef struct member_page {
    size_t n;
    steme_agent_id agent[PAGE];
    int bad;
} member_page;

static int collect_member(void *ctx, const uint8_t *key, size_t klen, const uint8_t *v,
                          size_t vlen)
{
    (void)v; (void)vlen;
    member_page *p = ctx;
    steme_key k;
    if (steme_key_decode(key, klen, &k, NULL) != STEME_OK || k.family != STEME_FAM_PACK_MEMBER) {
        p->bad = 1;
        return 1;
    }
    p->agent[p->n++] = k.agent;
    return 0;
}

int steme_packs_list_members(steme_packs *ps, const steme_id16 *pack, size_t limit,
                             steme_member_cursor *cursor, steme_member_fn fn, void *ctx,
                             size_t *count)
{
    steme_db *db = (steme_db *)ps;
    if (count)
        *count = 0;
    if (!db)
        return STEME_E_INVALID;
    if (!pack || !cursor || !fn)
        return db_fail(db, STEME_E_INVALID, "list members: NULL argument");
    uint8_t prefix[64], after[96];
    size_t plen, alen = 0;
    int rc = trust_pack_member_key(pack, NULL, prefix, sizeof prefix, &plen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "list members: prefix");
    member_page pg;
    size_t listed = 0;
    int stop = 0;
    while (!stop && (limit == 0 || listed < limit)) {
        if (cursor->started && (rc = trust_pack_member_key(pack, &cursor->last, after,
                                                           sizeof after, &alen)) != STEME_OK)
            return db_fail(db, rc, "list members: cursor");
        pg.n = 0;
        pg.bad = 0;
        size_t want = limit ? limit - listed : PAGE;
        rc = steme_kv_scan(db->db_kv, prefix, plen, cursor->started ? after : NULL, alen,
                           want < PAGE ? want : PAGE, 0, collect_member, &pg, NULL);
        if (rc != STEME_OK)
            return db_fail(db, rc, "list members: %s", steme_kv_errmsg(db->db_kv));
        if (pg.bad)
            return db_fail(db, STEME_E_CORRUPT, "list members: malformed member key");
        for (size_t i = 0; i < pg.n && !stop; i++) {
            cursor->started = 1;
            cursor->last = pg.agent[i];
            listed++;
            stop = fn(ctx, &pg.agent[i]) != 0;
        }
        if (pg.n < PAGE)
            break;
    }
    if (count)
        *count = listed;
    return STEME_OK;
}
