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
 * Needs $STEME_PG_URL (scripts/pg-test-cluster.sh start); skipped without.
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
#include <unistd.h>
#include <cmocka.h>

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

int main(void)
{
    if (!sp_url()) {
        printf("test_multinode_pg: skipped: STEME_PG_URL is not set\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_nodes_stay_exact),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sp_cleanup();
    return rc;
}
