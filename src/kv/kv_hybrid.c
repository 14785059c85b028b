/*
 * kv_hybrid.c - the hybrid engine: LMDB (path/lmdb) for read-heavy families
 * and RocksDB (path/rocksdb) for write-heavy ones, each key routed by
 * steme_key_family_engine(steme_key_family_of(key)) (spec section 3).
 *
 * Rules:
 *   - a key of no known family is refused (STEME_E_INVALID): the router
 *     could not say where it lives, so it must not be stored anywhere;
 *   - a batch goes to one engine, whole; a batch with keys in both engines
 *     is refused with STEME_E_CROSS_ENGINE before anything is written, so
 *     every batch stays atomic without a cross-engine commit protocol; a
 *     precondition (steme_kv_batch_expect) counts as a key of the engine
 *     that owns it, so the sub-engine checks it inside its own atomic step;
 *   - calls go straight to the sub-engines' vtables: the front end (kv.c)
 *     has already checked the arguments;
 *   - a sub-engine's failure message is relayed into the hybrid handle's
 *     slot, so steme_kv_errmsg(hybrid) explains it.
 * Scans: kv_hybrid_scan.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kv/kv_hybrid_int.h"
#include "steme/keys.h"

static inline kv_hybrid *H(steme_kv *kv)
{
    return (kv_hybrid *)kv;
}

int kv_hybrid_relay(kv_hybrid *h, steme_kv *sub, int rc)
{
    if (rc == STEME_OK || rc == STEME_E_NOTFOUND)
        return rc;
    steme_error *e = steme_errslot_get(&sub->kv_err);
    if (e && e->code == rc)
        return kv_fail(&h->hy_base, rc, "%s: %s", sub->kv_vt->name, e->message);
    return kv_fail(&h->hy_base, rc, "%s: %s", sub->kv_vt->name, steme_strerror(rc));
}

/* The sub-engine a key belongs to, or NULL (failure recorded) if none. */
static steme_kv *route(kv_hybrid *h, const uint8_t *key, size_t klen)
{
    switch (steme_key_family_engine(steme_key_family_of(key, klen))) {
    case STEME_KV_LMDB:
        return h->hy_lmdb;
    case STEME_KV_ROCKSDB:
        return h->hy_rdb;
    default:
        kv_fail(&h->hy_base, STEME_E_INVALID, "hybrid: key belongs to no family");
        return NULL;
    }
}

static void kv_hybrid_close(steme_kv *kv)
{
    kv_hybrid *h = H(kv);
    if (h->hy_lmdb)
        h->hy_lmdb->kv_vt->close(h->hy_lmdb);
    if (h->hy_rdb)
        h->hy_rdb->kv_vt->close(h->hy_rdb);
    kv_base_destroy(&h->hy_base);
    free(h);
}

static int kv_hybrid_get(steme_kv *kv, const uint8_t *key, size_t klen, steme_buf *out)
{
    kv_hybrid *h = H(kv);
    steme_kv *sub = route(h, key, klen);
    if (!sub) {
        out->len = 0;
        return STEME_E_INVALID;
    }
    return kv_hybrid_relay(h, sub, sub->kv_vt->get(sub, key, klen, out));
}

static int kv_hybrid_get_into(steme_kv *kv, const uint8_t *key, size_t klen, uint8_t *out,
                              size_t cap, size_t *vlen)
{
    kv_hybrid *h = H(kv);
    steme_kv *sub = route(h, key, klen);
    *vlen = 0;
    if (!sub)
        return STEME_E_INVALID;
    if (sub->kv_vt->get_into)
        return kv_hybrid_relay(h, sub, sub->kv_vt->get_into(sub, key, klen, out, cap, vlen));
    steme_buf b = STEME_BUF_INIT;
    int rc = sub->kv_vt->get(sub, key, klen, &b);
    if (rc == STEME_OK) {
        *vlen = b.len;
        if (cap && b.len)
            memcpy(out, b.data, b.len < cap ? b.len : cap);
    }
    steme_buf_free(&b);
    return kv_hybrid_relay(h, sub, rc);
}

static int sub_multi_get(steme_kv *sub, size_t n, const void *const *keys, const size_t *klens,
                         steme_buf *vals, int *statuses)
{
    if (sub->kv_vt->multi_get)
        return sub->kv_vt->multi_get(sub, n, keys, klens, vals, statuses);
    int first = STEME_OK;
    for (size_t i = 0; i < n; i++) {
        int st = sub->kv_vt->get(sub, keys[i], klens[i], &vals[i]);
        statuses[i] = st;
        if (st != STEME_OK && st != STEME_E_NOTFOUND && first == STEME_OK)
            first = st;
    }
    return first;
}

/*
 * Keys of both engines: gather each engine's keys (and the caller's buffers,
 * moved, not copied) into scratch arrays, run one multi-get per engine, move
 * the buffers back. One allocation per call.
 */
static int multi_get_split(kv_hybrid *h, size_t n, const void *const *keys, const size_t *klens,
                           steme_buf *vals, int *statuses, const uint8_t *is_rdb)
{
    size_t each = sizeof(void *) + sizeof(size_t) + sizeof(steme_buf) + sizeof(int) +
                  sizeof(size_t);
    if (n > SIZE_MAX / each)
        return kv_fail(&h->hy_base, STEME_E_NOMEM, "hybrid multi_get: too many keys");
    void *mem = malloc(n * each);
    if (!mem)
        return kv_fail(&h->hy_base, STEME_E_NOMEM, "hybrid multi_get: out of memory");
    steme_buf *sb = mem;
    const void **sk = (const void **)(sb + n);
    size_t *sl = (size_t *)(sk + n);
    size_t *idx = sl + n;
    int *ss = (int *)(idx + n);
    int first = STEME_OK;
    for (int pass = 0; pass < 2; pass++) {
        steme_kv *sub = pass ? h->hy_rdb : h->hy_lmdb;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (is_rdb[i] == pass) {
                idx[m] = i, sk[m] = keys[i], sl[m] = klens[i], sb[m] = vals[i];
                m++;
            }
        if (m == 0)
            continue;
        int rc = sub_multi_get(sub, m, sk, sl, sb, ss);
        for (size_t j = 0; j < m; j++) {
            vals[idx[j]] = sb[j];
            statuses[idx[j]] = ss[j];
        }
        if (rc != STEME_OK && first == STEME_OK)
            first = kv_hybrid_relay(h, sub, rc);
    }
    free(mem);
    return first;
}

#define KV_HY_MGET_STACK 64

static int kv_hybrid_multi_get(steme_kv *kv, size_t n, const void *const *keys,
                               const size_t *klens, steme_buf *vals, int *statuses)
{
    kv_hybrid *h = H(kv);
    uint8_t is_rdb_s[KV_HY_MGET_STACK], *is_rdb = is_rdb_s;
    if (n == 0)
        return STEME_OK;
    if (n > KV_HY_MGET_STACK && !(is_rdb = malloc(n)))
        return kv_fail(kv, STEME_E_NOMEM, "hybrid multi_get: out of memory");
    size_t nrdb = 0;
    int rc = STEME_OK;
    /* Route every key first: an unroutable key fails the call up front. */
    for (size_t i = 0; i < n; i++) {
        steme_kv *sub = route(h, keys[i], klens[i]);
        if (!sub) {
            rc = STEME_E_INVALID;
            goto done;
        }
        is_rdb[i] = sub == h->hy_rdb;
        nrdb += is_rdb[i];
    }
    if (nrdb == 0 || nrdb == n) {
        steme_kv *sub = nrdb ? h->hy_rdb : h->hy_lmdb;
        rc = kv_hybrid_relay(h, sub, sub_multi_get(sub, n, keys, klens, vals, statuses));
    } else {
        rc = multi_get_split(h, n, keys, klens, vals, statuses, is_rdb);
    }
done:
    if (is_rdb != is_rdb_s)
        free(is_rdb);
    return rc;
}

static int kv_hybrid_put(steme_kv *kv, const uint8_t *key, size_t klen, const uint8_t *val,
                         size_t vlen, unsigned flags)
{
    kv_hybrid *h = H(kv);
    steme_kv *sub = route(h, key, klen);
    return sub ? kv_hybrid_relay(h, sub, sub->kv_vt->put(sub, key, klen, val, vlen, flags))
               : STEME_E_INVALID;
}

static int kv_hybrid_del(steme_kv *kv, const uint8_t *key, size_t klen, unsigned flags)
{
    kv_hybrid *h = H(kv);
    steme_kv *sub = route(h, key, klen);
    return sub ? kv_hybrid_relay(h, sub, sub->kv_vt->del(sub, key, klen, flags))
               : STEME_E_INVALID;
}

static int kv_hybrid_add_u64(steme_kv *kv, const uint8_t *key, size_t klen, int64_t delta,
                             unsigned flags)
{
    kv_hybrid *h = H(kv);
    steme_kv *sub = route(h, key, klen);
    return sub ? kv_hybrid_relay(h, sub, sub->kv_vt->add_u64(sub, key, klen, delta, flags))
               : STEME_E_INVALID;
}

static int kv_hybrid_add_f64(steme_kv *kv, const uint8_t *key, size_t klen, double delta,
                             unsigned flags)
{
    kv_hybrid *h = H(kv);
    steme_kv *sub = route(h, key, klen);
    return sub ? kv_hybrid_relay(h, sub, sub->kv_vt->add_f64(sub, key, klen, delta, flags))
               : STEME_E_INVALID;
}

static int kv_hybrid_write(steme_kv *kv, const steme_kv_batch *b, unsigned flags)
{
    kv_hybrid *h = H(kv);
    steme_kv *target = NULL;
    for (size_t i = 0; i < b->b_n; i++) {
        const kv_op *op = &b->b_ops[i];
        steme_kv *sub = route(h, kv_op_key(b, op), op->op_klen);
        if (!sub)
            return kv_fail(kv, STEME_E_INVALID,
                           "hybrid write: operation %zu: key belongs to no family", i);
        if (target && sub != target)
            return kv_fail(kv, STEME_E_CROSS_ENGINE,
                           "hybrid write: operation %zu goes to %s but earlier ones to %s; "
                           "nothing was written",
                           i, sub->kv_vt->name, target->kv_vt->name);
        target = sub;
    }
    if (!target)
        return STEME_OK; /* empty batch */
    return kv_hybrid_relay(h, target, target->kv_vt->write(target, b, flags));
}

static int kv_hybrid_sync(steme_kv *kv)
{
    kv_hybrid *h = H(kv);
    int rc = kv_hybrid_relay(h, h->hy_lmdb, h->hy_lmdb->kv_vt->sync(h->hy_lmdb));
    int rc2 = kv_hybrid_relay(h, h->hy_rdb, h->hy_rdb->kv_vt->sync(h->hy_rdb));
    return rc != STEME_OK ? rc : rc2;
}

static const kv_vtable kv_hybrid_vtable = {
    .name = "hybrid",
    .close = kv_hybrid_close,
    .get = kv_hybrid_get,
    .multi_get = kv_hybrid_multi_get,
    .get_into = kv_hybrid_get_into,
    .put = kv_hybrid_put,
    .del = kv_hybrid_del,
    .add_u64 = kv_hybrid_add_u64,
    .add_f64 = kv_hybrid_add_f64,
    .scan = kv_hybrid_scan,
    .write = kv_hybrid_write,
    .sync = kv_hybrid_sync,
};

int kv_hybrid_open(const char *path, const steme_kv_options *o, steme_kv **out,
                   steme_error *err)
{
    steme_kv_options defaults;
    char sub_path[4096];
    int rc;
    *out = NULL;
    if (!path || !*path)
        return steme_err(err, STEME_E_INVALID, "hybrid: a directory path is required");
    if (strlen(path) > sizeof sub_path - sizeof "/rocksdb")
        return steme_err(err, STEME_E_INVALID, "hybrid: path is too long");
    if (!o) {
        steme_kv_options_init(&defaults);
        o = &defaults;
    }
    if (o->create_if_missing && mkdir(path, 0755) != 0 && errno != EEXIST)
        return steme_err(err, STEME_E_IO, "hybrid: cannot create %s: %s", path, strerror(errno));
    kv_hybrid *h = calloc(1, sizeof *h);
    if (!h)
        return steme_err(err, STEME_E_NOMEM, "hybrid: out of memory");
    if (kv_base_init(&h->hy_base, &kv_hybrid_vtable, STEME_KV_HYBRID) != STEME_OK) {
        free(h);
        return steme_err(err, STEME_E_NOMEM, "hybrid: cannot create the error slot");
    }
    snprintf(sub_path, sizeof sub_path, "%s/lmdb", path);
    if ((rc = kv_lmdb_open(sub_path, o, &h->hy_lmdb, err)) != STEME_OK)
        goto fail;
    snprintf(sub_path, sizeof sub_path, "%s/rocksdb", path);
    if ((rc = kv_rocksdb_open(sub_path, o, &h->hy_rdb, err)) != STEME_OK)
        goto fail;
    *out = &h->hy_base;
    return STEME_OK;
fail:
    kv_hybrid_close(&h->hy_base);
    return rc;
}
