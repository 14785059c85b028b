/*
 * test_votes_group.c - the grouped apply of votes (db_apply_vote_group,
 * src/store/vote_apply_group.c, the live write path) against the one-by-one
 * apply that replay uses (db_apply), as a property: random groups of vote
 * records (new votes, re-votes of pairs voted in earlier groups, records
 * byte-identical to the stored vote, damaged records, several assertions
 * of several subjects, weights from -1 to 1 including 0), each group
 * applied to database A in one call and to database B record by record.
 * After every group, for every assertion: A's caches == B's caches == A's
 * recount == the model's sums; every pair of the group holds the same vote
 * in A and B; each record's status agrees. Groups never hold two records of
 * one pair, as the stripe locks guarantee on the live path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/db.h"
#include "steme/votes.h"
#include "store/db_int.h"
#include "testutil.h"
#include "store_testlib.h"

#define NA 12         /* assertions */
#define NV 20         /* voters */
#define GROUP_MAX 150 /* past the apply's 64-vote chunks */
#define BODY_MAX 256

static const char *const subjects[] = {"grp:alpha", "grp:beta", "grp:gamma-longer-subject"};

typedef struct world {
    steme_db *a, *b;
    steme_hash h[NA];
    int subj[NA];
    /* model: per pair, the stored record (len 0: none) and its fixed weight */
    uint8_t stored[NA][NV][BODY_MAX];
    size_t stored_len[NA][NV];
    int64_t fixed[NA][NV];
} world;

static void make_assertion(world *w, int i)
{
    char text[32];
    snprintf(text, sizeof text, "value-%d", i);
    steme_assertion as;
    memset(&as, 0, sizeof as);
    w->subj[i] = i % 3;
    as.subject = subjects[w->subj[i]];
    as.subject_len = strlen(as.subject);
    as.predicate = "p";
    as.predicate_len = 1;
    as.object = steme_value_string(text, strlen(text));
    as.confidence = 0.5;
    as.source_kind = STEME_SOURCE_AGENT;
    as.timestamp = 1700000000000ull + (uint64_t)i;
    steme_hash hb;
    assert_int_equal(steme_db_put_assertion(w->a, &as, &w->h[i], NULL), STEME_OK);
    assert_int_equal(steme_db_put_assertion(w->b, &as, &hb, NULL), STEME_OK);
    assert_memory_equal(hb.bytes, w->h[i].bytes, STEME_HASH_LEN);
}

/* A DB_LOG_VOTE body for (assertion i, voter v). */
static size_t make_body(world *w, int i, int v, double weight, uint64_t ts, uint8_t *out)
{
    steme_vote vt;
    memset(&vt, 0, sizeof vt);
    vt.assertion = w->h[i];
    memset(vt.voter.bytes, 0x33, sizeof vt.voter.bytes);
    vt.voter.bytes[0] = (uint8_t)v;
    vt.weight = weight;
    vt.timestamp = ts;
    const char *s = subjects[w->subj[i]];
    size_t slen = strlen(s), elen = 0;
    out[0] = (uint8_t)slen;
    out[1] = (uint8_t)(slen >> 8);
    memcpy(out + 2, s, slen);
    assert_int_equal(steme_vote_encode(&vt, out + 2 + slen, BODY_MAX - 2 - slen, &elen, NULL),
                     STEME_OK);
    return 2 + slen + elen;
}

static double random_weight(tu_rng *r)
{
    static const double fixed[] = {-1.0, -0.5, 0.0, 0.25, 1.0};
    if (tu_rng_below(r, 3) == 0)
        return fixed[tu_rng_below(r, 5)];
    return (double)((int64_t)tu_rng_below(r, 2001) - 1000) / 1000.0;
}

static void check_world(world *w)
{
    steme_votes *va = steme_db_votes(w->a), *vb = steme_db_votes(w->b);
    for (int i = 0; i < NA; i++) {
        uint64_t count = 0;
        int64_t sum = 0;
        for (int v = 0; v < NV; v++) {
            if (w->stored_len[i][v]) {
                count++;
                sum += w->fixed[i][v];
            }
        }
        uint64_t ca, cb, cr;
        int64_t wa, wb, wr;
        assert_int_equal(steme_votes_totals(va, &w->h[i], &ca, &wa), STEME_OK);
        assert_int_equal(steme_votes_totals(vb, &w->h[i], &cb, &wb), STEME_OK);
        assert_int_equal(steme_votes_recount(va, &w->h[i], &cr, &wr), STEME_OK);
        if (ca != count || cb != count || cr != count || wa != sum || wb != sum || wr != sum)
            fail_msg("assertion %d: grouped (%llu, %lld), one by one (%llu, %lld), recount "
                     "(%llu, %lld), model (%llu, %lld)", i, (unsigned long long)ca,
                     (long long)wa, (unsigned long long)cb, (long long)wb,
                     (unsigned long long)cr, (long long)wr, (unsigned long long)count,
                     (long long)sum);
    }
}

static void check_pair(world *w, int i, int v)
{
    steme_agent_id voter;
    memset(voter.bytes, 0x33, sizeof voter.bytes);
    voter.bytes[0] = (uint8_t)v;
    steme_buf ba = STEME_BUF_INIT, bb = STEME_BUF_INIT;
    steme_vote oa, ob;
    int ra = steme_votes_get(steme_db_votes(w->a), &w->h[i], &voter, &ba, &oa);
    int rb = steme_votes_get(steme_db_votes(w->b), &w->h[i], &voter, &bb, &ob);
    assert_int_equal(ra, rb);
    if (ra == STEME_OK) {
        assert_int_equal(ba.len, bb.len);
        assert_memory_equal(ba.data, bb.data, ba.len);
    }
    steme_buf_free(&ba);
    steme_buf_free(&bb);
}

static void run(const char *dir, steme_kv_engine engine, uint64_t seed, int groups)
{
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/grouped-%llu", dir, (unsigned long long)seed);
    snprintf(pb, sizeof pb, "%s/single-%llu", dir, (unsigned long long)seed);
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->a = st_open_db(pa, engine);
    w->b = st_open_db(pb, engine);
    for (int i = 0; i < NA; i++)
        make_assertion(w, i);
    check_world(w); /* makes the read caches exist: the grouped apply updates them */
    tu_rng r;
    tu_rng_seed(&r, seed);
    static uint8_t bodies[GROUP_MAX][BODY_MAX];
    static char msgs[GROUP_MAX][STEME_ERRMSG_MAX];
    const uint8_t *bp[GROUP_MAX];
    size_t lens[GROUP_MAX];
    int rcs[GROUP_MAX], pi[GROUP_MAX], pv[GROUP_MAX], damaged[GROUP_MAX];
    char *mp[GROUP_MAX];
    uint64_t ts = 1;
    for (int g = 0; g < groups; g++) {
        size_t n = 1 + (size_t)tu_rng_below(&r, g % 7 == 0 ? GROUP_MAX : 40);
        unsigned char used[NA][NV];
        memset(used, 0, sizeof used);
        size_t k = 0;
        for (size_t tries = 0; k < n && tries < 4 * n; tries++) {
            int i = (int)tu_rng_below(&r, NA), v = (int)tu_rng_below(&r, NV);
            if (used[i][v])
                continue; /* one record per pair per group */
            used[i][v] = 1;
            pi[k] = i;
            pv[k] = v;
            damaged[k] = tu_rng_below(&r, 25) == 0;
            if (w->stored_len[i][v] && tu_rng_below(&r, 6) == 0) {
                lens[k] = w->stored_len[i][v]; /* byte-identical to the stored vote */
                memcpy(bodies[k], w->stored[i][v], lens[k]);
            } else {
                lens[k] = make_body(w, i, v, random_weight(&r), ts++, bodies[k]);
            }
            if (damaged[k])
                lens[k] = 3 + (size_t)tu_rng_below(&r, lens[k] - 3); /* truncated */
            bp[k] = bodies[k];
            mp[k] = msgs[k];
            k++;
        }
        db_apply_vote_group(w->a, k, bp, lens, rcs, mp, STEME_ERRMSG_MAX);
        for (size_t j = 0; j < k; j++) {
            int rb = db_apply(w->b, DB_LOG_VOTE, bp[j], lens[j], NULL);
            assert_int_equal(rcs[j], rb);
            if (damaged[j]) {
                assert_int_equal(rcs[j], STEME_E_CORRUPT);
                assert_true(msgs[j][0] != '\0');
                continue;
            }
            assert_int_equal(rcs[j], STEME_OK);
            int i = pi[j], v = pv[j];
            steme_vote vt;
            assert_int_equal(steme_vote_decode(bp[j] + 2 + (bp[j][0] | bp[j][1] << 8),
                                               lens[j] - 2 - (bp[j][0] | bp[j][1] << 8), &vt,
                                               NULL),
                             STEME_OK);
            memcpy(w->stored[i][v], bp[j], lens[j]);
            w->stored_len[i][v] = lens[j];
            w->fixed[i][v] = steme_vote_weight_fixed(vt.weight);
        }
        check_world(w);
        for (size_t j = 0; j < k; j++)
            check_pair(w, pi[j], pv[j]);
    }
    steme_db_close(w->a);
    steme_db_close(w->b);
    if (engine != STEME_KV_MEM) { /* MEM keeps nothing across a close */
        /* after a reopen nothing moved */
        w->a = st_open_db(pa, engine);
        w->b = st_open_db(pb, engine);
        check_world(w);
        steme_db_close(w->a);
        steme_db_close(w->b);
    }
    free(w);
}

static void grouped_equals_one_by_one(void **state)
{
    const char *dir = *state;
    uint64_t base = tu_seed(9001);
    for (uint64_t s = 0; s < 4; s++)
        run(dir, STEME_KV_MEM, base + s, 60);
    run(dir, STEME_KV_HYBRID, base + 10, 60);
}

static int setup(void **state)
{
    return st_tempdir_setup(state, "votes-group");
}

static int teardown(void **state)
{
    return st_tempdir_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(grouped_equals_one_by_one, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
