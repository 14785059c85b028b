/* test_query_model.c - property tests of the lenses (q_resolve, the pure
 * part of the read path) against a brute-force model: random candidate
 * sets with many ties (few timestamps, few confidences, few values), every
 * lens; the winner, confidence and skeptic conflict must match the model,
 * and the ranking must not depend on the order the candidates came in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "query/query_int.h"
#include "testutil.h"

#define MAXN 48

typedef struct model_c {
    steme_hash hash;
    uint64_t ts;
    double eff, vote, trust;
    int64_t value;
} model_c;

/* 1 if a beats b on the tie-break (newer, then smaller hash). */
static int tie_better(const model_c *a, const model_c *b)
{
    if (a->ts != b->ts)
        return a->ts > b->ts;
    return memcmp(a->hash.bytes, b->hash.bytes, 32) < 0;
}

static double model_score(const model_c *c, const model_c *all, size_t n, steme_lens lens,
                          double total)
{
    size_t same = 0;
    double w = 0.0;
    for (size_t i = 0; i < n; i++)
        if (all[i].value == c->value) {
            same++;
            w += all[i].eff;
        }
    switch (lens) {
    case STEME_LENS_RECENCY:    return (double)c->ts;
    case STEME_LENS_CONSENSUS:  return (double)same / (double)n;
    case STEME_LENS_CONFIDENCE: return c->eff;
    case STEME_LENS_VOTE:       return c->vote;
    case STEME_LENS_AUTHORITY:  return c->eff * c->trust;
    case STEME_LENS_SKEPTIC:    return total > 0 ? w / total : (double)same / (double)n;
    }
    return 0;
}

/* The model's best candidate (highest score, then the tie-break). */
static size_t model_best(const model_c *m, size_t n, steme_lens lens, double total)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++) {
        double si = model_score(&m[i], m, n, lens, total);
        double sb = model_score(&m[best], m, n, lens, total);
        if (si > sb || (si == sb && tie_better(&m[i], &m[best])))
            best = i;
    }
    return best;
}

static double model_conflict(const model_c *m, size_t n, double total)
{
    int64_t vals[MAXN];
    double w[MAXN];
    size_t cnt[MAXN], k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < k && vals[j] != m[i].value)
            j++;
        if (j == k) {
            vals[k] = m[i].value;
            w[k] = 0;
            cnt[k++] = 0;
        }
        w[j] += m[i].eff;
        cnt[j]++;
    }
    if (k <= 1)
        return 0.0;
    double h = 0;
    for (size_t j = 0; j < k; j++) {
        double p = total > 0 ? w[j] / total : (double)cnt[j] / (double)n;
        if (p > 0)
            h -= p * log(p);
    }
    return h / log((double)k);
}

static void load(steme_resolution *r, const model_c *m, const size_t *order, size_t n)
{
    memset(r, 0, sizeof *r);
    r->candidates = calloc(n ? n : 1, sizeof *r->candidates);
    assert_non_null(r->candidates);
    r->n_candidates = n;
    for (size_t i = 0; i < n; i++) {
        const model_c *c = &m[order[i]];
        steme_query_candidate *q = &r->candidates[i];
        q->hash = c->hash;
        q->timestamp = c->ts;
        q->confidence = q->effective_confidence = c->eff;
        q->vote_weight = c->vote;
        q->trust = c->trust;
        q->object = steme_value_int(c->value);
    }
}

static void one_case(tu_rng *rng, steme_lens lens)
{
    static const double confs[] = {0.0, 0.25, 0.5, 0.75, 1.0, 0.3};
    static const double votes[] = {-1.0, -0.5, 0.0, 0.5, 1.0, 2.5};
    static const double trusts[] = {0.0, 0.2, 0.5, 0.75, 1.0};
    size_t n = (size_t)tu_rng_below(rng, MAXN + 1);
    model_c m[MAXN] = {0};
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        tu_rng_bytes(rng, m[i].hash.bytes, 32);
        m[i].hash.bytes[0] = (uint8_t)tu_rng_below(rng, 3);   /* common prefixes */
        m[i].ts = 1000 + tu_rng_below(rng, 4);
        m[i].eff = confs[tu_rng_below(rng, 6)];
        m[i].vote = votes[tu_rng_below(rng, 6)];
        m[i].trust = trusts[tu_rng_below(rng, 5)];
        m[i].value = (int64_t)tu_rng_below(rng, 1 + tu_rng_below(rng, 6));
        total += m[i].eff;
    }
    size_t order[MAXN] = {0};
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    steme_resolution a, b;
    load(&a, m, order, n);
    assert_int_equal(q_resolve(&a, lens), STEME_OK);
    /* Same set, shuffled: the same ranking, bit for bit. */
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)tu_rng_below(rng, i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    load(&b, m, order, n);
    assert_int_equal(q_resolve(&b, lens), STEME_OK);
    assert_int_equal(a.n_claims, b.n_claims);
    for (size_t i = 0; i < n; i++) {
        assert_memory_equal(a.candidates[i].hash.bytes, b.candidates[i].hash.bytes, 32);
        assert_true(a.candidates[i].score == b.candidates[i].score);
        assert_int_equal(a.candidates[i].claim, b.candidates[i].claim);
    }
    assert_true(a.confidence == b.confidence);
    assert_true(a.conflict == b.conflict);

    if (n == 0) {
        assert_false(a.has_winner);
        assert_true(a.confidence == 0.0);
    } else if (lens == STEME_LENS_SKEPTIC) {
        assert_false(a.has_winner);
        double want = model_conflict(m, n, total);
        assert_true(fabs(a.conflict - want) < 1e-12);
        assert_true(a.conflict >= 0.0 && a.conflict <= 1.0);
        size_t shares_n = 0;
        double shares = 0;
        for (size_t k = 0; k < a.n_claims; k++) {
            shares += a.claims[k].share;
            shares_n += a.claims[k].count;
            if (k)
                assert_true(a.claims[k - 1].share >= a.claims[k].share);
        }
        assert_int_equal(shares_n, n);
        assert_true(fabs(shares - 1.0) < 1e-12);
    } else {
        size_t best = model_best(m, n, lens, total);
        double top = model_score(&m[best], m, n, lens, total);
        if (lens == STEME_LENS_VOTE && !(top > 0)) {
            assert_false(a.has_winner);
        } else {
            assert_true(a.has_winner);
            assert_memory_equal(a.winner.bytes, m[best].hash.bytes, 32);
            double want = 0, sum = 0;
            if (lens == STEME_LENS_RECENCY || lens == STEME_LENS_CONFIDENCE)
                want = m[best].eff;
            else if (lens == STEME_LENS_CONSENSUS)
                want = top;
            else {
                for (size_t i = 0; i < n; i++) {
                    double s = model_score(&m[i], m, n, lens, total);
                    if (lens == STEME_LENS_AUTHORITY || s > 0)
                        sum += s;
                }
                want = sum > 0 ? top / sum : 0;
            }
            assert_true(fabs(a.confidence - want) < 1e-12);
        }
        /* Ranked: scores never increase down the list. */
        for (size_t i = 1; i < n; i++)
            assert_true(a.candidates[i - 1].score >= a.candidates[i].score);
    }
    steme_resolution_free(&a);
    steme_resolution_free(&b);
}

static void lenses_vs_model(void **state)
{
    (void)state;
    uint64_t seed = tu_seed(0x5E7E1A5ull);
    for (uint64_t s = 0; s < 4; s++) {
        tu_rng rng;
        tu_rng_seed(&rng, seed + s);
        for (int i = 0; i < 400; i++)
            one_case(&rng, (steme_lens)(1 + i % 6));
    }
}

static void decay_factor(void **state)
{
    (void)state;
    assert_true(q_decay_factor(0, 1000, 0.0) == 1.0);      /* no decay */
    assert_true(q_decay_factor(2000, 1000, 500.0) == 1.0); /* from the future */
    assert_true(q_decay_factor(1000, 1000, 500.0) == 1.0);
    assert_true(q_decay_factor(0, 1000, 1000.0) == 0.5);
    assert_true(q_decay_factor(0, 3000, 1000.0) == 0.125);
    assert_true(fabs(q_decay_factor(0, 500, 1000.0) - sqrt(0.5)) < 1e-15);
}

static void resolve_bad_lens(void **state)
{
    (void)state;
    steme_resolution r;
    memset(&r, 0, sizeof r);
    assert_int_equal(q_resolve(&r, (steme_lens)0), STEME_E_INVALID);
    assert_int_equal(q_resolve(NULL, STEME_LENS_VOTE), STEME_E_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lenses_vs_model),
        cmocka_unit_test(decay_factor),
        cmocka_unit_test(resolve_bad_lens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
