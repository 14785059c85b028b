/*
 * kv_batch.c - write batches: an array of kv_op and one byte arena holding
 * every key and value. Both grow geometrically and clear() keeps them, so a
 * batch reused in a loop stops allocating once it has reached its working
 * size (no allocation per operation in steady state).
 * Preconditions (steme_kv_batch_expect) are ops of kind KV_OP_EXPECT with
 * the expected value in the arena; engines check them before any write.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_int.h"

steme_kv_batch *steme_kv_batch_new(void)
{
    return calloc(1, sizeof(steme_kv_batch));
}

void steme_kv_batch_free(steme_kv_batch *b)
{
    if (!b)
        return;
    free(b->b_ops);
    free(b->b_arena);
    free(b);
}

void steme_kv_batch_clear(steme_kv_batch *b)
{
    if (!b)
        return;
    b->b_n = 0;
    b->b_used = 0;
}

size_t steme_kv_batch_count(const steme_kv_batch *b)
{
    return b ? b->b_n : 0;
}

/* Reserve one op slot and `bytes` of arena; returns the op or NULL (NOMEM). */
static kv_op *batch_reserve(steme_kv_batch *b, size_t bytes)
{
    if (b->b_n == b->b_cap) {
        size_t ncap = b->b_cap ? b->b_cap * 2 : 16;
        kv_op *ops = realloc(b->b_ops, ncap * sizeof *ops);
        if (!ops)
            return NULL;
        b->b_ops = ops;
        b->b_cap = ncap;
    }
    if (bytes > b->b_arena_cap - b->b_used) {
        size_t need = b->b_used + bytes;
        if (need < b->b_used)
            return NULL; /* overflow */
        size_t ncap = b->b_arena_cap ? b->b_arena_cap : 256;
        while (ncap < need)
            ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
        uint8_t *a = realloc(b->b_arena, ncap);
        if (!a)
            return NULL;
        b->b_arena = a;
        b->b_arena_cap = ncap;
    }
    kv_op *op = &b->b_ops[b->b_n];
    memset(op, 0, sizeof *op);
    return op;
}

static int check_key(const void *key, size_t klen)
{
    if (!key || klen == 0)
        return STEME_E_INVALID;
    if (klen > STEME_KV_MAX_KEY)
        return STEME_E_TOO_BIG;
    return STEME_OK;
}

/* Append an op whose key (and value) are copied into the arena. */
static int batch_push(steme_kv_batch *b, kv_op_kind kind, const void *key, size_t klen,
                      const void *val, size_t vlen, kv_op **out)
{
    if (!b)
        return STEME_E_INVALID;
    int rc = check_key(key, klen);
    if (rc != STEME_OK)
        return rc;
    kv_op *op = batch_reserve(b, klen + vlen);
    if (!op)
        return STEME_E_NOMEM;
    op->op_kind = (uint8_t)kind;
    op->op_klen = (uint32_t)klen;
    op->op_koff = b->b_used;
    memcpy(b->b_arena + b->b_used, key, klen);
    b->b_used += klen;
    op->op_vlen = (uint32_t)vlen;
    op->op_voff = b->b_used;
    if (vlen) {
        memcpy(b->b_arena + b->b_used, val, vlen);
        b->b_used += vlen;
    }
    b->b_n++;
    if (out)
        *out = op;
    return STEME_OK;
}

int steme_kv_batch_put(steme_kv_batch *b, const void *key, size_t klen, const void *val,
                       size_t vlen)
{
    if (!val && vlen)
        return STEME_E_INVALID;
    if (vlen > STEME_KV_MAX_VALUE)
        return STEME_E_TOO_BIG;
    return batch_push(b, KV_OP_PUT, key, klen, val, vlen, NULL);
}

int steme_kv_batch_delete(steme_kv_batch *b, const void *key, size_t klen)
{
    return batch_push(b, KV_OP_DEL, key, klen, NULL, 0, NULL);
}

int steme_kv_batch_add_u64(steme_kv_batch *b, const void *key, size_t klen, int64_t delta)
{
    kv_op *op;
    int rc = batch_push(b, KV_OP_ADD_U64, key, klen, NULL, 0, &op);
    if (rc == STEME_OK)
        op->op_delta.i = delta;
    return rc;
}

int steme_kv_batch_add_f64(steme_kv_batch *b, const void *key, size_t klen, double delta)
{
    if (!isfinite(delta))
        return STEME_E_INVALID;
    kv_op *op;
    int rc = batch_push(b, KV_OP_ADD_F64, key, klen, NULL, 0, &op);
    if (rc == STEME_OK)
        op->op_delta.f = delta;
    return rc;
}

int steme_kv_batch_expect(steme_kv_batch *b, const void *key, size_t klen, const void *val,
                          size_t vlen)
{
    if (!val && vlen)
        return STEME_E_INVALID;
    if (vlen > STEME_KV_MAX_VALUE)
        return STEME_E_TOO_BIG;
    kv_op *op;
    int rc = batch_push(b, KV_OP_EXPECT, key, klen, val, vlen, &op);
    if (rc == STEME_OK)
        op->op_delta.i = val == NULL; /* absent */
    return rc;
}

size_t kv_batch_expects(const steme_kv_batch *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->b_n; i++)
        n += b->b_ops[i].op_kind == KV_OP_EXPECT;
    return n;
}

int kv_expect_holds(const steme_kv_batch *b, const kv_op *op, int found, const uint8_t *cur,
                    size_t curlen)
{
    if (kv_op_expects_absent(op))
        return !found;
    return found && curlen == op->op_vlen &&
           (curlen == 0 || memcmp(cur, kv_op_val(b, op), curlen) == 0);
}
