/*
 * h_index.c - the two search indexes over HTTP (docs/api.md):
 *   POST /v1/vectors         (signed) index an assertion's embedding
 *   POST /v1/vectors/search  k nearest assertions to a vector (HNSW)
 *   POST /v1/visual          (signed) index an assertion under a 64-bit phash
 *   POST /v1/visual/search   near duplicates by Hamming distance (radius or k)
 * The indexes themselves are opened and closed by srv_index.c.
 *
 * Order of checks on an add, as for the other writes, so that a refused
 * request changes nothing and costs nothing: signature (401, by the
 * caller), JSON shape (400), the assertion exists (404) and the signer is
 * its agent (403: otherwise anyone could re-point someone else's assertion
 * at another vector, since a vector add replaces), the vector fits the index
 * (400), the Meter (429, charged as an assert), then the durable write.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "server/srv_int.h"

#define VEC_DEFAULT_K 10
#define VEC_MAX_K 1000
#define VIS_DEFAULT_RADIUS 10
#define VIS_MAX_K 1000
#define VIS_DEFAULT_LIMIT 1000
#define VIS_MAX_LIMIT 10000

/* 1 if every member of obj is named in allowed (NULL-terminated). */
static int only_members(json_t *obj, const char *const *allowed, char *why, size_t cap)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i]) {
            snprintf(why, cap, "unknown member \"%s\"", key);
            return 0;
        }
    }
    return 1;
}

/* Optional integer member in [lo, hi]: 1 (and *out, *present) or 0 with why. */
static int get_int(json_t *obj, const char *key, long long lo, long long hi, long long *out,
                   int *present, char *why, size_t cap)
{
    json_t *v = json_object_get(obj, key);
    *present = v != NULL;
    if (!v)
        return 1;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(why, cap, "\"%s\" must be an integer in %lld..%lld", key, lo, hi);
        return 0;
    }
    *out = json_integer_value(v);
    return 1;
}

/* "vector": 1..STEME_VECTOR_MAX_DIM numbers, each finite as a float32.
 * *vec is malloc'd (caller frees). */
static int get_vector(json_t *obj, float **vec, uint32_t *dim, char *why, size_t cap)
{
    json_t *arr = json_object_get(obj, "vector");
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n == 0 || n > STEME_VECTOR_MAX_DIM) {
        snprintf(why, cap, "\"vector\" must be an array of 1..%u numbers", STEME_VECTOR_MAX_DIM);
        return 0;
    }
    float *v = malloc(n * sizeof *v);
    if (!v) {
        snprintf(why, cap, "out of memory");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(arr, i);
        v[i] = (float)json_number_value(x);
        /* A double beyond FLT_MAX becomes inf as a float: refuse it here
         * rather than let the index refuse a "non-finite" value the client
         * never sent. */
        if (!json_is_number(x) || !isfinite(v[i])) {
            snprintf(why, cap, "\"vector\"[%zu] must be a number within float32 range", i);
            free(v);
            return 0;
        }
    }
    *vec = v;
    *dim = (uint32_t)n;
    return 1;
}

/* "id": an assertion hash. */
static int get_id(json_t *obj, steme_hash *id, char *why, size_t cap)
{
    json_t *v = json_object_get(obj, "id");
    if (!json_is_string(v) || !srv_hex_parse(json_string_value(v), id->bytes, 32)) {
        snprintf(why, cap, "\"id\" must be an assertion hash (64 hex digits)");
        return 0;
    }
    return 1;
}

/* "phash": exactly 16 hex digits, most significant first (as the CLI and
 * an assertion's phash member). */
static int get_phash(json_t *obj, uint64_t *ph, char *why, size_t cap)
{
    json_t *v = json_object_get(obj, "phash");
    uint8_t b[8];
    if (!json_is_string(v) || !srv_hex_parse(json_string_value(v), b, 8)) {
        snprintf(why, cap, "\"phash\" must be a string of 16 hex digits");
        return 0;
    }
    *ph = bytes_get_be64(b);
    return 1;
}

/* The assertion exists and the signer made it: 1, else 0 with 404/403. */
static int own_assertion(srv_req *r, srv_resp *out, const steme_hash *id)
{
    steme_buf buf = STEME_BUF_INIT;
    steme_assertion a;
    int rc = steme_db_get_assertion(r->s->db, id, &buf, &a);
    int ok = rc == STEME_OK && memcmp(a.agent.bytes, r->agent.bytes, 32) == 0;
    if (rc != STEME_OK)
        srv_error_db(out, r->s, rc, "reading the assertion");
    else if (!ok)
        srv_error(out, 403, "HTTP_FORBIDDEN",
                  "only the assertion's own agent may index it (X-Agent-Id is not its agent)");
    steme_buf_free(&buf);
    return ok;
}

static int all_zero(const float *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] != 0.0f)
            return 0;
    return 1;
}

void srv_h_vectors_add(srv_req *r, srv_resp *out)
{
    static const char *const members[] = {"id", "vector", "metric", NULL};
    json_t *obj;
    if (!srv_body_object(r, out, &obj))
        return;
    float *vec = NULL;
    uint32_t dim = 0;
    steme_hash id;
    char why[160];
    json_t *mj = json_object_get(obj, "metric");
    int metric = mj ? srv_metric_parse(json_string_value(mj)) : 0;
    if (!only_members(obj, members, why, sizeof why) || !get_id(obj, &id, why, sizeof why) ||
        !get_vector(obj, &vec, &dim, why, sizeof why) ||
        (mj && !metric && snprintf(why, sizeof why, "\"metric\" is l2, cosine or ip") > 0)) {
        srv_error(out, 400, "HTTP_BAD_BODY", "vector add: %s", why);
        goto done;
    }
    if (!own_assertion(r, out, &id))
        goto done;
    srv *s = r->s;
    steme_vector_store *vs = srv_vectors(s);
    /* Without an index this add creates it (dimension and metric are then
     * the request's), so check against what the index is or will be. */
    uint32_t want_dim = vs ? s->vec.dim : dim;
    int want_metric = vs ? s->vec.metric : metric ? metric : STEME_VECTOR_COSINE;
    if (dim != want_dim || (metric && metric != want_metric)) {
        srv_error(out, 400, "HTTP_BAD_BODY", "vector add: the index holds %u-dimensional "
                  "vectors compared by %s, not %u-dimensional%s%s", want_dim,
                  srv_metric_name(want_metric), dim, metric ? " by " : "",
                  metric ? srv_metric_name(metric) : "");
        goto done;
    }
    if (want_metric == STEME_VECTOR_COSINE && all_zero(vec, dim)) {
        srv_error(out, 400, "HTTP_BAD_BODY", "vector add: a zero vector has no direction "
                  "(the index compares by cosine)");
        goto done;
    }
    if (!srv_charge(r, out, STEME_QUOTA_ASSERT))
        goto done;
    steme_error e;
    int rc;
    if (!vs) {
        if ((rc = srv_vectors_create(s, want_dim, want_metric, &e)) != STEME_OK) {
            if (rc == STEME_E_UNSUPPORTED)
                srv_error(out, 503, "HTTP_NO_INDEX", "%s", e.message);
            else
                srv_error_status(out, rc, "creating the vector index", e.message);
            goto done;
        }
        vs = srv_vectors(s);
        if (s->vec.dim != dim || s->vec.metric != want_metric) {
            /* a concurrent first add won with another shape */
            srv_error(out, 400, "HTTP_BAD_BODY", "vector add: the index holds %u-dimensional "
                      "vectors compared by %s", s->vec.dim, srv_metric_name(s->vec.metric));
            goto done;
        }
    }
    int replaced = steme_vector_store_contains(vs, &id);
    rc = srv_index_vector_add(s, vs, &id, vec);
    if (rc == STEME_E_FULL) {
        /* The hot index is full: fold it into a new cold file in the
         * background (STEME_E_BUSY: one is already running); retry later. */
        (void)steme_vector_store_build_start(vs);
        srv_error(out, 503, "STEME_E_FULL", "the vector index is being compacted, retry shortly");
        goto done;
    }
    if (rc != STEME_OK) {
        srv_error_status(out, rc, "indexing the vector", steme_vector_store_errmsg(vs));
        goto done;
    }
    srv_json(out, replaced ? 200 : 201,
             json_pack("{s:o,s:I,s:s,s:b}", "id", srv_hex_json(id.bytes, 32), "dim",
                       (json_int_t)dim, "metric", srv_metric_name(s->vec.metric), "replaced",
                       replaced));
done:
    free(vec);
    json_decref(obj);
}

void srv_h_vectors_search(srv_req *r, srv_resp *out)
{
    static const char *const members[] = {"vector", "k", "ef", NULL};
    json_t *obj;
    if (!srv_body_object(r, out, &obj))
        return;
    float *vec = NULL;
    steme_vector_hit *hits = NULL;
    uint32_t dim = 0;
    long long k = VEC_DEFAULT_K, ef = 0;
    int has_k, has_ef;
    char why[160];
    if (!only_members(obj, members, why, sizeof why) ||
        !get_vector(obj, &vec, &dim, why, sizeof why) ||
        !get_int(obj, "k", 1, VEC_MAX_K, &k, &has_k, why, sizeof why) ||
        !get_int(obj, "ef", 0, STEME_VECTOR_MAX_EF, &ef, &has_ef, why, sizeof why)) {
        srv_error(out, 400, "HTTP_BAD_BODY", "vector search: %s", why);
        goto done;
    }
    if (!r->s->vec.dir[0]) {
        srv_error(out, 503, "HTTP_NO_INDEX", "this node keeps no local indexes "
                  "(start steme serve with --index-dir DIR)");
        goto done;
    }
    steme_vector_store *vs = srv_vectors(r->s);
    if (!vs) {   /* no index yet: nothing is similar to anything */
        srv_json(out, 200, json_pack("{s:[],s:n,s:n}", "hits", "dim", "metric"));
        goto done;
    }
    if (dim != r->s->vec.dim) {
        srv_error(out, 400, "HTTP_BAD_BODY", "vector search: the index holds %u-dimensional "
                  "vectors, not %u", r->s->vec.dim, dim);
        goto done;
    }
    size_t n = 0;
    hits = malloc((size_t)k * sizeof *hits);
    int rc = hits ? steme_vector_store_search(vs, vec, (size_t)k, (uint32_t)ef, hits, &n)
                  : STEME_E_NOMEM;
    if (rc != STEME_OK) {
        srv_error_status(out, rc, "vector search", hits ? steme_vector_store_errmsg(vs) : NULL);
        goto done;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, json_pack("{s:o,s:f}", "id",
                                                 srv_hex_json(hits[i].id.bytes, 32), "distance",
                                                 (double)hits[i].distance)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    srv_json(out, 200, arr ? json_pack("{s:o,s:I,s:s}", "hits", arr, "dim",
                                       (json_int_t)r->s->vec.dim, "metric",
                                       srv_metric_name(r->s->vec.metric))
                           : NULL);
done:
    free(hits);
    free(vec);
    json_decref(obj);
}

void srv_h_visual_add(srv_req *r, srv_resp *out)
{
    static const char *const members[] = {"id", "phash", NULL};
    json_t *obj;
    if (!srv_body_object(r, out, &obj))
        return;
    steme_hash id;
    uint64_t ph;
    char why[160];
    if (!only_members(obj, members, why, sizeof why) || !get_id(obj, &id, why, sizeof why) ||
        !get_phash(obj, &ph, why, sizeof why)) {
        srv_error(out, 400, "HTTP_BAD_BODY", "visual add: %s", why);
        goto done;
    }
    if (!r->s->visual) {
        srv_error(out, 503, "HTTP_NO_INDEX", "this node keeps no local indexes "
                  "(start steme serve with --index-dir DIR)");
        goto done;
    }
    if (!own_assertion(r, out, &id) || !srv_charge(r, out, STEME_QUOTA_ASSERT))
        goto done;
    /* Two adds of the same pair may race: both are inserts, which commute
     * (the second is EXISTS), so the log order cannot matter. */
    int rc = srv_index_visual_add(r->s, ph, &id);
    if (rc != STEME_OK && rc != STEME_E_EXISTS) {
        srv_error_status(out, rc, "indexing the phash", steme_pvisual_errmsg(r->s->visual));
        goto done;
    }
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)ph);
    srv_json(out, rc == STEME_OK ? 201 : 200,
             json_pack("{s:o,s:s,s:b}", "id", srv_hex_json(id.bytes, 32), "phash", hex, "added",
                       rc == STEME_OK));
done:
    json_decref(obj);
}

static int by_distance(const void *a, const void *b)
{
    const steme_visual_hit *x = a, *y = b;
    if (x->distance != y->distance)
        return x->distance < y->distance ? -1 : 1;
    return memcmp(x->id.bytes, y->id.bytes, sizeof x->id.bytes);
}

void srv_h_visual_search(srv_req *r, srv_resp *out)
{
    static const char *const members[] = {"phash", "radius", "k", "limit", NULL};
    json_t *obj;
    if (!srv_body_object(r, out, &obj))
        return;
    uint64_t ph;
    long long radius = VIS_DEFAULT_RADIUS, k = 0, limit = VIS_DEFAULT_LIMIT;
    int has_radius, has_k, has_limit;
    char why[160];
    if (!only_members(obj, members, why, sizeof why) || !get_phash(obj, &ph, why, sizeof why) ||
        !get_int(obj, "radius", 0, STEME_VISUAL_MAX_DISTANCE, &radius, &has_radius, why,
                 sizeof why) ||
        !get_int(obj, "k", 1, VIS_MAX_K, &k, &has_k, why, sizeof why) ||
        !get_int(obj, "limit", 1, VIS_MAX_LIMIT, &limit, &has_limit, why, sizeof why) ||
        (has_k && (has_radius || has_limit) &&
         snprintf(why, sizeof why, "give \"radius\" (and \"limit\") or \"k\", not both") > 0)) {
        srv_error(out, 400, "HTTP_BAD_BODY", "visual search: %s", why);
        json_decref(obj);
        return;
    }
    json_decref(obj);
    if (!r->s->visual) {
        srv_error(out, 503, "HTTP_NO_INDEX", "this node keeps no local indexes "
                  "(start steme serve with --index-dir DIR)");
        return;
    }
    steme_visual *v = steme_pvisual_index(r->s->visual);
    steme_visual_hits hits;
    steme_visual_hits_init(&hits);
    int rc = has_k ? steme_visual_knn(v, ph, (size_t)k, STEME_VISUAL_AUTO, &hits)
                   : steme_visual_radius(v, ph, (unsigned)radius, STEME_VISUAL_AUTO, &hits);
    if (rc != STEME_OK) {
        srv_error_status(out, rc, "visual search", steme_visual_errmsg(v));
        steme_visual_hits_free(&hits);
        return;
    }
    /* Radius hits come in no order: nearest first, then cut at limit
     * (k-NN answers are already ordered by distance, then id). */
    size_t n = hits.count;
    int truncated = 0;
    if (!has_k) {
        if (n > 1)   /* with no hits, hits.hits may be NULL: not for qsort */
            qsort(hits.hits, n, sizeof hits.hits[0], by_distance);
        truncated = n > (size_t)limit;
        n = truncated ? (size_t)limit : n;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)hits.hits[i].phash);
        if (json_array_append_new(arr, json_pack("{s:o,s:s,s:i}", "id",
                                                 srv_hex_json(hits.hits[i].id.bytes, 32),
                                                 "phash", hex, "distance",
                                                 (int)hits.hits[i].distance)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    steme_visual_hits_free(&hits);
    srv_json(out, 200, arr ? json_pack("{s:o,s:b}", "hits", arr, "truncated", truncated) : NULL);
}
