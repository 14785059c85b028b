/*
 * store/trust_pack_int.h - keys shared by trust_pack.c and trust_pack_list.c.
 */
#ifndef STEME_STORE_TRUST_PACK_INT_H
#define STEME_STORE_TRUST_PACK_INT_H

#include "steme/types.h"

/* \0TP:{pack} into buf. */
int trust_pack_key(const steme_id16 *pack, uint8_t *buf, size_t cap, size_t *len);
/* \0TM:{pack}{agent}; with agent NULL, the prefix \0TM:{pack} of its members. */
int trust_pack_member_key(const steme_id16 *pack, const steme_agent_id *agent, uint8_t *buf,
                          size_t cap, size_t *len);

#endif
