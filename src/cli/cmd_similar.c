/* cmd_similar.c - `steme similar`: k-nearest-neighbour search over
 * assertion embeddings, on the database directory's vector index
 * (DIR/vectors, a steme_vector_store with its own log).
 *
 * The index's configuration (dimension, metric, storage, HNSW parameters)
 * is fixed when it is created, by the first add, and kept in the database
 * (steme/vector_meta.h, key \0VX:default) so later commands, and `steme
 * serve`, open it the same way. Databases made before that kept dimension
 * and metric in DIR/vectors/cli.conf (two text lines, "dim N" and "metric
 * l2|cosine|ip"): when the database has no record yet, that file is
 * imported once (and left as it is; it is never read again). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/vector.h"
#include "steme/vector_meta.h"

#define MAX_DIM STEME_VECTOR_MAX_DIM

static const char *const metric_names[] = {NULL, "l2", "cosine", "ip"};

static int parse_vector(const char *s, float *v, uint32_t *dim)
{
    uint32_t n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        double x = strtod(p, &end);
        if (end == p || errno || n == MAX_DIM)
            return cli_fail(CLI_USAGE, "similar", "--vector: comma-separated numbers (at most %u)",
                            MAX_DIM);
        v[n++] = (float)x;
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return cli_fail(CLI_USAGE, "similar", "--vector: unexpected '%c'", *p);
    }
    if (n == 0)
        return cli_fail(CLI_USAGE, "similar", "--vector is empty");
    *dim = n;
    return CLI_OK;
}

/* An old DIR/vectors/cli.conf as *m (the index defaults for the rest,
 * created_at its mtime): CLI_OK, CLI_FAIL when there is none (errno
 * ENOENT, nothing printed), CLI_DAMAGED when it does not parse. */
static int legacy_config(const char *vdir, steme_vector_meta *m)
{
    steme_error e;
    int rc = steme_vector_meta_read_legacy(vdir, m, &e);
    if (rc == STEME_OK)
        return CLI_OK;
    if (rc == STEME_E_NOTFOUND)
        return CLI_FAIL;
    return cli_fail(rc == STEME_E_CORRUPT ? CLI_DAMAGED : CLI_ERROR, "similar", "%s", e.message);
}

/* The index's configuration into *m: the database's record; else an old
 * cli.conf, imported; else, for an add (create), a new one made of the
 * added vector's dimension, the metric and the index defaults. dim: the
 * vector's dimension, which must match. */
static int index_config(steme_db *db, const char *vdir, int create, uint32_t dim, int metric,
                        steme_vector_meta *m)
{
    int s = steme_db_vector_meta_get(db, STEME_VECTOR_META_DEFAULT, m);
    if (s == STEME_E_NOTFOUND) {
        int rc = legacy_config(vdir, m);
        if (rc == CLI_FAIL && !create)
            return cli_fail(CLI_FAIL, "similar", "no vector index yet (steme similar add ...)");
        if (rc == CLI_FAIL) {
            if (mkdir(vdir, 0700) != 0 && errno != EEXIST)
                return cli_fail(CLI_ERROR, "similar", "mkdir %s: %s", vdir, strerror(errno));
            steme_vector_options vo;
            steme_vector_options_init(&vo, dim);
            *m = (steme_vector_meta){dim, (steme_vector_metric)metric, vo.storage, vo.M,
                                     vo.ef_construction, vo.ef_search, cli_now_ms()};
        } else if (rc != CLI_OK) {
            return rc;
        }
        s = steme_db_vector_meta_put(db, STEME_VECTOR_META_DEFAULT, m);
    }
    if (s != STEME_OK)
        return cli_db_fail(db, "similar", s);
    if (dim != m->dim)
        return cli_fail(CLI_USAGE, "similar", "the index holds %u-dimensional vectors, not %u",
                        m->dim, dim);
    return CLI_OK;
}

static int run_similar(int argc, char **argv)
{
    static const char *const known[] = {"vector", "k", "metric", NULL};
    static const char *const subs[] = {"add", "search", NULL};
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "similar", known)) != CLI_OK)
        return rc;
    int sub = cli_subcommand(&o, "similar", subs);
    if (sub < 0)
        return CLI_USAGE;
    if (o.npos != (sub == 0 ? 2 : 1))
        return cli_fail(CLI_USAGE, "similar", sub == 0 ? "add takes one assertion hash"
                                                       : "search takes no arguments");
    const char *dir = cli_get(&o, "db"), *vec = cli_require(&o, "similar", "vector");
    if (!dir)
        return cli_fail(CLI_USAGE, "similar", "missing --db DIR (or STEME_DB)");
    if (!vec)
        return CLI_USAGE;
    static float v[MAX_DIM];
    uint32_t dim = 0;
    int metric = STEME_VECTOR_COSINE;
    unsigned long long k = 5;
    steme_hash id;
    if ((rc = parse_vector(vec, v, &dim)) != CLI_OK ||
        (rc = cli_get_u64(&o, "k", &k, 0)) != CLI_OK ||
        (sub == 0 && (rc = cli_parse_hash("similar", o.pos[1], &id)) != CLI_OK))
        return rc;
    if (k == 0 || k > 1000)
        return cli_fail(CLI_USAGE, "similar", "--k is 1..1000");
    const char *m = cli_get(&o, "metric");
    if (m) {
        metric = 0;
        for (int i = 1; i <= 3; i++)
            if (strcmp(m, metric_names[i]) == 0)
                metric = i;
        if (!metric || sub != 0)
            return cli_fail(CLI_USAGE, "similar", "--metric (l2, cosine or ip) is set by the "
                                                  "first add only");
    }
    char vdir[4100];
    if ((rc = cli_local_index_dir("similar", dir, "vectors", "/v1/vectors", vdir, sizeof vdir)) !=
        CLI_OK)
        return rc;
    steme_db *db;
    steme_vector_meta meta;
    if ((rc = cli_open_db("similar", dir, 0, &db)) != CLI_OK)
        return rc;
    rc = index_config(db, vdir, sub == 0, dim, metric, &meta);
    steme_db_close(db);
    if (rc != CLI_OK)
        return rc;
    metric = (int)meta.metric;
    steme_vector_options vo;
    steme_vector_options_init(&vo, dim);
    vo.metric = meta.metric;
    vo.storage = meta.storage;
    vo.M = meta.M;
    vo.ef_construction = meta.ef_construction;
    vo.ef_search = meta.ef_search;
    vo.max_elements = 1u << 20;
    steme_vector_store *vs;
    steme_error e;
    int s = steme_vector_store_open(vdir, &vo, &vs, &e);
    if (s != STEME_OK)
        return cli_fail(cli_exit_for_status(s), "similar", "%s", e.message);
    char hex[65];
    if (sub == 0) {
        if ((s = steme_vector_store_insert(vs, 1, &id, v)) == STEME_OK) {
            if (o.json)
                printf("{\"hash\":\"%s\",\"dim\":%u}\n", o.pos[1], dim);
            else
                printf("%s indexed (%u dimensions, %s)\n", o.pos[1], dim, metric_names[metric]);
        }
    } else {
        steme_vector_hit hits[1000];
        size_t n = 0;
        if ((s = steme_vector_store_search(vs, v, (size_t)k, 0, hits, &n)) == STEME_OK) {
            for (size_t i = 0; i < n; i++) {
                cli_hex(hits[i].id.bytes, 32, hex, sizeof hex);
                if (o.json) {
                    printf("{\"hash\":\"%s\",\"distance\":", hex);
                    cli_print_double(stdout, hits[i].distance);
                    printf("}\n");
                } else {
                    printf("%s%-10.6f %s\n", i ? "" : "DISTANCE   HASH\n", hits[i].distance, hex);
                }
            }
            if (n == 0 && !o.json)
                printf("the index is empty\n");
        }
    }
    if (s != STEME_OK)
        rc = cli_fail(cli_exit_for_status(s), "similar", "%s", steme_vector_store_errmsg(vs));
    steme_vector_store_close(vs);
    return rc;
}

const cli_cmd cli_cmd_similar = {
    "similar", "embeddings: index an assertion's vector, find the k nearest (HNSW)",
    "SUBCOMMAND --db DIR --vector X,Y,... [--json]\n"
    "  add HASH --vector V [--metric l2|cosine|ip]  index assertion HASH under V; the\n"
    "                                     first add fixes the dimension and metric\n"
    "                                     (default cosine)\n"
    "  search --vector V [--k K]          the K nearest assertions (default 5)\n"
    "The index lives in DIR/vectors (its own log). --json: one object per hit.",
    run_similar};
