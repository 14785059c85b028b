/*
 * tests/core/keys_gen.h - random keys for the key codec's tests
 * (test_keys.c, test_keys_decode.c): valid UTF-8 text of every width,
 * random fixed fields, and the spec's family table written out again
 * independently of src/core/keys_family.c, so the two are checked
 * against each other.
 */
#ifndef STEME_TEST_KEYS_GEN_H
#define STEME_TEST_KEYS_GEN_H

#include <stdlib.h>
#include <string.h>

#include "steme/keys.h"
#include "testutil.h"

/* The spec's table (section 3): tag, subject-scoped, engine, field count. */
typedef struct kg_family_row {
    steme_key_family fam;
    const char *tag;
    int scoped;
    steme_kv_engine engine;
    unsigned nfields;
} kg_family_row;

static const kg_family_row kg_table[] = {
    {STEME_FAM_ASSERTION,          "H",   1, STEME_KV_LMDB,    1},
    {STEME_FAM_SUBJECT_INDEX,      "S",   1, STEME_KV_LMDB,    2},
    {STEME_FAM_SUBJECT_PRED_INDEX, "SP",  1, STEME_KV_LMDB,    3},
    {STEME_FAM_HASH_SUBJECT,       "HS",  0, STEME_KV_LMDB,    1},
    {STEME_FAM_VOTE,               "V",   1, STEME_KV_ROCKSDB, 2},
    {STEME_FAM_VOTE_COUNT,         "VC",  1, STEME_KV_ROCKSDB, 1},
    {STEME_FAM_VOTE_WEIGHT,        "VW",  1, STEME_KV_ROCKSDB, 1},
    {STEME_FAM_TRUST_RANK,         "TR",  0, STEME_KV_LMDB,    1},
    {STEME_FAM_GOLD_STANDARD,      "GS",  1, STEME_KV_LMDB,    1},
    {STEME_FAM_TRUST_PACK,         "TP",  0, STEME_KV_LMDB,    1},
    {STEME_FAM_PACK_MEMBER,        "TM",  0, STEME_KV_LMDB,    2},
    {STEME_FAM_AUDIT,              "AU",  0, STEME_KV_ROCKSDB, 3},
    {STEME_FAM_AUDIT_BY_ID,        "AQ",  0, STEME_KV_ROCKSDB, 1},
    {STEME_FAM_QUOTA_USAGE,        "QT",  0, STEME_KV_ROCKSDB, 2},
    {STEME_FAM_QUOTA_LIMIT,        "QL",  0, STEME_KV_LMDB,    1},
    {STEME_FAM_ESCALATION,         "ES",  0, STEME_KV_ROCKSDB, 3},
    {STEME_FAM_SUPERSEDES,         "SS",  1, STEME_KV_LMDB,    1},
    {STEME_FAM_SUPERSEDED_BY,      "SB",  1, STEME_KV_LMDB,    1},
    {STEME_FAM_VECTOR_META,        "VX",  0, STEME_KV_LMDB,    1},
    {STEME_FAM_CURSOR,             "CUR", 0, STEME_KV_LMDB,    1},
    {STEME_FAM_INDEX_LOG,          "IL",  0, STEME_KV_ROCKSDB, 2},
};
#define KG_NFAM (sizeof kg_table / sizeof kg_table[0])

static inline const kg_family_row *kg_row(steme_key_family fam)
{
    for (size_t i = 0; i < KG_NFAM; i++)
        if (kg_table[i].fam == fam)
            return &kg_table[i];
    return NULL;
}

/* Families whose last field runs to the end of the key (a truncation or
 * extension of such a key can itself be a valid key). */
static inline int kg_open_ended(steme_key_family fam)
{
    return fam == STEME_FAM_GOLD_STANDARD || fam == STEME_FAM_VECTOR_META ||
           fam == STEME_FAM_CURSOR;
}

/* A key and the storage its text fields point into. Never copy by value. */
typedef struct kg_key {
    steme_key k;
    char subject[STEME_SUBJECT_MAX];
    char predicate[STEME_PREDICATE_MAX];
    uint8_t name[STEME_KEY_NAME_MAX];
} kg_key;

static inline size_t kg_put_cp(uint32_t cp, char *o)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 63));
        o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 63));
    o[2] = (char)(0x80 | (cp >> 6 & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* A random scalar value (no NUL, no surrogate), mostly ASCII. */
static inline uint32_t kg_cp(tu_rng *r)
{
    switch (tu_rng_below(r, 8)) {
    case 0: return 0x80 + (uint32_t)tu_rng_below(r, 0x800 - 0x80);
    case 1: {
        uint32_t cp = 0x800 + (uint32_t)tu_rng_below(r, 0x10000 - 0x800 - 0x800);
        return cp >= 0xD800 ? cp + 0x800 : cp; /* skip the surrogates */
    }
    case 2: return 0x10000 + (uint32_t)tu_rng_below(r, 0x110000 - 0x10000);
    default: return 1 + (uint32_t)tu_rng_below(r, 0x7F);
    }
}

/* Random valid UTF-8 of 1..max bytes (mostly short, sometimes the limit). */
static inline size_t kg_text(tu_rng *r, char *out, size_t max)
{
    size_t want = tu_rng_below(r, 8) == 0 ? max : 1 + tu_rng_below(r, max < 24 ? max : 24);
    size_t n = 0;
    char tmp[4];
    while (n < want) {
        size_t w = kg_put_cp(kg_cp(r), tmp);
        if (n + w > want) {
            if (n > 0)
                break;
            continue; /* need at least one character: retry a narrower one */
        }
        memcpy(out + n, tmp, w);
        n += w;
    }
    return n;
}

/* Timestamps that stress byte order: small, large, and near byte edges. */
static inline uint64_t kg_ts(tu_rng *r)
{
    switch (tu_rng_below(r, 4)) {
    case 0: return tu_rng_below(r, 1000);
    case 1: return (uint64_t)1 << tu_rng_below(r, 64);
    case 2: return 1600000000000ull + tu_rng_below(r, 1ull << 40);
    default: return tu_rng_next(r);
    }
}

/* Fill every field (the codec ignores what the family does not use). */
static inline void kg_random(tu_rng *r, steme_key_family fam, kg_key *g)
{
    memset(g, 0, sizeof *g);
    g->k.family = fam;
    g->k.subject_len = kg_text(r, g->subject, STEME_SUBJECT_MAX);
    g->k.subject = g->subject;
    g->k.predicate_len = kg_text(r, g->predicate, STEME_PREDICATE_MAX);
    g->k.predicate = g->predicate;
    g->k.name_len = 1 + tu_rng_below(r, STEME_KEY_NAME_MAX);
    tu_rng_bytes(r, g->name, g->k.name_len);
    g->k.name = g->name;
    tu_rng_bytes(r, g->k.hash.bytes, sizeof g->k.hash.bytes);
    tu_rng_bytes(r, g->k.agent.bytes, sizeof g->k.agent.bytes);
    tu_rng_bytes(r, g->k.id.bytes, sizeof g->k.id.bytes);
    g->k.ts = kg_ts(r);
    g->k.status = (uint8_t)tu_rng_next(r);
}

static inline steme_key_family kg_random_family(tu_rng *r)
{
    return kg_table[tu_rng_below(r, KG_NFAM)].fam;
}

/* Encode into a malloc'd buffer of exactly the key's size (so ASan sees any
 * over-read by a decoder). Returns NULL if encode fails. */
static inline uint8_t *kg_encode_exact(const steme_key *k, size_t *len)
{
    uint8_t tmp[STEME_KEY_MAX];
    if (steme_key_encode(k, tmp, sizeof tmp, len, NULL) != STEME_OK)
        return NULL;
    uint8_t *out = malloc(*len);
    if (out)
        memcpy(out, tmp, *len);
    return out;
}

#endif
