/*
 * steme/types.h - fixed-size identifiers shared by every layer.
 *
 * All are plain structs of bytes passed by pointer; the library never keeps
 * a pointer to one after a call returns. Hex forms are lowercase.
 */
#ifndef STEME_TYPES_H
#define STEME_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include "steme/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STEME_HASH_LEN      32  /* BLAKE3-256 content address */
#define STEME_AGENT_ID_LEN  32  /* Ed25519 public key */
#define STEME_SIGNATURE_LEN 64  /* Ed25519 signature */
#define STEME_SECRET_KEY_LEN 64 /* Ed25519 secret key (seed || public key) */
#define STEME_SEED_LEN      32  /* Ed25519 seed */
#define STEME_ID16_LEN      16  /* pack ids, query ids, escalation ids */

/* BLAKE3-256 of a canonical encoding: the identity of a record. */
typedef struct steme_hash { uint8_t bytes[STEME_HASH_LEN]; } steme_hash;
/* An agent is its Ed25519 public key. */
typedef struct steme_agent_id { uint8_t bytes[STEME_AGENT_ID_LEN]; } steme_agent_id;
typedef struct steme_signature { uint8_t bytes[STEME_SIGNATURE_LEN]; } steme_signature;
/* Secret: keep it out of logs; wipe with steme_secret_key_wipe(). */
typedef struct steme_secret_key { uint8_t bytes[STEME_SECRET_KEY_LEN]; } steme_secret_key;
/* 16-byte random identifier (trust packs, query audits, escalations). */
typedef struct steme_id16 { uint8_t bytes[STEME_ID16_LEN]; } steme_id16;

/*
 * Hex encoding. steme_hex_encode writes 2*len lowercase hex digits and a NUL
 * into out (capacity >= 2*len+1). steme_hex_decode parses exactly 2*out_len
 * hex digits (either case) from a NUL-terminated or length-given string.
 * Returns STEME_OK, STEME_E_INVALID (NULL, wrong length, non-hex digit) or
 * STEME_E_BUFFER_SMALL. Thread-safe, no allocation.
 */
int steme_hex_encode(const uint8_t *in, size_t len, char *out, size_t out_cap);
int steme_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len,
                     steme_error *err);

#ifdef __cplusplus
}
#endif
#endif /* STEME_TYPES_H */
