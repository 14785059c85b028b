/*
 * kv_mem_list.c - the MEM engine's data structure (the vtable is kv_mem.c):
 * an ordered in-memory map for tests of upper layers. A skip list (Pugh 1990: expected O(log n) search, insert and
 * delete) with a level-0 back pointer for reverse scans, behind one
 * writer-preferring rwlock: reads and scans share it (a scan holds it for
 * its whole walk, so it sees one consistent state), writes and batches take
 * it exclusively, which makes every batch atomic for readers.
 *
 * A batch can fail half way (a counter add on a value that is not 8 bytes,
 * or out of memory), so every change it makes is first recorded in an undo
 * log kept by the handle: on failure the log is replayed backwards, on
 * success the replaced values and removed nodes it holds are freed.
 */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_mem_int.h"



uint8_t *kv_mem_node_key(mem_node *n)
{
    return (uint8_t *)&n->next[n->level];
}

static mem_node *node_new(kv_mem *m, const uint8_t *key, size_t klen)
{
    /* geometric level, p = 1/4, from a xorshift64 state */
    uint64_t x = m->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    m->rng = x;
    int level = 1;
    while (level < MEM_MAX_LEVEL && (x & 3) == 0) {
        level++;
        x >>= 2;
    }
    mem_node *n = malloc(sizeof *n + (size_t)level * sizeof(mem_node *) + klen);
    if (!n)
        return NULL;
    n->val = NULL;
    n->vlen = 0;
    n->klen = (uint32_t)klen;
    n->level = (uint8_t)level;
    n->prev = NULL;
    memcpy(kv_mem_node_key(n), key, klen);
    return n;
}

void kv_mem_node_free(mem_node *n)
{
    free(n->val);
    free(n);
}

/* First node with key >= (key, klen), or NULL; update[i] = last node < key
 * at level i (the head if none). */
mem_node *kv_mem_find_ge(kv_mem *m, const uint8_t *key, size_t klen, mem_node **update)
{
    mem_node *x = m->head;
    for (int i = MEM_MAX_LEVEL - 1; i >= 0; i--) {
        while (x->next[i] && kv_key_cmp(kv_mem_node_key(x->next[i]), x->next[i]->klen, key, klen) < 0)
            x = x->next[i];
        if (update)
            update[i] = x;
    }
    return x->next[0];
}

int kv_mem_node_is(mem_node *n, const uint8_t *key, size_t klen)
{
    return n && kv_key_cmp(kv_mem_node_key(n), n->klen, key, klen) == 0;
}

static void link_node(mem_node *n, mem_node **update)
{
    for (int i = 0; i < n->level; i++) {
        n->next[i] = update[i]->next[i];
        update[i]->next[i] = n;
    }
    n->prev = update[0];
    if (n->next[0])
        n->next[0]->prev = n;
}

static void unlink_node(kv_mem *m, mem_node *n)
{
    mem_node *update[MEM_MAX_LEVEL];
    kv_mem_find_ge(m, kv_mem_node_key(n), n->klen, update);
    for (int i = 0; i < n->level; i++)
        if (update[i]->next[i] == n)
            update[i]->next[i] = n->next[i];
    if (n->next[0])
        n->next[0]->prev = n->prev;
}

/* --- changes, optionally recorded in the undo log ---------------------------- */

static int undo_push(kv_mem *m, const mem_undo *u)
{
    if (m->undo_n == m->undo_cap) {
        size_t ncap = m->undo_cap ? m->undo_cap * 2 : 64;
        mem_undo *a = realloc(m->undo, ncap * sizeof *a);
        if (!a)
            return STEME_E_NOMEM;
        m->undo = a;
        m->undo_cap = ncap;
    }
    m->undo[m->undo_n++] = *u;
    return STEME_OK;
}

/* Reserve the undo slot before changing anything, so a change is never made
 * without its record. */
static int undo_room(kv_mem *m, int logging)
{
    if (!logging || m->undo_n < m->undo_cap)
        return STEME_OK;
    mem_undo dummy = {0};
    int rc = undo_push(m, &dummy);
    if (rc == STEME_OK)
        m->undo_n--;
    return rc;
}

int kv_mem_do_put(kv_mem *m, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                  int logging)
{
    mem_node *update[MEM_MAX_LEVEL];
    mem_node *n = kv_mem_find_ge(m, key, klen, update);
    uint8_t *copy = NULL;
    if (vlen) {
        copy = malloc(vlen);
        if (!copy)
            return kv_fail(&m->base, STEME_E_NOMEM, "mem: out of memory for a %zu-byte value", vlen);
        memcpy(copy, val, vlen);
    }
    if (undo_room(m, logging) != STEME_OK) {
        free(copy);
        return kv_fail(&m->base, STEME_E_NOMEM, "mem: out of memory for the batch undo log");
    }
    if (kv_mem_node_is(n, key, klen)) {
        if (logging) {
            mem_undo u = {.kind = UNDO_REPLACE, .node = n, .old_val = n->val, .old_vlen = n->vlen};
            undo_push(m, &u);
        } else {
            free(n->val);
        }
        n->val = copy;
        n->vlen = vlen;
        return STEME_OK;
    }
    n = node_new(m, key, klen);
    if (!n) {
        free(copy);
        return kv_fail(&m->base, STEME_E_NOMEM, "mem: out of memory for a node");
    }
    n->val = copy;
    n->vlen = vlen;
    link_node(n, update);
    if (logging) {
        mem_undo u = {.kind = UNDO_INSERT, .node = n};
        undo_push(m, &u);
    }
    return STEME_OK;
}

int kv_mem_do_del(kv_mem *m, const uint8_t *key, size_t klen, int logging)
{
    mem_node *n = kv_mem_find_ge(m, key, klen, NULL);
    if (!kv_mem_node_is(n, key, klen))
        return STEME_OK;
    if (undo_room(m, logging) != STEME_OK)
        return kv_fail(&m->base, STEME_E_NOMEM, "mem: out of memory for the batch undo log");
    unlink_node(m, n);
    if (logging) {
        mem_undo u = {.kind = UNDO_DELETE, .node = n};
        undo_push(m, &u);
    } else {
        kv_mem_node_free(n);
    }
    return STEME_OK;
}

/* Counter add; is_f64 selects the arithmetic. */
int kv_mem_do_add(kv_mem *m, const uint8_t *key, size_t klen, int64_t di, double df,
                  int is_f64, int logging)
{
    mem_node *n = kv_mem_find_ge(m, key, klen, NULL);
    uint8_t v[8];
    if (!kv_mem_node_is(n, key, klen)) {
        uint64_t bits;
        if (is_f64)
            memcpy(&bits, &df, 8);
        else
            bits = (uint64_t)di;
        kv_u64_to_le(bits, v);
        return kv_mem_do_put(m, key, klen, v, 8, logging);
    }
    if (n->vlen != 8)
        return kv_fail(&m->base, STEME_E_CORRUPT,
                       "mem: counter add on a %zu-byte value (a counter is 8 bytes)", n->vlen);
    if (undo_room(m, logging) != STEME_OK)
        return kv_fail(&m->base, STEME_E_NOMEM, "mem: out of memory for the batch undo log");
    if (logging) {
        mem_undo u = {.kind = UNDO_COUNTER, .node = n};
        memcpy(u.old8, n->val, 8);
        undo_push(m, &u);
    }
    uint64_t cur = kv_le_to_u64(n->val);
    if (is_f64) {
        double d;
        memcpy(&d, &cur, 8);
        d += df;
        memcpy(&cur, &d, 8);
    } else {
        cur += (uint64_t)di; /* wraps modulo 2^64 */
    }
    kv_u64_to_le(cur, n->val);
    return STEME_OK;
}

void kv_mem_undo_finish(kv_mem *m, int commit)
{
    for (size_t i = m->undo_n; i-- > 0;) {
        mem_undo *u = &m->undo[i];
        switch (u->kind) {
        case UNDO_INSERT:
            if (!commit) {
                unlink_node(m, u->node);
                kv_mem_node_free(u->node);
            }
            break;
        case UNDO_REPLACE:
            if (commit) {
                free(u->old_val);
            } else {
                free(u->node->val);
                u->node->val = u->old_val;
                u->node->vlen = u->old_vlen;
            }
            break;
        case UNDO_DELETE:
            if (commit) {
                kv_mem_node_free(u->node);
            } else {
                mem_node *update[MEM_MAX_LEVEL];
                kv_mem_find_ge(m, kv_mem_node_key(u->node), u->node->klen, update);
                link_node(u->node, update);
            }
            break;
        case UNDO_COUNTER:
            if (!commit)
                memcpy(u->node->val, u->old8, 8);
            break;
        }
    }
    m->undo_n = 0;
}
