/*
 * kv/kv_pg_int.h - what the kv_pg*.c files share: the pg engine's handle, its
 * connection pool, the failure record that drives retries, the pipelined
 * round trip, and the statements. The design is explained atop kv_pg.c.
 */
#ifndef STEME_KV_PG_INT_H
#define STEME_KV_PG_INT_H

#include "kv/kv_int.h"

/* Options of the pg engine (until steme_kv_options grows pg_* fields). */
typedef struct kv_pg_options {
    size_t pool_size;       /* connections, opened on demand; default 8 */
    const char *table;      /* [a-z_][a-z0-9_]* (optionally schema.table); default "kv" */
    unsigned retry_ms;      /* retry budget of one call; default 30000 */
    unsigned scan_page;     /* rows fetched per scan round trip; default 512 */
    int create_if_missing;  /* create the table if absent; default 1 */
} kv_pg_options;

void kv_pg_options_init(kv_pg_options *po);

/*
 * Open the pg engine on `conninfo` (a libpq keyword/value string or a
 * postgres:// URL). kv_pg_open takes the generic options (create_if_missing)
 * and pg defaults; kv_pg_open_ex takes every pg option.
 * Returns STEME_OK, STEME_E_INVALID (bad conninfo or options; table missing
 * and create_if_missing = 0), STEME_E_IO (cannot connect), STEME_E_ENGINE
 * (the server refused the table or does not order bytea bytewise),
 * STEME_E_NOMEM.
 */
int kv_pg_open(const char *conninfo, const steme_kv_options *o, steme_kv **out, steme_error *err);

/* The engine's id. */
#define KV_PG_ENGINE STEME_KV_PG

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

int kv_pg_open_ex(const char *conninfo, const kv_pg_options *po, steme_kv **out,
                  steme_error *err);

/* Prepared statements, prepared on every connection when it is first used. */
enum {
    KV_PG_GET = 0,
    KV_PG_PUT,
    KV_PG_DEL,
    KV_PG_ADD_U64,
    KV_PG_ADD_F64,
    KV_PG_SCAN_FWD,       /* key >= $1 ORDER BY key LIMIT $2 */
    KV_PG_SCAN_FWD_HI,    /* key >= $1 AND key < $2 ORDER BY key LIMIT $3 */
    KV_PG_SCAN_REV,       /* key >= $1 ORDER BY key DESC LIMIT $2 */
    KV_PG_SCAN_REV_HI,    /* key >= $1 AND key < $2 ORDER BY key DESC LIMIT $3 */
    KV_PG_EXPECT_VAL,     /* precondition: key $1 holds $2 (row locked), else error */
    KV_PG_EXPECT_ABSENT,  /* precondition: key $1 absent (placeholder row inserted
                           * and locked; KV_PG_DEL follows it), else error */
    KV_PG_NSTMT
};

typedef struct kv_pg_conn {
    PGconn *pc_conn;        /* NULL until first use */
    int pc_prepared;        /* statements exist on this session */
    int pc_broken;          /* lost: PQreset before the next use */
    int pc_terminated;      /* the server said it ended the session (57P0x) */
} kv_pg_conn;

typedef struct kv_pg {
    steme_kv pg_base;                   /* first: a steme_kv */
    char *pg_conninfo;
    kv_pg_options pg_opts;              /* pg_opts.table points at pg_table */
    char pg_table[64];
    char *pg_sql[KV_PG_NSTMT];          /* statement texts (table name substituted) */
    /* pool: slots [0, pg_ncreated) have been handed out at least once */
    pthread_mutex_t pg_mu;
    pthread_cond_t pg_cv;
    kv_pg_conn *pg_conns;
    size_t *pg_free;                    /* stack of idle slot indexes */
    size_t pg_nfree, pg_ncreated;
    atomic_ulong pg_retries;            /* retried attempts (tests and tuning) */
    atomic_ulong pg_reconnects;
    atomic_ulong pg_jitter;             /* backoff jitter state */
} kv_pg;

/* Counters for tests and tuning. */
typedef struct kv_pg_stats {
    unsigned long retries;
    unsigned long reconnects;
    size_t connections;
} kv_pg_stats;
void kv_pg_get_stats(steme_kv *kv, kv_pg_stats *st);

/* --- failures and retries (kv_pg_pool.c) -------------------------------- */

enum {
    KV_PG_FAIL = 1,         /* final: code says which steme status */
    KV_PG_RETRY_TXN,        /* serialization failure / deadlock: run the call again */
    KV_PG_RETRY_CONN        /* connection lost or refused: reconnect and run again */
};

typedef struct kv_pg_err {
    int kind;               /* 0 = no failure */
    int code;               /* steme status for KV_PG_FAIL */
    int ambiguous;          /* connection lost before the commit's verdict arrived */
    int no_retry;           /* the call has had visible effects (a scan delivered rows) */
    char sqlstate[6];
    char msg[240];
} kv_pg_err;

/* Fill e from a failed result (r may be NULL: libpq-side failure on c). */
void kv_pg_err_result(kv_pg_err *e, PGconn *c, const PGresult *r, const char *what);
/* Fill e for a failure of the connection itself (send, flush, read). */
void kv_pg_err_conn(kv_pg_err *e, PGconn *c, const char *what);
/* Fill e for a local failure (no memory, bad state). */
void kv_pg_err_local(kv_pg_err *e, int code, const char *what);

/* One attempt of a call on a ready connection; returns 0 or -1 with e filled. */
typedef int (*kv_pg_attempt_fn)(kv_pg *g, kv_pg_conn *pc, void *ctx, kv_pg_err *e);

/*
 * Run fn on a pooled connection, retrying with jittered exponential backoff
 * on serialization failures, deadlocks and lost connections until
 * pg_opts.retry_ms is spent. A lost connection whose commit verdict never
 * arrived (e.ambiguous) is retried only if the call is idempotent (puts,
 * deletes, reads), never for counter adds: they would count twice.
 * Returns STEME_OK or the failure's status (recorded on the handle):
 * STEME_E_BUSY when serialization retries run out, STEME_E_IO when the
 * server stays unreachable or an add's outcome is unknown.
 */
int kv_pg_run(kv_pg *g, const char *what, int idempotent, kv_pg_attempt_fn fn, void *ctx);

/* Pool (kv_pg_pool.c). kv_pg_connect opens one session (NULL: no memory) whose
 * notices go to pc (may be NULL: dropped) instead of stderr. */
PGconn *kv_pg_connect(const char *conninfo, kv_pg_conn *pc);
/* libpq's message for c on one line, in buf. */
const char *kv_pg_conn_message(PGconn *c, char *buf, size_t cap);
int kv_pg_pool_init(kv_pg *g, steme_error *err);
void kv_pg_pool_destroy(kv_pg *g);

/* --- pipelined round trips (kv_pg_pipe.c) -------------------------------- */

/* Queue query i (PQsendQueryPrepared / PQsendQueryParams / PQsendPrepare). */
typedef int (*kv_pg_send_fn)(PGconn *c, void *ctx, size_t i);
/* A successful result of query i (errors are recorded in e instead). Return 1
 * to keep r (the callee PQclear()s it later), 0 to let the pipeline free it. */
typedef int (*kv_pg_result_fn)(void *ctx, size_t i, PGresult *r);

/*
 * Send n queries in pipeline mode followed by one Sync, and read every
 * result: one round trip, whatever n. Non-blocking I/O with poll() so a
 * large pipeline cannot deadlock (we keep reading while we write).
 * The first error result fills e (later queries come back "aborted").
 * *last_seen receives the index of the last query whose result arrived + 1
 * (a lost connection tells which queries got a verdict).
 * Returns 0 (all queries succeeded) or -1.
 */
int kv_pg_pipeline(PGconn *c, size_t n, kv_pg_send_fn send, kv_pg_result_fn on, void *ctx,
                   size_t *last_seen, kv_pg_err *e);

/* Write a batch / read many keys (kv_pg_pipe.c). */
int kv_pg_write(steme_kv *kv, const steme_kv_batch *b, unsigned flags);
int kv_pg_multi_get(steme_kv *kv, size_t n, const void *const *keys, const size_t *klens,
                    steme_buf *vals, int *statuses);

/* --- statements (kv_pg_sql.c) ------------------------------------------- */

/* Build g->pg_sql[] for g->pg_table. STEME_OK or STEME_E_NOMEM. */
int kv_pg_sql_build(kv_pg *g);
void kv_pg_sql_free(kv_pg *g);
/* Statement name of a KV_PG_* id ("steme_get", ...). */
const char *kv_pg_stmt_name(int id);
/* Prepare every statement on c (one pipelined round trip). 0 or -1. */
int kv_pg_prepare_all(kv_pg *g, PGconn *c, kv_pg_err *e);
/* Marker the counter statements put in their error for a value not 8 bytes. */
#define KV_PG_NOT_COUNTER "steme-counter-not-8-bytes"
/* Marker the precondition statements put in their error when one fails. */
#define KV_PG_EXPECT_FAILED "steme-precondition-failed"

/* --- scans (kv_pg_scan.c) ----------------------------------------------- */
int kv_pg_scan(steme_kv *kv, const uint8_t *prefix, size_t plen, const uint8_t *after,
               size_t alen, size_t limit, unsigned flags, steme_kv_scan_fn fn, void *ctx,
               size_t *visited);

/* Big-endian 8 bytes: the binary wire form of int8 and float8 parameters. */
static inline void kv_pg_be64(uint64_t v, char out[8])
{
    for (int i = 0; i < 8; i++)
        out[i] = (char)(uint8_t)(v >> (56 - 8 * i));
}

#endif
