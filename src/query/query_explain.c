/*
 * query_explain.c - the resolution's explanation: one or two sentences a
 * person can read, naming the lens's reasoning, the winning value and the
 * numbers behind it. Bounded (STEME_QUERY_EXPLAIN_MAX), never allocates;
 * long string values are cut at a UTF-8 character boundary.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "query/query_int.h"

#define VALUE_SHOWN 48   /* bytes of a string value shown before "..." */

typedef struct text {
    char *buf;
    size_t cap, len;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    if (t->len + 1 >= t->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len = (size_t)n >= t->cap - t->len ? t->cap - 1 : t->len + (size_t)n;
}

/* Append n bytes of s (cut at the buffer's end, as put would). */
static void put_raw(text *t, const char *s, size_t n)
{
    if (t->len + 1 >= t->cap)
        return;
    if (n > t->cap - 1 - t->len)
        n = t->cap - 1 - t->len;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

#define PUT_LIT(t, lit) put_raw((t), (lit), sizeof(lit) - 1)

static void put_u64(text *t, uint64_t v)
{
    char b[24], *p = b + sizeof b;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_raw(t, p, (size_t)(b + sizeof b - p));
}

/*
 * x as printf's "%.3f" writes it, without printf (a query's explanation
 * has two or three of these): x = m / 2^sh exactly, and x x 1000 is
 * rounded to an integer half to even on that exact value, as glibc does.
 * Magnitudes outside [2^-60, 2^50) (and non-finite values) go to printf.
 */
size_t q_fixed3(double x, char out[Q_FIXED3_MAX])
{
    double a = fabs(x);
    int ex;
    double f = frexp(a, &ex);
    int sh = 53 - ex;
    if (!(a >= 0x1p-60 && a < 0x1p50) || sh < 1 || sh > 113) {
        int n = snprintf(out, Q_FIXED3_MAX, "%.3f", x);
        return n < 0 ? 0 : (size_t)n < Q_FIXED3_MAX ? (size_t)n : Q_FIXED3_MAX - 1;
    }
    typedef unsigned __int128 u128;
    uint64_t m = (uint64_t)ldexp(f, 53);
    u128 num = (u128)m * 1000u;                 /* < 2^63 */
    u128 r = num >> sh, rem = num & (((u128)1 << sh) - 1), half = (u128)1 << (sh - 1);
    if (rem > half || (rem == half && (r & 1)))
        r++;
    uint64_t whole = (uint64_t)(r / 1000u), frac = (uint64_t)(r % 1000u);
    char b[24], *p = b + sizeof b;
    do {
        *--p = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    size_t n = 0;
    if (signbit(x))
        out[n++] = '-';
    memcpy(out + n, p, (size_t)(b + sizeof b - p));
    n += (size_t)(b + sizeof b - p);
    out[n++] = '.';
    out[n++] = (char)('0' + frac / 100);
    out[n++] = (char)('0' + frac / 10 % 10);
    out[n++] = (char)('0' + frac % 10);
    out[n] = 0;
    return n;
}

static void put_fixed3(text *t, double x)
{
    char b[Q_FIXED3_MAX];
    put_raw(t, b, q_fixed3(x, b));
}

/* At most max bytes of s, cut at a character boundary. */
static int shown(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return (int)len;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return (int)max;
}

static void put_value(text *t, const steme_value *v)
{
    switch (v->type) {
    case STEME_VALUE_STRING: {
        size_t n = v->v.str.len;
        PUT_LIT(t, "\"");
        put_raw(t, v->v.str.ptr, (size_t)shown(v->v.str.ptr, n, VALUE_SHOWN));
        if (n > VALUE_SHOWN)
            PUT_LIT(t, "...");
        PUT_LIT(t, "\"");
        break;
    }
    case STEME_VALUE_INT:
        put(t, "%" PRId64, v->v.i64);
        break;
    case STEME_VALUE_FLOAT:
        put(t, "%.17g", v->v.f64);
        break;
    case STEME_VALUE_BOOL:
        put(t, "%s", v->v.boolean ? "true" : "false");
        break;
    case STEME_VALUE_BYTES:
        put(t, "<%zu bytes>", v->v.bytes.len);
        break;
    }
}

static void put_agent(text *t, const steme_agent_id *a)
{
    char hex[2 * STEME_AGENT_ID_LEN + 1];
    steme_hex_encode(a->bytes, STEME_AGENT_ID_LEN, hex, sizeof hex);
    put(t, "agent %.8s", hex);
}

static void put_filters(text *t, const steme_resolution *r, const steme_query_request *req)
{
    if (req->as_of)
        put(t, " as of %" PRIu64, req->as_of);
    if (req->has_pack)
        put(t, " in the trust pack (%zu left out)", r->hidden_by_pack);
    if (r->hidden_superseded)
        put(t, ", %zu superseded hidden", r->hidden_superseded);
    if (r->truncated)
        put(t, ", limited to the newest %zu", r->n_candidates);
    if (req->decay_half_life_ms > 0.0)
        put(t, ", decayed with half-life %.0f ms", req->decay_half_life_ms);
}

static void put_lens(text *t, const steme_resolution *r)
{
    const steme_query_candidate *w = r->n_candidates ? &r->candidates[0] : NULL;
    size_t n = r->n_candidates;
    switch (r->lens) {
    case STEME_LENS_RECENCY:
        put(t, "The newest of %zu assertions wins: ", n);
        put_value(t, &w->object);
        put(t, " by ");
        put_agent(t, &w->agent);
        put(t, " at %" PRIu64 "; confidence %.3f.", w->timestamp, r->confidence);
        break;
    case STEME_LENS_CONSENSUS:
        put_value(t, &w->object);
        put(t, " is claimed by %zu of %zu assertions (%zu distinct claims); confidence %.3f.",
            r->claims[w->claim].count, n, r->n_claims, r->confidence);
        break;
    case STEME_LENS_CONFIDENCE:
        put(t, "The most confident of %zu assertions wins: ", n);
        put_value(t, &w->object);
        put(t, " by ");
        put_agent(t, &w->agent);
        put(t, "; confidence %.3f.", r->confidence);
        break;
    case STEME_LENS_VOTE:
        if (!r->has_winner) {
            put(t, "No assertion of %zu has a positive vote weight (best %.3f): no winner.", n,
                w->score);
            break;
        }
        /* " has the highest vote weight, %.3f, of %zu assertions; confidence
         * %.3f.", by hand: the lens of the server's benchmark */
        put_value(t, &w->object);
        PUT_LIT(t, " has the highest vote weight, ");
        put_fixed3(t, w->score);
        PUT_LIT(t, ", of ");
        put_u64(t, n);
        PUT_LIT(t, " assertions; confidence ");
        put_fixed3(t, r->confidence);
        PUT_LIT(t, ".");
        break;
    case STEME_LENS_AUTHORITY:
        put_value(t, &w->object);
        put(t, " by ");
        put_agent(t, &w->agent);
        put(t, " scores %.3f (confidence %.3f x trust %.3f), the highest of %zu; "
               "confidence %.3f.",
            w->score, w->effective_confidence, w->trust, n, r->confidence);
        break;
    case STEME_LENS_SKEPTIC:
        put(t, "%s: %zu distinct claim%s among %zu assertions, conflict %.3f; leading ",
            steme_skeptic_status_name(r->status), r->n_claims, r->n_claims == 1 ? "" : "s", n,
            r->conflict);
        put_value(t, &r->claims[0].object);
        put(t, " with %.1f%% of the weight.", 100.0 * r->claims[0].share);
        if (r->escalation == STEME_QUERY_ESC_RAISED)
            put(t, " Escalation raised.");
        else if (r->escalation == STEME_QUERY_ESC_ALREADY_OPEN)
            put(t, " An escalation is already open.");
        break;
    }
}

void q_explain(steme_resolution *r, const steme_query_request *req)
{
    text t = {r->explanation, sizeof r->explanation, 0};
    r->explanation[0] = '\0';
    const char *name = steme_lens_name(r->lens);
    if (!name)
        name = "?";
    put_raw(&t, name, strlen(name));
    PUT_LIT(&t, ": ");
    if (r->n_candidates == 0) {
        put(&t, "no assertions about (%.*s, %.*s)", shown(req->subject, req->subject_len, 64),
            req->subject, shown(req->predicate, req->predicate_len, 64), req->predicate);
        put_filters(&t, r, req);
        put(&t, ": no winner.");
        return;
    }
    put_lens(&t, r);
    if (req->as_of || req->has_pack || r->hidden_superseded || r->truncated ||
        req->decay_half_life_ms > 0.0) {
        put(&t, " Considered");
        put_filters(&t, r, req);
        put(&t, ".");
    }
}
