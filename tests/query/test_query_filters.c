/* test_query_filters.c - what a query gathers: as_of (inclusive, and the
 * decay reference), trust packs, supersession (hidden unless asked),
 * read-time decay, the candidate limit, and combinations of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/packs.h"
#include "steme/supersession.h"
#include "test_query_lib.h"

static int setup(void **state)
{
    *state = tq_fx_open("qfilt", STEME_KV_HYBRID);
    return 0;
}

static void as_of(void **state)
{
    tq_fx *f = *state;
    steme_hash h1 = tq_put(f->db, "one", 0.5, 1, 1000);
    steme_hash h2 = tq_put(f->db, "two", 0.5, 2, 2000);
    steme_hash h2b = tq_put(f->db, "two-b", 0.5, 3, 2000);
    tq_put(f->db, "three", 0.5, 4, 3000);
    steme_query_request req;
    tq_request(&req, STEME_LENS_RECENCY);
    steme_resolution r;

    req.as_of = 2000;   /* inclusive */
    tq_run(f->db, &req, &r);
    assert_int_equal(r.n_candidates, 3);
    for (size_t i = 0; i < r.n_candidates; i++)
        assert_true(r.candidates[i].timestamp <= 2000);
    const steme_hash *first = memcmp(h2.bytes, h2b.bytes, 32) < 0 ? &h2 : &h2b;
    tq_assert_winner(&r, first);
    assert_non_null(strstr(r.explanation, "as of 2000"));
    steme_resolution_free(&r);

    req.as_of = 1999;
    tq_run(f->db, &req, &r);
    assert_int_equal(r.n_candidates, 1);
    tq_assert_winner(&r, &h1);
    steme_resolution_free(&r);

    req.as_of = 999;
    tq_run(f->db, &req, &r);
    assert_int_equal(r.n_candidates, 0);
    assert_false(r.has_winner);
    steme_resolution_free(&r);

    req.as_of = UINT64_MAX;   /* everything */
    tq_run(f->db, &req, &r);
    assert_int_equal(r.n_candidates, 4);
    steme_resolution_free(&r);
}

static void trust_pack(void **state)
{
    tq_fx *f = *state;
    steme_hash reg = tq_put(f->db, "bleeding", 0.9, 1, 1000);
    steme_hash cli = tq_put(f->db, "bleeding", 0.6, 2, 2000);
    tq_put(f->db, "none", 0.95, 3, 3000);
    tq_put(f->db, "none", 0.95, 4, 3100);
    tq_put(f->db, "none", 0.95, 5, 3200);
    steme_packs *p = steme_db_packs(f->db);
    steme_trust_pack pk;
    memset(&pk, 0, sizeof pk);
    pk.id.bytes[0] = 0x77;
    pk.name = "medical";
    pk.name_len = 7;
    pk.maintainer = tq_agent(1);
    pk.created_at = 10;
    assert_int_equal(steme_packs_put(p, &pk, NULL), STEME_OK);
    steme_agent_id a1 = tq_agent(1), a2 = tq_agent(2);
    assert_int_equal(steme_packs_add_agent(p, &pk.id, &a1, NULL), STEME_OK);
    assert_int_equal(steme_packs_add_agent(p, &pk.id, &a2, NULL), STEME_OK);

    steme_query_request req;
    tq_request(&req, STEME_LENS_CONSENSUS);
    steme_resolution r;
    tq_run(f->db, &req, &r);   /* everyone: "none" 3 to 2 */
    assert_true(tq_is_string(&r.winner_value, "none"));
    steme_resolution_free(&r);

    req.has_pack = true;
    req.pack = pk.id;
    tq_run(f->db, &req, &r);
    assert_int_equal(r.n_candidates, 2);
    assert_int_equal(r.hidden_by_pack, 3);
    tq_assert_winner(&r, &cli);
    assert_memory_equal(r.candidates[1].hash.bytes, reg.bytes, 32);
    assert_true(r.confidence == 1.0);
    assert_non_null(strstr(r.explanation, "trust pack"));
    steme_resolution_free(&r);

    /* A pack that does not exist has no members: nothing qualifies. */
    req.pack.bytes[0] = 0x78;
    tq_run(f->db, &req, &r);
    assert_int_equal(r.n_candidates, 0);
    assert_int_equal(r.hidden_by_pack, 5);
    steme_resolution_free(&r);
}

static void supersession(void **state)
{
    tq_fx *f = *state;
    steme_hash wrong = tq_put(f->db, "no effect", 0.9, 1, 1000);
    steme_hash fixed = tq_put(f->db, "bleeding", 0.8, 1, 2000);
    steme_hash other = tq_put(f->db, "rash", 0.7, 2, 1500);
    steme_agent_id a1 = tq_agent(1);
    assert_int_equal(steme_supersede(steme_db_supersessions(f->db), &wrong, &fixed, "typo", 4,
                                     &a1, 2001),
                     STEME_OK);
    steme_query_request req;
    tq_request(&req, STEME_LENS_CONFIDENCE);
    steme_resolution r;
    tq_run(f->db, &req, &r);   /* the superseded 0.9 is hidden */
    assert_int_equal(r.n_candidates, 2);
    assert_int_equal(r.hidden_superseded, 1);
    tq_assert_winner(&r, &fixed);
    assert_memory_equal(r.candidates[1].hash.bytes, other.bytes, 32);
    assert_non_null(strstr(r.explanation, "1 superseded hidden"));
    steme_resolution_free(&r);

    req.include_superseded = true;
    tq_run(f->db, &req, &r);
    assert_int_equal(r.n_candidates, 3);
    assert_int_equal(r.hidden_superseded, 0);
    tq_assert_winner(&r, &wrong);
    steme_resolution_free(&r);
}

static void decay(void **state)
{
    tq_fx *f = *state;
    const double day = 86400000.0;
    /* Old but confident (two half-lives ago) vs fresh and lukewarm. */
    steme_hash old = tq_put(f->db, "bleeding", 0.9, 1, TQ_NOW - (uint64_t)(2 * day));
    steme_hash fresh = tq_put(f->db, "none", 0.5, 2, TQ_NOW);
    steme_query_request req;
    tq_request(&req, STEME_LENS_CONFIDENCE);
    steme_resolution r;
    tq_run(f->db, &req, &r);
    tq_assert_winner(&r, &old);
    assert_true(r.candidates[0].effective_confidence == 0.9);
    steme_resolution_free(&r);

    req.decay_half_life_ms = day;
    tq_run(f->db, &req, &r);
    tq_assert_winner(&r, &fresh);
    assert_true(r.confidence == 0.5);
    assert_true(r.candidates[1].confidence == 0.9);
    assert_true(fabs(r.candidates[1].effective_confidence - 0.225) < 1e-15);
    assert_non_null(strstr(r.explanation, "half-life"));
    steme_resolution_free(&r);

    /* With as_of, age is measured from as_of: one day before now the old
     * one is one half-life old (0.45) and the fresh one does not exist. */
    req.as_of = TQ_NOW - (uint64_t)day;
    tq_run(f->db, &req, &r);
    assert_int_equal(r.n_candidates, 1);
    assert_true(fabs(r.confidence - 0.45) < 1e-15);
    steme_resolution_free(&r);

    /* Decay also shifts the skeptic's weights: 0.225 vs 0.5. */
    req.as_of = 0;
    req.lens = STEME_LENS_SKEPTIC;
    tq_run(f->db, &req, &r);
    assert_true(fabs(r.claims[0].share - 0.5 / 0.725) < 1e-12);
    steme_resolution_free(&r);

    /* An assertion from the future (after "now") is not decayed. */
    tq_put(f->db, "future", 0.3, 3, TQ_NOW + 5000);
    req.lens = STEME_LENS_RECENCY;
    tq_run(f->db, &req, &r);
    assert_true(r.confidence == 0.3);
    steme_resolution_free(&r);
}

static void limit(void **state)
{
    tq_fx *f = *state;
    steme_hash h[10];
    for (int i = 0; i < 10; i++)
        h[i] = tq_put(f->db, i % 2 ? "odd" : "even", 0.1 * i, i + 1, 1000 + (uint64_t)i);
    steme_query_request req;
    tq_request(&req, STEME_LENS_CONFIDENCE);
    req.limit = 3;   /* the three newest: i = 9, 8, 7 */
    steme_resolution r;
    tq_run(f->db, &req, &r);
    assert_int_equal(r.n_candidates, 3);
    assert_true(r.truncated);
    tq_assert_winner(&r, &h[9]);
    assert_memory_equal(r.candidates[2].hash.bytes, h[7].bytes, 32);
    assert_non_null(strstr(r.explanation, "newest 3"));
    steme_resolution_free(&r);

    req.limit = 10;
    tq_run(f->db, &req, &r);
    assert_int_equal(r.n_candidates, 10);
    assert_false(r.truncated);
    steme_resolution_free(&r);

    /* The limit counts candidates that pass the filters. */
    steme_agent_id a2 = tq_agent(2);
    steme_trust_pack pk;
    memset(&pk, 0, sizeof pk);
    pk.id.bytes[0] = 1;
    pk.name = "p";
    pk.name_len = 1;
    assert_int_equal(steme_packs_put(steme_db_packs(f->db), &pk, NULL), STEME_OK);
    assert_int_equal(steme_packs_add_agent(steme_db_packs(f->db), &pk.id, &a2, NULL), STEME_OK);
    req.limit = 1;
    req.has_pack = true;
    req.pack = pk.id;
    tq_run(f->db, &req, &r);
    assert_int_equal(r.n_candidates, 1);
    tq_assert_winner(&r, &h[1]);
    assert_false(r.truncated);
    steme_resolution_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(as_of, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(trust_pack, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(supersession, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(decay, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(limit, setup, tq_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
