/*
 * wal_open.c - options, open (lock, recover, start threads), close,
 * checkpoint, stats, error messages, the log callback.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void steme_wal_options_init(steme_wal_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->segment_bytes = STEME_WAL_DEFAULT_SEGMENT_BYTES;
    o->max_record = 0;
    o->preallocate = STEME_WAL_PREALLOC_ZERO;
    o->buffer_bytes = STEME_WAL_DEFAULT_BUFFER_BYTES;
    o->flushers = 2;
    o->syncs_in_flight = 1;
}

void wal_log(const steme_wal *w, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (w->wl_log)
        w->wl_log(w->wl_log_ctx, level, line);
    else
        fprintf(stderr, "steme %s: %s\n",
                level == STEME_WAL_LOG_ERROR ? "error" :
                level == STEME_WAL_LOG_WARNING ? "warning" : "info", line);
}

static int check_options(const steme_wal_options *o, uint64_t *max_record, steme_error *err)
{
    if (o->segment_bytes < STEME_WAL_MIN_SEGMENT_BYTES)
        return steme_err(err, STEME_E_INVALID, "wal: segment_bytes %llu is below the minimum %u",
                         (unsigned long long)o->segment_bytes, STEME_WAL_MIN_SEGMENT_BYTES);
    if (o->segment_bytes > ((uint64_t)1 << 40))
        return steme_err(err, STEME_E_INVALID, "wal: segment_bytes %llu is above 1 TiB",
                         (unsigned long long)o->segment_bytes);
    uint64_t fit = o->segment_bytes - WAL_SEG_HDR - WAL_REC_HDR;
    if (fit > UINT32_MAX)
        fit = UINT32_MAX;     /* the length word is 32 bits */
    uint64_t mr = o->max_record;
    if (mr == 0)
        mr = fit < STEME_WAL_DEFAULT_MAX_RECORD ? fit : STEME_WAL_DEFAULT_MAX_RECORD;
    if (mr > fit)
        return steme_err(err, STEME_E_INVALID,
                         "wal: max_record %llu does not fit in a segment of %llu bytes "
                         "(at most %llu)", (unsigned long long)mr,
                         (unsigned long long)o->segment_bytes, (unsigned long long)fit);
    if (o->preallocate != STEME_WAL_PREALLOC_NONE &&
        o->preallocate != STEME_WAL_PREALLOC_FALLOCATE && o->preallocate != STEME_WAL_PREALLOC_ZERO)
        return steme_err(err, STEME_E_INVALID, "wal: unknown preallocate mode %d",
                         (int)o->preallocate);
    if (o->flushers < 1 || o->flushers > STEME_WAL_MAX_FLUSHERS)
        return steme_err(err, STEME_E_INVALID, "wal: flushers must be 1..%d, got %d",
                         STEME_WAL_MAX_FLUSHERS, o->flushers);
    if (o->syncs_in_flight < 1 || o->syncs_in_flight > WAL_CLAIM_SLOTS)
        return steme_err(err, STEME_E_INVALID, "wal: syncs_in_flight must be 1..%d, got %d",
                         WAL_CLAIM_SLOTS, o->syncs_in_flight);
    if (o->buffer_bytes > ((size_t)1 << 32))
        return steme_err(err, STEME_E_INVALID, "wal: buffer_bytes %zu is above 4 GiB",
                         o->buffer_bytes);
    *max_record = mr;
    return STEME_OK;
}

/* A zero-ahead size: `scaled` rounded up to a page, at most `max`. */
static uint64_t zero_size(uint64_t scaled, uint64_t max)
{
    uint64_t v = (scaled + 4095) & ~(uint64_t)4095;
    return v < 4096 ? 4096 : v > max ? max : v;
}

/* Directory (created if missing) and its LOCK file. */
static int open_dir(steme_wal *w, const char *dir, steme_error *err)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return steme_err(err, errno == ENOENT || errno == ENOTDIR ? STEME_E_INVALID : STEME_E_IO,
                         "wal: cannot create directory %s: %s", dir, strerror(errno));
    w->wl_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->wl_dirfd < 0)
        return steme_err(err, errno == ENOTDIR ? STEME_E_INVALID : STEME_E_IO,
                         "wal: cannot open directory %s: %s", dir, strerror(errno));
    w->wl_lockfd = openat(w->wl_dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->wl_lockfd < 0)
        return steme_err(err, STEME_E_IO, "wal: cannot create %s/LOCK: %s", dir, strerror(errno));
    if (flock(w->wl_lockfd, LOCK_EX | LOCK_NB) != 0)
        return steme_err(err, errno == EWOULDBLOCK ? STEME_E_BUSY : STEME_E_IO,
                         "wal: %s is in use by another handle (LOCK): %s", dir, strerror(errno));
    return STEME_OK;
}

static void wal_free(steme_wal *w)
{
    for (size_t i = 0; i < w->wl_nsegs; i++)
        if (w->wl_segs[i].sg_fd >= 0)
            close(w->wl_segs[i].sg_fd);
    free(w->wl_segs);
    if (w->wl_ring)
        munmap(w->wl_ring, (size_t)w->wl_ring_cap);
    if (w->wl_lockfd >= 0)
        close(w->wl_lockfd);   /* releases the flock */
    if (w->wl_dirfd >= 0)
        close(w->wl_dirfd);
    pthread_cond_destroy(&w->wl_flush_cv);
    pthread_cond_destroy(&w->wl_space_cv);
    pthread_cond_destroy(&w->wl_prep_cv);
    pthread_mutex_destroy(&w->wl_lock);
    steme_errslot_destroy(&w->wl_errs);
    free(w->wl_dir);
    free(w);
}

int steme_wal_open(const char *dir, const steme_wal_options *o, steme_wal **out,
                   steme_wal_recovery *rec, steme_error *err)
{
    if (out)
        *out = NULL;
    if (!dir || !*dir || !out)
        return steme_err(err, STEME_E_INVALID, "wal: open: %s",
                         !out ? "out is NULL" : "directory path is NULL or empty");
    steme_wal_options defaults;
    if (!o) {
        steme_wal_options_init(&defaults);
        o = &defaults;
    }
    uint64_t max_record = 0;
    int rc = check_options(o, &max_record, err);
    if (rc != STEME_OK)
        return rc;
    steme_wal *w = calloc(1, sizeof *w);
    if (!w)
        return steme_err(err, STEME_E_NOMEM, "wal: out of memory");
    w->wl_dirfd = w->wl_lockfd = w->wl_prep_fd = -1;
    wal_io_default(&w->wl_io);
    pthread_mutex_init(&w->wl_lock, NULL);
    pthread_cond_init(&w->wl_flush_cv, NULL);
    pthread_cond_init(&w->wl_space_cv, NULL);
    pthread_cond_init(&w->wl_prep_cv, NULL);
    w->wl_seg_bytes = o->segment_bytes;
    w->wl_seg_cap = o->segment_bytes - WAL_SEG_HDR;
    w->wl_max_record = max_record;
    w->wl_prealloc = o->preallocate;
    w->wl_nflushers = o->flushers;
    w->wl_max_inflight = o->syncs_in_flight;
    w->wl_zero_ahead = zero_size(o->segment_bytes / 8, WAL_ZERO_AHEAD);
    w->wl_zero_chunk = zero_size(o->segment_bytes / 64, WAL_ZERO_CHUNK);
    w->wl_zero_gap = zero_size(o->segment_bytes / 64, WAL_ZERO_GAP);
    w->wl_log = o->log;
    w->wl_log_ctx = o->log_ctx;
    w->wl_on_durable = o->on_durable;
    w->wl_on_durable_ctx = o->on_durable_ctx;
    uint64_t cap = 64 * 1024;
    while (cap < o->buffer_bytes)
        cap <<= 1;
    w->wl_ring_cap = cap;
    steme_wal_recovery local;
    if (!rec)
        rec = &local;
    memset(rec, 0, sizeof *rec);

    if (steme_errslot_init(&w->wl_errs) != STEME_OK || !(w->wl_dir = strdup(dir))) {
        rc = steme_err(err, STEME_E_NOMEM, "wal: out of memory");
        goto fail;
    }
    /* The ring is mmapped so untouched pages cost no memory. */
    w->wl_ring = mmap(NULL, (size_t)cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (w->wl_ring == MAP_FAILED) {
        w->wl_ring = NULL;
        rc = steme_err(err, STEME_E_NOMEM, "wal: cannot map a %llu-byte buffer",
                       (unsigned long long)cap);
        goto fail;
    }
    if ((rc = open_dir(w, dir, err)) != STEME_OK)
        goto fail;
    if ((rc = wal_recover(w, rec, err)) != STEME_OK)
        goto fail;
    if ((rc = wal_prep_start(w, err)) != STEME_OK)
        goto fail;
    if ((rc = wal_commit_start(w, err)) != STEME_OK)
        goto fail;
    *out = w;
    return STEME_OK;
fail:
    wal_commit_stop(w);
    wal_prep_stop(w);
    wal_free(w);
    return rc;
}

void steme_wal_close(steme_wal *w)
{
    if (!w)
        return;
    wal_commit_stop(w);
    wal_prep_stop(w);
    wal_free(w);
}

const char *steme_wal_errmsg(steme_wal *w)
{
    return w ? steme_errslot_message(&w->wl_errs) : "no handle";
}

int steme_wal_stats(steme_wal *w, struct steme_wal_stats *out)
{
    if (!w || !out) {
        if (w)
            steme_errslot_set(&w->wl_errs, STEME_E_INVALID, "wal: stats: out is NULL");
        return STEME_E_INVALID;
    }
    pthread_mutex_lock(&w->wl_lock);
    *out = w->wl_stats;
    pthread_mutex_unlock(&w->wl_lock);
    return STEME_OK;
}

int steme_wal_checkpoint(steme_wal *w, uint64_t offset)
{
    if (!w)
        return STEME_E_INVALID;
    uint64_t end = steme_wal_end_offset(w);
    if (offset > end)
        return steme_errslot_set(&w->wl_errs, STEME_E_INVALID,
                                 "wal: checkpoint: offset %llu is beyond the durable end %llu",
                                 (unsigned long long)offset, (unsigned long long)end);
    /* Take the removable prefix out of the table under the lock, unlink
     * outside it. Sealed segments below the durable end have no round in
     * flight (their fds are closed), so nothing else refers to them. */
    pthread_mutex_lock(&w->wl_lock);
    size_t k = 0;
    while (k + 1 < w->wl_nsegs && w->wl_segs[k].sg_end != WAL_SEG_OPEN &&
           w->wl_segs[k].sg_end <= offset && w->wl_segs[k].sg_pending == 0)
        k++;
    uint64_t *starts = k ? malloc(k * sizeof *starts) : NULL;
    if (k && !starts) {
        pthread_mutex_unlock(&w->wl_lock);
        return steme_errslot_set(&w->wl_errs, STEME_E_NOMEM, "wal: checkpoint: out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        starts[i] = w->wl_segs[i].sg_start;
        if (w->wl_segs[i].sg_fd >= 0)
            close(w->wl_segs[i].sg_fd);
    }
    memmove(w->wl_segs, w->wl_segs + k, (w->wl_nsegs - k) * sizeof *w->wl_segs);
    w->wl_nsegs -= k;
    w->wl_seg_base += k;
    pthread_mutex_unlock(&w->wl_lock);

    int rc = STEME_OK;
    for (size_t i = 0; i < k; i++) {
        char name[WAL_NAME_MAX];
        wal_seg_name(name, sizeof name, starts[i]);
        if (unlinkat(w->wl_dirfd, name, 0) != 0 && errno != ENOENT && rc == STEME_OK)
            rc = steme_errslot_set(&w->wl_errs, STEME_E_IO, "wal: checkpoint: unlink %s/%s: %s",
                                   w->wl_dir, name, strerror(errno));
    }
    free(starts);
    if (k && fsync(w->wl_dirfd) != 0 && rc == STEME_OK)
        rc = steme_errslot_set(&w->wl_errs, STEME_E_IO, "wal: checkpoint: fsync %s: %s",
                               w->wl_dir, strerror(errno));
    return rc;
}
