/*
 * test_vector_cold.c - the cold vector file: a saved index answers exactly
 * as the hot one did (renumbering changes no result), ids and tombstones
 * survive, every flipped byte of a file is refused at open, as are
 * truncated and extended files and a file of the wrong shape; saving is
 * atomic (no temp file left, old file replaced whole).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/fsutil.h"
#include "test_vector_lib.h"

static steme_hnsw *make_index_metric(tu_rng *r, size_t n, uint32_t dim, uint32_t M,
                                     steme_vector_storage st, steme_vector_metric metric,
                                     float **data_out)
{
    float *data = vt_random_vectors(r, n, dim, st == STEME_VECTOR_U8);
    steme_vector_options o;
    steme_vector_options_init(&o, dim);
    o.M = M;
    o.storage = st;
    o.metric = metric;
    o.ef_construction = 64;
    o.max_elements = n;
    steme_hnsw *h = NULL;
    assert_int_equal(steme_hnsw_create(&o, &h, NULL), STEME_OK);
    for (size_t i = 0; i < n; i++) {
        steme_hash id = vt_id((uint32_t)i);
        assert_int_equal(steme_hnsw_add(h, &id, data + i * dim), STEME_OK);
    }
    *data_out = data;
    return h;
}

static steme_hnsw *make_index(tu_rng *r, size_t n, uint32_t dim, uint32_t M, steme_vector_storage st,
                              float **data_out)
{
    return make_index_metric(r, n, dim, M, st, STEME_VECTOR_L2, data_out);
}

static void cold_answers_like_hot(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(11));
    /* f32 + cosine, u8 + L2, u8 + inner product */
    static const int cases[3][2] = {{0, STEME_VECTOR_COSINE}, {1, STEME_VECTOR_L2}, {1, STEME_VECTOR_IP}};
    for (int ci = 0; ci < 3; ci++) {
        int st = cases[ci][0];
        const uint32_t dim = 20;
        const size_t n = 600;
        float *data;
        steme_hnsw *h = make_index_metric(&r, n, dim, 8, (steme_vector_storage)st,
                                          (steme_vector_metric)cases[ci][1], &data);
        for (uint32_t i = 0; i < n; i += 9) {
            steme_hash id = vt_id(i);
            assert_int_equal(steme_hnsw_delete(h, &id), STEME_OK);
        }
        char *dir = tu_tempdir("veccold");
        char *path = steme_path_join(dir, "x.vec"), *tmp = steme_path_join(dir, "x.vec.tmp");
        assert_int_equal(steme_hnsw_save(h, path, 12345, NULL), STEME_OK);
        assert_int_not_equal(access(tmp, F_OK), 0);
        steme_vector_cold *c = NULL;
        steme_error e;
        assert_int_equal(steme_vector_cold_open(path, NULL, &c, &e), STEME_OK);
        assert_int_equal(steme_vector_cold_wal_offset(c), 12345);
        assert_int_equal(steme_vector_cold_count(c), steme_hnsw_count(h));
        steme_vector_options o;
        steme_vector_cold_options(c, &o);
        assert_int_equal(o.dim, dim);
        assert_int_equal(o.M, 8);
        assert_int_equal(o.ef_construction, 64);
        assert_int_equal((int)o.storage, st);
        assert_int_equal((int)o.metric, cases[ci][1]);
        for (uint32_t i = 0; i < n; i++) {
            steme_hash id = vt_id(i);
            assert_int_equal(steme_vector_cold_contains(c, &id), i % 9 != 0);
        }
        steme_hash absent = vt_id(999999);
        assert_false(steme_vector_cold_contains(c, &absent));
        for (size_t q = 0; q < 40; q++) {
            steme_vector_hit a[10], b[10];
            size_t na, nb;
            const float *qv = data + tu_rng_below(&r, n) * dim;
            assert_int_equal(steme_hnsw_search(h, qv, 10, 30, a, &na), STEME_OK);
            assert_int_equal(steme_vector_cold_search(c, qv, 10, 30, b, &nb), STEME_OK);
            assert_int_equal(na, nb);
            for (size_t i = 0; i < na; i++) {
                assert_float_equal(a[i].distance, b[i].distance, 0);
                assert_true(vt_id_num(&b[i].id) % 9 != 0);
            }
        }
        steme_vector_cold_close(c);
        /* Mismatching expectations are refused, not misread. */
        steme_vector_options_init(&o, dim + 1);
        assert_int_equal(steme_vector_cold_open(path, &o, &c, &e), STEME_E_INVALID);
        steme_vector_options_init(&o, dim);
        o.storage = st ? STEME_VECTOR_F32 : STEME_VECTOR_U8;
        assert_int_equal(steme_vector_cold_open(path, &o, &c, &e), STEME_E_INVALID);
        free(path);
        free(tmp);
        tu_rmtree_free(dir);
        steme_hnsw_free(h);
        free(data);
    }
}

static void empty_index_saves(void **state)
{
    (void)state;
    steme_vector_options o;
    steme_vector_options_init(&o, 3);
    o.max_elements = 10;
    steme_hnsw *h = NULL;
    assert_int_equal(steme_hnsw_create(&o, &h, NULL), STEME_OK);
    char *dir = tu_tempdir("veccold");
    char *path = steme_path_join(dir, "e.vec");
    assert_int_equal(steme_hnsw_save(h, path, 0, NULL), STEME_OK);
    steme_vector_cold *c = NULL;
    assert_int_equal(steme_vector_cold_open(path, &o, &c, NULL), STEME_OK);
    float q[3] = {1, 2, 3};
    steme_vector_hit hits[2];
    size_t n = 9;
    assert_int_equal(steme_vector_cold_search(c, q, 2, 0, hits, &n), STEME_OK);
    assert_int_equal(n, 0);
    steme_vector_cold_close(c);
    steme_error e;
    assert_int_equal(steme_hnsw_save(NULL, path, 0, &e), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_save(h, "", 0, &e), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_save(h, "/nonexistent-dir/x.vec", 0, &e), STEME_E_IO);
    assert_int_equal(steme_vector_cold_open("/nonexistent-dir/x.vec", NULL, &c, &e), STEME_E_NOTFOUND);
    assert_int_equal(steme_vector_cold_open(NULL, NULL, &c, &e), STEME_E_INVALID);
    assert_int_equal(steme_vector_cold_search(NULL, q, 1, 0, hits, &n), STEME_E_INVALID);
    steme_vector_cold_close(NULL);
    free(path);
    tu_rmtree_free(dir);
    steme_hnsw_free(h);
}

static int write_bytes(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(b, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

static void expect_refused(const char *path, const uint8_t *b, size_t n, size_t where)
{
    assert_int_equal(write_bytes(path, b, n), 0);
    steme_vector_cold *c = NULL;
    steme_error e;
    int rc = steme_vector_cold_open(path, NULL, &c, &e);
    if (rc != STEME_E_CORRUPT && rc != STEME_E_VERSION) {
        fprintf(stderr, "byte %zu of %zu: open returned %d\n", where, n, rc);
        fail();
    }
    assert_null(c);
}

/* Every single-byte change of a small file, and random ones of a larger. */
static void every_flipped_byte_is_refused(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(12));
    size_t sizes[2] = {24, 400};
    for (int t = 0; t < 2; t++) {
        float *data;
        steme_hnsw *h = make_index(&r, sizes[t], 4, 4, STEME_VECTOR_F32, &data);
        steme_hash id = vt_id(3);
        assert_int_equal(steme_hnsw_delete(h, &id), STEME_OK);
        char *dir = tu_tempdir("veccorrupt");
        char *path = steme_path_join(dir, "c.vec"), *bad = steme_path_join(dir, "bad.vec");
        assert_int_equal(steme_hnsw_save(h, path, 7, NULL), STEME_OK);
        uint8_t *b = NULL;
        size_t n = 0;
        assert_int_equal(steme_read_file(path, 1u << 26, &b, &n, NULL), STEME_OK);
        size_t trials = t == 0 ? n : 300;
        for (size_t i = 0; i < trials; i++) {
            size_t at = t == 0 ? i : tu_rng_below(&r, n);
            uint8_t was = b[at];
            b[at] ^= (uint8_t)(1u << tu_rng_below(&r, 8));
            expect_refused(bad, b, n, at);
            b[at] = was;
        }
        /* Truncated and extended files. */
        expect_refused(bad, b, n - 1, n - 1);
        expect_refused(bad, b, 100, 100);
        uint8_t *longer = malloc(n + 1);
        memcpy(longer, b, n);
        longer[n] = 0;
        expect_refused(bad, longer, n + 1, n);
        free(longer);
        /* The pristine bytes still open. */
        assert_int_equal(write_bytes(bad, b, n), 0);
        steme_vector_cold *c = NULL;
        assert_int_equal(steme_vector_cold_open(bad, NULL, &c, NULL), STEME_OK);
        steme_vector_cold_close(c);
        free(b);
        free(path);
        free(bad);
        tu_rmtree_free(dir);
        steme_hnsw_free(h);
        free(data);
    }
}

/* A file of several 16 MiB stripes (the body digest is a tree over them):
 * opens, and a flip in any stripe or at a stripe boundary is refused. */
static void multi_stripe_file(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(13));
    const uint32_t dim = 4096;
    const size_t n = 1100; /* 1100 x 16 KiB vectors: two stripes */
    float *data = vt_random_vectors(&r, n, dim, 0);
    steme_vector_options o;
    steme_vector_options_init(&o, dim);
    o.M = 4;
    o.ef_construction = 8;
    o.max_elements = n;
    steme_hnsw *h = NULL;
    assert_int_equal(steme_hnsw_create(&o, &h, NULL), STEME_OK);
    for (size_t i = 0; i < n; i++) {
        steme_hash id = vt_id((uint32_t)i);
        assert_int_equal(steme_hnsw_add(h, &id, data + i * dim), STEME_OK);
    }
    char *dir = tu_tempdir("vecstripe");
    char *path = steme_path_join(dir, "s.vec"), *bad = steme_path_join(dir, "bad.vec");
    assert_int_equal(steme_hnsw_save(h, path, 0, NULL), STEME_OK);
    uint8_t *b = NULL;
    size_t len = 0;
    assert_int_equal(steme_read_file(path, 1u << 26, &b, &len, NULL), STEME_OK);
    assert_true(len > (16u << 20) + 256);
    steme_vector_cold *c = NULL;
    assert_int_equal(steme_vector_cold_open(path, &o, &c, NULL), STEME_OK);
    steme_vector_hit hit;
    size_t nh;
    assert_int_equal(steme_vector_cold_search(c, data + 7 * dim, 1, 50, &hit, &nh), STEME_OK);
    assert_int_equal(nh, 1);
    assert_int_equal(vt_id_num(&hit.id), 7);
    steme_vector_cold_close(c);
    size_t spots[4] = {256 + (16u << 20) - 1, 256 + (16u << 20), len - 1, 300};
    for (int i = 0; i < 4; i++) {
        b[spots[i]] ^= 1;
        expect_refused(bad, b, len, spots[i]);
        b[spots[i]] ^= 1;
    }
    free(b);
    free(path);
    free(bad);
    tu_rmtree_free(dir);
    steme_hnsw_free(h);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cold_answers_like_hot),
        cmocka_unit_test(empty_index_saves),
        cmocka_unit_test(every_flipped_byte_is_refused),
        cmocka_unit_test(multi_stripe_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
