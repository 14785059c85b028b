/*
 * kv/kv_hybrid_int.h - the hybrid engine's handle, shared by kv_hybrid.c
 * (routing, point operations, batches) and kv_hybrid_scan.c (scans).
 */
#ifndef STEME_KV_HYBRID_INT_H
#define STEME_KV_HYBRID_INT_H

#include "kv/kv_int.h"

typedef struct kv_hybrid {
    steme_kv hy_base;   /* first: a steme_kv */
    steme_kv *hy_lmdb;  /* path/lmdb */
    steme_kv *hy_rdb;   /* path/rocksdb */
} kv_hybrid;

/* Copy sub's calling-thread message for the failure rc into h's slot. */
int kv_hybrid_relay(kv_hybrid *h, steme_kv *sub, int rc);

int kv_hybrid_scan(steme_kv *kv, const uint8_t *prefix, size_t plen, const uint8_t *after,
                   size_t alen, size_t limit, unsigned flags, steme_kv_scan_fn fn, void *ctx,
                   size_t *visited);

#endif
