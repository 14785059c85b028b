/*
 * tests/store/store_testlib.h - fixtures shared by the store tests: a fresh
 * temp directory per test (cmocka setup/teardown, the directory is the test
 * state) and a database opened on a directory with a chosen engine.
 *
 * Header-only (static inline), included after <cmocka.h> and testutil.h. In
 * a test that also runs on pg, include it after store_pg.h, so that
 * st_open_db opens through sp_db_open (store_pg.h refuses the other order).
 */
#ifndef STEME_TEST_STORE_TESTLIB_H
#define STEME_TEST_STORE_TESTLIB_H

#include <string.h>

#include "steme/db.h"
#include "testutil.h"

/* Open the database at dir on engine; the test fails when it cannot. */
static inline steme_db *st_open_db(const char *dir, steme_kv_engine engine)
{
    steme_db_options o;
    steme_db_options_init(&o);
    o.engine = engine;
    steme_db *db = NULL;
    steme_error e;
    if (steme_db_open(dir, &o, &db, &e) != STEME_OK)
        fail_msg("open %s: %s", dir, e.message);
    return db;
}

/* For a file's cmocka setup: *state = a new temp directory named after tag. */
/* Store a plain claim (subject, predicate "p", a string object, confidence
 * 0.5, agent source) with timestamp ts; its hash into *out. Fails the test
 * on error. */
static inline void st_put_claim(steme_db *db, const char *subject, const char *text, uint64_t ts,
                                steme_hash *out)
{
    steme_assertion as;
    memset(&as, 0, sizeof as);
    as.subject = subject;
    as.subject_len = strlen(subject);
    as.predicate = "p";
    as.predicate_len = 1;
    as.object = steme_value_string(text, strlen(text));
    as.confidence = 0.5;
    as.source_kind = STEME_SOURCE_AGENT;
    as.timestamp = ts;
    if (steme_db_put_assertion(db, &as, out, NULL) != STEME_OK)
        fail_msg("put claim %s: %s", subject, steme_db_errmsg(db));
}

static inline int st_tempdir_setup(void **state, const char *tag)
{
    *state = tu_tempdir(tag);
    return *state ? 0 : -1;
}

/* cmocka teardown for st_tempdir_setup: remove the directory, free the path. */
static inline int st_tempdir_teardown(void **state)
{
    tu_rmtree_free(*state);
    return 0;
}

#endif
