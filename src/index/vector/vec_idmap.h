/*
 * index/vector/vec_idmap.h - id (32 bytes) -> node number, for the hot
 * index. Open addressing with linear probing over node numbers; the ids
 * themselves stay in the graph's id array, so a slot is 4 bytes. Entries
 * are never removed: a deleted id keeps its slot (pointing at its dead
 * node) and a re-insert repoints it. Not thread-safe: the hot index calls
 * it under its write lock.
 */
#ifndef STEME_INDEX_VEC_IDMAP_H
#define STEME_INDEX_VEC_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct vec_idmap {
    uint32_t *slots;   /* node + 1; 0 = empty */
    size_t mask;       /* slots - 1 (a power of two) */
    size_t used;
} vec_idmap;

int vec_idmap_init(vec_idmap *m, size_t expect);
void vec_idmap_free(vec_idmap *m);
/* Node holding id, or 0xffffffff. ids: the N x 32-byte id array. */
uint32_t vec_idmap_find(const vec_idmap *m, const uint8_t *ids, const uint8_t *id);
/* Point ids[node]'s id at node (adding or repointing). STEME_OK or NOMEM. */
int vec_idmap_put(vec_idmap *m, const uint8_t *ids, uint32_t node);

#endif
