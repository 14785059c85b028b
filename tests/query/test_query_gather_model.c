/* test_query_gather_model.c - property test of candidate gathering against
 * an in-memory model: random assertions (few timestamps, so many ties),
 * random supersessions and a random trust pack, then random queries with
 * as_of, pack, include_superseded and limit; the candidate set, the
 * truncation flag and the recency winner must match the model. Runs on the
 * MEM engine (fast) with several seeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/packs.h"
#include "steme/supersession.h"
#include "test_query_lib.h"

#define N_ASSERT 60

typedef struct m_assert {
    steme_hash hash;
    uint64_t ts;
    int agent;
    int superseded;
} m_assert;

/* Listing order of the index: newest first, equal times by descending hash. */
static int cmp_listing(const void *a, const void *b)
{
    const m_assert *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts > y->ts ? -1 : 1;
    return -memcmp(x->hash.bytes, y->hash.bytes, 32);
}

static int in_result(const steme_resolution *r, const steme_hash *h)
{
    for (size_t i = 0; i < r->n_candidates; i++)
        if (memcmp(r->candidates[i].hash.bytes, h->bytes, 32) == 0)
            return 1;
    return 0;
}

static void run_seed(uint64_t seed)
{
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    char *dir = tu_tempdir("qgm");
    steme_db *db = tq_open(dir, STEME_KV_MEM);
    steme_agent_id asker = tq_agent(200);
    assert_int_equal(steme_quota_set_limit(steme_db_quota(db), &asker, 1000000), STEME_OK);

    m_assert m[N_ASSERT];
    for (int i = 0; i < N_ASSERT; i++) {
        char val[16];
        snprintf(val, sizeof val, "v%d", (int)tu_rng_below(&rng, 5));
        m[i].ts = 1 + tu_rng_below(&rng, 20);
        m[i].agent = 1 + (int)tu_rng_below(&rng, 6);
        m[i].superseded = 0;
        /* i in the confidence keeps every assertion distinct. */
        m[i].hash = tq_put(db, val, (double)i / N_ASSERT, m[i].agent, m[i].ts);
    }
    /* Supersede disjoint pairs (2k -> 2k+1) at random. */
    steme_agent_id a1 = tq_agent(1);
    for (int i = 0; i + 1 < N_ASSERT; i += 2)
        if (tu_rng_below(&rng, 3) == 0) {
            assert_int_equal(steme_supersede(steme_db_supersessions(db), &m[i].hash,
                                             &m[i + 1].hash, NULL, 0, &a1, 1),
                             STEME_OK);
            m[i].superseded = 1;
        }
    /* A pack of a random half of the agents. */
    steme_trust_pack pk;
    memset(&pk, 0, sizeof pk);
    pk.id.bytes[15] = 9;
    pk.name = "half";
    pk.name_len = 4;
    assert_int_equal(steme_packs_put(steme_db_packs(db), &pk, NULL), STEME_OK);
    int member[7] = {0};
    for (int a = 1; a <= 6; a++)
        if (tu_rng_below(&rng, 2)) {
            steme_agent_id id = tq_agent(a);
            member[a] = 1;
            assert_int_equal(steme_packs_add_agent(steme_db_packs(db), &pk.id, &id, NULL),
                             STEME_OK);
        }
    qsort(m, N_ASSERT, sizeof *m, cmp_listing);

    for (int q = 0; q < 60; q++) {
        steme_query_request req;
        tq_request(&req, STEME_LENS_RECENCY);
        req.as_of = tu_rng_below(&rng, 2) ? 0 : tu_rng_below(&rng, 22);
        req.has_pack = tu_rng_below(&rng, 2);
        req.pack = pk.id;
        req.include_superseded = tu_rng_below(&rng, 2);
        req.limit = tu_rng_below(&rng, 2) ? 0 : 1 + tu_rng_below(&rng, 20);
        /* The model: walk the listing, keep what passes, stop at limit. */
        size_t kept[N_ASSERT], nk = 0;
        int truncated = 0;
        for (size_t i = 0; i < N_ASSERT; i++) {
            if (req.as_of && m[i].ts > req.as_of)
                continue;
            if (req.has_pack && !member[m[i].agent])
                continue;
            if (!req.include_superseded && m[i].superseded)
                continue;
            if (req.limit && nk == req.limit) {
                truncated = 1;
                break;
            }
            kept[nk++] = i;
        }
        steme_resolution r;
        tq_run(db, &req, &r);
        if (r.n_candidates != nk)
            fail_msg("seed %llu query %d: %zu candidates, model %zu (as_of %llu pack %d "
                     "sup %d limit %zu)",
                     (unsigned long long)seed, q, r.n_candidates, nk,
                     (unsigned long long)req.as_of, req.has_pack, req.include_superseded,
                     req.limit);
        for (size_t i = 0; i < nk; i++)
            assert_true(in_result(&r, &m[kept[i]].hash));
        assert_int_equal(r.truncated, truncated);
        if (nk) {
            /* Recency: the newest kept; equal times -> the smaller hash. */
            size_t best = kept[0];
            for (size_t i = 1; i < nk; i++) {
                const m_assert *c = &m[kept[i]], *b = &m[best];
                if (c->ts > b->ts ||
                    (c->ts == b->ts && memcmp(c->hash.bytes, b->hash.bytes, 32) < 0))
                    best = kept[i];
            }
            tq_assert_winner(&r, &m[best].hash);
        } else {
            assert_false(r.has_winner);
        }
        steme_resolution_free(&r);
    }
    steme_db_close(db);
    tu_rmtree_free(dir);
}

static void gather_vs_model(void **state)
{
    (void)state;
    uint64_t seed = tu_seed(0x6A7E5ull);
    for (uint64_t s = 0; s < 3; s++)
        run_seed(seed + s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gather_vs_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
