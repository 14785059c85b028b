/*
 * wal_file.c - segment files: creation with preallocation, installation
 * under their final name, the directory sync, and the background preparer.
 *
 * Why prepare ahead: creating a segment costs a create, an fallocate (or a
 * 64 MiB zero fill) and an fsync. Done on the append path that would stall
 * every writer at each roll, so one spare file ("prep-N.tmp") is made in
 * the background while the current segment fills. At the roll a flusher
 * writes the header into the spare, renames it to "<start>.wal" and syncs
 * the directory before any record in it is acknowledged.
 *
 * Why preallocate: on ext4 an fdatasync after an append that grows the file
 * must also commit the new size through the journal; overwriting space that
 * already belongs to the file needs only the data and a cache flush
 * (measured 1.3-1.8x cheaper here, docs/wal.md). A spare that a crash leaves
 * behind is deleted at the next open. fallocated space is UNWRITTEN on
 * ext4: the first write into it converts the extent, which dirties the
 * inode, so each fdatasync also writes the inode block (measured 2-3x
 * slower per sync here). STEME_WAL_PREALLOC_ZERO therefore also overwrites
 * the space with zeros ahead of the writers (wal_zero.c); the preparer
 * thread below does that work between spares.
 *
 * wal_io: the flushers' pwritev and fdatasync go through a per-handle pair
 * of pointers so the poisoning rule can be tested with injected failures.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int wal_fsync_dir(steme_wal *w, steme_error *err)
{
    if (fsync(w->wl_dirfd) != 0)
        return steme_err(err, STEME_E_IO, "wal: fsync of directory %s: %s", w->wl_dir,
                         strerror(errno));
    return STEME_OK;
}

static ssize_t io_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    return pwritev(fd, iov, cnt, off);
}

static int io_fdatasync(int fd)
{
    return fdatasync(fd);
}

void wal_io_default(wal_io *io)
{
    io->io_pwritev = io_pwritev;
    io->io_fdatasync = io_fdatasync;
}

void wal_test_set_io(steme_wal *w, const wal_io *io)
{
    pthread_mutex_lock(&w->wl_lock);
    w->wl_io = *io;
    pthread_mutex_unlock(&w->wl_lock);
}

int wal_zero_fill(int fd, uint64_t from, uint64_t to)
{
    static const uint8_t zeros[65536];
    while (from < to) {
        size_t n = to - from < sizeof zeros ? (size_t)(to - from) : sizeof zeros;
        ssize_t k = pwrite(fd, zeros, n, (off_t)from);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        from += (uint64_t)k;
    }
    return 0;
}

int wal_seg_fill(steme_wal *w, int fd, uint64_t from)
{
    if (w->wl_prealloc == STEME_WAL_PREALLOC_NONE || from >= w->wl_seg_bytes)
        return 0;
    if (fallocate(fd, 0, (off_t)from, (off_t)(w->wl_seg_bytes - from)) == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS)
        return -1;
    /* The file system cannot: write zeros all the way. */
    return wal_zero_fill(fd, from, w->wl_seg_bytes) == 0 ? 1 : -1;
}

int wal_seg_prepare(steme_wal *w, const char *tmpname, uint64_t *zeroed, steme_error *err)
{
    int fd = openat(w->wl_dirfd, tmpname, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        steme_err(err, STEME_E_IO, "wal: create %s/%s: %s", w->wl_dir, tmpname, strerror(errno));
        return -1;
    }
    /* The sync makes the allocation (and size) durable now, so the syncs of
     * the append path never carry it. In ZERO mode the first stretch is
     * also written as zeros now; wal_zero.c keeps ahead of the writers. */
    int filled = wal_seg_fill(w, fd, 0);
    *zeroed = filled == 1 ? w->wl_seg_bytes : 0;
    if (filled == 0 && w->wl_prealloc == STEME_WAL_PREALLOC_ZERO) {
        uint64_t to = w->wl_seg_bytes < w->wl_zero_ahead ? w->wl_seg_bytes : w->wl_zero_ahead;
        filled = wal_zero_fill(fd, 0, to);
        *zeroed = to;
    }
    if (filled < 0 || fdatasync(fd) != 0) {
        steme_err(err, STEME_E_IO, "wal: preallocate %s/%s (%llu bytes): %s", w->wl_dir,
                  tmpname, (unsigned long long)w->wl_seg_bytes, strerror(errno));
        close(fd);
        unlinkat(w->wl_dirfd, tmpname, 0);
        return -1;
    }
    return fd;
}

int wal_seg_install(steme_wal *w, int fd, const char *tmpname, uint64_t start,
                    steme_error *err)
{
    uint8_t hdr[WAL_SEG_HDR];
    char name[WAL_NAME_MAX];
    wal_seg_header_encode(hdr, start, w->wl_seg_bytes);
    wal_seg_name(name, sizeof name, start);
    /* The header becomes durable with the first fdatasync of this file,
     * which precedes any acknowledgement of a record in it. A crash before
     * that leaves a named file of zeros: recovery deletes it. */
    if (pwrite(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
        return steme_err(err, STEME_E_IO, "wal: write header of %s/%s: %s", w->wl_dir, name,
                         strerror(errno));
    if (renameat(w->wl_dirfd, tmpname, w->wl_dirfd, name) != 0)
        return steme_err(err, STEME_E_IO, "wal: rename %s to %s in %s: %s", tmpname, name,
                         w->wl_dir, strerror(errno));
    return wal_fsync_dir(w, err);
}

int wal_segs_push(steme_wal *w, uint64_t start, int fd)
{
    if (w->wl_nsegs == w->wl_segs_cap) {
        size_t cap = w->wl_segs_cap ? w->wl_segs_cap * 2 : 16;
        wal_seg *s = realloc(w->wl_segs, cap * sizeof *s);
        if (!s)
            return STEME_E_NOMEM;
        w->wl_segs = s;
        w->wl_segs_cap = cap;
    }
    wal_seg *s = &w->wl_segs[w->wl_nsegs++];
    s->sg_start = start;
    s->sg_end = WAL_SEG_OPEN;
    s->sg_fd = fd;
    s->sg_pending = 0;
    return STEME_OK;
}

long wal_segs_find(const steme_wal *w, uint64_t off)
{
    size_t lo = 0, hi = w->wl_nsegs;    /* first index with start > off */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->wl_segs[mid].sg_start <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (long)lo - 1;
}

/* ---- the preparer thread -------------------------------------------- */

static void *wal_prep_main(void *arg)
{
    steme_wal *w = arg;
    pthread_mutex_lock(&w->wl_lock);
    for (;;) {
        if (w->wl_prep_stop)
            break;
        if (w->wl_prep_busy) {      /* a spare is wanted: first, it gates rolls */
            char name[WAL_NAME_MAX];
            snprintf(name, sizeof name, "prep-%u.tmp", w->wl_prep_seq++);
            pthread_mutex_unlock(&w->wl_lock);
            steme_error e = { 0 };
            uint64_t zeroed = 0;
            int fd = wal_seg_prepare(w, name, &zeroed, &e);
            if (fd < 0)
                wal_log(w, STEME_WAL_LOG_WARNING, "%s (the next roll will retry)", e.message);
            pthread_mutex_lock(&w->wl_lock);
            w->wl_prep_busy = 0;    /* a failure waits for the next request */
            if (fd >= 0) {
                w->wl_prep_fd = fd;
                w->wl_prep_zeroed = zeroed;
                memcpy(w->wl_prep_name, name, sizeof name);
            }
            continue;
        }
        if (wal_zero_wanted(w)) {
            wal_zero_step(w);
            continue;
        }
        w->wl_zero_poked = 0;
        pthread_cond_wait(&w->wl_prep_cv, &w->wl_lock);
    }
    pthread_mutex_unlock(&w->wl_lock);
    return NULL;
}

int wal_prep_take(steme_wal *w, char *name, size_t cap, uint64_t *zeroed)
{
    int fd = w->wl_prep_fd;
    if (fd >= 0) {
        snprintf(name, cap, "%s", w->wl_prep_name);
        *zeroed = w->wl_prep_zeroed;
        w->wl_prep_fd = -1;
    }
    /* Ask for the next spare right away. */
    if (w->wl_prep_started && !w->wl_prep_busy) {
        w->wl_prep_busy = 1;
        pthread_cond_signal(&w->wl_prep_cv);
    }
    return fd;
}

int wal_prep_start(steme_wal *w, steme_error *err)
{
    w->wl_prep_fd = -1;
    w->wl_prep_busy = 0;        /* asked for at half a segment (wal_zero_poke) */
    if (pthread_create(&w->wl_prep_tid, NULL, wal_prep_main, w) != 0)
        return steme_err(err, STEME_E_NOMEM, "wal: cannot start the segment preparer thread");
    w->wl_prep_started = 1;
    return STEME_OK;
}

void wal_prep_stop(steme_wal *w)
{
    if (!w->wl_prep_started)
        return;
    pthread_mutex_lock(&w->wl_lock);
    w->wl_prep_stop = 1;
    pthread_cond_broadcast(&w->wl_prep_cv);
    pthread_mutex_unlock(&w->wl_lock);
    pthread_join(w->wl_prep_tid, NULL);
    w->wl_prep_started = 0;
    if (w->wl_prep_fd >= 0) {
        close(w->wl_prep_fd);
        unlinkat(w->wl_dirfd, w->wl_prep_name, 0);
        w->wl_prep_fd = -1;
    }
}
