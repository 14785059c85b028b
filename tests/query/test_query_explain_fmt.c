/* test_query_explain_fmt.c - the explanation's numbers written without
 * printf (q_fixed3, query_explain.c) are exactly printf's "%.3f": fixed
 * values, the half-way cases (rounded half to even on the exact binary
 * value, as glibc does), both signs, the edges of the fast range, and
 * random doubles over many magnitudes against snprintf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "query/query_int.h"
#include "testutil.h"

static void check(double x)
{
    char got[Q_FIXED3_MAX], want[Q_FIXED3_MAX];
    size_t n = q_fixed3(x, got);
    snprintf(want, sizeof want, "%.3f", x);
    if (strcmp(got, want) != 0)
        fail_msg("%.17g: q_fixed3 wrote %s, printf %s", x, got, want);
    assert_int_equal(n, strlen(got));
}

static void test_fixed(void **state)
{
    (void)state;
    static const double vs[] = {0.0, -0.0, 1.0, -1.0, 0.5, 2.0 / 3.0, 0.6666666666666666,
                                0.0005, 0.0015, 0.0025, 0.0035, 1.0005, 2.5e-4, 0.9995,
                                0.99949999999999994, 999.9995, 123456.789, 1e-18, 1e-19,
                                0x1p-60, 0x1p-61, 0x1p50, 0x1p50 - 1.0, 1e300, -1e300, 5e-324,
                                INFINITY, -INFINITY, NAN, 0.125, 0.0625, -0.0625, 1.0625};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        check(vs[i]);
}

static void test_random(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(0xf1ced3ull));
    for (int i = 0; i < 300000; i++) {
        uint64_t bits = tu_rng_next(&r);
        /* exponents 2^-70 .. 2^60 around the fast range, any significand */
        uint64_t expo = 1023u - 70u + (bits >> 52) % 131u;
        bits = (bits & 0x800fffffffffffffull) | (expo << 52);
        double x;
        memcpy(&x, &bits, sizeof x);
        check(x);
        /* k / 2000 and k / 8000: exact half-way cases of the third decimal */
        int64_t k = (int64_t)(tu_rng_below(&r, 2000001)) - 1000000;
        check((double)k / 2000.0);
        check((double)k / 8000.0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
