/*
 * bench/pg.c - steme on PostgreSQL: durable votes and lens queries through
 * the pg backend, against a raw-libpq ceiling and the embedded engines, at
 * 1 and 64 closed-loop clients, in one run.
 *
 * The server: $STEME_PG_URL, else a throwaway cluster started (and stopped
 * at the end) with scripts/pg-test-cluster.sh. Each case runs
 * STEME_BENCH_SECONDS (default 2) on a fresh table (pg) or directory.
 *
 *   steme-pg        steme_db opened on the URL (pool = clients). vote: one
 *                   steme_votes_put of a new vote (read of the stored vote,
 *                   then one pipelined transaction: the precondition "still
 *                   absent", the vote, the VC and VW counter adds, COMMIT).
 *                   query: steme_query, consensus lens, on a subject with 8
 *                   assertions (Meter charge with its precondition, index
 *                   scan, vote reads, audit write).
 *   ceiling         raw libpq, one connection per client, the very
 *                   statements a steme-pg vote sends (same SQL, prepared,
 *                   binary): the read, then the write transaction as one
 *                   pipeline. No steme code between them. (vote only: a
 *                   query's statements depend on its candidates.)
 *   steme-embedded  the same steme calls on a hybrid steme_db (LMDB +
 *                   RocksDB, WAL group commit) in a temporary directory.
 *
 * Index catch-up (docs/scale-out.md), on the steme-pg table:
 *   index_log_append  steme_index_log_append of a 128-dimensional vector
 *                   entry (one durable put): what a node pays per vector add
 *                   beyond its local index, at 1 and 64 clients;
 *   catchup_delay   one writer appends 50 entries/s through one handle
 *                   while a tailer on another handle (another pool: another
 *                   "node") scans with the catch-up rule every 100 ms: the
 *                   delay from the append's return to the tailer's scan
 *                   seeing it (p50, p99, max, in ms). Expected: the poll
 *                   wait (uniform in 0..100 ms) plus one scan.
 *
 * Output, one JSON object per line:
 *   {"bench":"pg","system":S,"case":C,"clients":N,"ops_per_s":X}
 *   {"bench":"pg","system":"steme-pg","case":"catchup_delay","entries":N,
 *    "p50_ms":A,"p99_ms":B,"max_ms":C}
 */
#include <ftw.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kv/kv_pg_int.h"
#include "steme/db.h"
#include "steme/index_log.h"
#include "steme/keys.h"
#include "steme/query.h"
#include "steme/quota.h"
#include "steme/votes.h"

#define ASSERTIONS 512
#define QUERY_SUBJECTS 8
#define MAX_CLIENTS 64

typedef struct bench {
    const char *url;
    char table[64];
    char dir[256];
    int embedded;
    steme_db *db;
    steme_hash h[ASSERTIONS];
    double seconds;
    atomic_int stop;
    atomic_int failed;
    const char *sql[KV_PG_NSTMT];   /* ceiling: the engine's own statement texts */
} bench;

typedef struct client {
    bench *b;
    int id;
    uint64_t ops;
} client;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static steme_agent_id agent_of(unsigned who, uint64_t seq)
{
    steme_agent_id a;
    memset(&a, 0, sizeof a);
    a.bytes[0] = 0xbe;
    a.bytes[1] = (uint8_t)who;
    for (int i = 0; i < 8; i++)
        a.bytes[2 + i] = (uint8_t)(seq >> (8 * i));
    return a;
}

static int open_db(bench *b, int pool)
{
    steme_db_options o;
    steme_db_options_init(&o);
    o.kv.pg_pool_size = (size_t)pool;
    o.kv.pg_table = b->table;
    steme_error e;
    int rc = steme_db_open(b->embedded ? b->dir : b->url, &o, &b->db, &e);
    if (rc != STEME_OK)
        fprintf(stderr, "pg bench: open: %s\n", e.message);
    return rc;
}

static int rm_one(const char *p, const struct stat *s, int f, struct FTW *w)
{
    (void)s, (void)f, (void)w;
    return remove(p);
}

/* A fresh database with the assertions voted on and queried. */
static int setup(bench *b, int pool, int round)
{
    if (b->embedded) {
        snprintf(b->dir, sizeof b->dir, "%s/steme-pgbench-%d-%d",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid(), round);
    } else {
        snprintf(b->table, sizeof b->table, "bench_pg_%d_%d", (int)getpid(), round);
    }
    if (open_db(b, pool) != STEME_OK)
        return -1;
    for (int i = 0; i < ASSERTIONS; i++) {
        char subject[32], text[32];
        snprintf(subject, sizeof subject, "bench-topic-%d", i % QUERY_SUBJECTS);
        snprintf(text, sizeof text, "v%d", i % 5);
        steme_assertion a;
        memset(&a, 0, sizeof a);
        a.subject = subject;
        a.subject_len = strlen(subject);
        a.predicate = "p";
        a.predicate_len = 1;
        a.object = steme_value_string(text, strlen(text));
        a.confidence = 0.5;
        a.source_kind = STEME_SOURCE_AGENT;
        a.timestamp = 1700000000000ull + (uint64_t)i;
        if (steme_db_put_assertion(b->db, &a, &b->h[i], NULL) != STEME_OK) {
            fprintf(stderr, "pg bench: put assertion: %s\n", steme_db_errmsg(b->db));
            return -1;
        }
    }
    for (unsigned c = 0; c < MAX_CLIENTS; c++) { /* queries: no Meter refusals */
        steme_agent_id a = agent_of(c, 0);
        steme_quota_set_limit(steme_db_quota(b->db), &a, UINT64_MAX / 4);
    }
    return 0;
}

static void teardown(bench *b)
{
    steme_db_close(b->db);
    b->db = NULL;
    if (b->embedded) {
        nftw(b->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return;
    }
    PGconn *c = PQconnectdb(b->url);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", b->table);
    PQclear(PQexec(c, sql));
    PQfinish(c);
}

static void *vote_client(void *p)
{
    client *c = p;
    bench *b = c->b;
    steme_votes *vs = steme_db_votes(b->db);
    uint64_t seq = 1;
    while (!atomic_load(&b->stop)) {
        steme_vote v;
        memset(&v, 0, sizeof v);
        v.assertion = b->h[(seq * 7 + (uint64_t)c->id) % ASSERTIONS];
        v.voter = agent_of((unsigned)c->id, seq++);
        v.timestamp = 1700000000000ull + seq;
        v.weight = 0.25;
        if (steme_votes_put(vs, &v, NULL) != STEME_OK) {
            fprintf(stderr, "pg bench: vote: %s\n", steme_db_errmsg(b->db));
            atomic_store(&b->failed, 1);
            break;
        }
        c->ops++;
    }
    return NULL;
}

static void *query_client(void *p)
{
    client *c = p;
    bench *b = c->b;
    uint64_t n = 0;
    while (!atomic_load(&b->stop)) {
        char subject[32];
        snprintf(subject, sizeof subject, "bench-topic-%d", (int)((n++ + (uint64_t)c->id) % QUERY_SUBJECTS));
        steme_query_request req;
        steme_query_request_init(&req);
        req.subject = subject;
        req.subject_len = strlen(subject);
        req.predicate = "p";
        req.predicate_len = 1;
        req.lens = STEME_LENS_CONSENSUS;
        req.agent = agent_of((unsigned)c->id, 0);
        steme_resolution r;
        if (steme_query(b->db, &req, &r) != STEME_OK) {
            fprintf(stderr, "pg bench: query: %s\n", steme_db_errmsg(b->db));
            atomic_store(&b->failed, 1);
            break;
        }
        steme_resolution_free(&r);
        c->ops++;
    }
    return NULL;
}

/* --- the ceiling: the statements of a vote over raw libpq ------------------ */

static int pipe_run(PGconn *pc, int n, const int *stmt, const char *const (*vals)[4],
                    const int (*lens)[4], const int *nparams)
{
    static const int fmts[4] = {1, 1, 1, 1};
    if (!PQenterPipelineMode(pc))
        return -1;
    for (int i = 0; i < n; i++) {
        int ok = stmt[i] < 0
                     ? PQsendQueryParams(pc, stmt[i] == -1 ? "BEGIN" : "COMMIT", 0, NULL, NULL,
                                         NULL, NULL, 0)
                     : PQsendQueryPrepared(pc, kv_pg_stmt_name(stmt[i]), nparams[i], vals[i],
                                           lens[i], fmts, 1);
        if (!ok)
            return -1;
    }
    PQpipelineSync(pc);
    int bad = 0;
    for (;;) {
        PGresult *r = PQgetResult(pc);
        if (!r)
            continue;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_FATAL_ERROR || st == PGRES_PIPELINE_ABORTED)
            bad = 1;
        PQclear(r);
        if (st == PGRES_PIPELINE_SYNC)
            break;
    }
    PQexitPipelineMode(pc);
    return bad ? -1 : 0;
}

static void *ceiling_client(void *p)
{
    client *c = p;
    bench *b = c->b;
    PGconn *pc = PQconnectdb(b->url);
    if (PQstatus(pc) != CONNECTION_OK) {
        atomic_store(&b->failed, 1);
        PQfinish(pc);
        return NULL;
    }
    static const Oid t_key[] = {17}, t_kv[] = {17, 17}, t_u64[] = {17, 17, 20, 20};
    const int ids[] = {KV_PG_GET, KV_PG_PUT, KV_PG_DEL, KV_PG_ADD_U64, KV_PG_EXPECT_ABSENT};
    const Oid *types[] = {t_key, t_kv, t_key, t_u64, t_key};
    const int ntypes[] = {1, 2, 1, 4, 1};
    for (int i = 0; i < 5; i++)
        PQclear(PQprepare(pc, kv_pg_stmt_name(ids[i]), b->sql[ids[i]], ntypes[i], types[i]));
    uint64_t seq = 1;
    uint8_t vkey[STEME_KEY_MAX], ckey[STEME_KEY_MAX], wkey[STEME_KEY_MAX], venc[160];
    while (!atomic_load(&b->stop)) {
        steme_key k;
        memset(&k, 0, sizeof k);
        k.subject = "bench-topic-0";
        k.subject_len = 13;
        k.hash = b->h[(seq * 7 + (uint64_t)c->id) % ASSERTIONS];
        k.agent = agent_of((unsigned)c->id + 100, seq++);
        size_t vk, ck, wk;
        k.family = STEME_FAM_VOTE;
        steme_key_encode(&k, vkey, sizeof vkey, &vk, NULL);
        k.family = STEME_FAM_VOTE_COUNT;
        steme_key_encode(&k, ckey, sizeof ckey, &ck, NULL);
        k.family = STEME_FAM_VOTE_WEIGHT;
        steme_key_encode(&k, wkey, sizeof wkey, &wk, NULL);
        memset(venc, 0x5a, 83);
        /* the read of the stored vote */
        const char *rv[1][4] = {{(const char *)vkey}};
        const int rl[1][4] = {{(int)vk}};
        const int rs[1] = {KV_PG_GET}, rn[1] = {1};
        /* the write: BEGIN, absent, unclaim, put, VC += 1, VW += w, COMMIT */
        char init[8] = {1}, lo1[8] = {0, 0, 0, 0, 0, 0, 0, 1}, hi[8] = {0};
        const char *wv[7][4] = {{0},
                                {(const char *)vkey},
                                {(const char *)vkey},
                                {(const char *)vkey, (const char *)venc},
                                {(const char *)ckey, init, lo1, hi},
                                {(const char *)wkey, init, lo1, hi},
                                {0}};
        const int wl[7][4] = {{0}, {(int)vk}, {(int)vk}, {(int)vk, 83}, {(int)ck, 8, 8, 8},
                              {(int)wk, 8, 8, 8}, {0}};
        const int ws[7] = {-1, KV_PG_EXPECT_ABSENT, KV_PG_DEL, KV_PG_PUT, KV_PG_ADD_U64,
                           KV_PG_ADD_U64, -2};
        const int wn[7] = {0, 1, 1, 2, 4, 4, 0};
        if (pipe_run(pc, 1, rs, rv, rl, rn) != 0 || pipe_run(pc, 7, ws, wv, wl, wn) != 0) {
            fprintf(stderr, "pg bench: ceiling: %s\n", PQerrorMessage(pc));
            atomic_store(&b->failed, 1);
            break;
        }
        c->ops++;
    }
    PQfinish(pc);
    return NULL;
}

#include "pg_index_log.h"

/* --- driver ------------------------------------------------------------------- */

static int run_case(bench *b, const char *system, const char *cas, int clients, int round)
{
    int ceiling = strcmp(system, "ceiling") == 0;
    b->embedded = strcmp(system, "steme-embedded") == 0;
    if (setup(b, clients + 2, round) != 0)
        return -1;
    steme_kv *kv = NULL;
    if (ceiling) { /* the engine's statement texts, from a handle on the table */
        steme_kv_options ko;
        steme_kv_options_init(&ko);
        ko.pg_table = b->table;
        if (steme_kv_open(STEME_KV_PG, b->url, &ko, &kv, NULL) != STEME_OK)
            return -1;
        for (int i = 0; i < KV_PG_NSTMT; i++)
            b->sql[i] = ((kv_pg *)kv)->pg_sql[i];
    }
    client cl[MAX_CLIENTS];
    pthread_t th[MAX_CLIENTS];
    atomic_store(&b->stop, 0);
    atomic_store(&b->failed, 0);
    void *(*fn)(void *) = ceiling ? ceiling_client
                                  : strcmp(cas, "vote") == 0 ? vote_client : query_client;
    double t0 = now_s();
    for (int i = 0; i < clients; i++) {
        cl[i] = (client){b, i, 0};
        pthread_create(&th[i], NULL, fn, &cl[i]);
    }
    struct timespec ts = {(time_t)b->seconds, (long)((b->seconds - (double)(time_t)b->seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&b->stop, 1);
    uint64_t ops = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        ops += cl[i].ops;
    }
    double el = now_s() - t0;
    steme_kv_close(kv);
    teardown(b);
    if (atomic_load(&b->failed))
        return -1;
    printf("{\"bench\":\"pg\",\"system\":\"%s\",\"case\":\"%s\",\"clients\":%d,\"ops_per_s\":%.0f}\n",
           system, cas, clients, (double)ops / el);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    bench *b = calloc(1, sizeof *b);
    if (!b)
        return 1;
    const char *sec = getenv("STEME_BENCH_SECONDS");
    b->seconds = sec && atof(sec) > 0 ? atof(sec) : 2.0;
    char urlbuf[512] = "";
    int started = 0;
    b->url = getenv("STEME_PG_URL");
    /* the script: $STEME_SOURCE_DIR/scripts, else ./scripts (run from the
     * repository's root) */
    const char *src = getenv("STEME_SOURCE_DIR");
    char start[600], stop[600];
    snprintf(start, sizeof start, "%s/scripts/pg-test-cluster.sh start", src ? src : ".");
    snprintf(stop, sizeof stop, "%s/scripts/pg-test-cluster.sh stop >/dev/null", src ? src : ".");
    if (!b->url || !*b->url) {
        FILE *f = popen(start, "r");
        if (!f || !fgets(urlbuf, sizeof urlbuf, f)) {
            fprintf(stderr, "pg bench: cannot start a cluster (set STEME_PG_URL)\n");
            return 1;
        }
        pclose(f);
        urlbuf[strcspn(urlbuf, "\n")] = 0;
        b->url = urlbuf;
        started = 1;
    }
    static const char *const systems[] = {"steme-pg", "ceiling", "steme-embedded"};
    static const char *const cases[] = {"vote", "query"};
    static const int clients[] = {1, 64};
    int rc = 0, round = 0;
    for (int ci = 0; ci < 2; ci++)
        for (int n = 0; n < 2; n++)
            for (int s = 0; s < 3; s++) {
                if (ci == 1 && s == 1)
                    continue; /* no query ceiling: see the top */
                if (run_case(b, systems[s], cases[ci], clients[n], round++) != 0) {
                    fprintf(stderr, "pg bench: %s %s %d failed\n", systems[s], cases[ci],
                            clients[n]);
                    rc = 1;
                }
            }
    for (int n = 0; n < 2; n++)
        if (il_append_case(b, clients[n], round++) != 0) {
            fprintf(stderr, "pg bench: index_log_append %d failed\n", clients[n]);
            rc = 1;
        }
    if (il_delay_case(b, round++) != 0) {
        fprintf(stderr, "pg bench: catchup_delay failed\n");
        rc = 1;
    }
    if (started && system(stop) != 0)
        fprintf(stderr, "pg bench: could not stop the cluster\n");
    free(b);
    return rc;
}
