/*
 * core/keys_int.h - the key codec's family table, shared by keys_family.c
 * (tags, scope, routing, the router's fast family lookup) and keys.c
 * (validation, encode, prefix, decode). Internal to src/core.
 *
 * A family is described once, as data: its tag, whether a subject comes
 * first, its engine, and its variable fields in key order. Encode, prefix
 * and decode are one loop over that field list, so a family cannot be
 * encoded one way and decoded another.
 */
#ifndef STEME_CORE_KEYS_INT_H
#define STEME_CORE_KEYS_INT_H

#include <stddef.h>
#include <stdint.h>
#include "steme/keys.h"

/* The kinds of variable field a key carries after its "TAG:". */
typedef enum keys_field {
    KF_PRED_NUL = 1, /* predicate, then a 0x00 terminator; more fields follow (SP) */
    KF_PRED_REST,    /* predicate to the end of the key (GS) */
    KF_NAME_REST,    /* 1..STEME_KEY_NAME_MAX raw bytes to the end of the key (VX, CUR) */
    KF_TS,           /* key.ts as u64 big-endian, 8 bytes */
    KF_HASH,         /* key.hash, 32 bytes */
    KF_AGENT,        /* key.agent, 32 bytes */
    KF_ID16,         /* key.id, 16 bytes */
    KF_STATUS        /* key.status, 1 byte */
} keys_field;

#define KEYS_MAX_FIELDS 3
#define KEYS_TAG_MAX    3   /* "CUR" */

typedef struct keys_family_desc {
    const char *kd_tag;            /* "SP" (without the ':') */
    uint8_t kd_tag_len;            /* strlen(kd_tag) */
    uint8_t kd_scoped;             /* 1: the key starts with {subject}\0 */
    uint8_t kd_nfields;            /* entries used in kd_fields */
    steme_kv_engine kd_engine;     /* hybrid routing */
    keys_field kd_fields[KEYS_MAX_FIELDS];
} keys_family_desc;

/* Descriptor of a family, or NULL for UNKNOWN / out of range. */
const keys_family_desc *keys_family_desc_of(steme_key_family fam);

/*
 * Family whose "TAG:" starts at p (n bytes readable there), looked up among
 * the subject-scoped families (scoped = 1) or the global ones (scoped = 0);
 * STEME_FAM_UNKNOWN if there is no such tag followed by ':'. Reads at most
 * min(n, KEYS_TAG_MAX + 1) bytes. On success the tag and ':' take
 * kd_tag_len + 1 bytes.
 */
steme_key_family keys_tag_parse(const uint8_t *p, size_t n, int scoped);

#endif
