/* kvtest.c - helpers for the KV suites (see kvtest.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "kvtest.h"
#include "testutil.h"

/* --- engines and databases ------------------------------------------------ */

static const struct {
    const char *name;
    steme_kv_engine e;
} kt_all[KT_MAX_ENGINES] = {
    {"mem", STEME_KV_MEM},
    {"lmdb", STEME_KV_LMDB},
    {"rocksdb", STEME_KV_ROCKSDB},
    {"hybrid", STEME_KV_HYBRID},
    {"pg", STEME_KV_PG},
};

size_t kt_engines(steme_kv_engine out[KT_MAX_ENGINES])
{
    const char *env = getenv("STEME_KV_ENGINES");
    const char *pg_url = getenv("STEME_PG_URL");
    const char *require_pg = getenv("STEME_REQUIRE_PG");
    int have_pg = pg_url && *pg_url;
    if (!have_pg && require_pg && strcmp(require_pg, "1") == 0)
        fail_msg("STEME_REQUIRE_PG=1 but STEME_PG_URL is not set "
                 "(scripts/pg-test-cluster.sh start prints one)");
    size_t n = 0;
    for (size_t i = 0; i < KT_MAX_ENGINES; i++) {
        if (kt_all[i].e == STEME_KV_PG && !have_pg) {
            if (env && strstr(env, "pg"))
                fail_msg("STEME_KV_ENGINES names pg but STEME_PG_URL is not set");
            continue; /* no server to test against */
        }
        if (env && *env) {
            /* match whole comma-separated names */
            size_t len = strlen(kt_all[i].name);
            const char *p = env;
            int found = 0;
            while ((p = strstr(p, kt_all[i].name)) != NULL) {
                if ((p == env || p[-1] == ',') && (p[len] == ',' || p[len] == 0))
                    found = 1;
                p += len;
            }
            if (!found)
                continue;
        }
        out[n++] = kt_all[i].e;
    }
    if (n == 0)
        fail_msg("STEME_KV_ENGINES=%s names no engine (mem,lmdb,rocksdb,hybrid)", env);
    return n;
}

int kt_on_disk(steme_kv_engine e)
{
    return e != STEME_KV_MEM;
}

static void kt_db_open_files(kt_db *d)
{
    steme_error err = {0};
    int rc = steme_kv_open(d->engine, d->path, &d->opts, &d->kv, &err);
    if (rc != STEME_OK)
        fail_msg("steme_kv_open(%s): %s: %s", steme_kv_engine_name(d->engine),
                 steme_errname(rc), err.message);
    assert_int_equal(steme_kv_engine_of(d->kv), d->engine);
}

void kt_db_open(kt_db *d, steme_kv_engine e, const steme_kv_options *opts)
{
    memset(d, 0, sizeof *d);
    d->engine = e;
    if (opts)
        d->opts = *opts;
    else
        steme_kv_options_init(&d->opts);
    d->dir = tu_tempdir("kv");
    assert_non_null(d->dir);
    if (e == STEME_KV_PG) {
        /* the server is shared: each database gets a table of its own */
        static unsigned counter;
        snprintf(d->table, sizeof d->table, "kt_%ld_%u", (long)getpid(), counter++);
        d->opts.pg_table = d->table;
        d->path = strdup(getenv("STEME_PG_URL"));
        assert_non_null(d->path);
        kt_db_open_files(d);
        return;
    }
    size_t n = strlen(d->dir) + 8;
    d->path = malloc(n);
    assert_non_null(d->path);
    snprintf(d->path, n, "%s/db", d->dir);
    kt_db_open_files(d);
}

void kt_db_reopen(kt_db *d)
{
    assert_true(kt_on_disk(d->engine));
    steme_kv_close(d->kv);
    d->kv = NULL;
    kt_db_open_files(d);
}

/* Drop a pg test table (best effort: the cluster is thrown away anyway). */
static void kt_pg_drop(const char *url, const char *table)
{
    PGconn *c = PQconnectdb(url);
    if (c && PQstatus(c) == CONNECTION_OK) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", table);
        PQclear(PQexec(c, sql));
    }
    PQfinish(c);
}

void kt_db_close(kt_db *d)
{
    steme_kv_close(d->kv);
    d->kv = NULL;
    if (d->engine == STEME_KV_PG && d->path && d->table[0])
        kt_pg_drop(d->path, d->table);
    free(d->path);
    d->path = NULL;
    tu_rmtree_free(d->dir);
    d->dir = NULL;
}

/* --- keys --------------------------------------------------------------------- */

/* Fixed-field bytes from i: byte 0 alternates 0x00/0xFF, the rest varies. */
static void kt_fill(uint8_t *out, size_t n, uint64_t i)
{
    for (size_t j = 0; j < n; j++)
        out[j] = (uint8_t)(i * 0x9Du + j * 0x3Bu);
    out[0] = (i & 1) ? 0xFF : 0x00;
    out[n - 1] = (uint8_t)i;
    out[n - 2] = (uint8_t)(i >> 8);
}

void kt_key_make(kt_key *k, steme_key_family fam, const char *subject, uint64_t i)
{
    steme_key key;
    memset(&key, 0, sizeof key);
    key.family = fam;
    key.subject = subject ? subject : "s";
    key.subject_len = strlen(key.subject);
    char pred[32];
    snprintf(pred, sizeof pred, "p%llu", (unsigned long long)i);
    key.predicate = pred;
    key.predicate_len = strlen(pred);
    kt_fill(key.hash.bytes, sizeof key.hash.bytes, i);
    kt_fill(key.agent.bytes, sizeof key.agent.bytes, i + 7);
    kt_fill(key.id.bytes, sizeof key.id.bytes, i + 3);
    key.ts = i;
    key.status = (uint8_t)(i % 3 == 0 ? 0xFF : i);
    uint8_t name[4] = {(uint8_t)i, 0xFF, 0x00, (uint8_t)(i >> 8)};
    key.name = name;
    key.name_len = sizeof name;
    steme_error err = {0};
    int rc = steme_key_encode(&key, k->b, sizeof k->b, &k->n, &err);
    if (rc != STEME_OK)
        fail_msg("steme_key_encode(family %d, i %llu): %s", (int)fam, (unsigned long long)i,
                 err.message);
}

steme_kv_engine kt_key_engine(const uint8_t *key, size_t klen)
{
    return steme_key_family_engine(steme_key_family_of(key, klen));
}

/* --- lists ------------------------------------------------------------------ */

static uint8_t *kt_dup(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    assert_non_null(d);
    if (n)
        memcpy(d, p, n);
    return d;
}

void kt_list_clear(kt_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->e[i].k);
        free(l->e[i].v);
    }
    l->n = 0;
}

void kt_list_free(kt_list *l)
{
    kt_list_clear(l);
    free(l->e);
    l->e = NULL;
    l->cap = 0;
}

static void kt_list_insert(kt_list *l, size_t at, const uint8_t *k, size_t kn, const uint8_t *v,
                           size_t vn)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->e = realloc(l->e, l->cap * sizeof *l->e);
        assert_non_null(l->e);
    }
    memmove(&l->e[at + 1], &l->e[at], (l->n - at) * sizeof *l->e);
    l->e[at] = (kt_entry){kt_dup(k, kn), kn, kt_dup(v, vn), vn};
    l->n++;
}

void kt_list_push(kt_list *l, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn)
{
    kt_list_insert(l, l->n, k, kn, v, vn);
}

int kt_collect(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    kt_list *l = ctx;
    kt_list_push(l, key, klen, val, vlen);
    return l->stop_after && l->n >= l->stop_after;
}

int kt_scan(steme_kv *kv, const void *prefix, size_t plen, const void *after, size_t alen,
            size_t limit, unsigned flags, kt_list *out)
{
    kt_list_clear(out);
    size_t visited = 12345;
    int rc = steme_kv_scan(kv, prefix, plen, after, alen, limit, flags, kt_collect, out, &visited);
    if (rc == STEME_OK && visited != out->n)
        fail_msg("scan reported %zu visited but called back %zu times", visited, out->n);
    return rc;
}

int kt_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (an < bn ? -1 : an > bn);
}

const char *kt_hex(const uint8_t *p, size_t n, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < 40 && o + 3 < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%02x", p[i]);
    if (n > 40 && o + 4 < cap)
        snprintf(buf + o, cap - o, "...");
    return buf;
}

void kt_list_expect_equal(const kt_list *got, const kt_list *want, const char *what)
{
    char h1[128], h2[128];
    size_t n = got->n < want->n ? got->n : want->n;
    for (size_t i = 0; i < n; i++) {
        const kt_entry *g = &got->e[i], *w = &want->e[i];
        if (kt_cmp(g->k, g->kn, w->k, w->kn) != 0)
            fail_msg("%s: entry %zu: key %s (%zu B), expected %s (%zu B)", what, i,
                     kt_hex(g->k, g->kn, h1, sizeof h1), g->kn, kt_hex(w->k, w->kn, h2, sizeof h2),
                     w->kn);
        if (kt_cmp(g->v, g->vn, w->v, w->vn) != 0)
            fail_msg("%s: entry %zu (key %s): value %s (%zu B), expected %s (%zu B)", what, i,
                     kt_hex(g->k, g->kn, h1, sizeof h1), kt_hex(g->v, g->vn, h2, sizeof h2), g->vn,
                     kt_hex(w->v, w->vn, h2, sizeof h2), w->vn);
    }
    if (got->n != want->n)
        fail_msg("%s: %zu entries, expected %zu (first extra: %s)", what, got->n, want->n,
                 got->n > want->n ? kt_hex(got->e[n].k, got->e[n].kn, h1, sizeof h1)
                                  : kt_hex(want->e[n].k, want->e[n].kn, h1, sizeof h1));
}

/* --- model -------------------------------------------------------------------- */

/* Index of the first entry >= k. */
static size_t kt_lower(const kt_model *m, const uint8_t *k, size_t kn)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kt_cmp(m->e[mid].k, m->e[mid].kn, k, kn) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const kt_entry *kt_model_get(const kt_model *m, const uint8_t *k, size_t kn)
{
    size_t i = kt_lower(m, k, kn);
    return i < m->n && kt_cmp(m->e[i].k, m->e[i].kn, k, kn) == 0 ? &m->e[i] : NULL;
}

void kt_model_put(kt_model *m, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn)
{
    size_t i = kt_lower(m, k, kn);
    if (i < m->n && kt_cmp(m->e[i].k, m->e[i].kn, k, kn) == 0) {
        free(m->e[i].v);
        m->e[i].v = kt_dup(v, vn);
        m->e[i].vn = vn;
        return;
    }
    kt_list_insert(m, i, k, kn, v, vn);
}

void kt_model_del(kt_model *m, const uint8_t *k, size_t kn)
{
    size_t i = kt_lower(m, k, kn);
    if (i < m->n && kt_cmp(m->e[i].k, m->e[i].kn, k, kn) == 0) {
        free(m->e[i].k);
        free(m->e[i].v);
        memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof *m->e);
        m->n--;
    }
}

static uint64_t kt_model_counter(const kt_model *m, const uint8_t *k, size_t kn, int *found)
{
    const kt_entry *e = kt_model_get(m, k, kn);
    *found = e != NULL;
    if (!e)
        return 0;
    assert_int_equal(e->vn, 8);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | e->v[i];
    return v;
}

static void kt_model_set_counter(kt_model *m, const uint8_t *k, size_t kn, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    kt_model_put(m, k, kn, b, 8);
}

void kt_model_add_u64(kt_model *m, const uint8_t *k, size_t kn, int64_t delta)
{
    int found;
    uint64_t v = kt_model_counter(m, k, kn, &found);
    kt_model_set_counter(m, k, kn, v + (uint64_t)delta);
}

void kt_model_add_f64(kt_model *m, const uint8_t *k, size_t kn, double delta)
{
    int found;
    uint64_t bits = kt_model_counter(m, k, kn, &found);
    double d = 0;
    if (found)
        memcpy(&d, &bits, 8);
    d = found ? d + delta : delta;
    memcpy(&bits, &d, 8);
    kt_model_set_counter(m, k, kn, bits);
}

static int kt_has_prefix(const kt_entry *e, const uint8_t *p, size_t pn)
{
    return e->kn >= pn && (pn == 0 || memcmp(e->k, p, pn) == 0);
}

void kt_model_scan(const kt_model *m, const uint8_t *prefix, size_t plen, const uint8_t *after,
                   size_t alen, size_t limit, unsigned flags, kt_list *out)
{
    /* the plain definition: filter every entry, in order, then cut */
    kt_list_clear(out);
    int rev = (flags & STEME_SCAN_REVERSE) != 0;
    for (size_t j = 0; j < m->n; j++) {
        const kt_entry *e = &m->e[rev ? m->n - 1 - j : j];
        if (!kt_has_prefix(e, prefix, plen))
            continue;
        if (after) {
            int c = kt_cmp(e->k, e->kn, after, alen);
            if (rev ? c >= 0 : c <= 0)
                continue;
        }
        if (limit && out->n == limit)
            break;
        kt_list_push(out, e->k, e->kn, e->v, e->vn);
    }
}
