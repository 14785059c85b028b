/*
 * test_kv_pg_faults.c - the pg engine when things go wrong, on a live
 * PostgreSQL ($STEME_PG_URL; skip/require rules in test_kv_pg.h):
 *   - a serialization failure (40001) is retried, not surfaced: a raw
 *     session holds a row lock at SERIALIZABLE while the engine's add waits
 *     on it, then commits a change, which makes the engine's transaction
 *     fail with 40001; the engine runs it again and counts right;
 *   - sessions killed under the engine (pg_terminate_backend) are
 *     reconnected transparently, without reopening the handle;
 *   - when the server stays unreachable past the retry budget the call
 *     fails with STEME_E_IO and a message saying so, and the handle works
 *     again once the server is back;
 *   - many threads on one handle with a smaller pool: counters exact;
 *   - `pg_ctl restart` mid-load: every acknowledged put is there afterwards,
 *     counters hold at least every acknowledged add and at most those plus
 *     the adds reported as "outcome unknown", and the same handle goes on.
 *     Needs a way to restart the server: $STEME_PG_RESTART_CMD, or
 *     scripts/pg-test-cluster.sh when STEME_PG_URL is that script's cluster;
 *     otherwise that test says it is skipped;
 *   - bad open arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "test_kv_pg.h"

#define OK(call) PT_OK(call)

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Rows of a one-value query as a number. */
static long query_long(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    long v = PQntuples(r) ? atol(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return v;
}

/* --- serialization failure ------------------------------------------------ */

typedef struct add_job {
    steme_kv *kv;
    const kt_key *k;
    int batch;
    int rc;
} add_job;

static void *add_thread(void *arg)
{
    add_job *j = arg;
    if (j->batch) {
        steme_kv_batch *b = steme_kv_batch_new();
        steme_kv_batch_add_u64(b, j->k->b, j->k->n, 1);
        steme_kv_batch_put(b, "side", 4, "x", 1);
        j->rc = steme_kv_write(j->kv, b, 0);
        steme_kv_batch_free(b);
    } else {
        j->rc = steme_kv_add_u64(j->kv, j->k->b, j->k->n, 1, 0);
    }
    return NULL;
}

static void provoke_serialization_failure(int batch)
{
    char app[64];
    snprintf(app, sizeof app, "application_name=steme_ser_%ld_%d", (long)getpid(), batch);
    char *extra = malloc(256);
    snprintf(extra, 256, "%s options='-c default_transaction_isolation=serializable'", app);
    char *ci = pt_conninfo_with(extra);
    free(extra);
    pt_db d;
    pt_db_open(&d, NULL, ci);
    free(ci);
    kt_key k;
    kt_key_make(&k, STEME_FAM_VOTE_COUNT, "ser", 1);
    OK(steme_kv_put(d.kv, k.b, k.n, "\1\0\0\0\0\0\0\0", 8, 0));
    /* a raw session takes the row lock and will commit a change under it */
    PGconn *raw = pt_raw();
    pt_exec(raw, "BEGIN ISOLATION LEVEL SERIALIZABLE");
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE %s SET value = '\\x0a00000000000000' WHERE key = '\\x%02x'::bytea || "
             "substring(key from 2)",
             d.table, k.b[0]);
    pt_exec(raw, sql); /* the only row with that first byte: 10 */
    kv_pg_stats before, after;
    kv_pg_get_stats(d.kv, &before);
    add_job j = {d.kv, &k, batch, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, add_thread, &j), 0);
    /* wait until the engine's statement is blocked on our lock */
    PGconn *mon = pt_raw();
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s' AND "
             "wait_event_type = 'Lock'",
             app + strlen("application_name="));
    int waited = 0;
    while (query_long(mon, q) == 0 && waited++ < 500)
        sleep_ms(10);
    assert_true(waited < 500);
    pt_exec(raw, "COMMIT"); /* the engine's snapshot predates this: 40001 */
    pthread_join(th, NULL);
    if (j.rc != STEME_OK)
        fail_msg("add after a serialization failure: %s (%s)", steme_errname(j.rc),
                 steme_kv_errmsg(d.kv));
    kv_pg_get_stats(d.kv, &after);
    assert_true(after.retries > before.retries); /* it did fail once, and was retried */
    uint64_t u = 0;
    OK(steme_kv_get_u64(d.kv, k.b, k.n, &u));
    assert_true(u == 11); /* the raw session's 10, plus our 1, once */
    PQfinish(mon);
    PQfinish(raw);
    pt_db_close(&d);
}

static void test_serialization_failure_is_retried(void **state)
{
    (void)state;
    provoke_serialization_failure(0);
    provoke_serialization_failure(1);
}

/* --- lost sessions --------------------------------------------------------- */

static void terminate_sessions(PGconn *raw, const char *app)
{
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
             "application_name = '%s'",
             app);
    assert_true(query_long(raw, q) >= 1);
}

static void test_killed_sessions_reconnect(void **state)
{
    (void)state;
    char app[64], extra[96];
    snprintf(app, sizeof app, "steme_kill_%ld", (long)getpid());
    snprintf(extra, sizeof extra, "application_name=%s", app);
    char *ci = pt_conninfo_with(extra);
    pt_db d;
    pt_db_open(&d, NULL, ci);
    free(ci);
    PGconn *raw = pt_raw();
    kt_key k;
    kt_key_make(&k, STEME_FAM_VOTE_COUNT, "kill", 1);
    steme_kv_batch *b = steme_kv_batch_new();
    OK(steme_kv_batch_put(b, "a", 1, "1", 1));
    for (int round = 0; round < 3; round++) {
        OK(steme_kv_add_u64(d.kv, k.b, k.n, 1, 0));
        terminate_sessions(raw, app);
        OK(steme_kv_put(d.kv, "p", 1, "v", 1, 0)); /* a put on a dead session */
        terminate_sessions(raw, app);
        OK(steme_kv_write(d.kv, b, 0));           /* a batch on a dead session */
        terminate_sessions(raw, app);
        kt_list got = {0};
        OK(kt_scan(d.kv, NULL, 0, NULL, 0, 0, 0, &got)); /* a scan on a dead session */
        assert_true(got.n == 3);
        kt_list_free(&got);
    }
    uint64_t u;
    OK(steme_kv_get_u64(d.kv, k.b, k.n, &u));
    assert_true(u == 3);
    kv_pg_stats st;
    kv_pg_get_stats(d.kv, &st);
    assert_true(st.reconnects >= 9);
    steme_kv_batch_free(b);
    PQfinish(raw);
    pt_db_close(&d);
}

/* The server refuses us past the retry budget, then lets us back in. */
static void test_retry_budget_runs_out(void **state)
{
    (void)state;
    char role[64], extra[160], sql[256];
    snprintf(role, sizeof role, "steme_lim_%ld", (long)getpid());
    PGconn *raw = pt_raw();
    snprintf(sql, sizeof sql, "DROP ROLE IF EXISTS %s", role);
    pt_exec(raw, sql);
    snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN", role);
    pt_exec(raw, sql);
    snprintf(sql, sizeof sql, "GRANT CREATE, USAGE ON SCHEMA public TO %s", role);
    pt_exec(raw, sql);
    snprintf(extra, sizeof extra, "user=%s application_name=%s", role, role);
    char *ci = pt_conninfo_with(extra);
    kv_pg_options po;
    kv_pg_options_init(&po);
    po.retry_ms = 300;
    po.pool_size = 1;
    pt_db d;
    pt_db_open(&d, &po, ci);
    free(ci);
    OK(steme_kv_put(d.kv, "k", 1, "v", 1, 0));
    snprintf(sql, sizeof sql, "ALTER ROLE %s CONNECTION LIMIT 0", role);
    pt_exec(raw, sql);
    terminate_sessions(raw, role);
    int rc = steme_kv_put(d.kv, "k", 1, "w", 1, 0);
    assert_int_equal(rc, STEME_E_IO);
    assert_non_null(strstr(steme_kv_errmsg(d.kv), "unreachable"));
    print_message("  expected failure: %s\n", steme_kv_errmsg(d.kv));
    snprintf(sql, sizeof sql, "ALTER ROLE %s CONNECTION LIMIT -1", role);
    pt_exec(raw, sql);
    OK(steme_kv_put(d.kv, "k", 1, "x", 1, 0)); /* back, same handle */
    steme_buf b = STEME_BUF_INIT;
    OK(steme_kv_get(d.kv, "k", 1, &b));
    assert_memory_equal(b.data, "x", 1);
    steme_buf_free(&b);
    pt_db_close(&d);
    snprintf(sql, sizeof sql, "REVOKE ALL ON SCHEMA public FROM %s", role);
    pt_exec(raw, sql);
    snprintf(sql, sizeof sql, "DROP ROLE %s", role);
    pt_exec(raw, sql);
    PQfinish(raw);
}

/* --- concurrency ----------------------------------------------------------- */

#define WORKERS 8
#define ROUNDS 60

typedef struct conc {
    steme_kv *kv;
    kt_key cu, cf;
    atomic_int failures;
} conc;

static void *conc_worker(void *arg)
{
    conc *c = arg;
    steme_kv_batch *b = steme_kv_batch_new();
    for (int i = 0; i < ROUNDS; i++) {
        if (steme_kv_add_u64(c->kv, c->cu.b, c->cu.n, 1, 0) != STEME_OK)
            atomic_fetch_add(&c->failures, 1);
        steme_kv_batch_clear(b);
        steme_kv_batch_add_u64(b, c->cu.b, c->cu.n, 2);
        steme_kv_batch_add_f64(b, c->cf.b, c->cf.n, 0.5);
        if (steme_kv_write(c->kv, b, 0) != STEME_OK)
            atomic_fetch_add(&c->failures, 1);
    }
    steme_kv_batch_free(b);
    return NULL;
}

static void test_threads_share_a_pool(void **state)
{
    (void)state;
    kv_pg_options po;
    kv_pg_options_init(&po);
    po.pool_size = 3; /* fewer connections than threads: they wait their turn */
    pt_db d;
    pt_db_open(&d, &po, NULL);
    conc c = {.kv = d.kv};
    kt_key_make(&c.cu, STEME_FAM_VOTE_COUNT, "conc", 1);
    kt_key_make(&c.cf, STEME_FAM_VOTE_WEIGHT, "conc", 1);
    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, conc_worker, &c), 0);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&c.failures), 0);
    uint64_t u;
    double f;
    OK(steme_kv_get_u64(d.kv, c.cu.b, c.cu.n, &u));
    OK(steme_kv_get_f64(d.kv, c.cf.b, c.cf.n, &f));
    assert_true(u == (uint64_t)WORKERS * ROUNDS * 3);
    assert_true(f == WORKERS * ROUNDS * 0.5);
    kv_pg_stats st;
    kv_pg_get_stats(d.kv, &st);
    assert_true(st.connections <= 3);
    pt_db_close(&d);
}

/* --- restart mid-load ------------------------------------------------------- */

#define LOADERS 4

typedef struct load {
    steme_kv *kv;
    int id;
    atomic_int *stop;
    int acked_puts;         /* puts 0..acked_puts-1 acknowledged, in order */
    int put_errors;
    long acked_adds, unknown_adds;
    char first_error[256];
} load;

static void *load_worker(void *arg)
{
    load *l = arg;
    kt_key ck;
    kt_key_make(&ck, STEME_FAM_VOTE_COUNT, "restart", (uint64_t)l->id);
    for (int i = 0; !atomic_load(l->stop); i++) {
        kt_key k;
        kt_key_make(&k, STEME_FAM_VOTE, "restart", (uint64_t)(l->id * 1000000 + i));
        int rc = steme_kv_put(l->kv, k.b, k.n, &i, sizeof i, 0);
        if (rc == STEME_OK && l->put_errors == 0) {
            l->acked_puts = i + 1;
        } else if (rc != STEME_OK) {
            if (!l->put_errors++)
                snprintf(l->first_error, sizeof l->first_error, "put: %s",
                         steme_kv_errmsg(l->kv));
            break;
        }
        rc = steme_kv_add_u64(l->kv, ck.b, ck.n, 1, 0);
        if (rc == STEME_OK)
            l->acked_adds++;
        else if (rc == STEME_E_IO)
            l->unknown_adds++; /* "may or may not have been applied" */
        else if (!l->first_error[0])
            snprintf(l->first_error, sizeof l->first_error, "add: %s", steme_kv_errmsg(l->kv));
    }
    return NULL;
}

static char *restart_command(void)
{
    const char *cmd = getenv("STEME_PG_RESTART_CMD");
    if (cmd && *cmd)
        return strdup(cmd);
    const char *src = getenv("STEME_SOURCE_DIR");
#ifdef STEME_SOURCE_DIR
    if (!src)
        src = STEME_SOURCE_DIR;
#endif
    if (!src)
        return NULL;
    char c[1024], url[512] = "";
    snprintf(c, sizeof c, "%s/scripts/pg-test-cluster.sh url 2>/dev/null", src);
    FILE *p = popen(c, "r");
    if (!p)
        return NULL;
    if (!fgets(url, sizeof url, p))
        url[0] = 0;
    pclose(p);
    url[strcspn(url, "\n")] = 0;
    if (strcmp(url, pt_url()) != 0)
        return NULL; /* not the script's cluster: not ours to restart */
    snprintf(c, sizeof c, "%s/scripts/pg-test-cluster.sh restart", src);
    return strdup(c);
}

static void test_restart_mid_load(void **state)
{
    (void)state;
    char *cmd = restart_command();
    if (!cmd) {
        print_message("  skipped: no way to restart the server (set STEME_PG_RESTART_CMD, or "
                      "use scripts/pg-test-cluster.sh)\n");
        return;
    }
    pt_db d;
    pt_db_open(&d, NULL, NULL);
    atomic_int stop = 0;
    load l[LOADERS];
    pthread_t th[LOADERS];
    for (int i = 0; i < LOADERS; i++) {
        memset(&l[i], 0, sizeof l[i]);
        l[i].kv = d.kv, l[i].id = i, l[i].stop = &stop;
        assert_int_equal(pthread_create(&th[i], NULL, load_worker, &l[i]), 0);
    }
    sleep_ms(400);
    int src = system(cmd);
    assert_int_equal(src, 0);
    sleep_ms(600); /* load goes on after the restart */
    atomic_store(&stop, 1);
    for (int i = 0; i < LOADERS; i++)
        pthread_join(th[i], NULL);
    free(cmd);
    kv_pg_stats st;
    kv_pg_get_stats(d.kv, &st);
    print_message("  restart: %lu retries, %lu reconnects\n", st.retries, st.reconnects);
    for (int i = 0; i < LOADERS; i++) {
        if (l[i].put_errors)
            fail_msg("loader %d: a put failed across the restart: %s", i, l[i].first_error);
        if (l[i].first_error[0])
            fail_msg("loader %d: %s", i, l[i].first_error);
        print_message("  loader %d: %d puts, %ld adds acknowledged, %ld unknown\n", i,
                      l[i].acked_puts, l[i].acked_adds, l[i].unknown_adds);
        /* every acknowledged put is there, with its value */
        for (int j = 0; j < l[i].acked_puts; j++) {
            kt_key k;
            kt_key_make(&k, STEME_FAM_VOTE, "restart", (uint64_t)(i * 1000000 + j));
            steme_buf b = STEME_BUF_INIT;
            int rc = steme_kv_get(d.kv, k.b, k.n, &b);
            if (rc != STEME_OK)
                fail_msg("loader %d: acknowledged put %d lost: %s", i, j, steme_errname(rc));
            assert_int_equal(b.len, sizeof j);
            assert_memory_equal(b.data, &j, sizeof j);
            steme_buf_free(&b);
        }
        kt_key ck;
        kt_key_make(&ck, STEME_FAM_VOTE_COUNT, "restart", (uint64_t)i);
        uint64_t u = 0;
        OK(steme_kv_get_u64(d.kv, ck.b, ck.n, &u));
        assert_true(u >= (uint64_t)l[i].acked_adds);
        assert_true(u <= (uint64_t)(l[i].acked_adds + l[i].unknown_adds));
    }
    assert_true(st.reconnects >= 1);
    pt_db_close(&d);
}

/* --- bad input --------------------------------------------------------------- */

static void test_bad_open(void **state)
{
    (void)state;
    steme_kv *kv = (steme_kv *)1;
    steme_error err = {0};
    kv_pg_options po;
    kv_pg_options_init(&po);
    assert_int_equal(kv_pg_open(NULL, NULL, &kv, &err), STEME_E_INVALID);
    assert_null(kv);
    assert_int_equal(kv_pg_open("", NULL, &kv, &err), STEME_E_INVALID);
    assert_int_equal(kv_pg_open("host=", NULL, NULL, &err), STEME_E_INVALID);
    assert_int_equal(kv_pg_open("nonsense without equals", NULL, &kv, &err), STEME_E_INVALID);
    print_message("  %s\n", err.message);
    assert_int_equal(kv_pg_open("postgres://127.0.0.1:1/none", NULL, &kv, &err), STEME_E_IO);
    print_message("  %s\n", err.message);
    assert_null(kv);
    char long_name[65];
    memset(long_name, 'x', 64); /* 64 bytes: over PostgreSQL's 63 */
    long_name[64] = 0;
    const char *bad_tables[] = {"", "Kv", "kv;drop", "1kv", "a.b.c", ".kv", "kv.", "a\"b",
                                long_name};
    for (size_t i = 0; i < sizeof bad_tables / sizeof *bad_tables; i++) {
        po.table = bad_tables[i];
        assert_int_equal(kv_pg_open_ex(pt_url(), &po, &kv, &err), STEME_E_INVALID);
    }
    kv_pg_options_init(&po);
    po.pool_size = 0;
    assert_int_equal(kv_pg_open_ex(pt_url(), &po, &kv, &err), STEME_E_INVALID);
    kv_pg_options_init(&po);
    po.table = "steme_never_created";
    po.create_if_missing = 0;
    assert_int_equal(kv_pg_open_ex(pt_url(), &po, &kv, &err), STEME_E_INVALID);
    assert_non_null(strstr(err.message, "does not exist"));
    /* a table of the wrong shape is refused at open, not at first use */
    PGconn *raw = pt_raw();
    pt_exec(raw, "DROP TABLE IF EXISTS steme_wrong_shape");
    pt_exec(raw, "CREATE TABLE steme_wrong_shape (k bytea PRIMARY KEY, v bytea)");
    po.table = "steme_wrong_shape";
    assert_int_equal(kv_pg_open_ex(pt_url(), &po, &kv, &err), STEME_E_ENGINE);
    print_message("  %s\n", err.message);
    pt_exec(raw, "DROP TABLE steme_wrong_shape");
    PQfinish(raw);
}

int main(void)
{
    int gate = pt_gate("test_kv_pg_faults");
    if (gate >= 0)
        return gate;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_open),
        cmocka_unit_test(test_serialization_failure_is_retried),
        cmocka_unit_test(test_killed_sessions_reconnect),
        cmocka_unit_test(test_retry_budget_runs_out),
        cmocka_unit_test(test_threads_share_a_pool),
        cmocka_unit_test(test_restart_mid_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

