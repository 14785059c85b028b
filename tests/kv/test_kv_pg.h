/*
 * tests/kv/test_kv_pg.h - helpers of the pg engine's tests (test_kv_pg*.c):
 * where the server is, a fresh table per database so tests never see each
 * other's keys, and a raw libpq connection for what the tests do behind the
 * engine's back (terminate sessions, hold locks, drop tables).
 *
 * The server: $STEME_PG_URL (scripts/pg-test-cluster.sh start prints one).
 * Unset: the tests are skipped with a message, unless $STEME_REQUIRE_PG=1,
 * which makes that a failure (CI sets it, so a broken harness is loud).
 *
 * Include after cmocka.h.
 */
#ifndef STEME_TEST_KV_PG_H
#define STEME_TEST_KV_PG_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv/kv_pg_int.h"
#include "kvtest.h"

#define PT_OK(call)                                                                  \
    do {                                                                             \
        int rc_ = (call);                                                            \
        if (rc_ != STEME_OK)                                                         \
            fail_msg("%s: %s", #call, steme_errname(rc_));                           \
    } while (0)

__attribute__((unused)) static const char *pt_url(void)
{
    const char *u = getenv("STEME_PG_URL");
    return u && *u ? u : NULL;
}

/* In main(): -1 to run the tests, else the exit status (skipped: 0, required: 1). */
__attribute__((unused)) static int pt_gate(const char *suite)
{
    if (pt_url())
        return -1;
    const char *req = getenv("STEME_REQUIRE_PG");
    if (req && strcmp(req, "1") == 0) {
        fprintf(stderr,
                "%s: FAILED: STEME_REQUIRE_PG=1 but STEME_PG_URL is not set (start a server "
                "with scripts/pg-test-cluster.sh start)\n",
                suite);
        return 1;
    }
    printf("%s: skipped: STEME_PG_URL is not set (export STEME_PG_URL=$(scripts/"
           "pg-test-cluster.sh start) to run it)\n",
           suite);
    return 77; /* ctest's SKIP_RETURN_CODE: reported as skipped, not passed */
}

__attribute__((unused)) static PGconn *pt_raw(void)
{
    PGconn *c = PQconnectdb(pt_url());
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("raw connection to %s: %s", pt_url(), PQerrorMessage(c));
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

__attribute__((unused)) static void pt_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

typedef struct pt_db {
    char table[64];
    char *conninfo;
    kv_pg_options po;
    steme_kv *kv;
} pt_db;

__attribute__((unused)) static void pt_db_connect(pt_db *d)
{
    steme_error err = {0};
    int rc = kv_pg_open_ex(d->conninfo, &d->po, &d->kv, &err);
    if (rc != STEME_OK)
        fail_msg("kv_pg_open_ex(%s): %s: %s", d->table, steme_errname(rc), err.message);
    assert_int_equal(steme_kv_engine_of(d->kv), STEME_KV_PG);
}

/* A fresh, empty table; po may be NULL (defaults); conninfo NULL = the URL. */
__attribute__((unused)) static void pt_db_open(pt_db *d, const kv_pg_options *po, const char *conninfo)
{
    static unsigned seq;
    memset(d, 0, sizeof *d);
    if (po)
        d->po = *po;
    else
        kv_pg_options_init(&d->po);
    snprintf(d->table, sizeof d->table, "steme_t%ld_%u", (long)getpid(), seq++);
    d->po.table = d->table;
    d->conninfo = strdup(conninfo ? conninfo : pt_url());
    PGconn *c = pt_raw();
    char sql[128];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", d->table);
    pt_exec(c, sql);
    PQfinish(c);
    pt_db_connect(d);
}

__attribute__((unused)) static void pt_db_reopen(pt_db *d)
{
    steme_kv_close(d->kv);
    d->kv = NULL;
    pt_db_connect(d);
}

__attribute__((unused)) static void pt_db_close(pt_db *d)
{
    steme_kv_close(d->kv);
    d->kv = NULL;
    PGconn *c = pt_raw();
    char sql[128];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", d->table);
    pt_exec(c, sql);
    PQfinish(c);
    free(d->conninfo);
    d->conninfo = NULL;
}

/* The URL's parameters as a keyword/value conninfo, with extra appended
 * (later keywords win), e.g. "user=x" or "application_name=y". malloc'd. */
__attribute__((unused)) static char *pt_conninfo_with(const char *extra)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(pt_url(), &perr);
    if (!opts)
        fail_msg("cannot parse STEME_PG_URL: %s", perr ? perr : "?");
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    s[0] = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val && *o->val)
            len += (size_t)snprintf(s + len, cap - len, "%s='%s' ", o->keyword, o->val);
    snprintf(s + len, cap - len, "%s", extra);
    PQconninfoFree(opts);
    return s;
}

#endif
