/*
 * kvtest_expect.c - expectations against a KV engine for the KV suites (see
 * kvtest.h): a key's value or absence, a put mirrored into the model, and
 * every way of scanning one prefix compared with the model. Shared by the
 * conformance suites and the pg engine's own suite, so every engine is held
 * to one set of checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kvtest.h"

void kt_expect_val(steme_kv *kv, const uint8_t *k, size_t kn, const void *v, size_t vn)
{
    steme_buf b = STEME_BUF_INIT;
    int rc = steme_kv_get(kv, k, kn, &b);
    if (rc != STEME_OK)
        fail_msg("get: %s (%s)", steme_errname(rc), steme_kv_errmsg(kv));
    assert_int_equal(b.len, vn);
    if (vn)
        assert_memory_equal(b.data, v, vn);
    steme_buf_free(&b);
}

void kt_expect_absent(steme_kv *kv, const uint8_t *k, size_t kn)
{
    steme_buf b = STEME_BUF_INIT;
    assert_int_equal(steme_kv_get(kv, k, kn, &b), STEME_E_NOTFOUND);
    assert_int_equal(b.len, 0);
    steme_buf_free(&b);
}

void kt_put_both(steme_kv *kv, kt_model *m, const uint8_t *k, size_t kn, const void *v,
                 size_t vn)
{
    int rc = steme_kv_put(kv, k, kn, v, vn, 0);
    if (rc != STEME_OK)
        fail_msg("put: %s (%s)", steme_errname(rc), steme_kv_errmsg(kv));
    kt_model_put(m, k, kn, v, vn);
}

/* kt_scan, failing the test (with the engine's message) unless it succeeds. */
static void kt_scan_ok(steme_kv *kv, const void *prefix, size_t plen, const void *after,
                       size_t alen, size_t limit, unsigned flags, kt_list *out)
{
    int rc = kt_scan(kv, prefix, plen, after, alen, limit, flags, out);
    if (rc != STEME_OK)
        fail_msg("scan: %s (%s)", steme_errname(rc), steme_kv_errmsg(kv));
}

void kt_check_scans(steme_kv *kv, const kt_model *m, const uint8_t *prefix, size_t plen)
{
    kt_list got = {0}, want = {0}, all = {0}, paged = {0};
    for (unsigned flags = 0; flags <= STEME_SCAN_REVERSE; flags++) {
        kt_scan_ok(kv, prefix, plen, NULL, 0, 0, flags, &all);
        kt_model_scan(m, prefix, plen, NULL, 0, 0, flags, &want);
        kt_list_expect_equal(&all, &want, flags ? "full reverse scan" : "full scan");
        /* cursor = every few visited keys, and a limit */
        for (size_t i = 0; i < all.n; i += 1 + all.n / 16) {
            kt_scan_ok(kv, prefix, plen, all.e[i].k, all.e[i].kn, 3, flags, &got);
            kt_model_scan(m, prefix, plen, all.e[i].k, all.e[i].kn, 3, flags, &want);
            kt_list_expect_equal(&got, &want, "scan after a cursor");
        }
        /* paging: the pages together equal one full scan */
        static const size_t limits[] = {1, 7, 64};
        for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
            kt_list_clear(&paged);
            for (;;) {
                const kt_entry *last = paged.n ? &paged.e[paged.n - 1] : NULL;
                kt_scan_ok(kv, prefix, plen, last ? last->k : NULL, last ? last->kn : 0,
                           limits[li], flags, &got);
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

/* Fail the test, with the engine's message, unless rc is STEME_OK. */
#define KT_OK(kv, call)                                                                     \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        if (rc_ != STEME_OK)                                                                \
            fail_msg("%s: %s (%s)", #call, steme_errname(rc_), steme_kv_errmsg(kv));        \
    } while (0)

void kt_check_max_raw_keys(steme_kv *kv, kt_model *m)
{
    kt_key big;
    memset(big.b, 'k', STEME_KV_MAX_KEY);
    big.n = STEME_KV_MAX_KEY;
    for (int i = 0; i < 5; i++) {
        big.b[STEME_KV_MAX_KEY - 1] = (uint8_t)(0xFF - i);
        big.b[700] = (uint8_t)(i & 1 ? 0x00 : 0xFF);
        kt_put_both(kv, m, big.b, big.n, &i, sizeof i);
        kt_expect_val(kv, big.b, big.n, &i, sizeof i);
    }
    kt_check_scans(kv, m, big.b, 600);
    kt_check_scans(kv, m, big.b, STEME_KV_MAX_KEY - 1);
}

void kt_check_big_batch(steme_kv *kv, steme_kv_batch *b, uint64_t n)
{
    steme_kv_batch_clear(b);
    kt_model m = {0};
    for (uint64_t i = 0; i < n; i++) {
        kt_key k;
        kt_key_make(&k, STEME_FAM_SUPERSEDES, "batch", i);
        uint8_t val[300];
        memset(val, (int)i, sizeof val);
        KT_OK(kv, steme_kv_batch_put(b, k.b, k.n, val, i % 300));
        kt_model_put(&m, k.b, k.n, val, i % 300);
    }
    KT_OK(kv, steme_kv_write(kv, b, 0));
    kt_check_scans(kv, &m, (const uint8_t *)"batch", 5);
    kt_list_free(&m);
}

int kt_write_poisoned_batch(steme_kv *kv, steme_kv_batch *b, const kt_key *del,
                            const kt_key *after, kt_key *bad, kt_key *fresh)
{
    steme_kv_batch_clear(b);
    kt_key_make(bad, STEME_FAM_QUOTA_LIMIT, NULL, 77);
    kt_key_make(fresh, STEME_FAM_TRUST_PACK, NULL, 77);
    KT_OK(kv, steme_kv_put(kv, bad->b, bad->n, "abc", 3, 0));
    KT_OK(kv, steme_kv_batch_put(b, fresh->b, fresh->n, "new", 3));
    KT_OK(kv, steme_kv_batch_delete(b, del->b, del->n));
    KT_OK(kv, steme_kv_batch_add_u64(b, bad->b, bad->n, 1));
    KT_OK(kv, steme_kv_batch_put(b, after->b, after->n, "after", 5));
    return steme_kv_write(kv, b, 0);
}
