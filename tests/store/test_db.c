/* test_db.c - a steme_db with assertions: put/get/list, idempotency, bad
 * input, verify on damage, and crash recovery (fork, kill -9, reopen). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "steme/db.h"
#include "steme/keys.h"
#include "steme/sign.h"
#include "testutil.h"

typedef struct fixture {
    char *dir;
    steme_agent_id pk;
    steme_secret_key sk;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir("db");
    uint8_t seed[32] = {7};
    assert_int_equal(steme_keypair_from_seed(seed, &f->pk, &f->sk, NULL), STEME_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_rmtree_free(f->dir);
    free(f);
    return 0;
}

static char g_text[64][32];

/* Assertion number i about `subject`, signed by f's key. */
static steme_assertion make(fixture *f, const char *subject, const char *pred, int i)
{
    steme_assertion a;
    memset(&a, 0, sizeof a);
    a.subject = subject;
    a.subject_len = strlen(subject);
    a.predicate = pred;
    a.predicate_len = strlen(pred);
    snprintf(g_text[i % 64], sizeof g_text[0], "value-%d", i);
    a.object = steme_value_string(g_text[i % 64], strlen(g_text[i % 64]));
    a.confidence = 0.5;
    a.source_kind = STEME_SOURCE_AGENT;
    a.agent = f->pk;
    a.timestamp = 1700000000000ull + (uint64_t)i * 1000u;
    assert_int_equal(steme_assertion_sign(&a, &f->sk, NULL), STEME_OK);
    return a;
}

static steme_db *open_db(const char *dir)
{
    steme_db *db = NULL;
    steme_error e;
    int rc = steme_db_open(dir, NULL, &db, &e);
    if (rc != STEME_OK)
        fail_msg("open %s: %s", dir, e.message);
    return db;
}

static void put_get_idempotent(void **state)
{
    fixture *f = *state;
    steme_db *db = open_db(f->dir);
    steme_assertion a = make(f, "aspirin", "dose", 1);
    steme_hash h, h2;
    int created = -1;
    assert_int_equal(steme_db_put_assertion(db, &a, &h, &created), STEME_OK);
    assert_int_equal(created, 1);
    assert_int_equal(steme_db_put_assertion(db, &a, &h2, &created), STEME_OK);
    assert_int_equal(created, 0);
    assert_memory_equal(h.bytes, h2.bytes, 32);
    steme_buf buf = STEME_BUF_INIT;
    steme_assertion got;
    assert_int_equal(steme_db_get_assertion(db, &h, &buf, &got), STEME_OK);
    assert_int_equal(got.subject_len, 7);
    assert_memory_equal(got.subject, "aspirin", 7);
    assert_true(steme_value_equal(&got.object, &a.object));
    assert_int_equal(steme_assertion_verify(&got, NULL), STEME_OK);
    steme_db_close(db);

    db = open_db(f->dir); /* durable across close/reopen */
    assert_int_equal(steme_db_get_assertion(db, &h, &buf, &got), STEME_OK);
    steme_hash missing = {{1, 2, 3}};
    assert_int_equal(steme_db_get_assertion(db, &missing, &buf, &got), STEME_E_NOTFOUND);
    assert_non_null(strstr(steme_db_errmsg(db), "no assertion"));
    steme_buf_free(&buf);
    steme_db_close(db);
}

static void bad_input_changes_nothing(void **state)
{
    fixture *f = *state;
    steme_db *db = open_db(f->dir);
    steme_assertion a = make(f, "aspirin", "dose", 2);
    steme_hash h;
    a.confidence = 0.6; /* signature no longer matches */
    assert_int_equal(steme_db_put_assertion(db, &a, &h, NULL), STEME_E_BAD_SIGNATURE);
    steme_buf buf = STEME_BUF_INIT;
    steme_assertion got;
    assert_int_equal(steme_assertion_hash(&a, &h, NULL), STEME_OK);
    assert_int_equal(steme_db_get_assertion(db, &h, &buf, &got), STEME_E_NOTFOUND);

    steme_assertion b = make(f, "aspirin", "dose", 3);
    b.subject_len = 0;
    assert_int_not_equal(steme_db_put_assertion(db, &b, &h, NULL), STEME_OK);
    b = make(f, "aspirin", "dose", 3);
    b.has_signature = false;
    b.confidence = 1.5;
    assert_int_equal(steme_db_put_assertion(db, &b, &h, NULL), STEME_E_INVALID);
    assert_non_null(strstr(steme_db_errmsg(db), "confidence"));
    assert_int_equal(steme_db_put_assertion(db, NULL, &h, NULL), STEME_E_INVALID);
    assert_int_equal(steme_db_put_assertion(NULL, &b, &h, NULL), STEME_E_INVALID);
    assert_int_equal(steme_db_get_assertion(db, NULL, &buf, &got), STEME_E_INVALID);
    steme_list_cursor cur = {0};
    size_t n = 99;
    assert_int_equal(steme_db_list_assertions(db, "aspirin", 7, NULL, 0, 0, &cur, NULL, NULL, &n),
                     STEME_E_INVALID);
    steme_db *none = NULL;
    assert_int_equal(steme_db_open(NULL, NULL, &none, NULL), STEME_E_INVALID);
    steme_db_options o;
    steme_db_options_init(&o);
    o.create_if_missing = 0;
    char *missing = tu_tempdir("db-missing");
    steme_error e;
    assert_int_equal(steme_db_open(missing, &o, &none, &e), STEME_E_NOTFOUND);
    assert_null(none);
    tu_rmtree_free(missing);
    uint64_t checked = 9, damaged = 9;
    assert_int_equal(steme_db_verify(db, &checked, &damaged, NULL, NULL), STEME_OK);
    assert_int_equal(checked, 0);
    steme_buf_free(&buf);
    steme_db_close(db);
}

typedef struct collect {
    size_t n;
    uint64_t ts[128];
} collect;

static int collect_fn(void *ctx, const steme_hash *h, const steme_assertion *a)
{
    (void)h;
    collect *c = ctx;
    c->ts[c->n++] = a->timestamp;
    return 0;
}

static void list_newest_first_paged(void **state)
{
    fixture *f = *state;
    steme_db *db = open_db(f->dir);
    for (int i = 0; i < 40; i++) {
        steme_assertion a = make(f, "aspirin", i % 2 ? "dose" : "class", i);
        assert_int_equal(steme_db_put_assertion(db, &a, NULL, NULL), STEME_OK);
        steme_assertion other = make(f, "aspirin2", "dose", i); /* a longer subject */
        assert_int_equal(steme_db_put_assertion(db, &other, NULL, NULL), STEME_OK);
    }
    collect all = {0};
    steme_list_cursor cur = {0};
    size_t n = 0;
    assert_int_equal(steme_db_list_assertions(db, "aspirin", 7, NULL, 0, 0, &cur, collect_fn,
                                              &all, &n), STEME_OK);
    assert_int_equal(n, 40);
    for (size_t i = 1; i < all.n; i++)
        assert_true(all.ts[i - 1] > all.ts[i]);
    /* by predicate, in pages of 7 */
    collect paged = {0};
    memset(&cur, 0, sizeof cur);
    for (int pages = 0; pages < 10; pages++) {
        assert_int_equal(steme_db_list_assertions(db, "aspirin", 7, "dose", 4, 7, &cur,
                                                  collect_fn, &paged, &n), STEME_OK);
        if (n == 0)
            break;
    }
    assert_int_equal(paged.n, 20);
    for (size_t i = 0; i < paged.n; i++)
        assert_int_equal(paged.ts[i], 1700000000000ull + (uint64_t)(39 - 2 * i) * 1000u);
    uint64_t checked = 0, damaged = 9;
    assert_int_equal(steme_db_verify(db, &checked, &damaged, NULL, NULL), STEME_OK);
    assert_int_equal(checked, 80);
    assert_int_equal(damaged, 0);
    steme_db_close(db);
}

static void verify_detects_damage(void **state)
{
    fixture *f = *state;
    steme_db *db = open_db(f->dir);
    steme_assertion a = make(f, "aspirin", "dose", 5);
    steme_hash h;
    assert_int_equal(steme_db_put_assertion(db, &a, &h, NULL), STEME_OK);
    steme_assertion b = make(f, "aspirin", "dose", 6);
    assert_int_equal(steme_db_put_assertion(db, &b, NULL, NULL), STEME_OK);
    steme_db_close(db);

    /* overwrite the stored assertion with another valid one: wrong hash */
    char *kvdir = malloc(strlen(f->dir) + 8);
    sprintf(kvdir, "%s/kv", f->dir);
    steme_kv *kv;
    assert_int_equal(steme_kv_open(STEME_KV_HYBRID, kvdir, NULL, &kv, NULL), STEME_OK);
    steme_key k = {0};
    k.family = STEME_FAM_ASSERTION;
    k.subject = "aspirin";
    k.subject_len = 7;
    k.hash = h;
    uint8_t key[STEME_KEY_MAX], enc[4096];
    size_t klen, elen;
    assert_int_equal(steme_key_encode(&k, key, sizeof key, &klen, NULL), STEME_OK);
    assert_int_equal(steme_assertion_encode(&b, enc, sizeof enc, &elen, NULL), STEME_OK);
    assert_int_equal(steme_kv_put(kv, key, klen, enc, elen, 0), STEME_OK);
    steme_kv_close(kv);
    free(kvdir);

    db = open_db(f->dir);
    uint64_t checked = 0, damaged = 0;
    assert_int_equal(steme_db_verify(db, &checked, &damaged, NULL, NULL), STEME_E_CORRUPT);
    assert_int_equal(checked, 2);
    assert_int_equal(damaged, 1);
    steme_buf buf = STEME_BUF_INIT;
    steme_assertion got;
    assert_int_equal(steme_db_get_assertion(db, &h, &buf, &got), STEME_E_CORRUPT);
    steme_buf_free(&buf);
    steme_db_close(db);
}

/* Crash: a child writes assertions and records each acknowledged one in
 * shared memory; it is killed at a random moment; every acknowledged
 * assertion must be readable and intact after reopen. */
#define CRASH_MAX 4096
typedef struct shared {
    volatile uint64_t acked;
} shared;

static void crash_recovery(void **state)
{
    fixture *f = *state;
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(sh != MAP_FAILED);
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(42));
    uint64_t next = 0;
    for (int trial = 0; trial < 12; trial++) {
        sh->acked = next;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            steme_db *db = NULL;
            if (steme_db_open(f->dir, NULL, &db, NULL) != STEME_OK)
                _exit(3);
            for (uint64_t i = next; i < CRASH_MAX; i++) {
                steme_assertion a = make(f, "crash", "n", (int)i);
                if (steme_db_put_assertion(db, &a, NULL, NULL) != STEME_OK)
                    _exit(4);
                __atomic_store_n(&sh->acked, i + 1, __ATOMIC_SEQ_CST);
            }
            _exit(0);
        }
        struct timespec d = {0, (long)(tu_rng_below(&rng, 30) + 1) * 1000000L};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
        next = sh->acked;
        steme_db *db = open_db(f->dir);
        steme_buf buf = STEME_BUF_INIT;
        for (uint64_t i = 0; i < next; i++) {
            steme_assertion a = make(f, "crash", "n", (int)i), got;
            steme_hash h;
            assert_int_equal(steme_assertion_hash(&a, &h, NULL), STEME_OK);
            int rc = steme_db_get_assertion(db, &h, &buf, &got);
            if (rc != STEME_OK)
                fail_msg("trial %d: acknowledged assertion %llu lost (%s)", trial,
                         (unsigned long long)i, steme_db_errmsg(db));
        }
        uint64_t damaged = 1;
        assert_int_equal(steme_db_verify(db, NULL, &damaged, NULL, NULL), STEME_OK);
        steme_buf_free(&buf);
        steme_db_close(db);
        if (next >= CRASH_MAX)
            break;
    }
    munmap(sh, sizeof *sh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(put_get_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_input_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(list_newest_first_paged, setup, teardown),
        cmocka_unit_test_setup_teardown(verify_detects_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_recovery, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
