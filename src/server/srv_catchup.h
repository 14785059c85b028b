/*
 * server/srv_catchup.h - index catch-up across nodes on a shared (pg)
 * database (docs/scale-out.md, "Index catch-up"): every vector and visual
 * add made through this node is written to the database's index log
 * (steme/index_log.h) before it is applied here and acknowledged, and a
 * tailer thread applies the adds made through other nodes.
 *
 * Timing (why these numbers: docs/scale-out.md):
 *   SRV_CATCHUP_POLL_MS    the tailer scans the log this often;
 *   SRV_CATCHUP_WINDOW_MS  W: each scan starts W before the start of the
 *                          previous one, so an entry whose transaction
 *                          committed late (out of key order) is still seen;
 *   the index log's commit budget B (STEME_INDEX_LOG_DEFAULT_BUDGET_MS) < W:
 *                          a writer whose put took longer than B writes the
 *                          entry again under a newer key.
 * An entry is missed only if B + (reader's clock - writer's clock) >= W.
 * An add acknowledged by one node is searchable on another within about
 * POLL + one scan + one apply (a bound, not a guarantee: a scan that fails,
 * database down, is retried every poll from the same place).
 *
 * The applied map (srv_catchup_map.c) remembers, per (kind, id, phash),
 * the newest log key applied here, so a rescanned entry is not applied
 * again and an older entry found late never overrides a newer one.
 */
#ifndef STEME_SRV_CATCHUP_H
#define STEME_SRV_CATCHUP_H

#include <stddef.h>
#include <stdint.h>

#include "steme/index_log.h"

#define SRV_CATCHUP_POLL_MS 100u
#define SRV_CATCHUP_WINDOW_MS 5000u
#define SRV_CATCHUP_STATE_FILE "catchup.state"

_Static_assert(STEME_INDEX_LOG_DEFAULT_BUDGET_MS < SRV_CATCHUP_WINDOW_MS,
               "the commit budget must be below the rescan window");

struct srv;

/* ---- the applied map (srv_catchup_map.c); not thread-safe: the caller locks */

typedef struct srv_applied_slot {
    uint8_t used;
    uint8_t kind;
    uint64_t phash;               /* VISUAL; 0 for VECTOR */
    steme_hash id;
    steme_index_log_pos pos;      /* newest key applied for (kind, id, phash) */
} srv_applied_slot;

typedef struct srv_applied_map {
    srv_applied_slot *slots;
    size_t cap;                   /* power of two, or 0 */
    size_t count;
} srv_applied_map;

/* -1, 0, 1 as a < b, a == b, a > b (key order: ts, node, seq). */
int srv_pos_cmp(const steme_index_log_pos *a, const steme_index_log_pos *b);
/* The newest key applied for the entry's (kind, id, phash), or NULL. */
const steme_index_log_pos *srv_applied_get(const srv_applied_map *m,
                                           const steme_index_log_entry *e);
/* Record e->pos as applied (kept only if newer). STEME_OK or STEME_E_NOMEM. */
int srv_applied_put(srv_applied_map *m, const steme_index_log_entry *e);
/* Forget slots whose key's ts < lower (no scan will return them again). */
int srv_applied_prune(srv_applied_map *m, uint64_t lower);
void srv_applied_free(srv_applied_map *m);

/* ---- the tailer (srv_catchup.c) */

/*
 * On a shared database: open the index log, read where the last run
 * stopped (INDEX_DIR/catchup.state; from the log's start when fresh is set,
 * i.e. the index directory was empty, or when there is no usable state),
 * catch up once before returning (so a node answers only once it has
 * rebuilt), then start the tailer thread. On a local database: nothing
 * (STEME_OK). Errors: STEME_E_NOMEM, STEME_E_IO (thread), the log's open.
 * A failing first scan is reported on stderr, not returned: the tailer
 * keeps trying.
 */
int srv_catchup_start(struct srv *s, int fresh, steme_error *err);
/* Stop the tailer and save its state; before the indexes close. */
void srv_catchup_stop(struct srv *s);

/* This node's own adds (the handlers, through srv_index.c): log, then apply. */
int srv_catchup_vector_add(struct srv *s, const steme_hash *id, const float *vec);
int srv_catchup_visual_add(struct srv *s, uint64_t phash, const steme_hash *id);

#endif
