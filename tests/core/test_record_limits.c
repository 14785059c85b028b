/*
 * test_record_limits.c - every limit of every record checked at its
 * boundary (in validate, encode, and in decode of hand-patched bytes),
 * float canonicalisation, strict-decoding messages (field + offset), value
 * equality, and NULL arguments everywhere.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/records.h"

static char text_buf[STEME_VALUE_MAX + 2];

/* n bytes of 'x' (valid UTF-8) */
static const char *xs(size_t n)
{
    assert_true(n <= sizeof text_buf);
    memset(text_buf, 'x', n);
    return text_buf;
}

static steme_assertion base_assertion(void)
{
    steme_assertion a;
    memset(&a, 0, sizeof a);
    a.subject = "s";
    a.subject_len = 1;
    a.predicate = "p";
    a.predicate_len = 1;
    a.object = steme_value_bool(true);
    a.confidence = 0.5;
    a.source_kind = STEME_SOURCE_OTHER;
    return a;
}

static int a_valid(const steme_assertion *a)
{
    return steme_assertion_validate(a, NULL);
}

/* Encode a, then decode; both must agree with `expect`. */
static uint8_t enc_buf[STEME_ASSERTION_MAX_ENCODED + 16];

static void test_assertion_limits(void **state)
{
    (void)state;
    steme_assertion a = base_assertion();
    assert_int_equal(a_valid(&a), STEME_OK);

    a.subject = xs(1024); a.subject_len = 1024;
    assert_int_equal(a_valid(&a), STEME_OK);
    a.subject_len = 1025;
    assert_int_equal(a_valid(&a), STEME_E_TOO_BIG);
    a.subject_len = 0;
    assert_int_equal(a_valid(&a), STEME_E_INVALID);
    a = base_assertion();
    a.predicate = xs(256); a.predicate_len = 256;
    assert_int_equal(a_valid(&a), STEME_OK);
    a.predicate_len = 257;
    assert_int_equal(a_valid(&a), STEME_E_TOO_BIG);
    a = base_assertion();
    a.subject = "a\0b"; a.subject_len = 3;
    assert_int_equal(a_valid(&a), STEME_E_BAD_UTF8);
    a.subject = "\xc0\x80"; a.subject_len = 2;   /* overlong NUL */
    assert_int_equal(a_valid(&a), STEME_E_BAD_UTF8);

    a = base_assertion();
    a.source_ref = xs(2048); a.source_ref_len = 2048;
    assert_int_equal(a_valid(&a), STEME_OK);
    a.source_ref_len = 2049;
    assert_int_equal(a_valid(&a), STEME_E_TOO_BIG);
    a.source_ref = NULL; a.source_ref_len = 3;
    assert_int_equal(a_valid(&a), STEME_E_INVALID);
    a.source_ref_len = 0;
    assert_int_equal(a_valid(&a), STEME_OK);

    a = base_assertion();
    a.confidence = 1.0;
    assert_int_equal(a_valid(&a), STEME_OK);
    a.confidence = nextafter(1.0, 2.0);
    assert_int_equal(a_valid(&a), STEME_E_INVALID);
    a.confidence = 0.0;
    assert_int_equal(a_valid(&a), STEME_OK);
    a.confidence = -0.0;
    assert_int_equal(a_valid(&a), STEME_OK);
    a.confidence = -nextafter(0.0, 1.0);
    assert_int_equal(a_valid(&a), STEME_E_INVALID);
    a.confidence = NAN;
    assert_int_equal(a_valid(&a), STEME_E_INVALID);
    a.confidence = INFINITY;
    assert_int_equal(a_valid(&a), STEME_E_INVALID);

    a = base_assertion();
    a.source_kind = (steme_source_kind)0;
    assert_int_equal(a_valid(&a), STEME_E_INVALID);
    a.source_kind = (steme_source_kind)9;
    assert_int_equal(a_valid(&a), STEME_E_INVALID);
    a.source_kind = STEME_SOURCE_REGULATORY;
    assert_int_equal(a_valid(&a), STEME_OK);
    assert_string_equal(steme_source_kind_name(STEME_SOURCE_PEER_REVIEWED), "peer_reviewed");
    assert_null(steme_source_kind_name((steme_source_kind)0));

    /* object limits */
    a = base_assertion();
    a.object = steme_value_string(xs(STEME_VALUE_MAX), STEME_VALUE_MAX);
    assert_int_equal(a_valid(&a), STEME_OK);
    a.object.v.str.len = STEME_VALUE_MAX + 1;
    assert_int_equal(a_valid(&a), STEME_E_TOO_BIG);
    a.object = steme_value_bytes((const uint8_t *)xs(STEME_VALUE_MAX), STEME_VALUE_MAX);
    assert_int_equal(a_valid(&a), STEME_OK);
    a.object.v.bytes.len = STEME_VALUE_MAX + 1;
    assert_int_equal(a_valid(&a), STEME_E_TOO_BIG);
    a.object = steme_value_bytes(NULL, 1);
    assert_int_equal(a_valid(&a), STEME_E_INVALID);
    a.object = steme_value_float(NAN);
    assert_int_equal(a_valid(&a), STEME_E_INVALID);
    a.object = steme_value_float(-INFINITY);
    assert_int_equal(a_valid(&a), STEME_E_INVALID);
    a.object = steme_value_float(-1e308);
    assert_int_equal(a_valid(&a), STEME_OK);
    a.object.type = (steme_value_type)0;
    assert_int_equal(a_valid(&a), STEME_E_INVALID);
    a.object.type = (steme_value_type)6;
    assert_int_equal(a_valid(&a), STEME_E_INVALID);
    assert_int_equal(steme_assertion_encoded_size(&a), 0);

    /* largest assertion encodes to exactly the documented maximum */
    a = base_assertion();
    static char subj[1024], pred[256], ref[2048];
    memset(subj, 's', sizeof subj);
    memset(pred, 'p', sizeof pred);
    memset(ref, 'r', sizeof ref);
    a.subject = subj; a.subject_len = sizeof subj;
    a.predicate = pred; a.predicate_len = sizeof pred;
    a.source_ref = ref; a.source_ref_len = sizeof ref;
    a.object = steme_value_string(xs(STEME_VALUE_MAX), STEME_VALUE_MAX);
    a.has_epoch = a.has_embedding = a.has_phash = a.has_signature = true;
    size_t n;
    assert_int_equal(steme_assertion_encode(&a, enc_buf, sizeof enc_buf, &n, NULL), STEME_OK);
    assert_int_equal(n, STEME_ASSERTION_MAX_ENCODED);
    assert_int_equal(steme_assertion_encoded_size(&a), STEME_ASSERTION_MAX_ENCODED);
    steme_assertion d;
    assert_int_equal(steme_assertion_decode(enc_buf, n, &d, NULL), STEME_OK);
    assert_int_equal(d.object.v.str.len, STEME_VALUE_MAX);
    /* zero-copy: views point into the buffer */
    assert_ptr_equal(d.subject, (const char *)enc_buf + 5);
}

/* Patch an encoded field and check decode refuses it with field + offset. */
static void expect_decode_fail(const uint8_t *b, size_t n, int code, const char *field,
                               const char *offset)
{
    steme_assertion d;
    steme_error err = {0, ""};
    assert_int_equal(steme_assertion_decode(b, n, &d, &err), code);
    assert_int_equal(err.code, code);
    if (!strstr(err.message, field) || !strstr(err.message, offset))
        fail_msg("message '%s' lacks '%s' or '%s'", err.message, field, offset);
}

static void test_assertion_strict_decode(void **state)
{
    (void)state;
    steme_assertion a = base_assertion();
    a.object = steme_value_float(1.5);
    a.confidence = 1.0;
    uint8_t b[256];
    size_t n;
    assert_int_equal(steme_assertion_encode(&a, b, sizeof b, &n, NULL), STEME_OK);
    /* layout: 0 type,1 ver,2 flags,3 len=1,5 's',6 len=1,8 'p',9 tag,10 f64,
     * 18 confidence, 26 kind, 27 ref len, 29 agent, 61 ts, 69 end */
    assert_int_equal(n, 69);
    uint8_t c[256];
    const uint8_t neg0[8] = {0, 0, 0, 0, 0, 0, 0, 0x80};

    memcpy(c, b, n); c[2] = 0x10;
    expect_decode_fail(c, n, STEME_E_CORRUPT, "flags", "byte 2");
    memcpy(c, b, n); c[1] = 2;
    expect_decode_fail(c, n, STEME_E_VERSION, "version", "byte 1");
    memcpy(c, b, n); c[0] = STEME_REC_VOTE;
    expect_decode_fail(c, n, STEME_E_CORRUPT, "record type", "byte 0");
    memcpy(c, b, n); c[10 + 7] = 0xff; c[10 + 6] = 0xf8;   /* object NaN */
    expect_decode_fail(c, n, STEME_E_CORRUPT, "object", "byte 10");
    memcpy(c, b, n); memcpy(c + 10, neg0, 8);             /* object -0.0 */
    expect_decode_fail(c, n, STEME_E_CORRUPT, "object", "byte 10");
    memcpy(c, b, n); memcpy(c + 18, neg0, 8);             /* confidence -0.0 */
    expect_decode_fail(c, n, STEME_E_CORRUPT, "confidence", "byte 18");
    memcpy(c, b, n); c[18] = 1;                           /* 1.0 + 1 ulp */
    expect_decode_fail(c, n, STEME_E_CORRUPT, "confidence", "byte 18");
    memcpy(c, b, n); c[26] = 9;
    expect_decode_fail(c, n, STEME_E_CORRUPT, "source kind", "byte 26");
    memcpy(c, b, n); c[26] = 0;
    expect_decode_fail(c, n, STEME_E_CORRUPT, "source kind", "byte 26");
    memcpy(c, b, n); c[9] = 6;
    expect_decode_fail(c, n, STEME_E_CORRUPT, "object", "byte 9");
    memcpy(c, b, n); c[5] = 0xff;                         /* invalid UTF-8 subject */
    expect_decode_fail(c, n, STEME_E_CORRUPT, "subject", "byte 5");
    memcpy(c, b, n); c[5] = 0;                            /* NUL in subject */
    expect_decode_fail(c, n, STEME_E_CORRUPT, "subject", "byte 5");
    memcpy(c, b, n); c[3] = 0; c[4] = 0;                  /* empty subject */
    expect_decode_fail(c, n, STEME_E_CORRUPT, "subject", "byte 3");
    memcpy(c, b, n); c[3] = 0x01; c[4] = 0x04;            /* 1025 > limit */
    expect_decode_fail(c, n, STEME_E_CORRUPT, "subject", "byte 3");
    memcpy(c, b, n); c[3] = 0x00; c[4] = 0x04;            /* 1024: past the end */
    expect_decode_fail(c, n, STEME_E_CORRUPT, "subject", "byte 5");
    memcpy(c, b, n); c[n] = 0;
    expect_decode_fail(c, n + 1, STEME_E_CORRUPT, "trailing", "byte 69");
    expect_decode_fail(b, n - 1, STEME_E_CORRUPT, "timestamp", "byte 61");
    expect_decode_fail(b, 0, STEME_E_CORRUPT, "record type", "byte 0");

    /* bool: 0/1 only */
    a.object = steme_value_bool(true);
    assert_int_equal(steme_assertion_encode(&a, b, sizeof b, &n, NULL), STEME_OK);
    memcpy(c, b, n); c[10] = 2;
    expect_decode_fail(c, n, STEME_E_CORRUPT, "object", "byte 10");

    /* -0.0 is written as +0.0 */
    a.confidence = -0.0;
    a.object = steme_value_float(-0.0);
    assert_int_equal(steme_assertion_encode(&a, b, sizeof b, &n, NULL), STEME_OK);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(b[10 + i], 0);
        assert_int_equal(b[18 + i], 0);
    }
}

static void test_value_equal(void **state)
{
    (void)state;
    steme_value a = steme_value_string("abc", 3), b = steme_value_string("abcd", 3);
    assert_true(steme_value_equal(&a, &b));
    steme_value c = steme_value_bytes((const uint8_t *)"abc", 3);
    assert_false(steme_value_equal(&a, &c));     /* type matters */
    b.v.str.len = 4;
    assert_false(steme_value_equal(&a, &b));
    steme_value e1 = steme_value_string(NULL, 0), e2 = steme_value_string("", 0);
    assert_true(steme_value_equal(&e1, &e2));
    steme_value f1 = steme_value_float(0.0), f2 = steme_value_float(-0.0);
    assert_true(steme_value_equal(&f1, &f2));
    steme_value i1 = steme_value_int(1), d1 = steme_value_float(1.0);
    assert_false(steme_value_equal(&i1, &d1));
    steme_value t = steme_value_bool(true), t2 = steme_value_bool(true);
    assert_true(steme_value_equal(&t, &t2));
    assert_false(steme_value_equal(NULL, &t));
    assert_false(steme_value_equal(&t, NULL));
    steme_value bad = steme_value_string(NULL, 3);
    assert_false(steme_value_equal(&bad, &bad));
    assert_int_equal(steme_value_validate(NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_value_validate(&t, NULL), STEME_OK);
}

static void test_vote_limits(void **state)
{
    (void)state;
    steme_vote v;
    memset(&v, 0, sizeof v);
    double ok[] = {-1.0, 1.0, 0.0, -0.0, 0.25};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        v.weight = ok[i];
        assert_int_equal(steme_vote_validate(&v, NULL), STEME_OK);
    }
    double bad[] = {1.0000001, -1.0000001, nextafter(1.0, 2.0), NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v.weight = bad[i];
        assert_int_equal(steme_vote_validate(&v, NULL), STEME_E_INVALID);
        uint8_t b[STEME_VOTE_MAX_ENCODED];
        size_t n;
        assert_int_equal(steme_vote_encode(&v, b, sizeof b, &n, NULL), STEME_E_INVALID);
    }
}

static void test_store_record_limits(void **state)
{
    (void)state;
    steme_trust_rank t;
    memset(&t, 0, sizeof t);
    t.score = 1.0;
    t.assertions_count = 5;
    t.accuracy_count = 5;
    assert_int_equal(steme_trust_rank_validate(&t, NULL), STEME_OK);
    t.accuracy_count = 6;
    assert_int_equal(steme_trust_rank_validate(&t, NULL), STEME_E_INVALID);
    t.accuracy_count = 0;
    t.score = nextafter(1.0, 2.0);
    assert_int_equal(steme_trust_rank_validate(&t, NULL), STEME_E_INVALID);

    steme_trust_pack p;
    memset(&p, 0, sizeof p);
    p.name = xs(256); p.name_len = 256;
    assert_int_equal(steme_trust_pack_validate(&p, NULL), STEME_OK);
    p.name_len = 257;
    assert_int_equal(steme_trust_pack_validate(&p, NULL), STEME_E_TOO_BIG);
    p.name_len = 0;
    assert_int_equal(steme_trust_pack_validate(&p, NULL), STEME_E_INVALID);
    p.name_len = 1;
    p.description = xs(4096); p.description_len = 4096;
    assert_int_equal(steme_trust_pack_validate(&p, NULL), STEME_OK);
    p.description_len = 4097;
    assert_int_equal(steme_trust_pack_validate(&p, NULL), STEME_E_TOO_BIG);

    steme_gold_standard g;
    memset(&g, 0, sizeof g);
    g.subject = "s"; g.subject_len = 1;
    g.predicate = "p"; g.predicate_len = 1;
    assert_int_equal(steme_gold_standard_validate(&g, NULL), STEME_E_INVALID);  /* type 0 */
    g.expected = steme_value_int(-1);
    assert_int_equal(steme_gold_standard_validate(&g, NULL), STEME_OK);
    g.subject_len = 1025;
    assert_int_equal(steme_gold_standard_validate(&g, NULL), STEME_E_TOO_BIG);

    static steme_hash cands[STEME_AUDIT_CANDIDATES_MAX + 1];
    steme_query_audit q;
    memset(&q, 0, sizeof q);
    q.subject = "s"; q.subject_len = 1;
    q.predicate = "p"; q.predicate_len = 1;
    q.lens = STEME_LENS_SKEPTIC;
    q.candidates = cands;
    q.n_candidates = STEME_AUDIT_CANDIDATES_MAX;
    assert_int_equal(steme_query_audit_validate(&q, NULL), STEME_OK);
    q.n_candidates = STEME_AUDIT_CANDIDATES_MAX + 1;
    assert_int_equal(steme_query_audit_validate(&q, NULL), STEME_E_TOO_BIG);
    q.n_candidates = 1;
    q.candidates = NULL;
    assert_int_equal(steme_query_audit_validate(&q, NULL), STEME_E_INVALID);
    q.n_candidates = 0;
    q.lens = (steme_lens)7;
    assert_int_equal(steme_query_audit_validate(&q, NULL), STEME_E_INVALID);
    q.lens = STEME_LENS_VOTE;
    q.confidence = -0.1;
    assert_int_equal(steme_query_audit_validate(&q, NULL), STEME_E_INVALID);
    assert_string_equal(steme_lens_name(STEME_LENS_AUTHORITY), "authority");
    assert_null(steme_lens_name((steme_lens)0));

    steme_escalation e;
    memset(&e, 0, sizeof e);
    e.target_kind = STEME_ESC_TARGET_ASSERTION;
    e.status = STEME_ESC_OPEN;
    e.conflict_score = 1.0;
    assert_int_equal(steme_escalation_validate(&e, NULL), STEME_OK);
    e.resolved_at = 5;
    assert_int_equal(steme_escalation_validate(&e, NULL), STEME_E_INVALID);
    e.status = STEME_ESC_RESOLVED;
    e.resolution_note = xs(4096); e.resolution_note_len = 4096;
    assert_int_equal(steme_escalation_validate(&e, NULL), STEME_OK);
    e.resolution_note_len = 4097;
    assert_int_equal(steme_escalation_validate(&e, NULL), STEME_E_TOO_BIG);
    e.resolution_note_len = 0;
    e.target_kind = STEME_ESC_TARGET_SUBJECT;   /* needs subject + predicate */
    assert_int_equal(steme_escalation_validate(&e, NULL), STEME_E_INVALID);
    e.subject = "s"; e.subject_len = 1;
    e.predicate = "p"; e.predicate_len = 1;
    assert_int_equal(steme_escalation_validate(&e, NULL), STEME_OK);
    e.target_kind = (steme_escalation_target_kind)3;
    assert_int_equal(steme_escalation_validate(&e, NULL), STEME_E_INVALID);
    e.target_kind = STEME_ESC_TARGET_SUBJECT;
    e.status = (steme_escalation_status)0;
    assert_int_equal(steme_escalation_validate(&e, NULL), STEME_E_INVALID);
    e.status = STEME_ESC_RESOLVED;
    e.conflict_score = nextafter(1.0, 2.0);
    assert_int_equal(steme_escalation_validate(&e, NULL), STEME_E_INVALID);

    steme_supersession s;
    memset(&s, 0, sizeof s);
    assert_int_equal(steme_supersession_validate(&s, NULL), STEME_E_INVALID);  /* old == new */
    s.new_hash.bytes[31] = 1;
    assert_int_equal(steme_supersession_validate(&s, NULL), STEME_OK);
    s.reason = xs(4097); s.reason_len = 4097;
    assert_int_equal(steme_supersession_validate(&s, NULL), STEME_E_TOO_BIG);
    s.reason_len = 4096;
    assert_int_equal(steme_supersession_validate(&s, NULL), STEME_OK);
    /* a self-link in bytes is refused by decode too */
    uint8_t b[8192];
    size_t n;
    s.reason_len = 0;
    assert_int_equal(steme_supersession_encode(&s, b, sizeof b, &n, NULL), STEME_OK);
    b[3 + 32 + 31] = 0;
    steme_supersession d;
    steme_error err = {0, ""};
    assert_int_equal(steme_supersession_decode(b, n, &d, &err), STEME_E_CORRUPT);
    assert_non_null(strstr(err.message, "byte 35"));
}

/* NULL and bad buffer arguments for every record's functions. */
#define NULL_CHECKS(T, x)                                                              \
    do {                                                                               \
        uint8_t b_[16];                                                                \
        size_t n_ = 99;                                                                \
        assert_int_equal(steme_##T##_encoded_size(NULL), 0);                          \
        assert_int_equal(steme_##T##_validate(NULL, NULL), STEME_E_INVALID);          \
        assert_int_equal(steme_##T##_encode(NULL, b_, sizeof b_, &n_, NULL),          \
                         STEME_E_INVALID);                                             \
        assert_int_equal(steme_##T##_encode(&(x), b_, sizeof b_, NULL, NULL),         \
                         STEME_E_INVALID);                                             \
        assert_int_equal(steme_##T##_encode(&(x), NULL, 0, &n_, NULL),                \
                         STEME_E_BUFFER_SMALL);                                        \
        assert_int_equal(n_, steme_##T##_encoded_size(&(x)));                        \
        assert_int_equal(steme_##T##_decode(NULL, 5, &(x), NULL), STEME_E_INVALID);   \
        assert_int_equal(steme_##T##_decode(b_, sizeof b_, NULL, NULL),               \
                         STEME_E_INVALID);                                             \
        assert_int_equal(steme_##T##_decode(NULL, 0, &(x), NULL), STEME_E_CORRUPT);   \
    } while (0)

static void test_null_arguments(void **state)
{
    (void)state;
    steme_assertion a = base_assertion();
    NULL_CHECKS(assertion, a);
    steme_vote v;
    memset(&v, 0, sizeof v);
    NULL_CHECKS(vote, v);
    steme_trust_rank t;
    memset(&t, 0, sizeof t);
    NULL_CHECKS(trust_rank, t);
    steme_gold_standard g;
    memset(&g, 0, sizeof g);
    g.subject = g.predicate = "x";
    g.subject_len = g.predicate_len = 1;
    g.expected = steme_value_int(1);
    NULL_CHECKS(gold_standard, g);
    steme_trust_pack p;
    memset(&p, 0, sizeof p);
    p.name = "n";
    p.name_len = 1;
    NULL_CHECKS(trust_pack, p);
    steme_query_audit q;
    memset(&q, 0, sizeof q);
    q.subject = q.predicate = "x";
    q.subject_len = q.predicate_len = 1;
    q.lens = STEME_LENS_RECENCY;
    NULL_CHECKS(query_audit, q);
    steme_quota_record u;
    memset(&u, 0, sizeof u);
    NULL_CHECKS(quota_record, u);
    steme_escalation e;
    memset(&e, 0, sizeof e);
    e.target_kind = STEME_ESC_TARGET_ASSERTION;
    e.status = STEME_ESC_OPEN;
    NULL_CHECKS(escalation, e);
    steme_supersession s;
    memset(&s, 0, sizeof s);
    s.old_hash.bytes[0] = 1;
    NULL_CHECKS(supersession, s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assertion_limits),
        cmocka_unit_test(test_assertion_strict_decode),
        cmocka_unit_test(test_value_equal),
        cmocka_unit_test(test_vote_limits),
        cmocka_unit_test(test_store_record_limits),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
