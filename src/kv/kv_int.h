/*
 * kv/kv_int.h - what the kv layer's sources share: the engine vtable, the handle's common
 * head, and the in-memory batch representation. Nothing above the kv layer
 * includes this file.
 *
 * The front end (kv.c) checks every argument (NULL, sizes, finite deltas)
 * before it calls an engine, so engines may assume valid input. Engines
 * report failures with kv_fail(), which keeps the message per thread.
 */
#ifndef STEME_KV_INT_H
#define STEME_KV_INT_H

#include <stdatomic.h>
#include "steme/kv.h"
#include "core/error.h"

typedef struct kv_vtable {
    const char *name;
    void (*close)(steme_kv *kv);
    int (*get)(steme_kv *kv, const uint8_t *key, size_t klen, steme_buf *out);
    /* Optional; NULL means the front end loops over get. */
    int (*multi_get)(steme_kv *kv, size_t n, const void *const *keys, const size_t *klens,
                     steme_buf *vals, int *statuses);
    /* Optional; NULL means the front end uses get with a heap buffer.
     * Copies min(vlen, cap) bytes of the value into out and sets *vlen to
     * the value's full length (the counter reads use it: no allocation). */
    int (*get_into)(steme_kv *kv, const uint8_t *key, size_t klen, uint8_t *out, size_t cap,
                    size_t *vlen);
    int (*put)(steme_kv *kv, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
               unsigned flags);
    int (*del)(steme_kv *kv, const uint8_t *key, size_t klen, unsigned flags);
    int (*add_u64)(steme_kv *kv, const uint8_t *key, size_t klen, int64_t delta, unsigned flags);
    int (*add_f64)(steme_kv *kv, const uint8_t *key, size_t klen, double delta, unsigned flags);
    int (*scan)(steme_kv *kv, const uint8_t *prefix, size_t plen, const uint8_t *after,
                size_t alen, size_t limit, unsigned flags, steme_kv_scan_fn fn, void *ctx,
                size_t *visited);
    int (*write)(steme_kv *kv, const steme_kv_batch *b, unsigned flags);
    int (*sync)(steme_kv *kv);
} kv_vtable;

/* Common head of every engine's handle: engines embed it as first member. */
struct steme_kv {
    const kv_vtable *kv_vt;
    steme_kv_engine kv_engine;
    steme_errslot kv_err;
    uint64_t kv_fault_after;             /* steme_kv_options.fault_write_after */
    atomic_uint_fast64_t kv_writes;      /* steme_kv_write calls, when it is set */
};

/* Initialise/destroy the common head (engines call these in open/close). */
int kv_base_init(steme_kv *kv, const kv_vtable *vt, steme_kv_engine engine);
void kv_base_destroy(steme_kv *kv);

/* Record a failure on kv for the calling thread; returns code. */
#define kv_fail(kv, code, ...) steme_errslot_set(&(kv)->kv_err, (code), __VA_ARGS__)

/* Engine constructors (each in its own file). */
int kv_mem_open(const steme_kv_options *o, steme_kv **out, steme_error *err);
int kv_lmdb_open(const char *path, const steme_kv_options *o, steme_kv **out, steme_error *err);
int kv_rocksdb_open(const char *path, const steme_kv_options *o, steme_kv **out,
                    steme_error *err);
int kv_hybrid_open(const char *path, const steme_kv_options *o, steme_kv **out,
                   steme_error *err);

/* --- batches ------------------------------------------------------------ */
typedef enum kv_op_kind {
    KV_OP_PUT = 1,
    KV_OP_DEL = 2,
    KV_OP_ADD_U64 = 3,
    KV_OP_ADD_F64 = 4,
    KV_OP_EXPECT = 5       /* precondition: op_delta.i = 1 means "absent" */
} kv_op_kind;

/* One operation; key (and value for PUT) live in the batch's arena. */
typedef struct kv_op {
    uint8_t op_kind;
    uint32_t op_klen;
    uint32_t op_vlen;
    size_t op_koff;        /* offset of the key in the arena */
    size_t op_voff;        /* offset of the value (PUT only) */
    union {
        int64_t i;
        double f;
    } op_delta;            /* ADD_U64 / ADD_F64 */
} kv_op;

struct steme_kv_batch {
    kv_op *b_ops;
    size_t b_n, b_cap;
    uint8_t *b_arena;
    size_t b_used, b_arena_cap;
};

static inline const uint8_t *kv_op_key(const steme_kv_batch *b, const kv_op *op)
{
    return b->b_arena + op->op_koff;
}
static inline const uint8_t *kv_op_val(const steme_kv_batch *b, const kv_op *op)
{
    return b->b_arena + op->op_voff;
}

/* 1 if op is a precondition requiring its key to be absent. */
static inline int kv_op_expects_absent(const kv_op *op)
{
    return op->op_delta.i != 0;
}

/* Number of preconditions in b (engines check them before any write). */
size_t kv_batch_expects(const steme_kv_batch *b);

/* Does the precondition op hold for the key's current state (found, and
 * then its value cur[0..curlen))? 1 or 0. */
int kv_expect_holds(const steme_kv_batch *b, const kv_op *op, int found, const uint8_t *cur,
                    size_t curlen);

/* The message every engine records when a precondition fails. */
#define KV_EXPECT_FAILED_MSG "precondition failed: a key did not hold the expected value; retry"

/* --- keys and scans (kv.c) -------------------------------------------- */

/* Bytewise key order, shorter-is-smaller on a common prefix: <0, 0, >0. */
int kv_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/*
 * Scan planning shared by every engine so that all of them agree on the
 * semantics of prefix + cursor + limit + direction. An engine:
 *   1. positions at the seek key: forward, the first key >= seek (or the
 *      first key when seek is NULL); reverse, the last key <= seek (or the
 *      last key when seek is NULL). Entries around the seek point that are
 *      outside the range are harmless: kv_scan_visit skips them;
 *   2. walks in scan order calling kv_scan_visit() on each entry until it
 *      returns 1 (range left, limit reached or callback stopped) or the
 *      engine runs out of keys.
 * The plan's views (prefix, after) must outlive the scan.
 */
typedef struct kv_scan_plan {
    const uint8_t *sp_prefix;
    size_t sp_plen;
    const uint8_t *sp_after;     /* NULL: no cursor */
    size_t sp_alen;
    int sp_reverse;
    const uint8_t *sp_seek;      /* NULL: start at the first/last key */
    size_t sp_seeklen;
    size_t sp_limit;             /* 0 = no limit */
    size_t sp_visited;
    steme_kv_scan_fn sp_fn;
    void *sp_ctx;
    uint8_t sp_succ[STEME_KV_MAX_KEY]; /* successor of the prefix (reverse) */
} kv_scan_plan;

void kv_scan_plan_init(kv_scan_plan *p, const uint8_t *prefix, size_t plen,
                       const uint8_t *after, size_t alen, size_t limit, unsigned flags,
                       steme_kv_scan_fn fn, void *ctx);
/* Offer one entry (in scan order); returns 1 when the scan must end. */
int kv_scan_visit(kv_scan_plan *p, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen);

/* Little-endian 8-byte counter codec shared by engines. */
static inline void kv_u64_to_le(uint64_t v, uint8_t out[8])
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t kv_le_to_u64(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | in[i];
    return v;
}

#endif
