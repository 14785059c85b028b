/*
 * steme/index_log.h - the index log: every vector and visual index add made
 * through a node on a shared (pg) database, kept in the database so that
 * every other node can apply it to its own, node-local indexes
 * (docs/scale-out.md, "Index catch-up").
 *
 * Keys (a family of their own, global scope, all integers big-endian so
 * byte order is (ts, node, seq) order):
 *
 *     \0IL:{ts u64}{node u64}{seq u64}          28 bytes
 *
 *   ts    the writer's clock (Unix ms, CLOCK_REALTIME) when it began the
 *         write; the key is chosen before the write is sent
 *   node  the writing handle's node id (random unless given)
 *   seq   a counter of that handle, so keys of one node never collide
 *
 * Values: see src/store/index_log.c (magic "IL", version 1, CRC-32C).
 *
 * Visibility rule. Keys are chosen before their transaction commits, so
 * concurrent writers can commit out of key order: an entry may become
 * visible after a reader has already scanned past its key. Two rules
 * together make that harmless:
 *   - the writer refuses its own entry if the write took longer than the
 *     commit budget B (measured on its clock from the key's ts to the
 *     write's return, which is after the commit): it writes the entry again
 *     under a fresh key, up to max_attempts times. So every entry that
 *     counts (the last one written for an add) committed at most B after
 *     its ts;
 *   - a reader rescans a window W > B behind the start of its previous
 *     scan, and applies entries idempotently (by key), so a late entry is
 *     still seen as long as B + poll interval + scan time + clock skew
 *     between writer and reader stays under W.
 * An entry written twice (the refused one may have committed too) is the
 * same add twice: applying it twice is harmless.
 *
 * Threads: a handle may be used from any number of threads at once.
 * Errors: per-thread message by steme_index_log_errmsg().
 */
#ifndef STEME_INDEX_LOG_H
#define STEME_INDEX_LOG_H

#include <stddef.h>
#include <stdint.h>
#include "steme/db.h"
#include "steme/kv.h"
#include "steme/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STEME_INDEX_LOG_KEY_LEN 28u
#define STEME_INDEX_LOG_DEFAULT_BUDGET_MS 2000u
#define STEME_INDEX_LOG_DEFAULT_ATTEMPTS 5u

typedef enum steme_index_log_kind {
    STEME_INDEX_LOG_VECTOR = 1,   /* id, dim, metric, vector */
    STEME_INDEX_LOG_VISUAL = 2    /* id, phash */
} steme_index_log_kind;

/* An entry's position: its key's three fields. */
typedef struct steme_index_log_pos {
    uint64_t ts;
    uint64_t node;
    uint64_t seq;
} steme_index_log_pos;

typedef struct steme_index_log_entry {
    steme_index_log_pos pos;     /* set by append; filled by scan */
    steme_index_log_kind kind;
    steme_hash id;               /* the assertion indexed */
    uint64_t phash;              /* VISUAL */
    uint32_t dim;                /* VECTOR: 1 .. STEME_VECTOR_MAX_DIM */
    uint32_t metric;             /* VECTOR: steme_vector_metric of the index */
    const float *vec;            /* VECTOR: dim floats (scan: valid during the callback) */
} steme_index_log_entry;

typedef struct steme_index_log_options {
    uint64_t node_id;            /* 0 (default): random */
    uint32_t budget_ms;          /* commit budget B; default 2000 */
    unsigned max_attempts;       /* writes of one add before giving up; default 5 */
    /* Clock (Unix ms); NULL (default): CLOCK_REALTIME. Tests inject one. */
    uint64_t (*clock_ms)(void *ctx);
    void *clock_ctx;
} steme_index_log_options;

void steme_index_log_options_init(steme_index_log_options *o);

typedef struct steme_index_log steme_index_log;

/*
 * A handle over kv (borrowed: it must outlive the handle). Any engine works
 * (the tests use MEM); steme uses it on pg, where the put's commit is the
 * durability point. Returns STEME_OK; STEME_E_INVALID (NULL kv/out, budget
 * 0, attempts 0); STEME_E_NOMEM; STEME_E_IO (no randomness for the node id).
 */
int steme_index_log_open(steme_kv *kv, const steme_index_log_options *o,
                         steme_index_log **out, steme_error *err);

/*
 * The same over a database opened on a postgres:// URL (its KV engine).
 * STEME_E_UNSUPPORTED for a local database: its indexes live in one
 * process's directory and need no log.
 */
int steme_index_log_open_db(steme_db *db, const steme_index_log_options *o,
                            steme_index_log **out, steme_error *err);

/* Free the handle (not the kv); NULL is a no-op. No call may be in flight. */
void steme_index_log_close(steme_index_log *l);

uint64_t steme_index_log_node(const steme_index_log *l);

/*
 * Write e durably under a fresh key and set e->pos to it. If the write
 * took longer than the budget it is written again under a newer key
 * (the visibility rule above); e->pos is the last key written.
 * Returns STEME_OK; STEME_E_INVALID (NULL args, unknown kind, dim out of
 * range, NULL vec, a non-finite component); STEME_E_BUSY (every attempt
 * overran the budget: the add may be visible to some nodes, and the caller
 * should report failure and let the client retry); the engine's status.
 */
int steme_index_log_append(steme_index_log *l, steme_index_log_entry *e);

/* Scan callback: non-zero stops the scan (returned by scan as STEME_OK). */
typedef int (*steme_index_log_fn)(void *ctx, const steme_index_log_entry *e);

typedef struct steme_index_log_scan_stats {
    uint64_t visited;     /* entries passed to fn */
    uint64_t damaged;     /* values that did not decode (skipped) */
    uint64_t last_ts;     /* ts of the last key seen, 0 if none */
} steme_index_log_scan_stats;

/*
 * Visit every entry with ts >= from_ts, in key order, in pages (each page
 * one snapshot; entries committed meanwhile may or may not be seen). A
 * value that does not decode is counted in stats->damaged and skipped (one
 * damaged entry must not stop every node's catch-up), with its key in the
 * handle's message. stats optional. Returns STEME_OK, STEME_E_INVALID,
 * the engine's status.
 */
int steme_index_log_scan(steme_index_log *l, uint64_t from_ts, steme_index_log_fn fn,
                         void *ctx, steme_index_log_scan_stats *stats);

/* Key and value codecs (pure). encode_key writes STEME_INDEX_LOG_KEY_LEN
 * bytes. decode_key: STEME_OK or STEME_E_INVALID (not an index log key).
 * encode_value: *len receives the length (also on BUFFER_SMALL); STEME_OK,
 * STEME_E_INVALID, STEME_E_BUFFER_SMALL. decode_value: e->vec points into
 * floats, which must hold dim floats (STEME_VECTOR_MAX_DIM always fits);
 * STEME_OK, STEME_E_CORRUPT, STEME_E_VERSION, STEME_E_INVALID. */
void steme_index_log_encode_key(const steme_index_log_pos *p, uint8_t out[28]);
int steme_index_log_decode_key(const uint8_t *key, size_t klen, steme_index_log_pos *p);
int steme_index_log_encode_value(const steme_index_log_entry *e, uint8_t *buf, size_t cap,
                                 size_t *len, steme_error *err);
int steme_index_log_decode_value(const uint8_t *buf, size_t len, float *floats,
                                 steme_index_log_entry *e, steme_error *err);

/* What a compaction saw and did. */
typedef struct steme_index_log_compact_stats {
    uint64_t entries;    /* entries in the log (decoded) before it ran */
    uint64_t live;       /* distinct (kind, id, phash): entries a full rebuild needs */
    uint64_t deleted;    /* superseded entries older than the horizon, deleted */
} steme_index_log_compact_stats;

/*
 * Delete every entry older than before_ts (Unix ms) that a newer entry of
 * the same (kind, id, phash) supersedes (phash: visual entries; vectors
 * are keyed by id alone, since a newer vector replaces an older one). The
 * newest entry of each stays however old, so a node rebuilding from the
 * log gets the same indexes, and a tailer that has not applied a deleted
 * entry applies the newer one instead. Pass a horizon well behind every
 * node's rescan window (steme serve uses one hour). Safe to run on several
 * nodes at once. Damaged values are left alone. stats optional.
 * Returns STEME_OK, STEME_E_INVALID, STEME_E_NOMEM (one table entry per
 * distinct triple), the engine's status (then some deletions may have
 * landed: each is independent).
 */
int steme_index_log_compact(steme_index_log *l, uint64_t before_ts,
                            steme_index_log_compact_stats *stats);

const char *steme_index_log_errmsg(steme_index_log *l);

/*
 * Create the record of vector index `name` (steme/vector_meta.h) as m only
 * if there is none, atomically across nodes; *out receives the record in
 * force (m if this call created it, else the existing one, which may differ).
 * Shared (pg) databases only. Returns STEME_OK; STEME_E_INVALID (NULL args,
 * m out of range, bad name); STEME_E_UNSUPPORTED (a local database: use
 * steme_db_vector_meta_put); STEME_E_CORRUPT (the stored record); STEME_E_BUSY
 * (the record kept changing); the engine's status. Message: steme_db_errmsg.
 */
struct steme_vector_meta;
int steme_index_log_claim_vector_meta(steme_db *db, const char *name,
                                      const struct steme_vector_meta *m,
                                      struct steme_vector_meta *out);

#ifdef __cplusplus
}
#endif
#endif /* STEME_INDEX_LOG_H */
