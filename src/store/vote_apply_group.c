/*
 * vote_apply_group.c - applying a group of logged votes with one engine
 * write (the Ballot Box's live write path; replay applies one record at a
 * time with db_apply_vote, to the same result).
 *
 * Why: a vote is acknowledged once its log record is durable AND applied.
 * Applied one by one, each voter thread wakes from the log's group commit
 * and then queues again in the engine's own write group (RocksDB's write
 * thread: a second sleep and wake per vote, on a 2-core machine the larger
 * cost). Instead the thread that finishes a log sync (db_on_durable, called
 * by the WAL before it acknowledges the group) applies every vote of the
 * group here: the stored votes read in one pass, one KV batch holding each
 * new vote and its count/weight deltas, one write; then the WAL wakes the
 * voters once.
 *
 * Correctness is that of db_apply_vote, record by record:
 *   - two votes of one (assertion, voter) pair are never in one group: the
 *     voter's thread holds the pair's stripe lock from its log append until
 *     its acknowledgement, so each vote's stored predecessor is read from
 *     the engine before the batch, and no earlier vote of the group can
 *     change it;
 *   - deltas are new minus stored, so the batch keeps "caches = sum over
 *     stored votes"; a vote byte-identical to the stored one moves nothing;
 *   - the vote cache brackets the write (begin before, end after with the
 *     deltas of the batch), as in db_apply_vote.
 * A vote whose record or stored predecessor is damaged fails alone; an
 * engine failure of the write fails every vote of the batch (none landed:
 * the batch is atomic). Failures are reported per vote in rcs[] and msgs[].
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steme/keys.h"
#include "store/vote_behind.h"
#include "store/vote_store_int.h"

/* Votes per engine batch: bounds the scratch memory (three keys of up to
 * STEME_KEY_MAX bytes each per vote) while a group may be larger. */
#define GROUP_CHUNK 64

typedef struct gvote {
    steme_vote vote;
    const char *s;
    size_t slen;
    const uint8_t *enc;
    size_t elen;
    size_t vklen, cklen, wklen;
    int64_t dcount, dwsum;
    int rc;
    int live;          /* goes into the batch */
    uint8_t vkey[STEME_KEY_MAX], ckey[STEME_KEY_MAX], wkey[STEME_KEY_MAX];
} gvote;

static void fail_one(steme_db *db, gvote *g, char *msg, size_t cap, int rc)
{
    g->rc = rc;
    g->live = 0;
    snprintf(msg, cap, "%s", steme_errslot_message(&db->db_err));
}

/* Parse and key every vote of the chunk; read their stored predecessors. */
static void prepare(steme_db *db, size_t n, gvote *g, const uint8_t *const *bodies,
                    const size_t *lens, char *const *msgs, size_t msgcap, steme_buf *old,
                    int *st)
{
    const void *keys[GROUP_CHUNK];
    size_t klens[GROUP_CHUNK], map[GROUP_CHUNK], m = 0;
    for (size_t i = 0; i < n; i++) {
        gvote *v = &g[i];
        v->rc = vote_parse_body(db, bodies[i], lens[i], &v->s, &v->slen, &v->enc, &v->elen,
                                &v->vote);
        if (v->rc == STEME_OK &&
            (vote_key(STEME_FAM_VOTE, v->s, v->slen, &v->vote.assertion, &v->vote.voter,
                      v->vkey, &v->vklen) != STEME_OK ||
             vote_key(STEME_FAM_VOTE_COUNT, v->s, v->slen, &v->vote.assertion, NULL, v->ckey,
                      &v->cklen) != STEME_OK ||
             vote_key(STEME_FAM_VOTE_WEIGHT, v->s, v->slen, &v->vote.assertion, NULL,
                      v->wkey, &v->wklen) != STEME_OK))
            v->rc = db_fail(db, STEME_E_CORRUPT, "vote record: bad subject");
        if (v->rc != STEME_OK) {
            fail_one(db, v, msgs[i], msgcap, v->rc);
            continue;
        }
        v->live = 1;
        keys[m] = v->vkey;
        klens[m] = v->vklen;
        map[m++] = i;
    }
    if (m == 0)
        return;
    int rc = steme_kv_multi_get(db_kv(db), m, keys, klens, old, st);
    for (size_t j = 0; j < m; j++) {
        gvote *v = &g[map[j]];
        if (rc != STEME_OK || (st[j] != STEME_OK && st[j] != STEME_E_NOTFOUND)) {
            db_fail(db, rc != STEME_OK ? rc : st[j], "apply vote: reading the stored vote: %s",
                    steme_kv_errmsg(db_kv(db)));
            fail_one(db, v, msgs[map[j]], msgcap, rc != STEME_OK ? rc : st[j]);
            continue;
        }
        int had = st[j] == STEME_OK;
        int64_t old_fixed = 0;
        if (had && old[j].len == v->elen && memcmp(old[j].data, v->enc, v->elen) == 0) {
            v->live = 0; /* the same vote again (a retry): nothing moves */
            continue;
        }
        int orc = had ? vote_old_weight(db, &old[j], &v->vote, &old_fixed) : STEME_OK;
        if (orc != STEME_OK) {
            fail_one(db, v, msgs[map[j]], msgcap, orc);
            continue;
        }
        v->dcount = had ? 0 : 1;
        v->dwsum = steme_vote_weight_fixed(v->vote.weight) - old_fixed;
    }
}

/* One entry of a chunk's batch: a vote put, or a count or weight add. */
typedef struct bentry {
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;  /* put: the vote's encoding; NULL: an add */
    size_t vlen;
    int64_t delta;
} bentry;

static int bentry_cmp(const void *x, const void *y)
{
    const bentry *a = x, *b = y;
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key, b->key, n);
    return c ? c : (a->klen > b->klen) - (a->klen < b->klen);
}

/*
 * The chunk's live votes as one batch, in key order, with the count and
 * weight deltas of one assertion summed into one add each. Key order: the
 * engine's memtable (a skip list) reuses the previous insert's position
 * for the next one, so sorted inserts cost less than scattered ones (perf
 * showed the skip-list search as the largest cost of a vote); and a hot
 * assertion voted on by many agents in one group gets one count and one
 * weight add per group instead of one per vote. Puts of distinct votes
 * never share a key (one vote per pair per group, see the top).
 */
static int build_batch(steme_kv_batch *b, size_t n, const gvote *g, bentry *e)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const gvote *v = &g[i];
        if (!v->live)
            continue;
        e[m++] = (bentry){v->vkey, v->vklen, v->enc, v->elen, 0};
        if (v->dcount)
            e[m++] = (bentry){v->ckey, v->cklen, NULL, 0, v->dcount};
        if (v->dwsum)
            e[m++] = (bentry){v->wkey, v->wklen, NULL, 0, v->dwsum};
    }
    qsort(e, m, sizeof e[0], bentry_cmp);
    int rc = STEME_OK;
    for (size_t i = 0; i < m && rc == STEME_OK; i++) {
        if (e[i].val) {
            rc = steme_kv_batch_put(b, e[i].key, e[i].klen, e[i].val, e[i].vlen);
            continue;
        }
        int64_t sum = e[i].delta; /* wrapping sum, as the engine's adds wrap */
        while (i + 1 < m && !e[i + 1].val && bentry_cmp(&e[i], &e[i + 1]) == 0)
            sum = (int64_t)((uint64_t)sum + (uint64_t)e[++i].delta);
        if (sum)
            rc = steme_kv_batch_add_u64(b, e[i].key, e[i].klen, sum);
    }
    return rc;
}

/* One chunk: prepare, one batch, one write, cache updates. */
static void apply_chunk(steme_db *db, size_t n, gvote *g, const uint8_t *const *bodies,
                        const size_t *lens, int *rcs, char *const *msgs, size_t msgcap)
{
    steme_buf old[GROUP_CHUNK];
    int st[GROUP_CHUNK];
    for (size_t i = 0; i < n; i++) {
        old[i] = (steme_buf)STEME_BUF_INIT;
        g[i].live = 0;
        g[i].dcount = g[i].dwsum = 0;
    }
    prepare(db, n, g, bodies, lens, msgs, msgcap, old, st);

    steme_kv_batch *b = steme_kv_batch_new();
    int rc = b ? STEME_OK : STEME_E_NOMEM;
    size_t live = 0;
    for (size_t i = 0; i < n; i++)
        live += g[i].live ? 1 : 0;
    bentry e[3 * GROUP_CHUNK];
    if (rc == STEME_OK && live > 0)
        rc = build_batch(b, n, g, e);
    if (rc != STEME_OK)
        db_fail(db, rc, "apply vote: building the batch");

    vote_cache *c = vote_cache_of(db, 0);
    if (rc == STEME_OK && live > 0) {
        for (size_t i = 0; c && i < n; i++)
            if (g[i].live)
                vote_cache_begin(c, &g[i].vote.assertion);
        rc = db_kv_write(db, b, NULL, "apply vote");
        for (size_t i = 0; i < n; i++) {
            if (!g[i].live)
                continue;
            if (c)
                vote_cache_end(c, &g[i].vote.assertion, g[i].s, g[i].slen, g[i].dcount,
                               g[i].dwsum, rc == STEME_OK);
        }
        if (!c && (c = vote_cache_of(db, 0)) != NULL) {
            /* the cache appeared during this write: a reader may have
             * filled it from the engines before our write landed */
            for (size_t i = 0; i < n; i++)
                if (g[i].live)
                    vote_cache_invalidate(c, &g[i].vote.assertion);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (g[i].live) {
            rcs[i] = rc;
            if (rc != STEME_OK)
                snprintf(msgs[i], msgcap, "%s", steme_errslot_message(&db->db_err));
        } else {
            rcs[i] = g[i].rc;
        }
        steme_buf_free(&old[i]);
    }
    steme_kv_batch_free(b);
}

void db_apply_vote_group(steme_db *db, size_t n, const uint8_t *const *bodies,
                         const size_t *lens, int *rcs, char *const *msgs, size_t msgcap)
{
    /* Scratch kept on the handle: ~280 KB, past malloc's mmap threshold, so
     * a fresh allocation per group cost an mmap, a munmap and ~70 page
     * faults. Callers never overlap (the WAL's on_durable calls are
     * serialised), so one buffer serves them all; freed at close. */
    gvote *g = db->db_vote_scratch;
    if (!g)
        g = db->db_vote_scratch = malloc(sizeof *g * GROUP_CHUNK);
    if (!g) {
        /* no scratch memory: apply one by one, as replay does */
        for (size_t i = 0; i < n; i++) {
            rcs[i] = db_apply_vote(db, bodies[i], lens[i], NULL);
            if (rcs[i] != STEME_OK)
                snprintf(msgs[i], msgcap, "%s", steme_errslot_message(&db->db_err));
        }
        return;
    }
    for (size_t at = 0; at < n; at += GROUP_CHUNK) {
        size_t k = n - at < GROUP_CHUNK ? n - at : GROUP_CHUNK;
        apply_chunk(db, k, g, bodies + at, lens + at, rcs + at, msgs + at, msgcap);
    }
}

/* Key the accepted votes, then one batch as build_batch makes it. The
 * deltas are the accepting thread's (from each voter's pre-read), and the
 * vote cache moved already (vote_behind.c): this is the engine write only. */
int vote_group_write_accepted(steme_db *db, size_t n, const vb_vote *v, void **scratch)
{
    if (n > VB_CHUNK)
        return db_fail(db, STEME_E_INTERNAL, "apply vote: %zu votes in one chunk", n);
    gvote *g = *scratch;
    if (!g && !(g = *scratch = malloc(sizeof *g * VB_CHUNK)))
        return db_fail(db, STEME_E_NOMEM, "apply vote: out of memory");
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        gvote *x = &g[i];
        x->vote.assertion = v[i].assertion;
        x->vote.voter = v[i].voter;
        x->s = (const char *)v[i].subject;
        x->slen = v[i].slen;
        x->enc = v[i].enc;
        x->elen = v[i].elen;
        x->dcount = v[i].dcount;
        x->dwsum = v[i].dwsum;
        x->live = v[i].put;
        live += (size_t)x->live;
        if (x->live &&
            (vote_key(STEME_FAM_VOTE, x->s, x->slen, &x->vote.assertion, &x->vote.voter,
                      x->vkey, &x->vklen) != STEME_OK ||
             vote_key(STEME_FAM_VOTE_COUNT, x->s, x->slen, &x->vote.assertion, NULL, x->ckey,
                      &x->cklen) != STEME_OK ||
             vote_key(STEME_FAM_VOTE_WEIGHT, x->s, x->slen, &x->vote.assertion, NULL, x->wkey,
                      &x->wklen) != STEME_OK))
            return db_fail(db, STEME_E_CORRUPT, "vote record: bad subject");
    }
    if (!live)
        return STEME_OK;
    steme_kv_batch *b = steme_kv_batch_new();
    if (!b)
        return db_fail(db, STEME_E_NOMEM, "apply vote: out of memory");
    static_assert(VB_CHUNK <= 1024, "the entry array lives on the stack (~40 B x 3 per vote)");
    bentry e[3 * VB_CHUNK];
    int rc = build_batch(b, n, g, e);
    if (rc != STEME_OK)
        db_fail(db, rc, "apply vote: building the batch");
    else
        rc = db_kv_write(db, b, NULL, "apply vote");
    steme_kv_batch_free(b);
    return rc;
}
