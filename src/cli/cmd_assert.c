/* cmd_assert.c - `steme init`, `steme assert`: create a database and write
 * signed assertions into it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/keyfile.h"
#include "steme/keys.h"
#include "steme/sign.h"

int cli_open_db(const char *cmd, const char *dir, int create, steme_db **db)
{
    if (!dir)
        return cli_fail(CLI_USAGE, cmd, "missing --db DIR (or STEME_DB)");
    steme_db_options o;
    steme_db_options_init(&o);
    o.create_if_missing = create;
    steme_error e;
    int rc = steme_db_open(dir, &o, db, &e);
    if (rc != STEME_OK)
        return cli_fail(cli_exit_for_status(rc), cmd, "%s", e.message);
    return CLI_OK;
}

int cli_local_index_dir(const char *cmd, const char *dir, const char *sub, const char *route,
                        char *out, size_t cap)
{
    if (!dir)
        return cli_fail(CLI_USAGE, cmd, "missing --db DIR (or STEME_DB)");
    /* On a shared database each node keeps its own indexes, fed by the index
     * log: an index made by a one-off CLI process would be seen by no node. */
    if (steme_db_is_url(dir))
        return cli_fail(CLI_USAGE, cmd, "%s is a shared (postgres) database: its indexes are "
                        "node-local, use POST %s on a `steme serve` node", dir, route);
    /* The database must exist (its identity file): the index lives inside it. */
    struct stat st;
    if ((size_t)snprintf(out, cap, "%s/STEME", dir) >= cap)
        return cli_fail(CLI_USAGE, cmd, "--db path too long");
    if (stat(out, &st) != 0)
        return cli_fail(CLI_FAIL, cmd, "no steme database in %s (steme init)", dir);
    if ((size_t)snprintf(out, cap, "%s/%s", dir, sub) >= cap)
        return cli_fail(CLI_USAGE, cmd, "--db path too long");
    return CLI_OK;
}

int cli_db_fail(steme_db *db, const char *cmd, int status)
{
    return cli_fail(cli_exit_for_status(status), cmd, "%s", steme_db_errmsg(db));
}

int cli_charge(steme_db *db, const char *cmd, const steme_agent_id *agent, steme_quota_op op,
               size_t payload_bytes, uint64_t now)
{
    steme_quota_result r;
    int rc = steme_quota_check_and_record(steme_db_quota(db), agent, op, 0, payload_bytes, now,
                                          &r);
    if (rc != STEME_OK)
        return cli_db_fail(db, cmd, rc);
    if (r.allowed)
        return CLI_OK;
    return cli_fail(CLI_REFUSED, cmd,
                    "refused by the Meter: this costs %llu tokens, %llu left this hour "
                    "(resets at %llu)",
                    (unsigned long long)r.cost, (unsigned long long)r.remaining,
                    (unsigned long long)r.reset_at);
}

static int run_init(int argc, char **argv)
{
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "init", NULL)) != CLI_OK)
        return rc;
    steme_db *db;
    if ((rc = cli_open_db("init", cli_get(&o, "db"), 1, &db)) != CLI_OK)
        return rc;
    steme_db_close(db);
    if (o.json)
        printf("{\"initialized\":true}\n");
    else
        printf("steme database ready in %s\n", cli_get(&o, "db"));
    return CLI_OK;
}

const cli_cmd cli_cmd_init = {"init", "create a database (or check an existing one)",
                              "--db DIR [--json]", run_init};

/* --source KIND[:REF] */
static int parse_source(const char *s, steme_assertion *a)
{
    static const steme_source_kind kinds[] = {
        STEME_SOURCE_REGULATORY, STEME_SOURCE_PEER_REVIEWED, STEME_SOURCE_CLINICAL,
        STEME_SOURCE_NEWS, STEME_SOURCE_FORUM, STEME_SOURCE_AGENT, STEME_SOURCE_SENSOR,
        STEME_SOURCE_OTHER};
    const char *colon = strchr(s, ':');
    size_t klen = colon ? (size_t)(colon - s) : strlen(s);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *name = steme_source_kind_name(kinds[i]);
        if (name && strlen(name) == klen && strncmp(name, s, klen) == 0) {
            a->source_kind = kinds[i];
            a->source_ref = colon ? colon + 1 : "";
            a->source_ref_len = colon ? strlen(colon + 1) : 0;
            return 0;
        }
    }
    return -1;
}

int cli_parse_value(const cli_opts *o, const char *cmd, steme_value *out, uint8_t *bytes,
                    size_t cap)
{
    steme_assertion tmp, *a = &tmp;
    int given = 0;
    const char *v;
    if ((v = cli_get(o, "string"))) {
        a->object = steme_value_string(v, strlen(v));
        given++;
    }
    if ((v = cli_get(o, "int"))) {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end)
            return cli_fail(CLI_USAGE, cmd, "--int: not an integer: '%s'", v);
        a->object = steme_value_int(x);
        given++;
    }
    if (cli_get(o, "float")) {
        double x;
        if (cli_get_double(o, "float", &x, 1) != CLI_OK)
            return CLI_USAGE;
        a->object = steme_value_float(x);
        given++;
    }
    if ((v = cli_get(o, "bool"))) {
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
            return cli_fail(CLI_USAGE, cmd, "--bool: true or false, not '%s'", v);
        a->object = steme_value_bool(strcmp(v, "true") == 0);
        given++;
    }
    if ((v = cli_get(o, "bytes"))) {
        size_t n = strlen(v) / 2;
        steme_error e;
        if (n > cap || steme_hex_decode(v, strlen(v), bytes, n, &e) != STEME_OK)
            return cli_fail(CLI_USAGE, cmd, "--bytes: hex, at most %zu bytes", cap);
        a->object = steme_value_bytes(bytes, n);
        given++;
    }
    if (given != 1)
        return cli_fail(CLI_USAGE, cmd,
                        "give exactly one value: --string, --int, --float, --bool or --bytes");
    *out = a->object;
    return CLI_OK;
}

static int run_assert(int argc, char **argv)
{
    static const char *const known[] = {"key", "subject", "predicate", "string", "int", "float",
                                        "bool", "bytes", "confidence", "source", "time", NULL};
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "assert", known)) != CLI_OK)
        return rc;
    const char *keyfile = cli_require(&o, "assert", "key");
    const char *subject = cli_require(&o, "assert", "subject");
    const char *predicate = cli_require(&o, "assert", "predicate");
    if (!keyfile || !subject || !predicate)
        return CLI_USAGE;
    steme_assertion a;
    memset(&a, 0, sizeof a);
    a.subject = subject;
    a.subject_len = strlen(subject);
    a.predicate = predicate;
    a.predicate_len = strlen(predicate);
    a.confidence = 1.0;
    static uint8_t bytes[65536];
    if ((rc = cli_parse_value(&o, "assert", &a.object, bytes, sizeof bytes)) != CLI_OK ||
        (rc = cli_get_double(&o, "confidence", &a.confidence, 0)) != CLI_OK)
        return rc;
    const char *src = cli_get(&o, "source");
    if (parse_source(src ? src : "agent", &a) != 0)
        return cli_fail(CLI_USAGE, "assert",
                        "--source KIND[:REF], KIND one of regulatory, peer_reviewed, clinical, "
                        "news, forum, agent, sensor, other");
    unsigned long long ts = 0;
    if ((rc = cli_get_u64(&o, "time", &ts, 0)) != CLI_OK)
        return rc;
    if (!cli_has(&o, "time")) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        ts = (unsigned long long)now.tv_sec * 1000u + (unsigned long long)now.tv_nsec / 1000000u;
    }
    a.timestamp = ts;

    steme_secret_key sk;
    steme_error e;
    if ((rc = steme_keyfile_load(keyfile, &sk, &a.agent, &e)) != STEME_OK)
        return cli_fail(cli_exit_for_status(rc), "assert", "%s", e.message);
    rc = steme_assertion_sign(&a, &sk, &e);
    steme_secret_key_wipe(&sk);
    if (rc != STEME_OK)
        return cli_fail(cli_exit_for_status(rc), "assert", "%s", e.message);

    steme_db *db;
    if ((rc = cli_open_db("assert", cli_get(&o, "db"), 1, &db)) != CLI_OK)
        return rc;
    /* Charged like a server would charge it: the Meter stops a flood. */
    if ((rc = cli_charge(db, "assert", &a.agent, STEME_QUOTA_ASSERT,
                         steme_assertion_encoded_size(&a), cli_now_ms())) != CLI_OK) {
        steme_db_close(db);
        return rc;
    }
    steme_hash h;
    int created = 0;
    rc = steme_db_put_assertion(db, &a, &h, &created);
    if (rc != STEME_OK) {
        int code = cli_fail(cli_exit_for_status(rc), "assert", "%s", steme_db_errmsg(db));
        steme_db_close(db);
        return code;
    }
    steme_db_close(db);
    char hex[65];
    steme_hex_encode(h.bytes, 32, hex, sizeof hex);
    if (o.json)
        printf("{\"hash\":\"%s\",\"created\":%s}\n", hex, created ? "true" : "false");
    else
        printf("%s%s\n", hex, created ? "" : "  (already stored)");
    return CLI_OK;
}

const cli_cmd cli_cmd_assert = {
    "assert", "sign an assertion with an agent key and store it; prints its content hash",
    "--db DIR --key FILE --subject S --predicate P\n"
    "       (--string TEXT | --int N | --float X | --bool true|false | --bytes HEX)\n"
    "       [--confidence C (default 1)] [--source KIND[:REF] (default agent)]\n"
    "       [--time UNIX_MS (default now)] [--json]\n"
    "The assertion is charged to the agent by the Meter (10 tokens + 1 per KiB);\n"
    "when the agent's hourly budget is spent nothing is stored and the exit code is 5.\n"
    "Output: the content hash (--json: {\"hash\":...,\"created\":true|false}).",
    run_assert};
