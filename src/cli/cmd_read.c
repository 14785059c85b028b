/* cmd_read.c - `steme get`, `steme list`, `steme verify`: read assertions
 * back, check their hashes and signatures. */
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/keys.h"

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

static void report(void *ctx, const steme_hash *h, int status, const char *why)
{
    (void)ctx;
    char hex[65] = "-";
    if (h)
        steme_hex_encode(h->bytes, 32, hex, sizeof hex);
    fprintf(stderr, "damaged %s: %s (%s)\n", hex, why, steme_errname(status));
}

static int run_verify(int argc, char **argv)
{
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "verify", NULL)) != CLI_OK)
        return rc;
    steme_db *db;
    if ((rc = cli_open_db("verify", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    uint64_t checked = 0, damaged = 0;
    rc = steme_db_verify(db, &checked, &damaged, report, NULL);
    if (rc != STEME_OK && rc != STEME_E_CORRUPT)
        cli_fail(cli_exit_for_status(rc), "verify", "%s", steme_db_errmsg(db));
    steme_db_close(db);
    if (o.json)
        printf("{\"checked\":%llu,\"damaged\":%llu,\"ok\":%s}\n", (unsigned long long)checked,
               (unsigned long long)damaged, rc == STEME_OK ? "true" : "false");
    else
        printf("%llu assertions checked, %llu damaged\n", (unsigned long long)checked,
               (unsigned long long)damaged);
    return rc == STEME_OK ? CLI_OK : rc == STEME_E_CORRUPT ? CLI_DAMAGED : cli_exit_for_status(rc);
}

const cli_cmd cli_cmd_verify = {
    "verify", "check every stored assertion: decoding, content hash, signature; exit 3 on damage",
    "--db DIR [--json]", run_verify};
