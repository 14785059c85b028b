/* test_trust_rank.c - TrustRank: defaults, outcomes, clamping, decay
 * (closed form), listing by rank, bad input, and a property run of random
 * outcomes and decays against an in-memory model. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/trust.h"
#include "testutil.h"
#include "store_pg.h" /* last: runs the tests on pg too */
#include "store_testlib.h" /* after store_pg.h: opens through it */

#define DAY_MS 86400000ull

static steme_agent_id agent_n(unsigned n)
{
    steme_agent_id a;
    memset(&a, 0, sizeof a);
    a.bytes[0] = (uint8_t)(n >> 8);
    a.bytes[1] = (uint8_t)n;
    a.bytes[31] = 0xA5;
    return a;
}

static int setup(void **state)
{
    return st_tempdir_setup(state, "trust");
}

static void default_and_outcomes(void **state)
{
    steme_db *db = st_open_db(*state, STEME_KV_HYBRID);
    steme_trust *t = steme_db_trust(db);
    steme_agent_id a = agent_n(1);
    steme_trust_rank r;
    int dflt = -1;
    assert_int_equal(steme_trust_get(t, &a, &r, &dflt), STEME_OK);
    assert_int_equal(dflt, 1);
    assert_true(r.score == 0.5);
    assert_int_equal(r.assertions_count, 0);
    assert_int_equal(r.accuracy_count, 0);
    assert_memory_equal(r.agent.bytes, a.bytes, 32);

    assert_int_equal(steme_trust_record_outcome(t, &a, true, 1000, &r), STEME_OK);
    assert_true(r.score == 0.5 + 0.05);
    assert_int_equal(r.assertions_count, 1);
    assert_int_equal(r.accuracy_count, 1);
    assert_int_equal(r.last_updated, 1000);
    assert_int_equal(steme_trust_record_outcome(t, &a, false, 900, &r), STEME_OK);
    assert_true(r.score == 0.5 + 0.05 - 0.10);
    assert_int_equal(r.assertions_count, 2);
    assert_int_equal(r.accuracy_count, 1);
    assert_int_equal(r.last_updated, 1000); /* a late outcome never moves the clock back */
    assert_int_equal(steme_trust_get(t, &a, &r, &dflt), STEME_OK);
    assert_int_equal(dflt, 0);
    assert_int_equal(r.assertions_count, 2);

    /* clamping at both ends */
    steme_agent_id b = agent_n(2);
    for (int i = 0; i < 30; i++)
        assert_int_equal(steme_trust_record_outcome(t, &b, true, 2000 + i, &r), STEME_OK);
    assert_true(r.score == 1.0);
    assert_int_equal(r.accuracy_count, 30);
    for (int i = 0; i < 30; i++)
        assert_int_equal(steme_trust_record_outcome(t, &b, false, 3000 + i, &r), STEME_OK);
    assert_true(r.score == 0.0);
    assert_int_equal(r.assertions_count, 60);
    assert_int_equal(r.accuracy_count, 30);
    steme_db_close(db);

    db = st_open_db(*state, STEME_KV_HYBRID); /* durable across close/reopen */
    t = steme_db_trust(db);
    assert_int_equal(steme_trust_get(t, &b, &r, &dflt), STEME_OK);
    assert_int_equal(dflt, 0);
    assert_true(r.score == 0.0);
    assert_int_equal(r.assertions_count, 60);
    assert_int_equal(r.last_updated, 3029);
    steme_db_close(db);
}

static void decay_closed_form(void **state)
{
    steme_db *db = st_open_db(*state, STEME_KV_MEM);
    steme_trust *t = steme_db_trust(db);
    steme_agent_id hi = agent_n(1), lo = agent_n(2), neutral = agent_n(3), future = agent_n(4);
    steme_trust_rank r;
    uint64_t t0 = 1000 * DAY_MS;
    for (int i = 0; i < 8; i++)
        assert_int_equal(steme_trust_record_outcome(t, &hi, true, t0, NULL), STEME_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(steme_trust_record_outcome(t, &lo, false, t0, NULL), STEME_OK);
    assert_int_equal(steme_trust_record_outcome(t, &neutral, true, t0, NULL), STEME_OK);
    assert_int_equal(steme_trust_record_outcome(t, &neutral, false, t0, NULL), STEME_OK);
    assert_int_equal(steme_trust_record_outcome(t, &neutral, true, t0, NULL), STEME_OK);
    assert_int_equal(steme_trust_record_outcome(t, &future, true, t0 + 100 * DAY_MS, NULL),
                     STEME_OK);
    steme_trust_rank h0, l0, n0;
    assert_int_equal(steme_trust_get(t, &hi, &h0, NULL), STEME_OK);
    assert_int_equal(steme_trust_get(t, &lo, &l0, NULL), STEME_OK);
    assert_int_equal(steme_trust_get(t, &neutral, &n0, NULL), STEME_OK);

    /* several decays with the default half-life (0) compose to one: the
     * closed form over the whole elapsed time */
    uint64_t steps[] = {1 * DAY_MS, 7 * DAY_MS, 30 * DAY_MS, 31 * DAY_MS + 12345, 90 * DAY_MS};
    uint64_t n;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        assert_int_equal(steme_trust_decay(t, t0 + steps[i], 0, &n), STEME_OK);
        /* hi and lo; neutral unless its sum came out at exactly 0.5; future skipped */
        assert_int_equal(n, 2 + (n0.score != 0.5));
    }
    double f = pow(0.5, 90.0 / 30.0);
    assert_int_equal(steme_trust_get(t, &hi, &r, NULL), STEME_OK);
    assert_true(fabs(r.score - (0.5 + (h0.score - 0.5) * f)) < 1e-12);
    assert_int_equal(r.last_updated, t0 + 90 * DAY_MS);
    assert_int_equal(r.assertions_count, 8);
    assert_int_equal(steme_trust_get(t, &lo, &r, NULL), STEME_OK);
    assert_true(fabs(r.score - (0.5 + (l0.score - 0.5) * f)) < 1e-12);
    assert_int_equal(steme_trust_get(t, &neutral, &r, NULL), STEME_OK);
    assert_true(fabs(r.score - (0.5 + (n0.score - 0.5) * f)) < 1e-12);
    assert_int_equal(steme_trust_get(t, &future, &r, NULL), STEME_OK);
    assert_true(r.score == 0.55); /* now <= last_updated: untouched */
    assert_int_equal(r.last_updated, t0 + 100 * DAY_MS);

    /* exactly one half-life halves the distance to 0.5; an explicit half-life */
    steme_agent_id x = agent_n(9);
    assert_int_equal(steme_trust_record_outcome(t, &x, false, 0, NULL), STEME_OK); /* 0.4 */
    assert_int_equal(steme_trust_decay(t, 1000, 1000.0, NULL), STEME_OK);
    assert_int_equal(steme_trust_get(t, &x, &r, NULL), STEME_OK);
    assert_true(fabs(r.score - 0.45) < 1e-15);
    /* same `now` again: nothing left to decay */
    assert_int_equal(steme_trust_decay(t, 1000, 1000.0, &n), STEME_OK);
    assert_int_equal(steme_trust_get(t, &x, &r, NULL), STEME_OK);
    assert_true(fabs(r.score - 0.45) < 1e-15);
    steme_db_close(db);
}

typedef struct listed {
    size_t n;
    steme_trust_rank r[64];
} listed;

static int collect(void *ctx, const steme_trust_rank *r)
{
    listed *l = ctx;
    l->r[l->n++] = *r;
    return 0;
}

static void list_by_rank_paged(void **state)
{
    steme_db *db = st_open_db(*state, STEME_KV_HYBRID);
    steme_trust *t = steme_db_trust(db);
    /* 40 agents; agent i gets i % 8 accurate outcomes (ties in score) */
    for (unsigned i = 0; i < 40; i++) {
        steme_agent_id a = agent_n(i);
        for (unsigned j = 0; j < i % 8 + 1; j++)
            assert_int_equal(steme_trust_record_outcome(t, &a, j > 0, 5, NULL), STEME_OK);
    }
    listed all = {0};
    steme_trust_cursor cur = {0};
    size_t n = 0;
    for (int pages = 0; pages < 20; pages++) {
        assert_int_equal(steme_trust_list_by_rank(t, 7, &cur, collect, &all, &n), STEME_OK);
        if (n == 0)
            break;
        assert_true(n <= 7);
    }
    assert_int_equal(all.n, 40);
    for (size_t i = 1; i < all.n; i++) {
        assert_true(all.r[i - 1].score >= all.r[i].score);
        if (all.r[i - 1].score == all.r[i].score)
            assert_true(memcmp(all.r[i - 1].agent.bytes, all.r[i].agent.bytes, 32) < 0);
    }
    /* a stop from the callback counts the entry it stopped on */
    listed one = {0};
    memset(&cur, 0, sizeof cur);
    assert_int_equal(steme_trust_list_by_rank(t, 0, &cur, collect, &one, &n), STEME_OK);
    assert_int_equal(n, 40);
    steme_db_close(db);
}

static void bad_input_changes_nothing(void **state)
{
    steme_db *db = st_open_db(*state, STEME_KV_HYBRID);
    steme_trust *t = steme_db_trust(db);
    steme_agent_id a = agent_n(7);
    steme_trust_rank r;
    assert_int_equal(steme_trust_record_outcome(t, &a, true, 10 * DAY_MS, NULL), STEME_OK);
    assert_null(steme_db_trust(NULL));
    assert_int_equal(steme_trust_get(NULL, &a, &r, NULL), STEME_E_INVALID);
    assert_int_equal(steme_trust_get(t, NULL, &r, NULL), STEME_E_INVALID);
    assert_int_equal(steme_trust_get(t, &a, NULL, NULL), STEME_E_INVALID);
    assert_non_null(strstr(steme_db_errmsg(db), "NULL"));
    assert_int_equal(steme_trust_record_outcome(NULL, &a, true, 1, NULL), STEME_E_INVALID);
    assert_int_equal(steme_trust_record_outcome(t, NULL, true, 1, NULL), STEME_E_INVALID);
    uint64_t n = 99;
    assert_int_equal(steme_trust_decay(t, 20 * DAY_MS, NAN, &n), STEME_E_INVALID);
    assert_int_equal(n, 0);
    assert_non_null(strstr(steme_db_errmsg(db), "half-life"));
    assert_int_equal(steme_trust_decay(t, 20 * DAY_MS, -1.0, NULL), STEME_E_INVALID);
    assert_int_equal(steme_trust_decay(t, 20 * DAY_MS, INFINITY, NULL), STEME_E_INVALID);
    assert_int_equal(steme_trust_decay(t, 20 * DAY_MS, -0.0 - 1e-300, NULL), STEME_E_INVALID);
    assert_int_equal(steme_trust_decay(NULL, 20 * DAY_MS, 0, NULL), STEME_E_INVALID);
    steme_trust_cursor cur = {0};
    assert_int_equal(steme_trust_list_by_rank(t, 0, NULL, collect, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_trust_list_by_rank(t, 0, &cur, NULL, NULL, NULL), STEME_E_INVALID);
    cur.started = 1;
    cur.score = NAN;
    listed l = {0};
    assert_int_equal(steme_trust_list_by_rank(t, 0, &cur, collect, &l, NULL), STEME_E_INVALID);
    assert_int_equal(l.n, 0);
    /* nothing changed */
    int dflt;
    assert_int_equal(steme_trust_get(t, &a, &r, &dflt), STEME_OK);
    assert_int_equal(dflt, 0);
    assert_true(r.score == 0.55);
    assert_int_equal(r.last_updated, 10 * DAY_MS);
    assert_int_equal(r.assertions_count, 1);
    steme_db_close(db);
}

/* ------------------------------------------------------------ property */

#define NAGENTS 12

typedef struct model_rank {
    int present;
    double score;
    uint64_t last, asserts, accurate;
} model_rank;

static void model_outcome(model_rank *m, bool ok, uint64_t ts)
{
    if (!m->present) {
        memset(m, 0, sizeof *m);
        m->present = 1;
        m->score = 0.5;
    }
    m->score = ok ? m->score + 0.05 : m->score - 0.10;
    m->score = m->score > 1.0 ? 1.0 : m->score < 0.0 ? 0.0 : m->score;
    m->asserts++;
    m->accurate += ok;
    if (ts > m->last)
        m->last = ts;
}

static void model_decay(model_rank *m, uint64_t now, double hl)
{
    if (!m->present || now <= m->last || m->score == 0.5)
        return;
    double s = 0.5 + (m->score - 0.5) * pow(0.5, (double)(now - m->last) / hl);
    m->score = s < 0.0 ? 0.0 : s > 1.0 ? 1.0 : s;
    m->last = now;
}

static void check_model(steme_trust *t, const model_rank *m, uint64_t seed, int step)
{
    for (unsigned i = 0; i < NAGENTS; i++) {
        steme_agent_id a = agent_n(i);
        steme_trust_rank r;
        int dflt;
        assert_int_equal(steme_trust_get(t, &a, &r, &dflt), STEME_OK);
        if (dflt != !m[i].present || r.score != (m[i].present ? m[i].score : 0.5) ||
            r.last_updated != m[i].last || r.assertions_count != m[i].asserts ||
            r.accuracy_count != m[i].accurate)
            fail_msg("seed %llu step %d agent %u: store (%d %.17g %llu %llu %llu) model "
                     "(%d %.17g %llu %llu %llu)", (unsigned long long)seed, step, i, dflt,
                     r.score, (unsigned long long)r.last_updated,
                     (unsigned long long)r.assertions_count,
                     (unsigned long long)r.accuracy_count, !m[i].present, m[i].score,
                     (unsigned long long)m[i].last, (unsigned long long)m[i].asserts,
                     (unsigned long long)m[i].accurate);
    }
}

static void property_vs_model(void **state)
{
    uint64_t base = tu_seed(20240601);
    for (uint64_t s = 0; s < 3; s++) {
        uint64_t seed = base + s;
        tu_rng rng;
        tu_rng_seed(&rng, seed);
        char *dir = tu_tempdir("trust-prop");
        steme_db *db = st_open_db(dir, STEME_KV_MEM);
        steme_trust *t = steme_db_trust(db);
        model_rank m[NAGENTS];
        memset(m, 0, sizeof m);
        uint64_t clock = 1000 * DAY_MS;
        for (int step = 0; step < 300; step++) {
            uint64_t op = tu_rng_below(&rng, 100);
            if (op < 85) {
                unsigned i = (unsigned)tu_rng_below(&rng, NAGENTS);
                bool ok = tu_rng_below(&rng, 3) != 0;
                /* mostly forward in time, sometimes a late report */
                uint64_t ts = tu_rng_below(&rng, 8) ? clock + tu_rng_below(&rng, DAY_MS)
                                                    : clock - tu_rng_below(&rng, 5 * DAY_MS);
                clock += tu_rng_below(&rng, DAY_MS / 4);
                steme_agent_id a = agent_n(i);
                assert_int_equal(steme_trust_record_outcome(t, &a, ok, ts, NULL), STEME_OK);
                model_outcome(&m[i], ok, ts);
            } else if (op < 97) {
                clock += tu_rng_below(&rng, 20 * DAY_MS);
                double hl = tu_rng_below(&rng, 2) ? 0.0 : (double)(1 + tu_rng_below(&rng, 60 * DAY_MS));
                assert_int_equal(steme_trust_decay(t, clock, hl, NULL), STEME_OK);
                for (unsigned i = 0; i < NAGENTS; i++)
                    model_decay(&m[i], clock, hl == 0.0 ? 30.0 * DAY_MS : hl);
            } else {
                check_model(t, m, seed, step);
            }
        }
        check_model(t, m, seed, -1);
        steme_db_close(db);
        db = st_open_db(dir, STEME_KV_MEM); /* MEM engine: the state is rebuilt by replay */
        check_model(steme_db_trust(db), m, seed, -2);
        steme_db_close(db);
        tu_rmtree_free(dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(default_and_outcomes, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(decay_closed_form, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(list_by_rank_paged, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(bad_input_changes_nothing, setup, st_tempdir_teardown),
        cmocka_unit_test(property_vs_model),
    };
    int rc = cmocka_run_group_tests_name("embedded", tests, NULL, NULL);
    rc |= sp_run_on_pg("pg", tests);
    return rc;
}
