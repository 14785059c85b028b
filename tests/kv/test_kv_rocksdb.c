/*
 * test_kv_rocksdb.c - RocksDB-engine specifics: the counter merge operator
 * (concurrency, persistence through reopen, flush and compaction, poisoned
 * counters that must not stop the database). Scans merged across column
 * families are in test_kv_rocksdb_scan.c; here: the directory lock, status
 * mapping.
 * The shared conformance/property suites cover the common contract.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kv/kv_rocksdb_int.h"
#include "steme/kv.h"
#include "kv_test_model.h"
#include "testutil.h"

/* --- merge operator ---------------------------------------------------- */

#define NTHREADS 8
#define NADDS 2000
#define NCTR 4

typedef struct adder {
    steme_kv *kv;
    int id;
} adder;

static void counter_key(int i, int f64, uint8_t *k, size_t *klen)
{
    char rest[16];
    snprintf(rest, sizeof rest, "c%d", i);
    *klen = km_key(k, "subj", f64 ? "VW" : "VC", rest, strlen(rest));
}

static void *adder_main(void *arg)
{
    adder *a = arg;
    uint8_t k[64];
    size_t klen;
    steme_kv_batch *b = steme_kv_batch_new();
    for (int n = 0; n < NADDS; n++) {
        int c = n % NCTR;
        counter_key(c, 0, k, &klen);
        /* deltas: +3 and -1 alternate per counter, so negatives (wrapping) are used */
        if (steme_kv_add_u64(a->kv, k, klen, ((n / NCTR) & 1) ? -1 : 3, 0) != STEME_OK)
            return (void *)1;
        counter_key(c, 1, k, &klen);
        if (n % 10 == 0) {
            steme_kv_batch_clear(b);
            steme_kv_batch_add_f64(b, k, klen, 0.5);
            steme_kv_batch_add_f64(b, k, klen, 0.25);
            if (steme_kv_write(a->kv, b, 0) != STEME_OK)
                return (void *)1;
        } else if (steme_kv_add_f64(a->kv, k, klen, 1.0, 0) != STEME_OK) {
            return (void *)1;
        }
    }
    steme_kv_batch_free(b);
    return NULL;
}

static void check_counters(steme_kv *kv, int rounds)
{
    /* per thread per counter: NADDS/NCTR adds, half +3, half -1 */
    uint64_t per = (uint64_t)NADDS / NCTR;
    uint64_t want_u = (uint64_t)rounds * NTHREADS * (per / 2 * 3 - per / 2);
    for (int c = 0; c < NCTR; c++) {
        uint8_t k[64];
        size_t klen;
        uint64_t u = 0;
        double f = 0;
        counter_key(c, 0, k, &klen);
        assert_int_equal(steme_kv_get_u64(kv, k, klen, &u), STEME_OK);
        assert_int_equal(u, want_u);
        counter_key(c, 1, k, &klen);
        assert_int_equal(steme_kv_get_f64(kv, k, klen, &f), STEME_OK);
        double fw = 0;
        for (int n = c; n < NADDS; n += NCTR)
            fw += (n % 10 == 0) ? 0.75 : 1.0;
        /* f64: adds with n % 10 == 0 add 0.75 (a batch), others 1.0 */
        fw *= (double)rounds * NTHREADS;
        assert_true(f == fw); /* binary fractions: exact */
    }
}

static void run_adders(steme_kv *kv)
{
    pthread_t t[NTHREADS];
    adder a[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        a[i] = (adder){kv, i};
        assert_int_equal(pthread_create(&t[i], NULL, adder_main, &a[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
}

static void test_merge_concurrent_reopen_compact(void **state)
{
    (void)state;
    char *dir = tu_tempdir("rdb-merge");
    steme_kv *kv = km_open(STEME_KV_ROCKSDB, dir);
    run_adders(kv);
    check_counters(kv, 1);
    km_flush_compact(kv);
    check_counters(kv, 1);
    steme_kv_close(kv);

    kv = km_open(STEME_KV_ROCKSDB, dir); /* the WAL/SSTs carry the merged values */
    check_counters(kv, 1);
    run_adders(kv); /* operands on top of a compacted base */
    check_counters(kv, 2);
    steme_kv_close(kv);
    kv = km_open(STEME_KV_ROCKSDB, dir); /* replay of merge operands from the WAL */
    check_counters(kv, 2);
    km_flush_compact(kv);
    check_counters(kv, 2);
    steme_kv_close(kv);
    tu_rmtree_free(dir);
}

static void test_merge_absent_and_wrap(void **state)
{
    (void)state;
    char *dir = tu_tempdir("rdb-wrap");
    steme_kv *kv = km_open(STEME_KV_ROCKSDB, dir);
    uint64_t u = 7;
    double f = 7;
    assert_int_equal(steme_kv_get_u64(kv, "nope", 4, &u), STEME_E_NOTFOUND);
    assert_int_equal(u, 0);
    assert_int_equal(steme_kv_add_u64(kv, "w", 1, -5, 0), STEME_OK);
    assert_int_equal(steme_kv_get_u64(kv, "w", 1, &u), STEME_OK);
    assert_int_equal(u, UINT64_MAX - 4);
    assert_int_equal(steme_kv_add_u64(kv, "w", 1, 10, STEME_KV_SYNC), STEME_OK);
    assert_int_equal(steme_kv_get_u64(kv, "w", 1, &u), STEME_OK);
    assert_int_equal(u, 5);
    assert_int_equal(steme_kv_add_f64(kv, "f", 1, -2.5, 0), STEME_OK);
    assert_int_equal(steme_kv_get_f64(kv, "f", 1, &f), STEME_OK);
    assert_true(f == -2.5);
    /* a put of a valid counter is a base the adds build on */
    uint8_t le[8];
    kv_u64_to_le(100, le);
    assert_int_equal(steme_kv_put(kv, "p", 1, le, 8, 0), STEME_OK);
    assert_int_equal(steme_kv_add_u64(kv, "p", 1, 1, 0), STEME_OK);
    km_flush_compact(kv);
    assert_int_equal(steme_kv_get_u64(kv, "p", 1, &u), STEME_OK);
    assert_int_equal(u, 101);
    steme_kv_close(kv);
    tu_rmtree_free(dir);
}

static int count_fn(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    ++*(size_t *)ctx;
    return 0;
}

static void test_merge_corrupt_counter(void **state)
{
    (void)state;
    char *dir = tu_tempdir("rdb-corrupt");
    steme_kv *kv = km_open(STEME_KV_ROCKSDB, dir);
    steme_buf b = STEME_BUF_INIT;
    uint64_t u;
    double f;
    /* a 3-byte value then an add */
    assert_int_equal(steme_kv_put(kv, "bad", 3, "abc", 3, 0), STEME_OK);
    assert_int_equal(steme_kv_add_u64(kv, "bad", 3, 1, 0), STEME_OK);
    assert_int_equal(steme_kv_get(kv, "bad", 3, &b), STEME_E_CORRUPT);
    assert_non_null(strstr(steme_kv_errmsg(kv), "counter"));
    assert_int_equal(steme_kv_get_u64(kv, "bad", 3, &u), STEME_E_CORRUPT);
    /* u64 and f64 adds mixed on one key */
    assert_int_equal(steme_kv_add_u64(kv, "mix", 3, 1, 0), STEME_OK);
    assert_int_equal(steme_kv_add_f64(kv, "mix", 3, 1.0, 0), STEME_OK);
    assert_int_equal(steme_kv_get_f64(kv, "mix", 3, &f), STEME_E_CORRUPT);
    /* multi-get and scans report it too */
    const void *keys[2] = {"bad", "mix"};
    size_t klens[2] = {3, 3};
    steme_buf vals[2] = {STEME_BUF_INIT, STEME_BUF_INIT};
    int st[2];
    assert_int_equal(steme_kv_multi_get(kv, 2, keys, klens, vals, st), STEME_E_CORRUPT);
    assert_int_equal(st[0], STEME_E_CORRUPT);
    size_t n = 0;
    assert_int_equal(steme_kv_scan(kv, "b", 1, NULL, 0, 0, 0, count_fn, &n, NULL),
                     STEME_E_CORRUPT);

    /* Flush + compaction meet the failed merges: the database must stay
     * writable (a failing merge operator would stop every write). */
    km_flush_compact(kv);
    assert_int_equal(steme_kv_put(kv, "ok", 2, "v", 1, 0), STEME_OK);
    assert_int_equal(steme_kv_get(kv, "bad", 3, &b), STEME_E_CORRUPT);
    assert_int_equal(steme_kv_add_u64(kv, "bad", 3, 1, 0), STEME_OK);
    assert_int_equal(steme_kv_get(kv, "bad", 3, &b), STEME_E_CORRUPT); /* sticky */
    /* a put repairs the key */
    uint8_t le[8];
    kv_u64_to_le(9, le);
    assert_int_equal(steme_kv_put(kv, "bad", 3, le, 8, 0), STEME_OK);
    assert_int_equal(steme_kv_add_u64(kv, "bad", 3, 1, 0), STEME_OK);
    assert_int_equal(steme_kv_get_u64(kv, "bad", 3, &u), STEME_OK);
    assert_int_equal(u, 10);
    steme_kv_close(kv);
    kv = km_open(STEME_KV_ROCKSDB, dir);
    assert_int_equal(steme_kv_get_f64(kv, "mix", 3, &f), STEME_E_CORRUPT);
    assert_int_equal(steme_kv_get_u64(kv, "bad", 3, &u), STEME_OK);
    steme_kv_close(kv);
    steme_buf_free(&b);
    steme_buf_free(&vals[0]);
    steme_buf_free(&vals[1]);
    tu_rmtree_free(dir);
}

static void test_busy_lock(void **state)
{
    (void)state;
    char *dir = tu_tempdir("rdb-busy");
    steme_kv *kv = km_open(STEME_KV_ROCKSDB, dir);
    steme_kv *kv2 = NULL;
    steme_error e = {0};
    assert_int_equal(steme_kv_open(STEME_KV_ROCKSDB, dir, NULL, &kv2, &e), STEME_E_BUSY);
    assert_null(kv2);
    assert_int_equal(e.code, STEME_E_BUSY);
    steme_kv_close(kv);
    assert_int_equal(steme_kv_open(STEME_KV_ROCKSDB, dir, NULL, &kv2, &e), STEME_OK);
    steme_kv_close(kv2);
    tu_rmtree_free(dir);
}

static void test_open_missing_no_create(void **state)
{
    (void)state;
    char *dir = tu_tempdir("rdb-missing");
    char path[1024];
    snprintf(path, sizeof path, "%s/absent", dir);
    steme_kv_options o;
    steme_kv_options_init(&o);
    o.create_if_missing = 0;
    steme_kv *kv = NULL;
    steme_error e = {0};
    assert_int_not_equal(steme_kv_open(STEME_KV_ROCKSDB, path, &o, &kv, &e), STEME_OK);
    assert_null(kv);
    assert_true(strlen(e.message) > 0);
    tu_rmtree_free(dir);
}

static void test_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(kv_rdb_classify("Corruption: block checksum mismatch"), STEME_E_CORRUPT);
    assert_int_equal(kv_rdb_classify("IO error: No space left on device: /x/000012.log"),
                     STEME_E_FULL);
    assert_int_equal(kv_rdb_classify("IO error: While lock file: /d/LOCK: Resource temporarily "
                                     "unavailable"),
                     STEME_E_BUSY);
    assert_int_equal(kv_rdb_classify("IO error: lock hold by current process, acquire time 1 "
                                     "acquiring thread 2: /d/LOCK: No locks available"),
                     STEME_E_BUSY);
    assert_int_equal(kv_rdb_classify("Invalid argument: Column families not opened: x"),
                     STEME_E_ENGINE);
    assert_int_equal(kv_rdb_classify("IO error: while reading block"), STEME_E_ENGINE);
    assert_int_equal(kv_rdb_classify(NULL), STEME_E_ENGINE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_concurrent_reopen_compact),
        cmocka_unit_test(test_merge_absent_and_wrap),
        cmocka_unit_test(test_merge_corrupt_counter),
        cmocka_unit_test(test_busy_lock),
        cmocka_unit_test(test_open_missing_no_create),
        cmocka_unit_test(test_status_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
