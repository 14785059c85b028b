/*
 * test_kv_pg_f64.c - the pg engine's f64 add computes the sum's IEEE 754
 * bits in SQL without float8send (which CockroachDB lacks; see
 * src/kv/kv_pg_sql.c): checked bit for bit against C's own addition over
 * the edge cases (zeros of both signs, subnormals, the normal/subnormal
 * boundary, powers of two and their neighbours, the largest finite
 * values) and random bit patterns, on a live PostgreSQL ($STEME_PG_URL;
 * skipped without, failed with STEME_REQUIRE_PG=1).
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "test_kv_pg.h"
#include "testutil.h"

#define OK(call) PT_OK(call)
#define RANDOM_PAIRS 400

static uint64_t bits_of(double x)
{
    uint64_t b;
    memcpy(&b, &x, 8);
    return b;
}

static double of_bits(uint64_t b)
{
    double x;
    memcpy(&x, &b, 8);
    return x;
}

/* Store old (as its 8 LE bytes), add delta in SQL, compare the bits with C. */
static void check_sum(steme_kv *kv, double old, double delta)
{
    static const uint8_t key[] = "f64-bits";
    uint8_t raw[8];
    uint64_t ob = bits_of(old);
    for (int i = 0; i < 8; i++)
        raw[i] = (uint8_t)(ob >> (8 * i));
    OK(steme_kv_put(kv, key, sizeof key, raw, 8, 0));
    double want = old + delta;
    int rc = steme_kv_add_f64(kv, key, sizeof key, delta, 0);
    if (!isfinite(want)) {   /* PostgreSQL's float8 refuses an overflow */
        assert_int_equal(rc, STEME_E_INVALID);
        return;
    }
    if (rc != STEME_OK)
        fail_msg("add %a + %a: %s: %s", old, delta, steme_errname(rc), steme_kv_errmsg(kv));
    double got;
    OK(steme_kv_get_f64(kv, key, sizeof key, &got));
    if (bits_of(got) != bits_of(want))
        fail_msg("%a + %a: got %a (%016llx), C gives %a (%016llx)", old, delta, got,
                 (unsigned long long)bits_of(got), want, (unsigned long long)bits_of(want));
}

static void test_edge_cases(void **state)
{
    (void)state;
    pt_db d;
    pt_db_open(&d, NULL, NULL);
    const double min_sub = 4.9406564584124654e-324;
    const double edges[] = {
        0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, 0.1, 1e-3, 1e300, -1e300, DBL_MAX, -DBL_MAX,
        DBL_MIN, -DBL_MIN, min_sub, -min_sub, DBL_MIN - min_sub, DBL_MIN + min_sub,
        nextafter(1.0, 0.0), nextafter(1.0, 2.0), nextafter(2.0, 0.0), ldexp(1.0, 1023),
        nextafter(ldexp(1.0, 1023), 0.0), ldexp(1.0, -1022), ldexp(1.0, -1021),
        nextafter(ldexp(1.0, -1021), 0.0), ldexp(1.0, -1074), ldexp(3.0, -1075),
        ldexp(1.0, 52), ldexp(1.0, 53) + 2.0, 123456.789, -7.25e-200,
    };
    size_t n = sizeof edges / sizeof edges[0];
    for (size_t i = 0; i < n; i++) {
        check_sum(d.kv, edges[i], 0.0);
        check_sum(d.kv, edges[i], -0.0);
        check_sum(d.kv, 0.0, edges[i]);
        check_sum(d.kv, -0.0, edges[i]);
        check_sum(d.kv, edges[i], -edges[i]);   /* exact cancellation: +0 */
    }
    for (size_t i = 0; i < n; i += 3)
        for (size_t j = 1; j < n; j += 4)
            check_sum(d.kv, edges[i], edges[j]);
    pt_db_close(&d);
}

/* A finite double from random bits (exponent 2047, inf/NaN, is redrawn). */
static double random_double(tu_rng *r)
{
    for (;;) {
        uint64_t b = tu_rng_next(r);
        switch (tu_rng_below(r, 4)) {
        case 0: /* near 1: everyday magnitudes */
            b = (b & 0x800FFFFFFFFFFFFFull) | ((uint64_t)(1023 - 20 + tu_rng_below(r, 40)) << 52);
            break;
        case 1: /* subnormal or smallest normals */
            b &= 0x801FFFFFFFFFFFFFull;
            break;
        default:
            break;
        }
        if (((b >> 52) & 2047) != 2047)
            return of_bits(b);
    }
}

static void test_random_sums(void **state)
{
    (void)state;
    pt_db d;
    pt_db_open(&d, NULL, NULL);
    tu_rng r;
    tu_rng_seed(&r, tu_seed(0xF64ADD));
    for (int i = 0; i < RANDOM_PAIRS; i++) {
        double a = random_double(&r), b = random_double(&r);
        if (i % 3 == 0) /* a delta of a's magnitude: carries, cancellations */
            b = a * ((double)tu_rng_below(&r, 2001) / 1000.0 - 1.0);
        check_sum(d.kv, a, b);
    }
    pt_db_close(&d);
}

int main(void)
{
    int gate = pt_gate("test_kv_pg_f64");
    if (gate >= 0)
        return gate;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_random_sums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
