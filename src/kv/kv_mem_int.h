/*
 * kv/kv_mem_int.h - the MEM engine's skip list and batch undo log
 * (kv_mem_list.c), shared with its vtable (kv_mem.c).
 */
#ifndef STEME_KV_MEM_INT_H
#define STEME_KV_MEM_INT_H

#include <pthread.h>
#include <stdint.h>

#include "kv/kv_int.h"

#define MEM_MAX_LEVEL 24 /* p = 1/4: plenty for 2^48 keys */

typedef struct mem_node {
    uint8_t *val; /* malloc'd; NULL when vlen == 0 */
    size_t vlen;
    uint32_t klen;
    uint8_t level;
    struct mem_node *prev; /* level-0 predecessor; the head for the first node */
    struct mem_node *next[]; /* `level` links, then the key bytes */
} mem_node;

typedef enum { UNDO_INSERT, UNDO_REPLACE, UNDO_DELETE, UNDO_COUNTER } undo_kind;

typedef struct mem_undo {
    undo_kind kind;
    mem_node *node;
    uint8_t *old_val; /* UNDO_REPLACE */
    size_t old_vlen;
    uint8_t old8[8];  /* UNDO_COUNTER */
} mem_undo;

typedef struct kv_mem {
    steme_kv base;
    pthread_rwlock_t lock;
    mem_node *head;
    uint64_t rng;      /* level generator state; written under the write lock */
    mem_undo *undo;    /* batch undo log; used under the write lock */
    size_t undo_n, undo_cap;
} kv_mem;

/* Skip list (kv_mem_list.c), all under the caller's hold of m->lock. */
/* The key bytes of n (after its links). */
uint8_t *kv_mem_node_key(mem_node *n);
/* Free n and its value. */
void kv_mem_node_free(mem_node *n);
/* The first node with key >= key (NULL: none); update[] (may be NULL) gets
 * the last node before it on every level, for an insert or unlink. */
mem_node *kv_mem_find_ge(kv_mem *m, const uint8_t *key, size_t klen, mem_node **update);
/* 1 when n holds exactly key. */
int kv_mem_node_is(mem_node *n, const uint8_t *key, size_t klen);
/* Changes under the write lock; with logging, each is recorded in the
 * batch undo log first (kv_mem_undo_finish rolls back or commits).
 * STEME_OK, STEME_E_NOMEM; do_add also STEME_E_INVALID (value not 8 bytes). */
int kv_mem_do_put(kv_mem *m, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                  int logging);
int kv_mem_do_del(kv_mem *m, const uint8_t *key, size_t klen, int logging);
int kv_mem_do_add(kv_mem *m, const uint8_t *key, size_t klen, int64_t di, double df,
                  int is_f64, int logging);
/* End a batch: commit (free what the undo log kept) or roll back. */
void kv_mem_undo_finish(kv_mem *m, int commit);

#endif
