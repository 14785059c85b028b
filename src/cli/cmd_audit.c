/* cmd_audit.c - `steme audit`: the audit trail of queries: one record by
 * query id, or an agent's records in a time range (oldest first). */
#include <inttypes.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/audit.h"

typedef struct audit_ctx {
    int json;
    size_t n;
} audit_ctx;

static void print_audit(const steme_query_audit *q, int json, size_t row)
{
    char id[33], agent[65], winner[65] = "-";
    cli_hex(q->query_id.bytes, 16, id, sizeof id);
    cli_hex(q->agent.bytes, 32, agent, sizeof agent);
    if (q->has_winner)
        cli_hex(q->winner.bytes, 32, winner, sizeof winner);
    const char *lens = steme_lens_name(q->lens);
    if (json) {
        printf("{\"query_id\":\"%s\",\"agent\":\"%s\",\"timestamp\":%" PRIu64 ",\"subject\":",
               id, agent, q->timestamp);
        cli_json_str(stdout, q->subject, q->subject_len);
        printf(",\"predicate\":");
        cli_json_str(stdout, q->predicate, q->predicate_len);
        printf(",\"lens\":\"%s\",\"candidates\":[", lens ? lens : "?");
        for (size_t i = 0; i < q->n_candidates; i++) {
            if (i)
                putchar(',');
            cli_json_hex(stdout, q->candidates[i].bytes, 32);
        }
        printf("],\"winner\":");
        if (q->has_winner)
            cli_json_hex(stdout, q->winner.bytes, 32);
        else
            printf("null");
        printf(",\"confidence\":");
        cli_print_double(stdout, q->confidence);
        printf(",\"duration_us\":%" PRIu64 "}\n", q->duration_us);
        return;
    }
    if (row) {
        if (row == 1)
            printf("%-14s %-32s %-10s %-6s %-5s %-24s %s\n", "TIME", "QUERY", "LENS", "CANDS",
                   "CONF", "SUBJECT/PREDICATE", "WINNER");
        char what[64];
        snprintf(what, sizeof what, "%.*s/%.*s", (int)q->subject_len, q->subject,
                 (int)q->predicate_len, q->predicate);
        printf("%-14" PRIu64 " %s %-10s %-6zu %-5.2f %-24.24s %.16s\n", q->timestamp, id,
               lens ? lens : "?", q->n_candidates, q->confidence, what, winner);
        return;
    }
    printf("query       %s\nagent       %s\ntime        %" PRIu64
           "\nsubject     %.*s\npredicate   %.*s\nlens        %s\ncandidates  %zu\n",
           id, agent, q->timestamp, (int)q->subject_len, q->subject, (int)q->predicate_len,
           q->predicate, lens ? lens : "?", q->n_candidates);
    for (size_t i = 0; i < q->n_candidates; i++) {
        char h[65];
        printf("            %s\n", cli_hex(q->candidates[i].bytes, 32, h, sizeof h));
    }
    printf("winner      %s\nconfidence  %g\nduration    %" PRIu64 " us\n", winner,
           q->confidence, q->duration_us);
}

static int print_one(void *ctx, const steme_query_audit *q)
{
    audit_ctx *c = ctx;
    print_audit(q, c->json, ++c->n);
    return 0;
}

static int run_audit(int argc, char **argv)
{
    static const char *const known[] = {"agent", "from", "to", "limit", NULL};
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "audit", known)) != CLI_OK)
        return rc;
    int by_id = o.npos == 1 && !cli_has(&o, "agent");
    int by_agent = o.npos == 0 && cli_has(&o, "agent");
    if (!by_id && !by_agent)
        return cli_fail(CLI_USAGE, "audit", "give a QUERY_ID, or --agent AGENT [--from] [--to]");
    steme_id16 qid;
    steme_agent_id agent;
    unsigned long long from = 0, to = UINT64_MAX, limit = 0;
    if (by_id && (rc = cli_parse_id16("audit", o.pos[0], &qid)) != CLI_OK)
        return rc;
    if (by_agent && (rc = cli_parse_agent("audit", cli_get(&o, "agent"), &agent)) != CLI_OK)
        return rc;
    if ((rc = cli_get_u64(&o, "from", &from, 0)) != CLI_OK ||
        (rc = cli_get_u64(&o, "to", &to, 0)) != CLI_OK ||
        (rc = cli_get_u64(&o, "limit", &limit, 0)) != CLI_OK)
        return rc;
    steme_db *db;
    if ((rc = cli_open_db("audit", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    steme_audit *au = steme_db_audit(db);
    int s;
    audit_ctx c = {o.json, 0};
    if (by_id) {
        steme_buf buf = STEME_BUF_INIT;
        steme_query_audit q;
        if ((s = steme_audit_get(au, &qid, &buf, &q)) == STEME_OK)
            print_audit(&q, o.json, 0);
        steme_buf_free(&buf);
    } else {
        steme_audit_cursor cur;
        memset(&cur, 0, sizeof cur);
        s = steme_audit_list_agent(au, &agent, from, to, (size_t)limit, &cur, print_one, &c,
                                   NULL);
        if (s == STEME_OK && !o.json)
            printf("%s%zu audit records\n", c.n ? "\n" : "", c.n);
    }
    rc = s == STEME_OK ? CLI_OK : cli_db_fail(db, "audit", s);
    steme_db_close(db);
    return rc;
}

const cli_cmd cli_cmd_audit = {
    "audit", "the audit trail: what a query saw and decided, by query id or by agent",
    "--db DIR QUERY_ID [--json]\n"
    "       steme audit --db DIR --agent AGENT [--from UNIX_MS] [--to UNIX_MS] [--limit N]\n"
    "QUERY_ID is 32 hex digits; AGENT is 64 hex digits or a key file. An agent's\n"
    "records are listed oldest first (one range scan). --json: one object per record.",
    run_audit};
