/*
 * gold_match.c - does an answer match a gold standard's expected value
 * (spec 5, "Gold standards")?
 *
 * Strings are compared through a normalising reader on each side (trim,
 * ASCII lower case, inner whitespace runs -> one space), so no normalised
 * copy is ever allocated. Numbers of either type compare by relative
 * difference in long double, which holds every int64 exactly on x86-64, so
 * int 2^62+1 vs 2^62 is judged on its true difference.
 */
#include <math.h>

#include "core/error.h"
#include "steme/trust.h"

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

typedef struct norm_reader {
    const unsigned char *p, *end;
} norm_reader;

static void norm_init(norm_reader *r, const char *s, size_t len)
{
    r->p = (const unsigned char *)s;
    r->end = r->p + len;
    while (r->p < r->end && is_ws(*r->p))
        r->p++;
}

/* Next byte of the normalised string, or -1 at its end. */
static int norm_next(norm_reader *r)
{
    if (r->p == r->end)
        return -1;
    unsigned char c = *r->p;
    if (is_ws(c)) {
        while (r->p < r->end && is_ws(*r->p))
            r->p++;
        return r->p == r->end ? -1 : ' '; /* trailing run: trimmed */
    }
    r->p++;
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int strings_match(const steme_value *a, const steme_value *b)
{
    norm_reader x, y;
    norm_init(&x, a->v.str.ptr, a->v.str.len);
    norm_init(&y, b->v.str.ptr, b->v.str.len);
    for (;;) {
        int cx = norm_next(&x), cy = norm_next(&y);
        if (cx != cy)
            return 0;
        if (cx < 0)
            return 1;
    }
}

static int is_number(const steme_value *v)
{
    return v->type == STEME_VALUE_INT || v->type == STEME_VALUE_FLOAT;
}

static long double as_long_double(const steme_value *v)
{
    return v->type == STEME_VALUE_INT ? (long double)v->v.i64 : (long double)v->v.f64;
}

static int numbers_match(const steme_value *a, const steme_value *b)
{
    if (a->type == STEME_VALUE_INT && b->type == STEME_VALUE_INT && a->v.i64 == b->v.i64)
        return 1;
    long double x = as_long_double(a), y = as_long_double(b);
    long double m = fabsl(x) > fabsl(y) ? fabsl(x) : fabsl(y);
    return fabsl(x - y) <= 1e-9L * m;
}

int steme_gold_value_matches(const steme_value *expected, const steme_value *answer,
                             int *matched, steme_error *err)
{
    if (!expected || !answer || !matched)
        return steme_err(err, STEME_E_INVALID, "gold match: NULL argument");
    int rc;
    if ((rc = steme_value_validate(expected, err)) != STEME_OK ||
        (rc = steme_value_validate(answer, err)) != STEME_OK)
        return rc;
    if (is_number(expected) && is_number(answer))
        *matched = numbers_match(expected, answer);
    else if (expected->type != answer->type)
        *matched = 0;
    else if (expected->type == STEME_VALUE_STRING)
        *matched = strings_match(expected, answer);
    else
        *matched = steme_value_equal(expected, answer); /* bool, bytes */
    return STEME_OK;
}

int steme_gold_matches(const steme_gold_standard *gold, const steme_value *answer,
                       int *matched, steme_error *err)
{
    if (!gold)
        return steme_err(err, STEME_E_INVALID, "gold match: NULL gold standard");
    return steme_gold_value_matches(&gold->expected, answer, matched, err);
}
