/*
 * test_kv_conformance.c - the behaviour every KV engine must show (mem,
 * lmdb, rocksdb, hybrid; each test runs once per engine), apart from scans:
 * point ops, empty and 1 MiB values, u64/f64 counters (and adds on values
 * that are not counters), batches, multi-get, persistence and the hybrid
 * engine's cross-engine refusal. Scans, the largest keys and binary keys
 * are in test_kv_conformance_scans.c; bad input in test_kv_badinput.c.
 *
 * Keys are built with the key codec and mix LMDB- and RocksDB-routed
 * families, since the hybrid engine accepts codec keys only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kvtest.h"

#define OK(call) assert_int_equal((call), STEME_OK)

KT_ENGINE_TEST(test_point_ops)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    kt_key a, v, c;
    kt_key_make(&a, STEME_FAM_ASSERTION, "alice", 1);  /* LMDB-routed */
    kt_key_make(&v, STEME_FAM_VOTE, "alice", 1);       /* RocksDB-routed */
    kt_key_make(&c, STEME_FAM_CURSOR, NULL, 2);
    kt_expect_absent(d.kv, a.b, a.n);
    OK(steme_kv_put(d.kv, a.b, a.n, "one", 3, 0));
    OK(steme_kv_put(d.kv, v.b, v.n, "vote", 4, STEME_KV_SYNC));
    kt_expect_val(d.kv, a.b, a.n, "one", 3);
    kt_expect_val(d.kv, v.b, v.n, "vote", 4);
    OK(steme_kv_put(d.kv, a.b, a.n, "second", 6, 0)); /* overwrite, longer */
    kt_expect_val(d.kv, a.b, a.n, "second", 6);
    OK(steme_kv_put(d.kv, a.b, a.n, "x", 1, 0)); /* overwrite, shorter */
    kt_expect_val(d.kv, a.b, a.n, "x", 1);
    OK(steme_kv_put(d.kv, c.b, c.n, NULL, 0, 0)); /* empty value */
    kt_expect_val(d.kv, c.b, c.n, "", 0);
    OK(steme_kv_put(d.kv, v.b, v.n, "", 0, 0)); /* overwrite with empty */
    kt_expect_val(d.kv, v.b, v.n, "", 0);
    OK(steme_kv_delete(d.kv, a.b, a.n, 0));
    kt_expect_absent(d.kv, a.b, a.n);
    OK(steme_kv_delete(d.kv, a.b, a.n, 0)); /* deleting a missing key is fine */
    OK(steme_kv_delete(d.kv, v.b, v.n, STEME_KV_SYNC));
    kt_expect_absent(d.kv, v.b, v.n);
    kt_expect_val(d.kv, c.b, c.n, "", 0);
    /* a reused buffer is overwritten, not appended to */
    steme_buf b = STEME_BUF_INIT;
    OK(steme_kv_put(d.kv, a.b, a.n, "long value here", 15, 0));
    OK(steme_kv_get(d.kv, a.b, a.n, &b));
    OK(steme_kv_put(d.kv, a.b, a.n, "ab", 2, 0));
    OK(steme_kv_get(d.kv, a.b, a.n, &b));
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "ab", 2);
    assert_int_equal(steme_kv_get(d.kv, v.b, v.n, &b), STEME_E_NOTFOUND);
    assert_int_equal(b.len, 0);
    steme_buf_free(&b);
    /* a 1 MiB value round-trips */
    size_t big = 1u << 20;
    uint8_t *val = malloc(big);
    assert_non_null(val);
    for (size_t i = 0; i < big; i++)
        val[i] = (uint8_t)(i * 7 + (i >> 9));
    OK(steme_kv_put(d.kv, a.b, a.n, val, big, 0));
    kt_expect_val(d.kv, a.b, a.n, val, big);
    free(val);
    OK(steme_kv_sync(d.kv));
    kt_db_close(&d);
}

KT_ENGINE_TEST(test_counters)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    kt_key ql, vc, vw, tr;
    kt_key_make(&ql, STEME_FAM_QUOTA_LIMIT, NULL, 1);   /* LMDB */
    kt_key_make(&vc, STEME_FAM_VOTE_COUNT, "c", 1);     /* RocksDB */
    kt_key_make(&vw, STEME_FAM_VOTE_WEIGHT, "c", 1);    /* RocksDB, f64 */
    kt_key_make(&tr, STEME_FAM_TRUST_RANK, NULL, 1);    /* LMDB, f64 */
    uint64_t u = 99;
    double f = 99;
    assert_int_equal(steme_kv_get_u64(d.kv, ql.b, ql.n, &u), STEME_E_NOTFOUND);
    assert_true(u == 0);
    assert_int_equal(steme_kv_get_f64(d.kv, vw.b, vw.n, &f), STEME_E_NOTFOUND);
    assert_true(f == 0);
    const kt_key *uk[2] = {&ql, &vc};
    for (int i = 0; i < 2; i++) {
        const kt_key *k = uk[i];
        OK(steme_kv_add_u64(d.kv, k->b, k->n, 5, 0));
        OK(steme_kv_get_u64(d.kv, k->b, k->n, &u));
        assert_true(u == 5);
        OK(steme_kv_add_u64(d.kv, k->b, k->n, -7, 0)); /* wraps below zero */
        OK(steme_kv_get_u64(d.kv, k->b, k->n, &u));
        assert_true(u == UINT64_MAX - 1);
        OK(steme_kv_add_u64(d.kv, k->b, k->n, 3, STEME_KV_SYNC)); /* wraps above the top */
        OK(steme_kv_get_u64(d.kv, k->b, k->n, &u));
        assert_true(u == 1);
        OK(steme_kv_add_u64(d.kv, k->b, k->n, INT64_MIN, 0));
        OK(steme_kv_add_u64(d.kv, k->b, k->n, INT64_MIN, 0));
        OK(steme_kv_get_u64(d.kv, k->b, k->n, &u));
        assert_true(u == 1);
        /* the stored form is 8 bytes little-endian */
        uint8_t le[8] = {1, 0, 0, 0, 0, 0, 0, 0};
        kt_expect_val(d.kv, k->b, k->n, le, 8);
        OK(steme_kv_delete(d.kv, k->b, k->n, 0));
        OK(steme_kv_add_u64(d.kv, k->b, k->n, 2, 0)); /* deleted counts as 0 */
        OK(steme_kv_get_u64(d.kv, k->b, k->n, &u));
        assert_true(u == 2);
        /* a put 8-byte value is a counter too */
        uint8_t v40[8] = {40, 0, 0, 0, 0, 0, 0, 0};
        OK(steme_kv_put(d.kv, k->b, k->n, v40, 8, 0));
        OK(steme_kv_add_u64(d.kv, k->b, k->n, 2, 0));
        OK(steme_kv_get_u64(d.kv, k->b, k->n, &u));
        assert_true(u == 42);
    }
    const kt_key *fk[2] = {&vw, &tr};
    for (int i = 0; i < 2; i++) {
        const kt_key *k = fk[i];
        OK(steme_kv_add_f64(d.kv, k->b, k->n, 1.5, 0));
        OK(steme_kv_add_f64(d.kv, k->b, k->n, -0.25, 0));
        OK(steme_kv_add_f64(d.kv, k->b, k->n, 1e-3, 0));
        OK(steme_kv_get_f64(d.kv, k->b, k->n, &f));
        assert_true(f == (1.5 + -0.25) + 1e-3);
        OK(steme_kv_add_f64(d.kv, k->b, k->n, -1e300, 0));
        OK(steme_kv_get_f64(d.kv, k->b, k->n, &f));
        assert_true(f == -1e300);
    }
    kt_db_close(&d);
}

/* An add on a value that is not 8 bytes fails at the add or at the next read. */
KT_ENGINE_TEST(test_counter_on_non_counter)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    kt_key ks[2];
    kt_key_make(&ks[0], STEME_FAM_QUOTA_LIMIT, NULL, 9);
    kt_key_make(&ks[1], STEME_FAM_VOTE_COUNT, "c", 9);
    for (int i = 0; i < 2; i++) {
        const kt_key *k = &ks[i];
        uint64_t u;
        double f;
        OK(steme_kv_put(d.kv, k->b, k->n, "abc", 3, 0));
        assert_int_equal(steme_kv_get_u64(d.kv, k->b, k->n, &u), STEME_E_CORRUPT);
        assert_true(strlen(steme_kv_errmsg(d.kv)) > 0);
        assert_int_equal(steme_kv_get_f64(d.kv, k->b, k->n, &f), STEME_E_CORRUPT);
        int rc = steme_kv_add_u64(d.kv, k->b, k->n, 1, 0);
        if (rc == STEME_OK)
            assert_int_equal(steme_kv_get_u64(d.kv, k->b, k->n, &u), STEME_E_CORRUPT);
        else
            assert_int_equal(rc, STEME_E_CORRUPT);
        /* the same inside a batch */
        steme_kv_batch *b = steme_kv_batch_new();
        OK(steme_kv_put(d.kv, k->b, k->n, "abcdefghi", 9, 0));
        OK(steme_kv_batch_add_f64(b, k->b, k->n, 1.0));
        rc = steme_kv_write(d.kv, b, 0);
        if (rc == STEME_OK)
            assert_int_equal(steme_kv_get_f64(d.kv, k->b, k->n, &f), STEME_E_CORRUPT);
        else
            assert_int_equal(rc, STEME_E_CORRUPT);
        steme_kv_batch_free(b);
        /* a put replaces whatever is there; counting works again */
        OK(steme_kv_put(d.kv, k->b, k->n, "\5\0\0\0\0\0\0\0", 8, 0));
        OK(steme_kv_add_u64(d.kv, k->b, k->n, 1, 0));
        OK(steme_kv_get_u64(d.kv, k->b, k->n, &u));
        assert_true(u == 6);
    }
    kt_db_close(&d);
}

KT_ENGINE_TEST(test_batches)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    steme_kv_batch *b = steme_kv_batch_new();
    assert_non_null(b);
    assert_int_equal(steme_kv_batch_count(b), 0);
    OK(steme_kv_write(d.kv, b, 0)); /* empty batch */
    kt_key k1, k2, k3, c;
    kt_key_make(&k1, STEME_FAM_ASSERTION, "b", 1);
    kt_key_make(&k2, STEME_FAM_GOLD_STANDARD, "b", 2);
    kt_key_make(&k3, STEME_FAM_SUBJECT_INDEX, "b", 3);
    kt_key_make(&c, STEME_FAM_QUOTA_LIMIT, NULL, 4);
    OK(steme_kv_put(d.kv, k3.b, k3.n, "old", 3, 0));
    /* ops on the same key apply in order */
    OK(steme_kv_batch_put(b, k1.b, k1.n, "first", 5));
    OK(steme_kv_batch_put(b, k1.b, k1.n, "second", 6));
    OK(steme_kv_batch_put(b, k2.b, k2.n, "gone", 4));
    OK(steme_kv_batch_delete(b, k2.b, k2.n));
    OK(steme_kv_batch_delete(b, k3.b, k3.n));
    OK(steme_kv_batch_put(b, k3.b, k3.n, NULL, 0));
    OK(steme_kv_batch_add_u64(b, c.b, c.n, 10));
    OK(steme_kv_batch_add_u64(b, c.b, c.n, -3));
    OK(steme_kv_batch_delete(b, k2.b, k2.n)); /* delete of an absent key */
    assert_int_equal(steme_kv_batch_count(b), 9);
    OK(steme_kv_write(d.kv, b, STEME_KV_SYNC));
    kt_expect_val(d.kv, k1.b, k1.n, "second", 6);
    kt_expect_absent(d.kv, k2.b, k2.n);
    kt_expect_val(d.kv, k3.b, k3.n, "", 0);
    uint64_t u;
    OK(steme_kv_get_u64(d.kv, c.b, c.n, &u));
    assert_true(u == 7);
    /* a batch still holds its ops after write; writing it twice adds twice */
    OK(steme_kv_write(d.kv, b, 0));
    OK(steme_kv_get_u64(d.kv, c.b, c.n, &u));
    assert_true(u == 14);
    /* clear, then reuse with many ops (arena growth) */
    steme_kv_batch_clear(b);
    assert_int_equal(steme_kv_batch_count(b), 0);
    OK(steme_kv_write(d.kv, b, 0));
    kt_check_big_batch(d.kv, b, 500);
    /* atomic failure: a counter add on a 3-byte value in the middle */
    kt_key bad, fresh;
    int rc = kt_write_poisoned_batch(d.kv, b, &k1, &k3, &bad, &fresh);
    if (rc == STEME_OK) {
        /* merge engines: the add is accepted and the read reports it */
        assert_int_equal(steme_kv_get_u64(d.kv, bad.b, bad.n, &u), STEME_E_CORRUPT);
    } else {
        assert_int_equal(rc, STEME_E_CORRUPT);
        kt_expect_absent(d.kv, fresh.b, fresh.n);
        kt_expect_val(d.kv, k1.b, k1.n, "second", 6);
        kt_expect_val(d.kv, k3.b, k3.n, "", 0);
        kt_expect_val(d.kv, bad.b, bad.n, "abc", 3);
    }
    steme_kv_batch_free(b);
    kt_db_close(&d);
}

KT_ENGINE_TEST(test_multi_get)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    enum { N = 6 };
    kt_key k[N];
    const void *keys[N];
    size_t klens[N];
    steme_buf vals[N];
    int st[N];
    for (int i = 0; i < N; i++) {
        kt_key_make(&k[i], i % 2 ? STEME_FAM_VOTE : STEME_FAM_ASSERTION, "mg", (uint64_t)i);
        keys[i] = k[i].b;
        klens[i] = k[i].n;
        vals[i] = (steme_buf)STEME_BUF_INIT;
        if (i % 3 != 2)
            OK(steme_kv_put(d.kv, k[i].b, k[i].n, &i, (size_t)i, 0));
    }
    OK(steme_kv_multi_get(d.kv, 0, NULL, NULL, NULL, NULL));
    for (int round = 0; round < 2; round++) { /* second round reuses buffers */
        OK(steme_kv_multi_get(d.kv, N, keys, klens, vals, st));
        for (int i = 0; i < N; i++) {
            if (i % 3 == 2) {
                assert_int_equal(st[i], STEME_E_NOTFOUND);
                assert_int_equal(vals[i].len, 0);
            } else {
                assert_int_equal(st[i], STEME_OK);
                assert_int_equal(vals[i].len, (size_t)i);
                if (i)
                    assert_memory_equal(vals[i].data, &i, (size_t)i);
            }
        }
    }
    for (int i = 0; i < N; i++)
        steme_buf_free(&vals[i]);
    kt_db_close(&d);
}

KT_ENGINE_TEST(test_persistence)
{
    if (!kt_on_disk(e))
        return;
    kt_db d;
    kt_db_open(&d, e, NULL);
    kt_model m = {0};
    steme_kv_batch *b = steme_kv_batch_new();
    for (uint64_t i = 0; i < 50; i++) {
        kt_key k;
        kt_key_make(&k, i % 2 ? STEME_FAM_AUDIT_BY_ID : STEME_FAM_HASH_SUBJECT, NULL, i);
        kt_put_both(d.kv, &m, k.b, k.n, &i, sizeof i);
        kt_key_make(&k, STEME_FAM_PACK_MEMBER, NULL, i);
        OK(steme_kv_batch_put(b, k.b, k.n, "m", 1));
        kt_model_put(&m, k.b, k.n, (const uint8_t *)"m", 1);
        kt_key_make(&k, STEME_FAM_QUOTA_USAGE, NULL, i % 5);
        OK(steme_kv_add_u64(d.kv, k.b, k.n, (int64_t)i, 0));
        kt_model_add_u64(&m, k.b, k.n, (int64_t)i);
    }
    OK(steme_kv_write(d.kv, b, 0));
    kt_key gone;
    kt_key_make(&gone, STEME_FAM_HASH_SUBJECT, NULL, 0);
    OK(steme_kv_delete(d.kv, gone.b, gone.n, 0));
    kt_model_del(&m, gone.b, gone.n);
    kt_db_reopen(&d);
    kt_check_scans(d.kv, &m, NULL, 0);
    kt_expect_absent(d.kv, gone.b, gone.n);
    kt_db_reopen(&d);
    kt_check_scans(d.kv, &m, (const uint8_t *)"\0TM:", 4);
    steme_kv_batch_free(b);
    kt_list_free(&m);
    kt_db_close(&d);
}

/* HYBRID refuses a batch spanning its engines and writes nothing; the
 * single-engine kinds apply the same batch. */
KT_ENGINE_TEST(test_cross_engine_batch)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    kt_key l, r;
    kt_key_make(&l, STEME_FAM_ASSERTION, "x", 1);
    kt_key_make(&r, STEME_FAM_VOTE_COUNT, "x", 1);
    assert_int_equal(kt_key_engine(l.b, l.n), STEME_KV_LMDB);
    assert_int_equal(kt_key_engine(r.b, r.n), STEME_KV_ROCKSDB);
    steme_kv_batch *b = steme_kv_batch_new();
    OK(steme_kv_batch_put(b, l.b, l.n, "a", 1));
    OK(steme_kv_batch_add_u64(b, r.b, r.n, 1));
    int rc = steme_kv_write(d.kv, b, 0);
    if (e == STEME_KV_HYBRID) {
        assert_int_equal(rc, STEME_E_CROSS_ENGINE);
        assert_true(strlen(steme_kv_errmsg(d.kv)) > 0);
        kt_expect_absent(d.kv, l.b, l.n);
        kt_expect_absent(d.kv, r.b, r.n);
    } else {
        OK(rc);
        kt_expect_val(d.kv, l.b, l.n, "a", 1);
    }
    steme_kv_batch_free(b);
    kt_db_close(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_point_ops),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_counter_on_non_counter),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_multi_get),
        cmocka_unit_test(test_persistence),
        cmocka_unit_test(test_cross_engine_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
