/*
 * srv_main.c - `steme serve`: open the database, run libmicrohttpd with a
 * thread pool, stop cleanly on SIGTERM / SIGINT.
 *
 * Shutdown, in order (so that no acknowledged write is lost and none is cut
 * off half-way): the signal is taken by sigwait in the main thread (it is
 * blocked in every thread, MHD's workers inherit the mask); new requests
 * are answered 503 from then on; MHD_quiesce_daemon stops accepting
 * connections; the main thread waits until every request that had begun
 * has been answered (at most --drain-ms); MHD_stop_daemon joins the workers;
 * the vector and visual indexes are closed (their adds were logged before
 * they were acknowledged); steme_db_close checkpoints and closes the
 * database. Every 2xx of a write
 * was sent after the write was durable (the stores sync the WAL before they
 * return), so a restart sees all of them even if the drain timed out.
 *
 * The first line on stdout is "steme serve: listening on http://HOST:PORT"
 * (flushed): with --listen HOST:0 the kernel picks the port and a
 * supervisor (or a test) reads it from there.
 */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/server.h"
#include "server/srv_http.h"
#include "server/srv_int.h"
#include "server/srv_query.h"

#define SRV_DEFAULT_MAX_BODY (1u << 20)
#define SRV_DEFAULT_DRAIN_MS 10000u

/* HOST:PORT or [V6]:PORT -> a socket address (numeric or resolvable host). */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
                        int *is_v6)
{
    char host[256];
    const char *port;
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof host)
            return cli_fail(CLI_USAGE, "serve", "--listen: expected [ADDR]:PORT, got '%s'", spec);
        memcpy(host, spec + 1, (size_t)(end - spec - 1));
        host[end - spec - 1] = 0;
        port = end + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof host)
            return cli_fail(CLI_USAGE, "serve", "--listen: expected HOST:PORT, got '%s'", spec);
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = 0;
        port = colon + 1;
    }
    uint64_t p;
    if (!srv_parse_u64(port, &p) || p > 65535)
        return cli_fail(CLI_USAGE, "serve", "--listen: bad port '%s'", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0 || !res)
        return cli_fail(CLI_USAGE, "serve", "--listen: cannot resolve '%s': %s", host,
                        gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    *is_v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return CLI_OK;
}

static unsigned default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    /* Handlers block on WAL syncs, and a worker blocked in a sync stalls
     * every connection it polls: more workers than cores keep the group
     * commit fed while some wait. bench/server (64 keep-alive connections,
     * 2 cores): 8 x cores gave 20-30% more votes/s than 2 x cores, with the
     * same queries/s (CPU-bound, so more workers do not help them). */
    return n < 1 ? 16u : (unsigned)(n * 8 > 64 ? 64 : n * 8 < 16 ? 16 : n * 8);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int run_serve(int argc, char **argv)
{
    static const char *const known[] = {"db", "listen", "threads", "max-body", "drain-ms",
                                        "index-dir", NULL};
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "serve", known)) != CLI_OK)
        return rc;
    const char *dir = cli_require(&o, "serve", "db");
    if (!dir)
        return CLI_USAGE;
    const char *listen = cli_get(&o, "listen") ? cli_get(&o, "listen") : "127.0.0.1:8080";
    unsigned long long threads = default_threads(), max_body = SRV_DEFAULT_MAX_BODY,
                       drain_ms = SRV_DEFAULT_DRAIN_MS;
    if ((rc = cli_get_u64(&o, "threads", &threads, 0)) != CLI_OK ||
        (rc = cli_get_u64(&o, "max-body", &max_body, 0)) != CLI_OK ||
        (rc = cli_get_u64(&o, "drain-ms", &drain_ms, 0)) != CLI_OK)
        return rc;
    if (threads < 1 || threads > 1024)
        return cli_fail(CLI_USAGE, "serve", "--threads must be in 1..1024");
    if (max_body < 1 || max_body > (1ull << 30))
        return cli_fail(CLI_USAGE, "serve", "--max-body must be in 1..1073741824");
    struct sockaddr_storage addr;
    socklen_t alen;
    int v6 = 0;
    if ((rc = parse_listen(listen, &addr, &alen, &v6)) != CLI_OK)
        return rc;

    /* Block the stop signals before any thread exists, so that every
     * thread inherits the mask and only sigwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    json_object_seed(0);   /* before threads: jansson's hash seed */

    srv *s = calloc(1, sizeof *s);
    if (!s)
        return cli_fail(CLI_ERROR, "serve", "out of memory");
    s->db_dir = dir;
    /* A pg database has no directory of its own: the node's indexes need
     * --index-dir (they are derived, node-local state). */
    s->index_dir = cli_get(&o, "index-dir") ? cli_get(&o, "index-dir")
                   : steme_db_is_url(dir)   ? NULL
                                            : dir;
    s->max_body = (size_t)max_body;
    s->threads = (unsigned)threads;
    s->started_ms = srv_now_ms();
    steme_db_options dbo;
    steme_db_options_init(&dbo);
    steme_error e;
    if ((rc = steme_db_open(dir, &dbo, &s->db, &e)) != STEME_OK) {
        free(s);
        return cli_fail(cli_exit_for_status(rc), "serve", "%s", e.message);
    }
    if ((rc = srv_indexes_open(s, &e)) != STEME_OK) {
        srv_indexes_close(s);
        steme_db_close(s->db);
        free(s);
        return cli_fail(cli_exit_for_status(rc), "serve", "%s", e.message);
    }

    if (srv_hints_new(&s->hints) != STEME_OK || srv_charger_new(s->db, &s->charger) != STEME_OK ||
        srv_committer_start(s->db, &s->committer) != STEME_OK) {
        srv_charger_free(s->charger);
        srv_hints_free(s->hints);
        srv_indexes_close(s);
        steme_db_close(s->db);
        free(s);
        return cli_fail(CLI_ERROR, "serve", "cannot start the query committer thread");
    }
    /* SUSPEND_RESUME: a query waits for the committer without its worker */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL;
    else if (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES)
        flags |= MHD_USE_POLL;
    if (v6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, srv_access, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED,
        srv_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        1024u, MHD_OPTION_END);
    if (!d) {
        srv_committer_free(s->committer);
        srv_charger_free(s->charger);
        srv_hints_free(s->hints);
        srv_indexes_close(s);
        steme_db_close(s->db);
        free(s);
        return cli_fail(CLI_ERROR, "serve", "cannot listen on %s (address in use? see above)",
                        listen);
    }
    const union MHD_DaemonInfo *bi = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[256];
    const char *colon = listen[0] == '[' ? strchr(listen, ']') + 1 : strrchr(listen, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    printf("steme serve: listening on http://%s:%u (db %s, %u threads, max body %zu bytes)\n",
           host, bi ? (unsigned)bi->port : 0u, dir, s->threads, s->max_body);
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0) {
    }
    fprintf(stderr, "steme serve: %s received, draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&s->draining, 1);
    MHD_socket lfd = MHD_quiesce_daemon(d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    unsigned waited = 0;
    while (atomic_load(&s->inflight) > 0 && waited < drain_ms) {
        sleep_ms(5);
        waited += 5;
    }
    long left = atomic_load(&s->inflight);
    srv_committer_stop(s->committer);   /* resumes what it holds: before MHD stops */
    MHD_stop_daemon(d);
    srv_committer_free(s->committer);
    srv_charger_free(s->charger);
    srv_hints_free(s->hints);
    srv_indexes_close(s);
    steme_db_close(s->db);
    if (left > 0)
        fprintf(stderr, "steme serve: drain timed out with %ld request(s) unanswered\n", left);
    fprintf(stderr, "steme serve: stopped, indexes and database closed\n");
    free(s);
    return CLI_OK;
}

const cli_cmd cli_cmd_serve = {
    "serve", "serve the HTTP/JSON API (docs/api.md)",
    "--db DIR|postgres://URL [--listen HOST:PORT (default 127.0.0.1:8080; port 0 = any)]\n"
    "[--threads N (worker threads, default 8 x cores, 16..64)] [--max-body BYTES (default 1 MiB)]\n"
    "[--drain-ms MS (on SIGTERM/SIGINT, wait this long for in-flight requests; default 10000)]\n"
    "[--index-dir DIR (this node's vector and visual indexes; default the --db directory;\n"
    "                  with --db postgres://... the index routes answer 503 without it;\n"
    "                  there they catch up with the adds of other nodes, and an empty\n"
    "                  DIR is rebuilt from the database: docs/scale-out.md)]",
    run_serve};
