/* cmd_pack.c - `steme pack`: trust packs (named lists of agents a reader can
 * restrict a query to): create, add, remove, members, list. */
#include <inttypes.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/packs.h"

typedef struct pack_find {
    const char *name;
    size_t found;
    steme_id16 id;
} pack_find;

static int match_name(void *ctx, const steme_trust_pack *p)
{
    pack_find *f = ctx;
    if (p->name_len == strlen(f->name) && memcmp(p->name, f->name, p->name_len) == 0) {
        f->id = p->id;
        f->found++;
    }
    return 0;
}

int cli_resolve_pack(steme_db *db, const char *s, steme_id16 *id)
{
    steme_error e;
    if (strlen(s) == 32 && steme_hex_decode(s, 32, id->bytes, 16, &e) == STEME_OK)
        return CLI_OK;
    pack_find f = {s, 0, {{0}}};
    steme_pack_cursor cur;
    memset(&cur, 0, sizeof cur);
    int rc = steme_packs_list(steme_db_packs(db), 0, &cur, match_name, &f, NULL);
    if (rc != STEME_OK)
        return cli_db_fail(db, "pack", rc);
    if (f.found == 0)
        return cli_fail(CLI_FAIL, "pack", "no pack named '%s'", s);
    if (f.found > 1)
        return cli_fail(CLI_FAIL, "pack", "%zu packs are named '%s': give the pack id", f.found, s);
    *id = f.id;
    return CLI_OK;
}

static void print_pack(const steme_trust_pack *p, int json, size_t row)
{
    char id[33], m[65];
    cli_hex(p->id.bytes, 16, id, sizeof id);
    cli_hex(p->maintainer.bytes, 32, m, sizeof m);
    if (json) {
        printf("{\"id\":\"%s\",\"name\":", id);
        cli_json_str(stdout, p->name, p->name_len);
        printf(",\"maintainer\":\"%s\",\"description\":", m);
        cli_json_str(stdout, p->description ? p->description : "", p->description_len);
        printf(",\"created_at\":%" PRIu64 "}\n", p->created_at);
        return;
    }
    if (row == 1)
        printf("%-32s  %-20s %s\n", "ID", "NAME", "DESCRIPTION");
    printf("%s  %-20.*s %.*s\n", id, (int)p->name_len, p->name, (int)p->description_len,
           p->description ? p->description : "");
}

typedef struct list_ctx {
    int json;
    size_t row;
} list_ctx;

static int list_pack(void *ctx, const steme_trust_pack *p)
{
    list_ctx *c = ctx;
    print_pack(p, c->json, ++c->row);
    return 0;
}

static int list_member(void *ctx, const steme_agent_id *a)
{
    list_ctx *c = ctx;
    char hex[65];
    cli_hex(a->bytes, 32, hex, sizeof hex);
    if (c->json)
        printf("{\"agent\":\"%s\"}\n", hex);
    else
        printf("%s\n", hex);
    c->row++;
    return 0;
}

static int run_pack(int argc, char **argv)
{
    static const char *const known[] = {"maintainer", "description", "time", "limit", NULL};
    static const char *const subs[] = {"create", "add", "remove", "members", "list", NULL};
    static const int nargs[] = {1, 2, 2, 1, 0};
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "pack", known)) != CLI_OK)
        return rc;
    int sub = cli_subcommand(&o, "pack", subs);
    if (sub < 0)
        return CLI_USAGE;
    if (o.npos != 1 + nargs[sub])
        return cli_fail(CLI_USAGE, "pack", "%s takes %d argument%s (see steme pack --help)",
                        subs[sub], nargs[sub], nargs[sub] == 1 ? "" : "s");
    steme_trust_pack p;
    memset(&p, 0, sizeof p);
    steme_agent_id agent;
    unsigned long long limit = 0;
    if ((rc = cli_get_u64(&o, "limit", &limit, 0)) != CLI_OK ||
        (rc = cli_get_time(&o, "time", &p.created_at)) != CLI_OK)
        return rc;
    if (sub == 0) {
        const char *m = cli_require(&o, "pack", "maintainer");
        if (!m || (rc = cli_parse_agent("pack", m, &p.maintainer)) != CLI_OK)
            return m ? rc : CLI_USAGE;
        if ((rc = cli_random_id16("pack", &p.id)) != CLI_OK)
            return rc;
        p.name = o.pos[1], p.name_len = strlen(o.pos[1]);
        const char *d = cli_get(&o, "description");
        p.description = d ? d : "", p.description_len = d ? strlen(d) : 0;
    }
    if ((sub == 1 || sub == 2) && (rc = cli_parse_agent("pack", o.pos[2], &agent)) != CLI_OK)
        return rc;
    steme_db *db;
    if ((rc = cli_open_db("pack", cli_get(&o, "db"), 0, &db)) != CLI_OK)
        return rc;
    steme_packs *ps = steme_db_packs(db);
    steme_id16 id;
    int s = STEME_OK, changed = 0;
    list_ctx c = {o.json, 0};
    if (sub >= 1 && sub <= 3 && (rc = cli_resolve_pack(db, o.pos[1], &id)) != CLI_OK) {
        steme_db_close(db);
        return rc;
    }
    if (sub == 0) {
        if ((s = steme_packs_put(ps, &p, NULL)) == STEME_OK)
            print_pack(&p, o.json, o.json ? 0 : 1);
    } else if (sub == 1 || sub == 2) {
        s = sub == 1 ? steme_packs_add_agent(ps, &id, &agent, &changed)
                     : steme_packs_remove_agent(ps, &id, &agent, &changed);
        if (s == STEME_OK && o.json)
            printf("{\"pack\":\"%s\",\"agent\":\"%s\",\"changed\":%s}\n", o.pos[1], o.pos[2],
                   changed ? "true" : "false");
        else if (s == STEME_OK)
            printf("%s pack %s%s\n", sub == 1 ? "added to" : "removed from", o.pos[1],
                   changed ? "" : " (no change)");
    } else if (sub == 3) {
        steme_member_cursor cur;
        memset(&cur, 0, sizeof cur);
        s = steme_packs_list_members(ps, &id, (size_t)limit, &cur, list_member, &c, NULL);
        if (s == STEME_OK && !o.json)
            printf("%zu members\n", c.row);
    } else {
        steme_pack_cursor cur;
        memset(&cur, 0, sizeof cur);
        s = steme_packs_list(ps, (size_t)limit, &cur, list_pack, &c, NULL);
        if (s == STEME_OK && !o.json && c.row == 0)
            printf("no packs\n");
    }
    rc = s == STEME_OK ? CLI_OK : cli_db_fail(db, "pack", s);
    steme_db_close(db);
    return rc;
}

const cli_cmd cli_cmd_pack = {
    "pack", "trust packs: named lists of agents that a query can be restricted to",
    "SUBCOMMAND --db DIR [--json]\n"
    "  create NAME --maintainer AGENT [--description TEXT] [--time UNIX_MS]\n"
    "                            prints the new pack's id (32 hex digits)\n"
    "  add PACK AGENT            add an agent (idempotent)\n"
    "  remove PACK AGENT         remove an agent (idempotent)\n"
    "  members PACK [--limit N]  list the members\n"
    "  list [--limit N]          list every pack\n"
    "PACK is a pack id or a (unique) pack name; AGENT is 64 hex digits or a key file.\n"
    "--json: one object per pack or member.",
    run_pack};
