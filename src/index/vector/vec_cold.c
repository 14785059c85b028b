/*
 * vec_cold.c - opening, verifying and searching a cold vector file in
 * place (format and validity rule in vec_cold_format.h).
 *
 * The whole file is mapped read-only with MAP_POPULATE (one pass of page
 * table setup instead of a fault per page during the first searches), then
 * checked once: a body that passed every check is never re-checked, so a
 * search is exactly as fast as on the hot index's arrays.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "index/vector/hnsw_int.h"
#include "index/vector/vec_cold_format.h"
#include "index/vector/vec_cold_int.h"
#include "steme/hash.h"

struct steme_vector_cold {
    hnsw_graph g;
    const uint8_t *map;
    size_t len;
    uint64_t count, live, wal_offset;
    uint32_t entry, top, efc;
    const uint32_t *by_id;
    hnsw_ctx_pool pool;
};

/* Check the graph sections: links in range, capacities, upper rows. */
static int check_graph(const steme_vector_cold *c, uint64_t up_words, steme_error *err)
{
    const hnsw_graph *g = &c->g;
    uint64_t n = c->count, live = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (g->dead[i] > 1)
            return STEME_CORRUPT(err, "cold file: node %llu has dead flag %u",
                                 (unsigned long long)i, g->dead[i]);
        live += !g->dead[i];
        uint32_t lev = g->levels[i];
        if (lev > c->top)
            return STEME_CORRUPT(err, "cold file: node %llu level %u above top %u",
                                 (unsigned long long)i, lev, c->top);
        const uint32_t *row = g->l0 + i * g->l0_words;
        if (row[0] > g->maxM0)
            return STEME_CORRUPT(err, "cold file: node %llu has %u level-0 links",
                                 (unsigned long long)i, row[0]);
        for (uint32_t j = 0; j < row[0]; j++)
            if (row[1 + j] >= n)
                return STEME_CORRUPT(err, "cold file: node %llu links to %u of %llu",
                                     (unsigned long long)i, row[1 + j], (unsigned long long)n);
        if (!lev)
            continue;
        uint64_t off = g->up_off[i];
        if (off > up_words || (uint64_t)lev * g->up_words > up_words - off)
            return STEME_CORRUPT(err, "cold file: node %llu upper rows outside the pool",
                                 (unsigned long long)i);
        for (uint32_t l = 1; l <= lev; l++) {
            const uint32_t *ur = g->up_pool + off + (uint64_t)(l - 1) * g->up_words;
            if (ur[0] > g->M)
                return STEME_CORRUPT(err, "cold file: node %llu has %u level-%u links",
                                     (unsigned long long)i, ur[0], l);
            for (uint32_t j = 0; j < ur[0]; j++)
                if (ur[1 + j] >= n || g->levels[ur[1 + j]] < l)
                    return STEME_CORRUPT(err, "cold file: node %llu level-%u link to %u is invalid",
                                         (unsigned long long)i, l, ur[1 + j]);
        }
    }
    if (live != c->live)
        return STEME_CORRUPT(err, "cold file: %llu live nodes, header says %llu",
                             (unsigned long long)live, (unsigned long long)c->live);
    if (n && (c->entry >= n || g->levels[c->entry] != c->top))
        return STEME_CORRUPT(err, "cold file: bad entry node %u", c->entry);
    for (uint64_t i = 0; i < n; i++) {
        if (c->by_id[i] >= n)
            return STEME_CORRUPT(err, "cold file: id index entry %llu out of range",
                                 (unsigned long long)i);
        if (i && memcmp(g->ids + (size_t)c->by_id[i - 1] * 32, g->ids + (size_t)c->by_id[i] * 32,
                        32) > 0)
            return STEME_CORRUPT(err, "cold file: id index not sorted at %llu",
                                 (unsigned long long)i);
    }
    return STEME_OK;
}

/* Check the header and point the graph at the sections. */
static int check_header(steme_vector_cold *c, uint64_t *up_words, steme_error *err)
{
    const uint8_t *h = c->map;
    if (c->len < COLD_HEADER_BYTES)
        return STEME_CORRUPT(err, "cold file: %zu bytes, shorter than the header", c->len);
    if (memcmp(h, COLD_MAGIC, 8) != 0)
        return STEME_CORRUPT(err, "cold file: bad magic");
    if (cold_get32(h + COLD_OFF_CRC) != steme_crc32c(0, h, COLD_OFF_CRC))
        return STEME_CORRUPT(err, "cold file: header checksum mismatch");
    if (cold_get32(h + 8) != COLD_VERSION)
        return steme_err(err, STEME_E_VERSION, "cold file: version %u, this build reads %u",
                         cold_get32(h + 8), COLD_VERSION);
    steme_vector_options o;
    steme_vector_options_init(&o, cold_get32(h + COLD_OFF_DIM));
    o.metric = (steme_vector_metric)cold_get32(h + COLD_OFF_METRIC);
    o.storage = (steme_vector_storage)cold_get32(h + COLD_OFF_STORAGE);
    o.M = cold_get32(h + COLD_OFF_M);
    o.ef_construction = cold_get32(h + COLD_OFF_EFC);
    o.ef_search = cold_get32(h + COLD_OFF_EFS);
    c->count = cold_get64(h + COLD_OFF_COUNT);
    c->live = cold_get64(h + COLD_OFF_LIVE);
    c->wal_offset = cold_get64(h + COLD_OFF_WAL);
    c->top = cold_get32(h + COLD_OFF_TOP);
    c->entry = cold_get32(h + COLD_OFF_ENTRY);
    c->efc = o.ef_construction;
    *up_words = cold_get64(h + COLD_OFF_UPWORDS);
    steme_error tmp;
    if (cold_get32(h + 12) != COLD_HEADER_BYTES || hnsw_check_options(&o, &tmp) != STEME_OK ||
        c->count >= STEME_VECTOR_MAX_ELEMENTS || c->live > c->count || c->top > HNSW_MAX_LEVEL ||
        *up_words > ((uint64_t)1 << 40) || (c->count == 0) != (c->entry == HNSW_NONE))
        return STEME_CORRUPT(err, "cold file: header field out of range");
    hnsw_graph *g = &c->g;
    g->dim = o.dim;
    g->M = o.M;
    g->maxM0 = 2 * o.M;
    g->l0_words = 1 + g->maxM0;
    g->up_words = 1 + g->M;
    g->ef_search = o.ef_search;
    g->metric = o.metric;
    g->storage = o.storage;
    g->vsize = (size_t)o.dim * (o.storage == STEME_VECTOR_U8 ? 1 : 4);
    g->vstride = (size_t)cold_align64(g->vsize);
    hnsw_graph_kernels(g);
    cold_layout l;
    cold_layout_compute(c->count, g->M, g->vstride, *up_words, &l);
    for (int s = 0; s < COLD_SECTIONS; s++)
        if (cold_get64(h + COLD_OFF_SECTIONS + 8 * s) != l.off[s])
            return STEME_CORRUPT(err, "cold file: section %d at a wrong offset", s);
    if (cold_get64(h + COLD_OFF_BODY) != l.end - COLD_HEADER_BYTES || l.end != c->len)
        return STEME_CORRUPT(err, "cold file: %zu bytes, header implies %llu", c->len,
                             (unsigned long long)l.end);
    uint8_t digest[32];
    if (cold_body_digest(c->map + COLD_HEADER_BYTES, c->len - COLD_HEADER_BYTES, digest) != STEME_OK)
        return steme_err(err, STEME_E_NOMEM, "cold file: out of memory");
    if (memcmp(digest, h + COLD_OFF_BLAKE3, 32) != 0)
        return STEME_CORRUPT(err, "cold file: body checksum (BLAKE3) mismatch");
    g->ids = c->map + l.off[SEC_IDS];
    g->dead = c->map + l.off[SEC_DEAD];
    g->levels = c->map + l.off[SEC_LEVELS];
    c->by_id = (const uint32_t *)(c->map + l.off[SEC_BY_ID]);
    g->up_off = (const uint64_t *)(c->map + l.off[SEC_UP_OFF]);
    g->up_pool = (const uint32_t *)(c->map + l.off[SEC_UP_POOL]);
    g->l0 = (const uint32_t *)(c->map + l.off[SEC_L0]);
    g->vecs = c->map + l.off[SEC_VECS];
    return STEME_OK;
}

int steme_vector_cold_open(const char *path, const steme_vector_options *expect,
                           steme_vector_cold **out, steme_error *err)
{
    if (!path || !out)
        return steme_err(err, STEME_E_INVALID, "cold open: NULL path or out");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return steme_err(err, errno == ENOENT ? STEME_E_NOTFOUND : STEME_E_IO, "cold open %s: %s",
                         path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return steme_err(err, STEME_E_IO, "cold open: stat %s: %s", path, strerror(e));
    }
    steme_vector_cold *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return steme_err(err, STEME_E_NOMEM, "cold open: out of memory");
    }
    c->len = (size_t)st.st_size;
    int rc = STEME_OK;
    if (c->len < COLD_HEADER_BYTES) {
        close(fd);
        free(c);
        return STEME_CORRUPT(err, "cold file %s: %zu bytes, shorter than the header", path,
                             (size_t)st.st_size);
    }
    void *m = mmap(NULL, c->len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        free(c);
        return steme_err(err, STEME_E_IO, "cold open: mmap %s: %s", path, strerror(errno));
    }
    c->map = m;
    uint64_t up_words = 0;
    rc = check_header(c, &up_words, err);
    if (!rc)
        rc = check_graph(c, up_words, err);
    if (!rc && expect &&
        (expect->dim != c->g.dim || expect->metric != c->g.metric ||
         expect->storage != c->g.storage))
        rc = steme_err(err, STEME_E_INVALID,
                       "cold open %s: file has dim %u metric %d storage %d, expected %u/%d/%d", path,
                       c->g.dim, (int)c->g.metric, (int)c->g.storage, expect->dim,
                       (int)expect->metric, (int)expect->storage);
    if (!rc && hnsw_ctx_pool_init(&c->pool, c->g.dim, c->g.maxM0) != STEME_OK)
        rc = steme_err(err, STEME_E_NOMEM, "cold open: out of memory");
    if (rc) {
        munmap(m, c->len);
        free(c);
        return rc;
    }
    *out = c;
    return STEME_OK;
}

void steme_vector_cold_close(steme_vector_cold *c)
{
    if (!c)
        return;
    hnsw_ctx_pool_destroy(&c->pool);
    munmap((void *)c->map, c->len);
    free(c);
}

int steme_vector_cold_search(const steme_vector_cold *c, const float *query, size_t k,
                             uint32_t ef, steme_vector_hit *hits, size_t *n_hits)
{
    if (!c)
        return STEME_E_INVALID;
    /* The pool is the only mutable part, and it has its own lock. */
    hnsw_ctx_pool *pool = (hnsw_ctx_pool *)&c->pool;
    return hnsw_query(&c->g, pool, (uint32_t)c->count, c->entry, c->top, c->count - c->live, query,
                      k, ef, hits, n_hits);
}

int steme_vector_cold_contains(const steme_vector_cold *c, const steme_hash *id)
{
    if (!c || !id)
        return 0;
    size_t lo = 0, hi = (size_t)c->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (memcmp(c->g.ids + (size_t)c->by_id[mid] * 32, id->bytes, 32) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* A deleted node and a live re-insert may share the id. */
    for (; lo < c->count; lo++) {
        uint32_t node = c->by_id[lo];
        if (memcmp(c->g.ids + (size_t)node * 32, id->bytes, 32) != 0)
            break;
        if (!c->g.dead[node])
            return 1;
    }
    return 0;
}

uint64_t steme_vector_cold_count(const steme_vector_cold *c)
{
    return c ? c->live : 0;
}

uint64_t steme_vector_cold_wal_offset(const steme_vector_cold *c)
{
    return c ? c->wal_offset : 0;
}

void steme_vector_cold_options(const steme_vector_cold *c, steme_vector_options *o)
{
    if (!c || !o)
        return;
    steme_vector_options_init(o, c->g.dim);
    o->metric = c->g.metric;
    o->storage = c->g.storage;
    o->M = c->g.M;
    o->ef_construction = c->efc;
    o->ef_search = c->g.ef_search;
}

uint64_t cold_node_count(const steme_vector_cold *c)
{
    return c->count;
}

int cold_node_get(const steme_vector_cold *c, uint64_t i, steme_hash *id, float *vec)
{
    const hnsw_graph *g = &c->g;
    if (g->dead[i])
        return 0;
    memcpy(id->bytes, g->ids + i * 32, 32);
    const uint8_t *v = hnsw_vec(g, (uint32_t)i);
    if (g->storage == STEME_VECTOR_U8)
        for (uint32_t d = 0; d < g->dim; d++)
            vec[d] = v[d];
    else
        memcpy(vec, v, sizeof(float) * g->dim);
    return 1;
}
