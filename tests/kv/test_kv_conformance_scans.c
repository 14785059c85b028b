/*
 * test_kv_conformance_scans.c - the scan behaviour every KV engine must
 * show (mem, lmdb, rocksdb, hybrid; each test runs once per engine): the
 * largest keys, binary keys, prefix scans (forward, reverse, cursor, limit,
 * paging, 0xFF prefixes, empty prefix, cursors outside the range, early
 * stop), each compared with a model. Point ops, counters and batches are in
 * test_kv_conformance.c.
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
        kt_put_both(d.kv, &m, k.b, k.n, val, i % 9);
    }
    /* counters, overwrite and delete on long keys too */
    kt_key_make(&k, STEME_FAM_VOTE_COUNT, subject, 1);
    OK(steme_kv_add_u64(d.kv, k.b, k.n, 5, 0));
    OK(steme_kv_add_u64(d.kv, k.b, k.n, 6, 0));
    kt_model_add_u64(&m, k.b, k.n, 11);
    kt_key_make(&k, STEME_FAM_QUOTA_LIMIT, NULL, 1);
    kt_put_both(d.kv, &m, k.b, k.n, "short", 5);
    kt_check_scans(d.kv, &m, NULL, 0);
    kt_check_scans(d.kv, &m, (const uint8_t *)subject, 600);
    kt_check_scans(d.kv, &m, m.e[m.n / 2].k, m.e[m.n / 2].kn - 5);
    for (size_t i = 0; i < m.n; i += 3) {
        kt_key dk;
        memcpy(dk.b, m.e[i].k, m.e[i].kn);
        dk.n = m.e[i].kn;
        OK(steme_kv_delete(d.kv, dk.b, dk.n, 0));
        kt_model_del(&m, dk.b, dk.n);
        kt_expect_absent(d.kv, dk.b, dk.n);
    }
    kt_check_scans(d.kv, &m, NULL, 0);
    if (e != STEME_KV_HYBRID) {
        /* raw keys of STEME_KV_MAX_KEY bytes (not codec keys: hybrid
         * refuses those by design) */
        kt_check_max_raw_keys(d.kv, &m);
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
        kt_put_both(d.kv, &m, k.b, k.n, names[i], nlens[i]);
    }
    for (uint64_t i = 0; i < 20; i++) {
        kt_key_make(&k, STEME_FAM_HASH_SUBJECT, NULL, i);
        kt_put_both(d.kv, &m, k.b, k.n, "hs", 2);
        kt_key_make(&k, STEME_FAM_AUDIT, NULL, i);
        kt_put_both(d.kv, &m, k.b, k.n, "au", 2);
        kt_key_make(&k, STEME_FAM_ESCALATION, NULL, i);
        kt_put_both(d.kv, &m, k.b, k.n, "es", 2);
    }
    for (size_t i = 0; i < m.n; i++) {
        kt_key g;
        memcpy(g.b, m.e[i].k, m.e[i].kn);
        g.n = m.e[i].kn;
        kt_expect_val(d.kv, g.b, g.n, m.e[i].v, m.e[i].vn);
    }
    kt_check_scans(d.kv, &m, NULL, 0);
    /* prefixes: every truncation of a few keys, many ending in 0xFF */
    for (size_t i = 0; i < m.n; i += 5)
        for (size_t len = 1; len <= m.e[i].kn; len += 1 + len / 4)
            kt_check_scans(d.kv, &m, m.e[i].k, len);
    static const uint8_t vx_ff[] = {0x00, 'V', 'X', ':', 0xFF};
    static const uint8_t vx_ffff[] = {0x00, 'V', 'X', ':', 0xFF, 0xFF};
    kt_check_scans(d.kv, &m, vx_ff, sizeof vx_ff);
    kt_check_scans(d.kv, &m, vx_ffff, sizeof vx_ffff);
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
        kt_put_both(d.kv, &m, k.b, k.n, val, sizeof val);
        kt_key_make(&k, STEME_FAM_VOTE, s, i);
        kt_put_both(d.kv, &m, k.b, k.n, val, i % 4);
        if (i % 10 == 0) {
            kt_key_make(&k, STEME_FAM_TRUST_RANK, NULL, i);
            kt_put_both(d.kv, &m, k.b, k.n, val, 1);
        }
    }
    kt_check_scans(d.kv, &m, NULL, 0);
    uint8_t p[64];
    size_t pn;
    steme_key key;
    memset(&key, 0, sizeof key);
    key.family = STEME_FAM_SUBJECT_INDEX;
    key.subject = "page";
    key.subject_len = 4;
    OK(steme_key_encode_prefix(&key, 0, p, sizeof p, &pn, NULL));
    kt_check_scans(d.kv, &m, p, pn);
    key.family = STEME_FAM_UNKNOWN; /* "page\0": every family of the subject */
    OK(steme_key_encode_prefix(&key, 0, p, sizeof p, &pn, NULL));
    kt_check_scans(d.kv, &m, p, pn);
    kt_check_scans(d.kv, &m, (const uint8_t *)"pag", 3);
    kt_check_scans(d.kv, &m, (const uint8_t *)"\0", 1);
    kt_check_scans(d.kv, &m, (const uint8_t *)"nothing", 7);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_keys),
        cmocka_unit_test(test_binary_keys_and_prefixes),
        cmocka_unit_test(test_scan_paging),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
