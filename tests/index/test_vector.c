/*
 * test_vector.c - the in-memory HNSW index against brute force: every
 * distance kernel this CPU has against the portable one, exact agreement
 * on small random sets for every metric and storage, random insert/delete
 * sequences against a model (tombstones never returned), searches from
 * several threads while inserts run, result merging, and bad input.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "index/vector/vec_dist.h"
#include "test_vector_lib.h"

/* ---- kernels --------------------------------------------------------- */

static void check_table(const vec_kernels *k, const vec_kernels *s, tu_rng *r)
{
    static const uint32_t dims[] = {1, 3, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 128, 784, 4096};
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
        uint32_t dim = dims[di];
        float *fa = vt_random_vectors(r, 1, dim, 0), *fb = vt_random_vectors(r, 1, dim, 0);
        float *ba = vt_random_vectors(r, 1, dim, 1);
        uint8_t *ua = malloc(dim), *ub = malloc(dim);
        for (uint32_t i = 0; i < dim; i++) {
            ua[i] = (uint8_t)ba[i];
            ub[i] = (uint8_t)tu_rng_below(r, 256);
        }
        /* Byte kernels are exact: equal results, whatever the CPU. */
        assert_true(k->l2_u8(ua, ub, dim) == s->l2_u8(ua, ub, dim));
        assert_true(k->ip_u8(ua, ub, dim) == s->ip_u8(ua, ub, dim));
        float tol = 1e-4f * (float)dim;
        assert_float_equal(k->l2_f32(fa, fb, dim), s->l2_f32(fa, fb, dim), tol);
        assert_float_equal(k->ip_f32(fa, fb, dim), s->ip_f32(fa, fb, dim), tol);
        /* Float query vs bytes, with an integral query, equals bytes vs bytes. */
        assert_float_equal(k->l2_f32u8(ba, ub, dim), s->l2_u8(ua, ub, dim),
                           1e-6f * s->l2_u8(ua, ub, dim) + 1e-3f);
        assert_float_equal(k->ip_f32u8(fa, ub, dim), s->ip_f32u8(fa, ub, dim), tol * 255);
        free(fa);
        free(fb);
        free(ba);
        free(ua);
        free(ub);
    }
}

static void kernels_match_scalar(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(1));
    const vec_kernels *s = vec_kernels_scalar();
    check_table(s, s, &r);
    if (vec_kernels_avx2())
        check_table(vec_kernels_avx2(), s, &r);
    if (vec_kernels_avx512())
        check_table(vec_kernels_avx512(), s, &r);
    fprintf(stderr, "kernels in use: %s\n", vec_kernels_get()->name);
}

/* ---- agreement with brute force -------------------------------------- */

static steme_hnsw *build(const float *data, size_t n, uint32_t dim, steme_vector_metric m,
                         steme_vector_storage st, uint32_t M)
{
    steme_vector_options o;
    steme_vector_options_init(&o, dim);
    o.metric = m;
    o.storage = st;
    o.M = M;
    o.ef_construction = 100;
    o.max_elements = n + 16;
    steme_hnsw *h = NULL;
    assert_int_equal(steme_hnsw_create(&o, &h, NULL), STEME_OK);
    for (size_t i = 0; i < n; i++) {
        steme_hash id = vt_id((uint32_t)i);
        assert_int_equal(steme_hnsw_add(h, &id, data + i * dim), STEME_OK);
    }
    assert_int_equal(steme_hnsw_count(h), n);
    return h;
}

static void agree_case(tu_rng *r, steme_vector_metric m, steme_vector_storage st)
{
    const size_t n = 400, nq = 30, k = 10;
    const uint32_t dim = 24;
    float *data = vt_random_vectors(r, n, dim, st == STEME_VECTOR_U8);
    float *qs = vt_random_vectors(r, nq, dim, 0);
    if (st == STEME_VECTOR_U8)
        for (size_t i = 0; i < nq * dim; i++)
            qs[i] = qs[i] * 128.0f + 128.0f;
    steme_hnsw *h = build(data, n, dim, m, st, 8);
    steme_vector_hit hits[10];
    uint32_t truth[10];
    size_t found40 = 0;
    for (size_t q = 0; q < nq; q++) {
        size_t nh, nt = vt_exact(m, data, n, dim, NULL, qs + q * dim, k, truth);
        /* ef = n explores every reachable node: results must be exact. */
        assert_int_equal(steme_hnsw_search(h, qs + q * dim, k, (uint32_t)n, hits, &nh), STEME_OK);
        assert_int_equal(nh, nt);
        assert_int_equal(vt_overlap(hits, nh, truth, nt), nt);
        for (size_t i = 0; i < nh; i++) {
            double want = vt_dist(m, qs + q * dim, data + (size_t)vt_id_num(&hits[i].id) * dim, dim);
            assert_float_equal(hits[i].distance, want, 1e-3 * (fabs(want) + 1));
            if (i)
                assert_true(hits[i - 1].distance <= hits[i].distance);
        }
        assert_int_equal(steme_hnsw_search(h, qs + q * dim, k, 40, hits, &nh), STEME_OK);
        found40 += vt_overlap(hits, nh, truth, nt);
    }
    assert_true(found40 >= nq * k * 95 / 100);
    steme_hnsw_free(h);
    free(data);
    free(qs);
}

static void small_sets_match_bruteforce(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(2));
    agree_case(&r, STEME_VECTOR_L2, STEME_VECTOR_F32);
    agree_case(&r, STEME_VECTOR_IP, STEME_VECTOR_F32);
    agree_case(&r, STEME_VECTOR_COSINE, STEME_VECTOR_F32);
    agree_case(&r, STEME_VECTOR_L2, STEME_VECTOR_U8);
    agree_case(&r, STEME_VECTOR_IP, STEME_VECTOR_U8);
}

/* Odd dimensions (kernel tails), with M = 6 exact at full ef; M = 2 (the
 * smallest: the heuristic may leave the graph disconnected, so only the
 * results' validity is checked). */
static void odd_dims_and_small_m(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(3));
    static const uint32_t dims[] = {1, 5, 33, 131};
    for (size_t di = 0; di < 4; di++) {
        for (uint32_t M = 2; M <= 6; M += 4) {
            uint32_t dim = dims[di];
            size_t n = 200;
            float *data = vt_random_vectors(&r, n, dim, 0);
            steme_hnsw *h = build(data, n, dim, STEME_VECTOR_L2, STEME_VECTOR_F32, M);
            steme_vector_hit hits[5];
            uint32_t truth[5];
            for (size_t q = 0; q < 10; q++) {
                const float *qv = data + q * dim;
                size_t nh, nt = vt_exact(STEME_VECTOR_L2, data, n, dim, NULL, qv, 5, truth);
                assert_int_equal(steme_hnsw_search(h, qv, 5, 400, hits, &nh), STEME_OK);
                assert_true(nh >= 1 && nh <= nt);
                for (size_t i = 0; i < nh; i++) {
                    double d = vt_dist(STEME_VECTOR_L2, qv, data + (size_t)vt_id_num(&hits[i].id) * dim, dim);
                    assert_float_equal(hits[i].distance, d, 1e-4 * (d + 1));
                }
                if (M == 2)
                    continue;
                assert_int_equal(nh, nt);
                /* dim 1 has ties; compare distances, not ids. */
                double want = vt_dist(STEME_VECTOR_L2, qv, data + (size_t)truth[nt - 1] * dim, dim);
                assert_float_equal(hits[nh - 1].distance, want, 1e-4 * (want + 1));
            }
            steme_hnsw_free(h);
            free(data);
        }
    }
}

/* ---- random inserts and deletes against a model ---------------------- */

static void random_ops_match_model(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(4));
    const uint32_t dim = 16, ids = 300;
    float *vecs = vt_random_vectors(&r, ids, dim, 0);
    unsigned char live[300] = {0};
    steme_vector_options o;
    steme_vector_options_init(&o, dim);
    o.M = 6;
    o.ef_construction = 64;
    o.max_elements = 4000;
    steme_hnsw *h = NULL;
    assert_int_equal(steme_hnsw_create(&o, &h, NULL), STEME_OK);
    size_t nlive = 0;
    for (int op = 0; op < 1500; op++) {
        uint32_t i = (uint32_t)tu_rng_below(&r, ids);
        steme_hash id = vt_id(i);
        if (tu_rng_below(&r, 3) == 0) {
            assert_int_equal(steme_hnsw_delete(h, &id), live[i] ? STEME_OK : STEME_E_NOTFOUND);
            nlive -= live[i];
            live[i] = 0;
        } else if (live[i]) {
            assert_int_equal(steme_hnsw_add(h, &id, vecs + (size_t)i * dim), STEME_E_EXISTS);
        } else {
            /* A re-insert gets a new vector: the old node stays a tombstone. */
            for (uint32_t d = 0; d < dim; d++)
                vecs[(size_t)i * dim + d] += 0.01f;
            assert_int_equal(steme_hnsw_add(h, &id, vecs + (size_t)i * dim), STEME_OK);
            live[i] = 1;
            nlive++;
        }
        assert_int_equal(steme_hnsw_count(h), nlive);
        assert_int_equal(steme_hnsw_contains(h, &id), live[i]);
        if (op % 50 == 49) {
            steme_vector_hit hits[10];
            uint32_t truth[10];
            const float *q = vecs + tu_rng_below(&r, ids) * dim;
            size_t nh, nt = vt_exact(STEME_VECTOR_L2, vecs, ids, dim, live, q, 10, truth);
            assert_int_equal(steme_hnsw_search(h, q, 10, 2000, hits, &nh), STEME_OK);
            for (size_t j = 0; j < nh; j++)
                assert_true(live[vt_id_num(&hits[j].id)]);
            assert_int_equal(nh, nt);
            assert_true(vt_overlap(hits, nh, truth, nt) >= nt - 1);
        }
    }
    steme_hnsw_free(h);
    free(vecs);
}

/* ---- concurrency ----------------------------------------------------- */

typedef struct reader_arg {
    steme_hnsw *h;
    const float *data;
    uint32_t dim;
    size_t n;
    int *stop;
    size_t searches;
    int bad;
} reader_arg;

static void *reader(void *p)
{
    reader_arg *a = p;
    tu_rng r;
    tu_rng_seed(&r, (uint64_t)(uintptr_t)p);
    steme_vector_hit hits[10];
    while (!__atomic_load_n(a->stop, __ATOMIC_ACQUIRE)) {
        const float *q = a->data + tu_rng_below(&r, a->n) * a->dim;
        size_t nh;
        if (steme_hnsw_search(a->h, q, 10, 40, hits, &nh) != STEME_OK)
            a->bad++;
        for (size_t i = 0; i < nh; i++) {
            uint32_t id = vt_id_num(&hits[i].id);
            if (id >= a->n)
                a->bad++;
            else if (fabs(hits[i].distance - vt_dist(STEME_VECTOR_L2, q, a->data + (size_t)id * a->dim,
                                                     a->dim)) > 1e-3)
                a->bad++;
            if (i && hits[i - 1].distance > hits[i].distance)
                a->bad++;
        }
        a->searches++;
    }
    return NULL;
}

static void searches_during_inserts(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(5));
    const uint32_t dim = 32;
    const size_t n = 1500;
    float *data = vt_random_vectors(&r, n, dim, 0);
    steme_vector_options o;
    steme_vector_options_init(&o, dim);
    o.M = 8;
    o.ef_construction = 64;
    o.max_elements = n;
    steme_hnsw *h = NULL;
    assert_int_equal(steme_hnsw_create(&o, &h, NULL), STEME_OK);
    int stop = 0;
    reader_arg a[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (reader_arg){h, data, dim, n, &stop, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, reader, &a[i]), 0);
    }
    for (size_t i = 0; i < n; i++) {
        steme_hash id = vt_id((uint32_t)i);
        assert_int_equal(steme_hnsw_add(h, &id, data + i * dim), STEME_OK);
        if (i % 7 == 3) {
            steme_hash dead = vt_id((uint32_t)(i - 3));
            assert_int_equal(steme_hnsw_delete(h, &dead), STEME_OK);
        }
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].bad, 0);
    }
    steme_hnsw_free(h);
    free(data);
}

/* ---- merging --------------------------------------------------------- */

static steme_vector_hit hit(uint32_t id, float d)
{
    steme_vector_hit h = {vt_id(id), d};
    return h;
}

static void merge_dedupes_newer_wins(void **state)
{
    (void)state;
    steme_vector_hit newer[] = {hit(1, 0.5f), hit(2, 2.0f), hit(3, 3.0f)};
    steme_vector_hit older[] = {hit(2, 0.1f), hit(4, 1.0f), hit(1, 1.5f), hit(5, 2.5f)};
    steme_vector_hit out[10];
    size_t n;
    assert_int_equal(steme_vector_merge_results(newer, 3, older, 4, 10, out, &n), STEME_OK);
    /* id 2's older (closer) entry is gone: the newer vector replaced it. */
    uint32_t want[] = {1, 4, 2, 5, 3};
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(vt_id_num(&out[i].id), want[i]);
    assert_float_equal(out[2].distance, 2.0f, 0);
    assert_int_equal(steme_vector_merge_results(newer, 3, older, 4, 2, out, &n), STEME_OK);
    assert_int_equal(n, 2);
    assert_int_equal(steme_vector_merge_results(NULL, 0, older, 4, 3, out, &n), STEME_OK);
    assert_int_equal(n, 3);
    assert_int_equal(steme_vector_merge_results(NULL, 0, NULL, 0, 3, out, &n), STEME_OK);
    assert_int_equal(n, 0);
    assert_int_equal(steme_vector_merge_results(NULL, 2, older, 4, 3, out, &n), STEME_E_INVALID);
    assert_int_equal(steme_vector_merge_results(newer, 3, older, 4, 3, out, NULL), STEME_E_INVALID);
}

/* ---- bad input ------------------------------------------------------- */

static void bad_input(void **state)
{
    (void)state;
    steme_vector_options o;
    steme_hnsw *h = NULL;
    steme_error e;
    steme_vector_options_init(&o, 0);
    assert_int_equal(steme_hnsw_create(&o, &h, &e), STEME_E_INVALID);
    assert_null(h);
    o.dim = STEME_VECTOR_MAX_DIM + 1;
    assert_int_equal(steme_hnsw_create(&o, &h, &e), STEME_E_INVALID);
    steme_vector_options_init(&o, 4);
    o.M = 1;
    assert_int_equal(steme_hnsw_create(&o, &h, &e), STEME_E_INVALID);
    steme_vector_options_init(&o, 4);
    o.storage = STEME_VECTOR_U8;
    o.metric = STEME_VECTOR_COSINE;
    assert_int_equal(steme_hnsw_create(&o, &h, &e), STEME_E_INVALID);
    o.metric = (steme_vector_metric)9;
    assert_int_equal(steme_hnsw_create(&o, &h, &e), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_create(NULL, &h, &e), STEME_E_INVALID);
    steme_vector_options_init(&o, 4);
    assert_int_equal(steme_hnsw_create(&o, NULL, &e), STEME_E_INVALID);

    o.max_elements = 3;
    o.storage = STEME_VECTOR_U8;
    assert_int_equal(steme_hnsw_create(&o, &h, &e), STEME_OK);
    steme_hash id = vt_id(1);
    float v[4] = {1, 2, 3, 4}, frac[4] = {1, 2.5f, 3, 4}, big[4] = {1, 256, 3, 4};
    float nan[4] = {1, NAN, 3, 4};
    steme_vector_hit hits[4];
    size_t nh = 99;
    assert_int_equal(steme_hnsw_search(h, v, 3, 0, hits, &nh), STEME_OK); /* empty */
    assert_int_equal(nh, 0);
    assert_int_equal(steme_hnsw_add(h, &id, frac), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_add(h, &id, big), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_add(h, &id, nan), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_count(h), 0);
    assert_int_equal(steme_hnsw_add(h, NULL, v), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_add(h, &id, NULL), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_add(NULL, &id, v), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_add(h, &id, v), STEME_OK);
    assert_int_equal(steme_hnsw_add(h, &id, v), STEME_E_EXISTS);
    assert_non_null(strstr(steme_hnsw_errmsg(h), "already"));
    steme_hash id2 = vt_id(2), id3 = vt_id(3);
    assert_int_equal(steme_hnsw_add(h, &id2, v), STEME_OK);
    assert_int_equal(steme_hnsw_delete(h, &id2), STEME_OK);
    assert_int_equal(steme_hnsw_delete(h, &id2), STEME_E_NOTFOUND);
    assert_int_equal(steme_hnsw_delete(h, &id3), STEME_E_NOTFOUND);
    assert_int_equal(steme_hnsw_delete(h, NULL), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_add(h, &id2, v), STEME_OK); /* third node */
    assert_int_equal(steme_hnsw_add(h, &id3, v), STEME_E_FULL);
    /* Searches: fractional queries are fine on U8 storage; k bounds. */
    assert_int_equal(steme_hnsw_search(h, frac, 4, 0, hits, &nh), STEME_OK);
    assert_int_equal(nh, 2);
    assert_float_equal(hits[0].distance, 0.25f, 1e-6);
    assert_int_equal(steme_hnsw_search(h, nan, 4, 0, hits, &nh), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_search(h, v, 0, 0, hits, &nh), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_search(h, v, STEME_VECTOR_MAX_EF + 1, 0, hits, &nh), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_search(h, v, 1, STEME_VECTOR_MAX_EF + 1, hits, &nh), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_search(h, NULL, 1, 0, hits, &nh), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_search(h, v, 1, 0, NULL, &nh), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_search(NULL, v, 1, 0, hits, &nh), STEME_E_INVALID);
    assert_false(steme_hnsw_contains(h, NULL));
    assert_false(steme_hnsw_contains(NULL, &id));
    assert_int_equal(steme_hnsw_count(NULL), 0);
    steme_hnsw_free(h);
    steme_hnsw_free(NULL);

    /* Cosine: a zero vector has no direction. */
    steme_vector_options_init(&o, 4);
    o.metric = STEME_VECTOR_COSINE;
    o.max_elements = 4;
    assert_int_equal(steme_hnsw_create(&o, &h, &e), STEME_OK);
    float zero[4] = {0, 0, 0, 0};
    assert_int_equal(steme_hnsw_add(h, &id, zero), STEME_E_INVALID);
    assert_int_equal(steme_hnsw_add(h, &id, v), STEME_OK);
    assert_int_equal(steme_hnsw_search(h, zero, 1, 0, hits, &nh), STEME_E_INVALID);
    steme_hnsw_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kernels_match_scalar),
        cmocka_unit_test(small_sets_match_bruteforce),
        cmocka_unit_test(odd_dims_and_small_m),
        cmocka_unit_test(random_ops_match_model),
        cmocka_unit_test(searches_during_inserts),
        cmocka_unit_test(merge_dedupes_newer_wins),
        cmocka_unit_test(bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
