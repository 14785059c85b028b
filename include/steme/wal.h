/*
 * steme/wal.h - the segmented write-ahead log: durable appends with group
 * commit, crash recovery at open, a replay cursor, and checkpoint removal.
 *
 * What it is
 * ----------
 * An append-only sequence of records (byte strings of 1 .. max_record bytes).
 * Each record is identified by its OFFSET: its position in the log's byte
 * stream, counted over record bytes only (segment headers excluded), and
 * continuous across segment files. An append returns only once its record is
 * durable: written and covered by a completed fdatasync(). Concurrent
 * appenders share those syncs (group commit), so throughput grows with the
 * number of writers while each sync costs the same.
 *
 *    dir/
 *      LOCK                      flock()ed while a handle is open
 *      00000000000000000000.wal  segment: [header 64 B][record][record]...[0...]
 *      00000000000067108800.wal  named by the offset of its first record
 *      00000000000067108800.wal.dropped   bytes recovery cut out (evidence)
 *      00000000000134217600.wal.corrupt   a segment whose header was damaged
 *
 *    offsets:  |rec 0|rec 1|...|rec k|    |rec k+1|...          (global)
 *              ^0                   ^67108800 = start of the 2nd segment
 *
 * The on-disk format, the recovery rules and the group-commit design are in
 * docs/wal.md and at the top of src/wal/wal_format.c and wal_commit.c.
 *
 * Caveats (thread rules)
 * ----------------------
 *  - A steme_wal may be used by many threads at once: append, append_batch,
 *    end_offset, cursor_open, checkpoint, stats and errmsg are thread-safe.
 *  - steme_wal_close must not run concurrently with any other call on the
 *    handle, and every cursor must be closed before it.
 *  - A cursor belongs to one thread at a time.
 *  - One process opens a directory at a time (a second open gets
 *    STEME_E_BUSY); do not open the same directory twice in one process.
 *  - After a failed write or fdatasync the handle is POISONED: the outcome of
 *    the failed sync cannot be known and the OS may have dropped the dirty
 *    pages, so a retry could report durability falsely. Every later append
 *    returns STEME_E_FATAL; close the handle and reopen (recovery then
 *    decides what is on disk).
 *  - The library starts background threads inside steme_wal_open (flushers
 *    and a segment preparer, which also writes zeros ahead of the writers);
 *    they end in steme_wal_close.
 *
 * Errors: every call returns a status from steme/status.h. The calling
 * thread's last failure message on a handle is steme_wal_errmsg(w).
 */
#ifndef STEME_WAL_H
#define STEME_WAL_H

#include <stddef.h>
#include <stdint.h>
#include "steme/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes a record occupies in the log besides its payload: len, crc32c, blake3. */
#define STEME_WAL_RECORD_OVERHEAD 40u
/* Bytes of the header at the start of each segment file. */
#define STEME_WAL_SEGMENT_HEADER 64u
/* Defaults and limits of steme_wal_options. */
#define STEME_WAL_DEFAULT_SEGMENT_BYTES (64u * 1024u * 1024u)
#define STEME_WAL_MIN_SEGMENT_BYTES     4096u
#define STEME_WAL_DEFAULT_MAX_RECORD    (16u * 1024u * 1024u)
#define STEME_WAL_DEFAULT_BUFFER_BYTES  (4u * 1024u * 1024u)
#define STEME_WAL_MAX_FLUSHERS          8

/* Levels passed to the log callback. */
#define STEME_WAL_LOG_ERROR   1
#define STEME_WAL_LOG_WARNING 2
#define STEME_WAL_LOG_INFO    3

/* How a new segment file gets its space before records are written to it. */
typedef enum steme_wal_prealloc {
    /* Grow the file with each write: every fdatasync also commits the new
     * file size through the journal (slowest). */
    STEME_WAL_PREALLOC_NONE = 0,
    /* fallocate() the whole segment up front: the size is fixed, but ext4
     * keeps the extents UNWRITTEN, so each fdatasync after writing into
     * them also writes the inode (extent conversion). */
    STEME_WAL_PREALLOC_FALLOCATE = 1,
    /* fallocate(), then overwrite the space with zeros a few MiB ahead of
     * the writers, in the background (default): syncs then carry the data
     * and the cache flush only (measured 2-3x cheaper per sync). Without
     * fallocate support the whole segment is written as zeros. */
    STEME_WAL_PREALLOC_ZERO = 2
} steme_wal_prealloc;

/*
 * Options. Initialise with steme_wal_options_init(), then override fields.
 * The struct is read during steme_wal_open only; it may be freed after.
 */
/*
 * A ticket: the caller's handle on one record appended with
 * steme_wal_append_ticket. The caller owns the memory (usually on its
 * stack) and sets `arg`; the log links it (`next`) and hands it to the
 * on_durable callback, which sets `status`. The ticket must stay alive
 * until steme_wal_append_ticket returns; it is not touched afterwards.
 */
typedef struct steme_wal_ticket {
    struct steme_wal_ticket *next;  /* next ticket of the group (log order); log-owned */
    void *arg;                      /* caller's: what the callback needs */
    int status;                     /* set by the callback (the log sets it to STEME_OK first) */
    uint64_t end_;                  /* log-internal: offset past the record */
    int state_;                     /* log-internal: queued / handed out / done */
} steme_wal_ticket;

typedef struct steme_wal_options {
    /* Size of each segment file, header included. Default 64 MiB; at least
     * STEME_WAL_MIN_SEGMENT_BYTES. A record never straddles two segments: a
     * record that does not fit in the rest of the current one starts the
     * next segment. */
    uint64_t segment_bytes;
    /* Largest payload accepted, in bytes. 0 (the default) means
     * min(16 MiB, segment_bytes - 64 - 40). Must fit in one segment. Only
     * appends are limited: recovery and cursors accept any record that fits
     * its segment, so a log written with a larger limit still reads. */
    uint64_t max_record;
    /* Space allocation for new segments; default STEME_WAL_PREALLOC_ZERO. */
    steme_wal_prealloc preallocate;
    /* In-memory staging buffer that appenders copy records into and the
     * flushers write from. Rounded up to a power of two; default 4 MiB,
     * at least 64 KiB. Records larger than the buffer still work (they pass
     * through it in pieces while other appenders wait). */
    size_t buffer_bytes;
    /* Number of flusher threads (1..STEME_WAL_MAX_FLUSHERS). Default 2:
     * one claims the next round while another wakes the writers of the
     * round just synced. */
    int flushers;
    /* Recovery warnings and background errors are reported here; level is a
     * STEME_WAL_LOG_* value and msg a NUL-terminated line without newline,
     * valid during the call only. Called from the thread running
     * steme_wal_open, or from a background thread. NULL (default): lines
     * go to stderr. */
    void (*log)(void *ctx, int level, const char *msg);
    void *log_ctx;
    /* Write+fdatasync rounds that may be in flight at once (1..32; at most
     * `flushers` of them, plus one led by an appender when none is in
     * flight). Default 1: on the 2-vCPU VM steme is measured on, overlapping
     * syncs cost more CPU than they save in latency; try 2-4 where cores
     * are idle and the disk overlaps concurrent syncs. */
    int syncs_in_flight;
    /* Durability callback for ticketed appends (steme_wal_append_ticket),
     * NULL (default) for none. Once a group of records is durable, and
     * BEFORE any append covering them returns, the log calls
     * on_durable(on_durable_ctx, first) with the tickets of that group's
     * ticketed records, linked by `next` in log order. Calls never overlap
     * and follow log order, so the callback sees every ticket exactly once,
     * in the order of the records. It runs on a flusher thread or on an
     * appending thread and holds up every acknowledgement of its group, so
     * it should be short; it must not append to this log (deadlock) and
     * should set each ticket's `status`. Why: the caller can apply a whole
     * group of records (one engine write for many) on the thread that
     * already woke for the sync, instead of each appender waking and then
     * queueing for the engine (docs/wal.md, "Applying after the sync"). */
    void (*on_durable)(void *ctx, struct steme_wal_ticket *first);
    void *on_durable_ctx;
} steme_wal_options;

/* Fill *o with the defaults above. o NULL: no effect. */
void steme_wal_options_init(steme_wal_options *o);

/*
 * What recovery found at open. Counts are after recovery.
 */
typedef struct steme_wal_recovery {
    uint64_t segments;         /* segment files in use after recovery */
    uint64_t records;          /* valid records found in them */
    uint64_t first_offset;     /* offset of the oldest retained record position */
    uint64_t end_offset;       /* offset where the next append goes */
    uint64_t dropped_bytes;    /* bytes cut out of segments (torn tail or damage),
                                  each saved in a NAME.dropped file first */
    uint64_t damaged_segments; /* segments in which a damaged or torn record,
                                  stray bytes after the end of data, or a
                                  damaged header (NAME.corrupt) was found */
} steme_wal_recovery;

/* Counters since open; see steme_wal_stats(). Used as `struct
 * steme_wal_stats` (no typedef: the name is also the function's). */
struct steme_wal_stats {
    uint64_t appends;   /* successful steme_wal_append + append_batch calls */
    uint64_t records;   /* records appended by them */
    uint64_t bytes;     /* log bytes appended (payloads + 40 B per record) */
    uint64_t syncs;     /* write+fdatasync rounds completed by the flushers;
                           records / syncs is the group-commit factor */
    uint64_t segments_created; /* segment rolls since open */
};

typedef struct steme_wal steme_wal;
typedef struct steme_wal_cursor steme_wal_cursor;

/*
 * Open (creating if needed) the log in directory `dir`, and recover it.
 *
 * dir   directory path; created (one level, mode 0755) if it does not exist.
 * o     options, or NULL for defaults.
 * out   receives the new handle on success, NULL on failure.
 * rec   optional: receives what recovery found (see steme_wal_recovery).
 * err   optional: code and message on failure.
 *
 * Recovery scans every segment, checking each record's CRC-32C, then its
 * BLAKE3. In the last segment it truncates at the first record that is
 * short or fails a check (a torn tail is normal after a crash), and zeroes
 * the preallocated space after it. In an earlier segment, a damaged record
 * and everything after it IN THAT SEGMENT are removed; later segments are
 * kept, so offsets may then skip the removed range. Removed bytes are first
 * saved as NAME.dropped beside the segment, and a warning goes to the log
 * callback. A segment whose header is damaged is renamed NAME.corrupt, with
 * a warning. Nothing before a damaged record is ever lost.
 *
 * Returns STEME_OK; STEME_E_INVALID (NULL dir/out, empty dir, bad options,
 * dir is not a directory); STEME_E_BUSY (another handle holds the LOCK);
 * STEME_E_IO (a file operation failed); STEME_E_CORRUPT (segments
 * overlap: the directory holds files that are not one log); STEME_E_NOMEM.
 * Thread-safe (distinct directories).
 */
int steme_wal_open(const char *dir, const steme_wal_options *o, steme_wal **out,
                   steme_wal_recovery *rec, steme_error *err);

/*
 * Append one record and wait until it is durable.
 *
 * payload, len  the record: 1 .. max_record bytes, copied before return
 *               (the caller keeps ownership; it may reuse the buffer at once).
 * offset        optional: receives the record's offset.
 *
 * Returns only after an fdatasync covering the record (and every record
 * before it) has completed: STEME_OK. Errors: STEME_E_INVALID (w or payload
 * NULL, len 0: an empty record would be read as the end of data);
 * STEME_E_TOO_BIG (len > max_record); STEME_E_FATAL (the handle is poisoned,
 * or the write/sync covering this record failed: the record may or may not
 * survive a crash; reopen to find out); STEME_E_CLOSED (close has begun).
 * Thread-safe; concurrent calls are grouped into shared syncs.
 */
int steme_wal_append(steme_wal *w, const void *payload, size_t len, uint64_t *offset);

/*
 * Append n records (in order, at consecutive offsets) and wait until all of
 * them are durable; one call costs one group-commit wait.
 *
 * payloads, lens  n pointers and lengths, each as in steme_wal_append.
 * first_offset    optional: receives the offset of payloads[0]; record i
 *                 follows record i-1 (at offset + 40 + lens[i-1]), except
 *                 that a record not fitting in the current segment starts
 *                 the next segment (the offset stays continuous).
 *
 * Not atomic against a crash: the batch is one contiguous run of records,
 * so after a crash before the call returned a PREFIX of it may survive
 * (possibly empty, never a hole). Encode an all-or-nothing group as one
 * record if you need that.
 * Returns as steme_wal_append; n == 0 or NULL arrays: STEME_E_INVALID. If
 * any record is invalid nothing is appended.
 */
int steme_wal_append_batch(steme_wal *w, size_t n, const void *const *payloads,
                           const size_t *lens, uint64_t *first_offset);

/*
 * Append one record like steme_wal_append, with a ticket for the options'
 * on_durable callback: once the record is durable, the callback receives t
 * (with the other tickets of its group, in log order) before this call
 * returns. On STEME_OK the record is durable and the callback has run on
 * t: read t->status for its verdict. On STEME_E_FATAL the callback may not
 * have run (t->status is then not meaningful).
 * Returns as steme_wal_append; also STEME_E_INVALID when t is NULL or the
 * log was opened without on_durable.
 */
int steme_wal_append_ticket(steme_wal *w, const void *payload, size_t len, steme_wal_ticket *t,
                            uint64_t *offset);

/*
 * Offset just past the last durable record (where the first record not yet
 * durable starts, or the next append will go). 0 for w NULL. Thread-safe,
 * lock-free.
 */
uint64_t steme_wal_end_offset(steme_wal *w);

/*
 * Open a cursor reading records from offset `from` onwards.
 *
 * from  a record boundary: the offset of a record, or the end offset.
 *       Offsets handed out by append, end_offset and cursor_next are valid.
 * c     receives the cursor (NULL on failure).
 *
 * Returns STEME_OK; STEME_E_INVALID (NULL args, `from` beyond the end, or not
 * the start of a record, e.g. inside a record or in a range recovery
 * removed); STEME_E_NOTFOUND (`from` is below the oldest retained segment:
 * checkpoint removed it); STEME_E_CORRUPT (a length field on the way to
 * `from` is damaged); STEME_E_IO; STEME_E_NOMEM.
 * To know whether `from` is a boundary the cursor reads the length words of
 * the records before it in its segment (cost: proportional to the bytes
 * between the segment's start and `from`).
 * Thread-safe on w; the cursor itself belongs to one thread at a time.
 */
int steme_wal_cursor_open(steme_wal *w, uint64_t from, steme_wal_cursor **c);

/*
 * Read the next record.
 *
 * payload  receives a view of the payload: owned by the cursor, valid until
 *          the next call on the cursor or its close. Do not write to it.
 * len      receives its length (>= 1).
 * offset   optional: receives its offset.
 *
 * Returns only durable records (those below steme_wal_end_offset() at the
 * time of the call); each is checked (CRC-32C, then BLAKE3) before it is
 * returned. Returns STEME_OK; STEME_E_END (no further durable record for
 * now: a later call may return records appended since); STEME_E_CORRUPT (the
 * record at the cursor fails a check; the cursor does not advance);
 * STEME_E_NOTFOUND (the next segment was removed by a checkpoint meanwhile);
 * STEME_E_INVALID (NULL args); STEME_E_IO; STEME_E_NOMEM (record larger
 * than the cursor's buffer could grow to).
 */
int steme_wal_cursor_next(steme_wal_cursor *c, const uint8_t **payload, size_t *len,
                          uint64_t *offset);

/* Close a cursor; NULL is a no-op. Views it handed out become invalid. */
void steme_wal_cursor_close(steme_wal_cursor *c);

/*
 * Remove the segment files all of whose records lie below `offset` (the
 * caller no longer needs them, e.g. the KV engines hold their effects), then
 * fsync the directory. The segment being appended to is never removed.
 * Segments are removed whole: records below `offset` in a segment that also
 * holds records at or above it stay readable.
 *
 * Returns STEME_OK (also when nothing was removable); STEME_E_INVALID (w
 * NULL, offset beyond steme_wal_end_offset()); STEME_E_IO (an unlink or the
 * directory sync failed; segments already unlinked stay removed).
 * Thread-safe; cursors already reading a removed segment keep reading it.
 */
int steme_wal_checkpoint(steme_wal *w, uint64_t offset);

/*
 * Copy the counters since open into *out.
 * Returns STEME_OK or STEME_E_INVALID (NULL args). Thread-safe.
 */
int steme_wal_stats(steme_wal *w, struct steme_wal_stats *out);

/*
 * Flush what is pending, stop the background threads, close the files and
 * free the handle. NULL is a no-op. Not concurrent with other calls on w.
 */
void steme_wal_close(steme_wal *w);

/*
 * The calling thread's last failure message on w ("no error" if none; "no
 * handle" for NULL). Owned by w; valid until this thread's next call on w.
 */
const char *steme_wal_errmsg(steme_wal *w);

#ifdef __cplusplus
}
#endif
#endif /* STEME_WAL_H */
