/*
 * wal_cursor.c - the replay cursor: reads durable records in offset order,
 * checking each one (CRC-32C, then BLAKE3) before handing it out.
 *
 * The cursor opens segment files itself (read-only, by name) and reads them
 * through its own buffer with pread, so it never blocks appenders beyond a
 * short lookup in the segment table, and a checkpoint that unlinks a
 * segment under it does not disturb the open file. It stops at the durable
 * record boundary (wl_boundary_pub) read at each call: bytes past it may be
 * staged or in flight and are never returned.
 *
 * Segment ends: a sealed segment's data ends at sg_end (for segments rolled
 * in this run that is the next one's start; after recovery cut a damaged
 * tail it is below it, and the cursor then jumps the gap). The active
 * segment has no fixed end; its records run up to the durable boundary.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CUR_CHUNK (256u * 1024u)

struct steme_wal_cursor {
    steme_wal *cu_wal;
    uint64_t cu_pos;        /* offset of the next record */
    uint64_t cu_seg_start;  /* segment open in cu_fd */
    uint64_t cu_seg_end;    /* its end, WAL_SEG_OPEN while active */
    int cu_fd;
    uint8_t *cu_buf;
    size_t cu_cap;
    uint64_t cu_buf_off;    /* offset of cu_buf[0] */
    size_t cu_buf_len;
};

/* Look up the segment holding `off` (or the first one after it, when `off`
 * ends a sealed segment or lies in a gap); with `after`, the segment after
 * the one starting at `off`. 1 found, 0 none, -1 (after) the segment at
 * `off` was removed. Takes the lock. */
static int seg_lookup(steme_wal *w, uint64_t off, int after, uint64_t *start, uint64_t *end)
{
    int found = 0;
    pthread_mutex_lock(&w->wl_lock);
    long i = wal_segs_find(w, off);
    if (after && (i < 0 || w->wl_segs[i].sg_start != off)) {
        pthread_mutex_unlock(&w->wl_lock);
        return -1;      /* our segment is gone: what followed it may be too */
    }
    if (after || i < 0 || (w->wl_segs[i].sg_end != WAL_SEG_OPEN && off >= w->wl_segs[i].sg_end))
        i++;
    if (i >= 0 && (size_t)i < w->wl_nsegs) {
        *start = w->wl_segs[i].sg_start;
        *end = w->wl_segs[i].sg_end;
        found = 1;
    }
    pthread_mutex_unlock(&w->wl_lock);
    return found;
}

static int cur_open_seg(steme_wal_cursor *c, uint64_t start, uint64_t end)
{
    steme_wal *w = c->cu_wal;
    char name[WAL_NAME_MAX];
    wal_seg_name(name, sizeof name, start);
    int fd = openat(w->wl_dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return steme_errslot_set(&w->wl_errs, errno == ENOENT ? STEME_E_NOTFOUND : STEME_E_IO,
                                 "wal: cursor: open %s/%s: %s", w->wl_dir, name,
                                 strerror(errno));
    if (c->cu_fd >= 0)
        close(c->cu_fd);
    c->cu_fd = fd;
    c->cu_seg_start = start;
    c->cu_seg_end = end;
    c->cu_buf_len = 0;
    return STEME_OK;
}

/* Make cu_buf hold [off, off + n) of the current segment. Bytes at or past
 * `limit` (the durable boundary) may still change, so they are not kept. */
static int cur_fill(steme_wal_cursor *c, uint64_t off, uint64_t n, uint64_t limit)
{
    steme_wal *w = c->cu_wal;
    if (off >= c->cu_buf_off && off + n <= c->cu_buf_off + c->cu_buf_len)
        return STEME_OK;
    if (n > c->cu_cap) {
        size_t cap = c->cu_cap;
        while (cap < n)
            cap *= 2;
        uint8_t *b = realloc(c->cu_buf, cap);
        if (!b)
            return steme_errslot_set(&w->wl_errs, STEME_E_NOMEM,
                                     "wal: cursor: no memory for a %llu-byte record",
                                     (unsigned long long)n);
        c->cu_buf = b;
        c->cu_cap = cap;
    }
    size_t got = 0;
    uint64_t file_off = WAL_SEG_HDR + (off - c->cu_seg_start);
    while (got < c->cu_cap) {
        ssize_t k = pread(c->cu_fd, c->cu_buf + got, c->cu_cap - got, (off_t)(file_off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return steme_errslot_set(&w->wl_errs, STEME_E_IO, "wal: cursor: read: %s",
                                     strerror(errno));
        if (k == 0)
            break;
        got += (size_t)k;
        if (got >= n)
            break;
    }
    if (got > limit - off)
        got = (size_t)(limit - off);
    c->cu_buf_off = off;
    c->cu_buf_len = got;
    if (got < n)
        return STEME_CORRUPT(steme_errslot_get(&w->wl_errs),
                             "wal: cursor: segment %llu ends inside the record at %llu",
                             (unsigned long long)c->cu_seg_start, (unsigned long long)off);
    return STEME_OK;
}

/*
 * Position on the record at cu_pos (switching segments as needed), below
 * `limit`. STEME_OK with *len, STEME_E_END, or an error.
 */
static int cur_peek(steme_wal_cursor *c, uint64_t limit, uint32_t *len)
{
    steme_wal *w = c->cu_wal;
    for (;;) {
        if (c->cu_pos >= limit)
            return STEME_E_END;
        if (c->cu_seg_end == WAL_SEG_OPEN) {    /* it may have been sealed since */
            uint64_t s, e;
            if (seg_lookup(w, c->cu_seg_start, 0, &s, &e) == 1 && s == c->cu_seg_start)
                c->cu_seg_end = e;
        }
        if (c->cu_seg_end != WAL_SEG_OPEN && c->cu_pos >= c->cu_seg_end) {
            uint64_t s, e;
            int found = seg_lookup(w, c->cu_seg_start, 1, &s, &e);
            if (found < 0)
                return steme_errslot_set(&w->wl_errs, STEME_E_NOTFOUND,
                                         "wal: cursor: segment %llu was removed by a checkpoint "
                                         "while the cursor read it",
                                         (unsigned long long)c->cu_seg_start);
            if (!found)
                return STEME_E_END;
            int rc = cur_open_seg(c, s, e);
            if (rc != STEME_OK)
                return rc;
            if (c->cu_pos < s)
                c->cu_pos = s;      /* skip the range recovery removed */
            continue;
        }
        break;
    }
    uint64_t seg_limit = c->cu_seg_end == WAL_SEG_OPEN ? limit : c->cu_seg_end;
    int rc = cur_fill(c, c->cu_pos, WAL_REC_HDR, limit);
    if (rc != STEME_OK)
        return rc;
    const uint8_t *h = c->cu_buf + (c->cu_pos - c->cu_buf_off);
    *len = wal_le32(h);
    if (*len == 0 || c->cu_pos + WAL_REC_HDR + *len > seg_limit)
        return STEME_CORRUPT(steme_errslot_get(&w->wl_errs),
                             "wal: cursor: bad length %u for the record at offset %llu",
                             (unsigned)*len, (unsigned long long)c->cu_pos);
    return STEME_OK;
}

int steme_wal_cursor_open(steme_wal *w, uint64_t from, steme_wal_cursor **out)
{
    if (out)
        *out = NULL;
    if (!w || !out) {
        if (w)
            steme_errslot_set(&w->wl_errs, STEME_E_INVALID, "wal: cursor_open: out is NULL");
        return STEME_E_INVALID;
    }
    uint64_t limit = atomic_load(&w->wl_boundary_pub);
    if (from > limit)
        return steme_errslot_set(&w->wl_errs, STEME_E_INVALID,
                                 "wal: cursor_open: offset %llu is beyond the end %llu",
                                 (unsigned long long)from, (unsigned long long)limit);
    uint64_t s = 0, e = 0;
    pthread_mutex_lock(&w->wl_lock);
    long i = wal_segs_find(w, from);
    uint64_t oldest = w->wl_segs[0].sg_start;
    if (i >= 0) {
        s = w->wl_segs[i].sg_start;
        e = w->wl_segs[i].sg_end;
    }
    pthread_mutex_unlock(&w->wl_lock);
    if (i < 0)
        return steme_errslot_set(&w->wl_errs, STEME_E_NOTFOUND,
                                 "wal: cursor_open: offset %llu is below the oldest segment "
                                 "(%llu): removed by a checkpoint",
                                 (unsigned long long)from, (unsigned long long)oldest);
    if (e != WAL_SEG_OPEN && from > e)
        return steme_errslot_set(&w->wl_errs, STEME_E_INVALID,
                                 "wal: cursor_open: offset %llu lies in a range recovery "
                                 "removed (%llu..next segment)",
                                 (unsigned long long)from, (unsigned long long)e);
    steme_wal_cursor *c = calloc(1, sizeof *c);
    if (c)
        c->cu_buf = malloc(CUR_CHUNK);
    if (!c || !c->cu_buf) {
        free(c);
        return steme_errslot_set(&w->wl_errs, STEME_E_NOMEM, "wal: cursor_open: out of memory");
    }
    c->cu_wal = w;
    c->cu_cap = CUR_CHUNK;
    c->cu_fd = -1;
    c->cu_pos = s;
    int rc = cur_open_seg(c, s, e);
    /* Walk the length words from the segment start to prove `from` is a
     * record boundary. */
    while (rc == STEME_OK && c->cu_pos < from) {
        uint32_t len;
        rc = cur_peek(c, limit, &len);
        if (rc == STEME_OK)
            c->cu_pos += WAL_REC_HDR + len;
        else if (rc == STEME_E_END)
            rc = STEME_OK;
    }
    if (rc == STEME_OK && c->cu_pos != from)
        rc = steme_errslot_set(&w->wl_errs, STEME_E_INVALID,
                               "wal: cursor_open: offset %llu is not a record boundary "
                               "(the walk from the segment start reached %llu)", (unsigned long long)from,
                               (unsigned long long)c->cu_pos);
    if (rc != STEME_OK) {
        steme_wal_cursor_close(c);
        return rc;
    }
    *out = c;
    return STEME_OK;
}

int steme_wal_cursor_next(steme_wal_cursor *c, const uint8_t **payload, size_t *len,
                          uint64_t *offset)
{
    if (!c || !payload || !len) {
        if (c)
            steme_errslot_set(&c->cu_wal->wl_errs, STEME_E_INVALID,
                              "wal: cursor_next: payload or len is NULL");
        return STEME_E_INVALID;
    }
    steme_wal *w = c->cu_wal;
    uint64_t limit = atomic_load(&w->wl_boundary_pub);
    uint32_t n;
    int rc = cur_peek(c, limit, &n);
    if (rc != STEME_OK)
        return rc;
    if (c->cu_pos + WAL_REC_HDR + n > limit)
        return STEME_E_END;
    rc = cur_fill(c, c->cu_pos, WAL_REC_HDR + (uint64_t)n, limit);
    if (rc != STEME_OK)
        return rc;
    const uint8_t *h = c->cu_buf + (c->cu_pos - c->cu_buf_off);
    int bad = wal_rec_check(h, h + WAL_REC_HDR, n);
    if (bad)
        return STEME_CORRUPT(steme_errslot_get(&w->wl_errs),
                             "wal: cursor: %s in the record at offset %llu",
                             bad == 1 ? "CRC-32C mismatch" : "BLAKE3 mismatch",
                             (unsigned long long)c->cu_pos);
    *payload = h + WAL_REC_HDR;
    *len = n;
    if (offset)
        *offset = c->cu_pos;
    c->cu_pos += WAL_REC_HDR + n;
    return STEME_OK;
}

void steme_wal_cursor_close(steme_wal_cursor *c)
{
    if (!c)
        return;
    if (c->cu_fd >= 0)
        close(c->cu_fd);
    free(c->cu_buf);
    free(c);
}
