/* test_votes_crash.c - kill -9 during 8-thread voting, many trials.
 *
 * A child process votes from 8 threads; thread t is voter t and walks its
 * own sequence s = 0, 1, 2, ...: vote s is on assertion s % A with a weight
 * and timestamp derived from s, so every (assertion, voter) pair belongs to
 * one thread, which re-votes on it every A steps. Before each put the
 * thread records s in shared memory (started), after the acknowledgement
 * it records s as the pair's last acknowledged vote. The parent kills the
 * child at a random moment, reopens the database (replaying the log) and
 * checks, for every pair: the stored vote is the last acknowledged one, or
 * the one its thread had in flight (the log may hold it); a pair with no
 * acknowledged vote may also be empty. And every count and weight cache
 * equals its recount. The next trial resumes each thread after its last
 * acknowledged vote. Checkpoints run during the voting (small threshold),
 * so replay starts from a moving cursor. One trial in four kills at a
 * random moment from the fork (open and replay included); the others wait
 * for the child's first acknowledged vote and then kill at a random moment,
 * so every run kills during voting however slow the machine (no timing is
 * assumed: a loaded machine under ASan may take longer to open than the
 * random delay). */
#include <pthread.h>
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
#include "steme/votes.h"
#include "testutil.h"

#define THREADS 8
#define A 24
#define TRIALS 30

typedef struct crash_shared {
    volatile uint64_t started[THREADS];     /* 1 + seq being put, 0 = none yet */
    volatile uint64_t acked[THREADS][A];    /* 1 + last acknowledged seq on the pair */
    volatile uint64_t next[THREADS];        /* where the thread resumes */
} crash_shared;

typedef struct child_ctx {
    steme_db *db;
    crash_shared *sh;
    steme_hash *h;
    int t;
} child_ctx;

static steme_agent_id voter_id(int t)
{
    steme_agent_id id;
    memset(&id, 0x11, sizeof id);
    id.bytes[0] = (uint8_t)t;
    return id;
}

static double weight_of(int t, uint64_t s)
{
    return (double)((int64_t)((s * 7919u + (uint64_t)t * 31u) % 2001u) - 1000) / 1000.0;
}

static void *child_thread(void *p)
{
    child_ctx *c = p;
    steme_votes *vs = steme_db_votes(c->db);
    for (uint64_t s = c->sh->next[c->t];; s++) {
        steme_vote v;
        memset(&v, 0, sizeof v);
        v.assertion = c->h[s % A];
        v.voter = voter_id(c->t);
        v.weight = weight_of(c->t, s);
        v.timestamp = s + 1;
        __atomic_store_n(&c->sh->started[c->t], s + 1, __ATOMIC_SEQ_CST);
        if (steme_votes_put(vs, &v, NULL) != STEME_OK)
            _exit(5);
        __atomic_store_n(&c->sh->acked[c->t][s % A], s + 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&c->sh->next[c->t], s + 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static steme_db *open_db(const char *dir)
{
    steme_db_options o;
    steme_db_options_init(&o);
    o.checkpoint_bytes = 64u << 10; /* checkpoints while voting */
    steme_db *db = NULL;
    if (steme_db_open(dir, &o, &db, NULL) != STEME_OK)
        return NULL;
    return db;
}

static void child_main(const char *dir, crash_shared *sh, steme_hash *h)
{
    steme_db *db = open_db(dir);
    if (!db)
        _exit(3);
    child_ctx c[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        c[i] = (child_ctx){db, sh, h, i};
        if (pthread_create(&t[i], NULL, child_thread, &c[i]) != 0)
            _exit(4);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    _exit(0);
}

static void check_after_crash(const char *dir, crash_shared *sh, steme_hash *h, int trial)
{
    steme_db *db = open_db(dir);
    if (!db)
        fail_msg("trial %d: reopen failed", trial);
    steme_votes *vs = steme_db_votes(db);
    steme_buf buf = STEME_BUF_INIT;
    for (int a = 0; a < A; a++) {
        uint64_t present = 0;
        for (int t = 0; t < THREADS; t++) {
            steme_agent_id voter = voter_id(t);
            steme_vote got;
            uint64_t acked = sh->acked[t][a], started = sh->started[t];
            int inflight_here = started > 0 && (started - 1) % A == (uint64_t)a;
            int rc = steme_votes_get(vs, &h[a], &voter, &buf, &got);
            if (rc == STEME_E_NOTFOUND) {
                if (acked)
                    fail_msg("trial %d: acknowledged vote %llu of thread %d on %d lost", trial,
                             (unsigned long long)(acked - 1), t, a);
                continue;
            }
            assert_int_equal(rc, STEME_OK);
            present++;
            uint64_t s = got.timestamp - 1;
            if (!(acked && s == acked - 1) && !(inflight_here && s == started - 1))
                fail_msg("trial %d: thread %d on %d holds vote %llu; acked %llu, in flight %llu",
                         trial, t, a, (unsigned long long)s, (unsigned long long)acked,
                         (unsigned long long)started);
            assert_true(got.weight == weight_of(t, s));
        }
        uint64_t n = 0, rn = 0;
        int64_t w = 0, rw = 0;
        assert_int_equal(steme_votes_totals(vs, &h[a], &n, &w), STEME_OK);
        assert_int_equal(steme_votes_recount(vs, &h[a], &rn, &rw), STEME_OK);
        if (n != rn || w != rw || n != present)
            fail_msg("trial %d, assertion %d: cache (%llu, %lld), recount (%llu, %lld), "
                     "%llu votes present", trial, a, (unsigned long long)n, (long long)w,
                     (unsigned long long)rn, (long long)rw, (unsigned long long)present);
    }
    steme_buf_free(&buf);
    steme_db_close(db);
}

static uint64_t acked_total(crash_shared *sh)
{
    uint64_t n = 0;
    for (int t = 0; t < THREADS; t++)
        n += __atomic_load_n(&sh->next[t], __ATOMIC_SEQ_CST);
    return n;
}

static void kill_during_voting(void **state)
{
    (void)state;
    char *dir = tu_tempdir("votes-crash");
    crash_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                            -1, 0);
    assert_true(sh != MAP_FAILED);
    memset((void *)sh, 0, sizeof *sh);
    steme_hash h[A];
    steme_db *db = open_db(dir);
    assert_non_null(db);
    for (int i = 0; i < A; i++) {
        char text[16];
        snprintf(text, sizeof text, "v%d", i);
        steme_assertion a;
        memset(&a, 0, sizeof a);
        a.subject = i % 2 ? "crash-odd" : "crash-even";
        a.subject_len = strlen(a.subject);
        a.predicate = "p";
        a.predicate_len = 1;
        a.object = steme_value_string(text, strlen(text));
        a.confidence = 0.5;
        a.source_kind = STEME_SOURCE_AGENT;
        a.timestamp = 1700000000000ull + (uint64_t)i;
        assert_int_equal(steme_db_put_assertion(db, &a, &h[i], NULL), STEME_OK);
    }
    steme_db_close(db);

    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(4242));
    uint64_t total_acked = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            child_main(dir, sh, h);
        if (trial % 4 != 0) {
            uint64_t before = acked_total(sh);
            int status;
            while (acked_total(sh) == before && waitpid(pid, &status, WNOHANG) == 0) {
                struct timespec poll = {0, 1000000L};
                nanosleep(&poll, NULL);
            }
        }
        struct timespec d = {0, (long)(tu_rng_below(&rng, 120) + 10) * 1000000L};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (!WIFSIGNALED(status))
            fail_msg("trial %d: the child exited with %d", trial,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        check_after_crash(dir, sh, h, trial);
    }
    for (int t = 0; t < THREADS; t++)
        total_acked += sh->next[t];
    print_message("%llu votes acknowledged over %d kills\n", (unsigned long long)total_acked,
                  TRIALS);
    assert_true(total_acked > 0);
    munmap((void *)sh, sizeof *sh);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill_during_voting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
