/*
 * test_kv_hybrid.c - hybrid-engine specifics: routing by family (checked by
 * opening the sub-engine directories directly), refusal of keys of no
 * family and of cross-engine batches (nothing written), scans merged across
 * both engines against a model (paged, forward and reverse, past the page
 * size and the page byte budget), multi-get across engines, counters, and
 * relayed error messages. The shared suites cover the common contract.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/keys.h"
#include "steme/kv.h"
#include "kv_test_model.h"
#include "testutil.h"

static void sub_dir(char *out, size_t cap, const char *dir, const char *sub)
{
    snprintf(out, cap, "%s/%s", dir, sub);
}

static void test_routing(void **state)
{
    (void)state;
    char *dir = tu_tempdir("hy-route");
    steme_kv *kv = km_open(STEME_KV_HYBRID, dir);
    assert_int_equal(steme_kv_engine_of(kv), STEME_KV_HYBRID);
    uint8_t vote[128], assertion[128], vc[128];
    size_t vl = km_key(vote, "subj", "V", "assertion+voter", 15);
    size_t al = km_key(assertion, "subj", "H", "hash", 4);
    size_t cl = km_key(vc, "subj", "VC", "hash", 4);
    assert_int_equal(steme_key_family_of(vote, vl), STEME_FAM_VOTE);
    assert_int_equal(steme_key_family_of(assertion, al), STEME_FAM_ASSERTION);
    assert_int_equal(steme_kv_put(kv, vote, vl, "vote", 4, 0), STEME_OK);
    assert_int_equal(steme_kv_put(kv, assertion, al, "assertion", 9, STEME_KV_SYNC), STEME_OK);
    assert_int_equal(steme_kv_add_u64(kv, vc, cl, 3, 0), STEME_OK);
    assert_int_equal(steme_kv_sync(kv), STEME_OK);
    steme_kv_close(kv);

    char path[1024];
    steme_buf b = STEME_BUF_INIT;
    uint64_t u = 0;
    sub_dir(path, sizeof path, dir, "rocksdb");
    kv = km_open(STEME_KV_ROCKSDB, path);
    assert_int_equal(steme_kv_get(kv, vote, vl, &b), STEME_OK);
    assert_memory_equal(b.data, "vote", 4);
    assert_int_equal(steme_kv_get(kv, assertion, al, &b), STEME_E_NOTFOUND);
    assert_int_equal(steme_kv_get_u64(kv, vc, cl, &u), STEME_OK);
    assert_int_equal(u, 3);
    steme_kv_close(kv);
    sub_dir(path, sizeof path, dir, "lmdb");
    kv = km_open(STEME_KV_LMDB, path);
    assert_int_equal(steme_kv_get(kv, assertion, al, &b), STEME_OK);
    assert_memory_equal(b.data, "assertion", 9);
    assert_int_equal(steme_kv_get(kv, vote, vl, &b), STEME_E_NOTFOUND);
    assert_int_equal(steme_kv_get(kv, vc, cl, &b), STEME_E_NOTFOUND);
    steme_kv_close(kv);

    kv = km_open(STEME_KV_HYBRID, dir); /* and back through the hybrid */
    assert_int_equal(steme_kv_get(kv, vote, vl, &b), STEME_OK);
    assert_int_equal(steme_kv_get(kv, assertion, al, &b), STEME_OK);
    steme_kv_close(kv);
    steme_buf_free(&b);
    tu_rmtree_free(dir);
}

static void test_unknown_family(void **state)
{
    (void)state;
    char *dir = tu_tempdir("hy-unknown");
    steme_kv *kv = km_open(STEME_KV_HYBRID, dir);
    steme_buf b = STEME_BUF_INIT;
    uint64_t u;
    static const char *const bad[] = {"plain", "s\0ZZ:x", "\0V:x" /* V is scoped */, "s\0H"};
    static const size_t blen[] = {5, 6, 4, 3};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(steme_kv_put(kv, bad[i], blen[i], "v", 1, 0), STEME_E_INVALID);
        assert_non_null(strstr(steme_kv_errmsg(kv), "no family"));
        assert_int_equal(steme_kv_get(kv, bad[i], blen[i], &b), STEME_E_INVALID);
        assert_int_equal(steme_kv_delete(kv, bad[i], blen[i], 0), STEME_E_INVALID);
        assert_int_equal(steme_kv_add_u64(kv, bad[i], blen[i], 1, 0), STEME_E_INVALID);
        assert_int_equal(steme_kv_get_u64(kv, bad[i], blen[i], &u), STEME_E_INVALID);
    }
    uint8_t good[64];
    size_t gl = km_key(good, "s", "H", "h", 1);
    const void *keys[2] = {good, "plain"};
    size_t klens[2] = {gl, 5};
    steme_buf vals[2] = {STEME_BUF_INIT, STEME_BUF_INIT};
    int st[2];
    assert_int_equal(steme_kv_multi_get(kv, 2, keys, klens, vals, st), STEME_E_INVALID);
    steme_kv_batch *batch = steme_kv_batch_new();
    assert_int_equal(steme_kv_batch_put(batch, good, gl, "v", 1), STEME_OK);
    assert_int_equal(steme_kv_batch_put(batch, "plain", 5, "v", 1), STEME_OK);
    assert_int_equal(steme_kv_write(kv, batch, 0), STEME_E_INVALID);
    assert_int_equal(steme_kv_get(kv, good, gl, &b), STEME_E_NOTFOUND);
    steme_kv_batch_free(batch);
    steme_buf_free(&b);
    steme_kv_close(kv);
    tu_rmtree_free(dir);
}

static void test_cross_engine_batch(void **state)
{
    (void)state;
    char *dir = tu_tempdir("hy-cross");
    steme_kv *kv = km_open(STEME_KV_HYBRID, dir);
    uint8_t h[64], v[64], vc[64], tr[64];
    size_t hl = km_key(h, "s", "H", "h", 1), vl = km_key(v, "s", "V", "v", 1);
    size_t cl = km_key(vc, "s", "VC", "c", 1), tl = km_key(tr, NULL, "TR", "t", 1);
    assert_int_equal(steme_kv_put(kv, h, hl, "old", 3, 0), STEME_OK);
    steme_kv_batch *b = steme_kv_batch_new();
    steme_kv_batch_put(b, h, hl, "new", 3);        /* lmdb */
    steme_kv_batch_put(b, tr, tl, "t", 1);         /* lmdb */
    steme_kv_batch_add_u64(b, vc, cl, 1);          /* rocksdb */
    steme_kv_batch_put(b, v, vl, "vote", 4);       /* rocksdb */
    assert_int_equal(steme_kv_write(kv, b, 0), STEME_E_CROSS_ENGINE);
    assert_non_null(strstr(steme_kv_errmsg(kv), "nothing was written"));
    steme_buf got = STEME_BUF_INIT;
    assert_int_equal(steme_kv_get(kv, h, hl, &got), STEME_OK);
    assert_memory_equal(got.data, "old", 3);
    assert_int_equal(steme_kv_get(kv, tr, tl, &got), STEME_E_NOTFOUND);
    assert_int_equal(steme_kv_get(kv, v, vl, &got), STEME_E_NOTFOUND);
    assert_int_equal(steme_kv_get(kv, vc, cl, &got), STEME_E_NOTFOUND);
    /* one-engine batches go through, each whole */
    steme_kv_batch_clear(b);
    steme_kv_batch_add_u64(b, vc, cl, 2);
    steme_kv_batch_put(b, v, vl, "vote", 4);
    assert_int_equal(steme_kv_write(kv, b, STEME_KV_SYNC), STEME_OK);
    steme_kv_batch_clear(b);
    steme_kv_batch_put(b, h, hl, "new", 3);
    steme_kv_batch_delete(b, tr, tl);
    assert_int_equal(steme_kv_write(kv, b, 0), STEME_OK);
    steme_kv_batch_clear(b);
    assert_int_equal(steme_kv_write(kv, b, 0), STEME_OK); /* empty */
    uint64_t u = 0;
    assert_int_equal(steme_kv_get_u64(kv, vc, cl, &u), STEME_OK);
    assert_int_equal(u, 2);
    assert_int_equal(steme_kv_get(kv, h, hl, &got), STEME_OK);
    assert_memory_equal(got.data, "new", 3);
    steme_buf_free(&got);
    steme_kv_batch_free(b);
    steme_kv_close(kv);
    tu_rmtree_free(dir);
}

/* --- merged scans ------------------------------------------------------ */

static const char *const subjects[] = {"a", "ab", "b"};
static const char *const scoped_tags[] = {"H", "S", "SP", "V", "VC", "VW", "GS", "SS", "SB"};
static const char *const global_tags[] = {"HS", "TR", "AU", "AQ", "QT", "QL", "ES", "VX", "CUR"};

static size_t rand_key(tu_rng *r, uint8_t *k)
{
    uint8_t rest[4];
    size_t rl = 1 + tu_rng_below(r, 3);
    for (size_t i = 0; i < rl; i++)
        rest[i] = (uint8_t)"\x00\x01Az\xff"[tu_rng_below(r, 5)];
    if (tu_rng_below(r, 3))
        return km_key(k, subjects[tu_rng_below(r, 3)], scoped_tags[tu_rng_below(r, 9)], rest, rl);
    return km_key(k, NULL, global_tags[tu_rng_below(r, 9)], rest, rl);
}

static void test_merged_scan_model(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(0x4ab41d));
    char *dir = tu_tempdir("hy-scan");
    steme_kv *kv = km_open(STEME_KV_HYBRID, dir);
    km m = {0};
    uint8_t k[64], v[32];
    /* enough keys that every engine needs several pages (128 entries) */
    for (int i = 0; i < 1500; i++) {
        size_t kl = rand_key(&r, k);
        if (tu_rng_below(&r, 6) == 0) {
            assert_int_equal(steme_kv_delete(kv, k, kl, 0), STEME_OK);
            km_del(&m, k, kl);
        } else {
            size_t vl = tu_rng_below(&r, sizeof v);
            tu_rng_bytes(&r, v, vl);
            assert_int_equal(steme_kv_put(kv, k, kl, v, vl, 0), STEME_OK);
            km_put(&m, k, kl, v, vl);
        }
    }
    static const struct {
        const char *s;
        size_t n;
    } pre[] = {{"", 0}, {"\0", 1}, {"a", 1}, {"a\0", 2}, {"ab\0", 3}, {"a\0V", 3},
               {"a\0S", 3}, {"a\0V:", 4}, {"\0A", 2}, {"\0QT:", 4}, {"\0TR:", 4}, {"c", 1}};
    size_t np = sizeof pre / sizeof pre[0];
    for (size_t i = 0; i < np; i++) {
        const uint8_t *p = (const uint8_t *)pre[i].s;
        for (int rev = 0; rev < 2; rev++) {
            assert_true(km_check_scan(kv, &m, p, pre[i].n, NULL, 0, 0, rev));
            assert_true(km_check_scan(kv, &m, p, pre[i].n, NULL, 0, 5, rev));
            assert_true(km_check_scan(kv, &m, p, pre[i].n, NULL, 0, 300, rev));
            assert_true(km_check_paged(kv, &m, p, pre[i].n, 1, rev));
            assert_true(km_check_paged(kv, &m, p, pre[i].n, 50, rev));
            assert_true(km_check_paged(kv, &m, p, pre[i].n, 1000, rev));
        }
    }
    for (int q = 0; q < 200; q++) {
        size_t i = tu_rng_below(&r, np);
        uint8_t a[64];
        size_t al = rand_key(&r, a);
        if (m.n && tu_rng_below(&r, 2)) {
            const km_ent *e = &m.e[tu_rng_below(&r, m.n)];
            memcpy(a, e->k, e->kl);
            al = e->kl;
        }
        int rev = (int)tu_rng_below(&r, 2);
        size_t limit = tu_rng_below(&r, 2) ? 0 : tu_rng_below(&r, 200);
        if (!km_check_scan(kv, &m, (const uint8_t *)pre[i].s, pre[i].n, a, al, limit, rev))
            fail_msg("merged scan mismatch at query %d", q);
    }
    /* early stop from the callback */
    km_got g = {.stop_at = 200};
    size_t visited = 0;
    assert_int_equal(steme_kv_scan(kv, NULL, 0, NULL, 0, 0, STEME_SCAN_REVERSE, km_collect, &g,
                                   &visited),
                     STEME_OK);
    assert_int_equal(visited, 200);
    km_got_free(&g);
    km_free(&m);
    steme_kv_close(kv);
    tu_rmtree_free(dir);
}

/* Values large enough that pages end on the byte budget, not the count. */
static void test_merged_scan_big_values(void **state)
{
    (void)state;
    char *dir = tu_tempdir("hy-big");
    steme_kv *kv = km_open(STEME_KV_HYBRID, dir);
    km m = {0};
    size_t vlen = 100 * 1024;
    uint8_t *v = malloc(vlen);
    uint8_t k[64];
    for (int i = 0; i < 12; i++) {
        char rest[16];
        snprintf(rest, sizeof rest, "%02d", i);
        memset(v, 'a' + i, vlen);
        size_t kl = km_key(k, "s", (i & 1) ? "V" : "H", rest, 2);
        assert_int_equal(steme_kv_put(kv, k, kl, v, vlen, 0), STEME_OK);
        km_put(&m, k, kl, v, vlen);
    }
    for (int rev = 0; rev < 2; rev++) {
        assert_true(km_check_scan(kv, &m, (const uint8_t *)"s\0", 2, NULL, 0, 0, rev));
        assert_true(km_check_paged(kv, &m, (const uint8_t *)"s\0", 2, 5, rev));
    }
    free(v);
    km_free(&m);
    steme_kv_close(kv);
    tu_rmtree_free(dir);
}

static void test_multi_get_both_engines(void **state)
{
    (void)state;
    char *dir = tu_tempdir("hy-mget");
    steme_kv *kv = km_open(STEME_KV_HYBRID, dir);
    enum { N = 90 };
    uint8_t k[N][32];
    const void *keys[N];
    size_t kl[N];
    steme_buf vals[N];
    int st[N];
    memset(vals, 0, sizeof vals);
    for (int i = 0; i < N; i++) {
        char rest[16];
        snprintf(rest, sizeof rest, "%d", i);
        kl[i] = km_key(k[i], "s", (i % 3 == 0) ? "V" : (i % 3 == 1) ? "H" : "VW", rest,
                       strlen(rest));
        keys[i] = k[i];
        if (i % 5 != 0)
            assert_int_equal(steme_kv_put(kv, k[i], kl[i], k[i], kl[i], 0), STEME_OK);
    }
    assert_int_equal(steme_kv_multi_get(kv, N, keys, kl, vals, st), STEME_OK);
    for (int i = 0; i < N; i++) {
        if (i % 5 == 0) {
            assert_int_equal(st[i], STEME_E_NOTFOUND);
        } else {
            assert_int_equal(st[i], STEME_OK);
            assert_int_equal(vals[i].len, kl[i]);
            assert_memory_equal(vals[i].data, k[i], kl[i]);
        }
    }
    /* all in one engine: passed through whole */
    assert_int_equal(steme_kv_multi_get(kv, 1, keys, kl, vals, st), STEME_OK);
    for (int i = 0; i < N; i++)
        steme_buf_free(&vals[i]);
    steme_kv_close(kv);
    tu_rmtree_free(dir);
}

static void test_counters_and_errmsg(void **state)
{
    (void)state;
    char *dir = tu_tempdir("hy-ctr");
    steme_kv *kv = km_open(STEME_KV_HYBRID, dir);
    uint8_t vw[64], tr[64];
    size_t wl = km_key(vw, "s", "VW", "w", 1), tl = km_key(tr, NULL, "TR", "t", 1);
    double f = 0;
    uint64_t u = 0;
    assert_int_equal(steme_kv_add_f64(kv, vw, wl, 0.5, 0), STEME_OK);
    assert_int_equal(steme_kv_add_f64(kv, vw, wl, 0.25, 0), STEME_OK);
    assert_int_equal(steme_kv_get_f64(kv, vw, wl, &f), STEME_OK);
    assert_true(f == 0.75);
    assert_int_equal(steme_kv_add_u64(kv, tr, tl, 4, 0), STEME_OK); /* lmdb counter */
    assert_int_equal(steme_kv_get_u64(kv, tr, tl, &u), STEME_OK);
    assert_int_equal(u, 4);
    /* a failure inside the rocksdb engine is explained by the hybrid handle */
    assert_int_equal(steme_kv_add_u64(kv, vw, wl, 1, 0), STEME_OK); /* mixes u64 into f64 */
    assert_int_equal(steme_kv_get_f64(kv, vw, wl, &f), STEME_E_CORRUPT);
    assert_non_null(strstr(steme_kv_errmsg(kv), "rocksdb"));
    assert_non_null(strstr(steme_kv_errmsg(kv), "counter"));
    steme_kv_close(kv);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_unknown_family),
        cmocka_unit_test(test_cross_engine_batch),
        cmocka_unit_test(test_merged_scan_model),
        cmocka_unit_test(test_merged_scan_big_values),
        cmocka_unit_test(test_multi_get_both_engines),
        cmocka_unit_test(test_counters_and_errmsg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
