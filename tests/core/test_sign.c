/*
 * test_sign.c - Ed25519 through libsodium (src/core/sign.c) and key files
 * (src/core/keyfile.c): RFC 8032 vectors, random sign/verify with tampering,
 * key file round trip, damaged and truncated files, and bad input.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "steme/hash.h"
#include "steme/keyfile.h"
#include "steme/sign.h"
#include "testutil.h"

static uint64_t g_seed;

static int setup_seed(void **state)
{
    (void)state;
    g_seed = tu_seed(0x51619ull);
    return 0;
}

static void unhex(const char *hex, uint8_t *out, size_t n)
{
    assert_int_equal(steme_hex_decode(hex, strlen(hex), out, n, NULL), STEME_OK);
}

/* RFC 8032 section 7.1, TEST 1 to TEST 3 (SECRET KEY is the seed). */
static const struct {
    const char *seed, *pk, *msg, *sig;
} rfc8032[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

static void rfc8032_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc8032 / sizeof rfc8032[0]; i++) {
        uint8_t seed[STEME_SEED_LEN], msg[2];
        steme_agent_id want_pk, pk, pk2;
        steme_signature want_sig, sig;
        steme_secret_key sk;
        size_t mlen = strlen(rfc8032[i].msg) / 2;
        unhex(rfc8032[i].seed, seed, sizeof seed);
        unhex(rfc8032[i].pk, want_pk.bytes, sizeof want_pk.bytes);
        unhex(rfc8032[i].msg, msg, mlen);
        unhex(rfc8032[i].sig, want_sig.bytes, sizeof want_sig.bytes);

        assert_int_equal(steme_keypair_from_seed(seed, &pk, &sk, NULL), STEME_OK);
        assert_memory_equal(pk.bytes, want_pk.bytes, sizeof pk.bytes);
        assert_memory_equal(sk.bytes, seed, STEME_SEED_LEN); /* seed || public key */
        assert_memory_equal(sk.bytes + STEME_SEED_LEN, want_pk.bytes, STEME_AGENT_ID_LEN);
        assert_int_equal(steme_secret_key_public(&sk, &pk2, NULL), STEME_OK);
        assert_memory_equal(pk2.bytes, want_pk.bytes, sizeof pk2.bytes);

        assert_int_equal(steme_sign(&sk, mlen ? msg : NULL, mlen, &sig, NULL), STEME_OK);
        assert_memory_equal(sig.bytes, want_sig.bytes, sizeof sig.bytes);
        assert_int_equal(steme_verify(&pk, mlen ? msg : NULL, mlen, &want_sig, NULL), STEME_OK);
        steme_secret_key_wipe(&sk);
    }
}

static void flip_bit(uint8_t *p, size_t n, tu_rng *r)
{
    size_t bit = tu_rng_below(r, n * 8);
    p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

static void random_sign_verify_and_tamper(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, g_seed);
    static uint8_t msg[4096];
    for (int i = 0; i < 300; i++) {
        uint8_t seed[STEME_SEED_LEN];
        tu_rng_bytes(&r, seed, sizeof seed);
        steme_agent_id pk, other_pk;
        steme_secret_key sk, other_sk;
        assert_int_equal(steme_keypair_from_seed(seed, &pk, &sk, NULL), STEME_OK);
        size_t len = tu_rng_below(&r, i % 10 == 0 ? sizeof msg : 200);
        tu_rng_bytes(&r, msg, len);

        steme_signature sig, sig2;
        assert_int_equal(steme_sign(&sk, msg, len, &sig, NULL), STEME_OK);
        assert_int_equal(steme_sign(&sk, msg, len, &sig2, NULL), STEME_OK);
        assert_memory_equal(sig.bytes, sig2.bytes, sizeof sig.bytes); /* deterministic */
        assert_int_equal(steme_verify(&pk, msg, len, &sig, NULL), STEME_OK);

        steme_error err = {0};
        if (len) {
            flip_bit(msg, len, &r);
            assert_int_equal(steme_verify(&pk, msg, len, &sig, &err), STEME_E_BAD_SIGNATURE);
            assert_int_equal(err.code, STEME_E_BAD_SIGNATURE);
            assert_int_equal(steme_sign(&sk, msg, len, &sig2, NULL), STEME_OK);
            assert_int_equal(steme_verify(&pk, msg, len, &sig2, NULL), STEME_OK);
            sig = sig2;
        }
        sig2 = sig;
        flip_bit(sig2.bytes, sizeof sig2.bytes, &r);
        assert_int_equal(steme_verify(&pk, msg, len, &sig2, NULL), STEME_E_BAD_SIGNATURE);
        steme_agent_id bad_pk = pk;
        flip_bit(bad_pk.bytes, sizeof bad_pk.bytes, &r);
        assert_int_equal(steme_verify(&bad_pk, msg, len, &sig, NULL), STEME_E_BAD_SIGNATURE);
        if (len) /* a shorter message is another message */
            assert_int_equal(steme_verify(&pk, msg, len - 1, &sig, NULL),
                             STEME_E_BAD_SIGNATURE);

        assert_int_equal(steme_keypair_generate(&other_pk, &other_sk, NULL), STEME_OK);
        assert_int_equal(steme_verify(&other_pk, msg, len, &sig, NULL), STEME_E_BAD_SIGNATURE);
        steme_secret_key_wipe(&sk);
        steme_secret_key_wipe(&other_sk);
    }
}

static void generate_and_malformed_keys(void **state)
{
    (void)state;
    steme_agent_id pk1, pk2, derived;
    steme_secret_key sk1, sk2;
    assert_int_equal(steme_keypair_generate(&pk1, &sk1, NULL), STEME_OK);
    assert_int_equal(steme_keypair_generate(&pk2, &sk2, NULL), STEME_OK);
    assert_memory_not_equal(pk1.bytes, pk2.bytes, sizeof pk1.bytes);
    assert_int_equal(steme_secret_key_public(&sk1, &derived, NULL), STEME_OK);
    assert_memory_equal(derived.bytes, pk1.bytes, sizeof pk1.bytes);

    steme_signature sig;
    assert_int_equal(steme_sign(&sk1, "m", 1, &sig, NULL), STEME_OK);
    /* the identity point (small order) and a non-canonical encoding */
    steme_agent_id bad;
    memset(bad.bytes, 0, sizeof bad.bytes);
    bad.bytes[0] = 1;
    assert_int_equal(steme_verify(&bad, "m", 1, &sig, NULL), STEME_E_BAD_SIGNATURE);
    memset(bad.bytes, 0xff, sizeof bad.bytes);
    assert_int_equal(steme_verify(&bad, "m", 1, &sig, NULL), STEME_E_BAD_SIGNATURE);
    memset(bad.bytes, 0, sizeof bad.bytes);
    assert_int_equal(steme_verify(&bad, "m", 1, &sig, NULL), STEME_E_BAD_SIGNATURE);
    /* an all-zero signature */
    steme_signature zero;
    memset(zero.bytes, 0, sizeof zero.bytes);
    assert_int_equal(steme_verify(&pk1, "m", 1, &zero, NULL), STEME_E_BAD_SIGNATURE);

    steme_secret_key_wipe(&sk1);
    for (size_t i = 0; i < sizeof sk1.bytes; i++)
        assert_int_equal(sk1.bytes[i], 0);
    steme_secret_key_wipe(NULL);
    steme_secret_key_wipe(&sk2);
}

static void sign_null_arguments(void **state)
{
    (void)state;
    uint8_t seed[STEME_SEED_LEN] = {1};
    steme_agent_id pk;
    steme_secret_key sk;
    steme_signature sig;
    steme_error err = {0};
    assert_int_equal(steme_keypair_generate(NULL, &sk, &err), STEME_E_INVALID);
    assert_true(err.message[0] != 0);
    assert_int_equal(steme_keypair_generate(&pk, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_keypair_from_seed(NULL, &pk, &sk, NULL), STEME_E_INVALID);
    assert_int_equal(steme_keypair_from_seed(seed, NULL, &sk, NULL), STEME_E_INVALID);
    assert_int_equal(steme_keypair_from_seed(seed, &pk, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_keypair_from_seed(seed, &pk, &sk, NULL), STEME_OK);
    assert_int_equal(steme_secret_key_public(NULL, &pk, NULL), STEME_E_INVALID);
    assert_int_equal(steme_secret_key_public(&sk, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_sign(NULL, "x", 1, &sig, NULL), STEME_E_INVALID);
    assert_int_equal(steme_sign(&sk, "x", 1, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_sign(&sk, NULL, 1, &sig, &err), STEME_E_INVALID);
    assert_non_null(strstr(err.message, "message"));
    assert_int_equal(steme_sign(&sk, NULL, 0, &sig, NULL), STEME_OK);
    assert_int_equal(steme_verify(&pk, "", 0, &sig, NULL), STEME_OK); /* NULL == empty */
    assert_int_equal(steme_verify(NULL, NULL, 0, &sig, NULL), STEME_E_INVALID);
    assert_int_equal(steme_verify(&pk, NULL, 0, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_verify(&pk, NULL, 3, &sig, NULL), STEME_E_INVALID);
    steme_secret_key_wipe(&sk);
}

/* ---- key files --------------------------------------------------------- */

static void put_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static size_t get_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* load must fail with `want`, say why, and leave sk and pk zeroed */
static void assert_load_fails(const char *path, int want)
{
    steme_secret_key sk;
    steme_agent_id pk;
    steme_error err = {0};
    memset(&sk, 0x55, sizeof sk);
    memset(&pk, 0x55, sizeof pk);
    assert_int_equal(steme_keyfile_load(path, &sk, &pk, &err), want);
    assert_int_equal(err.code, want);
    assert_non_null(strstr(err.message, path));
    static const uint8_t zero[STEME_SECRET_KEY_LEN];
    assert_memory_equal(sk.bytes, zero, sizeof sk.bytes);
    assert_memory_equal(pk.bytes, zero, sizeof pk.bytes);
}

static void keyfile_round_trip(void **state)
{
    (void)state;
    char *dir = tu_tempdir("keyfile");
    assert_non_null(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/agent.key", dir);
    steme_agent_id pk, pk_loaded;
    steme_secret_key sk, sk_loaded;
    assert_int_equal(steme_keypair_generate(&pk, &sk, NULL), STEME_OK);
    assert_int_equal(steme_keyfile_save(path, &sk, NULL), STEME_OK);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, STEME_KEYFILE_SIZE);
    assert_int_equal(count_entries(dir), 1); /* no temporary left behind */

    assert_int_equal(steme_keyfile_load(path, &sk_loaded, &pk_loaded, NULL), STEME_OK);
    assert_memory_equal(sk_loaded.bytes, sk.bytes, sizeof sk.bytes);
    assert_memory_equal(pk_loaded.bytes, pk.bytes, sizeof pk.bytes);
    assert_int_equal(steme_keyfile_load(path, &sk_loaded, NULL, NULL), STEME_OK);

    /* a loaded key signs for its agent */
    steme_signature sig;
    assert_int_equal(steme_sign(&sk_loaded, "hello", 5, &sig, NULL), STEME_OK);
    assert_int_equal(steme_verify(&pk, "hello", 5, &sig, NULL), STEME_OK);

    /* looser permissions are not refused */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(steme_keyfile_load(path, &sk_loaded, NULL, NULL), STEME_OK);

    /* save replaces an existing file */
    steme_agent_id pk2;
    steme_secret_key sk2;
    assert_int_equal(steme_keypair_generate(&pk2, &sk2, NULL), STEME_OK);
    assert_int_equal(steme_keyfile_save(path, &sk2, NULL), STEME_OK);
    assert_int_equal(steme_keyfile_load(path, &sk_loaded, &pk_loaded, NULL), STEME_OK);
    assert_memory_equal(pk_loaded.bytes, pk2.bytes, sizeof pk2.bytes);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(count_entries(dir), 1);

    /* relative path: the directory to fsync is "." */
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(steme_keyfile_save("rel.key", &sk, NULL), STEME_OK);
    assert_int_equal(steme_keyfile_load("rel.key", &sk_loaded, NULL, NULL), STEME_OK);
    assert_memory_equal(sk_loaded.bytes, sk.bytes, sizeof sk.bytes);
    assert_int_equal(chdir(cwd), 0);

    steme_secret_key_wipe(&sk);
    steme_secret_key_wipe(&sk2);
    steme_secret_key_wipe(&sk_loaded);
    tu_rmtree_free(dir);
}

static void keyfile_damage_detected(void **state)
{
    (void)state;
    char *dir = tu_tempdir("keyfile");
    assert_non_null(dir);
    char path[4096], bad[4096];
    snprintf(path, sizeof path, "%s/agent.key", dir);
    snprintf(bad, sizeof bad, "%s/bad.key", dir);
    uint8_t seed[STEME_SEED_LEN];
    tu_rng r;
    tu_rng_seed(&r, g_seed + 1);
    tu_rng_bytes(&r, seed, sizeof seed);
    steme_agent_id pk;
    steme_secret_key sk;
    assert_int_equal(steme_keypair_from_seed(seed, &pk, &sk, NULL), STEME_OK);
    assert_int_equal(steme_keyfile_save(path, &sk, NULL), STEME_OK);
    uint8_t good[STEME_KEYFILE_SIZE + 8], img[STEME_KEYFILE_SIZE + 8];
    assert_int_equal(get_file(path, good, sizeof good), STEME_KEYFILE_SIZE);
    assert_memory_equal(good, "STEMEKEY\x01\x00\x00\x00", 12);
    assert_memory_equal(good + 12, seed, sizeof seed);
    assert_memory_equal(good + 44, pk.bytes, sizeof pk.bytes);

    /* any flipped byte: refused (the version bytes say "another format") */
    for (size_t off = 0; off < STEME_KEYFILE_SIZE; off++) {
        memcpy(img, good, STEME_KEYFILE_SIZE);
        img[off] ^= (uint8_t)(1 + tu_rng_below(&r, 255));
        put_file(bad, img, STEME_KEYFILE_SIZE);
        assert_load_fails(bad, off == 8 || off == 9 ? STEME_E_VERSION : STEME_E_CORRUPT);
    }
    /* every truncation, and one byte too many */
    for (size_t len = 0; len < STEME_KEYFILE_SIZE; len++) {
        put_file(bad, good, len);
        assert_load_fails(bad, STEME_E_CORRUPT);
    }
    memcpy(img, good, STEME_KEYFILE_SIZE);
    img[STEME_KEYFILE_SIZE] = 0;
    put_file(bad, img, STEME_KEYFILE_SIZE + 1);
    assert_load_fails(bad, STEME_E_CORRUPT);

    /* well-formed files with a valid checksum that are still wrong */
    steme_hash h;
    memcpy(img, good, STEME_KEYFILE_SIZE);
    img[44] ^= 1; /* public key of another seed */
    steme_blake3_hash(img, 76, &h);
    memcpy(img + 76, h.bytes, 8);
    put_file(bad, img, STEME_KEYFILE_SIZE);
    assert_load_fails(bad, STEME_E_CORRUPT);
    memcpy(img, good, STEME_KEYFILE_SIZE);
    img[10] = 1; /* a flag this version does not know */
    steme_blake3_hash(img, 76, &h);
    memcpy(img + 76, h.bytes, 8);
    put_file(bad, img, STEME_KEYFILE_SIZE);
    assert_load_fails(bad, STEME_E_VERSION);
    memcpy(img, good, STEME_KEYFILE_SIZE);
    img[8] = 2; /* version 2, any length */
    put_file(bad, img, 20);
    assert_load_fails(bad, STEME_E_VERSION);

    /* missing file, a directory */
    snprintf(bad, sizeof bad, "%s/missing.key", dir);
    assert_load_fails(bad, STEME_E_NOTFOUND);
    assert_load_fails(dir, STEME_E_INVALID);
    steme_secret_key_wipe(&sk);
    tu_rmtree_free(dir);
}

static void keyfile_bad_input(void **state)
{
    (void)state;
    steme_agent_id pk;
    steme_secret_key sk;
    steme_error err = {0};
    assert_int_equal(steme_keypair_generate(&pk, &sk, NULL), STEME_OK);
    assert_int_equal(steme_keyfile_save(NULL, &sk, &err), STEME_E_INVALID);
    assert_int_equal(steme_keyfile_save("x.key", NULL, &err), STEME_E_INVALID);
    assert_int_equal(steme_keyfile_save("", &sk, &err), STEME_E_INVALID);
    assert_int_equal(steme_keyfile_load(NULL, &sk, &pk, &err), STEME_E_INVALID);
    assert_int_equal(steme_keyfile_load("x.key", NULL, &pk, &err), STEME_E_INVALID);

    char *dir = tu_tempdir("keyfile");
    assert_non_null(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/no/such/dir/agent.key", dir);
    assert_int_equal(steme_keyfile_save(path, &sk, &err), STEME_E_IO);
    assert_non_null(strstr(err.message, "agent.key"));
    /* a key whose public half is not its seed's is not written */
    snprintf(path, sizeof path, "%s/agent.key", dir);
    steme_secret_key forged = sk;
    forged.bytes[STEME_SEED_LEN] ^= 1;
    assert_int_equal(steme_keyfile_save(path, &forged, &err), STEME_E_INVALID);
    assert_int_equal(count_entries(dir), 0);
    /* an over-long path */
    char *longpath = malloc(5000);
    assert_non_null(longpath);
    memset(longpath, 'a', 4999);
    longpath[4999] = 0;
    assert_int_equal(steme_keyfile_save(longpath, &sk, &err), STEME_E_INVALID);
    free(longpath);
    steme_secret_key_wipe(&sk);
    steme_secret_key_wipe(&forged);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc8032_vectors),
        cmocka_unit_test(random_sign_verify_and_tamper),
        cmocka_unit_test(generate_and_malformed_keys),
        cmocka_unit_test(sign_null_arguments),
        cmocka_unit_test(keyfile_round_trip),
        cmocka_unit_test(keyfile_damage_detected),
        cmocka_unit_test(keyfile_bad_input),
    };
    return cmocka_run_group_tests(tests, setup_seed, NULL);
}
