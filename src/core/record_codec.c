/* record_codec.c - the checking getters of the codec reader (core/codec.h):
 * the strictness rules that make every accepted input canonical. */
#include "core/codec.h"

#include <stdarg.h>
#include <stdio.h>
#include "core/error.h"
#include "core/utf8.h"
#include "steme/record.h"

void cr_fail_code(codec_r *r, int code, size_t at, const char *field, const char *fmt, ...)
{
    if (r->cr_rc)
        return;
    r->cr_rc = code;
    if (!r->cr_err)
        return;
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (code == STEME_E_CORRUPT)
        STEME_CORRUPT(r->cr_err, "%s: %s at byte %zu: %s", r->cr_rec, field, at, why);
    else
        steme_err(r->cr_err, code, "%s: %s at byte %zu: %s", r->cr_rec, field, at, why);
}

bool cr_bool(codec_r *r, const char *field)
{
    size_t at = r->cr_off;
    uint8_t b = cr_u8(r, field);
    if (b > 1)
        cr_fail(r, at, field, "bool byte is %u, not 0 or 1", (unsigned)b);
    return b == 1;
}

double cr_f64(codec_r *r, const char *field, double lo, double hi)
{
    size_t at = r->cr_off;
    uint64_t bits = cr_u64(r, field);
    double x;
    memcpy(&x, &bits, 8);
    if (r->cr_rc)
        return 0.0;
    if (bits == UINT64_C(0x8000000000000000)) {
        cr_fail(r, at, field, "-0.0 is not canonical (written as +0.0)");
        return 0.0;
    }
    if (isnan(x)) {
        cr_fail(r, at, field, "NaN");
        return 0.0;
    }
    if (!(x >= lo && x <= hi)) {
        cr_fail(r, at, field, "%g is outside [%g, %g]", x, lo, hi);
        return 0.0;
    }
    return x;
}

unsigned cr_enum8(codec_r *r, const char *field, unsigned lo, unsigned hi)
{
    size_t at = r->cr_off;
    unsigned x = cr_u8(r, field);
    if (r->cr_rc)
        return 0;
    if (x < lo || x > hi) {
        cr_fail(r, at, field, "unknown value %u (valid %u..%u)", x, lo, hi);
        return 0;
    }
    return x;
}

/* Shared body of the two length-prefixed readers. */
static void cr_payload(codec_r *r, const char *field, size_t at, size_t n, size_t min,
                       size_t max, bool utf8, const uint8_t **p, size_t *len)
{
    *p = NULL;
    *len = 0;
    if (r->cr_rc)
        return;
    if (n < min) {
        cr_fail(r, at, field, "length %zu below minimum %zu", n, min);
        return;
    }
    if (n > max) {
        cr_fail(r, at, field, "length %zu above limit %zu", n, max);
        return;
    }
    size_t start = r->cr_off;
    const uint8_t *q = cr_take(r, field, n);
    if (!q)
        return;
    if (utf8) {
        size_t bad = steme_utf8_check((const char *)q, n);
        if (bad) {
            cr_fail(r, start + bad - 1, field, "invalid UTF-8 or NUL byte");
            return;
        }
    }
    *p = n ? q : NULL;
    *len = n;
}

void cr_text16(codec_r *r, const char *field, size_t min, size_t max, const char **p,
               size_t *len)
{
    size_t at = r->cr_off;
    size_t n = cr_u16(r, field);
    const uint8_t *q;
    cr_payload(r, field, at, n, min, max, true, &q, len);
    *p = (const char *)q;
}

void cr_blob32(codec_r *r, const char *field, size_t max, bool utf8, const uint8_t **p,
               size_t *len)
{
    size_t at = r->cr_off;
    size_t n = cr_u32(r, field);
    cr_payload(r, field, at, n, 0, max, utf8, p, len);
}

uint8_t cr_header(codec_r *r, uint8_t type, uint8_t allowed)
{
    uint8_t t = cr_u8(r, "record type");
    if (!r->cr_rc && t != type)
        cr_fail(r, 0, "record type", "%u, expected %u", (unsigned)t, (unsigned)type);
    uint8_t v = cr_u8(r, "version");
    if (!r->cr_rc && v != STEME_RECORD_VERSION)
        cr_fail_code(r, STEME_E_VERSION, 1, "version", "format version %u, this build reads %u",
                     (unsigned)v, (unsigned)STEME_RECORD_VERSION);
    uint8_t f = cr_u8(r, "flags");
    if (!r->cr_rc && (f & ~allowed))
        cr_fail(r, 2, "flags", "unknown flag bits 0x%02x", (unsigned)(f & ~allowed));
    return r->cr_rc ? 0 : f;
}

int cr_finish(codec_r *r)
{
    if (!r->cr_rc && r->cr_off != r->cr_len)
        cr_fail(r, r->cr_off, "end of record", "%zu trailing bytes", r->cr_len - r->cr_off);
    return r->cr_rc;
}
