/*
 * tests/wal/test_wal_poison.c - a failed write or fdatasync poisons the
 * handle: the appends it covered and every later append return
 * STEME_E_FATAL (the kernel may have dropped the dirty pages, so a retry
 * could claim durability falsely), waiters never hang, records acknowledged
 * before the failure survive a reopen.
 *
 * Failures are injected through the flushers' I/O indirection (wal_io,
 * src/wal/wal_file.c), so the real file stays intact and recovery can be
 * checked afterwards.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "wal_testlib.h"
#include "wal/wal_int.h"

/* Injection state: test-only statics, one test runs at a time. */
static _Atomic int fail_after;      /* calls to let through before failing; -1 never */
static _Atomic int partial_first;   /* pwritev: write half, then fail */

static int take_call(void)
{
    int left = atomic_load(&fail_after);
    while (left > 0 && !atomic_compare_exchange_weak(&fail_after, &left, left - 1))
        ;
    return left == 0;   /* this call fails */
}

static int bad_fdatasync(int fd)
{
    if (take_call()) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static ssize_t bad_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    if (!take_call())
        return pwritev(fd, iov, cnt, off);
    if (atomic_exchange(&partial_first, 0) && iov[0].iov_len > 1)
        return pwrite(fd, iov[0].iov_base, iov[0].iov_len / 2, off);   /* short write */
    errno = EIO;
    return -1;
}

static void set_failing(steme_wal *w, int which, int after)
{
    wal_io io;
    wal_io_default(&io);
    if (which == 0)
        io.io_fdatasync = bad_fdatasync;
    else
        io.io_pwritev = bad_pwritev;
    atomic_store(&fail_after, after);
    wal_test_set_io(w, &io);
}

static void restore_io(steme_wal *w)
{
    wal_io io;
    wal_io_default(&io);
    wal_test_set_io(w, &io);
}

static size_t payload(uint8_t *buf, uint64_t i)
{
    size_t len = 16 + (size_t)(i % 100);
    memset(buf, (int)(i * 7 + 1), len);
    memcpy(buf, &i, sizeof i);
    return len;
}

/* Every record in offs[0..n) is readable with its payload after reopen. */
static void check_acked(const char *dir, const uint64_t *offs, uint64_t n)
{
    tw_log log = { 0 };     /* recovery may warn about a torn tail: expected */
    steme_wal_options o = tw_opts(0, &log);
    steme_wal *w = tw_open(dir, &o, NULL);
    for (uint64_t i = 0; i < n; i++) {
        if (offs[i] == UINT64_MAX)
            continue;
        steme_wal_cursor *c;
        assert_int_equal(steme_wal_cursor_open(w, offs[i], &c), STEME_OK);
        const uint8_t *p;
        size_t len;
        uint8_t want[128];
        assert_int_equal(steme_wal_cursor_next(c, &p, &len, NULL), STEME_OK);
        uint64_t id;
        memcpy(&id, p, sizeof id);
        size_t wl = payload(want, id);
        assert_int_equal(len, wl);
        assert_memory_equal(p, want, wl);
        steme_wal_cursor_close(c);
    }
    steme_wal_close(w);
}

/* One thread: fail the sync or the write (which), then check poisoning. */
static void poison_single(int which, int partial)
{
    char *dir = tu_tempdir("wal-poison");
    tw_log log = { 0 };
    steme_wal_options o = tw_opts(0, &log);
    steme_wal *w = tw_open(dir, &o, NULL);
    uint8_t buf[128];
    uint64_t offs[20];
    for (uint64_t i = 0; i < 20; i++)
        assert_int_equal(steme_wal_append(w, buf, payload(buf, i), &offs[i]), STEME_OK);
    uint64_t end = steme_wal_end_offset(w);

    atomic_store(&partial_first, partial);
    set_failing(w, which, 0);
    assert_int_equal(steme_wal_append(w, buf, payload(buf, 20), NULL), STEME_E_FATAL);
    assert_non_null(strstr(steme_wal_errmsg(w), which == 0 ? "fdatasync" : "write"));
    assert_int_equal(log.errors, 1);
    assert_non_null(strstr(log.last, "poisoned"));
    /* The durable end does not move past the failed round. */
    assert_int_equal(steme_wal_end_offset(w), end);

    /* Even with working I/O again, the handle stays poisoned. */
    restore_io(w);
    assert_int_equal(steme_wal_append(w, buf, payload(buf, 21), NULL), STEME_E_FATAL);
    assert_non_null(strstr(steme_wal_errmsg(w), "poisoned"));
    const void *ps[2] = { buf, buf };
    size_t ls[2] = { 10, 11 };
    assert_int_equal(steme_wal_append_batch(w, 2, ps, ls, NULL), STEME_E_FATAL);
    assert_int_equal(steme_wal_end_offset(w), end);
    steme_wal_close(w);

    check_acked(dir, offs, 20);
    tu_rmtree_free(dir);
}

static void test_fdatasync_failure(void **state)
{
    (void)state;
    poison_single(0, 0);
}

static void test_write_failure(void **state)
{
    (void)state;
    poison_single(1, 0);
}

static void test_short_write_then_failure(void **state)
{
    (void)state;
    poison_single(1, 1);
}

typedef struct thr {
    steme_wal *w;
    int id;
    uint64_t offs[4000];
    int acked, last_rc;
} thr;

static void *thr_main(void *p)
{
    thr *t = p;
    uint8_t buf[128];
    for (int i = 0; i < 4000; i++) {
        uint64_t id = (uint64_t)t->id * 4000 + (uint64_t)i;
        t->last_rc = steme_wal_append(t->w, buf, payload(buf, id), &t->offs[i]);
        if (t->last_rc != STEME_OK)
            return NULL;
        t->acked++;
    }
    return NULL;
}

/* Many appenders, several flushers: the failure lands on some round while
 * others are staged or in flight. Nobody hangs, everybody ends FATAL, and
 * every record acknowledged before it is intact after reopen. */
static void concurrent(int which, int flushers)
{
    char *dir = tu_tempdir("wal-poison-mt");
    tw_log log = { 0 };
    steme_wal_options o = tw_opts(1u << 16, &log);    /* rolls included */
    o.flushers = flushers;
    o.syncs_in_flight = flushers;
    steme_wal *w = tw_open(dir, &o, NULL);
    enum { T = 8 };
    static thr t[T];
    pthread_t tid[T];
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(5));
    set_failing(w, which, 30 + (int)tu_rng_below(&rng, 60));
    for (int i = 0; i < T; i++) {
        memset(&t[i], 0, sizeof t[i]);
        t[i].w = w;
        t[i].id = i;
        pthread_create(&tid[i], NULL, thr_main, &t[i]);
    }
    for (int i = 0; i < T; i++)
        pthread_join(tid[i], NULL);
    for (int i = 0; i < T; i++)
        assert_int_equal(t[i].last_rc, STEME_E_FATAL);
    assert_int_equal(log.errors, 1);
    steme_wal_close(w);
    static uint64_t all[T * 4000];
    uint64_t n = 0;
    for (int i = 0; i < T; i++)
        for (int k = 0; k < t[i].acked; k++)
            all[n++] = t[i].offs[k];
    check_acked(dir, all, n);
    tu_rmtree_free(dir);
}

static void test_concurrent_fdatasync_failure(void **state)
{
    (void)state;
    concurrent(0, 1);
    concurrent(0, 3);
}

static void test_concurrent_write_failure(void **state)
{
    (void)state;
    concurrent(1, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fdatasync_failure),
        cmocka_unit_test(test_write_failure),
        cmocka_unit_test(test_short_write_then_failure),
        cmocka_unit_test(test_concurrent_fdatasync_failure),
        cmocka_unit_test(test_concurrent_write_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
