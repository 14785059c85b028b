/*
 * srv_catchup_map.c - the tailer's applied map (srv_catchup.h): for each
 * (kind, id, phash) the newest index log key applied to this node's
 * indexes. Open addressing with linear probing; ids are BLAKE3 hashes, so
 * their first bytes are already uniform and make the hash. Pruning
 * rebuilds the table: it runs once every few polls over at most one
 * window's entries, and rebuilding needs no tombstones.
 */
#include <stdlib.h>
#include <string.h>

#include "server/srv_catchup.h"

int srv_pos_cmp(const steme_index_log_pos *a, const steme_index_log_pos *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return 0;
}

static uint64_t slot_hash(uint8_t kind, const steme_hash *id, uint64_t phash)
{
    uint64_t h;
    memcpy(&h, id->bytes, sizeof h);
    return (h ^ (phash * 0x9E3779B97F4A7C15ull)) + kind;
}

static int same(const srv_applied_slot *s, uint8_t kind, const steme_hash *id, uint64_t phash)
{
    return s->kind == kind && s->phash == phash && memcmp(s->id.bytes, id->bytes, 32) == 0;
}

/* The slot of (kind, id, phash), or the empty slot where it would go. */
static srv_applied_slot *probe(srv_applied_slot *slots, size_t cap, uint8_t kind,
                               const steme_hash *id, uint64_t phash)
{
    size_t i = (size_t)slot_hash(kind, id, phash) & (cap - 1);
    while (slots[i].used && !same(&slots[i], kind, id, phash))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static uint64_t phash_of(const steme_index_log_entry *e)
{
    return e->kind == STEME_INDEX_LOG_VISUAL ? e->phash : 0;
}

const steme_index_log_pos *srv_applied_get(const srv_applied_map *m,
                                           const steme_index_log_entry *e)
{
    if (!m->cap)
        return NULL;
    srv_applied_slot *s = probe(m->slots, m->cap, (uint8_t)e->kind, &e->id, phash_of(e));
    return s->used ? &s->pos : NULL;
}

/* Move every used slot with pos.ts >= lower into a table of ncap slots. */
static int rebuild(srv_applied_map *m, size_t ncap, uint64_t lower)
{
    srv_applied_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return STEME_E_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++) {
        const srv_applied_slot *s = &m->slots[i];
        if (!s->used || s->pos.ts < lower)
            continue;
        *probe(ns, ncap, s->kind, &s->id, s->phash) = *s;
        n++;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->count = n;
    return STEME_OK;
}

int srv_applied_put(srv_applied_map *m, const steme_index_log_entry *e)
{
    if ((m->count + 1) * 2 > m->cap) {   /* keep the load at most 1/2 */
        int rc = rebuild(m, m->cap ? m->cap * 2 : 1024, 0);
        if (rc != STEME_OK)
            return rc;
    }
    uint64_t ph = phash_of(e);
    srv_applied_slot *s = probe(m->slots, m->cap, (uint8_t)e->kind, &e->id, ph);
    if (!s->used) {
        *s = (srv_applied_slot){1, (uint8_t)e->kind, ph, e->id, e->pos};
        m->count++;
    } else if (srv_pos_cmp(&e->pos, &s->pos) > 0) {
        s->pos = e->pos;
    }
    return STEME_OK;
}

int srv_applied_prune(srv_applied_map *m, uint64_t lower)
{
    if (!m->cap)
        return STEME_OK;
    size_t live = 0;
    for (size_t i = 0; i < m->cap; i++)
        live += m->slots[i].used && m->slots[i].pos.ts >= lower;
    if (live == m->count)
        return STEME_OK;
    size_t ncap = 1024;
    while (live * 4 > ncap)   /* room to grow before the next doubling */
        ncap *= 2;
    return rebuild(m, ncap, lower);
}

void srv_applied_free(srv_applied_map *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}
