/*
 * bench/server.c - `steme serve` over HTTP against the ceiling of its HTTP
 * stack, in one run, with one load generator.
 *
 *   steme    the real `steme serve` (../steme next to this executable, or
 *            $STEME_BINARY), started here on a temporary database and a free
 *            loopback port, with its default settings.
 *   ceiling  a minimal libmicrohttpd handler inside this process, with the
 *            same MHD threading as steme serve (the pool size it printed):
 *            drops the body, answers a fixed small JSON body
 *            (bench/peers/server_ceiling.h).
 *
 * Cases, each at 1 and 64 keep-alive connections (one thread each, closed
 * loop, bench/peers/server_load.h), STEME_BENCH_SECONDS (default 3) of
 * measurement after 0.5 s of warm-up:
 *   vote   POST /v1/votes, signed. A pool of 32,768 bodies pre-signed before
 *          any timing (4,096 distinct voters, ~1,000 pre-made assertions, each
 *          (voter, assertion) pair once), sent in turn; past the pool they
 *          repeat as re-votes. Expected answer 200.
 *   query  GET /v1/query?subject=bench:query&predicate=side_effect&lens=vote on
 *          five pre-loaded candidates with a few votes; connection t asks as
 *          reader agent t. Expected answer 200.
 *
 * The Meter: votes are spread over 4,096 voters (each spends a few tokens of
 * its 10,000 per hour); the 64 reader agents get a per-agent limit override
 * of 10^12 tokens (steme_quota_set_limit) before the server starts, since a
 * query costs 6 and one connection does thousands per second.
 *
 * Output, one JSON object per line:
 *   {"bench":"server","system":S,"case":C,"connections":N,"rps":X,"p99_ms":Y}
 *   (plus "errors" and "first_error" when some answers were not the expected
 *   status; those are not counted in rps), then per case at 64 connections
 *   {"bench":"server","system":"ratio","case":C,"connections":64,"steme_over_ceiling":R}.
 * Optional arguments: argv[1] = one case (vote, query, or all), argv[2] = one
 * connection count (then no ratio line unless it is 64).
 */
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../bench/peers/server_ceiling.h"
#include "../bench/peers/server_load.h"
#include "steme/db.h"
#include "steme/quota.h"
#include "steme/sign.h"
#include "steme/votes.h"

#define ASSERTIONS 1000
#define VOTERS 4096
#define VOTE_POOL 32768
#define READERS 64
#define QUERY_CANDIDATES 5
#define WARM_S 0.5

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench server: %s: %s\n", what, why);
    exit(1);
}

/* A deterministic key pair: seed = tag, n (so reruns speak as the same agents). */
static void agent_key(uint32_t tag, uint32_t n, steme_agent_id *pk, steme_secret_key *sk)
{
    uint8_t seed[STEME_SEED_LEN];
    memset(seed, 0x5b, sizeof seed);
    memcpy(seed, &tag, sizeof tag);
    memcpy(seed + 4, &n, sizeof n);
    steme_error e;
    if (steme_keypair_from_seed(seed, pk, sk, &e) != STEME_OK)
        die("keypair", e.message);
}

static void put_assertion(steme_db *db, const char *subject, const char *object, double conf,
                          const steme_agent_id *agent, uint64_t ts, steme_hash *h)
{
    steme_assertion a;
    memset(&a, 0, sizeof a);
    a.subject = subject;
    a.subject_len = strlen(subject);
    a.predicate = "side_effect";
    a.predicate_len = strlen(a.predicate);
    a.object = steme_value_string(object, strlen(object));
    a.confidence = conf;
    a.source_kind = STEME_SOURCE_AGENT;
    a.agent = *agent;
    a.timestamp = ts;
    int created;
    if (steme_db_put_assertion(db, &a, h, &created) != STEME_OK)
        die("put assertion", steme_db_errmsg(db));
}

typedef struct fixture {
    char dir[4096], dbdir[4200];
    steme_hash assertions[ASSERTIONS];
    load_reqs votes, queries;
} fixture;

static char *hex_of(const uint8_t *p, size_t n, char *buf, size_t cap)
{
    steme_hex_encode(p, n, buf, cap);
    return buf;
}

/* The database: vote targets, the query's candidates and votes, reader limits. */
static void load_db(fixture *fx, steme_agent_id readers[READERS])
{
    steme_db_options o;
    steme_db_options_init(&o);
    steme_db *db;
    steme_error e;
    if (steme_db_open(fx->dbdir, &o, &db, &e) != STEME_OK)
        die("open", e.message);
    steme_agent_id author;
    steme_secret_key sk;
    agent_key(1, 0, &author, &sk);
    char subject[64];
    for (int i = 0; i < ASSERTIONS; i++) {
        snprintf(subject, sizeof subject, "bench:drug:%d", i);
        put_assertion(db, subject, "headache", 0.8, &author, 1700000000000ull + (uint64_t)i,
                      &fx->assertions[i]);
    }
    static const char *const objects[QUERY_CANDIDATES] = {"liver injury", "headache",
                                                          "headache", "nausea", "none"};
    for (int i = 0; i < QUERY_CANDIDATES; i++) {
        steme_agent_id who;
        agent_key(2, (uint32_t)i, &who, &sk);
        steme_hash h;
        put_assertion(db, "bench:query", objects[i], 0.5 + 0.1 * i, &who,
                      1700000000000ull + 60000ull * (uint64_t)i, &h);
        for (int v = 0; v <= i; v++) {   /* a few votes, so the vote lens has work */
            steme_vote vt;
            memset(&vt, 0, sizeof vt);
            vt.assertion = h;
            agent_key(3, (uint32_t)v, &vt.voter, &sk);
            vt.weight = v % 2 ? -0.5 : 1.0;
            vt.timestamp = 1700000000000ull + (uint64_t)v;
            steme_hash vh;
            if (steme_votes_put(steme_db_votes(db), &vt, &vh) != STEME_OK)
                die("put vote", steme_db_errmsg(db));
        }
    }
    for (int r = 0; r < READERS; r++) {
        agent_key(4, (uint32_t)r, &readers[r], &sk);
        if (steme_quota_set_limit(steme_db_quota(db), &readers[r], 1000000000000ull) != STEME_OK)
            die("quota limit", steme_db_errmsg(db));
    }
    steme_db_close(db);
}

static void reqs_alloc(load_reqs *rq, size_t n, int per_thread)
{
    rq->req = calloc(n, sizeof *rq->req);
    rq->len = calloc(n, sizeof *rq->len);
    if (!rq->req || !rq->len)
        die("alloc", "out of memory");
    rq->n = n;
    rq->per_thread = per_thread;
    rq->expect_status = 200;
}

static void reqs_set(load_reqs *rq, size_t i, const char *text)
{
    rq->len[i] = strlen(text);
    if (!(rq->req[i] = strdup(text)))
        die("alloc", "out of memory");
}

/* Pre-signed vote requests: signing is done here, never while measuring. */
static void make_votes(fixture *fx)
{
    static steme_agent_id pk[VOTERS];
    static steme_secret_key sk[VOTERS];
    for (uint32_t v = 0; v < VOTERS; v++)
        agent_key(5, v, &pk[v], &sk[v]);
    reqs_alloc(&fx->votes, VOTE_POOL, 0);
    char body[256], req[1024], ahex[65], vhex[65], shex[129];
    for (size_t i = 0; i < VOTE_POOL; i++) {
        size_t v = i % VOTERS;
        size_t a = (i / VOTERS + v * 31u) % ASSERTIONS;   /* distinct per voter */
        int n = snprintf(body, sizeof body,
                         "{\"assertion\":\"%s\",\"weight\":%s,\"timestamp\":%llu}",
                         hex_of(fx->assertions[a].bytes, 32, ahex, sizeof ahex),
                         i % 3 ? "1" : "-0.5", 1700000000000ull + (unsigned long long)i);
        steme_signature sig;
        steme_error e;
        if (steme_sign(&sk[v], body, (size_t)n, &sig, &e) != STEME_OK)
            die("sign", e.message);
        snprintf(req, sizeof req,
                 "POST /v1/votes HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Content-Type: application/json\r\nX-Agent-Id: %s\r\nX-Signature: %s\r\n"
                 "Content-Length: %d\r\n\r\n%s",
                 hex_of(pk[v].bytes, 32, vhex, sizeof vhex),
                 hex_of(sig.bytes, 64, shex, sizeof shex), n, body);
        reqs_set(&fx->votes, i, req);
    }
}

static void make_queries(fixture *fx, const steme_agent_id readers[READERS])
{
    reqs_alloc(&fx->queries, READERS, 1);
    char req[512], hex[65];
    for (size_t r = 0; r < READERS; r++) {
        snprintf(req, sizeof req,
                 "GET /v1/query?subject=bench%%3Aquery&predicate=side_effect&lens=vote "
                 "HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Agent-Id: %s\r\n\r\n",
                 hex_of(readers[r].bytes, 32, hex, sizeof hex));
        reqs_set(&fx->queries, r, req);
    }
}

/* ../steme next to this executable, unless $STEME_BINARY names one. */
static void find_steme(char *out, size_t cap)
{
    const char *env = getenv("STEME_BINARY");
    if (env) {
        snprintf(out, cap, "%s", env);
    } else {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            die("readlink /proc/self/exe", "failed");
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = 0;
        snprintf(out, cap, "%s/../steme", self);
    }
    if (access(out, X_OK) != 0)
        die(out, "no steme program there: build the `steme` target first, or set STEME_BINARY");
}

typedef struct steme_proc {
    pid_t pid;
    uint16_t port;
    unsigned threads;
} steme_proc;

/* Start `steme serve` on 127.0.0.1:0 and read the port and pool size from
 * its first line ("steme serve: listening on http://127.0.0.1:PORT (db ...,
 * N threads, ...)"). */
static void start_steme(const char *bin, const char *dbdir, steme_proc *sp)
{
    int p[2];
    if (pipe(p) != 0)
        die("pipe", "failed");
    pid_t pid = fork();
    if (pid < 0)
        die("fork", "failed");
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(bin, bin, "serve", "--db", dbdir, "--listen", "127.0.0.1:0", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char line[1024];
    if (!f || !fgets(line, sizeof line, f))
        die("steme serve", "exited before printing its address");
    fclose(f);   /* the server's later stdout (none) would get EPIPE: it never writes more */
    const char *at = strstr(line, "127.0.0.1:");
    const char *th = strstr(line, " threads");
    if (!at || !th)
        die("steme serve: unexpected first line", line);
    while (th > line && th[-1] >= '0' && th[-1] <= '9')
        th--;
    sp->pid = pid;
    sp->port = (uint16_t)atoi(at + 10);
    sp->threads = (unsigned)atoi(th);
    if (!sp->port || !sp->threads)
        die("steme serve: cannot read port / threads from", line);
}

static int stop_steme(steme_proc *sp)
{
    kill(sp->pid, SIGTERM);
    int st = 0;
    if (waitpid(sp->pid, &st, 0) != sp->pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench server: steme serve did not exit cleanly (status %d)\n", st);
        return -1;
    }
    return 0;
}

static double run_one(const char *system, const char *cname, uint16_t port, load_reqs *rq,
                      int conns, double secs)
{
    load_result r;
    if (load_run_case(port, rq, conns, WARM_S, secs, &r) != 0)
        die("load", "could not start every connection thread");
    printf("{\"bench\":\"server\",\"system\":\"%s\",\"case\":\"%s\",\"connections\":%d,"
           "\"rps\":%.0f,\"p99_ms\":%.3f",
           system, cname, conns, r.rps, r.p99_ms);
    if (r.errors)
        printf(",\"errors\":%llu,\"first_error\":\"%s\"", (unsigned long long)r.errors,
               r.first_error);
    printf("}\n");
    fflush(stdout);
    return r.rps;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

int main(int argc, char **argv)
{
    const char *only_case = argc > 1 && strcmp(argv[1], "all") != 0 ? argv[1] : NULL;
    int only_conns = argc > 2 ? atoi(argv[2]) : 0;
    double secs = 3.0;
    const char *env = getenv("STEME_BENCH_SECONDS");
    if (env && atof(env) > 0)
        secs = atof(env);
    signal(SIGPIPE, SIG_IGN);
    char bin[4200];
    find_steme(bin, sizeof bin);

    static fixture fx;
    const char *base = getenv("TMPDIR");
    snprintf(fx.dir, sizeof fx.dir, "%s/steme-bench-server.XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(fx.dir))
        die("mkdtemp", fx.dir);
    snprintf(fx.dbdir, sizeof fx.dbdir, "%s/db", fx.dir);
    steme_agent_id readers[READERS];
    load_db(&fx, readers);
    make_votes(&fx);
    make_queries(&fx, readers);

    steme_proc sp;
    start_steme(bin, fx.dbdir, &sp);
    ceiling ce;
    char why[256];
    if (ceiling_start(&ce, sp.threads, why, sizeof why) != 0) {
        stop_steme(&sp);
        die("ceiling", why);
    }

    static const char *const cases[2] = {"vote", "query"};
    static const int conns[2] = {1, 64};
    int failed = 0;
    for (int c = 0; c < 2; c++) {
        if (only_case && strcmp(only_case, cases[c]) != 0)
            continue;
        load_reqs *rq = c == 0 ? &fx.votes : &fx.queries;
        for (int k = 0; k < 2; k++) {
            if (only_conns && only_conns != conns[k])
                continue;
            double s = run_one("steme", cases[c], sp.port, rq, conns[k], secs);
            double ceil_rps = run_one("ceiling", cases[c], ce.port, rq, conns[k], secs);
            if (conns[k] == 64)
                printf("{\"bench\":\"server\",\"system\":\"ratio\",\"case\":\"%s\","
                       "\"connections\":64,\"steme_over_ceiling\":%.2f}\n",
                       cases[c], ceil_rps > 0 ? s / ceil_rps : 0.0);
            fflush(stdout);
        }
    }
    ceiling_stop(&ce);
    if (stop_steme(&sp) != 0)
        failed = 1;
    nftw(fx.dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return failed;
}
