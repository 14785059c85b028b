/* test_audit.c - the audit trail: put/get, query-id reuse, range listings
 * with pages and cursors vs a model, bad input, persistence across reopen;
 * charged puts (one write with the Meter's charge): refusals and invalid
 * records write nothing, and what was acknowledged survives kill -9. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "steme/audit.h"
#include "testutil.h"
#include "store_pg.h" /* before store_testlib.h: charged puts run on pg too */
#include "store_testlib.h"

static steme_hash g_cands[3] = {{{1}}, {{2}}, {{3}}};

static steme_query_audit make(int agent, uint64_t ts, uint32_t qid)
{
    steme_query_audit q;
    memset(&q, 0, sizeof q);
    memcpy(q.query_id.bytes, &qid, sizeof qid);
    q.query_id.bytes[15] = 0x5a;
    q.agent.bytes[0] = (uint8_t)agent;
    q.timestamp = ts;
    q.subject = "aspirin";
    q.subject_len = 7;
    q.predicate = "dose";
    q.predicate_len = 4;
    q.lens = STEME_LENS_CONSENSUS;
    q.candidates = g_cands;
    q.n_candidates = qid % 4;
    q.has_winner = qid % 2;
    q.winner = g_cands[0];
    q.confidence = 0.75;
    q.duration_us = qid;
    return q;
}

typedef struct seen {
    size_t n;
    uint64_t ts[4096];
    uint32_t qid[4096];
    int stop_after;   /* 0: never */
} seen;

static int seen_fn(void *ctx, const steme_query_audit *q)
{
    seen *s = ctx;
    s->ts[s->n] = q->timestamp;
    memcpy(&s->qid[s->n], q->query_id.bytes, 4);
    s->n++;
    return s->stop_after && (int)s->n >= s->stop_after;
}

static void put_get_reopen(void **state)
{
    (void)state;
    char *dir = tu_tempdir("audit");
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_audit *au = steme_db_audit(db);
    steme_query_audit q = make(1, 1000, 7);
    assert_int_equal(steme_audit_put(au, &q), STEME_OK);
    assert_int_equal(steme_audit_put(au, &q), STEME_OK); /* a retry: harmless */
    steme_query_audit other = make(2, 1000, 7);          /* same id, another agent */
    assert_int_equal(steme_audit_put(au, &other), STEME_E_EXISTS);
    assert_non_null(strstr(steme_db_errmsg(db), "query id"));
    other = make(1, 1001, 7);                            /* same id, another time */
    assert_int_equal(steme_audit_put(au, &other), STEME_E_EXISTS);
    steme_db_close(db);

    db = st_open_db(dir, STEME_KV_HYBRID);
    au = steme_db_audit(db);
    steme_buf buf = STEME_BUF_INIT;
    steme_query_audit got;
    assert_int_equal(steme_audit_get(au, &q.query_id, &buf, &got), STEME_OK);
    assert_int_equal(got.timestamp, 1000);
    assert_int_equal(got.agent.bytes[0], 1);
    assert_int_equal(got.n_candidates, 3);
    assert_memory_equal(got.candidates, g_cands, 3 * sizeof(steme_hash));
    assert_true(got.has_winner);
    assert_int_equal(got.subject_len, 7);
    steme_id16 missing = {{9, 9}};
    assert_int_equal(steme_audit_get(au, &missing, &buf, &got), STEME_E_NOTFOUND);
    seen s = {0};
    steme_audit_cursor cur = {0};
    size_t n = 0;
    assert_int_equal(steme_audit_list_agent(au, &q.agent, 0, UINT64_MAX, 0, &cur, seen_fn, &s,
                                            &n), STEME_OK);
    assert_int_equal(n, 1); /* the refused records left nothing behind */
    steme_buf_free(&buf);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

/* ------------------------------------------------------ charged puts */

#define HOUR_T0 (1700000000000ull / STEME_QUOTA_HOUR_MS * STEME_QUOTA_HOUR_MS)

static int audit_exists(steme_audit *au, const steme_query_audit *q)
{
    steme_buf buf = STEME_BUF_INIT;
    steme_query_audit got;
    int rc = steme_audit_get(au, &q->query_id, &buf, &got);
    steme_buf_free(&buf);
    assert_true(rc == STEME_OK || rc == STEME_E_NOTFOUND);
    return rc == STEME_OK;
}

static uint64_t used_of(steme_db *db, int agent)
{
    steme_agent_id a;
    memset(&a, 0, sizeof a);
    a.bytes[0] = (uint8_t)agent;
    steme_quota_status st;
    assert_int_equal(steme_quota_get_status(steme_db_quota(db), &a, HOUR_T0, &st), STEME_OK);
    return st.used;
}

/* Several records, one write: each charged in order against its agent's
 * budget, a refused or invalid one written nowhere, the others found by id
 * and by agent, charge and record together. */
static void charged_many(void **state)
{
    (void)state;
    char *dir = tu_tempdir("audit-charged");
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_audit *au = steme_db_audit(db);
    steme_agent_id a1;
    memset(&a1, 0, sizeof a1);
    a1.bytes[0] = 1;
    assert_int_equal(steme_quota_set_limit(steme_db_quota(db), &a1, 15), STEME_OK);
    steme_query_audit qs[5] = {make(1, HOUR_T0 + 1, 101), make(2, HOUR_T0 + 2, 102),
                               make(1, HOUR_T0 + 3, 103), make(2, HOUR_T0 + 4, 104),
                               make(1, HOUR_T0 + 5, 105)};
    qs[3].subject_len = 0;   /* does not validate */
    steme_quota_result outs[5];
    int rcs[5];
    assert_int_equal(steme_audit_put_charged_many(au, 5, qs, 1, outs, rcs), STEME_OK);
    int want_rc[5] = {STEME_OK, STEME_OK, STEME_OK, STEME_E_INVALID, STEME_OK};
    int want_allowed[5] = {1, 1, 1, 0, 0};   /* 6 + 6 <= 15, a third would be 18 */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(rcs[i], want_rc[i]);
        assert_int_equal(outs[i].allowed, want_allowed[i]);
        assert_int_equal(audit_exists(au, &qs[i]), want_allowed[i]);
    }
    assert_int_equal(outs[2].remaining, 3);
    assert_int_equal(outs[4].limit, 15);
    assert_int_equal(used_of(db, 1), 12);
    assert_int_equal(used_of(db, 2), 6);
    seen s;
    memset(&s, 0, sizeof s);
    steme_audit_cursor c;
    memset(&c, 0, sizeof c);
    assert_int_equal(steme_audit_list_agent(au, &a1, 0, UINT64_MAX, 0, &c, seen_fn, &s, NULL),
                     STEME_OK);
    assert_int_equal(s.n, 2);

    /* One at a time: a refused one writes nothing. */
    steme_query_audit one = make(1, HOUR_T0 + 6, 106);
    steme_quota_result r;
    assert_int_equal(steme_audit_put_charged(au, &one, 1, &r), STEME_OK);
    assert_false(r.allowed);
    assert_false(audit_exists(au, &one));
    one = make(3, HOUR_T0 + 6, 107);
    assert_int_equal(steme_audit_put_charged(au, &one, 1, &r), STEME_OK);
    assert_true(r.allowed);
    assert_true(audit_exists(au, &one));
    one.subject = NULL;
    assert_int_equal(steme_audit_put_charged(au, &one, 1, &r), STEME_E_INVALID);

    /* Bad input. */
    assert_int_equal(steme_audit_put_charged(au, NULL, 1, &r), STEME_E_INVALID);
    assert_int_equal(steme_audit_put_charged(au, &qs[0], 1, NULL), STEME_E_INVALID);
    assert_int_equal(steme_audit_put_charged(NULL, &qs[0], 1, &r), STEME_E_INVALID);
    assert_int_equal(steme_audit_put_charged_many(au, 0, NULL, 1, NULL, NULL), STEME_OK);
    assert_int_equal(steme_audit_put_charged_many(au, 2, NULL, 1, outs, rcs), STEME_E_INVALID);
    assert_int_equal(steme_audit_put_charged_many(au, STEME_QUOTA_MANY_MAX + 1, qs, 1, outs, rcs),
                     STEME_E_INVALID);
    assert_int_equal(used_of(db, 1), 12);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

/* kill -9 right after the call returned: the charge and the record are
 * there after a restart (the engine's own log, written before returning). */
static void charged_survives_kill(void **state)
{
    (void)state;
    char *dir = tu_tempdir("audit-kill");
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_db_close(db);
    steme_query_audit qs[3] = {make(1, HOUR_T0 + 1, 201), make(2, HOUR_T0 + 2, 202),
                               make(1, HOUR_T0 + 3, 203)};
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        steme_db_options o;
        steme_db_options_init(&o);
        steme_db *cdb;
        steme_error e;
        steme_quota_result outs[3];
        int rcs[3];
        if (steme_db_open(dir, &o, &cdb, &e) != STEME_OK ||
            steme_audit_put_charged_many(steme_db_audit(cdb), 3, qs, 1, outs, rcs) != STEME_OK ||
            rcs[0] || rcs[1] || rcs[2])
            _exit(3);
        raise(SIGKILL);   /* no close, no flush: as kill -9 */
        _exit(4);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    db = st_open_db(dir, STEME_KV_HYBRID);
    for (int i = 0; i < 3; i++)
        assert_true(audit_exists(steme_db_audit(db), &qs[i]));
    assert_int_equal(used_of(db, 1), 12);
    assert_int_equal(used_of(db, 2), 6);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

static void range_listing(void **state)
{
    (void)state;
    char *dir = tu_tempdir("audit-range");
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_audit *au = steme_db_audit(db);
    for (uint32_t i = 0; i < 100; i++) {
        steme_query_audit a = make(1, 100 + 10 * (uint64_t)i, i);
        steme_query_audit b = make(2, 100 + 10 * (uint64_t)i, 1000 + i); /* interleaved */
        assert_int_equal(steme_audit_put(au, &a), STEME_OK);
        assert_int_equal(steme_audit_put(au, &b), STEME_OK);
    }
    steme_query_audit two = make(1, 150, 5000); /* a second record at ts 150 */
    assert_int_equal(steme_audit_put(au, &two), STEME_OK);
    steme_agent_id a1 = make(1, 0, 0).agent;
    seen s = {0};
    steme_audit_cursor cur = {0};
    size_t n;
    /* inclusive bounds, both records at 150 */
    assert_int_equal(steme_audit_list_agent(au, &a1, 150, 200, 0, &cur, seen_fn, &s, &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(s.ts[0], 150);
    assert_int_equal(s.ts[1], 150);
    assert_int_equal(s.ts[6], 200);
    for (size_t i = 1; i < s.n; i++)
        assert_true(s.ts[i - 1] <= s.ts[i]);
    /* pages of 3 with the cursor */
    memset(&s, 0, sizeof s);
    memset(&cur, 0, sizeof cur);
    int pages = 0;
    do {
        assert_int_equal(steme_audit_list_agent(au, &a1, 145, 1000, 3, &cur, seen_fn, &s, &n), 0);
        pages++;
    } while (n > 0);
    assert_int_equal(s.n, 87); /* 150..1000 by 10 is 86, plus the second 150 */
    assert_int_equal(pages, 30);
    for (size_t i = 1; i < s.n; i++)
        assert_true(s.ts[i - 1] <= s.ts[i]);
    /* the callback stops the listing */
    memset(&s, 0, sizeof s);
    memset(&cur, 0, sizeof cur);
    s.stop_after = 4;
    assert_int_equal(steme_audit_list_agent(au, &a1, 0, UINT64_MAX, 0, &cur, seen_fn, &s, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(cur.timestamp, 130);
    /* empty ranges */
    memset(&cur, 0, sizeof cur);
    assert_int_equal(steme_audit_list_agent(au, &a1, 500, 400, 0, &cur, seen_fn, &s, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(steme_audit_list_agent(au, &a1, 2000, 3000, 0, &cur, seen_fn, &s, &n), 0);
    assert_int_equal(n, 0);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

static void bad_input_changes_nothing(void **state)
{
    (void)state;
    char *dir = tu_tempdir("audit-bad");
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_audit *au = steme_db_audit(db);
    assert_null(steme_db_audit(NULL));
    steme_query_audit q = make(1, 1, 1);
    assert_int_equal(steme_audit_put(NULL, &q), STEME_E_INVALID);
    assert_int_equal(steme_audit_put(au, NULL), STEME_E_INVALID);
    q.subject_len = 0;
    assert_int_equal(steme_audit_put(au, &q), STEME_E_INVALID);
    q = make(1, 1, 2);
    q.subject = "bad\xff";
    q.subject_len = 4;
    assert_int_equal(steme_audit_put(au, &q), STEME_E_BAD_UTF8);
    q = make(1, 1, 3);
    q.n_candidates = STEME_AUDIT_CANDIDATES_MAX + 1;
    assert_int_equal(steme_audit_put(au, &q), STEME_E_TOO_BIG);
    q = make(1, 1, 4);
    q.lens = (steme_lens)0;
    assert_int_equal(steme_audit_put(au, &q), STEME_E_INVALID);
    q = make(1, 1, 5);
    q.confidence = NAN;
    assert_int_equal(steme_audit_put(au, &q), STEME_E_INVALID);
    steme_buf buf = STEME_BUF_INIT;
    steme_query_audit got;
    steme_audit_cursor cur = {0};
    seen s = {0};
    size_t n = 9;
    assert_int_equal(steme_audit_get(au, NULL, &buf, &got), STEME_E_INVALID);
    assert_int_equal(steme_audit_get(au, &q.query_id, NULL, &got), STEME_E_INVALID);
    assert_int_equal(steme_audit_list_agent(au, NULL, 0, 1, 0, &cur, seen_fn, &s, &n),
                     STEME_E_INVALID);
    assert_int_equal(steme_audit_list_agent(au, &q.agent, 0, 1, 0, &cur, NULL, &s, &n),
                     STEME_E_INVALID);
    assert_int_equal(steme_audit_list_agent(au, &q.agent, 0, UINT64_MAX, 0, &cur, seen_fn, &s,
                                            &n), STEME_OK);
    assert_int_equal(n, 0); /* nothing was written */
    for (uint32_t i = 1; i <= 5; i++) {
        steme_query_audit m = make(1, 1, i);
        assert_int_equal(steme_audit_get(au, &m.query_id, &buf, &got), STEME_E_NOTFOUND);
    }
    steme_buf_free(&buf);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

/* ------------------------------------------------ property: vs a model */

typedef struct mrec { int agent; uint64_t ts; uint32_t qid; } mrec;

static int mrec_cmp(const void *x, const void *y)
{
    const mrec *a = x, *b = y;
    if (a->agent != b->agent)
        return a->agent - b->agent;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    /* the query id as key bytes: little-endian u32 in the first 4 bytes */
    return memcmp(&a->qid, &b->qid, 4);
}

static void random_ranges_vs_model(void **state)
{
    (void)state;
    uint64_t seed0 = tu_seed(0xa0d17);
    for (uint64_t sd = 0; sd < 3; sd++) {
        tu_rng rng;
        tu_rng_seed(&rng, seed0 + sd);
        char *dir = tu_tempdir("audit-prop");
        steme_db *db = st_open_db(dir, STEME_KV_MEM);
        steme_audit *au = steme_db_audit(db);
        enum { N = 600 };
        static mrec model[N];
        for (uint32_t i = 0; i < N; i++) {
            model[i] = (mrec){(int)tu_rng_below(&rng, 3), tu_rng_below(&rng, 200), i * 7919u};
            steme_query_audit q = make(model[i].agent, model[i].ts, model[i].qid);
            assert_int_equal(steme_audit_put(au, &q), STEME_OK);
        }
        qsort(model, N, sizeof model[0], mrec_cmp);
        for (int trial = 0; trial < 60; trial++) {
            int agent = (int)tu_rng_below(&rng, 3);
            uint64_t from = tu_rng_below(&rng, 220), to = tu_rng_below(&rng, 220);
            size_t page = (size_t)tu_rng_below(&rng, 20); /* 0 = all at once */
            static seen s;
            memset(&s, 0, sizeof s);
            steme_audit_cursor cur = {0};
            steme_agent_id a = make(agent, 0, 0).agent;
            size_t n;
            for (int guard = 0; guard < 2000; guard++) {
                assert_int_equal(steme_audit_list_agent(au, &a, from, to, page, &cur, seen_fn, &s,
                                                        &n), STEME_OK);
                if (n == 0 || page == 0)
                    break;
            }
            size_t k = 0;
            for (size_t i = 0; i < N; i++) {
                if (model[i].agent != agent || model[i].ts < from || model[i].ts > to)
                    continue;
                assert_true(k < s.n);
                assert_int_equal(s.ts[k], model[i].ts);
                assert_int_equal(s.qid[k], model[i].qid);
                k++;
            }
            assert_int_equal(k, s.n);
        }
        steme_db_close(db);
        tu_rmtree_free(dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_get_reopen),
        cmocka_unit_test(charged_many),
        cmocka_unit_test(charged_survives_kill),
        cmocka_unit_test(range_listing),
        cmocka_unit_test(bad_input_changes_nothing),
        cmocka_unit_test(random_ranges_vs_model),
    };
    int rc = cmocka_run_group_tests_name("embedded", tests, NULL, NULL);
    /* The charged write on pg: the usage record's precondition and the
     * audit keys in one transaction. (kill -9 is an embedded-engine test:
     * pg's commit is its durability point.) */
    const struct CMUnitTest tests_pg[] = {
        cmocka_unit_test(charged_many),
    };
    rc |= sp_run_on_pg("pg", tests_pg);
    return rc;
}
