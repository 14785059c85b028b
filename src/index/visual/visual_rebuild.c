/*
 * visual_rebuild.c - re-laying the slot arrays (sorted by table 0's pair key,
 * dead slots dropped), rebuilding the hashing tables, and compaction.
 *
 * Why sort the slots: every plan probes table 0 first, and its runs (pair
 * keys, buckets) are then contiguous runs of slots, so the hits' hashes and 32-byte ids are read sequentially instead of one
 * cache miss each. It also lets table 0 live without arrays of its own.
 *
 * Everything new is allocated before the old state is touched, so a failure
 * leaves the index exactly as it was.
 */
#include <stdlib.h>
#include <string.h>

#include "index/visual/bigalloc.h"
#include "index/visual/visual_int.h"

int vs_relayout(steme_visual *v, const uint32_t *node_of, bk_tree *tree, int tables)
{
    size_t live = v->v_live, ln = live ? live : 1;
    size_t cap = v->v_cap > live ? v->v_cap : live + 1;
    uint32_t *src = vb_alloc(ln * sizeof *src);
    uint32_t *order = vb_alloc(ln * sizeof *order);
    uint64_t *pc = vb_alloc(ln * sizeof *pc);
    uint64_t *psorted = vb_alloc(ln * sizeof *psorted);
    uint64_t *code = vb_alloc(cap * sizeof *code);
    steme_hash *id = vb_alloc(cap * sizeof *id);
    uint32_t *node = malloc(cap * sizeof *node);
    uint32_t *next = malloc(cap * sizeof *next);
    mih_tables fresh;
    mih_init(&fresh);
    vd_region dense;
    vd_init(&dense);
    if (!src || !order || !pc || !psorted || !code || !id || !node || !next)
        goto oom;
    /* The live slots, stably sorted by table 0's pair key (substring 0,
     * then its partner), which the tables read from the permuted form. */
    size_t k = 0;
    for (size_t s = 0; s < v->v_slots; s++)
        if (node_of[s] != VS_DEAD) {
            src[k] = (uint32_t)s;
            pc[k++] = vp_forward(v->v_code[s]);
        }
    if (mih_sort(pc, live, 0, order) != 0)
        goto oom;
    for (size_t i = 0; i < live; i++) {
        uint32_t s = src[order[i]];
        code[i] = v->v_code[s];
        id[i] = v->v_id[s];
        node[i] = node_of[s];
        psorted[i] = pc[order[i]];
    }
    if (tables && mih_build(&fresh, code, psorted, live) != 0)
        goto oom;
    if (tables && vd_build(&dense, code, id, live, fresh.mh_off[0], mih_dir_size(0)) != 0)
        goto oom;
    vb_free(src);
    vb_free(order);
    vb_free(pc);
    vb_free(psorted);
    vb_free(v->v_code);
    vb_free(v->v_id);
    free(v->v_node);
    free(v->v_next);
    v->v_code = code;
    v->v_id = id;
    v->v_node = node;
    v->v_next = next;
    v->v_slots = live;
    v->v_cap = cap;
    /* Chains in increasing slot order (built backwards). */
    for (uint32_t n = 0; n < tree->bt_n; n++)
        tree->bt_nodes[n].bn_head = BK_NONE;
    for (size_t s = live; s-- > 0;) {
        bk_node *n = &tree->bt_nodes[node[s]];
        next[s] = n->bn_head;
        n->bn_head = (uint32_t)s;
    }
    mih_free(&v->v_mih);
    v->v_mih = fresh;
    vd_free(&v->v_dense);
    v->v_dense = dense;
    return STEME_OK;
oom:
    vb_free(src);
    vb_free(order);
    vb_free(pc);
    vb_free(psorted);
    vb_free(code);
    vb_free(id);
    free(node);
    free(next);
    mih_free(&fresh);
    vd_free(&dense);
    return STEME_E_NOMEM;
}

int vs_compact(steme_visual *v)
{
    bk_tree tree;
    bk_init(&tree);
    size_t n = v->v_slots ? v->v_slots : 1;
    uint32_t *map = malloc(n * sizeof *map);
    uint32_t *live = malloc(n * sizeof *live);
    uint64_t *codes = malloc(n * sizeof *codes);
    uint32_t *node = malloc(n * sizeof *node);
    int rc = map && live && codes && node ? STEME_OK : STEME_E_NOMEM;
    size_t k = 0;
    if (rc == STEME_OK) {
        /* The live slots' codes in slot order, built in one pass. */
        for (size_t s = 0; s < v->v_slots; s++) {
            map[s] = VS_DEAD;
            if (v->v_node[s] == VS_DEAD)
                continue;
            live[k] = (uint32_t)s;
            codes[k++] = v->v_code[s];
        }
        if (bk_build(&tree, codes, k, node) != 0)
            rc = STEME_E_NOMEM;
    }
    if (rc == STEME_OK) {
        for (size_t i = 0; i < k; i++) {
            map[live[i]] = node[i];
            tree.bt_nodes[node[i]].bn_live++;
        }
        rc = vs_relayout(v, map, &tree, v->v_opts.enable_mih);
    }
    if (rc == STEME_OK) {
        bk_free(&v->v_bk);
        v->v_bk = tree;
        atomic_store(&v->v_bk_fail_radius, STEME_VISUAL_MAX_DISTANCE + 1);
    } else {
        bk_free(&tree);
    }
    free(map);
    free(live);
    free(codes);
    free(node);
    return rc;
}

int steme_visual_rebuild(steme_visual *v)
{
    if (!v)
        return STEME_E_INVALID;
    if (!v->v_opts.enable_mih)
        return STEME_OK;
    pthread_rwlock_wrlock(&v->v_lock);
    int rc = vs_relayout(v, v->v_node, &v->v_bk, 1);
    pthread_rwlock_unlock(&v->v_lock);
    if (rc != STEME_OK)
        return steme_errslot_set(&v->v_err, rc, "visual_rebuild: out of memory");
    return STEME_OK;
}
