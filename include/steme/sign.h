/*
 * steme/sign.h - Ed25519 keys, signatures and verification (RFC 8032),
 * through libsodium.
 *
 * An agent is its Ed25519 public key (steme_agent_id, 32 bytes). Its secret
 * key (steme_secret_key, 64 bytes) is the 32-byte seed followed by the
 * public key, libsodium's layout; steme never stores it anywhere but in
 * the caller's struct (and a key file, steme/keyfile.h). Wipe it with
 * steme_secret_key_wipe() when done.
 *
 * Signatures are deterministic (same key and message: same 64 bytes).
 * Verification is libsodium's strict check: it refuses non-canonical
 * signatures and public keys of small order, so a signature is valid for
 * one key and one message only.
 *
 * Threads: every function is thread-safe and allocates nothing. libsodium
 * is initialised once, on first use, through pthread_once; if that fails
 * every call returns STEME_E_INTERNAL with a message.
 *
 * err is optional (may be NULL) everywhere.
 */
#ifndef STEME_SIGN_H
#define STEME_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include "steme/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * New random key pair from the OS's CSPRNG. On failure *pk and *sk are not
 * written. Returns STEME_OK, STEME_E_INVALID (pk or sk NULL),
 * STEME_E_INTERNAL (libsodium failed to initialise).
 */
int steme_keypair_generate(steme_agent_id *pk, steme_secret_key *sk, steme_error *err);

/*
 * The key pair of a 32-byte seed (RFC 8032's "secret key"): the same seed
 * always gives the same pair. Returns STEME_OK, STEME_E_INVALID (NULL
 * argument), STEME_E_INTERNAL.
 */
int steme_keypair_from_seed(const uint8_t seed[STEME_SEED_LEN], steme_agent_id *pk,
                            steme_secret_key *sk, steme_error *err);

/*
 * The public key of a secret key: its public half, copied (cheap: no
 * curve arithmetic). Keys made by steme_keypair_generate/_from_seed and
 * steme_keyfile_load always have a public half that matches the seed.
 * Returns STEME_OK, STEME_E_INVALID (NULL argument).
 */
int steme_secret_key_public(const steme_secret_key *sk, steme_agent_id *pk, steme_error *err);

/* Overwrite a secret key with zeros in a way the compiler keeps. NULL: no-op. */
void steme_secret_key_wipe(steme_secret_key *sk);

/*
 * Sign len bytes at msg (msg may be NULL when len is 0) into *sig.
 * sk must come from steme_keypair_generate/_from_seed or
 * steme_keyfile_load (which guarantee its halves agree; a key whose public
 * half was altered yields signatures that verify under no key). Returns
 * STEME_OK, STEME_E_INVALID (NULL argument), STEME_E_INTERNAL.
 */
int steme_sign(const steme_secret_key *sk, const void *msg, size_t len, steme_signature *sig,
               steme_error *err);

/*
 * Check that sig is pk's signature of msg[0..len) (msg may be NULL when len
 * is 0). Returns STEME_OK, STEME_E_BAD_SIGNATURE (wrong signature, other
 * message, other key, or a malformed / small-order public key),
 * STEME_E_INVALID (NULL argument), STEME_E_INTERNAL. The result must be
 * checked.
 */
int steme_verify(const steme_agent_id *pk, const void *msg, size_t len,
                 const steme_signature *sig, steme_error *err)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif /* STEME_SIGN_H */
