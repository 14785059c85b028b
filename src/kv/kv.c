/*
 * kv.c - the KV front end: options, open/close, argument checks for every
 * public call, dispatch through the engine's vtable, and the helpers that
 * every engine shares (key order, scan planning, counter reads).
 *
 * Engines may assume what is checked here: keys are 1..STEME_KV_MAX_KEY
 * bytes, values <= STEME_KV_MAX_VALUE, pointers non-NULL, f64 deltas finite,
 * flags known. So every bad-input message is written once, here.
 */
#include <math.h>
#include <string.h>

#include "kv/kv_int.h"
#include "kv/kv_pg_int.h"
#include "kv/kv_prefix.h"

#define KV_WRITE_FLAGS (STEME_KV_SYNC | STEME_KV_NO_ENGINE_LOG)
#define KV_SCAN_FLAGS STEME_SCAN_REVERSE

/* --- options, engines, handle head ---------------------------------------- */

void steme_kv_options_init(steme_kv_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->create_if_missing = 1;
    opts->lmdb_map_size = (size_t)64 << 30;
    opts->rocksdb_cache_bytes = (size_t)64 << 20;
    opts->rocksdb_write_buffer = (size_t)64 << 20;
    opts->rocksdb_votes_write_buffer = (size_t)4 << 20;
    opts->rocksdb_bloom_bits = 10;
    opts->pg_pool_size = 8;
    opts->pg_table = "kv";
    opts->pg_retry_ms = 30000;
}

const char *steme_kv_engine_name(steme_kv_engine engine)
{
    switch (engine) {
    case STEME_KV_MEM: return "mem";
    case STEME_KV_LMDB: return "lmdb";
    case STEME_KV_ROCKSDB: return "rocksdb";
    case STEME_KV_HYBRID: return "hybrid";
    case STEME_KV_PG: return "pg";
    }
    return "unknown";
}

int kv_base_init(steme_kv *kv, const kv_vtable *vt, steme_kv_engine engine)
{
    kv->kv_vt = vt;
    kv->kv_engine = engine;
    kv->kv_fault_after = 0;
    atomic_init(&kv->kv_writes, 0);
    return steme_errslot_init(&kv->kv_err);
}

void kv_base_destroy(steme_kv *kv)
{
    steme_errslot_destroy(&kv->kv_err);
}

int steme_kv_open(steme_kv_engine engine, const char *path, const steme_kv_options *opts,
                  steme_kv **out, steme_error *err)
{
    if (!out)
        return steme_err(err, STEME_E_INVALID, "steme_kv_open: out is NULL");
    *out = NULL;
    steme_kv_options defaults;
    if (!opts) {
        steme_kv_options_init(&defaults);
        opts = &defaults;
    }
    if (engine != STEME_KV_MEM && (!path || !*path))
        return steme_err(err, STEME_E_INVALID, "steme_kv_open: engine %s needs %s",
                         steme_kv_engine_name(engine),
                         engine == STEME_KV_PG ? "a connection string" : "a directory path");
    int rc;
    switch (engine) {
    case STEME_KV_MEM: rc = kv_mem_open(opts, out, err); break;
    case STEME_KV_LMDB: rc = kv_lmdb_open(path, opts, out, err); break;
    case STEME_KV_ROCKSDB: rc = kv_rocksdb_open(path, opts, out, err); break;
    case STEME_KV_HYBRID: rc = kv_hybrid_open(path, opts, out, err); break;
    case STEME_KV_PG: rc = kv_pg_open(path, opts, out, err); break;
    default:
        return steme_err(err, STEME_E_INVALID, "steme_kv_open: unknown engine %d", (int)engine);
    }
    if (rc == STEME_OK)
        (*out)->kv_fault_after = opts->fault_write_after; /* the outer handle only */
    return rc;
}

void steme_kv_close(steme_kv *kv)
{
    if (kv)
        kv->kv_vt->close(kv);
}

steme_kv_engine steme_kv_engine_of(const steme_kv *kv)
{
    return kv ? kv->kv_engine : (steme_kv_engine)0;
}

const char *steme_kv_errmsg(steme_kv *kv)
{
    return kv ? steme_errslot_message(&kv->kv_err) : "steme_kv_errmsg: kv is NULL";
}

/* --- argument checks ------------------------------------------------------ */

static int check_key(steme_kv *kv, const char *fn, const void *key, size_t klen)
{
    if (!key)
        return kv_fail(kv, STEME_E_INVALID, "%s: key is NULL", fn);
    if (klen == 0)
        return kv_fail(kv, STEME_E_INVALID, "%s: key is empty (keys are 1..%u bytes)", fn,
                       STEME_KV_MAX_KEY);
    if (klen > STEME_KV_MAX_KEY)
        return kv_fail(kv, STEME_E_TOO_BIG, "%s: key is %zu bytes, the maximum is %u", fn, klen,
                       STEME_KV_MAX_KEY);
    return STEME_OK;
}

static int check_flags(steme_kv *kv, const char *fn, unsigned flags, unsigned allowed)
{
    if (flags & ~allowed)
        return kv_fail(kv, STEME_E_INVALID, "%s: unknown flags 0x%x", fn, flags & ~allowed);
    if ((flags & STEME_KV_SYNC) && (flags & STEME_KV_NO_ENGINE_LOG))
        return kv_fail(kv, STEME_E_INVALID, "%s: STEME_KV_SYNC and STEME_KV_NO_ENGINE_LOG "
                       "contradict each other", fn);
    return STEME_OK;
}

/* --- reads ---------------------------------------------------------------- */

int steme_kv_get(steme_kv *kv, const void *key, size_t klen, steme_buf *out)
{
    if (!kv)
        return STEME_E_INVALID;
    int rc = check_key(kv, "steme_kv_get", key, klen);
    if (rc != STEME_OK)
        return rc;
    if (!out)
        return kv_fail(kv, STEME_E_INVALID, "steme_kv_get: out buffer is NULL");
    out->len = 0;
    rc = kv->kv_vt->get(kv, key, klen, out);
    if (rc != STEME_OK)
        out->len = 0;
    return rc;
}

int steme_kv_multi_get(steme_kv *kv, size_t n, const void *const *keys, const size_t *klens,
                       steme_buf *vals, int *statuses)
{
    if (!kv)
        return STEME_E_INVALID;
    if (n == 0)
        return STEME_OK;
    if (!keys || !klens || !vals || !statuses)
        return kv_fail(kv, STEME_E_INVALID,
                       "steme_kv_multi_get: keys, klens, vals and statuses must be non-NULL");
    for (size_t i = 0; i < n; i++) {
        int rc = check_key(kv, "steme_kv_multi_get", keys[i], klens[i]);
        if (rc != STEME_OK)
            return rc;
    }
    if (kv->kv_vt->multi_get)
        return kv->kv_vt->multi_get(kv, n, keys, klens, vals, statuses);
    for (size_t i = 0; i < n; i++) {
        vals[i].len = 0;
        int rc = kv->kv_vt->get(kv, keys[i], klens[i], &vals[i]);
        if (rc != STEME_OK && rc != STEME_E_NOTFOUND) {
            vals[i].len = 0;
            statuses[i] = rc;
            return rc;
        }
        if (rc != STEME_OK)
            vals[i].len = 0;
        statuses[i] = rc;
    }
    return STEME_OK;
}

/* Shared by get_u64/get_f64: fetch exactly 8 bytes into raw[]. */
static int get_counter(steme_kv *kv, const char *fn, const void *key, size_t klen, void *value,
                       uint8_t raw[8])
{
    if (!kv)
        return STEME_E_INVALID;
    int rc = check_key(kv, fn, key, klen);
    if (rc != STEME_OK)
        return rc;
    if (!value)
        return kv_fail(kv, STEME_E_INVALID, "%s: value is NULL", fn);
    size_t vlen = 0;
    if (kv->kv_vt->get_into) {
        /* a counter is 8 bytes: read straight into raw[], no allocation */
        rc = kv->kv_vt->get_into(kv, key, klen, raw, 8, &vlen);
    } else {
        steme_buf b = STEME_BUF_INIT;
        rc = kv->kv_vt->get(kv, key, klen, &b);
        vlen = b.len;
        if (rc == STEME_OK && vlen == 8)
            memcpy(raw, b.data, 8);
        steme_buf_free(&b);
    }
    if (rc == STEME_OK && vlen != 8)
        rc = kv_fail(kv, STEME_E_CORRUPT, "%s: value is %zu bytes, a counter is 8", fn, vlen);
    return rc;
}

int steme_kv_get_u64(steme_kv *kv, const void *key, size_t klen, uint64_t *value)
{
    uint8_t raw[8];
    if (value)
        *value = 0;
    int rc = get_counter(kv, "steme_kv_get_u64", key, klen, value, raw);
    if (rc == STEME_OK)
        *value = kv_le_to_u64(raw);
    return rc;
}

int steme_kv_get_f64(steme_kv *kv, const void *key, size_t klen, double *value)
{
    uint8_t raw[8];
    if (value)
        *value = 0;
    int rc = get_counter(kv, "steme_kv_get_f64", key, klen, value, raw);
    if (rc == STEME_OK) {
        uint64_t bits = kv_le_to_u64(raw);
        memcpy(value, &bits, 8);
    }
    return rc;
}

int steme_kv_scan(steme_kv *kv, const void *prefix, size_t plen, const void *after,
                  size_t alen, size_t limit, unsigned flags, steme_kv_scan_fn fn, void *ctx,
                  size_t *visited)
{
    if (visited)
        *visited = 0;
    if (!kv)
        return STEME_E_INVALID;
    if (!fn)
        return kv_fail(kv, STEME_E_INVALID, "steme_kv_scan: callback is NULL");
    if (plen && !prefix)
        return kv_fail(kv, STEME_E_INVALID, "steme_kv_scan: prefix is NULL but plen is %zu",
                       plen);
    if (plen > STEME_KV_MAX_KEY)
        return kv_fail(kv, STEME_E_TOO_BIG, "steme_kv_scan: prefix is %zu bytes, the maximum is %u",
                       plen, STEME_KV_MAX_KEY);
    if (after) {
        int rc = check_key(kv, "steme_kv_scan (after)", after, alen);
        if (rc != STEME_OK)
            return rc;
    } else if (alen) {
        return kv_fail(kv, STEME_E_INVALID, "steme_kv_scan: after is NULL but alen is %zu", alen);
    }
    int rc = check_flags(kv, "steme_kv_scan", flags, KV_SCAN_FLAGS);
    if (rc != STEME_OK)
        return rc;
    return kv->kv_vt->scan(kv, prefix, plen, after, alen, limit, flags, fn, ctx, visited);
}

/* --- writes --------------------------------------------------------------- */

int steme_kv_put(steme_kv *kv, const void *key, size_t klen, const void *val, size_t vlen,
                 unsigned flags)
{
    if (!kv)
        return STEME_E_INVALID;
    int rc = check_key(kv, "steme_kv_put", key, klen);
    if (rc != STEME_OK)
        return rc;
    if (!val && vlen)
        return kv_fail(kv, STEME_E_INVALID, "steme_kv_put: value is NULL but vlen is %zu", vlen);
    if (vlen > STEME_KV_MAX_VALUE)
        return kv_fail(kv, STEME_E_TOO_BIG, "steme_kv_put: value is %zu bytes, the maximum is %u",
                       vlen, STEME_KV_MAX_VALUE);
    rc = check_flags(kv, "steme_kv_put", flags, KV_WRITE_FLAGS);
    if (rc != STEME_OK)
        return rc;
    static const uint8_t empty[1];
    return kv->kv_vt->put(kv, key, klen, vlen ? val : empty, vlen, flags);
}

int steme_kv_delete(steme_kv *kv, const void *key, size_t klen, unsigned flags)
{
    if (!kv)
        return STEME_E_INVALID;
    int rc = check_key(kv, "steme_kv_delete", key, klen);
    if (rc == STEME_OK)
        rc = check_flags(kv, "steme_kv_delete", flags, KV_WRITE_FLAGS);
    if (rc != STEME_OK)
        return rc;
    return kv->kv_vt->del(kv, key, klen, flags);
}

int steme_kv_add_u64(steme_kv *kv, const void *key, size_t klen, int64_t delta, unsigned flags)
{
    if (!kv)
        return STEME_E_INVALID;
    int rc = check_key(kv, "steme_kv_add_u64", key, klen);
    if (rc == STEME_OK)
        rc = check_flags(kv, "steme_kv_add_u64", flags, KV_WRITE_FLAGS);
    if (rc != STEME_OK)
        return rc;
    return kv->kv_vt->add_u64(kv, key, klen, delta, flags);
}

int steme_kv_add_f64(steme_kv *kv, const void *key, size_t klen, double delta, unsigned flags)
{
    if (!kv)
        return STEME_E_INVALID;
    int rc = check_key(kv, "steme_kv_add_f64", key, klen);
    if (rc == STEME_OK)
        rc = check_flags(kv, "steme_kv_add_f64", flags, KV_WRITE_FLAGS);
    if (rc != STEME_OK)
        return rc;
    if (!isfinite(delta))
        return kv_fail(kv, STEME_E_INVALID, "steme_kv_add_f64: delta is not finite (%g)", delta);
    return kv->kv_vt->add_f64(kv, key, klen, delta, flags);
}

int steme_kv_write(steme_kv *kv, const steme_kv_batch *b, unsigned flags)
{
    if (!kv)
        return STEME_E_INVALID;
    if (!b)
        return kv_fail(kv, STEME_E_INVALID, "steme_kv_write: batch is NULL");
    int rc = check_flags(kv, "steme_kv_write", flags, KV_WRITE_FLAGS);
    if (rc != STEME_OK)
        return rc;
    if (b->b_n == 0)
        return STEME_OK;
    if (kv->kv_fault_after && atomic_fetch_add(&kv->kv_writes, 1) >= kv->kv_fault_after)
        return kv_fail(kv, STEME_E_IO, "steme_kv_write: injected fault (fault_write_after = %llu)",
                       (unsigned long long)kv->kv_fault_after);
    return kv->kv_vt->write(kv, b, flags);
}

int steme_kv_sync(steme_kv *kv)
{
    if (!kv)
        return STEME_E_INVALID;
    return kv->kv_vt->sync(kv);
}

/* --- helpers shared by engines -------------------------------------------- */

int kv_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

void kv_scan_plan_init(kv_scan_plan *p, const uint8_t *prefix, size_t plen,
                       const uint8_t *after, size_t alen, size_t limit, unsigned flags,
                       steme_kv_scan_fn fn, void *ctx)
{
    p->sp_prefix = prefix;
    p->sp_plen = plen;
    p->sp_after = after;
    p->sp_alen = after ? alen : 0;
    p->sp_reverse = (flags & STEME_SCAN_REVERSE) != 0;
    p->sp_limit = limit;
    p->sp_visited = 0;
    p->sp_fn = fn;
    p->sp_ctx = ctx;
    p->sp_seek = NULL;
    p->sp_seeklen = 0;
    if (!p->sp_reverse) {
        /* forward: start at max(prefix, after); after itself is skipped */
        if (after && kv_key_cmp(after, alen, prefix, plen) > 0) {
            p->sp_seek = after;
            p->sp_seeklen = alen;
        } else if (plen) {
            p->sp_seek = prefix;
            p->sp_seeklen = plen;
        }
        return;
    }
    /* reverse: start at min(after, successor(prefix)). The successor is the
     * prefix with trailing 0xFF bytes dropped and its last byte incremented;
     * none exists for an empty or all-0xFF prefix (start at the end). */
    size_t slen = kv_prefix_successor(prefix, plen, p->sp_succ);
    if (slen) {
        p->sp_seek = p->sp_succ;
        p->sp_seeklen = slen;
    }
    if (after && (!p->sp_seek || kv_key_cmp(after, alen, p->sp_seek, p->sp_seeklen) < 0)) {
        p->sp_seek = after;
        p->sp_seeklen = alen;
    }
}

int kv_scan_visit(kv_scan_plan *p, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen)
{
    if (!p->sp_reverse) {
        if (p->sp_after && kv_key_cmp(key, klen, p->sp_after, p->sp_alen) <= 0)
            return 0;
        if (!kv_has_prefix(key, klen, p->sp_prefix, p->sp_plen))
            return kv_key_cmp(key, klen, p->sp_prefix, p->sp_plen) > 0; /* past the range */
    } else {
        if (p->sp_after && kv_key_cmp(key, klen, p->sp_after, p->sp_alen) >= 0)
            return 0;
        if (!kv_has_prefix(key, klen, p->sp_prefix, p->sp_plen))
            return kv_key_cmp(key, klen, p->sp_prefix, p->sp_plen) < 0; /* before the range */
    }
    p->sp_visited++;
    if (p->sp_fn(p->sp_ctx, key, klen, val, vlen) != 0)
        return 1;
    return p->sp_limit && p->sp_visited >= p->sp_limit;
}
