/*
 * test_vector_fmnist.c - recall on real data: a Fashion-MNIST subset
 * (the first 5,000 training images as the index, the first 200 test
 * images as queries, 784-d, L2, M 16, efConstruction 200). recall@10 at
 * ef 40 must reach 0.95 against exact search, for F32 and U8 storage, for
 * the hot index and for the same index saved and mapped as a cold file.
 * The data comes from Debian's dataset-fashion-mnist (read through
 * `gzip -dc`); STEME_FASHION_DIR overrides its directory. If it is not
 * installed the test is skipped with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_vector_lib.h"

#define NTRAIN 5000
#define NQUERY 200
#define DIM 784
#define K 10

/* Read the first `want` images of an idx3-ubyte.gz file as floats. */
static float *load_idx(const char *name, size_t want)
{
    const char *dir = getenv("STEME_FASHION_DIR");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s/%s' 2>/dev/null",
             dir ? dir : "/usr/share/datasets/fashion-mnist", name);
    FILE *f = popen(cmd, "r");
    if (!f)
        return NULL;
    unsigned char hdr[16];
    float *out = NULL;
    if (fread(hdr, 1, 16, f) == 16 && hdr[2] == 8 && hdr[3] == 3) {
        size_t n = ((size_t)hdr[4] << 24) | ((size_t)hdr[5] << 16) | ((size_t)hdr[6] << 8) | hdr[7];
        unsigned char *px = malloc(want * DIM);
        if (n >= want && fread(px, DIM, want, f) == want) {
            out = malloc(sizeof(float) * want * DIM);
            for (size_t i = 0; i < want * DIM; i++)
                out[i] = px[i];
        }
        free(px);
    }
    /* Close without draining the rest: gzip gets SIGPIPE, which is fine. */
    pclose(f);
    return out;
}

static float *train, *queries;
static uint32_t truth[NQUERY][K];

static int setup(void **state)
{
    (void)state;
    train = load_idx("train-images-idx3-ubyte.gz", NTRAIN);
    queries = load_idx("t10k-images-idx3-ubyte.gz", NQUERY);
    if (train && queries)
        for (size_t q = 0; q < NQUERY; q++)
            vt_exact(STEME_VECTOR_L2, train, NTRAIN, DIM, NULL, queries + q * DIM, K, truth[q]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(train);
    free(queries);
    return 0;
}

typedef int (*search_fn)(void *idx, const float *q, size_t k, uint32_t ef,
                         steme_vector_hit *hits, size_t *n);

static double recall(void *idx, search_fn fn, uint32_t ef)
{
    size_t found = 0;
    steme_vector_hit hits[K];
    for (size_t q = 0; q < NQUERY; q++) {
        size_t nh;
        assert_int_equal(fn(idx, queries + q * DIM, K, ef, hits, &nh), STEME_OK);
        assert_int_equal(nh, K);
        found += vt_overlap(hits, nh, truth[q], K);
    }
    return (double)found / (NQUERY * K);
}

static int hot_search(void *idx, const float *q, size_t k, uint32_t ef, steme_vector_hit *hits,
                      size_t *n)
{
    return steme_hnsw_search(idx, q, k, ef, hits, n);
}

static int cold_search(void *idx, const float *q, size_t k, uint32_t ef, steme_vector_hit *hits,
                       size_t *n)
{
    return steme_vector_cold_search(idx, q, k, ef, hits, n);
}

static void recall_case(steme_vector_storage st)
{
    if (!train || !queries) {
        fprintf(stderr, "Fashion-MNIST not found (dataset-fashion-mnist); skipped\n");
        skip();
    }
    steme_vector_options o;
    steme_vector_options_init(&o, DIM);
    o.storage = st;
    o.max_elements = NTRAIN;
    steme_hnsw *h = NULL;
    assert_int_equal(steme_hnsw_create(&o, &h, NULL), STEME_OK);
    for (size_t i = 0; i < NTRAIN; i++) {
        steme_hash id = vt_id((uint32_t)i);
        assert_int_equal(steme_hnsw_add(h, &id, train + i * DIM), STEME_OK);
    }
    double r40 = recall(h, hot_search, 40), r10 = recall(h, hot_search, 10);
    fprintf(stderr, "%s hot: recall@10 ef=10 %.4f, ef=40 %.4f\n",
            st == STEME_VECTOR_U8 ? "u8" : "f32", r10, r40);
    assert_true(r40 >= 0.95);

    char *dir = tu_tempdir("vecfm");
    char path[4096];
    snprintf(path, sizeof path, "%s/cold.vec", dir);
    assert_int_equal(steme_hnsw_save(h, path, 0, NULL), STEME_OK);
    steme_vector_cold *c = NULL;
    assert_int_equal(steme_vector_cold_open(path, &o, &c, NULL), STEME_OK);
    double c40 = recall(c, cold_search, 40);
    fprintf(stderr, "%s cold: recall@10 ef=40 %.4f\n", st == STEME_VECTOR_U8 ? "u8" : "f32", c40);
    assert_true(c40 >= 0.95);
    steme_vector_cold_close(c);
    tu_rmtree_free(dir);
    steme_hnsw_free(h);
}

static void recall_f32(void **state)
{
    (void)state;
    recall_case(STEME_VECTOR_F32);
}

static void recall_u8(void **state)
{
    (void)state;
    recall_case(STEME_VECTOR_U8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(recall_f32),
        cmocka_unit_test(recall_u8),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
