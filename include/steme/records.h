/*
 * steme/records.h - canonical encoding of the store records other than
 * assertions and votes: TrustRank, GoldStandard, TrustPack, QueryAudit,
 * QuotaRecord, Escalation, Supersession (spec sections 2 and 5).
 *
 * Every record here has the four functions steme_X_encoded_size,
 * steme_X_validate, steme_X_encode and steme_X_decode, with the contract
 * written once at the top of steme/record.h (statuses, buffer sizing,
 * strict decoding, ZERO-COPY views into the decoded buffer, thread rule).
 * Byte layouts: docs/format.md.
 */
#ifndef STEME_RECORDS_H
#define STEME_RECORDS_H

#include "steme/record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STEME_TEXT_MAX             4096u   /* reasons, notes, descriptions */
#define STEME_PACK_NAME_MAX        256u
#define STEME_AUDIT_CANDIDATES_MAX 65536u  /* candidate hashes in one audit */

/* ----------------------------------------------------------- TrustRank */

/*
 * An agent's reputation. score finite in [0, 1]; accuracy_count <=
 * assertions_count (every recorded outcome counts an assertion, only
 * accurate ones count accuracy: spec 5).
 */
typedef struct steme_trust_rank {
    steme_agent_id agent;
    double score;
    uint64_t last_updated;       /* Unix milliseconds */
    uint64_t assertions_count;
    uint64_t accuracy_count;
} steme_trust_rank;

size_t steme_trust_rank_encoded_size(const steme_trust_rank *t);
int steme_trust_rank_validate(const steme_trust_rank *t, steme_error *err);
int steme_trust_rank_encode(const steme_trust_rank *t, uint8_t *buf, size_t cap, size_t *len,
                            steme_error *err);
int steme_trust_rank_decode(const uint8_t *buf, size_t len, steme_trust_rank *out,
                            steme_error *err);

/* -------------------------------------------------------- GoldStandard */

/* The known-true answer for (subject, predicate); subject and predicate
 * follow the assertion rules, expected follows steme_value_validate. */
typedef struct steme_gold_standard {
    steme_hash assertion;
    const char *subject;    size_t subject_len;
    const char *predicate;  size_t predicate_len;
    steme_value expected;
    uint64_t set_at;             /* Unix milliseconds */
    steme_agent_id set_by;
} steme_gold_standard;

size_t steme_gold_standard_encoded_size(const steme_gold_standard *g);
int steme_gold_standard_validate(const steme_gold_standard *g, steme_error *err);
int steme_gold_standard_encode(const steme_gold_standard *g, uint8_t *buf, size_t cap,
                               size_t *len, steme_error *err);
int steme_gold_standard_decode(const uint8_t *buf, size_t len, steme_gold_standard *out,
                               steme_error *err);

/* ----------------------------------------------------------- TrustPack */

/* A named list of agents ("App Store for Trust"); members are separate keys.
 * name UTF-8 1..256 bytes; description UTF-8 0..4096 bytes. */
typedef struct steme_trust_pack {
    steme_id16 id;
    const char *name;         size_t name_len;
    steme_agent_id maintainer;
    const char *description;  size_t description_len;
    uint64_t created_at;         /* Unix milliseconds */
} steme_trust_pack;

size_t steme_trust_pack_encoded_size(const steme_trust_pack *p);
int steme_trust_pack_validate(const steme_trust_pack *p, steme_error *err);
int steme_trust_pack_encode(const steme_trust_pack *p, uint8_t *buf, size_t cap, size_t *len,
                            steme_error *err);
int steme_trust_pack_decode(const uint8_t *buf, size_t len, steme_trust_pack *out,
                            steme_error *err);

/* ---------------------------------------------------------- QueryAudit */

/* The read-path lenses (spec 9). 0 is never valid. */
typedef enum steme_lens {
    STEME_LENS_RECENCY = 1,
    STEME_LENS_CONSENSUS = 2,
    STEME_LENS_CONFIDENCE = 3,
    STEME_LENS_VOTE = 4,
    STEME_LENS_AUTHORITY = 5,
    STEME_LENS_SKEPTIC = 6
} steme_lens;

/* Name of a lens ("consensus"), or NULL if unknown. */
const char *steme_lens_name(steme_lens lens);

/*
 * What one query saw and decided. subject/predicate follow the assertion
 * rules; confidence finite in [0, 1]; candidates: n_candidates
 * (0..STEME_AUDIT_CANDIDATES_MAX) hashes, a packed array (after decode a
 * view into the buffer; steme_hash has alignment 1). The winner, when
 * present, is not required to be among the candidates.
 */
typedef struct steme_query_audit {
    steme_id16 query_id;
    steme_agent_id agent;
    uint64_t timestamp;          /* Unix milliseconds */
    const char *subject;    size_t subject_len;
    const char *predicate;  size_t predicate_len;
    steme_lens lens;
    const steme_hash *candidates;  size_t n_candidates;
    bool has_winner;        steme_hash winner;
    double confidence;
    uint64_t duration_us;        /* query time, microseconds */
} steme_query_audit;

size_t steme_query_audit_encoded_size(const steme_query_audit *q);
int steme_query_audit_validate(const steme_query_audit *q, steme_error *err);
int steme_query_audit_encode(const steme_query_audit *q, uint8_t *buf, size_t cap,
                             size_t *len, steme_error *err);
int steme_query_audit_decode(const uint8_t *buf, size_t len, steme_query_audit *out,
                             steme_error *err);

/* --------------------------------------------------------- QuotaRecord */

/* One agent's usage in one Unix hour window (The Meter, spec 5). */
typedef struct steme_quota_record {
    steme_agent_id agent;
    uint64_t hour;               /* Unix hour: Unix seconds / 3600 */
    uint64_t tokens_used;
    uint64_t assert_ops;
    uint64_t vote_ops;
    uint64_t query_ops;
} steme_quota_record;

size_t steme_quota_record_encoded_size(const steme_quota_record *q);
int steme_quota_record_validate(const steme_quota_record *q, steme_error *err);
int steme_quota_record_encode(const steme_quota_record *q, uint8_t *buf, size_t cap,
                              size_t *len, steme_error *err);
int steme_quota_record_decode(const uint8_t *buf, size_t len, steme_quota_record *out,
                              steme_error *err);

/* ---------------------------------------------------------- Escalation */

typedef enum steme_escalation_target_kind {
    STEME_ESC_TARGET_ASSERTION = 1,  /* target_hash */
    STEME_ESC_TARGET_SUBJECT = 2     /* subject + predicate */
} steme_escalation_target_kind;

typedef enum steme_escalation_status {
    STEME_ESC_OPEN = 1,
    STEME_ESC_RESOLVED = 2
} steme_escalation_status;

/*
 * A conflict raised for a human or a curator. The target is an assertion
 * hash or a (subject, predicate) pair, by target_kind; fields of the other
 * kind are ignored by encode and zeroed by decode. conflict_score finite in
 * [0, 1]; reason and resolution_note UTF-8 0..4096 bytes. An OPEN escalation
 * has resolved_at == 0 and an empty note (a RESOLVED one may have any
 * resolved_at: clocks of different writers need not agree).
 */
typedef struct steme_escalation {
    steme_id16 id;
    steme_escalation_target_kind target_kind;
    steme_hash target_hash;
    const char *subject;    size_t subject_len;
    const char *predicate;  size_t predicate_len;
    double conflict_score;
    const char *reason;     size_t reason_len;
    steme_escalation_status status;
    uint64_t created_at;         /* Unix milliseconds */
    uint64_t resolved_at;        /* Unix milliseconds; 0 while open */
    const char *resolution_note;  size_t resolution_note_len;
} steme_escalation;

size_t steme_escalation_encoded_size(const steme_escalation *e);
int steme_escalation_validate(const steme_escalation *e, steme_error *err);
int steme_escalation_encode(const steme_escalation *e, uint8_t *buf, size_t cap, size_t *len,
                            steme_error *err);
int steme_escalation_decode(const uint8_t *buf, size_t len, steme_escalation *out,
                            steme_error *err);

/* -------------------------------------------------------- Supersession */

/* old_hash is corrected by new_hash (old != new); reason UTF-8 0..4096. */
typedef struct steme_supersession {
    steme_hash old_hash;
    steme_hash new_hash;
    const char *reason;     size_t reason_len;
    steme_agent_id agent;
    uint64_t timestamp;          /* Unix milliseconds */
} steme_supersession;

size_t steme_supersession_encoded_size(const steme_supersession *s);
int steme_supersession_validate(const steme_supersession *s, steme_error *err);
int steme_supersession_encode(const steme_supersession *s, uint8_t *buf, size_t cap,
                              size_t *len, steme_error *err);
int steme_supersession_decode(const uint8_t *buf, size_t len, steme_supersession *out,
                              steme_error *err);

#ifdef __cplusplus
}
#endif
#endif /* STEME_RECORDS_H */
