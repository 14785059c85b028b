/* test_query_meter.c - The Meter and the audit trail around every query:
 * the cost charged, a refused query (STEME_E_QUOTA, quota fields, no audit,
 * no charge), every allowed query audited with what it saw and decided;
 * and bad input (NULLs, bad subject/predicate, unknown lens, bad options)
 * refused with a clear message, charging and writing nothing; queries
 * prepared apart and committed in one write (steme_query_commit_many). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/audit.h"
#include "steme/quota.h"
#include "test_query_lib.h"

static int setup(void **state)
{
    tq_fx *f = tq_fx_open("qmeter", STEME_KV_HYBRID);
    tq_put(f->db, "bleeding", 0.9, 1, 1000);
    tq_put(f->db, "none", 0.6, 2, 2000);
    tq_put(f->db, "bleeding", 0.3, 3, 3000);
    *state = f;
    return 0;
}

static int count_fn(void *ctx, const steme_query_audit *q)
{
    (void)q;
    (*(size_t *)ctx)++;
    return 0;
}

static size_t audits_of(steme_db *db, int agent)
{
    steme_agent_id a = tq_agent(agent);
    steme_audit_cursor c;
    memset(&c, 0, sizeof c);
    size_t n = 0;
    assert_int_equal(steme_audit_list_agent(steme_db_audit(db), &a, 0, UINT64_MAX, 0, &c,
                                            count_fn, &n, NULL),
                     STEME_OK);
    return n;
}

static uint64_t used_of(steme_db *db, int agent)
{
    steme_agent_id a = tq_agent(agent);
    steme_quota_status st;
    assert_int_equal(steme_quota_get_status(steme_db_quota(db), &a, TQ_NOW, &st), STEME_OK);
    return st.used;
}

static void charged_and_refused(void **state)
{
    tq_fx *f = *state;
    steme_agent_id asker = tq_agent(200);
    /* Room for exactly two queries of 6 tokens. */
    assert_int_equal(steme_quota_set_limit(steme_db_quota(f->db), &asker, 2 * STEME_QUERY_COST),
                     STEME_OK);
    steme_query_request req;
    tq_request(&req, STEME_LENS_RECENCY);
    steme_resolution r;
    tq_run(f->db, &req, &r);
    assert_true(r.quota_allowed);
    assert_int_equal(r.quota_remaining, STEME_QUERY_COST);
    assert_int_equal(used_of(f->db, 200), 6);
    steme_resolution_free(&r);
    tq_run(f->db, &req, &r);
    assert_int_equal(r.quota_remaining, 0);
    steme_resolution_free(&r);
    assert_int_equal(audits_of(f->db, 200), 2);

    /* The third is refused: distinct status, quota fields, nothing written. */
    assert_int_equal(steme_query(f->db, &req, &r), STEME_E_QUOTA);
    assert_false(r.quota_allowed);
    assert_int_equal(r.quota_limit, 12);
    assert_int_equal(r.quota_remaining, 0);
    uint64_t next_hour = (TQ_NOW / STEME_QUOTA_HOUR_MS + 1) * STEME_QUOTA_HOUR_MS;
    assert_int_equal(r.quota_reset_at, next_hour);
    assert_null(r.candidates);
    assert_false(r.has_winner);
    assert_non_null(strstr(steme_db_errmsg(f->db), "quota"));
    assert_non_null(strstr(r.explanation, "Meter"));
    steme_resolution_free(&r);
    assert_int_equal(audits_of(f->db, 200), 2);
    assert_int_equal(used_of(f->db, 200), 12);

    /* A skeptic query refused for quota raises no escalation either. */
    tq_put(f->db, "none", 0.6, 4, 4000);
    req.lens = STEME_LENS_SKEPTIC;
    assert_int_equal(steme_query(f->db, &req, &r), STEME_E_QUOTA);
    steme_resolution_free(&r);

    /* Another agent is not affected; the next hour starts afresh. */
    req.agent = tq_agent(201);
    tq_run(f->db, &req, &r);
    steme_resolution_free(&r);
    req.agent = asker;
    req.now_ms = next_hour;
    tq_run(f->db, &req, &r);
    assert_true(r.quota_allowed);
    steme_resolution_free(&r);
    assert_int_equal(audits_of(f->db, 200), 3);
}

/* skip_meter_precheck (steme serve, when the agent's last charge left
 * enough): an agent that cannot pay gets its query prepared (the reads are
 * made), but the commit still refuses it: STEME_E_QUOTA, the quota fields,
 * nothing charged, nothing audited. The Meter is exactly as strict. */
static void skipped_precheck_still_refused_at_commit(void **state)
{
    tq_fx *f = *state;
    steme_agent_id asker = tq_agent(220);
    assert_int_equal(steme_quota_set_limit(steme_db_quota(f->db), &asker, STEME_QUERY_COST),
                     STEME_OK);
    steme_query_request req;
    tq_request(&req, STEME_LENS_CONSENSUS);
    req.agent = asker;
    steme_resolution r;
    tq_run(f->db, &req, &r);   /* spends the budget */
    assert_int_equal(r.quota_remaining, 0);
    steme_resolution_free(&r);
    assert_int_equal(steme_query(f->db, &req, &r), STEME_E_QUOTA);   /* pre-check */
    steme_resolution_free(&r);

    req.skip_meter_precheck = true;
    assert_int_equal(steme_query_prepare(f->db, &req, &r), STEME_OK);
    assert_int_equal(r.n_candidates, 3);
    const steme_query_request *rp = &req;
    steme_resolution *op = &r;
    int rc = STEME_OK;
    assert_int_equal(steme_query_commit_many(f->db, 1, &rp, &op, &rc), STEME_OK);
    assert_int_equal(rc, STEME_E_QUOTA);
    assert_false(r.quota_allowed);
    assert_int_equal(r.quota_limit, STEME_QUERY_COST);
    assert_int_equal(r.quota_remaining, 0);
    assert_null(r.candidates);
    steme_resolution_free(&r);
    /* one-shot steme_query honours it the same way */
    assert_int_equal(steme_query(f->db, &req, &r), STEME_E_QUOTA);
    assert_false(r.quota_allowed);
    steme_resolution_free(&r);
    assert_int_equal(audits_of(f->db, 220), 1);
    assert_int_equal(used_of(f->db, 220), STEME_QUERY_COST);
}

/* steme_query in three steps, several queries committed in one write: each
 * is checked against what the earlier ones of its agent spent; the one the
 * Meter refuses at commit writes nothing; the others are charged and
 * audited under the id prepare gave them. */
static void prepared_queries_committed_together(void **state)
{
    tq_fx *f = *state;
    steme_agent_id asker = tq_agent(210);
    assert_int_equal(steme_quota_set_limit(steme_db_quota(f->db), &asker, 2 * STEME_QUERY_COST),
                     STEME_OK);
    enum { N = 4 };
    steme_query_request reqs[N];
    steme_resolution res[N];
    const steme_query_request *rp[N];
    steme_resolution *op[N];
    int rcs[N];
    for (int i = 0; i < N; i++) {
        tq_request(&reqs[i], i == 2 ? STEME_LENS_SKEPTIC : STEME_LENS_CONSENSUS);
        /* 0, 1, 3: the agent with room for two; 2: another agent */
        reqs[i].agent = i == 2 ? tq_agent(211) : asker;
        reqs[i].now_ms = TQ_NOW + (uint64_t)i;
        /* All pass the Meter's pre-check: nothing is charged before commit. */
        assert_int_equal(steme_query_prepare(f->db, &reqs[i], &res[i]), STEME_OK);
        assert_int_equal(res[i].n_candidates, 3);
        rp[i] = &reqs[i];
        op[i] = &res[i];
    }
    assert_int_equal(used_of(f->db, 210), 0);
    assert_int_equal(audits_of(f->db, 210), 0);
    /* Ids: the time first (6 bytes, big-endian), so ordered, and distinct. */
    assert_true(memcmp(res[0].query_id.bytes, res[1].query_id.bytes, 16) < 0);
    assert_int_equal(res[0].query_id.bytes[5], (uint8_t)TQ_NOW);
    assert_int_equal(steme_query_commit_many(f->db, N, rp, op, rcs), STEME_OK);
    assert_int_equal(rcs[0], STEME_OK);
    assert_int_equal(rcs[1], STEME_OK);
    assert_int_equal(rcs[2], STEME_OK);
    assert_int_equal(rcs[3], STEME_E_QUOTA);
    assert_true(res[0].quota_allowed);
    assert_int_equal(res[0].quota_remaining, STEME_QUERY_COST);
    assert_int_equal(res[1].quota_remaining, 0);
    assert_false(res[3].quota_allowed);
    assert_int_equal(res[3].quota_limit, 2 * STEME_QUERY_COST);
    assert_null(res[3].candidates);
    assert_non_null(strstr(res[3].explanation, "Meter"));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(steme_query_finish(f->db, &reqs[i], &res[i]), STEME_OK);
        assert_true(res[i].explanation[0] != 0);
        steme_buf buf = STEME_BUF_INIT;
        steme_query_audit a;
        assert_int_equal(steme_audit_get(steme_db_audit(f->db), &res[i].query_id, &buf, &a),
                         STEME_OK);
        assert_int_equal(a.timestamp, TQ_NOW + (uint64_t)i);
        assert_int_equal(a.n_candidates, 3);
        assert_int_equal(a.duration_us, res[i].duration_us);
        steme_buf_free(&buf);
    }
    steme_buf buf = STEME_BUF_INIT;
    steme_query_audit a;
    assert_int_equal(steme_audit_get(steme_db_audit(f->db), &res[3].query_id, &buf, &a),
                     STEME_E_NOTFOUND);
    steme_buf_free(&buf);
    assert_int_equal(used_of(f->db, 210), 2 * STEME_QUERY_COST);
    assert_int_equal(used_of(f->db, 211), STEME_QUERY_COST);
    assert_int_equal(audits_of(f->db, 210), 2);
    for (int i = 0; i < N; i++)
        steme_resolution_free(&res[i]);

    /* Bad input: nothing charged or written. */
    assert_int_equal(steme_query_commit_many(f->db, 0, NULL, NULL, NULL), STEME_OK);
    assert_int_equal(steme_query_commit_many(f->db, 1, NULL, op, rcs), STEME_E_INVALID);
    rp[0] = NULL;
    assert_int_equal(steme_query_commit_many(f->db, 1, rp, op, rcs), STEME_E_INVALID);
    assert_int_equal(steme_query_commit_many(NULL, 1, rp, op, rcs), STEME_E_INVALID);
    assert_int_equal(steme_query_finish(f->db, NULL, &res[0]), STEME_E_INVALID);
    assert_int_equal(steme_query_prepare(f->db, NULL, &res[0]), STEME_E_INVALID);
    assert_int_equal(used_of(f->db, 210), 2 * STEME_QUERY_COST);
}

static void every_query_audited(void **state)
{
    tq_fx *f = *state;
    for (int lens = STEME_LENS_RECENCY; lens <= STEME_LENS_SKEPTIC; lens++) {
        steme_query_request req;
        tq_request(&req, (steme_lens)lens);
        req.now_ms = TQ_NOW + (uint64_t)lens;
        steme_resolution r;
        tq_run(f->db, &req, &r);
        assert_int_equal(r.timestamp, req.now_ms);

        steme_buf buf = STEME_BUF_INIT;
        steme_query_audit q;
        assert_int_equal(steme_audit_get(steme_db_audit(f->db), &r.query_id, &buf, &q),
                         STEME_OK);
        assert_memory_equal(q.query_id.bytes, r.query_id.bytes, 16);
        assert_memory_equal(q.agent.bytes, req.agent.bytes, 32);
        assert_int_equal(q.timestamp, req.now_ms);
        assert_int_equal(q.lens, lens);
        assert_int_equal(q.subject_len, strlen(TQ_SUBJECT));
        assert_memory_equal(q.subject, TQ_SUBJECT, q.subject_len);
        assert_int_equal(q.predicate_len, strlen(TQ_PRED));
        assert_memory_equal(q.predicate, TQ_PRED, q.predicate_len);
        assert_int_equal(q.n_candidates, r.n_candidates);
        for (size_t i = 0; i < q.n_candidates; i++)
            assert_memory_equal(q.candidates[i].bytes, r.candidates[i].hash.bytes, 32);
        assert_int_equal(q.has_winner, r.has_winner);
        if (r.has_winner)
            assert_memory_equal(q.winner.bytes, r.winner.bytes, 32);
        assert_true(q.confidence == r.confidence);
        assert_int_equal(q.duration_us, r.duration_us);
        steme_buf_free(&buf);
        steme_resolution_free(&r);
    }
    assert_int_equal(audits_of(f->db, 200), 6);
    assert_int_equal(used_of(f->db, 200), 6 * STEME_QUERY_COST);

    /* Query ids are distinct; an empty result is audited too. */
    steme_query_request req;
    tq_request(&req, STEME_LENS_RECENCY);
    req.predicate = "unknown";
    req.predicate_len = 7;
    steme_resolution a, b;
    tq_run(f->db, &req, &a);
    tq_run(f->db, &req, &b);
    assert_memory_not_equal(a.query_id.bytes, b.query_id.bytes, 16);
    steme_buf buf = STEME_BUF_INIT;
    steme_query_audit q;
    assert_int_equal(steme_audit_get(steme_db_audit(f->db), &b.query_id, &buf, &q), STEME_OK);
    assert_int_equal(q.n_candidates, 0);
    assert_false(q.has_winner);
    steme_buf_free(&buf);
    steme_resolution_free(&a);
    steme_resolution_free(&b);
}

/* Each bad request: the given status, a message naming the problem, and
 * neither a charge nor an audit. */
static void refused(steme_db *db, const steme_query_request *req, int want, const char *word)
{
    steme_resolution r;
    memset(&r, 0xAB, sizeof r);   /* garbage in: steme_query must reset it */
    int rc = steme_query(db, req, &r);
    if (rc != want)
        fail_msg("want %s, got %s: %s", steme_errname(want), steme_errname(rc),
                 steme_db_errmsg(db));
    if (word && !strstr(steme_db_errmsg(db), word))
        fail_msg("message \"%s\" lacks \"%s\"", steme_db_errmsg(db), word);
    assert_null(r.candidates);
    assert_null(r.claims);
    steme_resolution_free(&r);
}

static void bad_input(void **state)
{
    tq_fx *f = *state;
    steme_query_request req;
    steme_resolution r;
    tq_request(&req, STEME_LENS_RECENCY);
    assert_int_equal(steme_query(NULL, &req, &r), STEME_E_INVALID);
    assert_int_equal(steme_query(f->db, &req, NULL), STEME_E_INVALID);
    refused(f->db, NULL, STEME_E_INVALID, "NULL request");

    tq_request(&req, STEME_LENS_RECENCY);
    req.subject = NULL;
    refused(f->db, &req, STEME_E_INVALID, "subject is NULL");
    req.subject = "";
    req.subject_len = 0;
    refused(f->db, &req, STEME_E_INVALID, "subject is empty");
    req.subject = "bad\xff";
    req.subject_len = 4;
    refused(f->db, &req, STEME_E_BAD_UTF8, "subject");
    req.subject = "nul\0x";
    req.subject_len = 5;
    refused(f->db, &req, STEME_E_BAD_UTF8, "subject");
    static char big[STEME_SUBJECT_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    req.subject = big;
    req.subject_len = STEME_SUBJECT_MAX + 1;
    refused(f->db, &req, STEME_E_TOO_BIG, "subject");
    req.subject_len = STEME_SUBJECT_MAX;   /* at the limit: fine, nothing there */
    tq_run(f->db, &req, &r);
    assert_int_equal(r.n_candidates, 0);
    steme_resolution_free(&r);

    tq_request(&req, STEME_LENS_RECENCY);
    req.predicate = NULL;
    refused(f->db, &req, STEME_E_INVALID, "predicate");
    req.predicate = big;
    req.predicate_len = STEME_PREDICATE_MAX + 1;
    refused(f->db, &req, STEME_E_TOO_BIG, "predicate");

    tq_request(&req, STEME_LENS_RECENCY);
    req.lens = (steme_lens)0;
    refused(f->db, &req, STEME_E_INVALID, "unknown lens");
    req.lens = (steme_lens)7;
    refused(f->db, &req, STEME_E_INVALID, "unknown lens");

    tq_request(&req, STEME_LENS_RECENCY);
    req.decay_half_life_ms = -1.0;
    refused(f->db, &req, STEME_E_INVALID, "half-life");
    req.decay_half_life_ms = NAN;
    refused(f->db, &req, STEME_E_INVALID, "half-life");
    req.decay_half_life_ms = INFINITY;
    refused(f->db, &req, STEME_E_INVALID, "half-life");

    tq_request(&req, STEME_LENS_RECENCY);
    req.limit = STEME_QUERY_CANDIDATES_MAX + 1;
    refused(f->db, &req, STEME_E_INVALID, "limit");

    /* Only the one good query above was charged and audited. */
    assert_int_equal(used_of(f->db, 200), STEME_QUERY_COST);
    assert_int_equal(audits_of(f->db, 200), 1);

    steme_resolution_free(NULL);
    memset(&r, 0, sizeof r);
    steme_resolution_free(&r);
    assert_null(steme_skeptic_status_name((steme_skeptic_status)9));
    assert_string_equal(steme_skeptic_status_name(STEME_SKEPTIC_AGREED), "agreed");
}

/* The clock is used when now_ms is 0 (the audit then carries it). */
static void system_clock(void **state)
{
    tq_fx *f = *state;
    steme_query_request req;
    tq_request(&req, STEME_LENS_CONSENSUS);
    req.now_ms = 0;
    steme_resolution r;
    tq_run(f->db, &req, &r);
    assert_true(r.timestamp > TQ_NOW);   /* after November 2023 */
    steme_buf buf = STEME_BUF_INIT;
    steme_query_audit q;
    assert_int_equal(steme_audit_get(steme_db_audit(f->db), &r.query_id, &buf, &q), STEME_OK);
    assert_int_equal(q.timestamp, r.timestamp);
    steme_buf_free(&buf);
    steme_resolution_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(charged_and_refused, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(every_query_audited, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(prepared_queries_committed_together, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(skipped_precheck_still_refused_at_commit, setup,
                                        tq_teardown),
        cmocka_unit_test_setup_teardown(bad_input, setup, tq_teardown),
        cmocka_unit_test_setup_teardown(system_clock, setup, tq_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
