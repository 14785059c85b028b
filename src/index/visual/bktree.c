/*
 * bktree.c - BK-tree insert, lookup and pruned walk (see bktree.h).
 *
 * Children are a sibling list sorted by edge label, so a lookup stops at the
 * first label >= d and a walk stops at the first label > d + r. The walk is
 * compiled twice, with and without the popcnt instruction, and chosen at run
 * time (the library targets generic x86-64).
 */
#include "index/visual/bktree.h"

#include <stdlib.h>

#include "core/cpu.h"
#include "index/visual/hamming.h"

/* Edge labels of 64-bit hashes: distances 1..64. */
#define BK_LABELS 64u

void bk_init(bk_tree *t)
{
    t->bt_nodes = NULL;
    t->bt_n = 0;
    t->bt_cap = 0;
}

void bk_free(bk_tree *t)
{
    if (!t)
        return;
    free(t->bt_nodes);
    bk_init(t);
}

uint32_t bk_find(const bk_tree *t, uint64_t code)
{
    if (t->bt_n == 0)
        return BK_NONE;
    uint32_t cur = 0;
    for (;;) {
        unsigned d = vh_popcount64(t->bt_nodes[cur].bn_code ^ code);
        if (d == 0)
            return cur;
        uint32_t c = t->bt_nodes[cur].bn_child;
        while (c != BK_NONE && t->bt_nodes[c].bn_edge < d)
            c = t->bt_nodes[c].bn_sibling;
        if (c == BK_NONE || t->bt_nodes[c].bn_edge != d)
            return BK_NONE;
        cur = c;
    }
}

static int bk_grow(bk_tree *t)
{
    if (t->bt_n < t->bt_cap)
        return 0;
    if (t->bt_cap >= UINT32_MAX / 2)
        return -1;
    uint32_t cap = t->bt_cap ? t->bt_cap * 2 : 64;
    bk_node *n = realloc(t->bt_nodes, (size_t)cap * sizeof *n);
    if (!n)
        return -1;
    t->bt_nodes = n;
    t->bt_cap = cap;
    return 0;
}

static uint32_t bk_new_node(bk_tree *t, uint64_t code, unsigned edge)
{
    uint32_t id = t->bt_n++;
    bk_node *n = &t->bt_nodes[id];
    n->bn_code = code;
    n->bn_child = BK_NONE;
    n->bn_sibling = BK_NONE;
    n->bn_head = BK_NONE;
    n->bn_live = 0;
    n->bn_edge = edge;
    return id;
}

int bk_find_or_add(bk_tree *t, uint64_t code, uint32_t *node, int *added)
{
    *added = 0;
    /* Grow first, so that a failure leaves the tree untouched. */
    if (bk_grow(t) != 0)
        return -1;
    if (t->bt_n == 0) {
        *node = bk_new_node(t, code, 0);
        *added = 1;
        return 0;
    }
    uint32_t cur = 0;
    for (;;) {
        unsigned d = vh_popcount64(t->bt_nodes[cur].bn_code ^ code);
        if (d == 0) {
            *node = cur;
            return 0;
        }
        uint32_t prev = BK_NONE, c = t->bt_nodes[cur].bn_child;
        while (c != BK_NONE && t->bt_nodes[c].bn_edge < d) {
            prev = c;
            c = t->bt_nodes[c].bn_sibling;
        }
        if (c != BK_NONE && t->bt_nodes[c].bn_edge == d) {
            cur = c;
            continue;
        }
        uint32_t fresh = bk_new_node(t, code, d);
        t->bt_nodes[fresh].bn_sibling = c;
        if (prev == BK_NONE)
            t->bt_nodes[cur].bn_child = fresh;
        else
            t->bt_nodes[prev].bn_sibling = fresh;
        *node = fresh;
        *added = 1;
        return 0;
    }
}

/* A range perm[begin, end) of codes to place below `node` (which holds
 * perm[begin]'s code). */
typedef struct bk_task {
    uint32_t tk_begin;
    uint32_t tk_end;
    uint32_t tk_node;
} bk_task;

int bk_build(bk_tree *t, const uint64_t *codes, size_t n, uint32_t *node_of)
{
    if (n == 0)
        return 0;
    if (n >= UINT32_MAX / 2 || t->bt_n != 0)
        return -1;
    uint32_t *perm = malloc(n * sizeof *perm);
    uint32_t *tmp = malloc(n * sizeof *tmp);
    uint8_t *dist = malloc(n);
    bk_task *stack = malloc(n * sizeof *stack);
    bk_node *nodes = realloc(t->bt_nodes, n * sizeof *nodes);
    if (!perm || !tmp || !dist || !stack || !nodes) {
        free(perm);
        free(tmp);
        free(dist);
        free(stack);
        free(nodes ? nodes : t->bt_nodes); /* realloc failed: the old block */
        bk_init(t);
        return -1;
    }
    t->bt_nodes = nodes;
    t->bt_cap = (uint32_t)n;
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    node_of[0] = bk_new_node(t, codes[0], 0);
    size_t top = 0;
    stack[top++] = (bk_task){0, (uint32_t)n, node_of[0]};
    while (top > 0) {
        bk_task tk = stack[--top];
        uint64_t c = t->bt_nodes[tk.tk_node].bn_code;
        uint32_t cnt[BK_LABELS + 1] = {0};
        for (uint32_t i = tk.tk_begin + 1; i < tk.tk_end; i++) {
            unsigned d = vh_popcount64(codes[perm[i]] ^ c);
            dist[i] = (uint8_t)d;
            cnt[d]++;
            if (d == 0)
                node_of[perm[i]] = tk.tk_node;
        }
        /* Stable counting sort of the rest by distance (labels 1..64) into
         * perm[begin + 1, ...); equal codes (distance 0) are done. */
        uint32_t start[BK_LABELS + 1], at = tk.tk_begin + 1;
        for (unsigned d = 1; d <= BK_LABELS; d++) {
            start[d] = at;
            at += cnt[d];
        }
        uint32_t end = at;
        for (uint32_t i = tk.tk_begin + 1; i < tk.tk_end; i++)
            if (dist[i] != 0)
                tmp[start[dist[i]]++] = perm[i];
        for (uint32_t i = tk.tk_begin + 1; i < end; i++)
            perm[i] = tmp[i];
        /* Children in increasing label order: the first code of each run
         * becomes the child, the rest of the run goes below it. */
        uint32_t prev = BK_NONE;
        at = tk.tk_begin + 1;
        for (unsigned d = 1; d <= BK_LABELS; d++) {
            if (cnt[d] == 0)
                continue;
            uint32_t child = bk_new_node(t, codes[perm[at]], d);
            node_of[perm[at]] = child;
            if (prev == BK_NONE)
                t->bt_nodes[tk.tk_node].bn_child = child;
            else
                t->bt_nodes[prev].bn_sibling = child;
            prev = child;
            if (cnt[d] > 1)
                stack[top++] = (bk_task){at, at + cnt[d], child};
            at += cnt[d];
        }
    }
    free(perm);
    free(tmp);
    free(dist);
    free(stack);
    return 0;
}

/* The walk; `hw` is a constant in each caller so the popcount folds. */
static inline __attribute__((always_inline)) int
bk_walk_body(const bk_tree *t, uint64_t q, const unsigned *radius, uint64_t budget,
             uint32_t **stack, size_t *stack_cap, bk_visit_fn fn, void *ctx,
             uint64_t *visited, int hw)
{
    uint64_t seen = 0;
    int rc = 0;
    size_t top = 0;
    if (t->bt_n == 0)
        goto done;
    if (*stack_cap < 64) {
        uint32_t *s = realloc(*stack, 64 * sizeof *s);
        if (!s) {
            rc = -1;
            goto done;
        }
        *stack = s;
        *stack_cap = 64;
    }
    (*stack)[top++] = 0;
    while (top > 0) {
        if (seen >= budget) {
            rc = 1;
            goto done;
        }
        uint32_t cur = (*stack)[--top];
        const bk_node *n = &t->bt_nodes[cur];
        uint64_t x = n->bn_code ^ q;
        unsigned d = hw ? (unsigned)__builtin_popcountll(x) : vh_popcount64(x);
        seen++;
        unsigned r = *radius;
        if (d <= r && n->bn_live > 0) {
            if ((rc = fn(ctx, cur, d)) != 0)
                goto done;
            r = *radius;
        }
        unsigned lo = d > r ? d - r : 0, hi = d + r;
        for (uint32_t c = n->bn_child; c != BK_NONE; c = t->bt_nodes[c].bn_sibling) {
            unsigned e = t->bt_nodes[c].bn_edge;
            if (e < lo)
                continue;
            if (e > hi)
                break;
            if (top == *stack_cap) {
                uint32_t *s = realloc(*stack, *stack_cap * 2 * sizeof *s);
                if (!s) {
                    rc = -1;
                    goto done;
                }
                *stack = s;
                *stack_cap *= 2;
            }
            (*stack)[top++] = c;
        }
    }
done:
    *visited = seen;
    return rc;
}

__attribute__((target("popcnt")))
static int bk_walk_popcnt(const bk_tree *t, uint64_t q, const unsigned *radius, uint64_t budget,
                          uint32_t **stack, size_t *stack_cap, bk_visit_fn fn, void *ctx,
                          uint64_t *visited)
{
    return bk_walk_body(t, q, radius, budget, stack, stack_cap, fn, ctx, visited, 1);
}

static int bk_walk_portable(const bk_tree *t, uint64_t q, const unsigned *radius,
                            uint64_t budget, uint32_t **stack, size_t *stack_cap,
                            bk_visit_fn fn, void *ctx, uint64_t *visited)
{
    return bk_walk_body(t, q, radius, budget, stack, stack_cap, fn, ctx, visited, 0);
}

int bk_walk(const bk_tree *t, uint64_t q, const unsigned *radius, uint64_t budget,
            uint32_t **stack, size_t *stack_cap, bk_visit_fn fn, void *ctx, uint64_t *visited)
{
    if (steme_cpu_has(STEME_CPU_POPCNT))
        return bk_walk_popcnt(t, q, radius, budget, stack, stack_cap, fn, ctx, visited);
    return bk_walk_portable(t, q, radius, budget, stack, stack_cap, fn, ctx, visited);
}
