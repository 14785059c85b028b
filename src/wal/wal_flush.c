/*
 * wal_flush.c - the flusher threads: write what appenders staged, fdatasync
 * it, publish the durable prefix and wake the appenders it covers.
 *
 * Pipeline (see wal_commit.c for the appender's half; with an on_durable
 * callback, publication waits for it: publish_with_tickets below):
 *
 *   ring  ...|  durable  |  claimed, in flight  |  staged  |  free ...
 *            ^wl_durable              ^wl_written  ^wl_reserved
 *
 * A flusher takes the lock, CLAIMS every staged byte [wl_written,
 * wl_reserved) as one round (stopping at a queued segment roll), gives the
 * round the next EPOCH number, and drops the lock. Outside the lock it
 * writes the round with one pwritev (two iovecs when it wraps the ring) and
 * runs one fdatasync. At most `syncs_in_flight` rounds are claimed and not
 * yet durable (default 1). Overlapping rounds on one file measured SLOWER
 * here (64 writers: 45-60k acks/s with 2 in flight, 100-136k with 1;
 * docs/wal.md): two syncs of the same file contend (a page shared by
 * consecutive rounds must finish one writeback before the next; cutting
 * rounds at page boundaries did not help either) and every extra round
 * costs CPU the writers' wake-ups need. A second flusher thread still pays:
 * when a round completes, it claims the next one while the first flusher
 * is busy waking that round's writers.
 *
 * Rounds may finish out of order, but durability is a PREFIX: a round is
 * acknowledged only once it and every earlier round are synced (each round's
 * fdatasync covers its own bytes; the earlier rounds' syncs cover theirs).
 * The finisher advances wl_durable over the contiguous completed rounds,
 * publishes it, then bumps one futex word per completed epoch
 * (wl_wake[epoch % 16]) and wakes its sleepers: appenders of other epochs are
 * not woken (no thundering herd).
 *
 * A failed pwritev or fdatasync POISONS the handle: after a failed fsync the
 * kernel may have dropped the dirty pages and marked them clean, so a retry
 * could "succeed" without the data. Nothing more is written; every waiter
 * and later appender gets STEME_E_FATAL.
 *
 * Segment rolls: an appender whose record does not fit the current segment
 * queues the roll point (wl_rolls). When every byte before it is claimed, a
 * flusher installs the spare segment (header, rename, directory fsync) while
 * the others wait (wl_rolling), and the old segment's fd closes once its last
 * round is durable.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

void wal_futex_wake_all(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void wal_poison(steme_wal *w, const char *fmt, ...)
{
    if (!atomic_load(&w->wl_poisoned)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->wl_poison_msg, sizeof w->wl_poison_msg, fmt, ap);
        va_end(ap);
        wal_log(w, STEME_WAL_LOG_ERROR, "%s; the handle is poisoned, reopen it",
                w->wl_poison_msg);
        atomic_store(&w->wl_poisoned, 1);
    }
    pthread_cond_broadcast(&w->wl_space_cv);
    pthread_cond_broadcast(&w->wl_flush_cv);
    for (int i = 0; i < WAL_WAKE_SLOTS; i++) {
        atomic_fetch_add(&w->wl_wake[i], 1);
        wal_futex_wake_all(&w->wl_wake[i]);
    }
}

static wal_seg *seg_by_id(steme_wal *w, uint64_t id)
{
    return &w->wl_segs[id - w->wl_seg_base];
}

/* Lock held; wl_written == the queued roll point. Install the next segment. */
static void wal_do_roll(steme_wal *w)
{
    uint64_t start = w->wl_rolls[w->wl_roll_head];
    char tmp[WAL_NAME_MAX];
    w->wl_rolling = 1;
    uint64_t zeroed = 0;
    int fd = wal_prep_take(w, tmp, sizeof tmp, &zeroed);
    unsigned seq = w->wl_prep_seq++;
    pthread_mutex_unlock(&w->wl_lock);

    steme_error e = { 0 };
    if (fd < 0) {   /* the preparer is behind (or failed): make one here */
        snprintf(tmp, sizeof tmp, "prep-s%u.tmp", seq);
        fd = wal_seg_prepare(w, tmp, &zeroed, &e);
    }
    int rc = fd < 0 ? STEME_E_IO : wal_seg_install(w, fd, tmp, start, &e);

    pthread_mutex_lock(&w->wl_lock);
    wal_seg *old = &w->wl_segs[w->wl_nsegs - 1];
    if (rc == STEME_OK) {
        old->sg_end = start;
        if (old->sg_pending == 0 && old->sg_fd >= 0) {
            close(old->sg_fd);
            old->sg_fd = -1;
        }
        if (wal_segs_push(w, start, fd) != STEME_OK) {
            rc = STEME_E_NOMEM;
            snprintf(e.message, sizeof e.message, "wal: out of memory adding a segment");
        }
    }
    if (rc != STEME_OK) {
        if (fd >= 0)
            close(fd);
        wal_poison(w, "%s", e.message);
    } else {
        w->wl_roll_head = (w->wl_roll_head + 1) % WAL_MAX_ROLLS;
        w->wl_roll_count--;
        w->wl_zero_seg_start = start;
        w->wl_zero_end = zeroed;
        w->wl_stats.segments_created++;
    }
    w->wl_rolling = 0;
    pthread_cond_broadcast(&w->wl_flush_cv);
    if (w->wl_space_waiters)
        pthread_cond_broadcast(&w->wl_space_cv);
}

static int wal_write_all(const wal_io *io, int fd, struct iovec *iov, int cnt, uint64_t off)
{
    while (cnt > 0) {
        ssize_t k = io->io_pwritev(fd, iov, cnt, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k == 0 ? (errno = EIO, -1) : -1;
        off += (uint64_t)k;
        while (cnt > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

int wal_can_claim(const steme_wal *w)
{
    /* syncs_in_flight (default 1): on the 2-vCPU VM measured, overlapping
     * syncs cost CPU (more, smaller rounds) that the writers' sleeps and
     * wake-ups need more; one round at a time gave more acks/s at 8 and 64
     * writers (docs/wal.md). A second flusher still helps: it claims the
     * next round while the first one wakes the acknowledged writers. */
    if (w->wl_rolling || w->wl_writing || w->wl_written >= w->wl_reserved ||
        w->wl_claim_epoch - w->wl_done_epoch >= (uint64_t)w->wl_max_inflight)
        return 0;
    uint64_t end = w->wl_reserved;
    if (w->wl_roll_count) {
        if (w->wl_written == w->wl_rolls[w->wl_roll_head])
            return 0;
        if (w->wl_rolls[w->wl_roll_head] < end)
            end = w->wl_rolls[w->wl_roll_head];
    }
    return wal_zero_allows(w, end);
}

int wal_has_work(const steme_wal *w)
{
    if (w->wl_rolling)
        return 0;
    if (w->wl_roll_count && w->wl_written == w->wl_rolls[w->wl_roll_head])
        return !w->wl_writing;
    return wal_can_claim(w);
}

/* Lock held (dropped and retaken). Make [.., durable) visible to readers
 * and acknowledge the epochs (from, to]. Wakes happen outside the lock: a
 * wake-up costs microseconds per sleeper and appenders need the lock. */
static void publish(steme_wal *w, uint64_t durable, uint64_t boundary, uint64_t from,
                    uint64_t to)
{
    atomic_store(&w->wl_durable_pub, durable);
    if (boundary > atomic_load(&w->wl_boundary_pub))
        atomic_store(&w->wl_boundary_pub, boundary);
    atomic_store(&w->wl_epoch_pub, to);
    pthread_mutex_unlock(&w->wl_lock);
    for (uint64_t ep = from + 1; ep <= to; ep++) {
        _Atomic uint32_t *word = &w->wl_wake[ep % WAL_WAKE_SLOTS];
        atomic_fetch_add(word, 1);
        wal_futex_wake_all(word);
    }
    pthread_mutex_lock(&w->wl_lock);
}

/*
 * Lock held (dropped and retaken). With an on_durable callback, a synced
 * prefix is published only after the callback has seen its tickets, and
 * the callbacks must follow log order without overlapping: so one thread
 * at a time publishes (wl_publishing). It hands the tickets of the synced
 * prefix to the callback outside the lock, publishes, and loops while
 * other rounds completed meanwhile (their finishers found wl_publishing
 * set and left their rounds to it). The next round's write and sync are
 * not held up: wl_done_epoch has advanced, so a flusher may claim it while
 * the callback runs; only the acknowledgements wait.
 */
static void publish_with_tickets(steme_wal *w)
{
    if (w->wl_publishing)
        return;
    w->wl_publishing = 1;
    for (;;) {
        uint64_t from = atomic_load(&w->wl_epoch_pub), to = w->wl_done_epoch;
        if (to == from)
            break;
        uint64_t durable = w->wl_durable, boundary = w->wl_boundary;
        steme_wal_ticket *first = NULL, *last = NULL;
        for (steme_wal_ticket *t = w->wl_tq_head; t && t->end_ <= durable; t = t->next) {
            t->state_ = WAL_TICKET_TAKEN;
            if (!first)
                first = t;
            last = t;
        }
        if (last) {
            w->wl_tq_head = last->next;
            if (!w->wl_tq_head)
                w->wl_tq_tail = NULL;
            last->next = NULL;
        }
        if (first) {
            pthread_mutex_unlock(&w->wl_lock);
            w->wl_on_durable(w->wl_on_durable_ctx, first);
            pthread_mutex_lock(&w->wl_lock);
            for (steme_wal_ticket *t = first; t;) {
                steme_wal_ticket *next = t->next; /* the ticket may go once DONE */
                t->state_ = WAL_TICKET_DONE;
                t = next;
            }
            if (atomic_load(&w->wl_poisoned) && w->wl_space_waiters)
                pthread_cond_broadcast(&w->wl_space_cv); /* ticket_withdraw waits */
        }
        publish(w, durable, boundary, from, to);
    }
    w->wl_publishing = 0;
}

void wal_do_flush(steme_wal *w)
{
    uint64_t start = w->wl_written, end = w->wl_reserved;
    if (w->wl_roll_count && w->wl_rolls[w->wl_roll_head] < end)
        end = w->wl_rolls[w->wl_roll_head];     /* a round stays in one segment */
    uint64_t boundary = end == w->wl_reserved ? w->wl_res_boundary : end;
    uint64_t epoch = ++w->wl_claim_epoch;
    uint64_t seg_id = w->wl_seg_base + w->wl_nsegs - 1;
    wal_seg *seg = seg_by_id(w, seg_id);
    wal_claim *cl = &w->wl_claims[epoch % WAL_CLAIM_SLOTS];
    cl->cl_epoch = epoch;
    cl->cl_end = end;
    cl->cl_boundary = boundary;
    cl->cl_seg_id = seg_id;
    cl->cl_done = 0;
    seg->sg_pending++;
    int fd = seg->sg_fd;
    uint64_t file_off = WAL_SEG_HDR + (start - seg->sg_start);
    w->wl_written = end;
    w->wl_writing = 1;
    wal_zero_poke(w);
    wal_io io = w->wl_io;
    pthread_mutex_unlock(&w->wl_lock);

    /* The claimed bytes are stable: appenders only write past wl_reserved
     * and reuse ring space only below wl_durable. */
    struct iovec iov[2];
    uint64_t mask = w->wl_ring_cap - 1, len = end - start;
    uint64_t i0 = start & mask, first = w->wl_ring_cap - i0 < len ? w->wl_ring_cap - i0 : len;
    iov[0].iov_base = w->wl_ring + i0;
    iov[0].iov_len = (size_t)first;
    iov[1].iov_base = w->wl_ring;
    iov[1].iov_len = (size_t)(len - first);
    int bad = wal_write_all(&io, fd, iov, len > first ? 2 : 1, file_off) != 0 ? 1 : 0;
    int e = errno;
    /* The next round may start once this one's bytes are in the page cache:
     * its fdatasync then overlaps ours (this disk runs concurrent syncs
     * faster than back to back), and it never rewrites a page we are
     * still copying. */
    pthread_mutex_lock(&w->wl_lock);
    w->wl_writing = 0;
    if (!bad && w->wl_flushers_idle && !w->wl_flush_signalled && wal_has_work(w)) {
        w->wl_flush_signalled = 1;
        pthread_cond_signal(&w->wl_flush_cv);
    }
    pthread_mutex_unlock(&w->wl_lock);
    if (!bad && io.io_fdatasync(fd) != 0) {
        bad = 2;
        e = errno;
    }

    pthread_mutex_lock(&w->wl_lock);
    if (bad) {
        char name[WAL_NAME_MAX];
        seg = seg_by_id(w, seg_id);     /* the table may have moved meanwhile */
        wal_seg_name(name, sizeof name, seg->sg_start);
        wal_poison(w, "wal: %s of %s/%s at file byte %llu failed: %s",
                   bad == 1 ? "write" : "fdatasync", w->wl_dir, name,
                   (unsigned long long)file_off, strerror(e));
        return;
    }
    cl->cl_done = 1;
    uint64_t from = w->wl_done_epoch;
    for (;;) {
        wal_claim *c = &w->wl_claims[(w->wl_done_epoch + 1) % WAL_CLAIM_SLOTS];
        if (c->cl_epoch != w->wl_done_epoch + 1 || !c->cl_done)
            break;
        w->wl_done_epoch++;
        w->wl_durable = c->cl_end;
        if (c->cl_boundary > w->wl_boundary)
            w->wl_boundary = c->cl_boundary;
        wal_seg *s = seg_by_id(w, c->cl_seg_id);
        if (--s->sg_pending == 0 && s->sg_end != WAL_SEG_OPEN && s->sg_fd >= 0) {
            close(s->sg_fd);
            s->sg_fd = -1;
        }
        c->cl_epoch = 0;
        w->wl_stats.syncs++;
    }
    uint64_t to = w->wl_done_epoch;
    if (to == from)
        return;         /* an earlier round is still in flight; it will ack ours */
    if (w->wl_space_waiters)
        pthread_cond_broadcast(&w->wl_space_cv);
    if (w->wl_flushers_idle && !w->wl_flush_signalled && wal_has_work(w)) {
        w->wl_flush_signalled = 1;  /* one may wait for a claim slot or the overlap rule */
        pthread_cond_signal(&w->wl_flush_cv);
    }
    if (w->wl_on_durable) {
        publish_with_tickets(w);
        return;
    }
    publish(w, w->wl_durable, w->wl_boundary, from, to);
}

static void *wal_flusher_main(void *arg)
{
    steme_wal *w = arg;
    pthread_mutex_lock(&w->wl_lock);
    while (!atomic_load(&w->wl_poisoned)) {
        if (!w->wl_rolling) {
            int at_roll = w->wl_roll_count && w->wl_written == w->wl_rolls[w->wl_roll_head];
            if (at_roll && !w->wl_writing) {
                wal_do_roll(w);
                continue;
            }
            if (wal_can_claim(w)) {
                wal_do_flush(w);
                continue;
            }
            if (w->wl_stop && w->wl_written == w->wl_reserved)
                break;
        }
        w->wl_flushers_idle++;
        pthread_cond_wait(&w->wl_flush_cv, &w->wl_lock);
        w->wl_flushers_idle--;
        w->wl_flush_signalled = 0;
    }
    pthread_mutex_unlock(&w->wl_lock);
    return NULL;
}

int wal_commit_start(steme_wal *w, steme_error *err)
{
    for (int i = 0; i < w->wl_nflushers; i++) {
        if (pthread_create(&w->wl_flusher_tids[i], NULL, wal_flusher_main, w) != 0) {
            wal_commit_stop(w);
            return steme_err(err, STEME_E_NOMEM, "wal: cannot start flusher thread %d", i);
        }
        w->wl_nthreads++;
    }
    return STEME_OK;
}

void wal_commit_stop(steme_wal *w)
{
    pthread_mutex_lock(&w->wl_lock);
    w->wl_stop = 1;
    atomic_store(&w->wl_closing, 1);
    pthread_cond_broadcast(&w->wl_flush_cv);
    pthread_mutex_unlock(&w->wl_lock);
    for (int i = 0; i < w->wl_nthreads; i++)
        pthread_join(w->wl_flusher_tids[i], NULL);
    w->wl_nthreads = 0;
}
