/* cmd_trust.c - `steme trust` (TrustRank: show, list by rank, record an
 * outcome, decay) and `steme gold` (gold standards: set, get, check an
 * agent's answer, which records the outcome in TrustRank). */
#include <inttypes.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/trust.h"

static void print_rank(const steme_trust_rank *r, int json, int is_default, size_t row)
{
    char agent[65];
    cli_hex(r->agent.bytes, 32, agent, sizeof agent);
    if (json) {
        printf("{\"agent\":\"%s\",\"score\":", agent);
        cli_print_double(stdout, r->score);
        printf(",\"answers\":%" PRIu64 ",\"accurate\":%" PRIu64 ",\"last_updated\":%" PRIu64
               ",\"default\":%s}\n",
               r->assertions_count, r->accuracy_count, r->last_updated,
               is_default ? "true" : "false");
    } else if (row) {
        if (row == 1)
            printf("%-5s %-7s %-8s %-9s %s\n", "RANK", "SCORE", "ANSWERS", "ACCURATE", "AGENT");
        printf("%-5zu %-7.4f %-8" PRIu64 " %-9" PRIu64 " %s\n", row, r->score,
               r->assertions_count, r->accuracy_count, agent);
    } else {
        printf("agent         %s\nscore         %.4f%s\nanswers       %" PRIu64
               "\naccurate      %" PRIu64 "\nlast updated  %" PRIu64 "\n",
               agent, r->score, is_default ? "  (no outcome recorded: neutral default)" : "",
               r->assertions_count, r->accuracy_count, r->last_updated);
    }
}

typedef struct rank_ctx {
    int json;
    size_t row;
} rank_ctx;

static int list_one(void *ctx, const steme_trust_rank *r)
{
    rank_ctx *c = ctx;
    print_rank(r, c->json, 0, ++c->row);
    return 0;
}

static int run_trust(int argc, char **argv)
{
    static const char *const known[] = {"limit", "accurate", "inaccurate", "time",
                                        "half-life-ms", NULL};
    static const char *const flags[] = {"accurate", "inaccurate", NULL};
    static const char *const subs[] = {"show", "list", "outcome", "decay", NULL};
    cli_opts o;
    int rc = cli_parse(argc, argv, flags, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "trust", known)) != CLI_OK)
        return rc;
    int sub = cli_subcommand(&o, "trust", subs);
    if (sub < 0)
        return CLI_USAGE;
    steme_agent_id agent;
    unsigned long long limit = 0;
    uint64_t ts = 0;
    double half_life = 0;
    if (sub == 0 || sub == 2) {
        if (o.npos != 2)
            return cli_fail(CLI_USAGE, "trust", "%s: give one agent", subs[sub]);
        if ((rc = cli_parse_agent("trust", o.pos[1], &agent)) != CLI_OK)
            return rc;
    } else if (o.npos != 1) {
        return cli_fail(CLI_USAGE, "trust", "%s takes no arguments", subs[sub]);
    }
    if (sub == 2 && cli_has(&o, "accurate") == cli_has(&o, "inaccurate"))
        return cli_fail(CLI_USAGE, "trust", "outcome: give --accurate or --inaccurate");
    if ((rc = cli_get_u64(&o, "limit", &limit, 0)) != CLI_OK ||
        (rc = cli_get_time(&o, "time", &ts)) != CLI_OK ||
        (rc = cli_get_double(&o, "half-life-ms", &half_life, 0)) != CLI_OK)
        return rc;
    if (half_life < 0)
        return cli_fail(CLI_USAGE, "trust", "--half-life-ms must be positive");
    steme_db *db;
    if ((rc = cli_open_db("trust", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    steme_trust *t = steme_db_trust(db);
    steme_trust_rank r;
    int s = STEME_OK, is_default = 0;
    if (sub == 0) {
        if ((s = steme_trust_get(t, &agent, &r, &is_default)) == STEME_OK)
            print_rank(&r, o.json, is_default, 0);
    } else if (sub == 1) {
        steme_trust_cursor cur;
        memset(&cur, 0, sizeof cur);
        rank_ctx c = {o.json, 0};
        s = steme_trust_list_by_rank(t, (size_t)limit, &cur, list_one, &c, NULL);
        if (s == STEME_OK && c.row == 0 && !o.json)
            printf("no ranks recorded yet (every agent has the neutral %.1f)\n",
                   STEME_TRUST_DEFAULT_SCORE);
    } else if (sub == 2) {
        if ((s = steme_trust_record_outcome(t, &agent, cli_has(&o, "accurate"), ts, &r)) ==
            STEME_OK)
            print_rank(&r, o.json, 0, 0);
    } else {
        uint64_t n = 0;
        if ((s = steme_trust_decay(t, ts, half_life, &n)) == STEME_OK) {
            if (o.json)
                printf("{\"decayed\":%" PRIu64 "}\n", n);
            else
                printf("%" PRIu64 " ranks decayed toward %.1f\n", n, STEME_TRUST_DEFAULT_SCORE);
        }
    }
    rc = s == STEME_OK ? CLI_OK : cli_db_fail(db, "trust", s);
    steme_db_close(db);
    return rc;
}

const cli_cmd cli_cmd_trust = {
    "trust", "TrustRank: show an agent's rank, list agents by rank, record an outcome",
    "SUBCOMMAND --db DIR [--json]\n"
    "  show AGENT                               one agent's rank (neutral 0.5 if unknown)\n"
    "  list [--limit N]                         agents by rank, highest first\n"
    "  outcome AGENT (--accurate | --inaccurate) [--time UNIX_MS]\n"
    "                                           record one answer's outcome (+0.05 / -0.10)\n"
    "  decay [--half-life-ms X] [--time UNIX_MS]  decay every rank toward 0.5 (default 30 days)\n"
    "AGENT is 64 hex digits (the public key) or the agent's key file.\n"
    "--json: one object per agent (list: one line each).",
    run_trust};

/* ---------------------------------------------------------------- gold */

static void print_gold(const steme_gold_standard *g, int json)
{
    char by[65], ah[65];
    cli_hex(g->set_by.bytes, 32, by, sizeof by);
    cli_hex(g->assertion.bytes, 32, ah, sizeof ah);
    if (json) {
        printf("{\"subject\":");
        cli_json_str(stdout, g->subject, g->subject_len);
        printf(",\"predicate\":");
        cli_json_str(stdout, g->predicate, g->predicate_len);
        printf(",\"expected\":");
        cli_print_value_json(stdout, &g->expected);
        printf(",\"assertion\":\"%s\",\"set_at\":%" PRIu64 ",\"set_by\":\"%s\"}\n", ah,
               g->set_at, by);
        return;
    }
    printf("subject     %.*s\npredicate   %.*s\nexpected    ", (int)g->subject_len, g->subject,
           (int)g->predicate_len, g->predicate);
    cli_print_value_text(stdout, &g->expected);
    printf("\nassertion   %s\nset at      %" PRIu64 "\nset by      %s\n", ah, g->set_at, by);
}

static int run_gold(int argc, char **argv)
{
    static const char *const known[] = {"subject", "predicate", "string", "int", "float",
                                        "bool", "bytes", "by", "agent", "assertion", "time",
                                        NULL};
    static const char *const subs[] = {"set", "get", "check", NULL};
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "gold", known)) != CLI_OK)
        return rc;
    int sub = cli_subcommand(&o, "gold", subs);
    if (sub < 0)
        return CLI_USAGE;
    if (o.npos != 1)
        return cli_fail(CLI_USAGE, "gold", "unexpected argument '%s'", o.pos[1]);
    const char *subject = cli_require(&o, "gold", "subject");
    const char *pred = cli_require(&o, "gold", "predicate");
    if (!subject || !pred)
        return CLI_USAGE;
    static uint8_t bytes[65536];
    steme_gold_standard g;
    memset(&g, 0, sizeof g);
    steme_agent_id agent;
    uint64_t ts = 0;
    if (sub != 1 && (rc = cli_parse_value(&o, "gold", &g.expected, bytes, sizeof bytes)) != CLI_OK)
        return rc;
    if ((rc = cli_get_time(&o, "time", &ts)) != CLI_OK)
        return rc;
    if (sub == 0) {
        const char *by = cli_require(&o, "gold", "by");
        if (!by || (rc = cli_parse_agent("gold", by, &g.set_by)) != CLI_OK)
            return by ? rc : CLI_USAGE;
        if (cli_get(&o, "assertion") &&
            (rc = cli_parse_hash("gold", cli_get(&o, "assertion"), &g.assertion)) != CLI_OK)
            return rc;
    }
    if (sub == 2) {
        const char *who = cli_require(&o, "gold", "agent");
        if (!who || (rc = cli_parse_agent("gold", who, &agent)) != CLI_OK)
            return who ? rc : CLI_USAGE;
    }
    steme_db *db;
    if ((rc = cli_open_db("gold", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    steme_gold *gs = steme_db_gold(db);
    int s;
    if (sub == 0) {
        g.subject = subject, g.subject_len = strlen(subject);
        g.predicate = pred, g.predicate_len = strlen(pred);
        g.set_at = ts;
        if ((s = steme_gold_set(gs, &g)) == STEME_OK)
            print_gold(&g, o.json);
    } else if (sub == 1) {
        steme_buf buf = STEME_BUF_INIT;
        if ((s = steme_gold_get(gs, subject, strlen(subject), pred, strlen(pred), &buf, &g)) ==
            STEME_OK)
            print_gold(&g, o.json);
        steme_buf_free(&buf);
    } else {
        int matched = 0;
        steme_trust_rank r;
        s = steme_gold_verify_answer(gs, subject, strlen(subject), pred, strlen(pred), &agent,
                                     &g.expected, ts, &matched, &r);
        if (s == STEME_OK && o.json) {
            printf("{\"matched\":%s,\"agent\":", matched ? "true" : "false");
            cli_json_hex(stdout, agent.bytes, 32);
            printf(",\"score\":");
            cli_print_double(stdout, r.score);
            printf(",\"answers\":%" PRIu64 ",\"accurate\":%" PRIu64 "}\n", r.assertions_count,
                   r.accuracy_count);
        } else if (s == STEME_OK) {
            printf("%s: trust rank now %.4f (%" PRIu64 " of %" PRIu64 " answers accurate)\n",
                   matched ? "correct" : "WRONG", r.score, r.accuracy_count, r.assertions_count);
        }
    }
    rc = s == STEME_OK ? CLI_OK : cli_db_fail(db, "gold", s);
    steme_db_close(db);
    return rc;
}

const cli_cmd cli_cmd_gold = {
    "gold", "gold standards: set or read a known-true answer, check an agent's answer",
    "SUBCOMMAND --db DIR --subject S --predicate P [--json]\n"
    "  set   VALUE --by AGENT [--assertion HASH] [--time UNIX_MS]\n"
    "  get\n"
    "  check VALUE --agent AGENT [--time UNIX_MS]\n"
    "VALUE is one of --string TEXT, --int N, --float X, --bool true|false, --bytes HEX.\n"
    "check compares the agent's answer with the gold standard (strings ignore case\n"
    "and spacing, numbers match within 1e-9 relative) and records the outcome in\n"
    "TrustRank; it exits 0 whether or not the answer matched (see \"matched\"), 1 when\n"
    "there is no gold standard. AGENT is 64 hex digits or the agent's key file.",
    run_gold};
