/*
 * test_wal_badinput.c - bad input everywhere in the log's API: NULL and
 * empty arguments, oversized records, bad options, a path that is not a
 * directory; each gets a clear error and changes nothing.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal_testlib.h"

static void test_bad_input(void **state)
{
    (void)state;
    char *dir = tu_tempdir("wal-bad");
    steme_error e = { 0 };
    steme_wal *w = (steme_wal *)1;
    assert_int_equal(steme_wal_open(NULL, NULL, &w, NULL, &e), STEME_E_INVALID);
    assert_null(w);
    assert_true(strlen(e.message) > 0);
    assert_int_equal(steme_wal_open("", NULL, &w, NULL, &e), STEME_E_INVALID);
    assert_int_equal(steme_wal_open(dir, NULL, NULL, NULL, &e), STEME_E_INVALID);
    assert_non_null(strstr(e.message, "out"));
    char path[1024];
    snprintf(path, sizeof path, "%s/no/such/parent", dir);
    assert_int_equal(steme_wal_open(path, NULL, &w, NULL, &e), STEME_E_INVALID);
    assert_non_null(strstr(e.message, "directory"));
    snprintf(path, sizeof path, "%s/plainfile", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    close(fd);
    assert_int_equal(steme_wal_open(path, NULL, &w, NULL, &e), STEME_E_INVALID);
    steme_wal_options o = tw_opts(100, NULL);
    assert_int_equal(steme_wal_open(dir, &o, &w, NULL, &e), STEME_E_INVALID);
    assert_non_null(strstr(e.message, "segment_bytes"));
    o = tw_opts(0, NULL);
    o.flushers = 0;
    assert_int_equal(steme_wal_open(dir, &o, &w, NULL, &e), STEME_E_INVALID);
    assert_non_null(strstr(e.message, "flushers"));
    o = tw_opts(0, NULL);
    o.syncs_in_flight = 0;
    assert_int_equal(steme_wal_open(dir, &o, &w, NULL, &e), STEME_E_INVALID);
    assert_non_null(strstr(e.message, "syncs_in_flight"));
    o = tw_opts(0, NULL);
    o.preallocate = (steme_wal_prealloc)9;
    assert_int_equal(steme_wal_open(dir, &o, &w, NULL, &e), STEME_E_INVALID);

    snprintf(path, sizeof path, "%s/log", dir);
    w = tw_open(path, NULL, NULL);
    steme_wal *w2 = NULL;
    assert_int_equal(steme_wal_open(path, NULL, &w2, NULL, &e), STEME_E_BUSY);
    assert_null(w2);
    assert_int_equal(steme_wal_append(NULL, "x", 1, NULL), STEME_E_INVALID);
    assert_int_equal(steme_wal_append(w, NULL, 1, NULL), STEME_E_INVALID);
    assert_non_null(strstr(steme_wal_errmsg(w), "NULL"));
    assert_int_equal(steme_wal_append(w, "x", 0, NULL), STEME_E_INVALID);
    assert_non_null(strstr(steme_wal_errmsg(w), "empty"));
    const void *ps[2] = { "a", NULL };
    size_t ls[2] = { 1, 1 };
    assert_int_equal(steme_wal_append_batch(NULL, 1, ps, ls, NULL), STEME_E_INVALID);
    assert_int_equal(steme_wal_append_batch(w, 0, ps, ls, NULL), STEME_E_INVALID);
    assert_int_equal(steme_wal_append_batch(w, 1, NULL, ls, NULL), STEME_E_INVALID);
    assert_int_equal(steme_wal_append_batch(w, 1, ps, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_wal_append_batch(w, 2, ps, ls, NULL), STEME_E_INVALID);
    assert_int_equal(steme_wal_end_offset(w), 0);
    assert_int_equal(steme_wal_end_offset(NULL), 0);
    steme_wal_cursor *c;
    assert_int_equal(steme_wal_cursor_open(NULL, 0, &c), STEME_E_INVALID);
    assert_int_equal(steme_wal_cursor_open(w, 0, NULL), STEME_E_INVALID);
    assert_int_equal(steme_wal_cursor_open(w, 0, &c), STEME_OK);
    const uint8_t *p;
    size_t len;
    assert_int_equal(steme_wal_cursor_next(NULL, &p, &len, NULL), STEME_E_INVALID);
    assert_int_equal(steme_wal_cursor_next(c, NULL, &len, NULL), STEME_E_INVALID);
    assert_int_equal(steme_wal_cursor_next(c, &p, NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_wal_cursor_next(c, &p, &len, NULL), STEME_E_END);
    steme_wal_cursor_close(c);
    assert_int_equal(steme_wal_stats(NULL, NULL), STEME_E_INVALID);
    assert_int_equal(steme_wal_stats(w, NULL), STEME_E_INVALID);
    assert_int_equal(steme_wal_checkpoint(NULL, 0), STEME_E_INVALID);
    assert_int_equal(steme_wal_checkpoint(w, 5), STEME_E_INVALID);
    assert_string_equal(steme_wal_errmsg(NULL), "no handle");
    steme_wal_close(w);
    steme_wal_close(NULL);
    steme_wal_options_init(NULL);
    tu_rmtree_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
