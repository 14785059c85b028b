/*
 * test_keys_decode.c - the key codec on bad input: NULLs, empty, oversized
 * and invalid text, small buffers, and decoding of truncated, extended,
 * hand-broken and random keys. Every key handed to a decoder sits in a
 * malloc'd buffer of exactly its length so ASan reports any over-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keys_gen.h"

static uint64_t g_seed;

static int setup_seed(void **state)
{
    (void)state;
    g_seed = tu_seed(0xdec0de5ull);
    return 0;
}

/* decode a copy of bytes[0..len) held in an exact-size heap buffer */
static int decode_exact(const void *bytes, size_t len, steme_key *out, steme_error *err)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, bytes, len);
    int rc = steme_key_decode(copy, len, out, err);
    /* family_of must also stay in bounds, and agree when decode succeeds */
    steme_key_family fam = steme_key_family_of(copy, len);
    if (rc == STEME_OK) {
        assert_int_equal(fam, out->family);
        /* whatever decodes re-encodes to exactly the same bytes */
        uint8_t again[STEME_KEY_MAX];
        size_t alen = 0;
        assert_int_equal(steme_key_encode(out, again, sizeof again, &alen, NULL), STEME_OK);
        assert_int_equal(alen, len);
        assert_memory_equal(again, copy, len);
    }
    free(copy);
    /* out's text views pointed into copy: callers may only read its values */
    out->subject = out->predicate = NULL;
    out->name = NULL;
    return rc;
}

/* A refused decode says why and leaves *out zeroed. */
static void assert_refused(const void *bytes, size_t len)
{
    steme_key out;
    steme_error err = {0};
    memset(&out, 0xAA, sizeof out);
    assert_int_equal(decode_exact(bytes, len, &out, &err), STEME_E_INVALID);
    assert_int_equal(err.code, STEME_E_INVALID);
    assert_true(strncmp(err.message, "key decode:", 11) == 0);
    assert_int_equal(out.family, STEME_FAM_UNKNOWN);
    assert_null(out.subject);
    assert_null(out.predicate);
    assert_null(out.name);
}

static void validate_text(void **state)
{
    (void)state;
    char big[STEME_SUBJECT_MAX + 2];
    memset(big, 'x', sizeof big);
    steme_error err = {0};
    assert_int_equal(steme_subject_validate("a", 1, NULL), STEME_OK);
    assert_int_equal(steme_subject_validate(big, STEME_SUBJECT_MAX, NULL), STEME_OK);
    assert_int_equal(steme_subject_validate(big, STEME_SUBJECT_MAX + 1, &err), STEME_E_TOO_BIG);
    assert_non_null(strstr(err.message, "1025"));
    assert_int_equal(steme_subject_validate(NULL, 3, &err), STEME_E_INVALID);
    assert_int_equal(steme_subject_validate("a", 0, &err), STEME_E_INVALID);
    assert_int_equal(steme_predicate_validate(big, STEME_PREDICATE_MAX, NULL), STEME_OK);
    assert_int_equal(steme_predicate_validate(big, STEME_PREDICATE_MAX + 1, NULL),
                     STEME_E_TOO_BIG);
    assert_int_equal(steme_predicate_validate(NULL, 0, NULL), STEME_E_INVALID);
    assert_int_equal(steme_predicate_validate("", 0, NULL), STEME_E_INVALID);

    static const struct { const char *s; size_t len; } bad[] = {
        {"a\0b", 3},                 /* NUL inside */
        {"\0", 1},                   /* only a NUL */
        {"\xc0\xaf", 2},             /* overlong '/' */
        {"\xe0\x80\xaf", 3},         /* overlong, 3 bytes */
        {"\xf0\x80\x80\xaf", 4},     /* overlong, 4 bytes */
        {"\xed\xa0\x80", 3},         /* surrogate U+D800 */
        {"\xed\xbf\xbf", 3},         /* surrogate U+DFFF */
        {"ab\xe2\x82", 4},           /* truncated sequence */
        {"\xc3", 1},                 /* truncated at the end */
        {"\xf4\x90\x80\x80", 4},     /* U+110000 */
        {"\xf5\x80\x80\x80", 4},     /* lead byte past U+10FFFF */
        {"\x80", 1},                 /* lone continuation */
        {"\xff", 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(steme_subject_validate(bad[i].s, bad[i].len, &err), STEME_E_BAD_UTF8);
        assert_int_equal(steme_predicate_validate(bad[i].s, bad[i].len, NULL), STEME_E_BAD_UTF8);
    }
    assert_int_equal(steme_subject_validate("\xf4\x8f\xbf\xbf", 4, NULL), STEME_OK);
    assert_int_equal(steme_subject_validate("\xef\xbf\xbf", 3, NULL), STEME_OK);
}

static void encode_refuses_bad_input(void **state)
{
    (void)state;
    static kg_key g;
    tu_rng r;
    tu_rng_seed(&r, g_seed);
    uint8_t buf[STEME_KEY_MAX];
    size_t len = 12345;
    steme_error err = {0};

    kg_random(&r, STEME_FAM_SUBJECT_PRED_INDEX, &g);
    assert_int_equal(steme_key_encode(NULL, buf, sizeof buf, &len, &err), STEME_E_INVALID);
    assert_int_equal(steme_key_encode(&g.k, buf, sizeof buf, NULL, &err), STEME_E_INVALID);
    assert_int_equal(steme_key_encode_prefix(NULL, 0, buf, sizeof buf, &len, &err),
                     STEME_E_INVALID);
    assert_int_equal(steme_key_decode(NULL, 3, &(steme_key){0}, &err), STEME_E_INVALID);
    assert_int_equal(steme_key_decode(buf, 3, NULL, &err), STEME_E_INVALID);
    assert_int_equal(steme_key_family_of(NULL, 3), STEME_FAM_UNKNOWN);

    steme_key k = g.k;
    k.family = STEME_FAM_UNKNOWN;
    assert_int_equal(steme_key_encode(&k, buf, sizeof buf, &len, &err), STEME_E_INVALID);
    k.family = STEME_FAM_COUNT_;
    assert_int_equal(steme_key_encode(&k, buf, sizeof buf, &len, &err), STEME_E_INVALID);
    assert_int_equal(steme_key_encode_prefix(&k, 0, buf, sizeof buf, &len, &err),
                     STEME_E_INVALID);

    char big[STEME_SUBJECT_MAX + 1];
    memset(big, 'y', sizeof big);
    struct { const char *s; size_t len; int want; } subj[] = {
        {NULL, 1, STEME_E_INVALID}, {"s", 0, STEME_E_INVALID},
        {big, STEME_SUBJECT_MAX + 1, STEME_E_TOO_BIG}, {"a\0b", 3, STEME_E_BAD_UTF8},
        {"\xc0\x80", 2, STEME_E_BAD_UTF8}, {"\xed\xa0\x80", 3, STEME_E_BAD_UTF8}};
    for (size_t i = 0; i < sizeof subj / sizeof subj[0]; i++) {
        k = g.k;
        k.subject = subj[i].s;
        k.subject_len = subj[i].len;
        assert_int_equal(steme_key_encode(&k, buf, sizeof buf, &len, &err), subj[i].want);
        assert_int_equal(err.code, subj[i].want);
        assert_non_null(strstr(err.message, "subject"));
        assert_int_equal(steme_key_encode_prefix(&k, 0, buf, sizeof buf, &len, NULL),
                         subj[i].want);
        /* global families ignore the subject */
        k.family = STEME_FAM_TRUST_RANK;
        assert_int_equal(steme_key_encode(&k, buf, sizeof buf, &len, NULL), STEME_OK);
    }
    k = g.k;
    k.subject = big;
    k.subject_len = STEME_SUBJECT_MAX;
    k.predicate = big;
    k.predicate_len = STEME_PREDICATE_MAX + 1;
    assert_int_equal(steme_key_encode(&k, buf, sizeof buf, &len, &err), STEME_E_TOO_BIG);
    assert_non_null(strstr(err.message, "predicate"));
    /* prefix depth 0 does not need the predicate */
    assert_int_equal(steme_key_encode_prefix(&k, 0, buf, sizeof buf, &len, NULL), STEME_OK);
    k.predicate_len = STEME_PREDICATE_MAX; /* the largest key of all */
    assert_int_equal(steme_key_encode(&k, buf, sizeof buf, &len, NULL), STEME_OK);
    assert_true(len <= STEME_KEY_MAX);
    k.predicate = "p\0q";
    k.predicate_len = 3;
    assert_int_equal(steme_key_encode(&k, buf, sizeof buf, &len, NULL), STEME_E_BAD_UTF8);
    k.family = STEME_FAM_GOLD_STANDARD;
    k.predicate_len = 0;
    assert_int_equal(steme_key_encode(&k, buf, sizeof buf, &len, NULL), STEME_E_INVALID);

    kg_random(&r, STEME_FAM_CURSOR, &g);
    k = g.k;
    k.name = NULL;
    assert_int_equal(steme_key_encode(&k, buf, sizeof buf, &len, NULL), STEME_E_INVALID);
    k.name = g.name;
    k.name_len = 0;
    assert_int_equal(steme_key_encode(&k, buf, sizeof buf, &len, NULL), STEME_E_INVALID);
    k.name_len = STEME_KEY_NAME_MAX + 1;
    assert_int_equal(steme_key_encode(&k, buf, sizeof buf, &len, NULL), STEME_E_TOO_BIG);
    k.name_len = 3;
    k.name = (const uint8_t *)"\0\xff\0"; /* names are any bytes */
    assert_int_equal(steme_key_encode(&k, buf, sizeof buf, &len, NULL), STEME_OK);
    assert_int_equal(len, 1 + 4 + 3);
    assert_memory_equal(buf, "\0CUR:\0\xff\0", 8);
}

static void encode_reports_needed_size(void **state)
{
    (void)state;
    static kg_key g;
    tu_rng r;
    tu_rng_seed(&r, g_seed + 1);
    for (size_t f = 0; f < KG_NFAM; f++) {
        kg_random(&r, kg_table[f].fam, &g);
        uint8_t full[STEME_KEY_MAX];
        size_t need = 0, len = 0;
        assert_int_equal(steme_key_encode(&g.k, full, sizeof full, &need, NULL), STEME_OK);
        steme_error err = {0};
        /* buffer one byte short: refused, nothing written past cap */
        uint8_t *small = malloc(need - 1);
        assert_non_null(small);
        assert_int_equal(steme_key_encode(&g.k, small, need - 1, &len, &err),
                         STEME_E_BUFFER_SMALL);
        assert_int_equal(len, need);
        assert_int_equal(err.code, STEME_E_BUFFER_SMALL);
        free(small);
        /* sizing call: NULL buffer, capacity 0 */
        len = 0;
        assert_int_equal(steme_key_encode(&g.k, NULL, 0, &len, NULL), STEME_E_BUFFER_SMALL);
        assert_int_equal(len, need);
        assert_int_equal(steme_key_encode_prefix(&g.k, 0, NULL, 0, &len, NULL),
                         STEME_E_BUFFER_SMALL);
        assert_true(len > 0 && len < need);
    }
}

static void decode_refuses_handmade_keys(void **state)
{
    (void)state;
    static const struct { const char *k; size_t len; } bad[] = {
        {"", 0},
        {"\0", 1},                            /* no tag */
        {"\0XX:", 4},                         /* unknown global tag */
        {"\0H:0123456789abcdef0123456789abcdef", 35},  /* scoped tag on a global key */
        {"s\0TR:0123456789abcdef0123456789abcdef", 37}, /* global tag after a subject */
        {"s\0HS:0123456789abcdef0123456789abcdef", 37},
        {"s\0H0123456789abcdef0123456789abcdef", 35},   /* no ':' after the tag */
        {"subject without terminator", 26},
        {"s\0SP:pred", 9},                    /* predicate never terminated */
        {"s\0SP:\0" "01234567" "0123456789abcdef0123456789abcdef", 46}, /* empty predicate */
        {"s\0SP:p\xc0\x80\0" "01234567" "0123456789abcdef0123456789abcdef", 49},
        {"\xc0\x80\0H:0123456789abcdef0123456789abcdef", 37}, /* overlong subject */
        {"s\0H:0123456789abcdef0123456789abcde", 35},  /* hash one byte short */
        {"s\0H:0123456789abcdef0123456789abcdefX", 37}, /* one trailing byte */
        {"s\0GS:", 5},                        /* empty predicate */
        {"s\0GS:p\0q", 8},                    /* NUL inside a predicate */
        {"\0VX:", 4},                         /* empty name */
        {"\0CU:x", 5}, {"\0CUR", 4}, {"\0C", 2},
        {"\0ES:", 4},                         /* status, ts, id missing */
        {"s\0S:01234567", 12},                /* hash missing */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_refused(bad[i].k, bad[i].len);

    /* subject of 1025 bytes, then a valid tail */
    uint8_t *k = malloc(STEME_SUBJECT_MAX + 1 + 4 + 32);
    assert_non_null(k);
    memset(k, 'x', STEME_SUBJECT_MAX + 1);
    memcpy(k + STEME_SUBJECT_MAX + 1, "\0H:", 3);
    memset(k + STEME_SUBJECT_MAX + 4, 7, 32);
    assert_refused(k, STEME_SUBJECT_MAX + 4 + 32);
    assert_int_equal(steme_key_family_of(k, STEME_SUBJECT_MAX + 4 + 32), STEME_FAM_UNKNOWN);
    /* and 1024 bytes is accepted */
    steme_key out;
    assert_int_equal(decode_exact(k + 1, STEME_SUBJECT_MAX + 3 + 32, &out, NULL), STEME_OK);
    assert_int_equal(out.subject_len, STEME_SUBJECT_MAX);
    free(k);

    /* predicate of 257 bytes in SP and GS */
    uint8_t sp[2 + 3 + 257 + 1 + 8 + 32];
    memcpy(sp, "s\0SP:", 5);
    memset(sp + 5, 'p', 257);
    sp[5 + 257] = 0;
    memset(sp + 5 + 258, 1, 40);
    assert_refused(sp, sizeof sp);
    memcpy(sp, "s\0GS:", 5);
    assert_refused(sp, 5 + 257);
    memcpy(sp + 1, "s\0GS:", 5); /* 256 bytes is fine */
    assert_int_equal(decode_exact(sp + 1, 5 + 256, &out, NULL), STEME_OK);
    assert_int_equal(out.family, STEME_FAM_GOLD_STANDARD);
    assert_int_equal(out.predicate_len, 256);
}

/* family_of matches "TAG:" exactly, in the right scope, within klen. */
static void family_of_checks_tag_and_scope(void **state)
{
    (void)state;
    for (size_t f = 0; f < KG_NFAM; f++) {
        const kg_family_row *row = &kg_table[f];
        size_t tl = strlen(row->tag);
        for (int scoped = 0; scoped <= 1; scoped++) {
            uint8_t k[16 + 40];
            size_t n = 0;
            if (scoped)
                k[n++] = 's';
            k[n++] = 0;
            memcpy(k + n, row->tag, tl);
            n += tl;
            k[n++] = ':';
            memset(k + n, 'x', 40); /* room for any fields: only the tag counts */
            steme_key_family want = scoped == row->scoped ? row->fam : STEME_FAM_UNKNOWN;
            for (size_t tail = 0; tail <= 40; tail += 40) {
                uint8_t *exact = malloc(n + tail);
                assert_non_null(exact);
                memcpy(exact, k, n + tail);
                assert_int_equal(steme_key_family_of(exact, n + tail), want);
                /* the tag without its ':' (key cut there, or another byte) */
                assert_int_equal(steme_key_family_of(exact, n - 1), STEME_FAM_UNKNOWN);
                exact[n - 1] = 'X';
                assert_int_equal(steme_key_family_of(exact, n + tail), STEME_FAM_UNKNOWN);
                exact[n - 1] = ':';
                exact[n - 2] ^= 0x20; /* lower case is another tag */
                assert_int_equal(steme_key_family_of(exact, n + tail), STEME_FAM_UNKNOWN);
                free(exact);
            }
        }
    }
    static const struct { const char *k; size_t len; } unknown[] = {
        {"s", 1}, {"s\0", 2}, {"\0", 1}, {"\0T", 2}, {"s\0S", 3}, {"\0CUR", 4},
        {"\0CURR:", 6}, {"s\0SPP:", 6}, {"\0HSX", 4}, {"s\0:", 3}, {"\0:", 2}};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        uint8_t *exact = malloc(unknown[i].len);
        assert_non_null(exact);
        memcpy(exact, unknown[i].k, unknown[i].len);
        assert_int_equal(steme_key_family_of(exact, unknown[i].len), STEME_FAM_UNKNOWN);
        free(exact);
    }
}

/* Every truncation and one-byte extension of valid keys: refused, or (for
 * open-ended families only) exactly another valid key. */
static void decode_truncated_and_extended_keys(void **state)
{
    (void)state;
    static kg_key g;
    tu_rng r;
    tu_rng_seed(&r, g_seed + 2);
    for (int i = 0; i < 300; i++) {
        steme_key_family fam = kg_table[(size_t)i % KG_NFAM].fam;
        kg_random(&r, fam, &g);
        if (i % 2 == 0) { /* keep keys short so all truncations stay cheap */
            g.k.subject_len = 1 + tu_rng_below(&r, 3);
            memset(g.subject, 's', g.k.subject_len);
            g.k.name_len = 1 + tu_rng_below(&r, 4);
        }
        uint8_t full[STEME_KEY_MAX + 1];
        size_t len;
        assert_int_equal(steme_key_encode(&g.k, full, sizeof full, &len, NULL), STEME_OK);
        for (size_t cut = 0; cut < len; cut++) {
            steme_key out;
            steme_error err = {0};
            int rc = decode_exact(full, cut, &out, &err);
            if (rc == STEME_OK) {
                assert_true(kg_open_ended(fam)); /* and decode_exact re-encoded it */
            } else {
                assert_int_equal(rc, STEME_E_INVALID);
                assert_true(err.message[0] != 0);
            }
        }
        full[len] = (uint8_t)tu_rng_next(&r);
        steme_key out;
        int rc = decode_exact(full, len + 1, &out, NULL);
        if (!kg_open_ended(fam))
            assert_int_equal(rc, STEME_E_INVALID);
    }
}

/* Random bytes, plain and shaped like keys: never a crash, and whatever
 * decodes re-encodes to exactly the same bytes. */
static void decode_random_bytes(void **state)
{
    (void)state;
#define HEAD(lit) {lit, sizeof lit - 1}
    static const struct { const char *h; size_t len; } heads[] = {
        HEAD("\0"), HEAD("s\0"), HEAD("\0SP:"), HEAD("s\0SP:"), HEAD("s\0SP:p\0"),
        HEAD("\0CUR:"), HEAD("\0ES:"), HEAD("\xe2\x82\xac\0V:"), HEAD("s\0GS:"),
        HEAD("\0AU:"), HEAD("s\0H:"), HEAD("\0TM:")};
#undef HEAD
    tu_rng r;
    tu_rng_seed(&r, g_seed + 3);
    uint8_t buf[1600];
    int decoded = 0;
    for (int i = 0; i < 200000; i++) {
        size_t len = tu_rng_below(&r, i % 50 == 0 ? sizeof buf : 80);
        tu_rng_bytes(&r, buf, len);
        if (i % 2) {
            size_t h = tu_rng_below(&r, sizeof heads / sizeof heads[0]);
            if (heads[h].len <= len)
                memcpy(buf, heads[h].h, heads[h].len);
        }
        steme_key out;
        steme_error err = {0};
        int rc = decode_exact(buf, len, &out, &err);
        if (rc != STEME_OK) {
            assert_int_equal(rc, STEME_E_INVALID);
            continue;
        }
        decoded++; /* decode_exact checked that it re-encodes identically */
    }
    assert_true(decoded > 0); /* the shaped inputs do reach the success path */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(validate_text),
        cmocka_unit_test(encode_refuses_bad_input),
        cmocka_unit_test(encode_reports_needed_size),
        cmocka_unit_test(decode_refuses_handmade_keys),
        cmocka_unit_test(family_of_checks_tag_and_scope),
        cmocka_unit_test(decode_truncated_and_extended_keys),
        cmocka_unit_test(decode_random_bytes),
    };
    return cmocka_run_group_tests(tests, setup_seed, NULL);
}
