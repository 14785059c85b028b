/*
 * query/query_int.h - what the read path's sources share.
 *
 *   query.c          steme_query: checks, Meter, escalation, audit
 *   query_gather.c   candidates from the SP index, filters, decay, lens inputs
 *   query_lens.c     the six lenses: claims, scores, ranking, winner (pure)
 *   query_explain.c  the one-line explanation
 *
 * A resolution owns its object values through a chain of arena blocks
 * (r->internal_): values are copied once, blocks never move, so the
 * candidates' views stay valid until steme_resolution_free.
 */
#ifndef STEME_QUERY_INT_H
#define STEME_QUERY_INT_H

#include "steme/query.h"

/* Copy len bytes into r's arena; *out points at the copy (stable). */
int q_copy_bytes(steme_resolution *r, const void *p, size_t len, const void **out);
/* Free r's arena (every copied value). */
void q_arena_free(steme_resolution *r);

/*
 * Gather the candidates of req into r (candidates, hidden_*, truncated),
 * with effective_confidence decayed against ref_ms, and the lens inputs
 * (vote_weight for the vote lens, trust for authority) read from the
 * stores. The request is already validated. Statuses: those of the stores.
 */
int q_gather(steme_db *db, const steme_query_request *req, uint64_t ref_ms, size_t limit,
             steme_resolution *r);

/*
 * Resolve r->candidates[0..n_candidates) with lens: builds r->claims,
 * sets every score, sorts candidates and claims by rank, and sets winner,
 * confidence, and for skeptic status and conflict. Pure apart from
 * allocation. Returns STEME_OK, STEME_E_INVALID (unknown lens),
 * STEME_E_NOMEM, STEME_E_INTERNAL (libsodium failed to start).
 */
int q_resolve(steme_resolution *r, steme_lens lens);

/* The process's random SipHash key for claim digests (initialising
 * libsodium on first use), or NULL if libsodium cannot start. */
const uint8_t *q_digest_key(void);

/* The 0.5^(age / half_life) factor; 1 when half_life_ms is 0. */
double q_decay_factor(uint64_t ts, uint64_t ref_ms, double half_life_ms);

/* Fill r->explanation for a resolved query. */
void q_explain(steme_resolution *r, const steme_query_request *req);

/* x as printf "%.3f" would write it, NUL-terminated, into out (without
 * printf in the common range); returns the length (query_explain.c). */
#define Q_FIXED3_MAX 400
size_t q_fixed3(double x, char out[Q_FIXED3_MAX]);

#endif
