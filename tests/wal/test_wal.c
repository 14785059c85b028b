/*
 * test_wal.c - unit tests of the write-ahead log: round trips, offsets
 * across segment rolls, cursor boundaries, reopen, checkpoint, batches,
 * record size limits, concurrency, stale files (bad input:
 * test_wal_badinput.c).
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal_testlib.h"

#define MAXREC 600

typedef struct model {
    uint64_t *off;
    size_t *len;
    uint64_t n, cap;
    uint64_t seed;
    size_t maxlen;  /* 0: MAXREC */
} model;

static void model_add(model *m, uint64_t off, size_t len)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->off = realloc(m->off, m->cap * sizeof *m->off);
        m->len = realloc(m->len, m->cap * sizeof *m->len);
        assert_non_null(m->off);
        assert_non_null(m->len);
    }
    m->off[m->n] = off;
    m->len[m->n] = len;
    m->n++;
}

static void model_free(model *m)
{
    free(m->off);
    free(m->len);
}

/* Append records first..first+count-1 of the model's seed. */
static void append_n(steme_wal *w, model *m, uint64_t count, size_t maxlen)
{
    uint8_t buf[MAXREC + 1];
    m->maxlen = maxlen;
    for (uint64_t k = 0; k < count; k++) {
        size_t len = tw_fill(buf, maxlen, m->seed, m->n);
        uint64_t off = 0;
        assert_int_equal(steme_wal_append(w, buf, len, &off), STEME_OK);
        if (m->n > 0)
            assert_true(off >= m->off[m->n - 1] + 40 + m->len[m->n - 1]);
        model_add(m, off, len);
    }
}

/* Read everything from record index `from` and compare with the model. */
static void check_from(steme_wal *w, const model *m, uint64_t from)
{
    steme_wal_cursor *c = NULL;
    uint64_t start = from < m->n ? m->off[from] : steme_wal_end_offset(w);
    assert_int_equal(steme_wal_cursor_open(w, start, &c), STEME_OK);
    uint8_t buf[MAXREC + 1];
    for (uint64_t i = from; i < m->n; i++) {
        const uint8_t *p;
        size_t len;
        uint64_t off;
        assert_int_equal(steme_wal_cursor_next(c, &p, &len, &off), STEME_OK);
        size_t want = tw_fill(buf, m->maxlen ? m->maxlen : MAXREC, m->seed, i);
        assert_int_equal(off, m->off[i]);
        assert_int_equal(len, want);
        assert_memory_equal(p, buf, len);
    }
    const uint8_t *p;
    size_t len;
    assert_int_equal(steme_wal_cursor_next(c, &p, &len, NULL), STEME_E_END);
    steme_wal_cursor_close(c);
}

static void test_roundtrip(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-rt");
    steme_wal *w = tw_open(dir, NULL, NULL);
    model m = { .seed = tu_seed(11) };
    append_n(w, &m, 500, MAXREC);
    assert_int_equal(m.off[0], 0);
    for (uint64_t i = 1; i < m.n; i++)    /* one segment: dense offsets */
        assert_int_equal(m.off[i], m.off[i - 1] + 40 + m.len[i - 1]);
    assert_int_equal(steme_wal_end_offset(w), m.off[m.n - 1] + 40 + m.len[m.n - 1]);
    check_from(w, &m, 0);
    struct steme_wal_stats st;
    assert_int_equal(steme_wal_stats(w, &st), STEME_OK);
    assert_int_equal(st.records, 500);
    assert_int_equal(st.appends, 500);
    assert_true(st.syncs >= 1 && st.syncs <= 500);
    steme_wal_close(w);
    model_free(&m);
    tu_rmtree_free(dir);
}

static void test_rolls_and_reopen(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-roll");
    steme_wal_options o = tw_opts(4096, NULL);
    steme_wal *w = tw_open(dir, &o, NULL);
    model m = { .seed = tu_seed(12) };
    append_n(w, &m, 300, MAXREC);
    /* Offsets continuous: each record starts where the previous ended. */
    for (uint64_t i = 1; i < m.n; i++)
        assert_int_equal(m.off[i], m.off[i - 1] + 40 + m.len[i - 1]);
    uint64_t starts[512];
    size_t ns = tw_segments(dir, starts, 512);
    assert_true(ns > 10);
    /* Each segment starts at a record offset. */
    for (size_t s = 0, i = 0; s < ns; s++) {
        while (i < m.n && m.off[i] < starts[s])
            i++;
        assert_true(i < m.n);
        assert_int_equal(m.off[i], starts[s]);
    }
    struct steme_wal_stats st;
    steme_wal_stats(w, &st);
    assert_int_equal(st.segments_created, ns - 1);
    check_from(w, &m, 0);
    steme_wal_close(w);

    steme_wal_recovery rec;
    tw_log log = { 0 };
    o = tw_opts(4096, &log);
    w = tw_open(dir, &o, &rec);
    assert_int_equal(rec.records, 300);
    assert_int_equal(rec.segments, ns);
    assert_int_equal(rec.dropped_bytes, 0);
    assert_int_equal(rec.damaged_segments, 0);
    assert_int_equal(rec.end_offset, m.off[m.n - 1] + 40 + m.len[m.n - 1]);
    assert_int_equal(log.warnings, 0);
    append_n(w, &m, 100, MAXREC);
    assert_int_equal(m.off[300], rec.end_offset);
    check_from(w, &m, 0);
    steme_wal_close(w);
    w = tw_open(dir, &o, &rec);
    assert_int_equal(rec.records, 400);
    check_from(w, &m, 123);
    steme_wal_close(w);
    model_free(&m);
    tu_rmtree_free(dir);
}

static void test_cursor_boundaries(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-cur");
    steme_wal_options o = tw_opts(8192, NULL);
    steme_wal *w = tw_open(dir, &o, NULL);
    model m = { .seed = tu_seed(13) };
    append_n(w, &m, 200, MAXREC);
    for (uint64_t i = 0; i <= m.n; i += 7)
        check_from(w, &m, i);
    check_from(w, &m, m.n - 1);
    check_from(w, &m, m.n);             /* at the end: END at once */
    steme_wal_cursor *c = (steme_wal_cursor *)1;
    for (uint64_t i = 0; i < m.n; i += 13) {
        uint64_t bad[3] = { m.off[i] + 1, m.off[i] + 40, m.off[i] + m.len[i] + 39 };
        for (int k = 0; k < 3; k++) {
            assert_int_equal(steme_wal_cursor_open(w, bad[k], &c), STEME_E_INVALID);
            assert_null(c);
            assert_non_null(strstr(steme_wal_errmsg(w), "boundary"));
        }
    }
    uint64_t end = steme_wal_end_offset(w);
    assert_int_equal(steme_wal_cursor_open(w, end + 1, &c), STEME_E_INVALID);
    assert_non_null(strstr(steme_wal_errmsg(w), "beyond"));
    /* A cursor at the end sees records appended later. */
    assert_int_equal(steme_wal_cursor_open(w, end, &c), STEME_OK);
    const uint8_t *p;
    size_t len;
    assert_int_equal(steme_wal_cursor_next(c, &p, &len, NULL), STEME_E_END);
    append_n(w, &m, 30, MAXREC);
    for (int i = 0; i < 30; i++)
        assert_int_equal(steme_wal_cursor_next(c, &p, &len, NULL), STEME_OK);
    assert_int_equal(steme_wal_cursor_next(c, &p, &len, NULL), STEME_E_END);
    steme_wal_cursor_close(c);
    steme_wal_cursor_close(NULL);
    steme_wal_close(w);
    model_free(&m);
    tu_rmtree_free(dir);
}

static void test_checkpoint(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-ckpt");
    steme_wal_options o = tw_opts(4096, NULL);
    steme_wal *w = tw_open(dir, &o, NULL);
    model m = { .seed = tu_seed(14) };
    append_n(w, &m, 200, MAXREC);
    uint64_t starts[256];
    size_t ns = tw_segments(dir, starts, 256);
    assert_true(ns > 5);
    uint64_t cut = m.off[m.n / 2] + 1; /* not a boundary: still allowed */
    assert_int_equal(steme_wal_checkpoint(w, cut), STEME_OK);
    uint64_t after[256];
    size_t na = tw_segments(dir, after, 256);
    /* Removed exactly the segments wholly below cut: segment i ends where
     * segment i+1 starts. */
    size_t expect_removed = 0;
    while (expect_removed + 1 < ns && starts[expect_removed + 1] <= cut)
        expect_removed++;
    assert_int_equal(na, ns - expect_removed);
    assert_int_equal(after[0], starts[expect_removed]);
    steme_wal_cursor *c;
    assert_int_equal(steme_wal_cursor_open(w, 0, &c), STEME_E_NOTFOUND);
    uint64_t first = 0;
    while (m.off[first] < after[0])
        first++;
    check_from(w, &m, first);
    /* Checkpoint at the end never removes the active segment. */
    assert_int_equal(steme_wal_checkpoint(w, steme_wal_end_offset(w)), STEME_OK);
    assert_int_equal(tw_segments(dir, after, 256), 1);
    assert_int_equal(steme_wal_checkpoint(w, steme_wal_end_offset(w) + 1), STEME_E_INVALID);
    append_n(w, &m, 20, MAXREC);
    steme_wal_close(w);
    steme_wal_recovery rec;
    w = tw_open(dir, &o, &rec);
    assert_int_equal(rec.first_offset, after[0]);
    check_from(w, &m, m.n - 20);
    steme_wal_close(w);
    model_free(&m);
    tu_rmtree_free(dir);
}

static void test_batch(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-batch");
    steme_wal_options o = tw_opts(8192, NULL);
    steme_wal *w = tw_open(dir, &o, NULL);
    model m = { .seed = tu_seed(15) };
    static uint8_t bufs[100][MAXREC + 1];
    const void *ps[100];
    size_t ls[100];
    for (int round = 0; round < 5; round++) {
        size_t n = 1 + (size_t)round * 24;
        for (size_t i = 0; i < n; i++) {
            ls[i] = tw_fill(bufs[i], MAXREC, m.seed, m.n + i);
            ps[i] = bufs[i];
        }
        uint64_t first = 0;
        assert_int_equal(steme_wal_append_batch(w, n, ps, ls, &first), STEME_OK);
        uint64_t off = first;
        for (size_t i = 0; i < n; i++) {
            model_add(&m, off, ls[i]);
            off += 40 + ls[i];
        }
    }
    /* Offsets of a batch are consecutive even across a roll. */
    check_from(w, &m, 0);
    /* One bad record: nothing appended. */
    uint64_t end = steme_wal_end_offset(w);
    ls[3] = 0;
    assert_int_equal(steme_wal_append_batch(w, 5, ps, ls, NULL), STEME_E_INVALID);
    assert_non_null(strstr(steme_wal_errmsg(w), "payload 3"));
    assert_int_equal(steme_wal_end_offset(w), end);
    steme_wal_close(w);
    model_free(&m);
    tu_rmtree_free(dir);
}

static void test_max_record_and_big(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-max");
    steme_wal_options o = tw_opts(1 << 20, NULL);
    o.buffer_bytes = 64 * 1024;     /* records bigger than the ring */
    o.max_record = 400 * 1024;
    steme_wal *w = tw_open(dir, &o, NULL);
    uint8_t *big = malloc(o.max_record + 8);
    assert_non_null(big);
    tu_rng r;
    tu_rng_seed(&r, tu_seed(16));
    tu_rng_bytes(&r, big, o.max_record + 8);
    uint64_t off[6];
    size_t lens[6] = { o.max_record, 100, 300000, 1, o.max_record, 70000 };
    for (int i = 0; i < 6; i++)
        assert_int_equal(steme_wal_append(w, big + i, lens[i], &off[i]), STEME_OK);
    assert_int_equal(steme_wal_append(w, big, o.max_record + 1, NULL), STEME_E_TOO_BIG);
    assert_non_null(strstr(steme_wal_errmsg(w), "max_record"));
    steme_wal_close(w);
    w = tw_open(dir, &o, NULL);
    steme_wal_cursor *c;
    assert_int_equal(steme_wal_cursor_open(w, 0, &c), STEME_OK);
    for (int i = 0; i < 6; i++) {
        const uint8_t *p;
        size_t len;
        uint64_t at;
        assert_int_equal(steme_wal_cursor_next(c, &p, &len, &at), STEME_OK);
        assert_int_equal(at, off[i]);
        assert_int_equal(len, lens[i]);
        assert_memory_equal(p, big + i, len);
    }
    steme_wal_cursor_close(c);
    steme_wal_close(w);
    /* max_record that cannot fit a segment is refused. */
    o = tw_opts(4096, NULL);
    o.max_record = 4096;
    steme_error e = { 0 };
    assert_int_equal(steme_wal_open(dir, &o, &w, NULL, &e), STEME_E_INVALID);
    assert_non_null(strstr(e.message, "max_record"));
    /* The default max_record follows a small segment size. */
    o.max_record = 0;
    w = tw_open(dir, &o, NULL);
    assert_int_equal(steme_wal_append(w, big, 4096 - 64 - 40, NULL), STEME_OK);
    assert_int_equal(steme_wal_append(w, big, 4096 - 64 - 39, NULL), STEME_E_TOO_BIG);
    steme_wal_close(w);
    free(big);
    tu_rmtree_free(dir);
}

typedef struct thr_arg {
    steme_wal *w;
    int id, count;
    uint64_t *offs;
} thr_arg;

static void *thr_main(void *p)
{
    thr_arg *a = p;
    for (int i = 0; i < a->count; i++) {
        uint8_t rec[64];
        size_t len = 8 + (size_t)(i % 50);
        memset(rec, (int)(a->id * 31 + i), len);
        memcpy(rec, &a->id, sizeof a->id);
        memcpy(rec + 4, &i, sizeof i);
        if (steme_wal_append(a->w, rec, len, &a->offs[i]) != STEME_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-thr");
    for (int mode = 0; mode < 3; mode++) {
        /* mode 2 (ZERO) with 64 KiB segments: rolls, and the zero-ahead
         * running next to the flushers (its sizes scale with the segment). */
        steme_wal_options o = tw_opts(mode == 1 ? 16384 : mode == 2 ? 65536 : 0, NULL);
        o.preallocate = (steme_wal_prealloc)mode;
        o.flushers = 1 + mode;
        o.syncs_in_flight = 1 + mode;
        steme_wal *w = tw_open(dir, &o, NULL);
        enum { T = 8, N = 300 };
        pthread_t t[T];
        thr_arg a[T];
        static uint64_t offs[T][N];
        for (int i = 0; i < T; i++) {
            a[i] = (thr_arg){ w, i, N, offs[i] };
            pthread_create(&t[i], NULL, thr_main, &a[i]);
        }
        for (int i = 0; i < T; i++) {
            void *ret;
            pthread_join(t[i], &ret);
            assert_null(ret);
        }
        steme_wal_close(w);
        w = tw_open(dir, &o, NULL);
        steme_wal_cursor *c;
        assert_int_equal(steme_wal_cursor_open(w, 0, &c), STEME_OK);
        int seen[T] = { 0 }, total = 0;
        const uint8_t *p;
        size_t len;
        uint64_t off;
        int rc;
        while ((rc = steme_wal_cursor_next(c, &p, &len, &off)) == STEME_OK) {
            int id, i;
            memcpy(&id, p, 4);
            memcpy(&i, p + 4, 4);
            /* Records of an earlier round sit at other offsets: skip them. */
            if (id < 0 || id >= T || i < 0 || i >= N || offs[id][i] != off)
                continue;
            assert_int_equal(i, seen[id]);     /* per-thread order kept */
            seen[id]++;
            total++;
        }
        assert_int_equal(rc, STEME_E_END);
        assert_int_equal(total, T * N);
        steme_wal_cursor_close(c);
        steme_wal_close(w);
    }
    tu_rmtree_free(dir);
}

/* Leftovers of a crash in the middle of a roll are cleaned up at open. */
static void test_stale_files(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-stale");
    tw_log log = { 0 };
    steme_wal_options o = tw_opts(4096, &log);
    steme_wal *w = tw_open(dir, &o, NULL);
    model m = { .seed = tu_seed(17) };
    append_n(w, &m, 20, 100);
    steme_wal_close(w);
    char path[1024];
    /* A named segment of zeros past the end (roll whose header never
     * reached the disk) and a spare file from the preparer. */
    snprintf(path, sizeof path, "%s/%020llu.wal", dir, (unsigned long long)(1u << 20));
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    assert_int_equal(ftruncate(fd, 4096), 0);
    close(fd);
    snprintf(path, sizeof path, "%s/prep-7.tmp", dir);
    fd = open(path, O_CREAT | O_WRONLY, 0644);
    close(fd);
    steme_wal_recovery rec;
    w = tw_open(dir, &o, &rec);
    assert_int_equal(rec.damaged_segments, 0);
    assert_int_equal(rec.records, 20);
    assert_int_equal(access(path, F_OK), -1);
    check_from(w, &m, 0);
    append_n(w, &m, 5, 100);
    assert_int_equal(m.off[20], rec.end_offset);
    steme_wal_close(w);
    model_free(&m);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_rolls_and_reopen),
        cmocka_unit_test(test_cursor_boundaries),
        cmocka_unit_test(test_checkpoint),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_max_record_and_big),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_stale_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
