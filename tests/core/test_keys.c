/*
 * test_keys.c - the key codec's contract: the family table matches the
 * spec, encode/decode round-trip every family (property, several seeds),
 * family_of agrees with decode, encode_prefix gives prefixes, and the
 * orderings the stores rely on hold. Bad input: test_keys_decode.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keys_gen.h"

#define SEEDS 4
#define ROUNDS_PER_SEED 3000

static uint64_t g_seed;

static int setup_seed(void **state)
{
    (void)state;
    g_seed = tu_seed(0x5e3e4e75ull);
    return 0;
}

static void family_table_matches_spec(void **state)
{
    (void)state;
    assert_int_equal(KG_NFAM, STEME_FAM_COUNT_ - 1);
    for (size_t i = 0; i < KG_NFAM; i++) {
        const kg_family_row *row = &kg_table[i];
        assert_string_equal(steme_key_family_tag(row->fam), row->tag);
        assert_int_equal(steme_key_family_is_subject_scoped(row->fam), row->scoped);
        assert_int_equal(steme_key_family_engine(row->fam), row->engine);
    }
    steme_key_family bad[] = {STEME_FAM_UNKNOWN, STEME_FAM_COUNT_, (steme_key_family)-1,
                              (steme_key_family)1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(steme_key_family_tag(bad[i]));
        assert_int_equal(steme_key_family_is_subject_scoped(bad[i]), 0);
        assert_int_equal(steme_key_family_engine(bad[i]), 0);
    }
}

/* The fields a family uses are equal in a and b. */
static void assert_same_fields(const steme_key *a, const steme_key *b)
{
    const kg_family_row *row = kg_row(a->family);
    assert_non_null(row);
    assert_int_equal(a->family, b->family);
    if (row->scoped) {
        assert_int_equal(a->subject_len, b->subject_len);
        assert_memory_equal(a->subject, b->subject, a->subject_len);
    } else {
        assert_null(b->subject);
        assert_int_equal(b->subject_len, 0);
    }
    steme_key_family f = a->family;
    if (f == STEME_FAM_SUBJECT_PRED_INDEX || f == STEME_FAM_GOLD_STANDARD) {
        assert_int_equal(a->predicate_len, b->predicate_len);
        assert_memory_equal(a->predicate, b->predicate, a->predicate_len);
    }
    if (f == STEME_FAM_VECTOR_META || f == STEME_FAM_CURSOR) {
        assert_int_equal(a->name_len, b->name_len);
        assert_memory_equal(a->name, b->name, a->name_len);
    }
    static const steme_key_family with_hash[] = {
        STEME_FAM_ASSERTION, STEME_FAM_SUBJECT_INDEX, STEME_FAM_SUBJECT_PRED_INDEX,
        STEME_FAM_HASH_SUBJECT, STEME_FAM_VOTE, STEME_FAM_VOTE_COUNT, STEME_FAM_VOTE_WEIGHT,
        STEME_FAM_SUPERSEDES, STEME_FAM_SUPERSEDED_BY};
    static const steme_key_family with_agent[] = {
        STEME_FAM_VOTE, STEME_FAM_TRUST_RANK, STEME_FAM_PACK_MEMBER, STEME_FAM_AUDIT,
        STEME_FAM_QUOTA_USAGE, STEME_FAM_QUOTA_LIMIT};
    static const steme_key_family with_id[] = {
        STEME_FAM_TRUST_PACK, STEME_FAM_PACK_MEMBER, STEME_FAM_AUDIT, STEME_FAM_AUDIT_BY_ID,
        STEME_FAM_ESCALATION};
    static const steme_key_family with_ts[] = {
        STEME_FAM_SUBJECT_INDEX, STEME_FAM_SUBJECT_PRED_INDEX, STEME_FAM_AUDIT,
        STEME_FAM_ESCALATION, STEME_FAM_QUOTA_USAGE};
    for (size_t i = 0; i < sizeof with_hash / sizeof with_hash[0]; i++)
        if (f == with_hash[i])
            assert_memory_equal(a->hash.bytes, b->hash.bytes, STEME_HASH_LEN);
    for (size_t i = 0; i < sizeof with_agent / sizeof with_agent[0]; i++)
        if (f == with_agent[i])
            assert_memory_equal(a->agent.bytes, b->agent.bytes, STEME_AGENT_ID_LEN);
    for (size_t i = 0; i < sizeof with_id / sizeof with_id[0]; i++)
        if (f == with_id[i])
            assert_memory_equal(a->id.bytes, b->id.bytes, STEME_ID16_LEN);
    for (size_t i = 0; i < sizeof with_ts / sizeof with_ts[0]; i++)
        if (f == with_ts[i])
            assert_true(a->ts == b->ts);
    if (f == STEME_FAM_ESCALATION)
        assert_int_equal(a->status, b->status);
}

static void round_trip_every_family(void **state)
{
    (void)state;
    static kg_key g; /* ~1.5 KiB of text storage: keep it off the stack */
    for (uint64_t s = 0; s < SEEDS; s++) {
        tu_rng r;
        tu_rng_seed(&r, g_seed + s);
        for (int i = 0; i < ROUNDS_PER_SEED; i++) {
            steme_key_family fam = i < (int)KG_NFAM ? kg_table[i].fam : kg_random_family(&r);
            kg_random(&r, fam, &g);
            size_t len = 0;
            uint8_t *key = kg_encode_exact(&g.k, &len);
            assert_non_null(key);
            assert_true(len <= STEME_KEY_MAX);

            steme_key out;
            steme_error err = {0};
            assert_int_equal(steme_key_decode(key, len, &out, &err), STEME_OK);
            assert_same_fields(&g.k, &out);
            assert_int_equal(steme_key_family_of(key, len), fam);

            /* decode's views point into the key; re-encoding is identical */
            uint8_t again[STEME_KEY_MAX];
            size_t len2 = 0;
            assert_int_equal(steme_key_encode(&out, again, sizeof again, &len2, NULL), STEME_OK);
            assert_int_equal(len2, len);
            assert_memory_equal(again, key, len);
            free(key);
        }
    }
}

static void prefixes_are_prefixes(void **state)
{
    (void)state;
    static kg_key g;
    tu_rng r;
    tu_rng_seed(&r, g_seed ^ 0x9999);
    for (int i = 0; i < 2000; i++) {
        const kg_family_row *row = &kg_table[(size_t)i % KG_NFAM];
        kg_random(&r, row->fam, &g);
        uint8_t full[STEME_KEY_MAX], pre[STEME_KEY_MAX];
        size_t flen = 0, plen = 0, last = 0;
        assert_int_equal(steme_key_encode(&g.k, full, sizeof full, &flen, NULL), STEME_OK);
        for (unsigned depth = 0; depth <= row->nfields; depth++) {
            assert_int_equal(steme_key_encode_prefix(&g.k, depth, pre, sizeof pre, &plen, NULL),
                             STEME_OK);
            assert_true(plen <= flen);
            assert_true(depth == 0 || plen > last); /* each field adds bytes */
            assert_memory_equal(pre, full, plen);
            /* the router can route a prefix scan by its prefix */
            assert_int_equal(steme_key_family_of(pre, plen), row->fam);
            last = plen;
        }
        assert_int_equal(plen, flen); /* full depth is the whole key */
        steme_error err = {0};
        assert_int_equal(steme_key_encode_prefix(&g.k, row->nfields + 1, pre, sizeof pre, &plen,
                                                 &err), STEME_E_INVALID);
        assert_true(err.message[0] != 0);

        /* "{s}\0" (family UNKNOWN) prefixes every key of the subject */
        steme_key whole = g.k;
        whole.family = STEME_FAM_UNKNOWN;
        assert_int_equal(steme_key_encode_prefix(&whole, 0, pre, sizeof pre, &plen, NULL),
                         STEME_OK);
        assert_int_equal(plen, g.k.subject_len + 1);
        if (row->scoped)
            assert_memory_equal(pre, full, plen);
        assert_int_equal(steme_key_encode_prefix(&whole, 1, pre, sizeof pre, &plen, NULL),
                         STEME_E_INVALID);
    }
}

static int cmp_u64(uint64_t a, uint64_t b) { return (a > b) - (a < b); }
static int sign_of(int x) { return (x > 0) - (x < 0); }

/* For S, SP, AU, ES: within one subject/predicate/agent/status, byte order
 * of keys is timestamp order whatever the trailing hash or id. */
static void byte_order_is_time_order(void **state)
{
    (void)state;
    static const steme_key_family timed[] = {STEME_FAM_SUBJECT_INDEX,
                                             STEME_FAM_SUBJECT_PRED_INDEX, STEME_FAM_AUDIT,
                                             STEME_FAM_ESCALATION, STEME_FAM_QUOTA_USAGE};
    static kg_key a, b;
    tu_rng r;
    tu_rng_seed(&r, g_seed ^ 0x7777);
    for (int i = 0; i < 20000; i++) {
        steme_key_family fam = timed[(size_t)i % (sizeof timed / sizeof timed[0])];
        kg_random(&r, fam, &a);
        kg_random(&r, fam, &b);
        /* same scope, different time and trailing fields */
        memcpy(b.subject, a.subject, a.k.subject_len);
        b.k.subject_len = a.k.subject_len;
        memcpy(b.predicate, a.predicate, a.k.predicate_len);
        b.k.predicate_len = a.k.predicate_len;
        b.k.agent = a.k.agent;
        b.k.status = a.k.status;
        if (i % 3 == 0)
            b.k.ts = a.k.ts + (tu_rng_below(&r, 2) ? 1 : (uint64_t)-1); /* neighbours */
        if (b.k.ts == a.k.ts)
            continue;
        uint8_t ka[STEME_KEY_MAX], kb[STEME_KEY_MAX];
        size_t la, lb;
        assert_int_equal(steme_key_encode(&a.k, ka, sizeof ka, &la, NULL), STEME_OK);
        assert_int_equal(steme_key_encode(&b.k, kb, sizeof kb, &lb, NULL), STEME_OK);
        assert_int_equal(la, lb);
        assert_int_equal(sign_of(memcmp(ka, kb, la)), cmp_u64(a.k.ts, b.k.ts));
    }
}

/* ---- contiguity of a subject's keys ------------------------------------ */

typedef struct sorted_key {
    uint8_t bytes[STEME_KEY_MAX];
    size_t len;
    int subject;    /* index into the pool, -1 for global keys */
    int predicate;  /* SP keys: index into the predicate pool, else -1 */
} sorted_key;

static int cmp_sorted_key(const void *pa, const void *pb)
{
    const sorted_key *a = pa, *b = pb;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->bytes, b->bytes, n);
    return c ? c : cmp_u64(a->len, b->len); /* shorter first, as the KV orders */
}

/* Subjects (and predicates) that are prefixes of each other, around 0x00,
 * 0x01 and multibyte edges, so "a" must not interleave with "ab". */
static const char *const subject_pool[] = {
    "a", "ab", "abc", "a b", "a\x01", "a\x7f", "b", "\x01", "\xc3\xa9", "\xc3\xa9t\xc3\xa9",
    "\xf4\x8f\xbf\xbf", "z", "zz"};
static const char *const predicate_pool[] = {"p", "pq", "p\x01", "pqr", "\xe2\x82\xac"};
#define NSUBJ (int)(sizeof subject_pool / sizeof subject_pool[0])
#define NPRED (int)(sizeof predicate_pool / sizeof predicate_pool[0])

/* Indexes in v[0..n) where `id(v[i]) == want` are one unbroken run. */
static void assert_run(const sorted_key *v, size_t n, int want, int use_pred, int subject)
{
    size_t first = n, last = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        int id = use_pred ? (v[i].subject == subject ? v[i].predicate : -2) : v[i].subject;
        if (id == want) {
            if (first == n)
                first = i;
            last = i;
            count++;
        }
    }
    if (count)
        assert_int_equal(last - first + 1, count);
}

static void subject_keys_are_contiguous(void **state)
{
    (void)state;
    enum { N = 1500 };
    sorted_key *v = calloc(N, sizeof *v);
    assert_non_null(v);
    static kg_key g;
    for (uint64_t s = 0; s < SEEDS; s++) {
        tu_rng r;
        tu_rng_seed(&r, g_seed + 100 + s);
        for (size_t i = 0; i < N; i++) {
            steme_key_family fam = kg_random_family(&r);
            kg_random(&r, fam, &g);
            int subj = (int)tu_rng_below(&r, NSUBJ);
            int pred = (int)tu_rng_below(&r, NPRED);
            g.k.subject = subject_pool[subj];
            g.k.subject_len = strlen(subject_pool[subj]);
            g.k.predicate = predicate_pool[pred];
            g.k.predicate_len = strlen(predicate_pool[pred]);
            int scoped = steme_key_family_is_subject_scoped(fam);
            v[i].subject = scoped ? subj : -1;
            v[i].predicate = fam == STEME_FAM_SUBJECT_PRED_INDEX ? pred : -1;
            assert_int_equal(steme_key_encode(&g.k, v[i].bytes, sizeof v[i].bytes, &v[i].len,
                                              NULL), STEME_OK);
        }
        qsort(v, N, sizeof *v, cmp_sorted_key);
        /* global keys first: once a subject key is seen, no global follows */
        int seen_subject = 0;
        for (size_t i = 0; i < N; i++) {
            if (v[i].subject >= 0)
                seen_subject = 1;
            else
                assert_false(seen_subject);
        }
        for (int subj = 0; subj < NSUBJ; subj++) {
            assert_run(v, N, subj, 0, 0);
            for (int pred = 0; pred < NPRED; pred++)
                assert_run(v, N, pred, 1, subj); /* one (subject, predicate) SP range */
        }
        /* and the "{s}\0" prefix covers exactly the subject's run */
        for (size_t i = 0; i < N; i++) {
            if (v[i].subject < 0)
                continue;
            const char *sj = subject_pool[v[i].subject];
            size_t sl = strlen(sj);
            assert_memory_equal(v[i].bytes, sj, sl);
            assert_int_equal(v[i].bytes[sl], 0);
        }
    }
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(family_table_matches_spec),
        cmocka_unit_test(round_trip_every_family),
        cmocka_unit_test(prefixes_are_prefixes),
        cmocka_unit_test(byte_order_is_time_order),
        cmocka_unit_test(subject_keys_are_contiguous),
    };
    return cmocka_run_group_tests(tests, setup_seed, NULL);
}
