/* cmd_vote.c - `steme vote` (cast a signed vote on an assertion) and
 * `steme votes` (list an assertion's standing votes and their totals). */
#include <inttypes.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/sign.h"
#include "steme/votes.h"

static int run_vote(int argc, char **argv)
{
    static const char *const known[] = {"key", "weight", "up", "down", "time", NULL};
    static const char *const flags[] = {"up", "down", NULL};
    cli_opts o;
    int rc = cli_parse(argc, argv, flags, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "vote", known)) != CLI_OK)
        return rc;
    const char *keyfile = cli_require(&o, "vote", "key");
    if (!keyfile)
        return CLI_USAGE;
    if (o.npos != 1)
        return cli_fail(CLI_USAGE, "vote", "give one assertion hash");
    steme_vote v;
    memset(&v, 0, sizeof v);
    if ((rc = cli_parse_hash("vote", o.pos[0], &v.assertion)) != CLI_OK)
        return rc;
    v.weight = 1.0;
    int given = cli_has(&o, "up") + cli_has(&o, "down") + cli_has(&o, "weight");
    if (given > 1)
        return cli_fail(CLI_USAGE, "vote", "give one of --up, --down, --weight W");
    if (cli_has(&o, "down"))
        v.weight = -1.0;
    if ((rc = cli_get_double(&o, "weight", &v.weight, 0)) != CLI_OK)
        return rc;
    if (v.weight < -1.0 || v.weight > 1.0)
        return cli_fail(CLI_USAGE, "vote", "--weight must be in [-1, 1]");
    if ((rc = cli_get_time(&o, "time", &v.timestamp)) != CLI_OK)
        return rc;
    steme_secret_key sk;
    if ((rc = cli_load_key("vote", keyfile, &sk, &v.voter)) != CLI_OK)
        return rc;
    steme_error e;
    int s = steme_vote_sign(&v, &sk, &e);
    steme_secret_key_wipe(&sk);
    if (s != STEME_OK)
        return cli_fail(cli_exit_for_status(s), "vote", "%s", e.message);

    steme_db *db;
    if ((rc = cli_open_db("vote", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    if ((rc = cli_charge(db, "vote", &v.voter, STEME_QUOTA_VOTE, 0, cli_now_ms())) != CLI_OK) {
        steme_db_close(db);
        return rc;
    }
    steme_votes *vs = steme_db_votes(db);
    steme_hash vh;
    uint64_t count = 0;
    double weight = 0;
    if ((s = steme_votes_put(vs, &v, &vh)) != STEME_OK ||
        (s = steme_votes_count(vs, &v.assertion, &count)) != STEME_OK ||
        (s = steme_votes_weight(vs, &v.assertion, &weight)) != STEME_OK) {
        rc = cli_db_fail(db, "vote", s);
        steme_db_close(db);
        return rc;
    }
    steme_db_close(db);
    char hex[65];
    if (o.json) {
        printf("{\"vote\":\"%s\",\"assertion\":\"%s\",\"weight\":",
               cli_hex(vh.bytes, 32, hex, sizeof hex), o.pos[0]);
        cli_print_double(stdout, v.weight);
        printf(",\"count\":%" PRIu64 ",\"total_weight\":", count);
        cli_print_double(stdout, weight);
        printf("}\n");
    } else {
        printf("vote %s (weight %g); assertion now has %" PRIu64 " votes, weight %g\n",
               cli_hex(vh.bytes, 32, hex, sizeof hex), v.weight, count, weight);
    }
    return CLI_OK;
}

const cli_cmd cli_cmd_vote = {
    "vote", "cast (or replace) an agent's signed vote on an assertion",
    "--db DIR --key FILE HASH [--up | --down | --weight W] [--time UNIX_MS] [--json]\n"
    "  --up       weight +1 (the default)\n"
    "  --down     weight -1\n"
    "  --weight   any weight in [-1, 1]; negative is against\n"
    "One standing vote per agent and assertion: voting again replaces it. The vote\n"
    "is signed with the key, charged by the Meter (1 token; exit 5 when refused)\n"
    "and durable when the command returns. Output: the vote's hash and the\n"
    "assertion's new totals (--json: one object).",
    run_vote};

typedef struct votes_ctx {
    int json;
    const char *assertion;
    size_t n;
} votes_ctx;

static int print_vote(void *ctx, const steme_vote *v)
{
    votes_ctx *c = ctx;
    const char *sig = !v->has_signature ? "unsigned"
                      : steme_vote_verify(v, NULL) == STEME_OK ? "valid" : "INVALID";
    char voter[65];
    cli_hex(v->voter.bytes, 32, voter, sizeof voter);
    if (c->json) {
        printf("{\"type\":\"vote\",\"assertion\":\"%s\",\"voter\":\"%s\",\"weight\":",
               c->assertion, voter);
        cli_print_double(stdout, v->weight);
        printf(",\"timestamp\":%" PRIu64 ",\"signature\":\"%s\"}\n", v->timestamp, sig);
    } else {
        if (c->n == 0)
            printf("%-8s %-14s %-9s %s\n", "WEIGHT", "TIME", "SIGNATURE", "VOTER");
        printf("%-8g %-14" PRIu64 " %-9s %s\n", v->weight, v->timestamp, sig, voter);
    }
    c->n++;
    return 0;
}

static int run_votes(int argc, char **argv)
{
    static const char *const known[] = {"limit", NULL};
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "votes", known)) != CLI_OK)
        return rc;
    if (o.npos != 1)
        return cli_fail(CLI_USAGE, "votes", "give one assertion hash");
    steme_hash h;
    unsigned long long limit = 0;
    if ((rc = cli_parse_hash("votes", o.pos[0], &h)) != CLI_OK ||
        (rc = cli_get_u64(&o, "limit", &limit, 0)) != CLI_OK)
        return rc;
    steme_db *db;
    if ((rc = cli_open_db("votes", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    steme_votes *vs = steme_db_votes(db);
    votes_ctx c = {o.json, o.pos[0], 0};
    steme_vote_cursor cur;
    memset(&cur, 0, sizeof cur);
    uint64_t count = 0;
    double weight = 0;
    int s = steme_votes_list(vs, &h, (size_t)limit, &cur, print_vote, &c);
    if (s == STEME_OK)
        s = steme_votes_count(vs, &h, &count);
    if (s == STEME_OK)
        s = steme_votes_weight(vs, &h, &weight);
    if (s != STEME_OK) {
        rc = cli_db_fail(db, "votes", s);
        steme_db_close(db);
        return rc;
    }
    steme_db_close(db);
    if (o.json) {
        printf("{\"type\":\"totals\",\"assertion\":\"%s\",\"count\":%" PRIu64 ",\"weight\":",
               o.pos[0], count);
        cli_print_double(stdout, weight);
        printf("}\n");
    } else {
        printf("%s%" PRIu64 " standing votes, aggregate weight %g\n", c.n ? "\n" : "", count,
               weight);
    }
    return CLI_OK;
}

const cli_cmd cli_cmd_votes = {
    "votes", "list an assertion's standing votes, with their count and aggregate weight",
    "--db DIR HASH [--limit N] [--json]\n"
    "Votes are listed by voter id, each with its signature checked. The totals come\n"
    "from the O(1) caches. --json: one {\"type\":\"vote\",...} line per vote, then one\n"
    "{\"type\":\"totals\",\"count\":N,\"weight\":W} line.",
    run_votes};
