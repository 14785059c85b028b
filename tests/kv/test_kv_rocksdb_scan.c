/*
 * test_kv_rocksdb_scan.c - RocksDB engine: scans merged across column
 * families (random families, deletes, flushed + compacted data, prefixes
 * that pin one family or span several, 0xFF prefixes, cursors, limits,
 * paging, early stop) against a model; reopen with data in every column
 * family; batches and multi-get across column families.
 */
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

/* --- scans across column families ------------------------------------- */

static const char *const subjects[] = {"a", "ab", "b", "s\xc3\xa9"};
static const char *const scoped_tags[] = {"H", "S", "SP", "V", "VC", "VW", "GS", "SS", "SB"};
static const char *const global_tags[] = {"HS", "TR", "AU", "AQ", "QT", "QL", "ES", "VX", "CUR"};
static const uint8_t alphabet[] = {0x00, 0x01, ':', 'A', 'V', 0x7f, 0xff};

static void rand_bytes(tu_rng *r, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[tu_rng_below(r, sizeof alphabet)];
}

/* A key of a random family (or no family at all), so every CF is used. */
static size_t rand_key(tu_rng *r, uint8_t *k)
{
    uint8_t rest[8];
    size_t rl = tu_rng_below(r, 7);
    rand_bytes(r, rest, rl);
    switch (tu_rng_below(r, 5)) {
    case 0:
    case 1:
        return km_key(k, subjects[tu_rng_below(r, 4)], scoped_tags[tu_rng_below(r, 9)], rest, rl);
    case 2:
    case 3:
        return km_key(k, NULL, global_tags[tu_rng_below(r, 9)], rest, rl);
    default:
        rand_bytes(r, k, rl + 1);
        return rl + 1;
    }
}

static size_t rand_prefix(tu_rng *r, const km *m, uint8_t *p)
{
    static const struct {
        const char *s;
        size_t n;
    } fixed[] = {{"", 0},      {"\0", 1},      {"a", 1},      {"a\0", 2},  {"a\0V", 3},
                 {"a\0V:", 4}, {"a\0VC:", 5},  {"\0A", 2},    {"\0AU:", 4}, {"\xff", 1},
                 {"ab\0S", 4}, {"\0CU", 3},    {"\0ES:\xff", 5}};
    size_t which = tu_rng_below(r, 3);
    if (which == 0 || m->n == 0) {
        size_t i = tu_rng_below(r, sizeof fixed / sizeof fixed[0]);
        memcpy(p, fixed[i].s, fixed[i].n);
        return fixed[i].n;
    }
    if (which == 1) {
        const km_ent *e = &m->e[tu_rng_below(r, m->n)];
        size_t n = tu_rng_below(r, e->kl + 1);
        memcpy(p, e->k, n);
        return n;
    }
    size_t n = tu_rng_below(r, 3);
    rand_bytes(r, p, n);
    return n;
}

static void test_scan_cross_cf_model(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(0x5eed5ca4));
    char *dir = tu_tempdir("rdb-scan");
    steme_kv *kv = km_open(STEME_KV_ROCKSDB, dir);
    km m = {0};
    uint8_t k[64], v[16], p[64], a[64];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 600; i++) {
            size_t kl = rand_key(&r, k);
            if (tu_rng_below(&r, 5) == 0) {
                assert_int_equal(steme_kv_delete(kv, k, kl, 0), STEME_OK);
                km_del(&m, k, kl);
            } else {
                size_t vl = tu_rng_below(&r, sizeof v);
                tu_rng_bytes(&r, v, vl);
                assert_int_equal(steme_kv_put(kv, k, kl, v, vl, 0), STEME_OK);
                km_put(&m, k, kl, v, vl);
            }
        }
        if (round == 1)
            km_flush_compact(kv); /* scans over SSTs + memtables */
        for (int q = 0; q < 300; q++) {
            size_t pl = rand_prefix(&r, &m, p);
            int rev = (int)tu_rng_below(&r, 2);
            size_t limit = tu_rng_below(&r, 3) ? 0 : tu_rng_below(&r, 20);
            const uint8_t *after = NULL;
            size_t al = 0;
            if (tu_rng_below(&r, 2)) {
                /* a cursor that is a stored key, or any key (absent ones too) */
                al = rand_key(&r, a);
                if (m.n && tu_rng_below(&r, 2)) {
                    const km_ent *e = &m.e[tu_rng_below(&r, m.n)];
                    memcpy(a, e->k, e->kl);
                    al = e->kl;
                }
                after = a;
            }
            if (!km_check_scan(kv, &m, p, pl, after, al, limit, rev))
                fail_msg("scan mismatch: round %d query %d plen %zu rev %d limit %zu", round, q,
                         pl, rev, limit);
        }
        assert_true(km_check_paged(kv, &m, NULL, 0, 7, 0));
        assert_true(km_check_paged(kv, &m, NULL, 0, 7, 1));
        assert_true(km_check_paged(kv, &m, (const uint8_t *)"a\0", 2, 3, 1));
    }
    /* early stop from the callback counts the stopping entry */
    km_got g = {.stop_at = 5};
    size_t visited = 0;
    assert_int_equal(steme_kv_scan(kv, NULL, 0, NULL, 0, 0, 0, km_collect, &g, &visited),
                     STEME_OK);
    assert_int_equal(visited, 5);
    assert_int_equal(g.n, 5);
    km_got_free(&g);
    km_free(&m);
    steme_kv_close(kv);
    tu_rmtree_free(dir);
}

/* Prefixes ending in 0xFF bytes (no simple successor) and the empty map. */
static void test_scan_edges(void **state)
{
    (void)state;
    char *dir = tu_tempdir("rdb-edges");
    steme_kv *kv = km_open(STEME_KV_ROCKSDB, dir);
    km m = {0};
    assert_true(km_check_scan(kv, &m, NULL, 0, NULL, 0, 0, 0));
    assert_true(km_check_scan(kv, &m, NULL, 0, NULL, 0, 0, 1));
    static const char *const keys[] = {"\xff", "\xff\xff", "\xff\xff\x00", "\xff\xff\xff",
                                       "\xfe\xff", "\xff\x00", "x", "\0VX:\xff\xff"};
    static const size_t lens[] = {1, 2, 3, 3, 2, 2, 1, 7};
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(steme_kv_put(kv, keys[i], lens[i], "v", 1, 0), STEME_OK);
        km_put(&m, keys[i], lens[i], "v", 1);
    }
    static const char *const pre[] = {"\xff", "\xff\xff", "\xfe", "\xfe\xff", "\0VX:\xff", ""};
    static const size_t plens[] = {1, 2, 1, 2, 5, 0};
    for (size_t i = 0; i < 6; i++)
        for (int rev = 0; rev < 2; rev++) {
            const uint8_t *p = (const uint8_t *)pre[i];
            assert_true(km_check_scan(kv, &m, p, plens[i], NULL, 0, 0, rev));
            for (size_t j = 0; j < 8; j++)
                assert_true(km_check_scan(kv, &m, p, plens[i], (const uint8_t *)keys[j],
                                          lens[j], 0, rev));
            assert_true(km_check_scan(kv, &m, p, plens[i], (const uint8_t *)"\x01", 1, 2, rev));
        }
    km_free(&m);
    steme_kv_close(kv);
    tu_rmtree_free(dir);
}

static void test_reopen_all_cfs(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(0xc0ffee));
    char *dir = tu_tempdir("rdb-reopen");
    steme_kv *kv = km_open(STEME_KV_ROCKSDB, dir);
    km m = {0};
    uint8_t k[64];
    int seen_cf[KV_RDB_NCF] = {0};
    for (int i = 0; i < 400; i++) {
        size_t kl = rand_key(&r, k);
        seen_cf[kv_rdb_cf_of_key(k, kl)] = 1;
        assert_int_equal(steme_kv_put(kv, k, kl, k, kl, 0), STEME_OK);
        km_put(&m, k, kl, k, kl);
        if (i == 200)
            km_flush_compact(kv); /* half in SSTs, half in the WAL */
    }
    for (int i = 0; i < KV_RDB_NCF; i++)
        assert_true(seen_cf[i]);
    steme_kv_close(kv);
    kv = km_open(STEME_KV_ROCKSDB, dir);
    assert_true(km_check_scan(kv, &m, NULL, 0, NULL, 0, 0, 0));
    steme_buf b = STEME_BUF_INIT;
    for (size_t i = 0; i < m.n; i++) {
        assert_int_equal(steme_kv_get(kv, m.e[i].k, m.e[i].kl, &b), STEME_OK);
        assert_int_equal(b.len, m.e[i].vl);
        assert_memory_equal(b.data, m.e[i].v, b.len);
    }
    assert_int_equal(steme_kv_sync(kv), STEME_OK);
    steme_buf_free(&b);
    km_free(&m);
    steme_kv_close(kv);
    tu_rmtree_free(dir);
}

static void test_batch_multi_get_cross_cf(void **state)
{
    (void)state;
    char *dir = tu_tempdir("rdb-batch");
    steme_kv *kv = km_open(STEME_KV_ROCKSDB, dir);
    uint8_t k[5][32];
    size_t kl[5];
    kl[0] = km_key(k[0], "s", "V", "1", 1);
    kl[1] = km_key(k[1], NULL, "AU", "2", 1);
    kl[2] = km_key(k[2], NULL, "QT", "3", 1);
    kl[3] = km_key(k[3], NULL, "ES", "4", 1);
    kl[4] = km_key(k[4], "s", "H", "5", 1);
    static const int want_cf[5] = {KV_RDB_CF_VOTES, KV_RDB_CF_AUDIT, KV_RDB_CF_QUOTA,
                                   KV_RDB_CF_ESCALATION, KV_RDB_CF_DEFAULT};
    for (int i = 0; i < 5; i++)
        assert_int_equal(kv_rdb_cf_of_key(k[i], kl[i]), want_cf[i]);
    steme_kv_batch *b = steme_kv_batch_new();
    for (int i = 0; i < 5; i++)
        assert_int_equal(steme_kv_batch_put(b, k[i], kl[i], k[i], kl[i]), STEME_OK);
    assert_int_equal(steme_kv_batch_delete(b, k[3], kl[3]), STEME_OK);
    assert_int_equal(steme_kv_batch_add_u64(b, k[2], kl[2], 1), STEME_OK); /* poisons QT key */
    assert_int_equal(steme_kv_write(kv, b, STEME_KV_SYNC), STEME_OK);
    const void *keys[6];
    size_t klens[6];
    steme_buf vals[6];
    int st[6];
    for (int i = 0; i < 5; i++)
        keys[i] = k[i], klens[i] = kl[i];
    keys[5] = "zz", klens[5] = 2;
    memset(vals, 0, sizeof vals);
    assert_int_equal(steme_kv_multi_get(kv, 6, keys, klens, vals, st), STEME_E_CORRUPT);
    assert_int_equal(st[0], STEME_OK);
    assert_int_equal(st[1], STEME_OK);
    assert_int_equal(st[2], STEME_E_CORRUPT);
    assert_int_equal(st[3], STEME_E_NOTFOUND);
    assert_int_equal(st[4], STEME_OK);
    assert_int_equal(st[5], STEME_E_NOTFOUND);
    assert_memory_equal(vals[4].data, k[4], kl[4]);
    /* many keys: the heap path */
    enum { N = 100 };
    const void *mk_[N];
    size_t ml[N];
    steme_buf mv[N];
    int ms[N];
    memset(mv, 0, sizeof mv);
    for (int i = 0; i < N; i++)
        mk_[i] = k[i % 2], ml[i] = kl[i % 2];
    assert_int_equal(steme_kv_multi_get(kv, N, mk_, ml, mv, ms), STEME_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(ms[i], STEME_OK);
        steme_buf_free(&mv[i]);
    }
    for (int i = 0; i < 6; i++)
        steme_buf_free(&vals[i]);
    steme_kv_batch_free(b);
    steme_kv_close(kv);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_cross_cf_model),
        cmocka_unit_test(test_scan_edges),
        cmocka_unit_test(test_reopen_all_cfs),
        cmocka_unit_test(test_batch_multi_get_cross_cf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
