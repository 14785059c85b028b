/*
 * srv_jw.c - the streaming JSON writer of `steme serve` (srv_jw.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_jw.h"

void srv_jw_init(srv_jw *w, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->first[0] = 1;
    w->cap = cap < 64 ? 64 : cap;
    w->buf = malloc(w->cap);
    if (!w->buf)
        w->oom = 1;
}

char *srv_jw_finish(srv_jw *w, size_t *len)
{
    if (!w->oom && w->len < w->cap) {
        w->buf[w->len] = 0;
        *len = w->len;
        return w->buf;
    }
    free(w->buf);
    w->buf = NULL;
    *len = 0;
    return NULL;
}

/* Room for n more bytes plus the final NUL. */
static int reserve(srv_jw *w, size_t n)
{
    if (w->oom)
        return 0;
    if (w->len + n < w->cap)
        return 1;
    size_t cap = w->cap;
    while (w->len + n >= cap) {
        if (cap > SIZE_MAX / 2) {
            w->oom = 1;
            return 0;
        }
        cap *= 2;
    }
    char *b = realloc(w->buf, cap);
    if (!b) {
        w->oom = 1;
        return 0;
    }
    w->buf = b;
    w->cap = cap;
    return 1;
}

static void put(srv_jw *w, const char *s, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void put_char(srv_jw *w, char c)
{
    if (reserve(w, 1))
        w->buf[w->len++] = c;
}

/* Before a value or a key: the comma, unless first at its level or the
 * value of a key just written. */
static void sep(srv_jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (!w->first[w->depth])
        put_char(w, ',');
    w->first[w->depth] = 0;
}

static void open_level(srv_jw *w, char c)
{
    sep(w);
    put_char(w, c);
    if (w->depth + 1 >= SRV_JW_DEPTH) {
        w->oom = 1;   /* deeper than any answer of ours: a bug, fail closed */
        return;
    }
    w->first[++w->depth] = 1;
}

static void close_level(srv_jw *w, char c)
{
    if (w->depth > 0)
        w->depth--;
    put_char(w, c);
}

void srv_jw_open_object(srv_jw *w) { open_level(w, '{'); }
void srv_jw_close_object(srv_jw *w) { close_level(w, '}'); }
void srv_jw_open_array(srv_jw *w) { open_level(w, '['); }
void srv_jw_close_array(srv_jw *w) { close_level(w, ']'); }

void srv_jw_key(srv_jw *w, const char *key)
{
    sep(w);
    put_char(w, '"');
    put(w, key, strlen(key));
    put(w, "\":", 2);
    w->after_key = 1;
}

void srv_jw_key_n(srv_jw *w, const char *quoted, size_t n)
{
    sep(w);
    put(w, quoted, n);
    w->after_key = 1;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0x3fu >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void srv_jw_string(srv_jw *w, const char *s, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    sep(w);
    if (!reserve(w, n + 2))
        return;
    w->buf[w->len++] = '"';
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t run = i;   /* copy plain bytes in one go */
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        put(w, s + i, run - i);
        i = run;
        if (i == n)
            break;
        unsigned c = p[i];
        if (c >= 0x80) {
            size_t l = utf8_len(p + i, n - i);
            if (l) {
                put(w, s + i, l);
                i += l;
            } else {
                put(w, "\\ufffd", 6);
                i++;
            }
            continue;
        }
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hexd[c >> 4];
            esc[5] = hexd[c & 15];
            el = 6;
        }
        put(w, esc, el);
        i++;
    }
    put_char(w, '"');
}

void srv_jw_cstring(srv_jw *w, const char *s)
{
    srv_jw_string(w, s, strlen(s));
}

void srv_jw_hex(srv_jw *w, const uint8_t *p, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    sep(w);
    if (!reserve(w, 2 * n + 2))
        return;
    char *o = w->buf + w->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        *o++ = hexd[p[i] >> 4];
        *o++ = hexd[p[i] & 15];
    }
    *o++ = '"';
    w->len += 2 * n + 2;
}

/* Decimal digits of v at the end of a 20-byte buffer; returns the start. */
static char *u64_digits(uint64_t v, char *end)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

void srv_jw_u64(srv_jw *w, uint64_t v)
{
    char b[24];
    char *p = u64_digits(v, b + sizeof b);
    sep(w);
    put(w, p, (size_t)(b + sizeof b - p));
}

void srv_jw_i64(srv_jw *w, int64_t v)
{
    char b[24];
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = u64_digits(m, b + sizeof b);
    if (v < 0)
        *--p = '-';
    sep(w);
    put(w, p, (size_t)(b + sizeof b - p));
}

/* v's text from r and d: r / 10^d with d decimals (at least one: "3.0"). */
static size_t emit_decimal(double v, uint64_t r, int d, char *out)
{
    char b[32];
    char *end = b + sizeof b;
    char *p = u64_digits(r, end);
    while (end - p <= d)   /* leading zeros: 0.05 */
        *--p = '0';
    size_t n = 0;
    if (signbit(v))
        out[n++] = '-';
    size_t ilen = (size_t)(end - p) - (size_t)d;
    memcpy(out + n, p, ilen);
    n += ilen;
    out[n++] = '.';
    if (d == 0) {
        out[n++] = '0';
    } else {
        memcpy(out + n, p + ilen, (size_t)d);
        n += (size_t)d;
    }
    out[n] = 0;
    return n;
}

/*
 * The shortest "r with d decimals" that reads back as a, for 1e-3 <= a <
 * 2^53, computed exactly in 128-bit integers; 0 when a is out of that
 * range. a = m / 2^sh (m the 53-bit significand); for each d, r is a x 10^d
 * rounded to nearest (ties to even), and the text reads back as a exactly
 * when |r - a x 10^d| is under half the gap to a's neighbours, scaled by
 * 10^d: |r 2^sh - m 10^d| x 2 < 10^d (x 4 below a power of two, where the
 * gap under a is half as wide). Strict: a tie is left to a longer d. 17
 * significant digits always pass (their error is under 2^-54 of a), so r
 * stays below 10^17. This is what scores like 0.18181818181818182 need:
 * the double-only fast path cannot hold 17 digits in one exact double.
 */
static size_t format_exact(double v, double a, char *out)
{
    if (!(a >= 1e-3 && a < 9007199254740992.0))
        return 0;
    int ex;
    double f = frexp(a, &ex);                 /* a = f 2^ex, 0.5 <= f < 1 */
    uint64_t m = (uint64_t)ldexp(f, 53);      /* exact: 2^52 <= m < 2^53 */
    int sh = 53 - ex;                         /* a = m / 2^sh, 1 <= sh <= 63 */
    if (sh < 1 || sh > 63)
        return 0;
    typedef unsigned __int128 u128;
    const u128 half = (u128)1 << (sh - 1), mask = ((u128)1 << sh) - 1;
    u128 p10 = 1;
    for (int d = 0; d <= 19; d++, p10 *= 10) {
        u128 num = (u128)m * p10;             /* < 2^53 x 10^19 < 2^117 */
        u128 r = num >> sh, rem = num & mask;
        if (rem > half || (rem == half && (r & 1)))
            r++;
        u128 rs = r << sh;
        u128 diff = rs > num ? rs - num : num - rs;
        int narrow = m == (1ull << 52) && rs < num;
        if ((narrow ? 4 * diff : 2 * diff) < p10) {
            if (r >= (u128)10000000000000000000ull)
                return 0;
            return emit_decimal(v, (uint64_t)r, d, out);
        }
    }
    return 0;
}

size_t srv_jw_format_real(double v, char *out)
{
    static const double pow10[18] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,
                                     1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17};
    double a = fabs(v);
    /* Most reals of an answer (confidences, scores, shares in [1e-3, 1]):
     * exact integer arithmetic, a few multiplications per digit tried. */
    size_t n = format_exact(v, a, out);
    if (n)
        return n;
    /* Then the double-only path, for what the exact one leaves (below
     * 1e-3, or 2^52 and up): a = r / 10^d exactly as strtod would read "r
     * with d decimals" back: r and 10^d are exact doubles (r < 2^53, d <=
     * 17, and powers of ten are exact up to 10^22) and IEEE division rounds
     * correctly, so r / 10^d == a proves that the decimal text reads back
     * as a. The smallest such d is the shortest text of this form. Last,
     * printf's multi-precision digits. */
    if (a < 9007199254740992.0) {
        for (int d = 0; d <= 17; d++) {
            double r = nearbyint(a * pow10[d]);
            if (r >= 9007199254740992.0)
                break;
            if (r / pow10[d] != a)
                continue;
            return emit_decimal(v, (uint64_t)r, d, out);
        }
    }
    int k = snprintf(out, 32, "%.17g", v);
    if (k < 0)
        k = 0;
    if (!strpbrk(out, ".eE") && k < 30) {   /* stays a real when read back */
        memcpy(out + k, ".0", 3);
        k += 2;
    }
    return (size_t)k;
}

void srv_jw_real(srv_jw *w, double v)
{
    if (!isfinite(v)) {
        srv_jw_null(w);
        return;
    }
    char b[40];
    size_t n = srv_jw_format_real(v, b);
    sep(w);
    put(w, b, n);
}

void srv_jw_bool(srv_jw *w, int v)
{
    sep(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

void srv_jw_null(srv_jw *w)
{
    sep(w);
    put(w, "null", 4);
}
