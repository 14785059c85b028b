/*
 * wal/wal_int.h - internals of the write-ahead log, shared by the src/wal sources only.
 *
 *   wal_format.c   on-disk format: segment header, record header, file names
 *   wal_file.c     segment files: create, preallocate, roll, directory sync,
 *                  the I/O indirection of the append path (wal_io)
 *   wal_zero.c     zero-ahead: overwrite fallocated space with zeros ahead of
 *                  the writers (STEME_WAL_PREALLOC_ZERO)
 *   wal_recover.c  the scan and repair done by steme_wal_open
 *   wal_commit.c   append + group commit (staging ring, flushers, futex wake)
 *   wal_open.c     options, open/close, checkpoint, stats
 *   wal_cursor.c   the replay cursor
 *
 * Positions: every uint64_t "offset" below is a GLOBAL log offset (record
 * bytes since the log began). A segment maps [sg_start, sg_end) of them to
 * file bytes [64, 64 + sg_end - sg_start).
 */
#ifndef STEME_WAL_INT_H
#define STEME_WAL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "core/error.h"
#include "steme/wal.h"

#define WAL_SEG_HDR   STEME_WAL_SEGMENT_HEADER
#define WAL_REC_HDR   STEME_WAL_RECORD_OVERHEAD
#define WAL_VERSION   1u
#define WAL_NAME_LEN  24              /* 20 digits + ".wal" */
#define WAL_NAME_MAX  64              /* room for a name plus a suffix */
#define WAL_SEG_OPEN  UINT64_MAX      /* sg_end of the segment being appended to */
#define WAL_MAX_ROLLS 64              /* segment rolls queued ahead of the flushers */
#define WAL_WAKE_SLOTS 16             /* futex words, one per flush epoch mod 16 */
#define WAL_CLAIM_SLOTS 32            /* claimed-but-not-yet-durable flush rounds */
/* Zero-ahead sizes (wal_zero.c) for 64 MiB segments; smaller segments use
 * proportionally smaller ones (segment/8, /64, /64, at least a page), so
 * the tests' small segments run the same code. */
#define WAL_ZERO_AHEAD (8u << 20)     /* zeros kept written this far past the writers */
#define WAL_ZERO_CHUNK (1u << 20)     /* bytes zeroed (and synced) per step */
#define WAL_ZERO_GAP   (1u << 20)     /* never zero closer than this to the writers */

/* ---- format (wal_format.c) ------------------------------------------ */

/* Write the 64-byte header of a segment starting at `start`. */
void wal_seg_header_encode(uint8_t hdr[WAL_SEG_HDR], uint64_t start, uint64_t seg_bytes);
/* Check a header; STEME_OK and *start, or STEME_E_CORRUPT/VERSION with err. */
int wal_seg_header_decode(const uint8_t hdr[WAL_SEG_HDR], uint64_t *start, steme_error *err);
/* Fill the 40-byte record header for a payload (len, crc32c, blake3). */
void wal_rec_header_encode(uint8_t hdr[WAL_REC_HDR], const void *payload, size_t len);
/* Check payload against a record header: 0 ok, 1 crc mismatch, 2 blake3 mismatch. */
int wal_rec_check(const uint8_t hdr[WAL_REC_HDR], const uint8_t *payload, size_t len);
static inline uint32_t wal_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
/* "00000000000000001234.wal" for start 1234 (buf >= WAL_NAME_LEN + 1). */
void wal_seg_name(char *buf, size_t cap, uint64_t start);
/* Parse a segment file name; 1 and *start if `name` is exactly one. */
int wal_seg_name_parse(const char *name, uint64_t *start);

/* ---- segments (wal_file.c) ------------------------------------------- */

typedef struct wal_seg {
    uint64_t sg_start;   /* offset of its first record (= the name) */
    uint64_t sg_end;     /* offset past its last record; WAL_SEG_OPEN while active */
    int sg_fd;           /* write fd while active or flushes are pending, else -1 */
    int sg_pending;      /* flush claims in flight on sg_fd */
} wal_seg;

/* ---- I/O of the append path (wal_file.c) ----------------------------- */

/* The two calls whose failure poisons the handle, behind pointers so a test
 * can make them fail (wal_test_set_io); the defaults are the syscalls. */
typedef struct wal_io {
    ssize_t (*io_pwritev)(int fd, const struct iovec *iov, int cnt, off_t off);
    int (*io_fdatasync)(int fd);
} wal_io;

/* ---- the handle ------------------------------------------------------ */

/* One write+fdatasync round claimed by a flusher. */
typedef struct wal_claim {
    uint64_t cl_epoch;     /* 0 = slot unused */
    uint64_t cl_end;       /* claim covers [previous claim end, cl_end) */
    uint64_t cl_boundary;  /* last record boundary <= cl_end */
    uint64_t cl_seg_id;    /* segment written (see wl_seg_base) */
    int cl_done;
} wal_claim;

struct steme_wal {
    /* --- immutable after open --- */
    char *wl_dir;
    int wl_dirfd;
    int wl_lockfd;
    uint64_t wl_seg_bytes;        /* file size of a segment */
    uint64_t wl_seg_cap;          /* record bytes a segment holds */
    uint64_t wl_max_record;
    steme_wal_prealloc wl_prealloc;
    int wl_nflushers;
    int wl_max_inflight;          /* rounds claimed and not yet durable, at most */
    uint64_t wl_zero_ahead, wl_zero_chunk, wl_zero_gap; /* WAL_ZERO_* scaled */
    void (*wl_log)(void *ctx, int level, const char *msg);
    void *wl_log_ctx;
    uint8_t *wl_ring;             /* staging ring, wl_ring_cap bytes */
    uint64_t wl_ring_cap;         /* power of two; ring index = offset & (cap-1) */
    steme_errslot wl_errs;
    wal_io wl_io;                 /* set at open (tests may swap it before appending) */
    void (*wl_on_durable)(void *ctx, steme_wal_ticket *first); /* NULL: no tickets */
    void *wl_on_durable_ctx;

    /* --- read without the lock by waiters (published by flushers) --- */
    _Alignas(64) _Atomic uint64_t wl_durable_pub;   /* bytes durable (prefix) */
    _Atomic uint64_t wl_boundary_pub;               /* last record boundary durable */
    _Atomic uint64_t wl_epoch_pub;                  /* last epoch whose claim is durable */
    _Atomic int wl_poisoned;
    _Atomic int wl_closing;
    _Alignas(64) _Atomic uint32_t wl_wake[WAL_WAKE_SLOTS];

    /* --- everything below is guarded by wl_lock --- */
    _Alignas(64) pthread_mutex_t wl_lock;
    pthread_cond_t wl_flush_cv;   /* flushers wait here for work */
    pthread_cond_t wl_space_cv;   /* appenders wait for ring space / exclusivity */
    pthread_cond_t wl_prep_cv;    /* preparer waits for a request */
    uint64_t wl_reserved;         /* end of bytes copied into the ring */
    uint64_t wl_res_boundary;     /* last record boundary <= wl_reserved */
    uint64_t wl_res_seg_start;    /* start of the segment being reserved into */
    uint64_t wl_written;          /* end of bytes claimed by flushers */
    uint64_t wl_durable;          /* synced prefix; = wl_durable_pub once published */
    uint64_t wl_boundary;         /* last record boundary synced (published later) */
    /* Tickets (steme_wal_append_ticket) staged and not yet handed to
     * on_durable, FIFO in log order; and whether a thread is running the
     * callback and publishing (wal_flush.c, publish_with_tickets). */
    steme_wal_ticket *wl_tq_head, *wl_tq_tail;
    int wl_publishing;
    uint64_t wl_rolls[WAL_MAX_ROLLS]; /* queued segment starts, FIFO */
    int wl_roll_head, wl_roll_count;
    int wl_exclusive;             /* an appender waits mid-call: others wait */
    int wl_rolling;               /* a flusher is switching segments */
    int wl_writing;               /* a round is claimed and its pwritev not done */
    int wl_flushers_idle;
    int wl_flush_signalled;
    int wl_space_waiters;
    int wl_stop;                  /* close: flushers drain then exit */
    uint64_t wl_claim_epoch;      /* epochs handed out */
    uint64_t wl_done_epoch;       /* epochs durable, in order */
    wal_claim wl_claims[WAL_CLAIM_SLOTS]; /* indexed by epoch mod WAL_CLAIM_SLOTS */
    char wl_poison_msg[STEME_ERRMSG_MAX]; /* why the handle was poisoned */
    wal_seg *wl_segs;             /* sorted by sg_start; last one is active */
    size_t wl_nsegs, wl_segs_cap;
    uint64_t wl_seg_base;         /* id of wl_segs[0]: segments removed so far */
    /* preparer: one spare preallocated segment file, named wl_prep_name */
    int wl_prep_fd;
    uint64_t wl_prep_zeroed;      /* file bytes of the spare already written as zeros */
    int wl_prep_busy;
    int wl_prep_stop;
    unsigned wl_prep_seq;
    char wl_prep_name[WAL_NAME_MAX];
    /* zero-ahead (wal_zero.c), in the ACTIVE segment wl_zero_seg_start */
    uint64_t wl_zero_seg_start;
    uint64_t wl_zero_end;         /* file bytes [0, end) hold data or written zeros */
    uint64_t wl_zero_limit;       /* while busy: rounds may not end past this offset */
    int wl_zero_busy;             /* a chunk's zeros are being written (not synced) */
    int wl_zero_poked;            /* the preparer was signalled to zero */
    struct steme_wal_stats wl_stats;
    pthread_t wl_flusher_tids[STEME_WAL_MAX_FLUSHERS];
    int wl_nthreads;
    pthread_t wl_prep_tid;
    int wl_prep_started;
};

/* Log through the handle's callback (or stderr). */
void wal_log(const steme_wal *w, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* wal_file.c */
int wal_fsync_dir(steme_wal *w, steme_error *err);
/* The default I/O (syscalls). */
void wal_io_default(wal_io *io);
/* Test hook: swap the append path's I/O (before the appends it should
 * affect: rounds claimed after the call use it). */
void wal_test_set_io(steme_wal *w, const wal_io *io);
/* Give [from, segment_bytes) of fd its space per the prealloc mode (the
 * ZERO mode fallocates here; wal_zero.c writes the zeros). 1 if it wrote
 * zeros all the way (no fallocate on this file system), 0, or -1. */
int wal_seg_fill(steme_wal *w, int fd, uint64_t from);
/* Write zeros over file bytes [from, to) of fd; 0 or -1. */
int wal_zero_fill(int fd, uint64_t from, uint64_t to);
/* Create a preallocated, synced, unnamed-yet segment file `tmpname` in the
 * directory; returns the fd or -1 with err filled. *zeroed: file bytes
 * [0, *zeroed) are written zeros (ZERO mode: the first WAL_ZERO_AHEAD). */
int wal_seg_prepare(steme_wal *w, const char *tmpname, uint64_t *zeroed, steme_error *err);
/* Turn a prepared file into the segment starting at `start`: header, rename,
 * directory sync. */
int wal_seg_install(steme_wal *w, int fd, const char *tmpname, uint64_t start,
                    steme_error *err);
/* Segment array helpers (caller holds wl_lock or is single-threaded). */
int wal_segs_push(steme_wal *w, uint64_t start, int fd);
/* Index of the last segment whose start <= off, or -1. */
long wal_segs_find(const steme_wal *w, uint64_t off);
int wal_prep_start(steme_wal *w, steme_error *err);
void wal_prep_stop(steme_wal *w);
/* Take the spare segment if ready (lock held): fd, its name and its zeroed
 * prefix, or -1. */
int wal_prep_take(steme_wal *w, char *name, size_t cap, uint64_t *zeroed);

/* wal_zero.c (all with wl_lock held) */
/* Should the preparer zero the next chunk of the active segment now? */
int wal_zero_wanted(const steme_wal *w);
/* Zero the next chunk (drops the lock during the I/O). */
void wal_zero_step(steme_wal *w);
/* Wake the preparer if zeroing is due (called by flushers per round). */
void wal_zero_poke(steme_wal *w);
/* May a round ending at offset `end` be written now (not into a chunk
 * being zeroed)? */
static inline int wal_zero_allows(const steme_wal *w, uint64_t end)
{
    return !w->wl_zero_busy || end <= w->wl_zero_limit;
}

/* wal_recover.c */
int wal_recover(steme_wal *w, steme_wal_recovery *rec, steme_error *err);

/* wal_flush.c */
void wal_futex_wake_all(_Atomic uint32_t *word);
/* Lock held. Record why, wake everybody; later appends return FATAL. */
void wal_poison(steme_wal *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Lock held: may a new round be claimed now (staged bytes, no roll due,
 * no round still writing, a claim slot free)? */
int wal_can_claim(const steme_wal *w);
/* Lock held: is there anything a flusher could do now (claim a round or
 * install a queued segment)? Wake-ups are sent only then. */
int wal_has_work(const steme_wal *w);
/* Lock held, wal_can_claim() true: claim, write and sync one round in the
 * calling thread; returns with the lock held. */
void wal_do_flush(steme_wal *w);
/* Ticket states (steme_wal_ticket.state_). */
enum { WAL_TICKET_QUEUED = 1, WAL_TICKET_TAKEN = 2, WAL_TICKET_DONE = 3 };

/* wal_commit.c / wal_flush.c */
int wal_commit_start(steme_wal *w, steme_error *err);
void wal_commit_stop(steme_wal *w);
/* Run-time record bound for readers: records must fit in a segment. */
static inline uint64_t wal_seg_data_cap(const steme_wal *w) { return w->wl_seg_cap; }

#endif
