/* cmd_export.c - `steme export`: every assertion, then every vote, as JSON
 * lines that `steme import` reads back (signatures included, so an import
 * verifies them again). */
#include <errno.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "cli/cli_json.h"
#include "steme/votes.h"

typedef struct export_ctx {
    steme_db *db;
    FILE *out;
    int votes;                 /* 0: the assertions pass, 1: the votes pass */
    steme_buf buf;
    uint64_t n_assertions, n_votes;
    int status;
} export_ctx;

static int export_vote(void *ctx, const steme_vote *v)
{
    export_ctx *c = ctx;
    cli_export_vote(c->out, v);
    c->n_votes++;
    return 0;
}

static int export_one(void *ctx, const steme_hash *h)
{
    export_ctx *c = ctx;
    int s;
    if (c->votes) {
        steme_vote_cursor cur;
        memset(&cur, 0, sizeof cur);
        s = steme_votes_list(steme_db_votes(c->db), h, 0, &cur, export_vote, c);
    } else {
        steme_assertion a;
        if ((s = steme_db_get_assertion(c->db, h, &c->buf, &a)) == STEME_OK) {
            cli_export_assertion(c->out, h, &a);
            c->n_assertions++;
        }
    }
    if (s != STEME_OK) {
        c->status = s;
        return 1;
    }
    return 0;
}

static int run_export(int argc, char **argv)
{
    static const char *const known[] = {"out", NULL};
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "export", known)) != CLI_OK)
        return rc;
    if (o.npos)
        return cli_fail(CLI_USAGE, "export", "unexpected argument '%s' (use --out FILE)",
                        o.pos[0]);
    const char *path = cli_get(&o, "out");
    steme_db *db;
    if ((rc = cli_open_db("export", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    export_ctx c;
    memset(&c, 0, sizeof c);
    c.db = db;
    c.out = path ? fopen(path, "w") : stdout;
    if (!c.out) {
        steme_db_close(db);
        return cli_fail(CLI_ERROR, "export", "%s: %s", path, strerror(errno));
    }
    /* Assertions first, so that an import in file order finds each vote's
     * assertion already stored. */
    int s = STEME_OK;
    for (c.votes = 0; c.votes < 2 && s == STEME_OK; c.votes++) {
        s = steme_db_scan_assertions(db, export_one, &c);
        if (s == STEME_OK)
            s = c.status;
    }
    steme_buf_free(&c.buf);
    rc = s == STEME_OK ? CLI_OK : cli_db_fail(db, "export", s);
    steme_db_close(db);
    if ((path && fclose(c.out) != 0) || (!path && fflush(stdout) != 0))
        rc = cli_fail(CLI_ERROR, "export", "write failed: %s", strerror(errno));
    if (rc == CLI_OK && path) /* the summary goes where the data does not */
        fprintf(o.json ? stdout : stderr,
                o.json ? "{\"assertions\":%llu,\"votes\":%llu}\n"
                       : "exported %llu assertions and %llu votes\n",
                (unsigned long long)c.n_assertions, (unsigned long long)c.n_votes);
    return rc;
}

const cli_cmd cli_cmd_export = {
    "export", "write every assertion and vote as JSON lines (what `steme import` reads)",
    "--db DIR [--out FILE] [--json]\n"
    "Writes to FILE (or standard output): every assertion as a\n"
    "{\"type\":\"assertion\",...} line, then every standing vote as a\n"
    "{\"type\":\"vote\",...} line, signatures included (format: docs/cli.md). The\n"
    "output is always JSON lines; with --out, a summary follows on stderr (--json:\n"
    "one {\"assertions\":N,\"votes\":N} object on stdout).",
    run_export};
