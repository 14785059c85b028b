/*
 * core/record_int.h - helpers shared by the record_*.c files (internal).
 *
 * Validation helpers (rec_check_*) fill err with "<record>: <field>: why"
 * and return STEME_E_INVALID / STEME_E_TOO_BIG / STEME_E_BAD_UTF8. The
 * decoders do the same checks through the codec reader (core/codec.h),
 * which adds the byte offset; the two sets of rules must stay identical,
 * and the round-trip property tests check that they do.
 */
#ifndef STEME_CORE_RECORD_INT_H
#define STEME_CORE_RECORD_INT_H

#include <float.h>
#include "core/codec.h"
#include "steme/records.h"

/* Wire sizes. */
#define REC_HEADER_LEN 3u   /* type, version, flags */
#define REC_TEXT16_MAX 65535u

/* Encoding size of a u16-prefixed text of len bytes, or 0 past max. */
static inline size_t rec_text16_size(size_t len, size_t max)
{
    return len <= max ? 2 + len : 0;
}

int rec_check_f64(steme_error *err, const char *rec, const char *field, double x, double lo,
                  double hi);
int rec_check_text(steme_error *err, const char *rec, const char *field, const char *p,
                   size_t len, size_t min, size_t max);
int rec_check_subject(steme_error *err, const char *rec, const char *p, size_t len);
int rec_check_predicate(steme_error *err, const char *rec, const char *p, size_t len);
int rec_check_enum(steme_error *err, const char *rec, const char *field, unsigned x,
                   unsigned lo, unsigned hi);

/* Typed value: size (0 if invalid type or too long), write, read, check. */
size_t rec_value_size(const steme_value *v);
void rec_value_write(codec_w *w, const steme_value *v);
void rec_value_read(codec_r *r, const char *field, steme_value *out);
int rec_value_check(steme_error *err, const char *rec, const char *field,
                    const steme_value *v);

static inline void rec_header(codec_w *w, steme_record_type type, uint8_t flags)
{
    cw_u8(w, (uint8_t)type);
    cw_u8(w, STEME_RECORD_VERSION);
    cw_u8(w, flags);
}

/*
 * Encode scaffolding. rec_encode_begin: argument checks, *len = need,
 * STEME_E_BUFFER_SMALL if cap < need, else a writer over buf.
 * rec_encode_end: the writer must have written exactly need bytes
 * (anything else is a size/write mismatch in steme: STEME_E_INTERNAL).
 */
int rec_encode_begin(const char *rec, size_t need, uint8_t *buf, size_t cap, size_t *len,
                     codec_w *w, steme_error *err);
int rec_encode_end(const char *rec, const codec_w *w, size_t need, steme_error *err);
/* Decoder argument check: STEME_E_INVALID if buf (with len > 0) or out is NULL. */
int rec_decode_args(const char *rec, const uint8_t *buf, size_t len, const void *out,
                    steme_error *err);

/*
 * Hash / sign / verify run over the UNSIGNED encoding (record_sign.c).
 * rec_hash_unsigned streams it (written by `write`, need bytes) through a
 * small stack buffer into BLAKE3: no allocation at any size.
 * rec_with_unsigned builds it contiguously (Ed25519 needs the whole
 * message) in a 4 KiB stack buffer, or one heap buffer when larger, and
 * hands the bytes to `use`.
 */
typedef void (*rec_write_fn)(const void *rec, codec_w *w);
typedef int (*rec_use_fn)(void *ctx, const uint8_t *p, size_t n, steme_error *err);
int rec_hash_unsigned(const char *rec, const void *x, size_t need, rec_write_fn write,
                      steme_hash *out, steme_error *err);
int rec_with_unsigned(const char *rec, const void *x, size_t need, rec_write_fn write,
                      rec_use_fn use, void *ctx, steme_error *err);
int rec_use_sign(void *ctx, const uint8_t *p, size_t n, steme_error *err);   /* ctx: rec_sig_ctx* */
int rec_use_verify(void *ctx, const uint8_t *p, size_t n, steme_error *err); /* ctx: rec_sig_ctx* */
typedef struct rec_sig_ctx {
    const steme_secret_key *sk;    /* sign */
    const steme_agent_id *pk;      /* verify */
    steme_signature *sig_out;      /* sign */
    const steme_signature *sig_in; /* verify */
} rec_sig_ctx;
/* STEME_OK if sk's public key is `agent`, else STEME_E_INVALID. */
int rec_check_signer(const char *rec, const char *field, const steme_agent_id *agent,
                     const steme_secret_key *sk, steme_error *err);

#endif /* STEME_CORE_RECORD_INT_H */
