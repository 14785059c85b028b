/*
 * steme/query.h - the read path: gather the assertions about (subject,
 * predicate), resolve them with a lens, say why (spec section 9).
 *
 *     steme_query_request req;
 *     steme_query_request_init(&req);
 *     req.subject = "aspirin"; req.subject_len = 7;
 *     req.predicate = "side_effect"; req.predicate_len = 11;
 *     req.lens = STEME_LENS_CONSENSUS;
 *     req.agent = me;
 *     steme_resolution r;
 *     int rc = steme_query(db, &req, &r);
 *     ... r.has_winner, r.winner_value, r.confidence, r.candidates ...
 *     steme_resolution_free(&r);
 *
 * What a query does, in order:
 *
 *  1. Checks the request (nothing is charged or written for a bad one).
 *  2. Asks The Meter (steme/quota.h) whether the asking agent can pay for
 *     the query: operation query, 5 tokens + 1 for the lens, no payload. A
 *     refused query returns STEME_E_QUOTA, fills out->quota_* and writes
 *     nothing at all. (The charge is written at step 6.)
 *  3. Gathers candidates from the subject+predicate index, newest first:
 *       - superseded assertions are left out unless include_superseded;
 *       - as_of != 0 keeps only timestamp <= as_of (the scan starts there);
 *       - has_pack keeps only assertions whose agent is a member of pack;
 *       - at most `limit` candidates: the newest that pass the filters, in
 *         index order (equal timestamps by descending hash).
 *  4. Optional read-time decay: each candidate's confidence is multiplied
 *     by 0.5^(age / decay_half_life_ms), age = (as_of, or now) - timestamp
 *     (0 for an assertion from the future), before the lens runs.
 *  5. Resolves with the lens (below), ranks every candidate and claim.
 *  6. Charges the agent and writes one audit record (steme/audit.h: the
 *     query id, agent, time, subject, predicate, lens, every candidate
 *     hash, winner, confidence, duration) in ONE atomic write
 *     (steme_audit_put_charged). The charge is checked again there, under
 *     the agent's meter lock: if concurrent queries of the agent spent its
 *     last tokens since step 2, this one is refused with STEME_E_QUOTA and
 *     writes nothing. The query fails if the write fails: an answer is never
 *     given without its audit, nor without its charge.
 *  7. Skeptic only: a conflict score >= STEME_ESCALATION_THRESHOLD (0.8)
 *     raises an escalation on (subject, predicate), unless one is already
 *     open for it (out->escalation says which).
 *
 * Query ids (out->query_id, the audit record's id): the first 6 bytes are
 * the query's time (Unix ms, big-endian), the other 10 random, so ids are
 * roughly time-ordered and unique without a lookup.
 *
 * Claims: a claim is a distinct typed object value (steme_value_equal:
 * int 1 and float 1.0 are different claims, "a" and "A" too).
 * Ties: every tie is broken by the most recent timestamp, then by the
 * smaller hash (bytewise), so a query's answer is deterministic.
 *
 * Lenses (score of a candidate; winner; confidence):
 *   recency     score = timestamp (ms, as a double); the newest wins;
 *               confidence = its (decayed) confidence.
 *   consensus   score = (assertions of its claim) / (all candidates); the
 *               claim with the most assertions wins, represented by its
 *               newest assertion; confidence = that score.
 *   confidence  score = (decayed) confidence; highest wins; confidence =
 *               that value.
 *   vote        score = aggregate vote weight (Ballot Box, may be < 0);
 *               the highest wins only if > 0, else no winner; confidence =
 *               winner score / sum of the positive scores.
 *   authority   score = (decayed) confidence x TrustRank score of the
 *               asserting agent as stored now (an agent without a rank has
 *               0.5); highest wins; confidence = winner score / sum of all
 *               scores (0 if that sum is 0).
 *   skeptic     no winner. A claim's weight = sum of its assertions'
 *               (decayed) confidences; share = weight / total (if every
 *               weight is 0, shares are taken from assertion counts
 *               instead); conflict = Shannon entropy of the shares /
 *               ln(number of claims) (0 for one claim); status unanimous
 *               (one claim), agreed (conflict < 0.5), contested (>= 0.5).
 *               A candidate's score is its claim's share; confidence =
 *               1 - conflict (how settled the question is).
 * With no candidate at all there is no winner and confidence is 0.
 *
 * Threads: steme_query may be called from many threads at once on one db.
 * Errors: the calling thread's message is steme_db_errmsg(db).
 */
#ifndef STEME_QUERY_H
#define STEME_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "steme/db.h"
#include "steme/quota.h"
#include "steme/records.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most candidates one query considers (one audit record holds them all). */
#define STEME_QUERY_CANDIDATES_MAX STEME_AUDIT_CANDIDATES_MAX
/* Size of steme_resolution.explanation, terminating NUL included. */
#define STEME_QUERY_EXPLAIN_MAX 512
/* Cost of one query at The Meter: 5 + 1 lens. */
#define STEME_QUERY_COST (STEME_QUOTA_COST_QUERY + 1u)

typedef struct steme_query_request {
    const char *subject;    size_t subject_len;     /* UTF-8, 1..1024 bytes */
    const char *predicate;  size_t predicate_len;   /* UTF-8, 1..256 bytes */
    steme_lens lens;
    steme_agent_id agent;        /* who asks: charged and audited */
    uint64_t as_of;              /* Unix ms; 0 = now (no time filter) */
    bool has_pack;               /* restrict to the members of pack */
    steme_id16 pack;
    bool include_superseded;     /* default false: superseded ones are hidden */
    double decay_half_life_ms;   /* 0 = no decay; else finite and > 0 */
    size_t limit;                /* most candidates; 0 = STEME_QUERY_CANDIDATES_MAX */
    uint64_t now_ms;             /* the query's time; 0 = the system clock */
    /* true: the Meter is not asked before the reads (step 2 skipped), for a
     * caller that knows the agent can pay (steme serve: the remaining of the
     * agent's last charge this hour). The charge is still checked at step 6
     * under the agent's meter lock, so the Meter is exactly as strict; only a
     * query the agent cannot pay costs its reads before it is refused. */
    bool skip_meter_precheck;
} steme_query_request;

/* Zero every field (lens 0 is invalid: set one). */
void steme_query_request_init(steme_query_request *req);

/* One assertion the lens considered. */
typedef struct steme_query_candidate {
    steme_hash hash;
    steme_value object;          /* owned by the resolution */
    steme_agent_id agent;
    uint64_t timestamp;
    steme_source_kind source_kind;
    double confidence;           /* as asserted */
    double effective_confidence; /* after read-time decay (= confidence without) */
    double vote_weight;          /* vote lens: aggregate vote weight; else 0 */
    double trust;                /* authority lens: the agent's TrustRank; else 0 */
    double score;                /* the lens's score (see above) */
    size_t claim;                /* index in steme_resolution.claims */
} steme_query_candidate;

/* One distinct object value among the candidates. */
typedef struct steme_query_claim {
    steme_value object;          /* a view of its representative's object */
    size_t representative;       /* index in candidates: its newest assertion */
    size_t count;                /* assertions making this claim */
    double weight;               /* sum of their effective confidences */
    double share;                /* weight / total weight (skeptic's share) */
    double score;                /* consensus: count / candidates; else share */
} steme_query_claim;

typedef enum steme_skeptic_status {
    STEME_SKEPTIC_NONE = 0,      /* not the skeptic lens, or no candidate */
    STEME_SKEPTIC_UNANIMOUS = 1, /* one claim */
    STEME_SKEPTIC_AGREED = 2,    /* conflict < 0.5 */
    STEME_SKEPTIC_CONTESTED = 3  /* conflict >= 0.5 */
} steme_skeptic_status;

/* Name of a status ("contested"), or NULL if unknown. */
const char *steme_skeptic_status_name(steme_skeptic_status s);

typedef enum steme_query_escalation {
    STEME_QUERY_ESC_NONE = 0,          /* below the threshold, or not skeptic */
    STEME_QUERY_ESC_RAISED = 1,        /* this query raised escalation_id */
    STEME_QUERY_ESC_ALREADY_OPEN = 2   /* one was already open for the pair */
} steme_query_escalation;

/*
 * The answer. Owns its memory: release with steme_resolution_free (safe on
 * a zeroed struct and after any return of steme_query).
 */
typedef struct steme_resolution {
    steme_lens lens;
    steme_id16 query_id;         /* the audit record's id */
    uint64_t timestamp;          /* the query's time (Unix ms) */
    uint64_t duration_us;        /* time spent resolving, as audited */

    bool has_winner;
    steme_hash winner;
    steme_value winner_value;    /* view of candidates[0].object */
    double confidence;           /* in [0, 1] */

    steme_query_candidate *candidates;  /* ranked: score desc, then newest, then hash */
    size_t n_candidates;
    steme_query_claim *claims;          /* ranked: score desc, then as candidates */
    size_t n_claims;
    bool truncated;              /* more candidates passed the filters than limit */
    size_t hidden_superseded;    /* left out: superseded */
    size_t hidden_by_pack;       /* left out: agent not in the trust pack */

    steme_skeptic_status status; /* skeptic only */
    double conflict;             /* skeptic only: normalised entropy in [0, 1] */
    steme_query_escalation escalation;
    steme_id16 escalation_id;    /* set when escalation == RAISED */

    /* The Meter's answer (filled whenever the Meter was asked). quota_limit
     * is read only for a refused query (0 otherwise). */
    bool quota_allowed;
    uint64_t quota_limit;
    uint64_t quota_remaining;
    uint64_t quota_reset_at;     /* Unix ms: start of the next hour */

    char explanation[STEME_QUERY_EXPLAIN_MAX];   /* one or two sentences */

    void *internal_;             /* owned memory (object values); do not touch */
} steme_resolution;

/*
 * Run one query (see the top of this file). *out is reset first and, on
 * success, owns its candidates and claims.
 * Returns STEME_OK; STEME_E_INVALID (NULL db, req or out, unknown lens,
 * bad half-life, limit above STEME_QUERY_CANDIDATES_MAX, empty subject or
 * predicate); STEME_E_TOO_BIG (subject > 1024 or predicate > 256 bytes);
 * STEME_E_BAD_UTF8; STEME_E_QUOTA (refused by The Meter: out->quota_*
 * say the limit, what remains and when the window resets; nothing was
 * written); the statuses of the stores it reads and writes
 * (STEME_E_CORRUPT, STEME_E_ENGINE, STEME_E_IO, STEME_E_FATAL,
 * STEME_E_NOMEM); STEME_E_INTERNAL (libsodium failed to start). On any failure out holds no memory (lens, quota_* and
 * explanation may be set). A query that fails before step 6 is neither
 * charged nor audited; one whose escalation (step 7) fails stays charged
 * and audited.
 */
int steme_query(steme_db *db, const steme_query_request *req, steme_resolution *out);

/*
 * steme_query in three steps, for a server that writes the charges and
 * audit records of its concurrent queries in one engine write
 * (steme_query is exactly prepare, commit_many of one, finish):
 *
 * steme_query_prepare: steps 1-5 (checks, the Meter's pre-check, gather,
 * resolve); fills *out (query id, time, candidates, winner, duration) but
 * charges and writes nothing. Returns as steme_query, except that it
 * cannot fail on a write; on failure out holds no memory.
 *
 * steme_query_commit_many: step 6 for n queries prepared on db (n at most
 * STEME_QUOTA_MANY_MAX), in ONE atomic engine write
 * (steme_audit_put_charged_many): each is charged and audited, or refused
 * by the Meter (a concurrent query of its agent spent the tokens since its
 * pre-check) and writes nothing. rcs[i] is query i's status: STEME_OK,
 * STEME_E_QUOTA (outs[i]->quota_* and explanation set, out released) or
 * an error (out released). Returns STEME_OK when the write was made, else
 * its error (every rcs[i] an error then). reqs[i] must be the request
 * outs[i] was prepared from, unchanged.
 *
 * steme_query_finish: step 7 (skeptic escalation) and the explanation,
 * for a committed query. Returns STEME_OK or the escalation store's status
 * (out released then; the query stays charged and audited).
 */
int steme_query_prepare(steme_db *db, const steme_query_request *req, steme_resolution *out);
int steme_query_commit_many(steme_db *db, size_t n, const steme_query_request *const *reqs,
                            steme_resolution *const *outs, int *rcs);
int steme_query_finish(steme_db *db, const steme_query_request *req, steme_resolution *out);

/* Release what *r owns and zero it. NULL is a no-op. */
void steme_resolution_free(steme_resolution *r);

#ifdef __cplusplus
}
#endif
#endif /* STEME_QUERY_H */
