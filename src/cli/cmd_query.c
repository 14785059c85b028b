/* cmd_query.c - `steme query`: resolve what is known about (subject,
 * predicate) through one or more lenses (steme_query: charged by the Meter,
 * audited, skeptic may raise an escalation). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/query.h"

/* "90d", "36h", "15m", "30s", "500ms" or plain milliseconds. */
static int parse_duration_ms(const char *s, double *out)
{
    static const struct { const char *unit; double ms; } units[] = {
        {"", 1}, {"ms", 1}, {"s", 1e3}, {"m", 6e4}, {"h", 3.6e6}, {"d", 8.64e7}};
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || !(x > 0))
        return cli_fail(CLI_USAGE, "query", "--decay-half-life: a positive duration "
                                            "(e.g. 30d, 12h, 90s, 500ms), not '%s'", s);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0) {
            *out = x * units[i].ms;
            return CLI_OK;
        }
    return cli_fail(CLI_USAGE, "query", "--decay-half-life: unknown unit '%s' (ms, s, m, h, d)",
                    end);
}

/* --lens NAME[,NAME...] or "all" -> a list of lenses. */
static int parse_lenses(const char *s, steme_lens *lenses, int *n)
{
    *n = 0;
    if (strcmp(s, "all") == 0) {
        for (int l = STEME_LENS_RECENCY; l <= STEME_LENS_SKEPTIC; l++)
            lenses[(*n)++] = (steme_lens)l;
        return CLI_OK;
    }
    const char *p = s;
    while (*p && *n < 6) {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (int l = STEME_LENS_RECENCY; l <= STEME_LENS_SKEPTIC; l++) {
            const char *name = steme_lens_name((steme_lens)l);
            if (name && strlen(name) == len && strncmp(name, p, len) == 0)
                lenses[(*n)++] = (steme_lens)l, found = 1;
        }
        if (!found)
            return cli_fail(CLI_USAGE, "query", "unknown lens '%.*s': recency, consensus, "
                                                "confidence, vote, authority, skeptic or all",
                            (int)len, p);
        p += len + (p[len] == ',');
    }
    return *n ? CLI_OK : cli_fail(CLI_USAGE, "query", "--lens is empty");
}

static void print_json(const steme_resolution *r)
{
    char id[33];
    printf("{\"query_id\":\"%s\",\"lens\":\"%s\",\"winner\":",
           cli_hex(r->query_id.bytes, 16, id, sizeof id), steme_lens_name(r->lens));
    if (r->has_winner) {
        cli_json_hex(stdout, r->winner.bytes, 32);
        printf(",\"winner_value\":");
        cli_print_value_json(stdout, &r->winner_value);
    } else {
        printf("null,\"winner_value\":null");
    }
    printf(",\"confidence\":");
    cli_print_double(stdout, r->confidence);
    printf(",\"explanation\":");
    cli_json_str(stdout, r->explanation, strlen(r->explanation));
    printf(",\"candidates\":[");
    for (size_t i = 0; i < r->n_candidates; i++) {
        const steme_query_candidate *c = &r->candidates[i];
        printf("%s{\"hash\":", i ? "," : "");
        cli_json_hex(stdout, c->hash.bytes, 32);
        printf(",\"object\":");
        cli_print_value_json(stdout, &c->object);
        printf(",\"agent\":");
        cli_json_hex(stdout, c->agent.bytes, 32);
        const char *kind = steme_source_kind_name(c->source_kind);
        printf(",\"timestamp\":%" PRIu64 ",\"source\":\"%s\",\"confidence\":", c->timestamp,
               kind ? kind : "?");
        cli_print_double(stdout, c->confidence);
        printf(",\"effective_confidence\":");
        cli_print_double(stdout, c->effective_confidence);
        printf(",\"vote_weight\":");
        cli_print_double(stdout, c->vote_weight);
        printf(",\"trust\":");
        cli_print_double(stdout, c->trust);
        printf(",\"score\":");
        cli_print_double(stdout, c->score);
        printf(",\"claim\":%zu}", c->claim);
    }
    printf("],\"claims\":[");
    for (size_t i = 0; i < r->n_claims; i++) {
        const steme_query_claim *c = &r->claims[i];
        printf("%s{\"object\":", i ? "," : "");
        cli_print_value_json(stdout, &c->object);
        printf(",\"count\":%zu,\"weight\":", c->count);
        cli_print_double(stdout, c->weight);
        printf(",\"share\":");
        cli_print_double(stdout, c->share);
        printf(",\"score\":");
        cli_print_double(stdout, c->score);
        printf("}");
    }
    const char *st = steme_skeptic_status_name(r->status);
    printf("],\"status\":%s%s%s,\"conflict\":", st ? "\"" : "", st ? st : "null", st ? "\"" : "");
    cli_print_double(stdout, r->conflict);
    printf(",\"escalation\":");
    if (r->escalation == STEME_QUERY_ESC_RAISED)
        printf("{\"raised\":\"%s\"}", cli_hex(r->escalation_id.bytes, 16, id, sizeof id));
    else
        printf(r->escalation == STEME_QUERY_ESC_ALREADY_OPEN ? "\"already_open\"" : "null");
    printf(",\"hidden_superseded\":%zu,\"hidden_by_pack\":%zu,\"truncated\":%s,"
           "\"quota_remaining\":%" PRIu64 "}\n",
           r->hidden_superseded, r->hidden_by_pack, r->truncated ? "true" : "false",
           r->quota_remaining);
}

static void print_text(const steme_resolution *r)
{
    char id[33], h[65];
    printf("lens %-10s ", steme_lens_name(r->lens));
    if (r->has_winner) {
        printf("winner ");
        cli_print_value_text(stdout, &r->winner_value);
        printf("  confidence %.2f  (%.16s)\n", r->confidence,
               cli_hex(r->winner.bytes, 32, h, sizeof h));
    } else if (r->lens == STEME_LENS_SKEPTIC && r->n_candidates) {
        printf("%s, conflict %.2f\n", steme_skeptic_status_name(r->status), r->conflict);
    } else {
        printf("no winner\n");
    }
    printf("  %s\n", r->explanation);
    /* Recency's score is a timestamp (already in TIME): its column shows
     * the rank instead, so it stays narrow. */
    if (r->n_candidates)
        printf("  %-8s %-6s %-18s %-13s %-14s %s\n", "SCORE", "CONF", "OBJECT", "SOURCE",
               "TIME", "ASSERTION");
    for (size_t i = 0; i < r->n_candidates; i++) {
        const steme_query_candidate *c = &r->candidates[i];
        char obj[64];
        FILE *m = fmemopen(obj, sizeof obj, "w");
        if (m) {
            cli_print_value_text(m, &c->object);
            fclose(m);
        } else {
            strcpy(obj, "?");
        }
        const char *kind = steme_source_kind_name(c->source_kind);
        char score[24];
        if (r->lens == STEME_LENS_RECENCY)
            snprintf(score, sizeof score, "#%zu", i + 1);
        else
            snprintf(score, sizeof score, "%.4g", c->score);
        printf("  %-8s %-6.2f %-18.18s %-13.13s %-14" PRIu64 " %.16s\n", score,
               c->effective_confidence, obj, kind ? kind : "?", c->timestamp,
               cli_hex(c->hash.bytes, 32, h, sizeof h));
    }
    if (r->hidden_superseded || r->hidden_by_pack)
        printf("  hidden: %zu superseded, %zu outside the trust pack\n", r->hidden_superseded,
               r->hidden_by_pack);
    if (r->escalation == STEME_QUERY_ESC_RAISED)
        printf("  ESCALATION raised: %s\n", cli_hex(r->escalation_id.bytes, 16, id, sizeof id));
    else if (r->escalation == STEME_QUERY_ESC_ALREADY_OPEN)
        printf("  (an escalation is already open for this question)\n");
    printf("  audited as query %s\n", cli_hex(r->query_id.bytes, 16, id, sizeof id));
}

static int run_query(int argc, char **argv)
{
    static const char *const known[] = {"subject", "predicate", "lens", "agent", "as-of", "pack",
                                        "include-superseded", "decay-half-life", "limit", "time",
                                        NULL};
    static const char *const flags[] = {"include-superseded", NULL};
    cli_opts o;
    int rc = cli_parse(argc, argv, flags, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "query", known)) != CLI_OK)
        return rc;
    if (o.npos)
        return cli_fail(CLI_USAGE, "query", "unexpected argument '%s'", o.pos[0]);
    steme_query_request req;
    steme_query_request_init(&req);
    const char *subject = cli_require(&o, "query", "subject");
    const char *pred = cli_require(&o, "query", "predicate");
    const char *agent = cli_require(&o, "query", "agent");
    if (!subject || !pred || !agent)
        return CLI_USAGE;
    req.subject = subject, req.subject_len = strlen(subject);
    req.predicate = pred, req.predicate_len = strlen(pred);
    req.include_superseded = cli_has(&o, "include-superseded");
    steme_lens lenses[6];
    int nlens = 0;
    unsigned long long as_of = 0, limit = 0, now = 0;
    const char *lens = cli_get(&o, "lens"), *hl = cli_get(&o, "decay-half-life");
    if ((rc = parse_lenses(lens ? lens : "consensus", lenses, &nlens)) != CLI_OK ||
        (rc = cli_parse_agent("query", agent, &req.agent)) != CLI_OK ||
        (rc = cli_get_u64(&o, "as-of", &as_of, 0)) != CLI_OK ||
        (rc = cli_get_u64(&o, "limit", &limit, 0)) != CLI_OK ||
        (rc = cli_get_u64(&o, "time", &now, 0)) != CLI_OK ||
        (hl && (rc = parse_duration_ms(hl, &req.decay_half_life_ms)) != CLI_OK))
        return rc;
    req.as_of = as_of, req.limit = (size_t)limit, req.now_ms = now;
    steme_db *db;
    if ((rc = cli_open_db("query", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    const char *pack = cli_get(&o, "pack");
    if (pack) {
        if ((rc = cli_resolve_pack(db, pack, &req.pack)) != CLI_OK) {
            steme_db_close(db);
            return rc;
        }
        req.has_pack = true;
    }
    for (int i = 0; i < nlens && rc == CLI_OK; i++) {
        req.lens = lenses[i];
        steme_resolution r;
        memset(&r, 0, sizeof r);
        int s = steme_query(db, &req, &r);
        if (s == STEME_E_FULL && !r.quota_allowed)
            rc = cli_fail(CLI_REFUSED, "query",
                          "refused by the Meter: limit %" PRIu64 ", %" PRIu64
                          " tokens left this hour (resets at %" PRIu64 ")",
                          r.quota_limit, r.quota_remaining, r.quota_reset_at);
        else if (s != STEME_OK)
            rc = cli_db_fail(db, "query", s);
        else if (o.json)
            print_json(&r);
        else
            printf("%s", i ? "\n" : ""), print_text(&r);
        steme_resolution_free(&r);
    }
    steme_db_close(db);
    return rc;
}

const cli_cmd cli_cmd_query = {
    "query", "resolve (subject, predicate) through a lens: winner, confidence, every candidate",
    "--db DIR --subject S --predicate P --agent AGENT [--lens L[,L...]|all]\n"
    "       [--as-of UNIX_MS] [--pack PACK] [--include-superseded]\n"
    "       [--decay-half-life DURATION] [--limit N] [--time UNIX_MS] [--json]\n"
    "  --lens          recency, consensus (default), confidence, vote, authority,\n"
    "                  skeptic; several separated by commas, or all (one query each)\n"
    "  --agent         who asks (64 hex digits or a key file): charged by the Meter\n"
    "                  (6 tokens a query; exit 5 when refused) and named in the audit\n"
    "  --as-of         only assertions made at or before this time\n"
    "  --pack          only assertions by members of this trust pack (id or name)\n"
    "  --include-superseded   also corrected assertions (hidden by default)\n"
    "  --decay-half-life      weigh confidence down with age: 30d, 12h, 90s, 500ms\n"
    "  --time          the query's clock (default now)\n"
    "Every query writes an audit record (steme audit QUERY_ID). A skeptic query whose\n"
    "conflict reaches 0.8 raises an escalation. --json: one object per lens.",
    run_query};
