/*
 * test_kv_conformance.c - the behaviour every KV engine must show (mem,
 * lmdb, rocksdb, hybrid; each test runs once per engine): point ops, empty
 * values, the largest keys, binary keys, prefix scans (forward, reverse,
 * cursor, limit, paging, 0xFF prefixes, empty prefix, early stop), u64/f64
 * counters, batches, multi-get, persistence and the hybrid engine's
 * cross-engine refusal. Bad input is in test_kv_badinput.c.
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
    assert_int_equal(b.len, 0);
    steme_buf_free(&b);
}

/* Compare scans of kv with the model for one prefix, in both directions,
 * without cursor, with every cursor, and page by page for a few limits. */
static void check_scans(steme_kv *kv, const kt_model *m, const uint8_t *prefix, size_t plen)
{
    kt_list got = {0}, want = {0}, all = {0}, paged = {0};
    for (unsigned flags = 0; flags <= STEME_SCAN_REVERSE; flags++) {
        OK(kt_scan(kv, prefix, plen, NULL, 0, 0, flags, &all));
        kt_model_scan(m, prefix, plen, NULL, 0, 0, flags, &want);
        kt_list_expect_equal(&all, &want, flags ? "full reverse scan" : "full scan");
        /* cursor = each visited key, and limit */
        for (size_t i = 0; i < all.n; i += 1 + all.n / 16) {
            OK(kt_scan(kv, prefix, plen, all.e[i].k, all.e[i].kn, 3, flags, &got));
            kt_model_scan(m, prefix, plen, all.e[i].k, all.e[i].kn, 3, flags, &want);
            kt_list_expect_equal(&got, &want, "scan after a cursor");
        }
        /* paging: the pages together equal one full scan */
        size_t limits[] = {1, 7, 64};
        for (size_t li = 0; li < 3; li++) {
            kt_list_clear(&paged);
            for (;;) {
                const kt_entry *last = paged.n ? &paged.e[paged.n - 1] : NULL;
                OK(kt_scan(kv, prefix, plen, last ? last->k : NULL, last ? last->kn : 0,
                           limits[li], flags, &got));
                assert_true(got.n <= limits[li]);
                for (size_t j = 0; j < got.n; j++)
                    kt_list_push(&paged, got.e[j].k, got.e[j].kn, got.e[j].v, got.e[j].vn);
                if (got.n < limits[li])
                    break;
            }
            kt_list_expect_equal(&paged, &all, "paged scan");
        }
    }
    kt_list_free(&got);
    kt_list_free(&want);
    kt_list_free(&all);
    kt_list_free(&paged);
}

static void put_both(steme_kv *kv, kt_model *m, const kt_key *k, const void *v, size_t vn)
{
    int rc = steme_kv_put(kv, k->b, k->n, v, vn, 0);
    if (rc != STEME_OK)
        fail_msg("put: %s (%s)", steme_errname(rc), steme_kv_errmsg(kv));
    kt_model_put(m, k->b, k->n, v, vn);
}

KT_ENGINE_TEST(test_point_ops)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    kt_key a, v, c;
    kt_key_make(&a, STEME_FAM_ASSERTION, "alice", 1);  /* LMDB-routed */
    kt_key_make(&v, STEME_FAM_VOTE, "alice", 1);       /* RocksDB-routed */
    kt_key_make(&c, STEME_FAM_CURSOR, NULL, 2);
    expect_absent(d.kv, &a);
    OK(steme_kv_put(d.kv, a.b, a.n, "one", 3, 0));
    OK(steme_kv_put(d.kv, v.b, v.n, "vote", 4, STEME_KV_SYNC));
    expect_val(d.kv, &a, "one", 3);
    expect_val(d.kv, &v, "vote", 4);
    OK(steme_kv_put(d.kv, a.b, a.n, "second", 6, 0)); /* overwrite, longer */
    expect_val(d.kv, &a, "second", 6);
    OK(steme_kv_put(d.kv, a.b, a.n, "x", 1, 0)); /* overwrite, shorter */
    expect_val(d.kv, &a, "x", 1);
    OK(steme_kv_put(d.kv, c.b, c.n, NULL, 0, 0)); /* empty value */
    expect_val(d.kv, &c, "", 0);
    OK(steme_kv_put(d.kv, v.b, v.n, "", 0, 0)); /* overwrite with empty */
    expect_val(d.kv, &v, "", 0);
    OK(steme_kv_delete(d.kv, a.b, a.n, 0));
    expect_absent(d.kv, &a);
    OK(steme_kv_delete(d.kv, a.b, a.n, 0)); /* deleting a missing key is fine */
    OK(steme_kv_delete(d.kv, v.b, v.n, STEME_KV_SYNC));
    expect_absent(d.kv, &v);
    expect_val(d.kv, &c, "", 0);
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
    expect_val(d.kv, &a, val, big);
    free(val);
    OK(steme_kv_sync(d.kv));
    kt_db_close(&d);
}

/* The largest codec keys (1 KiB subject, 256-byte predicate: over LMDB's
 * own 511-byte key limit), many sharing a long common prefix; and, for the
 * engines that take any bytes, keys of exactly STEME_KV_MAX_KEY bytes. */
KT_ENGINE_TEST(test_max_keys)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    kt_model m = {0};
    char subject[STEME_SUBJECT_MAX + 1];
    memset(subject, 'x', STEME_SUBJECT_MAX);
    subject[STEME_SUBJECT_MAX] = 0;
    char pred[STEME_PREDICATE_MAX];
    memset(pred, 'p', sizeof pred);
    kt_key k;
    for (uint64_t i = 0; i < 40; i++) {
        steme_key key;
        memset(&key, 0, sizeof key);
        key.family = STEME_FAM_SUBJECT_PRED_INDEX;
        key.subject = subject;
        key.subject_len = STEME_SUBJECT_MAX - (i % 3); /* a few subject lengths */
        key.predicate = pred;
        key.predicate_len = sizeof pred - (i % 2);
        key.ts = i * 0x0101010101ull;
        memset(key.hash.bytes, (i & 1) ? 0xFF : 0x00, sizeof key.hash.bytes);
        key.hash.bytes[31] = (uint8_t)i;
        OK(steme_key_encode(&key, k.b, sizeof k.b, &k.n, NULL));
        assert_true(k.n > 1200);
        uint8_t val[8] = {(uint8_t)i, 1, 2, 3, 4, 5, 6, 7};
        put_both(d.kv, &m, &k, val, i % 9);
    }
    /* counters, overwrite and delete on long keys too */
    kt_key_make(&k, STEME_FAM_VOTE_COUNT, subject, 1);
    OK(steme_kv_add_u64(d.kv, k.b, k.n, 5, 0));
    OK(steme_kv_add_u64(d.kv, k.b, k.n, 6, 0));
    kt_model_add_u64(&m, k.b, k.n, 11);
    kt_key_make(&k, STEME_FAM_QUOTA_LIMIT, NULL, 1);
    put_both(d.kv, &m, &k, "short", 5);
    check_scans(d.kv, &m, NULL, 0);
    check_scans(d.kv, &m, (const uint8_t *)subject, 600);
    check_scans(d.kv, &m, m.e[m.n / 2].k, m.e[m.n / 2].kn - 5);
    for (size_t i = 0; i < m.n; i += 3) {
        kt_key dk;
        memcpy(dk.b, m.e[i].k, m.e[i].kn);
        dk.n = m.e[i].kn;
        OK(steme_kv_delete(d.kv, dk.b, dk.n, 0));
        kt_model_del(&m, dk.b, dk.n);
        expect_absent(d.kv, &dk);
    }
    check_scans(d.kv, &m, NULL, 0);
    if (e != STEME_KV_HYBRID) {
        /* raw keys of STEME_KV_MAX_KEY bytes (not codec keys: hybrid
         * refuses those by design) */
        kt_key big;
        memset(big.b, 'k', STEME_KV_MAX_KEY);
        big.n = STEME_KV_MAX_KEY;
        for (int i = 0; i < 5; i++) {
            big.b[STEME_KV_MAX_KEY - 1] = (uint8_t)(0xFF - i);
            big.b[700] = (uint8_t)(i & 1 ? 0x00 : 0xFF);
            put_both(d.kv, &m, &big, &i, sizeof i);
            expect_val(d.kv, &big, &i, sizeof i);
        }
        check_scans(d.kv, &m, big.b, 600);
        check_scans(d.kv, &m, big.b, STEME_KV_MAX_KEY - 1);
    }
    kt_list_free(&m);
    kt_db_close(&d);
}

/* Binary keys: 0x00/0xFF in fixed fields, names that are prefixes of each
 * other; scans by prefixes ending in 0xFF (the successor edge case). */
KT_ENGINE_TEST(test_binary_keys_and_prefixes)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    kt_model m = {0};
    static const char *names[] = {"\xff", "\xff\xff", "\xff\xff\x01", "\xfe\xff", "\xff\x00",
                                  "a", "a\xff", "a\xff\xff", "b"};
    static const size_t nlens[] = {1, 2, 3, 2, 2, 1, 2, 3, 1};
    kt_key k;
    for (size_t i = 0; i < 9; i++) {
        steme_key key;
        memset(&key, 0, sizeof key);
        key.family = STEME_FAM_VECTOR_META;
        key.name = (const uint8_t *)names[i];
        key.name_len = nlens[i];
        OK(steme_key_encode(&key, k.b, sizeof k.b, &k.n, NULL));
        put_both(d.kv, &m, &k, names[i], nlens[i]);
    }
    for (uint64_t i = 0; i < 20; i++) {
        kt_key_make(&k, STEME_FAM_HASH_SUBJECT, NULL, i);
        put_both(d.kv, &m, &k, "hs", 2);
        kt_key_make(&k, STEME_FAM_AUDIT, NULL, i);
        put_both(d.kv, &m, &k, "au", 2);
        kt_key_make(&k, STEME_FAM_ESCALATION, NULL, i);
        put_both(d.kv, &m, &k, "es", 2);
    }
    for (size_t i = 0; i < m.n; i++) {
        kt_key g;
        memcpy(g.b, m.e[i].k, m.e[i].kn);
        g.n = m.e[i].kn;
        expect_val(d.kv, &g, m.e[i].v, m.e[i].vn);
    }
    check_scans(d.kv, &m, NULL, 0);
    /* prefixes: every truncation of a few keys, many ending in 0xFF */
    for (size_t i = 0; i < m.n; i += 5)
        for (size_t len = 1; len <= m.e[i].kn; len += 1 + len / 4)
            check_scans(d.kv, &m, m.e[i].k, len);
    static const uint8_t vx_ff[] = {0x00, 'V', 'X', ':', 0xFF};
    static const uint8_t vx_ffff[] = {0x00, 'V', 'X', ':', 0xFF, 0xFF};
    check_scans(d.kv, &m, vx_ff, sizeof vx_ff);
    check_scans(d.kv, &m, vx_ffff, sizeof vx_ffff);
    kt_list_free(&m);
    kt_db_close(&d);
}

/* A large set over several subjects and families: full scans, cursors,
 * paging, and the empty prefix over everything. */
KT_ENGINE_TEST(test_scan_paging)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    kt_model m = {0};
    static const char *subjects[] = {"page", "pagea", "pag", "zz"};
    kt_key k;
    for (uint64_t i = 0; i < 300; i++) {
        const char *s = subjects[i % 4];
        uint8_t val[4] = {(uint8_t)i, (uint8_t)(i >> 8), 0, 0xFF};
        kt_key_make(&k, STEME_FAM_SUBJECT_INDEX, s, i);
        put_both(d.kv, &m, &k, val, sizeof val);
        kt_key_make(&k, STEME_FAM_VOTE, s, i);
        put_both(d.kv, &m, &k, val, i % 4);
        if (i % 10 == 0) {
            kt_key_make(&k, STEME_FAM_TRUST_RANK, NULL, i);
            put_both(d.kv, &m, &k, val, 1);
        }
    }
    check_scans(d.kv, &m, NULL, 0);
    uint8_t p[64];
    size_t pn;
    steme_key key;
    memset(&key, 0, sizeof key);
    key.family = STEME_FAM_SUBJECT_INDEX;
    key.subject = "page";
    key.subject_len = 4;
    OK(steme_key_encode_prefix(&key, 0, p, sizeof p, &pn, NULL));
    check_scans(d.kv, &m, p, pn);
    key.family = STEME_FAM_UNKNOWN; /* "page\0": every family of the subject */
    OK(steme_key_encode_prefix(&key, 0, p, sizeof p, &pn, NULL));
    check_scans(d.kv, &m, p, pn);
    check_scans(d.kv, &m, (const uint8_t *)"pag", 3);
    check_scans(d.kv, &m, (const uint8_t *)"\0", 1);
    check_scans(d.kv, &m, (const uint8_t *)"nothing", 7);
    /* a cursor outside the prefix range */
    kt_list got = {0}, want = {0};
    OK(kt_scan(d.kv, p, pn, "zzzz", 4, 0, STEME_SCAN_REVERSE, &got));
    kt_model_scan(&m, p, pn, (const uint8_t *)"zzzz", 4, 0, STEME_SCAN_REVERSE, &want);
    kt_list_expect_equal(&got, &want, "reverse scan, cursor above the range");
    assert_true(got.n > 0);
    OK(kt_scan(d.kv, p, pn, "a", 1, 0, 0, &got));
    kt_model_scan(&m, p, pn, (const uint8_t *)"a", 1, 0, 0, &want);
    kt_list_expect_equal(&got, &want, "scan, cursor below the range");
    /* early stop by the callback: that entry counts as visited */
    got.stop_after = 5;
    OK(kt_scan(d.kv, NULL, 0, NULL, 0, 0, 0, &got));
    assert_int_equal(got.n, 5);
    kt_list_free(&got);
    kt_list_free(&want);
    kt_list_free(&m);
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
        expect_val(d.kv, k, le, 8);
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
    expect_val(d.kv, &k1, "second", 6);
    expect_absent(d.kv, &k2);
    expect_val(d.kv, &k3, "", 0);
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
    kt_model m = {0};
    for (uint64_t i = 0; i < 500; i++) {
        kt_key k;
        kt_key_make(&k, STEME_FAM_SUPERSEDES, "batch", i);
        uint8_t val[300];
        memset(val, (int)i, sizeof val);
        OK(steme_kv_batch_put(b, k.b, k.n, val, i % 300));
        kt_model_put(&m, k.b, k.n, val, i % 300);
    }
    OK(steme_kv_write(d.kv, b, 0));
    check_scans(d.kv, &m, (const uint8_t *)"batch", 5);
    /* atomic failure: a counter add on a 3-byte value in the middle */
    steme_kv_batch_clear(b);
    kt_key bad, fresh;
    kt_key_make(&bad, STEME_FAM_QUOTA_LIMIT, NULL, 77);
    kt_key_make(&fresh, STEME_FAM_TRUST_PACK, NULL, 77);
    OK(steme_kv_put(d.kv, bad.b, bad.n, "abc", 3, 0));
    OK(steme_kv_batch_put(b, fresh.b, fresh.n, "new", 3));
    OK(steme_kv_batch_delete(b, k1.b, k1.n));
    OK(steme_kv_batch_add_u64(b, bad.b, bad.n, 1));
    OK(steme_kv_batch_put(b, k3.b, k3.n, "after", 5));
    int rc = steme_kv_write(d.kv, b, 0);
    if (rc == STEME_OK) {
        /* merge engines: the add is accepted and the read reports it */
        assert_int_equal(steme_kv_get_u64(d.kv, bad.b, bad.n, &u), STEME_E_CORRUPT);
    } else {
        assert_int_equal(rc, STEME_E_CORRUPT);
        expect_absent(d.kv, &fresh);
        expect_val(d.kv, &k1, "second", 6);
        expect_val(d.kv, &k3, "", 0);
        expect_val(d.kv, &bad, "abc", 3);
    }
    steme_kv_batch_free(b);
    kt_list_free(&m);
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
        put_both(d.kv, &m, &k, &i, sizeof i);
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
    check_scans(d.kv, &m, NULL, 0);
    expect_absent(d.kv, &gone);
    kt_db_reopen(&d);
    check_scans(d.kv, &m, (const uint8_t *)"\0TM:", 4);
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
        expect_absent(d.kv, &l);
        expect_absent(d.kv, &r);
    } else {
        OK(rc);
        expect_val(d.kv, &l, "a", 1);
    }
    steme_kv_batch_free(b);
    kt_db_close(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_point_ops),
        cmocka_unit_test(test_max_keys),
        cmocka_unit_test(test_binary_keys_and_prefixes),
        cmocka_unit_test(test_scan_paging),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_counter_on_non_counter),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_multi_get),
        cmocka_unit_test(test_persistence),
        cmocka_unit_test(test_cross_engine_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
