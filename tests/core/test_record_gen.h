/*
 * test_record_gen.h - shared by test_record_props.c and test_record_fuzz.c
 * (included, not compiled alone): random valid records of all nine types,
 * field-wise equality, a table of the codec functions per type, and the
 * canonical-decoding check.
 */
#ifndef STEME_TEST_RECORD_GEN_H
#define STEME_TEST_RECORD_GEN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/records.h"
#include "testutil.h"

/* ------------------------------------------------------------ random */

/* Valid UTF-8 (no NUL) of exactly n bytes: a mix of 1..4-byte characters. */
static void gen_utf8(tu_rng *r, char *out, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t left = n - i;
        unsigned k = (unsigned)tu_rng_below(r, 8);
        if (k == 5 && left >= 2) {          /* U+0080..U+07FF */
            unsigned c = 0x80 + (unsigned)tu_rng_below(r, 0x780);
            out[i++] = (char)(0xC0 | c >> 6);
            out[i++] = (char)(0x80 | (c & 63));
        } else if (k == 6 && left >= 3) {   /* U+0800..U+FFFF minus surrogates */
            unsigned c = 0x800 + (unsigned)tu_rng_below(r, 0xF800);
            if (c >= 0xD800 && c <= 0xDFFF)
                c -= 0x1000;
            out[i++] = (char)(0xE0 | c >> 12);
            out[i++] = (char)(0x80 | ((c >> 6) & 63));
            out[i++] = (char)(0x80 | (c & 63));
        } else if (k == 7 && left >= 4) {   /* U+10000..U+10FFFF */
            unsigned c = 0x10000 + (unsigned)tu_rng_below(r, 0x100000);
            out[i++] = (char)(0xF0 | c >> 18);
            out[i++] = (char)(0x80 | ((c >> 12) & 63));
            out[i++] = (char)(0x80 | ((c >> 6) & 63));
            out[i++] = (char)(0x80 | (c & 63));
        } else {
            out[i++] = (char)(1 + tu_rng_below(r, 127));
        }
    }
}

/* Bump allocator for the text a generated record points to. */
typedef struct arena { char *p; size_t used, cap; } arena;

/* A length in [min, max], skewed to small with the limits themselves often. */
static size_t gen_len(tu_rng *r, size_t min, size_t max)
{
    switch (tu_rng_below(r, 10)) {
    case 0: return min;
    case 1: return max;
    case 2: return min + tu_rng_below(r, max - min + 1);
    default: {
        size_t small = max - min < 24 ? max - min : 24;
        return min + tu_rng_below(r, small + 1);
    }
    }
}

static const char *gen_text(tu_rng *r, arena *a, size_t min, size_t max, size_t *len)
{
    size_t n = gen_len(r, min, max);
    assert_true(a->used + n <= a->cap);
    char *p = a->p + a->used;
    gen_utf8(r, p, n);
    a->used += n;
    *len = n;
    return n || tu_rng_below(r, 2) ? p : NULL;  /* empty text may be NULL */
}

static double gen_unit(tu_rng *r, double lo)
{
    switch (tu_rng_below(r, 8)) {
    case 0: return lo;
    case 1: return 1.0;
    case 2: return -0.0;  /* canonicalised to +0.0 */
    case 3: return 0.0;
    default: return lo + (1.0 - lo) * ((double)(tu_rng_next(r) >> 11) / 9007199254740992.0);
    }
}

static void gen_fixed(tu_rng *r, void *p, size_t n)
{
    tu_rng_bytes(r, p, n);
}

static void gen_value(tu_rng *r, arena *a, steme_value *v)
{
    switch (tu_rng_below(r, 5)) {
    case 0: {
        size_t n;
        const char *s = gen_text(r, a, 0, tu_rng_below(r, 20) ? 64 : STEME_VALUE_MAX, &n);
        *v = steme_value_string(s, n);
        break;
    }
    case 1: {
        size_t n = gen_len(r, 0, tu_rng_below(r, 20) ? 64 : STEME_VALUE_MAX);
        uint8_t *p = (uint8_t *)a->p + a->used;
        assert_true(a->used + n <= a->cap);
        tu_rng_bytes(r, p, n);
        a->used += n;
        *v = steme_value_bytes(n ? p : NULL, n);
        break;
    }
    case 2: *v = steme_value_int((int64_t)tu_rng_next(r)); break;
    case 3: {
        double d;
        do {
            uint64_t bits = tu_rng_next(r);
            memcpy(&d, &bits, 8);
        } while (!isfinite(d));
        *v = steme_value_float(d);
        break;
    }
    default: *v = steme_value_bool(tu_rng_below(r, 2)); break;
    }
}

/* ---------------------------------------------------- generators/eq */

static void gen_assertion(tu_rng *r, arena *a, void *out)
{
    steme_assertion *x = out;
    memset(x, 0, sizeof *x);
    x->subject = gen_text(r, a, 1, STEME_SUBJECT_MAX, &x->subject_len);
    x->predicate = gen_text(r, a, 1, STEME_PREDICATE_MAX, &x->predicate_len);
    gen_value(r, a, &x->object);
    x->confidence = gen_unit(r, 0.0);
    x->source_kind = (steme_source_kind)(1 + tu_rng_below(r, 8));
    x->source_ref = gen_text(r, a, 0, STEME_SOURCE_REF_MAX, &x->source_ref_len);
    gen_fixed(r, &x->agent, sizeof x->agent);
    x->timestamp = tu_rng_next(r);
    if ((x->has_epoch = tu_rng_below(r, 2)))
        x->epoch = tu_rng_next(r);
    if ((x->has_embedding = tu_rng_below(r, 2)))
        gen_fixed(r, &x->embedding, sizeof x->embedding);
    if ((x->has_phash = tu_rng_below(r, 2)))
        x->phash = tu_rng_next(r);
    if ((x->has_signature = tu_rng_below(r, 2)))
        gen_fixed(r, &x->signature, sizeof x->signature);
}

static int text_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}
#define TEXT_EQ(f) text_eq(x->f, x->f##_len, y->f, y->f##_len)
#define FIX_EQ(f) (memcmp(&x->f, &y->f, sizeof x->f) == 0)

static int eq_assertion(const void *a, const void *b)
{
    const steme_assertion *x = a, *y = b;
    return TEXT_EQ(subject) && TEXT_EQ(predicate) && steme_value_equal(&x->object, &y->object) &&
           x->confidence == y->confidence && x->source_kind == y->source_kind &&
           TEXT_EQ(source_ref) && FIX_EQ(agent) && x->timestamp == y->timestamp &&
           x->has_epoch == y->has_epoch && (!x->has_epoch || x->epoch == y->epoch) &&
           x->has_embedding == y->has_embedding && (!x->has_embedding || FIX_EQ(embedding)) &&
           x->has_phash == y->has_phash && (!x->has_phash || x->phash == y->phash) &&
           x->has_signature == y->has_signature && (!x->has_signature || FIX_EQ(signature));
}

static void gen_vote(tu_rng *r, arena *a, void *out)
{
    steme_vote *x = out;
    memset(x, 0, sizeof *x);
    gen_fixed(r, &x->assertion, sizeof x->assertion);
    gen_fixed(r, &x->voter, sizeof x->voter);
    x->weight = gen_unit(r, -1.0);
    x->timestamp = tu_rng_next(r);
    if ((x->has_signature = tu_rng_below(r, 2)))
        gen_fixed(r, &x->signature, sizeof x->signature);
}

static int eq_vote(const void *a, const void *b)
{
    const steme_vote *x = a, *y = b;
    return FIX_EQ(assertion) && FIX_EQ(voter) && x->weight == y->weight &&
           x->timestamp == y->timestamp && x->has_signature == y->has_signature &&
           (!x->has_signature || FIX_EQ(signature));
}

static void gen_trust_rank(tu_rng *r, arena *a, void *out)
{
    steme_trust_rank *x = out;
    memset(x, 0, sizeof *x);
    gen_fixed(r, &x->agent, sizeof x->agent);
    x->score = gen_unit(r, 0.0);
    x->last_updated = tu_rng_next(r);
    x->assertions_count = tu_rng_below(r, 2) ? tu_rng_next(r) : tu_rng_below(r, 100);
    x->accuracy_count = x->assertions_count ? tu_rng_below(r, x->assertions_count) : 0;
    if (tu_rng_below(r, 4) == 0)
        x->accuracy_count = x->assertions_count;
}

static int eq_trust_rank(const void *a, const void *b)
{
    const steme_trust_rank *x = a, *y = b;
    return FIX_EQ(agent) && x->score == y->score && x->last_updated == y->last_updated &&
           x->assertions_count == y->assertions_count && x->accuracy_count == y->accuracy_count;
}

static void gen_gold(tu_rng *r, arena *a, void *out)
{
    steme_gold_standard *x = out;
    memset(x, 0, sizeof *x);
    gen_fixed(r, &x->assertion, sizeof x->assertion);
    x->subject = gen_text(r, a, 1, STEME_SUBJECT_MAX, &x->subject_len);
    x->predicate = gen_text(r, a, 1, STEME_PREDICATE_MAX, &x->predicate_len);
    gen_value(r, a, &x->expected);
    x->set_at = tu_rng_next(r);
    gen_fixed(r, &x->set_by, sizeof x->set_by);
}

static int eq_gold(const void *a, const void *b)
{
    const steme_gold_standard *x = a, *y = b;
    return FIX_EQ(assertion) && TEXT_EQ(subject) && TEXT_EQ(predicate) &&
           steme_value_equal(&x->expected, &y->expected) && x->set_at == y->set_at &&
           FIX_EQ(set_by);
}

static void gen_pack(tu_rng *r, arena *a, void *out)
{
    steme_trust_pack *x = out;
    memset(x, 0, sizeof *x);
    gen_fixed(r, &x->id, sizeof x->id);
    x->name = gen_text(r, a, 1, STEME_PACK_NAME_MAX, &x->name_len);
    gen_fixed(r, &x->maintainer, sizeof x->maintainer);
    x->description = gen_text(r, a, 0, STEME_TEXT_MAX, &x->description_len);
    x->created_at = tu_rng_next(r);
}

static int eq_pack(const void *a, const void *b)
{
    const steme_trust_pack *x = a, *y = b;
    return FIX_EQ(id) && TEXT_EQ(name) && FIX_EQ(maintainer) && TEXT_EQ(description) &&
           x->created_at == y->created_at;
}

static void gen_audit(tu_rng *r, arena *a, void *out)
{
    steme_query_audit *x = out;
    memset(x, 0, sizeof *x);
    gen_fixed(r, &x->query_id, sizeof x->query_id);
    gen_fixed(r, &x->agent, sizeof x->agent);
    x->timestamp = tu_rng_next(r);
    x->subject = gen_text(r, a, 1, STEME_SUBJECT_MAX, &x->subject_len);
    x->predicate = gen_text(r, a, 1, STEME_PREDICATE_MAX, &x->predicate_len);
    x->lens = (steme_lens)(1 + tu_rng_below(r, 6));
    size_t n = gen_len(r, 0, tu_rng_below(r, 30) ? 16 : STEME_AUDIT_CANDIDATES_MAX);
    /* candidates live in the arena, which is only byte-aligned: fine for steme_hash */
    assert_true(a->used + n * STEME_HASH_LEN <= a->cap);
    steme_hash *c = (steme_hash *)(void *)(a->p + a->used);
    tu_rng_bytes(r, c, n * STEME_HASH_LEN);
    a->used += n * STEME_HASH_LEN;
    x->candidates = n || tu_rng_below(r, 2) ? c : NULL;
    x->n_candidates = n;
    if ((x->has_winner = tu_rng_below(r, 2)))
        gen_fixed(r, &x->winner, sizeof x->winner);
    x->confidence = gen_unit(r, 0.0);
    x->duration_us = tu_rng_next(r);
}

static int eq_audit(const void *a, const void *b)
{
    const steme_query_audit *x = a, *y = b;
    return FIX_EQ(query_id) && FIX_EQ(agent) && x->timestamp == y->timestamp &&
           TEXT_EQ(subject) && TEXT_EQ(predicate) && x->lens == y->lens &&
           x->n_candidates == y->n_candidates &&
           (x->n_candidates == 0 ||
            memcmp(x->candidates, y->candidates, x->n_candidates * STEME_HASH_LEN) == 0) &&
           x->has_winner == y->has_winner && (!x->has_winner || FIX_EQ(winner)) &&
           x->confidence == y->confidence && x->duration_us == y->duration_us;
}

static void gen_quota(tu_rng *r, arena *a, void *out)
{
    steme_quota_record *x = out;
    memset(x, 0, sizeof *x);
    gen_fixed(r, &x->agent, sizeof x->agent);
    x->hour = tu_rng_next(r);
    x->tokens_used = tu_rng_next(r);
    x->assert_ops = tu_rng_next(r);
    x->vote_ops = tu_rng_next(r);
    x->query_ops = tu_rng_next(r);
}

static int eq_quota(const void *a, const void *b)
{
    const steme_quota_record *x = a, *y = b;
    return FIX_EQ(agent) && x->hour == y->hour && x->tokens_used == y->tokens_used &&
           x->assert_ops == y->assert_ops && x->vote_ops == y->vote_ops &&
           x->query_ops == y->query_ops;
}

static void gen_escalation(tu_rng *r, arena *a, void *out)
{
    steme_escalation *x = out;
    memset(x, 0, sizeof *x);
    gen_fixed(r, &x->id, sizeof x->id);
    if (tu_rng_below(r, 2)) {
        x->target_kind = STEME_ESC_TARGET_ASSERTION;
        gen_fixed(r, &x->target_hash, sizeof x->target_hash);
    } else {
        x->target_kind = STEME_ESC_TARGET_SUBJECT;
        x->subject = gen_text(r, a, 1, STEME_SUBJECT_MAX, &x->subject_len);
        x->predicate = gen_text(r, a, 1, STEME_PREDICATE_MAX, &x->predicate_len);
    }
    x->conflict_score = gen_unit(r, 0.0);
    x->reason = gen_text(r, a, 0, STEME_TEXT_MAX, &x->reason_len);
    x->created_at = tu_rng_next(r);
    if (tu_rng_below(r, 2)) {
        x->status = STEME_ESC_OPEN;
    } else {
        x->status = STEME_ESC_RESOLVED;
        x->resolved_at = tu_rng_next(r);
        x->resolution_note = gen_text(r, a, 0, STEME_TEXT_MAX, &x->resolution_note_len);
    }
}

static int eq_escalation(const void *a, const void *b)
{
    const steme_escalation *x = a, *y = b;
    int target = x->target_kind == y->target_kind &&
                 (x->target_kind == STEME_ESC_TARGET_ASSERTION
                      ? FIX_EQ(target_hash)
                      : TEXT_EQ(subject) && TEXT_EQ(predicate));
    return target && FIX_EQ(id) && x->conflict_score == y->conflict_score && TEXT_EQ(reason) &&
           x->status == y->status && x->created_at == y->created_at &&
           x->resolved_at == y->resolved_at && TEXT_EQ(resolution_note);
}

static void gen_supersession(tu_rng *r, arena *a, void *out)
{
    steme_supersession *x = out;
    memset(x, 0, sizeof *x);
    gen_fixed(r, &x->old_hash, sizeof x->old_hash);
    gen_fixed(r, &x->new_hash, sizeof x->new_hash);
    x->new_hash.bytes[0] = (uint8_t)(x->old_hash.bytes[0] ^ 1);  /* never equal */
    x->reason = gen_text(r, a, 0, STEME_TEXT_MAX, &x->reason_len);
    gen_fixed(r, &x->agent, sizeof x->agent);
    x->timestamp = tu_rng_next(r);
}

static int eq_supersession(const void *a, const void *b)
{
    const steme_supersession *x = a, *y = b;
    return FIX_EQ(old_hash) && FIX_EQ(new_hash) && TEXT_EQ(reason) && FIX_EQ(agent) &&
           x->timestamp == y->timestamp;
}

/* -------------------------------------------------------- type table */

/* Wrappers with void* signatures (calling through a cast function pointer
 * would be undefined behaviour, and UBSan's function check says so). */
#define WRAP(T)                                                                          \
    static int enc_##T(const void *x, uint8_t *b, size_t c, size_t *l, steme_error *e)   \
    { return steme_##T##_encode(x, b, c, l, e); }                                        \
    static int dec_##T(const uint8_t *b, size_t l, void *o, steme_error *e)              \
    { return steme_##T##_decode(b, l, o, e); }                                           \
    static size_t size_##T(const void *x) { return steme_##T##_encoded_size(x); }
WRAP(assertion)
WRAP(vote)
WRAP(trust_rank)
WRAP(gold_standard)
WRAP(trust_pack)
WRAP(query_audit)
WRAP(quota_record)
WRAP(escalation)
WRAP(supersession)

typedef struct rec_ops {
    const char *name;
    steme_record_type type;
    void (*gen)(tu_rng *r, arena *a, void *out);
    int (*eq)(const void *a, const void *b);
    int (*enc)(const void *x, uint8_t *b, size_t c, size_t *l, steme_error *e);
    int (*dec)(const uint8_t *b, size_t l, void *o, steme_error *e);
    size_t (*size)(const void *x);
} rec_ops;

#define OPS(T, type, gen, eq) {#T, type, gen, eq, enc_##T, dec_##T, size_##T}
static const rec_ops ALL[] = {
    OPS(assertion, STEME_REC_ASSERTION, gen_assertion, eq_assertion),
    OPS(vote, STEME_REC_VOTE, gen_vote, eq_vote),
    OPS(trust_rank, STEME_REC_TRUST_RANK, gen_trust_rank, eq_trust_rank),
    OPS(gold_standard, STEME_REC_GOLD_STANDARD, gen_gold, eq_gold),
    OPS(trust_pack, STEME_REC_TRUST_PACK, gen_pack, eq_pack),
    OPS(query_audit, STEME_REC_QUERY_AUDIT, gen_audit, eq_audit),
    OPS(quota_record, STEME_REC_QUOTA, gen_quota, eq_quota),
    OPS(escalation, STEME_REC_ESCALATION, gen_escalation, eq_escalation),
    OPS(supersession, STEME_REC_SUPERSESSION, gen_supersession, eq_supersession),
};
#define N_TYPES (sizeof ALL / sizeof ALL[0])

/* Big enough for any record of any type (the audit's 64k candidates). */
#define ARENA_CAP (3u * 1024u * 1024u)
#define BUF_CAP   (3u * 1024u * 1024u)

typedef union any_record {
    steme_assertion a; steme_vote v; steme_trust_rank t; steme_gold_standard g;
    steme_trust_pack p; steme_query_audit q; steme_quota_record u; steme_escalation e;
    steme_supersession s;
} any_record;

typedef struct fixture {
    arena ar;
    uint8_t *buf, *buf2, *copy;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->ar.p = malloc(ARENA_CAP);
    f->ar.cap = ARENA_CAP;
    f->buf = malloc(BUF_CAP);
    f->buf2 = malloc(BUF_CAP);
    f->copy = malloc(BUF_CAP);
    assert_true(f->ar.p && f->buf && f->buf2 && f->copy);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    free(f->ar.p);
    free(f->buf);
    free(f->buf2);
    free(f->copy);
    free(f);
    return 0;
}

/* If bytes decode, they must re-encode to themselves. Returns the status. */
static int check_canonical(const rec_ops *o, fixture *f, const uint8_t *b, size_t n)
{
    any_record d;
    steme_error err = {0, ""};
    int rc = o->dec(b, n, &d, &err);
    if (rc != STEME_OK) {
        assert_true(rc == STEME_E_CORRUPT || rc == STEME_E_VERSION);
        assert_true(err.code == rc && err.message[0] != '\0');
        return rc;
    }
    size_t n2 = 0;
    rc = o->enc(&d, f->buf2, BUF_CAP, &n2, &err);
    if (rc != STEME_OK)
        fail_msg("%s: decoded record does not re-encode: %s", o->name, err.message);
    assert_int_equal(n2, n);
    assert_memory_equal(f->buf2, b, n);
    return STEME_OK;
}

#endif /* STEME_TEST_RECORD_GEN_H */
