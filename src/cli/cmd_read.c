/* cmd_read.c - `steme get`, `steme list`, `steme verify`: read assertions
 * back, check their hashes and signatures. */
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/keys.h"
#include "steme/votes.h"

const char *cli_sig_status(const steme_assertion *a)
{
    if (!a->has_signature)
        return "unsigned";
    return steme_assertion_verify(a, NULL) == STEME_OK ? "valid" : "INVALID";
}

static int run_get(int argc, char **argv)
{
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "get", NULL)) != CLI_OK)
        return rc;
    if (o.npos != 1)
        return cli_fail(CLI_USAGE, "get", "give one assertion hash (64 hex digits)");
    steme_hash h;
    steme_error e;
    if (steme_hex_decode(o.pos[0], strlen(o.pos[0]), h.bytes, sizeof h.bytes, &e) != STEME_OK)
        return cli_fail(CLI_USAGE, "get", "%s", e.message);
    steme_db *db;
    if ((rc = cli_open_db("get", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    steme_buf buf = STEME_BUF_INIT;
    steme_assertion a;
    rc = steme_db_get_assertion(db, &h, &buf, &a);
    if (rc == STEME_OK)
        cli_print_assertion(stdout, &h, &a, o.json, cli_sig_status(&a));
    else
        cli_fail(cli_exit_for_status(rc), "get", "%s", steme_db_errmsg(db));
    steme_buf_free(&buf);
    steme_db_close(db);
    return cli_exit_for_status(rc);
}

const cli_cmd cli_cmd_get = {"get", "read an assertion by its content hash and check it",
                             "--db DIR HASH [--json]", run_get};

typedef struct list_ctx {
    int json;
    size_t n;
} list_ctx;

static int print_one(void *ctx, const steme_hash *h, const steme_assertion *a)
{
    list_ctx *c = ctx;
    if (!c->json && c->n)
        printf("\n");
    cli_print_assertion(stdout, h, a, c->json, cli_sig_status(a));
    c->n++;
    return 0;
}

static int run_list(int argc, char **argv)
{
    static const char *const known[] = {"subject", "predicate", "limit", NULL};
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "list", known)) != CLI_OK)
        return rc;
    const char *subject = cli_require(&o, "list", "subject");
    if (!subject)
        return CLI_USAGE;
    const char *pred = cli_get(&o, "predicate");
    unsigned long long limit = 0;
    if ((rc = cli_get_u64(&o, "limit", &limit, 0)) != CLI_OK)
        return rc;
    steme_db *db;
    if ((rc = cli_open_db("list", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    steme_list_cursor cur;
    memset(&cur, 0, sizeof cur);
    list_ctx c = {o.json, 0};
    rc = steme_db_list_assertions(db, subject, strlen(subject), pred, pred ? strlen(pred) : 0,
                                  (size_t)limit, &cur, print_one, &c, NULL);
    if (rc != STEME_OK)
        cli_fail(cli_exit_for_status(rc), "list", "%s", steme_db_errmsg(db));
    steme_db_close(db);
    return cli_exit_for_status(rc);
}

const cli_cmd cli_cmd_list = {
    "list", "list the assertions about a subject (and predicate), newest first",
    "--db DIR --subject S [--predicate P] [--limit N] [--json]", run_list};

/* ---------------------------------------------------------------- verify */

typedef struct verify_ctx {
    steme_db *db;
    int json;
    uint64_t caches, bad_caches, votes, bad_votes;
    const steme_hash *current;
    int status;                /* first engine error, stops the walk */
} verify_ctx;

static void damage(verify_ctx *c, const steme_hash *h, const char *why, const char *detail)
{
    char hex[65] = "-";
    if (h)
        steme_hex_encode(h->bytes, 32, hex, sizeof hex);
    if (c->json) {
        printf("{\"type\":\"damage\",\"hash\":\"%s\",\"problem\":", hex);
        cli_json_str(stdout, why, strlen(why));
        printf(",\"detail\":");
        cli_json_str(stdout, detail, strlen(detail));
        printf("}\n");
    } else {
        fprintf(stderr, "damaged %s: %s (%s)\n", hex, why, detail);
    }
}

static void report(void *ctx, const steme_hash *h, int status, const char *why)
{
    damage(ctx, h, why, steme_errname(status));
}

static int check_vote(void *ctx, const steme_vote *v)
{
    verify_ctx *c = ctx;
    c->votes++;
    if (v->has_signature && steme_vote_verify(v, NULL) != STEME_OK) {
        c->bad_votes++;
        char voter[65], detail[100];
        snprintf(detail, sizeof detail, "voter %s", cli_hex(v->voter.bytes, 32, voter, 65));
        damage(c, c->current, "vote signature does not verify", detail);
    }
    return 0;
}

/* The caches of h against a recount of its vote records, and each vote's
 * signature. Damage is reported and counted; only engine errors stop. */
static int check_votes(void *ctx, const steme_hash *h)
{
    verify_ctx *c = ctx;
    steme_votes *vs = steme_db_votes(c->db);
    uint64_t n1 = 0, n2 = 0;
    int64_t w1 = 0, w2 = 0;
    c->caches++;
    c->current = h;
    int s = steme_votes_totals(vs, h, &n1, &w1);
    if (s == STEME_OK)
        s = steme_votes_recount(vs, h, &n2, &w2);
    if (s == STEME_OK) {
        steme_vote_cursor cur;
        memset(&cur, 0, sizeof cur);
        s = steme_votes_list(vs, h, 0, &cur, check_vote, c);
    }
    if (s == STEME_OK && (n1 != n2 || w1 != w2)) {
        char detail[160];
        snprintf(detail, sizeof detail, "cache count %llu weight %.6f, recount %llu weight %.6f",
                 (unsigned long long)n1, (double)w1 / STEME_VOTE_WEIGHT_ONE,
                 (unsigned long long)n2, (double)w2 / STEME_VOTE_WEIGHT_ONE);
        c->bad_caches++;
        damage(c, h, "vote cache differs from its recount", detail);
    } else if (steme_status_family_of(s) == STEME_FAMILY_CORRUPT ||
               steme_status_family_of(s) == STEME_FAMILY_NOTFOUND) {
        c->bad_caches++;
        damage(c, h, "votes unreadable", steme_db_errmsg(c->db));
    } else if (s != STEME_OK) {
        c->status = s;
        return 1;
    }
    return 0;
}

static int run_verify(int argc, char **argv)
{
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "verify", NULL)) != CLI_OK)
        return rc;
    if (o.npos)
        return cli_fail(CLI_USAGE, "verify", "unexpected argument '%s'", o.pos[0]);
    steme_db *db;
    if ((rc = cli_open_db("verify", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    verify_ctx c;
    memset(&c, 0, sizeof c);
    c.db = db, c.json = o.json;
    uint64_t checked = 0, damaged = 0;
    int s = steme_db_verify(db, &checked, &damaged, report, &c);
    if (s == STEME_OK || s == STEME_E_CORRUPT) {
        int s2 = steme_db_scan_assertions(db, check_votes, &c);
        if (s2 == STEME_OK)
            s2 = c.status;
        if (s2 != STEME_OK && s2 != STEME_E_CORRUPT)
            s = s2;
        else if (s2 == STEME_E_CORRUPT)
            damaged++;
    }
    if (s != STEME_OK && s != STEME_E_CORRUPT) {
        rc = cli_db_fail(db, "verify", s);
        steme_db_close(db);
        return rc;
    }
    steme_db_close(db);
    int ok = damaged == 0 && c.bad_caches == 0 && c.bad_votes == 0;
    if (o.json)
        printf("{\"type\":\"summary\",\"checked\":%llu,\"damaged\":%llu,\"vote_caches\":%llu,"
               "\"bad_caches\":%llu,\"votes\":%llu,\"bad_votes\":%llu,\"ok\":%s}\n",
               (unsigned long long)checked, (unsigned long long)damaged,
               (unsigned long long)c.caches, (unsigned long long)c.bad_caches,
               (unsigned long long)c.votes, (unsigned long long)c.bad_votes,
               ok ? "true" : "false");
    else
        printf("%llu assertions checked, %llu damaged\n"
               "%llu vote caches recounted, %llu wrong; %llu votes checked, %llu bad signatures\n"
               "%s\n",
               (unsigned long long)checked, (unsigned long long)damaged,
               (unsigned long long)c.caches, (unsigned long long)c.bad_caches,
               (unsigned long long)c.votes, (unsigned long long)c.bad_votes,
               ok ? "OK" : "DAMAGED");
    return ok ? CLI_OK : CLI_DAMAGED;
}

const cli_cmd cli_cmd_verify = {
    "verify", "check every assertion (decoding, hash, signature) and every vote cache; exit 3 "
              "on damage",
    "--db DIR [--json]\n"
    "Checks each stored assertion's bytes, content hash, locator and signature;\n"
    "then, for each assertion, recounts its votes and compares the count and weight\n"
    "with the O(1) caches, and checks every vote's signature. Damage is listed on\n"
    "stderr (--json: {\"type\":\"damage\",...} lines on stdout), then a summary\n"
    "(--json: one {\"type\":\"summary\",...,\"ok\":BOOL} line). Exit 0 when all is\n"
    "well, 3 when anything is damaged.",
    run_verify};
