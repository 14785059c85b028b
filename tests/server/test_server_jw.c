/*
 * test_server_jw.c - the JSON writer of `steme serve` (src/server/srv_jw.c):
 * reals read back as the same double (random bit patterns and decimal-looking
 * values, property test against strtod), strings are escaped and UTF-8
 * checked, commas and nesting are right (the output parses with jansson and
 * equals the expected tree), out of memory is sticky.
 *
 * srv_jw.c belongs to the `steme` program, not to libsteme, so it is
 * compiled into this test directly (it needs only libc).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../src/server/srv_jw.c"
#include "testutil.h"

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void check_real(double v)
{
    char b[40];
    size_t n = srv_jw_format_real(v, b);
    assert_int_equal(n, strlen(b));
    char *end;
    double back = strtod(b, &end);
    assert_true(*end == 0);
    if (memcmp(&back, &v, sizeof v) != 0)
        fail_msg("%.17g written as %s reads back as %.17g", v, b, back);
    /* Reals stay reals: a '.' or an exponent. */
    assert_non_null(strpbrk(b, ".eE"));
}

static void test_reals_fixed(void **state)
{
    static const double vs[] = {0.0, -0.0, 1.0, -1.0, 0.5, 0.95, 0.1, 0.2, 0.3, 1e-9, 1e-10,
                                123456789.0, 999999999.5, 1e9, 1e15, 1e300, 5e-324,
                                0.30000000000000004, 2.5e-12, 1.0 / 3.0, 4503599627370496.5,
                                9007199254740993.0, -1234.5678, 2.0 / 3.0, 1700000000000.0,
                                1700000000000.25, 9007199254740991.0, 0.123456789012345678};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        check_real(vs[i]);
    char b[40];
    srv_jw_format_real(0.95, b);
    assert_string_equal(b, "0.95");
    srv_jw_format_real(-0.0, b);
    assert_string_equal(b, "-0.0");
    srv_jw_format_real(3.0, b);
    assert_string_equal(b, "3.0");
    srv_jw_format_real(0.05, b);
    assert_string_equal(b, "0.05");
    /* The fast path's reach: 16-17 decimals and large integral values
     * come out shortest, without printf. */
    srv_jw_format_real(2.0 / 3.0, b);
    assert_string_equal(b, "0.6666666666666666");
    srv_jw_format_real(1700000000000.0, b);
    assert_string_equal(b, "1700000000000.0");
    srv_jw_format_real(0.30000000000000004, b);
    assert_string_equal(b, "0.30000000000000004");
    /* 17 significant digits in [0.1, 1), past one exact double: the exact
     * (128-bit) path, still the shortest text, without printf. */
    srv_jw_format_real(2.0 / 11.0, b);
    assert_string_equal(b, "0.18181818181818182");
    srv_jw_format_real(1.0 / 7.0, b);
    assert_string_equal(b, "0.14285714285714285");
    srv_jw_format_real(0.9999999999999999, b);
    assert_string_equal(b, "0.9999999999999999");
    srv_jw_format_real(-0.7999999999999999, b);
    assert_string_equal(b, "-0.7999999999999999");
}

/* Reals in the exact path's range, uniformly over their bits: each reads
 * back as itself and is never longer than printf's 17 digits. */
static void test_reals_exact_property(void **state)
{
    uint64_t s = tu_seed(0xe8ac7ull) | 1;
    for (int i = 0; i < 200000; i++) {
        /* exponents of 2^-10 .. 2^20, any significand, both signs */
        uint64_t bits = rng_next(&s);
        uint64_t expo = 1023u - 10u + (bits >> 52) % 31u;
        bits = (bits & 0x800fffffffffffffull) | (expo << 52);
        double v;
        memcpy(&v, &bits, sizeof v);
        check_real(v);
        char b[40], p[40];
        size_t n = srv_jw_format_real(v, b);
        int k = snprintf(p, sizeof p, "%.17g", v);
        if (n > (size_t)k + (strpbrk(p, ".eE") ? 0 : 2))
            fail_msg("%.17g written as %s, longer than printf's %s", v, b, p);
    }
    /* powers of two: the narrower gap below them */
    for (int e = -10; e <= 52; e++) {
        check_real(ldexp(1.0, e));
        check_real(nextafter(ldexp(1.0, e), 0.0));
        check_real(nextafter(ldexp(1.0, e), 1e300));
    }
}

static void test_reals_property(void **state)
{
    uint64_t s = tu_seed(0x5eed5eedull) | 1;
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = rng_next(&s);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (isfinite(v))
            check_real(v);
        /* Decimal-looking values: the fast path's territory. */
        double d = (double)(int64_t)(rng_next(&s) % 2000000001u - 1000000000) /
                   pow(10.0, (double)(rng_next(&s) % 10));
        check_real(d);
    }
}

static json_t *parse(char *text, size_t len)
{
    json_error_t e;
    json_t *j = json_loadb(text, len, 0, &e);
    if (!j)
        fail_msg("writer output does not parse: %s (%s)", text, e.text);
    return j;
}

static void test_structure_and_strings(void **state)
{
    srv_jw w;
    srv_jw_init(&w, 1);   /* tiny: forces growth */
    srv_jw_open_object(&w);
    srv_jw_key(&w, "s");
    srv_jw_cstring(&w, "a\"b\\c\n\t\x01 caf\xc3\xa9 \xe2\x98\x83");
    srv_jw_key(&w, "bad");
    srv_jw_string(&w, "x\xff\xc3(y\xed\xa0\x80", 8);   /* invalid UTF-8, a surrogate */
    srv_jw_key(&w, "arr");
    srv_jw_open_array(&w);
    srv_jw_u64(&w, 1234567890123ull);
    srv_jw_i64(&w, INT64_MIN);
    srv_jw_real(&w, 0.25);
    srv_jw_real(&w, NAN);
    srv_jw_bool(&w, 1);
    srv_jw_bool(&w, 0);
    srv_jw_null(&w);
    srv_jw_open_object(&w);
    srv_jw_close_object(&w);
    srv_jw_open_array(&w);
    srv_jw_close_array(&w);
    static const uint8_t h[3] = {0x00, 0xab, 0xff};
    srv_jw_hex(&w, h, 3);
    srv_jw_close_array(&w);
    srv_jw_key(&w, "empty");
    srv_jw_string(&w, "", 0);
    srv_jw_close_object(&w);
    size_t len;
    char *text = srv_jw_finish(&w, &len);
    assert_non_null(text);
    json_t *got = parse(text, len);
    json_t *want = json_pack("{s:s,s:s,s:[I,I,f,n,b,b,n,{},[],s],s:s}", "s",
                             "a\"b\\c\n\t\x01 caf\xc3\xa9 \xe2\x98\x83", "bad",
                             "x\xef\xbf\xbd\xef\xbf\xbd(y\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
                             "arr", (json_int_t)1234567890123ll, (json_int_t)INT64_MIN, 0.25, 1, 0, "00abff",
                             "empty", "");
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT), *x = json_dumps(want, JSON_COMPACT);
        fail_msg("writer output %s\nexpected %s", g, x);
    }
    json_decref(got);
    json_decref(want);
    free(text);
}

static void test_u64_max(void **state)
{
    /* Beyond jansson's integers: checked as text. */
    srv_jw w;
    srv_jw_init(&w, 8);
    srv_jw_open_array(&w);
    srv_jw_u64(&w, UINT64_MAX);
    srv_jw_u64(&w, 0);
    srv_jw_close_array(&w);
    size_t len;
    char *text = srv_jw_finish(&w, &len);
    assert_non_null(text);
    assert_string_equal(text, "[18446744073709551615,0]");
    free(text);
}

static void test_too_deep_fails_closed(void **state)
{
    srv_jw w;
    srv_jw_init(&w, 16);
    for (int i = 0; i < SRV_JW_DEPTH + 2; i++)
        srv_jw_open_array(&w);
    size_t len = 7;
    assert_null(srv_jw_finish(&w, &len));
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reals_fixed),
        cmocka_unit_test(test_reals_property),
        cmocka_unit_test(test_reals_exact_property),
        cmocka_unit_test(test_structure_and_strings),
        cmocka_unit_test(test_u64_max),
        cmocka_unit_test(test_too_deep_fails_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
