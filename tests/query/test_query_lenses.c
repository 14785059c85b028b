/* test_query_lenses.c - each lens on hand-made conflict scenarios about
 * (aspirin, side_effect): the expected winner, confidence, ranking and
 * claims; vote with negative weights (no winner when none is > 0);
 * authority moved by TrustRank outcomes; deterministic tie-breaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/trust.h"
#include "steme/votes.h"
#include "test_query_lib.h"

enum { REGULATOR = 1, CLINIC = 2, FORUM1 = 3, FORUM2 = 4 };

typedef struct scenario {
    char *dir;
    steme_db *db;
    steme_hash a1, a2, a3, a4;
} scenario;

/*
 *   a1 "bleeding"  0.90  regulator  t=1000
 *   a2 "bleeding"  0.60  clinic     t=2000
 *   a3 "none"      0.95  forum1     t=3000
 *   a4 "headache"  0.50  forum2     t=2500
 */
static int setup(void **state)
{
    scenario *s = calloc(1, sizeof *s);
    s->dir = tu_tempdir("qlens");
    s->db = tq_open(s->dir, STEME_KV_HYBRID);
    s->a1 = tq_put(s->db, "bleeding", 0.90, REGULATOR, 1000);
    s->a2 = tq_put(s->db, "bleeding", 0.60, CLINIC, 2000);
    s->a3 = tq_put(s->db, "none", 0.95, FORUM1, 3000);
    s->a4 = tq_put(s->db, "headache", 0.50, FORUM2, 2500);
    /* Noise that must never be a candidate: other predicate, other subject. */
    tq_put_value(s->db, TQ_SUBJECT, "dose", steme_value_int(100), 1.0, CLINIC, 5000);
    tq_put_value(s->db, "aspirin2", TQ_PRED, steme_value_int(1), 1.0, CLINIC, 5000);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    scenario *s = *state;
    steme_db_close(s->db);
    tu_rmtree_free(s->dir);
    free(s);
    return 0;
}

static void recency(void **state)
{
    scenario *s = *state;
    steme_query_request req;
    tq_request(&req, STEME_LENS_RECENCY);
    steme_resolution r;
    tq_run(s->db, &req, &r);
    assert_int_equal(r.lens, STEME_LENS_RECENCY);
    assert_int_equal(r.n_candidates, 4);
    tq_assert_winner(&r, &s->a3);
    assert_true(tq_is_string(&r.winner_value, "none"));
    assert_true(r.confidence == 0.95);
    /* Ranked newest first: a3, a4, a2, a1. */
    assert_memory_equal(r.candidates[1].hash.bytes, s->a4.bytes, 32);
    assert_memory_equal(r.candidates[2].hash.bytes, s->a2.bytes, 32);
    assert_memory_equal(r.candidates[3].hash.bytes, s->a1.bytes, 32);
    assert_int_equal(r.n_claims, 3);
    assert_int_equal(r.status, STEME_SKEPTIC_NONE);
    assert_non_null(strstr(r.explanation, "newest"));
    steme_resolution_free(&r);
    assert_null(r.candidates);
}

static void consensus(void **state)
{
    scenario *s = *state;
    steme_query_request req;
    tq_request(&req, STEME_LENS_CONSENSUS);
    steme_resolution r;
    tq_run(s->db, &req, &r);
    /* "bleeding" has 2 of 4; its newest assertion (a2) represents it. */
    tq_assert_winner(&r, &s->a2);
    assert_true(tq_is_string(&r.winner_value, "bleeding"));
    assert_true(r.confidence == 0.5);
    assert_int_equal(r.n_claims, 3);
    assert_true(tq_is_string(&r.claims[0].object, "bleeding"));
    assert_int_equal(r.claims[0].count, 2);
    assert_true(r.claims[0].score == 0.5);
    assert_int_equal(r.claims[0].representative, 0);
    /* The other two claims tie at 1/4: the newer ("none", t=3000) first. */
    assert_true(tq_is_string(&r.claims[1].object, "none"));
    assert_true(tq_is_string(&r.claims[2].object, "headache"));
    /* Every candidate's claim index points at its own value. */
    for (size_t i = 0; i < r.n_candidates; i++)
        assert_true(steme_value_equal(&r.claims[r.candidates[i].claim].object,
                                      &r.candidates[i].object));
    assert_non_null(strstr(r.explanation, "2 of 4"));
    steme_resolution_free(&r);
}

static void confidence(void **state)
{
    scenario *s = *state;
    steme_query_request req;
    tq_request(&req, STEME_LENS_CONFIDENCE);
    steme_resolution r;
    tq_run(s->db, &req, &r);
    tq_assert_winner(&r, &s->a3);
    assert_true(r.confidence == 0.95);
    assert_true(r.candidates[1].score == 0.90);
    assert_true(r.candidates[3].score == 0.50);
    steme_resolution_free(&r);
}

static void vote_once(steme_db *db, const steme_hash *h, int voter, double w)
{
    steme_vote v;
    memset(&v, 0, sizeof v);
    v.assertion = *h;
    v.voter = tq_agent(voter);
    v.weight = w;
    v.timestamp = 4000;
    assert_int_equal(steme_votes_put(steme_db_votes(db), &v, NULL), STEME_OK);
}

static void vote_lens(void **state)
{
    scenario *s = *state;
    steme_query_request req;
    tq_request(&req, STEME_LENS_VOTE);
    steme_resolution r;

    /* No votes at all: every score 0, none > 0, so no winner. */
    tq_run(s->db, &req, &r);
    assert_false(r.has_winner);
    assert_true(r.confidence == 0.0);
    assert_int_equal(r.n_candidates, 4);
    steme_resolution_free(&r);

    /* Only negative votes: still no winner. */
    vote_once(s->db, &s->a3, 50, -1.0);
    vote_once(s->db, &s->a4, 51, -0.25);
    tq_run(s->db, &req, &r);
    assert_false(r.has_winner);
    assert_true(r.candidates[3].score == -1.0);   /* ranked last */
    assert_non_null(strstr(r.explanation, "no winner"));
    steme_resolution_free(&r);

    /* a1: +1 +0.5 = 1.5; a2: +0.5; a3: -1; a4: -0.25.
     * a1 wins with 1.5 / (1.5 + 0.5) = 0.75. */
    vote_once(s->db, &s->a1, 50, 1.0);
    vote_once(s->db, &s->a1, 51, 0.5);
    vote_once(s->db, &s->a2, 52, 0.5);
    tq_run(s->db, &req, &r);
    tq_assert_winner(&r, &s->a1);
    assert_true(r.candidates[0].vote_weight == 1.5);
    assert_true(r.confidence == 0.75);
    assert_memory_equal(r.candidates[1].hash.bytes, s->a2.bytes, 32);
    steme_resolution_free(&r);

    /* A re-vote turns a1 negative: a2 (0.5) is now the only positive. */
    vote_once(s->db, &s->a1, 50, -1.0);
    vote_once(s->db, &s->a1, 51, -1.0);
    tq_run(s->db, &req, &r);
    tq_assert_winner(&r, &s->a2);
    assert_true(r.confidence == 1.0);
    steme_resolution_free(&r);
}

static void authority(void **state)
{
    scenario *s = *state;
    steme_trust *t = steme_db_trust(s->db);
    steme_query_request req;
    tq_request(&req, STEME_LENS_AUTHORITY);
    steme_resolution r;

    /* Everyone at the neutral 0.5: the most confident (a3) wins. */
    tq_run(s->db, &req, &r);
    tq_assert_winner(&r, &s->a3);
    assert_true(r.candidates[0].trust == 0.5);
    steme_resolution_free(&r);

    /* The regulator is proven right five times, forum1 wrong three times. */
    steme_agent_id reg = tq_agent(REGULATOR), f1 = tq_agent(FORUM1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(steme_trust_record_outcome(t, &reg, true, 100 + i, NULL), STEME_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(steme_trust_record_outcome(t, &f1, false, 100 + i, NULL), STEME_OK);
    steme_trust_rank tr_reg, tr_f1;
    assert_int_equal(steme_trust_get(t, &reg, &tr_reg, NULL), STEME_OK);
    assert_int_equal(steme_trust_get(t, &f1, &tr_f1, NULL), STEME_OK);
    assert_true(fabs(tr_reg.score - 0.75) < 1e-12);
    assert_true(fabs(tr_f1.score - 0.2) < 1e-12);

    tq_run(s->db, &req, &r);
    tq_assert_winner(&r, &s->a1);
    double s1 = 0.90 * tr_reg.score, s2 = 0.60 * 0.5, s3 = 0.95 * tr_f1.score, s4 = 0.50 * 0.5;
    assert_true(r.candidates[0].score == s1);
    assert_true(r.candidates[0].trust == tr_reg.score);
    assert_true(fabs(r.confidence - s1 / (s1 + s2 + s3 + s4)) < 1e-12);
    /* Ranking: a1 0.675, a2 0.30, a4 0.25, a3 0.19. */
    assert_memory_equal(r.candidates[1].hash.bytes, s->a2.bytes, 32);
    assert_memory_equal(r.candidates[2].hash.bytes, s->a4.bytes, 32);
    assert_memory_equal(r.candidates[3].hash.bytes, s->a3.bytes, 32);
    assert_non_null(strstr(r.explanation, "trust"));
    steme_resolution_free(&r);
}

/* Equal scores everywhere: the newest wins; at equal times the smaller
 * hash (bytewise) wins, whatever order the assertions were stored in. */
static void tie_breaks(void **state)
{
    (void)state;
    char *dir = tu_tempdir("qtie");
    steme_db *db = tq_open(dir, STEME_KV_MEM);
    steme_hash h[6];
    const char *vals[6] = {"p", "q", "r", "s", "t", "u"};
    for (int i = 0; i < 6; i++)
        h[i] = tq_put(db, vals[i], 0.7, 10 + i, 5000);   /* same time, same confidence */
    int smallest = 0;
    for (int i = 1; i < 6; i++)
        if (memcmp(h[i].bytes, h[smallest].bytes, 32) < 0)
            smallest = i;
    static const steme_lens lenses[] = {STEME_LENS_RECENCY, STEME_LENS_CONSENSUS,
                                        STEME_LENS_CONFIDENCE, STEME_LENS_AUTHORITY};
    for (size_t l = 0; l < sizeof lenses / sizeof lenses[0]; l++) {
        steme_query_request req;
        tq_request(&req, lenses[l]);
        steme_resolution r;
        tq_run(db, &req, &r);
        tq_assert_winner(&r, &h[smallest]);
        for (size_t i = 1; i < r.n_candidates; i++)
            assert_true(memcmp(r.candidates[i - 1].hash.bytes, r.candidates[i].hash.bytes, 32) <
                        0);
        steme_resolution_free(&r);
    }
    /* A newer assertion with the same score beats every smaller hash. */
    steme_hash newer = tq_put(db, "v", 0.7, 30, 5001);
    steme_query_request req;
    tq_request(&req, STEME_LENS_CONFIDENCE);
    steme_resolution r;
    tq_run(db, &req, &r);
    tq_assert_winner(&r, &newer);
    steme_resolution_free(&r);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

/* Claims are typed values: int 1, float 1.0, string "1" and bool true are
 * four claims; float -0.0 and 0.0 are one. */
static void typed_claims(void **state)
{
    (void)state;
    char *dir = tu_tempdir("qtyped");
    steme_db *db = tq_open(dir, STEME_KV_MEM);
    tq_put_value(db, TQ_SUBJECT, TQ_PRED, steme_value_int(1), 0.5, 1, 100);
    tq_put_value(db, TQ_SUBJECT, TQ_PRED, steme_value_float(1.0), 0.5, 2, 101);
    tq_put_value(db, TQ_SUBJECT, TQ_PRED, steme_value_string("1", 1), 0.5, 3, 102);
    tq_put_value(db, TQ_SUBJECT, TQ_PRED, steme_value_bool(true), 0.5, 4, 103);
    tq_put_value(db, TQ_SUBJECT, TQ_PRED, steme_value_float(0.0), 0.5, 5, 104);
    tq_put_value(db, TQ_SUBJECT, TQ_PRED, steme_value_float(-0.0), 0.5, 6, 105);
    static const uint8_t blob[3] = {1, 2, 3};
    tq_put_value(db, TQ_SUBJECT, TQ_PRED, steme_value_bytes(blob, 3), 0.5, 7, 106);
    tq_put_value(db, TQ_SUBJECT, TQ_PRED, steme_value_bytes(blob, 3), 0.5, 8, 107);
    steme_query_request req;
    tq_request(&req, STEME_LENS_CONSENSUS);
    steme_resolution r;
    tq_run(db, &req, &r);
    assert_int_equal(r.n_candidates, 8);
    assert_int_equal(r.n_claims, 6);
    /* Two claims of 2: bytes (newest, t=107) ranks before the zeros. */
    assert_int_equal(r.claims[0].object.type, STEME_VALUE_BYTES);
    assert_int_equal(r.claims[0].count, 2);
    assert_int_equal(r.claims[1].object.type, STEME_VALUE_FLOAT);
    assert_int_equal(r.claims[1].count, 2);
    assert_int_equal(r.candidates[0].object.type, STEME_VALUE_BYTES);
    assert_memory_equal(r.candidates[0].object.v.bytes.ptr, blob, 3);
    assert_true(r.confidence == 0.25);
    steme_resolution_free(&r);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(recency, setup, teardown),
        cmocka_unit_test_setup_teardown(consensus, setup, teardown),
        cmocka_unit_test_setup_teardown(confidence, setup, teardown),
        cmocka_unit_test_setup_teardown(vote_lens, setup, teardown),
        cmocka_unit_test_setup_teardown(authority, setup, teardown),
        cmocka_unit_test(tie_breaks),
        cmocka_unit_test(typed_claims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
