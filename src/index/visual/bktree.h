/*
 * index/visual/bktree.h - BK-tree (Burkhard & Keller 1973) over the distinct
 * 64-bit hashes of the visual index, with Hamming distance.
 *
 * Each node holds one distinct hash; a child hangs off its parent on the edge
 * labelled with their distance (1..64), one child per label. By the triangle
 * inequality an entry within r of query q lies only under children whose
 * label e satisfies |d(q, node) - e| <= r.
 *
 *        [0xA3..]                 node 0 (root), children sorted by edge label
 *       /  e=3   \ e=17
 *   [0xA1..]   [0x5C..] --e=9-- [0x5E..]      child / sibling links:
 *                                             bn_child = first (smallest e),
 *                                             bn_sibling = next larger label
 *
 * Nodes live in one array (indices, not pointers, so it can grow by realloc);
 * the entries (ids) of a node are a chain of slots kept by the caller
 * (bn_head / bn_live). A node whose entries were all removed stays in the
 * tree as a tombstone until the index is compacted.
 */
#ifndef STEME_INDEX_VISUAL_BKTREE_H
#define STEME_INDEX_VISUAL_BKTREE_H

#include <stddef.h>
#include <stdint.h>

#define BK_NONE UINT32_MAX

typedef struct bk_node {
    uint64_t bn_code;     /* the hash */
    uint32_t bn_child;    /* first child (smallest edge label) or BK_NONE */
    uint32_t bn_sibling;  /* next child of the parent (larger label) or BK_NONE */
    uint32_t bn_head;     /* first entry slot of this hash (caller's chain) */
    uint32_t bn_live;     /* live entries with this hash */
    uint32_t bn_edge;     /* distance to the parent (0 for the root) */
} bk_node;

typedef struct bk_tree {
    bk_node *bt_nodes;
    uint32_t bt_n;
    uint32_t bt_cap;
} bk_tree;

void bk_init(bk_tree *t);
void bk_free(bk_tree *t);

/* Node holding `code`, or BK_NONE. */
uint32_t bk_find(const bk_tree *t, uint64_t code);

/*
 * Node holding `code`, added (with no entries) if absent. *added is set to 1
 * when a node was created. Returns 0, or -1 on allocation failure (tree
 * unchanged).
 */
int bk_find_or_add(bk_tree *t, uint64_t code, uint32_t *node, int *added);

/*
 * Build the tree over codes[0, n) at once into the EMPTY tree *t, giving
 * the very tree that inserting them one by one in that order would (the
 * first code at each distance from a node becomes that child, the later
 * ones go below it). node_of[i] receives the node of codes[i] (equal codes
 * share a node). Nodes get no entries (bn_head = BK_NONE, bn_live = 0).
 * Why: one insert walks a path of sibling lists at random places (most of
 * the 1M-entry build time); the bulk build partitions the codes level by
 * level with a counting sort on their distance to the node, sequentially.
 * Returns 0, or -1 on allocation failure (*t left empty). n < 2^31.
 */
int bk_build(bk_tree *t, const uint64_t *codes, size_t n, uint32_t *node_of);

/*
 * Walk every node that may hold a hash within *radius of q, calling
 * fn(ctx, node, distance) for each node with bn_live > 0 within *radius.
 * The radius is re-read at every node, so fn may shrink it (k-NN).
 * budget: stop after visiting this many nodes (UINT64_MAX: no limit).
 * *stack / *stack_cap: a reusable buffer, grown as needed (caller frees).
 * *visited receives the nodes visited.
 * Returns 0 (done), 1 (budget exhausted; the walk is incomplete), -1 (no
 * memory for the stack), or fn's nonzero return (the walk stops).
 */
typedef int (*bk_visit_fn)(void *ctx, uint32_t node, unsigned distance);
int bk_walk(const bk_tree *t, uint64_t q, const unsigned *radius, uint64_t budget,
            uint32_t **stack, size_t *stack_cap, bk_visit_fn fn, void *ctx,
            uint64_t *visited);

#endif
