/*
 * kv_pg_pipe.c - libpq pipeline mode: many statements, one round trip. Used
 * for atomic batches (BEGIN, the ops, COMMIT), multi-gets (n point reads)
 * and statement preparation.
 *
 * Why non-blocking I/O: in a pipeline the server answers while we are still
 * sending. With blocking sends, a batch large enough to fill both socket
 * buffers would deadlock (the server blocks writing results nobody reads,
 * we block writing statements it no longer reads). So the connection is
 * put in non-blocking mode, every statement is queued in libpq's buffer,
 * and one loop flushes output and consumes input as poll() allows.
 *
 * Batches: an explicit BEGIN ... COMMIT rather than the implicit
 * transaction of a pipeline segment, because every PostgreSQL-wire engine
 * agrees on what an explicit transaction means. If any statement fails the
 * server skips the rest (COMMIT included) up to the Sync, the transaction
 * is rolled back (kv_pg_pool.c sends ROLLBACK before the connection is
 * reused), and nothing of the batch is applied. A batch without counter
 * adds is idempotent, so a batch whose COMMIT verdict was lost with the
 * connection is simply retried; one with adds is not (see kv_pg_run).
 * (A retried batch with a precondition that had in fact committed then
 * finds its precondition false: STEME_E_BUSY, and the caller reads again.)
 *
 * Preconditions (steme_kv_batch_expect) are statements that fail when the
 * key does not hold what is expected (kv_pg_sql.c); such a failure aborts
 * the transaction like any other, and is reported as STEME_E_BUSY.
 */

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_pg_int.h"

int kv_pg_pipeline(PGconn *c, size_t n, kv_pg_send_fn send, kv_pg_result_fn on, void *ctx,
                   size_t *last_seen, kv_pg_err *e)
{
    *last_seen = 0;
    if (!PQenterPipelineMode(c)) {
        kv_pg_err_conn(e, c, "enter pipeline mode");
        return -1;
    }
    if (PQsetnonblocking(c, 1) != 0) {
        kv_pg_err_conn(e, c, "set non-blocking");
        PQexitPipelineMode(c);
        return -1;
    }
    int failed = 0, lost = 0;
    for (size_t i = 0; i < n && !lost; i++)
        if (!send(c, ctx, i)) {
            kv_pg_err_conn(e, c, "send");
            lost = 1;
        }
    if (!lost && !PQpipelineSync(c)) {
        kv_pg_err_conn(e, c, "sync");
        lost = 1;
    }
    size_t qi = 0;   /* query whose results we are reading */
    int synced = 0;
    while (!lost && !synced) {
        int f = PQflush(c);
        if (f < 0) {
            kv_pg_err_conn(e, c, "flush");
            lost = 1;
            break;
        }
        while (!synced && !PQisBusy(c)) {
            PGresult *r = PQgetResult(c);
            if (!r) {           /* end of query qi's results */
                qi++;
                continue;
            }
            ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_PIPELINE_SYNC) {
                synced = 1;
            } else if (st == PGRES_PIPELINE_ABORTED) {
                /* skipped after an earlier error, already recorded */
            } else if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE ||
                       st == PGRES_NONFATAL_ERROR) {
                if (!failed)
                    kv_pg_err_result(e, c, r, "pipelined statement");
                failed = 1;
            } else if (qi < n && on(ctx, qi, r)) {
                r = NULL; /* kept by the callback */
            }
            if (qi < n)
                *last_seen = qi + 1;
            PQclear(r);
        }
        if (synced)
            break;
        if (PQstatus(c) == CONNECTION_BAD) {
            kv_pg_err_conn(e, c, "read");
            lost = 1;
            break;
        }
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN | (f ? POLLOUT : 0)};
        if (pfd.fd < 0 || poll(&pfd, 1, -1) < 0) {
            kv_pg_err_conn(e, c, "poll");
            lost = 1;
            break;
        }
        if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) && !PQconsumeInput(c)) {
            kv_pg_err_conn(e, c, "read");
            lost = 1;
        }
    }
    if (lost) {
        if (!failed)
            e->ambiguous = 1;
        return -1;  /* the pool resets the connection: no cleanup possible here */
    }
    PQsetnonblocking(c, 0);
    if (!PQexitPipelineMode(c)) {
        if (!failed)
            kv_pg_err_conn(e, c, "exit pipeline mode");
        return -1;
    }
    return failed ? -1 : 0;
}

/* --- batches -------------------------------------------------------------- */

/*
 * A batch's statements in pipeline order: BEGIN, its preconditions (each a
 * KV_PG_EXPECT_VAL, or a KV_PG_EXPECT_ABSENT followed by the KV_PG_DEL that
 * removes its placeholder), its writes in order, COMMIT. Preconditions go
 * first so that every one is checked against the state before the batch,
 * as on the other engines. Each entry is op index << 2 | step.
 */
enum { STEP_BEGIN = 0, STEP_EXPECT = 1, STEP_UNCLAIM = 2, STEP_WRITE = 3 };
#define STEP_COMMIT_ENTRY UINT32_MAX

typedef struct batch_ctx {
    const steme_kv_batch *b;
    uint32_t *plan;        /* statements, in order */
    size_t n;
    int commit_ok;
} batch_ctx;

static int send_params(PGconn *c, int stmt, int n, const char *const *vals, const int *lens,
                       const int *fmts)
{
    return PQsendQueryPrepared(c, kv_pg_stmt_name(stmt), n, vals, lens, fmts, 1);
}

static int batch_plan(batch_ctx *bc)
{
    const steme_kv_batch *b = bc->b;
    size_t n = 2 + b->b_n;
    for (size_t i = 0; i < b->b_n; i++)
        if (b->b_ops[i].op_kind == KV_OP_EXPECT && kv_op_expects_absent(&b->b_ops[i]))
            n++;
    if (b->b_n > UINT32_MAX / 8 || !(bc->plan = malloc(n * sizeof *bc->plan)))
        return STEME_E_NOMEM;
    size_t k = 0;
    bc->plan[k++] = STEP_BEGIN;
    for (size_t i = 0; i < b->b_n; i++) {
        if (b->b_ops[i].op_kind != KV_OP_EXPECT)
            continue;
        bc->plan[k++] = (uint32_t)i << 2 | STEP_EXPECT;
        if (kv_op_expects_absent(&b->b_ops[i]))
            bc->plan[k++] = (uint32_t)i << 2 | STEP_UNCLAIM;
    }
    for (size_t i = 0; i < b->b_n; i++)
        if (b->b_ops[i].op_kind != KV_OP_EXPECT)
            bc->plan[k++] = (uint32_t)i << 2 | STEP_WRITE;
    bc->plan[k++] = STEP_COMMIT_ENTRY;
    bc->n = k;
    return STEME_OK;
}

static int batch_send(PGconn *c, void *ctx, size_t i)
{
    batch_ctx *bc = ctx;
    const steme_kv_batch *b = bc->b;
    uint32_t entry = bc->plan[i];
    if (entry == STEP_BEGIN)
        return PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    if (entry == STEP_COMMIT_ENTRY)
        return PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
    const kv_op *op = &b->b_ops[entry >> 2];
    static const int fmts[4] = {1, 1, 1, 1};
    const char *vals[4];
    int lens[4];
    char init[8], d1[8], d2[8];
    vals[0] = (const char *)kv_op_key(b, op);
    lens[0] = (int)op->op_klen;
    if ((entry & 3) == STEP_UNCLAIM)
        return send_params(c, KV_PG_DEL, 1, vals, lens, fmts);
    switch (op->op_kind) {
    case KV_OP_EXPECT:
        if (kv_op_expects_absent(op))
            return send_params(c, KV_PG_EXPECT_ABSENT, 1, vals, lens, fmts);
        vals[1] = (const char *)kv_op_val(b, op);
        lens[1] = (int)op->op_vlen;
        return send_params(c, KV_PG_EXPECT_VAL, 2, vals, lens, fmts);
    case KV_OP_PUT:
        vals[1] = (const char *)kv_op_val(b, op);
        lens[1] = (int)op->op_vlen;
        return send_params(c, KV_PG_PUT, 2, vals, lens, fmts);
    case KV_OP_DEL:
        return send_params(c, KV_PG_DEL, 1, vals, lens, fmts);
    case KV_OP_ADD_U64: {
        uint64_t d = (uint64_t)op->op_delta.i;
        kv_u64_to_le(d, (uint8_t *)init);
        kv_pg_be64(d & 0xFFFFFFFFu, d1);
        kv_pg_be64(d >> 32, d2);
        vals[1] = init, vals[2] = d1, vals[3] = d2;
        lens[1] = lens[2] = lens[3] = 8;
        return send_params(c, KV_PG_ADD_U64, 4, vals, lens, fmts);
    }
    case KV_OP_ADD_F64: {
        double first = 0.0 + op->op_delta.f; /* what an add to a missing key stores */
        uint64_t bits;
        memcpy(&bits, &first, 8);
        kv_u64_to_le(bits, (uint8_t *)init);
        memcpy(&bits, &op->op_delta.f, 8);
        kv_pg_be64(bits, d1);
        vals[1] = init, vals[2] = d1;
        lens[1] = lens[2] = 8;
        return send_params(c, KV_PG_ADD_F64, 3, vals, lens, fmts);
    }
    }
    return 0;
}

static int batch_result(void *ctx, size_t i, PGresult *r)
{
    batch_ctx *bc = ctx;
    if (i == bc->n - 1 && PQresultStatus(r) == PGRES_COMMAND_OK)
        bc->commit_ok = 1;
    return 0;
}

static int batch_attempt(kv_pg *g, kv_pg_conn *pc, void *ctx, kv_pg_err *e)
{
    (void)g;
    batch_ctx *bc = ctx;
    bc->commit_ok = 0;
    size_t seen = 0;
    int rc = kv_pg_pipeline(pc->pc_conn, bc->n, batch_send, batch_result, bc, &seen, e);
    if (rc != 0 && bc->commit_ok) {
        /* COMMIT succeeded, the connection died after it: the batch is in */
        memset(e, 0, sizeof *e);
        return 0;
    }
    if (rc == 0 && !bc->commit_ok) {
        kv_pg_err_local(e, STEME_E_ENGINE, "batch: COMMIT did not report success");
        return -1;
    }
    return rc;
}

int kv_pg_write(steme_kv *kv, const steme_kv_batch *b, unsigned flags)
{
    (void)flags; /* every commit is synchronous: see kv_pg.c */
    int idempotent = 1;
    for (size_t i = 0; i < b->b_n; i++)
        if (b->b_ops[i].op_kind == KV_OP_ADD_U64 || b->b_ops[i].op_kind == KV_OP_ADD_F64)
            idempotent = 0;
    batch_ctx bc = {b, NULL, 0, 0};
    if (batch_plan(&bc) != STEME_OK)
        return kv_fail(kv, STEME_E_NOMEM, "pg batch: out of memory");
    int rc = kv_pg_run((kv_pg *)kv, "batch", idempotent, batch_attempt, &bc);
    free(bc.plan);
    return rc;
}

/* --- multi-get -------------------------------------------------------------- */

typedef struct mget_ctx {
    size_t n;
    const void *const *keys;
    const size_t *klens;
    steme_buf *vals;
    int *statuses;
    int nomem;
} mget_ctx;

static int mget_send(PGconn *c, void *ctx, size_t i)
{
    mget_ctx *m = ctx;
    static const int fmt[1] = {1};
    const char *v[1] = {m->keys[i]};
    int len[1] = {(int)m->klens[i]};
    return send_params(c, KV_PG_GET, 1, v, len, fmt);
}

static int mget_result(void *ctx, size_t i, PGresult *r)
{
    mget_ctx *m = ctx;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return 0;
    if (PQntuples(r) == 0) {
        m->vals[i].len = 0;
        m->statuses[i] = STEME_E_NOTFOUND;
        return 0;
    }
    if (steme_buf_set(&m->vals[i], PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0)) !=
        STEME_OK) {
        m->statuses[i] = STEME_E_NOMEM;
        m->nomem = 1;
        return 0;
    }
    m->statuses[i] = STEME_OK;
    return 0;
}

static int mget_attempt(kv_pg *g, kv_pg_conn *pc, void *ctx, kv_pg_err *e)
{
    (void)g;
    mget_ctx *m = ctx;
    for (size_t i = 0; i < m->n; i++) {
        m->statuses[i] = STEME_E_ENGINE; /* until its result arrives */
        m->vals[i].len = 0;
    }
    size_t seen = 0;
    if (kv_pg_pipeline(pc->pc_conn, m->n, mget_send, mget_result, m, &seen, e) != 0)
        return -1;
    if (m->nomem) {
        kv_pg_err_local(e, STEME_E_NOMEM, "multi_get: out of memory for a value");
        return -1;
    }
    return 0;
}

int kv_pg_multi_get(steme_kv *kv, size_t n, const void *const *keys, const size_t *klens,
                    steme_buf *vals, int *statuses)
{
    mget_ctx m = {n, keys, klens, vals, statuses, 0};
    int rc = kv_pg_run((kv_pg *)kv, "multi_get", 1, mget_attempt, &m);
    if (rc != STEME_OK)
        for (size_t i = 0; i < n; i++) {
            vals[i].len = 0;
            if (statuses[i] == STEME_OK)
                statuses[i] = rc;
        }
    return rc;
}

