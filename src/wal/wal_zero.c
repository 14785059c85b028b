/*
 * wal_zero.c - zero-ahead: keep the space just past the writers written
 * (as zeros) rather than merely allocated, in STEME_WAL_PREALLOC_ZERO mode.
 *
 * Why: fallocate() leaves ext4 extents UNWRITTEN. The first write into one
 * converts it, which dirties the inode, so every fdatasync of the append
 * path would also write the inode block: a second I/O per sync. Overwriting
 * blocks that were already written needs only the data and the cache flush
 * (measured 2-3x fewer microseconds per sync on this VM, docs/wal.md).
 * Writing a whole 64 MiB segment of zeros up front (PostgreSQL's
 * wal_init_zero) stalls open and, done in one go in the background, floods
 * the disk the foreground syncs share; so a new segment gets its first
 * WAL_ZERO_AHEAD bytes zeroed when prepared, and the preparer thread then
 * zeroes WAL_ZERO_CHUNK at a time (both scaled down for small segments),
 * each followed by an fdatasync (which makes the extent conversion durable
 * off the append path), whenever less than WAL_ZERO_AHEAD/2 of zeros is
 * left past the last staged byte. The flushers poke it once per round.
 *
 * Safety: zeros must never land on a record. A chunk starts at least
 * WAL_ZERO_GAP past the file position of wl_reserved (nothing has been
 * staged there yet) and, while its zeros are being copied into the page
 * cache, no round may be claimed that ends past the chunk's start
 * (wal_zero_allows in wal_can_claim). The gap makes that wait practically
 * never happen, and it lasts a page-cache copy at most: the fdatasync that
 * follows runs after the range is released (records written over the zeros
 * meanwhile are just synced early). The chunk is written through its own
 * file description, opened by name: an I/O error there is then still
 * reported to the flushers' descriptor too (errseq), and the handle is
 * poisoned anyway, since a failed sync of this file may have dropped pages
 * of records.
 *
 * Falling behind (a burst faster than the zeroing) costs speed only: the
 * writers then write into unwritten extents, which is still correct.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* File position of the next staged byte in the active segment. */
static uint64_t staged_file_pos(const steme_wal *w)
{
    return WAL_SEG_HDR + (w->wl_reserved - w->wl_zero_seg_start);
}

int wal_zero_wanted(const steme_wal *w)
{
    if (w->wl_prealloc != STEME_WAL_PREALLOC_ZERO || w->wl_zero_busy || w->wl_stop ||
        w->wl_roll_count || w->wl_rolling || atomic_load(&w->wl_poisoned) || w->wl_nsegs == 0)
        return 0;
    if (w->wl_segs[w->wl_nsegs - 1].sg_start != w->wl_zero_seg_start)
        return 0;       /* a roll is being installed: wait for the new segment */
    /* Refill once half the lead is used up: a fresh segment (zeroed
     * WAL_ZERO_AHEAD at preparation) then gets no zeroing for a while. */
    return w->wl_zero_end < w->wl_seg_bytes &&
           staged_file_pos(w) + w->wl_zero_ahead / 2 > w->wl_zero_end;
}

void wal_zero_poke(steme_wal *w)
{
    /* The spare for the next roll is asked for once the active segment is
     * half full, not at open: it then does not compete with a fresh log's
     * first syncs, and it is still ready long before the roll. */
    if (w->wl_prep_started && !w->wl_prep_busy && w->wl_prep_fd < 0 && !w->wl_roll_count &&
        w->wl_reserved - w->wl_res_seg_start > w->wl_seg_cap / 2) {
        w->wl_prep_busy = 1;
        pthread_cond_signal(&w->wl_prep_cv);
        return;
    }
    if (!w->wl_zero_poked && w->wl_prep_started && wal_zero_wanted(w)) {
        w->wl_zero_poked = 1;
        pthread_cond_signal(&w->wl_prep_cv);
    }
}

void wal_zero_step(steme_wal *w)
{
    uint64_t seg_start = w->wl_zero_seg_start;
    uint64_t lo = (staged_file_pos(w) + w->wl_zero_gap + 4095) & ~(uint64_t)4095;
    if (lo < w->wl_zero_end)
        lo = w->wl_zero_end;
    uint64_t hi = lo + w->wl_zero_chunk < w->wl_seg_bytes ? lo + w->wl_zero_chunk : w->wl_seg_bytes;
    if (lo >= hi) {
        w->wl_zero_end = w->wl_seg_bytes;
        return;
    }
    w->wl_zero_busy = 1;
    w->wl_zero_limit = seg_start + (lo - WAL_SEG_HDR);
    char name[WAL_NAME_MAX];
    wal_seg_name(name, sizeof name, seg_start);
    pthread_mutex_unlock(&w->wl_lock);

    int fd = openat(w->wl_dirfd, name, O_WRONLY | O_CLOEXEC);
    int ok = fd >= 0 && wal_zero_fill(fd, lo, hi) == 0;
    int e = errno;
    pthread_mutex_lock(&w->wl_lock);
    w->wl_zero_busy = 0;
    /* A flusher may have held a round back for this chunk. */
    if (w->wl_flushers_idle && !w->wl_flush_signalled && wal_has_work(w)) {
        w->wl_flush_signalled = 1;
        pthread_cond_signal(&w->wl_flush_cv);
    }
    pthread_mutex_unlock(&w->wl_lock);
    if (ok && fdatasync(fd) != 0) {
        ok = 0;
        e = errno;
    }
    if (fd >= 0)
        close(fd);

    pthread_mutex_lock(&w->wl_lock);
    if (!ok)
        wal_poison(w, "wal: writing zeros ahead in %s/%s (file bytes %llu..%llu) failed: %s",
                   w->wl_dir, name, (unsigned long long)lo, (unsigned long long)hi,
                   strerror(e));
    else if (w->wl_zero_seg_start == seg_start)
        w->wl_zero_end = hi;
}
