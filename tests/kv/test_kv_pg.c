/*
 * test_kv_pg.c - the pg engine against the behaviour every engine must show,
 * on a live PostgreSQL ($STEME_PG_URL; see test_kv_pg.h for skip/require):
 * bytewise bytea order, point ops (empty, 1 MiB values, 4096-byte keys),
 * prefix scans (forward, reverse, cursors, limits, paging, 0xFF prefixes,
 * early stop) with the default page size and with tiny pages (so multi-page
 * scans in one snapshot are exercised), u64/f64 counters computed in SQL,
 * counters on non-counters, atomic batches (including one aborted in the
 * middle). Faults, retries and concurrency: test_kv_pg_faults.c.
 *
 * The shared suites (test_kv_conformance*.c, test_kv_property.c) run on pg
 * too when $STEME_PG_URL is set: multi-get, persistence and random operations
 * against a model are theirs. This file keeps what is particular to pg: it
 * opens the engine through kv_pg_open_ex so that each test gets its own
 * table and page size (tiny pages exercise multi-page snapshot scans).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "test_kv_pg.h"
#include "testutil.h"

#define OK(call) PT_OK(call)

/* The server orders bytea as memcmp then length; the engine relies on it. */
static void test_bytea_order(void **state)
{
    (void)state;
    PGconn *c = pt_raw();
    PGresult *r = PQexec(c, "SELECT bool_and(a < b) FROM (VALUES"
                            " ('\\x00'::bytea, '\\x01'::bytea), ('\\x7f', '\\x80'),"
                            " ('\\x80', '\\xff'), ('\\x00', '\\x0000'), ('\\xff', '\\xff00'),"
                            " ('\\x0100', '\\x02'), ('\\x', '\\x00'), ('\\xfe', '\\xfeff'),"
                            " ('\\x61ff', '\\x62')) AS v(a, b)");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    PQfinish(c);
    /* and through the engine: 0x00..0xFF in every position sort as the model */
    pt_db d;
    pt_db_open(&d, NULL, NULL);
    kt_model m = {0};
    uint8_t k[3];
    for (unsigned i = 0; i < 256; i += 17)
        for (unsigned j = 0; j < 256; j += 51) {
            k[0] = (uint8_t)i, k[1] = (uint8_t)j, k[2] = (uint8_t)(i ^ j);
            kt_put_both(d.kv, &m, k, 1 + (i + j) % 3, k, 3);
        }
    kt_check_scans(d.kv, &m, NULL, 0);
    kt_list_free(&m);
    pt_db_close(&d);
}

static void test_point_ops(void **state)
{
    (void)state;
    pt_db d;
    pt_db_open(&d, NULL, NULL);
    kt_key a, v;
    kt_key_make(&a, STEME_FAM_ASSERTION, "alice", 1);
    kt_key_make(&v, STEME_FAM_VOTE, "alice", 1);
    kt_expect_absent(d.kv, a.b, a.n);
    OK(steme_kv_put(d.kv, a.b, a.n, "one", 3, 0));
    OK(steme_kv_put(d.kv, v.b, v.n, "vote", 4, STEME_KV_SYNC));
    kt_expect_val(d.kv, a.b, a.n, "one", 3);
    OK(steme_kv_put(d.kv, a.b, a.n, "second", 6, 0));
    kt_expect_val(d.kv, a.b, a.n, "second", 6);
    OK(steme_kv_put(d.kv, v.b, v.n, NULL, 0, 0)); /* empty value, not NULL in SQL */
    kt_expect_val(d.kv, v.b, v.n, "", 0);
    OK(steme_kv_delete(d.kv, a.b, a.n, 0));
    kt_expect_absent(d.kv, a.b, a.n);
    OK(steme_kv_delete(d.kv, a.b, a.n, STEME_KV_SYNC)); /* absent: fine */
    size_t big = 1u << 20;
    uint8_t *val = malloc(big);
    assert_non_null(val);
    for (size_t i = 0; i < big; i++)
        val[i] = (uint8_t)(i * 7 + (i >> 9));
    OK(steme_kv_put(d.kv, a.b, a.n, val, big, 0));
    kt_expect_val(d.kv, a.b, a.n, val, big);
    free(val);
    /* keys of exactly STEME_KV_MAX_KEY bytes, 0x00 and 0xFF inside */
    kt_model m = {0};
    kt_check_max_raw_keys(d.kv, &m);
    OK(steme_kv_sync(d.kv));
    kt_list_free(&m);
    pt_db_close(&d);
}

/* Scans over several subjects and families, 0xFF-heavy prefixes. */
static void scans_with_page(unsigned page)
{
    kv_pg_options po;
    kv_pg_options_init(&po);
    po.scan_page = page;
    pt_db d;
    pt_db_open(&d, &po, NULL);
    kt_model m = {0};
    static const char *subjects[] = {"page", "pagea", "pag", "zz"};
    kt_key k;
    for (uint64_t i = 0; i < 120; i++) {
        uint8_t val[4] = {(uint8_t)i, (uint8_t)(i >> 8), 0, 0xFF};
        kt_key_make(&k, STEME_FAM_SUBJECT_INDEX, subjects[i % 4], i);
        kt_put_both(d.kv, &m, k.b, k.n, val, sizeof val);
        kt_key_make(&k, STEME_FAM_VOTE, subjects[i % 4], i);
        kt_put_both(d.kv, &m, k.b, k.n, val, i % 4);
        if (i % 10 == 0) {
            kt_key_make(&k, STEME_FAM_TRUST_RANK, NULL, i);
            kt_put_both(d.kv, &m, k.b, k.n, val, 1);
        }
    }
    static const char *names[] = {"\xff", "\xff\xff", "\xff\xff\x01", "\xfe\xff", "\xff\x00",
                                  "a", "a\xff", "a\xff\xff", "b"};
    static const size_t nlens[] = {1, 2, 3, 2, 2, 1, 2, 3, 1};
    for (size_t i = 0; i < 9; i++) {
        steme_key key;
        memset(&key, 0, sizeof key);
        key.family = STEME_FAM_VECTOR_META;
        key.name = (const uint8_t *)names[i];
        key.name_len = nlens[i];
        OK(steme_key_encode(&key, k.b, sizeof k.b, &k.n, NULL));
        kt_put_both(d.kv, &m, k.b, k.n, names[i], nlens[i]);
    }
    kt_check_scans(d.kv, &m, NULL, 0);
    kt_check_scans(d.kv, &m, (const uint8_t *)"pag", 3);
    kt_check_scans(d.kv, &m, (const uint8_t *)"page\0", 5);
    kt_check_scans(d.kv, &m, (const uint8_t *)"\0", 1);
    kt_check_scans(d.kv, &m, (const uint8_t *)"nothing", 7);
    static const uint8_t vx_ff[] = {0x00, 'V', 'X', ':', 0xFF};
    static const uint8_t vx_ffff[] = {0x00, 'V', 'X', ':', 0xFF, 0xFF};
    static const uint8_t all_ff[] = {0xFF, 0xFF};
    kt_check_scans(d.kv, &m, vx_ff, sizeof vx_ff);
    kt_check_scans(d.kv, &m, vx_ffff, sizeof vx_ffff);
    kt_check_scans(d.kv, &m, all_ff, sizeof all_ff);
    for (size_t i = 0; i < m.n; i += 37)
        for (size_t len = 1; len <= m.e[i].kn; len += 1 + len / 3)
            kt_check_scans(d.kv, &m, m.e[i].k, len);
    /* cursors outside the range, and an early stop */
    kt_list got = {0}, want = {0};
    OK(kt_scan(d.kv, "page\0", 5, "zzzz", 4, 0, STEME_SCAN_REVERSE, &got));
    kt_model_scan(&m, (const uint8_t *)"page\0", 5, (const uint8_t *)"zzzz", 4, 0,
                  STEME_SCAN_REVERSE, &want);
    kt_list_expect_equal(&got, &want, "reverse scan, cursor above the range");
    assert_true(got.n > 0);
    got.stop_after = 5;
    OK(kt_scan(d.kv, NULL, 0, NULL, 0, 0, 0, &got));
    assert_int_equal(got.n, 5);
    kt_list_free(&got);
    kt_list_free(&want);
    kt_list_free(&m);
    pt_db_close(&d);
}

static void test_scans(void **state)
{
    (void)state;
    scans_with_page(512); /* most scans: one statement or one page */
    scans_with_page(3);   /* many pages in one REPEATABLE READ transaction */
}

static void test_counters(void **state)
{
    (void)state;
    pt_db d;
    pt_db_open(&d, NULL, NULL);
    kt_key u, f;
    kt_key_make(&u, STEME_FAM_VOTE_COUNT, "c", 1);
    kt_key_make(&f, STEME_FAM_VOTE_WEIGHT, "c", 1);
    uint64_t x = 99;
    double y = 99;
    assert_int_equal(steme_kv_get_u64(d.kv, u.b, u.n, &x), STEME_E_NOTFOUND);
    assert_true(x == 0);
    OK(steme_kv_add_u64(d.kv, u.b, u.n, 5, 0));
    OK(steme_kv_get_u64(d.kv, u.b, u.n, &x));
    assert_true(x == 5);
    OK(steme_kv_add_u64(d.kv, u.b, u.n, -7, 0)); /* wraps below zero */
    OK(steme_kv_get_u64(d.kv, u.b, u.n, &x));
    assert_true(x == UINT64_MAX - 1);
    OK(steme_kv_add_u64(d.kv, u.b, u.n, 3, STEME_KV_SYNC)); /* wraps above the top */
    OK(steme_kv_get_u64(d.kv, u.b, u.n, &x));
    assert_true(x == 1);
    OK(steme_kv_add_u64(d.kv, u.b, u.n, INT64_MIN, 0));
    OK(steme_kv_add_u64(d.kv, u.b, u.n, INT64_MIN, 0));
    OK(steme_kv_add_u64(d.kv, u.b, u.n, 0x100000000ll, 0)); /* carry into the high half */
    OK(steme_kv_add_u64(d.kv, u.b, u.n, 0xFFFFFFFFll, 0));
    OK(steme_kv_get_u64(d.kv, u.b, u.n, &x));
    assert_true(x == 0x200000000ull);
    uint8_t le[8] = {0, 0, 0, 0, 2, 0, 0, 0};
    kt_expect_val(d.kv, u.b, u.n, le, 8);
    OK(steme_kv_add_f64(d.kv, f.b, f.n, 1.5, 0));
    OK(steme_kv_add_f64(d.kv, f.b, f.n, -0.25, 0));
    OK(steme_kv_add_f64(d.kv, f.b, f.n, 1e-3, 0));
    OK(steme_kv_get_f64(d.kv, f.b, f.n, &y));
    assert_true(y == (1.5 + -0.25) + 1e-3);
    OK(steme_kv_add_f64(d.kv, f.b, f.n, -1e300, 0));
    OK(steme_kv_get_f64(d.kv, f.b, f.n, &y));
    assert_true(y == -1e300);
    /* subnormals and signed zero decode and re-encode exactly */
    double tiny = 4.9406564584124654e-324, t2;
    uint64_t bits;
    memcpy(&bits, &tiny, 8);
    uint8_t raw[8];
    for (int i = 0; i < 8; i++)
        raw[i] = (uint8_t)(bits >> (8 * i));
    OK(steme_kv_put(d.kv, f.b, f.n, raw, 8, 0));
    OK(steme_kv_add_f64(d.kv, f.b, f.n, tiny, 0));
    OK(steme_kv_get_f64(d.kv, f.b, f.n, &t2));
    assert_true(t2 == tiny * 2);
    /* a put 8-byte value is a counter too; a non-counter is corrupt */
    OK(steme_kv_put(d.kv, u.b, u.n, "\50\0\0\0\0\0\0\0", 8, 0));
    OK(steme_kv_add_u64(d.kv, u.b, u.n, 2, 0));
    OK(steme_kv_get_u64(d.kv, u.b, u.n, &x));
    assert_true(x == 42);
    OK(steme_kv_put(d.kv, u.b, u.n, "abc", 3, 0));
    assert_int_equal(steme_kv_get_u64(d.kv, u.b, u.n, &x), STEME_E_CORRUPT);
    assert_int_equal(steme_kv_add_u64(d.kv, u.b, u.n, 1, 0), STEME_E_CORRUPT);
    assert_non_null(strstr(steme_kv_errmsg(d.kv), "not 8 bytes"));
    assert_int_equal(steme_kv_add_f64(d.kv, u.b, u.n, 1, 0), STEME_E_CORRUPT);
    kt_expect_val(d.kv, u.b, u.n, "abc", 3);
    pt_db_close(&d);
}

static void test_batches(void **state)
{
    (void)state;
    pt_db d;
    pt_db_open(&d, NULL, NULL);
    steme_kv_batch *b = steme_kv_batch_new();
    assert_non_null(b);
    OK(steme_kv_write(d.kv, b, 0));
    kt_key k1, k2, k3, c;
    kt_key_make(&k1, STEME_FAM_ASSERTION, "b", 1);
    kt_key_make(&k2, STEME_FAM_GOLD_STANDARD, "b", 2);
    kt_key_make(&k3, STEME_FAM_SUBJECT_INDEX, "b", 3);
    kt_key_make(&c, STEME_FAM_VOTE_COUNT, "b", 4);
    OK(steme_kv_put(d.kv, k3.b, k3.n, "old", 3, 0));
    OK(steme_kv_batch_put(b, k1.b, k1.n, "first", 5));
    OK(steme_kv_batch_put(b, k1.b, k1.n, "second", 6));
    OK(steme_kv_batch_put(b, k2.b, k2.n, "gone", 4));
    OK(steme_kv_batch_delete(b, k2.b, k2.n));
    OK(steme_kv_batch_delete(b, k3.b, k3.n));
    OK(steme_kv_batch_put(b, k3.b, k3.n, NULL, 0));
    OK(steme_kv_batch_add_u64(b, c.b, c.n, 10));
    OK(steme_kv_batch_add_u64(b, c.b, c.n, -3));
    OK(steme_kv_batch_add_f64(b, k2.b, k2.n, 0.5)); /* k2 was deleted: counts from 0 */
    OK(steme_kv_write(d.kv, b, STEME_KV_SYNC));
    kt_expect_val(d.kv, k1.b, k1.n, "second", 6);
    kt_expect_val(d.kv, k3.b, k3.n, "", 0);
    uint64_t u;
    double f;
    OK(steme_kv_get_u64(d.kv, c.b, c.n, &u));
    assert_true(u == 7);
    OK(steme_kv_get_f64(d.kv, k2.b, k2.n, &f));
    assert_true(f == 0.5);
    OK(steme_kv_write(d.kv, b, 0)); /* again: adds twice */
    OK(steme_kv_get_u64(d.kv, c.b, c.n, &u));
    assert_true(u == 14);
    /* 2000 ops in one pipelined transaction (more than the socket buffers) */
    kt_check_big_batch(d.kv, b, 2000);
    /* all or nothing: an add on a 3-byte value in the middle aborts it */
    kt_key bad, fresh;
    assert_int_equal(kt_write_poisoned_batch(d.kv, b, &k1, &k3, &bad, &fresh), STEME_E_CORRUPT);
    kt_expect_absent(d.kv, fresh.b, fresh.n);
    kt_expect_val(d.kv, k1.b, k1.n, "second", 6);
    kt_expect_val(d.kv, k3.b, k3.n, "", 0);
    kt_expect_val(d.kv, bad.b, bad.n, "abc", 3);
    /* the connection is clean afterwards: the next batch works */
    steme_kv_batch_clear(b);
    OK(steme_kv_batch_put(b, fresh.b, fresh.n, "ok", 2));
    OK(steme_kv_write(d.kv, b, 0));
    kt_expect_val(d.kv, fresh.b, fresh.n, "ok", 2);
    steme_kv_batch_free(b);
    pt_db_close(&d);
}

int main(void)
{
    int gate = pt_gate("test_kv_pg");
    if (gate >= 0)
        return gate;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytea_order),
        cmocka_unit_test(test_point_ops),
        cmocka_unit_test(test_scans),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

