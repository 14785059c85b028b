/*
 * test_crc32c.c - CRC-32C: published vectors (RFC 3720 appendix B.4 and the
 * "123456789" check value) on every kernel this CPU can run, then random
 * buffers, chaining splits and unaligned starts compared across kernels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/hash.h"
#include "core/cpu.h"
#include "core/crc32c_int.h"
#include "testutil.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

typedef struct kernel {
    const char *name;
    crc_fn fn;
    uint32_t need;
} kernel;

static const kernel kernels[] = {
    {"table", crc32c_sw, 0},
    {"sse42", crc32c_hw, STEME_CPU_SSE42},
    {"sse42x3", crc32c_hw3, STEME_CPU_SSE42 | STEME_CPU_PCLMUL},
    {"public", steme_crc32c, 0},
};
#define NKERNELS (sizeof kernels / sizeof kernels[0])

static int usable(const kernel *k)
{
    return steme_cpu_has(k->need);
}

static void check_all(const void *data, size_t len, uint32_t want, const char *what)
{
    for (size_t i = 0; i < NKERNELS; i++) {
        if (!usable(&kernels[i]))
            continue;
        uint32_t got = kernels[i].fn(0, data, len);
        if (got != want)
            fail_msg("%s on %s: got %08x want %08x", kernels[i].name, what, got, want);
    }
}

static void test_kernels_present(void **state)
{
    (void)state;
    /* This project's machines all have SSE4.2; say so if a path is skipped. */
    for (size_t i = 0; i < NKERNELS; i++)
        if (!usable(&kernels[i]))
            fprintf(stderr, "# crc32c kernel %s not available (CPU or STEME_CPU_MASK): skipped\n",
                    kernels[i].name);
}

static void test_rfc3720_vectors(void **state)
{
    (void)state;
    uint8_t buf[48];

    memset(buf, 0, 32);
    check_all(buf, 32, 0x8A9136AAu, "32 zero bytes");
    memset(buf, 0xFF, 32);
    check_all(buf, 32, 0x62A8AB43u, "32 0xFF bytes");
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    check_all(buf, 32, 0x46DD794Eu, "bytes 0..31");
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    check_all(buf, 32, 0x113FDB5Cu, "bytes 31..0");

    static const uint8_t read_pdu[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    check_all(read_pdu, sizeof read_pdu, 0xD9963A56u, "iSCSI READ PDU");
    check_all("123456789", 9, 0xE3069283u, "\"123456789\"");
    check_all("", 0, 0, "empty input");
}

static void test_null_and_empty(void **state)
{
    (void)state;
    for (size_t i = 0; i < NKERNELS; i++) {
        if (!usable(&kernels[i]))
            continue;
        assert_int_equal(kernels[i].fn(0x12345678u, NULL, 100), 0x12345678u);
        assert_int_equal(kernels[i].fn(0x12345678u, "x", 0), 0x12345678u);
    }
}

/* The combine constants of the three-way kernel, recomputed bit by bit. */
static void test_shift_constants(void **state)
{
    (void)state;
    assert_int_equal(crc32c_shift_constant(4096), 0x82F89C77u);
    assert_int_equal(crc32c_shift_constant(8192), 0x54A86326u);
    assert_int_equal(crc32c_shift_constant(256), 0xB9E02B86u);
    assert_int_equal(crc32c_shift_constant(512), 0xDD7E3B0Cu);
}

/* Every length around the kernel's block boundaries, at every misalignment. */
static void test_boundaries_and_alignment(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(3720));
    size_t cap = 3 * 4096 * 2 + 64;
    uint8_t *buf = malloc(cap + 16);
    assert_non_null(buf);
    tu_rng_bytes(&rng, buf, cap + 16);
    static const size_t centres[] = {0, 8, 3 * 256, 2 * 3 * 256, 3 * 4096, 2 * 3 * 4096};
    for (size_t c = 0; c < sizeof centres / sizeof centres[0]; c++) {
        for (size_t len = centres[c] > 24 ? centres[c] - 24 : 0; len <= centres[c] + 24; len++) {
            for (size_t off = 0; off < 16; off++) {
                uint32_t want = crc32c_sw(0, buf + off, len);
                for (size_t i = 1; i < NKERNELS; i++) {
                    if (!usable(&kernels[i]))
                        continue;
                    uint32_t got = kernels[i].fn(0, buf + off, len);
                    if (got != want)
                        fail_msg("%s len %zu offset %zu: %08x vs table %08x", kernels[i].name,
                                 len, off, got, want);
                }
            }
        }
    }
    free(buf);
}

/* Random buffers cut at random points: chaining gives the one-shot value. */
static void test_random_chaining(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(0xC3C));
    size_t cap = 200000;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    for (int iter = 0; iter < 200; iter++) {
        size_t len = (size_t)tu_rng_below(&rng, iter < 100 ? 2000 : cap);
        size_t off = (size_t)tu_rng_below(&rng, 16);
        if (off + len > cap)
            len = cap - off;
        tu_rng_bytes(&rng, buf + off, len);
        uint32_t want = crc32c_sw(0, buf + off, len);
        for (size_t i = 0; i < NKERNELS; i++) {
            if (!usable(&kernels[i]))
                continue;
            uint32_t one = kernels[i].fn(0, buf + off, len);
            if (one != want)
                fail_msg("%s len %zu: %08x vs table %08x", kernels[i].name, len, one, want);
            /* Up to 5 random pieces, including empty ones. */
            uint32_t crc = 0;
            size_t pos = 0;
            for (int piece = 0; piece < 5 && pos < len; piece++) {
                size_t take = (size_t)tu_rng_below(&rng, len - pos + 1);
                crc = kernels[i].fn(crc, buf + off + pos, take);
                pos += take;
            }
            crc = kernels[i].fn(crc, buf + off + pos, len - pos);
            if (crc != want)
                fail_msg("%s chained len %zu: %08x vs %08x", kernels[i].name, len, crc, want);
        }
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_present),
        cmocka_unit_test(test_rfc3720_vectors),
        cmocka_unit_test(test_null_and_empty),
        cmocka_unit_test(test_shift_constants),
        cmocka_unit_test(test_boundaries_and_alignment),
        cmocka_unit_test(test_random_chaining),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
