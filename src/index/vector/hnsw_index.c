/*
 * hnsw_index.c - the hot index's public calls: create, add, delete,
 * search, contains (see steme/vector.h and hnsw_hot.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "index/vector/hnsw_hot.h"

#define PAGE 4096u
#define DEFAULT_MAX_ELEMENTS (1ull << 22)

void steme_vector_options_init(steme_vector_options *o, uint32_t dim)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->dim = dim;
    o->metric = STEME_VECTOR_L2;
    o->storage = STEME_VECTOR_F32;
    o->M = 16;
    o->ef_construction = 200;
    o->ef_search = 40;
    o->max_elements = DEFAULT_MAX_ELEMENTS;
    o->seed = 42;
}

int hnsw_check_options(const steme_vector_options *o, steme_error *err)
{
    if (!o)
        return steme_err(err, STEME_E_INVALID, "vector options: NULL");
    if (o->dim == 0 || o->dim > STEME_VECTOR_MAX_DIM)
        return steme_err(err, STEME_E_INVALID, "vector options: dim %u not in 1..%u", o->dim,
                         STEME_VECTOR_MAX_DIM);
    if (o->metric != STEME_VECTOR_L2 && o->metric != STEME_VECTOR_COSINE &&
        o->metric != STEME_VECTOR_IP)
        return steme_err(err, STEME_E_INVALID, "vector options: unknown metric %d", (int)o->metric);
    if (o->storage != STEME_VECTOR_F32 && o->storage != STEME_VECTOR_U8)
        return steme_err(err, STEME_E_INVALID, "vector options: unknown storage %d",
                         (int)o->storage);
    if (o->storage == STEME_VECTOR_U8 && o->metric == STEME_VECTOR_COSINE)
        return steme_err(err, STEME_E_INVALID,
                         "vector options: U8 storage cannot hold normalised (cosine) vectors");
    if (o->M < 2 || o->M > STEME_VECTOR_MAX_M)
        return steme_err(err, STEME_E_INVALID, "vector options: M %u not in 2..%u", o->M,
                         STEME_VECTOR_MAX_M);
    if (o->ef_construction == 0 || o->ef_construction > STEME_VECTOR_MAX_EF ||
        o->ef_search == 0 || o->ef_search > STEME_VECTOR_MAX_EF)
        return steme_err(err, STEME_E_INVALID, "vector options: ef_construction %u / ef_search %u "
                         "not in 1..%u", o->ef_construction, o->ef_search, STEME_VECTOR_MAX_EF);
    if (o->max_elements == 0 || o->max_elements > STEME_VECTOR_MAX_ELEMENTS)
        return steme_err(err, STEME_E_INVALID, "vector options: max_elements %llu not in 1..2^31",
                         (unsigned long long)o->max_elements);
    return STEME_OK;
}

static size_t round_up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

int steme_hnsw_create(const steme_vector_options *o, steme_hnsw **out, steme_error *err)
{
    if (!out)
        return steme_err(err, STEME_E_INVALID, "hnsw create: NULL out");
    *out = NULL;
    int rc = hnsw_check_options(o, err);
    if (rc)
        return rc;
    steme_hnsw *h = calloc(1, sizeof *h);
    if (!h)
        return steme_err(err, STEME_E_NOMEM, "hnsw create: out of memory");
    hnsw_graph *g = &h->g;
    g->dim = o->dim;
    g->M = o->M;
    g->maxM0 = 2 * o->M;
    g->l0_words = 1 + g->maxM0;
    g->up_words = 1 + g->M;
    g->ef_search = o->ef_search;
    g->metric = o->metric;
    g->storage = o->storage;
    g->vsize = (size_t)o->dim * (o->storage == STEME_VECTOR_U8 ? 1 : 4);
    g->vstride = round_up(g->vsize, 64);
    hnsw_graph_kernels(g);

    size_t cap = (size_t)o->max_elements;
    size_t off_vecs = 0;
    size_t off_l0 = round_up(off_vecs + cap * g->vstride, PAGE);
    size_t off_levels = round_up(off_l0 + cap * g->l0_words * 4, PAGE);
    size_t off_dead = round_up(off_levels + cap, PAGE);
    size_t off_ids = round_up(off_dead + cap, PAGE);
    size_t off_up = round_up(off_ids + cap * STEME_HASH_LEN, PAGE);
    size_t total = round_up(off_up + cap * sizeof(uint32_t *), PAGE);
    void *r = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (r == MAP_FAILED) {
        free(h);
        return steme_err(err, STEME_E_NOMEM, "hnsw create: cannot reserve %zu bytes for %zu nodes",
                         total, cap);
    }
    /* Searches read vectors and rows at random over the whole region: huge
     * pages cut TLB misses (advice only; ignored where THP is off). */
    madvise(r, total, MADV_HUGEPAGE);
    uint8_t *base = r;
    h->hs_region = r;
    h->hs_region_len = total;
    h->hs_vecs = base + off_vecs;
    h->hs_l0 = (uint32_t *)(base + off_l0);
    h->hs_levels = base + off_levels;
    h->hs_dead = base + off_dead;
    h->hs_ids = base + off_ids;
    h->hs_up = (uint32_t **)(base + off_up);
    g->vecs = h->hs_vecs;
    g->l0 = h->hs_l0;
    g->levels = h->hs_levels;
    g->dead = h->hs_dead;
    g->ids = h->hs_ids;
    g->up_ptr = h->hs_up;
    h->hs_cap = cap;
    h->hs_ep = HNSW_EP_EMPTY;
    h->hs_rng = o->seed ? o->seed : 42;
    h->hs_mult = 1.0 / log((double)o->M);
    h->hs_efc = o->ef_construction;

    int have_lock = 0, have_pool = 0, have_map = 0, have_errs = 0;
    rc = STEME_E_NOMEM;
    if (pthread_mutex_init(&h->hs_wlock, NULL) != 0)
        goto fail;
    have_lock = 1;
    if (hnsw_ctx_pool_init(&h->hs_pool, g->dim, g->maxM0) != STEME_OK)
        goto fail;
    have_pool = 1;
    if (vec_idmap_init(&h->hs_map, 1024) != STEME_OK)
        goto fail;
    have_map = 1;
    if (steme_errslot_init(&h->hs_errs) != STEME_OK)
        goto fail;
    have_errs = 1;
    *out = h;
    return STEME_OK;
fail:
    if (have_errs)
        steme_errslot_destroy(&h->hs_errs);
    if (have_map)
        vec_idmap_free(&h->hs_map);
    if (have_pool)
        hnsw_ctx_pool_destroy(&h->hs_pool);
    if (have_lock)
        pthread_mutex_destroy(&h->hs_wlock);
    munmap(h->hs_region, h->hs_region_len);
    free(h);
    return steme_err(err, rc, "hnsw create: out of memory");
}

void steme_hnsw_free(steme_hnsw *h)
{
    if (!h)
        return;
    for (uint32_t i = 0; i < h->hs_n; i++)
        free(h->hs_up[i]);
    steme_errslot_destroy(&h->hs_errs);
    vec_idmap_free(&h->hs_map);
    hnsw_ctx_pool_destroy(&h->hs_pool);
    pthread_mutex_destroy(&h->hs_wlock);
    munmap(h->hs_region, h->hs_region_len);
    free(h);
}

/* splitmix64: a level draw needs a uniform double, nothing stronger. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t draw_level(steme_hnsw *h)
{
    double u = ((double)(next_rand(&h->hs_rng) >> 11) + 1.0) / 9007199254740992.0; /* (0,1] */
    double l = -log(u) * h->hs_mult;
    return l >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL : (uint32_t)l;
}

int hnsw_check_vector(const hnsw_graph *g, const float *vec, const char **why)
{
    double norm = 0;
    for (uint32_t i = 0; i < g->dim; i++) {
        float v = vec[i];
        if (!isfinite(v)) {
            *why = "a component is not finite";
            return STEME_E_INVALID;
        }
        if (g->storage == STEME_VECTOR_U8 && !(v >= 0.0f && v <= 255.0f && v == (float)(int)v)) {
            *why = "U8 storage needs integer components in 0..255";
            return STEME_E_INVALID;
        }
        norm += (double)v * v;
    }
    if (g->metric == STEME_VECTOR_COSINE && norm == 0) {
        *why = "a zero vector has no direction (cosine)";
        return STEME_E_INVALID;
    }
    return STEME_OK;
}

/* Check vec and write its stored form into dst (vsize bytes). */
static int encode_vector(const hnsw_graph *g, const float *vec, uint8_t *dst, const char **why)
{
    int rc = hnsw_check_vector(g, vec, why);
    if (rc)
        return rc;
    if (g->storage == STEME_VECTOR_U8) {
        for (uint32_t i = 0; i < g->dim; i++)
            dst[i] = (uint8_t)vec[i];
        return STEME_OK;
    }
    float scale = 1.0f;
    if (g->metric == STEME_VECTOR_COSINE) {
        double norm = 0;
        for (uint32_t i = 0; i < g->dim; i++)
            norm += (double)vec[i] * vec[i];
        scale = (float)(1.0 / sqrt(norm));
    }
    float *f = (float *)dst;
    for (uint32_t i = 0; i < g->dim; i++)
        f[i] = vec[i] * scale;
    return STEME_OK;
}

int steme_hnsw_add(steme_hnsw *h, const steme_hash *id, const float *vec)
{
    if (!h)
        return STEME_E_INVALID;
    if (!id || !vec)
        return steme_errslot_set(&h->hs_errs, STEME_E_INVALID, "hnsw add: NULL id or vector");
    hnsw_graph *g = &h->g;
    pthread_mutex_lock(&h->hs_wlock);
    int rc = STEME_OK;
    uint32_t node = h->hs_n;
    hnsw_ctx *c = NULL;
    uint32_t old = vec_idmap_find(&h->hs_map, h->hs_ids, id->bytes);
    if (old != HNSW_NONE && !h->hs_dead[old]) {
        rc = steme_errslot_set(&h->hs_errs, STEME_E_EXISTS, "hnsw add: id already present");
        goto done;
    }
    if (node >= h->hs_cap) {
        rc = steme_errslot_set(&h->hs_errs, STEME_E_FULL, "hnsw add: index full (%llu nodes)",
                               (unsigned long long)h->hs_cap);
        goto done;
    }
    /* The node's slot is unpublished (readers skip node numbers >= hs_n),
     * so it can be filled with plain stores. */
    const char *why = NULL;
    rc = encode_vector(g, vec, h->hs_vecs + (size_t)node * g->vstride, &why);
    if (rc) {
        rc = steme_errslot_set(&h->hs_errs, rc, "hnsw add: %s", why);
        goto done;
    }
    c = hnsw_ctx_get(&h->hs_pool, (size_t)node + 1, h->hs_efc);
    if (!c)
        goto oom;
    uint32_t level = draw_level(h);
    if (level) {
        uint32_t *up = calloc((size_t)level * g->up_words, sizeof *up);
        if (!up)
            goto oom;
        __atomic_store_n(&h->hs_up[node], up, __ATOMIC_RELEASE);
    }
    memcpy(h->hs_ids + (size_t)node * STEME_HASH_LEN, id->bytes, STEME_HASH_LEN);
    h->hs_levels[node] = (uint8_t)level;
    if (vec_idmap_put(&h->hs_map, h->hs_ids, node) != STEME_OK) {
        free(h->hs_up[node]);
        h->hs_up[node] = NULL;
        goto oom;
    }
    hnsw_link(h, c, node, level);
    __atomic_store_n(&h->hs_n, node + 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&h->hs_live_n, 1, __ATOMIC_RELAXED);
    uint64_t epk = h->hs_ep;
    if (epk == HNSW_EP_EMPTY || level > (uint32_t)(epk >> 32))
        __atomic_store_n(&h->hs_ep, ((uint64_t)level << 32) | node, __ATOMIC_RELEASE);
    goto done;
oom:
    rc = steme_errslot_set(&h->hs_errs, STEME_E_NOMEM, "hnsw add: out of memory");
done:
    hnsw_ctx_put(&h->hs_pool, c);
    pthread_mutex_unlock(&h->hs_wlock);
    return rc;
}

int steme_hnsw_delete(steme_hnsw *h, const steme_hash *id)
{
    if (!h)
        return STEME_E_INVALID;
    if (!id)
        return steme_errslot_set(&h->hs_errs, STEME_E_INVALID, "hnsw delete: NULL id");
    pthread_mutex_lock(&h->hs_wlock);
    int rc = STEME_OK;
    uint32_t node = vec_idmap_find(&h->hs_map, h->hs_ids, id->bytes);
    if (node == HNSW_NONE || h->hs_dead[node]) {
        rc = steme_errslot_set(&h->hs_errs, STEME_E_NOTFOUND, "hnsw delete: id not present");
    } else {
        __atomic_store_n(&h->hs_dead[node], 1, __ATOMIC_RELEASE);
        __atomic_add_fetch(&h->hs_dead_n, 1, __ATOMIC_RELAXED);
        __atomic_sub_fetch(&h->hs_live_n, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&h->hs_wlock);
    return rc;
}

int steme_hnsw_search(steme_hnsw *h, const float *query, size_t k, uint32_t ef,
                      steme_vector_hit *hits, size_t *n_hits)
{
    if (!h)
        return STEME_E_INVALID;
    /* Entry point before count: the writer publishes the count first, so
     * the entry point read is always below the count read. */
    uint64_t epk = __atomic_load_n(&h->hs_ep, __ATOMIC_ACQUIRE);
    uint32_t n = __atomic_load_n(&h->hs_n, __ATOMIC_ACQUIRE);
    uint64_t dead = __atomic_load_n(&h->hs_dead_n, __ATOMIC_RELAXED);
    uint32_t ep = epk == HNSW_EP_EMPTY ? HNSW_NONE : (uint32_t)epk;
    uint32_t top = epk == HNSW_EP_EMPTY ? 0 : (uint32_t)(epk >> 32);
    int rc = hnsw_query(&h->g, &h->hs_pool, n, ep, top, dead, query, k, ef, hits, n_hits);
    if (rc == STEME_E_INVALID)
        return steme_errslot_set(&h->hs_errs, rc, "hnsw search: NULL argument, k of 0, k or ef "
                                 "above %u, or a query that is not finite (or zero, for cosine)",
                                 STEME_VECTOR_MAX_EF);
    if (rc)
        return steme_errslot_set(&h->hs_errs, rc, "hnsw search: out of memory");
    return STEME_OK;
}

int steme_hnsw_contains(steme_hnsw *h, const steme_hash *id)
{
    if (!h || !id)
        return 0;
    pthread_mutex_lock(&h->hs_wlock);
    uint32_t node = vec_idmap_find(&h->hs_map, h->hs_ids, id->bytes);
    int live = node != HNSW_NONE && !h->hs_dead[node];
    pthread_mutex_unlock(&h->hs_wlock);
    return live;
}

uint64_t steme_hnsw_count(const steme_hnsw *h)
{
    return h ? __atomic_load_n(&h->hs_live_n, __ATOMIC_RELAXED) : 0;
}

const char *steme_hnsw_errmsg(steme_hnsw *h)
{
    return h ? steme_errslot_message(&h->hs_errs) : "no handle";
}
