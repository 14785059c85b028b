/*
 * hnsw_save.c - writing the hot index as a cold file (format in
 * vec_cold_format.h): renumber nodes breadth-first, stream the sections
 * through one buffer while hashing them, then the header, then
 * fsync -> rename -> fsync the directory, so a crash leaves either the old
 * file or the complete new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "index/vector/hnsw_hot.h"
#include "index/vector/vec_cold_format.h"
#include "steme/hash.h"

#define WBUF_BYTES (1u << 20)

typedef struct cold_writer {
    int fd;
    uint8_t *buf;
    size_t len;
    uint64_t pos;      /* file offset of buf[0] */
    steme_blake3 stripe;   /* hash of the current 16 MiB stripe */
    uint64_t in_stripe;    /* body bytes hashed into it */
    steme_blake3 digests;  /* hash of the stripe digests (see the format) */
    int failed;        /* errno of the first failed write */
} cold_writer;

/* Hash body bytes stripe by stripe (vec_cold_format.h, body digest). */
static void w_hash(cold_writer *w, const uint8_t *b, size_t n)
{
    while (n) {
        size_t room = COLD_STRIPE_BYTES - (size_t)w->in_stripe, take = n < room ? n : room;
        steme_blake3_update(&w->stripe, b, take);
        w->in_stripe += take;
        b += take;
        n -= take;
        if (w->in_stripe == COLD_STRIPE_BYTES) {
            uint8_t d[32];
            steme_blake3_finalize(&w->stripe, d, 32);
            steme_blake3_update(&w->digests, d, 32);
            steme_blake3_init(&w->stripe);
            w->in_stripe = 0;
        }
    }
}

static void w_flush(cold_writer *w)
{
    size_t done = 0;
    while (!w->failed && done < w->len) {
        ssize_t r = write(w->fd, w->buf + done, w->len - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            w->failed = r < 0 ? errno : EIO;
        else
            done += (size_t)r;
    }
    w->pos += w->len;
    w->len = 0;
}

static void w_put(cold_writer *w, const void *p, size_t n)
{
    const uint8_t *b = p;
    w_hash(w, b, n);
    while (n) {
        size_t room = WBUF_BYTES - w->len, take = n < room ? n : room;
        memcpy(w->buf + w->len, b, take);
        w->len += take;
        b += take;
        n -= take;
        if (w->len == WBUF_BYTES)
            w_flush(w);
    }
}

/* Zero padding up to file offset `to`. */
static void w_pad(cold_writer *w, uint64_t to)
{
    static const uint8_t zeros[64];
    uint64_t at = w->pos + w->len;
    if (to > at)
        w_put(w, zeros, (size_t)(to - at));
}

static void w_u32(cold_writer *w, uint32_t v)
{
    uint8_t b[4];
    cold_put32(b, v);
    w_put(w, b, 4);
}

/* Breadth-first order over level 0 from the entry node; nodes it cannot
 * reach follow in insertion order. perm[new] = old, inv[old] = new. */
static void bfs_order(const steme_hnsw *h, uint32_t n, uint32_t entry, uint32_t *perm, uint32_t *inv)
{
    for (uint32_t i = 0; i < n; i++)
        inv[i] = HNSW_NONE;
    uint32_t tail = 0, unseen = 0;
    for (uint32_t head = 0; head < n; head++) {
        if (head == tail) {
            /* Queue empty: start from the entry node, then from the first
             * node not reached yet. */
            uint32_t s = entry;
            if (head || s >= n) {
                while (inv[unseen] != HNSW_NONE)
                    unseen++;
                s = unseen;
            }
            inv[s] = tail;
            perm[tail++] = s;
        }
        const uint32_t *row = hnsw_row(&h->g, perm[head], 0);
        for (uint32_t j = 0; j < row[0]; j++) {
            uint32_t x = row[1 + j];
            if (x < n && inv[x] == HNSW_NONE) {
                inv[x] = tail;
                perm[tail++] = x;
            }
        }
    }
}

static int cmp_by_id(const void *a, const void *b, void *ctx)
{
    const uint8_t *ids = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int c = memcmp(ids + (size_t)x * 32, ids + (size_t)y * 32, 32);
    return c ? c : (x > y) - (x < y);
}

static void write_sections(cold_writer *w, const steme_hnsw *h, uint32_t n, const uint32_t *perm,
                           const uint32_t *inv, uint32_t *by_id, const cold_layout *l)
{
    const hnsw_graph *g = &h->g;
    w_pad(w, l->off[SEC_IDS]);
    for (uint32_t i = 0; i < n; i++)
        w_put(w, h->hs_ids + (size_t)perm[i] * 32, 32);
    w_pad(w, l->off[SEC_DEAD]);
    for (uint32_t i = 0; i < n; i++)
        w_put(w, &h->hs_dead[perm[i]], 1);
    w_pad(w, l->off[SEC_LEVELS]);
    for (uint32_t i = 0; i < n; i++)
        w_put(w, &h->hs_levels[perm[i]], 1);
    w_pad(w, l->off[SEC_BY_ID]);
    for (uint32_t i = 0; i < n; i++)
        w_u32(w, inv[by_id[i]]);
    w_pad(w, l->off[SEC_UP_OFF]);
    uint64_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t b[8];
        uint32_t lev = h->hs_levels[perm[i]];
        cold_put64(b, lev ? at : 0);
        w_put(w, b, 8);
        at += (uint64_t)lev * g->up_words;
    }
    w_pad(w, l->off[SEC_UP_POOL]);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t lev = h->hs_levels[perm[i]];
        for (uint32_t lv = 1; lv <= lev; lv++) {
            const uint32_t *row = hnsw_row(g, perm[i], lv);
            w_u32(w, row[0]);
            for (uint32_t j = 0; j < g->M; j++)
                w_u32(w, j < row[0] ? inv[row[1 + j]] : 0);
        }
    }
    w_pad(w, l->off[SEC_L0]);
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t *row = hnsw_row(g, perm[i], 0);
        w_u32(w, row[0]);
        for (uint32_t j = 0; j < g->maxM0; j++)
            w_u32(w, j < row[0] ? inv[row[1 + j]] : 0);
    }
    w_pad(w, l->off[SEC_VECS]);
    for (uint32_t i = 0; i < n; i++)
        w_put(w, hnsw_vec(g, perm[i]), g->vstride);
}

static void fill_header(uint8_t *hd, const steme_hnsw *h, uint32_t n, uint32_t entry, uint32_t top,
                        uint64_t wal_offset, uint64_t up_words, const cold_layout *l,
                        const uint8_t *digest)
{
    const hnsw_graph *g = &h->g;
    memset(hd, 0, COLD_HEADER_BYTES);
    memcpy(hd, COLD_MAGIC, 8);
    cold_put32(hd + 8, COLD_VERSION);
    cold_put32(hd + 12, COLD_HEADER_BYTES);
    cold_put32(hd + COLD_OFF_DIM, g->dim);
    cold_put32(hd + COLD_OFF_METRIC, (uint32_t)g->metric);
    cold_put32(hd + COLD_OFF_STORAGE, (uint32_t)g->storage);
    cold_put32(hd + COLD_OFF_M, g->M);
    cold_put32(hd + COLD_OFF_EFC, h->hs_efc);
    cold_put32(hd + COLD_OFF_EFS, g->ef_search);
    cold_put32(hd + COLD_OFF_TOP, top);
    cold_put32(hd + COLD_OFF_ENTRY, entry);
    cold_put64(hd + COLD_OFF_COUNT, n);
    uint64_t live = 0;
    for (uint32_t i = 0; i < n; i++)
        live += !h->hs_dead[i];
    cold_put64(hd + COLD_OFF_LIVE, live);
    cold_put64(hd + COLD_OFF_WAL, wal_offset);
    cold_put64(hd + COLD_OFF_BODY, l->end - COLD_HEADER_BYTES);
    cold_put64(hd + COLD_OFF_UPWORDS, up_words);
    for (int s = 0; s < COLD_SECTIONS; s++)
        cold_put64(hd + COLD_OFF_SECTIONS + 8 * s, l->off[s]);
    memcpy(hd + COLD_OFF_BLAKE3, digest, 32);
    cold_put32(hd + COLD_OFF_CRC, steme_crc32c(0, hd, COLD_OFF_CRC));
}

int steme_hnsw_save(steme_hnsw *h, const char *path, uint64_t wal_offset, steme_error *err)
{
    if (!h || !path || !*path)
        return steme_err(err, STEME_E_INVALID, "hnsw save: NULL index or empty path");
    int rc = STEME_OK;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5), *dir = malloc(plen + 2);
    cold_writer w = {.fd = -1};
    uint32_t *perm = NULL, *inv = NULL, *by_id = NULL;
    pthread_mutex_lock(&h->hs_wlock);
    uint32_t n = h->hs_n;
    uint64_t epk = h->hs_ep;
    uint32_t entry = epk == HNSW_EP_EMPTY ? HNSW_NONE : (uint32_t)epk;
    uint32_t top = epk == HNSW_EP_EMPTY ? 0 : (uint32_t)(epk >> 32);
    perm = malloc(sizeof *perm * (n + 1));
    inv = malloc(sizeof *inv * (n + 1));
    by_id = malloc(sizeof *by_id * (n + 1));
    w.buf = malloc(WBUF_BYTES);
    if (!tmp || !dir || !perm || !inv || !by_id || !w.buf) {
        rc = steme_err(err, STEME_E_NOMEM, "hnsw save: out of memory");
        goto done;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    memcpy(dir, path, plen + 1);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';

    bfs_order(h, n, entry, perm, inv);
    for (uint32_t i = 0; i < n; i++)
        by_id[i] = i;
    qsort_r(by_id, n, sizeof *by_id, cmp_by_id, h->hs_ids);
    uint64_t up_words = 0;
    for (uint32_t i = 0; i < n; i++)
        up_words += (uint64_t)h->hs_levels[i] * h->g.up_words;
    cold_layout l;
    cold_layout_compute(n, h->g.M, h->g.vstride, up_words, &l);

    w.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w.fd < 0) {
        rc = steme_err(err, errno == ENOSPC ? STEME_E_FULL : STEME_E_IO, "hnsw save: create %s: %s",
                       tmp, strerror(errno));
        goto done;
    }
    uint8_t hd[COLD_HEADER_BYTES];
    memset(hd, 0, sizeof hd);
    /* The header slot first (not hashed), then the hashed body. */
    if (write(w.fd, hd, sizeof hd) != (ssize_t)sizeof hd)
        w.failed = errno ? errno : EIO;
    w.pos = COLD_HEADER_BYTES;
    steme_blake3_init(&w.stripe);
    steme_blake3_init(&w.digests);
    write_sections(&w, h, n, perm, inv, by_id, &l);
    w_flush(&w);
    uint8_t digest[32];
    if (w.in_stripe) {
        steme_blake3_finalize(&w.stripe, digest, 32);
        steme_blake3_update(&w.digests, digest, 32);
    }
    steme_blake3_finalize(&w.digests, digest, 32);
    fill_header(hd, h, n, entry == HNSW_NONE ? HNSW_NONE : inv[entry], top, wal_offset, up_words,
                &l, digest);
    if (!w.failed && pwrite(w.fd, hd, sizeof hd, 0) != (ssize_t)sizeof hd)
        w.failed = errno ? errno : EIO;
    if (!w.failed && fsync(w.fd) != 0)
        w.failed = errno;
    if (w.failed) {
        rc = steme_err(err, w.failed == ENOSPC ? STEME_E_FULL : STEME_E_IO, "hnsw save: write %s: %s",
                       tmp, strerror(w.failed));
        goto done;
    }
    close(w.fd);
    w.fd = -1;
    if (rename(tmp, path) != 0) {
        rc = steme_err(err, STEME_E_IO, "hnsw save: rename %s: %s", tmp, strerror(errno));
        goto done;
    }
    rc = steme_fsync_dir(dir, err);
done:
    pthread_mutex_unlock(&h->hs_wlock);
    if (w.fd >= 0) {
        close(w.fd);
        unlink(tmp);
    }
    free(w.buf);
    free(by_id);
    free(inv);
    free(perm);
    free(dir);
    free(tmp);
    return rc;
}
