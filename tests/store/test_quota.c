/* test_quota.c - The Meter: costs, windows, limit overrides, a refused
 * operation records nothing, random operations vs a model, 64 threads on one
 * agent never overspend, bad input, persistence across reopen; bulk
 * charges (check_and_record_many) vs the model, a failing add, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "steme/quota.h"
#include "testutil.h"
#include "store_pg.h" /* last: runs the tests on pg too */
#include "store_testlib.h" /* after store_pg.h: opens through it */

#define HOUR STEME_QUOTA_HOUR_MS
#define T0 (1700000000000ull / HOUR * HOUR) /* the start of an hour */

static steme_agent_id agent_n(int n)
{
    steme_agent_id a;
    memset(a.bytes, 0, sizeof a.bytes);
    a.bytes[0] = (uint8_t)n;
    a.bytes[31] = 0xA5;
    return a;
}

static void costs(void **state)
{
    (void)state;
    uint64_t c;
    assert_int_equal(steme_quota_cost(STEME_QUOTA_ASSERT, 0, 0, &c, NULL), STEME_OK);
    assert_int_equal(c, 10);
    assert_int_equal(steme_quota_cost(STEME_QUOTA_VOTE, 0, 1023, &c, NULL), STEME_OK);
    assert_int_equal(c, 1);
    assert_int_equal(steme_quota_cost(STEME_QUOTA_VOTE, 0, 1024, &c, NULL), STEME_OK);
    assert_int_equal(c, 2);
    assert_int_equal(steme_quota_cost(STEME_QUOTA_QUERY, 3, 5000, &c, NULL), STEME_OK);
    assert_int_equal(c, 5 + 3 + 4);
    assert_int_equal(steme_quota_cost(STEME_QUOTA_QUERY, UINT32_MAX, SIZE_MAX, &c, NULL), STEME_OK);
    assert_int_equal(c, 5 + (uint64_t)UINT32_MAX + (uint64_t)SIZE_MAX / 1024);
    steme_error e;
    assert_int_equal(steme_quota_cost(STEME_QUOTA_VOTE, 1, 0, &c, &e), STEME_E_INVALID);
    assert_non_null(strstr(e.message, "lenses"));
    assert_int_equal(steme_quota_cost((steme_quota_op)9, 0, 0, &c, NULL), STEME_E_INVALID);
    assert_int_equal(steme_quota_cost(STEME_QUOTA_VOTE, 0, 0, NULL, NULL), STEME_E_INVALID);
}

static void budget_windows_and_overrides(void **state)
{
    (void)state;
    char *dir = tu_tempdir("quota");
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_quota *q = steme_db_quota(db);
    steme_agent_id a = agent_n(1), b = agent_n(2);
    steme_quota_result r;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(steme_quota_check_and_record(q, &a, STEME_QUOTA_ASSERT, 0, 0,
                                                      T0 + (uint64_t)i, &r), STEME_OK);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, 10000 - 10 * (uint64_t)(i + 1));
        assert_int_equal(r.reset_at, T0 + HOUR);
    }
    assert_int_equal(steme_quota_check_and_record(q, &a, STEME_QUOTA_VOTE, 0, 0, T0 + HOUR - 1,
                                                  &r), STEME_OK);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.cost, 1);
    /* next hour: a fresh budget; b unaffected */
    assert_int_equal(steme_quota_check_and_record(q, &a, STEME_QUOTA_VOTE, 0, 0, T0 + HOUR, &r),
                     STEME_OK);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 9999);
    assert_int_equal(r.reset_at, T0 + 2 * HOUR);
    steme_quota_status st;
    assert_int_equal(steme_quota_get_status(q, &b, T0, &st), STEME_OK);
    assert_int_equal(st.used, 0);
    assert_int_equal(st.limit, STEME_QUOTA_DEFAULT_LIMIT);
    assert_false(st.is_override);

    /* an override of 25 tokens */
    assert_int_equal(steme_quota_set_limit(q, &b, 25), STEME_OK);
    assert_int_equal(steme_quota_check_and_record(q, &b, STEME_QUOTA_ASSERT, 0, 0, T0, &r), 0);
    assert_true(r.allowed);
    assert_int_equal(steme_quota_check_and_record(q, &b, STEME_QUOTA_ASSERT, 0, 2047, T0, &r), 0);
    assert_true(r.allowed);                    /* 11: 21 used */
    assert_int_equal(r.remaining, 4);
    assert_int_equal(steme_quota_check_and_record(q, &b, STEME_QUOTA_QUERY, 2, 0, T0, &r), 0);
    assert_false(r.allowed);                   /* 7 > 4: refused, records nothing */
    assert_int_equal(r.cost, 7);
    assert_int_equal(r.remaining, 4);
    assert_int_equal(steme_quota_check_and_record(q, &b, STEME_QUOTA_VOTE, 0, 3 * 1024, T0, &r),
                     0);
    assert_true(r.allowed);                    /* exactly the last 4 */
    assert_int_equal(r.remaining, 0);
    assert_int_equal(steme_quota_get_status(q, &b, T0 + 5, &st), STEME_OK);
    assert_int_equal(st.used, 25);
    assert_int_equal(st.limit, 25);
    assert_true(st.is_override);
    assert_int_equal(st.assert_ops, 2);
    assert_int_equal(st.vote_ops, 1);
    assert_int_equal(st.query_ops, 0);
    steme_db_close(db);

    /* persistence: usage and override survive reopen; clearing restores the default */
    db = st_open_db(dir, STEME_KV_HYBRID);
    q = steme_db_quota(db);
    assert_int_equal(steme_quota_get_status(q, &b, T0, &st), STEME_OK);
    assert_int_equal(st.used, 25);
    assert_int_equal(st.limit, 25);
    assert_int_equal(steme_quota_get_status(q, &a, T0, &st), STEME_OK);
    assert_int_equal(st.used, 10000);
    assert_int_equal(st.assert_ops, 1000);
    assert_int_equal(steme_quota_set_limit(q, &b, 0), STEME_OK);
    assert_int_equal(steme_quota_get_status(q, &b, T0, &st), STEME_OK);
    assert_int_equal(st.limit, STEME_QUOTA_DEFAULT_LIMIT);
    assert_int_equal(st.remaining, STEME_QUOTA_DEFAULT_LIMIT - 25);
    assert_false(st.is_override);
    steme_db_close(db);
    db = st_open_db(dir, STEME_KV_HYBRID);
    assert_int_equal(steme_quota_get_status(steme_db_quota(db), &b, T0, &st), STEME_OK);
    assert_false(st.is_override);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

static void bad_input_changes_nothing(void **state)
{
    (void)state;
    char *dir = tu_tempdir("quota-bad");
    steme_db *db = st_open_db(dir, STEME_KV_MEM);
    steme_quota *q = steme_db_quota(db);
    steme_agent_id a = agent_n(3);
    steme_quota_result r;
    assert_null(steme_db_quota(NULL));
    assert_int_equal(steme_quota_check_and_record(NULL, &a, STEME_QUOTA_VOTE, 0, 0, T0, &r),
                     STEME_E_INVALID);
    assert_int_equal(steme_quota_check_and_record(q, NULL, STEME_QUOTA_VOTE, 0, 0, T0, &r),
                     STEME_E_INVALID);
    assert_int_equal(steme_quota_check_and_record(q, &a, STEME_QUOTA_VOTE, 0, 0, T0, NULL),
                     STEME_E_INVALID);
    assert_int_equal(steme_quota_check_and_record(q, &a, (steme_quota_op)0, 0, 0, T0, &r),
                     STEME_E_INVALID);
    assert_false(r.allowed);
    assert_int_equal(steme_quota_check_and_record(q, &a, STEME_QUOTA_ASSERT, 2, 0, T0, &r),
                     STEME_E_INVALID);
    assert_non_null(strstr(steme_db_errmsg(db), "lenses"));
    /* an oversized payload is refused, never wrapped into a small cost */
    assert_int_equal(steme_quota_check_and_record(q, &a, STEME_QUOTA_QUERY, 6, SIZE_MAX, T0, &r),
                     STEME_OK);
    assert_false(r.allowed);
    assert_true(r.cost > STEME_QUOTA_DEFAULT_LIMIT);
    assert_int_equal(r.remaining, STEME_QUOTA_DEFAULT_LIMIT);
    assert_int_equal(steme_quota_set_limit(q, &a, UINT64_MAX), STEME_OK);
    assert_int_equal(steme_quota_check_and_record(q, &a, STEME_QUOTA_VOTE, 0, SIZE_MAX, T0, &r),
                     STEME_OK);
    assert_true(r.allowed); /* a limit of 2^64-1 does allow it */
    assert_int_equal(r.cost, 1 + (uint64_t)SIZE_MAX / 1024);
    assert_int_equal(r.remaining, UINT64_MAX - r.cost);
    assert_int_equal(steme_quota_set_limit(q, &a, 0), STEME_OK);
    /* the end of time saturates reset_at */
    assert_int_equal(steme_quota_check_and_record(q, &a, STEME_QUOTA_VOTE, 0, 0, UINT64_MAX, &r),
                     STEME_OK);
    assert_true(r.allowed);
    assert_int_equal(r.reset_at, UINT64_MAX);
    steme_quota_status st;
    assert_int_equal(steme_quota_get_status(q, NULL, T0, &st), STEME_E_INVALID);
    assert_int_equal(steme_quota_get_status(q, &a, T0, NULL), STEME_E_INVALID);
    assert_int_equal(steme_quota_set_limit(q, NULL, 5), STEME_E_INVALID);
    assert_int_equal(steme_quota_set_limit(NULL, &a, 5), STEME_E_INVALID);
    steme_agent_id z = agent_n(4);
    assert_int_equal(steme_quota_get_status(q, &z, T0, &st), STEME_OK);
    assert_int_equal(st.used, 0);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

/* ------------------------------------------------ property: vs a model */

#define P_AGENTS 3
#define P_HOURS 4

static void random_ops_vs_model(void **state)
{
    (void)state;
    uint64_t seed0 = tu_seed(0x9e7e5);
    for (uint64_t s = 0; s < 3; s++) {
        tu_rng rng;
        tu_rng_seed(&rng, seed0 + s);
        char *dir = tu_tempdir("quota-prop");
        steme_db *db = st_open_db(dir, STEME_KV_MEM);
        steme_quota *q = steme_db_quota(db);
        uint64_t used[P_AGENTS][P_HOURS] = {{0}}, limit[P_AGENTS];
        for (int i = 0; i < P_AGENTS; i++)
            limit[i] = STEME_QUOTA_DEFAULT_LIMIT;
        for (int step = 0; step < (sp_on_pg ? 600 : 3000); step++) {
            int ai = (int)tu_rng_below(&rng, P_AGENTS);
            steme_agent_id a = agent_n(10 + ai);
            if (tu_rng_below(&rng, 100) < 3) { /* change the limit now and then */
                uint64_t l = tu_rng_below(&rng, 4) ? 50 + tu_rng_below(&rng, 500) : 0;
                assert_int_equal(steme_quota_set_limit(q, &a, l), STEME_OK);
                limit[ai] = l ? l : STEME_QUOTA_DEFAULT_LIMIT;
                continue;
            }
            int hi = (int)tu_rng_below(&rng, P_HOURS);
            uint64_t now = T0 + (uint64_t)hi * HOUR + tu_rng_below(&rng, HOUR);
            steme_quota_op op = (steme_quota_op)(1 + tu_rng_below(&rng, 3));
            unsigned lenses = op == STEME_QUOTA_QUERY ? (unsigned)tu_rng_below(&rng, 7) : 0;
            size_t payload = (size_t)tu_rng_below(&rng, 64 * 1024);
            uint64_t base = op == STEME_QUOTA_ASSERT ? 10 : op == STEME_QUOTA_VOTE ? 1 : 5 + lenses;
            uint64_t cost = base + payload / 1024;
            int allow = used[ai][hi] + cost <= limit[ai];
            if (allow)
                used[ai][hi] += cost;
            steme_quota_result r;
            assert_int_equal(steme_quota_check_and_record(q, &a, op, lenses, payload, now, &r),
                             STEME_OK);
            assert_int_equal(r.allowed, allow);
            assert_int_equal(r.cost, cost);
            assert_int_equal(r.remaining, used[ai][hi] < limit[ai] ? limit[ai] - used[ai][hi] : 0);
            assert_int_equal(r.reset_at, T0 + (uint64_t)(hi + 1) * HOUR);
        }
        steme_db_close(db);
        db = st_open_db(dir, STEME_KV_MEM); /* MEM: the state comes back by log replay... */
        q = steme_db_quota(db);
        for (int ai = 0; ai < P_AGENTS; ai++) {
            steme_agent_id a = agent_n(10 + ai);
            steme_quota_status st;
            assert_int_equal(steme_quota_get_status(q, &a, T0, &st), STEME_OK);
            /* ...for the limits; usage is not logged, so MEM forgets it
             * (on pg nothing is forgotten: the table is the database) */
            assert_int_equal(st.limit, limit[ai]);
            assert_int_equal(st.used, sp_on_pg ? used[ai][0] : 0);
        }
        steme_db_close(db);
        tu_rmtree_free(dir);
    }
}

/* -------------------------------------------- bulk charges (_many) */

typedef struct add_log {
    int calls[64];
    int fail_at;   /* -1: never */
} add_log;

static int add_count(void *ctx, size_t i, steme_kv_batch *b)
{
    (void)b;
    add_log *l = ctx;
    if ((int)i == l->fail_at)
        return STEME_E_NOMEM;
    l->calls[i]++;
    return STEME_OK;
}

/* Random batches of charges vs the model: each charge in a batch sees what
 * the earlier ones of its agent and hour spent; add runs exactly for the
 * allowed ones; the stored usage is the model's. */
static void many_vs_model(void **state)
{
    (void)state;
    uint64_t seed0 = tu_seed(0x3a17);
    for (uint64_t s = 0; s < 2; s++) {
        tu_rng rng;
        tu_rng_seed(&rng, seed0 + s);
        char *dir = tu_tempdir("quota-many");
        steme_db *db = st_open_db(dir, s ? STEME_KV_HYBRID : STEME_KV_MEM);
        steme_quota *q = steme_db_quota(db);
        uint64_t used[P_AGENTS][P_HOURS] = {{0}}, limit[P_AGENTS];
        for (int i = 0; i < P_AGENTS; i++) {
            steme_agent_id a = agent_n(40 + i);
            limit[i] = 30 + 20 * (uint64_t)i;
            assert_int_equal(steme_quota_set_limit(q, &a, limit[i]), STEME_OK);
        }
        for (int step = 0; step < (sp_on_pg ? 40 : 150); step++) {
            size_t n = 1 + (size_t)tu_rng_below(&rng, 40);
            steme_agent_id agents[40];
            uint64_t now[40];
            int ai[40], hi[40];
            for (size_t i = 0; i < n; i++) {
                ai[i] = (int)tu_rng_below(&rng, P_AGENTS);
                hi[i] = (int)tu_rng_below(&rng, P_HOURS);
                agents[i] = agent_n(40 + ai[i]);
                now[i] = T0 + (uint64_t)hi[i] * HOUR + tu_rng_below(&rng, HOUR);
            }
            unsigned lenses = (unsigned)tu_rng_below(&rng, 3);
            steme_quota_result outs[40];
            int rcs[40];
            add_log log = {{0}, -1};
            assert_int_equal(steme_quota_check_and_record_many(q, n, agents, STEME_QUOTA_QUERY,
                                                               lenses, 0, now, add_count, &log,
                                                               outs, rcs),
                             STEME_OK);
            uint64_t cost = 5 + lenses;
            assert_int_equal(log.calls[n], 1);   /* the end-of-batch call */
            for (size_t i = 0; i < n; i++) {
                uint64_t *u = &used[ai[i]][hi[i]];
                int allow = *u + cost <= limit[ai[i]];
                if (allow)
                    *u += cost;
                assert_int_equal(rcs[i], STEME_OK);
                assert_int_equal(outs[i].allowed, allow);
                assert_int_equal(log.calls[i], allow);
                assert_int_equal(outs[i].cost, cost);
                assert_int_equal(outs[i].limit, limit[ai[i]]);
                assert_int_equal(outs[i].remaining, limit[ai[i]] - *u);
                assert_int_equal(outs[i].reset_at, T0 + (uint64_t)(hi[i] + 1) * HOUR);
            }
        }
        for (int a = 0; a < P_AGENTS; a++)
            for (int h = 0; h < P_HOURS; h++) {
                steme_agent_id ag = agent_n(40 + a);
                steme_quota_status st;
                assert_int_equal(steme_quota_get_status(q, &ag, T0 + (uint64_t)h * HOUR, &st),
                                 STEME_OK);
                assert_int_equal(st.used, used[a][h]);
            }
        steme_db_close(db);
        tu_rmtree_free(dir);
    }
}

/* A failing add cancels the whole call; bad input is refused; neither
 * charges anything. */
static void many_failure_and_bad_input(void **state)
{
    (void)state;
    char *dir = tu_tempdir("quota-many-bad");
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_quota *q = steme_db_quota(db);
    steme_agent_id agents[3] = {agent_n(90), agent_n(91), agent_n(90)};
    uint64_t now[3] = {T0, T0, T0};
    steme_quota_result outs[3];
    int rcs[3];
    add_log log = {{0}, 2};
    assert_int_equal(steme_quota_check_and_record_many(q, 3, agents, STEME_QUOTA_VOTE, 0, 0, now,
                                                       add_count, &log, outs, rcs),
                     STEME_E_NOMEM);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rcs[i], STEME_E_NOMEM);
        assert_false(outs[i].allowed);
    }
    steme_quota_status st;
    assert_int_equal(steme_quota_get_status(q, &agents[0], T0, &st), STEME_OK);
    assert_int_equal(st.used, 0);
    assert_int_equal(steme_quota_check_and_record_many(q, 0, NULL, STEME_QUOTA_VOTE, 0, 0, NULL,
                                                       NULL, NULL, NULL, NULL),
                     STEME_OK);
    assert_int_equal(steme_quota_check_and_record_many(q, 3, NULL, STEME_QUOTA_VOTE, 0, 0, now,
                                                       NULL, NULL, outs, rcs),
                     STEME_E_INVALID);
    assert_int_equal(steme_quota_check_and_record_many(q, STEME_QUOTA_MANY_MAX + 1, agents,
                                                       STEME_QUOTA_VOTE, 0, 0, now, NULL, NULL,
                                                       outs, rcs),
                     STEME_E_INVALID);
    assert_int_equal(steme_quota_check_and_record_many(q, 3, agents, STEME_QUOTA_VOTE, 2, 0, now,
                                                       NULL, NULL, outs, rcs),
                     STEME_E_INVALID);   /* lenses on a vote */
    assert_int_equal(rcs[1], STEME_E_INVALID);
    assert_int_equal(steme_quota_check_and_record_many(NULL, 3, agents, STEME_QUOTA_VOTE, 0, 0,
                                                       now, NULL, NULL, outs, rcs),
                     STEME_E_INVALID);
    assert_int_equal(steme_quota_get_status(q, &agents[1], T0, &st), STEME_OK);
    assert_int_equal(st.used, 0);
    /* add NULL: plain charges, one write. */
    assert_int_equal(steme_quota_check_and_record_many(q, 3, agents, STEME_QUOTA_VOTE, 0, 0, now,
                                                       NULL, NULL, outs, rcs),
                     STEME_OK);
    assert_int_equal(steme_quota_get_status(q, &agents[0], T0, &st), STEME_OK);
    assert_int_equal(st.used, 2);
    assert_int_equal(st.vote_ops, 2);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

/* ------------------------------------------- concurrency: 64 threads */

#define THREADS 64
#define OPS_PER_THREAD 150

typedef struct worker {
    steme_quota *q;
    steme_agent_id agent;
    uint64_t seed;
    uint64_t spent;
    uint64_t refused;
    int failed;
} worker;

static void *hammer(void *arg)
{
    worker *w = arg;
    tu_rng rng;
    tu_rng_seed(&rng, w->seed);
    for (int i = 0; i < OPS_PER_THREAD; i++) {
        steme_quota_op op = (steme_quota_op)(1 + tu_rng_below(&rng, 3));
        unsigned lenses = op == STEME_QUOTA_QUERY ? (unsigned)tu_rng_below(&rng, 4) : 0;
        steme_quota_result r;
        if (steme_quota_check_and_record(w->q, &w->agent, op, lenses,
                                         (size_t)tu_rng_below(&rng, 4096), T0 + 17, &r) != STEME_OK)
            w->failed = 1;
        if (r.allowed)
            w->spent += r.cost;
        else
            w->refused++;
    }
    return NULL;
}

static void threads_never_overspend(void **state)
{
    (void)state;
    char *dir = tu_tempdir("quota-mt");
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_quota *q = steme_db_quota(db);
    steme_agent_id a = agent_n(77);
    const uint64_t limit = 20000; /* about 2/3 of what the threads try to spend */
    assert_int_equal(steme_quota_set_limit(q, &a, limit), STEME_OK);
    pthread_t t[THREADS];
    worker w[THREADS];
    uint64_t seed = tu_seed(64);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.q = q, .agent = a, .seed = seed + (uint64_t)i};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
    }
    uint64_t spent = 0, refused = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_false(w[i].failed);
        spent += w[i].spent;
        refused += w[i].refused;
    }
    steme_quota_status st;
    assert_int_equal(steme_quota_get_status(q, &a, T0, &st), STEME_OK);
    assert_true(st.used <= limit);
    assert_int_equal(st.used, spent);
    assert_true(refused > 0);
    assert_true(st.assert_ops + st.vote_ops + st.query_ops ==
                (uint64_t)THREADS * OPS_PER_THREAD - refused);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(costs),
        cmocka_unit_test(budget_windows_and_overrides),
        cmocka_unit_test(bad_input_changes_nothing),
        cmocka_unit_test(random_ops_vs_model),
        cmocka_unit_test(threads_never_overspend),
        cmocka_unit_test(many_vs_model),
        cmocka_unit_test(many_failure_and_bad_input),
    };
    int rc = cmocka_run_group_tests_name("embedded", tests, NULL, NULL);
    rc |= sp_run_on_pg("pg", tests);
    return rc;
}
