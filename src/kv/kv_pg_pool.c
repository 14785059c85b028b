/*
 * kv_pg_pool.c - the pg engine's connection pool, failure classification
 * and retry loop.
 *
 * Pool: pool_size slots, each a libpq connection opened on first use (a
 * handle that never needs more than one connection opens one). A call takes
 * an idle slot or waits for one; the connection is used by one thread at a
 * time, so no libpq object is ever shared. Before a slot goes back, a
 * connection left inside a transaction (a failed batch) is rolled back, and
 * a lost one is marked broken: the next user PQreset()s it, which keeps the
 * connection parameters, and prepares the statements again (a new session
 * has none).
 *
 * Retries (kv_pg_run): the call is re-run from scratch on a fresh or reset
 * connection, after 2 ms, 4 ms, ... up to 500 ms between attempts, each with
 * random jitter so that clients that failed together do not retry together,
 * until pg_opts.retry_ms is spent. What is retried:
 *   40001 serialization_failure, 40P01 deadlock_detected: the transaction
 *     was rolled back by the server, running it again is always correct;
 *   a lost or refused connection (class 08, 57P01..57P03 admin/crash
 *     shutdown or "cannot connect now" while the server restarts, 53300 too
 *     many connections, or libpq losing the socket).
 * A connection lost with no verdict from the server (no SQLSTATE, the
 * commit may or may not have happened) is ambiguous: re-running a put,
 * delete or read is harmless, re-running a counter add could count twice,
 * so an add then fails with STEME_E_IO and says so.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv/kv_pg_int.h"

/* --- failures ------------------------------------------------------------- */

static void copy_msg(kv_pg_err *e, const char *what, const char *msg)
{
    snprintf(e->msg, sizeof e->msg, "%s: %s", what, msg && *msg ? msg : "(no message)");
    /* libpq messages end with a newline; keep ours on one line */
    for (char *p = e->msg; *p; p++)
        if (*p == '\n')
            *p = (p[1] ? ' ' : '\0');
}

void kv_pg_err_result(kv_pg_err *e, PGconn *c, const PGresult *r, const char *what)
{
    if (e->kind)
        return; /* the first failure explains the call */
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : NULL;
    if (!msg || !*msg)
        msg = PQerrorMessage(c);
    copy_msg(e, what, msg);
    if (!st || !*st) {
        /* libpq's own failure: the connection broke under the call */
        if (PQstatus(c) == CONNECTION_BAD) {
            e->kind = KV_PG_RETRY_CONN;
            e->ambiguous = 1;
        } else {
            e->kind = KV_PG_FAIL;
            e->code = STEME_E_ENGINE;
        }
        return;
    }
    snprintf(e->sqlstate, sizeof e->sqlstate, "%s", st);
    e->kind = KV_PG_FAIL;
    e->code = STEME_E_ENGINE;
    if (!strcmp(st, "40001") || !strcmp(st, "40P01"))
        e->kind = KV_PG_RETRY_TXN;
    else if (!strncmp(st, "08", 2) || !strcmp(st, "57P01") || !strcmp(st, "57P02") ||
             !strcmp(st, "57P03") || !strcmp(st, "53300"))
        e->kind = KV_PG_RETRY_CONN; /* the server ended the session: not committed */
    else if (!strcmp(st, "22P02") && strstr(e->msg, KV_PG_EXPECT_FAILED))
        e->code = STEME_E_BUSY, copy_msg(e, what, KV_EXPECT_FAILED_MSG);
    else if (!strcmp(st, "22P02") && strstr(e->msg, KV_PG_NOT_COUNTER))
        e->code = STEME_E_CORRUPT, copy_msg(e, what, "counter value is not 8 bytes");
    else if (!strcmp(st, "22003"))
        e->code = STEME_E_INVALID; /* f64 add overflows, or the counter holds inf/NaN */
    else if (!strcmp(st, "54000"))
        e->code = STEME_E_TOO_BIG; /* e.g. an incompressible key over the btree limit */
    else if (!strcmp(st, "53100"))
        e->code = STEME_E_FULL;
}

void kv_pg_err_conn(kv_pg_err *e, PGconn *c, const char *what)
{
    if (e->kind)
        return;
    copy_msg(e, what, PQerrorMessage(c));
    e->kind = KV_PG_RETRY_CONN;
}

void kv_pg_err_local(kv_pg_err *e, int code, const char *what)
{
    if (e->kind)
        return;
    snprintf(e->msg, sizeof e->msg, "%s", what);
    e->kind = KV_PG_FAIL;
    e->code = code;
}

/* --- pool ------------------------------------------------------------------ */

int kv_pg_pool_init(kv_pg *g, steme_error *err)
{
    size_t n = g->pg_opts.pool_size;
    g->pg_conns = calloc(n, sizeof *g->pg_conns);
    g->pg_free = calloc(n, sizeof *g->pg_free);
    if (!g->pg_conns || !g->pg_free)
        return steme_err(err, STEME_E_NOMEM, "pg: no memory for a pool of %zu", n);
    if (pthread_mutex_init(&g->pg_mu, NULL) != 0)
        return steme_err(err, STEME_E_NOMEM, "pg: cannot create the pool mutex");
    if (pthread_cond_init(&g->pg_cv, NULL) != 0) {
        pthread_mutex_destroy(&g->pg_mu);
        return steme_err(err, STEME_E_NOMEM, "pg: cannot create the pool condition");
    }
    return STEME_OK;
}

void kv_pg_pool_destroy(kv_pg *g)
{
    if (!g->pg_conns)
        return;
    for (size_t i = 0; i < g->pg_ncreated; i++)
        if (g->pg_conns[i].pc_conn)
            PQfinish(g->pg_conns[i].pc_conn);
    pthread_cond_destroy(&g->pg_cv);
    pthread_mutex_destroy(&g->pg_mu);
    free(g->pg_conns);
    free(g->pg_free);
    g->pg_conns = NULL;
}

static size_t pool_take(kv_pg *g)
{
    pthread_mutex_lock(&g->pg_mu);
    while (g->pg_nfree == 0 && g->pg_ncreated == g->pg_opts.pool_size)
        pthread_cond_wait(&g->pg_cv, &g->pg_mu);
    size_t i = g->pg_nfree ? g->pg_free[--g->pg_nfree] : g->pg_ncreated++;
    pthread_mutex_unlock(&g->pg_mu);
    return i;
}

static void pool_give(kv_pg *g, size_t i)
{
    pthread_mutex_lock(&g->pg_mu);
    g->pg_free[g->pg_nfree++] = i;
    pthread_cond_signal(&g->pg_cv);
    pthread_mutex_unlock(&g->pg_mu);
}

/*
 * Notices: libpq would print them on stderr. We drop them, but note one
 * thing: a FATAL "terminating connection" (57P01 admin shutdown, 57P02 crash
 * shutdown, 57P03 cannot connect now) arriving as a notice means the server
 * ended the session while it had no query of ours in progress (had it been
 * running ours, the error would be that query's result). libpq reports it
 * this way when our send fails on a session the server already closed, and
 * then our query was never executed: the failure is not ambiguous.
 */
static void notice_receiver(void *arg, const PGresult *r)
{
    kv_pg_conn *pc = arg;
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (pc && st && !strncmp(st, "57P0", 4))
        pc->pc_terminated = 1;
}

const char *kv_pg_conn_message(PGconn *c, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", c ? PQerrorMessage(c) : "out of memory");
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = (p[1] ? ' ' : '\0');
    return buf;
}

PGconn *kv_pg_connect(const char *conninfo, kv_pg_conn *pc)
{
    /* The conninfo comes last and is expanded (expand_dbname = 1), so its own
     * settings override these defaults. A connect timeout keeps a dead host
     * from hanging a call forever; retries decide how long we keep trying. */
    static const char *const keys[] = {"connect_timeout", "fallback_application_name",
                                       "dbname", NULL};
    const char *vals[] = {"10", "steme", conninfo, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c)
        PQsetNoticeReceiver(c, notice_receiver, pc); /* kept across PQreset */
    return c;
}

/* Make slot pc usable: connected, statements prepared. 0 or -1 (e filled). */
static int conn_ready(kv_pg *g, kv_pg_conn *pc, kv_pg_err *e)
{
    pc->pc_terminated = 0;
    if (!pc->pc_conn) {
        pc->pc_conn = kv_pg_connect(g->pg_conninfo, pc);
        if (!pc->pc_conn) {
            kv_pg_err_local(e, STEME_E_NOMEM, "connect: out of memory");
            return -1;
        }
        pc->pc_prepared = 0;
        pc->pc_broken = PQstatus(pc->pc_conn) != CONNECTION_OK;
    } else if (pc->pc_broken || PQstatus(pc->pc_conn) != CONNECTION_OK) {
        atomic_fetch_add(&g->pg_reconnects, 1);
        PQreset(pc->pc_conn);
        PQsetnonblocking(pc->pc_conn, 0); /* it may have died inside a pipeline */
        pc->pc_prepared = 0;
        pc->pc_broken = PQstatus(pc->pc_conn) != CONNECTION_OK;
    }
    if (pc->pc_broken) {
        kv_pg_err_conn(e, pc->pc_conn, "connect");
        return -1;
    }
    if (!pc->pc_prepared) {
        if (kv_pg_prepare_all(g, pc->pc_conn, e) != 0) {
            pc->pc_broken = 1; /* a half-prepared session: start over */
            return -1;
        }
        pc->pc_prepared = 1;
    }
    return 0;
}

/* After a call: leave the session idle, outside any transaction, or mark it. */
static void conn_settle(kv_pg_conn *pc)
{
    PGconn *c = pc->pc_conn;
    if (!c || pc->pc_broken)
        return;
    if (PQstatus(c) != CONNECTION_OK || PQpipelineStatus(c) != PQ_PIPELINE_OFF) {
        pc->pc_broken = 1;
        return;
    }
    PGTransactionStatusType ts = PQtransactionStatus(c);
    if (ts == PQTRANS_IDLE)
        return;
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
        PGresult *r = PQexec(c, "ROLLBACK");
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            pc->pc_broken = 1;
        PQclear(r);
        return;
    }
    pc->pc_broken = 1;
}

/* --- retries ---------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* A pseudo-random number for jitter (splitmix64 over a shared counter). */
static uint64_t jitter(kv_pg *g)
{
    uint64_t z = atomic_fetch_add(&g->pg_jitter, 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int final_failure(kv_pg *g, const char *what, const kv_pg_err *e, int idempotent,
                         unsigned attempts, uint64_t elapsed)
{
    steme_kv *kv = &g->pg_base;
    if (e->kind == KV_PG_FAIL)
        return kv_fail(kv, e->code, "pg %s: %s%s%s", what, e->msg,
                       e->sqlstate[0] ? " SQLSTATE " : "", e->sqlstate);
    if (e->ambiguous && !idempotent)
        return kv_fail(kv, STEME_E_IO,
                       "pg %s: the connection was lost before the commit was confirmed, so "
                       "the counter add may or may not have been applied (not retried, it "
                       "could count twice): %s",
                       what, e->msg);
    if (e->no_retry)
        return kv_fail(kv, e->kind == KV_PG_RETRY_TXN ? STEME_E_BUSY : STEME_E_IO,
                       "pg %s: failed after delivering results, cannot retry: %s", what,
                       e->msg);
    if (e->kind == KV_PG_RETRY_TXN)
        return kv_fail(kv, STEME_E_BUSY,
                       "pg %s: still conflicting after %u attempts in %llu ms (retry budget "
                       "%u ms): %s SQLSTATE %s",
                       what, attempts, (unsigned long long)elapsed, g->pg_opts.retry_ms, e->msg,
                       e->sqlstate);
    return kv_fail(kv, STEME_E_IO,
                   "pg %s: database unreachable after %u attempts in %llu ms (retry budget %u "
                   "ms): %s",
                   what, attempts, (unsigned long long)elapsed, g->pg_opts.retry_ms, e->msg);
}

int kv_pg_run(kv_pg *g, const char *what, int idempotent, kv_pg_attempt_fn fn, void *ctx)
{
    uint64_t start = now_ms();
    unsigned delay = 2, attempts = 0;
    for (;;) {
        kv_pg_err e;
        memset(&e, 0, sizeof e);
        size_t slot = pool_take(g);
        kv_pg_conn *pc = &g->pg_conns[slot];
        int r = conn_ready(g, pc, &e);
        if (r == 0)
            r = fn(g, pc, ctx, &e);
        if (r != 0 && e.ambiguous && pc->pc_terminated)
            e.ambiguous = 0; /* the server ended the session before our query */
        conn_settle(pc);
        pool_give(g, slot);
        if (r == 0)
            return STEME_OK;
        attempts++;
        uint64_t elapsed = now_ms() - start;
        int retry = (e.kind == KV_PG_RETRY_TXN || e.kind == KV_PG_RETRY_CONN) && !e.no_retry &&
                    !(e.ambiguous && !idempotent) && elapsed < g->pg_opts.retry_ms;
        if (!retry)
            return final_failure(g, what, &e, idempotent, attempts, elapsed);
        atomic_fetch_add(&g->pg_retries, 1);
        unsigned wait = delay / 2 + (unsigned)(jitter(g) % (delay / 2 + 1));
        if (elapsed + wait > g->pg_opts.retry_ms)
            wait = (unsigned)(g->pg_opts.retry_ms - elapsed);
        sleep_ms(wait);
        if (delay < 500)
            delay *= 2;
    }
}

