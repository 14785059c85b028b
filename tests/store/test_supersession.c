/* test_supersession.c - supersession chains: supersede, head, successor,
 * predecessor, refusals (self, unknown, twice, cycles), random attempts vs a
 * model (and the batched check vs the same model), concurrent opposite
 * supersessions never make a cycle, bad input,
 * persistence across reopen (and replay on MEM). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "steme/supersession.h"
#include "testutil.h"
#include "store_pg.h" /* last: runs the tests on pg too */
#include "store_testlib.h" /* after store_pg.h: opens through it */

static char g_subjects[4][16] = {"aspirin", "ibuprofen", "paracetamol", "caf\xc3\xa9ine"};
static steme_agent_id g_agent = {{0xA1}};

/* Store assertion i (subjects vary, so links cross subjects); its hash in *h. */
static void put_n(steme_db *db, int i, steme_hash *h)
{
    char val[32];
    snprintf(val, sizeof val, "v%d", i);
    steme_assertion a;
    memset(&a, 0, sizeof a);
    a.subject = g_subjects[i % 4];
    a.subject_len = strlen(a.subject);
    a.predicate = "dose";
    a.predicate_len = 4;
    a.object = steme_value_string(val, strlen(val));
    a.confidence = 0.5;
    a.source_kind = STEME_SOURCE_AGENT;
    a.agent = g_agent;
    a.timestamp = 1700000000000ull + (uint64_t)i;
    assert_int_equal(steme_db_put_assertion(db, &a, h, NULL), STEME_OK);
}

static int sup(steme_supersessions *s, const steme_hash *o, const steme_hash *n)
{
    return steme_supersede(s, o, n, "corrected", 9, &g_agent, 42);
}

static void chain_and_refusals(void **state)
{
    (void)state;
    char *dir = tu_tempdir("sup");
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_supersessions *s = steme_db_supersessions(db);
    steme_hash h[6];
    for (int i = 0; i < 6; i++)
        put_n(db, i, &h[i]);
    assert_int_equal(sup(s, &h[0], &h[1]), STEME_OK);
    assert_int_equal(sup(s, &h[1], &h[2]), STEME_OK);
    steme_hash head, x;
    size_t links;
    assert_int_equal(steme_supersession_head(s, &h[0], &head, &links), STEME_OK);
    assert_memory_equal(head.bytes, h[2].bytes, 32);
    assert_int_equal(links, 2);
    assert_int_equal(steme_supersession_head(s, &h[2], &head, &links), STEME_OK);
    assert_memory_equal(head.bytes, h[2].bytes, 32);
    assert_int_equal(links, 0);
    assert_int_equal(steme_supersession_successor(s, &h[1], &x), STEME_OK);
    assert_memory_equal(x.bytes, h[2].bytes, 32);
    assert_int_equal(steme_supersession_predecessor(s, &h[1], &x), STEME_OK);
    assert_memory_equal(x.bytes, h[0].bytes, 32);
    assert_int_equal(steme_supersession_successor(s, &h[2], &x), STEME_E_NOTFOUND);
    assert_int_equal(steme_supersession_predecessor(s, &h[0], &x), STEME_E_NOTFOUND);
    bool yes;
    assert_int_equal(steme_supersession_is_superseded(s, &h[0], &yes), STEME_OK);
    assert_true(yes);
    assert_int_equal(steme_supersession_is_superseded(s, &h[2], &yes), STEME_OK);
    assert_false(yes);

    /* refusals */
    assert_int_equal(sup(s, &h[3], &h[3]), STEME_E_INVALID);           /* self */
    assert_int_equal(sup(s, &h[2], &h[0]), STEME_E_INVALID);           /* cycle */
    assert_non_null(strstr(steme_db_errmsg(db), "cycle"));
    assert_int_equal(sup(s, &h[0], &h[3]), STEME_E_EXISTS);            /* already superseded */
    assert_int_equal(sup(s, &h[3], &h[1]), STEME_E_EXISTS);            /* already a successor */
    steme_hash unknown = {{0xEE}};
    assert_int_equal(sup(s, &unknown, &h[3]), STEME_E_NOTFOUND);
    assert_non_null(strstr(steme_db_errmsg(db), "old"));
    assert_int_equal(sup(s, &h[3], &unknown), STEME_E_NOTFOUND);
    assert_non_null(strstr(steme_db_errmsg(db), "new"));
    assert_int_equal(steme_supersession_head(s, &unknown, &head, NULL), STEME_E_NOTFOUND);
    assert_int_equal(steme_supersession_is_superseded(s, &unknown, &yes), STEME_OK);
    assert_false(yes);
    /* prepend and append to the chain: 3 -> 0 -> 1 -> 2 -> 4 */
    assert_int_equal(sup(s, &h[3], &h[0]), STEME_OK);
    assert_int_equal(sup(s, &h[2], &h[4]), STEME_OK);
    assert_int_equal(sup(s, &h[4], &h[3]), STEME_E_INVALID);           /* the long cycle */
    steme_db_close(db);

    db = st_open_db(dir, STEME_KV_HYBRID);
    s = steme_db_supersessions(db);
    assert_int_equal(steme_supersession_head(s, &h[3], &head, &links), STEME_OK);
    assert_memory_equal(head.bytes, h[4].bytes, 32);
    assert_int_equal(links, 4);
    steme_buf buf = STEME_BUF_INIT;
    steme_supersession got;
    assert_int_equal(steme_supersession_get(s, &h[1], &buf, &got), STEME_OK);
    assert_memory_equal(got.new_hash.bytes, h[2].bytes, 32);
    assert_int_equal(got.reason_len, 9);
    assert_memory_equal(got.reason, "corrected", 9);
    assert_int_equal(got.timestamp, 42);
    assert_int_equal(steme_supersession_get(s, &h[4], &buf, &got), STEME_E_NOTFOUND);
    steme_buf_free(&buf);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

static void bad_input_changes_nothing(void **state)
{
    (void)state;
    char *dir = tu_tempdir("sup-bad");
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_supersessions *s = steme_db_supersessions(db);
    assert_null(steme_db_supersessions(NULL));
    steme_hash a, b, x;
    put_n(db, 0, &a);
    put_n(db, 1, &b);
    assert_int_equal(steme_supersede(NULL, &a, &b, NULL, 0, &g_agent, 1), STEME_E_INVALID);
    assert_int_equal(steme_supersede(s, NULL, &b, NULL, 0, &g_agent, 1), STEME_E_INVALID);
    assert_int_equal(steme_supersede(s, &a, NULL, NULL, 0, &g_agent, 1), STEME_E_INVALID);
    assert_int_equal(steme_supersede(s, &a, &b, NULL, 0, NULL, 1), STEME_E_INVALID);
    assert_int_equal(steme_supersede(s, &a, &b, NULL, 5, &g_agent, 1), STEME_E_INVALID);
    assert_int_equal(steme_supersede(s, &a, &b, "bad\xff", 4, &g_agent, 1), STEME_E_BAD_UTF8);
    static char big[STEME_TEXT_MAX + 1];
    memset(big, 'r', sizeof big);
    assert_int_equal(steme_supersede(s, &a, &b, big, sizeof big, &g_agent, 1), STEME_E_TOO_BIG);
    assert_int_equal(steme_supersede(s, &a, &a, NULL, 0, &g_agent, 1), STEME_E_INVALID);
    bool yes = true;
    assert_int_equal(steme_supersession_is_superseded(s, &a, &yes), STEME_OK);
    assert_false(yes); /* nothing changed */
    assert_int_equal(steme_supersession_predecessor(s, &b, &x), STEME_E_NOTFOUND);
    assert_int_equal(steme_supersession_head(s, NULL, &x, NULL), STEME_E_INVALID);
    assert_int_equal(steme_supersession_head(s, &a, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_supersession_successor(s, NULL, &x), STEME_E_INVALID);
    assert_int_equal(steme_supersession_predecessor(s, &a, NULL), STEME_E_INVALID);
    assert_int_equal(steme_supersession_is_superseded(s, &a, NULL), STEME_E_INVALID);
    assert_int_equal(steme_supersession_is_superseded(NULL, &a, &yes), STEME_E_INVALID);
    /* batched: NULL arguments, an empty or bad subject; n == 0 reads nothing */
    assert_int_equal(steme_supersession_are_superseded(NULL, "aspirin", 7, 1, &a, &yes),
                     STEME_E_INVALID);
    assert_int_equal(steme_supersession_are_superseded(s, NULL, 7, 1, &a, &yes), STEME_E_INVALID);
    assert_int_equal(steme_supersession_are_superseded(s, "aspirin", 7, 1, NULL, &yes),
                     STEME_E_INVALID);
    assert_int_equal(steme_supersession_are_superseded(s, "aspirin", 7, 1, &a, NULL),
                     STEME_E_INVALID);
    assert_int_equal(steme_supersession_are_superseded(s, "aspirin", 7, 0, NULL, NULL), STEME_OK);
    assert_int_not_equal(steme_supersession_are_superseded(s, "", 0, 1, &a, &yes), STEME_OK);
    assert_int_equal(steme_supersession_are_superseded(s, "bad\xff", 4, 1, &a, &yes),
                     STEME_E_BAD_UTF8);
    steme_db_close(db);
    tu_rmtree_free(dir);
}

/* ------------------------------------------------ property: vs a model */

#define P_N 24

/* The batched check agrees with the model for each subject's assertions,
 * repeated past one multi-get (128), and says no for a foreign or unknown
 * hash. */
static void batched_vs_model(steme_supersessions *s, const steme_hash *h, const int *succ)
{
    enum { REPEAT = 25, M = REPEAT * (P_N / 4) + 2 };
    steme_hash hs[M];
    bool yes[M];
    int want[M];
    for (int q = 0; q < 4; q++) {
        size_t m = 0;
        for (int r = 0; r < REPEAT; r++)
            for (int i = q; i < P_N; i += 4) {
                hs[m] = h[i];
                want[m++] = succ[i] >= 0;
            }
        for (int i = 0; i < P_N; i++)
            if (i % 4 != q && succ[i] >= 0) {   /* superseded, but another subject's */
                hs[m] = h[i];
                want[m++] = 0;
                break;
            }
        memset(hs[m].bytes, 0xEE, 32);           /* unknown */
        want[m++] = 0;
        memset(yes, 0xFF, sizeof yes);
        assert_int_equal(steme_supersession_are_superseded(s, g_subjects[q],
                                                           strlen(g_subjects[q]), m, hs, yes),
                         STEME_OK);
        for (size_t i = 0; i < m; i++)
            assert_int_equal(yes[i], want[i]);
    }
}

static void random_attempts_vs_model(void **state)
{
    (void)state;
    uint64_t seed0 = tu_seed(0x50be5);
    for (uint64_t sd = 0; sd < 2; sd++) {
        tu_rng rng;
        tu_rng_seed(&rng, seed0 + sd);
        char *dir = tu_tempdir("sup-prop");
        steme_db *db = st_open_db(dir, STEME_KV_MEM);
        steme_supersessions *s = steme_db_supersessions(db);
        steme_hash h[P_N];
        int succ[P_N], pred[P_N];
        for (int i = 0; i < P_N; i++) {
            put_n(db, i, &h[i]);
            succ[i] = pred[i] = -1;
        }
        for (int step = 0; step < 150; step++) {
            int o = (int)tu_rng_below(&rng, P_N), n = (int)tu_rng_below(&rng, P_N);
            int want;
            if (o == n) {
                want = STEME_E_INVALID;
            } else if (succ[o] >= 0 || pred[n] >= 0) {
                want = STEME_E_EXISTS;
            } else {
                want = STEME_OK;
                for (int c = n; c >= 0; c = succ[c])
                    if (c == o)
                        want = STEME_E_INVALID; /* a cycle */
            }
            assert_int_equal(sup(s, &h[o], &h[n]), want);
            if (want == STEME_OK) {
                succ[o] = n;
                pred[n] = o;
            }
        }
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < P_N; i++) {
                int hd = i;
                size_t len = 0;
                while (succ[hd] >= 0) {
                    hd = succ[hd];
                    len++;
                }
                steme_hash got;
                size_t links;
                assert_int_equal(steme_supersession_head(s, &h[i], &got, &links), STEME_OK);
                assert_memory_equal(got.bytes, h[hd].bytes, 32);
                assert_int_equal(links, len);
                bool yes;
                assert_int_equal(steme_supersession_is_superseded(s, &h[i], &yes), STEME_OK);
                assert_int_equal(yes, succ[i] >= 0);
                int rc = steme_supersession_predecessor(s, &h[i], &got);
                assert_int_equal(rc, pred[i] >= 0 ? STEME_OK : STEME_E_NOTFOUND);
                if (pred[i] >= 0)
                    assert_memory_equal(got.bytes, h[pred[i]].bytes, 32);
            }
            batched_vs_model(s, h, succ);
            /* pass 2: after reopen, MEM rebuilt from the log */
            steme_db_close(db);
            db = st_open_db(dir, STEME_KV_MEM);
            s = steme_db_supersessions(db);
        }
        steme_db_close(db);
        tu_rmtree_free(dir);
    }
}

/* ----------------------- concurrency: opposite supersessions at once */

#define T_PAIRS 8

typedef struct racer {
    steme_supersessions *s;
    const steme_hash *from, *to;
    int rc;
    pthread_barrier_t *go;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(r->go);
    r->rc = sup(r->s, r->from, r->to);
    return NULL;
}

static void concurrent_never_cycles(void **state)
{
    (void)state;
    char *dir = tu_tempdir("sup-mt");
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_supersessions *s = steme_db_supersessions(db);
    steme_hash h[3 * T_PAIRS];
    for (int i = 0; i < 3 * T_PAIRS; i++)
        put_n(db, i, &h[i]);
    /* per triple (a, b, c): a -> b is stored, then "b -> c" races "c -> a";
     * each passes the cycle check alone, together they would close
     * a -> b -> c -> a, so exactly one must win */
    for (int t = 0; t < T_PAIRS; t++)
        assert_int_equal(sup(s, &h[3 * t], &h[3 * t + 1]), STEME_OK);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2 * T_PAIRS);
    pthread_t th[2 * T_PAIRS];
    racer r[2 * T_PAIRS];
    for (int t = 0; t < T_PAIRS; t++) {
        r[2 * t] = (racer){s, &h[3 * t + 1], &h[3 * t + 2], 0, &go};
        r[2 * t + 1] = (racer){s, &h[3 * t + 2], &h[3 * t], 0, &go};
    }
    for (int i = 0; i < 2 * T_PAIRS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    for (int i = 0; i < 2 * T_PAIRS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int t = 0; t < T_PAIRS; t++) {
        int ok = (r[2 * t].rc == STEME_OK) + (r[2 * t + 1].rc == STEME_OK);
        assert_int_equal(ok, 1); /* exactly one of the two; the other saw the cycle */
        assert_true(r[2 * t].rc == STEME_E_INVALID || r[2 * t + 1].rc == STEME_E_INVALID);
        for (int k = 0; k < 3; k++) {
            steme_hash head;
            assert_int_equal(steme_supersession_head(s, &h[3 * t + k], &head, NULL), STEME_OK);
        }
    }
    steme_db_close(db);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chain_and_refusals),
        cmocka_unit_test(bad_input_changes_nothing),
        cmocka_unit_test(random_attempts_vs_model),
        cmocka_unit_test(concurrent_never_cycles),
    };
    int rc = cmocka_run_group_tests_name("embedded", tests, NULL, NULL);
    rc |= sp_run_on_pg("pg", tests);
    return rc;
}
