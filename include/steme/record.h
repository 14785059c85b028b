/*
 * steme/record.h - canonical encoding of assertions, votes and typed values,
 * their content hashes and Ed25519 signatures (spec section 2).
 * The other store records (TrustRank, GoldStandard, ...) are in
 * steme/records.h; the byte layout of all of them is in docs/format.md.
 *
 * Every record encodes to
 *
 *     [type u8][version u8][flags u8] fields...
 *
 * with little-endian fixed-width integers, f64 as IEEE-754 bits (LE), text
 * and bytes length-prefixed, optional fields present iff their flag bit is
 * set, and nothing after the last field. The encoding is canonical: equal
 * records give equal bytes (-0.0 is written as +0.0; NaN and infinities are
 * refused), and decoding is strict, so a successful decode(b) always means
 * encode(decode(b)) == b byte for byte. That is what lets a hash of the
 * encoding be a record's identity.
 *
 * Common rules for every steme_X of this header and of records.h:
 *
 *   size_t steme_X_encoded_size(const steme_X *x)
 *       Bytes the encoding of x takes. 0 if x is NULL or one of its lengths
 *       is past its limit (text is not scanned: use validate for that).
 *
 *   int steme_X_validate(const steme_X *x, steme_error *err)
 *       Checks every field against the limits below. Returns STEME_OK,
 *       STEME_E_INVALID (NULL, value out of range, unknown enum, text
 *       pointer NULL with a non-zero length, empty required text),
 *       STEME_E_TOO_BIG (text or bytes past their limit) or STEME_E_BAD_UTF8.
 *       -0.0 is valid anywhere 0.0 is (it is encoded as +0.0).
 *
 *   int steme_X_encode(const steme_X *x, uint8_t *buf, size_t cap,
 *                      size_t *len, steme_error *err)
 *       Validates x, then writes its encoding into buf[0..cap). *len gets
 *       the encoding's size, also on STEME_E_BUFFER_SMALL (nothing is
 *       written then), so a caller can size a buffer and call again.
 *       Returns the validate statuses, STEME_E_BUFFER_SMALL, or
 *       STEME_E_INVALID when len or buf (with cap > 0) is NULL.
 *       Never allocates.
 *
 *   int steme_X_decode(const uint8_t *buf, size_t len, steme_X *out,
 *                      steme_error *err)
 *       Parses exactly buf[0..len). Returns STEME_OK; STEME_E_INVALID for a
 *       NULL argument; STEME_E_VERSION for a format version this build does
 *       not know; STEME_E_CORRUPT for anything else that is not the
 *       canonical encoding of a valid record (wrong record type, short
 *       input, trailing bytes, unknown flag bits, a bool byte other than
 *       0/1, -0.0, NaN or out-of-range numbers, lengths past the end or
 *       their limit, invalid UTF-8, unknown enum values). The message names
 *       the field and its byte offset. Never reads outside buf[0..len).
 *       On failure *out is left untouched.
 *       ZERO-COPY: text and bytes fields of *out point INTO buf; buf must
 *       stay alive and unchanged as long as *out is used.
 *
 * Text fields are (pointer, length) views, not NUL-terminated; "UTF-8"
 * below always means valid UTF-8 (no overlongs, no surrogates, at most
 * U+10FFFF) without NUL bytes. Strings that may be empty may have a NULL
 * pointer when their length is 0.
 *
 * Threads: every function is pure, reentrant and thread-safe; none keeps a
 * pointer to its arguments after it returns.
 */
#ifndef STEME_RECORD_H
#define STEME_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "steme/keys.h"   /* STEME_SUBJECT_MAX, STEME_PREDICATE_MAX */
#include "steme/status.h"
#include "steme/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The first byte of every encoded record. */
typedef enum steme_record_type {
    STEME_REC_ASSERTION = 1,
    STEME_REC_VOTE = 2,
    STEME_REC_TRUST_RANK = 3,
    STEME_REC_GOLD_STANDARD = 4,
    STEME_REC_TRUST_PACK = 5,
    STEME_REC_QUERY_AUDIT = 6,
    STEME_REC_QUOTA = 7,
    STEME_REC_ESCALATION = 8,
    STEME_REC_SUPERSESSION = 9
} steme_record_type;

/* The second byte: the only format version this build writes and reads. */
#define STEME_RECORD_VERSION 1u

/* Limits (bytes). Subject and predicate limits are in steme/keys.h. */
#define STEME_VALUE_MAX      65536u  /* string or bytes object value: 64 KiB */
#define STEME_SOURCE_REF_MAX 2048u   /* source reference (URI, identifier) */

/* ---------------------------------------------------------------- value */

/* Wire tags of a typed value. 0 is never valid, so a zeroed value is refused. */
typedef enum steme_value_type {
    STEME_VALUE_STRING = 1,  /* UTF-8, 0..STEME_VALUE_MAX bytes */
    STEME_VALUE_INT = 2,     /* int64 */
    STEME_VALUE_FLOAT = 3,   /* float64, finite */
    STEME_VALUE_BOOL = 4,
    STEME_VALUE_BYTES = 5    /* 0..STEME_VALUE_MAX bytes */
} steme_value_type;

/* A typed value (an assertion's object). Only the member of `type` is used. */
typedef struct steme_value {
    steme_value_type type;
    union {
        struct { const char *ptr; size_t len; } str;      /* STRING */
        struct { const uint8_t *ptr; size_t len; } bytes; /* BYTES */
        int64_t i64;                                      /* INT */
        double f64;                                       /* FLOAT */
        bool boolean;                                     /* BOOL */
    } v;
} steme_value;

static inline steme_value steme_value_string(const char *s, size_t len)
{ steme_value x; x.type = STEME_VALUE_STRING; x.v.str.ptr = s; x.v.str.len = len; return x; }
static inline steme_value steme_value_bytes(const uint8_t *p, size_t len)
{ steme_value x; x.type = STEME_VALUE_BYTES; x.v.bytes.ptr = p; x.v.bytes.len = len; return x; }
static inline steme_value steme_value_int(int64_t i)
{ steme_value x; x.type = STEME_VALUE_INT; x.v.i64 = i; return x; }
static inline steme_value steme_value_float(double f)
{ steme_value x; x.type = STEME_VALUE_FLOAT; x.v.f64 = f; return x; }
static inline steme_value steme_value_bool(bool b)
{ steme_value x; x.type = STEME_VALUE_BOOL; x.v.boolean = b; return x; }

/* Validate a value alone (same statuses as steme_X_validate). */
int steme_value_validate(const steme_value *v, steme_error *err);

/*
 * 1 if a and b are the same claim: same type and equal content (bytewise for
 * STRING/BYTES, == for INT/BOOL, numeric == for FLOAT, so -0.0 equals 0.0,
 * exactly as their encodings are equal). 0 otherwise, or if either is NULL.
 * Used by the query lenses to group assertions into claims. No allocation.
 */
int steme_value_equal(const steme_value *a, const steme_value *b);

/* ------------------------------------------------------------ assertion */

/* Where a claim comes from. 0 is never valid. */
typedef enum steme_source_kind {
    STEME_SOURCE_REGULATORY = 1,
    STEME_SOURCE_PEER_REVIEWED = 2,
    STEME_SOURCE_CLINICAL = 3,
    STEME_SOURCE_NEWS = 4,
    STEME_SOURCE_FORUM = 5,
    STEME_SOURCE_AGENT = 6,
    STEME_SOURCE_SENSOR = 7,
    STEME_SOURCE_OTHER = 8
} steme_source_kind;

/* Name of a source kind ("peer_reviewed"), or NULL if unknown. */
const char *steme_source_kind_name(steme_source_kind kind);

/*
 * An immutable claim: (subject, predicate) has value `object`.
 *   subject     UTF-8, 1..STEME_SUBJECT_MAX (1024) bytes
 *   predicate   UTF-8, 1..STEME_PREDICATE_MAX (256) bytes
 *   confidence  finite, in [0, 1]
 *   source_ref  UTF-8, 0..STEME_SOURCE_REF_MAX bytes
 *   timestamp   Unix milliseconds
 * Optional fields are present iff their has_ flag is true; when it is false
 * the field's value is ignored by encode and zeroed by decode.
 */
typedef struct steme_assertion {
    const char *subject;     size_t subject_len;
    const char *predicate;   size_t predicate_len;
    steme_value object;
    double confidence;
    steme_source_kind source_kind;
    const char *source_ref;  size_t source_ref_len;
    steme_agent_id agent;
    uint64_t timestamp;
    bool has_epoch;          uint64_t epoch;
    bool has_embedding;      steme_hash embedding;   /* reference to a vector */
    bool has_phash;          uint64_t phash;         /* 64-bit perceptual hash */
    bool has_signature;      steme_signature signature;
} steme_assertion;

/* Largest possible assertion encoding (every field at its limit). */
#define STEME_ASSERTION_MAX_ENCODED                                              \
    (3u + 2u + 1024u + 2u + 256u + 1u + 4u + STEME_VALUE_MAX + 8u + 1u + 2u +    \
     STEME_SOURCE_REF_MAX + 32u + 8u + 8u + 32u + 8u + 64u)

size_t steme_assertion_encoded_size(const steme_assertion *a);
int steme_assertion_validate(const steme_assertion *a, steme_error *err);
int steme_assertion_encode(const steme_assertion *a, uint8_t *buf, size_t cap, size_t *len,
                           steme_error *err);
int steme_assertion_decode(const uint8_t *buf, size_t len, steme_assertion *out,
                           steme_error *err);

/*
 * Content hash: BLAKE3-256 of the canonical encoding WITHOUT the signature
 * (signature flag bit clear, no signature bytes), so signing an assertion
 * never changes its identity. Validates a first. Allocates only when the
 * unsigned encoding is larger than 4 KiB (one buffer, freed before return).
 * Returns STEME_OK, the validate statuses, STEME_E_NOMEM.
 */
int steme_assertion_hash(const steme_assertion *a, steme_hash *out, steme_error *err);

/*
 * Sign a with sk: Ed25519 over the unsigned canonical encoding (the bytes
 * that are hashed). a->agent must be sk's public key, else STEME_E_INVALID
 * and a is unchanged. On success sets a->signature and a->has_signature.
 * Returns STEME_OK, STEME_E_INVALID, the validate statuses, STEME_E_NOMEM.
 */
int steme_assertion_sign(steme_assertion *a, const steme_secret_key *sk, steme_error *err);

/*
 * Check a's signature against a->agent. Returns STEME_OK, STEME_E_BAD_SIGNATURE
 * (the signature does not match the record), STEME_E_INVALID (a unsigned or
 * NULL), the validate statuses, STEME_E_NOMEM.
 */
int steme_assertion_verify(const steme_assertion *a, steme_error *err)
    __attribute__((warn_unused_result));

/* ----------------------------------------------------------------- vote */

/*
 * One voter's standing vote on an assertion.
 *   weight  finite, in [-1, 1]; negative = against.
 */
typedef struct steme_vote {
    steme_hash assertion;
    steme_agent_id voter;
    double weight;
    uint64_t timestamp;          /* Unix milliseconds */
    bool has_signature;    steme_signature signature;
} steme_vote;

#define STEME_VOTE_MAX_ENCODED (3u + 32u + 32u + 8u + 8u + 64u)

size_t steme_vote_encoded_size(const steme_vote *v);
int steme_vote_validate(const steme_vote *v, steme_error *err);
int steme_vote_encode(const steme_vote *v, uint8_t *buf, size_t cap, size_t *len,
                      steme_error *err);
int steme_vote_decode(const uint8_t *buf, size_t len, steme_vote *out, steme_error *err);

/* As for assertions: hash without signature; v->voter must be sk's public
 * key; verify returns STEME_E_INVALID when unsigned. Never allocate. */
int steme_vote_hash(const steme_vote *v, steme_hash *out, steme_error *err);
int steme_vote_sign(steme_vote *v, const steme_secret_key *sk, steme_error *err);
int steme_vote_verify(const steme_vote *v, steme_error *err)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif /* STEME_RECORD_H */
