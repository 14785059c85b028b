/*
 * test_wal_ticket.c - the on_durable callback of ticketed appends
 * (steme_wal_append_ticket), on which the store's grouped applies rest:
 *   - every ticket reaches the callback exactly once, before its append
 *     returns, with the status the callback set returned to the caller;
 *   - calls never overlap and follow log order (offsets strictly rising
 *     across all calls), with 16 threads appending at once, ticketed and
 *     plain appends mixed;
 *   - the records are in the log after reopen;
 *   - a failed sync (poisoned handle) returns STEME_E_FATAL to every
 *     waiter and never hangs, and no ticket is touched after its append
 *     returned (ASan would catch a write to a dead stack ticket);
 *   - bad arguments are refused.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "wal_testlib.h"
#include "wal/wal_int.h"

#define THREADS 16
#define PER_THREAD 400

typedef struct arg {
    uint64_t offset;     /* the record's offset, filled before the call */
    int verdict;         /* the status the callback is to set */
    _Atomic int seen;    /* times the callback saw this ticket */
} arg;

typedef struct cb_state {
    _Atomic int inside;      /* callbacks running now */
    _Atomic int overlaps;    /* a call found another one running */
    uint64_t last_end;       /* end offset of the last ticket seen (0: none) */
    _Atomic int disorder;    /* offsets went backwards */
    _Atomic uint64_t tickets;
    _Atomic uint64_t calls;
} cb_state;

static void on_durable(void *ctx, steme_wal_ticket *t)
{
    cb_state *s = ctx;
    if (atomic_fetch_add(&s->inside, 1) != 0)
        atomic_fetch_add(&s->overlaps, 1);
    atomic_fetch_add(&s->calls, 1);
    for (; t; t = t->next) {
        arg *a = t->arg;
        /* end_ (the record's end offset, log-internal) orders every ticket;
         * a->offset, where known in advance, must be below it */
        if ((s->last_end && t->end_ <= s->last_end) ||
            (a->offset != UINT64_MAX && a->offset >= t->end_))
            atomic_fetch_add(&s->disorder, 1);
        s->last_end = t->end_;
        atomic_fetch_add(&a->seen, 1);
        t->status = a->verdict;
        atomic_fetch_add(&s->tickets, 1);
    }
    atomic_fetch_sub(&s->inside, 1);
}

typedef struct worker {
    steme_wal *w;
    int id;
    int bad;     /* assertion failures seen in the thread (cmocka is not thread-safe) */
} worker;

static void *worker_main(void *p)
{
    worker *wk = p;
    uint8_t buf[200];
    for (int i = 0; i < PER_THREAD; i++) {
        size_t len = 8 + (size_t)((wk->id * 31 + i) % 150);
        memset(buf, wk->id + 1, len);
        memcpy(buf, &i, sizeof i);
        if (i % 5 == 4) { /* plain appends mixed in */
            if (steme_wal_append(wk->w, buf, len, NULL) != STEME_OK)
                wk->bad++;
            continue;
        }
        arg a = {.offset = UINT64_MAX, .verdict = (i % 7 == 3) ? STEME_E_EXISTS : STEME_OK};
        steme_wal_ticket t = {.arg = &a};
        uint64_t off = 0;
        int rc = steme_wal_append_ticket(wk->w, buf, len, &t, &off);
        if (rc != STEME_OK || atomic_load(&a.seen) != 1 || t.status != a.verdict)
            wk->bad++;
    }
    return NULL;
}

static void test_order_once_and_status(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-ticket");
    cb_state s = {0};
    steme_wal_options o = tw_opts(1u << 20, NULL); /* small segments: rolls too */
    o.on_durable = on_durable;
    o.on_durable_ctx = &s;
    steme_wal *w = tw_open(dir, &o, NULL);
    pthread_t th[THREADS];
    worker wk[THREADS];
    for (int i = 0; i < THREADS; i++) {
        wk[i] = (worker){.w = w, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &wk[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(wk[i].bad, 0);
    }
    assert_int_equal(atomic_load(&s.overlaps), 0);
    assert_int_equal(atomic_load(&s.disorder), 0);
    uint64_t ticketed = THREADS * (PER_THREAD - PER_THREAD / 5);
    assert_int_equal(atomic_load(&s.tickets), ticketed);
    assert_true(atomic_load(&s.calls) <= ticketed); /* grouped, at most one call each */
    struct steme_wal_stats st;
    assert_int_equal(steme_wal_stats(w, &st), STEME_OK);
    assert_int_equal(st.records, (uint64_t)THREADS * PER_THREAD);
    steme_wal_close(w);

    /* every record is in the log after reopen */
    w = tw_open(dir, &o, NULL);
    steme_wal_cursor *c;
    assert_int_equal(steme_wal_cursor_open(w, 0, &c), STEME_OK);
    const uint8_t *p;
    size_t len;
    uint64_t n = 0;
    while (steme_wal_cursor_next(c, &p, &len, NULL) == STEME_OK)
        n++;
    assert_int_equal(n, (uint64_t)THREADS * PER_THREAD);
    steme_wal_cursor_close(c);
    steme_wal_close(w);
    tu_rmtree_free(dir);
}

/* Offsets in callback order are strictly rising: one thread, offsets known
 * before the call because nothing else appends. */
static void test_callback_sees_log_order(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-ticket-order");
    cb_state s = {0};
    steme_wal_options o = tw_opts(0, NULL);
    o.on_durable = on_durable;
    o.on_durable_ctx = &s;
    steme_wal *w = tw_open(dir, &o, NULL);
    uint8_t buf[64] = {1};
    for (int i = 0; i < 200; i++) {
        arg a = {.offset = steme_wal_end_offset(w), .verdict = STEME_OK};
        steme_wal_ticket t = {.arg = &a};
        uint64_t off;
        assert_int_equal(steme_wal_append_ticket(w, buf, 1 + (size_t)i % 60, &t, &off),
                         STEME_OK);
        assert_int_equal(off, a.offset);
        assert_int_equal(atomic_load(&a.seen), 1);
    }
    assert_int_equal(atomic_load(&s.disorder), 0);
    steme_wal_close(w);
    tu_rmtree_free(dir);
}

static _Atomic int sync_fail;
static int failing_fdatasync(int fd)
{
    if (atomic_load(&sync_fail)) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static void *poison_worker(void *p)
{
    worker *wk = p;
    uint8_t buf[32] = {2};
    for (int i = 0; i < 200; i++) {
        arg a = {.offset = UINT64_MAX, .verdict = STEME_OK};
        steme_wal_ticket t = {.arg = &a};
        int rc = steme_wal_append_ticket(wk->w, buf, sizeof buf, &t, NULL);
        if (rc == STEME_E_FATAL)
            return NULL;      /* the ticket dies here: the log must let go of it */
        if (rc != STEME_OK)
            wk->bad++;
    }
    return NULL;
}

static void test_poison_releases_every_waiter(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-ticket-poison");
    cb_state s = {0};
    tw_log log = {0};
    steme_wal_options o = tw_opts(0, &log);
    o.on_durable = on_durable;
    o.on_durable_ctx = &s;
    steme_wal *w = tw_open(dir, &o, NULL);
    wal_io io;
    wal_io_default(&io);
    io.io_fdatasync = failing_fdatasync;
    wal_test_set_io(w, &io);
    pthread_t th[8];
    worker wk[8];
    for (int i = 0; i < 8; i++) {
        wk[i] = (worker){.w = w, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, poison_worker, &wk[i]), 0);
    }
    usleep(20000);
    atomic_store(&sync_fail, 1);
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(wk[i].bad, 0);
    }
    uint8_t one = 1;
    steme_wal_ticket t = {.arg = &(arg){.offset = UINT64_MAX}};
    assert_int_equal(steme_wal_append_ticket(w, &one, 1, &t, NULL), STEME_E_FATAL);
    atomic_store(&sync_fail, 0);
    steme_wal_close(w);
    tu_rmtree_free(dir);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-ticket-bad");
    steme_wal_options o = tw_opts(0, NULL); /* no callback */
    steme_wal *w = tw_open(dir, &o, NULL);
    uint8_t b = 1;
    steme_wal_ticket t = {0};
    assert_int_equal(steme_wal_append_ticket(w, &b, 1, &t, NULL), STEME_E_INVALID);
    assert_non_null(strstr(steme_wal_errmsg(w), "on_durable"));
    assert_int_equal(steme_wal_append_ticket(w, &b, 1, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_wal_append_ticket(NULL, &b, 1, &t, NULL), STEME_E_INVALID);
    struct steme_wal_stats st;
    assert_int_equal(steme_wal_stats(w, &st), STEME_OK);
    assert_int_equal(st.records, 0); /* nothing appended */
    steme_wal_close(w);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_once_and_status),
        cmocka_unit_test(test_callback_sees_log_order),
        cmocka_unit_test(test_poison_releases_every_waiter),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
