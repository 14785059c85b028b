/*
 * tests/kv/kv_test_model.h - what the RocksDB and hybrid engine tests share:
 * an engine opened with small buffers (so flushes happen in tests), a full
 * flush + compaction of the RocksDB column families, raw family keys, and a
 * plain sorted-array model of an ordered KV map with a scan checker.
 *
 * Header-only (each test executable includes it once); the functions are
 * static inline so a test that uses only some of them builds warning-free.
 */
#ifndef STEME_KV_TEST_MODEL_H
#define STEME_KV_TEST_MODEL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kv/kv_rocksdb_int.h"
#include "steme/kv.h"

/* --- fixtures ------------------------------------------------------------ */

/* Open engine eng at dir with small buffers: RocksDB flushes happen in tests,
 * and LMDB maps stay modest. Fails the test on error. */
static inline steme_kv *km_open(steme_kv_engine eng, const char *dir)
{
    steme_kv_options o;
    steme_kv_options_init(&o);
    o.lmdb_map_size = (size_t)256 << 20;
    o.rocksdb_write_buffer = 1u << 20;
    o.rocksdb_cache_bytes = 4u << 20;
    steme_kv *kv = NULL;
    steme_error e = {0};
    int rc = steme_kv_open(eng, dir, &o, &kv, &e);
    if (rc != STEME_OK)
        fprintf(stderr, "open %s: %s\n", dir, e.message);
    assert_int_equal(rc, STEME_OK);
    return kv;
}

/* Flush every column family of a RocksDB engine and compact it fully:
 * merges meet base values. */
static inline void km_flush_compact(steme_kv *kv)
{
    kv_rdb *r = (kv_rdb *)kv;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    for (int i = 0; i < KV_RDB_NCF; i++) {
        char *err = NULL;
        rocksdb_flush_cf(r->rd_db, fo, r->rd_cf[i], &err);
        assert_null(err);
        rocksdb_compact_range_cf(r->rd_db, r->rd_cf[i], NULL, 0, NULL, 0);
    }
    rocksdb_flushoptions_destroy(fo);
}

/* "{subj}\0TAG:rest" (subj non-NULL) and "\0TAG:rest" keys into out; returns
 * the length. */
static inline size_t km_key(uint8_t *out, const char *subj, const char *tag, const void *rest,
                            size_t rlen)
{
    size_t n = 0;
    if (subj) {
        memcpy(out, subj, strlen(subj));
        n = strlen(subj);
    }
    out[n++] = 0;
    memcpy(out + n, tag, strlen(tag));
    n += strlen(tag);
    out[n++] = ':';
    memcpy(out + n, rest, rlen);
    return n + rlen;
}

/* --- model --------------------------------------------------------------- */

typedef struct km_ent {
    uint8_t *k, *v;
    size_t kl, vl;
} km_ent;

typedef struct km {
    km_ent *e;
    size_t n, cap;
} km;

static inline int km_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t m = al < bl ? al : bl;
    int c = m ? memcmp(a, b, m) : 0;
    return c ? c : (al < bl ? -1 : al > bl);
}

/* Index of the first entry >= key. */
static inline size_t km_lower(const km *m, const uint8_t *k, size_t kl)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (km_cmp(m->e[mid].k, m->e[mid].kl, k, kl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static inline void *km_dup(const void *p, size_t n)
{
    void *d = malloc(n ? n : 1);
    if (n)
        memcpy(d, p, n);
    return d;
}

static inline void km_put(km *m, const void *k, size_t kl, const void *v, size_t vl)
{
    size_t i = km_lower(m, k, kl);
    if (i < m->n && km_cmp(m->e[i].k, m->e[i].kl, k, kl) == 0) {
        free(m->e[i].v);
        m->e[i].v = km_dup(v, vl);
        m->e[i].vl = vl;
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
    }
    memmove(m->e + i + 1, m->e + i, (m->n - i) * sizeof *m->e);
    m->e[i] = (km_ent){km_dup(k, kl), km_dup(v, vl), kl, vl};
    m->n++;
}

static inline void km_del(km *m, const void *k, size_t kl)
{
    size_t i = km_lower(m, k, kl);
    if (i < m->n && km_cmp(m->e[i].k, m->e[i].kl, k, kl) == 0) {
        free(m->e[i].k);
        free(m->e[i].v);
        memmove(m->e + i, m->e + i + 1, (m->n - i - 1) * sizeof *m->e);
        m->n--;
    }
}

static inline void km_free(km *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].k);
        free(m->e[i].v);
    }
    free(m->e);
    memset(m, 0, sizeof *m);
}

static inline int km_has_prefix(const km_ent *e, const uint8_t *p, size_t pl)
{
    return e->kl >= pl && (pl == 0 || memcmp(e->k, p, pl) == 0);
}

/* What a scan must return: indices into m->e, in scan order. */
static inline size_t km_scan(const km *m, const uint8_t *p, size_t pl, const uint8_t *after,
                             size_t al, size_t limit, int reverse, size_t *out)
{
    size_t n = 0;
    for (size_t j = 0; j < m->n; j++) {
        size_t i = reverse ? m->n - 1 - j : j;
        const km_ent *e = &m->e[i];
        if (!km_has_prefix(e, p, pl))
            continue;
        if (after) {
            int c = km_cmp(e->k, e->kl, after, al);
            if (reverse ? c >= 0 : c <= 0)
                continue;
        }
        out[n++] = i;
        if (limit && n == limit)
            break;
    }
    return n;
}

/* Collects a scan's entries (copies) for comparison. */
typedef struct km_got {
    km_ent *e;
    size_t n, cap;
    size_t stop_at; /* 0: never stop; else return 1 on the stop_at-th entry */
} km_got;

static inline int km_collect(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v,
                             size_t vl)
{
    km_got *g = ctx;
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 64;
        g->e = realloc(g->e, g->cap * sizeof *g->e);
    }
    g->e[g->n++] = (km_ent){km_dup(k, kl), km_dup(v, vl), kl, vl};
    return g->stop_at && g->n == g->stop_at;
}

static inline void km_got_free(km_got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->e[i].k);
        free(g->e[i].v);
    }
    free(g->e);
    memset(g, 0, sizeof *g);
}

/* 1 if the scan of kv matches the model (visited count included). */
static inline int km_check_scan(steme_kv *kv, const km *m, const uint8_t *p, size_t pl,
                                const uint8_t *after, size_t al, size_t limit, int reverse)
{
    size_t *want = malloc((m->n + 1) * sizeof *want);
    size_t nw = km_scan(m, p, pl, after, al, limit, reverse, want);
    km_got g = {0};
    size_t visited = 99999;
    int ok = steme_kv_scan(kv, p, pl, after, al, limit, reverse ? STEME_SCAN_REVERSE : 0,
                           km_collect, &g, &visited) == STEME_OK &&
             g.n == nw && visited == nw;
    for (size_t i = 0; ok && i < nw; i++) {
        const km_ent *w = &m->e[want[i]];
        ok = km_cmp(g.e[i].k, g.e[i].kl, w->k, w->kl) == 0 && g.e[i].vl == w->vl &&
             (w->vl == 0 || memcmp(g.e[i].v, w->v, w->vl) == 0);
    }
    km_got_free(&g);
    free(want);
    return ok;
}

/* Page through the whole prefix with cursors; 1 if it matches the model. */
static inline int km_check_paged(steme_kv *kv, const km *m, const uint8_t *p, size_t pl,
                                 size_t page, int reverse)
{
    size_t *want = malloc((m->n + 1) * sizeof *want);
    size_t nw = km_scan(m, p, pl, NULL, 0, 0, reverse, want);
    size_t seen = 0;
    uint8_t cursor[STEME_KV_MAX_KEY];
    size_t cl = 0;
    int have = 0, ok = 1;
    for (;;) {
        km_got g = {0};
        size_t visited = 0;
        if (steme_kv_scan(kv, p, pl, have ? cursor : NULL, cl, page,
                          reverse ? STEME_SCAN_REVERSE : 0, km_collect, &g, &visited) != STEME_OK)
            ok = 0;
        for (size_t i = 0; ok && i < g.n; i++, seen++) {
            const km_ent *w = seen < nw ? &m->e[want[seen]] : NULL;
            ok = w && km_cmp(g.e[i].k, g.e[i].kl, w->k, w->kl) == 0;
        }
        size_t n = g.n;
        if (n) {
            memcpy(cursor, g.e[n - 1].k, g.e[n - 1].kl);
            cl = g.e[n - 1].kl;
            have = 1;
        }
        km_got_free(&g);
        if (!ok || n < page)
            break;
    }
    free(want);
    return ok && seen == nw;
}

#endif
