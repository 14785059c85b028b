/*
 * test_kv_expect.c - batch preconditions (steme_kv_batch_expect) on every
 * engine (mem, lmdb, rocksdb, hybrid, and pg when $STEME_PG_URL is set):
 * a batch applies only if every expected key holds exactly the expected
 * value (or is absent), checked against the state before the batch;
 * otherwise STEME_E_BUSY and nothing is applied. Then a property run (random
 * conditional batches against a model), bad input, and a concurrency test:
 * threads doing read / expect-what-I-read / write increments of one value
 * with retries never lose an update.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvtest.h"
#include "testutil.h"

#define OK(call) assert_int_equal((call), STEME_OK)

static void expect_val(steme_kv *kv, const kt_key *k, const void *v, size_t vn)
{
    steme_buf b = STEME_BUF_INIT;
    int rc = steme_kv_get(kv, k->b, k->n, &b);
    if (rc != STEME_OK)
        fail_msg("get: %s (%s)", steme_errname(rc), steme_kv_errmsg(kv));
    assert_int_equal(b.len, vn);
    if (vn)
        assert_memory_equal(b.data, v, vn);
    steme_buf_free(&b);
}

static void expect_absent(steme_kv *kv, const kt_key *k)
{
    steme_buf b = STEME_BUF_INIT;
    assert_int_equal(steme_kv_get(kv, k->b, k->n, &b), STEME_E_NOTFOUND);
    steme_buf_free(&b);
}

/* Keys of one engine under the hybrid router: RocksDB-routed vote keys. */
static void key_of(kt_key *k, uint64_t i)
{
    kt_key_make(k, STEME_FAM_VOTE, "expect", i);
}

KT_ENGINE_TEST(test_expect_basic)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    kt_key a, b2, c;
    key_of(&a, 1);
    key_of(&b2, 2);
    key_of(&c, 3);
    steme_kv_batch *b = steme_kv_batch_new();
    assert_non_null(b);

    /* absent holds: applies */
    OK(steme_kv_batch_expect(b, a.b, a.n, NULL, 0));
    OK(steme_kv_batch_put(b, a.b, a.n, "one", 3));
    OK(steme_kv_write(d.kv, b, 0));
    expect_val(d.kv, &a, "one", 3);

    /* absent no longer holds: BUSY, nothing applied (b2 stays absent) */
    steme_kv_batch_clear(b);
    OK(steme_kv_batch_put(b, b2.b, b2.n, "x", 1));
    OK(steme_kv_batch_expect(b, a.b, a.n, NULL, 0));
    OK(steme_kv_batch_put(b, a.b, a.n, "two", 3));
    assert_int_equal(steme_kv_write(d.kv, b, 0), STEME_E_BUSY);
    assert_non_null(strstr(steme_kv_errmsg(d.kv), "precondition"));
    expect_val(d.kv, &a, "one", 3);
    expect_absent(d.kv, &b2);

    /* value holds: applies; checked against the state BEFORE the batch,
     * even though the batch changes a first */
    steme_kv_batch_clear(b);
    OK(steme_kv_batch_put(b, a.b, a.n, "two", 3));
    OK(steme_kv_batch_expect(b, a.b, a.n, "one", 3));
    OK(steme_kv_batch_add_u64(b, c.b, c.n, 5));
    OK(steme_kv_write(d.kv, b, 0));
    expect_val(d.kv, &a, "two", 3);
    uint64_t u;
    OK(steme_kv_get_u64(d.kv, c.b, c.n, &u));
    assert_int_equal(u, 5);

    /* wrong value, longer value, shorter value, prefix: all BUSY */
    const char *wrong[] = {"one", "twoo", "tw", "TWO"};
    for (int i = 0; i < 4; i++) {
        steme_kv_batch_clear(b);
        OK(steme_kv_batch_expect(b, a.b, a.n, wrong[i], strlen(wrong[i])));
        OK(steme_kv_batch_add_u64(b, c.b, c.n, 1));
        assert_int_equal(steme_kv_write(d.kv, b, 0), STEME_E_BUSY);
    }
    OK(steme_kv_get_u64(d.kv, c.b, c.n, &u));
    assert_int_equal(u, 5);

    /* expecting a value of an absent key fails; expecting absent of a
     * present one fails */
    steme_kv_batch_clear(b);
    OK(steme_kv_batch_expect(b, b2.b, b2.n, "x", 1));
    OK(steme_kv_batch_put(b, b2.b, b2.n, "y", 1));
    assert_int_equal(steme_kv_write(d.kv, b, 0), STEME_E_BUSY);
    expect_absent(d.kv, &b2);

    /* the empty value is a value, not absence */
    OK(steme_kv_put(d.kv, b2.b, b2.n, "", 0, 0));
    steme_kv_batch_clear(b);
    OK(steme_kv_batch_expect(b, b2.b, b2.n, NULL, 0));
    assert_int_equal(steme_kv_write(d.kv, b, 0), STEME_E_BUSY);
    steme_kv_batch_clear(b);
    OK(steme_kv_batch_expect(b, b2.b, b2.n, "", 0));
    OK(steme_kv_batch_delete(b, b2.b, b2.n));
    OK(steme_kv_write(d.kv, b, 0));
    expect_absent(d.kv, &b2);

    /* a counter compares as its 8 bytes */
    uint8_t five[8] = {5};
    steme_kv_batch_clear(b);
    OK(steme_kv_batch_expect(b, c.b, c.n, five, 8));
    OK(steme_kv_batch_add_u64(b, c.b, c.n, 1));
    OK(steme_kv_write(d.kv, b, 0));
    OK(steme_kv_get_u64(d.kv, c.b, c.n, &u));
    assert_int_equal(u, 6);

    /* several preconditions: all must hold; an expects-only batch writes nothing */
    steme_kv_batch_clear(b);
    OK(steme_kv_batch_expect(b, a.b, a.n, "two", 3));
    OK(steme_kv_batch_expect(b, b2.b, b2.n, NULL, 0));
    OK(steme_kv_write(d.kv, b, 0));
    OK(steme_kv_batch_expect(b, c.b, c.n, five, 8)); /* now 6: fails */
    assert_int_equal(steme_kv_write(d.kv, b, 0), STEME_E_BUSY);

    /* absent, then the batch claims the key and deletes it again: fine */
    steme_kv_batch_clear(b);
    OK(steme_kv_batch_expect(b, b2.b, b2.n, NULL, 0));
    OK(steme_kv_batch_add_u64(b, b2.b, b2.n, 7));
    OK(steme_kv_write(d.kv, b, 0));
    OK(steme_kv_get_u64(d.kv, b2.b, b2.n, &u));
    assert_int_equal(u, 7);

    steme_kv_batch_free(b);
    kt_db_close(&d);
}

/* A precondition routed to LMDB with a write routed to RocksDB is a
 * cross-engine batch on hybrid; alone it goes to its own engine. */
KT_ENGINE_TEST(test_expect_routing)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    kt_key lm, rd;
    kt_key_make(&lm, STEME_FAM_TRUST_RANK, NULL, 1);
    kt_key_make(&rd, STEME_FAM_VOTE, "r", 1);
    assert_int_not_equal(kt_key_engine(lm.b, lm.n), kt_key_engine(rd.b, rd.n));
    steme_kv_batch *b = steme_kv_batch_new();
    OK(steme_kv_batch_expect(b, lm.b, lm.n, NULL, 0));
    OK(steme_kv_batch_put(b, rd.b, rd.n, "v", 1));
    int rc = steme_kv_write(d.kv, b, 0);
    if (e == STEME_KV_HYBRID) {
        assert_int_equal(rc, STEME_E_CROSS_ENGINE);
        expect_absent(d.kv, &rd);
    } else {
        OK(rc);
        expect_val(d.kv, &rd, "v", 1);
    }
    steme_kv_batch_clear(b);
    OK(steme_kv_batch_expect(b, lm.b, lm.n, NULL, 0));
    OK(steme_kv_batch_put(b, lm.b, lm.n, "t", 1));
    OK(steme_kv_write(d.kv, b, 0));
    expect_val(d.kv, &lm, "t", 1);
    steme_kv_batch_free(b);
    kt_db_close(&d);
}

/* Long keys (LMDB keeps keys over its direct limit in buckets). */
KT_ENGINE_TEST(test_expect_long_keys)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    char subject[900];
    memset(subject, 'q', sizeof subject - 1);
    subject[sizeof subject - 1] = 0;
    kt_key k1, k2;
    kt_key_make(&k1, STEME_FAM_VOTE, subject, 1);
    kt_key_make(&k2, STEME_FAM_VOTE, subject, 2);
    steme_kv_batch *b = steme_kv_batch_new();
    OK(steme_kv_put(d.kv, k1.b, k1.n, "a", 1, 0));
    OK(steme_kv_batch_expect(b, k1.b, k1.n, "a", 1));
    OK(steme_kv_batch_expect(b, k2.b, k2.n, NULL, 0));
    OK(steme_kv_batch_put(b, k2.b, k2.n, "b", 1));
    OK(steme_kv_write(d.kv, b, 0));
    assert_int_equal(steme_kv_write(d.kv, b, 0), STEME_E_BUSY);
    expect_val(d.kv, &k2, "b", 1);
    steme_kv_batch_free(b);
    kt_db_close(&d);
}

/* Random conditional batches against a model: the batch applies exactly
 * when the model says every precondition holds. */
KT_ENGINE_TEST(test_expect_property)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    kt_model m = {0};
    uint64_t seed = tu_seed(0x5eed0e7);
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    steme_kv_batch *b = steme_kv_batch_new();
    int rounds = e == STEME_KV_PG ? 60 : 300;
    for (int r = 0; r < rounds; r++) {
        steme_kv_batch_clear(b);
        int holds = 1;
        int nops = 1 + (int)tu_rng_below(&rng, 4);
        kt_key ks[4];
        char vals[4][4];
        int is_put[4] = {0};
        for (int i = 0; i < nops; i++) {
            key_of(&ks[i], tu_rng_below(&rng, 6));
            const kt_entry *cur = kt_model_get(&m, ks[i].b, ks[i].n);
            unsigned what = (unsigned)tu_rng_below(&rng, 4);
            if (what == 0) { /* expect the current state (holds) */
                const void *cv = cur ? (cur->v ? (const void *)cur->v : "") : NULL;
                OK(steme_kv_batch_expect(b, ks[i].b, ks[i].n, cv, cur ? cur->vn : 0));
            } else if (what == 1) { /* expect something random (may hold) */
                snprintf(vals[i], sizeof vals[i], "%u", (unsigned)tu_rng_below(&rng, 3));
                int absent = tu_rng_below(&rng, 3) == 0;
                OK(steme_kv_batch_expect(b, ks[i].b, ks[i].n, absent ? NULL : vals[i],
                                         absent ? 0 : strlen(vals[i])));
                int h = absent ? cur == NULL
                               : cur && cur->vn == strlen(vals[i]) &&
                                     memcmp(cur->v, vals[i], cur->vn) == 0;
                holds &= h;
            } else {
                snprintf(vals[i], sizeof vals[i], "%u", (unsigned)tu_rng_below(&rng, 3));
                is_put[i] = 1;
                OK(steme_kv_batch_put(b, ks[i].b, ks[i].n, vals[i], strlen(vals[i])));
            }
        }
        int rc = steme_kv_write(d.kv, b, 0);
        if (!holds) {
            if (rc != STEME_E_BUSY)
                fail_msg("seed %llu round %d: expected BUSY, got %s", (unsigned long long)seed,
                         r, steme_errname(rc));
            continue;
        }
        if (rc != STEME_OK)
            fail_msg("seed %llu round %d: %s (%s)", (unsigned long long)seed, r,
                     steme_errname(rc), steme_kv_errmsg(d.kv));
        /* the batch applied: its puts, in order (preconditions were
         * checked against the state before all of them) */
        for (int i = 0; i < nops; i++)
            if (is_put[i])
                kt_model_put(&m, ks[i].b, ks[i].n, (const uint8_t *)vals[i], strlen(vals[i]));
    }
    kt_list all = {0};
    OK(kt_scan(d.kv, NULL, 0, NULL, 0, 0, 0, &all));
    kt_list_expect_equal(&all, &m, "final contents");
    kt_list_free(&all);
    kt_list_free(&m);
    steme_kv_batch_free(b);
    kt_db_close(&d);
}

static void test_expect_bad_input(void **state)
{
    (void)state;
    steme_kv_batch *b = steme_kv_batch_new();
    uint8_t k[1] = {1};
    assert_int_equal(steme_kv_batch_expect(NULL, k, 1, NULL, 0), STEME_E_INVALID);
    assert_int_equal(steme_kv_batch_expect(b, NULL, 1, NULL, 0), STEME_E_INVALID);
    assert_int_equal(steme_kv_batch_expect(b, k, 0, NULL, 0), STEME_E_INVALID);
    assert_int_equal(steme_kv_batch_expect(b, k, 1, NULL, 3), STEME_E_INVALID);
    assert_int_equal(steme_kv_batch_expect(b, k, STEME_KV_MAX_KEY + 1, NULL, 0),
                     STEME_E_TOO_BIG);
    assert_int_equal(steme_kv_batch_count(b), 0);
    steme_kv_batch_free(b);
}

/* --- concurrency: optimistic increments never lose an update ---------------- */

typedef struct incr_ctx {
    steme_kv *kv;
    kt_key key;
    int n;
    int failed;
} incr_ctx;

static void *incr_thread(void *arg)
{
    incr_ctx *c = arg;
    steme_kv_batch *b = steme_kv_batch_new();
    steme_buf v = STEME_BUF_INIT;
    for (int i = 0; i < c->n && !c->failed; i++) {
        for (;;) {
            int rc = steme_kv_get(c->kv, c->key.b, c->key.n, &v);
            uint64_t cur = 0;
            if (rc == STEME_OK && v.len == 8)
                memcpy(&cur, v.data, 8);
            else if (rc != STEME_E_NOTFOUND) {
                c->failed = 1;
                break;
            }
            uint64_t next = cur + 1;
            steme_kv_batch_clear(b);
            steme_kv_batch_expect(b, c->key.b, c->key.n, rc == STEME_OK ? v.data : NULL,
                                  rc == STEME_OK ? v.len : 0);
            steme_kv_batch_put(b, c->key.b, c->key.n, &next, 8);
            rc = steme_kv_write(c->kv, b, 0);
            if (rc == STEME_OK)
                break;
            if (rc != STEME_E_BUSY) {
                c->failed = 1;
                break;
            }
        }
    }
    steme_buf_free(&v);
    steme_kv_batch_free(b);
    return NULL;
}

KT_ENGINE_TEST(test_expect_concurrent_increments)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    enum { T = 4 };
    int per = e == STEME_KV_PG ? 40 : 200;
    incr_ctx c[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        c[i].kv = d.kv;
        key_of(&c[i].key, 42);
        c[i].n = per;
        c[i].failed = 0;
        assert_int_equal(pthread_create(&th[i], NULL, incr_thread, &c[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_false(c[i].failed);
    }
    steme_buf v = STEME_BUF_INIT;
    OK(steme_kv_get(d.kv, c[0].key.b, c[0].key.n, &v));
    assert_int_equal(v.len, 8);
    uint64_t total;
    memcpy(&total, v.data, 8);
    assert_int_equal(total, (uint64_t)T * (uint64_t)per);
    steme_buf_free(&v);
    kt_db_close(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expect_basic),
        cmocka_unit_test(test_expect_routing),
        cmocka_unit_test(test_expect_long_keys),
        cmocka_unit_test(test_expect_property),
        cmocka_unit_test(test_expect_bad_input),
        cmocka_unit_test(test_expect_concurrent_increments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
