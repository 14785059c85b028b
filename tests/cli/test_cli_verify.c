/*
 * test_cli_verify.c - `steme verify` on healthy and deliberately damaged
 * databases: a vote cache that disagrees with its recount, and an
 * assertion whose stored bytes were altered, each give exit 3 and name the
 * damaged assertion; a healthy database gives exit 0.
 *
 * The damage is done with the KV engines directly (the database closed),
 * exactly as a disk error or a buggy writer would leave it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>

#include "cli_testlib.h"
#include "steme/keys.h"
#include "steme/kv.h"
#include "steme/record.h"

typedef struct fixture {
    char *dir, *key, db[4096];
    char hash[2][65];
} fixture;

static void must(cli_result r, int code)
{
    if (r.code != code)
        fail_msg("exit %d, expected %d\nstdout: %s\nstderr: %s", r.code, code, r.out, r.err);
    ct_free(&r);
}

/* A database with two assertions about "aspirin" and two votes. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir("cli-verify");
    snprintf(f->db, sizeof f->db, "%s/db", f->dir);
    f->key = ct_write(f->dir, "a.key", "");
    must(ct_run(f->dir, "keygen", "--force", "--out", f->key, NULL), 0);
    const char *vals[2] = {"4000", "8000"};
    for (int i = 0; i < 2; i++) {
        cli_result r = ct_run(f->dir, "assert", "--db", f->db, "--key", f->key, "--subject",
                              "aspirin", "--predicate", "dose", "--int", vals[i], "--time",
                              i ? "2000" : "1000", NULL);
        assert_int_equal(r.code, 0);
        assert_int_equal(strlen(r.out), 65);
        memcpy(f->hash[i], r.out, 64);
        ct_free(&r);
        must(ct_run(f->dir, "vote", "--db", f->db, "--key", f->key, f->hash[i], "--weight",
                    i ? "-0.25" : "0.75", NULL),
             0);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    free(f->key);
    tu_rmtree_free(f->dir);
    free(f);
    return 0;
}

static steme_kv *open_engines(const fixture *f)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/kv", f->db);
    steme_kv_options o;
    steme_kv_options_init(&o);
    steme_kv *kv = NULL;
    assert_int_equal(steme_kv_open(STEME_KV_HYBRID, path, &o, &kv, NULL), STEME_OK);
    return kv;
}

static size_t key_of(steme_key_family fam, const char *hex, uint8_t *key)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = fam;
    k.subject = "aspirin", k.subject_len = 7;
    assert_int_equal(steme_hex_decode(hex, 64, k.hash.bytes, 32, NULL), STEME_OK);
    size_t len = 0;
    assert_int_equal(steme_key_encode(&k, key, STEME_KEY_MAX, &len, NULL), STEME_OK);
    return len;
}

static void test_healthy_database_passes(void **state)
{
    fixture *f = *state;
    must(ct_run(f->dir, "verify", "--db", f->db, NULL), 0);
    cli_result r = ct_run(f->dir, "verify", "--db", f->db, "--json", NULL);
    assert_int_equal(r.code, 0);
    json_t *j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_int_equal(json_integer_value(json_object_get(j, "checked")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "vote_caches")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "votes")), 2);
    json_decref(j);
    ct_free(&r);
}

static void test_wrong_vote_cache_is_damage(void **state)
{
    fixture *f = *state;
    steme_kv *kv = open_engines(f);
    uint8_t key[STEME_KEY_MAX];
    size_t klen = key_of(STEME_FAM_VOTE_COUNT, f->hash[1], key);
    assert_int_equal(steme_kv_add_u64(kv, key, klen, 1, STEME_KV_SYNC), STEME_OK);
    steme_kv_close(kv);

    cli_result r = ct_run(f->dir, "verify", "--db", f->db, NULL);
    assert_int_equal(r.code, 3);
    assert_non_null(strstr(r.err, f->hash[1]));
    assert_non_null(strstr(r.err, "vote cache"));
    assert_null(strstr(r.err, f->hash[0]));   /* the healthy one is not blamed */
    assert_non_null(strstr(r.out, "DAMAGED"));
    ct_free(&r);

    r = ct_run(f->dir, "verify", "--db", f->db, "--json", NULL);
    assert_int_equal(r.code, 3);
    int damages = 0, summaries = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        const char *type = json_string_value(json_object_get(j, "type"));
        if (strcmp(type, "damage") == 0) {
            damages++;
            assert_string_equal(json_string_value(json_object_get(j, "hash")), f->hash[1]);
        } else {
            summaries++;
            assert_true(json_is_false(json_object_get(j, "ok")));
            assert_int_equal(json_integer_value(json_object_get(j, "bad_caches")), 1);
        }
        json_decref(j);
    }
    assert_int_equal(damages, 1);
    assert_int_equal(summaries, 1);
    ct_free(&r);

    /* Repair it: verify passes again (the check reads the engines, not a copy). */
    kv = open_engines(f);
    assert_int_equal(steme_kv_add_u64(kv, key, klen, -1, STEME_KV_SYNC), STEME_OK);
    steme_kv_close(kv);
    must(ct_run(f->dir, "verify", "--db", f->db, NULL), 0);
}

static void test_altered_assertion_is_damage(void **state)
{
    fixture *f = *state;
    steme_kv *kv = open_engines(f);
    uint8_t key[STEME_KEY_MAX];
    size_t klen = key_of(STEME_FAM_ASSERTION, f->hash[0], key);
    steme_buf v = STEME_BUF_INIT;
    assert_int_equal(steme_kv_get(kv, key, klen, &v), STEME_OK);
    /* Change the claim itself: the int object 4000 becomes 4001, a valid
     * encoding whose hash no longer matches its key. */
    steme_assertion a;
    assert_int_equal(steme_assertion_decode(v.data, v.len, &a, NULL), STEME_OK);
    uint8_t le[8] = {0xa0, 0x0f, 0, 0, 0, 0, 0, 0}; /* 4000 LE */
    uint8_t *at = memmem(v.data, v.len, le, sizeof le);
    assert_non_null(at);
    at[0] = 0xa1;
    assert_int_equal(steme_kv_put(kv, key, klen, v.data, v.len, STEME_KV_SYNC), STEME_OK);
    steme_buf_free(&v);
    steme_kv_close(kv);

    cli_result r = ct_run(f->dir, "verify", "--db", f->db, NULL);
    assert_int_equal(r.code, 3);
    assert_non_null(strstr(r.err, f->hash[0]));
    assert_null(strstr(r.err, f->hash[1]));
    ct_free(&r);
    /* `get` refuses the damaged record too (exit 3). */
    must(ct_run(f->dir, "get", "--db", f->db, f->hash[0], NULL), 3);
}

static void test_verify_bad_arguments(void **state)
{
    fixture *f = *state;
    char nodb[4200];
    snprintf(nodb, sizeof nodb, "%s/none", f->dir);
    must(ct_run(f->dir, "verify", NULL), 2);                    /* no --db */
    must(ct_run(f->dir, "verify", "--db", f->db, "extra", NULL), 2);
    must(ct_run(f->dir, "verify", "--db", f->db, "--deep", NULL), 2);
    must(ct_run(f->dir, "verify", "--db", nodb, NULL), 1);      /* no database there */
}

int main(void)
{
    /* Order matters: the damage tests run on the shared fixture, last. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_database_passes),
        cmocka_unit_test(test_verify_bad_arguments),
        cmocka_unit_test(test_wrong_vote_cache_is_damage),
        cmocka_unit_test(test_altered_assertion_is_damage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
