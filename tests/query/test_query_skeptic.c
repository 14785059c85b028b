/* test_query_skeptic.c - the skeptic lens: entropy exactly right for
 * unanimous, split (50/50 -> 1.0) and chaotic sets, ln(number of claims)
 * normalisation, agreed/contested thresholds, the all-zero-weight fallback,
 * and the escalation raised once per (subject, predicate) while open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/escalations.h"
#include "test_query_lib.h"

static int setup(void **state)
{
    *state = tq_fx_open("qskep", STEME_KV_MEM);
    return 0;
}

static void skeptic(steme_db *db, steme_resolution *r)
{
    steme_query_request req;
    tq_request(&req, STEME_LENS_SKEPTIC);
    tq_run(db, &req, r);
    assert_false(r->has_winner);
    assert_int_equal(r->lens, STEME_LENS_SKEPTIC);
}

/* Normalised entropy computed here, independently of the library. */
static double entropy_of(const double *shares, size_t k)
{
    double h = 0.0;
    for (size_t i = 0; i < k; i++)
        h -= shares[i] * log(shares[i]);
    return h / log((double)k);
}

static int noop(void *ctx, const steme_escalation *e)
{
    (void)ctx; (void)e;
    return 0;
}

static size_t count_open(steme_db *db)
{
    steme_escalation_cursor c;
    memset(&c, 0, sizeof c);
    size_t n = 0;
    return steme_escalation_list(steme_db_escalations(db), STEME_ESC_OPEN, 0, &c, noop, NULL,
                                 &n) == STEME_OK ? n : (size_t)-1;
}

static void unanimous(void **state)
{
    tq_fx *f = *state;
    tq_put(f->db, "bleeding", 0.9, 1, 100);
    tq_put(f->db, "bleeding", 0.4, 2, 200);
    tq_put(f->db, "bleeding", 0.7, 3, 300);
    steme_resolution r;
    skeptic(f->db, &r);
    assert_int_equal(r.n_claims, 1);
    assert_true(r.conflict == 0.0);
    assert_int_equal(r.status, STEME_SKEPTIC_UNANIMOUS);
    assert_true(r.confidence == 1.0);
    assert_true(r.claims[0].share == 1.0);
    assert_int_equal(r.escalation, STEME_QUERY_ESC_NONE);
    assert_non_null(strstr(r.explanation, "unanimous"));
    steme_resolution_free(&r);
    assert_int_equal(count_open(f->db), 0);
}

static void split_is_one(void **state)
{
    tq_fx *f = *state;
    tq_put(f->db, "bleeding", 0.8, 1, 100);
    tq_put(f->db, "none", 0.8, 2, 200);
    steme_resolution r;
    skeptic(f->db, &r);
    assert_int_equal(r.n_claims, 2);
    assert_true(r.claims[0].share == 0.5);
    assert_true(r.claims[1].share == 0.5);
    assert_true(r.conflict == 1.0);   /* exactly: ln 2 / ln 2 */
    assert_int_equal(r.status, STEME_SKEPTIC_CONTESTED);
    assert_true(r.confidence == 0.0);
    /* Equal shares: the newer claim ("none", t=200) is listed first. */
    assert_true(tq_is_string(&r.claims[0].object, "none"));
    assert_true(r.candidates[0].score == 0.5);
    assert_int_equal(r.escalation, STEME_QUERY_ESC_RAISED);
    steme_resolution_free(&r);
}

static void chaotic_and_normalised(void **state)
{
    tq_fx *f = *state;
    /* Five claims with equal weight: entropy ln 5, normalised to 1. */
    const char *v[5] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++)
        tq_put(f->db, v[i], 0.5, i + 1, 100 + (uint64_t)i);
    steme_resolution r;
    skeptic(f->db, &r);
    assert_int_equal(r.n_claims, 5);
    assert_true(fabs(r.conflict - 1.0) < 1e-12);
    for (size_t i = 0; i < 5; i++)
        assert_true(fabs(r.claims[i].share - 0.2) < 1e-15);
    assert_int_equal(r.status, STEME_SKEPTIC_CONTESTED);
    steme_resolution_free(&r);
}

static void uneven_three(void **state)
{
    tq_fx *f = *state;
    /* Weights 0.9 | 0.3 | 0.15 + 0.15: shares 0.6, 0.2, 0.2. */
    tq_put(f->db, "bleeding", 0.9, 1, 100);
    tq_put(f->db, "none", 0.3, 2, 200);
    tq_put(f->db, "rash", 0.15, 3, 300);
    tq_put(f->db, "rash", 0.15, 4, 400);
    steme_resolution r;
    skeptic(f->db, &r);
    assert_int_equal(r.n_claims, 3);
    double shares[3] = {0.6, 0.2, 0.2};
    assert_true(fabs(r.conflict - entropy_of(shares, 3)) < 1e-12);
    assert_true(fabs(r.conflict - 0.8649735207179272) < 1e-12);
    /* Not ln-normalised it would be H = 0.9503 nats; with k = 3 it is
     * H / ln 3. A 1/3 each split would be exactly 1, not ln 3. */
    assert_true(tq_is_string(&r.claims[0].object, "bleeding"));
    assert_true(fabs(r.claims[0].share - 0.6) < 1e-12);
    /* 0.2 each: "rash" is newer (t=400) than "none" (t=200). */
    assert_true(tq_is_string(&r.claims[1].object, "rash"));
    assert_int_equal(r.claims[1].count, 2);
    assert_true(fabs(r.claims[1].weight - 0.3) < 1e-12);
    assert_true(fabs(r.confidence - (1.0 - r.conflict)) < 1e-15);
    assert_int_equal(r.status, STEME_SKEPTIC_CONTESTED);
    assert_int_equal(r.escalation, STEME_QUERY_ESC_RAISED);
    steme_resolution_free(&r);
}

static void agreed_and_contested_below_threshold(void **state)
{
    tq_fx *f = *state;
    /* 0.9 / 0.1: conflict 0.469 -> agreed, no escalation. */
    tq_put(f->db, "bleeding", 0.9, 1, 100);
    tq_put(f->db, "none", 0.1, 2, 200);
    steme_resolution r;
    skeptic(f->db, &r);
    assert_true(fabs(r.conflict - 0.46899559358928117) < 1e-12);
    assert_int_equal(r.status, STEME_SKEPTIC_AGREED);
    assert_int_equal(r.escalation, STEME_QUERY_ESC_NONE);
    steme_resolution_free(&r);

    /* Add 0.6 to "none": 0.9 / 0.7 -> shares 0.5625 / 0.4375, conflict 0.989. */
    tq_put(f->db, "none", 0.6, 3, 300);
    skeptic(f->db, &r);
    double sh[2] = {0.9 / 1.6, 0.7 / 1.6};
    assert_true(fabs(r.conflict - entropy_of(sh, 2)) < 1e-12);
    assert_int_equal(r.escalation, STEME_QUERY_ESC_RAISED);
    steme_resolution_free(&r);
    assert_int_equal(count_open(f->db), 1);
}

static void contested_not_escalated(void **state)
{
    tq_fx *f = *state;
    /* 0.8 / 0.2: conflict 0.722 -> contested (>= 0.5) but below 0.8. */
    tq_put(f->db, "bleeding", 0.8, 1, 100);
    tq_put(f->db, "none", 0.2, 2, 200);
    steme_resolution r;
    skeptic(f->db, &r);
    assert_true(fabs(r.conflict - 0.7219280948873623) < 1e-12);
    assert_int_equal(r.status, STEME_SKEPTIC_CONTESTED);
    assert_int_equal(r.escalation, STEME_QUERY_ESC_NONE);
    steme_resolution_free(&r);
    assert_int_equal(count_open(f->db), 0);
}

static void zero_weights_fall_back_to_counts(void **state)
{
    tq_fx *f = *state;
    tq_put(f->db, "bleeding", 0.0, 1, 100);
    tq_put(f->db, "bleeding", 0.0, 2, 200);
    tq_put(f->db, "none", 0.0, 3, 300);
    steme_resolution r;
    skeptic(f->db, &r);
    assert_true(fabs(r.claims[0].share - 2.0 / 3.0) < 1e-15);
    double sh[2] = {2.0 / 3.0, 1.0 / 3.0};
    assert_true(fabs(r.conflict - entropy_of(sh, 2)) < 1e-12);
    steme_resolution_free(&r);
}

static void empty_set(void **state)
{
    tq_fx *f = *state;
    steme_resolution r;
    skeptic(f->db, &r);
    assert_int_equal(r.n_candidates, 0);
    assert_int_equal(r.n_claims, 0);
    assert_int_equal(r.status, STEME_SKEPTIC_NONE);
    assert_true(r.conflict == 0.0 && r.confidence == 0.0);
    assert_non_null(strstr(r.explanation, "no assertions"));
    steme_resolution_free(&r);
}

typedef struct esc_seen {
    size_t n;
    steme_id16 id;
    double score;
    int subject_ok;
} esc_seen;

static int esc_fn(void *ctx, const steme_escalation *e)
{
    esc_seen *s = ctx;
    s->n++;
    s->id = e->id;
    s->score = e->conflict_score;
    s->subject_ok = e->target_kind == STEME_ESC_TARGET_SUBJECT &&
                    e->subject_len == strlen(TQ_SUBJECT) &&
                    memcmp(e->subject, TQ_SUBJECT, e->subject_len) == 0 &&
                    e->predicate_len == strlen(TQ_PRED) &&
                    memcmp(e->predicate, TQ_PRED, e->predicate_len) == 0;
    return 0;
}

static void escalation_once_while_open(void **state)
{
    tq_fx *f = *state;
    tq_put(f->db, "bleeding", 0.8, 1, 100);
    tq_put(f->db, "none", 0.8, 2, 200);
    steme_resolution r;
    skeptic(f->db, &r);
    assert_int_equal(r.escalation, STEME_QUERY_ESC_RAISED);
    steme_id16 first = r.escalation_id;
    assert_non_null(strstr(r.explanation, "Escalation raised"));
    steme_resolution_free(&r);

    for (int i = 0; i < 3; i++) {
        skeptic(f->db, &r);
        assert_int_equal(r.escalation, STEME_QUERY_ESC_ALREADY_OPEN);
        assert_non_null(strstr(r.explanation, "already open"));
        steme_resolution_free(&r);
    }
    esc_seen seen = {0};
    steme_escalation_cursor c;
    memset(&c, 0, sizeof c);
    steme_escalations *es = steme_db_escalations(f->db);
    assert_int_equal(steme_escalation_list(es, STEME_ESC_OPEN, 0, &c, esc_fn, &seen, NULL),
                     STEME_OK);
    assert_int_equal(seen.n, 1);
    assert_memory_equal(seen.id.bytes, first.bytes, 16);
    assert_true(seen.score == 1.0);
    assert_true(seen.subject_ok);

    /* Resolved: the next contested query raises a new one. */
    assert_int_equal(steme_escalation_resolve(es, &first, "curated", 7, TQ_NOW), STEME_OK);
    skeptic(f->db, &r);
    assert_int_equal(r.escalation, STEME_QUERY_ESC_RAISED);
    assert_memory_not_equal(r.escalation_id.bytes, first.bytes, 16);
    steme_resolution_free(&r);
    assert_int_equal(count_open(f->db), 1);

    /* Another lens never escalates. */
    steme_query_request req;
    tq_request(&req, STEME_LENS_CONSENSUS);
    tq_run(f->db, &req, &r);
    assert_int_equal(r.escalation, STEME_QUERY_ESC_NONE);
    assert_int_equal(r.status, STEME_SKEPTIC_NONE);
    steme_resolution_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(unanimous, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(split_is_one, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(chaotic_and_normalised, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(uneven_three, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(agreed_and_contested_below_threshold, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(contested_not_escalated, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(zero_weights_fall_back_to_counts, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(empty_set, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(escalation_once_while_open, setup, tq_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
