/*
 * test_kv_badinput.c - refused input and open errors, per engine: every
 * public KV function given NULL handles/pointers, empty or oversized keys,
 * oversized values, non-finite deltas, unknown flags returns an error of
 * the INVALID family and leaves a message in steme_kv_errmsg(); opening a
 * missing database without create_if_missing is STEME_E_NOTFOUND. Plus the
 * LMDB engine's own failure modes: a full map and a corrupt data.mdb.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvtest.h"
#include "testutil.h"

static int noop_fn(void *ctx, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn)
{
    return 0;
}

/* rc is refused input, and kv (if any) says why. */
static void refused(steme_kv *kv, int rc, const char *what)
{
    if (steme_status_family_of(rc) != STEME_FAMILY_INVALID)
        fail_msg("%s: got %s, expected an INVALID-family error", what, steme_errname(rc));
    if (kv) {
        const char *msg = steme_kv_errmsg(kv);
        if (!msg || !*msg || strcmp(msg, "no error") == 0)
            fail_msg("%s: no error message", what);
    }
}

KT_ENGINE_TEST(test_bad_arguments)
{
    kt_db d;
    kt_db_open(&d, e, NULL);
    steme_kv *kv = d.kv;
    kt_key k;
    kt_key_make(&k, STEME_FAM_ASSERTION, "bad", 1);
    static uint8_t huge[STEME_KV_MAX_KEY + 1];
    memset(huge, 'h', sizeof huge);
    steme_buf b = STEME_BUF_INIT;
    uint64_t u;
    double f;
    /* NULL handle: no message possible, but a status */
    refused(NULL, steme_kv_get(NULL, k.b, k.n, &b), "get(NULL kv)");
    refused(NULL, steme_kv_put(NULL, k.b, k.n, "v", 1, 0), "put(NULL kv)");
    refused(NULL, steme_kv_delete(NULL, k.b, k.n, 0), "delete(NULL kv)");
    refused(NULL, steme_kv_add_u64(NULL, k.b, k.n, 1, 0), "add_u64(NULL kv)");
    refused(NULL, steme_kv_add_f64(NULL, k.b, k.n, 1, 0), "add_f64(NULL kv)");
    refused(NULL, steme_kv_get_u64(NULL, k.b, k.n, &u), "get_u64(NULL kv)");
    refused(NULL, steme_kv_get_f64(NULL, k.b, k.n, &f), "get_f64(NULL kv)");
    refused(NULL, steme_kv_scan(NULL, NULL, 0, NULL, 0, 0, 0, noop_fn, NULL, NULL), "scan(NULL)");
    refused(NULL, steme_kv_write(NULL, NULL, 0), "write(NULL kv)");
    refused(NULL, steme_kv_sync(NULL), "sync(NULL kv)");
    assert_non_null(steme_kv_errmsg(NULL));
    steme_kv_close(NULL);
    /* keys: NULL, empty, one byte too long */
    const void *keys[3] = {NULL, k.b, huge};
    const size_t lens[3] = {k.n, 0, sizeof huge};
    for (int i = 0; i < 3; i++) {
        refused(kv, steme_kv_get(kv, keys[i], lens[i], &b), "get(bad key)");
        refused(kv, steme_kv_put(kv, keys[i], lens[i], "v", 1, 0), "put(bad key)");
        refused(kv, steme_kv_delete(kv, keys[i], lens[i], 0), "delete(bad key)");
        refused(kv, steme_kv_add_u64(kv, keys[i], lens[i], 1, 0), "add_u64(bad key)");
        refused(kv, steme_kv_add_f64(kv, keys[i], lens[i], 1, 0), "add_f64(bad key)");
        refused(kv, steme_kv_get_u64(kv, keys[i], lens[i], &u), "get_u64(bad key)");
        refused(kv, steme_kv_get_f64(kv, keys[i], lens[i], &f), "get_f64(bad key)");
        const void *mk[2] = {k.b, keys[i]};
        size_t ml[2] = {k.n, lens[i]};
        steme_buf mv[2] = {STEME_BUF_INIT, STEME_BUF_INIT};
        int st[2];
        refused(kv, steme_kv_multi_get(kv, 2, mk, ml, mv, st), "multi_get(bad key)");
        if (i) /* a NULL cursor with alen 0 just means no cursor */
            refused(kv, steme_kv_scan(kv, NULL, 0, keys[i], lens[i], 0, 0, noop_fn, NULL, NULL),
                    "scan(bad cursor)");
    }
    assert_int_equal(steme_kv_get(kv, huge, sizeof huge, &b), STEME_E_TOO_BIG);
    /* other pointers, values, deltas, flags */
    refused(kv, steme_kv_get(kv, k.b, k.n, NULL), "get(NULL out)");
    refused(kv, steme_kv_get_u64(kv, k.b, k.n, NULL), "get_u64(NULL out)");
    refused(kv, steme_kv_get_f64(kv, k.b, k.n, NULL), "get_f64(NULL out)");
    refused(kv, steme_kv_put(kv, k.b, k.n, NULL, 3, 0), "put(NULL value, vlen 3)");
    /* an oversized value is refused before it is read */
    uint8_t one = 0;
    assert_int_equal(steme_kv_put(kv, k.b, k.n, &one, (size_t)STEME_KV_MAX_VALUE + 1, 0),
                     STEME_E_TOO_BIG);
    refused(kv, steme_kv_put(kv, k.b, k.n, "v", 1, 0x80), "put(unknown flag)");
    refused(kv, steme_kv_delete(kv, k.b, k.n, 0x80), "delete(unknown flag)");
    refused(kv, steme_kv_add_u64(kv, k.b, k.n, 1, 0x80), "add_u64(unknown flag)");
    refused(kv, steme_kv_add_f64(kv, k.b, k.n, NAN, 0), "add_f64(NaN)");
    refused(kv, steme_kv_add_f64(kv, k.b, k.n, INFINITY, 0), "add_f64(inf)");
    refused(kv, steme_kv_add_f64(kv, k.b, k.n, -INFINITY, 0), "add_f64(-inf)");
    refused(kv, steme_kv_scan(kv, NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL), "scan(NULL fn)");
    refused(kv, steme_kv_scan(kv, NULL, 3, NULL, 0, 0, 0, noop_fn, NULL, NULL), "scan(NULL prefix)");
    refused(kv, steme_kv_scan(kv, huge, sizeof huge, NULL, 0, 0, 0, noop_fn, NULL, NULL),
            "scan(huge prefix)");
    refused(kv, steme_kv_scan(kv, NULL, 0, NULL, 4, 0, 0, noop_fn, NULL, NULL), "scan(NULL after)");
    refused(kv, steme_kv_scan(kv, NULL, 0, NULL, 0, 0, 0x80, noop_fn, NULL, NULL), "scan(flags)");
    refused(kv, steme_kv_multi_get(kv, 1, NULL, NULL, NULL, NULL), "multi_get(NULL arrays)");
    refused(kv, steme_kv_write(kv, NULL, 0), "write(NULL batch)");
    steme_kv_batch *bt = steme_kv_batch_new();
    refused(kv, steme_kv_write(kv, bt, 0x80), "write(unknown flag)");
    /* nothing was written by any of that */
    assert_int_equal(steme_kv_get(kv, k.b, k.n, &b), STEME_E_NOTFOUND);
    /* batches (no handle: the status says it) */
    refused(NULL, steme_kv_batch_put(NULL, k.b, k.n, "v", 1), "batch_put(NULL batch)");
    refused(NULL, steme_kv_batch_put(bt, NULL, 1, "v", 1), "batch_put(NULL key)");
    refused(NULL, steme_kv_batch_put(bt, k.b, 0, "v", 1), "batch_put(empty key)");
    refused(NULL, steme_kv_batch_put(bt, huge, sizeof huge, "v", 1), "batch_put(huge key)");
    refused(NULL, steme_kv_batch_put(bt, k.b, k.n, NULL, 1), "batch_put(NULL value)");
    refused(NULL, steme_kv_batch_put(bt, k.b, k.n, &one, (size_t)STEME_KV_MAX_VALUE + 1),
            "batch_put(huge value)");
    refused(NULL, steme_kv_batch_delete(bt, NULL, 1), "batch_delete(NULL key)");
    refused(NULL, steme_kv_batch_add_u64(bt, k.b, 0, 1), "batch_add_u64(empty key)");
    refused(NULL, steme_kv_batch_add_f64(bt, k.b, k.n, NAN), "batch_add_f64(NaN)");
    refused(NULL, steme_kv_batch_add_f64(bt, k.b, k.n, INFINITY), "batch_add_f64(inf)");
    assert_int_equal(steme_kv_batch_count(bt), 0);
    assert_int_equal(steme_kv_batch_count(NULL), 0);
    steme_kv_batch_clear(NULL);
    steme_kv_batch_free(bt);
    steme_kv_batch_free(NULL);
    steme_buf_free(&b);
    kt_db_close(&d);
}

KT_ENGINE_TEST(test_open_errors)
{
    steme_error err = {0};
    steme_kv *kv = (steme_kv *)&err; /* must be reset to NULL */
    refused(NULL, steme_kv_open(e, NULL, NULL, NULL, &err), "open(NULL out)");
    assert_true(strlen(err.message) > 0);
    refused(NULL, steme_kv_open((steme_kv_engine)99, "/tmp/x", NULL, &kv, &err),
            "open(unknown engine)");
    assert_null(kv);
    assert_string_equal(steme_kv_engine_name((steme_kv_engine)99), "unknown");
    if (!kt_on_disk(e))
        return;
    refused(NULL, steme_kv_open(e, NULL, NULL, &kv, &err), "open(NULL path)");
    if (e == STEME_KV_PG)
        return; /* its "path" is a connection string: test_kv_pg covers bad ones */
    /* a missing directory without create_if_missing */
    char *dir = tu_tempdir("kvopen");
    size_t n = strlen(dir) + 16;
    char *path = malloc(n);
    snprintf(path, n, "%s/missing", dir);
    steme_kv_options o;
    steme_kv_options_init(&o);
    o.create_if_missing = 0;
    memset(&err, 0, sizeof err);
    assert_int_equal(steme_kv_open(e, path, &o, &kv, &err), STEME_E_NOTFOUND);
    assert_null(kv);
    assert_int_equal(err.code, STEME_E_NOTFOUND);
    assert_true(strlen(err.message) > 0);
    free(path);
    tu_rmtree_free(dir);
}

/* LMDB: a small map fills up with STEME_E_FULL and stays readable. */
static void test_lmdb_map_full(void **state)
{
    steme_kv_options o;
    steme_kv_options_init(&o);
    o.lmdb_map_size = 1u << 20;
    kt_db d;
    kt_db_open(&d, STEME_KV_LMDB, &o);
    static uint8_t val[64 * 1024];
    memset(val, 0xAB, sizeof val);
    int rc = STEME_OK, i;
    kt_key k;
    for (i = 0; i < 64 && rc == STEME_OK; i++) {
        kt_key_make(&k, STEME_FAM_TRUST_PACK, NULL, (uint64_t)i);
        rc = steme_kv_put(d.kv, k.b, k.n, val, sizeof val, 0);
    }
    assert_int_equal(rc, STEME_E_FULL);
    assert_non_null(strstr(steme_kv_errmsg(d.kv), "full"));
    /* a batch that does not fit fails whole; earlier data is intact */
    kt_key_make(&k, STEME_FAM_TRUST_PACK, NULL, 0);
    steme_buf b = STEME_BUF_INIT;
    assert_int_equal(steme_kv_get(d.kv, k.b, k.n, &b), STEME_OK);
    assert_int_equal(b.len, sizeof val);
    steme_buf_free(&b);
    kt_db_close(&d);
}

/* LMDB: a data.mdb that is not an LMDB file is STEME_E_CORRUPT. */
static void test_lmdb_corrupt_file(void **state)
{
    char *dir = tu_tempdir("kvcorrupt");
    size_t n = strlen(dir) + 16;
    char *file = malloc(n);
    snprintf(file, n, "%s/data.mdb", dir);
    FILE *fp = fopen(file, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 16384; i++)
        fputc((i * 131) & 0xFF, fp);
    fclose(fp);
    steme_error err = {0};
    steme_kv *kv = NULL;
    assert_int_equal(steme_kv_open(STEME_KV_LMDB, dir, NULL, &kv, &err), STEME_E_CORRUPT);
    assert_null(kv);
    assert_true(strlen(err.message) > 0);
    free(file);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_lmdb_map_full),
        cmocka_unit_test(test_lmdb_corrupt_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
