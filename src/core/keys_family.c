/*
 * keys_family.c - the family table of the key codec (spec section 3): tags,
 * subject scoping, engine routing, and steme_key_family_of(), the hybrid
 * router's per-key lookup.
 *
 * steme_key_family_of() runs for every key the hybrid backend touches, so it
 * does no validation beyond what routing needs: one memchr for the end of
 * the subject (bounded by 1025 bytes and by klen) and a switch on at most
 * four tag bytes. It never reads past klen. It only says which family a key
 * CLAIMS to be; steme_key_decode() is the full check.
 */
#include "core/keys_int.h"

#include <string.h>

#define L STEME_KV_LMDB
#define R STEME_KV_ROCKSDB

/* Indexed by steme_key_family; entry 0 (UNKNOWN) is unused. */
static const keys_family_desc keys_families[STEME_FAM_COUNT_] = {
    [STEME_FAM_ASSERTION]          = {"H",   1, 1, 1, L, {KF_HASH}},
    [STEME_FAM_SUBJECT_INDEX]      = {"S",   1, 1, 2, L, {KF_TS, KF_HASH}},
    [STEME_FAM_SUBJECT_PRED_INDEX] = {"SP",  2, 1, 3, L, {KF_PRED_NUL, KF_TS, KF_HASH}},
    [STEME_FAM_HASH_SUBJECT]       = {"HS",  2, 0, 1, L, {KF_HASH}},
    [STEME_FAM_VOTE]               = {"V",   1, 1, 2, R, {KF_HASH, KF_AGENT}},
    [STEME_FAM_VOTE_COUNT]         = {"VC",  2, 1, 1, R, {KF_HASH}},
    [STEME_FAM_VOTE_WEIGHT]        = {"VW",  2, 1, 1, R, {KF_HASH}},
    [STEME_FAM_TRUST_RANK]         = {"TR",  2, 0, 1, L, {KF_AGENT}},
    [STEME_FAM_GOLD_STANDARD]      = {"GS",  2, 1, 1, L, {KF_PRED_REST}},
    [STEME_FAM_TRUST_PACK]         = {"TP",  2, 0, 1, L, {KF_ID16}},
    [STEME_FAM_PACK_MEMBER]        = {"TM",  2, 0, 2, L, {KF_ID16, KF_AGENT}},
    [STEME_FAM_AUDIT]              = {"AU",  2, 0, 3, R, {KF_AGENT, KF_TS, KF_ID16}},
    [STEME_FAM_AUDIT_BY_ID]        = {"AQ",  2, 0, 1, R, {KF_ID16}},
    [STEME_FAM_QUOTA_USAGE]        = {"QT",  2, 0, 2, R, {KF_AGENT, KF_TS}},
    [STEME_FAM_QUOTA_LIMIT]        = {"QL",  2, 0, 1, L, {KF_AGENT}},
    [STEME_FAM_ESCALATION]         = {"ES",  2, 0, 3, R, {KF_STATUS, KF_TS, KF_ID16}},
    [STEME_FAM_SUPERSEDES]         = {"SS",  2, 1, 1, L, {KF_HASH}},
    [STEME_FAM_SUPERSEDED_BY]      = {"SB",  2, 1, 1, L, {KF_HASH}},
    [STEME_FAM_VECTOR_META]        = {"VX",  2, 0, 1, L, {KF_NAME_REST}},
    [STEME_FAM_CURSOR]             = {"CUR", 3, 0, 1, L, {KF_NAME_REST}},
    [STEME_FAM_INDEX_LOG]          = {"IL",  2, 0, 2, R, {KF_TS, KF_ID16}},
};

#undef L
#undef R

const keys_family_desc *keys_family_desc_of(steme_key_family fam)
{
    /* The enum's range is unsigned-compared so a negative value from a
     * caller's cast is refused too. */
    if ((unsigned)fam <= (unsigned)STEME_FAM_UNKNOWN || (unsigned)fam >= (unsigned)STEME_FAM_COUNT_)
        return NULL;
    return &keys_families[fam];
}

const char *steme_key_family_tag(steme_key_family fam)
{
    const keys_family_desc *d = keys_family_desc_of(fam);
    return d ? d->kd_tag : NULL;
}

int steme_key_family_is_subject_scoped(steme_key_family fam)
{
    const keys_family_desc *d = keys_family_desc_of(fam);
    return d ? d->kd_scoped : 0;
}

steme_kv_engine steme_key_family_engine(steme_key_family fam)
{
    const keys_family_desc *d = keys_family_desc_of(fam);
    /* UNKNOWN has no engine; 0 is not a steme_kv_engine value, so a router
     * that forgets to check the family cannot mistake it for one. */
    return d ? d->kd_engine : (steme_kv_engine)0;
}

/* Two-letter tags: the second letter decides, then ':' must follow. */
static steme_key_family tag2(const uint8_t *p, size_t n, steme_key_family fam)
{
    return (n >= 3 && p[2] == ':') ? fam : STEME_FAM_UNKNOWN;
}

static steme_key_family tag_scoped(const uint8_t *p, size_t n)
{
    if (n < 2)
        return STEME_FAM_UNKNOWN;
    switch (p[0]) {
    case 'H':
        return p[1] == ':' ? STEME_FAM_ASSERTION : STEME_FAM_UNKNOWN;
    case 'S':
        switch (p[1]) {
        case ':': return STEME_FAM_SUBJECT_INDEX;
        case 'P': return tag2(p, n, STEME_FAM_SUBJECT_PRED_INDEX);
        case 'S': return tag2(p, n, STEME_FAM_SUPERSEDES);
        case 'B': return tag2(p, n, STEME_FAM_SUPERSEDED_BY);
        }
        return STEME_FAM_UNKNOWN;
    case 'V':
        switch (p[1]) {
        case ':': return STEME_FAM_VOTE;
        case 'C': return tag2(p, n, STEME_FAM_VOTE_COUNT);
        case 'W': return tag2(p, n, STEME_FAM_VOTE_WEIGHT);
        }
        return STEME_FAM_UNKNOWN;
    case 'G':
        return p[1] == 'S' ? tag2(p, n, STEME_FAM_GOLD_STANDARD) : STEME_FAM_UNKNOWN;
    }
    return STEME_FAM_UNKNOWN;
}

static steme_key_family tag_global(const uint8_t *p, size_t n)
{
    if (n < 3)
        return STEME_FAM_UNKNOWN;
    switch (p[0]) {
    case 'H':
        return p[1] == 'S' ? tag2(p, n, STEME_FAM_HASH_SUBJECT) : STEME_FAM_UNKNOWN;
    case 'T':
        switch (p[1]) {
        case 'R': return tag2(p, n, STEME_FAM_TRUST_RANK);
        case 'P': return tag2(p, n, STEME_FAM_TRUST_PACK);
        case 'M': return tag2(p, n, STEME_FAM_PACK_MEMBER);
        }
        return STEME_FAM_UNKNOWN;
    case 'A':
        switch (p[1]) {
        case 'U': return tag2(p, n, STEME_FAM_AUDIT);
        case 'Q': return tag2(p, n, STEME_FAM_AUDIT_BY_ID);
        }
        return STEME_FAM_UNKNOWN;
    case 'Q':
        switch (p[1]) {
        case 'T': return tag2(p, n, STEME_FAM_QUOTA_USAGE);
        case 'L': return tag2(p, n, STEME_FAM_QUOTA_LIMIT);
        }
        return STEME_FAM_UNKNOWN;
    case 'E':
        return p[1] == 'S' ? tag2(p, n, STEME_FAM_ESCALATION) : STEME_FAM_UNKNOWN;
    case 'V':
        return p[1] == 'X' ? tag2(p, n, STEME_FAM_VECTOR_META) : STEME_FAM_UNKNOWN;
    case 'I':
        return p[1] == 'L' ? tag2(p, n, STEME_FAM_INDEX_LOG) : STEME_FAM_UNKNOWN;
    case 'C':
        return (n >= 4 && p[1] == 'U' && p[2] == 'R' && p[3] == ':') ? STEME_FAM_CURSOR
                                                                     : STEME_FAM_UNKNOWN;
    }
    return STEME_FAM_UNKNOWN;
}

steme_key_family keys_tag_parse(const uint8_t *p, size_t n, int scoped)
{
    return scoped ? tag_scoped(p, n) : tag_global(p, n);
}

steme_key_family steme_key_family_of(const uint8_t *key, size_t klen)
{
    if (!key || klen == 0)
        return STEME_FAM_UNKNOWN;
    if (key[0] == 0)
        return tag_global(key + 1, klen - 1);
    /* A subject is at most STEME_SUBJECT_MAX bytes, so its terminator, if
     * the key is well formed, is within the first STEME_SUBJECT_MAX + 1. */
    size_t lim = klen < STEME_SUBJECT_MAX + 1 ? klen : STEME_SUBJECT_MAX + 1;
    const uint8_t *nul = memchr(key, 0, lim);
    if (!nul)
        return STEME_FAM_UNKNOWN;
    size_t off = (size_t)(nul - key) + 1;
    return tag_scoped(key + off, klen - off);
}
