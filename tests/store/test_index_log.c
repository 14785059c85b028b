/*
 * test_index_log.c - the index log (steme/index_log.h) on the MEM engine:
 * key and value codecs (round trips, key order = (ts, node, seq) order,
 * every damaged or truncated value refused), appends (keys of one handle
 * never collide; an append that overruns the commit budget is written again
 * under a newer key, and gives up with STEME_E_BUSY), scans (from a ts,
 * across pages, early stop, damaged entries skipped and counted), random
 * appends against a model, compaction against a model (on MEM, and on
 * PostgreSQL when STEME_PG_URL is set), and bad input. The cross-process
 * behaviour on PostgreSQL is in test_multinode_pg.c.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "steme/db.h"
#include "store_pg.h"
#include "steme/index_log.h"
#include "steme/kv.h"
#include "steme/vector.h"
#include "testutil.h"

typedef struct fake_clock {
    uint64_t now;
    uint64_t step;     /* added at every reading: a "slow" write */
} fake_clock;

static uint64_t fake_ms(void *ctx)
{
    fake_clock *c = ctx;
    uint64_t t = c->now;
    c->now += c->step;
    return t;
}

static steme_kv *mem_kv(void)
{
    steme_kv *kv = NULL;
    assert_int_equal(steme_kv_open(STEME_KV_MEM, NULL, NULL, &kv, NULL), STEME_OK);
    return kv;
}

static steme_index_log *open_log(steme_kv *kv, fake_clock *clk, uint64_t node)
{
    steme_index_log_options o;
    steme_index_log_options_init(&o);
    o.node_id = node;
    if (clk) {
        o.clock_ms = fake_ms;
        o.clock_ctx = clk;
    }
    steme_index_log *l = NULL;
    assert_int_equal(steme_index_log_open(kv, &o, &l, NULL), STEME_OK);
    return l;
}

static steme_index_log_entry visual_entry(uint8_t tag, uint64_t phash)
{
    steme_index_log_entry e;
    memset(&e, 0, sizeof e);
    e.kind = STEME_INDEX_LOG_VISUAL;
    memset(e.id.bytes, tag, 32);
    e.phash = phash;
    return e;
}

static void test_codecs(void **state)
{
    (void)state;
    /* keys: byte order is (ts, node, seq) order */
    steme_index_log_pos ps[] = {{1, 9, 9}, {2, 0, 0}, {2, 0, 1}, {2, 1, 0}, {UINT64_MAX, 0, 0}};
    uint8_t prev[28], k[28];
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        steme_index_log_encode_key(&ps[i], k);
        steme_index_log_pos back;
        assert_int_equal(steme_index_log_decode_key(k, 28, &back), STEME_OK);
        assert_true(back.ts == ps[i].ts && back.node == ps[i].node && back.seq == ps[i].seq);
        if (i)
            assert_true(memcmp(prev, k, 28) < 0);
        memcpy(prev, k, 28);
    }
    assert_int_equal(steme_index_log_decode_key(k, 27, &ps[0]), STEME_E_INVALID);
    k[1] = 'X';
    assert_int_equal(steme_index_log_decode_key(k, 28, &ps[0]), STEME_E_INVALID);
    assert_int_equal(steme_index_log_decode_key(NULL, 28, &ps[0]), STEME_E_INVALID);

    /* values: a vector and a visual pair round-trip */
    float vec[5] = {1.0f, -2.5f, 0.0f, 3e-38f, 1e38f}, floats[STEME_VECTOR_MAX_DIM];
    steme_index_log_entry e = visual_entry(7, 0xDEADBEEFCAFEF00Dull), d;
    uint8_t buf[256];
    size_t len;
    assert_int_equal(steme_index_log_encode_value(&e, buf, sizeof buf, &len, NULL), STEME_OK);
    assert_int_equal(steme_index_log_decode_value(buf, len, floats, &d, NULL), STEME_OK);
    assert_true(d.kind == STEME_INDEX_LOG_VISUAL && d.phash == e.phash &&
                memcmp(d.id.bytes, e.id.bytes, 32) == 0);
    e.kind = STEME_INDEX_LOG_VECTOR;
    e.dim = 5;
    e.metric = STEME_VECTOR_COSINE;
    e.vec = vec;
    assert_int_equal(steme_index_log_encode_value(&e, buf, 10, &len, NULL), STEME_E_BUFFER_SMALL);
    assert_int_equal(len, 36 + 5 + 20 + 4);
    assert_int_equal(steme_index_log_encode_value(&e, buf, sizeof buf, &len, NULL), STEME_OK);
    assert_int_equal(steme_index_log_decode_value(buf, len, floats, &d, NULL), STEME_OK);
    assert_true(d.kind == STEME_INDEX_LOG_VECTOR && d.dim == 5 && d.metric == 2);
    assert_memory_equal(d.vec, vec, sizeof vec);

    /* every single-byte change and every truncation is refused */
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x5A;
        int rc = steme_index_log_decode_value(buf, len, floats, &d, NULL);
        assert_true(rc == STEME_E_CORRUPT || rc == STEME_E_VERSION);
        buf[i] ^= 0x5A;
        assert_int_equal(steme_index_log_decode_value(buf, i, floats, &d, NULL), STEME_E_CORRUPT);
    }
    /* bad input */
    vec[2] = NAN;
    assert_int_equal(steme_index_log_encode_value(&e, buf, sizeof buf, &len, NULL), STEME_E_INVALID);
    vec[2] = 0.0f;
    e.dim = 0;
    assert_int_equal(steme_index_log_encode_value(&e, buf, sizeof buf, &len, NULL), STEME_E_INVALID);
    e.dim = STEME_VECTOR_MAX_DIM + 1;
    assert_int_equal(steme_index_log_encode_value(&e, buf, sizeof buf, &len, NULL), STEME_E_INVALID);
    e.dim = 5;
    e.metric = 9;
    assert_int_equal(steme_index_log_encode_value(&e, buf, sizeof buf, &len, NULL), STEME_E_INVALID);
    e.kind = (steme_index_log_kind)3;
    assert_int_equal(steme_index_log_encode_value(&e, buf, sizeof buf, &len, NULL), STEME_E_INVALID);
    assert_int_equal(steme_index_log_encode_value(NULL, buf, sizeof buf, &len, NULL), STEME_E_INVALID);
    assert_int_equal(steme_index_log_decode_value(NULL, 4, floats, &d, NULL), STEME_E_INVALID);
}

typedef struct collect {
    steme_index_log_entry got[512];
    size_t n, stop_at;
} collect;

static int collect_fn(void *ctx, const steme_index_log_entry *e)
{
    collect *c = ctx;
    if (c->n < 512) {
        c->got[c->n] = *e;
        c->got[c->n].vec = NULL;   /* valid only during the call */
    }
    c->n++;
    return c->stop_at && c->n >= c->stop_at;
}

static void test_append_and_scan(void **state)
{
    (void)state;
    steme_kv *kv = mem_kv();
    fake_clock clk = {1000, 0};
    steme_index_log *a = open_log(kv, &clk, 0xA), *b = open_log(kv, &clk, 0xB);
    assert_true(steme_index_log_node(a) == 0xA);
    /* 600 entries (more than two scan pages), ts rising every 10 */
    for (int i = 0; i < 600; i++) {
        steme_index_log_entry e = visual_entry((uint8_t)i, (uint64_t)i);
        clk.now = 1000 + (uint64_t)(i / 10);
        assert_int_equal(steme_index_log_append(i % 2 ? a : b, &e), STEME_OK);
        assert_true(e.pos.ts == 1000 + (uint64_t)(i / 10) && e.pos.node == (i % 2 ? 0xAu : 0xBu));
    }
    collect *c = calloc(1, sizeof *c);
    steme_index_log_scan_stats st;
    assert_int_equal(steme_index_log_scan(a, 0, collect_fn, c, &st), STEME_OK);
    assert_int_equal(c->n, 600);
    assert_true(st.visited == 600 && st.damaged == 0 && st.last_ts == 1059);
    for (size_t i = 1; i < 512; i++)   /* in key order */
        assert_true(c->got[i - 1].pos.ts < c->got[i].pos.ts ||
                    (c->got[i - 1].pos.ts == c->got[i].pos.ts &&
                     (c->got[i - 1].pos.node < c->got[i].pos.node ||
                      (c->got[i - 1].pos.node == c->got[i].pos.node &&
                       c->got[i - 1].pos.seq < c->got[i].pos.seq))));
    /* from a ts: exactly the entries at or after it */
    memset(c, 0, sizeof *c);
    assert_int_equal(steme_index_log_scan(b, 1050, collect_fn, c, &st), STEME_OK);
    assert_int_equal(c->n, 100);
    assert_true(c->got[0].pos.ts == 1050);
    /* early stop */
    memset(c, 0, sizeof *c);
    c->stop_at = 3;
    assert_int_equal(steme_index_log_scan(b, 0, collect_fn, c, &st), STEME_OK);
    assert_int_equal(c->n, 3);
    /* a damaged value and a stray key under the prefix: skipped, counted */
    steme_index_log_pos p = {1055, 0xC, 0};
    uint8_t key[28];
    steme_index_log_encode_key(&p, key);
    assert_int_equal(steme_kv_put(kv, key, 28, "garbage", 7, 0), STEME_OK);
    assert_int_equal(steme_kv_put(kv, key, 20, "x", 1, 0), STEME_OK);
    memset(c, 0, sizeof *c);
    assert_int_equal(steme_index_log_scan(b, 1050, collect_fn, c, &st), STEME_OK);
    assert_true(c->n == 100 && st.damaged == 2);
    assert_non_null(strstr(steme_index_log_errmsg(b), "node 000000000000000c"));
    /* bad input */
    assert_int_equal(steme_index_log_scan(b, 0, NULL, c, &st), STEME_E_INVALID);
    assert_int_equal(steme_index_log_scan(NULL, 0, collect_fn, c, &st), STEME_E_INVALID);
    assert_int_equal(steme_index_log_append(NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_index_log_append(a, NULL), STEME_E_INVALID);
    free(c);
    steme_index_log_close(a);
    steme_index_log_close(b);
    steme_kv_close(kv);
}

static void test_budget_overrun(void **state)
{
    (void)state;
    steme_kv *kv = mem_kv();
    /* every clock reading advances 3000 ms: each write "took" 3000 > 2000 */
    fake_clock clk = {5000, 3000};
    steme_index_log *l = open_log(kv, &clk, 0);
    assert_true(steme_index_log_node(l) != 0);   /* random */
    steme_index_log_entry e = visual_entry(1, 1);
    assert_int_equal(steme_index_log_append(l, &e), STEME_E_BUSY);
    assert_non_null(strstr(steme_index_log_errmsg(l), "commit budget"));
    collect *c = calloc(1, sizeof *c);
    assert_int_equal(steme_index_log_scan(l, 0, collect_fn, c, NULL), STEME_OK);
    assert_int_equal(c->n, STEME_INDEX_LOG_DEFAULT_ATTEMPTS);   /* each under a newer key */
    /* one slow write, then a fast one: the second key is the one returned */
    clk.step = 0;
    fake_clock *cp = &clk;
    cp->now = 100000;
    steme_index_log_options o;
    steme_index_log_options_init(&o);
    o.clock_ms = fake_ms;
    o.clock_ctx = &clk;
    o.max_attempts = 1;
    steme_index_log *one = NULL;
    assert_int_equal(steme_index_log_open(kv, &o, &one, NULL), STEME_OK);
    assert_int_equal(steme_index_log_append(one, &e), STEME_OK);
    assert_true(e.pos.ts == 100000);
    o.budget_ms = 0;
    steme_index_log *bad = NULL;
    assert_int_equal(steme_index_log_open(kv, &o, &bad, NULL), STEME_E_INVALID);
    assert_int_equal(steme_index_log_open(NULL, &o, &bad, NULL), STEME_E_INVALID);
    free(c);
    steme_index_log_close(one);
    steme_index_log_close(l);
    steme_kv_close(kv);
}

/* Random appends from two handles against a model: the scan returns each
 * once, in key order, with its contents. */
static void test_random_model(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(0x1D1065));
    steme_kv *kv = mem_kv();
    fake_clock clk = {1, 0};
    steme_index_log *h[2] = {open_log(kv, &clk, 1), open_log(kv, &clk, 2)};
    enum { N = 300 };
    static float vecs[N][8];
    steme_index_log_pos pos[N];
    for (int i = 0; i < N; i++) {
        clk.now += tu_rng_below(&r, 3);
        steme_index_log_entry e = visual_entry((uint8_t)i, tu_rng_next(&r));
        if (tu_rng_below(&r, 2)) {
            e.kind = STEME_INDEX_LOG_VECTOR;
            e.dim = 1 + (uint32_t)tu_rng_below(&r, 8);
            e.metric = 1 + (uint32_t)tu_rng_below(&r, 3);
            for (uint32_t j = 0; j < e.dim; j++)
                vecs[i][j] = (float)((double)tu_rng_next(&r) / 1e18 - 9.0);
            e.vec = vecs[i];
        }
        e.id.bytes[1] = (uint8_t)(i >> 8);
        assert_int_equal(steme_index_log_append(h[tu_rng_below(&r, 2)], &e), STEME_OK);
        pos[i] = e.pos;
    }
    collect *c = calloc(1, sizeof *c);
    c->stop_at = 0;
    assert_int_equal(steme_index_log_scan(h[0], 0, collect_fn, c, NULL), STEME_OK);
    assert_int_equal(c->n, N);
    int seen[N] = {0};
    for (int k = 0; k < N; k++) {
        int i = c->got[k].id.bytes[0] | c->got[k].id.bytes[1] << 8;
        assert_true(i < N && !seen[i]);
        seen[i] = 1;
        assert_true(c->got[k].pos.ts == pos[i].ts && c->got[k].pos.node == pos[i].node &&
                    c->got[k].pos.seq == pos[i].seq);
    }
    free(c);
    steme_index_log_close(h[0]);
    steme_index_log_close(h[1]);
    steme_kv_close(kv);
}

/* Compaction against a model: random vector and visual adds over a few
 * triples (kind, id, phash), some written twice; after a compaction with a
 * horizon, the log holds exactly the entries at or after the horizon plus
 * the newest of every triple; the newest per triple is unchanged; a second
 * compaction deletes nothing. */
static int same_pos(const steme_index_log_pos *a, const steme_index_log_pos *b)
{
    return a->ts == b->ts && a->node == b->node && a->seq == b->seq;
}

static int pos_less(const steme_index_log_pos *a, const steme_index_log_pos *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts;
    if (a->node != b->node)
        return a->node < b->node;
    return a->seq < b->seq;
}

/* One round of the model on two handles over one empty log (nodes 7, 9). */
static void compaction_round(steme_index_log *h[2], fake_clock *clkp, tu_rng *rp)
{
    fake_clock *clk = clkp;
    tu_rng r = *rp;
    {
        enum { N = 400, T = 24 };
        static steme_index_log_pos pos[N];
        static int tri[N];
        static float vec[4] = {1, 2, 3, 4};
        for (int i = 0; i < N; i++) {
            clk->now += tu_rng_below(&r, 4);
            /* triples 0..11 visual, 12..23 vector; in the second half only
             * 0..7 and 12..19, so the others' newest entries are old */
            int t = (int)tu_rng_below(&r, i < N / 2 ? T : T - 8);
            if (i >= N / 2 && t >= 8)
                t += 4;
            steme_index_log_entry e = visual_entry((uint8_t)(t % 6), 100 + (uint64_t)(t % 2));
            if (t >= T / 2) {
                e = visual_entry((uint8_t)(t % 6), 0);
                e.kind = STEME_INDEX_LOG_VECTOR;
                e.dim = 4;
                e.metric = 1;
                e.vec = vec;
                e.phash = (uint64_t)tu_rng_next(&r); /* not part of a vector's triple */
            }
            e.id.bytes[31] = (uint8_t)(t / 2);   /* T/2 distinct ids per kind */
            assert_int_equal(steme_index_log_append(h[tu_rng_below(&r, 2)], &e), STEME_OK);
            pos[i] = e.pos;
            tri[i] = t;
        }
        /* the model's newest per triple (visual: id and phash; vector: id) */
        steme_index_log_pos newest[T];
        int has[T] = {0};
        for (int i = 0; i < N; i++)
            if (!has[tri[i]] || pos_less(&newest[tri[i]], &pos[i])) {
                newest[tri[i]] = pos[i];
                has[tri[i]] = 1;
            }
        uint64_t horizon = pos[N / 2].ts;
        size_t want_keep = 0, live = 0;
        for (int t = 0; t < T; t++)
            live += (size_t)has[t];
        for (int i = 0; i < N; i++)
            want_keep += pos[i].ts >= horizon || same_pos(&pos[i], &newest[tri[i]]);
        steme_index_log_compact_stats st;
        assert_int_equal(steme_index_log_compact(h[0], horizon, &st), STEME_OK);
        assert_int_equal(st.entries, N);
        assert_int_equal(st.live, live);
        assert_int_equal(st.deleted, N - want_keep);
        collect *c = calloc(1, sizeof *c);
        assert_int_equal(steme_index_log_scan(h[1], 0, collect_fn, c, NULL), STEME_OK);
        assert_int_equal(c->n, want_keep);
        for (size_t k = 0; k < c->n; k++) {
            int i = 0;
            while (i < N && !same_pos(&pos[i], &c->got[k].pos))
                i++;
            assert_true(i < N);
            assert_true(pos[i].ts >= horizon || same_pos(&pos[i], &newest[tri[i]]));
        }
        for (int t = 0; t < T; t++) { /* every triple's newest survived */
            int found = !has[t];
            for (size_t k = 0; k < c->n && !found; k++)
                found = same_pos(&c->got[k].pos, &newest[t]);
            assert_true(found);
        }
        free(c);
        assert_int_equal(steme_index_log_compact(h[1], horizon, &st), STEME_OK);
        assert_int_equal(st.deleted, 0);
        assert_int_equal(steme_index_log_compact(NULL, horizon, &st), STEME_E_INVALID);
    }
    *rp = r;
}

static void test_compaction_model(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(0xC0C0A));
    for (int round = 0; round < 4; round++) {
        steme_kv *kv = mem_kv();
        fake_clock clk = {1000, 0};
        steme_index_log *h[2] = {open_log(kv, &clk, 7), open_log(kv, &clk, 9)};
        compaction_round(h, &clk, &r);
        steme_index_log_close(h[0]);
        steme_index_log_close(h[1]);
        steme_kv_close(kv);
    }
}

/* The same on PostgreSQL (a table of its own per round, dropped after). */
static void test_compaction_model_pg(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed(0xC0C0B));
    for (int round = 0; round < 2; round++) {
        char dir[64];
        snprintf(dir, sizeof dir, "/compaction-round-%d", round);
        steme_db *db = NULL;
        steme_error e;
        if (steme_db_open(dir, NULL, &db, &e) != STEME_OK)
            fail_msg("open on pg: %s", e.message);
        fake_clock clk = {1000, 0};
        steme_index_log *h[2];
        for (int i = 0; i < 2; i++) {
            steme_index_log_options o;
            steme_index_log_options_init(&o);
            o.node_id = i ? 9 : 7;
            o.clock_ms = fake_ms;
            o.clock_ctx = &clk;
            assert_int_equal(steme_index_log_open_db(db, &o, &h[i], NULL), STEME_OK);
        }
        compaction_round(h, &clk, &r);
        steme_index_log_close(h[0]);
        steme_index_log_close(h[1]);
        steme_db_close(db);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codecs),
        cmocka_unit_test(test_append_and_scan),
        cmocka_unit_test(test_budget_overrun),
        cmocka_unit_test(test_random_model),
        cmocka_unit_test(test_compaction_model),
    };
    const struct CMUnitTest tests_pg[] = {
        cmocka_unit_test(test_compaction_model_pg),
    };
    int rc = cmocka_run_group_tests_name("mem", tests, NULL, NULL);
    rc |= sp_run_on_pg("pg", tests_pg);
    return rc;
}
