/*
 * test_blake3.c - BLAKE3 against the official test vectors
 * (tests/data/blake3_test_vectors.json) and against the reference `b3sum`
 * tool, on the portable kernel and every SIMD kernel this CPU has, with
 * one-shot and split updates; plus the kernels against each other and bad
 * input. b3sum missing is a FAILURE (CI installs the Debian package b3sum).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "steme/hash.h"
#include "core/blake3_int.h"
#include "core/cpu.h"
#include "testutil.h"

#define XOF_LEN 131   /* output length of every official test vector */

enum mode { MODE_HASH, MODE_KEYED, MODE_DERIVE, MODE_COUNT };
static const char *const mode_names[MODE_COUNT] = {"hash", "keyed_hash", "derive_key"};

/* Key and context of the official vectors (also checked against the file). */
static const char vec_key[] = "whats the Elvish word for friend";
static const char vec_context[] = "BLAKE3 2019-12-27 16:29:52 test vectors context";

enum split { SPLIT_ONE_SHOT, SPLIT_BYTES, SPLIT_RANDOM, SPLIT_COUNT };

static void hasher_start(steme_blake3 *h, enum mode mode, b3_impl impl, const char *key,
                         const char *context)
{
    int rc = STEME_OK;
    if (mode == MODE_HASH)
        steme_blake3_init(h);
    else if (mode == MODE_KEYED)
        rc = steme_blake3_init_keyed(h, (const uint8_t *)key);
    else
        rc = steme_blake3_init_derive_key(h, context, strlen(context));
    assert_int_equal(rc, STEME_OK);
    assert_int_equal(b3_hasher_set_impl(h, impl), STEME_OK);
}

/* Feed data split as asked (random piece sizes favour block/chunk edges). */
static void feed(steme_blake3 *h, const uint8_t *data, size_t len, enum split split,
                 tu_rng *rng)
{
    if (split == SPLIT_ONE_SHOT) {
        steme_blake3_update(h, data, len);
        return;
    }
    size_t pos = 0;
    while (pos < len) {
        size_t take = 1;
        if (split == SPLIT_RANDOM) {
            uint64_t kind = tu_rng_below(rng, 4);
            take = kind == 0   ? (size_t)tu_rng_below(rng, 65)
                   : kind == 1 ? (size_t)tu_rng_below(rng, 2049)
                   : kind == 2 ? 1024 * (size_t)tu_rng_below(rng, 20) + tu_rng_below(rng, 3)
                               : (size_t)tu_rng_below(rng, 70000);
            if (take > len - pos)
                take = len - pos;
        }
        steme_blake3_update(h, data + pos, take);
        pos += take;
    }
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    assert_int_equal(steme_hex_encode(b, n, out, 2 * n + 1), STEME_OK);
}

static uint8_t *pattern_input(size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i % 251);
    return p;
}

/* ---- official vectors ------------------------------------------------------ */

static void check_case(const uint8_t *input, size_t len, enum mode mode, const char *want_hex,
                       tu_rng *rng)
{
    char got_hex[2 * XOF_LEN + 1];
    uint8_t out[XOF_LEN], prefix[STEME_BLAKE3_OUT_LEN];
    assert_int_equal(strlen(want_hex), 2 * XOF_LEN);
    for (int impl = 0; impl < B3_IMPL_COUNT; impl++) {
        if (!b3_impl_supported((b3_impl)impl))
            continue;
        for (int split = 0; split < SPLIT_COUNT; split++) {
            steme_blake3 h;
            hasher_start(&h, mode, (b3_impl)impl, vec_key, vec_context);
            feed(&h, input, len, (enum split)split, rng);
            steme_blake3_finalize(&h, out, sizeof out);
            hex_of(out, sizeof out, got_hex);
            if (strcmp(got_hex, want_hex) != 0)
                fail_msg("len %zu %s impl %s split %d:\n got %s\nwant %s", len, mode_names[mode],
                         b3_impl_name((b3_impl)impl), split, got_hex, want_hex);
            /* Default length is the prefix; finalize left the state intact. */
            steme_blake3_finalize(&h, prefix, sizeof prefix);
            assert_memory_equal(prefix, out, sizeof prefix);
            /* Seeking into the output stream gives the matching slice. */
            uint64_t seek = tu_rng_below(rng, XOF_LEN);
            size_t n = (size_t)tu_rng_below(rng, XOF_LEN - seek + 1);
            uint8_t slice[XOF_LEN];
            steme_blake3_finalize_seek(&h, seek, slice, n);
            assert_memory_equal(slice, out + seek, n);
        }
    }
    if (mode == MODE_HASH) {
        steme_hash one;
        steme_blake3_hash(input, len, &one);
        assert_memory_equal(one.bytes, out, sizeof one.bytes);
    }
}

static void test_official_vectors(void **state)
{
    (void)state;
    char *path = tu_source_path("tests/data/blake3_test_vectors.json");
    assert_non_null(path);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        fail_msg("cannot load %s: %s (line %d)", path, jerr.text, jerr.line);
    free(path);
    assert_string_equal(json_string_value(json_object_get(root, "key")), vec_key);
    assert_string_equal(json_string_value(json_object_get(root, "context_string")), vec_context);
    json_t *cases = json_object_get(root, "cases");
    assert_true(json_is_array(cases));
    assert_true(json_array_size(cases) >= 20);

    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(251));
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        size_t len = (size_t)json_integer_value(json_object_get(c, "input_len"));
        uint8_t *input = pattern_input(len);
        for (int mode = 0; mode < MODE_COUNT; mode++) {
            const char *want = json_string_value(json_object_get(c, mode_names[mode]));
            assert_non_null(want);
            check_case(input, len, (enum mode)mode, want, &rng);
        }
        free(input);
    }
    json_decref(root);
}

/* ---- kernels against each other -------------------------------------------- */

/* hash_many with odd input counts, block counts, flags and a counter whose
 * low word wraps inside the batch (carry into the high word). */
static void test_kernels_agree(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(0xB3));
    enum { MAXIN = 40, MAXBLK = 16 };
    uint8_t *data = malloc(MAXIN * MAXBLK * B3_BLOCK_LEN);
    assert_non_null(data);
    const uint8_t *ptrs[MAXIN];
    uint8_t want[MAXIN * 32], got[MAXIN * 32];
    for (int iter = 0; iter < 300; iter++) {
        size_t n = 1 + (size_t)tu_rng_below(&rng, MAXIN);
        size_t blocks = 1 + (size_t)tu_rng_below(&rng, MAXBLK);
        tu_rng_bytes(&rng, data, n * blocks * B3_BLOCK_LEN);
        for (size_t j = 0; j < n; j++)
            ptrs[j] = data + j * blocks * B3_BLOCK_LEN;
        uint32_t key[8];
        tu_rng_bytes(&rng, key, sizeof key);
        uint64_t counter = iter % 2 ? 0xFFFFFFFFull - tu_rng_below(&rng, 20) : tu_rng_next(&rng);
        bool inc = tu_rng_below(&rng, 4) != 0;
        uint8_t flags = (uint8_t)tu_rng_below(&rng, 128);
        uint8_t fs = (uint8_t)tu_rng_below(&rng, 128), fe = (uint8_t)tu_rng_below(&rng, 128);
        b3_hash_many_portable(ptrs, n, blocks, key, counter, inc, flags, fs, fe, want);
        for (int impl = 1; impl < B3_IMPL_COUNT; impl++) {
            if (!b3_impl_supported((b3_impl)impl))
                continue;
            memset(got, 0, sizeof got);
            b3_impl_hash_many((b3_impl)impl)(ptrs, n, blocks, key, counter, inc, flags, fs, fe,
                                             got);
            if (memcmp(got, want, n * 32) != 0)
                fail_msg("%s differs: n %zu blocks %zu counter %llx inc %d",
                         b3_impl_name((b3_impl)impl), n, blocks, (unsigned long long)counter, inc);
        }
    }
    free(data);
    /* The machines this project runs on have AVX2; say what was skipped. */
    for (int impl = 1; impl < B3_IMPL_COUNT; impl++)
        if (!b3_impl_supported((b3_impl)impl))
            fprintf(stderr, "# blake3 kernel %s not available (CPU or STEME_CPU_MASK): skipped\n",
                    b3_impl_name((b3_impl)impl));
    assert_int_equal(b3_impl_supported(b3_impl_best()), true);
}

/* Hashers fork by copy, finalize does not consume, random splits agree. */
static void test_incremental_property(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(77));
    size_t cap = 300000;
    uint8_t *data = malloc(cap);
    assert_non_null(data);
    tu_rng_bytes(&rng, data, cap);
    for (int iter = 0; iter < 60; iter++) {
        size_t len = (size_t)tu_rng_below(&rng, iter < 30 ? 5000 : cap);
        size_t cut = (size_t)tu_rng_below(&rng, len + 1);
        b3_impl impl = (b3_impl)tu_rng_below(&rng, B3_IMPL_COUNT);
        if (!b3_impl_supported(impl))
            impl = B3_IMPL_PORTABLE;
        steme_blake3 whole, a, b;
        uint8_t w[64], x[64], y[64];
        hasher_start(&whole, MODE_HASH, B3_IMPL_PORTABLE, NULL, NULL);
        steme_blake3_update(&whole, data, len);
        steme_blake3_finalize(&whole, w, sizeof w);

        hasher_start(&a, MODE_HASH, impl, NULL, NULL);
        feed(&a, data, cut, SPLIT_RANDOM, &rng);
        steme_blake3_finalize(&a, x, sizeof x);      /* mid-stream finalize */
        memcpy(&b, &a, sizeof b);                     /* fork */
        feed(&a, data + cut, len - cut, SPLIT_RANDOM, &rng);
        steme_blake3_finalize(&a, x, sizeof x);
        assert_memory_equal(x, w, sizeof w);
        steme_blake3_update(&b, data + cut, len - cut);
        steme_blake3_finalize(&b, y, sizeof y);
        assert_memory_equal(y, w, sizeof w);
    }
    free(data);
}

/* ---- b3sum ------------------------------------------------------------------ */

static int have_b3sum(void)
{
    return system("command -v b3sum >/dev/null 2>&1") == 0;
}

/*
 * Run b3sum once over names[0..n) (relative to dir: a shell command line is
 * limited to 128 KiB, too little for 4,000 absolute paths) and parse one hex
 * digest per line.
 */
static void b3sum_run(const char *dir, const char *args, const char *stdin_file, char **names,
                      size_t n, size_t out_len, char **digests)
{
    size_t cmd_cap = 256 + strlen(dir) + strlen(args) + (stdin_file ? strlen(stdin_file) : 0);
    for (size_t i = 0; i < n; i++)
        cmd_cap += strlen(names[i]) + 3;
    char *cmd = malloc(cmd_cap);
    assert_non_null(cmd);
    size_t pos = (size_t)snprintf(cmd, cmd_cap,
                                  "cd '%s' && b3sum --no-names --num-threads 1 --length %zu %s",
                                  dir, out_len, args);
    for (size_t i = 0; i < n; i++)
        pos += (size_t)snprintf(cmd + pos, cmd_cap - pos, " '%s'", names[i]);
    if (stdin_file)
        snprintf(cmd + pos, cmd_cap - pos, " < '%s'", stdin_file);
    FILE *p = popen(cmd, "r");
    if (!p)
        fail_msg("cannot run: %s", cmd);
    size_t line_cap = 2 * out_len + 8;
    char *line = malloc(line_cap);
    assert_non_null(line);
    size_t got = 0;
    while (got < n && fgets(line, (int)line_cap, p)) {
        line[strcspn(line, "\n")] = '\0';
        if (strlen(line) != 2 * out_len)
            fail_msg("unexpected b3sum output line: %s", line);
        digests[got++] = strdup(line);
    }
    int status = pclose(p);
    if (status != 0 || got != n)
        fail_msg("b3sum failed (status %d, %zu of %zu digests)", status, got, n);
    free(line);
    free(cmd);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void expect_digest(const uint8_t *data, size_t len, enum mode mode, const char *key,
                          const char *context, const char *want_hex, size_t out_len)
{
    uint8_t out[1024];
    char hex[2 * 1024 + 1];
    assert_true(out_len <= sizeof out);
    for (int impl = 0; impl < B3_IMPL_COUNT; impl++) {
        if (!b3_impl_supported((b3_impl)impl))
            continue;
        steme_blake3 h;
        hasher_start(&h, mode, (b3_impl)impl, key, context);
        steme_blake3_update(&h, data, len);
        steme_blake3_finalize(&h, out, out_len);
        hex_of(out, out_len, hex);
        if (strcmp(hex, want_hex) != 0)
            fail_msg("b3sum disagrees: len %zu %s impl %s\n ours %s\nb3sum %s", len,
                     mode_names[mode], b3_impl_name((b3_impl)impl), hex, want_hex);
    }
}

static void test_against_b3sum(void **state)
{
    (void)state;
    if (!have_b3sum())
        fail_msg("the b3sum tool is not installed: install the Debian package b3sum "
                 "(the reference Rust implementation); this test needs it");
    enum { SMALL = 4097, RANDOM = 40, TOTAL = SMALL + RANDOM };
    const size_t big = 1 << 20;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed(4096));
    uint8_t *data = malloc(big);
    assert_non_null(data);
    tu_rng_bytes(&rng, data, big);
    char *dir = tu_tempdir("blake3");
    assert_non_null(dir);

    char **names = calloc(TOTAL, sizeof *names);
    char **digests = calloc(TOTAL, sizeof *digests);
    size_t *lens = calloc(TOTAL, sizeof *lens);
    assert_true(names && digests && lens);
    for (size_t i = 0; i < TOTAL; i++) {
        lens[i] = i < SMALL ? i : 1 + (size_t)tu_rng_below(&rng, big);
        char path[4096];
        names[i] = malloc(32);
        assert_non_null(names[i]);
        snprintf(names[i], 32, "in%zu", i);
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        write_file(path, data, lens[i]);   /* input i: a prefix of data */
    }
    b3sum_run(dir, "", NULL, names, TOTAL, 32, digests);
    for (size_t i = 0; i < TOTAL; i++)
        expect_digest(data, lens[i], MODE_HASH, NULL, NULL, digests[i], 32);

    /* Long output, keyed and derive-key modes on a few sizes. */
    static const size_t picks[] = {0, 1, 64, 1024, 1025, 3000, 4096, SMALL + 3, SMALL + 17};
    enum { NPICK = sizeof picks / sizeof picks[0] };
    char *pnames[NPICK], *pdig[NPICK];
    for (size_t i = 0; i < NPICK; i++)
        pnames[i] = names[picks[i]];
    char *keyfile = malloc(strlen(dir) + 16);
    assert_non_null(keyfile);
    sprintf(keyfile, "%s/key", dir);
    static const char key[] = "0123456789abcdef0123456789ABCDEF";
    write_file(keyfile, key, 32);
    static const char ctx[] = "steme 2024 test context for derive-key";
    const struct { const char *args; const char *in; enum mode mode; size_t len; } runs[] = {
        {"", NULL, MODE_HASH, 1000},
        {"--keyed", keyfile, MODE_KEYED, 32},
        {"--keyed", keyfile, MODE_KEYED, 200},
        {"--derive-key '" "steme 2024 test context for derive-key" "'", NULL, MODE_DERIVE, 32},
        {"--derive-key '" "steme 2024 test context for derive-key" "'", NULL, MODE_DERIVE, 77},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        b3sum_run(dir, runs[r].args, runs[r].in, pnames, NPICK, runs[r].len, pdig);
        for (size_t i = 0; i < NPICK; i++) {
            expect_digest(data, lens[picks[i]], runs[r].mode, key, ctx, pdig[i], runs[r].len);
            free(pdig[i]);
        }
    }

    for (size_t i = 0; i < TOTAL; i++) {
        free(names[i]);
        free(digests[i]);
    }
    free(names);
    free(digests);
    free(lens);
    free(keyfile);
    free(data);
    tu_rmtree_free(dir);
}

/* ---- bad input -------------------------------------------------------------- */

static void test_bad_input(void **state)
{
    (void)state;
    steme_blake3 h;
    uint8_t key[32] = {0}, out[32], empty[32];
    assert_int_equal(steme_blake3_init_keyed(&h, NULL), STEME_E_INVALID);
    assert_int_equal(steme_blake3_init_keyed(NULL, key), STEME_E_INVALID);
    assert_int_equal(steme_blake3_init_derive_key(&h, NULL, 5), STEME_E_INVALID);
    assert_int_equal(steme_blake3_init_derive_key(&h, NULL, 0), STEME_E_INVALID);
    assert_int_equal(steme_blake3_init_derive_key(NULL, "ctx", 3), STEME_E_INVALID);
    assert_int_equal(b3_hasher_set_impl(NULL, B3_IMPL_PORTABLE), STEME_E_INVALID);
    steme_blake3_init(&h);
    assert_int_equal(b3_hasher_set_impl(&h, B3_IMPL_COUNT), STEME_E_INVALID);
    assert_int_equal(b3_hasher_set_impl(&h, (b3_impl)-1), STEME_E_INVALID);

    /* NULL pointers are no-ops; the state still hashes the empty input. */
    steme_blake3_init(NULL);
    steme_blake3_update(NULL, "abc", 3);
    steme_blake3_update(&h, NULL, 100);
    steme_blake3_update(&h, "", 0);
    steme_blake3_finalize(NULL, out, sizeof out);
    steme_blake3_finalize(&h, NULL, 32);
    steme_blake3_finalize(&h, out, 0);
    steme_blake3_hash("x", 1, NULL);
    steme_blake3_finalize(&h, out, sizeof out);
    steme_hash e;
    steme_blake3_hash(NULL, 0, &e);
    memcpy(empty, e.bytes, 32);
    assert_memory_equal(out, empty, 32);
    static const uint8_t empty_hash[8] = {0xaf, 0x13, 0x49, 0xb9, 0xf5, 0xf9, 0xa1, 0xa6};
    assert_memory_equal(empty, empty_hash, sizeof empty_hash);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_official_vectors),
        cmocka_unit_test(test_kernels_agree),
        cmocka_unit_test(test_incremental_property),
        cmocka_unit_test(test_against_b3sum),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
