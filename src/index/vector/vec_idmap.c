/* vec_idmap.c - id -> node map of the hot index (see vec_idmap.h). */
#include "index/vector/vec_idmap.h"

#include <stdlib.h>
#include <string.h>

#include "steme/status.h"

#define ID_LEN 32

/* Ids are usually BLAKE3 hashes, but callers may use counters: mix the
 * first 8 bytes so sequential ids spread over the table. */
static size_t id_hash(const uint8_t *id)
{
    uint64_t x;
    memcpy(&x, id, sizeof x);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

int vec_idmap_init(vec_idmap *m, size_t expect)
{
    size_t cap = 64;
    while (cap < expect * 2)
        cap *= 2;
    m->slots = calloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    m->used = 0;
    return m->slots ? STEME_OK : STEME_E_NOMEM;
}

void vec_idmap_free(vec_idmap *m)
{
    free(m->slots);
    m->slots = NULL;
}

uint32_t vec_idmap_find(const vec_idmap *m, const uint8_t *ids, const uint8_t *id)
{
    for (size_t i = id_hash(id) & m->mask;; i = (i + 1) & m->mask) {
        uint32_t s = m->slots[i];
        if (s == 0)
            return 0xffffffffu;
        if (memcmp(ids + (size_t)(s - 1) * ID_LEN, id, ID_LEN) == 0)
            return s - 1;
    }
}

static void place(uint32_t *slots, size_t mask, const uint8_t *ids, uint32_t s)
{
    size_t i = id_hash(ids + (size_t)(s - 1) * ID_LEN) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = s;
}

int vec_idmap_put(vec_idmap *m, const uint8_t *ids, uint32_t node)
{
    const uint8_t *id = ids + (size_t)node * ID_LEN;
    for (size_t i = id_hash(id) & m->mask;; i = (i + 1) & m->mask) {
        uint32_t s = m->slots[i];
        if (s == 0)
            break;
        if (memcmp(ids + (size_t)(s - 1) * ID_LEN, id, ID_LEN) == 0) {
            m->slots[i] = node + 1;
            return STEME_OK;
        }
    }
    if ((m->used + 1) * 2 > m->mask + 1) {
        size_t cap = (m->mask + 1) * 2;
        uint32_t *ns = calloc(cap, sizeof *ns);
        if (!ns)
            return STEME_E_NOMEM;
        for (size_t i = 0; i <= m->mask; i++)
            if (m->slots[i])
                place(ns, cap - 1, ids, m->slots[i]);
        free(m->slots);
        m->slots = ns;
        m->mask = cap - 1;
    }
    place(m->slots, m->mask, ids, node + 1);
    m->used++;
    return STEME_OK;
}
