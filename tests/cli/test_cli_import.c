/*
 * test_cli_import.c - `steme import` of a file mixing good and bad lines:
 * every bad line is reported by its number, every good line is stored
 * (votes before their assertion included); --json reports the same; an
 * export imports again into an identical database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>

#include "cli_testlib.h"
#include "steme/keyfile.h"
#include "steme/record.h"
#include "steme/sign.h"

typedef struct fixture {
    char *dir, *key, *db, *file;
    char h1[65], h11[65];
} fixture;

/* The content hash the CLI will compute for an int assertion signed by key. */
static void hash_of(const char *key, const char *subject, const char *pred, int64_t v,
                    double conf, uint64_t ts, char hex[65])
{
    steme_secret_key sk;
    steme_assertion a;
    memset(&a, 0, sizeof a);
    assert_int_equal(steme_keyfile_load(key, &sk, &a.agent, NULL), STEME_OK);
    steme_secret_key_wipe(&sk);
    a.subject = subject, a.subject_len = strlen(subject);
    a.predicate = pred, a.predicate_len = strlen(pred);
    a.object = steme_value_int(v);
    a.confidence = conf;
    a.source_kind = STEME_SOURCE_AGENT;
    a.source_ref = "";
    a.timestamp = ts;
    steme_hash h;
    assert_int_equal(steme_assertion_hash(&a, &h, NULL), STEME_OK);
    steme_hex_encode(h.bytes, 32, hex, 65);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir("cli-import");
    f->key = ct_write(f->dir, "a.key", "");
    f->db = ct_write(f->dir, "db.unused", "");
    snprintf(f->db, strlen(f->db) + 1, "%s/db", f->dir);
    cli_result r = ct_run(f->dir, "keygen", "--force", "--out", f->key, NULL);
    assert_int_equal(r.code, 0);
    ct_free(&r);
    hash_of(f->key, "aspirin", "dose", 4000, 0.9, 1000, f->h1);
    hash_of(f->key, "ibuprofen", "dose", 3200, 1, 3000, f->h11);
    char text[8192];
    snprintf(text, sizeof text,
             /* 1 good */
             "{\"type\":\"assertion\",\"subject\":\"aspirin\",\"predicate\":\"dose\","
             "\"object\":{\"int\":4000},\"confidence\":0.9,\"timestamp\":1000}\n"
             /* 2 not JSON */
             "{oops\n"
             /* 3 no subject */
             "{\"type\":\"assertion\",\"predicate\":\"dose\",\"object\":{\"int\":1},"
             "\"timestamp\":1}\n"
             /* 4 blank */
             "\n"
             /* 5 good (string object, a source) */
             "{\"type\":\"assertion\",\"subject\":\"aspirin\",\"predicate\":\"class\","
             "\"object\":{\"string\":\"NSAID\"},\"source\":{\"kind\":\"regulatory\","
             "\"ref\":\"fda\"},\"timestamp\":2000}\n"
             /* 6 good vote on line 1 */
             "{\"type\":\"vote\",\"assertion\":\"%s\",\"weight\":1,\"timestamp\":2000}\n"
             /* 7 vote on an unknown assertion */
             "{\"type\":\"vote\",\"assertion\":\"%064d\",\"weight\":1,\"timestamp\":2000}\n"
             /* 8 confidence out of range */
             "{\"type\":\"assertion\",\"subject\":\"aspirin\",\"predicate\":\"dose\","
             "\"object\":{\"int\":5},\"confidence\":1.5,\"timestamp\":1}\n"
             /* 9 unknown type */
             "{\"type\":\"nonsense\"}\n"
             /* 10 good vote BEFORE its assertion (line 11) */
             "{\"type\":\"vote\",\"assertion\":\"%s\",\"weight\":-0.5,\"timestamp\":4000}\n"
             /* 11 good */
             "{\"type\":\"assertion\",\"subject\":\"ibuprofen\",\"predicate\":\"dose\","
             "\"object\":{\"int\":3200},\"timestamp\":3000}\n"
             /* 12 forged signature */
             "{\"type\":\"assertion\",\"subject\":\"x\",\"predicate\":\"y\","
             "\"object\":{\"bool\":true},\"timestamp\":5,\"agent\":\"%064d\","
             "\"signature\":\"%0128d\"}\n",
             f->h1, 0, f->h11, 0, 0);
    f->file = ct_write(f->dir, "in.jsonl", text);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    free(f->key), free(f->db), free(f->file);
    tu_rmtree_free(f->dir);
    free(f);
    return 0;
}

static const int bad_lines[] = {2, 3, 7, 8, 9, 12};
static const int good_lines[] = {1, 4, 5, 6, 10, 11};

static void test_bad_lines_reported_good_lines_kept(void **state)
{
    fixture *f = *state;
    cli_result r = ct_run(f->dir, "import", "--db", f->db, "--key", f->key, f->file, NULL);
    assert_int_equal(r.code, 1); /* some lines were bad */
    char needle[32];
    for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++) {
        snprintf(needle, sizeof needle, "line %d:", bad_lines[i]);
        if (!strstr(r.err, needle))
            fail_msg("'%s' not reported in:\n%s", needle, r.err);
    }
    for (size_t i = 0; i < sizeof good_lines / sizeof good_lines[0]; i++) {
        snprintf(needle, sizeof needle, "line %d:", good_lines[i]);
        if (strstr(r.err, needle))
            fail_msg("good '%s' reported as bad:\n%s", needle, r.err);
    }
    assert_non_null(strstr(r.out, "3 assertions"));
    assert_non_null(strstr(r.out, "2 votes"));
    assert_non_null(strstr(r.out, "6 bad lines"));
    ct_free(&r);

    r = ct_run(f->dir, "get", "--db", f->db, f->h1, NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "valid")); /* signed with --key */
    ct_free(&r);
    r = ct_run(f->dir, "votes", "--db", f->db, f->h11, "--json", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "\"count\":1,\"weight\":-0.5"));
    ct_free(&r);
    r = ct_run(f->dir, "stats", "--db", f->db, "--json", NULL);
    assert_int_equal(r.code, 0);
    json_t *j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "assertions")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "votes")), 2);
    json_decref(j);
    ct_free(&r);
    r = ct_run(f->dir, "verify", "--db", f->db, NULL);
    assert_int_equal(r.code, 0);
    ct_free(&r);
}

static void test_json_report(void **state)
{
    fixture *f = *state;
    char db[4096];
    snprintf(db, sizeof db, "%s/dbjson", f->dir);
    cli_result r = ct_run(f->dir, "import", "--db", db, "--key", f->key, "--threads", "3",
                          "--json", f->file, NULL);
    assert_int_equal(r.code, 1);
    int seen[16] = {0};
    json_t *summary = NULL;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!j)
            fail_msg("not JSON: %s (%s)", line, je.text);
        const char *type = json_string_value(json_object_get(j, "type"));
        assert_non_null(type);
        if (strcmp(type, "error") == 0) {
            json_int_t n = json_integer_value(json_object_get(j, "line"));
            assert_true(n > 0 && n < 16);
            assert_non_null(json_string_value(json_object_get(j, "message")));
            seen[n]++;
            json_decref(j);
        } else {
            assert_string_equal(type, "summary");
            summary = j;
        }
    }
    for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++)
        assert_int_equal(seen[bad_lines[i]], 1);
    for (size_t i = 0; i < sizeof good_lines / sizeof good_lines[0]; i++)
        assert_int_equal(seen[good_lines[i]], 0);
    assert_non_null(summary);
    assert_int_equal(json_integer_value(json_object_get(summary, "assertions_new")), 3);
    assert_int_equal(json_integer_value(json_object_get(summary, "votes")), 2);
    assert_int_equal(json_integer_value(json_object_get(summary, "bad_lines")), 6);
    assert_int_equal(json_integer_value(json_object_get(summary, "lines")), 12);
    json_decref(summary);
    ct_free(&r);
}

static void test_export_imports_again(void **state)
{
    fixture *f = *state;
    char db1[4096], db2[4096], out1[4096], out2[4096];
    snprintf(db1, sizeof db1, "%s/rt1", f->dir);
    snprintf(db2, sizeof db2, "%s/rt2", f->dir);
    snprintf(out1, sizeof out1, "%s/rt1.jsonl", f->dir);
    snprintf(out2, sizeof out2, "%s/rt2.jsonl", f->dir);
    cli_result r = ct_run(f->dir, "import", "--db", db1, "--key", f->key, f->file, NULL);
    ct_free(&r);
    r = ct_run(f->dir, "export", "--db", db1, "--out", out1, NULL);
    assert_int_equal(r.code, 0);
    ct_free(&r);
    /* No --key: every record carries its signature, verified on import. */
    r = ct_run(f->dir, "import", "--db", db2, out1, NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "0 bad lines"));
    ct_free(&r);
    r = ct_run(f->dir, "export", "--db", db2, "--out", out2, NULL);
    assert_int_equal(r.code, 0);
    ct_free(&r);
    char *a = ct_slurp(out1), *b = ct_slurp(out2);
    assert_true(strlen(a) > 0);
    assert_string_equal(a, b);
    /* 3 assertions + 2 votes, each line JSON */
    int lines = 0;
    for (char *p = a; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 5);
    free(a), free(b);
    /* Importing the same file again stores nothing new and is not an error. */
    r = ct_run(f->dir, "import", "--db", db2, out1, "--json", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "\"assertions_new\":0,\"assertions_existing\":3"));
    ct_free(&r);
}

static void test_import_bad_arguments(void **state)
{
    fixture *f = *state;
    char db[4096], missing[4096];
    snprintf(db, sizeof db, "%s/dbargs", f->dir);
    snprintf(missing, sizeof missing, "%s/no-such-file", f->dir);
    cli_result r = ct_run(f->dir, "import", "--db", db, missing, NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "no-such-file"));
    ct_free(&r);
    r = ct_run(f->dir, "import", "--db", db, f->file, "--threads", "0", NULL);
    assert_int_equal(r.code, 2);
    ct_free(&r);
    r = ct_run(f->dir, "import", "--db", db, NULL);
    assert_int_equal(r.code, 2);
    ct_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_lines_reported_good_lines_kept),
        cmocka_unit_test(test_json_report),
        cmocka_unit_test(test_export_imports_again),
        cmocka_unit_test(test_import_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
