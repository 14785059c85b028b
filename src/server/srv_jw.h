/*
 * server/srv_jw.h - a streaming JSON writer for the hot answers of
 * `steme serve` (the query's resolution).
 *
 * Why not jansson there: building a tree of json_t nodes (one malloc each)
 * and then dumping it (every real through snprintf "%.17g") cost more CPU
 * than the query itself (measured: ~12 us build + ~26 us dump against ~21 us
 * in steme_query for five candidates). This writer appends straight into one
 * growing buffer, which is handed to libmicrohttpd as the body.
 *
 * Output matches what jansson would produce for the same members in the same
 * order (compact), except that reals use the shortest decimal with at most
 * 17 significant digits that reads back as the same double ("0.95", not
 * "0.94999999999999996"), made without printf for magnitudes in [1e-3,
 * 2^53) (srv_jw_format_real), else "%.17g"; both parse to the same
 * double. Non-finite reals are written as null. Strings are escaped as
 * JSON requires; bytes that are not valid UTF-8 become \ufffd.
 *
 * Commas are automatic: a value (or key) written after another one at the
 * same nesting level is preceded by ','. Out of memory is sticky: every
 * later call does nothing and srv_jw_finish returns NULL.
 */
#ifndef STEME_SRV_JW_H
#define STEME_SRV_JW_H

#include <stddef.h>
#include <stdint.h>

#define SRV_JW_DEPTH 16

typedef struct srv_jw {
    char *buf;
    size_t len, cap;
    int oom;
    int depth;
    unsigned char first[SRV_JW_DEPTH];   /* nothing written yet at this level */
    int after_key;                        /* the next value follows "key": */
} srv_jw;

/* Start with an initial capacity (bytes); oom set if it cannot. */
void srv_jw_init(srv_jw *w, size_t cap);
/* The text (NUL-terminated, malloc'd, caller frees) and its length, or NULL
 * after an out-of-memory (the buffer is freed either way). */
char *srv_jw_finish(srv_jw *w, size_t *len);

void srv_jw_open_object(srv_jw *w);
void srv_jw_close_object(srv_jw *w);
void srv_jw_open_array(srv_jw *w);
void srv_jw_close_array(srv_jw *w);
/* A member name (a C string literal of plain ASCII: written unescaped). */
void srv_jw_key(srv_jw *w, const char *key);
/* The same from its text already quoted with the colon ("\"key\":", n
 * bytes): one copy. SRV_JW_KEY(w, "key") builds it from a literal. */
void srv_jw_key_n(srv_jw *w, const char *quoted, size_t n);
#define SRV_JW_KEY(w, lit) srv_jw_key_n((w), "\"" lit "\":", sizeof(lit) + 2)

void srv_jw_string(srv_jw *w, const char *s, size_t n);
void srv_jw_cstring(srv_jw *w, const char *s);
void srv_jw_hex(srv_jw *w, const uint8_t *p, size_t n);
void srv_jw_u64(srv_jw *w, uint64_t v);
void srv_jw_i64(srv_jw *w, int64_t v);
void srv_jw_real(srv_jw *w, double v);
void srv_jw_bool(srv_jw *w, int v);
void srv_jw_null(srv_jw *w);

/* Format a finite double as above into out (at least 32 bytes); returns
 * the length. Exposed for the tests. */
size_t srv_jw_format_real(double v, char *out);

#endif
