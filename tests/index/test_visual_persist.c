/*
 * test_visual_persist.c - the persistent visual index: reopen equals the
 * model (with and without checkpoints), damaged snapshots are refused and
 * the older snapshot plus the log rebuild everything, a newer format is not
 * mistaken for damage, and kill -9 at random moments (during checkpoints
 * too) loses no acknowledged insert.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "steme/hash.h"
#include "steme/visual.h"
#include "testutil.h"

static int g_warnings;

static void quiet_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg;
    g_warnings++;
}

static steme_pvisual_options small_opts(void)
{
    steme_pvisual_options o;
    steme_pvisual_options_init(&o);
    o.wal_segment_bytes = 4096; /* many segments, so checkpoints cut the log */
    o.log = quiet_log;
    return o;
}

/* Entry i of the deterministic sequence the tests insert. */
static void entry(uint64_t i, uint64_t *phash, steme_hash *id)
{
    uint64_t z = i * 0x9e3779b97f4a7c15ull + 1;
    z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ull;
    *phash = (z ^ (z >> 29)) & 0xffff0000ffffull; /* clustered: many shared bits */
    memset(id->bytes, 0, STEME_HASH_LEN);
    memcpy(id->bytes, &i, sizeof i);
}

/* The index holds exactly the entries i < n with alive[i]. */
static void expect_contents(steme_visual *v, const unsigned char *alive, uint64_t n)
{
    size_t live = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t h;
        steme_hash id;
        entry(i, &h, &id);
        assert_int_equal(steme_visual_contains(v, h, &id), alive[i] ? 1 : 0);
        live += alive[i];
    }
    assert_int_equal(steme_visual_count(v), live);
}

static char *snap_path(const char *dir, uint64_t off)
{
    char *p = malloc(strlen(dir) + 40);
    sprintf(p, "%s/visual-%016" PRIx64 ".snap", dir, off);
    return p;
}

static void flip_byte(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, at, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, at, SEEK_SET), 0);
    fputc(c ^ 0x40, f);
    fclose(f);
}

static void reopen_matches_model(void **state)
{
    (void)state;
    char *dir = tu_tempdir("pvis");
    steme_pvisual_options o = small_opts();
    unsigned char alive[600] = {0};
    steme_pvisual *p;
    steme_pvisual_recovery rec;
    assert_int_equal(steme_pvisual_open(dir, &o, &p, &rec, NULL), STEME_OK);
    assert_int_equal(rec.snapshot_offset, 0);
    uint64_t ck1 = 0, ck2 = 0;
    for (uint64_t i = 0; i < 600; i++) {
        uint64_t h;
        steme_hash id;
        entry(i, &h, &id);
        assert_int_equal(steme_pvisual_insert(p, h, &id), STEME_OK);
        alive[i] = 1;
        assert_int_equal(steme_pvisual_insert(p, h, &id), STEME_E_EXISTS);
        if (i % 7 == 3) {
            uint64_t j = i / 2;
            entry(j, &h, &id);
            assert_int_equal(steme_pvisual_remove(p, h, &id), alive[j] ? STEME_OK
                                                                        : STEME_E_NOTFOUND);
            alive[j] = 0;
        }
        if (i == 200)
            assert_int_equal(steme_pvisual_checkpoint(p, &ck1), STEME_OK);
        if (i == 400)
            assert_int_equal(steme_pvisual_checkpoint(p, &ck2), STEME_OK);
    }
    assert_true(ck1 > 0 && ck2 > ck1);
    /* Queries through the borrowed index see the durable state. */
    steme_visual_hits hits;
    steme_visual_hits_init(&hits);
    assert_int_equal(steme_visual_knn(steme_pvisual_index(p), 0, 5, STEME_VISUAL_AUTO, &hits),
                     STEME_OK);
    assert_int_equal(hits.count, 5);
    steme_visual_hits_free(&hits);
    expect_contents(steme_pvisual_index(p), alive, 600);
    steme_pvisual_close(p);

    assert_int_equal(steme_pvisual_open(dir, &o, &p, &rec, NULL), STEME_OK);
    assert_int_equal(rec.snapshot_offset, ck2);
    assert_true(rec.replayed_records > 0);
    assert_int_equal(rec.damaged_snapshots, 0);
    expect_contents(steme_pvisual_index(p), alive, 600);
    /* A third checkpoint drops the first snapshot and cuts the log. */
    uint64_t ck3;
    assert_int_equal(steme_pvisual_checkpoint(p, &ck3), STEME_OK);
    steme_pvisual_close(p);
    char *s1 = snap_path(dir, ck1), *s2 = snap_path(dir, ck2), *s3 = snap_path(dir, ck3);
    assert_int_equal(access(s1, F_OK), -1);
    assert_int_equal(access(s2, F_OK), 0);
    assert_int_equal(access(s3, F_OK), 0);

    /* The newest snapshot damaged: refused, the older one + log rebuild it. */
    flip_byte(s3, 100);
    g_warnings = 0;
    assert_int_equal(steme_pvisual_open(dir, &o, &p, &rec, NULL), STEME_OK);
    assert_int_equal(rec.damaged_snapshots, 1);
    assert_int_equal(rec.snapshot_offset, ck2);
    assert_true(g_warnings >= 1);
    expect_contents(steme_pvisual_index(p), alive, 600);
    steme_pvisual_close(p);
    assert_int_equal(access(s3, F_OK), -1); /* renamed .corrupt */

    /* Both damaged while the log's start is gone: refuse, do not guess. */
    flip_byte(s2, 40);
    steme_error e;
    assert_int_equal(steme_pvisual_open(dir, &o, &p, &rec, &e), STEME_E_CORRUPT);
    assert_null(p);
    free(s1);
    free(s2);
    free(s3);
    tu_rmtree_free(dir);
}

static void snapshot_damage_kinds(void **state)
{
    (void)state;
    steme_pvisual_options o = small_opts();
    /* Each kind of damage at a different place: header count, body, CRC,
     * truncation. All refused; the log (never cut: one snapshot only)
     * rebuilds everything. A valid newer version is refused as VERSION. */
    for (int kind = 0; kind < 5; kind++) {
        char *dir = tu_tempdir("pvis-dmg");
        steme_pvisual *p;
        assert_int_equal(steme_pvisual_open(dir, &o, &p, NULL, NULL), STEME_OK);
        unsigned char alive[50];
        for (uint64_t i = 0; i < 50; i++) {
            uint64_t h;
            steme_hash id;
            entry(i, &h, &id);
            assert_int_equal(steme_pvisual_insert(p, h, &id), STEME_OK);
            alive[i] = 1;
        }
        uint64_t ck;
        assert_int_equal(steme_pvisual_checkpoint(p, &ck), STEME_OK);
        steme_pvisual_close(p);
        char *s = snap_path(dir, ck);
        if (kind == 0)
            flip_byte(s, 16);
        else if (kind == 1)
            flip_byte(s, 32 + 40 * 20 + 9);
        else if (kind == 2)
            flip_byte(s, 32 + 40 * 50 + 1);
        else if (kind == 3)
            assert_int_equal(truncate(s, 32 + 40 * 25), 0);
        if (kind < 4) {
            steme_pvisual_recovery rec;
            assert_int_equal(steme_pvisual_open(dir, &o, &p, &rec, NULL), STEME_OK);
            assert_int_equal(rec.damaged_snapshots, 1);
            assert_int_equal(rec.snapshot_offset, 0);
            expect_contents(steme_pvisual_index(p), alive, 50);
            steme_pvisual_close(p);
        } else {
            /* Version 2 with a correct checksum: not damage, a newer format. */
            FILE *f = fopen(s, "r+b");
            assert_non_null(f);
            unsigned char buf[32 + 40 * 50 + 4];
            assert_int_equal(fread(buf, 1, sizeof buf, f), sizeof buf);
            buf[8] = 2;
            /* Recompute the CRC with the library's own function. */
            uint32_t crc = steme_crc32c(0, buf, sizeof buf - 4);
            for (int i = 0; i < 4; i++)
                buf[sizeof buf - 4 + i] = (unsigned char)(crc >> (8 * i));
            rewind(f);
            fwrite(buf, 1, sizeof buf, f);
            fclose(f);
            assert_int_equal(steme_pvisual_open(dir, &o, &p, NULL, NULL), STEME_E_VERSION);
        }
        free(s);
        tu_rmtree_free(dir);
    }
}

static void bad_arguments(void **state)
{
    (void)state;
    steme_pvisual *p;
    steme_hash id = {{0}};
    assert_int_equal(steme_pvisual_open(NULL, NULL, &p, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_pvisual_open("", NULL, &p, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_pvisual_open("/tmp", NULL, NULL, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_pvisual_insert(NULL, 1, &id), STEME_E_INVALID);
    assert_int_equal(steme_pvisual_remove(NULL, 1, &id), STEME_E_INVALID);
    assert_int_equal(steme_pvisual_checkpoint(NULL, NULL), STEME_E_INVALID);
    assert_null(steme_pvisual_index(NULL));
    steme_pvisual_close(NULL);
    char *dir = tu_tempdir("pvis-bad");
    steme_pvisual_options o = small_opts();
    assert_int_equal(steme_pvisual_open(dir, &o, &p, NULL, NULL), STEME_OK);
    assert_int_equal(steme_pvisual_insert(p, 1, NULL), STEME_E_INVALID);
    assert_int_equal(steme_pvisual_remove(p, 1, &id), STEME_E_NOTFOUND);
    assert_non_null(strstr(steme_pvisual_errmsg(p), "no such pair"));
    /* A second handle on the same directory is refused by the log's lock. */
    steme_pvisual *q;
    assert_int_not_equal(steme_pvisual_open(dir, &o, &q, NULL, NULL), STEME_OK);
    steme_pvisual_close(p);
    tu_rmtree_free(dir);
}

/*
 * kill -9 at random moments of a stream of inserts with a checkpoint every
 * 16: every insert acknowledged to the parent must be there after reopen.
 */
static void kill_during_checkpoints_loses_nothing(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(77));
    steme_pvisual_options o = small_opts();
    char *dir = tu_tempdir("pvis-kill");
    uint64_t acked = 0;
    for (int trial = 0; trial < 6; trial++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            steme_pvisual *p;
            if (steme_pvisual_open(dir, &o, &p, NULL, NULL) != STEME_OK)
                _exit(2);
            for (uint64_t i = acked;; i++) {
                uint64_t h;
                steme_hash id;
                entry(i, &h, &id);
                int rc = steme_pvisual_insert(p, h, &id);
                if (rc != STEME_OK && rc != STEME_E_EXISTS)
                    _exit(3);
                if (write(fds[1], &i, sizeof i) != (ssize_t)sizeof i)
                    _exit(4);
                if (i % 16 == 15 && steme_pvisual_checkpoint(p, NULL) != STEME_OK)
                    _exit(5);
            }
        }
        close(fds[1]);
        /* Let it run for a random number of acknowledgements (>= 1), then
         * kill it wherever it is. */
        uint64_t want = 10 + tu_rng_below(&rng, 60), got = 0, last = acked;
        while (got < want) {
            uint64_t i;
            ssize_t r = read(fds[0], &i, sizeof i);
            if (r != (ssize_t)sizeof i)
                break;
            last = i + 1;
            got++;
        }
        usleep((useconds_t)tu_rng_below(&rng, 3000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        /* Drain acknowledgements written before the kill. */
        uint64_t i;
        while (read(fds[0], &i, sizeof i) == (ssize_t)sizeof i)
            last = i + 1;
        close(fds[0]);
        assert_true(WIFSIGNALED(status));
        assert_true(got > 0);
        acked = last;
        steme_pvisual *p;
        steme_pvisual_recovery rec;
        assert_int_equal(steme_pvisual_open(dir, &o, &p, &rec, NULL), STEME_OK);
        steme_visual *v = steme_pvisual_index(p);
        for (uint64_t k = 0; k < acked; k++) {
            uint64_t h;
            steme_hash id;
            entry(k, &h, &id);
            assert_int_equal(steme_visual_contains(v, h, &id), 1);
        }
        /* At most the one insert in flight beyond the acknowledged ones. */
        assert_true(steme_visual_count(v) <= acked + 1);
        acked = steme_visual_count(v);
        steme_pvisual_close(p);
    }
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reopen_matches_model),
        cmocka_unit_test(snapshot_damage_kinds),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(kill_during_checkpoints_loses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
