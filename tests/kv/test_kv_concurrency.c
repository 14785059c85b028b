/*
 * test_kv_concurrency.c - many threads on one handle, per engine.
 *
 * 8 writer threads add to shared u64/f64 counters (single adds and adds
 * inside batches) and write batches that set two keys to the same value,
 * in an LMDB-routed and in a RocksDB-routed pair. 2 reader threads scan
 * each pair meanwhile: a scan sees one snapshot, so the two values never
 * differ, and counters never go down. At the end every counter equals the
 * sum of what was added (f64 deltas are exact binary fractions).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "kvtest.h"

#define WRITERS 8
#define READERS 2
#define ITERS 100

typedef struct shared {
    steme_kv *kv;
    kt_key cu, cv, cf, cb;     /* counters: LMDB u64, RocksDB u64, f64, batch u64 */
    kt_key pair[2][2];         /* [LMDB, RocksDB][first, second] */
    uint8_t prefix[2][64];
    size_t plen[2];
    int writers_done;          /* atomic */
    char failure[256];         /* first failure seen by a thread */
    pthread_mutex_t lock;
} shared;

typedef struct worker {
    shared *sh;
    int id;
} worker;

static void fail_thread(shared *sh, const char *what, int rc)
{
    pthread_mutex_lock(&sh->lock);
    if (!sh->failure[0])
        snprintf(sh->failure, sizeof sh->failure, "%s: %s (%s)", what, steme_errname(rc),
                 steme_kv_errmsg(sh->kv));
    pthread_mutex_unlock(&sh->lock);
}

static void *writer(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    steme_kv_batch *b = steme_kv_batch_new();
    for (int i = 0; i < ITERS && b; i++) {
        int rc;
        if ((rc = steme_kv_add_u64(sh->kv, sh->cu.b, sh->cu.n, 1, 0)) != STEME_OK)
            fail_thread(sh, "add_u64 (lmdb side)", rc);
        if ((rc = steme_kv_add_u64(sh->kv, sh->cv.b, sh->cv.n, 2, 0)) != STEME_OK)
            fail_thread(sh, "add_u64 (rocksdb side)", rc);
        if ((rc = steme_kv_add_f64(sh->kv, sh->cf.b, sh->cf.n, 0.5, 0)) != STEME_OK)
            fail_thread(sh, "add_f64", rc);
        uint64_t v = (uint64_t)w->id << 32 | (uint64_t)i;
        for (int side = 0; side < 2; side++) {
            steme_kv_batch_clear(b);
            steme_kv_batch_put(b, sh->pair[side][0].b, sh->pair[side][0].n, &v, sizeof v);
            steme_kv_batch_put(b, sh->pair[side][1].b, sh->pair[side][1].n, &v, sizeof v);
            if (side == 0) /* the batch counter shares the LMDB pair's engine */
                steme_kv_batch_add_u64(b, sh->cb.b, sh->cb.n, 3);
            if ((rc = steme_kv_write(sh->kv, b, 0)) != STEME_OK)
                fail_thread(sh, "batch write", rc);
        }
    }
    if (!b)
        fail_thread(sh, "batch_new", STEME_E_NOMEM);
    steme_kv_batch_free(b);
    return NULL;
}

static void *reader(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    kt_list got = {0};
    uint64_t last_u = 0;
    while (!__atomic_load_n(&sh->writers_done, __ATOMIC_ACQUIRE)) {
        for (int side = 0; side < 2; side++) {
            int rc = kt_scan(sh->kv, sh->prefix[side], sh->plen[side], NULL, 0, 0,
                             side ? STEME_SCAN_REVERSE : 0, &got);
            if (rc != STEME_OK) {
                fail_thread(sh, "scan", rc);
                continue;
            }
            if (got.n != 0 && got.n != 2)
                fail_thread(sh, "scan saw half a batch (entry count)", STEME_E_INTERNAL);
            if (got.n == 2 && (got.e[0].vn != 8 || got.e[1].vn != 8 ||
                               memcmp(got.e[0].v, got.e[1].v, 8) != 0))
                fail_thread(sh, "scan saw two different values of one batch", STEME_E_INTERNAL);
        }
        uint64_t u = 0;
        int rc = steme_kv_get_u64(sh->kv, sh->cu.b, sh->cu.n, &u);
        if (rc != STEME_OK && rc != STEME_E_NOTFOUND)
            fail_thread(sh, "get_u64", rc);
        if (u < last_u) {
            char msg[96];
            snprintf(msg, sizeof msg, "counter went down from %llu to %llu (rc %d)",
                     (unsigned long long)last_u, (unsigned long long)u, rc);
            fail_thread(sh, msg, STEME_E_INTERNAL);
        }
        last_u = u;
    }
    kt_list_free(&got);
    return NULL;
}

KT_ENGINE_TEST(test_threads)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    static shared sh;
    memset(&sh, 0, sizeof sh);
    pthread_mutex_init(&sh.lock, NULL);
    sh.kv = d.kv;
    kt_key_make(&sh.cu, STEME_FAM_QUOTA_LIMIT, NULL, 1);
    kt_key_make(&sh.cv, STEME_FAM_VOTE_COUNT, "conc", 1);
    kt_key_make(&sh.cf, STEME_FAM_VOTE_WEIGHT, "conc", 1);
    kt_key_make(&sh.cb, STEME_FAM_CURSOR, NULL, 1);
    kt_key_make(&sh.pair[0][0], STEME_FAM_GOLD_STANDARD, "pair", 1);
    kt_key_make(&sh.pair[0][1], STEME_FAM_GOLD_STANDARD, "pair", 2);
    kt_key_make(&sh.pair[1][0], STEME_FAM_VOTE, "pair", 1);
    kt_key_make(&sh.pair[1][1], STEME_FAM_VOTE, "pair", 2);
    for (int side = 0; side < 2; side++) {
        steme_key k;
        memset(&k, 0, sizeof k);
        k.family = side ? STEME_FAM_VOTE : STEME_FAM_GOLD_STANDARD;
        k.subject = "pair";
        k.subject_len = 4;
        assert_int_equal(steme_key_encode_prefix(&k, 0, sh.prefix[side], sizeof sh.prefix[side],
                                                 &sh.plen[side], NULL),
                         STEME_OK);
    }
    pthread_t wt[WRITERS], rt[READERS];
    worker ww[WRITERS], rw[READERS];
    for (int i = 0; i < READERS; i++) {
        rw[i] = (worker){&sh, i};
        assert_int_equal(pthread_create(&rt[i], NULL, reader, &rw[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        ww[i] = (worker){&sh, i};
        assert_int_equal(pthread_create(&wt[i], NULL, writer, &ww[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(wt[i], NULL);
    __atomic_store_n(&sh.writers_done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < READERS; i++)
        pthread_join(rt[i], NULL);
    if (sh.failure[0])
        fail_msg("%s", sh.failure);
    uint64_t u;
    double f;
    assert_int_equal(steme_kv_get_u64(d.kv, sh.cu.b, sh.cu.n, &u), STEME_OK);
    assert_true(u == (uint64_t)WRITERS * ITERS);
    assert_int_equal(steme_kv_get_u64(d.kv, sh.cv.b, sh.cv.n, &u), STEME_OK);
    assert_true(u == (uint64_t)WRITERS * ITERS * 2);
    assert_int_equal(steme_kv_get_u64(d.kv, sh.cb.b, sh.cb.n, &u), STEME_OK);
    assert_true(u == (uint64_t)WRITERS * ITERS * 3);
    assert_int_equal(steme_kv_get_f64(d.kv, sh.cf.b, sh.cf.n, &f), STEME_OK);
    assert_true(f == WRITERS * ITERS * 0.5);
    pthread_mutex_destroy(&sh.lock);
    kt_db_close(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
