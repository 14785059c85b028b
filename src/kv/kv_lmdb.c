/*
 * kv_lmdb.c - the LMDB engine: open/close, point reads and scans.
 * Writes (group commit, counters) are in kv_lmdb_write.c; keys longer than
 * LMDB's limit are mapped to buckets (kv_lmdb_int.h, kv_lmdb_bucket.c).
 *
 * One environment in the directory (data.mdb + lock.mdb), the unnamed
 * database, MDB_NOTLS so that a read transaction is not tied to the thread
 * that began it: idle read transactions are pooled (mdb_txn_reset) and
 * renewed by whichever thread reads next, so a get allocates nothing but
 * its output. Reads are zero-copy inside the transaction and copied out to
 * the caller's steme_buf (or handed to the scan callback as views).
 *
 * Durability: MDB_NOMETASYNC. Each commit syncs its data pages but not the
 * meta page, which halves the syncs of a commit; LMDB keeps its integrity
 * (a power loss may only undo the last committed transactions, never tear
 * the tree: unlike MDB_NOSYNC, which can corrupt the file). Acknowledged
 * writes survive process death at once; STEME_KV_SYNC and steme_kv_sync()
 * add mdb_env_sync(), making them durable against power loss too. steme's
 * stores make their writes durable through the WAL first and replay it from
 * a cursor kept in this same environment, so an undone transaction is
 * re-applied. Group commit amortises the syncs across writers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kv/kv_lmdb_int.h"

int lmdb_fail(kv_lmdb *l, steme_error *err, int mdb_rc, const char *what)
{
    int code;
    switch (mdb_rc) {
    case MDB_MAP_FULL:
        code = STEME_E_FULL;
        return steme_err(err, code,
                         "lmdb: %s: the map is full (lmdb_map_size %zu bytes); reopen with a "
                         "larger lmdb_map_size", what, l->map_size);
    case MDB_TXN_FULL:
        return steme_err(err, STEME_E_FULL, "lmdb: %s: too many pages changed in one transaction "
                         "(split the batch)", what);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        code = STEME_E_CORRUPT;
        break;
    case MDB_READERS_FULL:
        code = STEME_E_BUSY;
        break;
    case ENOMEM:
        code = STEME_E_NOMEM;
        break;
    case EIO:
    case ENOSPC:
    case EACCES:
    case EPERM:
        code = STEME_E_IO;
        break;
    default:
        code = STEME_E_ENGINE;
    }
    return steme_err(err, code, "lmdb: %s: %s", what, mdb_strerror(mdb_rc));
}

/* lmdb_fail recorded on the handle for the calling thread. */
static int lmdb_fail_kv(kv_lmdb *l, int mdb_rc, const char *what)
{
    steme_error e;
    lmdb_fail(l, &e, mdb_rc, what);
    return steme_errslot_put(&l->base.kv_err, &e);
}

/* --- read transaction pool ------------------------------------------------ */

/* Start (renew or begin) the read transaction of r. */
static int reader_start(kv_lmdb *l, lmdb_reader *r)
{
    if (r->txn) {
        if (mdb_txn_renew(r->txn) == MDB_SUCCESS)
            return STEME_OK;
        if (r->cur)
            mdb_cursor_close(r->cur);
        mdb_txn_abort(r->txn);
        r->txn = NULL;
        r->cur = NULL;
    }
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &r->txn);
    if (rc != MDB_SUCCESS) {
        r->txn = NULL;
        return lmdb_fail_kv(l, rc, "begin read transaction");
    }
    return STEME_OK;
}

static int reader_begin(kv_lmdb *l, lmdb_reader *r)
{
    r->txn = NULL;
    r->cur = NULL;
    pthread_mutex_lock(&l->pool_lock);
    if (l->pool_n)
        *r = l->pool[--l->pool_n];
    pthread_mutex_unlock(&l->pool_lock);
    for (;;) {
        /* The meta page the start copied is sound unless two commits
         * overlapped the start (the second rewrites the slot it read):
         * see kv_lmdb_int.h. Rare (needs preemption); just retry. */
        uint64_t done = __atomic_load_n(&l->commits_done, __ATOMIC_SEQ_CST);
        int rc = reader_start(l, r);
        if (rc != STEME_OK)
            return rc;
        uint64_t started = __atomic_load_n(&l->commits_started, __ATOMIC_SEQ_CST);
        if (started - done <= 1)
            return STEME_OK;
        mdb_txn_reset(r->txn);
    }
}

static void reader_end(kv_lmdb *l, lmdb_reader *r)
{
    mdb_txn_reset(r->txn);
    pthread_mutex_lock(&l->pool_lock);
    if (l->pool_n < LMDB_POOL_MAX) {
        l->pool[l->pool_n++] = *r;
        r = NULL;
    }
    pthread_mutex_unlock(&l->pool_lock);
    if (r) {
        if (r->cur)
            mdb_cursor_close(r->cur);
        mdb_txn_abort(r->txn);
    }
}

/* --- point reads ------------------------------------------------------------ */

/* Zero-copy lookup inside txn: *val points into the map. */
static int lmdb_lookup(kv_lmdb *l, MDB_txn *txn, const uint8_t *key, size_t klen,
                       const uint8_t **val, size_t *vlen)
{
    uint8_t bkey[LMDB_BUCKET_KLEN];
    MDB_val k = {klen, (void *)key}, v;
    if (klen > LMDB_DIRECT_MAX) {
        lmdb_bucket_key(key, bkey);
        k.mv_size = LMDB_BUCKET_KLEN;
        k.mv_data = bkey;
    }
    int rc = mdb_get(txn, l->dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return STEME_E_NOTFOUND;
    if (rc != MDB_SUCCESS)
        return lmdb_fail_kv(l, rc, "get");
    if (klen <= LMDB_DIRECT_MAX) {
        *val = v.mv_data;
        *vlen = v.mv_size;
        return STEME_OK;
    }
    lmdb_bucket_entry e;
    rc = lmdb_bucket_find(v.mv_data, v.mv_size, key + LMDB_DIRECT_MAX, klen - LMDB_DIRECT_MAX,
                          &e);
    if (rc < 0)
        return kv_fail(&l->base, STEME_E_CORRUPT, "lmdb: long-key bucket is malformed");
    if (rc == 0)
        return STEME_E_NOTFOUND;
    *val = e.val;
    *vlen = e.vlen;
    return STEME_OK;
}

static int lmdb_get(steme_kv *kv, const uint8_t *key, size_t klen, steme_buf *out)
{
    kv_lmdb *l = (kv_lmdb *)kv;
    lmdb_reader r;
    int rc = reader_begin(l, &r);
    if (rc != STEME_OK)
        return rc;
    const uint8_t *val;
    size_t vlen;
    rc = lmdb_lookup(l, r.txn, key, klen, &val, &vlen);
    if (rc == STEME_OK && steme_buf_set(out, val, vlen) != STEME_OK)
        rc = kv_fail(kv, STEME_E_NOMEM, "lmdb: out of memory copying a %zu-byte value", vlen);
    reader_end(l, &r);
    return rc;
}

static int lmdb_get_into(steme_kv *kv, const uint8_t *key, size_t klen, uint8_t *out, size_t cap,
                         size_t *vlen)
{
    kv_lmdb *l = (kv_lmdb *)kv;
    lmdb_reader r;
    *vlen = 0;
    int rc = reader_begin(l, &r);
    if (rc != STEME_OK)
        return rc;
    const uint8_t *val;
    rc = lmdb_lookup(l, r.txn, key, klen, &val, vlen);
    if (rc == STEME_OK && *vlen)
        memcpy(out, val, *vlen < cap ? *vlen : cap);
    reader_end(l, &r);
    return rc;
}

/* One snapshot for all n keys: every lookup sees the same state. */
static int lmdb_multi_get(steme_kv *kv, size_t n, const void *const *keys, const size_t *klens,
                          steme_buf *vals, int *statuses)
{
    kv_lmdb *l = (kv_lmdb *)kv;
    lmdb_reader r;
    int rc = reader_begin(l, &r);
    if (rc != STEME_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *val;
        size_t vlen;
        vals[i].len = 0;
        rc = lmdb_lookup(l, r.txn, keys[i], klens[i], &val, &vlen);
        if (rc == STEME_OK && steme_buf_set(&vals[i], val, vlen) != STEME_OK)
            rc = kv_fail(kv, STEME_E_NOMEM, "lmdb: out of memory copying a %zu-byte value", vlen);
        statuses[i] = rc;
        if (rc != STEME_OK && rc != STEME_E_NOTFOUND)
            break;
        rc = STEME_OK;
    }
    reader_end(l, &r);
    return rc;
}

/* --- scans ------------------------------------------------------------------ */

/* Offer one LMDB record to the plan, expanding a bucket into its long keys
 * in scan order. 0 = go on, 1 = scan over, < 0 = error status. */
static int scan_record(kv_lmdb *l, kv_scan_plan *p, const MDB_val *k, const MDB_val *v)
{
    if (k->mv_size <= LMDB_DIRECT_MAX)
        return kv_scan_visit(p, k->mv_data, k->mv_size, v->mv_data, v->mv_size);
    if (k->mv_size != LMDB_BUCKET_KLEN)
        return kv_fail(&l->base, STEME_E_CORRUPT, "lmdb: stored key of %zu bytes (max %u)",
                       k->mv_size, LMDB_BUCKET_KLEN);
    uint8_t full[STEME_KV_MAX_KEY];
    memcpy(full, k->mv_data, LMDB_DIRECT_MAX);
    const uint8_t *b = v->mv_data;
    size_t size = v->mv_size, off = 0;
    lmdb_bucket_entry e;
    int rc;
    if (!p->sp_reverse) {
        while ((rc = lmdb_bucket_next(b, size, &off, &e)) == 1) {
            memcpy(full + LMDB_DIRECT_MAX, e.suffix, e.slen);
            if (kv_scan_visit(p, full, LMDB_DIRECT_MAX + e.slen, e.val, e.vlen))
                return 1;
        }
        if (rc < 0)
            return kv_fail(&l->base, STEME_E_CORRUPT, "lmdb: long-key bucket is malformed");
        return 0;
    }
    /* reverse: entries have variable sizes, so note their offsets first */
    size_t small[32], *offs = small, n = 0, cap = 32;
    while ((rc = lmdb_bucket_next(b, size, &off, &e)) == 1) {
        if (n == cap) {
            size_t *bigger = malloc(cap * 2 * sizeof *bigger);
            if (!bigger) {
                if (offs != small)
                    free(offs);
                return kv_fail(&l->base, STEME_E_NOMEM, "lmdb: out of memory in a reverse scan");
            }
            memcpy(bigger, offs, n * sizeof *offs);
            if (offs != small)
                free(offs);
            offs = bigger;
            cap *= 2;
        }
        offs[n++] = e.off;
    }
    int out = rc < 0 ? kv_fail(&l->base, STEME_E_CORRUPT, "lmdb: long-key bucket is malformed") : 0;
    while (out == 0 && n-- > 0) {
        off = offs[n];
        lmdb_bucket_next(b, size, &off, &e);
        memcpy(full + LMDB_DIRECT_MAX, e.suffix, e.slen);
        out = kv_scan_visit(p, full, LMDB_DIRECT_MAX + e.slen, e.val, e.vlen);
    }
    if (offs != small)
        free(offs);
    return out;
}

/* Position the cursor per kv_scan_plan's rule; MDB_NOTFOUND = nothing. */
static int scan_position(kv_scan_plan *p, MDB_cursor *cur, MDB_val *k, MDB_val *v)
{
    if (!p->sp_seek)
        return mdb_cursor_get(cur, k, v, p->sp_reverse ? MDB_LAST : MDB_FIRST);
    uint8_t bkey[LMDB_BUCKET_KLEN];
    k->mv_size = p->sp_seeklen;
    k->mv_data = (void *)p->sp_seek;
    if (p->sp_seeklen > LMDB_DIRECT_MAX) {
        lmdb_bucket_key(p->sp_seek, bkey);
        k->mv_size = LMDB_BUCKET_KLEN;
        k->mv_data = bkey;
    }
    MDB_val want = *k;
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (!p->sp_reverse)
        return rc;
    if (rc == MDB_NOTFOUND)
        return mdb_cursor_get(cur, k, v, MDB_LAST);
    if (rc != MDB_SUCCESS)
        return rc;
    /* reverse wants the last record <= seek: this one if it is the seek
     * record itself (a bucket may hold keys below the seek), else the one
     * before it */
    if (k->mv_size == want.mv_size && memcmp(k->mv_data, want.mv_data, want.mv_size) == 0)
        return MDB_SUCCESS;
    return mdb_cursor_get(cur, k, v, MDB_PREV);
}

static int lmdb_scan(steme_kv *kv, const uint8_t *prefix, size_t plen, const uint8_t *after,
                     size_t alen, size_t limit, unsigned flags, steme_kv_scan_fn fn, void *ctx,
                     size_t *visited)
{
    kv_lmdb *l = (kv_lmdb *)kv;
    kv_scan_plan p;
    kv_scan_plan_init(&p, prefix, plen, after, alen, limit, flags, fn, ctx);
    lmdb_reader r;
    int rc = reader_begin(l, &r);
    if (rc != STEME_OK)
        return rc;
    int mrc = r.cur ? mdb_cursor_renew(r.txn, r.cur) : mdb_cursor_open(r.txn, l->dbi, &r.cur);
    if (mrc != MDB_SUCCESS) {
        if (r.cur) {
            mdb_cursor_close(r.cur);
            r.cur = NULL;
        }
        reader_end(l, &r);
        return lmdb_fail_kv(l, mrc, "open cursor");
    }
    MDB_val k, v;
    MDB_cursor_op step = p.sp_reverse ? MDB_PREV : MDB_NEXT;
    rc = STEME_OK;
    for (mrc = scan_position(&p, r.cur, &k, &v); mrc == MDB_SUCCESS;
         mrc = mdb_cursor_get(r.cur, &k, &v, step)) {
        int s = scan_record(l, &p, &k, &v);
        if (s != 0) {
            rc = s < 0 ? s : STEME_OK;
            break;
        }
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = lmdb_fail_kv(l, mrc, "scan");
    reader_end(l, &r);
    if (visited)
        *visited = p.sp_visited;
    return rc;
}

/* --- open / close ------------------------------------------------------------ */

static int lmdb_sync(steme_kv *kv)
{
    kv_lmdb *l = (kv_lmdb *)kv;
    int rc = mdb_env_sync(l->env, 1);
    return rc == MDB_SUCCESS ? STEME_OK : lmdb_fail_kv(l, rc, "sync");
}

static void lmdb_free(kv_lmdb *l)
{
    for (size_t i = 0; i < l->pool_n; i++) {
        if (l->pool[i].cur)
            mdb_cursor_close(l->pool[i].cur);
        mdb_txn_abort(l->pool[i].txn);
    }
    l->pool_n = 0;
    if (l->env)
        mdb_env_close(l->env);
    lmdb_write_destroy(l);
    pthread_mutex_destroy(&l->pool_lock);
    kv_base_destroy(&l->base);
    free(l);
}

static void lmdb_close(steme_kv *kv)
{
    lmdb_free((kv_lmdb *)kv);
}

static const kv_vtable lmdb_vtable = {
    .name = "lmdb",
    .close = lmdb_close,
    .get = lmdb_get,
    .multi_get = lmdb_multi_get,
    .get_into = lmdb_get_into,
    .put = lmdb_put,
    .del = lmdb_del,
    .add_u64 = lmdb_add_u64,
    .add_f64 = lmdb_add_f64,
    .scan = lmdb_scan,
    .write = lmdb_write,
    .sync = lmdb_sync,
};

/* The directory must exist (or be created when allowed) before LMDB opens. */
static int prepare_dir(const char *path, int create, steme_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return steme_err(err, STEME_E_INVALID, "lmdb: %s is not a directory", path);
        if (!create) {
            char data[4096];
            if (snprintf(data, sizeof data, "%s/data.mdb", path) >= (int)sizeof data)
                return steme_err(err, STEME_E_INVALID, "lmdb: path too long");
            if (stat(data, &st) != 0)
                return steme_err(err, STEME_E_NOTFOUND,
                                 "lmdb: no database in %s and create_if_missing is 0", path);
        }
        return STEME_OK;
    }
    if (errno != ENOENT)
        return steme_err(err, STEME_E_IO, "lmdb: cannot stat %s: %s", path, strerror(errno));
    if (!create)
        return steme_err(err, STEME_E_NOTFOUND,
                         "lmdb: directory %s does not exist and create_if_missing is 0", path);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return steme_err(err, errno == ENOENT ? STEME_E_NOTFOUND : STEME_E_IO,
                         "lmdb: cannot create directory %s: %s", path, strerror(errno));
    return STEME_OK;
}

int kv_lmdb_open(const char *path, const steme_kv_options *o, steme_kv **out, steme_error *err)
{
    int rc = prepare_dir(path, o->create_if_missing, err);
    if (rc != STEME_OK)
        return rc;
    kv_lmdb *l = calloc(1, sizeof *l);
    if (!l)
        return steme_err(err, STEME_E_NOMEM, "lmdb: out of memory for the handle");
    if (pthread_mutex_init(&l->pool_lock, NULL) != 0) {
        free(l);
        return steme_err(err, STEME_E_NOMEM, "lmdb: cannot initialise a mutex");
    }
    if (kv_base_init(&l->base, &lmdb_vtable, STEME_KV_LMDB) != STEME_OK ||
        lmdb_write_init(l) != STEME_OK) {
        lmdb_free(l);
        return steme_err(err, STEME_E_NOMEM, "lmdb: cannot initialise the handle");
    }
    l->map_size = o->lmdb_map_size ? o->lmdb_map_size : (size_t)64 << 30;
    int mrc = mdb_env_create(&l->env);
    if (mrc != MDB_SUCCESS) {
        l->env = NULL;
        rc = lmdb_fail(l, err, mrc, "create environment");
        lmdb_free(l);
        return rc;
    }
    const char *step = "set map size";
    mrc = mdb_env_set_mapsize(l->env, l->map_size);
    if (mrc == MDB_SUCCESS) {
        step = "set max readers";
        mrc = mdb_env_set_maxreaders(l->env, 1024); /* pool + concurrent readers */
    }
    if (mrc == MDB_SUCCESS) {
        step = "open environment";
        mrc = mdb_env_open(l->env, path, MDB_NOTLS | MDB_NOMETASYNC, 0644);
    }
    if (mrc == MDB_SUCCESS && mdb_env_get_maxkeysize(l->env) < (int)LMDB_BUCKET_KLEN) {
        rc = steme_err(err, STEME_E_ENGINE, "lmdb: library max key size %d < %u",
                       mdb_env_get_maxkeysize(l->env), LMDB_BUCKET_KLEN);
        lmdb_free(l);
        return rc;
    }
    if (mrc == MDB_SUCCESS) {
        int dead;
        mdb_reader_check(l->env, &dead); /* clear slots of dead processes */
        MDB_txn *txn;
        step = "open database";
        mrc = mdb_txn_begin(l->env, NULL, 0, &txn);
        if (mrc == MDB_SUCCESS) {
            mrc = mdb_dbi_open(txn, NULL, 0, &l->dbi);
            if (mrc == MDB_SUCCESS)
                mrc = mdb_txn_commit(txn);
            else
                mdb_txn_abort(txn);
        }
    }
    if (mrc != MDB_SUCCESS) {
        if (mrc == EAGAIN || mrc == EWOULDBLOCK)
            rc = steme_err(err, STEME_E_BUSY, "lmdb: %s is locked by another process", path);
        else if (mrc == MDB_INVALID || mrc == MDB_VERSION_MISMATCH || mrc == MDB_CORRUPTED)
            rc = steme_err(err, STEME_E_CORRUPT, "lmdb: %s/data.mdb is not a valid LMDB file "
                           "(%s)", path, mdb_strerror(mrc));
        else
            rc = lmdb_fail(l, err, mrc, step);
        lmdb_free(l);
        return rc;
    }
    *out = &l->base;
    return STEME_OK;
}
