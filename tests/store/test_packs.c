/* test_packs.c - trust packs: put/get, membership, listings with cursors,
 * bad input, a property run of random membership operations against an
 * in-memory model, and replay after a process ends without closing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "steme/packs.h"
#include "testutil.h"
#include "store_testlib.h"

static int setup(void **state)
{
    return st_tempdir_setup(state, "packs");
}

static steme_id16 pack_n(unsigned n)
{
    steme_id16 p;
    memset(&p, 0, sizeof p);
    p.bytes[0] = (uint8_t)(n >> 8);
    p.bytes[1] = (uint8_t)n;
    return p;
}

static steme_agent_id agent_n(unsigned n)
{
    steme_agent_id a;
    memset(&a, 0x5A, sizeof a);
    a.bytes[0] = (uint8_t)(n >> 8);
    a.bytes[1] = (uint8_t)n;
    return a;
}

static steme_trust_pack make_pack(unsigned n, const char *name)
{
    steme_trust_pack p;
    memset(&p, 0, sizeof p);
    p.id = pack_n(n);
    p.name = name;
    p.name_len = strlen(name);
    p.maintainer = agent_n(999);
    p.description = "curated by the pharmacology desk";
    p.description_len = strlen(p.description);
    p.created_at = 1700000000000ull + n;
    return p;
}

typedef struct ids {
    size_t n;
    uint8_t id[512][32];
} ids;

static int collect_pack(void *ctx, const steme_trust_pack *p)
{
    ids *c = ctx;
    memcpy(c->id[c->n++], p->id.bytes, 16);
    return 0;
}

static int collect_member(void *ctx, const steme_agent_id *a)
{
    ids *c = ctx;
    memcpy(c->id[c->n++], a->bytes, 32);
    return 0;
}

static void put_get_members(void **state)
{
    steme_db *db = st_open_db(*state, STEME_KV_HYBRID);
    steme_packs *ps = steme_db_packs(db);
    steme_trust_pack p = make_pack(1, "FDA reviewers");
    int created = -1, changed = -1, member = -1;
    assert_int_equal(steme_packs_put(ps, &p, &created), STEME_OK);
    assert_int_equal(created, 1);
    p.name = "FDA reviewers (2025)";
    p.name_len = strlen(p.name);
    assert_int_equal(steme_packs_put(ps, &p, &created), STEME_OK);
    assert_int_equal(created, 0);
    steme_buf buf = STEME_BUF_INIT;
    steme_trust_pack got;
    steme_id16 id = pack_n(1), missing = pack_n(2);
    assert_int_equal(steme_packs_get(ps, &id, &buf, &got), STEME_OK);
    assert_int_equal(got.name_len, p.name_len);
    assert_memory_equal(got.name, p.name, p.name_len);
    assert_int_equal(steme_packs_get(ps, &missing, &buf, &got), STEME_E_NOTFOUND);

    steme_agent_id a = agent_n(1), b = agent_n(2);
    assert_int_equal(steme_packs_add_agent(ps, &id, &a, &changed), STEME_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(steme_packs_add_agent(ps, &id, &a, &changed), STEME_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(steme_packs_add_agent(ps, &id, &b, NULL), STEME_OK);
    assert_int_equal(steme_packs_is_member(ps, &id, &a, &member), STEME_OK);
    assert_int_equal(member, 1);
    assert_int_equal(steme_packs_remove_agent(ps, &id, &a, &changed), STEME_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(steme_packs_remove_agent(ps, &id, &a, &changed), STEME_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(steme_packs_is_member(ps, &id, &a, &member), STEME_OK);
    assert_int_equal(member, 0);
    /* unknown pack */
    assert_int_equal(steme_packs_add_agent(ps, &missing, &a, &changed), STEME_E_NOTFOUND);
    assert_non_null(strstr(steme_db_errmsg(db), "no trust pack"));
    assert_int_equal(steme_packs_remove_agent(ps, &missing, &a, NULL), STEME_E_NOTFOUND);
    assert_int_equal(steme_packs_is_member(ps, &missing, &a, &member), STEME_OK);
    assert_int_equal(member, 0);
    steme_db_close(db);

    db = st_open_db(*state, STEME_KV_HYBRID); /* durable */
    ps = steme_db_packs(db);
    assert_int_equal(steme_packs_is_member(ps, &id, &b, &member), STEME_OK);
    assert_int_equal(member, 1);
    assert_int_equal(steme_packs_is_member(ps, &id, &a, &member), STEME_OK);
    assert_int_equal(member, 0);
    assert_int_equal(steme_packs_get(ps, &id, &buf, &got), STEME_OK);
    assert_memory_equal(got.name, "FDA reviewers (2025)", got.name_len);
    steme_buf_free(&buf);
    steme_db_close(db);
}

static void listings_paged(void **state)
{
    steme_db *db = st_open_db(*state, STEME_KV_HYBRID);
    steme_packs *ps = steme_db_packs(db);
    for (unsigned i = 0; i < 150; i++) { /* more than one internal page */
        steme_trust_pack p = make_pack(149 - i, "pack");
        assert_int_equal(steme_packs_put(ps, &p, NULL), STEME_OK);
    }
    steme_id16 a = pack_n(7), b = pack_n(8);
    for (unsigned i = 0; i < 140; i++) {
        steme_agent_id ag = agent_n(i * 3 % 140);
        assert_int_equal(steme_packs_add_agent(ps, &a, &ag, NULL), STEME_OK);
        if (i < 3)
            assert_int_equal(steme_packs_add_agent(ps, &b, &ag, NULL), STEME_OK);
    }
    static ids got;
    memset(&got, 0, sizeof got);
    steme_pack_cursor pc = {0};
    size_t n;
    do {
        assert_int_equal(steme_packs_list(ps, 37, &pc, collect_pack, &got, &n), STEME_OK);
        assert_true(n <= 37);
    } while (n);
    assert_int_equal(got.n, 150);
    for (unsigned i = 0; i < 150; i++) {
        steme_id16 want = pack_n(i);
        assert_memory_equal(got.id[i], want.bytes, 16);
    }
    memset(&pc, 0, sizeof pc);
    memset(&got, 0, sizeof got);
    assert_int_equal(steme_packs_list(ps, 0, &pc, collect_pack, &got, &n), STEME_OK);
    assert_int_equal(n, 150);

    memset(&got, 0, sizeof got);
    steme_member_cursor mc = {0};
    do {
        assert_int_equal(steme_packs_list_members(ps, &a, 64, &mc, collect_member, &got, &n),
                         STEME_OK);
    } while (n);
    assert_int_equal(got.n, 140);
    for (unsigned i = 0; i < 140; i++) {
        steme_agent_id want = agent_n(i);
        assert_memory_equal(got.id[i], want.bytes, 32);
    }
    memset(&got, 0, sizeof got);
    memset(&mc, 0, sizeof mc);
    assert_int_equal(steme_packs_list_members(ps, &b, 0, &mc, collect_member, &got, &n),
                     STEME_OK);
    assert_int_equal(n, 3);
    steme_id16 none = pack_n(5000);
    memset(&mc, 0, sizeof mc);
    assert_int_equal(steme_packs_list_members(ps, &none, 0, &mc, collect_member, &got, &n),
                     STEME_OK);
    assert_int_equal(n, 0);
    steme_db_close(db);
}

static void bad_input_changes_nothing(void **state)
{
    steme_db *db = st_open_db(*state, STEME_KV_HYBRID);
    steme_packs *ps = steme_db_packs(db);
    steme_trust_pack p = make_pack(1, "good");
    assert_int_equal(steme_packs_put(ps, &p, NULL), STEME_OK);
    assert_null(steme_db_packs(NULL));
    assert_int_equal(steme_packs_put(NULL, &p, NULL), STEME_E_INVALID);
    assert_int_equal(steme_packs_put(ps, NULL, NULL), STEME_E_INVALID);
    steme_trust_pack bad = make_pack(1, "");
    assert_int_equal(steme_packs_put(ps, &bad, NULL), STEME_E_INVALID);
    char *huge = malloc(5000);
    memset(huge, 'n', 4999);
    huge[4999] = 0;
    bad = make_pack(1, huge);
    bad.name_len = 257;
    assert_int_equal(steme_packs_put(ps, &bad, NULL), STEME_E_TOO_BIG);
    bad = make_pack(1, "ok");
    bad.description = huge;
    bad.description_len = 4097;
    assert_int_equal(steme_packs_put(ps, &bad, NULL), STEME_E_TOO_BIG);
    bad = make_pack(1, "bad\xc0\x80");
    assert_int_equal(steme_packs_put(ps, &bad, NULL), STEME_E_BAD_UTF8);
    bad = make_pack(1, "ok");
    bad.description = NULL;
    assert_int_equal(steme_packs_put(ps, &bad, NULL), STEME_E_INVALID);
    free(huge);

    steme_id16 id = pack_n(1);
    steme_agent_id a = agent_n(1);
    int m = 7;
    steme_buf buf = STEME_BUF_INIT;
    steme_trust_pack got;
    assert_int_equal(steme_packs_get(ps, NULL, &buf, &got), STEME_E_INVALID);
    assert_int_equal(steme_packs_get(ps, &id, NULL, &got), STEME_E_INVALID);
    assert_int_equal(steme_packs_add_agent(ps, NULL, &a, NULL), STEME_E_INVALID);
    assert_int_equal(steme_packs_add_agent(ps, &id, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_packs_add_agent(NULL, &id, &a, NULL), STEME_E_INVALID);
    assert_int_equal(steme_packs_remove_agent(ps, &id, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_packs_is_member(ps, &id, &a, NULL), STEME_E_INVALID);
    assert_int_equal(steme_packs_is_member(ps, NULL, &a, &m), STEME_E_INVALID);
    assert_int_equal(m, 7);
    steme_pack_cursor pc = {0};
    steme_member_cursor mc = {0};
    assert_int_equal(steme_packs_list(ps, 0, NULL, collect_pack, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_packs_list(ps, 0, &pc, NULL, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_packs_list_members(ps, NULL, 0, &mc, collect_member, NULL, NULL),
                     STEME_E_INVALID);
    /* nothing changed */
    assert_int_equal(steme_packs_get(ps, &id, &buf, &got), STEME_OK);
    assert_memory_equal(got.name, "good", 4);
    static ids l;
    memset(&l, 0, sizeof l);
    assert_int_equal(steme_packs_list_members(ps, &id, 0, &mc, collect_member, &l, NULL),
                     STEME_OK);
    assert_int_equal(l.n, 0);
    steme_buf_free(&buf);
    steme_db_close(db);
}

/* ------------------------------------------------------------ property */

#define NPACKS 6
#define NAG 24

typedef struct model {
    int exists[NPACKS];
    int member[NPACKS][NAG];
} model;

static void check_model(steme_packs *ps, const model *m, uint64_t seed, int step)
{
    static ids got;
    for (unsigned p = 0; p < NPACKS; p++) {
        steme_id16 id = pack_n(p);
        size_t want = 0;
        for (unsigned a = 0; a < NAG; a++) {
            steme_agent_id ag = agent_n(a);
            int mem = -1;
            assert_int_equal(steme_packs_is_member(ps, &id, &ag, &mem), STEME_OK);
            if (mem != m->member[p][a])
                fail_msg("seed %llu step %d: pack %u agent %u member %d, model %d",
                         (unsigned long long)seed, step, p, a, mem, m->member[p][a]);
            want += (size_t)m->member[p][a];
        }
        memset(&got, 0, sizeof got);
        steme_member_cursor mc = {0};
        size_t n;
        do {
            assert_int_equal(steme_packs_list_members(ps, &id, 5, &mc, collect_member, &got, &n),
                             STEME_OK);
        } while (n);
        assert_int_equal(got.n, want);
        for (size_t i = 0; i < got.n; i++)
            assert_int_equal(m->member[p][got.id[i][1]], 1);
    }
    memset(&got, 0, sizeof got);
    steme_pack_cursor pc = {0};
    size_t n, want = 0;
    assert_int_equal(steme_packs_list(ps, 0, &pc, collect_pack, &got, &n), STEME_OK);
    for (unsigned p = 0; p < NPACKS; p++)
        want += (size_t)m->exists[p];
    assert_int_equal(n, want);
}

static void property_vs_model(void **state)
{
    (void)state;
    uint64_t base = tu_seed(31337);
    for (uint64_t s = 0; s < 3; s++) {
        uint64_t seed = base + s;
        tu_rng r;
        tu_rng_seed(&r, seed);
        char *dir = tu_tempdir("packs-prop");
        steme_db *db = st_open_db(dir, STEME_KV_MEM);
        steme_packs *ps = steme_db_packs(db);
        static model m;
        memset(&m, 0, sizeof m);
        for (int step = 0; step < 300; step++) {
            unsigned p = (unsigned)tu_rng_below(&r, NPACKS), a = (unsigned)tu_rng_below(&r, NAG);
            steme_id16 id = pack_n(p);
            steme_agent_id ag = agent_n(a);
            uint64_t op = tu_rng_below(&r, 100);
            int changed = -1;
            if (op < 8) {
                steme_trust_pack pk = make_pack(p, "random pack");
                int created = -1;
                assert_int_equal(steme_packs_put(ps, &pk, &created), STEME_OK);
                assert_int_equal(created, !m.exists[p]);
                m.exists[p] = 1;
            } else if (op < 60) {
                int rc = steme_packs_add_agent(ps, &id, &ag, &changed);
                assert_int_equal(rc, m.exists[p] ? STEME_OK : STEME_E_NOTFOUND);
                if (rc == STEME_OK) {
                    assert_int_equal(changed, !m.member[p][a]);
                    m.member[p][a] = 1;
                }
            } else if (op < 95) {
                int rc = steme_packs_remove_agent(ps, &id, &ag, &changed);
                assert_int_equal(rc, m.exists[p] ? STEME_OK : STEME_E_NOTFOUND);
                if (rc == STEME_OK) {
                    assert_int_equal(changed, m.member[p][a]);
                    m.member[p][a] = 0;
                }
            } else {
                check_model(ps, &m, seed, step);
            }
        }
        check_model(ps, &m, seed, -1);
        steme_db_close(db);
        db = st_open_db(dir, STEME_KV_MEM); /* rebuilt by replay */
        check_model(steme_db_packs(db), &m, seed, -2);
        steme_db_close(db);
        tu_rmtree_free(dir);
    }
}

/* A child builds packs then _exits without closing; the reopened store
 * (replay, over both engines) has exactly the child's final membership. */
static void replay_after_exit(void **state)
{
    for (int engine = 0; engine < 2; engine++) {
        char *dir = tu_tempdir("packs-exit");
        steme_kv_engine eng = engine ? STEME_KV_HYBRID : STEME_KV_MEM;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            steme_db *db = NULL;
            steme_db_options o;
            steme_db_options_init(&o);
            o.engine = eng;
            if (steme_db_open(dir, &o, &db, NULL) != STEME_OK)
                _exit(3);
            steme_packs *ps = steme_db_packs(db);
            for (unsigned p = 0; p < 3; p++) {
                steme_trust_pack pk = make_pack(p, "exit pack");
                if (steme_packs_put(ps, &pk, NULL) != STEME_OK)
                    _exit(4);
                for (unsigned a = 0; a < 10; a++) {
                    steme_id16 id = pack_n(p);
                    steme_agent_id ag = agent_n(a);
                    if (steme_packs_add_agent(ps, &id, &ag, NULL) != STEME_OK)
                        _exit(5);
                    if ((a + p) % 3 == 0 && steme_packs_remove_agent(ps, &id, &ag, NULL))
                        _exit(6);
                }
            }
            _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        static model m;
        memset(&m, 0, sizeof m);
        for (unsigned p = 0; p < 3; p++) {
            m.exists[p] = 1;
            for (unsigned a = 0; a < 10; a++)
                m.member[p][a] = (a + p) % 3 != 0;
        }
        steme_db *db = st_open_db(dir, eng);
        check_model(steme_db_packs(db), &m, 0, -3);
        steme_db_close(db);
        tu_rmtree_free(dir);
    }
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(put_get_members, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(listings_paged, setup, st_tempdir_teardown),
        cmocka_unit_test_setup_teardown(bad_input_changes_nothing, setup, st_tempdir_teardown),
        cmocka_unit_test(property_vs_model),
        cmocka_unit_test(replay_after_exit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
