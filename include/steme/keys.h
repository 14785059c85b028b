/*
 * steme/keys.h - the key codec: builds and parses every key of every family,
 * and routes each family to its engine (spec section 3).
 *
 * Layout (hashes and agent ids raw 32 bytes, ids raw 16 bytes, times and
 * hours big-endian u64 so byte order is time order):
 *
 *   subject-scoped:  {subject} 0x00 TAG ':' fields...
 *   global:          0x00 TAG ':' fields...
 *
 * A subject is 1..1024 bytes of valid UTF-8 without NUL, so the first 0x00
 * ends it and a key range over one subject is a contiguous range: the unit
 * a range-sharded engine splits on. Global keys sort before every subject.
 *
 *   family               key                                      engine
 *   ASSERTION            {s}\0H:{hash}                             LMDB
 *   SUBJECT_INDEX        {s}\0S:{ts}{hash}                         LMDB
 *   SUBJECT_PRED_INDEX   {s}\0SP:{predicate}\0{ts}{hash}           LMDB
 *   HASH_SUBJECT         \0HS:{hash}                               LMDB
 *   VOTE                 {s}\0V:{assertion}{voter}                 RocksDB
 *   VOTE_COUNT           {s}\0VC:{assertion}                       RocksDB
 *   VOTE_WEIGHT          {s}\0VW:{assertion}                       RocksDB
 *   TRUST_RANK           \0TR:{agent}                              LMDB
 *   GOLD_STANDARD        {s}\0GS:{predicate}                       LMDB
 *   TRUST_PACK           \0TP:{pack}                               LMDB
 *   PACK_MEMBER          \0TM:{pack}{agent}                        LMDB
 *   AUDIT                \0AU:{agent}{ts}{query_id}                RocksDB
 *   AUDIT_BY_ID          \0AQ:{query_id}                           RocksDB
 *   QUOTA_USAGE          \0QT:{agent}{hour}                        RocksDB
 *   QUOTA_LIMIT          \0QL:{agent}                              LMDB
 *   ESCALATION           \0ES:{status u8}{ts}{id}                  RocksDB
 *   SUPERSEDES           {s}\0SS:{old}                             LMDB
 *   SUPERSEDED_BY        {s}\0SB:{new}                             LMDB
 *   VECTOR_META          \0VX:{name bytes}                         LMDB
 *   CURSOR               \0CUR:{name bytes}                        LMDB
 *   INDEX_LOG            \0IL:{ts}{id}                             RocksDB
 *                        (pg deployments: index adds for other nodes to
 *                        tail; ts = writer's Unix ms, id = node u64 BE then
 *                        sequence u64 BE; steme/index_log.h)
 *
 * All functions are pure, thread-safe and never allocate.
 */
#ifndef STEME_KEYS_H
#define STEME_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include "steme/kv.h"
#include "steme/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STEME_SUBJECT_MAX   1024u
#define STEME_PREDICATE_MAX 256u
#define STEME_KEY_NAME_MAX  256u  /* VECTOR_META / CURSOR names */

typedef enum steme_key_family {
    STEME_FAM_UNKNOWN = 0,
    STEME_FAM_ASSERTION,
    STEME_FAM_SUBJECT_INDEX,
    STEME_FAM_SUBJECT_PRED_INDEX,
    STEME_FAM_HASH_SUBJECT,
    STEME_FAM_VOTE,
    STEME_FAM_VOTE_COUNT,
    STEME_FAM_VOTE_WEIGHT,
    STEME_FAM_TRUST_RANK,
    STEME_FAM_GOLD_STANDARD,
    STEME_FAM_TRUST_PACK,
    STEME_FAM_PACK_MEMBER,
    STEME_FAM_AUDIT,
    STEME_FAM_AUDIT_BY_ID,
    STEME_FAM_QUOTA_USAGE,
    STEME_FAM_QUOTA_LIMIT,
    STEME_FAM_ESCALATION,
    STEME_FAM_SUPERSEDES,
    STEME_FAM_SUPERSEDED_BY,
    STEME_FAM_VECTOR_META,
    STEME_FAM_CURSOR,
    STEME_FAM_INDEX_LOG,
    STEME_FAM_COUNT_ /* number of families + 1; not a family */
} steme_key_family;

/* Tag text of a family ("SP", static storage), or NULL for UNKNOWN/out of range. */
const char *steme_key_family_tag(steme_key_family fam);
/* 1 if the family's keys start with a subject, else 0 (also for UNKNOWN). */
int steme_key_family_is_subject_scoped(steme_key_family fam);
/*
 * The engine the hybrid backend routes this family to (STEME_KV_LMDB or
 * STEME_KV_ROCKSDB); 0 (no engine) for UNKNOWN/out of range.
 */
steme_kv_engine steme_key_family_engine(steme_key_family fam);

/*
 * Family of a raw key, by its tag, without full validation (hot path of
 * the hybrid router). Reads at most klen bytes: for a subject-scoped key it
 * looks for the subject's 0x00 within the first STEME_SUBJECT_MAX + 1 bytes,
 * then matches "TAG:" (global tags after 0x00 at offset 0, subject tags
 * after a subject; a tag of the wrong scope is UNKNOWN). The key's fields
 * are not checked: a key for which steme_key_decode() succeeds always gets
 * its decoded family, other keys may get a family or UNKNOWN. Prefixes from
 * steme_key_encode_prefix() get their family at every depth, except the
 * whole-subject prefix "{s}\0", which is UNKNOWN (it spans both engines).
 * NULL or klen 0: UNKNOWN. Pure, thread-safe, no allocation.
 */
steme_key_family steme_key_family_of(const uint8_t *key, size_t klen);

/*
 * Validate a subject / predicate: 1..max bytes, valid UTF-8 (no overlongs,
 * no surrogates, <= U+10FFFF), no NUL byte.
 * Returns STEME_OK, STEME_E_INVALID (NULL/empty), STEME_E_TOO_BIG, STEME_E_BAD_UTF8.
 */
int steme_subject_validate(const char *s, size_t len, steme_error *err);
int steme_predicate_validate(const char *p, size_t len, steme_error *err);

/*
 * A key's fields. Which fields a family uses is shown in the table above;
 * others are ignored by encode and zeroed by decode. Text fields are views
 * (not NUL-terminated): into the caller's strings for encode, into the key
 * bytes for decode.
 */
typedef struct steme_key {
    steme_key_family family;
    const char *subject;     size_t subject_len;    /* subject-scoped families */
    const char *predicate;   size_t predicate_len;  /* SP, GS */
    steme_hash hash;         /* H, S, SP, HS, V (assertion), VC, VW, SS (old), SB (new) */
    steme_agent_id agent;    /* V (voter), TR, TM, AU, QT, QL */
    steme_id16 id;           /* TP, TM (pack), AU, AQ (query id), ES (id), IL (node, seq) */
    uint64_t ts;             /* S, SP, AU, ES, IL: Unix ms; QT: Unix hour */
    uint8_t status;          /* ES: any byte; the escalation store defines values */
    const uint8_t *name;     size_t name_len;       /* VX, CUR */
} steme_key;

/* Largest key the codec can produce; a buffer of this size always fits. */
#define STEME_KEY_MAX (STEME_SUBJECT_MAX + STEME_PREDICATE_MAX + 128u)

/*
 * Encode k into buf (capacity cap); *len receives the key's length (also on
 * STEME_E_BUFFER_SMALL, so a caller can size a buffer; buf may be NULL when
 * cap is 0 for such a sizing call). Validates the subject (scoped families),
 * predicate (SP, GS) and name (VX, CUR: 1..STEME_KEY_NAME_MAX bytes, any
 * bytes). Nothing is written on failure. Returns STEME_OK, STEME_E_INVALID
 * (NULL k/len, UNKNOWN or out-of-range family, NULL or empty text),
 * STEME_E_TOO_BIG, STEME_E_BAD_UTF8 (invalid UTF-8 or a NUL byte),
 * STEME_E_BUFFER_SMALL. Validation errors are reported before BUFFER_SMALL.
 */
int steme_key_encode(const steme_key *k, uint8_t *buf, size_t cap, size_t *len,
                     steme_error *err);

/*
 * Encode the prefix of k's family made of its first `depth` variable fields,
 * in key order (the subject of a subject-scoped family is always included
 * and is not counted). depth 0 gives the family prefix ("{s}\0SP:");
 * for SP depth 1 adds "{predicate}\0", depth 2 the ts; for AU depth 1 adds
 * the agent; for TM depth 1 the pack; for ES depth 1 the status; for V depth
 * 1 the assertion; and so on. depth larger than the family's field count is
 * STEME_E_INVALID. A global prefix of all subject-scoped keys of one subject
 * is encoded by family STEME_FAM_UNKNOWN with a subject: "{s}\0".
 * The full depth gives exactly steme_key_encode()'s key. Only the fields up
 * to `depth` are validated. Note: the last field of GS, VX and CUR runs to
 * the end of the key, so a prefix there also matches longer predicates or
 * names ("p" matches "pq"); SP's predicate is 0x00-terminated and does not.
 * Returns as steme_key_encode().
 */
int steme_key_encode_prefix(const steme_key *k, unsigned depth, uint8_t *buf, size_t cap,
                            size_t *len, steme_error *err);

/*
 * Parse a full key. Every length is checked; anything that is not exactly a
 * key this codec would produce is STEME_E_INVALID with a message saying what
 * and at which offset (never an over-read): so decode then encode gives the
 * same bytes. out->subject/predicate/name point into `key` and live as long
 * as it does. On failure *out is zeroed. Returns STEME_OK or STEME_E_INVALID
 * (also for NULL key/out and klen 0).
 */
int steme_key_decode(const uint8_t *key, size_t klen, steme_key *out, steme_error *err);

#ifdef __cplusplus
}
#endif
#endif /* STEME_KEYS_H */
