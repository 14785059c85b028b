/*
 * sign.c - Ed25519 through libsodium (see steme/sign.h).
 *
 * libsodium must be initialised before use (it picks implementations and
 * opens the random source). sodium_init() is itself idempotent, but its
 * result must be remembered to report a failure on every later call, so it
 * runs once under pthread_once and the outcome is kept read-only after.
 */
#include "steme/sign.h"
#include "core/error.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

/* The sizes steme promises in types.h are libsodium's. */
_Static_assert(STEME_AGENT_ID_LEN == crypto_sign_PUBLICKEYBYTES, "public key size");
_Static_assert(STEME_SECRET_KEY_LEN == crypto_sign_SECRETKEYBYTES, "secret key size");
_Static_assert(STEME_SIGNATURE_LEN == crypto_sign_BYTES, "signature size");
_Static_assert(STEME_SEED_LEN == crypto_sign_SEEDBYTES, "seed size");

static pthread_once_t sign_once = PTHREAD_ONCE_INIT;
static int sign_init_rc; /* written once inside sign_once, read-only after */

static void sign_init(void)
{
    sign_init_rc = sodium_init() < 0 ? -1 : 0;
}

static int sign_ready(steme_error *err)
{
    if (pthread_once(&sign_once, sign_init) != 0 || sign_init_rc != 0)
        return steme_err(err, STEME_E_INTERNAL, "libsodium failed to initialise");
    return STEME_OK;
}

int steme_keypair_generate(steme_agent_id *pk, steme_secret_key *sk, steme_error *err)
{
    if (!pk || !sk)
        return steme_err(err, STEME_E_INVALID, "keypair generate: NULL %s", pk ? "sk" : "pk");
    int rc = sign_ready(err);
    if (rc != STEME_OK)
        return rc;
    if (crypto_sign_keypair(pk->bytes, sk->bytes) != 0)
        return steme_err(err, STEME_E_INTERNAL, "keypair generate: libsodium failed");
    return STEME_OK;
}

int steme_keypair_from_seed(const uint8_t seed[STEME_SEED_LEN], steme_agent_id *pk,
                            steme_secret_key *sk, steme_error *err)
{
    if (!seed || !pk || !sk)
        return steme_err(err, STEME_E_INVALID, "keypair from seed: NULL argument");
    int rc = sign_ready(err);
    if (rc != STEME_OK)
        return rc;
    if (crypto_sign_seed_keypair(pk->bytes, sk->bytes, seed) != 0)
        return steme_err(err, STEME_E_INTERNAL, "keypair from seed: libsodium failed");
    return STEME_OK;
}

int steme_secret_key_public(const steme_secret_key *sk, steme_agent_id *pk, steme_error *err)
{
    if (!sk || !pk)
        return steme_err(err, STEME_E_INVALID, "secret key public: NULL %s", sk ? "pk" : "sk");
    /* A copy of the public half, not a new scalar multiplication: this runs
     * once per signed record, and every way steme makes a secret key
     * (generate, from_seed, keyfile_load) guarantees the halves agree. */
    if (crypto_sign_ed25519_sk_to_pk(pk->bytes, sk->bytes) != 0)
        return steme_err(err, STEME_E_INTERNAL, "secret key public: libsodium failed");
    return STEME_OK;
}

void steme_secret_key_wipe(steme_secret_key *sk)
{
    if (sk)
        sodium_memzero(sk->bytes, sizeof sk->bytes);
}

int steme_sign(const steme_secret_key *sk, const void *msg, size_t len, steme_signature *sig,
               steme_error *err)
{
    if (!sk || !sig || (!msg && len))
        return steme_err(err, STEME_E_INVALID, "sign: NULL %s",
                         !sk ? "secret key" : !sig ? "signature" : "message");
    int rc = sign_ready(err);
    if (rc != STEME_OK)
        return rc;
    /* steme allows msg NULL for an empty message; hand libsodium a valid
     * pointer anyway rather than rely on how it treats NULL. */
    static const uint8_t empty[1];
    if (crypto_sign_detached(sig->bytes, NULL, msg ? msg : empty, len, sk->bytes) != 0)
        return steme_err(err, STEME_E_INTERNAL, "sign: libsodium failed");
    return STEME_OK;
}

int steme_verify(const steme_agent_id *pk, const void *msg, size_t len,
                 const steme_signature *sig, steme_error *err)
{
    if (!pk || !sig || (!msg && len))
        return steme_err(err, STEME_E_INVALID, "verify: NULL %s",
                         !pk ? "public key" : !sig ? "signature" : "message");
    int rc = sign_ready(err);
    if (rc != STEME_OK)
        return rc;
    static const uint8_t empty[1];
    if (crypto_sign_verify_detached(sig->bytes, msg ? msg : empty, len, pk->bytes) != 0)
        return steme_err(err, STEME_E_BAD_SIGNATURE,
                         "verify: the signature does not match this message and public key");
    return STEME_OK;
}
