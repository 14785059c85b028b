/*
 * test_cli_json.c - with --json every command prints JSON lines: each line
 * of standard output is one complete JSON object. Runs every command (and
 * subcommand) over a small database and parses everything it prints.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>

#include "cli_testlib.h"

typedef struct fixture {
    char *dir, *key, *key2, db[4096];
    char hash[2][65];
} fixture;

/* Run, expect exit 0 and JSON lines; returns the first line's object
 * (caller decrefs) and the number of lines in *n. */
static json_t *json_run(const fixture *f, int *n, const char *const *args)
{
    cli_result r = ct_runv(f->dir, args);
    if (r.code != 0)
        fail_msg("steme %s: exit %d\n%s", args[0], r.code, r.err);
    json_t *first = NULL;
    int lines = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!j || !json_is_object(j))
            fail_msg("steme %s %s: line %d is not a JSON object (%s):\n%s", args[0],
                     args[1] ? args[1] : "", lines + 1, je.text, line);
        if (!first)
            first = j;
        else
            json_decref(j);
        lines++;
    }
    if (lines == 0)
        fail_msg("steme %s printed nothing", args[0]);
    ct_free(&r);
    if (n)
        *n = lines;
    return first;
}

#define RUN(f, n, ...) json_run((f), (n), (const char *const[]){__VA_ARGS__, NULL})
#define CHECK(f, ...) json_decref(RUN((f), NULL, __VA_ARGS__))

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir("cli-json");
    snprintf(f->db, sizeof f->db, "%s/db", f->dir);
    f->key = ct_write(f->dir, "a.key", "");
    f->key2 = ct_write(f->dir, "b.key", "");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    free(f->key), free(f->key2);
    tu_rmtree_free(f->dir);
    free(f);
    return 0;
}

static void test_every_command_prints_json_lines(void **state)
{
    fixture *f = *state;
    const char *db = f->db;
    CHECK(f, "init", "--db", db, "--json");
    CHECK(f, "keygen", "--out", f->key, "--force", "--json");
    CHECK(f, "keygen", "--out", f->key2, "--force", "--json");
    const char *vals[2] = {"4000", "8000"};
    for (int i = 0; i < 2; i++) {
        json_t *j = RUN(f, NULL, "assert", "--db", db, "--key", i ? f->key2 : f->key,
                        "--subject", "aspirin", "--predicate", "dose", "--int", vals[i],
                        "--confidence", "0.8", "--source", "clinical:x \"quoted\"", "--json");
        snprintf(f->hash[i], 65, "%s", json_string_value(json_object_get(j, "hash")));
        assert_int_equal(strlen(f->hash[i]), 64);
        json_decref(j);
    }
    CHECK(f, "vote", "--db", db, "--key", f->key2, f->hash[0], "--weight", "0.5", "--json");
    CHECK(f, "get", "--db", db, f->hash[0], "--json");
    int n = 0;
    json_decref(RUN(f, &n, "list", "--db", db, "--subject", "aspirin", "--json"));
    assert_int_equal(n, 2);
    json_decref(RUN(f, &n, "votes", "--db", db, f->hash[0], "--json"));
    assert_int_equal(n, 2); /* one vote + totals */
    json_t *q = RUN(f, &n, "query", "--db", db, "--subject", "aspirin", "--predicate", "dose",
                    "--agent", f->key, "--lens", "all", "--decay-half-life", "30d", "--json");
    assert_int_equal(n, 6);
    char qid[33];
    snprintf(qid, sizeof qid, "%s", json_string_value(json_object_get(q, "query_id")));
    assert_true(json_is_array(json_object_get(q, "candidates")));
    json_decref(q);
    CHECK(f, "audit", "--db", db, qid, "--json");
    CHECK(f, "audit", "--db", db, "--agent", f->key, "--json");
    CHECK(f, "gold", "set", "--db", db, "--subject", "aspirin", "--predicate", "dose", "--int",
          "4000", "--by", f->key, "--json");
    CHECK(f, "gold", "get", "--db", db, "--subject", "aspirin", "--predicate", "dose", "--json");
    json_t *g = RUN(f, NULL, "gold", "check", "--db", db, "--subject", "aspirin", "--predicate",
                    "dose", "--int", "8000", "--agent", f->key2, "--json");
    assert_true(json_is_false(json_object_get(g, "matched")));
    json_decref(g);
    CHECK(f, "trust", "list", "--db", db, "--json");
    CHECK(f, "trust", "show", f->key2, "--db", db, "--json");
    CHECK(f, "trust", "outcome", f->key, "--accurate", "--db", db, "--json");
    CHECK(f, "trust", "decay", "--db", db, "--json");
    CHECK(f, "pack", "create", "doctors", "--maintainer", f->key, "--description", "a\tb",
          "--db", db, "--json");
    CHECK(f, "pack", "add", "doctors", f->key, "--db", db, "--json");
    CHECK(f, "pack", "members", "doctors", "--db", db, "--json");
    CHECK(f, "pack", "list", "--db", db, "--json");
    CHECK(f, "pack", "remove", "doctors", f->key, "--db", db, "--json");
    CHECK(f, "quota", "set", f->key, "500", "--db", db, "--json");
    CHECK(f, "quota", "status", f->key, "--db", db, "--json");
    CHECK(f, "quota", "clear", f->key, "--db", db, "--json");
    json_t *e = RUN(f, NULL, "escalations", "raise", "--assertion", f->hash[1], "--score", "0.9",
                    "--reason", "line1\nline2", "--db", db, "--json");
    char eid[33];
    snprintf(eid, sizeof eid, "%s", json_string_value(json_object_get(e, "id")));
    json_decref(e);
    CHECK(f, "escalations", "--db", db, "--json");
    CHECK(f, "escalations", "resolve", eid, "--note", "ok", "--db", db, "--json");
    CHECK(f, "escalations", "list", "--resolved", "--db", db, "--json");
    CHECK(f, "supersede", f->hash[1], f->hash[0], "--reason", "fixed", "--agent", f->key2,
          "--db", db, "--json");
    CHECK(f, "supersede", "head", f->hash[1], "--db", db, "--json");
    CHECK(f, "supersede", "show", f->hash[1], "--db", db, "--json");
    CHECK(f, "visual", "add", f->hash[0], "00ff00ff00ff00ff", "--db", db, "--json");
    CHECK(f, "visual", "search", "00ff00ff00ff00fe", "--db", db, "--json");
    CHECK(f, "visual", "search", "00ff00ff00ff00fe", "--k", "1", "--db", db, "--json");
    CHECK(f, "visual", "count", "--db", db, "--json");
    CHECK(f, "similar", "add", f->hash[0], "--vector", "1,0,0.5", "--db", db, "--json");
    CHECK(f, "similar", "search", "--vector", "1,0,0.4", "--db", db, "--json");
    char out[4200];
    snprintf(out, sizeof out, "%s/dump.jsonl", f->dir);
    CHECK(f, "export", "--db", db, "--out", out, "--json");
    json_decref(RUN(f, &n, "export", "--db", db));   /* to stdout: the lines themselves */
    assert_int_equal(n, 3);
    char db2[4200];
    snprintf(db2, sizeof db2, "%s/db2", f->dir);
    CHECK(f, "import", "--db", db2, out, "--json");
    CHECK(f, "verify", "--db", db, "--json");
    CHECK(f, "stats", "--db", db, "--json");
    CHECK(f, "hash", out, "--json");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_command_prints_json_lines),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
