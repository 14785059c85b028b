/*
 * kv_pg_scan.c - ordered prefix scans as key ranges.
 *
 * A prefix is the range [prefix, successor(prefix)): successor = the prefix
 * with its trailing 0xFF bytes dropped and the last byte incremented; an
 * empty or all-0xFF prefix has none and the range is open above (no upper
 * bound in the SQL). bytea compares as memcmp then length, which is our key
 * order (checked at open), so the primary key's btree serves the range
 * directly and a range-sharded engine touches only the shards holding it.
 *
 * The cursor narrows the range, so each page is one statement with an
 * inclusive lower bound and an exclusive upper bound:
 *   forward: lower = after || 0x00 (the first key after `after`), if that is
 *            above the prefix; ORDER BY key LIMIT page;
 *   reverse: upper = after, if below the successor; ORDER BY key DESC.
 * The next page continues from the page's last key the same way.
 *
 * Snapshot: a scan that fits in one page (a limit <= scan_page) is one
 * statement, which sees one snapshot by itself. A longer one runs its pages
 * in a REPEATABLE READ, READ ONLY transaction, whose BEGIN is pipelined with
 * the first page (no extra round trip); the end costs one ROLLBACK.
 *
 * Rows are handed to the callback straight from the PGresult (no copy). A
 * scan is retried (serialization, lost connection) only while it has
 * delivered nothing; after that a failure is reported, since re-running
 * would show the callback entries twice or from another snapshot.
 */

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_pg_int.h"
#include "kv/kv_prefix.h"

typedef struct scan_ctx {
    size_t lo_len, hi_len;
    int reverse;
    size_t limit, count;
    unsigned page;
    steme_kv_scan_fn fn;
    void *fctx;
    int stopped;            /* callback asked to stop, or limit reached */
    int in_txn;
    PGresult *first;        /* the first page, taken from the pipeline */
    /* the range: lo inclusive (always present), hi exclusive (hi_len 0 = none);
     * last so that the small fields above can be zeroed alone */
    uint8_t lo[STEME_KV_MAX_KEY + 1];
    uint8_t hi[STEME_KV_MAX_KEY];
} scan_ctx;

static size_t page_rows(const scan_ctx *s)
{
    size_t want = s->limit ? s->limit - s->count : (size_t)-1;
    return want < s->page ? want : s->page;
}

static int page_stmt(const scan_ctx *s)
{
    if (s->reverse)
        return s->hi_len ? KV_PG_SCAN_REV_HI : KV_PG_SCAN_REV;
    return s->hi_len ? KV_PG_SCAN_FWD_HI : KV_PG_SCAN_FWD;
}

static int send_page(PGconn *c, scan_ctx *s)
{
    static const int fmts[3] = {1, 1, 1};
    const char *vals[3];
    int lens[3], n = 0;
    char lim[8];
    kv_pg_be64(page_rows(s), lim);
    vals[n] = (const char *)s->lo, lens[n++] = (int)s->lo_len;
    if (s->hi_len)
        vals[n] = (const char *)s->hi, lens[n++] = (int)s->hi_len;
    vals[n] = lim, lens[n++] = 8;
    return PQsendQueryPrepared(c, kv_pg_stmt_name(page_stmt(s)), n, vals, lens, fmts, 1);
}

/* Pipeline: [BEGIN ..., first page]. */
static int first_send(PGconn *c, void *ctx, size_t i)
{
    if (i == 0)
        return PQsendQueryParams(c, "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                                 0, NULL, NULL, NULL, NULL, 0);
    return send_page(c, ctx);
}

static int first_result(void *ctx, size_t i, PGresult *r)
{
    scan_ctx *s = ctx;
    if (i != 1 || s->first)
        return 0;
    s->first = r; /* kept: scan_attempt delivers and clears it */
    return 1;
}

/* Deliver a page; returns 0 if the callback or the limit ended the scan. */
static int deliver(scan_ctx *s, const PGresult *r)
{
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        const uint8_t *k = (const uint8_t *)PQgetvalue(r, i, 0);
        size_t kl = (size_t)PQgetlength(r, i, 0);
        s->count++;
        if (s->fn(s->fctx, k, kl, (const uint8_t *)PQgetvalue(r, i, 1),
                  (size_t)PQgetlength(r, i, 1)) != 0 ||
            (s->limit && s->count >= s->limit)) {
            s->stopped = 1;
            return 0;
        }
    }
    return 1;
}

/* Move the range past the page's last key (the cursor of the next page). */
static void advance(scan_ctx *s, const PGresult *r)
{
    int last = PQntuples(r) - 1;
    const char *k = PQgetvalue(r, last, 0);
    size_t kl = (size_t)PQgetlength(r, last, 0);
    if (s->reverse) {
        memcpy(s->hi, k, kl);
        s->hi_len = kl;
    } else {
        memcpy(s->lo, k, kl);
        s->lo[kl] = 0;
        s->lo_len = kl + 1;
    }
}

static int scan_attempt(kv_pg *g, kv_pg_conn *pc, void *ctx, kv_pg_err *e)
{
    (void)g;
    scan_ctx *s = ctx;
    PGconn *c = pc->pc_conn;
    PGresult *r = NULL;
    size_t asked = page_rows(s);
    s->in_txn = s->limit == 0 || s->limit > s->page;
    if (s->in_txn) {
        s->first = NULL;
        size_t seen = 0;
        int rc = kv_pg_pipeline(c, 2, first_send, first_result, s, &seen, e);
        r = s->first;
        s->first = NULL;
        if (rc != 0) {
            PQclear(r);
            return -1;
        }
    } else {
        if (!send_page(c, s)) {
            kv_pg_err_conn(e, c, "scan");
            return -1;
        }
        r = PQgetResult(c);
        PGresult *extra;
        while ((extra = PQgetResult(c)) != NULL)
            PQclear(extra);
    }
    for (;;) {
        if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
            kv_pg_err_result(e, c, r, "scan");
            e->no_retry = s->count > 0;
            PQclear(r);
            return -1;
        }
        size_t rows = (size_t)PQntuples(r);
        int more = deliver(s, r) && rows == asked && rows > 0;
        if (more)
            advance(s, r);
        PQclear(r);
        if (!more)
            return 0;
        asked = page_rows(s);
        if (!send_page(c, s)) {
            kv_pg_err_conn(e, c, "scan");
            e->no_retry = 1;
            return -1;
        }
        r = PQgetResult(c);
        PGresult *extra;
        while ((extra = PQgetResult(c)) != NULL)
            PQclear(extra);
    }
}

int kv_pg_scan(steme_kv *kv, const uint8_t *prefix, size_t plen, const uint8_t *after,
               size_t alen, size_t limit, unsigned flags, steme_kv_scan_fn fn, void *ctx,
               size_t *visited)
{
    kv_pg *g = (kv_pg *)kv;
    scan_ctx *s = malloc(sizeof *s); /* 8 KiB of bounds: off the caller's stack */
    if (!s)
        return kv_fail(kv, STEME_E_NOMEM, "pg scan: out of memory");
    memset(s, 0, offsetof(scan_ctx, lo));
    s->reverse = (flags & STEME_SCAN_REVERSE) != 0;
    s->limit = limit;
    s->page = g->pg_opts.scan_page;
    s->fn = fn;
    s->fctx = ctx;
    s->first = NULL;
    if (plen)
        memcpy(s->lo, prefix, plen);
    s->lo_len = plen;
    s->hi_len = kv_prefix_successor(prefix, plen, s->hi);
    if (after) {
        if (!s->reverse && kv_key_cmp(after, alen, prefix, plen) >= 0) {
            memcpy(s->lo, after, alen);
            s->lo[alen] = 0;
            s->lo_len = alen + 1;
        } else if (s->reverse && (!s->hi_len || kv_key_cmp(after, alen, s->hi, s->hi_len) < 0)) {
            memcpy(s->hi, after, alen);
            s->hi_len = alen;
        }
    }
    int rc = STEME_OK;
    /* an empty range (cursor at or beyond its end) needs no round trip */
    if (!s->hi_len || kv_key_cmp(s->lo, s->lo_len, s->hi, s->hi_len) < 0)
        rc = kv_pg_run(g, "scan", 1, scan_attempt, s);
    if (visited)
        *visited = s->count;
    free(s);
    return rc;
}

