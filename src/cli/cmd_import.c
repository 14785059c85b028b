/*
 * cmd_import.c - `steme import`: JSON lines of assertions and votes, in
 * bulk. Bad lines are reported by line number and skipped; good lines are
 * stored.
 *
 * Why worker threads: each put is durable when it returns (a log sync), so
 * one writer spends most of its time waiting for the disk. Several writers
 * share syncs (the log's group commit). Lines are dealt to workers by the
 * assertion they concern (an assertion's content hash, a vote's assertion),
 * so an assertion and the votes on it, and a voter's re-votes, are applied
 * in file order by one worker. A vote read before its assertion (another
 * file order) finds nothing; it is retried once every worker has finished.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "cli/cli_json.h"
#include "steme/sign.h"
#include "steme/votes.h"

#define WORKERS_MAX 32
#define QCAP 128
#define ERRORS_KEPT 1000

typedef struct job {
    json_t *j;
    uint64_t line;
    cli_json_kind kind;
} job;

typedef struct line_error {
    uint64_t line;
    char msg[320];
} line_error;

typedef struct importer importer;

typedef struct worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job q[QCAP];
    size_t head, count;
    int closed;
    importer *imp;
    uint8_t bytes[65536];      /* decoded "bytes" object values */
} worker;

struct importer {
    steme_db *db;
    int have_key;
    steme_secret_key sk;
    steme_agent_id pk;
    pthread_mutex_t mu;        /* guards everything below */
    uint64_t new_assertions, old_assertions, votes, bad;
    line_error *errors;
    size_t nerrors;
    job *deferred;
    size_t ndeferred, deferred_cap;
    int fatal;                 /* an engine error: stop */
    char fatal_msg[256];
};

static void add_error(importer *im, uint64_t line, const char *msg)
{
    pthread_mutex_lock(&im->mu);
    im->bad++;
    if (im->nerrors < ERRORS_KEPT) {
        line_error *e = &im->errors[im->nerrors++];
        e->line = line;
        snprintf(e->msg, sizeof e->msg, "%.310s", msg);
    }
    pthread_mutex_unlock(&im->mu);
}

/* Build the record of jb (signing it with --key when it carries no
 * signature and sign is set: the content hash does not cover the signature,
 * so routing needs no signing). Returns 0 or -1 with why. */
static int build(importer *im, const job *jb, steme_assertion *a, steme_vote *v, uint8_t *bytes,
                 int sign, char *why, size_t cap)
{
    int is_signed = 0, has_agent;
    steme_error e;
    if (jb->kind == CLI_JSON_ASSERTION) {
        if (cli_json_to_assertion(jb->j, a, bytes, 65536, &is_signed, why, cap))
            return -1;
        has_agent = json_object_get(jb->j, "agent") != NULL;
        if (!is_signed && im->have_key) {
            if (has_agent && memcmp(a->agent.bytes, im->pk.bytes, 32) != 0)
                return snprintf(why, cap, "\"agent\" is not the --key's agent"), -1;
            a->agent = im->pk;
            if (sign && steme_assertion_sign(a, &im->sk, &e) != STEME_OK)
                return snprintf(why, cap, "%s", e.message), -1;
        } else if (!is_signed && !has_agent) {
            return snprintf(why, cap, "no \"agent\" (and no --key to sign with)"), -1;
        }
        return 0;
    }
    if (cli_json_to_vote(jb->j, v, &is_signed, why, cap))
        return -1;
    has_agent = json_object_get(jb->j, "voter") != NULL;
    if (!is_signed && im->have_key) {
        if (has_agent && memcmp(v->voter.bytes, im->pk.bytes, 32) != 0)
            return snprintf(why, cap, "\"voter\" is not the --key's agent"), -1;
        v->voter = im->pk;
        if (sign && steme_vote_sign(v, &im->sk, &e) != STEME_OK)
            return snprintf(why, cap, "%s", e.message), -1;
    } else if (!is_signed && !has_agent) {
        return snprintf(why, cap, "no \"voter\" (and no --key to sign with)"), -1;
    }
    return 0;
}

/* Store one line. final = 0: a vote on an unknown assertion is deferred. */
static void apply(importer *im, job *jb, uint8_t *bytes, int final)
{
    steme_assertion a;
    steme_vote v;
    char why[320];
    if (build(im, jb, &a, &v, bytes, 1, why, sizeof why) != 0) {
        add_error(im, jb->line, why);
        json_decref(jb->j);
        return;
    }
    int created = 0, s;
    if (jb->kind == CLI_JSON_ASSERTION) {
        steme_hash h;
        s = steme_db_put_assertion(im->db, &a, &h, &created);
        const char *claimed = json_string_value(json_object_get(jb->j, "hash"));
        char hex[65];
        if (s == STEME_OK && claimed && strcmp(claimed, cli_hex(h.bytes, 32, hex, sizeof hex))) {
            /* Stored all the same (its content is valid), but say so. */
            snprintf(why, sizeof why, "stored, but its content hashes to %s, not \"hash\"", hex);
            add_error(im, jb->line, why);
        }
    } else {
        s = steme_votes_put(steme_db_votes(im->db), &v, NULL);
        if (s == STEME_E_NOTFOUND && !final) {
            pthread_mutex_lock(&im->mu);
            if (im->ndeferred == im->deferred_cap) {
                size_t cap = im->deferred_cap ? 2 * im->deferred_cap : 64;
                job *d = realloc(im->deferred, cap * sizeof *d);
                if (d)
                    im->deferred = d, im->deferred_cap = cap;
            }
            int kept = im->ndeferred < im->deferred_cap;
            if (kept)
                im->deferred[im->ndeferred++] = *jb;
            pthread_mutex_unlock(&im->mu);
            if (kept)
                return;
        }
    }
    if (s == STEME_OK) {
        pthread_mutex_lock(&im->mu);
        if (jb->kind == CLI_JSON_VOTE)
            im->votes++;
        else if (created)
            im->new_assertions++;
        else
            im->old_assertions++;
        pthread_mutex_unlock(&im->mu);
    } else if (steme_status_family_of(s) == STEME_FAMILY_INVALID ||
               steme_status_family_of(s) == STEME_FAMILY_NOTFOUND) {
        snprintf(why, sizeof why, "%.300s", steme_db_errmsg(im->db));
        add_error(im, jb->line, why);
    } else {
        pthread_mutex_lock(&im->mu);
        if (!im->fatal)
            snprintf(im->fatal_msg, sizeof im->fatal_msg, "line %" PRIu64 ": %s", jb->line,
                     steme_db_errmsg(im->db));
        im->fatal = s;
        pthread_mutex_unlock(&im->mu);
    }
    json_decref(jb->j);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->count == 0 && !w->closed)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->count == 0) {
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        job jb = w->q[w->head];
        w->head = (w->head + 1) % QCAP;
        w->count--;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        apply(w->imp, &jb, w->bytes, 0);
    }
}

static void submit(worker *w, job jb)
{
    pthread_mutex_lock(&w->mu);
    while (w->count == QCAP)
        pthread_cond_wait(&w->cv, &w->mu);
    w->q[(w->head + w->count) % QCAP] = jb;
    w->count++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* The worker a line goes to: by the assertion it concerns. */
static int route(importer *im, const job *jb, uint8_t *bytes, char *why, size_t cap)
{
    steme_assertion a;
    steme_vote v;
    if (build(im, jb, &a, &v, bytes, 0, why, cap) != 0)
        return -1;
    if (jb->kind == CLI_JSON_VOTE)
        return v.assertion.bytes[0] | v.assertion.bytes[1] << 8;
    steme_hash h;
    steme_error e;
    if (steme_assertion_hash(&a, &h, &e) != STEME_OK)
        return snprintf(why, cap, "%s", e.message), -1;
    return h.bytes[0] | h.bytes[1] << 8;
}

static void progress(uint64_t done, uint64_t total, uint64_t lines, int final)
{
    int pct = total ? (int)(done * 100 / total) : 0, width = 30, fill = pct * width / 100;
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : ' ';
    bar[width] = 0;
    if (total)
        fprintf(stderr, "\r[%s] %3d%%  %" PRIu64 " lines", bar, pct, lines);
    else
        fprintf(stderr, "\r%" PRIu64 " lines", lines);
    if (final)
        fprintf(stderr, "\r%*s\r", 60, "");
}

static int by_line(const void *x, const void *y)
{
    const line_error *a = x, *b = y;
    return a->line < b->line ? -1 : a->line > b->line;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Read, parse and deal out every line; returns CLI_OK or an exit code. */
static int feed(importer *im, FILE *in, uint64_t total, worker *w, int nw, int show, int *lines_out)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0, done = 0;
    struct timespec t0, last;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    last = t0;
    static uint8_t bytes[65536];
    char why[320];
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        done += (uint64_t)n;
        if (show && seconds_since(&last) > 0.1) {
            progress(done, total, lineno, 0);
            clock_gettime(CLOCK_MONOTONIC, &last);
        }
        size_t i = 0;
        while (i < (size_t)n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' ||
                                 line[i] == '\n'))
            i++;
        if (i == (size_t)n || line[i] == '#') /* blank lines and comments */
            continue;
        json_error_t je;
        job jb = {json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &je), lineno, 0};
        if (!jb.j) {
            snprintf(why, sizeof why, "not JSON: %.200s (column %d)", je.text, je.column);
            add_error(im, lineno, why);
            continue;
        }
        if ((jb.kind = cli_json_kind_of(jb.j)) == CLI_JSON_BAD) {
            add_error(im, lineno, "neither an assertion nor a vote (\"type\")");
            json_decref(jb.j);
            continue;
        }
        int r = route(im, &jb, bytes, why, sizeof why);
        if (r < 0) {
            add_error(im, lineno, why);
            json_decref(jb.j);
            continue;
        }
        submit(&w[r % nw], jb);
        if (im->fatal)
            break;
    }
    free(line);
    *lines_out = (int)(lineno > INT32_MAX ? INT32_MAX : lineno);
    if (show)
        progress(done, total, lineno, 1);
    if (ferror(in))
        return cli_fail(CLI_ERROR, "import", "read error: %s", strerror(errno));
    return CLI_OK;
}

static int run_import(int argc, char **argv)
{
    static const char *const known[] = {"key", "threads", "quiet", NULL};
    static const char *const flags[] = {"quiet", NULL};
    cli_opts o;
    int rc = cli_parse(argc, argv, flags, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "import", known)) != CLI_OK)
        return rc;
    if (o.npos != 1)
        return cli_fail(CLI_USAGE, "import", "give one FILE of JSON lines (- for stdin)");
    unsigned long long nthreads = 8;
    if ((rc = cli_get_u64(&o, "threads", &nthreads, 0)) != CLI_OK)
        return rc;
    if (nthreads < 1 || nthreads > WORKERS_MAX)
        return cli_fail(CLI_USAGE, "import", "--threads is 1..%d", WORKERS_MAX);
    static importer im;
    memset(&im, 0, sizeof im);
    const char *keyfile = cli_get(&o, "key");
    if (keyfile && (rc = cli_load_key("import", keyfile, &im.sk, &im.pk)) != CLI_OK)
        return rc;
    im.have_key = keyfile != NULL;
    FILE *in = strcmp(o.pos[0], "-") == 0 ? stdin : fopen(o.pos[0], "r");
    if (!in) {
        steme_secret_key_wipe(&im.sk);
        return cli_fail(errno == ENOENT ? CLI_USAGE : CLI_ERROR, "import", "%s: %s", o.pos[0],
                        strerror(errno));
    }
    struct stat st;
    uint64_t total = fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    steme_db *db;
    if ((rc = cli_open_db("import", cli_get(&o, "db"), 1, &db)) != CLI_OK) {
        if (in != stdin)
            fclose(in);
        steme_secret_key_wipe(&im.sk);
        return rc;
    }
    im.db = db;
    im.errors = malloc(ERRORS_KEPT * sizeof *im.errors);
    worker *w = calloc(nthreads, sizeof *w);
    if (!im.errors || !w) {
        free(im.errors), free(w);
        steme_db_close(db);
        return cli_fail(CLI_ERROR, "import", "out of memory");
    }
    pthread_mutex_init(&im.mu, NULL);
    int nw = 0;
    for (; nw < (int)nthreads; nw++) {
        w[nw].imp = &im;
        pthread_mutex_init(&w[nw].mu, NULL);
        pthread_cond_init(&w[nw].cv, NULL);
        if (pthread_create(&w[nw].thread, NULL, worker_main, &w[nw]) != 0)
            break;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int lines = 0;
    rc = nw ? feed(&im, in, total, w, nw, isatty(2) && !cli_has(&o, "quiet"), &lines)
            : cli_fail(CLI_ERROR, "import", "cannot start threads");
    for (int i = 0; i < nw; i++) {
        pthread_mutex_lock(&w[i].mu);
        w[i].closed = 1;
        pthread_cond_broadcast(&w[i].cv);
        pthread_mutex_unlock(&w[i].mu);
        pthread_join(w[i].thread, NULL);
        pthread_mutex_destroy(&w[i].mu);
        pthread_cond_destroy(&w[i].cv);
    }
    /* Votes that arrived before their assertion: every assertion is in now. */
    for (size_t i = 0; i < im.ndeferred; i++)
        if (!im.fatal)
            apply(&im, &im.deferred[i], w[0].bytes, 1);
        else
            json_decref(im.deferred[i].j);
    double secs = seconds_since(&t0);
    if (in != stdin)
        fclose(in);
    steme_secret_key_wipe(&im.sk);
    steme_db_close(db);
    qsort(im.errors, im.nerrors, sizeof *im.errors, by_line);
    for (size_t i = 0; i < im.nerrors; i++) {
        if (o.json) {
            printf("{\"type\":\"error\",\"line\":%" PRIu64 ",\"message\":", im.errors[i].line);
            cli_json_str(stdout, im.errors[i].msg, strlen(im.errors[i].msg));
            printf("}\n");
        } else {
            fprintf(stderr, "steme import: line %" PRIu64 ": %s\n", im.errors[i].line,
                    im.errors[i].msg);
        }
    }
    if (!o.json && im.bad > im.nerrors)
        fprintf(stderr, "steme import: ... and %" PRIu64 " more bad lines\n", im.bad - im.nerrors);
    uint64_t stored = im.new_assertions + im.old_assertions + im.votes;
    if (o.json)
        printf("{\"type\":\"summary\",\"lines\":%d,\"assertions_new\":%" PRIu64
               ",\"assertions_existing\":%" PRIu64 ",\"votes\":%" PRIu64 ",\"bad_lines\":%" PRIu64
               ",\"seconds\":%.3f}\n",
               lines, im.new_assertions, im.old_assertions, im.votes, im.bad, secs);
    else
        printf("imported %" PRIu64 " assertions (%" PRIu64 " new, %" PRIu64
               " already stored) and %" PRIu64 " votes from %d lines in %.2f s (%.0f/s); "
               "%" PRIu64 " bad lines\n",
               im.new_assertions + im.old_assertions, im.new_assertions, im.old_assertions,
               im.votes, lines, secs, secs > 0 ? (double)stored / secs : 0.0, im.bad);
    if (im.fatal)
        rc = cli_fail(cli_exit_for_status(im.fatal), "import", "stopped: %s", im.fatal_msg);
    free(im.errors), free(im.deferred), free(w);
    pthread_mutex_destroy(&im.mu);
    if (rc != CLI_OK)
        return rc;
    return im.bad ? CLI_FAIL : CLI_OK;
}

const cli_cmd cli_cmd_import = {
    "import", "load assertions and votes from JSON lines, in bulk (the export format)",
    "--db DIR FILE|- [--key FILE] [--threads N (default 8)] [--quiet] [--json]\n"
    "One JSON object per line: {\"type\":\"assertion\",...} or {\"type\":\"vote\",...}\n"
    "(see docs/cli.md; `steme export` writes this format). Blank lines and lines\n"
    "starting with # are skipped. Signed records are verified; unsigned ones are\n"
    "signed with --key when given, else stored unsigned under their \"agent\" /\n"
    "\"voter\". Bad lines are reported by line number (stderr; --json: one\n"
    "{\"type\":\"error\",\"line\":N,...} line each on stdout) and skipped: the good\n"
    "lines are stored. A progress bar is drawn on stderr when it is a terminal;\n"
    "a summary ends the run. Exit 0 when every line was stored, 1 when some were\n"
    "bad. Imports are not charged by the Meter (an operator's bulk load).",
    run_import};
