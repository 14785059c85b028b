/*
 * query_lens.c - the six lenses of spec 9 over gathered candidates: group
 * them into claims, score them, rank them, pick the winner.
 *
 * Claims are found by sorting candidates on a 64-bit digest of their typed
 * value (SipHash-2-4 under a random per-process key, libsodium's
 * crypto_shorthash: grouping costs O(n log n), and since the key is secret
 * no crafted set of values can collide on purpose and make it quadratic),
 * then comparing with
 * steme_value_equal inside each run of equal digests: the digest only
 * narrows the search, equality is always decided by steme_value_equal.
 *
 * Ranking is total and deterministic: score descending, then timestamp
 * descending, then hash ascending (bytewise). Hashes are unique among
 * candidates (an index entry names each assertion once), so no two
 * candidates ever compare equal and qsort's instability cannot show.
 */
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

typedef struct vkey {
    uint64_t digest;
    size_t index;
} vkey;

static uint64_t value_digest(const steme_value *v, const uint8_t *key)
{
    const void *p = NULL;
    size_t len = 0;
    uint8_t le[8];
    uint64_t bits = 0;
    switch (v->type) {
    case STEME_VALUE_STRING:
        p = v->v.str.ptr;
        len = v->v.str.len;
        break;
    case STEME_VALUE_BYTES:
        p = v->v.bytes.ptr;
        len = v->v.bytes.len;
        break;
    case STEME_VALUE_INT:
        bits = (uint64_t)v->v.i64;
        break;
    case STEME_VALUE_FLOAT: {
        /* -0.0 == 0.0 for steme_value_equal, so both must digest alike. */
        double d = v->v.f64 == 0.0 ? 0.0 : v->v.f64;
        memcpy(&bits, &d, sizeof bits);
        break;
    }
    case STEME_VALUE_BOOL:
        bits = v->v.boolean ? 1 : 0;
        break;
    }
    if (!p) {
        for (int i = 0; i < 8; i++)
            le[i] = (uint8_t)(bits >> (8 * i));
        p = le;
        len = sizeof le;
    }
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, p, len, key);
    uint64_t d = 0;
    for (int i = 0; i < 8; i++)
        d |= (uint64_t)out[i] << (8 * i);
    /* Values of different types may digest alike: equality decides. */
    return d ^ ((uint64_t)v->type * 0x9E3779B97F4A7C15ull);
}

static int cmp_vkey(const void *a, const void *b)
{
    const vkey *x = a, *y = b;
    if (x->digest != y->digest)
        return x->digest < y->digest ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* -1 if a ranks before b on the tie-break alone (newer, then smaller hash). */
static int tie_break(uint64_t ts_a, const steme_hash *ha, uint64_t ts_b, const steme_hash *hb)
{
    if (ts_a != ts_b)
        return ts_a > ts_b ? -1 : 1;
    return memcmp(ha->bytes, hb->bytes, STEME_HASH_LEN);
}

static int cmp_tie(const void *a, const void *b)
{
    const steme_query_candidate *x = a, *y = b;
    return tie_break(x->timestamp, &x->hash, y->timestamp, &y->hash);
}

static int cmp_candidate(const void *a, const void *b)
{
    const steme_query_candidate *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return tie_break(x->timestamp, &x->hash, y->timestamp, &y->hash);
}

/* Claims are sorted with their representatives' keys copied alongside. */
typedef struct claim_sort {
    steme_query_claim claim;
    uint64_t ts;
    steme_hash hash;
    size_t old_index;
} claim_sort;

static int cmp_claim(const void *a, const void *b)
{
    const claim_sort *x = a, *y = b;
    if (x->claim.score != y->claim.score)
        return x->claim.score > y->claim.score ? -1 : 1;
    return tie_break(x->ts, &x->hash, y->ts, &y->hash);
}

/* Assign every candidate's claim (provisional ids in order of discovery). */
static int group_claims(steme_resolution *r, size_t *n_claims)
{
    size_t n = r->n_candidates;
    const uint8_t *key = q_digest_key();
    if (!key)
        return STEME_E_INTERNAL;
    vkey *keys = malloc(n * sizeof *keys);
    size_t *first = malloc(n * sizeof *first);   /* claim id -> a member */
    if (!keys || !first) {
        free(keys);
        free(first);
        return STEME_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        keys[i].digest = value_digest(&r->candidates[i].object, key);
        keys[i].index = i;
    }
    qsort(keys, n, sizeof *keys, cmp_vkey);
    size_t k = 0;
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && keys[b].digest == keys[a].digest)
            b++;
        size_t run_first_claim = k;
        for (size_t j = a; j < b; j++) {
            steme_query_candidate *c = &r->candidates[keys[j].index];
            size_t found = SIZE_MAX;
            for (size_t q = run_first_claim; q < k && found == SIZE_MAX; q++)
                if (steme_value_equal(&r->candidates[first[q]].object, &c->object))
                    found = q;
            if (found == SIZE_MAX) {
                found = k;
                first[k++] = keys[j].index;
            }
            c->claim = found;
        }
        a = b;
    }
    free(keys);
    free(first);
    *n_claims = k;
    return STEME_OK;
}

static double lens_score(const steme_query_candidate *c, const steme_query_claim *claim,
                         size_t n, steme_lens lens)
{
    switch (lens) {
    case STEME_LENS_RECENCY:    return (double)c->timestamp;
    case STEME_LENS_CONSENSUS:  return (double)claim->count / (double)n;
    case STEME_LENS_CONFIDENCE: return c->effective_confidence;
    case STEME_LENS_VOTE:       return c->vote_weight;
    case STEME_LENS_AUTHORITY:  return c->effective_confidence * c->trust;
    case STEME_LENS_SKEPTIC:    return claim->share;
    }
    return 0.0;
}

static double clamp01(double x)
{
    return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x;
}

/* Normalised Shannon entropy of the claims' shares (spec 9, skeptic). */
static double conflict_of(const steme_query_claim *claims, size_t k)
{
    if (k <= 1)
        return 0.0;
    double h = 0.0;
    for (size_t i = 0; i < k; i++)
        if (claims[i].share > 0.0)
            h -= claims[i].share * log(claims[i].share);
    return clamp01(h / log((double)k));
}

/* Winner and confidence from the ranked candidates. */
static void decide(steme_resolution *r, steme_lens lens)
{
    size_t n = r->n_candidates;
    const steme_query_candidate *top = n ? &r->candidates[0] : NULL;
    r->has_winner = false;
    r->confidence = 0.0;
    if (lens == STEME_LENS_SKEPTIC) {
        r->conflict = conflict_of(r->claims, r->n_claims);
        r->status = r->n_claims == 0   ? STEME_SKEPTIC_NONE
                    : r->n_claims == 1 ? STEME_SKEPTIC_UNANIMOUS
                    : r->conflict < 0.5 ? STEME_SKEPTIC_AGREED
                                        : STEME_SKEPTIC_CONTESTED;
        r->confidence = n ? 1.0 - r->conflict : 0.0;
        return;
    }
    if (!top)
        return;
    double conf = 0.0, sum = 0.0;
    switch (lens) {
    case STEME_LENS_RECENCY:
    case STEME_LENS_CONFIDENCE:
        conf = top->effective_confidence;
        break;
    case STEME_LENS_CONSENSUS:
        conf = top->score;
        break;
    case STEME_LENS_VOTE:
        if (!(top->score > 0.0))
            return;   /* no assertion is supported on balance: no winner */
        for (size_t i = 0; i < n; i++)
            if (r->candidates[i].score > 0.0)
                sum += r->candidates[i].score;
        conf = top->score / sum;
        break;
    case STEME_LENS_AUTHORITY:
        for (size_t i = 0; i < n; i++)
            sum += r->candidates[i].score;
        conf = sum > 0.0 ? top->score / sum : 0.0;
        break;
    case STEME_LENS_SKEPTIC:
        break;
    }
    r->has_winner = true;
    r->winner = top->hash;
    r->winner_value = top->object;
    r->confidence = clamp01(conf);
}

/* Claims' counts, weights, shares and scores (before any sort). */
static void claim_stats(steme_resolution *r, steme_lens lens)
{
    size_t n = r->n_candidates;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        steme_query_claim *k = &r->claims[r->candidates[i].claim];
        k->count++;
        k->weight += r->candidates[i].effective_confidence;
        total += r->candidates[i].effective_confidence;
    }
    for (size_t q = 0; q < r->n_claims; q++) {
        steme_query_claim *k = &r->claims[q];
        /* All weights 0 (every confidence 0, or decayed away): shares fall
         * back to counts rather than being undefined. */
        k->share = total > 0.0 ? k->weight / total : (double)k->count / (double)n;
        k->score = lens == STEME_LENS_CONSENSUS ? (double)k->count / (double)n : k->share;
    }
}

/* After the candidates are ranked: representatives, then rank the claims
 * and renumber the candidates' claim indices. */
static int rank_claims(steme_resolution *r)
{
    size_t k = r->n_claims, n = r->n_candidates;
    claim_sort *cs = malloc(k * sizeof *cs);
    size_t *renum = malloc(k * sizeof *renum);
    if (!cs || !renum) {
        free(cs);
        free(renum);
        return STEME_E_NOMEM;
    }
    for (size_t q = 0; q < k; q++)
        r->claims[q].representative = SIZE_MAX;
    for (size_t p = 0; p < n; p++) {
        const steme_query_candidate *c = &r->candidates[p];
        steme_query_claim *cl = &r->claims[c->claim];
        if (cl->representative == SIZE_MAX ||
            tie_break(c->timestamp, &c->hash, r->candidates[cl->representative].timestamp,
                      &r->candidates[cl->representative].hash) < 0)
            cl->representative = p;
    }
    for (size_t q = 0; q < k; q++) {
        const steme_query_candidate *rep = &r->candidates[r->claims[q].representative];
        cs[q].claim = r->claims[q];
        cs[q].claim.object = rep->object;
        cs[q].ts = rep->timestamp;
        cs[q].hash = rep->hash;
        cs[q].old_index = q;
    }
    qsort(cs, k, sizeof *cs, cmp_claim);
    for (size_t q = 0; q < k; q++) {
        r->claims[q] = cs[q].claim;
        renum[cs[q].old_index] = q;
    }
    for (size_t p = 0; p < n; p++)
        r->candidates[p].claim = renum[r->candidates[p].claim];
    free(cs);
    free(renum);
    return STEME_OK;
}

int q_resolve(steme_resolution *r, steme_lens lens)
{
    if (!r || !steme_lens_name(lens))
        return STEME_E_INVALID;
    r->lens = lens;
    r->status = STEME_SKEPTIC_NONE;
    r->conflict = 0.0;
    free(r->claims);
    r->claims = NULL;
    r->n_claims = 0;
    size_t n = r->n_candidates;
    if (n == 0) {
        decide(r, lens);
        return STEME_OK;
    }
    /* Canonical order first: floating-point sums (claim weights, totals)
     * then add in the same order whatever order the candidates came in. */
    qsort(r->candidates, n, sizeof *r->candidates, cmp_tie);
    size_t k = 0;
    int rc = group_claims(r, &k);
    if (rc != STEME_OK)
        return rc;
    r->claims = calloc(k, sizeof *r->claims);
    if (!r->claims)
        return STEME_E_NOMEM;
    r->n_claims = k;
    claim_stats(r, lens);
    for (size_t i = 0; i < n; i++) {
        steme_query_candidate *c = &r->candidates[i];
        c->score = lens_score(c, &r->claims[c->claim], n, lens);
    }
    qsort(r->candidates, n, sizeof *r->candidates, cmp_candidate);
    if ((rc = rank_claims(r)) != STEME_OK)
        return rc;
    decide(r, lens);
    return STEME_OK;
}

double q_decay_factor(uint64_t ts, uint64_t ref_ms, double half_life_ms)
{
    if (!(half_life_ms > 0.0) || ts >= ref_ms)
        return 1.0;
    return pow(0.5, (double)(ref_ms - ts) / half_life_ms);
}
