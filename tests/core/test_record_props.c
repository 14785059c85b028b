/*
 * test_record_props.c - round-trip properties of every record codec.
 *
 * For random valid records of each of the nine types (several seeds):
 *   - decode(encode(x)) == x and encode(decode(b)) == b;
 *   - encoded_size(x) == the encoding's length; a buffer one byte short
 *     gives STEME_E_BUFFER_SMALL with the needed size;
 *   - every truncation and any trailing byte is refused;
 *   - a single-byte flip is refused or decodes to a record that re-encodes
 *     to exactly the flipped bytes (canonical decoding).
 * Generators and the per-type table: test_record_gen.h.
 */
#include "test_record_gen.h"

static void roundtrip_one(const rec_ops *o, fixture *f, tu_rng *r)
{
    any_record x, d;
    steme_error err = {0, ""};
    f->ar.used = 0;
    o->gen(r, &f->ar, &x);
    size_t n = 0;
    int rc = o->enc(&x, f->buf, BUF_CAP, &n, &err);
    if (rc != STEME_OK)
        fail_msg("%s: encode failed: %s", o->name, err.message);
    assert_int_equal(n, o->size(&x));
    assert_int_equal(f->buf[0], o->type);
    assert_int_equal(f->buf[1], STEME_RECORD_VERSION);

    size_t need = 0;
    assert_int_equal(o->enc(&x, f->buf2, n - 1, &need, NULL), STEME_E_BUFFER_SMALL);
    assert_int_equal(need, n);

    rc = o->dec(f->buf, n, &d, &err);
    if (rc != STEME_OK)
        fail_msg("%s: decode of a fresh encoding failed: %s", o->name, err.message);
    assert_true(o->eq(&x, &d));
    assert_int_equal(check_canonical(o, f, f->buf, n), STEME_OK);

    /* every truncation (sampled for large records) is refused */
    size_t step = n > 4096 ? n / 256 : 1;
    for (size_t k = 0; k < n; k += step)
        assert_int_not_equal(o->dec(f->buf, k, &d, NULL), STEME_OK);
    assert_int_not_equal(o->dec(f->buf, n - 1, &d, NULL), STEME_OK);

    /* trailing bytes are refused */
    memcpy(f->copy, f->buf, n);
    f->copy[n] = (uint8_t)tu_rng_next(r);
    assert_int_equal(o->dec(f->copy, n + 1, &d, &err), STEME_E_CORRUPT);

    /* single-byte flips: refused or canonical */
    for (int i = 0; i < 24; i++) {
        memcpy(f->copy, f->buf, n);
        size_t at = tu_rng_below(r, n);
        uint8_t delta = (uint8_t)(1 + tu_rng_below(r, 255));
        f->copy[at] ^= delta;
        check_canonical(o, f, f->copy, n);
    }
}

static void test_roundtrip_all_types(void **state)
{
    fixture *f = *state;
    uint64_t base = tu_seed(0x5eed0001);
    for (uint64_t s = 0; s < 4; s++) {
        tu_rng r;
        tu_rng_seed(&r, base + s);
        for (size_t t = 0; t < N_TYPES; t++)
            for (int i = 0; i < 150; i++)
                roundtrip_one(&ALL[t], f, &r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_all_types, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
