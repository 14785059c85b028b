/*
 * kv_lmdb_bucket.c - the bucket format that lets the LMDB engine store keys
 * longer than LMDB's 511-byte limit (why and how keys map: kv_lmdb_int.h).
 *
 * Format (version 1, no header): the LMDB value of a bucket key is a
 * sequence of entries, nothing else:
 *     u16 LE  slen     suffix length, 1..STEME_KV_MAX_KEY - 510
 *     u32 LE  vlen     value length, 0..STEME_KV_MAX_VALUE
 *     slen bytes       suffix: the long key's bytes after its first 510
 *     vlen bytes       value
 * Entries are in strictly ascending suffix order (bytewise, shorter first).
 * Validity: every entry's lengths are in range and fit inside the value;
 * anything else is STEME_E_CORRUPT. No checksum: LMDB's pages are trusted
 * like the rest of the engine's data. An empty bucket is never stored.
 */
#include <string.h>

#include "kv/kv_lmdb_int.h"

#define ENTRY_HEAD 6u

void lmdb_bucket_key(const uint8_t *key, uint8_t *out)
{
    memcpy(out, key, LMDB_DIRECT_MAX);
    out[LMDB_DIRECT_MAX] = 0x00;
}

size_t lmdb_bucket_entry_size(size_t slen, size_t vlen)
{
    return ENTRY_HEAD + slen + vlen;
}

size_t lmdb_bucket_write_entry(uint8_t *out, const uint8_t *suffix, size_t slen,
                               const uint8_t *val, size_t vlen)
{
    out[0] = (uint8_t)slen;
    out[1] = (uint8_t)(slen >> 8);
    for (int i = 0; i < 4; i++)
        out[2 + i] = (uint8_t)(vlen >> (8 * i));
    memcpy(out + ENTRY_HEAD, suffix, slen);
    if (vlen)
        memcpy(out + ENTRY_HEAD + slen, val, vlen);
    return ENTRY_HEAD + slen + vlen;
}

int lmdb_bucket_next(const uint8_t *b, size_t size, size_t *off, lmdb_bucket_entry *e)
{
    size_t o = *off;
    if (o >= size)
        return 0;
    if (size - o < ENTRY_HEAD)
        return STEME_E_CORRUPT;
    size_t slen = (size_t)b[o] | (size_t)b[o + 1] << 8;
    size_t vlen = (size_t)b[o + 2] | (size_t)b[o + 3] << 8 | (size_t)b[o + 4] << 16 |
                  (size_t)b[o + 5] << 24;
    if (slen == 0 || slen > STEME_KV_MAX_KEY - LMDB_DIRECT_MAX || vlen > STEME_KV_MAX_VALUE ||
        size - o - ENTRY_HEAD < slen + vlen)
        return STEME_E_CORRUPT;
    e->off = o;
    e->suffix = b + o + ENTRY_HEAD;
    e->slen = slen;
    e->val = e->suffix + slen;
    e->vlen = vlen;
    e->end = o + ENTRY_HEAD + slen + vlen;
    *off = e->end;
    return 1;
}

int lmdb_bucket_find(const uint8_t *b, size_t size, const uint8_t *suffix, size_t slen,
                     lmdb_bucket_entry *e)
{
    size_t off = 0;
    int rc;
    while ((rc = lmdb_bucket_next(b, size, &off, e)) == 1) {
        int c = kv_key_cmp(e->suffix, e->slen, suffix, slen);
        if (c == 0)
            return 1;
        if (c > 0) {
            e->end = e->off; /* insert before this entry */
            return 0;
        }
    }
    if (rc < 0)
        return rc;
    e->off = e->end = size;
    return 0;
}
