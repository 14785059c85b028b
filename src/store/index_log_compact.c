/*
 * index_log_compact.c - dropping superseded index log entries
 * (steme_index_log_compact, steme/index_log.h).
 *
 * Why: every vector or visual add made on a shared database is an entry,
 * kept so that other nodes (and a node rebuilding its indexes) can apply
 * it. Without compaction the log grows with every add, including adds that
 * a later add made void: a vector replaced by a newer one for the same id,
 * or the same add written twice (the writer's rewrite after an overrun
 * commit budget). The log's readers only ever need, for each
 * (kind, id, phash) - phash for visual entries, 0 for vectors - the newest
 * entry: the node catch-up keeps the newest key applied per that triple
 * (srv_catchup_map.c), and applying the newest entry alone gives the same
 * index as applying all of them in order (a vector add replaces; a visual
 * add of the same (id, phash) is the same add).
 *
 * Rule: an entry is deleted when its ts is older than `before_ts` AND a
 * newer entry of the same triple exists. So:
 *   - the newest entry of every triple stays, however old: a node that
 *     rebuilds from the whole log still gets every index entry;
 *   - a tailer that has not yet applied a deleted entry will apply the
 *     newer one, which supersedes it; one that applied it already holds
 *     what the newer entry replaces;
 *   - entries younger than before_ts stay even if superseded (callers pass
 *     a horizon well behind the tailers' rescan window, so a late-committed
 *     entry is never judged before every node could see it).
 * Two compactors at once delete overlapping sets of the same entries:
 * harmless. An entry appended during a compaction is newer than all it
 * judged, so it never makes the compaction delete a newest entry.
 *
 * Cost: one scan of the whole log into a table of triples (~56 B each):
 * in key order an entry supersedes the one its triple recorded, so the
 * doomed list is known at the end of that scan; then one engine write per
 * 256 deleted keys. Damaged values are skipped (never deleted: they stay for
 * an operator to look at).
 */
#include <stdlib.h>
#include <string.h>

#include "store/index_log_int.h"

#define DEL_BATCH 256u

typedef struct triple_slot {
    steme_hash id;
    uint64_t phash;
    steme_index_log_pos newest;
    uint8_t kind;     /* 0: empty slot */
} triple_slot;

typedef struct compact_ctx {
    triple_slot *slots;
    size_t cap, used;
    int nomem;
    uint64_t before_ts;
    steme_index_log_pos *doomed;  /* superseded entries before the horizon */
    size_t ndoomed, capdoomed;
    uint64_t seen;
} compact_ctx;

static uint64_t triple_phash(const steme_index_log_entry *e)
{
    return e->kind == STEME_INDEX_LOG_VISUAL ? e->phash : 0;
}

/* The slot of e's triple, or the empty slot where it goes (cap: power of two). */
static triple_slot *probe(triple_slot *slots, size_t cap, uint8_t kind, const steme_hash *id,
                          uint64_t phash)
{
    uint64_t h;
    memcpy(&h, id->bytes, sizeof h);   /* ids are BLAKE3 hashes: uniform already */
    h ^= phash * 0x9E3779B97F4A7C15ull + kind;
    for (size_t i = (size_t)h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        triple_slot *s = &slots[i];
        if (!s->kind || (s->kind == kind && s->phash == phash &&
                         memcmp(s->id.bytes, id->bytes, sizeof id->bytes) == 0))
            return s;
    }
}

static int grow(compact_ctx *c)
{
    size_t cap = c->cap ? c->cap * 2 : 1024;
    triple_slot *n = calloc(cap, sizeof *n);
    if (!n)
        return 0;
    for (size_t i = 0; i < c->cap; i++) {
        triple_slot *s = &c->slots[i];
        if (s->kind)
            *probe(n, cap, s->kind, &s->id, s->phash) = *s;
    }
    free(c->slots);
    c->slots = n;
    c->cap = cap;
    return 1;
}

/* Remember pos as doomed (an entry superseded before the horizon). */
static int doom(compact_ctx *c, const steme_index_log_pos *pos)
{
    if (c->ndoomed == c->capdoomed) {
        size_t cap = c->capdoomed ? c->capdoomed * 2 : 1024;
        steme_index_log_pos *n = realloc(c->doomed, cap * sizeof *n);
        if (!n)
            return 0;
        c->doomed = n;
        c->capdoomed = cap;
    }
    c->doomed[c->ndoomed++] = *pos;
    return 1;
}

/* One pass in key order, which is (ts, node, seq) order: an entry of a
 * triple already seen is newer than the one recorded, which it therefore
 * supersedes (doomed if older than the horizon). */
static int note_entry(void *ctx, const steme_index_log_entry *e)
{
    compact_ctx *c = ctx;
    if ((c->used + 1) * 4 > c->cap * 3 && !grow(c)) {
        c->nomem = 1;
        return 1;
    }
    uint64_t ph = triple_phash(e);
    triple_slot *s = probe(c->slots, c->cap, (uint8_t)e->kind, &e->id, ph);
    c->seen++;
    if (!s->kind) {
        s->kind = (uint8_t)e->kind;
        s->id = e->id;
        s->phash = ph;
        c->used++;
    } else if (s->newest.ts < c->before_ts && !doom(c, &s->newest)) {
        c->nomem = 1;
        return 1;
    }
    s->newest = e->pos;
    return 0;
}

/* Delete c->doomed[], DEL_BATCH keys per engine write; *deleted counts them. */
static int delete_doomed(steme_index_log *l, const compact_ctx *c, uint64_t *deleted)
{
    for (size_t at = 0; at < c->ndoomed; at += DEL_BATCH) {
        steme_kv_batch *b = steme_kv_batch_new();
        if (!b)
            return il_fail(l, STEME_E_NOMEM, "index log compact: out of memory");
        size_t end = at + DEL_BATCH < c->ndoomed ? at + DEL_BATCH : c->ndoomed;
        int rc = STEME_OK;
        for (size_t i = at; i < end && rc == STEME_OK; i++) {
            uint8_t key[STEME_INDEX_LOG_KEY_LEN];
            steme_index_log_encode_key(&c->doomed[i], key);
            rc = steme_kv_batch_delete(b, key, sizeof key);
        }
        if (rc == STEME_OK)
            rc = steme_kv_write(l->kv, b, 0);
        steme_kv_batch_free(b);
        if (rc != STEME_OK)
            return il_fail(l, rc, "index log compact: deleting: %s", steme_kv_errmsg(l->kv));
        *deleted += end - at;
    }
    return STEME_OK;
}

int steme_index_log_compact(steme_index_log *l, uint64_t before_ts,
                            steme_index_log_compact_stats *stats)
{
    if (!l)
        return STEME_E_INVALID;
    steme_index_log_compact_stats local;
    steme_index_log_compact_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    compact_ctx c;
    memset(&c, 0, sizeof c);
    c.before_ts = before_ts;
    int rc = grow(&c) ? steme_index_log_scan(l, 0, note_entry, &c, NULL) : STEME_E_NOMEM;
    if (rc == STEME_OK && c.nomem)
        rc = STEME_E_NOMEM;
    st->entries = c.seen;
    st->live = c.used;
    if (rc == STEME_OK)
        rc = delete_doomed(l, &c, &st->deleted);
    else if (rc == STEME_E_NOMEM)
        il_fail(l, rc, "index log compact: out of memory (%llu entries)",
                (unsigned long long)c.seen);
    free(c.slots);
    free(c.doomed);
    return rc;
}
