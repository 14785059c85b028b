/*
 * record_value.c - typed values (an assertion's object, a gold standard's
 * expected answer).
 *
 * Wire form: [tag u8] payload
 *   1 STRING  [len u32][len bytes UTF-8, no NUL]   len <= 65536
 *   2 INT     [i64 LE, two's complement]
 *   3 FLOAT   [f64 LE bits]  finite, never -0.0
 *   4 BOOL    [u8 0|1]
 *   5 BYTES   [len u32][len bytes]                 len <= 65536
 * The u32 length is needed because 64 KiB itself does not fit a u16.
 */
#include "core/record_int.h"

#include <string.h>
#include "core/error.h"

size_t rec_value_size(const steme_value *v)
{
    switch (v->type) {
    case STEME_VALUE_STRING:
        return v->v.str.len <= STEME_VALUE_MAX ? 1 + 4 + v->v.str.len : 0;
    case STEME_VALUE_BYTES:
        return v->v.bytes.len <= STEME_VALUE_MAX ? 1 + 4 + v->v.bytes.len : 0;
    case STEME_VALUE_INT:
    case STEME_VALUE_FLOAT:
        return 1 + 8;
    case STEME_VALUE_BOOL:
        return 1 + 1;
    }
    return 0;
}

void rec_value_write(codec_w *w, const steme_value *v)
{
    cw_u8(w, (uint8_t)v->type);
    switch (v->type) {
    case STEME_VALUE_STRING: cw_blob32(w, v->v.str.ptr, v->v.str.len); break;
    case STEME_VALUE_BYTES:  cw_blob32(w, v->v.bytes.ptr, v->v.bytes.len); break;
    case STEME_VALUE_INT:    cw_u64(w, (uint64_t)v->v.i64); break;
    case STEME_VALUE_FLOAT:  cw_f64(w, v->v.f64); break;
    case STEME_VALUE_BOOL:   cw_u8(w, v->v.boolean ? 1 : 0); break;
    }
}

void rec_value_read(codec_r *r, const char *field, steme_value *out)
{
    memset(out, 0, sizeof *out);
    unsigned tag = cr_enum8(r, field, STEME_VALUE_STRING, STEME_VALUE_BYTES);
    const uint8_t *p;
    size_t n;
    switch (tag) {
    case STEME_VALUE_STRING:
        cr_blob32(r, field, STEME_VALUE_MAX, true, &p, &n);
        out->v.str.ptr = (const char *)p;
        out->v.str.len = n;
        break;
    case STEME_VALUE_BYTES:
        cr_blob32(r, field, STEME_VALUE_MAX, false, &p, &n);
        out->v.bytes.ptr = p;
        out->v.bytes.len = n;
        break;
    case STEME_VALUE_INT:
        out->v.i64 = (int64_t)cr_u64(r, field);
        break;
    case STEME_VALUE_FLOAT:
        out->v.f64 = cr_f64(r, field, -DBL_MAX, DBL_MAX);
        break;
    case STEME_VALUE_BOOL:
        out->v.boolean = cr_bool(r, field);
        break;
    default:
        return;  /* failure already recorded */
    }
    out->type = (steme_value_type)tag;
}

int rec_value_check(steme_error *err, const char *rec, const char *field, const steme_value *v)
{
    switch (v->type) {
    case STEME_VALUE_STRING:
        return rec_check_text(err, rec, field, v->v.str.ptr, v->v.str.len, 0, STEME_VALUE_MAX);
    case STEME_VALUE_BYTES:
        if (!v->v.bytes.ptr && v->v.bytes.len)
            return steme_err(err, STEME_E_INVALID, "%s: %s bytes are NULL with length %zu", rec,
                             field, v->v.bytes.len);
        if (v->v.bytes.len > STEME_VALUE_MAX)
            return steme_err(err, STEME_E_TOO_BIG, "%s: %s is %zu bytes, limit %u", rec, field,
                             v->v.bytes.len, STEME_VALUE_MAX);
        return STEME_OK;
    case STEME_VALUE_FLOAT:
        return rec_check_f64(err, rec, field, v->v.f64, -DBL_MAX, DBL_MAX);
    case STEME_VALUE_INT:
    case STEME_VALUE_BOOL:
        return STEME_OK;
    }
    return steme_err(err, STEME_E_INVALID, "%s: %s has unknown type %u", rec, field,
                     (unsigned)v->type);
}

int steme_value_validate(const steme_value *v, steme_error *err)
{
    if (!v)
        return steme_err(err, STEME_E_INVALID, "value: NULL");
    return rec_value_check(err, "value", "value", v);
}

int steme_value_equal(const steme_value *a, const steme_value *b)
{
    if (!a || !b || a->type != b->type)
        return 0;
    switch (a->type) {
    case STEME_VALUE_STRING:
        if ((!a->v.str.ptr || !b->v.str.ptr) && a->v.str.len)
            return 0;  /* invalid values are never equal; never dereference NULL */
        return a->v.str.len == b->v.str.len &&
               (a->v.str.len == 0 || memcmp(a->v.str.ptr, b->v.str.ptr, a->v.str.len) == 0);
    case STEME_VALUE_BYTES:
        if ((!a->v.bytes.ptr || !b->v.bytes.ptr) && a->v.bytes.len)
            return 0;
        return a->v.bytes.len == b->v.bytes.len &&
               (a->v.bytes.len == 0 ||
                memcmp(a->v.bytes.ptr, b->v.bytes.ptr, a->v.bytes.len) == 0);
    case STEME_VALUE_INT:
        return a->v.i64 == b->v.i64;
    case STEME_VALUE_FLOAT:
        return a->v.f64 == b->v.f64;
    case STEME_VALUE_BOOL:
        return a->v.boolean == b->v.boolean;
    }
    return 0;
}
