/* record_check.c - field validation and encode/decode scaffolding shared
 * by every record (see core/record_int.h). */
#include "core/record_int.h"

#include <math.h>
#include "core/error.h"
#include "core/utf8.h"
#include "steme/keys.h"

int rec_check_f64(steme_error *err, const char *rec, const char *field, double x, double lo,
                  double hi)
{
    if (isnan(x))
        return steme_err(err, STEME_E_INVALID, "%s: %s is NaN", rec, field);
    if (!(x >= lo && x <= hi))
        return steme_err(err, STEME_E_INVALID, "%s: %s %g is outside [%g, %g]", rec, field, x,
                         lo, hi);
    return STEME_OK;
}

int rec_check_text(steme_error *err, const char *rec, const char *field, const char *p,
                   size_t len, size_t min, size_t max)
{
    if (!p && len)
        return steme_err(err, STEME_E_INVALID, "%s: %s is NULL with length %zu", rec, field, len);
    if (len < min)
        return steme_err(err, STEME_E_INVALID, "%s: %s is shorter than %zu bytes", rec, field,
                         min);
    if (len > max)
        return steme_err(err, STEME_E_TOO_BIG, "%s: %s is %zu bytes, limit %zu", rec, field, len,
                         max);
    size_t bad = len ? steme_utf8_check(p, len) : 0;
    if (bad)
        return steme_err(err, STEME_E_BAD_UTF8, "%s: %s: invalid UTF-8 or NUL at byte %zu", rec,
                         field, bad - 1);
    return STEME_OK;
}

/* Subject and predicate rules belong to the key codec (steme/keys.h); the
 * record only prefixes its name to the key codec's message. */
static int rec_rewrap(steme_error *err, const char *rec, const char *field, int rc,
                      const steme_error *inner)
{
    if (rc == STEME_OK)
        return rc;
    return steme_err(err, rc, "%s: %s: %s", rec, field, inner->message);
}

int rec_check_subject(steme_error *err, const char *rec, const char *p, size_t len)
{
    steme_error inner = {0, ""};
    int rc = steme_subject_validate(p, len, &inner);
    return rec_rewrap(err, rec, "subject", rc, &inner);
}

int rec_check_predicate(steme_error *err, const char *rec, const char *p, size_t len)
{
    steme_error inner = {0, ""};
    int rc = steme_predicate_validate(p, len, &inner);
    return rec_rewrap(err, rec, "predicate", rc, &inner);
}

int rec_check_enum(steme_error *err, const char *rec, const char *field, unsigned x,
                   unsigned lo, unsigned hi)
{
    if (x < lo || x > hi)
        return steme_err(err, STEME_E_INVALID, "%s: %s has unknown value %u (valid %u..%u)", rec,
                         field, x, lo, hi);
    return STEME_OK;
}

int rec_encode_begin(const char *rec, size_t need, uint8_t *buf, size_t cap, size_t *len,
                     codec_w *w, steme_error *err)
{
    if (!len)
        return steme_err(err, STEME_E_INVALID, "%s: len is NULL", rec);
    *len = need;
    if (cap < need)
        return steme_err(err, STEME_E_BUFFER_SMALL, "%s: needs %zu bytes, buffer has %zu", rec,
                         need, cap);
    if (!buf)
        return steme_err(err, STEME_E_INVALID, "%s: buf is NULL", rec);
    cw_init(w, buf, cap);
    return STEME_OK;
}

int rec_encode_end(const char *rec, const codec_w *w, size_t need, steme_error *err)
{
    if (w->cw_overflow || cw_total(w) != need)
        return steme_err(err, STEME_E_INTERNAL, "%s: wrote %zu bytes, sized %zu", rec,
                         cw_total(w), need);
    return STEME_OK;
}

int rec_decode_args(const char *rec, const uint8_t *buf, size_t len, const void *out,
                    steme_error *err)
{
    if (!out)
        return steme_err(err, STEME_E_INVALID, "%s: out is NULL", rec);
    if (!buf && len)
        return steme_err(err, STEME_E_INVALID, "%s: buf is NULL", rec);
    return STEME_OK;
}
