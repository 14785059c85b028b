/*
 * vote_store.c - the Ballot Box's write path: steme_votes_put and its log
 * record's apply (spec 5; keys and the fixed-point weight in steme/votes.h).
 *
 * put:   validate, verify the signature, find the assertion's subject (the
 *        assertion must exist), then under the stripe lock of
 *        (assertion, voter): wait until the pair's previous vote is in the
 *        engine, read the stored vote (the pre-read), log the vote with a
 *        WAL ticket. Once the group is durable the vote is accepted: its
 *        cache deltas (from the pre-read) move the vote cache, it is queued
 *        for the applier thread, and put returns (vote_behind.c). Without
 *        the applier (it could not start) the thread that completes the
 *        log sync applies the whole group as one batch (vote_apply_group.c)
 *        before the WAL acknowledges it. Holding the stripe lock from the
 *        pre-read to acknowledgement makes the log order of one voter's
 *        votes on one assertion equal their apply order, while votes on
 *        other pairs run in parallel.
 *
 * log record DB_LOG_VOTE, body:
 *     [subject_len u16 LE][subject][vote encoding (83 or 147 bytes)]
 *
 * apply (replay; live votes get the same, grouped): read the stored vote
 *        {s}\0V:{a}{voter}; byte-identical to the new one: nothing to do. Otherwise one
 *        RocksDB batch: the vote, VC += 1 if there was none, VW += fixed(new)
 *        - fixed(old). Idempotent, and order-safe at replay: whatever stored
 *        vote a record replaces, the batch moves the caches by exactly the
 *        difference between the two, so "caches = sum over stored votes"
 *        holds after every batch, and the last record of a pair wins.
 *
 * pg mode (several nodes, no WAL): the stripe lock does not reach other
 * processes, so the batch also expects the stored vote it read (or its
 * absence): if another node re-voted in between, nothing is written
 * (STEME_E_BUSY) and put reads again and retries. So "caches = sum over
 * stored votes" holds across nodes too.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "steme/keys.h"
#include "store/vote_behind.h"
#include "store/vote_store_int.h"

#define BODY_MAX (2u + STEME_SUBJECT_MAX + STEME_VOTE_MAX_ENCODED)
/* The assertion hash and the voter are adjacent in a vote's encoding: the
 * 64 bytes from offset 3 name the (assertion, voter) pair. */
#define VOTE_PAIR_OFFSET 3u
#define VOTE_PAIR_LEN (STEME_HASH_LEN + STEME_AGENT_ID_LEN)

steme_votes *steme_db_votes(steme_db *db)
{
    return (steme_votes *)db;
}

int64_t steme_vote_weight_fixed(double weight)
{
    if (!isfinite(weight) || fabs(weight) > 1.0)
        return 0;
    return llround(weight * STEME_VOTE_WEIGHT_ONE); /* exact scaling, then round */
}

int vote_key(steme_key_family fam, const char *s, size_t slen, const steme_hash *a,
             const steme_agent_id *voter, uint8_t *buf, size_t *len)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = fam;
    k.subject = s;
    k.subject_len = slen;
    k.hash = *a;
    if (voter)
        k.agent = *voter;
    return steme_key_encode(&k, buf, STEME_KEY_MAX, len, NULL);
}

int vote_le64(const steme_buf *b, uint64_t *value)
{
    if (b->len != 8)
        return STEME_E_CORRUPT;
    *value = bytes_get_le(b->data, 8);
    return STEME_OK;
}

int vote_subject_of(steme_db *db, const char *what, const steme_hash *a, char *out,
                    size_t *len)
{
    vote_cache *c = vote_cache_of(db, 1);
    if (c && vote_cache_subject(c, a, out, len))
        return STEME_OK;
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    int rc = db_locator_key(a, key, sizeof key, &klen);
    if (rc != STEME_OK)
        return db_fail(db, rc, "%s: cannot build the locator key", what);
    steme_buf b = STEME_BUF_INIT;
    rc = steme_kv_get(db_kv(db), key, klen, &b);
    if (rc == STEME_E_NOTFOUND) {
        db_fail(db, rc, "%s: unknown assertion", what);
    } else if (rc != STEME_OK) {
        db_fail(db, rc, "%s: reading the assertion locator: %s", what,
                steme_kv_errmsg(db_kv(db)));
    } else if (b.len == 0 || b.len > STEME_SUBJECT_MAX) {
        rc = db_fail(db, STEME_E_CORRUPT, "%s: the assertion locator holds a %zu-byte subject",
                     what, b.len);
    } else {
        memcpy(out, b.data, b.len);
        *len = b.len;
        if (c)
            vote_cache_put_subject(c, a, out, b.len);
    }
    steme_buf_free(&b);
    return rc;
}

/*
 * The vote's accept record (vote_behind.h), from the stored vote it replaces
 * (stripe lock held): once the pair's previous vote is in the engine,
 * nothing but this thread can change it until the new vote is acknowledged.
 */
static int pre_read(steme_db *db, const char *s, size_t slen, const uint8_t *enc, size_t elen,
                    const steme_vote *vote, db_vote_pre *pre)
{
    uint8_t vkey[STEME_KEY_MAX];
    size_t vklen;
    int rc = vote_behind_pair_wait(db, enc + VOTE_PAIR_OFFSET);
    if (rc != STEME_OK)
        return rc;
    if (vote_key(STEME_FAM_VOTE, s, slen, &vote->assertion, &vote->voter, vkey, &vklen) !=
        STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "put vote: the locator holds a bad subject");
    steme_buf old = STEME_BUF_INIT;
    rc = steme_kv_get(db_kv(db), vkey, vklen, &old);
    *pre = (db_vote_pre){.assertion = vote->assertion, .voter = vote->voter, .slen = slen,
                         .put = 1, .dcount = 1,
                         .dwsum = steme_vote_weight_fixed(vote->weight)};
    if (rc == STEME_OK) {
        int64_t old_fixed = 0;
        pre->dcount = 0;
        if (old.len == elen && memcmp(old.data, enc, elen) == 0)
            pre->put = 0, pre->dwsum = 0; /* the same vote again: nothing moves */
        else if ((rc = vote_old_weight(db, &old, vote, &old_fixed)) == STEME_OK)
            pre->dwsum -= old_fixed;
    } else if (rc == STEME_E_NOTFOUND) {
        rc = STEME_OK;
    } else {
        db_fail(db, rc, "put vote: reading the stored vote: %s", steme_kv_errmsg(db_kv(db)));
    }
    steme_buf_free(&old);
    return rc;
}

int steme_votes_put(steme_votes *v, const steme_vote *vote, steme_hash *vote_hash)
{
    steme_db *db = vdb(v);
    if (!db)
        return STEME_E_INVALID;
    if (!vote)
        return db_fail(db, STEME_E_INVALID, "put vote: NULL vote");
    if (vote->timestamp == 0)
        return db_fail(db, STEME_E_INVALID, "put vote: timestamp is 0 (missing)");
    uint8_t enc[STEME_VOTE_MAX_ENCODED];
    size_t elen;
    steme_error e;
    int rc = steme_vote_encode(vote, enc, sizeof enc, &elen, &e); /* validates */
    if (rc != STEME_OK)
        return db_fail(db, rc, "put vote: %s", e.message);
    if (vote->has_signature && (rc = steme_vote_verify(vote, &e)) != STEME_OK)
        return db_fail(db, rc, "put vote: %s", e.message);
    if (vote_hash && (rc = steme_vote_hash(vote, vote_hash, &e)) != STEME_OK)
        return db_fail(db, rc, "put vote: %s", e.message);

    uint8_t body[BODY_MAX];
    size_t slen;
    if ((rc = vote_subject_of(db, "put vote", &vote->assertion, (char *)body + 2, &slen)) !=
        STEME_OK)
        return rc;
    body[0] = (uint8_t)slen;
    body[1] = (uint8_t)(slen >> 8);
    memcpy(body + 2 + slen, enc, elen);

    const uint8_t *pair = enc + VOTE_PAIR_OFFSET;
    pthread_mutex_t *m = db_stripe(db, pair, VOTE_PAIR_LEN);
    for (unsigned attempt = 0;; attempt++) {
        pthread_mutex_lock(m);
        db_vote_pre pre;
        const db_vote_pre *pp = NULL;
        if (db->db_behind) {
            rc = pre_read(db, (const char *)body + 2, slen, enc, elen, vote, &pre);
            if (rc != STEME_OK) {
                pthread_mutex_unlock(m);
                return rc;
            }
            pp = &pre;
        }
        uint64_t seq = 0;
        rc = db_log_and_apply_grouped(db, DB_LOG_VOTE, body, 2 + slen + elen, pp, &seq);
        if (rc == STEME_OK && seq)
            vote_behind_pair_note(db, pair, seq);
        pthread_mutex_unlock(m);
        /* pg mode: another node changed this vote between our read and our
         * write (the apply's precondition failed): read again, retry */
        if (rc != STEME_E_BUSY || !db_shared(db) || !db_retry_wait(db, attempt))
            return rc;
    }
}

int vote_parse_body(steme_db *db, const uint8_t *body, size_t len, const char **s,
                    size_t *slen, const uint8_t **enc, size_t *elen, steme_vote *vote)
{
    if (!body || len < 2)
        return db_fail(db, STEME_E_CORRUPT, "vote record: %zu bytes, too short", len);
    size_t n = (size_t)body[0] | (size_t)body[1] << 8;
    if (n == 0 || n > STEME_SUBJECT_MAX || 2 + n > len)
        return db_fail(db, STEME_E_CORRUPT, "vote record: bad subject length %zu", n);
    steme_error e;
    int rc = steme_vote_decode(body + 2 + n, len - 2 - n, vote, &e);
    if (rc != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "vote record: %s", e.message);
    *s = (const char *)body + 2;
    *slen = n;
    *enc = body + 2 + n;
    *elen = len - 2 - n;
    return STEME_OK;
}

int vote_old_weight(steme_db *db, const steme_buf *old, const steme_vote *vote,
                    int64_t *fixed)
{
    steme_vote ov;
    steme_error e;
    if (steme_vote_decode(old->data, old->len, &ov, &e) != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "stored vote: %s", e.message);
    if (memcmp(ov.assertion.bytes, vote->assertion.bytes, STEME_HASH_LEN) != 0 ||
        memcmp(ov.voter.bytes, vote->voter.bytes, STEME_AGENT_ID_LEN) != 0)
        return db_fail(db, STEME_E_CORRUPT, "stored vote is filed under another key");
    *fixed = steme_vote_weight_fixed(ov.weight);
    return STEME_OK;
}

/* Read the stored vote and write the batch; *dcount / *dwsum get the
 * cache deltas written (0 when nothing changed). */
static int apply_kv(steme_db *db, const char *s, size_t slen, const uint8_t *enc, size_t elen,
                    const steme_vote *vote, int64_t *dcount, int64_t *dwsum)
{
    uint8_t vkey[STEME_KEY_MAX], ckey[STEME_KEY_MAX], wkey[STEME_KEY_MAX];
    size_t vklen, cklen, wklen;
    int rc = vote_key(STEME_FAM_VOTE, s, slen, &vote->assertion, &vote->voter, vkey, &vklen);
    if (rc == STEME_OK)
        rc = vote_key(STEME_FAM_VOTE_COUNT, s, slen, &vote->assertion, NULL, ckey, &cklen);
    if (rc == STEME_OK)
        rc = vote_key(STEME_FAM_VOTE_WEIGHT, s, slen, &vote->assertion, NULL, wkey, &wklen);
    if (rc != STEME_OK)
        return db_fail(db, STEME_E_CORRUPT, "vote record: bad subject");

    steme_buf old = STEME_BUF_INIT;
    rc = steme_kv_get(db_kv(db), vkey, vklen, &old);
    int had = rc == STEME_OK;
    int64_t old_fixed = 0;
    if (rc != STEME_OK && rc != STEME_E_NOTFOUND) {
        db_fail(db, rc, "apply vote: reading the stored vote: %s", steme_kv_errmsg(db_kv(db)));
        goto done;
    }
    rc = STEME_OK;
    if (had && old.len == elen && memcmp(old.data, enc, elen) == 0)
        goto done; /* the same vote again (replay or a retry): nothing moves */
    if (had && (rc = vote_old_weight(db, &old, vote, &old_fixed)) != STEME_OK)
        goto done;

    /* pg mode: the deltas are only right if the stored vote is still the
     * one read above when the batch commits (another node may re-vote the
     * same pair): expect it, or its absence */
    db_conds conds = {0};
    if (db_shared(db))
        db_cond_add(&conds, vkey, vklen, had ? old.data : NULL, had ? old.len : 0);
    int64_t dc = had ? 0 : 1;
    int64_t dw = steme_vote_weight_fixed(vote->weight) - old_fixed;
    steme_kv_batch *b = steme_kv_batch_new();
    if (!b) {
        rc = db_fail(db, STEME_E_NOMEM, "apply vote: out of memory");
        goto done;
    }
    rc = steme_kv_batch_put(b, vkey, vklen, enc, elen);
    if (rc == STEME_OK && dc)
        rc = steme_kv_batch_add_u64(b, ckey, cklen, dc);
    if (rc == STEME_OK && dw)
        rc = steme_kv_batch_add_u64(b, wkey, wklen, dw);
    if (rc != STEME_OK)
        db_fail(db, rc, "apply vote: building the batch");
    else
        rc = db_kv_write(db, b, &conds, "apply vote");
    steme_kv_batch_free(b);
    if (rc == STEME_OK) {
        *dcount = dc;
        *dwsum = dw;
    }
done:
    steme_buf_free(&old);
    return rc;
}

int db_apply_vote(steme_db *db, const uint8_t *body, size_t len,
                  const db_conds *conds)
{
    (void)conds; /* the apply reads the stored vote itself and expects it (pg mode) */
    const char *s = NULL;
    const uint8_t *enc = NULL;
    size_t slen = 0, elen = 0;
    steme_vote vote;
    int rc = vote_parse_body(db, body, len, &s, &slen, &enc, &elen, &vote);
    if (rc != STEME_OK)
        return rc;
    int64_t dcount = 0, dwsum = 0;
    vote_cache *c = vote_cache_of(db, 0);
    if (c)
        vote_cache_begin(c, &vote.assertion);
    rc = apply_kv(db, s, slen, enc, elen, &vote, &dcount, &dwsum);
    if (c) {
        vote_cache_end(c, &vote.assertion, s, slen, dcount, dwsum, rc == STEME_OK);
    } else if ((c = vote_cache_of(db, 0)) != NULL) {
        /* The cache appeared during this apply: a reader may have filled
         * it from the engines before our write landed. */
        vote_cache_invalidate(c, &vote.assertion);
    }
    return rc;
}
