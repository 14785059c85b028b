/*
 * test_votes_behind.c - votes acknowledged at durability and written to the
 * engine behind (src/store/vote_behind.c): nothing a caller can read may
 * tell the difference.
 *
 * 16 writer threads each own 6 voters and vote on 24 shared assertions:
 * new votes, immediate re-votes of the pair just voted (the pair fence),
 * byte-identical repeats. Right after each acknowledged put the writer reads
 * back through the engine (the stored vote, a listing, the assertion's
 * totals after dropping them from the read cache, a recount of its own
 * votes) and compares with its own model of its voters. Two readers drop
 * cache entries and read totals in a loop: a count never goes down (votes
 * are never removed), so a stale cache fill would show. A checkpointer
 * thread checkpoints all along (it must wait for the applier before it
 * moves the log's cursor). Afterwards, and after a reopen, every assertion's
 * totals equal its recount and the sum of the writers' models.
 *
 * Then a failed engine write behind the log (injected in the KV layer): it
 * must be sticky and loud, and a reopen must replay what the engine lost.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/db.h"
#include "steme/votes.h"
#include "store/vote_store_int.h"
#include "testutil.h"
#include "store_testlib.h"

#define WRITERS 16
#define OWN 6           /* voters per writer */
#define NA 24           /* assertions */
#ifdef STEME_SANITIZED
#define STEPS 120
#else
#define STEPS 400
#endif

typedef struct shared {
    steme_db *db;
    steme_hash h[NA];
    atomic_int stop, failures;
    char why[320];
    uint64_t seed;
    /* per writer, per own voter, per assertion: 0 none, else fixed weight + 1 marker */
    int has[WRITERS][OWN][NA];
    int64_t fixed[WRITERS][OWN][NA];
} shared;

typedef struct worker {
    shared *sh;
    int id;
} worker;

static void failed(shared *sh, const char *what, int rc)
{
    if (atomic_fetch_add(&sh->failures, 1) == 0)
        snprintf(sh->why, sizeof sh->why, "%s: %s (%s)", what, steme_errname(rc),
                 steme_db_errmsg(sh->db));
}

static steme_agent_id voter_id(int writer, int k)
{
    steme_agent_id id;
    memset(&id, 0, sizeof id);
    id.bytes[0] = (uint8_t)writer;
    id.bytes[1] = (uint8_t)k;
    id.bytes[5] = 0x5a;
    return id;
}

/* Drop a's totals from the read cache, so the next read goes to the engine. */
static void forget(steme_db *db, const steme_hash *a)
{
    vote_cache *c = vote_cache_of(db, 0);
    if (c)
        vote_cache_invalidate(c, a);
}

typedef struct find_ctx {
    steme_agent_id voter;
    int found;
    double weight;
} find_ctx;

static int find_voter(void *ctx, const steme_vote *v)
{
    find_ctx *f = ctx;
    if (memcmp(v->voter.bytes, f->voter.bytes, sizeof f->voter.bytes) == 0) {
        f->found = 1;
        f->weight = v->weight;
        return 1;
    }
    return 0;
}

/* Read back one acknowledged vote through the engine. */
static int check_readback(shared *sh, const steme_vote *v)
{
    steme_votes *vs = steme_db_votes(sh->db);
    steme_buf buf = STEME_BUF_INIT;
    steme_vote got;
    int rc = steme_votes_get(vs, &v->assertion, &v->voter, &buf, &got);
    steme_buf_free(&buf);
    if (rc != STEME_OK || got.timestamp != v->timestamp || got.weight != v->weight) {
        failed(sh, "the stored vote right after its put is not the put one", rc);
        return 0;
    }
    find_ctx f = {v->voter, 0, 0};
    steme_vote_cursor cur;
    memset(&cur, 0, sizeof cur);
    rc = steme_votes_list(vs, &v->assertion, 0, &cur, find_voter, &f);
    if (rc != STEME_OK || !f.found || f.weight != v->weight) {
        failed(sh, "a listing right after a put misses it", rc);
        return 0;
    }
    return 1;
}

static void *writer_main(void *p)
{
    worker *wk = p;
    shared *sh = wk->sh;
    steme_votes *vs = steme_db_votes(sh->db);
    tu_rng r;
    tu_rng_seed(&r, sh->seed * 131 + (uint64_t)wk->id);
    steme_vote last;
    int have_last = 0;
    for (int i = 0; i < STEPS && !atomic_load(&sh->failures); i++) {
        steme_vote v;
        unsigned mode = (unsigned)tu_rng_below(&r, 10);
        if (have_last && mode == 0) {
            v = last; /* byte-identical repeat: nothing moves */
        } else {
            memset(&v, 0, sizeof v);
            if (have_last && mode <= 3) { /* re-vote the pair just voted */
                v.assertion = last.assertion;
                v.voter = last.voter;
            } else {
                v.assertion = sh->h[tu_rng_below(&r, NA)];
                v.voter = voter_id(wk->id, (int)tu_rng_below(&r, OWN));
            }
            v.timestamp = 1 + (uint64_t)i;
            v.weight = (double)((int)tu_rng_below(&r, 2001) - 1000) / 1000.0;
        }
        int rc = steme_votes_put(vs, &v, NULL);
        if (rc != STEME_OK) {
            failed(sh, "put", rc);
            break;
        }
        int a = 0, k = v.voter.bytes[1];
        while (memcmp(sh->h[a].bytes, v.assertion.bytes, STEME_HASH_LEN) != 0)
            a++;
        sh->has[wk->id][k][a] = 1;
        sh->fixed[wk->id][k][a] = steme_vote_weight_fixed(v.weight);
        last = v;
        have_last = 1;
        /* read back only some of the time: a re-vote that follows its pair's
         * put at once must find the stored vote by the pair fence alone */
        if (mode >= 5 && !check_readback(sh, &v))
            break;
        if (mode == 9) { /* totals from the engine: at least this writer's votes */
            forget(sh->db, &v.assertion);
            uint64_t n = 0, rn = 0;
            int64_t w = 0, rw = 0;
            rc = steme_votes_totals(vs, &v.assertion, &n, &w);
            if (rc == STEME_OK)
                rc = steme_votes_recount(vs, &v.assertion, &rn, &rw);
            uint64_t mine = 0;
            for (int j = 0; j < OWN; j++)
                mine += (uint64_t)sh->has[wk->id][j][a];
            if (rc != STEME_OK || n < mine || rn < mine) {
                failed(sh, "totals or recount miss this writer's acknowledged votes", rc);
                break;
            }
        }
    }
    return NULL;
}

static void *reader_main(void *p)
{
    worker *wk = p;
    shared *sh = wk->sh;
    steme_votes *vs = steme_db_votes(sh->db);
    tu_rng r;
    tu_rng_seed(&r, sh->seed + 7 + (uint64_t)wk->id);
    uint64_t seen[NA] = {0};
    while (!atomic_load(&sh->stop) && !atomic_load(&sh->failures)) {
        int a = (int)tu_rng_below(&r, NA);
        if (tu_rng_below(&r, 3) == 0)
            forget(sh->db, &sh->h[a]);
        uint64_t n = 0;
        int rc = steme_votes_count(vs, &sh->h[a], &n);
        if (rc != STEME_OK) {
            failed(sh, "read", rc);
            break;
        }
        if (n < seen[a]) {
            failed(sh, "a vote count went down (a stale read)", STEME_OK);
            break;
        }
        seen[a] = n;
    }
    return NULL;
}

static void *checkpointer_main(void *p)
{
    worker *wk = p;
    shared *sh = wk->sh;
    while (!atomic_load(&sh->stop) && !atomic_load(&sh->failures)) {
        int rc = steme_db_checkpoint(sh->db);
        if (rc != STEME_OK) {
            failed(sh, "checkpoint", rc);
            break;
        }
        struct timespec ts = {0, 3 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Every assertion: totals == recount == the writers' models. */
static void check_all(shared *sh)
{
    steme_votes *vs = steme_db_votes(sh->db);
    for (int a = 0; a < NA; a++) {
        uint64_t want_n = 0, n = 0, rn = 0;
        int64_t want_w = 0, w = 0, rw = 0;
        for (int i = 0; i < WRITERS; i++)
            for (int k = 0; k < OWN; k++)
                if (sh->has[i][k][a]) {
                    want_n++;
                    want_w += sh->fixed[i][k][a];
                }
        assert_int_equal(steme_votes_totals(vs, &sh->h[a], &n, &w), STEME_OK);
        assert_int_equal(steme_votes_recount(vs, &sh->h[a], &rn, &rw), STEME_OK);
        if (n != rn || w != rw || n != want_n || w != want_w)
            fail_msg("assertion %d: totals (%llu, %lld), recount (%llu, %lld), model (%llu, %lld)",
                     a, (unsigned long long)n, (long long)w, (unsigned long long)rn,
                     (long long)rw, (unsigned long long)want_n, (long long)want_w);
    }
}

static void run(const char *dir, steme_kv_engine engine, uint64_t seed)
{
    shared *sh = calloc(1, sizeof *sh);
    assert_non_null(sh);
    sh->seed = seed;
    sh->db = st_open_db(dir, engine);
    for (int i = 0; i < NA; i++) {
        char subject[32], text[32];
        snprintf(subject, sizeof subject, "behind-%d", i % 5);
        snprintf(text, sizeof text, "claim %d", i);
        st_put_claim(sh->db, subject, text, 1700000000000ull + (uint64_t)i, &sh->h[i]);
    }
    pthread_t t[WRITERS + 3];
    worker wk[WRITERS + 3];
    for (int i = 0; i < WRITERS + 3; i++) {
        wk[i].sh = sh;
        wk[i].id = i < WRITERS ? i : i - WRITERS;
        void *(*fn)(void *) = i < WRITERS ? writer_main : i < WRITERS + 2 ? reader_main
                                                                          : checkpointer_main;
        assert_int_equal(pthread_create(&t[i], NULL, fn, &wk[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&sh->stop, 1);
    for (int i = WRITERS; i < WRITERS + 3; i++)
        pthread_join(t[i], NULL);
    if (atomic_load(&sh->failures))
        fail_msg("%d failure(s), first: %s", atomic_load(&sh->failures), sh->why);
    check_all(sh);
    steme_db_close(sh->db);
    if (engine != STEME_KV_MEM) { /* MEM keeps nothing across a close */
        sh->db = st_open_db(dir, engine);
        check_all(sh);
        steme_db_close(sh->db);
    }
    free(sh);
}

static void behind_is_invisible_hybrid(void **state)
{
    run(*state, STEME_KV_HYBRID, tu_seed(4242));
}

static void behind_is_invisible_mem(void **state)
{
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/mem", (const char *)*state);
    run(sub, STEME_KV_MEM, tu_seed(4343));
}

/* ------------------------------------------------ a failed engine write */

#define FW 8      /* fault test: writer threads, each with its own pairs */
#define FPAIRS 6

typedef struct fault_writer {
    steme_db *db;
    const steme_hash *h;
    int id;
    /* per own pair (assertion i % NA, voter k): last acknowledged, and the
     * attempt that failed (it may be durable: the log took it) */
    int acked[FPAIRS], failed[FPAIRS];
    steme_vote last_ok[FPAIRS], last_try[FPAIRS];
    int fail_rc;
    char fail_msg[STEME_ERRMSG_MAX];
} fault_writer;

static void *fault_writer_main(void *p)
{
    fault_writer *fw = p;
    steme_votes *vs = steme_db_votes(fw->db);
    for (int i = 0; i < 4000; i++) {
        int k = i % FPAIRS;
        steme_vote v;
        memset(&v, 0, sizeof v);
        v.assertion = fw->h[(fw->id * FPAIRS + k) % NA];
        v.voter = voter_id(200 + fw->id, k);
        v.timestamp = 1 + (uint64_t)i;
        v.weight = (double)((i * 37 + fw->id) % 2001 - 1000) / 1000.0;
        fw->last_try[k] = v;
        int rc = steme_votes_put(vs, &v, NULL);
        if (rc != STEME_OK) {
            fw->failed[k] = 1;
            fw->fail_rc = rc;
            snprintf(fw->fail_msg, sizeof fw->fail_msg, "%s", steme_db_errmsg(fw->db));
            return NULL;
        }
        fw->acked[k] = 1;
        fw->last_ok[k] = v;
    }
    return NULL;
}

/*
 * The engine refuses writes from some point on (fault injection in the KV
 * layer), so the applier's batch fails behind acknowledged votes. Then:
 * later votes fail with the applier's message, reads of vote records and
 * checkpoints fail (never a stale answer), close keeps the log's cursor;
 * after a reopen without the fault, replay has applied every acknowledged
 * vote (or the failed attempt after it, which the log may hold) and every
 * total equals its recount.
 */
static void applier_failure_is_sticky_then_replayed(void **state)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fault", (const char *)*state);
    steme_hash h[NA];
    steme_db *db = st_open_db(dir, STEME_KV_HYBRID);
    for (int i = 0; i < NA; i++) {
        char text[32];
        snprintf(text, sizeof text, "fault claim %d", i);
        st_put_claim(db, "fault-subject", text, 1700000000000ull + (uint64_t)i, &h[i]);
    }
    steme_db_close(db);

    steme_db_options o;
    steme_db_options_init(&o);
    o.engine = STEME_KV_HYBRID;
    o.kv.fault_write_after = 20; /* a few of the applier's batches land, then none */
    steme_error e;
    assert_int_equal(steme_db_open(dir, &o, &db, &e), STEME_OK);
    pthread_t t[FW];
    fault_writer *fw = calloc(FW, sizeof *fw);
    assert_non_null(fw);
    for (int i = 0; i < FW; i++) {
        fw[i].db = db;
        fw[i].h = h;
        fw[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, fault_writer_main, &fw[i]), 0);
    }
    for (int i = 0; i < FW; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < FW; i++) {
        if (fw[i].fail_rc == STEME_OK)
            fail_msg("writer %d never failed: the fault did not reach the votes", i);
        if (!strstr(fw[i].fail_msg, "behind the log") && !strstr(fw[i].fail_msg, "injected"))
            fail_msg("writer %d: unclear failure: %s", i, fw[i].fail_msg);
    }
    steme_votes *vs = steme_db_votes(db);
    uint64_t n = 0;
    int rc = steme_votes_recount(vs, &h[0], &n, NULL);
    assert_int_not_equal(rc, STEME_OK); /* never an answer without the trailing votes */
    assert_non_null(strstr(steme_db_errmsg(db), "behind the log"));
    assert_int_not_equal(steme_db_checkpoint(db), STEME_OK);
    steme_db_close(db);

    db = st_open_db(dir, STEME_KV_HYBRID);
    vs = steme_db_votes(db);
    for (int i = 0; i < FW; i++)
        for (int k = 0; k < FPAIRS; k++) {
            const steme_vote *want = &fw[i].last_try[k];
            if (!fw[i].acked[k] && !fw[i].failed[k])
                continue;
            steme_buf buf = STEME_BUF_INIT;
            steme_vote got;
            rc = steme_votes_get(vs, &want->assertion, &want->voter, &buf, &got);
            steme_buf_free(&buf);
            if (rc != STEME_OK)
                fail_msg("writer %d pair %d: its acknowledged vote is gone (%s)", i, k,
                         steme_db_errmsg(db));
            int is_ok = fw[i].acked[k] && got.timestamp == fw[i].last_ok[k].timestamp;
            int is_try = fw[i].failed[k] && got.timestamp == want->timestamp;
            if (!is_ok && !is_try)
                fail_msg("writer %d pair %d: holds ts %llu, neither the last acknowledged "
                         "vote nor the failed attempt", i, k, (unsigned long long)got.timestamp);
        }
    for (int a = 0; a < NA; a++) {
        uint64_t c = 0, rc2 = 0;
        int64_t w = 0, rw = 0;
        assert_int_equal(steme_votes_totals(vs, &h[a], &c, &w), STEME_OK);
        assert_int_equal(steme_votes_recount(vs, &h[a], &rc2, &rw), STEME_OK);
        if (c != rc2 || w != rw)
            fail_msg("assertion %d after replay: totals (%llu, %lld) != recount (%llu, %lld)", a,
                     (unsigned long long)c, (long long)w, (unsigned long long)rc2, (long long)rw);
    }
    steme_db_close(db);
    free(fw);
}

static int setup(void **state) { return st_tempdir_setup(state, "votes-behind"); }
static int teardown(void **state) { return st_tempdir_teardown(state); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(behind_is_invisible_hybrid),
        cmocka_unit_test(behind_is_invisible_mem),
        cmocka_unit_test(applier_failure_is_sticky_then_replayed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
