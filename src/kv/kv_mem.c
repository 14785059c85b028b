/*
 * kv_mem.c - the MEM engine's vtable: reads and scans under the shared
 * lock, writes and batches under the exclusive one (the skip list and the
 * batch undo log are kv_mem_list.c).
 */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_mem_int.h"

/* --- vtable ------------------------------------------------------------------ */

static int mem_get_into(steme_kv *kv, const uint8_t *key, size_t klen, uint8_t *out, size_t cap,
                        size_t *vlen)
{
    kv_mem *m = (kv_mem *)kv;
    pthread_rwlock_rdlock(&m->lock);
    mem_node *n = kv_mem_find_ge(m, key, klen, NULL);
    int rc = STEME_E_NOTFOUND;
    *vlen = 0;
    if (kv_mem_node_is(n, key, klen)) {
        *vlen = n->vlen;
        if (n->vlen)
            memcpy(out, n->val, n->vlen < cap ? n->vlen : cap);
        rc = STEME_OK;
    }
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

static int mem_get(steme_kv *kv, const uint8_t *key, size_t klen, steme_buf *out)
{
    kv_mem *m = (kv_mem *)kv;
    pthread_rwlock_rdlock(&m->lock);
    mem_node *n = kv_mem_find_ge(m, key, klen, NULL);
    int rc = STEME_E_NOTFOUND;
    if (kv_mem_node_is(n, key, klen)) {
        rc = steme_buf_set(out, n->val, n->vlen);
        if (rc != STEME_OK)
            rc = kv_fail(kv, rc, "mem: out of memory copying a %zu-byte value", n->vlen);
    }
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

static int mem_put(steme_kv *kv, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                   unsigned flags)
{
    kv_mem *m = (kv_mem *)kv;
    pthread_rwlock_wrlock(&m->lock);
    int rc = kv_mem_do_put(m, key, klen, val, vlen, 0);
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

static int mem_del(steme_kv *kv, const uint8_t *key, size_t klen, unsigned flags)
{
    kv_mem *m = (kv_mem *)kv;
    pthread_rwlock_wrlock(&m->lock);
    int rc = kv_mem_do_del(m, key, klen, 0);
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

static int mem_add_u64(steme_kv *kv, const uint8_t *key, size_t klen, int64_t delta,
                       unsigned flags)
{
    kv_mem *m = (kv_mem *)kv;
    pthread_rwlock_wrlock(&m->lock);
    int rc = kv_mem_do_add(m, key, klen, delta, 0, 0, 0);
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

static int mem_add_f64(steme_kv *kv, const uint8_t *key, size_t klen, double delta,
                       unsigned flags)
{
    kv_mem *m = (kv_mem *)kv;
    pthread_rwlock_wrlock(&m->lock);
    int rc = kv_mem_do_add(m, key, klen, 0, delta, 1, 0);
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

static int mem_write(steme_kv *kv, const steme_kv_batch *b, unsigned flags)
{
    kv_mem *m = (kv_mem *)kv;
    int rc = STEME_OK;
    pthread_rwlock_wrlock(&m->lock);
    /* preconditions first, against the state before the batch, under the
     * same write lock as the writes: nothing can come in between */
    for (size_t i = 0; i < b->b_n; i++) {
        const kv_op *op = &b->b_ops[i];
        if (op->op_kind != KV_OP_EXPECT)
            continue;
        mem_node *n = kv_mem_find_ge(m, kv_op_key(b, op), op->op_klen, NULL);
        int found = kv_mem_node_is(n, kv_op_key(b, op), op->op_klen);
        if (!kv_expect_holds(b, op, found, found ? n->val : NULL, found ? n->vlen : 0)) {
            pthread_rwlock_unlock(&m->lock);
            return kv_fail(kv, STEME_E_BUSY, "mem write: %s", KV_EXPECT_FAILED_MSG);
        }
    }
    for (size_t i = 0; i < b->b_n && rc == STEME_OK; i++) {
        const kv_op *op = &b->b_ops[i];
        const uint8_t *key = kv_op_key(b, op);
        switch (op->op_kind) {
        case KV_OP_EXPECT:
            break; /* checked above */
        case KV_OP_PUT:
            rc = kv_mem_do_put(m, key, op->op_klen, kv_op_val(b, op), op->op_vlen, 1);
            break;
        case KV_OP_DEL:
            rc = kv_mem_do_del(m, key, op->op_klen, 1);
            break;
        case KV_OP_ADD_U64:
            rc = kv_mem_do_add(m, key, op->op_klen, op->op_delta.i, 0, 0, 1);
            break;
        case KV_OP_ADD_F64:
            rc = kv_mem_do_add(m, key, op->op_klen, 0, op->op_delta.f, 1, 1);
            break;
        default:
            rc = kv_fail(kv, STEME_E_INTERNAL, "mem: batch op %zu has unknown kind %u", i,
                         op->op_kind);
        }
    }
    kv_mem_undo_finish(m, rc == STEME_OK);
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

static int mem_scan(steme_kv *kv, const uint8_t *prefix, size_t plen, const uint8_t *after,
                    size_t alen, size_t limit, unsigned flags, steme_kv_scan_fn fn, void *ctx,
                    size_t *visited)
{
    kv_mem *m = (kv_mem *)kv;
    kv_scan_plan p;
    kv_scan_plan_init(&p, prefix, plen, after, alen, limit, flags, fn, ctx);
    pthread_rwlock_rdlock(&m->lock);
    mem_node *n;
    if (!p.sp_reverse) {
        n = p.sp_seek ? kv_mem_find_ge(m, p.sp_seek, p.sp_seeklen, NULL) : m->head->next[0];
        for (; n; n = n->next[0])
            if (kv_scan_visit(&p, kv_mem_node_key(n), n->klen, n->val, n->vlen))
                break;
    } else {
        mem_node *update[MEM_MAX_LEVEL];
        if (p.sp_seek) {
            n = kv_mem_find_ge(m, p.sp_seek, p.sp_seeklen, update);
            if (!kv_mem_node_is(n, p.sp_seek, p.sp_seeklen))
                n = update[0]; /* last key < seek */
        } else {
            n = m->head;
            for (int i = MEM_MAX_LEVEL - 1; i >= 0; i--)
                while (n->next[i])
                    n = n->next[i];
        }
        for (; n != m->head; n = n->prev)
            if (kv_scan_visit(&p, kv_mem_node_key(n), n->klen, n->val, n->vlen))
                break;
    }
    pthread_rwlock_unlock(&m->lock);
    if (visited)
        *visited = p.sp_visited;
    return STEME_OK;
}

static int mem_sync(steme_kv *kv)
{
    return STEME_OK; /* nothing is durable in memory */
}

static void mem_close(steme_kv *kv)
{
    kv_mem *m = (kv_mem *)kv;
    mem_node *n = m->head->next[0];
    while (n) {
        mem_node *next = n->next[0];
        kv_mem_node_free(n);
        n = next;
    }
    free(m->head);
    free(m->undo);
    pthread_rwlock_destroy(&m->lock);
    kv_base_destroy(kv);
    free(m);
}

static const kv_vtable mem_vtable = {
    .name = "mem",
    .close = mem_close,
    .get = mem_get,
    .multi_get = NULL,
    .get_into = mem_get_into,
    .put = mem_put,
    .del = mem_del,
    .add_u64 = mem_add_u64,
    .add_f64 = mem_add_f64,
    .scan = mem_scan,
    .write = mem_write,
    .sync = mem_sync,
};

int kv_mem_open(const steme_kv_options *o, steme_kv **out, steme_error *err)
{
    kv_mem *m = calloc(1, sizeof *m);
    if (!m)
        return steme_err(err, STEME_E_NOMEM, "mem: out of memory for the handle");
    m->head = calloc(1, sizeof(mem_node) + MEM_MAX_LEVEL * sizeof(mem_node *));
    if (!m->head) {
        free(m);
        return steme_err(err, STEME_E_NOMEM, "mem: out of memory for the handle");
    }
    m->head->level = MEM_MAX_LEVEL;
    m->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)m;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* writers must not starve behind a stream of overlapping scans */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int prc = pthread_rwlock_init(&m->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (prc != 0 || kv_base_init(&m->base, &mem_vtable, STEME_KV_MEM) != STEME_OK) {
        if (prc == 0)
            pthread_rwlock_destroy(&m->lock);
        free(m->head);
        free(m);
        return steme_err(err, STEME_E_NOMEM, "mem: cannot initialise locks");
    }
    *out = &m->base;
    return STEME_OK;
}
