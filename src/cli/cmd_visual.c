/* cmd_visual.c - `steme visual`: near-duplicate search over 64-bit
 * perceptual hashes, on the database directory's visual index (DIR/visual,
 * a steme_pvisual: every add is logged before it is acknowledged). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/visual.h"

static int parse_phash(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    const char *p = strncmp(s, "0x", 2) == 0 ? s + 2 : s;
    unsigned long long v = strtoull(p, &end, 16);
    if (errno || end == p || *end || strlen(p) > 16)
        return cli_fail(CLI_USAGE, "visual", "PHASH: up to 16 hex digits, not '%s'", s);
    *out = v;
    return CLI_OK;
}

static int by_distance(const void *a, const void *b)
{
    const steme_visual_hit *x = a, *y = b;
    if (x->distance != y->distance)
        return x->distance < y->distance ? -1 : 1;
    return memcmp(x->id.bytes, y->id.bytes, sizeof x->id.bytes);
}

static int open_index(const cli_opts *o, steme_pvisual **pv)
{
    char path[4096];
    int rc = cli_local_index_dir("visual", cli_get(o, "db"), "visual", "/v1/visual", path,
                                 sizeof path);
    if (rc != CLI_OK)
        return rc;
    steme_error e;
    int s = steme_pvisual_open(path, NULL, pv, NULL, &e);
    if (s != STEME_OK)
        return cli_fail(cli_exit_for_status(s), "visual", "%s", e.message);
    return CLI_OK;
}

static int run_visual(int argc, char **argv)
{
    static const char *const known[] = {"radius", "k", NULL};
    static const char *const subs[] = {"add", "search", "count", NULL};
    static const int nargs[] = {2, 1, 0};
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "visual", known)) != CLI_OK)
        return rc;
    int sub = cli_subcommand(&o, "visual", subs);
    if (sub < 0)
        return CLI_USAGE;
    if (o.npos != 1 + nargs[sub])
        return cli_fail(CLI_USAGE, "visual", "%s takes %d argument%s", subs[sub], nargs[sub],
                        nargs[sub] == 1 ? "" : "s");
    steme_hash id;
    uint64_t ph = 0;
    unsigned long long radius = 10, k = 0;
    if (sub == 0 && ((rc = cli_parse_hash("visual", o.pos[1], &id)) != CLI_OK ||
                     (rc = parse_phash(o.pos[2], &ph)) != CLI_OK))
        return rc;
    if (sub == 1 && (rc = parse_phash(o.pos[1], &ph)) != CLI_OK)
        return rc;
    if ((rc = cli_get_u64(&o, "radius", &radius, 0)) != CLI_OK ||
        (rc = cli_get_u64(&o, "k", &k, 0)) != CLI_OK)
        return rc;
    if (radius > STEME_VISUAL_MAX_DISTANCE || (cli_has(&o, "k") && (k == 0 || k > 1000000)))
        return cli_fail(CLI_USAGE, "visual", "--radius is 0..64, --k is 1..1000000");
    steme_pvisual *pv;
    if ((rc = open_index(&o, &pv)) != CLI_OK)
        return rc;
    steme_visual *v = steme_pvisual_index(pv);
    int s = STEME_OK;
    if (sub == 0) {
        s = steme_pvisual_insert(pv, ph, &id);
        int added = s == STEME_OK;
        if (s == STEME_E_EXISTS)
            s = STEME_OK;
        if (s == STEME_OK && o.json)
            printf("{\"hash\":\"%s\",\"phash\":\"%016" PRIx64 "\",\"added\":%s}\n", o.pos[1], ph,
                   added ? "true" : "false");
        else if (s == STEME_OK)
            printf("%016" PRIx64 " -> %s%s\n", ph, o.pos[1], added ? "" : "  (already there)");
    } else if (sub == 1) {
        steme_visual_hits hits;
        steme_visual_hits_init(&hits);
        s = cli_has(&o, "k") ? steme_visual_knn(v, ph, (size_t)k, STEME_VISUAL_AUTO, &hits)
                             : steme_visual_radius(v, ph, (unsigned)radius, STEME_VISUAL_AUTO,
                                                   &hits);
        if (s == STEME_OK) /* radius hits come in no order: nearest first */
            if (hits.count > 1) /* hits.hits may be NULL when nothing matched */
                qsort(hits.hits, hits.count, sizeof hits.hits[0], by_distance);
        for (size_t i = 0; s == STEME_OK && i < hits.count; i++) {
            char hex[65];
            cli_hex(hits.hits[i].id.bytes, 32, hex, sizeof hex);
            if (o.json)
                printf("{\"hash\":\"%s\",\"phash\":\"%016" PRIx64 "\",\"distance\":%u}\n", hex,
                       hits.hits[i].phash, hits.hits[i].distance);
            else
                printf("%s%-8u %016" PRIx64 "  %s\n", i ? "" : "DISTANCE PHASH             HASH\n",
                       hits.hits[i].distance, hits.hits[i].phash, hex);
        }
        if (s == STEME_OK && !o.json && hits.count == 0)
            printf("no near duplicates\n");
        steme_visual_hits_free(&hits);
    } else {
        size_t n = steme_visual_count(v);
        if (o.json)
            printf("{\"entries\":%zu}\n", n);
        else
            printf("%zu entries\n", n);
    }
    if (s != STEME_OK)
        rc = cli_fail(cli_exit_for_status(s), "visual", "%s",
                      sub == 0 ? steme_pvisual_errmsg(pv) : steme_visual_errmsg(v));
    steme_pvisual_close(pv);
    return rc;
}

const cli_cmd cli_cmd_visual = {
    "visual", "near-duplicate images: index assertions by 64-bit perceptual hash, search",
    "SUBCOMMAND --db DIR [--json]\n"
    "  add HASH PHASH                     index assertion HASH under PHASH (16 hex digits)\n"
    "  search PHASH [--radius R | --k K]  entries within Hamming distance R (default 10),\n"
    "                                     or the K nearest, nearest first\n"
    "  count                              number of indexed (phash, assertion) pairs\n"
    "The index lives in DIR/visual (its own log). --json: one object per hit.",
    run_visual};
