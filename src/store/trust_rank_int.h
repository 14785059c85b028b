/*
 * store/trust_rank_int.h - what the TrustRank and gold-standard sources
 * share (trust_rank.c, trust_rank_list.c, gold_standard.c).
 */
#ifndef STEME_STORE_TRUST_RANK_INT_H
#define STEME_STORE_TRUST_RANK_INT_H

#include <stdbool.h>
#include "steme/records.h"
#include "store/db_int.h"

/* Key \0TR:{agent} into buf (cap >= 64). */
int trust_rank_key(const steme_agent_id *agent, uint8_t *buf, size_t cap, size_t *len);
/* The neutral rank of an agent with no recorded outcome. */
void trust_rank_default(const steme_agent_id *agent, steme_trust_rank *out);
/* Decode a stored rank and check it is agent's (else STEME_E_CORRUPT). */
int trust_rank_parse(steme_db *db, const steme_agent_id *agent, const uint8_t *val,
                     size_t vlen, steme_trust_rank *out);
/* The spec's outcome rule applied to r in place. */
void trust_rank_apply_outcome(steme_trust_rank *r, bool was_accurate, uint64_t ts);
/* 0.5 + (score - 0.5) * 0.5^(elapsed / half_life_ms), clamped to [0, 1]. */
double trust_rank_decayed_score(double score, uint64_t elapsed, double half_life_ms);

#endif
