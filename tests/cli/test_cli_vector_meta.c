/*
 * test_cli_vector_meta.c - `steme similar` keeps its index's configuration
 * in the database: the first add fixes dimension and metric there (no
 * DIR/vectors/cli.conf is written); an old cli.conf of a database without
 * the record is imported once and never read again; a damaged one is
 * refused (exit 3) rather than guessed at.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "cli_testlib.h"

#define HASH "abababababababababababababababababababababababababababababababab"

typedef struct fixture {
    char *dir, db[4096], vdir[4200], conf[4300];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir("cli-vmeta");
    snprintf(f->db, sizeof f->db, "%s/db", f->dir);
    snprintf(f->vdir, sizeof f->vdir, "%s/vectors", f->db);
    snprintf(f->conf, sizeof f->conf, "%s/cli.conf", f->vdir);
    cli_result r = ct_run(f->dir, "init", "--db", f->db, NULL);
    assert_int_equal(r.code, 0);
    ct_free(&r);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_rmtree_free(f->dir);
    free(f);
    return 0;
}

/* Run; expect exit code; stdout (or stderr when code != 0) must contain want. */
static void expect(const fixture *f, int code, const char *want, const char *const *args)
{
    cli_result r = ct_runv(f->dir, args);
    const char *text = code ? r.err : r.out;
    if (r.code != code || (want && !strstr(text, want)))
        fail_msg("steme %s %s: exit %d (want %d), missing \"%s\"\nstdout: %s\nstderr: %s",
                 args[0], args[1], r.code, code, want ? want : "", r.out, r.err);
    ct_free(&r);
}

#define EXPECT(f, code, want, ...) expect((f), (code), (want), (const char *const[]){__VA_ARGS__, NULL})

static void write_conf(const fixture *f, const char *text)
{
    mkdir(f->vdir, 0700);
    FILE *c = fopen(f->conf, "w");
    assert_non_null(c);
    fputs(text, c);
    fclose(c);
}

static void first_add_records_in_db(void **state)
{
    fixture *f = *state;
    EXPECT(f, 1, "no vector index yet", "similar", "search", "--vector", "1,0,0", "--db", f->db);
    EXPECT(f, 0, "indexed (3 dimensions, l2)", "similar", "add", HASH, "--vector", "1,0,0",
           "--metric", "l2", "--db", f->db);
    struct stat st;
    assert_int_not_equal(stat(f->conf, &st), 0); /* no cli.conf: the db holds it */
    EXPECT(f, 2, "3-dimensional", "similar", "add", HASH, "--vector", "1,0", "--db", f->db);
    EXPECT(f, 0, "indexed (3 dimensions, l2)", "similar", "add", HASH, "--vector", "0,1,0",
           "--db", f->db);
    EXPECT(f, 0, HASH, "similar", "search", "--vector", "0,1,0", "--db", f->db);
}

static void old_cli_conf_imported_once(void **state)
{
    fixture *f = *state;
    write_conf(f, "dim 2\nmetric ip\n");
    EXPECT(f, 0, "indexed (2 dimensions, ip)", "similar", "add", HASH, "--vector", "1,0",
           "--db", f->db);
    /* imported: the file is left alone, and never read again */
    char *text = ct_slurp(f->conf);
    assert_string_equal(text, "dim 2\nmetric ip\n");
    free(text);
    write_conf(f, "dim 7\nmetric l2\n");
    EXPECT(f, 0, "0.000000", "similar", "search", "--vector", "1,0", "--db", f->db);
    write_conf(f, "garbage");
    EXPECT(f, 0, "indexed (2 dimensions, ip)", "similar", "add", HASH, "--vector", "0,1",
           "--db", f->db);
}

static void damaged_cli_conf_refused(void **state)
{
    fixture *f = *state;
    write_conf(f, "dim zero\n");
    EXPECT(f, 3, "cli.conf is damaged", "similar", "search", "--vector", "1,0", "--db", f->db);
    EXPECT(f, 3, "cli.conf is damaged", "similar", "add", HASH, "--vector", "1,0", "--db",
           f->db);
    /* nothing was recorded: a repaired file is imported */
    write_conf(f, "dim 2\nmetric cosine\n");
    EXPECT(f, 0, "the index is empty", "similar", "search", "--vector", "1,0", "--db", f->db);
    EXPECT(f, 0, "indexed (2 dimensions, cosine)", "similar", "add", HASH, "--vector", "1,1",
           "--db", f->db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(first_add_records_in_db, setup, teardown),
        cmocka_unit_test_setup_teardown(old_cli_conf_imported_once, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_cli_conf_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
