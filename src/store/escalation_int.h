/*
 * store/escalation_int.h - what the escalation store's two sources share
 * (escalation_store.c: raise and resolve; escalation_list.c: listings).
 */
#ifndef STEME_STORE_ESCALATION_INT_H
#define STEME_STORE_ESCALATION_INT_H

#include <string.h>

#include "steme/escalations.h"
#include "steme/keys.h"
#include "store/db_int.h"

/* The db behind an escalations handle (a handle is the db itself). */
static inline steme_db *edb(steme_escalations *s) { return (steme_db *)s; }

/* The ES key \0ES:{status}{ts}{id} into buf[STEME_KEY_MAX]. */
static inline int es_key(uint8_t status, uint64_t ts, const steme_id16 *id, uint8_t *buf,
                         size_t *len)
{
    steme_key k;
    memset(&k, 0, sizeof k);
    k.family = STEME_FAM_ESCALATION;
    k.status = status;
    k.ts = ts;
    k.id = *id;
    return steme_key_encode(&k, buf, STEME_KEY_MAX, len, NULL);
}

#endif
