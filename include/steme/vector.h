/*
 * steme/vector.h - k-nearest-neighbour search over embeddings (spec section 6).
 *
 * Three surfaces, bottom up:
 *
 *   steme_hnsw          an in-memory HNSW graph (Malkov & Yashunin): insert,
 *                       delete (tombstone), k-NN search. The "hot" index.
 *   steme_vector_cold   a read-only HNSW memory-mapped from a file written by
 *                       steme_hnsw_save and searched in place: opening it
 *                       checks the file (header CRC-32C, BLAKE3 of the body,
 *                       every link in range) but copies nothing.
 *   steme_vector_store  the persistent index in a directory: every insert and
 *                       delete is made durable in its own write-ahead log,
 *                       applied to a hot index, and periodically folded into a
 *                       new cold file by a background builder that swaps it in
 *                       while queries run. A query searches hot and cold and
 *                       merges (steme_vector_merge_results).
 *
 *        query ──► hot HNSW (recent) ─┐
 *              ├─► frozen hot (while  ├─► merge: dedupe by id, newer wins, k best
 *              │   a build runs)      │
 *              └─► cold HNSW (mmap) ──┘
 *
 * Vectors are float32 of dimension 1..STEME_VECTOR_MAX_DIM, compared by
 * squared L2, cosine distance (1 - cos) or inner-product distance (1 - a.b).
 * Ids are 32-byte steme_hash values (assertion hashes). Distances are computed
 * with SIMD kernels chosen at run time (AVX-512 / AVX2+FMA / portable C; see
 * src/core/cpu.h for STEME_CPU_MASK).
 *
 * Storage: STEME_VECTOR_F32 keeps the float32 values. STEME_VECTOR_U8 keeps
 * one byte per component and accepts only vectors whose components are
 * integers in 0..255 (pixels, counts): distances are then computed exactly in
 * integer arithmetic, 4x less memory is read, and results equal those of
 * F32 storage. Queries may still be any float vector.
 *
 * Caveats (thread rules)
 * ----------------------
 *  - steme_hnsw: any number of threads may search while ONE insert or delete
 *    runs; inserts and deletes from several threads are serialised by an
 *    internal lock. A search sees the index as of its start (nodes added
 *    meanwhile may or may not be found). steme_hnsw_save and free must not
 *    overlap an insert; free must not overlap anything.
 *  - steme_vector_cold is immutable: any number of threads may use it.
 *  - steme_vector_store: every call is thread-safe except close.
 *
 * Errors: every call returns a status from steme/status.h. Handles keep the
 * calling thread's last failure message (steme_hnsw_errmsg,
 * steme_vector_store_errmsg); calls without a handle take a steme_error.
 */
#ifndef STEME_VECTOR_H
#define STEME_VECTOR_H

#include <stddef.h>
#include <stdint.h>
#include "steme/status.h"
#include "steme/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STEME_VECTOR_MAX_DIM 4096u
/* Largest M accepted: level-0 rows hold 2M links, and 2*128 keeps a row in
 * one 1 KiB block. */
#define STEME_VECTOR_MAX_M   128u
/* Largest ef accepted by a search or as ef_construction. */
#define STEME_VECTOR_MAX_EF  65536u
/* Largest max_elements: node numbers carry a flag in their top bit. */
#define STEME_VECTOR_MAX_ELEMENTS (1ull << 31)

typedef enum steme_vector_metric {
    STEME_VECTOR_L2 = 1,     /* squared Euclidean distance */
    STEME_VECTOR_COSINE = 2, /* 1 - cos(a, b); vectors are normalised on entry */
    STEME_VECTOR_IP = 3      /* 1 - a.b (maximum inner product search) */
} steme_vector_metric;

typedef enum steme_vector_storage {
    STEME_VECTOR_F32 = 0, /* float32 components (default) */
    STEME_VECTOR_U8 = 1   /* integers 0..255, exact; L2 and IP only */
} steme_vector_storage;

/*
 * Options. Initialise with steme_vector_options_init, then override fields.
 * Read during create/open only.
 */
typedef struct steme_vector_options {
    uint32_t dim;             /* 1 .. STEME_VECTOR_MAX_DIM; no default */
    steme_vector_metric metric;   /* default STEME_VECTOR_L2 */
    steme_vector_storage storage; /* default STEME_VECTOR_F32 */
    uint32_t M;               /* links per node per level (2M on level 0);
                                 2 .. STEME_VECTOR_MAX_M, default 16 */
    uint32_t ef_construction; /* candidate list size while inserting; default 200 */
    uint32_t ef_search;       /* default ef of searches given ef 0; default 40 */
    /* Most nodes the hot index can hold (deleted ones included). Address
     * space for this many is reserved at create; memory is committed only as
     * nodes are added. Default 4,194,304; at most STEME_VECTOR_MAX_ELEMENTS. */
    uint64_t max_elements;
    uint64_t seed;            /* level draws; default 42 (builds are reproducible) */
} steme_vector_options;

/* Fill *o with the defaults and the given dimension. o NULL: no effect. */
void steme_vector_options_init(steme_vector_options *o, uint32_t dim);

/* One search result. */
typedef struct steme_vector_hit {
    steme_hash id;
    float distance;
} steme_vector_hit;

/* ---------------------------------------------------------------------- */
/* steme_hnsw: the in-memory index                                        */
/* ---------------------------------------------------------------------- */

typedef struct steme_hnsw steme_hnsw;

/*
 * Create an empty index. Returns STEME_OK; STEME_E_INVALID (NULL o/out, a
 * field out of range, U8 storage with the cosine metric); STEME_E_NOMEM
 * (the address space for max_elements could not be reserved).
 */
int steme_hnsw_create(const steme_vector_options *o, steme_hnsw **out, steme_error *err);

/* Free the index; NULL is a no-op. Must not overlap any other call. */
void steme_hnsw_free(steme_hnsw *h);

/*
 * Insert vector vec (dim floats, copied) under id.
 * Returns STEME_OK; STEME_E_INVALID (NULL args, a non-finite component, a
 * zero vector under COSINE, a component that is not an integer in 0..255
 * under U8 storage); STEME_E_EXISTS (id is present and not deleted: delete
 * it first to replace it); STEME_E_FULL (max_elements nodes exist);
 * STEME_E_NOMEM. On failure the index is unchanged.
 * Thread rule: serialised with other inserts/deletes; searches may run.
 */
int steme_hnsw_add(steme_hnsw *h, const steme_hash *id, const float *vec);

/*
 * Delete id: its node stays in the graph as a waypoint but is never
 * returned again (a tombstone). The id may be inserted again later.
 * Returns STEME_OK, STEME_E_NOTFOUND (absent or already deleted),
 * STEME_E_INVALID (NULL args).
 */
int steme_hnsw_delete(steme_hnsw *h, const steme_hash *id);

/*
 * The k nearest live vectors to query (dim floats).
 * ef      candidate list size, 0 for the index's ef_search; raised to k.
 * hits    caller array of k entries; receives *n_hits results sorted by
 *         distance (ties by node age), *n_hits = min(k, live nodes) normally;
 *         fewer if the graph could not reach k live nodes.
 * Returns STEME_OK; STEME_E_INVALID (NULL args, k == 0, k or ef above
 * STEME_VECTOR_MAX_EF, non-finite query component); STEME_E_NOMEM.
 * Thread-safe; may run during an insert.
 */
int steme_hnsw_search(steme_hnsw *h, const float *query, size_t k, uint32_t ef,
                      steme_vector_hit *hits, size_t *n_hits);

/* 1 if id is present and not deleted, else 0 (also for NULL args). */
int steme_hnsw_contains(steme_hnsw *h, const steme_hash *id);

/* Live (not deleted) vectors; 0 for NULL. */
uint64_t steme_hnsw_count(const steme_hnsw *h);

/*
 * Write the index as a cold file at path, atomically (path.tmp, fsync,
 * rename, fsync the directory). Nodes are renumbered in breadth-first order
 * from the entry point so that nodes searched together sit together.
 * wal_offset is recorded in the header (steme_vector_cold_wal_offset).
 * Returns STEME_OK, STEME_E_INVALID, STEME_E_IO, STEME_E_FULL, STEME_E_NOMEM.
 * Must not overlap an insert or delete (searches may run).
 */
int steme_hnsw_save(steme_hnsw *h, const char *path, uint64_t wal_offset, steme_error *err);

/* The calling thread's last failure message on h ("no error" if none). */
const char *steme_hnsw_errmsg(steme_hnsw *h);

/* ---------------------------------------------------------------------- */
/* steme_vector_cold: a memory-mapped, read-only index file               */
/* ---------------------------------------------------------------------- */

typedef struct steme_vector_cold steme_vector_cold;

/*
 * Map and verify the cold file at path. Every byte is covered: the header by
 * CRC-32C, the body by BLAKE3; then every link, level and offset is checked
 * in range, so a damaged or forged file is refused, never trusted.
 * expect   optional: if non-NULL, dim, metric and storage must match it.
 * Returns STEME_OK; STEME_E_NOTFOUND (no file); STEME_E_CORRUPT (any check
 * failed; the message names it); STEME_E_VERSION; STEME_E_INVALID (NULL
 * args, or the file does not match expect); STEME_E_IO; STEME_E_NOMEM.
 */
int steme_vector_cold_open(const char *path, const steme_vector_options *expect,
                           steme_vector_cold **out, steme_error *err);

/* Unmap and free; NULL is a no-op. Must not overlap a search on c. */
void steme_vector_cold_close(steme_vector_cold *c);

/* As steme_hnsw_search, on the mapped file. ef 0: the file's ef_search
 * (the ef_search of the index that wrote it). */
int steme_vector_cold_search(const steme_vector_cold *c, const float *query, size_t k,
                             uint32_t ef, steme_vector_hit *hits, size_t *n_hits);

/* 1 if id is in the file and not deleted, else 0 (binary search). */
int steme_vector_cold_contains(const steme_vector_cold *c, const steme_hash *id);

/* Live vectors in the file; WAL offset recorded at save; options it was
 * built with (dim, metric, storage, M, ef_construction, ef_search). */
uint64_t steme_vector_cold_count(const steme_vector_cold *c);
uint64_t steme_vector_cold_wal_offset(const steme_vector_cold *c);
void steme_vector_cold_options(const steme_vector_cold *c, steme_vector_options *o);

/* ---------------------------------------------------------------------- */
/* Merging results                                                        */
/* ---------------------------------------------------------------------- */

/*
 * Merge two sorted result lists into the k best: an id present in both keeps
 * the NEWER list's entry (its vector replaced the older one), each id
 * appears once, output sorted by distance (ties: newer first).
 * newer/older may be NULL when their count is 0. out has room for k.
 * Returns STEME_OK or STEME_E_INVALID (NULL args). out must not alias the
 * inputs. Pure function, thread-safe.
 */
int steme_vector_merge_results(const steme_vector_hit *newer, size_t n_newer,
                               const steme_vector_hit *older, size_t n_older, size_t k,
                               steme_vector_hit *out, size_t *n_out);

/* ---------------------------------------------------------------------- */
/* steme_vector_store: the persistent index                               */
/* ---------------------------------------------------------------------- */

/*
 *   dir/
 *     wal/             the index's write-ahead log (steme/wal.h)
 *     cold.vec         the current cold file (may be absent)
 *     cold.vec.tmp     a build in progress (removed at open)
 *     cold.vec.corrupt a cold file refused at open (kept as evidence)
 */
typedef struct steme_vector_store steme_vector_store;

/*
 * Open (creating if needed) the store in dir. Opens the WAL (recovering it),
 * maps cold.vec if present, and replays the WAL from the cold file's offset
 * into the hot index. A cold file that fails verification is renamed
 * cold.vec.corrupt and everything is rebuilt from the WAL (a message goes to
 * stderr). o: dim, metric, storage and parameters; a cold file built with
 * another dim/metric/storage is refused (STEME_E_INVALID).
 * Returns STEME_OK; STEME_E_INVALID; STEME_E_BUSY (another handle has the
 * WAL open); STEME_E_IO; STEME_E_CORRUPT (the WAL); STEME_E_NOMEM.
 */
int steme_vector_store_open(const char *dir, const steme_vector_options *o,
                            steme_vector_store **out, steme_error *err);

/*
 * Stop a running build (waiting for it), close the WAL, unmap, free. NULL
 * is a no-op. Not concurrent with other calls.
 */
void steme_vector_store_close(steme_vector_store *s);

/*
 * Insert n vectors (vecs: n*dim floats, row i under ids[i]); returns once
 * they are durable in the WAL and searchable. An id already live is
 * replaced (the newer vector wins). Inserts are applied in WAL order.
 * Returns STEME_OK; STEME_E_INVALID (as steme_hnsw_add; nothing written);
 * STEME_E_FULL (the hot index is full: run a build); STEME_E_FATAL (the WAL
 * failed a sync; reopen); STEME_E_NOMEM.
 */
int steme_vector_store_insert(steme_vector_store *s, size_t n, const steme_hash *ids,
                              const float *vecs);

/* Delete id durably. STEME_OK (also if absent: deletes are idempotent),
 * STEME_E_INVALID, STEME_E_FATAL. */
int steme_vector_store_delete(steme_vector_store *s, const steme_hash *id);

/* k-NN over hot and cold, merged (see steme_hnsw_search for arguments). */
int steme_vector_store_search(steme_vector_store *s, const float *query, size_t k,
                              uint32_t ef, steme_vector_hit *hits, size_t *n_hits);

/* 1 if id is live in the store, else 0. */
int steme_vector_store_contains(steme_vector_store *s, const steme_hash *id);

/*
 * Start a background build: the hot index is frozen (new inserts go to a
 * fresh one), the builder replays the WAL from the cold file's offset over
 * the live cold vectors into a new graph, writes cold.vec atomically and
 * swaps it in; queries run throughout. Returns STEME_OK, STEME_E_BUSY (a
 * build is running), STEME_E_NOMEM, STEME_E_IO (thread creation).
 */
int steme_vector_store_build_start(steme_vector_store *s);

/* Wait for the running build (if any); returns its status (STEME_OK if
 * none ran). A failed build leaves the previous cold file in use. */
int steme_vector_store_build_wait(steme_vector_store *s);

typedef struct steme_vector_store_stats {
    uint64_t hot_count;      /* live vectors in the hot index(es) */
    uint64_t cold_count;     /* live vectors in the cold file */
    uint64_t cold_wal_offset;/* WAL offset the cold file covers up to */
    uint64_t wal_end;        /* end of the WAL */
    uint64_t builds;         /* builds completed since open */
    double cold_open_ms;     /* time the last cold open (map + verify) took */
} steme_vector_store_stats;

int steme_vector_store_stats_get(steme_vector_store *s, steme_vector_store_stats *out);

/* The calling thread's last failure message on s. */
const char *steme_vector_store_errmsg(steme_vector_store *s);

#ifdef __cplusplus
}
#endif
#endif /* STEME_VECTOR_H */
