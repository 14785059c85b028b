/*
 * kv_lmdb_write.c - the LMDB engine's write path: group commit.
 *
 * LMDB has one writer and each commit syncs, so a transaction per write
 * would cap throughput at the disk's sync rate. Instead every write (a
 * single put/delete/add or a batch) becomes a request queued on the handle;
 * the first writer to find no leader running becomes the leader, takes the
 * whole queue, applies every request in ONE write transaction, commits
 * (one sync) and wakes the others, which returns each its own status.
 * Requests that arrive meanwhile form the next group.
 *
 * Isolation of failures: when a group holds several requests, each is
 * applied inside its own nested (child) transaction, so one failing request
 * (a counter add on a value that is not 8 bytes: STEME_E_CORRUPT; a full
 * map: STEME_E_FULL) is rolled back alone and the rest commit. A lone
 * request needs no child: its failure aborts the whole transaction.
 *
 * Counters are read-modify-write inside the write transaction: atomic,
 * since LMDB runs one write transaction at a time. Preconditions
 * (steme_kv_batch_expect) are read in the same transaction (the request's
 * child, in a group) before its writes: a failing one is STEME_E_BUSY and
 * rolls back that request alone.
 */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_lmdb_int.h"

/* One operation, a view of either a single call's arguments or a batch op. */
typedef struct lmdb_op {
    kv_op_kind kind;
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
    int64_t di;
    double df;
} lmdb_op;

/* A queued write, on the stack of the thread waiting for it. */
struct lmdb_req {
    const steme_kv_batch *batch; /* or NULL: the single op below */
    lmdb_op single;
    int rc;
    int done;
    steme_error err;
    lmdb_req *next;
};

int lmdb_write_init(kv_lmdb *l)
{
    if (pthread_mutex_init(&l->gc_lock, NULL) != 0)
        return STEME_E_NOMEM;
    if (pthread_cond_init(&l->gc_cond, NULL) != 0) {
        pthread_mutex_destroy(&l->gc_lock);
        return STEME_E_NOMEM;
    }
    l->gc_ready = 1;
    return STEME_OK;
}

void lmdb_write_destroy(kv_lmdb *l)
{
    if (l->gc_ready) {
        pthread_cond_destroy(&l->gc_cond);
        pthread_mutex_destroy(&l->gc_lock);
        l->gc_ready = 0;
    }
    free(l->scratch);
    l->scratch = NULL;
    l->scratch_cap = 0;
}

/* --- applying one operation inside a write transaction ---------------------- */

/* New counter bytes: old (8 bytes, or NULL for a missing key) plus delta. */
static void counter_add(const lmdb_op *op, const uint8_t *old, uint8_t out[8])
{
    uint64_t cur = old ? kv_le_to_u64(old) : 0;
    if (op->kind == KV_OP_ADD_F64) {
        double d;
        memcpy(&d, &cur, 8);
        d = old ? d + op->df : op->df;
        memcpy(&cur, &d, 8);
    } else {
        cur += (uint64_t)op->di; /* wraps modulo 2^64 */
    }
    kv_u64_to_le(cur, out);
}

static int apply_direct(kv_lmdb *l, MDB_txn *txn, const lmdb_op *op, steme_error *err)
{
    MDB_val k = {op->klen, (void *)op->key}, v;
    int rc;
    uint8_t num[8];
    switch (op->kind) {
    case KV_OP_PUT:
        v.mv_size = op->vlen;
        v.mv_data = (void *)op->val;
        rc = mdb_put(txn, l->dbi, &k, &v, 0);
        return rc == MDB_SUCCESS ? STEME_OK : lmdb_fail(l, err, rc, "put");
    case KV_OP_DEL:
        rc = mdb_del(txn, l->dbi, &k, NULL);
        return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? STEME_OK : lmdb_fail(l, err, rc, "delete");
    default:
        rc = mdb_get(txn, l->dbi, &k, &v);
        if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
            return lmdb_fail(l, err, rc, "counter read");
        if (rc == MDB_SUCCESS && v.mv_size != 8)
            return steme_err(err, STEME_E_CORRUPT,
                             "lmdb: counter add on a %zu-byte value (a counter is 8 bytes)",
                             v.mv_size);
        counter_add(op, rc == MDB_SUCCESS ? v.mv_data : NULL, num);
        v.mv_size = 8;
        v.mv_data = num;
        rc = mdb_put(txn, l->dbi, &k, &v, 0);
        return rc == MDB_SUCCESS ? STEME_OK : lmdb_fail(l, err, rc, "counter write");
    }
}

/* A long key: rewrite its bucket with the entry replaced, added or removed. */
static int apply_bucket(kv_lmdb *l, MDB_txn *txn, const lmdb_op *op, steme_error *err)
{
    uint8_t bkey[LMDB_BUCKET_KLEN];
    lmdb_bucket_key(op->key, bkey);
    MDB_val k = {LMDB_BUCKET_KLEN, bkey}, v = {0, NULL};
    int rc = mdb_get(txn, l->dbi, &k, &v);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        return lmdb_fail(l, err, rc, "bucket read");
    const uint8_t *suffix = op->key + LMDB_DIRECT_MAX;
    size_t slen = op->klen - LMDB_DIRECT_MAX;
    lmdb_bucket_entry e = {0};
    int found = 0;
    if (rc == MDB_SUCCESS) {
        found = lmdb_bucket_find(v.mv_data, v.mv_size, suffix, slen, &e);
        if (found < 0)
            return STEME_CORRUPT(err, "lmdb: long-key bucket is malformed");
    } else {
        v.mv_size = 0;
    }
    /* the entry's new value, if it keeps one */
    const uint8_t *nval = NULL;
    size_t nvlen = 0;
    uint8_t num[8];
    int keep = 1;
    switch (op->kind) {
    case KV_OP_PUT:
        nval = op->val;
        nvlen = op->vlen;
        break;
    case KV_OP_DEL:
        if (!found)
            return STEME_OK;
        keep = 0;
        break;
    default:
        if (found && e.vlen != 8)
            return steme_err(err, STEME_E_CORRUPT,
                             "lmdb: counter add on a %zu-byte value (a counter is 8 bytes)", e.vlen);
        counter_add(op, found ? e.val : NULL, num);
        nval = num;
        nvlen = 8;
    }
    size_t head = e.off, tail = v.mv_size - e.end;
    size_t size = head + tail + (keep ? lmdb_bucket_entry_size(slen, nvlen) : 0);
    if (size == 0) {
        rc = mdb_del(txn, l->dbi, &k, NULL);
        return rc == MDB_SUCCESS ? STEME_OK : lmdb_fail(l, err, rc, "bucket delete");
    }
    /* rebuild in scratch: v points into pages the put may reuse */
    if (size > l->scratch_cap) {
        uint8_t *s = realloc(l->scratch, size);
        if (!s)
            return steme_err(err, STEME_E_NOMEM, "lmdb: out of memory rebuilding a bucket");
        l->scratch = s;
        l->scratch_cap = size;
    }
    uint8_t *w = l->scratch;
    if (head)
        memcpy(w, v.mv_data, head);
    w += head;
    if (keep)
        w += lmdb_bucket_write_entry(w, suffix, slen, nval, nvlen);
    if (tail)
        memcpy(w, (const uint8_t *)v.mv_data + e.end, tail);
    MDB_val nv = {size, l->scratch};
    rc = mdb_put(txn, l->dbi, &k, &nv, 0);
    return rc == MDB_SUCCESS ? STEME_OK : lmdb_fail(l, err, rc, "bucket write");
}

static int apply_op(kv_lmdb *l, MDB_txn *txn, const lmdb_op *op, steme_error *err)
{
    return op->klen <= LMDB_DIRECT_MAX ? apply_direct(l, txn, op, err)
                                       : apply_bucket(l, txn, op, err);
}

/* Check every precondition of b inside txn (the write transaction: no
 * other writer exists until it ends). STEME_OK or STEME_E_BUSY. */
static int check_expects(kv_lmdb *l, MDB_txn *txn, const steme_kv_batch *b, steme_error *err)
{
    for (size_t i = 0; i < b->b_n; i++) {
        const kv_op *o = &b->b_ops[i];
        if (o->op_kind != KV_OP_EXPECT)
            continue;
        const uint8_t *key = kv_op_key(b, o), *cur = NULL;
        size_t curlen = 0;
        int found = 0;
        uint8_t bkey[LMDB_BUCKET_KLEN];
        MDB_val k = {o->op_klen, (void *)key}, v;
        if (o->op_klen > LMDB_DIRECT_MAX) {
            lmdb_bucket_key(key, bkey);
            k.mv_size = LMDB_BUCKET_KLEN;
            k.mv_data = bkey;
        }
        int rc = mdb_get(txn, l->dbi, &k, &v);
        if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
            return lmdb_fail(l, err, rc, "precondition read");
        if (rc == MDB_SUCCESS && o->op_klen <= LMDB_DIRECT_MAX) {
            found = 1;
            cur = v.mv_data;
            curlen = v.mv_size;
        } else if (rc == MDB_SUCCESS) {
            lmdb_bucket_entry e;
            found = lmdb_bucket_find(v.mv_data, v.mv_size, key + LMDB_DIRECT_MAX,
                                     o->op_klen - LMDB_DIRECT_MAX, &e);
            if (found < 0)
                return STEME_CORRUPT(err, "lmdb: long-key bucket is malformed");
            cur = e.val;
            curlen = e.vlen;
        }
        if (!kv_expect_holds(b, o, found, cur, curlen))
            return steme_err(err, STEME_E_BUSY, "lmdb write: %s", KV_EXPECT_FAILED_MSG);
    }
    return STEME_OK;
}

static int apply_req(kv_lmdb *l, MDB_txn *txn, lmdb_req *r)
{
    if (!r->batch)
        return apply_op(l, txn, &r->single, &r->err);
    const steme_kv_batch *b = r->batch;
    int erc = check_expects(l, txn, b, &r->err);
    if (erc != STEME_OK)
        return erc;
    for (size_t i = 0; i < b->b_n; i++) {
        const kv_op *o = &b->b_ops[i];
        if (o->op_kind == KV_OP_EXPECT)
            continue;
        lmdb_op op = {.kind = (kv_op_kind)o->op_kind, .key = kv_op_key(b, o),
                      .klen = o->op_klen, .val = kv_op_val(b, o), .vlen = o->op_vlen};
        if (op.kind == KV_OP_ADD_U64)
            op.di = o->op_delta.i;
        else if (op.kind == KV_OP_ADD_F64)
            op.df = o->op_delta.f;
        int rc = apply_op(l, txn, &op, &r->err);
        if (rc != STEME_OK)
            return rc;
    }
    return STEME_OK;
}

/* --- group commit ------------------------------------------------------------- */

/* The leader's work: every request in `group` in one write transaction. */
static void commit_group(kv_lmdb *l, lmdb_req *group)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (rc != MDB_SUCCESS) {
        for (lmdb_req *r = group; r; r = r->next)
            r->rc = lmdb_fail(l, &r->err, rc, "begin write transaction");
        return;
    }
    if (!group->next) {
        group->rc = apply_req(l, txn, group);
        if (group->rc != STEME_OK) {
            mdb_txn_abort(txn);
            return;
        }
    } else {
        for (lmdb_req *r = group; r; r = r->next) {
            MDB_txn *child;
            rc = mdb_txn_begin(l->env, txn, 0, &child);
            if (rc != MDB_SUCCESS) {
                r->rc = lmdb_fail(l, &r->err, rc, "begin nested transaction");
                continue;
            }
            r->rc = apply_req(l, child, r);
            if (r->rc != STEME_OK) {
                mdb_txn_abort(child);
                continue;
            }
            rc = mdb_txn_commit(child);
            if (rc != MDB_SUCCESS)
                r->rc = lmdb_fail(l, &r->err, rc, "commit nested transaction");
        }
    }
    __atomic_add_fetch(&l->commits_started, 1, __ATOMIC_SEQ_CST);
    rc = mdb_txn_commit(txn);
    __atomic_add_fetch(&l->commits_done, 1, __ATOMIC_SEQ_CST);
    if (rc != MDB_SUCCESS) {
        for (lmdb_req *r = group; r; r = r->next)
            if (r->rc == STEME_OK)
                r->rc = lmdb_fail(l, &r->err, rc, "commit");
    }
}

static int submit(kv_lmdb *l, lmdb_req *r)
{
    r->rc = STEME_OK;
    r->done = 0;
    r->next = NULL;
    pthread_mutex_lock(&l->gc_lock);
    if (l->gc_tail)
        l->gc_tail->next = r;
    else
        l->gc_head = r;
    l->gc_tail = r;
    while (!r->done) {
        if (l->gc_busy) {
            pthread_cond_wait(&l->gc_cond, &l->gc_lock);
            continue;
        }
        /* become the leader for everything queued so far */
        lmdb_req *group = l->gc_head;
        l->gc_head = l->gc_tail = NULL;
        l->gc_busy = 1;
        pthread_mutex_unlock(&l->gc_lock);
        commit_group(l, group);
        pthread_mutex_lock(&l->gc_lock);
        while (group) {
            lmdb_req *next = group->next; /* a finished request may vanish */
            group->done = 1;
            group = next;
        }
        l->gc_busy = 0;
        pthread_cond_broadcast(&l->gc_cond);
    }
    pthread_mutex_unlock(&l->gc_lock);
    if (r->rc != STEME_OK)
        return steme_errslot_put(&l->base.kv_err, &r->err);
    return STEME_OK;
}

/* STEME_KV_SYNC: the commit synced the data pages (MDB_NOMETASYNC); sync
 * the meta page too, so the write survives a power loss. */
static int sync_if_asked(kv_lmdb *l, int rc, unsigned flags)
{
    if (rc != STEME_OK || !(flags & STEME_KV_SYNC))
        return rc;
    int mrc = mdb_env_sync(l->env, 1);
    if (!mrc)
        return STEME_OK;
    steme_error e;
    lmdb_fail(l, &e, mrc, "sync");
    return steme_errslot_put(&l->base.kv_err, &e);
}

static int submit_op(steme_kv *kv, kv_op_kind kind, const uint8_t *key, size_t klen,
                     const uint8_t *val, size_t vlen, int64_t di, double df, unsigned flags)
{
    lmdb_req r = {.batch = NULL,
                  .single = {.kind = kind, .key = key, .klen = klen, .val = val, .vlen = vlen,
                             .di = di, .df = df}};
    return sync_if_asked((kv_lmdb *)kv, submit((kv_lmdb *)kv, &r), flags);
}

int lmdb_put(steme_kv *kv, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
             unsigned flags)
{
    return submit_op(kv, KV_OP_PUT, key, klen, val, vlen, 0, 0, flags);
}

int lmdb_del(steme_kv *kv, const uint8_t *key, size_t klen, unsigned flags)
{
    return submit_op(kv, KV_OP_DEL, key, klen, NULL, 0, 0, 0, flags);
}

int lmdb_add_u64(steme_kv *kv, const uint8_t *key, size_t klen, int64_t delta, unsigned flags)
{
    return submit_op(kv, KV_OP_ADD_U64, key, klen, NULL, 0, delta, 0, flags);
}

int lmdb_add_f64(steme_kv *kv, const uint8_t *key, size_t klen, double delta, unsigned flags)
{
    return submit_op(kv, KV_OP_ADD_F64, key, klen, NULL, 0, 0, delta, flags);
}

int lmdb_write(steme_kv *kv, const steme_kv_batch *b, unsigned flags)
{
    lmdb_req r = {.batch = b};
    return sync_if_asked((kv_lmdb *)kv, submit((kv_lmdb *)kv, &r), flags);
}
