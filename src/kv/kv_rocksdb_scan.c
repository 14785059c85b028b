/*
 * kv_rocksdb_scan.c - ordered prefix scans over the column families.
 *
 * A key lives in the column family of its family group, so:
 *   - a prefix that pins one family (kv_prefix_family: it contains the
 *     tag's ':') is a scan of one column family;
 *   - any other prefix ("{subject}\0", "\0", "", part of a tag) may have
 *     keys in every column family: we open one iterator per column family
 *     under ONE snapshot and merge them in key order (k-way merge, k <= 5:
 *     a linear pick of the smallest/largest head beats a heap at this k).
 *     Keys never repeat across column families (each key has one home).
 *
 * Bounds: every iterator gets iterate_lower_bound = prefix and
 * iterate_upper_bound = successor(prefix) (none if the prefix is empty or
 * all 0xFF), so RocksDB itself stops at the range's edges and skips
 * tombstones outside it. Entries are passed to the callback as views into
 * the iterator: no allocation per entry; the read options, snapshot and
 * iterators are made once per scan.
 *
 * Resuming (the `after` cursor, excluded):
 *   forward: after < prefix -> start at the range start; after in range ->
 *            Seek(after), skip it if present; after above range -> nothing.
 *   reverse: after below range -> nothing; after in range ->
 *            SeekForPrev(after), skip it if present; after above range ->
 *            start at the range's last key.
 */
#include <string.h>

#include "kv/kv_prefix.h"
#include "kv/kv_rocksdb_int.h"

enum { START_EDGE, START_AT, START_NONE };

/* Where a scan starts. Keys in the range are exactly the keys with the
 * prefix, so "above the range" is "not below the prefix and without it". */
static int scan_start(const uint8_t *prefix, size_t plen, const uint8_t *after, size_t alen,
                      int reverse)
{
    if (!after)
        return START_EDGE;
    int below = kv_key_cmp(after, alen, prefix, plen) < 0;
    int above = !below && !kv_has_prefix(after, alen, prefix, plen);
    if (!reverse)
        return below ? START_EDGE : above ? START_NONE : START_AT;
    return below ? START_NONE : above ? START_EDGE : START_AT;
}

static int iter_is(rocksdb_iterator_t *it, const uint8_t *k, size_t klen)
{
    size_t n = 0;
    const char *cur = rocksdb_iter_key(it, &n);
    return n == klen && memcmp(cur, k, n) == 0;
}

static void iter_position(rocksdb_iterator_t *it, int start, int reverse, const uint8_t *prefix,
                          size_t plen, const uint8_t *after, size_t alen)
{
    if (!reverse) {
        if (start == START_AT) {
            rocksdb_iter_seek(it, (const char *)after, alen);
            if (rocksdb_iter_valid(it) && iter_is(it, after, alen))
                rocksdb_iter_next(it);
        } else if (plen) {
            rocksdb_iter_seek(it, (const char *)prefix, plen);
        } else {
            rocksdb_iter_seek_to_first(it);
        }
    } else {
        if (start == START_AT) {
            rocksdb_iter_seek_for_prev(it, (const char *)after, alen);
            if (rocksdb_iter_valid(it) && iter_is(it, after, alen))
                rocksdb_iter_prev(it);
        } else {
            rocksdb_iter_seek_to_last(it); /* honours iterate_upper_bound */
        }
    }
}

/* Has the iterator stopped on an error? Returns STEME_OK or the failure. */
static int iter_check(steme_kv *kv, rocksdb_iterator_t *it)
{
    if (rocksdb_iter_valid(it))
        return STEME_OK;
    char *errptr = NULL;
    rocksdb_iter_get_error(it, &errptr);
    return errptr ? kv_rdb_fail(kv, errptr, "scan") : STEME_OK;
}

int kv_rdb_scan(steme_kv *kv, const uint8_t *prefix, size_t plen, const uint8_t *after,
                size_t alen, size_t limit, unsigned flags, steme_kv_scan_fn fn, void *ctx,
                size_t *visited)
{
    kv_rdb *r = (kv_rdb *)kv;
    const int reverse = (flags & STEME_SCAN_REVERSE) != 0;
    uint8_t upper[STEME_KV_MAX_KEY];
    size_t ulen = kv_prefix_successor(prefix, plen, upper);
    size_t count = 0;
    int rc = STEME_OK;
    rocksdb_iterator_t *its[KV_RDB_NCF] = {0};
    int nit = 0;
    const rocksdb_snapshot_t *snap = NULL;
    rocksdb_readoptions_t *ro = NULL;

    int start = scan_start(prefix, plen, after, alen, reverse);
    if (start == START_NONE)
        goto done;

    steme_key_family fam = kv_prefix_family(prefix, plen);
    ro = rocksdb_readoptions_create();
    if (!ro) {
        rc = kv_fail(kv, STEME_E_NOMEM, "rocksdb scan: out of memory");
        goto done;
    }
    /* The bounds point into prefix / upper, which outlive the iterators. */
    if (plen)
        rocksdb_readoptions_set_iterate_lower_bound(ro, (const char *)prefix, plen);
    if (ulen)
        rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)upper, ulen);
    if (fam != STEME_FAM_UNKNOWN) {
        its[nit++] = rocksdb_create_iterator_cf(r->rd_db, ro, r->rd_cf[kv_rdb_cf_of_family(fam)]);
    } else {
        /* One snapshot for every column family: a consistent merged view. */
        snap = rocksdb_create_snapshot(r->rd_db);
        rocksdb_readoptions_set_snapshot(ro, snap);
        for (int i = 0; i < KV_RDB_NCF; i++)
            its[nit++] = rocksdb_create_iterator_cf(r->rd_db, ro, r->rd_cf[i]);
    }
    for (int i = 0; i < nit; i++) {
        iter_position(its[i], start, reverse, prefix, plen, after, alen);
        if ((rc = iter_check(kv, its[i])) != STEME_OK)
            goto done;
    }

    for (;;) {
        /* Pick the head that comes first in scan order. */
        int best = -1;
        const char *bk = NULL;
        size_t bklen = 0;
        for (int i = 0; i < nit; i++) {
            if (!rocksdb_iter_valid(its[i]))
                continue;
            size_t kl;
            const char *k = rocksdb_iter_key(its[i], &kl);
            if (best < 0) {
                best = i, bk = k, bklen = kl;
                continue;
            }
            int c = kv_key_cmp((const uint8_t *)k, kl, (const uint8_t *)bk, bklen);
            if (reverse ? c > 0 : c < 0)
                best = i, bk = k, bklen = kl;
        }
        if (best < 0)
            break;
        size_t vlen;
        const char *v = rocksdb_iter_value(its[best], &vlen);
        if (kv_rdb_is_poison(v, vlen)) {
            rc = kv_rdb_poison_fail(kv);
            break;
        }
        count++;
        if (fn(ctx, (const uint8_t *)bk, bklen, (const uint8_t *)v, vlen) != 0)
            break;
        if (limit && count >= limit)
            break;
        if (reverse)
            rocksdb_iter_prev(its[best]);
        else
            rocksdb_iter_next(its[best]);
        if ((rc = iter_check(kv, its[best])) != STEME_OK)
            break;
    }
done:
    for (int i = 0; i < nit; i++)
        if (its[i])
            rocksdb_iter_destroy(its[i]);
    if (snap)
        rocksdb_release_snapshot(r->rd_db, snap);
    if (ro)
        rocksdb_readoptions_destroy(ro);
    if (visited)
        *visited = count;
    return rc;
}
