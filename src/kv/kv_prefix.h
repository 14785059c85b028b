/*
 * kv/kv_prefix.h - prefix arithmetic shared by the RocksDB and hybrid
 * engines: which key family a scan prefix pins, and the smallest key above a
 * prefix range (the exclusive upper bound of "every key starting with p").
 */
#ifndef STEME_KV_PREFIX_H
#define STEME_KV_PREFIX_H

#include <stddef.h>
#include <stdint.h>
#include "kv/kv_int.h"
#include "steme/keys.h"

/*
 * The family every key starting with p[0..n) belongs to, or
 * STEME_FAM_UNKNOWN when the prefix may span families.
 *
 * A key's family is fixed by the bytes up to and including the ':' that ends
 * its tag ("{s}\0SP:", "\0CUR:"). Only a prefix that contains that ':' pins
 * the family; "{s}\0S" could still be S, SP, SS or SB, and "{s}" or "\0" span
 * everything. We ask steme_key_family_of() about exactly those bytes, so two
 * keys sharing them always get the same answer: the RocksDB engine uses this
 * same function to pick a key's column family, which is what makes a
 * one-family scan of one column family complete.
 */
steme_key_family kv_prefix_family(const uint8_t *p, size_t n);

/*
 * Smallest byte string greater than every string that starts with p[0..n):
 * p with its trailing 0xFF bytes dropped and the last remaining byte
 * incremented. Writes it to out (capacity >= n) and returns its length, or
 * returns 0 when there is none (p empty or all 0xFF: the range is unbounded
 * above).
 */
size_t kv_prefix_successor(const uint8_t *p, size_t n, uint8_t *out);

/* 1 if key starts with p[0..n). */
static inline int kv_has_prefix(const uint8_t *key, size_t klen, const uint8_t *p, size_t n)
{
    return klen >= n && (n == 0 || __builtin_memcmp(key, p, n) == 0);
}

#endif
