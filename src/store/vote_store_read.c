/*
 * vote_store_read.c - the Ballot Box's reads: totals (count and weight) in
 * O(1), one voter's vote, a paginated listing of an assertion's votes, and
 * a recount from the vote records.
 *
 * Totals come from the in-process cache when warm (vote_cache.c), else
 * from the VC and VW keys read together with one multi-get (one engine
 * snapshot, so count and weight agree with each other).
 *
 * Every read of the engine's vote keys first fences (db_votes_fence): votes
 * are acknowledged before the applier writes them (vote_behind.c), and a
 * read that starts after a put returned must see it.
 *
 * A listing scans a page of votes into a local buffer, then hands them to
 * the caller's function outside the scan: scan callbacks may not call back
 * into the engine, and the caller's function may want to.
 */
#include <stdlib.h>
#include <string.h>

#include "store/vote_behind.h"
#include "store/vote_store_int.h"

#define PAGE 128

int steme_votes_totals(steme_votes *v, const steme_hash *assertion, uint64_t *count,
                       int64_t *weight_fixed)
{
    steme_db *db = vdb(v);
    if (!db)
        return STEME_E_INVALID;
    if (!assertion)
        return db_fail(db, STEME_E_INVALID, "vote totals: NULL assertion");
    uint64_t n = 0;
    int64_t w = 0;
    vote_fill_ticket t;
    vote_cache *c = vote_cache_of(db, 1);
    if (!c || !vote_cache_totals(c, assertion, &n, &w, &t)) {
        char s[STEME_SUBJECT_MAX];
        size_t slen;
        int rc = vote_subject_of(db, "vote totals", assertion, s, &slen);
        if (rc == STEME_OK)
            rc = db_votes_fence(db); /* after the fill ticket: see vote_behind.c */
        if (rc != STEME_OK)
            return rc;
        uint8_t ckey[STEME_KEY_MAX], wkey[STEME_KEY_MAX];
        const void *keys[2] = {ckey, wkey};
        size_t klens[2];
        if (vote_key(STEME_FAM_VOTE_COUNT, s, slen, assertion, NULL, ckey, &klens[0]) != STEME_OK ||
            vote_key(STEME_FAM_VOTE_WEIGHT, s, slen, assertion, NULL, wkey, &klens[1]) != STEME_OK)
            return db_fail(db, STEME_E_CORRUPT, "vote totals: the locator holds a bad subject");
        steme_buf vals[2] = {STEME_BUF_INIT, STEME_BUF_INIT};
        int st[2];
        uint64_t raw_w = 0;
        rc = steme_kv_multi_get(db_kv(db), 2, keys, klens, vals, st);
        if (rc != STEME_OK)
            db_fail(db, rc, "vote totals: %s", steme_kv_errmsg(db_kv(db)));
        else if ((st[0] == STEME_OK && vote_le64(&vals[0], &n) != STEME_OK) ||
                 (st[1] == STEME_OK && vote_le64(&vals[1], &raw_w) != STEME_OK))
            rc = db_fail(db, STEME_E_CORRUPT, "vote totals: a cache value is not 8 bytes");
        steme_buf_free(&vals[0]);
        steme_buf_free(&vals[1]);
        if (rc != STEME_OK)
            return rc;
        w = (int64_t)raw_w;
        if (c)
            vote_cache_fill(c, assertion, &t, s, slen, n, w);
    }
    if (count)
        *count = n;
    if (weight_fixed)
        *weight_fixed = w;
    return STEME_OK;
}

int steme_votes_count(steme_votes *v, const steme_hash *assertion, uint64_t *count)
{
    if (v && !count)
        return db_fail(vdb(v), STEME_E_INVALID, "vote count: NULL output");
    return steme_votes_totals(v, assertion, count, NULL);
}

int steme_votes_weight(steme_votes *v, const steme_hash *assertion, double *weight)
{
    if (v && !weight)
        return db_fail(vdb(v), STEME_E_INVALID, "vote weight: NULL output");
    int64_t w = 0;
    int rc = steme_votes_totals(v, assertion, NULL, &w);
    if (rc == STEME_OK)
        *weight = (double)w / STEME_VOTE_WEIGHT_ONE;
    return rc;
}

int steme_votes_get(steme_votes *v, const steme_hash *assertion, const steme_agent_id *voter,
                    steme_buf *buf, steme_vote *out)
{
    steme_db *db = vdb(v);
    if (!db)
        return STEME_E_INVALID;
    if (!assertion || !voter || !buf || !out)
        return db_fail(db, STEME_E_INVALID, "get vote: NULL argument");
    char s[STEME_SUBJECT_MAX];
    size_t slen;
    int rc = vote_subject_of(db, "get vote", assertion, s, &slen);
    if (rc == STEME_OK)
        rc = db_votes_fence(db);
    if (rc != STEME_OK)
        return rc;
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    if (vote_key(STEME_FAM_VOTE, s, slen, assertion, voter, key, &klen) != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "get vote: the locator holds a bad subject");
    rc = steme_kv_get(db_kv(db), key, klen, buf);
    if (rc == STEME_E_NOTFOUND)
        return db_fail(db, rc, "get vote: no vote by this voter on this assertion");
    if (rc != STEME_OK)
        return db_fail(db, rc, "get vote: %s", steme_kv_errmsg(db_kv(db)));
    steme_error e;
    steme_vote got;
    if (steme_vote_decode(buf->data, buf->len, &got, &e) != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "get vote: stored vote: %s", e.message);
    if (memcmp(got.assertion.bytes, assertion->bytes, STEME_HASH_LEN) != 0 ||
        memcmp(got.voter.bytes, voter->bytes, STEME_AGENT_ID_LEN) != 0)
        return db_fail(db, STEME_E_CORRUPT, "get vote: stored vote is filed under another key");
    *out = got;
    return STEME_OK;
}

/* ----------------------------------------------------------- scanning */

typedef struct scan_ctx {
    const steme_hash *assertion;
    int bad;                                 /* a key or value failed a check */
    /* listing: a page of raw encodings */
    size_t n;
    uint8_t (*enc)[STEME_VOTE_MAX_ENCODED];
    size_t *elen;
    /* recount */
    uint64_t count;
    int64_t wsum;
} scan_ctx;

/* Decode a stored vote and check it is filed under its own key. */
static int check_vote(const scan_ctx *sc, const uint8_t *key, size_t klen, const uint8_t *val,
                      size_t vlen, steme_vote *out)
{
    if (klen < STEME_AGENT_ID_LEN || steme_vote_decode(val, vlen, out, NULL) != STEME_OK)
        return 0;
    return memcmp(out->assertion.bytes, sc->assertion->bytes, STEME_HASH_LEN) == 0 &&
           memcmp(out->voter.bytes, key + klen - STEME_AGENT_ID_LEN, STEME_AGENT_ID_LEN) == 0;
}

static int collect_page(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                        size_t vlen)
{
    scan_ctx *sc = ctx;
    steme_vote vote;
    if (!check_vote(sc, key, klen, val, vlen, &vote)) {
        sc->bad = 1;
        return 1;
    }
    memcpy(sc->enc[sc->n], val, vlen);
    sc->elen[sc->n] = vlen;
    sc->n++;
    return 0;
}

static int recount_one(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                       size_t vlen)
{
    scan_ctx *sc = ctx;
    steme_vote vote;
    if (!check_vote(sc, key, klen, val, vlen, &vote)) {
        sc->bad = 1;
        return 1;
    }
    sc->count++;
    sc->wsum = (int64_t)((uint64_t)sc->wsum + (uint64_t)steme_vote_weight_fixed(vote.weight));
    return 0;
}

/* The prefix {s}\0V:{assertion} of assertion's votes. */
static int votes_prefix(steme_db *db, const char *what, const steme_hash *a, char *s,
                        size_t *slen, uint8_t *prefix, size_t *plen)
{
    int rc = vote_subject_of(db, what, a, s, slen);
    if (rc == STEME_OK)
        rc = db_votes_fence(db); /* listings and recounts read the engine */
    if (rc != STEME_OK)
        return rc;
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_VOTE;
    k.subject = s;
    k.subject_len = *slen;
    k.hash = *a;
    if (steme_key_encode_prefix(&k, 1, prefix, STEME_KEY_MAX, plen, NULL) != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "%s: the locator holds a bad subject", what);
    return STEME_OK;
}

int steme_votes_list(steme_votes *v, const steme_hash *assertion, size_t limit,
                     steme_vote_cursor *cursor, steme_vote_fn fn, void *ctx)
{
    steme_db *db = vdb(v);
    if (!db)
        return STEME_E_INVALID;
    if (!assertion || !cursor || !fn)
        return db_fail(db, STEME_E_INVALID, "list votes: NULL argument");
    char s[STEME_SUBJECT_MAX];
    size_t slen, plen, alen = 0;
    uint8_t prefix[STEME_KEY_MAX], after[STEME_KEY_MAX];
    int rc = votes_prefix(db, "list votes", assertion, s, &slen, prefix, &plen);
    if (rc != STEME_OK)
        return rc;
    scan_ctx sc;
    memset(&sc, 0, sizeof sc);
    sc.assertion = assertion;
    sc.enc = malloc(PAGE * sizeof *sc.enc);
    sc.elen = malloc(PAGE * sizeof *sc.elen);
    if (!sc.enc || !sc.elen) {
        rc = db_fail(db, STEME_E_NOMEM, "list votes: out of memory");
        goto done;
    }
    size_t listed = 0;
    int stop = 0;
    while (!stop && (limit == 0 || listed < limit)) {
        if (cursor->started &&
            vote_key(STEME_FAM_VOTE, s, slen, assertion, &cursor->voter, after, &alen) != STEME_OK) {
            rc = db_fail(db, STEME_E_INVALID, "list votes: bad cursor");
            goto done;
        }
        size_t want = limit ? limit - listed : PAGE;
        sc.n = 0;
        rc = steme_kv_scan(db_kv(db), prefix, plen, cursor->started ? after : NULL, alen,
                           want < PAGE ? want : PAGE, 0, collect_page, &sc, NULL);
        if (rc != STEME_OK) {
            db_fail(db, rc, "list votes: %s", steme_kv_errmsg(db_kv(db)));
            goto done;
        }
        if (sc.bad) {
            rc = db_fail(db, STEME_E_CORRUPT, "list votes: a stored vote is damaged or misfiled");
            goto done;
        }
        for (size_t i = 0; i < sc.n && !stop; i++) {
            steme_vote vote;
            if (steme_vote_decode(sc.enc[i], sc.elen[i], &vote, NULL) != STEME_OK) {
                rc = db_fail(db, STEME_E_INTERNAL, "list votes: a checked vote does not decode");
                goto done;
            }
            cursor->started = 1;
            cursor->voter = vote.voter;
            listed++;
            stop = fn(ctx, &vote) != 0;
        }
        if (sc.n < PAGE)
            break; /* the scan ran out before the page filled */
    }
    rc = STEME_OK;
done:
    free(sc.enc);
    free(sc.elen);
    return rc;
}

int steme_votes_recount(steme_votes *v, const steme_hash *assertion, uint64_t *count,
                        int64_t *weight_fixed)
{
    steme_db *db = vdb(v);
    if (!db)
        return STEME_E_INVALID;
    if (!assertion)
        return db_fail(db, STEME_E_INVALID, "recount votes: NULL assertion");
    char s[STEME_SUBJECT_MAX];
    size_t slen, plen;
    uint8_t prefix[STEME_KEY_MAX];
    int rc = votes_prefix(db, "recount votes", assertion, s, &slen, prefix, &plen);
    if (rc != STEME_OK)
        return rc;
    scan_ctx sc;
    memset(&sc, 0, sizeof sc);
    sc.assertion = assertion;
    rc = steme_kv_scan(db_kv(db), prefix, plen, NULL, 0, 0, 0, recount_one, &sc, NULL);
    if (rc != STEME_OK)
        return db_fail(db, rc, "recount votes: %s", steme_kv_errmsg(db_kv(db)));
    if (sc.bad)
        return db_fail(db, STEME_E_CORRUPT, "recount votes: a stored vote is damaged or misfiled");
    if (count)
        *count = sc.count;
    if (weight_fixed)
        *weight_fixed = sc.wsum;
    return STEME_OK;
}
