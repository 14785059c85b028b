/*
 * bench/ballot_box.c - durable votes: steme's Ballot Box against SQLite and
 * raw RocksDB, at 1, 8 and 64 closed-loop writer threads, in one run; then
 * O(1) count reads from one thread.
 *
 * Every case runs for a fixed time (STEME_BENCH_SECONDS, default 2 s) on a
 * fresh directory under $TMPDIR (default /tmp). Each writer loops: one
 * durable vote, acknowledged, then the next. Voters are distinct (thread,
 * sequence) ids voting on ~1,000 pre-made assertions, so every vote is a
 * new one (count + 1, weight + w).
 *
 *   steme    steme_votes_put on a hybrid steme_db (WAL group commit, then the
 *            vote and its VC/VW caches in one RocksDB batch; existence check
 *            of the assertion through the locator).
 *   sqlite   WAL mode, synchronous=FULL, busy_timeout 10 s, one connection
 *            per thread; per vote one transaction (BEGIN IMMEDIATE): read
 *            the voter's old weight, upsert the vote, upsert the assertion's
 *            count and weight row, COMMIT. libsqlite3 is loaded with dlopen
 *            (the bench build links only steme and RocksDB).
 *   rocksdb  a raw synced put (WriteOptions.sync = 1) of the vote record
 *            alone (steme's vote key and encoding), with the fastest durable
 *            configuration bench/wal.c found (pipelined write, concurrent
 *            memtable writes, recycled logs); no existence check, no caches.
 *
 * Output, one JSON object per line:
 *   {"bench":"ballot_box","system":S,"threads":N,"ops_per_s":X}
 *   {"bench":"ballot_box","system":"steme","case":"count_read","ops_per_s":X}
 *   {"bench":"ballot_box","system":"ratio","threads":64,"steme_over_sqlite":..,
 *    "steme_over_rocksdb":..}
 * Optional arguments: argv[1] = one system (steme, sqlite, rocksdb),
 * argv[2] = one thread count (then no ratio line).
 */
#include <dlfcn.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>
#include "steme/db.h"
#include "steme/keys.h"
#include "steme/votes.h"

#define ASSERTIONS 1000
#define SYS_STEME 0
#define SYS_SQLITE 1
#define SYS_ROCKSDB 2

static const char *const sys_names[3] = {"steme", "sqlite", "rocksdb"};

/* The SQLite functions used, resolved from libsqlite3.so.0 at run time. */
static struct sqlite_api {
    __typeof__(&sqlite3_open_v2) open_v2;
    __typeof__(&sqlite3_close) close;
    __typeof__(&sqlite3_exec) exec;
    __typeof__(&sqlite3_busy_timeout) busy_timeout;
    __typeof__(&sqlite3_prepare_v2) prepare_v2;
    __typeof__(&sqlite3_bind_blob) bind_blob;
    __typeof__(&sqlite3_bind_double) bind_double;
    __typeof__(&sqlite3_bind_int64) bind_int64;
    __typeof__(&sqlite3_step) step;
    __typeof__(&sqlite3_reset) reset;
    __typeof__(&sqlite3_finalize) finalize;
    __typeof__(&sqlite3_column_double) column_double;
    __typeof__(&sqlite3_errmsg) errmsg;
} sq;

static int load_sqlite(void)
{
    void *lib = dlopen("libsqlite3.so.0", RTLD_NOW);
    if (!lib)
        return -1;
#define SQ(field, name) if (!(*(void **)&sq.field = dlsym(lib, name))) return -1
    SQ(open_v2, "sqlite3_open_v2"); SQ(close, "sqlite3_close"); SQ(exec, "sqlite3_exec");
    SQ(busy_timeout, "sqlite3_busy_timeout"); SQ(prepare_v2, "sqlite3_prepare_v2");
    SQ(bind_blob, "sqlite3_bind_blob"); SQ(bind_double, "sqlite3_bind_double");
    SQ(bind_int64, "sqlite3_bind_int64"); SQ(step, "sqlite3_step"); SQ(reset, "sqlite3_reset");
    SQ(finalize, "sqlite3_finalize"); SQ(column_double, "sqlite3_column_double");
    SQ(errmsg, "sqlite3_errmsg");
#undef SQ
    return 0;
}

typedef struct bench_case {
    int system, threads;
    char *dir;
    steme_db *db;
    steme_hash h[ASSERTIONS];
    char subject[ASSERTIONS][24];
    rocksdb_t *rdb;
    rocksdb_writeoptions_t *wopts;
    atomic_int go, stop, failed;
} bench_case;

typedef struct worker {
    bench_case *bc;
    int id;
    uint64_t ops;
} worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "ballot_box: %s: %s\n", what, why);
    exit(1);
}

/* Vote number seq of thread id: a distinct voter on one of the assertions. */
static steme_vote vote_of(bench_case *bc, int id, uint64_t seq, size_t *ai)
{
    steme_vote v;
    memset(&v, 0, sizeof v);
    *ai = (size_t)((seq * 7919u + (uint64_t)id * 104729u) % ASSERTIONS);
    v.assertion = bc->h[*ai];
    memcpy(v.voter.bytes, &seq, sizeof seq);
    uint32_t tid = (uint32_t)id;
    memcpy(v.voter.bytes + 8, &tid, sizeof tid);
    v.voter.bytes[31] = 0x77;
    v.weight = (double)((int64_t)(seq % 201) - 100) / 100.0;
    v.timestamp = 1700000000000ull + seq;
    return v;
}

#define UPSERT_TOTALS                                                                       \
    "INSERT INTO totals(assertion, count, weight) VALUES(?1, ?2, ?3) ON CONFLICT(assertion) " \
    "DO UPDATE SET count = count + excluded.count, weight = weight + excluded.weight"

static int sqlite_prepare(sqlite3 *db, sqlite3_stmt **st)
{
    static const char *const sql[5] = {
        "BEGIN IMMEDIATE",
        "SELECT weight FROM votes WHERE assertion = ?1 AND voter = ?2",
        "INSERT OR REPLACE INTO votes(assertion, voter, weight, ts, body) VALUES(?1,?2,?3,?4,?5)",
        UPSERT_TOTALS,
        "COMMIT"};
    for (int i = 0; i < 5; i++)
        if (sq.prepare_v2(db, sql[i], -1, &st[i], NULL) != SQLITE_OK)
            return -1;
    return 0;
}

static int step_done(sqlite3_stmt *s)
{
    int rc = sq.step(s);
    sq.reset(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* One SQLite vote transaction, with the same semantics as steme's. */
static int sqlite_vote(sqlite3 *db, sqlite3_stmt **st, const steme_vote *v, const uint8_t *enc,
                       size_t elen)
{
    if (step_done(st[0]) != 0)
        return -1;
    sq.bind_blob(st[1], 1, v->assertion.bytes, 32, SQLITE_STATIC);
    sq.bind_blob(st[1], 2, v->voter.bytes, 32, SQLITE_STATIC);
    int rc = sq.step(st[1]);
    int had = rc == SQLITE_ROW;
    double old = had ? sq.column_double(st[1], 0) : 0.0;
    sq.reset(st[1]);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sq.exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    sq.bind_blob(st[2], 1, v->assertion.bytes, 32, SQLITE_STATIC);
    sq.bind_blob(st[2], 2, v->voter.bytes, 32, SQLITE_STATIC);
    sq.bind_double(st[2], 3, v->weight);
    sq.bind_int64(st[2], 4, (sqlite3_int64)v->timestamp);
    sq.bind_blob(st[2], 5, enc, (int)elen, SQLITE_STATIC);
    sq.bind_blob(st[3], 1, v->assertion.bytes, 32, SQLITE_STATIC);
    sq.bind_int64(st[3], 2, had ? 0 : 1);
    sq.bind_double(st[3], 3, v->weight - old);
    if (step_done(st[2]) != 0 || step_done(st[3]) != 0 || step_done(st[4]) != 0) {
        sq.exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static void *worker_main(void *p)
{
    worker *wk = p;
    bench_case *bc = wk->bc;
    steme_votes *vs = steme_db_votes(bc->db);
    sqlite3 *sdb = NULL;
    sqlite3_stmt *st[5] = {0};
    if (bc->system == SYS_SQLITE) {
        char path[4200];
        snprintf(path, sizeof path, "%s/votes.db", bc->dir);
        if (sq.open_v2(path, &sdb, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
            sq.busy_timeout(sdb, 10000) != SQLITE_OK ||
            sq.exec(sdb, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite_prepare(sdb, st) != 0)
            die("sqlite open", sdb ? sq.errmsg(sdb) : "no handle");
    }
    while (!atomic_load(&bc->go))
        ;
    for (uint64_t seq = 0; !atomic_load_explicit(&bc->stop, memory_order_relaxed); seq++) {
        size_t ai;
        steme_vote v = vote_of(bc, wk->id, seq, &ai);
        int rc = 0;
        if (bc->system == SYS_STEME) {
            rc = steme_votes_put(vs, &v, NULL);
            if (rc != STEME_OK)
                fprintf(stderr, "put vote: %s\n", steme_db_errmsg(bc->db));
        } else {
            uint8_t enc[STEME_VOTE_MAX_ENCODED];
            size_t elen;
            steme_vote_encode(&v, enc, sizeof enc, &elen, NULL);
            if (bc->system == SYS_SQLITE) {
                rc = sqlite_vote(sdb, st, &v, enc, elen);
                if (rc != 0)
                    fprintf(stderr, "sqlite vote: %s\n", sq.errmsg(sdb));
            } else {
                steme_key k;
                memset(&k, 0, sizeof k);
                k.family = STEME_FAM_VOTE;
                k.subject = bc->subject[ai];
                k.subject_len = strlen(bc->subject[ai]);
                k.hash = v.assertion;
                k.agent = v.voter;
                uint8_t key[STEME_KEY_MAX];
                size_t klen;
                char *err = NULL;
                steme_key_encode(&k, key, sizeof key, &klen, NULL);
                rocksdb_put(bc->rdb, bc->wopts, (const char *)key, klen, (const char *)enc, elen,
                            &err);
                if (err) {
                    fprintf(stderr, "rocksdb put: %s\n", err);
                    rocksdb_free(err);
                    rc = -1;
                }
            }
        }
        if (rc != 0) {
            atomic_store(&bc->failed, 1);
            break;
        }
        wk->ops++;
    }
    for (int i = 0; i < 5; i++)
        if (st[i])
            sq.finalize(st[i]);
    if (sdb)
        sq.close(sdb);
    return NULL;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static char *make_dir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/steme-bench-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(path))
        die("mkdtemp", path);
    return path;
}

/* The ~1,000 assertions, made by 16 threads (their puts share log syncs). */
static void *make_assertions(void *p)
{
    worker *wk = p;
    bench_case *bc = wk->bc;
    for (int i = wk->id; i < ASSERTIONS; i += 16) {
        char text[32];
        snprintf(text, sizeof text, "claim-%d", i);
        steme_assertion a;
        memset(&a, 0, sizeof a);
        a.subject = bc->subject[i];
        a.subject_len = strlen(bc->subject[i]);
        a.predicate = "status";
        a.predicate_len = 6;
        a.object = steme_value_string(text, strlen(text));
        a.confidence = 0.9;
        a.source_kind = STEME_SOURCE_AGENT;
        a.timestamp = 1700000000000ull + (uint64_t)i;
        if (steme_db_put_assertion(bc->db, &a, &bc->h[i], NULL) != STEME_OK)
            die("put assertion", steme_db_errmsg(bc->db));
    }
    return NULL;
}

static void run_pool(bench_case *bc, int n, void *(*fn)(void *), worker *wk, double seconds)
{
    pthread_t *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        wk[i].bc = bc;
        wk[i].id = i;
        pthread_create(&t[i], NULL, fn, &wk[i]);
    }
    if (seconds > 0) {
        atomic_store(&bc->go, 1);
        usleep((useconds_t)(seconds * 1e6));
        atomic_store(&bc->stop, 1);
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    free(t);
}

static void setup(bench_case *bc)
{
    bc->dir = make_dir(sys_names[bc->system]);
    for (int i = 0; i < ASSERTIONS; i++)
        snprintf(bc->subject[i], sizeof bc->subject[i], "topic/%d", i % 250);
    if (bc->system == SYS_STEME) {
        steme_error e;
        if (steme_db_open(bc->dir, NULL, &bc->db, &e) != STEME_OK)
            die("steme_db_open", e.message);
        worker wk[16];
        run_pool(bc, 16, make_assertions, wk, 0);
    } else if (bc->system == SYS_SQLITE) {
        for (int i = 0; i < ASSERTIONS; i++)
            for (int j = 0; j < 32; j++)
                bc->h[i].bytes[j] = (uint8_t)(i * 31 + j * 7);
        char path[4200];
        sqlite3 *db;
        snprintf(path, sizeof path, "%s/votes.db", bc->dir);
        if (sq.open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
            sq.exec(db, "PRAGMA journal_mode=WAL;"
                        "CREATE TABLE votes(assertion BLOB, voter BLOB, weight REAL, ts INTEGER,"
                        " body BLOB, PRIMARY KEY(assertion, voter)) WITHOUT ROWID;"
                        "CREATE TABLE totals(assertion BLOB PRIMARY KEY, count INTEGER,"
                        " weight REAL) WITHOUT ROWID;", NULL, NULL, NULL) != SQLITE_OK)
            die("sqlite setup", sq.errmsg(db));
        sq.close(db);
    } else {
        for (int i = 0; i < ASSERTIONS; i++)
            for (int j = 0; j < 32; j++)
                bc->h[i].bytes[j] = (uint8_t)(i * 31 + j * 7);
        char *err = NULL;
        rocksdb_options_t *ro = rocksdb_options_create();
        rocksdb_options_set_create_if_missing(ro, 1);
        rocksdb_options_set_enable_pipelined_write(ro, 1);
        rocksdb_options_set_allow_concurrent_memtable_write(ro, 1);
        rocksdb_options_set_enable_write_thread_adaptive_yield(ro, 1);
        rocksdb_options_set_recycle_log_file_num(ro, 4);
        rocksdb_options_set_write_buffer_size(ro, 64u << 20);
        bc->rdb = rocksdb_open(ro, bc->dir, &err);
        rocksdb_options_destroy(ro);
        if (err)
            die("rocksdb_open", err);
        bc->wopts = rocksdb_writeoptions_create();
        rocksdb_writeoptions_set_sync(bc->wopts, 1);
    }
}

/* Count reads on one thread, cycling over the assertions. */
static double count_reads(bench_case *bc, double seconds)
{
    steme_votes *vs = steme_db_votes(bc->db);
    uint64_t n = 0, sum = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < seconds) {
        for (int i = 0; i < 4096; i++, n++) {
            uint64_t c;
            if (steme_votes_count(vs, &bc->h[n % ASSERTIONS], &c) != STEME_OK)
                die("count", steme_db_errmsg(bc->db));
            sum += c;
        }
        t = now_s();
    }
    if (sum == 0)
        fprintf(stderr, "ballot_box: count reads found no votes\n");
    return (double)n / (t - t0);
}

static double run_case(int system, int threads, double seconds, double *reads)
{
    bench_case *bc = calloc(1, sizeof *bc);
    bc->system = system;
    bc->threads = threads;
    setup(bc);
    worker *wk = calloc((size_t)threads, sizeof *wk);
    double t0 = now_s();
    run_pool(bc, threads, worker_main, wk, seconds);
    double elapsed = now_s() - t0;
    uint64_t ops = 0;
    for (int i = 0; i < threads; i++)
        ops += wk[i].ops;
    if (atomic_load(&bc->failed))
        die(sys_names[system], "a write failed");
    if (reads)
        *reads = count_reads(bc, seconds / 2);
    if (bc->db)
        steme_db_close(bc->db);
    if (bc->rdb) {
        rocksdb_close(bc->rdb);
        rocksdb_writeoptions_destroy(bc->wopts);
    }
    nftw(bc->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(bc->dir);
    free(bc);
    free(wk);
    return (double)ops / elapsed;
}

int main(int argc, char **argv)
{
    double seconds = 2.0;
    const char *env = getenv("STEME_BENCH_SECONDS");
    if (env && atof(env) > 0)
        seconds = atof(env);
    int only_sys = -1, only_threads = argc > 2 ? atoi(argv[2]) : 0;
    for (int s = 0; argc > 1 && s < 3; s++)
        if (strcmp(argv[1], sys_names[s]) == 0)
            only_sys = s;
    if (argc > 1 && only_sys < 0)
        die("usage", "ballot_box [steme|sqlite|rocksdb [threads]]");
    if ((only_sys < 0 || only_sys == SYS_SQLITE) && load_sqlite() != 0)
        die("dlopen libsqlite3.so.0", dlerror() ? dlerror() : "symbol missing");
    static const int counts[3] = {1, 8, 64};
    double res[3][3] = {{0}};
    double reads = 0;
    for (int s = 0; s < 3; s++) {
        for (int k = 0; k < 3; k++) {
            if ((only_sys >= 0 && s != only_sys) || (only_threads && counts[k] != only_threads))
                continue;
            int last_steme = s == SYS_STEME && (counts[k] == 64 || counts[k] == only_threads);
            res[s][k] = run_case(s, counts[k], seconds, last_steme ? &reads : NULL);
            printf("{\"bench\":\"ballot_box\",\"system\":\"%s\",\"threads\":%d,"
                   "\"ops_per_s\":%.0f}\n", sys_names[s], counts[k], res[s][k]);
            fflush(stdout);
        }
    }
    if (reads > 0)
        printf("{\"bench\":\"ballot_box\",\"system\":\"steme\",\"case\":\"count_read\","
               "\"ops_per_s\":%.0f}\n", reads);
    if (only_sys < 0 && !only_threads)
        printf("{\"bench\":\"ballot_box\",\"system\":\"ratio\",\"threads\":64,"
               "\"steme_over_sqlite\":%.1f,\"steme_over_rocksdb\":%.2f}\n",
               res[1][2] > 0 ? res[0][2] / res[1][2] : 0,
               res[2][2] > 0 ? res[0][2] / res[2][2] : 0);
    return 0;
}
