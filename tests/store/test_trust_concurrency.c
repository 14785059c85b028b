/* test_trust_concurrency.c - TrustRank under many threads (no outcome is
 * lost, also with decays running at the same time) and after a process
 * ends without closing (replay of the log rebuilds every rank). */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "steme/trust.h"
#include "testutil.h"
#include "store_testlib.h"

#define THREADS 16
#define AGENTS 4
#define PER_THREAD 60

static steme_agent_id agent_n(unsigned n)
{
    steme_agent_id a;
    memset(&a, 0xC3, sizeof a);
    a.bytes[0] = (uint8_t)n;
    return a;
}

typedef struct worker {
    steme_trust *t;
    unsigned id;
    int failures;
    unsigned accurate[AGENTS];
} worker;

static void *record_many(void *arg)
{
    worker *w = arg;
    tu_rng rng;
    tu_rng_seed(&rng, 1000 + w->id);
    for (int i = 0; i < PER_THREAD; i++) {
        unsigned a = (unsigned)(i + w->id) % AGENTS;
        bool ok = tu_rng_below(&rng, 2) != 0;
        steme_agent_id ag = agent_n(a);
        if (steme_trust_record_outcome(w->t, &ag, ok, 1000 + (uint64_t)i, NULL) != STEME_OK)
            w->failures++;
        else
            w->accurate[a] += ok;
    }
    return NULL;
}

typedef struct decayer {
    steme_trust *t;
    volatile int stop;
    int failures, rounds;
} decayer;

static void *decay_loop(void *arg)
{
    decayer *d = arg;
    uint64_t now = 2000;
    while (!d->stop && d->rounds < 200) {
        if (steme_trust_decay(d->t, now++, 50.0, NULL) != STEME_OK)
            d->failures++;
        d->rounds++;
    }
    return NULL;
}

static void run_threads(steme_kv_engine engine, int with_decay)
{
    char *dir = tu_tempdir("trust-conc");
    steme_db *db = st_open_db(dir, engine);
    steme_trust *t = steme_db_trust(db);
    worker w[THREADS];
    pthread_t th[THREADS], dt;
    decayer d = {t, 0, 0, 0};
    if (with_decay)
        assert_int_equal(pthread_create(&dt, NULL, decay_loop, &d), 0);
    for (unsigned i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].t = t;
        w[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, record_many, &w[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    d.stop = 1;
    if (with_decay) {
        assert_int_equal(pthread_join(dt, NULL), 0);
        assert_int_equal(d.failures, 0);
    }
    for (unsigned a = 0; a < AGENTS; a++) {
        unsigned accurate = 0;
        for (unsigned i = 0; i < THREADS; i++) {
            assert_int_equal(w[i].failures, 0);
            accurate += w[i].accurate[a];
        }
        steme_agent_id ag = agent_n(a);
        steme_trust_rank r;
        assert_int_equal(steme_trust_get(t, &ag, &r, NULL), STEME_OK);
        assert_int_equal(r.assertions_count, THREADS * PER_THREAD / AGENTS);
        assert_int_equal(r.accuracy_count, accurate);
        assert_true(r.score >= 0.0 && r.score <= 1.0);
    }
    steme_db_close(db);
    tu_rmtree_free(dir);
}

static void outcomes_add_up(void **state)
{
    (void)state;
    run_threads(STEME_KV_HYBRID, 0);
}

static void outcomes_add_up_while_decaying(void **state)
{
    (void)state;
    run_threads(STEME_KV_MEM, 1);
}

/* A child records outcomes and decays, then ends with _exit (no close, no
 * checkpoint); the parent computes the same sequence in memory and checks
 * the reopened store against it. */
static void replay_after_exit(steme_kv_engine engine)
{
    char *dir = tu_tempdir("trust-exit");
    uint64_t seed = tu_seed(77);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        steme_db *db = NULL;
        steme_db_options o;
        steme_db_options_init(&o);
        o.engine = engine;
        if (steme_db_open(dir, &o, &db, NULL) != STEME_OK)
            _exit(3);
        steme_trust *t = steme_db_trust(db);
        tu_rng rng;
        tu_rng_seed(&rng, seed);
        for (int i = 0; i < 200; i++) {
            steme_agent_id a = agent_n((unsigned)tu_rng_below(&rng, 6));
            bool ok = tu_rng_below(&rng, 2) != 0;
            if (steme_trust_record_outcome(t, &a, ok, 100 + (uint64_t)i, NULL) != STEME_OK)
                _exit(4);
            if (i % 50 == 49 && steme_trust_decay(t, 100 + (uint64_t)i + 10, 40.0, NULL))
                _exit(5);
        }
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* the same sequence in memory */
    double score[6];
    uint64_t last[6] = {0}, n[6] = {0}, acc[6] = {0};
    for (int i = 0; i < 6; i++)
        score[i] = 0.5;
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    for (int i = 0; i < 200; i++) {
        unsigned a = (unsigned)tu_rng_below(&rng, 6);
        bool ok = tu_rng_below(&rng, 2) != 0;
        score[a] = ok ? score[a] + 0.05 : score[a] - 0.10;
        score[a] = score[a] > 1.0 ? 1.0 : score[a] < 0.0 ? 0.0 : score[a];
        n[a]++;
        acc[a] += ok;
        if (100 + (uint64_t)i > last[a]) /* a decay may have moved it past ts */
            last[a] = 100 + (uint64_t)i;
        if (i % 50 == 49) {
            uint64_t now = 100 + (uint64_t)i + 10;
            for (int j = 0; j < 6; j++)
                if (n[j] && now > last[j] && score[j] != 0.5) {
                    score[j] = 0.5 + (score[j] - 0.5) * pow(0.5, (double)(now - last[j]) / 40.0);
                    last[j] = now;
                }
        }
    }
    steme_db *db = st_open_db(dir, engine);
    for (unsigned a = 0; a < 6; a++) {
        steme_agent_id ag = agent_n(a);
        steme_trust_rank r;
        int dflt;
        assert_int_equal(steme_trust_get(steme_db_trust(db), &ag, &r, &dflt), STEME_OK);
        assert_int_equal(dflt, n[a] == 0);
        if (r.score != score[a])
            fail_msg("agent %u: store %.17g (n %llu) model %.17g (n %llu)", a, r.score, (unsigned long long)r.assertions_count, score[a], (unsigned long long)n[a]);
        assert_int_equal(r.last_updated, last[a]);
        assert_int_equal(r.assertions_count, n[a]);
        assert_int_equal(r.accuracy_count, acc[a]);
    }
    steme_db_close(db);
    tu_rmtree_free(dir);
}

static void replay_after_exit_mem(void **state)
{
    (void)state;
    replay_after_exit(STEME_KV_MEM);
}

static void replay_after_exit_hybrid(void **state)
{
    (void)state;
    replay_after_exit(STEME_KV_HYBRID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outcomes_add_up),
        cmocka_unit_test(outcomes_add_up_while_decaying),
        cmocka_unit_test(replay_after_exit_mem),
        cmocka_unit_test(replay_after_exit_hybrid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
