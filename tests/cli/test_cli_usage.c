/*
 * test_cli_usage.c - the command line's contract: `steme COMMAND --help`
 * exits 0 with a usage for every command `steme --help` lists; bad
 * arguments exit 2 with a message on stderr and nothing on stdout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cli_testlib.h"

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = tu_tempdir("cli-usage");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree_free(dir);
    return 0;
}

/* The command names listed by `steme --help` ("  name   summary" lines). */
static int list_commands(char names[][32], int cap)
{
    cli_result r = ct_run(dir, "--help", NULL);
    assert_int_equal(r.code, 0);
    int n = 0;
    char *save = NULL;
    int in_list = 0;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "commands:", 9) == 0) {
            in_list = 1;
            continue;
        }
        if (!in_list)
            continue;
        if (strncmp(line, "  ", 2) != 0)
            break;
        if (n < cap && sscanf(line, " %31s", names[n]) == 1)
            n++;
    }
    ct_free(&r);
    return n;
}

static void test_every_command_has_help(void **state)
{
    (void)state;
    char names[64][32];
    int n = list_commands(names, 64);
    assert_true(n >= 20);
    for (int i = 0; i < n; i++) {
        cli_result r = ct_run(dir, names[i], "--help", NULL);
        char want[128];
        snprintf(want, sizeof want, "usage: steme %.31s ", names[i]);
        if (r.code != 0 || strncmp(r.out, want, strlen(want)) != 0)
            fail_msg("steme %s --help: exit %d\n%s", names[i], r.code, r.out);
        ct_free(&r);
    }
    cli_result r = ct_run(dir, NULL);   /* no command at all */
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "usage"));
    ct_free(&r);
}

static void test_unknown_options_exit_2(void **state)
{
    (void)state;
    char names[64][32];
    int n = list_commands(names, 64);
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], "serve") == 0)   /* its own tests (tests/server) */
            continue;
        cli_result r = ct_run(dir, names[i], "--no-such-option", "x", NULL);
        if (r.code != 2 || !strstr(r.err, "no-such-option") || r.out[0])
            fail_msg("steme %s --no-such-option: exit %d\nstdout: %s\nstderr: %s", names[i],
                     r.code, r.out, r.err);
        ct_free(&r);
    }
}

/* Each case: arguments (NULL-terminated), and a word the message must hold. */
typedef struct bad_case {
    const char *args[16];
    const char *says;
} bad_case;

static void test_bad_arguments_exit_2(void **state)
{
    (void)state;
    char db[4096], key[4096];
    snprintf(db, sizeof db, "%s/db", dir);
    snprintf(key, sizeof key, "%s/k", dir);
    cli_result r = ct_run(dir, "keygen", "--out", key, NULL);
    assert_int_equal(r.code, 0);
    ct_free(&r);
    r = ct_run(dir, "init", "--db", db, NULL);
    assert_int_equal(r.code, 0);
    ct_free(&r);
    const char *h = "00000000000000000000000000000000000000000000000000000000000000ff";
    const bad_case cases[] = {
        {{"nosuchcommand"}, "unknown command"},
        {{"assert", "--db", db, "--subject", "s", "--predicate", "p", "--int", "1"}, "--key"},
        {{"assert", "--db", db, "--key", key, "--subject", "s", "--predicate", "p"}, "one value"},
        {{"assert", "--db", db, "--key", key, "--subject", "s", "--predicate", "p", "--int",
          "12x"},
         "integer"},
        {{"assert", "--db", db, "--key", key, "--subject", "s", "--predicate", "p", "--int",
          "1", "--source", "rumour"},
         "KIND"},
        {{"vote", "--db", db, "--key", key, "nothex"}, "hex"},
        {{"vote", "--db", db, "--key", key, h, "--weight", "2"}, "[-1, 1]"},
        {{"vote", "--db", db, "--key", key, h, "--up", "--down"}, "one of"},
        {{"get", "--db", db}, "hash"},
        {{"votes", "--db", db, h, "--limit", "-3"}, "unsigned"},
        {{"query", "--db", db, "--subject", "s", "--predicate", "p", "--agent", key, "--lens",
          "gut"},
         "unknown lens"},
        {{"query", "--db", db, "--subject", "s", "--predicate", "p", "--agent", key,
          "--decay-half-life", "3 weeks"},
         "decay"},
        {{"query", "--db", db, "--subject", "s", "--predicate", "p"}, "--agent"},
        {{"trust", "--db", db}, "subcommand"},
        {{"trust", "rank", "--db", db}, "unknown subcommand"},
        {{"trust", "show", "--db", db, "not-an-agent"}, "agent"},
        {{"trust", "outcome", key, "--db", db}, "--accurate"},
        {{"gold", "check", "--db", db, "--subject", "s", "--predicate", "p", "--int", "1"},
         "--agent"},
        {{"pack", "create", "--db", db}, "argument"},
        {{"pack", "add", "p", "--db", db}, "argument"},
        {{"quota", "set", key, "lots", "--db", db}, "unsigned"},
        {{"quota", "status", "--db", db}, "argument"},
        {{"audit", "--db", db}, "QUERY_ID"},
        {{"audit", "--db", db, "abc"}, "hex"},
        {{"escalations", "resolve", "--db", db, "0123456789abcdef0123456789abcdef"}, "--note"},
        {{"escalations", "raise", "--db", db, "--score", "0.9"}, "--assertion"},
        {{"supersede", "--db", db, h}, "OLD NEW"},
        {{"supersede", "--db", db, h, h, "--agent", key}, "--reason"},
        {{"visual", "add", h, "xyz", "--db", db}, "PHASH"},
        {{"visual", "search", "ff", "--radius", "65", "--db", db}, "radius"},
        {{"similar", "search", "--vector", "1,a", "--db", db}, "vector"},
        {{"similar", "search", "--vector", "1,2", "--db", "postgres://u@127.0.0.1:1/x"},
         "node-local"},
        {{"visual", "search", "ff", "--db", "postgres://u@127.0.0.1:1/x"}, "node-local"},
        {{"import", "--db", db}, "FILE"},
        {{"export", "--db", db, "file"}, "--out"},
        {{"stats", "--db", db, "more"}, "unexpected"},
        {{"keygen"}, "--out"},
        {{"get", h}, "--db"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r = ct_runv(dir, cases[i].args);
        if (r.code != 2 || !strstr(r.err, cases[i].says) || r.out[0])
            fail_msg("steme %s %s...: exit %d (want 2), stderr '%s' (want '%s'), stdout '%s'",
                     cases[i].args[0], cases[i].args[1] ? cases[i].args[1] : "", r.code, r.err,
                     cases[i].says, r.out);
        ct_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_command_has_help),
        cmocka_unit_test(test_unknown_options_exit_2),
        cmocka_unit_test(test_bad_arguments_exit_2),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
