/* vec_shadow.c - id -> latest WAL offset map of the store (see vec_shadow.h). */
#include "index/vector/vec_shadow.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(const steme_hash *id, size_t mask)
{
    uint64_t x;
    memcpy(&x, id->bytes + 8, sizeof x);
    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15ull;
    return (size_t)(x >> 17) & mask;
}

static int table_new(vec_shadow *s, size_t cap)
{
    s->e = calloc(cap, sizeof *s->e);
    s->mask = cap - 1;
    s->used = 0;
    return s->e ? STEME_OK : STEME_E_NOMEM;
}

int vec_shadow_init(vec_shadow *s)
{
    return table_new(s, 256);
}

void vec_shadow_free(vec_shadow *s)
{
    free(s->e);
    s->e = NULL;
}

static vec_shadow_entry *find(const vec_shadow *s, const steme_hash *id)
{
    for (size_t i = slot_of(id, s->mask);; i = (i + 1) & s->mask) {
        vec_shadow_entry *e = &s->e[i];
        if (!e->off_plus1 || memcmp(e->id.bytes, id->bytes, STEME_HASH_LEN) == 0)
            return e;
    }
}

static int rebuild(vec_shadow *s, size_t cap, uint64_t below)
{
    vec_shadow old = *s;
    if (table_new(s, cap) != STEME_OK) {
        *s = old;
        return STEME_E_NOMEM;
    }
    for (size_t i = 0; i <= old.mask; i++)
        if (old.e[i].off_plus1 && old.e[i].off_plus1 - 1 >= below) {
            *find(s, &old.e[i].id) = old.e[i];
            s->used++;
        }
    free(old.e);
    return STEME_OK;
}

int vec_shadow_put(vec_shadow *s, const steme_hash *id, uint64_t offset)
{
    if ((s->used + 1) * 2 > s->mask + 1 && rebuild(s, (s->mask + 1) * 2, 0) != STEME_OK)
        return STEME_E_NOMEM;
    vec_shadow_entry *e = find(s, id);
    if (!e->off_plus1) {
        e->id = *id;
        s->used++;
    }
    if (offset + 1 > e->off_plus1)
        e->off_plus1 = offset + 1;
    return STEME_OK;
}

int vec_shadow_get(const vec_shadow *s, const steme_hash *id, uint64_t *offset)
{
    const vec_shadow_entry *e = find(s, id);
    if (!e->off_plus1)
        return 0;
    *offset = e->off_plus1 - 1;
    return 1;
}

int vec_shadow_prune(vec_shadow *s, uint64_t below)
{
    size_t cap = 256;
    while (cap < s->used * 2)
        cap *= 2;
    return rebuild(s, cap, below);
}
