/*
 * test_multinode_pg.c - two processes ("nodes") on one pg database, as two
 * `steme serve` would be: each forks off with its own steme_db handle (its
 * own connection pool, its own stripe locks: nothing shared but the
 * server), and each runs several threads that
 *   - vote on a few shared assertions with shared voters (so one
 *     (assertion, voter) pair is re-voted from both nodes at once), and
 *   - charge one agent's Meter until it refuses.
 * Afterwards: every vote cache equals its recount (no lost or doubled
 * delta across nodes), and the tokens spent (the usage record, and the sum
 * of the costs each node was granted) never exceed the limit, and equal it
 * when the nodes kept asking (they stop only on refusal). Trust outcomes
 * recorded from both nodes add up exactly.
 *
 * The index log's visibility rule (steme/index_log.h) across processes:
 * each node appends entries from threads, plus one raw libpq writer that
 * holds each entry's transaction open for up to 400 ms after choosing its
 * key (so commits land out of key order, within the commit budget), while
 * a tailer thread scans with the catch-up rule (each scan starts a window
 * W before the previous scan's start). Every node's tailer sees every
 * entry of both nodes. A naive tailer (next scan from the last ts seen) is
 * run beside it; what it misses is printed, not asserted (it depends on
 * timing).
 *
 * Needs $STEME_PG_URL (scripts/pg-test-cluster.sh start); skipped without,
 * failed without it when STEME_REQUIRE_PG=1.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "steme/index_log.h"
#include "steme/quota.h"
#include "steme/trust.h"
#include "steme/votes.h"
#include "testutil.h"
#include "store_pg.h"

#define NODES 2
#define THREADS 4
#define ASSERTIONS 6
#define VOTERS 5
#define VOTES_PER_THREAD 60
#define OUTCOMES_PER_THREAD 15
#define LIMIT 300u            /* tokens: a query costs 5, a vote 1 */
#define T0 (1700000000000ull)

typedef struct node_ctx {
    steme_db *db;
    steme_hash h[ASSERTIONS];
    int node, thread;
    uint64_t granted;        /* tokens this thread was allowed to spend */
    uint64_t accurate;       /* trust outcomes it recorded */
    int failed;
    char why[256];
} node_ctx;

static steme_agent_id agent_n(unsigned n)
{
    steme_agent_id id;
    memset(&id, 0, sizeof id);
    id.bytes[0] = 0x77;
    id.bytes[1] = (uint8_t)n;
    return id;
}

static void make_assertion(int i, steme_assertion *a, char *subject, char *text)
{
    snprintf(subject, 32, "node-topic-%d", i % 3);
    snprintf(text, 32, "v%d", i);
    memset(a, 0, sizeof *a);
    a->subject = subject;
    a->subject_len = strlen(subject);
    a->predicate = "p";
    a->predicate_len = 1;
    a->object = steme_value_string(text, strlen(text));
    a->confidence = 0.5;
    a->source_kind = STEME_SOURCE_AGENT;
    a->timestamp = T0 + (uint64_t)i;
}

static void *node_thread(void *p)
{
    node_ctx *c = p;
    tu_rng r;
    tu_rng_seed(&r, (uint64_t)(c->node * 100 + c->thread) + 7);
    steme_votes *vs = steme_db_votes(c->db);
    steme_quota *q = steme_db_quota(c->db);
    steme_trust *t = steme_db_trust(c->db);
    steme_agent_id spender = agent_n(200);
    steme_agent_id ranked = agent_n(201);
    int charging = 1;
    for (int i = 0; i < VOTES_PER_THREAD && !c->failed; i++) {
        steme_vote v;
        memset(&v, 0, sizeof v);
        v.assertion = c->h[tu_rng_below(&r, ASSERTIONS)];
        v.voter = agent_n((unsigned)tu_rng_below(&r, VOTERS));
        v.timestamp = T0 + (uint64_t)i;
        v.weight = ((double)(tu_rng_next(&r) >> 11) * 0x1p-53) * 2.0 - 1.0;
        int rc = steme_votes_put(vs, &v, NULL);
        if (rc != STEME_OK) {
            snprintf(c->why, sizeof c->why, "vote: %s (%s)", steme_errname(rc),
                     steme_db_errmsg(c->db));
            c->failed = 1;
            break;
        }
        if (charging) {
            steme_quota_result qr;
            steme_quota_op op = i % 2 ? STEME_QUOTA_VOTE : STEME_QUOTA_QUERY;
            rc = steme_quota_check_and_record(q, &spender, op, 0, 0, T0, &qr);
            if (rc != STEME_OK) {
                snprintf(c->why, sizeof c->why, "charge: %s (%s)", steme_errname(rc),
                         steme_db_errmsg(c->db));
                c->failed = 1;
                break;
            }
            if (qr.allowed)
                c->granted += qr.cost;
            else if (op == STEME_QUOTA_VOTE)
                charging = 0; /* not even 1 token left */
        }
        if (i < OUTCOMES_PER_THREAD) {
            rc = steme_trust_record_outcome(t, &ranked, true, T0 + (uint64_t)i, NULL);
            if (rc != STEME_OK) {
                snprintf(c->why, sizeof c->why, "outcome: %s (%s)", steme_errname(rc),
                         steme_db_errmsg(c->db));
                c->failed = 1;
                break;
            }
            c->accurate++;
        }
    }
    /* keep asking for single tokens until refused: the budget is then spent */
    steme_quota_result qr = {0};
    while (!c->failed) {
        int rc = steme_quota_check_and_record(q, &spender, STEME_QUOTA_VOTE, 0, 0, T0, &qr);
        if (rc != STEME_OK) {
            c->failed = 1;
            snprintf(c->why, sizeof c->why, "final charge: %s", steme_errname(rc));
        }
        if (rc != STEME_OK || !qr.allowed)
            break;
        c->granted += qr.cost;
    }
    return NULL;
}

/* One node: its own handle and threads; reports what it was granted
 * through the pipe. Exit status 0 on success. */
static int run_node(int node, const char *table, const steme_hash *h, int fd)
{
    steme_db_options o;
    steme_db_options_init(&o);
    o.kv.pg_table = table;
    steme_db *db = NULL;
    steme_error e;
    if (steme_db_open(sp_url(), &o, &db, &e) != STEME_OK) {
        fprintf(stderr, "node %d: open: %s\n", node, e.message);
        return 1;
    }
    node_ctx c[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].db = db;
        memcpy(c[i].h, h, sizeof c[i].h);
        c[i].node = node;
        c[i].thread = i;
        pthread_create(&th[i], NULL, node_thread, &c[i]);
    }
    uint64_t sums[2] = {0, 0};
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (c[i].failed) {
            fprintf(stderr, "node %d thread %d: %s\n", node, i, c[i].why);
            bad = 1;
        }
        sums[0] += c[i].granted;
        sums[1] += c[i].accurate;
    }
    steme_db_close(db);
    if (write(fd, sums, sizeof sums) != (ssize_t)sizeof sums)
        bad = 1;
    return bad;
}

static void two_nodes_stay_exact(void **state)
{
    (void)state;
    char table[40];
    sp_table_of("multinode", table);
    memcpy(sp_tables[sp_ntables++], table, sizeof table);
    steme_db_options o;
    steme_db_options_init(&o);
    o.kv.pg_table = table;
    steme_db *db = NULL;
    steme_error e;
    if (steme_db_open(sp_url(), &o, &db, &e) != STEME_OK)
        fail_msg("open: %s", e.message);
    steme_hash h[ASSERTIONS];
    for (int i = 0; i < ASSERTIONS; i++) {
        steme_assertion a;
        char subject[32], text[32];
        make_assertion(i, &a, subject, text);
        assert_int_equal(steme_db_put_assertion(db, &a, &h[i], NULL), STEME_OK);
    }
    steme_agent_id spender = agent_n(200), ranked = agent_n(201);
    assert_int_equal(steme_quota_set_limit(steme_db_quota(db), &spender, LIMIT), STEME_OK);
    steme_db_close(db); /* the nodes open their own handles */

    int fds[NODES][2];
    pid_t pid[NODES];
    for (int n = 0; n < NODES; n++) {
        assert_int_equal(pipe(fds[n]), 0);
        pid[n] = fork();
        assert_true(pid[n] >= 0);
        if (pid[n] == 0) {
            close(fds[n][0]);
            _exit(run_node(n, table, h, fds[n][1]));
        }
        close(fds[n][1]);
    }
    uint64_t granted = 0, accurate = 0;
    for (int n = 0; n < NODES; n++) {
        uint64_t sums[2] = {0, 0};
        ssize_t got = read(fds[n][0], sums, sizeof sums);
        close(fds[n][0]);
        int st = 0;
        assert_int_equal(waitpid(pid[n], &st, 0), pid[n]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || got != (ssize_t)sizeof sums)
            fail_msg("node %d failed (status 0x%x)", n, st);
        granted += sums[0];
        accurate += sums[1];
    }

    assert_int_equal(steme_db_open(sp_url(), &o, &db, &e), STEME_OK);
    steme_votes *vs = steme_db_votes(db);
    uint64_t total_votes = 0;
    for (int i = 0; i < ASSERTIONS; i++) {
        uint64_t n, rn;
        int64_t w, rw;
        assert_int_equal(steme_votes_totals(vs, &h[i], &n, &w), STEME_OK);
        assert_int_equal(steme_votes_recount(vs, &h[i], &rn, &rw), STEME_OK);
        if (n != rn || w != rw)
            fail_msg("assertion %d: cache (%llu, %lld) != recount (%llu, %lld)", i,
                     (unsigned long long)n, (long long)w, (unsigned long long)rn, (long long)rw);
        assert_true(n <= VOTERS);
        total_votes += n;
    }
    assert_true(total_votes > 0);
    /* the Meter: never past the limit, and all of it spent (the nodes asked
     * until refused), and what was granted is exactly what was recorded */
    steme_quota_status st;
    assert_int_equal(steme_quota_get_status(steme_db_quota(db), &spender, T0, &st), STEME_OK);
    assert_int_equal(st.limit, LIMIT);
    assert_true(st.used <= LIMIT);
    assert_int_equal(st.used, LIMIT);
    assert_int_equal(granted, st.used);
    /* trust: every outcome from both nodes is in the rank */
    steme_trust_rank tr;
    assert_int_equal(steme_trust_get(steme_db_trust(db), &ranked, &tr, NULL), STEME_OK);
    assert_int_equal(tr.assertions_count, accurate);
    assert_int_equal(tr.accuracy_count, (uint64_t)NODES * THREADS * OUTCOMES_PER_THREAD);
    steme_db_close(db);
}

/* ---- the index log across two processes ---- */

#define IL_WRITERS 2          /* threads appending through steme_index_log */
#define IL_PER_WRITER 150
#define IL_SLOW 25            /* entries of the raw writer, each held open */
#define IL_BUDGET_MS 1000u
#define IL_WINDOW_MS 3000u
#define IL_DEADLINE_MS 60000u

typedef struct il_node {
    int node;
    const char *table;
    steme_index_log *log;
    unsigned char seen[NODES][IL_WRITERS + 1][IL_PER_WRITER];
    unsigned long seen_count, naive_count;
    unsigned char naive_seen[NODES][IL_WRITERS + 1][IL_PER_WRITER];
    int failed;
    char why[256];
} il_node;

typedef struct il_writer {
    il_node *n;
    int thread;
} il_writer;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static steme_index_log_entry il_entry(int node, int thread, int i)
{
    steme_index_log_entry e;
    memset(&e, 0, sizeof e);
    e.kind = STEME_INDEX_LOG_VISUAL;
    e.id.bytes[0] = (uint8_t)node;
    e.id.bytes[1] = (uint8_t)thread;
    e.id.bytes[2] = (uint8_t)i;
    e.id.bytes[3] = (uint8_t)(i >> 8);
    e.phash = (uint64_t)i;
    return e;
}

static void *il_write(void *p)
{
    il_writer *w = p;
    for (int i = 0; i < IL_PER_WRITER && !w->n->failed; i++) {
        steme_index_log_entry e = il_entry(w->n->node, w->thread, i);
        int rc = steme_index_log_append(w->n->log, &e);
        if (rc != STEME_OK) {
            snprintf(w->n->why, sizeof w->n->why, "append: %s", steme_index_log_errmsg(w->n->log));
            w->n->failed = 1;
        }
    }
    return NULL;
}

/* Entries written by hand: key chosen, then the transaction held open for
 * 0..400 ms before COMMIT, as a slow commit within the budget would be. */
static void *il_write_slow(void *p)
{
    il_writer *w = p;
    PGconn *c = PQconnectdb(sp_url());
    char sql[160];
    snprintf(sql, sizeof sql, "INSERT INTO %s (key, value) VALUES ($1, $2)", w->n->table);
    tu_rng r;
    tu_rng_seed(&r, 99 + (uint64_t)w->n->node);
    for (int i = 0; i < IL_SLOW && !w->n->failed && PQstatus(c) == CONNECTION_OK; i++) {
        steme_index_log_entry e = il_entry(w->n->node, IL_WRITERS, i);
        steme_index_log_pos pos = {now_ms(), 0x5100u + (uint64_t)w->n->node, (uint64_t)i};
        uint8_t key[STEME_INDEX_LOG_KEY_LEN], val[64];
        size_t vlen;
        steme_index_log_encode_key(&pos, key);
        if (steme_index_log_encode_value(&e, val, sizeof val, &vlen, NULL) != STEME_OK)
            break;
        const char *vals[2] = {(const char *)key, (const char *)val};
        int lens[2] = {(int)sizeof key, (int)vlen}, fmts[2] = {1, 1};
        PQclear(PQexec(c, "BEGIN"));
        PGresult *res = PQexecParams(c, sql, 2, NULL, vals, lens, fmts, 0);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        sleep_ms((unsigned)tu_rng_below(&r, 401));
        res = PQexec(c, "COMMIT");
        ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok) {
            snprintf(w->n->why, sizeof w->n->why, "slow writer: %s", PQerrorMessage(c));
            w->n->failed = 1;
        }
        sleep_ms((unsigned)tu_rng_below(&r, 50));
    }
    if (PQstatus(c) != CONNECTION_OK && !w->n->failed) {
        snprintf(w->n->why, sizeof w->n->why, "slow writer: %s", PQerrorMessage(c));
        w->n->failed = 1;
    }
    PQfinish(c);
    return NULL;
}

typedef struct il_mark {
    il_node *n;
    int naive;
    uint64_t max_ts;
} il_mark;

static int il_mark_seen(void *ctx, const steme_index_log_entry *e)
{
    il_mark *m = ctx;
    int node = e->id.bytes[0], thread = e->id.bytes[1], i = e->id.bytes[2] | e->id.bytes[3] << 8;
    if (node >= NODES || thread > IL_WRITERS || i >= IL_PER_WRITER)
        return 0;   /* not this test's */
    unsigned char *f = m->naive ? &m->n->naive_seen[node][thread][i] : &m->n->seen[node][thread][i];
    if (!*f) {
        *f = 1;
        (*(m->naive ? &m->n->naive_count : &m->n->seen_count))++;
    }
    if (e->pos.ts > m->max_ts)
        m->max_ts = e->pos.ts;
    return 0;
}

/* One node of the index log test: exit status 0 when its tailer saw every
 * entry of both nodes. */
static int il_run_node(int node, const char *table)
{
    steme_db_options o;
    steme_db_options_init(&o);
    o.kv.pg_table = table;
    steme_db *db = NULL;
    steme_error e;
    if (steme_db_open(sp_url(), &o, &db, &e) != STEME_OK) {
        fprintf(stderr, "node %d: open: %s\n", node, e.message);
        return 1;
    }
    il_node *n = calloc(1, sizeof *n);
    n->node = node;
    n->table = table;
    steme_index_log_options lo;
    steme_index_log_options_init(&lo);
    lo.budget_ms = IL_BUDGET_MS;
    if (steme_index_log_open_db(db, &lo, &n->log, &e) != STEME_OK) {
        fprintf(stderr, "node %d: index log: %s\n", node, e.message);
        return 1;
    }
    il_writer w[IL_WRITERS + 1];
    pthread_t th[IL_WRITERS + 1];
    for (int t = 0; t <= IL_WRITERS; t++) {
        w[t] = (il_writer){n, t};
        pthread_create(&th[t], NULL, t < IL_WRITERS ? il_write : il_write_slow, &w[t]);
    }
    const unsigned long total = (unsigned long)NODES * (IL_WRITERS * IL_PER_WRITER + IL_SLOW);
    uint64_t lower = 0, naive_lower = 0, deadline = now_ms() + IL_DEADLINE_MS;
    while (n->seen_count < total && !n->failed && now_ms() < deadline) {
        uint64_t start = now_ms();
        il_mark m = {n, 0, 0};
        if (steme_index_log_scan(n->log, lower, il_mark_seen, &m, NULL) != STEME_OK) {
            snprintf(n->why, sizeof n->why, "scan: %s", steme_index_log_errmsg(n->log));
            n->failed = 1;
            break;
        }
        lower = start - IL_WINDOW_MS;
        il_mark nm = {n, 1, 0};
        (void)steme_index_log_scan(n->log, naive_lower, il_mark_seen, &nm, NULL);
        if (nm.max_ts)
            naive_lower = nm.max_ts + 1;
        sleep_ms(20);
    }
    for (int t = 0; t <= IL_WRITERS; t++)
        pthread_join(th[t], NULL);
    /* one last naive scan, so that what it lacks is what it skipped past */
    il_mark last = {n, 1, 0};
    (void)steme_index_log_scan(n->log, naive_lower, il_mark_seen, &last, NULL);
    int bad = n->failed || n->seen_count != total;
    if (n->failed)
        fprintf(stderr, "node %d: %s\n", node, n->why);
    if (n->seen_count != total)
        fprintf(stderr, "node %d: the windowed tailer saw %lu of %lu entries\n", node,
                n->seen_count, total);
    printf("node %d: windowed tailer saw %lu/%lu; a naive tailer (no window) saw %lu\n", node,
           n->seen_count, total, n->naive_count);
    fflush(stdout);   /* the child leaves by _exit, which flushes nothing */
    steme_index_log_close(n->log);
    free(n);
    steme_db_close(db);
    return bad;
}

static void index_log_tailers_see_everything(void **state)
{
    (void)state;
    char table[40];
    sp_table_of("multinode-index-log", table);
    memcpy(sp_tables[sp_ntables++], table, sizeof table);
    steme_db_options o;
    steme_db_options_init(&o);
    o.kv.pg_table = table;
    steme_db *db = NULL;
    steme_error e;
    if (steme_db_open(sp_url(), &o, &db, &e) != STEME_OK)   /* creates the table */
        fail_msg("open: %s", e.message);
    steme_db_close(db);
    pid_t pid[NODES];
    for (int n = 0; n < NODES; n++) {
        fflush(stdout);
        pid[n] = fork();
        assert_true(pid[n] >= 0);
        if (pid[n] == 0)
            _exit(il_run_node(n, table));
    }
    for (int n = 0; n < NODES; n++) {
        int st = 0;
        assert_int_equal(waitpid(pid[n], &st, 0), pid[n]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("node %d: its tailer missed entries or failed (status 0x%x)", n, st);
    }
}

int main(void)
{
    if (!sp_url()) {
        const char *req = getenv("STEME_REQUIRE_PG");
        if (req && strcmp(req, "1") == 0) {
            printf("test_multinode_pg: STEME_PG_URL is not set and STEME_REQUIRE_PG=1\n");
            return 1;
        }
        printf("test_multinode_pg: skipped: STEME_PG_URL is not set\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_nodes_stay_exact),
        cmocka_unit_test(index_log_tailers_see_everything),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sp_cleanup();
    return rc;
}
