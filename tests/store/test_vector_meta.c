/* test_vector_meta.c - a vector index's configuration in the database: the
 * encoding (round trip of random records, every flipped byte and every
 * length refused), put/get/overwrite/reopen, replay after _exit in a forked
 * child, a garbage stored value -> STEME_E_CORRUPT, bad input that changes
 * nothing, and log records applied twice or damaged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "steme/db.h"
#include "steme/keys.h"
#include "steme/vector_meta.h"
#include "store/db_int.h"
#include "testutil.h"
#include "store_pg.h" /* last: runs the db tests on pg too */
#include "store_testlib.h" /* after store_pg.h: opens through it */

static int setup(void **state)
{
    return st_tempdir_setup(state, "vector-meta");
}

static steme_vector_meta meta(uint32_t dim, steme_vector_metric metric, uint64_t created)
{
    steme_vector_meta m = {dim, metric, STEME_VECTOR_F32, 16, 200, 40, created};
    return m;
}

static void assert_meta_equal(const steme_vector_meta *a, const steme_vector_meta *b)
{
    assert_int_equal(a->dim, b->dim);
    assert_int_equal(a->metric, b->metric);
    assert_int_equal(a->storage, b->storage);
    assert_int_equal(a->M, b->M);
    assert_int_equal(a->ef_construction, b->ef_construction);
    assert_int_equal(a->ef_search, b->ef_search);
    assert_int_equal(a->created_at, b->created_at);
}

static steme_vector_meta random_meta(tu_rng *r)
{
    steme_vector_meta m;
    m.dim = 1 + (uint32_t)tu_rng_below(r, STEME_VECTOR_MAX_DIM);
    m.metric = (steme_vector_metric)(1 + tu_rng_below(r, 3));
    m.storage = m.metric == STEME_VECTOR_COSINE ? STEME_VECTOR_F32
                                                : (steme_vector_storage)tu_rng_below(r, 2);
    m.M = 2 + (uint32_t)tu_rng_below(r, STEME_VECTOR_MAX_M - 1);
    m.ef_construction = 1 + (uint32_t)tu_rng_below(r, STEME_VECTOR_MAX_EF);
    m.ef_search = 1 + (uint32_t)tu_rng_below(r, STEME_VECTOR_MAX_EF);
    m.created_at = tu_rng_next(r);
    return m;
}

/* Random records round-trip; every flipped byte, every other length and
 * every out-of-range field is refused. */
static void codec(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(0x5eed));
    uint8_t buf[64];
    size_t len;
    steme_vector_meta got;
    steme_error e;
    for (int i = 0; i < 2000; i++) {
        steme_vector_meta m = random_meta(&r);
        assert_int_equal(steme_vector_meta_encode(&m, buf, sizeof buf, &len, &e), STEME_OK);
        assert_int_equal(len, STEME_VECTOR_META_ENCODED_LEN);
        assert_int_equal(steme_vector_meta_decode(buf, len, &got, &e), STEME_OK);
        assert_meta_equal(&m, &got);
        /* one flipped byte (any position, any non-zero xor) is always caught */
        size_t pos = (size_t)tu_rng_below(&r, len);
        uint8_t x = (uint8_t)(1 + tu_rng_below(&r, 255));
        buf[pos] ^= x;
        int rc = steme_vector_meta_decode(buf, len, &got, &e);
        assert_true(rc == STEME_E_CORRUPT || (pos == 2 && rc == STEME_E_VERSION));
        assert_int_equal(got.dim, 0); /* zeroed on failure */
    }
    steme_vector_meta m = meta(3, STEME_VECTOR_L2, 1700000000000ull);
    assert_int_equal(steme_vector_meta_encode(&m, buf, sizeof buf, &len, NULL), STEME_OK);
    for (size_t n = 0; n < sizeof buf; n++)
        if (n != len)
            assert_int_not_equal(steme_vector_meta_decode(buf, n, &got, NULL), STEME_OK);
    assert_int_equal(steme_vector_meta_decode(buf, len + 1, &got, &e), STEME_E_CORRUPT);
    assert_non_null(strstr(e.message, "bytes"));
    /* a newer version is not garbage, but this build cannot read it */
    buf[2] = 2;
    assert_int_equal(steme_vector_meta_decode(buf, len, &got, &e), STEME_E_VERSION);
    buf[2] = 0;
    assert_int_equal(steme_vector_meta_decode(buf, len, &got, NULL), STEME_E_CORRUPT);
    memset(buf, 0xA5, sizeof buf);
    assert_int_equal(steme_vector_meta_decode(buf, len, &got, &e), STEME_E_CORRUPT);
    assert_non_null(strstr(e.message, "magic"));

    /* encode: small buffer (length still reported), NULL, ranges */
    len = 0;
    assert_int_equal(steme_vector_meta_encode(&m, buf, 10, &len, NULL), STEME_E_BUFFER_SMALL);
    assert_int_equal(len, STEME_VECTOR_META_ENCODED_LEN);
    assert_int_equal(steme_vector_meta_encode(&m, NULL, 0, &len, NULL), STEME_E_BUFFER_SMALL);
    assert_int_equal(steme_vector_meta_encode(&m, NULL, 8, &len, NULL), STEME_E_INVALID);
    assert_int_equal(steme_vector_meta_encode(NULL, buf, sizeof buf, &len, NULL), STEME_E_INVALID);
    assert_int_equal(steme_vector_meta_encode(&m, buf, sizeof buf, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_vector_meta_decode(NULL, 33, &got, NULL), STEME_E_INVALID);
    assert_int_equal(steme_vector_meta_decode(buf, 33, NULL, NULL), STEME_E_INVALID);
    steme_vector_meta bad[] = {
        meta(0, STEME_VECTOR_L2, 0), meta(STEME_VECTOR_MAX_DIM + 1, STEME_VECTOR_L2, 0),
        meta(3, (steme_vector_metric)0, 0), meta(3, (steme_vector_metric)4, 0),
        meta(3, STEME_VECTOR_COSINE, 0), meta(3, STEME_VECTOR_L2, 0),
        meta(3, STEME_VECTOR_L2, 0), meta(3, STEME_VECTOR_L2, 0), meta(3, STEME_VECTOR_L2, 0),
        meta(3, STEME_VECTOR_L2, 0), meta(3, STEME_VECTOR_L2, 0),
    };
    bad[4].storage = STEME_VECTOR_U8;           /* u8 cannot hold cosine vectors */
    bad[5].storage = (steme_vector_storage)2;
    bad[6].M = 1;
    bad[7].M = STEME_VECTOR_MAX_M + 1;
    bad[8].ef_construction = 0;
    bad[9].ef_search = STEME_VECTOR_MAX_EF + 1;
    bad[10].ef_search = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(steme_vector_meta_encode(&bad[i], buf, sizeof buf, &len, NULL),
                         STEME_E_INVALID);
    /* the family goes to LMDB, as the key codec's table says */
    assert_int_equal(steme_key_family_engine(STEME_FAM_VECTOR_META), STEME_KV_LMDB);
}

/* put, get, overwrite, other names, reopen. */
static void put_get_reopen(void **state)
{
    const char *dir = *state;
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_vector_meta got, m = meta(784, STEME_VECTOR_L2, 1700000000123ull);
    assert_int_equal(steme_db_vector_meta_get(db, STEME_VECTOR_META_DEFAULT, &got),
                     STEME_E_NOTFOUND);
    assert_int_equal(steme_db_vector_meta_put(db, STEME_VECTOR_META_DEFAULT, &m), STEME_OK);
    assert_int_equal(steme_db_vector_meta_get(db, STEME_VECTOR_META_DEFAULT, &got), STEME_OK);
    assert_meta_equal(&m, &got);
    /* overwrite: the last put wins */
    m.storage = STEME_VECTOR_U8;
    m.M = 32;
    m.ef_search = 80;
    assert_int_equal(steme_db_vector_meta_put(db, STEME_VECTOR_META_DEFAULT, &m), STEME_OK);
    /* names are independent; the longest name fits */
    char longname[STEME_KEY_NAME_MAX + 1];
    memset(longname, 'n', STEME_KEY_NAME_MAX);
    longname[STEME_KEY_NAME_MAX] = 0;
    steme_vector_meta m2 = meta(3, STEME_VECTOR_COSINE, 7);
    assert_int_equal(steme_db_vector_meta_put(db, longname, &m2), STEME_OK);
    assert_int_equal(steme_db_vector_meta_get(db, "defaul", &got), STEME_E_NOTFOUND);
    steme_db_close(db);

    db = st_open_db(dir, STEME_KV_HYBRID);
    assert_int_equal(steme_db_vector_meta_get(db, STEME_VECTOR_META_DEFAULT, &got), STEME_OK);
    assert_meta_equal(&m, &got);
    assert_int_equal(steme_db_vector_meta_get(db, longname, &got), STEME_OK);
    assert_meta_equal(&m2, &got);
    steme_db_close(db);
}

/* A child writes and _exits without closing: the reopened db has every
 * acknowledged write (replayed from the log; the MEM engine forgets all). */
static void replay_after_exit(void **state)
{
    const char *dir = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        steme_db_options o;
        steme_db_options_init(&o);
        o.engine = STEME_KV_MEM;
        steme_db *db = NULL;
        if (steme_db_open(dir, &o, &db, NULL) != STEME_OK)
            _exit(3);
        for (uint32_t i = 1; i <= 20; i++) {
            char name[16];
            snprintf(name, sizeof name, "ix%u", i % 5);
            steme_vector_meta m = meta(i, (steme_vector_metric)(1 + i % 3), 1000 + i);
            if (steme_db_vector_meta_put(db, name, &m) != STEME_OK)
                _exit(4);
        }
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    steme_db *db = st_open_db(dir, STEME_KV_MEM);
    for (uint32_t i = 16; i <= 20; i++) { /* the last write of each name */
        char name[16];
        snprintf(name, sizeof name, "ix%u", i % 5);
        steme_vector_meta got, want = meta(i, (steme_vector_metric)(1 + i % 3), 1000 + i);
        assert_int_equal(steme_db_vector_meta_get(db, name, &got), STEME_OK);
        assert_meta_equal(&want, &got);
    }
    steme_db_close(db);
}

static void put_raw(steme_db *db, const char *name, const void *val, size_t vlen)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_VECTOR_META;
    k.name = (const uint8_t *)name;
    k.name_len = strlen(name);
    uint8_t key[STEME_KEY_MAX];
    size_t klen;
    assert_int_equal(steme_key_encode(&k, key, sizeof key, &klen, NULL), STEME_OK);
    assert_int_equal(steme_kv_put(db_kv(db), key, klen, val, vlen, 0), STEME_OK);
}

/* A stored value that is not a record is CORRUPT, never a configuration. */
static void garbage_value_is_corrupt(void **state)
{
    const char *dir = *state;
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_vector_meta got;
    put_raw(db, "g1", "dim 3\nmetric l2\n", 16);
    assert_int_equal(steme_db_vector_meta_get(db, "g1", &got), STEME_E_CORRUPT);
    assert_non_null(strstr(steme_db_errmsg(db), "g1"));
    assert_int_equal(got.dim, 0);
    put_raw(db, "g2", "", 0);
    assert_int_equal(steme_db_vector_meta_get(db, "g2", &got), STEME_E_CORRUPT);
    uint8_t enc[STEME_VECTOR_META_ENCODED_LEN];
    size_t len;
    steme_vector_meta m = meta(3, STEME_VECTOR_IP, 5);
    assert_int_equal(steme_vector_meta_encode(&m, enc, sizeof enc, &len, NULL), STEME_OK);
    enc[7] ^= 1; /* dim changed, CRC not */
    put_raw(db, "g3", enc, len);
    assert_int_equal(steme_db_vector_meta_get(db, "g3", &got), STEME_E_CORRUPT);
    assert_non_null(strstr(steme_db_errmsg(db), "checksum"));
    steme_db_close(db);
}

/* Bad input gets a clear error and changes nothing. */
static void bad_input_changes_nothing(void **state)
{
    const char *dir = *state;
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    steme_vector_meta got, m = meta(8, STEME_VECTOR_L2, 1);
    assert_int_equal(steme_db_vector_meta_put(db, "x", &m), STEME_OK);
    steme_vector_meta bad = m;
    bad.dim = 0;
    assert_int_equal(steme_db_vector_meta_put(db, "x", &bad), STEME_E_INVALID);
    assert_non_null(strstr(steme_db_errmsg(db), "dim"));
    bad = m;
    bad.metric = STEME_VECTOR_COSINE;
    bad.storage = STEME_VECTOR_U8;
    assert_int_equal(steme_db_vector_meta_put(db, "x", &bad), STEME_E_INVALID);
    char longname[STEME_KEY_NAME_MAX + 2];
    memset(longname, 'n', STEME_KEY_NAME_MAX + 1);
    longname[STEME_KEY_NAME_MAX + 1] = 0;
    assert_int_equal(steme_db_vector_meta_put(db, longname, &m), STEME_E_TOO_BIG);
    assert_int_equal(steme_db_vector_meta_get(db, longname, &got), STEME_E_TOO_BIG);
    assert_int_equal(steme_db_vector_meta_put(db, "", &m), STEME_E_INVALID);
    assert_int_equal(steme_db_vector_meta_get(db, "", &got), STEME_E_INVALID);
    assert_int_equal(steme_db_vector_meta_put(db, NULL, &m), STEME_E_INVALID);
    assert_int_equal(steme_db_vector_meta_put(db, "x", NULL), STEME_E_INVALID);
    assert_int_equal(steme_db_vector_meta_get(db, NULL, &got), STEME_E_INVALID);
    assert_int_equal(steme_db_vector_meta_get(db, "x", NULL), STEME_E_INVALID);
    assert_int_equal(steme_db_vector_meta_put(NULL, "x", &m), STEME_E_INVALID);
    assert_int_equal(steme_db_vector_meta_get(NULL, "x", &got), STEME_E_INVALID);
    assert_int_equal(steme_db_vector_meta_get(db, "x", &got), STEME_OK);
    assert_meta_equal(&m, &got);
    steme_db_close(db);
    db = st_open_db(dir, STEME_KV_HYBRID); /* nothing bad was logged either */
    assert_int_equal(steme_db_vector_meta_get(db, "x", &got), STEME_OK);
    assert_meta_equal(&m, &got);
    steme_db_close(db);
}

/* Log records: applying one twice is harmless; damaged ones are refused. */
static void apply_idempotent_and_damaged(void **state)
{
    const char *dir = *state;
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    uint8_t body[64] = {4, 0, 'n', 'a', 'm', 'e'};
    size_t elen;
    steme_vector_meta got, m = meta(12, STEME_VECTOR_IP, 99);
    assert_int_equal(steme_vector_meta_encode(&m, body + 6, sizeof body - 6, &elen, NULL),
                     STEME_OK);
    size_t blen = 6 + elen;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(db_apply(db, DB_LOG_VECTOR_META, body, blen, NULL), STEME_OK);
        assert_int_equal(steme_db_vector_meta_get(db, "name", &got), STEME_OK);
        assert_meta_equal(&m, &got);
    }
    uint8_t bad[64];
    assert_int_equal(db_apply(db, DB_LOG_VECTOR_META, body, 1, NULL), STEME_E_CORRUPT);
    assert_int_equal(db_apply(db, DB_LOG_VECTOR_META, body, blen - 1, NULL), STEME_E_CORRUPT);
    assert_int_equal(db_apply(db, DB_LOG_VECTOR_META, NULL, 0, NULL), STEME_E_CORRUPT);
    memcpy(bad, body, blen);
    bad[0] = 200; /* name past the end */
    assert_int_equal(db_apply(db, DB_LOG_VECTOR_META, bad, blen, NULL), STEME_E_CORRUPT);
    memcpy(bad, body, blen);
    bad[0] = 0;   /* empty name: the rest is not a record */
    assert_int_equal(db_apply(db, DB_LOG_VECTOR_META, bad, blen, NULL), STEME_E_CORRUPT);
    memcpy(bad, body, blen);
    bad[10] ^= 0x40; /* damaged encoding */
    assert_int_equal(db_apply(db, DB_LOG_VECTOR_META, bad, blen, NULL), STEME_E_CORRUPT);
    assert_int_equal(steme_db_vector_meta_get(db, "name", &got), STEME_OK);
    assert_meta_equal(&m, &got);
    steme_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(codec),
        cmocka_unit_test_setup_teardown(put_get_reopen, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(replay_after_exit, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(garbage_value_is_corrupt, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(bad_input_changes_nothing, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(apply_idempotent_and_damaged, setup, st_tempdir_teardown),
    };
    const struct CMUnitTest tests_pg[] = {
        cmocka_unit_test_setup_teardown(put_get_reopen, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(garbage_value_is_corrupt, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(bad_input_changes_nothing, setup, st_tempdir_teardown),
    };
    int rc = cmocka_run_group_tests_name("embedded", tests, NULL, NULL);
    rc |= sp_run_on_pg("pg", tests_pg);
    return rc;
}
