/* cmd_quota.c - `steme quota`: The Meter's per-agent hourly token budget:
 * status, set or clear an agent's limit. */
#include <inttypes.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/quota.h"

static int run_quota(int argc, char **argv)
{
    static const char *const known[] = {"time", NULL};
    static const char *const subs[] = {"status", "set", "clear", NULL};
    static const int nargs[] = {1, 2, 1};
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "quota", known)) != CLI_OK)
        return rc;
    int sub = cli_subcommand(&o, "quota", subs);
    if (sub < 0)
        return CLI_USAGE;
    if (o.npos != 1 + nargs[sub])
        return cli_fail(CLI_USAGE, "quota", "%s takes %d argument%s (see steme quota --help)",
                        subs[sub], nargs[sub], nargs[sub] == 1 ? "" : "s");
    steme_agent_id agent;
    uint64_t now = 0;
    unsigned long long limit = 0;
    if ((rc = cli_parse_agent("quota", o.pos[1], &agent)) != CLI_OK ||
        (rc = cli_get_time(&o, "time", &now)) != CLI_OK)
        return rc;
    if (sub == 1) {
        cli_opts tmp = o;   /* reuse the number parser on the positional */
        tmp.names[0] = "limit", tmp.values[0] = o.pos[2], tmp.n = 1;
        if ((rc = cli_get_u64(&tmp, "limit", &limit, 1)) != CLI_OK)
            return rc;
        if (limit == 0)
            return cli_fail(CLI_USAGE, "quota", "a limit of 0 tokens: use `quota clear` to "
                                                "return to the default");
    }
    steme_db *db;
    if ((rc = cli_open_db("quota", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    steme_quota *q = steme_db_quota(db);
    int s = STEME_OK;
    if (sub >= 1)
        s = steme_quota_set_limit(q, &agent, sub == 1 ? (uint64_t)limit : 0);
    steme_quota_status st;
    if (s == STEME_OK)
        s = steme_quota_get_status(q, &agent, now, &st);
    if (s == STEME_OK && o.json) {
        printf("{\"agent\":\"%s\",\"limit\":%" PRIu64 ",\"override\":%s,\"used\":%" PRIu64
               ",\"remaining\":%" PRIu64 ",\"reset_at\":%" PRIu64 ",\"asserts\":%" PRIu64
               ",\"votes\":%" PRIu64 ",\"queries\":%" PRIu64 "}\n",
               cli_hex(agent.bytes, 32, (char[65]){0}, 65), st.limit,
               st.is_override ? "true" : "false", st.used, st.remaining, st.reset_at,
               st.assert_ops, st.vote_ops, st.query_ops);
    } else if (s == STEME_OK) {
        printf("limit       %" PRIu64 " tokens/hour%s\nused        %" PRIu64
               "\nremaining   %" PRIu64 "\nresets at   %" PRIu64
               "\nthis hour   %" PRIu64 " asserts, %" PRIu64 " votes, %" PRIu64 " queries\n",
               st.limit, st.is_override ? " (agent's own limit)" : " (default)", st.used,
               st.remaining, st.reset_at, st.assert_ops, st.vote_ops, st.query_ops);
    }
    rc = s == STEME_OK ? CLI_OK : cli_db_fail(db, "quota", s);
    steme_db_close(db);
    return rc;
}

const cli_cmd cli_cmd_quota = {
    "quota", "The Meter: an agent's hourly token budget; set or clear its own limit",
    "SUBCOMMAND AGENT --db DIR [--time UNIX_MS] [--json]\n"
    "  status AGENT          budget in the hour of --time (default now)\n"
    "  set AGENT TOKENS      give the agent its own limit (tokens per hour)\n"
    "  clear AGENT           back to the default limit (10000)\n"
    "Costs: assert 10, vote 1, query 5 + 1 per lens, + 1 per KiB of payload.\n"
    "Every subcommand prints the resulting status (--json: one object).",
    run_quota};
