/*
 * steme/visual.h - the visual index: near-duplicate search over 64-bit
 * perceptual hashes (dHash / pHash) by Hamming distance.
 *
 * Two handles:
 *   steme_visual   an in-memory index of (perceptual hash, id) entries with
 *                  radius search (every entry within distance r) and k-nearest
 *                  search. Exact: results always equal a brute-force scan.
 *   steme_pvisual  the same index made durable in a directory: every insert
 *                  and remove is appended to the index's own write-ahead log
 *                  before it is acknowledged; checkpoints write a snapshot so
 *                  that open does not replay the whole log.
 *
 * Identity. An entry is the pair (phash, id) where id is a 32-byte steme_hash
 * (an assertion's hash: the index answers "which assertions show this
 * image?"). Many ids may share one phash (the same image cited by many
 * assertions) and one id may appear with several phashes. Inserting a pair
 * that is present changes nothing (STEME_E_EXISTS). Why a 32-byte id and not
 * a u64 row number: the index is then self-contained (no second mapping that
 * would have to be kept crash-consistent with it), at 32 bytes per entry that
 * a query never reads except for its hits.
 *
 * How a query runs (docs/visual.md has the measurements). The index keeps
 * three exact structures over the same entries and picks, per query, the
 * one with the smallest estimated cost:
 *   - a packed array of all hashes, scanned with the widest popcount kernel
 *     the CPU has (AVX-512 VPOPCNTDQ, AVX2 nibble table, popcnt, portable);
 *   - multi-index hashing (Norouzi et al.): 5 tables keyed by 13-bit
 *     substrings; by pigeonhole an entry within r of the query matches it
 *     within s bits on one of any p tables with p(s + 1) > r, so probing
 *     those buckets and verifying finds every hit. Each table is sorted by
 *     its substring and the next one, so at r <= 4 the index reads only
 *     the entries equal to the query on some substring and within 1 bit on
 *     the next (exact runs); its cost is known before it runs;
 *     Beside the tables the index keeps one "dense region": a copy of the
 *     entries within D of a centre chosen at rebuild in the densest spot,
 *     sorted by their distance to it; a query close enough to the centre
 *     that all its hits lie inside reads only the annulus that can hold
 *     them (AUTO, when cheaper; it is reported as STEME_VISUAL_MIH);
 *   - a BK-tree (the structure of the original system), used when multi-index
 *     hashing is disabled, with a visit budget so that it never costs much
 *     more than the scan (it falls back to the scan when the budget runs out).
 * A query can also force one structure (steme_visual_strategy), for tests and
 * benchmarks; results are the same whichever runs.
 *
 * Thread rules (both handles): any number of threads may query at once;
 * writes (insert, remove, checkpoint) may run concurrently with each other
 * and with queries: the handle serialises them internally (a reader-writer
 * lock: queries share it, writes take it briefly). A steme_visual_hits belongs
 * to one thread at a time. Destroy/close must not race with other calls.
 *
 * Errors: every fallible call returns a status from steme/status.h. The
 * calling thread's last failure message on a handle is read with
 * steme_visual_errmsg / steme_pvisual_errmsg.
 */
#ifndef STEME_VISUAL_H
#define STEME_VISUAL_H

#include <stddef.h>
#include <stdint.h>
#include "steme/status.h"
#include "steme/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest meaningful radius: two 64-bit hashes differ in at most 64 bits. */
#define STEME_VISUAL_MAX_DISTANCE 64u
/* Largest k accepted by steme_visual_knn (a guard against runaway requests). */
#define STEME_VISUAL_MAX_K (1u << 20)

/* Hamming distance of two 64-bit hashes: the number of differing bits. */
unsigned steme_hamming64(uint64_t a, uint64_t b);

/*
 * 64-bit difference hash (dHash) of a grayscale image: the image is
 * box-downsampled to 8 rows x 9 columns (each cell the mean of the pixels
 * whose box it covers, cell boundaries at floor(i * size / cells)), and bit
 * (row * 8 + col) is 1 when cell (row, col) is brighter than (row, col + 1).
 *
 * gray    width * height bytes, row r at gray + r * stride.
 * width   >= 9; height >= 8; stride >= width; width * height <= 2^24.
 * out     receives the hash.
 * Returns STEME_OK or STEME_E_INVALID (NULL pointers, image too small or too
 * large, stride < width). Thread-safe, no allocation.
 */
int steme_visual_dhash(const uint8_t *gray, size_t width, size_t height, size_t stride,
                       uint64_t *out, steme_error *err);

/* Which structure answers a query. AUTO (0) lets the planner choose. */
typedef enum steme_visual_strategy {
    STEME_VISUAL_AUTO = 0,
    STEME_VISUAL_SCAN = 1,    /* SIMD linear scan over the packed hashes */
    STEME_VISUAL_MIH = 2,     /* multi-index hashing (if enabled) */
    STEME_VISUAL_BKTREE = 3   /* BK-tree walk, no budget when forced */
} steme_visual_strategy;

/* One result. */
typedef struct steme_visual_hit {
    uint64_t phash;      /* the entry's perceptual hash */
    uint32_t distance;   /* Hamming distance to the query, 0..64 */
    uint32_t reserved_;  /* zero */
    steme_hash id;       /* the entry's id */
} steme_visual_hit;

/*
 * Results of a query, owned by the caller and reused across queries so that
 * a steady stream of queries allocates nothing. Initialise with
 * steme_visual_hits_init, release with steme_visual_hits_free.
 * After a successful query: hits[0 .. count) are the results; `strategy` is
 * the structure that answered (never AUTO) and `examined` the number of
 * stored hashes whose distance to the query was computed (or, for the
 * BK-tree, nodes visited). Fields ending in '_' are private.
 */
typedef struct steme_visual_hits {
    steme_visual_hit *hits;
    size_t count;
    size_t capacity;
    int strategy;
    uint64_t examined;
    void *scratch_;
    size_t scratch_cap_;
} steme_visual_hits;

/* Empty *h (no allocation). NULL: no effect. */
void steme_visual_hits_init(steme_visual_hits *h);
/* Free what *h holds and empty it; it may be reused. NULL: no effect. */
void steme_visual_hits_free(steme_visual_hits *h);

/* Options of an in-memory index. Initialise with steme_visual_options_init. */
typedef struct steme_visual_options {
    /* 1 (default): keep multi-index hashing tables (about 53 bytes per entry
     * more, plus 10 MB of directories, plus the dense region: at most an
     * eighth of the entries at 44 bytes each); 0: scan and BK-tree only. */
    int enable_mih;
} steme_visual_options;

void steme_visual_options_init(steme_visual_options *o);

typedef struct steme_visual steme_visual;

/*
 * Create an empty index. opts NULL: defaults. *out receives the handle.
 * Returns STEME_OK, STEME_E_INVALID (out NULL), STEME_E_NOMEM.
 */
int steme_visual_create(const steme_visual_options *opts, steme_visual **out,
                        steme_error *err);

/* Free the index. NULL: no-op. Not concurrent with any other call on v. */
void steme_visual_destroy(steme_visual *v);

/*
 * Add the entry (phash, *id).
 * Returns STEME_OK; STEME_E_EXISTS (the pair is already present, nothing
 * changed); STEME_E_INVALID (v or id NULL); STEME_E_FULL (2^31 entries);
 * STEME_E_NOMEM (nothing changed). Thread-safe. Amortised O(depth of the
 * BK-tree); a rebuild of the hashing tables runs inside an insert after
 * every ~3% growth.
 */
int steme_visual_insert(steme_visual *v, uint64_t phash, const steme_hash *id);

/*
 * Add n entries (phashes[i], ids[i]) in one call, rebuilding the hashing
 * tables once at the end: the way to load many entries (into an empty
 * index the BK-tree is built in bulk, ~10x faster than n inserts). Pairs
 * already present, or repeated in the batch, are skipped. *inserted
 * (optional) receives the number added.
 * Returns STEME_OK; STEME_E_INVALID (NULL arrays with n > 0); STEME_E_FULL /
 * STEME_E_NOMEM (the entries before the failing one stay inserted and are
 * counted in *inserted). Thread-safe.
 */
int steme_visual_insert_batch(steme_visual *v, const uint64_t *phashes, const steme_hash *ids,
                              size_t n, size_t *inserted);

/*
 * Remove the entry (phash, *id).
 * Returns STEME_OK; STEME_E_NOTFOUND (no such pair); STEME_E_INVALID;
 * STEME_E_NOMEM (only when a compaction after many removes fails; the
 * remove itself has happened). Removed entries are tombstones until about a
 * quarter of the index is dead, then everything is rebuilt compactly.
 */
int steme_visual_remove(steme_visual *v, uint64_t phash, const steme_hash *id);

/*
 * Rebuild the multi-index hashing tables over every entry now (they are
 * otherwise rebuilt when ~3% of the entries are newer than them, and not
 * built at all below 2048 entries). Useful after a large load or before a
 * burst of queries. No effect when the tables are disabled.
 * Returns STEME_OK, STEME_E_INVALID (v NULL), STEME_E_NOMEM (the old tables
 * stay in use; results are unaffected). Thread-safe (takes the write lock).
 */
int steme_visual_rebuild(steme_visual *v);

/* Number of entries (pairs). 0 for NULL. Thread-safe. */
size_t steme_visual_count(steme_visual *v);

/* 1 when the pair (phash, *id) is present, else 0 (also for NULL args). */
int steme_visual_contains(steme_visual *v, uint64_t phash, const steme_hash *id);

/*
 * Every entry within Hamming distance `radius` (0..64) of `query`, in no
 * particular order, into *out (its previous results are replaced).
 * Returns STEME_OK; STEME_E_INVALID (NULL args, radius > 64, strategy
 * unknown, or MIH forced while disabled); STEME_E_NOMEM (out->count is then
 * 0). Thread-safe (shared with other queries).
 */
int steme_visual_radius(steme_visual *v, uint64_t query, unsigned radius,
                        steme_visual_strategy strategy, steme_visual_hits *out);

/*
 * The k entries nearest to `query`, ordered by (distance, id bytes) - the
 * id breaks ties so that the answer is deterministic - into *out. Fewer
 * than k when the index holds fewer entries.
 * Returns STEME_OK; STEME_E_INVALID (NULL args, k == 0 or k >
 * STEME_VISUAL_MAX_K, strategy unknown or MIH forced while disabled);
 * STEME_E_NOMEM. Thread-safe.
 */
int steme_visual_knn(steme_visual *v, uint64_t query, size_t k,
                     steme_visual_strategy strategy, steme_visual_hits *out);

/* The calling thread's last failure message on v; "no error" if none. */
const char *steme_visual_errmsg(steme_visual *v);

/* ---- persistent index ---------------------------------------------------- */

/*
 * A directory holding snapshots and a write-ahead log:
 *
 *   dir/
 *     wal/                            the index's own steme_wal
 *     visual-0000000000001f40.snap    snapshot covering WAL offsets < 0x1f40
 *     visual-0000000000000000.snap    the previous snapshot, kept as a spare
 *
 * The two newest valid snapshots are kept, and the log is cut only below the
 * OLDER of them, so if the newest snapshot is found damaged at open the
 * older one plus the log still rebuild every acknowledged entry. The file
 * format is at the top of src/index/visual/snapshot.c.
 */
typedef struct steme_pvisual steme_pvisual;

typedef struct steme_pvisual_options {
    steme_visual_options index;  /* options of the in-memory index */
    /* Segment size of the index's log; 0: the WAL default (64 MiB). */
    uint64_t wal_segment_bytes;
    /* Warnings (a damaged snapshot skipped, log recovery) go here; NULL:
     * stderr. level is STEME_WAL_LOG_* from steme/wal.h. */
    void (*log)(void *ctx, int level, const char *msg);
    void *log_ctx;
} steme_pvisual_options;

void steme_pvisual_options_init(steme_pvisual_options *o);

/* What open found. */
typedef struct steme_pvisual_recovery {
    uint64_t snapshot_offset;   /* WAL offset the loaded snapshot covers (0: none) */
    uint64_t snapshot_entries;  /* entries loaded from it */
    uint64_t replayed_records;  /* log records applied after it */
    uint64_t damaged_snapshots; /* snapshots refused (bad checksum, size, magic) */
} steme_pvisual_recovery;

/*
 * Open (creating if needed) the persistent index in `dir`: load the newest
 * valid snapshot, refusing damaged ones with a warning (they are renamed
 * NAME.corrupt), then replay the log from the offset the snapshot covers.
 * Returns STEME_OK; STEME_E_INVALID (NULL args); STEME_E_BUSY (the directory
 * is open elsewhere); STEME_E_CORRUPT (no valid snapshot covers the log's
 * removed prefix, or a log record is malformed: entries would be lost, so
 * open refuses rather than answer from a partial index); STEME_E_VERSION (a
 * snapshot from a newer format); STEME_E_IO; STEME_E_NOMEM.
 */
int steme_pvisual_open(const char *dir, const steme_pvisual_options *opts, steme_pvisual **out,
                       steme_pvisual_recovery *rec, steme_error *err);

/*
 * Durable insert / remove: the operation is in the log (fdatasync'd, shared
 * with concurrent writers by group commit) before the call returns and
 * before queries see it. Returns as steme_visual_insert / _remove, plus
 * STEME_E_FATAL (the log is poisoned: close and reopen) and STEME_E_IO.
 * An operation refused (EXISTS, NOTFOUND) is not logged. Operations on the
 * SAME pair must not be issued concurrently (their log order and their
 * apply order could differ); on distinct pairs they commute.
 */
int steme_pvisual_insert(steme_pvisual *p, uint64_t phash, const steme_hash *id);
int steme_pvisual_remove(steme_pvisual *p, uint64_t phash, const steme_hash *id);

/*
 * Write a snapshot of the index, then drop log segments that the previous
 * snapshot covers. Writers wait only while the entries are copied to
 * memory, not during the file write. Returns STEME_OK; STEME_E_IO;
 * STEME_E_FULL; STEME_E_NOMEM. *offset (optional) receives the log offset
 * the new snapshot covers. Concurrent checkpoints are serialised.
 */
int steme_pvisual_checkpoint(steme_pvisual *p, uint64_t *offset);

/*
 * The in-memory index, for queries (steme_visual_radius / _knn / _count).
 * Borrowed: valid until steme_pvisual_close. Do NOT insert into or remove
 * from it directly: such changes would not be logged.
 */
steme_visual *steme_pvisual_index(steme_pvisual *p);

/* Close the log and free everything. NULL: no-op. No checkpoint is taken. */
void steme_pvisual_close(steme_pvisual *p);

const char *steme_pvisual_errmsg(steme_pvisual *p);

#ifdef __cplusplus
}
#endif
#endif /* STEME_VISUAL_H */
