/*
 * store/quota_int.h - what the Meter's two sources share: quota_store.c
 * (single charges, status, limits) and quota_bulk.c (charges in bulk).
 */
#ifndef STEME_STORE_QUOTA_INT_H
#define STEME_STORE_QUOTA_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "steme/keys.h"
#include "steme/quota.h"
#include "store/db_int.h"

/* The db behind a Meter handle (a handle is the db itself). */
static inline steme_db *quota_db(steme_quota *q) { return (steme_db *)q; }

/* Unix ms at which hour `hour`'s budget resets (saturates at UINT64_MAX). */
uint64_t quota_reset_at_of(uint64_t hour);
/* Key of family fam (QUOTA_USAGE with hour, QUOTA_LIMIT) for agent into
 * buf[STEME_KEY_MAX]. */
int quota_agent_key(steme_key_family fam, const steme_agent_id *agent, uint64_t hour,
                    uint8_t *buf, size_t *len);
/* The agent's limit: its override (*over = true), or the default. */
int quota_read_limit(steme_db *db, const steme_agent_id *agent, uint64_t *limit, bool *over);
/* The agent's usage record for hour (zeroed if none, *found = 0); its
 * stored bytes stay in *raw for a precondition. */
int quota_read_usage_raw(steme_db *db, const uint8_t *key, size_t klen,
                         const steme_agent_id *agent, uint64_t hour, steme_quota_record *rec,
                         steme_buf *raw, int *found);
/* The stripe lock guarding an agent's meter. */
pthread_mutex_t *quota_agent_stripe(steme_db *db, const steme_agent_id *agent);

#endif
