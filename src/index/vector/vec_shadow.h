/*
 * index/vector/vec_shadow.h - the store's "shadow" map: for every id
 * inserted or deleted since the cold file's WAL offset, the WAL offset of
 * its latest operation. An older index's hit on such an id is stale (the id
 * was replaced or deleted later) and is dropped from merged results.
 * Open addressing over whole entries; removal (prune) rebuilds the table.
 * Not thread-safe: the store guards it with a mutex.
 */
#ifndef STEME_INDEX_VEC_SHADOW_H
#define STEME_INDEX_VEC_SHADOW_H

#include <stddef.h>
#include <stdint.h>

#include "steme/types.h"

typedef struct vec_shadow_entry {
    steme_hash id;
    uint64_t off_plus1;   /* offset + 1; 0 = empty slot */
} vec_shadow_entry;

typedef struct vec_shadow {
    vec_shadow_entry *e;
    size_t mask;
    size_t used;
} vec_shadow;

int vec_shadow_init(vec_shadow *s);
void vec_shadow_free(vec_shadow *s);
/* Record op at offset for id (keeps the larger offset). STEME_OK / NOMEM. */
int vec_shadow_put(vec_shadow *s, const steme_hash *id, uint64_t offset);
/* 1 and *offset if id has an entry, else 0. */
int vec_shadow_get(const vec_shadow *s, const steme_hash *id, uint64_t *offset);
/* Drop entries with offset < below. STEME_OK / NOMEM (map unchanged). */
int vec_shadow_prune(vec_shadow *s, uint64_t below);

#endif
