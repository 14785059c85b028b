/* test_status.c - the status table and per-handle, per-thread error slots. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "steme/status.h"

static void every_code_has_name_message_family(void **state)
{
    (void)state;
#define CHECK(name, value, family, msg)                                         \
    assert_string_equal(steme_strerror(value), msg);                            \
    assert_int_equal(steme_status_family_of(value), STEME_FAMILY_##family);     \
    if (value != 0) {                                                           \
        assert_string_equal(steme_errname(value), "STEME_E_" #name);            \
        assert_true(value < -30900 && value > -31000); /* clear of errno */     \
    }
    STEME_STATUS_MAP(CHECK)
#undef CHECK
    assert_string_equal(steme_errname(STEME_OK), "STEME_OK");
    assert_string_equal(steme_strerror(12345), "unknown status");
    assert_string_equal(steme_errname(-1), "STEME_E_UNKNOWN");
    assert_int_equal(steme_status_family_of(7), STEME_FAMILY_FATAL);
}

static void err_fills_and_truncates(void **state)
{
    (void)state;
    steme_error e;
    assert_int_equal(steme_err(&e, STEME_E_INVALID, "bad %s at %d", "field", 3), STEME_E_INVALID);
    assert_int_equal(e.code, STEME_E_INVALID);
    assert_string_equal(e.message, "bad field at 3");
    assert_int_equal(steme_err(NULL, STEME_E_IO, "ignored"), STEME_E_IO);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    steme_err(&e, STEME_E_TOO_BIG, "%s", big);
    assert_int_equal(strlen(e.message), STEME_ERRMSG_MAX - 1);
    assert_int_equal(STEME_CORRUPT(&e, "bad crc"), STEME_E_CORRUPT);
    assert_non_null(strstr(e.message, "bad crc (test_status.c:"));
}

static steme_errslot g_slot; /* shared by the threads of one test only */
static pthread_barrier_t g_barrier;

static void *slot_thread(void *arg)
{
    long id = (long)arg;
    steme_errslot_set(&g_slot, STEME_E_NOTFOUND, "thread %ld", id);
    pthread_barrier_wait(&g_barrier); /* every thread has set its message */
    char want[32];
    snprintf(want, sizeof want, "thread %ld", id);
    return (void *)(long)(strcmp(steme_errslot_message(&g_slot), want) == 0);
}

static void errslot_is_per_thread(void **state)
{
    (void)state;
    assert_int_equal(steme_errslot_init(&g_slot), STEME_OK);
    assert_string_equal(steme_errslot_message(&g_slot), "no error");
    enum { N = 8 };
    pthread_t t[N];
    pthread_barrier_init(&g_barrier, NULL, N);
    for (long i = 0; i < N; i++)
        pthread_create(&t[i], NULL, slot_thread, (void *)i);
    for (int i = 0; i < N; i++) {
        void *ok;
        pthread_join(t[i], &ok);
        assert_true((long)ok);
    }
    pthread_barrier_destroy(&g_barrier);
    assert_string_equal(steme_errslot_message(&g_slot), "no error");
    steme_errslot_set(&g_slot, STEME_E_IO, "main %d", 1);
    assert_string_equal(steme_errslot_message(&g_slot), "main 1");
    steme_errslot_destroy(&g_slot);
    steme_errslot_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_name_message_family),
        cmocka_unit_test(err_fills_and_truncates),
        cmocka_unit_test(errslot_is_per_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
