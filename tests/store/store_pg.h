/*
 * tests/store/store_pg.h - run a store test program on pg as well as on the
 * embedded engines.
 *
 * Include it after steme/db.h in a store test: it redirects steme_db_open
 * to sp_db_open, which, while sp_on_pg is set, opens the database at
 * $STEME_PG_URL on a table of its own instead of the directory it is given:
 * the table's name is derived from the directory (and the process), so
 * closing and reopening "the same directory" reopens the same table, as a
 * persistence test expects. Every table made is dropped by sp_cleanup().
 *
 * In main():  rc = cmocka_run_group_tests_name("embedded", tests, ...);
 *             rc |= sp_run_on_pg("pg", tests_pg, n);   (skipped without URL)
 */
#ifndef STEME_TEST_STORE_PG_H
#define STEME_TEST_STORE_PG_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "steme/db.h"

/* store_testlib.h's st_open_db must see the redirect below to open on pg. */
#ifdef STEME_TEST_STORE_TESTLIB_H
#error "include store_pg.h before store_testlib.h"
#endif

static int sp_on_pg;
static char sp_tables[256][40];
static int sp_ntables;

__attribute__((unused)) static const char *sp_url(void)
{
    const char *u = getenv("STEME_PG_URL");
    return u && *u ? u : NULL;
}

/* The table standing for directory dir: st_<hash of dir and pid>. */
__attribute__((unused)) static void sp_table_of(const char *dir, char out[40])
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)getpid();
    for (const char *p = dir; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    snprintf(out, 40, "st_%016llx", (unsigned long long)h);
}

__attribute__((unused)) static int sp_db_open(const char *dir, const steme_db_options *opts,
                                              steme_db **out, steme_error *err)
{
    if (!sp_on_pg || !dir || !*dir || steme_db_is_url(dir))
        return steme_db_open(dir, opts, out, err);
    steme_db_options o;
    if (opts)
        o = *opts;
    else
        steme_db_options_init(&o);
    char table[40];
    sp_table_of(dir, table);
    int known = 0;
    for (int i = 0; i < sp_ntables; i++)
        known |= strcmp(sp_tables[i], table) == 0;
    if (!known && sp_ntables < 256)
        memcpy(sp_tables[sp_ntables++], table, sizeof table);
    o.kv.pg_table = table;
    return steme_db_open(sp_url(), &o, out, err);
}
#define steme_db_open sp_db_open

/* Drop every table made by sp_db_open. */
__attribute__((unused)) static void sp_cleanup(void)
{
    if (!sp_url() || sp_ntables == 0)
        return;
    PGconn *c = PQconnectdb(sp_url());
    if (PQstatus(c) == CONNECTION_OK)
        for (int i = 0; i < sp_ntables; i++) {
            char sql[96];
            snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", sp_tables[i]);
            PQclear(PQexec(c, sql));
        }
    PQfinish(c);
    sp_ntables = 0;
}

/* Run tests with every database on pg; 0 (also when skipped) or failures. */
#define sp_run_on_pg(name, tests)                                                        \
    (sp_url() ? (sp_on_pg = 1, __extension__({                                           \
                     int r_ = cmocka_run_group_tests_name(name, tests, NULL, NULL);      \
                     sp_cleanup();                                                       \
                     sp_on_pg = 0;                                                       \
                     r_;                                                                 \
                 }))                                                                     \
              : (printf("%s: skipped: STEME_PG_URL is not set\n", name), 0))

#endif
