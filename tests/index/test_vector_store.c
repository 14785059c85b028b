/*
 * test_vector_store.c - the persistent vector store against a model:
 * inserts, replacements and deletes through reopen and background builds;
 * searches from several threads during inserts and builds; a corrupt cold
 * file refused and rebuilt from the log; kill -9 during inserts and during
 * a build, after which every acknowledged vector is found.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/fsutil.h"
#include "test_vector_lib.h"

#define DIM 12
#define IDS 400

typedef struct model {
    float vec[IDS][DIM];
    unsigned char live[IDS];
} model;

static steme_vector_options store_opts(void)
{
    steme_vector_options o;
    steme_vector_options_init(&o, DIM);
    o.M = 8;
    o.ef_construction = 64;
    o.max_elements = 5000;
    return o;
}

static steme_vector_store *open_store(const char *dir)
{
    steme_vector_options o = store_opts();
    steme_vector_store *s = NULL;
    steme_error e;
    int rc = steme_vector_store_open(dir, &o, &s, &e);
    if (rc)
        fprintf(stderr, "open: %s\n", e.message);
    assert_int_equal(rc, STEME_OK);
    return s;
}

/* The store agrees with the model: contains for every id, and searches
 * (large ef) return live ids at their current vectors' distances. */
static void check_against_model(steme_vector_store *s, const model *m, tu_rng *r)
{
    for (uint32_t i = 0; i < IDS; i++) {
        steme_hash id = vt_id(i);
        assert_int_equal(steme_vector_store_contains(s, &id), m->live[i]);
    }
    for (int q = 0; q < 20; q++) {
        float qv[DIM];
        for (int d = 0; d < DIM; d++)
            qv[d] = (float)((double)tu_rng_below(r, 2000) / 1000.0 - 1.0);
        steme_vector_hit hits[10];
        uint32_t truth[10];
        size_t nh, nt = vt_exact(STEME_VECTOR_L2, &m->vec[0][0], IDS, DIM, m->live, qv, 10, truth);
        assert_int_equal(steme_vector_store_search(s, qv, 10, 400, hits, &nh), STEME_OK);
        assert_int_equal(nh, nt);
        for (size_t i = 0; i < nh; i++) {
            uint32_t id = vt_id_num(&hits[i].id);
            assert_true(id < IDS && m->live[id]);
            assert_float_equal(hits[i].distance, vt_dist(STEME_VECTOR_L2, qv, m->vec[id], DIM), 1e-4);
        }
        assert_true(vt_overlap(hits, nh, truth, nt) >= nt - 1);
    }
}

static void random_ops(steme_vector_store *s, model *m, tu_rng *r, int ops)
{
    for (int op = 0; op < ops; op++) {
        uint32_t i = (uint32_t)tu_rng_below(r, IDS);
        steme_hash id = vt_id(i);
        if (tu_rng_below(r, 4) == 0) {
            assert_int_equal(steme_vector_store_delete(s, &id), STEME_OK);
            m->live[i] = 0;
        } else {
            /* Insert or replace: the newer vector must win everywhere. */
            for (int d = 0; d < DIM; d++)
                m->vec[i][d] = (float)((double)tu_rng_below(r, 2000) / 1000.0 - 1.0);
            assert_int_equal(steme_vector_store_insert(s, 1, &id, m->vec[i]), STEME_OK);
            m->live[i] = 1;
        }
    }
}

static void model_through_reopen_and_builds(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(21));
    static model m;
    memset(&m, 0, sizeof m);
    char *dir = tu_tempdir("vecstore");
    steme_vector_store *s = open_store(dir);
    /* A batch insert first. */
    steme_hash ids[100];
    for (uint32_t i = 0; i < 100; i++) {
        ids[i] = vt_id(i);
        for (int d = 0; d < DIM; d++)
            m.vec[i][d] = (float)((double)tu_rng_below(&r, 2000) / 1000.0 - 1.0);
        m.live[i] = 1;
    }
    assert_int_equal(steme_vector_store_insert(s, 100, ids, &m.vec[0][0]), STEME_OK);
    random_ops(s, &m, &r, 150);
    check_against_model(s, &m, &r);
    steme_vector_store_close(s);
    s = open_store(dir); /* replay of the log alone */
    check_against_model(s, &m, &r);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(steme_vector_store_build_start(s), STEME_OK);
        random_ops(s, &m, &r, 60); /* while it builds */
        assert_int_equal(steme_vector_store_build_wait(s), STEME_OK);
        check_against_model(s, &m, &r);
        random_ops(s, &m, &r, 60);
        check_against_model(s, &m, &r);
        steme_vector_store_close(s);
        s = open_store(dir); /* cold file + the log after it */
        check_against_model(s, &m, &r);
    }
    steme_vector_store_stats st;
    assert_int_equal(steme_vector_store_stats_get(s, &st), STEME_OK);
    assert_true(st.cold_count > 0 && st.cold_wal_offset > 0 && st.wal_end >= st.cold_wal_offset);
    assert_int_equal(steme_vector_store_build_wait(s), STEME_OK); /* none running */
    steme_vector_store_close(s);
    tu_rmtree_free(dir);
}

static void corrupt_cold_is_rebuilt(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(22));
    static model m;
    memset(&m, 0, sizeof m);
    char *dir = tu_tempdir("vecstore");
    steme_vector_store *s = open_store(dir);
    random_ops(s, &m, &r, 200);
    assert_int_equal(steme_vector_store_build_start(s), STEME_OK);
    assert_int_equal(steme_vector_store_build_wait(s), STEME_OK);
    random_ops(s, &m, &r, 30);
    steme_vector_store_close(s);

    char *cold = steme_path_join(dir, "cold.vec"), *bad = steme_path_join(dir, "cold.vec.corrupt");
    uint8_t *b;
    size_t n;
    assert_int_equal(steme_read_file(cold, 1u << 26, &b, &n, NULL), STEME_OK);
    b[tu_rng_below(&r, n)] ^= 0x10;
    assert_int_equal(steme_write_file_atomic(cold, b, n, 0, NULL), STEME_OK);
    free(b);
    s = open_store(dir); /* refuses the file, replays the whole log */
    assert_int_equal(access(bad, F_OK), 0);
    check_against_model(s, &m, &r);
    assert_int_equal(steme_vector_store_build_wait(s), STEME_OK); /* the automatic rebuild */
    check_against_model(s, &m, &r);
    steme_vector_store_close(s);
    s = open_store(dir);
    check_against_model(s, &m, &r);
    steme_vector_store_close(s);
    free(cold);
    free(bad);
    tu_rmtree_free(dir);
}

/* ---- concurrency ----------------------------------------------------- */

typedef struct reader_arg {
    steme_vector_store *s;
    const float *vecs;
    int *stop;
    int bad;
} reader_arg;

static void *reader(void *p)
{
    reader_arg *a = p;
    tu_rng r;
    tu_rng_seed(&r, (uint64_t)(uintptr_t)p);
    while (!__atomic_load_n(a->stop, __ATOMIC_ACQUIRE)) {
        const float *q = a->vecs + tu_rng_below(&r, 2000) * DIM;
        steme_vector_hit hits[10];
        size_t nh;
        if (steme_vector_store_search(a->s, q, 10, 40, hits, &nh) != STEME_OK)
            a->bad++;
        for (size_t i = 0; i < nh; i++) {
            uint32_t id = vt_id_num(&hits[i].id);
            if (id >= 2000 || fabs(hits[i].distance - vt_dist(STEME_VECTOR_L2, q, a->vecs + (size_t)id * DIM,
                                                              DIM)) > 1e-4)
                a->bad++;
            for (size_t j = 0; j < i; j++)
                if (memcmp(hits[j].id.bytes, hits[i].id.bytes, 32) == 0)
                    a->bad++;
        }
    }
    return NULL;
}

static void searches_during_inserts_and_builds(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(23));
    float *vecs = vt_random_vectors(&r, 2000, DIM, 0);
    char *dir = tu_tempdir("vecstore");
    steme_vector_store *s = open_store(dir);
    int stop = 0;
    reader_arg a[2] = {{s, vecs, &stop, 0}, {s, vecs, &stop, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, &a[i]), 0);
    for (uint32_t i = 0; i < 2000; i += 20) {
        steme_hash ids[20];
        for (uint32_t j = 0; j < 20; j++)
            ids[j] = vt_id(i + j);
        assert_int_equal(steme_vector_store_insert(s, 20, ids, vecs + (size_t)i * DIM), STEME_OK);
        if (i % 500 == 0) {
            steme_vector_store_build_wait(s);
            assert_int_equal(steme_vector_store_build_start(s), STEME_OK);
        }
        if (i % 100 == 40) {
            steme_hash d = vt_id(i - 40);
            assert_int_equal(steme_vector_store_delete(s, &d), STEME_OK);
        }
    }
    assert_int_equal(steme_vector_store_build_wait(s), STEME_OK);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].bad, 0);
    }
    steme_vector_store_close(s);
    tu_rmtree_free(dir);
    free(vecs);
}

/* ---- kill -9 --------------------------------------------------------- */

#define CRASH_MAX 4000

typedef struct crash_shared {
    _Atomic uint32_t acked; /* ids 0..acked-1 are acknowledged */
    _Atomic int ready;
} crash_shared;

static void crash_vector(uint32_t i, float *v)
{
    uint64_t x = i * 0x9e3779b97f4a7c15ull + 1;
    for (int d = 0; d < DIM; d++) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ull;
        v[d] = (float)((double)(x >> 40) / 16777216.0);
    }
}

static void crash_child(const char *dir, crash_shared *sh, int build)
{
    steme_vector_options o = store_opts();
    steme_vector_store *s = NULL;
    if (steme_vector_store_open(dir, &o, &s, NULL) != STEME_OK)
        _exit(2);
    uint32_t i = sh->acked;
    sh->ready = 1;
    for (; i < CRASH_MAX; i += 4) {
        steme_hash ids[4];
        float v[4][DIM];
        for (uint32_t j = 0; j < 4; j++) {
            ids[j] = vt_id(i + j);
            crash_vector(i + j, v[j]);
        }
        if (steme_vector_store_insert(s, 4, ids, &v[0][0]) != STEME_OK)
            _exit(3);
        sh->acked = i + 4;
        if (build && i % 200 == 0)
            steme_vector_store_build_start(s); /* BUSY while one runs: fine */
    }
    steme_vector_store_close(s);
    _exit(0);
}

static void kill9_keeps_acknowledged(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(24));
    char *dir = tu_tempdir("veccrash");
    crash_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(sh != MAP_FAILED);
    sh->acked = 0;
    for (int trial = 0; trial < 6; trial++) {
        int build = trial % 2;
        sh->ready = 0;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            crash_child(dir, sh, build);
        while (!sh->ready) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid)
                fail_msg("child exited early: %d", st);
            usleep(100);
        }
        struct timespec d = {0, (long)(5 + tu_rng_below(&r, 60)) * 1000000L};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        uint32_t acked = sh->acked;
        fprintf(stderr, "trial %d (%s): %u acknowledged\n", trial, build ? "build" : "inserts", acked);
        steme_vector_store *s = open_store(dir);
        for (uint32_t i = 0; i < acked; i++) {
            steme_hash id = vt_id(i);
            if (!steme_vector_store_contains(s, &id))
                fail_msg("trial %d: acknowledged id %u of %u lost", trial, i, acked);
        }
        for (uint32_t i = 0; i < acked; i += 97) {
            float v[DIM];
            crash_vector(i, v);
            steme_vector_hit hit;
            size_t nh;
            assert_int_equal(steme_vector_store_search(s, v, 1, 64, &hit, &nh), STEME_OK);
            assert_int_equal(nh, 1);
            assert_float_equal(hit.distance, 0, 0);
        }
        /* Ids past the acknowledged ones may exist (durable, unacked); the
         * next child continues after the last acknowledged. */
        steme_vector_store_close(s);
        if (acked + 200 >= CRASH_MAX)
            break;
    }
    munmap(sh, sizeof *sh);
    tu_rmtree_free(dir);
}

static void bad_input(void **state)
{
    (void)state;
    steme_vector_options o = store_opts();
    steme_vector_store *s = NULL;
    steme_error e;
    assert_int_equal(steme_vector_store_open(NULL, &o, &s, &e), STEME_E_INVALID);
    assert_int_equal(steme_vector_store_open("", &o, &s, &e), STEME_E_INVALID);
    o.dim = 0;
    assert_int_equal(steme_vector_store_open("/tmp/x", &o, &s, &e), STEME_E_INVALID);
    char *dir = tu_tempdir("vecbad");
    s = open_store(dir);
    /* A second handle on the same directory is refused (the WAL's lock). */
    steme_vector_store *s2 = NULL;
    o = store_opts();
    assert_int_equal(steme_vector_store_open(dir, &o, &s2, &e), STEME_E_BUSY);
    float v[DIM] = {0}, nan[DIM] = {NAN};
    steme_hash id = vt_id(1);
    assert_int_equal(steme_vector_store_insert(s, 1, &id, nan), STEME_E_INVALID);
    assert_int_equal(steme_vector_store_insert(s, 0, &id, v), STEME_E_INVALID);
    assert_int_equal(steme_vector_store_insert(s, 1, NULL, v), STEME_E_INVALID);
    assert_int_equal(steme_vector_store_insert(NULL, 1, &id, v), STEME_E_INVALID);
    assert_int_equal(steme_vector_store_delete(s, NULL), STEME_E_INVALID);
    assert_int_equal(steme_vector_store_delete(s, &id), STEME_OK); /* idempotent */
    steme_vector_hit h;
    size_t n;
    assert_int_equal(steme_vector_store_search(s, v, 0, 0, &h, &n), STEME_E_INVALID);
    assert_int_equal(steme_vector_store_search(s, nan, 1, 0, &h, &n), STEME_E_INVALID);
    assert_int_equal(steme_vector_store_search(s, v, 1, 0, &h, &n), STEME_OK);
    assert_int_equal(n, 0);
    assert_false(steme_vector_store_contains(s, NULL));
    assert_int_equal(steme_vector_store_stats_get(s, NULL), STEME_E_INVALID);
    assert_int_equal(steme_vector_store_build_start(NULL), STEME_E_INVALID);
    steme_vector_store_close(s);
    steme_vector_store_close(NULL);
    /* A store reopened with another dimension refuses the cold file. */
    s = open_store(dir);
    assert_int_equal(steme_vector_store_insert(s, 1, &id, v), STEME_OK);
    assert_int_equal(steme_vector_store_build_start(s), STEME_OK);
    assert_int_equal(steme_vector_store_build_wait(s), STEME_OK);
    steme_vector_store_close(s);
    o = store_opts();
    o.dim = DIM + 1;
    assert_int_equal(steme_vector_store_open(dir, &o, &s, &e), STEME_E_INVALID);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(model_through_reopen_and_builds),
        cmocka_unit_test(corrupt_cold_is_rebuilt),
        cmocka_unit_test(searches_during_inserts_and_builds),
        cmocka_unit_test(kill9_keeps_acknowledged),
        cmocka_unit_test(bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
