/*
 * query_explain.c - the resolution's explanation: one or two sentences a
 * person can read, naming the lens's reasoning, the winning value and the
 * numbers behind it. Bounded (STEME_QUERY_EXPLAIN_MAX), never allocates;
 * long string values are cut at a UTF-8 character boundary.
 */
#include <inttypes.h>
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
        put(t, "\"%.*s%s\"", shown(v->v.str.ptr, n, VALUE_SHOWN), v->v.str.ptr,
            n > VALUE_SHOWN ? "..." : "");
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
        put_value(t, &w->object);
        put(t, " has the highest vote weight, %.3f, of %zu assertions; confidence %.3f.",
            w->score, n, r->confidence);
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
    put(&t, "%s: ", name ? name : "?");
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
