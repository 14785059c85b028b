/*
 * wal_recover.c - what steme_wal_open does to the files before appending.
 *
 * Every segment is scanned (format in wal_format.c): each record's CRC-32C,
 * then its BLAKE3. The data of a segment is its longest prefix of valid
 * records; whatever follows it must be zeros. When it is not, the segment
 * is repaired as follows, the dropped bytes first being saved in
 * NAME.dropped (fsynced) so nothing is destroyed silently:
 *
 *   last segment     the usual case is a torn tail after a crash: truncate
 *                    at the first bad record, then re-zero (re-preallocate)
 *                    the rest of the file, so appends continue there.
 *   earlier segment  the damaged record and the rest of THAT segment are
 *                    cut (file truncated); later segments are kept, so the
 *                    offsets then jump from this segment's new end to the
 *                    next segment's start.
 *   bad header       the file is renamed NAME.corrupt (its records cannot
 *                    be placed without a trusted start offset). A file of
 *                    only zeros is the harmless leftover of a crash during a
 *                    roll (renamed, header not yet synced) and is deleted.
 *
 * New appends never reuse an offset that a .corrupt file may have held: the
 * next offset is at least its start plus its data size.
 * Each repair is reported through the log callback and counted in
 * steme_wal_recovery. The scan maps each file read-only; repairs happen
 * after the mapping is gone.
 */
#include "wal/wal_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct rec_seg {
    uint64_t rs_start;
    uint64_t rs_end;    /* data end after repair */
    int rs_fd;
} rec_seg;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* End of the last non-zero byte in m[from, size), or `from` if all zero. */
static uint64_t last_nonzero_end(const uint8_t *m, uint64_t from, uint64_t size)
{
    uint64_t e = size;
    while (e > from && (e - from) >= 8 && (e & 7) == 0) {
        uint64_t v;
        memcpy(&v, m + e - 8, 8);
        if (v)
            break;
        e -= 8;
    }
    while (e > from && m[e - 1] == 0)
        e--;
    return e;
}

/* Save bytes as <name>.dropped (or .dropped.N if taken); name the file in out. */
static int save_evidence(steme_wal *w, const char *name, const char *suffix,
                         const uint8_t *data, uint64_t len, char *out, size_t cap,
                         steme_error *err)
{
    int fd = -1;
    for (int n = 0; n < 1000 && fd < 0; n++) {
        if (n == 0)
            snprintf(out, cap, "%s.%s", name, suffix);
        else
            snprintf(out, cap, "%s.%s.%d", name, suffix, n);
        fd = openat(w->wl_dirfd, out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0)
        return steme_err(err, STEME_E_IO, "wal: cannot create %s/%s to save dropped bytes: %s",
                         w->wl_dir, out, strerror(errno));
    uint64_t done = 0;
    while (done < len) {
        ssize_t k = write(fd, data + done, (size_t)(len - done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        done += (uint64_t)k;
    }
    int ok = done == len && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok)
        return steme_err(err, STEME_E_IO, "wal: write %s/%s: %s", w->wl_dir, out, strerror(e));
    return STEME_OK;
}

/* Is the record at m[p..size) valid? NULL if so, else why not. */
static const char *record_problem(const uint8_t *m, uint64_t p, uint64_t size)
{
    if (size - p < WAL_REC_HDR)
        return "record header cut short";
    uint32_t len = wal_le32(m + p);
    if (len > size - p - WAL_REC_HDR)
        return "record length runs past the end of the file";
    int bad = wal_rec_check(m + p, m + p + WAL_REC_HDR, len);
    return bad == 1 ? "CRC-32C mismatch" : bad == 2 ? "BLAKE3 mismatch" : NULL;
}

/*
 * Scan one segment whose header is valid; repair per the rules above.
 * On success rs->rs_end is the data end and rs->rs_fd the open fd.
 */
static int scan_segment(steme_wal *w, const char *name, int fd, uint64_t size, int is_last,
                        rec_seg *rs, steme_wal_recovery *r, steme_error *err)
{
    const uint8_t *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return steme_err(err, STEME_E_IO, "wal: map %s/%s: %s", w->wl_dir, name, strerror(errno));
    uint64_t p = WAL_SEG_HDR;
    const char *why = NULL;
    for (;;) {
        if (size - p < 4 || wal_le32(m + p) == 0)
            break;                          /* end of data: the rest must be zero */
        if ((why = record_problem(m, p, size)) != NULL)
            break;
        r->records++;
        p += WAL_REC_HDR + wal_le32(m + p);
    }
    uint64_t q = last_nonzero_end(m, p, size);
    if (q > p && !why)
        why = "non-zero bytes after the end of the data";
    int rc = STEME_OK;
    char saved[2 * WAL_NAME_MAX] = "";
    if (q > p)
        rc = save_evidence(w, name, "dropped", m + p, q - p, saved, sizeof saved, err);
    munmap((void *)m, (size_t)size);
    if (rc != STEME_OK)
        return rc;
    rs->rs_end = rs->rs_start + (p - WAL_SEG_HDR);
    if (q == p) {
        /* Records a killed process wrote but never synced are in the page
         * cache and were just accepted: make them durable before a cursor
         * can hand them out (cheap when nothing is dirty). */
        if (fdatasync(fd) != 0)
            return steme_err(err, STEME_E_IO, "wal: fdatasync %s/%s: %s", w->wl_dir, name,
                             strerror(errno));
        return STEME_OK;
    }
    r->dropped_bytes += q - p;
    r->damaged_segments++;
    wal_log(w, STEME_WAL_LOG_WARNING,
            "wal: %s: %s at offset %llu (file byte %llu); dropped %llu bytes from there to "
            "the end of the segment%s, saved in %s",
            name, why, (unsigned long long)rs->rs_end, (unsigned long long)p,
            (unsigned long long)(q - p), is_last ? " (torn tail?)" : "", saved);
    /* Cut the bytes; the last segment gets its zeroed space back for appends. */
    if (ftruncate(fd, (off_t)p) != 0 || (is_last && wal_seg_fill(w, fd, p) < 0) ||
        fdatasync(fd) != 0)
        return steme_err(err, STEME_E_IO, "wal: truncate %s/%s at %llu: %s", w->wl_dir, name,
                         (unsigned long long)p, strerror(errno));
    return STEME_OK;
}

/* A segment with an unusable header: delete if all zeros, else .corrupt. */
static int set_aside(steme_wal *w, const char *name, int fd, uint64_t size, const char *why,
                     uint64_t start, uint64_t *floor, steme_wal_recovery *r, steme_error *err)
{
    int zero = 1;
    if (size > 0) {
        const uint8_t *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED)
            return steme_err(err, STEME_E_IO, "wal: map %s/%s: %s", w->wl_dir, name,
                             strerror(errno));
        zero = last_nonzero_end(m, 0, size) == 0;
        munmap((void *)m, (size_t)size);
    }
    if (zero) {
        wal_log(w, STEME_WAL_LOG_INFO, "wal: %s: empty segment left by an interrupted roll; "
                "removed", name);
        if (unlinkat(w->wl_dirfd, name, 0) != 0)
            return steme_err(err, STEME_E_IO, "wal: unlink %s/%s: %s", w->wl_dir, name,
                             strerror(errno));
        return STEME_OK;
    }
    char to[2 * WAL_NAME_MAX];
    snprintf(to, sizeof to, "%s.corrupt", name);
    for (int n = 1; faccessat(w->wl_dirfd, to, F_OK, 0) == 0 && n < 1000; n++)
        snprintf(to, sizeof to, "%s.corrupt.%d", name, n);
    if (renameat(w->wl_dirfd, name, w->wl_dirfd, to) != 0)
        return steme_err(err, STEME_E_IO, "wal: rename %s/%s: %s", w->wl_dir, name,
                         strerror(errno));
    uint64_t top = start + (size > WAL_SEG_HDR ? size - WAL_SEG_HDR : 0);
    if (top > *floor)
        *floor = top;
    r->damaged_segments++;
    r->dropped_bytes += size;
    wal_log(w, STEME_WAL_LOG_WARNING, "wal: %s: %s; segment set aside as %s (%llu bytes)",
            name, why, to, (unsigned long long)size);
    return STEME_OK;
}

/* Start offsets of the "*.wal" segments in the directory, sorted; stale
 * spare files from an earlier run are deleted on the way. */
static int list_segments(steme_wal *w, uint64_t **out, size_t *n, steme_error *err)
{
    int dfd = dup(w->wl_dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return steme_err(err, STEME_E_IO, "wal: read directory %s: %s", w->wl_dir,
                         strerror(errno));
    }
    rewinddir(d);
    uint64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = STEME_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t start;
        size_t nl = strlen(de->d_name);
        if (strncmp(de->d_name, "prep-", 5) == 0 && nl > 4 &&
            strcmp(de->d_name + nl - 4, ".tmp") == 0) {
            unlinkat(w->wl_dirfd, de->d_name, 0);
            continue;
        }
        if (!wal_seg_name_parse(de->d_name, &start))
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                rc = steme_err(err, STEME_E_NOMEM, "wal: out of memory listing %s", w->wl_dir);
                break;
            }
            v = nv;
        }
        v[cnt++] = start;
    }
    closedir(d);
    if (rc != STEME_OK) {
        free(v);
        return rc;
    }
    if (cnt > 1)
        qsort(v, cnt, sizeof *v, cmp_u64);
    *out = v;
    *n = cnt;
    return STEME_OK;
}

int wal_recover(steme_wal *w, steme_wal_recovery *r, steme_error *err)
{
    uint64_t *starts = NULL;
    size_t n = 0;
    int rc = list_segments(w, &starts, &n, err);
    if (rc != STEME_OK)
        return rc;
    rec_seg *good = calloc(n ? n : 1, sizeof *good);
    size_t ngood = 0;
    uint64_t floor = 0;
    if (!good) {
        free(starts);
        return steme_err(err, STEME_E_NOMEM, "wal: out of memory recovering %s", w->wl_dir);
    }
    for (size_t i = 0; i < n && rc == STEME_OK; i++) {
        char name[WAL_NAME_MAX];
        wal_seg_name(name, sizeof name, starts[i]);
        int fd = openat(w->wl_dirfd, name, O_RDWR | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            rc = steme_err(err, STEME_E_IO, "wal: open %s/%s: %s", w->wl_dir, name,
                           strerror(errno));
            if (fd >= 0)
                close(fd);
            break;
        }
        uint64_t size = (uint64_t)st.st_size, start = 0;
        uint8_t hdr[WAL_SEG_HDR];
        steme_error he = { 0 };
        int hrc = size < WAL_SEG_HDR ? steme_err(&he, STEME_E_CORRUPT, "file shorter than its header")
                  : pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr
                      ? steme_err(&he, STEME_E_IO, "cannot read header: %s", strerror(errno))
                      : wal_seg_header_decode(hdr, &start, &he);
        if (hrc == STEME_OK && start != starts[i])
            hrc = steme_err(&he, STEME_E_CORRUPT, "header says start %llu, name says %llu",
                            (unsigned long long)start, (unsigned long long)starts[i]);
        if (hrc == STEME_E_IO) {
            rc = steme_err(err, STEME_E_IO, "wal: %s/%s: %s", w->wl_dir, name, he.message);
        } else if (hrc != STEME_OK) {
            rc = set_aside(w, name, fd, size, he.message, starts[i], &floor, r, err);
        } else {
            good[ngood].rs_start = starts[i];
            good[ngood].rs_fd = fd;
            rc = scan_segment(w, name, fd, size, i == n - 1, &good[ngood], r, err);
            if (rc == STEME_OK) {
                ngood++;
                continue;       /* fd kept */
            }
        }
        close(fd);
    }
    /* Overlapping segments cannot come from one log: refuse to guess. */
    for (size_t i = 1; i < ngood && rc == STEME_OK; i++)
        if (good[i].rs_start < good[i - 1].rs_end)
            rc = STEME_CORRUPT(err, "wal: segments %llu and %llu in %s overlap",
                               (unsigned long long)good[i - 1].rs_start,
                               (unsigned long long)good[i].rs_start, w->wl_dir);
    for (size_t i = 0; i < ngood && rc == STEME_OK; i++) {
        int active = i == ngood - 1 && good[i].rs_end >= floor;
        rc = wal_segs_push(w, good[i].rs_start, active ? good[i].rs_fd : -1);
        if (rc != STEME_OK) {
            steme_err(err, rc, "wal: out of memory recovering %s", w->wl_dir);
            break;
        }
        if (active)
            good[i].rs_fd = -1;     /* now owned by the segment table */
        else
            w->wl_segs[w->wl_nsegs - 1].sg_end = good[i].rs_end;
    }
    uint64_t next = ngood ? good[ngood - 1].rs_end : 0;
    if (next < floor)
        next = floor;
    for (size_t i = 0; i < ngood; i++)
        if (good[i].rs_fd >= 0)
            close(good[i].rs_fd);
    /* Zero-ahead starts at the end of the data of a reopened segment (what
     * follows is zeros or unwritten; rewriting zeros is harmless). */
    uint64_t zeroed = ngood ? WAL_SEG_HDR + (next - good[ngood - 1].rs_start) : 0;
    if (rc == STEME_OK && (w->wl_nsegs == 0 || w->wl_segs[w->wl_nsegs - 1].sg_end != WAL_SEG_OPEN)) {
        /* Nothing to append to: start a fresh segment at `next`. */
        const char *tmp = "prep-open.tmp";
        int fd = wal_seg_prepare(w, tmp, &zeroed, err);
        if (fd < 0)
            rc = STEME_E_IO;
        else if ((rc = wal_seg_install(w, fd, tmp, next, err)) != STEME_OK ||
                 (rc = wal_segs_push(w, next, fd)) != STEME_OK)
            close(fd);
    }
    if (rc == STEME_OK)
        rc = wal_fsync_dir(w, err);
    if (rc == STEME_OK) {
        w->wl_reserved = w->wl_res_boundary = w->wl_written = w->wl_durable = next;
        w->wl_res_seg_start = w->wl_segs[w->wl_nsegs - 1].sg_start;
        w->wl_zero_seg_start = w->wl_res_seg_start;
        w->wl_zero_end = zeroed;
        atomic_store(&w->wl_durable_pub, next);
        atomic_store(&w->wl_boundary_pub, next);
        w->wl_boundary = next;
        r->segments = w->wl_nsegs;
        r->first_offset = w->wl_segs[0].sg_start;
        r->end_offset = next;
    }
    free(good);
    free(starts);
    return rc;
}
