/*
 * kv_pg.c - the pg engine: steme's KV interface on PostgreSQL through libpq,
 * and on the engines that speak its wire protocol (CockroachDB, YugabyteDB).
 * This file: the design, open/close, point operations. Pool and retries:
 * kv_pg_pool.c; statements and counter arithmetic: kv_pg_sql.c; pipelined
 * batches and multi-get: kv_pg_pipe.c; scans: kv_pg_scan.c.
 *
 * Design choices
 *
 * One table, `kv(key bytea PRIMARY KEY, value bytea NOT NULL)`, for every
 * family, rather than one per family group:
 *   - the keys already encode the family and start with the subject, so one
 *     primary key orders everything about a subject together; a
 *     range-sharded engine splits that one key space by subject, and a scan
 *     of "{subject}\0" (every family of a subject) is one index range
 *     instead of a merge over several tables;
 *   - a batch is atomic in one transaction whatever families it touches:
 *     there is no cross-table routing to get wrong;
 *   - the statements are fixed strings prepared once per connection: no
 *     per-key choice of table in the hot path.
 * What per-family tables would buy (separate vacuum/fillfactor tuning for the
 * write-heavy vote counters) can be had later with PostgreSQL partitioning
 * by key range under the same table name. The table name is an option so
 * several steme deployments (or tests) share one database.
 *
 * Order: bytea compares bytewise (memcmp, then shorter first), exactly
 * steme's key order. Open checks it with one query and refuses a server that
 * orders differently, since every scan depends on it.
 *
 * Point operations are prepared statements, one round trip each, binary
 * parameters and results. Puts are upserts (INSERT ... ON CONFLICT DO
 * UPDATE), counters too, with the arithmetic in SQL (kv_pg_sql.c): never a
 * read in C followed by a write, which would lose updates between nodes.
 * Multi-gets and batches are pipelined (kv_pg_pipe.c): one round trip for
 * any number of keys. Batches are one transaction.
 *
 * Durability: STEME_KV_SYNC changes nothing here, because a PostgreSQL
 * commit with synchronous_commit = on (the server default, which we do not
 * change) returns only once its WAL record is flushed: every acknowledged
 * write is already durable against power loss, and steme_kv_sync() has
 * nothing left to do. A deployment that sets synchronous_commit = off on the
 * server trades that away knowingly. On a replicated setup the same setting
 * (with synchronous_standby_names) decides whether a standby must have it.
 *
 * Portability (PostgreSQL, CockroachDB, YugabyteDB): no LISTEN/NOTIFY,
 * advisory locks, triggers or stored functions; CREATE TABLE IF NOT EXISTS,
 * ON CONFLICT, get_byte/set_byte, explicit BEGIN/COMMIT and REPEATABLE READ
 * are accepted by all three. The one PostgreSQL-only piece is float8send in
 * the f64 add (see kv_pg_sql.c). CockroachDB runs SERIALIZABLE and reports
 * contention as 40001: the retry loop (kv_pg_pool.c) is what makes that
 * invisible to callers.
 *
 * Threads: a handle serves many threads; each call takes a pooled connection
 * for its duration (kv_pg_pool.c), so no libpq object is shared.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_pg_int.h"

static inline kv_pg *G(steme_kv *kv)
{
    return (kv_pg *)kv;
}

static const int fmt_bin[4] = {1, 1, 1, 1};

/* Run a prepared command (no rows expected). 0 or -1 with e filled. */
static int exec_cmd(PGconn *c, int stmt, int n, const char *const *vals, const int *lens,
                    kv_pg_err *e)
{
    PGresult *r = PQexecPrepared(c, kv_pg_stmt_name(stmt), n, vals, lens, fmt_bin, 1);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        kv_pg_err_result(e, c, r, kv_pg_stmt_name(stmt));
    PQclear(r);
    return ok ? 0 : -1;
}

/* --- reads ------------------------------------------------------------------ */

typedef struct get_ctx {
    const uint8_t *key;
    size_t klen;
    steme_buf *out;       /* get: the value here ... */
    uint8_t *into;        /* ... or get_into: min(len, cap) bytes here */
    size_t cap;
    size_t vlen;
    int found;
} get_ctx;

static int get_attempt(kv_pg *g, kv_pg_conn *pc, void *ctx, kv_pg_err *e)
{
    (void)g;
    get_ctx *q = ctx;
    const char *vals[1] = {(const char *)q->key};
    int lens[1] = {(int)q->klen};
    PGconn *c = pc->pc_conn;
    PGresult *r = PQexecPrepared(c, kv_pg_stmt_name(KV_PG_GET), 1, vals, lens, fmt_bin, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        kv_pg_err_result(e, c, r, "get");
        PQclear(r);
        return -1;
    }
    int rc = 0;
    q->found = PQntuples(r) > 0;
    if (q->found) {
        const char *v = PQgetvalue(r, 0, 0);
        q->vlen = (size_t)PQgetlength(r, 0, 0);
        if (q->out) {
            if (steme_buf_set(q->out, v, q->vlen) != STEME_OK) {
                kv_pg_err_local(e, STEME_E_NOMEM, "get: out of memory for the value");
                rc = -1;
            }
        } else if (q->cap) {
            memcpy(q->into, v, q->vlen < q->cap ? q->vlen : q->cap);
        }
    }
    PQclear(r);
    return rc;
}

static int kv_pg_get(steme_kv *kv, const uint8_t *key, size_t klen, steme_buf *out)
{
    get_ctx q = {key, klen, out, NULL, 0, 0, 0};
    int rc = kv_pg_run(G(kv), "get", 1, get_attempt, &q);
    if (rc != STEME_OK || !q.found) {
        out->len = 0;
        return rc != STEME_OK ? rc : STEME_E_NOTFOUND;
    }
    return STEME_OK;
}

static int kv_pg_get_into(steme_kv *kv, const uint8_t *key, size_t klen, uint8_t *out,
                          size_t cap, size_t *vlen)
{
    get_ctx q = {key, klen, NULL, out, cap, 0, 0};
    *vlen = 0;
    int rc = kv_pg_run(G(kv), "get", 1, get_attempt, &q);
    if (rc != STEME_OK)
        return rc;
    if (!q.found)
        return STEME_E_NOTFOUND;
    *vlen = q.vlen;
    return STEME_OK;
}

/* --- writes ----------------------------------------------------------------- */

/* One prepared write: statement and its parameters (key first). */
typedef struct write_ctx {
    int stmt;
    int n;
    const char *vals[4];
    int lens[4];
} write_ctx;

static int write_attempt(kv_pg *g, kv_pg_conn *pc, void *ctx, kv_pg_err *e)
{
    (void)g;
    write_ctx *w = ctx;
    return exec_cmd(pc->pc_conn, w->stmt, w->n, w->vals, w->lens, e);
}

static int kv_pg_put(steme_kv *kv, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen, unsigned flags)
{
    (void)flags; /* every commit is synchronous: see the top of this file */
    write_ctx w = {KV_PG_PUT, 2, {(const char *)key, (const char *)val}, {(int)klen, (int)vlen}};
    return kv_pg_run(G(kv), "put", 1, write_attempt, &w);
}

static int kv_pg_del(steme_kv *kv, const uint8_t *key, size_t klen, unsigned flags)
{
    (void)flags;
    write_ctx w = {KV_PG_DEL, 1, {(const char *)key}, {(int)klen}};
    return kv_pg_run(G(kv), "delete", 1, write_attempt, &w);
}

static int kv_pg_add_u64(steme_kv *kv, const uint8_t *key, size_t klen, int64_t delta,
                         unsigned flags)
{
    (void)flags;
    uint64_t d = (uint64_t)delta;
    uint8_t init[8];
    char lo[8], hi[8];
    kv_u64_to_le(d, init);          /* the value when the key is new: 0 + delta */
    kv_pg_be64(d & 0xFFFFFFFFu, lo);
    kv_pg_be64(d >> 32, hi);
    write_ctx w = {KV_PG_ADD_U64, 4, {(const char *)key, (const char *)init, lo, hi},
                   {(int)klen, 8, 8, 8}};
    return kv_pg_run(G(kv), "add_u64", 0, write_attempt, &w);
}

static int kv_pg_add_f64(steme_kv *kv, const uint8_t *key, size_t klen, double delta,
                         unsigned flags)
{
    (void)flags;
    double first = 0.0 + delta; /* IEEE: -0.0 becomes +0.0, as on the other engines */
    uint64_t bits;
    uint8_t init[8];
    char d[8];
    memcpy(&bits, &first, 8);
    kv_u64_to_le(bits, init);
    memcpy(&bits, &delta, 8);
    kv_pg_be64(bits, d);
    write_ctx w = {KV_PG_ADD_F64, 3, {(const char *)key, (const char *)init, d}, {(int)klen, 8, 8}};
    return kv_pg_run(G(kv), "add_f64", 0, write_attempt, &w);
}

static int kv_pg_sync(steme_kv *kv)
{
    (void)kv; /* every acknowledged commit is already flushed: see the top */
    return STEME_OK;
}

/* --- open / close ----------------------------------------------------------- */

static void kv_pg_close(steme_kv *kv)
{
    kv_pg *g = G(kv);
    kv_pg_pool_destroy(g);
    kv_pg_sql_free(g);
    free(g->pg_conninfo);
    kv_base_destroy(&g->pg_base);
    free(g);
}

static const kv_vtable kv_pg_vtable = {
    .name = "pg",
    .close = kv_pg_close,
    .get = kv_pg_get,
    .multi_get = kv_pg_multi_get,
    .get_into = kv_pg_get_into,
    .put = kv_pg_put,
    .del = kv_pg_del,
    .add_u64 = kv_pg_add_u64,
    .add_f64 = kv_pg_add_f64,
    .scan = kv_pg_scan,
    .write = kv_pg_write,
    .sync = kv_pg_sync,
};

void kv_pg_get_stats(steme_kv *kv, kv_pg_stats *st)
{
    kv_pg *g = G(kv);
    st->retries = atomic_load(&g->pg_retries);
    st->reconnects = atomic_load(&g->pg_reconnects);
    pthread_mutex_lock(&g->pg_mu);
    st->connections = g->pg_ncreated;
    pthread_mutex_unlock(&g->pg_mu);
}

/* [a-z_][a-z0-9_]*, optionally schema.table: safe to splice into SQL unquoted. */
static int table_name_ok(const char *t)
{
    size_t n = strlen(t), dots = 0;
    if (n == 0 || n >= 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        int start = i == 0 || t[i - 1] == '.';
        if (ch == '.') {
            if (start || i + 1 == n || ++dots > 1)
                return 0;
        } else if (!((ch >= 'a' && ch <= 'z') || ch == '_' || (!start && ch >= '0' && ch <= '9'))) {
            return 0;
        }
    }
    return 1;
}

/* Run one statement; returns the result (caller clears) or NULL with e filled. */
static PGresult *setup_exec(PGconn *c, const char *sql, ExecStatusType want, kv_pg_err *e)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) == want)
        return r;
    kv_pg_err_result(e, c, r, sql);
    PQclear(r);
    return NULL;
}

/* Check the order, make sure the table exists, prepare the statements. */
static int setup(kv_pg *g, PGconn *c, int create, steme_error *err)
{
    kv_pg_err e = {0};
    PGresult *r = setup_exec(c,
                             "SELECT decode('7f','hex') < decode('80','hex')"
                             " AND decode('ff','hex') > decode('00ff','hex')"
                             " AND decode('01','hex') < decode('0100','hex')"
                             " AND decode('','hex') < decode('00','hex')",
                             PGRES_TUPLES_OK, &e);
    if (!r)
        return steme_err(err, STEME_E_ENGINE, "pg open: %s", e.msg);
    int bytewise = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!bytewise)
        return steme_err(err, STEME_E_ENGINE,
                         "pg open: the server does not order bytea bytewise; steme's scans "
                         "need memcmp order");
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s LIMIT 0", g->pg_table);
    for (int tries = 0;; tries++) {
        memset(&e, 0, sizeof e);
        r = setup_exec(c, sql, PGRES_TUPLES_OK, &e);
        if (r) {
            PQclear(r);
            break;
        }
        if (strcmp(e.sqlstate, "42P01") != 0)
            return steme_err(err, STEME_E_ENGINE, "pg open: %s", e.msg);
        if (!create)
            return steme_err(err, STEME_E_INVALID,
                             "pg open: table %s does not exist and create_if_missing is 0",
                             g->pg_table);
        if (tries == 3)
            return steme_err(err, STEME_E_ENGINE, "pg open: cannot create table %s: %s",
                             g->pg_table, e.msg);
        char ddl[256];
        snprintf(ddl, sizeof ddl,
                 "CREATE TABLE IF NOT EXISTS %s (key bytea PRIMARY KEY, value bytea NOT NULL)",
                 g->pg_table);
        memset(&e, 0, sizeof e);
        r = setup_exec(c, ddl, PGRES_COMMAND_OK, &e);
        PQclear(r);
        /* two nodes creating at once: the loser gets 23505/42P07; check again */
        if (!r && strcmp(e.sqlstate, "23505") != 0 && strcmp(e.sqlstate, "42P07") != 0)
            return steme_err(err, STEME_E_ENGINE, "pg open: cannot create table %s: %s",
                             g->pg_table, e.msg);
    }
    memset(&e, 0, sizeof e);
    if (kv_pg_prepare_all(g, c, &e) != 0)
        return steme_err(err, STEME_E_ENGINE,
                         "pg open: cannot prepare statements on table %s (wrong columns?): %s",
                         g->pg_table, e.msg);
    return STEME_OK;
}

void kv_pg_options_init(kv_pg_options *po)
{
    memset(po, 0, sizeof *po);
    po->pool_size = 8;
    po->table = "kv";
    po->retry_ms = 30000;
    po->scan_page = 512;
    po->create_if_missing = 1;
}

int kv_pg_open_ex(const char *conninfo, const kv_pg_options *po, steme_kv **out,
                  steme_error *err)
{
    *out = NULL;
    if (!po)
        return steme_err(err, STEME_E_INVALID, "pg open: options are NULL");
    if (!conninfo || !*conninfo)
        return steme_err(err, STEME_E_INVALID, "pg open: the connection string is empty");
    char *perr = NULL;
    PQconninfoOption *parsed = PQconninfoParse(conninfo, &perr);
    if (!parsed) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", perr ? perr : "out of memory");
        msg[strcspn(msg, "\n")] = 0;
        int rc = steme_err(err, perr ? STEME_E_INVALID : STEME_E_NOMEM,
                           "pg open: bad connection string: %s", msg);
        PQfreemem(perr);
        return rc;
    }
    PQconninfoFree(parsed);
    if (!po->table || !table_name_ok(po->table))
        return steme_err(err, STEME_E_INVALID,
                         "pg open: table name must match [a-z_][a-z0-9_]* (or schema.table), "
                         "under 64 bytes");
    if (po->pool_size < 1 || po->pool_size > 4096 || po->scan_page < 1 ||
        po->scan_page > 1000000)
        return steme_err(err, STEME_E_INVALID,
                         "pg open: pool_size must be 1..4096 and scan_page 1..1000000");
    kv_pg *g = calloc(1, sizeof *g);
    if (!g)
        return steme_err(err, STEME_E_NOMEM, "pg open: out of memory");
    g->pg_opts = *po;
    snprintf(g->pg_table, sizeof g->pg_table, "%s", po->table);
    g->pg_opts.table = g->pg_table;
    g->pg_conninfo = strdup(conninfo);
    int rc = kv_base_init(&g->pg_base, &kv_pg_vtable, KV_PG_ENGINE);
    if (rc != STEME_OK) {
        free(g->pg_conninfo);
        free(g);
        return steme_err(err, rc, "pg open: cannot create the error slot");
    }
    if (!g->pg_conninfo || kv_pg_sql_build(g) != STEME_OK) {
        kv_pg_close(&g->pg_base);
        return steme_err(err, STEME_E_NOMEM, "pg open: out of memory");
    }
    rc = kv_pg_pool_init(g, err);
    if (rc != STEME_OK) {
        kv_pg_close(&g->pg_base);
        return rc;
    }
    PGconn *c = kv_pg_connect(conninfo, &g->pg_conns[0]);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        rc = steme_err(err, c ? STEME_E_IO : STEME_E_NOMEM, "pg open: cannot connect: %s",
                       kv_pg_conn_message(c, msg, sizeof msg));
        PQfinish(c);
        kv_pg_close(&g->pg_base);
        return rc;
    }
    rc = setup(g, c, po->create_if_missing, err);
    /* the pool adopts this first connection, statements prepared */
    g->pg_conns[0].pc_conn = c;
    g->pg_conns[0].pc_prepared = rc == STEME_OK;
    g->pg_ncreated = 1;
    g->pg_free[0] = 0;
    g->pg_nfree = 1;
    if (rc != STEME_OK) {
        kv_pg_close(&g->pg_base);
        return rc;
    }
    *out = &g->pg_base;
    return STEME_OK;
}

int kv_pg_open(const char *conninfo, const steme_kv_options *o, steme_kv **out,
               steme_error *err)
{
    if (!out)
        return steme_err(err, STEME_E_INVALID, "pg open: out is NULL");
    kv_pg_options po;
    kv_pg_options_init(&po);
    if (o) {
        po.create_if_missing = o->create_if_missing;
        if (o->pg_pool_size)
            po.pool_size = o->pg_pool_size;
        if (o->pg_table)
            po.table = o->pg_table;
        if (o->pg_retry_ms)
            po.retry_ms = o->pg_retry_ms;
    }
    return kv_pg_open_ex(conninfo, &po, out, err);
}


