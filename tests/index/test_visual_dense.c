/*
 * test_visual_dense.c - the dense region (src/index/visual/dense.h): which
 * entries it holds and in what order, that uniform data gets none, and that
 * radius queries answered through it (AUTO) equal brute force with every
 * kernel, with tombstones and with an unindexed tail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "index/visual/dense.h"
#include "index/visual/visual_int.h"
#include "steme/visual.h"
#include "testutil.h"

#define N_ENTRIES 40000u

static unsigned dist(uint64_t a, uint64_t b)
{
    return (unsigned)__builtin_popcountll(a ^ b);
}

static uint64_t flip_bits(tu_rng *rng, uint64_t c, unsigned max_flips)
{
    unsigned f = (unsigned)tu_rng_below(rng, max_flips + 1);
    for (unsigned i = 0; i < f; i++)
        c ^= 1ull << tu_rng_below(rng, 64);
    return c;
}

typedef struct entries {
    uint64_t *code;
    steme_hash *id;
    int *alive;
    size_t n, cap;
} entries;

static void add(entries *e, uint64_t code, tu_rng *rng)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 1024;
        e->code = realloc(e->code, e->cap * sizeof *e->code);
        e->id = realloc(e->id, e->cap * sizeof *e->id);
        e->alive = realloc(e->alive, e->cap * sizeof *e->alive);
        assert_true(e->code && e->id && e->alive);
    }
    e->code[e->n] = code;
    tu_rng_bytes(rng, e->id[e->n].bytes, STEME_HASH_LEN);
    e->alive[e->n] = 1;
    e->n++;
}

static void free_entries(entries *e)
{
    free(e->code);
    free(e->id);
    free(e->alive);
}

/* A tenth of the entries within 3 of a centre, a fortieth 5-8 away from
 * it, the rest uniform (as in near-duplicate image sets: one big cluster). */
static void clustered(entries *e, tu_rng *rng, uint64_t centre, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t pick = tu_rng_below(rng, 40);
        uint64_t c = pick < 4 ? flip_bits(rng, centre, 3) : tu_rng_next(rng);
        if (pick == 4) {
            c = centre;
            unsigned f = 5 + (unsigned)tu_rng_below(rng, 4);
            while (dist(c, centre) < f)
                c ^= 1ull << tu_rng_below(rng, 64);
        }
        add(e, c, rng);
    }
}

static steme_visual *load(const entries *e)
{
    steme_visual *v;
    assert_int_equal(steme_visual_create(NULL, &v, NULL), STEME_OK);
    assert_int_equal(steme_visual_insert_batch(v, e->code, e->id, e->n, NULL), STEME_OK);
    assert_int_equal(steme_visual_rebuild(v), STEME_OK);
    return v;
}

/* The region holds exactly the entries within its radius of its centre,
 * sorted by that distance (ring starts right), each with its own id. */
static void region_layout(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(61));
    uint64_t centre = tu_rng_next(&rng);
    entries e = {0};
    clustered(&e, &rng, centre, N_ENTRIES);
    steme_visual *v = load(&e);
    const vd_region *d = &v->v_dense;
    assert_true(d->dn_n > 0);
    /* The majority of the cluster is its centre. */
    assert_true(dist(d->dn_center, centre) <= 1);
    assert_true(d->dn_radius >= DN_MIN_RADIUS && d->dn_n <= N_ENTRIES / DN_SHARE);
    size_t within = 0;
    for (size_t i = 0; i < v->v_slots; i++)
        within += dist(v->v_code[i], d->dn_center) <= d->dn_radius;
    assert_int_equal(within, d->dn_n);
    assert_int_equal(d->dn_ring[0], 0);
    assert_int_equal(d->dn_ring[d->dn_radius + 1], d->dn_n);
    unsigned D = d->dn_radius;
    for (unsigned j = 0; j <= D; j++) {
        assert_int_equal(d->dn_ring[j], d->dn_cell[j * DN_SUB]);
        for (unsigned k = 0; k < DN_SUB; k++)
            for (uint32_t i = d->dn_cell[j * DN_SUB + k]; i < d->dn_cell[j * DN_SUB + k + 1];
                 i++) {
                assert_int_equal(dist(d->dn_code[i], d->dn_center), j);
                assert_int_equal(dist(d->dn_code[i], d->dn_center2), k);
                uint32_t s = d->dn_slot[i];
                assert_true(s < v->v_slots);
                assert_true(v->v_code[s] == d->dn_code[i]);
                assert_memory_equal(v->v_id[s].bytes, d->dn_id[i].bytes, STEME_HASH_LEN);
                /* Slot order within a cell (the sort is stable). */
                if (i > d->dn_cell[j * DN_SUB + k])
                    assert_true(d->dn_slot[i - 1] < s);
            }
    }
    assert_int_equal(d->dn_cell[(D + 1) * DN_SUB], d->dn_n);
    /* vd_annulus: SIZE_MAX unless the ball of radius r around q is inside;
     * else exactly the entries within r of q's distances to both pivots,
     * never more than the one-pivot annulus. */
    int cut = 0;
    for (int t = 0; t < 400; t++) {
        uint64_t q = flip_bits(&rng, t % 2 ? d->dn_center : d->dn_center2, 12);
        unsigned r = (unsigned)tu_rng_below(&rng, D + 2);
        unsigned dq = dist(q, d->dn_center), dq2 = dist(q, d->dn_center2);
        size_t ann = vd_annulus(d, q, r);
        if (dq + r > D) {
            assert_int_equal(ann, SIZE_MAX);
            continue;
        }
        size_t want = 0;
        for (size_t i = 0; i < d->dn_n; i++) {
            unsigned a = dist(d->dn_code[i], d->dn_center), b = dist(d->dn_code[i], d->dn_center2);
            want += (a > dq ? a - dq : dq - a) <= r && (b > dq2 ? b - dq2 : dq2 - b) <= r;
        }
        assert_int_equal(ann, want);
        unsigned lo = dq > r ? dq - r : 0;
        size_t one_pivot = d->dn_ring[dq + r + 1] - d->dn_ring[lo];
        assert_true(ann <= one_pivot);
        cut += ann < one_pivot;
    }
    /* The second pivot is not the centre here, and it cuts some annuli. */
    assert_true(d->dn_center2 != d->dn_center);
    assert_true(cut > 0);
    assert_int_equal(vd_annulus(d, d->dn_center, D + 1), SIZE_MAX);
    steme_visual_destroy(v);
    free_entries(&e);
}

/* Uniform hashes, and too small an index: no region. */
static void no_region_without_cluster(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(62));
    entries e = {0};
    for (size_t i = 0; i < N_ENTRIES; i++)
        add(&e, tu_rng_next(&rng), &rng);
    steme_visual *v = load(&e);
    assert_true(v->v_mih.mh_built);
    assert_int_equal(v->v_dense.dn_n, 0);
    steme_visual_destroy(v);
    free_entries(&e);
    entries f = {0};
    clustered(&f, &rng, tu_rng_next(&rng), 3000);
    v = load(&f);
    assert_int_equal(v->v_dense.dn_n, 0);
    steme_visual_destroy(v);
    free_entries(&f);
}

/* Brute-force count and distance sum of the live entries within r. */
static void brute(const entries *e, uint64_t q, unsigned r, size_t *n, uint64_t *dsum)
{
    *n = 0;
    *dsum = 0;
    for (size_t i = 0; i < e->n; i++)
        if (e->alive[i] && dist(e->code[i], q) <= r) {
            (*n)++;
            *dsum += dist(e->code[i], q);
        }
}

static int find(const entries *e, const steme_visual_hit *h)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->alive[i] && e->code[i] == h->phash &&
            memcmp(e->id[i].bytes, h->id.bytes, STEME_HASH_LEN) == 0)
            return 1;
    return 0;
}

/* Radius queries near the centre through AUTO equal brute force (count,
 * distances, and every hit a live entry, none twice); returns how many
 * went through the region (examined = annulus + tail). */
static int dense_queries(steme_visual *v, const entries *e, tu_rng *rng, int nq)
{
    const vd_region *d = &v->v_dense;
    steme_visual_hits h;
    steme_visual_hits_init(&h);
    int used = 0;
    for (int i = 0; i < nq; i++) {
        uint64_t q = flip_bits(rng, d->dn_center, 3);
        unsigned r = (unsigned)tu_rng_below(rng, 9);
        assert_int_equal(steme_visual_radius(v, q, r, STEME_VISUAL_AUTO, &h), STEME_OK);
        size_t n;
        uint64_t dsum, got = 0;
        brute(e, q, r, &n, &dsum);
        assert_int_equal(h.count, n);
        for (size_t j = 0; j < h.count; j++) {
            assert_int_equal(h.hits[j].distance, dist(h.hits[j].phash, q));
            assert_int_equal(h.hits[j].reserved_, 0);
            got += h.hits[j].distance;
        }
        assert_true(got == dsum);
        /* Identity of every hit, and no hit twice, on a sample of queries
         * (the check is quadratic). */
        if (i % 8 == 0)
            for (size_t j = 0; j < h.count; j++) {
                assert_true(find(e, &h.hits[j]));
                for (size_t k = j + 1; k < h.count && k < j + 64; k++)
                    assert_false(h.hits[k].phash == h.hits[j].phash &&
                                 memcmp(h.hits[k].id.bytes, h.hits[j].id.bytes,
                                        STEME_HASH_LEN) == 0);
            }
        size_t ann = vd_annulus(d, q, r);
        if (ann != SIZE_MAX && h.examined == ann + (v->v_slots - v->v_mih.mh_covered))
            used++;
    }
    steme_visual_hits_free(&h);
    return used;
}

/* Every kernel; then 15% tombstones; then an unindexed tail. */
static void region_queries_match(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(63));
    entries e = {0};
    clustered(&e, &rng, tu_rng_next(&rng), N_ENTRIES);
    steme_visual *v = load(&e);
    assert_true(v->v_dense.dn_n > 0);
    for (size_t ki = 0; ki < vh_kernel_count(); ki++) {
        const vh_kernel *k = vh_kernel_at(ki);
        if (!vh_kernel_usable(k))
            continue;
        v->v_kernel = k;
        assert_true(dense_queries(v, &e, &rng, 40) > 0);
    }
    v->v_kernel = vh_best();
    for (size_t i = 0; i < e.n; i++)
        if (tu_rng_below(&rng, 100) < 15) {
            assert_int_equal(steme_visual_remove(v, e.code[i], &e.id[i]), STEME_OK);
            e.alive[i] = 0;
        }
    assert_true(v->v_dense.dn_n > 0 && v->v_live < v->v_slots);
    assert_true(dense_queries(v, &e, &rng, 40) > 0);
    uint64_t centre = v->v_dense.dn_center;
    for (int i = 0; i < 500; i++) {
        steme_hash id;
        tu_rng_bytes(&rng, id.bytes, STEME_HASH_LEN);
        uint64_t c = flip_bits(&rng, centre, 3);
        if (steme_visual_insert(v, c, &id) == STEME_OK) {
            add(&e, c, &rng);
            e.id[e.n - 1] = id;
        }
    }
    assert_true(v->v_mih.mh_covered < v->v_slots);
    assert_true(dense_queries(v, &e, &rng, 40) > 0);
    steme_visual_destroy(v);
    free_entries(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(region_layout),
        cmocka_unit_test(no_region_without_cluster),
        cmocka_unit_test(region_queries_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
