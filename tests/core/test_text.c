/*
 * test_text.c - strict UTF-8 validation (src/core/utf8.c) on the usual edge
 * cases, at every alignment of its 8-byte ASCII fast path, and hex
 * encoding/decoding (src/core/hex.c) including bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/utf8.h"
#include "steme/types.h"

typedef struct utf8_case {
    const char *s;
    size_t len;
    size_t want; /* 0 = valid, else 1 + offset of the first bad byte */
} utf8_case;

#define U(lit, want) {lit, sizeof lit - 1, want}

static const utf8_case utf8_cases[] = {
    U("", 0),
    U("plain ascii", 0),
    U("\x7f", 0),
    U("\xc2\x80", 0),                 /* U+0080, smallest 2-byte */
    U("\xdf\xbf", 0),                 /* U+07FF */
    U("\xe0\xa0\x80", 0),             /* U+0800, smallest 3-byte */
    U("\xed\x9f\xbf", 0),             /* U+D7FF, just below the surrogates */
    U("\xee\x80\x80", 0),             /* U+E000, just above them */
    U("\xef\xbf\xbf", 0),             /* U+FFFF */
    U("\xf0\x90\x80\x80", 0),         /* U+10000, smallest 4-byte */
    U("\xf4\x8f\xbf\xbf", 0),         /* U+10FFFF, the largest */
    U("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 0),
    U("\0", 1),                       /* NUL is refused */
    U("ab\0cd", 3),
    U("\xc0\x80", 1),                 /* overlong NUL */
    U("\xc1\xbf", 1),                 /* overlong U+007F */
    U("\xe0\x9f\xbf", 1),             /* overlong U+07FF */
    U("\xf0\x8f\xbf\xbf", 1),         /* overlong U+FFFF */
    U("\xed\xa0\x80", 1),             /* U+D800 */
    U("x\xed\xbf\xbf", 2),            /* U+DFFF */
    U("\xf4\x90\x80\x80", 1),         /* U+110000 */
    U("\xf5\x80\x80\x80", 1),
    U("\xf8\x88\x80\x80\x80", 1),     /* old 5-byte form */
    U("\xfe", 1), U("\xff", 1),
    U("\x80", 1),                     /* lone continuation */
    U("a\xbf", 2),
    U("\xc3", 1),                     /* truncated at the end */
    U("\xe2\x82", 1),
    U("\xf0\x9f\x98", 1),
    U("\xc3(", 1),                    /* bad continuation */
    U("\xe2\x28\xa1", 1),
    U("\xe2\x82\x28", 1),
    U("\xf0\x9f\x98\x28", 1),
    U("ok\xc3\xa9\xc3", 5),
};

static void utf8_edge_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        const utf8_case *c = &utf8_cases[i];
        size_t got = steme_utf8_check(c->s, c->len);
        if (got != c->want)
            fail_msg("case %zu: steme_utf8_check = %zu, want %zu", i, got, c->want);
    }
}

/* A bad byte after an ASCII run, at every position a word-at-a-time scan
 * could skip over, is still found at the right offset. */
static void utf8_fast_path_alignment(void **state)
{
    (void)state;
    char buf[64];
    static const char bad[] = {'\0', '\x80', '\xff', '\xc3'};
    for (size_t n = 1; n <= sizeof buf; n++) {
        memset(buf, 'a', n);
        assert_int_equal(steme_utf8_check(buf, n), 0);
        for (size_t pos = 0; pos < n; pos++) {
            for (size_t b = 0; b < sizeof bad; b++) {
                memset(buf, 'a', n);
                buf[pos] = bad[b];
                assert_int_equal(steme_utf8_check(buf, n), pos + 1);
            }
        }
        /* a valid multibyte char at the end of a long run */
        if (n >= 2) {
            memset(buf, 'a', n);
            buf[n - 2] = '\xc3';
            buf[n - 1] = '\xa9';
            assert_int_equal(steme_utf8_check(buf, n), 0);
        }
    }
}

static void hex_round_trip(void **state)
{
    (void)state;
    uint8_t in[256], back[256];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)i;
    char hex[2 * sizeof in + 1];
    assert_int_equal(steme_hex_encode(in, sizeof in, hex, sizeof hex), STEME_OK);
    assert_int_equal(strlen(hex), 2 * sizeof in);
    assert_memory_equal(hex, "000102", 6);
    assert_string_equal(hex + 2 * 250, "fafbfcfdfeff");
    assert_int_equal(steme_hex_decode(hex, strlen(hex), back, sizeof back, NULL), STEME_OK);
    assert_memory_equal(back, in, sizeof in);

    uint8_t two[2];
    assert_int_equal(steme_hex_decode("ABcd", 4, two, 2, NULL), STEME_OK);
    assert_int_equal(two[0], 0xab);
    assert_int_equal(two[1], 0xcd);

    char empty[1] = {'x'};
    assert_int_equal(steme_hex_encode(in, 0, empty, 1), STEME_OK);
    assert_int_equal(empty[0], 0);
    assert_int_equal(steme_hex_decode("", 0, NULL, 0, NULL), STEME_OK);
}

static void hex_bad_input(void **state)
{
    (void)state;
    uint8_t in[4] = {1, 2, 3, 4}, out[4];
    char hex[9];
    steme_error err = {0};
    assert_int_equal(steme_hex_encode(NULL, 4, hex, sizeof hex), STEME_E_INVALID);
    assert_int_equal(steme_hex_encode(in, 4, NULL, 9), STEME_E_INVALID);
    assert_int_equal(steme_hex_encode(in, 4, hex, 8), STEME_E_BUFFER_SMALL); /* no room for NUL */
    assert_int_equal(steme_hex_encode(in, SIZE_MAX / 2 + 1, hex, sizeof hex),
                     STEME_E_BUFFER_SMALL);

    assert_int_equal(steme_hex_decode(NULL, 8, out, 4, &err), STEME_E_INVALID);
    assert_int_equal(steme_hex_decode("01020304", 8, NULL, 4, &err), STEME_E_INVALID);
    assert_int_equal(steme_hex_decode("0102030", 7, out, 4, &err), STEME_E_INVALID);
    assert_non_null(strstr(err.message, "expected 8"));
    assert_int_equal(steme_hex_decode("0102030405", 10, out, 4, &err), STEME_E_INVALID);
    static const char *const bad[] = {"0102030g", "x1020304", "01 20304", "0102-304",
                                      ("01020\x80" "04"), "0102030\0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.code = 0;
        assert_int_equal(steme_hex_decode(bad[i], 8, out, 4, &err), STEME_E_INVALID);
        assert_int_equal(err.code, STEME_E_INVALID);
        assert_non_null(strstr(err.message, "bad digit"));
    }
    steme_hex_decode("0102030g", 8, out, 4, &err);
    assert_non_null(strstr(err.message, "position 7"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_edge_cases),
        cmocka_unit_test(utf8_fast_path_alignment),
        cmocka_unit_test(hex_round_trip),
        cmocka_unit_test(hex_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
