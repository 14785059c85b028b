/* test_votes_concurrency.c - 64 threads vote on 1,000 assertions with
 * re-votes (voters shared between threads, so one (assertion, voter) pair is
 * written from several threads), while readers read the totals; afterwards
 * every count and weight cache equals its recount. Each writer also owns
 * one assertion no one else votes on, and reads its totals right after
 * every acknowledged vote: they must equal its own model exactly (a stale
 * read cache would fail this). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/db.h"
#include "steme/votes.h"
#include "testutil.h"

#define WRITERS 64
#define READERS 2
#define ASSERTIONS 1000
#define VOTERS 40
#ifdef STEME_SANITIZED
#define VOTES_PER_WRITER 60
#else
#define VOTES_PER_WRITER 150
#endif
#define OWN_VOTERS 4

typedef struct shared {
    steme_db *db;
    steme_hash h[ASSERTIONS + WRITERS];     /* the last WRITERS are owned, one each */
    _Atomic uint8_t voted[ASSERTIONS][VOTERS];
    atomic_int stop;
    atomic_int failures;
    char why[256];
    uint64_t seed;
} shared;

typedef struct worker {
    shared *sh;
    int id;
    int owned_puts;
} worker;

static void failed(shared *sh, const char *what, int rc)
{
    if (atomic_fetch_add(&sh->failures, 1) == 0)
        snprintf(sh->why, sizeof sh->why, "%s: %s (%s)", what, steme_errname(rc),
                 steme_db_errmsg(sh->db));
}

static steme_agent_id voter_id(unsigned n)
{
    steme_agent_id id;
    memset(&id, 0, sizeof id);
    id.bytes[0] = (uint8_t)(n >> 8);
    id.bytes[1] = (uint8_t)n;
    id.bytes[2] = 0xc3;
    return id;
}

static double weight_of(tu_rng *r)
{
    return ((double)(tu_rng_next(r) >> 11) * 0x1p-53) * 2.0 - 1.0;
}

static void *writer_main(void *p)
{
    worker *wk = p;
    shared *sh = wk->sh;
    steme_votes *vs = steme_db_votes(sh->db);
    tu_rng r;
    tu_rng_seed(&r, sh->seed * 1000 + (uint64_t)wk->id);
    const steme_hash *own = &sh->h[ASSERTIONS + wk->id];
    int own_has[OWN_VOTERS] = {0};
    int64_t own_w[OWN_VOTERS] = {0};
    for (int i = 0; i < VOTES_PER_WRITER && !atomic_load(&sh->failures); i++) {
        steme_vote v;
        memset(&v, 0, sizeof v);
        v.timestamp = 1 + (uint64_t)i;
        v.weight = weight_of(&r);
        if (i % 4 == 3) { /* on the thread's own assertion */
            int k = (int)tu_rng_below(&r, OWN_VOTERS);
            v.assertion = *own;
            v.voter = voter_id(1000 + (unsigned)k);
            int rc = steme_votes_put(vs, &v, NULL);
            if (rc != STEME_OK) {
                failed(sh, "put (own)", rc);
                break;
            }
            own_has[k] = 1;
            own_w[k] = steme_vote_weight_fixed(v.weight);
            uint64_t n = 0, want_n = 0;
            int64_t w = 0, want_w = 0;
            for (int j = 0; j < OWN_VOTERS; j++) {
                want_n += (uint64_t)own_has[j];
                want_w += own_w[j];
            }
            rc = steme_votes_totals(vs, own, &n, &w);
            if (rc != STEME_OK || n != want_n || w != want_w) {
                failed(sh, "totals right after an acknowledged vote differ from the model", rc);
                break;
            }
            wk->owned_puts++;
            continue;
        }
        int a = (int)tu_rng_below(&r, ASSERTIONS);
        int voter = (int)tu_rng_below(&r, VOTERS);
        v.assertion = sh->h[a];
        v.voter = voter_id((unsigned)voter);
        int rc = steme_votes_put(vs, &v, NULL);
        if (rc != STEME_OK) {
            failed(sh, "put", rc);
            break;
        }
        atomic_store(&sh->voted[a][voter], 1);
    }
    return NULL;
}

static void *reader_main(void *p)
{
    worker *wk = p;
    shared *sh = wk->sh;
    steme_votes *vs = steme_db_votes(sh->db);
    tu_rng r;
    tu_rng_seed(&r, sh->seed + 77 + (uint64_t)wk->id);
    while (!atomic_load(&sh->stop)) {
        int a = (int)tu_rng_below(&r, ASSERTIONS + WRITERS);
        uint64_t n;
        double w;
        int rc = steme_votes_count(vs, &sh->h[a], &n);
        if (rc == STEME_OK)
            rc = steme_votes_weight(vs, &sh->h[a], &w);
        if (rc != STEME_OK) {
            failed(sh, "read", rc);
            break;
        }
    }
    return NULL;
}

static void *make_assertions(void *p)
{
    worker *wk = p;
    shared *sh = wk->sh;
    for (int i = wk->id; i < ASSERTIONS + WRITERS; i += 8) {
        char subject[32], text[32];
        snprintf(subject, sizeof subject, "topic-%d", i % 97);
        snprintf(text, sizeof text, "v%d", i);
        steme_assertion a;
        memset(&a, 0, sizeof a);
        a.subject = subject;
        a.subject_len = strlen(subject);
        a.predicate = "p";
        a.predicate_len = 1;
        a.object = steme_value_string(text, strlen(text));
        a.confidence = 0.5;
        a.source_kind = STEME_SOURCE_AGENT;
        a.timestamp = 1700000000000ull + (uint64_t)i;
        int rc = steme_db_put_assertion(sh->db, &a, &sh->h[i], NULL);
        if (rc != STEME_OK) {
            failed(sh, "put assertion", rc);
            break;
        }
    }
    return NULL;
}

static void run_threads(shared *sh, void *(*fn)(void *), int n, worker *wk, pthread_t *t)
{
    for (int i = 0; i < n; i++) {
        wk[i].sh = sh;
        wk[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, fn, &wk[i]), 0);
    }
}

static void join_threads(int n, pthread_t *t)
{
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

/* Every cache equals its recount; counts equal the pairs voted on. */
static void check_all(shared *sh, int check_pairs)
{
    steme_votes *vs = steme_db_votes(sh->db);
    for (int a = 0; a < ASSERTIONS + WRITERS; a++) {
        uint64_t n = 0, rn = 0;
        int64_t w = 0, rw = 0;
        assert_int_equal(steme_votes_totals(vs, &sh->h[a], &n, &w), STEME_OK);
        assert_int_equal(steme_votes_recount(vs, &sh->h[a], &rn, &rw), STEME_OK);
        if (n != rn || w != rw)
            fail_msg("assertion %d: cache (%llu, %lld) != recount (%llu, %lld)", a,
                     (unsigned long long)n, (long long)w, (unsigned long long)rn, (long long)rw);
        if (check_pairs && a < ASSERTIONS) {
            uint64_t pairs = 0;
            for (int v = 0; v < VOTERS; v++)
                pairs += atomic_load(&sh->voted[a][v]);
            assert_int_equal(n, pairs);
        }
    }
}

static void many_threads_vote(void **state)
{
    (void)state;
    char *dir = tu_tempdir("votes-conc");
    shared *sh = calloc(1, sizeof *sh);
    sh->seed = tu_seed(31337);
    steme_error e;
    assert_int_equal(steme_db_open(dir, NULL, &sh->db, &e), STEME_OK);

    worker mk[8];
    pthread_t mt[8];
    run_threads(sh, make_assertions, 8, mk, mt);
    join_threads(8, mt);
    assert_int_equal(atomic_load(&sh->failures), 0);

    worker *wk = calloc(WRITERS + READERS, sizeof *wk);
    pthread_t *t = calloc(WRITERS + READERS, sizeof *t);
    run_threads(sh, reader_main, READERS, wk + WRITERS, t + WRITERS);
    run_threads(sh, writer_main, WRITERS, wk, t);
    join_threads(WRITERS, t);
    atomic_store(&sh->stop, 1);
    join_threads(READERS, t + WRITERS);
    if (atomic_load(&sh->failures))
        fail_msg("%s", sh->why);
    check_all(sh, 1);

    /* and again from the engines alone, after a reopen (empty read cache) */
    steme_db_close(sh->db);
    assert_int_equal(steme_db_open(dir, NULL, &sh->db, &e), STEME_OK);
    check_all(sh, 1);
    steme_db_close(sh->db);
    free(wk);
    free(t);
    free(sh);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_threads_vote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
