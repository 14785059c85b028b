/*
 * hnsw_ctx.c - the pool of per-search scratch contexts (visited tags,
 * candidate pool, converted query). A search takes one under a mutex held
 * for a pointer swap, so concurrent searches never share scratch and a warm
 * index allocates nothing per query.
 */
#include <stdlib.h>
#include <string.h>

#include "index/vector/hnsw_int.h"

int hnsw_ctx_pool_init(hnsw_ctx_pool *p, uint32_t dim, uint32_t maxM0)
{
    memset(p, 0, sizeof *p);
    p->dim = dim;
    p->maxM0 = maxM0;
    return pthread_mutex_init(&p->lock, NULL) == 0 ? STEME_OK : STEME_E_NOMEM;
}

static void ctx_free(hnsw_ctx *c)
{
    free(c->tags);
    free(c->pool);
    free(c->buf);
    free(c->sel);
    free(c->query);
    free(c);
}

void hnsw_ctx_pool_destroy(hnsw_ctx_pool *p)
{
    hnsw_ctx *c = p->free;
    while (c) {
        hnsw_ctx *next = c->next;
        ctx_free(c);
        c = next;
    }
    p->free = NULL;
    pthread_mutex_destroy(&p->lock);
}

static hnsw_ctx *ctx_new(const hnsw_ctx_pool *p)
{
    hnsw_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    /* +1: a selection may hold a full row plus the newcomer. */
    c->buf = malloc(sizeof(uint32_t) * (p->maxM0 + 1));
    c->sel = malloc(sizeof(hnsw_cand) * (p->maxM0 + 1));
    c->query = malloc(sizeof(float) * p->dim + 64);
    if (!c->buf || !c->sel || !c->query) {
        ctx_free(c);
        return NULL;
    }
    return c;
}

void hnsw_ctx_new_epoch(hnsw_ctx *c)
{
    if (++c->epoch == 0) {
        memset(c->tags, 0, c->tags_cap * sizeof *c->tags);
        c->epoch = 1;
    }
}

hnsw_ctx *hnsw_ctx_get(hnsw_ctx_pool *p, size_t n, size_t ef)
{
    pthread_mutex_lock(&p->lock);
    hnsw_ctx *c = p->free;
    if (c)
        p->free = c->next;
    pthread_mutex_unlock(&p->lock);
    if (!c && !(c = ctx_new(p)))
        return NULL;
    c->next = NULL;
    if (c->tags_cap < n) {
        /* Grow with headroom: the hot index keeps growing. */
        size_t cap = n + n / 2 + 1024;
        uint16_t *t = realloc(c->tags, cap * sizeof *t);
        if (!t)
            goto oom;
        memset(t + c->tags_cap, 0, (cap - c->tags_cap) * sizeof *t);
        c->tags = t;
        c->tags_cap = cap;
    }
    if (c->pool_cap < ef + 1) {
        hnsw_cand *q = realloc(c->pool, (ef + 1) * sizeof *q);
        if (!q)
            goto oom;
        c->pool = q;
        c->pool_cap = ef + 1;
    }
    hnsw_ctx_new_epoch(c);
    return c;
oom:
    hnsw_ctx_put(p, c);
    return NULL;
}

void hnsw_ctx_put(hnsw_ctx_pool *p, hnsw_ctx *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&p->lock);
    c->next = p->free;
    p->free = c;
    pthread_mutex_unlock(&p->lock);
}
