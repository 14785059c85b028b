/*
 * test_wal_crash.c - kill -9 trials. A child appends from 8 threads and,
 * after each acknowledged append, writes the record's offset into a
 * MAP_SHARED anonymous map that outlives it. The parent SIGKILLs the child
 * at a random moment (a random delay of 0-20 ms, or after a random number
 * of acks), reopens the log and checks:
 *   - every acknowledged record is present at its offset, intact;
 *   - every record recovered is complete and valid (the cursor checks both
 *     checksums; the payload's self-check pattern is verified too);
 *   - each thread's records form 0..k-1 with no hole, k >= its acks.
 * Segment sizes and flusher counts vary so kills land on segment rolls.
 * STEME_WAL_CRASH_TRIALS overrides the trial count (default 200).
 */
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#include "wal_testlib.h"

#define THREADS 8
#define MAXSEQ 16384

typedef struct shared {
    _Atomic uint64_t acked[THREADS][MAXSEQ];  /* offset + 1 once acked */
    _Atomic uint32_t count[THREADS];          /* acks so far */
    _Atomic int ready;
} shared;

typedef struct child_arg {
    steme_wal *w;
    shared *sh;
    int t;
} child_arg;

/* Payload of (thread, seq): header words then a pattern both determine. */
static size_t make_payload(uint8_t *buf, uint32_t t, uint32_t seq)
{
    uint32_t len = 12 + (t * 7919u + seq * 104729u) % 300u;
    memcpy(buf, &t, 4);
    memcpy(buf + 4, &seq, 4);
    memcpy(buf + 8, &len, 4);
    for (uint32_t i = 12; i < len; i++)
        buf[i] = (uint8_t)(t * 131u + seq * 31u + i);
    return len;
}

static void *child_thread(void *p)
{
    child_arg *a = p;
    uint8_t buf[320];
    for (uint32_t seq = 0; seq < MAXSEQ; seq++) {
        size_t len = make_payload(buf, (uint32_t)a->t, seq);
        uint64_t off;
        if (steme_wal_append(a->w, buf, len, &off) != STEME_OK)
            _exit(3);
        atomic_store(&a->sh->acked[a->t][seq], off + 1);
        atomic_store(&a->sh->count[a->t], seq + 1);
    }
    return NULL;
}

static void child_main(const char *dir, const steme_wal_options *o, shared *sh)
{
    steme_wal *w = NULL;
    steme_error e;
    if (steme_wal_open(dir, o, &w, NULL, &e) != STEME_OK)
        _exit(2);
    atomic_store(&sh->ready, 1);
    pthread_t t[THREADS];
    child_arg a[THREADS];
    for (int i = 0; i < THREADS; i++) {
        a[i] = (child_arg){ w, sh, i };
        pthread_create(&t[i], NULL, child_thread, &a[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (;;)
        pause();    /* wait for the kill */
}

static uint64_t total_acks(shared *sh)
{
    uint64_t n = 0;
    for (int t = 0; t < THREADS; t++)
        n += atomic_load(&sh->count[t]);
    return n;
}

static void verify(const char *dir, const steme_wal_options *o, shared *sh, int trial)
{
    tw_log log = { 0 };
    steme_wal_options vo = *o;
    vo.log = tw_log_cb;
    vo.log_ctx = &log;
    steme_wal_recovery rec;
    steme_wal *w = tw_open(dir, &vo, &rec);
    static uint32_t found[THREADS][MAXSEQ];   /* 1 + index of the hit */
    memset(found, 0, sizeof found);
    steme_wal_cursor *c;
    assert_int_equal(steme_wal_cursor_open(w, rec.first_offset, &c), STEME_OK);
    const uint8_t *p;
    size_t len;
    uint64_t off, nrec = 0;
    int rc;
    uint8_t want[320];
    while ((rc = steme_wal_cursor_next(c, &p, &len, &off)) == STEME_OK) {
        uint32_t t, seq;
        assert_true(len >= 12);
        memcpy(&t, p, 4);
        memcpy(&seq, p + 4, 4);
        assert_true(t < THREADS && seq < MAXSEQ);
        size_t wl = make_payload(want, t, seq);
        assert_int_equal(len, wl);
        assert_memory_equal(p, want, len);
        assert_int_equal(found[t][seq], 0);    /* no duplicate */
        found[t][seq] = 1;
        uint64_t ack = atomic_load(&sh->acked[t][seq]);
        if (ack)
            assert_int_equal(ack - 1, off);
        nrec++;
    }
    if (rc != STEME_E_END)
        fprintf(stderr, "trial %d: cursor: %s\n", trial, steme_wal_errmsg(w));
    assert_int_equal(rc, STEME_E_END);
    assert_int_equal(nrec, rec.records);
    for (int t = 0; t < THREADS; t++) {
        uint32_t acks = atomic_load(&sh->count[t]), k = 0;
        while (k < MAXSEQ && found[t][k])
            k++;
        for (uint32_t s = k; s < MAXSEQ; s++)
            assert_int_equal(found[t][s], 0);  /* no hole */
        if (k < acks)
            fprintf(stderr, "trial %d: thread %d: %u acked, %u recovered\n", trial, t, acks, k);
        assert_true(k >= acks);                /* every ack survived */
        assert_true(k <= acks + 1);            /* at most the one in flight */
    }
    steme_wal_cursor_close(c);
    /* The recovered log takes appends again. */
    assert_int_equal(steme_wal_append(w, "after", 5, &off), STEME_OK);
    assert_int_equal(off, rec.end_offset);
    steme_wal_close(w);
}

static void test_crash_trials(void **state)
{
    (void)state;
    int trials = 200;
    const char *env = getenv("STEME_WAL_CRASH_TRIALS");
    if (env && atoi(env) > 0)
        trials = atoi(env);
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(2024));
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                      -1, 0);
    assert_true(sh != MAP_FAILED);
    static const uint64_t seg_sizes[] = { 4096, 8192, 65536, 1 << 20 };
    uint64_t total = 0;
    for (int trial = 0; trial < trials; trial++) {
        memset(sh, 0, sizeof *sh);
        char *dir = tu_tempdir("wal-crash");
        steme_wal_options o;
        steme_wal_options_init(&o);
        o.segment_bytes = seg_sizes[tu_rng_below(&rng, 4)];
        o.flushers = 1 + (int)tu_rng_below(&rng, 3);
        o.syncs_in_flight = 1 + (int)tu_rng_below(&rng, 3);
        o.preallocate = (steme_wal_prealloc)tu_rng_below(&rng, 3);   /* NONE, FALLOCATE, ZERO */
        o.log = tw_log_cb;          /* keep the child quiet */
        static tw_log child_log;
        o.log_ctx = &child_log;
        int by_acks = (int)tu_rng_below(&rng, 2);
        uint64_t delay_us = tu_rng_below(&rng, 20001);
        uint64_t ack_goal = 1 + tu_rng_below(&rng, 1500);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            child_main(dir, &o, sh);
        if (by_acks) {
            /* Poll until enough acks (or 2 s, should the child be slow). */
            for (int i = 0; i < 20000 && total_acks(sh) < ack_goal; i++)
                usleep(100);
        } else {
            usleep((useconds_t)delay_us);
        }
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status));      /* the child never failed on its own */
        total += total_acks(sh);
        verify(dir, &o, sh, trial);
        tu_rmtree_free(dir);
    }
    fprintf(stderr, "# %d crash trials, %llu acknowledged appends checked\n", trials,
            (unsigned long long)total);
    munmap(sh, sizeof *sh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_trials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
