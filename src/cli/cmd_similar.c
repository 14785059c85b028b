/* cmd_similar.c - `steme similar`: k-nearest-neighbour search over
 * assertion embeddings, on the database directory's vector index
 * (DIR/vectors, a steme_vector_store with its own log).
 *
 * The index's dimension and metric are fixed when it is created; the CLI
 * keeps them in DIR/vectors/cli.conf (two text lines, "dim N" and
 * "metric l2|cosine|ip") so later commands open it the same way. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cli_db.h"
#include "steme/vector.h"

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

/* Read (or, when create, write) DIR/vectors/cli.conf. */
static int index_config(const char *vdir, int create, uint32_t *dim, int *metric)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/cli.conf", vdir);
    FILE *f = fopen(path, "r");
    if (f) {
        char name[16];
        unsigned d = 0;
        int ok = fscanf(f, "dim %u\nmetric %15s", &d, name) == 2;
        fclose(f);
        int m = 0;
        for (int i = 1; i <= 3; i++)
            if (ok && strcmp(name, metric_names[i]) == 0)
                m = i;
        if (!ok || m == 0 || d == 0 || d > MAX_DIM)
            return cli_fail(CLI_DAMAGED, "similar", "%s is damaged", path);
        if (*dim && *dim != d)
            return cli_fail(CLI_USAGE, "similar", "the index holds %u-dimensional vectors, not %u",
                            d, *dim);
        *dim = d, *metric = m;
        return CLI_OK;
    }
    if (!create)
        return cli_fail(CLI_FAIL, "similar", "no vector index yet (steme similar add ...)");
    if (mkdir(vdir, 0700) != 0 && errno != EEXIST)
        return cli_fail(CLI_ERROR, "similar", "mkdir %s: %s", vdir, strerror(errno));
    if (!(f = fopen(path, "w")) || fprintf(f, "dim %u\nmetric %s\n", *dim,
                                           metric_names[*metric]) < 0 || fclose(f) != 0)
        return cli_fail(CLI_ERROR, "similar", "cannot write %s", path);
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
    struct stat st;
    if ((size_t)snprintf(vdir, sizeof vdir, "%s/STEME", dir) >= sizeof vdir)
        return cli_fail(CLI_USAGE, "similar", "--db path too long");
    if (stat(vdir, &st) != 0)
        return cli_fail(CLI_FAIL, "similar", "no steme database in %s (steme init)", dir);
    snprintf(vdir, sizeof vdir, "%s/vectors", dir);
    if ((rc = index_config(vdir, sub == 0, &dim, &metric)) != CLI_OK)
        return rc;
    steme_vector_options vo;
    steme_vector_options_init(&vo, dim);
    vo.metric = (steme_vector_metric)metric;
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
