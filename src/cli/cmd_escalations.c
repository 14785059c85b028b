/* cmd_escalations.c - `steme escalations`: conflicts raised for a curator:
 * list open or resolved ones, resolve one with a note, raise one by hand. */
#include <inttypes.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/escalations.h"

typedef struct esc_ctx {
    int json;
    size_t n;
} esc_ctx;

static void print_escalation(const steme_escalation *e, int json, size_t row)
{
    char id[33], target[80];
    cli_hex(e->id.bytes, 16, id, sizeof id);
    int open = e->status == STEME_ESC_OPEN;
    if (json) {
        printf("{\"id\":\"%s\",\"status\":\"%s\",", id, open ? "open" : "resolved");
        if (e->target_kind == STEME_ESC_TARGET_ASSERTION) {
            printf("\"assertion\":");
            cli_json_hex(stdout, e->target_hash.bytes, 32);
        } else {
            printf("\"subject\":");
            cli_json_str(stdout, e->subject, e->subject_len);
            printf(",\"predicate\":");
            cli_json_str(stdout, e->predicate, e->predicate_len);
        }
        printf(",\"conflict_score\":");
        cli_print_double(stdout, e->conflict_score);
        printf(",\"reason\":");
        cli_json_str(stdout, e->reason ? e->reason : "", e->reason_len);
        printf(",\"created_at\":%" PRIu64 ",\"resolved_at\":%" PRIu64 ",\"note\":", e->created_at,
               e->resolved_at);
        cli_json_str(stdout, e->resolution_note ? e->resolution_note : "",
                     e->resolution_note_len);
        printf("}\n");
        return;
    }
    if (e->target_kind == STEME_ESC_TARGET_ASSERTION)
        cli_hex(e->target_hash.bytes, 32, target, sizeof target);
    else
        snprintf(target, sizeof target, "%.*s/%.*s", (int)e->subject_len, e->subject,
                 (int)e->predicate_len, e->predicate);
    if (row == 1)
        printf("%-32s  %-8s %-5s %-14s %-28s %s\n", "ID", "STATUS", "SCORE", "CREATED", "TARGET",
               "REASON / NOTE");
    printf("%s  %-8s %-5.2f %-14" PRIu64 " %-28s %.*s", id, open ? "open" : "resolved",
           e->conflict_score, e->created_at, target, (int)e->reason_len,
           e->reason ? e->reason : "");
    if (!open)
        printf(" / %.*s", (int)e->resolution_note_len,
               e->resolution_note ? e->resolution_note : "");
    printf("\n");
}

static int print_one(void *ctx, const steme_escalation *e)
{
    esc_ctx *c = ctx;
    print_escalation(e, c->json, ++c->n);
    return 0;
}

static int run_escalations(int argc, char **argv)
{
    static const char *const known[] = {"resolved", "limit", "note", "time", "subject",
                                        "predicate", "assertion", "score", "reason", NULL};
    static const char *const flags[] = {"resolved", NULL};
    static const char *const subs[] = {"list", "resolve", "raise", NULL};
    static const int nargs[] = {0, 1, 0};
    cli_opts o;
    int rc = cli_parse(argc, argv, flags, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "escalations", known)) != CLI_OK)
        return rc;
    /* A bare `steme escalations` lists the open ones. */
    int sub = o.npos == 0 ? 0 : cli_subcommand(&o, "escalations", subs);
    if (sub < 0)
        return CLI_USAGE;
    if (o.npos > 0 && o.npos != 1 + nargs[sub])
        return cli_fail(CLI_USAGE, "escalations", "%s takes %d argument%s", subs[sub],
                        nargs[sub], nargs[sub] == 1 ? "" : "s");
    unsigned long long limit = 0;
    uint64_t ts = 0;
    steme_escalation e;
    memset(&e, 0, sizeof e);
    if ((rc = cli_get_u64(&o, "limit", &limit, 0)) != CLI_OK ||
        (rc = cli_get_time(&o, "time", &ts)) != CLI_OK)
        return rc;
    const char *note = cli_get(&o, "note");
    if (sub == 1) {
        if ((rc = cli_parse_id16("escalations", o.pos[1], &e.id)) != CLI_OK)
            return rc;
        if (!(note = cli_require(&o, "escalations", "note")))
            return CLI_USAGE;
    }
    if (sub == 2) {
        const char *subject = cli_get(&o, "subject"), *pred = cli_get(&o, "predicate");
        const char *hash = cli_get(&o, "assertion"), *reason = cli_get(&o, "reason");
        if (hash && !subject && !pred) {
            e.target_kind = STEME_ESC_TARGET_ASSERTION;
            if ((rc = cli_parse_hash("escalations", hash, &e.target_hash)) != CLI_OK)
                return rc;
        } else if (!hash && subject && pred) {
            e.target_kind = STEME_ESC_TARGET_SUBJECT;
            e.subject = subject, e.subject_len = strlen(subject);
            e.predicate = pred, e.predicate_len = strlen(pred);
        } else {
            return cli_fail(CLI_USAGE, "escalations",
                            "raise: give --assertion HASH, or --subject S --predicate P");
        }
        if ((rc = cli_get_double(&o, "score", &e.conflict_score, 1)) != CLI_OK ||
            (rc = cli_random_id16("escalations", &e.id)) != CLI_OK)
            return rc;
        e.reason = reason ? reason : "", e.reason_len = reason ? strlen(reason) : 0;
        e.status = STEME_ESC_OPEN;
        e.created_at = ts;
    }
    steme_db *db;
    if ((rc = cli_open_db("escalations", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    steme_escalations *es = steme_db_escalations(db);
    int s;
    if (sub == 0) {
        esc_ctx c = {o.json, 0};
        steme_escalation_cursor cur;
        memset(&cur, 0, sizeof cur);
        int resolved = cli_has(&o, "resolved");
        s = steme_escalation_list(es, resolved ? STEME_ESC_RESOLVED : STEME_ESC_OPEN,
                                  (size_t)limit, &cur, print_one, &c, NULL);
        if (s == STEME_OK && !o.json && c.n == 0)
            printf("no %s escalations\n", resolved ? "resolved" : "open");
    } else {
        s = sub == 1 ? steme_escalation_resolve(es, &e.id, note, strlen(note), ts)
                     : steme_escalation_raise(es, &e);
        steme_buf buf = STEME_BUF_INIT;
        steme_escalation now;
        if (s == STEME_OK && (s = steme_escalation_get(es, &e.id, &buf, &now)) == STEME_OK)
            print_escalation(&now, o.json, 1);
        steme_buf_free(&buf);
    }
    rc = s == STEME_OK ? CLI_OK : cli_db_fail(db, "escalations", s);
    steme_db_close(db);
    return rc;
}

const cli_cmd cli_cmd_escalations = {
    "escalations", "conflicts raised for a curator: list, resolve with a note, raise",
    "[SUBCOMMAND] --db DIR [--json]\n"
    "  list [--resolved] [--limit N]   open escalations (or resolved ones), newest first;\n"
    "                                  the default when no subcommand is given\n"
    "  resolve ID --note TEXT [--time UNIX_MS]\n"
    "  raise (--assertion HASH | --subject S --predicate P) --score X [--reason TEXT]\n"
    "                                  raise one by hand (the skeptic lens raises them\n"
    "                                  itself when a conflict score reaches 0.8)\n"
    "ID is 32 hex digits. One open escalation per target. --json: one object per line.",
    run_escalations};
