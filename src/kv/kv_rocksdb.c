/*
 * kv_rocksdb.c - the RocksDB engine's point operations, batches and sync
 * (open/close: kv_rocksdb_open.c, scans: kv_rocksdb_scan.c, counters:
 * kv_rocksdb_merge.c).
 *
 * Each key lives in the column family of its family group (kv_rdb_cf_of_key),
 * so a batch may touch several column families; it is still one RocksDB
 * WriteBatch, atomic across them. Counter adds are Merge() records: no read.
 * Read paths turn the merge operator's poison marker into STEME_E_CORRUPT.
 * Preconditions in a batch are read and checked under rd_expect_lock (see
 * kv_rocksdb_int.h): exclusive for a conditional batch, shared for every
 * other write, so the check and the batch are one step for this process,
 * and RocksDB admits no other process.
 * Every options object used here was built at open and is only read, so
 * concurrent calls share them safely.
 */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_rocksdb_int.h"

static inline kv_rdb *R(steme_kv *kv)
{
    return (kv_rdb *)kv;
}

static inline rocksdb_column_family_handle_t *cf_for(kv_rdb *r, const uint8_t *key, size_t klen)
{
    return r->rd_cf[kv_rdb_cf_of_key(key, klen)];
}

static inline const rocksdb_writeoptions_t *wopts(kv_rdb *r, unsigned flags)
{
    if (flags & STEME_KV_SYNC)
        return r->rd_wopts_sync;
    return (flags & STEME_KV_NO_ENGINE_LOG) ? r->rd_wopts_nolog : r->rd_wopts;
}

static int kv_rdb_get(steme_kv *kv, const uint8_t *key, size_t klen, steme_buf *out)
{
    kv_rdb *r = R(kv);
    char *errptr = NULL;
    /* Pinned: the value stays in the block cache / memtable while we copy it
     * once into the caller's buffer, with no intermediate malloc. */
    rocksdb_pinnableslice_t *ps = rocksdb_get_pinned_cf(r->rd_db, r->rd_ropts,
                                                        cf_for(r, key, klen),
                                                        (const char *)key, klen, &errptr);
    if (errptr) {
        out->len = 0;
        return kv_rdb_fail(kv, errptr, "get");
    }
    if (!ps) {
        out->len = 0;
        return STEME_E_NOTFOUND;
    }
    size_t vlen = 0;
    const char *v = rocksdb_pinnableslice_value(ps, &vlen);
    int rc = STEME_OK;
    if (kv_rdb_is_poison(v, vlen)) {
        out->len = 0;
        rc = kv_rdb_poison_fail(kv);
    } else if (steme_buf_set(out, v, vlen) != STEME_OK) {
        rc = kv_fail(kv, STEME_E_NOMEM, "rocksdb get: no memory for a %zu-byte value", vlen);
    }
    rocksdb_pinnableslice_destroy(ps);
    return rc;
}

/* Counter reads: copy at most cap bytes straight from the pinned value. */
static int kv_rdb_get_into(steme_kv *kv, const uint8_t *key, size_t klen, uint8_t *out,
                           size_t cap, size_t *vlen)
{
    kv_rdb *r = R(kv);
    char *errptr = NULL;
    *vlen = 0;
    rocksdb_pinnableslice_t *ps = rocksdb_get_pinned_cf(r->rd_db, r->rd_ropts,
                                                        cf_for(r, key, klen),
                                                        (const char *)key, klen, &errptr);
    if (errptr)
        return kv_rdb_fail(kv, errptr, "get");
    if (!ps)
        return STEME_E_NOTFOUND;
    size_t n = 0;
    const char *v = rocksdb_pinnableslice_value(ps, &n);
    int rc = STEME_OK;
    if (kv_rdb_is_poison(v, n)) {
        rc = kv_rdb_poison_fail(kv);
    } else {
        *vlen = n;
        if (cap)
            memcpy(out, v, n < cap ? n : cap);
    }
    rocksdb_pinnableslice_destroy(ps);
    return rc;
}

/* Below this many keys the arrays multi_get needs live on the stack. */
#define KV_RDB_MGET_STACK 32

static int kv_rdb_multi_get(steme_kv *kv, size_t n, const void *const *keys,
                            const size_t *klens, steme_buf *vals, int *statuses)
{
    kv_rdb *r = R(kv);
    const rocksdb_column_family_handle_t *cfs_s[KV_RDB_MGET_STACK] = {0}; /* zeroed: gcc -O2 sees a false "maybe uninitialized" */
    char *values_s[KV_RDB_MGET_STACK], *errs_s[KV_RDB_MGET_STACK];
    size_t sizes_s[KV_RDB_MGET_STACK];
    const rocksdb_column_family_handle_t **cfs = cfs_s;
    char **values = values_s, **errs = errs_s;
    size_t *sizes = sizes_s;
    void *heap = NULL;
    if (n == 0)
        return STEME_OK;
    if (n > KV_RDB_MGET_STACK) {
        size_t each = sizeof *cfs + sizeof *values + sizeof *errs + sizeof *sizes;
        if (n > SIZE_MAX / each)
            return kv_fail(kv, STEME_E_NOMEM, "rocksdb multi_get: too many keys (%zu)", n);
        heap = malloc(n * each);
        if (!heap)
            return kv_fail(kv, STEME_E_NOMEM, "rocksdb multi_get: out of memory for %zu keys", n);
        cfs = heap;
        values = (char **)(cfs + n);
        errs = values + n;
        sizes = (size_t *)(errs + n);
    }
    for (size_t i = 0; i < n; i++)
        cfs[i] = cf_for(r, keys[i], klens[i]);
    rocksdb_multi_get_cf(r->rd_db, r->rd_ropts, cfs, n, (const char *const *)keys, klens,
                         values, sizes, errs);
    int first = STEME_OK;
    for (size_t i = 0; i < n; i++) {
        int st;
        if (errs[i]) {
            st = kv_rdb_fail(kv, errs[i], "multi_get");
            vals[i].len = 0;
        } else if (!values[i]) {
            st = STEME_E_NOTFOUND;
            vals[i].len = 0;
        } else if (kv_rdb_is_poison(values[i], sizes[i])) {
            st = kv_rdb_poison_fail(kv);
            vals[i].len = 0;
        } else if (steme_buf_set(&vals[i], values[i], sizes[i]) != STEME_OK) {
            st = kv_fail(kv, STEME_E_NOMEM, "rocksdb multi_get: out of memory");
            vals[i].len = 0;
        } else {
            st = STEME_OK;
        }
        rocksdb_free(values[i]);
        statuses[i] = st;
        if (st != STEME_OK && st != STEME_E_NOTFOUND && first == STEME_OK)
            first = st;
    }
    free(heap);
    return first;
}

static int kv_rdb_put(steme_kv *kv, const uint8_t *key, size_t klen, const uint8_t *val,
                      size_t vlen, unsigned flags)
{
    kv_rdb *r = R(kv);
    char *errptr = NULL;
    pthread_rwlock_rdlock(&r->rd_expect_lock);
    rocksdb_put_cf(r->rd_db, wopts(r, flags), cf_for(r, key, klen), (const char *)key, klen,
                   (const char *)val, vlen, &errptr);
    pthread_rwlock_unlock(&r->rd_expect_lock);
    return errptr ? kv_rdb_fail(kv, errptr, "put") : STEME_OK;
}

static int kv_rdb_del(steme_kv *kv, const uint8_t *key, size_t klen, unsigned flags)
{
    kv_rdb *r = R(kv);
    char *errptr = NULL;
    pthread_rwlock_rdlock(&r->rd_expect_lock);
    rocksdb_delete_cf(r->rd_db, wopts(r, flags), cf_for(r, key, klen), (const char *)key, klen,
                      &errptr);
    pthread_rwlock_unlock(&r->rd_expect_lock);
    return errptr ? kv_rdb_fail(kv, errptr, "delete") : STEME_OK;
}

static int kv_rdb_merge(steme_kv *kv, const uint8_t *key, size_t klen,
                        const uint8_t operand[KV_RDB_OPERAND_LEN], unsigned flags)
{
    kv_rdb *r = R(kv);
    char *errptr = NULL;
    pthread_rwlock_rdlock(&r->rd_expect_lock);
    rocksdb_merge_cf(r->rd_db, wopts(r, flags), cf_for(r, key, klen), (const char *)key, klen,
                     (const char *)operand, KV_RDB_OPERAND_LEN, &errptr);
    pthread_rwlock_unlock(&r->rd_expect_lock);
    return errptr ? kv_rdb_fail(kv, errptr, "counter add") : STEME_OK;
}

static int kv_rdb_add_u64(steme_kv *kv, const uint8_t *key, size_t klen, int64_t delta,
                          unsigned flags)
{
    uint8_t op[KV_RDB_OPERAND_LEN];
    kv_rdb_operand_u64(op, delta);
    return kv_rdb_merge(kv, key, klen, op, flags);
}

static int kv_rdb_add_f64(steme_kv *kv, const uint8_t *key, size_t klen, double delta,
                          unsigned flags)
{
    uint8_t op[KV_RDB_OPERAND_LEN];
    kv_rdb_operand_f64(op, delta);
    return kv_rdb_merge(kv, key, klen, op, flags);
}

/* Check b's preconditions; the caller holds rd_expect_lock exclusively.
 * STEME_OK, STEME_E_BUSY, or a read error. */
static int kv_rdb_check_expects(kv_rdb *r, const steme_kv_batch *b)
{
    for (size_t i = 0; i < b->b_n; i++) {
        const kv_op *op = &b->b_ops[i];
        if (op->op_kind != KV_OP_EXPECT)
            continue;
        const uint8_t *key = kv_op_key(b, op);
        char *errptr = NULL;
        rocksdb_pinnableslice_t *ps = rocksdb_get_pinned_cf(
            r->rd_db, r->rd_ropts, cf_for(r, key, op->op_klen), (const char *)key, op->op_klen,
            &errptr);
        if (errptr)
            return kv_rdb_fail(&r->rd_base, errptr, "precondition read");
        size_t vlen = 0;
        const char *v = ps ? rocksdb_pinnableslice_value(ps, &vlen) : NULL;
        int holds = kv_expect_holds(b, op, ps != NULL, (const uint8_t *)v, vlen);
        rocksdb_pinnableslice_destroy(ps);
        if (!holds)
            return kv_fail(&r->rd_base, STEME_E_BUSY, "rocksdb write: %s", KV_EXPECT_FAILED_MSG);
    }
    return STEME_OK;
}

static int kv_rdb_write_locked(steme_kv *kv, const steme_kv_batch *b, unsigned flags);

static int kv_rdb_write(steme_kv *kv, const steme_kv_batch *b, unsigned flags)
{
    kv_rdb *r = R(kv);
    if (b->b_n == 0)
        return STEME_OK;
    int conditional = kv_batch_expects(b) > 0;
    if (conditional)
        pthread_rwlock_wrlock(&r->rd_expect_lock);
    else
        pthread_rwlock_rdlock(&r->rd_expect_lock);
    int rc = conditional ? kv_rdb_check_expects(r, b) : STEME_OK;
    if (rc == STEME_OK)
        rc = kv_rdb_write_locked(kv, b, flags);
    pthread_rwlock_unlock(&r->rd_expect_lock);
    return rc;
}

static int kv_rdb_write_locked(steme_kv *kv, const steme_kv_batch *b, unsigned flags)
{
    kv_rdb *r = R(kv);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    if (!wb)
        return kv_fail(kv, STEME_E_NOMEM, "rocksdb write: out of memory");
    int rc = STEME_OK;
    for (size_t i = 0; i < b->b_n; i++) {
        const kv_op *op = &b->b_ops[i];
        const uint8_t *key = kv_op_key(b, op);
        rocksdb_column_family_handle_t *cf = cf_for(r, key, op->op_klen);
        uint8_t operand[KV_RDB_OPERAND_LEN];
        switch (op->op_kind) {
        case KV_OP_EXPECT:
            break; /* checked by kv_rdb_write */
        case KV_OP_PUT:
            rocksdb_writebatch_put_cf(wb, cf, (const char *)key, op->op_klen,
                                      (const char *)kv_op_val(b, op), op->op_vlen);
            break;
        case KV_OP_DEL:
            rocksdb_writebatch_delete_cf(wb, cf, (const char *)key, op->op_klen);
            break;
        case KV_OP_ADD_U64:
        case KV_OP_ADD_F64:
            if (op->op_kind == KV_OP_ADD_U64)
                kv_rdb_operand_u64(operand, op->op_delta.i);
            else
                kv_rdb_operand_f64(operand, op->op_delta.f);
            rocksdb_writebatch_merge_cf(wb, cf, (const char *)key, op->op_klen,
                                        (const char *)operand, sizeof operand);
            break;
        default:
            rc = kv_fail(kv, STEME_E_INTERNAL, "rocksdb write: unknown batch op %u",
                         (unsigned)op->op_kind);
            goto done;
        }
    }
    char *errptr = NULL;
    rocksdb_write(r->rd_db, wopts(r, flags), wb, &errptr);
    if (errptr)
        rc = kv_rdb_fail(kv, errptr, "write batch");
done:
    rocksdb_writebatch_destroy(wb);
    return rc;
}

/*
 * Durable against power loss: sync the engine's WAL, then flush every
 * column family's memtable to table files, which is what makes writes made
 * with STEME_KV_NO_ENGINE_LOG (memtable only) durable. A flush of an empty
 * memtable is a no-op, so this is cheap when nothing was written.
 */
static int kv_rdb_sync(steme_kv *kv)
{
    kv_rdb *r = R(kv);
    char *errptr = NULL;
    rocksdb_flush_wal(r->rd_db, 1, &errptr);
    if (errptr)
        return kv_rdb_fail(kv, errptr, "sync (flush WAL)");
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    if (!fo)
        return kv_fail(kv, STEME_E_NOMEM, "rocksdb sync: out of memory");
    rocksdb_flushoptions_set_wait(fo, 1);
    for (int i = 0; i < KV_RDB_NCF && !errptr; i++)
        rocksdb_flush_cf(r->rd_db, fo, r->rd_cf[i], &errptr);
    rocksdb_flushoptions_destroy(fo);
    return errptr ? kv_rdb_fail(kv, errptr, "sync (flush memtables)") : STEME_OK;
}

const kv_vtable kv_rdb_vtable = {
    .name = "rocksdb",
    .close = kv_rdb_close,
    .get = kv_rdb_get,
    .multi_get = kv_rdb_multi_get,
    .get_into = kv_rdb_get_into,
    .put = kv_rdb_put,
    .del = kv_rdb_del,
    .add_u64 = kv_rdb_add_u64,
    .add_f64 = kv_rdb_add_f64,
    .scan = kv_rdb_scan,
    .write = kv_rdb_write,
    .sync = kv_rdb_sync,
};
