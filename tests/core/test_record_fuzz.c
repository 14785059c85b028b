/*
 * test_record_fuzz.c - 100k random or mutated inputs per record decoder:
 * never a crash or an over-read (each input sits in an exact-size heap
 * block, and CI runs this under ASan+UBSan), only CORRUPT/VERSION
 * refusals, and every accepted input re-encodes to itself.
 * Generators and the per-type table: test_record_gen.h.
 */
#include "test_record_gen.h"

/* 100k inputs per decoder: a third pure noise, a third noise behind a
 * valid header, a third valid encodings with several random bytes changed. */
static void test_garbage_never_crashes(void **state)
{
    fixture *f = *state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(0x5eed0002));
    uint8_t *in = f->copy;
    for (size_t t = 0; t < N_TYPES; t++) {
        const rec_ops *o = &ALL[t];
        size_t accepted = 0;
        for (int i = 0; i < 100000; i++) {
            size_t n;
            unsigned mode = (unsigned)(i % 3);
            if (mode < 2) {
                n = tu_rng_below(&r, 300);
                tu_rng_bytes(&r, in, n);
                if (mode == 1 && n >= 3) {
                    in[0] = (uint8_t)o->type;
                    in[1] = STEME_RECORD_VERSION;
                    in[2] = (uint8_t)tu_rng_below(&r, 16);
                }
            } else {
                /* mutate a fresh valid record of this type */
                any_record x;
                do {
                    f->ar.used = 0;
                    o->gen(&r, &f->ar, &x);
                } while (o->size(&x) > 2048);
                assert_int_equal(o->enc(&x, in, BUF_CAP, &n, NULL), STEME_OK);
                unsigned flips = 1 + (unsigned)tu_rng_below(&r, 4);
                for (unsigned k = 0; k < flips; k++)
                    in[tu_rng_below(&r, n)] = (uint8_t)tu_rng_next(&r);
                if (tu_rng_below(&r, 4) == 0)
                    n = tu_rng_below(&r, n + 1);
            }
            /* a fresh heap copy of exactly n bytes lets ASan catch over-reads */
            uint8_t *exact = malloc(n ? n : 1);
            assert_non_null(exact);
            memcpy(exact, in, n);
            if (check_canonical(o, f, exact, n) == STEME_OK)
                accepted++;
            free(exact);
        }
        print_message("%s: %zu of 100000 garbage inputs were canonical records\n", o->name,
                      accepted);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_garbage_never_crashes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
