/*
 * store/index_log_int.h - the index log handle (steme/index_log.h), shared
 * by its sources: index_log.c (codecs, append, scan) and
 * index_log_compact.c (dropping superseded entries).
 */
#ifndef STEME_STORE_INDEX_LOG_INT_H
#define STEME_STORE_INDEX_LOG_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/error.h"
#include "steme/index_log.h"
#include "steme/kv.h"

struct steme_index_log {
    steme_kv *kv;
    uint64_t node;
    uint32_t budget_ms;
    unsigned max_attempts;
    uint64_t (*clock_ms)(void *ctx);
    void *clock_ctx;
    atomic_uint_fast64_t seq;
    steme_errslot err;
};

#define il_fail(l, code, ...) steme_errslot_set(&(l)->err, (code), __VA_ARGS__)

#endif
