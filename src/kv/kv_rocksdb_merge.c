/*
 * kv_rocksdb_merge.c - the counter merge operator: steme_kv_add_u64/_f64 on
 * RocksDB are Merge() calls, so an add never reads the old value.
 *
 * Operand format (9 bytes):
 *   [0]     tag: 'U' = add to a u64 (wrapping), 'F' = add to an f64
 *   [1..8]  delta, little-endian (int64 two's complement, or IEEE 754 bits)
 * Value format: the counter itself, 8 bytes little-endian (steme/kv.h); a
 * missing value counts as 0.
 *
 * Full merge (base value + operands -> value) and partial merge (operands
 * -> one operand, same tag only) are pure functions of their inputs: no
 * state, no locks, so RocksDB may call them from any thread at once. Results
 * are malloc'd and freed by RocksDB through kv_rdb_merge_free.
 *
 * Failure handling, and why a failed merge does not "fail": RocksDB 7.8
 * turns a full merge that reports failure into a Corruption status not only
 * for the read that triggered it but also for the flush or compaction that
 * meets the key, which sets a background error and stops every later write
 * to the whole database (checked: put after compact_range fails). One
 * counter misused (a put of 3 bytes then an add, or a u64 add mixed with an
 * f64 add) must not take the database down. So a full merge over invalid
 * input succeeds with a POISON value: a fixed 32-byte marker. It is not 8
 * bytes, so every later add to the key yields the marker again, and the read
 * paths (get, multi-get, scan) turn the marker into STEME_E_CORRUPT. A put or
 * delete of the key clears it. A user value equal to the marker would read
 * as corrupt; the marker's 32 bytes make that an accident of probability
 * 2^-256 (documented limitation).
 * Partial merge with mixed tags or malformed operands declines (success =
 * 0): RocksDB keeps the operands and the full merge decides.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "kv/kv_rocksdb_int.h"

static const char kv_rdb_poison[32] = "\xff\x00steme-counter-merge-failed\x00\xff";

int kv_rdb_is_poison(const char *v, size_t vlen)
{
    return vlen == sizeof kv_rdb_poison && memcmp(v, kv_rdb_poison, vlen) == 0;
}

int kv_rdb_poison_fail(steme_kv *kv)
{
    return kv_fail(kv, STEME_E_CORRUPT,
                   "counter is corrupt: an add met a value that is not 8 bytes, or u64 and "
                   "f64 adds were mixed on the same key");
}


void kv_rdb_operand_u64(uint8_t out[KV_RDB_OPERAND_LEN], int64_t delta)
{
    out[0] = KV_RDB_TAG_U64;
    bytes_put_le(out + 1, (uint64_t)delta, 8);
}

void kv_rdb_operand_f64(uint8_t out[KV_RDB_OPERAND_LEN], double delta)
{
    uint64_t bits;
    memcpy(&bits, &delta, sizeof bits);
    out[0] = KV_RDB_TAG_F64;
    bytes_put_le(out + 1, bits, 8);
}

static double bits_to_f64(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static uint64_t f64_to_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

/*
 * Fold n operands into *acc (the raw 8-byte pattern of a u64 or an f64).
 * Returns the common tag, or 0 if an operand is malformed or tags differ.
 */
static int fold_operands(const char *const *ops, const size_t *lens, int n, uint64_t *acc)
{
    int tag = 0;
    for (int i = 0; i < n; i++) {
        if (lens[i] != KV_RDB_OPERAND_LEN)
            return 0;
        const uint8_t *op = (const uint8_t *)ops[i];
        if (op[0] != KV_RDB_TAG_U64 && op[0] != KV_RDB_TAG_F64)
            return 0;
        if (tag && op[0] != tag)
            return 0;
        tag = op[0];
        uint64_t d = kv_le_to_u64(op + 1);
        if (tag == KV_RDB_TAG_U64)
            *acc += d; /* unsigned: wraps modulo 2^64 as the contract says */
        else
            *acc = f64_to_bits(bits_to_f64(*acc) + bits_to_f64(d));
    }
    return tag;
}

static char *alloc_result(const void *src, size_t len, unsigned char *success, size_t *out_len)
{
    char *r = malloc(len);
    if (!r) {
        /* Out of memory is the one failure we must report as such; RocksDB
         * then fails this read/flush rather than storing a wrong value. */
        *success = 0;
        *out_len = 0;
        return NULL;
    }
    memcpy(r, src, len);
    *success = 1;
    *out_len = len;
    return r;
}

static char *kv_rdb_full_merge(void *state, const char *key, size_t klen, const char *existing,
                               size_t elen, const char *const *ops, const size_t *lens, int n,
                               unsigned char *success, size_t *out_len)
{
    (void)state, (void)key, (void)klen;
    uint64_t acc = 0; /* absent value = 0 for both u64 and f64 (+0.0) */
    if (existing) {
        if (elen != 8)
            goto poison;
        acc = kv_le_to_u64((const uint8_t *)existing);
    }
    if (!fold_operands(ops, lens, n, &acc))
        goto poison;
    uint8_t out[8];
    bytes_put_le(out, acc, 8);
    return alloc_result(out, sizeof out, success, out_len);
poison:
    return alloc_result(kv_rdb_poison, sizeof kv_rdb_poison, success, out_len);
}

static char *kv_rdb_partial_merge(void *state, const char *key, size_t klen,
                                  const char *const *ops, const size_t *lens, int n,
                                  unsigned char *success, size_t *out_len)
{
    (void)state, (void)key, (void)klen;
    uint64_t acc = 0;
    int tag = fold_operands(ops, lens, n, &acc);
    if (!tag) {
        /* Keep the operands; the full merge poisons the key. The C wrapper
         * copies (result, *out_len) even on failure: both must be set. */
        *success = 0;
        *out_len = 0;
        return NULL;
    }
    uint8_t out[KV_RDB_OPERAND_LEN];
    out[0] = (uint8_t)tag;
    bytes_put_le(out + 1, acc, 8);
    return alloc_result(out, sizeof out, success, out_len);
}

static void kv_rdb_merge_free(void *state, const char *value, size_t len)
{
    (void)state, (void)len;
    free((void *)value);
}

static const char *kv_rdb_merge_name(void *state)
{
    (void)state;
    return "steme.counter.v1";
}

/* The C wrapper calls the destructor unconditionally: it must exist. */
static void kv_rdb_merge_destroy(void *state)
{
    (void)state;
}

rocksdb_mergeoperator_t *kv_rdb_merge_operator(void)
{
    return rocksdb_mergeoperator_create(NULL, kv_rdb_merge_destroy, kv_rdb_full_merge, kv_rdb_partial_merge,
                                        kv_rdb_merge_free, kv_rdb_merge_name);
}
