/* cmd_stats.c - `steme stats`: what a database holds (counts per store),
 * how much disk it takes (per part of the directory) and its log's end. */
#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/escalations.h"
#include "steme/packs.h"
#include "steme/supersession.h"
#include "steme/trust.h"
#include "steme/votes.h"

/* Bytes on disk under path (allocated blocks; a file counts once per visit). */
static uint64_t disk_usage(const char *path, int depth)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    uint64_t total = (uint64_t)st.st_blocks * 512u;
    if (!S_ISDIR(st.st_mode) || depth > 16)
        return total;
    DIR *d = opendir(path);
    if (!d)
        return total;
    struct dirent *e;
    char sub[4096];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) < sizeof sub)
            total += disk_usage(sub, depth + 1);
    }
    closedir(d);
    return total;
}

typedef struct stats {
    steme_db *db;
    uint64_t assertions, votes, voted, superseded;
    size_t ranks, packs, open_esc, resolved_esc;
    int status;
} stats;

static int per_assertion(void *ctx, const steme_hash *h)
{
    stats *s = ctx;
    uint64_t n = 0;
    bool sup = false;
    s->assertions++;
    int rc = steme_votes_count(steme_db_votes(s->db), h, &n);
    if (rc == STEME_OK)
        rc = steme_supersession_is_superseded(steme_db_supersessions(s->db), h, &sup);
    if (rc != STEME_OK) {
        s->status = rc;
        return 1;
    }
    s->votes += n;
    s->voted += n > 0;
    s->superseded += sup;
    return 0;
}

static int count_rank(void *ctx, const steme_trust_rank *r) { (void)ctx, (void)r; return 0; }
static int count_pack(void *ctx, const steme_trust_pack *p) { (void)ctx, (void)p; return 0; }
static int count_esc(void *ctx, const steme_escalation *e) { (void)ctx, (void)e; return 0; }

static int gather(stats *s)
{
    steme_trust_cursor tc;
    steme_pack_cursor pc;
    steme_escalation_cursor ec1, ec2;
    memset(&tc, 0, sizeof tc), memset(&pc, 0, sizeof pc);
    memset(&ec1, 0, sizeof ec1), memset(&ec2, 0, sizeof ec2);
    int rc = steme_db_scan_assertions(s->db, per_assertion, s);
    if (rc == STEME_OK)
        rc = s->status;
    if (rc == STEME_OK)
        rc = steme_trust_list_by_rank(steme_db_trust(s->db), 0, &tc, count_rank, NULL, &s->ranks);
    if (rc == STEME_OK)
        rc = steme_packs_list(steme_db_packs(s->db), 0, &pc, count_pack, NULL, &s->packs);
    if (rc == STEME_OK)
        rc = steme_escalation_list(steme_db_escalations(s->db), STEME_ESC_OPEN, 0, &ec1,
                                   count_esc, NULL, &s->open_esc);
    if (rc == STEME_OK)
        rc = steme_escalation_list(steme_db_escalations(s->db), STEME_ESC_RESOLVED, 0, &ec2,
                                   count_esc, NULL, &s->resolved_esc);
    return rc;
}

static int run_stats(int argc, char **argv)
{
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "stats", NULL)) != CLI_OK)
        return rc;
    if (o.npos)
        return cli_fail(CLI_USAGE, "stats", "unexpected argument '%s'", o.pos[0]);
    const char *dir = cli_get(&o, "db");
    steme_db *db;
    if ((rc = cli_open_db("stats", dir, 0, &db)) != CLI_OK)
        return rc;
    stats s;
    memset(&s, 0, sizeof s);
    s.db = db;
    int st = gather(&s);
    steme_db_stats dbs;
    steme_db_get_stats(db, &dbs);
    uint64_t wal_end = dbs.log_end;
    if (st != STEME_OK) {
        rc = cli_db_fail(db, "stats", st);
        steme_db_close(db);
        return rc;
    }
    steme_db_close(db);
    static const char *const parts[] = {"wal", "kv/lmdb", "kv/rocksdb", "visual", "vectors"};
    uint64_t sizes[5], total = disk_usage(dir, 0);
    char path[4096];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, parts[i]);
        sizes[i] = disk_usage(path, 0);
    }
    if (o.json) {
        printf("{\"assertions\":%" PRIu64 ",\"votes\":%" PRIu64 ",\"voted_assertions\":%" PRIu64
               ",\"superseded\":%" PRIu64 ",\"trust_ranks\":%zu,\"packs\":%zu,"
               "\"escalations_open\":%zu,\"escalations_resolved\":%zu,\"wal_end\":%" PRIu64
               ",\"bytes\":{\"total\":%" PRIu64,
               s.assertions, s.votes, s.voted, s.superseded, s.ranks, s.packs, s.open_esc,
               s.resolved_esc, wal_end, total);
        for (int i = 0; i < 5; i++)
            printf(",\"%s\":%" PRIu64, parts[i], sizes[i]);
        printf("}}\n");
        return CLI_OK;
    }
    printf("assertions        %" PRIu64 " (%" PRIu64 " superseded)\n"
           "votes             %" PRIu64 " on %" PRIu64 " assertions\n"
           "trust ranks       %zu\npacks             %zu\n"
           "escalations       %zu open, %zu resolved\n"
           "log end           %" PRIu64 " bytes\n"
           "disk              %.1f KiB in total\n",
           s.assertions, s.superseded, s.votes, s.voted, s.ranks, s.packs, s.open_esc,
           s.resolved_esc, wal_end, (double)total / 1024.0);
    for (int i = 0; i < 5; i++)
        printf("  %-15s %.1f KiB\n", parts[i], (double)sizes[i] / 1024.0);
    return CLI_OK;
}

const cli_cmd cli_cmd_stats = {
    "stats", "what a database holds: counts per store, disk use, the log's end",
    "--db DIR [--json]\n"
    "Counts assertions (one scan), votes (from the O(1) caches), superseded\n"
    "assertions, trust ranks, packs and escalations; disk use per part of the\n"
    "directory. --json: one object (sizes in bytes under \"bytes\").",
    run_stats};
