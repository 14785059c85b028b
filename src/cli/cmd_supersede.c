/* cmd_supersede.c - `steme supersede`: record that a correction supersedes
 * an assertion, show a supersession, walk a chain to its head. */
#include <inttypes.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/supersession.h"

static int run_supersede(int argc, char **argv)
{
    static const char *const known[] = {"reason", "agent", "time", NULL};
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "supersede", known)) != CLI_OK)
        return rc;
    int head = o.npos == 2 && strcmp(o.pos[0], "head") == 0;
    int show = o.npos == 2 && strcmp(o.pos[0], "show") == 0;
    if (!head && !show && o.npos != 2)
        return cli_fail(CLI_USAGE, "supersede", "give OLD NEW, or head HASH, or show HASH");
    steme_hash a, b;
    if ((rc = cli_parse_hash("supersede", o.pos[head || show ? 1 : 0], &a)) != CLI_OK)
        return rc;
    steme_agent_id agent;
    uint64_t ts = 0;
    const char *reason = cli_get(&o, "reason");
    if (!head && !show) {
        const char *who = cli_require(&o, "supersede", "agent");
        if (!who || !cli_require(&o, "supersede", "reason"))
            return CLI_USAGE;
        if ((rc = cli_parse_hash("supersede", o.pos[1], &b)) != CLI_OK ||
            (rc = cli_parse_agent("supersede", who, &agent)) != CLI_OK ||
            (rc = cli_get_time(&o, "time", &ts)) != CLI_OK)
            return rc;
    }
    steme_db *db;
    if ((rc = cli_open_db("supersede", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    steme_supersessions *ss = steme_db_supersessions(db);
    int s;
    char h1[65], h2[65];
    if (head) {
        size_t links = 0;
        if ((s = steme_supersession_head(ss, &a, &b, &links)) == STEME_OK) {
            cli_hex(b.bytes, 32, h2, sizeof h2);
            if (o.json)
                printf("{\"hash\":\"%s\",\"head\":\"%s\",\"links\":%zu}\n", o.pos[1], h2, links);
            else
                printf("%s%s\n", h2, links ? "" : "  (not superseded)");
        }
    } else if (show) {
        steme_buf buf = STEME_BUF_INIT;
        steme_supersession r;
        if ((s = steme_supersession_get(ss, &a, &buf, &r)) == STEME_OK) {
            cli_hex(r.new_hash.bytes, 32, h2, sizeof h2);
            char ag[65];
            cli_hex(r.agent.bytes, 32, ag, sizeof ag);
            if (o.json) {
                printf("{\"old\":\"%s\",\"new\":\"%s\",\"agent\":\"%s\",\"timestamp\":%" PRIu64
                       ",\"reason\":",
                       o.pos[1], h2, ag, r.timestamp);
                cli_json_str(stdout, r.reason ? r.reason : "", r.reason_len);
                printf("}\n");
            } else {
                printf("old     %s\nnew     %s\nby      %s\ntime    %" PRIu64 "\nreason  %.*s\n",
                       o.pos[1], h2, ag, r.timestamp, (int)r.reason_len,
                       r.reason ? r.reason : "");
            }
        }
        steme_buf_free(&buf);
    } else {
        s = steme_supersede(ss, &a, &b, reason, strlen(reason), &agent, ts);
        if (s == STEME_OK) {
            cli_hex(a.bytes, 32, h1, sizeof h1);
            cli_hex(b.bytes, 32, h2, sizeof h2);
            if (o.json)
                printf("{\"old\":\"%s\",\"new\":\"%s\",\"superseded\":true}\n", h1, h2);
            else
                printf("%s\n  superseded by %s\n", h1, h2);
        }
    }
    rc = s == STEME_OK ? CLI_OK : cli_db_fail(db, "supersede", s);
    steme_db_close(db);
    return rc;
}

const cli_cmd cli_cmd_supersede = {
    "supersede", "corrections: OLD is superseded by NEW; show one; walk a chain to its head",
    "--db DIR OLD NEW --reason TEXT --agent AGENT [--time UNIX_MS] [--json]\n"
    "       steme supersede --db DIR head HASH [--json]   the newest correction of HASH\n"
    "       steme supersede --db DIR show HASH [--json]   who superseded HASH, when, why\n"
    "Both assertions must be stored; chains are linear and never cycle. AGENT is 64\n"
    "hex digits or a key file. Superseded assertions are kept (queries skip them\n"
    "unless asked).",
    run_supersede};
