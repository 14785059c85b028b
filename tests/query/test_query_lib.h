/* test_query_lib.h - helpers shared by the read-path tests: open a db,
 * store hand-made assertions, run a query with the common defaults.
 * Header-only (static functions), included after <cmocka.h>. */
#ifndef STEME_TEST_QUERY_LIB_H
#define STEME_TEST_QUERY_LIB_H

#include <stdlib.h>
#include <string.h>

#include "steme/query.h"
#include "testutil.h"

#define TQ_SUBJECT "aspirin"
#define TQ_PRED    "side_effect"
#define TQ_NOW     1700000000000ull   /* the tests' "now": Unix ms */

static inline steme_db *tq_open(const char *dir, steme_kv_engine engine)
{
    steme_db_options o;
    steme_db_options_init(&o);
    o.engine = engine;
    steme_db *db = NULL;
    steme_error e;
    if (steme_db_open(dir, &o, &db, &e) != STEME_OK)
        fail_msg("open %s: %s", dir, e.message);
    return db;
}

/* The fixture most read-path tests share: a fresh db in a temp dir. */
typedef struct tq_fx {
    char *dir;
    steme_db *db;
} tq_fx;

/* A tq_fx on engine, in a new temp dir named after tag; for a cmocka setup. */
static inline tq_fx *tq_fx_open(const char *tag, steme_kv_engine engine)
{
    tq_fx *f = calloc(1, sizeof *f);
    if (!f)
        fail_msg("out of memory");
    f->dir = tu_tempdir(tag);
    f->db = tq_open(f->dir, engine);
    return f;
}

/* cmocka teardown for a tq_fx: close the db, remove its directory. */
static inline int tq_teardown(void **state)
{
    tq_fx *f = *state;
    steme_db_close(f->db);
    tu_rmtree_free(f->dir);
    free(f);
    return 0;
}

/* Agent n: 32 bytes, first byte n (distinct, readable in dumps). */
static inline steme_agent_id tq_agent(int n)
{
    steme_agent_id a;
    memset(a.bytes, 0, sizeof a.bytes);
    a.bytes[0] = (uint8_t)n;
    a.bytes[31] = 0x5A;
    return a;
}

/* Store (subject, pred) = value by agent at ts with confidence; hash out. */
static inline steme_hash tq_put_value(steme_db *db, const char *subject, const char *pred,
                                      steme_value value, double conf, int agent, uint64_t ts)
{
    steme_assertion a;
    memset(&a, 0, sizeof a);
    a.subject = subject;
    a.subject_len = strlen(subject);
    a.predicate = pred;
    a.predicate_len = strlen(pred);
    a.object = value;
    a.confidence = conf;
    a.source_kind = STEME_SOURCE_AGENT;
    a.agent = tq_agent(agent);
    a.timestamp = ts;
    steme_hash h;
    int rc = steme_db_put_assertion(db, &a, &h, NULL);
    if (rc != STEME_OK)
        fail_msg("put assertion: %s", steme_db_errmsg(db));
    return h;
}

/* The common case: a string value about (aspirin, side_effect). */
static inline steme_hash tq_put(steme_db *db, const char *value, double conf, int agent,
                                uint64_t ts)
{
    return tq_put_value(db, TQ_SUBJECT, TQ_PRED, steme_value_string(value, strlen(value)), conf,
                        agent, ts);
}

static inline void tq_request(steme_query_request *req, steme_lens lens)
{
    steme_query_request_init(req);
    req->subject = TQ_SUBJECT;
    req->subject_len = strlen(TQ_SUBJECT);
    req->predicate = TQ_PRED;
    req->predicate_len = strlen(TQ_PRED);
    req->lens = lens;
    req->agent = tq_agent(200);
    req->now_ms = TQ_NOW;
}

/* Run a query that must succeed. */
static inline void tq_run(steme_db *db, const steme_query_request *req, steme_resolution *r)
{
    int rc = steme_query(db, req, r);
    if (rc != STEME_OK)
        fail_msg("query failed (%s): %s", steme_errname(rc), steme_db_errmsg(db));
}

static inline int tq_is_string(const steme_value *v, const char *s)
{
    return v->type == STEME_VALUE_STRING && v->v.str.len == strlen(s) &&
           memcmp(v->v.str.ptr, s, v->v.str.len) == 0;
}

static inline void tq_assert_winner(const steme_resolution *r, const steme_hash *h)
{
    assert_true(r->has_winner);
    assert_memory_equal(r->winner.bytes, h->bytes, STEME_HASH_LEN);
    assert_memory_equal(r->candidates[0].hash.bytes, h->bytes, STEME_HASH_LEN);
}

#endif
