/*
 * trust_rank_list.c - listing TrustRanks by score, highest first.
 *
 * Ranks are keyed by agent (point reads and updates are what matter), so a
 * listing by score scans every rank once, keeps those that come after the
 * cursor in (score desc, agent asc) order, sorts them and hands out the
 * first `limit`. The user's callback runs after the scan has finished, so
 * it may call back into the database.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "steme/keys.h"
#include "steme/trust.h"
#include "store/trust_rank_int.h"

typedef struct rank_set {
    steme_trust_rank *r;
    size_t n, cap;
    const steme_trust_cursor *after;
    int rc;
} rank_set;

/* <0 if a lists before b: higher score first, then smaller agent id. */
static int rank_order(const steme_trust_rank *a, double b_score, const steme_agent_id *b_agent)
{
    if (a->score != b_score)
        return a->score > b_score ? -1 : 1;
    return memcmp(a->agent.bytes, b_agent->bytes, STEME_AGENT_ID_LEN);
}

static int cmp_rank(const void *x, const void *y)
{
    const steme_trust_rank *a = x, *b = y;
    return rank_order(a, b->score, &b->agent);
}

static int collect_rank(void *ctx, const uint8_t *key, size_t klen, const uint8_t *v,
                        size_t vlen)
{
    rank_set *s = ctx;
    steme_key k;
    steme_trust_rank r;
    if (steme_key_decode(key, klen, &k, NULL) != STEME_OK ||
        steme_trust_rank_decode(v, vlen, &r, NULL) != STEME_OK ||
        memcmp(r.agent.bytes, k.agent.bytes, STEME_AGENT_ID_LEN) != 0) {
        s->rc = STEME_E_CORRUPT;
        return 1;
    }
    if (s->after->started && rank_order(&r, s->after->score, &s->after->agent) <= 0)
        return 0; /* at or before the cursor: already listed */
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        steme_trust_rank *p = realloc(s->r, cap * sizeof *p);
        if (!p) {
            s->rc = STEME_E_NOMEM;
            return 1;
        }
        s->r = p;
        s->cap = cap;
    }
    s->r[s->n++] = r;
    return 0;
}

int steme_trust_list_by_rank(steme_trust *t, size_t limit, steme_trust_cursor *cursor,
                             steme_trust_rank_fn fn, void *ctx, size_t *count)
{
    steme_db *db = (steme_db *)t;
    if (count)
        *count = 0;
    if (!db)
        return STEME_E_INVALID;
    if (!cursor || !fn)
        return db_fail(db, STEME_E_INVALID, "list by rank: NULL argument");
    if (cursor->started && !isfinite(cursor->score))
        return db_fail(db, STEME_E_INVALID, "list by rank: cursor score is not finite");
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_TRUST_RANK;
    uint8_t prefix[16];
    size_t plen;
    int rc = steme_key_encode_prefix(&k, 0, prefix, sizeof prefix, &plen, NULL);
    if (rc != STEME_OK)
        return db_fail(db, rc, "list by rank: prefix");
    rank_set s = {NULL, 0, 0, cursor, STEME_OK};
    rc = steme_kv_scan(db->db_kv, prefix, plen, NULL, 0, 0, 0, collect_rank, &s, NULL);
    if (rc != STEME_OK) {
        db_fail(db, rc, "list by rank: %s", steme_kv_errmsg(db->db_kv));
    } else if (s.rc != STEME_OK) {
        rc = db_fail(db, s.rc, s.rc == STEME_E_CORRUPT ? "list by rank: malformed trust rank"
                                                       : "list by rank: out of memory");
    } else {
        if (s.n > 1)
            qsort(s.r, s.n, sizeof *s.r, cmp_rank);
        size_t n = limit && limit < s.n ? limit : s.n, listed = 0;
        for (size_t i = 0; i < n; i++) {
            cursor->started = 1;
            cursor->score = s.r[i].score;
            cursor->agent = s.r[i].agent;
            listed++;
            if (fn(ctx, &s.r[i]) != 0)
                break;
        }
        if (count)
            *count = listed;
    }
    free(s.r);
    return rc;
}
