/*
 * tests/support/kvtest.h - helpers for the KV suites (tests/kv): the engines
 * under test, a database per engine in a temporary directory, codec-built
 * keys (the hybrid engine only accepts keys the codec produces), scan
 * result lists, a simple model (a sorted array) of the ordered map, and
 * expectations that compare an engine with the model.
 *
 * Engines: every suite runs against mem, lmdb, rocksdb and hybrid. While
 * developing, $STEME_KV_ENGINES=mem,lmdb restricts the list; an engine that
 * fails to open FAILS the test (never skips).
 *
 * All helpers fail the current cmocka test on an unexpected error.
 */
#ifndef STEME_KVTEST_H
#define STEME_KVTEST_H

#include <stddef.h>
#include <stdint.h>

#include "steme/keys.h"
#include "steme/kv.h"

/* --- engines and databases ------------------------------------------------ */

#define KT_MAX_ENGINES 5
/* Engines to test ($STEME_KV_ENGINES, or mem, lmdb, rocksdb, hybrid, plus pg
 * when $STEME_PG_URL names a server; $STEME_REQUIRE_PG=1 makes a missing
 * URL a failure, as in CI); returns the count. */
size_t kt_engines(steme_kv_engine out[KT_MAX_ENGINES]);
/* 1 if the engine keeps data in files (survives close/reopen). */
int kt_on_disk(steme_kv_engine e);

typedef struct kt_db {
    steme_kv_engine engine;
    char *dir;           /* temporary directory (all engines get one) */
    char *path;          /* dir/db: the engine's path, created by the engine */
    steme_kv_options opts;
    steme_kv *kv;
    char table[64];      /* pg: a table of its own, dropped at close */
} kt_db;

/* Fresh database of engine e (default options, or *opts). */
void kt_db_open(kt_db *d, steme_kv_engine e, const steme_kv_options *opts);
/* Close and open again on the same files (on-disk engines only). */
void kt_db_reopen(kt_db *d);
/* Close and remove the files. */
void kt_db_close(kt_db *d);

/*
 * KT_ENGINE_TEST(name) { body using `e` } defines a cmocka test `name` that
 * runs the body once per engine under test, naming the engine first so a
 * failure says which one. The test file must include cmocka.h first.
 */
#define KT_ENGINE_TEST(name)                                                       \
    static void name##_on(steme_kv_engine e);                                      \
    static void name(void **state)                                                 \
    {                                                                              \
        (void)state;                                                               \
        steme_kv_engine es_[KT_MAX_ENGINES];                                       \
        size_t n_ = kt_engines(es_);                                               \
        for (size_t i_ = 0; i_ < n_; i_++) {                                       \
            print_message("  [%s] %s\n", steme_kv_engine_name(es_[i_]), #name);    \
            name##_on(es_[i_]);                                                    \
        }                                                                          \
    }                                                                              \
    static void name##_on(steme_kv_engine e)

/* --- keys --------------------------------------------------------------------- */

typedef struct kt_key {
    uint8_t b[STEME_KV_MAX_KEY];
    size_t n;
} kt_key;

/*
 * The key of family fam for `subject` (scoped families; NULL = "s") and
 * number i: every other field is derived from i, with 0x00 and 0xFF bytes
 * in the fixed fields so binary keys are the norm.
 */
void kt_key_make(kt_key *k, steme_key_family fam, const char *subject, uint64_t i);
/* The engine the hybrid engine routes key to (STEME_KV_LMDB / ROCKSDB). */
steme_kv_engine kt_key_engine(const uint8_t *key, size_t klen);

/* --- lists of entries (scan results, model contents) ------------------------ */

typedef struct kt_entry {
    uint8_t *k;
    size_t kn;
    uint8_t *v;
    size_t vn;
} kt_entry;

typedef struct kt_list {
    kt_entry *e;
    size_t n, cap;
    size_t stop_after; /* kt_collect asks to stop after this many (0 = never) */
} kt_list;

void kt_list_clear(kt_list *l);
void kt_list_free(kt_list *l);
void kt_list_push(kt_list *l, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn);
/* Scan callback appending to the kt_list ctx. */
int kt_collect(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
/* Clear out, scan into it, check visited == out->n; returns the scan's status. */
int kt_scan(steme_kv *kv, const void *prefix, size_t plen, const void *after, size_t alen,
            size_t limit, unsigned flags, kt_list *out);
/* Fail the test (naming `what`) unless a and b hold the same entries in order. */
void kt_list_expect_equal(const kt_list *got, const kt_list *want, const char *what);

/* --- model: the ordered map as a sorted array -------------------------------- */

typedef kt_list kt_model;
const kt_entry *kt_model_get(const kt_model *m, const uint8_t *k, size_t kn);
void kt_model_put(kt_model *m, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn);
void kt_model_del(kt_model *m, const uint8_t *k, size_t kn);
/* Counter adds on the model (the key must hold 8 bytes or be absent). */
void kt_model_add_u64(kt_model *m, const uint8_t *k, size_t kn, int64_t delta);
void kt_model_add_f64(kt_model *m, const uint8_t *k, size_t kn, double delta);
/* What steme_kv_scan must visit, into out (cleared first). */
void kt_model_scan(const kt_model *m, const uint8_t *prefix, size_t plen, const uint8_t *after,
                   size_t alen, size_t limit, unsigned flags, kt_list *out);

/* --- expectations against an engine (kvtest_expect.c) ----------------------- */

/* Fail the test unless kv holds exactly v (vn bytes) under k. */
void kt_expect_val(steme_kv *kv, const uint8_t *k, size_t kn, const void *v, size_t vn);
/* Fail the test unless k is absent (NOTFOUND, buffer left empty). */
void kt_expect_absent(steme_kv *kv, const uint8_t *k, size_t kn);
/* Put k = v into kv (failing the test on error) and into the model m. */
void kt_put_both(steme_kv *kv, kt_model *m, const uint8_t *k, size_t kn, const void *v,
                 size_t vn);
/*
 * Compare every way of scanning one prefix with the model, forward and
 * reverse: the full scan, scans after every few keys with a limit, and
 * paging with limits 1, 7 and 64 (the pages together equal the full scan).
 */
void kt_check_scans(steme_kv *kv, const kt_model *m, const uint8_t *prefix, size_t plen);
/* Put 5 raw keys of STEME_KV_MAX_KEY bytes (0x00 and 0xFF inside) into kv
 * and m, read each back, and check scans by their 600- and
 * (STEME_KV_MAX_KEY - 1)-byte prefixes. Not codec keys: not for hybrid. */
void kt_check_max_raw_keys(steme_kv *kv, kt_model *m);
/* Clear b, fill it with n puts (keys of subject "batch", values of 0 to 299
 * bytes: the batch's arena grows), write it and check its scans. */
void kt_check_big_batch(steme_kv *kv, steme_kv_batch *b, uint64_t n);
/*
 * The batch that must fail as a whole: put bad = "abc" directly (bad and
 * fresh are made here, QUOTA_LIMIT and TRUST_PACK keys), clear b, then
 * batch put fresh = "new", delete *del, a u64 add on bad (3 bytes: not a
 * counter) and put *after = "after". Returns the status of writing it.
 */
int kt_write_poisoned_batch(steme_kv *kv, steme_kv_batch *b, const kt_key *del,
                            const kt_key *after, kt_key *bad, kt_key *fresh);

/* Bytewise key order, shorter first on a common prefix. */
int kt_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);
/* Printable hex of up to the first 40 bytes (static per call site: for messages). */
const char *kt_hex(const uint8_t *p, size_t n, char *buf, size_t cap);

#endif
