/*
 * test_wal_corrupt.c - damage on disk is detected and contained.
 *
 * A log of ~100 records over several 4 KiB segments is written once and
 * kept in memory. Each trial restores it, flips one byte (in a header, a
 * length word, a checksum, a payload, or the zero tail; in the first,
 * middle and last segments; plus random positions), reopens, and checks:
 *   - the damage is reported (a warning, damaged_segments == 1);
 *   - in the damaged segment, the damaged record and everything after it
 *     are gone (the whole segment for a header flip), and nothing else:
 *     records before it and in every other segment read back intact;
 *   - the cut bytes were saved (.dropped / .corrupt), and appends work.
 * A second test zeroes the end of the last segment (a torn tail, as after
 * a power cut) and checks the same containment.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal_testlib.h"

#define NREC 100
#define SEG 4096
#define MAXSEG 32

typedef struct layout {
    int nseg;
    uint64_t seg_start[MAXSEG];
    uint8_t *image[MAXSEG];         /* file bytes */
    size_t image_len[MAXSEG];
    int n;
    uint64_t off[NREC];
    size_t len[NREC];
    int seg_of[NREC];
    uint64_t fpos[NREC];            /* file position of the record */
    uint64_t seed;
} layout;

static void read_file(const char *path, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    *len = (size_t)st.st_size;
    *data = malloc(*len ? *len : 1);
    assert_int_equal(pread(fd, *data, *len, 0), (ssize_t)*len);
    close(fd);
}

static void build(layout *L, const char *dir)
{
    steme_wal_options o = tw_opts(SEG, NULL);
    steme_wal *w = tw_open(dir, &o, NULL);
    uint8_t buf[400];
    for (int i = 0; i < NREC; i++) {
        L->len[i] = tw_fill(buf, 300, L->seed, (uint64_t)i);
        assert_int_equal(steme_wal_append(w, buf, L->len[i], &L->off[i]), STEME_OK);
    }
    L->n = NREC;
    steme_wal_close(w);
    L->nseg = (int)tw_segments(dir, L->seg_start, MAXSEG);
    assert_true(L->nseg >= 4);
    for (int s = 0; s < L->nseg; s++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%020llu.wal", dir, (unsigned long long)L->seg_start[s]);
        read_file(path, &L->image[s], &L->image_len[s]);
    }
    for (int i = 0, s = 0; i < NREC; i++) {
        while (s + 1 < L->nseg && L->seg_start[s + 1] <= L->off[i])
            s++;
        L->seg_of[i] = s;
        L->fpos[i] = 64 + L->off[i] - L->seg_start[s];
    }
}

/* Empty dir, then write the original segment files back. */
static void restore(const layout *L, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[1024];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    for (int s = 0; s < L->nseg; s++) {
        snprintf(path, sizeof path, "%s/%020llu.wal", dir, (unsigned long long)L->seg_start[s]);
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, L->image[s], L->image_len[s]), (ssize_t)L->image_len[s]);
        close(fd);
    }
}

static void poke(const char *dir, uint64_t start, uint64_t pos, uint8_t xor_mask)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%020llu.wal", dir, (unsigned long long)start);
    int fd = open(path, O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, (off_t)pos), 1);
    b ^= xor_mask;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)pos), 1);
    close(fd);
}

/* Reopen and check that exactly the records with keep[i] survive, intact. */
static void check_survivors(const layout *L, const char *dir, const int *keep,
                            const char *what, int expect_damage)
{
    tw_log log = { 0 };
    steme_wal_options o = tw_opts(SEG, &log);
    steme_wal_recovery rec;
    steme_wal *w = tw_open(dir, &o, &rec);
    if (expect_damage) {
        if (log.warnings < 1 || rec.damaged_segments != 1)
            fprintf(stderr, "%s: warnings %d damaged %llu\n", what, log.warnings,
                    (unsigned long long)rec.damaged_segments);
        assert_true(log.warnings >= 1);
        assert_int_equal(rec.damaged_segments, 1);
        assert_true(rec.dropped_bytes > 0);
        assert_true(tw_count_suffix(dir, ".dropped") + tw_count_suffix(dir, ".corrupt") >= 1);
    }
    steme_wal_cursor *c;
    assert_int_equal(steme_wal_cursor_open(w, rec.first_offset, &c), STEME_OK);
    uint8_t buf[400];
    int expect = 0, got = 0;
    for (int i = 0; i < L->n; i++)
        expect += keep[i];
    const uint8_t *p;
    size_t len;
    uint64_t off;
    int rc, i = 0;
    while ((rc = steme_wal_cursor_next(c, &p, &len, &off)) == STEME_OK) {
        while (i < L->n && (!keep[i] || L->off[i] < off))
            i++;
        if (i >= L->n || L->off[i] != off)
            fprintf(stderr, "%s: unexpected record at %llu\n", what, (unsigned long long)off);
        assert_true(i < L->n && L->off[i] == off);
        size_t wl = tw_fill(buf, 300, L->seed, (uint64_t)i);
        assert_int_equal(len, wl);
        assert_memory_equal(p, buf, len);
        got++;
        i++;
    }
    assert_int_equal(rc, STEME_E_END);
    if (got != expect)
        fprintf(stderr, "%s: %d records read, %d expected\n", what, got, expect);
    assert_int_equal(got, expect);
    assert_int_equal(rec.records, (uint64_t)expect);
    steme_wal_cursor_close(c);
    uint64_t at;
    assert_int_equal(steme_wal_append(w, "x", 1, &at), STEME_OK);
    steme_wal_close(w);
}

/* Flip file byte `pos` of segment s and check containment. */
static void flip_trial(const layout *L, const char *dir, int s, uint64_t pos, uint8_t mask)
{
    int keep[NREC];
    char what[128];
    restore(L, dir);
    poke(dir, L->seg_start[s], pos, mask);
    snprintf(what, sizeof what, "flip seg %d byte %llu ^%02x", s, (unsigned long long)pos, mask);
    for (int i = 0; i < L->n; i++) {
        int same = L->seg_of[i] == s;
        keep[i] = !same || (pos >= STEME_WAL_SEGMENT_HEADER && L->fpos[i] + 40 + L->len[i] <= pos);
    }
    check_survivors(L, dir, keep, what, 1);
}

static void free_layout(layout *L)
{
    for (int s = 0; s < L->nseg; s++)
        free(L->image[s]);
}

static void test_byte_flips(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-corrupt");
    layout L = { .seed = tu_seed(99) };
    build(&L, dir);
    tu_rng rng;
    tu_rng_seed(&rng, L.seed);
    int trials = 0;
    int segs[3] = { 0, L.nseg / 2, L.nseg - 1 };
    for (int k = 0; k < 3; k++) {
        int s = segs[k];
        /* Header: magic, version, size, start, reserved, checksum. */
        static const uint64_t hdr_pos[] = { 0, 7, 8, 12, 16, 23, 24, 40, 59, 60, 63 };
        for (size_t j = 0; j < sizeof hdr_pos / sizeof hdr_pos[0]; j++, trials++)
            flip_trial(&L, dir, s, hdr_pos[j], 0x01);
        /* Records of this segment: first, second, middle, last. */
        int first = -1, last = -1;
        for (int i = 0; i < L.n; i++)
            if (L.seg_of[i] == s) {
                if (first < 0)
                    first = i;
                last = i;
            }
        int recs[4] = { first, first + 1, (first + last) / 2, last };
        for (int r = 0; r < 4; r++) {
            int i = recs[r];
            uint64_t base = L.fpos[i];
            uint64_t rel[] = { 0, 1, 3, 4, 7, 8, 39, 40, 40 + L.len[i] / 2, 40 + L.len[i] - 1 };
            for (size_t j = 0; j < sizeof rel / sizeof rel[0]; j++, trials++)
                flip_trial(&L, dir, s, base + rel[j], (uint8_t)(1u << (j % 8)));
        }
        /* The zero tail after the last record. */
        uint64_t tail = L.fpos[last] + 40 + L.len[last];
        flip_trial(&L, dir, s, tail, 0x80);
        flip_trial(&L, dir, s, SEG - 1, 0x02);
        trials += 2;
    }
    /* Random positions anywhere in any segment, random masks. */
    for (int k = 0; k < 150; k++, trials++) {
        int s = (int)tu_rng_below(&rng, (uint64_t)L.nseg);
        uint64_t pos = tu_rng_below(&rng, L.image_len[s]);
        flip_trial(&L, dir, s, pos, (uint8_t)(1 + tu_rng_below(&rng, 255)));
    }
    fprintf(stderr, "# %d single-byte corruptions detected and contained\n", trials);
    free_layout(&L);
    tu_rmtree_free(dir);
}

static void test_torn_tail(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-torn");
    layout L = { .seed = tu_seed(98) };
    build(&L, dir);
    int s = L.nseg - 1;
    for (int i = 0; i < L.n; i++) {
        if (L.seg_of[i] != s)
            continue;
        /* Cut record i somewhere inside: zero from there to the end. */
        uint64_t cut = L.fpos[i] + 1 + (L.len[i] * 7) % (39 + L.len[i]);
        restore(&L, dir);
        char path[1024];
        snprintf(path, sizeof path, "%s/%020llu.wal", dir, (unsigned long long)L.seg_start[s]);
        int fd = open(path, O_RDWR);
        assert_int_equal(ftruncate(fd, (off_t)cut), 0);
        assert_int_equal(ftruncate(fd, SEG), 0);
        close(fd);
        int keep[NREC];
        for (int j = 0; j < L.n; j++)
            keep[j] = j < i;
        check_survivors(&L, dir, keep, "torn tail", 1);
    }
    /* A whole record missing at the end is no damage: nothing to report. */
    restore(&L, dir);
    int keep[NREC];
    for (int j = 0; j < L.n; j++)
        keep[j] = 1;
    check_survivors(&L, dir, keep, "clean", 0);
    free_layout(&L);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_flips),
        cmocka_unit_test(test_torn_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
