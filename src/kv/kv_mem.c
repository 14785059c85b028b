/*
 * kv_mem.c - the MEM engine: an ordered in-memory map for tests of upper
 * layers. A skip list (Pugh 1990: expected O(log n) search, insert and
 * delete) with a level-0 back pointer for reverse scans, behind one
 * writer-preferring rwlock: reads and scans share it (a scan holds it for
 * its whole walk, so it sees one consistent state), writes and batches take
 * it exclusively, which makes every batch atomic for readers.
 *
 * A batch can fail half way (a counter add on a value that is not 8 bytes,
 * or out of memory), so every change it makes is first recorded in an undo
 * log kept by the handle: on failure the log is replayed backwards, on
 * success the replaced values and removed nodes it holds are freed.
 */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_int.h"

#define MEM_MAX_LEVEL 24 /* p = 1/4: plenty for 2^48 keys */

typedef struct mem_node {
    uint8_t *val; /* malloc'd; NULL when vlen == 0 */
    size_t vlen;
    uint32_t klen;
    uint8_t level;
    struct mem_node *prev; /* level-0 predecessor; the head for the first node */
    struct mem_node *next[]; /* `level` links, then the key bytes */
} mem_node;

typedef enum { UNDO_INSERT, UNDO_REPLACE, UNDO_DELETE, UNDO_COUNTER } undo_kind;

typedef struct mem_undo {
    undo_kind kind;
    mem_node *node;
    uint8_t *old_val; /* UNDO_REPLACE */
    size_t old_vlen;
    uint8_t old8[8];  /* UNDO_COUNTER */
} mem_undo;

typedef struct kv_mem {
    steme_kv base;
    pthread_rwlock_t lock;
    mem_node *head;
    uint64_t rng;      /* level generator state; written under the write lock */
    mem_undo *undo;    /* batch undo log; used under the write lock */
    size_t undo_n, undo_cap;
} kv_mem;

static uint8_t *node_key(mem_node *n)
{
    return (uint8_t *)&n->next[n->level];
}

static mem_node *node_new(kv_mem *m, const uint8_t *key, size_t klen)
{
    /* geometric level, p = 1/4, from a xorshift64 state */
    uint64_t x = m->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    m->rng = x;
    int level = 1;
    while (level < MEM_MAX_LEVEL && (x & 3) == 0) {
        level++;
        x >>= 2;
    }
    mem_node *n = malloc(sizeof *n + (size_t)level * sizeof(mem_node *) + klen);
    if (!n)
        return NULL;
    n->val = NULL;
    n->vlen = 0;
    n->klen = (uint32_t)klen;
    n->level = (uint8_t)level;
    n->prev = NULL;
    memcpy(node_key(n), key, klen);
    return n;
}

static void node_free(mem_node *n)
{
    free(n->val);
    free(n);
}

/* First node with key >= (key, klen), or NULL; update[i] = last node < key
 * at level i (the head if none). */
static mem_node *find_ge(kv_mem *m, const uint8_t *key, size_t klen, mem_node **update)
{
    mem_node *x = m->head;
    for (int i = MEM_MAX_LEVEL - 1; i >= 0; i--) {
        while (x->next[i] && kv_key_cmp(node_key(x->next[i]), x->next[i]->klen, key, klen) < 0)
            x = x->next[i];
        if (update)
            update[i] = x;
    }
    return x->next[0];
}

static int node_is(mem_node *n, const uint8_t *key, size_t klen)
{
    return n && kv_key_cmp(node_key(n), n->klen, key, klen) == 0;
}

static void link_node(mem_node *n, mem_node **update)
{
    for (int i = 0; i < n->level; i++) {
        n->next[i] = update[i]->next[i];
        update[i]->next[i] = n;
    }
    n->prev = update[0];
    if (n->next[0])
        n->next[0]->prev = n;
}

static void unlink_node(kv_mem *m, mem_node *n)
{
    mem_node *update[MEM_MAX_LEVEL];
    find_ge(m, node_key(n), n->klen, update);
    for (int i = 0; i < n->level; i++)
        if (update[i]->next[i] == n)
            update[i]->next[i] = n->next[i];
    if (n->next[0])
        n->next[0]->prev = n->prev;
}

/* --- changes, optionally recorded in the undo log ---------------------------- */

static int undo_push(kv_mem *m, const mem_undo *u)
{
    if (m->undo_n == m->undo_cap) {
        size_t ncap = m->undo_cap ? m->undo_cap * 2 : 64;
        mem_undo *a = realloc(m->undo, ncap * sizeof *a);
        if (!a)
            return STEME_E_NOMEM;
        m->undo = a;
        m->undo_cap = ncap;
    }
    m->undo[m->undo_n++] = *u;
    return STEME_OK;
}

/* Reserve the undo slot before changing anything, so a change is never made
 * without its record. */
static int undo_room(kv_mem *m, int logging)
{
    if (!logging || m->undo_n < m->undo_cap)
        return STEME_OK;
    mem_undo dummy = {0};
    int rc = undo_push(m, &dummy);
    if (rc == STEME_OK)
        m->undo_n--;
    return rc;
}

static int mem_do_put(kv_mem *m, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                      int logging)
{
    mem_node *update[MEM_MAX_LEVEL];
    mem_node *n = find_ge(m, key, klen, update);
    uint8_t *copy = NULL;
    if (vlen) {
        copy = malloc(vlen);
        if (!copy)
            return kv_fail(&m->base, STEME_E_NOMEM, "mem: out of memory for a %zu-byte value", vlen);
        memcpy(copy, val, vlen);
    }
    if (undo_room(m, logging) != STEME_OK) {
        free(copy);
        return kv_fail(&m->base, STEME_E_NOMEM, "mem: out of memory for the batch undo log");
    }
    if (node_is(n, key, klen)) {
        if (logging) {
            mem_undo u = {.kind = UNDO_REPLACE, .node = n, .old_val = n->val, .old_vlen = n->vlen};
            undo_push(m, &u);
        } else {
            free(n->val);
        }
        n->val = copy;
        n->vlen = vlen;
        return STEME_OK;
    }
    n = node_new(m, key, klen);
    if (!n) {
        free(copy);
        return kv_fail(&m->base, STEME_E_NOMEM, "mem: out of memory for a node");
    }
    n->val = copy;
    n->vlen = vlen;
    link_node(n, update);
    if (logging) {
        mem_undo u = {.kind = UNDO_INSERT, .node = n};
        undo_push(m, &u);
    }
    return STEME_OK;
}

static int mem_do_del(kv_mem *m, const uint8_t *key, size_t klen, int logging)
{
    mem_node *n = find_ge(m, key, klen, NULL);
    if (!node_is(n, key, klen))
        return STEME_OK;
    if (undo_room(m, logging) != STEME_OK)
        return kv_fail(&m->base, STEME_E_NOMEM, "mem: out of memory for the batch undo log");
    unlink_node(m, n);
    if (logging) {
        mem_undo u = {.kind = UNDO_DELETE, .node = n};
        undo_push(m, &u);
    } else {
        node_free(n);
    }
    return STEME_OK;
}

/* Counter add; is_f64 selects the arithmetic. */
static int mem_do_add(kv_mem *m, const uint8_t *key, size_t klen, int64_t di, double df,
                      int is_f64, int logging)
{
    mem_node *n = find_ge(m, key, klen, NULL);
    uint8_t v[8];
    if (!node_is(n, key, klen)) {
        uint64_t bits;
        if (is_f64)
            memcpy(&bits, &df, 8);
        else
            bits = (uint64_t)di;
        kv_u64_to_le(bits, v);
        return mem_do_put(m, key, klen, v, 8, logging);
    }
    if (n->vlen != 8)
        return kv_fail(&m->base, STEME_E_CORRUPT,
                       "mem: counter add on a %zu-byte value (a counter is 8 bytes)", n->vlen);
    if (undo_room(m, logging) != STEME_OK)
        return kv_fail(&m->base, STEME_E_NOMEM, "mem: out of memory for the batch undo log");
    if (logging) {
        mem_undo u = {.kind = UNDO_COUNTER, .node = n};
        memcpy(u.old8, n->val, 8);
        undo_push(m, &u);
    }
    uint64_t cur = kv_le_to_u64(n->val);
    if (is_f64) {
        double d;
        memcpy(&d, &cur, 8);
        d += df;
        memcpy(&cur, &d, 8);
    } else {
        cur += (uint64_t)di; /* wraps modulo 2^64 */
    }
    kv_u64_to_le(cur, n->val);
    return STEME_OK;
}

static void undo_finish(kv_mem *m, int commit)
{
    for (size_t i = m->undo_n; i-- > 0;) {
        mem_undo *u = &m->undo[i];
        switch (u->kind) {
        case UNDO_INSERT:
            if (!commit) {
                unlink_node(m, u->node);
                node_free(u->node);
            }
            break;
        case UNDO_REPLACE:
            if (commit) {
                free(u->old_val);
            } else {
                free(u->node->val);
                u->node->val = u->old_val;
                u->node->vlen = u->old_vlen;
            }
            break;
        case UNDO_DELETE:
            if (commit) {
                node_free(u->node);
            } else {
                mem_node *update[MEM_MAX_LEVEL];
                find_ge(m, node_key(u->node), u->node->klen, update);
                link_node(u->node, update);
            }
            break;
        case UNDO_COUNTER:
            if (!commit)
                memcpy(u->node->val, u->old8, 8);
            break;
        }
    }
    m->undo_n = 0;
}

/* --- vtable ------------------------------------------------------------------ */

static int mem_get_into(steme_kv *kv, const uint8_t *key, size_t klen, uint8_t *out, size_t cap,
                        size_t *vlen)
{
    kv_mem *m = (kv_mem *)kv;
    pthread_rwlock_rdlock(&m->lock);
    mem_node *n = find_ge(m, key, klen, NULL);
    int rc = STEME_E_NOTFOUND;
    *vlen = 0;
    if (node_is(n, key, klen)) {
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
    mem_node *n = find_ge(m, key, klen, NULL);
    int rc = STEME_E_NOTFOUND;
    if (node_is(n, key, klen)) {
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
    int rc = mem_do_put(m, key, klen, val, vlen, 0);
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

static int mem_del(steme_kv *kv, const uint8_t *key, size_t klen, unsigned flags)
{
    kv_mem *m = (kv_mem *)kv;
    pthread_rwlock_wrlock(&m->lock);
    int rc = mem_do_del(m, key, klen, 0);
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

static int mem_add_u64(steme_kv *kv, const uint8_t *key, size_t klen, int64_t delta,
                       unsigned flags)
{
    kv_mem *m = (kv_mem *)kv;
    pthread_rwlock_wrlock(&m->lock);
    int rc = mem_do_add(m, key, klen, delta, 0, 0, 0);
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

static int mem_add_f64(steme_kv *kv, const uint8_t *key, size_t klen, double delta,
                       unsigned flags)
{
    kv_mem *m = (kv_mem *)kv;
    pthread_rwlock_wrlock(&m->lock);
    int rc = mem_do_add(m, key, klen, 0, delta, 1, 0);
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
        mem_node *n = find_ge(m, kv_op_key(b, op), op->op_klen, NULL);
        int found = node_is(n, kv_op_key(b, op), op->op_klen);
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
            rc = mem_do_put(m, key, op->op_klen, kv_op_val(b, op), op->op_vlen, 1);
            break;
        case KV_OP_DEL:
            rc = mem_do_del(m, key, op->op_klen, 1);
            break;
        case KV_OP_ADD_U64:
            rc = mem_do_add(m, key, op->op_klen, op->op_delta.i, 0, 0, 1);
            break;
        case KV_OP_ADD_F64:
            rc = mem_do_add(m, key, op->op_klen, 0, op->op_delta.f, 1, 1);
            break;
        default:
            rc = kv_fail(kv, STEME_E_INTERNAL, "mem: batch op %zu has unknown kind %u", i,
                         op->op_kind);
        }
    }
    undo_finish(m, rc == STEME_OK);
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
        n = p.sp_seek ? find_ge(m, p.sp_seek, p.sp_seeklen, NULL) : m->head->next[0];
        for (; n; n = n->next[0])
            if (kv_scan_visit(&p, node_key(n), n->klen, n->val, n->vlen))
                break;
    } else {
        mem_node *update[MEM_MAX_LEVEL];
        if (p.sp_seek) {
            n = find_ge(m, p.sp_seek, p.sp_seeklen, update);
            if (!node_is(n, p.sp_seek, p.sp_seeklen))
                n = update[0]; /* last key < seek */
        } else {
            n = m->head;
            for (int i = MEM_MAX_LEVEL - 1; i >= 0; i--)
                while (n->next[i])
                    n = n->next[i];
        }
        for (; n != m->head; n = n->prev)
            if (kv_scan_visit(&p, node_key(n), n->klen, n->val, n->vlen))
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
        node_free(n);
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
