/*
 * wal_commit.c - the appender's half of group commit.
 *
 * An append does, in its own thread:
 *   1. outside any lock: the record header (CRC-32C + BLAKE3 of the payload:
 *      the expensive part, done by every writer in parallel);
 *   2. under wl_lock, a few hundred nanoseconds for a small record: decide
 *      the segment (queue a roll if the record does not fit), copy header +
 *      payload into the staging ring at wl_reserved, advance it, note the
 *      flush epoch that will carry it (the next one claimed), and nudge an
 *      idle flusher;
 *   3. outside the lock: sleep on the futex word of that epoch until the
 *      published durable offset covers the record's end.
 *
 * Why copy under the lock instead of reserving with an atomic add and
 * copying in parallel: on this 2-vCPU VM there is no parallel copy to gain
 * for ~170-byte records, while lock-free reservation needs a hole-tracking
 * structure so flushers know which reserved bytes are filled in (MySQL 8's
 * link_buf). The critical section is a memcpy and a few stores; the measured
 * cost per ack is dominated by the sleep/wake (docs/wal.md).
 *
 * Records larger than the free ring space go in pieces: the appender marks
 * itself EXCLUSIVE (others wait at the door, so nothing interleaves with its
 * record), waits for the flushers to free space, and continues. A flusher
 * may thus write part of a record; wl_res_boundary / wl_boundary_pub track
 * the last whole record so readers never see a partial one.
 *
 * The ack rule: an append returns STEME_OK only after the published durable
 * offset (advanced by a flusher after its fdatasync, see wal_flush.c) is at
 * or past the end of its last record.
 */
#include "wal/wal_int.h"

#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void ring_put(steme_wal *w, uint64_t pos, const uint8_t *src, uint64_t n)
{
    uint64_t i = pos & (w->wl_ring_cap - 1);
    uint64_t first = w->wl_ring_cap - i < n ? w->wl_ring_cap - i : n;
    memcpy(w->wl_ring + i, src, (size_t)first);
    if (n > first)
        memcpy(w->wl_ring, src + first, (size_t)(n - first));
}

static void kick_flusher(steme_wal *w)
{
    if (w->wl_flushers_idle > 0 && !w->wl_flush_signalled) {
        w->wl_flush_signalled = 1;
        pthread_cond_signal(&w->wl_flush_cv);
    }
}

/* Lock held. Wait on the space condvar as the exclusive appender. */
static int wait_space(steme_wal *w, int *exclusive)
{
    if (!*exclusive) {
        *exclusive = 1;
        w->wl_exclusive = 1;
    }
    kick_flusher(w);
    w->wl_space_waiters++;
    pthread_cond_wait(&w->wl_space_cv, &w->wl_lock);
    w->wl_space_waiters--;
    return atomic_load(&w->wl_poisoned) ? STEME_E_FATAL : STEME_OK;
}

/* Lock held. Copy n bytes into the ring at wl_reserved, waiting for space. */
static int stage_bytes(steme_wal *w, const uint8_t *src, uint64_t n, int *exclusive)
{
    while (n > 0) {
        uint64_t free_bytes = w->wl_ring_cap - (w->wl_reserved - w->wl_durable);
        if (free_bytes == 0) {
            int rc = wait_space(w, exclusive);
            if (rc != STEME_OK)
                return rc;
            continue;
        }
        uint64_t k = n < free_bytes ? n : free_bytes;
        ring_put(w, w->wl_reserved, src, k);
        w->wl_reserved += k;
        src += k;
        n -= k;
    }
    return STEME_OK;
}

static int wait_durable(steme_wal *w, uint64_t end, uint64_t epoch)
{
    for (;;) {
        if (atomic_load(&w->wl_durable_pub) >= end)
            return STEME_OK;
        if (atomic_load(&w->wl_poisoned))
            break;
        uint64_t done = atomic_load(&w->wl_epoch_pub);
        if (done >= epoch) {    /* our bytes went in a later round than guessed */
            epoch = done + 1;
            continue;
        }
        _Atomic uint32_t *word = &w->wl_wake[epoch % WAL_WAKE_SLOTS];
        uint32_t seen = atomic_load(word);
        /* Re-check after reading the word: a flusher publishes, then bumps
         * the word, so either we see its publication or the wait sees the
         * changed word and returns at once. */
        if (atomic_load(&w->wl_durable_pub) >= end || atomic_load(&w->wl_poisoned) ||
            atomic_load(&w->wl_epoch_pub) >= epoch)
            continue;
        syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
    }
    return steme_errslot_set(&w->wl_errs, STEME_E_FATAL, "wal: handle poisoned: %s",
                             w->wl_poison_msg);
}

/*
 * The handle was poisoned while t waited: take t back before returning, so
 * the callback never touches a ticket whose caller has gone. Queued: unlink
 * it. Handed to a running callback: wait until that call is over (the
 * publisher broadcasts wl_space_cv when it is done with a poisoned handle).
 */
static void ticket_withdraw(steme_wal *w, steme_wal_ticket *t)
{
    pthread_mutex_lock(&w->wl_lock);
    while (t->state_ == WAL_TICKET_TAKEN) {
        w->wl_space_waiters++;
        pthread_cond_wait(&w->wl_space_cv, &w->wl_lock);
        w->wl_space_waiters--;
    }
    if (t->state_ == WAL_TICKET_QUEUED) {
        steme_wal_ticket **pp = &w->wl_tq_head, *prev = NULL;
        while (*pp && *pp != t) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = t->next;
            if (w->wl_tq_tail == t)
                w->wl_tq_tail = prev;
        }
        t->state_ = WAL_TICKET_DONE;
    }
    pthread_mutex_unlock(&w->wl_lock);
}

/* Stage n checked records (headers precomputed) and wait until durable;
 * t (may be NULL) is queued for the on_durable callback with the last one. */
static int append_records(steme_wal *w, size_t n, const void *const *payloads,
                          const size_t *lens, const uint8_t (*hdrs)[WAL_REC_HDR],
                          uint64_t *first_offset, steme_wal_ticket *t)
{
    int rc = STEME_OK, exclusive = 0;
    uint64_t first = 0, bytes = 0;
    pthread_mutex_lock(&w->wl_lock);
    while (w->wl_exclusive && !atomic_load(&w->wl_poisoned)) {
        w->wl_space_waiters++;
        pthread_cond_wait(&w->wl_space_cv, &w->wl_lock);
        w->wl_space_waiters--;
    }
    if (atomic_load(&w->wl_poisoned))
        rc = STEME_E_FATAL;
    else if (w->wl_stop)
        rc = STEME_E_CLOSED;
    for (size_t i = 0; i < n && rc == STEME_OK; i++) {
        uint64_t need = WAL_REC_HDR + (uint64_t)lens[i];
        if (w->wl_reserved - w->wl_res_seg_start + need > w->wl_seg_cap) {
            while (rc == STEME_OK && w->wl_roll_count == WAL_MAX_ROLLS)
                rc = wait_space(w, &exclusive);
            if (rc != STEME_OK)
                break;
            w->wl_rolls[(w->wl_roll_head + w->wl_roll_count) % WAL_MAX_ROLLS] = w->wl_reserved;
            w->wl_roll_count++;
            w->wl_res_seg_start = w->wl_reserved;
        }
        if (i == 0)
            first = w->wl_reserved;
        rc = stage_bytes(w, hdrs[i], WAL_REC_HDR, &exclusive);
        if (rc == STEME_OK)
            rc = stage_bytes(w, payloads[i], lens[i], &exclusive);
        if (rc == STEME_OK)
            w->wl_res_boundary = w->wl_reserved;
        bytes += need;
    }
    uint64_t end = w->wl_reserved, epoch = w->wl_claim_epoch + 1;
    if (t && rc == STEME_OK) {
        /* queued in staging order, which is log order */
        t->next = NULL;
        t->end_ = end;
        t->status = STEME_OK;
        t->state_ = WAL_TICKET_QUEUED;
        if (w->wl_tq_tail)
            w->wl_tq_tail->next = t;
        else
            w->wl_tq_head = t;
        w->wl_tq_tail = t;
    }
    if (exclusive) {
        w->wl_exclusive = 0;
        pthread_cond_broadcast(&w->wl_space_cv);
    }
    if (rc == STEME_OK) {
        w->wl_stats.appends++;
        w->wl_stats.records += n;
        w->wl_stats.bytes += bytes;
        /* Nothing in flight: write and sync the round ourselves rather
         * than wake a flusher and sleep (two context switches saved per
         * round; what makes a lone writer as fast as the disk). Under
         * load a round is usually in flight and the flushers carry on. */
        if (w->wl_claim_epoch == w->wl_done_epoch && wal_can_claim(w))
            wal_do_flush(w);
        else if (wal_has_work(w))   /* else a busy flusher will see it */
            kick_flusher(w);
    }
    pthread_mutex_unlock(&w->wl_lock);
    if (rc == STEME_E_CLOSED)
        return steme_errslot_set(&w->wl_errs, rc, "wal: append after close began");
    if (rc != STEME_OK)
        return steme_errslot_set(&w->wl_errs, STEME_E_FATAL, "wal: handle poisoned: %s",
                                 w->wl_poison_msg);
    rc = wait_durable(w, end, epoch);
    if (rc != STEME_OK && t)
        ticket_withdraw(w, t);
    if (rc == STEME_OK && first_offset)
        *first_offset = first;
    return rc;
}

static int check_payload(steme_wal *w, const void *payload, size_t len, size_t index)
{
    if (!payload)
        return steme_errslot_set(&w->wl_errs, STEME_E_INVALID,
                                 "wal: append: payload %zu is NULL", index);
    if (len == 0)
        return steme_errslot_set(&w->wl_errs, STEME_E_INVALID,
                                 "wal: append: payload %zu is empty (records hold 1 byte or more)",
                                 index);
    if (len > w->wl_max_record)
        return steme_errslot_set(&w->wl_errs, STEME_E_TOO_BIG,
                                 "wal: append: payload %zu has %zu bytes, max_record is %llu",
                                 index, len, (unsigned long long)w->wl_max_record);
    return STEME_OK;
}

int steme_wal_append(steme_wal *w, const void *payload, size_t len, uint64_t *offset)
{
    if (!w)
        return STEME_E_INVALID;
    int rc = check_payload(w, payload, len, 0);
    if (rc != STEME_OK)
        return rc;
    uint8_t hdr[1][WAL_REC_HDR];
    wal_rec_header_encode(hdr[0], payload, len);
    return append_records(w, 1, &payload, &len, (const uint8_t (*)[WAL_REC_HDR])hdr, offset,
                          NULL);
}

int steme_wal_append_ticket(steme_wal *w, const void *payload, size_t len, steme_wal_ticket *t,
                            uint64_t *offset)
{
    if (!w)
        return STEME_E_INVALID;
    if (!t || !w->wl_on_durable)
        return steme_errslot_set(&w->wl_errs, STEME_E_INVALID, "wal: append_ticket: %s",
                                 t ? "the log was opened without an on_durable callback"
                                   : "ticket is NULL");
    int rc = check_payload(w, payload, len, 0);
    if (rc != STEME_OK)
        return rc;
    uint8_t hdr[1][WAL_REC_HDR];
    wal_rec_header_encode(hdr[0], payload, len);
    return append_records(w, 1, &payload, &len, (const uint8_t (*)[WAL_REC_HDR])hdr, offset, t);
}

int steme_wal_append_batch(steme_wal *w, size_t n, const void *const *payloads,
                           const size_t *lens, uint64_t *first_offset)
{
    if (!w)
        return STEME_E_INVALID;
    if (n == 0 || !payloads || !lens)
        return steme_errslot_set(&w->wl_errs, STEME_E_INVALID,
                                 "wal: append_batch: %s", n == 0 ? "no records (n == 0)"
                                 : "payloads or lens is NULL");
    for (size_t i = 0; i < n; i++) {
        int rc = check_payload(w, payloads[i], lens[i], i);
        if (rc != STEME_OK)
            return rc;
    }
    uint8_t local[16][WAL_REC_HDR];
    uint8_t (*hdrs)[WAL_REC_HDR] = local;
    if (n > 16 && !(hdrs = malloc(n * sizeof *hdrs)))
        return steme_errslot_set(&w->wl_errs, STEME_E_NOMEM,
                                 "wal: append_batch: out of memory for %zu headers", n);
    for (size_t i = 0; i < n; i++)
        wal_rec_header_encode(hdrs[i], payloads[i], lens[i]);
    int rc = append_records(w, n, payloads, lens, (const uint8_t (*)[WAL_REC_HDR])hdrs,
                            first_offset, NULL);
    if (hdrs != local)
        free(hdrs);
    return rc;
}

uint64_t steme_wal_end_offset(steme_wal *w)
{
    return w ? atomic_load(&w->wl_boundary_pub) : 0;
}
