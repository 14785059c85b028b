/* test_escalation.c - escalations: raise, one open per target, list by
 * status newest first with pages, resolve, errors, random operations vs a
 * model, bad input, persistence across reopen (and replay on MEM). */
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
#include "testutil.h"
#include "store_pg.h" /* last: runs the tests on pg too */
#include "store_testlib.h" /* after store_pg.h: opens through it */

static const char *g_preds[] = {"dose", "class", "maker", "color"};

static steme_id16 id_n(int n)
{
    steme_id16 id;
    memset(id.bytes, 0, sizeof id.bytes);
    id.bytes[0] = (uint8_t)(n >> 8);
    id.bytes[1] = (uint8_t)n;
    return id;
}

/* Escalation n about target t (t < 4: subject "aspirin" + predicate t;
 * else the assertion hash {t}). */
static steme_escalation make(int n, int t, uint64_t created)
{
    steme_escalation e;
    memset(&e, 0, sizeof e);
    e.id = id_n(n);
    if (t < 4) {
        e.target_kind = STEME_ESC_TARGET_SUBJECT;
        e.subject = "aspirin";
        e.subject_len = 7;
        e.predicate = g_preds[t];
        e.predicate_len = strlen(g_preds[t]);
    } else {
        e.target_kind = STEME_ESC_TARGET_ASSERTION;
        e.target_hash.bytes[0] = (uint8_t)t;
    }
    e.conflict_score = 0.9;
    e.reason = "sources disagree";
    e.reason_len = 16;
    e.status = STEME_ESC_OPEN;
    e.created_at = created;
    return e;
}

typedef struct seen {
    size_t n;
    int id[512];
    uint64_t created[512];
    int status[512];
} seen;

static int seen_fn(void *ctx, const steme_escalation *e)
{
    seen *s = ctx;
    s->id[s->n] = e->id.bytes[0] << 8 | e->id.bytes[1];
    s->created[s->n] = e->created_at;
    s->status[s->n] = e->status;
    s->n++;
    return 0;
}

static size_t list_all(steme_escalations *es, steme_escalation_status st, size_t page, seen *s)
{
    memset(s, 0, sizeof *s);
    steme_escalation_cursor cur = {0};
    size_t n;
    for (int guard = 0; guard < 1000; guard++) {
        assert_int_equal(steme_escalation_list(es, st, page, &cur, seen_fn, s, &n), STEME_OK);
        if (n == 0 || page == 0)
            break;
    }
    return s->n;
}

static void raise_resolve_reopen(void **state)
{
    (void)state;
    char *dir = tu_tempdir("esc");
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_escalations *es = steme_db_escalations(db);
    steme_escalation a = make(1, 0, 100), b = make(2, 1, 200), c = make(3, 7, 150);
    assert_int_equal(steme_escalation_raise(es, &a), STEME_OK);
    assert_int_equal(steme_escalation_raise(es, &b), STEME_OK);
    assert_int_equal(steme_escalation_raise(es, &c), STEME_OK);
    /* one open escalation per target; ids are unique */
    steme_escalation dup = make(4, 0, 300);
    assert_int_equal(steme_escalation_raise(es, &dup), STEME_E_EXISTS);
    assert_non_null(strstr(steme_db_errmsg(db), "already has open escalation"));
    steme_escalation dup2 = make(5, 7, 300);
    assert_int_equal(steme_escalation_raise(es, &dup2), STEME_E_EXISTS);
    steme_escalation same_id = make(1, 2, 300);
    assert_int_equal(steme_escalation_raise(es, &same_id), STEME_E_EXISTS);
    seen s;
    assert_int_equal(list_all(es, STEME_ESC_OPEN, 0, &s), 3);
    assert_int_equal(s.id[0], 2); /* newest first */
    assert_int_equal(s.id[1], 3);
    assert_int_equal(s.id[2], 1);

    assert_int_equal(steme_escalation_resolve(es, &a.id, "checked the label", 17, 999), STEME_OK);
    assert_int_equal(steme_escalation_resolve(es, &a.id, "again", 5, 1000), STEME_E_INVALID);
    assert_non_null(strstr(steme_db_errmsg(db), "already resolved"));
    steme_id16 unknown = id_n(77);
    assert_int_equal(steme_escalation_resolve(es, &unknown, NULL, 0, 1), STEME_E_NOTFOUND);
    assert_non_null(strstr(steme_db_errmsg(db), "no escalation"));
    /* the target is free again */
    assert_int_equal(steme_escalation_raise(es, &dup), STEME_OK);
    steme_db_close(db);

    db = st_open_db(dir, STEME_KV_HYBRID);
    es = steme_db_escalations(db);
    steme_buf buf = STEME_BUF_INIT;
    steme_escalation got;
    assert_int_equal(steme_escalation_get(es, &a.id, &buf, &got), STEME_OK);
    assert_int_equal(got.status, STEME_ESC_RESOLVED);
    assert_int_equal(got.resolved_at, 999);
    assert_int_equal(got.resolution_note_len, 17);
    assert_memory_equal(got.resolution_note, "checked the label", 17);
    assert_int_equal(got.created_at, 100);
    assert_int_equal(steme_escalation_get(es, &unknown, &buf, &got), STEME_E_NOTFOUND);
    assert_int_equal(list_all(es, STEME_ESC_OPEN, 1, &s), 3);
    assert_int_equal(s.id[0], 4);
    assert_int_equal(list_all(es, STEME_ESC_RESOLVED, 0, &s), 1);
    assert_int_equal(s.id[0], 1);
    assert_int_equal(s.status[0], STEME_ESC_RESOLVED);
    steme_buf_free(&buf);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

static void bad_input_changes_nothing(void **state)
{
    (void)state;
    char *dir = tu_tempdir("esc-bad");
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_escalations *es = steme_db_escalations(db);
    assert_null(steme_db_escalations(NULL));
    steme_escalation e = make(1, 0, 10);
    assert_int_equal(steme_escalation_raise(NULL, &e), STEME_E_INVALID);
    assert_int_equal(steme_escalation_raise(es, NULL), STEME_E_INVALID);
    e.status = STEME_ESC_RESOLVED;
    assert_int_equal(steme_escalation_raise(es, &e), STEME_E_INVALID);
    e = make(1, 0, 10);
    e.conflict_score = NAN;
    assert_int_equal(steme_escalation_raise(es, &e), STEME_E_INVALID);
    e = make(1, 0, 10);
    e.conflict_score = 1.5;
    assert_int_equal(steme_escalation_raise(es, &e), STEME_E_INVALID);
    e = make(1, 0, 10);
    e.subject = "bad\xc0";
    e.subject_len = 4;
    assert_int_equal(steme_escalation_raise(es, &e), STEME_E_BAD_UTF8);
    e = make(1, 0, 10);
    e.subject_len = 0;
    assert_int_not_equal(steme_escalation_raise(es, &e), STEME_OK);
    e = make(1, 0, 10);
    e.resolved_at = 5;
    assert_int_equal(steme_escalation_raise(es, &e), STEME_E_INVALID);
    e = make(1, 0, 10);
    e.target_kind = (steme_escalation_target_kind)9;
    assert_int_equal(steme_escalation_raise(es, &e), STEME_E_INVALID);
    seen s;
    assert_int_equal(list_all(es, STEME_ESC_OPEN, 0, &s), 0);

    e = make(1, 0, 10);
    e.status = (steme_escalation_status)0; /* zero status is taken as open */
    assert_int_equal(steme_escalation_raise(es, &e), STEME_OK);
    assert_int_equal(steme_escalation_resolve(es, NULL, "x", 1, 1), STEME_E_INVALID);
    assert_int_equal(steme_escalation_resolve(es, &e.id, NULL, 3, 1), STEME_E_INVALID);
    assert_int_equal(steme_escalation_resolve(es, &e.id, "bad\xff", 4, 1), STEME_E_BAD_UTF8);
    static char big[STEME_TEXT_MAX + 1];
    memset(big, 'n', sizeof big);
    assert_int_equal(steme_escalation_resolve(es, &e.id, big, sizeof big, 1), STEME_E_TOO_BIG);
    assert_int_equal(list_all(es, STEME_ESC_OPEN, 0, &s), 1); /* still open */
    assert_int_equal(list_all(es, STEME_ESC_RESOLVED, 0, &s), 0);
    steme_escalation_cursor cur = {0};
    size_t n;
    assert_int_equal(steme_escalation_list(es, (steme_escalation_status)3, 0, &cur, seen_fn, &s,
                                           &n), STEME_E_INVALID);
    assert_int_equal(steme_escalation_list(es, STEME_ESC_OPEN, 0, NULL, seen_fn, &s, &n),
                     STEME_E_INVALID);
    assert_int_equal(steme_escalation_list(es, STEME_ESC_OPEN, 0, &cur, NULL, &s, &n),
                     STEME_E_INVALID);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

/* ------------------------------------------------ property: vs a model */

#define P_MAX 200
#define P_TARGETS 8

typedef struct mesc { int exists, status, target; uint64_t created; } mesc;

static void check_list(steme_escalations *es, const mesc *m, int status, size_t page)
{
    seen s;
    list_all(es, (steme_escalation_status)status, page, &s);
    size_t want = 0;
    for (int i = 0; i < P_MAX; i++)
        want += m[i].exists && m[i].status == status;
    assert_int_equal(s.n, want);
    for (size_t i = 0; i < s.n; i++) {
        assert_true(m[s.id[i]].exists);
        assert_int_equal(m[s.id[i]].status, status);
        assert_int_equal(m[s.id[i]].created, s.created[i]);
        if (i) /* newest first, ties by id descending */
            assert_true(s.created[i - 1] > s.created[i] ||
                        (s.created[i - 1] == s.created[i] && s.id[i - 1] > s.id[i]));
    }
}

static void random_ops_vs_model(void **state)
{
    (void)state;
    uint64_t seed0 = tu_seed(0xe5ca1);
    for (uint64_t sd = 0; sd < 2; sd++) {
        tu_rng rng;
        tu_rng_seed(&rng, seed0 + sd);
        char *dir = tu_tempdir("esc-prop");
        steme_db *db = st_open_db(dir, STEME_KV_MEM);
        steme_escalations *es = steme_db_escalations(db);
        static mesc m[P_MAX];
        memset(m, 0, sizeof m);
        for (int step = 0; step < 300; step++) {
            int id = (int)tu_rng_below(&rng, P_MAX);
            if (tu_rng_below(&rng, 3)) {
                int t = (int)tu_rng_below(&rng, P_TARGETS);
                uint64_t created = tu_rng_below(&rng, 50); /* many ties */
                steme_escalation e = make(id, t, created);
                int busy = 0;
                for (int j = 0; j < P_MAX; j++)
                    busy |= m[j].exists && m[j].status == STEME_ESC_OPEN && m[j].target == t;
                int want = m[id].exists || busy ? STEME_E_EXISTS : STEME_OK;
                assert_int_equal(steme_escalation_raise(es, &e), want);
                if (want == STEME_OK)
                    m[id] = (mesc){1, STEME_ESC_OPEN, t, created};
            } else {
                int want = !m[id].exists ? STEME_E_NOTFOUND
                           : m[id].status != STEME_ESC_OPEN ? STEME_E_INVALID : STEME_OK;
                steme_id16 x = id_n(id);
                assert_int_equal(steme_escalation_resolve(es, &x, "done", 4, 5000), want);
                if (want == STEME_OK)
                    m[id].status = STEME_ESC_RESOLVED;
            }
            if (step % 50 == 49) {
                check_list(es, m, STEME_ESC_OPEN, (size_t)tu_rng_below(&rng, 5));
                check_list(es, m, STEME_ESC_RESOLVED, (size_t)tu_rng_below(&rng, 5));
            }
        }
        steme_db_close(db);
        /* MEM: everything comes back by replaying the log */
        db = st_open_db(dir, STEME_KV_MEM);
        es = steme_db_escalations(db);
        check_list(es, m, STEME_ESC_OPEN, 0);
        check_list(es, m, STEME_ESC_RESOLVED, 7);
        steme_db_close(db);
        tu_rmtree_free(dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(raise_resolve_reopen),
        cmocka_unit_test(bad_input_changes_nothing),
        cmocka_unit_test(random_ops_vs_model),
    };
    int rc = cmocka_run_group_tests_name("embedded", tests, NULL, NULL);
    rc |= sp_run_on_pg("pg", tests);
    return rc;
}
