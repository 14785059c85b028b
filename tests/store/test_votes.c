/* test_votes.c - the Ballot Box: put/get/count/weight/list/recount, re-votes,
 * durability across reopen, apply idempotency and replay order, bad input
 * that changes nothing, and a property test against an in-memory model. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/db.h"
#include "steme/sign.h"
#include "steme/votes.h"
#include "store/db_int.h"
#include "testutil.h"
#include "store_pg.h" /* last: runs the tests on pg too */
#include "store_testlib.h" /* after store_pg.h: opens through it */

static int setup(void **state)
{
    return st_tempdir_setup(state, "votes");
}

/* Store assertion number i about subject; its hash into *h. */
static void make_assertion(steme_db *db, const char *subject, int i, steme_hash *h)
{
    char text[32];
    snprintf(text, sizeof text, "value-%d", i);
    steme_assertion a;
    memset(&a, 0, sizeof a);
    a.subject = subject;
    a.subject_len = strlen(subject);
    a.predicate = "p";
    a.predicate_len = 1;
    a.object = steme_value_string(text, strlen(text));
    a.confidence = 0.5;
    a.source_kind = STEME_SOURCE_AGENT;
    a.timestamp = 1700000000000ull + (uint64_t)i;
    if (steme_db_put_assertion(db, &a, h, NULL) != STEME_OK)
        fail_msg("put assertion: %s", steme_db_errmsg(db));
}

static steme_agent_id voter_id(unsigned n)
{
    steme_agent_id id;
    memset(&id, 0, sizeof id);
    id.bytes[0] = (uint8_t)(n >> 8);
    id.bytes[1] = (uint8_t)n;
    id.bytes[31] = 0x5a;
    return id;
}

static steme_vote make_vote(const steme_hash *a, steme_agent_id voter, double w, uint64_t ts)
{
    steme_vote v;
    memset(&v, 0, sizeof v);
    v.assertion = *a;
    v.voter = voter;
    v.weight = w;
    v.timestamp = ts;
    return v;
}

static void put_ok(steme_votes *vs, steme_db *db, const steme_vote *v)
{
    int rc = steme_votes_put(vs, v, NULL);
    if (rc != STEME_OK)
        fail_msg("put vote: %s (%s)", steme_errname(rc), steme_db_errmsg(db));
}

/* Caches and recount agree, and equal the expected count and fixed sum. */
static void expect_totals(steme_votes *vs, const steme_hash *a, uint64_t count, int64_t wsum)
{
    uint64_t c = 99, rc_count = 99;
    int64_t w = 99, rc_w = 99;
    double wd = 99;
    assert_int_equal(steme_votes_totals(vs, a, &c, &w), STEME_OK);
    assert_int_equal(steme_votes_count(vs, a, &c), STEME_OK);
    assert_int_equal(steme_votes_weight(vs, a, &wd), STEME_OK);
    assert_int_equal(steme_votes_recount(vs, a, &rc_count, &rc_w), STEME_OK);
    if (c != count || w != wsum || rc_count != count || rc_w != wsum)
        fail_msg("totals: cache (%llu, %lld), recount (%llu, %lld), expected (%llu, %lld)",
                 (unsigned long long)c, (long long)w, (unsigned long long)rc_count,
                 (long long)rc_w, (unsigned long long)count, (long long)wsum);
    assert_true(wd == (double)wsum / STEME_VOTE_WEIGHT_ONE);
}

typedef struct listed {
    size_t n;
    steme_vote v[64];
} listed;

static int collect(void *ctx, const steme_vote *v)
{
    listed *l = ctx;
    l->v[l->n++] = *v;
    return 0;
}

static void unit_put_revote_list_reopen(void **state)
{
    const char *dir = *state;
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_votes *vs = steme_db_votes(db);
    assert_non_null(vs);
    assert_null(steme_db_votes(NULL));
    steme_hash a, b;
    make_assertion(db, "aspirin", 1, &a);
    make_assertion(db, "ibuprofen", 2, &b);
    expect_totals(vs, &a, 0, 0);

    steme_vote v1 = make_vote(&a, voter_id(1), 0.5, 10);
    steme_hash vh, vh2;
    assert_int_equal(steme_votes_put(vs, &v1, &vh), STEME_OK);
    assert_int_equal(steme_vote_hash(&v1, &vh2, NULL), STEME_OK);
    assert_memory_equal(vh.bytes, vh2.bytes, 32);
    expect_totals(vs, &a, 1, steme_vote_weight_fixed(0.5));

    /* re-vote: count unchanged, weight moves by the difference */
    steme_vote v1b = make_vote(&a, voter_id(1), 0.25, 11);
    put_ok(vs, db, &v1b);
    expect_totals(vs, &a, 1, steme_vote_weight_fixed(0.25));
    put_ok(vs, db, &v1b); /* identical: nothing moves */
    expect_totals(vs, &a, 1, steme_vote_weight_fixed(0.25));

    /* a signed vote from a real key */
    uint8_t seed[32] = {9};
    steme_agent_id pk;
    steme_secret_key sk;
    assert_int_equal(steme_keypair_from_seed(seed, &pk, &sk, NULL), STEME_OK);
    steme_vote v2 = make_vote(&a, pk, -1.0, 12);
    assert_int_equal(steme_vote_sign(&v2, &sk, NULL), STEME_OK);
    put_ok(vs, db, &v2);
    int64_t want = steme_vote_weight_fixed(0.25) + steme_vote_weight_fixed(-1.0);
    expect_totals(vs, &a, 2, want);
    expect_totals(vs, &b, 0, 0);
    steme_vote v3 = make_vote(&b, voter_id(1), 1.0, 13); /* same voter, other assertion */
    put_ok(vs, db, &v3);
    expect_totals(vs, &b, 1, steme_vote_weight_fixed(1.0));

    steme_buf buf = STEME_BUF_INIT;
    steme_vote got;
    assert_int_equal(steme_votes_get(vs, &a, &v1.voter, &buf, &got), STEME_OK);
    assert_true(got.weight == 0.25);
    assert_int_equal(got.timestamp, 11);
    assert_int_equal(steme_votes_get(vs, &a, &pk, &buf, &got), STEME_OK);
    assert_true(got.has_signature);
    assert_int_equal(steme_vote_verify(&got, NULL), STEME_OK);
    steme_agent_id nobody = voter_id(77);
    assert_int_equal(steme_votes_get(vs, &a, &nobody, &buf, &got), STEME_E_NOTFOUND);
    assert_non_null(strstr(steme_db_errmsg(db), "no vote"));

    /* list: all, then in pages of one, ascending voter */
    listed all = {0}, paged = {0};
    steme_vote_cursor cur = {0};
    assert_int_equal(steme_votes_list(vs, &a, 0, &cur, collect, &all), STEME_OK);
    assert_int_equal(all.n, 2);
    assert_true(memcmp(all.v[0].voter.bytes, all.v[1].voter.bytes, 32) < 0);
    memset(&cur, 0, sizeof cur);
    for (int i = 0; i < 5; i++)
        assert_int_equal(steme_votes_list(vs, &a, 1, &cur, collect, &paged), STEME_OK);
    assert_int_equal(paged.n, 2);
    assert_memory_equal(paged.v[1].voter.bytes, all.v[1].voter.bytes, 32);
    steme_db_close(db);

    db = st_open_db(dir, STEME_KV_HYBRID); /* durable across close/reopen */
    vs = steme_db_votes(db);
    expect_totals(vs, &a, 2, want);
    expect_totals(vs, &b, 1, steme_vote_weight_fixed(1.0));
    assert_int_equal(steme_votes_get(vs, &a, &v1.voter, &buf, &got), STEME_OK);
    assert_true(got.weight == 0.25);
    steme_buf_free(&buf);
    steme_db_close(db);
}

static void fixed_point_is_exact(void **state)
{
    (void)state;
    assert_int_equal(steme_vote_weight_fixed(1.0), 4294967296ll);
    assert_int_equal(steme_vote_weight_fixed(-1.0), -4294967296ll);
    assert_int_equal(steme_vote_weight_fixed(0.5), 2147483648ll);
    assert_int_equal(steme_vote_weight_fixed(0x1p-32), 1);
    assert_int_equal(steme_vote_weight_fixed(0x1p-33), 1);   /* ties away from zero */
    assert_int_equal(steme_vote_weight_fixed(0x1p-34), 0);
    assert_int_equal(steme_vote_weight_fixed(NAN), 0);
    assert_int_equal(steme_vote_weight_fixed(2.0), 0);
    /* order independence: the sums a float cache would get wrong */
    double w[3] = {1.0, 1e-10, -1.0};
    int64_t s1 = 0, s2 = 0;
    for (int i = 0; i < 3; i++)
        s1 += steme_vote_weight_fixed(w[i]);
    for (int i = 2; i >= 0; i--)
        s2 += steme_vote_weight_fixed(w[(i + 1) % 3]);
    assert_int_equal(s1, s2);
}

/* Records applied twice, and an older record after a newer one (what a
 * replay may do), leave the caches equal to a recount. */
static void apply_idempotent_and_order_safe(void **state)
{
    const char *dir = *state;
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_votes *vs = steme_db_votes(db);
    steme_hash a;
    make_assertion(db, "replay", 1, &a);
    uint8_t body[2][256];
    size_t blen[2];
    double w[2] = {0.75, -0.125};
    for (int i = 0; i < 2; i++) {
        steme_vote v = make_vote(&a, voter_id(3), w[i], 100 + (uint64_t)i);
        body[i][0] = 6;
        body[i][1] = 0;
        memcpy(body[i] + 2, "replay", 6);
        size_t elen;
        assert_int_equal(steme_vote_encode(&v, body[i] + 8, sizeof body[i] - 8, &elen, NULL),
                         STEME_OK);
        blen[i] = 8 + elen;
    }
    int order[] = {0, 0, 1, 1, 0, 1, 0};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        int i = order[k];
        assert_int_equal(db_apply(db, DB_LOG_VOTE, body[i], blen[i], NULL), STEME_OK);
        expect_totals(vs, &a, 1, steme_vote_weight_fixed(w[i]));
    }
    /* damaged records are refused, not applied */
    assert_int_equal(db_apply(db, DB_LOG_VOTE, body[0], 1, NULL), STEME_E_CORRUPT);
    assert_int_equal(db_apply(db, DB_LOG_VOTE, body[0], blen[0] - 1, NULL), STEME_E_CORRUPT);
    uint8_t bad[256];
    memcpy(bad, body[0], blen[0]);
    bad[0] = 200; /* subject length past the end */
    assert_int_equal(db_apply(db, DB_LOG_VOTE, bad, blen[0], NULL), STEME_E_CORRUPT);
    expect_totals(vs, &a, 1, steme_vote_weight_fixed(w[0]));
    steme_db_close(db);
}

static void bad_input_changes_nothing(void **state)
{
    const char *dir = *state;
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_votes *vs = steme_db_votes(db);
    steme_hash a, unknown;
    make_assertion(db, "aspirin", 1, &a);
    memset(&unknown, 0xab, sizeof unknown);
    steme_vote ok = make_vote(&a, voter_id(1), 0.5, 10);
    put_ok(vs, db, &ok);

    steme_vote v = make_vote(&unknown, voter_id(2), 0.5, 10);
    assert_int_equal(steme_votes_put(vs, &v, NULL), STEME_E_NOTFOUND);
    assert_non_null(strstr(steme_db_errmsg(db), "unknown assertion"));

    uint8_t seed[32] = {5};
    steme_agent_id pk;
    steme_secret_key sk;
    assert_int_equal(steme_keypair_from_seed(seed, &pk, &sk, NULL), STEME_OK);
    v = make_vote(&a, pk, 0.5, 10);
    assert_int_equal(steme_vote_sign(&v, &sk, NULL), STEME_OK);
    v.weight = 0.6; /* signature no longer matches */
    assert_int_equal(steme_votes_put(vs, &v, NULL), STEME_E_BAD_SIGNATURE);
    v = make_vote(&a, voter_id(1), 0.5, 10);
    assert_int_equal(steme_vote_sign(&v, &sk, NULL), STEME_E_INVALID); /* not the voter's key */
    v.has_signature = true; /* a zero signature by voter 1 */
    assert_int_equal(steme_votes_put(vs, &v, NULL), STEME_E_BAD_SIGNATURE);

    double bad_w[] = {NAN, INFINITY, -INFINITY, 1.5, -1.0000001, 1.0000000001, 1e300};
    for (size_t i = 0; i < sizeof bad_w / sizeof bad_w[0]; i++) {
        v = make_vote(&a, voter_id(1), bad_w[i], 20);
        assert_int_equal(steme_votes_put(vs, &v, NULL), STEME_E_INVALID);
        assert_non_null(strstr(steme_db_errmsg(db), "weight"));
        v.voter = voter_id(9); /* a new voter too: nothing may be created */
        assert_int_equal(steme_votes_put(vs, &v, NULL), STEME_E_INVALID);
    }
    v = make_vote(&a, voter_id(9), 0.5, 0);
    assert_int_equal(steme_votes_put(vs, &v, NULL), STEME_E_INVALID);
    assert_non_null(strstr(steme_db_errmsg(db), "timestamp"));

    /* NULLs */
    uint64_t n;
    double w;
    int64_t wf;
    steme_buf buf = STEME_BUF_INIT;
    steme_vote got;
    steme_vote_cursor cur = {0};
    listed l = {0};
    assert_int_equal(steme_votes_put(NULL, &ok, NULL), STEME_E_INVALID);
    assert_int_equal(steme_votes_put(vs, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_votes_count(NULL, &a, &n), STEME_E_INVALID);
    assert_int_equal(steme_votes_count(vs, NULL, &n), STEME_E_INVALID);
    assert_int_equal(steme_votes_count(vs, &a, NULL), STEME_E_INVALID);
    assert_int_equal(steme_votes_weight(vs, &a, NULL), STEME_E_INVALID);
    assert_int_equal(steme_votes_weight(vs, NULL, &w), STEME_E_INVALID);
    assert_int_equal(steme_votes_totals(vs, NULL, &n, &wf), STEME_E_INVALID);
    assert_int_equal(steme_votes_get(vs, &a, NULL, &buf, &got), STEME_E_INVALID);
    assert_int_equal(steme_votes_get(vs, &a, &ok.voter, NULL, &got), STEME_E_INVALID);
    assert_int_equal(steme_votes_get(NULL, &a, &ok.voter, &buf, &got), STEME_E_INVALID);
    assert_int_equal(steme_votes_list(vs, &a, 0, NULL, collect, &l), STEME_E_INVALID);
    assert_int_equal(steme_votes_list(vs, &a, 0, &cur, NULL, &l), STEME_E_INVALID);
    assert_int_equal(steme_votes_list(NULL, &a, 0, &cur, collect, &l), STEME_E_INVALID);
    assert_int_equal(steme_votes_recount(vs, NULL, &n, &wf), STEME_E_INVALID);
    assert_int_equal(steme_votes_recount(NULL, &a, &n, &wf), STEME_E_INVALID);
    /* unknown assertion on every read */
    assert_int_equal(steme_votes_count(vs, &unknown, &n), STEME_E_NOTFOUND);
    assert_int_equal(steme_votes_weight(vs, &unknown, &w), STEME_E_NOTFOUND);
    assert_int_equal(steme_votes_get(vs, &unknown, &ok.voter, &buf, &got), STEME_E_NOTFOUND);
    assert_int_equal(steme_votes_list(vs, &unknown, 0, &cur, collect, &l), STEME_E_NOTFOUND);
    assert_int_equal(steme_votes_recount(vs, &unknown, &n, &wf), STEME_E_NOTFOUND);
    assert_int_equal(l.n, 0);

    /* nothing changed: the one good vote, as it was */
    expect_totals(vs, &a, 1, steme_vote_weight_fixed(0.5));
    assert_int_equal(steme_votes_get(vs, &a, &ok.voter, &buf, &got), STEME_OK);
    assert_true(got.weight == 0.5);
    assert_int_equal(got.timestamp, 10);
    steme_agent_id v9 = voter_id(9);
    assert_int_equal(steme_votes_get(vs, &a, &v9, &buf, &got), STEME_E_NOTFOUND);
    assert_int_equal(steme_votes_get(vs, &a, &pk, &buf, &got), STEME_E_NOTFOUND);
    steme_buf_free(&buf);
    steme_db_close(db);
}

/* ------------------------------------------------------ property test */

#define P_ASSERTIONS 12
#define P_VOTERS 24

typedef struct model {
    int has[P_ASSERTIONS][P_VOTERS];
    double w[P_ASSERTIONS][P_VOTERS];
    uint64_t ts[P_ASSERTIONS][P_VOTERS];
} model;

static double random_weight(tu_rng *r)
{
    switch (tu_rng_below(r, 6)) {
    case 0: return 1.0;
    case 1: return -1.0;
    case 2: return 0.0;
    case 3: return (double)((int64_t)tu_rng_below(r, 2001) - 1000) / 1000.0;
    default: /* any double in [-1, 1], finer than 2^-32 */
        return ((double)(tu_rng_next(r) >> 11) * 0x1p-53) * 2.0 - 1.0;
    }
}

static void check_model(steme_votes *vs, const model *m, const steme_hash *h, int ai)
{
    uint64_t n = 0;
    int64_t s = 0;
    for (int v = 0; v < P_VOTERS; v++)
        if (m->has[ai][v]) {
            n++;
            s += steme_vote_weight_fixed(m->w[ai][v]);
        }
    expect_totals(vs, &h[ai], n, s);
}

static void run_property(const char *dir, steme_kv_engine engine, uint64_t seed, int steps)
{
    tu_rng r;
    tu_rng_seed(&r, seed);
    steme_db *db = st_open_db(dir, engine);
    steme_votes *vs = steme_db_votes(db);
    steme_hash h[P_ASSERTIONS];
    char subj[P_ASSERTIONS][16];
    for (int i = 0; i < P_ASSERTIONS; i++) {
        snprintf(subj[i], sizeof subj[i], "s%d", i % 5); /* assertions share subjects */
        make_assertion(db, subj[i], i, &h[i]);
    }
    model *m = calloc(1, sizeof *m);
    steme_buf buf = STEME_BUF_INIT;
    for (int step = 0; step < steps; step++) {
        int ai = (int)tu_rng_below(&r, P_ASSERTIONS);
        int vi = (int)tu_rng_below(&r, P_VOTERS);
        uint64_t op = tu_rng_below(&r, 100);
        if (op < 70) { /* vote or re-vote; sometimes the same vote again */
            double w = m->has[ai][vi] && op < 5 ? m->w[ai][vi] : random_weight(&r);
            uint64_t ts = m->has[ai][vi] && op < 5 ? m->ts[ai][vi] : (uint64_t)step + 1;
            steme_vote v = make_vote(&h[ai], voter_id((unsigned)vi), w, ts);
            put_ok(vs, db, &v);
            m->has[ai][vi] = 1;
            m->w[ai][vi] = w;
            m->ts[ai][vi] = ts;
        } else if (op < 80) { /* a refused vote changes nothing */
            steme_vote v = make_vote(&h[ai], voter_id((unsigned)vi), 1.0 + 1e-9, 5);
            assert_int_equal(steme_votes_put(vs, &v, NULL), STEME_E_INVALID);
        } else if (op < 95) { /* one vote */
            steme_agent_id voter = voter_id((unsigned)vi);
            steme_vote got;
            int rc = steme_votes_get(vs, &h[ai], &voter, &buf, &got);
            if (m->has[ai][vi]) {
                assert_int_equal(rc, STEME_OK);
                assert_true(got.weight == m->w[ai][vi]);
                assert_int_equal(got.timestamp, m->ts[ai][vi]);
            } else {
                assert_int_equal(rc, STEME_E_NOTFOUND);
            }
        } else if (op < 99) { /* the whole listing, in pages of 5 */
            listed l = {0};
            steme_vote_cursor cur = {0};
            for (int p = 0; p < P_VOTERS; p++)
                assert_int_equal(steme_votes_list(vs, &h[ai], 5, &cur, collect, &l), STEME_OK);
            size_t k = 0;
            for (int v = 0; v < P_VOTERS; v++) {
                if (!m->has[ai][v])
                    continue;
                assert_true(k < l.n);
                steme_agent_id id = voter_id((unsigned)v);
                assert_memory_equal(l.v[k].voter.bytes, id.bytes, 32);
                assert_true(l.v[k].weight == m->w[ai][v]);
                k++;
            }
            assert_int_equal(k, l.n);
        } else { /* reopen: the log replays into the engines */
            steme_db_close(db);
            db = st_open_db(dir, engine);
            vs = steme_db_votes(db);
            for (int i = 0; i < P_ASSERTIONS; i++)
                check_model(vs, m, h, i);
        }
        check_model(vs, m, h, ai);
    }
    for (int i = 0; i < P_ASSERTIONS; i++)
        check_model(vs, m, h, i);
    steme_buf_free(&buf);
    free(m);
    steme_db_close(db);
}

static void property_vs_model(void **state)
{
    const char *dir = *state;
    uint64_t base = tu_seed(2024);
    for (uint64_t k = 0; k < 3; k++) {
        char *scratch = tu_tempdir("votes-prop");
        run_property(scratch, STEME_KV_MEM, base + k, 400);
        tu_rmtree_free(scratch);
    }
    run_property(dir, STEME_KV_HYBRID, base + 99, 250);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixed_point_is_exact),
        cmocka_unit_test_setup_teardown(unit_put_revote_list_reopen, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(apply_idempotent_and_order_safe, setup,
                                        st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(bad_input_changes_nothing, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(property_vs_model, setup, st_tempdir_teardown),
    };
    int rc = cmocka_run_group_tests_name("embedded", tests, NULL, NULL);
    rc |= sp_run_on_pg("pg", tests);
    return rc;
}
