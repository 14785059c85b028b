/*
 * bench/peers/server_load.h - the HTTP load generator of bench/server.c.
 *
 * Header-only (static functions) because the bench build compiles only the
 * .c files directly under bench/; bench/server.c is its one user.
 *
 * Model: N threads, each owning one keep-alive HTTP/1.1 connection to
 * 127.0.0.1:port, closed loop (send one pre-built request, read its whole
 * answer, send the next). A case has three phases: warm-up (requests sent,
 * nothing recorded), measurement (each answer completed in it is counted
 * and its latency, send to last byte, goes into the thread's histogram),
 * stop. rps = answers counted / measured seconds; p99 from the merged
 * histograms. Answers whose status is not the expected one count as errors
 * (and not in rps): a bench that measured 429s or 401s would lie.
 *
 * Histogram: log-linear over nanoseconds, values below 128 exact, above
 * that 64 sub-buckets per power of two (relative error under 1.6%).
 */
#ifndef STEME_BENCH_SERVER_LOAD_H
#define STEME_BENCH_SERVER_LOAD_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOAD_SUB_BITS 6
#define LOAD_EXACT 128u
#define LOAD_BUCKETS (LOAD_EXACT + 58u * (1u << LOAD_SUB_BITS))
#define LOAD_RESP_MAX (256u * 1024u)

typedef struct load_hist {
    uint64_t n[LOAD_BUCKETS];
} load_hist;

static unsigned load_bucket(uint64_t ns)
{
    if (ns < LOAD_EXACT)
        return (unsigned)ns;
    unsigned e = 63u - (unsigned)__builtin_clzll(ns);           /* >= 7 */
    unsigned sub = (unsigned)(ns >> (e - LOAD_SUB_BITS)) & ((1u << LOAD_SUB_BITS) - 1u);
    unsigned b = LOAD_EXACT + (e - 7u) * (1u << LOAD_SUB_BITS) + sub;
    return b < LOAD_BUCKETS ? b : LOAD_BUCKETS - 1u;
}

/* Upper edge of bucket b, nanoseconds. */
static uint64_t load_bucket_top(unsigned b)
{
    if (b < LOAD_EXACT)
        return b;
    unsigned e = (b - LOAD_EXACT) / (1u << LOAD_SUB_BITS) + 7u;
    uint64_t sub = (b - LOAD_EXACT) % (1u << LOAD_SUB_BITS);
    return ((1ull << LOAD_SUB_BITS) + sub + 1u) << (e - LOAD_SUB_BITS);
}

/* The pre-built requests of a case. per_thread: thread t always sends
 * req[t % n] (query: each connection is its own agent); otherwise threads
 * take the next request of a shared cursor (votes: every one different). */
typedef struct load_reqs {
    char **req;
    size_t *len;
    size_t n;
    int per_thread;
    int expect_status;
    atomic_size_t next;
} load_reqs;

typedef struct load_run {
    uint16_t port;
    load_reqs *reqs;
    atomic_int phase;          /* 0 connect, 1 warm-up, 2 measure, 3 stop */
    atomic_int ready;
} load_run;

typedef struct load_thread {
    load_run *run;
    int id;
    pthread_t th;
    uint64_t ok, errors;
    char first_error[160];
    load_hist hist;
    char buf[LOAD_RESP_MAX];
} load_thread;

static uint64_t load_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int load_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);   /* loopback only, by construction */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {30, 0};   /* a stuck server fails the case, never hangs it */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int load_send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read one whole answer (headers + Content-Length body) into t->buf.
 * Returns the HTTP status, or -1 on a broken connection / bad answer;
 * *close_after when the server said Connection: close. */
static int load_read_answer(load_thread *t, int fd, int *close_after)
{
    size_t have = 0, need = 0, head = 0;
    *close_after = 0;
    for (;;) {
        if (have == LOAD_RESP_MAX)
            return -1;
        ssize_t r = recv(fd, t->buf + have, LOAD_RESP_MAX - have - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        have += (size_t)r;
        if (!head) {
            t->buf[have] = 0;
            char *end = strstr(t->buf, "\r\n\r\n");
            if (!end)
                continue;
            head = (size_t)(end - t->buf) + 4;
            *end = 0;
            char *cl = strcasestr(t->buf, "\r\ncontent-length:");
            if (!cl)
                return -1;   /* the answers measured here always carry one */
            need = head + strtoull(cl + 17, NULL, 10);
            if (strcasestr(t->buf, "\r\nconnection: close"))
                *close_after = 1;
        }
        if (have >= need)
            break;
    }
    if (strncmp(t->buf, "HTTP/1.1 ", 9) != 0)
        return -1;
    return atoi(t->buf + 9);
}

static void load_error(load_thread *t, const char *fmt, int v)
{
    if (!t->first_error[0])
        snprintf(t->first_error, sizeof t->first_error, fmt, v);
    t->errors++;
}

static void *load_thread_main(void *p)
{
    load_thread *t = p;
    load_run *run = t->run;
    load_reqs *rq = run->reqs;
    int fd = load_connect(run->port);
    atomic_fetch_add(&run->ready, 1);
    while (atomic_load(&run->phase) == 0) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    int phase;
    while ((phase = atomic_load(&run->phase)) != 3) {
        if (fd < 0 && (fd = load_connect(run->port)) < 0) {
            load_error(t, "connect failed (errno %d)", errno);
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
            continue;
        }
        size_t i = rq->per_thread ? (size_t)t->id % rq->n
                                  : atomic_fetch_add(&rq->next, 1) % rq->n;
        uint64_t t0 = load_now_ns();
        int close_after = 0, st = -1;
        if (load_send_all(fd, rq->req[i], rq->len[i]) == 0)
            st = load_read_answer(t, fd, &close_after);
        uint64_t t1 = load_now_ns();
        if (st < 0 || close_after) {
            close(fd);
            fd = -1;
        }
        if (phase != 2 || atomic_load(&run->phase) != 2)
            continue;   /* warm-up, or finished after the stop */
        if (st != rq->expect_status) {
            if (st < 0)
                load_error(t, "connection broken (%d)", st);
            else
                load_error(t, "unexpected HTTP status %d", st);
            continue;
        }
        t->ok++;
        t->hist.n[load_bucket(t1 - t0)]++;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

typedef struct load_result {
    double rps, p99_ms;
    uint64_t ok, errors;
    char first_error[160];
} load_result;

/* Run one case: n connections against port for warm_s then measure_s. */
static int load_run_case(uint16_t port, load_reqs *rq, int n, double warm_s, double measure_s,
                         load_result *res)
{
    memset(res, 0, sizeof *res);
    load_run run;
    memset(&run, 0, sizeof run);
    run.port = port;
    run.reqs = rq;
    load_thread **ts = calloc((size_t)n, sizeof *ts);
    if (!ts)
        return -1;
    int started = 0;
    for (; started < n; started++) {
        ts[started] = calloc(1, sizeof **ts);
        if (!ts[started])
            break;
        ts[started]->run = &run;
        ts[started]->id = started;
        if (pthread_create(&ts[started]->th, NULL, load_thread_main, ts[started]) != 0) {
            free(ts[started]);
            break;
        }
    }
    while (atomic_load(&run.ready) < started) {
        struct timespec w = {0, 1000000};
        nanosleep(&w, NULL);
    }
    atomic_store(&run.phase, 1);
    struct timespec w = {(time_t)warm_s, (long)((warm_s - (double)(time_t)warm_s) * 1e9)};
    nanosleep(&w, NULL);
    uint64_t t0 = load_now_ns();
    atomic_store(&run.phase, 2);
    struct timespec m = {(time_t)measure_s,
                         (long)((measure_s - (double)(time_t)measure_s) * 1e9)};
    nanosleep(&m, NULL);
    atomic_store(&run.phase, 3);
    uint64_t t1 = load_now_ns();
    load_hist *all = calloc(1, sizeof *all);
    for (int i = 0; i < started; i++) {
        pthread_join(ts[i]->th, NULL);
        res->ok += ts[i]->ok;
        res->errors += ts[i]->errors;
        if (!res->first_error[0] && ts[i]->first_error[0])
            memcpy(res->first_error, ts[i]->first_error, sizeof res->first_error);
        for (unsigned b = 0; all && b < LOAD_BUCKETS; b++)
            all->n[b] += ts[i]->hist.n[b];
        free(ts[i]);
    }
    free(ts);
    res->rps = (double)res->ok / ((double)(t1 - t0) * 1e-9);
    uint64_t want = res->ok - res->ok / 100, seen = 0;   /* 99th percentile rank */
    for (unsigned b = 0; all && res->ok && b < LOAD_BUCKETS; b++) {
        seen += all->n[b];
        if (seen >= want) {
            res->p99_ms = (double)load_bucket_top(b) * 1e-6;
            break;
        }
    }
    free(all);
    return started == n ? 0 : -1;
}

#endif
