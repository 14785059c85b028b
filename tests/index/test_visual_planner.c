/*
 * test_visual_planner.c - the visual index's per-query planner: with many
 * entries AUTO answers small radii and k-NN from the hashing tables and
 * large radii by the scan, and its answers equal the scan's. The planner's
 * costs are fixed constants, so the choices are deterministic (no timing).
 * Exactness of every strategy against brute force is in test_visual.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/visual.h"
#include "testutil.h"

static void make_id(tu_rng *rng, steme_hash *id)
{
    tu_rng_bytes(rng, id->bytes, STEME_HASH_LEN);
}

static uint64_t flip_bits(tu_rng *rng, uint64_t c, unsigned max_flips)
{
    unsigned f = (unsigned)tu_rng_below(rng, max_flips + 1);
    for (unsigned i = 0; i < f; i++)
        c ^= 1ull << tu_rng_below(rng, 64);
    return c;
}

/* Order by (distance, id, phash). */
static int hit_cmp(const void *a, const void *b)
{
    const steme_visual_hit *x = a, *y = b;
    if (x->distance != y->distance)
        return x->distance < y->distance ? -1 : 1;
    int c = memcmp(x->id.bytes, y->id.bytes, STEME_HASH_LEN);
    if (c)
        return c;
    return x->phash < y->phash ? -1 : x->phash > y->phash;
}

/* Same answers (as sorted multisets of (distance, phash, id)). */
static void assert_same_hits(steme_visual_hits *a, steme_visual_hits *b)
{
    assert_int_equal(a->count, b->count);
    if (a->count > 1) {
        qsort(a->hits, a->count, sizeof *a->hits, hit_cmp);
        qsort(b->hits, b->count, sizeof *b->hits, hit_cmp);
    }
    for (size_t i = 0; i < a->count; i++) {
        assert_int_equal(a->hits[i].distance, b->hits[i].distance);
        assert_true(a->hits[i].phash == b->hits[i].phash);
        assert_memory_equal(a->hits[i].id.bytes, b->hits[i].id.bytes, STEME_HASH_LEN);
    }
}

/* Uniform hashes plus a few near duplicates of the query. */
static void planner_choices(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(41));
    size_t n = 300000;
    uint64_t *codes = malloc(n * sizeof *codes);
    steme_hash *ids = malloc(n * sizeof *ids);
    assert_true(codes && ids);
    /* Uniform hashes, plus twelve near duplicates of the query so that its
     * 10 nearest lie within 3 bits (uniform hashes are ~20 bits apart). */
    uint64_t q = tu_rng_next(&rng);
    for (size_t i = 0; i < n; i++) {
        codes[i] = i < 12 ? flip_bits(&rng, q, 3) : tu_rng_next(&rng);
        make_id(&rng, &ids[i]);
    }
    steme_visual *v;
    assert_int_equal(steme_visual_create(NULL, &v, NULL), STEME_OK);
    assert_int_equal(steme_visual_insert_batch(v, codes, ids, n, NULL), STEME_OK);
    assert_int_equal(steme_visual_rebuild(v), STEME_OK);
    steme_visual_hits hits, ref;
    steme_visual_hits_init(&hits);
    steme_visual_hits_init(&ref);
    for (unsigned r = 0; r <= 30; r += r < 4 ? 1 : 26) {
        assert_int_equal(steme_visual_radius(v, q, r, STEME_VISUAL_AUTO, &hits), STEME_OK);
        assert_int_equal(hits.strategy, r <= 4 ? STEME_VISUAL_MIH : STEME_VISUAL_SCAN);
        if (r <= 4)
            assert_true(hits.examined < n / 100);
        assert_int_equal(steme_visual_radius(v, q, r, STEME_VISUAL_SCAN, &ref), STEME_OK);
        assert_same_hits(&hits, &ref);
    }
    assert_int_equal(steme_visual_knn(v, q, 10, STEME_VISUAL_AUTO, &hits), STEME_OK);
    assert_int_equal(hits.strategy, STEME_VISUAL_MIH);
    assert_int_equal(steme_visual_knn(v, q, 10, STEME_VISUAL_SCAN, &ref), STEME_OK);
    assert_int_equal(hits.count, 10);
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal(hits.hits[i].distance, ref.hits[i].distance);
        assert_memory_equal(hits.hits[i].id.bytes, ref.hits[i].id.bytes, STEME_HASH_LEN);
    }
    steme_visual_hits_free(&hits);
    steme_visual_hits_free(&ref);
    free(codes);
    free(ids);
    steme_visual_destroy(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(planner_choices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
