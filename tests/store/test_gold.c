/* test_gold.c - gold standards: the matching rules (unit and property),
 * set/get, verifying answers into TrustRank, bad input, and replay after a
 * process ends without closing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "steme/trust.h"
#include "testutil.h"
#include "store_testlib.h"

static int setup(void **state)
{
    return st_tempdir_setup(state, "gold");
}

static int match(steme_value a, steme_value b)
{
    int m = -1;
    assert_int_equal(steme_gold_value_matches(&a, &b, &m, NULL), STEME_OK);
    int m2 = -1; /* symmetric */
    assert_int_equal(steme_gold_value_matches(&b, &a, &m2, NULL), STEME_OK);
    assert_int_equal(m, m2);
    return m;
}

static steme_value str(const char *s) { return steme_value_string(s, strlen(s)); }

static void matching_rules(void **state)
{
    (void)state;
    assert_true(match(str("  Aspirin   325 MG \n"), str("aspirin 325 mg")));
    assert_true(match(str("a\t\r\n\v\fb"), str("A B")));
    assert_true(match(str(""), str(" \t ")));
    assert_false(match(str("aspirin325mg"), str("aspirin 325 mg")));
    assert_false(match(str("aspirin"), str("aspirin.")));
    assert_false(match(str("\xc3\x84"), str("\xc3\xa4"))); /* only ASCII letters fold */
    assert_true(match(str("\xc3\x84  x"), str("\xc3\x84 X")));
    assert_false(match(str("1"), steme_value_int(1)));
    /* numbers, across types, relative 1e-9 */
    assert_true(match(steme_value_int(3), steme_value_float(3.0)));
    assert_true(match(steme_value_int(0), steme_value_float(-0.0)));
    assert_false(match(steme_value_int(0), steme_value_float(1e-300)));
    assert_true(match(steme_value_float(1e9), steme_value_float(1e9 + 0.5)));
    assert_false(match(steme_value_float(1e9), steme_value_float(1e9 + 2.0)));
    assert_false(match(steme_value_float(1.0), steme_value_float(1.000001)));
    assert_true(match(steme_value_float(0.1 + 0.2), steme_value_float(0.3)));
    assert_false(match(steme_value_int(-5), steme_value_int(5)));
    assert_true(match(steme_value_int(INT64_MAX), steme_value_int(INT64_MAX - 1)));
    assert_false(match(steme_value_int(1000), steme_value_int(1001)));
    assert_true(match(steme_value_int(INT64_MIN), steme_value_float(-9223372036854775808.0)));
    /* bool, bytes, across types */
    assert_true(match(steme_value_bool(true), steme_value_bool(true)));
    assert_false(match(steme_value_bool(true), steme_value_bool(false)));
    assert_false(match(steme_value_bool(true), steme_value_int(1)));
    const uint8_t b1[] = {1, 2, 3}, b2[] = {1, 2, 4};
    assert_true(match(steme_value_bytes(b1, 3), steme_value_bytes(b1, 3)));
    assert_false(match(steme_value_bytes(b1, 3), steme_value_bytes(b2, 3)));
    assert_false(match(steme_value_bytes(b1, 2), steme_value_bytes(b1, 3)));
    assert_false(match(steme_value_bytes((const uint8_t *)"ab", 2), str("ab")));
    /* invalid values are refused, not compared */
    steme_value nan = steme_value_float(NAN), one = steme_value_float(1.0);
    int m = 7;
    steme_error e;
    assert_int_equal(steme_gold_value_matches(&nan, &one, &m, &e), STEME_E_INVALID);
    assert_int_equal(m, 7);
    steme_value bad = steme_value_string("\xff", 1);
    assert_int_equal(steme_gold_value_matches(&one, &bad, &m, NULL), STEME_E_BAD_UTF8);
    assert_int_equal(steme_gold_value_matches(NULL, &one, &m, NULL), STEME_E_INVALID);
    assert_int_equal(steme_gold_value_matches(&one, &one, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_gold_matches(NULL, &one, &m, NULL), STEME_E_INVALID);
}

/* A random variant of s: case of letters flipped at random, each whitespace
 * run replaced by 1..3 random whitespace bytes, random padding at the ends. */
static size_t variant(tu_rng *r, const char *s, char *out)
{
    static const char ws[] = " \t\n\v\f\r";
    size_t o = 0;
    for (uint64_t n = tu_rng_below(r, 3); n; n--)
        out[o++] = ws[tu_rng_below(r, 6)];
    for (size_t i = 0; s[i];) {
        if (s[i] == ' ') {
            for (uint64_t n = 1 + tu_rng_below(r, 3); n; n--)
                out[o++] = ws[tu_rng_below(r, 6)];
            i++;
            continue;
        }
        char c = s[i++];
        if (c >= 'a' && c <= 'z' && tu_rng_below(r, 2))
            c = (char)(c - 'a' + 'A');
        out[o++] = c;
    }
    for (uint64_t n = tu_rng_below(r, 3); n; n--)
        out[o++] = ws[tu_rng_below(r, 6)];
    return o;
}

static void matching_property(void **state)
{
    (void)state;
    tu_rng r;
    uint64_t seed = tu_seed(99);
    tu_rng_seed(&r, seed);
    static const char alpha[] = "abcxyz019-.";
    for (int iter = 0; iter < 2000; iter++) {
        /* a normalised string: words of [alpha] separated by single spaces */
        char norm[128], a[512], b[512];
        size_t n = 0, words = 1 + tu_rng_below(&r, 5);
        for (size_t w = 0; w < words; w++) {
            if (w)
                norm[n++] = ' ';
            for (uint64_t l = 1 + tu_rng_below(&r, 6); l; l--)
                norm[n++] = alpha[tu_rng_below(&r, sizeof alpha - 1)];
        }
        norm[n] = 0;
        size_t la = variant(&r, norm, a), lb = variant(&r, norm, b);
        if (!match(steme_value_string(a, la), steme_value_string(b, lb)))
            fail_msg("seed %llu iter %d: variants of '%s' do not match",
                     (unsigned long long)seed, iter, norm);
        /* change one non-space byte to another non-letter byte: no match */
        size_t at = tu_rng_below(&r, n);
        if (norm[at] != ' ') {
            norm[at] = norm[at] == '#' ? '%' : '#';
            lb = variant(&r, norm, b);
            assert_false(match(steme_value_string(a, la), steme_value_string(b, lb)));
        }
        /* numbers: x vs x * (1 + d) */
        double x = ldexp((double)tu_rng_below(&r, 1u << 30) + 1.0, (int)tu_rng_below(&r, 80) - 40);
        double near = x * (1.0 + 1e-10), far = x * (1.0 + 1e-8);
        assert_true(match(steme_value_float(x), steme_value_float(near)));
        assert_false(match(steme_value_float(x), steme_value_float(far)));
    }
}

static steme_gold_standard gold(const char *s, const char *p, steme_value expected)
{
    steme_gold_standard g;
    memset(&g, 0, sizeof g);
    memset(g.assertion.bytes, 0x11, 32);
    g.subject = s;
    g.subject_len = strlen(s);
    g.predicate = p;
    g.predicate_len = strlen(p);
    g.expected = expected;
    g.set_at = 1700000000000ull;
    memset(g.set_by.bytes, 0x22, 32);
    return g;
}

static void set_get_verify(void **state)
{
    steme_db *db = st_open_db(*state, STEME_KV_HYBRID);
    steme_gold *gs = steme_db_gold(db);
    steme_trust *t = steme_db_trust(db);
    steme_gold_standard g = gold("aspirin", "max_daily_dose", str("4 g"));
    assert_int_equal(steme_gold_set(gs, &g), STEME_OK);
    steme_buf buf = STEME_BUF_INIT;
    steme_gold_standard got;
    assert_int_equal(steme_gold_get(gs, "aspirin", 7, "max_daily_dose", 14, &buf, &got),
                     STEME_OK);
    assert_memory_equal(got.subject, "aspirin", 7);
    assert_int_equal(got.expected.type, STEME_VALUE_STRING);
    assert_memory_equal(got.expected.v.str.ptr, "4 g", 3);
    assert_memory_equal(got.set_by.bytes, g.set_by.bytes, 32);
    /* a longer predicate with the same prefix is another key */
    assert_int_equal(steme_gold_get(gs, "aspirin", 7, "max_daily", 9, &buf, &got),
                     STEME_E_NOTFOUND);
    assert_int_equal(steme_gold_get(gs, "aspirin2", 8, "max_daily_dose", 14, &buf, &got),
                     STEME_E_NOTFOUND);
    assert_non_null(strstr(steme_db_errmsg(db), "no gold standard"));

    steme_agent_id good, bad;
    memset(&good, 1, sizeof good);
    memset(&bad, 2, sizeof bad);
    int matched = -1;
    steme_trust_rank r;
    steme_value ans = str("  4   G ");
    assert_int_equal(steme_gold_verify_answer(gs, "aspirin", 7, "max_daily_dose", 14, &good,
                                              &ans, 50, &matched, &r), STEME_OK);
    assert_int_equal(matched, 1);
    assert_true(r.score == 0.55);
    ans = str("8 g");
    assert_int_equal(steme_gold_verify_answer(gs, "aspirin", 7, "max_daily_dose", 14, &bad,
                                              &ans, 60, &matched, NULL), STEME_OK);
    assert_int_equal(matched, 0);
    assert_int_equal(steme_trust_get(t, &bad, &r, NULL), STEME_OK);
    assert_true(r.score == 0.4);
    assert_int_equal(r.assertions_count, 1);
    assert_int_equal(r.accuracy_count, 0);
    /* no gold standard: NOTFOUND, nothing recorded */
    steme_agent_id other;
    memset(&other, 3, sizeof other);
    int dflt;
    assert_int_equal(steme_gold_verify_answer(gs, "aspirin", 7, "color", 5, &other, &ans, 70,
                                              &matched, NULL), STEME_E_NOTFOUND);
    assert_int_equal(steme_trust_get(t, &other, &r, &dflt), STEME_OK);
    assert_int_equal(dflt, 1);

    /* replace: a number now; int answers match a float gold */
    g = gold("aspirin", "max_daily_dose", steme_value_float(4000.0));
    assert_int_equal(steme_gold_set(gs, &g), STEME_OK);
    ans = steme_value_int(4000);
    assert_int_equal(steme_gold_verify_answer(gs, "aspirin", 7, "max_daily_dose", 14, &bad,
                                              &ans, 80, &matched, &r), STEME_OK);
    assert_int_equal(matched, 1);
    assert_int_equal(r.assertions_count, 2);
    steme_db_close(db);

    db = st_open_db(*state, STEME_KV_HYBRID);
    gs = steme_db_gold(db);
    assert_int_equal(steme_gold_get(gs, "aspirin", 7, "max_daily_dose", 14, &buf, &got),
                     STEME_OK);
    assert_int_equal(got.expected.type, STEME_VALUE_FLOAT);
    assert_true(got.expected.v.f64 == 4000.0);
    steme_buf_free(&buf);
    steme_db_close(db);
}

static void bad_input_changes_nothing(void **state)
{
    steme_db *db = st_open_db(*state, STEME_KV_HYBRID);
    steme_gold *gs = steme_db_gold(db);
    steme_trust *t = steme_db_trust(db);
    steme_gold_standard g = gold("ibuprofen", "dose", str("400 mg"));
    assert_int_equal(steme_gold_set(gs, &g), STEME_OK);
    assert_null(steme_db_gold(NULL));
    assert_int_equal(steme_gold_set(NULL, &g), STEME_E_INVALID);
    assert_int_equal(steme_gold_set(gs, NULL), STEME_E_INVALID);

    steme_gold_standard b = gold("ibuprofen", "dose", steme_value_float(NAN));
    assert_int_equal(steme_gold_set(gs, &b), STEME_E_INVALID);
    b = gold("", "dose", str("x"));
    assert_int_equal(steme_gold_set(gs, &b), STEME_E_INVALID);
    b = gold("ibu\xff", "dose", str("x"));
    assert_int_equal(steme_gold_set(gs, &b), STEME_E_BAD_UTF8);
    char *huge = malloc(2000);
    memset(huge, 'a', 1999);
    huge[1999] = 0;
    b = gold(huge, "dose", str("x"));
    assert_int_equal(steme_gold_set(gs, &b), STEME_E_TOO_BIG);
    b = gold("ibuprofen", huge, str("x"));
    assert_int_equal(steme_gold_set(gs, &b), STEME_E_TOO_BIG);
    b = gold("ibuprofen", "dose", str("x"));
    b.subject = NULL;
    assert_int_not_equal(steme_gold_set(gs, &b), STEME_OK);

    steme_buf buf = STEME_BUF_INIT;
    steme_gold_standard got;
    assert_int_equal(steme_gold_get(gs, NULL, 0, "dose", 4, &buf, &got), STEME_E_INVALID);
    assert_int_equal(steme_gold_get(gs, "ibuprofen", 9, "dose", 4, NULL, &got), STEME_E_INVALID);
    assert_int_equal(steme_gold_get(gs, huge, 1999, "dose", 4, &buf, &got), STEME_E_TOO_BIG);
    assert_int_equal(steme_gold_get(gs, "ibuprofen", 9, "", 0, &buf, &got), STEME_E_INVALID);

    steme_agent_id a;
    memset(&a, 9, sizeof a);
    steme_value nan = steme_value_float(NAN), ok = str("400mg");
    int matched = 5;
    assert_int_equal(steme_gold_verify_answer(gs, "ibuprofen", 9, "dose", 4, &a, &nan, 1,
                                              &matched, NULL), STEME_E_INVALID);
    assert_int_equal(steme_gold_verify_answer(gs, "ibuprofen", 9, "dose", 4, NULL, &ok, 1,
                                              &matched, NULL), STEME_E_INVALID);
    assert_int_equal(steme_gold_verify_answer(gs, "ibuprofen", 9, "dose", 4, &a, NULL, 1,
                                              &matched, NULL), STEME_E_INVALID);
    assert_int_equal(steme_gold_verify_answer(gs, huge, 1999, "dose", 4, &a, &ok, 1, &matched,
                                              NULL), STEME_E_TOO_BIG);
    assert_int_equal(steme_gold_verify_answer(NULL, "ibuprofen", 9, "dose", 4, &a, &ok, 1,
                                              &matched, NULL), STEME_E_INVALID);
    assert_int_equal(matched, 5);
    free(huge);
    /* nothing changed */
    steme_trust_rank r;
    int dflt;
    assert_int_equal(steme_trust_get(t, &a, &r, &dflt), STEME_OK);
    assert_int_equal(dflt, 1);
    assert_int_equal(steme_gold_get(gs, "ibuprofen", 9, "dose", 4, &buf, &got), STEME_OK);
    assert_int_equal(got.expected.type, STEME_VALUE_STRING);
    assert_memory_equal(got.expected.v.str.ptr, "400 mg", 6);
    steme_buf_free(&buf);
    steme_db_close(db);
}

/* A child sets gold standards and verifies answers, then _exits without
 * closing; the reopened store (replay) has both the golds and the ranks. */
static void replay_after_exit(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        steme_db *db = NULL;
        steme_db_options o;
        steme_db_options_init(&o);
        o.engine = STEME_KV_MEM;
        if (steme_db_open(*state, &o, &db, NULL) != STEME_OK)
            _exit(3);
        steme_gold *gs = steme_db_gold(db);
        for (int i = 0; i < 20; i++) {
            char p[16];
            snprintf(p, sizeof p, "p%d", i);
            steme_gold_standard g = gold("s", p, steme_value_int(i));
            if (steme_gold_set(gs, &g) != STEME_OK)
                _exit(4);
        }
        steme_agent_id a;
        memset(&a, 4, sizeof a);
        for (int i = 0; i < 20; i++) {
            char p[16];
            snprintf(p, sizeof p, "p%d", i);
            steme_value v = steme_value_float(i % 3 ? (double)i : i + 0.5);
            if (steme_gold_verify_answer(gs, "s", 1, p, strlen(p), &a, &v, 10 + (uint64_t)i,
                                         NULL, NULL) != STEME_OK)
                _exit(5);
        }
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    steme_db *db = st_open_db(*state, STEME_KV_MEM);
    steme_buf buf = STEME_BUF_INIT;
    for (int i = 0; i < 20; i++) {
        char p[16];
        snprintf(p, sizeof p, "p%d", i);
        steme_gold_standard got;
        assert_int_equal(steme_gold_get(steme_db_gold(db), "s", 1, p, strlen(p), &buf, &got),
                         STEME_OK);
        assert_int_equal(got.expected.v.i64, i);
    }
    steme_buf_free(&buf);
    steme_agent_id a;
    memset(&a, 4, sizeof a);
    steme_trust_rank r;
    assert_int_equal(steme_trust_get(steme_db_trust(db), &a, &r, NULL), STEME_OK);
    assert_int_equal(r.assertions_count, 20);
    assert_int_equal(r.accuracy_count, 13); /* i % 3 != 0 */
    assert_int_equal(r.last_updated, 29);
    steme_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matching_rules),
        cmocka_unit_test(matching_property),
        cmocka_unit_test_setup_teardown(set_get_verify, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(bad_input_changes_nothing, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(replay_after_exit, setup, st_tempdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
