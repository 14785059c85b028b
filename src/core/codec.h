/*
 * core/codec.h - the little-endian byte writer and reader behind every
 * record encoding (steme/record.h, docs/format.md). This is the one place
 * where lengths are checked against the buffer: record code asks for
 * fields, never indexes bytes itself.
 *
 * Writer: writes into a caller buffer; a write that does not fit sets a
 * sticky overflow flag and writes nothing (encoders size the buffer first,
 * so an overflow means a bug and becomes STEME_E_INTERNAL). With a sink
 * (cw_init_sink) the buffer is a staging area flushed to the sink when
 * full: this is how a record of any size is hashed without allocating.
 *
 * Reader: a sticky first error, like Redis's rio: after a failure every
 * getter returns zeroes without touching the input, so a decoder reads all
 * its fields in a row and checks cr_rc where a value steers control flow
 * (a flag, a tag) and at the end. Every failure is STEME_E_CORRUPT (or
 * STEME_E_VERSION) with a message "<record>: <field> at byte <offset>: why".
 * Strictness the getters enforce (so decode(b) ok => encode(decode(b)) == b):
 *   - f64: NaN, infinities, the bits of -0.0 and values outside [lo, hi]
 *     are refused (the writer turns -0.0 into +0.0);
 *   - bool: only 0 or 1;
 *   - text: length within [min, max], inside the input, valid UTF-8
 *     without NUL;
 *   - header: exact record type, known version, no unknown flag bits;
 *   - cr_finish: no trailing bytes.
 */
#ifndef STEME_CORE_CODEC_H
#define STEME_CORE_CODEC_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "steme/status.h"

/* ------------------------------------------------------------- writer */

/* Optional sink: when set, a full buffer is handed to it and reused, so a
 * record of any size streams through a small buffer (hashing). */
typedef void (*codec_sink_fn)(void *ctx, const uint8_t *p, size_t n);

typedef struct codec_w {
    uint8_t *cw_buf;
    size_t cw_cap;
    size_t cw_len;           /* bytes in cw_buf */
    size_t cw_flushed;       /* bytes already handed to the sink */
    bool cw_overflow;
    codec_sink_fn cw_sink;
    void *cw_sink_ctx;
} codec_w;

static inline void cw_init(codec_w *w, uint8_t *buf, size_t cap)
{
    w->cw_buf = buf;
    w->cw_cap = buf ? cap : 0;
    w->cw_len = 0;
    w->cw_flushed = 0;
    w->cw_overflow = false;
    w->cw_sink = NULL;
    w->cw_sink_ctx = NULL;
}

/* Streaming writer: buf (cap >= 64) is a staging area for the sink. */
static inline void cw_init_sink(codec_w *w, uint8_t *buf, size_t cap, codec_sink_fn sink,
                                void *ctx)
{
    cw_init(w, buf, cap);
    w->cw_sink = sink;
    w->cw_sink_ctx = ctx;
}

/* Hand buffered bytes to the sink (no-op without one). */
static inline void cw_flush(codec_w *w)
{
    if (w->cw_sink && w->cw_len) {
        w->cw_sink(w->cw_sink_ctx, w->cw_buf, w->cw_len);
        w->cw_flushed += w->cw_len;
        w->cw_len = 0;
    }
}

/* Total bytes written so far (buffered + flushed). */
static inline size_t cw_total(const codec_w *w)
{
    return w->cw_flushed + w->cw_len;
}

static inline uint8_t *cw_reserve(codec_w *w, size_t n)
{
    if (!w->cw_overflow && n > w->cw_cap - w->cw_len)
        cw_flush(w);
    if (w->cw_overflow || n > w->cw_cap - w->cw_len) {
        w->cw_overflow = true;
        return NULL;
    }
    uint8_t *p = w->cw_buf + w->cw_len;
    w->cw_len += n;
    return p;
}

static inline void cw_bytes(codec_w *w, const void *src, size_t n)
{
    if (w->cw_sink && !w->cw_overflow && n > w->cw_cap - w->cw_len) {
        cw_flush(w);
        if (n > w->cw_cap) {      /* large payload: straight to the sink */
            w->cw_sink(w->cw_sink_ctx, (const uint8_t *)src, n);
            w->cw_flushed += n;
            return;
        }
    }
    uint8_t *p = cw_reserve(w, n);
    if (p && n)
        memcpy(p, src, n);
}

static inline void cw_u8(codec_w *w, uint8_t x)
{
    uint8_t *p = cw_reserve(w, 1);
    if (p)
        p[0] = x;
}

static inline void cw_u16(codec_w *w, uint16_t x)
{
    uint8_t *p = cw_reserve(w, 2);
    if (p) {
        p[0] = (uint8_t)x;
        p[1] = (uint8_t)(x >> 8);
    }
}

static inline void cw_u32(codec_w *w, uint32_t x)
{
    uint8_t *p = cw_reserve(w, 4);
    if (p)
        for (int i = 0; i < 4; i++)
            p[i] = (uint8_t)(x >> (8 * i));
}

static inline void cw_u64(codec_w *w, uint64_t x)
{
    uint8_t *p = cw_reserve(w, 8);
    if (p)
        for (int i = 0; i < 8; i++)
            p[i] = (uint8_t)(x >> (8 * i));
}

/* IEEE-754 bits, LE; -0.0 becomes +0.0 so equal numbers give equal bytes. */
static inline void cw_f64(codec_w *w, double x)
{
    uint64_t bits = 0;
    if (x != 0.0)
        memcpy(&bits, &x, 8);
    cw_u64(w, bits);
}

/* u16 length + bytes (text up to 65535 bytes; callers validated the limit). */
static inline void cw_text16(codec_w *w, const char *p, size_t len)
{
    cw_u16(w, (uint16_t)len);
    cw_bytes(w, p, len);
}

/* u32 length + bytes (value payloads). */
static inline void cw_blob32(codec_w *w, const void *p, size_t len)
{
    cw_u32(w, (uint32_t)len);
    cw_bytes(w, p, len);
}

/* ------------------------------------------------------------- reader */

typedef struct codec_r {
    const uint8_t *cr_buf;
    size_t cr_len;
    size_t cr_off;
    const char *cr_rec;      /* record name, for messages */
    steme_error *cr_err;
    int cr_rc;               /* first failure; STEME_OK while none */
} codec_r;

static inline void cr_init(codec_r *r, const char *rec, const uint8_t *buf, size_t len,
                           steme_error *err)
{
    r->cr_buf = buf;
    r->cr_len = len;
    r->cr_off = 0;
    r->cr_rec = rec;
    r->cr_err = err;
    r->cr_rc = STEME_OK;
}

/* Record the first failure (later ones are ignored): code, field, offset. */
void cr_fail_code(codec_r *r, int code, size_t at, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define cr_fail(r, at, field, ...) cr_fail_code((r), STEME_E_CORRUPT, (at), (field), __VA_ARGS__)

/* View of the next n bytes, or NULL (short input; failure recorded). */
static inline const uint8_t *cr_take(codec_r *r, const char *field, size_t n)
{
    if (r->cr_rc)
        return NULL;
    size_t left = r->cr_len - r->cr_off;
    if (n > left) {
        cr_fail(r, r->cr_off, field, "needs %zu bytes, only %zu left", n, left);
        return NULL;
    }
    const uint8_t *p = r->cr_buf + r->cr_off;
    r->cr_off += n;
    return p;
}

static inline uint8_t cr_u8(codec_r *r, const char *field)
{
    const uint8_t *p = cr_take(r, field, 1);
    return p ? p[0] : 0;
}

static inline uint16_t cr_u16(codec_r *r, const char *field)
{
    const uint8_t *p = cr_take(r, field, 2);
    return p ? (uint16_t)(p[0] | (unsigned)p[1] << 8) : 0;
}

static inline uint32_t cr_u32(codec_r *r, const char *field)
{
    const uint8_t *p = cr_take(r, field, 4);
    uint32_t x = 0;
    if (p)
        for (int i = 3; i >= 0; i--)
            x = x << 8 | p[i];
    return x;
}

static inline uint64_t cr_u64(codec_r *r, const char *field)
{
    const uint8_t *p = cr_take(r, field, 8);
    uint64_t x = 0;
    if (p)
        for (int i = 7; i >= 0; i--)
            x = x << 8 | p[i];
    return x;
}

/* Copy n raw bytes (hashes, agent ids, signatures) into dst. */
static inline void cr_copy(codec_r *r, const char *field, void *dst, size_t n)
{
    const uint8_t *p = cr_take(r, field, n);
    if (p)
        memcpy(dst, p, n);
    else
        memset(dst, 0, n);
}

/* A bool byte: 0 or 1 only. */
bool cr_bool(codec_r *r, const char *field);
/* A finite f64 in [lo, hi], canonical (not -0.0). */
double cr_f64(codec_r *r, const char *field, double lo, double hi);
/* An enum byte in [lo, hi]. */
unsigned cr_enum8(codec_r *r, const char *field, unsigned lo, unsigned hi);
/* u16 length in [min, max] + that many bytes of UTF-8 text (view). */
void cr_text16(codec_r *r, const char *field, size_t min, size_t max, const char **p,
               size_t *len);
/* u32 length <= max + that many bytes (view); UTF-8 checked if utf8. */
void cr_blob32(codec_r *r, const char *field, size_t max, bool utf8, const uint8_t **p,
               size_t *len);
/* Record type byte (must be `type`), version byte (STEME_E_VERSION if not
 * known), flags byte (no bits outside `allowed`). Returns the flags. */
uint8_t cr_header(codec_r *r, uint8_t type, uint8_t allowed);
/* Refuse trailing bytes; returns the sticky status. */
int cr_finish(codec_r *r);

#endif /* STEME_CORE_CODEC_H */
