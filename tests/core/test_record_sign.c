/*
 * test_record_sign.c - the golden assertion vector (format pinned, so it
 * can never drift silently; also in docs/format.md), content hashes, and
 * Ed25519 sign/verify of assertions and votes, including tampering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/hash.h"
#include "steme/record.h"
#include "steme/sign.h"
#include "testutil.h"

/* The golden key: seed bytes 0x00, 0x01, ..., 0x1f. */
static void golden_key(steme_agent_id *pk, steme_secret_key *sk)
{
    uint8_t seed[STEME_SEED_LEN];
    for (int i = 0; i < STEME_SEED_LEN; i++)
        seed[i] = (uint8_t)i;
    assert_int_equal(steme_keypair_from_seed(seed, pk, sk, NULL), STEME_OK);
}

static steme_assertion golden_assertion(const steme_agent_id *pk)
{
    steme_assertion a;
    memset(&a, 0, sizeof a);
    a.subject = "aspirin";
    a.subject_len = 7;
    a.predicate = "max_daily_dose_mg";
    a.predicate_len = 17;
    a.object = steme_value_int(4000);
    a.confidence = 0.95;
    a.source_kind = STEME_SOURCE_PEER_REVIEWED;
    a.source_ref = "doi:10.1000/xyz123";
    a.source_ref_len = 18;
    a.agent = *pk;
    a.timestamp = UINT64_C(1700000000000);
    a.has_epoch = true;
    a.epoch = 7;
    a.has_phash = true;
    a.phash = UINT64_C(0x0123456789abcdef);
    return a;
}

/*
 * Pinned: the signed golden assertion's encoding (125 + 64 = 189 bytes) and its
 * hash. Both were also reproduced independently from docs/format.md with
 * Python (struct + the `cryptography` package's Ed25519) and b3sum.
 * NEVER update these to make the test pass: a change here is a format
 * change and needs a new STEME_RECORD_VERSION.
 */
static const char GOLDEN_HEX[] =
    "01010d07006173706972696e11006d61785f6461696c795f646f73655f6d6702"
    "a00f000000000000666666666666ee3f021200646f693a31302e313030302f78"
    "797a31323303a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc86"
    "64125531b80068e5cf8b0100000700000000000000efcdab8967452301969a78"
    "16e1bf314ee46229facebf56671105df9e54cb3df05c5f144f916ffdfce2cb6e"
    "3c4cc8d8cfa46cfa0abb30ab1e86293fbaeab6e2c704a69d0114e0f105";
static const char GOLDEN_HASH_HEX[] =
    "9bc707a3a3b5832df05685d720555c101f7a9673155f361f27fb8ea740dba181";

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    assert_int_equal(steme_hex_encode(p, n, out, 2 * n + 1), STEME_OK);
}

static void test_golden_vector(void **state)
{
    (void)state;
    steme_agent_id pk;
    steme_secret_key sk;
    golden_key(&pk, &sk);
    steme_assertion a = golden_assertion(&pk);
    assert_int_equal(steme_assertion_sign(&a, &sk, NULL), STEME_OK);

    uint8_t buf[512];
    size_t n = 0;
    assert_int_equal(steme_assertion_encode(&a, buf, sizeof buf, &n, NULL), STEME_OK);
    char hex[2 * sizeof buf + 1];
    hex_of(buf, n, hex);
    steme_hash h;
    assert_int_equal(steme_assertion_hash(&a, &h, NULL), STEME_OK);
    char hhex[2 * STEME_HASH_LEN + 1];
    hex_of(h.bytes, STEME_HASH_LEN, hhex);
    if (strcmp(hex, GOLDEN_HEX) != 0 || strcmp(hhex, GOLDEN_HASH_HEX) != 0)
        fail_msg("golden vector drifted:\n  encoding %s\n  hash     %s", hex, hhex);

    /* the hash is BLAKE3 of the unsigned bytes: flag bit 3 clear, last 64 bytes cut */
    buf[2] &= (uint8_t)~0x08u;
    steme_hash h2;
    steme_blake3_hash(buf, n - STEME_SIGNATURE_LEN, &h2);
    assert_memory_equal(h.bytes, h2.bytes, STEME_HASH_LEN);

    /* and the golden record verifies after a decode */
    buf[2] |= 0x08u;
    steme_assertion d;
    assert_int_equal(steme_assertion_decode(buf, n, &d, NULL), STEME_OK);
    assert_int_equal(steme_assertion_verify(&d, NULL), STEME_OK);
    steme_secret_key_wipe(&sk);
}

static void test_hash_independent_of_signature(void **state)
{
    (void)state;
    steme_agent_id pk;
    steme_secret_key sk;
    golden_key(&pk, &sk);
    steme_assertion a = golden_assertion(&pk);
    steme_hash before, after, other;
    assert_int_equal(steme_assertion_hash(&a, &before, NULL), STEME_OK);
    assert_int_equal(steme_assertion_sign(&a, &sk, NULL), STEME_OK);
    assert_true(a.has_signature);
    assert_int_equal(steme_assertion_hash(&a, &after, NULL), STEME_OK);
    assert_memory_equal(before.bytes, after.bytes, STEME_HASH_LEN);
    a.signature.bytes[5] ^= 1;   /* a different signature: same identity */
    assert_int_equal(steme_assertion_hash(&a, &other, NULL), STEME_OK);
    assert_memory_equal(before.bytes, other.bytes, STEME_HASH_LEN);
    a.timestamp++;               /* a different field: a different identity */
    assert_int_equal(steme_assertion_hash(&a, &other, NULL), STEME_OK);
    assert_memory_not_equal(before.bytes, other.bytes, STEME_HASH_LEN);

    steme_vote v;
    memset(&v, 0, sizeof v);
    v.voter = pk;
    v.assertion = before;
    v.weight = -0.5;
    v.timestamp = 42;
    assert_int_equal(steme_vote_hash(&v, &before, NULL), STEME_OK);
    assert_int_equal(steme_vote_sign(&v, &sk, NULL), STEME_OK);
    assert_int_equal(steme_vote_hash(&v, &after, NULL), STEME_OK);
    assert_memory_equal(before.bytes, after.bytes, STEME_HASH_LEN);
    /* -0.0 and +0.0 weights are the same vote */
    v.weight = -0.0;
    assert_int_equal(steme_vote_hash(&v, &before, NULL), STEME_OK);
    v.weight = 0.0;
    assert_int_equal(steme_vote_hash(&v, &after, NULL), STEME_OK);
    assert_memory_equal(before.bytes, after.bytes, STEME_HASH_LEN);
    steme_secret_key_wipe(&sk);
}

/* Large objects take the streaming (no allocation) hash path and the heap
 * signing path; hashing must match BLAKE3 of the encoding either way. */
static void test_large_assertion_hash_and_sign(void **state)
{
    (void)state;
    steme_agent_id pk;
    steme_secret_key sk;
    golden_key(&pk, &sk);
    static uint8_t big[STEME_VALUE_MAX];
    static uint8_t enc[STEME_ASSERTION_MAX_ENCODED];
    tu_rng r;
    tu_rng_seed(&r, tu_seed(77));
    tu_rng_bytes(&r, big, sizeof big);
    size_t sizes[] = {0, 100, 3900, 4000, 4096, 5000, 4096 * 3 + 1, STEME_VALUE_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        steme_assertion a = golden_assertion(&pk);
        a.object = steme_value_bytes(big, sizes[i]);
        steme_hash h, h2;
        assert_int_equal(steme_assertion_hash(&a, &h, NULL), STEME_OK);
        size_t n;
        assert_int_equal(steme_assertion_encode(&a, enc, sizeof enc, &n, NULL), STEME_OK);
        steme_blake3_hash(enc, n, &h2);
        assert_memory_equal(h.bytes, h2.bytes, STEME_HASH_LEN);
        assert_int_equal(steme_assertion_sign(&a, &sk, NULL), STEME_OK);
        assert_int_equal(steme_assertion_verify(&a, NULL), STEME_OK);
        big[sizes[i] ? sizes[i] - 1 : 0] ^= 0x40;   /* tamper the object */
        int rc = steme_assertion_verify(&a, NULL);
        assert_int_equal(rc, sizes[i] ? STEME_E_BAD_SIGNATURE : STEME_OK);
        big[sizes[i] ? sizes[i] - 1 : 0] ^= 0x40;
    }
    steme_secret_key_wipe(&sk);
}

static void test_assertion_sign_verify(void **state)
{
    (void)state;
    steme_agent_id pk, pk2;
    steme_secret_key sk, sk2;
    golden_key(&pk, &sk);
    uint8_t seed2[STEME_SEED_LEN] = {9};
    assert_int_equal(steme_keypair_from_seed(seed2, &pk2, &sk2, NULL), STEME_OK);

    steme_assertion a = golden_assertion(&pk);
    steme_error err = {0, ""};
    assert_int_equal(steme_assertion_verify(&a, &err), STEME_E_INVALID);  /* unsigned */
    assert_non_null(strstr(err.message, "not signed"));
    /* the agent must be the signer */
    assert_int_equal(steme_assertion_sign(&a, &sk2, &err), STEME_E_INVALID);
    assert_false(a.has_signature);
    assert_int_equal(steme_assertion_sign(&a, &sk, NULL), STEME_OK);
    assert_int_equal(steme_assertion_verify(&a, NULL), STEME_OK);

    /* tampering: each changed field breaks the signature */
    steme_assertion t = a;
    t.confidence = 0.96;
    assert_int_equal(steme_assertion_verify(&t, NULL), STEME_E_BAD_SIGNATURE);
    t = a;
    t.subject = "aspirim";
    assert_int_equal(steme_assertion_verify(&t, NULL), STEME_E_BAD_SIGNATURE);
    t = a;
    t.has_epoch = false;
    assert_int_equal(steme_assertion_verify(&t, NULL), STEME_E_BAD_SIGNATURE);
    t = a;
    t.agent = pk2;
    assert_int_equal(steme_assertion_verify(&t, NULL), STEME_E_BAD_SIGNATURE);
    t = a;
    t.signature.bytes[63] ^= 0x01;
    assert_int_equal(steme_assertion_verify(&t, NULL), STEME_E_BAD_SIGNATURE);
    /* an invalid record is refused before any signature check */
    t = a;
    t.confidence = 2.0;
    assert_int_equal(steme_assertion_verify(&t, NULL), STEME_E_INVALID);

    /* round trip through the encoding keeps it verifiable */
    uint8_t buf[512];
    size_t n;
    assert_int_equal(steme_assertion_encode(&a, buf, sizeof buf, &n, NULL), STEME_OK);
    steme_assertion d;
    assert_int_equal(steme_assertion_decode(buf, n, &d, NULL), STEME_OK);
    assert_int_equal(steme_assertion_verify(&d, NULL), STEME_OK);

    /* NULLs */
    assert_int_equal(steme_assertion_sign(NULL, &sk, NULL), STEME_E_INVALID);
    assert_int_equal(steme_assertion_sign(&a, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_assertion_verify(NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_assertion_hash(NULL, &d.embedding, NULL), STEME_E_INVALID);
    assert_int_equal(steme_assertion_hash(&a, NULL, NULL), STEME_E_INVALID);
    steme_secret_key_wipe(&sk);
    steme_secret_key_wipe(&sk2);
}

static void test_vote_sign_verify(void **state)
{
    (void)state;
    steme_agent_id pk, pk2;
    steme_secret_key sk, sk2;
    golden_key(&pk, &sk);
    uint8_t seed2[STEME_SEED_LEN] = {3};
    assert_int_equal(steme_keypair_from_seed(seed2, &pk2, &sk2, NULL), STEME_OK);
    steme_vote v;
    memset(&v, 0, sizeof v);
    v.voter = pk;
    memset(v.assertion.bytes, 0xab, STEME_HASH_LEN);
    v.weight = 1.0;
    v.timestamp = 1700000000123u;
    assert_int_equal(steme_vote_verify(&v, NULL), STEME_E_INVALID);
    assert_int_equal(steme_vote_sign(&v, &sk2, NULL), STEME_E_INVALID);
    assert_int_equal(steme_vote_sign(&v, &sk, NULL), STEME_OK);
    assert_int_equal(steme_vote_verify(&v, NULL), STEME_OK);

    uint8_t buf[STEME_VOTE_MAX_ENCODED];
    size_t n;
    assert_int_equal(steme_vote_encode(&v, buf, sizeof buf, &n, NULL), STEME_OK);
    assert_int_equal(n, STEME_VOTE_MAX_ENCODED);
    steme_vote d;
    assert_int_equal(steme_vote_decode(buf, n, &d, NULL), STEME_OK);
    assert_int_equal(steme_vote_verify(&d, NULL), STEME_OK);

    steme_vote t = v;
    t.weight = 0.5;
    assert_int_equal(steme_vote_verify(&t, NULL), STEME_E_BAD_SIGNATURE);
    t = v;
    t.assertion.bytes[0] ^= 1;
    assert_int_equal(steme_vote_verify(&t, NULL), STEME_E_BAD_SIGNATURE);
    t = v;
    t.timestamp++;
    assert_int_equal(steme_vote_verify(&t, NULL), STEME_E_BAD_SIGNATURE);

    steme_hash h;
    assert_int_equal(steme_vote_sign(NULL, &sk, NULL), STEME_E_INVALID);
    assert_int_equal(steme_vote_sign(&v, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_vote_verify(NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_vote_hash(NULL, &h, NULL), STEME_E_INVALID);
    assert_int_equal(steme_vote_hash(&v, NULL, NULL), STEME_E_INVALID);
    steme_secret_key_wipe(&sk);
    steme_secret_key_wipe(&sk2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_vector),
        cmocka_unit_test(test_hash_independent_of_signature),
        cmocka_unit_test(test_large_assertion_hash_and_sign),
        cmocka_unit_test(test_assertion_sign_verify),
        cmocka_unit_test(test_vote_sign_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
