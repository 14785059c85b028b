/*
 * test_visual.c - the in-memory visual index against a brute-force model:
 * every kernel this CPU has, every strategy, random and clustered hashes,
 * random insert/remove sequences (through table rebuilds and compaction),
 * plus bad input and the dHash. The kernels and tables on their own are in
 * test_visual_tables.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "index/visual/hamming.h"
#include "index/visual/mih.h"
#include "index/visual/visual_int.h"
#include "steme/visual.h"
#include "testutil.h"

/* ---- model -------------------------------------------------------------- */

typedef struct model_entry {
    uint64_t code;
    steme_hash id;
    int alive;
} model_entry;

typedef struct model {
    model_entry *e;
    size_t n, cap;
} model;

static void model_add(model *m, uint64_t code, const steme_hash *id)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
        assert_non_null(m->e);
    }
    m->e[m->n++] = (model_entry){code, *id, 1};
}

static model_entry *model_find(model *m, uint64_t code, const steme_hash *id)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].alive && m->e[i].code == code &&
            memcmp(m->e[i].id.bytes, id->bytes, STEME_HASH_LEN) == 0)
            return &m->e[i];
    return NULL;
}

static size_t model_live(const model *m)
{
    size_t c = 0;
    for (size_t i = 0; i < m->n; i++)
        c += m->e[i].alive;
    return c;
}

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

/* Brute force: every live entry within r, sorted by (distance, id, phash). */
static steme_visual_hit *model_radius(const model *m, uint64_t q, unsigned r, size_t *n)
{
    steme_visual_hit *h = malloc((m->n + 1) * sizeof *h);
    assert_non_null(h);
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++) {
        unsigned d = (unsigned)__builtin_popcountll(m->e[i].code ^ q);
        if (m->e[i].alive && d <= r)
            h[k++] = (steme_visual_hit){m->e[i].code, d, 0, m->e[i].id};
    }
    if (k > 1)
        qsort(h, k, sizeof *h, hit_cmp);
    *n = k;
    return h;
}

static void check_radius(steme_visual *v, const model *m, steme_visual_hits *hits, uint64_t q,
                         unsigned r, steme_visual_strategy st)
{
    assert_int_equal(steme_visual_radius(v, q, r, st, hits), STEME_OK);
    size_t n;
    steme_visual_hit *want = model_radius(m, q, r, &n);
    if (hits->count != n)
        fprintf(stderr, "radius q=%016llx r=%u st=%d got %zu want %zu (used %d)\n",
                (unsigned long long)q, r, (int)st, hits->count, n, hits->strategy);
    assert_int_equal(hits->count, n);
    if (hits->count > 1)
        qsort(hits->hits, hits->count, sizeof *hits->hits, hit_cmp);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(hits->hits[i].distance, want[i].distance);
        assert_true(hits->hits[i].phash == want[i].phash);
        assert_memory_equal(hits->hits[i].id.bytes, want[i].id.bytes, STEME_HASH_LEN);
    }
    if (st != STEME_VISUAL_AUTO)
        assert_int_equal(hits->strategy, st == STEME_VISUAL_MIH && !v->v_mih.mh_built
                                             ? STEME_VISUAL_SCAN : (int)st);
    free(want);
}

/* k-NN: same (distance, id) sequence as the brute-force order. */
static void check_knn(steme_visual *v, const model *m, steme_visual_hits *hits, uint64_t q,
                      size_t k, steme_visual_strategy st)
{
    assert_int_equal(steme_visual_knn(v, q, k, st, hits), STEME_OK);
    size_t n;
    steme_visual_hit *want = model_radius(m, q, 64, &n);
    size_t expect = n < k ? n : k;
    assert_int_equal(hits->count, expect);
    for (size_t i = 0; i < expect; i++) {
        const steme_visual_hit *g = &hits->hits[i];
        assert_int_equal(g->distance, want[i].distance);
        assert_memory_equal(g->id.bytes, want[i].id.bytes, STEME_HASH_LEN);
        assert_int_equal((unsigned)__builtin_popcountll(g->phash ^ q), g->distance);
        assert_non_null(model_find((model *)m, g->phash, &g->id));
    }
    free(want);
}

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

/* ---- queries vs brute force --------------------------------------------- */

static const steme_visual_strategy all_strategies[] = {
    STEME_VISUAL_AUTO, STEME_VISUAL_SCAN, STEME_VISUAL_MIH, STEME_VISUAL_BKTREE};

static void fill(steme_visual *v, model *m, tu_rng *rng, size_t n, int clustered)
{
    uint64_t centres[40];
    for (size_t i = 0; i < 40; i++)
        centres[i] = tu_rng_next(rng);
    uint64_t *codes = malloc(n * sizeof *codes);
    steme_hash *ids = malloc(n * sizeof *ids);
    assert_true(codes && ids);
    size_t before = model_live(m);
    for (size_t i = 0; i < n; i++) {
        uint64_t c = clustered ? flip_bits(rng, centres[tu_rng_below(rng, 40)], 6)
                               : tu_rng_next(rng);
        steme_hash id;
        make_id(rng, &id);
        /* Some hashes shared by several ids, some ids with several hashes. */
        if (i > 0 && tu_rng_below(rng, 10) == 0)
            c = codes[tu_rng_below(rng, i)];
        if (i > 0 && tu_rng_below(rng, 20) == 0)
            id = ids[tu_rng_below(rng, i)];
        codes[i] = c;
        ids[i] = id;
        if (!model_find(m, c, &id))
            model_add(m, c, &id);
    }
    size_t inserted = 0;
    assert_int_equal(steme_visual_insert_batch(v, codes, ids, n, &inserted), STEME_OK);
    assert_int_equal(inserted, model_live(m) - before);
    free(codes);
    free(ids);
}

static void run_queries(steme_visual *v, model *m, tu_rng *rng, int nq)
{
    static const unsigned radii[] = {0, 1, 2, 3, 4, 5, 7, 8, 12, 20, 64};
    static const size_t ks[] = {1, 3, 10, 100};
    steme_visual_hits hits;
    steme_visual_hits_init(&hits);
    for (int i = 0; i < nq; i++) {
        /* Half the queries near stored hashes, half anywhere. */
        uint64_t q = (i & 1) || m->n == 0 ? tu_rng_next(rng)
                                          : flip_bits(rng, m->e[tu_rng_below(rng, m->n)].code, 5);
        for (size_t s = 0; s < 4; s++) {
            if (all_strategies[s] == STEME_VISUAL_MIH && !v->v_opts.enable_mih)
                continue;
            unsigned r = radii[tu_rng_below(rng, sizeof radii / sizeof *radii)];
            check_radius(v, m, &hits, q, r, all_strategies[s]);
            check_knn(v, m, &hits, q, ks[tu_rng_below(rng, 4)], all_strategies[s]);
        }
    }
    steme_visual_hits_free(&hits);
}

static void queries_match_brute_force(int clustered, int mih)
{
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(20 + (uint64_t)clustered));
    for (size_t ki = 0; ki < vh_kernel_count(); ki++) {
        const vh_kernel *k = vh_kernel_at(ki);
        if (!vh_kernel_usable(k))
            continue;
        steme_visual_options o;
        steme_visual_options_init(&o);
        o.enable_mih = mih;
        steme_visual *v;
        assert_int_equal(steme_visual_create(&o, &v, NULL), STEME_OK);
        v->v_kernel = k;
        model m = {0};
        fill(v, &m, &rng, 3000, clustered);
        if (mih) {
            assert_int_equal(steme_visual_rebuild(v), STEME_OK);
            assert_true(v->v_mih.mh_built);
        }
        run_queries(v, &m, &rng, 25);
        /* Entries newer than the tables (the scanned tail) are found too. */
        fill(v, &m, &rng, 500, clustered);
        assert_int_equal(steme_visual_count(v), model_live(&m));
        run_queries(v, &m, &rng, 15);
        free(m.e);
        steme_visual_destroy(v);
    }
}

static void random_hashes_match(void **state) { (void)state; queries_match_brute_force(0, 1); }
static void clustered_hashes_match(void **state) { (void)state; queries_match_brute_force(1, 1); }
static void without_tables_match(void **state) { (void)state; queries_match_brute_force(1, 0); }

/* Radius (r <= 8) and k-NN queries near the centre and near stored
 * hashes, through AUTO, the tables and the scan. */
static void dense_queries(steme_visual *v, model *m, tu_rng *rng, uint64_t centre, int nq)
{
    static const steme_visual_strategy sts[] = {STEME_VISUAL_AUTO, STEME_VISUAL_MIH,
                                                STEME_VISUAL_SCAN};
    static const size_t ks[] = {1, 10, 100};
    steme_visual_hits hits;
    steme_visual_hits_init(&hits);
    for (int i = 0; i < nq; i++) {
        uint64_t q = i % 2 ? flip_bits(rng, centre, 4)
                           : flip_bits(rng, m->e[tu_rng_below(rng, m->n)].code, 2);
        for (size_t s = 0; s < 3; s++) {
            check_radius(v, m, &hits, q, (unsigned)tu_rng_below(rng, 9), sts[s]);
            check_knn(v, m, &hits, q, ks[tu_rng_below(rng, 3)], sts[s]);
        }
    }
    steme_visual_hits_free(&hits);
}

/*
 * One dense cluster (thousands of near-identical hashes, as the 1M
 * Fashion-MNIST set has): directory cells of hundreds to thousands of
 * entries, which keep side tables in place of their tags (mih.h), and
 * queries with thousands of hits. Every kernel; then with tombstones, and
 * with an unindexed tail.
 */
static void dense_cluster_matches(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(50));
    for (size_t ki = 0; ki < vh_kernel_count(); ki++) {
        const vh_kernel *k = vh_kernel_at(ki);
        if (!vh_kernel_usable(k))
            continue;
        steme_visual *v;
        assert_int_equal(steme_visual_create(NULL, &v, NULL), STEME_OK);
        v->v_kernel = k;
        size_t n = 6000;
        uint64_t centre = tu_rng_next(&rng);
        uint64_t *codes = malloc(n * sizeof *codes);
        steme_hash *ids = malloc(n * sizeof *ids);
        assert_true(codes && ids);
        model m = {0};
        for (size_t i = 0; i < n; i++) {
            uint64_t pick = tu_rng_below(&rng, 10);
            codes[i] = pick < 6 ? flip_bits(&rng, centre, 2)
                       : pick < 8 ? flip_bits(&rng, centre, 5) : tu_rng_next(&rng);
            make_id(&rng, &ids[i]);
            model_add(&m, codes[i], &ids[i]);
        }
        assert_int_equal(steme_visual_insert_batch(v, codes, ids, n, NULL), STEME_OK);
        assert_int_equal(steme_visual_rebuild(v), STEME_OK);
        assert_true(v->v_mih.mh_built);
        uint32_t biggest = 0;
        for (unsigned t = 0; t < MIH_TABLES; t++)
            for (uint32_t c = 0; c < mih_dir_size(t); c++) {
                uint32_t len = v->v_mih.mh_off[t][c + 1] - v->v_mih.mh_off[t][c];
                biggest = len > biggest ? len : biggest;
            }
        assert_true(biggest >= MIH_SIDE_MIN);
        dense_queries(v, &m, &rng, centre, 12);
        /* Tombstones: 15% removed (compaction starts past a quarter). */
        for (size_t i = 0; i < n; i++)
            if (tu_rng_below(&rng, 100) < 15) {
                assert_int_equal(steme_visual_remove(v, m.e[i].code, &m.e[i].id), STEME_OK);
                m.e[i].alive = 0;
            }
        assert_true(v->v_mih.mh_built && v->v_live < v->v_slots);
        dense_queries(v, &m, &rng, centre, 12);
        /* A tail of newer entries in the cluster, scanned beside the tables. */
        for (int i = 0; i < 300; i++) {
            steme_hash id;
            make_id(&rng, &id);
            uint64_t c = flip_bits(&rng, centre, 3);
            assert_int_equal(steme_visual_insert(v, c, &id), STEME_OK);
            model_add(&m, c, &id);
        }
        assert_true(v->v_mih.mh_covered < v->v_slots);
        dense_queries(v, &m, &rng, centre, 12);
        assert_int_equal(steme_visual_count(v), model_live(&m));
        free(codes);
        free(ids);
        free(m.e);
        steme_visual_destroy(v);
    }
}

/* Random inserts and removes (through table rebuilds and compactions). */
static void random_ops_match_model(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(30));
    steme_visual *v;
    assert_int_equal(steme_visual_create(NULL, &v, NULL), STEME_OK);
    model m = {0};
    uint64_t centres[16];
    for (int i = 0; i < 16; i++)
        centres[i] = tu_rng_next(&rng);
    for (int op = 0; op < 9000; op++) {
        uint64_t pick = tu_rng_below(&rng, 100);
        if (pick < 55 || m.n == 0) {
            steme_hash id;
            make_id(&rng, &id);
            uint64_t c = flip_bits(&rng, centres[tu_rng_below(&rng, 16)], 8);
            if (m.n && tu_rng_below(&rng, 8) == 0)
                c = m.e[tu_rng_below(&rng, m.n)].code;
            assert_int_equal(steme_visual_insert(v, c, &id), STEME_OK);
            model_add(&m, c, &id);
            assert_int_equal(steme_visual_insert(v, c, &id), STEME_E_EXISTS);
        } else if (pick < 97) {
            model_entry *e = &m.e[tu_rng_below(&rng, m.n)];
            int rc = steme_visual_remove(v, e->code, &e->id);
            assert_int_equal(rc, e->alive ? STEME_OK : STEME_E_NOTFOUND);
            assert_int_equal(steme_visual_contains(v, e->code, &e->id), 0);
            e->alive = 0;
        } else {
            run_queries(v, &m, &rng, 1);
        }
    }
    assert_int_equal(steme_visual_count(v), model_live(&m));
    assert_true(v->v_slots < m.n); /* compaction ran */
    run_queries(v, &m, &rng, 20);
    free(m.e);
    steme_visual_destroy(v);
}

/*
 * A batch into an empty index is loaded in bulk (one BK-tree build): pairs
 * repeated inside the batch count once, many ids on one hash all stay
 * reachable, and every structure agrees with the model afterwards,
 * including after a later incremental insert and remove.
 */
static void bulk_load_with_repeats(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(40));
    size_t n = 6000;
    uint64_t *codes = malloc(n * sizeof *codes);
    steme_hash *ids = malloc(n * sizeof *ids);
    assert_true(codes && ids);
    model m = {0};
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && tu_rng_below(&rng, 8) == 0) {
            size_t j = tu_rng_below(&rng, i); /* the same pair again */
            codes[i] = codes[j];
            ids[i] = ids[j];
        } else {
            codes[i] = i % 50 == 0 ? 42 : flip_bits(&rng, 0x0123456789abcdefull, 10);
            make_id(&rng, &ids[i]);
        }
        if (!model_find(&m, codes[i], &ids[i]))
            model_add(&m, codes[i], &ids[i]);
    }
    steme_visual *v;
    assert_int_equal(steme_visual_create(NULL, &v, NULL), STEME_OK);
    size_t inserted = 0;
    assert_int_equal(steme_visual_insert_batch(v, codes, ids, n, &inserted), STEME_OK);
    assert_int_equal(inserted, model_live(&m));
    assert_int_equal(steme_visual_count(v), model_live(&m));
    for (size_t i = 0; i < n; i += 97) {
        assert_int_equal(steme_visual_contains(v, codes[i], &ids[i]), 1);
        assert_int_equal(steme_visual_insert(v, codes[i], &ids[i]), STEME_E_EXISTS);
    }
    run_queries(v, &m, &rng, 15);
    steme_hash fresh;
    make_id(&rng, &fresh);
    assert_int_equal(steme_visual_insert(v, 42, &fresh), STEME_OK);
    model_add(&m, 42, &fresh);
    assert_int_equal(steme_visual_remove(v, codes[0], &ids[0]), STEME_OK);
    model_find(&m, codes[0], &ids[0])->alive = 0;
    run_queries(v, &m, &rng, 10);
    free(m.e);
    free(codes);
    free(ids);
    steme_visual_destroy(v);
}

/* ---- edge cases and bad input -------------------------------------------- */

static void empty_and_bad_input(void **state)
{
    (void)state;
    steme_visual *v;
    steme_error e;
    assert_int_equal(steme_visual_create(NULL, NULL, &e), STEME_E_INVALID);
    assert_int_equal(steme_visual_create(NULL, &v, NULL), STEME_OK);
    steme_visual_hits hits;
    steme_visual_hits_init(&hits);
    steme_hash id = {{1}};
    for (size_t s = 0; s < 4; s++) {
        assert_int_equal(steme_visual_radius(v, 5, 64, all_strategies[s], &hits), STEME_OK);
        assert_int_equal(hits.count, 0);
        assert_int_equal(steme_visual_knn(v, 5, 10, all_strategies[s], &hits), STEME_OK);
        assert_int_equal(hits.count, 0);
    }
    assert_int_equal(steme_visual_radius(v, 5, 65, STEME_VISUAL_AUTO, &hits), STEME_E_INVALID);
    assert_non_null(strstr(steme_visual_errmsg(v), "radius"));
    assert_int_equal(steme_visual_radius(v, 5, 2, (steme_visual_strategy)9, &hits),
                     STEME_E_INVALID);
    assert_int_equal(steme_visual_radius(v, 5, 2, STEME_VISUAL_AUTO, NULL), STEME_E_INVALID);
    assert_int_equal(steme_visual_radius(NULL, 5, 2, STEME_VISUAL_AUTO, &hits), STEME_E_INVALID);
    assert_int_equal(steme_visual_knn(v, 5, 0, STEME_VISUAL_AUTO, &hits), STEME_E_INVALID);
    assert_int_equal(steme_visual_knn(v, 5, STEME_VISUAL_MAX_K + 1, STEME_VISUAL_AUTO, &hits),
                     STEME_E_INVALID);
    assert_int_equal(steme_visual_insert(v, 1, NULL), STEME_E_INVALID);
    assert_int_equal(steme_visual_insert(NULL, 1, &id), STEME_E_INVALID);
    assert_int_equal(steme_visual_remove(v, 1, &id), STEME_E_NOTFOUND);
    assert_int_equal(steme_visual_insert_batch(v, NULL, NULL, 3, NULL), STEME_E_INVALID);
    assert_int_equal(steme_visual_insert_batch(v, NULL, NULL, 0, NULL), STEME_OK);
    /* One entry: distance 64 is found at radius 64, not below. */
    assert_int_equal(steme_visual_insert(v, 0, &id), STEME_OK);
    assert_int_equal(steme_visual_radius(v, ~0ull, 63, STEME_VISUAL_AUTO, &hits), STEME_OK);
    assert_int_equal(hits.count, 0);
    assert_int_equal(steme_visual_radius(v, ~0ull, 64, STEME_VISUAL_BKTREE, &hits), STEME_OK);
    assert_int_equal(hits.count, 1);
    assert_int_equal(hits.hits[0].distance, 64);
    assert_int_equal(steme_visual_knn(v, ~0ull, 5, STEME_VISUAL_AUTO, &hits), STEME_OK);
    assert_int_equal(hits.count, 1);
    assert_int_equal(steme_visual_remove(v, 0, &id), STEME_OK);
    assert_int_equal(steme_visual_count(v), 0);
    assert_int_equal(steme_visual_count(NULL), 0);
    assert_int_equal(steme_hamming64(0, ~0ull), 64);
    assert_int_equal(steme_hamming64(0xf0, 0x0f), 8);
    steme_visual_hits_free(&hits);
    steme_visual_hits_free(NULL);
    steme_visual_destroy(v);
    steme_visual_destroy(NULL);
    /* MIH forced on an index without tables is refused. */
    steme_visual_options o;
    steme_visual_options_init(&o);
    o.enable_mih = 0;
    assert_int_equal(steme_visual_create(&o, &v, NULL), STEME_OK);
    steme_visual_hits_init(&hits);
    assert_int_equal(steme_visual_radius(v, 5, 2, STEME_VISUAL_MIH, &hits), STEME_E_INVALID);
    steme_visual_hits_free(&hits);
    steme_visual_destroy(v);
}

static void dhash_values_and_bad_input(void **state)
{
    (void)state;
    uint8_t img[28 * 28];
    uint64_t h;
    /* Brightness rising to the right: no cell is brighter than its right
     * neighbour. Falling: every cell is. */
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            img[y * 28 + x] = (uint8_t)(x * 9);
    assert_int_equal(steme_visual_dhash(img, 28, 28, 28, &h, NULL), STEME_OK);
    assert_true(h == 0);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            img[y * 28 + x] = (uint8_t)(255 - x * 9);
    assert_int_equal(steme_visual_dhash(img, 28, 28, 28, &h, NULL), STEME_OK);
    assert_true(h == ~0ull);
    /* Only the top row falls: only bits 0..7 set. Stride is honoured. */
    uint8_t wide[8 * 20];
    memset(wide, 100, sizeof wide);
    for (int x = 0; x < 9; x++)
        wide[x] = (uint8_t)(200 - 10 * x);
    assert_int_equal(steme_visual_dhash(wide, 9, 8, 20, &h, NULL), STEME_OK);
    assert_true(h == 0xffull);
    steme_error e;
    assert_int_equal(steme_visual_dhash(NULL, 28, 28, 28, &h, &e), STEME_E_INVALID);
    assert_int_equal(steme_visual_dhash(img, 8, 28, 28, &h, &e), STEME_E_INVALID);
    assert_int_equal(steme_visual_dhash(img, 28, 7, 28, &h, &e), STEME_E_INVALID);
    assert_int_equal(steme_visual_dhash(img, 28, 28, 27, &h, &e), STEME_E_INVALID);
    assert_int_equal(steme_visual_dhash(img, 1u << 13, 1u << 12, 1u << 13, &h, &e),
                     STEME_E_INVALID);
    assert_int_equal(steme_visual_dhash(img, 28, 28, 28, NULL, &e), STEME_E_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_hashes_match),
        cmocka_unit_test(clustered_hashes_match),
        cmocka_unit_test(without_tables_match),
        cmocka_unit_test(dense_cluster_matches),
        cmocka_unit_test(random_ops_match_model),
        cmocka_unit_test(bulk_load_with_repeats),
        cmocka_unit_test(empty_and_bad_input),
        cmocka_unit_test(dhash_values_and_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
