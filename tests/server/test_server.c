/*
 * test_server.c - end-to-end tests of `steme serve` (STEME_BINARY): each
 * test runs one scenario of tests/server/e2e.py, which starts the real
 * server on a free loopback port with a temporary database and drives it
 * over HTTP with signed requests (Python standard library + python3-nacl).
 *
 * Time is bounded here as well as in the script: a scenario still running
 * after SCENARIO_LIMIT_S is killed (its process group, server included) and
 * the test fails. Nothing asserts a timing.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define PYTHON "/usr/bin/python3"   /* Debian's: the one with python3-nacl */
#define SCENARIO_LIMIT_S 300

static int have_python_nacl(void)
{
    if (access(PYTHON, X_OK) != 0)
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        execl(PYTHON, PYTHON, "-c", "import nacl.signing", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void run_scenario(const char *name)
{
    if (!have_python_nacl()) {
        fprintf(stderr, "skipping %s: %s with python3-nacl not available\n", name, PYTHON);
        skip();
    }
    const char *src = getenv("STEME_SOURCE_DIR") ? getenv("STEME_SOURCE_DIR") : STEME_SOURCE_DIR;
    char script[4096];
    snprintf(script, sizeof script, "%s/tests/server/e2e.py", src);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);   /* its own group: a timeout kills the server too */
        execl(PYTHON, PYTHON, script, "--binary", STEME_BINARY, name, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    int st = 0;
    time_t deadline = time(NULL) + SCENARIO_LIMIT_S;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            fail_msg("waitpid: %d", errno);
        if (time(NULL) > deadline) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("scenario %s still running after %d s: killed", name, SCENARIO_LIMIT_S);
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("scenario %s failed (status %d): see its output above", name, st);
}

static void test_api_routes(void **state) { run_scenario("api"); }
static void test_signatures(void **state) { run_scenario("auth"); }
static void test_bad_bodies(void **state) { run_scenario("bad_bodies"); }
static void test_quota_429(void **state) { run_scenario("quota"); }
static void test_concurrent_clients(void **state) { run_scenario("concurrent"); }
static void test_sigterm_drain_restart(void **state) { run_scenario("drain_restart"); }
static void test_concurrent_queries_meter(void **state) { run_scenario("queries_meter"); }
static void test_concurrent_writes_meter(void **state) { run_scenario("writes_meter"); }
static void test_kill_while_querying(void **state) { run_scenario("kill_queries"); }
static void test_kill_while_voting(void **state) { run_scenario("kill_votes"); }
static void test_query_answer_json(void **state) { run_scenario("query_json"); }
static void test_example_agent(void **state) { run_scenario("example_agent"); }
static void test_vector_index(void **state) { run_scenario("vectors"); }
static void test_visual_index(void **state) { run_scenario("visual"); }
static void test_indexes_shared_with_cli(void **state) { run_scenario("index_cli"); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_routes),
        cmocka_unit_test(test_signatures),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_quota_429),
        cmocka_unit_test(test_concurrent_clients),
        cmocka_unit_test(test_sigterm_drain_restart),
        cmocka_unit_test(test_concurrent_queries_meter),
        cmocka_unit_test(test_concurrent_writes_meter),
        cmocka_unit_test(test_kill_while_querying),
        cmocka_unit_test(test_kill_while_voting),
        cmocka_unit_test(test_query_answer_json),
        cmocka_unit_test(test_example_agent),
        cmocka_unit_test(test_vector_index),
        cmocka_unit_test(test_visual_index),
        cmocka_unit_test(test_indexes_shared_with_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
